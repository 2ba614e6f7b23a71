/*
 * h_backend_conn.c - a worker's sockets to its backends, and the requests
 * waiting for room in a backend's queue.  See h_backend_int.h.
 *
 * A Unix datagram socket holds at most net.unix.max_dgram_qlen datagrams
 * (10 on Debian) that the backend has not read yet; past that, send()
 * fails with EAGAIN.  That is back-pressure, not failure: the request
 * waits in its connection's queue (it already holds one of its route's
 * max_pending slots, and its timeout_s runs) and goes out when the
 * socket polls writable, which for a connected Unix datagram socket
 * means the backend's queue has room.  Only max_pending answers 5.03;
 * a request still queued after timeout_s gets 5.04 like one sent.
 *
 * A backend that restarts binds a new socket at the same path; the old
 * connection then fails with ECONNREFUSED (or ENOTCONN once the kernel
 * dropped the dead peer), and is made again once, so requests succeed
 * without a reload.  Requests sent to the old socket time out (5.04).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "proto/coap_msg.h"
#include "serve/h_backend_int.h"

static void	on_readable(void *arg, int fd, unsigned revents);
static void	on_writable(void *arg, int fd, unsigned revents);

static void
watch_in(struct bk_worker *bw, struct bk_conn *c)
{
	if (c->fd >= 0 && c->win < 0)
		c->win = bw->svc->watch(bw->svc->svc, c->fd, POLLIN,
		    on_readable, c);
}

static void
watch_out(struct bk_worker *bw, struct bk_conn *c)
{
	if (c->fd >= 0 && c->wout < 0)
		c->wout = bw->svc->watch(bw->svc->svc, c->fd, POLLOUT,
		    on_writable, c);
}

static void
conn_close(struct bk_worker *bw, struct bk_conn *c)
{
	if (c->fd < 0)
		return;
	bw->svc->unwatch(bw->svc->svc, c->win);
	bw->svc->unwatch(bw->svc->svc, c->wout);
	c->win = c->wout = -1;
	close(c->fd);
	c->fd = -1;
}

static int
conn_open(struct bk_worker *bw, struct bk_conn *c)
{
	struct sockaddr_un	 sun;
	int			 fd, rc;

	fd = socket(c->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (c->addr.ss_family == AF_UNIX) {
		/* autobind: an abstract address the backend can answer */
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (bind(fd, (struct sockaddr *)&sun,
		    sizeof(sa_family_t)) != 0)
			goto fail;
	}
	if (connect(fd, (struct sockaddr *)&c->addr, c->addrlen) != 0)
		goto fail;
	c->fd = fd;
	watch_in(bw, c);
	if (c->nq > 0)
		watch_out(bw, c);
	return 0;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

/* Is conn the one to addr?  Compared as bytes: Unix and IP both. */
static bool
conn_at(const struct bk_conn *conn, const void *addr, socklen_t addrlen)
{
	return conn->addrlen == addrlen &&
	    memcmp(&conn->addr, addr, addrlen) == 0;
}

int
bk_conn_get(struct bk_worker *bw, const struct sockaddr *addr,
    socklen_t addrlen)
{
	struct bk_conn	*c, **cc;
	unsigned	 i;
	int		 rc;

	for (i = 0; i < bw->nconn; i++) {
		c = bw->conn[i];
		if (conn_at(c, addr, addrlen))
			break;
	}
	if (i == bw->nconn) {
		if ((cc = realloc(bw->conn, (i + 1) * sizeof(*cc))) == NULL)
			return -ENOMEM;
		bw->conn = cc;
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return -ENOMEM;
		memcpy(&c->addr, addr, addrlen);
		c->addrlen = addrlen;
		c->fd = c->win = c->wout = -1;
		c->qtail = &c->qhead;
		c->bw = bw;
		c->ci = (int)i;
		bw->conn[bw->nconn++] = c;
	}
	if (c->fd < 0 && (rc = conn_open(bw, c)) != 0)
		return rc;
	return (int)i;
}

/* Does a route of c (the running configuration) forward to conn? */
static bool
conn_configured(const struct cfg *c, const struct bk_conn *conn)
{
	const struct cfg_route	*r;
	size_t			 i;

	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		if (r->kind == ROUTE_BACKEND &&
		    conn_at(conn, &r->backend_addr, r->backend_addrlen))
			return true;
	}
	return false;
}

/* Is anything of conn's still in flight: a request, an observation? */
static bool
conn_busy(const struct bk_worker *bw, const struct bk_conn *conn)
{
	const struct bk_pend	*p;
	const struct bk_obs	*o;

	if (conn->nq > 0)
		return true;
	for (p = bw->pend; p != NULL; p = p->next)
		if (p->conn == conn->ci)
			return true;
	for (o = bw->obs; o != NULL; o = o->next)
		if (o->conn == conn->ci)
			return true;
	return false;
}

void
bk_conns_prune(struct bk_worker *bw, const struct cfg *c)
{
	unsigned	 i;

	for (i = 0; i < bw->nconn; i++)
		if (bw->conn[i]->fd >= 0 &&
		    !conn_configured(c, bw->conn[i]) &&
		    !conn_busy(bw, bw->conn[i]))
			conn_close(bw, bw->conn[i]);
}

int
bk_conn_send(struct bk_worker *bw, int ci, const uint8_t *msg, size_t len)
{
	struct bk_conn	*c = bw->conn[ci];
	int		 again, rc;

	for (again = 0; again < 2; again++) {
		if (c->fd < 0 && (rc = conn_open(bw, c)) != 0)
			return rc;
		if (send(c->fd, msg, len, MSG_DONTWAIT) >= 0)
			return 0;
		rc = -errno;
		if (rc != -ECONNREFUSED && rc != -ENOTCONN)
			return rc;
		/*
		 * Unix: the backend's socket is gone (restarted: connect to
		 * the new one).  UDP: an ICMP error for an earlier datagram,
		 * reported once; this one may reach a server that is back.
		 */
		if (c->addr.ss_family == AF_UNIX)
			conn_close(bw, c);
	}
	return rc;
}

static void	on_flush(void *arg, uint64_t now_ns);

/*
 * Requests are not sent one system call each: bk_submit() queues them,
 * and once the worker has handled the events at hand (a timer at 0, see
 * svc.c) each connection's queue goes out with sendmmsg(), in order.
 */
int
bk_submit(struct bk_pend *p, uint64_t now_ns)
{
	struct bk_worker	*bw = p->bw;
	struct bk_conn		*c = bw->conn[p->conn];
	int			 rc;

	(void)now_ns;
	if (c->fd < 0 && (rc = conn_open(bw, c)) != 0)
		return rc;
	p->qnext = NULL;
	p->queued = true;
	*c->qtail = p;
	c->qtail = &p->qnext;
	c->nq++;
	/* a full queue is sent on POLLOUT; otherwise after this batch */
	if (c->wout >= 0 || bw->flush >= 0)
		return 0;
	bw->flush = bw->svc->timer(bw->svc->svc, 0, on_flush, bw);
	/* no timer free: POLLOUT, at once when there is room (never p's
	   fate decided before its caller has it, so not a flush now) */
	if (bw->flush < 0)
		watch_out(bw, c);
	return 0;
}

/* Queued requests of c, sent in order until the backend's queue is full. */
static void
conn_flush(struct bk_worker *bw, struct bk_conn *c, uint64_t now_ns)
{
	struct mmsghdr	 h[BK_SEND_BATCH];
	struct iovec	 iov[BK_SEND_BATCH];
	struct bk_pend	*p;
	bool		 reopened = false;
	int		 i, k, n;

	while (c->qhead != NULL) {
		memset(h, 0, sizeof(h));
		for (k = 0, p = c->qhead; p != NULL && k < BK_SEND_BATCH;
		    p = p->qnext, k++) {
			iov[k].iov_base = p->msg;
			iov[k].iov_len = p->len;
			h[k].msg_hdr.msg_iov = &iov[k];
			h[k].msg_hdr.msg_iovlen = 1;
		}
		n = c->fd < 0 ? -1 : sendmmsg(c->fd, h, (unsigned)k,
		    MSG_DONTWAIT);
		if (n < 0 && c->fd < 0)
			errno = ENOTCONN;
		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			watch_out(bw, c);
			return;
		}
		if (n < 0 && !reopened &&
		    (errno == ECONNREFUSED || errno == ENOTCONN)) {
			/*
			 * Unix: the backend restarted, its new socket (once).
			 * UDP: an ICMP error for an earlier datagram, reported
			 * once; these may reach a server that is back.
			 */
			reopened = true;
			if (c->addr.ss_family != AF_UNIX)
				continue;
			conn_close(bw, c);
			if (conn_open(bw, c) == 0)
				continue;
		}
		if (n < 0) {
			/* the first one cannot go: 5.02, the others try */
			p = c->qhead;
			bk_unqueue(p);
			bk_fail(p, COAP_BAD_GATEWAY, "backend unavailable",
			    now_ns);
			continue;
		}
		for (i = 0; i < n; i++) {
			p = c->qhead;
			bk_unqueue(p);
			bk_pend_sent(p, now_ns);
		}
	}
}

static void
on_flush(void *arg, uint64_t now_ns)
{
	struct bk_worker	*bw = arg;
	unsigned		 i;

	bw->flush = -1;
	for (i = 0; i < bw->nconn; i++)
		if (bw->conn[i]->nq > 0 && bw->conn[i]->wout < 0)
			conn_flush(bw, bw->conn[i], now_ns);
}

void
bk_unqueue(struct bk_pend *p)
{
	struct bk_conn	*c;
	struct bk_pend	**pp;

	if (!p->queued)
		return;
	c = p->bw->conn[p->conn];
	for (pp = &c->qhead; *pp != p; pp = &(*pp)->qnext)
		;
	if ((*pp = p->qnext) == NULL)
		c->qtail = pp;
	c->nq--;
	p->queued = false;
}

/* Room in the backend's queue (or an error to learn): send in order. */
static void
on_writable(void *arg, int fd, unsigned revents)
{
	struct bk_conn		*c = arg;

	(void)fd;
	(void)revents;
	c->wout = -1;
	conn_flush(c->bw, c, clock_now_ns());
}

/*
 * Replies: up to BK_RECV_BATCH datagrams per recvmmsg(), so a burst of
 * answers costs one system call, not one each and one more for EAGAIN.
 */
static void
on_readable(void *arg, int fd, unsigned revents)
{
	struct bk_conn		*c = arg;
	struct bk_worker	*bw = c->bw;
	struct bk_rx		*rx = bw->rx;
	int			 i, n, round;

	(void)revents;
	c->win = -1;
	/* a bounded number of rounds, then the ring again: others go on */
	for (round = 0; round < 4 && c->fd == fd; round++) {
		n = recvmmsg(fd, rx->h, BK_RECV_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			/* UDP: an ICMP error was reported; more may wait */
			if (errno == ECONNREFUSED)
				continue;
			break;
		}
		/* a reply may close the connection: the rest is dropped */
		for (i = 0; i < n && c->fd == fd; i++)
			bk_reply(bw, c->ci, rx->buf[i], rx->h[i].msg_len);
		if (n < BK_RECV_BATCH)
			break;
	}
	/* a reply may have closed or reopened the connection */
	if (c->fd == fd)
		watch_in(bw, c);
}

struct bk_rx *
bk_rx_new(void)
{
	struct bk_rx	*rx;
	int		 i;

	if ((rx = calloc(1, sizeof(*rx))) == NULL)
		return NULL;
	/* recvmmsg() leaves these as they are: set once */
	for (i = 0; i < BK_RECV_BATCH; i++) {
		rx->iov[i].iov_base = rx->buf[i];
		rx->iov[i].iov_len = sizeof(rx->buf[i]);
		rx->h[i].msg_hdr.msg_iov = &rx->iov[i];
		rx->h[i].msg_hdr.msg_iovlen = 1;
	}
	return rx;
}

void
bk_conns_free(struct bk_worker *bw)
{
	unsigned	 i;

	for (i = 0; i < bw->nconn; i++) {
		conn_close(bw, bw->conn[i]);
		free(bw->conn[i]);
	}
	free(bw->conn);
	bw->conn = NULL;
	bw->nconn = 0;
}
