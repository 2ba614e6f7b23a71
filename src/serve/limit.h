/*
 * limit.h - rate limits and load shedding in a worker's engine (issue 16):
 * the buckets and the load level of ratelimit.h applied to requests, and
 * the answers they get (RFC 8516 4.29, 5.03, both with Max-Age).  Used by
 * dispatch.c only; state lives in struct dispatch.  Not thread-safe.
 */
#ifndef COAPD_LIMIT_H
#define COAPD_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/ratelimit.h"

struct cfg_route;
struct dispatch;
struct dispatch_peer;

/* The engine's part: in struct dispatch. */
struct limit_state {
	struct rl_table	*rl;		/* buckets, limits.max_clients */
	uint8_t		 key[SIPHASH_KEY_LEN]; /* SipHash key: bucket
					   index, identity keys */
	struct rl_load	 load;
	uint32_t	 slot;		/* bucket of the latest refusal */
	enum rl_kind	 kind;
	uint64_t	 wait_ns;	/* of a route's refusal */
};

/*
 * Allocate the bucket table for d->cfg, keyed with a random key
 * (getrandom(); seed stands in only when it has no entropy yet).
 * Returns 0 or -ENOMEM.
 */
int	limit_init(struct dispatch *d, uint64_t seed);
void	limit_fini(struct dispatch *d);
/* Thresholds of a new snapshot (the table keeps its size: OPT_RESTART). */
void	limit_set_cfg(struct dispatch *d);

/*
 * A new request from p at now_ns against its address and (DTLS) identity
 * buckets, or route rt's.  Returns 0 to go on, or the ns until the client
 * may retry (then answer with limit_refuse()).
 */
uint64_t limit_client(struct dispatch *d, const struct dispatch_peer *p,
	    uint64_t now_ns);
uint64_t limit_route(struct dispatch *d, const struct dispatch_peer *p,
	    const struct cfg_route *rt, uint64_t now_ns);

/*
 * The answer to d->msg refused for wait_ns: a CON gets 4.29 with Max-Age
 * (piggybacked), a NON a NON 4.29 at most once a second per bucket and
 * otherwise nothing (counted).  Returns the bytes written to out.
 */
size_t	limit_refuse(struct dispatch *d, uint64_t wait_ns, uint64_t now_ns,
	    uint8_t *out, size_t cap);

/* True while the worker sheds load. */
bool	limit_shedding(const struct dispatch *d);
/*
 * The answer to a new request while shedding: a CON gets 5.03 with
 * Max-Age = limits.shed_max_age_s (RST when that cannot be built), a NON
 * nothing.  Returns the bytes written to out.
 */
size_t	limit_shed(struct dispatch *d, uint8_t *out, size_t cap);

/*
 * The worker's usage: io_pct is its receive buffer ring's (percent);
 * the engine adds its pending exchanges; *usage_pct is the result.
 * Returns true when the level changed (the caller logs it; counted here).
 */
bool	limit_load(struct dispatch *d, unsigned io_pct, uint64_t now_ns,
	    unsigned *usage_pct);
enum rl_level limit_level(const struct dispatch *d);

/* Housekeeping: reap idle buckets, publish gauges and eviction counts. */
void	limit_sweep(struct dispatch *d, uint64_t now_ns);

#endif /* COAPD_LIMIT_H */
