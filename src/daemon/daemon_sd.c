/*
 * daemon_sd.c - life under a service manager, from the main thread: the
 * STATUS= line, the watchdog that only barks for a process whose workers
 * all make progress, and the graceful stop on SIGTERM.
 *
 * Watchdog: every worker counts the turns of its loop (worker_beat()); a
 * healthy loop turns at least every 100 ms (its multishot tick).  Every
 * half WatchdogSec= the main thread compares the counts with the previous
 * ones and sends WATCHDOG=1 only when all of them moved.  A worker stuck in
 * a handler (or a ring that no longer completes) stops the pings, and
 * systemd restarts the service (Restart=on-failure).
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "adapt/cfg.h"
#include "base/clock.h"
#include "daemon/daemon.h"
#include "daemon/daemon_int.h"
#include "adapt/log.h"
#include "proto/metrics.h"
#include "adapt/sd.h"
#include "serve/worker.h"

#define SD_STATUS_NS	(5 * NS_PER_SEC)	/* STATUS= refresh */
#define DRAIN_POLL_MS	20
#define SD_BEAT_WINDOW_NS (300 * NS_PER_MS)	/* > 100 ms worker tick */

/*
 * Requests and refusals for lack of room, summed over the workers; the
 * worst load level of a worker (ratelimit.h: 0 normal, 1 throttled, 2
 * shedding) and how many workers are at it.
 */
static void
sd_sums(const struct coapd *d, uint64_t *requests, uint64_t *busy,
    uint64_t *level, unsigned *at_level)
{
	const struct metrics	*m;
	uint64_t		 l;
	unsigned		 w;

	*requests = *busy = *level = 0;
	*at_level = 0;
	for (w = 0; w < d->nworkers; w++) {
		m = worker_metrics(d->workers[w]);
		*requests += metrics_get(&m->requests);
		*busy += metrics_get(&m->xch_busy) +
		    metrics_get(&m->drops[DROP_NOBUFS]) +
		    metrics_get(&m->shed_503) +
		    metrics_get(&m->drops[DROP_SHED_NON]);
		l = metrics_get(&m->load_level);
		if (l > *level) {
			*level = l;
			*at_level = 0;
		}
		if (l == *level)
			(*at_level)++;
	}
}

/*
 * The one-line summary systemctl status shows: workers, routes, the
 * request rate since the previous line, the load level of the worst
 * worker ("load normal", "load throttled (1 of 2 workers)", "load
 * shedding (...)": coapd.conf(5) Load shedding), and the requests refused
 * for lack of room since the previous line (max_separate, no receive
 * buffer, shed) when there were any.
 */
void
sd_life_status(struct coapd *d, uint64_t now)
{
	static const char *const names[] = { "normal", "throttled",
	    "shedding" };
	char		 line[200], lvl[48], ref[40] = "";
	uint64_t	 req, busy, dt, level;
	unsigned	 at;
	double		 rate = 0;

	sd_sums(d, &req, &busy, &level, &at);
	dt = now - d->sd.last_status_ns;
	if (d->sd.last_status_ns != 0 && dt > 0)
		rate = (double)(req - d->sd.last_requests) * 1e9 / (double)dt;
	if (level == 0)
		snprintf(lvl, sizeof(lvl), "normal");
	else
		snprintf(lvl, sizeof(lvl), "%s (%u of %u workers)",
		    names[level < 2 ? level : 2], at, d->nworkers);
	if (busy != d->sd.last_busy)
		snprintf(ref, sizeof(ref), ", %llu refused",
		    (unsigned long long)(busy - d->sd.last_busy));
	snprintf(line, sizeof(line), "%u workers, %zu routes, %.1f req/s, "
	    "load %s%s", d->nworkers, d->cfg->nroutes, rate, lvl, ref);
	d->sd.last_requests = req;
	d->sd.last_busy = busy;
	d->sd.last_status_ns = now;
	d->sd.next_status_ns = now + SD_STATUS_NS;
	sd_status(line);
}

int
sd_life_start(struct coapd *d)
{
	uint64_t	 now = clock_now_ns(), level;
	unsigned	 at;

	d->sd.wd_ns = sd_watchdog_usec() * 1000;
	if (d->sd.wd_ns != 0) {
		d->sd.beats = calloc(d->nworkers, sizeof(*d->sd.beats));
		if (d->sd.beats == NULL)
			return -ENOMEM;
		d->sd.next_wd_ns = now + d->sd.wd_ns / 2;
		d->sd.last_check_ns = now;
	}
	d->sd.last_status_ns = now;
	d->sd.next_status_ns = now + SD_STATUS_NS;
	sd_sums(d, &d->sd.last_requests, &d->sd.last_busy, &level, &at);
	return 0;
}

void
sd_life_free(struct coapd *d)
{
	free(d->sd.beats);
	d->sd.beats = NULL;
}

/* Milliseconds until sd_life_tick() has work, for poll(). */
int
sd_life_timeout_ms(const struct coapd *d, uint64_t now)
{
	uint64_t	 next = d->sd.next_status_ns;

	if (d->sd.wd_ns != 0 && d->sd.next_wd_ns < next)
		next = d->sd.next_wd_ns;
	if (next <= now)
		return 0;
	return (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);
}

/* Every worker moved since the last check?  Logs the first that did not. */
static bool
sd_all_progress(struct coapd *d)
{
	unsigned	 w;
	uint64_t	 b;
	bool		 ok = true;

	for (w = 0; w < d->nworkers; w++) {
		b = worker_beat(d->workers[w]);
		if (b == d->sd.beats[w] && ok) {
			if (!d->sd.stuck)
				log_warnx("worker %u made no progress for "
				    "%llu ms: watchdog not pinged", w,
				    (unsigned long long)((clock_now_ns() -
				    d->sd.last_check_ns) / NS_PER_MS));
			ok = false;
		}
		d->sd.beats[w] = b;
	}
	if (ok && d->sd.stuck)
		log_notice("every worker makes progress again");
	return ok;
}

void
sd_life_tick(struct coapd *d, uint64_t now)
{
	if (d->sd.wd_ns != 0 && now >= d->sd.next_wd_ns) {
		/*
		 * A healthy worker turns every 100 ms: judge progress over
		 * windows of at least SD_BEAT_WINDOW_NS, whatever short
		 * WatchdogSec= asks for; in between the last verdict holds.
		 */
		if (now - d->sd.last_check_ns >= SD_BEAT_WINDOW_NS) {
			d->sd.stuck = !sd_all_progress(d);
			d->sd.last_check_ns = now;
		}
		if (!d->sd.stuck)
			sd_watchdog_ping();
		d->sd.next_wd_ns = now + d->sd.wd_ns / 2;
	}
	if (now >= d->sd.next_status_ns)
		sd_life_status(d, now);
}

/* A second SIGTERM or SIGINT while draining: true to stop at once. */
static bool
drain_interrupted(struct coapd *d)
{
	struct signalfd_siginfo	 si;
	struct pollfd		 pfd = { .fd = d->sigfd, .events = POLLIN };

	if (poll(&pfd, 1, DRAIN_POLL_MS) <= 0)
		return false;
	if (read(d->sigfd, &si, sizeof(si)) != sizeof(si))
		return false;
	return si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT;
}

/*
 * SIGTERM: STOPPING=1, then let every worker drain (worker_drain()) for
 * up to shutdown_grace_s; the caller then stops and joins them.
 */
void
coapd_drain(struct coapd *d)
{
	uint64_t	 start = clock_now_ns(), until, now;
	uint32_t	 grace = d->cfg->shutdown_grace_s;
	unsigned	 w, left;

	sd_stopping();
	if (grace == 0 || d->workers == NULL)
		return;
	until = start + (uint64_t)grace * NS_PER_SEC;
	sd_status("stopping: finishing the exchanges in flight");
	for (w = 0; w < d->nworkers; w++)
		worker_drain(d->workers[w], until);
	for (;;) {
		for (w = 0, left = 0; w < d->nworkers; w++)
			left += !worker_done(d->workers[w]);
		now = clock_now_ns();
		/* a worker ends by itself at until; a second more at most */
		if (left == 0 || now > until + NS_PER_SEC)
			break;
		if (drain_interrupted(d)) {
			log_notice("second signal: stopping at once");
			break;
		}
	}
	if (left == 0)
		log_info("exchanges in flight finished in %llu ms",
		    (unsigned long long)((now - start) / NS_PER_MS));
	else
		log_warnx("%u workers still busy after %u s "
		    "(shutdown_grace_s): stopping them", left, grace);
}

/*
 * user = "...": become that user (and group, which also replaces the
 * supplementary groups) once the sockets are bound, the trees opened and the key file
 * read, before any worker or hook exists.  Checked: afterwards root
 * cannot be regained.
 */
int
coapd_drop_privileges(struct coapd *d)
{
	const struct cfg	*c = d->cfg;

	if (!c->drop || (getuid() == c->uid && geteuid() == c->uid &&
	    getgid() == c->gid && getegid() == c->gid))
		return 0;
	if ((geteuid() == 0 && setgroups(1, &c->gid) == -1) ||
	    setresgid(c->gid, c->gid, c->gid) == -1 ||
	    setresuid(c->uid, c->uid, c->uid) == -1) {
		log_warn("cannot become user %s (uid %u, gid %u)", c->user,
		    (unsigned)c->uid, (unsigned)c->gid);
		return -EPERM;
	}
	if (c->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		log_warnx("user %s: root could be regained, stopping",
		    c->user);
		return -EPERM;
	}
	log_info("running as user %s (uid %u, gid %u)", c->user,
	    (unsigned)c->uid, (unsigned)c->gid);
	return 0;
}
