/*
 * amp.h - the amplification guard of one worker (plain CoAP only), pure.
 *
 * An address that has not shown it receives our datagrams gets at most
 * AMP_FACTOR times the bytes it sent in the current AMP_WINDOW_NS window
 * (QUIC's rule, RFC 9000 §8): a forged source address cannot turn coapd
 * into an amplifier.  Above that the caller answers 4.01 with an Echo
 * option (RFC 9175 §2.4); a request that repeats a fresh Echo value shows
 * the address receives our answers, and it is then verified for
 * echo_lifetime_ns, without limit.
 *
 * Echo values need no state per request: a value is 4 bytes of time
 * (seconds of the worker's monotonic clock, big endian) and the first 8
 * bytes of SipHash-2-4 under a random key of this table over that time
 * and the client's address (IPv4-mapped IPv6 as IPv4; the port is left
 * out, a client may change it).  It is fresh for AMP_ECHO_FRESH_NS.  The
 * key is made at start and never leaves memory: after a restart old
 * values fail and the client is simply challenged again.
 *
 * State per address lives in a fixed table made at start: 4-way set
 * associative on a seeded hash of the address, the least recently seen
 * entry of a set replaced when a new address needs one.  Eviction never
 * grants credit: a new entry starts from zero bytes sent, and its budget
 * is AMP_FACTOR times what it has sent.  No allocation after amp_init().
 */
#ifndef COAPD_AMP_H
#define COAPD_AMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/siphash.h"

#define AMP_FACTOR		3
#define AMP_WINDOW_NS		(10ULL * 1000 * 1000 * 1000)
#define AMP_ECHO_FRESH_NS	(60ULL * 1000 * 1000 * 1000)
#define AMP_ECHO_LEN		12	/* RFC 9175: 1..40 bytes */
#define AMP_WAYS		4

struct amp_entry {
	uint8_t		 addr[16];	/* IPv4 in the first 4 bytes */
	uint8_t		 family;	/* 0: free */
	uint32_t	 rx;		/* bytes received in the window */
	uint32_t	 tx;		/* bytes sent in the window */
	uint32_t	 prev_rx;	/* the same, in the window before */
	uint32_t	 prev_tx;
	uint64_t	 window_ns;	/* start of the window */
	uint64_t	 verified_ns;	/* verified until (0: never) */
	uint64_t	 last_ns;	/* last datagram: LRU in the set */
};

struct amp_table {
	struct amp_entry *e;		/* nsets * AMP_WAYS */
	size_t		  mask;		/* nsets - 1 */
	uint64_t	  seed;		/* of the set hash */
	uint8_t		  key[SIPHASH_KEY_LEN]; /* of Echo values */
	uint64_t	  lifetime_ns;	/* of a verification */
	uint64_t	  evicted;	/* entries replaced (tests, metrics) */
};

/*
 * A table for at least max_addrs addresses with the random bytes rnd
 * (SIPHASH_KEY_LEN + 8: key and seed) and echo_lifetime_s.  Returns 0 or
 * -ENOMEM.
 */
int	amp_init(struct amp_table *t, size_t max_addrs,
	    const uint8_t rnd[SIPHASH_KEY_LEN + 8], uint32_t echo_lifetime_s);
void	amp_set_lifetime(struct amp_table *t, uint32_t echo_lifetime_s);
/*
 * Size the table for max_addrs (a reload): when that changes its size,
 * every entry is forgotten (the key stays).  Returns 0, or -ENOMEM with
 * the table as it was.
 */
int	amp_resize(struct amp_table *t, size_t max_addrs);
void	amp_fini(struct amp_table *t);

/*
 * The entry of peer (IPv4 or IPv6; NULL for other families), made or
 * taken over when it has none, with len bytes received at now_ns counted.
 * Valid until the next amp_rx().  *evicted tells whether another
 * address's entry was replaced for it.
 */
struct amp_entry *amp_rx(struct amp_table *t, const struct sockaddr *peer,
	    socklen_t peerlen, size_t len, uint64_t now_ns, bool *evicted);

/* The entry of peer, or NULL (none, or replaced since): nothing counted. */
struct amp_entry *amp_find(struct amp_table *t, const struct sockaddr *peer,
	    socklen_t peerlen);

/* Whether e's address is verified at now_ns. */
bool	amp_verified(const struct amp_entry *e, uint64_t now_ns);

/* Whether len more bytes may go to e's address now (always, verified). */
bool	amp_room(const struct amp_entry *e, size_t len, uint64_t now_ns);

/* amp_room(), and when there is room the bytes are counted. */
bool	amp_tx(struct amp_entry *e, size_t len, uint64_t now_ns);

/* Count len bytes sent to e's address whatever the budget. */
void	amp_tx_force(struct amp_entry *e, size_t len);

/* A fresh Echo value for e's address at now_ns into out. */
void	amp_echo_make(const struct amp_table *t, const struct amp_entry *e,
	    uint64_t now_ns, uint8_t out[AMP_ECHO_LEN]);

/*
 * Whether v[0..len) is an Echo value we made for e's address that is
 * still fresh at now_ns; when it is, e is verified until now_ns plus the
 * lifetime.
 */
bool	amp_echo_check(const struct amp_table *t, struct amp_entry *e,
	    const uint8_t *v, size_t len, uint64_t now_ns);

#endif /* COAPD_AMP_H */
