/*
 * daemon.h - the process: start-up order, sockets, workers, signals,
 * reload.  main.c only parses argv and calls these.
 */
#ifndef COAPD_DAEMON_H
#define COAPD_DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/metrics.h"
#include "serve/handler.h"

struct ctl;
struct fwatch;
struct worker;

/* systemd: the STATUS= line and the watchdog (daemon.c, "sd_*"). */
struct coapd_sd {
	uint64_t	  wd_ns;	/* WatchdogSec=, 0 without */
	uint64_t	  next_wd_ns;	/* next progress check and ping */
	uint64_t	 *beats;	/* worker_beat() at the last check */
	uint64_t	  last_check_ns;
	bool		  stuck;	/* a worker missed the last check */
	uint64_t	  next_status_ns;
	uint64_t	  last_status_ns;
	uint64_t	  last_requests, last_busy;
};

/* Everything the process owns. */
struct coapd {
	const char	 *conf_path;
	struct cfg	 *cfg;		/* current snapshot (main's ref) */
	int		 *fds;		/* [listen * nworkers + worker] */
	bool		 *fd_dtls;
	size_t		  nfds;
	struct worker	**workers;
	unsigned	  nworkers;
	int		  sigfd;
	atomic_uint_least64_t file_gen;	/* see struct h_env */
	struct h_env	  env;		/* lent to every worker */
	struct fwatch	 *fw;		/* inotify watcher; NULL without */
	struct coapd_sd	  sd;

	/* control socket and metrics (daemon_ctl.c) */
	struct ctl	 *ctl;		/* NULL: none */
	uint64_t	  start_ns;	/* CLOCK_MONOTONIC */
	uint64_t	  start_time_s;	/* Unix time */
	uint64_t	  reloads, reload_failures;
	char		  last_reload[160]; /* "never", or when and how */
	uint64_t	  metrics_due_ns; /* next write of metrics.file */
	int		  metrics_err;	/* last write's -errno, for logging once */
	char		 *route_slot[METRICS_ROUTE_SLOTS]; /* route path of
					   each metrics slot; [0] unused */
};

/*
 * `coapd -t`: load and check the file, print "FILE: configuration OK" on
 * stdout or every error as "FILE:LINE: message" on stderr.
 * Returns the exit status (0 or 1).
 */
int	coapd_check(const char *path);

/* Run in the foreground until SIGINT/SIGTERM.  Returns the exit status. */
int	coapd_run(const char *path);

/* Print the version and compiled-in features (`coapd -V`). */
void	coapd_version(void);

#endif /* COAPD_DAEMON_H */
