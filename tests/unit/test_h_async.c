/*
 * test_h_async.c - uploads committed through the worker's ring
 * (src/serve/h_file_async.c) in the real worker, seen by a raw datagram
 * client: a one-message PUT and the last block of a Block1 upload are
 * written, fsynced and published by ring operations (uploads_async
 * counts them), answered 2.01 / 2.04 with an ETag; a precondition refused
 * at the last block answers 4.12 without the ring; the blocks before the
 * last are written on the ring and answered 2.31 (writes_async); the
 * last block sent again with a new message ID gets the same answer
 * (RFC 7959 §2.5).
 * A Block2 block that is not in the page cache is read on the ring
 * (reads_async counts it), a cached one at once.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fcntl.h>
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
 * method /up/name (CON, a fresh MID or `again`) with opts and body; the
 * answer (piggybacked, or after an empty ACK the separate response) in m.
 * A 4.01 with Echo (the amplification guard, before a fresh address has
 * shown it receives: a GET's answer is larger than its request) is met
 * once, by asking again with that Echo.
 */
static void
call(uint8_t method, const char *name, const struct topt *opts,
    size_t nopts, const void *body, size_t len, uint16_t again,
    struct coap_msg *m, uint8_t *buf, size_t cap)
{
	struct coap_enc	 e;
	const struct coap_opt *o;
	uint8_t		 req[512], echo[40];
	uint16_t	 id = again != 0 ? again : mid++;
	size_t		 i, n, elen = 0;
	ssize_t		 rl;

again:
	coap_enc_init(&e, req, sizeof(req), COAP_TYPE_CON, method, id, TOK,
	    sizeof(TOK));
	/* options in ascending order: those before Uri-Path (11) first */
	for (i = 0; i < nopts && opts[i].num < COAP_OPT_URI_PATH; i++)
		coap_enc_opt(&e, opts[i].num, opts[i].val, opts[i].len);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "up", 2);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, name, strlen(name));
	for (; i < nopts; i++)
		coap_enc_opt(&e, opts[i].num, opts[i].val, opts[i].len);
	if (elen > 0)	/* 252: after every option used here */
		coap_enc_opt(&e, COAP_OPT_ECHO, echo, elen);
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
	if (m->code == COAP_UNAUTHORIZED && elen == 0 &&
	    (o = coap_msg_opt(m, COAP_OPT_ECHO)) != NULL) {
		ck_assert_uint_le(o->len, sizeof(echo));
		memcpy(echo, o->val, elen = o->len);
		id = mid++;
		goto again;
	}
}

static void
put(const char *name, const struct topt *opts, size_t nopts,
    const void *body, size_t len, uint16_t again, struct coap_msg *m,
    uint8_t *buf, size_t cap)
{
	call(COAP_PUT, name, opts, nopts, body, len, again, m, buf, cap);
}

static uint64_t
async_reads(void)
{
	return metrics_get(&worker_metrics(w)->reads_async);
}

/*
 * Drop www/rel's pages from the page cache (written back first); false
 * when the file system keeps them anyway (tmpfs).  mincore(2) looks
 * without reading: a read, even RWF_NOWAIT, would start readahead.
 */
static bool
uncache(const char *rel)
{
	char		 p[128];
	unsigned char	 vec[64];
	struct stat	 st;
	size_t		 i, pages;
	void		*map;
	int		 fd;
	bool		 gone = true;

	snprintf(p, sizeof(p), "%s/www/%s", dir, rel);
	ck_assert_int_ge(fd = open(p, O_RDONLY | O_CLOEXEC), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	pages = ((size_t)st.st_size + 4095) / 4096;
	ck_assert_uint_le(pages, sizeof(vec));
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mincore(map, (size_t)st.st_size, vec), 0);
	for (i = 0; i < pages; i++)
		if (vec[i] & 1)
			gone = false;
	munmap(map, (size_t)st.st_size);
	close(fd);
	return gone;
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
	/* the blocks before it were written on the ring too */
	ck_assert_uint_eq(metrics_get(&worker_metrics(w)->writes_async), 2);
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

/* GET block num (SZX 2: 64 bytes) of big.bin, FILE_LEN bytes long. */
#define FILE_LEN	(65536 - 44)	/* the last block: 20 bytes */
static void
get_block(uint32_t num, struct coap_msg *m, uint8_t *buf, size_t cap)
{
	bool		 more = (num + 1) * 64 < FILE_LEN;
	uint8_t		 v[4];
	struct topt	 o = { COAP_OPT_BLOCK2, v, 0 };

	o.len = th_uint_opt(block_opt_encode(num, false, 2), v);
	call(COAP_GET, "big.bin", &o, 1, NULL, 0, 0, m, buf, cap);
	ck_assert_uint_eq(m->code, COAP_CONTENT);
	ck_assert_uint_eq(opt_uint(m, COAP_OPT_BLOCK2),
	    block_opt_encode(num, more, 2));
	ck_assert_ptr_nonnull(coap_msg_opt(m, COAP_OPT_ETAG));
	ck_assert_uint_eq(m->payload_len, more ? 64 : FILE_LEN - num * 64);
}

START_TEST(block2_read_on_the_ring)
{
	static uint8_t	 file[FILE_LEN];
	struct coap_msg	 m;
	uint8_t		 buf[1500];
	size_t		 i;
	bool		 dropped;

	for (i = 0; i < sizeof(file); i++)
		file[i] = (uint8_t)(i * 7 + i / 251);
	th_put(dir, "www/big.bin", file, sizeof(file));
	dropped = uncache("big.bin");
	get_block(100, &m, buf, sizeof(buf));
	ck_assert_mem_eq(m.payload, file + 6400, 64);
	if (!dropped) {
		/* tmpfs: nothing waits for a disk, nothing is asked of the ring */
		fprintf(stderr, "block2_read_on_the_ring: page cache kept\n");
		ck_assert_uint_eq(async_reads(), 0);
		return;
	}
	ck_assert_uint_eq(async_reads(), 1);
	/* the block (and its readahead) is cached now: read at once */
	get_block(100, &m, buf, sizeof(buf));
	ck_assert_mem_eq(m.payload, file + 6400, 64);
	ck_assert_uint_eq(async_reads(), 1);
	/* the last block, short of 64: the read stops at the end */
	ck_assert(uncache("big.bin"));
	get_block(1023, &m, buf, sizeof(buf));
	ck_assert_mem_eq(m.payload, file + 1023 * 64, FILE_LEN - 1023 * 64);
	ck_assert_uint_eq(async_reads(), 2);
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
	tcase_add_test(tc, block2_read_on_the_ring);
	suite_add_tcase(s, tc);
	return th_run(s);
}
