/*
 * route.c - the router.  Pure: no I/O, no allocation after the build.
 *
 * A gateway has tens of routes, so a flat array sorted by path length,
 * longest first, is the fastest structure: the first entry that matches
 * is the longest match, the entries sit in one cache-friendly block, and a
 * request compares a handful of short prefixes.  A trie would win only at
 * hundreds of routes.
 */
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
	const void		*target;
};

struct route_table {
	size_t			 n;
	struct route_ent	 ent[];	/* by len descending, then path */
};

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

static int
ent_cmp(const void *a, const void *b)
{
	const struct route_ent *x = a, *y = b;

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
		    !path_valid(routes[i].path, routes[i].path_len)) {
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
		t->ent[i].target = routes[i].target;
	}
	qsort(t->ent, n, sizeof(t->ent[0]), ent_cmp);
	for (i = 1; i < n; i++)
		if (t->ent[i].len == t->ent[i - 1].len &&
		    memcmp(t->ent[i].path, t->ent[i - 1].path,
		    t->ent[i].len) == 0) {
			snprintf(err, errlen, "duplicate route path \"%s\"",
			    t->ent[i].path);
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

const void *
route_match(const struct route_table *t, const char *path, size_t len,
    const char **rest)
{
	const struct route_ent *e;
	size_t		 i;

	if (t == NULL || len == 0 || path[0] != '/')
		return NULL;
	for (i = 0; i < t->n; i++) {
		e = &t->ent[i];
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
