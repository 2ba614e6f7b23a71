/*
 * daemon_int.h - between daemon.c (start, signals, reload), daemon_sd.c
 * (status, watchdog and graceful stop under a service manager; the drop to
 * user = "...") and daemon_ctl.c (control socket commands, metrics export).
 * Main thread only.
 */
#ifndef COAPD_DAEMON_INT_H
#define COAPD_DAEMON_INT_H

#include <stdint.h>

#include "adapt/cfg.h"
#include "daemon/daemon.h"

/*
 * Load the configuration again and, when it is valid, hand it to every
 * worker; every error line goes to err(arg, line) as well as to the log.
 * SIGHUP and `coapd-ctl reload` both come here.  Returns 0, -EINVAL
 * (configuration errors) or another negative errno; the running
 * configuration stays on failure.
 */
int	coapd_reload(struct coapd *d, cfg_err_fn *err, void *arg);

/* Give each route of c its metrics slot, by path, kept across reloads. */
void	daemon_slots(struct coapd *d, struct cfg *c);

/*
 * Open the control socket of d->cfg (control_socket, or the runtime
 * directory's "control").  Returns 0, or a negative errno when a socket
 * the configuration names explicitly cannot be opened; the default one
 * failing is only logged.
 */
int	daemon_ctl_open(struct coapd *d);
void	daemon_ctl_close(struct coapd *d);

/*
 * Write metrics.file when due; ms until it is due next, or
 * CLOCK_WAIT_FOREVER when there is no metrics.file.
 */
int	daemon_metrics_tick(struct coapd *d, uint64_t now_ns);

struct coapd;

/* After the workers started: the watchdog interval, the first STATUS=. */
int	sd_life_start(struct coapd *d);
void	sd_life_free(struct coapd *d);
/* STATUS= now (also after a reload). */
void	sd_life_status(struct coapd *d, uint64_t now);
/* Milliseconds until sd_life_tick() is due (0: now). */
int	sd_life_timeout_ms(const struct coapd *d, uint64_t now);
/* The watchdog ping (while every worker progresses) and STATUS=. */
void	sd_life_tick(struct coapd *d, uint64_t now);
/* SIGTERM: STOPPING=1, drain the workers for up to shutdown_grace_s. */
void	coapd_drain(struct coapd *d);
/* user = "...": become that user now (after binding).  0 or -errno. */
int	coapd_drop_privileges(struct coapd *d);

#endif /* COAPD_DAEMON_INT_H */
