/*
 * spawn-floor - the floor of a hook run for `make bench`: posix_spawn of
 * PROGRAM with its stdout on a pipe, read to the end, waitpid, N times;
 * prints "runs=N secs=S rate=R".  What coapd adds to a hook run is its
 * rate against this one's.
 *
 *	spawn-floor N PROGRAM [ARG...]
 */
#include <sys/wait.h>

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int
main(int argc, char *argv[])
{
	posix_spawn_file_actions_t	 fa;
	struct timespec			 t0, t1;
	char				 buf[4096];
	long				 i, n;
	pid_t				 pid;
	int				 p[2], st;
	double				 secs;

	if (argc < 3 || (n = strtol(argv[1], NULL, 10)) <= 0 || n > 1000000) {
		fprintf(stderr, "usage: spawn-floor N PROGRAM [ARG...]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		if (pipe(p) == -1)
			return 1;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
		posix_spawn_file_actions_addclose(&fa, p[0]);
		if (posix_spawn(&pid, argv[2], &fa, NULL, argv + 2,
		    environ) != 0)
			return 1;
		posix_spawn_file_actions_destroy(&fa);
		close(p[1]);
		while (read(p[0], buf, sizeof(buf)) > 0)
			;
		close(p[0]);
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("runs=%ld secs=%.3f rate=%.0f\n", n, secs, (double)n / secs);
	return 0;
}
