/*
 * handler.h - the interface between the CoAP engine and the handler kinds
 * (static files, shell hooks, Unix-socket backends).  Handlers never touch
 * sockets or the ring: they get a request and fill a response, or say that
 * the answer comes later and finish it through the exchange service below
 * (design.md "Asynchronous exchanges").
 *
 * Handler kinds are looked up in a table (struct handler_table) that the
 * daemon lends every worker through struct h_env, so a test can run the
 * real worker with a handler kind of its own.
 */
#ifndef COAPD_HANDLER_H
#define COAPD_HANDLER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/coap_msg.h"
#include "proto/route.h"
#include "adapt/cfg.h"

struct dispatch;
struct dispatch_peer;
struct xch;

#define HANDLER_KINDS	8	/* route kinds 0..7; 0 is never a route's */

/* What a handler sees of one request. */
struct h_req {
	const struct coap_msg	*msg;
	const struct cfg	*cfg;		/* snapshot the request runs on */
	const struct cfg_route	*route;
	const char		*path;		/* full Uri-Path, "/a/b" */
	size_t			 path_len;
	const char		*rest;		/* beneath route->path, no '/' */
	const struct route_cap	*caps;		/* ":name" segments matched */
	size_t			 ncaps;
	const struct sockaddr	*peer;		/* NULL: a run for a resource's
						   observers (notify.c), no
						   one client's */
	socklen_t		 peerlen;
	const char		*psk_identity;	/* NULL on plain CoAP */
	uint64_t		 scope;		/* transport (dispatch.h):
						   keys per-client state */
	uint64_t		 now_ns;
	void			*hstate;	/* this kind's per-worker state */
	/* The engine and the sender, for xch_begin() only. */
	struct dispatch		*engine;
	const struct dispatch_peer *from;
};

/*
 * The worker's event service, lent to every handler kind's per-worker
 * state: watch a descriptor once for readability or writability, arm a
 * timer.  Callbacks run in the worker thread, from its loop, never from
 * inside the call that armed them.  Ids are >= 0; a negative return is
 * -ENOSPC (table full) or -EBUSY (no submission room).
 */
typedef void h_fd_fn(void *arg, int fd, unsigned revents);
typedef void h_timer_fn(void *arg, uint64_t now_ns);
/* A file operation's result: bytes read or written, 0, or -errno. */
typedef void h_io_fn(void *arg, int32_t res);

struct h_svc {
	/* Watch fd once for events (POLLIN, POLLOUT); fn gets revents. */
	int	(*watch)(void *svc, int fd, unsigned events, h_fd_fn *fn,
		    void *arg);
	/* Forget a watch that has not fired (call before closing fd). */
	void	(*unwatch)(void *svc, int id);
	/* Call fn once at at_ns (CLOCK_MONOTONIC). */
	int	(*timer)(void *svc, uint64_t at_ns, h_timer_fn *fn, void *arg);
	void	(*untimer)(void *svc, int id);
	/*
	 * File I/O on the worker's ring, so that a slow disk does not stop
	 * the worker: read or write len bytes of buf at off (a short count
	 * can come back), or fsync fd.  fn gets the result once; buf and fd
	 * must stay valid until then (no cancel).  Return 0 or -errno.
	 */
	int	(*read)(void *svc, int fd, void *buf, size_t len,
		    uint64_t off, h_io_fn *fn, void *arg);
	int	(*write)(void *svc, int fd, const void *buf, size_t len,
		    uint64_t off, h_io_fn *fn, void *arg);
	int	(*fsync)(void *svc, int fd, h_io_fn *fn, void *arg);
	void	*svc;
};

/*
 * What the process lends every worker's handlers.  Read-only for them;
 * the pointers stay valid for the worker's lifetime.
 */
struct h_env {
	/*
	 * Bumped by the main thread when a served file or directory changes
	 * (inotify) or the configuration is reloaded: cached file data filled
	 * under an older value must be checked against the disk again.
	 */
	const atomic_uint_least64_t *file_gen;
	/* Handler kind by route kind; NULL: 5.01 Not Implemented. */
	const struct handler_ops *ops[HANDLER_KINDS];
};

enum h_status {
	H_DONE = 0,		/* resp is complete */
	H_PENDING = 1,		/* xch_begin() was called: answer comes later */
};

/* Why the engine gave up a pending exchange (handler_ops.cancel). */
enum xch_cancel {
	XCH_CANCEL_RST = 1,	/* the client rejected it (RST) */
	XCH_CANCEL_LIFETIME,	/* older than EXCHANGE_LIFETIME */
	XCH_CANCEL_SHUTDOWN,	/* the worker stops */
};

struct handler_ops {
	const char	*name;
	/*
	 * Per-worker state, created in the worker thread; NULL is fine.
	 * svc is valid until worker_fini.
	 */
	void		*(*worker_init)(const struct cfg *c,
			    const struct h_env *env, const struct h_svc *svc);
	void		 (*worker_fini)(void *hstate);
	/*
	 * Handle req: fill resp (code, options, payload) and return H_DONE;
	 * or call xch_begin() and return H_PENDING; or return a negative
	 * errno (the engine answers 5.00).
	 */
	int		 (*start)(const struct h_req *req, struct coap_resp *resp);
	/*
	 * The engine gave up the pending exchange begun with ctx: release
	 * what it holds; never call xch_complete() for it afterwards.
	 * Required when start() can return H_PENDING.
	 */
	void		 (*cancel)(void *ctx, enum xch_cancel why);
	/* Periodic housekeeping (reap timed-out state); may be NULL. */
	void		 (*sweep)(void *hstate, uint64_t now_ns);
};

/*
 * Take one of max slots counted by n (shared by the workers; NULL or max
 * 0: no limit).  False when all are taken: answer xch_busy().
 */
static inline bool
handler_slot_take(atomic_uint *n, unsigned max)
{
	if (n == NULL)
		return true;
	if (atomic_fetch_add(n, 1) >= max && max > 0) {
		atomic_fetch_sub(n, 1);
		return false;
	}
	return true;
}

static inline void
handler_slot_give(atomic_uint *n)
{
	if (n != NULL)
		atomic_fetch_sub(n, 1);
}

/* The built-in handler kinds, by route kind. */
void	handler_table_init(struct h_env *env);

/* The handler for a route kind in env, or NULL. */
const struct handler_ops *handler_for(const struct h_env *env,
	    unsigned kind);

/*
 * The pending exchange (serve/xch.c).  From start(): the answer to req
 * comes later; ctx is handed back to ops->cancel.  Returns the exchange,
 * or NULL when the worker already holds max_separate of them (then fill
 * resp and return H_DONE: xch_busy() does it).
 */
struct xch *xch_begin(const struct h_req *req, void *ctx);
/* 5.03 Service Unavailable with Max-Age, for a start() that got NULL. */
void	xch_busy(struct coap_resp *resp);
/*
 * The response to fill before xch_complete(): the engine's scratch,
 * reset (code 0, no options, an empty payload of COAP_PAYLOAD_MAX bytes).
 */
struct coap_resp *xch_resp(struct xch *x);
/*
 * Send the response filled in xch_resp(x) (piggybacked, separate or NON,
 * as the exchange stands) and end the handler's part: x is invalid after.
 */
void	xch_complete(struct xch *x, uint64_t now_ns);

extern const struct handler_ops h_file_ops;
extern const struct handler_ops h_hook_ops;
extern const struct handler_ops h_backend_ops;

#endif /* COAPD_HANDLER_H */
