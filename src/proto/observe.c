/*
 * observe.c - a worker's observer registry (RFC 7641).  See observe.h.
 *
 * Observers are allocated one by one at registration (rare, not on the
 * hot path) and indexed by a compact pointer array; removal moves the last
 * entry into the hole.  Lookups scan: the registry is bounded by the
 * worker's share of max_observers, and only registrations, ACKs and RSTs
 * look up.
 */
#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/net.h"
#include "proto/observe.h"

void
observe_reg_init(struct observe_reg *r, unsigned limit)
{
	memset(r, 0, sizeof(*r));
	r->limit = limit;
	r->per_host = UINT_MAX;
}

void
observe_set_per_host(struct observe_reg *r, unsigned per_host)
{
	r->per_host = per_host;
}

static void
observer_free(struct observer *o)
{
	free(o->con_buf);
	free(o);
}

void
observe_reg_fini(struct observe_reg *r)
{
	unsigned	 i;

	for (i = 0; i < r->n; i++)
		observer_free(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

void
observe_set_limit(struct observe_reg *r, unsigned limit)
{
	r->limit = limit;
}

uint64_t
observe_path_hash(const char *const *parts, size_t n)
{
	uint64_t	 h = FNV1A_INIT;
	bool		 slash = false;
	size_t		 i;
	const char	*p;

	for (i = 0; i < n; i++) {
		/* A '/' between parts, folded into any run around it. */
		if (i > 0)
			slash = true;
		for (p = parts[i]; *p != '\0'; p++) {
			if (*p == '/') {
				slash = true;
				continue;
			}
			if (slash) {
				h = fnv1a(h, "/", 1);
				slash = false;
			}
			h = fnv1a(h, p, 1);
		}
	}
	return h;
}

/*
 * The observer's endpoint is peer: net_addr_same(), so fe80::1%eth0 and
 * fe80::1%eth1 are two clients (RFC 7641 §4.1 keys on the endpoint).
 */
static bool
peer_is(const struct observer *o, const struct sockaddr *peer,
    socklen_t peerlen)
{
	return net_addr_same((const struct sockaddr *)&o->peer, o->peerlen,
	    peer, peerlen);
}

/* The IP address of sa (IPv4-mapped IPv6 as IPv4) in out; its length. */
static size_t
host_of(const struct sockaddr *sa, socklen_t len, uint8_t out[17])
{
	static const uint8_t	 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const uint8_t		*a6 = (const uint8_t *)&s6->sin6_addr;

	if (sa->sa_family == AF_INET &&
	    len >= (socklen_t)sizeof(struct sockaddr_in)) {
		out[0] = 4;
		memcpy(out + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 5;
	}
	if (sa->sa_family != AF_INET6 || len < (socklen_t)sizeof(*s6))
		return 0;
	if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
		out[0] = 4;
		memcpy(out + 1, a6 + 12, 4);
		return 5;
	}
	out[0] = 6;
	memcpy(out + 1, a6, 16);
	return 17;
}

unsigned
observe_count_host(const struct observe_reg *r, const struct sockaddr *peer,
    socklen_t peerlen)
{
	uint8_t		 h[17], g[17];
	size_t		 hl, gl;
	unsigned	 i, n = 0;

	if ((hl = host_of(peer, peerlen, h)) == 0)
		return 0;
	for (i = 0; i < r->n; i++) {
		gl = host_of((const struct sockaddr *)&r->v[i]->peer,
		    r->v[i]->peerlen, g);
		n += gl == hl && memcmp(g, h, hl) == 0;
	}
	return n;
}

struct observer *
observe_find(struct observe_reg *r, unsigned sock,
    const struct sockaddr *peer, socklen_t peerlen, const uint8_t *token,
    uint8_t tkl)
{
	struct observer	*o;
	unsigned	 i;

	for (i = 0; i < r->n; i++) {
		o = r->v[i];
		if (o->sock == sock && o->tkl == tkl &&
		    memcmp(o->token, token, tkl) == 0 &&
		    peer_is(o, peer, peerlen))
			return o;
	}
	return NULL;
}

struct observer *
observe_add(struct observe_reg *r, const struct sockaddr *peer,
    socklen_t peerlen, unsigned sock, const uint8_t *token, uint8_t tkl,
    const char *path, size_t path_len, uint64_t fshash, uint32_t seq0)
{
	struct observer	 *o, **v;
	unsigned	  cap;

	if (path_len >= OBSERVE_PATH_MAX || tkl > sizeof(o->token) ||
	    peerlen > (socklen_t)sizeof(o->peer))
		return NULL;
	if ((o = observe_find(r, sock, peer, peerlen, token, tkl)) != NULL) {
		/*
		 * RFC 7641 §4.1: a re-registration replaces the old one;
		 * the sequence keeps growing so the client's freshness
		 * check (§3.4) accepts what follows.
		 */
		memcpy(o->path, path, path_len);
		o->path[path_len] = '\0';
		o->path_len = path_len;
		o->fshash = fshash;
		o->sock = sock;
		o->ending = false;
		return o;
	}
	if (r->n >= r->limit)
		return NULL;
	/* one host (any port) cannot take the others' places */
	if (r->per_host != UINT_MAX &&
	    observe_count_host(r, peer, peerlen) >= r->per_host)
		return NULL;
	if (r->n == r->cap) {
		cap = r->cap == 0 ? 16 : r->cap * 2;
		if ((v = realloc(r->v, cap * sizeof(*v))) == NULL)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	memcpy(&o->peer, peer, peerlen);
	o->peerlen = peerlen;
	o->sock = sock;
	memcpy(o->token, token, tkl);
	o->tkl = tkl;
	memcpy(o->path, path, path_len);
	o->path[path_len] = '\0';
	o->path_len = path_len;
	o->fshash = fshash;
	o->seq = seq0 & OBSERVE_SEQ_MASK;
	o->idx = r->n;
	r->v[r->n++] = o;
	return o;
}

void
observe_remove(struct observe_reg *r, struct observer *o)
{
	unsigned	 i = o->idx;

	if (i >= r->n || r->v[i] != o)
		return;
	r->v[i] = r->v[--r->n];
	r->v[i]->idx = i;
	observer_free(o);
}

struct observer *
observe_by_mid(struct observe_reg *r, unsigned sock,
    const struct sockaddr *peer, socklen_t peerlen, uint16_t mid)
{
	struct observer	*o;
	unsigned	 i;

	for (i = 0; i < r->n; i++) {
		o = r->v[i];
		if (o->sock == sock && ((o->con_pending && o->con_mid == mid) ||
		    o->last_mid == mid) &&
		    peer_is(o, peer, peerlen))
			return o;
	}
	return NULL;
}

uint32_t
observe_next_seq(struct observer *o)
{
	o->seq = (o->seq + 1) & OBSERVE_SEQ_MASK;
	return o->seq;
}

bool
observe_want_con(const struct observer *o, uint64_t now_ns,
    unsigned con_every)
{
	if (o->con_pending)
		return true;
	if (con_every <= 1 || o->since_con + 1 >= con_every)
		return true;
	return now_ns - o->last_con_ns >= OBSERVE_CON_INTERVAL_NS;
}

int
observe_sent(struct observer *o, uint16_t mid, bool con, const uint8_t *buf,
    size_t len, uint64_t now_ns, uint32_t rnd, const struct retx_params *tp)
{
	o->last_mid = mid;
	if (!con) {
		o->since_con++;
		return 0;
	}
	o->since_con = 0;
	o->last_con_ns = now_ns;
	if (len > OBSERVE_MSG_MAX) {
		o->con_pending = false;
		return -EMSGSIZE;
	}
	/* Sized for the largest datagram once, then reused. */
	if (o->con_buf == NULL &&
	    (o->con_buf = malloc(OBSERVE_MSG_MAX)) == NULL) {
		o->con_pending = false;
		return -ENOMEM;
	}
	memcpy(o->con_buf, buf, len);
	o->con_len = len;
	o->con_mid = mid;
	if (o->con_pending)
		(void)retx_restart(&o->retx, now_ns);	/* checked by caller */
	else
		retx_start(&o->retx, now_ns, rnd, tp);
	o->con_pending = true;
	return 0;
}

void
observe_acked(struct observer *o)
{
	o->con_pending = false;
}

bool
observe_exhausted(const struct observer *o)
{
	return o->con_pending && !retx_can_restart(&o->retx);
}

enum observe_due
observe_due(struct observer *o, uint64_t now_ns)
{
	bool	 give_up;

	if (!o->con_pending || !retx_due(&o->retx, now_ns, &give_up))
		return OBSERVE_IDLE;
	return give_up ? OBSERVE_GIVE_UP : OBSERVE_RESEND;
}
