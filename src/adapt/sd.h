/*
 * sd.h - systemd service manager notifications (the only includer of
 * <systemd/sd-daemon.h>).  All calls are no-ops outside systemd
 * (NOTIFY_SOCKET unset).  Called from the main thread only.
 */
#ifndef COAPD_SD_H
#define COAPD_SD_H

#include <stdint.h>

/* READY=1 with a STATUS= line. */
void	sd_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC= (systemd 253+ requires it). */
void	sd_reloading(void);
/* STATUS= only. */
void	sd_status(const char *status);
/* STOPPING=1. */
void	sd_stopping(void);
/* WATCHDOG=1. */
void	sd_watchdog_ping(void);
/* Watchdog interval in µs when WatchdogSec= is set for us, else 0. */
uint64_t sd_watchdog_usec(void);

/* libsystemd's version built against, for `coapd -V`. */
const char *sd_lib_version(void);

#endif /* COAPD_SD_H */
