/*
 * ratelimit.c - token buckets per client and the worker's load level.
 * See ratelimit.h.
 *
 * Layout, all allocated in rl_table_new() and never resized:
 *
 *  - ent[max]: key, GCRA arrival time, last seen, LRU links;
 *  - idx[2^k >= 2 * max]: open addressing with linear probing, keyed
 *    SipHash-2-4 (siphash.h) with a random key per worker: peers choose
 *    their addresses, and with an unkeyed (or merely seeded FNV) hash
 *    they could aim a flood at one probe run.  An entry packs 32 bits of the hash
 *    (high) and slot + 1 (low; 0 is empty), so a probe rejects strangers
 *    without touching their entry.  Deletion shifts the following run
 *    back (no tombstones), so probe runs stay short under churn; at a
 *    load factor of at most 1/2 a lookup is one probe on average.
 *
 * Entries form one doubly linked list, most recently seen at the head:
 * a full table evicts the tail (the least recently seen client), and
 * rl_reap() walks from the tail while entries are idle.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "base/clock.h"
#include "base/hash.h"
#include "base/siphash.h"
#include "proto/ratelimit.h"

#define RL_NIL		UINT32_MAX
#define RL_MAX		(1u << 24)

struct rl_ent {
	struct rl_key	 key;
	uint64_t	 tat_ns;	/* GCRA theoretical arrival time */
	uint64_t	 seen_ns;
	uint64_t	 answered_ns;	/* last 4.29 to a NON */
	uint32_t	 hash;
	uint32_t	 prev;		/* towards the head (newer) */
	uint32_t	 next;		/* towards the tail; chains free */
};

struct rl_table {
	struct rl_ent	*ent;
	uint64_t	*idx;
	uint64_t	 mask;
	uint8_t		 key[SIPHASH_KEY_LEN];
	uint32_t	 max;
	uint32_t	 count;
	uint32_t	 head, tail, free;
	uint64_t	 evicted, reaped;
};

_Static_assert(sizeof(struct rl_ent) + 4 * sizeof(uint64_t) <=
    RL_ENTRY_BYTES, "RL_ENTRY_BYTES documents the memory per client");

struct rl_table *
rl_table_new(uint32_t max_clients, const uint8_t key[SIPHASH_KEY_LEN])
{
	struct rl_table	*t;
	uint64_t	 n = 2;
	uint32_t	 i;

	if (max_clients == 0 || max_clients > RL_MAX)
		return NULL;
	while (n < 2 * (uint64_t)max_clients)
		n <<= 1;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->ent = calloc(max_clients, sizeof(*t->ent));
	t->idx = calloc(n, sizeof(*t->idx));
	if (t->ent == NULL || t->idx == NULL) {
		rl_table_free(t);
		return NULL;
	}
	t->mask = n - 1;
	memcpy(t->key, key, sizeof(t->key));
	t->max = max_clients;
	t->head = t->tail = RL_NIL;
	for (i = 0; i < max_clients; i++)
		t->ent[i].next = i + 1 < max_clients ? i + 1 : RL_NIL;
	t->free = 0;
	return t;
}

void
rl_table_free(struct rl_table *t)
{
	if (t == NULL)
		return;
	free(t->ent);
	free(t->idx);
	free(t);
}

int
rl_key_addr(struct rl_key *key, enum rl_kind k, uint32_t route,
    const struct sockaddr *sa, socklen_t len, unsigned v6_prefix)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	const struct sockaddr_in6 *sin6;
	const struct sockaddr_in *sin;
	uint8_t		 a[16];
	unsigned	 i, fam, keep;

	memset(key, 0, sizeof(*key));
	memset(a, 0, sizeof(a));
	if (sa == NULL || len < (socklen_t)sizeof(sa_family_t))
		return -EAFNOSUPPORT;
	if (sa->sa_family == AF_INET &&
	    len >= (socklen_t)sizeof(struct sockaddr_in)) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		memcpy(a, &sin->sin_addr, 4);
		fam = 4;
	} else if (sa->sa_family == AF_INET6 &&
	    len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (memcmp(&sin6->sin6_addr, v4mapped, 12) == 0) {
			/* a dual-stack listener's IPv4 client is IPv4 */
			memcpy(a, (const uint8_t *)&sin6->sin6_addr + 12, 4);
			fam = 4;
		} else {
			memcpy(a, &sin6->sin6_addr, 16);
			fam = 6;
			if (v6_prefix < 1 || v6_prefix > 128)
				v6_prefix = 64;
			for (i = 0; i < 16; i++) {
				if (v6_prefix >= 8 * (i + 1))
					continue;
				/* bits of this byte kept: 0..7 */
				keep = v6_prefix > 8 * i ? v6_prefix - 8 * i : 0;
				a[i] = (uint8_t)(a[i] & (0xffu << (8 - keep)));
			}
		}
	} else
		return -EAFNOSUPPORT;
	key->w[0] = (uint64_t)k << 56 | (uint64_t)fam << 48 | route;
	memcpy(&key->w[1], a, 8);
	memcpy(&key->w[2], a + 8, 8);
	return 0;
}

void
rl_key_identity(struct rl_key *key, const char *identity,
    const uint8_t k[SIPHASH_KEY_LEN])
{
	uint8_t	 k2[SIPHASH_KEY_LEN];
	size_t	 n = strlen(identity), i;

	/*
	 * 128 bits of keyed hash stand for the string (up to 128 bytes):
	 * two identities share a bucket with odds of 2^-128 per pair.  The
	 * second half under a derived key (SipHash is a PRF per key).
	 */
	for (i = 0; i < sizeof(k2); i++)
		k2[i] = k[i] ^ 0x5c;
	key->w[0] = (uint64_t)RL_IDENTITY << 56;
	key->w[1] = siphash24(k, identity, n);
	key->w[2] = siphash24(k2, identity, n);
}

static inline bool
rl_key_eq(const struct rl_key *a, const struct rl_key *b)
{
	return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) |
	    (a->w[2] ^ b->w[2])) == 0;
}

static inline uint32_t
rl_hash(const struct rl_table *t, const struct rl_key *k)
{
	return (uint32_t)hash_fold(siphash24(t->key, k->w, sizeof(k->w)));
}

/* Index position of slot s (it is in the table). */
static uint64_t
rl_pos(const struct rl_table *t, uint32_t s)
{
	uint64_t	 i = t->ent[s].hash & t->mask;

	while ((uint32_t)t->idx[i] != s + 1)
		i = (i + 1) & t->mask;
	return i;
}

static void
rl_unlink(struct rl_table *t, uint32_t s)
{
	struct rl_ent	*e = &t->ent[s];

	if (e->prev != RL_NIL)
		t->ent[e->prev].next = e->next;
	else
		t->head = e->next;
	if (e->next != RL_NIL)
		t->ent[e->next].prev = e->prev;
	else
		t->tail = e->prev;
}

static void
rl_push_head(struct rl_table *t, uint32_t s)
{
	struct rl_ent	*e = &t->ent[s];

	e->prev = RL_NIL;
	e->next = t->head;
	if (t->head != RL_NIL)
		t->ent[t->head].prev = s;
	t->head = s;
	if (t->tail == RL_NIL)
		t->tail = s;
}

/* Drop slot s: backward-shift deletion in idx, slot to the free list. */
static void
rl_remove(struct rl_table *t, uint32_t s)
{
	uint64_t	 i, j, home;

	i = rl_pos(t, s);
	for (j = (i + 1) & t->mask; t->idx[j] != 0; j = (j + 1) & t->mask) {
		home = (t->idx[j] >> 32) & t->mask;
		/* j's entry may fill the hole at i if home is not in (i, j] */
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->idx[i] = t->idx[j];
			i = j;
		}
	}
	t->idx[i] = 0;
	rl_unlink(t, s);
	t->ent[s].next = t->free;
	t->free = s;
	t->count--;
}

/* The slot of key (moved to the head), created when absent. */
static uint32_t
rl_find(struct rl_table *t, const struct rl_key *key, uint64_t now_ns)
{
	uint32_t	 h = rl_hash(t, key), s;
	uint64_t	 i;

	for (i = h & t->mask; t->idx[i] != 0; i = (i + 1) & t->mask) {
		s = (uint32_t)t->idx[i] - 1;
		if ((uint32_t)(t->idx[i] >> 32) == h &&
		    rl_key_eq(&t->ent[s].key, key)) {
			if (t->head != s) {
				rl_unlink(t, s);
				rl_push_head(t, s);
			}
			return s;
		}
	}
	if (t->free == RL_NIL) {
		/* full: the least recently seen client goes, never grow */
		rl_remove(t, t->tail);
		t->evicted++;
		/* the removal may have shifted the run: probe again */
		for (i = h & t->mask; t->idx[i] != 0; i = (i + 1) & t->mask)
			;
	}
	s = t->free;
	t->free = t->ent[s].next;
	memset(&t->ent[s], 0, sizeof(t->ent[s]));
	t->ent[s].key = *key;
	t->ent[s].hash = h;
	t->ent[s].tat_ns = now_ns;
	t->idx[i] = (uint64_t)h << 32 | (uint64_t)(s + 1);
	rl_push_head(t, s);
	t->count++;
	return s;
}

struct rl_verdict
rl_take(struct rl_table *t, const struct rl_key *key, uint32_t rate,
    uint32_t burst, uint64_t now_ns)
{
	return rl_take_ns(t, key, rate == 0 ? 0 : NS_PER_SEC / rate, burst,
	    now_ns);
}

struct rl_verdict
rl_take_ns(struct rl_table *t, const struct rl_key *key, uint64_t T,
    uint32_t burst, uint64_t now_ns)
{
	struct rl_verdict	 v = { 0, 0 };
	struct rl_ent		*e;
	uint64_t		 tat, limit;

	v.slot = rl_find(t, key, now_ns);
	e = &t->ent[v.slot];
	e->seen_ns = now_ns;
	if (T == 0)
		return v;
	if (burst == 0)
		burst = 1;
	tat = e->tat_ns > now_ns ? e->tat_ns : now_ns;
	limit = now_ns + (uint64_t)burst * T;
	/*
	 * A debt from a slower rate (before a reload, or while throttled)
	 * is no deeper than an empty bucket at the rate in force.
	 */
	if (tat > limit)
		e->tat_ns = tat = limit;
	if (tat + T > limit) {
		/* a token comes back when tat + T - limit has passed */
		v.wait_ns = tat + T - limit;
		return v;
	}
	e->tat_ns = tat + T;
	return v;
}

bool
rl_may_answer(struct rl_table *t, uint32_t slot, uint64_t now_ns,
    uint64_t interval_ns)
{
	struct rl_ent	*e;

	if (slot >= t->max)
		return false;
	e = &t->ent[slot];
	if (e->answered_ns != 0 && now_ns - e->answered_ns < interval_ns)
		return false;
	e->answered_ns = now_ns != 0 ? now_ns : 1;
	return true;
}

void
rl_reap(struct rl_table *t, uint64_t now_ns, uint64_t idle_ns)
{
	struct rl_ent	*e;

	while (t->tail != RL_NIL) {
		e = &t->ent[t->tail];
		if (e->seen_ns + idle_ns > now_ns || e->tat_ns > now_ns)
			break;
		rl_remove(t, t->tail);
		t->reaped++;
	}
}

uint32_t
rl_count(const struct rl_table *t)
{
	return t->count;
}

uint64_t
rl_evicted(const struct rl_table *t)
{
	return t->evicted;
}

uint64_t
rl_reaped(const struct rl_table *t)
{
	return t->reaped;
}

void
rl_load_init(struct rl_load *l, unsigned throttle_at, unsigned shed_at,
    unsigned normal_below)
{
	l->level = RL_NORMAL;
	l->since_ns = 0;
	l->throttle_at = throttle_at;
	l->shed_at = shed_at;
	l->normal_below = normal_below;
}

bool
rl_load_update(struct rl_load *l, unsigned usage_pct, uint64_t now_ns)
{
	enum rl_level	 old = l->level, n = old;

	if (usage_pct >= l->shed_at)
		n = RL_SHEDDING;
	else if (usage_pct >= l->throttle_at) {
		if (n == RL_NORMAL)
			n = RL_THROTTLED;
	} else if (usage_pct < l->normal_below)
		n = RL_NORMAL;
	else if (n == RL_SHEDDING)
		n = RL_THROTTLED;
	if (n == old)
		return false;
	if (n < old && now_ns - l->since_ns < RL_LOAD_HOLD_NS)
		return false;
	l->level = n;
	l->since_ns = now_ns;
	return true;
}

const char *
rl_level_str(unsigned level)
{
	static const char *const names[RL_LEVELS] = {
		"normal", "throttled", "shedding",
	};

	return level < RL_LEVELS ? names[level] : "unknown";
}

const char *
rl_kind_str(unsigned kind)
{
	static const char *const names[RL_KINDS] = {
		"address", "identity", "route",
	};

	return kind < RL_KINDS ? names[kind] : "unknown";
}
