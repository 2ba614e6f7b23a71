/*
 * route.c - the router.  Pure: no I/O, no allocation after the build.
 *
 * A gateway has tens of routes, so a flat array sorted by path length,
 * longest first, is the fastest structure: the first entry that matches
 * is the longest match, the entries sit in one cache-friendly block, and a
 * request compares a handful of short prefixes.  A trie would win only at
 * hundreds of routes.
 *
 * A segment ":name" matches any one segment and captures it (hook routes:
 * "/relay/:id").  Entries are ordered by segment count, most first, then
 * literal before pattern, then length: the first match is still the most
 * specific, because every literal entry that matches a path is a prefix of
 * it, and a longer prefix on segment boundaries has more segments.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/route.h"

struct route_ent {
	const char		*path;
	size_t			 len;
	bool			 dir;	/* matches the tree beneath path */
	bool			 pattern; /* has ":name" segments */
	unsigned		 nseg;	/* segments: "/" 0, "/a/b" 2 */
	const void		*target;
};

struct route_table {
	size_t			 n;
	struct route_ent	 ent[];	/* see ent_cmp() */
};

unsigned
route_segments(const char *p, size_t len)
{
	unsigned	 n = 0;
	size_t		 i;

	for (i = 0; i < len; i++)
		if (p[i] == '/' && i + 1 < len)
			n++;
	return n;
}

/*
 * Check the ":name" segments of p: names of [A-Za-z0-9_], distinct, at
 * most ROUTE_CAPS_MAX.  Returns their count, or -EINVAL.
 */
static int
caps_valid(const char *p, size_t len)
{
	const char	*names[ROUTE_CAPS_MAX];
	size_t		 lens[ROUTE_CAPS_MAX], i, j, n;
	int		 ncap = 0, k;

	for (i = 0; i < len; i = j) {
		for (j = i + 1; j < len && p[j] != '/'; j++)
			;
		if (j - i < 2 || p[i + 1] != ':')
			continue;
		n = j - i - 2;
		if (n == 0 || ncap == ROUTE_CAPS_MAX)
			return -EINVAL;
		for (k = 0; (size_t)k < n; k++)
			if (!isalnum((unsigned char)p[i + 2 + (size_t)k]) &&
			    p[i + 2 + (size_t)k] != '_')
				return -EINVAL;
		for (k = 0; k < ncap; k++)
			if (lens[k] == n && memcmp(names[k], p + i + 2, n) == 0)
				return -EINVAL;
		names[ncap] = p + i + 2;
		lens[ncap++] = n;
	}
	return ncap;
}

bool
route_caps_valid(const char *path, size_t len)
{
	return caps_valid(path, len) >= 0;
}

/* Same shape: equal, with every ":name" segment equal to every other. */
static bool
shape_eq(const struct route_ent *x, const struct route_ent *y)
{
	size_t	 i = 0, j = 0;

	if (x->nseg != y->nseg || x->pattern != y->pattern)
		return false;
	if (!x->pattern)
		return x->len == y->len && memcmp(x->path, y->path, x->len) == 0;
	while (i < x->len && j < y->len) {
		if (x->path[i] == ':' && y->path[j] == ':') {
			while (i < x->len && x->path[i] != '/')
				i++;
			while (j < y->len && y->path[j] != '/')
				j++;
			continue;
		}
		if (x->path[i++] != y->path[j++])
			return false;
	}
	return i == x->len && j == y->len;
}

/* "/" or "/seg/seg": no trailing '/', no empty, "." or ".." segment. */
static bool
path_valid(const char *p, size_t len)
{
	const char	*seg, *end, *stop = p + len;

	if (len == 0 || p[0] != '/' || memchr(p, '\0', len) != NULL)
		return false;
	if (len == 1)
		return true;
	for (seg = p + 1; seg <= stop; seg = end + 1) {
		end = memchr(seg, '/', (size_t)(stop - seg));
		if (end == NULL)
			end = stop;
		if (end == seg)
			return false;
		if ((end - seg == 1 && seg[0] == '.') ||
		    (end - seg == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
	}
	return true;
}

/* Does ent[i] have the shape of an entry before it (sorted table)? */
static bool
dup_before(const struct route_table *t, size_t i)
{
	size_t	 j;

	if (!t->ent[i].pattern)
		return shape_eq(&t->ent[i], &t->ent[i - 1]);
	for (j = i; j-- > 0 && t->ent[j].nseg == t->ent[i].nseg;)
		if (shape_eq(&t->ent[i], &t->ent[j]))
			return true;
	return false;
}

static int
ent_cmp(const void *a, const void *b)
{
	const struct route_ent *x = a, *y = b;

	if (x->nseg != y->nseg)
		return x->nseg > y->nseg ? -1 : 1;
	if (x->pattern != y->pattern)
		return x->pattern ? 1 : -1;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	/* equal lengths: order by bytes, so duplicates end up adjacent */
	return memcmp(x->path, y->path, x->len);
}

int
route_table_build(struct route_table **out, const struct route_spec *routes,
    size_t n, char *err, size_t errlen)
{
	struct route_table *t;
	size_t		 i;

	*out = NULL;
	for (i = 0; i < n; i++)
		if (routes[i].path == NULL ||
		    !path_valid(routes[i].path, routes[i].path_len) ||
		    caps_valid(routes[i].path, routes[i].path_len) < 0) {
			snprintf(err, errlen, "malformed route path \"%.*s\"",
			    routes[i].path ? (int)routes[i].path_len : 0,
			    routes[i].path ? routes[i].path : "");
			return -EINVAL;
		}
	t = malloc(sizeof(*t) + n * sizeof(t->ent[0]));
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->n = n;
	for (i = 0; i < n; i++) {
		t->ent[i].path = routes[i].path;
		t->ent[i].len = routes[i].path_len;
		t->ent[i].dir = routes[i].prefix;
		t->ent[i].pattern = caps_valid(routes[i].path,
		    routes[i].path_len) > 0;
		t->ent[i].nseg = route_segments(routes[i].path, routes[i].path_len);
		t->ent[i].target = routes[i].target;
	}
	qsort(t->ent, n, sizeof(t->ent[0]), ent_cmp);
	/* literal duplicates are adjacent; patterns (few) are compared all */
	for (i = 1; i < n; i++)
		if (dup_before(t, i)) {
			snprintf(err, errlen, t->ent[i].pattern ?
			    "route path \"%s\" matches what another route "
			    "of the same shape matches" :
			    "duplicate route path \"%s\"", t->ent[i].path);
			free(t);
			return -EEXIST;
		}
	*out = t;
	return 0;
}

void
route_table_free(struct route_table *t)
{
	free(t);
}

/*
 * Match pattern entry e against path segment by segment, capturing its
 * ":name" segments.  Returns true and sets *rest on a match.
 */
static bool
pattern_match(const struct route_ent *e, const char *path, size_t len,
    const char **rest, struct route_cap *caps, size_t *ncaps)
{
	size_t	 i = 0, j = 0, ie, je, nc = 0;

	/* both at a '/': compare the segment that follows */
	while (i < e->len) {
		if (j >= len || path[j] != '/')
			return false;
		for (ie = i + 1; ie < e->len && e->path[ie] != '/'; ie++)
			;
		for (je = j + 1; je < len && path[je] != '/'; je++)
			;
		if (je == j + 1)
			return false;
		if (e->path[i + 1] == ':') {
			if (caps != NULL) {
				caps[nc].name = e->path + i + 2;
				caps[nc].name_len = ie - i - 2;
				caps[nc].val = path + j + 1;
				caps[nc].val_len = je - j - 1;
			}
			nc++;
		} else if (ie - i != je - j ||
		    memcmp(e->path + i, path + j, ie - i) != 0)
			return false;
		i = ie;
		j = je;
	}
	if (j < len && !e->dir)
		return false;
	*rest = j < len ? path + j + 1 : "";
	if (ncaps != NULL)
		*ncaps = nc;
	return true;
}

const void *
route_match(const struct route_table *t, const char *path, size_t len,
    const char **rest)
{
	return route_match_caps(t, path, len, rest, NULL, NULL);
}

const void *
route_match_caps(const struct route_table *t, const char *path, size_t len,
    const char **rest, struct route_cap *caps, size_t *ncaps)
{
	const struct route_ent *e;
	size_t		 i;

	if (ncaps != NULL)
		*ncaps = 0;
	if (t == NULL || len == 0 || path[0] != '/')
		return NULL;
	for (i = 0; i < t->n; i++) {
		e = &t->ent[i];
		if (e->pattern) {
			if (pattern_match(e, path, len, rest, caps, ncaps))
				return e->target;
			continue;
		}
		if (e->len > len || memcmp(e->path, path, e->len) != 0)
			continue;
		if (e->len == len) {
			/* path need not be NUL-terminated: never point past */
			*rest = "";
			return e->target;
		}
		if (!e->dir)
			continue;
		/* "/" owns every path; "/fw" owns "/fw/..." but not "/fwx" */
		if (e->len == 1) {
			*rest = path + 1;
			return e->target;
		}
		if (path[e->len] == '/') {
			*rest = path + e->len + 1;
			return e->target;
		}
	}
	return NULL;
}
