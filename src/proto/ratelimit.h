/*
 * ratelimit.h - per-worker token buckets (issue 16 "Rate limits") and the
 * load level of a worker ("Load shedding").  Pure: keys, a clock and
 * numbers in, decisions out; no I/O, no logging, no allocation after
 * rl_table_new().
 *
 * A bucket is kept as GCRA (the "virtual scheduling" form of a token
 * bucket): one theoretical arrival time per client.  A request at now is
 * allowed when, after adding one emission interval T = 1 s / rate, the
 * arrival time is at most burst * T ahead of now.  The rate and burst are
 * passed on every call, so a reload or the throttled level (half rate)
 * apply at once to every entry.
 *
 * Not thread-safe: one table per worker (a client always lands on one
 * worker, design.md).
 */
#ifndef COAPD_RATELIMIT_H
#define COAPD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/siphash.h"

/* What a bucket counts: one table holds all three kinds. */
enum rl_kind {
	RL_ADDRESS = 0,		/* a source address (IPv6: its prefix) */
	RL_IDENTITY,		/* a DTLS PSK identity */
	RL_ROUTE,		/* a source address on one route */
	RL_KINDS
};

/* A bucket's key: built by rl_key_addr() / rl_key_identity(). */
struct rl_key {
	uint64_t	 w[3];
};

struct rl_table;

/*
 * A table of at most max_clients buckets (>= 1), all allocated now and
 * never grown.  key (secret, random) keys the SipHash of the index:
 * peers choose their addresses.  Memory:
 * at most RL_ENTRY_BYTES per client (entry and
 * its share of the index).  Returns NULL on allocation failure.
 */
#define RL_ENTRY_BYTES	96
struct rl_table *rl_table_new(uint32_t max_clients,
	    const uint8_t key[SIPHASH_KEY_LEN]);
void	rl_table_free(struct rl_table *t);

/*
 * Key of kind k (RL_ADDRESS or RL_ROUTE with route index route) for the
 * address in sa: IPv4 whole, IPv6 cut to its first v6_prefix bits
 * (1..128), an IPv4-mapped IPv6 address as IPv4.  The port never counts.
 * Returns 0, or -EAFNOSUPPORT for other families (not limited).
 */
int	rl_key_addr(struct rl_key *key, enum rl_kind k, uint32_t route,
	    const struct sockaddr *sa, socklen_t len, unsigned v6_prefix);
/* Key of a PSK identity (two 64-bit SipHashes of the string under k). */
void	rl_key_identity(struct rl_key *key, const char *identity,
	    const uint8_t k[SIPHASH_KEY_LEN]);

/* The outcome of rl_take(). */
struct rl_verdict {
	uint64_t	 wait_ns;	/* 0: allowed; else until a token */
	uint32_t	 slot;		/* for rl_may_answer() */
};

/*
 * One request of key at now_ns against rate (requests/s, > 0) and burst
 * (>= 1).  Finds or creates the bucket (evicting the least recently seen
 * client when the table is full) and takes a token when there is one.
 */
struct rl_verdict rl_take(struct rl_table *t, const struct rl_key *key,
	    uint32_t rate, uint32_t burst, uint64_t now_ns);
/* The same with the emission interval (1 s / rate) given: 0 is no limit. */
struct rl_verdict rl_take_ns(struct rl_table *t, const struct rl_key *key,
	    uint64_t interval_ns, uint32_t burst, uint64_t now_ns);

/*
 * For a refused NON: true at most once per interval_ns per bucket (the
 * one 4.29 a NON sender gets per second, RFC 8516), false otherwise.
 */
bool	rl_may_answer(struct rl_table *t, uint32_t slot, uint64_t now_ns,
	    uint64_t interval_ns);

/*
 * Forget the buckets not seen for idle_ns whose bucket is full again
 * (forgetting them changes nothing), least recently seen first.
 */
void	rl_reap(struct rl_table *t, uint64_t now_ns, uint64_t idle_ns);

/* Counts for metrics and tests. */
uint32_t rl_count(const struct rl_table *t);	/* buckets held */
uint64_t rl_evicted(const struct rl_table *t);	/* pushed out, full */
uint64_t rl_reaped(const struct rl_table *t);	/* idle, forgotten */

/*
 * Load level with hysteresis.  Usage (percent of the worker's most used
 * resource) at or above shed_at goes to SHEDDING, at or above throttle_at
 * to at least THROTTLED; a level is left downwards only when usage falls
 * below throttle_at (SHEDDING to THROTTLED) or below normal_below (to
 * NORMAL), and only RL_LOAD_HOLD_NS after the level was entered, so a
 * load hovering at a threshold or coming in bursts does not flap.
 */
#define RL_LOAD_HOLD_NS	(1000000000ULL)

enum rl_level {
	RL_NORMAL = 0,
	RL_THROTTLED,
	RL_SHEDDING,
	RL_LEVELS
};

struct rl_load {
	enum rl_level	 level;
	uint64_t	 since_ns;	/* level entered */
	unsigned	 throttle_at;	/* percent */
	unsigned	 shed_at;
	unsigned	 normal_below;
};

/* normal_below < throttle_at <= shed_at (cfg checks it). */
void	rl_load_init(struct rl_load *l, unsigned throttle_at,
	    unsigned shed_at, unsigned normal_below);
/* Feed usage_pct at now_ns; returns true when the level changed. */
bool	rl_load_update(struct rl_load *l, unsigned usage_pct,
	    uint64_t now_ns);
/* "normal", "throttled", "shedding", or "unknown". */
const char *rl_level_str(unsigned level);
/* "address", "identity", "route", or "unknown". */
const char *rl_kind_str(unsigned kind);

#endif /* COAPD_RATELIMIT_H */
