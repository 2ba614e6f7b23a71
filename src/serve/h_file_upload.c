/*
 * h_file_upload.c - writes on static routes: PUT (whole or Block1, RFC 7959
 * §2.5) and DELETE, with If-Match / If-None-Match (RFC 7252 §5.10.8).
 *
 * A body goes to a temporary file in the target's directory, is fsync'ed
 * and then renamed over the target (or linked in, for create-only), so a
 * reader, or a crash at any point, sees the old file or the new one and
 * never a part of it.
 *
 * Known limitation: the writes and fsync run synchronously on the worker;
 * a slow disk delays the other clients of that worker for as long (see
 * README, "Uploads").
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto/block.h"
#include "proto/fcache.h"
#include "proto/metrics.h"
#include "adapt/cfg.h"
#include "adapt/log.h"
#include "proto/coap_msg.h"
#include "proto/upload.h"
#include "serve/dispatch.h"
#include "serve/h_file.h"
#include "serve/h_file_int.h"
#include "serve/dispatch.h"
#include "serve/handler.h"

/* An upload without a block for this long is abandoned... */
#define HF_UPLOAD_IDLE_NS	(60ULL * 1000 * 1000 * 1000)
/* ...or for this long once 3/4 of the slots are taken... */
#define HF_UPLOAD_BUSY_IDLE_NS	(10ULL * 1000 * 1000 * 1000)
/* ...and when all are, a new upload evicts one idle for this long. */
#define HF_UPLOAD_EVICT_IDLE_NS	(2ULL * 1000 * 1000 * 1000)
/* A stored upload's answer is remembered this long (hf_put_again). */
#define HF_UPLOAD_DONE_NS	(10ULL * 1000 * 1000 * 1000)
/* At most one write error logged per worker per this interval. */
#define HF_LOG_INTERVAL_NS	(1000ULL * 1000 * 1000)
/* Max-Age of a 5.03 when every upload slot is taken. */
#define HF_BUSY_MAX_AGE		10
#define HF_FILE_MODE		0644

/*
 * RFC 7252 §5.10.8: If-Match (any of its ETags is current; an empty one
 * means "exists") and If-None-Match (does not exist).  Returns 0 or 4.12.
 */
static uint8_t
hf_preconditions(const struct coap_msg *m, bool exists, const struct stat *st)
{
	uint8_t etag[H_FILE_ETAG_LEN];
	bool im = false, ok = false;
	uint16_t i;

	if (exists)
		h_file_etag(st, etag);
	for (i = 0; i < m->nopts; i++) {
		if (m->opts[i].num != COAP_OPT_IF_MATCH)
			continue;
		im = true;
		if (exists && (m->opts[i].len == 0 ||
		    (m->opts[i].len == H_FILE_ETAG_LEN &&
		    memcmp(m->opts[i].val, etag, H_FILE_ETAG_LEN) == 0)))
			ok = true;
	}
	if (im && !ok)
		return COAP_PRECONDITION_FAILED;
	if (exists && coap_msg_opt(m, COAP_OPT_IF_NONE_MATCH) != NULL)
		return COAP_PRECONDITION_FAILED;
	return 0;
}

/* RFC 7959 §2.9.3: 4.13 says how much would be accepted, in Size1. */
static int
hf_too_large(const struct cfg_route *r, struct coap_resp *resp)
{
	resp->code = COAP_REQUEST_ENTITY_TOO_LARGE;
	resp->payload_len = 0;
	coap_resp_opt_uint(resp, COAP_OPT_SIZE1,
	    r->max_body_bytes > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)r->max_body_bytes);
	return H_DONE;
}

/* Forget the cached copy of a path this worker just changed. */
static void
hf_cache_forget(struct hf_worker *hw, const struct h_req *req)
{
	hf_cache_forget_path(hw, req->path, req->path_len);
}

/*
 * Before the last block is committed: may it replace (or create) base?
 * true (*existed_out set), or false with resp the refusal.
 */
static bool
hf_put_check(const struct h_req *req, struct upload *u, const char *base,
    struct coap_resp *resp, bool *existed_out)
{
	struct stat st;
	bool existed;

	/*
	 * The preconditions were checked at the first block; check them
	 * again now, so an If-Match upload does not replace a file that
	 * someone else replaced meanwhile.
	 */
	existed = fstatat(u->dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (existed && !S_ISREG(st.st_mode)) {
		hf_code(resp, COAP_METHOD_NOT_ALLOWED);
		return false;
	}
	if (hf_preconditions(req->msg, existed, &st) != 0 ||
	    (u->create_only && existed)) {
		hf_code(resp, COAP_PRECONDITION_FAILED);
		return false;
	}
	/*
	 * A replacement keeps the old file's read and write bits, never its
	 * setuid, setgid, sticky or execute bits: a client must not be able
	 * to plant a program (or a setuid one) by replacing a file.
	 */
	if (existed)
		(void)fchmod(u->fd, st.st_mode & 0666);
	*existed_out = existed;
	return true;
}

/* The last block is in: publish the file and answer 2.01 or 2.04. */
static int
hf_put_finish(const struct h_req *req, struct upload *u, const char *base,
    struct coap_resp *resp)
{
	uint8_t etag[H_FILE_ETAG_LEN];
	struct stat st;
	bool existed;
	int rc;

	if (!hf_put_check(req, u, base, resp, &existed))
		return H_DONE;
	rc = hf_commit(u, base);
	if (rc == -EEXIST && u->create_only)
		return hf_code(resp, COAP_PRECONDITION_FAILED);
	if (rc < 0)
		return rc;
	hf_cache_forget(req->hstate, req);
	/* RFC 7252 §5.8.2: 2.01 when created, 2.04 when replaced. */
	resp->code = existed ? COAP_CHANGED : COAP_CREATED;
	resp->payload_len = 0;
	if (fstat(u->fd, &st) == 0) {
		h_file_etag(&st, etag);
		coap_resp_opt(resp, COAP_OPT_ETAG, etag, H_FILE_ETAG_LEN);
	}
	return H_DONE;
}

/* One PUT being handled: its Block1 and the upload it adds to. */
struct hf_write {
	const struct h_req	*req;
	struct hf_worker	*hw;
	struct block_opt	 b;	/* Block1, or block 0 of a whole body */
	bool			 blockwise; /* the request carried Block1 */
	size_t			 blksz;
	uint64_t		 off;	/* where this block's bytes go */
	struct upload_key	 k;
	struct upload		*u;	/* NULL, a table slot, or &one */
	struct upload		 one;	/* a body of one message: no slot */
};

/* Read the request's Block1 into w; 0 or the code to refuse it with. */
static uint8_t
hf_put_block1(struct hf_write *w)
{
	const struct coap_msg *m = w->req->msg;
	int rc;

	rc = block_opt_get(m, COAP_OPT_BLOCK1, &w->b);
	if (rc == -EBADMSG)
		return COAP_BAD_OPTION;
	if (rc == -EINVAL)
		return COAP_BAD_REQUEST;
	w->blockwise = rc == 0;
	if (!w->blockwise) {
		w->b.num = 0;
		w->b.more = false;
		w->b.szx = BLOCK_SZX_MAX;
		w->blksz = m->payload_len;
	} else
		w->blksz = block_size(w->b.szx);
	w->off = (uint64_t)w->b.num * w->blksz;
	return 0;
}

/* Key the transfer and find it if known; 0 or the code to refuse with. */
static uint8_t
hf_put_key(struct hf_write *w)
{
	const struct h_req *req = w->req;
	struct upload_key *k = &w->k;
	const struct coap_opt *o;

	/* RFC 9175 §3.2: the Request-Tag keeps concurrent uploads apart. */
	memset(k, 0, sizeof(*k));
	/* A spoofed plain datagram must not add blocks to a DTLS upload. */
	k->scope = req->scope;
	k->peer = req->peer;
	k->peerlen = req->peerlen;
	k->path = req->path;
	k->path_len = req->path_len;
	if ((o = coap_msg_opt(req->msg, COAP_OPT_REQUEST_TAG)) != NULL) {
		if (o->len > UPLOAD_TAG_MAX)
			return COAP_BAD_OPTION;
		k->has_tag = true;
		k->tag = o->val;
		k->taglen = (uint8_t)o->len;
	}
	if (w->hw != NULL && k->peer != NULL)
		w->u = upload_find(&w->hw->up, k);
	return 0;
}

/* End w's upload, if any: descriptors closed, temporary file removed. */
static void
hf_put_drop(struct hf_write *w)
{
	if (w->u == NULL)
		return;
	hf_upload_discard(w->u);
	if (w->u != &w->one)
		upload_release(&w->hw->up, w->u);
	w->u = NULL;
}

/*
 * Tell the operator why an upload failed (disk full, read-only file
 * system, I/O error): the client only sees 4.13 or 5.00.  At most one line
 * per HF_LOG_INTERVAL_NS per worker, with the count of those left out.
 */
static void
hf_put_log(struct hf_write *w, const char *what, int rc)
{
	struct hf_worker *hw = w->hw;
	uint64_t now = w->req->now_ns;

	if (hw != NULL && now < hw->log_next_ns) {
		hw->log_suppressed++;
		return;
	}
	log_warnx("route %s, upload of %.*s: %s failed: %s (%u more not "
	    "logged)", w->req->route->path, (int)w->req->path_len,
	    w->req->path, what, strerror(-rc),
	    hw != NULL ? hw->log_suppressed : 0);
	if (hw != NULL) {
		hw->log_next_ns = now + HF_LOG_INTERVAL_NS;
		hw->log_suppressed = 0;
	}
}

/* Fail the PUT with rc, a negative errno, ending its upload. */
static int
hf_put_fail(struct hf_write *w, const char *what, int rc,
    struct coap_resp *resp)
{
	hf_put_log(w, what, rc);
	hf_put_drop(w);
	/* A full disk is the body being too large for this server. */
	if (rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG)
		return hf_code(resp, COAP_REQUEST_ENTITY_TOO_LARGE);
	return rc;
}

/*
 * RFC 7959 §2.3: 2.31 Continue carries the block acknowledged; a smaller
 * SZX than the client's asks it to continue with the route's block size
 * (late negotiation, §2.5).
 */
static uint32_t
hf_continue_block1(const struct hf_write *w)
{
	uint8_t szx = w->b.szx;
	int rc;

	if ((rc = block_szx_for(w->req->route->block_size)) >= 0 && rc < szx)
		szx = (uint8_t)rc;
	return block_opt_encode(w->b.num, true, szx);
}

/* A block with more to come: answer 2.31 Continue. */
static int
hf_put_continue(const struct hf_write *w, struct coap_resp *resp)
{
	resp->code = COAP_CONTINUE;
	resp->payload_len = 0;
	coap_resp_opt_uint(resp, COAP_OPT_BLOCK1, hf_continue_block1(w));
	return H_DONE;
}

/*
 * A block with more to come, of an upload in a table slot, written through
 * the worker's ring (H_PENDING: 2.31 when written), or -EAGAIN with
 * nothing done, for the plain path.
 */
static int
hf_put_block_async(struct hf_write *w, struct coap_resp *resp)
{
	const struct coap_msg *m = w->req->msg;
	struct hf_async_block b;
	int rc;

	if (w->hw == NULL || w->hw->svc == NULL || w->u == NULL ||
	    w->u == &w->one)
		return -EAGAIN;
	b.data = m->payload;
	b.len = m->payload_len;
	b.off = w->off;
	b.blockwise = true;
	b.block1 = hf_continue_block1(w);
	rc = hf_async_commit(w->req, w->u, NULL, false, &b);
	if (rc == H_PENDING || rc == -EBUSY)
		w->u = NULL;	/* the write's now */
	if (rc == -EBUSY) {
		xch_busy(resp);
		return H_DONE;
	}
	return rc == H_PENDING ? H_PENDING : -EAGAIN;
}

static void	 hf_put_remember(struct hf_write *, const struct coap_resp *);

/* The whole body is in: publish it as base, end the upload, answer. */
static int
hf_put_done(struct hf_write *w, const char *base, struct coap_resp *resp)
{
	int rc;

	rc = hf_put_finish(w->req, w->u, base, resp);
	if (rc < 0)
		hf_put_log(w, "commit", rc);
	if (rc == H_DONE && w->blockwise && w->u != &w->one &&
	    (resp->code == COAP_CREATED || resp->code == COAP_CHANGED))
		hf_put_remember(w, resp);
	else
		hf_put_drop(w);
	if (rc == H_DONE && w->blockwise)
		coap_resp_opt_uint(resp, COAP_OPT_BLOCK1,
		    block_opt_encode(w->b.num, false, w->b.szx));
	return rc;
}

/*
 * The last block of an upload in a table slot: committed through the
 * worker's ring (H_PENDING; H_DONE when refused), or -EAGAIN with nothing
 * done, for the plain path.
 */
static int
hf_put_async(struct hf_write *w, const char *base, struct coap_resp *resp)
{
	const struct coap_msg *m = w->req->msg;
	struct hf_async_block b;
	bool existed;
	int rc;

	if (w->hw == NULL || w->hw->svc == NULL || w->u == NULL ||
	    w->u == &w->one)
		return -EAGAIN;
	b.block1 = block_opt_encode(w->b.num, false, w->b.szx);
	if (!hf_put_check(w->req, w->u, base, resp, &existed)) {
		hf_put_drop(w);
		if (w->blockwise)
			coap_resp_opt_uint(resp, COAP_OPT_BLOCK1, b.block1);
		return H_DONE;
	}
	b.data = m->payload;
	b.len = m->payload_len;
	b.off = w->off;
	b.blockwise = w->blockwise;
	rc = hf_async_commit(w->req, w->u, base, existed, &b);
	if (rc == H_PENDING || rc == -EBUSY)
		w->u = NULL;	/* the commit's now */
	if (rc == -EBUSY) {
		xch_busy(resp);
		return H_DONE;
	}
	return rc == H_PENDING ? H_PENDING : -EAGAIN;
}

/*
 * A stored upload keeps its slot for HF_UPLOAD_DONE_NS, without
 * descriptors, with the answer given: the last block sent again after
 * its 2.01/2.04 was lost (a new message ID: deduplication does not catch
 * it) gets that answer again instead of 4.08.
 */
static void
hf_put_remember(struct hf_write *w, const struct coap_resp *resp)
{
	hf_upload_remember(w->u, resp, w->req->now_ns);
	w->u = NULL;
}

void
hf_upload_remember(struct upload *u, const struct coap_resp *resp,
    uint64_t now_ns)
{
	const struct coap_opt *o = NULL;
	unsigned i;

	hf_upload_discard(u);
	u->done_code = resp->code;
	u->done_etag_len = 0;
	for (i = 0; i < resp->nopts; i++)
		if (resp->opts[i].num == COAP_OPT_ETAG)
			o = &resp->opts[i];
	if (o != NULL && o->len <= sizeof(u->done_etag)) {
		memcpy(u->done_etag, o->val, o->len);
		u->done_etag_len = (uint8_t)o->len;
	}
	u->last_ns = now_ns;
}

/*
 * A block for a stored upload: the last one again gets the answer it had
 * (true, resp filled); anything else ends the memory (false).
 */
static bool
hf_put_again(struct hf_write *w, struct coap_resp *resp)
{
	const struct upload *u = w->u;

	if (w->off == u->last_off && w->req->msg->payload_len ==
	    u->last_len && !w->b.more && w->off > 0) {
		resp->code = u->done_code;
		resp->payload_len = 0;
		if (u->done_etag_len > 0)
			coap_resp_opt(resp, COAP_OPT_ETAG, u->done_etag,
			    u->done_etag_len);
		coap_resp_opt_uint(resp, COAP_OPT_BLOCK1,
		    block_opt_encode(w->b.num, false, w->b.szx));
		return true;
	}
	hf_put_drop(w);
	return false;
}

/* Are two directory descriptors the same directory? */
static bool
hf_same_dir(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * The directory the upload started in is no longer at the request's path
 * (moved away, or replaced): committing through block 0's descriptor would
 * put the file wherever that directory is now, maybe outside the served
 * tree.  The transfer ends with 4.08, so the client starts over at the
 * path's current directory.
 */
static uint8_t
hf_dir_moved(struct hf_write *w)
{
	log_warnx("route %s, upload of %.*s: directory moved during the "
	    "transfer, upload dropped", w->req->route->path,
	    (int)w->req->path_len, w->req->path);
	return COAP_REQUEST_ENTITY_INCOMPLETE;
}

/* A later block: it must continue a transfer we know. */
static int
hf_put_next(struct hf_write *w, struct coap_resp *resp)
{
	const struct coap_msg *m = w->req->msg;
	struct upload *u = w->u;
	struct hf_target t;
	enum upload_verdict v;
	int rc;

	if (u == NULL)
		return hf_code(resp, COAP_REQUEST_ENTITY_INCOMPLETE);
	v = upload_check(u, u->limit, w->off, m->payload_len, w->b.more,
	    w->blksz);
	/* A retry after a lost 2.31 (new message ID): acknowledge again. */
	if (v == UPLOAD_REPEAT)
		return hf_put_continue(w, resp);
	if (v != UPLOAD_OK) {
		hf_put_drop(w);
		if (v == UPLOAD_TOO_LARGE)
			return hf_too_large(w->req->route, resp);
		return hf_code(resp, v == UPLOAD_INCOMPLETE ?
		    COAP_REQUEST_ENTITY_INCOMPLETE : COAP_BAD_REQUEST);
	}
	if (w->b.more) {
		if ((rc = hf_put_block_async(w, resp)) != -EAGAIN)
			return rc;
		if ((rc = hf_pwrite_all(u->fd, m->payload, m->payload_len,
		    w->off)) < 0)
			return hf_put_fail(w, "write", rc, resp);
		upload_advance(u, m->payload_len, w->req->now_ns);
		return hf_put_continue(w, resp);
	}
	upload_advance(u, m->payload_len, w->req->now_ns);
	/* The target's name, as at the first block, in the same place. */
	if ((rc = hf_target_open(w->req, false, &t)) == 0 &&
	    t.refuse == 0 && !hf_same_dir(t.dirfd, u->dirfd))
		t.refuse = hf_dir_moved(w);
	if (t.dirfd >= 0)
		close(t.dirfd);
	if (rc != 0 || t.refuse != 0) {
		hf_put_drop(w);
		return rc != 0 ? rc : hf_code(resp, t.refuse);
	}
	if ((rc = hf_put_async(w, t.base, resp)) != -EAGAIN)
		return rc;
	if ((rc = hf_pwrite_all(u->fd, m->payload, m->payload_len,
	    w->off)) < 0)
		return hf_put_fail(w, "write", rc, resp);
	return hf_put_done(w, t.base, resp);
}

/*
 * May a new transfer write to t?  false when it may not: resp is then the
 * refusal and t->dirfd is closed.
 */
static bool
hf_put_admit(const struct hf_write *w, struct hf_target *t,
    struct coap_resp *resp)
{
	const struct cfg_route *r = w->req->route;
	enum upload_verdict v;
	uint8_t code;

	if ((code = hf_preconditions(w->req->msg, t->exists, &t->st)) != 0) {
		if (t->dirfd >= 0)
			close(t->dirfd);
		hf_code(resp, code);
		return false;
	}
	v = upload_check(NULL, r->max_body_bytes, 0, w->req->msg->payload_len,
	    w->b.more, w->blksz);
	if (v != UPLOAD_OK) {
		if (t->dirfd >= 0)
			close(t->dirfd);
		if (v == UPLOAD_TOO_LARGE)
			hf_too_large(r, resp);
		else
			hf_code(resp, COAP_BAD_REQUEST);
		return false;
	}
	return true;
}

/*
 * Every slot is taken: make room for a new transfer by ending the one idle
 * longest, if it has been idle HF_UPLOAD_EVICT_IDLE_NS (a client that sends
 * its blocks promptly is never evicted), and count it.
 */
static void
hf_uploads_evict(const struct hf_write *w)
{
	struct upload_table *up = &w->hw->up;
	struct upload *u = NULL;
	unsigned i;

	/* A stored upload's remembered answer gives way first, at once. */
	for (i = 0; i < up->cap; i++)
		if (up->u[i].used && up->u[i].done_code != 0 &&
		    (u == NULL || up->u[i].last_ns < u->last_ns))
			u = &up->u[i];
	if (u != NULL) {
		upload_release(up, u);
		return;
	}
	u = upload_oldest_idle(up, w->req->now_ns, HF_UPLOAD_EVICT_IDLE_NS);
	if (u == NULL)
		return;
	hf_upload_discard(u);
	upload_release(&w->hw->up, u);
	if (w->req->engine != NULL && w->req->engine->m != NULL)
		METRIC_INC(w->req->engine->m->uploads_evicted);
}

/*
 * Where the new transfer's state goes: a table slot when blocks follow,
 * else w->one.  false when no slot is free: resp is then a 5.03 and dirfd
 * is closed.
 */
static bool
hf_put_slot(struct hf_write *w, int dirfd, struct coap_resp *resp)
{
	const struct h_req *req = w->req;

	if (!w->b.more) {
		/*
		 * One message, or one block: no state to keep, but a slot
		 * when one is free and the ring can commit (it holds the
		 * state until the commit ends).
		 */
		if (w->hw == NULL || w->hw->svc == NULL || w->k.peer == NULL ||
		    w->hw->up.n >= w->hw->up.cap || (w->u = upload_alloc(
		    &w->hw->up, &w->k, req->route->max_body_bytes,
		    req->now_ns)) == NULL) {
			memset(&w->one, 0, sizeof(w->one));
			w->u = &w->one;
		}
		return true;
	}
	if (w->hw != NULL && w->hw->up.n >= w->hw->up.cap)
		hf_uploads_evict(w);
	if (w->hw == NULL || w->k.peer == NULL ||
	    (w->u = upload_alloc(&w->hw->up, &w->k,
	    req->route->max_body_bytes, req->now_ns)) == NULL) {
		/* Every slot busy: come back later. */
		if (req->engine != NULL)
			METRIC_INC(req->engine->m->uploads_refused);
		if (dirfd >= 0)
			close(dirfd);
		hf_code(resp, COAP_SERVICE_UNAVAILABLE);
		coap_resp_opt_uint(resp, COAP_OPT_MAX_AGE, HF_BUSY_MAX_AGE);
		return false;
	}
	return true;
}

/* A first block, or the whole body: a new transfer. */
static int
hf_put_first(struct hf_write *w, struct coap_resp *resp)
{
	const struct coap_msg *m = w->req->msg;
	struct hf_target t;
	struct upload *u;
	int rc;

	/* RFC 7959 §2.5: block 0 again starts over. */
	hf_put_drop(w);
	if ((rc = hf_target_open(w->req, false, &t)) != 0)
		return rc;
	if (t.refuse != 0)
		return hf_code(resp, t.refuse);
	if (!hf_put_admit(w, &t, resp) || !hf_put_slot(w, t.dirfd, resp))
		return H_DONE;
	/* create_dirs: only an admitted write with a slot makes directories */
	if (t.parent_missing && ((rc = hf_target_open(w->req, true, &t)) != 0 ||
	    t.refuse != 0)) {
		hf_put_drop(w);
		return rc != 0 ? rc : hf_code(resp, t.refuse);
	}
	u = w->u;
	u->dirfd = t.dirfd;
	u->existed = t.exists;
	u->create_only = t.exists == false &&
	    coap_msg_opt(m, COAP_OPT_IF_NONE_MATCH) != NULL;
	u->fd = hf_tmp_create(u->dirfd, HF_FILE_MODE, u->tmpname);
	if (u->fd < 0)
		return hf_put_fail(w, "temporary file", u->fd, resp);
	if ((rc = w->b.more ? hf_put_block_async(w, resp) :
	    hf_put_async(w, t.base, resp)) != -EAGAIN)
		return rc;
	if ((rc = hf_pwrite_all(u->fd, m->payload, m->payload_len, 0)) < 0)
		return hf_put_fail(w, "write", rc, resp);
	if (w->b.more) {
		upload_advance(u, m->payload_len, w->req->now_ns);
		return hf_put_continue(w, resp);
	}
	return hf_put_done(w, t.base, resp);
}

/*
 * PUT: create or replace a file (RFC 7252 §5.8.3), whole or in Block1
 * blocks (RFC 7959 §2.5).
 */
int
hf_put(const struct h_req *req, struct coap_resp *resp)
{
	const struct cfg_route *r = req->route;
	const struct coap_opt *o;
	struct hf_write w;
	uint32_t size1;
	uint8_t code;

	memset(&w, 0, sizeof(w));
	w.req = req;
	w.hw = req->hstate;
	if ((code = hf_put_block1(&w)) != 0 || (code = hf_put_key(&w)) != 0)
		return hf_code(resp, code);
	/* RFC 7959 §4: a Size1 announcing too much is refused up front. */
	if ((o = coap_msg_opt(req->msg, COAP_OPT_SIZE1)) != NULL &&
	    coap_opt_uint(o, &size1) == 0 && size1 > r->max_body_bytes) {
		hf_put_drop(&w);
		return hf_too_large(r, resp);
	}
	/* Its last block is being committed: the answer comes shortly. */
	if (w.u != NULL && w.u->committing) {
		hf_code(resp, COAP_SERVICE_UNAVAILABLE);
		coap_resp_opt_uint(resp, COAP_OPT_MAX_AGE, 1);
		return H_DONE;
	}
	if (w.u != NULL && w.u->done_code != 0 && hf_put_again(&w, resp))
		return H_DONE;
	if (w.off > 0)
		return hf_put_next(&w, resp);
	return hf_put_first(&w, resp);
}

/* DELETE (RFC 7252 §5.8.4): 2.02, also when the file was already gone. */
int
hf_delete(const struct h_req *req, struct coap_resp *resp)
{
	struct hf_target t;
	uint8_t code;
	int rc;

	if ((rc = hf_target_open(req, false, &t)) != 0)
		return rc;
	if (t.refuse != 0) {
		/* A missing directory: the file is not there either. */
		if (t.refuse == COAP_NOT_FOUND && t.base != NULL)
			return hf_code(resp, coap_msg_opt(req->msg,
			    COAP_OPT_IF_MATCH) != NULL ?
			    COAP_PRECONDITION_FAILED : COAP_DELETED);
		return hf_code(resp, t.refuse);
	}
	if ((code = hf_preconditions(req->msg, t.exists, &t.st)) != 0) {
		close(t.dirfd);
		return hf_code(resp, code);
	}
	if (t.exists && unlinkat(t.dirfd, t.base, 0) < 0 && errno != ENOENT) {
		rc = -errno;
		close(t.dirfd);
		return rc;
	}
	close(t.dirfd);
	hf_cache_forget(req->hstate, req);
	return hf_code(resp, COAP_DELETED);
}

int
hf_uploads_init(struct upload_table *up, const struct cfg *c)
{
	/* limits.max_uploads slots; each holds two descriptors */
	return upload_table_init(up, c->limits.max_uploads);
}

void
hf_uploads_fini(struct upload_table *up)
{
	unsigned i;

	/* Uploads in progress are abandoned: their temporary files go. */
	for (i = 0; i < up->cap; i++)
		if (up->u[i].used)
			hf_upload_discard(&up->u[i]);
	upload_table_fini(up);
}

/*
 * Uploads abandoned by their clients are reaped: after HF_UPLOAD_IDLE_NS
 * without a block, or HF_UPLOAD_BUSY_IDLE_NS when slots run short.
 */
void
hf_uploads_sweep(struct upload_table *up, uint64_t now_ns)
{
	uint64_t idle = upload_idle_limit(up, HF_UPLOAD_IDLE_NS,
	    HF_UPLOAD_BUSY_IDLE_NS);
	struct upload *u;
	unsigned cursor = 0;

	while ((u = upload_next_expired(up, now_ns, idle, &cursor)) != NULL) {
		hf_upload_discard(u);
		upload_release(up, u);
	}
	/* Stored uploads' answers are forgotten sooner. */
	cursor = 0;
	while ((u = upload_next_expired(up, now_ns, HF_UPLOAD_DONE_NS,
	    &cursor)) != NULL)
		if (u->done_code != 0)
			upload_release(up, u);
}
