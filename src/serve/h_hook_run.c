/*
 * h_hook_run.c - the process side of hook routes: one run of the route's
 * executable, watched through the worker's event service (handler.h
 * struct h_svc), never waited for.
 *
 * A run owns three descriptors: the read ends of its stdout and stderr
 * pipes and a pidfd.  Each is watched once at a time on the worker's ring;
 * a callback reads what is there and watches again.  The run is over when
 * the process has exited and both pipes are at end of file, or when it was
 * killed at its timeout and has been reaped (a grandchild that escaped the
 * process group must not hold the answer).  It then answers its exchange
 * (handler.h xch_complete) unless the client went away (RST), in which
 * case the process group was killed and the run only waits to reap it.
 *
 * The worker never spawns: a run is queued to the worker's spawner thread
 * (spawn.h), which makes the pipes, execs and hands back pid, pidfd and
 * the pipes' read ends through an eventfd watched here (on_spawned()).
 * Until then the run is "spawning": a cancel or a timeout is remembered
 * and acted on when the pid is known.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapt/log.h"
#include "adapt/spawn.h"
#include "base/clock.h"
#include "base/hash.h"
#include "proto/hookhdr.h"
#include "serve/h_hook_int.h"

#define OUT_CHUNK	16384
#define RETRY_NS	(10 * NS_PER_MS)

atomic_uint	 hook_running_total;

enum { W_OUT, W_ERR, W_PID, W_N };

struct hook_run {
	struct hook_run		*next;
	struct hook_worker	*hw;
	struct xch		*x;		/* NULL once cancelled */
	struct cfg		*cfg;		/* a reference */
	const struct cfg_route	*route;
	struct hook_ask		 ask;
	pid_t			 pid;		/* 0 while spawning */
	struct spawn_job	 job;		/* while spawning */
	char			**envp;		/* the job's, owned */
	bool			 spawning, kill_spawned;
	int			 spawn_rc;	/* -errno: could not start */
	int			 fd[W_N];	/* -1 once closed */
	int			 watch[W_N];	/* -1 when not watched */
	int			 timer;		/* the timeout; -1 */
	int			 retry;		/* re-watch later; -1 */
	char			*out;
	size_t			 out_len, out_cap;
	bool			 exited, timed_out, overflow, counted;
	int			 status;
	char			 eline[HOOK_ERR_LINE_MAX];
	size_t			 elen;
	unsigned		 elogged, esuppressed;
};

static void	on_fd(void *arg, int fd, unsigned revents);
static void	give_slot(const struct cfg_route *rt);
static void	on_retry(void *arg, uint64_t now_ns);

/* Watch every open descriptor not watched yet; retry later on failure. */
static void
arm(struct hook_run *r)
{
	const struct h_svc	*svc = r->hw->svc;
	int			 i;

	for (i = 0; i < W_N; i++) {
		if (r->fd[i] < 0 || r->watch[i] >= 0)
			continue;
		r->watch[i] = svc->watch(svc->svc, r->fd[i], POLLIN, on_fd, r);
		if (r->watch[i] < 0 && r->retry < 0)
			r->retry = svc->timer(svc->svc,
			    clock_now_ns() + RETRY_NS, on_retry, r);
	}
}

static void
on_retry(void *arg, uint64_t now_ns)
{
	struct hook_run	*r = arg;

	(void)now_ns;
	r->retry = -1;
	arm(r);
}

static void
close_fd(struct hook_run *r, int i)
{
	const struct h_svc	*svc = r->hw->svc;

	if (r->watch[i] >= 0)
		svc->unwatch(svc->svc, r->watch[i]);
	r->watch[i] = -1;
	if (r->fd[i] >= 0)
		close(r->fd[i]);
	r->fd[i] = -1;
}

/* The run is over: forget it (the exchange is answered or gone). */
static void
run_free(struct hook_run *r)
{
	struct hook_worker	*hw = r->hw;
	struct hook_run		**pp;
	int			 i;

	for (i = 0; i < W_N; i++)
		close_fd(r, i);
	if (r->timer >= 0)
		hw->svc->untimer(hw->svc->svc, r->timer);
	if (r->retry >= 0)
		hw->svc->untimer(hw->svc->svc, r->retry);
	if (r->counted)
		give_slot(r->route);
	for (pp = &hw->runs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			hw->nruns--;
			break;
		}
	if (r->esuppressed > 0)
		log_limited(&hw->ll_esupp, clock_now_ns(), LOG_LVL_WARN, NULL,
		    "hook %s (%s): %u more stderr lines not logged",
		    r->route->path, r->ask.who, r->esuppressed);
	cfg_unref(r->cfg);
	free(r->envp);
	free(r->out);
	free(r);
}

/* Log one stderr line, within the per-run and per-worker budgets. */
static void
err_line(struct hook_run *r)
{
	struct hook_worker	*hw = r->hw;
	uint64_t		 sec = clock_now_ns() / NS_PER_SEC;

	if (r->elen == 0)
		return;
	if (sec != hw->log_sec) {
		hw->log_sec = sec;
		hw->log_lines = 0;
	}
	if (r->elogged >= HOOK_ERR_LINES_RUN ||
	    hw->log_lines >= HOOK_ERR_LINES_SEC) {
		r->esuppressed++;
	} else {
		r->elogged++;
		hw->log_lines++;
		log_warnx("hook %s[%d] (%s): %.*s", r->route->path, (int)r->pid,
		    r->ask.who, (int)r->elen, r->eline);
	}
	r->elen = 0;
}

/* Read stderr: lines to the log. */
static void
read_err(struct hook_run *r)
{
	char	 buf[4096];
	ssize_t	 n, i;

	while ((n = read(r->fd[W_ERR], buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				err_line(r);
				continue;
			}
			if (r->elen < sizeof(r->eline))
				r->eline[r->elen++] = buf[i] == '\0' ? ' ' :
				    buf[i];
		}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		err_line(r);
		close_fd(r, W_ERR);
	}
}

/* Read stdout into r->out, up to max_output_bytes. */
static void
read_out(struct hook_run *r)
{
	uint64_t	 max = r->route->max_output_bytes;
	size_t		 cap;
	ssize_t		 n;
	char		*p;

	for (;;) {
		if (r->out_cap - r->out_len < OUT_CHUNK / 4) {
			cap = r->out_cap ? r->out_cap * 2 : OUT_CHUNK;
			if ((p = realloc(r->out, cap)) == NULL) {
				r->overflow = true;
				break;
			}
			r->out = p;
			r->out_cap = cap;
		}
		n = read(r->fd[W_OUT], r->out + r->out_len,
		    r->out_cap - r->out_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		r->out_len += (size_t)n;
		/* headers come on top of the payload's limit */
		if (r->out_len > max + (r->route->headers ? HOOKHDR_MAX : 0)) {
			r->overflow = true;
			break;
		}
	}
	if (r->overflow)
		spawn_kill(r->pid, SIGKILL);
	close_fd(r, W_OUT);
}

static uint8_t
default_code(uint8_t method)
{
	switch (method) {
	case COAP_GET:
	case COAP_FETCH:
		return COAP_CONTENT;
	case COAP_DELETE:
		return COAP_DELETED;
	default:
		return COAP_CHANGED;
	}
}

/* An error answer with a short diagnostic payload (RFC 7252 §5.5.2). */
static void
fail(struct hook_run *r, struct coap_resp *resp, uint8_t code,
    const char *why)
{
	resp->code = code;
	coap_resp_payload(resp, why, strlen(why));
	log_limited(&r->hw->ll_fail, clock_now_ns(), LOG_LVL_WARN, NULL,
	    "hook %s[%d] (%s): %s", r->route->path, (int)r->pid,
	    r->ask.who, why);
}

/* Options of a successful answer, from the headers and the route. */
static void
success_opts(const struct hook_run *r, const struct hook_hdr *h,
    struct coap_resp *resp)
{
	const char	*p, *seg;

	if (h->ct >= 0)
		coap_resp_opt_uint(resp, COAP_OPT_CONTENT_FORMAT,
		    (uint32_t)h->ct);
	else if (r->route->ct >= 0)
		coap_resp_opt_uint(resp, COAP_OPT_CONTENT_FORMAT,
		    (uint32_t)r->route->ct);
	if (h->max_age >= 0)
		coap_resp_opt_uint(resp, COAP_OPT_MAX_AGE, (uint32_t)h->max_age);
	else if (r->route->max_age != 60)
		coap_resp_opt_uint(resp, COAP_OPT_MAX_AGE, r->route->max_age);
	for (p = h->location; *p == '/'; p = seg) {
		for (seg = ++p; *seg != '\0' && *seg != '/'; seg++)
			;
		if (seg > p)
			coap_resp_opt(resp, COAP_OPT_LOCATION_PATH, p,
			    (size_t)(seg - p));
	}
}

/* Answer from a successful run's output: one block, or Block2. */
static void
answer_output(struct hook_run *r, struct coap_resp *resp, uint64_t now_ns)
{
	struct hook_hdr		 h;
	struct hook_out		*o, tmp;
	uint64_t		 hash;
	uint8_t			 code;
	size_t			 off = 0, blen, bs;
	char			 err[128];

	memset(&h, 0, sizeof(h));
	h.status = h.ct = -1;
	h.max_age = -1;
	if (r->route->headers) {
		if (hookhdr_parse(r->out ? r->out : "", r->out_len, &h, err,
		    sizeof(err)) != 0)
			return fail(r, resp, COAP_INTERNAL_SERVER_ERROR, err);
		off = h.body_off;
	}
	code = h.status >= 0 ? (uint8_t)h.status : default_code(r->ask.method);
	blen = r->out_len - off;
	bs = r->route->block_size;
	if (r->ask.block2.rc == 0 && block_size(r->ask.block2.b.szx) < bs)
		bs = block_size(r->ask.block2.b.szx);
	if (blen <= bs && r->ask.block2.rc != 0) {
		resp->code = code;
		success_opts(r, &h, resp);
		if (h.etag_len > 0)
			coap_resp_opt(resp, COAP_OPT_ETAG, h.etag, h.etag_len);
		coap_resp_payload(resp, r->out + off, blen);
		return;
	}
	/* Block2: the later blocks come from this very output. */
	if (h.etag_len == 0) {
		hash = hash_fold(fnv1a(FNV1A_INIT, r->out + off, blen));
		memcpy(h.etag, &hash, sizeof(hash));
		h.etag_len = sizeof(hash);
	}
	if (r->out != NULL)	/* NULL when the hook printed nothing */
		memmove(r->out, r->out + off, blen);
	o = blen > bs ? hook_cache_put(r->hw, &r->ask, r->cfg, code, h.ct,
	    h.max_age, h.etag, h.etag_len, r->out, blen, now_ns) : NULL;
	if (o != NULL) {
		r->out = NULL;		/* the cache's now */
	} else {
		/* one block, or too large to keep: later blocks run again */
		memset(&tmp, 0, sizeof(tmp));
		tmp.code = code;
		tmp.ct = h.ct;
		tmp.max_age = h.max_age;
		memcpy(tmp.etag, h.etag, h.etag_len);
		tmp.etag_len = h.etag_len;
		tmp.data = r->out;	/* freed with the run */
		tmp.len = blen;
		o = &tmp;
	}
	hook_answer_block(o, r->route, &r->ask.block2, resp);
}

/* The run is over and its exchange still waits: answer it. */
static void
answer(struct hook_run *r, uint64_t now_ns)
{
	struct coap_resp	*resp = xch_resp(r->x);
	char			 why[96];

	if (r->spawn_rc != 0) {
		snprintf(why, sizeof(why), "cannot run %s: %s",
		    r->route->hook[0], strerror(-r->spawn_rc));
		fail(r, resp, COAP_INTERNAL_SERVER_ERROR, why);
	} else if (r->timed_out) {
		snprintf(why, sizeof(why), "hook timed out after %u s",
		    r->route->timeout_s);
		fail(r, resp, COAP_GATEWAY_TIMEOUT, why);
	} else if (r->overflow) {
		snprintf(why, sizeof(why), "hook output over %llu bytes",
		    (unsigned long long)r->route->max_output_bytes);
		fail(r, resp, COAP_INTERNAL_SERVER_ERROR, why);
	} else if (WIFSIGNALED(r->status)) {
		snprintf(why, sizeof(why), "hook killed by signal %d",
		    WTERMSIG(r->status));
		fail(r, resp, COAP_INTERNAL_SERVER_ERROR, why);
	} else if (WEXITSTATUS(r->status) != 0) {
		snprintf(why, sizeof(why), "hook exited with status %d",
		    WEXITSTATUS(r->status));
		fail(r, resp, COAP_INTERNAL_SERVER_ERROR, why);
	} else
		answer_output(r, resp, now_ns);
	xch_complete(r->x, now_ns);
	r->x = NULL;
}

/* Over yet?  Then answer (if anyone waits) and free. */
static void
maybe_finish(struct hook_run *r)
{
	if (!r->exited)
		return;
	if (!r->timed_out && (r->fd[W_OUT] >= 0 || r->fd[W_ERR] >= 0))
		return;
	if (r->fd[W_ERR] >= 0)
		read_err(r);
	if (r->fd[W_OUT] >= 0 && !r->timed_out)
		read_out(r);
	if (r->x != NULL)
		answer(r, clock_now_ns());
	run_free(r);
}

static void
reap(struct hook_run *r)
{
	if (r->pid > 0 && spawn_reap(r->pid, &r->status) != 0) {
		r->exited = true;
		close_fd(r, W_PID);
	}
}

static void
on_fd(void *arg, int fd, unsigned revents)
{
	struct hook_run	*r = arg;
	int		 i;

	(void)revents;
	for (i = 0; i < W_N; i++)
		if (r->fd[i] == fd && r->watch[i] >= 0)
			break;
	if (i == W_N)
		return;
	r->watch[i] = -1;
	if (i == W_OUT)
		read_out(r);
	else if (i == W_ERR)
		read_err(r);
	else
		reap(r);
	arm(r);
	maybe_finish(r);
}

static void
on_timeout(void *arg, uint64_t now_ns)
{
	struct hook_run	*r = arg;

	(void)now_ns;
	r->timer = -1;
	r->timed_out = true;
	spawn_kill(r->pid, SIGKILL);	/* while spawning: on_spawned() */
	if (!r->exited)
		reap(r);
	maybe_finish(r);
}

void
hook_run_cancel(void *ctx, enum xch_cancel why)
{
	struct hook_run	*r = ctx;

	r->x = NULL;
	/* at shutdown hook_run_fini() gives a grace period */
	if (why == XCH_CANCEL_SHUTDOWN)
		return;
	if (r->spawning)
		r->kill_spawned = true;
	else
		spawn_kill(r->pid, SIGKILL);
}

/* Take a slot under hooks.max_running and the route's max_running. */
static bool
take_slot(const struct cfg *c, const struct cfg_route *rt)
{
	if (!handler_slot_take(&hook_running_total, c->hooks.max_running))
		return false;
	if (!handler_slot_take(rt->running, rt->max_running)) {
		handler_slot_give(&hook_running_total);
		return false;
	}
	return true;
}

/* Give back what take_slot() took. */
static void
give_slot(const struct cfg_route *rt)
{
	handler_slot_give(&hook_running_total);
	handler_slot_give(rt->running);
}

/* envp in one allocation, the strings after the array. */
static char **
env_dup(char *const *envp)
{
	size_t	 n, bytes = 0, len, i;
	char	**v, *p;

	for (n = 0; envp[n] != NULL; n++)
		bytes += strlen(envp[n]) + 1;
	if ((v = malloc((n + 1) * sizeof(*v) + bytes)) == NULL)
		return NULL;
	p = (char *)(v + n + 1);
	for (i = 0; i < n; i++) {
		len = strlen(envp[i]) + 1;
		memcpy(p, envp[i], len);
		v[i] = p;
		p += len;
	}
	v[n] = NULL;
	return v;
}

static void	sp_arm(struct hook_worker *hw);

/* A job back from the spawner: the run starts, or is over. */
static void
spawned(struct hook_run *r, const struct spawn_job *j)
{
	r->spawning = false;
	if (j->rc != 0) {
		r->spawn_rc = j->rc;
		r->exited = true;
		maybe_finish(r);	/* 5.00 "cannot run", and free */
		return;
	}
	r->pid = j->pid;
	r->fd[W_OUT] = j->out_fd;
	r->fd[W_ERR] = j->err_fd;
	r->fd[W_PID] = j->pidfd;
	/* cancelled, timed out or refused while it was being started */
	if (r->kill_spawned || r->timed_out)
		spawn_kill(r->pid, SIGKILL);
	arm(r);
}

/* Take every finished job. */
static void
sp_collect(struct hook_worker *hw)
{
	struct spawn_job	*j, *next;

	for (j = spawner_done(hw->sp); j != NULL; j = next) {
		next = j->next;
		spawned(j->arg, j);
	}
}

static void
on_spawned(void *arg, int fd, unsigned revents)
{
	struct hook_worker	*hw = arg;

	(void)fd;
	(void)revents;
	hw->sp_watch = -1;
	sp_collect(hw);
	sp_arm(hw);
}

static void
sp_retry(void *arg, uint64_t now_ns)
{
	struct hook_worker	*hw = arg;

	(void)now_ns;
	hw->sp_retry = -1;
	sp_arm(hw);
}

/* Watch the spawner's eventfd; when the ring is full, try again soon. */
static void
sp_arm(struct hook_worker *hw)
{
	const struct h_svc	*svc = hw->svc;

	if (hw->sp == NULL || hw->sp_watch >= 0)
		return;
	hw->sp_watch = svc->watch(svc->svc, spawner_fd(hw->sp), POLLIN,
	    on_spawned, hw);
	if (hw->sp_watch < 0 && hw->sp_retry < 0)
		hw->sp_retry = svc->timer(svc->svc, clock_now_ns() + RETRY_NS,
		    sp_retry, hw);
}

/* The worker's spawner, made at its first hook run. */
static int
sp_get(struct hook_worker *hw)
{
	int	 rc;

	if (hw->sp == NULL && (rc = spawner_new(&hw->sp)) != 0) {
		hw->sp = NULL;
		return rc;
	}
	sp_arm(hw);
	return 0;
}

/* Queue r's spawn; stdin_fd is the job's now. */
static void
submit(struct hook_run *r, int stdin_fd)
{
	struct spawn_job	*j = &r->job;

	memset(j, 0, sizeof(*j));
	j->req.argv = r->route->hook;
	j->req.envp = r->envp;
	j->req.fd_in = stdin_fd;
	j->req.fd_out = j->req.fd_err = -1;	/* pipes */
	j->req.set_ids = r->route->set_ids;
	j->req.uid = r->route->uid;
	j->req.gid = r->route->gid;
	j->arg = r;
	r->spawning = true;
	spawner_submit(r->hw->sp, j);
}

int
hook_run_start(struct hook_worker *hw, const struct h_req *req,
    struct coap_resp *resp, char *const *envp, int stdin_fd,
    const struct hook_ask *ask)
{
	const struct cfg_route	*rt = req->route;
	struct hook_run		*r;
	int			 rc, i;

	if ((rc = sp_get(hw)) != 0) {
		close(stdin_fd);
		return rc;
	}
	if (!take_slot(req->cfg, rt)) {
		close(stdin_fd);
		xch_busy(resp);
		return H_DONE;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->envp = env_dup(envp)) == NULL) {
		free(r);
		give_slot(rt);
		close(stdin_fd);
		return -ENOMEM;
	}
	r->hw = hw;
	r->route = rt;
	r->ask = *ask;
	r->counted = true;
	r->timer = r->retry = -1;
	for (i = 0; i < W_N; i++)
		r->fd[i] = r->watch[i] = -1;
	/* a reference: the route outlives a reload while this runs */
	r->cfg = cfg_ref((struct cfg *)req->cfg);
	r->next = hw->runs;
	hw->runs = r;
	hw->nruns++;
	if ((r->x = xch_begin(req, r)) == NULL) {
		/* max_separate reached: this run must not start */
		close(stdin_fd);
		run_free(r);
		xch_busy(resp);
		return H_DONE;
	}
	submit(r, stdin_fd);
	if (rt->timeout_s > 0)
		r->timer = hw->svc->timer(hw->svc->svc, req->now_ns +
		    (uint64_t)rt->timeout_s * NS_PER_SEC, on_timeout, r);
	return H_PENDING;
}

void
hook_run_fini(struct hook_worker *hw, uint32_t grace_s)
{
	struct hook_run		*r;
	struct timespec		 nap = { 0, 20 * 1000 * 1000 };
	uint64_t		 until = clock_now_ns() + grace_s * NS_PER_SEC;
	bool			 left;

	/* every run has its pid, or is over, before the grace starts */
	if (hw->sp != NULL) {
		spawner_stop(hw->sp);
		sp_collect(hw);
		if (hw->sp_watch >= 0)
			hw->svc->unwatch(hw->svc->svc, hw->sp_watch);
		if (hw->sp_retry >= 0)
			hw->svc->untimer(hw->svc->svc, hw->sp_retry);
		hw->sp_watch = hw->sp_retry = -1;
		spawner_free(hw->sp);
		hw->sp = NULL;
	}
	for (r = hw->runs; r != NULL; r = r->next) {
		r->x = NULL;
		if (!r->exited)
			spawn_kill(r->pid, SIGTERM);
	}
	do {
		left = false;
		for (r = hw->runs; r != NULL; r = r->next)
			if (!r->exited && spawn_reap(r->pid, &r->status) == 0)
				left = true;
			else
				r->exited = true;
		if (left)
			nanosleep(&nap, NULL);
	} while (left && clock_now_ns() < until);
	while ((r = hw->runs) != NULL) {
		if (!r->exited) {
			spawn_kill(r->pid, SIGKILL);
			while (waitpid(r->pid, &r->status, 0) < 0 &&
			    errno == EINTR)
				;
		}
		run_free(r);
	}
}
