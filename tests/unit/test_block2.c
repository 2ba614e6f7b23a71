/*
 * test_block2.c - block2_respond() (src/proto/block.c): a representation held in
 * memory answered block by block (RFC 7959 §2.2, §2.4, §4).  Requests are
 * byte vectors built with the encoder; the response is encoded and parsed
 * back, so the fields checked are the ones a client would see.
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

#define DATA_LEN	4096

static uint8_t data[DATA_LEN];

/* A request and the response block2_respond() made for it. */
struct call {
	uint8_t		 req[256];
	struct coap_msg	 m;
	struct coap_resp r;
	uint8_t		 payload[COAP_PAYLOAD_MAX];
	int		 rc;
	uint8_t		 out[COAP_MAX_MSG];
	struct coap_msg	 ans;		/* the response, parsed */
};

static struct call c;

static void
setup(void)
{
	size_t	 i;

	/* No period that divides a block size: misplaced bytes show. */
	for (i = 0; i < DATA_LEN; i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	memset(&c, 0, sizeof(c));
}

/* Encode an option value in exactly len bytes (leading zeros allowed). */
static void
put_uint(uint8_t *val, size_t len, uint32_t v)
{
	size_t	 i;

	for (i = len; i > 0; i--) {
		val[i - 1] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * Build a GET with nblock Block2 options (value block, blen bytes each)
 * and, when size2 is true, a Size2 of 0; then call block2_respond() for
 * total bytes of data with max_szx and a payload buffer of cap bytes.
 */
static void
run(int nblock, uint32_t block, size_t blen, bool size2, size_t total,
    uint8_t max_szx, size_t cap)
{
	struct coap_enc	 e;
	uint8_t		 val[4];
	ssize_t		 n;
	int		 i;

	coap_enc_init(&e, c.req, sizeof(c.req), COAP_TYPE_CON, COAP_GET,
	    0x1234, (const uint8_t *)"tk", 2);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "r", 1);
	put_uint(val, blen, block);
	for (i = 0; i < nblock; i++)
		coap_enc_opt(&e, COAP_OPT_BLOCK2, val, blen);
	if (size2)
		coap_enc_opt(&e, COAP_OPT_SIZE2, NULL, 0);
	n = coap_enc_finish(&e);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(coap_msg_parse(&c.m, c.req, (size_t)n), 0);

	coap_resp_init(&c.r, c.payload, cap);
	c.rc = block2_respond(&c.r, &c.m, data, total, max_szx);
	ck_assert_int_eq(c.rc, 0);
	n = coap_resp_encode(&c.r, c.out, sizeof(c.out), COAP_TYPE_ACK,
	    0x1234, (const uint8_t *)"tk", 2);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(coap_msg_parse(&c.ans, c.out, (size_t)n), 0);
}

/* Shorthands: no Block2 / one Block2 of the shortest length. */
static void
get_whole(size_t total, bool size2)
{
	run(0, 0, 0, size2, total, BLOCK_SZX_MAX, COAP_PAYLOAD_MAX);
}

static void
get_block(uint32_t num, uint8_t szx, bool size2, size_t total,
    uint8_t max_szx)
{
	uint32_t v = block_opt_encode(num, false, szx);

	run(1, v, coap_uint_len(v), size2, total, max_szx, COAP_PAYLOAD_MAX);
}

static bool
ans_uint(uint16_t num, uint32_t *v)
{
	const struct coap_opt *o = coap_msg_opt(&c.ans, num);

	if (o == NULL)
		return false;
	ck_assert_int_eq(coap_opt_uint(o, v), 0);
	return true;
}

/* The response carries data[off .. off+len) as its payload. */
static void
expect_data(size_t off, size_t len)
{
	ck_assert_uint_eq(c.ans.code, COAP_CONTENT);
	ck_assert_uint_eq(c.ans.payload_len, len);
	if (len > 0)
		ck_assert_mem_eq(c.ans.payload, data + off, len);
	else
		ck_assert_ptr_null(c.ans.payload);
}

/* Block2 of the response is (num, more, szx). */
static void
expect_block2(uint32_t num, bool more, uint8_t szx)
{
	struct block_opt b;
	uint32_t	 v;

	ck_assert_msg(ans_uint(COAP_OPT_BLOCK2, &v), "no Block2");
	ck_assert_int_eq(block_opt_decode(v, &b), 0);
	ck_assert_uint_eq(b.num, num);
	ck_assert_uint_eq(b.more, more);
	ck_assert_uint_eq(b.szx, szx);
	ck_assert_uint_eq(coap_msg_opt_count(&c.ans, COAP_OPT_BLOCK2), 1);
}

static void
expect_no_block2(void)
{
	ck_assert_ptr_null(coap_msg_opt(&c.ans, COAP_OPT_BLOCK2));
}

static void
expect_size2(uint32_t total)
{
	uint32_t	 v;

	ck_assert_msg(ans_uint(COAP_OPT_SIZE2, &v), "no Size2");
	ck_assert_uint_eq(v, total);
}

static void
expect_no_size2(void)
{
	ck_assert_ptr_null(coap_msg_opt(&c.ans, COAP_OPT_SIZE2));
}

/* An error code and nothing else: no payload, no Block2, no Size2. */
static void
expect_error(uint8_t code)
{
	ck_assert_uint_eq(c.ans.code, code);
	ck_assert_uint_eq(c.ans.payload_len, 0);
	expect_no_block2();
	expect_no_size2();
}

/* A representation that fits one message goes whole, without options. */
START_TEST(whole_small)
{
	get_whole(100, false);
	expect_data(0, 100);
	expect_no_block2();
	expect_no_size2();
}
END_TEST

/*
 * RFC 7959 §2.4: without Block2 in the request, a representation larger
 * than a block is answered with block 0 and M set (the server initiates
 * block-wise transfer); §4: Size2 comes with the first block.
 */
START_TEST(rfc_no_block2_large)
{
	get_whole(2500, false);
	expect_data(0, 1024);
	expect_block2(0, true, 6);
	expect_size2(2500);
	/* The server's size is capped by max_szx. */
	run(0, 0, 0, false, 2500, 4, COAP_PAYLOAD_MAX);
	expect_data(0, 256);
	expect_block2(0, true, 4);
	expect_size2(2500);
}
END_TEST

/* RFC 7959 §2.2, §2.4: the block asked for; M clear on the last one. */
START_TEST(rfc_block2_asked)
{
	get_block(1, 6, false, 2500, BLOCK_SZX_MAX);
	expect_data(1024, 1024);
	expect_block2(1, true, 6);
	expect_no_size2();		/* not the first block, not asked */

	get_block(2, 6, false, 2500, BLOCK_SZX_MAX);
	expect_data(2048, 452);
	expect_block2(2, false, 6);
	expect_no_size2();

	/* Block 0 asked explicitly: Block2 and Size2 (§4). */
	get_block(0, 6, false, 2500, BLOCK_SZX_MAX);
	expect_data(0, 1024);
	expect_block2(0, true, 6);
	expect_size2(2500);
}
END_TEST

/*
 * RFC 7959 §2.2: a Block2 in a request may carry its value with leading
 * zero bytes (RFC 7252 §3.2), and the M bit of a request is ignored.
 */
START_TEST(rfc_block2_value_forms)
{
	/* NUM 1, SZX 6 as three bytes 00 00 16. */
	run(1, 0x16, 3, false, 2500, BLOCK_SZX_MAX, COAP_PAYLOAD_MAX);
	expect_data(1024, 1024);
	expect_block2(1, true, 6);
	/* Empty value: NUM 0, SZX 0 (16 bytes). */
	run(1, 0, 0, false, 2500, BLOCK_SZX_MAX, COAP_PAYLOAD_MAX);
	expect_data(0, 16);
	expect_block2(0, true, 0);
	/* M set in the request: same as clear. */
	run(1, block_opt_encode(1, true, 6), 1, false, 2500, BLOCK_SZX_MAX,
	    COAP_PAYLOAD_MAX);
	expect_data(1024, 1024);
	expect_block2(1, true, 6);
}
END_TEST

/*
 * RFC 7959 §2.4: a client may ask for a smaller block than the server's;
 * the server answers with that size and the same NUM.
 */
START_TEST(rfc_smaller_client_size)
{
	get_block(3, 2, false, 2500, BLOCK_SZX_MAX);	/* 64-byte blocks */
	expect_data(192, 64);
	expect_block2(3, true, 2);
	expect_no_size2();

	get_block(0, 2, false, 2500, BLOCK_SZX_MAX);
	expect_data(0, 64);
	expect_block2(0, true, 2);
	expect_size2(2500);

	/* Last 64-byte block: 2500 = 39 * 64 + 4. */
	get_block(39, 2, false, 2500, BLOCK_SZX_MAX);
	expect_data(39 * 64, 4);
	expect_block2(39, false, 2);
}
END_TEST

/*
 * RFC 7959 §2.4: a server that wants a smaller block than the client asked
 * for sends the block at the offset asked for, renumbered for its size
 * (NUM * 2^(SZX - SZX')).
 */
START_TEST(rfc_renumbering)
{
	/* Client: block 1 of 1024 (offset 1024); server max 256. */
	get_block(1, 6, false, 2500, 4);
	expect_data(1024, 256);
	expect_block2(4, true, 4);

	/* Client: block 2 of 1024 (offset 2048); server max 16. */
	get_block(2, 6, false, 2500, 0);
	expect_data(2048, 16);
	expect_block2(128, true, 0);

	/* The payload buffer caps the size too: 100 bytes hold 64. */
	run(1, block_opt_encode(1, false, 6), 1, false, 2500, BLOCK_SZX_MAX,
	    100);
	expect_data(1024, 64);
	expect_block2(16, true, 2);
	run(0, 0, 0, false, 2500, BLOCK_SZX_MAX, 100);
	expect_data(0, 64);
	expect_block2(0, true, 2);
	expect_size2(2500);
}
END_TEST

/*
 * A block that starts at or past the end does not exist: 4.00 (RFC 7959
 * names no code; block.h documents 4.00).
 */
START_TEST(block_past_end_400)
{
	get_block(1, 6, false, 100, BLOCK_SZX_MAX);
	expect_error(COAP_BAD_REQUEST);
	get_block(3, 6, false, 2500, BLOCK_SZX_MAX);
	expect_error(COAP_BAD_REQUEST);
	/* Starts exactly at the end. */
	get_block(2, 6, false, 2048, BLOCK_SZX_MAX);
	expect_error(COAP_BAD_REQUEST);
	get_block(1, 0, false, 16, BLOCK_SZX_MAX);
	expect_error(COAP_BAD_REQUEST);
	/* Of an empty representation, only block 0 exists. */
	get_block(1, 0, false, 0, BLOCK_SZX_MAX);
	expect_error(COAP_BAD_REQUEST);
	/* The largest NUM: far past any end, no overflow. */
	get_block(BLOCK_NUM_MAX, 6, false, 2500, BLOCK_SZX_MAX);
	expect_error(COAP_BAD_REQUEST);
}
END_TEST

/* RFC 7959 §2.2: SZX 7 is reserved; a request carrying it gets 4.00. */
START_TEST(rfc_szx7_400)
{
	run(1, 0x07, 1, false, 2500, BLOCK_SZX_MAX, COAP_PAYLOAD_MAX);
	expect_error(COAP_BAD_REQUEST);
	run(1, 0x1f, 1, false, 2500, BLOCK_SZX_MAX, COAP_PAYLOAD_MAX);
	expect_error(COAP_BAD_REQUEST);
}
END_TEST

/*
 * RFC 7252 §5.4.5: a repeated non-repeatable critical option (Block2), and
 * §5.4.3: one longer than its 0..3 bytes, are treated as unrecognized:
 * 4.02.
 */
START_TEST(rfc_bad_block2_402)
{
	run(2, 0x16, 1, false, 2500, BLOCK_SZX_MAX, COAP_PAYLOAD_MAX);
	expect_error(COAP_BAD_OPTION);
	run(1, 0x16, 4, false, 2500, BLOCK_SZX_MAX, COAP_PAYLOAD_MAX);
	expect_error(COAP_BAD_OPTION);
}
END_TEST

/*
 * RFC 7959 §4: Size2 with the first block of a block-wise response, and
 * whenever the request carries Size2 (value 0), even for a single message.
 */
START_TEST(rfc_size2)
{
	get_whole(100, true);
	expect_data(0, 100);
	expect_no_block2();
	expect_size2(100);

	get_block(2, 6, true, 2500, BLOCK_SZX_MAX);
	expect_data(2048, 452);
	expect_block2(2, false, 6);
	expect_size2(2500);

	get_block(1, 6, true, 2500, BLOCK_SZX_MAX);
	expect_block2(1, true, 6);
	expect_size2(2500);
}
END_TEST

/*
 * A size that is an exact multiple of the block: the last block is full
 * and has M = 0 (RFC 7959 §2.2), and no empty block follows.
 */
START_TEST(rfc_exact_multiple)
{
	get_whole(2048, false);
	expect_data(0, 1024);
	expect_block2(0, true, 6);
	expect_size2(2048);

	get_block(1, 6, false, 2048, BLOCK_SZX_MAX);
	expect_data(1024, 1024);
	expect_block2(1, false, 6);

	/* One whole block: a single message, no Block2 needed. */
	get_whole(1024, false);
	expect_data(0, 1024);
	expect_no_block2();
	expect_no_size2();

	/* The same asked as block 0: Block2 with M = 0, and Size2. */
	get_block(0, 6, false, 1024, BLOCK_SZX_MAX);
	expect_data(0, 1024);
	expect_block2(0, false, 6);
	expect_size2(1024);

	/* 64 * 16 with 16-byte blocks: block 63 is the last. */
	get_block(63, 0, false, 1024, BLOCK_SZX_MAX);
	expect_data(1008, 16);
	expect_block2(63, false, 0);
	get_block(64, 0, false, 1024, BLOCK_SZX_MAX);
	expect_error(COAP_BAD_REQUEST);
}
END_TEST

/* An empty representation: 2.05 with no payload; block 0 exists. */
START_TEST(empty_representation)
{
	get_whole(0, false);
	expect_data(0, 0);
	expect_no_block2();
	expect_no_size2();

	get_block(0, 6, false, 0, BLOCK_SZX_MAX);
	expect_data(0, 0);
	expect_block2(0, false, 6);
	expect_size2(0);

	get_whole(0, true);
	expect_data(0, 0);
	expect_size2(0);
}
END_TEST

/* Every block of every size reassembles to the original bytes. */
START_TEST(reassemble_all_sizes)
{
	static const size_t totals[] = { 1, 15, 16, 17, 1000, 1024, 1025,
	    3000, DATA_LEN };
	static uint8_t got[DATA_LEN];
	struct block_opt b;
	size_t		 t, len;
	uint32_t	 num, v;
	uint8_t		 szx;

	for (t = 0; t < sizeof(totals) / sizeof(totals[0]); t++)
		for (szx = 0; szx <= BLOCK_SZX_MAX; szx++) {
			len = 0;
			for (num = 0;; num++) {
				get_block(num, szx, false, totals[t],
				    BLOCK_SZX_MAX);
				ck_assert_uint_eq(c.ans.code, COAP_CONTENT);
				ck_assert(ans_uint(COAP_OPT_BLOCK2, &v));
				ck_assert_int_eq(block_opt_decode(v, &b), 0);
				ck_assert_uint_eq(b.num, num);
				ck_assert_uint_eq(b.szx, szx);
				ck_assert_uint_le(len + c.ans.payload_len,
				    sizeof(got));
				memcpy(got + len, c.ans.payload,
				    c.ans.payload_len);
				len += c.ans.payload_len;
				if (!b.more)
					break;
				ck_assert_uint_eq(c.ans.payload_len,
				    block_size(szx));
			}
			ck_assert_uint_eq(len, totals[t]);
			ck_assert_mem_eq(got, data, len);
		}
}
END_TEST

/* A payload buffer under 16 bytes holds no block: -ENOSPC. */
START_TEST(tiny_buffer_enospc)
{
	struct coap_enc	 e;
	ssize_t		 n;

	coap_enc_init(&e, c.req, sizeof(c.req), COAP_TYPE_CON, COAP_GET, 1,
	    NULL, 0);
	n = coap_enc_finish(&e);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(coap_msg_parse(&c.m, c.req, (size_t)n), 0);
	coap_resp_init(&c.r, c.payload, 8);
	ck_assert_int_eq(block2_respond(&c.r, &c.m, data, 100, BLOCK_SZX_MAX),
	    -ENOSPC);
}
END_TEST

static Suite *
block2_suite(void)
{
	Suite	*s = suite_create("block2");
	TCase	*tc = tcase_create("respond");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, whole_small);
	tcase_add_test(tc, rfc_no_block2_large);
	tcase_add_test(tc, rfc_block2_asked);
	tcase_add_test(tc, rfc_block2_value_forms);
	tcase_add_test(tc, rfc_smaller_client_size);
	tcase_add_test(tc, rfc_renumbering);
	tcase_add_test(tc, block_past_end_400);
	tcase_add_test(tc, rfc_szx7_400);
	tcase_add_test(tc, rfc_bad_block2_402);
	tcase_add_test(tc, rfc_size2);
	tcase_add_test(tc, rfc_exact_multiple);
	tcase_add_test(tc, empty_representation);
	tcase_add_test(tc, reassemble_all_sizes);
	tcase_add_test(tc, tiny_buffer_enospc);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(block2_suite());
}
