/*
 * linkfmt.h - CoRE Link Format (RFC 6690): /.well-known/core generated from
 * the routes, with query filtering.  Pure.
 */
#ifndef COAPD_LINKFMT_H
#define COAPD_LINKFMT_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <stdbool.h>

struct acl;
struct coap_msg;

/* One resource of /.well-known/core (borrowed strings; NULL: unset). */
struct linkfmt_entry {
	const char	*href;		/* the route's path */
	const char	*rt;
	const char	*if_;
	const char	*title;
	int		 ct;		/* -1: unset */
	bool		 obs;		/* observable (RFC 7641 §6) */
	const struct acl *acl;		/* the route's allow; NULL: all */
};

/* Who asks for the document: only links it may use are listed. */
struct linkfmt_who {
	const char		*psk_identity;	/* NULL on plain CoAP */
	const struct sockaddr	*peer;
	socklen_t		 peerlen;
};

/*
 * Render the link-format document for links[0..n) into out, filtered by the
 * Uri-Query options of m (RFC 6690 §4.1: one "attr=value" filter, a
 * trailing '*' is a prefix match; href, rt, if, ct, title are understood)
 * and, unless who is NULL, to the links whose acl lets who in (a client
 * learns nothing of routes it may not use).  Returns the length (may be 0
 * when nothing matches) or -ENOSPC.
 */
ssize_t	linkfmt_wellknown(const struct linkfmt_entry *links, size_t n,
	    const struct coap_msg *m, const struct linkfmt_who *who,
	    char *out, size_t cap);

/*
 * Append one entry `<href>;attrs` (comma-separated after the first) for a
 * directory listing.  *len is the current length and is updated.
 * Returns 0 or -ENOSPC.
 */
int	linkfmt_append(char *out, size_t cap, size_t *len, const char *href,
	    int ct, const char *rt);

#endif /* COAPD_LINKFMT_H */
