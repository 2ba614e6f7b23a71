/*
 * upload.c - Block1 upload bookkeeping (RFC 7959 §2.5, RFC 9175).  See
 * upload.h.  The table is small (tens of slots per worker: every transfer
 * holds two descriptors), so a linear scan is the simplest correct index.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/net.h"
#include "proto/upload.h"

int
upload_table_init(struct upload_table *t, unsigned cap)
{
	memset(t, 0, sizeof(*t));
	if (cap == 0)
		return 0;
	if ((t->u = calloc(cap, sizeof(*t->u))) == NULL)
		return -ENOMEM;
	t->cap = cap;
	return 0;
}

void
upload_table_fini(struct upload_table *t)
{
	free(t->u);
	memset(t, 0, sizeof(*t));
}

static bool
upload_key_eq(const struct upload *u, const struct upload_key *k)
{
	/*
	 * RFC 9175 §3.3: absent and empty Request-Tag differ.  The same
	 * uploader is net_addr_same()'s: the IPv6 scope id counts.
	 */
	return u->used && u->has_tag == k->has_tag &&
	    u->taglen == k->taglen &&
	    (k->taglen == 0 || memcmp(u->tag, k->tag, k->taglen) == 0) &&
	    u->path_len == k->path_len &&
	    memcmp(u->path, k->path, k->path_len) == 0 &&
	    u->scope == k->scope &&
	    net_addr_same((const struct sockaddr *)&u->peer, u->peerlen,
	    k->peer, k->peerlen);
}

struct upload *
upload_find(struct upload_table *t, const struct upload_key *k)
{
	unsigned	 i;

	if (t->n == 0)
		return NULL;
	for (i = 0; i < t->cap; i++)
		if (upload_key_eq(&t->u[i], k))
			return &t->u[i];
	return NULL;
}

struct upload *
upload_alloc(struct upload_table *t, const struct upload_key *k,
    uint64_t limit, uint64_t now_ns)
{
	struct upload	*u;
	unsigned	 i;

	if (t->n >= t->cap || k->path_len >= UPLOAD_PATH_MAX ||
	    k->taglen > UPLOAD_TAG_MAX ||
	    k->peerlen > (socklen_t)sizeof(u->peer))
		return NULL;
	for (i = 0; i < t->cap && t->u[i].used; i++)
		;
	u = &t->u[i];
	memset(u, 0, sizeof(*u));
	u->used = true;
	memcpy(&u->peer, k->peer, k->peerlen);
	u->scope = k->scope;
	u->peerlen = k->peerlen;
	if (k->taglen > 0)
		memcpy(u->tag, k->tag, k->taglen);
	u->taglen = k->taglen;
	u->has_tag = k->has_tag;
	memcpy(u->path, k->path, k->path_len);
	u->path[k->path_len] = '\0';
	u->path_len = k->path_len;
	u->limit = limit;
	u->last_ns = now_ns;
	u->fd = -1;
	u->dirfd = -1;
	t->n++;
	return u;
}

void
upload_release(struct upload_table *t, struct upload *u)
{
	if (u == NULL || !u->used)
		return;
	u->used = false;
	t->n--;
}

enum upload_verdict
upload_check(const struct upload *u, uint64_t limit, uint64_t off,
    size_t len, bool more, size_t blksz)
{
	uint64_t	 have = u != NULL ? u->received : 0;

	if (u != NULL)
		limit = u->limit;
	if (u != NULL && more && u->received > 0 && off == u->last_off &&
	    len == u->last_len && off + len == have)
		return UPLOAD_REPEAT;
	/*
	 * RFC 7959 §2.5: blocks arrive in order; a block that does not
	 * start where the previous one ended (a gap, or a lost first block)
	 * gets 4.08.  The offset, not NUM, is compared: the server may ask
	 * for a smaller size in its 2.31, and NUM is then renumbered.
	 */
	if (off != have)
		return UPLOAD_INCOMPLETE;
	/* RFC 7959 §2.3: with M set the payload is exactly one block. */
	if (more && len != blksz)
		return UPLOAD_BAD_SIZE;
	if (len > blksz)
		return UPLOAD_BAD_SIZE;
	/* RFC 7959 §2.9.3: 4.13 as soon as the body exceeds the limit. */
	if (off + len > limit)
		return UPLOAD_TOO_LARGE;
	return UPLOAD_OK;
}

void
upload_advance(struct upload *u, size_t len, uint64_t now_ns)
{
	u->last_off = u->received;
	u->last_len = len;
	u->received += len;
	u->last_ns = now_ns;
}

static uint64_t
upload_idle_ns(const struct upload *u, uint64_t now_ns)
{
	return now_ns >= u->last_ns ? now_ns - u->last_ns : 0;
}

struct upload *
upload_oldest_idle(struct upload_table *t, uint64_t now_ns,
    uint64_t min_idle_ns)
{
	struct upload	*best = NULL;
	unsigned	 i;

	for (i = 0; t->n > 0 && i < t->cap; i++) {
		if (!t->u[i].used || t->u[i].committing ||
		    upload_idle_ns(&t->u[i], now_ns) < min_idle_ns)
			continue;
		if (best == NULL || t->u[i].last_ns < best->last_ns)
			best = &t->u[i];
	}
	return best;
}

uint64_t
upload_idle_limit(const struct upload_table *t, uint64_t idle_ns,
    uint64_t busy_idle_ns)
{
	if (t->cap > 0 && t->n >= t->cap - t->cap / 4 && busy_idle_ns < idle_ns)
		return busy_idle_ns;
	return idle_ns;
}

struct upload *
upload_next_expired(struct upload_table *t, uint64_t now_ns,
    uint64_t timeout_ns, unsigned *cursor)
{
	struct upload	*u;

	for (; t->n > 0 && *cursor < t->cap; (*cursor)++) {
		u = &t->u[*cursor];
		if (u->used && !u->committing && now_ns >= u->last_ns &&
		    now_ns - u->last_ns >= timeout_ns) {
			(*cursor)++;
			return u;
		}
	}
	return NULL;
}
