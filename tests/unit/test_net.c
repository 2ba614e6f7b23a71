/*
 * test_net.c - address helpers (src/base/net.c): unmapping IPv4-mapped
 * IPv6 addresses for what hooks and backends are told.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <check.h>

#include "base/net.h"

#include "helpers.h"

static socklen_t
v6(struct sockaddr_in6 *s, const char *addr, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &s->sin6_addr), 1);
	return sizeof(*s);
}

START_TEST(unmap)
{
	struct sockaddr_storage	 out;
	struct sockaddr_in6	 s6;
	struct sockaddr_in	 s4;
	char			 buf[NET_ADDRSTRLEN];
	socklen_t		 n;

	n = net_addr_unmap((struct sockaddr *)&s6, v6(&s6,
	    "::ffff:192.0.2.7", 5683), &out);
	ck_assert_uint_eq(n, sizeof(struct sockaddr_in));
	ck_assert_str_eq(net_addr_str((struct sockaddr *)&out, buf,
	    sizeof(buf)), "192.0.2.7:5683");
	n = net_addr_unmap((struct sockaddr *)&s6, v6(&s6, "2001:db8::1",
	    9), &out);
	ck_assert_uint_eq(n, sizeof(s6));
	ck_assert_str_eq(net_addr_str((struct sockaddr *)&out, buf,
	    sizeof(buf)), "[2001:db8::1]:9");
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = htons(1);
	s4.sin_addr.s_addr = htonl(0x7f000001);
	n = net_addr_unmap((struct sockaddr *)&s4, sizeof(s4), &out);
	ck_assert_uint_eq(n, sizeof(s4));
	ck_assert(net_addr_same((struct sockaddr *)&s4, sizeof(s4),
	    (struct sockaddr *)&out, n));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("net");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, unmap);
	suite_add_tcase(s, tc);
	return th_run(s);
}
