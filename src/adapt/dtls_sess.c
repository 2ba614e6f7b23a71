/*
 * dtls_sess.c - the DTLS session table of one worker.  See dtls_int.h.
 *
 * A hash table on (socket, address) and two lists: handshakes in order
 * of creation (reaped after handshake_timeout_s) and established
 * sessions in order of last traffic (reaped after session_timeout_s,
 * evicted from the cold end when the table is full).  Only peers that
 * returned a valid cookie get here (dtls_hello.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hash.h"
#include "base/net.h"
#include "proto/metrics.h"
#include "adapt/cfg.h"
#include "adapt/dtls_int.h"
#include "adapt/log.h"

#define SWEEP_EVERY_NS		(250 * NS_PER_MS)

/*
 * Addresses.  Two datagrams of one peer must give the same bytes: they
 * are hashed here and by wolfSSL into the cookie.  Those are the fields
 * net_addr_same() compares, so peers it calls the same hash alike.
 */
bool
dtls_sess_canon(const struct sockaddr *sa, socklen_t len,
    struct sockaddr_storage *out, socklen_t *outlen)
{
	struct sockaddr_in	*o4 = (struct sockaddr_in *)out;
	struct sockaddr_in6	*o6 = (struct sockaddr_in6 *)out;
	const struct sockaddr_in *i4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *i6 = (const struct sockaddr_in6 *)sa;

	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(*i4)) {
		o4->sin_family = AF_INET;
		o4->sin_port = i4->sin_port;
		o4->sin_addr = i4->sin_addr;
		*outlen = sizeof(*o4);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(*i6)) {
		o6->sin6_family = AF_INET6;
		o6->sin6_port = i6->sin6_port;
		o6->sin6_addr = i6->sin6_addr;
		o6->sin6_scope_id = i6->sin6_scope_id;
		*outlen = sizeof(*o6);
		return true;
	}
	return false;
}

static size_t
addr_hash(const struct dtls_server *s, unsigned sock,
    const struct sockaddr_storage *a, socklen_t alen)
{
	/* seeded FNV-1a: the table only holds peers that passed a cookie */
	return (size_t)hash_fold(fnv1a(s->seed ^ sock, a, alen)) & s->mask;
}

/* The link that points at the session of (sock, a), or at NULL. */
static struct dtls_sess **
find(struct dtls_server *s, unsigned sock, const struct sockaddr_storage *a,
    socklen_t alen)
{
	struct dtls_sess **pp;

	for (pp = &s->bucket[addr_hash(s, sock, a, alen)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if ((*pp)->sock == sock && net_addr_same(
		    (const struct sockaddr *)&(*pp)->addr, (*pp)->addrlen,
		    (const struct sockaddr *)a, alen))
			return pp;
	return pp;
}

struct dtls_sess *
dtls_sess_find(struct dtls_server *s, unsigned sock,
    const struct sockaddr_storage *a, socklen_t alen)
{
	return *find(s, sock, a, alen);
}

/*
 * Lists.
 */

static void
list_unlink(struct sess_list *l, struct dtls_sess *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		l->head = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	else
		l->tail = x->prev;
	x->prev = x->next = NULL;
}

static void
list_push(struct sess_list *l, struct dtls_sess *x)
{
	x->prev = NULL;
	x->next = l->head;
	if (l->head != NULL)
		l->head->prev = x;
	else
		l->tail = x;
	l->head = x;
}

static void
gauge(struct dtls_server *s)
{
	atomic_store_explicit(&s->m->dtls_sessions, s->nsess,
	    memory_order_relaxed);
}

/*
 * Sessions.
 */

void
dtls_sess_free(struct dtls_server *s, struct dtls_sess *x)
{
	struct dtls_sess **pp;

	pp = find(s, x->sock, &x->addr, x->addrlen);
	if (*pp == x)
		*pp = x->hnext;
	list_unlink(x->established ? &s->lru : &s->hs, x);
	if (!x->established)
		s->nhs--;
	dtls_ssl_free(x);
	explicit_bzero(x->identity, sizeof(x->identity));
	free(x);
	s->nsess--;
	gauge(s);
}

void
dtls_sess_fields(const struct dtls_sess *x, char *peer, size_t plen,
    char *idf, size_t ilen)
{
	char	 a[NET_ADDRSTRLEN];

	net_addr_str((const struct sockaddr *)&x->addr, a, sizeof(a));
	snprintf(peer, plen, "PEER=%s", a);
	snprintf(idf, ilen, "PSK_IDENTITY=%s", x->identity);
}

void
dtls_sess_log(const struct dtls_sess *x, enum log_level lvl, const char *what)
{
	char		 peer[NET_ADDRSTRLEN + 8];
	char		 idf[PSK_IDENTITY_MAX + 16];
	const char	*fields[3] = { peer, idf, NULL };

	if (!log_enabled(lvl))
		return;
	dtls_sess_fields(x, peer, sizeof(peer), idf, sizeof(idf));
	/* debug lines are per packet anyway; the others are rate-limited */
	if (lvl >= LOG_LVL_DEBUG)
		log_fields(lvl, fields, "dtls %s, %s", peer + 5, what);
	else
		log_limited(&x->srv->ll_sess, clock_now_ns(), lvl, fields,
		    "dtls %s, %s", peer + 5, what);
}

/* Whether a and b are the same host (any port). */
static bool
same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)b;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&a6->sin6_addr, &b6->sin6_addr,
	    sizeof(a6->sin6_addr)) == 0 &&
	    a6->sin6_scope_id == b6->sin6_scope_id;
}

static void
evict(struct dtls_server *s, struct dtls_sess *v, const char *why)
{
	dtls_sess_log(v, LOG_LVL_DEBUG, why);
	if (v->established)
		METRIC_INC(s->m->dtls_evicted);
	else
		METRIC_INC(s->m->dtls_handshakes_evicted);
	dtls_sess_free(s, v);
}

/*
 * Make room for one handshake from a.  Handshakes have their own budget
 * (anyone who can receive a HelloVerifyRequest gets this far, no key
 * needed), so they never push out an established session: the oldest
 * handshake of the same host goes when that host has its share, else the
 * oldest handshake of all.
 */
static void
make_room_hs(struct dtls_server *s, const struct sockaddr_storage *a)
{
	struct dtls_sess *h, *oldest = NULL;
	size_t		  n = 0;

	for (h = s->hs.tail; h != NULL; h = h->prev)
		if (same_host(&h->addr, a) && n++ == 0)
			oldest = h;
	if (oldest != NULL && n >= s->max_hs_host)
		evict(s, oldest, "handshake evicted, too many from this host");
	while (s->nhs >= s->max_hs && s->hs.tail != NULL)
		evict(s, s->hs.tail, "handshake evicted, handshakes full");
}

struct dtls_sess *
dtls_sess_new(struct dtls_server *s, unsigned sock,
    const struct sockaddr_storage *a, socklen_t alen, const uint8_t *random,
    const uint8_t *secret, uint64_t now_ns)
{
	struct dtls_sess	*x, **pp;

	make_room_hs(s, a);
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	x->srv = s;
	x->sock = sock;
	x->serial = ++s->next_serial;
	memcpy(&x->addr, a, alen);
	x->addrlen = alen;
	x->created_ns = x->last_ns = now_ns;
	memcpy(x->random, random, sizeof(x->random));
	if (dtls_ssl_new(x, secret) != 0) {
		free(x);
		return NULL;
	}
	pp = find(s, sock, a, alen);
	x->hnext = *pp;
	*pp = x;
	list_push(&s->hs, x);
	s->nsess++;
	s->nhs++;
	gauge(s);
	return x;
}

void
dtls_sess_established(struct dtls_server *s, struct dtls_sess *x)
{
	/*
	 * The peer proved it holds a key: only now may it take the place
	 * of the least recently active established session.
	 */
	while (s->nsess - s->nhs >= s->max_sess && s->lru.tail != NULL)
		evict(s, s->lru.tail, "session evicted, table full");
	list_unlink(&s->hs, x);
	s->nhs--;
	x->established = true;
	list_push(&s->lru, x);
}

void
dtls_sess_touch(struct dtls_server *s, struct dtls_sess *x, uint64_t now_ns)
{
	x->last_ns = now_ns;
	if (x->established) {
		list_unlink(&s->lru, x);
		list_push(&s->lru, x);
	}
}

void
dtls_sweep(struct dtls_server *s, uint64_t now_ns)
{
	const struct cfg_dtls	*d = &s->cfg->dtls;
	uint64_t		 hs_ns, idle_ns;
	struct dtls_sess	*x;
	char			 why[96];

	if (now_ns < s->next_sweep)
		return;
	s->next_sweep = now_ns + SWEEP_EVERY_NS;
	hs_ns = (uint64_t)d->handshake_timeout_s * NS_PER_SEC;
	idle_ns = (uint64_t)d->session_timeout_s * NS_PER_SEC;
	/*
	 * A client whose key is wrong gets no answer to its Finished (the
	 * record does not decrypt and is dropped) and waits: only this
	 * frees the state.
	 */
	while ((x = s->hs.tail) != NULL && now_ns - x->created_ns >= hs_ns) {
		snprintf(why, sizeof(why), "handshake not completed within "
		    "%u s, wrong key?", d->handshake_timeout_s);
		dtls_sess_log(x, LOG_LVL_NOTICE, why);
		METRIC_INC(s->m->dtls_handshake_timeouts);
		dtls_sess_free(s, x);
	}
	while ((x = s->lru.tail) != NULL && now_ns - x->last_ns >= idle_ns) {
		dtls_sess_log(x, LOG_LVL_DEBUG, "session idle, closed");
		dtls_sess_free(s, x);
	}
	dtls_hello_rotate(s, now_ns);
}

size_t
dtls_sessions(const struct dtls_server *s)
{
	return s == NULL ? 0 : s->nsess;
}

/*
 * The table.
 */

size_t
dtls_hs_share(const struct cfg *c)
{
	uint32_t	 w = c->workers ? c->workers : 1;
	size_t		 n;

	n = (c->dtls.max_handshakes + w - 1) / w;
	return n ? n : 1;
}

size_t
dtls_sess_share(const struct cfg *c)
{
	uint32_t	 w = c->workers ? c->workers : 1;
	size_t		 n;

	/* dtls.max_sessions is for all workers together */
	n = (c->dtls.max_sessions + w - 1) / w;
	return n ? n : 1;
}

int
dtls_sess_init(struct dtls_server *s)
{
	size_t	 nb;

	for (nb = 64; nb < s->max_sess + s->max_hs && nb < (1u << 20); nb *= 2)
		;
	s->mask = nb - 1;
	if ((s->bucket = calloc(nb, sizeof(*s->bucket))) == NULL)
		return -ENOMEM;
	return 0;
}

void
dtls_sess_free_all(struct dtls_server *s)
{
	while (s->hs.head != NULL)
		dtls_sess_free(s, s->hs.head);
	while (s->lru.head != NULL)
		dtls_sess_free(s, s->lru.head);
	free(s->bucket);
	s->bucket = NULL;
}
