/*
 * notify.c - Observe (RFC 7641) in a worker's engine.  See notify.h.
 *
 * A notification is the answer to a GET of the observed path, made by the
 * route's handler now, exactly as a client's GET would be answered: the
 * same code, ETag, Content-Format and, with Block2, the first block only
 * (RFC 7641 §3.5 with RFC 7959 §3.4: the client fetches the rest).  Nothing
 * is sent when code and ETag equal what the client was last told, so a
 * burst of inotify events, or a hash collision, costs no datagram.
 *
 * The resource an observer of a hook route watches is its path and query:
 * o->path holds the path, then (with a query) a NUL and the Uri-Query
 * options joined by '&', o->path_len counting both.  So observers compare
 * by key (two queries, two resources, one run each), while C-string uses
 * (the file hash a `notify /path` matches, the route) see the path alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/acl.h"
#include "proto/block.h"
#include "base/clock.h"
#include "base/hash.h"
#include "proto/coap_msg.h"
#include "serve/dispatch.h"
#include "proto/fchange.h"
#include "serve/handler.h"
#include "serve/notify.h"
#include "proto/observe.h"
#include "proto/route.h"
#include "serve/xch.h"

/* Hook runs one batch of changes may start on a worker. */
#define NOTIFY_RUNS_MAX	16

/* The path part of an observer's key (see the top of this file). */
static size_t
notify_plen(const char *key, size_t len)
{
	return strnlen(key, len);
}

static uint32_t
notify_rnd(struct dispatch *d)
{
	uint32_t x = d->rnd;

	/* xorshift32: jitter for retransmission timers, not a secret. */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	d->rnd = x != 0 ? x : 0x9e3779b9u;
	return d->rnd;
}

static unsigned
notify_share(const struct cfg *c)
{
	unsigned w = c->workers > 0 ? c->workers : 1;

	/* max_observers is for all workers together; round up. */
	return (c->max_observers + w - 1) / w;
}

void
notify_init(struct dispatch *d, uint32_t seed)
{
	observe_reg_init(&d->obs, notify_share(d->cfg));
	observe_set_per_host(&d->obs,
	    d->cfg->limits.max_observers_per_client);
	d->rnd = seed | 1;
}

void
notify_fini(struct dispatch *d)
{
	observe_reg_fini(&d->obs);
}

void
notify_set_cfg(struct dispatch *d)
{
	observe_set_limit(&d->obs, notify_share(d->cfg));
	observe_set_per_host(&d->obs,
	    d->cfg->limits.max_observers_per_client);
}

static const struct coap_opt *
resp_opt(const struct coap_resp *r, uint16_t num)
{
	unsigned i;

	for (i = 0; i < r->nopts; i++)
		if (r->opts[i].num == num)
			return &r->opts[i];
	return NULL;
}

/* Remember the code and ETag the client was last told. */
static void
notify_note_state(struct observer *o, const struct coap_resp *r)
{
	const struct coap_opt *et = resp_opt(r, COAP_OPT_ETAG);

	o->code = r->code;
	o->etaglen = 0;
	if (et != NULL && et->len <= OBSERVE_ETAG_MAX) {
		memcpy(o->etag, et->val, et->len);
		o->etaglen = (uint8_t)et->len;
	}
}

static bool
notify_same_state(const struct observer *o, const struct coap_resp *r)
{
	const struct coap_opt *et = resp_opt(r, COAP_OPT_ETAG);
	size_t len = et != NULL ? et->len : 0;

	return o->code == r->code && o->etaglen == len &&
	    (len == 0 || memcmp(o->etag, et->val, len) == 0);
}

/* RFC 7641 §3.2, §4.2: only a success keeps (or starts) an observation. */
static bool
notify_code_observable(uint8_t code)
{
	return code == COAP_CONTENT || code == COAP_VALID;
}

void
notify_request(struct dispatch *d, const struct dispatch_peer *p,
    const struct coap_msg *m, const struct cfg_route *rt, const char *rest,
    uint64_t now_ns)
{
	const struct coap_opt *oo;
	struct observer *o;
	struct block_opt b;
	const char *parts[2];
	uint64_t h;
	uint32_t v;
	bool has_block;

	if (m->code != COAP_GET ||
	    (oo = coap_msg_opt(m, COAP_OPT_OBSERVE)) == NULL ||
	    coap_opt_uint(oo, &v) != 0)
		return;
	o = observe_find(&d->obs, p->sock, p->addr, p->addrlen, m->token,
	    m->tkl);
	/* RFC 7641 §3.6: Observe 1 deregisters; the GET is answered. */
	if (v == 1 || !notify_code_observable(d->resp.code)) {
		if (o != NULL)
			observe_remove(&d->obs, o);
		return;
	}
	if (v != 0 || !rt->observe || rt->kind != ROUTE_STATIC)
		return;
	/*
	 * RFC 7959 §3.4: the blocks after the first are fetched without
	 * registering; a GET of a later block with Observe registers
	 * nothing either.
	 */
	has_block = block_opt_get(m, COAP_OPT_BLOCK2, &b) == 0;
	if (has_block && b.num != 0)
		return;
	parts[0] = rt->static_path;
	parts[1] = rest != NULL ? rest : "";
	h = observe_path_hash(parts, rt->static_is_dir ? 2 : 1);
	/*
	 * RFC 7641 §4.4: the first sequence number comes from a clock, so
	 * a re-registration after a restart still looks fresh.
	 */
	o = observe_add(&d->obs, p->addr, p->addrlen, p->sock, m->token,
	    m->tkl, d->path, strlen(d->path), h,
	    (uint32_t)(now_ns >> 20));
	if (o == NULL) {
		/* full, or the client's share: answered without Observe */
		METRIC_INC(d->m->observe_refused);
		return;
	}
	o->has_block = has_block;
	o->szx = has_block ? b.szx : 0;
	/* Kept to check the route's `allow` again at each notification. */
	o->has_psk_id = p->psk_identity != NULL &&
	    strlen(p->psk_identity) <= OBSERVE_PSK_ID_MAX;
	if (o->has_psk_id)
		memcpy(o->psk_id, p->psk_identity,
		    strlen(p->psk_identity) + 1);
	if (coap_resp_opt_uint(&d->resp, COAP_OPT_OBSERVE,
	    observe_next_seq(o)) != 0) {
		observe_remove(&d->obs, o);
		return;
	}
	notify_note_state(o, &d->resp);
	if (o->last_con_ns == 0)
		o->last_con_ns = now_ns;
}

bool
notify_reply(struct dispatch *d, const struct dispatch_peer *p,
    const struct coap_msg *m)
{
	struct observer *o;

	o = observe_by_mid(&d->obs, p->sock, p->addr, p->addrlen, m->mid);
	if (o == NULL)
		return false;
	/*
	 * RFC 7641 §3.6, §4.5: an RST to a notification ends the
	 * observation; an ACK to the last one of an ended observation
	 * (a final error notification) lets it go.
	 */
	if (m->type == COAP_TYPE_RST || o->ending) {
		if (m->type == COAP_TYPE_RST)
			METRIC_INC(d->m->observe_rejected);
		observe_remove(&d->obs, o);
		return true;
	}
	if (o->con_pending && o->con_mid == m->mid)
		observe_acked(o);
	return true;
}

/* The endpoint o registered from, as the engine names senders. */
static void
notify_peer(const struct observer *o, struct dispatch_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->addr = (const struct sockaddr *)&o->peer;
	p->addrlen = o->peerlen;
	p->psk_identity = o->has_psk_id ? o->psk_id : NULL;
	p->sock = o->sock;
	p->scope = o->sock;
}

/* The answer to a GET of o's path, made now in d->resp. */
static void
notify_render(struct dispatch *d, struct observer *o, uint64_t now_ns)
{
	const struct handler_ops *ops = NULL;
	const struct cfg_route *rt;
	struct coap_msg *m = &d->msg;
	struct dispatch_peer p;
	struct h_req req;
	const char *rest = NULL;
	enum coap_code code;
	size_t plen;
	uint32_t v;
	int s;

	coap_resp_init(&d->resp, d->payload, sizeof(d->payload));
	plen = notify_plen(o->path, o->path_len);
	rt = route_match_caps(d->cfg->table, o->path, plen, &rest,
	    d->caps, &d->ncaps);
	if (rt == NULL || !rt->observe) {
		/* Gone with a reload: the resource is no more. */
		d->resp.code = COAP_NOT_FOUND;
		return;
	}
	memset(m, 0, sizeof(*m));
	m->type = COAP_TYPE_CON;
	m->code = COAP_GET;
	memcpy(m->token, o->token, o->tkl);
	m->tkl = o->tkl;
	if (o->has_block) {
		/* The block size the client registered with. */
		v = block_opt_encode(0, false, o->szx);
		d->obs_blk[0] = (uint8_t)v;
		m->opts[0].num = COAP_OPT_BLOCK2;
		m->opts[0].len = v != 0 ? 1 : 0;
		m->opts[0].val = d->obs_blk;
		m->nopts = 1;
	}
	memcpy(d->path, o->path, plen);
	d->path[plen] = '\0';
	/*
	 * The same checks as the client's GET: a reload may have taken its
	 * right away (4.01/4.03).  The scope is the listener's: observers
	 * outlive DTLS sessions (observe.h).
	 */
	notify_peer(o, &p);
	code = dispatch_prepare(d, &p, m, rt, plen, rest, now_ns, &req,
	    &ops);
	if (code != COAP_EMPTY) {
		d->resp.code = code;
		return;
	}
	/* a notification is made now: no exchange may start for it */
	req.engine = NULL;
	req.from = NULL;
	s = ops->start(&req, &d->resp);
	if (s < 0 || s == H_PENDING) {
		coap_resp_init(&d->resp, d->payload, sizeof(d->payload));
		d->resp.code = COAP_INTERNAL_SERVER_ERROR;
	}
}

static void
notify_emit(struct dispatch *d, const struct observer *o, const uint8_t *buf,
    size_t len)
{
	struct dispatch_peer p;

	if (d->emit == NULL)
		return;
	notify_peer(o, &p);
	d->emit(d->emit_arg, &p, buf, len);
}

/* notify_send() flags */
#define NS_FORCE	0x1	/* send even when code and ETag are unchanged */
#define NS_LAST		0x2	/* the observation ends with this one */

/* Send o the answer in d->resp, if it differs from what o was told. */
static void
notify_send(struct dispatch *d, struct observer *o, uint64_t now_ns,
    unsigned flags)
{
	uint8_t buf[COAP_MAX_MSG];
	bool con, last;
	uint16_t mid;
	ssize_t n;

	if (!(flags & NS_FORCE) && notify_same_state(o, &d->resp))
		return;
	/*
	 * RFC 7641 §3.2, §4.2: an error ends the observation; it carries
	 * no Observe option and goes confirmable, so the client surely
	 * hears that it ended (the observer is kept until the ACK).
	 */
	last = (flags & NS_LAST) || !notify_code_observable(d->resp.code);
	if (!last && coap_resp_opt_uint(&d->resp, COAP_OPT_OBSERVE,
	    observe_next_seq(o)) != 0)
		last = true;
	con = last || observe_want_con(o, now_ns,
	    d->cfg->observe_con_every);
	/*
	 * RFC 7641 §4.5.2: a new state replaces the CON in flight and
	 * counts as one of its retransmissions; past MAX_RETRANSMIT nothing
	 * more goes out until the ACK, or the sweep gives the client up.
	 */
	if (con && observe_exhausted(o))
		return;
	mid = d->next_mid++;
	n = coap_resp_encode(&d->resp, buf, sizeof(buf),
	    con ? COAP_TYPE_CON : COAP_TYPE_NON, mid, o->token, o->tkl);
	if (n < 0) {
		observe_remove(&d->obs, o);
		return;
	}
	notify_emit(d, o, buf, (size_t)n);
	notify_note_state(o, &d->resp);
	o->ending = last;
	if (observe_sent(o, mid, con, buf, (size_t)n, now_ns,
	    notify_rnd(d), &d->cfg->coap) != 0)
		observe_remove(&d->obs, o);
}

/* Tell o the current state of its resource, if it changed. */
static void
notify_one(struct dispatch *d, struct observer *o, uint64_t now_ns)
{
	notify_render(d, o, now_ns);
	notify_send(d, o, now_ns, 0);
}

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
	 * this file).  A backend observation is coapd's, one per path, and
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
	    resp_opt(r, COAP_OPT_ETAG) != NULL)
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
 * payload; relayed notifications: flags NS_FORCE and maybe NS_LAST).
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
	    NS_FORCE | (last ? NS_LAST : 0), now_ns);
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

/*
 * Start a run of o's hook route for every observer of o's path.  Returns
 * false when o is no hook observer (notify_one() answers it).
 */
static bool
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

/* The kind of o's route (of the running configuration), 0: none. */
static unsigned
notify_kind(const struct dispatch *d, const struct observer *o)
{
	const struct cfg_route *rt;
	const char *rest;

	rt = route_match(d->cfg->table, o->path,
	    notify_plen(o->path, o->path_len), &rest);
	return rt != NULL && rt->observe ? rt->kind : 0;
}

void
notify_changed(struct dispatch *d, const struct fchange *c, uint64_t now_ns)
{
	static __thread char ran[NOTIFY_RUNS_MAX][OBSERVE_PATH_MAX];
	static __thread size_t ranlen[NOTIFY_RUNS_MAX];
	struct observer *o;
	unsigned i, j, nran = 0;

	/* Backwards: a removal moves the last observer into the hole. */
	for (i = d->obs.n; i-- > 0;) {
		if (i >= d->obs.n)
			continue;	/* a run's answer removed several */
		o = d->obs.v[i];
		if (o->ending || !fchange_has(c, o->fshash))
			continue;
		/* a backend tells its observers itself (h_backend.c) */
		if (notify_kind(d, o) == ROUTE_BACKEND)
			continue;
		if (notify_kind(d, o) != ROUTE_HOOK) {
			notify_one(d, o, now_ns);
			continue;
		}
		/* one hook run per resource, whatever its observers */
		for (j = 0; j < nran && (ranlen[j] != o->path_len ||
		    memcmp(ran[j], o->path, o->path_len) != 0); j++)
			;
		if (j < nran)
			continue;
		if (nran < NOTIFY_RUNS_MAX) {
			memcpy(ran[nran], o->path, o->path_len);
			ranlen[nran++] = o->path_len;
		}
		if (!notify_hook_start(d, o, now_ns))
			notify_one(d, o, now_ns);
	}
}

/*
 * Hook routes with interval_s: one run for the observers of each path
 * that is due, all of them rescheduled from now.
 */
static void
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

void
notify_sweep(struct dispatch *d, uint64_t now_ns)
{
	struct observer *o;
	unsigned i;

	notify_interval(d, now_ns);
	for (i = d->obs.n; i-- > 0;) {
		o = d->obs.v[i];
		switch (observe_due(o, now_ns)) {
		case OBSERVE_RESEND:
			notify_emit(d, o, o->con_buf, o->con_len);
			break;
		case OBSERVE_GIVE_UP:
			/* RFC 7641 §4.5: the client is gone. */
			METRIC_INC(d->m->observe_gave_up);
			observe_remove(&d->obs, o);
			break;
		case OBSERVE_IDLE:
			break;
		}
	}
}
