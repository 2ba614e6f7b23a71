/*
 * h_file.c - static routes: the handler ops, GET of a file with ETag
 * validation (RFC 7252 §5.10.6) and Block2 (RFC 7959 §2.4), and the
 * per-worker cache of small files.  Directory listings are in h_file_dir.c,
 * writes (PUT, Block1, DELETE) in h_file_upload.c, and name resolution beneath
 * the route's directory in h_file_path.c (h_file_int.h ties them together).
 *
 * Nothing is allocated per request: file blocks are pread into the
 * response buffer, or copied from the cache.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/block.h"
#include "proto/fcache.h"
#include "adapt/cfg.h"
#include "proto/coap_msg.h"
#include "serve/h_file.h"
#include "serve/h_file_int.h"
#include "serve/handler.h"
#include "adapt/log.h"

/* Small files cached per worker (fcache.h); 256 x ~1.2 KiB. */
#define HF_CACHE_SLOTS	256

uint64_t
hf_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

void
hf_etag_put(uint64_t h, uint8_t out[H_FILE_ETAG_LEN])
{
	int i;

	for (i = H_FILE_ETAG_LEN - 1; i >= 0; i--) {
		out[i] = (uint8_t)h;
		h >>= 8;
	}
}

void
h_file_etag(const struct stat *st, uint8_t out[H_FILE_ETAG_LEN])
{
	uint64_t h;

	/*
	 * The inode catches replacement by rename (the usual way to publish
	 * a firmware image), size and nanosecond mtime catch rewrites in
	 * place.  Not a secret, only a change detector: a chained mixer is
	 * enough.
	 */
	h = hf_mix64((uint64_t)st->st_ino);
	h = hf_mix64(h ^ (uint64_t)st->st_size);
	h = hf_mix64(h ^ (uint64_t)st->st_mtim.tv_sec);
	h = hf_mix64(h ^ (uint64_t)st->st_mtim.tv_nsec);
	hf_etag_put(h, out);
}

/*
 * Collect the options that shape a GET.  Returns 0, or a response code when
 * the request is to be refused as it stands.
 */
static uint8_t
hf_query_parse(const struct coap_msg *m, struct hf_query *q)
{
	const struct coap_opt *o;
	uint32_t v;
	int rc;

	memset(q, 0, sizeof(*q));
	rc = block_opt_get(m, COAP_OPT_BLOCK2, &q->block);
	if (rc == -EBADMSG)
		return COAP_BAD_OPTION;
	if (rc == -EINVAL)
		return COAP_BAD_REQUEST;	/* RFC 7959 §2.2: SZX 7 */
	q->has_block = rc == 0;
	/*
	 * RFC 7252 §5.4.3, §5.4.5: an Accept of the wrong length is ignored
	 * like an unknown elective option; a repeated one counts once.
	 */
	o = coap_msg_opt(m, COAP_OPT_ACCEPT);
	if (o != NULL && o->len <= 2 && coap_opt_uint(o, &v) == 0) {
		q->has_accept = true;
		q->accept = v;
	}
	q->want_size2 = coap_msg_opt(m, COAP_OPT_SIZE2) != NULL;
	return 0;
}

/* RFC 7252 §5.10.6.2: does any ETag of the request name the current one? */
static bool
hf_etag_matches(const struct coap_msg *m, const uint8_t etag[H_FILE_ETAG_LEN])
{
	uint16_t i;

	for (i = 0; i < m->nopts; i++)
		if (m->opts[i].num == COAP_OPT_ETAG &&
		    m->opts[i].len == H_FILE_ETAG_LEN &&
		    memcmp(m->opts[i].val, etag, H_FILE_ETAG_LEN) == 0)
			return true;
	return false;
}

/*
 * Choose the block to send (block2_plan()).  The server's size is the
 * route's block_size, capped by what the response buffer holds.
 */
int
hf_plan_make(const struct cfg_route *r, const struct hf_query *q,
    const struct coap_resp *resp, struct block2_plan *p)
{
	int szx, cap;

	cap = block_szx_for(resp->payload_cap < COAP_PAYLOAD_MAX ?
	    resp->payload_cap : COAP_PAYLOAD_MAX);
	if (cap < 0)
		return cap;
	szx = block_szx_for(r->block_size);
	if (szx < 0 || szx > cap)
		szx = cap;
	/* block_size is a preference: far into a file NUM must fit. */
	block2_plan_capped(p, q->has_block ? &q->block : NULL, (uint8_t)szx,
	    (uint8_t)cap);
	return 0;
}

/*
 * Refusals that need the representation's metadata: Accept (4.06), a
 * matching ETag (2.03) and a block past the end (4.00).  Returns true when
 * resp is complete.
 */
bool
hf_refuse(const struct h_req *req, const struct hf_query *q,
    const struct block2_plan *p, uint16_t ct, const uint8_t *etag,
    uint64_t total, struct coap_resp *resp)
{
	if (q->has_accept && q->accept != ct) {
		resp->code = COAP_NOT_ACCEPTABLE;
		return true;
	}
	if (hf_etag_matches(req->msg, etag)) {
		/* RFC 7252 §5.10.6.2: 2.03 with the ETag, no payload. */
		resp->code = COAP_VALID;
		resp->payload_len = 0;
		coap_resp_opt(resp, COAP_OPT_ETAG, etag, H_FILE_ETAG_LEN);
		coap_resp_opt_uint(resp, COAP_OPT_MAX_AGE, req->route->max_age);
		return true;
	}
	/*
	 * A block that starts at or past the end does not exist.  RFC 7959
	 * names no code for it; like libcoap and aiocoap we answer 4.00: the
	 * option is well formed (so not 4.02), the request is not.  Block 0
	 * of an empty representation exists and is empty.
	 */
	if (block2_past_end(p, total)) {
		resp->code = COAP_BAD_REQUEST;
		resp->payload_len = 0;
		return true;
	}
	return false;
}

/*
 * Options of a 2.05.  Max-Age is always sent, even at its default of 60:
 * one rule is simpler for clients and caches than "absent means 60"
 * (RFC 7252 §5.10.5), and it costs two bytes.
 */
int
hf_content(uint32_t max_age, const struct hf_query *q,
    const struct block2_plan *p, uint16_t ct, const uint8_t *etag,
    uint64_t total, size_t got, struct coap_resp *resp)
{
	int rc;

	/* Block2 and Size2 first: -EFBIG leaves resp as it was. */
	if ((rc = block2_opts(resp, p, total, got, q->want_size2)) < 0)
		return rc;
	resp->code = COAP_CONTENT;
	resp->payload_len = got;
	rc |= coap_resp_opt_uint(resp, COAP_OPT_CONTENT_FORMAT, ct);
	rc |= coap_resp_opt(resp, COAP_OPT_ETAG, etag, H_FILE_ETAG_LEN);
	rc |= coap_resp_opt_uint(resp, COAP_OPT_MAX_AGE, max_age);
	return rc != 0 ? -ENOSPC : 0;
}

int
hf_pread(int fd, uint8_t *buf, size_t want, uint64_t off, int flags,
    size_t *got)
{
	struct iovec iov;
	ssize_t n;

	while (*got < want) {
		iov.iov_base = buf + *got;
		iov.iov_len = want - *got;
		n = preadv2(fd, &iov, 1, (off_t)(off + *got), flags);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;		/* shrank since fstat */
		*got += (size_t)n;
	}
	return 0;
}

/*
 * The block asked for from fd into resp's payload.  What the page cache
 * holds is copied at once (RWF_NOWAIT); a block that would wait for the
 * disk is read on the ring as a pending exchange (H_PENDING), or, without
 * room for one, here.
 */
static int
hf_serve_fd(const struct h_req *req, const struct hf_query *q,
    const struct hf_rep *rep, int fd, struct coap_resp *resp)
{
	size_t got = 0;
	int rc;

	rc = hf_pread(fd, resp->payload, rep->len, rep->plan.off, RWF_NOWAIT,
	    &got);
	if (rc == -EAGAIN &&
	    (rc = hf_async_read(req, q, rep, fd, resp->payload, got)) ==
	    H_PENDING)
		return H_PENDING;
	/* EOPNOTSUPP: a file system that cannot say "would block" */
	if (rc == -EAGAIN || rc == -EOPNOTSUPP)
		rc = hf_pread(fd, resp->payload, rep->len, rep->plan.off, 0,
		    &got);
	if (rc < 0)
		return rc;
	if ((rc = hf_content(req->route->max_age, q, &rep->plan, rep->ct,
	    rep->etag, rep->total, got, resp)) < 0)
		return rc;
	return H_DONE;
}

/*
 * Answer from a file's metadata and either its cached bytes (mem, the whole
 * file) or fd, from which only the block asked for is read.
 */
static int
hf_serve(const struct h_req *req, const struct hf_query *q, uint16_t ct,
    const uint8_t *etag, uint64_t total, const uint8_t *mem, int fd,
    struct coap_resp *resp)
{
	struct hf_rep rep;
	int rc;

	if ((rc = hf_plan_make(req->route, q, resp, &rep.plan)) < 0)
		return rc;
	if (hf_refuse(req, q, &rep.plan, ct, etag, total, resp))
		return H_DONE;

	rep.len = block2_len(&rep.plan, total);
	rep.ct = ct;
	rep.total = total;
	memcpy(rep.etag, etag, H_FILE_ETAG_LEN);
	if (mem == NULL)
		return hf_serve_fd(req, q, &rep, fd, resp);
	memcpy(resp->payload, mem + rep.plan.off, rep.len);
	if ((rc = hf_content(req->route->max_age, q, &rep.plan, ct, etag,
	    total, rep.len, resp)) < 0)
		return rc;
	return H_DONE;
}

static uint16_t
hf_ctype(const struct h_req *req, const char *name)
{
	const char *base = strrchr(name, '/');

	return cfg_ctype_for(req->cfg, base != NULL ? base + 1 : name);
}

/* Read a whole small file into e; false when it changed under us. */
static bool
hf_cache_fill(struct fcache_entry *e, int fd, const struct stat *st)
{
	size_t got = 0, want = (size_t)st->st_size;
	ssize_t n;

	while (got < want) {
		n = pread(fd, e->data + got, want - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	e->len = (uint16_t)got;
	return true;
}

/*
 * A regular file.  Files of at most one block are kept in the worker's
 * cache (fcache.h): a hot GET then costs no system call at all, which is
 * most of the difference between coapd and a bare UDP responder.
 */
static int
hf_serve_file(const struct h_req *req, const struct hf_query *q, int fd,
    const struct stat *st, const char *name, struct fcache_entry *e,
    struct coap_resp *resp)
{
	struct hf_worker *hw = req->hstate;
	uint8_t etag[H_FILE_ETAG_LEN];
	uint64_t gen;

	if (hw != NULL && st->st_size <= FCACHE_MAX_DATA) {
		gen = atomic_load_explicit(hw->gen, memory_order_acquire);
		if (e != NULL && fcache_same_file(e, st)) {
			fcache_touch(e, gen, req->now_ns);
			return hf_serve(req, q, e->ct, e->etag, e->len, e->data,
			    -1, resp);
		}
		e = fcache_slot(hw->fc, req->path, req->path_len);
		if (e != NULL && hf_cache_fill(e, fd, st)) {
			h_file_etag(st, e->etag);
			e->ct = hf_ctype(req, name);
			fcache_set_stat(e, st, gen, req->now_ns);
			return hf_serve(req, q, e->ct, e->etag, e->len, e->data,
			    -1, resp);
		}
	}
	h_file_etag(st, etag);
	return hf_serve(req, q, hf_ctype(req, name), etag,
	    (uint64_t)st->st_size, NULL, fd, resp);
}

int
hf_code(struct coap_resp *resp, uint8_t code)
{
	resp->code = code;
	resp->payload_len = 0;
	return H_DONE;
}

/*
 * The name a GET resolves beneath the route's directory, or NULL when
 * nothing is served under it (4.04).
 */
static const char *
hf_get_name(const struct cfg_route *r, const char *rest)
{
	if (r->static_is_dir) {
		if (hf_hidden(rest))
			return NULL;
		return rest[0] != '\0' ? rest : ".";
	}
	/* A file route has nothing beneath it. */
	if (rest[0] != '\0' || r->static_name == NULL)
		return NULL;
	/*
	 * Resolved beneath its parent like any other name: a file route
	 * whose target was swapped for a symlink out of the directory stops
	 * being served rather than following it.
	 */
	return r->static_name;
}

/*
 * The request path's entry in the worker's cache, or NULL; *fresh when
 * it may be served without looking at the file again.
 */
static struct fcache_entry *
hf_cache_lookup(const struct h_req *req, bool *fresh)
{
	struct hf_worker *hw = req->hstate;

	*fresh = false;
	if (hw == NULL)
		return NULL;
	/* A new snapshot may map this path to another file. */
	if (hw->cfg_seen != req->cfg) {
		fcache_clear(hw->fc);
		hw->cfg_seen = req->cfg;
	}
	return fcache_get(hw->fc, req->path, req->path_len,
	    atomic_load_explicit(hw->gen, memory_order_acquire),
	    req->now_ns, fresh);
}

/*
 * Open name beneath the route and serve it as a file or, on a directory
 * route, as a listing; e is its stale cache entry, if any.
 */
static int
hf_get_open(const struct h_req *req, const struct hf_query *q,
    const char *name, struct fcache_entry *e, struct coap_resp *resp)
{
	const struct cfg_route *r = req->route;
	struct stat st;
	int fd, rc;

	/*
	 * O_NONBLOCK: opening a FIFO planted in the tree must not stall the
	 * worker; O_NOCTTY: nor may a terminal device become ours.  Either
	 * is refused below as not a regular file.
	 */
	fd = hf_open(r->static_dirfd, name,
	    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (!hf_errno_not_found(-fd))
			return fd;
		resp->code = COAP_NOT_FOUND;
		return H_DONE;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (S_ISREG(st.st_mode)) {
		rc = hf_serve_file(req, q, fd, &st, name, e, resp);
	} else if (S_ISDIR(st.st_mode) && r->static_is_dir) {
		rc = hf_serve_dir(req, q, fd,
		    req->rest != NULL ? req->rest : "", resp);
	} else {
		resp->code = COAP_NOT_FOUND;
		rc = H_DONE;
	}
	close(fd);
	if (e != NULL && rc == H_DONE && resp->code == COAP_NOT_FOUND)
		fcache_drop(e);
	return rc;
}

/* GET of a file, or of a directory's listing, from the cache or disk. */
static int
hf_get(const struct h_req *req, struct coap_resp *resp)
{
	struct fcache_entry *e;
	struct hf_query q;
	const char *name;
	bool fresh;
	uint8_t code;

	if ((code = hf_query_parse(req->msg, &q)) != 0) {
		resp->code = code;
		return H_DONE;
	}
	name = hf_get_name(req->route, req->rest != NULL ? req->rest : "");
	if (name == NULL) {
		resp->code = COAP_NOT_FOUND;
		return H_DONE;
	}
	e = hf_cache_lookup(req, &fresh);
	if (e != NULL && fresh)
		return hf_serve(req, &q, e->ct, e->etag, e->len, e->data, -1,
		    resp);
	return hf_get_open(req, &q, name, e, resp);
}

/*
 * A PUT or DELETE the server could not carry out (the client gets 5.00):
 * the operator must hear of it, typically a read-only directory
 * (ProtectSystem=strict outside StateDirectory=) or wrong ownership.
 * At most one line a second over all workers, with the count of those
 * left out, so a client retrying in a loop cannot flood the journal.
 */
static int
hf_write_failed(const struct h_req *req, const char *what, int rc)
{
	static atomic_uint_fast64_t last_s, quiet;
	uint64_t now_s = req->now_ns / 1000000000u, prev;
	uint64_t n;

	prev = atomic_load_explicit(&last_s, memory_order_relaxed);
	if (now_s == prev || !atomic_compare_exchange_strong(&last_s, &prev,
	    now_s)) {
		atomic_fetch_add_explicit(&quiet, 1, memory_order_relaxed);
		return rc;
	}
	n = atomic_exchange_explicit(&quiet, 0, memory_order_relaxed);
	log_warnx("route %s, %s %s/%s failed: %s%s", req->route->path, what,
	    req->route->static_path != NULL ? req->route->static_path : "",
	    req->rest != NULL ? req->rest : "", strerror(-rc),
	    n > 0 ? " (and earlier failures not logged)" : "");
	return rc;
}

static int
hf_start(const struct h_req *req, struct coap_resp *resp)
{
	const struct cfg_route *r = req->route;
	int rc;

	if (r == NULL || r->kind != ROUTE_STATIC)
		return -EINVAL;
	/*
	 * dispatch checked the route's methods; PUT and DELETE are refused
	 * here too unless the route is writable, whatever methods says.
	 */
	switch (req->msg->code) {
	case COAP_GET:
		return hf_get(req, resp);
	case COAP_PUT:
		if (!r->writable)
			return hf_code(resp, COAP_METHOD_NOT_ALLOWED);
		if ((rc = hf_put(req, resp)) < 0)
			return hf_write_failed(req, "PUT", rc);
		return rc;
	case COAP_DELETE:
		if (!r->writable)
			return hf_code(resp, COAP_METHOD_NOT_ALLOWED);
		if ((rc = hf_delete(req, resp)) < 0)
			return hf_write_failed(req, "DELETE", rc);
		return rc;
	default:
		return hf_code(resp, COAP_METHOD_NOT_ALLOWED);
	}
}

static void *
hf_worker_init(const struct cfg *c, const struct h_env *env,
    const struct h_svc *svc)
{
	struct hf_worker *hw;

	if (env == NULL || env->file_gen == NULL)
		return NULL;
	if ((hw = calloc(1, sizeof(*hw))) == NULL)
		return NULL;
	if ((hw->fc = fcache_new(HF_CACHE_SLOTS)) == NULL) {
		free(hw);
		return NULL;
	}
	if (hf_uploads_init(&hw->up, c) != 0) {
		fcache_free(hw->fc);
		free(hw);
		return NULL;
	}
	hw->gen = env->file_gen;
	hw->svc = svc;
	return hw;
}

static void
hf_worker_fini(void *p)
{
	struct hf_worker *hw = p;

	hf_async_fini(hw);
	hf_uploads_fini(&hw->up);
	fcache_free(hw->fc);
	free(hw);
}

static void
hf_sweep(void *p, uint64_t now_ns)
{
	struct hf_worker *hw = p;

	hf_uploads_sweep(&hw->up, now_ns);
}

const struct handler_ops h_file_ops = {
	.name = "static",
	.worker_init = hf_worker_init,
	.worker_fini = hf_worker_fini,
	.start = hf_start,
	.cancel = hf_async_cancel,
	.sweep = hf_sweep,
};