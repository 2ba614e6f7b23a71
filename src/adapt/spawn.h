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
	bool		 sched_reset;	/* SCHED_OTHER in the child (from
					   a spawner's SCHED_BATCH) */
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

/*
 * A spawner: one thread that runs spawn_start() for its owner (a worker),
 * so that the owner is never held while a child execs.  The owner submits
 * jobs and learns of finished ones through an eventfd; both sides take a
 * mutex once per job, nothing else is shared.
 */
struct spawner;

struct spawn_job {
	struct spawn_job	*next;		/* the spawner's */
	/* In: fd_out or fd_err -1 asks for a pipe (its read end returned,
	   O_NONBLOCK|O_CLOEXEC); fd_in is closed once the child has it. */
	struct spawn_req	 req;
	void			*arg;		/* the owner's */
	/* Out: rc 0 with pid and pidfd (spawn_start()) and the pipes' read
	   ends, or -errno (-ECANCELED: the spawner stopped first). */
	int			 rc;
	pid_t			 pid;
	int			 pidfd, out_fd, err_fd;
};

/*
 * A spawner with its thread (all signals blocked in it); 0 or -errno.
 * When the caller runs under SCHED_OTHER, the thread runs under
 * SCHED_BATCH, which never preempts the caller on wake-up, and its
 * children go back to SCHED_OTHER just before exec.
 */
int	spawner_new(struct spawner **sp);

/* Readable when spawner_done() has jobs (an eventfd, non-blocking). */
int	spawner_fd(const struct spawner *s);

/* Queue j; the spawner owns it until spawner_done() hands it back. */
void	spawner_submit(struct spawner *s, struct spawn_job *j);

/* The finished jobs (a list by next), NULL when none; clears the fd. */
struct spawn_job *spawner_done(struct spawner *s);

/*
 * Stop: the job being spawned finishes, the queued ones finish with
 * -ECANCELED, the thread is joined.  spawner_done() then returns every job
 * still held (take them before spawner_free(), which stops too).
 */
void	spawner_stop(struct spawner *s);
void	spawner_free(struct spawner *s);

#endif /* COAPD_SPAWN_H */
