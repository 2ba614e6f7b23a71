/*
 * test_metrics.c - the counter tables (src/proto/metrics.c): every counter
 * of struct metrics is reported once by metrics_foreach(), under a unique
 * name, and metrics_sum() adds every one of them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "proto/metrics.h"

#include "helpers.h"

/*
 * metrics.c asserts that struct metrics holds the table's counters and
 * the route slots only; the tables' counters come first.
 */
#define NVALUES	(offsetof(struct metrics, route) / sizeof(atomic_uint_least64_t))

struct seen {
	struct metric_entry	 e[NVALUES + 1];
	char			 name[NVALUES + 1][64];
	size_t			 n;
};

static void
collect(void *arg, const struct metric_entry *e)
{
	struct seen	*s = arg;

	ck_assert_uint_lt(s->n, NVALUES + 1);
	s->e[s->n] = *e;
	/* e->name may be a buffer of the walk: keep a copy. */
	ck_assert_uint_lt(strlen(e->name), sizeof(s->name[0]));
	strcpy(s->name[s->n], e->name);
	s->e[s->n].name = s->name[s->n];
	s->n++;
}

/* Counter i of m (struct metrics is an array of counters in disguise). */
static atomic_uint_least64_t *
slot(struct metrics *m, size_t i)
{
	return (atomic_uint_least64_t *)(void *)m + i;
}

static void
fill(struct metrics *m, uint64_t base)
{
	size_t	 i;

	for (i = 0; i < NVALUES; i++)
		atomic_store(slot(m, i), base + i * 1000 + 7);
}

static const struct metric_entry *
find(const struct seen *s, const char *name)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, name) == 0)
			return &s->e[i];
	return NULL;
}

static bool
name_ok(const char *p)
{
	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_'))
			return false;
	return true;
}

/* Each field of struct metrics appears once, with its own value. */
START_TEST(every_counter_once)
{
	static struct seen	 s;
	struct metrics		 m;
	size_t			 i, j, hits;

	ck_assert_uint_eq(metrics_count(), NVALUES);
	fill(&m, 1);
	memset(&s, 0, sizeof(s));
	metrics_foreach(&m, collect, &s);
	ck_assert_uint_eq(s.n, NVALUES);
	for (i = 0; i < NVALUES; i++) {
		hits = 0;
		for (j = 0; j < s.n; j++)
			if (s.e[j].value == metrics_get(slot(&m, i)))
				hits++;
		ck_assert_msg(hits == 1, "counter %zu reported %zu times", i,
		    hits);
	}
}
END_TEST

/* Names are unique, lower case, and documented. */
START_TEST(names_unique)
{
	static struct seen	 s;
	struct metrics		 m;
	const struct metric_entry *e;
	char			 want[64];
	size_t			 i, j;

	memset(&m, 0, sizeof(m));
	memset(&s, 0, sizeof(s));
	metrics_foreach(&m, collect, &s);
	for (i = 0; i < s.n; i++) {
		e = &s.e[i];
		ck_assert_msg(name_ok(e->name), "bad name \"%s\"", e->name);
		ck_assert_msg(e->help != NULL && e->help[0] != '\0',
		    "%s: no help", e->name);
		ck_assert_ptr_nonnull(e->family);
		if (e->label == NULL) {
			ck_assert_str_eq(e->name, e->family);
			ck_assert_ptr_null(e->label_value);
		} else {
			ck_assert_ptr_nonnull(e->label_value);
			ck_assert(name_ok(e->label));
			snprintf(want, sizeof(want), "%s_%s", e->family,
			    e->label_value);
			ck_assert_str_eq(e->name, want);
			ck_assert_int_eq(e->type, METRIC_COUNTER);
		}
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(e->name, s.e[j].name) != 0,
			    "\"%s\" twice", e->name);
	}
}
END_TEST

/* Names stand for the fields they were generated from. */
START_TEST(names_match_fields)
{
	static struct seen	 s;
	struct metrics		 m;
	const struct metric_entry *e;

	memset(&m, 0, sizeof(m));
	atomic_store(&m.rx, 11);
	atomic_store(&m.dtls_sessions, 3);
	atomic_store(&m.dtls_hello_verify, 5);
	atomic_store(&m.drops[DROP_TRUNCATED], 13);
	atomic_store(&m.drops[DROP_SEND_FAILED], 17);
	atomic_store(&m.resp_class[4], 19);
	memset(&s, 0, sizeof(s));
	metrics_foreach(&m, collect, &s);
	ck_assert_ptr_nonnull(e = find(&s, "rx"));
	ck_assert_uint_eq(e->value, 11);
	ck_assert_int_eq(e->type, METRIC_COUNTER);
	ck_assert_ptr_nonnull(e = find(&s, "dtls_sessions"));
	ck_assert_uint_eq(e->value, 3);
	ck_assert_int_eq(e->type, METRIC_GAUGE);
	ck_assert_ptr_nonnull(e = find(&s, "dtls_hello_verify"));
	ck_assert_uint_eq(e->value, 5);
	ck_assert_ptr_nonnull(e = find(&s, "drops_truncated"));
	ck_assert_uint_eq(e->value, 13);
	ck_assert_str_eq(e->family, "drops");
	ck_assert_str_eq(e->label, "reason");
	ck_assert_str_eq(e->label_value, "truncated");
	ck_assert_ptr_nonnull(e = find(&s, "drops_send_failed"));
	ck_assert_uint_eq(e->value, 17);
	ck_assert_ptr_nonnull(e = find(&s, "resp_class_4"));
	ck_assert_uint_eq(e->value, 19);
	ck_assert_str_eq(e->label, "class");
}
END_TEST

/* metrics_sum() adds every counter of every worker. */
START_TEST(sum_all)
{
	struct metrics		 w[3], out;
	const struct metrics	*in[3] = { &w[0], &w[1], &w[2] };
	size_t			 i;

	fill(&w[0], 1);
	fill(&w[1], 1000000);
	fill(&w[2], 5);
	fill(&out, 99);		/* overwritten, not added to */
	metrics_sum(&out, in, 3);
	for (i = 0; i < NVALUES; i++)
		ck_assert_uint_eq(metrics_get(slot(&out, i)),
		    metrics_get(slot(&w[0], i)) + metrics_get(slot(&w[1], i)) +
		    metrics_get(slot(&w[2], i)));
	metrics_sum(&out, in, 0);
	for (i = 0; i < NVALUES; i++)
		ck_assert_uint_eq(metrics_get(slot(&out, i)), 0);
}
END_TEST

/* Route slots are summed too; latencies land in their bucket. */
START_TEST(route_slots)
{
	static struct metrics	 w[2], out;
	const struct metrics	*in[2] = { &w[0], &w[1] };
	unsigned		 b;

	memset(w, 0, sizeof(w));
	metrics_route_latency(&w[0], 3, 50 * 1000);		/* 50 µs */
	metrics_route_latency(&w[0], 3, 100 * 1000);		/* bound: in */
	metrics_route_latency(&w[1], 3, 101 * 1000);		/* next one */
	metrics_route_latency(&w[1], 3, 20ULL * 1000000000);	/* +Inf */
	metrics_route_latency(&w[1], 0, 5000);	/* slot 0: not counted */
	metrics_route_latency(&w[1], METRICS_ROUTE_SLOTS, 5000);
	METRIC_INC(w[0].route[3].requests);
	METRIC_INC(w[1].route[3].requests);
	metrics_sum(&out, in, 2);
	ck_assert_uint_eq(metrics_get(&out.route[3].requests), 2);
	ck_assert_uint_eq(metrics_get(&out.route[3].lat[0]), 2);
	ck_assert_uint_eq(metrics_get(&out.route[3].lat[1]), 1);
	ck_assert_uint_eq(metrics_get(&out.route[3].lat[METRICS_LAT_BUCKETS -
	    1]), 1);
	ck_assert_uint_eq(metrics_get(&out.route[3].lat_sum_us),
	    50 + 100 + 101 + 20000000ULL);
	for (b = 0; b < METRICS_LAT_BUCKETS; b++)
		ck_assert_uint_eq(metrics_get(&out.route[0].lat[b]), 0);
	ck_assert_uint_eq(metrics_lat_bound_us(METRICS_LAT_BUCKETS - 1),
	    UINT64_MAX);
	for (b = 1; b < METRICS_LAT_BUCKETS; b++)
		ck_assert_uint_gt(metrics_lat_bound_us(b),
		    metrics_lat_bound_us(b - 1));
}
END_TEST

START_TEST(method_names)
{
	ck_assert_str_eq(metrics_method_str(metrics_method_index(1)), "get");
	ck_assert_str_eq(metrics_method_str(metrics_method_index(7)),
	    "ipatch");
	ck_assert_str_eq(metrics_method_str(metrics_method_index(0)), "other");
	ck_assert_str_eq(metrics_method_str(metrics_method_index(8)), "other");
	ck_assert_str_eq(metrics_method_str(metrics_method_index(69)),
	    "other");
}
END_TEST

START_TEST(drop_reason_names)
{
	unsigned	 r, q;

	for (r = 0; r < DROP_REASONS; r++) {
		ck_assert(name_ok(drop_reason_str(r)));
		for (q = 0; q < r; q++)
			ck_assert_str_ne(drop_reason_str(r),
			    drop_reason_str(q));
	}
	ck_assert_str_eq(drop_reason_str(DROP_MALFORMED_NON),
	    "malformed_non");
	ck_assert_str_eq(drop_reason_str(DROP_REASONS), "unknown");
	ck_assert_str_eq(metrics_resp_class_str(2), "2");
	ck_assert_str_eq(metrics_resp_class_str(METRICS_RESP_CLASSES),
	    "unknown");
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, every_counter_once);
	tcase_add_test(tc, names_unique);
	tcase_add_test(tc, names_match_fields);
	tcase_add_test(tc, sum_all);
	tcase_add_test(tc, drop_reason_names);
	tcase_add_test(tc, route_slots);
	tcase_add_test(tc, method_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(metrics_suite());
}
