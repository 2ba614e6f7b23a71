/*
 * h_backend_obs.c - Observe through backend routes (RFC 7641); see
 * h_backend.c for the forwarding.
 *
 * Observe (routes with observe = true): coapd observes each path once
 * per worker (struct bk_obs), with a token of its own.  The first
 * client's GET with Observe 0 is forwarded with Observe 0 and registers
 * that client when the answer comes (notify_register_late(), as on hook
 * routes); later clients' GETs go upstream without Observe (a fetch of
 * the current state) and register on their answer while the path is
 * observed.  Each notification of the backend (CON ones ACKed) goes to
 * every observer of the path (notify_relay()), numbered by coapd.  When
 * no observer is left (RST, failed CON, Observe 1, eviction, a reload),
 * the next check (at most a second later) sends the backend a GET with
 * Observe 1 and the same token, and any later notification of that
 * token is answered with RST.  Max-Age (60 s when absent) + 2 s after
 * the last notification coapd registers again (RFC 7641 §3.3.1), so a
 * restarted backend is noticed: an error, or no answer in timeout_s,
 * ends every observation of the path with 5.02 / 5.04 without Observe.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "proto/coap_msg.h"
#include "proto/fwd.h"
#include "proto/observe.h"
#include "serve/dispatch.h"
#include "serve/h_backend_int.h"
#include "serve/handler.h"
#include "serve/notify.h"
#include "serve/xch.h"

static void	on_max_age(void *arg, uint64_t now_ns);

static struct bk_obs *
obs_find(struct bk_worker *bw, const struct cfg_route *rt, const char *path,
    size_t len)
{
	struct bk_obs	*o;

	for (o = bw->obs; o != NULL; o = o->next)
		if (o->path_len == len && memcmp(o->path, path, len) == 0 &&
		    strcmp(o->route->backend, rt->backend) == 0)
			return o;
	return NULL;
}

struct bk_obs *
bk_obs_by_token(struct bk_worker *bw, int ci, const struct coap_msg *m)
{
	struct bk_obs	*o;

	for (o = bw->obs; o != NULL; o = o->next)
		if (o->conn == ci && m->tkl == BK_TOKEN_LEN &&
		    memcmp(m->token, o->token, BK_TOKEN_LEN) == 0)
			return o;
	return NULL;
}

void
bk_obs_free(struct bk_worker *bw, struct bk_obs *o)
{
	struct bk_obs	**oo;
	struct bk_pend	*p;

	for (oo = &bw->obs; *oo != NULL; oo = &(*oo)->next)
		if (*oo == o) {
			*oo = o->next;
			break;
		}
	/* its registration and joiners go on, without Observe */
	for (p = bw->pend; p != NULL; p = p->next)
		if (p->obs == o)
			p->obs = NULL;
	if (o->timer >= 0)
		bw->svc->untimer(bw->svc->svc, o->timer);
	cfg_unref(o->cfg);
	free(o);
}

/* The registration again with Observe v (0 again, 1 deregisters). */
static int
obs_send(struct bk_worker *bw, struct bk_obs *o, uint16_t mid, uint32_t v,
    uint8_t *out, size_t cap, size_t *len)
{
	ssize_t		 n;

	n = fwd_reobserve(out, cap, o->msg, o->len, mid, v);
	if (n < 0)
		return (int)n;
	*len = (size_t)n;
	return bk_conn_send(bw, o->conn, out, *len);
}

/* o ends: its token stays known for a while (bk_obs_ended()). */
static void
obs_remember_ended(struct bk_worker *bw, const struct bk_obs *o,
    uint64_t now_ns)
{
	struct bk_ended	*e = &bw->ended[bw->ended_next];

	bw->ended_next = (bw->ended_next + 1) % BK_ENDED_MAX;
	e->conn = o->conn;
	memcpy(e->token, o->token, BK_TOKEN_LEN);
	e->until_ns = now_ns + BK_ENDED_NS;
}

bool
bk_obs_ended(const struct bk_worker *bw, int ci, const struct coap_msg *m,
    uint64_t now_ns)
{
	const struct bk_ended	*e;
	unsigned		 i;

	if (m->tkl != BK_TOKEN_LEN)
		return false;
	for (i = 0; i < BK_ENDED_MAX; i++) {
		e = &bw->ended[i];
		if (e->conn == ci && now_ns < e->until_ns &&
		    memcmp(e->token, m->token, BK_TOKEN_LEN) == 0)
			return true;
	}
	return false;
}

/*
 * End o: its observers get code (when not 0) with why, without Observe;
 * an observation the backend still holds is deregistered (best effort:
 * one GET with Observe 1; a later notification gets an RST).
 */
void
bk_obs_end(struct bk_worker *bw, struct bk_obs *o, uint8_t code,
    const char *why, uint64_t now_ns)
{
	uint8_t		 buf[COAP_MAX_MSG];
	size_t		 n;

	if (code != 0 && bw->d != NULL) {
		coap_resp_init(&bw->nresp, bw->npayload, sizeof(bw->npayload));
		bw->nresp.code = code;
		coap_resp_payload(&bw->nresp, why, strlen(why));
		(void)notify_relay(bw->d, o->path, o->path_len, &bw->nresp,
		    true, now_ns);
	}
	if (code == 0 && o->active)
		(void)obs_send(bw, o, bw->next_mid++, 1, buf, sizeof(buf), &n);
	obs_remember_ended(bw, o, now_ns);
	bk_obs_free(bw, o);
}

/* The backend's answer m is a notification of o, from now on. */
static void
obs_arm(struct bk_worker *bw, struct bk_obs *o, const struct coap_msg *m,
    uint64_t now_ns)
{
	const struct coap_opt	*oo;
	uint32_t		 age = BK_MAX_AGE_S;

	if ((oo = coap_msg_opt(m, COAP_OPT_MAX_AGE)) != NULL &&
	    coap_opt_uint(oo, &age) != 0)
		age = BK_MAX_AGE_S;
	if (age > 86400)
		age = 86400;
	if (o->timer >= 0)
		bw->svc->untimer(bw->svc->svc, o->timer);
	o->timer = bw->svc->timer(bw->svc->svc, now_ns + (uint64_t)(age +
	    BK_REREG_SLACK_S) * NS_PER_SEC, on_max_age, o);
}

/* RFC 7641 §3.4: is Observe v (at now) fresher than o's last one? */
static bool
obs_fresh(struct bk_obs *o, const struct coap_msg *m, uint64_t now_ns)
{
	const struct coap_opt	*oo = coap_msg_opt(m, COAP_OPT_OBSERVE);
	uint32_t		 v;
	bool			 fresh;

	if (oo == NULL || coap_opt_uint(oo, &v) != 0)
		return true;	/* the last one: always taken */
	fresh = !o->has_seq ||
	    (o->seq < v && v - o->seq < (1u << 23)) ||
	    (o->seq > v && o->seq - v > (1u << 23)) ||
	    now_ns > o->seq_ns + 128 * NS_PER_SEC;
	if (fresh) {
		o->has_seq = true;
		o->seq = v;
		o->seq_ns = now_ns;
	}
	return fresh;
}

/*
 * m from the backend for o: relayed to o's observers; ends o when it is
 * the backend's last (no Observe, or an error).  Returns the observers
 * left, 0 when o is gone.
 */
static unsigned
obs_relay(struct bk_worker *bw, struct bk_obs *o, const struct coap_msg *m,
    uint64_t now_ns)
{
	struct coap_resp	*r = &bw->nresp;
	bool			 last;
	unsigned		 n;

	coap_resp_init(r, bw->npayload, sizeof(bw->npayload));
	last = coap_msg_opt(m, COAP_OPT_OBSERVE) == NULL ||
	    (m->code != COAP_CONTENT && m->code != COAP_VALID);
	if (fwd_response(r, m) != 0) {
		coap_resp_reset(r, COAP_BAD_GATEWAY);
		last = true;
	}
	n = notify_relay(bw->d, o->path, o->path_len, r, last, now_ns);
	if (last || n == 0) {
		bk_obs_free(bw, o);
		return 0;
	}
	obs_arm(bw, o, m, now_ns);
	return n;
}

/* A notification m of o (no exchange waits for its token). */
void
bk_obs_notified(struct bk_worker *bw, struct bk_obs *o, int ci,
    const struct coap_msg *m)
{
	uint64_t	 now = clock_now_ns();
	bool		 keep = true;

	if (!o->active || bw->d == NULL)
		keep = false;
	else if (obs_fresh(o, m, now))
		keep = obs_relay(bw, o, m, now) > 0 ||
		    coap_msg_opt(m, COAP_OPT_OBSERVE) == NULL;
	/* RFC 7641 §3.6: an RST to a notification nobody wants ends it */
	if (m->type == COAP_TYPE_CON || !keep)
		bk_reply_empty(bw, ci, keep ? COAP_TYPE_ACK : COAP_TYPE_RST,
		    m->mid);
}

/*
 * The answer m to p, which registers (or registers again) p->obs: the
 * backend accepts with a 2.05/2.03 with Observe; anything else ends
 * the observation.  p's client, if any, is answered; p is freed.
 */
void
bk_obs_answer(struct bk_pend *p, const struct coap_msg *m, uint64_t now_ns)
{
	struct bk_worker	*bw = p->bw;
	struct bk_obs		*o = p->obs;
	bool			 ok, again = o->active;

	ok = coap_msg_opt(m, COAP_OPT_OBSERVE) != NULL &&
	    (m->code == COAP_CONTENT || m->code == COAP_VALID);
	o->reg = NULL;
	if (ok) {
		o->active = true;
		(void)obs_fresh(o, m, now_ns);
		obs_arm(bw, o, m, now_ns);
		/* registered again: the answer is the current state */
		if (again && bw->d != NULL && obs_relay(bw, o, m, now_ns) == 0)
			p->obs = NULL;
	} else {
		/* not observable after all: the joiners hear so */
		if (bw->d != NULL)
			(void)obs_relay(bw, o, m, now_ns);
		else
			bk_obs_free(bw, o);
		p->obs = NULL;
	}
	if (p->x != NULL) {
		if (fwd_response(xch_resp(p->x), m) != 0) {
			coap_resp_reset(xch_resp(p->x), 0);
			return bk_fail(p, COAP_BAD_GATEWAY,
			    "backend answer too large", now_ns);
		}
		if (p->obs == NULL)
			xch_set_reg(p->x, NULL);
		xch_complete(p->x, now_ns);
		p->x = NULL;
	}
	bk_pend_free(p);
}

/*
 * Register o again (Max-Age ran out): the same token, a new Message ID.
 * Returns 0 (a failure to send ends o with 5.02), or -EBUSY when no slot
 * or timer is free now.
 */
static int
reg_start(struct bk_worker *bw, struct bk_obs *o, uint64_t now_ns)
{
	struct bk_pend	*p;
	ssize_t		 n;
	int		 rc;

	if ((p = bk_pend_new(bw, o->route, o->cfg, o->conn)) == NULL)
		return -EBUSY;
	memcpy(p->token, o->token, BK_TOKEN_LEN);
	p->mid = bw->next_mid++;
	p->obs = o;
	o->reg = p;
	if ((n = fwd_reobserve(p->msg, sizeof(p->msg), o->msg, o->len, p->mid,
	    0)) < 0) {
		bk_fail(p, COAP_BAD_GATEWAY, "backend registration lost", now_ns);
		return 0;
	}
	p->len = (size_t)n;
	if (bk_pend_arm(p, now_ns) != 0) {
		bk_pend_free(p);
		return -EBUSY;
	}
	if ((rc = bk_submit(p, now_ns)) != 0) {
		log_limited(&bw->ll_unavail, now_ns, LOG_LVL_WARN, NULL,
		    "backend %s (route %s): %s", o->route->backend,
		    o->route->path, strerror(-rc));
		bk_fail(p, COAP_BAD_GATEWAY, "backend unavailable", now_ns);
	}
	return 0;
}

/* Max-Age ran out without a notification: register again. */
static void
on_max_age(void *arg, uint64_t now_ns)
{
	struct bk_obs		*o = arg;
	struct bk_worker	*bw = o->bw;

	o->timer = -1;
	if (o->reg != NULL)
		return;
	if (bw->d == NULL || notify_count(bw->d, o->path, o->path_len) == 0)
		return bk_obs_end(bw, o, 0, NULL, now_ns);
	if (reg_start(bw, o, now_ns) != 0)
		o->timer = bw->svc->timer(bw->svc->svc, now_ns + NS_PER_SEC,
		    on_max_age, o);
}

/* A GET that observes (RFC 7641 §3.1) what notify_pending() keeps. */
static bool
observing(const struct h_req *req)
{
	const struct coap_msg	*m = req->msg;
	const struct coap_opt	*oo;
	uint32_t		 v, b;

	if (!req->route->observe || m->code != COAP_GET ||
	    req->engine == NULL || req->path_len >= OBSERVE_PATH_MAX ||
	    (oo = coap_msg_opt(m, COAP_OPT_OBSERVE)) == NULL ||
	    coap_opt_uint(oo, &v) != 0 || v != 0 ||
	    coap_msg_opt(m, COAP_OPT_URI_QUERY) != NULL)
		return false;
	/* RFC 7959 §3.4: a later block registers nothing */
	oo = coap_msg_opt(m, COAP_OPT_BLOCK2);
	return oo == NULL || (coap_opt_uint(oo, &b) == 0 && b >> 4 == 0);
}

static struct bk_obs *
obs_new(struct bk_worker *bw, const struct h_req *req, int ci)
{
	struct bk_obs	*o;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	o->bw = bw;
	o->cfg = cfg_ref((struct cfg *)req->cfg);
	o->route = req->route;
	o->conn = ci;
	o->timer = -1;
	memcpy(o->path, req->path, req->path_len);
	o->path_len = req->path_len;
	o->next = bw->obs;
	bw->obs = o;
	return o;
}

/*
 * Every second: observations nobody observes any more are deregistered
 * upstream, and connections to backends no longer configured closed.
 */
void
bk_obs_sweep(void *arg, uint64_t now_ns)
{
	struct bk_worker	*bw = arg;
	struct bk_obs		*o, *next;

	if (bw == NULL || bw->d == NULL || now_ns < bw->next_check_ns)
		return;
	bw->next_check_ns = now_ns + BK_CHECK_NS;
	for (o = bw->obs; o != NULL; o = next) {
		next = o->next;
		if (o->reg == NULL &&
		    notify_count(bw->d, o->path, o->path_len) == 0)
			bk_obs_end(bw, o, 0, NULL, now_ns);
	}
	if (bw->d->cfg != NULL)
		bk_conns_prune(bw, bw->d->cfg);
}

/*
 * A GET with Observe 0: the path's observation upstream, made now (p
 * registers it) when there is none; p joins it otherwise.
 */
int
bk_observe_join(struct bk_pend *p, const struct h_req *req)
{
	struct bk_obs	*o;
	int		 rc;

	if (!observing(req))
		return bk_encode(p, req, -1);
	if ((o = obs_find(p->bw, req->route, req->path, req->path_len)) !=
	    NULL) {
		p->obs = o;
		return bk_encode(p, req, -1);
	}
	if ((o = obs_new(p->bw, req, p->conn)) == NULL)
		return bk_encode(p, req, -1);	/* answered without Observe */
	p->obs = o;
	o->reg = p;
	if ((rc = bk_encode(p, req, 0)) != 0)
		return rc;
	memcpy(o->token, p->token, BK_TOKEN_LEN);
	memcpy(o->msg, p->msg, p->len);
	o->len = p->len;
	return 0;
}
