/*
 * spawn.c - spawn.h over vfork(2) and execve(2), and a spawner thread.
 *
 * posix_spawn(3) cannot change user ids, and fork(2) of a process with
 * large mappings and several threads is slow; vfork shares memory with the
 * parent until exec, so the child may only make raw system calls: no
 * malloc, no stdio, and no glibc setuid()/setgid(), which would signal the
 * parent's threads to change theirs too.  All signals are blocked around
 * vfork so that no handler of the parent runs on the child's borrowed
 * stack; the child resets dispositions and the mask just before exec.  An
 * exec failure is passed back in memory that both share.
 *
 * vfork suspends the calling thread until the child has exec'd: measured
 * here, 120 us at the median and up to 4 ms at p99 on a loaded machine
 * (setpgid, close_range, the exec itself).  Done by a worker, that time is
 * added to every datagram queued behind the spawn: static GET p99 went
 * from 281 us alone to 2834 us beside hooks at 200/s.  So a worker never
 * spawns itself; its spawner thread does (struct spawner), and hands back
 * pid, pidfd and pipe ends through a list and an eventfd on the worker's
 * ring.  Weighed against it:
 *  - a spawn-helper process forked before the threads, fds passed back
 *    with SCM_RIGHTS: better isolation, but it must stay root to honour a
 *    route's user/group after coapd drops privileges, one more process to
 *    supervise and restart, and its children are not coapd's to waitpid
 *    or to reap at shutdown.  A thread keeps the semantics exactly: same
 *    process, same credentials, children of coapd.
 *  - one spawner for the whole daemon: one queue and lock for all workers;
 *    per worker, each queue has two users and a worker's spawns cannot
 *    wait behind another's.
 * A thread alone was not enough: waking it preempted the worker on its
 * CPU, so the worker's time in the hook handler stayed at 340 us p50
 * (1.3 ms p99).  The spawner thread runs SCHED_BATCH, which never
 * preempts on wake-up: 13 us p50, 25 us p99 (old: 300 us, 1.4 ms).  Its
 * children go back to SCHED_OTHER before exec (allowed unprivileged at the
 * same nice), so a hook runs as it did.  Under another policy (RT,
 * SCHED_IDLE set by the operator) the spawner keeps the caller's.
 * The only lock is taken per hook run, never per static request.
 */
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <sys/eventfd.h>

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
	struct sched_param	 sp = { 0 };
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
	/* allowed unprivileged (BATCH to OTHER, same nice); else harmless */
	if (r->sched_reset)
		(void)syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &sp);
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

struct spawner {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	pthread_t		 thr;
	struct spawn_job	*queue, **qtail;	/* to spawn, in order */
	struct spawn_job	*done;			/* finished */
	bool			 stop;
	bool			 batch;		/* this thread SCHED_BATCH */
	int			 evfd;
};

/* A pipe for the child's fd: *far is its (blocking) end. */
static int
job_pipe(int *near, int *far)
{
	int	 p[2], e;

	if (pipe2(p, O_CLOEXEC) != 0)
		return -errno;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0) {
		e = -errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	*near = p[0];
	*far = p[1];
	return 0;
}

/* Run j in the spawner thread: pipes, spawn, our copies closed. */
static void
job_run(const struct spawner *s, struct spawn_job *j)
{
	struct spawn_req	 r = j->req;
	int			 out_w = -1, err_w = -1;

	r.sched_reset = s->batch;
	j->out_fd = j->err_fd = j->pidfd = -1;
	j->pid = 0;
	j->rc = 0;
	if (r.fd_out < 0 && (j->rc = job_pipe(&j->out_fd, &out_w)) == 0)
		r.fd_out = out_w;
	if (j->rc == 0 && r.fd_err < 0 &&
	    (j->rc = job_pipe(&j->err_fd, &err_w)) == 0)
		r.fd_err = err_w;
	if (j->rc == 0)
		j->rc = spawn_start(&r, &j->pid, &j->pidfd);
	if (out_w >= 0)
		close(out_w);
	if (err_w >= 0)
		close(err_w);
	if (j->req.fd_in >= 0)
		close(j->req.fd_in);
	if (j->rc != 0) {
		if (j->out_fd >= 0)
			close(j->out_fd);
		if (j->err_fd >= 0)
			close(j->err_fd);
		j->out_fd = j->err_fd = -1;
	}
}

/* j is finished: to the done list, and tell the owner. */
static void
job_done(struct spawner *s, struct spawn_job *j)
{
	uint64_t	 one = 1;

	pthread_mutex_lock(&s->mu);
	j->next = s->done;
	s->done = j;
	pthread_mutex_unlock(&s->mu);
	/* a full counter (never, at 2^64 - 1) is readable anyway */
	(void)!write(s->evfd, &one, sizeof(one));
}

static void *
spawner_main(void *arg)
{
	struct spawner		*s = arg;
	struct spawn_job	*j;
	struct sched_param	 sp = { 0 };

	/* see the top of this file: batch, and the children back */
	if (s->batch && sched_setscheduler(0, SCHED_BATCH, &sp) != 0)
		s->batch = false;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->stop && s->queue == NULL)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		j = s->queue;
		if ((s->queue = j->next) == NULL)
			s->qtail = &s->queue;
		pthread_mutex_unlock(&s->mu);
		job_run(s, j);
		job_done(s, j);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int
spawner_new(struct spawner **sp)
{
	struct spawner	*s;
	pthread_attr_t	 attr;
	sigset_t	 all, old;
	int		 rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->qtail = &s->queue;
	s->batch = sched_getscheduler(0) == SCHED_OTHER;
	if ((s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		rc = -errno;
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	/* the vfork child borrows this stack: a little room is plenty */
	pthread_attr_init(&attr);
	(void)pthread_attr_setstacksize(&attr, 256 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&s->thr, &attr, spawner_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		close(s->evfd);
		free(s);
		return rc;
	}
	*sp = s;
	return 0;
}

int
spawner_fd(const struct spawner *s)
{
	return s->evfd;
}

void
spawner_submit(struct spawner *s, struct spawn_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&s->mu);
	*s->qtail = j;
	s->qtail = &j->next;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

struct spawn_job *
spawner_done(struct spawner *s)
{
	struct spawn_job	*j;
	uint64_t		 n;

	(void)!read(s->evfd, &n, sizeof(n));
	pthread_mutex_lock(&s->mu);
	j = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->mu);
	return j;
}

void
spawner_stop(struct spawner *s)
{
	struct spawn_job	*j, *next;

	pthread_mutex_lock(&s->mu);
	if (s->stop) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thr, NULL);
	/* never started: finished, cancelled */
	for (j = s->queue; j != NULL; j = next) {
		next = j->next;
		if (j->req.fd_in >= 0)
			close(j->req.fd_in);
		j->rc = -ECANCELED;
		j->pid = 0;
		j->pidfd = j->out_fd = j->err_fd = -1;
		j->next = s->done;
		s->done = j;
	}
	s->queue = NULL;
	s->qtail = &s->queue;
}

void
spawner_free(struct spawner *s)
{
	if (s == NULL)
		return;
	spawner_stop(s);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	close(s->evfd);
	free(s);
}
