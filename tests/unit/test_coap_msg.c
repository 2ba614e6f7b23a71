/*
 * test_coap_msg.c - byte-vector tests for the CoAP codec (src/proto/coap_msg.c).
 *
 * Tests named rfc_* each check one RFC requirement that the codec carries;
 * the section is given in the comment above them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "proto/coap_msg.h"

#include "helpers.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define BYTES(...)	((const uint8_t[]){ __VA_ARGS__ })
#define VEC(...)	BYTES(__VA_ARGS__), sizeof(BYTES(__VA_ARGS__))

#define TOPT(n, s)	{ (n), (s), sizeof(s) - 1 }

/* Encode a CON GET carrying opts (ascending) and parse it into m. */
static void
build(struct coap_msg *m, uint8_t *buf, size_t cap, const struct topt *opts,
    size_t n)
{
	struct coap_enc	 e;
	ssize_t		 len;
	size_t		 i;

	coap_enc_init(&e, buf, cap, COAP_TYPE_CON, COAP_GET, 0x0101, NULL, 0);
	for (i = 0; i < n; i++)
		coap_enc_opt(&e, opts[i].num, opts[i].val, opts[i].len);
	len = coap_enc_finish(&e);
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(coap_msg_parse(m, buf, (size_t)len), 0);
}

static void
expect_perr(const uint8_t *b, size_t n, enum coap_perr perr)
{
	struct coap_msg	 m;

	memset(&m, 0x5a, sizeof(m));
	ck_assert_int_eq(coap_msg_parse(&m, b, n), -EBADMSG);
	ck_assert_msg(m.perr == perr, "perr %u (%s), want %u (%s)", m.perr,
	    coap_perr_str(m.perr), perr, coap_perr_str(perr));
	ck_assert_uint_eq(m.nopts, 0);
	ck_assert_ptr_null(m.payload);
	ck_assert_uint_eq(m.payload_len, 0);
	/* RFC 7252 §4.2: the header is still usable for an RST. */
	if (n >= COAP_HDR_LEN) {
		ck_assert_uint_eq(m.type, (b[0] >> 4) & 3);
		ck_assert_uint_eq(m.code, b[1]);
		ck_assert_uint_eq(m.mid, (unsigned)(b[2] << 8 | b[3]));
	}
}

/* ---- well-formed messages ------------------------------------------- */

START_TEST(parse_get)
{
	static const uint8_t v[] = {
		0x44, 0x01, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
		0xb7, 's', 'e', 'n', 's', 'o', 'r', 's',	/* Uri-Path */
		0x04, 't', 'e', 'm', 'p',			/* Uri-Path */
		0x43, 'u', '=', 'c',			/* Uri-Query */
		0x21, 50,					/* Accept */
		0xff, 'x', 0xff,
	};
	struct coap_msg	 m;
	uint32_t	 u;

	ck_assert_int_eq(coap_msg_parse(&m, v, sizeof(v)), 0);
	ck_assert_uint_eq(m.perr, COAP_PERR_NONE);
	ck_assert_uint_eq(m.type, COAP_TYPE_CON);
	ck_assert_uint_eq(m.code, COAP_GET);
	ck_assert_uint_eq(m.mid, 0x1234);
	ck_assert_uint_eq(m.tkl, 4);
	ck_assert_mem_eq(m.token, v + 4, 4);
	ck_assert_uint_eq(m.nopts, 4);
	ck_assert_uint_eq(m.opts[0].num, COAP_OPT_URI_PATH);
	ck_assert_uint_eq(m.opts[0].len, 7);
	ck_assert_ptr_eq(m.opts[0].val, v + 9);
	ck_assert_uint_eq(m.opts[1].num, COAP_OPT_URI_PATH);
	ck_assert_mem_eq(m.opts[1].val, "temp", 4);
	ck_assert_uint_eq(m.opts[2].num, COAP_OPT_URI_QUERY);
	ck_assert_mem_eq(m.opts[2].val, "u=c", 3);
	ck_assert_uint_eq(m.opts[3].num, COAP_OPT_ACCEPT);
	ck_assert_int_eq(coap_opt_uint(&m.opts[3], &u), 0);
	ck_assert_uint_eq(u, COAP_CT_JSON);
	/* A 0xff inside the payload is payload. */
	ck_assert_ptr_eq(m.payload, v + sizeof(v) - 2);
	ck_assert_uint_eq(m.payload_len, 2);
}
END_TEST

START_TEST(parse_header_only)
{
	struct coap_msg	 m;

	ck_assert_int_eq(coap_msg_parse(&m, VEC(0x50, 0x45, 0xbe, 0xef)), 0);
	ck_assert_uint_eq(m.type, COAP_TYPE_NON);
	ck_assert_uint_eq(m.code, COAP_CONTENT);
	ck_assert_uint_eq(m.mid, 0xbeef);
	ck_assert_uint_eq(m.tkl, 0);
	ck_assert_uint_eq(m.nopts, 0);
	ck_assert_ptr_null(m.payload);
	ck_assert_uint_eq(m.payload_len, 0);
}
END_TEST

START_TEST(parse_payload_no_options)
{
	static const uint8_t v[] = { 0x61, 0x44, 0x00, 0x07, 0x99, 0xff, 0x00 };
	struct coap_msg	 m;

	ck_assert_int_eq(coap_msg_parse(&m, v, sizeof(v)), 0);
	ck_assert_uint_eq(m.type, COAP_TYPE_ACK);
	ck_assert_uint_eq(m.code, COAP_CHANGED);
	ck_assert_uint_eq(m.tkl, 1);
	ck_assert_uint_eq(m.token[0], 0x99);
	ck_assert_uint_eq(m.nopts, 0);
	ck_assert_ptr_eq(m.payload, v + 6);
	ck_assert_uint_eq(m.payload_len, 1);
}
END_TEST

/* Empty messages that are allowed: CoAP ping (CON), empty ACK and RST. */
START_TEST(parse_empty_ok)
{
	struct coap_msg	 m;
	uint8_t		 t;

	for (t = 0; t < 4; t++) {
		const uint8_t v[4] = {
			(uint8_t)(0x40 | t << 4), 0, 0xab, 0xcd
		};

		ck_assert_int_eq(coap_msg_parse(&m, v, sizeof(v)), 0);
		ck_assert_uint_eq(m.type, t);
		ck_assert_uint_eq(m.code, COAP_EMPTY);
		ck_assert_uint_eq(m.mid, 0xabcd);
		ck_assert_uint_eq(m.nopts, 0);
	}
}
END_TEST

START_TEST(parse_repeated_and_delta_zero)
{
	/* If-Match x3 (delta 1 then 0, 0), ETag. */
	static const uint8_t	 v[] = { 0x40, 0x03, 0x00, 0x01,
	    0x11, 0xa1, 0x01, 0xa2, 0x00, 0x31, 0xe7 };
	struct coap_msg		 m;
	const struct coap_opt	*o;

	ck_assert_int_eq(coap_msg_parse(&m, v, sizeof(v)), 0);
	ck_assert_uint_eq(m.nopts, 4);
	ck_assert_uint_eq(coap_msg_opt_count(&m, COAP_OPT_IF_MATCH), 3);
	ck_assert_uint_eq(coap_msg_opt_count(&m, COAP_OPT_ETAG), 1);
	ck_assert_uint_eq(coap_msg_opt_count(&m, COAP_OPT_URI_PATH), 0);
	o = coap_msg_opt(&m, COAP_OPT_IF_MATCH);
	ck_assert_ptr_eq(o, &m.opts[0]);
	ck_assert_uint_eq(o->val[0], 0xa1);
	ck_assert_uint_eq(m.opts[2].len, 0);
	o = coap_msg_opt(&m, COAP_OPT_ETAG);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(o->val[0], 0xe7);
	ck_assert_ptr_null(coap_msg_opt(&m, COAP_OPT_IF_NONE_MATCH));
	ck_assert_ptr_null(coap_msg_opt(&m, 0));
	ck_assert_ptr_null(coap_msg_opt(&m, 65535));
}
END_TEST

/* ---- option header encodings (RFC 7252 §3.1) ------------------------ */

struct optenc {
	uint16_t	 num;	/* first option, so the delta is num */
	uint16_t	 len;
	uint8_t		 hdr[5];
	size_t		 hlen;
};

static const struct optenc optenc[] = {
	{ 0,     0,    { 0x00 }, 1 },
	{ 12,    12,   { 0xcc }, 1 },
	{ 13,    0,    { 0xd0, 0x00 }, 2 },		/* delta ext 1 */
	{ 14,    1,    { 0xd1, 0x01 }, 2 },
	{ 268,   0,    { 0xd0, 0xff }, 2 },
	{ 269,   0,    { 0xe0, 0x00, 0x00 }, 3 },	/* delta ext 2 */
	{ 270,   2,    { 0xe2, 0x00, 0x01 }, 3 },
	{ 65535, 0,    { 0xe0, 0xfe, 0xf2 }, 3 },
	{ 1,     13,   { 0x1d, 0x00 }, 2 },		/* len ext 1 */
	{ 1,     268,  { 0x1d, 0xff }, 2 },
	{ 1,     269,  { 0x1e, 0x00, 0x00 }, 3 },		/* len ext 2 */
	{ 1,     1000, { 0x1e, 0x02, 0xdb }, 3 },
	{ 300,   20,   { 0xed, 0x00, 0x1f, 0x07 }, 4 },	/* both */
	{ 14,    300,  { 0xde, 0x01, 0x00, 0x1f }, 4 },
	{ 65535, 2000, { 0xee, 0xfe, 0xf2, 0x06, 0xc3 }, 5 },
};

START_TEST(opt_encoding)
{
	const struct optenc	*t = &optenc[_i];
	static uint8_t		 val[2000], buf[2100];
	struct coap_enc		 e;
	struct coap_msg		 m;
	ssize_t			 len;
	size_t			 i;

	for (i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)(i * 7);
	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 1,
	    NULL, 0);
	coap_enc_opt(&e, t->num, val, t->len);
	len = coap_enc_finish(&e);
	ck_assert_int_eq(len, (ssize_t)(COAP_HDR_LEN + t->hlen + t->len));
	ck_assert_mem_eq(buf + COAP_HDR_LEN, t->hdr, t->hlen);
	if (t->len > 0)
		ck_assert_mem_eq(buf + COAP_HDR_LEN + t->hlen, val, t->len);

	ck_assert_int_eq(coap_msg_parse(&m, buf, (size_t)len), 0);
	ck_assert_uint_eq(m.nopts, 1);
	ck_assert_uint_eq(m.opts[0].num, t->num);
	ck_assert_uint_eq(m.opts[0].len, t->len);
	ck_assert_ptr_eq(m.opts[0].val, buf + COAP_HDR_LEN + t->hlen);
}
END_TEST

/* Deltas are relative to the previous option, not absolute. */
START_TEST(opt_delta_relative)
{
	uint8_t		 buf[64];
	struct coap_enc	 e;
	struct coap_msg	 m;
	ssize_t		 len;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 1,
	    NULL, 0);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "a", 1);
	coap_enc_opt(&e, COAP_OPT_SIZE1, NULL, 0);	/* delta 49 */
	coap_enc_opt(&e, 400, NULL, 0);			/* delta 340 */
	len = coap_enc_finish(&e);
	ck_assert_int_eq(len, 4 + 2 + 2 + 3);
	ck_assert_mem_eq(buf + 4, BYTES(0xb1, 'a', 0xd0, 49 - 13,
	    0xe0, 0x00, 340 - 269), 7);
	ck_assert_int_eq(coap_msg_parse(&m, buf, (size_t)len), 0);
	ck_assert_uint_eq(m.nopts, 3);
	ck_assert_uint_eq(m.opts[1].num, COAP_OPT_SIZE1);
	ck_assert_uint_eq(m.opts[2].num, 400);
}
END_TEST

START_TEST(opt_num_max)
{
	struct coap_msg	 m;

	/* 65535 is the largest number; it may repeat. */
	ck_assert_int_eq(coap_msg_parse(&m, VEC(0x40, 0x01, 0, 1,
	    0xe0, 0xfe, 0xf2, 0x00)), 0);
	ck_assert_uint_eq(m.nopts, 2);
	ck_assert_uint_eq(m.opts[1].num, 65535);
}
END_TEST

START_TEST(opt_max_count)
{
	uint8_t		 v[COAP_HDR_LEN + COAP_MAX_OPTIONS];
	struct coap_msg	 m;

	memset(v, 0, sizeof(v));
	v[0] = 0x40;
	v[1] = COAP_GET;
	v[4] = 0x10;	/* option 1, then repeats of it */
	ck_assert_int_eq(coap_msg_parse(&m, v, sizeof(v)), 0);
	ck_assert_uint_eq(m.nopts, COAP_MAX_OPTIONS);
}
END_TEST

/* ---- tokens --------------------------------------------------------- */

START_TEST(token_lengths)
{
	uint8_t		 tok[COAP_MAX_TOKEN], buf[32];
	struct coap_enc	 e;
	struct coap_msg	 m;
	ssize_t		 len;
	int		 i;

	for (i = 0; i < COAP_MAX_TOKEN; i++)
		tok[i] = (uint8_t)(0xa0 + i);
	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_NON, COAP_POST, 0x0203,
	    tok, (uint8_t)_i);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "x", 1);
	len = coap_enc_finish(&e);
	ck_assert_int_eq(len, COAP_HDR_LEN + _i + 2);
	ck_assert_uint_eq(buf[0], 0x50 | _i);
	ck_assert_int_eq(coap_msg_parse(&m, buf, (size_t)len), 0);
	ck_assert_uint_eq(m.tkl, _i);
	if (_i > 0)
		ck_assert_mem_eq(m.token, tok, (size_t)_i);
	ck_assert_uint_eq(m.nopts, 1);
	ck_assert_uint_eq(m.opts[0].num, COAP_OPT_URI_PATH);
}
END_TEST

/* ---- malformed datagrams: one class per enum coap_perr -------------- */

struct bad {
	const char	*name;
	const uint8_t	*b;
	size_t		 n;
	enum coap_perr	 perr;
};

static const struct bad bad[] = {
	{ "empty datagram", BYTES(0), 0, COAP_PERR_SHORT },
	{ "1 byte", VEC(0x40), COAP_PERR_SHORT },
	{ "3 bytes", VEC(0x40, 0x01, 0x00), COAP_PERR_SHORT },
	{ "version 0", VEC(0x00, 0x01, 0x12, 0x34), COAP_PERR_VERSION },
	{ "version 2", VEC(0x90, 0x01, 0x12, 0x34), COAP_PERR_VERSION },
	{ "version 3", VEC(0xe0, 0x45, 0x12, 0x34), COAP_PERR_VERSION },
	{ "tkl 9", VEC(0x49, 0x01, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9),
	    COAP_PERR_TKL },
	{ "tkl 15", VEC(0x5f, 0x01, 0, 1), COAP_PERR_TKL },
	{ "token missing", VEC(0x41, 0x01, 0, 1), COAP_PERR_TRUNC_TOKEN },
	{ "token 8 with 7", VEC(0x48, 0x01, 0, 1, 1, 2, 3, 4, 5, 6, 7),
	    COAP_PERR_TRUNC_TOKEN },
	{ "delta nibble 15", VEC(0x40, 0x01, 0, 1, 0xf0),
	    COAP_PERR_OPT_NIBBLE },
	{ "delta nibble 15 len 14", VEC(0x40, 0x01, 0, 1, 0xfe, 0, 0),
	    COAP_PERR_OPT_NIBBLE },
	{ "length nibble 15", VEC(0x40, 0x01, 0, 1, 0xbf, 'a'),
	    COAP_PERR_OPT_NIBBLE },
	{ "length nibble 15 delta 13", VEC(0x40, 0x01, 0, 1, 0xdf, 0),
	    COAP_PERR_OPT_NIBBLE },
	{ "length nibble 15 after option", VEC(0x40, 0x01, 0, 1,
	    0xb1, 'a', 0x0f), COAP_PERR_OPT_NIBBLE },
	{ "delta ext 1 missing", VEC(0x40, 0x01, 0, 1, 0xd0),
	    COAP_PERR_OPT_TRUNC },
	{ "delta ext 2 missing", VEC(0x40, 0x01, 0, 1, 0xe0),
	    COAP_PERR_OPT_TRUNC },
	{ "delta ext 2 half", VEC(0x40, 0x01, 0, 1, 0xe0, 0x00),
	    COAP_PERR_OPT_TRUNC },
	{ "length ext 1 missing", VEC(0x40, 0x01, 0, 1, 0x1d),
	    COAP_PERR_OPT_TRUNC },
	{ "length ext 2 half", VEC(0x40, 0x01, 0, 1, 0x1e, 0x01),
	    COAP_PERR_OPT_TRUNC },
	{ "length ext after delta ext", VEC(0x40, 0x01, 0, 1, 0xdd, 0x00),
	    COAP_PERR_OPT_TRUNC },
	{ "value short", VEC(0x40, 0x01, 0, 1, 0xb4, 'a', 'b', 'c'),
	    COAP_PERR_OPT_TRUNC },
	{ "value missing", VEC(0x40, 0x01, 0, 1, 0xb1), COAP_PERR_OPT_TRUNC },
	{ "value ext short", VEC(0x40, 0x01, 0, 1, 0x1d, 0x00,
	    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), COAP_PERR_OPT_TRUNC },
	{ "value eats marker", VEC(0x40, 0x01, 0, 1, 0xb3, 'a', 0xff),
	    COAP_PERR_OPT_TRUNC },
	{ "number 65536", VEC(0x40, 0x01, 0, 1, 0xe0, 0xfe, 0xf2, 0x10),
	    COAP_PERR_OPT_NUM },
	{ "number 65804", VEC(0x40, 0x01, 0, 1, 0xe0, 0xff, 0xff),
	    COAP_PERR_OPT_NUM },
	{ "marker only", VEC(0x40, 0x01, 0, 1, 0xff), COAP_PERR_MARKER },
	{ "marker after token", VEC(0x42, 0x01, 0, 1, 9, 9, 0xff),
	    COAP_PERR_MARKER },
	{ "marker after option", VEC(0x40, 0x01, 0, 1, 0xb1, 'a', 0xff),
	    COAP_PERR_MARKER },
	{ "empty with tkl", VEC(0x41, 0x00, 0, 1, 0xaa), COAP_PERR_EMPTY },
	{ "empty with tkl, no token", VEC(0x48, 0x00, 0, 1),
	    COAP_PERR_EMPTY },
	{ "empty with option", VEC(0x40, 0x00, 0, 1, 0xb1, 'a'),
	    COAP_PERR_EMPTY },
	{ "empty with payload", VEC(0x60, 0x00, 0, 1, 0xff, 'a'),
	    COAP_PERR_EMPTY },
	{ "empty RST with byte", VEC(0x70, 0x00, 0, 1, 0x00),
	    COAP_PERR_EMPTY },
};

START_TEST(malformed)
{
	const struct bad	*t = &bad[_i];

	ck_assert_msg(t->name != NULL, "vector %d", _i);
	expect_perr(t->b, t->n, t->perr);
}
END_TEST

START_TEST(too_many_options)
{
	uint8_t		 v[COAP_HDR_LEN + COAP_MAX_OPTIONS + 1];

	memset(v, 0, sizeof(v));
	v[0] = 0x40;
	v[1] = COAP_GET;
	v[4] = 0x10;
	expect_perr(v, sizeof(v), COAP_PERR_OPT_MANY);
}
END_TEST

START_TEST(tkl_reserved)
{
	uint8_t		 v[COAP_HDR_LEN + 16];

	memset(v, 0x11, sizeof(v));
	v[0] = (uint8_t)(0x40 | _i);
	v[1] = COAP_GET;
	expect_perr(v, sizeof(v), COAP_PERR_TKL);
}
END_TEST

/* The parser reads exactly len bytes: every prefix of a good message. */
START_TEST(truncations)
{
	static const uint8_t v[] = {
		0x42, 0x01, 0x00, 0x09, 0x01, 0x02,
		0xd1, 0x02, 0x05,		/* option 15, 1 byte */
		0xe2, 0x00, 0x01, 0xaa, 0xbb,	/* option 285, 2 bytes */
		0x1d, 0x00, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j',
		'k', 'l', 'm',			/* option 286, 13 bytes */
	};
	/* Lengths at which the message is whole (after each option). */
	static const size_t ok[] = { 6, 9, 14, sizeof(v) };
	struct coap_msg	 m;
	uint8_t		*copy;
	size_t		 n, i;
	bool		 whole;

	for (n = 0; n <= sizeof(v); n++) {
		/* An exact-size heap copy lets ASan see any overread. */
		copy = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, v, n);
		whole = false;
		for (i = 0; i < NELEM(ok); i++)
			whole |= ok[i] == n;
		if (whole)
			ck_assert_int_eq(coap_msg_parse(&m, copy, n), 0);
		else if (n < 4)
			expect_perr(copy, n, COAP_PERR_SHORT);
		else if (n < 6)
			expect_perr(copy, n, COAP_PERR_TRUNC_TOKEN);
		else
			expect_perr(copy, n, COAP_PERR_OPT_TRUNC);
		free(copy);
	}
}
END_TEST

/* ---- round trips ---------------------------------------------------- */

static uint32_t
rnd(uint32_t *s)
{
	/* xorshift32: deterministic, so a failure reproduces. */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

START_TEST(roundtrip_random)
{
	static uint8_t		 buf[16384], buf2[16384], val[600];
	struct coap_msg		 m, m2;
	struct coap_enc		 e;
	struct {
		uint16_t	 num;
		uint16_t	 len;
		uint16_t	 off;
	}			 opts[COAP_MAX_OPTIONS];
	uint32_t		 s = 0x1234567u + (uint32_t)_i;
	uint8_t			 tok[8], type, code, tkl;
	uint16_t		 mid;
	uint32_t		 num;
	unsigned		 nopts, i, iter;
	size_t			 plen;
	ssize_t			 len, len2;

	for (i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)rnd(&s);
	for (iter = 0; iter < 500; iter++) {
		type = rnd(&s) & 3;
		code = (uint8_t)(rnd(&s) | 1);	/* never 0.00 */
		mid = (uint16_t)rnd(&s);
		tkl = rnd(&s) % 9;
		for (i = 0; i < tkl; i++)
			tok[i] = (uint8_t)rnd(&s);
		nopts = rnd(&s) % (COAP_MAX_OPTIONS + 1);
		num = 0;
		for (i = 0; i < nopts; i++) {
			switch (rnd(&s) % 4) {
			case 0:
				break;			/* repeat */
			case 1:
				num += rnd(&s) % 13;
				break;
			case 2:
				num += rnd(&s) % 300;
				break;
			default:
				num += rnd(&s) % 3000;
				break;
			}
			if (num > 65535)
				num = 65535;
			opts[i].num = (uint16_t)num;
			opts[i].len = (uint16_t)(rnd(&s) % 4 == 0 ?
			    rnd(&s) % 300 : rnd(&s) % 14);
			opts[i].off = (uint16_t)(rnd(&s) %
			    (sizeof(val) - opts[i].len + 1));
		}
		plen = rnd(&s) % 3 == 0 ? 0 : rnd(&s) % 200;

		coap_enc_init(&e, buf, sizeof(buf), type, code, mid, tok, tkl);
		for (i = 0; i < nopts; i++)
			coap_enc_opt(&e, opts[i].num, val + opts[i].off,
			    opts[i].len);
		coap_enc_payload(&e, val, plen);
		len = coap_enc_finish(&e);
		ck_assert_int_gt(len, 0);

		ck_assert_int_eq(coap_msg_parse(&m, buf, (size_t)len), 0);
		ck_assert_uint_eq(m.type, type);
		ck_assert_uint_eq(m.code, code);
		ck_assert_uint_eq(m.mid, mid);
		ck_assert_uint_eq(m.tkl, tkl);
		if (tkl > 0)
			ck_assert_mem_eq(m.token, tok, tkl);
		ck_assert_uint_eq(m.nopts, nopts);
		for (i = 0; i < nopts; i++) {
			ck_assert_uint_eq(m.opts[i].num, opts[i].num);
			ck_assert_uint_eq(m.opts[i].len, opts[i].len);
			if (opts[i].len > 0)
				ck_assert_mem_eq(m.opts[i].val,
				    val + opts[i].off, opts[i].len);
		}
		ck_assert_uint_eq(m.payload_len, plen);
		if (plen > 0)
			ck_assert_mem_eq(m.payload, val, plen);
		else
			ck_assert_ptr_null(m.payload);

		/* Re-encoding the parse gives the same bytes back. */
		coap_enc_init(&e, buf2, sizeof(buf2), m.type, m.code, m.mid,
		    m.token, m.tkl);
		for (i = 0; i < m.nopts; i++)
			coap_enc_opt(&e, m.opts[i].num, m.opts[i].val,
			    m.opts[i].len);
		coap_enc_payload(&e, m.payload, m.payload_len);
		len2 = coap_enc_finish(&e);
		ck_assert_int_eq(len2, len);
		ck_assert_mem_eq(buf2, buf, (size_t)len);
		ck_assert_int_eq(coap_msg_parse(&m2, buf2, (size_t)len2), 0);
		ck_assert_uint_eq(m2.nopts, m.nopts);
	}
}
END_TEST

START_TEST(roundtrip_exact_bytes)
{
	static const uint8_t	 tok[] = { 0xca, 0xfe };
	static const uint8_t	 want[] = {
		0x52, 0x02, 0x77, 0x88, 0xca, 0xfe,
		0xb2, 'f', 'w',			/* Uri-Path "fw" */
		0x11, 42,			/* Content-Format 42 */
		0xd1, 0x02, 0x26,		/* Block1 (27): 2/0/1024 */
		0xff, 1, 2, 3,
	};
	uint8_t			 buf[64];
	struct coap_enc		 e;
	struct coap_msg		 m;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_NON, COAP_POST, 0x7788,
	    tok, sizeof(tok));
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "fw", 2);
	coap_enc_opt_uint(&e, COAP_OPT_CONTENT_FORMAT, COAP_CT_OCTET_STREAM);
	coap_enc_opt_uint(&e, COAP_OPT_BLOCK1, 0x26);
	coap_enc_payload(&e, BYTES(1, 2, 3), 3);
	ck_assert_int_eq(coap_enc_finish(&e), (ssize_t)sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
	ck_assert_int_eq(coap_msg_parse(&m, want, sizeof(want)), 0);
	ck_assert_uint_eq(m.nopts, 3);
	ck_assert_uint_eq(m.payload_len, 3);
}
END_TEST

/* ---- encoder -------------------------------------------------------- */

START_TEST(enc_out_of_order)
{
	uint8_t		 buf[64];
	struct coap_enc	 e;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 1,
	    NULL, 0);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "a", 1);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "b", 1);	/* repeat is fine */
	coap_enc_opt(&e, COAP_OPT_URI_HOST, "h", 1);
	ck_assert(e.failed);
	/* Later calls change nothing. */
	coap_enc_opt(&e, COAP_OPT_ACCEPT, NULL, 0);
	coap_enc_payload(&e, "x", 1);
	ck_assert_int_eq(coap_enc_finish(&e), -EINVAL);
}
END_TEST

START_TEST(enc_bad_tkl)
{
	uint8_t		 buf[64], tok[9] = { 0 };
	struct coap_enc	 e;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 1,
	    tok, 9);
	ck_assert_int_eq(coap_enc_finish(&e), -EINVAL);
}
END_TEST

/* Every capacity short of the full length fails without writing past it. */
START_TEST(enc_no_overflow)
{
	static const uint8_t	 tok[] = { 1, 2, 3 };
	uint8_t			 buf[128];
	struct coap_enc		 e;
	ssize_t			 full = -1, len;
	size_t			 cap, i;

	for (cap = 0; cap <= 64; cap++) {
		memset(buf, 0xa5, sizeof(buf));
		coap_enc_init(&e, buf, cap, COAP_TYPE_CON, COAP_PUT, 9,
		    tok, sizeof(tok));
		coap_enc_opt(&e, COAP_OPT_URI_PATH, "abcdefghijklmnop", 16);
		coap_enc_opt_uint(&e, COAP_OPT_CONTENT_FORMAT, 50);
		coap_enc_opt(&e, 400, "xyz", 3);
		coap_enc_payload(&e, "{\"a\":1}", 7);
		len = coap_enc_finish(&e);
		for (i = cap; i < sizeof(buf); i++)
			ck_assert_uint_eq(buf[i], 0xa5);
		if (len >= 0) {
			if (full < 0)
				full = len;
			ck_assert_int_eq(len, full);
		} else {
			ck_assert_int_eq(len, -ENOSPC);
			ck_assert_int_lt(full, 0);
		}
	}
	/* 4 + 3 + (2 + 16) + (1 + 1) + (3 + 3) + (1 + 7) */
	ck_assert_int_eq(full, 41);
}
END_TEST

START_TEST(enc_uint)
{
	static const struct {
		uint32_t	 v;
		size_t		 len;
		uint8_t		 b[4];
	} t[] = {
		{ 0, 0, { 0 } },
		{ 1, 1, { 1 } },
		{ 255, 1, { 0xff } },
		{ 256, 2, { 1, 0 } },
		{ 0x123456, 3, { 0x12, 0x34, 0x56 } },
		{ 0xffffffff, 4, { 0xff, 0xff, 0xff, 0xff } },
	};
	uint8_t		 buf[32];
	struct coap_enc	 e;
	struct coap_msg	 m;
	uint32_t	 v;
	size_t		 i;

	for (i = 0; i < NELEM(t); i++) {
		coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET,
		    1, NULL, 0);
		coap_enc_opt_uint(&e, COAP_OPT_CONTENT_FORMAT, t[i].v);
		ck_assert_int_eq(coap_enc_finish(&e),
		    (ssize_t)(COAP_HDR_LEN + 1 + t[i].len));
		ck_assert_uint_eq(buf[4], 0xc0 | t[i].len);
		if (t[i].len > 0)
			ck_assert_mem_eq(buf + 5, t[i].b, t[i].len);
		ck_assert_int_eq(coap_msg_parse(&m, buf, 5 + t[i].len), 0);
		ck_assert_int_eq(coap_opt_uint(&m.opts[0], &v), 0);
		ck_assert_uint_eq(v, t[i].v);
	}
}
END_TEST

START_TEST(uint_len)
{
	ck_assert_uint_eq(coap_uint_len(0), 0);
	ck_assert_uint_eq(coap_uint_len(1), 1);
	ck_assert_uint_eq(coap_uint_len(255), 1);
	ck_assert_uint_eq(coap_uint_len(256), 2);
	ck_assert_uint_eq(coap_uint_len(65535), 2);
	ck_assert_uint_eq(coap_uint_len(65536), 3);
	ck_assert_uint_eq(coap_uint_len(0xffffff), 3);
	ck_assert_uint_eq(coap_uint_len(0x1000000), 4);
	ck_assert_uint_eq(coap_uint_len(UINT32_MAX), 4);
}
END_TEST

START_TEST(opt_uint)
{
	static const uint8_t	 b[] = { 0x01, 0x02, 0x03, 0x04, 0x05 };
	static const uint8_t	 ones[] = { 0xff, 0xff, 0xff, 0xff };
	struct coap_opt		 o = { 1, 0, NULL };
	uint32_t		 v = 99;

	ck_assert_int_eq(coap_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, 0);
	o.val = b;
	o.len = 1;
	ck_assert_int_eq(coap_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, 1);
	o.len = 2;
	ck_assert_int_eq(coap_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, 0x0102);
	o.len = 3;
	ck_assert_int_eq(coap_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, 0x010203);
	o.len = 4;
	ck_assert_int_eq(coap_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, 0x01020304);
	o.len = 5;
	v = 7;
	ck_assert_int_eq(coap_opt_uint(&o, &v), -EINVAL);
	ck_assert_uint_eq(v, 7);
	o.val = ones;
	o.len = 4;
	ck_assert_int_eq(coap_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, UINT32_MAX);
}
END_TEST

/* ---- responses ------------------------------------------------------ */

START_TEST(resp_sorted_stable)
{
	uint8_t			 pay[16], out[128];
	struct coap_resp	 r;
	struct coap_msg		 m;
	ssize_t			 len;
	static const struct topt want[] = {
		TOPT(COAP_OPT_ETAG, "e1"),
		TOPT(COAP_OPT_ETAG, "e2"),
		TOPT(COAP_OPT_LOCATION_PATH, "a"),
		TOPT(COAP_OPT_LOCATION_PATH, "bb"),
		TOPT(COAP_OPT_LOCATION_PATH, "ccc"),
		TOPT(COAP_OPT_CONTENT_FORMAT, "\x32"),
		TOPT(COAP_OPT_MAX_AGE, "\x3c"),
		TOPT(COAP_OPT_SIZE1, "\x04\x00"),
	};
	unsigned		 i;

	coap_resp_init(&r, pay, sizeof(pay));
	r.code = COAP_CREATED;
	ck_assert_int_eq(coap_resp_opt_uint(&r, COAP_OPT_SIZE1, 1024), 0);
	ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_LOCATION_PATH, "a", 1), 0);
	ck_assert_int_eq(coap_resp_opt_uint(&r, COAP_OPT_MAX_AGE, 60), 0);
	ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_LOCATION_PATH, "bb", 2),
	    0);
	ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_ETAG, "e1", 2), 0);
	ck_assert_int_eq(coap_resp_opt_uint(&r, COAP_OPT_CONTENT_FORMAT,
	    COAP_CT_JSON), 0);
	ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_LOCATION_PATH, "ccc", 3),
	    0);
	ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_ETAG, "e2", 2), 0);
	ck_assert_int_eq(coap_resp_payload(&r, "{}", 2), 0);

	ck_assert_uint_eq(r.nopts, NELEM(want));
	for (i = 0; i < NELEM(want); i++) {
		ck_assert_uint_eq(r.opts[i].num, want[i].num);
		ck_assert_uint_eq(r.opts[i].len, want[i].len);
		ck_assert_mem_eq(r.opts[i].val, want[i].val, r.opts[i].len);
	}

	len = coap_resp_encode(&r, out, sizeof(out), COAP_TYPE_ACK, 0x4242,
	    BYTES(7), 1);
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(coap_msg_parse(&m, out, (size_t)len), 0);
	ck_assert_uint_eq(m.type, COAP_TYPE_ACK);
	ck_assert_uint_eq(m.code, COAP_CREATED);
	ck_assert_uint_eq(m.mid, 0x4242);
	ck_assert_uint_eq(m.tkl, 1);
	ck_assert_uint_eq(m.token[0], 7);
	ck_assert_uint_eq(m.nopts, NELEM(want));
	for (i = 0; i < NELEM(want); i++) {
		ck_assert_uint_eq(m.opts[i].num, want[i].num);
		ck_assert_uint_eq(m.opts[i].len, want[i].len);
		ck_assert_mem_eq(m.opts[i].val, want[i].val, m.opts[i].len);
	}
	ck_assert_uint_eq(m.payload_len, 2);
	ck_assert_mem_eq(m.payload, "{}", 2);
}
END_TEST

START_TEST(resp_exact_bytes)
{
	static const uint8_t	 want[] = {
		0x61, 0x45, 0x12, 0x34, 0xaa,
		0xc0,				/* Content-Format 0 */
		0xff, 'h', 'i',
	};
	uint8_t			 pay[8], out[32];
	struct coap_resp	 r;

	coap_resp_init(&r, pay, sizeof(pay));
	ck_assert_uint_eq(r.code, COAP_EMPTY);
	r.code = COAP_CONTENT;
	ck_assert_int_eq(coap_resp_opt_uint(&r, COAP_OPT_CONTENT_FORMAT,
	    COAP_CT_TEXT_PLAIN), 0);
	/* A payload built in place in the lent buffer. */
	memcpy(pay, "hi", 2);
	ck_assert_int_eq(coap_resp_payload(&r, pay, 2), 0);
	ck_assert_int_eq(coap_resp_encode(&r, out, sizeof(out), COAP_TYPE_ACK,
	    0x1234, BYTES(0xaa), 1), (ssize_t)sizeof(want));
	ck_assert_mem_eq(out, want, sizeof(want));
}
END_TEST

START_TEST(resp_enospc)
{
	uint8_t			 pay[4], big[COAP_RESP_OPTSTORE + 1];
	struct coap_resp	 r;
	unsigned		 i;

	memset(big, 'v', sizeof(big));
	coap_resp_init(&r, pay, sizeof(pay));
	ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_ETAG, big, sizeof(big)),
	    -ENOSPC);
	ck_assert_uint_eq(r.nopts, 0);
	ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_ETAG, big,
	    COAP_RESP_OPTSTORE), 0);
	ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_ETAG, big, 1), -ENOSPC);
	/* Empty values take no store, only a slot. */
	for (i = 1; i < COAP_RESP_MAX_OPTS; i++)
		ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_IF_NONE_MATCH,
		    NULL, 0), 0);
	ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_IF_MATCH, NULL, 0),
	    -ENOSPC);
	ck_assert_uint_eq(r.nopts, COAP_RESP_MAX_OPTS);
	ck_assert_uint_eq(r.optstore_len, COAP_RESP_OPTSTORE);

	ck_assert_int_eq(coap_resp_payload(&r, "12345", 5), -ENOSPC);
	ck_assert_uint_eq(r.payload_len, 0);
	ck_assert_int_eq(coap_resp_payload(&r, "1234", 4), 0);
	ck_assert_uint_eq(r.payload_len, 4);
}
END_TEST

START_TEST(resp_encode_small)
{
	uint8_t			 pay[8], out[64];
	struct coap_resp	 r;
	size_t			 i;

	coap_resp_init(&r, pay, sizeof(pay));
	r.code = COAP_CONTENT;
	ck_assert_int_eq(coap_resp_opt(&r, COAP_OPT_ETAG, "12345678", 8), 0);
	ck_assert_int_eq(coap_resp_payload(&r, "payload", 7), 0);
	memset(out, 0xa5, sizeof(out));
	/* 4 + 9 + 8 is needed; give 20. */
	ck_assert_int_eq(coap_resp_encode(&r, out, 20, COAP_TYPE_ACK, 1,
	    NULL, 0), -ENOSPC);
	for (i = 20; i < sizeof(out); i++)
		ck_assert_uint_eq(out[i], 0xa5);
	ck_assert_int_eq(coap_resp_encode(&r, out, 21, COAP_TYPE_ACK, 1,
	    NULL, 0), 21);
	ck_assert_int_eq(coap_resp_encode(&r, out, sizeof(out), COAP_TYPE_ACK,
	    1, BYTES(0), 9), -EINVAL);
}
END_TEST

/* A copied response encodes from its own storage. */
START_TEST(resp_copy)
{
	static uint8_t		 pay[8];
	struct coap_resp	*r, c;
	uint8_t			 out[64];
	struct coap_msg		 m;
	ssize_t			 len;

	r = malloc(sizeof(*r));
	ck_assert_ptr_nonnull(r);
	coap_resp_init(r, pay, sizeof(pay));
	r->code = COAP_CONTENT;
	ck_assert_int_eq(coap_resp_opt(r, COAP_OPT_MAX_AGE, "\x10", 1), 0);
	ck_assert_int_eq(coap_resp_opt(r, COAP_OPT_ETAG, "tag", 3), 0);
	c = *r;
	memset(r, 0xee, sizeof(*r));
	free(r);
	len = coap_resp_encode(&c, out, sizeof(out), COAP_TYPE_NON, 5,
	    NULL, 0);
	ck_assert_int_eq(len, 4 + 4 + 2);
	ck_assert_int_eq(coap_msg_parse(&m, out, (size_t)len), 0);
	ck_assert_uint_eq(m.opts[0].num, COAP_OPT_ETAG);
	ck_assert_mem_eq(m.opts[0].val, "tag", 3);
	ck_assert_uint_eq(m.opts[1].num, COAP_OPT_MAX_AGE);
	ck_assert_uint_eq(m.opts[1].val[0], 0x10);
}
END_TEST

/* ---- Uri-Path ------------------------------------------------------- */

START_TEST(uri_path_ok)
{
	static const struct topt two[] = {
		TOPT(COAP_OPT_URI_HOST, "example"),
		TOPT(COAP_OPT_URI_PATH, "sensors"),
		TOPT(COAP_OPT_URI_PATH, "t1"),
		TOPT(COAP_OPT_URI_QUERY, "x=1"),
	};
	static const struct topt trailing[] = {
		TOPT(COAP_OPT_URI_PATH, "dir"),
		TOPT(COAP_OPT_URI_PATH, ""),
	};
	static const struct topt dots[] = {
		TOPT(COAP_OPT_URI_PATH, "..."),
		TOPT(COAP_OPT_URI_PATH, ".a"),
		TOPT(COAP_OPT_URI_PATH, "a.."),
	};
	static const struct topt none[] = {
		TOPT(COAP_OPT_URI_QUERY, "q"),
	};
	uint8_t		 buf[128];
	char		 out[64];
	struct coap_msg	 m;

	build(&m, buf, sizeof(buf), two, NELEM(two));
	ck_assert_int_eq(coap_msg_uri_path(&m, out, sizeof(out)), 11);
	ck_assert_str_eq(out, "/sensors/t1");
	build(&m, buf, sizeof(buf), trailing, NELEM(trailing));
	ck_assert_int_eq(coap_msg_uri_path(&m, out, sizeof(out)), 5);
	ck_assert_str_eq(out, "/dir/");
	build(&m, buf, sizeof(buf), dots, NELEM(dots));
	ck_assert_int_eq(coap_msg_uri_path(&m, out, sizeof(out)), 11);
	ck_assert_str_eq(out, "/.../.a/a..");
	build(&m, buf, sizeof(buf), none, NELEM(none));
	ck_assert_int_eq(coap_msg_uri_path(&m, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "/");
	build(&m, buf, sizeof(buf), NULL, 0);
	ck_assert_int_eq(coap_msg_uri_path(&m, out, 2), 1);
	ck_assert_str_eq(out, "/");
}
END_TEST

START_TEST(uri_path_bad)
{
	static const struct topt slash[] = {
		TOPT(COAP_OPT_URI_PATH, "a"),
		TOPT(COAP_OPT_URI_PATH, "b/../../etc"),
	};
	static const struct topt nul[] = {
		{ COAP_OPT_URI_PATH, "a\0b", 3 },
	};
	uint8_t		 buf[128];
	char		 out[64];
	struct coap_msg	 m;

	build(&m, buf, sizeof(buf), slash, NELEM(slash));
	ck_assert_int_eq(coap_msg_uri_path(&m, out, sizeof(out)), -EINVAL);
	build(&m, buf, sizeof(buf), nul, NELEM(nul));
	ck_assert_int_eq(coap_msg_uri_path(&m, out, sizeof(out)), -EINVAL);
}
END_TEST

START_TEST(uri_path_too_long)
{
	static const struct topt p[] = {
		TOPT(COAP_OPT_URI_PATH, "abc"),
		TOPT(COAP_OPT_URI_PATH, "de"),
	};
	static const struct topt bad_late[] = {
		TOPT(COAP_OPT_URI_PATH, "abcdefgh"),
		TOPT(COAP_OPT_URI_PATH, ".."),
	};
	uint8_t		 buf[128];
	char		 out[64];
	struct coap_msg	 m;

	build(&m, buf, sizeof(buf), p, NELEM(p));
	/* "/abc/de" and its NUL need 8 bytes. */
	ck_assert_int_eq(coap_msg_uri_path(&m, out, 8), 7);
	ck_assert_str_eq(out, "/abc/de");
	ck_assert_int_eq(coap_msg_uri_path(&m, out, 7), -ENAMETOOLONG);
	ck_assert_int_eq(coap_msg_uri_path(&m, out, 4), -ENAMETOOLONG);
	ck_assert_int_eq(coap_msg_uri_path(&m, out, 0), -ENAMETOOLONG);
	build(&m, buf, sizeof(buf), NULL, 0);
	ck_assert_int_eq(coap_msg_uri_path(&m, out, 1), -ENAMETOOLONG);
	/* A bad segment past the end of the buffer is still refused. */
	build(&m, buf, sizeof(buf), bad_late, NELEM(bad_late));
	ck_assert_int_eq(coap_msg_uri_path(&m, out, 4), -EINVAL);
}
END_TEST

/* ---- options coapd knows -------------------------------------------- */

START_TEST(opt_known)
{
	static const uint16_t	 known[] = {
		COAP_OPT_IF_MATCH, COAP_OPT_URI_HOST, COAP_OPT_ETAG,
		COAP_OPT_IF_NONE_MATCH, COAP_OPT_OBSERVE, COAP_OPT_URI_PORT,
		COAP_OPT_LOCATION_PATH, COAP_OPT_URI_PATH,
		COAP_OPT_CONTENT_FORMAT, COAP_OPT_MAX_AGE, COAP_OPT_URI_QUERY,
		COAP_OPT_HOP_LIMIT, COAP_OPT_ACCEPT, COAP_OPT_LOCATION_QUERY,
		COAP_OPT_BLOCK2, COAP_OPT_BLOCK1, COAP_OPT_SIZE2,
		COAP_OPT_PROXY_URI, COAP_OPT_PROXY_SCHEME, COAP_OPT_SIZE1,
		COAP_OPT_NO_RESPONSE, COAP_OPT_REQUEST_TAG,
	};
	static const uint16_t	 unknown[] = {
		0, 2, 9, 10, 13, 19, 21, 2048, 2049, 65535,
	};
	size_t			 i;

	for (i = 0; i < NELEM(known); i++)
		ck_assert_msg(coap_opt_is_known(known[i]), "%u", known[i]);
	for (i = 0; i < NELEM(unknown); i++)
		ck_assert_msg(!coap_opt_is_known(unknown[i]), "%u",
		    unknown[i]);
	ck_assert(coap_opt_is_critical(COAP_OPT_URI_PATH));
	ck_assert(!coap_opt_is_critical(COAP_OPT_ETAG));
	ck_assert(coap_opt_is_critical(2049));
}
END_TEST

START_TEST(unknown_critical_none)
{
	static const struct topt o[] = {
		TOPT(COAP_OPT_IF_MATCH, "\x01\x02"),
		TOPT(COAP_OPT_IF_MATCH, ""),
		TOPT(COAP_OPT_URI_HOST, "h"),
		TOPT(COAP_OPT_OBSERVE, ""),
		TOPT(COAP_OPT_URI_PATH, "a"),
		TOPT(COAP_OPT_URI_PATH, "b"),
		TOPT(COAP_OPT_URI_QUERY, "q"),
		TOPT(COAP_OPT_URI_QUERY, "r"),
		TOPT(COAP_OPT_ACCEPT, "\x32"),
		TOPT(COAP_OPT_BLOCK2, "\x06"),
		TOPT(COAP_OPT_BLOCK1, "\x00\x01\x16"),
		TOPT(COAP_OPT_SIZE2, ""),
		TOPT(COAP_OPT_SIZE1, "\x01\x00\x00\x00"),
	};
	uint8_t		 buf[256];
	struct coap_msg	 m;

	build(&m, buf, sizeof(buf), o, NELEM(o));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), 0);
}
END_TEST

/*
 * RFC 7252 §5.4.1: an unrecognized critical option in a CON request MUST
 * give 4.02 (Bad Option); unrecognized elective ones MUST be silently
 * ignored.
 */
START_TEST(rfc_unknown_critical)
{
	static const struct topt crit9[] = {
		TOPT(COAP_OPT_URI_HOST, "h"),
		TOPT(9, "x"),
		TOPT(COAP_OPT_URI_PATH, "a"),
	};
	static const struct topt crit2049[] = {
		TOPT(COAP_OPT_URI_PATH, "a"),
		TOPT(2048, "elective"),
		TOPT(2049, ""),
	};
	static const struct topt two[] = {
		TOPT(9, ""),
		TOPT(13, ""),
	};
	static const struct topt elective[] = {
		TOPT(10, "x"),
		TOPT(COAP_OPT_URI_PATH, "a"),
		TOPT(2048, "x"),
		TOPT(65000, ""),
	};
	static const struct topt top[] = {
		TOPT(65535, ""),
	};
	uint8_t		 buf[256];
	struct coap_msg	 m;

	build(&m, buf, sizeof(buf), crit9, NELEM(crit9));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), 9);
	build(&m, buf, sizeof(buf), crit2049, NELEM(crit2049));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), 2049);
	build(&m, buf, sizeof(buf), two, NELEM(two));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), 9);
	build(&m, buf, sizeof(buf), elective, NELEM(elective));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), 0);
	build(&m, buf, sizeof(buf), top, NELEM(top));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), 65535);
}
END_TEST

/*
 * RFC 7252 §5.4.3: an option whose length is outside its defined range
 * MUST be treated like an unrecognized option (so 4.02 when critical).
 */
START_TEST(rfc_option_length_range)
{
	static const struct topt cases[] = {
		TOPT(COAP_OPT_IF_NONE_MATCH, "\x00"),
		TOPT(COAP_OPT_URI_HOST, ""),
		TOPT(COAP_OPT_URI_PORT, "\x01\x02\x03"),
		TOPT(COAP_OPT_ACCEPT, "\x00\x00\x32"),
		TOPT(COAP_OPT_BLOCK2, "\x00\x00\x00\x06"),
		TOPT(COAP_OPT_BLOCK1, "\x00\x00\x00\x06"),
		TOPT(COAP_OPT_IF_MATCH, "123456789"),
		TOPT(COAP_OPT_PROXY_SCHEME, ""),
		TOPT(COAP_OPT_PROXY_URI, ""),
	};
	static const struct topt elective[] = {
		TOPT(COAP_OPT_CONTENT_FORMAT, "\x00\x00\x00"),
		TOPT(COAP_OPT_MAX_AGE, "12345"),
	};
	uint8_t		 buf[128];
	struct coap_msg	 m;
	size_t		 i;

	for (i = 0; i < NELEM(cases); i++) {
		build(&m, buf, sizeof(buf), &cases[i], 1);
		ck_assert_uint_eq(coap_msg_unknown_critical(&m), cases[i].num);
	}
	/* Elective ones are the caller's to ignore. */
	build(&m, buf, sizeof(buf), elective, NELEM(elective));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), 0);
}
END_TEST

/*
 * RFC 7252 §5.4.5: a supernumerary occurrence of a non-repeatable option
 * MUST be treated like an unrecognized option.
 */
START_TEST(rfc_option_repeat)
{
	static const struct topt host2[] = {
		TOPT(COAP_OPT_URI_HOST, "a"),
		TOPT(COAP_OPT_URI_HOST, "b"),
	};
	static const struct topt accept2[] = {
		TOPT(COAP_OPT_URI_PATH, "a"),
		TOPT(COAP_OPT_ACCEPT, ""),
		TOPT(COAP_OPT_ACCEPT, "\x32"),
	};
	static const struct topt block2x2[] = {
		TOPT(COAP_OPT_BLOCK2, "\x02"),
		TOPT(COAP_OPT_BLOCK2, "\x12"),
	};
	static const struct topt elective2[] = {
		TOPT(COAP_OPT_CONTENT_FORMAT, ""),
		TOPT(COAP_OPT_CONTENT_FORMAT, "\x32"),
		TOPT(COAP_OPT_MAX_AGE, ""),
		TOPT(COAP_OPT_MAX_AGE, ""),
	};
	uint8_t		 buf[128];
	struct coap_msg	 m;

	build(&m, buf, sizeof(buf), host2, NELEM(host2));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), COAP_OPT_URI_HOST);
	build(&m, buf, sizeof(buf), accept2, NELEM(accept2));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), COAP_OPT_ACCEPT);
	build(&m, buf, sizeof(buf), block2x2, NELEM(block2x2));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), COAP_OPT_BLOCK2);
	build(&m, buf, sizeof(buf), elective2, NELEM(elective2));
	ck_assert_uint_eq(coap_msg_unknown_critical(&m), 0);
}
END_TEST

/* ---- RFC requirements on the message format ------------------------- */

/* RFC 7252 §3: messages with unknown version numbers MUST be ignored. */
START_TEST(rfc_version)
{
	uint8_t		 v[] = { 0, COAP_GET, 0x12, 0x34, 0xb1, 'a' };
	struct coap_msg	 m;
	unsigned	 ver;

	for (ver = 0; ver < 4; ver++) {
		v[0] = (uint8_t)(ver << 6);
		if (ver == COAP_VERSION) {
			ck_assert_int_eq(coap_msg_parse(&m, v, sizeof(v)), 0);
			continue;
		}
		expect_perr(v, sizeof(v), COAP_PERR_VERSION);
	}
	/* The encoder always writes version 1. */
	ck_assert_int_eq(coap_msg_parse(&m, VEC(0x40, 1, 0, 0)), 0);
}
END_TEST

/*
 * RFC 7252 §3: token lengths 9-15 MUST NOT be sent (enc_bad_tkl) and
 * MUST be processed as a message format error (tkl_reserved).
 */
START_TEST(rfc_tkl)
{
	uint8_t		 buf[32];
	struct coap_enc	 e;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 1,
	    (const uint8_t *)"123456789abcdef", 15);
	ck_assert_int_eq(coap_enc_finish(&e), -EINVAL);
	expect_perr(VEC(0x4c, 0x01, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	    11, 12), COAP_PERR_TKL);
}
END_TEST

/*
 * RFC 7252 §3: a payload marker followed by a zero-length payload MUST be
 * processed as a message format error; a sender puts no marker in front
 * of an empty payload.
 */
START_TEST(rfc_marker)
{
	uint8_t		 buf[16];
	struct coap_enc	 e;

	expect_perr(VEC(0x40, 0x02, 0, 1, 0xff), COAP_PERR_MARKER);
	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_POST, 1,
	    NULL, 0);
	coap_enc_payload(&e, "", 0);
	ck_assert_int_eq(coap_enc_finish(&e), COAP_HDR_LEN);
}
END_TEST

/*
 * RFC 7252 §3.1: option delta 15 (unless the byte is the payload marker)
 * and option length 15 MUST be processed as a message format error.
 */
START_TEST(rfc_reserved_nibbles)
{
	uint8_t		 v[] = { 0x40, 0x01, 0, 1, 0x00, 'p' };
	struct coap_msg	 m;
	unsigned	 b;

	for (b = 0; b < 0x100; b++) {
		v[4] = (uint8_t)b;
		if (b == 0xff) {
			ck_assert_int_eq(coap_msg_parse(&m, v, sizeof(v)), 0);
			ck_assert_uint_eq(m.payload_len, 1);
		} else if ((b >> 4) == 15 || (b & 15) == 15) {
			expect_perr(v, sizeof(v), COAP_PERR_OPT_NIBBLE);
		}
	}
}
END_TEST

/* RFC 7252 §3.1: options MUST appear in order of their numbers. */
START_TEST(rfc_option_order)
{
	uint8_t		 buf[32];
	struct coap_enc	 e;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, 1,
	    NULL, 0);
	coap_enc_opt(&e, COAP_OPT_ACCEPT, NULL, 0);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "a", 1);
	ck_assert_int_eq(coap_enc_finish(&e), -EINVAL);
}
END_TEST

/* RFC 7252 §3.2: a recipient MUST accept leading zero bytes. */
START_TEST(rfc_uint_leading_zero)
{
	static const uint8_t	 cf50[] = {
		0x40, 0x01, 0, 1, 0xc4, 0, 0, 0, 50
	};
	static const uint8_t	 cf0[] = { 0x40, 0x01, 0, 1, 0xc1, 0 };
	struct coap_msg		 m;
	uint32_t		 v;

	ck_assert_int_eq(coap_msg_parse(&m, cf50, sizeof(cf50)), 0);
	ck_assert_int_eq(coap_opt_uint(&m.opts[0], &v), 0);
	ck_assert_uint_eq(v, 50);
	ck_assert_int_eq(coap_msg_parse(&m, cf0, sizeof(cf0)), 0);
	ck_assert_int_eq(coap_opt_uint(&m.opts[0], &v), 0);
	ck_assert_uint_eq(v, 0);
}
END_TEST

/*
 * RFC 7252 §4.1: an Empty message MUST have TKL 0 and no bytes after the
 * Message ID, or be processed as a message format error.
 */
START_TEST(rfc_empty)
{
	expect_perr(VEC(0x41, 0x00, 0, 1, 0x01), COAP_PERR_EMPTY);
	expect_perr(VEC(0x40, 0x00, 0, 1, 0x00), COAP_PERR_EMPTY);
	expect_perr(VEC(0x70, 0x00, 0, 1, 0xff, 0x00), COAP_PERR_EMPTY);
}
END_TEST

/*
 * RFC 7252 §4.2: a malformed CON is rejected with an RST carrying its
 * Message ID, so type, code and MID survive a failed parse.
 */
START_TEST(rfc_reject_needs_mid)
{
	struct coap_msg	 m;

	ck_assert_int_eq(coap_msg_parse(&m, VEC(0x4f, 0x03, 0xfe, 0xdc)),
	    -EBADMSG);
	ck_assert_uint_eq(m.type, COAP_TYPE_CON);
	ck_assert_uint_eq(m.code, COAP_PUT);
	ck_assert_uint_eq(m.mid, 0xfedc);
	ck_assert_int_eq(coap_msg_parse(&m, VEC(0x50, 0x01, 0x00, 0x2a,
	    0xb3, 'a')), -EBADMSG);
	ck_assert_uint_eq(m.type, COAP_TYPE_NON);
	ck_assert_uint_eq(m.mid, 42);
}
END_TEST

/* RFC 7252 §5.10.1: a Uri-Path value MUST NOT be "." or "..". */
START_TEST(rfc_uri_path_dots)
{
	static const struct topt dot[] = {
		TOPT(COAP_OPT_URI_PATH, "a"),
		TOPT(COAP_OPT_URI_PATH, "."),
	};
	static const struct topt dotdot[] = {
		TOPT(COAP_OPT_URI_PATH, ".."),
		TOPT(COAP_OPT_URI_PATH, "etc"),
	};
	uint8_t		 buf[64];
	char		 out[64];
	struct coap_msg	 m;

	build(&m, buf, sizeof(buf), dot, NELEM(dot));
	ck_assert_int_eq(coap_msg_uri_path(&m, out, sizeof(out)), -EINVAL);
	build(&m, buf, sizeof(buf), dotdot, NELEM(dotdot));
	ck_assert_int_eq(coap_msg_uri_path(&m, out, sizeof(out)), -EINVAL);
}
END_TEST

/*
 * RFC 7252 §6.5 (step 8): each Uri-Path option is one segment, in order,
 * so repeated options keep their order through parse and resp.
 */
START_TEST(rfc_repeat_order)
{
	static const struct topt p[] = {
		TOPT(COAP_OPT_URI_PATH, "z"),
		TOPT(COAP_OPT_URI_PATH, "a"),
		TOPT(COAP_OPT_URI_PATH, "m"),
	};
	uint8_t		 buf[64];
	char		 out[64];
	struct coap_msg	 m;

	build(&m, buf, sizeof(buf), p, NELEM(p));
	ck_assert_int_eq(coap_msg_uri_path(&m, out, sizeof(out)), 6);
	ck_assert_str_eq(out, "/z/a/m");
}
END_TEST

/* ---- text ----------------------------------------------------------- */

START_TEST(code_str)
{
	char	 b[5];

	ck_assert_str_eq(coap_code_str(COAP_EMPTY, b), "0.00");
	ck_assert_str_eq(coap_code_str(COAP_GET, b), "0.01");
	ck_assert_str_eq(coap_code_str(COAP_IPATCH, b), "0.07");
	ck_assert_str_eq(coap_code_str(COAP_CONTENT, b), "2.05");
	ck_assert_str_eq(coap_code_str(COAP_CONTINUE, b), "2.31");
	ck_assert_str_eq(coap_code_str(COAP_NOT_FOUND, b), "4.04");
	ck_assert_str_eq(coap_code_str(COAP_PRECONDITION_FAILED, b), "4.12");
	ck_assert_str_eq(coap_code_str(COAP_TOO_MANY_REQUESTS, b), "4.29");
	ck_assert_str_eq(coap_code_str(COAP_PROXYING_NOT_SUPPORTED, b),
	    "5.05");
	ck_assert_str_eq(coap_code_str(0xff, b), "7.31");
	ck_assert_ptr_eq(coap_code_str(0, b), b);
}
END_TEST

START_TEST(perr_str)
{
	const char	*s[COAP_PERR_EMPTY + 1];
	int		 i, j;

	for (i = 0; i <= COAP_PERR_EMPTY; i++) {
		s[i] = coap_perr_str((enum coap_perr)i);
		ck_assert_ptr_nonnull(s[i]);
		ck_assert_uint_gt(strlen(s[i]), 0);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(s[i], s[j]);
	}
}
END_TEST

static Suite *
coap_msg_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("coap_msg");

	tc = tcase_create("parse");
	tcase_add_test(tc, parse_get);
	tcase_add_test(tc, parse_header_only);
	tcase_add_test(tc, parse_payload_no_options);
	tcase_add_test(tc, parse_empty_ok);
	tcase_add_test(tc, parse_repeated_and_delta_zero);
	tcase_add_loop_test(tc, token_lengths, 0, COAP_MAX_TOKEN + 1);
	tcase_add_test(tc, truncations);
	suite_add_tcase(s, tc);

	tc = tcase_create("options");
	tcase_add_loop_test(tc, opt_encoding, 0, (int)NELEM(optenc));
	tcase_add_test(tc, opt_delta_relative);
	tcase_add_test(tc, opt_num_max);
	tcase_add_test(tc, opt_max_count);
	tcase_add_test(tc, opt_uint);
	tcase_add_test(tc, uint_len);
	tcase_add_test(tc, opt_known);
	tcase_add_test(tc, unknown_critical_none);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_loop_test(tc, malformed, 0, (int)NELEM(bad));
	tcase_add_loop_test(tc, tkl_reserved, 9, 16);
	tcase_add_test(tc, too_many_options);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_loop_test(tc, roundtrip_random, 0, 4);
	tcase_add_test(tc, roundtrip_exact_bytes);
	tcase_add_test(tc, enc_out_of_order);
	tcase_add_test(tc, enc_bad_tkl);
	tcase_add_test(tc, enc_no_overflow);
	tcase_add_test(tc, enc_uint);
	suite_add_tcase(s, tc);

	tc = tcase_create("resp");
	tcase_add_test(tc, resp_sorted_stable);
	tcase_add_test(tc, resp_exact_bytes);
	tcase_add_test(tc, resp_enospc);
	tcase_add_test(tc, resp_encode_small);
	tcase_add_test(tc, resp_copy);
	suite_add_tcase(s, tc);

	tc = tcase_create("uri_path");
	tcase_add_test(tc, uri_path_ok);
	tcase_add_test(tc, uri_path_bad);
	tcase_add_test(tc, uri_path_too_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("rfc7252");
	tcase_add_test(tc, rfc_version);
	tcase_add_test(tc, rfc_tkl);
	tcase_add_test(tc, rfc_marker);
	tcase_add_test(tc, rfc_reserved_nibbles);
	tcase_add_test(tc, rfc_option_order);
	tcase_add_test(tc, rfc_uint_leading_zero);
	tcase_add_test(tc, rfc_empty);
	tcase_add_test(tc, rfc_reject_needs_mid);
	tcase_add_test(tc, rfc_unknown_critical);
	tcase_add_test(tc, rfc_option_length_range);
	tcase_add_test(tc, rfc_option_repeat);
	tcase_add_test(tc, rfc_uri_path_dots);
	tcase_add_test(tc, rfc_repeat_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("text");
	tcase_add_test(tc, code_str);
	tcase_add_test(tc, perr_str);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return th_run(coap_msg_suite());
}
