/*
 * fchange.h - a batch of file changes, sent by the main thread's watcher
 * (fwatch.c) to every worker.  Immutable once posted and reference
 * counted: each worker drops its reference when it has notified its
 * observers.  Files are named by observe_path_hash() of their path.
 */
#ifndef COAPD_FCHANGE_H
#define COAPD_FCHANGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fchange {
	atomic_uint	 refs;
	bool		 all;		/* anything may have changed: check
					   every observer */
	size_t		 n;
	uint64_t	 hash[];	/* n path hashes */
};

/* A batch with room for cap hashes and one reference, or NULL. */
struct fchange	*fchange_new(size_t cap);
/* Take / drop a reference; the last drop frees.  Thread-safe. */
struct fchange	*fchange_ref(struct fchange *c);
void		 fchange_unref(struct fchange *c);
/* Does c name the file with hash h? */
bool		 fchange_has(const struct fchange *c, uint64_t h);

#endif /* COAPD_FCHANGE_H */
