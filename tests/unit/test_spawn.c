/*
 * test_spawn.c - the spawner thread (src/adapt/spawn.c): jobs come back
 * through the eventfd with pid, pidfd and pipes; an exec failure comes
 * back as -errno; a stopped spawner hands back every job it held.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "adapt/spawn.h"

#define NJOBS	8

static char *const	 env[] = { "PATH=/bin:/usr/bin", "X=spawn-test", NULL };

static uint64_t
now_us(void)
{
	struct timespec	 t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

static void
job_init(struct spawn_job *j, char *const *argv)
{
	memset(j, 0, sizeof(*j));
	j->req.argv = argv;
	j->req.envp = env;
	j->req.fd_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	j->req.fd_out = j->req.fd_err = -1;
	ck_assert_int_ge(j->req.fd_in, 0);
}

/* Wait (bounded) for finished jobs; returns how many came back. */
static int
collect(struct spawner *s, struct spawn_job **got, int want)
{
	struct pollfd		 p = { spawner_fd(s), POLLIN, 0 };
	struct spawn_job	*j;
	uint64_t		 until = now_us() + 5000000;
	int			 n = 0;

	while (n < want && now_us() < until) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		for (j = spawner_done(s); j != NULL; j = j->next)
			got[n++] = j;
	}
	return n;
}

/* Read all of fd (blocking, bounded by the child's life). */
static size_t
slurp(int fd, char *buf, size_t cap)
{
	struct pollfd	 p = { fd, POLLIN, 0 };
	size_t		 n = 0;
	ssize_t		 r;

	for (;;) {
		r = read(fd, buf + n, cap - n - 1);
		if (r > 0) {
			n += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EAGAIN && poll(&p, 1, 5000) > 0)
			continue;
		break;
	}
	buf[n] = '\0';
	return n;
}

START_TEST(runs_with_pipes)
{
	char *const		 argv[] = { "/bin/sh", "-c",
				    "echo out $X; echo err >&2", NULL };
	struct spawner		*s;
	struct spawn_job	 j, *got[1];
	char			 buf[256];
	int			 st;

	ck_assert_int_eq(spawner_new(&s), 0);
	job_init(&j, argv);
	spawner_submit(s, &j);
	ck_assert_int_eq(collect(s, got, 1), 1);
	ck_assert_ptr_eq(got[0], &j);
	ck_assert_int_eq(j.rc, 0);
	ck_assert_int_gt(j.pid, 0);
	ck_assert_int_ge(j.pidfd, 0);
	ck_assert_int_ne(fcntl(j.out_fd, F_GETFL) & O_NONBLOCK, 0);
	slurp(j.out_fd, buf, sizeof(buf));
	ck_assert_str_eq(buf, "out spawn-test\n");
	slurp(j.err_fd, buf, sizeof(buf));
	ck_assert_str_eq(buf, "err\n");
	ck_assert_int_eq(waitpid(j.pid, &st, 0), j.pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* its stdin was the job's: closed once the child had it */
	ck_assert_int_eq(fcntl(j.req.fd_in, F_GETFD), -1);
	close(j.pidfd);
	close(j.out_fd);
	close(j.err_fd);
	spawner_free(s);
}
END_TEST

/* The spawner runs SCHED_BATCH; what it starts runs as its caller. */
START_TEST(child_policy_is_callers)
{
	char *const		 argv[] = { "/bin/sh", "-c",
				    "sed -n 's/^policy *: *//p' /proc/self/sched",
				    NULL };
	struct spawner		*s;
	struct spawn_job	 j, *got[1];
	char			 buf[64];

	ck_assert_int_eq(sched_getscheduler(0), SCHED_OTHER);
	ck_assert_int_eq(spawner_new(&s), 0);
	job_init(&j, argv);
	spawner_submit(s, &j);
	ck_assert_int_eq(collect(s, got, 1), 1);
	ck_assert_int_eq(j.rc, 0);
	slurp(j.out_fd, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0\n");
	ck_assert_int_eq(waitpid(j.pid, NULL, 0), j.pid);
	close(j.pidfd);
	close(j.out_fd);
	close(j.err_fd);
	spawner_free(s);
}
END_TEST

START_TEST(exec_failure)
{
	char *const		 argv[] = { "/nonexistent/hook", NULL };
	struct spawner		*s;
	struct spawn_job	 j, *got[1];

	ck_assert_int_eq(spawner_new(&s), 0);
	job_init(&j, argv);
	spawner_submit(s, &j);
	ck_assert_int_eq(collect(s, got, 1), 1);
	ck_assert_int_eq(j.rc, -ENOENT);
	ck_assert_int_eq(j.pid, 0);
	ck_assert_int_eq(j.out_fd, -1);
	ck_assert_int_eq(j.err_fd, -1);
	/* no zombie left behind by the failed exec */
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	spawner_free(s);
}
END_TEST

START_TEST(stop_hands_back_all)
{
	char *const		 argv[] = { "/bin/true", NULL };
	struct spawner		*s;
	struct spawn_job	 j[NJOBS], *k;
	int			 i, n = 0;

	ck_assert_int_eq(spawner_new(&s), 0);
	for (i = 0; i < NJOBS; i++) {
		job_init(&j[i], argv);
		spawner_submit(s, &j[i]);
	}
	spawner_stop(s);
	for (k = spawner_done(s); k != NULL; k = k->next) {
		n++;
		if (k->rc == 0) {
			ck_assert_int_eq(waitpid(k->pid, NULL, 0), k->pid);
			close(k->pidfd);
			close(k->out_fd);
			close(k->err_fd);
		} else {
			ck_assert_int_eq(k->rc, -ECANCELED);
		}
		ck_assert_int_eq(fcntl(k->req.fd_in, F_GETFD), -1);
	}
	ck_assert_int_eq(n, NJOBS);
	ck_assert_ptr_null(spawner_done(s));
	spawner_free(s);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("spawn");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 nf;

	tcase_add_test(tc, runs_with_pipes);
	tcase_add_test(tc, child_policy_is_callers);
	tcase_add_test(tc, exec_failure);
	tcase_add_test(tc, stop_hands_back_all);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
