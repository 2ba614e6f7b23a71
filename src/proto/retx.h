/*
 * retx.h - RFC 7252 §4.2 retransmission of a confirmable message.  The
 * §4.8 transmission parameters ACK_TIMEOUT and MAX_RETRANSMIT come from the
 * configuration (coap.ack_timeout_ms, coap.max_retransmit; RFC defaults
 * 2 s and 4); ACK_RANDOM_FACTOR is fixed at 1.5.  Pure.
 */
#ifndef COAPD_RETX_H
#define COAPD_RETX_H

#include <stdbool.h>
#include <stdint.h>

/* RFC 7252 §4.8 defaults (coap.ack_timeout_ms, coap.max_retransmit). */
#define RETX_ACK_TIMEOUT_MS	2000
#define RETX_MAX_RETRANSMIT	4
#define RETX_ACK_TIMEOUT_NS	((uint64_t)RETX_ACK_TIMEOUT_MS * 1000 * 1000)

/* The configured §4.8 parameters (struct cfg's `coap` group). */
struct retx_params {
	uint32_t	 ack_timeout_ms;	/* ACK_TIMEOUT */
	uint32_t	 max_retransmit;	/* MAX_RETRANSMIT */
};

/* The RFC's defaults, for tests and tools without a configuration. */
#define RETX_PARAMS_DEFAULT \
	((const struct retx_params){ RETX_ACK_TIMEOUT_MS, RETX_MAX_RETRANSMIT })

/*
 * RFC 7252 §4.8.2 EXCHANGE_LIFETIME for p, in ms: MAX_TRANSMIT_SPAN
 * (ACK_TIMEOUT * (2^MAX_RETRANSMIT - 1) * ACK_RANDOM_FACTOR) + 2 *
 * MAX_LATENCY (100 s) + PROCESSING_DELAY (ACK_TIMEOUT).  247,000 with the
 * defaults.  No overflow for MAX_RETRANSMIT up to 32.
 */
static inline uint64_t
retx_exchange_lifetime_ms(const struct retx_params *p)
{
	uint64_t	 ack = p->ack_timeout_ms;
	uint64_t	 span = ack * ((1ULL << p->max_retransmit) - 1) * 3 / 2;

	return span + 2 * 100000 + ack;
}

/* One confirmable message's timer. */
struct retx {
	uint64_t	 next_ns;	/* when to send it again */
	uint64_t	 timeout_ns;	/* current timeout */
	unsigned	 count;		/* retransmissions so far */
	unsigned	 max;		/* MAX_RETRANSMIT for this message */
};

/*
 * First transmission at now_ns; rnd (uniform 32 bits) picks the initial
 * timeout in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR) (§4.8: 1.5),
 * with ACK_TIMEOUT and MAX_RETRANSMIT from p.  A message keeps the
 * parameters it started with (a reload changes those of new messages).
 */
static inline void
retx_start(struct retx *r, uint64_t now_ns, uint32_t rnd,
    const struct retx_params *p)
{
	uint64_t	 ack_ns = (uint64_t)p->ack_timeout_ms * 1000 * 1000;

	r->timeout_ns = ack_ns + (ack_ns / 2) * (uint64_t)rnd / 4294967296ULL;
	r->count = 0;
	r->max = p->max_retransmit;
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
	if (r->count >= r->max)
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
	return r->count < r->max;
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
	*give_up = r->count >= r->max;
	if (!*give_up) {
		r->count++;
		r->timeout_ns *= 2;
		r->next_ns = now_ns + r->timeout_ns;
	}
	return true;
}

#endif /* COAPD_RETX_H */
