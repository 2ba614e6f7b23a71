/*
 * h_file_async.c - file I/O through the worker's ring, so that a slow disk
 * (an SD card on a gateway) does not stop the worker's other clients: an
 * upload's blocks with more to come (written, then 2.31 Continue), its
 * commit (write the last block, fsync the file, link or rename it in,
 * fsync the directory) and the read of a Block2 block that is not
 * in the page cache (h_file.c tries RWF_NOWAIT first: a cached block
 * costs one preadv2 and no exchange).
 *
 * The request becomes a pending exchange (xch.c): a CON waiting longer
 * than separate_after_ms gets its empty ACK, the 2.01/2.04 goes out when
 * the directory's fsync is done.  The upload's slot is marked committing
 * meanwhile: never reaped, never evicted, and a block for it is answered
 * 5.03 (come back shortly).  The link or rename itself stays a plain
 * system call: it changes the directory in the page cache and waits for
 * no disk (the directory's fsync after it does, on the ring); io_uring's
 * RENAMEAT/LINKAT would also widen what the sealed ring may do.
 *
 * Cancelled (client RST, exchange lifetime, shutdown), the commit stops
 * at its next step: the upload is discarded, nothing answered; a read
 * ends when its step completes.  At
 * shutdown the ring goes away with operations in flight: hf_async_fini()
 * frees what they would have freed.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "adapt/log.h"
#include "proto/coap_msg.h"
#include "proto/fcache.h"
#include "proto/metrics.h"
#include "proto/upload.h"
#include "serve/dispatch.h"
#include "serve/h_file.h"
#include "serve/h_file_int.h"
#include "serve/handler.h"

enum hf_async_stage {
	HA_READ,		/* a Block2 block (no upload) */
	HA_BLOCK,		/* a Block1 block, more to come: then 2.31 */
	HA_WRITE,		/* the last block's bytes */
	HA_FSYNC,		/* the file */
	HA_DIRSYNC,		/* its directory, after the link or rename */
};

struct hf_async {
	struct hf_async		*next;		/* hw->async */
	struct hf_worker	*hw;
	struct metrics		*m;
	struct xch		*x;		/* NULL: cancelled */
	struct upload		*u;		/* the slot, committing */
	int			 fd;		/* HA_READ: our dup */
	struct hf_rep		 rep;		/* HA_READ: the block */
	uint32_t		 max_age;	/* HA_READ: the route's */
	bool			 want_size2;	/* HA_READ: Size2 asked */
	enum hf_async_stage	 stage;
	bool			 existed;	/* the target, when checked */
	bool			 blockwise;
	uint32_t		 block1;	/* Block1 of the answer */
	uint64_t		 off;		/* of buf[done] in the file */
	size_t			 len, done;
	char			 base[NAME_MAX + 1];
	char			 path[UPLOAD_PATH_MAX];
	size_t			 path_len;
	uint8_t			 buf[];		/* the block */
};

static void	hf_async_io(void *arg, int32_t res);

void
hf_cache_forget_path(struct hf_worker *hw, const char *path, size_t len)
{
	struct fcache_entry *e;
	bool fresh;

	if (hw == NULL)
		return;
	e = fcache_get(hw->fc, path, len, 0, 0, &fresh);
	if (e != NULL)
		fcache_drop(e);
}

/* Unlink a from the worker's list and free it. */
static void
hf_async_free(struct hf_async *a)
{
	struct hf_async **pp;

	for (pp = &a->hw->async; *pp != NULL; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	if (a->stage == HA_READ)
		close(a->fd);
	free(a);
}

/* The next step on the ring; 0 or a negative errno. */
static int
hf_async_submit(struct hf_async *a)
{
	const struct h_svc *s = a->hw->svc;

	switch (a->stage) {
	case HA_READ:
		return s->read(s->svc, a->fd, a->buf + a->done,
		    a->len - a->done, a->off + a->done, hf_async_io, a);
	case HA_BLOCK:
	case HA_WRITE:
		return s->write(s->svc, a->u->fd, a->buf + a->done,
		    a->len - a->done, a->off + a->done, hf_async_io, a);
	case HA_FSYNC:
		return s->fsync(s->svc, a->u->fd, hf_async_io, a);
	case HA_DIRSYNC:
		return s->fsync(s->svc, a->u->dirfd, hf_async_io, a);
	}
	return -EINVAL;
}

/*
 * The end: answer (code 0: the file is published: 2.01 or 2.04 with its
 * ETag; rc < 0: failed), then keep the answer in the slot for a last block
 * sent again (Block1) or end the upload.
 */
static void
hf_async_end(struct hf_async *a, uint8_t code, int rc)
{
	uint8_t etag[H_FILE_ETAG_LEN];
	struct upload *u = a->u;
	struct coap_resp *resp;
	struct stat st;

	u->committing = false;
	if (a->x == NULL) {
		hf_upload_discard(u);
		upload_release(&a->hw->up, u);
		hf_async_free(a);
		return;
	}
	resp = xch_resp(a->x);
	if (rc < 0) {
		log_warnx("upload of %.*s: commit failed: %s", (int)a->path_len,
		    a->path, strerror(-rc));
		code = rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG ?
		    COAP_REQUEST_ENTITY_TOO_LARGE : COAP_INTERNAL_SERVER_ERROR;
	} else if (code == 0) {
		/* RFC 7252 §5.8.2: 2.01 when created, 2.04 when replaced. */
		code = a->existed ? COAP_CHANGED : COAP_CREATED;
		if (fstat(u->fd, &st) == 0) {
			h_file_etag(&st, etag);
			coap_resp_opt(resp, COAP_OPT_ETAG, etag,
			    H_FILE_ETAG_LEN);
		}
		hf_cache_forget_path(a->hw, a->path, a->path_len);
		METRIC_INC(a->m->uploads_async);
	}
	resp->code = code;
	if (a->blockwise)
		coap_resp_opt_uint(resp, COAP_OPT_BLOCK1, a->block1);
	if (a->blockwise && (code == COAP_CREATED || code == COAP_CHANGED))
		hf_upload_remember(u, resp, clock_now_ns());
	else {
		hf_upload_discard(u);
		upload_release(&a->hw->up, u);
	}
	xch_complete(a->x, clock_now_ns());
	hf_async_free(a);
}

/* The block read (res: the last read's result): answer 2.05, or 5.00. */
static void
hf_async_read_end(struct hf_async *a, int32_t res)
{
	struct hf_query q = { .want_size2 = a->want_size2 };
	struct coap_resp *resp = xch_resp(a->x);

	if (res < 0) {
		log_warnx("read of %.*s: %s", (int)a->path_len, a->path,
		    strerror(-res));
		resp->code = COAP_INTERNAL_SERVER_ERROR;
	} else {
		memcpy(resp->payload, a->buf, a->done);
		if (hf_content(a->max_age, &q, &a->rep.plan, a->rep.ct,
		    a->rep.etag, a->rep.total, a->done, resp) < 0) {
			resp->code = COAP_INTERNAL_SERVER_ERROR;
			resp->payload_len = 0;
		} else
			METRIC_INC(a->m->reads_async);
	}
	xch_complete(a->x, clock_now_ns());
	hf_async_free(a);
}

/* A read done: the rest of the block, or the answer. */
static void
hf_async_read_io(struct hf_async *a, int32_t res)
{
	if (a->x == NULL) {
		hf_async_free(a);
		return;
	}
	if (res > 0) {
		a->done += (size_t)res;
		/* short of the block and not at the end: read on */
		if (a->done < a->len && hf_async_submit(a) == 0)
			return;
		if (a->done < a->len)
			res = -EIO;
	}
	hf_async_read_end(a, res);
}

/*
 * A block with more to come written (rc 0) or not: the upload goes on
 * (2.31 Continue), or ends (4.13 when the disk is full, else 5.00).
 * Cancelled, a written block still counts: the client's retry of it (a
 * new message ID) is acknowledged as a repeat.
 */
static void
hf_async_block_end(struct hf_async *a, int rc)
{
	struct upload *u = a->u;
	struct coap_resp *resp;

	u->committing = false;
	if (rc == 0) {
		upload_advance(u, a->len, clock_now_ns());
		METRIC_INC(a->m->writes_async);
	} else {
		log_warnx("upload of %.*s: write failed: %s", (int)a->path_len,
		    a->path, strerror(-rc));
		hf_upload_discard(u);
		upload_release(&a->hw->up, u);
	}
	if (a->x != NULL) {
		resp = xch_resp(a->x);
		if (rc == 0) {
			resp->code = COAP_CONTINUE;
			coap_resp_opt_uint(resp, COAP_OPT_BLOCK1, a->block1);
		} else
			resp->code = rc == -ENOSPC || rc == -EDQUOT ||
			    rc == -EFBIG ? COAP_REQUEST_ENTITY_TOO_LARGE :
			    COAP_INTERNAL_SERVER_ERROR;
		xch_complete(a->x, clock_now_ns());
	}
	hf_async_free(a);
}

static void
hf_async_block_io(struct hf_async *a, int32_t res)
{
	int rc;

	if (res <= 0)
		rc = res == 0 ? -EIO : res;
	else if ((a->done += (size_t)res) == a->len)
		rc = 0;
	else if ((rc = hf_async_submit(a)) == 0)
		return;		/* a short write: the rest */
	hf_async_block_end(a, rc);
}

/* A step done on the ring: the next one, or the end. */
static void
hf_async_io(void *arg, int32_t res)
{
	struct hf_async *a = arg;
	int rc;

	if (a->stage == HA_READ) {
		hf_async_read_io(a, res);
		return;
	}
	if (a->stage == HA_BLOCK) {
		hf_async_block_io(a, res);
		return;
	}
	if (a->x == NULL)
		rc = -ECANCELED;
	else if (res < 0 && a->stage != HA_DIRSYNC)
		rc = res;
	else if (a->stage == HA_WRITE) {
		rc = res == 0 ? -EIO : 0;
		a->done += (size_t)res;
		if (a->done == a->len)
			a->stage = HA_FSYNC;
	} else if (a->stage == HA_FSYNC) {
		rc = hf_publish(a->u, a->base);
		if (rc == -EEXIST && a->u->create_only) {
			hf_async_end(a, COAP_PRECONDITION_FAILED, 0);
			return;
		}
		a->stage = HA_DIRSYNC;
	} else {
		/* like the plain path: a directory fsync error is not fatal */
		hf_async_end(a, 0, 0);
		return;
	}
	if (rc == 0)
		rc = hf_async_submit(a);
	if (rc < 0)
		hf_async_end(a, 0, rc);
}

int
hf_async_commit(const struct h_req *req, struct upload *u, const char *base,
    bool existed, const struct hf_async_block *b)
{
	struct hf_worker *hw = req->hstate;
	struct hf_async *a;
	size_t blen = base != NULL ? strlen(base) : 0;

	if (hw == NULL || hw->svc == NULL || hw->svc->write == NULL ||
	    req->engine == NULL || blen > NAME_MAX ||
	    req->path_len >= sizeof(a->path))
		return -EAGAIN;
	if ((a = calloc(1, sizeof(*a) + b->len)) == NULL)
		return -ENOMEM;
	a->hw = hw;
	a->m = req->engine->m;
	a->u = u;
	a->existed = existed;
	a->blockwise = b->blockwise;
	a->block1 = b->block1;
	a->off = b->off;
	a->len = b->len;
	if (b->len > 0)
		memcpy(a->buf, b->data, b->len);
	if (base == NULL)
		a->stage = HA_BLOCK;
	else
		a->stage = b->len > 0 ? HA_WRITE : HA_FSYNC;
	if (base != NULL)
		memcpy(a->base, base, blen + 1);
	memcpy(a->path, req->path, req->path_len);
	a->path_len = req->path_len;
	/* Nothing has started when the ring cannot take it: commit plainly. */
	if (hf_async_submit(a) < 0) {
		free(a);
		return -EAGAIN;
	}
	a->next = hw->async;
	hw->async = a;
	u->committing = true;
	/* No room for one more exchange: the commit ends at its next step. */
	if ((a->x = xch_begin(req, a)) == NULL)
		return -EBUSY;
	return H_PENDING;
}

int
hf_async_read(const struct h_req *req, const struct hf_query *q,
    const struct hf_rep *rep, int fd, const uint8_t *have, size_t got)
{
	struct hf_worker *hw = req->hstate;
	struct hf_async *a;

	if (hw == NULL || hw->svc == NULL || hw->svc->read == NULL ||
	    req->engine == NULL || req->path_len >= sizeof(a->path))
		return -EAGAIN;
	if ((a = calloc(1, sizeof(*a) + rep->len)) == NULL)
		return -EAGAIN;
	/* Ours to close: the GET closes its descriptor when it returns. */
	if ((a->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		free(a);
		return -EAGAIN;
	}
	a->hw = hw;
	a->m = req->engine->m;
	a->stage = HA_READ;
	a->rep = *rep;
	a->max_age = req->route->max_age;
	a->want_size2 = q->want_size2;
	a->off = rep->plan.off;
	a->len = rep->len;
	a->done = got;
	memcpy(a->buf, have, got);
	memcpy(a->path, req->path, req->path_len);
	a->path_len = req->path_len;
	if (hf_async_submit(a) < 0) {
		close(a->fd);
		free(a);
		return -EAGAIN;
	}
	a->next = hw->async;
	hw->async = a;
	/* No room for one more exchange: the read ends by itself. */
	if ((a->x = xch_begin(req, a)) == NULL)
		return -EAGAIN;
	return H_PENDING;
}

void
hf_async_cancel(void *ctx, enum xch_cancel why)
{
	struct hf_async *a = ctx;

	(void)why;
	a->x = NULL;
}

void
hf_async_fini(struct hf_worker *hw)
{
	struct hf_async *a;

	/* The ring is going: no step completes; the uploads go next. */
	while ((a = hw->async) != NULL) {
		hw->async = a->next;
		if (a->stage == HA_READ)
			close(a->fd);
		else
			a->u->committing = false;
		free(a);
	}
}
