/*
 * exchange.c - per-worker message deduplication cache (RFC 7252 §4.5).
 *
 * Layout, all allocated in exchange_cache_new() and never resized:
 *
 *  - slots[max]: peer, transport, public struct exchange (with the MID),
 *    FIFO links.  Small, so a lookup touches one slot and never the
 *    response bytes;
 *  - data[max * COAP_MAX_MSG]: the response datagram of slot i lives at
 *    data + i * COAP_MAX_MSG;
 *  - idx[2^k >= 2 * max]: open addressing with linear probing.  An entry
 *    packs the 32-bit hash (high) and slot + 1 (low; 0 marks empty), so a
 *    probe rejects most strangers without touching their slot.  Deletion
 *    shifts the following run back instead of leaving tombstones, so probe
 *    lengths never degrade under churn.
 *
 * Slots in use form a doubly linked list in insertion order: eviction takes
 * the head (the oldest), and expired entries are reaped from the head on
 * every call, amortized O(1).  Storing an existing key moves it to the tail,
 * so the list stays ordered by created_ns as long as now_ns never goes
 * backwards (it comes from CLOCK_MONOTONIC).
 *
 * Every full slot can hold the largest datagram we send (the contract in
 * exchange.h): memory is max_entries * ~1.3 KiB per worker, known at start
 * and never exceeded, whatever a flood of distinct (peer, MID) pairs does.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>

#include "base/net.h"
#include "proto/coap_msg.h"
#include "base/siphash.h"
#include "proto/exchange.h"

#define EX_NIL		UINT32_MAX
#define EX_MAX_ENTRIES	(1u << 24)	/* keeps idx sizes far from 2^32 */

/* The hash input (ex_key_make()); equality is ex_slot_is(). */
struct ex_key {
	uint64_t	 w[5];
};

/* A peer as received: a UDP endpoint (exchange.h). */
union ex_peer {
	struct sockaddr		 sa;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
};

struct ex_slot {
	struct exchange	 ex;		/* what exchange_lookup() returns */
	union ex_peer	 peer;
	socklen_t	 peerlen;
	uint64_t	 tscope;	/* transport: socket and DTLS session */
	uint32_t	 hash;
	uint32_t	 prev;		/* FIFO list; next also chains free */
	uint32_t	 next;
};

struct exchange_cache {
	struct ex_slot	*slots;
	uint8_t		*data;
	uint64_t	*idx;
	uint64_t	 mask;		/* idx entries - 1 */
	uint64_t	 lifetime_ns;
	uint64_t	 seed[2];
	uint32_t	 max;
	uint32_t	 count;
	uint32_t	 head;		/* oldest */
	uint32_t	 tail;		/* newest */
	uint32_t	 free;		/* free slot stack */
	uint64_t	 evicted;	/* live entries pushed out, full */
	struct ex_key	 last_key;	/* key hashed by the previous call */
	uint32_t	 last_hash;
};

/*
 * SipHash-1-3 over the four key words with a per-cache secret.  Peers choose
 * their source port and MID (and with IPv6 much of the address); with an
 * unkeyed hash a flood could be aimed at one probe run and turn every
 * lookup into a scan of the table.
 */
static uint64_t
ex_hash(const struct exchange_cache *c, const struct ex_key *k)
{
	uint64_t v0 = c->seed[0] ^ 0x736f6d6570736575ULL;
	uint64_t v1 = c->seed[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = c->seed[0] ^ 0x6c7967656e657261ULL;
	uint64_t v3 = c->seed[1] ^ 0x7465646279746573ULL;
	uint64_t b = (uint64_t)sizeof(k->w) << 56;
	size_t i;

	for (i = 0; i < 5; i++) {
		v3 ^= k->w[i];
		SIPHASH_ROUND(v0, v1, v2, v3);
		v0 ^= k->w[i];
	}
	v3 ^= b;
	SIPHASH_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIPHASH_ROUND(v0, v1, v2, v3);
	SIPHASH_ROUND(v0, v1, v2, v3);
	SIPHASH_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/*
 * The hash input: family, address, port (and the IPv6 scope id), MID and
 * transport, exactly what ex_slot_is() compares, so that peers
 * net_addr_same() calls one get one hash.
 */
static void
ex_key_make(struct ex_key *k, uint64_t tscope, const struct sockaddr *peer,
    socklen_t peerlen, uint16_t mid)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	uint8_t addr[16];
	uint16_t family = 0, port = 0;
	uint32_t scope = 0;

	memset(addr, 0, sizeof(addr));
	if (peer != NULL && peerlen >= (socklen_t)sizeof(sa_family_t))
		family = peer->sa_family;
	if (family == AF_INET &&
	    peerlen >= (socklen_t)sizeof(struct sockaddr_in)) {
		sin = (const struct sockaddr_in *)(const void *)peer;
		memcpy(addr, &sin->sin_addr, sizeof(sin->sin_addr));
		port = sin->sin_port;
	} else if (family == AF_INET6 &&
	    peerlen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		sin6 = (const struct sockaddr_in6 *)(const void *)peer;
		memcpy(addr, &sin6->sin6_addr, sizeof(addr));
		port = sin6->sin6_port;
		scope = sin6->sin6_scope_id;
	} else if (peer != NULL && peerlen > (socklen_t)sizeof(sa_family_t)) {
		/* Not a UDP peer; still keep distinct addresses apart. */
		size_t n = (size_t)peerlen - sizeof(sa_family_t);

		memcpy(addr, (const uint8_t *)peer + sizeof(sa_family_t),
		    n < sizeof(addr) ? n : sizeof(addr));
	}
	memcpy(&k->w[0], addr, 8);
	memcpy(&k->w[1], addr + 8, 8);
	k->w[2] = (uint64_t)family << 32 | scope;
	k->w[3] = (uint64_t)port << 16 | mid;
	k->w[4] = tscope;	/* transport: socket and DTLS session */
}

/*
 * Slot s holds (tscope, peer, mid)?  The same peer is net_addr_same()'s:
 * the IPv6 scope id counts, fe80::1%eth0 and fe80::1%eth1 are different
 * hosts.
 */
static inline bool
ex_slot_is(const struct ex_slot *s, uint64_t tscope,
    const struct sockaddr *peer, socklen_t peerlen, uint16_t mid)
{
	return s->ex.mid == mid && s->tscope == tscope &&
	    net_addr_same(&s->peer.sa, s->peerlen, peer, peerlen);
}

static inline bool
ex_key_eq(const struct ex_key *a, const struct ex_key *b)
{
	return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) |
	    (a->w[2] ^ b->w[2]) | (a->w[3] ^ b->w[3]) |
	    (a->w[4] ^ b->w[4])) == 0;
}

/* A peer a slot can hold: present, and no longer than a sockaddr_in6. */
static inline bool
ex_peer_ok(const struct sockaddr *peer, socklen_t peerlen)
{
	return peer != NULL && peerlen >= (socklen_t)sizeof(sa_family_t) &&
	    peerlen <= (socklen_t)sizeof(union ex_peer);
}

/*
 * The engine looks a request up and then stores its answer under the same
 * key: remember the previous key's hash so SipHash runs once per request.
 */
static uint32_t
ex_hash_cached(struct exchange_cache *c, const struct ex_key *k)
{
	if (!ex_key_eq(&c->last_key, k)) {
		c->last_key = *k;
		c->last_hash = (uint32_t)ex_hash(c, k);
	}
	return c->last_hash;
}

static inline bool
ex_expired(const struct exchange_cache *c, const struct ex_slot *s,
    uint64_t now_ns)
{
	return now_ns >= s->ex.created_ns &&
	    now_ns - s->ex.created_ns >= c->lifetime_ns;
}

/* Index position holding (tscope, peer, mid) with hash h, or -ENOENT. */
static int64_t
ex_find(const struct exchange_cache *c, uint64_t tscope,
    const struct sockaddr *peer, socklen_t peerlen, uint16_t mid, uint32_t h)
{
	uint64_t pos = h & c->mask, e;

	while ((e = c->idx[pos]) != 0) {
		if ((uint32_t)(e >> 32) == h &&
		    ex_slot_is(&c->slots[(uint32_t)e - 1], tscope, peer,
		    peerlen, mid))
			return (int64_t)pos;
		pos = (pos + 1) & c->mask;
	}
	return -ENOENT;
}

static void
ex_idx_insert(struct exchange_cache *c, uint32_t slot, uint32_t h)
{
	uint64_t pos = h & c->mask;

	/* Never full: at most max entries in at least 2 * max places. */
	while (c->idx[pos] != 0)
		pos = (pos + 1) & c->mask;
	c->idx[pos] = (uint64_t)h << 32 | (slot + 1);
}

/*
 * Delete the entry at pos and pull later members of the probe run back so
 * that every entry stays reachable from its home position.
 */
static void
ex_idx_delete(struct exchange_cache *c, uint64_t pos)
{
	uint64_t hole = pos, j = pos, home, e;

	for (;;) {
		j = (j + 1) & c->mask;
		e = c->idx[j];
		if (e == 0)
			break;
		home = (e >> 32) & c->mask;
		/* Movable when home is not cyclically in (hole, j]. */
		if (((j - home) & c->mask) >= ((j - hole) & c->mask)) {
			c->idx[hole] = e;
			hole = j;
		}
	}
	c->idx[hole] = 0;
}

static void
ex_list_unlink(struct exchange_cache *c, uint32_t i)
{
	struct ex_slot *s = &c->slots[i];

	if (s->prev != EX_NIL)
		c->slots[s->prev].next = s->next;
	else
		c->head = s->next;
	if (s->next != EX_NIL)
		c->slots[s->next].prev = s->prev;
	else
		c->tail = s->prev;
}

static void
ex_list_append(struct exchange_cache *c, uint32_t i)
{
	struct ex_slot *s = &c->slots[i];

	s->next = EX_NIL;
	s->prev = c->tail;
	if (c->tail != EX_NIL)
		c->slots[c->tail].next = i;
	else
		c->head = i;
	c->tail = i;
}

static void
ex_remove(struct exchange_cache *c, uint32_t i)
{
	struct ex_slot *s = &c->slots[i];
	uint64_t pos = s->hash & c->mask;

	while ((uint32_t)c->idx[pos] != i + 1)
		pos = (pos + 1) & c->mask;
	ex_idx_delete(c, pos);
	ex_list_unlink(c, i);
	s->next = c->free;
	c->free = i;
	c->count--;
}

/* Reap expired entries from the old end. */
static void
ex_expire(struct exchange_cache *c, uint64_t now_ns)
{
	while (c->head != EX_NIL && ex_expired(c, &c->slots[c->head], now_ns))
		ex_remove(c, c->head);
}

struct exchange_cache *
exchange_cache_new(uint32_t max_entries, uint64_t lifetime_ns)
{
	struct exchange_cache *c;
	uint64_t nidx = 16;
	uint32_t i;

	/* A cache that cannot hold one exchange would dedup nothing. */
	if (max_entries == 0 || max_entries > EX_MAX_ENTRIES) {
		errno = EINVAL;
		return NULL;
	}
	while (nidx < 2 * (uint64_t)max_entries)
		nidx <<= 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->slots = calloc(max_entries, sizeof(*c->slots));
	c->idx = calloc(nidx, sizeof(*c->idx));
	/* Untouched pages cost nothing until a slot is first used. */
	c->data = malloc((size_t)max_entries * COAP_MAX_MSG);
	if (c->slots == NULL || c->idx == NULL || c->data == NULL) {
		exchange_cache_free(c);
		return NULL;
	}
	/*
	 * The secret only has to be unknown to peers; if the entropy pool
	 * cannot answer at once, fall back to addresses and the clock rather
	 * than block the worker.
	 */
	if (getrandom(c->seed, sizeof(c->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(c->seed)) {
		c->seed[0] = (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ULL;
		c->seed[1] = (uint64_t)(uintptr_t)c->data ^
		    (uint64_t)(uintptr_t)&nidx;
	}
	c->mask = nidx - 1;
	c->last_hash = (uint32_t)ex_hash(c, &c->last_key);
	c->lifetime_ns = lifetime_ns;
	c->max = max_entries;
	c->head = c->tail = EX_NIL;
	for (i = 0; i < max_entries; i++) {
		c->slots[i].ex.resp = c->data + (size_t)i * COAP_MAX_MSG;
		c->slots[i].next = i + 1 < max_entries ? i + 1 : EX_NIL;
	}
	c->free = 0;
	return c;
}

void
exchange_cache_free(struct exchange_cache *c)
{
	if (c == NULL)
		return;
	free(c->slots);
	free(c->idx);
	free(c->data);
	free(c);
}

const struct exchange *
exchange_lookup(struct exchange_cache *c, uint64_t scope,
    const struct sockaddr *peer, socklen_t peerlen, uint16_t mid,
    uint64_t now_ns)
{
	const struct ex_slot *s;
	struct ex_key k;
	uint32_t h;
	int64_t pos;

	ex_expire(c, now_ns);
	if (!ex_peer_ok(peer, peerlen))
		return NULL;
	ex_key_make(&k, scope, peer, peerlen, mid);
	h = ex_hash_cached(c, &k);
	if ((pos = ex_find(c, scope, peer, peerlen, mid, h)) < 0)
		return NULL;
	s = &c->slots[(uint32_t)c->idx[pos] - 1];
	/* Only reachable when now_ns went backwards for some caller. */
	if (ex_expired(c, s, now_ns))
		return NULL;
	return &s->ex;
}

void
exchange_store(struct exchange_cache *c, uint64_t scope,
    const struct sockaddr *peer, socklen_t peerlen, uint16_t mid,
    uint64_t now_ns, const uint8_t *resp, size_t len)
{
	struct ex_key k;
	struct ex_slot *s;
	uint32_t h, i;
	int64_t pos;

	/*
	 * A response we could not replay whole must not be replayed cut:
	 * remember the MID as seen without one.  The worker never builds a
	 * datagram above COAP_MAX_MSG, so this is defence only.
	 */
	if (resp == NULL || len > COAP_MAX_MSG)
		len = 0;

	ex_expire(c, now_ns);
	if (!ex_peer_ok(peer, peerlen))
		return;
	ex_key_make(&k, scope, peer, peerlen, mid);
	h = ex_hash_cached(c, &k);
	if ((pos = ex_find(c, scope, peer, peerlen, mid, h)) >= 0) {
		/* Replacing (pending -> answered): now the newest entry. */
		i = (uint32_t)c->idx[pos] - 1;
		ex_list_unlink(c, i);
	} else {
		if (c->free == EX_NIL) {
			ex_remove(c, c->head);	/* full: evict the oldest */
			c->evicted++;
		}
		i = c->free;
		c->free = c->slots[i].next;
		memcpy(&c->slots[i].peer, peer, peerlen);
		c->slots[i].peerlen = peerlen;
		c->slots[i].tscope = scope;
		c->slots[i].hash = h;
		ex_idx_insert(c, i, h);
		c->count++;
	}
	ex_list_append(c, i);
	s = &c->slots[i];
	s->ex.created_ns = now_ns;
	s->ex.mid = mid;
	s->ex.resp_len = (uint16_t)len;
	/* memmove: the caller may hand back bytes it got from a lookup. */
	if (len > 0)
		memmove(c->data + (size_t)i * COAP_MAX_MSG, resp, len);
}

/*
 * Entries are reaped lazily, so this counts what was live at the latest
 * lookup or store; an entry that expired since then is still counted.
 */
uint32_t
exchange_count(const struct exchange_cache *c)
{
	return c->count;
}

uint64_t
exchange_evicted(const struct exchange_cache *c)
{
	return c->evicted;
}

void
exchange_expire(struct exchange_cache *c, uint64_t now_ns)
{
	ex_expire(c, now_ns);
}
