/*
 * test_fwatch.c - the inotify watcher (src/daemon/fwatch.c) on a scratch tree:
 * writes, renames, deletes and new subdirectories become batches of path
 * hashes after the coalescing delay; bursts coalesce.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "helpers.h"

#include "adapt/cfg.h"
#include "base/clock.h"
#include "proto/fchange.h"
#include "daemon/fwatch.h"
#include "proto/observe.h"

static char root[64], dir[96], file[128];
static struct cfg cfg;
static struct cfg_route routes[2];

static void
put(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(data, f);
	fclose(f);
}

static void
setup(void)
{
	char p[192];

	th_mkdtemp(root, sizeof(root), "fwatch");
	snprintf(dir, sizeof(dir), "%s/tree", root);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/sub", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/.git", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(file, sizeof(file), "%s/single.txt", root);
	put(file, "x");
	memset(&cfg, 0, sizeof(cfg));
	memset(routes, 0, sizeof(routes));
	routes[0].kind = ROUTE_STATIC;
	routes[0].static_path = dir;
	routes[0].static_is_dir = true;
	routes[1].kind = ROUTE_STATIC;
	routes[1].static_path = file;
	cfg.routes = routes;
	cfg.nroutes = 2;
}

static void
teardown(void)
{
	th_rmtree(root);
}

static uint64_t
h2(const char *a, const char *b)
{
	const char *parts[2] = { a, b };

	return observe_path_hash(parts, b != NULL ? 2 : 1);
}

/* Read events for up to ms, then take the batch once it is due. */
static struct fchange *
collect(struct fwatch *fw, int ms)
{
	struct pollfd pfd;
	struct fchange *c;
	uint64_t end = clock_now_ns() + (uint64_t)ms * NS_PER_MS;

	while (clock_now_ns() < end) {
		pfd.fd = fwatch_fd(fw);
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 10);
		fwatch_read(fw, clock_now_ns());
		if ((c = fwatch_take(fw, clock_now_ns())) != NULL)
			return c;
	}
	return NULL;
}

START_TEST(changes_become_batches)
{
	struct fwatch *fw;
	struct fchange *c;
	char p[192], q[192];
	uint64_t now;
	int i;

	ck_assert_int_eq(fwatch_new(&fw), 0);
	fwatch_set_cfg(fw, &cfg);
	/* The first batch after set_cfg says "all". */
	c = fwatch_take(fw, clock_now_ns());
	ck_assert_ptr_nonnull(c);
	ck_assert(c->all);
	fchange_unref(c);
	ck_assert_int_eq(fwatch_timeout_ms(fw, clock_now_ns()), -1);
	ck_assert_ptr_null(fwatch_take(fw, clock_now_ns()));

	/* A write: due only after the coalescing delay. */
	snprintf(p, sizeof(p), "%s/a.txt", dir);
	put(p, "a");
	usleep(20000);
	now = clock_now_ns();
	fwatch_read(fw, now);
	ck_assert_int_gt(fwatch_timeout_ms(fw, now), 0);
	ck_assert_ptr_null(fwatch_take(fw, now));
	c = fwatch_take(fw, now + FWATCH_COALESCE_NS);
	ck_assert_ptr_nonnull(c);
	ck_assert(!c->all);
	ck_assert(fchange_has(c, h2(dir, "a.txt")));
	ck_assert(fchange_has(c, h2(dir, NULL)));	/* the listing */
	ck_assert(!fchange_has(c, h2(dir, "b.txt")));
	fchange_unref(c);

	/* A burst of 200 writes and renames: one batch. */
	snprintf(q, sizeof(q), "%s/sub/.tmp", dir);
	for (i = 0; i < 200; i++) {
		put(p, "burst");
		put(q, "r");
		snprintf(p, sizeof(p), "%s/sub/r.txt", dir);
		ck_assert_int_eq(rename(q, p), 0);
		snprintf(p, sizeof(p), "%s/a.txt", dir);
	}
	c = collect(fw, 500);
	ck_assert_ptr_nonnull(c);
	ck_assert(fchange_has(c, h2(dir, "a.txt")));
	ck_assert(fchange_has(c, h2(dir, "sub/r.txt")));
	fchange_unref(c);
	ck_assert_ptr_null(collect(fw, 60));

	/* A file route: its directory is watched. */
	put(file, "y");
	c = collect(fw, 500);
	ck_assert_ptr_nonnull(c);
	ck_assert(fchange_has(c, h2(file, NULL)));
	fchange_unref(c);

	/* A new subdirectory is watched from then on. */
	snprintf(p, sizeof(p), "%s/new", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	c = collect(fw, 500);
	ck_assert_ptr_nonnull(c);
	ck_assert(c->all);
	fchange_unref(c);
	snprintf(p, sizeof(p), "%s/new/n.txt", dir);
	put(p, "n");
	c = collect(fw, 500);
	ck_assert_ptr_nonnull(c);
	ck_assert(fchange_has(c, h2(dir, "new/n.txt")));
	fchange_unref(c);

	/* Deletion is a change too; hidden directories are not watched. */
	ck_assert_int_eq(unlink(p), 0);
	c = collect(fw, 500);
	ck_assert_ptr_nonnull(c);
	ck_assert(fchange_has(c, h2(dir, "new/n.txt")));
	fchange_unref(c);
	snprintf(p, sizeof(p), "%s/.git/x", dir);
	put(p, "x");
	ck_assert_ptr_null(collect(fw, 100));
	fwatch_free(fw);
}
END_TEST

static Suite *
fwatch_suite(void)
{
	Suite *s = suite_create("fwatch");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, changes_become_batches);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(fwatch_suite());
}
