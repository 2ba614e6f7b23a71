/*
 * test_acl.c - route access control (src/proto/acl.c): psk: globs, net: CIDR
 * for IPv4, IPv6 and v4-mapped clients, and the 4.01/4.03 decision.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "proto/acl.h"

#include "helpers.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static struct sockaddr_storage ss;

/* A client address from text (IPv4 as AF_INET, anything else AF_INET6). */
static const struct sockaddr *
addr(const char *text, socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(40000);
		*len = sizeof(*sin);
	} else {
		ck_assert(inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(40000);
		*len = sizeof(*sin6);
	}
	return (const struct sockaddr *)&ss;
}

static struct acl *
compile(char *const *e, size_t n)
{
	struct acl	*a;
	char		 err[128] = "";
	size_t		 bad;

	ck_assert_msg(acl_compile(e, n, &a, &bad, err, sizeof(err)) == 0,
	    "entry %zu: %s", bad, err);
	return a;
}

static enum acl_result
check(const struct acl *a, const char *id, const char *ip)
{
	const struct sockaddr	*sa;
	socklen_t		 len;

	sa = addr(ip, &len);
	return acl_check(a, id, sa, len);
}

START_TEST(glob)
{
	ck_assert(acl_glob("sensor-*", "sensor-1"));
	ck_assert(acl_glob("sensor-*", "sensor-"));
	ck_assert(!acl_glob("sensor-*", "sensor"));
	ck_assert(!acl_glob("sensor-*", "xsensor-1"));
	ck_assert(acl_glob("*", ""));
	ck_assert(acl_glob("*", "anything"));
	ck_assert(acl_glob("admin", "admin"));
	ck_assert(!acl_glob("admin", "admin2"));
	ck_assert(!acl_glob("admin", "admi"));
	ck_assert(acl_glob("*-gw-*", "site1-gw-7"));
	ck_assert(!acl_glob("*-gw-*", "site1-gw"));
	ck_assert(acl_glob("a*b*c", "aXbYbZc"));
	ck_assert(!acl_glob("a*b*c", "aXbYbZ"));
	ck_assert(acl_glob("**x", "x"));
	/* only '*' is special: fnmatch's '?' and '[' are literal here */
	ck_assert(acl_glob("dev?[1]", "dev?[1]"));
	ck_assert(!acl_glob("dev?", "dev1"));
	ck_assert(!acl_glob("dev[12]", "dev1"));
}
END_TEST

/* A pathological pattern stays polynomial. */
START_TEST(glob_no_blowup)
{
	char	 id[130], pat[130];

	memset(id, 'a', 128);
	id[128] = '\0';
	strcpy(pat, "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b");
	ck_assert(!acl_glob(pat, id));
}
END_TEST

START_TEST(psk_entries)
{
	char		*e[] = { "psk:sensor-*", "psk:admin" };
	struct acl	*a = compile(e, NELEM(e));

	ck_assert_int_eq(check(a, "sensor-17", "192.0.2.1"), ACL_ALLOW);
	ck_assert_int_eq(check(a, "admin", "2001:db8::1"), ACL_ALLOW);
	/* RFC 7252 §5.9.2.4: authenticated, not allowed */
	ck_assert_int_eq(check(a, "guest", "192.0.2.1"), ACL_FORBIDDEN);
	/* §5.9.2.2: plain CoAP, a PSK would help */
	ck_assert_int_eq(check(a, NULL, "127.0.0.1"), ACL_UNAUTHORIZED);
	ck_assert_int_eq(check(a, NULL, "::1"), ACL_UNAUTHORIZED);
	acl_free(a);
}
END_TEST

START_TEST(net_v4)
{
	char		*e[] = { "net:192.168.0.0/16", "net:10.1.2.3" };
	struct acl	*a = compile(e, NELEM(e));

	ck_assert_int_eq(check(a, NULL, "192.168.4.5"), ACL_ALLOW);
	ck_assert_int_eq(check(a, NULL, "192.169.0.1"), ACL_FORBIDDEN);
	ck_assert_int_eq(check(a, NULL, "10.1.2.3"), ACL_ALLOW);
	ck_assert_int_eq(check(a, NULL, "10.1.2.4"), ACL_FORBIDDEN);
	/* the same clients on a dual-stack socket */
	ck_assert_int_eq(check(a, NULL, "::ffff:192.168.4.5"), ACL_ALLOW);
	ck_assert_int_eq(check(a, NULL, "::ffff:10.1.2.3"), ACL_ALLOW);
	ck_assert_int_eq(check(a, NULL, "::ffff:10.1.2.4"), ACL_FORBIDDEN);
	/* an IPv6 client is never in an IPv4 network */
	ck_assert_int_eq(check(a, NULL, "::c0a8:405"), ACL_FORBIDDEN);
	/* no psk: entry: an identity does not help, nor is 4.01 due */
	ck_assert_int_eq(check(a, "sensor-1", "172.16.0.1"), ACL_FORBIDDEN);
	ck_assert_int_eq(check(a, "sensor-1", "192.168.0.1"), ACL_ALLOW);
	acl_free(a);
}
END_TEST

START_TEST(net_v6_and_prefixes)
{
	char		*e[] = { "net:2001:db8::/32", "net:::1/128",
	    "net:fe80::/10", "net:172.16.0.0/12" };
	struct acl	*a = compile(e, NELEM(e));

	ck_assert_int_eq(check(a, NULL, "2001:db8:1::1"), ACL_ALLOW);
	ck_assert_int_eq(check(a, NULL, "2001:db9::1"), ACL_FORBIDDEN);
	ck_assert_int_eq(check(a, NULL, "::1"), ACL_ALLOW);
	ck_assert_int_eq(check(a, NULL, "::2"), ACL_FORBIDDEN);
	ck_assert_int_eq(check(a, NULL, "febf::1"), ACL_ALLOW);
	ck_assert_int_eq(check(a, NULL, "fec0::1"), ACL_FORBIDDEN);
	ck_assert_int_eq(check(a, NULL, "172.31.255.255"), ACL_ALLOW);
	ck_assert_int_eq(check(a, NULL, "172.32.0.0"), ACL_FORBIDDEN);
	acl_free(a);
}
END_TEST

START_TEST(everyone)
{
	char		*e[] = { "net:0.0.0.0/0", "net:::/0" };
	struct acl	*a = compile(e, NELEM(e));

	ck_assert_int_eq(check(a, NULL, "203.0.113.9"), ACL_ALLOW);
	ck_assert_int_eq(check(a, NULL, "2001:db8::9"), ACL_ALLOW);
	acl_free(a);
	/* no acl at all */
	ck_assert_int_eq(check(NULL, NULL, "203.0.113.9"), ACL_ALLOW);
	ck_assert_int_eq(acl_check(NULL, NULL, NULL, 0), ACL_ALLOW);
}
END_TEST

START_TEST(mixed)
{
	char		*e[] = { "psk:gw-*", "net:127.0.0.0/8" };
	struct acl	*a = compile(e, NELEM(e));

	ck_assert_int_eq(check(a, NULL, "127.0.0.1"), ACL_ALLOW);
	ck_assert_int_eq(check(a, NULL, "192.0.2.1"), ACL_UNAUTHORIZED);
	ck_assert_int_eq(check(a, "gw-1", "192.0.2.1"), ACL_ALLOW);
	ck_assert_int_eq(check(a, "dev-1", "192.0.2.1"), ACL_FORBIDDEN);
	ck_assert_int_eq(check(a, "dev-1", "127.0.0.1"), ACL_ALLOW);
	/* a non-IP peer matches no net: entry */
	ck_assert_int_eq(acl_check(a, NULL, NULL, 0), ACL_UNAUTHORIZED);
	acl_free(a);
}
END_TEST

static void
expect_bad(const char *entry, const char *want)
{
	char		*e[] = { "psk:ok", (char *)entry };
	struct acl	*a = (struct acl *)1;
	char		 err[128] = "";
	size_t		 bad = 99;

	ck_assert_int_eq(acl_compile(e, 2, &a, &bad, err, sizeof(err)),
	    -EINVAL);
	ck_assert_ptr_null(a);
	ck_assert_uint_eq(bad, 1);
	ck_assert_str_eq(err, want);
}

START_TEST(bad_entries)
{
	expect_bad("user:bob", "must start with \"psk:\" or \"net:\"");
	expect_bad("psk:", "a PSK identity has 1..128 bytes");
	expect_bad("net:10.0.0.0/33", "prefix length must be 0..32");
	expect_bad("net:10.0.0.1/8", "host bits set beyond /8");
	expect_bad("net:example.org", "not a numeric address or CIDR network");
	expect_bad("net:2001:db8::/129", "prefix length must be 0..128");
	expect_bad("net:192.0.2.0/", "prefix length must be 0..32");
	expect_bad("net:192.0.2.0/24x", "prefix length must be 0..32");
	expect_bad("net:192.0.2.0/-1", "prefix length must be 0..32");
	expect_bad("net:2001:db8::1/64", "host bits set beyond /64");
	expect_bad("net:", "not a numeric address or CIDR network");
}
END_TEST

static Suite *
acl_suite(void)
{
	Suite	*s = suite_create("acl");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, glob);
	tcase_add_test(tc, glob_no_blowup);
	tcase_add_test(tc, psk_entries);
	tcase_add_test(tc, net_v4);
	tcase_add_test(tc, net_v6_and_prefixes);
	tcase_add_test(tc, everyone);
	tcase_add_test(tc, mixed);
	tcase_add_test(tc, bad_entries);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(acl_suite());
}
