/*
 * test_svc.c - handlers' timers (src/serve/svc.c): timers at 0 run on the
 * next svc_run_timers() whatever the clock says, in order, without the
 * scan of the others; a cancelled one does not run; one armed from a
 * callback waits for the next round; timers with a time run when due.
 * (Watches need a ring: the integration tests have them.)
 */
#include <errno.h>
#include <stdint.h>

#include <check.h>

#include "serve/svc.h"

static struct svc		*s;
static const struct h_svc	*ops;
static int			 fired[8], nfired;

static void
fire(void *arg, uint64_t now_ns)
{
	(void)now_ns;
	fired[nfired++] = (int)(intptr_t)arg;
}

static void
fire_and_rearm(void *arg, uint64_t now_ns)
{
	fire(arg, now_ns);
	ck_assert_int_ge(ops->timer(ops->svc, 0, fire, (void *)(intptr_t)9),
	    0);
}

static void
setup(void)
{
	ck_assert_ptr_nonnull(s = svc_new(NULL, 1, 4, 8));
	ops = svc_ops(s);
	nfired = 0;
}

static void
teardown(void)
{
	svc_free(s);
}

START_TEST(asap_runs_next_round)
{
	int	 a;

	ck_assert_uint_eq(svc_next_ns(s), UINT64_MAX);
	ck_assert_int_ge(ops->timer(ops->svc, 0, fire, (void *)1), 0);
	ck_assert_int_ge(a = ops->timer(ops->svc, 0, fire, (void *)2), 0);
	ck_assert_int_ge(ops->timer(ops->svc, 0, fire, (void *)3), 0);
	ck_assert_uint_eq(svc_next_ns(s), 0);	/* the loop must not wait */
	ops->untimer(ops->svc, a);
	svc_run_timers(s, 1000);
	ck_assert_int_eq(nfired, 2);
	ck_assert_int_eq(fired[0], 1);
	ck_assert_int_eq(fired[1], 3);
	ck_assert_uint_eq(svc_next_ns(s), UINT64_MAX);
	svc_run_timers(s, 2000);
	ck_assert_int_eq(nfired, 2);
}
END_TEST

START_TEST(asap_from_callback_waits)
{
	ck_assert_int_ge(ops->timer(ops->svc, 0, fire_and_rearm, (void *)1),
	    0);
	svc_run_timers(s, 1000);
	ck_assert_int_eq(nfired, 1);
	ck_assert_uint_eq(svc_next_ns(s), 0);
	svc_run_timers(s, 1001);
	ck_assert_int_eq(nfired, 2);
	ck_assert_int_eq(fired[1], 9);
}
END_TEST

START_TEST(timed_and_asap_together)
{
	ck_assert_int_ge(ops->timer(ops->svc, 5000, fire, (void *)5), 0);
	ck_assert_int_ge(ops->timer(ops->svc, 0, fire, (void *)1), 0);
	svc_run_timers(s, 1000);
	ck_assert_int_eq(nfired, 1);
	ck_assert_uint_eq(svc_next_ns(s), 5000);
	svc_run_timers(s, 4999);
	ck_assert_int_eq(nfired, 1);
	svc_run_timers(s, 5000);
	ck_assert_int_eq(nfired, 2);
	ck_assert_int_eq(fired[1], 5);
}
END_TEST

/* More timers at 0 than slots: refused like any timer, never overflowing. */
START_TEST(asap_table_full)
{
	int	 i;

	for (i = 0; i < 8; i++)
		ck_assert_int_ge(ops->timer(ops->svc, 0, fire, (void *)1), 0);
	ck_assert_int_eq(ops->timer(ops->svc, 0, fire, (void *)1), -ENOSPC);
	svc_run_timers(s, 1);
	ck_assert_int_eq(nfired, 8);
}
END_TEST

int
main(void)
{
	Suite	*su = suite_create("svc");
	TCase	*tc = tcase_create("timers");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, asap_runs_next_round);
	tcase_add_test(tc, asap_from_callback_waits);
	tcase_add_test(tc, timed_and_asap_together);
	tcase_add_test(tc, asap_table_full);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
