/*
 * test_h_upload.c - defects of the upload path (issue 15), one test each:
 * setuid/setgid/execute bits kept on replace, a commit through a directory
 * moved away, write errors never logged, the Block2 NUM overflow on small
 * block_size routes, a Block1 block resent with a new message ID, and
 * abandoned uploads holding every slot.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "proto/block.h"
#include "proto/coap_msg.h"
#include "proto/metrics.h"
#include "adapt/cfg.h"
#include "serve/dispatch.h"
#include "serve/h_file.h"
#include "serve/handler.h"

#include "helpers.h"

#define S_NS	1000000000ULL

static char wroot[64], outside[80];
static struct cfg cfg;
static struct cfg_route route;
static void *wstate;
static atomic_uint_least64_t wgen;
static struct h_env wenv = { .file_gen = &wgen };
static struct dispatch engine;
static struct metrics metrics;

static void
setup(void)
{
	th_mkdtemp(wroot, sizeof(wroot), "hup");
	snprintf(outside, sizeof(outside), "%s-out", wroot);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	memset(&cfg, 0, sizeof(cfg));
	th_upload_route(&route, wroot);
	cfg.limits.max_uploads = 32;	/* the default of limits.max_uploads */
	wstate = h_file_ops.worker_init(&cfg, &wenv, NULL);
	ck_assert_ptr_nonnull(wstate);
	memset(&engine, 0, sizeof(engine));
	memset(&metrics, 0, sizeof(metrics));
	engine.m = &metrics;
}

static void
teardown(void)
{
	h_file_ops.worker_fini(wstate);
	close(route.static_dirfd);
	th_rmtree(wroot);
	th_rmtree(outside);
}

/* A request on route from 127.0.0.1:port at now_ns, made ready in req. */
static void
rprep(struct th_call *c, struct h_req *rq, const char *rest, uint8_t method,
    const struct topt *opts, size_t nopts, const void *body, size_t blen,
    uint16_t port, uint64_t now_ns)
{
	th_call_msg(c, method, opts, nopts, body, blen);
	th_call_req(c, rq, &cfg, &route, rest, port);
	rq->now_ns = now_ns;
	rq->hstate = wstate;
	rq->engine = &engine;
}

static void
rcall(struct th_call *c, const char *rest, uint8_t method,
    const struct topt *opts, size_t nopts, const void *body, size_t blen,
    uint16_t port, uint64_t now_ns)
{
	struct h_req req;

	rprep(c, &req, rest, method, opts, nopts, body, blen, port, now_ns);
	c->rc = h_file_ops.start(&req, &c->resp);
}

static void
put(struct th_call *c, const char *rest, const void *body, size_t len)
{
	rcall(c, rest, COAP_PUT, NULL, 0, body, len, 1000, 0);
}

static void
put_block(struct th_call *c, const char *rest, uint32_t num, bool more,
    uint8_t szx, const void *body, size_t len, uint16_t port,
    uint64_t now_ns)
{
	uint8_t v[4];
	struct topt o = { COAP_OPT_BLOCK1, v, 0 };

	o.len = th_uint_opt(block_opt_encode(num, more, szx), v);
	rcall(c, rest, COAP_PUT, &o, 1, body, len, port, now_ns);
}

static void
expect_code(const struct th_call *c, uint8_t code)
{
	th_expect_code(c->rc, &c->resp, code);
}

/* Defect 1: a replaced file never keeps 06000 or execute bits. */
START_TEST(replace_drops_special_bits)
{
	struct th_call c;
	struct stat st;
	char p[256];

	put(&c, "s.sh", "old", 3);
	expect_code(&c, COAP_CREATED);
	snprintf(p, sizeof(p), "%s/s.sh", wroot);
	ck_assert_int_eq(chmod(p, 07755), 0);
	put(&c, "s.sh", "#!/bin/sh\n", 10);
	expect_code(&c, COAP_CHANGED);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0644, "mode %o",
	    st.st_mode & 07777);
	/* Read/write bits are the old file's. */
	ck_assert_int_eq(chmod(p, 0640), 0);
	put_block(&c, "s.sh", 0, true, 0, "0123456789abcdef", 16, 1000, 0);
	expect_code(&c, COAP_CONTINUE);
	ck_assert_int_eq(chmod(p, 06711), 0);
	put_block(&c, "s.sh", 1, false, 0, "x", 1, 1000, 0);
	expect_code(&c, COAP_CHANGED);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0600, "mode %o",
	    st.st_mode & 07777);
}
END_TEST

/* Defect 2: no commit through a directory moved out of the tree. */
START_TEST(moved_directory_not_committed)
{
	uint8_t body[16];
	struct th_call c;
	char from[256], to[256];

	memset(body, 'm', sizeof(body));
	snprintf(from, sizeof(from), "%s/d", wroot);
	snprintf(to, sizeof(to), "%s/d", outside);
	ck_assert_int_eq(mkdir(from, 0755), 0);
	put_block(&c, "d/f.bin", 0, true, 0, body, 16, 1000, 0);
	expect_code(&c, COAP_CONTINUE);
	/* Moved away and replaced by another directory: 4.08. */
	ck_assert_int_eq(rename(from, to), 0);
	ck_assert_int_eq(mkdir(from, 0755), 0);
	put_block(&c, "d/f.bin", 1, false, 0, body, 4, 1000, 0);
	expect_code(&c, COAP_REQUEST_ENTITY_INCOMPLETE);
	ck_assert(!th_exists(outside, "d/f.bin"));
	ck_assert(!th_exists(wroot, "d/f.bin"));
	/* Moved away, nothing in its place: 4.04. */
	ck_assert_int_eq(rmdir(to), 0);
	put_block(&c, "d/g.bin", 0, true, 0, body, 16, 1000, 0);
	expect_code(&c, COAP_CONTINUE);
	ck_assert_int_eq(rename(from, to), 0);
	put_block(&c, "d/g.bin", 1, false, 0, body, 4, 1000, 0);
	expect_code(&c, COAP_NOT_FOUND);
	ck_assert(!th_exists(outside, "d/g.bin"));
	/* Left where it was, the upload completes. */
	ck_assert_int_eq(rename(to, from), 0);
	put_block(&c, "d/h.bin", 0, true, 0, body, 16, 1000, 0);
	expect_code(&c, COAP_CONTINUE);
	memset(body + 4, 'n', sizeof(body) - 4);
	put_block(&c, "d/h.bin", 1, false, 0, body + 4, 4, 1000, 0);
	expect_code(&c, COAP_CREATED);
	th_expect_file(wroot, "d/h.bin", "mmmmmmmmmmmmmmmmnnnn", 20);
}
END_TEST

/* Defect 3: a write error is logged, not only answered. */
START_TEST(write_error_logged)
{
	struct rlimit rl, old;
	char log[64], buf[4096];
	uint8_t body[300];
	struct h_req req;
	struct th_call c;
	ssize_t n;
	int fd, saved;

	memset(body, 'w', sizeof(body));
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = old;
	rl.rlim_cur = 100;	/* the soft limit only: raised again after */
	snprintf(log, sizeof(log), "/tmp/coapd-hup-log-XXXXXX");
	fd = mkstemp(log);
	ck_assert_int_ge(fd, 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	rprep(&c, &req, "big.bin", COAP_PUT, NULL, 0, body, sizeof(body),
	    1000, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	/*
	 * Files past 100 bytes fail with EFBIG, as on a full disk.  No
	 * assertion until the limit is lifted: check writes a file of its
	 * own at each one.
	 */
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) == 0)
		c.rc = h_file_ops.start(&req, &c.resp);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	expect_code(&c, COAP_REQUEST_ENTITY_TOO_LARGE);
	ck_assert(!th_exists(wroot, "big.bin"));
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(log);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "/up/big.bin") != NULL &&
	    strstr(buf, "write failed") != NULL &&
	    strstr(buf, strerror(EFBIG)) != NULL, "logged: %s", buf);
}
END_TEST

/* Defect 4: past 16 MiB on a 16-byte route, NUM must still fit. */
START_TEST(block2_num_fits_small_route)
{
	const uint64_t size = 17ULL << 20, off = 16ULL << 20;
	struct block_opt b;
	struct th_call c;
	uint8_t v[4], want[1024];
	struct topt o = { COAP_OPT_BLOCK2, v, 0 };
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/huge.bin", wroot);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	memset(want, 'h', sizeof(want));
	ck_assert_int_eq(pwrite(fd, want, sizeof(want), (off_t)off),
	    (ssize_t)sizeof(want));
	close(fd);
	route.block_size = 16;
	/* Block 16384 of 1024 bytes: byte 16 MiB, NUM 1 Mi of 16 bytes. */
	o.len = th_uint_opt(block_opt_encode((uint32_t)(off / 1024), false, 6),
	    v);
	rcall(&c, "huge.bin", COAP_GET, &o, 1, NULL, 0, 1000, 0);
	expect_code(&c, COAP_CONTENT);
	ck_assert_int_eq(block_opt_decode(th_ropt_uint(&c.resp,
	    COAP_OPT_BLOCK2), &b), 0);
	ck_assert_uint_eq((uint64_t)b.num << (b.szx + 4), off);
	ck_assert_uint_le(b.num, BLOCK_NUM_MAX);
	ck_assert(b.more);
	ck_assert_uint_eq(c.resp.payload_len, block_size(b.szx));
	ck_assert_mem_eq(c.resp.payload, want, c.resp.payload_len);
	/* Early in the file the route's size is still used. */
	o.len = th_uint_opt(block_opt_encode(1, false, 6), v);
	rcall(&c, "huge.bin", COAP_GET, &o, 1, NULL, 0, 1000, 0);
	expect_code(&c, COAP_CONTENT);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_BLOCK2),
	    block_opt_encode(64, true, 0));
}
END_TEST

/* Defect 5: a block resent with a new MID continues the upload. */
START_TEST(block1_resent_continues)
{
	const struct coap_opt *etag;
	uint8_t body[40], tag[8];
	struct th_call c;
	size_t i;

	for (i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)('a' + i % 26);
	put_block(&c, "r.bin", 0, true, 0, body, 16, 1000, 0);
	expect_code(&c, COAP_CONTINUE);
	/* The 2.31 for block 0 was lost: block 0 again starts over. */
	put_block(&c, "r.bin", 0, true, 0, body, 16, 1000, 0);
	expect_code(&c, COAP_CONTINUE);
	put_block(&c, "r.bin", 1, true, 0, body + 16, 16, 1000, 0);
	expect_code(&c, COAP_CONTINUE);
	/* The 2.31 for block 1 was lost: the client sends it again. */
	put_block(&c, "r.bin", 1, true, 0, body + 16, 16, 1000, 0);
	expect_code(&c, COAP_CONTINUE);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_BLOCK1),
	    block_opt_encode(1, true, 0));
	put_block(&c, "r.bin", 2, false, 0, body + 32, 8, 1000, 0);
	expect_code(&c, COAP_CREATED);
	th_expect_file(wroot, "r.bin", body, sizeof(body));
	etag = th_ropt(&c.resp, COAP_OPT_ETAG);
	ck_assert_ptr_nonnull(etag);
	memcpy(tag, etag->val, etag->len);
	/* The 2.01 was lost: the last block again gets the same answer. */
	put_block(&c, "r.bin", 2, false, 0, body + 32, 8, 1000, 1 * S_NS);
	expect_code(&c, COAP_CREATED);
	ck_assert_mem_eq(th_ropt(&c.resp, COAP_OPT_ETAG)->val, tag, 8);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_BLOCK1),
	    block_opt_encode(2, false, 0));
	th_expect_file(wroot, "r.bin", body, sizeof(body));
	/* ...for a while only. */
	h_file_ops.sweep(wstate, 20 * S_NS);
	put_block(&c, "r.bin", 2, false, 0, body + 32, 8, 1000, 20 * S_NS);
	expect_code(&c, COAP_REQUEST_ENTITY_INCOMPLETE);
	th_expect_file(wroot, "r.bin", body, sizeof(body));
	/* An older block than the last is still out of order. */
	put_block(&c, "q.bin", 0, true, 0, body, 16, 1000, 0);
	put_block(&c, "q.bin", 1, true, 0, body + 16, 16, 1000, 0);
	put_block(&c, "q.bin", 2, true, 0, body + 16, 16, 1000, 0);
	expect_code(&c, COAP_CONTINUE);
	put_block(&c, "q.bin", 1, true, 0, body + 16, 16, 1000, 0);
	expect_code(&c, COAP_REQUEST_ENTITY_INCOMPLETE);
}
END_TEST

/* Defect 6: abandoned uploads give way to new ones, counted. */
START_TEST(abandoned_uploads_evicted)
{
	uint8_t body[16];
	struct th_call c;
	char name[32];
	int i, held = 0;

	memset(body, 'e', sizeof(body));
	/* Clients on ports 2000.. take every slot at 0..31 ms. */
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		put_block(&c, name, 0, true, 0, body, 16,
		    (uint16_t)(2000 + i), (uint64_t)i * 1000000);
		if (c.resp.code == COAP_CONTINUE)
			held++;
	}
	ck_assert_int_gt(held, 8);
	ck_assert_int_lt(held, 40);
	/* Busy but nobody idle for long: 5.03, nothing evicted. */
	put_block(&c, "n0", 0, true, 0, body, 16, 3000, 1 * S_NS);
	expect_code(&c, COAP_SERVICE_UNAVAILABLE);
	ck_assert_uint_eq(metrics_get(&metrics.uploads_evicted), 0);
	/* a1 keeps sending; a0 is the oldest idle one and goes. */
	put_block(&c, "a1", 1, true, 0, body, 16, 2001, 2 * S_NS);
	expect_code(&c, COAP_CONTINUE);
	put_block(&c, "n0", 0, true, 0, body, 16, 3000, 3 * S_NS);
	expect_code(&c, COAP_CONTINUE);
	ck_assert_uint_eq(metrics_get(&metrics.uploads_evicted), 1);
	put_block(&c, "a0", 1, false, 0, body, 4, 2000, 3 * S_NS);
	expect_code(&c, COAP_REQUEST_ENTITY_INCOMPLETE);
	put_block(&c, "a1", 2, false, 0, body, 4, 2001, 3 * S_NS);
	expect_code(&c, COAP_CREATED);
	/* Under pressure the sweep expires after 10 s, not 60 s. */
	h_file_ops.sweep(wstate, 12 * S_NS);
	put_block(&c, "a2", 1, false, 0, body, 4, 2002, 12 * S_NS);
	expect_code(&c, COAP_REQUEST_ENTITY_INCOMPLETE);
	/* ...but with few uploads an idle one lasts its 60 s. */
	put_block(&c, "late", 0, true, 0, body, 16, 4000, 13 * S_NS);
	expect_code(&c, COAP_CONTINUE);
	h_file_ops.sweep(wstate, 40 * S_NS);
	put_block(&c, "late", 1, false, 0, body, 4, 4000, 40 * S_NS);
	expect_code(&c, COAP_CREATED);
}
END_TEST

/* Remembered answers of stored uploads never keep a new upload out. */
START_TEST(stored_uploads_give_way)
{
	uint8_t body[16];
	struct th_call c;
	char name[32];
	int i;

	memset(body, 's', sizeof(body));
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		put_block(&c, name, 0, true, 0, body, 16, 1000, 0);
		expect_code(&c, COAP_CONTINUE);
		put_block(&c, name, 1, false, 0, body, 4, 1000, 0);
		expect_code(&c, COAP_CREATED);
	}
	ck_assert_uint_eq(metrics_get(&metrics.uploads_evicted), 0);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("h_upload");
	TCase *tc = tcase_create("defects");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, replace_drops_special_bits);
	tcase_add_test(tc, moved_directory_not_committed);
	tcase_add_test(tc, write_error_logged);
	tcase_add_test(tc, block2_num_fits_small_route);
	tcase_add_test(tc, block1_resent_continues);
	tcase_add_test(tc, abandoned_uploads_evicted);
	tcase_add_test(tc, stored_uploads_give_way);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(suite());
}
