/*
 * mexport.c - metrics as Prometheus text, JSON and a table.  See
 * mexport.h.  Everything comes from metrics_foreach() and the route
 * slots, so a counter added to the tables of metrics.h shows up in all
 * three without a change here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mexport.h"

void
mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 want;
	char	*p;
	int	 n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p != NULL ? b->p + b->len : NULL,
		    b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		want = b->cap * 2 > b->len + (size_t)n + 1 ? b->cap * 2 :
		    b->len + (size_t)n + 1024;
		if ((p = realloc(b->p, want)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = want;
	}
}

void
mbuf_free(struct mbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/*
 * s with '\\', '"' and newline escaped, for both formats; JSON also needs
 * the other control characters as \u00XX, while the Prometheus text format
 * knows no other escape (a \xNN would make node_exporter drop the whole
 * file), so there they are written as they are.
 */
static void
put_escaped(struct mbuf *b, const char *s, bool json)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '"')
			mbuf_printf(b, "\\%c", c);
		else if (c == '\n')
			mbuf_printf(b, "\\n");
		else if (c < 0x20 && json)
			mbuf_printf(b, "\\u%04x", c);
		else
			mbuf_printf(b, "%c", c);
	}
}

static int
done(const struct mbuf *b)
{
	return b->oom ? -ENOMEM : 0;
}

/*
 * Prometheus text format 0.0.4: one HELP and TYPE per family, the
 * elements of an array under its label.
 */
struct prom {
	struct mbuf	*b;
	const char	*family;	/* of the last line written */
};

static void
prom_head(struct mbuf *b, const char *name, const char *type,
    const char *help)
{
	mbuf_printf(b, "# HELP coapd_%s ", name);
	for (; *help != '\0'; help++)
		mbuf_printf(b, *help == '\\' ? "\\\\" : *help == '\n' ?
		    "\\n" : "%c", *help);
	mbuf_printf(b, "\n# TYPE coapd_%s %s\n", name, type);
}

static void
prom_each(void *arg, const struct metric_entry *e)
{
	struct prom	*p = arg;
	char		 name[80];
	bool		 counter = e->type == METRIC_COUNTER;

	snprintf(name, sizeof(name), "%s%s", e->family,
	    counter ? "_total" : "");
	if (p->family == NULL || strcmp(p->family, e->family) != 0) {
		prom_head(p->b, name, counter ? "counter" : "gauge", e->help);
		p->family = e->family;	/* static: the table's string */
	}
	mbuf_printf(p->b, "coapd_%s", name);
	if (e->label != NULL) {
		mbuf_printf(p->b, "{%s=\"", e->label);
		put_escaped(p->b, e->label_value, false);
		mbuf_printf(p->b, "\"}");
	}
	mbuf_printf(p->b, " %llu\n", (unsigned long long)e->value);
}

/* µs as seconds, no trailing zeros: 100 → "0.0001", 10000000 → "10". */
static void
put_seconds(struct mbuf *b, uint64_t us)
{
	char	 frac[8];
	int	 n;

	n = snprintf(frac, sizeof(frac), "%06llu",
	    (unsigned long long)(us % 1000000));
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	mbuf_printf(b, "%llu%s%s", (unsigned long long)(us / 1000000),
	    n > 0 ? "." : "", frac);
}

static void
prom_route_label(struct mbuf *b, const char *path)
{
	mbuf_printf(b, "route=\"");
	put_escaped(b, path, false);
	mbuf_printf(b, "\"");
}

static void
prom_routes(struct mbuf *b, const struct metrics *m,
    const struct mexport_route *r, size_t nr)
{
	const struct metrics_route	*s;
	uint64_t			 cum, bound;
	size_t				 i;
	unsigned			 k;

	prom_head(b, "route_requests_total", "counter",
	    "requests routed, by route");
	for (i = 0; i < nr; i++) {
		mbuf_printf(b, "coapd_route_requests_total{");
		prom_route_label(b, r[i].path);
		mbuf_printf(b, "} %llu\n", (unsigned long long)metrics_get(
		    &m->route[r[i].slot].requests));
	}
	prom_head(b, "route_latency_seconds", "histogram",
	    "time from a request's receipt to its answer, by route");
	for (i = 0; i < nr; i++) {
		s = &m->route[r[i].slot];
		for (cum = 0, k = 0; k < METRICS_LAT_BUCKETS; k++) {
			cum += metrics_get(&s->lat[k]);
			mbuf_printf(b, "coapd_route_latency_seconds_bucket{");
			prom_route_label(b, r[i].path);
			bound = metrics_lat_bound_us(k);
			if (bound == UINT64_MAX)
				mbuf_printf(b, ",le=\"+Inf");
			else {
				mbuf_printf(b, ",le=\"");
				put_seconds(b, bound);
			}
			mbuf_printf(b, "\"} %llu\n", (unsigned long long)cum);
		}
		mbuf_printf(b, "coapd_route_latency_seconds_sum{");
		prom_route_label(b, r[i].path);
		mbuf_printf(b, "} ");
		put_seconds(b, metrics_get(&s->lat_sum_us));
		mbuf_printf(b, "\n");
		mbuf_printf(b, "coapd_route_latency_seconds_count{");
		prom_route_label(b, r[i].path);
		mbuf_printf(b, "} %llu\n", (unsigned long long)cum);
	}
}

int
mexport_prom(struct mbuf *b, const struct metrics *m,
    const struct mexport_route *r, size_t nr,
    const struct mexport_info *info)
{
	struct prom	 p = { b, NULL };

	prom_head(b, "start_time_seconds", "gauge",
	    "when coapd started, seconds since the Unix epoch");
	mbuf_printf(b, "coapd_start_time_seconds %llu\n",
	    (unsigned long long)info->start_time_s);
	prom_head(b, "workers", "gauge", "worker threads");
	mbuf_printf(b, "coapd_workers %u\n", info->workers);
	prom_head(b, "reloads_total", "counter",
	    "configuration reloads, by result");
	mbuf_printf(b, "coapd_reloads_total{result=\"ok\"} %llu\n"
	    "coapd_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)info->reloads,
	    (unsigned long long)info->reload_failures);
	metrics_foreach(m, prom_each, &p);
	prom_routes(b, m, r, nr);
	return done(b);
}

/*
 * JSON: {"uptime_s": N, ..., "metrics": {"rx": N, ..., "drops":
 * {"truncated": N, ...}}, "routes": {"/path": {...}}}.
 */
struct json {
	struct mbuf	*b;
	const char	*family;	/* open array object, or NULL */
	bool		 first;
};

static void
json_each(void *arg, const struct metric_entry *e)
{
	struct json	*j = arg;

	if (j->family != NULL && (e->label == NULL ||
	    strcmp(j->family, e->family) != 0)) {
		mbuf_printf(j->b, "}");
		j->family = NULL;
	}
	if (e->label != NULL && j->family == NULL) {
		mbuf_printf(j->b, "%s\n    \"%s\": {", j->first ? "" : ",",
		    e->family);
		j->family = e->family;
		j->first = true;
	} else if (e->label == NULL) {
		mbuf_printf(j->b, "%s\n    \"%s\": ", j->first ? "" : ",",
		    e->name);
		mbuf_printf(j->b, "%llu", (unsigned long long)e->value);
		j->first = false;
		return;
	}
	mbuf_printf(j->b, "%s\"", j->first ? "" : ", ");
	put_escaped(j->b, e->label_value, true);
	mbuf_printf(j->b, "\": %llu", (unsigned long long)e->value);
	j->first = false;
}

static void
json_route(struct mbuf *b, const struct metrics_route *s)
{
	uint64_t	 cum, bound;
	unsigned	 k;

	mbuf_printf(b, "{\"requests\": %llu, \"latency_sum_us\": %llu, "
	    "\"latency_le_us\": {",
	    (unsigned long long)metrics_get(&s->requests),
	    (unsigned long long)metrics_get(&s->lat_sum_us));
	for (cum = 0, k = 0; k < METRICS_LAT_BUCKETS; k++) {
		cum += metrics_get(&s->lat[k]);
		bound = metrics_lat_bound_us(k);
		if (bound == UINT64_MAX)
			mbuf_printf(b, "\"+Inf\": %llu}",
			    (unsigned long long)cum);
		else
			mbuf_printf(b, "\"%llu\": %llu, ",
			    (unsigned long long)bound,
			    (unsigned long long)cum);
	}
	mbuf_printf(b, ", \"answers\": %llu}", (unsigned long long)cum);
}

int
mexport_json(struct mbuf *b, const struct metrics *m,
    const struct mexport_route *r, size_t nr,
    const struct mexport_info *info)
{
	struct json	 j = { b, NULL, true };
	size_t		 i;

	mbuf_printf(b, "{\n  \"start_time_s\": %llu,\n  \"uptime_s\": %llu,\n"
	    "  \"workers\": %u,\n  \"reloads\": %llu,\n"
	    "  \"reload_failures\": %llu,\n  \"metrics\": {",
	    (unsigned long long)info->start_time_s,
	    (unsigned long long)info->uptime_s, info->workers,
	    (unsigned long long)info->reloads,
	    (unsigned long long)info->reload_failures);
	metrics_foreach(m, json_each, &j);
	if (j.family != NULL)
		mbuf_printf(b, "}");
	mbuf_printf(b, "\n  },\n  \"routes\": {");
	for (i = 0; i < nr; i++) {
		mbuf_printf(b, "%s\n    \"", i > 0 ? "," : "");
		put_escaped(b, r[i].path, true);
		mbuf_printf(b, "\": ");
		json_route(b, &m->route[r[i].slot]);
	}
	mbuf_printf(b, "\n  }\n}\n");
	return done(b);
}

static void
table_each(void *arg, const struct metric_entry *e)
{
	mbuf_printf(arg, "  %-32s %20llu\n", e->name,
	    (unsigned long long)e->value);
}

int
mexport_table(struct mbuf *b, const struct metrics *m,
    const struct mexport_route *r, size_t nr,
    const struct mexport_info *info)
{
	const struct metrics_route	*s;
	uint64_t			 n;
	size_t				 i;
	unsigned			 k;

	mbuf_printf(b, "up %llu s, %u workers, %llu reloads, %llu "
	    "rejected\n\ncounters (all workers):\n",
	    (unsigned long long)info->uptime_s, info->workers,
	    (unsigned long long)info->reloads,
	    (unsigned long long)info->reload_failures);
	metrics_foreach(m, table_each, b);
	mbuf_printf(b, "\nroutes: requests, then answers by latency\n"
	    "  %-24s %9s %8s %8s %8s %8s %8s %8s %8s\n", "route", "requests",
	    "<=100us", "<=1ms", "<=10ms", "<=100ms", "<=1s", "<=10s", ">10s");
	for (i = 0; i < nr; i++) {
		s = &m->route[r[i].slot];
		mbuf_printf(b, "  %-24s %9llu", r[i].path,
		    (unsigned long long)metrics_get(&s->requests));
		for (k = 0; k < METRICS_LAT_BUCKETS; k++) {
			n = metrics_get(&s->lat[k]);
			mbuf_printf(b, " %8llu", (unsigned long long)n);
		}
		mbuf_printf(b, "\n");
	}
	return done(b);
}
