/*
 * uring.c - io_uring adapter.  See uring.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <liburing.h>

#include "adapt/uring.h"

#define URING_BGID		0
#define URING_MAX_SLOTS		64
#define URING_NAMELEN		sizeof(struct sockaddr_in6)

struct uring {
	struct io_uring		 ring;
	struct io_uring_buf_ring *br;
	size_t			 br_bytes;
	uint8_t			*bufs;
	size_t			 bufs_bytes;
	unsigned		 nbufs;
	unsigned		 bufsize;
	unsigned		 br_pending;	/* released, not yet published */
	struct msghdr		 tmpl[URING_MAX_SLOTS];
	int			 fds[URING_MAX_SLOTS];
	unsigned		 nfds;
	bool			 fixed;		/* fds registered */
	bool			 enabled;	/* not started disabled */
	struct __kernel_timespec tick;		/* read by the kernel */
};

#ifndef IORING_TIMEOUT_MULTISHOT
#define IORING_TIMEOUT_MULTISHOT	(1U << 6)	/* kernel 6.4 */
#endif

/*
 * Read the integer in a /proc/sys file into *v: 0, or a negative errno
 * and *v is left as it was.
 */
static int
read_sysctl_int(const char *path, int *v)
{
	FILE	*f = fopen(path, "r");
	int	 n, e = 0;

	if (f == NULL)
		return -errno;
	if (fscanf(f, "%d", &n) == 1)
		*v = n;
	else
		e = -EINVAL;
	fclose(f);
	return e;
}

static void
explain_setup_error(int e, char *err, size_t errlen)
{
	struct rlimit	 rl;
	int		 disabled = 0;	/* unreadable: not disabled */

	(void)read_sysctl_int("/proc/sys/kernel/io_uring_disabled",
	    &disabled);
	if ((e == -EPERM || e == -EACCES) && disabled > 0) {
		snprintf(err, errlen, "io_uring is disabled by sysctl "
		    "kernel.io_uring_disabled=%d; set it to 0 "
		    "(sysctl -w kernel.io_uring_disabled=0)", disabled);
	} else if (e == -ENOSYS || e == -EPERM) {
		snprintf(err, errlen, "io_uring_setup was refused (%s): the "
		    "kernel lacks io_uring or a seccomp filter blocks it "
		    "(Docker's default profile does); allow io_uring_setup, "
		    "io_uring_enter and io_uring_register, or run on the host",
		    strerror(-e));
	} else if (e == -ENOMEM) {
		getrlimit(RLIMIT_MEMLOCK, &rl);
		snprintf(err, errlen, "io_uring could not get memory (locked "
		    "memory limit %llu KiB): raise LimitMEMLOCK= in the unit "
		    "or `ulimit -l`, or lower the worker count",
		    (unsigned long long)rl.rlim_cur / 1024);
	} else
		snprintf(err, errlen, "io_uring setup failed: %s",
		    strerror(-e));
}

static int
ring_init(struct io_uring *ring, unsigned entries)
{
	struct io_uring_params	 p;
	int			 r;

	/*
	 * One thread submits and reaps, so let the kernel run completion
	 * work only when we enter (DEFER_TASKRUN): no IPIs, fewer context
	 * switches.  Older kernels refuse the flags; fall back.  The ring
	 * starts disabled: uring_seal() restricts and enables it (1 is
	 * returned for a kernel without IORING_SETUP_R_DISABLED).
	 */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	    IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
	p.cq_entries = entries * 4;
	r = io_uring_queue_init_params(entries, ring, &p);
	if (r == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
		p.cq_entries = entries * 4;
		r = io_uring_queue_init_params(entries, ring, &p);
	}
	if (r == -EINVAL) {
		/* before 5.10: no disabled start, hence no restrictions */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 4;
		r = io_uring_queue_init_params(entries, ring, &p);
		return r < 0 ? r : 1;
	}
	return r;
}

int
uring_new(struct uring **out, unsigned sq_entries, unsigned nbufs,
    unsigned bufsize, char *err, size_t errlen)
{
	struct io_uring_buf_reg	 reg;
	struct uring		*u;
	unsigned		 i;
	int			 r;

	if (nbufs == 0 || (nbufs & (nbufs - 1)) != 0 || nbufs > 32768) {
		snprintf(err, errlen, "buffer count %u is not a power of two",
		    nbufs);
		return -EINVAL;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((r = ring_init(&u->ring, sq_entries)) < 0) {
		explain_setup_error(r, err, errlen);
		free(u);
		return r;
	}
	u->enabled = r == 1;
	u->nbufs = nbufs;
	u->bufsize = bufsize;
	u->br_bytes = nbufs * sizeof(struct io_uring_buf);
	/* liburing 2.3 has no io_uring_setup_buf_ring(): map it ourselves. */
	u->br = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE,
	    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	u->bufs_bytes = (size_t)nbufs * bufsize;
	u->bufs = mmap(NULL, u->bufs_bytes, PROT_READ | PROT_WRITE,
	    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (u->br == MAP_FAILED || u->bufs == MAP_FAILED) {
		r = -ENOMEM;
		snprintf(err, errlen, "cannot map receive buffers: %s",
		    strerror(ENOMEM));
		goto fail;
	}
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)u->br;
	reg.ring_entries = nbufs;
	reg.bgid = URING_BGID;
	if ((r = io_uring_register_buf_ring(&u->ring, &reg, 0)) < 0) {
		snprintf(err, errlen, "cannot register the buffer ring "
		    "(kernel 5.19 or later needed): %s", strerror(-r));
		goto fail;
	}
	io_uring_buf_ring_init(u->br);
	for (i = 0; i < nbufs; i++)
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * bufsize,
		    bufsize, (unsigned short)i,
		    io_uring_buf_ring_mask(nbufs), (int)i);
	io_uring_buf_ring_advance(u->br, (int)nbufs);
	*out = u;
	return 0;
fail:
	uring_free(u);
	return r;
}

void
uring_free(struct uring *u)
{
	if (u == NULL)
		return;
	io_uring_queue_exit(&u->ring);
	if (u->br != NULL && u->br != MAP_FAILED)
		munmap(u->br, u->br_bytes);
	if (u->bufs != NULL && u->bufs != MAP_FAILED)
		munmap(u->bufs, u->bufs_bytes);
	free(u);
}

/*
 * io_uring operations bypass seccomp (an IORING_OP_SOCKET makes sockets
 * RestrictAddressFamilies= would refuse, IORING_OP_OPENAT opens files):
 * each ring is restricted to the operations the functions below prepare,
 * and to the SQE flags they set.  liburing 2.3 declares
 * io_uring_register_restrictions() and io_uring_enable_rings() but does
 * not export them: raw system calls.
 */
static const uint8_t uring_ops[] = {
	IORING_OP_RECVMSG,	/* uring_recv_multishot */
	IORING_OP_SEND,		/* uring_sendto */
	IORING_OP_POLL_ADD,	/* uring_poll_multishot, uring_poll_once */
	IORING_OP_POLL_REMOVE,	/* uring_poll_cancel */
	IORING_OP_TIMEOUT,	/* uring_tick; waits on pre-5.11 kernels */
	IORING_OP_READ,		/* uring_read (Block2, h_file_async.c) */
	IORING_OP_WRITE,	/* uring_write (uploads, h_file_async.c) */
	IORING_OP_FSYNC,	/* uring_fsync */
};
#define URING_NOPS	(sizeof(uring_ops) / sizeof(uring_ops[0]))

static int
ring_register(struct uring *u, unsigned op, const void *arg, unsigned n)
{
	long	 r;

	r = syscall(__NR_io_uring_register, u->ring.ring_fd, op, arg, n);
	return r < 0 ? -errno : 0;
}

int
uring_seal(struct uring *u, int *restrict_err)
{
	struct io_uring_restriction	 res[URING_NOPS + 1];
	size_t				 i;
	int				 r;

	if (u->enabled) {
		*restrict_err = -EOPNOTSUPP;
		return 0;
	}
	memset(res, 0, sizeof(res));
	for (i = 0; i < URING_NOPS; i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = uring_ops[i];
	}
	res[i].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[i].sqe_flags = IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	*restrict_err = ring_register(u, IORING_REGISTER_RESTRICTIONS, res,
	    URING_NOPS + 1);
	/* No register operation stays allowed: none is needed later. */
	if ((r = ring_register(u, IORING_REGISTER_ENABLE_RINGS, NULL, 0)) == 0)
		u->enabled = true;
	return r;
}

int
uring_try_socket(struct uring *u)
{
	struct io_uring_sqe	*sqe;
	struct io_uring_cqe	*cqe;
	int			 r;

	if ((sqe = io_uring_get_sqe(&u->ring)) == NULL)
		return -EBUSY;
	io_uring_prep_socket(sqe, AF_INET, SOCK_DGRAM, 0, 0);
	io_uring_sqe_set_data64(sqe, UINT64_MAX);
	if ((r = io_uring_submit_and_wait(&u->ring, 1)) < 0)
		return r;
	if ((r = io_uring_peek_cqe(&u->ring, &cqe)) < 0)
		return r;
	r = cqe->res;
	io_uring_cqe_seen(&u->ring, cqe);
	if (r >= 0)
		close(r);
	return r;
}

static struct io_uring_sqe *
get_sqe(struct uring *u)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = io_uring_get_sqe(&u->ring)) != NULL)
		return sqe;
	/* Full: hand the queue to the kernel now, then there is room. */
	io_uring_submit(&u->ring);
	return io_uring_get_sqe(&u->ring);
}

int
uring_sockets(struct uring *u, const int *fds, unsigned n)
{
	int	 r;

	if (n > URING_MAX_SLOTS)
		return -E2BIG;
	memcpy(u->fds, fds, n * sizeof(*fds));
	u->nfds = n;
	r = io_uring_register_files(&u->ring, fds, n);
	u->fixed = r == 0;
	return r;
}

/* Point sqe at socket slot: a fixed file index, or the plain fd. */
static void
sqe_socket(struct uring *u, struct io_uring_sqe *sqe, unsigned slot)
{
	if (u->fixed) {
		sqe->fd = (int)slot;
		sqe->flags |= IOSQE_FIXED_FILE;
	} else
		sqe->fd = u->fds[slot];
}

int
uring_recv_multishot(struct uring *u, unsigned slot, uint64_t ud)
{
	struct io_uring_sqe	*sqe;
	struct msghdr		*m;

	if (slot >= u->nfds)
		return -EINVAL;
	m = &u->tmpl[slot];
	memset(m, 0, sizeof(*m));
	m->msg_namelen = URING_NAMELEN;
	if ((sqe = get_sqe(u)) == NULL)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, -1, m, 0);
	sqe_socket(u, sqe, slot);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int
uring_sendto(struct uring *u, unsigned slot, const void *buf, size_t len,
    const struct sockaddr *addr, socklen_t addrlen, uint64_t ud)
{
	struct io_uring_sqe	*sqe;

	if (slot >= u->nfds)
		return -EINVAL;
	if ((sqe = get_sqe(u)) == NULL)
		return -EBUSY;
	/*
	 * IORING_OP_SEND with a destination (kernel 6.0+) rather than
	 * SENDMSG: no msghdr or iovec to copy in per datagram.
	 */
	io_uring_prep_send(sqe, -1, buf, len, 0);
	io_uring_prep_send_set_addr(sqe, addr, (uint16_t)addrlen);
	sqe_socket(u, sqe, slot);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int
uring_poll_multishot(struct uring *u, int fd, uint64_t ud)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = get_sqe(u)) == NULL)
		return -EBUSY;
	io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int
uring_poll_once(struct uring *u, int fd, unsigned events, uint64_t ud)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = get_sqe(u)) == NULL)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int
uring_read(struct uring *u, int fd, void *buf, size_t len, uint64_t off,
    uint64_t ud)
{
	struct io_uring_sqe	*sqe;

	if (len > UINT32_MAX)
		return -EINVAL;
	if ((sqe = get_sqe(u)) == NULL)
		return -EBUSY;
	io_uring_prep_read(sqe, fd, buf, (unsigned)len, off);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int
uring_write(struct uring *u, int fd, const void *buf, size_t len,
    uint64_t off, uint64_t ud)
{
	struct io_uring_sqe	*sqe;

	if (len > UINT32_MAX)
		return -EINVAL;
	if ((sqe = get_sqe(u)) == NULL)
		return -EBUSY;
	io_uring_prep_write(sqe, fd, buf, (unsigned)len, off);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int
uring_fsync(struct uring *u, int fd, uint64_t ud)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = get_sqe(u)) == NULL)
		return -EBUSY;
	io_uring_prep_fsync(sqe, fd, 0);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int
uring_poll_cancel(struct uring *u, uint64_t ud)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = get_sqe(u)) == NULL)
		return -EBUSY;
	io_uring_prep_poll_remove(sqe, ud);
	io_uring_sqe_set_data64(sqe, URING_UD_IGNORE);
	return 0;
}

int
uring_tick(struct uring *u, uint64_t interval_ns, uint64_t ud)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = get_sqe(u)) == NULL)
		return -EBUSY;
	u->tick.tv_sec = (long long)(interval_ns / 1000000000ULL);
	u->tick.tv_nsec = (long long)(interval_ns % 1000000000ULL);
	io_uring_prep_timeout(sqe, &u->tick, 0, IORING_TIMEOUT_MULTISHOT);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int
uring_wait(struct uring *u, uint64_t timeout_ns)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe	*cqe;
	int			 r;

	if (u->br_pending > 0) {
		io_uring_buf_ring_advance(u->br, (int)u->br_pending);
		u->br_pending = 0;
	}
	if (timeout_ns == 0) {
		/* No timer to arm and cancel on every call. */
		r = io_uring_submit_and_wait(&u->ring, 1);
		return r >= 0 || r == -EINTR ? 0 : r;
	}
	ts.tv_sec = (long long)(timeout_ns / 1000000000ULL);
	ts.tv_nsec = (long long)(timeout_ns % 1000000000ULL);
	r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
	if (r == -ETIME || r == -EINTR || r >= 0)
		return 0;
	return r;
}

unsigned
uring_events(struct uring *u, struct uring_event *ev, unsigned max)
{
	struct io_uring_cqe	*cqe;
	unsigned		 head, n = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		if (n == max)
			break;
		ev[n].ud = cqe->user_data;
		ev[n].res = cqe->res;
		ev[n].flags = cqe->flags;
		n++;
	}
	io_uring_cq_advance(&u->ring, n);
	return n;
}

bool
uring_event_more(const struct uring_event *ev)
{
	return (ev->flags & IORING_CQE_F_MORE) != 0;
}

int
uring_dgram(struct uring *u, const struct uring_event *ev,
    struct uring_dgram *d)
{
	struct io_uring_recvmsg_out	*o;
	struct msghdr			 m;
	unsigned			 bid;
	uint8_t				*buf;

	if (ev->res < 0)
		return ev->res;
	if (!(ev->flags & IORING_CQE_F_BUFFER))
		return -EINVAL;
	bid = ev->flags >> IORING_CQE_BUFFER_SHIFT;
	if (bid >= u->nbufs)
		return -EINVAL;
	buf = u->bufs + (size_t)bid * u->bufsize;
	memset(&m, 0, sizeof(m));
	m.msg_namelen = URING_NAMELEN;
	d->bid = bid;
	o = io_uring_recvmsg_validate(buf, ev->res, &m);
	if (o == NULL) {
		uring_buf_release(u, bid);
		return -EBADMSG;
	}
	d->name = io_uring_recvmsg_name(o);
	d->namelen = o->namelen > URING_NAMELEN ? URING_NAMELEN : o->namelen;
	d->data = io_uring_recvmsg_payload(o, &m);
	d->len = io_uring_recvmsg_payload_length(o, ev->res, &m);
	d->truncated = (o->flags & MSG_TRUNC) != 0;
	return 0;
}

void
uring_buf_release(struct uring *u, unsigned bid)
{
	io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * u->bufsize,
	    u->bufsize, (unsigned short)bid, io_uring_buf_ring_mask(u->nbufs),
	    (int)u->br_pending);
	u->br_pending++;
}

/*
 * liburing 2.4 has io_uring_major_version() for the library at run time;
 * 2.3 (Debian 12) has neither that nor a version macro, so the version is
 * pkg-config's at build time, and the kernel's release says which
 * io_uring the binary really talks to.
 */
const char *
uring_version(void)
{
	static char	 v[160];
	struct utsname	 u;
	const char	*kernel = uname(&u) == 0 ? u.release : "unknown";

#if defined(IO_URING_VERSION_MAJOR)
	snprintf(v, sizeof(v), "%d.%d (run time; kernel %s)",
	    io_uring_major_version(), io_uring_minor_version(), kernel);
#elif defined(COAPD_LIBURING_VERSION)
	snprintf(v, sizeof(v), "%s (build; liburing before 2.4 has no "
	    "run-time version call; kernel %s)", COAPD_LIBURING_VERSION[0] !=
	    '\0' ? COAPD_LIBURING_VERSION : "version unknown", kernel);
#else
	snprintf(v, sizeof(v), "(version unknown; kernel %s)", kernel);
#endif
	return v;
}
