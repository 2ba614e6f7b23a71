/*
 * metrics.h - per-worker counters.  Each counter has one writer (its
 * worker); readers in other threads sum them.  Increments are a relaxed
 * load and store, not an atomic read-modify-write: no locked instruction on
 * the hot path, and a reader never sees a torn value.
 */
#ifndef COAPD_METRICS_H
#define COAPD_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* Why a datagram was dropped without an answer; see drop_reason_str(). */
enum drop_reason {
	DROP_MALFORMED_NON = 0,	/* malformed non-confirmable: ignored */
	DROP_VERSION,		/* unknown version: ignored (RFC 7252 §3) */
	DROP_DUP_NON,		/* duplicate NON */
	DROP_DUP_PENDING,	/* duplicate of a request still in progress */
	DROP_BAD_NON,		/* NON with unknown critical option etc. */
	DROP_UNEXPECTED,	/* ACK/RST/NON response nobody waits for */
	DROP_TRUNCATED,		/* datagram larger than a receive buffer */
	DROP_NOBUFS,		/* kernel had no receive buffer */
	DROP_SEND_FAILED,	/* sendmsg failed */
	DROP_REASONS
};

struct metrics {
	atomic_uint_least64_t	 rx;		/* datagrams received */
	atomic_uint_least64_t	 tx;		/* datagrams sent */
	atomic_uint_least64_t	 requests;	/* requests handled */
	atomic_uint_least64_t	 dup_con;	/* duplicate CON answered
						   from the cache */
	atomic_uint_least64_t	 rst_sent;
	atomic_uint_least64_t	 resp_class[6];	/* responses by class */
	atomic_uint_least64_t	 drops[DROP_REASONS];

	/* pending exchanges (xch.c) */
	atomic_uint_least64_t	 xch_started;
	atomic_uint_least64_t	 xch_busy;	/* max_separate reached */
	atomic_uint_least64_t	 xch_empty_acks;
	atomic_uint_least64_t	 xch_separate;	/* separate responses */
	atomic_uint_least64_t	 xch_retransmits;
	atomic_uint_least64_t	 xch_gave_up;	/* never ACKed */
	atomic_uint_least64_t	 xch_rejected;	/* RST to a separate */
	atomic_uint_least64_t	 xch_cancelled;

	/* DTLS (dtls.c) */
	atomic_uint_least64_t	 dtls_sessions;	/* gauge: sessions held */
	atomic_uint_least64_t	 dtls_handshakes; /* completed */
	atomic_uint_least64_t	 dtls_hvr_sent;	/* HelloVerifyRequests */
	atomic_uint_least64_t	 dtls_handshake_timeouts;
	atomic_uint_least64_t	 dtls_handshake_failures;
	atomic_uint_least64_t	 dtls_evicted;	/* table full */
	atomic_uint_least64_t	 dtls_dropped;	/* records nobody takes */
};

static inline void
metrics_add(atomic_uint_least64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c,
	    memory_order_relaxed) + n, memory_order_relaxed);
}

#define METRIC_INC(c)	metrics_add(&(c), 1)

static inline uint64_t
metrics_get(const atomic_uint_least64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Short lower-case name of a drop reason ("malformed_non" ...). */
const char *drop_reason_str(enum drop_reason r);

#endif /* COAPD_METRICS_H */
