/*
 * test_block.c - Block option codec (src/proto/block.c), RFC 7959 §2.2,
 * and the Block2 planner (§2.4, §4): block2_plan, _past_end, _len, _opts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "proto/block.h"
#include "proto/coap_msg.h"

#include "helpers.h"

/* Encode a GET carrying one option per (num, val, len) and parse it. */
static void
build(struct coap_msg *m, uint8_t *buf, size_t cap, uint16_t num,
    const uint8_t *val, size_t len, int times)
{
	struct coap_enc e;
	ssize_t n;
	int i;

	coap_enc_init(&e, buf, cap, COAP_TYPE_CON, COAP_GET, 1, NULL, 0);
	for (i = 0; i < times; i++)
		coap_enc_opt(&e, num, val, len);
	n = coap_enc_finish(&e);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(coap_msg_parse(m, buf, (size_t)n), 0);
}

START_TEST(decode_fields)
{
	struct block_opt b;

	/* NUM 1, M 0, SZX 6: 0x16 */
	ck_assert_int_eq(block_opt_decode(0x16, &b), 0);
	ck_assert_uint_eq(b.num, 1);
	ck_assert(!b.more);
	ck_assert_uint_eq(b.szx, 6);
	/* NUM 0xabcde, M 1, SZX 2 */
	ck_assert_int_eq(block_opt_decode(0xabcde << 4 | 8 | 2, &b), 0);
	ck_assert_uint_eq(b.num, 0xabcde);
	ck_assert(b.more);
	ck_assert_uint_eq(b.szx, 2);
	/* Empty option: block 0 of 16 bytes. */
	ck_assert_int_eq(block_opt_decode(0, &b), 0);
	ck_assert_uint_eq(b.num, 0);
	ck_assert(!b.more);
	ck_assert_uint_eq(b.szx, 0);
}
END_TEST

/* RFC 7959 §2.2: SZX 7 is reserved; in a request it gets 4.00. */
START_TEST(rfc_szx7_reserved)
{
	struct block_opt b;

	ck_assert_int_eq(block_opt_decode(0x17, &b), -EINVAL);
	ck_assert_uint_eq(b.szx, 7);
}
END_TEST

/* RFC 7959 §2.2: the value is at most 3 bytes (NUM has 20 bits). */
START_TEST(rfc_value_max_3_bytes)
{
	struct block_opt b;

	ck_assert_int_eq(block_opt_decode(0xffffff - 1, &b), 0);
	ck_assert_uint_eq(b.num, BLOCK_NUM_MAX);
	ck_assert_int_eq(block_opt_decode(0x1000000, &b), -EINVAL);
}
END_TEST

START_TEST(encode_roundtrip)
{
	struct block_opt b;
	uint32_t nums[] = { 0, 1, 15, 16, 4095, 4096, BLOCK_NUM_MAX };
	size_t i;
	uint8_t szx;
	int more;

	ck_assert_uint_eq(block_opt_encode(0, false, 0), 0);
	ck_assert_uint_eq(block_opt_encode(0, true, 6), 0x0e);
	ck_assert_uint_eq(block_opt_encode(2, false, 6), 0x26);
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		for (szx = 0; szx <= BLOCK_SZX_MAX; szx++)
			for (more = 0; more < 2; more++) {
				ck_assert_int_eq(block_opt_decode(
				    block_opt_encode(nums[i], more, szx), &b),
				    0);
				ck_assert_uint_eq(b.num, nums[i]);
				ck_assert_int_eq(b.more, more);
				ck_assert_uint_eq(b.szx, szx);
			}
	/* Never produces the reserved SZX 7. */
	ck_assert_uint_eq(block_opt_encode(0, false, 7) & 7, 6);
}
END_TEST

START_TEST(sizes)
{
	ck_assert_uint_eq(block_size(0), 16);
	ck_assert_uint_eq(block_size(6), 1024);
	ck_assert_int_eq(block_szx_for(15), -ENOSPC);
	ck_assert_int_eq(block_szx_for(16), 0);
	ck_assert_int_eq(block_szx_for(31), 0);
	ck_assert_int_eq(block_szx_for(512), 5);
	ck_assert_int_eq(block_szx_for(1023), 5);
	ck_assert_int_eq(block_szx_for(1024), 6);
	ck_assert_int_eq(block_szx_for(65536), 6);
}
END_TEST

START_TEST(get_from_message)
{
	struct coap_msg m;
	struct block_opt b;
	uint8_t buf[64];
	const uint8_t v1[] = { 0x2e };			/* 2, M, 1024 */
	const uint8_t v3[] = { 0x01, 0x00, 0x05 };	/* 4096, 512 */

	build(&m, buf, sizeof(buf), COAP_OPT_URI_PATH, (const uint8_t *)"x",
	    1, 1);
	ck_assert_int_eq(block_opt_get(&m, COAP_OPT_BLOCK2, &b), -ENOENT);

	build(&m, buf, sizeof(buf), COAP_OPT_BLOCK2, v1, sizeof(v1), 1);
	ck_assert_int_eq(block_opt_get(&m, COAP_OPT_BLOCK2, &b), 0);
	ck_assert_uint_eq(b.num, 2);
	ck_assert(b.more);
	ck_assert_uint_eq(b.szx, 6);
	ck_assert_int_eq(block_opt_get(&m, COAP_OPT_BLOCK1, &b), -ENOENT);

	build(&m, buf, sizeof(buf), COAP_OPT_BLOCK2, v3, sizeof(v3), 1);
	ck_assert_int_eq(block_opt_get(&m, COAP_OPT_BLOCK2, &b), 0);
	ck_assert_uint_eq(b.num, 4096);
	ck_assert_uint_eq(b.szx, 5);

	/* Empty value: block 0, szx 0. */
	build(&m, buf, sizeof(buf), COAP_OPT_BLOCK1, NULL, 0, 1);
	ck_assert_int_eq(block_opt_get(&m, COAP_OPT_BLOCK1, &b), 0);
	ck_assert_uint_eq(b.num, 0);
	ck_assert_uint_eq(b.szx, 0);
}
END_TEST

/* RFC 7252 §5.4.3 and §5.4.5: bad length or repetition is 4.02. */
START_TEST(rfc_get_malformed)
{
	struct coap_msg m;
	struct block_opt b;
	uint8_t buf[64];
	const uint8_t v1[] = { 0x06 };
	const uint8_t v4[] = { 0, 0, 0, 0x06 };
	const uint8_t v7[] = { 0x07 };

	build(&m, buf, sizeof(buf), COAP_OPT_BLOCK2, v4, sizeof(v4), 1);
	ck_assert_int_eq(block_opt_get(&m, COAP_OPT_BLOCK2, &b), -EBADMSG);
	build(&m, buf, sizeof(buf), COAP_OPT_BLOCK2, v1, sizeof(v1), 2);
	ck_assert_int_eq(block_opt_get(&m, COAP_OPT_BLOCK2, &b), -EBADMSG);
	/* RFC 7959 §2.2: SZX 7 is 4.00, not 4.02. */
	build(&m, buf, sizeof(buf), COAP_OPT_BLOCK2, v7, sizeof(v7), 1);
	ck_assert_int_eq(block_opt_get(&m, COAP_OPT_BLOCK2, &b), -EINVAL);
}
END_TEST

/* The value of option num in r, as an unsigned; false when absent. */
static bool
resp_uint(const struct coap_resp *r, uint16_t num, uint32_t *v)
{
	unsigned i, n = 0;

	for (i = 0; i < r->nopts; i++)
		if (r->opts[i].num == num) {
			ck_assert_int_eq(coap_opt_uint(&r->opts[i], v), 0);
			n++;
		}
	ck_assert_uint_le(n, 1);
	return n == 1;
}

/* RFC 7959 §2.4: no Block2 in the request, the server's size from 0. */
START_TEST(plan_unasked)
{
	struct block2_plan p;

	block2_plan(&p, NULL, 5);
	ck_assert(!p.asked);
	ck_assert_uint_eq(p.szx, 5);
	ck_assert_uint_eq(p.off, 0);
	ck_assert_uint_eq(p.len, 512);
	/* Never more than the protocol's 1024. */
	block2_plan(&p, NULL, 7);
	ck_assert_uint_eq(p.szx, BLOCK_SZX_MAX);
	ck_assert_uint_eq(p.len, 1024);
}
END_TEST

/*
 * RFC 7959 §2.4: the size asked for or a smaller one; a smaller one is
 * renumbered so that the block starts at the offset asked for.
 */
START_TEST(rfc_plan_late_negotiation)
{
	struct block2_plan p;
	struct block_opt b = { .num = 3, .more = false, .szx = 6 };

	block2_plan(&p, &b, 4);			/* 3 x 1024, served in 256s */
	ck_assert(p.asked);
	ck_assert_uint_eq(p.szx, 4);
	ck_assert_uint_eq(p.off, 3072);
	ck_assert_uint_eq(p.len, 256);
	b.szx = 2;				/* smaller than ours: kept */
	block2_plan(&p, &b, 6);
	ck_assert_uint_eq(p.szx, 2);
	ck_assert_uint_eq(p.off, 3 * 64);
	ck_assert_uint_eq(p.len, 64);
	b.num = BLOCK_NUM_MAX;			/* the last NUM: no overflow */
	b.szx = 6;
	block2_plan(&p, &b, 6);
	ck_assert_uint_eq(p.off, (uint64_t)BLOCK_NUM_MAX << 10);
}
END_TEST

START_TEST(plan_past_end_and_len)
{
	struct block2_plan p;
	struct block_opt b = { .num = 0, .more = false, .szx = 4 };

	/* Block 0 exists even of an empty representation. */
	block2_plan(&p, &b, 6);
	ck_assert(!block2_past_end(&p, 0));
	ck_assert_uint_eq(block2_len(&p, 0), 0);
	ck_assert_uint_eq(block2_len(&p, 100), 100);
	ck_assert_uint_eq(block2_len(&p, 1000), 256);
	b.num = 2;				/* bytes 512..767 */
	block2_plan(&p, &b, 6);
	ck_assert(block2_past_end(&p, 512));
	ck_assert(!block2_past_end(&p, 513));
	ck_assert_uint_eq(block2_len(&p, 512), 0);
	ck_assert_uint_eq(block2_len(&p, 513), 1);
	ck_assert_uint_eq(block2_len(&p, 768), 256);
	ck_assert_uint_eq(block2_len(&p, 5000), 256);
}
END_TEST

/* RFC 7959 §2.2, §4: Block2 and Size2 of an answer. */
START_TEST(rfc_block2_opts)
{
	struct coap_resp r;
	struct block2_plan p;
	struct block_opt b = { .num = 1, .more = false, .szx = 6 };
	struct block_opt got;
	uint8_t buf[COAP_PAYLOAD_MAX];
	uint32_t v;

	/* Whole in one message, not asked: no options at all. */
	coap_resp_init(&r, buf, sizeof(buf));
	block2_plan(&p, NULL, 6);
	ck_assert_int_eq(block2_opts(&r, &p, 100, 100, false), 0);
	ck_assert_uint_eq(r.nopts, 0);
	/* ... but Size2 when the request asked for it. */
	ck_assert_int_eq(block2_opts(&r, &p, 100, 100, true), 0);
	ck_assert(!resp_uint(&r, COAP_OPT_BLOCK2, &v));
	ck_assert(resp_uint(&r, COAP_OPT_SIZE2, &v));
	ck_assert_uint_eq(v, 100);

	/* Block 0 of more: Block2 with M, and Size2 unasked. */
	coap_resp_init(&r, buf, sizeof(buf));
	ck_assert_int_eq(block2_opts(&r, &p, 3000, 1024, false), 0);
	ck_assert(resp_uint(&r, COAP_OPT_BLOCK2, &v));
	ck_assert_int_eq(block_opt_decode(v, &got), 0);
	ck_assert_uint_eq(got.num, 0);
	ck_assert(got.more);
	ck_assert_uint_eq(got.szx, 6);
	ck_assert(resp_uint(&r, COAP_OPT_SIZE2, &v));
	ck_assert_uint_eq(v, 3000);

	/* A later block, renumbered to 512s: no Size2 unless asked. */
	coap_resp_init(&r, buf, sizeof(buf));
	block2_plan(&p, &b, 5);			/* bytes 1024..1535 */
	ck_assert_int_eq(block2_opts(&r, &p, 3000, 512, false), 0);
	ck_assert(resp_uint(&r, COAP_OPT_BLOCK2, &v));
	ck_assert_int_eq(block_opt_decode(v, &got), 0);
	ck_assert_uint_eq(got.num, 2);
	ck_assert(got.more);
	ck_assert_uint_eq(got.szx, 5);
	ck_assert(!resp_uint(&r, COAP_OPT_SIZE2, &v));

	/* The last block: M clear; M follows the bytes actually sent. */
	coap_resp_init(&r, buf, sizeof(buf));
	ck_assert_int_eq(block2_opts(&r, &p, 1536, 512, false), 0);
	ck_assert(resp_uint(&r, COAP_OPT_BLOCK2, &v));
	ck_assert_int_eq(block_opt_decode(v, &got), 0);
	ck_assert(!got.more);
	coap_resp_init(&r, buf, sizeof(buf));
	ck_assert_int_eq(block2_opts(&r, &p, 3000, 100, false), 0);
	ck_assert(resp_uint(&r, COAP_OPT_BLOCK2, &v));
	ck_assert_int_eq(block_opt_decode(v, &got), 0);
	ck_assert(got.more);

	/* Block 0 asked of a small representation: Block2 and Size2. */
	coap_resp_init(&r, buf, sizeof(buf));
	b.num = 0;
	block2_plan(&p, &b, 6);
	ck_assert_int_eq(block2_opts(&r, &p, 10, 10, false), 0);
	ck_assert(resp_uint(&r, COAP_OPT_BLOCK2, &v));
	ck_assert_uint_eq(v, block_opt_encode(0, false, 6));
	ck_assert(resp_uint(&r, COAP_OPT_SIZE2, &v));
	ck_assert_uint_eq(v, 10);
}
END_TEST

/* NUM has 20 bits (RFC 7959 §2.2); Size2 32 (§4). */
START_TEST(block2_opts_limits)
{
	struct coap_resp r;
	struct block2_plan p;
	struct block_opt b = { .num = BLOCK_NUM_MAX, .more = false, .szx = 6 };
	uint8_t buf[COAP_PAYLOAD_MAX];
	uint32_t v;

	/* The last NUM of 1024s renumbered to 16s does not fit: -EFBIG. */
	coap_resp_init(&r, buf, sizeof(buf));
	block2_plan(&p, &b, 0);
	ck_assert_int_eq(block2_opts(&r, &p, UINT64_MAX, 16, false), -EFBIG);
	ck_assert_uint_eq(r.nopts, 0);
	/* It does at its own size; a total past 32 bits gets no Size2. */
	block2_plan(&p, &b, 6);
	ck_assert_int_eq(block2_opts(&r, &p, 1ULL << 40, 1024, true), 0);
	ck_assert(resp_uint(&r, COAP_OPT_BLOCK2, &v));
	ck_assert_uint_eq(v, block_opt_encode(BLOCK_NUM_MAX, true, 6));
	ck_assert(!resp_uint(&r, COAP_OPT_SIZE2, &v));
}
END_TEST

static Suite *
block_suite(void)
{
	Suite *s = suite_create("block");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, decode_fields);
	tcase_add_test(tc, rfc_szx7_reserved);
	tcase_add_test(tc, rfc_value_max_3_bytes);
	tcase_add_test(tc, encode_roundtrip);
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, get_from_message);
	tcase_add_test(tc, rfc_get_malformed);
	tcase_add_test(tc, plan_unasked);
	tcase_add_test(tc, rfc_plan_late_negotiation);
	tcase_add_test(tc, plan_past_end_and_len);
	tcase_add_test(tc, rfc_block2_opts);
	tcase_add_test(tc, block2_opts_limits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(block_suite());
}
