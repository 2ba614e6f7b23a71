/*
 * metrics.h - per-worker counters.  Each counter has one writer (its
 * worker); readers in other threads sum them.  Increments are a relaxed
 * load and store, not an atomic read-modify-write: no locked instruction on
 * the hot path, and a reader never sees a torn value.
 *
 * Every counter is declared once, in the tables below: the struct fields,
 * metrics_sum(), metrics_foreach() (the SIGUSR1 report, an exporter) and
 * the names all come from them, so adding a counter is one line.
 */
#ifndef COAPD_METRICS_H
#define COAPD_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/ratelimit.h"

/*
 * Single counters: X(field, type, help).  The field name is the name
 * reported; type is COUNTER (only grows) or GAUGE (goes up and down).
 */
#define METRICS_SCALARS(X)						\
	X(rx, COUNTER, "datagrams received")				\
	X(tx, COUNTER, "datagrams sent")				\
	X(requests, COUNTER, "requests handled")			\
	X(dup_con, COUNTER, "duplicate CON answered from the cache")	\
	X(rst_sent, COUNTER, "RST messages sent")			\
	X(uploads_evicted, COUNTER, "idle uploads ended to make room")	\
	/* pending exchanges (xch.c) */					\
	X(xch_started, COUNTER, "exchanges answered later")		\
	X(xch_busy, COUNTER, "exchanges refused, max_separate reached")	\
	X(xch_empty_acks, COUNTER, "empty ACKs sent for pending requests") \
	X(xch_separate, COUNTER, "separate responses sent")		\
	X(xch_retransmits, COUNTER, "separate responses retransmitted")	\
	X(xch_gave_up, COUNTER, "separate responses never ACKed")	\
	X(xch_rejected, COUNTER, "separate responses answered by RST")	\
	X(xch_cancelled, COUNTER, "pending exchanges cancelled")	\
	/* amplification guard, Echo (amp.c, dispatch.c) */		\
	X(amp_challenges, COUNTER,					\
	    "answers over an unverified address's 3x budget: 4.01 Echo") \
	X(echo_required, COUNTER,					\
	    "writes by net: address refused until Echo: 4.01 Echo")	\
	X(echo_verified, COUNTER, "addresses verified by an Echo value") \
	X(amp_evicted, COUNTER, "amplification guard entries replaced")	\
	/* Observe (notify.c) */					\
	X(observe_gave_up, COUNTER,					\
	    "observers removed, CON notification never ACKed")		\
	X(observe_rejected, COUNTER, "observers removed by RST")	\
	X(observe_refused, COUNTER,					\
	    "registrations answered without Observe (table or client full)") \
	/* DTLS (dtls.c) */						\
	X(dtls_sessions, GAUGE, "DTLS sessions held")			\
	X(dtls_handshakes, COUNTER, "DTLS handshakes completed")	\
	X(dtls_hello_verify, COUNTER,					\
	    "ClientHellos answered with a HelloVerifyRequest")		\
	X(dtls_hello_held, COUNTER,					\
	    "cookieless ClientHellos unanswered: their address's session is live") \
	X(dtls_handshake_timeouts, COUNTER,				\
	    "DTLS handshakes not completed in time")			\
	X(dtls_handshake_failures, COUNTER, "DTLS handshakes failed")	\
	X(dtls_evicted, COUNTER, "DTLS sessions evicted, table full")	\
	X(dtls_handshakes_evicted, COUNTER,				\
	    "half-open DTLS handshakes evicted (budget of all or of a host)") \
	X(dtls_dropped, COUNTER, "DTLS records nobody takes")		\
	X(dtls_records_invalid, COUNTER,				\
	    "DTLS records cut out before decryption (forged, truncated)")	\
	/* rate limits, load shedding, bounded state (ratelimit.h) */	\
	X(rl_clients, GAUGE, "rate limit buckets held")			\
	X(rl_evicted, COUNTER,						\
	    "rate limit buckets evicted, limits.max_clients reached")	\
	X(rl_reaped, COUNTER, "idle rate limit buckets forgotten")	\
	X(dedup_evicted, COUNTER,					\
	    "live dedup entries evicted, dedup_entries reached")	\
	X(uploads_refused, COUNTER,					\
	    "Block1 uploads refused, limits.max_uploads reached")	\
	X(backend_unmatched, COUNTER,					\
	    "backend replies matching no request or observation")	\
	X(uploads_async, COUNTER,					\
	    "uploads committed through the worker's ring")		\
	X(writes_async, COUNTER,					\
	    "Block1 blocks with more to come written through the ring")	\
	X(reads_async, COUNTER,						\
	    "Block2 blocks read through the worker's ring (not cached)") \
	X(load_level, GAUGE, "load level: 0 normal, 1 throttled, 2 shedding") \
	X(shed_503, COUNTER, "new requests answered 5.03, shedding load")	\
	/* gauges sampled by each worker every 100 ms (dispatch_sweep) */ \
	X(observers, GAUGE, "observers registered (RFC 7641)")		\
	X(hooks_running, GAUGE, "hook exchanges waiting for their run")	\
	X(backend_pending, GAUGE, "backend exchanges waiting for an answer")

/*
 * Why a datagram was dropped without an answer: X(CONSTANT, name, help)
 * makes DROP_CONSTANT and drop_reason_str()'s name.
 */
#define DROP_REASON_TABLE(X)						\
	X(MALFORMED_NON, malformed_non, "malformed NON: ignored")	\
	X(VERSION, bad_version, "unknown version: ignored (RFC 7252 §3)") \
	X(DUP_NON, duplicate_non, "duplicate NON")			\
	X(DUP_PENDING, duplicate_pending,				\
	    "duplicate of a request still in progress")		\
	X(BAD_NON, rejected_non, "NON with unknown critical option etc.") \
	X(UNEXPECTED, unexpected, "ACK, RST or NON response nobody waits for") \
	X(TRUNCATED, truncated, "datagram larger than a receive buffer") \
	X(NOBUFS, no_buffers, "kernel had no receive buffer")		\
	X(SEND_FAILED, send_failed, "sendmsg failed")			\
	X(RATE_NON, rate_limited_non,					\
	    "NON over its rate, its one 4.29 this second already sent")	\
	X(SHED_NON, shed_non, "NON dropped while shedding load")	\
	X(DRAINING, draining, "request while stopping (SIGTERM)")	\
	X(AMPLIFICATION, amplification,					\
	    "over an unverified address's 3x budget (amp.h)")

enum drop_reason {
#define METRICS_X_ENUM(c, name, help)	DROP_##c,
	DROP_REASON_TABLE(METRICS_X_ENUM)
#undef METRICS_X_ENUM
	DROP_REASONS
};

/* Response classes 0..5 (COAP_CODE_CLASS()), named "0" ... "5". */
#define METRICS_RESP_CLASSES	6

/* Request methods by code 1..7 (GET ... iPATCH), 0 for any other. */
#define METRICS_METHODS		8

/*
 * Arrays of counters: X(field, size, label, element name function, help).
 * Element i is reported as "field_NAME" with NAME = fn(i); label is the
 * key an exporter puts NAME under.
 */
#define METRICS_ARRAYS(X)						\
	X(resp_class, METRICS_RESP_CLASSES, "class", metrics_resp_class_str, \
	    "responses sent, by code class")				\
	X(drops, DROP_REASONS, "reason", drop_reason_str,		\
	    "datagrams dropped without an answer, by reason")		\
	X(rate_limited, RL_KINDS, "bucket", rl_kind_str,		\
	    "requests over a rate limit, by bucket")			\
	X(load_entered, RL_LEVELS, "level", rl_level_str,		\
	    "load level changes, by level entered")	\
	X(method_requests, METRICS_METHODS, "method", metrics_method_str, \
	    "requests handled, by method")

/*
 * Per route: a request count and a latency histogram (receipt of the
 * request to its answer, separate responses included), in slots the
 * main thread gives each route path (cfg_route.stats_slot) and keeps
 * across reloads, so the counters never go back.  Slot 0 is "not
 * counted": unit tests' routes, and paths past the last slot.
 */
#define METRICS_ROUTE_SLOTS	64
/* Upper bounds of the histogram buckets in µs; a last one is +Inf. */
#define METRICS_LAT_BOUNDS_US	{ 100, 1000, 10000, 100000, 1000000, \
				  10000000 }
#define METRICS_LAT_BUCKETS	7

struct metrics_route {
	atomic_uint_least64_t	 requests;	/* routed to it */
	atomic_uint_least64_t	 lat[METRICS_LAT_BUCKETS]; /* answers, not
						   cumulative */
	atomic_uint_least64_t	 lat_sum_us;
};

struct metrics {
#define METRICS_X_FIELD(f, type, help)	atomic_uint_least64_t f;
#define METRICS_X_ARRAY(f, n, label, fn, help) atomic_uint_least64_t f[n];
	METRICS_SCALARS(METRICS_X_FIELD)
	METRICS_ARRAYS(METRICS_X_ARRAY)
#undef METRICS_X_FIELD
#undef METRICS_X_ARRAY
	struct metrics_route	 route[METRICS_ROUTE_SLOTS];
};

enum metric_type {
	METRIC_COUNTER = 0,
	METRIC_GAUGE,
};

/* One value as metrics_foreach() reports it. */
struct metric_entry {
	const char	*name;		/* unique: "rx", "drops_truncated" */
	const char	*family;	/* the field: "rx", "drops" */
	const char	*label;		/* key of an array ("reason"), or
					   NULL for a single counter */
	const char	*label_value;	/* "truncated", or NULL */
	const char	*help;		/* one line, of the family */
	enum metric_type type;
	uint64_t	 value;
};

typedef void metrics_each_fn(void *arg, const struct metric_entry *e);

static inline void
metrics_add(atomic_uint_least64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c,
	    memory_order_relaxed) + n, memory_order_relaxed);
}

#define METRIC_INC(c)	metrics_add(&(c), 1)

static inline void
metrics_set(atomic_uint_least64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t
metrics_get(const atomic_uint_least64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/*
 * out = the sum of in[0..n), counter by counter (gauges too: the total
 * over the workers).  out is written with relaxed stores and must not be
 * one of in; any thread may call it while the workers run.
 */
void	metrics_sum(struct metrics *out, const struct metrics *const *in,
	    size_t n);

/*
 * Call fn(arg, e) for every value of m, in table order: the single
 * counters, then each array element by element.  e and its strings are
 * valid during the call only.
 */
void	metrics_foreach(const struct metrics *m, metrics_each_fn *fn,
	    void *arg);

/* Number of values metrics_foreach() reports. */
size_t	metrics_count(void);

/*
 * Short lower-case name of r, an enum drop_reason ("malformed_non" ...),
 * or "unknown".  Element name functions of METRICS_ARRAYS all take the
 * index as unsigned.
 */
const char *drop_reason_str(unsigned r);

/* Name of a method index (METRICS_METHODS): "get" ... "ipatch", "other". */
const char *metrics_method_str(unsigned i);

/* Index into method_requests of a request code. */
unsigned metrics_method_index(uint8_t code);

/* One answer of a request to the route in slot (0: none) after ns. */
void	metrics_route_latency(struct metrics *m, unsigned slot, uint64_t ns);

/* Upper bound in µs of latency bucket i (UINT64_MAX for the last). */
uint64_t metrics_lat_bound_us(unsigned i);

/* Name of a response class: "0" ... "5", or "unknown". */
const char *metrics_resp_class_str(unsigned c);

#endif /* COAPD_METRICS_H */
