/*
 * svc.h - the event service a worker lends its handlers (struct h_svc in
 * handler.h): one-shot descriptor watches on the worker's ring and
 * timers checked by the loop.  Everything stays in the worker's thread and
 * ring: no extra thread, no lock.  One struct svc per worker.
 */
#ifndef COAPD_SVC_H
#define COAPD_SVC_H

#include <stdint.h>

#include "serve/handler.h"

struct uring;
struct svc;

/*
 * A service over ring u with room for max_watches watches and max_timers
 * timers; the ring's completions for ud_kind (the top byte of user data)
 * belong to it.  Returns NULL on allocation failure.
 */
struct svc *svc_new(struct uring *u, unsigned ud_kind, unsigned max_watches,
	    unsigned max_timers);
void	svc_free(struct svc *s);

/* The function table handlers get. */
const struct h_svc *svc_ops(struct svc *s);

/* A completion with the service's ud kind: runs the watch's callback. */
void	svc_event(struct svc *s, uint64_t ud, int32_t res);

/* Run the timers due at now_ns. */
void	svc_run_timers(struct svc *s, uint64_t now_ns);

/* When the next timer is due (UINT64_MAX: none). */
uint64_t svc_next_ns(const struct svc *s);

#endif /* COAPD_SVC_H */
