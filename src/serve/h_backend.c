/*
 * h_backend.c - backend routes: coapd as the front of local services.
 *
 * A request is forwarded as one CoAP message per datagram (proto/fwd.h)
 * from a socket of the worker's own per backend, connected to it
 * (h_backend_conn.c): for Unix backends an AF_UNIX datagram socket
 * autobound to an abstract address (the kernel picks "\0" and five hex
 * digits; the backend answers to the address recvfrom gave it), for
 * coap:// backends a UDP socket on an ephemeral port.  The forwarded
 * message is a CON with coapd's own
 * Message ID and an 8-byte token unique in the worker; over UDP it is
 * retransmitted (RFC 7252 §4.2) until the backend ACKs it.  The answer,
 * piggybacked or separate (coapd ACKs a separate CON), completes the
 * client's exchange (xch.c), which handles the client's message layer.
 * Block1 and Block2 options pass through both ways, so block-wise
 * transfers are relayed block by block.
 *
 * Nothing blocks: the sockets are watched on the worker's ring through
 * struct h_svc.  A missing or refusing Unix backend is 5.02 at once; no
 * answer within timeout_s is 5.04; past max_pending, 5.03; a backend's
 * full queue only delays (h_backend_conn.c).  Observe through the
 * backend is h_backend_obs.c's.  A bk_pend is reused (bw->spare), so
 * a request costs no malloc once the worker has seen a few.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/log.h"
#include "base/clock.h"
#include "base/net.h"
#include "proto/block.h"
#include "proto/coap_msg.h"
#include "proto/fwd.h"
#include "proto/metrics.h"
#include "proto/route.h"
#include "proto/retx.h"
#include "serve/dispatch.h"
#include "serve/h_backend_int.h"
#include "serve/handler.h"
#include "serve/xch.h"

/* A reply we cannot use: logged, rate-limited. */
static void
drop_log(struct bk_worker *bw, const char *why)
{
	log_limited(&bw->ll_drop, clock_now_ns(), LOG_LVL_WARN, NULL,
	    "backend reply dropped: %s", why);
}

void
bk_pend_free(struct bk_pend *p)
{
	struct bk_worker	*bw = p->bw;

	if ((*p->prevp = p->next) != NULL)
		p->next->prevp = p->prevp;
	bw->npend--;
	bk_unqueue(p);
	if (p->timer >= 0)
		bw->svc->untimer(bw->svc->svc, p->timer);
	if (p->rtimer >= 0)
		bw->svc->untimer(bw->svc->svc, p->rtimer);
	if (p->obs != NULL && p->obs->reg == p) {
		p->obs->reg = NULL;
		if (!p->obs->active)
			bk_obs_free(bw, p->obs);	/* never accepted */
	}
	handler_slot_give(p->route->pending);
	cfg_unref(p->cfg);
	/* kept for the next request: no malloc per request */
	if (bw->nspare < BK_SPARE_MAX) {
		p->next = bw->spare;
		bw->spare = p;
		bw->nspare++;
	} else
		free(p);
}

/* Answer the client with an error and a one-line reason; p is freed. */
void
bk_fail(struct bk_pend *p, uint8_t code, const char *why, uint64_t now_ns)
{
	struct coap_resp	*r;

	if (p->x != NULL) {
		r = xch_resp(p->x);
		r->code = code;
		coap_resp_payload(r, why, strlen(why));
		xch_complete(p->x, now_ns);
	}
	/* the observation it (re-)registers ends for every observer */
	if (p->obs != NULL && p->obs->reg == p)
		bk_obs_end(p->bw, p->obs, code, why, now_ns);
	bk_pend_free(p);
}

static void
on_timeout(void *arg, uint64_t now_ns)
{
	struct bk_pend	*p = arg;

	p->timer = -1;
	log_limited(&p->bw->ll_timeout, now_ns, LOG_LVL_WARN, NULL,
	    "backend %s (route %s): no answer within %u s",
	    p->route->backend, p->route->path, p->route->timeout_s);
	bk_fail(p, COAP_GATEWAY_TIMEOUT, "backend timed out", now_ns);
}

/* UDP: the CON again until the backend ACKs it (RFC 7252 §4.2). */
static void
on_retransmit(void *arg, uint64_t now_ns)
{
	struct bk_pend	*p = arg;
	bool		 give_up = false;

	p->rtimer = -1;
	if (p->acked)
		return;
	if (retx_due(&p->retx, now_ns, &give_up) && !give_up)
		(void)bk_conn_send(p->bw, p->conn, p->msg, p->len);
	if (!give_up)
		p->rtimer = p->bw->svc->timer(p->bw->svc->svc,
		    p->retx.next_ns, on_retransmit, p);
}

static struct bk_pend *
find(struct bk_worker *bw, int ci, const struct coap_msg *m, bool by_token)
{
	struct bk_pend	*p;

	for (p = bw->pend; p != NULL; p = p->next) {
		if (p->conn != ci || p->queued)
			continue;
		if (by_token ? m->tkl == BK_TOKEN_LEN &&
		    memcmp(m->token, p->token, BK_TOKEN_LEN) == 0 :
		    m->mid == p->mid)
			return p;
	}
	return NULL;
}

/* An empty ACK or RST for a backend's CON: its MID, no token. */
void
bk_reply_empty(struct bk_worker *bw, int ci, uint8_t type, uint16_t mid)
{
	uint8_t	 b[4];

	b[0] = (uint8_t)(COAP_VERSION << 6 | type << 4);
	b[1] = COAP_EMPTY;
	b[2] = (uint8_t)(mid >> 8);
	b[3] = (uint8_t)mid;
	(void)bk_conn_send(bw, ci, b, sizeof(b));
}

void
bk_reply(struct bk_worker *bw, int s, const uint8_t *buf, size_t len)
{
	struct coap_msg	 m;
	struct bk_pend	*p;
	struct bk_obs	*o;
	uint64_t	 now = clock_now_ns();
	bool		 unmatched;

	if (coap_msg_parse(&m, buf, len) != 0)
		return drop_log(bw, "malformed message");
	if (m.type == COAP_TYPE_ACK && m.code == COAP_EMPTY) {
		if ((p = find(bw, s, &m, false)) != NULL)
			p->acked = true;
		return;
	}
	if (m.type == COAP_TYPE_RST) {
		if ((p = find(bw, s, &m, false)) != NULL)
			bk_fail(p, COAP_BAD_GATEWAY, "backend rejected the request",
			    now);
		return;
	}
	if (COAP_CODE_CLASS(m.code) < 2) {
		if (m.type == COAP_TYPE_CON)
			bk_reply_empty(bw, s, COAP_TYPE_RST, m.mid);
		return drop_log(bw, "not a response");
	}
	p = find(bw, s, &m, true);
	if (p == NULL && (o = bk_obs_by_token(bw, s, &m)) != NULL)
		return bk_obs_notified(bw, o, s, &m);
	/*
	 * Unmatched, unless the answer to a deregistration or a
	 * notification crossing it; counted before the RST goes out.
	 */
	unmatched = p == NULL && !bk_obs_ended(bw, s, &m, now);
	if (unmatched && bw->d != NULL)
		METRIC_INC(bw->d->m->backend_unmatched);
	/* an RST to an unknown token also ends any registration upstream */
	if (m.type == COAP_TYPE_CON || (p == NULL && m.type == COAP_TYPE_NON))
		bk_reply_empty(bw, s, p != NULL ? COAP_TYPE_ACK : COAP_TYPE_RST,
		    m.mid);
	if (unmatched)
		return drop_log(bw, "token coapd did not send (late, or "
		    "for a request given up)");
	if (p == NULL)
		return;
	if (p->obs != NULL && p->obs->reg == p)
		return bk_obs_answer(p, &m, now);
	if (p->x == NULL) {
		bk_pend_free(p);
		return;
	}
	if (fwd_response(xch_resp(p->x), &m) != 0) {
		coap_resp_reset(xch_resp(p->x), 0);
		return bk_fail(p, COAP_BAD_GATEWAY, "backend answer too large",
		    now);
	}
	/* a GET joining an observation that ended registers nothing */
	if (p->obs == NULL)
		xch_set_reg(p->x, NULL);
	xch_complete(p->x, now);
	p->x = NULL;
	bk_pend_free(p);
}

/* Encode req for the backend into p. */
int
bk_encode(struct bk_pend *p, const struct h_req *req, int observe)
{
	const struct cfg_route	*rt = req->route;
	char			 client[NET_ADDRSTRLEN];
	struct sockaddr_storage	 peer;
	uint64_t		 t = ++p->bw->next_token;
	ssize_t			 n;
	int			 i;

	for (i = 0; i < BK_TOKEN_LEN; i++)
		p->token[i] = (uint8_t)(t >> (8 * (BK_TOKEN_LEN - 1 - i)));
	p->mid = p->bw->next_mid++;
	(void)net_addr_unmap(req->peer, req->peerlen, &peer);
	(void)net_addr_str((struct sockaddr *)&peer, client, sizeof(client));
	n = fwd_encode(p->msg, sizeof(p->msg), req->msg, COAP_TYPE_CON,
	    p->mid, p->token, BK_TOKEN_LEN,
	    rt->strip_prefix ? route_segments(rt->path, rt->path_len) : 0, client,
	    req->psk_identity, observe);
	if (n < 0)
		return (int)n;
	p->len = (size_t)n;
	return 0;
}

/* The backend is not there: 5.02 at once, and a line (rate-limited). */
static void
unavailable(struct bk_worker *bw, const struct cfg_route *rt, int rc,
    struct coap_resp *resp)
{
	char	 why[160];

	snprintf(why, sizeof(why), "backend unavailable: %s", strerror(-rc));
	log_limited(&bw->ll_unavail, clock_now_ns(), LOG_LVL_WARN, NULL,
	    "backend %s (route %s): %s", rt->backend, rt->path,
	    strerror(-rc));
	resp->code = COAP_BAD_GATEWAY;
	coap_resp_payload(resp, why, strlen(why));
}

struct bk_pend *
bk_pend_new(struct bk_worker *bw, const struct cfg_route *rt, struct cfg *cfg,
    int ci)
{
	struct bk_pend	*p;

	if (!handler_slot_take(rt->pending, rt->max_pending))
		return NULL;
	if ((p = bw->spare) != NULL) {
		bw->spare = p->next;
		bw->nspare--;
	} else if ((p = malloc(sizeof(*p))) == NULL) {
		handler_slot_give(rt->pending);
		return NULL;
	}
	memset(p, 0, offsetof(struct bk_pend, msg));
	p->bw = bw;
	p->route = rt;
	p->conn = ci;
	p->timer = p->rtimer = -1;
	p->cfg = cfg_ref(cfg);
	if ((p->next = bw->pend) != NULL)
		p->next->prevp = &p->next;
	p->prevp = &bw->pend;
	bw->pend = p;
	bw->npend++;
	return p;
}

int
bk_pend_arm(struct bk_pend *p, uint64_t now_ns)
{
	struct bk_worker	*bw = p->bw;

	p->timer = bw->svc->timer(bw->svc->svc, now_ns +
	    (uint64_t)p->route->timeout_s * NS_PER_SEC, on_timeout, p);
	return p->timer < 0 ? p->timer : 0;
}

void
bk_pend_sent(struct bk_pend *p, uint64_t now_ns)
{
	struct bk_worker	*bw = p->bw;

	if (bw->conn[p->conn]->addr.ss_family == AF_UNIX || p->rtimer >= 0)
		return;
	retx_start(&p->retx, now_ns, bw->rnd = bw->rnd * 1103515245u + 12345u,
	    &p->cfg->coap);
	p->rtimer = bw->svc->timer(bw->svc->svc, p->retx.next_ns,
	    on_retransmit, p);
}

/*
 * The route's max_body_bytes holds for a backend too: a body, a Size1
 * announcing one, or a Block1 block ending past the limit gets 4.13 with
 * Size1 (RFC 7959 §2.9.3) here, before anything goes upstream.  Blocks are
 * forwarded one by one, so the block's end is what coapd can check.
 */
static bool
bk_too_large(const struct coap_msg *m, const struct cfg_route *rt,
    struct coap_resp *resp)
{
	const struct coap_opt	*o;
	struct block_opt	 b;
	uint64_t		 end = m->payload_len;
	uint32_t		 size1;

	if (block_opt_get(m, COAP_OPT_BLOCK1, &b) == 0)
		end += (uint64_t)b.num * block_size(b.szx);
	if ((o = coap_msg_opt(m, COAP_OPT_SIZE1)) != NULL &&
	    coap_opt_uint(o, &size1) == 0 && size1 > end)
		end = size1;
	if (end <= rt->max_body_bytes)
		return false;
	resp->code = COAP_REQUEST_ENTITY_TOO_LARGE;
	(void)coap_resp_opt_uint(resp, COAP_OPT_SIZE1,
	    rt->max_body_bytes > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)rt->max_body_bytes);
	return true;
}

static int
bk_start(const struct h_req *req, struct coap_resp *resp)
{
	struct bk_worker	*bw = req->hstate;
	const struct cfg_route	*rt = req->route;
	struct bk_pend		*p;
	int			 ci, rc;

	if (bw == NULL)
		return -ENOSYS;
	if (req->engine != NULL)
		bw->d = req->engine;
	if (bk_too_large(req->msg, rt, resp))
		return H_DONE;
	ci = bk_conn_get(bw, (const struct sockaddr *)&rt->backend_addr,
	    rt->backend_addrlen);
	if (ci == -ENOMEM)
		return ci;
	if (ci < 0) {
		unavailable(bw, rt, ci, resp);
		return H_DONE;
	}
	if ((p = bk_pend_new(bw, rt, (struct cfg *)req->cfg, ci)) == NULL) {
		xch_busy(resp);
		return H_DONE;
	}
	if (bk_observe_join(p, req) != 0) {
		bk_fail(p, COAP_BAD_GATEWAY, "request too large to forward", 0);
		return H_DONE;
	}
	/* timeout_s counts from now, in the queue too */
	if (bk_pend_arm(p, req->now_ns) != 0) {
		bk_pend_free(p);
		xch_busy(resp);
		return H_DONE;
	}
	if ((rc = bk_submit(p, req->now_ns)) != 0) {
		bk_pend_free(p);
		unavailable(bw, rt, rc, resp);
		return H_DONE;
	}
	if ((p->x = xch_begin(req, p)) == NULL) {
		bk_pend_free(p);	/* a late answer is dropped */
		xch_busy(resp);
		return H_DONE;
	}
	return H_PENDING;
}

/* The client went away: forget the request; a late answer is dropped. */
static void
bk_cancel(void *ctx, enum xch_cancel why)
{
	struct bk_pend	*p = ctx;

	(void)why;
	p->x = NULL;
	/* a registration goes on: other clients may join the observation */
	if (p->obs == NULL || p->obs->reg != p)
		bk_pend_free(p);
}

static void *
bk_worker_init(const struct cfg *c, const struct h_env *env,
    const struct h_svc *svc)
{
	struct bk_worker	*bw;

	(void)c;
	(void)env;
	if (svc == NULL || (bw = calloc(1, sizeof(*bw))) == NULL)
		return NULL;
	if ((bw->rx = bk_rx_new()) == NULL) {
		free(bw);
		return NULL;
	}
	bw->svc = svc;
	bw->flush = -1;
	bw->rnd = (uint32_t)clock_now_ns();
	bw->next_mid = (uint16_t)bw->rnd;
	bw->next_token = (uint64_t)bw->rnd << 32;
	return bw;
}

static void
bk_worker_fini(void *arg)
{
	struct bk_worker	*bw = arg;
	struct bk_pend		*p;

	if (bw == NULL)
		return;
	bw->svc->untimer(bw->svc->svc, bw->flush);
	while (bw->pend != NULL)
		bk_pend_free(bw->pend);
	/* deregistered upstream, best effort */
	while (bw->obs != NULL)
		bk_obs_end(bw, bw->obs, 0, NULL, 0);
	bk_conns_free(bw);
	while ((p = bw->spare) != NULL) {
		bw->spare = p->next;
		free(p);
	}
	free(bw->rx);
	free(bw);
}

const struct handler_ops h_backend_ops = {
	.name = "backend",
	.worker_init = bk_worker_init,
	.worker_fini = bk_worker_fini,
	.start = bk_start,
	.cancel = bk_cancel,
	.sweep = bk_obs_sweep,
};
