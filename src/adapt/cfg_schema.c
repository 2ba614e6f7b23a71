/*
 * cfg_schema.c - the keys of coapd.conf: one option table per group
 * (top_opts[], listen_opts[], route_opts[], ...) and the hooks of their keys.
 *
 * Every key is one entry in a table: name, type, bounds, default, flags and
 * where the value lands.  The generic walker (cfg_load.c) applies a table to
 * a libconfig group, so adding a key is adding an entry; what a table cannot
 * say (cross-key rules, syntax of a value) lives in the small conv/check/
 * init/finish hooks below.  Hooks that open files are in cfg_files.c, the
 * rules across the whole file in cfg.c (ld_top_finish()).  Each table needs
 * its section in man/coapd.conf.5 (tests/conf/doccheck.sh reads them here).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/acl.h"
#include "adapt/cfg.h"
#include "adapt/cfg_int.h"
#include "proto/coap_msg.h"
#include "proto/route.h"
#include "adapt/dtls.h"
#include "adapt/log.h"

#define PSK_ID_MAX	128	/* wolfSSL's MAX_PSK_ID_LEN */
#define ATTR_MAX	255	/* rt, if, title */

/*
 * Hooks, then the tables.  Tables are applied in their order, which some
 * hooks rely on (noted at the entry).
 */

static opt_conv_fn	conv_level, conv_ext, conv_path, conv_method;
static opt_check_fn	check_address, check_attr, check_allow, check_cipher;
static void	listen_finish(struct ld *, const struct config_setting_t *,
		    const struct config_setting_t *, const char *, void *);
static void	route_init(struct ld *, void *);
static void	route_finish(struct ld *, const struct config_setting_t *,
		    const struct config_setting_t *, const char *, void *);

#define FLD(st, f)	.off = offsetof(st, f), .size = sizeof(((st *)0)->f)

static const struct opt listen_opts[] = {
	{ .name = "address", .type = OPT_STR, FLD(struct cfg_listen, address),
	  .sdef = "::", .check = check_address },
	/* 0 until listen_finish(): 5683, or 5684 (coaps) for dtls */
	{ .name = "port", .type = OPT_INT, FLD(struct cfg_listen, port),
	  .min = 1, .max = 65535, .flags = OPT_NODEFAULT },
	{ .name = "dtls", .type = OPT_BOOL, FLD(struct cfg_listen, dtls),
	  .def = false },
};

static const struct optset listen_set = {
	listen_opts, NELEM(listen_opts), sizeof(struct cfg_listen),
	NULL, listen_finish,
};

/* Fields of struct cfg itself: the group is applied with base = c. */
static const struct opt log_opts[] = {
	{ .name = "level", .type = OPT_STR, FLD(struct cfg, log_level),
	  .sdef = "info", .conv = conv_level },
	{ .name = "access", .type = OPT_BOOL, FLD(struct cfg, log_access),
	  .def = false },
};

static const struct optset log_set = {
	log_opts, NELEM(log_opts), 0, NULL, NULL,
};

static const struct opt dtls_opts[] = {
	{ .name = "psk_file", .type = OPT_STR, FLD(struct cfg_dtls, psk_file),
	  .conv = ld_conv_psk_file },
	{ .name = "identity_hint", .type = OPT_STR,
	  FLD(struct cfg_dtls, identity_hint), .min = 1, .max = PSK_ID_MAX },
	/* names are checked by the DTLS module, which knows the library */
	{ .name = "ciphers", .type = OPT_STRV, FLD(struct cfg_dtls, ciphers),
	  .noff = offsetof(struct cfg_dtls, nciphers), .flags = OPT_NONEMPTY,
	  .check = check_cipher },
	{ .name = "max_sessions", .type = OPT_INT,
	  FLD(struct cfg_dtls, max_sessions),
	  .min = 1, .max = 1000000, .def = 2000 },
	/* half-open handshakes: their own budget, never evict sessions */
	{ .name = "max_handshakes", .type = OPT_INT,
	  FLD(struct cfg_dtls, max_handshakes),
	  .min = 1, .max = 100000, .def = 256 },
	{ .name = "max_handshakes_per_host", .type = OPT_INT,
	  FLD(struct cfg_dtls, max_handshakes_per_host),
	  .min = 1, .max = 100000, .def = 8 },
	{ .name = "session_timeout_s", .type = OPT_INT,
	  FLD(struct cfg_dtls, session_timeout_s),
	  .min = 1, .max = 86400, .def = 600 },
	{ .name = "handshake_timeout_s", .type = OPT_INT,
	  FLD(struct cfg_dtls, handshake_timeout_s),
	  .min = 1, .max = 300, .def = 5 },
	{ .name = "hello_hold_s", .type = OPT_INT,
	  FLD(struct cfg_dtls, hello_hold_s),
	  .min = 0, .max = 300, .def = 10 },
};

static const struct optset dtls_set = {
	dtls_opts, NELEM(dtls_opts), 0, NULL, NULL,
};

static const struct opt ctype_opts[] = {
	{ .name = "ext", .type = OPT_STR, FLD(struct cfg_ctype, ext),
	  .min = 1, .max = 16, .flags = OPT_REQUIRED, .conv = conv_ext },
	{ .name = "ct", .type = OPT_INT, FLD(struct cfg_ctype, ct),
	  .min = 0, .max = 65535, .flags = OPT_REQUIRED },
};

static const struct optset ctype_set = {
	ctype_opts, NELEM(ctype_opts), sizeof(struct cfg_ctype), NULL, NULL,
};

static const struct opt route_opts[] = {
	{ .name = "path", .type = OPT_STR, FLD(struct cfg_route, path),
	  .flags = OPT_REQUIRED, .conv = conv_path },
	/* static and writable before methods: conv_method() reads both */
	{ .name = "static", .type = OPT_STR, FLD(struct cfg_route, static_path),
	  .flags = OPT_TARGET, .conv = ld_conv_static },
	{ .name = "writable", .type = OPT_BOOL, FLD(struct cfg_route, writable),
	  .def = false },
	{ .name = "methods", .type = OPT_STRV, FLD(struct cfg_route, methods),
	  .flags = OPT_NONEMPTY | OPT_NODEFAULT, .conv = conv_method },
	{ .name = "create_dirs", .type = OPT_BOOL,
	  FLD(struct cfg_route, create_dirs), .def = false },
	{ .name = "observe", .type = OPT_BOOL, FLD(struct cfg_route, observe),
	  .def = false },
	/* RFC 7959 §2.2: SZX 0..6 is 16..1024 bytes */
	{ .name = "block_size", .type = OPT_INT,
	  FLD(struct cfg_route, block_size),
	  .min = 16, .max = 1024, .def = 1024, .flags = OPT_POW2 },
	/* route_init() copies the top-level value: inherited when absent */
	{ .name = "max_body_bytes", .type = OPT_INT,
	  FLD(struct cfg_route, max_body_bytes),
	  .min = 0, .max = UINT32_MAX, .flags = OPT_NODEFAULT },
	/* RFC 7252 §5.10.5: Max-Age is a 32-bit unsigned, default 60 */
	{ .name = "max_age", .type = OPT_INT, FLD(struct cfg_route, max_age),
	  .min = 0, .max = UINT32_MAX, .def = 60 },
	{ .name = "rt", .type = OPT_STR, FLD(struct cfg_route, rt),
	  .min = 1, .max = ATTR_MAX, .check = check_attr },
	{ .name = "if", .type = OPT_STR, FLD(struct cfg_route, if_),
	  .min = 1, .max = ATTR_MAX, .check = check_attr },
	{ .name = "title", .type = OPT_STR, FLD(struct cfg_route, title),
	  .min = 1, .max = ATTR_MAX, .check = check_attr },
	{ .name = "ct", .type = OPT_INT, FLD(struct cfg_route, ct),
	  .min = 0, .max = 65535, .def = -1 },
	{ .name = "allow", .type = OPT_STRV, FLD(struct cfg_route, allow),
	  .noff = offsetof(struct cfg_route, nallow), .flags = OPT_NONEMPTY,
	  .check = check_allow },
	/* hook routes (serve/h_hook.c); the contract is in coapd.conf(5) */
	{ .name = "hook", .type = OPT_STRV, FLD(struct cfg_route, hook),
	  .noff = offsetof(struct cfg_route, nhook), .min = 1,
	  .flags = OPT_TARGET | OPT_NONEMPTY, .conv = ld_conv_hook },
	{ .name = "env", .type = OPT_ENV, FLD(struct cfg_route, env),
	  .noff = offsetof(struct cfg_route, nenv) },
	{ .name = "timeout_s", .type = OPT_INT, FLD(struct cfg_route, timeout_s),
	  .min = 1, .max = 86400, .def = 10 },
	{ .name = "max_running", .type = OPT_INT,
	  FLD(struct cfg_route, max_running), .min = 1, .max = 65536, .def = 4 },
	{ .name = "max_output_bytes", .type = OPT_INT,
	  FLD(struct cfg_route, max_output_bytes),
	  .min = 0, .max = 1 << 30, .def = 1 << 20 },
	{ .name = "headers", .type = OPT_BOOL, FLD(struct cfg_route, headers),
	  .def = false },
	{ .name = "user", .type = OPT_STR, FLD(struct cfg_route, user),
	  .min = 1, .max = 64 },
	{ .name = "group", .type = OPT_STR, FLD(struct cfg_route, group),
	  .min = 1, .max = 64 },
	{ .name = "run_as_root", .type = OPT_BOOL,
	  FLD(struct cfg_route, run_as_root), .def = false },
	/* observed hook routes: a run for the observers every interval_s */
	{ .name = "interval_s", .type = OPT_INT,
	  FLD(struct cfg_route, interval_s), .min = 0, .max = 86400,
	  .def = 0 },
	/* backend routes (serve/h_backend.c) */
	{ .name = "backend", .type = OPT_STR, FLD(struct cfg_route, backend),
	  .min = 1, .max = 107, .flags = OPT_TARGET, .conv = ld_conv_backend },
	{ .name = "strip_prefix", .type = OPT_BOOL,
	  FLD(struct cfg_route, strip_prefix), .def = false },
	{ .name = "max_pending", .type = OPT_INT,
	  FLD(struct cfg_route, max_pending), .min = 1, .max = 1 << 20,
	  .def = 256 },

	/* rate limits (ratelimit.h): a bucket per route and client */
	{ .name = "rate", .type = OPT_INT, FLD(struct cfg_route, rate),
	  .min = 0, .max = 1000000, .def = 0 },
	{ .name = "burst", .type = OPT_INT, FLD(struct cfg_route, burst),
	  .min = 0, .max = 1000000, .def = 0 },
};

static const struct optset route_set = {
	route_opts, NELEM(route_opts), sizeof(struct cfg_route),
	route_init, route_finish,
};

static const struct opt hooks_opts[] = {
	{ .name = "max_running", .type = OPT_INT,
	  FLD(struct cfg_hooks, max_running), .min = 1, .max = 65536,
	  .def = 16 },
	/* not /tmp: that may be a tmpfs, and bodies may be firmware */
	{ .name = "tmp_dir", .type = OPT_STR, FLD(struct cfg_hooks, tmp_dir),
	  .sdef = "/var/tmp", .conv = ld_conv_tmp_dir },
	{ .name = "term_grace_s", .type = OPT_INT,
	  FLD(struct cfg_hooks, term_grace_s), .min = 0, .max = 60, .def = 2 },
	{ .name = "max_cache_bytes", .type = OPT_INT,
	  FLD(struct cfg_hooks, max_cache_bytes),
	  .min = 0, .max = 1 << 30, .def = 8 << 20 },
};

static const struct optset hooks_set = {
	hooks_opts, NELEM(hooks_opts), 0, NULL, NULL,
};

static const struct opt metrics_opts[] = {
	/* written as FILE.tmp, then renamed: same directory */
	{ .name = "file", .type = OPT_STR, FLD(struct cfg_metrics, file),
	  .min = 1, .max = 4000, .conv = ld_conv_metrics_file },
	{ .name = "interval_s", .type = OPT_INT,
	  FLD(struct cfg_metrics, interval_s), .min = 1, .max = 86400,
	  .def = 15 },
};

static const struct optset metrics_set = {
	metrics_opts, NELEM(metrics_opts), 0, NULL, NULL,
};

static const struct opt top_opts[] = {
	{ .name = "listen", .type = OPT_LIST, FLD(struct cfg, listen),
	  .noff = offsetof(struct cfg, nlisten), .sub = &listen_set,
	  .flags = OPT_NONEMPTY | OPT_ONEDEFAULT | OPT_RESTART },
	/* 0: one per online CPU, resolved by ld_top_finish() */
	{ .name = "workers", .type = OPT_INT, FLD(struct cfg, workers),
	  .min = 0, .max = 256, .def = 0, .flags = OPT_RESTART },
	{ .name = "rcvbuf_bytes", .type = OPT_INT, FLD(struct cfg, rcvbuf_bytes),
	  .min = 64 << 10, .max = 1 << 30, .def = 16 << 20,
	  .flags = OPT_RESTART },
	{ .name = "sndbuf_bytes", .type = OPT_INT, FLD(struct cfg, sndbuf_bytes),
	  .min = 64 << 10, .max = 1 << 30, .def = 4 << 20,
	  .flags = OPT_RESTART },
	{ .name = "dedup_entries", .type = OPT_INT,
	  FLD(struct cfg, dedup_entries),
	  .min = 16, .max = 1 << 20, .def = 4096 },
	/*
	 * RFC 7252 §4.8.2: EXCHANGE_LIFETIME.  Unset (0) it is derived from
	 * the coap group by ld_top_finish(): 247 s with the defaults.
	 */
	{ .name = "exchange_lifetime_s", .type = OPT_INT,
	  FLD(struct cfg, exchange_lifetime_s),
	  .min = 1, .max = LD_LIFETIME_MAX_S, .flags = OPT_NODEFAULT },
	/* RFC 7252 §5.2.2: an empty ACK before the client's ACK_TIMEOUT */
	{ .name = "separate_after_ms", .type = OPT_INT,
	  FLD(struct cfg, separate_after_ms),
	  .min = 0, .max = 60000, .def = 1000 },
	{ .name = "max_separate", .type = OPT_INT,
	  FLD(struct cfg, max_separate),
	  .min = 1, .max = 1 << 20, .def = 256 },
	{ .name = "max_observers", .type = OPT_INT,
	  FLD(struct cfg, max_observers),
	  .min = 0, .max = 1 << 20, .def = 1024 },
	/* RFC 7641 §4.5: a CON now and then tells whether the client is gone */
	{ .name = "observe_con_every", .type = OPT_INT,
	  FLD(struct cfg, observe_con_every),
	  .min = 1, .max = 1000, .def = 20 },
	/* before routes: route_init() copies it as the routes' default */
	{ .name = "max_body_bytes", .type = OPT_INT,
	  FLD(struct cfg, max_body_bytes),
	  .min = 0, .max = UINT32_MAX, .def = 16 << 20 },
	/* SIGTERM: pending exchanges get this long (daemon.c, drain) */
	{ .name = "shutdown_grace_s", .type = OPT_INT,
	  FLD(struct cfg, shutdown_grace_s),
	  .min = 0, .max = 3600, .def = 10 },
	/* before routes: hook routes check who will run them */
	{ .name = "group", .type = OPT_STR, FLD(struct cfg, group),
	  .conv = ld_conv_group, .flags = OPT_RESTART },
	{ .name = "user", .type = OPT_STR, FLD(struct cfg, user),
	  .conv = ld_conv_user, .flags = OPT_RESTART },
	{ .name = "log", .type = OPT_GROUP, .off = 0, .sub = &log_set },
	{ .name = "dtls", .type = OPT_GROUP, FLD(struct cfg, dtls),
	  .sub = &dtls_set },
	{ .name = "hooks", .type = OPT_GROUP, FLD(struct cfg, hooks),
	  .sub = &hooks_set },
	{ .name = "limits", .type = OPT_GROUP, FLD(struct cfg, limits),
	  .sub = &ld_limits_set },
	{ .name = "coap", .type = OPT_GROUP, FLD(struct cfg, coap),
	  .sub = &ld_coap_set },
	/* sun_path holds 107 bytes and a NUL; read at start only */
	{ .name = "control_socket", .type = OPT_STR,
	  FLD(struct cfg, control_socket), .min = 0, .max = 107,
	  .conv = ld_conv_ctl_path, .flags = OPT_RESTART },
	{ .name = "metrics", .type = OPT_GROUP, FLD(struct cfg, metrics),
	  .sub = &metrics_set },
	{ .name = "content_formats", .type = OPT_LIST, FLD(struct cfg, ctypes),
	  .noff = offsetof(struct cfg, nctypes), .sub = &ctype_set },
	{ .name = "routes", .type = OPT_LIST, FLD(struct cfg, routes),
	  .noff = offsetof(struct cfg, nroutes), .sub = &route_set,
	  .flags = OPT_REQUIRED | OPT_NONEMPTY },
};

const struct optset ld_top_set = {
	top_opts, NELEM(top_opts), 0, NULL, ld_top_finish,
};

static const struct {
	const char	*name;
	uint8_t		 code;
	bool		 writes;	/* changes files: needs writable */
} method_names[] = {
	{ "GET", COAP_GET, false },
	{ "POST", COAP_POST, true },
	{ "PUT", COAP_PUT, true },
	{ "DELETE", COAP_DELETE, true },
	{ "FETCH", COAP_FETCH, false },	/* RFC 8132: safe */
	{ "PATCH", COAP_PATCH, true },
	{ "iPATCH", COAP_IPATCH, true },
};

/*
 * Hooks.
 */

static int
conv_level(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg	*c = base;

	/* log_level_parse() also takes "error" and "warning", unlisted */
	static const char *const names[] = {
		"err", "warn", "notice", "info", "debug",
	};

	if (log_level_parse(val, &c->log_level) == 0)
		return 0;
	ld_enum_err(ld, s, key, "level", val, names, NELEM(names));
	return -EINVAL;
}

static int
conv_ext(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_ctype *t = base;
	char		*p;

	if (strpbrk(val, "./") != NULL) {
		ld_err(ld, s, "%s: \"%s\": give the extension without '.' or "
		    "'/' (\"csv\" for *.csv)", key, val);
		return -EINVAL;
	}
	if ((t->ext = ld_strdup(ld, val)) == NULL)
		return -ENOMEM;
	/* matched without regard to case, stored as the header says */
	for (p = t->ext; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

static int
conv_path(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_route *r = base;
	const char	*seg, *end;
	size_t		 len = strlen(val);

	if (val[0] != '/') {
		ld_err(ld, s, "%s: \"%s\": must start with '/'", key, val);
		return -EINVAL;
	}
	/* "/a/" is "/a": a route names a resource, not a directory */
	if (len > 1 && val[len - 1] == '/')
		len--;
	for (seg = val + 1; len > 1 && seg <= val + len; seg = end + 1) {
		end = memchr(seg, '/', (size_t)(val + len - seg));
		if (end == NULL)
			end = val + len;
		if (end == seg) {
			ld_err(ld, s, "%s: \"%s\": empty segment", key, val);
			return -EINVAL;
		}
		/* RFC 7252 §6.4: never part of a Uri-Path; could not match */
		if ((end - seg == 1 && seg[0] == '.') ||
		    (end - seg == 2 && seg[0] == '.' && seg[1] == '.')) {
			ld_err(ld, s, "%s: \"%s\": \".\" and \"..\" segments "
			    "are not allowed", key, val);
			return -EINVAL;
		}
	}
	if ((r->path = ld_alloc_fail(ld, strndup(val, len))) == NULL)
		return -ENOMEM;
	r->path_len = len;
	return 0;
}

static int
conv_method(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_route *r = base;
	const char	*names[NELEM(method_names)];
	size_t		 i;

	/* "get" is GET: CoAP methods are codes, the names only labels */
	for (i = 0; i < NELEM(method_names); i++)
		if (strcasecmp(val, method_names[i].name) == 0)
			break;
	if (i == NELEM(method_names)) {
		for (i = 0; i < NELEM(method_names); i++)
			names[i] = method_names[i].name;
		ld_enum_err(ld, s, key, "method", val, names, NELEM(names));
		return -EINVAL;
	}
	/*
	 * A file tree changes only when the operator said so in one place;
	 * listing PUT alone must not quietly open it up.
	 */
	if (method_names[i].writes && r->kind == ROUTE_STATIC &&
	    !r->writable) {
		ld_err(ld, s, "%s: \"%s\" needs writable = true", key, val);
		return -EINVAL;
	}
	r->methods |= ROUTE_METHOD(method_names[i].code);
	return 0;
}

static int
check_address(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val)
{
	struct in6_addr	 a;

	/* numeric only: the daemon must never wait on DNS to start */
	if (inet_pton(AF_INET, val, &a) == 1 ||
	    inet_pton(AF_INET6, val, &a) == 1)
		return 0;
	ld_err(ld, s, "%s: \"%s\": not a numeric IPv4 or IPv6 address", key,
	    val);
	return -EINVAL;
}

static int
check_attr(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val)
{
	const char	*p;

	/* RFC 6690 §2: these go out as quoted-strings, unescaped */
	for (p = val; *p != '\0'; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ||
		    *p == 0x7f) {
			ld_err(ld, s, "%s: must not contain '\"', '\\' or "
			    "control characters", key);
			return -EINVAL;
		}
	return 0;
}

/* "net:" entry: an address, optionally "/prefix", with no host bits set. */
static int
check_net(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val)
{
	char		 buf[INET6_ADDRSTRLEN + 8];
	uint8_t		 a[16];
	const char	*pfx;
	char		*slash, *end;
	unsigned long	 plen;
	int		 bits, i;

	if (strlen(val + 4) >= sizeof(buf))
		goto bad;
	strcpy(buf, val + 4);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		bits = 32;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		bits = 128;
	else
		goto bad;
	plen = (unsigned long)bits;
	if (slash != NULL) {
		pfx = slash + 1;
		errno = 0;
		plen = strtoul(pfx, &end, 10);
		if (!isdigit((unsigned char)*pfx) || *end != '\0' ||
		    errno != 0 || plen > (unsigned long)bits) {
			ld_err(ld, s, "%s: \"%s\": prefix length must be 0..%d",
			    key, val, bits);
			return -EINVAL;
		}
	}
	for (i = (int)plen; i < bits; i++)
		if (a[i / 8] & (0x80 >> (i % 8))) {
			ld_err(ld, s, "%s: \"%s\": host bits set beyond /%lu",
			    key, val, plen);
			return -EINVAL;
		}
	return 0;
bad:
	ld_err(ld, s, "%s: \"%s\": not a numeric address or CIDR network",
	    key, val);
	return -EINVAL;
}

static int
check_allow(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val)
{
	size_t	 idlen;

	if (strncmp(val, "net:", 4) == 0)
		return check_net(ld, s, key, val);
	if (strncmp(val, "psk:", 4) != 0) {
		ld_err(ld, s, "%s: \"%s\": must start with \"psk:\" or "
		    "\"net:\"", key, val);
		return -EINVAL;
	}
	idlen = strlen(val + 4);
	if (idlen == 0 || idlen > PSK_ID_MAX) {
		ld_err(ld, s, "%s: \"%s\": a PSK identity has 1..%d bytes",
		    key, val, PSK_ID_MAX);
		return -EINVAL;
	}
	return 0;
}

/* Cipher suite names depend on the wolfSSL build: dtls.c knows them. */
static int
check_cipher(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val)
{
	char	 why[1024];

	if (dtls_cipher_ok(val, why, sizeof(why)))
		return 0;
	ld_err(ld, s, "%s: %s", key, why);
	return -EINVAL;
}

static void
listen_finish(struct ld *ld, const struct config_setting_t *g,
    const struct config_setting_t *at, const char *key, void *base)
{
	struct cfg_listen	*l = base;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&l->addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&l->addr;

	(void)g;
	(void)at;
	(void)key;
	/* RFC 7252 §6.1, §6.2: coap on 5683, coaps on 5684 */
	if (l->port == 0)
		l->port = l->dtls ? 5684 : 5683;
	/* addrlen stays 0 for a bad entry: no duplicate check on guesses */
	if (l->address == NULL || !ld->group_clean)
		return;
	memset(&l->addr, 0, sizeof(l->addr));
	if (inet_pton(AF_INET, l->address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(l->port);
		l->addrlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, l->address, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(l->port);
		l->addrlen = sizeof(*sin6);
	}
}

static void
route_init(struct ld *ld, void *base)
{
	struct cfg_route *r = base;

	r->static_dirfd = -1;
	r->max_body_bytes = ld->c->max_body_bytes;
}

static void
compile_acl(struct ld *ld, const struct config_setting_t *g, const char *key,
    struct cfg_route *r)
{
	char	 why[128];
	size_t	 bad;
	int	 rc;

	rc = acl_compile(r->allow, r->nallow, &r->acl, &bad, why, sizeof(why));
	if (rc == -ENOMEM)
		ld->nomem = true;
	else if (rc != 0)
		ld_err(ld, ld_member(g, "allow"), "%s.allow: \"%s\": %s", key,
		    r->allow[bad], why);
}

/* Keys that only a hook route takes. */
static const char *const hook_only[] = {
	"env", "max_running", "max_output_bytes", "headers", "user", "group",
	"run_as_root", "interval_s",
};

/* Keys that only a backend route takes. */
static const char *const backend_only[] = { "strip_prefix", "max_pending" };

/*
 * user and group of a hook route: ids now, so that a typo is caught.
 * Hooks run as coapd's user: the top-level user once it is set (coapd
 * then cannot switch to another one), else whoever started coapd.
 */
static void
hook_ids(struct ld *ld, const struct config_setting_t *g, const char *key,
    struct cfg_route *r)
{
	struct passwd	*pw;
	struct group	*gr;
	uid_t		 euid = ld->c->drop ? ld->c->uid : geteuid();

	if (r->user != NULL) {
		if ((pw = getpwnam(r->user)) == NULL) {
			ld_err(ld, ld_member(g, "user"),
			    "%s.user: no such user \"%s\"", key, r->user);
			return;
		}
		if (euid != 0 && pw->pw_uid != euid) {
			ld_err(ld, ld_member(g, "user"),
			    "%s.user: coapd %s not root and cannot run hooks "
			    "as \"%s\"", key, ld->c->drop ? "will be" : "is",
			    r->user);
			return;
		}
		r->uid = pw->pw_uid;
		r->gid = pw->pw_gid;
		/* not root: the hook already runs as that user */
		r->set_ids = euid == 0;
	}
	if (r->group != NULL) {
		if (r->user == NULL) {
			ld_err(ld, ld_member(g, "group"),
			    "%s.group: needs user as well", key);
			return;
		}
		if ((gr = getgrnam(r->group)) == NULL) {
			ld_err(ld, ld_member(g, "group"),
			    "%s.group: no such group \"%s\"", key, r->group);
			return;
		}
		r->gid = gr->gr_gid;
		if (!r->set_ids && r->gid != (ld->c->drop ? ld->c->gid :
		    getegid())) {
			ld_err(ld, ld_member(g, "group"),
			    "%s.group: coapd %s not root and cannot run hooks "
			    "as group \"%s\"", key, ld->c->drop ? "will be" :
			    "is", r->group);
			return;
		}
	}
	if (r->user == NULL && euid == 0 && !r->run_as_root)
		ld_err(ld, ld_member(g, "hook"),
		    "%s.hook: coapd runs as root: set user = \"...\" to run "
		    "the hook with fewer rights, or run_as_root = true", key);
}

/* The rules of hook routes, and hook keys elsewhere. */
static void
hook_finish(struct ld *ld, const struct config_setting_t *g, const char *key,
    struct cfg_route *r)
{
	const struct config_setting_t	*m;
	size_t			 i;

	if (r->kind != ROUTE_BACKEND)
		for (i = 0; i < NELEM(backend_only); i++)
			if ((m = ld_member(g, backend_only[i])))
				ld_err(ld, m, "%s.%s: only for backend routes",
				    key, backend_only[i]);
	if (r->kind == ROUTE_STATIC &&
	    (m = ld_member(g, "timeout_s")))
		ld_err(ld, m, "%s.timeout_s: only for hook and backend routes",
		    key);
	if (r->kind == ROUTE_BACKEND)
		r->pending = ld_alloc_fail(ld, calloc(1, sizeof(*r->pending)));
	/* a backend decides on methods itself unless the route says */
	if (r->kind == ROUTE_BACKEND &&
	    ld_member(g, "methods") == NULL)
		r->methods = ROUTE_METHOD(COAP_GET) | ROUTE_METHOD(COAP_POST) |
		    ROUTE_METHOD(COAP_PUT) | ROUTE_METHOD(COAP_DELETE) |
		    ROUTE_METHOD(COAP_FETCH) | ROUTE_METHOD(COAP_PATCH) |
		    ROUTE_METHOD(COAP_IPATCH);
	if (r->kind != ROUTE_HOOK) {
		for (i = 0; i < NELEM(hook_only); i++)
			if ((m = ld_member(g, hook_only[i])))
				ld_err(ld, m, "%s.%s: only for hook routes",
				    key, hook_only[i]);
		if (r->path != NULL && strstr(r->path, "/:") != NULL)
			ld_err(ld, ld_member(g, "path"),
			    "%s.path: \":name\" segments are only for hook "
			    "routes", key);
		return;
	}
	if (r->path != NULL && !route_caps_valid(r->path, r->path_len))
		ld_err(ld, ld_member(g, "path"),
		    "%s.path: \"%s\": a \":name\" segment needs a name of "
		    "letters, digits and _, distinct within the path", key,
		    r->path);
	if (r->interval_s > 0 && !r->observe &&
	    (m = ld_member(g, "interval_s")))
		ld_err(ld, m, "%s.interval_s: needs observe = true", key);
	r->running = ld_alloc_fail(ld, calloc(1, sizeof(*r->running)));
	hook_ids(ld, g, key, r);
}

static void
route_finish(struct ld *ld, const struct config_setting_t *g,
    const struct config_setting_t *at, const char *key, void *base)
{
	struct cfg_route		*r = base;
	const struct config_setting_t	*m;
	const struct opt		*o;
	char				 names[128];
	size_t				 ntarget = 0, len = 0;

	/* routes only come from list elements: g is never NULL here */
	(void)at;
	r->src_line = ld_line(g);

	names[0] = '\0';
	for (o = route_opts; o < route_opts + NELEM(route_opts); o++) {
		if (!(o->flags & OPT_TARGET))
			continue;
		if (ld_member(g, o->name) != NULL)
			ntarget++;
		len += (size_t)snprintf(names + len, sizeof(names) - len,
		    "%s\"%s\"", len ? ", " : "", o->name);
		if (len >= sizeof(names))
			len = sizeof(names) - 1;
	}
	if (ntarget == 0)
		ld_err(ld, g, "%s: no target: set one of %s", key, names);
	else if (ntarget > 1)
		ld_err(ld, g, "%s: set only one of %s", key, names);

	if (r->methods == 0 && ld_member(g, "methods") == NULL) {
		r->methods = ROUTE_METHOD(COAP_GET);
		if (r->writable)
			r->methods |= ROUTE_METHOD(COAP_PUT) |
			    ROUTE_METHOD(COAP_DELETE);
	}
	if (r->create_dirs && !r->writable &&
	    (m = ld_member(g, "create_dirs")) != NULL)
		ld_err(ld, m, "%s.create_dirs: needs writable = true", key);
	hook_finish(ld, g, key, r);
	/* check_allow() reported bad entries: compile only a clean list */
	if (r->nallow > 0 && ld->group_clean)
		compile_acl(ld, g, key, r);
}

