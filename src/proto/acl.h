/*
 * acl.h - per-route access control (a route's `allow` list), compiled once
 * at configuration load and checked per request.
 *
 * Entries:
 *   "psk:PATTERN"  a client authenticated over DTLS whose PSK identity
 *                  matches PATTERN, where '*' matches any run of bytes
 *                  (possibly empty) and every other byte only itself;
 *   "net:ADDR[/PREFIX]"  a client whose source address lies in the IPv4 or
 *                  IPv6 network (no host bits set beyond the prefix; no
 *                  prefix is the one address).  IPv4 clients on a dual-stack
 *                  socket (::ffff:a.b.c.d) match IPv4 networks.
 *
 * A request is allowed when any entry matches.  Otherwise (RFC 7252
 * §5.9.2.2 and §5.9.2.4) a client without a PSK identity gets 4.01 when the
 * route has a psk: entry (authenticating could help), and any other client
 * 4.03.  So a route with `allow` is served on plain CoAP only when a net:
 * entry matches.
 *
 * Pure (L1).  A compiled list is immutable and may be read from any
 * thread.
 */
#ifndef COAPD_ACL_H
#define COAPD_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct acl;

enum acl_result {
	ACL_ALLOW = 0,
	ACL_UNAUTHORIZED,	/* 4.01: no identity, a psk: entry exists */
	ACL_FORBIDDEN,		/* 4.03 */
};

/*
 * Compile entries[0..n).  On error *bad is the index of the first bad
 * entry and err holds why ("prefix length must be 0..32"), without the
 * entry itself.  Returns 0, -EINVAL or -ENOMEM.
 */
int	acl_compile(char *const *entries, size_t n, struct acl **out,
	    size_t *bad, char *err, size_t errlen);

/*
 * Decide for a client with PSK identity psk_identity (NULL on plain CoAP)
 * and source address peer.  A NULL acl allows everyone.
 */
enum acl_result acl_check(const struct acl *a, const char *psk_identity,
	    const struct sockaddr *peer, socklen_t peerlen);

/* Whether identity matches a psk: pattern ('*' glob). */
bool	acl_glob(const char *pattern, const char *identity);

void	acl_free(struct acl *a);

#endif /* COAPD_ACL_H */
