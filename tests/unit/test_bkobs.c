/*
 * test_bkobs.c - Observe through a backend route (src/serve/h_backend_obs.c
 * with notify_relay() in notify.c) through the real worker and the real
 * backend handler: the test is the backend, on a Unix datagram socket.
 * Two clients observe one path: the registration goes upstream once (the
 * second client's GET is a plain fetch), each notification of the backend
 * reaches both with coapd's own rising Observe numbers (a CON one is
 * ACKed upstream), an RST takes one client out, and when the last leaves
 * (Observe 1) coapd deregisters upstream with a GET with Observe 1 and
 * the registration's token, and answers a later notification with RST.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "adapt/cfg.h"
#include "base/clock.h"
#include "base/net.h"
#include "proto/coap_msg.h"
#include "serve/handler.h"
#include "serve/worker.h"

static char		 dir[64];
static struct cfg	*cfg;
static struct worker	*w;
static struct h_env	 env;
static atomic_uint_least64_t gen;
static int		 srv = -1, be = -1, cli[2] = { -1, -1 };
static uint8_t		 echo[2][64];	/* RFC 9175 values, per client */
static size_t		 echo_len[2];

/* What the backend got: a parsed copy with the sender. */
struct got {
	uint8_t			 buf[1500];
	struct coap_msg		 m;
	struct sockaddr_un	 from;
	socklen_t		 fromlen;
};

static void
errf(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s\n", line);
}

static void
setup(void)
{
	char			 path[128], sock[128], err[256];
	struct sockaddr_in	 a;
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	socklen_t		 len = sizeof(a);
	struct timeval		 tv = { 0, 50000 };
	bool			 dtls = false;
	size_t			 i;
	FILE			*f;

	strcpy(dir, "/tmp/test_bkobs.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/app.sock", dir);
	strcpy(sun.sun_path, sock);
	ck_assert_int_ge(be = socket(AF_UNIX, SOCK_DGRAM, 0), 0);
	ck_assert_int_eq(bind(be, (struct sockaddr *)&sun, sizeof(sun)), 0);
	snprintf(path, sizeof(path), "%s/coapd.conf", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "workers = 1;\nroutes = ( { path = \"/app\"; "
	    "backend = \"%s\"; strip_prefix = true; observe = true; "
	    "timeout_s = 2; } );\n", sock);
	fclose(f);
	ck_assert_int_eq(cfg_load(path, &cfg, errf, NULL), 0);
	ck_assert_int_eq(cfg->routes[0].kind, ROUTE_BACKEND);
	handler_table_init(&env);
	env.file_gen = &gen;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv = net_udp_bind((struct sockaddr *)&a, sizeof(a), 1 << 20, 1 << 20,
	    NULL);
	ck_assert_int_ge(srv, 0);
	ck_assert_int_eq(getsockname(srv, (struct sockaddr *)&a, &len), 0);
	ck_assert_int_eq(worker_start(&w, 0, cfg, &env, &srv, &dtls, 1, err,
	    sizeof(err)), 0);
	for (i = 0; i < 2; i++) {
		cli[i] = socket(AF_INET, SOCK_DGRAM, 0);
		ck_assert_int_ge(cli[i], 0);
		ck_assert_int_eq(connect(cli[i], (struct sockaddr *)&a,
		    sizeof(a)), 0);
		setsockopt(cli[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		echo_len[i] = 0;
	}
}

static void
teardown(void)
{
	char	 cmd[128];

	worker_stop(w);
	worker_join(w);
	cfg_unref(cfg);
	close(srv);
	close(be);
	close(cli[0]);
	close(cli[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const uint8_t TOK[] = { 0x0b, 0x5e };

/* Client i's GET /app/obs (Observe observe, -1: none), with its Echo. */
static void
send_get(int i, uint16_t mid, int observe)
{
	struct coap_enc	 e;
	uint8_t		 buf[128], v = (uint8_t)observe;
	ssize_t		 n;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, mid, TOK,
	    sizeof(TOK));
	if (observe >= 0)
		coap_enc_opt(&e, COAP_OPT_OBSERVE, &v, v != 0 ? 1 : 0);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "app", 3);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "obs", 3);
	if (echo_len[i] > 0)
		coap_enc_opt(&e, COAP_OPT_ECHO, echo[i], echo_len[i]);
	ck_assert_int_gt(n = coap_enc_finish(&e), 0);
	ck_assert_int_eq(send(cli[i], buf, (size_t)n, 0), n);
}

static void
send_empty(int i, uint8_t type, uint16_t mid)
{
	uint8_t	 b[4] = { (uint8_t)(1 << 6 | type << 4), 0,
		    (uint8_t)(mid >> 8), (uint8_t)mid };

	ck_assert_int_eq(send(cli[i], b, sizeof(b), 0), 4);
}

/* A message on fd within ms into g (false: none). */
static bool
recv_msg(int fd, struct got *g, unsigned ms)
{
	struct pollfd	 p = { .fd = fd, .events = POLLIN };
	ssize_t		 n;

	if (poll(&p, 1, (int)ms) != 1)
		return false;
	g->fromlen = sizeof(g->from);
	n = recvfrom(fd, g->buf, sizeof(g->buf), 0,
	    (struct sockaddr *)&g->from, &g->fromlen);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(coap_msg_parse(&g->m, g->buf, (size_t)n), 0);
	return true;
}

/*
 * Client i's answer or notification: a 2.05 with our token and payload
 * want within ms, ACKed when a CON, or rejected (RST, RFC 7641 §3.6)
 * when rst; its Observe (-1: none).
 */
static int64_t
expect_rst(int i, const char *want, unsigned ms, bool rst)
{
	struct got		 g;
	const struct coap_opt	*o;
	uint32_t		 v;

	do
		ck_assert_msg(recv_msg(cli[i], &g, ms), "client %d: nothing "
		    "within %u ms", i, ms);
	while (g.m.code == COAP_EMPTY && g.m.type == COAP_TYPE_ACK);
	ck_assert_uint_eq(g.m.code, COAP_CONTENT);
	ck_assert_mem_eq(g.m.token, TOK, sizeof(TOK));
	ck_assert_uint_eq(g.m.payload_len, strlen(want));
	ck_assert_mem_eq(g.m.payload, want, strlen(want));
	if (rst)
		send_empty(i, COAP_TYPE_RST, g.m.mid);
	else if (g.m.type == COAP_TYPE_CON)
		send_empty(i, COAP_TYPE_ACK, g.m.mid);
	if ((o = coap_msg_opt(&g.m, COAP_OPT_OBSERVE)) == NULL)
		return -1;
	ck_assert_int_eq(coap_opt_uint(o, &v), 0);
	return v;
}

static int64_t
expect(int i, const char *want, unsigned ms)
{
	return expect_rst(i, want, ms, false);
}

static void
silence(int fd, unsigned ms)
{
	struct pollfd	 p = { .fd = fd, .events = POLLIN };

	ck_assert_msg(poll(&p, 1, (int)ms) == 0, "unexpected message");
}

/*
 * Client i's first GET Observe 0: when it meets an Echo challenge
 * (RFC 9175, for an Observe registration over plain UDP from an address
 * not verified yet), keep the value and ask again.
 */
static void
verify(int i, uint16_t mid)
{
	struct got		 g;
	const struct coap_opt	*o;

	send_get(i, mid, 0);
	if (!recv_msg(cli[i], &g, 300))
		return;			/* forwarded */
	if (g.m.code == COAP_EMPTY)
		return;			/* forwarded, answered later */
	ck_assert_uint_eq(g.m.code, COAP_UNAUTHORIZED);
	ck_assert_ptr_nonnull(o = coap_msg_opt(&g.m, COAP_OPT_ECHO));
	ck_assert_uint_le(o->len, sizeof(echo[i]));
	memcpy(echo[i], o->val, o->len);
	echo_len[i] = o->len;
	send_get(i, mid + 1, 0);
}

/* The backend's request within ms: a CON GET /obs; its Observe. */
static int64_t
be_request_in(struct got *g, unsigned ms)
{
	const struct coap_opt	*o;
	uint32_t		 v;

	ck_assert_msg(recv_msg(be, g, ms), "backend: no request");
	ck_assert_uint_eq(g->m.type, COAP_TYPE_CON);
	ck_assert_uint_eq(g->m.code, COAP_GET);
	ck_assert_uint_eq(g->m.tkl, 8);		/* coapd's own token */
	ck_assert_ptr_nonnull(o = coap_msg_opt(&g->m, COAP_OPT_URI_PATH));
	ck_assert_uint_eq(o->len, 3);
	ck_assert_mem_eq(o->val, "obs", 3);	/* strip_prefix */
	if ((o = coap_msg_opt(&g->m, COAP_OPT_OBSERVE)) == NULL)
		return -1;
	ck_assert_int_eq(coap_opt_uint(o, &v), 0);
	return v;
}

static int64_t
be_request(struct got *g)
{
	return be_request_in(g, 1000);
}

/* The backend sends type/mid with token of r, Observe seq (-1: none). */
static void
be_send(const struct got *to, const uint8_t *token, uint8_t type,
    uint16_t mid, int64_t seq, const char *payload)
{
	struct coap_enc	 e;
	uint8_t		 buf[128], v = (uint8_t)seq;
	ssize_t		 n;

	coap_enc_init(&e, buf, sizeof(buf), type, COAP_CONTENT, mid, token, 8);
	if (seq >= 0)
		coap_enc_opt(&e, COAP_OPT_OBSERVE, &v, 1);
	coap_enc_payload(&e, payload, strlen(payload));
	ck_assert_int_gt(n = coap_enc_finish(&e), 0);
	ck_assert_int_eq(sendto(be, buf, (size_t)n, 0,
	    (const struct sockaddr *)&to->from, to->fromlen), n);
}

/* Backend replies that matched nothing coapd sent or observes. */
static uint64_t
unmatched(void)
{
	return metrics_get(&worker_metrics(w)->backend_unmatched);
}

START_TEST(one_registration_fanned_out_deregistered)
{
	struct got	 reg, get, g;
	uint8_t		 tok[8];
	int64_t		 a0, a1, b0, b1;
	uint64_t	 t0;

	/* client 0 registers: forwarded with Observe 0 */
	verify(0, 0x100);
	ck_assert_int_eq(be_request(&reg), 0);
	memcpy(tok, reg.m.token, sizeof(tok));
	be_send(&reg, tok, COAP_TYPE_ACK, reg.m.mid, 5, "v1");
	ck_assert_int_ge(a0 = expect(0, "v1", 1000), 0);

	/* client 1 joins: upstream a plain fetch, not a 2nd registration */
	verify(1, 0x200);
	ck_assert_int_eq(be_request(&get), -1);
	ck_assert_mem_ne(get.m.token, tok, sizeof(tok));
	be_send(&get, get.m.token, COAP_TYPE_ACK, get.m.mid, -1, "v1");
	ck_assert_int_ge(b0 = expect(1, "v1", 1000), 0);
	silence(be, 100);

	/* a NON notification reaches both, numbered by coapd */
	be_send(&reg, tok, COAP_TYPE_NON, 0x7000, 6, "v2");
	ck_assert_int_gt(a1 = expect(0, "v2", 1000), a0);
	ck_assert_int_gt(b1 = expect(1, "v2", 1000), b0);
	silence(be, 50);		/* nothing to acknowledge */

	/* a CON one is ACKed upstream and reaches both too */
	be_send(&reg, tok, COAP_TYPE_CON, 0x7001, 7, "v3");
	ck_assert(recv_msg(be, &g, 1000));
	ck_assert_uint_eq(g.m.type, COAP_TYPE_ACK);
	ck_assert_uint_eq(g.m.code, COAP_EMPTY);
	ck_assert_uint_eq(g.m.mid, 0x7001);
	ck_assert_int_gt(a0 = expect(0, "v3", 1000), a1);
	ck_assert_int_gt(b0 = expect(1, "v3", 1000), b1);

	/* client 0 rejects the next one (RST): client 1 alone goes on */
	be_send(&reg, tok, COAP_TYPE_NON, 0x7002, 8, "v4");
	ck_assert_int_gt(expect_rst(0, "v4", 1000, true), a0);
	ck_assert_int_gt(b1 = expect(1, "v4", 1000), b0);
	usleep(100 * 1000);
	be_send(&reg, tok, COAP_TYPE_NON, 0x7003, 9, "v5");
	ck_assert_int_gt(expect(1, "v5", 1000), b1);
	silence(cli[0], 200);
	silence(be, 1200);	/* one observer left: no deregistration */

	/* client 1 leaves with Observe 1: its GET is a plain fetch ... */
	send_get(1, 0x300, 1);
	ck_assert_int_eq(be_request(&get), -1);
	be_send(&get, get.m.token, COAP_TYPE_ACK, get.m.mid, -1, "v5");
	ck_assert_int_eq(expect(1, "v5", 1000), -1);
	/* ... and within the check (a second) coapd deregisters upstream */
	t0 = clock_now_ns();
	ck_assert_int_eq(be_request_in(&g, 2500), 1);
	ck_assert_uint_lt(clock_now_ns() - t0, 2500 * NS_PER_MS);
	ck_assert_mem_eq(g.m.token, tok, sizeof(tok));
	be_send(&g, tok, COAP_TYPE_ACK, g.m.mid, -1, "v5");

	/* a later notification of that token: RST, and nobody hears it */
	be_send(&reg, tok, COAP_TYPE_NON, 0x7004, 10, "v6");
	ck_assert(recv_msg(be, &g, 1000));
	ck_assert_uint_eq(g.m.type, COAP_TYPE_RST);
	ck_assert_uint_eq(g.m.mid, 0x7004);
	silence(cli[0], 100);
	silence(cli[1], 100);
	/* both were expected: neither is an unmatched reply (nor logged) */
	ck_assert_uint_eq(unmatched(), 0);
	/* a token coapd never sent is */
	tok[0] ^= 0xff;
	be_send(&reg, tok, COAP_TYPE_NON, 0x7005, 11, "v7");
	ck_assert(recv_msg(be, &g, 1000));
	ck_assert_uint_eq(g.m.type, COAP_TYPE_RST);
	ck_assert_uint_eq(unmatched(), 1);
}
END_TEST

/*
 * Both observers reject notifications (RST): the last one gone, the
 * registration ends upstream without any client's GET.
 */
START_TEST(last_rst_deregisters)
{
	struct got	 reg, get, g;
	uint8_t		 tok[8];

	verify(0, 0x100);
	ck_assert_int_eq(be_request(&reg), 0);
	memcpy(tok, reg.m.token, sizeof(tok));
	be_send(&reg, tok, COAP_TYPE_ACK, reg.m.mid, 1, "v1");
	ck_assert_int_ge(expect(0, "v1", 1000), 0);
	verify(1, 0x200);
	ck_assert_int_eq(be_request(&get), -1);
	be_send(&get, get.m.token, COAP_TYPE_ACK, get.m.mid, -1, "v1");
	ck_assert_int_ge(expect(1, "v1", 1000), 0);

	be_send(&reg, tok, COAP_TYPE_NON, 0x7100, 2, "v2");
	ck_assert_int_ge(expect_rst(0, "v2", 1000, true), 0);
	ck_assert_int_ge(expect_rst(1, "v2", 1000, true), 0);
	/* nobody left: deregistered upstream within the check */
	ck_assert_int_eq(be_request_in(&g, 2500), 1);
	ck_assert_mem_eq(g.m.token, tok, sizeof(tok));
	silence(cli[0], 100);
	silence(cli[1], 100);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("bkobs");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, one_registration_fanned_out_deregistered);
	tcase_add_test(tc, last_rst_deregisters);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
