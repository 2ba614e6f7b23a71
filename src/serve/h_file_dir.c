/*
 * h_file_dir.c - GET of a directory on a static route: its entries as a
 * link-format document (RFC 6690), sliced with Block2 (RFC 7959 §2.4).
 * Dotfiles, special files and links out of the tree are not listed.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/hash.h"
#include "adapt/cfg.h"
#include "proto/coap_msg.h"
#include "proto/linkfmt.h"
#include "serve/h_file_int.h"

/* One link-format entry: a path percent-encoded in full, plus ";ct=N". */
#define HF_ENTRY_MAX	(3 * HF_PATH_MAX + 32)
#define HF_DENTS_BUF	8192

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

int
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
	struct block2_plan p;
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
	rc = hf_content(req->route->max_age, q, &p, COAP_CT_LINK_FORMAT, etag,
	    s.pos, s.got, resp);
	return rc < 0 ? rc : H_DONE;
}
