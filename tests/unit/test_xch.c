/*
 * test_xch.c - pending exchanges (src/serve/xch.c) through the real
 * worker: a handler kind registered by the test answers after a timer of
 * the worker's event service, and raw datagrams on a loopback socket see
 * what a client sees (RFC 7252 §5.2.2 separate responses, §4.2
 * retransmission, §4.5 duplicates, §5.2.3 NON).
 *
 * GET /slow?ms=N answers 2.05 "late <route path>" after N ms.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "adapt/cfg.h"
#include "adapt/log.h"
#include "base/clock.h"
#include "base/net.h"
#include "proto/coap_msg.h"
#include "serve/handler.h"
#include "serve/worker.h"

#include "helpers.h"

#define KIND_TEST	7

static char		 dir[64];
static struct cfg	*cfg;
static struct worker	*w;
static struct h_env	 env;
static atomic_uint_least64_t gen;
static int		 srv = -1, cli = -1;
static struct sockaddr_in srv_addr;

static atomic_int	 n_started, n_cancelled, n_completed;
static bool		 access_on;	/* log.access for the next setup */

/* The test handler kind. */
struct slow {
	struct xch		*x;
	const struct h_svc	*svc;
	const struct cfg_route	*route;
	int			 timer;
};

static void
slow_fire(void *arg, uint64_t now_ns)
{
	struct slow		*s = arg;
	struct coap_resp	*r = xch_resp(s->x);
	char			 msg[64];
	int			 n;

	r->code = COAP_CONTENT;
	/* the route's path proves the route is still there */
	n = snprintf(msg, sizeof(msg), "late %s", s->route->path);
	coap_resp_payload(r, msg, (size_t)n);
	xch_complete(s->x, now_ns);
	atomic_fetch_add(&n_completed, 1);
	free(s);
}

static void
slow_cancel(void *ctx, enum xch_cancel why)
{
	struct slow	*s = ctx;

	(void)why;
	s->svc->untimer(s->svc->svc, s->timer);
	atomic_fetch_add(&n_cancelled, 1);
	free(s);
}

static int
slow_start(const struct h_req *req, struct coap_resp *resp)
{
	const struct h_svc	*svc = req->hstate;
	const struct coap_opt	*q;
	struct slow		*s;
	unsigned		 ms = 0;

	atomic_fetch_add(&n_started, 1);
	if ((q = coap_msg_opt(req->msg, COAP_OPT_URI_QUERY)) != NULL)
		sscanf((const char *)q->val, "ms=%u", &ms);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	if ((s->x = xch_begin(req, s)) == NULL) {
		free(s);
		xch_busy(resp);
		return H_DONE;
	}
	s->svc = svc;
	s->route = req->route;
	s->timer = svc->timer(svc->svc, req->now_ns + ms * NS_PER_MS,
	    slow_fire, s);
	ck_assert_int_ge(s->timer, 0);
	return H_PENDING;
}

static const struct handler_ops slow_ops = {
	.name = "slow",
	.worker_init = th_svc_state,
	.start = slow_start,
	.cancel = slow_cancel,
};

static struct cfg *
load(void)
{
	struct cfg	*c;
	size_t		 i;

	c = th_cfg_load(dir, "coapd.conf",
	    "routes = ( { path = \"/slow\"; static = \"f.txt\"; } );\n");
	for (i = 0; i < c->nroutes; i++)
		if (strcmp(c->routes[i].path, "/slow") == 0)
			c->routes[i].kind = KIND_TEST;
	return c;
}

static void
setup_with(uint32_t separate_after_ms, uint32_t max_separate)
{
	th_mkdtemp(dir, sizeof(dir), "xch");
	th_put_str(dir, "f.txt", "file\n");
	cfg = load();
	cfg->separate_after_ms = separate_after_ms;
	cfg->max_separate = max_separate;
	cfg->log_access = access_on;

	handler_table_init(&env);
	env.file_gen = &gen;
	env.ops[KIND_TEST] = &slow_ops;

	srv = th_worker(&w, cfg, &env, &srv_addr);
	cli = th_client(&srv_addr);
	atomic_store(&n_started, 0);
	atomic_store(&n_cancelled, 0);
	atomic_store(&n_completed, 0);
}

static void
setup(void)
{
	setup_with(200, 16);
}

static void
teardown(void)
{
	th_worker_end(w, srv);
	cfg_unref(cfg);
	close(cli);
	th_rmtree(dir);
}

static const uint8_t TOK[] = { 0x5e, 0x9a };

/* Send GET /slow?ms=N as type with mid. */
static void
send_get(uint8_t type, uint16_t mid, unsigned ms)
{
	struct coap_enc	 e;
	uint8_t		 buf[128];
	char		 q[32];
	ssize_t		 n;

	coap_enc_init(&e, buf, sizeof(buf), type, COAP_GET, mid, TOK,
	    sizeof(TOK));
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "slow", 4);
	n = snprintf(q, sizeof(q), "ms=%u", ms);
	coap_enc_opt(&e, COAP_OPT_URI_QUERY, q, (size_t)n);
	n = coap_enc_finish(&e);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(send(cli, buf, (size_t)n, 0), n);
}

static void
send_empty(uint8_t type, uint16_t mid)
{
	th_send_empty(cli, type, mid);
}

/* Wait up to ms for a message on the client socket. */
static bool
recv_msg(struct coap_msg *m, uint8_t *buf, size_t cap, size_t *len,
    unsigned ms)
{
	return th_recv(cli, m, buf, cap, len, ms);
}

static void
expect_empty_ack(uint16_t mid, unsigned within_ms)
{
	struct coap_msg	 m;
	uint8_t		 buf[1500];
	size_t		 len;

	ck_assert_msg(recv_msg(&m, buf, sizeof(buf), &len, within_ms),
	    "no empty ACK within %u ms", within_ms);
	ck_assert_uint_eq(m.type, COAP_TYPE_ACK);
	ck_assert_uint_eq(m.code, COAP_EMPTY);
	ck_assert_uint_eq(m.mid, mid);
	ck_assert_uint_eq(m.tkl, 0);
}

/* The answer "late /slow" with our token, of the given type. */
static uint16_t
expect_late(uint8_t type, unsigned within_ms, uint8_t *raw, size_t *rawlen)
{
	struct coap_msg	 m;
	uint8_t		 buf[1500];
	size_t		 len;

	ck_assert_msg(recv_msg(&m, buf, sizeof(buf), &len, within_ms),
	    "no response within %u ms", within_ms);
	ck_assert_uint_eq(m.type, type);
	ck_assert_uint_eq(m.code, COAP_CONTENT);
	ck_assert_uint_eq(m.tkl, sizeof(TOK));
	ck_assert_mem_eq(m.token, TOK, sizeof(TOK));
	ck_assert_uint_eq(m.payload_len, 10);
	ck_assert_mem_eq(m.payload, "late /slow", 10);
	if (raw != NULL) {
		memcpy(raw, buf, len);
		*rawlen = len;
	}
	return m.mid;
}

static void
expect_silence(unsigned ms)
{
	struct coap_msg	 m;
	uint8_t		 buf[1500];
	size_t		 len;

	ck_assert_msg(!recv_msg(&m, buf, sizeof(buf), &len, ms),
	    "unexpected message type %u code %u", m.type, m.code);
}

static uint64_t
counter(const atomic_uint_least64_t *c)
{
	return metrics_get(c);
}

/* An answer ready before separate_after_ms is piggybacked (§5.2.1). */
START_TEST(fast_answer_is_piggybacked)
{
	uint16_t	 mid;

	send_get(COAP_TYPE_CON, 0x1001, 20);
	mid = expect_late(COAP_TYPE_ACK, 1000, NULL, NULL);
	ck_assert_uint_eq(mid, 0x1001);
	expect_silence(300);
	ck_assert_int_eq(atomic_load(&n_started), 1);
}
END_TEST

/* §5.2.2: empty ACK, then a separate CON response; ACK ends it. */
START_TEST(empty_ack_then_separate)
{
	const struct metrics *mt = worker_metrics(w);
	uint64_t	 t0 = clock_now_ns(), dt;
	uint16_t	 mid;

	send_get(COAP_TYPE_CON, 0x2001, 700);
	expect_empty_ack(0x2001, 1000);
	dt = (clock_now_ns() - t0) / NS_PER_MS;
	ck_assert_msg(dt >= 150 && dt < 650, "empty ACK after %llu ms",
	    (unsigned long long)dt);
	mid = expect_late(COAP_TYPE_CON, 1500, NULL, NULL);
	ck_assert_uint_ne(mid, 0x2001);
	send_empty(COAP_TYPE_ACK, mid);
	/* acknowledged: no retransmission at ACK_TIMEOUT (2-3 s) */
	expect_silence(3200);
	ck_assert_uint_eq(counter(&mt->xch_retransmits), 0);
	ck_assert_uint_eq(counter(&mt->xch_separate), 1);
	ck_assert_uint_eq(counter(&mt->xch_empty_acks), 1);
}
END_TEST

/* §4.2: an unacknowledged separate response is sent again, same bytes. */
START_TEST(separate_retransmitted_until_ack)
{
	const struct metrics *mt = worker_metrics(w);
	uint8_t		 a[1500], b[1500];
	size_t		 alen, blen;
	uint64_t	 t0;
	uint16_t	 mid, mid2;

	send_get(COAP_TYPE_CON, 0x3001, 300);
	expect_empty_ack(0x3001, 1000);
	mid = expect_late(COAP_TYPE_CON, 1500, a, &alen);
	t0 = clock_now_ns();
	mid2 = expect_late(COAP_TYPE_CON, 3500, b, &blen);
	/* ACK_TIMEOUT 2 s times a random factor in [1, 1.5) */
	ck_assert_uint_ge((clock_now_ns() - t0) / NS_PER_MS, 1900);
	ck_assert_uint_eq(mid, mid2);
	ck_assert_uint_eq(alen, blen);
	ck_assert_mem_eq(a, b, alen);
	send_empty(COAP_TYPE_ACK, mid);
	/* the next one would come 4-6 s later: none after the ACK */
	expect_silence(6500);
	ck_assert_uint_eq(counter(&mt->xch_retransmits), 1);
	ck_assert_int_eq(atomic_load(&n_started), 1);
}
END_TEST

/* An RST with the request's MID cancels it: the handler hears of it. */
START_TEST(rst_cancels)
{
	send_get(COAP_TYPE_CON, 0x4001, 1500);
	expect_empty_ack(0x4001, 1000);
	send_empty(COAP_TYPE_RST, 0x4001);
	expect_silence(1800);
	ck_assert_int_eq(atomic_load(&n_cancelled), 1);
	ck_assert_int_eq(atomic_load(&n_completed), 0);
}
END_TEST

/* An RST to the separate response ends its retransmission. */
START_TEST(rst_rejects_separate)
{
	const struct metrics *mt = worker_metrics(w);
	uint16_t	 mid;

	send_get(COAP_TYPE_CON, 0x4101, 300);
	expect_empty_ack(0x4101, 1000);
	mid = expect_late(COAP_TYPE_CON, 1500, NULL, NULL);
	send_empty(COAP_TYPE_RST, mid);
	expect_silence(3200);
	ck_assert_uint_eq(counter(&mt->xch_rejected), 1);
	ck_assert_uint_eq(counter(&mt->xch_retransmits), 0);
}
END_TEST

/* §4.5: a duplicate of a pending CON is acknowledged, never restarted. */
START_TEST(duplicate_con_reacked)
{
	uint16_t	 mid;

	cfg->separate_after_ms = 5000;
	send_get(COAP_TYPE_CON, 0x5001, 900);
	usleep(100 * 1000);
	send_get(COAP_TYPE_CON, 0x5001, 900);
	/* at once, not after separate_after_ms */
	expect_empty_ack(0x5001, 300);
	send_get(COAP_TYPE_CON, 0x5001, 900);
	expect_empty_ack(0x5001, 300);
	mid = expect_late(COAP_TYPE_CON, 1500, NULL, NULL);
	send_empty(COAP_TYPE_ACK, mid);
	ck_assert_int_eq(atomic_load(&n_started), 1);
	/* after the answer, a late duplicate still gets the empty ACK */
	send_get(COAP_TYPE_CON, 0x5001, 900);
	expect_empty_ack(0x5001, 300);
	expect_silence(300);
	ck_assert_int_eq(atomic_load(&n_started), 1);
}
END_TEST

/* §5.2.3: a NON request gets a NON response, and no ACK. */
START_TEST(non_gets_non)
{
	send_get(COAP_TYPE_NON, 0x6001, 400);
	expect_late(COAP_TYPE_NON, 1500, NULL, NULL);
	expect_silence(300);
}
END_TEST

/* A reload while pending: the exchange keeps its routes alive. */
START_TEST(pending_across_reload)
{
	struct cfg	*c2;
	uint16_t	 mid;

	send_get(COAP_TYPE_CON, 0x7001, 600);
	expect_empty_ack(0x7001, 1000);
	c2 = load();
	c2->separate_after_ms = 200;
	c2->max_separate = 16;
	worker_set_cfg(w, c2);
	cfg_unref(c2);
	/* drop the test's reference to the first snapshot too */
	cfg_unref(cfg);
	cfg = cfg_ref(c2);
	mid = expect_late(COAP_TYPE_CON, 1500, NULL, NULL);
	send_empty(COAP_TYPE_ACK, mid);
	/* and the new snapshot serves the next request */
	send_get(COAP_TYPE_CON, 0x7002, 10);
	expect_late(COAP_TYPE_ACK, 1000, NULL, NULL);
}
END_TEST

/* max_separate bounds the exchanges: past it 5.03 with Max-Age. */
START_TEST(bounded)
{
	struct coap_msg	 m;
	uint8_t		 buf[1500];
	const struct coap_opt *ma;
	uint32_t	 v;
	size_t		 len;

	teardown();
	setup_with(100, 1);
	send_get(COAP_TYPE_CON, 0x8001, 800);
	expect_empty_ack(0x8001, 1000);
	send_get(COAP_TYPE_CON, 0x8002, 10);
	ck_assert(recv_msg(&m, buf, sizeof(buf), &len, 1000));
	ck_assert_uint_eq(m.type, COAP_TYPE_ACK);
	ck_assert_uint_eq(m.code, COAP_SERVICE_UNAVAILABLE);
	ck_assert_ptr_nonnull(ma = coap_msg_opt(&m, COAP_OPT_MAX_AGE));
	ck_assert_int_eq(coap_opt_uint(ma, &v), 0);
	ck_assert_uint_gt(v, 0);
	/*
	 * With max_separate = 1 the one pending exchange is 100 % of the
	 * table: the worker sheds load (limit.c) before xch.c is asked.
	 * Either way the client gets 5.03 with Max-Age, counted once.
	 */
	ck_assert_uint_eq(counter(&worker_metrics(w)->xch_busy) +
	    counter(&worker_metrics(w)->shed_503), 1);
}
END_TEST

/* Shutdown with an exchange pending: the handler is told. */
START_TEST(shutdown_cancels)
{
	send_get(COAP_TYPE_CON, 0x9001, 5000);
	expect_empty_ack(0x9001, 1000);
	worker_stop(w);
	worker_join(w);
	ck_assert_int_eq(atomic_load(&n_cancelled), 1);
	/* teardown's stop and join must find a fresh worker */
	cfg_unref(cfg);
	setup_with(200, 16);
}
END_TEST

/*
 * log.access: the line of an exchange that was pending names the
 * request's path and route, kept with the exchange until the answer.
 */
START_TEST(access_line_kept)
{
	struct th_stderr c;
	char		 out[4096];

	teardown();
	access_on = true;
	setup_with(100, 16);
	unsetenv("JOURNAL_STREAM");	/* stderr, whatever runs us */
	log_init(LOG_LVL_INFO, "t");
	th_stderr_begin(&c);
	send_get(COAP_TYPE_CON, 0xa001, 300);
	expect_empty_ack(0xa001, 1000);
	send_empty(COAP_TYPE_ACK, expect_late(COAP_TYPE_CON, 1500, NULL,
	    NULL));
	/* the line is written before the answer is sent */
	th_stderr_end(&c, out, sizeof(out));
	ck_assert_msg(strstr(out, "GET /slow 2.05") != NULL, "log: %s", out);
	ck_assert_ptr_nonnull(strstr(out, "path=/slow route=/slow code=2.05"));
	ck_assert_ptr_null(strstr(out, "identity"));
}
END_TEST

static Suite *
xch_suite(void)
{
	Suite	*s = suite_create("xch");
	TCase	*tc = tcase_create("worker");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, fast_answer_is_piggybacked);
	tcase_add_test(tc, empty_ack_then_separate);
	tcase_add_test(tc, separate_retransmitted_until_ack);
	tcase_add_test(tc, rst_cancels);
	tcase_add_test(tc, rst_rejects_separate);
	tcase_add_test(tc, duplicate_con_reacked);
	tcase_add_test(tc, non_gets_non);
	tcase_add_test(tc, pending_across_reload);
	tcase_add_test(tc, bounded);
	tcase_add_test(tc, shutdown_cancels);
	tcase_add_test(tc, access_line_kept);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(xch_suite());
}
