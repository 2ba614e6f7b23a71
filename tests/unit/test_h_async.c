/*
 * test_h_async.c - uploads committed through the worker's ring
 * (src/serve/h_file_async.c) in the real worker, seen by a raw datagram
 * client: a one-message PUT and the last block of a Block1 upload are
 * written, fsynced and published by ring operations (uploads_async
 * counts them), answered 2.01 / 2.04 with an ETag; a precondition refused
 * at the last block answers 4.12 without the ring; the last block sent
 * again with a new message ID gets the same answer (RFC 7959 §2.5).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "adapt/cfg.h"
#include "proto/block.h"
#include "proto/coap_msg.h"
#include "proto/metrics.h"
#include "serve/handler.h"
#include "serve/worker.h"

#include "helpers.h"

static char		 dir[64];
static struct cfg	*cfg;
static struct worker	*w;
static struct h_env	 env;
static atomic_uint_least64_t gen;
static int		 srv = -1, cli = -1;
static uint16_t		 mid = 0x2000;

static const uint8_t TOK[] = { 0xa5, 0x1c };

static void
setup(void)
{
	struct sockaddr_in	 a;

	th_mkdtemp(dir, sizeof(dir), "hasync");
	th_mkdir(dir, "www");
	cfg = th_cfg_load(dir, "coapd.conf", "workers = 1;\n"
	    "routes = ( { path = \"/up\"; static = \"www\"; writable = true;"
	    " methods = [ \"GET\", \"PUT\" ]; block_size = 64; } );\n");
	handler_table_init(&env);
	env.file_gen = &gen;
	srv = th_worker(&w, cfg, &env, &a);
	cli = th_client(&a);
}

static void
teardown(void)
{
	th_worker_end(w, srv);
	cfg_unref(cfg);
	close(cli);
	th_rmtree(dir);
}

static uint64_t
async_commits(void)
{
	return metrics_get(&worker_metrics(w)->uploads_async);
}

/*
 * PUT /up/name (CON, a fresh MID or `again`) with opts and body; the
 * answer (piggybacked, or after an empty ACK the separate response) in m.
 */
static void
put(const char *name, const struct topt *opts, size_t nopts,
    const void *body, size_t len, uint16_t again, struct coap_msg *m,
    uint8_t *buf, size_t cap)
{
	struct coap_enc	 e;
	uint8_t		 req[512];
	uint16_t	 id = again != 0 ? again : mid++;
	size_t		 i, n;
	ssize_t		 rl;

	coap_enc_init(&e, req, sizeof(req), COAP_TYPE_CON, COAP_PUT, id, TOK,
	    sizeof(TOK));
	/* options in ascending order: those before Uri-Path (11) first */
	for (i = 0; i < nopts && opts[i].num < COAP_OPT_URI_PATH; i++)
		coap_enc_opt(&e, opts[i].num, opts[i].val, opts[i].len);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "up", 2);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, name, strlen(name));
	for (; i < nopts; i++)
		coap_enc_opt(&e, opts[i].num, opts[i].val, opts[i].len);
	coap_enc_payload(&e, body, len);
	ck_assert_int_gt(rl = coap_enc_finish(&e), 0);
	ck_assert_int_eq(send(cli, req, (size_t)rl, 0), rl);
	ck_assert_msg(th_recv(cli, m, buf, cap, &n, 2000), "no answer");
	if (m->type == COAP_TYPE_ACK && m->code == COAP_EMPTY) {
		/* a slow disk: the answer comes as a separate response */
		ck_assert_msg(th_recv(cli, m, buf, cap, &n, 5000),
		    "no separate response");
		ck_assert_uint_eq(m->type, COAP_TYPE_CON);
		th_send_empty(cli, COAP_TYPE_ACK, m->mid);
	} else {
		ck_assert_uint_eq(m->type, COAP_TYPE_ACK);
		ck_assert_uint_eq(m->mid, id);
	}
	ck_assert_mem_eq(m->token, TOK, sizeof(TOK));
}

static uint32_t
opt_uint(const struct coap_msg *m, uint16_t num)
{
	const struct coap_opt	*o = coap_msg_opt(m, num);
	uint32_t		 v;

	ck_assert_msg(o != NULL, "option %u missing", num);
	ck_assert_int_eq(coap_opt_uint(o, &v), 0);
	return v;
}

START_TEST(one_message_put)
{
	struct coap_msg	 m;
	uint8_t		 buf[1500];

	put("a.txt", NULL, 0, "first\n", 6, 0, &m, buf, sizeof(buf));
	ck_assert_uint_eq(m.code, COAP_CREATED);
	ck_assert_ptr_nonnull(coap_msg_opt(&m, COAP_OPT_ETAG));
	ck_assert_uint_eq(async_commits(), 1);
	th_expect_file(dir, "www/a.txt", "first\n", 6);
	put("a.txt", NULL, 0, "second!\n", 8, 0, &m, buf, sizeof(buf));
	ck_assert_uint_eq(m.code, COAP_CHANGED);
	ck_assert_uint_eq(async_commits(), 2);
	th_expect_file(dir, "www/a.txt", "second!\n", 8);
	/* an empty body is committed too (no write, only the fsyncs) */
	put("e.txt", NULL, 0, NULL, 0, 0, &m, buf, sizeof(buf));
	ck_assert_uint_eq(m.code, COAP_CREATED);
	ck_assert_uint_eq(async_commits(), 3);
	th_expect_file(dir, "www/e.txt", "", 0);
}
END_TEST

START_TEST(block1_last_block)
{
	struct coap_msg	 m;
	uint8_t		 buf[1500], body[150], v[4];
	struct topt	 o = { COAP_OPT_BLOCK1, v, 0 };
	uint32_t	 num;
	size_t		 off, n;

	for (n = 0; n < sizeof(body); n++)
		body[n] = (uint8_t)('a' + n % 26);
	/* three blocks of 64 (SZX 2): 64 + 64 + 22 */
	for (num = 0, off = 0; off < sizeof(body); num++, off += 64) {
		n = sizeof(body) - off < 64 ? sizeof(body) - off : 64;
		o.len = th_uint_opt(block_opt_encode(num, off + n <
		    sizeof(body), 2), v);
		put("b.bin", &o, 1, body + off, n, 0, &m, buf, sizeof(buf));
		ck_assert_uint_eq(m.code, off + n < sizeof(body) ?
		    COAP_CONTINUE : COAP_CREATED);
	}
	ck_assert_uint_eq(opt_uint(&m, COAP_OPT_BLOCK1),
	    block_opt_encode(2, false, 2));
	ck_assert_uint_eq(async_commits(), 1);
	th_expect_file(dir, "www/b.bin", body, sizeof(body));
	/* the last block again, new MID: the same answer, nothing redone */
	put("b.bin", &o, 1, body + 128, 22, 0, &m, buf, sizeof(buf));
	ck_assert_uint_eq(m.code, COAP_CREATED);
	ck_assert_uint_eq(async_commits(), 1);
}
END_TEST

/* If-None-Match on a file that exists: 4.12, nothing on the ring. */
START_TEST(refused_before_the_ring)
{
	struct coap_msg	 m;
	uint8_t		 buf[1500];
	struct topt	 inm = { COAP_OPT_IF_NONE_MATCH, NULL, 0 };

	th_put_str(dir, "www/x.txt", "old");
	put("x.txt", &inm, 1, "new", 3, 0, &m, buf, sizeof(buf));
	ck_assert_uint_eq(m.code, COAP_PRECONDITION_FAILED);
	ck_assert_uint_eq(async_commits(), 0);
	th_expect_file(dir, "www/x.txt", "old", 3);
	put("y.txt", &inm, 1, "new", 3, 0, &m, buf, sizeof(buf));
	ck_assert_uint_eq(m.code, COAP_CREATED);
	ck_assert_uint_eq(async_commits(), 1);
	th_expect_file(dir, "www/y.txt", "new", 3);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("h_async");
	TCase	*tc = tcase_create("worker");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, one_message_put);
	tcase_add_test(tc, block1_last_block);
	tcase_add_test(tc, refused_before_the_ring);
	suite_add_tcase(s, tc);
	return th_run(s);
}
