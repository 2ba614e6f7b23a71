/*
 * exchange.h - per-worker message deduplication cache (RFC 7252 §4.5).
 *
 * Keyed by (transport, peer, Message ID); the same peer is
 * net_addr_same()'s (family, address, port, IPv6 scope id).  Peers are UDP
 * endpoints: an address longer than a sockaddr_in6 is never cached (a
 * lookup misses, a store does nothing).  Memory is allocated once at
 * creation: max_entries slots, each able to hold a whole response datagram.
 * Inserting into a full cache evicts the oldest entry; entries older than
 * the lifetime are treated as absent.  Not thread-safe: one per worker.
 */
#ifndef COAPD_EXCHANGE_H
#define COAPD_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct exchange_cache;

struct exchange {
	uint64_t	 created_ns;
	uint16_t	 mid;
	uint16_t	 resp_len;	/* 0: no response stored yet */
	const uint8_t	*resp;		/* resp_len bytes */
};

/* Returns NULL on allocation failure. */
struct exchange_cache *exchange_cache_new(uint32_t max_entries,
	    uint64_t lifetime_ns);
void	exchange_cache_free(struct exchange_cache *c);

/*
 * The live entry for (scope, peer, mid) at now_ns, or NULL.  scope keeps
 * transports apart: an answer cached for a DTLS session is never replayed
 * to plain CoAP from the same address, nor to another session.
 */
const struct exchange *exchange_lookup(struct exchange_cache *c,
	    uint64_t scope, const struct sockaddr *peer, socklen_t peerlen,
	    uint16_t mid, uint64_t now_ns);

/*
 * Record that (peer, mid) was seen at now_ns with the response bytes
 * resp[0..len) (len may be 0 for "seen, no response", e.g. a NON that got
 * none, or a request whose answer is pending; len <= COAP_MAX_MSG).
 * Replaces an existing entry for the same key.  Never fails: evicts.
 */
void	exchange_store(struct exchange_cache *c, uint64_t scope,
	    const struct sockaddr *peer, socklen_t peerlen, uint16_t mid,
	    uint64_t now_ns, const uint8_t *resp, size_t len);

/* Number of live entries (for metrics and tests). */
uint32_t exchange_count(const struct exchange_cache *c);

/* Live entries evicted because the cache was full (for metrics). */
uint64_t exchange_evicted(const struct exchange_cache *c);

/* Forget the entries expired at now_ns (the sweep: counts stay true). */
void	exchange_expire(struct exchange_cache *c, uint64_t now_ns);

#endif /* COAPD_EXCHANGE_H */
