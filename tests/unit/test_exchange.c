/*
 * test_exchange.c - deduplication cache (src/proto/exchange.c), RFC 7252 §4.5.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "proto/coap_msg.h"
#include "proto/exchange.h"

#include "helpers.h"

#define SEC	1000000000ULL
#define LIFE	(247 * SEC)	/* RFC 7252 §4.8.2 EXCHANGE_LIFETIME */

#define SA(x)	((const struct sockaddr *)&(x)), (socklen_t)sizeof(x)

START_TEST(new_rejects_zero)
{
	ck_assert_ptr_null(exchange_cache_new(0, LIFE));
	ck_assert_int_eq(errno, EINVAL);
	exchange_cache_free(NULL);
}
END_TEST

/* RFC 7252 §4.5: a duplicate within the lifetime finds the response. */
START_TEST(rfc_hit_and_miss)
{
	struct exchange_cache *c = exchange_cache_new(8, LIFE);
	struct sockaddr_in a = th_v4("192.0.2.1", 5683);
	const struct exchange *e;
	const uint8_t resp[] = { 0x60, 0x45, 0x12, 0x34, 0xff, 'h', 'i' };

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(exchange_lookup(c, 0, SA(a), 0x1234, 1));
	exchange_store(c, 0, SA(a), 0x1234, 10, resp, sizeof(resp));
	ck_assert_uint_eq(exchange_count(c), 1);
	e = exchange_lookup(c, 0, SA(a), 0x1234, 20);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->mid, 0x1234);
	ck_assert_uint_eq(e->created_ns, 10);
	ck_assert_uint_eq(e->resp_len, sizeof(resp));
	ck_assert_mem_eq(e->resp, resp, sizeof(resp));
	/* Other MID, same peer: miss. */
	ck_assert_ptr_null(exchange_lookup(c, 0, SA(a), 0x1235, 20));
	exchange_cache_free(c);
}
END_TEST

/*
 * Same address, port and MID over another transport (plain CoAP against a
 * DTLS session, or another DTLS session): never the cached answer, or a
 * spoofed plain datagram could replay what a DTLS peer was told.
 */
START_TEST(scopes_distinct)
{
	struct exchange_cache *c = exchange_cache_new(8, LIFE);
	struct sockaddr_in a = th_v4("192.0.2.1", 5683);
	const uint8_t resp[] = { 0x60, 0x45, 0x12, 0x34, 0xff, 's' };

	ck_assert_ptr_nonnull(c);
	exchange_store(c, 1 | 7u << 8, SA(a), 0x1234, 10, resp, sizeof(resp));
	ck_assert_ptr_nonnull(exchange_lookup(c, 1 | 7u << 8, SA(a), 0x1234,
	    20));
	ck_assert_ptr_null(exchange_lookup(c, 0, SA(a), 0x1234, 20));
	ck_assert_ptr_null(exchange_lookup(c, 1, SA(a), 0x1234, 20));
	ck_assert_ptr_null(exchange_lookup(c, 1 | 8u << 8, SA(a), 0x1234,
	    20));
	exchange_cache_free(c);
}
END_TEST

START_TEST(seen_without_response)
{
	struct exchange_cache *c = exchange_cache_new(4, LIFE);
	struct sockaddr_in a = th_v4("192.0.2.1", 5683);
	const struct exchange *e;

	exchange_store(c, 0, SA(a), 7, 1, NULL, 0);
	e = exchange_lookup(c, 0, SA(a), 7, 2);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->resp_len, 0);
	/* Too large to replay whole: remembered as seen, no response. */
	exchange_store(c, 0, SA(a), 8, 1, (const uint8_t *)"", COAP_MAX_MSG + 1);
	e = exchange_lookup(c, 0, SA(a), 8, 2);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->resp_len, 0);
	exchange_cache_free(c);
}
END_TEST

/* A pending request later answered: the second store replaces the first. */
START_TEST(replace)
{
	struct exchange_cache *c = exchange_cache_new(4, LIFE);
	struct sockaddr_in a = th_v4("192.0.2.1", 5683);
	const struct exchange *e;
	uint8_t big[COAP_MAX_MSG];

	memset(big, 0xab, sizeof(big));
	exchange_store(c, 0, SA(a), 9, 100, NULL, 0);
	exchange_store(c, 0, SA(a), 9, 200, big, sizeof(big));
	ck_assert_uint_eq(exchange_count(c), 1);
	e = exchange_lookup(c, 0, SA(a), 9, 300);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->created_ns, 200);
	ck_assert_uint_eq(e->resp_len, COAP_MAX_MSG);
	ck_assert_mem_eq(e->resp, big, sizeof(big));
	exchange_store(c, 0, SA(a), 9, 300, (const uint8_t *)"ab", 2);
	e = exchange_lookup(c, 0, SA(a), 9, 300);
	ck_assert_uint_eq(e->resp_len, 2);
	ck_assert_mem_eq(e->resp, "ab", 2);
	/* Handing back the cached bytes themselves is fine. */
	exchange_store(c, 0, SA(a), 9, 301, e->resp, e->resp_len);
	e = exchange_lookup(c, 0, SA(a), 9, 301);
	ck_assert_mem_eq(e->resp, "ab", 2);
	ck_assert_uint_eq(exchange_count(c), 1);
	exchange_cache_free(c);
}
END_TEST

/* Bounded memory: a full cache forgets its oldest entry first. */
START_TEST(evicts_oldest)
{
	struct exchange_cache *c = exchange_cache_new(3, LIFE);
	struct sockaddr_in a = th_v4("192.0.2.1", 5683);
	uint16_t mid;

	for (mid = 1; mid <= 3; mid++)
		exchange_store(c, 0, SA(a), mid, mid, &(uint8_t){ (uint8_t)mid },
		    1);
	ck_assert_uint_eq(exchange_count(c), 3);
	exchange_store(c, 0, SA(a), 4, 4, (const uint8_t *)"d", 1);
	ck_assert_uint_eq(exchange_count(c), 3);
	ck_assert_ptr_null(exchange_lookup(c, 0, SA(a), 1, 5));
	ck_assert_ptr_nonnull(exchange_lookup(c, 0, SA(a), 2, 5));
	ck_assert_ptr_nonnull(exchange_lookup(c, 0, SA(a), 3, 5));
	ck_assert_ptr_nonnull(exchange_lookup(c, 0, SA(a), 4, 5));

	/* Replacing 2 makes it the newest: 3 goes next. */
	exchange_store(c, 0, SA(a), 2, 6, (const uint8_t *)"b", 1);
	exchange_store(c, 0, SA(a), 5, 7, (const uint8_t *)"e", 1);
	ck_assert_ptr_null(exchange_lookup(c, 0, SA(a), 3, 8));
	ck_assert_ptr_nonnull(exchange_lookup(c, 0, SA(a), 2, 8));
	ck_assert_ptr_nonnull(exchange_lookup(c, 0, SA(a), 4, 8));
	ck_assert_ptr_nonnull(exchange_lookup(c, 0, SA(a), 5, 8));
	ck_assert_mem_eq(exchange_lookup(c, 0, SA(a), 5, 8)->resp, "e", 1);
	exchange_cache_free(c);
}
END_TEST

/* RFC 7252 §4.5: dedup lasts EXCHANGE_LIFETIME, not longer. */
START_TEST(rfc_expiry)
{
	struct exchange_cache *c = exchange_cache_new(8, LIFE);
	struct sockaddr_in a = th_v4("192.0.2.1", 5683);

	exchange_store(c, 0, SA(a), 1, 1 * SEC, (const uint8_t *)"x", 1);
	exchange_store(c, 0, SA(a), 2, 100 * SEC, (const uint8_t *)"y", 1);
	ck_assert_ptr_nonnull(exchange_lookup(c, 0, SA(a), 1, LIFE));
	ck_assert_uint_eq(exchange_count(c), 2);
	ck_assert_ptr_null(exchange_lookup(c, 0, SA(a), 1, LIFE + 1 * SEC));
	ck_assert_uint_eq(exchange_count(c), 1);
	ck_assert_ptr_nonnull(exchange_lookup(c, 0, SA(a), 2, LIFE + 99 * SEC));
	ck_assert_ptr_null(exchange_lookup(c, 0, SA(a), 2, LIFE + 100 * SEC));
	ck_assert_uint_eq(exchange_count(c), 0);
	/* A store after expiry starts afresh. */
	exchange_store(c, 0, SA(a), 1, 400 * SEC, (const uint8_t *)"z", 1);
	ck_assert_uint_eq(exchange_count(c), 1);
	ck_assert_mem_eq(exchange_lookup(c, 0, SA(a), 1, 401 * SEC)->resp, "z",
	    1);
	exchange_cache_free(c);
}
END_TEST

/* The key is family, address, port (and IPv6 scope) plus MID. */
START_TEST(peers_distinct)
{
	struct exchange_cache *c = exchange_cache_new(16, LIFE);
	struct sockaddr_in a = th_v4("192.0.2.1", 5683);
	struct sockaddr_in a2 = th_v4("192.0.2.1", 5684);
	struct sockaddr_in b = th_v4("192.0.2.2", 5683);
	struct sockaddr_in6 m = th_v6("::ffff:192.0.2.1", 5683, 0);
	struct sockaddr_in6 l1 = th_v6("fe80::1", 5683, 1);
	struct sockaddr_in6 l2 = th_v6("fe80::1", 5683, 2);
	struct sockaddr_in again = th_v4("192.0.2.1", 5683);
	const struct exchange *e;

	exchange_store(c, 0, SA(a), 1, 1, (const uint8_t *)"a", 1);
	exchange_store(c, 0, SA(a2), 1, 1, (const uint8_t *)"p", 1);
	exchange_store(c, 0, SA(b), 1, 1, (const uint8_t *)"b", 1);
	exchange_store(c, 0, SA(m), 1, 1, (const uint8_t *)"m", 1);
	exchange_store(c, 0, SA(l1), 1, 1, (const uint8_t *)"1", 1);
	exchange_store(c, 0, SA(l2), 1, 1, (const uint8_t *)"2", 1);
	ck_assert_uint_eq(exchange_count(c), 6);
	ck_assert_mem_eq(exchange_lookup(c, 0, SA(a), 1, 2)->resp, "a", 1);
	ck_assert_mem_eq(exchange_lookup(c, 0, SA(a2), 1, 2)->resp, "p", 1);
	ck_assert_mem_eq(exchange_lookup(c, 0, SA(b), 1, 2)->resp, "b", 1);
	ck_assert_mem_eq(exchange_lookup(c, 0, SA(m), 1, 2)->resp, "m", 1);
	ck_assert_mem_eq(exchange_lookup(c, 0, SA(l1), 1, 2)->resp, "1", 1);
	ck_assert_mem_eq(exchange_lookup(c, 0, SA(l2), 1, 2)->resp, "2", 1);
	/* Another struct with equal fields is the same peer. */
	e = exchange_lookup(c, 0, SA(again), 1, 2);
	ck_assert_ptr_nonnull(e);
	ck_assert_mem_eq(e->resp, "a", 1);
	/* The flow label does not name a peer (net_addr_same()). */
	l1.sin6_flowinfo = htonl(0x12345);
	ck_assert_mem_eq(exchange_lookup(c, 0, SA(l1), 1, 2)->resp, "1", 1);
	exchange_cache_free(c);
}
END_TEST

/* Only UDP endpoints are cached: a longer address is never stored. */
START_TEST(long_peer_not_cached)
{
	struct exchange_cache *c = exchange_cache_new(4, LIFE);
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	exchange_store(c, 0, SA(ss), 1, 1, (const uint8_t *)"u", 1);
	ck_assert_uint_eq(exchange_count(c), 0);
	ck_assert_ptr_null(exchange_lookup(c, 0, SA(ss), 1, 2));
	ck_assert_ptr_null(exchange_lookup(c, 0, NULL, 0, 1, 2));
	exchange_cache_free(c);
}
END_TEST

/*
 * Random stores and lookups against a plain array model, with a table small
 * enough that probe runs wrap and deletions shift entries back.
 */
#define MODEL_MAX	37
#define MODEL_KEYS	300

struct model_ent {
	int		 key;
	uint64_t	 t;
	uint8_t		 byte;
};

START_TEST(model)
{
	struct exchange_cache *c = exchange_cache_new(MODEL_MAX, 500);
	struct model_ent ents[MODEL_MAX];
	const struct exchange *e;
	struct sockaddr_in6 p;
	size_t n = 0, i, j;
	uint64_t now = 1000;
	unsigned seed = 12345;
	int step, key, found;
	uint8_t byte;

	for (step = 0; step < 200000; step++) {
		now += (uint64_t)(rand_r(&seed) % 7);
		key = rand_r(&seed) % MODEL_KEYS;
		p = th_v6("2001:db8::1", (uint16_t)(1000 + key % 5), 0);
		/* Drop what expired, as the cache does. */
		for (i = 0, j = 0; i < n; i++)
			if (now - ents[i].t < 500)
				ents[j++] = ents[i];
		n = j;
		found = -1;
		for (i = 0; i < n; i++)
			if (ents[i].key == key)
				found = (int)i;
		if (rand_r(&seed) % 2) {
			e = exchange_lookup(c, 0, SA(p), (uint16_t)(key / 5),
			    now);
			if (found < 0) {
				ck_assert_ptr_null(e);
			} else {
				ck_assert_ptr_nonnull(e);
				ck_assert_uint_eq(e->resp[0],
				    ents[found].byte);
			}
		} else {
			byte = (uint8_t)rand_r(&seed);
			exchange_store(c, 0, SA(p), (uint16_t)(key / 5), now,
			    &byte, 1);
			if (found >= 0) {
				memmove(&ents[found], &ents[found + 1],
				    (n - (size_t)found - 1) * sizeof(ents[0]));
				n--;
			} else if (n == MODEL_MAX) {
				memmove(&ents[0], &ents[1],
				    (n - 1) * sizeof(ents[0]));
				n--;
			}
			ents[n].key = key;
			ents[n].t = now;
			ents[n].byte = byte;
			n++;
		}
		ck_assert_uint_eq(exchange_count(c), n);
	}
	exchange_cache_free(c);
}
END_TEST

static Suite *
exchange_suite(void)
{
	Suite *s = suite_create("exchange");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, new_rejects_zero);
	tcase_add_test(tc, rfc_hit_and_miss);
	tcase_add_test(tc, scopes_distinct);
	tcase_add_test(tc, long_peer_not_cached);
	tcase_add_test(tc, seen_without_response);
	tcase_add_test(tc, replace);
	tcase_add_test(tc, evicts_oldest);
	tcase_add_test(tc, rfc_expiry);
	tcase_add_test(tc, peers_distinct);
	tcase_add_test(tc, model);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(exchange_suite());
}
