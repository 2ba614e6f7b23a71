/*
 * test_fwd.c - requests forwarded to backends and their answers
 * (src/proto/fwd.c).
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <string.h>

#include <check.h>

#include "base/net.h"
#include "proto/coap_msg.h"
#include "proto/fwd.h"

#include "helpers.h"

/* A request: GET coap://h:5683/app/a/b?x=1 with Block2 and a payload. */
static size_t
client_request(uint8_t *buf, size_t cap)
{
	struct coap_enc	 e;
	const uint8_t	 tok[2] = { 0xab, 0xcd };

	coap_enc_init(&e, buf, cap, COAP_TYPE_CON, COAP_PUT, 0x1234, tok, 2);
	coap_enc_opt(&e, COAP_OPT_URI_HOST, "h", 1);
	coap_enc_opt_uint(&e, COAP_OPT_URI_PORT, 5683);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "app", 3);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "a", 1);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "b", 1);
	coap_enc_opt(&e, COAP_OPT_URI_QUERY, "x=1", 3);
	coap_enc_opt_uint(&e, COAP_OPT_BLOCK1, 0x0e);
	coap_enc_opt(&e, FWD_OPT_CLIENT, "forged", 6);
	coap_enc_payload(&e, "body", 4);
	return (size_t)coap_enc_finish(&e);
}

START_TEST(encode_strips_and_adds)
{
	uint8_t			 in[256], out[512];
	const uint8_t		 tok[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct coap_msg		 m, f;
	const struct coap_opt	*o;
	size_t			 n = client_request(in, sizeof(in)), i, np = 0;
	ssize_t			 fl;

	ck_assert_int_eq(coap_msg_parse(&m, in, n), 0);
	fl = fwd_encode(out, sizeof(out), &m, COAP_TYPE_CON, 0x7777, tok, 8,
	    1, "[::1]:40000", "sensor-1", -1);
	ck_assert_int_gt(fl, 0);
	ck_assert_int_eq(coap_msg_parse(&f, out, (size_t)fl), 0);
	ck_assert_uint_eq(f.mid, 0x7777);
	ck_assert_uint_eq(f.tkl, 8);
	ck_assert_int_eq(memcmp(f.token, tok, 8), 0);
	ck_assert_uint_eq(f.code, COAP_PUT);
	ck_assert_ptr_null(coap_msg_opt(&f, COAP_OPT_URI_HOST));
	ck_assert_ptr_null(coap_msg_opt(&f, COAP_OPT_URI_PORT));
	for (i = 0; i < f.nopts; i++)
		if (f.opts[i].num == COAP_OPT_URI_PATH)
			np++;
	ck_assert_uint_eq(np, 2);
	o = coap_msg_opt(&f, COAP_OPT_URI_PATH);
	ck_assert_int_eq(o->len, 1);
	ck_assert_int_eq(o->val[0], 'a');
	ck_assert_ptr_nonnull(coap_msg_opt(&f, COAP_OPT_URI_QUERY));
	ck_assert_ptr_nonnull(coap_msg_opt(&f, COAP_OPT_BLOCK1));
	/* the client's forged option is replaced by ours */
	ck_assert_uint_eq(coap_msg_opt_count(&f, FWD_OPT_CLIENT), 1);
	o = coap_msg_opt(&f, FWD_OPT_CLIENT);
	ck_assert_int_eq(o->len, 11);
	ck_assert_int_eq(memcmp(o->val, "[::1]:40000", 11), 0);
	o = coap_msg_opt(&f, FWD_OPT_IDENTITY);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(memcmp(o->val, "sensor-1", 8), 0);
	ck_assert_uint_eq(f.payload_len, 4);
	ck_assert_int_eq(memcmp(f.payload, "body", 4), 0);
	/* no identity on plain CoAP; no room: -ENOSPC */
	fl = fwd_encode(out, sizeof(out), &m, COAP_TYPE_CON, 1, tok, 8, 0,
	    "1.2.3.4:5", NULL, -1);
	ck_assert_int_eq(coap_msg_parse(&f, out, (size_t)fl), 0);
	ck_assert_ptr_null(coap_msg_opt(&f, FWD_OPT_IDENTITY));
	ck_assert_uint_eq(coap_msg_opt_count(&f, COAP_OPT_URI_PATH), 3);
	ck_assert_int_lt(fwd_encode(out, 20, &m, COAP_TYPE_CON, 1, tok, 8, 0,
	    "1.2.3.4:5", NULL, -1), 0);
}
END_TEST

/* Observe: left out, or coapd's own value; then re-encoded with 1. */
START_TEST(observe_forwarded)
{
	uint8_t			 in[128], out[256], again[256];
	const uint8_t		 tok[8] = { 8, 7, 6, 5, 4, 3, 2, 1 };
	const struct coap_opt	*o;
	struct coap_enc		 e;
	struct coap_msg		 m, f;
	uint32_t		 v;
	ssize_t			 n, fl;

	coap_enc_init(&e, in, sizeof(in), COAP_TYPE_CON, COAP_GET, 5, tok, 2);
	coap_enc_opt_uint(&e, COAP_OPT_OBSERVE, 0);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "obs", 3);
	n = coap_enc_finish(&e);
	ck_assert_int_eq(coap_msg_parse(&m, in, (size_t)n), 0);
	fl = fwd_encode(out, sizeof(out), &m, COAP_TYPE_CON, 9, tok, 8, 0,
	    "1.2.3.4:5", NULL, -1);
	ck_assert_int_eq(coap_msg_parse(&f, out, (size_t)fl), 0);
	ck_assert_ptr_null(coap_msg_opt(&f, COAP_OPT_OBSERVE));
	ck_assert_int_eq(fwd_reobserve(again, sizeof(again), out,
	    (size_t)fl, 10, 1), -EINVAL);
	fl = fwd_encode(out, sizeof(out), &m, COAP_TYPE_CON, 9, tok, 8, 0,
	    "1.2.3.4:5", NULL, 0);
	ck_assert_int_eq(coap_msg_parse(&f, out, (size_t)fl), 0);
	ck_assert_ptr_nonnull(o = coap_msg_opt(&f, COAP_OPT_OBSERVE));
	ck_assert_int_eq(coap_opt_uint(o, &v), 0);
	ck_assert_uint_eq(v, 0);
	n = fwd_reobserve(again, sizeof(again), out, (size_t)fl, 10, 1);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(coap_msg_parse(&f, again, (size_t)n), 0);
	ck_assert_uint_eq(f.mid, 10);
	ck_assert_int_eq(memcmp(f.token, tok, 8), 0);
	ck_assert_int_eq(coap_opt_uint(coap_msg_opt(&f, COAP_OPT_OBSERVE),
	    &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_ptr_nonnull(coap_msg_opt(&f, COAP_OPT_URI_PATH));
	ck_assert_ptr_nonnull(coap_msg_opt(&f, FWD_OPT_CLIENT));
	ck_assert_int_lt(fwd_reobserve(again, 10, out, (size_t)fl, 10, 1), 0);
}
END_TEST

START_TEST(response_relayed)
{
	uint8_t			 in[256], pay[COAP_PAYLOAD_MAX];
	struct coap_enc		 e;
	struct coap_msg		 m;
	struct coap_resp	 r;
	const uint8_t		 tok[1] = { 9 };
	ssize_t			 n;
	size_t			 i;

	coap_enc_init(&e, in, sizeof(in), COAP_TYPE_ACK, COAP_CONTENT, 1,
	    tok, 1);
	coap_enc_opt(&e, COAP_OPT_ETAG, "e1", 2);
	coap_enc_opt_uint(&e, COAP_OPT_OBSERVE, 7);
	coap_enc_opt_uint(&e, COAP_OPT_CONTENT_FORMAT, 50);
	coap_enc_opt_uint(&e, COAP_OPT_BLOCK2, 0x0e);
	coap_enc_opt(&e, FWD_OPT_CLIENT, "x", 1);
	coap_enc_payload(&e, "{}", 2);
	n = coap_enc_finish(&e);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(coap_msg_parse(&m, in, (size_t)n), 0);
	coap_resp_init(&r, pay, sizeof(pay));
	ck_assert_int_eq(fwd_response(&r, &m), 0);
	ck_assert_uint_eq(r.code, COAP_CONTENT);
	ck_assert_uint_eq(r.nopts, 3);
	for (i = 0; i < r.nopts; i++)
		ck_assert(r.opts[i].num != COAP_OPT_OBSERVE &&
		    r.opts[i].num != FWD_OPT_CLIENT);
	ck_assert_uint_eq(r.payload_len, 2);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("fwd");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, encode_strips_and_adds);
	tcase_add_test(tc, response_relayed);
	tcase_add_test(tc, observe_forwarded);
	suite_add_tcase(s, tc);
	return th_run(s);
}
