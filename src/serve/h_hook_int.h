/*
 * h_hook_int.h - shared by the hook handler's two halves: h_hook.c (the
 * request side: body, environment, limits, cached outputs for Block2) and
 * h_hook_run.c (the process side: spawn, pipes, pidfd, timeout, answer).
 */
#ifndef COAPD_H_HOOK_INT_H
#define COAPD_H_HOOK_INT_H

#include <sys/socket.h>
#include <sys/types.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapt/cfg.h"
#include "proto/block.h"
#include "proto/upload.h"
#include "serve/handler.h"

#define HOOK_CACHE_SLOTS	32	/* outputs kept for Block2, per worker */
#define HOOK_KEY_MAX		512	/* path '?' query of a cached output */
#define HOOK_ERR_LINE_MAX	256	/* one stderr line logged, at most */
#define HOOK_ERR_LINES_RUN	20	/* stderr lines logged per run */
#define HOOK_ERR_LINES_SEC	50	/* stderr lines logged per worker/s */

/* A finished run's output, kept so that later Block2 blocks need no run. */
struct hook_out {
	bool			 used;
	uint64_t		 scope;
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	char			 key[HOOK_KEY_MAX];
	size_t			 keylen;
	uint8_t			 code;
	int			 ct;		/* -1: none */
	int64_t			 max_age;	/* -1: the route's */
	uint8_t			 etag[8];
	size_t			 etag_len;
	char			*data;		/* the payload, owned */
	size_t			 len;
	uint64_t		 expires_ns;
	uint64_t		 stored_ns;	/* the oldest is evicted first */
};

struct hook_run;
struct spawner;

/* One worker's hook state (handler_ops.worker_init). */
struct hook_worker {
	const struct h_svc	*svc;
	struct hook_run		*runs;		/* running or being reaped */
	unsigned		 nruns;
	struct spawner		*sp;		/* made at the first run */
	int			 sp_watch;	/* its fd watched; -1 */
	int			 sp_retry;	/* watch again later; -1 */
	struct upload_table	 up;		/* Block1 bodies */
	struct hook_out		 cache[HOOK_CACHE_SLOTS];
	size_t			 cache_bytes;
	int			 devnull;	/* stdin without a body */
	uint32_t		 grace_s;	/* hooks.term_grace_s */
	uint64_t		 log_sec;	/* stderr rate limit window */
	unsigned		 log_lines;
	/* coapd's own lines a client can provoke (log_limited()) */
	struct log_limit	 ll_fail;	/* a run failed */
	struct log_limit	 ll_esupp;	/* stderr lines not logged */
	struct log_limit	 ll_tmp;	/* no temporary file */
};

/* Runs at once in the whole process (hooks.max_running). */
extern atomic_uint	 hook_running_total;

/* What a run must remember of its request to answer it. */
struct hook_ask {
	uint8_t			 method;
	struct block_ask	 block2;
	uint64_t		 scope;
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	char			 key[HOOK_KEY_MAX];	/* cache key */
	size_t			 keylen;
	char			 who[80];		/* peer, for logs */
};

/*
 * Start route's hook with the environment envp and stdin_fd (closed by
 * the call) for the request req; on success the exchange is pending
 * (H_PENDING).  Fills resp and returns H_DONE when it cannot start.
 */
int	hook_run_start(struct hook_worker *hw, const struct h_req *req,
	    struct coap_resp *resp, char *const *envp, int stdin_fd,
	    const struct hook_ask *ask);

/* Cancel: the exchange is gone; kill the run and reap it later. */
void	hook_run_cancel(void *ctx, enum xch_cancel why);

/* At worker exit: SIGTERM every run, SIGKILL after the grace, reap. */
void	hook_run_fini(struct hook_worker *hw, uint32_t grace_s);

/*
 * Keep a finished output for later blocks: the entry, which owns data
 * now, or NULL when it cannot be kept (data stays the caller's).
 */
struct hook_out *hook_cache_put(struct hook_worker *hw,
	    const struct hook_ask *ask, const struct cfg *c, uint8_t code,
	    int ct, int64_t max_age, const uint8_t *etag, size_t etag_len,
	    char *data, size_t len, uint64_t now_ns);

/* Fill resp with the block ask wants of out, with its options. */
void	hook_answer_block(const struct hook_out *out,
	    const struct cfg_route *rt, const struct block_ask *a,
	    struct coap_resp *resp);

#endif /* COAPD_H_HOOK_INT_H */
