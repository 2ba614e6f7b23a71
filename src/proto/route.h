/*
 * route.h - the router: compiled from the config's routes, matched by
 * longest prefix on segment boundaries.  Pure: no I/O.
 */
#ifndef COAPD_ROUTE_H
#define COAPD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

struct route_table;

/*
 * What the router needs of one route: its path and whether it owns the tree
 * beneath it.  target is the caller's (the config's struct cfg_route) and is
 * handed back by route_match(); the router never looks at it.
 */
struct route_spec {
	const char	*path;		/* "/", "/a", "/a/b" */
	size_t		 path_len;
	bool		 prefix;	/* matches paths beneath it too */
	const void	*target;
};

/*
 * Build a table over specs[0..n) (copied; the paths are borrowed and must
 * outlive the table).
 * Returns 0, -EEXIST when two routes share a path or a pattern shape
 * (err names it), -EINVAL for a malformed path or capture name, or -ENOMEM.
 */
int	route_table_build(struct route_table **out,
	    const struct route_spec *specs, size_t n, char *err,
	    size_t errlen);
void	route_table_free(struct route_table *t);

/*
 * Find the route with the longest path that equals path or is a prefix of it
 * ending at a '/' boundary ("/fw" matches "/fw" and "/fw/a", not "/fwx").
 * *rest receives the remainder without its leading '/' ("" on an exact
 * match).  A spec without prefix only matches exactly.
 * Returns the matching spec's target, or NULL when nothing matches.
 */
const void *route_match(const struct route_table *t,
	    const char *path, size_t len, const char **rest);

/* One ":name" segment of a pattern route and the segment it matched. */
struct route_cap {
	const char	*name;		/* in the route's path, no ':' */
	size_t		 name_len;
	const char	*val;		/* in the request's path */
	size_t		 val_len;
};

#define ROUTE_CAPS_MAX	8

/*
 * Are the ":name" segments of path[0..len) valid: names of [A-Za-z0-9_],
 * distinct, at most ROUTE_CAPS_MAX?  (route_table_build() refuses others.)
 */
bool	route_caps_valid(const char *path, size_t len);

/* Segments of a route path: "/" 0, "/a/b" 2. */
unsigned route_segments(const char *path, size_t len);

/*
 * route_match(), also filling caps[0..*ncaps) (room for ROUTE_CAPS_MAX)
 * with the captures of a pattern route.  A route path segment ":name"
 * matches any one segment; a literal route of as many segments wins over
 * a pattern, a pattern over a literal prefix with fewer segments.
 */
const void *route_match_caps(const struct route_table *t,
	    const char *path, size_t len, const char **rest,
	    struct route_cap *caps, size_t *ncaps);

#endif /* COAPD_ROUTE_H */
