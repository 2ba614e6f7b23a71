/*
 * test_observe.c - observer registry (src/proto/observe.c): RFC 7641 §4.1
 * registration keys, §3.4 24-bit sequence numbers, §4.5 CON every N and
 * every 24 h, RFC 7252 §4.2/§4.8 retransmission of CON notifications.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "proto/fchange.h"
#include "proto/observe.h"
#include "proto/retx.h"

#include "helpers.h"

static struct sockaddr_in pa, pb;
static struct sockaddr_in6 p6;

static void
setup(void)
{
	pa = th_v4("127.0.0.1", 5000);
	pb = th_v4("127.0.0.2", 5000);
	p6 = th_v6("::1", 5000, 0);
}

#define SA(p)	((const struct sockaddr *)(p)), sizeof(*(p))

/* observe_sent() with the RFC 7252 §4.8 default parameters. */
static int
sent(struct observer *o, uint16_t mid, bool con, const uint8_t *buf,
    size_t len, uint64_t now_ns, uint32_t rnd)
{
	return observe_sent(o, mid, con, buf, len, now_ns, rnd,
	    &RETX_PARAMS_DEFAULT);
}

static struct observer *
add(struct observe_reg *r, const void *peer, socklen_t plen,
    const char *tok, const char *path)
{
	return observe_add(r, peer, plen, 0, (const uint8_t *)tok,
	    (uint8_t)strlen(tok), path, strlen(path), 42, 7);
}

START_TEST(path_hash_normalizes)
{
	const char *a[] = { "/srv/www", "a.txt" };
	const char *b[] = { "/srv/www/", "a.txt" };
	const char *c[] = { "/srv//www", "/a.txt" };
	const char *d[] = { "/srv/www/a.txt" };
	const char *e[] = { "/srv/www", "b.txt" };
	const char *f[] = { "/srv/www/a.txt/" };

	ck_assert_uint_eq(observe_path_hash(a, 2), observe_path_hash(b, 2));
	ck_assert_uint_eq(observe_path_hash(a, 2), observe_path_hash(c, 2));
	ck_assert_uint_eq(observe_path_hash(a, 2), observe_path_hash(d, 1));
	ck_assert_uint_eq(observe_path_hash(a, 2), observe_path_hash(f, 1));
	ck_assert_uint_ne(observe_path_hash(a, 2), observe_path_hash(e, 2));
}
END_TEST

/* RFC 7641 §4.1: (endpoint, token) is the key; same key re-registers. */
START_TEST(rfc7641_keys)
{
	struct observe_reg r;
	struct observer *o1, *o2, *o3, *o4;

	observe_reg_init(&r, 10);
	o1 = add(&r, SA(&pa), "t1", "/a");
	o2 = add(&r, SA(&pa), "t2", "/a");
	o3 = add(&r, SA(&pb), "t1", "/a");
	o4 = add(&r, SA(&p6), "t1", "/a");
	ck_assert_ptr_nonnull(o1);
	ck_assert_ptr_nonnull(o4);
	ck_assert_ptr_ne(o1, o2);
	ck_assert_ptr_ne(o1, o3);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_ptr_eq(observe_find(&r, 0, SA(&pa), (const uint8_t *)"t1", 2),
	    o1);
	/* The same peer and token on another socket is someone else. */
	ck_assert_ptr_null(observe_find(&r, 1, SA(&pa), (const uint8_t *)"t1",
	    2));
	ck_assert_ptr_eq(observe_find(&r, 0, SA(&p6), (const uint8_t *)"t1", 2),
	    o4);
	ck_assert_ptr_null(observe_find(&r, 0, SA(&pa), (const uint8_t *)"t3",
	    2));
	/* Re-registration: same observer, new path, sequence kept. */
	o1->seq = 99;
	o1->ending = true;
	ck_assert_ptr_eq(add(&r, SA(&pa), "t1", "/b"), o1);
	ck_assert_str_eq(o1->path, "/b");
	ck_assert_uint_eq(o1->seq, 99);
	ck_assert(!o1->ending);		/* observing again */
	ck_assert_uint_eq(r.n, 4);
	/* Removal keeps the others findable. */
	observe_remove(&r, o1);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_ptr_eq(observe_find(&r, 0, SA(&pa), (const uint8_t *)"t2", 2),
	    o2);
	ck_assert_ptr_eq(observe_find(&r, 0, SA(&pb), (const uint8_t *)"t1", 2),
	    o3);
	ck_assert_ptr_eq(observe_find(&r, 0, SA(&p6), (const uint8_t *)"t1", 2),
	    o4);
	observe_reg_fini(&r);
}
END_TEST

/* max_observers: past the limit, no registration (RFC 7641 §4.1). */
/*
 * The endpoint includes the IPv6 scope id (net_addr_same()): the same
 * link-local address on two interfaces is two clients, for registration
 * and for ACK/RST matching alike.
 */
START_TEST(scope_names_the_endpoint)
{
	struct observe_reg r;
	struct sockaddr_in6 l1, l2;
	struct observer *o1, *o2;

	l1 = th_v6("fe80::1", 5000, 1);
	l2 = th_v6("fe80::1", 5000, 2);
	observe_reg_init(&r, 10);
	o1 = add(&r, SA(&l1), "t1", "/a");
	o2 = add(&r, SA(&l2), "t1", "/a");
	ck_assert_ptr_nonnull(o1);
	ck_assert_ptr_nonnull(o2);
	ck_assert_ptr_ne(o1, o2);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_ptr_eq(observe_find(&r, 0, SA(&l2), (const uint8_t *)"t1",
	    2), o2);
	o1->last_mid = 0x77;
	o2->last_mid = 0x99;
	ck_assert_ptr_null(observe_by_mid(&r, 0, SA(&l2), 0x77));
	ck_assert_ptr_eq(observe_by_mid(&r, 0, SA(&l1), 0x77), o1);
	/* The flow label does not name a client. */
	l1.sin6_flowinfo = htonl(0x12345);
	ck_assert_ptr_eq(observe_find(&r, 0, SA(&l1), (const uint8_t *)"t1",
	    2), o1);
	observe_reg_fini(&r);
}
END_TEST

START_TEST(limit)
{
	struct observe_reg r;
	char tok[4];
	int i;

	observe_reg_init(&r, 20);
	for (i = 0; i < 20; i++) {
		tok[0] = (char)('a' + i);
		tok[1] = '\0';
		ck_assert_ptr_nonnull(add(&r, SA(&pa), tok, "/x"));
	}
	ck_assert_ptr_null(add(&r, SA(&pa), "zz", "/x"));
	/* A re-registration still works at the limit. */
	ck_assert_ptr_nonnull(add(&r, SA(&pa), "a", "/y"));
	observe_set_limit(&r, 21);
	ck_assert_ptr_nonnull(add(&r, SA(&pa), "zz", "/x"));
	observe_reg_fini(&r);

	observe_reg_init(&r, 0);
	ck_assert_ptr_null(add(&r, SA(&pa), "a", "/x"));
	observe_reg_fini(&r);
}
END_TEST

/* RFC 7641 §3.4: 24-bit sequence numbers wrap. */
START_TEST(rfc7641_sequence)
{
	struct observe_reg r;
	struct observer *o;

	observe_reg_init(&r, 1);
	o = observe_add(&r, SA(&pa), 0, (const uint8_t *)"t", 1, "/a", 2, 1,
	    0xfffffe);
	ck_assert_uint_eq(o->seq, 0xfffffe);
	ck_assert_uint_eq(observe_next_seq(o), 0xffffff);
	ck_assert_uint_eq(observe_next_seq(o), 0);
	ck_assert_uint_eq(observe_next_seq(o), 1);
	observe_reg_fini(&r);
	observe_reg_init(&r, 1);
	o = observe_add(&r, SA(&pa), 0, (const uint8_t *)"t", 1, "/a", 2, 1,
	    0x12345678);
	ck_assert_uint_le(o->seq, OBSERVE_SEQ_MASK);
	observe_reg_fini(&r);
}
END_TEST

/* RFC 7641 §4.5: a CON at least every N notifications and every 24 h. */
START_TEST(rfc7641_con_every)
{
	struct observe_reg r;
	struct observer *o;
	uint8_t msg[8] = { 0x40 };
	uint64_t now = 1000;
	int i, cons = 0;

	observe_reg_init(&r, 1);
	o = add(&r, SA(&pa), "t", "/a");
	o->last_con_ns = now;
	for (i = 0; i < 60; i++) {
		bool con = observe_want_con(o, now, 20);

		cons += con;
		ck_assert_int_eq(sent(o, (uint16_t)i, con, msg,
		    sizeof(msg), now, 0), 0);
		if (con)
			observe_acked(o);
		ck_assert_uint_lt(o->since_con, 20);
	}
	ck_assert_int_eq(cons, 3);
	/* 24 hours after the last CON, the next one is CON. */
	ck_assert(!observe_want_con(o, now + 3600ULL * 1000000000, 20));
	ck_assert(observe_want_con(o, o->last_con_ns +
	    OBSERVE_CON_INTERVAL_NS, 20));
	/* con_every 1: always. */
	ck_assert(observe_want_con(o, now, 1));
	observe_reg_fini(&r);
}
END_TEST

/* RFC 7252 §4.2, §4.8: 2..3 s, doubling, 4 retransmissions, give up. */
START_TEST(rfc7252_retransmission)
{
	struct observe_reg r;
	struct observer *o;
	uint8_t msg[16] = { 0x40, 0x45, 0x12, 0x34 };
	uint64_t t, now = 5000000000ULL;
	int resends = 0;

	observe_reg_init(&r, 1);
	o = add(&r, SA(&pa), "t", "/a");
	ck_assert_int_eq(sent(o, 0x1234, true, msg, sizeof(msg), now,
	    UINT32_MAX), 0);
	ck_assert(o->con_pending);
	ck_assert_uint_eq(o->con_len, sizeof(msg));
	ck_assert_mem_eq(o->con_buf, msg, sizeof(msg));
	t = o->retx.next_ns - now;
	ck_assert_uint_ge(t, RETX_ACK_TIMEOUT_NS);
	ck_assert_uint_lt(t, RETX_ACK_TIMEOUT_NS * 3 / 2);
	ck_assert_int_eq(observe_due(o, now + t - 1), OBSERVE_IDLE);
	for (;;) {
		enum observe_due d;

		now = o->retx.next_ns;
		d = observe_due(o, now);
		if (d == OBSERVE_GIVE_UP)
			break;
		ck_assert_int_eq(d, OBSERVE_RESEND);
		resends++;
		ck_assert_uint_eq(o->retx.next_ns - now, o->retx.timeout_ns);
	}
	ck_assert_int_eq(resends, RETX_MAX_RETRANSMIT);
	/* The ACK stops it; found by MID (and so is the RST). */
	ck_assert_ptr_eq(observe_by_mid(&r, 0, SA(&pa), 0x1234), o);
	ck_assert_ptr_null(observe_by_mid(&r, 0, SA(&pb), 0x1234));
	ck_assert_ptr_null(observe_by_mid(&r, 0, SA(&pa), 0x1235));
	/* Same address and MID on another socket (plain vs DTLS): no. */
	ck_assert_ptr_null(observe_by_mid(&r, 1, SA(&pa), 0x1234));
	observe_acked(o);
	ck_assert_int_eq(observe_due(o, now + 100ULL * 1000000000),
	    OBSERVE_IDLE);
	/* Random factor 0: exactly ACK_TIMEOUT. */
	ck_assert_int_eq(sent(o, 7, true, msg, sizeof(msg), 0, 0), 0);
	ck_assert_uint_eq(o->retx.next_ns, RETX_ACK_TIMEOUT_NS);
	/*
	 * RFC 7641 §4.5.2: a newer CON keeps the back-off running, and
	 * counts as a retransmission of the one it replaces.
	 */
	ck_assert_int_eq(observe_due(o, o->retx.next_ns), OBSERVE_RESEND);
	ck_assert(!observe_exhausted(o));
	ck_assert_int_eq(sent(o, 8, true, msg, sizeof(msg), 10, 0),
	    0);
	ck_assert_uint_eq(o->retx.count, 2);
	ck_assert_uint_eq(o->retx.timeout_ns, 4 * RETX_ACK_TIMEOUT_NS);
	ck_assert_uint_eq(o->retx.next_ns, 10 + 4 * RETX_ACK_TIMEOUT_NS);
	ck_assert_uint_eq(o->con_mid, 8);
	ck_assert_ptr_eq(observe_by_mid(&r, 0, SA(&pa), 8), o);
	/* two more replacements, then none: the next due gives up */
	ck_assert_int_eq(sent(o, 10, true, msg, sizeof(msg), 11, 0),
	    0);
	ck_assert_int_eq(sent(o, 11, true, msg, sizeof(msg), 12, 0),
	    0);
	ck_assert_uint_eq(o->retx.count, RETX_MAX_RETRANSMIT);
	ck_assert(observe_exhausted(o));
	ck_assert_int_eq(observe_due(o, o->retx.next_ns), OBSERVE_GIVE_UP);
	/* Too big to keep. */
	ck_assert_int_eq(sent(o, 9, true, msg, OBSERVE_MSG_MAX + 1,
	    10, 0), -EMSGSIZE);
	ck_assert(!o->con_pending);
	observe_reg_fini(&r);
}
END_TEST

/* A host's observers over all its ports, IPv4-mapped IPv6 included. */
START_TEST(per_host_bound)
{
	struct observe_reg r;
	struct sockaddr_in a = pa;
	struct sockaddr_in6 m;
	char tok[4];
	int i;

	observe_reg_init(&r, 100);
	observe_set_per_host(&r, 3);
	for (i = 0; i < 5; i++) {
		a.sin_port = htons((uint16_t)(6000 + i));
		snprintf(tok, sizeof(tok), "t%d", i);
		if (i < 3)
			ck_assert_ptr_nonnull(add(&r, SA(&a), tok, "/p"));
		else
			ck_assert_ptr_null(add(&r, SA(&a), tok, "/p"));
	}
	memset(&m, 0, sizeof(m));
	m.sin6_family = AF_INET6;
	m.sin6_port = htons(7000);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &m.sin6_addr);
	ck_assert_uint_eq(observe_count_host(&r, SA(&m)), 3);
	ck_assert_ptr_null(add(&r, SA(&m), "m", "/p"));
	/* a re-registration is no new place; another host has its own */
	a.sin_port = htons(6000);
	ck_assert_ptr_nonnull(add(&r, SA(&a), "t0", "/q"));
	ck_assert_ptr_nonnull(add(&r, SA(&pb), "t0", "/p"));
	ck_assert_ptr_nonnull(add(&r, SA(&p6), "t0", "/p"));
	ck_assert_uint_eq(r.n, 5);
	observe_reg_fini(&r);
}
END_TEST

START_TEST(fchange_batches)
{
	struct fchange *c = fchange_new(2);

	ck_assert_ptr_nonnull(c);
	c->hash[0] = 5;
	c->hash[1] = 9;
	c->n = 2;
	ck_assert(fchange_has(c, 5));
	ck_assert(fchange_has(c, 9));
	ck_assert(!fchange_has(c, 6));
	c->all = true;
	ck_assert(fchange_has(c, 6));
	ck_assert_ptr_eq(fchange_ref(c), c);
	fchange_unref(c);
	fchange_unref(c);
	fchange_unref(NULL);
}
END_TEST

static Suite *
observe_suite(void)
{
	Suite *s = suite_create("observe");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, path_hash_normalizes);
	tcase_add_test(tc, rfc7641_keys);
	tcase_add_test(tc, scope_names_the_endpoint);
	tcase_add_test(tc, limit);
	tcase_add_test(tc, rfc7641_sequence);
	tcase_add_test(tc, rfc7641_con_every);
	tcase_add_test(tc, rfc7252_retransmission);
	tcase_add_test(tc, per_host_bound);
	tcase_add_test(tc, fchange_batches);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(observe_suite());
}
