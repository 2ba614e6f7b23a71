/*
 * handler.h - the interface between the worker loop and the three handler
 * kinds (static files, shell hooks, Unix-socket backends).  Handlers never
 * touch sockets or the ring: they get a request and fill a response, or say
 * that the answer comes later (design.md "Request path").
 */
#ifndef COAPD_HANDLER_H
#define COAPD_HANDLER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/coap_msg.h"
#include "adapt/cfg.h"

/* What a handler sees of one request. */
struct h_req {
	const struct coap_msg	*msg;
	const struct cfg	*cfg;		/* snapshot the request runs on */
	const struct cfg_route	*route;
	const char		*path;		/* full Uri-Path, "/a/b" */
	size_t			 path_len;
	const char		*rest;		/* beneath route->path, no '/' */
	const struct sockaddr	*peer;
	socklen_t		 peerlen;
	const char		*psk_identity;	/* NULL on plain CoAP */
	uint64_t		 scope;		/* transport (dispatch.h):
						   keys per-client state */
	uint64_t		 now_ns;
	void			*hstate;	/* this kind's per-worker state */
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
};

enum h_status {
	H_DONE = 0,		/* resp is complete */
	H_PENDING = 1,		/* the answer comes later (hooks, backends) */
};

struct handler_ops {
	const char	*name;
	/* Per-worker state, created in the worker thread; NULL is fine. */
	void		*(*worker_init)(const struct cfg *c,
			    const struct h_env *env);
	void		 (*worker_fini)(void *hstate);
	/*
	 * Handle req: fill resp (code, options, payload) and return H_DONE,
	 * or H_PENDING, or a negative errno (the worker answers 5.00).
	 */
	int		 (*start)(const struct h_req *req, struct coap_resp *resp);
	/* Periodic housekeeping (reap timed-out state); may be NULL. */
	void		 (*sweep)(void *hstate, uint64_t now_ns);
};

/* The handler for a route kind, or NULL. */
const struct handler_ops *handler_for(enum route_kind kind);

extern const struct handler_ops h_file_ops;

#endif /* COAPD_HANDLER_H */
