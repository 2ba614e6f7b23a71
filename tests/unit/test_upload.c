/*
 * test_upload.c - Block1 upload bookkeeping (src/proto/upload.c): RFC 7959 §2.5
 * ordering, §2.3 block sizes, §2.9.3 body limit, RFC 9175 Request-Tag.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "proto/upload.h"

#include "helpers.h"

static struct sockaddr_in peer_a, peer_b;

static void
setup(void)
{
	peer_a = th_v4("127.0.0.1", 40000);
	peer_b = th_v4("127.0.0.1", 40001);
}

static struct upload_key
key(const struct sockaddr_in *p, const char *path, const char *tag)
{
	struct upload_key k;

	memset(&k, 0, sizeof(k));
	k.peer = (const struct sockaddr *)p;
	k.peerlen = sizeof(*p);
	k.path = path;
	k.path_len = strlen(path);
	if (tag != NULL) {
		k.has_tag = true;
		k.tag = (const uint8_t *)tag;
		k.taglen = (uint8_t)strlen(tag);
	}
	return k;
}

START_TEST(alloc_find_release)
{
	struct upload_table t;
	struct upload_key k = key(&peer_a, "/up/a", NULL);
	struct upload *u;

	ck_assert_int_eq(upload_table_init(&t, 4), 0);
	ck_assert_ptr_null(upload_find(&t, &k));
	u = upload_alloc(&t, &k, 1000, 5);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->fd, -1);
	ck_assert_int_eq(u->dirfd, -1);
	ck_assert_uint_eq(u->received, 0);
	ck_assert_uint_eq(u->limit, 1000);
	ck_assert_str_eq(u->path, "/up/a");
	ck_assert_ptr_eq(upload_find(&t, &k), u);
	ck_assert_uint_eq(t.n, 1);
	upload_release(&t, u);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_ptr_null(upload_find(&t, &k));
	upload_release(&t, u);		/* twice is harmless */
	ck_assert_uint_eq(t.n, 0);
	upload_table_fini(&t);
}
END_TEST

/* The key: endpoint, path, Request-Tag (absent != empty). */
START_TEST(rfc9175_request_tag_keys)
{
	struct upload_table t;
	struct upload_key k0 = key(&peer_a, "/up/a", NULL);
	struct upload_key ke = key(&peer_a, "/up/a", "");
	struct upload_key k1 = key(&peer_a, "/up/a", "t1");
	struct upload_key k2 = key(&peer_a, "/up/a", "t2");
	struct upload_key kp = key(&peer_b, "/up/a", NULL);
	struct upload_key kq = key(&peer_a, "/up/b", NULL);
	struct upload *u0, *ue, *u1, *u2;

	ck_assert_int_eq(upload_table_init(&t, 8), 0);
	u0 = upload_alloc(&t, &k0, 100, 0);
	ue = upload_alloc(&t, &ke, 100, 0);
	u1 = upload_alloc(&t, &k1, 100, 0);
	u2 = upload_alloc(&t, &k2, 100, 0);
	ck_assert_ptr_nonnull(u2);
	ck_assert_ptr_eq(upload_find(&t, &k0), u0);
	ck_assert_ptr_eq(upload_find(&t, &ke), ue);
	ck_assert_ptr_eq(upload_find(&t, &k1), u1);
	ck_assert_ptr_eq(upload_find(&t, &k2), u2);
	ck_assert_ptr_null(upload_find(&t, &kp));
	ck_assert_ptr_null(upload_find(&t, &kq));
	upload_table_fini(&t);
}
END_TEST

/* Concurrent uploads are bounded; a released slot is reused. */
/* The uploader's endpoint includes the IPv6 scope id (net_addr_same()). */
START_TEST(scope_names_the_uploader)
{
	struct upload_table t;
	struct sockaddr_in6 l1, l2;
	struct upload_key k1, k2;
	struct upload *u1, *u2;

	l1 = th_v6("fe80::1", 40000, 1);
	l2 = th_v6("fe80::1", 40000, 2);
	k1 = key(&peer_a, "/up/a", "t");
	k1.peer = (const struct sockaddr *)&l1;
	k1.peerlen = sizeof(l1);
	k2 = k1;
	k2.peer = (const struct sockaddr *)&l2;
	ck_assert_int_eq(upload_table_init(&t, 4), 0);
	u1 = upload_alloc(&t, &k1, 1000, 5);
	ck_assert_ptr_nonnull(u1);
	ck_assert_ptr_null(upload_find(&t, &k2));
	u2 = upload_alloc(&t, &k2, 1000, 5);
	ck_assert_ptr_nonnull(u2);
	ck_assert_ptr_ne(u1, u2);
	ck_assert_ptr_eq(upload_find(&t, &k1), u1);
	ck_assert_ptr_eq(upload_find(&t, &k2), u2);
	upload_table_fini(&t);
}
END_TEST

START_TEST(bounded)
{
	struct upload_table t;
	struct upload_key k[3] = {
		key(&peer_a, "/a", NULL), key(&peer_a, "/b", NULL),
		key(&peer_a, "/c", NULL),
	};
	struct upload *u;

	ck_assert_int_eq(upload_table_init(&t, 2), 0);
	ck_assert_ptr_nonnull(upload_alloc(&t, &k[0], 1, 0));
	ck_assert_ptr_nonnull(u = upload_alloc(&t, &k[1], 1, 0));
	ck_assert_ptr_null(upload_alloc(&t, &k[2], 1, 0));
	upload_release(&t, u);
	ck_assert_ptr_nonnull(upload_alloc(&t, &k[2], 1, 0));
	upload_table_fini(&t);

	/* No slots at all. */
	ck_assert_int_eq(upload_table_init(&t, 0), 0);
	ck_assert_ptr_null(upload_alloc(&t, &k[0], 1, 0));
	upload_table_fini(&t);
}
END_TEST

START_TEST(too_long_keys)
{
	struct upload_table t;
	char path[UPLOAD_PATH_MAX + 8];
	struct upload_key k;

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(upload_table_init(&t, 2), 0);
	k = key(&peer_a, path, NULL);
	ck_assert_ptr_null(upload_alloc(&t, &k, 1, 0));
	k = key(&peer_a, "/a", "123456789");
	ck_assert_ptr_null(upload_alloc(&t, &k, 1, 0));
	k = key(&peer_a, "/a", "12345678");
	ck_assert_ptr_nonnull(upload_alloc(&t, &k, 1, 0));
	upload_table_fini(&t);
}
END_TEST

/* RFC 7959 §2.5: in order, or 4.08; with no transfer only block 0. */
START_TEST(rfc7959_order)
{
	struct upload_table t;
	struct upload_key k = key(&peer_a, "/a", NULL);
	struct upload *u;

	ck_assert_int_eq(upload_check(NULL, 10000, 0, 64, true, 64),
	    UPLOAD_OK);
	ck_assert_int_eq(upload_check(NULL, 10000, 64, 64, true, 64),
	    UPLOAD_INCOMPLETE);
	ck_assert_int_eq(upload_table_init(&t, 1), 0);
	u = upload_alloc(&t, &k, 10000, 0);
	upload_advance(u, 64, 1);
	ck_assert_uint_eq(u->received, 64);
	ck_assert_uint_eq(u->last_ns, 1);
	/* block 1 of 64: fine; block 2 (gap): 4.08 */
	ck_assert_int_eq(upload_check(u, 0, 64, 64, true, 64), UPLOAD_OK);
	ck_assert_int_eq(upload_check(u, 0, 128, 64, true, 64),
	    UPLOAD_INCOMPLETE);
	/* the last block again (a retry, new MID): acknowledged again */
	ck_assert_int_eq(upload_check(u, 0, 0, 64, true, 64),
	    UPLOAD_REPEAT);
	ck_assert_int_eq(upload_check(u, 0, 0, 32, true, 32),
	    UPLOAD_INCOMPLETE);
	ck_assert_int_eq(upload_check(u, 0, 0, 64, false, 64),
	    UPLOAD_INCOMPLETE);
	upload_advance(u, 64, 2);
	ck_assert_int_eq(upload_check(u, 0, 64, 64, true, 64),
	    UPLOAD_REPEAT);
	ck_assert_int_eq(upload_check(u, 0, 0, 64, true, 64),
	    UPLOAD_INCOMPLETE);
	u->received = 64;
	/* Late negotiation: 16-byte blocks from offset 64 (NUM 4). */
	ck_assert_int_eq(upload_check(u, 0, 4 * 16, 16, true, 16),
	    UPLOAD_OK);
	upload_table_fini(&t);
}
END_TEST

/* RFC 7959 §2.3: with M set the payload is exactly one block. */
START_TEST(rfc7959_block_size)
{
	ck_assert_int_eq(upload_check(NULL, 10000, 0, 63, true, 64),
	    UPLOAD_BAD_SIZE);
	ck_assert_int_eq(upload_check(NULL, 10000, 0, 65, true, 64),
	    UPLOAD_BAD_SIZE);
	/* The last block may be shorter, never longer. */
	ck_assert_int_eq(upload_check(NULL, 10000, 0, 10, false, 64),
	    UPLOAD_OK);
	ck_assert_int_eq(upload_check(NULL, 10000, 0, 65, false, 64),
	    UPLOAD_BAD_SIZE);
	ck_assert_int_eq(upload_check(NULL, 10000, 0, 0, false, 64),
	    UPLOAD_OK);
}
END_TEST

/* RFC 7959 §2.9.3: past the limit, 4.13; exactly at it is fine. */
START_TEST(rfc7959_limit)
{
	struct upload_table t;
	struct upload_key k = key(&peer_a, "/a", NULL);
	struct upload *u;

	ck_assert_int_eq(upload_check(NULL, 100, 0, 64, true, 64), UPLOAD_OK);
	ck_assert_int_eq(upload_check(NULL, 50, 0, 64, true, 64),
	    UPLOAD_TOO_LARGE);
	ck_assert_int_eq(upload_check(NULL, 0, 0, 0, false, 0), UPLOAD_OK);
	ck_assert_int_eq(upload_check(NULL, 0, 0, 1, false, 1),
	    UPLOAD_TOO_LARGE);
	ck_assert_int_eq(upload_table_init(&t, 1), 0);
	u = upload_alloc(&t, &k, 128, 0);
	upload_advance(u, 64, 0);
	/* The transfer's own limit wins over the argument. */
	ck_assert_int_eq(upload_check(u, 1 << 20, 64, 64, false, 64),
	    UPLOAD_OK);
	ck_assert_int_eq(upload_check(u, 1 << 20, 64, 64, true, 64),
	    UPLOAD_OK);
	upload_advance(u, 64, 0);
	ck_assert_int_eq(upload_check(u, 1 << 20, 128, 1, false, 64),
	    UPLOAD_TOO_LARGE);
	upload_table_fini(&t);
}
END_TEST

START_TEST(expiry)
{
	struct upload_table t;
	struct upload_key k[3] = {
		key(&peer_a, "/a", NULL), key(&peer_a, "/b", NULL),
		key(&peer_a, "/c", NULL),
	};
	struct upload *u[3], *x;
	unsigned cursor = 0, n = 0;

	ck_assert_int_eq(upload_table_init(&t, 4), 0);
	u[0] = upload_alloc(&t, &k[0], 1, 100);
	u[1] = upload_alloc(&t, &k[1], 1, 500);
	u[2] = upload_alloc(&t, &k[2], 1, 150);
	upload_advance(u[2], 0, 900);
	/* timeout 400 at 1000: /a (idle 900) and /b (500) expire. */
	while ((x = upload_next_expired(&t, 1000, 400, &cursor)) != NULL) {
		ck_assert(x == u[0] || x == u[1]);
		upload_release(&t, x);
		n++;
	}
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(t.n, 1);
	cursor = 0;
	ck_assert_ptr_null(upload_next_expired(&t, 1000, 400, &cursor));
	/* A clock behind last_ns expires nothing. */
	cursor = 0;
	ck_assert_ptr_null(upload_next_expired(&t, 10, 0, &cursor));
	cursor = 0;
	ck_assert_ptr_eq(upload_next_expired(&t, 1300, 400, &cursor), u[2]);
	upload_table_fini(&t);
}
END_TEST

/* Under pressure: the longest idle goes first; idle limits shrink. */
START_TEST(pressure)
{
	struct upload_table t;
	struct upload_key k[4] = {
		key(&peer_a, "/a", NULL), key(&peer_a, "/b", NULL),
		key(&peer_a, "/c", NULL), key(&peer_a, "/d", NULL),
	};
	struct upload *u[4];

	ck_assert_int_eq(upload_table_init(&t, 4), 0);
	ck_assert_uint_eq(upload_idle_limit(&t, 60, 10), 60);
	u[0] = upload_alloc(&t, &k[0], 1, 300);
	u[1] = upload_alloc(&t, &k[1], 1, 100);
	u[2] = upload_alloc(&t, &k[2], 1, 200);
	/* 3 of 4 in use: the shorter limit applies. */
	ck_assert_uint_eq(upload_idle_limit(&t, 60, 10), 10);
	ck_assert_uint_eq(upload_idle_limit(&t, 5, 10), 5);
	ck_assert_ptr_eq(upload_oldest_idle(&t, 1000, 0), u[1]);
	ck_assert_ptr_eq(upload_oldest_idle(&t, 450, 300), u[1]);
	ck_assert_ptr_null(upload_oldest_idle(&t, 350, 300));
	upload_advance(u[1], 0, 900);
	ck_assert_ptr_eq(upload_oldest_idle(&t, 1000, 0), u[2]);
	/* A clock behind every last_ns finds none idle. */
	ck_assert_ptr_null(upload_oldest_idle(&t, 50, 1));
	u[3] = upload_alloc(&t, &k[3], 1, 0);
	ck_assert_ptr_eq(upload_oldest_idle(&t, 1000, 0), u[3]);
	upload_table_fini(&t);
}
END_TEST

static Suite *
upload_suite(void)
{
	Suite *s = suite_create("upload");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, alloc_find_release);
	tcase_add_test(tc, rfc9175_request_tag_keys);
	tcase_add_test(tc, scope_names_the_uploader);
	tcase_add_test(tc, bounded);
	tcase_add_test(tc, too_long_keys);
	tcase_add_test(tc, rfc7959_order);
	tcase_add_test(tc, rfc7959_block_size);
	tcase_add_test(tc, rfc7959_limit);
	tcase_add_test(tc, expiry);
	tcase_add_test(tc, pressure);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(upload_suite());
}
