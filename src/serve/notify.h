/*
 * notify.h - Observe (RFC 7641) in a worker's CoAP engine: registration
 * and deregistration on GET, notifications when a watched file changes,
 * ACK/RST of notifications, retransmission of confirmable ones.  The
 * bookkeeping is observe.c's (pure); this module builds the messages with
 * the route's handler and sends them through the engine's emit hook:
 * notify.c, and notify_late.c for hook and backend routes.
 *
 * One per struct dispatch, used from its worker thread only.
 */
#ifndef COAPD_NOTIFY_H
#define COAPD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/observe.h"

struct cfg_route;
struct coap_msg;
struct coap_resp;
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

/*
 * Observe on hook routes.  A hook's answer comes later, through an
 * exchange (xch.c), so a registration is completed when the answer is:
 * the exchange carries what the observer needs.  A notification is a run
 * of the hook for all the observers of one path on this worker, whose
 * answer goes to each of them (unless unchanged: code and ETag).
 * Observers of hook routes name their resource by observe_path_hash()
 * of the request path alone.
 */
struct notify_reg {
	bool		 internal;	/* a run for the observers of path,
					   not a client's request */
	bool		 relay;		/* a backend route: its answers
					   keep their own ETag */
	char		 path[OBSERVE_PATH_MAX];
	size_t		 path_len;
	bool		 has_block;
	uint8_t		 szx;
	bool		 has_psk_id;
	char		 psk_id[OBSERVE_PSK_ID_MAX + 1];
};

/*
 * The GET m on hook route rt from p went pending (d->xlast): Observe 1
 * deregisters now, Observe 0 marks the exchange to register p when its
 * answer is made.
 */
void	notify_pending(struct dispatch *d, const struct dispatch_peer *p,
	    const struct coap_msg *m, const struct cfg_route *rt);

/*
 * The answer resp to a registering exchange (reg) is about to be sent
 * to the peer (addr, sock, token): register it and add Observe to resp
 * when the answer is observable.
 */
void	notify_register_late(struct dispatch *d, const struct notify_reg *reg,
	    const struct sockaddr *addr, socklen_t addrlen, unsigned sock,
	    const uint8_t *token, uint8_t tkl, struct coap_resp *resp,
	    uint64_t now_ns);

/* An internal run (reg->internal) answered resp: tell its observers. */
void	notify_hook_done(struct dispatch *d, const struct notify_reg *reg,
	    const struct coap_resp *resp, uint64_t now_ns);

/*
 * Observe on backend routes (h_backend.c): coapd observes the backend
 * once per path on this worker; a registration completes like a hook's
 * (notify_pending(), notify_register_late()), and each notification the
 * backend sends is resp, relayed to every observer of path even when
 * unchanged (last: the backend ended the observation, or it failed; the
 * observers get resp without Observe and are removed).  Returns the
 * observers of path left.
 */
unsigned notify_relay(struct dispatch *d, const char *path, size_t path_len,
	    const struct coap_resp *resp, bool last, uint64_t now_ns);

/* Observers of path on this worker (not counting ending ones). */
unsigned notify_count(const struct dispatch *d, const char *path,
	    size_t path_len);

/* Files in c changed: notify their observers of the new state. */
void	notify_changed(struct dispatch *d, const struct fchange *c,
	    uint64_t now_ns);

/* Retransmit confirmable notifications; drop observers that time out. */
void	notify_sweep(struct dispatch *d, uint64_t now_ns);

#endif /* COAPD_NOTIFY_H */
