/*
 * test_route.c - the router (src/proto/route.c): longest prefix on '/' segment
 * boundaries, file routes exact only, "/" as the catch-all.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "adapt/cfg.h"
#include "proto/route.h"

#include "helpers.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* A route over a directory (dir) or a single file. */
static struct cfg_route
rt(const char *path, bool dir)
{
	struct cfg_route r;

	memset(&r, 0, sizeof(r));
	r.path = (char *)path;
	r.path_len = strlen(path);
	r.kind = ROUTE_STATIC;
	r.static_is_dir = dir;
	r.static_dirfd = -1;
	r.ct = -1;
	return r;
}

/* The router's view of routes[0..n), as cfg.c builds it. */
static int
build_specs(struct route_table **t, const struct cfg_route *r, size_t n,
    char *err, size_t errlen)
{
	struct route_spec specs[64];
	size_t		 i;

	ck_assert_uint_le(n, NELEM(specs));
	for (i = 0; i < n; i++)
		specs[i] = (struct route_spec){ .path = r[i].path,
		    .path_len = r[i].path_len, .target = &r[i],
		    .prefix = r[i].static_is_dir ||
		    r[i].kind != ROUTE_STATIC };
	return route_table_build(t, n ? specs : NULL, n, err, errlen);
}

static struct route_table *
build(struct cfg_route *r, size_t n)
{
	struct route_table *t;
	char		 err[128] = "";

	ck_assert_msg(build_specs(&t, r, n, err, sizeof(err)) == 0,
	    "build: %s", err);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* Match path; expect route index want (-1: none) and remainder rest. */
static void
expect(const struct route_table *t, const struct cfg_route *base,
    const char *path, int want, const char *rest)
{
	const struct cfg_route *r;
	const char	*got = "(unset)";

	r = route_match(t, path, strlen(path), &got);
	if (want < 0) {
		ck_assert_msg(r == NULL, "%s: matched %s, expected none",
		    path, r ? r->path : "");
		return;
	}
	ck_assert_msg(r == &base[want], "%s: matched %s, expected %s", path,
	    r ? r->path : "nothing", base[want].path);
	ck_assert_str_eq(got, rest);
}

START_TEST(root_matches_everything)
{
	struct cfg_route r[] = { rt("/", true) };
	struct route_table *t = build(r, NELEM(r));

	expect(t, r, "/", 0, "");
	expect(t, r, "/a", 0, "a");
	expect(t, r, "/a/b/c.txt", 0, "a/b/c.txt");
	expect(t, r, "/.well-known/core", 0, ".well-known/core");
	route_table_free(t);
}
END_TEST

START_TEST(longest_prefix_wins)
{
	struct cfg_route r[] = {
		rt("/", true), rt("/fw", true), rt("/fw/beta", true),
		rt("/fw/beta/nightly", true),
	};
	struct route_table *t = build(r, NELEM(r));

	expect(t, r, "/fw", 1, "");
	expect(t, r, "/fw/a.bin", 1, "a.bin");
	expect(t, r, "/fw/beta", 2, "");
	expect(t, r, "/fw/beta/x/y", 2, "x/y");
	expect(t, r, "/fw/beta/nightly/z", 3, "z");
	expect(t, r, "/fw/betas", 1, "betas");
	expect(t, r, "/other", 0, "other");
	route_table_free(t);
}
END_TEST

/* "/fw" owns "/fw/..." but a request for "/fwx" is not beneath it. */
START_TEST(segment_boundary)
{
	struct cfg_route r[] = { rt("/fw", true), rt("/a/b", true) };
	struct route_table *t = build(r, NELEM(r));

	expect(t, r, "/fwx", -1, NULL);
	expect(t, r, "/fw-1/x", -1, NULL);
	expect(t, r, "/f", -1, NULL);
	expect(t, r, "/a", -1, NULL);
	expect(t, r, "/a/bc", -1, NULL);
	expect(t, r, "/a/b/c", 1, "c");
	/* an empty last segment (Uri-Path "fw", "") leaves an empty rest */
	expect(t, r, "/fw/", 0, "");
	route_table_free(t);
}
END_TEST

START_TEST(file_route_exact_only)
{
	struct cfg_route r[] = {
		rt("/", true), rt("/hello", false), rt("/cfg/now", false),
	};
	struct route_table *t = build(r, NELEM(r));

	expect(t, r, "/hello", 1, "");
	expect(t, r, "/hello/x", 0, "hello/x");
	expect(t, r, "/hellox", 0, "hellox");
	expect(t, r, "/cfg/now", 2, "");
	expect(t, r, "/cfg", 0, "cfg");
	route_table_free(t);
}
END_TEST

/* A file route at "/" answers "/" and nothing else. */
START_TEST(root_file_route)
{
	struct cfg_route r[] = { rt("/", false), rt("/d", true) };
	struct route_table *t = build(r, NELEM(r));

	expect(t, r, "/", 0, "");
	expect(t, r, "/x", -1, NULL);
	expect(t, r, "/d/x", 1, "x");
	route_table_free(t);
}
END_TEST

START_TEST(no_match_and_bad_input)
{
	struct cfg_route r[] = { rt("/a", true) };
	struct route_table *t = build(r, NELEM(r));
	const char	*rest = "untouched";

	expect(t, r, "/", -1, NULL);
	expect(t, r, "/b", -1, NULL);
	ck_assert_ptr_null(route_match(t, "", 0, &rest));
	ck_assert_ptr_null(route_match(t, "a", 1, &rest));
	ck_assert_ptr_null(route_match(t, "a/b", 3, &rest));
	ck_assert_ptr_null(route_match(NULL, "/a", 2, &rest));
	ck_assert_str_eq(rest, "untouched");
	route_table_free(t);
	route_table_free(NULL);
}
END_TEST

/* The path need not be NUL-terminated: only len bytes count. */
START_TEST(length_bounded)
{
	struct cfg_route r[] = { rt("/", true), rt("/fw", true) };
	struct route_table *t = build(r, NELEM(r));
	const char	 buf[] = "/fw/abc";
	const char	*rest = NULL;

	ck_assert_ptr_eq(route_match(t, buf, 3, &rest), &r[1]);
	ck_assert_str_eq(rest, "");
	ck_assert_ptr_eq(route_match(t, buf, 2, &rest), &r[0]);
	ck_assert_int_eq(rest[0], 'f');
	ck_assert_ptr_eq(route_match(t, buf, 5, &rest), &r[1]);
	ck_assert_ptr_eq(rest, buf + 4);
	route_table_free(t);
}
END_TEST

START_TEST(build_rejects_duplicates)
{
	struct cfg_route r[] = {
		rt("/a", true), rt("/b", true), rt("/a", false),
	};
	struct route_table *t = (struct route_table *)&r;
	char		 err[128] = "";

	ck_assert_int_eq(build_specs(&t, r, NELEM(r), err, sizeof(err)),
	    -EEXIST);
	ck_assert_ptr_null(t);
	ck_assert_str_eq(err, "duplicate route path \"/a\"");
}
END_TEST

START_TEST(build_rejects_malformed)
{
	static const char *bad[] = {
		"", "a", "/a/", "/a//b", "//", "/.", "/..", "/a/./b", "/a/..",
	};
	struct cfg_route r[1];
	struct route_table *t;
	char		 err[128], want[128];
	size_t		 i;

	for (i = 0; i < NELEM(bad); i++) {
		r[0] = rt(bad[i], true);
		err[0] = '\0';
		ck_assert_msg(build_specs(&t, r, 1, err, sizeof(err)) ==
		    -EINVAL, "accepted \"%s\"", bad[i]);
		ck_assert_ptr_null(t);
		snprintf(want, sizeof(want), "malformed route path \"%s\"",
		    bad[i]);
		ck_assert_str_eq(err, want);
	}
	/* a NULL path (a route whose path failed to load) */
	r[0] = rt("/x", true);
	r[0].path = NULL;
	ck_assert_int_eq(build_specs(&t, r, 1, err, sizeof(err)),
	    -EINVAL);
}
END_TEST

START_TEST(build_empty)
{
	struct route_table *t;
	const char	*rest;
	char		 err[64];

	ck_assert_int_eq(build_specs(&t, NULL, 0, err, sizeof(err)), 0);
	ck_assert_ptr_null(route_match(t, "/", 1, &rest));
	route_table_free(t);
}
END_TEST

/* ":name" segments match one segment each and capture it. */
START_TEST(pattern_captures)
{
	struct cfg_route r[] = {
		rt("/relay/:id", false), rt("/relay/status", false),
		rt("/relay", true), rt("/:dev/:ch/raw", false),
	};
	struct route_table *t = build(r, NELEM(r));
	struct route_cap caps[ROUTE_CAPS_MAX];
	const char	*rest;
	size_t		 n;

	ck_assert_ptr_eq(route_match_caps(t, "/relay/7", 8, &rest, caps, &n),
	    &r[0]);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(caps[0].name_len, 2);
	ck_assert_int_eq(memcmp(caps[0].name, "id", 2), 0);
	ck_assert_uint_eq(caps[0].val_len, 1);
	ck_assert_int_eq(caps[0].val[0], '7');
	ck_assert_str_eq(rest, "");
	/* a literal of as many segments wins */
	ck_assert_ptr_eq(route_match_caps(t, "/relay/status", 13, &rest, caps,
	    &n), &r[1]);
	ck_assert_uint_eq(n, 0);
	/* a pattern is exact: one more segment falls to the prefix */
	expect(t, r, "/relay/7/x", 2, "7/x");
	expect(t, r, "/relay", 2, "");
	ck_assert_ptr_eq(route_match_caps(t, "/a/b/raw", 8, &rest, caps, &n),
	    &r[3]);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(caps[1].val[0], 'b');
	expect(t, r, "/a/b/cooked", -1, NULL);
	route_table_free(t);
}
END_TEST

START_TEST(pattern_rejects_bad)
{
	static const char *bad[] = { "/a/:", "/a/:x-y", "/:x/:x" };
	struct cfg_route r[2];
	struct route_table *t;
	char		 err[128];
	size_t		 i;

	for (i = 0; i < NELEM(bad); i++) {
		r[0] = rt(bad[i], false);
		ck_assert_msg(build_specs(&t, r, 1, err, sizeof(err)) ==
		    -EINVAL, "accepted \"%s\"", bad[i]);
	}
	/* same shape, other names: the second would never match */
	r[0] = rt("/a/:x", false);
	r[1] = rt("/a/:yy", false);
	ck_assert_int_eq(build_specs(&t, r, 2, err, sizeof(err)), -EEXIST);
}
END_TEST

/* The reference: every route that matches, by the header's definition. */
static const struct cfg_route *
naive(struct cfg_route *r, size_t n, const char *p, const char **rest)
{
	const struct cfg_route *best = NULL;
	size_t		 i, len = strlen(p), l;

	for (i = 0; i < n; i++) {
		l = r[i].path_len;
		if (l > len || memcmp(r[i].path, p, l) != 0)
			continue;
		if (l != len && !(r[i].static_is_dir &&
		    (l == 1 || p[l] == '/')))
			continue;
		if (best == NULL || l > best->path_len) {
			best = &r[i];
			*rest = l == len ? "" : p + l + (l == 1 ? 0 : 1);
		}
	}
	return best;
}

/* Tables in any input order agree with the reference on random paths. */
START_TEST(matches_reference)
{
	static const char *seg[] = { "a", "b", "ab", "fw", "x.bin", "" };
	struct cfg_route r[40];
	char		 paths[40][64], p[128];
	struct route_table *t;
	const struct cfg_route *got, *want;
	const char	*grest, *wrest;
	unsigned	 seed = 12345, i, j, k, n = 0, depth;

#define RND()	(seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
	strcpy(paths[n], "/");
	r[n] = rt(paths[n], true);
	n++;
	while (n < NELEM(r)) {
		depth = 1 + RND() % 3;
		paths[n][0] = '\0';
		for (j = 0; j < depth; j++) {
			strcat(paths[n], "/");
			strcat(paths[n], seg[RND() % (NELEM(seg) - 1)]);
		}
		for (k = 0; k < n; k++)
			if (strcmp(paths[k], paths[n]) == 0)
				break;
		if (k < n)
			continue;
		r[n] = rt(paths[n], RND() % 3 != 0);
		n++;
	}
	/* shuffle: the table must not depend on the order of the file */
	for (i = n - 1; i > 0; i--) {
		struct cfg_route tmp;

		j = RND() % (i + 1);
		tmp = r[i];
		r[i] = r[j];
		r[j] = tmp;
	}
	t = build(r, n);
	for (i = 0; i < 5000; i++) {
		depth = RND() % 5;
		strcpy(p, depth ? "" : "/");
		for (j = 0; j < depth; j++) {
			strcat(p, "/");
			strcat(p, seg[RND() % NELEM(seg)]);
		}
		want = naive(r, n, p, &wrest);
		got = route_match(t, p, strlen(p), &grest);
		ck_assert_msg(got == want, "%s: got %s, want %s", p,
		    got ? got->path : "none", want ? want->path : "none");
		if (want != NULL)
			ck_assert_str_eq(grest, wrest);
	}
	route_table_free(t);
#undef RND
}
END_TEST

static Suite *
route_suite(void)
{
	Suite	*s = suite_create("route");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, root_matches_everything);
	tcase_add_test(tc, longest_prefix_wins);
	tcase_add_test(tc, segment_boundary);
	tcase_add_test(tc, file_route_exact_only);
	tcase_add_test(tc, root_file_route);
	tcase_add_test(tc, no_match_and_bad_input);
	tcase_add_test(tc, length_bounded);
	tcase_add_test(tc, build_rejects_duplicates);
	tcase_add_test(tc, build_rejects_malformed);
	tcase_add_test(tc, build_empty);
	tcase_add_test(tc, matches_reference);
	tcase_add_test(tc, pattern_captures);
	tcase_add_test(tc, pattern_rejects_bad);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(route_suite());
}
