/*
 * sd.c - sd_notify(3) wrappers.
 */
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "adapt/sd.h"

void
sd_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void
sd_reloading(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

void
sd_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

void
sd_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void
sd_watchdog_ping(void)
{
	sd_notify(0, "WATCHDOG=1");
}

uint64_t
sd_watchdog_usec(void)
{
	uint64_t	 usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

const char *
sd_lib_version(void)
{
	/* no version call in libsystemd: pkg-config's, at build time */
#ifdef COAPD_LIBSYSTEMD_VERSION
	if (COAPD_LIBSYSTEMD_VERSION[0] != '\0')
		return COAPD_LIBSYSTEMD_VERSION " (build; libsystemd has no "
		    "run-time version call)";
#endif
	return "(version unknown)";
}
