/*
 * test_uring.c - the io_uring adapter's sandbox (src/adapt/uring.c): a
 * sealed ring refuses an operation coapd never uses (IORING_OP_SOCKET, which
 * would get round RestrictAddressFamilies=) with EACCES, while the ones it
 * uses still work: a datagram sent and received through the ring, and the
 * multishot tick.  Skipped where io_uring itself is unavailable.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "adapt/uring.h"

#include "helpers.h"

#define UD_RECV	1
#define UD_TICK	2

static struct uring *
ring(void)
{
	struct uring *u = NULL;
	char err[256];
	int r;

	r = uring_new(&u, 64, 16, 2048, err, sizeof(err));
	if (r != 0)
		return NULL;
	return u;
}

static int
udp_socket(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	return fd;
}

START_TEST(sealed_ring_refuses_socket_op)
{
	struct uring *u = ring();
	int rerr = -1;

	if (u == NULL) {
		fprintf(stderr, "SKIP: io_uring unavailable here\n");
		return;
	}
	ck_assert_int_eq(uring_seal(u, &rerr), 0);
	ck_assert_int_eq(rerr, 0);
	ck_assert_int_eq(uring_try_socket(u), -EACCES);
	uring_free(u);
}
END_TEST

START_TEST(sealed_ring_still_works)
{
	struct uring_event ev[8];
	struct uring_dgram g;
	struct sockaddr_in sin;
	struct uring *u = ring();
	int fd, out, rerr, i;
	unsigned n, k;
	bool got_dgram = false, got_tick = false;

	if (u == NULL)
		return;
	fd = udp_socket(&sin);
	ck_assert_int_eq(uring_sockets(u, &fd, 1), 0);
	ck_assert_int_eq(uring_seal(u, &rerr), 0);
	ck_assert_int_eq(uring_recv_multishot(u, 0, UD_RECV), 0);
	(void)uring_tick(u, 10 * 1000 * 1000, UD_TICK);
	out = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(sendto(out, "ping", 4, 0, (struct sockaddr *)&sin,
	    sizeof(sin)), 4);
	for (i = 0; i < 50 && !(got_dgram && got_tick); i++) {
		ck_assert_int_eq(uring_wait(u, 100 * 1000 * 1000), 0);
		n = uring_events(u, ev, 8);
		for (k = 0; k < n; k++) {
			if (ev[k].ud == UD_RECV) {
				ck_assert_int_eq(uring_dgram(u, &ev[k], &g), 0);
				ck_assert_uint_eq(g.len, 4);
				ck_assert_mem_eq(g.data, "ping", 4);
				uring_buf_release(u, g.bid);
				got_dgram = true;
			} else if (ev[k].ud == UD_TICK) {
				/* -EINVAL: a kernel without multishot ones */
				ck_assert(ev[k].res == -ETIME ||
				    ev[k].res == -EINVAL);
				got_tick = true;
			}
		}
	}
	ck_assert_msg(got_dgram, "no datagram through the sealed ring");
	ck_assert_msg(got_tick, "no timeout completion on the sealed ring");
	close(out);
	uring_free(u);
	close(fd);
}
END_TEST

static Suite *
uring_suite(void)
{
	Suite *s = suite_create("uring");
	TCase *tc = tcase_create("restrictions");

	tcase_add_test(tc, sealed_ring_refuses_socket_op);
	tcase_add_test(tc, sealed_ring_still_works);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(uring_suite());
}
