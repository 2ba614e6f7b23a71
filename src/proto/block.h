/*
 * block.h - Block-wise transfer options (RFC 7959 §2.2), pure.
 *
 * A Block1/Block2 option value is an unsigned integer of 0..3 bytes that
 * packs NUM (20 bits), M (1 bit) and SZX (3 bits): the block is
 * 2^(SZX + 4) bytes long and starts at NUM * 2^(SZX + 4).
 */
#ifndef COAPD_BLOCK_H
#define COAPD_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct coap_msg;

#define BLOCK_NUM_MAX	0xfffffu	/* 20-bit block number */
#define BLOCK_SZX_MAX	6		/* 1024 bytes; 7 is reserved */

struct block_opt {
	uint32_t	 num;		/* block number, 0..BLOCK_NUM_MAX */
	bool		 more;		/* M: more blocks follow */
	uint8_t		 szx;		/* size exponent, 0..BLOCK_SZX_MAX */
};

/* Block size in bytes for a size exponent (16 << szx). */
static inline size_t
block_size(uint8_t szx)
{
	return (size_t)16 << szx;
}

/*
 * Split an option value into b.  Returns 0, or -EINVAL when the value does
 * not fit in 3 bytes or SZX is the reserved 7 (RFC 7959 §2.2: a request
 * carrying it gets 4.00).  b is filled even on -EINVAL for SZX 7.
 */
int		 block_opt_decode(uint32_t value, struct block_opt *b);

/*
 * Pack num, more and szx into an option value.  num must be at most
 * BLOCK_NUM_MAX and szx at most BLOCK_SZX_MAX (excess bits are dropped).
 */
uint32_t	 block_opt_encode(uint32_t num, bool more, uint8_t szx);

/*
 * The largest size exponent whose block fits in bytes, capped at
 * BLOCK_SZX_MAX.  Returns -ENOSPC when bytes < 16.
 */
int		 block_szx_for(size_t bytes);

/*
 * Read the Block option numbered optnum (COAP_OPT_BLOCK1 or COAP_OPT_BLOCK2)
 * from m into b.  Returns 0 when present and valid, -ENOENT when absent,
 * -EBADMSG when its value is longer than 3 bytes or it is repeated (RFC 7252
 * §5.4.3, §5.4.5: treated as an unrecognized critical option, 4.02), or
 * -EINVAL when SZX is 7 (4.00).
 */
int		 block_opt_get(const struct coap_msg *m, uint16_t optnum,
		    struct block_opt *b);

struct coap_resp;

/* The block of a representation a response carries (RFC 7959 §2.4). */
struct block2_plan {
	bool		 asked;		/* the request carried Block2 */
	uint8_t		 szx;		/* size exponent of the answer */
	uint64_t	 off;		/* offset of the block's first byte */
	size_t		 len;		/* block size: most bytes it holds */
};

/*
 * Choose the block answering a request whose Block2 is asked (NULL when
 * it carried none) on a server whose largest block is max_szx (capped at
 * BLOCK_SZX_MAX).  Without Block2 the answer starts at 0 with max_szx.
 * With one it uses the size asked for or max_szx if smaller; a smaller
 * size is renumbered so the block still starts at the offset the client
 * asked for (RFC 7959 §2.4, late negotiation).  Pure; fills p.
 */
void		 block2_plan(struct block2_plan *p,
		    const struct block_opt *asked, uint8_t max_szx);

/*
 * block2_plan() where max_szx is the server's preferred size and cap_szx
 * the largest block the response can hold: far into a large
 * representation a small preferred size would need a NUM past 20 bits, so
 * the size grows back towards the one asked for (never past cap_szx) until
 * NUM fits.  A cap_szx below max_szx counts as max_szx.
 */
void		 block2_plan_capped(struct block2_plan *p,
		    const struct block_opt *asked, uint8_t max_szx,
		    uint8_t cap_szx);

/*
 * Does p's block start at or past the end of a representation of total
 * bytes?  Block 0 always exists, also of an empty one.  Such a request
 * gets 4.00 (RFC 7959 names no code; libcoap and aiocoap use 4.00).
 */
bool		 block2_past_end(const struct block2_plan *p, uint64_t total);

/* The bytes of p's block that lie within total (0 when past the end). */
size_t		 block2_len(const struct block2_plan *p, uint64_t total);

/*
 * Add the Block2 and Size2 options of a response r that carries got bytes
 * from p->off of a representation of total bytes.  Block2 when the
 * transfer is block-wise (the request asked, or more bytes follow), with M
 * set when they do; Size2 with block 0 of a block-wise transfer or when
 * size2_asked (RFC 7959 §4), if total fits its 32 bits.  Returns 0, -EFBIG
 * when the block number exceeds BLOCK_NUM_MAX (nothing added), or -ENOSPC.
 */
int		 block2_opts(struct coap_resp *r, const struct block2_plan *p,
		    uint64_t total, size_t got, bool size2_asked);

/*
 * Answer a GET for a representation held whole in memory (data, total
 * bytes) with the block the request m asks for: payload, Block2 when the
 * transfer is block-wise, Size2 with block 0 or when asked (RFC 7959 §4).
 * max_szx caps the block size; a smaller size asked for is honoured with
 * the block renumbered to the same offset (§2.4).  Sets r->code to 2.05,
 * or 4.00 (block past the end, SZX 7) or 4.02 (malformed Block2).
 * Returns 0, -ENOSPC, or -EFBIG (a block number past 20 bits).
 */
int		 block2_respond(struct coap_resp *r, const struct coap_msg *m,
		    const uint8_t *data, size_t total, uint8_t max_szx);

/* What a request asks of Block2, kept for an answer made later. */
struct block_ask {
	int		 rc;		/* block_opt_get()'s result */
	struct block_opt b;
	bool		 size2;		/* Size2 present: tell the size */
};

void		 block2_ask(const struct coap_msg *m, struct block_ask *a);

/*
 * block2_respond() for a request summed up in a.  Keeps a code already
 * set in r (a hook's Status:), else 2.05.
 */
int		 block2_respond_to(struct coap_resp *r,
		    const struct block_ask *a, const uint8_t *data,
		    size_t total, uint8_t max_szx);

#endif /* COAPD_BLOCK_H */
