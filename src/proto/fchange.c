/*
 * fchange.c - batches of file changes crossing from the main thread to the
 * workers.  See fchange.h.
 */
#include <stdlib.h>

#include "proto/fchange.h"

struct fchange *
fchange_new(size_t cap)
{
	struct fchange	*c;

	if ((c = calloc(1, sizeof(*c) + cap * sizeof(c->hash[0]))) == NULL)
		return NULL;
	atomic_init(&c->refs, 1);
	return c;
}

struct fchange *
fchange_ref(struct fchange *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void
fchange_unref(struct fchange *c)
{
	if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1,
	    memory_order_acq_rel) == 1)
		free(c);
}

bool
fchange_has(const struct fchange *c, uint64_t h)
{
	size_t	 i;

	if (c->all)
		return true;
	for (i = 0; i < c->n; i++)
		if (c->hash[i] == h)
			return true;
	return false;
}
