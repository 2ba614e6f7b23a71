/*
 * worker.c - the worker loop: receive a batch, dispatch each datagram,
 * queue the answers, submit and wait in one io_uring_enter, sweep timers.
 * It knows nothing of handlers; dispatch.c does.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "adapt/cfg.h"
#include "base/clock.h"
#include "serve/dispatch.h"
#include "adapt/dtls.h"
#include "proto/fchange.h"
#include "serve/handler.h"
#include "adapt/log.h"
#include "base/net.h"
#include "adapt/uring.h"
#include "serve/svc.h"
#include "serve/worker.h"
#include "serve/xch.h"

#define WORKER_SQ_ENTRIES	2048
#define WORKER_NBUFS		2048	/* receive buffers, power of two */
#define WORKER_BUFSIZE		2048	/* > COAP_MAX_MSG + name + header */
#define WORKER_SLOTS		1024	/* send slots in flight */
#define WORKER_BATCH		256
#define WORKER_TICK_NS		(100 * NS_PER_MS)
#define WORKER_CHG_MAX		64	/* file change batches queued */
#define WORKER_WATCHES		4096	/* handlers' fd watches */
#define WORKER_TIMERS		1024	/* handlers' timers */

/* user_data: kind in the top byte, an index below. */
enum ud_kind {
	UD_RECV = 1,
	UD_SEND,
	UD_EVENT,
	UD_TICK,
	UD_WATCH,		/* handlers' descriptor watches (svc.c) */
};
#define UD(kind, idx)	(((uint64_t)(kind) << 56) | (uint64_t)(idx))
#define UD_KIND(ud)	((unsigned)((ud) >> 56))
#define UD_IDX(ud)	((unsigned)((ud) & 0xffffffffu))

/* One datagram on its way out: memory that lives until the completion. */
struct send_slot {
	struct sockaddr_storage	 addr;
	uint8_t			 buf[DTLS_RECORD_MAX];	/* >= COAP_MAX_MSG */
};

struct worker {
	unsigned		 id;
	pthread_t		 thread;
	struct cfg		*cfg;		/* this worker's reference */
	const struct h_env	*env;		/* lent by the daemon */
	bool			 tick_ok;	/* multishot timeout armed */
	_Atomic(struct cfg *)	 pending_cfg;	/* handed over by main */
	atomic_bool		 stop;
	atomic_uint_least64_t	 beat;		/* one per loop turn */
	atomic_uint_least64_t	 drain_until;	/* ns; 0: not draining */
	atomic_bool		 done;		/* the loop has ended */
	int			 evfd;		/* wakes the loop */
	uint64_t		 evbuf;

	/* File changes posted by the main thread's watcher, under chg_mu. */
	pthread_mutex_t		 chg_mu;
	struct fchange		*chg[WORKER_CHG_MAX];
	unsigned		 nchg;
	bool			 chg_lost;	/* overflowed: check all */

	int			 fds[WORKER_MAX_SOCKS];
	bool			 dtls[WORKER_MAX_SOCKS];
	size_t			 nfds;

	struct uring		*u;
	struct svc		*svc;		/* lent to the handlers */
	struct dispatch		 disp;
	struct metrics		 m;
	struct dtls_server	*dtls_srv;	/* NULL without DTLS sockets */
	uint64_t		 now_ns;	/* of the datagram in dtls_input */

	struct send_slot	*slots;
	unsigned		*free_slots;	/* stack of free indices */
	unsigned		 nfree;

	/* log lines peers can provoke (log_limited()) */
	struct log_limit	 ll_wait;
	struct log_limit	 ll_load;

	/* start-up handshake with the main thread */
	sem_t			 started;
	int			 start_err;
	char			 start_msg[256];
};

static int
slots_init(struct worker *w)
{
	unsigned	 i;

	w->slots = calloc(WORKER_SLOTS, sizeof(*w->slots));
	w->free_slots = calloc(WORKER_SLOTS, sizeof(*w->free_slots));
	if (w->slots == NULL || w->free_slots == NULL)
		return -ENOMEM;
	for (i = 0; i < WORKER_SLOTS; i++)
		w->free_slots[i] = WORKER_SLOTS - 1 - i;
	w->nfree = WORKER_SLOTS;
	return 0;
}

/* Queue len bytes (already in slot si) to peer on socket sock. */
static void
send_queue(struct worker *w, unsigned si, unsigned sock,
    const struct sockaddr *to, socklen_t tolen, size_t len)
{
	struct send_slot	*s = &w->slots[si];

	memcpy(&s->addr, to, tolen);
	if (uring_sendto(w->u, sock, s->buf, len,
	    (const struct sockaddr *)&s->addr, tolen, UD(UD_SEND, si)) != 0) {
		w->free_slots[w->nfree++] = si;
		METRIC_INC(w->m.drops[DROP_SEND_FAILED]);
		return;
	}
	METRIC_INC(w->m.tx);
}

/*
 * Send len bytes of buf to a peer on socket sock: copied into a send slot
 * and queued on the ring, or sent at once when every slot is in flight.
 * Every datagram coapd sends goes through here or send_queue().
 */
static void
worker_send_raw(struct worker *w, unsigned sock, const struct sockaddr *to,
    socklen_t tolen, const uint8_t *buf, size_t len)
{
	unsigned	 si;

	if (len > sizeof(w->slots[0].buf) || sock >= w->nfds) {
		METRIC_INC(w->m.drops[DROP_SEND_FAILED]);
		return;
	}
	if (w->nfree > 0) {
		si = w->free_slots[--w->nfree];
		memcpy(w->slots[si].buf, buf, len);
		send_queue(w, si, sock, to, tolen, len);
		return;
	}
	if (sendto(w->fds[sock], buf, len, MSG_DONTWAIT, to, tolen) < 0)
		METRIC_INC(w->m.drops[DROP_SEND_FAILED]);
	else
		METRIC_INC(w->m.tx);
}

/* dispatch_emit_fn: messages the engine sends on its own. */
static void
worker_emit(void *arg, const struct dispatch_peer *p, const uint8_t *buf,
    size_t len)
{
	struct worker	*w = arg;

	/* a DTLS peer gets the message encrypted with its session */
	if (p->sock < w->nfds && w->dtls[p->sock]) {
		if (w->dtls_srv != NULL)
			dtls_write(w->dtls_srv, p->sock, p->addr, p->addrlen,
			    buf, len);
		return;
	}
	worker_send_raw(w, p->sock, p->addr, p->addrlen, buf, len);
}

/* dtls_send_fn: records and HelloVerifyRequests leave like any datagram. */
static void
worker_dtls_send(void *arg, unsigned sock, const struct sockaddr *to,
    socklen_t tolen, const uint8_t *buf, size_t len)
{
	worker_send_raw(arg, sock, to, tolen, buf, len);
}

/*
 * Stopping (worker_drain): new requests are dropped unanswered, as if
 * the server were already gone, so the client retries against the next
 * instance; ACKs and RSTs still reach the separate responses in flight.
 * A request is a CON or NON (type 0 or 1) with a method code (class 0,
 * not 0.00).
 */
static bool
drain_drops(struct worker *w, const uint8_t *in, size_t len)
{
	if (atomic_load_explicit(&w->drain_until, memory_order_relaxed) == 0)
		return false;
	if (len < 4 || ((in[0] >> 4) & 3) > 1 || in[1] == 0 || in[1] >> 5)
		return false;
	METRIC_INC(w->m.drops[DROP_DRAINING]);
	return true;
}

/* dtls_app_fn: a decrypted CoAP message from an authenticated peer. */
static size_t
worker_dtls_app(void *arg, unsigned sock, const struct sockaddr *from,
    socklen_t fromlen, const char *identity, uint64_t serial,
    const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	struct worker		*w = arg;
	struct dispatch_peer	 p;

	if (drain_drops(w, in, len))
		return 0;
	p.addr = from;
	p.addrlen = fromlen;
	p.psk_identity = identity;
	p.sock = sock;
	/* Socket index below 256 (WORKER_MAX_SOCKS), the session above. */
	p.scope = (uint64_t)sock | serial << 8;
	return dispatch_datagram(&w->disp, &p, in, len, w->now_ns, out,
	    cap < COAP_MAX_MSG ? cap : COAP_MAX_MSG);
}

static void
handle_dgram(struct worker *w, unsigned sock, const struct uring_dgram *g,
    uint64_t now_ns)
{
	struct dispatch_peer	 p;
	uint8_t			 tmp[COAP_MAX_MSG];
	uint8_t			*out;
	unsigned		 si = 0;
	size_t			 n;
	bool			 slot;

	if (g->truncated) {
		METRIC_INC(w->m.drops[DROP_TRUNCATED]);
		return;
	}
	if (w->dtls[sock]) {
		w->now_ns = now_ns;
		if (w->dtls_srv != NULL)
			dtls_input(w->dtls_srv, sock, g->name, g->namelen,
			    g->data, g->len, now_ns);
		return;
	}
	if (drain_drops(w, g->data, g->len))
		return;
	p.addr = g->name;
	p.addrlen = g->namelen;
	p.psk_identity = NULL;
	p.sock = sock;
	p.scope = sock;
	/* Encode straight into a send slot when one is free. */
	slot = w->nfree > 0;
	if (slot) {
		si = w->free_slots[--w->nfree];
		out = w->slots[si].buf;
	} else
		out = tmp;
	n = dispatch_datagram(&w->disp, &p, g->data, g->len, now_ns, out,
	    COAP_MAX_MSG);
	if (n == 0) {
		if (slot)
			w->free_slots[w->nfree++] = si;
		return;
	}
	if (slot)
		send_queue(w, si, sock, g->name, g->namelen, n);
	else
		worker_send_raw(w, sock, g->name, g->namelen, out, n);
}

static void
take_new_cfg(struct worker *w)
{
	struct cfg	*c;

	c = atomic_exchange(&w->pending_cfg, NULL);
	if (c == NULL)
		return;
	dispatch_set_cfg(&w->disp, c);
	if (w->dtls_srv != NULL)
		dtls_server_set_cfg(w->dtls_srv, c);
	cfg_unref(w->cfg);
	w->cfg = c;
	log_debugf("worker %u, configuration switched", w->id);
}

/*
 * Notify the observers of the files the watcher reported.  The lock is
 * held only to take the queue: a wake-up costs one uncontended lock, and
 * the steady state (no changes) none.
 */
static void
take_changes(struct worker *w, uint64_t now)
{
	struct fchange	*c[WORKER_CHG_MAX];
	struct fchange	 all = { .all = true };
	unsigned	 i, n;
	bool		 lost;

	pthread_mutex_lock(&w->chg_mu);
	n = w->nchg;
	memcpy(c, w->chg, n * sizeof(c[0]));
	lost = w->chg_lost;
	w->nchg = 0;
	w->chg_lost = false;
	pthread_mutex_unlock(&w->chg_mu);
	for (i = 0; i < n; i++) {
		if (!lost)
			dispatch_files_changed(&w->disp, c[i], now);
		fchange_unref(c[i]);
	}
	if (lost)
		dispatch_files_changed(&w->disp, &all, now);
}

static void
arm(struct worker *w)
{
	size_t	 i;

	for (i = 0; i < w->nfds; i++)
		uring_recv_multishot(w->u, (unsigned)i, UD(UD_RECV, i));
	uring_poll_multishot(w->u, w->evfd, UD(UD_EVENT, 0));
	/*
	 * Housekeeping runs off a multishot timeout, so the wait itself
	 * needs no timer: at low load that is one hrtimer arm and cancel
	 * less per request.
	 */
	w->tick_ok = uring_tick(w->u, WORKER_TICK_NS, UD(UD_TICK, 0)) == 0;
}

/*
 * How long to wait for completions when the next timer is due at next:
 * 0 (no timer) when the multishot tick or a completion comes first
 * anyway, so the hot path arms no timer of its own.
 */
static uint64_t
wait_ns(const struct worker *w, uint64_t next)
{
	uint64_t	 now, d;

	if (next == UINT64_MAX)
		return w->tick_ok ? 0 : WORKER_TICK_NS;
	now = clock_now_ns();
	d = next > now ? next - now : 1;
	if (d >= WORKER_TICK_NS)
		return w->tick_ok ? 0 : WORKER_TICK_NS;
	return d;
}

/* Handlers' timers and the engine's; returns when the next is due. */
static uint64_t
run_timers(struct worker *w, uint64_t now)
{
	uint64_t	 a, b;

	svc_run_timers(w->svc, now);
	a = dispatch_timers(&w->disp, now);
	b = svc_next_ns(w->svc);
	return a < b ? a : b;
}

/*
 * The load level (dispatch_load()) from what one wake-up found: the
 * datagrams waiting in the buffer ring, as a share of it (all of it when
 * the kernel ran out of buffers).  Send slots are no measure: a batch
 * fills them just before they are submitted, and when none is free the
 * answer is sent directly.
 */
static void
load_update(struct worker *w, unsigned nrecv, bool nobufs, uint64_t now)
{
	const char	*lvl;
	unsigned	 pct;

	pct = nobufs || nrecv >= WORKER_NBUFS ? 100 :
	    nrecv * 100 / WORKER_NBUFS;
	if (dispatch_load(&w->disp, pct, now, &lvl, &pct))
		log_limited(&w->ll_load, now, LOG_LVL_NOTICE, NULL,
		    "worker %u, load level %s (usage %u%%)", w->id, lvl, pct);
}

/*
 * Stopping gracefully: the loop ends once no exchange is pending (hooks,
 * backends, separate responses awaiting their ACK) or at the deadline.
 */
static bool
drained(struct worker *w, uint64_t now)
{
	uint64_t until = atomic_load_explicit(&w->drain_until,
	    memory_order_relaxed);

	return until != 0 && (xch_count(&w->disp) == 0 || now >= until);
}

/* One completion: a datagram, a send done, a wake-up, a watch or a tick. */
static inline void
on_event(struct worker *w, struct uring_event *e, uint64_t now,
    unsigned *nrecv, bool *nobufs)
{
	struct uring_dgram	 g;
	unsigned		 idx = UD_IDX(e->ud);
	int			 r;

	switch (UD_KIND(e->ud)) {
	case UD_RECV:
		r = uring_dgram(w->u, e, &g);
		if (r == 0) {
			(*nrecv)++;
			handle_dgram(w, idx, &g, now);
			uring_buf_release(w->u, g.bid);
		} else if (r == -ENOBUFS) {
			*nobufs = true;
			METRIC_INC(w->m.drops[DROP_NOBUFS]);
		}
		if (!uring_event_more(e))
			uring_recv_multishot(w->u, idx, e->ud);
		break;
	case UD_SEND:
		if (e->res < 0)
			METRIC_INC(w->m.drops[DROP_SEND_FAILED]);
		w->free_slots[w->nfree++] = idx;
		break;
	case UD_EVENT:
		(void)!read(w->evfd, &w->evbuf, sizeof(w->evbuf));
		take_new_cfg(w);
		take_changes(w, now);
		if (!uring_event_more(e))
			uring_poll_multishot(w->u, w->evfd, e->ud);
		break;
	case UD_WATCH:
		svc_event(w->svc, e->ud, e->res);
		break;
	case UD_TICK:
		/* -EINVAL: no multishot timeouts. */
		if (e->res == -EINVAL)
			w->tick_ok = false;
		else if (!uring_event_more(e))
			w->tick_ok = uring_tick(w->u, WORKER_TICK_NS,
			    e->ud) == 0;
		break;
	}
}

static void
loop(struct worker *w)
{
	struct uring_event	 ev[WORKER_BATCH];
	uint64_t		 now, next_sweep = 0, next_timer = UINT64_MAX;
	unsigned		 i, n, nrecv;
	bool			 nobufs;
	int			 r;

	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		/*
		 * The watchdog's proof of progress (worker_beat()).  This
		 * thread is the only writer: a relaxed load and store, not a
		 * locked read-modify-write per wake-up.
		 */
		atomic_store_explicit(&w->beat, atomic_load_explicit(&w->beat,
		    memory_order_relaxed) + 1, memory_order_relaxed);
		r = uring_wait(w->u, wait_ns(w, next_timer));
		if (r < 0) {
			log_limited(&w->ll_wait, clock_now_ns(), LOG_LVL_WARN,
			    NULL, "worker %u, io_uring wait failed: %s", w->id,
			    strerror(-r));
			continue;
		}
		now = clock_now_ns();
		nrecv = 0;
		nobufs = false;
		while ((n = uring_events(w->u, ev, WORKER_BATCH)) > 0) {
			for (i = 0; i < n; i++)
				on_event(w, &ev[i], now, &nrecv, &nobufs);
			if (n < WORKER_BATCH)
				break;
		}
		load_update(w, nrecv, nobufs, now);
		if (now >= next_sweep) {
			dispatch_sweep(&w->disp, now);
			if (w->dtls_srv != NULL)
				dtls_sweep(w->dtls_srv, now);
			next_sweep = now + WORKER_TICK_NS;
		}
		/* two early returns while nothing is due */
		next_timer = run_timers(w, now);
		if (drained(w, now))
			break;
	}
}

/* The DTLS state, when the worker has a DTLS socket. */
static int
dtls_init(struct worker *w)
{
	char	 err[224];
	size_t	 i;
	int	 r;

	for (i = 0; i < w->nfds && !w->dtls[i]; i++)
		;
	if (i == w->nfds)
		return 0;
	r = dtls_server_new(&w->dtls_srv, w->cfg, w->id, &w->m,
	    worker_dtls_send, worker_dtls_app, w, err, sizeof(err));
	if (r != 0)
		snprintf(w->start_msg, sizeof(w->start_msg), "dtls: %s",
		    r == -ENOMEM ? "out of memory" : err);
	return r;
}

/* The ring restricted to the operations coapd uses, then enabled. */
static int
seal(struct worker *w)
{
	int	 r, rerr;

	r = uring_seal(w->u, &rerr);
	if (r != 0)
		snprintf(w->start_msg, sizeof(w->start_msg), "cannot enable "
		    "the io_uring: %s", strerror(-r));
	else if (rerr != 0 && w->id == 0)
		log_warnx("io_uring restrictions refused (%s): the rings run "
		    "unrestricted", strerror(-rerr));
	return r;
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	int		 r;

	r = uring_new(&w->u, WORKER_SQ_ENTRIES, WORKER_NBUFS, WORKER_BUFSIZE,
	    w->start_msg, sizeof(w->start_msg));
	if (r == 0 && (r = uring_sockets(w->u, w->fds,
	    (unsigned)w->nfds)) != 0 && r != -E2BIG) {
		log_debugf("worker %u, sockets not registered (%s)", w->id,
		    strerror(-r));
		r = 0;
	}
	if (r == 0)
		r = seal(w);
	if (r == 0 && (r = slots_init(w)) != 0)
		snprintf(w->start_msg, sizeof(w->start_msg),
		    "out of memory for send slots");
	if (r == 0 && (w->svc = svc_new(w->u, UD_WATCH, WORKER_WATCHES,
	    WORKER_TIMERS)) == NULL) {
		r = -ENOMEM;
		snprintf(w->start_msg, sizeof(w->start_msg),
		    "out of memory for the event service");
	}
	if (r == 0 && (r = dispatch_init(&w->disp, w->cfg, &w->m, w->env,
	    svc_ops(w->svc),
	    (uint32_t)(clock_now_ns() ^ (w->id * 0x9e3779b9u)))) != 0)
		snprintf(w->start_msg, sizeof(w->start_msg),
		    "out of memory for the exchange cache");
	if (r == 0 && (r = dtls_init(w)) != 0)
		dispatch_fini(&w->disp);
	w->start_err = r;
	if (r == 0) {
		dispatch_set_emit(&w->disp, worker_emit, w);
		arm(w);
	}
	sem_post(&w->started);
	if (r != 0) {
		svc_free(w->svc);
		return NULL;
	}
	loop(w);
	atomic_store(&w->done, true);
	dispatch_fini(&w->disp);
	svc_free(w->svc);
	dtls_server_free(w->dtls_srv);
	return NULL;
}

int
worker_start(struct worker **out, unsigned id, struct cfg *c,
    const struct h_env *env, const int *fds, const bool *dtls, size_t nfds, char *err, size_t errlen)
{
	struct worker	*w;
	sigset_t	 all, old;
	int		 r;

	if (nfds > WORKER_MAX_SOCKS)
		return -E2BIG;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	w->id = id;
	w->env = env;
	w->cfg = cfg_ref(c);
	w->nfds = nfds;
	memcpy(w->fds, fds, nfds * sizeof(*fds));
	memcpy(w->dtls, dtls, nfds * sizeof(*dtls));
	pthread_mutex_init(&w->chg_mu, NULL);
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->evfd == -1) {
		r = -errno;
		goto fail;
	}
	sem_init(&w->started, 0, 0);
	/* Signals are the main thread's (signalfd): block them here. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		goto fail;
	while (sem_wait(&w->started) == -1 && errno == EINTR)
		;
	if (w->start_err != 0) {
		r = w->start_err;
		snprintf(err, errlen, "worker %u: %s", id, w->start_msg);
		pthread_join(w->thread, NULL);
		goto fail;
	}
	*out = w;
	return 0;
fail:
	if (w->evfd > 0)
		close(w->evfd);
	uring_free(w->u);
	free(w->slots);
	free(w->free_slots);
	cfg_unref(w->cfg);
	pthread_mutex_destroy(&w->chg_mu);
	free(w);
	return r;
}

static void
wake(struct worker *w)
{
	uint64_t	 one = 1;

	(void)!write(w->evfd, &one, sizeof(one));
}

void
worker_set_cfg(struct worker *w, struct cfg *c)
{
	struct cfg	*old;

	old = atomic_exchange(&w->pending_cfg, cfg_ref(c));
	if (old != NULL)
		cfg_unref(old);
	wake(w);
}

bool
worker_cfg_taken(const struct worker *w)
{
	return atomic_load(&((struct worker *)w)->pending_cfg) == NULL;
}

void
worker_post_change(struct worker *w, struct fchange *c)
{
	pthread_mutex_lock(&w->chg_mu);
	if (w->nchg < WORKER_CHG_MAX)
		w->chg[w->nchg++] = fchange_ref(c);
	else
		w->chg_lost = true;
	pthread_mutex_unlock(&w->chg_mu);
	wake(w);
}

void
worker_stop(struct worker *w)
{
	atomic_store(&w->stop, true);
	wake(w);
}

void
worker_drain(struct worker *w, uint64_t until_ns)
{
	atomic_store(&w->drain_until, until_ns != 0 ? until_ns : 1);
	wake(w);
}

bool
worker_done(const struct worker *w)
{
	return atomic_load(&w->done);
}

uint64_t
worker_beat(const struct worker *w)
{
	return atomic_load_explicit(&w->beat, memory_order_relaxed);
}

void
worker_join(struct worker *w)
{
	struct cfg	*c;
	unsigned	 i;

	pthread_join(w->thread, NULL);
	for (i = 0; i < w->nchg; i++)
		fchange_unref(w->chg[i]);
	pthread_mutex_destroy(&w->chg_mu);
	if ((c = atomic_exchange(&w->pending_cfg, NULL)) != NULL)
		cfg_unref(c);
	uring_free(w->u);
	close(w->evfd);
	sem_destroy(&w->started);
	free(w->slots);
	free(w->free_slots);
	cfg_unref(w->cfg);
	free(w);
}

const struct metrics *
worker_metrics(const struct worker *w)
{
	return &w->m;
}
