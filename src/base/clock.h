/* clock.h - monotonic time in nanoseconds. */
#ifndef COAPD_CLOCK_H
#define COAPD_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NS_PER_SEC	1000000000ULL
#define NS_PER_MS	1000000ULL

/* CLOCK_MONOTONIC in ns. */
static inline uint64_t
clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

#endif /* COAPD_CLOCK_H */
