/*
 * test_log.c - the per-kind limiter for log lines peers can trigger
 * (log_limited(), src/adapt/log.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "adapt/log.h"

#include "helpers.h"

#define SEC	1000000000ULL

/* Run fn with stderr in a file; what was written lands in out. */
static char out[8192];

static void
capture(void (*fn)(void))
{
	struct th_stderr	 c;

	th_stderr_begin(&c);
	fn();
	th_stderr_end(&c, out, sizeof(out));
}

static int	 written;

static void
burst(void)
{
	struct log_limit	 l = { 0 };
	uint64_t		 now = 100 * SEC;
	int			 i;

	written = 0;
	for (i = 0; i < 8; i++)
		written += log_limited(&l, now + i, LOG_LVL_WARN, NULL,
		    "peer line %d", i);
	/* the next window: one line, with the count of the held back */
	written += log_limited(&l, now + LOG_LIMIT_WINDOW_NS, LOG_LVL_WARN,
	    NULL, "peer line %d", 8);
	/* a kind with its own burst */
	{
		struct log_limit	 l2 = { .burst = 2 };

		for (i = 0; i < 4; i++)
			written += 10 * log_limited(&l2, now, LOG_LVL_WARN,
			    NULL, "own burst %d", i);
	}
	/* below the threshold: neither written nor counted */
	written += log_limited(&l, now + LOG_LIMIT_WINDOW_NS, LOG_LVL_DEBUG,
	    NULL, "debug line");
}

START_TEST(limits_per_window)
{
	unsetenv("JOURNAL_STREAM");	/* stderr, whatever runs us */
	log_init(LOG_LVL_INFO, "t");
	capture(burst);
	ck_assert_int_eq(written, LOG_LIMIT_BURST + 1 + 2 * 10);
	ck_assert_ptr_nonnull(strstr(out, "own burst 1\n"));
	ck_assert_ptr_null(strstr(out, "own burst 2"));
	ck_assert_ptr_nonnull(strstr(out, "peer line 4\n"));
	ck_assert_ptr_null(strstr(out, "peer line 5"));
	ck_assert_ptr_null(strstr(out, "peer line 7"));
	ck_assert_ptr_nonnull(strstr(out,
	    "peer line 8 (3 similar suppressed)\n"));
	ck_assert_ptr_null(strstr(out, "debug line"));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, limits_per_window);
	suite_add_tcase(s, tc);
	return th_run(s);
}
