/*
 * uring.h - the worker's event loop over io_uring (the only includer of
 * <liburing.h>).  Small on purpose, in the spirit of Redis's ae.h:
 * multishot datagram receive into a provided-buffer ring, batched sendmsg,
 * multishot poll, and one call that submits everything queued and waits.
 *
 * A struct uring belongs to one thread (IORING_SETUP_SINGLE_ISSUER); create
 * it in that thread.
 */
#ifndef COAPD_URING_H
#define COAPD_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct uring;

/* One completion, copied out of the CQ. */
struct uring_event {
	uint64_t	 ud;		/* user data given at submission */
	int32_t		 res;		/* result: >= 0, or negative errno */
	uint32_t	 flags;		/* private: buffer id, F_MORE */
};

/* A received datagram, pointing into a provided buffer. */
struct uring_dgram {
	const struct sockaddr	*name;
	socklen_t		 namelen;
	uint8_t			*data;
	size_t			 len;
	bool			 truncated;	/* larger than the buffer */
	unsigned		 bid;		/* buffer to release */
};

/*
 * Create a ring with room for sq_entries submissions and a buffer ring of
 * nbufs buffers of bufsize bytes (nbufs a power of two) for receives.
 * On failure returns a negative errno and writes into err a sentence that
 * names the cause and the fix (sysctl, seccomp, memlock).
 */
int	uring_new(struct uring **out, unsigned sq_entries, unsigned nbufs,
	    unsigned bufsize, char *err, size_t errlen);
void	uring_free(struct uring *u);

/*
 * Register the sockets fds[0..n) (n <= 64) with the ring: later calls name
 * a socket by its index ("slot"), which spares the kernel a file lookup
 * per operation.  Returns 0 or a negative errno (then slots still work,
 * through the plain descriptors).
 */
int	uring_sockets(struct uring *u, const int *fds, unsigned n);

/*
 * Restrict the ring to the operations and SQE flags the functions here use
 * (IORING_REGISTER_RESTRICTIONS: io_uring bypasses seccomp), then enable
 * it: the ring starts disabled, and nothing can be submitted before this
 * call.  Call once, after uring_sockets().  *restrict_err is 0, or why the
 * kernel refused the restrictions (the ring then runs unrestricted).
 * Returns 0 or a negative errno (the ring is unusable).
 */
int	uring_seal(struct uring *u, int *restrict_err);

/*
 * Submit an IORING_OP_SOCKET (never used by coapd) and return its result:
 * -EACCES on a sealed ring.  For the tests; before anything else is queued.
 */
int	uring_try_socket(struct uring *u);

/*
 * Start a multishot recvmsg on socket slot; completions carry ud.  Re-arm
 * with the same call when an event for it arrives without
 * uring_event_more().
 */
int	uring_recv_multishot(struct uring *u, unsigned slot, uint64_t ud);
/*
 * Queue a send of buf[0..len) to addr on socket slot; buf and addr must
 * stay valid until the completion.  Flushes the submission queue when
 * full.  Returns 0 or a negative errno.
 */
int	uring_sendto(struct uring *u, unsigned slot, const void *buf,
	    size_t len, const struct sockaddr *addr, socklen_t addrlen,
	    uint64_t ud);
/* Queue a multishot poll for POLLIN on fd (eventfd, timerfd ...). */
int	uring_poll_multishot(struct uring *u, int fd, uint64_t ud);

/*
 * Queue a one-shot poll for events (POLLIN, POLLOUT) on fd; its
 * completion's res is the revents mask or a negative errno.
 */
int	uring_poll_once(struct uring *u, int fd, unsigned events, uint64_t ud);
/*
 * Queue a read or a write of len bytes of buf at offset off of fd / an
 * fsync of fd (file I/O that may wait for a slow disk).  The completion's
 * res is the count read or written (short counts happen) or 0, or a
 * negative errno; buf must stay valid until then.
 */
int	uring_read(struct uring *u, int fd, void *buf, size_t len,
	    uint64_t off, uint64_t ud);
int	uring_write(struct uring *u, int fd, const void *buf, size_t len,
	    uint64_t off, uint64_t ud);
int	uring_fsync(struct uring *u, int fd, uint64_t ud);
/*
 * Cancel the poll submitted with ud; it then completes with -ECANCELED
 * (or has already completed).  The removal's own completion carries
 * URING_UD_IGNORE.
 */
int	uring_poll_cancel(struct uring *u, uint64_t ud);
#define URING_UD_IGNORE	0

/*
 * Post an event with ud every interval_ns, from one multishot timeout
 * (kernel 6.4+).  The event's res is -ETIME; if it is -EINVAL the kernel
 * lacks multishot timeouts and the caller must wait with a timeout.
 */
int	uring_tick(struct uring *u, uint64_t interval_ns, uint64_t ud);

/*
 * Submit everything queued and wait until at least one completion is
 * there or timeout_ns passed (0: no timeout; one io_uring_enter).
 * Returns 0 (also on timeout) or a negative errno.
 */
int	uring_wait(struct uring *u, uint64_t timeout_ns);
/* Move up to max completions into ev[]; returns how many. */
unsigned uring_events(struct uring *u, struct uring_event *ev, unsigned max);

/* True when a multishot request stays armed after this event. */
bool	uring_event_more(const struct uring_event *ev);

/*
 * Decode a receive completion.  Returns 0 with d filled (release d->bid
 * afterwards), -ENOBUFS when the kernel had no buffer (re-arm), or another
 * negative errno.
 */
int	uring_dgram(struct uring *u, const struct uring_event *ev,
	    struct uring_dgram *d);
/* Give a receive buffer back to the kernel (published at uring_wait). */
void	uring_buf_release(struct uring *u, unsigned bid);

/* liburing's version, for `coapd -V`. */
const char *uring_version(void);

#endif /* COAPD_URING_H */
