/*
 * dispatch.c - message and request layer of one worker.  See dispatch.h.
 */
#include <sys/random.h>

#include <errno.h>
#include <string.h>

#include "proto/acl.h"
#include "proto/block.h"
#include "base/clock.h"
#include "serve/access.h"
#include "serve/dispatch.h"
#include "proto/exchange.h"
#include "serve/handler.h"
#include "proto/linkfmt.h"
#include "serve/notify.h"
#include "proto/route.h"
#include "serve/xch.h"

#define WELLKNOWN	"/.well-known/core"
#define REQ_LIMITED	0x100	/* request(): over a route's rate */

/* This worker's share of limits.max_amp_clients (rounded up). */
static size_t
amp_share(const struct cfg *c)
{
	uint32_t	 w = c->workers ? c->workers : 1;

	return (c->limits.max_amp_clients + w - 1) / w;
}

int
dispatch_init(struct dispatch *d, struct cfg *c, struct metrics *m,
    const struct h_env *env, const struct h_svc *svc, uint32_t seed)
{
	const struct handler_ops	*ops;
	uint8_t				 rnd[SIPHASH_KEY_LEN + 8];
	int				 k;

	memset(d, 0, sizeof(*d));
	/* the Echo key (amp.h): random, made here, never leaves memory */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return errno ? -errno : -EIO;
	k = amp_init(&d->amp, amp_share(c), rnd,
	    c->limits.echo_lifetime_s);
	explicit_bzero(rnd, sizeof(rnd));
	if (k != 0)
		return k;
	d->cfg = c;
	d->m = m;
	d->env = env;
	d->next_mid = (uint16_t)seed;
	d->xnext_ns = UINT64_MAX;
	d->xc = exchange_cache_new(c->dedup_entries,
	    (uint64_t)c->exchange_lifetime_s * NS_PER_SEC);
	if (d->xc == NULL) {
		amp_fini(&d->amp);
		return -ENOMEM;
	}
	if (limit_init(d, seed) != 0) {
		exchange_cache_free(d->xc);
		d->xc = NULL;
		amp_fini(&d->amp);
		return -ENOMEM;
	}
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
	amp_set_lifetime(&d->amp, c->limits.echo_lifetime_s);
	/* out of memory: the table keeps its size, and works */
	(void)amp_resize(&d->amp, amp_share(c));
	notify_set_cfg(d);
	limit_set_cfg(d);
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
	limit_fini(d);
	amp_fini(&d->amp);
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
	/* counts stay true without traffic; the cache outlives reloads */
	exchange_expire(d->xc, now_ns);
	atomic_store_explicit(&d->m->dedup_evicted, exchange_evicted(d->xc),
	    memory_order_relaxed);
	limit_sweep(d, now_ns);
	/* gauges: sampled here, so the hot path keeps no count of them */
	metrics_set(&d->m->observers, d->obs.n);
	metrics_set(&d->m->hooks_running,
	    xch_count_ops(d, handler_for(d->env, ROUTE_HOOK)));
	metrics_set(&d->m->backend_pending,
	    xch_count_ops(d, handler_for(d->env, ROUTE_BACKEND)));
}

bool
dispatch_load(struct dispatch *d, unsigned io_pct, uint64_t now_ns,
    const char **level, unsigned *usage_pct)
{
	if (!limit_load(d, io_pct, now_ns, usage_pct))
		return false;
	*level = rl_level_str(limit_level(d));
	return true;
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

/*
 * RFC 9175 §2.4: 4.01 with a fresh Echo value for the sender, which
 * repeats the request with it to show it receives our answers.
 */
void
dispatch_echo_challenge(struct dispatch *d, const struct amp_entry *e,
    struct coap_resp *r, uint64_t now_ns)
{
	uint8_t	 v[AMP_ECHO_LEN];

	coap_resp_reset(r, COAP_UNAUTHORIZED);
	amp_echo_make(&d->amp, e, now_ns, v);
	if (coap_resp_opt(r, COAP_OPT_ECHO, v, sizeof(v)) != 0)
		coap_resp_reset(r, COAP_INTERNAL_SERVER_ERROR);
}

static void
echo_challenge(struct dispatch *d, struct coap_resp *r, uint64_t now_ns)
{
	dispatch_echo_challenge(d, d->ape, r, now_ns);
}

/*
 * Output to the sender of a datagram that is not a new answer (RST, a
 * cached answer, an empty ACK) within its amplification budget, or
 * dropped.
 */
static size_t
guard(struct dispatch *d, size_t n, uint64_t now_ns)
{
	if (n == 0 || d->ape == NULL || amp_tx(d->ape, n, now_ns))
		return n;
	return drop(d, DROP_AMPLIFICATION);
}

/*
 * Whether m asks to observe rt (RFC 7641 §3.1).  Over plain CoAP that
 * needs a verified address: an observation is a stream of datagrams to
 * the address that asked, which a forged request would aim at a victim.
 */
static bool
observe_registers(const struct coap_msg *m, const struct cfg_route *rt)
{
	const struct coap_opt	*o;
	uint32_t		 v;

	return m->code == COAP_GET && rt->observe &&
	    (o = coap_msg_opt(m, COAP_OPT_OBSERVE)) != NULL &&
	    coap_opt_uint(o, &v) == 0 && v == 0;
}

/* Methods that change state (RFC 7252 §5.1, RFC 8132). */
static bool
method_unsafe(uint8_t code)
{
	return code != COAP_GET && code != COAP_FETCH;
}

/* /.well-known/core (RFC 6690 §4), generated from the routes. */
static void
wellknown(struct dispatch *d, const struct dispatch_peer *p,
    const struct coap_msg *m, struct coap_resp *r)
{
	const struct coap_opt	*acc;
	struct linkfmt_who	 who;
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
	/* only the routes this client may use: the others stay unknown */
	who.psk_identity = p->psk_identity;
	who.peer = p->addr;
	who.peerlen = p->addrlen;
	n = linkfmt_wellknown(d->cfg->links, d->cfg->nlinks, m, &who, d->doc,
	    sizeof(d->doc));
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

/*
 * Over plain CoAP a source address can be forged.  An address that has
 * not answered an Echo challenge (RFC 9175 §2.4) first gets one for: a
 * write let in by an `allow` (its net: entry is all that admits it); a
 * write to a hook or backend, whose effect must not happen for a forged
 * sender, nor twice (a large late answer would be challenged after the
 * run, and the client would repeat it); and an Observe registration, a
 * stream of datagrams to that address.
 */
static bool
needs_echo(struct dispatch *d, const struct coap_msg *m,
    const struct cfg_route *rt, uint64_t now_ns)
{
	if (d->ape == NULL || amp_verified(d->ape, now_ns))
		return false;
	if (method_unsafe(m->code) &&
	    (rt->acl != NULL || rt->kind != ROUTE_STATIC))
		return true;
	return observe_registers(m, rt);
}

/* What refuses m before routing, or COAP_EMPTY. */
static enum coap_code
msg_refused(const struct coap_msg *m)
{
	/* RFC 7252 §5.4.1: unrecognized critical option in a CON → 4.02. */
	if (coap_msg_unknown_critical(m) != 0)
		return COAP_BAD_OPTION;
	/* §5.7.2: we are no proxy. */
	if (coap_msg_opt(m, COAP_OPT_PROXY_URI) != NULL ||
	    coap_msg_opt(m, COAP_OPT_PROXY_SCHEME) != NULL)
		return COAP_PROXYING_NOT_SUPPORTED;
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
	d->acc_rt = NULL;
	d->path[0] = '\0';
	d->cur_slot = 0;
	if ((code = msg_refused(m)) != COAP_EMPTY) {
		resp_error(r, code);
		return H_DONE;
	}
	plen = coap_msg_uri_path(m, d->path, sizeof(d->path));
	if (plen < 0) {
		/* "." / ".." or a '/' inside a segment names nothing. */
		d->path[0] = '\0';
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
		wellknown(d, p, m, r);
		return H_DONE;
	}
	if (rt == NULL) {
		resp_error(r, COAP_NOT_FOUND);
		return H_DONE;
	}
	d->acc_rt = rt;
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
	/* a route's own rate, stricter than limits.rate (limit.c) */
	if ((d->lim.wait_ns = limit_route(d, p, rt, now_ns)) != 0)
		return REQ_LIMITED;
	if (needs_echo(d, m, rt, now_ns)) {
		METRIC_INC(d->m->echo_required);
		echo_challenge(d, r, now_ns);
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
	if (d->ape != NULL && n > 0 && !amp_tx(d->ape, (size_t)n, now_ns)) {
		/* over the sender's budget: challenge it, or stay silent */
		METRIC_INC(d->m->amp_challenges);
		echo_challenge(d, &d->resp, now_ns);
		n = coap_resp_encode(&d->resp, out, cap, type, mid, m->token,
		    m->tkl);
		if (n < 0 || !amp_tx(d->ape, (size_t)n, now_ns))
			n = (ssize_t)drop(d, DROP_AMPLIFICATION);
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
	uint64_t		 wait;
	const struct coap_opt	*echo;
	bool			 evicted;
	size_t			 n;
	int			 s;

	METRIC_INC(d->m->rx);
	d->ape = NULL;
	if (p->psk_identity == NULL) {
		/* plain CoAP: the sender may be forged (amp.h) */
		d->ape = amp_rx(&d->amp, p->addr, p->addrlen, len, now_ns,
		    &evicted);
		if (evicted)
			METRIC_INC(d->m->amp_evicted);
	}
	if (!screen(d, p, in, len, now_ns, out, cap, &n))
		return guard(d, n, now_ns);
	if (d->ape != NULL && (echo = coap_msg_opt(m, COAP_OPT_ECHO)) != NULL &&
	    !amp_verified(d->ape, now_ns) &&
	    amp_echo_check(&d->amp, d->ape, echo->val, echo->len, now_ns))
		METRIC_INC(d->m->echo_verified);
	ex = exchange_lookup(d->xc, p->scope, p->addr, p->addrlen, m->mid,
	    now_ns);
	if (ex != NULL)
		return guard(d, duplicate(d, p, ex, out, cap), now_ns);
	if (m->type == COAP_TYPE_NON && coap_msg_unknown_critical(m) != 0) {
		/* §5.4.1: a NON with an unknown critical option is rejected. */
		exchange_store(d->xc, p->scope, p->addr, p->addrlen, m->mid,
		    now_ns, NULL, 0);
		return drop(d, DROP_BAD_NON);
	}
	/* issue 16: shed, then the client's buckets (limit.c) */
	if (limit_shedding(d))
		return limit_shed(d, out, cap);
	if ((wait = limit_client(d, p, now_ns)) != 0)
		return limit_refuse(d, wait, now_ns, out, cap);
	METRIC_INC(d->m->requests);
	METRIC_INC(d->m->method_requests[metrics_method_index(m->code)]);
	s = request(d, p, m, now_ns);
	if (s == REQ_LIMITED)
		return limit_refuse(d, d->lim.wait_ns, now_ns, out, cap);
	if (s == H_PENDING) {
		/* Answer comes later; remember the MID for duplicates. */
		exchange_store(d->xc, p->scope, p->addr, p->addrlen, m->mid,
		    now_ns, NULL, 0);
		return guard(d, xch_started(d, out, cap), now_ns);
	}
	n = answer(d, p, now_ns, out, cap);
	if (d->cfg->log_access)
		access_log(p->addr, p->psk_identity, m->code, d->path,
		    d->acc_rt != NULL ? d->acc_rt->path : NULL, d->resp.code,
		    clock_now_ns() - now_ns);
	return n;
}
