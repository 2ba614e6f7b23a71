/*
 * coap_msg.c - CoAP message codec (RFC 7252 §3).
 *
 * Everything here runs once or more per request on a worker, so it does no
 * allocation, no I/O and one pass over the input.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "proto/coap_msg.h"

/* RFC 7252 §3.1: nibble 13 adds one byte (+13), 14 adds two (+269). */
#define OPT_EXT1		13
#define OPT_EXT2		14
#define OPT_EXT1_BASE		13
#define OPT_EXT2_BASE		269
#define OPT_NIBBLE_RESERVED	15
#define OPT_EXT_MAX		(0xffffu + OPT_EXT2_BASE)
#define PAYLOAD_MARKER		0xff

/*
 * The parse steps below return COAP_PERR_NONE or the reason the datagram
 * is refused; coap_msg_parse() turns a reason into -EBADMSG.  Each step
 * reads from *pp up to end and leaves *pp after what it consumed.
 */

/*
 * RFC 7252 §3: the fixed header.  type, code and mid are filled before
 * any check, so that a malformed CON still gets its RST.
 */
static enum coap_perr
parse_header(struct coap_msg *m, const uint8_t *buf, size_t len)
{
	uint8_t	 tkl;

	if (len < COAP_HDR_LEN) {
		m->type = 0;
		m->code = 0;
		m->mid = 0;
		return COAP_PERR_SHORT;
	}
	m->type = (buf[0] >> 4) & 0x03;
	m->code = buf[1];
	m->mid = (uint16_t)(buf[2] << 8 | buf[3]);

	/* RFC 7252 §3: unknown versions MUST be silently ignored. */
	if (buf[0] >> 6 != COAP_VERSION)
		return COAP_PERR_VERSION;
	/* RFC 7252 §3: TKL 9..15 MUST be processed as a format error. */
	tkl = buf[0] & 0x0f;
	if (tkl > COAP_MAX_TOKEN)
		return COAP_PERR_TKL;
	/*
	 * RFC 7252 §4.1: an Empty message has TKL 0 and no bytes after the
	 * Message ID; anything else MUST be processed as a format error.
	 */
	if (m->code == COAP_EMPTY && (tkl != 0 || len > COAP_HDR_LEN))
		return COAP_PERR_EMPTY;
	return COAP_PERR_NONE;
}

/* The token, tkl bytes (already checked by parse_header()). */
static enum coap_perr
parse_token(struct coap_msg *m, uint8_t tkl, const uint8_t **pp,
    const uint8_t *end)
{
	if ((size_t)(end - *pp) < tkl)
		return COAP_PERR_TRUNC_TOKEN;
	memcpy(m->token, *pp, tkl);
	m->tkl = tkl;
	*pp += tkl;
	return COAP_PERR_NONE;
}

/* RFC 7252 §3.1: nibble *v (delta or length) with its extended bytes. */
static enum coap_perr
parse_opt_ext(uint32_t *v, const uint8_t **pp, const uint8_t *end)
{
	const uint8_t	*p = *pp;

	if (*v == OPT_EXT1) {
		if (p == end)
			return COAP_PERR_OPT_TRUNC;
		*v = (uint32_t)*p++ + OPT_EXT1_BASE;
	} else if (*v == OPT_EXT2) {
		if (end - p < 2)
			return COAP_PERR_OPT_TRUNC;
		*v = ((uint32_t)p[0] << 8 | p[1]) + OPT_EXT2_BASE;
		p += 2;
	}
	*pp = p;
	return COAP_PERR_NONE;
}

/*
 * One option at *pp (not the payload marker); *num is the number of the
 * previous one and becomes this one's.
 */
static enum coap_perr
parse_opt(struct coap_msg *m, uint32_t *num, const uint8_t **pp,
    const uint8_t *end)
{
	const uint8_t	*p = *pp;
	struct coap_opt	*o;
	uint32_t	 delta, olen;
	enum coap_perr	 perr;

	delta = *p >> 4;
	olen = *p++ & 0x0f;
	/*
	 * RFC 7252 §3.1: delta 15 outside the marker, and length 15, MUST
	 * be processed as a format error.
	 */
	if (delta == OPT_NIBBLE_RESERVED || olen == OPT_NIBBLE_RESERVED)
		return COAP_PERR_OPT_NIBBLE;
	if ((perr = parse_opt_ext(&delta, &p, end)) != COAP_PERR_NONE ||
	    (perr = parse_opt_ext(&olen, &p, end)) != COAP_PERR_NONE)
		return perr;
	*num += delta;
	if (*num > UINT16_MAX)
		return COAP_PERR_OPT_NUM;
	/*
	 * A value above 65535 bytes cannot arrive in one UDP datagram or
	 * DTLS record, so it is counted as running past the end; that also
	 * keeps it within coap_opt.len.
	 */
	if (olen > (size_t)(end - p) || olen > UINT16_MAX)
		return COAP_PERR_OPT_TRUNC;
	if (m->nopts == COAP_MAX_OPTIONS)
		return COAP_PERR_OPT_MANY;
	o = &m->opts[m->nopts++];
	o->num = (uint16_t)*num;
	o->len = (uint16_t)olen;
	o->val = p;
	*pp = p + olen;
	return COAP_PERR_NONE;
}

/* The options, up to the end or the payload marker (left at *pp). */
static enum coap_perr
parse_options(struct coap_msg *m, const uint8_t **pp, const uint8_t *end)
{
	uint32_t	 num = 0;
	enum coap_perr	 perr;

	while (*pp < end && **pp != PAYLOAD_MARKER)
		if ((perr = parse_opt(m, &num, pp, end)) != COAP_PERR_NONE)
			return perr;
	return COAP_PERR_NONE;
}

/* The payload marker and payload at p, if any. */
static enum coap_perr
parse_payload(struct coap_msg *m, const uint8_t *p, const uint8_t *end)
{
	if (p == end)
		return COAP_PERR_NONE;
	p++;				/* PAYLOAD_MARKER */
	/*
	 * RFC 7252 §3: a marker followed by a zero-length payload MUST be
	 * processed as a format error.
	 */
	if (p == end)
		return COAP_PERR_MARKER;
	m->payload = p;
	m->payload_len = (size_t)(end - p);
	return COAP_PERR_NONE;
}

int
coap_msg_parse(struct coap_msg *m, const uint8_t *buf, size_t len)
{
	const uint8_t	*p, *end;
	enum coap_perr	 perr;

	m->tkl = 0;
	m->nopts = 0;
	m->payload = NULL;
	m->payload_len = 0;
	m->perr = COAP_PERR_NONE;

	if ((perr = parse_header(m, buf, len)) != COAP_PERR_NONE)
		goto fail;
	if (m->code == COAP_EMPTY)
		return 0;
	p = buf + COAP_HDR_LEN;
	end = buf + len;
	if ((perr = parse_token(m, buf[0] & 0x0f, &p, end)) != COAP_PERR_NONE ||
	    (perr = parse_options(m, &p, end)) != COAP_PERR_NONE ||
	    (perr = parse_payload(m, p, end)) != COAP_PERR_NONE)
		goto fail;
	return 0;

fail:
	m->perr = (uint8_t)perr;
	m->nopts = 0;
	m->payload = NULL;
	m->payload_len = 0;
	return -EBADMSG;
}

const char *
coap_perr_str(enum coap_perr e)
{
	switch (e) {
	case COAP_PERR_NONE:
		return "no error";
	case COAP_PERR_SHORT:
		return "shorter than the header";
	case COAP_PERR_VERSION:
		return "unknown version";
	case COAP_PERR_TKL:
		return "reserved token length";
	case COAP_PERR_TRUNC_TOKEN:
		return "truncated token";
	case COAP_PERR_OPT_NIBBLE:
		return "reserved option nibble";
	case COAP_PERR_OPT_TRUNC:
		return "truncated option";
	case COAP_PERR_OPT_NUM:
		return "option number above 65535";
	case COAP_PERR_OPT_MANY:
		return "too many options";
	case COAP_PERR_MARKER:
		return "payload marker without payload";
	case COAP_PERR_EMPTY:
		return "empty message with content";
	}
	return "unknown parse error";
}

/* Options are sorted, so both lookups stop at the first larger number. */
const struct coap_opt *
coap_msg_opt(const struct coap_msg *m, uint16_t num)
{
	unsigned	 i;

	for (i = 0; i < m->nopts; i++) {
		if (m->opts[i].num == num)
			return &m->opts[i];
		if (m->opts[i].num > num)
			break;
	}
	return NULL;
}

unsigned
coap_msg_opt_count(const struct coap_msg *m, uint16_t num)
{
	unsigned	 i, n = 0;

	for (i = 0; i < m->nopts && m->opts[i].num <= num; i++)
		if (m->opts[i].num == num)
			n++;
	return n;
}

int
coap_opt_uint(const struct coap_opt *o, uint32_t *v)
{
	uint32_t	 x = 0;
	unsigned	 i;

	if (o->len > 4)
		return -EINVAL;
	/* RFC 7252 §3.2: leading zero bytes MUST be accepted. */
	for (i = 0; i < o->len; i++)
		x = x << 8 | o->val[i];
	*v = x;
	return 0;
}

/*
 * Value length range and repeatability of the options coapd knows
 * (RFC 7252 §5.10 table 4, RFC 7641 §2, RFC 7959 §2.1 and §4,
 * RFC 8768 §3, RFC 7967 §2, RFC 9175 §3.2).  A table indexed by number
 * keeps the per-request check to one load per option.
 */
struct opt_rule {
	uint16_t	 max;
	uint8_t		 min;
	uint8_t		 flags;
};

#define OPT_KNOWN	0x01
#define OPT_REPEAT	0x02
#define OPT_RULES	61	/* numbers below this use rules[] */

#define RULE(num, lo, hi, fl) \
	[num] = { .max = (hi), .min = (lo), .flags = OPT_KNOWN | (fl) }

static const struct opt_rule rules[OPT_RULES] = {
	RULE(COAP_OPT_IF_MATCH,		0, 8,    OPT_REPEAT),
	RULE(COAP_OPT_URI_HOST,		1, 255,  0),
	RULE(COAP_OPT_ETAG,		1, 8,    OPT_REPEAT),
	RULE(COAP_OPT_IF_NONE_MATCH,	0, 0,    0),
	RULE(COAP_OPT_OBSERVE,		0, 3,    0),
	RULE(COAP_OPT_URI_PORT,		0, 2,    0),
	RULE(COAP_OPT_LOCATION_PATH,	0, 255,  OPT_REPEAT),
	RULE(COAP_OPT_URI_PATH,		0, 255,  OPT_REPEAT),
	RULE(COAP_OPT_CONTENT_FORMAT,	0, 2,    0),
	RULE(COAP_OPT_MAX_AGE,		0, 4,    0),
	RULE(COAP_OPT_URI_QUERY,	0, 255,  OPT_REPEAT),
	RULE(COAP_OPT_HOP_LIMIT,	1, 1,    0),
	RULE(COAP_OPT_ACCEPT,		0, 2,    0),
	RULE(COAP_OPT_LOCATION_QUERY,	0, 255,  OPT_REPEAT),
	RULE(COAP_OPT_BLOCK2,		0, 3,    0),
	RULE(COAP_OPT_BLOCK1,		0, 3,    0),
	RULE(COAP_OPT_SIZE2,		0, 4,    0),
	RULE(COAP_OPT_PROXY_URI,	1, 1034, 0),
	RULE(COAP_OPT_PROXY_SCHEME,	1, 255,  0),
	RULE(COAP_OPT_SIZE1,		0, 4,    0),
};

static const struct opt_rule rule_no_response = {
	.max = 1, .min = 0, .flags = OPT_KNOWN
};
static const struct opt_rule rule_request_tag = {
	.max = 8, .min = 0, .flags = OPT_KNOWN | OPT_REPEAT
};

static inline const struct opt_rule *
opt_rule(uint16_t num)
{
	if (num < OPT_RULES)
		return rules[num].flags & OPT_KNOWN ? &rules[num] : NULL;
	if (num == COAP_OPT_NO_RESPONSE)
		return &rule_no_response;
	if (num == COAP_OPT_REQUEST_TAG)
		return &rule_request_tag;
	return NULL;
}

bool
coap_opt_is_known(uint16_t num)
{
	return opt_rule(num) != NULL;
}

uint16_t
coap_msg_unknown_critical(const struct coap_msg *m)
{
	const struct coap_opt	*o;
	const struct opt_rule	*r;
	unsigned		 i;

	for (i = 0; i < m->nopts; i++) {
		o = &m->opts[i];
		/* RFC 7252 §5.4.1: unknown elective ones are ignored. */
		if (!coap_opt_is_critical(o->num))
			continue;
		if ((r = opt_rule(o->num)) == NULL)
			return o->num;
		/*
		 * RFC 7252 §5.4.3: a length outside the defined range, and
		 * §5.4.5: a second occurrence of a non-repeatable option,
		 * MUST be treated like an unrecognized option.
		 */
		if (o->len < r->min || o->len > r->max)
			return o->num;
		if (!(r->flags & OPT_REPEAT) && i > 0 &&
		    m->opts[i - 1].num == o->num)
			return o->num;
	}
	return 0;
}

unsigned
coap_uint_len(uint32_t v)
{
	if (v == 0)
		return 0;
	if (v <= 0xff)
		return 1;
	if (v <= 0xffff)
		return 2;
	if (v <= 0xffffff)
		return 3;
	return 4;
}

/* RFC 7252 §3.2: shortest big-endian form; returns the length. */
static unsigned
uint_put(uint8_t out[4], uint32_t v)
{
	unsigned	 n, i;

	n = coap_uint_len(v);
	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return n;
}

/*
 * A failed encoder tells finish() why through len: beyond cap means the
 * buffer was too small, within cap means the caller asked for something
 * invalid.  struct coap_enc has no separate field for it.
 */
static void
enc_nospace(struct coap_enc *e)
{
	e->failed = true;
	e->len = e->cap + 1;
}

static void
enc_invalid(struct coap_enc *e)
{
	e->failed = true;
	if (e->len > e->cap)
		e->len = e->cap;
}

void
coap_enc_init(struct coap_enc *e, uint8_t *buf, size_t cap, uint8_t type,
    uint8_t code, uint16_t mid, const uint8_t *token, uint8_t tkl)
{
	e->buf = buf;
	e->cap = cap;
	e->len = 0;
	e->last_opt = 0;
	e->failed = false;

	/* RFC 7252 §3: TKL 9..15 MUST NOT be sent. */
	if (tkl > COAP_MAX_TOKEN || type > COAP_TYPE_RST) {
		enc_invalid(e);
		return;
	}
	if (cap < (size_t)COAP_HDR_LEN + tkl) {
		enc_nospace(e);
		return;
	}
	buf[0] = (uint8_t)(COAP_VERSION << 6 | type << 4 | tkl);
	buf[1] = code;
	buf[2] = (uint8_t)(mid >> 8);
	buf[3] = (uint8_t)mid;
	if (tkl > 0)
		memcpy(buf + COAP_HDR_LEN, token, tkl);
	e->len = COAP_HDR_LEN + tkl;
}

/* Nibble for v, appending its extended bytes at hdr[*n] (RFC 7252 §3.1). */
static inline unsigned
opt_nibble(uint32_t v, uint8_t *hdr, size_t *n)
{
	if (v < OPT_EXT1_BASE)
		return v;
	if (v < OPT_EXT2_BASE) {
		hdr[(*n)++] = (uint8_t)(v - OPT_EXT1_BASE);
		return OPT_EXT1;
	}
	v -= OPT_EXT2_BASE;
	hdr[(*n)++] = (uint8_t)(v >> 8);
	hdr[(*n)++] = (uint8_t)v;
	return OPT_EXT2;
}

void
coap_enc_opt(struct coap_enc *e, uint16_t num, const void *val, size_t len)
{
	uint8_t		 hdr[5];
	size_t		 n = 1;
	unsigned	 dn, ln;

	if (e->failed)
		return;
	/* RFC 7252 §3.1: options MUST appear in order of their numbers. */
	if (num < e->last_opt || len > OPT_EXT_MAX) {
		enc_invalid(e);
		return;
	}
	dn = opt_nibble((uint32_t)num - e->last_opt, hdr, &n);
	ln = opt_nibble((uint32_t)len, hdr, &n);
	hdr[0] = (uint8_t)(dn << 4 | ln);
	if (n + len > e->cap - e->len) {
		enc_nospace(e);
		return;
	}
	memcpy(e->buf + e->len, hdr, n);
	e->len += n;
	if (len > 0) {
		memcpy(e->buf + e->len, val, len);
		e->len += len;
	}
	e->last_opt = num;
}

void
coap_enc_opt_uint(struct coap_enc *e, uint16_t num, uint32_t v)
{
	uint8_t		 b[4];

	coap_enc_opt(e, num, b, uint_put(b, v));
}

void
coap_enc_payload(struct coap_enc *e, const void *p, size_t len)
{
	/* RFC 7252 §3: no marker in front of an empty payload. */
	if (e->failed || len == 0)
		return;
	if (len + 1 > e->cap - e->len) {
		enc_nospace(e);
		return;
	}
	e->buf[e->len++] = PAYLOAD_MARKER;
	memcpy(e->buf + e->len, p, len);
	e->len += len;
}

ssize_t
coap_enc_finish(struct coap_enc *e)
{
	if (!e->failed)
		return (ssize_t)e->len;
	return e->len > e->cap ? -ENOSPC : -EINVAL;
}

void
coap_resp_init(struct coap_resp *r, uint8_t *buf, size_t cap)
{
	r->code = COAP_EMPTY;
	r->nopts = 0;
	r->optstore_len = 0;
	r->payload = buf;
	r->payload_len = 0;
	r->payload_cap = cap;
}

/*
 * optstore holds the values in the same order as opts[], so that
 * coap_resp_encode() can walk it by length alone and never follows the
 * val pointers: a struct copy of a response (whose val pointers still
 * point into the original) encodes correctly.  Handlers mostly add
 * options in ascending order, where nothing moves.
 */
void
coap_resp_reset(struct coap_resp *r, uint8_t code)
{
	r->code = code;
	r->nopts = 0;
	r->optstore_len = 0;
	r->payload_len = 0;
}

int
coap_resp_opt(struct coap_resp *r, uint16_t num, const void *val,
    size_t len)
{
	unsigned	 i, at;
	size_t		 off;

	if (r->nopts >= COAP_RESP_MAX_OPTS ||
	    len > (size_t)COAP_RESP_OPTSTORE - r->optstore_len)
		return -ENOSPC;

	/* After every option numbered <= num: repeated ones keep order. */
	at = r->nopts;
	off = r->optstore_len;
	while (at > 0 && r->opts[at - 1].num > num) {
		at--;
		off -= r->opts[at].len;
	}
	if (at < r->nopts) {
		memmove(r->optstore + off + len, r->optstore + off,
		    r->optstore_len - off);
		memmove(&r->opts[at + 1], &r->opts[at],
		    (r->nopts - at) * sizeof(r->opts[0]));
		for (i = at + 1; i <= r->nopts; i++)
			r->opts[i].val += len;
	}
	if (len > 0)
		memcpy(r->optstore + off, val, len);
	r->opts[at].num = num;
	r->opts[at].len = (uint16_t)len;
	r->opts[at].val = r->optstore + off;
	r->nopts++;
	r->optstore_len = (uint16_t)(r->optstore_len + len);
	return 0;
}

int
coap_resp_opt_uint(struct coap_resp *r, uint16_t num, uint32_t v)
{
	uint8_t		 b[4];

	return coap_resp_opt(r, num, b, uint_put(b, v));
}

int
coap_resp_payload(struct coap_resp *r, const void *p, size_t len)
{
	if (len > r->payload_cap)
		return -ENOSPC;
	/* A handler may have built the payload in place already. */
	if (len > 0 && p != r->payload)
		memmove(r->payload, p, len);
	r->payload_len = len;
	return 0;
}

ssize_t
coap_resp_encode(const struct coap_resp *r, uint8_t *out, size_t cap,
    uint8_t type, uint16_t mid, const uint8_t *token, uint8_t tkl)
{
	struct coap_enc	 e;
	size_t		 off = 0;
	unsigned	 i;

	coap_enc_init(&e, out, cap, type, r->code, mid, token, tkl);
	for (i = 0; i < r->nopts; i++) {
		coap_enc_opt(&e, r->opts[i].num, r->optstore + off,
		    r->opts[i].len);
		off += r->opts[i].len;
	}
	coap_enc_payload(&e, r->payload, r->payload_len);
	return coap_enc_finish(&e);
}

ssize_t
coap_msg_uri_path(const struct coap_msg *m, char *out, size_t cap)
{
	const struct coap_opt	*o;
	size_t			 n = 0, j;
	unsigned		 i;
	uint8_t			 c;
	bool			 toolong = false;

	for (i = 0; i < m->nopts && m->opts[i].num <= COAP_OPT_URI_PATH;
	    i++) {
		o = &m->opts[i];
		if (o->num != COAP_OPT_URI_PATH)
			continue;
		/* RFC 7252 §5.10.1: a segment MUST NOT be "." or "..". */
		if (o->len > 0 && o->len <= 2 && o->val[0] == '.' &&
		    (o->len == 1 || o->val[1] == '.'))
			return -EINVAL;
		/* Keep validating past overflow: a bad segment wins. */
		if (toolong || (size_t)o->len + 2 > cap - n)
			toolong = true;
		else
			out[n++] = '/';
		/* '/' or NUL inside a segment would forge a path on disk. */
		for (j = 0; j < o->len; j++) {
			c = o->val[j];
			if (c == '/' || c == '\0')
				return -EINVAL;
			if (!toolong)
				out[n++] = (char)c;
		}
	}
	if (toolong)
		return -ENAMETOOLONG;
	if (n == 0) {
		if (cap < 2)
			return -ENAMETOOLONG;
		out[n++] = '/';
	}
	out[n] = '\0';
	return (ssize_t)n;
}

const char *
coap_code_str(uint8_t code, char buf[static 5])
{
	unsigned	 d = COAP_CODE_DETAIL(code);

	buf[0] = (char)('0' + COAP_CODE_CLASS(code));
	buf[1] = '.';
	buf[2] = (char)('0' + d / 10);
	buf[3] = (char)('0' + d % 10);
	buf[4] = '\0';
	return buf;
}
