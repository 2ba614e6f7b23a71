/*
 * xch.h - pending exchanges of one worker's engine: requests whose answer
 * comes later (hooks, backends, slow disks).  The handler side of the API
 * (xch_begin, xch_resp, xch_complete) is in handler.h; this is the
 * engine's side (dispatch.c).
 *
 * RFC 7252 §5.2.2: a CON request not answered within separate_after_ms
 * gets an empty ACK, and the answer then goes out as a separate CON
 * response, retransmitted (§4.2) until ACKed or rejected; a duplicate of
 * the request gets the empty ACK again and never starts the handler
 * twice.  A NON request gets a NON response when ready.  Every exchange
 * holds a reference to the configuration it started on, so a reload
 * never frees a route under it.  Worker thread only.
 */
#ifndef COAPD_XCH_H
#define COAPD_XCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct coap_msg;
struct dispatch;
struct dispatch_peer;
struct handler_ops;
struct notify_reg;
struct xch;

/* Cancel and free every exchange (worker shutdown). */
void	xch_fini(struct dispatch *d);

/*
 * A duplicate m from p of a request whose dedup entry holds no answer:
 * if it is pending, write the empty ACK into out (sending it now when it
 * was not sent yet) and return its length; 0 when it is not pending.
 */
size_t	xch_duplicate(struct dispatch *d, const struct dispatch_peer *p,
	    const struct coap_msg *m, uint8_t *out, size_t cap);

/*
 * An ACK or RST m from p: true when it was for a separate response (or,
 * an RST with a pending request's Message ID, cancels that request).
 */
bool	xch_reply(struct dispatch *d, const struct dispatch_peer *p,
	    const struct coap_msg *m, uint64_t now_ns);

/*
 * The request just started pending: with separate_after_ms 0 a CON is
 * acknowledged at once: the empty ACK goes into out (its length is
 * returned).  Otherwise returns 0.
 */
size_t	xch_started(struct dispatch *d, uint8_t *out, size_t cap);

/* Empty ACKs, retransmissions, lifetimes due at now_ns. */
void	xch_timers(struct dispatch *d, uint64_t now_ns);

/* When xch_timers() must run next (UINT64_MAX: nothing pending). */
uint64_t xch_next_ns(const struct dispatch *d);

/*
 * Observe on a hook route (notify.h): x registers its client when it
 * completes, or (reg->internal) its answer goes to the observers of
 * reg->path.  x owns reg from now on.
 */
void	xch_set_reg(struct xch *x, struct notify_reg *reg);

/* Exchanges still waiting for handler ops (not yet completed). */
unsigned xch_count_ops(const struct dispatch *d,
	    const struct handler_ops *ops);

/* Exchanges held (pending or with a separate response in flight). */
unsigned xch_count(const struct dispatch *d);

#endif /* COAPD_XCH_H */
