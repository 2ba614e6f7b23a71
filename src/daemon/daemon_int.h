/*
 * daemon_int.h - between daemon.c and daemon_sd.c (status, watchdog and
 * graceful stop under a service manager; the drop to user = "...").
 * Main thread only.
 */
#ifndef COAPD_DAEMON_INT_H
#define COAPD_DAEMON_INT_H

#include <stdint.h>

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
