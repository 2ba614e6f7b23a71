/*
 * notify_late.c - Observe (RFC 7641) on hook and backend routes, whose
 * answers come later through an exchange (xch.c).  See notify.h.
 *
 * A registration is completed when the exchange's answer is made
 * (notify_pending() marks it, notify_register_late() adds the observer).
 * A notification of a hook route is one run of the hook for all the
 * observers of a resource (path and query) on this worker, its answer fanned
 * out to each; a backend's notifications are relayed the same way.  The
 * registry, static routes and the sending of notifications are notify.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hash.h"
#include "proto/acl.h"
#include "proto/block.h"
#include "proto/coap_msg.h"
#include "proto/observe.h"
#include "proto/route.h"
#include "serve/dispatch.h"
#include "serve/handler.h"
#include "serve/notify.h"
#include "serve/notify_int.h"
#include "serve/xch.h"

/* Observers of hook routes name their resource by the request path. */
static uint64_t
notify_hook_hash(const char *path)
{
	const char *parts[1] = { path };

	return observe_path_hash(parts, 1);
}

/*
 * key = path, then a NUL and the Uri-Query options joined by '&' when m
 * has any; -E2BIG when it does not fit OBSERVE_PATH_MAX (with its NUL).
 */
static int
notify_key(const struct coap_msg *m, const char *path, char *key,
    size_t *len)
{
	size_t n = strlen(path), i;
	bool first = true;

	memcpy(key, path, n + 1);
	for (i = 0; i < m->nopts; i++) {
		const struct coap_opt *q = &m->opts[i];

		if (q->num != COAP_OPT_URI_QUERY)
			continue;
		/* a NUL in a query would end the key's C string early */
		if (n + 1 + q->len + 1 > OBSERVE_PATH_MAX ||
		    memchr(q->val, '\0', q->len) != NULL)
			return -E2BIG;
		key[n++] = first ? '\0' : '&';
		first = false;
		memcpy(key + n, q->val, q->len);
		n += q->len;
		key[n] = '\0';
	}
	*len = n;
	return 0;
}

void
notify_pending(struct dispatch *d, const struct dispatch_peer *p,
    const struct coap_msg *m, const struct cfg_route *rt)
{
	const struct coap_opt *oo;
	struct notify_reg *reg;
	struct observer *o;
	struct block_opt b;
	uint32_t v;

	if (m->code != COAP_GET ||
	    (oo = coap_msg_opt(m, COAP_OPT_OBSERVE)) == NULL ||
	    coap_opt_uint(oo, &v) != 0)
		return;
	if (v == 1) {
		o = observe_find(&d->obs, p->sock, p->addr, p->addrlen,
		    m->token, m->tkl);
		if (o != NULL)
			observe_remove(&d->obs, o);
		return;
	}
	/*
	 * A hook route's observer is known by path and query (the top of
	 * notify.c).  A backend observation is coapd's, one per path, and
	 * has no query: a GET with one is answered without Observe (RFC 7641
	 * §4.1 allows it) rather than notified with another's output.
	 */
	if (v != 0 || !rt->observe ||
	    (rt->kind != ROUTE_HOOK && rt->kind != ROUTE_BACKEND) ||
	    d->xlast == NULL || strlen(d->path) >= OBSERVE_PATH_MAX ||
	    (rt->kind == ROUTE_BACKEND &&
	    coap_msg_opt(m, COAP_OPT_URI_QUERY) != NULL))
		return;
	b.num = 0;
	if (block_opt_get(m, COAP_OPT_BLOCK2, &b) == 0 && b.num != 0)
		return;		/* RFC 7959 §3.4: later blocks register not */
	if ((reg = calloc(1, sizeof(*reg))) == NULL)
		return;		/* answered without Observe */
	reg->relay = rt->kind == ROUTE_BACKEND;
	if (notify_key(m, d->path, reg->path, &reg->path_len) != 0) {
		free(reg);	/* too long: answered without Observe */
		return;
	}
	reg->has_block = block_opt_get(m, COAP_OPT_BLOCK2, &b) == 0;
	reg->szx = reg->has_block ? b.szx : 0;
	reg->has_psk_id = p->psk_identity != NULL &&
	    strlen(p->psk_identity) <= OBSERVE_PSK_ID_MAX;
	if (reg->has_psk_id)
		memcpy(reg->psk_id, p->psk_identity,
		    strlen(p->psk_identity) + 1);
	xch_set_reg(d->xlast, reg);
}

/*
 * A hook's answer that fits one block has no ETag of its own; an
 * observer tells an unchanged answer by its ETag (notify_same_state()),
 * so give it one made from the payload, as for a Block2 output.
 */
static void
notify_hook_etag(struct coap_resp *r)
{
	uint64_t h;

	if (!notify_code_observable(r->code) ||
	    notify_resp_opt(r, COAP_OPT_ETAG) != NULL)
		return;
	h = hash_fold(fnv1a(FNV1A_INIT, r->payload, r->payload_len));
	(void)coap_resp_opt(r, COAP_OPT_ETAG, &h, sizeof(h));
}

/* When the route of path wants its next run for observers (0: never). */
static uint64_t
notify_next_run(const struct dispatch *d, const char *path, size_t len,
    uint64_t now_ns)
{
	const struct cfg_route *rt;
	const char *rest;

	rt = route_match(d->cfg->table, path, len, &rest);
	if (rt == NULL || rt->kind != ROUTE_HOOK || rt->interval_s == 0)
		return 0;
	return now_ns + (uint64_t)rt->interval_s * NS_PER_SEC;
}

void
notify_register_late(struct dispatch *d, const struct notify_reg *reg,
    const struct sockaddr *addr, socklen_t addrlen, unsigned sock,
    const uint8_t *token, uint8_t tkl, struct coap_resp *resp,
    uint64_t now_ns)
{
	struct observer *o;

	o = observe_find(&d->obs, sock, addr, addrlen, token, tkl);
	if (!notify_code_observable(resp->code)) {
		if (o != NULL)
			observe_remove(&d->obs, o);
		return;
	}
	if (!reg->relay)
		notify_hook_etag(resp);
	o = observe_add(&d->obs, addr, addrlen, sock, token, tkl, reg->path,
	    reg->path_len, notify_hook_hash(reg->path),
	    (uint32_t)(now_ns >> 20));
	if (o == NULL)
		return;
	o->has_block = reg->has_block;
	o->szx = reg->szx;
	o->next_run_ns = notify_next_run(d, reg->path,
	    notify_plen(reg->path, reg->path_len), now_ns);
	o->has_psk_id = reg->has_psk_id;
	if (o->has_psk_id)
		memcpy(o->psk_id, reg->psk_id, sizeof(o->psk_id));
	if (coap_resp_opt_uint(resp, COAP_OPT_OBSERVE,
	    observe_next_seq(o)) != 0) {
		observe_remove(&d->obs, o);
		return;
	}
	notify_note_state(o, resp);
	if (o->last_con_ns == 0)
		o->last_con_ns = now_ns;
}

/* d->resp = a copy of r, its payload in d's own buffer. */
static void
notify_copy_resp(struct dispatch *d, const struct coap_resp *r)
{
	size_t len = r->payload_len < sizeof(d->payload) ? r->payload_len :
	    sizeof(d->payload);

	d->resp = *r;
	d->resp.payload = d->payload;
	d->resp.payload_cap = sizeof(d->payload);
	memcpy(d->payload, r->payload, len);
	d->resp.payload_len = len;
}

/*
 * resp to every observer of path (hook runs: with an ETag of the
 * payload; relayed notifications: flags NOTIFY_FORCE and maybe NOTIFY_LAST).
 */
static void
notify_fan(struct dispatch *d, const char *path, size_t path_len,
    const struct coap_resp *resp, bool hook, unsigned flags,
    uint64_t now_ns)
{
	const struct cfg_route *rt;
	struct observer *o;
	const char *rest;
	unsigned i;

	rt = route_match(d->cfg->table, path, notify_plen(path, path_len),
	    &rest);
	for (i = d->obs.n; i-- > 0;) {
		if (i >= d->obs.n)
			continue;
		o = d->obs.v[i];
		if (o->ending || o->path_len != path_len ||
		    memcmp(o->path, path, path_len) != 0)
			continue;
		notify_copy_resp(d, resp);
		if (hook)
			notify_hook_etag(&d->resp);
		/* a reload may have taken the route, or its right, away */
		if (rt == NULL || !rt->observe)
			coap_resp_reset(&d->resp, COAP_NOT_FOUND);
		else if (acl_check(rt->acl, o->has_psk_id ? o->psk_id : NULL,
		    (const struct sockaddr *)&o->peer, o->peerlen) !=
		    ACL_ALLOW)
			coap_resp_reset(&d->resp, o->has_psk_id ?
			    COAP_FORBIDDEN : COAP_UNAUTHORIZED);
		notify_send(d, o, now_ns, flags);
	}
}

void
notify_hook_done(struct dispatch *d, const struct notify_reg *reg,
    const struct coap_resp *resp, uint64_t now_ns)
{
	notify_fan(d, reg->path, reg->path_len, resp, true, 0, now_ns);
}

unsigned
notify_count(const struct dispatch *d, const char *path, size_t path_len)
{
	const struct observer *o;
	unsigned i, n = 0;

	for (i = 0; i < d->obs.n; i++) {
		o = d->obs.v[i];
		if (!o->ending && o->path_len == path_len &&
		    memcmp(o->path, path, path_len) == 0)
			n++;
	}
	return n;
}

unsigned
notify_relay(struct dispatch *d, const char *path, size_t path_len,
    const struct coap_resp *resp, bool last, uint64_t now_ns)
{
	/* every notification of the backend is news: no ETag of ours */
	notify_fan(d, path, path_len, resp, false,
	    NOTIFY_FORCE | (last ? NOTIFY_LAST : 0), now_ns);
	return notify_count(d, path, path_len);
}

/*
 * The Uri-Query options of a key's query q (len bytes, options joined by
 * '&'), their values in buf (OBSERVE_PATH_MAX bytes) which must outlive m.
 */
static void
notify_query_opts(struct coap_msg *m, const char *q, size_t len, char *buf)
{
	size_t i, start = 0;

	memcpy(buf, q, len);
	for (i = 0; i <= len && m->nopts < COAP_MAX_OPTIONS; i++) {
		if (i < len && buf[i] != '&')
			continue;
		m->opts[m->nopts].num = COAP_OPT_URI_QUERY;
		m->opts[m->nopts].val = (const uint8_t *)buf + start;
		m->opts[m->nopts].len = (uint16_t)(i - start);
		m->nopts++;
		start = i + 1;
	}
}

bool
notify_hook_start(struct dispatch *d, struct observer *o, uint64_t now_ns)
{
	const struct handler_ops *ops = NULL;
	const struct cfg_route *rt;
	struct coap_msg *m = &d->msg;
	struct notify_reg *reg;
	struct dispatch_peer p;
	struct h_req req;
	const char *rest = NULL;
	char query[OBSERVE_PATH_MAX];
	size_t plen = notify_plen(o->path, o->path_len);
	int s;

	rt = route_match_caps(d->cfg->table, o->path, plen, &rest,
	    d->caps, &d->ncaps);
	if (rt == NULL || !rt->observe || rt->kind != ROUTE_HOOK)
		return false;
	memset(m, 0, sizeof(*m));
	m->type = COAP_TYPE_NON;
	m->code = COAP_GET;
	memcpy(d->path, o->path, plen);
	d->path[plen] = '\0';
	if (plen < o->path_len)
		notify_query_opts(m, o->path + plen + 1,
		    o->path_len - plen - 1, query);
	/* the peer for the route's checks; the run gets none (h_hook.c) */
	notify_peer(o, &p);
	if (dispatch_prepare(d, &p, m, rt, plen, rest, now_ns, &req,
	    &ops) != COAP_EMPTY || (reg = calloc(1, sizeof(*reg))) == NULL)
		return false;
	req.peer = NULL;
	req.peerlen = 0;
	req.psk_identity = NULL;
	reg->internal = true;
	memcpy(reg->path, o->path, o->path_len + 1);
	reg->path_len = o->path_len;
	coap_resp_init(&d->resp, d->payload, sizeof(d->payload));
	d->xlast = NULL;
	d->cur_ops = ops;
	d->cur_slot = 0;
	s = ops->start(&req, &d->resp);
	if (s == H_PENDING && d->xlast != NULL) {
		xch_set_reg(d->xlast, reg);
		d->xlast = NULL;
		return true;
	}
	d->xlast = NULL;
	/* answered at once (busy, ...): the same for every observer */
	if (s < 0 || s == H_PENDING)
		coap_resp_reset(&d->resp, COAP_INTERNAL_SERVER_ERROR);
	d->xresp = d->resp;
	memcpy(d->xpayload, d->payload, d->resp.payload_len);
	d->xresp.payload = d->xpayload;
	notify_hook_done(d, reg, &d->xresp, now_ns);
	free(reg);
	return true;
}

void
notify_interval(struct dispatch *d, uint64_t now_ns)
{
	struct observer *o, *p;
	unsigned i, j;
	uint64_t next;

	for (i = d->obs.n; i-- > 0;) {
		if (i >= d->obs.n)
			continue;	/* a run's answer removed several */
		o = d->obs.v[i];
		if (o->next_run_ns == 0 || o->next_run_ns > now_ns || o->ending)
			continue;
		next = notify_next_run(d, o->path,
		    notify_plen(o->path, o->path_len), now_ns);
		for (j = 0; j < d->obs.n; j++) {
			p = d->obs.v[j];
			if (p->path_len == o->path_len &&
			    memcmp(p->path, o->path, o->path_len) == 0)
				p->next_run_ns = next;
		}
		if (next != 0 && !notify_hook_start(d, o, now_ns))
			notify_one(d, o, now_ns);
	}
}
