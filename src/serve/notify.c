/*
 * notify.c - Observe (RFC 7641) in a worker's engine: the registry, the
 * registration on a GET of a static route, ACK and RST of notifications,
 * file changes, and the making, sending and retransmitting of each
 * notification.  Observers of hook and backend routes, whose answers come
 * through an exchange, are notify_late.c's.  See notify.h.
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
#include <string.h>

#include "proto/block.h"
#include "proto/coap_msg.h"
#include "proto/fchange.h"
#include "proto/observe.h"
#include "proto/route.h"
#include "serve/dispatch.h"
#include "serve/handler.h"
#include "serve/notify.h"
#include "serve/notify_int.h"

/* Hook runs one batch of changes may start on a worker. */
#define NOTIFY_RUNS_MAX	16

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

const struct coap_opt *
notify_resp_opt(const struct coap_resp *r, uint16_t num)
{
	unsigned i;

	for (i = 0; i < r->nopts; i++)
		if (r->opts[i].num == num)
			return &r->opts[i];
	return NULL;
}

void
notify_note_state(struct observer *o, const struct coap_resp *r)
{
	const struct coap_opt *et = notify_resp_opt(r, COAP_OPT_ETAG);

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
	const struct coap_opt *et = notify_resp_opt(r, COAP_OPT_ETAG);
	size_t len = et != NULL ? et->len : 0;

	return o->code == r->code && o->etaglen == len &&
	    (len == 0 || memcmp(o->etag, et->val, len) == 0);
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

void
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

void
notify_send(struct dispatch *d, struct observer *o, uint64_t now_ns,
    unsigned flags)
{
	uint8_t buf[COAP_MAX_MSG];
	bool con, last;
	uint16_t mid;
	ssize_t n;

	if (!(flags & NOTIFY_FORCE) && notify_same_state(o, &d->resp))
		return;
	/*
	 * RFC 7641 §3.2, §4.2: an error ends the observation; it carries
	 * no Observe option and goes confirmable, so the client surely
	 * hears that it ended (the observer is kept until the ACK).
	 */
	last = (flags & NOTIFY_LAST) || !notify_code_observable(d->resp.code);
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

void
notify_one(struct dispatch *d, struct observer *o, uint64_t now_ns)
{
	notify_render(d, o, now_ns);
	notify_send(d, o, now_ns, 0);
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
