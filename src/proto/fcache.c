/*
 * fcache.c - direct-mapped small file cache.  See fcache.h.
 */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "proto/fcache.h"

struct fcache {
	unsigned		 mask;
	struct fcache_entry	*slots;
};

/* FNV-1a: short keys, good enough spread for a direct-mapped table. */
static size_t
key_hash(const char *k, size_t n)
{
	return (size_t)hash_fold(fnv1a(FNV1A_INIT, k, n));
}

struct fcache *
fcache_new(unsigned nslots)
{
	struct fcache	*c;
	unsigned	 n = 1;

	while (n < nslots && n < (1u << 20))
		n <<= 1;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	/* calloc: pages are only touched when an entry is first filled. */
	if ((c->slots = calloc(n, sizeof(*c->slots))) == NULL) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	return c;
}

void
fcache_free(struct fcache *c)
{
	if (c == NULL)
		return;
	free(c->slots);
	free(c);
}

void
fcache_clear(struct fcache *c)
{
	unsigned	 i;

	for (i = 0; i <= c->mask; i++)
		c->slots[i].used = false;
}

struct fcache_entry *
fcache_get(struct fcache *c, const char *key, size_t keylen, uint64_t gen,
    uint64_t now_ns, bool *fresh)
{
	struct fcache_entry	*e;

	if (keylen > FCACHE_KEY_MAX)
		return NULL;
	e = &c->slots[key_hash(key, keylen) & c->mask];
	if (!e->used || e->keylen != keylen ||
	    memcmp(e->key, key, keylen) != 0)
		return NULL;
	*fresh = e->gen == gen && now_ns - e->checked_ns < FCACHE_RECHECK_NS;
	return e;
}

void
fcache_touch(struct fcache_entry *e, uint64_t gen, uint64_t now_ns)
{
	e->gen = gen;
	e->checked_ns = now_ns;
}

bool
fcache_same_file(const struct fcache_entry *e, const struct stat *st)
{
	return e->dev == st->st_dev && e->ino == st->st_ino &&
	    e->size == st->st_size &&
	    e->mtime.tv_sec == st->st_mtim.tv_sec &&
	    e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

struct fcache_entry *
fcache_slot(struct fcache *c, const char *key, size_t keylen)
{
	struct fcache_entry	*e;

	if (keylen > FCACHE_KEY_MAX)
		return NULL;
	e = &c->slots[key_hash(key, keylen) & c->mask];
	e->used = false;
	memcpy(e->key, key, keylen);
	e->keylen = (uint16_t)keylen;
	e->len = 0;
	return e;
}

void
fcache_set_stat(struct fcache_entry *e, const struct stat *st, uint64_t gen,
    uint64_t now_ns)
{
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->size = st->st_size;
	e->mtime = st->st_mtim;
	e->gen = gen;
	e->checked_ns = now_ns;
	e->used = true;
}

void
fcache_drop(struct fcache_entry *e)
{
	e->used = false;
}
