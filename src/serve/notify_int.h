/*
 * notify_int.h - shared by Observe's two halves: notify.c (the registry of
 * a worker, registration on GET of a static route, ACK/RST, file changes,
 * sending and retransmitting notifications) and notify_late.c (observers
 * of hook and backend routes, whose answers come later through an
 * exchange: registration, runs for observers, fan-out, relay).
 *
 * Worker thread only, like notify.h.
 */
#ifndef COAPD_NOTIFY_INT_H
#define COAPD_NOTIFY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/coap_msg.h"
#include "proto/observe.h"

struct dispatch;
struct dispatch_peer;

/* notify_send() flags */
#define NOTIFY_FORCE	0x1	/* send even when code and ETag are unchanged */
#define NOTIFY_LAST	0x2	/* the observation ends with this one */

/* The path part of an observer's key (see the top of notify.c). */
static inline size_t
notify_plen(const char *key, size_t len)
{
	return strnlen(key, len);
}

/* RFC 7641 §3.2, §4.2: only a success keeps (or starts) an observation. */
static inline bool
notify_code_observable(uint8_t code)
{
	return code == COAP_CONTENT || code == COAP_VALID;
}

/* r's first option num, or NULL. */
const struct coap_opt *notify_resp_opt(const struct coap_resp *r,
	    uint16_t num);

/* Remember the code and ETag the client was last told (r). */
void	notify_note_state(struct observer *o, const struct coap_resp *r);

/* The endpoint o registered from, as the engine names senders, in *p. */
void	notify_peer(const struct observer *o, struct dispatch_peer *p);

/*
 * Send o the answer in d->resp if it differs from what o was told (or
 * flags has NOTIFY_FORCE); an error, or NOTIFY_LAST, ends the observation.
 * o may be removed.
 */
void	notify_send(struct dispatch *d, struct observer *o, uint64_t now_ns,
	    unsigned flags);

/* Tell o its resource's state (the route's answer now), if it changed. */
void	notify_one(struct dispatch *d, struct observer *o, uint64_t now_ns);

/*
 * Start a run of o's hook route for every observer of o's path.  Returns
 * false when o is no hook observer (the caller answers it itself).
 */
bool	notify_hook_start(struct dispatch *d, struct observer *o,
	    uint64_t now_ns);

/*
 * Hook routes with interval_s: one run for the observers of each path
 * that is due, all of them rescheduled from now.
 */
void	notify_interval(struct dispatch *d, uint64_t now_ns);

#endif /* COAPD_NOTIFY_INT_H */
