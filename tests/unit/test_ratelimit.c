/*
 * test_ratelimit.c - token buckets and the load level (src/proto/ratelimit.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "proto/ratelimit.h"

#include "helpers.h"

#define SEC	1000000000ULL
/* A SipHash key whose first byte is n (the tables' secret). */
#define K(n)	((const uint8_t[SIPHASH_KEY_LEN]){ (n) })
#define MS	1000000ULL

static struct rl_key
k4(const char *a, uint16_t port)
{
	struct sockaddr_in	 s = th_v4(a, port);
	struct rl_key		 k;

	ck_assert_int_eq(rl_key_addr(&k, RL_ADDRESS, 0,
	    (struct sockaddr *)&s, sizeof(s), 64), 0);
	return k;
}

static struct rl_key
k6(const char *a, unsigned prefix)
{
	struct sockaddr_in6	 s = th_v6(a, 5683, 0);
	struct rl_key		 k;

	ck_assert_int_eq(rl_key_addr(&k, RL_ADDRESS, 0,
	    (struct sockaddr *)&s, sizeof(s), prefix), 0);
	return k;
}

START_TEST(new_rejects_zero)
{
	ck_assert_ptr_null(rl_table_new(0, K(1)));
}
END_TEST

/* burst requests at once, then one per 1/rate s; Max-Age from wait_ns. */
START_TEST(bucket_burst_then_rate)
{
	struct rl_table		*t = rl_table_new(16, K(7));
	struct rl_key		 k = k4("192.0.2.1", 1000);
	struct rl_verdict	 v;
	uint64_t		 now = 100 * SEC;
	int			 i;

	ck_assert_ptr_nonnull(t);
	for (i = 0; i < 5; i++)
		ck_assert_uint_eq(rl_take(t, &k, 2, 5, now).wait_ns, 0);
	v = rl_take(t, &k, 2, 5, now);
	ck_assert_uint_eq(v.wait_ns, 500 * MS);		/* 1/rate */
	/* refused requests take nothing: still 500 ms */
	ck_assert_uint_eq(rl_take(t, &k, 2, 5, now).wait_ns, 500 * MS);
	ck_assert_uint_eq(rl_take(t, &k, 2, 5, now + 499 * MS).wait_ns,
	    1 * MS);
	ck_assert_uint_eq(rl_take(t, &k, 2, 5, now + 500 * MS).wait_ns, 0);
	ck_assert_uint_ne(rl_take(t, &k, 2, 5, now + 500 * MS).wait_ns, 0);
	/* 10 s idle: the bucket is full again, burst 5 and no more */
	now += 10 * SEC;
	for (i = 0; i < 5; i++)
		ck_assert_uint_eq(rl_take(t, &k, 2, 5, now).wait_ns, 0);
	ck_assert_uint_ne(rl_take(t, &k, 2, 5, now).wait_ns, 0);
	/* a slow rate's debt: a faster rate in force applies at once */
	for (i = 0; i < 5; i++)
		rl_take(t, &k, 1, 5, now);	/* 5 s of debt at 1/s */
	ck_assert_uint_eq(rl_take(t, &k, 100, 5, now + 10 * MS).wait_ns,
	    10 * MS);			/* empty at 100/s: one in 10 ms */
	ck_assert_uint_eq(rl_take(t, &k, 100, 5, now + 20 * MS).wait_ns, 0);
	/* rate 0: no limit */
	for (i = 0; i < 100; i++)
		ck_assert_uint_eq(rl_take(t, &k, 0, 5, now).wait_ns, 0);
	rl_table_free(t);
}
END_TEST

/* The same rate over a long run: exactly burst + elapsed * rate pass. */
START_TEST(bucket_long_run_exact)
{
	struct rl_table	*t = rl_table_new(4, K(1));
	struct rl_key	 k = k4("198.51.100.7", 1);
	uint64_t	 now = SEC, ok = 0;
	int		 i;

	/* 10 attempts per second for 10 s at rate 3, burst 4 */
	for (i = 0; i < 100; i++, now += 100 * MS)
		if (rl_take(t, &k, 3, 4, now).wait_ns == 0)
			ok++;
	/* 4 at once, then 3 a second over the 9.9 s after the first */
	ck_assert_uint_ge(ok, 4 + 29);
	ck_assert_uint_le(ok, 4 + 30);
	rl_table_free(t);
}
END_TEST

/* Clients do not share buckets; ports never count. */
START_TEST(bucket_per_client)
{
	struct rl_table	*t = rl_table_new(16, K(3));
	struct rl_key	 a = k4("10.0.0.1", 1), a2 = k4("10.0.0.1", 2);
	struct rl_key	 b = k4("10.0.0.2", 1);

	ck_assert_uint_eq(rl_take(t, &a, 1, 1, SEC).wait_ns, 0);
	ck_assert_uint_ne(rl_take(t, &a2, 1, 1, SEC).wait_ns, 0);
	ck_assert_uint_eq(rl_take(t, &b, 1, 1, SEC).wait_ns, 0);
	ck_assert_uint_eq(rl_count(t), 2);
	rl_table_free(t);
}
END_TEST

/* IPv6: one bucket per ipv6_prefix; IPv4-mapped counts as IPv4. */
START_TEST(key_ipv6_prefix)
{
	struct rl_key	 a, b, c;
	struct sockaddr_in6 m = th_v6("::ffff:192.0.2.9", 7, 0);
	struct sockaddr_un_fake { sa_family_t f; char p[20]; } u = { AF_UNIX, "x" };

	a = k6("2001:db8:1:2:aaaa::1", 64);
	b = k6("2001:db8:1:2:bbbb::2", 64);
	c = k6("2001:db8:1:3::1", 64);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	ck_assert(memcmp(&a, &c, sizeof(a)) != 0);
	a = k6("2001:db8:1:2:aaaa::1", 128);
	b = k6("2001:db8:1:2:aaaa::2", 128);
	ck_assert(memcmp(&a, &b, sizeof(a)) != 0);
	/* /56 in the middle of a byte boundary: /60 */
	a = k6("2001:db8:1:20::", 60);
	b = k6("2001:db8:1:2f::", 60);
	c = k6("2001:db8:1:30::", 60);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	ck_assert(memcmp(&a, &c, sizeof(a)) != 0);
	ck_assert_int_eq(rl_key_addr(&a, RL_ADDRESS, 0,
	    (struct sockaddr *)&m, sizeof(m), 64), 0);
	b = k4("192.0.2.9", 99);
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
	ck_assert_int_eq(rl_key_addr(&a, RL_ADDRESS, 0,
	    (struct sockaddr *)&u, sizeof(u), 64), -EAFNOSUPPORT);
}
END_TEST

/* Kinds and routes are apart; identities hash apart. */
START_TEST(key_kinds_apart)
{
	struct sockaddr_in	 s = th_v4("10.1.1.1", 5);
	struct rl_key		 a, r1, r2, i1, i2, i1b;

	rl_key_addr(&a, RL_ADDRESS, 0, (struct sockaddr *)&s, sizeof(s), 64);
	rl_key_addr(&r1, RL_ROUTE, 1, (struct sockaddr *)&s, sizeof(s), 64);
	rl_key_addr(&r2, RL_ROUTE, 2, (struct sockaddr *)&s, sizeof(s), 64);
	rl_key_identity(&i1, "sensor-1", K(42));
	rl_key_identity(&i1b, "sensor-1", K(42));
	rl_key_identity(&i2, "sensor-2", K(42));
	ck_assert(memcmp(&a, &r1, sizeof(a)) != 0);
	ck_assert(memcmp(&r1, &r2, sizeof(a)) != 0);
	ck_assert(memcmp(&i1, &i2, sizeof(a)) != 0);
	ck_assert(memcmp(&i1, &i1b, sizeof(a)) == 0);
	/* keyed: another worker's key gives another bucket key */
	rl_key_identity(&i1b, "sensor-1", K(43));
	ck_assert(memcmp(&i1, &i1b, sizeof(a)) != 0);
	ck_assert(i1.w[1] != i1.w[2]);
}
END_TEST

/* Full table: the least recently seen client goes; never grown. */
START_TEST(table_lru_eviction)
{
	struct rl_table	*t = rl_table_new(8, K(5));
	struct rl_key	 k[9];
	char		 a[32];
	int		 i;

	for (i = 0; i < 9; i++) {
		snprintf(a, sizeof(a), "10.0.0.%d", i + 1);
		k[i] = k4(a, 1);
	}
	/* 8 clients spend their one token */
	for (i = 0; i < 8; i++)
		ck_assert_uint_eq(rl_take(t, &k[i], 1, 1, SEC + i).wait_ns, 0);
	/* client 0 seen again: client 1 is now the least recent */
	ck_assert_uint_ne(rl_take(t, &k[0], 1, 1, SEC + 10).wait_ns, 0);
	ck_assert_uint_eq(rl_take(t, &k[8], 1, 1, SEC + 11).wait_ns, 0);
	ck_assert_uint_eq(rl_count(t), 8);
	ck_assert_uint_eq(rl_evicted(t), 1);
	/* 1 was forgotten (fresh bucket), 0 and 2 were kept (empty) */
	ck_assert_uint_ne(rl_take(t, &k[0], 1, 1, SEC + 12).wait_ns, 0);
	ck_assert_uint_ne(rl_take(t, &k[2], 1, 1, SEC + 13).wait_ns, 0);
	ck_assert_uint_eq(rl_take(t, &k[1], 1, 1, SEC + 14).wait_ns, 0);
	ck_assert_uint_eq(rl_evicted(t), 2);
	ck_assert_uint_eq(rl_count(t), 8);
	rl_table_free(t);
}
END_TEST

/* Idle buckets are reaped, oldest first, only when full again. */
START_TEST(table_reap)
{
	struct rl_table	*t = rl_table_new(8, K(5));
	struct rl_key	 a = k4("10.0.0.1", 1), b = k4("10.0.0.2", 1);

	rl_take(t, &a, 1, 1, SEC);
	rl_take(t, &b, 1, 1, 30 * SEC);
	rl_reap(t, 40 * SEC, 60 * SEC);
	ck_assert_uint_eq(rl_count(t), 2);
	rl_reap(t, 62 * SEC, 60 * SEC);
	ck_assert_uint_eq(rl_count(t), 1);
	ck_assert_uint_eq(rl_reaped(t), 1);
	/* b's bucket refills 1 s after 30 s: reaped at 90 s */
	rl_reap(t, 100 * SEC, 60 * SEC);
	ck_assert_uint_eq(rl_count(t), 0);
	ck_assert_uint_eq(rl_reaped(t), 2);
	/* 200 tokens of a 1/s bucket spent: not full at 300 s, it stays */
	for (int i = 0; i < 200; i++)
		rl_take(t, &a, 1, 1000, 200 * SEC);
	rl_reap(t, 300 * SEC, 60 * SEC);
	ck_assert_uint_eq(rl_count(t), 1);
	rl_table_free(t);
}
END_TEST

/* A refused NON sender hears 4.29 at most once per interval. */
START_TEST(non_answer_once_per_second)
{
	struct rl_table		*t = rl_table_new(4, K(9));
	struct rl_key		 k = k4("10.9.9.9", 1);
	struct rl_verdict	 v;

	rl_take(t, &k, 1, 1, SEC);
	v = rl_take(t, &k, 1, 1, SEC);
	ck_assert(rl_may_answer(t, v.slot, SEC, SEC));
	ck_assert(!rl_may_answer(t, v.slot, SEC + 500 * MS, SEC));
	ck_assert(rl_may_answer(t, v.slot, 2 * SEC, SEC));
	rl_table_free(t);
}
END_TEST

/* A model run: many clients churn; count never exceeds the bound. */
START_TEST(table_churn_model)
{
	struct rl_table	*t = rl_table_new(100, K(11));
	struct rl_key	 k;
	struct sockaddr_in s;
	uint32_t	 i;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	for (i = 0; i < 100000; i++) {
		s.sin_addr.s_addr = htonl(0x0a000000u + (i * 2654435761u) %
		    500);
		rl_key_addr(&k, RL_ADDRESS, 0, (struct sockaddr *)&s,
		    sizeof(s), 64);
		rl_take(t, &k, 10, 10, SEC + i * MS);
		ck_assert_uint_le(rl_count(t), 100);
		if (i % 1000 == 0)
			rl_reap(t, SEC + i * MS, 2 * SEC);
	}
	/* every held key is still found: take on it does not add one */
	ck_assert_uint_eq(rl_count(t), 100);
	rl_take(t, &k, 10, 10, 200 * SEC);
	ck_assert_uint_eq(rl_count(t), 100);
	ck_assert_uint_gt(rl_evicted(t), 0);
	rl_table_free(t);
}
END_TEST

/* normal -> throttled -> shedding, and back with hysteresis. */
START_TEST(level_hysteresis)
{
	struct rl_load	 l;
	uint64_t	 now = 0;

	rl_load_init(&l, 75, 90, 50);
	ck_assert_int_eq(l.level, RL_NORMAL);
	ck_assert(!rl_load_update(&l, 74, now += 2 * SEC));
	ck_assert(rl_load_update(&l, 75, now += 2 * SEC));
	ck_assert_int_eq(l.level, RL_THROTTLED);
	ck_assert(!rl_load_update(&l, 60, now += 2 * SEC));	/* above normal_below */
	ck_assert_int_eq(l.level, RL_THROTTLED);
	ck_assert(rl_load_update(&l, 95, now += 2 * SEC));
	ck_assert_int_eq(l.level, RL_SHEDDING);
	ck_assert(!rl_load_update(&l, 80, now += 2 * SEC));	/* above throttle_at */
	ck_assert_int_eq(l.level, RL_SHEDDING);
	ck_assert(rl_load_update(&l, 70, now += 2 * SEC));
	ck_assert_int_eq(l.level, RL_THROTTLED);
	ck_assert(rl_load_update(&l, 100, now += 2 * SEC));
	ck_assert(rl_load_update(&l, 49, now += 2 * SEC));	/* straight to normal */
	ck_assert_int_eq(l.level, RL_NORMAL);
	ck_assert(!rl_load_update(&l, 50, now += 2 * SEC));
	ck_assert(rl_load_update(&l, 90, now += 2 * SEC));	/* normal to shedding */
	ck_assert_int_eq(l.level, RL_SHEDDING);
	/* down only after RL_LOAD_HOLD_NS at a level; up at once */
	ck_assert(!rl_load_update(&l, 10, now + RL_LOAD_HOLD_NS - 1));
	ck_assert_int_eq(l.level, RL_SHEDDING);
	ck_assert(rl_load_update(&l, 10, now + RL_LOAD_HOLD_NS));
	now += RL_LOAD_HOLD_NS;
	ck_assert(rl_load_update(&l, 80, now + 1));
	ck_assert(rl_load_update(&l, 95, now + 2));
	ck_assert_int_eq(l.level, RL_SHEDDING);
	ck_assert_str_eq(rl_level_str(RL_SHEDDING), "shedding");
	ck_assert_str_eq(rl_level_str(9), "unknown");
	ck_assert_str_eq(rl_kind_str(RL_ROUTE), "route");
}
END_TEST

static Suite *
ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, new_rejects_zero);
	tcase_add_test(tc, bucket_burst_then_rate);
	tcase_add_test(tc, bucket_long_run_exact);
	tcase_add_test(tc, bucket_per_client);
	tcase_add_test(tc, key_ipv6_prefix);
	tcase_add_test(tc, key_kinds_apart);
	tcase_add_test(tc, table_lru_eviction);
	tcase_add_test(tc, table_reap);
	tcase_add_test(tc, non_answer_once_per_second);
	tcase_add_test(tc, table_churn_model);
	tcase_add_test(tc, level_hysteresis);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(ratelimit_suite());
}
