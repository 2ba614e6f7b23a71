/*
 * daemon.c - start-up order, signals and reload (after Knot's
 * server_reload(): build the new snapshot aside, swap on success, keep the
 * old one on failure).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "adapt/cfg.h"
#include "base/clock.h"
#include "daemon/ctl.h"
#include "daemon/daemon.h"
#include "daemon/daemon_int.h"
#include "adapt/dtls.h"
#include "proto/fchange.h"
#include "daemon/fwatch.h"
#include "adapt/log.h"
#include "base/net.h"
#include "proto/metrics.h"
#include "adapt/sd.h"
#include "adapt/uring.h"
#include "serve/worker.h"

static void
err_to_stderr(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s\n", line);
}

int
coapd_check(const char *path)
{
	struct cfg	*c;
	int		 r;

	r = cfg_load(path, &c, err_to_stderr, NULL);
	if (r != 0) {
		if (r != -EINVAL)
			fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return 1;
	}
	printf("%s: configuration OK\n", path);
	cfg_unref(c);
	return 0;
}

#ifndef COAPD_SYSCONFDIR
#define COAPD_SYSCONFDIR "/etc"
#endif

void
coapd_version(void)
{
	char	 dtls[2048];

	printf("coapd %s\n", COAPD_VERSION);
	printf("libraries:\n"
	    "  liburing    %s\n"
	    "  libconfig   %s\n"
	    "  libsystemd  %s\n"
	    "  wolfSSL     %s\n", uring_version(), cfg_lib_version(),
	    sd_lib_version(), dtls_lib_version());
	/* what this binary was built with: the settings of the Makefile */
	printf("features:\n"
	    "  configuration  %s/coapd.conf (default for -c)\n"
	    "  transports     CoAP over UDP (io_uring, SO_REUSEPORT), "
	    "DTLS 1.2 PSK\n"
	    "  routes         static, hook, backend\n"
	    "  CCM-8          %s\n"
	    "  systemd        sd_notify (Type=notify, watchdog), journald "
	    "fields\n", COAPD_SYSCONFDIR, dtls_has_ccm8() ? "yes" :
	    "no (wolfSSL without WOLFSSL_STATIC_PSK)");
	dtls_describe(dtls, sizeof(dtls));
	fputs(dtls, stdout);
}

/*
 * SIGUSR1 report: the counters summed over the workers as "name value"
 * pairs, the single counters on the first line ("stats, rx N, tx N, ...")
 * and each array on a line of its own ("stats, drops_truncated N, ...").
 * A line that would outgrow the buffer continues on the next one, so no
 * counter is ever cut off.
 */
struct stats_line {
	char	 buf[900];	/* all single counters fit, at 20 digits */
	size_t	 len;
	char	 family[32];	/* array on this line; "" for singles */
};

static void
stats_flush(struct stats_line *l)
{
	if (l->len > 0)
		log_info("stats, %s", l->buf);
	l->len = 0;
	l->buf[0] = '\0';
}

static void
stats_add(void *arg, const struct metric_entry *e)
{
	struct stats_line	*l = arg;
	const char		*fam = e->label != NULL ? e->family : "";
	size_t			 room;
	int			 n;

	if (strcmp(l->family, fam) != 0) {
		stats_flush(l);
		snprintf(l->family, sizeof(l->family), "%s", fam);
	}
	room = sizeof(l->buf) - l->len;
	n = snprintf(l->buf + l->len, room, "%s%s %llu",
	    l->len > 0 ? ", " : "", e->name, (unsigned long long)e->value);
	if (n >= 0 && (size_t)n >= room && l->len > 0) {
		/* Full: end the line here, start the next with this pair. */
		l->buf[l->len] = '\0';
		stats_flush(l);
		room = sizeof(l->buf);
		n = snprintf(l->buf, room, "%s %llu", e->name,
		    (unsigned long long)e->value);
	}
	if (n < 0)
		return;
	l->len += (size_t)n < room ? (size_t)n : room - 1;
}

/*
 * SIGUSR1: every counter of the table in metrics.h, summed over the
 * workers, so an operator (and the tests) can see them without a
 * debugger; then rx and requests per worker.
 */
static void
log_stats(const struct coapd *d)
{
	const struct metrics	**per, *m;
	struct metrics		  sum;
	struct stats_line	  l;
	unsigned		  w;

	if ((per = calloc(d->nworkers, sizeof(*per))) == NULL) {
		log_warnx("stats, out of memory");
		return;
	}
	for (w = 0; w < d->nworkers; w++)
		per[w] = worker_metrics(d->workers[w]);
	metrics_sum(&sum, per, d->nworkers);
	free(per);
	memset(&l, 0, sizeof(l));
	metrics_foreach(&sum, stats_add, &l);
	stats_flush(&l);
	/* Per worker: shows how the steering program spreads clients. */
	for (w = 0; w < d->nworkers; w++) {
		m = worker_metrics(d->workers[w]);
		log_info("stats, worker %u, rx %llu, requests %llu", w,
		    (unsigned long long)metrics_get(&m->rx),
		    (unsigned long long)metrics_get(&m->requests));
	}
}

static int
bind_all(struct coapd *d)
{
	struct cfg	*c = d->cfg;
	char		 a[NET_ADDRSTRLEN];
	size_t		 l;
	unsigned	 w;
	int		 fd, got, r;

	d->nfds = c->nlisten * d->nworkers;
	d->fds = calloc(d->nfds, sizeof(*d->fds));
	d->fd_dtls = calloc(d->nfds, sizeof(*d->fd_dtls));
	if (d->fds == NULL || d->fd_dtls == NULL)
		fatalx("out of memory");
	for (l = 0; l < c->nlisten; l++) {
		const struct cfg_listen *li = &c->listen[l];

		net_addr_str((const struct sockaddr *)&li->addr, a, sizeof(a));
		/*
		 * The reuseport group's socket order is the bind order, and
		 * the steering program returns an index into it: worker w
		 * must own the w-th socket of every group.
		 */
		for (w = 0; w < d->nworkers; w++) {
			fd = net_udp_bind((const struct sockaddr *)&li->addr,
			    li->addrlen, (int)c->rcvbuf_bytes,
			    (int)c->sndbuf_bytes, &got);
			if (fd < 0) {
				log_warnx("listen %s: %s", a, strerror(-fd));
				return fd;
			}
			d->fds[l * d->nworkers + w] = fd;
			d->fd_dtls[l * d->nworkers + w] = li->dtls;
			if (w == 0 && got > 0 &&
			    (unsigned)got < c->rcvbuf_bytes)
				log_warnx("listen %s, receive buffer is %d "
				    "bytes, not %u: raise net.core.rmem_max "
				    "(make install ships sysctl.d/60-coapd.conf;"
				    " sysctl --system applies it) or run with "
				    "CAP_NET_ADMIN", a, got, c->rcvbuf_bytes);
		}
		r = net_reuseport_steer(d->fds[l * d->nworkers], d->nworkers);
		if (r < 0)
			log_warnx("listen %s, cannot steer clients by address "
			    "(%s): the kernel's 4-tuple hash is used", a,
			    strerror(-r));
	}
	return 0;
}

static int
start_workers(struct coapd *d)
{
	char	 err[320];
	int	 fds[WORKER_MAX_SOCKS];
	bool	 dtls[WORKER_MAX_SOCKS];
	size_t	 l, nl = d->cfg->nlisten;
	unsigned w;
	int	 r;

	if (nl > WORKER_MAX_SOCKS) {
		log_warnx("%zu listen entries, at most %d", nl,
		    WORKER_MAX_SOCKS);
		return -E2BIG;
	}
	d->workers = calloc(d->nworkers, sizeof(*d->workers));
	if (d->workers == NULL)
		return -ENOMEM;
	for (w = 0; w < d->nworkers; w++) {
		for (l = 0; l < nl; l++) {
			fds[l] = d->fds[l * d->nworkers + w];
			dtls[l] = d->fd_dtls[l * d->nworkers + w];
		}
		r = worker_start(&d->workers[w], w, d->cfg, &d->env, fds, dtls, nl, err,
		    sizeof(err));
		if (r != 0) {
			log_warnx("%s", err);
			return r;
		}
	}
	return 0;
}

/* Every error of a reload: to the log, and to whoever asked (ctl). */
struct reload_err {
	cfg_err_fn	*fn;
	void		*arg;
	unsigned	 n;
};

static void
reload_err(void *arg, const char *line)
{
	struct reload_err	*e = arg;

	e->n++;
	log_warnx("%s", line);
	if (e->fn != NULL)
		e->fn(e->arg, line);
}

static void
reload_note(struct coapd *d, bool ok, const char *what)
{
	struct tm	 tm;
	time_t		 t = time(NULL);
	char		 when[32];

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(d->last_reload, sizeof(d->last_reload), "%s %s %s",
	    ok ? "ok" : "failed", when, what);
	if (ok)
		d->reloads++;
	else
		d->reload_failures++;
}

int
coapd_reload(struct coapd *d, cfg_err_fn *err, void *arg)
{
	struct reload_err	 e = { err, arg, 0 };
	struct cfg		*c, *old;
	char			 status[128];
	unsigned		 w, i;
	int			 r;

	sd_reloading();
	log_info("reloading %s", d->conf_path);
	/* listen, workers, user ... differing from d->cfg: refused */
	r = cfg_reload(d->conf_path, d->cfg, &c, reload_err, &e);
	if (r != 0) {
		snprintf(status, sizeof(status), "(%s)", r == -EINVAL ?
		    "configuration errors" : strerror(-r));
		log_warnx("reload failed %s, keeping the running "
		    "configuration", status);
		reload_note(d, false, status);
		sd_ready("reload failed, running the previous configuration");
		return r;
	}
	log_set_level(c->log_level);
	daemon_slots(d, c);
	for (w = 0; w < d->nworkers; w++)
		worker_set_cfg(d->workers[w], c);
	/*
	 * The verdict (coapd-ctl reload) is given once every worker has
	 * switched, so a request sent after it sees the new routes.  A worker
	 * takes it on its next loop: within microseconds, bounded here.
	 */
	for (w = 0, i = 0; w < d->nworkers && i < 2000; i++) {
		if (worker_cfg_taken(d->workers[w]))
			w++;
		else
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 },
			    NULL);
	}
	old = d->cfg;
	d->cfg = c;
	cfg_unref(old);
	if (d->fw != NULL)
		fwatch_set_cfg(d->fw, c);
	snprintf(status, sizeof(status), "reloaded, %zu routes",
	    c->nroutes);
	reload_note(d, true, status + 10);
	log_info("%s", status);
	sd_ready(status);
	return 0;
}

static void
shutdown_all(struct coapd *d)
{
	unsigned	 w;
	size_t		 i;

	for (w = 0; w < d->nworkers && d->workers != NULL; w++)
		if (d->workers[w] != NULL)
			worker_stop(d->workers[w]);
	for (w = 0; w < d->nworkers && d->workers != NULL; w++)
		if (d->workers[w] != NULL)
			worker_join(d->workers[w]);
	for (i = 0; i < d->nfds; i++)
		if (d->fds[i] > 0)
			close(d->fds[i]);
	daemon_ctl_close(d);
	free(d->workers);
	sd_life_free(d);
	fwatch_free(d->fw);
	free(d->fds);
	free(d->fd_dtls);
	if (d->sigfd >= 0)
		close(d->sigfd);
	cfg_unref(d->cfg);
}

/*
 * Hand a due batch of file changes to every worker: the generation first,
 * so the file caches are stale before any observer is notified.
 */
static void
files_changed(struct coapd *d)
{
	struct fchange	*c;
	unsigned	 w;

	if (d->fw == NULL ||
	    (c = fwatch_take(d->fw, clock_now_ns())) == NULL)
		return;
	atomic_fetch_add_explicit(&d->file_gen, 1, memory_order_release);
	for (w = 0; w < d->nworkers; w++)
		worker_post_change(d->workers[w], c);
	fchange_unref(c);
}

/*
 * Load the configuration and block the signals this thread reads from a
 * signalfd.  Returns 0, or the exit status when coapd cannot start.
 */
static int
coapd_init(struct coapd *d, const char *path)
{
	sigset_t	 set;
	int		 r;

	memset(d, 0, sizeof(*d));
	d->conf_path = path;
	d->sigfd = -1;
	d->env.file_gen = &d->file_gen;
	handler_table_init(&d->env);
	log_init(LOG_LVL_INFO, "coapd");
	r = cfg_load(path, &d->cfg, err_to_stderr, NULL);
	if (r != 0) {
		if (r != -EINVAL)
			fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return 1;
	}
	log_set_level(d->cfg->log_level);
	d->nworkers = d->cfg->workers;
	d->start_ns = clock_now_ns();
	d->start_time_s = (uint64_t)time(NULL);
	snprintf(d->last_reload, sizeof(d->last_reload), "never");
	daemon_slots(d, d->cfg);

	/* Signals are read from a signalfd by this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((d->sigfd = signalfd(-1, &set, SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	return 0;
}

/*
 * Bind the sockets, start the workers and the file watcher, tell systemd.
 * Returns 0 or a negative errno (the caller then shuts down).
 */
static int
coapd_start(struct coapd *d)
{
	char	 status[128];
	int	 r;

	/*
	 * READY=1 only once every worker has its sockets and its ring; the
	 * control socket is made before the drop to user = "..." (its
	 * directory may be root's).
	 */
	if ((r = bind_all(d)) != 0 || (r = daemon_ctl_open(d)) != 0 ||
	    (r = coapd_drop_privileges(d)) != 0 ||
	    (r = start_workers(d)) != 0 || (r = sd_life_start(d)) != 0)
		return r;
	snprintf(status, sizeof(status), "serving %zu routes with %u "
	    "workers", d->cfg->nroutes, d->nworkers);
	log_info("coapd %s started, %s", COAPD_VERSION, status);
	sd_ready(status);

	/* File changes: the caches' generation and Observe (fwatch.h). */
	if ((r = fwatch_new(&d->fw)) == 0)
		fwatch_set_cfg(d->fw, d->cfg);
	else
		log_warnx("inotify unavailable (%s): file changes are seen "
		    "within a second, observers are not notified",
		    strerror(-r));
	return 0;
}

/* Act on one signal; false when it asks coapd to stop. */
static bool
handle_signal(struct coapd *d, const struct signalfd_siginfo *si)
{
	switch (si->ssi_signo) {
	case SIGHUP:
		(void)coapd_reload(d, NULL, NULL);
		break;
	case SIGUSR1:
		log_stats(d);
		break;
	case SIGINT:
	case SIGTERM:
		log_info("signal %d, shutting down", si->ssi_signo);
		return false;
	}
	return true;
}

/* The soonest of two timeouts in ms (CLOCK_WAIT_FOREVER: none). */
static int
soonest(int a, int b)
{
	if (a == CLOCK_WAIT_FOREVER)
		return b;
	return b != CLOCK_WAIT_FOREVER && b < a ? b : a;
}

/* poll()'s slots: signals, inotify, then the control socket's. */
#define PFD_SIG		0
#define PFD_FW		1
#define PFD_CTL		2
#define PFD_N		(PFD_CTL + CTL_POLLFDS)

/*
 * The main thread's loop until SIGINT/SIGTERM: signals, the inotify
 * watcher and its coalescing timer, the control socket, the metrics file,
 * the watchdog and STATUS= (daemon_sd.c), in one poll().
 */
static void
main_loop(struct coapd *d)
{
	struct signalfd_siginfo	 si;
	struct pollfd		 pfd[PFD_N];
	uint64_t		 now;
	int			 i, r, ms;
	bool			 run = true;

	for (i = 0; i < PFD_N; i++)
		pfd[i] = (struct pollfd){ .fd = -1, .events = POLLIN };
	pfd[PFD_SIG].fd = d->sigfd;
	while (run) {
		now = clock_now_ns();
		/* fwatch_set_cfg() on reload may change the descriptor. */
		pfd[PFD_FW].fd = d->fw != NULL ? fwatch_fd(d->fw) : -1;
		ms = soonest(sd_life_timeout_ms(d, now), d->fw != NULL ?
		    fwatch_timeout_ms(d->fw, now) : CLOCK_WAIT_FOREVER);
		ms = soonest(ms, daemon_metrics_tick(d, now));
		if (d->ctl != NULL) {
			ctl_pollfds(d->ctl, &pfd[PFD_CTL]);
			ms = soonest(ms, ctl_timeout_ms(d->ctl, now));
		}
		r = poll(pfd, PFD_N, ms);
		sd_life_tick(d, clock_now_ns());
		if (r > 0 && (pfd[PFD_FW].revents & POLLIN)) {
			fwatch_read(d->fw, clock_now_ns());
			/*
			 * Caches go stale at once; only the notifications
			 * to observers wait for the coalescing window.
			 */
			atomic_fetch_add_explicit(&d->file_gen, 1,
			    memory_order_release);
		}
		files_changed(d);
		if (d->ctl != NULL)
			ctl_events(d->ctl, &pfd[PFD_CTL], clock_now_ns());
		if (r <= 0 || !(pfd[PFD_SIG].revents & POLLIN))
			continue;
		if (read(d->sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		run = handle_signal(d, &si);
	}
}

int
coapd_run(const char *path)
{
	struct coapd	 d;
	int		 r;

	if ((r = coapd_init(&d, path)) != 0)
		return r;
	if (coapd_start(&d) != 0) {
		shutdown_all(&d);
		return 1;
	}
	main_loop(&d);
	coapd_drain(&d);
	shutdown_all(&d);
	log_info("stopped");
	return 0;
}
