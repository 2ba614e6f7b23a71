/*
 * block.c - Block-wise transfer option codec (RFC 7959 §2.2).
 */
#include <errno.h>

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
	return block2_respond_to(r, &a, data, total, max_szx);
}

int
block2_respond_to(struct coap_resp *r, const struct block_ask *a,
    const uint8_t *data, size_t total, uint8_t max_szx)
{
	uint64_t		 off = 0;
	size_t			 len;
	uint8_t			 szx = max_szx;
	bool			 asked, more;
	int			 rc, cap;

	if ((cap = block_szx_for(r->payload_cap)) < 0)
		return -ENOSPC;
	if (szx > cap)
		szx = (uint8_t)cap;
	if (a->rc == -EBADMSG || a->rc == -EINVAL) {
		r->code = a->rc == -EBADMSG ? COAP_BAD_OPTION :
		    COAP_BAD_REQUEST;
		return 0;
	}
	asked = a->rc == 0;
	if (asked) {
		off = (uint64_t)a->b.num << (a->b.szx + 4);
		if (a->b.szx < szx)
			szx = a->b.szx;
		/* A block past the end does not exist; block 0 always does. */
		if (off > 0 && off >= total) {
			r->code = COAP_BAD_REQUEST;
			return 0;
		}
	}
	len = block_size(szx);
	if (off + len > total)
		len = (size_t)(total - off);
	more = off + len < total;
	if (r->code == 0)
		r->code = COAP_CONTENT;
	if (coap_resp_payload(r, data + off, len) != 0)
		return -ENOSPC;
	if (asked || more) {
		rc = coap_resp_opt_uint(r, COAP_OPT_BLOCK2, block_opt_encode(
		    (uint32_t)(off >> (szx + 4)), more, szx));
		if (rc != 0)
			return rc;
	}
	if (((asked || more) && off == 0) || a->size2)
		return coap_resp_opt_uint(r, COAP_OPT_SIZE2, (uint32_t)total);
	return 0;
}
