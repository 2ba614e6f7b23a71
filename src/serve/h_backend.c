/*
 * h_backend.c - backend routes: coapd as the front of local services.
 *
 * A request is forwarded as one CoAP message per datagram (proto/fwd.h)
 * from a socket of the worker's own: for Unix backends an AF_UNIX
 * datagram socket autobound to an abstract address (the kernel picks
 * "\0" and five hex digits; the backend answers to the address recvfrom
 * gave it), for coap:// backends a UDP socket per address family on an
 * ephemeral port.  The forwarded message is a CON with coapd's own
 * Message ID and an 8-byte token unique in the worker; over UDP it is
 * retransmitted (RFC 7252 §4.2) until the backend ACKs it.  The answer,
 * piggybacked or separate (coapd ACKs a separate CON), completes the
 * client's exchange (xch.c), which handles the client's message layer.
 * Block1 and Block2 options pass through both ways, so block-wise
 * transfers are relayed block by block.
 *
 * Nothing blocks: the sockets are watched on the worker's ring through
 * struct h_svc.  A missing or refusing Unix backend is 5.02 at once; no
 * answer within timeout_s is 5.04; past max_pending, 5.03.  Observe
 * through the backend is h_backend_obs.c's.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/log.h"
#include "base/clock.h"
#include "base/net.h"
#include "proto/coap_msg.h"
#include "proto/fwd.h"
#include "proto/route.h"
#include "proto/retx.h"
#include "serve/h_backend_int.h"
#include "serve/handler.h"
#include "serve/xch.h"

static void	on_readable(void *arg, int fd, unsigned revents);

/* A reply we cannot use: logged, rate-limited. */
static void
drop_log(struct bk_worker *bw, const char *why)
{
	log_limited(&bw->ll_drop, clock_now_ns(), LOG_LVL_WARN, NULL,
	    "backend reply dropped: %s", why);
}

static void
watch(struct bk_worker *bw, int s)
{
	if (bw->fd[s] >= 0 && bw->watch[s] < 0)
		bw->watch[s] = bw->svc->watch(bw->svc->svc, bw->fd[s], POLLIN,
		    on_readable, bw);
}

/* The worker's socket for family, created and watched on first use. */
static int
sock_for(struct bk_worker *bw, sa_family_t family)
{
	struct sockaddr_un	 sun;
	int			 s, fd;

	s = family == AF_UNIX ? S_UNIX : family == AF_INET ? S_UDP4 : S_UDP6;
	if (bw->fd[s] >= 0)
		return s;
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_UNIX) {
		/* autobind: an abstract address the backend can answer */
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (bind(fd, (struct sockaddr *)&sun,
		    sizeof(sa_family_t)) != 0) {
			close(fd);
			return -errno;
		}
	}
	bw->fd[s] = fd;
	watch(bw, s);
	return s;
}

void
bk_pend_free(struct bk_pend *p)
{
	struct bk_worker	*bw = p->bw;
	struct bk_pend		**pp;

	for (pp = &bw->pend; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			bw->npend--;
			break;
		}
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

int
bk_send_to(struct bk_pend *p)
{
	const struct cfg_route	*rt = p->route;
	ssize_t			 n;

	n = sendto(p->bw->fd[p->sock], p->msg, p->len, MSG_DONTWAIT,
	    (const struct sockaddr *)&rt->backend_addr, rt->backend_addrlen);
	return n < 0 ? -errno : 0;
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
		(void)bk_send_to(p);
	if (!give_up)
		p->rtimer = p->bw->svc->timer(p->bw->svc->svc,
		    p->retx.next_ns, on_retransmit, p);
}

static struct bk_pend *
find(struct bk_worker *bw, int s, const struct coap_msg *m, bool by_token)
{
	struct bk_pend	*p;

	for (p = bw->pend; p != NULL; p = p->next) {
		if (p->sock != s)
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
bk_reply_empty(struct bk_worker *bw, int s, uint8_t type, uint16_t mid,
    const struct sockaddr *to, socklen_t tolen)
{
	uint8_t	 b[4];

	b[0] = (uint8_t)(COAP_VERSION << 6 | type << 4);
	b[1] = COAP_EMPTY;
	b[2] = (uint8_t)(mid >> 8);
	b[3] = (uint8_t)mid;
	(void)sendto(bw->fd[s], b, sizeof(b), MSG_DONTWAIT, to, tolen);
}

/* One datagram from a backend. */
static void
reply(struct bk_worker *bw, int s, const uint8_t *buf, size_t len,
    const struct sockaddr *from, socklen_t fromlen)
{
	struct coap_msg	 m;
	struct bk_pend	*p;
	struct bk_obs	*o;
	uint64_t	 now = clock_now_ns();

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
			bk_reply_empty(bw, s, COAP_TYPE_RST, m.mid, from, fromlen);
		return drop_log(bw, "not a response");
	}
	p = find(bw, s, &m, true);
	if (p == NULL && (o = bk_obs_by_token(bw, s, &m)) != NULL)
		return bk_obs_notified(bw, o, s, &m, from, fromlen);
	/* an RST to an unknown token also ends any registration upstream */
	if (m.type == COAP_TYPE_CON || (p == NULL && m.type == COAP_TYPE_NON))
		bk_reply_empty(bw, s, p != NULL ? COAP_TYPE_ACK : COAP_TYPE_RST,
		    m.mid, from, fromlen);
	if (p == NULL)
		return drop_log(bw, "token coapd did not send (late, or "
		    "for a request given up)");
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

static void
on_readable(void *arg, int fd, unsigned revents)
{
	struct bk_worker	*bw = arg;
	struct sockaddr_storage	 from;
	socklen_t		 fromlen;
	uint8_t			 buf[COAP_MAX_MSG + 256];
	ssize_t			 n;
	int			 s, i;

	(void)revents;
	for (s = 0; s < S_N && bw->fd[s] != fd; s++)
		;
	if (s == S_N)
		return;
	bw->watch[s] = -1;
	/* a bounded batch, then the ring again: other work goes on */
	for (i = 0; i < 64; i++) {
		fromlen = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			break;
		reply(bw, s, buf, (size_t)n, (struct sockaddr *)&from, fromlen);
	}
	watch(bw, s);
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
	net_addr_str((struct sockaddr *)&peer, client, sizeof(client));
	n = fwd_encode(p->msg, sizeof(p->msg), req->msg, COAP_TYPE_CON,
	    p->mid, p->token, BK_TOKEN_LEN,
	    rt->strip_prefix ? route_segments(rt->path, rt->path_len) : 0, client,
	    req->psk_identity, observe);
	if (n < 0)
		return (int)n;
	p->len = (size_t)n;
	return 0;
}

/* Send p; an error the client hears at once is 5.02, or 5.03 (full). */
static int
first_send(struct bk_pend *p, struct coap_resp *resp)
{
	const struct cfg_route	*rt = p->route;
	char			 why[160];
	int			 rc;

	if ((rc = bk_send_to(p)) == 0)
		return 0;
	if (rc == -EAGAIN) {
		xch_busy(resp);
		return rc;
	}
	snprintf(why, sizeof(why), "backend unavailable: %s", strerror(-rc));
	log_limited(&p->bw->ll_unavail, clock_now_ns(), LOG_LVL_WARN, NULL,
	    "backend %s (route %s): %s", rt->backend, rt->path,
	    strerror(-rc));
	resp->code = COAP_BAD_GATEWAY;
	coap_resp_payload(resp, why, strlen(why));
	return rc;
}

/* A pending request to rt on socket s, holding one of its slots. */
struct bk_pend *
bk_pend_new(struct bk_worker *bw, const struct cfg_route *rt, struct cfg *cfg,
    int s)
{
	struct bk_pend	*p;

	if (!handler_slot_take(rt->pending, rt->max_pending))
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		handler_slot_give(rt->pending);
		return NULL;
	}
	p->bw = bw;
	p->route = rt;
	p->sock = s;
	p->timer = p->rtimer = -1;
	p->cfg = cfg_ref(cfg);
	p->next = bw->pend;
	bw->pend = p;
	bw->npend++;
	return p;
}

/* p was sent: its timeout, and over UDP its retransmission. */
void
bk_pend_arm(struct bk_pend *p, uint64_t now_ns)
{
	struct bk_worker	*bw = p->bw;

	p->timer = bw->svc->timer(bw->svc->svc, now_ns +
	    (uint64_t)p->route->timeout_s * NS_PER_SEC, on_timeout, p);
	if (p->sock != S_UNIX) {
		retx_start(&p->retx, now_ns, bw->rnd = bw->rnd *
		    1103515245u + 12345u, &p->cfg->coap);
		p->rtimer = bw->svc->timer(bw->svc->svc, p->retx.next_ns,
		    on_retransmit, p);
	}
}

static int
bk_start(const struct h_req *req, struct coap_resp *resp)
{
	struct bk_worker	*bw = req->hstate;
	const struct cfg_route	*rt = req->route;
	struct bk_pend		*p;
	int			 s;

	if (bw == NULL)
		return -ENOSYS;
	if (req->engine != NULL)
		bw->d = req->engine;
	if ((s = sock_for(bw, rt->backend_addr.ss_family)) < 0)
		return s;
	if ((p = bk_pend_new(bw, rt, (struct cfg *)req->cfg, s)) == NULL) {
		xch_busy(resp);
		return H_DONE;
	}
	if (bk_observe_join(p, req) != 0) {
		bk_fail(p, COAP_BAD_GATEWAY, "request too large to forward", 0);
		return H_DONE;
	}
	if (first_send(p, resp) != 0 || (p->x = xch_begin(req, p)) == NULL) {
		if (p->x == NULL && resp->code == 0)
			xch_busy(resp);
		bk_pend_free(p);
		return H_DONE;
	}
	bk_pend_arm(p, req->now_ns);
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
	int			 s;

	(void)c;
	(void)env;
	if (svc == NULL || (bw = calloc(1, sizeof(*bw))) == NULL)
		return NULL;
	bw->svc = svc;
	for (s = 0; s < S_N; s++)
		bw->fd[s] = bw->watch[s] = -1;
	bw->rnd = (uint32_t)clock_now_ns();
	bw->next_mid = (uint16_t)bw->rnd;
	bw->next_token = (uint64_t)bw->rnd << 32;
	return bw;
}

static void
bk_worker_fini(void *arg)
{
	struct bk_worker	*bw = arg;
	int			 s;

	if (bw == NULL)
		return;
	while (bw->pend != NULL)
		bk_pend_free(bw->pend);
	/* deregistered upstream, best effort */
	while (bw->obs != NULL)
		bk_obs_end(bw, bw->obs, 0, NULL, 0);
	for (s = 0; s < S_N; s++)
		if (bw->fd[s] >= 0)
			close(bw->fd[s]);
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
