/*
 * dispatch.c - message and request layer of one worker.  See dispatch.h.
 */
#include <errno.h>
#include <string.h>

#include "proto/acl.h"
#include "proto/block.h"
#include "base/clock.h"
#include "serve/dispatch.h"
#include "proto/exchange.h"
#include "serve/handler.h"
#include "proto/linkfmt.h"
#include "serve/notify.h"
#include "proto/route.h"
#include "serve/xch.h"

#define WELLKNOWN	"/.well-known/core"

int
dispatch_init(struct dispatch *d, struct cfg *c, struct metrics *m,
    const struct h_env *env, const struct h_svc *svc, uint32_t seed)
{
	const struct handler_ops	*ops;
	int				 k;

	memset(d, 0, sizeof(*d));
	d->cfg = c;
	d->m = m;
	d->env = env;
	d->next_mid = (uint16_t)seed;
	d->xnext_ns = UINT64_MAX;
	d->xc = exchange_cache_new(c->dedup_entries,
	    (uint64_t)c->exchange_lifetime_s * NS_PER_SEC);
	if (d->xc == NULL)
		return -ENOMEM;
	for (k = 0; k < HANDLER_KINDS; k++)
		if ((ops = handler_for(env, (unsigned)k)) != NULL &&
		    ops->worker_init != NULL)
			d->hstate[k] = ops->worker_init(c, env, svc);
	notify_init(d, seed);
	return 0;
}

void
dispatch_set_emit(struct dispatch *d, dispatch_emit_fn *fn, void *arg)
{
	d->emit = fn;
	d->emit_arg = arg;
}

void
dispatch_set_cfg(struct dispatch *d, struct cfg *c)
{
	d->cfg = c;
	notify_set_cfg(d);
}

void
dispatch_fini(struct dispatch *d)
{
	const struct handler_ops	*ops;
	int				 k;

	/* handlers hear of their pending exchanges before they go away */
	xch_fini(d);
	notify_fini(d);
	for (k = 0; k < HANDLER_KINDS; k++)
		if ((ops = handler_for(d->env, (unsigned)k)) != NULL &&
		    ops->worker_fini != NULL && d->hstate[k] != NULL)
			ops->worker_fini(d->hstate[k]);
	exchange_cache_free(d->xc);
	d->xc = NULL;
}

void
dispatch_sweep(struct dispatch *d, uint64_t now_ns)
{
	const struct handler_ops	*ops;
	int				 k;

	for (k = 0; k < HANDLER_KINDS; k++)
		if ((ops = handler_for(d->env, (unsigned)k)) != NULL &&
		    ops->sweep != NULL && d->hstate[k] != NULL)
			ops->sweep(d->hstate[k], now_ns);
	notify_sweep(d, now_ns);
	/* gauges: sampled here, so the hot path keeps no count of them */
	metrics_set(&d->m->observers, d->obs.n);
	metrics_set(&d->m->hooks_running,
	    xch_count_ops(d, handler_for(d->env, ROUTE_HOOK)));
	metrics_set(&d->m->backend_pending,
	    xch_count_ops(d, handler_for(d->env, ROUTE_BACKEND)));
}

uint64_t
dispatch_timers(struct dispatch *d, uint64_t now_ns)
{
	xch_timers(d, now_ns);
	return xch_next_ns(d);
}

void
dispatch_files_changed(struct dispatch *d, const struct fchange *c,
    uint64_t now_ns)
{
	notify_changed(d, c, now_ns);
}

static size_t
drop(struct dispatch *d, enum drop_reason r)
{
	METRIC_INC(d->m->drops[r]);
	return 0;
}

/* RFC 7252 §4.2: RST carries the MID of the message it rejects. */
static size_t
send_rst(struct dispatch *d, uint16_t mid, uint8_t *out, size_t cap)
{
	struct coap_enc	 e;
	ssize_t		 n;

	coap_enc_init(&e, out, cap, COAP_TYPE_RST, COAP_EMPTY, mid, NULL, 0);
	if ((n = coap_enc_finish(&e)) < 0)
		return 0;
	METRIC_INC(d->m->rst_sent);
	return (size_t)n;
}

static void
resp_error(struct coap_resp *r, uint8_t code)
{
	coap_resp_reset(r, code);
}

/* /.well-known/core (RFC 6690 §4), generated from the routes. */
static void
wellknown(struct dispatch *d, const struct coap_msg *m, struct coap_resp *r)
{
	const struct coap_opt	*acc;
	uint32_t		 ct;
	ssize_t			 n;

	if (m->code != COAP_GET) {
		resp_error(r, COAP_METHOD_NOT_ALLOWED);
		return;
	}
	if ((acc = coap_msg_opt(m, COAP_OPT_ACCEPT)) != NULL &&
	    (coap_opt_uint(acc, &ct) != 0 || ct != COAP_CT_LINK_FORMAT)) {
		resp_error(r, COAP_NOT_ACCEPTABLE);
		return;
	}
	/*
	 * Rendered whole on every request and sliced with Block2 (RFC 7959):
	 * the document only changes on reload, and the endpoint is rare.
	 */
	n = linkfmt_wellknown(d->cfg->links, d->cfg->nlinks, m, d->doc, sizeof(d->doc));
	if (n < 0 || block2_respond(r, m, (const uint8_t *)d->doc, (size_t)n,
	    BLOCK_SZX_MAX) != 0) {
		resp_error(r, COAP_INTERNAL_SERVER_ERROR);
		return;
	}
	if (r->code == COAP_CONTENT)
		coap_resp_opt_uint(r, COAP_OPT_CONTENT_FORMAT,
		    COAP_CT_LINK_FORMAT);
}

enum coap_code
dispatch_prepare(struct dispatch *d, const struct dispatch_peer *p,
    const struct coap_msg *m, const struct cfg_route *rt, size_t path_len,
    const char *rest, uint64_t now_ns, struct h_req *req,
    const struct handler_ops **ops)
{
	/* The route's `allow` (acl.h), before anything else is revealed. */
	switch (acl_check(rt->acl, p->psk_identity, p->addr, p->addrlen)) {
	case ACL_ALLOW:
		break;
	case ACL_UNAUTHORIZED:
		return COAP_UNAUTHORIZED;
	case ACL_FORBIDDEN:
		return COAP_FORBIDDEN;
	}
	if ((*ops = handler_for(d->env, rt->kind)) == NULL)
		return COAP_NOT_IMPLEMENTED;
	memset(req, 0, sizeof(*req));
	req->msg = m;
	req->cfg = d->cfg;
	req->route = rt;
	req->path = d->path;
	req->path_len = path_len;
	req->rest = rest;
	req->caps = d->caps;
	req->ncaps = d->ncaps;
	req->peer = p->addr;
	req->peerlen = p->addrlen;
	req->psk_identity = p->psk_identity;
	req->scope = p->scope;
	req->now_ns = now_ns;
	req->hstate = d->hstate[rt->kind];
	req->engine = d;
	req->from = p;
	return COAP_EMPTY;
}

/* Route, check and run a request; fills d->resp.  Returns H_* or error. */
static int
request(struct dispatch *d, const struct dispatch_peer *p,
    const struct coap_msg *m, uint64_t now_ns)
{
	struct coap_resp		*r = &d->resp;
	const struct handler_ops	*ops;
	const struct cfg_route		*rt;
	struct h_req			 req;
	const char			*rest;
	enum coap_code			 code;
	ssize_t				 plen;
	int				 s;

	coap_resp_init(r, d->payload, sizeof(d->payload));
	d->cur_slot = 0;
	/* RFC 7252 §5.4.1: unrecognized critical option in a CON → 4.02. */
	if (coap_msg_unknown_critical(m) != 0) {
		resp_error(r, COAP_BAD_OPTION);
		return H_DONE;
	}
	/* §5.7.2: we are no proxy. */
	if (coap_msg_opt(m, COAP_OPT_PROXY_URI) != NULL ||
	    coap_msg_opt(m, COAP_OPT_PROXY_SCHEME) != NULL) {
		resp_error(r, COAP_PROXYING_NOT_SUPPORTED);
		return H_DONE;
	}
	plen = coap_msg_uri_path(m, d->path, sizeof(d->path));
	if (plen < 0) {
		/* "." / ".." or a '/' inside a segment names nothing. */
		resp_error(r, COAP_NOT_FOUND);
		return H_DONE;
	}
	rt = route_match_caps(d->cfg->table, d->path, (size_t)plen, &rest,
	    d->caps, &d->ncaps);
	/*
	 * /.well-known/core is generated unless a route names exactly that
	 * path: a catch-all route at "/" must not hide it (RFC 6690 §4).
	 */
	if ((size_t)plen == sizeof(WELLKNOWN) - 1 &&
	    memcmp(d->path, WELLKNOWN, (size_t)plen) == 0 &&
	    (rt == NULL || rt->path_len != (size_t)plen)) {
		wellknown(d, m, r);
		return H_DONE;
	}
	if (rt == NULL) {
		resp_error(r, COAP_NOT_FOUND);
		return H_DONE;
	}
	if ((d->cur_slot = rt->stats_slot) >= METRICS_ROUTE_SLOTS)
		d->cur_slot = 0;
	METRIC_INC(d->m->route[d->cur_slot].requests);
	code = dispatch_prepare(d, p, m, rt, (size_t)plen, rest, now_ns,
	    &req, &ops);
	if (code != COAP_EMPTY) {
		resp_error(r, code);
		return H_DONE;
	}
	/* §5.8: unknown or unsupported method → 4.05. */
	if (m->code > 31 || !(rt->methods & ROUTE_METHOD(m->code))) {
		resp_error(r, COAP_METHOD_NOT_ALLOWED);
		return H_DONE;
	}
	d->xlast = NULL;
	d->cur_ops = ops;
	s = ops->start(&req, r);
	/* RFC 7641: Observe registration on the answer just made. */
	if (s == H_DONE)
		notify_request(d, p, m, rt, rest, now_ns);
	else if (s == H_PENDING)
		notify_pending(d, p, m, rt);
	/* a handler that says "later" without an exchange has failed */
	if (s < 0 || (s == H_PENDING && d->xlast == NULL)) {
		resp_error(r, COAP_INTERNAL_SERVER_ERROR);
		return H_DONE;
	}
	return s;
}

/*
 * Parse and screen one datagram. Returns 1 when it is a request that goes
 * on to dedup and dispatch; otherwise 0 with *n the bytes to send.
 */
static int
screen(struct dispatch *d, const struct dispatch_peer *p,
    const uint8_t *in, size_t len, uint64_t now_ns, uint8_t *out, size_t cap,
    size_t *n)
{
	struct coap_msg	*m = &d->msg;

	*n = 0;
	if (coap_msg_parse(m, in, len) != 0) {
		/* §3: unknown version is silently ignored. */
		if (m->perr == COAP_PERR_SHORT || m->perr == COAP_PERR_VERSION)
			*n = drop(d, m->perr == COAP_PERR_VERSION ?
			    DROP_VERSION : DROP_MALFORMED_NON);
		/* §4.2: a malformed CON is rejected with RST; §4.3 NON: drop. */
		else if (m->type == COAP_TYPE_CON)
			*n = send_rst(d, m->mid, out, cap);
		else
			*n = drop(d, DROP_MALFORMED_NON);
		return 0;
	}
	if (m->type == COAP_TYPE_ACK || m->type == COAP_TYPE_RST) {
		/* ACK/RST of a notification (RFC 7641 §4.5) or separate. */
		if (!notify_reply(d, p, m) && !xch_reply(d, p, m, now_ns))
			*n = drop(d, DROP_UNEXPECTED);
		return 0;
	}
	if (m->code == COAP_EMPTY || COAP_CODE_CLASS(m->code) != 0) {
		/*
		 * §4.3: an empty CON ("CoAP ping") is answered with RST, as
		 * is a response or reserved class sent to a server.
		 */
		if (m->type == COAP_TYPE_CON)
			*n = send_rst(d, m->mid, out, cap);
		else
			*n = drop(d, m->code == COAP_EMPTY ?
			    DROP_MALFORMED_NON : DROP_UNEXPECTED);
		return 0;
	}
	return 1;
}

/* §4.5: answer a duplicate within EXCHANGE_LIFETIME. */
static size_t
duplicate(struct dispatch *d, const struct dispatch_peer *p,
    const struct exchange *ex, uint8_t *out, size_t cap)
{
	struct coap_msg	*m = &d->msg;
	size_t		 n;

	if (m->type == COAP_TYPE_NON)
		return drop(d, DROP_DUP_NON);
	/* §4.2: a pending CON's duplicate gets the empty ACK again. */
	if (ex->resp_len == 0 && (n = xch_duplicate(d, p, m, out, cap)) > 0)
		return n;
	if (ex->resp_len == 0 || ex->resp_len > cap)
		return drop(d, DROP_DUP_PENDING);
	/* §4.2: a duplicate CON gets the same ACK, handler not run. */
	METRIC_INC(d->m->dup_con);
	memcpy(out, ex->resp, ex->resp_len);
	return ex->resp_len;
}

/* Encode d->resp: §5.2.1 piggybacked ACK for CON; §5.2.3 NON answers NON. */
static size_t
answer(struct dispatch *d, const struct dispatch_peer *p, uint64_t now_ns,
    uint8_t *out, size_t cap)
{
	struct coap_msg	*m = &d->msg;
	uint8_t		 type;
	uint16_t	 mid;
	ssize_t		 n;

	if (m->type == COAP_TYPE_CON) {
		type = COAP_TYPE_ACK;
		mid = m->mid;
	} else {
		type = COAP_TYPE_NON;
		mid = d->next_mid++;
	}
	n = coap_resp_encode(&d->resp, out, cap, type, mid, m->token, m->tkl);
	if (n < 0) {
		resp_error(&d->resp, COAP_INTERNAL_SERVER_ERROR);
		n = coap_resp_encode(&d->resp, out, cap, type, mid, m->token,
		    m->tkl);
		if (n < 0)
			n = 0;
	}
	METRIC_INC(d->m->resp_class[COAP_CODE_CLASS(d->resp.code) % 6]);
	if (d->cur_slot != 0)
		metrics_route_latency(d->m, d->cur_slot,
		    clock_now_ns() - now_ns);
	exchange_store(d->xc, p->scope, p->addr, p->addrlen, m->mid,
	    now_ns, m->type == COAP_TYPE_CON ? out : NULL,
	    m->type == COAP_TYPE_CON ? (size_t)n : 0);
	return (size_t)n;
}

size_t
dispatch_datagram(struct dispatch *d, const struct dispatch_peer *p,
    const uint8_t *in, size_t len, uint64_t now_ns, uint8_t *out, size_t cap)
{
	struct coap_msg		*m = &d->msg;
	const struct exchange	*ex;
	size_t			 n;

	METRIC_INC(d->m->rx);
	if (!screen(d, p, in, len, now_ns, out, cap, &n))
		return n;
	ex = exchange_lookup(d->xc, p->scope, p->addr, p->addrlen, m->mid,
	    now_ns);
	if (ex != NULL)
		return duplicate(d, p, ex, out, cap);
	if (m->type == COAP_TYPE_NON && coap_msg_unknown_critical(m) != 0) {
		/* §5.4.1: a NON with an unknown critical option is rejected. */
		exchange_store(d->xc, p->scope, p->addr, p->addrlen, m->mid,
		    now_ns, NULL, 0);
		return drop(d, DROP_BAD_NON);
	}
	METRIC_INC(d->m->requests);
	METRIC_INC(d->m->method_requests[metrics_method_index(m->code)]);
	if (request(d, p, m, now_ns) == H_PENDING) {
		/* Answer comes later; remember the MID for duplicates. */
		exchange_store(d->xc, p->scope, p->addr, p->addrlen, m->mid,
		    now_ns, NULL, 0);
		return xch_started(d, out, cap);
	}
	return answer(d, p, now_ns, out, cap);
}
