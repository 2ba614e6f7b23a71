/*
 * amp.c - the amplification guard and Echo values.  See amp.h.
 */
#include <netinet/in.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "proto/amp.h"

/* Sets of AMP_WAYS for at least max_addrs: a power of two. */
static size_t
amp_sets(size_t max_addrs)
{
	size_t	 nsets;

	for (nsets = 1; nsets * AMP_WAYS < max_addrs && nsets < (1u << 24);
	    nsets *= 2)
		;
	return nsets;
}

int
amp_init(struct amp_table *t, size_t max_addrs,
    const uint8_t rnd[SIPHASH_KEY_LEN + 8], uint32_t echo_lifetime_s)
{
	size_t	 nsets;

	memset(t, 0, sizeof(*t));
	nsets = amp_sets(max_addrs);
	if ((t->e = calloc(nsets * AMP_WAYS, sizeof(*t->e))) == NULL)
		return -ENOMEM;
	t->mask = nsets - 1;
	memcpy(t->key, rnd, SIPHASH_KEY_LEN);
	memcpy(&t->seed, rnd + SIPHASH_KEY_LEN, sizeof(t->seed));
	amp_set_lifetime(t, echo_lifetime_s);
	return 0;
}

int
amp_resize(struct amp_table *t, size_t max_addrs)
{
	struct amp_entry	*e;
	size_t			 nsets;

	nsets = amp_sets(max_addrs);
	if (nsets == t->mask + 1)
		return 0;
	if ((e = calloc(nsets * AMP_WAYS, sizeof(*e))) == NULL)
		return -ENOMEM;
	free(t->e);
	t->e = e;
	t->mask = nsets - 1;
	return 0;
}

void
amp_set_lifetime(struct amp_table *t, uint32_t echo_lifetime_s)
{
	t->lifetime_ns = (uint64_t)echo_lifetime_s * 1000000000ULL;
}

void
amp_fini(struct amp_table *t)
{
	free(t->e);
	explicit_bzero(t->key, sizeof(t->key));
	t->e = NULL;
}

/* The address of peer as (family, 16 bytes); false for other families. */
static bool
amp_key(const struct sockaddr *peer, socklen_t len, uint8_t *fam,
    uint8_t addr[16])
{
	static const uint8_t	 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)peer;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)peer;

	memset(addr, 0, 16);
	if (peer->sa_family == AF_INET && len >= (socklen_t)sizeof(*s4)) {
		*fam = 4;
		memcpy(addr, &s4->sin_addr, 4);
		return true;
	}
	if (peer->sa_family != AF_INET6 || len < (socklen_t)sizeof(*s6))
		return false;
	if (memcmp(&s6->sin6_addr, mapped, sizeof(mapped)) == 0) {
		/* a dual-stack listener's IPv4 client is that IPv4 client */
		*fam = 4;
		memcpy(addr, (const uint8_t *)&s6->sin6_addr + 12, 4);
		return true;
	}
	*fam = 6;
	memcpy(addr, &s6->sin6_addr, 16);
	return true;
}

/*
 * The set of (fam, addr).  An IPv4 key is its 4 bytes and 12 zeros
 * (amp_key()): only the 4 are hashed, which keeps FNV-1a's byte loop to 5
 * rounds on the common path (the ways still compare all 16 bytes).
 */
static struct amp_entry *
amp_set(struct amp_table *t, uint8_t fam, const uint8_t addr[16])
{
	return &t->e[(hash_fold(fnv1a(fnv1a(t->seed, &fam, 1), addr,
	    fam == 4 ? 4 : 16)) & t->mask) * AMP_WAYS];
}

struct amp_entry *
amp_find(struct amp_table *t, const struct sockaddr *peer, socklen_t peerlen)
{
	struct amp_entry	*set;
	uint8_t			 fam, addr[16];
	size_t			 i;

	if (!amp_key(peer, peerlen, &fam, addr))
		return NULL;
	set = amp_set(t, fam, addr);
	for (i = 0; i < AMP_WAYS; i++)
		if (set[i].family == fam &&
		    memcmp(set[i].addr, addr, sizeof(addr)) == 0)
			return &set[i];
	return NULL;
}

/*
 * Start a new window when the current one is over.  The window before it
 * still counts, so that an answer sent late (a hook's separate response, a
 * retransmission) is paid for by the request that asked for it even when
 * a window ended in between: the budget covers the last 10 to 20 seconds.
 */
static void
amp_roll(struct amp_entry *e, uint64_t now_ns)
{
	uint64_t age;

	/* a completion's fresh clock may be ahead of the loop's: not a roll */
	if (now_ns <= e->window_ns)
		return;
	age = now_ns - e->window_ns;
	if (age < AMP_WINDOW_NS)
		return;
	if (age < 2 * AMP_WINDOW_NS) {
		e->prev_rx = e->rx;
		e->prev_tx = e->tx;
	} else
		e->prev_rx = e->prev_tx = 0;
	e->rx = e->tx = 0;
	e->window_ns = now_ns;
}

struct amp_entry *
amp_rx(struct amp_table *t, const struct sockaddr *peer, socklen_t peerlen,
    size_t len, uint64_t now_ns, bool *evicted)
{
	struct amp_entry	*set, *e = NULL, *v;
	uint8_t			 fam, addr[16];
	size_t			 i;

	*evicted = false;
	if (!amp_key(peer, peerlen, &fam, addr))
		return NULL;
	set = amp_set(t, fam, addr);
	for (i = 0; i < AMP_WAYS && e == NULL; i++)
		if (set[i].family == fam &&
		    memcmp(set[i].addr, addr, sizeof(addr)) == 0)
			e = &set[i];
	/* a free way, else the least recently seen */
	v = &set[0];
	for (i = 1; i < AMP_WAYS && v->family != 0; i++)
		if (set[i].family == 0 || set[i].last_ns < v->last_ns)
			v = &set[i];
	if (e == NULL) {
		*evicted = v->family != 0;
		t->evicted += *evicted;
		memset(v, 0, sizeof(*v));
		v->family = fam;
		memcpy(v->addr, addr, sizeof(addr));
		v->window_ns = now_ns;
		e = v;
	}
	amp_roll(e, now_ns);
	e->last_ns = now_ns;
	e->rx = len > UINT32_MAX - e->rx ? UINT32_MAX : e->rx + (uint32_t)len;
	return e;
}

bool
amp_verified(const struct amp_entry *e, uint64_t now_ns)
{
	return e->verified_ns != 0 && now_ns < e->verified_ns;
}

bool
amp_room(const struct amp_entry *e, size_t len, uint64_t now_ns)
{
	uint64_t	 age, rx = 0, tx = 0;

	/* an older "now" than the window's start (see amp_roll) is age 0 */
	age = now_ns > e->window_ns ? now_ns - e->window_ns : 0;

	if (amp_verified(e, now_ns))
		return true;
	/* the window and the one before it, as amp_roll() would leave them */
	if (age < AMP_WINDOW_NS) {
		rx = (uint64_t)e->rx + e->prev_rx;
		tx = (uint64_t)e->tx + e->prev_tx;
	} else if (age < 2 * AMP_WINDOW_NS) {
		rx = e->rx;
		tx = e->tx;
	}
	return tx + len <= rx * AMP_FACTOR;
}

bool
amp_tx(struct amp_entry *e, size_t len, uint64_t now_ns)
{
	if (!amp_room(e, len, now_ns))
		return false;
	amp_roll(e, now_ns);
	amp_tx_force(e, len);
	return true;
}

void
amp_tx_force(struct amp_entry *e, size_t len)
{
	e->tx = len > UINT32_MAX - e->tx ? UINT32_MAX : e->tx + (uint32_t)len;
}

static uint64_t
echo_mac(const struct amp_table *t, const struct amp_entry *e,
    const uint8_t when[4])
{
	uint8_t	 in[4 + 1 + 16];

	memcpy(in, when, 4);
	in[4] = e->family;
	memcpy(in + 5, e->addr, 16);
	return siphash24(t->key, in, sizeof(in));
}

void
amp_echo_make(const struct amp_table *t, const struct amp_entry *e,
    uint64_t now_ns, uint8_t out[AMP_ECHO_LEN])
{
	uint32_t	 s = (uint32_t)(now_ns / 1000000000ULL);
	uint64_t	 mac;
	int		 i;

	out[0] = (uint8_t)(s >> 24);
	out[1] = (uint8_t)(s >> 16);
	out[2] = (uint8_t)(s >> 8);
	out[3] = (uint8_t)s;
	mac = echo_mac(t, e, out);
	for (i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(mac >> (56 - 8 * i));
}

bool
amp_echo_check(const struct amp_table *t, struct amp_entry *e,
    const uint8_t *v, size_t len, uint64_t now_ns)
{
	uint8_t		 want[AMP_ECHO_LEN];
	uint64_t	 mac, made_ns;
	uint8_t		 diff = 0;
	int		 i;

	if (len != AMP_ECHO_LEN)
		return false;
	made_ns = (uint64_t)(((uint32_t)v[0] << 24) | ((uint32_t)v[1] << 16) |
	    ((uint32_t)v[2] << 8) | v[3]) * 1000000000ULL;
	/* made in the future or too long ago: not fresh (RFC 9175 §2.3) */
	if (made_ns > now_ns || now_ns - made_ns >= AMP_ECHO_FRESH_NS)
		return false;
	mac = echo_mac(t, e, v);
	for (i = 0; i < 8; i++)
		want[4 + i] = (uint8_t)(mac >> (56 - 8 * i));
	for (i = 4; i < AMP_ECHO_LEN; i++)
		diff |= (uint8_t)(want[i] ^ v[i]);
	if (diff != 0)
		return false;
	e->verified_ns = now_ns + t->lifetime_ns;
	if (e->verified_ns == 0)
		e->verified_ns = 1;
	return true;
}
