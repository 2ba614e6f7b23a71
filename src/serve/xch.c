/*
 * xch.c - pending exchanges: empty ACK, separate response, retransmission,
 * cancel.  See xch.h and handler.h.
 *
 * Exchanges are allocated one by one: a pending exchange stands for a
 * process spawned or a datagram relayed, which costs far more than a
 * malloc, and the static hot path never gets here.  One allocation holds
 * an exchange and, when log.access is on, the strings its line needs
 * (xch_access_len()), so xch_free() frees it whole.  They sit on a list
 * of at most max_separate; lookups by Message ID scan it, but only for
 * the rare datagrams that reach them (a duplicate whose answer is not
 * cached, an ACK or RST nobody else waits for).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/clock.h"
#include "base/net.h"
#include "proto/coap_msg.h"
#include "proto/exchange.h"
#include "proto/retx.h"
#include "serve/access.h"
#include "serve/dispatch.h"
#include "serve/handler.h"
#include "serve/notify.h"
#include "serve/xch.h"

#define XCH_MAX_DEFAULT	256
#define XCH_BUSY_MAX_AGE 2	/* seconds a client waits after a 5.03 */

struct xch {
	struct xch		*next;
	struct dispatch		*d;
	struct cfg		*cfg;		/* reference: routes stay */
	const struct handler_ops *ops;		/* NULL once completed */
	void			*ctx;		/* the handler's */

	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	unsigned		 sock;
	uint64_t		 scope;
	bool			 plain;		/* plain CoAP: amp.h guards */

	uint8_t			 type;		/* of the request */
	uint8_t			 tkl;
	uint8_t			 token[8];
	uint16_t		 mid;		/* of the request */
	bool			 acked;		/* empty ACK sent */

	uint64_t		 created_ns;
	uint64_t		 ack_at_ns;	/* empty ACK due (CON) */
	unsigned		 slot;		/* route's metrics slot */
	struct notify_reg	*reg;		/* Observe on a hook (notify.h),
						   owned; NULL mostly */

	/* For the access log (log.access), when acc_path is not NULL. */
	uint8_t			 method;
	const char		*route;		/* in cfg, which we hold */
	const char		*acc_path;	/* in acc[]; NULL: no line */
	const char		*acc_id;	/* in acc[]; NULL: no PSK */

	/* The separate response in flight, once completed (CON). */
	bool			 separate;
	uint16_t		 sep_mid;
	struct retx		 retx;
	uint16_t		 resp_len;
	uint8_t			 resp[COAP_MAX_MSG];

	char			 acc[];		/* "path\0[identity\0]" */
};

static unsigned
xch_max(const struct cfg *c)
{
	return c->max_separate > 0 ? c->max_separate : XCH_MAX_DEFAULT;
}

static void
xch_note_deadline(struct dispatch *d, uint64_t at_ns)
{
	if (at_ns < d->xnext_ns)
		d->xnext_ns = at_ns;
}

static void
xch_peer(const struct xch *x, struct dispatch_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->addr = (const struct sockaddr *)&x->peer;
	p->addrlen = x->peerlen;
	p->sock = x->sock;
	p->scope = x->scope;
}

static bool
xch_from(const struct xch *x, const struct dispatch_peer *p)
{
	return x->scope == p->scope && net_addr_same(
	    (const struct sockaddr *)&x->peer, x->peerlen, p->addr,
	    p->addrlen);
}

/*
 * The amplification guard's entry of x's peer over plain CoAP; NULL for
 * DTLS (the handshake proved the address) and when the guard forgot it.
 */
static struct amp_entry *
xch_amp(struct dispatch *d, const struct xch *x)
{
	if (!x->plain)
		return NULL;
	return amp_find(&d->amp, (const struct sockaddr *)&x->peer,
	    x->peerlen);
}

static void
xch_emit(struct dispatch *d, const struct xch *x, const uint8_t *buf,
    size_t len, uint64_t now_ns)
{
	struct dispatch_peer	 p;
	struct amp_entry	*e;

	if (d->emit == NULL || len == 0)
		return;
	/* what goes later to a plain peer counts as what goes at once */
	if (x->plain && ((e = xch_amp(d, x)) == NULL ||
	    !amp_tx(e, len, now_ns))) {
		METRIC_INC(d->m->drops[DROP_AMPLIFICATION]);
		return;
	}
	xch_peer(x, &p);
	d->emit(d->emit_arg, &p, buf, len);
}

/* Unlink and free x; the handler must be done with it. */
static void
xch_free(struct dispatch *d, struct xch *x)
{
	struct xch	**pp;

	for (pp = &d->xlist; *pp != NULL; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	d->nx--;
	cfg_unref(x->cfg);
	free(x->reg);
	free(x);
}

static void
xch_cancel(struct dispatch *d, struct xch *x, enum xch_cancel why)
{
	if (x->ops != NULL && x->ops->cancel != NULL)
		x->ops->cancel(x->ctx, why);
	METRIC_INC(d->m->xch_cancelled);
	xch_free(d, x);
}

/* RFC 7252 §1.2: an empty ACK carries the request's MID, no token. */
static size_t
xch_empty_ack(struct dispatch *d, struct xch *x, uint64_t now_ns,
    uint8_t *out, size_t cap)
{
	struct coap_enc	 e;
	ssize_t		 n;

	coap_enc_init(&e, out, cap, COAP_TYPE_ACK, COAP_EMPTY, x->mid, NULL,
	    0);
	if ((n = coap_enc_finish(&e)) < 0)
		return 0;
	if (!x->acked)
		METRIC_INC(d->m->xch_empty_acks);
	x->acked = true;
	/* a duplicate from now on is answered from the cache */
	exchange_store(d->xc, x->scope, (const struct sockaddr *)&x->peer,
	    x->peerlen, x->mid, now_ns, out, (size_t)n);
	return (size_t)n;
}

/* Bytes of acc[] that the request's access log line will need. */
static size_t
xch_access_len(const struct dispatch *d, const struct h_req *req)
{
	const char	*id = req->from->psk_identity;

	if (!d->cfg->log_access)
		return 0;
	return strlen(d->path) + 1 + (id != NULL ? strlen(id) + 1 : 0);
}

/* Keep what the access log needs once the answer comes, in x->acc. */
static void
xch_access_keep(struct xch *x, const struct h_req *req)
{
	const char	*id = req->from->psk_identity;
	size_t		 plen = strlen(x->d->path) + 1;

	x->method = req->msg->code;
	x->route = req->route != NULL ? req->route->path : NULL;
	memcpy(x->acc, x->d->path, plen);
	x->acc_path = x->acc;
	if (id != NULL) {
		memcpy(x->acc + plen, id, strlen(id) + 1);
		x->acc_id = x->acc + plen;
	}
}

struct xch *
xch_begin(const struct h_req *req, void *ctx)
{
	struct dispatch	*d = req->engine;
	const struct coap_msg *m = req->msg;
	struct xch	*x;

	if (d == NULL || req->from == NULL || d->nx >= xch_max(d->cfg) ||
	    req->from->addrlen > sizeof(x->peer) ||
	    (x = calloc(1, sizeof(*x) + xch_access_len(d, req))) == NULL) {
		if (d != NULL)
			METRIC_INC(d->m->xch_busy);
		return NULL;
	}
	x->d = d;
	x->cfg = cfg_ref(d->cfg);
	x->ops = d->cur_ops;
	x->ctx = ctx;
	memcpy(&x->peer, req->from->addr, req->from->addrlen);
	x->peerlen = req->from->addrlen;
	x->sock = req->from->sock;
	x->scope = req->from->scope;
	x->plain = req->from->psk_identity == NULL;
	x->type = m->type;
	x->tkl = m->tkl;
	memcpy(x->token, m->token, m->tkl);
	x->mid = m->mid;
	x->created_ns = req->now_ns;
	if (d->cfg->log_access)
		xch_access_keep(x, req);
	x->slot = d->cur_slot;
	x->ack_at_ns = req->now_ns +
	    (uint64_t)d->cfg->separate_after_ms * NS_PER_MS;
	x->next = d->xlist;
	d->xlist = x;
	d->nx++;
	d->xlast = x;
	METRIC_INC(d->m->xch_started);
	xch_note_deadline(d, x->type == COAP_TYPE_CON ? x->ack_at_ns :
	    x->created_ns + (uint64_t)x->cfg->exchange_lifetime_s *
	    NS_PER_SEC);
	return x;
}

void
xch_busy(struct coap_resp *resp)
{
	resp->code = COAP_SERVICE_UNAVAILABLE;
	resp->nopts = 0;
	resp->optstore_len = 0;
	resp->payload_len = 0;
	coap_resp_opt_uint(resp, COAP_OPT_MAX_AGE, XCH_BUSY_MAX_AGE);
}

struct coap_resp *
xch_resp(struct xch *x)
{
	struct dispatch	*d = x->d;

	coap_resp_init(&d->xresp, d->xpayload, sizeof(d->xpayload));
	return &d->xresp;
}

size_t
xch_started(struct dispatch *d, uint8_t *out, size_t cap)
{
	struct xch	*x = d->xlast;

	d->xlast = NULL;
	if (x == NULL || x->type != COAP_TYPE_CON ||
	    d->cfg->separate_after_ms > 0)
		return 0;
	return xch_empty_ack(d, x, x->created_ns, out, cap);
}

/* Encode the response for x as the exchange stands; 0 on failure. */
static size_t
xch_encode(struct dispatch *d, struct xch *x, uint8_t *out, size_t cap,
    uint8_t *type)
{
	uint16_t	 mid;
	ssize_t		 n;

	if (x->type == COAP_TYPE_CON && !x->acked) {
		*type = COAP_TYPE_ACK;	/* §5.2.1 piggybacked after all */
		mid = x->mid;
	} else {
		*type = x->type == COAP_TYPE_CON ? COAP_TYPE_CON :
		    COAP_TYPE_NON;
		mid = d->next_mid++;
	}
	x->sep_mid = mid;
	n = coap_resp_encode(&d->xresp, out, cap, *type, mid, x->token,
	    x->tkl);
	if (n < 0) {
		/* the handler's answer does not fit a datagram */
		d->xresp.code = COAP_INTERNAL_SERVER_ERROR;
		d->xresp.nopts = 0;
		d->xresp.optstore_len = 0;
		d->xresp.payload_len = 0;
		n = coap_resp_encode(&d->xresp, out, cap, *type, mid,
		    x->token, x->tkl);
	}
	return n > 0 ? (size_t)n : 0;
}

void
xch_complete(struct xch *x, uint64_t now_ns)
{
	struct dispatch	*d = x->d;
	struct amp_entry *e;
	uint8_t		 type;
	size_t		 n;

	if (x->reg != NULL && x->reg->internal) {
		/* a run for observers: the answer is theirs (notify_late.c) */
		x->ops = NULL;
		notify_hook_done(d, x->reg, &d->xresp, now_ns);
		xch_free(d, x);
		return;
	}
	/*
	 * A registration needs a verified address (dispatch.c challenges an
	 * unverified one first); one that lost its verification or its guard
	 * entry meanwhile gets its answer, but no stream of notifications.
	 */
	if (x->reg != NULL && (!x->plain ||
	    ((e = xch_amp(d, x)) != NULL && amp_verified(e, now_ns))))
		notify_register_late(d, x->reg,
		    (const struct sockaddr *)&x->peer, x->peerlen, x->sock,
		    x->token, x->tkl, &d->xresp, now_ns);
	n = xch_encode(d, x, x->resp, sizeof(x->resp), &type);
	if (n > 0 && (e = xch_amp(d, x)) != NULL && !amp_room(e, n, now_ns)) {
		/* over an unverified peer's budget: challenge it instead */
		METRIC_INC(d->m->amp_challenges);
		dispatch_echo_challenge(d, e, &d->xresp, now_ns);
		n = xch_encode(d, x, x->resp, sizeof(x->resp), &type);
	}
	METRIC_INC(d->m->resp_class[COAP_CODE_CLASS(d->xresp.code) % 6]);
	if (x->acc_path != NULL)
		access_log((const struct sockaddr *)&x->peer, x->acc_id,
		    x->method, x->acc_path, x->route, d->xresp.code,
		    clock_now_ns() - x->created_ns);
	metrics_route_latency(d->m, x->slot, now_ns > x->created_ns ?
	    now_ns - x->created_ns : 0);
	x->ops = NULL;
	x->ctx = NULL;
	xch_emit(d, x, x->resp, n, now_ns);
	if (type == COAP_TYPE_ACK)
		exchange_store(d->xc, x->scope,
		    (const struct sockaddr *)&x->peer, x->peerlen, x->mid,
		    now_ns, x->resp, n);
	if (type != COAP_TYPE_CON || n == 0) {
		xch_free(d, x);
		return;
	}
	/* §5.2.2: the separate response is confirmable; keep it for resends */
	METRIC_INC(d->m->xch_separate);
	x->separate = true;
	x->resp_len = (uint16_t)n;
	d->rnd = d->rnd * 1103515245u + 12345u;
	retx_start(&x->retx, now_ns, d->rnd, &x->cfg->coap);
	xch_note_deadline(d, x->retx.next_ns);
}

static struct xch *
xch_find(struct dispatch *d, const struct dispatch_peer *p, uint16_t mid,
    bool separate)
{
	struct xch	*x;

	/* a run for observers answers no client's message (notify_late.c) */
	for (x = d->xlist; x != NULL; x = x->next)
		if ((x->reg == NULL || !x->reg->internal) &&
		    x->separate == separate &&
		    (separate ? x->sep_mid : x->mid) == mid && xch_from(x, p))
			return x;
	return NULL;
}

size_t
xch_duplicate(struct dispatch *d, const struct dispatch_peer *p,
    const struct coap_msg *m, uint8_t *out, size_t cap)
{
	struct xch	*x;

	if (m->type != COAP_TYPE_CON ||
	    (x = xch_find(d, p, m->mid, false)) == NULL)
		return 0;
	METRIC_INC(d->m->dup_con);
	/* §4.2: the client retransmits, so acknowledge now, not later */
	return xch_empty_ack(d, x, clock_now_ns(), out, cap);
}

bool
xch_reply(struct dispatch *d, const struct dispatch_peer *p,
    const struct coap_msg *m, uint64_t now_ns)
{
	struct xch	*x;

	(void)now_ns;
	if ((x = xch_find(d, p, m->mid, true)) != NULL) {
		/* §4.2 an ACK ends the retransmission; an RST rejects it */
		if (m->type == COAP_TYPE_RST)
			METRIC_INC(d->m->xch_rejected);
		xch_free(d, x);
		return true;
	}
	if (m->type == COAP_TYPE_RST &&
	    (x = xch_find(d, p, m->mid, false)) != NULL) {
		xch_cancel(d, x, XCH_CANCEL_RST);
		return true;
	}
	return false;
}

/* What is due for x at now_ns; returns false when x was freed. */
static bool
xch_due(struct dispatch *d, struct xch *x, uint64_t now_ns)
{
	uint8_t		 buf[COAP_MAX_MSG];
	bool		 give_up;
	size_t		 n;

	if (x->separate) {
		if (!retx_due(&x->retx, now_ns, &give_up))
			return true;
		if (give_up) {
			METRIC_INC(d->m->xch_gave_up);
			xch_free(d, x);
			return false;
		}
		METRIC_INC(d->m->xch_retransmits);
		xch_emit(d, x, x->resp, x->resp_len, now_ns);
		return true;
	}
	if (now_ns >= x->created_ns +
	    (uint64_t)x->cfg->exchange_lifetime_s * NS_PER_SEC) {
		xch_cancel(d, x, XCH_CANCEL_LIFETIME);
		return false;
	}
	if (x->type == COAP_TYPE_CON && !x->acked && now_ns >= x->ack_at_ns &&
	    (n = xch_empty_ack(d, x, now_ns, buf, sizeof(buf))) > 0)
		xch_emit(d, x, buf, n, now_ns);
	return true;
}

static uint64_t
xch_deadline(const struct xch *x)
{
	if (x->separate)
		return x->retx.next_ns;
	if (x->type == COAP_TYPE_CON && !x->acked)
		return x->ack_at_ns;
	return x->created_ns + (uint64_t)x->cfg->exchange_lifetime_s *
	    NS_PER_SEC;
}

void
xch_timers(struct dispatch *d, uint64_t now_ns)
{
	struct xch	*x, *next;
	uint64_t	 at, min = UINT64_MAX;

	if (now_ns < d->xnext_ns)
		return;
	for (x = d->xlist; x != NULL; x = next) {
		next = x->next;
		if (!xch_due(d, x, now_ns))
			continue;
		if ((at = xch_deadline(x)) < min)
			min = at;
	}
	d->xnext_ns = min;
}

uint64_t
xch_next_ns(const struct dispatch *d)
{
	return d->xnext_ns;
}

unsigned
xch_count(const struct dispatch *d)
{
	return d->nx;
}

void
xch_fini(struct dispatch *d)
{
	while (d->xlist != NULL)
		xch_cancel(d, d->xlist, XCH_CANCEL_SHUTDOWN);
}

void
xch_set_reg(struct xch *x, struct notify_reg *reg)
{
	free(x->reg);
	x->reg = reg;
}

unsigned
xch_count_ops(const struct dispatch *d, const struct handler_ops *ops)
{
	const struct xch	*x;
	unsigned		 n = 0;

	if (ops == NULL)
		return 0;
	for (x = d->xlist; x != NULL; x = x->next)
		if (x->ops == ops)
			n++;
	return n;
}
