/*
 * siphash.h - SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012): a keyed 64-bit MAC for short inputs.  Used
 * where a value a peer hands back must be one we made (Echo option,
 * amp.c), written from the paper's description.  SIPHASH_ROUND is also
 * the round of exchange.c's SipHash-1-3 over its fixed-size keys.
 */
#ifndef COAPD_SIPHASH_H
#define COAPD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN	16

static inline uint64_t
siphash_rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t
siphash_le64(const uint8_t *p)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define SIPHASH_ROUND(v0, v1, v2, v3) do {				\
	v0 += v1; v1 = siphash_rotl(v1, 13); v1 ^= v0;			\
	v0 = siphash_rotl(v0, 32);					\
	v2 += v3; v3 = siphash_rotl(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = siphash_rotl(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = siphash_rotl(v1, 17); v1 ^= v2;			\
	v2 = siphash_rotl(v2, 32);					\
} while (0)

/* SipHash-2-4 of p[0..n) under key k. */
static inline uint64_t
siphash24(const uint8_t k[SIPHASH_KEY_LEN], const void *p, size_t n)
{
	const uint8_t	*b = p;
	uint64_t	 k0 = siphash_le64(k), k1 = siphash_le64(k + 8);
	uint64_t	 v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t	 v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t	 v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t	 v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t	 m;
	size_t		 i, left = n & 7;

	for (i = 0; i + 8 <= n; i += 8) {
		m = siphash_le64(b + i);
		v3 ^= m;
		SIPHASH_ROUND(v0, v1, v2, v3);
		SIPHASH_ROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	/* the last block: the remaining bytes, length in the top byte */
	m = (uint64_t)(n & 0xff) << 56;
	while (left-- > 0)
		m |= (uint64_t)b[i + left] << (8 * left);
	v3 ^= m;
	SIPHASH_ROUND(v0, v1, v2, v3);
	SIPHASH_ROUND(v0, v1, v2, v3);
	v0 ^= m;
	v2 ^= 0xff;
	SIPHASH_ROUND(v0, v1, v2, v3);
	SIPHASH_ROUND(v0, v1, v2, v3);
	SIPHASH_ROUND(v0, v1, v2, v3);
	SIPHASH_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif /* COAPD_SIPHASH_H */
