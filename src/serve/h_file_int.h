/*
 * h_file_int.h - the static file handler's private interface, shared by
 * the files that make it up (all use the hf_ prefix of the one handler):
 *
 *	h_file.c	handler ops, GET of a file, ETag, the small-file cache
 *	h_file_path.c	resolving a client's name beneath the route's directory
 *	h_file_dir.c		GET of a directory: its link-format listing
 *	h_file_upload.c	PUT (whole or Block1) and DELETE on writable routes
 *	h_file_store.c	temporary files, published whole (fsync, rename)
 *
 * Not for other modules: they use h_file.h and h_file_ops (handler.h).
 */
#ifndef COAPD_H_FILE_INT_H
#define COAPD_H_FILE_INT_H

#include <sys/types.h>
#include <sys/stat.h>

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/block.h"
#include "proto/upload.h"
#include "serve/h_file.h"
#include "serve/handler.h"

/* Joined paths; longer requests get 4.04 like any other missing name. */
#define HF_PATH_MAX	PATH_MAX

struct fcache;
struct coap_msg;
struct coap_resp;

/* A worker's state for static routes. */
struct hf_worker {
	struct fcache			*fc;
	const atomic_uint_least64_t	*gen;	/* h_env.file_gen */
	const struct cfg		*cfg_seen; /* snapshot fc was filled
						      under */
	struct upload_table		 up;	/* Block1 uploads */
	uint64_t			 log_next_ns; /* write errors: next
						   one logged then */
	unsigned			 log_suppressed; /* since the last */
	const struct h_svc		*svc;	/* the worker's; NULL in tests */
	struct hf_async			*async;	/* commits on the ring */
};

/* What a GET asked for, beyond its path. */
struct hf_query {
	bool		 has_block;
	struct block_opt block;		/* Block2 of the request */
	bool		 has_accept;
	uint32_t	 accept;
	bool		 want_size2;	/* RFC 7959 §4: Size2 0 in request */
};

/* The block of a file a GET is answered with, and what describes it. */
struct hf_rep {
	struct block2_plan plan;
	size_t		 len;		/* bytes of the block to read */
	uint64_t	 total;		/* the file's size */
	uint16_t	 ct;		/* Content-Format */
	uint8_t		 etag[H_FILE_ETAG_LEN];
};

/* h_file.c */

/* A 64-bit finalizer (splitmix64): spreads every input bit. */
uint64_t	 hf_mix64(uint64_t x);
/* Store h big-endian as an ETag of H_FILE_ETAG_LEN bytes. */
void		 hf_etag_put(uint64_t h, uint8_t out[H_FILE_ETAG_LEN]);
/*
 * Choose the block of a GET response (block2_plan()) for route r and the
 * query q, within resp's payload buffer.  Returns 0 or -ENOSPC (buffer
 * under 16 bytes).
 */
int		 hf_plan_make(const struct cfg_route *r,
		    const struct hf_query *q, const struct coap_resp *resp,
		    struct block2_plan *p);
/*
 * Refuse a GET for a representation of content format ct, ETag etag and
 * total bytes when it must be (4.06, 2.03, 4.00).  Returns true when resp
 * is then complete.
 */
bool		 hf_refuse(const struct h_req *req, const struct hf_query *q,
		    const struct block2_plan *p, uint16_t ct,
		    const uint8_t *etag, uint64_t total,
		    struct coap_resp *resp);
/*
 * Make resp a 2.05 carrying got bytes (already in its payload) of that
 * representation, with its options.  Returns 0, -EFBIG or -ENOSPC.
 */
int		 hf_content(uint32_t max_age, const struct hf_query *q,
		    const struct block2_plan *p, uint16_t ct,
		    const uint8_t *etag, uint64_t total, size_t got,
		    struct coap_resp *resp);
/*
 * Read bytes [off + *got, off + want) of fd into buf[*got..], advancing
 * *got, with preadv2(2) flags (RWF_NOWAIT: -EAGAIN when the rest is not in
 * the page cache).  Stops early at the end of the file.  0 or -errno.
 */
int		 hf_pread(int fd, uint8_t *buf, size_t want, uint64_t off,
		    int flags, size_t *got);
/* Make resp an answer of code and no payload; returns H_DONE. */
int		 hf_code(struct coap_resp *resp, uint8_t code);

/* h_file_path.c */

/*
 * Open path beneath dirfd (openat2 RESOLVE_BENEATH, or a segment walk
 * with the same rules where openat2 is refused).  Returns the fd or a
 * negative errno.
 */
int		 hf_open(int dirfd, const char *path, int flags);
/* hf_open() without openat2, as under seccomp (tests call it directly). */
int		 hf_open_walk(int dirfd, const char *path, int flags);
/* Does the errno err (positive) mean "nothing to serve by that name"? */
bool		 hf_errno_not_found(int err);
/* Does the relative path rest name a dotfile or pass through one? */
bool		 hf_hidden(const char *rest);

/* The file a write names: its directory (owned) and its base name. */
struct hf_target {
	int		 dirfd;
	const char	*base;
	char		 parent[HF_PATH_MAX];
	bool		 exists;
	struct stat	 st;
	uint8_t		 refuse;	/* enum coap_code; 0: go on */
	bool		 parent_missing; /* !create, create_dirs would make it */
};

/*
 * Resolve the target of a write beneath req's route (create: make missing
 * directories where the route says create_dirs).  Returns 0 with t->dirfd
 * open, 0 with t->refuse the code to answer with (t->dirfd -1), or a
 * negative errno.
 */
int		 hf_target_open(const struct h_req *req, bool create,
		    struct hf_target *t);

/* h_file_dir.c */

/*
 * Answer a GET of the directory open at fd, rest beneath the route, with
 * its listing in link-format (RFC 6690).  Returns H_DONE or a negative
 * errno.
 */
int		 hf_serve_dir(const struct h_req *req, const struct hf_query *q,
		    int fd, const char *rest, struct coap_resp *resp);

/* h_file_upload.c */

/*
 * PUT (RFC 7252 §5.8.3, Block1 per RFC 7959 §2.5) and DELETE (§5.8.4) on a
 * writable route.  Return H_DONE or a negative errno.
 */
int		 hf_put(const struct h_req *req, struct coap_resp *resp);
int		 hf_delete(const struct h_req *req, struct coap_resp *resp);
/* Set up and tear down a worker's upload table (fini removes temp files). */
int		 hf_uploads_init(struct upload_table *up, const struct cfg *c);
void		 hf_uploads_fini(struct upload_table *up);
/* Reap the uploads idle since before now_ns - the idle limit. */
void		 hf_uploads_sweep(struct upload_table *up, uint64_t now_ns);

/* h_file_store.c */

/*
 * A new, empty temporary file in dirfd with mode: unnamed (O_TMPFILE)
 * where the file system can, else a dotfile whose name goes to name ("" for
 * an unnamed one).  Returns the descriptor or a negative errno.
 */
int		 hf_tmp_create(int dirfd, mode_t mode,
		    char name[UPLOAD_TMPNAME_MAX]);
/* Write all of p at off; 0 or a negative errno (-ENOSPC, -EFBIG, ...). */
int		 hf_pwrite_all(int fd, const uint8_t *p, size_t len,
		    uint64_t off);
/*
 * Publish u's temporary file as base in u->dirfd: fsync, then rename over
 * the target or, create-only, link in without replacing.  Returns 0,
 * -EEXIST when create-only found the name taken, or a negative errno.
 */
int		 hf_commit(struct upload *u, const char *base);
/* hf_commit without the fsyncs: the link or rename only. */
int		 hf_publish(struct upload *u, const char *base);
/* Close u's descriptors and remove its temporary file, if named. */
void		 hf_upload_discard(struct upload *u);

/* h_file_async.c */

/* The last block of an upload, for hf_async_commit(). */
struct hf_async_block {
	const uint8_t	*data;
	size_t		 len;
	uint64_t	 off;		/* where data goes in the file */
	bool		 blockwise;	/* answer with Block1 (block1) */
	uint32_t	 block1;
};

/*
 * Commit u (slot of hw's table, the target checked) through the worker's
 * ring as a pending exchange: write b, fsync, publish as base, fsync the
 * directory, answer.  base NULL: b is a block with more to come, written
 * and answered 2.31 Continue with Block1 b->block1.  Returns H_PENDING; -EAGAIN when nothing started
 * (no ring service, the ring full): commit plainly; -EBUSY when the
 * worker holds max_separate exchanges (the commit ends by itself: answer
 * 5.03); or -ENOMEM.
 */
int		 hf_async_commit(const struct h_req *req, struct upload *u,
		    const char *base, bool existed,
		    const struct hf_async_block *b);
/*
 * Read the rest of rep's block from fd (got bytes of it are in have)
 * through the worker's ring as a pending exchange, then answer 2.05.
 * Returns H_PENDING, or -EAGAIN with nothing started (no ring service,
 * the ring full, no room for one more exchange): read it plainly.
 */
int		 hf_async_read(const struct h_req *req,
		    const struct hf_query *q, const struct hf_rep *rep, int fd,
		    const uint8_t *have, size_t got);
/* handler_ops.cancel of the static kind: the commit or read stops. */
void		 hf_async_cancel(void *ctx, enum xch_cancel why);
/* Free the commits still on the ring (worker shutdown). */
void		 hf_async_fini(struct hf_worker *hw);
/* Forget this worker's cached copy of path. */
void		 hf_cache_forget_path(struct hf_worker *hw, const char *path,
		    size_t len);

/* h_file_upload.c */
/* Keep the answer of a committed upload in its slot (fds closed). */
void		 hf_upload_remember(struct upload *u,
		    const struct coap_resp *resp, uint64_t now_ns);

#endif /* COAPD_H_FILE_INT_H */
