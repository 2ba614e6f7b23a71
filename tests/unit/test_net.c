/*
 * test_net.c - address helpers (src/base/net.c): unmapping IPv4-mapped
 * IPv6 addresses for what hooks and backends are told.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
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

/* What inet_ntop(3) and printf make of sa: net_addr_str() must agree. */
static void
ref_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(sin->sin_port));
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(sin6->sin6_port));
	}
}

static void
client_str_is(const char *addr, unsigned port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	char			 want[NET_ADDRSTRLEN], got[NET_ADDRSTRLEN];

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	}
	ref_str((struct sockaddr *)&ss, want, sizeof(want));
	ck_assert_ptr_eq(net_addr_str((struct sockaddr *)&ss, got,
	    sizeof(got)), got);
	ck_assert_str_eq(got, want);
	/* a short buffer gets the text cut, as snprintf would */
	net_addr_str((struct sockaddr *)&ss, got, 8);
	ck_assert_int_eq(strncmp(got, want, 7), 0);
	ck_assert_uint_eq(strlen(got), strlen(want) < 7 ? strlen(want) : 7);
}

START_TEST(client_str)
{
	static const char *const v[] = {
		"0.0.0.0", "127.0.0.1", "192.0.2.255", "255.255.255.255",
		"10.20.3.4", "::", "::1", "1::", "1::2", "2001:db8::1",
		"2001:db8:0:0:1:0:0:1", "2001:db8:0:1:1:1:1:1",
		"1:0:0:2:0:0:0:3", "fe80::1:2:3:4", "ffff:ffff:ffff:ffff:"
		"ffff:ffff:ffff:ffff", "::ffff:192.0.2.1", "::192.0.2.1",
		"::ffff:0:1", "0:0:1::", "1:2:3:4:5:6:7:0", "1:0:2:0:3:0:4:0",
	};
	struct sockaddr_in6	 sin6;
	char			 want[NET_ADDRSTRLEN], got[NET_ADDRSTRLEN];
	size_t			 i, j;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		client_str_is(v[i], 0);
		client_str_is(v[i], 5683);
		client_str_is(v[i], 65535);
	}
	/* random addresses, zero groups likely */
	srandom(7);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	for (i = 0; i < 5000; i++) {
		for (j = 0; j < 16; j += 2) {
			sin6.sin6_addr.s6_addr[j] = (uint8_t)(random() % 4 == 0 ?
			    random() : 0);
			sin6.sin6_addr.s6_addr[j + 1] = (uint8_t)(random() % 2 ?
			    random() : 0);
		}
		sin6.sin6_port = htons((uint16_t)random());
		ref_str((struct sockaddr *)&sin6, want, sizeof(want));
		net_addr_str((struct sockaddr *)&sin6, got, sizeof(got));
		ck_assert_str_eq(got, want);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("net");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, unmap);
	tcase_add_test(tc, client_str);
	suite_add_tcase(s, tc);
	return th_run(s);
}
