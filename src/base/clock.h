/* clock.h - monotonic time in nanoseconds. */
#ifndef COAPD_CLOCK_H
#define COAPD_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NS_PER_SEC	1000000000ULL
#define NS_PER_MS	1000000ULL

/*
 * A wait in ms as poll(2) takes it, with no timer pending: not an error,
 * the one negative value a *_timeout_ms() function returns.
 */
#define CLOCK_WAIT_FOREVER	(-1)

/* CLOCK_MONOTONIC in ns. */
static inline uint64_t
clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

#endif /* COAPD_CLOCK_H */
