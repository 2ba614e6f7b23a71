/*
 * dispatch.h - the CoAP engine of one worker: a datagram in, at most one
 * datagram out.  It applies the message layer (RFC 7252 §4: CON/NON, ACK,
 * RST, deduplication) and the request layer (routing, the error contract of
 * design.md) and calls the handlers.  No I/O: the worker moves the bytes,
 * which makes the whole engine testable with byte vectors.
 *
 * One struct dispatch per worker; not thread-safe.
 */
#ifndef COAPD_DISPATCH_H
#define COAPD_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "adapt/cfg.h"
#include "proto/amp.h"
#include "proto/coap_msg.h"
#include "proto/metrics.h"
#include "proto/observe.h"
#include "proto/route.h"
#include "serve/handler.h"
#include "serve/limit.h"

struct exchange_cache;
struct fchange;
struct h_env;
struct h_svc;
struct handler_ops;
struct xch;

#define DISPATCH_DOC_MAX 65536	/* largest /.well-known/core document */

/* Who sent a datagram. */
struct dispatch_peer {
	const struct sockaddr	*addr;
	socklen_t		 addrlen;
	const char		*psk_identity;	/* NULL on plain CoAP */
	unsigned		 sock;		/* the worker's socket index:
						   opaque here, handed back
						   to emit */
	uint64_t		 scope;		/* transport context: socket
						   and DTLS session; state
						   of one scope (cached
						   answers) never serves
						   another */
};

/*
 * Send a message that is not the immediate answer to a datagram (a
 * separate response, an Observe notification, a retransmission) to p.
 * The worker provides it; it encrypts for DTLS peers.  buf is copied.
 */
typedef void dispatch_emit_fn(void *arg, const struct dispatch_peer *p,
	    const uint8_t *buf, size_t len);

struct dispatch {
	struct cfg		*cfg;		/* borrowed: the worker's ref */
	struct exchange_cache	*xc;
	const struct h_env	*env;		/* handler kinds, lent */
	void			*hstate[HANDLER_KINDS];
	uint16_t		 next_mid;	/* for NON responses */
	struct metrics		*m;		/* the worker's counters */
	dispatch_emit_fn	*emit;		/* later messages go here */
	void			*emit_arg;
	struct coap_msg		 msg;		/* scratch, kept off stack */
	struct coap_resp	 resp;
	uint8_t			 payload[COAP_PAYLOAD_MAX];
	char			 path[256];
	const struct cfg_route	*acc_rt;	/* of the request, for the
						   access log */
	struct route_cap	 caps[ROUTE_CAPS_MAX]; /* of the route matched */
	size_t			 ncaps;
	char			 doc[DISPATCH_DOC_MAX]; /* /.well-known/core */
	struct observe_reg	 obs;		/* observers (notify.c) */
	struct amp_table	 amp;		/* amplification guard */
	struct amp_entry	*ape;		/* of the datagram's sender;
						   NULL: not plain CoAP */
	uint32_t		 rnd;		/* retransmission jitter */
	uint8_t			 obs_blk[4];	/* Block2 of a notification */

	/* pending exchanges (xch.c) */
	struct xch		*xlist;
	unsigned		 nx;
	uint64_t		 xnext_ns;	/* xch_timers() due */
	struct xch		*xlast;		/* begun by this request */
	const struct handler_ops *cur_ops;	/* of the running start() */
	unsigned		 cur_slot;	/* route's metrics slot, 0 */
	struct coap_resp	 xresp;		/* filled by the handler */
	uint8_t			 xpayload[COAP_PAYLOAD_MAX];

	struct limit_state	 lim;		/* rate limits, load (limit.c) */
};

/*
 * Prepare d for configuration c (borrowed) with counters m, the
 * handlers' environment env and the worker's event service svc (both
 * borrowed; svc may be NULL where no handler goes asynchronous).  seed
 * seeds the Message ID sequence.  Returns 0 or -ENOMEM.
 */
int	dispatch_init(struct dispatch *d, struct cfg *c, struct metrics *m,
	    const struct h_env *env, const struct h_svc *svc, uint32_t seed);
/* Where messages sent later go (see dispatch_emit_fn). */
void	dispatch_set_emit(struct dispatch *d, dispatch_emit_fn *fn,
	    void *arg);

/* Switch to a new configuration snapshot (after reload). */
void	dispatch_set_cfg(struct dispatch *d, struct cfg *c);
void	dispatch_fini(struct dispatch *d);

/*
 * Handle one datagram in[0..len) from p at now_ns.  Writes the answer into
 * out (cap >= COAP_MAX_MSG) and returns its length, 0 when nothing is to
 * be sent, never a negative value: every problem has an answer or a
 * counted drop.
 */
size_t	dispatch_datagram(struct dispatch *d, const struct dispatch_peer *p,
	    const uint8_t *in, size_t len, uint64_t now_ns, uint8_t *out,
	    size_t cap);

/*
 * The checks every request to route rt passes before its handler runs
 * (access rule, a handler for the kind), and the handler's request in
 * *req (d->path holds the path) with its handler in *ops.  Shared by
 * client requests and Observe notifications, so both see the same rules.
 * Returns COAP_EMPTY to go on, or the code to answer.
 */
enum coap_code dispatch_prepare(struct dispatch *d,
	    const struct dispatch_peer *p, const struct coap_msg *m,
	    const struct cfg_route *rt, size_t path_len, const char *rest,
	    uint64_t now_ns, struct h_req *req,
	    const struct handler_ops **ops);

/*
 * The worker's receive buffer usage (percent) at now_ns: updates
 * the load level (limit.h).  Returns true when the level changed, with
 * its name in *level and the usage it was decided on in *usage_pct (for
 * the worker's log line).
 */
bool	dispatch_load(struct dispatch *d, unsigned io_pct, uint64_t now_ns,
	    const char **level, unsigned *usage_pct);
/*
 * Make r a 4.01 Unauthorized with a fresh Echo value (RFC 9175 §2.4) for
 * the address of e (the amplification guard's entry, amp.h).
 */
void	dispatch_echo_challenge(struct dispatch *d, const struct amp_entry *e,
	    struct coap_resp *r, uint64_t now_ns);

/* Periodic housekeeping of the handlers and of Observe. */
void	dispatch_sweep(struct dispatch *d, uint64_t now_ns);

/*
 * Timers of pending exchanges (empty ACKs, separate responses): run what
 * is due at now_ns, and return when to call again (UINT64_MAX: never).
 */
uint64_t dispatch_timers(struct dispatch *d, uint64_t now_ns);

/*
 * Files changed (the main thread's watcher, fwatch.c): notify their
 * observers through the emit hook.  c is borrowed.
 */
void	dispatch_files_changed(struct dispatch *d, const struct fchange *c,
	    uint64_t now_ns);

#endif /* COAPD_DISPATCH_H */
