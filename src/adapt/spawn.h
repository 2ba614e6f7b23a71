/*
 * spawn.h - start a program the way a daemon must (hook routes): argv
 * executed directly, a given environment, stdin/stdout/stderr given, every
 * other descriptor closed, its own process group, default signal
 * dispositions and mask, optionally other user and group ids, and a pidfd
 * to watch it by.  Works from any thread of a multithreaded process.
 */
#ifndef COAPD_SPAWN_H
#define COAPD_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct spawn_req {
	char *const	*argv;		/* argv[0] is the path executed */
	char *const	*envp;
	int		 fd_in, fd_out, fd_err;	/* become 0, 1, 2 */
	bool		 set_ids;	/* run as uid/gid, no supplementary
					   groups */
	uid_t		 uid;
	gid_t		 gid;
	const char	*cwd;		/* NULL: "/" */
};

/*
 * Start r.  On success returns 0 with the child's pid (also its process
 * group) and a pidfd (O_CLOEXEC) that becomes readable when it exits; the
 * caller reaps it with spawn_reap().  Returns -errno when the program
 * could not be started (the child's exec errno: -ENOENT, -EACCES...).
 */
int	spawn_start(const struct spawn_req *r, pid_t *pid, int *pidfd);

/*
 * Reap pid without blocking.  Returns 1 with *status (as waitpid's) when it
 * has exited, 0 when it still runs, -errno on error.
 */
int	spawn_reap(pid_t pid, int *status);

/* Signal the process group of pid (a spawn_start() child). */
void	spawn_kill(pid_t pid, int sig);

#endif /* COAPD_SPAWN_H */
