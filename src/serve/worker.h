/*
 * worker.h - one thread, one io_uring, one SO_REUSEPORT socket per listen
 * entry, and all per-peer state (design.md "Threads and ownership").
 *
 * The main thread creates workers, hands them new configuration snapshots
 * and stops them; everything else a worker does is its own.
 */
#ifndef COAPD_WORKER_H
#define COAPD_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/metrics.h"

struct cfg;
struct fchange;
struct h_env;
struct worker;

#define WORKER_MAX_SOCKS	32

/*
 * Start worker id with configuration c (a reference is taken) over the
 * bound sockets fds[0..nfds) (borrowed; dtls[i] tells a DTLS listener).
 * env is lent to the handlers and must outlive the worker.
 * Waits until the worker's ring is set up.  Returns 0, or a negative
 * errno with a sentence in err (e.g. why io_uring is unavailable).
 */
int	worker_start(struct worker **out, unsigned id, struct cfg *c,
	    const struct h_env *env, const int *fds, const bool *dtls, size_t nfds, char *err,
	    size_t errlen);

/* Hand the worker a new snapshot (a reference is taken); any thread. */
void	worker_set_cfg(struct worker *w, struct cfg *c);

/*
 * Has the worker taken the snapshot of the last worker_set_cfg()?  From
 * then on every datagram it handles sees it.
 */
bool	worker_cfg_taken(const struct worker *w);

/*
 * Hand the worker a batch of file changes (a reference is taken; the
 * caller keeps its own): it notifies the observers of those files.  Main
 * thread; never blocks for long (a short mutex, an eventfd write).
 */
void	worker_post_change(struct worker *w, struct fchange *c);

/* Ask the worker to stop; returns at once. */
void	worker_stop(struct worker *w);

/*
 * Stop gracefully: drop new requests, keep answering ACKs and RSTs, and
 * end the loop once no exchange is pending or at until_ns (CLOCK_MONOTONIC,
 * clock_now_ns()).  Returns at once; worker_done() tells when it ended.
 */
void	worker_drain(struct worker *w, uint64_t until_ns);
bool	worker_done(const struct worker *w);

/*
 * Turns of the worker's loop so far (it turns at least every 100 ms while
 * healthy): the main thread pings the watchdog only while every worker's
 * count moves.  Any thread.
 */
uint64_t worker_beat(const struct worker *w);

/* Wait for the thread to end and free the worker. */
void	worker_join(struct worker *w);

/* The worker's counters, readable from any thread (metrics.h). */
const struct metrics *worker_metrics(const struct worker *w);

#endif /* COAPD_WORKER_H */
