/*
 * mexport.h - the counters of metrics.h as text: Prometheus exposition
 * format (node_exporter's textfile collector), JSON, and a table for
 * people.  Pure: the daemon sums the workers' counters and writes the
 * text where it goes (the metrics file, the control socket).
 */
#ifndef COAPD_MEXPORT_H
#define COAPD_MEXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/metrics.h"

/* A growing text buffer; oom sticks once an allocation failed. */
struct mbuf {
	char	*p;		/* NUL-terminated when len > 0 */
	size_t	 len;
	size_t	 cap;
	bool	 oom;
};

void	mbuf_printf(struct mbuf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	mbuf_free(struct mbuf *b);

/* A route of the running configuration and its counters' slot. */
struct mexport_route {
	const char	*path;
	unsigned	 slot;		/* metrics.h; 0: not counted */
};

/* The process around the counters. */
struct mexport_info {
	uint64_t	 start_time_s;	/* Unix time coapd started */
	uint64_t	 uptime_s;
	unsigned	 workers;
	uint64_t	 reloads;	/* accepted */
	uint64_t	 reload_failures; /* rejected */
};

/*
 * Append m (summed over the workers), the routes r[0..nr) and info to b
 * as: Prometheus text (counters coapd_NAME_total, gauges coapd_NAME,
 * arrays with their label, the per-route latency as a histogram in
 * seconds); one JSON object; or a table.  Returns 0 or -ENOMEM.
 */
int	mexport_prom(struct mbuf *b, const struct metrics *m,
	    const struct mexport_route *r, size_t nr,
	    const struct mexport_info *info);
int	mexport_json(struct mbuf *b, const struct metrics *m,
	    const struct mexport_route *r, size_t nr,
	    const struct mexport_info *info);
int	mexport_table(struct mbuf *b, const struct metrics *m,
	    const struct mexport_route *r, size_t nr,
	    const struct mexport_info *info);

#endif /* COAPD_MEXPORT_H */
