/*
 * h_file.c - static routes: GET of a file or of a directory listing, with
 * ETag validation (RFC 7252 §5.10.6) and Block2 (RFC 7959 §2.4); on
 * writable routes PUT (whole or Block1, RFC 7959 §2.5) and DELETE with
 * If-Match / If-None-Match (RFC 7252 §5.10.8).
 *
 * Every name a client sends is resolved with openat2(2) beneath the route's
 * directory (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): "..", absolute paths
 * and symlinks that leave the tree fail in the kernel, so no user-space path
 * check has to be right (hf_open_walk() covers kernels without openat2).
 * Nothing is allocated per request: file blocks are pread into the response
 * buffer and listings are generated into it.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "proto/block.h"
#include "proto/fcache.h"
#include "adapt/cfg.h"
#include "proto/coap_msg.h"
#include "serve/h_file.h"
#include "serve/handler.h"
#include "proto/linkfmt.h"
#include "proto/upload.h"

/* Joined paths; longer requests get 4.04 like any other missing name. */
#define HF_PATH_MAX	PATH_MAX
/* One link-format entry: a path percent-encoded in full, plus ";ct=N". */
#define HF_ENTRY_MAX	(3 * HF_PATH_MAX + 32)
#define HF_DENTS_BUF	8192

/* Small files cached per worker (fcache.h); 256 x ~1.2 KiB. */
#define HF_CACHE_SLOTS	256

/* A worker's state for static routes. */
struct hf_worker {
	struct fcache			*fc;
	const atomic_uint_least64_t	*gen;	/* h_env.file_gen */
	const struct cfg		*cfg_seen; /* snapshot fc was filled
						      under */
	struct upload_table		 up;	/* Block1 uploads */
};

/* What a GET asked for, beyond its path. */
struct hf_query {
	bool		 has_block;
	struct block_opt block;		/* Block2 of the request */
	bool		 has_accept;
	uint32_t	 accept;
	bool		 want_size2;	/* RFC 7959 §4: Size2 0 in request */
};

/* Which bytes of the representation this response carries. */
struct hf_plan {
	uint8_t		 szx;
	uint64_t	 off;
	size_t		 len;		/* block size: most bytes to send */
};

static uint64_t
hf_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static void
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

static int
hf_openat2(int dirfd, const char *path, uint64_t flags)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = flags;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	do {
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	} while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : (int)fd;
}

/*
 * Without openat2 (kernels before 5.6, container seccomp profiles that
 * predate it, valgrind 3.19) walk the path one segment at a time with
 * O_NOFOLLOW: ".." is refused and no symlink is followed at all, so a
 * symlink inside the tree is 4.04 there.  Stricter than openat2, never
 * weaker.
 */
static int
hf_open_walk(int dirfd, const char *path, int flags)
{
	char seg[NAME_MAX + 1];
	const char *p = path, *end;
	int cur = dirfd, fd;
	size_t n;
	bool last;

	if (path[0] == '/')
		return -EXDEV;
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0') {
			/* "", "." or "a/": the directory reached so far. */
			fd = openat(cur, ".", flags);
			fd = fd < 0 ? -errno : fd;
			break;
		}
		end = strchr(p, '/');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n > NAME_MAX) {
			fd = -ENAMETOOLONG;
			break;
		}
		memcpy(seg, p, n);
		seg[n] = '\0';
		p += n;
		if (strcmp(seg, "..") == 0) {
			fd = -EXDEV;
			break;
		}
		if (strcmp(seg, ".") == 0)
			continue;
		for (end = p; *end == '/'; end++)
			;
		last = *end == '\0';
		fd = openat(cur, seg, last ? flags | O_NOFOLLOW :
		    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		fd = fd < 0 ? -errno : fd;
		if (fd < 0 || last)
			break;
		if (cur != dirfd)
			close(cur);
		cur = fd;
	}
	if (cur != dirfd)
		close(cur);
	return fd;
}

/* Open path beneath dirfd; returns the fd or a negative errno. */
static int
hf_open(int dirfd, const char *path, int flags)
{
	int fd;

	fd = hf_openat2(dirfd, path, (uint64_t)flags);
	if (fd != -ENOSYS)
		return fd;
	return hf_open_walk(dirfd, path, flags);
}

/*
 * Errors that mean "nothing to serve under that name".  EXDEV is
 * RESOLVE_BENEATH refusing an escape, ELOOP a magic link or a symlink loop.
 * EACCES and EPERM are 4.04 rather than 4.03 on purpose: a file the daemon
 * may not read is not part of the published tree, and a different code
 * would tell a scanner which names exist.  ENXIO is a socket or a FIFO.
 */
static bool
hf_errno_not_found(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case EXDEV:
	case ELOOP:
	case ENAMETOOLONG:
	case EACCES:
	case EPERM:
	case ENXIO:
	case ENODEV:
		return true;
	default:
		return false;
	}
}

/*
 * Dotfiles (.git, .htpasswd, editor swap files) are neither listed nor
 * served: a tree copied onto a gateway often carries them by accident.
 */
static bool
hf_hidden(const char *rest)
{
	const char *p;

	if (rest[0] == '.')
		return true;
	for (p = rest; (p = strchr(p, '/')) != NULL; p++)
		if (p[1] == '.')
			return true;
	return false;
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
 * Choose the block to send.  The server's size is the route's block_size,
 * capped by what the response buffer holds.  RFC 7959 §2.4: with a Block2
 * in the request we answer with the size asked for or a smaller one; a
 * smaller one renumbers the block so that it still starts at the offset the
 * client asked for (late negotiation).
 */
static int
hf_plan_make(const struct cfg_route *r, const struct hf_query *q,
    const struct coap_resp *resp, struct hf_plan *p)
{
	int szx, cap;

	cap = block_szx_for(resp->payload_cap < COAP_PAYLOAD_MAX ?
	    resp->payload_cap : COAP_PAYLOAD_MAX);
	if (cap < 0)
		return cap;
	szx = block_szx_for(r->block_size);
	if (szx < 0 || szx > cap)
		szx = cap;
	p->off = 0;
	if (q->has_block) {
		p->off = (uint64_t)q->block.num << (q->block.szx + 4);
		if (q->block.szx < szx)
			szx = q->block.szx;
	}
	p->szx = (uint8_t)szx;
	p->len = block_size(p->szx);
	return 0;
}

/*
 * Refusals that need the representation's metadata: Accept (4.06), a
 * matching ETag (2.03) and a block past the end (4.00).  Returns true when
 * resp is complete.
 */
static bool
hf_refuse(const struct h_req *req, const struct hf_query *q,
    const struct hf_plan *p, uint16_t ct, const uint8_t *etag, uint64_t total,
    struct coap_resp *resp)
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
	if (p->off > 0 && p->off >= total) {
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
static int
hf_content(const struct h_req *req, const struct hf_query *q,
    const struct hf_plan *p, uint16_t ct, const uint8_t *etag, uint64_t total,
    size_t got, struct coap_resp *resp)
{
	uint64_t num = p->off >> (p->szx + 4);
	bool blockwise, more;
	int rc = 0;

	more = p->off + got < total;
	blockwise = q->has_block || more || p->off > 0;
	/* RFC 7959 §2.2: NUM has 20 bits; beyond that nothing addresses it. */
	if (blockwise && num > BLOCK_NUM_MAX)
		return -EFBIG;
	resp->code = COAP_CONTENT;
	resp->payload_len = got;
	rc |= coap_resp_opt_uint(resp, COAP_OPT_CONTENT_FORMAT, ct);
	rc |= coap_resp_opt(resp, COAP_OPT_ETAG, etag, H_FILE_ETAG_LEN);
	rc |= coap_resp_opt_uint(resp, COAP_OPT_MAX_AGE, req->route->max_age);
	if (blockwise)
		rc |= coap_resp_opt_uint(resp, COAP_OPT_BLOCK2,
		    block_opt_encode((uint32_t)num, more, p->szx));
	/*
	 * RFC 7959 §4: Size2 tells the client the whole size up front; sent
	 * with the first block, and whenever the request asked for it.
	 */
	if (((blockwise && num == 0) || q->want_size2) && total <= UINT32_MAX)
		rc |= coap_resp_opt_uint(resp, COAP_OPT_SIZE2,
		    (uint32_t)total);
	return rc != 0 ? -ENOSPC : 0;
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
	struct hf_plan p;
	size_t want, got = 0;
	ssize_t n;
	int rc;

	if ((rc = hf_plan_make(req->route, q, resp, &p)) < 0)
		return rc;
	if (hf_refuse(req, q, &p, ct, etag, total, resp))
		return H_DONE;

	want = p.off + p.len <= total ? p.len : (size_t)(total - p.off);
	if (mem != NULL) {
		memcpy(resp->payload, mem + p.off, want);
		got = want;
	}
	while (got < want) {
		n = pread(fd, resp->payload + got, want - got,
		    (off_t)(p.off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;		/* shrank since fstat */
		got += (size_t)n;
	}
	if ((rc = hf_content(req, q, &p, ct, etag, total, got, resp)) < 0)
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

/*
 * A listing is generated in full on every request and only the bytes of the
 * requested block are kept, so Block2 needs no state between requests and
 * its total size and ETag (a hash of the whole document) come out of the
 * same pass.  getdents order is stable while the directory is unchanged;
 * when it changes, the ETag changes with it (RFC 7959 §2.4).
 */
struct hf_slice {
	uint8_t		*dst;
	uint64_t	 off;
	size_t		 cap;
	uint64_t	 pos;		/* bytes generated so far */
	size_t		 got;		/* bytes kept in dst */
	uint64_t	 hash;
	bool		 first;
};

static void
hf_slice_put(struct hf_slice *s, const char *b, size_t n)
{
	uint64_t from, to;

	/* FNV-1a over the document, mixed at the end. */
	s->hash = fnv1a(s->hash, b, n);
	if (s->pos + n > s->off && s->pos < s->off + s->cap) {
		from = s->pos > s->off ? s->pos : s->off;
		to = s->pos + n < s->off + s->cap ? s->pos + n :
		    s->off + s->cap;
		memcpy(s->dst + (from - s->off), b + (from - s->pos),
		    (size_t)(to - from));
		s->got = (size_t)(to - s->off);
	}
	s->pos += n;
}

/* Join a and b with one '/' into out.  Returns 0 or -ENAMETOOLONG. */
static int
hf_join(char *out, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	bool slash;

	while (la > 0 && a[la - 1] == '/')
		la--;
	slash = la > 0 || a[0] == '/';
	if (la + (slash ? 1 : 0) + lb + 1 > cap)
		return -ENAMETOOLONG;
	memcpy(out, a, la);
	if (slash)
		out[la++] = '/';
	memcpy(out + la, b, lb + 1);
	return 0;
}

/*
 * The link-format entry for one directory entry, or -ENOENT when it is not
 * served (dotfile, special file, symlink out of the tree or dangling).
 */
static int
hf_list_entry(const struct h_req *req, const char *rest, const char *base,
    const struct dirent64 *d, char *ebuf, size_t ecap, size_t *elen)
{
	char rel[HF_PATH_MAX], href[HF_PATH_MAX];
	struct stat st;
	bool is_dir;
	int fd, rc;

	if (d->d_name[0] == '.')
		return -ENOENT;
	switch (d->d_type) {
	case DT_REG:
		is_dir = false;
		break;
	case DT_DIR:
		is_dir = true;
		break;
	case DT_LNK:
	case DT_UNKNOWN:
		/*
		 * Resolve as a GET would, beneath the route's root: a link
		 * that a GET answers with 4.04 is not advertised.
		 */
		if (hf_join(rel, sizeof(rel), rest, d->d_name) < 0)
			return -ENOENT;
		fd = hf_open(req->route->static_dirfd,
		    rel[0] == '/' ? rel + 1 : rel, O_PATH | O_CLOEXEC);
		if (fd < 0)
			return -ENOENT;
		rc = fstat(fd, &st);
		close(fd);
		if (rc < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			return -ENOENT;
		is_dir = S_ISDIR(st.st_mode);
		break;
	default:
		return -ENOENT;
	}
	if (hf_join(href, sizeof(href), base, d->d_name) < 0)
		return -ENOENT;
	*elen = 0;
	/*
	 * A subdirectory answers GET with its own listing, so it carries
	 * ct=40 like a file carries the format GET would return.
	 */
	return linkfmt_append(ebuf, ecap, elen, href,
	    is_dir ? COAP_CT_LINK_FORMAT : cfg_ctype_for(req->cfg, d->d_name),
	    NULL);
}

static int
hf_serve_dir(const struct h_req *req, const struct hf_query *q, int fd,
    const char *rest, struct coap_resp *resp)
{
	union {
		struct dirent64	 d;
		char		 b[HF_DENTS_BUF];
	} dents;
	char base[HF_PATH_MAX], ebuf[HF_ENTRY_MAX];
	const struct dirent64 *d;
	struct hf_slice s;
	struct hf_plan p;
	uint8_t etag[H_FILE_ETAG_LEN];
	size_t elen;
	ssize_t n, i;
	int rc;

	if ((rc = hf_plan_make(req->route, q, resp, &p)) < 0)
		return rc;
	/* Hrefs are absolute paths: the route's path, then rest. */
	if (hf_join(base, sizeof(base), req->route->path, rest) < 0)
		return -ENAMETOOLONG;

	memset(&s, 0, sizeof(s));
	s.dst = resp->payload;
	s.off = p.off;
	s.cap = p.len;
	s.hash = FNV1A_INIT;
	s.first = true;
	for (;;) {
		n = getdents64(fd, dents.b, sizeof(dents.b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		for (i = 0; i < n; i += d->d_reclen) {
			d = (const struct dirent64 *)(const void *)
			    (dents.b + i);
			/* Entries too long to encode are skipped. */
			if (hf_list_entry(req, rest, base, d, ebuf,
			    sizeof(ebuf), &elen) < 0)
				continue;
			if (!s.first)
				hf_slice_put(&s, ",", 1);
			hf_slice_put(&s, ebuf, elen);
			s.first = false;
		}
	}
	hf_etag_put(hf_mix64(s.hash ^ s.pos), etag);
	if (hf_refuse(req, q, &p, COAP_CT_LINK_FORMAT, etag, s.pos, resp))
		return H_DONE;
	rc = hf_content(req, q, &p, COAP_CT_LINK_FORMAT, etag, s.pos, s.got,
	    resp);
	return rc < 0 ? rc : H_DONE;
}

/*
 * Writes: PUT (whole or Block1, RFC 7959 §2.5) and DELETE on writable
 * routes.  A body goes to a temporary file in the target's directory, is
 * fsync'ed and then renamed over the target (or linked in, for
 * create-only), so a reader, or a crash at any point, sees the old file
 * or the new one and never a part of it.
 *
 * Known limitation: the writes and fsync run synchronously on the worker;
 * a slow disk delays the other clients of that worker for as long (see
 * README, "Uploads").
 */

/* Upload slots per worker: each holds two descriptors. */
#define HF_UPLOADS_MAX		32
/* An upload without a block for this long is abandoned. */
#define HF_UPLOAD_IDLE_NS	(60ULL * 1000 * 1000 * 1000)
/* Max-Age of a 5.03 when every upload slot is taken. */
#define HF_BUSY_MAX_AGE		10
#define HF_FILE_MODE		0644

/* The file a write names: its directory (owned) and its base name. */
struct hf_target {
	int		 dirfd;
	const char	*base;
	char		 parent[HF_PATH_MAX];
	bool		 exists;
	struct stat	 st;
};

/*
 * Create the missing directories of rel (a relative path of directories)
 * beneath rootfd, one level at a time and each resolved beneath the one
 * before, so no symlink leads the creation out of the tree.
 */
static int
hf_mkdirs(int rootfd, const char *rel)
{
	char seg[NAME_MAX + 1];
	const char *p = rel, *end;
	int cur = rootfd, fd;
	size_t n;

	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, '/');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n > NAME_MAX) {
			fd = -ENAMETOOLONG;
			goto out;
		}
		memcpy(seg, p, n);
		seg[n] = '\0';
		p += n;
		fd = hf_open(cur, seg, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd == -ENOENT) {
			if (mkdirat(cur, seg, 0755) < 0 && errno != EEXIST) {
				fd = -errno;
				goto out;
			}
			fd = hf_open(cur, seg, O_PATH | O_DIRECTORY |
			    O_CLOEXEC);
		}
		if (fd < 0)
			goto out;
		if (cur != rootfd)
			close(cur);
		cur = fd;
	}
	fd = 0;
out:
	if (cur != rootfd)
		close(cur);
	return fd;
}

/*
 * Resolve the target of a write.  Returns 0 with t->dirfd open, a CoAP
 * code (> 0) to answer with, or a negative errno.
 */
static int
hf_target_open(const struct h_req *req, bool create, struct hf_target *t)
{
	const struct cfg_route *r = req->route;
	const char *rest = req->rest != NULL ? req->rest : "", *slash;
	int fd;

	memset(t, 0, sizeof(*t));
	t->dirfd = -1;
	if (!r->static_is_dir) {
		if (rest[0] != '\0' || r->static_name == NULL)
			return COAP_NOT_FOUND;
		t->base = r->static_name;
		snprintf(t->parent, sizeof(t->parent), ".");
	} else {
		/* The directory itself is no file to write. */
		if (rest[0] == '\0')
			return COAP_METHOD_NOT_ALLOWED;
		if (hf_hidden(rest))
			return COAP_NOT_FOUND;
		if (strlen(rest) >= sizeof(t->parent))
			return COAP_NOT_FOUND;
		if ((slash = strrchr(rest, '/')) == NULL) {
			snprintf(t->parent, sizeof(t->parent), ".");
			t->base = rest;
		} else {
			memcpy(t->parent, rest, (size_t)(slash - rest));
			t->parent[slash - rest] = '\0';
			t->base = slash + 1;
		}
		if (t->base[0] == '\0' || strlen(t->base) > NAME_MAX)
			return COAP_NOT_FOUND;
	}
	fd = hf_open(r->static_dirfd, t->parent,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -ENOENT && create && r->create_dirs) {
		if ((fd = hf_mkdirs(r->static_dirfd, t->parent)) < 0 &&
		    !hf_errno_not_found(-fd))
			return fd;
		fd = hf_open(r->static_dirfd, t->parent,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return hf_errno_not_found(-fd) ? COAP_NOT_FOUND : fd;
	t->dirfd = fd;
	if (fstatat(fd, t->base, &t->st, AT_SYMLINK_NOFOLLOW) == 0)
		t->exists = true;
	else if (errno != ENOENT) {
		fd = -errno;
		close(t->dirfd);
		t->dirfd = -1;
		return fd;
	}
	/* Only regular files are replaced or deleted: no dirs, no links. */
	if (t->exists && !S_ISREG(t->st.st_mode)) {
		close(t->dirfd);
		t->dirfd = -1;
		return COAP_METHOD_NOT_ALLOWED;
	}
	return 0;
}

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

/* ".coapd-up-" and 16 hex digits: a dotfile, so never served or listed. */
static void
hf_tmp_name(char name[UPLOAD_TMPNAME_MAX])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[8];
	uint64_t x;
	size_t i;

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
		x = hf_mix64((uint64_t)clock() ^ (uint64_t)getpid() ^
		    (uint64_t)(uintptr_t)name);
		memcpy(rnd, &x, sizeof(rnd));
	}
	memcpy(name, ".coapd-up-", 10);
	for (i = 0; i < sizeof(rnd); i++) {
		name[10 + 2 * i] = hex[rnd[i] >> 4];
		name[11 + 2 * i] = hex[rnd[i] & 15];
	}
	name[10 + 2 * sizeof(rnd)] = '\0';
}

/*
 * A new, empty temporary file in dirfd.  Unnamed (O_TMPFILE) where the
 * file system can: a crash then leaves nothing behind.  Elsewhere a named
 * dotfile, in name.
 */
static int
hf_tmp_create(int dirfd, mode_t mode, char name[UPLOAD_TMPNAME_MAX])
{
	int fd, i;

	name[0] = '\0';
	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	for (i = 0; i < 8; i++) {
		hf_tmp_name(name);
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			break;
	}
	fd = -errno;
	name[0] = '\0';
	return fd;
}

/* Give an unnamed temporary file the name name; -EEXIST if taken. */
static int
hf_link_tmp(int fd, int dirfd, const char *name)
{
	char proc[64];

	if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc does not. */
	if (errno != ENOENT && errno != EPERM)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	return -errno;
}

/* Close u's descriptors and remove its temporary file, if named. */
static void
hf_upload_discard(struct upload *u)
{
	if (u->fd >= 0)
		close(u->fd);
	if (u->tmpname[0] != '\0' && u->dirfd >= 0)
		(void)unlinkat(u->dirfd, u->tmpname, 0);
	if (u->dirfd >= 0)
		close(u->dirfd);
	u->fd = u->dirfd = -1;
	u->tmpname[0] = '\0';
}

static int
hf_pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Publish u's temporary file as base: fsync it, then rename it over the
 * target, or for create-only link it in without replacing.  Returns 0,
 * -EEXIST when create-only found the name taken, or a negative errno.
 */
static int
hf_commit(struct upload *u, const char *base)
{
	char tmp[UPLOAD_TMPNAME_MAX];
	int rc = 0, i;

	if (fsync(u->fd) < 0)
		return -errno;
	if (u->tmpname[0] == '\0' && u->create_only) {
		if ((rc = hf_link_tmp(u->fd, u->dirfd, base)) < 0)
			return rc;
	} else if (u->tmpname[0] == '\0') {
		for (i = 0; i < 8; i++) {
			hf_tmp_name(tmp);
			if ((rc = hf_link_tmp(u->fd, u->dirfd, tmp)) != -EEXIST)
				break;
		}
		if (rc < 0)
			return rc;
		if (renameat(u->dirfd, tmp, u->dirfd, base) < 0) {
			rc = -errno;
			(void)unlinkat(u->dirfd, tmp, 0);
			return rc;
		}
	} else if (u->create_only) {
		if (renameat2(u->dirfd, u->tmpname, u->dirfd, base,
		    RENAME_NOREPLACE) < 0) {
			if (errno != EINVAL)
				return -errno;
			/* No RENAME_NOREPLACE here: link does not replace. */
			if (linkat(u->dirfd, u->tmpname, u->dirfd, base, 0) < 0)
				return -errno;
			(void)unlinkat(u->dirfd, u->tmpname, 0);
		}
		u->tmpname[0] = '\0';
	} else {
		if (renameat(u->dirfd, u->tmpname, u->dirfd, base) < 0)
			return -errno;
		u->tmpname[0] = '\0';
	}
	/* The rename itself must survive a power cut too. */
	(void)fsync(u->dirfd);
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

static int
hf_code(struct coap_resp *resp, uint8_t code)
{
	resp->code = code;
	resp->payload_len = 0;
	return H_DONE;
}

/* Forget the cached copy of a path this worker just changed. */
static void
hf_cache_forget(struct hf_worker *hw, const struct h_req *req)
{
	struct fcache_entry *e;
	bool fresh;

	if (hw == NULL)
		return;
	e = fcache_get(hw->fc, req->path, req->path_len, 0, 0, &fresh);
	if (e != NULL)
		fcache_drop(e);
}

/* The last block is in: publish the file and answer 2.01 or 2.04. */
static int
hf_put_finish(const struct h_req *req, struct upload *u, const char *base,
    struct coap_resp *resp)
{
	uint8_t etag[H_FILE_ETAG_LEN];
	struct stat st;
	bool existed;
	uint8_t code;
	int rc;

	/*
	 * The preconditions were checked at the first block; check them
	 * again now, so an If-Match upload does not replace a file that
	 * someone else replaced meanwhile.
	 */
	existed = fstatat(u->dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (existed && !S_ISREG(st.st_mode))
		return hf_code(resp, COAP_METHOD_NOT_ALLOWED);
	if ((code = hf_preconditions(req->msg, existed, &st)) != 0 ||
	    (u->create_only && existed))
		return hf_code(resp, COAP_PRECONDITION_FAILED);
	if (existed)
		(void)fchmod(u->fd, st.st_mode & 07777);
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

/*
 * PUT: create or replace a file (RFC 7252 §5.8.3), whole or in Block1
 * blocks (RFC 7959 §2.5).
 */
static int
hf_put(const struct h_req *req, struct coap_resp *resp)
{
	const struct coap_msg *m = req->msg;
	const struct cfg_route *r = req->route;
	struct hf_worker *hw = req->hstate;
	struct upload_key k;
	struct upload *u = NULL, one;
	struct hf_target t;
	struct block_opt b;
	const struct coap_opt *o;
	enum upload_verdict v;
	uint64_t off;
	uint32_t size1;
	size_t blksz, len = m->payload_len;
	bool blockwise;
	uint8_t code, szx;
	int rc;

	rc = block_opt_get(m, COAP_OPT_BLOCK1, &b);
	if (rc == -EBADMSG)
		return hf_code(resp, COAP_BAD_OPTION);
	if (rc == -EINVAL)
		return hf_code(resp, COAP_BAD_REQUEST);
	blockwise = rc == 0;
	if (!blockwise) {
		b.num = 0;
		b.more = false;
		b.szx = BLOCK_SZX_MAX;
		blksz = len;
	} else
		blksz = block_size(b.szx);
	off = (uint64_t)b.num * blksz;

	/* RFC 9175 §3.2: the Request-Tag keeps concurrent uploads apart. */
	memset(&k, 0, sizeof(k));
	/* A spoofed plain datagram must not add blocks to a DTLS upload. */
	k.scope = req->scope;
	k.peer = req->peer;
	k.peerlen = req->peerlen;
	k.path = req->path;
	k.path_len = req->path_len;
	if ((o = coap_msg_opt(m, COAP_OPT_REQUEST_TAG)) != NULL) {
		if (o->len > UPLOAD_TAG_MAX)
			return hf_code(resp, COAP_BAD_OPTION);
		k.has_tag = true;
		k.tag = o->val;
		k.taglen = (uint8_t)o->len;
	}
	if (hw != NULL && k.peer != NULL)
		u = upload_find(&hw->up, &k);

	/* RFC 7959 §4: a Size1 announcing too much is refused up front. */
	if ((o = coap_msg_opt(m, COAP_OPT_SIZE1)) != NULL &&
	    coap_opt_uint(o, &size1) == 0 && size1 > r->max_body_bytes) {
		if (u != NULL) {
			hf_upload_discard(u);
			upload_release(&hw->up, u);
		}
		return hf_too_large(r, resp);
	}

	if (off > 0) {
		/* A later block: it must continue a transfer we know. */
		if (u == NULL)
			return hf_code(resp, COAP_REQUEST_ENTITY_INCOMPLETE);
		v = upload_check(u, u->limit, off, len, b.more, blksz);
		if (v != UPLOAD_OK) {
			hf_upload_discard(u);
			upload_release(&hw->up, u);
			if (v == UPLOAD_TOO_LARGE)
				return hf_too_large(r, resp);
			return hf_code(resp, v == UPLOAD_INCOMPLETE ?
			    COAP_REQUEST_ENTITY_INCOMPLETE : COAP_BAD_REQUEST);
		}
		if ((rc = hf_pwrite_all(u->fd, m->payload, len, off)) < 0)
			goto fail;
		upload_advance(u, len, req->now_ns);
		if (b.more)
			goto cont;
		/* The target's name, as at the first block. */
		rc = hf_target_open(req, false, &t);
		if (t.dirfd >= 0)
			close(t.dirfd);
		if (rc != 0) {
			hf_upload_discard(u);
			upload_release(&hw->up, u);
			return rc > 0 ? hf_code(resp, (uint8_t)rc) : rc;
		}
		rc = hf_put_finish(req, u, t.base, resp);
		hf_upload_discard(u);
		upload_release(&hw->up, u);
		if (rc == H_DONE && blockwise)
			coap_resp_opt_uint(resp, COAP_OPT_BLOCK1,
			    block_opt_encode(b.num, false, b.szx));
		return rc;
	}

	/* A first block, or the whole body: a new transfer. */
	if (u != NULL) {
		/* RFC 7959 §2.5: block 0 again starts over. */
		hf_upload_discard(u);
		upload_release(&hw->up, u);
		u = NULL;
	}
	if ((rc = hf_target_open(req, true, &t)) != 0)
		return rc > 0 ? hf_code(resp, (uint8_t)rc) : rc;
	if ((code = hf_preconditions(m, t.exists, &t.st)) != 0) {
		close(t.dirfd);
		return hf_code(resp, code);
	}
	v = upload_check(NULL, r->max_body_bytes, 0, len, b.more, blksz);
	if (v != UPLOAD_OK) {
		close(t.dirfd);
		if (v == UPLOAD_TOO_LARGE)
			return hf_too_large(r, resp);
		return hf_code(resp, COAP_BAD_REQUEST);
	}
	if (b.more) {
		if (hw == NULL || k.peer == NULL ||
		    (u = upload_alloc(&hw->up, &k, r->max_body_bytes,
		    req->now_ns)) == NULL) {
			/* Every slot busy: come back later. */
			close(t.dirfd);
			hf_code(resp, COAP_SERVICE_UNAVAILABLE);
			coap_resp_opt_uint(resp, COAP_OPT_MAX_AGE,
			    HF_BUSY_MAX_AGE);
			return H_DONE;
		}
	} else {
		/* One message, or one block: no state to keep. */
		memset(&one, 0, sizeof(one));
		u = &one;
	}
	u->dirfd = t.dirfd;
	u->existed = t.exists;
	u->create_only = t.exists == false &&
	    coap_msg_opt(m, COAP_OPT_IF_NONE_MATCH) != NULL;
	u->fd = hf_tmp_create(u->dirfd, HF_FILE_MODE, u->tmpname);
	if (u->fd < 0) {
		rc = u->fd;
		goto fail;
	}
	if ((rc = hf_pwrite_all(u->fd, m->payload, len, 0)) < 0)
		goto fail;
	if (b.more) {
		upload_advance(u, len, req->now_ns);
		goto cont;
	}
	rc = hf_put_finish(req, u, t.base, resp);
	hf_upload_discard(u);
	if (rc == H_DONE && blockwise)
		coap_resp_opt_uint(resp, COAP_OPT_BLOCK1,
		    block_opt_encode(b.num, false, b.szx));
	return rc;

cont:
	/*
	 * RFC 7959 §2.3: 2.31 Continue with the block acknowledged; a
	 * smaller SZX than the client's asks it to continue with the
	 * route's block size (late negotiation, §2.5).
	 */
	szx = b.szx;
	if ((rc = block_szx_for(r->block_size)) >= 0 && rc < szx)
		szx = (uint8_t)rc;
	resp->code = COAP_CONTINUE;
	resp->payload_len = 0;
	coap_resp_opt_uint(resp, COAP_OPT_BLOCK1,
	    block_opt_encode(b.num, true, szx));
	return H_DONE;
fail:
	hf_upload_discard(u);
	if (u != &one)
		upload_release(&hw->up, u);
	/* A full disk is the body being too large for this server. */
	if (rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG)
		return hf_code(resp, COAP_REQUEST_ENTITY_TOO_LARGE);
	return rc;
}

/* DELETE (RFC 7252 §5.8.4): 2.02, also when the file was already gone. */
static int
hf_delete(const struct h_req *req, struct coap_resp *resp)
{
	struct hf_target t;
	uint8_t code;
	int rc;

	if ((rc = hf_target_open(req, false, &t)) != 0) {
		/* A missing directory: the file is not there either. */
		if (rc == COAP_NOT_FOUND && t.base != NULL)
			return hf_code(resp, coap_msg_opt(req->msg,
			    COAP_OPT_IF_MATCH) != NULL ?
			    COAP_PRECONDITION_FAILED : COAP_DELETED);
		return rc > 0 ? hf_code(resp, (uint8_t)rc) : rc;
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

/* Reap uploads abandoned by their clients. */
static void
hf_sweep(void *p, uint64_t now_ns)
{
	struct hf_worker *hw = p;
	struct upload *u;
	unsigned cursor = 0;

	while ((u = upload_next_expired(&hw->up, now_ns, HF_UPLOAD_IDLE_NS,
	    &cursor)) != NULL) {
		hf_upload_discard(u);
		upload_release(&hw->up, u);
	}
}

static int
hf_start(const struct h_req *req, struct coap_resp *resp)
{
	const struct cfg_route *r = req->route;
	struct hf_worker *hw = req->hstate;
	struct fcache_entry *e = NULL;
	struct hf_query q;
	struct stat st;
	bool fresh = false;
	const char *name, *rest = req->rest != NULL ? req->rest : "";
	uint8_t code;
	int fd, rc;

	if (r == NULL || r->kind != ROUTE_STATIC)
		return -EINVAL;
	/*
	 * dispatch checked the route's methods; PUT and DELETE are refused
	 * here too unless the route is writable, whatever methods says.
	 */
	switch (req->msg->code) {
	case COAP_GET:
		break;
	case COAP_PUT:
		if (!r->writable)
			return hf_code(resp, COAP_METHOD_NOT_ALLOWED);
		return hf_put(req, resp);
	case COAP_DELETE:
		if (!r->writable)
			return hf_code(resp, COAP_METHOD_NOT_ALLOWED);
		return hf_delete(req, resp);
	default:
		return hf_code(resp, COAP_METHOD_NOT_ALLOWED);
	}
	if ((code = hf_query_parse(req->msg, &q)) != 0) {
		resp->code = code;
		return H_DONE;
	}
	if (r->static_is_dir) {
		if (hf_hidden(rest)) {
			resp->code = COAP_NOT_FOUND;
			return H_DONE;
		}
		name = rest[0] != '\0' ? rest : ".";
	} else {
		/* A file route has nothing beneath it. */
		if (rest[0] != '\0' || r->static_name == NULL) {
			resp->code = COAP_NOT_FOUND;
			return H_DONE;
		}
		/*
		 * Resolved beneath its parent like any other name: a file
		 * route whose target was swapped for a symlink out of the
		 * directory stops being served rather than following it.
		 */
		name = r->static_name;
	}

	if (hw != NULL) {
		/* A new snapshot may map this path to another file. */
		if (hw->cfg_seen != req->cfg) {
			fcache_clear(hw->fc);
			hw->cfg_seen = req->cfg;
		}
		e = fcache_get(hw->fc, req->path, req->path_len,
		    atomic_load_explicit(hw->gen, memory_order_acquire),
		    req->now_ns, &fresh);
		if (e != NULL && fresh)
			return hf_serve(req, &q, e->ct, e->etag, e->len,
			    e->data, -1, resp);
	}

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
		rc = hf_serve_file(req, &q, fd, &st, name, e, resp);
	} else if (S_ISDIR(st.st_mode) && r->static_is_dir) {
		rc = hf_serve_dir(req, &q, fd, rest, resp);
	} else {
		resp->code = COAP_NOT_FOUND;
		rc = H_DONE;
	}
	close(fd);
	if (e != NULL && rc == H_DONE && resp->code == COAP_NOT_FOUND)
		fcache_drop(e);
	return rc;
}

static void *
hf_worker_init(const struct cfg *c, const struct h_env *env,
    const struct h_svc *svc)
{
	struct hf_worker *hw;

	(void)c;
	(void)svc;
	if (env == NULL || env->file_gen == NULL)
		return NULL;
	if ((hw = calloc(1, sizeof(*hw))) == NULL)
		return NULL;
	if ((hw->fc = fcache_new(HF_CACHE_SLOTS)) == NULL) {
		free(hw);
		return NULL;
	}
	if (upload_table_init(&hw->up, HF_UPLOADS_MAX) != 0) {
		fcache_free(hw->fc);
		free(hw);
		return NULL;
	}
	hw->gen = env->file_gen;
	return hw;
}

static void
hf_worker_fini(void *p)
{
	struct hf_worker *hw = p;
	unsigned i;

	/* Uploads in progress are abandoned: their temporary files go. */
	for (i = 0; i < hw->up.cap; i++)
		if (hw->up.u[i].used)
			hf_upload_discard(&hw->up.u[i]);
	upload_table_fini(&hw->up);
	fcache_free(hw->fc);
	free(hw);
}

const struct handler_ops h_file_ops = {
	.name = "static",
	.worker_init = hf_worker_init,
	.worker_fini = hf_worker_fini,
	.start = hf_start,
	.sweep = hf_sweep,
};
