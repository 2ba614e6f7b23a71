/*
 * acl.c - route access control.  See acl.h.
 *
 * Every network is kept as an IPv6 prefix: an IPv4 network a.b.c.d/n
 * becomes ::ffff:a.b.c.d/(96 + n), and an IPv4 client is looked at as
 * ::ffff:a.b.c.d, so AF_INET sockets and dual-stack AF_INET6 sockets give
 * the same answer for the same client.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/acl.h"

struct acl_net {
	uint8_t		 addr[16];
	unsigned	 plen;		/* 0..128 */
};

struct acl {
	char		**pat;		/* psk: patterns, without "psk:" */
	size_t		  npat;
	struct acl_net	 *net;
	size_t		  nnet;
};

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* "ADDR[/PREFIX]" into n; err on failure. */
static int
parse_net(const char *val, struct acl_net *n, char *err, size_t errlen)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long	 plen;
	unsigned	 bits, i;
	uint8_t		 a4[4];

	if (strlen(val) >= sizeof(buf)) {
		snprintf(err, errlen, "not a numeric address or CIDR network");
		return -EINVAL;
	}
	strcpy(buf, val);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, a4) == 1) {
		memcpy(n->addr, v4mapped, sizeof(v4mapped));
		memcpy(n->addr + 12, a4, 4);
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1)
		bits = 128;
	else {
		snprintf(err, errlen, "not a numeric address or CIDR network");
		return -EINVAL;
	}
	plen = bits;
	if (slash != NULL) {
		errno = 0;
		if (slash[1] < '0' || slash[1] > '9' ||
		    (plen = strtoul(slash + 1, &end, 10), *end != '\0') ||
		    errno != 0 || plen > bits) {
			snprintf(err, errlen, "prefix length must be 0..%u",
			    bits);
			return -EINVAL;
		}
	}
	n->plen = (unsigned)plen + (128 - bits);
	for (i = n->plen; i < 128; i++)
		if (n->addr[i / 8] & (0x80 >> (i % 8))) {
			snprintf(err, errlen, "host bits set beyond /%lu",
			    plen);
			return -EINVAL;
		}
	return 0;
}

int
acl_compile(char *const *entries, size_t n, struct acl **out, size_t *bad,
    char *err, size_t errlen)
{
	struct acl	*a;
	size_t		 i, idlen;
	int		 r;

	*out = NULL;
	*bad = 0;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	a->pat = calloc(n ? n : 1, sizeof(*a->pat));
	a->net = calloc(n ? n : 1, sizeof(*a->net));
	if (a->pat == NULL || a->net == NULL) {
		acl_free(a);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if (strncmp(entries[i], "net:", 4) == 0) {
			r = parse_net(entries[i] + 4, &a->net[a->nnet], err,
			    errlen);
			if (r != 0) {
				*bad = i;
				acl_free(a);
				return r;
			}
			a->nnet++;
		} else if (strncmp(entries[i], "psk:", 4) == 0) {
			idlen = strlen(entries[i] + 4);
			if (idlen == 0 || idlen > 128) {
				snprintf(err, errlen, "a PSK identity has "
				    "1..128 bytes");
				*bad = i;
				acl_free(a);
				return -EINVAL;
			}
			if ((a->pat[a->npat] = strdup(entries[i] + 4)) ==
			    NULL) {
				acl_free(a);
				return -ENOMEM;
			}
			a->npat++;
		} else {
			snprintf(err, errlen, "must start with \"psk:\" or "
			    "\"net:\"");
			*bad = i;
			acl_free(a);
			return -EINVAL;
		}
	}
	*out = a;
	return 0;
}

/*
 * '*' matches any run of bytes.  Greedy with one backtrack point (the last
 * star): linear for the patterns an operator writes, at worst
 * O(len(pattern) * len(identity)), never exponential.
 */
bool
acl_glob(const char *p, const char *s)
{
	const char	*star = NULL, *retry = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			star = ++p;
			retry = s;
		} else if (*p == *s) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star;
			s = ++retry;
		} else
			return false;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* The client's address as 16 bytes (IPv4 mapped); false if not IP. */
static bool
peer_addr(const struct sockaddr *sa, socklen_t len, uint8_t out[16])
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(*sin)) {
		sin = (const struct sockaddr_in *)sa;
		memcpy(out, v4mapped, sizeof(v4mapped));
		memcpy(out + 12, &sin->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(*sin6)) {
		sin6 = (const struct sockaddr_in6 *)sa;
		memcpy(out, &sin6->sin6_addr, 16);
		return true;
	}
	return false;
}

static bool
net_match(const struct acl_net *n, const uint8_t a[16])
{
	unsigned	 full = n->plen / 8, rest = n->plen % 8;
	uint8_t		 mask;

	if (memcmp(n->addr, a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == n->addr[full];
}

enum acl_result
acl_check(const struct acl *a, const char *psk_identity,
    const struct sockaddr *peer, socklen_t peerlen)
{
	uint8_t	 addr[16];
	size_t	 i;

	if (a == NULL)
		return ACL_ALLOW;
	if (psk_identity != NULL)
		for (i = 0; i < a->npat; i++)
			if (acl_glob(a->pat[i], psk_identity))
				return ACL_ALLOW;
	if (a->nnet > 0 && peer_addr(peer, peerlen, addr))
		for (i = 0; i < a->nnet; i++)
			if (net_match(&a->net[i], addr))
				return ACL_ALLOW;
	if (psk_identity == NULL && a->npat > 0)
		return ACL_UNAUTHORIZED;
	return ACL_FORBIDDEN;
}

void
acl_free(struct acl *a)
{
	size_t	 i;

	if (a == NULL)
		return;
	for (i = 0; a->pat != NULL && i < a->npat; i++)
		free(a->pat[i]);
	free(a->pat);
	free(a->net);
	free(a);
}
