/*
 * test_dispatch.c - the CoAP engine (src/serve/dispatch.c) driven with byte
 * vectors: the message layer (RFC 7252 §3, §4: CON/NON, ACK, RST,
 * deduplication), the request layer (§5: options, methods, proxying,
 * Accept, ETag), /.well-known/core (RFC 6690, with Block2 from RFC 7959)
 * and the static handler's file cache seen through the engine.
 *
 * Each test loads a real configuration with cfg_load() from a fresh
 * mkdtemp() directory whose static routes point at files in it, and gives
 * dispatch_init() an h_env with a tb.file_gen counter so that the file cache
 * is active, as in the daemon.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "proto/block.h"
#include "adapt/cfg.h"
#include "base/clock.h"
#include "proto/coap_msg.h"
#include "serve/dispatch.h"
#include "serve/handler.h"

#include "helpers.h"
#include "proto/metrics.h"

#define SEED		0x5000u		/* first MID of NON responses */
#define T0_NS		(1000 * NS_PER_SEC)
#define LIFETIME_S	247		/* exchange_lifetime_s default */
#define BIG_ROUTES	60
#define MAXOPT		32

static const uint8_t TOK[] = { 0xde, 0xad, 0xbe, 0xef };

/* The same host from two source ports. */
static struct sockaddr_in	 peer_a, peer_b;
static struct th_bed		 tb;
static uint64_t			 now;

/* What dispatch_datagram() answered, parsed. */
struct ans {
	uint8_t		 buf[COAP_MAX_MSG];
	size_t		 len;
	struct coap_msg	 m;
};

static const char basic_conf[] =
	"routes = (\n"
	"  { path = \"/hello\"; static = \"www/hello.txt\";\n"
	"    rt = \"demo.greeting\"; ct = 0; title = \"Hello\"; },\n"
	"  { path = \"/files\"; static = \"www\"; rt = \"demo.files\"; }\n"
	");\n";

/*
 * The host of a (any port) has answered an Echo challenge before: these
 * tests are about other things than the amplification guard (test_echo.c).
 */
static void
trust(const struct sockaddr_in *a)
{
	th_trust(tb.d, (const struct sockaddr *)a, sizeof(*a), now);
}

/* Write conf_text as t.conf, load it and start an engine on it. */
static void
start(const char *conf_text)
{
	th_bed_start(&tb, conf_text, SEED);
	now = T0_NS;
	trust(&peer_a);
}

static void
mktmp(void)
{
	th_mkdtemp(tb.tmp, sizeof(tb.tmp), "dispatch");
	th_mkdir(tb.tmp, "www");
	th_put_str(tb.tmp, "www/hello.txt", "hello\n");

	memset(&peer_a, 0, sizeof(peer_a));
	peer_a.sin_family = AF_INET;
	peer_a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	peer_a.sin_port = htons(40000);
	peer_b = peer_a;
	peer_b.sin_port = htons(40001);
}

static void
setup_basic(void)
{
	mktmp();
	start(basic_conf);
}

/* A catch-all "/" route over the whole tree, beside the file route. */
static void
setup_catchall(void)
{
	mktmp();
	start("routes = (\n"
	    "  { path = \"/\"; static = \"www\"; },\n"
	    "  { path = \"/hello\"; static = \"www/hello.txt\"; ct = 0; }\n"
	    ");\n");
}

/* BIG_ROUTES routes with long titles: a /.well-known/core of 4 blocks. */
static void
setup_big(void)
{
	char	*text;
	size_t	 cap = 64 * 1024, len;
	int	 i;

	mktmp();
	text = malloc(cap);
	ck_assert_ptr_nonnull(text);
	len = (size_t)snprintf(text, cap, "routes = (\n");
	for (i = 0; i < BIG_ROUTES; i++)
		len += (size_t)snprintf(text + len, cap - len,
		    "  { path = \"/sensor/%02d\"; static = \"www/hello.txt\";"
		    " rt = \"x.sensor\"; title = \"Sensor number %02d\"; }%s\n",
		    i, i, i + 1 < BIG_ROUTES ? "," : "");
	snprintf(text + len, cap - len, ");\n");
	start(text);
	free(text);
}

static void
teardown(void)
{
	th_bed_end(&tb);
}

/*
 * Encode a request: header, token, the Uri-Path segments of path (NULL:
 * none) merged with extra options in ascending order, and a payload.
 */
static size_t
build(uint8_t *buf, size_t cap, uint8_t type, uint8_t code, uint16_t mid,
    const uint8_t *tok, uint8_t tkl, const char *path,
    const struct topt *extra, size_t nextra, const char *payload)
{
	struct topt	 o[MAXOPT], t;
	struct coap_enc	 e;
	char		 segs[256], *p, *save = NULL;
	size_t		 n = 0, i, j;
	ssize_t		 len;

	if (path != NULL) {
		snprintf(segs, sizeof(segs), "%s", path);
		for (p = strtok_r(segs, "/", &save); p != NULL;
		    p = strtok_r(NULL, "/", &save)) {
			ck_assert_uint_lt(n, MAXOPT);
			o[n].num = COAP_OPT_URI_PATH;
			o[n].val = p;
			o[n++].len = strlen(p);
		}
	}
	for (i = 0; i < nextra; i++) {
		ck_assert_uint_lt(n, MAXOPT);
		o[n++] = extra[i];
	}
	/* Stable insertion sort: repeated options keep their order. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && o[j - 1].num > o[j].num; j--) {
			t = o[j];
			o[j] = o[j - 1];
			o[j - 1] = t;
		}
	coap_enc_init(&e, buf, cap, type, code, mid, tok, tkl);
	for (i = 0; i < n; i++)
		coap_enc_opt(&e, o[i].num, o[i].val, o[i].len);
	if (payload != NULL)
		coap_enc_payload(&e, payload, strlen(payload));
	len = coap_enc_finish(&e);
	ck_assert_int_gt(len, 0);
	return (size_t)len;
}

/* Hand in[0..len) to the engine as from `from`; parse any answer. */
static size_t
feed(const struct sockaddr_in *from, const uint8_t *in, size_t len,
    struct ans *a)
{
	struct dispatch_peer p;

	memset(&p, 0, sizeof(p));
	p.addr = (const struct sockaddr *)from;
	p.addrlen = sizeof(*from);
	memset(a, 0, sizeof(*a));
	a->len = dispatch_datagram(tb.d, &p, in, len, now, a->buf,
	    sizeof(a->buf));
	ck_assert_uint_le(a->len, sizeof(a->buf));
	if (a->len > 0)
		ck_assert_int_eq(coap_msg_parse(&a->m, a->buf, a->len), 0);
	return a->len;
}

/* A request from peer_a with token TOK; returns the answer length. */
static size_t
req(uint8_t type, uint8_t code, uint16_t mid, const char *path,
    const struct topt *extra, size_t nextra, struct ans *a)
{
	uint8_t	 buf[COAP_MAX_MSG];
	size_t	 n;

	n = build(buf, sizeof(buf), type, code, mid, TOK, sizeof(TOK), path,
	    extra, nextra, NULL);
	return feed(&peer_a, buf, n, a);
}

/* The value of unsigned option num in m; false when absent. */
static bool
opt_u(const struct coap_msg *m, uint16_t num, uint32_t *v)
{
	const struct coap_opt *o = coap_msg_opt(m, num);

	if (o == NULL)
		return false;
	ck_assert_int_eq(coap_opt_uint(o, v), 0);
	return true;
}

/* The answer is a piggybacked ACK for (mid, TOK) with code. */
static void
expect_ack(const struct ans *a, uint16_t mid, uint8_t code)
{
	char	 got[5], want[5];

	ck_assert_uint_gt(a->len, 0);
	ck_assert_uint_eq(a->m.type, COAP_TYPE_ACK);
	ck_assert_uint_eq(a->m.mid, mid);
	ck_assert_uint_eq(a->m.tkl, sizeof(TOK));
	ck_assert_mem_eq(a->m.token, TOK, sizeof(TOK));
	ck_assert_msg(a->m.code == code, "code %s, expected %s",
	    coap_code_str(a->m.code, got), coap_code_str(code, want));
}

static void
expect_payload(const struct ans *a, const char *text)
{
	size_t	 n = strlen(text);

	ck_assert_msg(a->m.payload_len == n, "payload length %zu, "
	    "expected %zu (\"%.*s\")", a->m.payload_len, n,
	    (int)a->m.payload_len, a->m.payload ? (const char *)a->m.payload :
	    "");
	if (n > 0)
		ck_assert_mem_eq(a->m.payload, text, n);
}

/* The answer is exactly RST with mid: 0x70 0x00 MID, nothing else. */
static void
expect_rst(const struct ans *a, uint16_t mid)
{
	const uint8_t	 want[4] = { 0x70, 0x00, (uint8_t)(mid >> 8),
	    (uint8_t)mid };

	ck_assert_uint_eq(a->len, 4);
	ck_assert_mem_eq(a->buf, want, 4);
}

/* Feed a raw vector from peer_a. */
static size_t
raw(const uint8_t *v, size_t len, struct ans *a)
{
	return feed(&peer_a, v, len, a);
}

/* ------------------------------------------------------------------ */
/* Message layer                                                       */
/* ------------------------------------------------------------------ */

/*
 * RFC 7252 §5.2.1: a CON request is answered with a piggybacked response
 * in the ACK; §4.2: the ACK MUST echo the Message ID; §5.3.2: the response
 * echoes the token.  The static handler sends Content-Format, ETag and
 * Max-Age with a 2.05.
 */
START_TEST(rfc_con_get_piggybacked_ack)
{
	struct ans	 a;
	uint32_t	 v;
	const struct coap_opt *etag;

	ck_assert_uint_gt(req(COAP_TYPE_CON, COAP_GET, 0x1234, "/hello",
	    NULL, 0, &a), 0);
	expect_ack(&a, 0x1234, COAP_CONTENT);
	expect_payload(&a, "hello\n");
	ck_assert(opt_u(&a.m, COAP_OPT_CONTENT_FORMAT, &v));
	ck_assert_uint_eq(v, COAP_CT_TEXT_PLAIN);
	etag = coap_msg_opt(&a.m, COAP_OPT_ETAG);
	ck_assert_ptr_nonnull(etag);
	ck_assert_uint_ge(etag->len, 1);
	ck_assert_uint_le(etag->len, 8);
	ck_assert(opt_u(&a.m, COAP_OPT_MAX_AGE, &v));
	ck_assert_uint_eq(v, 60);
	/* Small file: no Block2, no Size2. */
	ck_assert_ptr_null(coap_msg_opt(&a.m, COAP_OPT_BLOCK2));
	ck_assert_ptr_null(coap_msg_opt(&a.m, COAP_OPT_SIZE2));
	ck_assert_uint_eq(metrics_get(&tb.met.requests), 1);
}
END_TEST

/*
 * RFC 7252 §5.2.3: a NON request gets a NON response with the request's
 * token and a Message ID of the server's own (§4.4: a new message).
 */
START_TEST(rfc_non_get_non_response)
{
	struct ans	 a, b;

	ck_assert_uint_gt(req(COAP_TYPE_NON, COAP_GET, 0x2000, "/hello",
	    NULL, 0, &a), 0);
	ck_assert_uint_eq(a.m.type, COAP_TYPE_NON);
	ck_assert_uint_eq(a.m.code, COAP_CONTENT);
	ck_assert_uint_eq(a.m.tkl, sizeof(TOK));
	ck_assert_mem_eq(a.m.token, TOK, sizeof(TOK));
	ck_assert_uint_ne(a.m.mid, 0x2000);
	expect_payload(&a, "hello\n");

	/* §4.4: the next NON response carries yet another MID. */
	ck_assert_uint_gt(req(COAP_TYPE_NON, COAP_GET, 0x2001, "/hello",
	    NULL, 0, &b), 0);
	ck_assert_uint_eq(b.m.type, COAP_TYPE_NON);
	ck_assert_uint_ne(b.m.mid, 0x2001);
	ck_assert_uint_ne(b.m.mid, a.m.mid);
}
END_TEST

/* RFC 7252 §4.3: an empty CON ("CoAP ping") is answered with RST. */
START_TEST(rfc_ping_rst)
{
	const uint8_t	 ping[] = { 0x40, 0x00, 0x12, 0x34 };
	struct ans	 a;

	raw(ping, sizeof(ping), &a);
	expect_rst(&a, 0x1234);
	ck_assert_uint_eq(a.m.tkl, 0);
	ck_assert_uint_eq(metrics_get(&tb.met.rst_sent), 1);
}
END_TEST

/* RFC 7252 §4.3: an empty NON is not answered. */
START_TEST(rfc_empty_non_silent)
{
	const uint8_t	 v[] = { 0x50, 0x00, 0x12, 0x34 };
	struct ans	 a;

	ck_assert_uint_eq(raw(v, sizeof(v), &a), 0);
}
END_TEST

/*
 * RFC 7252 §4.1: an Empty message with a token or bytes after the MID MUST
 * be processed as a message format error: RST for CON, silence for NON.
 */
START_TEST(rfc_empty_with_bytes_format_error)
{
	const uint8_t	 con_tok[] = { 0x41, 0x00, 0x00, 0x21, 0xaa };
	const uint8_t	 con_pay[] = { 0x40, 0x00, 0x00, 0x22, 0xff, 0x01 };
	const uint8_t	 non_tok[] = { 0x51, 0x00, 0x00, 0x23, 0xaa };
	struct ans	 a;

	raw(con_tok, sizeof(con_tok), &a);
	expect_rst(&a, 0x0021);
	raw(con_pay, sizeof(con_pay), &a);
	expect_rst(&a, 0x0022);
	ck_assert_uint_eq(raw(non_tok, sizeof(non_tok), &a), 0);
}
END_TEST

/* Malformed requests: all start as a CON (0x4X) GET; MID in byte 3. */
static const struct {
	const char	*what;
	uint8_t		 v[16];
	size_t		 len;
} malformed[] = {
	/* §3: token length 9..15 MUST be processed as a format error. */
	{ "tkl 9", { 0x49, 0x01, 0x00, 0x31, 1, 2, 3, 4, 5, 6, 7, 8, 9 },
	    13 },
	{ "tkl 15", { 0x4f, 0x01, 0x00, 0x32, 1, 2, 3, 4, 5, 6, 7, 8 }, 12 },
	/* §3.1: option delta nibble 15 (not the marker) is reserved. */
	{ "delta nibble 15", { 0x40, 0x01, 0x00, 0x33, 0xf0 }, 5 },
	/* §3.1: option length nibble 15 is reserved. */
	{ "length nibble 15", { 0x40, 0x01, 0x00, 0x34, 0xbf, 'a' }, 6 },
	/* §3: a payload marker followed by a zero-length payload. */
	{ "marker, no payload", { 0x40, 0x01, 0x00, 0x35, 0xff }, 5 },
	/* Datagram ends inside the token. */
	{ "truncated token", { 0x44, 0x01, 0x00, 0x36, 0xaa }, 5 },
	/* Option value runs past the end. */
	{ "truncated option", { 0x40, 0x01, 0x00, 0x37, 0xb5, 'h', 'e' }, 7 },
};
#define NMALFORMED (sizeof(malformed) / sizeof(malformed[0]))

/* RFC 7252 §4.2: a CON with a message format error is rejected with RST. */
START_TEST(rfc_malformed_con_rst)
{
	struct ans	 a;
	size_t		 i;

	for (i = 0; i < NMALFORMED; i++) {
		raw(malformed[i].v, malformed[i].len, &a);
		ck_assert_msg(a.len == 4, "%s: %zu bytes", malformed[i].what,
		    a.len);
		expect_rst(&a, malformed[i].v[3]);
	}
	ck_assert_uint_eq(metrics_get(&tb.met.requests), 0);
}
END_TEST

/* RFC 7252 §4.3: a NON with a format error is silently ignored. */
START_TEST(rfc_malformed_non_silent)
{
	uint8_t		 v[16];
	struct ans	 a;
	size_t		 i;

	for (i = 0; i < NMALFORMED; i++) {
		memcpy(v, malformed[i].v, malformed[i].len);
		v[0] = (uint8_t)((v[0] & 0xcf) | COAP_TYPE_NON << 4);
		ck_assert_msg(raw(v, malformed[i].len, &a) == 0,
		    "%s: answered", malformed[i].what);
	}
	ck_assert_uint_eq(metrics_get(&tb.met.rst_sent), 0);
}
END_TEST

/* RFC 7252 §3: messages with an unknown version MUST be silently ignored. */
START_TEST(rfc_version_ignored)
{
	/* Version 2: a CON GET, a ping; versions 0 and 3 as CON. */
	const uint8_t	 v2_get[] = { 0x80, 0x01, 0x00, 0x41 };
	const uint8_t	 v2_ping[] = { 0x80, 0x00, 0x00, 0x42 };
	const uint8_t	 v0_get[] = { 0x00, 0x01, 0x00, 0x43 };
	const uint8_t	 v3_get[] = { 0xc0, 0x01, 0x00, 0x44 };
	uint8_t		 buf[COAP_MAX_MSG];
	struct ans	 a;
	size_t		 n;

	ck_assert_uint_eq(raw(v2_get, sizeof(v2_get), &a), 0);
	ck_assert_uint_eq(raw(v2_ping, sizeof(v2_ping), &a), 0);
	ck_assert_uint_eq(raw(v0_get, sizeof(v0_get), &a), 0);
	ck_assert_uint_eq(raw(v3_get, sizeof(v3_get), &a), 0);
	/* A well-formed GET /hello with the version bits set to 2. */
	n = build(buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 0x45, TOK,
	    sizeof(TOK), "/hello", NULL, 0, NULL);
	buf[0] = (uint8_t)((buf[0] & 0x3f) | 2 << 6);
	ck_assert_uint_eq(feed(&peer_a, buf, n, &a), 0);
	ck_assert_uint_eq(metrics_get(&tb.met.drops[DROP_VERSION]), 5);
	ck_assert_uint_eq(metrics_get(&tb.met.rst_sent), 0);
}
END_TEST

/* Fewer than 4 bytes carry no MID to reject: ignored. */
START_TEST(short_datagram_ignored)
{
	const uint8_t	 v[] = { 0x40, 0x01, 0x00 };
	struct ans	 a;

	ck_assert_uint_eq(raw(v, 0, &a), 0);
	ck_assert_uint_eq(raw(v, sizeof(v), &a), 0);
}
END_TEST

/*
 * RFC 7252 §4.2, §4.3: an ACK or RST that matches no exchange of ours is
 * ignored (a server that sends no CON waits for none).
 */
START_TEST(rfc_ack_rst_ignored)
{
	const uint8_t	 ack[] = { 0x60, 0x00, 0x00, 0x51 };
	const uint8_t	 rst[] = { 0x70, 0x00, 0x00, 0x52 };
	const uint8_t	 ack205[] = { 0x61, 0x45, 0x00, 0x53, 0xaa };
	const uint8_t	 ackget[] = { 0x60, 0x01, 0x00, 0x54 };
	struct ans	 a;

	ck_assert_uint_eq(raw(ack, sizeof(ack), &a), 0);
	ck_assert_uint_eq(raw(rst, sizeof(rst), &a), 0);
	ck_assert_uint_eq(raw(ack205, sizeof(ack205), &a), 0);
	ck_assert_uint_eq(raw(ackget, sizeof(ackget), &a), 0);
	ck_assert_uint_eq(metrics_get(&tb.met.rst_sent), 0);
	ck_assert_uint_eq(metrics_get(&tb.met.requests), 0);
}
END_TEST

/*
 * RFC 7252 §4.2: a CON the server cannot process in context (a response
 * code sent to a server that made no request) is rejected with RST; the
 * same as NON is ignored (§4.3).
 */
START_TEST(rfc_response_as_con_rst)
{
	const uint8_t	 con205[] = { 0x40, 0x45, 0x00, 0x61 };
	const uint8_t	 con205tok[] = { 0x41, 0x45, 0x00, 0x62, 0xaa, 0xff,
	    'x' };
	const uint8_t	 non205[] = { 0x50, 0x45, 0x00, 0x63 };
	struct ans	 a;

	raw(con205, sizeof(con205), &a);
	expect_rst(&a, 0x0061);
	raw(con205tok, sizeof(con205tok), &a);
	expect_rst(&a, 0x0062);
	ck_assert_uint_eq(raw(non205, sizeof(non205), &a), 0);
	ck_assert_uint_eq(metrics_get(&tb.met.requests), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

/*
 * RFC 7252 §5.4.1: an unrecognized critical option in a CON request MUST
 * get 4.02 (Bad Option), piggybacked.
 */
START_TEST(rfc_unknown_critical_con_402)
{
	const struct topt o65001 = { 65001, "x", 1 };
	const struct topt o9 = { 9, "", 0 };
	struct ans	 a;

	/* 65001 is odd (critical) and not an option coapd knows. */
	ck_assert(coap_opt_is_critical(65001));
	ck_assert(!coap_opt_is_known(65001));
	ck_assert(coap_opt_is_critical(9));
	ck_assert(!coap_opt_is_known(9));

	req(COAP_TYPE_CON, COAP_GET, 0x0071, "/hello", &o65001, 1, &a);
	expect_ack(&a, 0x0071, COAP_BAD_OPTION);
	req(COAP_TYPE_CON, COAP_GET, 0x0072, "/hello", &o9, 1, &a);
	expect_ack(&a, 0x0072, COAP_BAD_OPTION);
	/* Before routing: also on a path that does not exist. */
	req(COAP_TYPE_CON, COAP_GET, 0x0073, "/nope", &o65001, 1, &a);
	expect_ack(&a, 0x0073, COAP_BAD_OPTION);
}
END_TEST

/*
 * RFC 7252 §5.4.3: a known critical option with a length outside its range
 * and §5.4.5: a second occurrence of a non-repeatable critical option MUST
 * be treated like an unrecognized option: 4.02 in a CON.
 */
START_TEST(rfc_bad_known_critical_402)
{
	const struct topt two_hosts[] = {
		{ COAP_OPT_URI_HOST, "a", 1 },
		{ COAP_OPT_URI_HOST, "b", 1 },
	};
	const struct topt empty_host = { COAP_OPT_URI_HOST, "", 0 };
	const struct topt two_accepts[] = {
		{ COAP_OPT_ACCEPT, "", 0 },
		{ COAP_OPT_ACCEPT, "", 0 },
	};
	struct ans	 a;

	req(COAP_TYPE_CON, COAP_GET, 0x0081, "/hello", two_hosts, 2, &a);
	expect_ack(&a, 0x0081, COAP_BAD_OPTION);
	req(COAP_TYPE_CON, COAP_GET, 0x0082, "/hello", &empty_host, 1, &a);
	expect_ack(&a, 0x0082, COAP_BAD_OPTION);
	req(COAP_TYPE_CON, COAP_GET, 0x0083, "/hello", two_accepts, 2, &a);
	expect_ack(&a, 0x0083, COAP_BAD_OPTION);
}
END_TEST

/*
 * RFC 7252 §5.4.1: an unrecognized critical option in a NON request MUST
 * cause it to be rejected (§4.3): coapd sends nothing.
 */
START_TEST(rfc_unknown_critical_non_silent)
{
	const struct topt o = { 65001, "x", 1 };
	struct ans	 a;

	ck_assert_uint_eq(req(COAP_TYPE_NON, COAP_GET, 0x0091, "/hello", &o,
	    1, &a), 0);
	ck_assert_uint_eq(metrics_get(&tb.met.drops[DROP_BAD_NON]), 1);
	ck_assert_uint_eq(metrics_get(&tb.met.requests), 0);
}
END_TEST

/* RFC 7252 §5.4.1: unrecognized elective options MUST be ignored. */
START_TEST(rfc_unknown_elective_ignored)
{
	const struct topt o[] = {
		{ 65000, "x", 1 },
		{ 2, "", 0 },		/* even, unassigned */
	};
	struct ans	 a;

	ck_assert(!coap_opt_is_critical(65000));
	ck_assert(!coap_opt_is_known(65000));
	req(COAP_TYPE_CON, COAP_GET, 0x00a1, "/hello", o, 2, &a);
	expect_ack(&a, 0x00a1, COAP_CONTENT);
	expect_payload(&a, "hello\n");
}
END_TEST

/*
 * RFC 7252 §5.7.2: a server that is not a forward-proxy MUST answer a
 * request with Proxy-Uri (or Proxy-Scheme) with 5.05.
 */
START_TEST(rfc_proxy_uri_505)
{
	static const char uri[] = "coap://example.org/hello";
	const struct topt pu = { COAP_OPT_PROXY_URI, uri, sizeof(uri) - 1 };
	const struct topt ps = { COAP_OPT_PROXY_SCHEME, "coap", 4 };
	struct ans	 a;

	req(COAP_TYPE_CON, COAP_GET, 0x00b1, NULL, &pu, 1, &a);
	expect_ack(&a, 0x00b1, COAP_PROXYING_NOT_SUPPORTED);
	/* Even with a Uri-Path the server would serve itself. */
	req(COAP_TYPE_CON, COAP_GET, 0x00b2, "/hello", &ps, 1, &a);
	expect_ack(&a, 0x00b2, COAP_PROXYING_NOT_SUPPORTED);
	ck_assert_uint_eq(a.m.payload_len, 0);
}
END_TEST

/* No route for the path: 4.04 (RFC 7252 §5.9.2.5). */
START_TEST(no_route_404)
{
	struct ans	 a;

	req(COAP_TYPE_CON, COAP_GET, 0x00c1, "/nope", NULL, 0, &a);
	expect_ack(&a, 0x00c1, COAP_NOT_FOUND);
	/* "/hellox" is not beneath "/hello"; a file route has no children. */
	req(COAP_TYPE_CON, COAP_GET, 0x00c2, "/hellox", NULL, 0, &a);
	expect_ack(&a, 0x00c2, COAP_NOT_FOUND);
	req(COAP_TYPE_CON, COAP_GET, 0x00c3, "/hello/x", NULL, 0, &a);
	expect_ack(&a, 0x00c3, COAP_NOT_FOUND);
	/* No Uri-Path: "/", which no route covers here. */
	req(COAP_TYPE_CON, COAP_GET, 0x00c4, NULL, NULL, 0, &a);
	expect_ack(&a, 0x00c4, COAP_NOT_FOUND);
}
END_TEST

/*
 * RFC 7252 §5.8: a method the resource does not support, and an
 * unrecognized method code, get 4.05 (Method Not Allowed).
 */
START_TEST(rfc_method_not_allowed_405)
{
	uint8_t		 buf[COAP_MAX_MSG];
	struct ans	 a;
	size_t		 n;

	/* PUT on a read-only static route, with a body. */
	n = build(buf, sizeof(buf), COAP_TYPE_CON, COAP_PUT, 0x00d1, TOK,
	    sizeof(TOK), "/hello", NULL, 0, "new content");
	feed(&peer_a, buf, n, &a);
	expect_ack(&a, 0x00d1, COAP_METHOD_NOT_ALLOWED);
	req(COAP_TYPE_CON, COAP_DELETE, 0x00d2, "/hello", NULL, 0, &a);
	expect_ack(&a, 0x00d2, COAP_METHOD_NOT_ALLOWED);
	req(COAP_TYPE_CON, COAP_POST, 0x00d3, "/files/hello.txt", NULL, 0,
	    &a);
	expect_ack(&a, 0x00d3, COAP_METHOD_NOT_ALLOWED);
	/* 0.31: no such method. */
	req(COAP_TYPE_CON, COAP_CODE(0, 31), 0x00d4, "/hello", NULL, 0, &a);
	expect_ack(&a, 0x00d4, COAP_METHOD_NOT_ALLOWED);
	/* 0.08: unassigned too. */
	req(COAP_TYPE_CON, COAP_CODE(0, 8), 0x00d5, "/hello", NULL, 0, &a);
	expect_ack(&a, 0x00d5, COAP_METHOD_NOT_ALLOWED);
	/* /.well-known/core is GET only. */
	req(COAP_TYPE_CON, COAP_POST, 0x00d6, "/.well-known/core", NULL, 0,
	    &a);
	expect_ack(&a, 0x00d6, COAP_METHOD_NOT_ALLOWED);

	/* The file was not touched. */
	req(COAP_TYPE_CON, COAP_GET, 0x00d7, "/hello", NULL, 0, &a);
	expect_payload(&a, "hello\n");
}
END_TEST

/*
 * RFC 7252 §5.10.4: when the representation is not available in the
 * Content-Format named by Accept, 4.06 (Not Acceptable).
 */
START_TEST(rfc_accept_406)
{
	uint8_t		 json[] = { COAP_CT_JSON };
	const struct topt acc_json = { COAP_OPT_ACCEPT, json, 1 };
	const struct topt acc_text = { COAP_OPT_ACCEPT, "", 0 };  /* 0 */
	struct ans	 a;

	req(COAP_TYPE_CON, COAP_GET, 0x00e1, "/hello", &acc_json, 1, &a);
	expect_ack(&a, 0x00e1, COAP_NOT_ACCEPTABLE);
	ck_assert_uint_eq(a.m.payload_len, 0);
	req(COAP_TYPE_CON, COAP_GET, 0x00e2, "/hello", &acc_text, 1, &a);
	expect_ack(&a, 0x00e2, COAP_CONTENT);
	expect_payload(&a, "hello\n");
}
END_TEST

/*
 * RFC 7252 §5.10.6.2: a GET with an ETag naming the current
 * representation gets 2.03 (Valid), which MUST carry that ETag.
 */
START_TEST(rfc_etag_valid_203)
{
	const struct coap_opt *o;
	struct topt	 etags[2];
	uint8_t		 tag[8], other[8];
	size_t		 tlen;
	struct ans	 a;

	req(COAP_TYPE_CON, COAP_GET, 0x00f1, "/hello", NULL, 0, &a);
	expect_ack(&a, 0x00f1, COAP_CONTENT);
	o = coap_msg_opt(&a.m, COAP_OPT_ETAG);
	ck_assert_ptr_nonnull(o);
	tlen = o->len;
	memcpy(tag, o->val, tlen);
	memcpy(other, tag, tlen);
	other[0] ^= 0xff;

	etags[0] = (struct topt){ COAP_OPT_ETAG, tag, tlen };
	req(COAP_TYPE_CON, COAP_GET, 0x00f2, "/hello", etags, 1, &a);
	expect_ack(&a, 0x00f2, COAP_VALID);
	ck_assert_uint_eq(a.m.payload_len, 0);
	o = coap_msg_opt(&a.m, COAP_OPT_ETAG);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(o->len, tlen);
	ck_assert_mem_eq(o->val, tag, tlen);

	/* Several ETags: any one matching is enough. */
	etags[0] = (struct topt){ COAP_OPT_ETAG, other, tlen };
	etags[1] = (struct topt){ COAP_OPT_ETAG, tag, tlen };
	req(COAP_TYPE_CON, COAP_GET, 0x00f3, "/hello", etags, 2, &a);
	expect_ack(&a, 0x00f3, COAP_VALID);

	/* No match: the representation. */
	req(COAP_TYPE_CON, COAP_GET, 0x00f4, "/hello", etags, 1, &a);
	expect_ack(&a, 0x00f4, COAP_CONTENT);
	expect_payload(&a, "hello\n");
}
END_TEST

/* RFC 7252 §6.4 (and our confinement): "." and ".." name nothing: 4.04. */
START_TEST(dot_segments_404)
{
	const struct topt dotdot[] = {
		{ COAP_OPT_URI_PATH, "files", 5 },
		{ COAP_OPT_URI_PATH, "..", 2 },
		{ COAP_OPT_URI_PATH, "hello.txt", 9 },
	};
	const struct topt dot[] = {
		{ COAP_OPT_URI_PATH, "files", 5 },
		{ COAP_OPT_URI_PATH, ".", 1 },
		{ COAP_OPT_URI_PATH, "hello.txt", 9 },
	};
	const struct topt up[] = {
		{ COAP_OPT_URI_PATH, "files", 5 },
		{ COAP_OPT_URI_PATH, "..", 2 },
	};
	const struct topt slash[] = {
		{ COAP_OPT_URI_PATH, "files", 5 },
		{ COAP_OPT_URI_PATH, "../t.conf", 9 },
	};
	struct ans	 a;

	/* The file itself is served under /files. */
	req(COAP_TYPE_CON, COAP_GET, 0x0101, "/files/hello.txt", NULL, 0, &a);
	expect_ack(&a, 0x0101, COAP_CONTENT);
	expect_payload(&a, "hello\n");

	req(COAP_TYPE_CON, COAP_GET, 0x0102, NULL, dotdot, 3, &a);
	expect_ack(&a, 0x0102, COAP_NOT_FOUND);
	req(COAP_TYPE_CON, COAP_GET, 0x0103, NULL, dot, 3, &a);
	expect_ack(&a, 0x0103, COAP_NOT_FOUND);
	req(COAP_TYPE_CON, COAP_GET, 0x0104, NULL, up, 2, &a);
	expect_ack(&a, 0x0104, COAP_NOT_FOUND);
	/* A '/' inside one segment is not a separator. */
	req(COAP_TYPE_CON, COAP_GET, 0x0105, NULL, slash, 2, &a);
	expect_ack(&a, 0x0105, COAP_NOT_FOUND);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Deduplication (RFC 7252 §4.5)                                       */
/* ------------------------------------------------------------------ */

/*
 * RFC 7252 §4.5: a duplicate CON within EXCHANGE_LIFETIME SHOULD get the
 * same ACK, and the request is not processed again (§4.2).  Proof: the
 * file changes (and the watcher generation moves) between the two; the
 * duplicate still gets the first bytes, while a new MID sees the change.
 */
START_TEST(rfc_dup_con_same_bytes)
{
	uint8_t		 buf[COAP_MAX_MSG];
	struct ans	 a, b;
	size_t		 n;

	n = build(buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 0x0201, TOK,
	    sizeof(TOK), "/hello", NULL, 0, NULL);
	feed(&peer_a, buf, n, &a);
	expect_ack(&a, 0x0201, COAP_CONTENT);
	expect_payload(&a, "hello\n");

	th_put_str(tb.tmp, "www/hello.txt", "changed, and longer\n");
	atomic_fetch_add(&tb.file_gen, 1);
	now += NS_PER_SEC;

	feed(&peer_a, buf, n, &b);
	ck_assert_uint_eq(b.len, a.len);
	ck_assert_mem_eq(b.buf, a.buf, a.len);
	ck_assert_uint_eq(metrics_get(&tb.met.dup_con), 1);
	ck_assert_uint_eq(metrics_get(&tb.met.requests), 1);

	/* A new exchange is handled and sees the new file. */
	req(COAP_TYPE_CON, COAP_GET, 0x0202, "/hello", NULL, 0, &b);
	expect_ack(&b, 0x0202, COAP_CONTENT);
	expect_payload(&b, "changed, and longer\n");
	ck_assert_uint_eq(metrics_get(&tb.met.requests), 2);
}
END_TEST

/* The same MID from another port is another endpoint (§4.5: per source). */
START_TEST(rfc_dup_other_port_not_dup)
{
	uint8_t		 buf[COAP_MAX_MSG];
	struct ans	 a, b;
	size_t		 n;

	n = build(buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 0x0301, TOK,
	    sizeof(TOK), "/hello", NULL, 0, NULL);
	feed(&peer_a, buf, n, &a);
	expect_payload(&a, "hello\n");

	th_put_str(tb.tmp, "www/hello.txt", "changed, and longer\n");
	atomic_fetch_add(&tb.file_gen, 1);

	feed(&peer_b, buf, n, &b);
	expect_ack(&b, 0x0301, COAP_CONTENT);
	expect_payload(&b, "changed, and longer\n");
	ck_assert_uint_eq(metrics_get(&tb.met.dup_con), 0);
	ck_assert_uint_eq(metrics_get(&tb.met.requests), 2);
}
END_TEST

/* RFC 7252 §4.5: a duplicate NON is silently ignored. */
START_TEST(rfc_dup_non_silent)
{
	uint8_t		 buf[COAP_MAX_MSG];
	struct ans	 a;
	size_t		 n;

	n = build(buf, sizeof(buf), COAP_TYPE_NON, COAP_GET, 0x0401, TOK,
	    sizeof(TOK), "/hello", NULL, 0, NULL);
	ck_assert_uint_gt(feed(&peer_a, buf, n, &a), 0);
	ck_assert_uint_eq(a.m.type, COAP_TYPE_NON);
	ck_assert_uint_eq(feed(&peer_a, buf, n, &a), 0);
	ck_assert_uint_eq(metrics_get(&tb.met.drops[DROP_DUP_NON]), 1);
	ck_assert_uint_eq(metrics_get(&tb.met.requests), 1);
	/* And a NON that was rejected stays rejected, silently. */
	{
		const struct topt o = { 65001, "x", 1 };

		n = build(buf, sizeof(buf), COAP_TYPE_NON, COAP_GET, 0x0402,
		    TOK, sizeof(TOK), "/hello", &o, 1, NULL);
		ck_assert_uint_eq(feed(&peer_a, buf, n, &a), 0);
		ck_assert_uint_eq(feed(&peer_a, buf, n, &a), 0);
	}
}
END_TEST

/*
 * RFC 7252 §4.5: deduplication holds for EXCHANGE_LIFETIME; after it the
 * MID may be reused and the message is new.
 */
START_TEST(rfc_dedup_expires)
{
	uint8_t		 buf[COAP_MAX_MSG];
	struct ans	 a, b;
	size_t		 n;

	ck_assert_uint_eq(tb.cfg->exchange_lifetime_s, LIFETIME_S);
	n = build(buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 0x0501, TOK,
	    sizeof(TOK), "/hello", NULL, 0, NULL);
	feed(&peer_a, buf, n, &a);
	expect_payload(&a, "hello\n");

	th_put_str(tb.tmp, "www/hello.txt", "changed, and longer\n");
	atomic_fetch_add(&tb.file_gen, 1);

	/* Just inside the lifetime: still the duplicate. */
	now = T0_NS + (uint64_t)(LIFETIME_S - 1) * NS_PER_SEC;
	feed(&peer_a, buf, n, &b);
	ck_assert_uint_eq(b.len, a.len);
	ck_assert_mem_eq(b.buf, a.buf, a.len);
	ck_assert_uint_eq(metrics_get(&tb.met.dup_con), 1);

	/* Past it: handled again. */
	now = T0_NS + (uint64_t)(LIFETIME_S + 1) * NS_PER_SEC;
	feed(&peer_a, buf, n, &b);
	expect_ack(&b, 0x0501, COAP_CONTENT);
	expect_payload(&b, "changed, and longer\n");
	ck_assert_uint_eq(metrics_get(&tb.met.dup_con), 1);
	ck_assert_uint_eq(metrics_get(&tb.met.requests), 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* /.well-known/core (RFC 6690)                                        */
/* ------------------------------------------------------------------ */

#define BASIC_DOC \
	"</hello>;rt=\"demo.greeting\";ct=0;title=\"Hello\"," \
	"</files>;rt=\"demo.files\""

/* RFC 6690 §4: GET /.well-known/core returns the links with ct 40. */
START_TEST(rfc_wellknown)
{
	struct ans	 a;
	uint32_t	 v;

	req(COAP_TYPE_CON, COAP_GET, 0x0601, "/.well-known/core", NULL, 0,
	    &a);
	expect_ack(&a, 0x0601, COAP_CONTENT);
	ck_assert(opt_u(&a.m, COAP_OPT_CONTENT_FORMAT, &v));
	ck_assert_uint_eq(v, COAP_CT_LINK_FORMAT);
	expect_payload(&a, BASIC_DOC);
	/* Fits one message: no Block2. */
	ck_assert_ptr_null(coap_msg_opt(&a.m, COAP_OPT_BLOCK2));

	/* As NON too. */
	ck_assert_uint_gt(req(COAP_TYPE_NON, COAP_GET, 0x0602,
	    "/.well-known/core", NULL, 0, &a), 0);
	ck_assert_uint_eq(a.m.type, COAP_TYPE_NON);
	expect_payload(&a, BASIC_DOC);
}
END_TEST

/* RFC 6690 §4.1: a Uri-Query "rt=..." filters the links. */
START_TEST(rfc_wellknown_query_rt)
{
	const struct topt q = { COAP_OPT_URI_QUERY, "rt=demo.greeting", 16 };
	const struct topt qp = { COAP_OPT_URI_QUERY, "rt=demo.*", 9 };
	const struct topt qh = { COAP_OPT_URI_QUERY, "href=/files", 11 };
	struct ans	 a;
	uint32_t	 v;

	req(COAP_TYPE_CON, COAP_GET, 0x0701, "/.well-known/core", &q, 1, &a);
	expect_ack(&a, 0x0701, COAP_CONTENT);
	ck_assert(opt_u(&a.m, COAP_OPT_CONTENT_FORMAT, &v));
	ck_assert_uint_eq(v, COAP_CT_LINK_FORMAT);
	expect_payload(&a, "</hello>;rt=\"demo.greeting\";ct=0;"
	    "title=\"Hello\"");

	req(COAP_TYPE_CON, COAP_GET, 0x0702, "/.well-known/core", &qp, 1, &a);
	expect_ack(&a, 0x0702, COAP_CONTENT);
	expect_payload(&a, BASIC_DOC);

	req(COAP_TYPE_CON, COAP_GET, 0x0703, "/.well-known/core", &qh, 1, &a);
	expect_ack(&a, 0x0703, COAP_CONTENT);
	expect_payload(&a, "</files>;rt=\"demo.files\"");
}
END_TEST

/* RFC 7252 §5.10.4: Accept other than 40 on /.well-known/core: 4.06. */
START_TEST(rfc_wellknown_accept_406)
{
	const struct topt acc0 = { COAP_OPT_ACCEPT, "", 0 };
	uint8_t		 forty[] = { COAP_CT_LINK_FORMAT };
	const struct topt acc40 = { COAP_OPT_ACCEPT, forty, 1 };
	struct ans	 a;

	req(COAP_TYPE_CON, COAP_GET, 0x0801, "/.well-known/core", &acc0, 1,
	    &a);
	expect_ack(&a, 0x0801, COAP_NOT_ACCEPTABLE);
	ck_assert_uint_eq(a.m.payload_len, 0);
	req(COAP_TYPE_CON, COAP_GET, 0x0802, "/.well-known/core", &acc40, 1,
	    &a);
	expect_ack(&a, 0x0802, COAP_CONTENT);
	expect_payload(&a, BASIC_DOC);
}
END_TEST

/*
 * Block2 errors on /.well-known/core as on any resource: a block past the
 * end or SZX 7 is 4.00 (RFC 7959 §2.2), a repeated Block2 is 4.02
 * (RFC 7252 §5.4.5).
 */
START_TEST(rfc_wellknown_block2_errors)
{
	uint8_t		 past[] = { 0x16 };	/* NUM 1 of 1024 bytes */
	uint8_t		 szx7[] = { 0x07 };
	const struct topt o_past = { COAP_OPT_BLOCK2, past, 1 };
	const struct topt o_szx7 = { COAP_OPT_BLOCK2, szx7, 1 };
	const struct topt o_two[] = {
		{ COAP_OPT_BLOCK2, "", 0 },
		{ COAP_OPT_BLOCK2, "", 0 },
	};
	struct ans	 a;

	req(COAP_TYPE_CON, COAP_GET, 0x0d01, "/.well-known/core", &o_past, 1,
	    &a);
	expect_ack(&a, 0x0d01, COAP_BAD_REQUEST);
	req(COAP_TYPE_CON, COAP_GET, 0x0d02, "/.well-known/core", &o_szx7, 1,
	    &a);
	expect_ack(&a, 0x0d02, COAP_BAD_REQUEST);
	req(COAP_TYPE_CON, COAP_GET, 0x0d03, "/.well-known/core", o_two, 2,
	    &a);
	expect_ack(&a, 0x0d03, COAP_BAD_OPTION);
}
END_TEST

/*
 * RFC 6690 §4: /.well-known/core is the server's own resource; a catch-all
 * route at "/" does not hide it.
 */
START_TEST(rfc_wellknown_beside_catchall)
{
	struct ans	 a;
	uint32_t	 v;

	req(COAP_TYPE_CON, COAP_GET, 0x0e01, "/.well-known/core", NULL, 0,
	    &a);
	expect_ack(&a, 0x0e01, COAP_CONTENT);
	ck_assert(opt_u(&a.m, COAP_OPT_CONTENT_FORMAT, &v));
	ck_assert_uint_eq(v, COAP_CT_LINK_FORMAT);
	expect_payload(&a, "</>,</hello>;ct=0");
	/* The catch-all still serves the tree, and 4.04 for what is not. */
	req(COAP_TYPE_CON, COAP_GET, 0x0e02, "/hello.txt", NULL, 0, &a);
	expect_ack(&a, 0x0e02, COAP_CONTENT);
	expect_payload(&a, "hello\n");
	req(COAP_TYPE_CON, COAP_GET, 0x0e03, "/nope", NULL, 0, &a);
	expect_ack(&a, 0x0e03, COAP_NOT_FOUND);
	req(COAP_TYPE_CON, COAP_GET, 0x0e04, "/.well-known/other", NULL, 0,
	    &a);
	expect_ack(&a, 0x0e04, COAP_NOT_FOUND);
}
END_TEST

/* The document setup_big() produces, built independently of linkfmt.c. */
static size_t
big_doc(char *out, size_t cap)
{
	size_t	 len = 0;
	int	 i;

	for (i = 0; i < BIG_ROUTES; i++)
		len += (size_t)snprintf(out + len, cap - len,
		    "%s</sensor/%02d>;rt=\"x.sensor\";"
		    "title=\"Sensor number %02d\"", i > 0 ? "," : "", i, i);
	return len;
}

/*
 * Fetch the whole /.well-known/core with Block2 of size exponent szx
 * (RFC 7959 §2.4; -1: the first request carries no Block2) into out,
 * with MIDs from mid on (each must be new: a reused one is a duplicate).
 */
static size_t
fetch_blocks(int szx, uint16_t mid, char *out, size_t cap,
    size_t want_total)
{
	struct block_opt b;
	struct topt	 o = { 0, NULL, 0 };
	struct ans	 a;
	uint8_t		 val[3];
	uint32_t	 v, num = 0;
	size_t		 len = 0, bs;
	bool		 more = true;

	while (more) {
		size_t nopt = 0;

		if (szx >= 0 || num > 0) {
			v = block_opt_encode(num, false, (uint8_t)(szx >= 0 ?
			    szx : BLOCK_SZX_MAX));
			val[0] = (uint8_t)(v >> 16);
			val[1] = (uint8_t)(v >> 8);
			val[2] = (uint8_t)v;
			o = (struct topt){ COAP_OPT_BLOCK2, val, 3 };
			nopt = 1;
		}
		req(COAP_TYPE_CON, COAP_GET, mid, "/.well-known/core", &o,
		    nopt, &a);
		expect_ack(&a, mid, COAP_CONTENT);
		mid++;
		ck_assert(opt_u(&a.m, COAP_OPT_CONTENT_FORMAT, &v));
		ck_assert_uint_eq(v, COAP_CT_LINK_FORMAT);
		ck_assert(opt_u(&a.m, COAP_OPT_BLOCK2, &v));
		ck_assert_int_eq(block_opt_decode(v, &b), 0);
		ck_assert_uint_eq(b.num, num);
		ck_assert_uint_eq(b.szx, szx >= 0 ? (unsigned)szx :
		    BLOCK_SZX_MAX);
		bs = block_size(b.szx);
		/* RFC 7959 §4: Size2 with the first block. */
		if (num == 0) {
			ck_assert(opt_u(&a.m, COAP_OPT_SIZE2, &v));
			ck_assert_uint_eq(v, want_total);
		}
		/* Every block but the last is full (§2.2). */
		if (b.more)
			ck_assert_uint_eq(a.m.payload_len, bs);
		else
			ck_assert_uint_le(a.m.payload_len, bs);
		ck_assert_uint_le(len + a.m.payload_len, cap);
		memcpy(out + len, a.m.payload, a.m.payload_len);
		len += a.m.payload_len;
		more = b.more;
		num++;
		ck_assert_uint_lt(num, 1000);
	}
	return len;
}

/*
 * RFC 7959 §2.4: a /.well-known/core larger than one message is served
 * block by block and reassembles exactly; the client may ask for smaller
 * blocks (late negotiation).
 */
START_TEST(rfc_wellknown_block2)
{
	static char	 want[DISPATCH_DOC_MAX], got[DISPATCH_DOC_MAX];
	const struct topt acc0 = { COAP_OPT_ACCEPT, "", 0 };
	size_t		 wlen, glen;
	struct ans	 a;

	wlen = big_doc(want, sizeof(want));
	ck_assert_uint_gt(wlen, 3 * 1024);

	glen = fetch_blocks(-1, 0x0900, got, sizeof(got), wlen);
	ck_assert_uint_eq(glen, wlen);
	ck_assert_mem_eq(got, want, wlen);

	glen = fetch_blocks(2, 0x0a00, got, sizeof(got), wlen);
	ck_assert_uint_eq(glen, wlen);
	ck_assert_mem_eq(got, want, wlen);

	/* Still 4.06 for a wrong Accept. */
	req(COAP_TYPE_CON, COAP_GET, 0x0b00, "/.well-known/core", &acc0, 1,
	    &a);
	expect_ack(&a, 0x0b00, COAP_NOT_ACCEPTABLE);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The static handler's file cache, through the engine                 */
/* ------------------------------------------------------------------ */

/*
 * A change is seen at once when the watcher generation moves.  Without the
 * bump (and within the 1 s recheck bound of fcache.h) the cached bytes are
 * served: that shows the cache is in the path, so the bump is what counts.
 */
START_TEST(fcache_gen_bump)
{
	struct ans	 a;

	req(COAP_TYPE_CON, COAP_GET, 0x0b01, "/hello", NULL, 0, &a);
	expect_payload(&a, "hello\n");

	th_put_str(tb.tmp, "www/hello.txt", "goodbye, cruel world\n");
	req(COAP_TYPE_CON, COAP_GET, 0x0b02, "/hello", NULL, 0, &a);
	expect_ack(&a, 0x0b02, COAP_CONTENT);
	expect_payload(&a, "hello\n");

	atomic_fetch_add(&tb.file_gen, 1);
	req(COAP_TYPE_CON, COAP_GET, 0x0b03, "/hello", NULL, 0, &a);
	expect_ack(&a, 0x0b03, COAP_CONTENT);
	expect_payload(&a, "goodbye, cruel world\n");

	/* And the file shrinks again. */
	th_put_str(tb.tmp, "www/hello.txt", "hi\n");
	atomic_fetch_add(&tb.file_gen, 1);
	req(COAP_TYPE_CON, COAP_GET, 0x0b04, "/hello", NULL, 0, &a);
	expect_payload(&a, "hi\n");
}
END_TEST

/* Without a generation bump, a cached file is checked again after 1 s. */
START_TEST(fcache_recheck_after_1s)
{
	const struct coap_opt *o;
	uint8_t		 tag1[8], tag2[8];
	struct ans	 a;

	req(COAP_TYPE_CON, COAP_GET, 0x0c01, "/hello", NULL, 0, &a);
	expect_payload(&a, "hello\n");
	ck_assert_ptr_nonnull(o = coap_msg_opt(&a.m, COAP_OPT_ETAG));
	ck_assert_uint_eq(o->len, 8);
	memcpy(tag1, o->val, 8);

	th_put_str(tb.tmp, "www/hello.txt", "goodbye, cruel world\n");
	now += NS_PER_SEC / 2;
	req(COAP_TYPE_CON, COAP_GET, 0x0c02, "/hello", NULL, 0, &a);
	expect_payload(&a, "hello\n");

	now += 2 * NS_PER_SEC;
	req(COAP_TYPE_CON, COAP_GET, 0x0c03, "/hello", NULL, 0, &a);
	expect_ack(&a, 0x0c03, COAP_CONTENT);
	expect_payload(&a, "goodbye, cruel world\n");
	/* RFC 7252 §5.10.6: a new representation has a new ETag. */
	ck_assert_ptr_nonnull(o = coap_msg_opt(&a.m, COAP_OPT_ETAG));
	ck_assert_uint_eq(o->len, 8);
	memcpy(tag2, o->val, 8);
	ck_assert(memcmp(tag1, tag2, 8) != 0);
}
END_TEST

/*
 * A cached small file that grows past one block is served block-wise
 * (RFC 7959 §2.4) from the disk, and cached again once it shrinks.
 */
START_TEST(fcache_file_grows_past_block)
{
	static char	 big[3001];
	uint8_t		 bv[1];
	struct topt	 o = { COAP_OPT_BLOCK2, bv, 1 };
	struct ans	 a;
	uint32_t	 v;
	size_t		 i;

	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = (char)('a' + (i * 7 + i / 26) % 26);
	big[sizeof(big) - 1] = '\0';

	req(COAP_TYPE_CON, COAP_GET, 0x0f01, "/hello", NULL, 0, &a);
	expect_payload(&a, "hello\n");

	th_put_str(tb.tmp, "www/hello.txt", big);
	atomic_fetch_add(&tb.file_gen, 1);
	req(COAP_TYPE_CON, COAP_GET, 0x0f02, "/hello", NULL, 0, &a);
	expect_ack(&a, 0x0f02, COAP_CONTENT);
	ck_assert_uint_eq(a.m.payload_len, 1024);
	ck_assert_mem_eq(a.m.payload, big, 1024);
	ck_assert(opt_u(&a.m, COAP_OPT_BLOCK2, &v));
	ck_assert_uint_eq(v, block_opt_encode(0, true, 6));
	ck_assert(opt_u(&a.m, COAP_OPT_SIZE2, &v));
	ck_assert_uint_eq(v, 3000);

	bv[0] = (uint8_t)block_opt_encode(1, false, 6);
	req(COAP_TYPE_CON, COAP_GET, 0x0f03, "/hello", &o, 1, &a);
	expect_ack(&a, 0x0f03, COAP_CONTENT);
	ck_assert_uint_eq(a.m.payload_len, 1024);
	ck_assert_mem_eq(a.m.payload, big + 1024, 1024);
	ck_assert(opt_u(&a.m, COAP_OPT_BLOCK2, &v));
	ck_assert_uint_eq(v, block_opt_encode(1, true, 6));

	bv[0] = (uint8_t)block_opt_encode(2, false, 6);
	req(COAP_TYPE_CON, COAP_GET, 0x0f04, "/hello", &o, 1, &a);
	expect_ack(&a, 0x0f04, COAP_CONTENT);
	ck_assert_uint_eq(a.m.payload_len, 952);
	ck_assert_mem_eq(a.m.payload, big + 2048, 952);
	ck_assert(opt_u(&a.m, COAP_OPT_BLOCK2, &v));
	ck_assert_uint_eq(v, block_opt_encode(2, false, 6));

	/* Past 1 s without a bump: still the big file, still whole. */
	now += 2 * NS_PER_SEC;
	req(COAP_TYPE_CON, COAP_GET, 0x0f05, "/hello", NULL, 0, &a);
	ck_assert_uint_eq(a.m.payload_len, 1024);
	ck_assert_mem_eq(a.m.payload, big, 1024);

	th_put_str(tb.tmp, "www/hello.txt", "hi\n");
	atomic_fetch_add(&tb.file_gen, 1);
	req(COAP_TYPE_CON, COAP_GET, 0x0f06, "/hello", NULL, 0, &a);
	expect_ack(&a, 0x0f06, COAP_CONTENT);
	expect_payload(&a, "hi\n");
	ck_assert_ptr_null(coap_msg_opt(&a.m, COAP_OPT_BLOCK2));
}
END_TEST

/*
 * After a reload (dispatch_set_cfg) that maps the same path to another
 * file, the new file is served at once: cached bytes belong to the
 * snapshot they were read under.
 */
START_TEST(fcache_reload_new_target)
{
	struct cfg	*c2;
	struct ans	 a;

	req(COAP_TYPE_CON, COAP_GET, 0x1001, "/hello", NULL, 0, &a);
	expect_payload(&a, "hello\n");

	th_put_str(tb.tmp, "www/other.txt", "other file\n");
	c2 = th_cfg_load(tb.tmp, "t2.conf", "routes = (\n"
	    "  { path = \"/hello\"; static = \"www/other.txt\"; }\n"
	    ");\n");
	dispatch_set_cfg(tb.d, c2);
	cfg_unref(tb.cfg);
	tb.cfg = c2;

	req(COAP_TYPE_CON, COAP_GET, 0x1002, "/hello", NULL, 0, &a);
	expect_ack(&a, 0x1002, COAP_CONTENT);
	expect_payload(&a, "other file\n");
	/* The old routes are gone with the old snapshot. */
	req(COAP_TYPE_CON, COAP_GET, 0x1003, "/files/hello.txt", NULL, 0,
	    &a);
	expect_ack(&a, 0x1003, COAP_NOT_FOUND);
}
END_TEST

static Suite *
dispatch_suite(void)
{
	Suite	*s = suite_create("dispatch");
	TCase	*msg = tcase_create("message");
	TCase	*opt = tcase_create("request");
	TCase	*dup = tcase_create("dedup");
	TCase	*wk = tcase_create("wellknown");
	TCase	*big = tcase_create("wellknown_block2");
	TCase	*fc = tcase_create("fcache");
	TCase	*ca = tcase_create("catchall");

	tcase_add_checked_fixture(msg, setup_basic, teardown);
	tcase_add_test(msg, rfc_con_get_piggybacked_ack);
	tcase_add_test(msg, rfc_non_get_non_response);
	tcase_add_test(msg, rfc_ping_rst);
	tcase_add_test(msg, rfc_empty_non_silent);
	tcase_add_test(msg, rfc_empty_with_bytes_format_error);
	tcase_add_test(msg, rfc_malformed_con_rst);
	tcase_add_test(msg, rfc_malformed_non_silent);
	tcase_add_test(msg, rfc_version_ignored);
	tcase_add_test(msg, short_datagram_ignored);
	tcase_add_test(msg, rfc_ack_rst_ignored);
	tcase_add_test(msg, rfc_response_as_con_rst);
	suite_add_tcase(s, msg);

	tcase_add_checked_fixture(opt, setup_basic, teardown);
	tcase_add_test(opt, rfc_unknown_critical_con_402);
	tcase_add_test(opt, rfc_bad_known_critical_402);
	tcase_add_test(opt, rfc_unknown_critical_non_silent);
	tcase_add_test(opt, rfc_unknown_elective_ignored);
	tcase_add_test(opt, rfc_proxy_uri_505);
	tcase_add_test(opt, no_route_404);
	tcase_add_test(opt, rfc_method_not_allowed_405);
	tcase_add_test(opt, rfc_accept_406);
	tcase_add_test(opt, rfc_etag_valid_203);
	tcase_add_test(opt, dot_segments_404);
	suite_add_tcase(s, opt);

	tcase_add_checked_fixture(dup, setup_basic, teardown);
	tcase_add_test(dup, rfc_dup_con_same_bytes);
	tcase_add_test(dup, rfc_dup_other_port_not_dup);
	tcase_add_test(dup, rfc_dup_non_silent);
	tcase_add_test(dup, rfc_dedup_expires);
	suite_add_tcase(s, dup);

	tcase_add_checked_fixture(wk, setup_basic, teardown);
	tcase_add_test(wk, rfc_wellknown);
	tcase_add_test(wk, rfc_wellknown_query_rt);
	tcase_add_test(wk, rfc_wellknown_accept_406);
	tcase_add_test(wk, rfc_wellknown_block2_errors);
	suite_add_tcase(s, wk);

	tcase_add_checked_fixture(ca, setup_catchall, teardown);
	tcase_add_test(ca, rfc_wellknown_beside_catchall);
	suite_add_tcase(s, ca);

	tcase_add_checked_fixture(big, setup_big, teardown);
	tcase_add_test(big, rfc_wellknown_block2);
	suite_add_tcase(s, big);

	tcase_add_checked_fixture(fc, setup_basic, teardown);
	tcase_add_test(fc, fcache_gen_bump);
	tcase_add_test(fc, fcache_recheck_after_1s);
	tcase_add_test(fc, fcache_file_grows_past_block);
	tcase_add_test(fc, fcache_reload_new_target);
	suite_add_tcase(s, fc);
	return s;
}

int
main(void)
{
	return th_run(dispatch_suite());
}
