/*
 * test_amp.c - the amplification guard (src/proto/amp.c): the 3x budget
 * per 10 s window, Echo values (RFC 9175) bound to the address and to
 * time, verification and its lifetime, the bounded table; and SipHash-2-4
 * against the vectors of its paper.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "base/siphash.h"
#include "proto/amp.h"

#include "helpers.h"

#define SEC	1000000000ULL

static struct sockaddr_in a4, b4;
static struct sockaddr_in6 m6, v6;
static struct amp_table t;

#define SA(p)	((const struct sockaddr *)(p)), sizeof(*(p))

static void
setup(void)
{
	uint8_t	 rnd[SIPHASH_KEY_LEN + 8];
	size_t	 i;

	for (i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)(i * 7 + 1);
	a4 = th_v4("192.0.2.1", 5000);
	b4 = th_v4("192.0.2.2", 5000);
	m6 = th_v6("::ffff:192.0.2.1", 6000, 0);
	v6 = th_v6("2001:db8::1", 6000, 0);
	ck_assert_int_eq(amp_init(&t, 64, rnd, 300), 0);
}

static void
teardown(void)
{
	amp_fini(&t);
}

START_TEST(siphash_vectors)
{
	uint8_t	 k[16], m[64];
	int	 i;

	for (i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	for (i = 0; i < 64; i++)
		m[i] = (uint8_t)i;
	/* the paper's appendix A, and vectors 0 and 8 of its reference */
	ck_assert_uint_eq(siphash24(k, m, 15), 0xa129ca6149be45e5ULL);
	ck_assert_uint_eq(siphash24(k, m, 0), 0x726fdb47dd0e0e31ULL);
	ck_assert_uint_eq(siphash24(k, m, 8), 0x93f5f5799a932462ULL);
}
END_TEST

START_TEST(budget_is_three_times_received)
{
	struct amp_entry *e;
	bool		  ev;

	e = amp_rx(&t, SA(&a4), 20, 100 * SEC, &ev);
	ck_assert_ptr_nonnull(e);
	ck_assert(!ev);
	ck_assert(!amp_verified(e, 100 * SEC));
	ck_assert(!amp_tx(e, 61, 100 * SEC));
	ck_assert(amp_tx(e, 60, 100 * SEC));
	ck_assert(!amp_tx(e, 1, 100 * SEC));
	/* more received, more credit; in the same window */
	e = amp_rx(&t, SA(&a4), 20, 101 * SEC, &ev);
	ck_assert_uint_eq(e->rx, 40);
	ck_assert(amp_tx(e, 60, 101 * SEC));
	ck_assert(!amp_tx(e, 1, 101 * SEC));
	/* a new window starts from what it brings */
	e = amp_rx(&t, SA(&a4), 10, 111 * SEC, &ev);
	ck_assert_uint_eq(e->rx, 10);
	ck_assert_uint_eq(e->tx, 0);
	ck_assert(amp_tx(e, 30, 111 * SEC));
	ck_assert(!amp_tx(e, 1, 111 * SEC));
	/* the IPv4-mapped form is the same client, another port too */
	ck_assert_ptr_eq(amp_rx(&t, SA(&m6), 1, 111 * SEC, &ev), e);
	ck_assert_ptr_ne(amp_rx(&t, SA(&b4), 1, 111 * SEC, &ev), e);
}
END_TEST

/*
 * A hook or backend completion reads a fresh clock and may start a window
 * a little after the "now" a later datagram of the same loop pass carries:
 * the older time is no roll and no refusal (the subtraction once wrapped).
 */
START_TEST(older_now_is_same_window)
{
	struct amp_entry *e;
	bool		  ev;

	e = amp_rx(&t, SA(&a4), 20, 100 * SEC, &ev);
	ck_assert(amp_tx(e, 30, 100 * SEC));
	/* the completion at 110.5 s opens a window ... */
	e = amp_rx(&t, SA(&a4), 20, 110 * SEC + SEC / 2, &ev);
	ck_assert_uint_eq(e->rx, 20);
	/* ... and the loop's 110.4 s must neither forget nor refuse */
	e = amp_rx(&t, SA(&a4), 20, 110 * SEC + SEC / 2 - SEC / 10, &ev);
	ck_assert_uint_eq(e->rx, 40);
	ck_assert_uint_eq(e->prev_rx, 20);
	ck_assert(amp_room(e, 100, 110 * SEC));
	ck_assert(amp_tx(e, 100, 110 * SEC));
}
END_TEST

START_TEST(rfc9175_echo)
{
	struct amp_entry *e, *f, *g;
	uint8_t		  v[AMP_ECHO_LEN], w[AMP_ECHO_LEN];
	bool		  ev;

	e = amp_rx(&t, SA(&a4), 20, 100 * SEC, &ev);
	amp_echo_make(&t, e, 100 * SEC, v);
	/* another address cannot use it */
	f = amp_rx(&t, SA(&b4), 20, 100 * SEC, &ev);
	ck_assert(!amp_echo_check(&t, f, v, sizeof(v), 101 * SEC));
	ck_assert(!amp_verified(f, 101 * SEC));
	/* changed bytes, wrong lengths, stale or future values fail */
	memcpy(w, v, sizeof(w));
	w[11] ^= 1;
	ck_assert(!amp_echo_check(&t, e, w, sizeof(w), 101 * SEC));
	memcpy(w, v, sizeof(w));
	w[3] ^= 1;
	ck_assert(!amp_echo_check(&t, e, w, sizeof(w), 101 * SEC));
	ck_assert(!amp_echo_check(&t, e, v, sizeof(v) - 1, 101 * SEC));
	ck_assert(!amp_echo_check(&t, e, v, sizeof(v), 99 * SEC));
	ck_assert(!amp_echo_check(&t, e, v, sizeof(v), 160 * SEC));
	ck_assert(!amp_verified(e, 101 * SEC));
	/* the value itself, while fresh: verified for the lifetime */
	ck_assert(amp_echo_check(&t, e, v, sizeof(v), 159 * SEC));
	ck_assert(amp_verified(e, 159 * SEC));
	ck_assert(amp_tx(e, 100000, 159 * SEC));
	ck_assert(amp_verified(e, 458 * SEC));
	ck_assert(!amp_verified(e, 459 * SEC));
	/* IPv6, and a key of another table does not verify */
	g = amp_rx(&t, SA(&v6), 20, 100 * SEC, &ev);
	amp_echo_make(&t, g, 100 * SEC, v);
	ck_assert(amp_echo_check(&t, g, v, sizeof(v), 100 * SEC));
}
END_TEST

START_TEST(table_is_bounded)
{
	struct sockaddr_in	 c = a4;
	struct amp_entry	*e;
	uint32_t		 i, ev_n = 0;
	bool			 ev;

	for (i = 0; i < 10000; i++) {
		c.sin_addr.s_addr = htonl(0x0a000000u + i);
		e = amp_rx(&t, SA(&c), 20, (100 + i) * SEC, &ev);
		ck_assert_ptr_nonnull(e);
		/* a new entry never inherits credit */
		ck_assert_uint_eq(e->rx, 20);
		ck_assert_uint_eq(e->tx, 0);
		ev_n += ev;
	}
	/* 64 entries (16 sets of 4): everything past them evicted */
	ck_assert_uint_eq(t.mask + 1, 16);
	ck_assert_uint_eq(ev_n, 10000 - 64);
	ck_assert_uint_eq(t.evicted, ev_n);
	/* a reload to another size starts empty; the same size keeps all */
	ck_assert_int_eq(amp_resize(&t, 64), 0);
	ck_assert_uint_eq(amp_rx(&t, SA(&c), 1, 10100 * SEC, &ev)->rx, 21);
	ck_assert_int_eq(amp_resize(&t, 256), 0);
	ck_assert_uint_eq(t.mask + 1, 64);
	ck_assert_uint_eq(amp_rx(&t, SA(&c), 1, 10100 * SEC, &ev)->rx, 1);
}
END_TEST

/*
 * A late answer (a hook's separate response) is paid for by its request
 * even when the 10 s window ended in between; two windows on, nothing of
 * the old credit is left.
 */
START_TEST(late_answer_keeps_its_credit)
{
	struct amp_entry	*e;
	bool			 ev;

	/* window opens at 100 s with 30 bytes (budget 90) */
	e = amp_rx(&t, SA(&a4), 30, 100 * SEC, &ev);
	ck_assert(amp_tx(e, 60, 100 * SEC));
	/* a 20-byte request at 109.5 s, answered at 111 s: 80 of 150 */
	e = amp_rx(&t, SA(&a4), 20, 109 * SEC + SEC / 2, &ev);
	ck_assert(amp_tx(e, 4, 109 * SEC + SEC / 2));
	ck_assert(amp_room(e, 86, 111 * SEC));
	ck_assert(!amp_room(e, 87, 111 * SEC));
	ck_assert(amp_tx(e, 80, 111 * SEC));
	/* the new window (111 s) carries 50 in, 144 out from the last one */
	ck_assert(amp_tx(e, 6, 112 * SEC));
	ck_assert(!amp_tx(e, 1, 112 * SEC));
	/* 20 s after the last window began, its credit is gone */
	ck_assert(!amp_room(e, 1, 131 * SEC));
}
END_TEST

static Suite *
amp_suite(void)
{
	Suite *s = suite_create("amp");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, siphash_vectors);
	tcase_add_test(tc, budget_is_three_times_received);
	tcase_add_test(tc, older_now_is_same_window);
	tcase_add_test(tc, rfc9175_echo);
	tcase_add_test(tc, table_is_bounded);
	tcase_add_test(tc, late_answer_keeps_its_credit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(amp_suite());
}
