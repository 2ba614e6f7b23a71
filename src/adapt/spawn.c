/*
 * spawn.c - spawn.h over vfork(2) and execve(2).
 *
 * posix_spawn(3) cannot change user ids, and fork(2) of a process with
 * large mappings and several threads is slow; vfork shares memory with the
 * parent until exec, so the child may only make raw system calls: no
 * malloc, no stdio, and no glibc setuid()/setgid(), which would signal the
 * parent's threads to change theirs too.  All signals are blocked around
 * vfork so that no handler of the parent runs on the child's borrowed
 * stack; the child resets dispositions and the mask just before exec.  An
 * exec failure is passed back in memory that both share.
 */
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "adapt/spawn.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open	434
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE	(1U << 1)
#endif

/* In the vfork child: never returns.  err is the parent's memory. */
static void __attribute__((noreturn))
child(const struct spawn_req *r, volatile int *err)
{
	struct sigaction	 sa;
	sigset_t		 none;
	int			 sig;

	if (setpgid(0, 0) != 0)
		goto fail;
	if (r->set_ids &&
	    (syscall(SYS_setgroups, 0, NULL) != 0 ||
	    syscall(SYS_setresgid, r->gid, r->gid, r->gid) != 0 ||
	    syscall(SYS_setresuid, r->uid, r->uid, r->uid) != 0))
		goto fail;
	if (dup2(r->fd_in, 0) < 0 || dup2(r->fd_out, 1) < 0 ||
	    dup2(r->fd_err, 2) < 0)
		goto fail;
	if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
		goto fail;
	if (chdir(r->cwd != NULL ? r->cwd : "/") != 0)
		goto fail;
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execve(r->argv[0], r->argv, r->envp);
fail:
	*err = errno;
	_exit(127);
}

int
spawn_start(const struct spawn_req *r, pid_t *pid, int *pidfd)
{
	volatile int	 err = 0;
	sigset_t	 all, old;
	pid_t		 p;
	int		 fd, st;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p = vfork();
	if (p == 0)
		child(r, &err);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p < 0)
		return -errno;
	if (err != 0) {
		(void)waitpid(p, &st, 0);
		return -err;
	}
	/* The child has exec'd (vfork returned): a zombie at worst. */
	fd = (int)syscall(SYS_pidfd_open, p, 0);
	if (fd < 0) {
		err = errno;
		kill(-p, SIGKILL);
		(void)waitpid(p, &st, 0);
		return -err;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	*pid = p;
	*pidfd = fd;
	return 0;
}

int
spawn_reap(pid_t pid, int *status)
{
	pid_t	 p;

	do
		p = waitpid(pid, status, WNOHANG);
	while (p < 0 && errno == EINTR);
	if (p < 0)
		return -errno;
	return p == pid;
}

void
spawn_kill(pid_t pid, int sig)
{
	if (pid > 0)
		(void)kill(-pid, sig);
}
