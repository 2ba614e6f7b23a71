/*
 * test_limit.c - rate limits and load shedding seen through the engine
 * (src/serve/limit.c via dispatch_datagram()): 4.29 with Max-Age for a CON
 * (RFC 8516), one NON 4.29 a second, identity and route buckets, the
 * throttled level at half rate, shedding with cached retransmissions.
 */
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "adapt/cfg.h"
#include "base/clock.h"
#include "proto/coap_msg.h"
#include "proto/metrics.h"
#include "serve/dispatch.h"
#include "serve/handler.h"

#include "helpers.h"

#define T0_NS	(1000 * NS_PER_SEC)
#define MS	NS_PER_MS

static struct th_bed		 tb;
static uint64_t			 now;
static uint16_t			 next_mid = 0x100;

struct ans {
	uint8_t		 buf[COAP_MAX_MSG];
	size_t		 len;
	struct coap_msg	 m;
};

static void
start(const char *limits)
{
	char	 text[1024];

	th_mkdtemp(tb.tmp, sizeof(tb.tmp), "limit");
	th_put_str(tb.tmp, "hello.txt", "hello\n");
	snprintf(text, sizeof(text), "limits = { %s };\n"
	    "routes = ( { path = \"/hello\"; static = \"hello.txt\"; },\n"
	    "  { path = \"/strict\"; static = \"hello.txt\"; rate = 1; } );\n",
	    limits);
	th_bed_start(&tb, text, 7);
	now = T0_NS;
}

static void
teardown(void)
{
	th_bed_end(&tb);
}

/* Request path from addr (identity id or NULL) with mid; a->len 0: none. */
static void
send_req(const char *addr, const char *id, uint8_t type, uint16_t mid,
    const char *path, struct ans *a)
{
	static const uint8_t	 tok[2] = { 0xab, 0xcd };
	struct sockaddr_in	 s = th_v4(addr, 40000);
	struct dispatch_peer	 p;
	struct coap_enc		 e;
	uint8_t			 in[64];
	ssize_t			 n;

	coap_enc_init(&e, in, sizeof(in), type, COAP_GET, mid, tok, 2);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, path, strlen(path));
	ck_assert_int_gt(n = coap_enc_finish(&e), 0);
	memset(&p, 0, sizeof(p));
	p.addr = (struct sockaddr *)&s;
	p.addrlen = sizeof(s);
	p.psk_identity = id;
	p.scope = id != NULL ? 1 : 0;
	memset(a, 0, sizeof(*a));
	a->len = dispatch_datagram(tb.d, &p, in, (size_t)n, now, a->buf,
	    sizeof(a->buf));
	if (a->len > 0)
		ck_assert_int_eq(coap_msg_parse(&a->m, a->buf, a->len), 0);
}

static uint8_t
get(const char *addr, const char *path)
{
	struct ans	 a;

	send_req(addr, NULL, COAP_TYPE_CON, next_mid++, path, &a);
	ck_assert_uint_gt(a.len, 0);
	return a.m.code;
}

static uint32_t
max_age(const struct ans *a)
{
	const struct coap_opt	*o = coap_msg_opt(&a->m, COAP_OPT_MAX_AGE);
	uint32_t		 v;

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(coap_opt_uint(o, &v), 0);
	return v;
}

/* RFC 8516: 4.29 piggybacked, with Max-Age; not cached, judged again. */
START_TEST(con_over_rate_429)
{
	struct ans	 a;
	int		 i;

	start("rate = 2; burst = 3;");
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(get("10.0.0.1", "hello"), COAP_CONTENT);
	send_req("10.0.0.1", NULL, COAP_TYPE_CON, 0x777, "hello", &a);
	ck_assert_uint_eq(a.m.type, COAP_TYPE_ACK);
	ck_assert_uint_eq(a.m.mid, 0x777);
	ck_assert_uint_eq(a.m.code, COAP_TOO_MANY_REQUESTS);
	ck_assert_uint_eq(a.m.tkl, 2);
	ck_assert_uint_eq(max_age(&a), 1);
	/* another client is not affected */
	ck_assert_uint_eq(get("10.0.0.2", "hello"), COAP_CONTENT);
	/* the retransmission 500 ms later finds a token: served */
	now += 500 * MS;
	send_req("10.0.0.1", NULL, COAP_TYPE_CON, 0x777, "hello", &a);
	ck_assert_uint_eq(a.m.code, COAP_CONTENT);
	ck_assert_uint_eq(metrics_get(&tb.met.rate_limited[RL_ADDRESS]), 1);
	teardown();
}
END_TEST

/* A NON over its rate: one NON 4.29 per second, the rest dropped. */
START_TEST(non_over_rate_once_per_second)
{
	struct ans	 a;
	int		 i, answered = 0;

	start("rate = 1; burst = 1;");
	ck_assert_uint_eq(get("10.0.0.1", "hello"), COAP_CONTENT);
	for (i = 0; i < 5; i++) {
		send_req("10.0.0.1", NULL, COAP_TYPE_NON, next_mid++, "hello",
		    &a);
		if (a.len > 0) {
			answered++;
			ck_assert_uint_eq(a.m.type, COAP_TYPE_NON);
			ck_assert_uint_eq(a.m.code, COAP_TOO_MANY_REQUESTS);
		}
		now += 100 * MS;
	}
	ck_assert_int_eq(answered, 1);
	ck_assert_uint_eq(metrics_get(&tb.met.drops[DROP_RATE_NON]), 4);
	teardown();
}
END_TEST

/* Over DTLS the identity has a bucket of its own, across addresses. */
START_TEST(identity_bucket)
{
	struct ans	 a;

	start("identity_rate = 1; identity_burst = 2;");
	send_req("10.0.0.1", "dev", COAP_TYPE_CON, 1, "hello", &a);
	ck_assert_uint_eq(a.m.code, COAP_CONTENT);
	send_req("10.0.0.2", "dev", COAP_TYPE_CON, 2, "hello", &a);
	ck_assert_uint_eq(a.m.code, COAP_CONTENT);
	send_req("10.0.0.3", "dev", COAP_TYPE_CON, 3, "hello", &a);
	ck_assert_uint_eq(a.m.code, COAP_TOO_MANY_REQUESTS);
	send_req("10.0.0.3", "other", COAP_TYPE_CON, 4, "hello", &a);
	ck_assert_uint_eq(a.m.code, COAP_CONTENT);
	/* plain CoAP has no identity: no limit at all here */
	ck_assert_uint_eq(get("10.0.0.3", "hello"), COAP_CONTENT);
	ck_assert_uint_eq(metrics_get(&tb.met.rate_limited[RL_IDENTITY]), 1);
	teardown();
}
END_TEST

/* A route's own rate, without limiting the client's other routes. */
START_TEST(route_bucket)
{
	start("rate = 0;");
	ck_assert_uint_eq(get("10.0.0.1", "strict"), COAP_CONTENT);
	ck_assert_uint_eq(get("10.0.0.1", "strict"), COAP_TOO_MANY_REQUESTS);
	ck_assert_uint_eq(get("10.0.0.2", "strict"), COAP_CONTENT);
	ck_assert_uint_eq(get("10.0.0.1", "hello"), COAP_CONTENT);
	ck_assert_uint_eq(metrics_get(&tb.met.rate_limited[RL_ROUTE]), 1);
	teardown();
}
END_TEST

/* Throttled: the rate is halved. */
START_TEST(throttled_half_rate)
{
	const char	*lvl;
	unsigned	 pct;

	start("rate = 2; burst = 1;");
	ck_assert_uint_eq(get("10.0.0.1", "hello"), COAP_CONTENT);
	now += 500 * MS;
	ck_assert_uint_eq(get("10.0.0.1", "hello"), COAP_CONTENT);
	ck_assert(dispatch_load(tb.d, 80, now, &lvl, &pct));
	ck_assert_str_eq(lvl, "throttled");
	ck_assert_uint_eq(pct, 80);
	/* one token a second now: 500 ms after one is too early */
	now += 500 * MS;
	ck_assert_uint_eq(get("10.0.0.1", "hello"), COAP_CONTENT);
	now += 500 * MS;
	ck_assert_uint_eq(get("10.0.0.1", "hello"), COAP_TOO_MANY_REQUESTS);
	now += 500 * MS;
	ck_assert_uint_eq(get("10.0.0.1", "hello"), COAP_CONTENT);
	ck_assert_uint_eq(metrics_get(&tb.met.load_entered[RL_THROTTLED]), 1);
	/* the route's 1/s is halved too (an interval of 2 s) */
	ck_assert_uint_eq(get("10.0.0.9", "strict"), COAP_CONTENT);
	now += 1000 * MS;
	ck_assert_uint_eq(get("10.0.0.9", "strict"), COAP_TOO_MANY_REQUESTS);
	now += 1000 * MS;
	ck_assert_uint_eq(get("10.0.0.9", "strict"), COAP_CONTENT);
	teardown();
}
END_TEST

/* Shedding: cached retransmission, 5.03 + Max-Age, NON dropped, back. */
START_TEST(shedding)
{
	struct ans	 first, a;
	const char	*lvl;
	unsigned	 pct;

	start("shed_max_age_s = 9;");
	send_req("10.0.0.1", NULL, COAP_TYPE_CON, 0x42, "hello", &first);
	ck_assert_uint_eq(first.m.code, COAP_CONTENT);
	ck_assert(dispatch_load(tb.d, 95, now, &lvl, &pct));
	ck_assert_str_eq(lvl, "shedding");
	ck_assert_uint_eq(metrics_get(&tb.met.load_level), RL_SHEDDING);
	/* RFC 7252 §4.5: the retransmission gets the same bytes */
	send_req("10.0.0.1", NULL, COAP_TYPE_CON, 0x42, "hello", &a);
	ck_assert_uint_eq(a.len, first.len);
	ck_assert(memcmp(a.buf, first.buf, a.len) == 0);
	send_req("10.0.0.1", NULL, COAP_TYPE_CON, 0x43, "hello", &a);
	ck_assert_uint_eq(a.m.type, COAP_TYPE_ACK);
	ck_assert_uint_eq(a.m.code, COAP_SERVICE_UNAVAILABLE);
	ck_assert_uint_eq(max_age(&a), 9);
	send_req("10.0.0.1", NULL, COAP_TYPE_NON, 0x44, "hello", &a);
	ck_assert_uint_eq(a.len, 0);
	ck_assert_uint_eq(metrics_get(&tb.met.drops[DROP_SHED_NON]), 1);
	ck_assert_uint_eq(metrics_get(&tb.met.shed_503), 1);
	/* held for a second before it falls; then served again */
	ck_assert(!dispatch_load(tb.d, 0, now + 500 * MS, &lvl, &pct));
	now += 1100 * MS;
	ck_assert(dispatch_load(tb.d, 0, now, &lvl, &pct));
	ck_assert_str_eq(lvl, "normal");
	/* 0x43 was not cached as 5.03: served now */
	send_req("10.0.0.1", NULL, COAP_TYPE_CON, 0x43, "hello", &a);
	ck_assert_uint_eq(a.m.code, COAP_CONTENT);
	teardown();
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("limit");
	TCase	*tc = tcase_create("engine");

	tcase_add_test(tc, con_over_rate_429);
	tcase_add_test(tc, non_over_rate_once_per_second);
	tcase_add_test(tc, identity_bucket);
	tcase_add_test(tc, route_bucket);
	tcase_add_test(tc, throttled_half_rate);
	tcase_add_test(tc, shedding);
	suite_add_tcase(s, tc);
	return th_run(s);
}
