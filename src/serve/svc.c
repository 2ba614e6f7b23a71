/*
 * svc.c - descriptor watches and timers for handlers.  See svc.h.
 *
 * An id is a slot index with a generation above it, so a completion or an
 * unwatch that arrives after the slot was reused is recognised as stale.
 * Timers are a flat array scanned when the earliest is due: a worker holds
 * at most a few hundred (one per pending exchange), and a heap would cost
 * more code than the scan costs time.  A timer at 0 ("as soon as the
 * events at hand are handled", e.g. a batch of sends flushed once) goes
 * on a list of its own instead, so it costs no scan.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/uring.h"
#include "serve/svc.h"

#define SVC_IDX_BITS	16
#define SVC_IDX(id)	((unsigned)(id) & ((1u << SVC_IDX_BITS) - 1))
#define SVC_GEN(id)	((unsigned)(id) >> SVC_IDX_BITS)
#define SVC_ID(i, g)	((int)(((g) & 0x7fffu) << SVC_IDX_BITS | (i)))

struct svc_watch {
	h_fd_fn		*fn;		/* NULL: free (or a file op's) */
	h_io_fn		*iofn;		/* a file operation's, else NULL */
	void		*arg;
	int		 fd;
	unsigned	 gen;
};

struct svc_timer {
	h_timer_fn	*fn;		/* NULL: free */
	void		*arg;
	uint64_t	 at_ns;
	unsigned	 gen;
};

struct svc {
	struct uring	*u;
	unsigned	 ud_kind;
	struct h_svc	 ops;
	struct svc_watch *w;
	unsigned	 nw;
	struct svc_timer *t;
	unsigned	 nt;
	uint64_t	 next_ns;	/* earliest timer; UINT64_MAX: none */
	unsigned	*asap;		/* slots of timers at 0 */
	unsigned	 nasap;
};

static uint64_t
svc_ud(const struct svc *s, int id)
{
	return (uint64_t)s->ud_kind << 56 | (uint32_t)id;
}

static int
svc_watch(void *arg, int fd, unsigned events, h_fd_fn *fn, void *fnarg)
{
	struct svc	*s = arg;
	unsigned	 i;
	int		 id, r;

	for (i = 0; i < s->nw && (s->w[i].fn != NULL ||
	    s->w[i].iofn != NULL); i++)
		;
	if (i == s->nw)
		return -ENOSPC;
	s->w[i].gen++;
	id = SVC_ID(i, s->w[i].gen);
	if ((r = uring_poll_once(s->u, fd, events, svc_ud(s, id))) != 0)
		return r;
	s->w[i].fn = fn;
	s->w[i].arg = fnarg;
	s->w[i].fd = fd;
	return id;
}

static void
svc_unwatch(void *arg, int id)
{
	struct svc	*s = arg;
	unsigned	 i = SVC_IDX(id);

	if (id < 0 || i >= s->nw || s->w[i].fn == NULL ||
	    (s->w[i].gen & 0x7fffu) != SVC_GEN(id))
		return;
	s->w[i].fn = NULL;
	/* Its cancelled completion finds the slot free (or reused: stale). */
	(void)uring_poll_cancel(s->u, svc_ud(s, id));
}

static int
svc_timer(void *arg, uint64_t at_ns, h_timer_fn *fn, void *fnarg)
{
	struct svc	*s = arg;
	unsigned	 i;

	for (i = 0; i < s->nt && s->t[i].fn != NULL; i++)
		;
	if (i == s->nt)
		return -ENOSPC;
	s->t[i].gen++;
	s->t[i].fn = fn;
	s->t[i].arg = fnarg;
	s->t[i].at_ns = at_ns;
	if (at_ns == 0 && s->nasap < s->nt)
		s->asap[s->nasap++] = i;
	else if (at_ns < s->next_ns)
		s->next_ns = at_ns;
	return SVC_ID(i, s->t[i].gen);
}

static void
svc_untimer(void *arg, int id)
{
	struct svc	*s = arg;
	unsigned	 i = SVC_IDX(id);

	if (id < 0 || i >= s->nt || s->t[i].fn == NULL ||
	    (s->t[i].gen & 0x7fffu) != SVC_GEN(id))
		return;
	s->t[i].fn = NULL;
}

/*
 * A slot for a file operation on the ring: the same table as the watches
 * (one completion each), told apart by iofn.  Returns the slot's ud.
 */
static int
svc_io_slot(struct svc *s, h_io_fn *fn, void *arg, uint64_t *ud)
{
	unsigned	 i;

	for (i = 0; i < s->nw && (s->w[i].fn != NULL ||
	    s->w[i].iofn != NULL); i++)
		;
	if (i == s->nw)
		return -ENOSPC;
	s->w[i].gen++;
	*ud = svc_ud(s, SVC_ID(i, s->w[i].gen));
	s->w[i].iofn = fn;
	s->w[i].arg = arg;
	s->w[i].fd = -1;
	return (int)i;
}

static int
svc_read(void *arg, int fd, void *buf, size_t len, uint64_t off,
    h_io_fn *fn, void *fnarg)
{
	struct svc	*s = arg;
	uint64_t	 ud;
	int		 i, r;

	if ((i = svc_io_slot(s, fn, fnarg, &ud)) < 0)
		return i;
	if ((r = uring_read(s->u, fd, buf, len, off, ud)) != 0)
		s->w[i].iofn = NULL;
	return r;
}

static int
svc_write(void *arg, int fd, const void *buf, size_t len, uint64_t off,
    h_io_fn *fn, void *fnarg)
{
	struct svc	*s = arg;
	uint64_t	 ud;
	int		 i, r;

	if ((i = svc_io_slot(s, fn, fnarg, &ud)) < 0)
		return i;
	if ((r = uring_write(s->u, fd, buf, len, off, ud)) != 0)
		s->w[i].iofn = NULL;
	return r;
}

static int
svc_fsync(void *arg, int fd, h_io_fn *fn, void *fnarg)
{
	struct svc	*s = arg;
	uint64_t	 ud;
	int		 i, r;

	if ((i = svc_io_slot(s, fn, fnarg, &ud)) < 0)
		return i;
	if ((r = uring_fsync(s->u, fd, ud)) != 0)
		s->w[i].iofn = NULL;
	return r;
}

struct svc *
svc_new(struct uring *u, unsigned ud_kind, unsigned max_watches,
    unsigned max_timers)
{
	struct svc	*s;

	if (max_watches > 1u << SVC_IDX_BITS || max_timers > 1u << SVC_IDX_BITS)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->w = calloc(max_watches, sizeof(*s->w));
	s->t = calloc(max_timers, sizeof(*s->t));
	s->asap = calloc(max_timers, sizeof(*s->asap));
	if (s->w == NULL || s->t == NULL || s->asap == NULL) {
		svc_free(s);
		return NULL;
	}
	s->u = u;
	s->ud_kind = ud_kind;
	s->nw = max_watches;
	s->nt = max_timers;
	s->next_ns = UINT64_MAX;
	s->ops = (struct h_svc){ .watch = svc_watch, .unwatch = svc_unwatch,
	    .timer = svc_timer, .untimer = svc_untimer, .read = svc_read,
	    .write = svc_write,
	    .fsync = svc_fsync, .svc = s };
	return s;
}

void
svc_free(struct svc *s)
{
	if (s == NULL)
		return;
	free(s->w);
	free(s->t);
	free(s->asap);
	free(s);
}

const struct h_svc *
svc_ops(struct svc *s)
{
	return &s->ops;
}

void
svc_event(struct svc *s, uint64_t ud, int32_t res)
{
	int		 id = (int)(ud & 0x7fffffffu);
	unsigned	 i = SVC_IDX(id);
	struct svc_watch *w;
	h_fd_fn		*fn;
	h_io_fn		*iofn;

	if (i >= s->nw)
		return;
	w = &s->w[i];
	if (w->iofn != NULL && (w->gen & 0x7fffu) == SVC_GEN(id)) {
		iofn = w->iofn;
		w->iofn = NULL;
		iofn(w->arg, res);
		return;
	}
	/* free or reused since: a cancelled or stale completion */
	if (w->fn == NULL || (w->gen & 0x7fffu) != SVC_GEN(id))
		return;
	fn = w->fn;
	w->fn = NULL;
	/* a failed poll is reported as an error condition on the fd */
	fn(w->arg, w->fd, res < 0 ? POLLERR : (unsigned)res);
}

void
svc_run_timers(struct svc *s, uint64_t now_ns)
{
	struct svc_timer *t;
	h_timer_fn	*fn;
	uint64_t	 next = UINT64_MAX;
	unsigned	 i, n;

	/* timers at 0; those armed by these callbacks wait for the next */
	for (i = 0, n = s->nasap; i < n; i++) {
		t = &s->t[s->asap[i]];
		if (t->fn == NULL || t->at_ns != 0)
			continue;	/* cancelled (and perhaps reused) */
		fn = t->fn;
		t->fn = NULL;
		fn(t->arg, now_ns);
	}
	if (n > 0) {
		memmove(s->asap, s->asap + n, (s->nasap - n) * sizeof(*s->asap));
		s->nasap -= n;
	}
	if (now_ns < s->next_ns)
		return;
	/* s->next_ns is lowered by timers armed from a callback */
	s->next_ns = UINT64_MAX;
	for (i = 0; i < s->nt; i++) {
		t = &s->t[i];
		if (t->fn == NULL)
			continue;
		if (t->at_ns > now_ns) {
			if (t->at_ns < next)
				next = t->at_ns;
			continue;
		}
		fn = t->fn;
		t->fn = NULL;
		fn(t->arg, now_ns);
	}
	if (next < s->next_ns)
		s->next_ns = next;
}

uint64_t
svc_next_ns(const struct svc *s)
{
	return s->nasap > 0 ? 0 : s->next_ns;
}
