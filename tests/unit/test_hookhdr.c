/*
 * test_hookhdr.c - the CGI-style header block of a hook's output
 * (src/proto/hookhdr.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "proto/coap_msg.h"
#include "proto/hookhdr.h"

#include "helpers.h"

static int
parse(const char *s, struct hook_hdr *h, char *err)
{
	return hookhdr_parse(s, strlen(s), h, err, 128);
}

START_TEST(all_headers)
{
	const char	*s = "Status: 4.04 Not Found\r\ncontent-format: 50\n"
	    "MAX-AGE:30\nETag: abc\nLocation-Path: /a/bc\n\nbody";
	struct hook_hdr	 h;
	char		 err[128];

	ck_assert_int_eq(parse(s, &h, err), 0);
	ck_assert_int_eq(h.status, COAP_NOT_FOUND);
	ck_assert_int_eq(h.ct, 50);
	ck_assert_int_eq(h.max_age, 30);
	ck_assert_uint_eq(h.etag_len, 3);
	ck_assert_int_eq(memcmp(h.etag, "abc", 3), 0);
	ck_assert_str_eq(h.location, "/a/bc");
	ck_assert_str_eq(s + h.body_off, "body");
}
END_TEST

START_TEST(defaults_and_empty_block)
{
	struct hook_hdr	 h;
	char		 err[128];

	ck_assert_int_eq(parse("\nall payload", &h, err), 0);
	ck_assert_int_eq(h.status, -1);
	ck_assert_int_eq(h.ct, -1);
	ck_assert_int_eq(h.max_age, -1);
	ck_assert_uint_eq(h.etag_len, 0);
	ck_assert_uint_eq(h.body_off, 1);
	ck_assert_int_eq(parse("Status: 205\n\n", &h, err), 0);
	ck_assert_int_eq(h.status, COAP_CONTENT);
	ck_assert_int_eq(parse("Status: 5.03\n\n", &h, err), 0);
	ck_assert_int_eq(h.status, COAP_SERVICE_UNAVAILABLE);
}
END_TEST

START_TEST(malformed)
{
	static const struct {
		const char	*in;
		const char	*err;
	} bad[] = {
		{ "Status: 4.04\nno end", "header line 2: no empty line ends "
		    "the headers" },
		{ "", "header line 1: no empty line ends the headers" },
		{ "Colour: red\n\n", "header line 1: unknown header (Status, "
		    "Content-Format, Max-Age, ETag or Location-Path)" },
		{ "just text\n\n", "header line 1: expected \"Name: value\"" },
		{ "Status: 3.00\n\n", "header line 1: not a response code "
		    "such as 4.04" },
		{ "Status: 0.01\n\n", "header line 1: not a response code "
		    "such as 4.04" },
		{ "Status: 4.40\n\n", "header line 1: not a response code "
		    "such as 4.04" },
		{ "Status: 2.05\nStatus: 2.05\n\n",
		    "header line 2: repeated header" },
		{ "Content-Format: 65536\n\n",
		    "header line 1: not a number 0..65535" },
		{ "Max-Age: -1\n\n", "header line 1: not a number "
		    "0..4294967295" },
		{ "ETag: 123456789\n\n", "header line 1: must be 1 to 8 bytes" },
		{ "Location-Path: a/b\n\n", "header line 1: must be a path "
		    "starting with /" },
	};
	struct hook_hdr	 h;
	char		 err[128];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(parse(bad[i].in, &h, err) == -EINVAL,
		    "accepted %s", bad[i].in);
		ck_assert_str_eq(err, bad[i].err);
	}
}
END_TEST

/* A block longer than HOOKHDR_MAX is refused, not searched forever. */
START_TEST(too_long)
{
	static char	 buf[HOOKHDR_MAX + 64];
	struct hook_hdr	 h;
	char		 err[128];

	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "ETag: a\n", 8);
	buf[sizeof(buf) - 2] = '\n';
	buf[sizeof(buf) - 1] = '\n';
	ck_assert_int_eq(hookhdr_parse(buf, sizeof(buf), &h, err,
	    sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "header line 2: headers longer than 4096 bytes");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("hookhdr");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, all_headers);
	tcase_add_test(tc, defaults_and_empty_block);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, too_long);
	suite_add_tcase(s, tc);
	return th_run(s);
}
