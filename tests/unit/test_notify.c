/*
 * test_notify.c - Observe in the engine (src/serve/notify.c through
 * src/serve/dispatch.c): registration (RFC 7641 §3.1, §4.1), notifications with
 * fresh sequence numbers on file change (§4.2), Observe + Block2 (RFC 7959
 * §3.4), the end of an observation on 4.04 (§3.2), deregistration by
 * Observe=1 and by RST (§3.6), CON every observe_con_every (§4.5),
 * retransmission and give-up (RFC 7252 §4.2), max_observers.
 *
 * A real configuration is loaded from a scratch directory; the emit hook
 * collects what the engine sends on its own.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "proto/block.h"
#include "adapt/cfg.h"
#include "base/clock.h"
#include "proto/coap_msg.h"
#include "serve/dispatch.h"
#include "proto/fchange.h"
#include "serve/handler.h"

#include "helpers.h"
#include "proto/metrics.h"
#include "proto/retx.h"
#include "proto/observe.h"

#define T0_NS	(1000 * NS_PER_SEC)
#define MAXSENT	64

static struct sockaddr_in	 peer;
static struct th_bed		 tb;
static uint64_t			 now;

/* Messages the engine emitted. */
static struct {
	uint8_t		 buf[COAP_MAX_MSG];
	size_t		 len;
	struct coap_msg	 m;
} sent[MAXSENT];
static int nsent;

static void
emit(void *arg, const struct dispatch_peer *p, const uint8_t *buf,
    size_t len)
{
	(void)arg;
	ck_assert_int_eq(p->addrlen, sizeof(peer));
	ck_assert_uint_eq(p->sock, 3);
	ck_assert_int_lt(nsent, MAXSENT);
	memcpy(sent[nsent].buf, buf, len);
	sent[nsent].len = len;
	ck_assert_int_eq(coap_msg_parse(&sent[nsent].m, sent[nsent].buf, len),
	    0);
	nsent++;
}

static void
start(unsigned max_observers)
{
	char text[1024];

	th_mkdtemp(tb.tmp, sizeof(tb.tmp), "notify");
	th_mkdir(tb.tmp, "www");
	th_put_renamed(tb.tmp, "www/t.txt", "21.5", 4);
	snprintf(text, sizeof(text),
	    "workers = 2;\n"
	    "max_observers = %u;\n"
	    "observe_con_every = 3;\n"
	    "limits = { max_observers_per_client = 3; };\n"
	    "routes = (\n"
	    "  { path = \"/obs\"; static = \"www\"; observe = true; },\n"
	    "  { path = \"/plain\"; static = \"www\"; }\n"
	    ");\n", max_observers);
	th_bed_start(&tb, text, 0x100);
	dispatch_set_emit(tb.d, emit, NULL);
	memset(&peer, 0, sizeof(peer));
	peer.sin_family = AF_INET;
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	peer.sin_port = htons(40000);
	now = T0_NS;
	nsent = 0;
	/* it answered an Echo challenge before (amp.h; test_echo.c) */
	th_trust(tb.d, (const struct sockaddr *)&peer, sizeof(peer), now);
}

static void
setup(void)
{
	start(64);
}

static void
setup_small(void)
{
	start(2);	/* two workers: one observer each */
}

static void
teardown(void)
{
	th_bed_end(&tb);
}

/* Send a message; the immediate answer (if any) is parsed into a. */
static size_t
send_msg(uint8_t type, uint8_t code, uint16_t mid, const char *tok,
    const char *path, int observe, int block2, struct coap_msg *a,
    uint8_t *abuf)
{
	struct dispatch_peer p = { (const struct sockaddr *)&peer,
	    sizeof(peer), NULL, 3, 3 };
	uint8_t buf[256], v[3];
	struct coap_enc e;
	const char *s, *slash;
	ssize_t n;
	size_t len;

	coap_enc_init(&e, buf, sizeof(buf), type, code, mid,
	    (const uint8_t *)tok, tok != NULL ? (uint8_t)strlen(tok) : 0);
	if (observe >= 0)
		coap_enc_opt_uint(&e, COAP_OPT_OBSERVE, (uint32_t)observe);
	for (s = path; s != NULL && *s == '/'; s = slash) {
		s++;
		slash = strchr(s, '/');
		coap_enc_opt(&e, COAP_OPT_URI_PATH, s,
		    slash != NULL ? (size_t)(slash - s) : strlen(s));
	}
	if (block2 >= 0) {
		v[0] = (uint8_t)block2;
		coap_enc_opt(&e, COAP_OPT_BLOCK2, v, block2 > 0 ? 1 : 0);
	}
	n = coap_enc_finish(&e);
	ck_assert_int_gt(n, 0);
	len = dispatch_datagram(tb.d, &p, buf, (size_t)n, now, abuf,
	    COAP_MAX_MSG);
	if (len > 0 && a != NULL)
		ck_assert_int_eq(coap_msg_parse(a, abuf, len), 0);
	return len;
}

static size_t
get_obs(const char *tok, const char *path, int observe, struct coap_msg *a,
    uint8_t *abuf)
{
	static uint16_t mid = 0x7000;

	return send_msg(COAP_TYPE_CON, COAP_GET, mid++, tok, path, observe,
	    -1, a, abuf);
}

static void
changed(const char *rel)
{
	char path[PATH_MAX];
	const char *parts[1] = { path };
	struct fchange *c = fchange_new(1);

	snprintf(path, sizeof(path), "%s/%s", tb.tmp, rel);
	ck_assert_ptr_nonnull(c);
	c->hash[0] = observe_path_hash(parts, 1);
	c->n = 1;
	atomic_fetch_add(&tb.file_gen, 1);
	dispatch_files_changed(tb.d, c, now);
	fchange_unref(c);
}

static int
obs_of(const struct coap_msg *m, uint32_t *v)
{
	const struct coap_opt *o = coap_msg_opt(m, COAP_OPT_OBSERVE);

	if (o == NULL)
		return -ENOENT;
	return coap_opt_uint(o, v);
}

/* RFC 7641 §3.1, §4.2: register, then one notification per change. */
START_TEST(rfc7641_register_and_notify)
{
	struct coap_msg a;
	uint8_t abuf[COAP_MAX_MSG];
	uint32_t s0, s1, s2;
	const struct coap_opt *et0, *et1;
	uint8_t etag0[8];

	ck_assert_uint_gt(get_obs("ob", "/obs/t.txt", 0, &a, abuf), 0);
	ck_assert_uint_eq(a.code, COAP_CONTENT);
	ck_assert_int_eq(obs_of(&a, &s0), 0);
	et0 = coap_msg_opt(&a, COAP_OPT_ETAG);
	ck_assert_ptr_nonnull(et0);
	memcpy(etag0, et0->val, 8);
	ck_assert_uint_eq(tb.d->obs.n, 1);

	/* A change nobody observes: nothing. */
	changed("www/other.txt");
	ck_assert_int_eq(nsent, 0);
	/* The observed file, unchanged (an event without a change). */
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 0);

	th_put_renamed(tb.tmp, "www/t.txt", "22.0", 4);
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 1);
	ck_assert_uint_eq(sent[0].m.code, COAP_CONTENT);
	ck_assert_uint_eq(sent[0].m.tkl, 2);
	ck_assert_mem_eq(sent[0].m.token, "ob", 2);
	ck_assert_uint_eq(sent[0].m.payload_len, 4);
	ck_assert_mem_eq(sent[0].m.payload, "22.0", 4);
	ck_assert_int_eq(obs_of(&sent[0].m, &s1), 0);
	ck_assert_uint_gt(s1, s0);
	et1 = coap_msg_opt(&sent[0].m, COAP_OPT_ETAG);
	ck_assert_ptr_nonnull(et1);
	ck_assert(memcmp(et1->val, etag0, 8) != 0);
	ck_assert_uint_eq(sent[0].m.type, COAP_TYPE_NON);

	th_put_renamed(tb.tmp, "www/t.txt", "22.5", 4);
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 2);
	ck_assert_int_eq(obs_of(&sent[1].m, &s2), 0);
	ck_assert_uint_gt(s2, s1);
	ck_assert_uint_ne(sent[1].m.mid, sent[0].m.mid);
	/* An "everything changed" batch re-checks, sends nothing new. */
	{
		struct fchange all = { .all = true };

		dispatch_files_changed(tb.d, &all, now);
		ck_assert_int_eq(nsent, 2);
	}
}
END_TEST

/* RFC 7641 §4.5: one CON in observe_con_every (3); ACK stops it. */
START_TEST(rfc7641_con_and_ack)
{
	struct coap_msg a;
	uint8_t abuf[COAP_MAX_MSG];
	char text[8];
	int i, cons = 0;

	get_obs("c", "/obs/t.txt", 0, &a, abuf);
	for (i = 0; i < 6; i++) {
		snprintf(text, sizeof(text), "v%d", i);
		th_put_renamed(tb.tmp, "www/t.txt", text, strlen(text));
		changed("www/t.txt");
		ck_assert_int_eq(nsent, i + 1);
		if (sent[i].m.type == COAP_TYPE_CON) {
			cons++;
			/* The client's ACK: consumed, no answer. */
			ck_assert_uint_eq(send_msg(COAP_TYPE_ACK, COAP_EMPTY,
			    sent[i].m.mid, NULL, NULL, -1, -1, NULL, abuf), 0);
		}
	}
	ck_assert_int_eq(cons, 2);
	ck_assert_uint_eq(tb.met.drops[DROP_UNEXPECTED], 0);
	/* Nothing in flight: the sweep sends nothing. */
	now += 300 * NS_PER_SEC;
	dispatch_sweep(tb.d, now);
	ck_assert_int_eq(nsent, 6);
	/* An ACK nobody waits for is still a counted drop. */
	send_msg(COAP_TYPE_ACK, COAP_EMPTY, 0x1111, NULL, NULL, -1, -1, NULL,
	    abuf);
	ck_assert_uint_eq(tb.met.drops[DROP_UNEXPECTED], 1);
}
END_TEST

/* RFC 7252 §4.2: an unanswered CON is resent, then the observer goes. */
START_TEST(rfc7252_con_timeout_removes)
{
	struct coap_msg a;
	uint8_t abuf[COAP_MAX_MSG];
	int i, j, first, secs;

	get_obs("r", "/obs/t.txt", 0, &a, abuf);
	for (i = 0; i < 3; i++) {
		char text[8];

		snprintf(text, sizeof(text), "r%d", i);
		th_put_renamed(tb.tmp, "www/t.txt", text, strlen(text));
		changed("www/t.txt");
	}
	ck_assert_int_eq(nsent, 3);
	ck_assert_uint_eq(sent[2].m.type, COAP_TYPE_CON);
	first = nsent;
	/* 4 retransmissions, byte-identical, at growing intervals. */
	for (secs = 0; secs < 200 && tb.d->obs.n > 0; secs++) {
		now += NS_PER_SEC;
		dispatch_sweep(tb.d, now);
	}
	ck_assert_int_eq(nsent - first, RETX_MAX_RETRANSMIT);
	for (j = first; j < nsent; j++) {
		ck_assert_uint_eq(sent[j].len, sent[2].len);
		ck_assert_mem_eq(sent[j].buf, sent[2].buf, sent[2].len);
	}
	ck_assert_uint_eq(tb.d->obs.n, 0);
	/* Between 2+4+8+16+32 = 62 and 93 seconds. */
	ck_assert_int_ge(secs, 62);
	ck_assert_int_le(secs, 94);
}
END_TEST

/*
 * RFC 7641 §4.5.2: a client that never ACKs is given up after the
 * retransmission limit even while the resource changes faster than the
 * retransmission timeout (each new CON replaces the one in flight and
 * counts as one of its retransmissions).
 */
START_TEST(rfc7641_never_acked_while_changing)
{
	struct coap_msg a;
	uint8_t abuf[COAP_MAX_MSG];
	char text[16];
	int secs, cons = 0, first_con = -1, j;

	get_obs("n", "/obs/t.txt", 0, &a, abuf);
	ck_assert_uint_eq(tb.d->obs.n, 1);
	for (secs = 0; secs < 300 && tb.d->obs.n > 0; secs++) {
		snprintf(text, sizeof(text), "n%d", secs);
		th_put_renamed(tb.tmp, "www/t.txt", text, strlen(text));
		changed("www/t.txt");
		now += NS_PER_SEC;
		dispatch_sweep(tb.d, now);
	}
	ck_assert_uint_eq(tb.d->obs.n, 0);
	ck_assert_uint_eq(tb.met.observe_gave_up, 1);
	for (j = 0; j < nsent; j++)
		if (sent[j].m.type == COAP_TYPE_CON) {
			cons++;
			if (first_con < 0)
				first_con = j;
		}
	/* the first CON and at most MAX_RETRANSMIT more, whatever changed */
	ck_assert_int_eq(cons, 1 + RETX_MAX_RETRANSMIT);
	/* NONs only before the first CON (observe_con_every = 3) */
	ck_assert_int_eq(nsent - first_con, cons);
	/* 2+4+8+16+32 s at most after the first CON (and 50% jitter) */
	ck_assert_int_le(secs, first_con + 94);
}
END_TEST

/* A second address (peer 127.0.0.2) for the tests of several clients. */
static void
as_host(uint32_t host)
{
	struct amp_entry *e;
	bool ev;

	peer.sin_addr.s_addr = htonl(host);
	e = amp_rx(&tb.d->amp, (const struct sockaddr *)&peer, sizeof(peer), 0,
	    now, &ev);
	e->verified_ns = UINT64_MAX;
}

/*
 * limits.max_observers_per_client (3): one address, from any port, holds
 * at most 3 observations; another still registers, and nothing the first
 * sends (RST to the other's notification, Observe: 1 with its token)
 * ends the other's observation.
 */
START_TEST(per_client_cap)
{
	struct coap_msg a;
	uint8_t abuf[COAP_MAX_MSG];
	const char *toks[] = { "a1", "a2", "a3", "a4", "a5" };
	uint32_t v;
	int i;

	for (i = 0; i < 5; i++) {
		peer.sin_port = htons((uint16_t)(40000 + i));
		get_obs(toks[i], "/obs/t.txt", 0, &a, abuf);
		ck_assert_uint_eq(a.code, COAP_CONTENT);
		ck_assert_int_eq(obs_of(&a, &v), i < 3 ? 0 : -ENOENT);
	}
	ck_assert_uint_eq(tb.d->obs.n, 3);
	ck_assert_uint_eq(tb.met.observe_refused, 2);
	as_host(INADDR_LOOPBACK + 1);
	get_obs("b1", "/obs/t.txt", 0, &a, abuf);
	ck_assert_int_eq(obs_of(&a, &v), 0);
	ck_assert_uint_eq(tb.d->obs.n, 4);
	th_put_renamed(tb.tmp, "www/t.txt", "23.0", 4);
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 4);
	/*
	 * The first host RSTs every notification from the port of each of
	 * its observations (b1's from its first port) and deregisters b1's
	 * token: its own end, b1's stays.
	 */
	as_host(INADDR_LOOPBACK);
	for (i = 0; i < nsent; i++) {
		peer.sin_port = htons((uint16_t)(sent[i].m.token[0] == 'a' ?
		    40000 + sent[i].m.token[1] - '1' : 40000));
		send_msg(COAP_TYPE_RST, COAP_EMPTY, sent[i].m.mid, NULL, NULL,
		    -1, -1, NULL, abuf);
	}
	get_obs("b1", "/obs/t.txt", 1, &a, abuf);
	ck_assert_uint_eq(tb.d->obs.n, 1);
	ck_assert_uint_eq(tb.met.observe_rejected, 3);
	as_host(INADDR_LOOPBACK + 1);
	th_put_renamed(tb.tmp, "www/t.txt", "23.5", 4);
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 5);
	ck_assert_mem_eq(sent[4].m.token, "b1", 2);
}
END_TEST

/* RFC 7641 §3.6: an RST to a notification ends the observation. */
START_TEST(rfc7641_rst_and_deregister)
{
	struct coap_msg a;
	uint8_t abuf[COAP_MAX_MSG];
	uint32_t v;

	get_obs("x", "/obs/t.txt", 0, &a, abuf);
	th_put_renamed(tb.tmp, "www/t.txt", "1", 1);
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 1);
	send_msg(COAP_TYPE_RST, COAP_EMPTY, sent[0].m.mid, NULL, NULL, -1, -1,
	    NULL, abuf);
	ck_assert_uint_eq(tb.d->obs.n, 0);
	th_put_renamed(tb.tmp, "www/t.txt", "2", 1);
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 1);

	/* Observe=1: answered, without Observe, and deregistered. */
	get_obs("y", "/obs/t.txt", 0, &a, abuf);
	ck_assert_uint_eq(tb.d->obs.n, 1);
	ck_assert_uint_gt(get_obs("y", "/obs/t.txt", 1, &a, abuf), 0);
	ck_assert_uint_eq(a.code, COAP_CONTENT);
	ck_assert_int_eq(obs_of(&a, &v), -ENOENT);
	ck_assert_uint_eq(tb.d->obs.n, 0);
	/* A route without observe: no registration. */
	get_obs("z", "/plain/t.txt", 0, &a, abuf);
	ck_assert_uint_eq(a.code, COAP_CONTENT);
	ck_assert_int_eq(obs_of(&a, &v), -ENOENT);
	ck_assert_uint_eq(tb.d->obs.n, 0);
	/* A 4.04 does not register either. */
	get_obs("n", "/obs/none.txt", 0, &a, abuf);
	ck_assert_uint_eq(a.code, COAP_NOT_FOUND);
	ck_assert_int_eq(obs_of(&a, &v), -ENOENT);
	ck_assert_uint_eq(tb.d->obs.n, 0);
}
END_TEST

/* RFC 7641 §3.2: a deleted file: 4.04, no Observe, CON, then gone. */
START_TEST(rfc7641_delete_ends)
{
	struct coap_msg a;
	uint8_t abuf[COAP_MAX_MSG];
	uint32_t v;
	char path[PATH_MAX];

	get_obs("del", "/obs/t.txt", 0, &a, abuf);
	snprintf(path, sizeof(path), "%s/www/t.txt", tb.tmp);
	ck_assert_int_eq(unlink(path), 0);
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 1);
	ck_assert_uint_eq(sent[0].m.code, COAP_NOT_FOUND);
	ck_assert_uint_eq(sent[0].m.type, COAP_TYPE_CON);
	ck_assert_int_eq(obs_of(&sent[0].m, &v), -ENOENT);
	/* Not notified again; gone at the ACK. */
	th_put_renamed(tb.tmp, "www/t.txt", "back", 4);
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 1);
	send_msg(COAP_TYPE_ACK, COAP_EMPTY, sent[0].m.mid, NULL, NULL, -1, -1,
	    NULL, abuf);
	ck_assert_uint_eq(tb.d->obs.n, 0);
}
END_TEST

/* RFC 7959 §3.4: a notification carries the first block and the ETag. */
START_TEST(rfc7959_observe_block2)
{
	struct coap_msg a;
	uint8_t abuf[COAP_MAX_MSG];
	char big[3000];
	struct block_opt b;

	memset(big, 'b', sizeof(big));
	th_put_renamed(tb.tmp, "www/t.txt", big, sizeof(big));
	/* Registered with Block2 0/64 bytes. */
	send_msg(COAP_TYPE_CON, COAP_GET, 0x10, "bk", "/obs/t.txt", 0, 2, &a,
	    abuf);
	ck_assert_uint_eq(a.code, COAP_CONTENT);
	ck_assert_uint_eq(a.payload_len, 64);
	ck_assert_uint_eq(tb.d->obs.n, 1);
	/* A later block with Observe registers nothing new. */
	send_msg(COAP_TYPE_CON, COAP_GET, 0x11, "b2", "/obs/t.txt", 0,
	    (1 << 4) | 2, &a, abuf);
	ck_assert_uint_eq(tb.d->obs.n, 1);

	big[0] = 'X';
	th_put_renamed(tb.tmp, "www/t.txt", big, sizeof(big));
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 1);
	ck_assert_uint_eq(sent[0].m.payload_len, 64);
	ck_assert_uint_eq(sent[0].m.payload[0], 'X');
	ck_assert_ptr_nonnull(coap_msg_opt(&sent[0].m, COAP_OPT_ETAG));
	ck_assert_int_eq(block_opt_get(&sent[0].m, COAP_OPT_BLOCK2, &b), 0);
	ck_assert_uint_eq(b.num, 0);
	ck_assert(b.more);
	ck_assert_uint_eq(b.szx, 2);
}
END_TEST

/* A reload that takes the client's right away ends the observation. */
START_TEST(reload_acl_ends)
{
	struct coap_msg a;
	uint8_t abuf[COAP_MAX_MSG];
	struct cfg *c2;

	get_obs("acl", "/obs/t.txt", 0, &a, abuf);
	ck_assert_uint_eq(tb.d->obs.n, 1);
	c2 = th_cfg_load(tb.tmp, "t2.conf", "workers = 2;\nroutes = (\n"
	    "  { path = \"/obs\"; static = \"www\"; observe = true;\n"
	    "    allow = [ \"net:10.0.0.0/8\" ]; }\n);\n");
	dispatch_set_cfg(tb.d, c2);
	th_put_renamed(tb.tmp, "www/t.txt", "secret", 6);
	changed("www/t.txt");
	ck_assert_int_eq(nsent, 1);
	ck_assert_uint_eq(sent[0].m.code, COAP_FORBIDDEN);
	ck_assert_uint_eq(sent[0].m.payload_len, 0);
	send_msg(COAP_TYPE_ACK, COAP_EMPTY, sent[0].m.mid, NULL, NULL, -1, -1,
	    NULL, abuf);
	ck_assert_uint_eq(tb.d->obs.n, 0);
	dispatch_set_cfg(tb.d, tb.cfg);
	cfg_unref(c2);
}
END_TEST

/* max_observers 2 over 2 workers: this engine holds one. */
START_TEST(max_observers_share)
{
	struct coap_msg a;
	uint8_t abuf[COAP_MAX_MSG];
	uint32_t v;

	get_obs("m1", "/obs/t.txt", 0, &a, abuf);
	ck_assert_int_eq(obs_of(&a, &v), 0);
	get_obs("m2", "/obs/t.txt", 0, &a, abuf);
	ck_assert_uint_eq(a.code, COAP_CONTENT);
	ck_assert_int_eq(obs_of(&a, &v), -ENOENT);
	/* Re-registration of the first one still works. */
	get_obs("m1", "/obs/t.txt", 0, &a, abuf);
	ck_assert_int_eq(obs_of(&a, &v), 0);
	ck_assert_uint_eq(tb.d->obs.n, 1);
}
END_TEST

static Suite *
notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("observe");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rfc7641_register_and_notify);
	tcase_add_test(tc, rfc7641_con_and_ack);
	tcase_add_test(tc, rfc7252_con_timeout_removes);
	tcase_add_test(tc, rfc7641_rst_and_deregister);
	tcase_add_test(tc, rfc7641_delete_ends);
	tcase_add_test(tc, rfc7959_observe_block2);
	tcase_add_test(tc, reload_acl_ends);
	tcase_add_test(tc, rfc7641_never_acked_while_changing);
	tcase_add_test(tc, per_client_cap);
	suite_add_tcase(s, tc);
	tc = tcase_create("limit");
	tcase_add_checked_fixture(tc, setup_small, teardown);
	tcase_add_test(tc, max_observers_share);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return th_run(notify_suite());
}
