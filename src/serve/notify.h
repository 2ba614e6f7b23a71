/*
 * notify.h - Observe (RFC 7641) in a worker's CoAP engine: registration
 * and deregistration on GET, notifications when a watched file changes,
 * ACK/RST of notifications, retransmission of confirmable ones.  The
 * bookkeeping is observe.c's (pure); this module builds the messages with
 * the route's handler and sends them through the engine's emit hook.
 *
 * One per struct dispatch, used from its worker thread only.
 */
#ifndef COAPD_NOTIFY_H
#define COAPD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct cfg_route;
struct coap_msg;
struct dispatch;
struct dispatch_peer;
struct fchange;

/* Set up d's registry for d->cfg (its share of max_observers). */
void	notify_init(struct dispatch *d, uint32_t seed);
/* Drop every observer (no message is sent). */
void	notify_fini(struct dispatch *d);
/* d->cfg changed: apply the new max_observers share. */
void	notify_set_cfg(struct dispatch *d);

/*
 * A GET m on route rt (rest beneath it) from p was answered in d->resp:
 * Observe 0 registers p and adds the Observe option to the answer (unless
 * the route does not observe, the answer is no 2.05/2.03, or the
 * registry is full: the GET is then answered without Observe, RFC 7641
 * §4.1); Observe 1 deregisters.
 */
void	notify_request(struct dispatch *d, const struct dispatch_peer *p,
	    const struct coap_msg *m, const struct cfg_route *rt,
	    const char *rest, uint64_t now_ns);

/*
 * An ACK or RST m from p.  Returns true when it answered a notification
 * (an RST ends the observation, RFC 7641 §3.6), false when nobody waits
 * for it.
 */
bool	notify_reply(struct dispatch *d, const struct dispatch_peer *p,
	    const struct coap_msg *m);

/* Files in c changed: notify their observers of the new state. */
void	notify_changed(struct dispatch *d, const struct fchange *c,
	    uint64_t now_ns);

/* Retransmit confirmable notifications; drop observers that time out. */
void	notify_sweep(struct dispatch *d, uint64_t now_ns);

#endif /* COAPD_NOTIFY_H */
