/*
 * helpers.c - the shared unit-test helpers (helpers.h).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <grp.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/cfg.h"
#include "base/net.h"
#include "proto/amp.h"
#include "proto/metrics.h"
#include "serve/dispatch.h"
#include "serve/handler.h"
#include "serve/worker.h"

#include "helpers.h"

void
th_mkdtemp(char *dir, size_t cap, const char *tag)
{
	ck_assert_int_lt(snprintf(dir, cap, "/tmp/coapd-%s-XXXXXX", tag),
	    (int)cap);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

void
th_rmtree(const char *dir)
{
	struct stat	 st;

	if (dir[0] == '\0' || lstat(dir, &st) != 0)
		return;
	ck_assert_int_eq(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void
join(char *out, size_t cap, const char *dir, const char *rel)
{
	ck_assert_int_lt(snprintf(out, cap, "%s/%s", dir, rel), (int)cap);
}

void
th_put(const char *dir, const char *rel, const void *data, size_t len)
{
	char	 path[PATH_MAX];
	int	 fd;

	join(path, sizeof(path), dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(fd >= 0, "open %s", path);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

void
th_put_str(const char *dir, const char *rel, const char *text)
{
	th_put(dir, rel, text, strlen(text));
}

/* Replaced by rename, as publishers do: a new inode, a new ETag. */
void
th_put_renamed(const char *dir, const char *rel, const void *data,
    size_t len)
{
	char	 path[PATH_MAX], tmp[PATH_MAX + 8];

	join(path, sizeof(path), dir, rel);
	snprintf(tmp, sizeof(tmp), "%s.new", rel);
	th_put(dir, tmp, data, len);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	ck_assert_int_eq(rename(tmp, path), 0);
}

void
th_mkdir(const char *dir, const char *rel)
{
	char	 path[PATH_MAX];

	join(path, sizeof(path), dir, rel);
	ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s", path);
}

void
th_symlink(const char *target, const char *dir, const char *rel)
{
	char	 path[PATH_MAX];

	join(path, sizeof(path), dir, rel);
	ck_assert_int_eq(symlink(target, path), 0);
}

bool
th_exists(const char *dir, const char *rel)
{
	char		 path[PATH_MAX];
	struct stat	 st;

	join(path, sizeof(path), dir, rel);
	return stat(path, &st) == 0;
}

/* dir/rel holds exactly data (up to 8 KiB). */
void
th_expect_file(const char *dir, const char *rel, const void *data,
    size_t len)
{
	char	 path[PATH_MAX];
	uint8_t	 buf[8192];
	ssize_t	 n;
	int	 fd;

	ck_assert_uint_le(len, sizeof(buf));
	join(path, sizeof(path), dir, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s missing", rel);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	ck_assert_int_eq(n, (ssize_t)len);
	ck_assert_mem_eq(buf, data, len);
}

void
th_cfg_err(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "config: %s\n", line);
}

struct cfg *
th_cfg_load(const char *dir, const char *name, const char *text)
{
	char		 path[PATH_MAX];
	struct cfg	*c = NULL;

	th_put_str(dir, name, text);
	join(path, sizeof(path), dir, name);
	ck_assert_int_eq(cfg_load(path, &c, th_cfg_err, NULL), 0);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* The shortest big-endian bytes of v (RFC 7252 §3.2 uint). */
size_t
th_uint_opt(uint32_t v, uint8_t out[4])
{
	size_t	 n = v > 0xffffff ? 4 : v > 0xffff ? 3 : v > 0xff ? 2 :
		    v > 0 ? 1 : 0, i;

	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return n;
}

const struct coap_opt *
th_ropt(const struct coap_resp *r, uint16_t num)
{
	unsigned	 i;

	for (i = 0; i < r->nopts; i++)
		if (r->opts[i].num == num)
			return &r->opts[i];
	return NULL;
}

/* Value of an unsigned response option; fails the test when absent. */
uint32_t
th_ropt_uint(const struct coap_resp *r, uint16_t num)
{
	const struct coap_opt	*o = th_ropt(r, num);
	uint32_t		 v;

	ck_assert_msg(o != NULL, "option %u missing", num);
	ck_assert_int_eq(coap_opt_uint(o, &v), 0);
	return v;
}

/* A handler's start() returned rc = H_DONE with response code `code`. */
void
th_expect_code(int rc, const struct coap_resp *r, uint8_t code)
{
	char	 a[5], b[5];

	ck_assert_int_eq(rc, H_DONE);
	ck_assert_msg(r->code == code, "code %s, want %s",
	    coap_code_str(r->code, a), coap_code_str(code, b));
}

void
th_upload_route(struct cfg_route *r, char *dir)
{
	memset(r, 0, sizeof(*r));
	r->path = "/up";
	r->path_len = 3;
	r->kind = ROUTE_STATIC;
	r->methods = ROUTE_METHOD(COAP_GET) | ROUTE_METHOD(COAP_PUT);
	r->static_path = dir;
	r->static_is_dir = true;
	r->static_dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(r->static_dirfd, 0);
	r->writable = true;
	r->block_size = 1024;
	r->max_body_bytes = 1 << 20;
	r->max_age = 60;
	r->ct = -1;
}

void
th_call_msg(struct th_call *c, uint8_t method, const struct topt *opts,
    size_t nopts, const void *body, size_t blen)
{
	struct coap_enc	 e;
	ssize_t		 n;
	size_t		 i;

	memset(c, 0, sizeof(*c));
	coap_enc_init(&e, c->dgram, sizeof(c->dgram), COAP_TYPE_CON, method,
	    0x4242, (const uint8_t *)"tk", 2);
	for (i = 0; i < nopts; i++)
		coap_enc_opt(&e, opts[i].num, opts[i].val, opts[i].len);
	if (blen > 0)
		coap_enc_payload(&e, body, blen);
	n = coap_enc_finish(&e);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(coap_msg_parse(&c->msg, c->dgram, (size_t)n), 0);
	coap_resp_init(&c->resp, c->payload, COAP_PAYLOAD_MAX);
}

void
th_call_req(struct th_call *c, struct h_req *req, const struct cfg *cfg,
    const struct cfg_route *r, const char *rest, uint16_t port)
{
	c->peer = th_v4("127.0.0.1", port);
	snprintf(c->path, sizeof(c->path), "%s%s%s", r->path,
	    rest[0] != '\0' ? "/" : "", rest);
	memset(req, 0, sizeof(*req));
	req->msg = &c->msg;
	req->cfg = cfg;
	req->route = r;
	req->path = c->path;
	req->path_len = strlen(c->path);
	req->rest = rest;
	req->peer = (const struct sockaddr *)&c->peer;
	req->peerlen = sizeof(c->peer);
}

struct sockaddr_in
th_v4(const char *addr, uint16_t port)
{
	struct sockaddr_in	 s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	s.sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &s.sin_addr), 1);
	return s;
}

struct sockaddr_in6
th_v6(const char *addr, uint16_t port, uint32_t scope)
{
	struct sockaddr_in6	 s;

	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	s.sin6_port = htons(port);
	s.sin6_scope_id = scope;
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &s.sin6_addr), 1);
	return s;
}

void
th_bed_start(struct th_bed *b, const char *conf, uint16_t mid)
{
	b->cfg = th_cfg_load(b->tmp, "t.conf", conf);
	memset(&b->met, 0, sizeof(b->met));
	atomic_store(&b->file_gen, 0);
	b->env.file_gen = &b->file_gen;
	handler_table_init(&b->env);
	ck_assert_ptr_nonnull(b->d = calloc(1, sizeof(*b->d)));
	ck_assert_int_eq(dispatch_init(b->d, b->cfg, &b->met, &b->env, NULL,
	    mid), 0);
}

void
th_bed_end(struct th_bed *b)
{
	if (b->d != NULL) {
		dispatch_fini(b->d);
		free(b->d);
		b->d = NULL;
	}
	if (b->cfg != NULL) {
		cfg_unref(b->cfg);
		b->cfg = NULL;
	}
	th_rmtree(b->tmp);
}

void
th_trust(struct dispatch *d, const struct sockaddr *a, socklen_t alen,
    uint64_t now_ns)
{
	struct amp_entry	*e;
	bool			 ev;

	ck_assert_ptr_nonnull(e = amp_rx(&d->amp, a, alen, 0, now_ns, &ev));
	e->verified_ns = UINT64_MAX;
}

int
th_worker(struct worker **w, struct cfg *c, struct h_env *env,
    struct sockaddr_in *addr)
{
	socklen_t	 len = sizeof(*addr);
	char		 err[256];
	bool		 dtls = false;
	int		 srv;

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv = net_udp_bind((struct sockaddr *)addr, sizeof(*addr), 1 << 20,
	    1 << 20, NULL);
	ck_assert_int_ge(srv, 0);
	ck_assert_int_eq(getsockname(srv, (struct sockaddr *)addr, &len), 0);
	ck_assert_msg(worker_start(w, 0, c, env, &srv, &dtls, 1, err,
	    sizeof(err)) == 0, "worker_start: %s", err);
	return srv;
}

void
th_worker_end(struct worker *w, int srv)
{
	worker_stop(w);
	worker_join(w);
	close(srv);
}

int
th_client(const struct sockaddr_in *srv)
{
	struct timeval	 tv = { 0, 50000 };
	int		 fd;

	ck_assert_int_ge(fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0);
	ck_assert_int_eq(connect(fd, (const struct sockaddr *)srv,
	    sizeof(*srv)), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	return fd;
}

/*
 * Wait up to ms for a message on fd; parse it into m (buf keeps its
 * bytes).  Returns false on timeout.
 */
bool
th_recv(int fd, struct coap_msg *m, uint8_t *buf, size_t cap, size_t *len,
    unsigned ms)
{
	struct pollfd	 p = { .fd = fd, .events = POLLIN };
	ssize_t		 n;

	if (poll(&p, 1, (int)ms) != 1)
		return false;
	n = recv(fd, buf, cap, 0);
	ck_assert_int_gt(n, 0);
	*len = (size_t)n;
	ck_assert_int_eq(coap_msg_parse(m, buf, (size_t)n), 0);
	return true;
}

void
th_silence(int fd, unsigned ms)
{
	struct pollfd	 p = { .fd = fd, .events = POLLIN };

	ck_assert_msg(poll(&p, 1, (int)ms) == 0, "unexpected message");
}

void
th_send_empty(int fd, uint8_t type, uint16_t mid)
{
	uint8_t	 buf[4] = { (uint8_t)(0x40 | type << 4), 0,
		    (uint8_t)(mid >> 8), (uint8_t)mid };

	ck_assert_int_eq(send(fd, buf, 4, 0), 4);
}

void *
th_svc_state(const struct cfg *c, const struct h_env *e,
    const struct h_svc *s)
{
	(void)c;
	(void)e;
	return (void *)(uintptr_t)s;
}

#define NOBODY	65534

void
th_unprivileged(bool (*fn)(void *), void *arg)
{
	pid_t	 pid;
	int	 status;

	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgroups(0, NULL) != 0 ||
		    setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) != 0)) {
			perror("th_unprivileged: drop to nobody");
			_exit(2);
		}
		if (geteuid() == 0)
			_exit(3);
		_exit(fn(arg) ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "unprivileged child: status 0x%x", (unsigned)status);
}

void
th_stderr_begin(struct th_stderr *c)
{
	c->f = tmpfile();
	ck_assert_ptr_nonnull(c->f);
	c->saved = dup(2);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_eq(dup2(fileno(c->f), 2), 2);
}

void
th_stderr_end(struct th_stderr *c, char *out, size_t cap)
{
	size_t	 n;

	ck_assert_int_eq(dup2(c->saved, 2), 2);
	close(c->saved);
	rewind(c->f);
	n = fread(out, 1, cap - 1, c->f);
	out[n] = '\0';
	fclose(c->f);
}

int
th_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
