/*
 * daemon_ctl.c - what the control socket's commands do (coapd-ctl(8)),
 * and the metrics: route slots, the sum over the workers, the
 * Prometheus file written every metrics.interval_s.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapt/cfg.h"
#include "adapt/log.h"
#include "base/clock.h"
#include "base/net.h"
#include "daemon/ctl.h"
#include "daemon/daemon.h"
#include "daemon/daemon_int.h"
#include "proto/fchange.h"
#include "proto/mexport.h"
#include "proto/metrics.h"
#include "proto/observe.h"
#include "proto/route.h"
#include "serve/worker.h"

#define RUN_DIR_DEFAULT	"/run/coapd"

void
daemon_slots(struct coapd *d, struct cfg *c)
{
	struct cfg_route	*r;
	size_t			 i;
	unsigned		 s, empty;

	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		r->stats_slot = 0;
		for (empty = 0, s = 1; s < METRICS_ROUTE_SLOTS; s++) {
			if (d->route_slot[s] == NULL) {
				if (empty == 0)
					empty = s;
			} else if (strcmp(d->route_slot[s], r->path) == 0)
				break;
		}
		if (s < METRICS_ROUTE_SLOTS)
			r->stats_slot = s;
		else if (empty != 0 &&
		    (d->route_slot[empty] = strdup(r->path)) != NULL)
			r->stats_slot = empty;
		else
			log_warnx("route %s: no metrics slot left (%d route "
			    "paths since start), not counted per route",
			    r->path, METRICS_ROUTE_SLOTS - 1);
	}
}

/* The counters summed over the workers, and the counted routes. */
static int
collect(struct coapd *d, struct metrics *sum, struct mexport_route **routes,
    size_t *nr, struct mexport_info *info)
{
	const struct metrics	**per;
	struct timespec		  ts;
	size_t			  i;
	unsigned		  w;

	if ((per = calloc(d->nworkers, sizeof(*per))) == NULL)
		return -ENOMEM;
	for (w = 0; w < d->nworkers; w++)
		per[w] = worker_metrics(d->workers[w]);
	metrics_sum(sum, per, d->nworkers);
	free(per);
	if ((*routes = calloc(d->cfg->nroutes + 1, sizeof(**routes))) == NULL)
		return -ENOMEM;
	for (*nr = 0, i = 0; i < d->cfg->nroutes; i++)
		if (d->cfg->routes[i].stats_slot != 0) {
			(*routes)[*nr].path = d->cfg->routes[i].path;
			(*routes)[(*nr)++].slot = d->cfg->routes[i].stats_slot;
		}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	memset(info, 0, sizeof(*info));
	info->start_time_s = d->start_time_s;
	info->uptime_s = ((uint64_t)ts.tv_sec * NS_PER_SEC +
	    (uint64_t)ts.tv_nsec - d->start_ns) / NS_PER_SEC;
	info->workers = d->nworkers;
	info->reloads = d->reloads;
	info->reload_failures = d->reload_failures;
	return 0;
}

enum fmt { FMT_TABLE, FMT_JSON, FMT_PROM };

static int
export(struct coapd *d, enum fmt f, struct mbuf *out)
{
	struct metrics		*sum;
	struct mexport_route	*r = NULL;
	struct mexport_info	 info;
	size_t			 nr = 0;
	int			 e;

	/* ~10 KiB with the route slots: not on the main thread's stack */
	if ((sum = calloc(1, sizeof(*sum))) == NULL)
		return -ENOMEM;
	if ((e = collect(d, sum, &r, &nr, &info)) == 0)
		e = f == FMT_JSON ? mexport_json(out, sum, r, nr, &info) :
		    f == FMT_PROM ? mexport_prom(out, sum, r, nr, &info) :
		    mexport_table(out, sum, r, nr, &info);
	free(r);
	free(sum);
	return e;
}

/* FILE.tmp in the same directory, then rename(): readers see whole files. */
static int
write_atomic(const char *path, const struct mbuf *b)
{
	char	 tmp[4096 + 8];
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd, e = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd == -1)
		return -errno;
	while (off < b->len && e == 0) {
		if ((n = write(fd, b->p + off, b->len - off)) < 0) {
			if (errno != EINTR)
				e = -errno;
		} else
			off += (size_t)n;
	}
	if (close(fd) == -1 && e == 0)
		e = -errno;
	if (e == 0 && rename(tmp, path) == -1)
		e = -errno;
	if (e != 0)
		unlink(tmp);
	return e;
}

int
daemon_metrics_tick(struct coapd *d, uint64_t now_ns)
{
	struct mbuf	 b = { 0 };
	const char	*file = d->cfg->metrics.file;
	int		 e;

	if (file == NULL)
		return CLOCK_WAIT_FOREVER;
	if (now_ns >= d->metrics_due_ns) {
		if ((e = export(d, FMT_PROM, &b)) == 0)
			e = write_atomic(file, &b);
		mbuf_free(&b);
		/* once per kind of failure, not every interval */
		if (e != 0 && e != d->metrics_err)
			log_warnx("metrics.file %s: %s", file, strerror(-e));
		else if (e == 0 && d->metrics_err != 0)
			log_info("metrics.file %s: written again", file);
		d->metrics_err = e;
		d->metrics_due_ns = now_ns +
		    (uint64_t)d->cfg->metrics.interval_s * NS_PER_SEC;
	}
	return (int)((d->metrics_due_ns - now_ns) / NS_PER_MS) + 1;
}

struct reload_out {
	struct mbuf	*out;
};

static void
reload_line(void *arg, const char *line)
{
	struct reload_out	*ro = arg;

	mbuf_printf(ro->out, "%s\n", line);
}

static bool
cmd_reload(struct coapd *d, struct mbuf *out)
{
	struct reload_out	 ro = { out };
	int			 r;

	r = coapd_reload(d, reload_line, &ro);
	if (r == 0) {
		mbuf_printf(out, "%s: reloaded, %zu routes\n", d->conf_path,
		    d->cfg->nroutes);
		return true;
	}
	if (r != -EINVAL)
		mbuf_printf(out, "%s: %s\n", d->conf_path, strerror(-r));
	mbuf_printf(out, "%s: rejected, the running configuration stays\n",
	    d->conf_path);
	return false;
}

static bool
cmd_status(struct coapd *d, struct mbuf *out)
{
	struct mexport_info	 info;
	struct mexport_route	*r = NULL;
	struct metrics		*sum;
	char			 a[NET_ADDRSTRLEN];
	size_t			 nr, i;

	if ((sum = calloc(1, sizeof(*sum))) == NULL ||
	    collect(d, sum, &r, &nr, &info) != 0) {
		free(sum);
		mbuf_printf(out, "out of memory\n");
		return false;
	}
	mbuf_printf(out, "version %s\npid %ld\nuptime_s %llu\nconfig %s\n"
	    "workers %u\nroutes %zu\n", COAPD_VERSION, (long)getpid(),
	    (unsigned long long)info.uptime_s, d->conf_path, d->nworkers,
	    d->cfg->nroutes);
	for (i = 0; i < d->cfg->nlisten; i++) {
		net_addr_str((const struct sockaddr *)&d->cfg->listen[i].addr,
		    a, sizeof(a));
		mbuf_printf(out, "listen %s %s\n", a,
		    d->cfg->listen[i].dtls ? "dtls" : "udp");
	}
	mbuf_printf(out, "requests %llu\nmetrics_file %s\nlast_reload %s\n",
	    (unsigned long long)metrics_get(&sum->requests),
	    d->cfg->metrics.file != NULL ? d->cfg->metrics.file : "-",
	    d->last_reload);
	free(r);
	free(sum);
	return true;
}

/*
 * The hash observers of path (matched by rt) go by: the file's for a
 * static route, the request path's for a hook route (notify.h).
 */
static uint64_t
notify_hash(const struct cfg_route *rt, const char *path, const char *rest)
{
	const char	*parts[2];

	if (rt->kind == ROUTE_HOOK) {
		parts[0] = path;
		return observe_path_hash(parts, 1);
	}
	parts[0] = rt->static_path;
	parts[1] = rest != NULL ? rest : "";
	return observe_path_hash(parts, rt->static_is_dir ? 2 : 1);
}

/*
 * notify PATH: the observers of PATH hear its state now, as after a file
 * change (static routes), or from one run of the hook per worker that
 * has observers of PATH; an unchanged answer sends nothing (notify.c).
 */
static bool
cmd_notify(struct coapd *d, char *path, struct mbuf *out)
{
	const struct cfg_route	*rt;
	const char		*rest = "";
	struct fchange		*c;
	size_t			 len = strlen(path);
	unsigned		 w;

	/* as a request names it: "/a/" is "/a" */
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	if (path[0] != '/' || strstr(path, "//") != NULL) {
		mbuf_printf(out, "usage: notify /PATH\n");
		return false;
	}
	rt = route_match(d->cfg->table, path, len, &rest);
	if (rt == NULL) {
		mbuf_printf(out, "%s: no route\n", path);
		return false;
	}
	if (!rt->observe || rt->kind == ROUTE_BACKEND) {
		mbuf_printf(out, "%s: route %s is not observable (%s)\n", path,
		    rt->path, rt->observe ? "a backend route" :
		    "observe = false");
		return false;
	}
	if ((c = fchange_new(1)) == NULL) {
		mbuf_printf(out, "out of memory\n");
		return false;
	}
	c->hash[c->n++] = notify_hash(rt, path, rest);
	/* the file caches first, as for an inotify event (daemon.c) */
	atomic_fetch_add_explicit(&d->file_gen, 1, memory_order_release);
	for (w = 0; w < d->nworkers; w++)
		worker_post_change(d->workers[w], c);
	fchange_unref(c);
	mbuf_printf(out, "%s: observers notified (route %s)\n", path,
	    rt->path);
	return true;
}

static bool
run_cmd(void *arg, char *line, struct mbuf *out)
{
	struct coapd	*d = arg;
	char		*cmd, *a1, *a2, *sp = NULL;

	cmd = strtok_r(line, " \t", &sp);
	a1 = strtok_r(NULL, " \t", &sp);
	a2 = strtok_r(NULL, " \t", &sp);
	if (cmd != NULL && a2 == NULL) {
		if (strcmp(cmd, "reload") == 0 && a1 == NULL)
			return cmd_reload(d, out);
		if (strcmp(cmd, "status") == 0 && a1 == NULL)
			return cmd_status(d, out);
		if (strcmp(cmd, "notify") == 0 && a1 != NULL)
			return cmd_notify(d, a1, out);
		if (strcmp(cmd, "stats") == 0 && (a1 == NULL ||
		    strcmp(a1, "json") == 0 || strcmp(a1, "prometheus") == 0))
			return export(d, a1 == NULL ? FMT_TABLE : a1[0] == 'j' ?
			    FMT_JSON : FMT_PROM, out) == 0;
	}
	mbuf_printf(out, "commands: reload, status, stats [json|prometheus], "
	    "notify /PATH\n");
	return false;
}

/*
 * Outside systemd (no RuntimeDirectory=) nothing made /run/coapd: make it,
 * 0755 like systemd's RuntimeDirectory=, and when coapd is to become
 * `user`, give it to that user, so that the daemon can still remove its
 * socket at exit after the drop (systemd gives the service user its
 * RuntimeDirectory= too).  An existing directory is left as it is.
 */
static void
run_dir_make(const struct cfg *c)
{
	if (mkdir(RUN_DIR_DEFAULT, 0755) == -1) {
		if (errno != EEXIST)
			log_warn("mkdir %s", RUN_DIR_DEFAULT);
		return;
	}
	if (c->drop && geteuid() == 0 &&
	    chown(RUN_DIR_DEFAULT, c->uid, c->gid) == -1)
		log_warn("chown %s", RUN_DIR_DEFAULT);
}

int
daemon_ctl_open(struct coapd *d)
{
	const char	*rd = getenv("RUNTIME_DIRECTORY");
	const char	*path = d->cfg->control_socket;
	char		 def[256], err[256];
	size_t		 n;
	int		 r;

	if (path != NULL && path[0] == '\0')
		return 0;	/* control_socket = "": none */
	if (path == NULL) {
		/* systemd's RuntimeDirectory=; the first of a list */
		n = rd != NULL && rd[0] != '\0' ? strcspn(rd, ":") : 0;
		snprintf(def, sizeof(def), "%.*s/control", n > 0 ? (int)n :
		    (int)strlen(RUN_DIR_DEFAULT), n > 0 ? rd : RUN_DIR_DEFAULT);
		if (n == 0)
			run_dir_make(d->cfg);
	}
	r = ctl_open(&d->ctl, path != NULL ? path : def, run_cmd, d, err,
	    sizeof(err));
	/* made before the drop: the socket belongs to the user coapd becomes */
	if (r == 0 && d->cfg->drop && geteuid() == 0 &&
	    chown(path != NULL ? path : def, d->cfg->uid, d->cfg->gid) == -1)
		log_warn("chown %s", path != NULL ? path : def);
	if (r == 0)
		log_info("control socket %s", path != NULL ? path : def);
	else if (path == NULL) {
		log_warnx("%s: coapd-ctl cannot reach this coapd (set "
		    "control_socket)", err);
		r = 0;
	} else
		log_warnx("%s", err);
	return r;
}

void
daemon_ctl_close(struct coapd *d)
{
	unsigned	 s;

	ctl_close(d->ctl);
	d->ctl = NULL;
	for (s = 0; s < METRICS_ROUTE_SLOTS; s++) {
		free(d->route_slot[s]);
		d->route_slot[s] = NULL;
	}
}
