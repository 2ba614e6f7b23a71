/*
 * test_h_file.c - static file handler (src/serve/h_file.c): GET of files and
 * listings, ETag (RFC 7252 §5.10.6), Accept (§5.10.4), Block2 and Size2
 * (RFC 7959), and confinement of names beneath the route's directory.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "proto/block.h"
#include "adapt/cfg.h"
#include "proto/coap_msg.h"
#include "serve/h_file.h"
#include "serve/h_file_int.h"
#include "serve/handler.h"

#include "helpers.h"

#define BIG_LEN		3000
#define MANY_FILES	60

static char root[64];
static char www[sizeof(root) + 8];
static struct cfg_ctype ctypes[] = {
	{ "txt", COAP_CT_TEXT_PLAIN },
	{ "json", COAP_CT_JSON },
	{ "bin", COAP_CT_OCTET_STREAM },
};
static struct cfg cfg;
static struct cfg_route dir_route, file_route;

static uint8_t big[BIG_LEN];
static size_t payload_cap = COAP_PAYLOAD_MAX;	/* lent to each response */
/*
 * false where openat2(2) is missing (valgrind 3.19 does not know it) or
 * blocked by the "fallback" test case: the handler then walks the path
 * itself, with the same answers (in-tree symlinks followed, escapes
 * refused).
 */
static bool have_openat2 = true;

static bool
openat2_works(void)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_CLOEXEC;
	fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));
	if (fd < 0)
		return false;
	close((int)fd);
	return true;
}

/* Make openat2 fail with ENOSYS in this process, as old kernels do. */
static void
block_openat2(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (have_openat2) {
		ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
		ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
		    &prog), 0);
	}
	have_openat2 = false;
	ck_assert(!openat2_works());
}

/*
 * root/outside.txt          not served
 * root/www/                 the directory route "/www"
 *   hello.txt, big.bin (3000 bytes), empty.txt, exact.bin (2048 bytes)
 *   .secret, sub/a.json, sub/.hidden, many/ (MANY_FILES files)
 *   inlink -> hello.txt, uplink -> sub/../hello.txt (both inside)
 *   escape -> ../outside.txt, abs -> /etc/passwd, sub/up -> ../../outside.txt
 *   magic -> /proc/self/root, fifo (a FIFO)
 *   sublink -> sub, loop1 <-> loop2, chain -> sub/up (escapes in two)
 */
static void
tree_setup(void)
{
	char path[256], name[64];
	size_t i;
	int fd;

	th_mkdtemp(root, sizeof(root), "hfile");
	have_openat2 = openat2_works();
	snprintf(www, sizeof(www), "%s/www", root);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 256);
	th_put(root, "outside.txt", "secret outside\n", 15);
	th_mkdir(root, "www");
	th_put(root, "www/hello.txt", "hello world\n", 12);
	th_put(root, "www/big.bin", big, sizeof(big));
	th_put(root, "www/empty.txt", "", 0);
	th_put(root, "www/exact.bin", big, 2048);
	th_put(root, "www/.secret", "dot\n", 4);
	th_mkdir(root, "www/sub");
	th_put(root, "www/sub/a.json", "{}", 2);
	th_put(root, "www/sub/.hidden", "h", 1);
	th_mkdir(root, "www/many");
	for (i = 0; i < MANY_FILES; i++) {
		snprintf(name, sizeof(name),
		    "www/many/file-with-a-long-name-%03zu.txt", i);
		th_put(root, name, "x", 1);
	}
	th_symlink("hello.txt", root, "www/inlink");
	th_symlink("sub/../hello.txt", root, "www/uplink");
	th_symlink("../outside.txt", root, "www/escape");
	th_symlink("/etc/passwd", root, "www/abs");
	th_symlink("../../outside.txt", root, "www/sub/up");
	th_symlink("/proc/self/root", root, "www/magic");
	th_symlink("sub", root, "www/sublink");
	th_symlink("loop2", root, "www/loop1");
	th_symlink("loop1", root, "www/loop2");
	th_symlink("sub/up", root, "www/chain");
	snprintf(path, sizeof(path), "%s/fifo", www);
	ck_assert_int_eq(mkfifo(path, 0644), 0);

	memset(&cfg, 0, sizeof(cfg));
	cfg.ctypes = ctypes;
	cfg.nctypes = sizeof(ctypes) / sizeof(ctypes[0]);

	fd = open(www, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	memset(&dir_route, 0, sizeof(dir_route));
	dir_route.path = "/www";
	dir_route.path_len = 4;
	dir_route.kind = ROUTE_STATIC;
	dir_route.methods = ROUTE_METHOD(COAP_GET);
	dir_route.static_path = www;
	dir_route.static_is_dir = true;
	dir_route.static_dirfd = fd;
	dir_route.block_size = 1024;
	dir_route.max_age = 60;
	dir_route.ct = -1;

	fd = open(www, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	file_route = dir_route;
	file_route.path = "/hello";
	file_route.path_len = 6;
	file_route.static_is_dir = false;
	file_route.static_dirfd = fd;
	file_route.static_name = "hello.txt";
	file_route.max_age = 3600;
}

static void
tree_teardown(void)
{
	close(dir_route.static_dirfd);
	close(file_route.static_dirfd);
	th_rmtree(root);
}

/* Encode method + opts, parse, and run the handler on route r. */
static void
call(struct th_call *c, const struct cfg_route *r, const char *rest,
    uint8_t method, const struct topt *opts, size_t nopts)
{
	struct h_req req;

	th_call_msg(c, method, opts, nopts, NULL, 0);
	th_call_req(c, &req, &cfg, r, rest, 1000);
	coap_resp_init(&c->resp, c->payload, payload_cap);
	c->rc = h_file_ops.start(&req, &c->resp);
}

static void
get(struct th_call *c, const struct cfg_route *r, const char *rest)
{
	call(c, r, rest, COAP_GET, NULL, 0);
}

static void
expect_code(const struct th_call *c, uint8_t code)
{
	th_expect_code(c->rc, &c->resp, code);
}

static void
stat_of(const char *rel, struct stat *st)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", www, rel);
	ck_assert_int_eq(stat(path, st), 0);
}

static int
fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

START_TEST(get_file)
{
	struct th_call c;
	struct stat st;
	uint8_t etag[H_FILE_ETAG_LEN];
	const struct coap_opt *o;

	get(&c, &dir_route, "hello.txt");
	expect_code(&c, COAP_CONTENT);
	ck_assert_uint_eq(c.resp.payload_len, 12);
	ck_assert_mem_eq(c.resp.payload, "hello world\n", 12);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_CONTENT_FORMAT),
	    COAP_CT_TEXT_PLAIN);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_MAX_AGE), 60);
	stat_of("hello.txt", &st);
	h_file_etag(&st, etag);
	o = th_ropt(&c.resp, COAP_OPT_ETAG);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(o->len, H_FILE_ETAG_LEN);
	ck_assert_mem_eq(o->val, etag, H_FILE_ETAG_LEN);
	/* Small enough for one message: no Block2, no Size2. */
	ck_assert_ptr_null(th_ropt(&c.resp, COAP_OPT_BLOCK2));
	ck_assert_ptr_null(th_ropt(&c.resp, COAP_OPT_SIZE2));

	get(&c, &dir_route, "sub/a.json");
	expect_code(&c, COAP_CONTENT);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_CONTENT_FORMAT),
	    COAP_CT_JSON);
	ck_assert_mem_eq(c.resp.payload, "{}", 2);

	/* A symlink that stays in the tree is followed, openat2 or not. */
	get(&c, &dir_route, "inlink");
	expect_code(&c, COAP_CONTENT);
	ck_assert_mem_eq(c.resp.payload, "hello world\n", 12);
	get(&c, &dir_route, "uplink");
	expect_code(&c, COAP_CONTENT);
	ck_assert_mem_eq(c.resp.payload, "hello world\n", 12);
	get(&c, &dir_route, "sublink/a.json");
	expect_code(&c, COAP_CONTENT);
	ck_assert_mem_eq(c.resp.payload, "{}", 2);

	get(&c, &dir_route, "empty.txt");
	expect_code(&c, COAP_CONTENT);
	ck_assert_uint_eq(c.resp.payload_len, 0);
	ck_assert_ptr_null(th_ropt(&c.resp, COAP_OPT_BLOCK2));
}
END_TEST

START_TEST(get_file_route)
{
	struct th_call c;

	get(&c, &file_route, "");
	expect_code(&c, COAP_CONTENT);
	ck_assert_mem_eq(c.resp.payload, "hello world\n", 12);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_MAX_AGE), 3600);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_CONTENT_FORMAT),
	    COAP_CT_TEXT_PLAIN);
	/* Nothing lives beneath a file. */
	get(&c, &file_route, "x");
	expect_code(&c, COAP_NOT_FOUND);
}
END_TEST

/* Only GET is implemented; the worker filters, the handler still refuses. */
START_TEST(method_not_allowed)
{
	struct th_call c;

	call(&c, &dir_route, "hello.txt", COAP_PUT, NULL, 0);
	expect_code(&c, COAP_METHOD_NOT_ALLOWED);
	call(&c, &dir_route, "hello.txt", COAP_POST, NULL, 0);
	expect_code(&c, COAP_METHOD_NOT_ALLOWED);
}
END_TEST

/* RFC 7252 §5.10.6.2: a current ETag in the request gets 2.03 Valid. */
START_TEST(rfc_etag_valid)
{
	struct th_call c;
	struct stat st;
	uint8_t etag[H_FILE_ETAG_LEN], other[H_FILE_ETAG_LEN];
	const struct coap_opt *o;
	struct topt opts[2];

	stat_of("hello.txt", &st);
	h_file_etag(&st, etag);
	memcpy(other, etag, sizeof(other));
	other[0] ^= 0xff;

	opts[0] = (struct topt){ COAP_OPT_ETAG, etag, sizeof(etag) };
	call(&c, &dir_route, "hello.txt", COAP_GET, opts, 1);
	expect_code(&c, COAP_VALID);
	ck_assert_uint_eq(c.resp.payload_len, 0);
	o = th_ropt(&c.resp, COAP_OPT_ETAG);
	ck_assert_ptr_nonnull(o);
	ck_assert_mem_eq(o->val, etag, H_FILE_ETAG_LEN);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_MAX_AGE), 60);
	ck_assert_ptr_null(th_ropt(&c.resp, COAP_OPT_CONTENT_FORMAT));

	/* Any of several ETags may match. */
	opts[0] = (struct topt){ COAP_OPT_ETAG, other, sizeof(other) };
	opts[1] = (struct topt){ COAP_OPT_ETAG, etag, sizeof(etag) };
	call(&c, &dir_route, "hello.txt", COAP_GET, opts, 2);
	expect_code(&c, COAP_VALID);

	/* A stale one gets the representation. */
	call(&c, &dir_route, "hello.txt", COAP_GET, opts, 1);
	expect_code(&c, COAP_CONTENT);
	ck_assert_uint_eq(c.resp.payload_len, 12);
	o = th_ropt(&c.resp, COAP_OPT_ETAG);
	ck_assert_mem_eq(o->val, etag, H_FILE_ETAG_LEN);
}
END_TEST

START_TEST(etag_derivation)
{
	struct stat st, st2;
	uint8_t a[H_FILE_ETAG_LEN], b[H_FILE_ETAG_LEN];

	stat_of("hello.txt", &st);
	h_file_etag(&st, a);
	h_file_etag(&st, b);
	ck_assert_mem_eq(a, b, sizeof(a));
	st2 = st;
	st2.st_mtim.tv_nsec ^= 1;
	h_file_etag(&st2, b);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	st2 = st;
	st2.st_size++;
	h_file_etag(&st2, b);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	st2 = st;
	st2.st_ino++;
	h_file_etag(&st2, b);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	st2 = st;
	st2.st_mtim.tv_sec++;
	h_file_etag(&st2, b);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

/* RFC 7252 §5.10.4: an Accept the resource cannot meet gets 4.06. */
START_TEST(rfc_accept)
{
	struct th_call c;
	uint8_t json = COAP_CT_JSON, lf = COAP_CT_LINK_FORMAT;
	struct topt opts[1];

	/* text/plain is 0: the empty uint. */
	opts[0] = (struct topt){ COAP_OPT_ACCEPT, NULL, 0 };
	call(&c, &dir_route, "hello.txt", COAP_GET, opts, 1);
	expect_code(&c, COAP_CONTENT);
	opts[0] = (struct topt){ COAP_OPT_ACCEPT, &json, 1 };
	call(&c, &dir_route, "hello.txt", COAP_GET, opts, 1);
	expect_code(&c, COAP_NOT_ACCEPTABLE);
	ck_assert_uint_eq(c.resp.payload_len, 0);
	call(&c, &dir_route, "sub/a.json", COAP_GET, opts, 1);
	expect_code(&c, COAP_CONTENT);
	/* Listings are link-format. */
	call(&c, &dir_route, "", COAP_GET, opts, 1);
	expect_code(&c, COAP_NOT_ACCEPTABLE);
	opts[0] = (struct topt){ COAP_OPT_ACCEPT, &lf, 1 };
	call(&c, &dir_route, "", COAP_GET, opts, 1);
	expect_code(&c, COAP_CONTENT);
}
END_TEST

/* A Block2 request option with value v (0..3 bytes, shortest form). */
static void
get_block(struct th_call *c, const struct cfg_route *r, const char *rest,
    uint32_t v, bool size2)
{
	uint8_t b[3] = { (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	struct topt opts[2];
	size_t n = coap_uint_len(v), k = 0;

	opts[k++] = (struct topt){ COAP_OPT_BLOCK2, b + 3 - n, n };
	if (size2)
		opts[k++] = (struct topt){ COAP_OPT_SIZE2, NULL, 0 };
	call(c, r, rest, COAP_GET, opts, k);
}

static void
expect_block(const struct th_call *c, uint32_t num, bool more, uint8_t szx)
{
	struct block_opt b;

	ck_assert_int_eq(block_opt_decode(th_ropt_uint(&c->resp,
	    COAP_OPT_BLOCK2), &b), 0);
	ck_assert_uint_eq(b.num, num);
	ck_assert_int_eq(b.more, more);
	ck_assert_uint_eq(b.szx, szx);
}

/*
 * RFC 7959 §2.4: a representation larger than the block size goes out
 * block by block; Size2 (§4) comes with block 0.
 */
START_TEST(rfc_block2_file)
{
	struct th_call c;

	get(&c, &dir_route, "big.bin");
	expect_code(&c, COAP_CONTENT);
	expect_block(&c, 0, true, 6);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_SIZE2), BIG_LEN);
	ck_assert_uint_eq(c.resp.payload_len, 1024);
	ck_assert_mem_eq(c.resp.payload, big, 1024);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_CONTENT_FORMAT),
	    COAP_CT_OCTET_STREAM);
	ck_assert_ptr_nonnull(th_ropt(&c.resp, COAP_OPT_ETAG));

	get_block(&c, &dir_route, "big.bin", block_opt_encode(1, false, 6),
	    false);
	expect_code(&c, COAP_CONTENT);
	expect_block(&c, 1, true, 6);
	ck_assert_ptr_null(th_ropt(&c.resp, COAP_OPT_SIZE2));
	ck_assert_uint_eq(c.resp.payload_len, 1024);
	ck_assert_mem_eq(c.resp.payload, big + 1024, 1024);

	/* The last block is short and has M clear. */
	get_block(&c, &dir_route, "big.bin", block_opt_encode(2, false, 6),
	    false);
	expect_code(&c, COAP_CONTENT);
	expect_block(&c, 2, false, 6);
	ck_assert_uint_eq(c.resp.payload_len, BIG_LEN - 2048);
	ck_assert_mem_eq(c.resp.payload, big + 2048, BIG_LEN - 2048);

	/* RFC 7959 §4: Size2 in the request asks for it on any block. */
	get_block(&c, &dir_route, "big.bin", block_opt_encode(2, false, 6),
	    true);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_SIZE2), BIG_LEN);

	/* M in a request is ignored (§2.3). */
	get_block(&c, &dir_route, "big.bin", block_opt_encode(1, true, 6),
	    false);
	expect_block(&c, 1, true, 6);
}
END_TEST

/* RFC 7959 §2.4: the client may ask for a smaller size (early). */
START_TEST(rfc_block2_client_size)
{
	struct th_call c;

	get_block(&c, &dir_route, "big.bin", block_opt_encode(0, false, 2),
	    false);
	expect_code(&c, COAP_CONTENT);
	expect_block(&c, 0, true, 2);
	ck_assert_uint_eq(c.resp.payload_len, 64);
	ck_assert_mem_eq(c.resp.payload, big, 64);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_SIZE2), BIG_LEN);

	get_block(&c, &dir_route, "big.bin", block_opt_encode(5, false, 4),
	    false);
	expect_block(&c, 5, true, 4);
	ck_assert_uint_eq(c.resp.payload_len, 256);
	ck_assert_mem_eq(c.resp.payload, big + 1280, 256);

	/* Asking with Block2 for a small file still answers with Block2. */
	get_block(&c, &dir_route, "hello.txt", block_opt_encode(0, false, 6),
	    false);
	expect_code(&c, COAP_CONTENT);
	expect_block(&c, 0, false, 6);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_SIZE2), 12);
	ck_assert_uint_eq(c.resp.payload_len, 12);
}
END_TEST

/*
 * RFC 7959 §2.4: the server answers with the size asked for or a smaller
 * one; a smaller one renumbers the block to keep its offset.
 */
START_TEST(rfc_block2_server_size)
{
	struct cfg_route r = dir_route;
	struct th_call c;

	r.block_size = 256;
	get(&c, &r, "big.bin");
	expect_block(&c, 0, true, 4);
	ck_assert_uint_eq(c.resp.payload_len, 256);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_SIZE2), BIG_LEN);

	/* Block 1 of 1024 bytes is block 4 of 256. */
	get_block(&c, &r, "big.bin", block_opt_encode(1, false, 6), false);
	expect_code(&c, COAP_CONTENT);
	expect_block(&c, 4, true, 4);
	ck_assert_uint_eq(c.resp.payload_len, 256);
	ck_assert_mem_eq(c.resp.payload, big + 1024, 256);

	/* A file no larger than one block goes whole, without Block2. */
	get(&c, &r, "hello.txt");
	ck_assert_ptr_null(th_ropt(&c.resp, COAP_OPT_BLOCK2));

	/* A response buffer smaller than the route's size caps it. */
	r.block_size = 1024;
	payload_cap = 300;
	get(&c, &r, "big.bin");
	payload_cap = COAP_PAYLOAD_MAX;
	expect_code(&c, COAP_CONTENT);
	expect_block(&c, 0, true, 4);
	ck_assert_uint_eq(c.resp.payload_len, 256);
	/* One too small for the smallest block is an error, not a crash. */
	payload_cap = 15;
	get(&c, &r, "big.bin");
	payload_cap = COAP_PAYLOAD_MAX;
	ck_assert_int_lt(c.rc, 0);
}
END_TEST

/* Blocks past the end, empty files, malformed Block2. */
START_TEST(rfc_block2_edges)
{
	struct th_call c;
	const uint8_t four[] = { 0, 0, 0, 0x06 };
	struct topt opts[1];

	get_block(&c, &dir_route, "exact.bin", block_opt_encode(1, false, 6),
	    false);
	expect_code(&c, COAP_CONTENT);
	expect_block(&c, 1, false, 6);
	ck_assert_uint_eq(c.resp.payload_len, 1024);
	/* A block that starts at the end does not exist. */
	get_block(&c, &dir_route, "exact.bin", block_opt_encode(2, false, 6),
	    false);
	expect_code(&c, COAP_BAD_REQUEST);
	ck_assert_uint_eq(c.resp.payload_len, 0);
	get_block(&c, &dir_route, "big.bin", block_opt_encode(3, false, 6),
	    false);
	expect_code(&c, COAP_BAD_REQUEST);

	/* Block 0 of an empty file exists and is empty. */
	get_block(&c, &dir_route, "empty.txt", 0, false);
	expect_code(&c, COAP_CONTENT);
	expect_block(&c, 0, false, 0);
	ck_assert_uint_eq(c.resp.payload_len, 0);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_SIZE2), 0);

	/* RFC 7959 §2.2: SZX 7 is 4.00. */
	get_block(&c, &dir_route, "big.bin", 0x07, false);
	expect_code(&c, COAP_BAD_REQUEST);
	/* RFC 7252 §5.4.3: a 4-byte Block2 is a bad critical option. */
	opts[0] = (struct topt){ COAP_OPT_BLOCK2, four, sizeof(four) };
	call(&c, &dir_route, "big.bin", COAP_GET, opts, 1);
	expect_code(&c, COAP_BAD_OPTION);
}
END_TEST

/* No name may lead out of the route's directory, nor to hidden files. */
START_TEST(confinement)
{
	static const char *const bad[] = {
		"../outside.txt", "sub/../../outside.txt", "escape", "abs",
		"sub/up", "magic", "magic/etc/passwd", "/etc/passwd",
		"../www/hello.txt", ".secret", "sub/.hidden", "fifo",
		"nonexistent", "hello.txt/x", "sub/nope.txt", "loop1",
		"chain", "sublink/up", "sublink/../../outside.txt",
		"sub/../sub/../../outside.txt",
	};
	struct th_call c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		get(&c, &dir_route, bad[i]);
		ck_assert_msg(c.rc == H_DONE && c.resp.code == COAP_NOT_FOUND,
		    "%s: rc %d code %u", bad[i], c.rc, c.resp.code);
		ck_assert_uint_eq(c.resp.payload_len, 0);
	}
}
END_TEST

/*
 * The walk that replaces openat2 under seccomp resolves exactly what
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS resolves: the same file, or a
 * refusal.  Compared name by name against openat2 itself (when present),
 * and against the outcome written here (always).
 */
START_TEST(walk_as_beneath)
{
	static const struct {
		const char	*path;
		bool		 ok;
	} cases[] = {
		{ "hello.txt", true }, { "inlink", true }, { "uplink", true },
		{ "sub/../inlink", true }, { "sublink/a.json", true },
		{ "sublink/../hello.txt", true }, { "./sub//a.json", true },
		{ "sub/", true }, { "sublink/", true }, { "sublink", true },
		{ "..", false }, { "../outside.txt", false },
		{ "sub/../../outside.txt", false }, { "escape", false },
		{ "abs", false }, { "sub/up", false }, { "chain", false },
		{ "sublink/up", false }, { "magic", false },
		{ "magic/etc/passwd", false }, { "/etc/passwd", false },
		{ "loop1", false }, { "hello.txt/", false },
		{ "inlink/", false },
		{ "hello.txt/x", false }, { "nonexistent", false },
	};
	struct stat a, b;
	size_t i;
	int dfd, fd, fd2;

	dfd = open(www, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fd = hf_open_walk(dfd, cases[i].path, O_PATH | O_CLOEXEC);
		ck_assert_msg((fd >= 0) == cases[i].ok, "walk %s: %d",
		    cases[i].path, fd);
		if (fd >= 0)
			ck_assert_int_eq(fstat(fd, &a), 0);
		if (have_openat2) {
			fd2 = hf_open(dfd, cases[i].path, O_PATH | O_CLOEXEC);
			ck_assert_msg((fd2 >= 0) == cases[i].ok,
			    "openat2 %s: %d", cases[i].path, fd2);
			if (fd2 >= 0) {
				ck_assert_int_eq(fstat(fd2, &b), 0);
				ck_assert(a.st_ino == b.st_ino &&
				    a.st_dev == b.st_dev);
				close(fd2);
			}
		}
		if (fd >= 0)
			close(fd);
	}
	/* Refusals name the reason RESOLVE_BENEATH gives. */
	ck_assert_int_eq(hf_open_walk(dfd, "escape", O_RDONLY), -EXDEV);
	ck_assert_int_eq(hf_open_walk(dfd, "abs", O_RDONLY), -EXDEV);
	ck_assert_int_eq(hf_open_walk(dfd, "loop1", O_RDONLY), -ELOOP);
	close(dfd);
}
END_TEST

/* The request for an unreadable file, as a daemon without privileges. */
static bool
get_unreadable(void *arg)
{
	struct th_call c;

	(void)arg;
	get(&c, &dir_route, "hello.txt");
	return c.rc == H_DONE && c.resp.code == COAP_NOT_FOUND &&
	    c.resp.payload_len == 0;
}

/*
 * A file coapd may not read is "not found", never 5.00 nor its bytes.
 * Root reads a mode 000 file (CAP_DAC_OVERRIDE): the request runs in a
 * child without privileges; the file being there is asserted first.
 */
START_TEST(unreadable_is_not_found)
{
	struct th_call c;
	char path[256];

	get(&c, &dir_route, "hello.txt");
	expect_code(&c, COAP_CONTENT);
	snprintf(path, sizeof(path), "%s/hello.txt", www);
	ck_assert_int_eq(chmod(path, 0), 0);
	th_unprivileged(get_unreadable, NULL);
	ck_assert_int_eq(chmod(path, 0644), 0);
}
END_TEST

/* Split a link-format document at top-level commas into sorted lines. */
static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t
split(char *doc, char **out, size_t max)
{
	size_t n = 0;
	char *p;

	for (p = strtok(doc, ","); p != NULL && n < max;
	    p = strtok(NULL, ","))
		out[n++] = p;
	qsort(out, n, sizeof(*out), cmpstr);
	return n;
}

#define SUB_DOC	"</www/sub/a.json>;ct=50"

/* GET on a directory: link-format (RFC 6690) of its visible entries. */
START_TEST(listing)
{
	static const char *const want[] = {
		"</www/big.bin>;ct=42", "</www/empty.txt>;ct=0",
		"</www/exact.bin>;ct=42", "</www/hello.txt>;ct=0",
		"</www/inlink>;ct=42", "</www/many>;ct=40",
		"</www/sub>;ct=40", "</www/sublink>;ct=40",
		"</www/uplink>;ct=42",
	};
	const char *const *w = want;
	size_t nw = sizeof(want) / sizeof(want[0]);
	struct th_call c;
	char doc[COAP_PAYLOAD_MAX + 1], *lines[32];
	size_t n, i;

	get(&c, &dir_route, "");
	expect_code(&c, COAP_CONTENT);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_CONTENT_FORMAT),
	    COAP_CT_LINK_FORMAT);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_MAX_AGE), 60);
	ck_assert_ptr_nonnull(th_ropt(&c.resp, COAP_OPT_ETAG));
	ck_assert_ptr_null(th_ropt(&c.resp, COAP_OPT_BLOCK2));
	memcpy(doc, c.resp.payload, c.resp.payload_len);
	doc[c.resp.payload_len] = '\0';
	n = split(doc, lines, 32);
	ck_assert_uint_eq(n, nw);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(lines[i], w[i]);

	get(&c, &dir_route, "sub");
	expect_code(&c, COAP_CONTENT);
	ck_assert_uint_eq(c.resp.payload_len, strlen(SUB_DOC));
	ck_assert_mem_eq(c.resp.payload, SUB_DOC, c.resp.payload_len);
	/* A trailing empty segment names the same directory. */
	get(&c, &dir_route, "sub/");
	expect_code(&c, COAP_CONTENT);
	ck_assert_uint_eq(c.resp.payload_len, strlen(SUB_DOC));
	ck_assert_mem_eq(c.resp.payload, SUB_DOC, c.resp.payload_len);
}
END_TEST

/* A listing larger than one block is served block-wise, with an ETag. */
START_TEST(listing_blockwise)
{
	struct th_call c;
	static char doc[8192];
	char *lines[MANY_FILES + 1], want[128];
	uint8_t etag[H_FILE_ETAG_LEN];
	uint32_t total, num = 0;
	struct block_opt b;
	size_t len = 0, n, i;
	struct topt opts[1];

	get(&c, &dir_route, "many");
	expect_code(&c, COAP_CONTENT);
	expect_block(&c, 0, true, 6);
	total = th_ropt_uint(&c.resp, COAP_OPT_SIZE2);
	ck_assert_uint_gt(total, COAP_PAYLOAD_MAX);
	ck_assert_uint_lt(total, sizeof(doc));
	memcpy(etag, th_ropt(&c.resp, COAP_OPT_ETAG)->val, sizeof(etag));
	for (;;) {
		ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_CONTENT_FORMAT),
		    COAP_CT_LINK_FORMAT);
		ck_assert_mem_eq(th_ropt(&c.resp, COAP_OPT_ETAG)->val, etag,
		    sizeof(etag));
		memcpy(doc + len, c.resp.payload, c.resp.payload_len);
		len += c.resp.payload_len;
		block_opt_decode(th_ropt_uint(&c.resp, COAP_OPT_BLOCK2), &b);
		ck_assert_uint_eq(b.num, num);
		if (!b.more)
			break;
		ck_assert_uint_eq(c.resp.payload_len, 1024);
		get_block(&c, &dir_route, "many",
		    block_opt_encode(++num, false, 6), false);
		expect_code(&c, COAP_CONTENT);
	}
	ck_assert_uint_eq(len, total);
	doc[len] = '\0';
	n = split(doc, lines, MANY_FILES + 1);
	ck_assert_uint_eq(n, MANY_FILES);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want),
		    "</www/many/file-with-a-long-name-%03zu.txt>;ct=0", i);
		ck_assert_str_eq(lines[i], want);
	}
	/* Past the end: 4.00. */
	get_block(&c, &dir_route, "many", block_opt_encode(num + 1, false, 6),
	    false);
	expect_code(&c, COAP_BAD_REQUEST);
	/* The listing's ETag validates. */
	opts[0] = (struct topt){ COAP_OPT_ETAG, etag, sizeof(etag) };
	call(&c, &dir_route, "many", COAP_GET, opts, 1);
	expect_code(&c, COAP_VALID);
	ck_assert_uint_eq(c.resp.payload_len, 0);
}
END_TEST

/* The listing's ETag follows its contents. */
START_TEST(listing_etag_changes)
{
	struct th_call c;
	uint8_t a[H_FILE_ETAG_LEN];

	get(&c, &dir_route, "sub");
	memcpy(a, th_ropt(&c.resp, COAP_OPT_ETAG)->val, sizeof(a));
	th_put(root, "www/sub/b.txt", "b", 1);
	get(&c, &dir_route, "sub");
	ck_assert(memcmp(a, th_ropt(&c.resp, COAP_OPT_ETAG)->val,
	    sizeof(a)) != 0);
	ck_assert_ptr_nonnull(memmem(c.resp.payload, c.resp.payload_len,
	    "</www/sub/b.txt>;ct=0", 21));
	ck_assert_int_eq(unlinkat(dir_route.static_dirfd, "sub/b.txt", 0), 0);
	get(&c, &dir_route, "sub");
	ck_assert_mem_eq(a, th_ropt(&c.resp, COAP_OPT_ETAG)->val, sizeof(a));
}
END_TEST

/* The root route "/" lists "/name", not "//name". */
START_TEST(listing_root_route)
{
	struct cfg_route r = dir_route;
	struct th_call c;

	r.path = "/";
	r.path_len = 1;
	get(&c, &r, "sub");
	expect_code(&c, COAP_CONTENT);
	ck_assert_uint_eq(c.resp.payload_len, strlen("</sub/a.json>;ct=50"));
	ck_assert_mem_eq(c.resp.payload, "</sub/a.json>;ct=50",
	    c.resp.payload_len);
}
END_TEST

/* Every descriptor opened for a request is closed again. */
START_TEST(no_fd_leak)
{
	static const char *const rests[] = {
		"hello.txt", "big.bin", "", "many", "sub", "escape", "fifo",
		"nonexistent", "magic", ".secret",
	};
	struct th_call c;
	int before;
	size_t i;

	before = fd_count();
	for (i = 0; i < sizeof(rests) / sizeof(rests[0]); i++) {
		get(&c, &dir_route, rests[i]);
		get_block(&c, &dir_route, rests[i],
		    block_opt_encode(9, false, 6), false);
	}
	get(&c, &file_route, "");
	ck_assert_int_eq(fd_count(), before);
}
END_TEST

/* --- writes: PUT, Block1, DELETE, conditions (writable routes) ---------- */

static char wroot[64];
static struct cfg_route wr_route, wr_file_route;
static void *wstate;
static atomic_uint_least64_t wgen;
static struct h_env wenv = { .file_gen = &wgen };

static void
wr_setup(void)
{
	th_mkdtemp(wroot, sizeof(wroot), "hfwr");
	memset(&cfg, 0, sizeof(cfg));
	cfg.ctypes = ctypes;
	cfg.nctypes = sizeof(ctypes) / sizeof(ctypes[0]);
	th_upload_route(&wr_route, wroot);
	wr_route.methods |= ROUTE_METHOD(COAP_DELETE);
	wr_file_route = wr_route;
	wr_file_route.path = "/one";
	wr_file_route.path_len = 4;
	wr_file_route.static_is_dir = false;
	wr_file_route.static_name = "one.txt";
	wr_file_route.static_dirfd = open(wroot, O_PATH | O_DIRECTORY |
	    O_CLOEXEC);
	cfg.limits.max_uploads = 32;	/* the default of limits.max_uploads */
	wstate = h_file_ops.worker_init(&cfg, &wenv, NULL);
	ck_assert_ptr_nonnull(wstate);
}

static void
wr_teardown(void)
{
	h_file_ops.worker_fini(wstate);
	close(wr_route.static_dirfd);
	close(wr_file_route.static_dirfd);
	th_rmtree(wroot);
}

/* A request from 127.0.0.1:port with payload, at now_ns. */
static void
wcall(struct th_call *c, const struct cfg_route *r, const char *rest,
    uint8_t method, const struct topt *opts, size_t nopts,
    const void *body, size_t blen, uint16_t port, uint64_t now_ns)
{
	struct h_req req;

	th_call_msg(c, method, opts, nopts, body, blen);
	th_call_req(c, &req, &cfg, r, rest, port);
	req.now_ns = now_ns;
	req.hstate = wstate;
	coap_resp_init(&c->resp, c->payload, payload_cap);
	c->rc = h_file_ops.start(&req, &c->resp);
}

static void
put(struct th_call *c, const char *rest, const void *body, size_t len)
{
	wcall(c, &wr_route, rest, COAP_PUT, NULL, 0, body, len, 1000, 0);
}

/* PUT one Block1 block: num, more, szx, with an optional Request-Tag. */
static void
put_block(struct th_call *c, const char *rest, uint32_t num, bool more,
    uint8_t szx, const void *body, size_t len, const char *tag,
    uint64_t now_ns)
{
	uint8_t v[4];
	struct topt o[2];
	size_t n = 0, vl;

	vl = th_uint_opt(block_opt_encode(num, more, szx), v);
	o[n++] = (struct topt){ COAP_OPT_BLOCK1, v, vl };
	if (tag != NULL)
		o[n++] = (struct topt){ COAP_OPT_REQUEST_TAG, tag,
		    strlen(tag) };
	wcall(c, &wr_route, rest, COAP_PUT, o, n, body, len, 1000, now_ns);
}

/* No temporary file is left behind in the tree's top directory. */
static void
no_temp_files(void)
{
	DIR *d = opendir(wroot);
	struct dirent *de;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		ck_assert_msg(strncmp(de->d_name, ".coapd-", 7) != 0,
		    "temporary file %s left", de->d_name);
	closedir(d);
}

/* RFC 7252 §5.8.3: PUT creates (2.01) or replaces (2.04). */
START_TEST(rfc_put_create_replace)
{
	struct th_call c;
	struct stat st;
	uint8_t etag[H_FILE_ETAG_LEN];
	const struct coap_opt *o;
	char p[256];
	int before = fd_count();

	put(&c, "a.txt", "first\n", 6);
	expect_code(&c, COAP_CREATED);
	th_expect_file(wroot, "a.txt", "first\n", 6);
	snprintf(p, sizeof(p), "%s/a.txt", wroot);
	ck_assert_int_eq(stat(p, &st), 0);
	h_file_etag(&st, etag);
	o = th_ropt(&c.resp, COAP_OPT_ETAG);
	ck_assert_ptr_nonnull(o);
	ck_assert_mem_eq(o->val, etag, H_FILE_ETAG_LEN);
	ck_assert_ptr_null(th_ropt(&c.resp, COAP_OPT_BLOCK1));
	ck_assert_int_eq(chmod(p, 0600), 0);

	put(&c, "a.txt", "second, longer\n", 15);
	expect_code(&c, COAP_CHANGED);
	th_expect_file(wroot, "a.txt", "second, longer\n", 15);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);	/* mode kept */
	put(&c, "empty", "", 0);
	expect_code(&c, COAP_CREATED);
	th_expect_file(wroot, "empty", "", 0);
	/* A file route writes its own file. */
	wcall(&c, &wr_file_route, "", COAP_PUT, NULL, 0, "one", 3, 1, 0);
	expect_code(&c, COAP_CREATED);
	th_expect_file(wroot, "one.txt", "one", 3);
	wcall(&c, &wr_file_route, "x", COAP_PUT, NULL, 0, "one", 3, 1, 0);
	expect_code(&c, COAP_NOT_FOUND);
	no_temp_files();
	ck_assert_int_eq(fd_count(), before);
}
END_TEST

/* Dotfiles, the directory itself, directories as targets. */
START_TEST(put_refused_names)
{
	struct th_call c;
	char p[256];

	put(&c, ".hidden", "x", 1);
	expect_code(&c, COAP_NOT_FOUND);
	put(&c, "sub/.git", "x", 1);
	expect_code(&c, COAP_NOT_FOUND);
	put(&c, "", "x", 1);
	expect_code(&c, COAP_METHOD_NOT_ALLOWED);
	snprintf(p, sizeof(p), "%s/d", wroot);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	put(&c, "d", "x", 1);
	expect_code(&c, COAP_METHOD_NOT_ALLOWED);
	wcall(&c, &wr_route, "d", COAP_DELETE, NULL, 0, NULL, 0, 1, 0);
	expect_code(&c, COAP_METHOD_NOT_ALLOWED);
	ck_assert(th_exists(wroot, "d"));
	/* POST is not a static route's method. */
	wcall(&c, &wr_route, "a", COAP_POST, NULL, 0, "x", 1, 1, 0);
	expect_code(&c, COAP_METHOD_NOT_ALLOWED);
	ck_assert(!th_exists(wroot, ".hidden"));
}
END_TEST

/* Directories are created only with create_dirs. */
START_TEST(put_create_dirs)
{
	struct th_call c;

	put(&c, "x/y/z.txt", "z", 1);
	expect_code(&c, COAP_NOT_FOUND);
	ck_assert(!th_exists(wroot, "x"));
	wr_route.create_dirs = true;
	put(&c, "x/y/z.txt", "z", 1);
	wr_route.create_dirs = false;
	expect_code(&c, COAP_CREATED);
	th_expect_file(wroot, "x/y/z.txt", "z", 1);
	put(&c, "x/y/z.txt", "zz", 2);
	expect_code(&c, COAP_CHANGED);
}
END_TEST

/* A refused PUT makes no directory, even with create_dirs. */
START_TEST(put_refused_makes_no_dirs)
{
	static const uint8_t etag[] = { 0x01 };
	struct topt o = { COAP_OPT_IF_MATCH, etag, sizeof(etag) };
	struct th_call c;
	char body[2000];

	wr_route.create_dirs = true;
	/* If-Match: the file must exist, and a missing parent says it does not */
	wcall(&c, &wr_route, "a/b/f", COAP_PUT, &o, 1, "x", 1, 1000, 0);
	expect_code(&c, COAP_PRECONDITION_FAILED);
	ck_assert(!th_exists(wroot, "a"));
	/* over max_body_bytes */
	memset(body, 'b', sizeof(body));
	wr_route.max_body_bytes = 1000;
	put(&c, "a/b/f", body, sizeof(body));
	wr_route.max_body_bytes = 16 << 20;
	expect_code(&c, COAP_REQUEST_ENTITY_TOO_LARGE);
	ck_assert(!th_exists(wroot, "a"));
	/* admitted: now the directories are made */
	put(&c, "a/b/f", "x", 1);
	wr_route.create_dirs = false;
	expect_code(&c, COAP_CREATED);
	th_expect_file(wroot, "a/b/f", "x", 1);
}
END_TEST

/* RFC 7959 §2.5: Block1, 2.31 per block, the file appears at the end. */
START_TEST(rfc_block1_upload)
{
	uint8_t body[3 * 64 + 10];
	struct th_call c;
	size_t i;
	int before = fd_count();

	for (i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 13);
	for (i = 0; i < 3; i++) {
		put_block(&c, "b.bin", (uint32_t)i, true, 2, body + i * 64, 64,
		    NULL, 0);
		expect_code(&c, COAP_CONTINUE);
		ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_BLOCK1),
		    block_opt_encode((uint32_t)i, true, 2));
		/* Nothing visible before the last block. */
		ck_assert(!th_exists(wroot, "b.bin"));
	}
	put_block(&c, "b.bin", 3, false, 2, body + 192, 10, NULL, 0);
	expect_code(&c, COAP_CREATED);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_BLOCK1),
	    block_opt_encode(3, false, 2));
	ck_assert_ptr_nonnull(th_ropt(&c.resp, COAP_OPT_ETAG));
	th_expect_file(wroot, "b.bin", body, sizeof(body));
	/* A single block with M=0 is a whole body. */
	put_block(&c, "b.bin", 0, false, 6, "tiny", 4, NULL, 0);
	expect_code(&c, COAP_CHANGED);
	th_expect_file(wroot, "b.bin", "tiny", 4);
	no_temp_files();
	ck_assert_int_eq(fd_count(), before);
}
END_TEST

/* RFC 7959 §2.5: the server asks for smaller blocks in its 2.31. */
START_TEST(rfc_block1_late_negotiation)
{
	uint8_t body[1024 + 64 + 5];
	struct th_call c;

	memset(body, 'q', sizeof(body));
	wr_route.block_size = 64;
	put_block(&c, "n.bin", 0, true, 6, body, 1024, NULL, 0);
	expect_code(&c, COAP_CONTINUE);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_BLOCK1),
	    block_opt_encode(0, true, 2));
	/* 1024 bytes in: NUM 16 of 64-byte blocks. */
	put_block(&c, "n.bin", 16, true, 2, body + 1024, 64, NULL, 0);
	expect_code(&c, COAP_CONTINUE);
	put_block(&c, "n.bin", 17, false, 2, body + 1088, 5, NULL, 0);
	wr_route.block_size = 1024;
	expect_code(&c, COAP_CREATED);
	th_expect_file(wroot, "n.bin", body, sizeof(body));
}
END_TEST

/* RFC 7959 §2.5: a missing or out-of-order block is 4.08. */
START_TEST(rfc_block1_incomplete)
{
	uint8_t body[64];
	struct th_call c;
	int before = fd_count();

	memset(body, 'x', sizeof(body));
	put_block(&c, "o.bin", 1, true, 2, body, 64, NULL, 0);
	expect_code(&c, COAP_REQUEST_ENTITY_INCOMPLETE);
	put_block(&c, "o.bin", 0, true, 2, body, 64, NULL, 0);
	expect_code(&c, COAP_CONTINUE);
	put_block(&c, "o.bin", 2, true, 2, body, 64, NULL, 0);
	expect_code(&c, COAP_REQUEST_ENTITY_INCOMPLETE);
	/* The transfer is gone: block 1 now is 4.08 too. */
	put_block(&c, "o.bin", 1, false, 2, body, 64, NULL, 0);
	expect_code(&c, COAP_REQUEST_ENTITY_INCOMPLETE);
	ck_assert(!th_exists(wroot, "o.bin"));
	/* M set but a short block: 4.00. */
	put_block(&c, "o.bin", 0, true, 2, body, 10, NULL, 0);
	expect_code(&c, COAP_BAD_REQUEST);
	ck_assert_int_eq(fd_count(), before);
	no_temp_files();
}
END_TEST

/* RFC 7959 §2.9.3, §4: 4.13 with Size1 past max_body_bytes. */
START_TEST(rfc_block1_too_large)
{
	uint8_t body[256];
	uint8_t s1[2] = { 0x03, 0xe8 };		/* Size1 1000 */
	struct topt o[1] = { { COAP_OPT_SIZE1, s1, sizeof(s1) } };
	struct th_call c;
	int before = fd_count();

	memset(body, 'l', sizeof(body));
	wr_route.max_body_bytes = 100;
	put(&c, "l.bin", body, 101);
	expect_code(&c, COAP_REQUEST_ENTITY_TOO_LARGE);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_SIZE1), 100);
	put(&c, "l.bin", body, 100);
	expect_code(&c, COAP_CREATED);
	/* Blocks: the second one crosses the limit. */
	put_block(&c, "m.bin", 0, true, 2, body, 64, NULL, 0);
	expect_code(&c, COAP_CONTINUE);
	put_block(&c, "m.bin", 1, true, 2, body, 64, NULL, 0);
	expect_code(&c, COAP_REQUEST_ENTITY_TOO_LARGE);
	ck_assert_uint_eq(th_ropt_uint(&c.resp, COAP_OPT_SIZE1), 100);
	ck_assert(!th_exists(wroot, "m.bin"));
	/* Size1 announces too much: refused at the first block. */
	wcall(&c, &wr_route, "s.bin", COAP_PUT, o, 1, body, 10, 1000, 0);
	expect_code(&c, COAP_REQUEST_ENTITY_TOO_LARGE);
	ck_assert(!th_exists(wroot, "s.bin"));
	wr_route.max_body_bytes = 1 << 20;
	ck_assert_int_eq(fd_count(), before);
	no_temp_files();
}
END_TEST

/* RFC 7252 §5.10.8: If-Match, If-None-Match (create-only). */
START_TEST(rfc_conditional_put)
{
	struct th_call c;
	struct stat st;
	uint8_t etag[H_FILE_ETAG_LEN], bad[H_FILE_ETAG_LEN];
	struct topt inm[1] = { { COAP_OPT_IF_NONE_MATCH, NULL, 0 } };
	struct topt im[1] = { { COAP_OPT_IF_MATCH, NULL, 0 } };
	char p[256];

	wcall(&c, &wr_route, "c.txt", COAP_PUT, inm, 1, "1", 1, 1, 0);
	expect_code(&c, COAP_CREATED);
	wcall(&c, &wr_route, "c.txt", COAP_PUT, inm, 1, "2", 1, 1, 0);
	expect_code(&c, COAP_PRECONDITION_FAILED);
	th_expect_file(wroot, "c.txt", "1", 1);
	/* Empty If-Match: "exists". */
	wcall(&c, &wr_route, "c.txt", COAP_PUT, im, 1, "3", 1, 1, 0);
	expect_code(&c, COAP_CHANGED);
	wcall(&c, &wr_route, "none.txt", COAP_PUT, im, 1, "3", 1, 1, 0);
	expect_code(&c, COAP_PRECONDITION_FAILED);
	ck_assert(!th_exists(wroot, "none.txt"));
	/* If-Match with the current ETag, then a stale one. */
	snprintf(p, sizeof(p), "%s/c.txt", wroot);
	ck_assert_int_eq(stat(p, &st), 0);
	h_file_etag(&st, etag);
	memcpy(bad, etag, sizeof(bad));
	bad[3] ^= 1;
	im[0] = (struct topt){ COAP_OPT_IF_MATCH, bad, sizeof(bad) };
	wcall(&c, &wr_route, "c.txt", COAP_PUT, im, 1, "4", 1, 1, 0);
	expect_code(&c, COAP_PRECONDITION_FAILED);
	im[0] = (struct topt){ COAP_OPT_IF_MATCH, etag, sizeof(etag) };
	wcall(&c, &wr_route, "c.txt", COAP_PUT, im, 1, "5", 1, 1, 0);
	expect_code(&c, COAP_CHANGED);
	th_expect_file(wroot, "c.txt", "5", 1);
	/* Create-only in blocks: a file that appeared meanwhile wins. */
	wcall(&c, &wr_route, "r.txt", COAP_PUT,
	    (struct topt[]){ { COAP_OPT_IF_NONE_MATCH, NULL, 0 },
	    { COAP_OPT_BLOCK1, (uint8_t[]){ 0x0a }, 1 } }, 2,
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    64, 1000, 0);
	expect_code(&c, COAP_CONTINUE);
	/* Another client (port 2000) creates it. */
	wcall(&c, &wr_route, "r.txt", COAP_PUT, NULL, 0, "other", 5, 2000, 0);
	expect_code(&c, COAP_CREATED);
	put_block(&c, "r.txt", 1, false, 2, "end", 3, NULL, 0);
	expect_code(&c, COAP_PRECONDITION_FAILED);
	th_expect_file(wroot, "r.txt", "other", 5);
	no_temp_files();
}
END_TEST

/* RFC 7252 §5.8.4: DELETE is 2.02, also for a file already gone. */
START_TEST(rfc_delete)
{
	struct th_call c;
	struct topt im[1] = { { COAP_OPT_IF_MATCH, NULL, 0 } };
	int before = fd_count();

	put(&c, "d.txt", "d", 1);
	expect_code(&c, COAP_CREATED);
	wcall(&c, &wr_route, "d.txt", COAP_DELETE, NULL, 0, NULL, 0, 1, 0);
	expect_code(&c, COAP_DELETED);
	ck_assert(!th_exists(wroot, "d.txt"));
	wcall(&c, &wr_route, "d.txt", COAP_DELETE, NULL, 0, NULL, 0, 1, 0);
	expect_code(&c, COAP_DELETED);
	wcall(&c, &wr_route, "no/such/dir.txt", COAP_DELETE, NULL, 0, NULL,
	    0, 1, 0);
	expect_code(&c, COAP_DELETED);
	wcall(&c, &wr_route, "d.txt", COAP_DELETE, im, 1, NULL, 0, 1, 0);
	expect_code(&c, COAP_PRECONDITION_FAILED);
	wcall(&c, &wr_route, ".x", COAP_DELETE, NULL, 0, NULL, 0, 1, 0);
	expect_code(&c, COAP_NOT_FOUND);
	/* Not writable: 4.05 whatever the methods say. */
	wr_route.writable = false;
	put(&c, "w.txt", "w", 1);
	expect_code(&c, COAP_METHOD_NOT_ALLOWED);
	wcall(&c, &wr_route, "w.txt", COAP_DELETE, NULL, 0, NULL, 0, 1, 0);
	expect_code(&c, COAP_METHOD_NOT_ALLOWED);
	wr_route.writable = true;
	ck_assert_int_eq(fd_count(), before);
}
END_TEST

/* RFC 9175 §3: two uploads of one client, told apart by Request-Tag. */
START_TEST(rfc_request_tag)
{
	uint8_t a[128], b[128];
	struct th_call c;

	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	put_block(&c, "t.bin", 0, true, 2, a, 64, "ta", 0);
	expect_code(&c, COAP_CONTINUE);
	put_block(&c, "t.bin", 0, true, 2, b, 64, "tb", 0);
	expect_code(&c, COAP_CONTINUE);
	put_block(&c, "t.bin", 1, false, 2, a + 64, 64, "ta", 0);
	expect_code(&c, COAP_CREATED);
	th_expect_file(wroot, "t.bin", a, sizeof(a));
	put_block(&c, "t.bin", 1, false, 2, b + 64, 64, "tb", 0);
	expect_code(&c, COAP_CHANGED);
	th_expect_file(wroot, "t.bin", b, sizeof(b));
	/* An untagged block 1 belongs to no transfer. */
	put_block(&c, "t.bin", 1, false, 2, b, 10, NULL, 0);
	expect_code(&c, COAP_REQUEST_ENTITY_INCOMPLETE);
}
END_TEST

/* Abandoned uploads are reaped by the sweep, their files removed. */
START_TEST(upload_reaped)
{
	uint8_t body[64];
	struct th_call c;
	int before = fd_count();
	uint64_t s = 1000000000ULL;

	memset(body, 'r', sizeof(body));
	put_block(&c, "z.bin", 0, true, 2, body, 64, NULL, s);
	expect_code(&c, COAP_CONTINUE);
	ck_assert_int_gt(fd_count(), before);
	h_file_ops.sweep(wstate, 30 * s);
	ck_assert_int_gt(fd_count(), before);
	put_block(&c, "z.bin", 1, true, 2, body, 64, NULL, 30 * s);
	expect_code(&c, COAP_CONTINUE);
	h_file_ops.sweep(wstate, 100 * s);
	ck_assert_int_eq(fd_count(), before);
	put_block(&c, "z.bin", 2, false, 2, body, 1, NULL, 100 * s);
	expect_code(&c, COAP_REQUEST_ENTITY_INCOMPLETE);
	ck_assert(!th_exists(wroot, "z.bin"));
	no_temp_files();
}
END_TEST

/* Concurrent uploads per worker are bounded: then 5.03 with Max-Age. */
START_TEST(uploads_bounded)
{
	uint8_t body[16];
	struct th_call c;
	char name[32];
	int i, busy = 0, before = fd_count();

	memset(body, 'u', sizeof(body));
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		put_block(&c, name, 0, true, 0, body, 16, NULL, 0);
		if (c.resp.code == COAP_SERVICE_UNAVAILABLE) {
			busy++;
			ck_assert_ptr_nonnull(th_ropt(&c.resp,
			    COAP_OPT_MAX_AGE));
		} else
			expect_code(&c, COAP_CONTINUE);
	}
	/* limits.max_uploads = 32 slots: the other 8 are refused */
	ck_assert_int_eq(busy, 8);
	h_file_ops.sweep(wstate, 1000ULL * 1000000000);
	ck_assert_int_eq(fd_count(), before);
}
END_TEST

START_TEST(handler_table)
{
	struct h_env e;

	handler_table_init(&e);
	ck_assert_ptr_eq(handler_for(&e, ROUTE_STATIC), &h_file_ops);
	ck_assert_ptr_eq(handler_for(&e, ROUTE_HOOK), &h_hook_ops);
	ck_assert_ptr_eq(handler_for(&e, ROUTE_BACKEND), &h_backend_ops);
	ck_assert_ptr_null(handler_for(&e, 0));
	ck_assert_ptr_null(handler_for(&e, HANDLER_KINDS));
	ck_assert_ptr_null(handler_for(NULL, ROUTE_STATIC));
	ck_assert_str_eq(h_file_ops.name, "static");
	ck_assert_ptr_nonnull(h_file_ops.start);
}
END_TEST

static Suite *
h_file_suite(void)
{
	Suite *s = suite_create("h_file");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, tree_setup, tree_teardown);
	tcase_add_test(tc, get_file);
	tcase_add_test(tc, get_file_route);
	tcase_add_test(tc, method_not_allowed);
	tcase_add_test(tc, rfc_etag_valid);
	tcase_add_test(tc, etag_derivation);
	tcase_add_test(tc, rfc_accept);
	tcase_add_test(tc, rfc_block2_file);
	tcase_add_test(tc, rfc_block2_client_size);
	tcase_add_test(tc, rfc_block2_server_size);
	tcase_add_test(tc, rfc_block2_edges);
	tcase_add_test(tc, confinement);
	tcase_add_test(tc, walk_as_beneath);
	tcase_add_test(tc, unreadable_is_not_found);
	tcase_add_test(tc, listing);
	tcase_add_test(tc, listing_blockwise);
	tcase_add_test(tc, listing_etag_changes);
	tcase_add_test(tc, listing_root_route);
	tcase_add_test(tc, no_fd_leak);
	tcase_add_test(tc, handler_table);
	suite_add_tcase(s, tc);

	tc = tcase_create("writes");
	tcase_add_checked_fixture(tc, wr_setup, wr_teardown);
	tcase_add_test(tc, rfc_put_create_replace);
	tcase_add_test(tc, put_refused_names);
	tcase_add_test(tc, put_create_dirs);
	tcase_add_test(tc, put_refused_makes_no_dirs);
	tcase_add_test(tc, rfc_block1_upload);
	tcase_add_test(tc, rfc_block1_late_negotiation);
	tcase_add_test(tc, rfc_block1_incomplete);
	tcase_add_test(tc, rfc_block1_too_large);
	tcase_add_test(tc, rfc_conditional_put);
	tcase_add_test(tc, rfc_delete);
	tcase_add_test(tc, rfc_request_tag);
	tcase_add_test(tc, upload_reaped);
	tcase_add_test(tc, uploads_bounded);
	suite_add_tcase(s, tc);

	/*
	 * The same requests with openat2 refused by seccomp.  Last, because
	 * with CK_FORK=no the filter stays for the rest of the process.
	 */
	tc = tcase_create("fallback");
	tcase_add_unchecked_fixture(tc, tree_setup, tree_teardown);
	tcase_add_checked_fixture(tc, block_openat2, NULL);
	tcase_add_test(tc, get_file);
	tcase_add_test(tc, get_file_route);
	tcase_add_test(tc, rfc_block2_file);
	tcase_add_test(tc, confinement);
	tcase_add_test(tc, walk_as_beneath);
	tcase_add_test(tc, listing);
	tcase_add_test(tc, listing_blockwise);
	tcase_add_test(tc, listing_root_route);
	tcase_add_test(tc, no_fd_leak);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(h_file_suite());
}
