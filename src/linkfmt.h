/*
 * linkfmt.h - CoRE Link Format (RFC 6690): /.well-known/core generated from
 * the routes, with query filtering.  Pure.
 */
#ifndef COAPD_LINKFMT_H
#define COAPD_LINKFMT_H

#include <stddef.h>
#include <sys/types.h>

struct cfg;
struct coap_msg;

/*
 * Render the link-format document for c's routes into out, filtered by the
 * Uri-Query options of m (RFC 6690 §4.1: one "attr=value" filter, a
 * trailing '*' is a prefix match; href, rt, if, ct, title are understood).
 * Returns the length (may be 0 when nothing matches) or -ENOSPC.
 */
ssize_t	linkfmt_wellknown(const struct cfg *c, const struct coap_msg *m,
	    char *out, size_t cap);

/*
 * Append one entry `<href>;attrs` (comma-separated after the first) for a
 * directory listing.  *len is the current length and is updated.
 * Returns 0 or -ENOSPC.
 */
int	linkfmt_append(char *out, size_t cap, size_t *len, const char *href,
	    int ct, const char *rt);

#endif /* COAPD_LINKFMT_H */
