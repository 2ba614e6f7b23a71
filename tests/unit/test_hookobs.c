/*
 * test_hookobs.c - Observe on hook routes (src/serve/notify.c with
 * xch.c) through the real worker: a test handler stands in for the hook
 * kind and answers after a timer, two clients register with GET Observe
 * 0, and a change batch naming the path's hash (what `coapd-ctl notify`
 * posts) must start one run for both and notify each, once; an unchanged
 * answer notifies nobody; Observe 1 deregisters.  A query makes another
 * resource (its own run, its own output); runs for observers name no peer.
 */
#include <sys/socket.h>

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
#include "base/clock.h"
#include "base/net.h"
#include "proto/coap_msg.h"
#include "proto/fchange.h"
#include "proto/observe.h"
#include "serve/handler.h"
#include "serve/worker.h"

#include "helpers.h"

static char		 dir[64];
static struct cfg	*cfg;
static struct worker	*w;
static struct h_env	 env;
static atomic_uint_least64_t gen;
static int		 srv = -1, cli[2] = { -1, -1 };
static atomic_int	 n_started;
static atomic_int	 n_for_observers;	/* runs with req->peer NULL */
static atomic_int	 version;	/* the "data" the hook prints */
static unsigned		 interval_s;	/* the route's, 0: none */

struct run {
	struct xch	*x;
	char		 query[64];	/* the Uri-Queries, joined by '&' */
};

static void
fake_fire(void *arg, uint64_t now_ns)
{
	struct run		*r = arg;
	struct coap_resp	*resp = xch_resp(r->x);
	char			 msg[96];
	int			 n;

	resp->code = COAP_CONTENT;
	n = snprintf(msg, sizeof(msg), "v%d%s%s", atomic_load(&version),
	    r->query[0] != '\0' ? "?" : "", r->query);
	coap_resp_payload(resp, msg, (size_t)n);
	xch_complete(r->x, now_ns);
	free(r);
}

static void
fake_cancel(void *ctx, enum xch_cancel why)
{
	(void)why;
	free(ctx);
}

/* Like a hook: always later, through an exchange. */
static int
fake_start(const struct h_req *req, struct coap_resp *resp)
{
	const struct h_svc	*svc = req->hstate;
	struct run		*r;

	size_t			 i, n = 0;

	atomic_fetch_add(&n_started, 1);
	/* a run for observers names no client (h_hook.c's environment) */
	if (req->peer == NULL) {
		ck_assert_ptr_null(req->psk_identity);
		atomic_fetch_add(&n_for_observers, 1);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	for (i = 0; i < req->msg->nopts; i++) {
		const struct coap_opt *o = &req->msg->opts[i];

		if (o->num != COAP_OPT_URI_QUERY ||
		    n + o->len + 2 > sizeof(r->query))
			continue;
		if (n > 0)
			r->query[n++] = '&';
		memcpy(r->query + n, o->val, o->len);
		n += o->len;
	}
	if ((r->x = xch_begin(req, r)) == NULL) {
		free(r);
		xch_busy(resp);
		return H_DONE;
	}
	ck_assert_int_ge(svc->timer(svc->svc, req->now_ns + 5 * NS_PER_MS,
	    fake_fire, r), 0);
	return H_PENDING;
}

static const struct handler_ops fake_ops = {
	.name = "fake-hook",
	.worker_init = th_svc_state,
	.start = fake_start,
	.cancel = fake_cancel,
};

/*
 * Over plain CoAP an Observe registration needs an address that answered
 * an Echo challenge (dispatch.c, RFC 9175): c is challenged by a GET with
 * Observe (the hook does not run) and verified by repeating the value on
 * a path that does not exist.
 */
static void
verify_client(int c, uint16_t mid)
{
	static const uint8_t tok[] = { 0xec };
	struct pollfd	 p = { .fd = c, .events = POLLIN };
	const struct coap_opt *o;
	struct coap_enc	 e;
	struct coap_msg	 m;
	uint8_t		 buf[256], echo[64], zero = 0;
	size_t		 elen;
	ssize_t		 n;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, mid, tok,
	    sizeof(tok));
	coap_enc_opt(&e, COAP_OPT_OBSERVE, &zero, 0);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "t", 1);
	ck_assert_int_gt(n = coap_enc_finish(&e), 0);
	ck_assert_int_eq(send(c, buf, (size_t)n, 0), n);
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	ck_assert_int_gt(n = recv(c, buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(coap_msg_parse(&m, buf, (size_t)n), 0);
	ck_assert_uint_eq(m.code, COAP_UNAUTHORIZED);
	ck_assert_ptr_nonnull(o = coap_msg_opt(&m, COAP_OPT_ECHO));
	ck_assert_uint_le(o->len, sizeof(echo));
	memcpy(echo, o->val, elen = o->len);
	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET,
	    (uint16_t)(mid + 1), tok, sizeof(tok));
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "none", 4);
	coap_enc_opt(&e, COAP_OPT_ECHO, echo, elen);
	ck_assert_int_gt(n = coap_enc_finish(&e), 0);
	ck_assert_int_eq(send(c, buf, (size_t)n, 0), n);
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	ck_assert_int_gt(n = recv(c, buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(coap_msg_parse(&m, buf, (size_t)n), 0);
	ck_assert_uint_eq(m.code, COAP_NOT_FOUND);
}

static void
setup_with(unsigned interval)
{
	char			 text[256];
	struct sockaddr_in	 a;
	size_t			 i;

	th_mkdtemp(dir, sizeof(dir), "hookobs");
	snprintf(text, sizeof(text), "workers = 1;\nroutes = ( { path = \"/t\"; "
	    "hook = [ \"/bin/true\" ]; observe = true; run_as_root = true; "
	    "interval_s = %u; } );\n", interval);
	interval_s = interval;
	cfg = th_cfg_load(dir, "coapd.conf", text);
	for (i = 0; i < cfg->nroutes; i++)
		ck_assert_int_eq(cfg->routes[i].kind, ROUTE_HOOK);
	handler_table_init(&env);
	env.file_gen = &gen;
	env.ops[ROUTE_HOOK] = &fake_ops;

	srv = th_worker(&w, cfg, &env, &a);
	for (i = 0; i < 2; i++)
		cli[i] = th_client(&a);
	/* the guard knows addresses, not ports: both clients are verified */
	verify_client(cli[0], 0xf000);
	atomic_store(&n_started, 0);
	atomic_store(&n_for_observers, 0);
	atomic_store(&version, 1);
}

static void
setup(void)
{
	setup_with(0);
}

static void
setup_interval(void)
{
	setup_with(1);
}

static void
teardown(void)
{
	th_worker_end(w, srv);
	cfg_unref(cfg);
	close(cli[0]);
	close(cli[1]);
	th_rmtree(dir);
}

static const uint8_t TOK[] = { 0x0b, 0x5e };

static void
send_get(int c, uint16_t mid, int observe)
{
	struct coap_enc	 e;
	uint8_t		 buf[64], v = (uint8_t)observe;
	ssize_t		 n;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, mid, TOK,
	    sizeof(TOK));
	if (observe >= 0)
		coap_enc_opt(&e, COAP_OPT_OBSERVE, &v, v != 0 ? 1 : 0);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "t", 1);
	ck_assert_int_gt(n = coap_enc_finish(&e), 0);
	ck_assert_int_eq(send(c, buf, (size_t)n, 0), n);
}

/* A 2.05 with our token and payload want on c within ms; its Observe. */
static int64_t
expect(int c, const char *want, unsigned ms)
{
	struct pollfd	 p = { .fd = c, .events = POLLIN };
	struct coap_msg	 m;
	const struct coap_opt *o;
	uint8_t		 buf[1500];
	uint32_t	 v;
	ssize_t		 n;

	ck_assert_msg(poll(&p, 1, (int)ms) == 1, "nothing within %u ms", ms);
	ck_assert_int_gt(n = recv(c, buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(coap_msg_parse(&m, buf, (size_t)n), 0);
	ck_assert_uint_eq(m.code, COAP_CONTENT);
	ck_assert_mem_eq(m.token, TOK, sizeof(TOK));
	ck_assert_uint_eq(m.payload_len, strlen(want));
	ck_assert_mem_eq(m.payload, want, strlen(want));
	if ((o = coap_msg_opt(&m, COAP_OPT_OBSERVE)) == NULL)
		return -1;
	/* what tells an unchanged answer from a new one (notify.c) */
	ck_assert_ptr_nonnull(coap_msg_opt(&m, COAP_OPT_ETAG));
	ck_assert_int_eq(coap_opt_uint(o, &v), 0);
	return v;
}

/* What `coapd-ctl notify /t` posts for a hook route. */
static void
notify_path(const char *path)
{
	const char	*parts[1] = { path };
	struct fchange	*c;

	ck_assert_ptr_nonnull(c = fchange_new(1));
	c->hash[c->n++] = observe_path_hash(parts, 1);
	worker_post_change(w, c);
	fchange_unref(c);
}

START_TEST(one_run_notifies_every_observer)
{
	int64_t	 s0, s1, s2;

	send_get(cli[0], 0x100, 0);
	s0 = expect(cli[0], "v1", 1000);
	ck_assert_int_ge(s0, 0);	/* registered: Observe in the answer */
	send_get(cli[1], 0x200, 0);
	ck_assert_int_ge(expect(cli[1], "v1", 1000), 0);
	ck_assert_int_eq(atomic_load(&n_started), 2);

	atomic_store(&version, 2);
	notify_path("/t");
	s1 = expect(cli[0], "v2", 1000);
	ck_assert_int_gt(s1, s0);
	ck_assert_int_ge(expect(cli[1], "v2", 1000), 0);
	ck_assert_int_eq(atomic_load(&n_started), 3);	/* one run, two told */

	/* unchanged: a run, no notification */
	notify_path("/t");
	th_silence(cli[0], 200);
	th_silence(cli[1], 50);
	ck_assert_int_eq(atomic_load(&n_started), 4);

	/* another path's change runs nothing */
	notify_path("/other");
	th_silence(cli[0], 100);
	ck_assert_int_eq(atomic_load(&n_started), 4);

	/* Observe 1 deregisters client 1 (its GET is still answered) */
	send_get(cli[1], 0x201, 1);
	ck_assert_int_eq(expect(cli[1], "v2", 1000), -1);
	atomic_store(&version, 3);
	notify_path("/t");
	s2 = expect(cli[0], "v3", 1000);
	ck_assert_int_gt(s2, s1);
	th_silence(cli[1], 200);
}
END_TEST

static void
send_get_q(int c, uint16_t mid, const char *q1, const char *q2)
{
	struct coap_enc	 e;
	uint8_t		 buf[128], v = 0;
	ssize_t		 n;

	coap_enc_init(&e, buf, sizeof(buf), COAP_TYPE_CON, COAP_GET, mid,
	    TOK, sizeof(TOK));
	coap_enc_opt(&e, COAP_OPT_OBSERVE, &v, 0);
	coap_enc_opt(&e, COAP_OPT_URI_PATH, "t", 1);
	coap_enc_opt(&e, COAP_OPT_URI_QUERY, q1, strlen(q1));
	if (q2 != NULL)
		coap_enc_opt(&e, COAP_OPT_URI_QUERY, q2, strlen(q2));
	ck_assert_int_gt(n = coap_enc_finish(&e), 0);
	ck_assert_int_eq(send(c, buf, (size_t)n, 0), n);
}

/*
 * A GET with a query registers for the path and that query: two queries
 * are two resources, one run each per change, each run with its query,
 * each observer told its own output; `notify /t` reaches both.
 */
START_TEST(query_is_its_own_resource)
{
	int64_t	 s0;

	send_get_q(cli[0], 0x600, "unit=C", NULL);
	s0 = expect(cli[0], "v1?unit=C", 1000);
	ck_assert_int_ge(s0, 0);
	send_get_q(cli[1], 0x700, "unit=F", "fine");
	ck_assert_int_ge(expect(cli[1], "v1?unit=F&fine", 1000), 0);
	ck_assert_int_eq(atomic_load(&n_started), 2);
	ck_assert_int_eq(atomic_load(&n_for_observers), 0);

	atomic_store(&version, 2);
	notify_path("/t");
	ck_assert_int_gt(expect(cli[0], "v2?unit=C", 1000), s0);
	ck_assert_int_ge(expect(cli[1], "v2?unit=F&fine", 1000), 0);
	th_silence(cli[0], 100);
	th_silence(cli[1], 50);
	ck_assert_int_eq(atomic_load(&n_started), 4);	/* one per query */
	ck_assert_int_eq(atomic_load(&n_for_observers), 2);
}
END_TEST

/* A GET without Observe registers nobody: a change runs nothing. */
START_TEST(plain_get_registers_nobody)
{
	send_get(cli[0], 0x300, -1);
	ck_assert_int_eq(expect(cli[0], "v1", 1000), -1);
	notify_path("/t");
	th_silence(cli[0], 200);
	ck_assert_int_eq(atomic_load(&n_started), 1);
}
END_TEST

/* interval_s = 1: a run per second for the observers, changes sent. */
START_TEST(interval_runs)
{
	uint64_t	 t0;
	int		 n;

	ck_assert_uint_eq(interval_s, 1);
	send_get(cli[0], 0x400, 0);
	ck_assert_int_ge(expect(cli[0], "v1", 1000), 0);
	send_get(cli[1], 0x500, 0);
	ck_assert_int_ge(expect(cli[1], "v1", 1000), 0);
	t0 = clock_now_ns();
	atomic_store(&version, 2);
	/* within the second (and a sweep): one run for both, each told */
	ck_assert_int_ge(expect(cli[0], "v2", 3000), 0);
	ck_assert_int_ge(expect(cli[1], "v2", 500), 0);
	ck_assert_uint_ge(clock_now_ns() - t0, 300 * NS_PER_MS);
	n = atomic_load(&n_started);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(atomic_load(&n_for_observers), 1);
	/* unchanged: runs go on, nothing is sent */
	th_silence(cli[0], 1800);
	ck_assert_int_ge(atomic_load(&n_started), n + 1);
	ck_assert_int_le(atomic_load(&n_started), n + 2);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("hookobs");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, one_run_notifies_every_observer);
	tcase_add_test(tc, plain_get_registers_nobody);
	tcase_add_test(tc, query_is_its_own_resource);
	suite_add_tcase(s, tc);
	tc = tcase_create("interval");
	tcase_add_checked_fixture(tc, setup_interval, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, interval_runs);
	suite_add_tcase(s, tc);
	return th_run(s);
}
