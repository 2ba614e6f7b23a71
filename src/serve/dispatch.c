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

#define WELLKNOWN	"/.well-known/core"

int
dispatch_init(struct dispatch *d, struct cfg *c, struct metrics *m,
    const struct h_env *env, uint32_t seed)
{
	const struct handler_ops	*ops;
	int				 k;

	memset(d, 0, sizeof(*d));
	d->cfg = c;
	d->m = m;
	d->next_mid = (uint16_t)seed;
	d->xc = exchange_cache_new(c->dedup_entries,
	    (uint64_t)c->exchange_lifetime_s * NS_PER_SEC);
	if (d->xc == NULL)
		return -ENOMEM;
	for (k = 0; k < DISPATCH_KINDS; k++)
		if ((ops = handler_for((enum route_kind)k)) != NULL &&
		    ops->worker_init != NULL)
			d->hstate[k] = ops->worker_init(c, env);
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

	notify_fini(d);
	for (k = 0; k < DISPATCH_KINDS; k++)
		if ((ops = handler_for((enum route_kind)k)) != NULL &&
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

	for (k = 0; k < DISPATCH_KINDS; k++)
		if ((ops = handler_for((enum route_kind)k)) != NULL &&
		    ops->sweep != NULL && d->hstate[k] != NULL)
			ops->sweep(d->hstate[k], now_ns);
	notify_sweep(d, now_ns);
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
	r->code = code;
	r->nopts = 0;
	r->optstore_len = 0;
	r->payload_len = 0;
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
	ssize_t				 plen;
	int				 s;

	coap_resp_init(r, d->payload, sizeof(d->payload));
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
	rt = route_match(d->cfg->table, d->path, (size_t)plen, &rest);
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
	/* The route's `allow` (acl.h), before anything else is revealed. */
	switch (acl_check(rt->acl, p->psk_identity, p->addr, p->addrlen)) {
	case ACL_ALLOW:
		break;
	case ACL_UNAUTHORIZED:
		resp_error(r, COAP_UNAUTHORIZED);
		return H_DONE;
	case ACL_FORBIDDEN:
		resp_error(r, COAP_FORBIDDEN);
		return H_DONE;
	}
	/* §5.8: unknown or unsupported method → 4.05. */
	if (m->code > 31 || !(rt->methods & ROUTE_METHOD(m->code))) {
		resp_error(r, COAP_METHOD_NOT_ALLOWED);
		return H_DONE;
	}
	if ((ops = handler_for(rt->kind)) == NULL) {
		resp_error(r, COAP_NOT_IMPLEMENTED);
		return H_DONE;
	}
	memset(&req, 0, sizeof(req));
	req.msg = m;
	req.cfg = d->cfg;
	req.route = rt;
	req.path = d->path;
	req.path_len = (size_t)plen;
	req.rest = rest;
	req.peer = p->addr;
	req.peerlen = p->addrlen;
	req.psk_identity = p->psk_identity;
	req.scope = p->scope;
	req.now_ns = now_ns;
	req.hstate = (unsigned)rt->kind < DISPATCH_KINDS ?
	    d->hstate[rt->kind] : NULL;
	s = ops->start(&req, r);
	/* RFC 7641: Observe registration on the answer just made. */
	if (s == H_DONE)
		notify_request(d, p, m, rt, rest, now_ns);
	if (s < 0)
		resp_error(r, COAP_INTERNAL_SERVER_ERROR);
	return s < 0 ? H_DONE : s;
}

size_t
dispatch_datagram(struct dispatch *d, const struct dispatch_peer *p,
    const uint8_t *in, size_t len, uint64_t now_ns, uint8_t *out, size_t cap)
{
	struct coap_msg		*m = &d->msg;
	const struct exchange	*ex;
	uint8_t			 type;
	uint16_t		 mid;
	ssize_t			 n;
	int			 s;

	METRIC_INC(d->m->rx);
	if (coap_msg_parse(m, in, len) != 0) {
		/* §3: unknown version is silently ignored. */
		if (m->perr == COAP_PERR_SHORT || m->perr == COAP_PERR_VERSION)
			return drop(d, m->perr == COAP_PERR_VERSION ?
			    DROP_VERSION : DROP_MALFORMED_NON);
		/* §4.2: a malformed CON is rejected with RST; §4.3 NON: drop. */
		if (m->type == COAP_TYPE_CON)
			return send_rst(d, m->mid, out, cap);
		return drop(d, DROP_MALFORMED_NON);
	}
	if (m->type == COAP_TYPE_ACK || m->type == COAP_TYPE_RST) {
		/* ACK/RST of an Observe notification (RFC 7641 §4.5). */
		if (notify_reply(d, p, m))
			return 0;
		return drop(d, DROP_UNEXPECTED);
	}
	if (m->code == COAP_EMPTY) {
		/* §4.3: an empty CON ("CoAP ping") is answered with RST. */
		if (m->type == COAP_TYPE_CON)
			return send_rst(d, m->mid, out, cap);
		return drop(d, DROP_MALFORMED_NON);
	}
	if (COAP_CODE_CLASS(m->code) != 0) {
		/* A response or reserved class sent to a server: reject. */
		if (m->type == COAP_TYPE_CON)
			return send_rst(d, m->mid, out, cap);
		return drop(d, DROP_UNEXPECTED);
	}

	/* §4.5: deduplicate within EXCHANGE_LIFETIME. */
	ex = exchange_lookup(d->xc, p->scope, p->addr, p->addrlen, m->mid,
	    now_ns);
	if (ex != NULL) {
		if (m->type == COAP_TYPE_NON)
			return drop(d, DROP_DUP_NON);
		if (ex->resp_len == 0 || ex->resp_len > cap)
			return drop(d, DROP_DUP_PENDING);
		/* §4.2: a duplicate CON gets the same ACK, handler not run. */
		METRIC_INC(d->m->dup_con);
		memcpy(out, ex->resp, ex->resp_len);
		return ex->resp_len;
	}

	if (m->type == COAP_TYPE_NON && coap_msg_unknown_critical(m) != 0) {
		/* §5.4.1: a NON with an unknown critical option is rejected. */
		exchange_store(d->xc, p->scope, p->addr, p->addrlen, m->mid,
		    now_ns, NULL, 0);
		return drop(d, DROP_BAD_NON);
	}

	METRIC_INC(d->m->requests);
	s = request(d, p, m, now_ns);
	if (s == H_PENDING) {
		/* Answer comes later; remember the MID so retries are quiet. */
		exchange_store(d->xc, p->scope, p->addr, p->addrlen, m->mid,
		    now_ns, NULL, 0);
		return 0;
	}
	/* §5.2.1 piggybacked ACK for CON; §5.2.3 NON answers NON. */
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
	exchange_store(d->xc, p->scope, p->addr, p->addrlen, m->mid,
	    now_ns, m->type == COAP_TYPE_CON ? out : NULL,
	    m->type == COAP_TYPE_CON ? (size_t)n : 0);
	return (size_t)n;
}
