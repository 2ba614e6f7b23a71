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
	/* DTLS (dtls.c) */						\
	X(dtls_sessions, GAUGE, "DTLS sessions held")			\
	X(dtls_handshakes, COUNTER, "DTLS handshakes completed")	\
	X(dtls_hello_verify, COUNTER,					\
	    "ClientHellos answered with a HelloVerifyRequest")		\
	X(dtls_handshake_timeouts, COUNTER,				\
	    "DTLS handshakes not completed in time")			\
	X(dtls_handshake_failures, COUNTER, "DTLS handshakes failed")	\
	X(dtls_evicted, COUNTER, "DTLS sessions evicted, table full")	\
	X(dtls_dropped, COUNTER, "DTLS records nobody takes")

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
	X(SEND_FAILED, send_failed, "sendmsg failed")

enum drop_reason {
#define METRICS_X_ENUM(c, name, help)	DROP_##c,
	DROP_REASON_TABLE(METRICS_X_ENUM)
#undef METRICS_X_ENUM
	DROP_REASONS
};

/* Response classes 0..5 (COAP_CODE_CLASS()), named "0" ... "5". */
#define METRICS_RESP_CLASSES	6

/*
 * Arrays of counters: X(field, size, label, element name function, help).
 * Element i is reported as "field_NAME" with NAME = fn(i); label is the
 * key an exporter puts NAME under.
 */
#define METRICS_ARRAYS(X)						\
	X(resp_class, METRICS_RESP_CLASSES, "class", metrics_resp_class_str, \
	    "responses sent, by code class")				\
	X(drops, DROP_REASONS, "reason", drop_reason_str,		\
	    "datagrams dropped without an answer, by reason")

struct metrics {
#define METRICS_X_FIELD(f, type, help)	atomic_uint_least64_t f;
#define METRICS_X_ARRAY(f, n, label, fn, help) atomic_uint_least64_t f[n];
	METRICS_SCALARS(METRICS_X_FIELD)
	METRICS_ARRAYS(METRICS_X_ARRAY)
#undef METRICS_X_FIELD
#undef METRICS_X_ARRAY
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

/* Name of a response class: "0" ... "5", or "unknown". */
const char *metrics_resp_class_str(unsigned c);

#endif /* COAPD_METRICS_H */
