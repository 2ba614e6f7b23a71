/*
 * cfg.c - load coapd.conf into an immutable struct cfg.  The only includer
 * of <libconfig.h>.
 *
 * Every key is one entry in an option table below (top_opts[],
 * route_opts[], ...): name, type, bounds, default, flags and where the value
 * lands.  One generic walker applies a table to a libconfig group, so adding
 * a key is adding an entry; what a table cannot say (cross-key rules, file
 * system checks) lives in small conv/check/finish hooks.
 *
 * Errors are collected rather than printed, then sorted by position and
 * handed to the caller's callback: the operator gets every mistake of the
 * file in one run, in file order, as "FILE:LINE: key: message".
 */
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/acl.h"
#include "adapt/cfg.h"
#include "proto/coap_msg.h"
#include "proto/linkfmt.h"
#include "adapt/dtls.h"
#include "adapt/log.h"
#include "proto/psk.h"
#include "proto/route.h"

#define KEY_MAX		160	/* "content_formats[12].ext" and the like */
#define SRC_MAX		(16u << 20) /* largest file re-read for literals */
#define PSK_ID_MAX	128	/* wolfSSL's MAX_PSK_ID_LEN */
#define ATTR_MAX	255	/* rt, if, title */
#define PSK_FILE_MAX	(64u << 20) /* largest psk_file read */

struct ld;

enum opt_type {
	OPT_INT,	/* integer into an integer field of o->size bytes */
	OPT_BOOL,	/* into a bool */
	OPT_STR,	/* strdup'd into a char *, or given to o->conv */
	OPT_STRV,	/* array of strings: char ** at off, size_t at noff */
	OPT_GROUP,	/* a nested table applied to base + off */
	OPT_LIST,	/* list of groups: element array at off, size_t at noff */
	OPT_ENV,	/* group of strings: "NAME=value" char ** at off,
			   size_t at noff */
};

#define OPT_REQUIRED	0x01	/* absent is an error */
#define OPT_NONEMPTY	0x02	/* an empty array or list is an error */
#define OPT_POW2	0x04	/* an integer must be a power of two */
#define OPT_RESTART	0x08	/* a reload cannot change it (see the man page) */
#define OPT_NODEFAULT	0x10	/* absent: keep what the set's init put there */
#define OPT_ONEDEFAULT	0x20	/* absent list: one element made of defaults */
#define OPT_TARGET	0x40	/* one of a route's exclusive targets */

/*
 * Validate a string value (s is its setting, for the error position).
 * Returns 0, or -EINVAL after reporting.
 */
typedef int opt_check_fn(struct ld *, const config_setting_t *s,
    const char *key, const char *val);
/*
 * Store a string value into the struct at base instead of the default
 * strdup (for OPT_STRV: called per element).  s is NULL when val is the
 * table default.  Returns 0, -EINVAL after reporting, or -ENOMEM.
 */
typedef int opt_conv_fn(struct ld *, const config_setting_t *s,
    const char *key, const char *val, void *base);

struct optset;

struct opt {
	const char		*name;	/* the key, as in the man page */
	enum opt_type		 type;
	size_t			 off;	/* the field in the target struct */
	size_t			 size;	/* its size (integers) */
	size_t			 noff;	/* OPT_STRV, OPT_LIST: count field */
	long long		 min;	/* integers: value; strings: length */
	long long		 max;	/* strings: 0 means no limit */
	long long		 def;	/* OPT_INT, OPT_BOOL default */
	const char		*sdef;	/* OPT_STR default, NULL for none */
	unsigned		 flags;
	const struct optset	*sub;	/* OPT_GROUP, OPT_LIST */
	opt_check_fn		*check;
	opt_conv_fn		*conv;
};

/* The keys of one group, and what to do around applying them. */
struct optset {
	const struct opt	*opts;
	size_t			 nopts;
	size_t			 size;	/* OPT_LIST element size */
	/* Before any key of a list element is applied. */
	void			(*init)(struct ld *, void *base);
	/*
	 * After all keys: cross-key rules.  g is the group, or NULL when it
	 * was absent (then at is where to report).
	 */
	void			(*finish)(struct ld *, const config_setting_t *g,
				    const config_setting_t *at, const char *key,
				    void *base);
};

/* One collected error. */
struct ld_msg {
	unsigned	 rank;		/* order of the file among the errors */
	unsigned	 line;
	unsigned	 seq;		/* keeps equal positions stable */
	char		*text;		/* "FILE:LINE: message" */
	const char	*file;		/* shown name, owned by ld->srcs */
};

/* A source file of the configuration: the file given or an @include. */
struct ld_src {
	char		*name;		/* as libconfig records it */
	char		*shown;		/* as messages show it */
	char		*data;		/* its text, read on demand */
	bool		 tried;		/* data was read (or failed) */
};

/*
 * The private tail of a snapshot: source file names that routes point at
 * (libconfig's copies die with the config_t).
 */
struct cfg_store {
	struct cfg	 pub;		/* first: cfg_unref() casts back */
	char		**files;
	size_t		 nfiles;
};

/* State of one cfg_load(). */
struct ld {
	struct cfg_store *store;
	struct cfg	*c;
	const char	*path;		/* as given */
	char		*showdir;	/* dirname(path) as given, for messages;
					   NULL when path has no '/' */
	struct ld_msg	*msgs;
	size_t		 nmsgs;
	size_t		 msgcap;
	struct ld_src	*srcs;
	size_t		 nsrcs;
	bool		 nomem;
	bool		 group_clean;	/* for finish hooks: no error in the
					   group's own keys */
};

static void	 ld_err(struct ld *, const config_setting_t *, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
static void	 apply_group(struct ld *, const config_setting_t *,
		    const config_setting_t *, const struct optset *,
		    const char *, void *);
static void	 cfg_free(struct cfg *);
static struct ld_src *ld_source(struct ld *, const char *);
static char	*abs_path(struct ld *, const char *);

/*
 * Hooks, then the tables.  Tables are applied in their order, which some
 * hooks rely on (noted at the entry).
 */

static opt_conv_fn	conv_level, conv_psk_file, conv_ext, conv_path,
			conv_static, conv_method, conv_hook, conv_tmp_dir,
			conv_backend;
static opt_check_fn	check_address, check_attr, check_allow, check_cipher;
static void	listen_finish(struct ld *, const config_setting_t *,
		    const config_setting_t *, const char *, void *);
static void	route_init(struct ld *, void *);
static void	route_finish(struct ld *, const config_setting_t *,
		    const config_setting_t *, const char *, void *);
static void	top_finish(struct ld *, const config_setting_t *,
		    const config_setting_t *, const char *, void *);

#define FLD(st, f)	.off = offsetof(st, f), .size = sizeof(((st *)0)->f)
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

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
};

static const struct optset log_set = {
	log_opts, NELEM(log_opts), 0, NULL, NULL,
};

static const struct opt dtls_opts[] = {
	{ .name = "psk_file", .type = OPT_STR, FLD(struct cfg_dtls, psk_file),
	  .conv = conv_psk_file },
	{ .name = "identity_hint", .type = OPT_STR,
	  FLD(struct cfg_dtls, identity_hint), .min = 1, .max = PSK_ID_MAX },
	/* names are checked by the DTLS module, which knows the library */
	{ .name = "ciphers", .type = OPT_STRV, FLD(struct cfg_dtls, ciphers),
	  .noff = offsetof(struct cfg_dtls, nciphers), .flags = OPT_NONEMPTY,
	  .check = check_cipher },
	{ .name = "max_sessions", .type = OPT_INT,
	  FLD(struct cfg_dtls, max_sessions),
	  .min = 1, .max = 1000000, .def = 2000 },
	{ .name = "session_timeout_s", .type = OPT_INT,
	  FLD(struct cfg_dtls, session_timeout_s),
	  .min = 1, .max = 86400, .def = 600 },
	{ .name = "handshake_timeout_s", .type = OPT_INT,
	  FLD(struct cfg_dtls, handshake_timeout_s),
	  .min = 1, .max = 300, .def = 5 },
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
	  .flags = OPT_TARGET, .conv = conv_static },
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
	  .flags = OPT_TARGET | OPT_NONEMPTY, .conv = conv_hook },
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
	/* backend routes (serve/h_backend.c) */
	{ .name = "backend", .type = OPT_STR, FLD(struct cfg_route, backend),
	  .min = 1, .max = 107, .flags = OPT_TARGET, .conv = conv_backend },
	{ .name = "strip_prefix", .type = OPT_BOOL,
	  FLD(struct cfg_route, strip_prefix), .def = false },
	{ .name = "max_pending", .type = OPT_INT,
	  FLD(struct cfg_route, max_pending), .min = 1, .max = 1 << 20,
	  .def = 256 },
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
	  .sdef = "/var/tmp", .conv = conv_tmp_dir },
	{ .name = "term_grace_s", .type = OPT_INT,
	  FLD(struct cfg_hooks, term_grace_s), .min = 0, .max = 60, .def = 2 },
	{ .name = "max_cache_bytes", .type = OPT_INT,
	  FLD(struct cfg_hooks, max_cache_bytes),
	  .min = 0, .max = 1 << 30, .def = 8 << 20 },
};

static const struct optset hooks_set = {
	hooks_opts, NELEM(hooks_opts), 0, NULL, NULL,
};

static const struct opt top_opts[] = {
	{ .name = "listen", .type = OPT_LIST, FLD(struct cfg, listen),
	  .noff = offsetof(struct cfg, nlisten), .sub = &listen_set,
	  .flags = OPT_NONEMPTY | OPT_ONEDEFAULT | OPT_RESTART },
	/* 0: one per online CPU, resolved by top_finish() */
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
	/* RFC 7252 §4.8.2: EXCHANGE_LIFETIME is 247 s with default timers */
	{ .name = "exchange_lifetime_s", .type = OPT_INT,
	  FLD(struct cfg, exchange_lifetime_s),
	  .min = 1, .max = 86400, .def = 247 },
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
	{ .name = "log", .type = OPT_GROUP, .off = 0, .sub = &log_set },
	{ .name = "dtls", .type = OPT_GROUP, FLD(struct cfg, dtls),
	  .sub = &dtls_set },
	{ .name = "hooks", .type = OPT_GROUP, FLD(struct cfg, hooks),
	  .sub = &hooks_set },
	{ .name = "content_formats", .type = OPT_LIST, FLD(struct cfg, ctypes),
	  .noff = offsetof(struct cfg, nctypes), .sub = &ctype_set },
	{ .name = "routes", .type = OPT_LIST, FLD(struct cfg, routes),
	  .noff = offsetof(struct cfg, nroutes), .sub = &route_set,
	  .flags = OPT_REQUIRED | OPT_NONEMPTY },
};

static const struct optset top_set = {
	top_opts, NELEM(top_opts), 0, NULL, top_finish,
};

/* Built-in extension map; `content_formats` entries come after it. */
static const struct {
	const char	*ext;
	uint16_t	 ct;
} builtin_ctypes[] = {
	{ "txt", COAP_CT_TEXT_PLAIN },
	{ "wlnk", COAP_CT_LINK_FORMAT },
	{ "xml", COAP_CT_XML },
	{ "bin", COAP_CT_OCTET_STREAM },
	{ "exi", COAP_CT_EXI },
	{ "json", COAP_CT_JSON },
	{ "cbor", COAP_CT_CBOR },
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
 * Error collection.
 */

static void *
ld_alloc_fail(struct ld *ld, void *p)
{
	if (p == NULL)
		ld->nomem = true;
	return p;
}

static char *
ld_strdup(struct ld *ld, const char *s)
{
	return ld_alloc_fail(ld, strdup(s));
}

static void
ld_add(struct ld *ld, const char *file, unsigned line, char *text)
{
	struct ld_msg	*m;
	size_t		 i, ncap;
	unsigned	 rank = 0;
	char		*p;

	/* one line per error, whatever escapes the strings held */
	for (p = text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (ld->nmsgs == ld->msgcap) {
		ncap = ld->msgcap ? ld->msgcap * 2 : 16;
		m = realloc(ld->msgs, ncap * sizeof(*m));
		if (m == NULL) {
			ld->nomem = true;
			free(text);
			return;
		}
		ld->msgs = m;
		ld->msgcap = ncap;
	}
	/* files are ranked by their first error: includes stay together */
	for (i = 0; i < ld->nmsgs; i++) {
		if (strcmp(ld->msgs[i].file, file) == 0) {
			rank = ld->msgs[i].rank;
			break;
		}
		if (ld->msgs[i].rank >= rank)
			rank = ld->msgs[i].rank + 1;
	}
	m = &ld->msgs[ld->nmsgs];
	m->rank = rank;
	m->line = line;
	m->seq = ld->nmsgs;
	m->text = text;
	m->file = file;
	ld->nmsgs++;
}

static void
setting_pos(struct ld *ld, const config_setting_t *s, const char **file,
    unsigned *line)
{
	struct ld_src	*src;

	*file = NULL;
	*line = 0;
	if (s != NULL) {
		*file = config_setting_source_file(s);
		*line = config_setting_source_line(s);
	}
	if (*file == NULL)
		*file = ld->path;
	else if ((src = ld_source(ld, *file)) != NULL)
		*file = src->shown;
	/* the root group sits on line 0: point at the top of the file */
	if (*line == 0)
		*line = 1;
}

/* Report "FILE:LINE: message" at setting s. */
static void
ld_err(struct ld *ld, const config_setting_t *s, const char *fmt, ...)
{
	const char	*file;
	unsigned	 line;
	char		 msg[512];
	char		*text;
	va_list		 ap;

	setting_pos(ld, s, &file, &line);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&text, "%s:%u: %s", file, line, msg) == -1) {
		ld->nomem = true;
		return;
	}
	ld_add(ld, file, line, text);
}

static int
msg_cmp(const void *a, const void *b)
{
	const struct ld_msg *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* Same file: "line N"; another: "FILE:N" (to name a second position). */
static void
pos_str(struct ld *ld, const config_setting_t *here,
    const config_setting_t *there, char *buf, size_t len)
{
	const char	*f1, *f2;
	unsigned	 l1, l2;

	setting_pos(ld, here, &f1, &l1);
	setting_pos(ld, there, &f2, &l2);
	if (strcmp(f1, f2) == 0)
		snprintf(buf, len, "line %u", l2);
	else
		snprintf(buf, len, "%s:%u", f2, l2);
}

static void
mkkey(char *buf, size_t len, const char *prefix, const char *name)
{
	if (prefix[0] == '\0')
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s.%s", prefix, name);
}

/*
 * Path helpers.  Relative paths in the file are relative to the file's
 * directory, so that a config works wherever it is started from.
 */

static char *
abs_path(struct ld *ld, const char *val)
{
	char	*p;

	if (val[0] == '/')
		return ld_strdup(ld, val);
	if (asprintf(&p, "%s/%s", strcmp(ld->c->dir, "/") == 0 ? "" :
	    ld->c->dir, val) == -1) {
		ld->nomem = true;
		return NULL;
	}
	return p;
}

/* Report a file error on val, showing where a relative path was looked. */
static void
path_err(struct ld *ld, const config_setting_t *s, const char *key,
    const char *val, const char *why)
{
	if (val[0] == '/' || ld->showdir == NULL)
		ld_err(ld, s, "%s: \"%s\": %s", key, val, why);
	else
		ld_err(ld, s, "%s: \"%s\" (%s/%s): %s", key, val, ld->showdir,
		    val, why);
}

/*
 * The source entry for a file name recorded by libconfig.  The file given
 * is shown as given.  An @include name is relative to the include dir
 * (c->dir); it is shown relative to where the given file was named from,
 * so that "conf/include/x.inc:3" opens from the caller's directory too.
 */
static struct ld_src *
ld_source(struct ld *ld, const char *name)
{
	struct ld_src	*src;
	size_t		 i;
	int		 n;

	for (i = 0; i < ld->nsrcs; i++)
		if (strcmp(ld->srcs[i].name, name) == 0)
			return &ld->srcs[i];
	src = ld_alloc_fail(ld, realloc(ld->srcs,
	    (ld->nsrcs + 1) * sizeof(*src)));
	if (src == NULL)
		return NULL;
	ld->srcs = src;
	src = &ld->srcs[ld->nsrcs];
	memset(src, 0, sizeof(*src));
	if ((src->name = ld_strdup(ld, name)) == NULL)
		return NULL;
	if (strcmp(name, ld->path) == 0 || name[0] == '/' ||
	    ld->showdir == NULL)
		n = asprintf(&src->shown, "%s", name);
	else
		n = asprintf(&src->shown, "%s/%s", ld->showdir, name);
	if (n == -1) {
		ld->nomem = true;
		free(src->name);
		return NULL;
	}
	ld->nsrcs++;
	return src;
}

/* The text of a source file, or NULL. */
static const char *
src_text(struct ld *ld, struct ld_src *src)
{
	FILE	*fp;
	char	*p;
	size_t	 n;

	if (src->tried)
		return src->data;
	src->tried = true;
	if (src->name[0] == '/' || strcmp(src->name, ld->path) == 0)
		p = ld_strdup(ld, src->name);
	else
		p = abs_path(ld, src->name);
	if (p == NULL)
		return NULL;
	fp = fopen(p, "re");
	free(p);
	if (fp == NULL)
		return NULL;
	if ((src->data = ld_alloc_fail(ld, malloc(SRC_MAX + 1))) != NULL) {
		n = fread(src->data, 1, SRC_MAX, fp);
		src->data[n] = '\0';
	}
	fclose(fp);
	return src->data;
}

static bool
is_name_char(int ch)
{
	return isalnum(ch) || ch == '_' || ch == '-' || ch == '*';
}

/*
 * libconfig 1.5 reads a plain integer literal into an int and wraps it
 * silently: "max_body_bytes = 5000000000;" would load as 705032704.  Values
 * past 2^31 - 1 need the L suffix (a 64-bit literal).  The parsed value
 * cannot tell, so read the literal back from the source line of s, a
 * CONFIG_TYPE_INT setting.  Returns true when it does not fit in 32 bits,
 * with its text in lit and its value (saturated) in *val; false when it
 * fits or cannot be found (a value on a line of its own is then trusted).
 */
static bool
int_literal(struct ld *ld, const config_setting_t *s, char *lit, size_t len,
    long long *val)
{
	const char	*name = config_setting_name(s);
	const char	*p, *q, *d, *text;
	struct ld_src	*src;
	unsigned long long v = 0, base;
	unsigned	 line, dig;
	size_t		 nlen;
	bool		 neg;

	if (name == NULL || config_setting_source_file(s) == NULL ||
	    (src = ld_source(ld, config_setting_source_file(s))) == NULL ||
	    (text = src_text(ld, src)) == NULL)
		return false;
	for (p = text, line = 1; line < config_setting_source_line(s); p++) {
		if (*p == '\0')
			return false;
		if (*p == '\n')
			line++;
	}
	nlen = strlen(name);
	for (; *p != '\0' && *p != '\n'; p++) {
		if (strncmp(p, name, nlen) != 0 ||
		    (p > text && is_name_char((unsigned char)p[-1])) ||
		    is_name_char((unsigned char)p[nlen]))
			continue;
		q = p + nlen;
		q += strspn(q, " \t");
		if (*q != '=' && *q != ':')
			continue;
		q++;
		q += strspn(q, " \t");
		d = q;
		neg = *q == '-';
		if (*q == '-' || *q == '+')
			q++;
		base = 10;
		if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
			base = 16;
			q += 2;
		}
		for (; isxdigit((unsigned char)*q); q++) {
			dig = isdigit((unsigned char)*q) ? (unsigned)(*q - '0') :
			    (unsigned)(tolower((unsigned char)*q) - 'a' + 10);
			if (dig >= base)
				break;
			if (v > ((unsigned long long)LLONG_MAX - dig) / base)
				v = (unsigned long long)LLONG_MAX;
			else
				v = v * base + dig;
		}
		if (v <= (neg ? (unsigned long long)INT_MAX + 1 :
		    (unsigned long long)INT_MAX))
			return false;
		snprintf(lit, len, "%.*s", (int)(q - d), d);
		*val = neg ? -(long long)v : (long long)v;
		return true;
	}
	return false;
}

/*
 * The generic walker.
 */

/* A libconfig type as a noun, for "expected ..., got an integer". */
static const char *
type_noun(int t)
{
	switch (t) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "integer";
	case CONFIG_TYPE_FLOAT:
		return "float";
	case CONFIG_TYPE_STRING:
		return "string";
	case CONFIG_TYPE_BOOL:
		return "boolean";
	case CONFIG_TYPE_ARRAY:
		return "array";
	case CONFIG_TYPE_LIST:
		return "list";
	case CONFIG_TYPE_GROUP:
		return "group";
	}
	return "nothing";
}

static const char *
article(const char *noun)
{
	return strchr("aeiou", noun[0]) != NULL ? "an" : "a";
}

static const char *
opt_type_name(enum opt_type t)
{
	switch (t) {
	case OPT_INT:
		return "an integer";
	case OPT_BOOL:
		return "a boolean (true or false)";
	case OPT_STR:
		return "a string";
	case OPT_STRV:
		return "an array of strings [ \"...\", ... ]";
	case OPT_GROUP:
		return "a group { ... }";
	case OPT_LIST:
		return "a list of groups ( { ... }, ... )";
	case OPT_ENV:
		return "a group of strings { NAME = \"value\"; ... }";
	}
	return "?";
}

static void
type_err(struct ld *ld, const config_setting_t *s, const char *key,
    const char *want)
{
	const char	*got = type_noun(config_setting_type(s));

	ld_err(ld, s, "%s: expected %s, got %s %s", key, want, article(got),
	    got);
}

/* Edit distance, for "did you mean"; names longer than 31 never match. */
static unsigned
edit_distance(const char *a, const char *b)
{
	unsigned	 row[32], prev, tmp, best;
	size_t		 i, j, la = strlen(a), lb = strlen(b);

	if (la >= NELEM(row) || lb >= NELEM(row))
		return UINT_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

static const struct opt *
opt_find(const struct optset *set, const char *name)
{
	size_t	 i;

	for (i = 0; i < set->nopts; i++)
		if (strcmp(set->opts[i].name, name) == 0)
			return &set->opts[i];
	return NULL;
}

static void
unknown_key(struct ld *ld, const config_setting_t *s, const char *key,
    const struct optset *set)
{
	const char	*best = NULL;
	unsigned	 d, bestd = 3;	/* suggest within two edits */
	size_t		 i;

	for (i = 0; i < set->nopts; i++) {
		d = edit_distance(config_setting_name(s), set->opts[i].name);
		if (d < bestd) {
			bestd = d;
			best = set->opts[i].name;
		}
	}
	if (best != NULL)
		ld_err(ld, s, "%s: unknown key (did you mean \"%s\"?)", key,
		    best);
	else
		ld_err(ld, s, "%s: unknown key", key);
}

static void
store_int(void *base, const struct opt *o, long long v)
{
	char		*p = (char *)base + o->off;
	uint8_t		 u8 = (uint8_t)v;
	uint16_t	 u16 = (uint16_t)v;
	uint32_t	 u32 = (uint32_t)v;	/* an int's -1 as well */
	uint64_t	 u64 = (uint64_t)v;

	switch (o->size) {
	case 1:
		memcpy(p, &u8, 1);
		break;
	case 2:
		memcpy(p, &u16, 2);
		break;
	case 4:
		memcpy(p, &u32, 4);
		break;
	case 8:
		memcpy(p, &u64, 8);
		break;
	}
}

static void
store_bool(void *base, const struct opt *o, bool v)
{
	memcpy((char *)base + o->off, &v, sizeof(v));
}

static int
store_str(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, const char *val, void *base)
{
	char	*dup;

	if (o->conv != NULL)
		return o->conv(ld, s, key, val, base);
	if ((dup = ld_strdup(ld, val)) == NULL)
		return -ENOMEM;
	memcpy((char *)base + o->off, &dup, sizeof(dup));
	return 0;
}

static bool
str_valid(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, const char *val)
{
	size_t	 len = strlen(val);

	if (len < (size_t)o->min) {
		ld_err(ld, s, "%s: must not be empty", key);
		return false;
	}
	if (o->max > 0 && len > (size_t)o->max) {
		ld_err(ld, s, "%s: longer than %lld bytes", key, o->max);
		return false;
	}
	return o->check == NULL || o->check(ld, s, key, val) == 0;
}

static void
apply_list(struct ld *ld, const config_setting_t *s,
    const config_setting_t *at, const struct opt *o, const char *key,
    void *base)
{
	const struct optset *set = o->sub;
	const config_setting_t *e;
	char		 ekey[KEY_MAX];
	char		*arr;
	size_t		 i, n;

	n = s != NULL ? (size_t)config_setting_length(s) : 1;
	if (n == 0)
		return;
	if ((arr = ld_alloc_fail(ld, calloc(n, set->size))) == NULL)
		return;
	/* owned by the snapshot from here, so cfg_free() sees it */
	memcpy((char *)base + o->off, &arr, sizeof(arr));
	memcpy((char *)base + o->noff, &n, sizeof(n));
	for (i = 0; i < n && set->init != NULL; i++)
		set->init(ld, arr + i * set->size);
	for (i = 0; i < n; i++) {
		snprintf(ekey, sizeof(ekey), "%s[%zu]", key, i);
		if (s == NULL) {
			apply_group(ld, NULL, at, set, ekey, arr);
			continue;
		}
		e = config_setting_get_elem(s, i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			type_err(ld, e, ekey, opt_type_name(OPT_GROUP));
		else
			apply_group(ld, e, e, set, ekey, arr + i * set->size);
	}
}

static void
apply_strv(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, void *base)
{
	const config_setting_t *e;
	const char	*val;
	char		**v = NULL;
	size_t		 i, n, nv = 0;

	n = (size_t)config_setting_length(s);
	if (n > 0 && o->conv == NULL) {
		if ((v = ld_alloc_fail(ld, calloc(n, sizeof(*v)))) == NULL)
			return;
		memcpy((char *)base + o->off, &v, sizeof(v));
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			/* libconfig arrays hold one type: one error will do */
			ld_err(ld, e, "%s: expected %s, got an array of %ss",
			    key, opt_type_name(o->type),
			    type_noun(config_setting_type(e)));
			return;
		}
		val = config_setting_get_string(e);
		if (!str_valid(ld, e, o, key, val))
			continue;
		if (o->conv != NULL)
			o->conv(ld, e, key, val, base);
		else if ((v[nv] = ld_strdup(ld, val)) != NULL)
			nv++;
	}
	if (v != NULL)
		memcpy((char *)base + o->noff, &nv, sizeof(nv));
}

/* Variables coapd sets for a hook (coapd.conf(5)): not the route's. */
static bool
env_reserved(const char *name)
{
	static const char *const cgi[] = {
		"REQUEST_METHOD", "QUERY_STRING", "CONTENT_FORMAT",
		"CONTENT_LENGTH", "REMOTE_ADDR", "REMOTE_PORT",
	};
	size_t	 i;

	if (strncmp(name, "COAP_", 5) == 0)
		return true;
	for (i = 0; i < NELEM(cgi); i++)
		if (strcmp(name, cgi[i]) == 0)
			return true;
	return false;
}

/* OPT_ENV: every member a string, kept as "NAME=value". */
static void
apply_env(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, void *base)
{
	const config_setting_t *e;
	const char	*name, *p;
	char		**v, ekey[KEY_MAX];
	size_t		 i, n, nv = 0;

	if ((n = (size_t)config_setting_length(s)) == 0)
		return;
	if ((v = ld_alloc_fail(ld, calloc(n, sizeof(*v)))) == NULL)
		return;
	memcpy((char *)base + o->off, &v, sizeof(v));
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		name = config_setting_name(e);
		if (snprintf(ekey, sizeof(ekey), "%s.%s", key, name) < 0)
			ekey[0] = '\0';
		for (p = name; *p == '_' || isalnum((unsigned char)*p); p++)
			;
		if (*p != '\0' || isdigit((unsigned char)name[0])) {
			ld_err(ld, e, "%s: not a variable name (letters, "
			    "digits and _)", ekey);
			continue;
		}
		if (env_reserved(name)) {
			ld_err(ld, e, "%s: coapd sets this variable itself",
			    ekey);
			continue;
		}
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			type_err(ld, e, ekey, opt_type_name(OPT_STR));
			continue;
		}
		if (asprintf(&v[nv], "%s=%s", name,
		    config_setting_get_string(e)) == -1) {
			ld->nomem = true;
			break;
		}
		nv++;
	}
	memcpy((char *)base + o->noff, &nv, sizeof(nv));
}

static void
apply_default(struct ld *ld, const config_setting_t *at, const struct opt *o,
    const char *key, void *base)
{
	if (o->flags & OPT_REQUIRED) {
		ld_err(ld, at, "%s: required key missing", key);
		return;
	}
	if (o->flags & (OPT_NODEFAULT | OPT_TARGET))
		return;
	switch (o->type) {
	case OPT_INT:
		store_int(base, o, o->def);
		break;
	case OPT_BOOL:
		store_bool(base, o, o->def != 0);
		break;
	case OPT_STR:
		if (o->sdef != NULL)
			store_str(ld, NULL, o, key, o->sdef, base);
		break;
	case OPT_STRV:
	case OPT_ENV:
		break;
	case OPT_GROUP:
		apply_group(ld, NULL, at, o->sub, key, (char *)base + o->off);
		break;
	case OPT_LIST:
		if (o->flags & OPT_ONEDEFAULT)
			apply_list(ld, NULL, at, o, key, base);
		break;
	}
}

static void
apply_opt(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, void *base)
{
	int		 t = config_setting_type(s);
	long long	 v;
	char		 lit[64];

	switch (o->type) {
	case OPT_INT:
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
			type_err(ld, s, key, opt_type_name(o->type));
			break;
		}
		if (t == CONFIG_TYPE_INT &&
		    int_literal(ld, s, lit, sizeof(lit), &v)) {
			if (v < o->min || v > o->max)
				ld_err(ld, s, "%s: %s out of range %lld..%lld",
				    key, lit, o->min, o->max);
			else
				ld_err(ld, s, "%s: %s does not fit in 32 bits: "
				    "write %sL", key, lit, lit);
			break;
		}
		v = config_setting_get_int64(s);
		if (v < o->min || v > o->max) {
			ld_err(ld, s, "%s: %lld out of range %lld..%lld", key,
			    v, o->min, o->max);
			break;
		}
		if ((o->flags & OPT_POW2) && (v & (v - 1)) != 0) {
			ld_err(ld, s, "%s: %lld is not a power of two", key, v);
			break;
		}
		store_int(base, o, v);
		return;
	case OPT_BOOL:
		if (t != CONFIG_TYPE_BOOL) {
			type_err(ld, s, key, opt_type_name(o->type));
			break;
		}
		store_bool(base, o, config_setting_get_bool(s));
		return;
	case OPT_STR:
		if (t != CONFIG_TYPE_STRING) {
			type_err(ld, s, key, opt_type_name(o->type));
			return;
		}
		if (str_valid(ld, s, o, key, config_setting_get_string(s)))
			store_str(ld, s, o, key, config_setting_get_string(s),
			    base);
		return;
	case OPT_STRV:
		if (t != CONFIG_TYPE_ARRAY &&
		    !(t == CONFIG_TYPE_LIST && config_setting_length(s) == 0)) {
			type_err(ld, s, key, opt_type_name(o->type));
			return;
		}
		if ((o->flags & OPT_NONEMPTY) && config_setting_length(s) == 0) {
			ld_err(ld, s, "%s: empty array", key);
			return;
		}
		apply_strv(ld, s, o, key, base);
		return;
	case OPT_GROUP:
		if (t != CONFIG_TYPE_GROUP) {
			type_err(ld, s, key, opt_type_name(o->type));
			break;
		}
		apply_group(ld, s, s, o->sub, key, (char *)base + o->off);
		return;
	case OPT_LIST:
		if (t != CONFIG_TYPE_LIST) {
			type_err(ld, s, key, opt_type_name(o->type));
			return;
		}
		if ((o->flags & OPT_NONEMPTY) && config_setting_length(s) == 0) {
			ld_err(ld, s, "%s: empty list: at least one entry is "
			    "required", key);
			return;
		}
		apply_list(ld, s, s, o, key, base);
		return;
	case OPT_ENV:
		if (t != CONFIG_TYPE_GROUP) {
			type_err(ld, s, key, opt_type_name(o->type));
			return;
		}
		apply_env(ld, s, o, key, base);
		return;
	}
	/* a bad value leaves the default, so later checks do not cascade */
	if (!(o->flags & OPT_NODEFAULT)) {
		o = &(struct opt){ .name = o->name, .type = o->type,
		    .off = o->off, .size = o->size, .def = o->def,
		    .sub = o->sub };
		apply_default(ld, s, o, key, base);
	}
}

/*
 * Apply the table set to group g (NULL when absent: defaults only; at is
 * then the position to report), filling the struct at base.  prefix names
 * the group in messages ("" for the top level).
 */
static void
apply_group(struct ld *ld, const config_setting_t *g,
    const config_setting_t *at, const struct optset *set, const char *prefix,
    void *base)
{
	const config_setting_t *m;
	const struct opt *o;
	char		 key[KEY_MAX];
	size_t		 before = ld->nmsgs;
	int		 i, n;

	if (g != NULL) {
		n = config_setting_length(g);
		for (i = 0; i < n; i++) {
			m = config_setting_get_elem(g, i);
			if (opt_find(set, config_setting_name(m)) != NULL)
				continue;
			mkkey(key, sizeof(key), prefix, config_setting_name(m));
			unknown_key(ld, m, key, set);
		}
	}
	for (o = set->opts; o < set->opts + set->nopts; o++) {
		mkkey(key, sizeof(key), prefix, o->name);
		m = g != NULL ? config_setting_get_member(g, o->name) : NULL;
		if (m == NULL)
			apply_default(ld, g != NULL ? g : at, o, key, base);
		else
			apply_opt(ld, m, o, key, base);
	}
	ld->group_clean = ld->nmsgs == before;
	if (set->finish != NULL)
		set->finish(ld, g, g != NULL ? g : at, prefix, base);
}

/*
 * Hooks.
 */

static int
conv_level(struct ld *ld, const config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg	*c = base;

	if (log_level_parse(val, &c->log_level) == 0)
		return 0;
	ld_err(ld, s, "%s: unknown level \"%s\" (err, warn, notice, info, "
	    "debug)", key, val);
	return -EINVAL;
}

/* psk.c reports a bad line of the key file: "PSKFILE:LINE: message". */
struct psk_ctx {
	struct ld	*ld;
	const char	*shown;
};

static void
psk_err(void *arg, unsigned line, const char *msg)
{
	struct psk_ctx	*p = arg;
	char		*text;

	if (asprintf(&text, "%s:%u: %s", p->shown, line, msg) == -1) {
		p->ld->nomem = true;
		return;
	}
	ld_add(p->ld, p->shown, line, text);
}

/*
 * Read and parse the key file at d->psk_file (val as written).  Its mode
 * is checked on the open descriptor; the text is wiped after parsing.
 */
static int
load_psk(struct ld *ld, const config_setting_t *s, const char *key,
    const char *val, struct cfg_dtls *d)
{
	struct psk_ctx	 pc;
	struct ld_src	*src;
	struct stat	 st;
	char		*text, why[128];
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, r;

	if ((fd = open(d->psk_file, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		path_err(ld, s, key, val, strerror(errno));
		if (fd != -1)
			close(fd);
		return -EINVAL;
	}
	if (!psk_mode_ok(st.st_mode)) {
		snprintf(why, sizeof(why), "readable by group or others (mode "
		    "%04o): make it 0600", (unsigned)(st.st_mode & 07777));
		path_err(ld, s, key, val, why);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > PSK_FILE_MAX) {
		path_err(ld, s, key, val, "larger than 64 MiB");
		close(fd);
		return -EINVAL;
	}
	if ((text = ld_alloc_fail(ld, malloc((size_t)st.st_size + 1))) ==
	    NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (len < (size_t)st.st_size &&
	    (n = read(fd, text + len, (size_t)st.st_size - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			path_err(ld, s, key, val, strerror(errno));
			explicit_bzero(text, len);
			free(text);
			close(fd);
			return -EINVAL;
		}
		len += (size_t)n;
	}
	close(fd);
	/* lines are shown relative to where the config was named from */
	if ((src = ld_source(ld, val)) == NULL) {
		explicit_bzero(text, len);
		free(text);
		return -ENOMEM;
	}
	pc.ld = ld;
	pc.shown = src->shown;
	r = psk_parse(text, len, &d->psk, psk_err, &pc);
	explicit_bzero(text, len);
	free(text);
	if (r == -ENOMEM)
		ld->nomem = true;
	return r;
}

static int
conv_psk_file(struct ld *ld, const config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_dtls	*d = base;
	struct stat	 st;

	if (val[0] == '\0') {
		ld_err(ld, s, "%s: must not be empty", key);
		return -EINVAL;
	}
	/* kept even when bad: a dtls listener then does not also complain */
	if ((d->psk_file = abs_path(ld, val)) == NULL)
		return -ENOMEM;
	if (stat(d->psk_file, &st) == -1) {
		path_err(ld, s, key, val, strerror(errno));
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode)) {
		path_err(ld, s, key, val, "not a regular file");
		return -EINVAL;
	}
	return load_psk(ld, s, key, val, d);
}

static int
conv_ext(struct ld *ld, const config_setting_t *s, const char *key,
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
conv_path(struct ld *ld, const config_setting_t *s, const char *key,
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
conv_static(struct ld *ld, const config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_route *r = base;
	struct stat	 st;
	char		*slash, *dir;
	int		 fd;

	r->kind = ROUTE_STATIC;
	if (val[0] == '\0') {
		ld_err(ld, s, "%s: must not be empty", key);
		return -EINVAL;
	}
	if ((r->static_path = abs_path(ld, val)) == NULL)
		return -ENOMEM;
	/*
	 * Opened now, by the main thread: workers resolve request paths
	 * with openat() beneath this fd, so a later rename of the tree or
	 * a chroot-like sandbox does not change what a route serves.
	 */
	fd = open(r->static_path, O_PATH | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		path_err(ld, s, key, val, strerror(errno));
		if (fd != -1)
			close(fd);
		return -EINVAL;
	}
	if (S_ISDIR(st.st_mode)) {
		r->static_is_dir = true;
		r->static_dirfd = fd;
		return 0;
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		path_err(ld, s, key, val, "not a regular file or directory");
		return -EINVAL;
	}
	/* a file target: its parent directory and its name */
	slash = strrchr(r->static_path, '/');
	if ((r->static_name = ld_strdup(ld, slash + 1)) == NULL)
		return -ENOMEM;
	dir = ld_alloc_fail(ld, strndup(r->static_path,
	    slash == r->static_path ? 1 : (size_t)(slash - r->static_path)));
	if (dir == NULL)
		return -ENOMEM;
	r->static_dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (r->static_dirfd == -1) {
		path_err(ld, s, key, val, strerror(errno));
		return -EINVAL;
	}
	return 0;
}

static int
conv_method(struct ld *ld, const config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_route *r = base;
	size_t		 i;

	for (i = 0; i < NELEM(method_names); i++)
		if (strcmp(val, method_names[i].name) == 0)
			break;
	if (i == NELEM(method_names)) {
		ld_err(ld, s, "%s: unknown method \"%s\"", key, val);
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

/* hook = [ ... ]: argv; the first must be an executable file. */
static int
conv_hook(struct ld *ld, const config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_route *r = base;
	struct stat	 st;
	const char	*why = NULL;
	char		**v, *a;

	r->kind = ROUTE_HOOK;
	if (r->nhook == 0) {
		if ((a = abs_path(ld, val)) == NULL)
			return -ENOMEM;
		if (stat(a, &st) != 0)
			why = strerror(errno);
		else if (!S_ISREG(st.st_mode))
			why = "not a regular file";
		else if (access(a, X_OK) != 0)
			why = "not executable";
		if (why != NULL) {
			path_err(ld, s, key, val, why);
			free(a);
			return -EINVAL;
		}
	} else if ((a = ld_strdup(ld, val)) == NULL)
		return -ENOMEM;
	v = ld_alloc_fail(ld, realloc(r->hook, (r->nhook + 2) * sizeof(*v)));
	if (v == NULL) {
		free(a);
		return -ENOMEM;
	}
	v[r->nhook++] = a;
	v[r->nhook] = NULL;
	r->hook = v;
	return 0;
}

/* hooks.tmp_dir: an existing directory, made absolute. */
static int
conv_tmp_dir(struct ld *ld, const config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_hooks *h = base;
	struct stat	 st = { .st_mode = S_IFDIR };
	char		*a;

	if ((a = abs_path(ld, val)) == NULL)
		return -ENOMEM;
	if (stat(a, &st) != 0 || !S_ISDIR(st.st_mode)) {
		path_err(ld, s, key, val, S_ISDIR(st.st_mode) ?
		    strerror(errno) : "not a directory");
		free(a);
		return -EINVAL;
	}
	free(h->tmp_dir);
	h->tmp_dir = a;
	return 0;
}

/* "coap://HOST[:PORT]" with a numeric host, IPv6 in brackets. */
static int
backend_udp(struct cfg_route *r, const char *spec)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&r->backend_addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&r->backend_addr;
	char			 host[64], *end;
	const char		*h = spec + 7, *p;
	unsigned long		 port = 5683;
	size_t			 n;

	if (*h == '[') {
		if ((p = strchr(h, ']')) == NULL)
			return -EINVAL;
		n = (size_t)(p - h - 1);
		h++;
		p++;
	} else {
		p = strchr(h, ':');
		n = p != NULL ? (size_t)(p - h) : strlen(h);
		p = h + n;
	}
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	if (*p == ':') {
		port = strtoul(p + 1, &end, 10);
		if (end == p + 1 || *end != '\0' || port == 0 || port > 65535)
			return -EINVAL;
	} else if (*p != '\0')
		return -EINVAL;
	memset(&r->backend_addr, 0, sizeof(r->backend_addr));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		r->backend_addrlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		r->backend_addrlen = sizeof(*sin6);
	} else
		return -EINVAL;
	return 0;
}

/*
 * backend = "/run/app/coap.sock" or "coap://127.0.0.1:5700".  A socket
 * that does not exist yet is only a warning: the service may start later.
 */
static int
conv_backend(struct ld *ld, const config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_route	*r = base;
	struct sockaddr_un	*sun = (struct sockaddr_un *)&r->backend_addr;
	struct stat		 st;
	const char		*file;
	unsigned		 line;
	char			*a;

	r->kind = ROUTE_BACKEND;
	if ((r->backend = ld_strdup(ld, val)) == NULL)
		return -ENOMEM;
	if (strncmp(val, "coap://", 7) == 0) {
		if (backend_udp(r, val) != 0) {
			ld_err(ld, s, "%s: \"%s\": expected coap://ADDRESS:PORT "
			    "with a numeric address ([...] for IPv6)", key, val);
			return -EINVAL;
		}
		return 0;
	}
	if (strstr(val, "://") != NULL) {
		ld_err(ld, s, "%s: \"%s\": a Unix socket path or "
		    "coap://ADDRESS:PORT", key, val);
		return -EINVAL;
	}
	if ((a = abs_path(ld, val)) == NULL)
		return -ENOMEM;
	if (strlen(a) >= sizeof(sun->sun_path)) {
		ld_err(ld, s, "%s: \"%s\": longer than a socket path may be",
		    key, val);
		free(a);
		return -EINVAL;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, a, strlen(a) + 1);
	r->backend_addrlen = (socklen_t)sizeof(*sun);
	if (stat(a, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		setting_pos(ld, s, &file, &line);
		log_warnx("%s:%u: warning: %s: \"%s\": %s; requests get 5.02 "
		    "until it exists", file, line, key, a, stat(a, &st) != 0 ?
		    "no such socket yet" : "not a socket");
	}
	free(a);
	return 0;
}

static int
check_address(struct ld *ld, const config_setting_t *s, const char *key,
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
check_attr(struct ld *ld, const config_setting_t *s, const char *key,
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
check_net(struct ld *ld, const config_setting_t *s, const char *key,
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
check_allow(struct ld *ld, const config_setting_t *s, const char *key,
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
check_cipher(struct ld *ld, const config_setting_t *s, const char *key,
    const char *val)
{
	char	 why[320];

	if (dtls_cipher_ok(val, why, sizeof(why)))
		return 0;
	ld_err(ld, s, "%s: %s", key, why);
	return -EINVAL;
}

static void
listen_finish(struct ld *ld, const config_setting_t *g,
    const config_setting_t *at, const char *key, void *base)
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

/* Keys that only a hook route takes. */
static const char *const hook_only[] = {
	"env", "max_running", "max_output_bytes", "headers", "user", "group",
	"run_as_root",
};

/* Keys that only a backend route takes. */
static const char *const backend_only[] = { "strip_prefix", "max_pending" };

/* user and group of a hook route: ids now, so that a typo is caught. */
static void
hook_ids(struct ld *ld, const config_setting_t *g, const char *key,
    struct cfg_route *r)
{
	struct passwd	*pw;
	struct group	*gr;

	if (r->user != NULL) {
		if ((pw = getpwnam(r->user)) == NULL) {
			ld_err(ld, config_setting_get_member(g, "user"),
			    "%s.user: no such user \"%s\"", key, r->user);
			return;
		}
		if (geteuid() != 0 && pw->pw_uid != geteuid()) {
			ld_err(ld, config_setting_get_member(g, "user"),
			    "%s.user: coapd is not root and cannot run hooks "
			    "as \"%s\"", key, r->user);
			return;
		}
		r->uid = pw->pw_uid;
		r->gid = pw->pw_gid;
		r->set_ids = true;
	}
	if (r->group != NULL) {
		if (r->user == NULL) {
			ld_err(ld, config_setting_get_member(g, "group"),
			    "%s.group: needs user as well", key);
			return;
		}
		if ((gr = getgrnam(r->group)) == NULL) {
			ld_err(ld, config_setting_get_member(g, "group"),
			    "%s.group: no such group \"%s\"", key, r->group);
			return;
		}
		r->gid = gr->gr_gid;
	}
	if (r->user == NULL && geteuid() == 0 && !r->run_as_root)
		ld_err(ld, config_setting_get_member(g, "hook"),
		    "%s.hook: coapd runs as root: set user = \"...\" to run "
		    "the hook with fewer rights, or run_as_root = true", key);
}

/* Capture names: [A-Za-z0-9_]+, distinct (proto/route.c agrees). */
static bool
caps_ok(const char *path)
{
	const char	*p, *q, *e, *names[16];
	size_t		 lens[16], n = 0, i;

	for (p = strstr(path, "/:"); p != NULL; p = strstr(e, "/:")) {
		for (q = p + 2, e = q; *e != '\0' && *e != '/'; e++)
			if (!isalnum((unsigned char)*e) && *e != '_')
				return false;
		if (e == q || n == 8)
			return false;
		for (i = 0; i < n; i++)
			if (lens[i] == (size_t)(e - q) &&
			    memcmp(names[i], q, lens[i]) == 0)
				return false;
		names[n] = q;
		lens[n++] = (size_t)(e - q);
	}
	return true;
}

/* The rules of hook routes, and hook keys elsewhere. */
static void
hook_finish(struct ld *ld, const config_setting_t *g, const char *key,
    struct cfg_route *r)
{
	const config_setting_t	*m;
	size_t			 i;

	if (r->kind != ROUTE_BACKEND)
		for (i = 0; i < NELEM(backend_only); i++)
			if ((m = config_setting_get_member(g, backend_only[i])))
				ld_err(ld, m, "%s.%s: only for backend routes",
				    key, backend_only[i]);
	if (r->kind == ROUTE_STATIC &&
	    (m = config_setting_get_member(g, "timeout_s")))
		ld_err(ld, m, "%s.timeout_s: only for hook and backend routes",
		    key);
	if (r->kind == ROUTE_BACKEND)
		r->pending = ld_alloc_fail(ld, calloc(1, sizeof(*r->pending)));
	/* a backend decides on methods itself unless the route says */
	if (r->kind == ROUTE_BACKEND &&
	    config_setting_get_member(g, "methods") == NULL)
		r->methods = ROUTE_METHOD(COAP_GET) | ROUTE_METHOD(COAP_POST) |
		    ROUTE_METHOD(COAP_PUT) | ROUTE_METHOD(COAP_DELETE) |
		    ROUTE_METHOD(COAP_FETCH) | ROUTE_METHOD(COAP_PATCH) |
		    ROUTE_METHOD(COAP_IPATCH);
	if (r->kind == ROUTE_BACKEND && r->observe &&
	    (m = config_setting_get_member(g, "observe")))
		ld_err(ld, m, "%s.observe: not supported on backend routes yet",
		    key);
	if (r->kind != ROUTE_HOOK) {
		for (i = 0; i < NELEM(hook_only); i++)
			if ((m = config_setting_get_member(g, hook_only[i])))
				ld_err(ld, m, "%s.%s: only for hook routes",
				    key, hook_only[i]);
		if (r->path != NULL && strstr(r->path, "/:") != NULL)
			ld_err(ld, config_setting_get_member(g, "path"),
			    "%s.path: \":name\" segments are only for hook "
			    "routes", key);
		return;
	}
	if (r->path != NULL && !caps_ok(r->path))
		ld_err(ld, config_setting_get_member(g, "path"),
		    "%s.path: \"%s\": a \":name\" segment needs a name of "
		    "letters, digits and _, distinct within the path", key,
		    r->path);
	if (r->observe && (m = config_setting_get_member(g, "observe")))
		ld_err(ld, m, "%s.observe: not supported on hook routes yet",
		    key);
	r->running = ld_alloc_fail(ld, calloc(1, sizeof(*r->running)));
	hook_ids(ld, g, key, r);
}

static void
route_init(struct ld *ld, void *base)
{
	struct cfg_route *r = base;

	r->static_dirfd = -1;
	r->max_body_bytes = ld->c->max_body_bytes;
}

static void
compile_acl(struct ld *ld, const config_setting_t *g, const char *key,
    struct cfg_route *r)
{
	char	 why[128];
	size_t	 bad;
	int	 rc;

	rc = acl_compile(r->allow, r->nallow, &r->acl, &bad, why, sizeof(why));
	if (rc == -ENOMEM)
		ld->nomem = true;
	else if (rc != 0)
		ld_err(ld, config_setting_get_member(g, "allow"),
		    "%s.allow: \"%s\": %s", key, r->allow[bad], why);
}

static void
route_finish(struct ld *ld, const config_setting_t *g,
    const config_setting_t *at, const char *key, void *base)
{
	struct cfg_route	*r = base;
	const config_setting_t	*m;
	const struct opt	*o;
	char			 names[128];
	size_t			 ntarget = 0, len = 0;

	/* routes only come from list elements: g is never NULL here */
	(void)at;
	r->src_line = config_setting_source_line(g);

	names[0] = '\0';
	for (o = route_opts; o < route_opts + NELEM(route_opts); o++) {
		if (!(o->flags & OPT_TARGET))
			continue;
		if (config_setting_get_member(g, o->name) != NULL)
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

	if (r->methods == 0 &&
	    config_setting_get_member(g, "methods") == NULL) {
		r->methods = ROUTE_METHOD(COAP_GET);
		if (r->writable)
			r->methods |= ROUTE_METHOD(COAP_PUT) |
			    ROUTE_METHOD(COAP_DELETE);
	}
	if (r->create_dirs && !r->writable &&
	    (m = config_setting_get_member(g, "create_dirs")) != NULL)
		ld_err(ld, m, "%s.create_dirs: needs writable = true", key);
	hook_finish(ld, g, key, r);
	/* check_allow() reported bad entries: compile only a clean list */
	if (r->nallow > 0 && ld->group_clean)
		compile_acl(ld, g, key, r);
}

/* Keep a route's source file name beyond the config_t's lifetime. */
static const char *
intern_file(struct ld *ld, const char *file)
{
	struct cfg_store *st = ld->store;
	char		**v;
	size_t		 i;

	for (i = 0; i < st->nfiles; i++)
		if (strcmp(st->files[i], file) == 0)
			return st->files[i];
	v = ld_alloc_fail(ld, realloc(st->files,
	    (st->nfiles + 1) * sizeof(*v)));
	if (v == NULL)
		return NULL;
	st->files = v;
	if ((v[st->nfiles] = ld_strdup(ld, file)) == NULL)
		return NULL;
	return v[st->nfiles++];
}

static const config_setting_t *
elem_member(const config_setting_t *list, size_t i, const char *name)
{
	const config_setting_t *e;

	if (list == NULL || (e = config_setting_get_elem(list, i)) == NULL)
		return NULL;
	if (name == NULL || !config_setting_is_group(e))
		return e;
	return config_setting_get_member(e, name);
}

static void
check_listen_dups(struct ld *ld, const config_setting_t *root)
{
	const config_setting_t	*ls, *a, *b;
	struct cfg		*c = ld->c;
	char			 pos[PATH_MAX + 32];
	size_t			 i, j;

	ls = config_setting_get_member(root, "listen");
	for (i = 0; i < c->nlisten; i++) {
		a = elem_member(ls, i, NULL);
		if (c->listen[i].dtls && c->dtls.psk_file == NULL)
			ld_err(ld, elem_member(ls, i, "dtls"),
			    "listen[%zu].dtls: needs dtls.psk_file", i);
		if (c->listen[i].addrlen == 0)
			continue;
		for (j = 0; j < i; j++) {
			if (c->listen[j].addrlen != c->listen[i].addrlen ||
			    memcmp(&c->listen[j].addr, &c->listen[i].addr,
			    c->listen[i].addrlen) != 0)
				continue;
			b = elem_member(ls, j, NULL);
			pos_str(ld, a, b, pos, sizeof(pos));
			ld_err(ld, a, "listen[%zu]: \"%s\" port %u already "
			    "used by listen[%zu] (%s)", i,
			    c->listen[i].address, c->listen[i].port, j, pos);
			break;
		}
	}
}

static void
check_route_dups(struct ld *ld, const config_setting_t *root)
{
	const config_setting_t	*rs, *a, *b;
	struct cfg		*c = ld->c;
	char			 pos[PATH_MAX + 32];
	size_t			 i, j;

	rs = config_setting_get_member(root, "routes");
	for (i = 0; i < c->nroutes; i++) {
		if (c->routes[i].path == NULL)
			continue;
		for (j = 0; j < i; j++) {
			if (c->routes[j].path == NULL ||
			    strcmp(c->routes[i].path, c->routes[j].path) != 0)
				continue;
			a = elem_member(rs, i, "path");
			b = elem_member(rs, j, "path");
			pos_str(ld, a, b, pos, sizeof(pos));
			ld_err(ld, a, "routes[%zu].path: \"%s\" already used by "
			    "routes[%zu] (%s)", i, c->routes[i].path, j, pos);
			break;
		}
	}
}

/* Built-ins first, then the file's: cfg_ctype_for() looks from the end. */
static void
merge_ctypes(struct ld *ld)
{
	struct cfg		*c = ld->c;
	struct cfg_ctype	*t;
	size_t			 i, nb = NELEM(builtin_ctypes);

	t = ld_alloc_fail(ld, calloc(nb + c->nctypes, sizeof(*t)));
	if (t == NULL)
		return;
	for (i = 0; i < nb; i++) {
		t[i].ext = ld_strdup(ld, builtin_ctypes[i].ext);
		t[i].ct = builtin_ctypes[i].ct;
	}
	if (c->nctypes > 0)
		memcpy(t + nb, c->ctypes, c->nctypes * sizeof(*t));
	free(c->ctypes);
	c->ctypes = t;
	c->nctypes += nb;
}

/*
 * What the pure modules get of the routes: the router's specs (copied by
 * the table) and the link-format entries (kept in the snapshot).
 */
static int
compile_routes(struct cfg *c, char *err, size_t errlen)
{
	struct route_spec *specs;
	struct linkfmt_entry *l;
	struct cfg_route *r;
	size_t		 i;
	int		 rc;

	specs = calloc(c->nroutes, sizeof(*specs));
	c->links = calloc(c->nroutes, sizeof(*c->links));
	if (specs == NULL || c->links == NULL) {
		free(specs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		specs[i] = (struct route_spec){ .path = r->path,
		    .path_len = r->path_len, .target = r,
		    .prefix = r->kind == ROUTE_STATIC ? r->static_is_dir :
		    r->kind != ROUTE_HOOK };
		l = &c->links[i];
		*l = (struct linkfmt_entry){ .href = r->path, .rt = r->rt,
		    .if_ = r->if_, .title = r->title, .ct = r->ct,
		    .obs = r->observe };
	}
	c->nlinks = c->nroutes;
	rc = route_table_build(&c->table, specs, c->nroutes, err, errlen);
	free(specs);
	return rc;
}

static void
top_finish(struct ld *ld, const config_setting_t *g,
    const config_setting_t *at, const char *key, void *base)
{
	struct cfg		*c = base;
	const config_setting_t	*rs;
	const char		*file;
	char			 err[256];
	long			 ncpu;
	unsigned		 line;
	size_t			 i;

	(void)at;
	(void)key;
	if (c->workers == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = ncpu < 1 ? 1 : ncpu > 256 ? 256 : (uint32_t)ncpu;
	}
	check_listen_dups(ld, g);
	check_route_dups(ld, g);
	merge_ctypes(ld);

	rs = config_setting_get_member(g, "routes");
	for (i = 0; i < c->nroutes; i++) {
		setting_pos(ld, elem_member(rs, i, NULL), &file, &line);
		c->routes[i].src_file = intern_file(ld, file);
	}

	/* the table assumes valid routes: build it only from a clean file */
	if (ld->nmsgs > 0 || ld->nomem || c->nroutes == 0)
		return;
	if (compile_routes(c, err, sizeof(err)) == -ENOMEM)
		ld->nomem = true;
	else if (c->table == NULL)
		ld_err(ld, rs, "routes: %s", err);
}

/*
 * Loading.
 */

static void
emit(cfg_err_fn *err, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
emit(cfg_err_fn *err, void *arg, const char *fmt, ...)
{
	char	 line[1024];
	va_list	 ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	err(arg, line);
}

/* Absolute directory of path (symlinks in the directory resolved). */
static char *
dir_of(const char *path)
{
	char	*copy, *slash, *dir;

	if ((copy = strdup(path)) == NULL)
		return NULL;
	slash = strrchr(copy, '/');
	if (slash == NULL)
		strcpy(copy, ".");
	else if (slash == copy)
		copy[1] = '\0';
	else
		*slash = '\0';
	dir = realpath(copy, NULL);
	free(copy);
	return dir;
}

int
cfg_load(const char *path, struct cfg **out, cfg_err_fn *err, void *arg)
{
	struct ld	 ld;
	struct cfg	*c;
	struct stat	 st;
	config_t	 lc;
	const char	*slash;
	size_t		 i;
	int		 fd, rc;

	*out = NULL;
	/*
	 * libconfig only says "file I/O error": find out why ourselves.  An
	 * unreadable file is not a configuration error: the errno goes back
	 * to the caller, which reports it (as for -ENOMEM).
	 */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	rc = fstat(fd, &st) == -1 ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : 0;
	close(fd);
	if (rc != 0)
		return rc;

	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	if ((ld.store = calloc(1, sizeof(*ld.store))) == NULL)
		return -ENOMEM;
	c = ld.c = &ld.store->pub;
	atomic_init(&c->refs, 1);
	if ((c->file = strdup(path)) == NULL) {
		cfg_free(c);
		return -ENOMEM;
	}
	if ((c->dir = dir_of(path)) == NULL) {
		rc = -errno;
		cfg_free(c);
		return rc;
	}
	if ((slash = strrchr(path, '/')) != NULL &&
	    (ld.showdir = strndup(path, (size_t)(slash - path))) == NULL) {
		cfg_free(c);
		return -ENOMEM;
	}

	config_init(&lc);
	/* @include "x.conf" is relative to this file, as other paths are */
	config_set_include_dir(&lc, c->dir);
	if (config_read_file(&lc, path) == CONFIG_FALSE) {
		/* only a syntax error: libconfig stops at the first one */
		rc = -EIO;
		if (config_error_type(&lc) != CONFIG_ERR_FILE_IO) {
			rc = -EINVAL;
			emit(err, arg, "%s:%d: %s", config_error_file(&lc) ?
			    config_error_file(&lc) : path,
			    config_error_line(&lc), config_error_text(&lc));
		}
		config_destroy(&lc);
		free(ld.showdir);
		cfg_free(c);
		return rc;
	}

	apply_group(&ld, config_root_setting(&lc), NULL, &top_set, "", c);

	if (ld.nmsgs > 1)
		qsort(ld.msgs, ld.nmsgs, sizeof(*ld.msgs), msg_cmp);
	for (i = 0; i < ld.nmsgs; i++) {
		emit(err, arg, "%s", ld.msgs[i].text);
		free(ld.msgs[i].text);
	}
	rc = ld.nomem ? -ENOMEM : ld.nmsgs > 0 ? -EINVAL : 0;

	free(ld.msgs);
	for (i = 0; i < ld.nsrcs; i++) {
		free(ld.srcs[i].name);
		free(ld.srcs[i].shown);
		free(ld.srcs[i].data);
	}
	free(ld.srcs);
	free(ld.showdir);
	config_destroy(&lc);
	if (rc != 0) {
		cfg_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void
cfg_free(struct cfg *c)
{
	struct cfg_store *st = (struct cfg_store *)c;
	struct cfg_route *r;
	size_t		 i, j;

	route_table_free(c->table);
	free(c->links);
	for (i = 0; i < c->nlisten; i++)
		free(c->listen[i].address);
	free(c->listen);
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		free(r->path);
		free(r->static_path);
		free(r->static_name);
		if (r->static_dirfd != -1)
			close(r->static_dirfd);
		free(r->rt);
		free(r->if_);
		free(r->title);
		for (j = 0; j < r->nallow; j++)
			free(r->allow[j]);
		free(r->allow);
		for (j = 0; j < r->nhook; j++)
			free(r->hook[j]);
		free(r->hook);
		for (j = 0; j < r->nenv; j++)
			free(r->env[j]);
		free(r->env);
		free(r->user);
		free(r->group);
		free(r->running);
		free(r->backend);
		free(r->pending);
		acl_free(r->acl);
	}
	free(c->routes);
	for (i = 0; i < c->nctypes; i++)
		free(c->ctypes[i].ext);
	free(c->ctypes);
	free(c->dtls.psk_file);
	psk_free(c->dtls.psk);
	free(c->dtls.identity_hint);
	for (i = 0; i < c->dtls.nciphers; i++)
		free(c->dtls.ciphers[i]);
	free(c->dtls.ciphers);
	free(c->hooks.tmp_dir);
	for (i = 0; i < st->nfiles; i++)
		free(st->files[i]);
	free(st->files);
	free(c->file);
	free(c->dir);
	free(st);
}

struct cfg *
cfg_ref(struct cfg *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void
cfg_unref(struct cfg *c)
{
	if (c == NULL)
		return;
	/* acq_rel: the last owner sees every other owner's reads finished */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		cfg_free(c);
}

uint16_t
cfg_ctype_for(const struct cfg *c, const char *name)
{
	const char	*dot, *slash;
	size_t		 i;

	dot = strrchr(name, '.');
	slash = strrchr(name, '/');
	if (dot == NULL || (slash != NULL && dot < slash) || dot[1] == '\0')
		return COAP_CT_OCTET_STREAM;
	/* from the end: the file's entries override the built-ins */
	for (i = c->nctypes; i-- > 0;)
		if (strcasecmp(c->ctypes[i].ext, dot + 1) == 0)
			return c->ctypes[i].ct;
	return COAP_CT_OCTET_STREAM;
}
