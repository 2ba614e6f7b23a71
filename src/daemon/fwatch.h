/*
 * fwatch.h - the main thread's file watcher (inotify): every tree a static
 * route serves, recursively, and the directory of every file route.
 * Events are collected for FWATCH_COALESCE_NS after the first one and then
 * handed out as one batch (struct fchange): a burst of writes costs the
 * workers a bounded number of wake-ups, and the last state of a file is
 * always reported, since an event after a batch starts the next one.
 *
 * Main thread only.
 */
#ifndef COAPD_FWATCH_H
#define COAPD_FWATCH_H

#include <stdint.h>

struct cfg;
struct fchange;
struct fwatch;

#define FWATCH_COALESCE_NS	(30ULL * 1000 * 1000)

/* A watcher with nothing watched yet.  Returns 0 or a negative errno. */
int		 fwatch_new(struct fwatch **out);
void		 fwatch_free(struct fwatch *fw);

/* The descriptor to poll for POLLIN (changes after fwatch_set_cfg()). */
int		 fwatch_fd(const struct fwatch *fw);

/*
 * Watch what c's static routes serve, forgetting the previous watches.
 * Problems (no more inotify watches) are logged, not fatal: the file
 * cache's age bound still applies.  The next batch says "all changed".
 */
void		 fwatch_set_cfg(struct fwatch *fw, const struct cfg *c);

/* Read the pending events at now_ns (non-blocking). */
void		 fwatch_read(struct fwatch *fw, uint64_t now_ns);

/* Milliseconds until a batch is due, or CLOCK_WAIT_FOREVER (none pending). */
int		 fwatch_timeout_ms(const struct fwatch *fw, uint64_t now_ns);

/* The batch due at now_ns (one reference, the caller's), or NULL. */
struct fchange	*fwatch_take(struct fwatch *fw, uint64_t now_ns);

#endif /* COAPD_FWATCH_H */
