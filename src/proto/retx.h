/*
 * retx.h - RFC 7252 §4.2 retransmission of a confirmable message with the
 * §4.8 default transmission parameters.  Pure.
 */
#ifndef COAPD_RETX_H
#define COAPD_RETX_H

#include <stdbool.h>
#include <stdint.h>

#define RETX_ACK_TIMEOUT_NS	(2000ULL * 1000 * 1000)
#define RETX_MAX_RETRANSMIT	4

/* One confirmable message's timer. */
struct retx {
	uint64_t	 next_ns;	/* when to send it again */
	uint64_t	 timeout_ns;	/* current timeout */
	unsigned	 count;		/* retransmissions so far */
};

/*
 * First transmission at now_ns; rnd (uniform 32 bits) picks the initial
 * timeout in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR) (§4.8: 1.5).
 */
static inline void
retx_start(struct retx *r, uint64_t now_ns, uint32_t rnd)
{
	r->timeout_ns = RETX_ACK_TIMEOUT_NS +
	    (RETX_ACK_TIMEOUT_NS / 2) * (uint64_t)rnd / 4294967296ULL;
	r->count = 0;
	r->next_ns = now_ns + r->timeout_ns;
}

/*
 * A new message takes over the timer of one still in flight (RFC 7641
 * §4.5.2: a notification replacing an unacknowledged one keeps its
 * retransmission counter and timeout).  Sending it counts as one
 * retransmission, so a peer that never answers is given up after
 * MAX_RETRANSMIT sends however often new messages replace old ones (a
 * timer pushed back by each of them would never expire).  False, with
 * the timer untouched, when MAX_RETRANSMIT were sent already: the
 * caller sends nothing and waits for the give-up.
 */
static inline bool
retx_restart(struct retx *r, uint64_t now_ns)
{
	if (r->count >= RETX_MAX_RETRANSMIT)
		return false;
	r->count++;
	r->timeout_ns *= 2;
	r->next_ns = now_ns + r->timeout_ns;
	return true;
}

/* Whether a replacement may still be sent (see retx_restart()). */
static inline bool
retx_can_restart(const struct retx *r)
{
	return r->count < RETX_MAX_RETRANSMIT;
}

/*
 * Due at now_ns?  Returns false while not due.  When due, returns true
 * and sets *give_up when MAX_RETRANSMIT were sent already; otherwise the
 * timeout doubles for the next round (§4.2).
 */
static inline bool
retx_due(struct retx *r, uint64_t now_ns, bool *give_up)
{
	if (now_ns < r->next_ns)
		return false;
	*give_up = r->count >= RETX_MAX_RETRANSMIT;
	if (!*give_up) {
		r->count++;
		r->timeout_ns *= 2;
		r->next_ns = now_ns + r->timeout_ns;
	}
	return true;
}

#endif /* COAPD_RETX_H */
