/*
 * route.h - the router: compiled from the config's routes, matched by
 * longest prefix on segment boundaries.  Pure: no I/O.
 */
#ifndef COAPD_ROUTE_H
#define COAPD_ROUTE_H

#include <stddef.h>

struct cfg_route;
struct route_table;

/*
 * Build a table over routes[0..n) (borrowed; must outlive the table).
 * Returns 0, -EEXIST when two routes share a path (err names it), -EINVAL
 * for a malformed path, or -ENOMEM.
 */
int	route_table_build(struct route_table **out, struct cfg_route *routes,
	    size_t n, char *err, size_t errlen);
void	route_table_free(struct route_table *t);

/*
 * Find the route with the longest path that equals path or is a prefix of it
 * ending at a '/' boundary ("/fw" matches "/fw" and "/fw/a", not "/fwx").
 * *rest receives the remainder without its leading '/' ("" on an exact
 * match).  A file route (static_is_dir false) only matches exactly.
 * Returns NULL when nothing matches.
 */
const struct cfg_route *route_match(const struct route_table *t,
	    const char *path, size_t len, const char **rest);

#endif /* COAPD_ROUTE_H */
