/*
 * daemon_int.h - shared by daemon.c (start, signals, reload) and
 * daemon_ctl.c (control socket commands, metrics export).
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

/* Write metrics.file when due; ms until it is due next, or -1. */
int	daemon_metrics_tick(struct coapd *d, uint64_t now_ns);

#endif /* COAPD_DAEMON_INT_H */
