/*
 * block.c - Block-wise transfer (RFC 7959): the option codec (§2.2) and
 * the one planner of Block2 answers (§2.4), used by every GET that slices.
 */
#include <errno.h>
#include <stdint.h>

#include "proto/block.h"
#include "proto/coap_msg.h"

int
block_opt_decode(uint32_t value, struct block_opt *b)
{
	/* RFC 7959 §2.2: the option is 0..3 bytes long. */
	if (value > 0xffffffu)
		return -EINVAL;
	b->num = value >> 4;
	b->more = (value & 0x8) != 0;
	b->szx = value & 0x7;
	/* RFC 7959 §2.2: SZX 7 is reserved and gets 4.00 in a request. */
	if (b->szx == 7)
		return -EINVAL;
	return 0;
}

uint32_t
block_opt_encode(uint32_t num, bool more, uint8_t szx)
{
	return (num & BLOCK_NUM_MAX) << 4 | (more ? 0x8u : 0) |
	    (szx > BLOCK_SZX_MAX ? BLOCK_SZX_MAX : szx);
}

int
block_szx_for(size_t bytes)
{
	int szx;

	if (bytes < 16)
		return -ENOSPC;
	for (szx = BLOCK_SZX_MAX; block_size((uint8_t)szx) > bytes; szx--)
		;
	return szx;
}

int
block_opt_get(const struct coap_msg *m, uint16_t optnum, struct block_opt *b)
{
	const struct coap_opt *o;
	uint32_t v;

	o = coap_msg_opt(m, optnum);
	if (o == NULL)
		return -ENOENT;
	/*
	 * RFC 7252 §5.4.5: a repeated non-repeatable option, and §5.4.3: a
	 * value of a length outside 0..3, are handled like an unrecognized
	 * option; Block1 and Block2 are critical, so that means 4.02.
	 */
	if (o->len > 3 || coap_msg_opt_count(m, optnum) > 1)
		return -EBADMSG;
	if (coap_opt_uint(o, &v) < 0)
		return -EBADMSG;
	return block_opt_decode(v, b);
}

void
block2_plan(struct block2_plan *p, const struct block_opt *asked,
    uint8_t max_szx)
{
	block2_plan_capped(p, asked, max_szx, max_szx);
}

void
block2_plan_capped(struct block2_plan *p, const struct block_opt *asked,
    uint8_t max_szx, uint8_t cap_szx)
{
	if (max_szx > BLOCK_SZX_MAX)
		max_szx = BLOCK_SZX_MAX;
	if (cap_szx < max_szx)
		cap_szx = max_szx;
	p->asked = asked != NULL;
	p->szx = max_szx;
	p->off = 0;
	if (asked != NULL) {
		p->off = (uint64_t)asked->num << (asked->szx + 4);
		/* RFC 7959 §2.4: the size asked for, or a smaller one. */
		if (asked->szx < p->szx)
			p->szx = asked->szx;
		/*
		 * ...but one whose 20-bit NUM can address the offset: far
		 * into a large file a small server size would overflow it.
		 * The size asked for always can (the client's NUM fits), and
		 * the offset is a multiple of every size up to it.
		 */
		while (p->szx < asked->szx && p->szx < cap_szx &&
		    p->off >> (p->szx + 4) > BLOCK_NUM_MAX)
			p->szx++;
	}
	p->len = block_size(p->szx);
}

bool
block2_past_end(const struct block2_plan *p, uint64_t total)
{
	return p->off > 0 && p->off >= total;
}

size_t
block2_len(const struct block2_plan *p, uint64_t total)
{
	if (p->off >= total)
		return 0;
	return total - p->off < p->len ? (size_t)(total - p->off) : p->len;
}

int
block2_opts(struct coap_resp *r, const struct block2_plan *p, uint64_t total,
    size_t got, bool size2_asked)
{
	uint64_t num = p->off >> (p->szx + 4);
	bool blockwise, more;
	int rc = 0;

	more = p->off + got < total;
	blockwise = p->asked || more;
	/* RFC 7959 §2.2: NUM has 20 bits; beyond that nothing addresses it. */
	if (blockwise && num > BLOCK_NUM_MAX)
		return -EFBIG;
	if (blockwise)
		rc |= coap_resp_opt_uint(r, COAP_OPT_BLOCK2,
		    block_opt_encode((uint32_t)num, more, p->szx));
	/*
	 * RFC 7959 §4: Size2 tells the client the whole size up front; sent
	 * with the first block, and whenever the request asked for it.
	 */
	if (((blockwise && num == 0) || size2_asked) && total <= UINT32_MAX)
		rc |= coap_resp_opt_uint(r, COAP_OPT_SIZE2, (uint32_t)total);
	return rc != 0 ? -ENOSPC : 0;
}

void
block2_ask(const struct coap_msg *m, struct block_ask *a)
{
	a->rc = block_opt_get(m, COAP_OPT_BLOCK2, &a->b);
	a->size2 = coap_msg_opt(m, COAP_OPT_SIZE2) != NULL;
}

int
block2_respond(struct coap_resp *r, const struct coap_msg *m,
    const uint8_t *data, size_t total, uint8_t max_szx)
{
	struct block_ask	 a;

	block2_ask(m, &a);
	r->code = 0;
	return block2_respond_to(r, &a, data, total, max_szx);
}

int
block2_respond_to(struct coap_resp *r, const struct block_ask *a,
    const uint8_t *data, size_t total, uint8_t max_szx)
{
	struct block2_plan	 p;
	size_t			 len;
	int			 cap;

	if ((cap = block_szx_for(r->payload_cap)) < 0)
		return -ENOSPC;
	if (max_szx > cap)
		max_szx = (uint8_t)cap;
	if (a->rc == -EBADMSG || a->rc == -EINVAL) {
		r->code = a->rc == -EBADMSG ? COAP_BAD_OPTION :
		    COAP_BAD_REQUEST;
		return 0;
	}
	block2_plan_capped(&p, a->rc == 0 ? &a->b : NULL, max_szx,
	    (uint8_t)cap);
	if (block2_past_end(&p, total)) {
		r->code = COAP_BAD_REQUEST;
		return 0;
	}
	len = block2_len(&p, total);
	if (r->code == 0)
		r->code = COAP_CONTENT;
	if (coap_resp_payload(r, data + p.off, len) != 0)
		return -ENOSPC;
	return block2_opts(r, &p, total, len, a->size2);
}
