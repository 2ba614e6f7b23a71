/*
 * test_cfg.c - configuration loading (src/adapt/cfg*.c): defaults, every key
 * reaching its field, relative paths, and the exact "FILE:LINE: message"
 * lines of errors.  Each test writes its files into a fresh mkdtemp()
 * directory.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "helpers.h"

#include "adapt/cfg.h"
#include "proto/coap_msg.h"
#include "proto/route.h"

#define MAXERR	32

static char	 tmp[32];		/* this test's directory */
static char	 conf[64];		/* tmp/t.conf */
static char	*errs[MAXERR];
static size_t	 nerrs;

static void
collect(void *arg, const char *line)
{
	size_t	*calls = arg;

	(*calls)++;
	if (nerrs < MAXERR)
		errs[nerrs++] = strdup(line);
}

static void
clear_errs(void)
{
	while (nerrs > 0)
		free(errs[--nerrs]);
}

static void
setup(void)
{
	char	 path[PATH_MAX];

	th_mkdtemp(tmp, sizeof(tmp), "cfg");
	snprintf(conf, sizeof(conf), "%s/t.conf", tmp);
	th_mkdir(tmp, "www");
	th_mkdir(tmp, "www/sub");
	th_put_str(tmp, "www/hello.txt", "hello\n");
	/* A valid key file: 16 bytes, mode 0600 (the DTLS loader checks). */
	th_put_str(tmp, "keys.psk", "id:00112233445566778899aabbccddeeff\n");
	snprintf(path, sizeof(path), "%s/keys.psk", tmp);
	ck_assert_int_eq(chmod(path, 0600), 0);
	nerrs = 0;
}

static void
teardown(void)
{
	clear_errs();
	th_rmtree(tmp);
}

/* Load text as t.conf; expect rc, and the callback once per error. */
static struct cfg *
load(const char *text, int want_rc)
{
	struct cfg	*c = (struct cfg *)&c;
	size_t		 calls = 0;
	int		 rc;

	th_put_str(tmp, "t.conf", text);
	clear_errs();
	rc = cfg_load(conf, &c, collect, &calls);
	ck_assert_msg(rc == want_rc, "cfg_load: %d, expected %d (first: %s)",
	    rc, want_rc, nerrs ? errs[0] : "no error");
	ck_assert_uint_eq(calls, nerrs);
	if (rc != 0)
		ck_assert_ptr_null(c);
	else
		ck_assert_ptr_nonnull(c);
	return c;
}

/* The errors are exactly these lines, each "LINE: message" after conf. */
static void
expect_errs(const char *first, ...)
{
	const char	*want;
	char		 line[1024];
	size_t		 i = 0;
	va_list		 ap;

	va_start(ap, first);
	for (want = first; want != NULL; want = va_arg(ap, const char *)) {
		snprintf(line, sizeof(line), "%s:%s", conf, want);
		ck_assert_msg(i < nerrs, "missing error: %s", line);
		ck_assert_str_eq(errs[i], line);
		i++;
	}
	va_end(ap);
	ck_assert_msg(i == nerrs, "unexpected error: %s",
	    i < nerrs ? errs[i] : "");
}

/* Load text, which must fail with exactly the given lines. */
#define BAD(text, ...) do {						\
	load(text, -EINVAL);						\
	expect_errs(__VA_ARGS__, NULL);					\
} while (0)

#define ROUTE	"routes = ( { path = \"/\"; static = \"www\"; } );\n"

START_TEST(defaults)
{
	struct cfg		*c = load(ROUTE, 0);
	struct cfg_route	*r = &c->routes[0];
	struct sockaddr_in6	*sin6;
	long			 ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	char			 dir[PATH_MAX];

	ck_assert_str_eq(c->file, conf);
	ck_assert_ptr_nonnull(realpath(tmp, dir));
	ck_assert_str_eq(c->dir, dir);
	ck_assert_uint_eq(atomic_load(&c->refs), 1);

	ck_assert_uint_eq(c->nlisten, 1);
	ck_assert_str_eq(c->listen[0].address, "::");
	ck_assert_uint_eq(c->listen[0].port, 5683);
	ck_assert(!c->listen[0].dtls);
	sin6 = (struct sockaddr_in6 *)&c->listen[0].addr;
	ck_assert_uint_eq(c->listen[0].addrlen, sizeof(*sin6));
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 5683);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));

	ck_assert_uint_eq(c->workers, ncpu < 1 ? 1 : ncpu > 256 ? 256 : ncpu);
	ck_assert_uint_eq(c->rcvbuf_bytes, 16u << 20);
	ck_assert_uint_eq(c->sndbuf_bytes, 4u << 20);
	ck_assert_uint_eq(c->dedup_entries, 4096);
	ck_assert_uint_eq(c->exchange_lifetime_s, 247);
	ck_assert_uint_eq(c->max_observers, 1024);
	ck_assert_uint_eq(c->observe_con_every, 20);
	ck_assert_uint_eq(c->separate_after_ms, 1000);
	ck_assert_uint_eq(c->max_separate, 256);
	ck_assert_uint_eq(c->max_body_bytes, 16u << 20);
	/* RFC 7252 §4.8 defaults */
	ck_assert_uint_eq(c->coap.ack_timeout_ms, 2000);
	ck_assert_uint_eq(c->coap.max_retransmit, 4);
	ck_assert_int_eq(c->log_level, LOG_LVL_INFO);

	ck_assert_ptr_null(c->dtls.psk_file);
	ck_assert_ptr_null(c->dtls.identity_hint);
	ck_assert_ptr_null(c->dtls.ciphers);
	ck_assert_uint_eq(c->dtls.nciphers, 0);
	ck_assert_uint_eq(c->dtls.max_sessions, 2000);
	ck_assert_uint_eq(c->dtls.session_timeout_s, 600);
	ck_assert_uint_eq(c->dtls.handshake_timeout_s, 5);
	ck_assert_uint_eq(c->nctypes, 7);

	ck_assert_uint_eq(c->nroutes, 1);
	ck_assert_str_eq(r->path, "/");
	ck_assert_uint_eq(r->path_len, 1);
	ck_assert_int_eq(r->kind, ROUTE_STATIC);
	ck_assert_uint_eq(r->methods, ROUTE_METHOD(COAP_GET));
	snprintf(dir, sizeof(dir), "%s/www", c->dir);
	ck_assert_str_eq(r->static_path, dir);
	ck_assert(r->static_is_dir);
	ck_assert_int_ge(r->static_dirfd, 0);
	ck_assert_ptr_null(r->static_name);
	ck_assert(!r->writable && !r->create_dirs && !r->observe);
	ck_assert_uint_eq(r->block_size, 1024);
	ck_assert_uint_eq(r->max_body_bytes, 16u << 20);
	ck_assert_uint_eq(r->max_age, 60);
	ck_assert_ptr_null(r->rt);
	ck_assert_ptr_null(r->if_);
	ck_assert_ptr_null(r->title);
	ck_assert_int_eq(r->ct, -1);
	ck_assert_ptr_null(r->allow);
	ck_assert_uint_eq(r->nallow, 0);
	ck_assert_str_eq(r->src_file, conf);
	ck_assert_int_eq(r->src_line, 1);
	ck_assert_ptr_nonnull(c->table);
	cfg_unref(c);
}
END_TEST

START_TEST(every_key)
{
	struct cfg		*c;
	struct cfg_route	*r;
	struct sockaddr_in	*sin;
	struct stat		 st;

	c = load(
	    "listen = ( { address = \"127.0.0.1\"; port = 7000; },\n"
	    "    { address = \"::1\"; dtls = true; } );\n"
	    "workers = 3;\n"
	    "rcvbuf_bytes = 65536;\n"
	    "sndbuf_bytes = 0x40000000;\n"
	    "dedup_entries = 16;\n"
	    "exchange_lifetime_s = 86400;\n"
	    "max_observers = 0;\n"
	    "observe_con_every = 1000;\n"
	    "separate_after_ms = 0; max_separate = 1048576;\n"
	    "max_body_bytes = 4294967295L;"
	    " coap = { ack_timeout_ms = 10; max_retransmit = 20; };\n"
	    "log = { level = \"debug\"; };\n"
	    "dtls = { psk_file = \"keys.psk\"; identity_hint = \"hint\";\n"
	    "    ciphers = [ \"TLS_PSK_WITH_CHACHA20_POLY1305_SHA256\", "
	    "\"TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256\" ]; max_sessions = 1;\n"
	    "    session_timeout_s = 2; handshake_timeout_s = 3; };\n"
	    "content_formats = ( { ext = \"CSV\"; ct = 1234; } );\n"
	    "routes = (\n"
	    "  { path = \"/f/\"; static = \"www/hello.txt\"; writable = true;\n"
	    "    methods = [ \"GET\", \"POST\", \"PUT\", \"DELETE\", \"FETCH\",\n"
	    "      \"PATCH\", \"iPATCH\" ];\n"
	    "    create_dirs = true; observe = true; block_size = 16;\n"
	    "    max_body_bytes = 0; max_age = 4294967295L; rt = \"r t\";\n"
	    "    if = \"core.s\"; title = \"T\"; ct = 65535;\n"
	    "    allow = [ \"psk:id\", \"net:10.0.0.0/8\" ]; }\n"
	    ");\n", 0);

	ck_assert_uint_eq(c->nlisten, 2);
	sin = (struct sockaddr_in *)&c->listen[0].addr;
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin->sin_port), 7000);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	ck_assert_uint_eq(c->listen[0].addrlen, sizeof(*sin));
	/* RFC 7252 §6.2: coaps defaults to 5684 */
	ck_assert(c->listen[1].dtls);
	ck_assert_uint_eq(c->listen[1].port, 5684);
	ck_assert_uint_eq(c->workers, 3);
	ck_assert_uint_eq(c->rcvbuf_bytes, 65536);
	ck_assert_uint_eq(c->sndbuf_bytes, 1u << 30);
	ck_assert_uint_eq(c->dedup_entries, 16);
	ck_assert_uint_eq(c->exchange_lifetime_s, 86400);
	ck_assert_uint_eq(c->max_observers, 0);
	ck_assert_uint_eq(c->observe_con_every, 1000);
	ck_assert_uint_eq(c->separate_after_ms, 0);
	ck_assert_uint_eq(c->max_separate, 1u << 20);
	ck_assert_uint_eq(c->max_body_bytes, 4294967295u);
	ck_assert_uint_eq(c->coap.ack_timeout_ms, 10);
	ck_assert_uint_eq(c->coap.max_retransmit, 20);
	ck_assert_int_eq(c->log_level, LOG_LVL_DEBUG);
	ck_assert_str_eq(c->dtls.psk_file + strlen(c->dir), "/keys.psk");
	ck_assert_str_eq(c->dtls.identity_hint, "hint");
	ck_assert_uint_eq(c->dtls.nciphers, 2);
	ck_assert_str_eq(c->dtls.ciphers[0],
	    "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256");
	ck_assert_str_eq(c->dtls.ciphers[1],
	    "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256");
	ck_assert_uint_eq(c->dtls.max_sessions, 1);
	ck_assert_uint_eq(c->dtls.session_timeout_s, 2);
	ck_assert_uint_eq(c->dtls.handshake_timeout_s, 3);
	ck_assert_uint_eq(c->nctypes, 8);
	ck_assert_str_eq(c->ctypes[7].ext, "csv");

	r = &c->routes[0];
	ck_assert_str_eq(r->path, "/f");
	ck_assert_uint_eq(r->path_len, 2);
	ck_assert(!r->static_is_dir);
	ck_assert_str_eq(r->static_name, "hello.txt");
	/* a file target: the fd is its directory, the name beneath it */
	ck_assert_int_eq(fstatat(r->static_dirfd, r->static_name, &st, 0), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(r->methods, ROUTE_METHOD(COAP_GET) |
	    ROUTE_METHOD(COAP_POST) | ROUTE_METHOD(COAP_PUT) |
	    ROUTE_METHOD(COAP_DELETE) | ROUTE_METHOD(COAP_FETCH) |
	    ROUTE_METHOD(COAP_PATCH) | ROUTE_METHOD(COAP_IPATCH));
	ck_assert(r->writable && r->create_dirs && r->observe);
	ck_assert_uint_eq(r->block_size, 16);
	ck_assert_uint_eq(r->max_body_bytes, 0);
	ck_assert_uint_eq(r->max_age, 4294967295u);
	ck_assert_str_eq(r->rt, "r t");
	ck_assert_str_eq(r->if_, "core.s");
	ck_assert_str_eq(r->title, "T");
	ck_assert_int_eq(r->ct, 65535);
	ck_assert_uint_eq(r->nallow, 2);
	ck_assert_str_eq(r->allow[0], "psk:id");
	ck_assert_str_eq(r->allow[1], "net:10.0.0.0/8");
	ck_assert_int_eq(r->src_line, 18);
	cfg_unref(c);
}
END_TEST

/* A route's max_body_bytes defaults to the top-level one, wherever set. */
START_TEST(route_inherits_max_body)
{
	struct cfg	*c;

	c = load("routes = ( { path = \"/\"; static = \"www\"; },\n"
	    "  { path = \"/b\"; static = \"www\"; max_body_bytes = 5; } );\n"
	    "max_body_bytes = 1000;\n", 0);
	ck_assert_uint_eq(c->routes[0].max_body_bytes, 1000);
	ck_assert_uint_eq(c->routes[1].max_body_bytes, 5);
	cfg_unref(c);
}
END_TEST

/*
 * RFC 7252 §4.8.2: EXCHANGE_LIFETIME = ACK_TIMEOUT * (2^MAX_RETRANSMIT -
 * 1) * 1.5 + 2 * 100 s + ACK_TIMEOUT, derived from the coap group unless
 * set, rounded up, at most 86400; a value set is kept; 0 is refused.
 */
START_TEST(exchange_lifetime_derived)
{
	static const struct {
		const char	*conf;
		unsigned	 want;
	} t[] = {
		/* unset, default timers: 2 * 15 * 1.5 + 200 + 2 */
		{ "", 247 },
		/* 1 * 3 * 1.5 + 200 + 1 = 205.5 */
		{ "coap = { ack_timeout_ms = 1000; max_retransmit = 2; };\n",
		  206 },
		/* 0 + 200 + 0.01 */
		{ "coap = { ack_timeout_ms = 10; max_retransmit = 0; };\n",
		  201 },
		/* 60 * (2^20 - 1) * 1.5 + 260: capped */
		{ "coap = { ack_timeout_ms = 60000; max_retransmit = 20; };\n",
		  86400 },
		/* set: the operator's value, whatever the timers */
		{ "exchange_lifetime_s = 30;\n"
		  "coap = { ack_timeout_ms = 1000; max_retransmit = 2; };\n",
		  30 },
		{ "exchange_lifetime_s = 247;\n"
		  "coap = { ack_timeout_ms = 1000; max_retransmit = 2; };\n",
		  247 },
	};
	struct cfg	*c;
	char		 text[512];
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", ROUTE, t[i].conf);
		c = load(text, 0);
		ck_assert_msg(c->exchange_lifetime_s == t[i].want,
		    "case %zu: %u, want %u", i, c->exchange_lifetime_s,
		    t[i].want);
		cfg_unref(c);
	}
	BAD("exchange_lifetime_s = 0;\n" ROUTE,
	    "1: exchange_lifetime_s: 0 out of range 1..86400");
}
END_TEST

START_TEST(writable_methods)
{
	struct cfg	*c;
	unsigned	 get = ROUTE_METHOD(COAP_GET);
	unsigned	 put = ROUTE_METHOD(COAP_PUT);
	unsigned	 del = ROUTE_METHOD(COAP_DELETE);

	c = load("routes = (\n"
	    "  { path = \"/w\"; static = \"www\"; writable = true; },\n"
	    "  { path = \"/p\"; static = \"www\"; writable = true;\n"
	    "    methods = [ \"PUT\" ]; },\n"
	    "  { path = \"/f\"; static = \"www\"; methods = [ \"FETCH\" ]; }\n"
	    ");\n", 0);
	ck_assert_uint_eq(c->routes[0].methods, get | put | del);
	ck_assert_uint_eq(c->routes[1].methods, put);
	ck_assert_uint_eq(c->routes[2].methods, ROUTE_METHOD(COAP_FETCH));
	cfg_unref(c);
}
END_TEST

/* Relative paths follow the file, not the current directory. */
START_TEST(relative_paths)
{
	struct cfg	*c;
	char		 rel[PATH_MAX], want[PATH_MAX];
	int		 cwd;

	th_mkdir(tmp, "etc");
	th_put_str(tmp, "etc/t.conf", "dtls = { psk_file = \"../keys.psk\"; };\n"
	    "routes = ( { path = \"/\"; static = \"../www\"; },\n"
	    "  { path = \"/x\"; static = \"www\"; } );\n");
	cwd = open(".", O_PATH | O_DIRECTORY);
	ck_assert_int_ge(cwd, 0);
	ck_assert_int_eq(chdir(tmp), 0);
	clear_errs();
	ck_assert_int_eq(cfg_load("etc/t.conf", &c, collect, &(size_t){0}),
	    -EINVAL);
	/* shown as written, then as found from where the file was named */
	ck_assert_uint_eq(nerrs, 1);
	ck_assert_str_eq(errs[0], "etc/t.conf:3: routes[1].static: \"www\" "
	    "(etc/www): No such file or directory");
	ck_assert_int_eq(fchdir(cwd), 0);

	/* the same file loads from anywhere once it is right */
	th_put_str(tmp, "etc/t.conf", "dtls = { psk_file = \"../keys.psk\"; };\n"
	    "routes = ( { path = \"/\"; static = \"../www\"; } );\n");
	ck_assert_int_eq(chdir("/"), 0);
	snprintf(rel, sizeof(rel), "%s/etc/t.conf", tmp);
	ck_assert_int_eq(cfg_load(rel, &c, collect, &(size_t){0}), 0);
	ck_assert_int_eq(fchdir(cwd), 0);
	close(cwd);
	snprintf(want, sizeof(want), "%s/../www", c->dir);
	ck_assert(c->routes[0].static_is_dir);
	ck_assert_str_eq(c->routes[0].static_path, want);
	snprintf(want, sizeof(want), "%s/../keys.psk", c->dir);
	ck_assert_str_eq(c->dtls.psk_file, want);
	cfg_unref(c);
}
END_TEST

/* @include is relative to the file; errors name the included file. */
START_TEST(include)
{
	struct cfg	*c;
	char		 want[PATH_MAX + 64];

	th_mkdir(tmp, "inc");
	th_put_str(tmp, "inc/r.inc", "routes = ( { path = \"/\"; static = \"www\"; } );\n");
	c = load("workers = 1;\n@include \"inc/r.inc\"\n", 0);
	ck_assert_uint_eq(c->nroutes, 1);
	snprintf(want, sizeof(want), "%s/inc/r.inc", tmp);
	ck_assert_str_eq(c->routes[0].src_file, want);
	cfg_unref(c);

	th_put_str(tmp, "inc/bad.inc", "# comment\nworkers = 999;\n");
	load("@include \"inc/bad.inc\"\n" ROUTE, -EINVAL);
	ck_assert_uint_eq(nerrs, 1);
	snprintf(want, sizeof(want), "%s/inc/bad.inc:2: workers: 999 out of "
	    "range 0..256", tmp);
	ck_assert_str_eq(errs[0], want);
}
END_TEST

START_TEST(ctype_for)
{
	struct cfg	*c;

	c = load("content_formats = ( { ext = \"csv\"; ct = 1234; },\n"
	    "  { ext = \"JSON\"; ct = 11050; } );\n" ROUTE, 0);
	ck_assert_uint_eq(cfg_ctype_for(c, "a.txt"), COAP_CT_TEXT_PLAIN);
	ck_assert_uint_eq(cfg_ctype_for(c, "a.wlnk"), COAP_CT_LINK_FORMAT);
	ck_assert_uint_eq(cfg_ctype_for(c, "a.xml"), COAP_CT_XML);
	ck_assert_uint_eq(cfg_ctype_for(c, "fw.BIN"), COAP_CT_OCTET_STREAM);
	ck_assert_uint_eq(cfg_ctype_for(c, "a.exi"), COAP_CT_EXI);
	ck_assert_uint_eq(cfg_ctype_for(c, "a.cbor"), COAP_CT_CBOR);
	ck_assert_uint_eq(cfg_ctype_for(c, "dir/x.csv"), 1234);
	ck_assert_uint_eq(cfg_ctype_for(c, "x.tar.CSV"), 1234);
	/* the file's entries win over the built-in ones */
	ck_assert_uint_eq(cfg_ctype_for(c, "a.json"), 11050);
	ck_assert_uint_eq(cfg_ctype_for(c, "a.html"), COAP_CT_OCTET_STREAM);
	ck_assert_uint_eq(cfg_ctype_for(c, "README"), COAP_CT_OCTET_STREAM);
	ck_assert_uint_eq(cfg_ctype_for(c, "a."), COAP_CT_OCTET_STREAM);
	ck_assert_uint_eq(cfg_ctype_for(c, "d.txt/file"),
	    COAP_CT_OCTET_STREAM);
	cfg_unref(c);
}
END_TEST

START_TEST(refcount)
{
	struct cfg	*c = load(ROUTE, 0);

	ck_assert_ptr_eq(cfg_ref(c), c);
	ck_assert_uint_eq(atomic_load(&c->refs), 2);
	cfg_unref(c);
	ck_assert_uint_eq(atomic_load(&c->refs), 1);
	ck_assert_str_eq(c->routes[0].path, "/");
	cfg_unref(c);		/* frees: valgrind checks */
	cfg_unref(NULL);
}
END_TEST

/* The loaded table routes requests. */
START_TEST(table_built)
{
	struct cfg	*c;
	const char	*rest;

	c = load("routes = ( { path = \"/\"; static = \"www\"; },\n"
	    "  { path = \"/h\"; static = \"www/hello.txt\"; },\n"
	    "  { path = \"/s\"; static = \"www/sub\"; } );\n", 0);
	ck_assert_ptr_eq(route_match(c->table, "/h", 2, &rest), &c->routes[1]);
	ck_assert_ptr_eq(route_match(c->table, "/h/x", 4, &rest),
	    &c->routes[0]);
	ck_assert_ptr_eq(route_match(c->table, "/s/a", 4, &rest),
	    &c->routes[2]);
	ck_assert_str_eq(rest, "a");
	cfg_unref(c);
}
END_TEST

START_TEST(unreadable_file)
{
	struct cfg	*c = (struct cfg *)&c;
	size_t		 calls = 0;
	char		 path[PATH_MAX];

	/* not a configuration error: the caller reports the errno */
	snprintf(path, sizeof(path), "%s/none.conf", tmp);
	ck_assert_int_eq(cfg_load(path, &c, collect, &calls), -ENOENT);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(cfg_load(tmp, &c, collect, &calls), -EISDIR);
	ck_assert_uint_eq(calls, 0);
	/* a NULL callback is allowed */
	th_put_str(tmp, "t.conf", "workers = x;\n");
	ck_assert_int_eq(cfg_load(conf, &c, NULL, NULL), -EINVAL);
	ck_assert_int_eq(cfg_load(conf, &c, NULL, NULL), -EINVAL);
}
END_TEST

START_TEST(err_syntax)
{
	char	 want[PATH_MAX + 128];

	BAD("workers = 1;\nrcvbuf_bytes = ;\nnope = 1;\n" ROUTE,
	    "2: libconfig: syntax error in \"rcvbuf_bytes = ;\": "
	    "expected NAME = VALUE, with VALUE a number, \"string\", true, false, "
	    "[ array ], ( list ) or { group }");
	BAD("workers = 1;\nworkers = 2;\n" ROUTE,
	    "2: libconfig: duplicate setting name in \"workers = 2;\": a key "
	    "may appear only once in a group");
	/* the file named absolutely, as conf is */
	snprintf(want, sizeof(want), "1: @include \"missing.inc\": cannot "
	    "open %s/missing.inc: No such file or directory", tmp);
	BAD("@include \"missing.inc\"\n" ROUTE, want);
	/* a route key at the top level is told where it belongs */
	BAD("path = \"/x\";\n" ROUTE,
	    "1: path: unknown key at the top level: it belongs inside "
	    "routes = ( { ... } )");
}
END_TEST

START_TEST(err_unknown_keys)
{
	BAD("wrokers = 2;\ncolour = 1;\n"
	    "log = { lvl = \"x\"; };\n"
	    "routes = ( { path = \"/\"; static = \"www\"; hooks = \"x\"; } );\n",
	    "1: wrokers: unknown key (did you mean \"workers\"?)",
	    "2: colour: unknown key (the keys are in coapd.conf(5))",
	    "3: log.lvl: unknown key (did you mean \"level\"?)",
	    "4: routes[0].hooks: unknown key (did you mean \"hook\"?)");
}
END_TEST

START_TEST(err_types)
{
	BAD("workers = \"4\";\n"
	    "rcvbuf_bytes = 1.5;\n"
	    "log = 1;\n"
	    "listen = { };\n"
	    "routes = ( { path = 1; static = true; writable = 1;\n"
	    "  methods = [ true ]; allow = \"psk:x\"; }, 5 );\n",
	    "1: workers: expected an integer, got a string",
	    "2: rcvbuf_bytes: expected an integer, got a float",
	    "3: log: expected a group { ... }, got an integer",
	    "4: listen: expected a list of groups ( { ... }, ... ), got a group",
	    "5: routes[0].path: expected a string, got an integer",
	    "5: routes[0].static: expected a string, got a boolean",
	    "5: routes[0].writable: expected a boolean (true or false), got "
	    "an integer",
	    "6: routes[0].methods: expected an array of strings "
	    "[ \"...\", ... ], got an array of booleans",
	    "6: routes[0].allow: expected an array of strings [ \"...\", ... ], "
	    "got a string",
	    "6: routes[1]: expected a group { ... }, got an integer");
}
END_TEST

START_TEST(err_ranges)
{
	BAD("workers = 257;\n"
	    "rcvbuf_bytes = 65535;\n"
	    "sndbuf_bytes = 1073741825;\n"
	    "dedup_entries = 15;\n"
	    "max_body_bytes = 4294967296L;\n"
	    "listen = ( { port = 0; } );\n"
	    "routes = ( { path = \"/\"; static = \"www\"; block_size = 24;\n"
	    "  ct = 65536; max_age = -1; } );\n",
	    "1: workers: 257 out of range 0..256",
	    "2: rcvbuf_bytes: 65535 out of range 65536..1073741824",
	    "3: sndbuf_bytes: 1073741825 out of range 65536..1073741824",
	    "4: dedup_entries: 15 out of range 16..1048576",
	    "5: max_body_bytes: 4294967296 out of range 0..4294967295",
	    "6: listen[0].port: 0 out of range 1..65535",
	    "7: routes[0].block_size: 24 is not a power of two",
	    "8: routes[0].max_age: -1 out of range 0..4294967295",
	    "8: routes[0].ct: 65536 out of range 0..65535");
}
END_TEST

/* libconfig 1.5 would wrap these to 32 bits without a word. */
START_TEST(err_int_literals)
{
	BAD("max_body_bytes = 3000000000;\n"
	    "rcvbuf_bytes = 4295032832;\n"
	    "routes = ( { path = \"/\"; static = \"www\";\n"
	    "  max_age = 0xFFFFFFFF; } );\n",
	    "1: max_body_bytes: 3000000000 does not fit in 32 bits: write "
	    "3000000000L",
	    "2: rcvbuf_bytes: 4295032832 out of range 65536..1073741824",
	    "4: routes[0].max_age: 0xFFFFFFFF does not fit in 32 bits: write "
	    "0xFFFFFFFFL");
	/* 2^31 - 1 is a plain integer, -2^31 too */
	cfg_unref(load("max_body_bytes = 2147483647;\n" ROUTE, 0));
	BAD("max_observers = -2147483648;\n" ROUTE,
	    "1: max_observers: -2147483648 out of range 0..1048576");
}
END_TEST

/* File errors show a relative path also as looked up. */
START_TEST(err_static)
{
	static const char *want[] = {
		"2: routes[0].static: \"nope\" (%s/nope): No such file or "
		"directory",
		"3: routes[1].static: \"/nonexistent/coapd\": No such file or "
		"directory",
		"4: routes[2].static: \"/dev/null\": not a regular file or "
		"directory",
		"5: routes[3].static: \"www/hello.txt/x\" (%s/www/hello.txt/x): "
		"Not a directory",
		"6: routes[4]: no target: set one of \"static\", \"hook\", \"backend\"",
		"8: dtls.psk_file: \"www\" (%s/www): not a regular file",
	};
	char	 line[PATH_MAX + 256], msg[PATH_MAX];
	size_t	 i;

	load("routes = (\n"
	    "  { path = \"/\"; static = \"nope\"; },\n"
	    "  { path = \"/a\"; static = \"/nonexistent/coapd\"; },\n"
	    "  { path = \"/b\"; static = \"/dev/null\"; },\n"
	    "  { path = \"/c\"; static = \"www/hello.txt/x\"; },\n"
	    "  { path = \"/d\"; }\n"
	    ");\ndtls = { psk_file = \"www\"; };\n", -EINVAL);
	ck_assert_uint_eq(nerrs, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < nerrs; i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(msg, sizeof(msg), want[i], tmp);
#pragma GCC diagnostic pop
		snprintf(line, sizeof(line), "%s:%s", conf, msg);
		ck_assert_str_eq(errs[i], line);
	}
}
END_TEST

START_TEST(err_paths)
{
	BAD("routes = (\n"
	    "  { path = \"x\"; static = \"www\"; },\n"
	    "  { path = \"/a//b\"; static = \"www\"; },\n"
	    "  { path = \"/a//\"; static = \"www\"; },\n"
	    "  { path = \"/.\"; static = \"www\"; },\n"
	    "  { path = \"/a/../b\"; static = \"www\"; },\n"
	    "  { static = \"www\"; },\n"
	    "  { path = \"/ok/\"; static = \"www\"; },\n"
	    "  { path = \"/ok\"; static = \"www\"; }\n"
	    ");\n",
	    "2: routes[0].path: \"x\": must start with '/'",
	    "3: routes[1].path: \"/a//b\": empty segment",
	    "4: routes[2].path: \"/a//\": empty segment",
	    "5: routes[3].path: \"/.\": \".\" and \"..\" segments are not "
	    "allowed",
	    "6: routes[4].path: \"/a/../b\": \".\" and \"..\" segments are not "
	    "allowed",
	    "7: routes[5].path: required key missing",
	    "9: routes[7].path: \"/ok\" already used by routes[6] (line 8)");
}
END_TEST

START_TEST(err_methods)
{
	BAD("routes = (\n"
	    "  { path = \"/\"; static = \"www\";\n"
	    "    methods = [ \"GET\", \"PATCHX\" ]; },\n"
	    "  { path = \"/a\"; static = \"www\"; methods = [ \"PUT\",\n"
	    "    \"get\", \"Post\" ]; },\n"
	    "  { path = \"/b\"; static = \"www\"; methods = [ ]; },\n"
	    "  { path = \"/c\"; static = \"www\"; create_dirs = true; }\n"
	    ");\n",
	    "3: routes[0].methods: unknown method \"PATCHX\" (did you mean "
	    "\"PATCH\"?): expected GET, POST, PUT, DELETE, FETCH, PATCH or "
	    "iPATCH",
	    "4: routes[1].methods: \"PUT\" needs writable = true",
	    "5: routes[1].methods: \"Post\" needs writable = true",
	    "6: routes[2].methods: empty array: at least one value is "
	    "required",
	    "7: routes[3].create_dirs: needs writable = true");
}
END_TEST

START_TEST(err_listen)
{
	BAD("listen = (\n"
	    "  { address = \"localhost\"; },\n"
	    "  { address = \"::1\"; port = 5683; },\n"
	    "  { address = \"0:0::1\"; },\n"
	    "  { address = \"127.0.0.1\"; dtls = true; }\n"
	    ");\n" ROUTE,
	    "2: listen[0].address: \"localhost\": not a numeric IPv4 or IPv6 "
	    "address",
	    "4: listen[2]: \"0:0::1\" port 5683 already used by listen[1] "
	    "(line 3)",
	    "5: listen[3].dtls: needs dtls.psk_file");
	BAD("listen = ( );\nroutes = ( );\n",
	    "1: listen: empty list: at least one entry is required",
	    "2: routes: empty list: at least one entry is required");
	BAD("workers = 1;\n", "1: routes: required key missing");
}
END_TEST

START_TEST(err_allow)
{
	BAD("routes = ( { path = \"/\"; static = \"www\"; allow = [\n"
	    "  \"psk:a\", \"net:192.0.2.0/24\", \"net:2001:db8::/32\",\n"
	    "  \"x:y\",\n"
	    "  \"psk:\",\n"
	    "  \"net:10.0.0.0/33\",\n"
	    "  \"net:10.1.0.0/8\",\n"
	    "  \"net:host.example\",\n"
	    "  \"net:::1/-1\",\n"
	    "  \"net:fe80::1/10\" ]; } );\n",
	    "3: routes[0].allow: \"x:y\": must start with \"psk:\" or \"net:\"",
	    "4: routes[0].allow: \"psk:\": a PSK identity has 1..128 bytes",
	    "5: routes[0].allow: \"net:10.0.0.0/33\": prefix length must be "
	    "0..32",
	    "6: routes[0].allow: \"net:10.1.0.0/8\": host bits set beyond /8",
	    "7: routes[0].allow: \"net:host.example\": not a numeric address "
	    "or CIDR network",
	    "8: routes[0].allow: \"net:::1/-1\": prefix length must be 0..128",
	    "9: routes[0].allow: \"net:fe80::1/10\": host bits set beyond /10");
}
END_TEST

START_TEST(err_misc)
{
	BAD("log = { level = \"loud\"; };\n"
	    "dtls = { identity_hint = \"\";\n"
	    "  ciphers = [ ]; };\n"
	    "content_formats = ( { ext = \".csv\"; ct = 1; }, { ct = 2; } );\n"
	    "routes = ( { path = \"/\"; static = \"www\";\n"
	    "  title = \"a\\\"b\"; rt = \"\"; } );\n",
	    "1: log.level: unknown level \"loud\": expected err, warn, notice, "
	    "info or debug",
	    "2: dtls.identity_hint: must not be empty",
	    "3: dtls.ciphers: empty array: at least one value is required",
	    "4: content_formats[0].ext: \".csv\": give the extension without "
	    "'.' or '/' (\"csv\" for *.csv)",
	    "4: content_formats[1].ext: required key missing",
	    "6: routes[0].rt: must not be empty",
	    "6: routes[0].title: must not contain '\"', '\\' or control "
	    "characters");
}
END_TEST

/* Errors come sorted by line, whatever order the checks ran in. */
START_TEST(err_order)
{
	BAD("routes = ( { path = \"/\"; static = \"www\"; block_size = 3; } );\n"
	    "max_body_bytes = -1;\n"
	    "workers = -1;\n"
	    "bogus = 0;\n",
	    "1: routes[0].block_size: 3 out of range 16..1024",
	    "2: max_body_bytes: -1 out of range 0..4294967295",
	    "3: workers: -1 out of range 0..256",
	    "4: bogus: unknown key (the keys are in coapd.conf(5))");
}
END_TEST

/* Not root: t.conf's hook without user loads and keeps coapd's ids. */
static bool
hook_as_own_user(void *arg)
{
	struct cfg	*c;
	bool		 ok;

	(void)arg;
	if (cfg_load(conf, &c, th_cfg_err, NULL) != 0)
		return false;
	ok = c->nroutes == 1 && c->routes[0].kind == ROUTE_HOOK &&
	    !c->routes[0].set_ids && c->routes[0].user == NULL;
	cfg_unref(c);
	return ok;
}

/* A hook route: argv, env, ids, defaults; the hooks group. */
START_TEST(hook_route)
{
	struct cfg		*c;
	struct cfg_route	*r;
	struct passwd		*pw = getpwnam("nobody");
	char			 path[PATH_MAX];

	th_put_str(tmp, "run.sh", "#!/bin/sh\n");
	snprintf(path, sizeof(path), "%s/run.sh", tmp);
	ck_assert_int_eq(chmod(path, 0755), 0);
	c = load("hooks = { max_running = 3; tmp_dir = \"www\"; };\n"
	    "routes = ( { path = \"/r/:id\"; hook = [ \"run.sh\", \"-v\" ];\n"
	    "  env = { A = \"1\"; B_2 = \"x y\"; }; user = \"nobody\"; } );\n",
	    0);
	r = &c->routes[0];
	ck_assert_int_eq(r->kind, ROUTE_HOOK);
	ck_assert_uint_eq(r->nhook, 2);
	ck_assert_str_eq(r->hook[0], path);
	ck_assert_str_eq(r->hook[1], "-v");
	ck_assert_ptr_null(r->hook[2]);
	ck_assert_uint_eq(r->nenv, 2);
	ck_assert_str_eq(r->env[0], "A=1");
	ck_assert_str_eq(r->env[1], "B_2=x y");
	ck_assert_ptr_nonnull(pw);
	ck_assert(r->set_ids);
	ck_assert_uint_eq(r->uid, pw->pw_uid);
	ck_assert_uint_eq(r->gid, pw->pw_gid);
	ck_assert_uint_eq(r->methods, ROUTE_METHOD(COAP_GET));
	ck_assert_uint_eq(r->timeout_s, 10);
	ck_assert_uint_eq(r->max_running, 4);
	ck_assert_uint_eq(r->max_output_bytes, 1u << 20);
	ck_assert(!r->headers);
	ck_assert_ptr_nonnull(r->running);
	ck_assert_uint_eq(c->hooks.max_running, 3);
	snprintf(path, sizeof(path), "%s/www", tmp);
	ck_assert_str_eq(c->hooks.tmp_dir, path);
	ck_assert_uint_eq(c->hooks.term_grace_s, 2);
	ck_assert_uint_eq(c->hooks.max_cache_bytes, 8u << 20);
	cfg_unref(c);
	/*
	 * As root, a hook without user must say run_as_root; not as root it
	 * runs as coapd's user.  Root tests both, the second in a child as
	 * nobody (which must read the tree).
	 */
	if (geteuid() == 0) {
		BAD("routes = ( { path = \"/r\"; hook = [ \"run.sh\" ]; } );\n",
		    "1: routes[0].hook: coapd runs as root: set user = \"...\" "
		    "to run the hook with fewer rights, or run_as_root = true");
		ck_assert_int_eq(chmod(tmp, 0755), 0);
	}
	th_put_str(tmp, "t.conf",
	    "routes = ( { path = \"/r\"; hook = [ \"run.sh\" ]; } );\n");
	th_unprivileged(hook_as_own_user, NULL);
}
END_TEST

static Suite *
cfg_suite(void)
{
	Suite	*s = suite_create("cfg");
	TCase	*tc = tcase_create("load");
	TCase	*te = tcase_create("errors");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, hook_route);
	tcase_add_test(tc, every_key);
	tcase_add_test(tc, route_inherits_max_body);
	tcase_add_test(tc, exchange_lifetime_derived);
	tcase_add_test(tc, writable_methods);
	tcase_add_test(tc, relative_paths);
	tcase_add_test(tc, include);
	tcase_add_test(tc, ctype_for);
	tcase_add_test(tc, refcount);
	tcase_add_test(tc, table_built);
	tcase_add_test(tc, unreadable_file);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(te, setup, teardown);
	tcase_add_test(te, err_syntax);
	tcase_add_test(te, err_unknown_keys);
	tcase_add_test(te, err_types);
	tcase_add_test(te, err_ranges);
	tcase_add_test(te, err_int_literals);
	tcase_add_test(te, err_static);
	tcase_add_test(te, err_paths);
	tcase_add_test(te, err_methods);
	tcase_add_test(te, err_listen);
	tcase_add_test(te, err_allow);
	tcase_add_test(te, err_misc);
	tcase_add_test(te, err_order);
	suite_add_tcase(s, te);
	return s;
}

int
main(void)
{
	return th_run(cfg_suite());
}
