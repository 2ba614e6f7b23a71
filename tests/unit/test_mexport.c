/*
 * test_mexport.c - the metrics as text (src/proto/mexport.c): Prometheus
 * lines with HELP/TYPE before each family, labels escaped, a cumulative
 * histogram per route; JSON and the table with the same numbers.  The
 * integration test 58-ctl runs the daemon's output through a strict
 * parser and python3 -m json.tool as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "proto/mexport.h"

#include "helpers.h"

static struct metrics	 m;
static const struct mexport_route routes[] = {
	{ "/hello", 1 },
	{ "/we\"ird\\path", 2 },
};
static const struct mexport_info info = {
	.start_time_s = 1700000000, .uptime_s = 42, .workers = 3,
	.reloads = 2, .reload_failures = 1,
};

static void
setup(void)
{
	memset(&m, 0, sizeof(m));
	metrics_set(&m.rx, 12);
	metrics_set(&m.observers, 4);
	metrics_set(&m.drops[DROP_TRUNCATED], 5);
	metrics_set(&m.method_requests[metrics_method_index(1)], 9);
	metrics_set(&m.route[1].requests, 3);
	metrics_route_latency(&m, 1, 50 * 1000);
	metrics_route_latency(&m, 1, 2ULL * 1000000000);
	metrics_route_latency(&m, 1, 30ULL * 1000000000);
}

static bool
has_line(const char *text, const char *line)
{
	size_t	 n = strlen(line);
	const char *p;

	for (p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define CK_LINE(t, l)	ck_assert_msg(has_line((t), (l)), "no line \"%s\"", (l))

START_TEST(prom_lines)
{
	struct mbuf	 b = { 0 };

	ck_assert_int_eq(mexport_prom(&b, &m, routes, 2, &info), 0);
	CK_LINE(b.p, "# TYPE coapd_rx_total counter");
	CK_LINE(b.p, "coapd_rx_total 12");
	CK_LINE(b.p, "# TYPE coapd_observers gauge");
	CK_LINE(b.p, "coapd_observers 4");
	CK_LINE(b.p, "# TYPE coapd_drops_total counter");
	CK_LINE(b.p, "coapd_drops_total{reason=\"truncated\"} 5");
	CK_LINE(b.p, "coapd_method_requests_total{method=\"get\"} 9");
	CK_LINE(b.p, "coapd_start_time_seconds 1700000000");
	CK_LINE(b.p, "coapd_reloads_total{result=\"failed\"} 1");
	CK_LINE(b.p, "coapd_route_requests_total{route=\"/hello\"} 3");
	CK_LINE(b.p, "# TYPE coapd_route_latency_seconds histogram");
	CK_LINE(b.p, "coapd_route_latency_seconds_bucket{route=\"/hello\","
	    "le=\"0.0001\"} 1");
	CK_LINE(b.p, "coapd_route_latency_seconds_bucket{route=\"/hello\","
	    "le=\"1\"} 1");
	CK_LINE(b.p, "coapd_route_latency_seconds_bucket{route=\"/hello\","
	    "le=\"10\"} 2");
	CK_LINE(b.p, "coapd_route_latency_seconds_bucket{route=\"/hello\","
	    "le=\"+Inf\"} 3");
	CK_LINE(b.p, "coapd_route_latency_seconds_count{route=\"/hello\"} 3");
	CK_LINE(b.p, "coapd_route_latency_seconds_sum{route=\"/hello\"} "
	    "32.00005");
	/* '"' and '\' escaped in label values */
	CK_LINE(b.p, "coapd_route_requests_total{route=\"/we\\\"ird\\\\path\"}"
	    " 0");
	ck_assert_uint_eq(b.p[b.len - 1], '\n');
	mbuf_free(&b);
}
END_TEST

/*
 * A control byte in a route path: the Prometheus text format has only the
 * \\ \" \n escapes (anything else makes the textfile collector drop the
 * file), JSON needs \u00XX.
 */
START_TEST(control_bytes)
{
	static const struct mexport_route tab[] = { { "/a\tb", 3 } };
	struct mbuf	 b = { 0 };

	ck_assert_int_eq(mexport_prom(&b, &m, tab, 1, &info), 0);
	CK_LINE(b.p, "coapd_route_requests_total{route=\"/a\tb\"} 0");
	ck_assert_ptr_null(strstr(b.p, "\\x"));
	mbuf_free(&b);
	ck_assert_int_eq(mexport_json(&b, &m, tab, 1, &info), 0);
	ck_assert_ptr_nonnull(strstr(b.p, "\"/a\\u0009b\""));
	mbuf_free(&b);
}
END_TEST

/* Each family's HELP and TYPE once, before its first sample. */
START_TEST(prom_families)
{
	struct mbuf	 b = { 0 };
	char		*save = NULL, *line, fam[128], typed[128][128];
	size_t		 ntyped = 0, i, n;
	bool		 found;

	ck_assert_int_eq(mexport_prom(&b, &m, routes, 2, &info), 0);
	for (line = strtok_r(b.p, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# TYPE ", 7) == 0) {
			ck_assert_uint_lt(ntyped, 128);
			sscanf(line + 7, "%127s", typed[ntyped]);
			for (i = 0; i < ntyped; i++)
				ck_assert_str_ne(typed[i], typed[ntyped]);
			ntyped++;
			continue;
		}
		if (line[0] == '#')
			continue;
		n = strcspn(line, "{ ");
		ck_assert_uint_lt(n, sizeof(fam));
		memcpy(fam, line, n);
		fam[n] = '\0';
		found = false;
		for (i = 0; i < ntyped && !found; i++) {
			size_t tl = strlen(typed[i]);

			found = strcmp(fam, typed[i]) == 0 ||
			    (strncmp(fam, typed[i], tl) == 0 &&
			    (strcmp(fam + tl, "_bucket") == 0 ||
			    strcmp(fam + tl, "_sum") == 0 ||
			    strcmp(fam + tl, "_count") == 0));
		}
		ck_assert_msg(found, "sample %s before its TYPE", fam);
	}
	ck_assert_uint_gt(ntyped, 30);
	mbuf_free(&b);
}
END_TEST

START_TEST(json_and_table)
{
	struct mbuf	 b = { 0 };
	size_t		 i;
	int		 depth = 0;

	ck_assert_int_eq(mexport_json(&b, &m, routes, 2, &info), 0);
	ck_assert_ptr_nonnull(strstr(b.p, "\"rx\": 12,"));
	ck_assert_ptr_nonnull(strstr(b.p, "\"drops\": {\"malformed_non\": 0"));
	ck_assert_ptr_nonnull(strstr(b.p, "\"truncated\": 5"));
	ck_assert_ptr_nonnull(strstr(b.p, "\"uptime_s\": 42,"));
	ck_assert_ptr_nonnull(strstr(b.p, "\"/hello\": {\"requests\": 3, "
	    "\"latency_sum_us\": 32000050"));
	ck_assert_ptr_nonnull(strstr(b.p, "\"+Inf\": 3}, \"answers\": 3}"));
	ck_assert_ptr_nonnull(strstr(b.p, "\"/we\\\"ird\\\\path\": "));
	for (i = 0; i < b.len; i++) {
		depth += b.p[i] == '{' ? 1 : b.p[i] == '}' ? -1 : 0;
		ck_assert_int_ge(depth, 0);
	}
	ck_assert_int_eq(depth, 0);
	mbuf_free(&b);

	ck_assert_int_eq(mexport_table(&b, &m, routes, 2, &info), 0);
	ck_assert_ptr_nonnull(strstr(b.p, "up 42 s, 3 workers"));
	ck_assert_ptr_nonnull(strstr(b.p, "  drops_truncated "));
	ck_assert_ptr_nonnull(strstr(b.p, "  /hello                           3"
	    "        1        0        0        0        0        1        1"));
	mbuf_free(&b);
}
END_TEST

/* The buffer grows past any first guess, and keeps what it had. */
START_TEST(mbuf_grows)
{
	struct mbuf	 b = { 0 };
	int		 i;

	for (i = 0; i < 10000; i++)
		mbuf_printf(&b, "%05d,", i);
	ck_assert(!b.oom);
	ck_assert_uint_eq(b.len, 60000);
	ck_assert_int_eq(strncmp(b.p + 59994, "09999,", 6), 0);
	ck_assert_uint_eq(b.p[b.len], '\0');
	mbuf_free(&b);
	ck_assert_ptr_null(b.p);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("mexport");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, prom_lines);
	tcase_add_test(tc, prom_families);
	tcase_add_test(tc, control_bytes);
	tcase_add_test(tc, json_and_table);
	tcase_add_test(tc, mbuf_grows);
	suite_add_tcase(s, tc);
	return th_run(s);
}
