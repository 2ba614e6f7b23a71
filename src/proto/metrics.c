/*
 * metrics.c - names, sums and the walk over the counters, all generated
 * from the tables in metrics.h.
 */
#include <stdio.h>
#include <string.h>

#include "proto/metrics.h"

/* Longest "field_name" of an array element, with its NUL. */
#define METRICS_NAME_MAX	64

#define METRICS_X_ONE(f, type, help)	+ 1
#define METRICS_X_N(f, n, label, fn, help)	+ (n)
#define METRICS_NVALUES	(0 METRICS_SCALARS(METRICS_X_ONE)		\
	METRICS_ARRAYS(METRICS_X_N))

/*
 * The struct holds the table's counters and nothing else: a field added
 * by hand, outside the tables, would be neither summed nor reported.
 */
_Static_assert(sizeof(struct metrics) ==
    METRICS_NVALUES * sizeof(atomic_uint_least64_t) +
    METRICS_ROUTE_SLOTS * sizeof(struct metrics_route),
    "struct metrics has fields outside METRICS_SCALARS/METRICS_ARRAYS");

const char *
drop_reason_str(unsigned r)
{
	static const char *const names[DROP_REASONS] = {
#define METRICS_X_NAME(c, name, help)	[DROP_##c] = #name,
		DROP_REASON_TABLE(METRICS_X_NAME)
#undef METRICS_X_NAME
	};

	if (r >= DROP_REASONS)
		return "unknown";
	return names[r];
}

const char *
metrics_resp_class_str(unsigned c)
{
	static const char *const names[METRICS_RESP_CLASSES] = {
		"0", "1", "2", "3", "4", "5",
	};

	if (c >= METRICS_RESP_CLASSES)
		return "unknown";
	return names[c];
}

const char *
metrics_method_str(unsigned i)
{
	static const char *const names[METRICS_METHODS] = {
		"other", "get", "post", "put", "delete", "fetch", "patch",
		"ipatch",
	};

	if (i >= METRICS_METHODS)
		return "unknown";
	return names[i];
}

unsigned
metrics_method_index(uint8_t code)
{
	/* RFC 7252 §12.1.1, RFC 8132: codes 0.01 ... 0.07 */
	return code >= 1 && code < METRICS_METHODS ? code : 0;
}

uint64_t
metrics_lat_bound_us(unsigned i)
{
	static const uint64_t b[] = METRICS_LAT_BOUNDS_US;

	_Static_assert(sizeof(b) / sizeof(b[0]) == METRICS_LAT_BUCKETS - 1,
	    "METRICS_LAT_BOUNDS_US has METRICS_LAT_BUCKETS - 1 entries");
	return i < METRICS_LAT_BUCKETS - 1 ? b[i] : UINT64_MAX;
}

void
metrics_route_latency(struct metrics *m, unsigned slot, uint64_t ns)
{
	struct metrics_route	*r;
	uint64_t		 us = ns / 1000;
	unsigned		 i;

	if (slot == 0 || slot >= METRICS_ROUTE_SLOTS)
		return;
	r = &m->route[slot];
	for (i = 0; i < METRICS_LAT_BUCKETS - 1 &&
	    us > metrics_lat_bound_us(i); i++)
		;
	metrics_add(&r->lat[i], 1);
	metrics_add(&r->lat_sum_us, us);
}

size_t
metrics_count(void)
{
	return METRICS_NVALUES;
}

static void
route_sum(struct metrics_route *out, const struct metrics *const *in,
    size_t n, size_t slot)
{
	uint64_t	 v;
	size_t		 b, w;

	for (v = 0, w = 0; w < n; w++)
		v += metrics_get(&in[w]->route[slot].requests);
	metrics_set(&out->requests, v);
	for (v = 0, w = 0; w < n; w++)
		v += metrics_get(&in[w]->route[slot].lat_sum_us);
	metrics_set(&out->lat_sum_us, v);
	for (b = 0; b < METRICS_LAT_BUCKETS; b++) {
		for (v = 0, w = 0; w < n; w++)
			v += metrics_get(&in[w]->route[slot].lat[b]);
		metrics_set(&out->lat[b], v);
	}
}

void
metrics_sum(struct metrics *out, const struct metrics *const *in, size_t n)
{
	uint64_t	 v;
	size_t		 i, w;

#define METRICS_X_SUM(f, type, help)					\
	for (v = 0, w = 0; w < n; w++)					\
		v += metrics_get(&in[w]->f);				\
	atomic_store_explicit(&out->f, v, memory_order_relaxed);
#define METRICS_X_SUM_ARRAY(f, len, label, fn, help)			\
	for (i = 0; i < (len); i++) {					\
		for (v = 0, w = 0; w < n; w++)				\
			v += metrics_get(&in[w]->f[i]);			\
		atomic_store_explicit(&out->f[i], v, memory_order_relaxed); \
	}
	METRICS_SCALARS(METRICS_X_SUM)
	METRICS_ARRAYS(METRICS_X_SUM_ARRAY)
#undef METRICS_X_SUM
#undef METRICS_X_SUM_ARRAY
	for (i = 0; i < METRICS_ROUTE_SLOTS; i++)
		route_sum(&out->route[i], in, n, i);
}

static void
each_array(const atomic_uint_least64_t *v, size_t len, const char *family,
    const char *label, const char *(*elem)(unsigned), const char *help,
    metrics_each_fn *fn, void *arg)
{
	struct metric_entry	 e;
	char			 name[METRICS_NAME_MAX];
	size_t			 i;

	for (i = 0; i < len; i++) {
		memset(&e, 0, sizeof(e));
		e.label_value = elem((unsigned)i);
		snprintf(name, sizeof(name), "%s_%s", family, e.label_value);
		e.name = name;
		e.family = family;
		e.label = label;
		e.help = help;
		e.type = METRIC_COUNTER;
		e.value = metrics_get(&v[i]);
		fn(arg, &e);
	}
}

void
metrics_foreach(const struct metrics *m, metrics_each_fn *fn, void *arg)
{
	struct metric_entry	 e;

#define METRICS_X_EACH(f, t, h)	do {					\
	memset(&e, 0, sizeof(e));					\
	e.name = e.family = #f;						\
	e.help = (h);							\
	e.type = METRIC_##t;						\
	e.value = metrics_get(&m->f);					\
	fn(arg, &e);							\
} while (0);
#define METRICS_X_EACH_ARRAY(f, len, label, elem, h)			\
	each_array(m->f, (len), #f, (label), elem, (h), fn, arg);
	METRICS_SCALARS(METRICS_X_EACH)
	METRICS_ARRAYS(METRICS_X_EACH_ARRAY)
#undef METRICS_X_EACH
#undef METRICS_X_EACH_ARRAY
}
