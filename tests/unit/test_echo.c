/*
 * test_echo.c - the amplification guard and Echo (RFC 9175) in the engine
 * (src/serve/dispatch.c with src/proto/amp.c): a plain CoAP address that
 * has not answered a challenge gets at most 3x what it sent, a 4.01 with
 * Echo instead; the Echo value is bound to the address; a write let in by
 * a net: entry needs a verified address; cached answers obey the budget
 * once a verification expired; DTLS peers are never challenged.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "adapt/cfg.h"
#include "base/clock.h"
#include "proto/amp.h"
#include "proto/coap_msg.h"
#include "proto/metrics.h"
#include "serve/dispatch.h"
#include "serve/handler.h"

#include "helpers.h"

#define T0_NS	(1000 * NS_PER_SEC)

static struct th_bed		 tb;
static uint64_t			 now;
static uint16_t			 mid = 0x100;

struct ans {
	uint8_t		 buf[COAP_MAX_MSG];
	size_t		 len;
	struct coap_msg	 m;
};

static const char conf[] =
	"limits = { echo_lifetime_s = 10; };\n"
	"routes = (\n"
	"  { path = \"/f\"; static = \"www\"; },\n"
	"  { path = \"/w\"; static = \"www\"; writable = true;\n"
	"    allow = [ \"net:192.0.2.0/24\" ]; }\n"
	");\n";

static void
setup(void)
{
	static char	 big[1000];

	th_mkdtemp(tb.tmp, sizeof(tb.tmp), "echo");
	th_mkdir(tb.tmp, "www");
	memset(big, 'b', sizeof(big));
	th_put(tb.tmp, "www/big.bin", big, sizeof(big));
	th_put_str(tb.tmp, "www/small.txt", "ok");
	th_put_str(tb.tmp, "www/state.txt", "old");
	th_bed_start(&tb, conf, 7);
	now = T0_NS;
}

static void
teardown(void)
{
	th_bed_end(&tb);
}

static struct sockaddr_in
host(const char *a)
{
	return th_v4(a, 5683);
}

/*
 * A request (type, code, path of two segments, optional Echo value and
 * payload) from `from`, over DTLS when psk is set; returns the request's
 * length, the answer in *a.
 */
static size_t
ask(const struct sockaddr_in *from, const char *psk, uint8_t type,
    uint8_t code, uint16_t id, const char *seg1, const char *seg2,
    const struct coap_opt *echo, const char *payload, struct ans *a)
{
	struct dispatch_peer	 p = { (const struct sockaddr *)from,
	    sizeof(*from), psk, 0, 0 };
	uint8_t			 buf[256];
	struct coap_enc		 e;
	ssize_t			 n;

	coap_enc_init(&e, buf, sizeof(buf), type, code, id,
	    (const uint8_t *)"tk", 2);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, seg1, strlen(seg1));
	coap_enc_opt(&e, COAP_OPT_URI_PATH, seg2, strlen(seg2));
	if (echo != NULL)
		coap_enc_opt(&e, COAP_OPT_ECHO, echo->val, echo->len);
	if (payload != NULL)
		coap_enc_payload(&e, payload, strlen(payload));
	n = coap_enc_finish(&e);
	ck_assert_int_gt(n, 0);
	memset(a, 0, sizeof(*a));
	a->len = dispatch_datagram(tb.d, &p, buf, (size_t)n, now, a->buf,
	    sizeof(a->buf));
	if (a->len > 0)
		ck_assert_int_eq(coap_msg_parse(&a->m, a->buf, a->len), 0);
	return (size_t)n;
}

/* a's Echo option, its value copied into v (AMP_ECHO_LEN bytes). */
static struct coap_opt
echo_of(const struct ans *a, uint8_t *v)
{
	const struct coap_opt	*o = coap_msg_opt(&a->m, COAP_OPT_ECHO);
	struct coap_opt		 c;

	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(o->len, AMP_ECHO_LEN);
	memcpy(v, o->val, o->len);
	c = *o;
	c.val = v;
	return c;
}

START_TEST(rfc9175_amplification)
{
	struct sockaddr_in	 a = host("198.51.100.1"), b = host("198.51.100.2");
	struct coap_opt		 echo;
	uint8_t			 ev[AMP_ECHO_LEN];
	struct ans		 r, s;
	size_t			 qlen;

	qlen = ask(&a, NULL, COAP_TYPE_CON, COAP_GET, mid++, "f", "big.bin",
	    NULL, NULL, &r);
	ck_assert_uint_eq(r.m.type, COAP_TYPE_ACK);
	ck_assert_uint_eq(r.m.code, COAP_UNAUTHORIZED);
	ck_assert_uint_le(r.len, 3 * qlen);
	ck_assert_uint_eq(tb.met.amp_challenges, 1);
	echo = echo_of(&r, ev);
	/* a small answer goes without proof */
	ask(&b, NULL, COAP_TYPE_CON, COAP_GET, mid++, "f", "small.txt", NULL,
	    NULL, &s);
	ck_assert_uint_eq(s.m.code, COAP_CONTENT);
	/* another address cannot use a's value; a NON is challenged too */
	ask(&b, NULL, COAP_TYPE_NON, COAP_GET, mid++, "f", "big.bin", &echo,
	    NULL, &s);
	ck_assert_uint_eq(s.m.type, COAP_TYPE_NON);
	ck_assert_uint_eq(s.m.code, COAP_UNAUTHORIZED);
	ck_assert_uint_eq(tb.met.echo_verified, 0);
	/* a's repeat with its value: the whole answer, and from then on */
	ask(&a, NULL, COAP_TYPE_CON, COAP_GET, mid++, "f", "big.bin", &echo,
	    NULL, &r);
	ck_assert_uint_eq(r.m.code, COAP_CONTENT);
	ck_assert_uint_eq(r.m.payload_len, 1000);
	ck_assert_uint_eq(tb.met.echo_verified, 1);
	ask(&a, NULL, COAP_TYPE_CON, COAP_GET, mid++, "f", "big.bin", NULL,
	    NULL, &r);
	ck_assert_uint_eq(r.m.code, COAP_CONTENT);
	/* a DTLS peer is never challenged */
	ask(&b, "sensor", COAP_TYPE_CON, COAP_GET, mid++, "f", "big.bin", NULL,
	    NULL, &s);
	ck_assert_uint_eq(s.m.code, COAP_CONTENT);
}
END_TEST

/* Once a's verification expired, its cached 1000 bytes are not resent. */
START_TEST(cached_answer_obeys_budget)
{
	struct sockaddr_in	 a = host("198.51.100.1");
	struct coap_opt		 echo;
	uint8_t			 ev[AMP_ECHO_LEN];
	struct ans		 r;
	uint16_t		 id;

	ask(&a, NULL, COAP_TYPE_CON, COAP_GET, mid++, "f", "big.bin", NULL,
	    NULL, &r);
	echo = echo_of(&r, ev);
	id = mid++;
	ask(&a, NULL, COAP_TYPE_CON, COAP_GET, id, "f", "big.bin", &echo, NULL,
	    &r);
	ck_assert_uint_eq(r.m.code, COAP_CONTENT);
	/* a duplicate while verified: the cached answer */
	ask(&a, NULL, COAP_TYPE_CON, COAP_GET, id, "f", "big.bin", NULL, NULL,
	    &r);
	ck_assert_uint_eq(r.m.payload_len, 1000);
	ck_assert_uint_eq(tb.met.dup_con, 1);
	/* echo_lifetime_s = 10 later (and in a new window): dropped */
	now += 11 * NS_PER_SEC;
	ask(&a, NULL, COAP_TYPE_CON, COAP_GET, id, "f", "big.bin", NULL, NULL,
	    &r);
	ck_assert_uint_eq(r.len, 0);
	ck_assert_uint_eq(tb.met.drops[DROP_AMPLIFICATION], 1);
}
END_TEST

/* A write a net: entry lets in needs an address that answered Echo. */
START_TEST(net_write_needs_echo)
{
	struct sockaddr_in	 a = host("192.0.2.7"), o = host("192.0.2.8");
	struct coap_opt		 echo, other;
	uint8_t			 ev[AMP_ECHO_LEN], ov[AMP_ECHO_LEN];
	struct ans		 r;
	char			 path[PATH_MAX], got[8] = "";
	FILE			*f;

	ask(&a, NULL, COAP_TYPE_CON, COAP_PUT, mid++, "w", "state.txt", NULL,
	    "new", &r);
	ck_assert_uint_eq(r.m.code, COAP_UNAUTHORIZED);
	ck_assert_uint_eq(tb.met.echo_required, 1);
	echo = echo_of(&r, ev);
	/* a value made for another address does not verify a */
	ask(&o, NULL, COAP_TYPE_CON, COAP_DELETE, mid++, "w", "state.txt",
	    NULL, NULL, &r);
	other = echo_of(&r, ov);
	ask(&a, NULL, COAP_TYPE_CON, COAP_PUT, mid++, "w", "state.txt", &other,
	    "new", &r);
	ck_assert_uint_eq(r.m.code, COAP_UNAUTHORIZED);
	snprintf(path, sizeof(path), "%s/www/state.txt", tb.tmp);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(got, sizeof(got), f));
	fclose(f);
	ck_assert_str_eq(got, "old");
	/* reading needs nothing; outside the net: range it is 4.03 */
	ask(&a, NULL, COAP_TYPE_CON, COAP_GET, mid++, "w", "state.txt", NULL,
	    NULL, &r);
	ck_assert_uint_eq(r.m.code, COAP_CONTENT);
	{
		struct sockaddr_in x = host("203.0.113.1");

		ask(&x, NULL, COAP_TYPE_CON, COAP_PUT, mid++, "w", "state.txt",
		    NULL, "new", &r);
		ck_assert_uint_eq(r.m.code, COAP_FORBIDDEN);
	}
	ask(&a, NULL, COAP_TYPE_CON, COAP_PUT, mid++, "w", "state.txt", &echo,
	    "new", &r);
	ck_assert_uint_eq(r.m.code, COAP_CHANGED);
}
END_TEST

static Suite *
echo_suite(void)
{
	Suite *s = suite_create("echo");
	TCase *tc = tcase_create("guard");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rfc9175_amplification);
	tcase_add_test(tc, cached_answer_obeys_budget);
	tcase_add_test(tc, net_write_needs_echo);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(echo_suite());
}
