/* hash.h - FNV-1a, the one hash of the tree. */
#ifndef COAPD_HASH_H
#define COAPD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_INIT	0xcbf29ce484222325ULL

/*
 * 64-bit FNV-1a of p[0..n), continuing from h (FNV1A_INIT to start, or a
 * seed). Tables keyed by attacker-chosen bytes seed h per process.
 */
static inline uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t	*b = p;
	size_t		 i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Fold a 64-bit hash so that its low bits depend on all of it. */
static inline uint64_t
hash_fold(uint64_t h)
{
	return h ^ (h >> 29);
}

#endif /* COAPD_HASH_H */
