/*
 * helpers.h - what the unit suites share instead of copying: scratch
 * trees under /tmp, a configuration written and loaded from one, request
 * options and response checks, a dispatch engine on a configuration, a
 * real worker on a loopback socket with raw datagram clients, stderr
 * captured, and the check(3) runner.  Every helper asserts (ck_assert) instead of returning
 * an error: a failed step fails the test that called it.
 *
 * Linked into each build/test_* (Makefile); not part of libcoapd.
 */
#ifndef COAPD_TEST_HELPERS_H
#define COAPD_TEST_HELPERS_H

#include <sys/socket.h>

#include <netinet/in.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <check.h>

#include "proto/coap_msg.h"
#include "proto/metrics.h"
#include "serve/handler.h"

struct cfg;
struct cfg_route;
struct dispatch;
struct h_req;
struct h_env;
struct h_svc;
struct metrics;
struct worker;

/* One request option; callers add them in the order the encoder wants. */
struct topt {
	uint16_t	 num;
	const void	*val;	/* NULL with len 0 for an empty value */
	size_t		 len;
};

/* Scratch trees: dir is "/tmp/coapd-<tag>-XXXXXX" made by mkdtemp. */
void	 th_mkdtemp(char *dir, size_t cap, const char *tag);
void	 th_rmtree(const char *dir);
void	 th_put(const char *dir, const char *rel, const void *data,
	    size_t len);
void	 th_put_str(const char *dir, const char *rel, const char *text);
void	 th_put_renamed(const char *dir, const char *rel, const void *data,
	    size_t len);
void	 th_mkdir(const char *dir, const char *rel);
void	 th_symlink(const char *target, const char *dir, const char *rel);
bool	 th_exists(const char *dir, const char *rel);
void	 th_expect_file(const char *dir, const char *rel, const void *data,
	    size_t len);

/* Configurations: text written as dir/name and loaded (must succeed). */
void	 th_cfg_err(void *arg, const char *line);
struct cfg *th_cfg_load(const char *dir, const char *name, const char *text);

/* Options and responses. */
size_t	 th_uint_opt(uint32_t v, uint8_t out[4]);
const struct coap_opt *th_ropt(const struct coap_resp *r, uint16_t num);
uint32_t th_ropt_uint(const struct coap_resp *r, uint16_t num);
void	 th_expect_code(int rc, const struct coap_resp *r, uint8_t code);
struct sockaddr_in th_v4(const char *addr, uint16_t port);
struct sockaddr_in6 th_v6(const char *addr, uint16_t port, uint32_t scope);

/*
 * One handler call: the request datagram and its parse, the response and
 * its payload, what start() returned, and what the request points at.
 * th_call_msg: a CON (MID 0x4242, token "tk") with opts (in order) and
 * body, parsed; the response initialised on payload (COAP_PAYLOAD_MAX).
 * th_call_req: req for that message on route r at rest (the path
 * "route/rest") from 127.0.0.1:port; the caller sets the rest (now_ns,
 * hstate, engine).
 */
struct th_call {
	uint8_t			 dgram[2048];
	struct coap_msg		 msg;
	struct coap_resp	 resp;
	uint8_t			 payload[COAP_PAYLOAD_MAX];
	int			 rc;
	char			 path[256];
	struct sockaddr_in	 peer;
};

/*
 * A writable directory route "/up" on dir (GET and PUT, block_size 1024,
 * max_body_bytes 1 MiB, max_age 60); static_dirfd is the caller's to close.
 */
void	 th_upload_route(struct cfg_route *r, char *dir);
void	 th_call_msg(struct th_call *c, uint8_t method, const struct topt *opts,
	    size_t nopts, const void *body, size_t blen);
void	 th_call_req(struct th_call *c, struct h_req *req, const struct cfg *cfg,
	    const struct cfg_route *r, const char *rest, uint16_t port);

/*
 * A test bed for the dispatch engine: a scratch directory, the
 * configuration loaded from it, metrics, handler table, engine.
 * th_bed_start: tmp/t.conf written with conf and loaded, metrics and
 * file_gen zeroed, an engine started whose first message ID is mid.
 * th_bed_end: all of it gone (the directory too).  th_trust: the host of
 * a answered an Echo challenge (for suites about other things than the
 * amplification guard).
 */
struct th_bed {
	char			 tmp[64];
	struct cfg		*cfg;
	struct metrics		 met;
	atomic_uint_least64_t	 file_gen;
	struct h_env		 env;
	struct dispatch		*d;
};

void	 th_bed_start(struct th_bed *b, const char *conf, uint16_t mid);
void	 th_bed_end(struct th_bed *b);
void	 th_trust(struct dispatch *d, const struct sockaddr *a, socklen_t alen,
	    uint64_t now_ns);

/*
 * A real worker on a loopback UDP socket (address in *addr); returns the
 * server socket.  th_client: a socket connected to it.
 */
int	 th_worker(struct worker **w, struct cfg *c, struct h_env *env,
	    struct sockaddr_in *addr);
void	 th_worker_end(struct worker *w, int srv);
int	 th_client(const struct sockaddr_in *srv);
bool	 th_recv(int fd, struct coap_msg *m, uint8_t *buf, size_t cap,
	    size_t *len, unsigned ms);
void	 th_silence(int fd, unsigned ms);
void	 th_send_empty(int fd, uint8_t type, uint16_t mid);
/* worker_init of test handler kinds: the service is their state. */
void	*th_svc_state(const struct cfg *c, const struct h_env *e,
	    const struct h_svc *s);

/*
 * Run fn(arg) in a child process that is not root: as root, the child
 * first drops to nobody (65534, no supplementary groups), so that what
 * only root may do (read a mode 000 file, ...) is tested as a daemon
 * without privileges sees it.  The test fails unless fn returns true;
 * an assertion failing inside fn exits the child non-zero (check's
 * default fork mode).
 */
void	 th_unprivileged(bool (*fn)(void *), void *arg);

/*
 * Send this process's stderr (fd 2, every thread's) to a temporary file
 * until th_stderr_end(), which puts it back and copies what was written
 * to out (cap bytes with the NUL).
 */
struct th_stderr {
	FILE	*f;
	int	 saved;
};
void	 th_stderr_begin(struct th_stderr *c);
void	 th_stderr_end(struct th_stderr *c, char *out, size_t cap);

/* Run every test of s; the exit status of main. */
int	 th_run(Suite *s);

#endif
