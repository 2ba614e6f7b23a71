/*
 * test_psk.c - the pre-shared key table (src/proto/psk.c): the psk_file format,
 * every rejected line with its number, lookups, many identities.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <check.h>

#include "proto/psk.h"

#include "helpers.h"

/* Collected errors: "LINE: message" joined by '\n'. */
struct errs {
	char		 text[4096];
	unsigned	 n;
};

static void
collect(void *arg, unsigned line, const char *msg)
{
	struct errs	*e = arg;
	size_t		 len = strlen(e->text);

	snprintf(e->text + len, sizeof(e->text) - len, "%u: %s\n", line, msg);
	e->n++;
}

static struct psk_table *
parse_ok(const char *text)
{
	struct psk_table *t;
	struct errs	 e = { "", 0 };

	ck_assert_msg(psk_parse(text, strlen(text), &t, collect, &e) == 0,
	    "parse failed: %s", e.text);
	ck_assert_uint_eq(e.n, 0);
	return t;
}

/* Parse text expecting -EINVAL and exactly the errors want. */
static void
parse_bad(const char *text, const char *want)
{
	struct psk_table *t = (struct psk_table *)1;
	struct errs	 e = { "", 0 };

	ck_assert_int_eq(psk_parse(text, strlen(text), &t, collect, &e),
	    -EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_str_eq(e.text, want);
}

static void
expect_key(const struct psk_table *t, const char *id, const char *hex)
{
	const uint8_t	*k;
	size_t		 klen = 0, i;
	unsigned	 b;

	k = psk_lookup(t, id, strlen(id), &klen);
	ck_assert_msg(k != NULL, "%s not found", id);
	ck_assert_uint_eq(klen, strlen(hex) / 2);
	for (i = 0; i < klen; i++) {
		sscanf(hex + 2 * i, "%2x", &b);
		ck_assert_uint_eq(k[i], b);
	}
}

START_TEST(format)
{
	struct psk_table *t;
	size_t		 klen;

	t = parse_ok("# comment\n"
	    "\n"
	    "sensor-1:00112233445566778899aabbccddeeff\n"
	    "   # indented comment\n"
	    "  sensor-2:00112233445566778899AABBCCDDEEFF0011  \r\n"
	    "with space:000102030405060708090a0b0c0d0e0f"); /* no '\n' */
	ck_assert_uint_eq(psk_count(t), 3);
	expect_key(t, "sensor-1", "00112233445566778899aabbccddeeff");
	expect_key(t, "sensor-2", "00112233445566778899aabbccddeeff0011");
	expect_key(t, "with space", "000102030405060708090a0b0c0d0e0f");
	ck_assert_ptr_null(psk_lookup(t, "sensor-3", 8, &klen));
	ck_assert_ptr_null(psk_lookup(t, "sensor-", 7, &klen));
	ck_assert_ptr_null(psk_lookup(t, "", 0, &klen));
	psk_free(t);
	/* the first ':' ends the identity: the rest must be hex */
	parse_bad("colon:in:key:000102030405060708090a0b0c0d0e0f\n",
	    "1: key of identity \"colon\": odd number of hex digits\n");
}
END_TEST

START_TEST(empty_file)
{
	struct psk_table *t;
	size_t		 klen;

	t = parse_ok("");
	ck_assert_uint_eq(psk_count(t), 0);
	ck_assert_ptr_null(psk_lookup(t, "a", 1, &klen));
	psk_free(t);
	t = parse_ok("# only comments\n\n\n");
	ck_assert_uint_eq(psk_count(t), 0);
	psk_free(t);
	ck_assert_ptr_null(psk_lookup(NULL, "a", 1, &klen));
	psk_free(NULL);
}
END_TEST

START_TEST(bad_lines_all_reported)
{
	parse_bad("good:00112233445566778899aabbccddeeff\n"
	    "no colon here\n"
	    ":00112233445566778899aabbccddeeff\n"
	    "short:0011223344556677\n"
	    "odd:00112233445566778899aabbccddeef\n"
	    "nothex:zz112233445566778899aabbccddeeff\n"
	    "good:ffeeddccbbaa99887766554433221100\n"
	    "long:00112233445566778899aabbccddeeff00112233445566778899aabbccdd"
	    "eeff00112233445566778899aabbccddeeff00112233445566778899aabbccdd"
	    "eeff00\n"
	    "empty:\n",
	    "2: malformed line, expected \"identity:hexkey\"\n"
	    "3: an identity has 1..128 bytes\n"
	    "4: key of identity \"short\" has 8 bytes, it must have 16 to 64\n"
	    "5: key of identity \"odd\": odd number of hex digits\n"
	    "6: key of identity \"nothex\": not a hex string\n"
	    "7: duplicate identity \"good\" (first on line 1)\n"
	    "8: key of identity \"long\" has 65 bytes, it must have "
	    "16 to 64\n"
	    "9: key of identity \"empty\" has 0 bytes, it must have "
	    "16 to 64\n");
}
END_TEST

START_TEST(identity_bounds)
{
	char		 line[400];
	struct psk_table *t;

	memset(line, 'a', 128);
	strcpy(line + 128, ":00112233445566778899aabbccddeeff\n");
	t = parse_ok(line);
	ck_assert_uint_eq(psk_count(t), 1);
	psk_free(t);
	memset(line, 'a', 129);
	strcpy(line + 129, ":00112233445566778899aabbccddeeff\n");
	parse_bad(line, "1: an identity has 1..128 bytes\n");
	parse_bad("a\tb:00112233445566778899aabbccddeeff\n",
	    "1: control character in identity\n");
}
END_TEST

START_TEST(nul_byte)
{
	static const char text[] = "a:00112233445566778899aabbccddeeff\n"
	    "b\0:00112233445566778899aabbccddeeff\n";
	struct psk_table *t;
	struct errs	 e = { "", 0 };

	ck_assert_int_eq(psk_parse(text, sizeof(text) - 1, &t, collect, &e),
	    -EINVAL);
	ck_assert_str_eq(e.text, "2: NUL byte in line\n");
}
END_TEST

START_TEST(no_callback)
{
	struct psk_table *t;

	ck_assert_int_eq(psk_parse("bad\n", 4, &t, NULL, NULL), -EINVAL);
	ck_assert_ptr_null(t);
}
END_TEST

START_TEST(mode)
{
	ck_assert(psk_mode_ok(S_IFREG | 0600));
	ck_assert(psk_mode_ok(S_IFREG | 0400));
	ck_assert(!psk_mode_ok(S_IFREG | 0640));
	ck_assert(!psk_mode_ok(S_IFREG | 0604));
	ck_assert(!psk_mode_ok(S_IFREG | 0644));
	ck_assert(!psk_mode_ok(S_IFREG | 0602));
	ck_assert(!psk_mode_ok(S_IFREG | 0610));
}
END_TEST

/* Tens of thousands of identities load fast and all resolve. */
START_TEST(many)
{
	enum { N = 50000 };
	struct psk_table *t;
	struct timespec	 a, b;
	const uint8_t	*k;
	char		*text, id[32];
	size_t		 len = 0, klen, i;
	double		 ms;

	text = malloc((size_t)N * 64);
	ck_assert_ptr_nonnull(text);
	for (i = 0; i < N; i++)
		len += (size_t)sprintf(text + len,
		    "device-%06zu:%032zx\n", i, i * 7919);
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(psk_parse(text, len, &t, NULL, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	ck_assert_msg(ms < 500, "%d identities took %.1f ms", N, ms);
	ck_assert_uint_eq(psk_count(t), N);
	for (i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "device-%06zu", i);
		k = psk_lookup(t, id, strlen(id), &klen);
		ck_assert_ptr_nonnull(k);
		ck_assert_uint_eq(klen, 16);
		ck_assert_uint_eq(k[15], (uint8_t)(i * 7919));
	}
	ck_assert_ptr_null(psk_lookup(t, "device-050000", 13, &klen));
	psk_free(t);
	free(text);
}
END_TEST

static Suite *
psk_suite(void)
{
	Suite	*s = suite_create("psk");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, format);
	tcase_add_test(tc, empty_file);
	tcase_add_test(tc, bad_lines_all_reported);
	tcase_add_test(tc, identity_bounds);
	tcase_add_test(tc, nul_byte);
	tcase_add_test(tc, no_callback);
	tcase_add_test(tc, mode);
	tcase_add_test(tc, many);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(psk_suite());
}
