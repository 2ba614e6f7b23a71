/*
 * test_dtls.c - the DTLS server (src/adapt/dtls*.c) in one process: wolfSSL
 * clients with in-memory I/O talk to a dtls_server through its send and
 * app callbacks.  Stateless cookies (RFC 6347 4.2.1), handshake, records
 * both ways, messages sent later, close_notify, a wrong key reaped, the
 * session table bound, idle expiry, a new hello replacing a session.
 * Runs under valgrind without network or threads.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>

#include "adapt/cfg.h"
#include "base/clock.h"
#include "adapt/dtls.h"
#include "adapt/log.h"
#include "proto/metrics.h"
#include "proto/psk.h"

#include "helpers.h"

#define QMAX	64
#define NCLI	8

struct dgram {
	uint8_t		 b[DTLS_RECORD_MAX];
	size_t		 len;
};

struct queue {
	struct dgram	 d[QMAX];
	unsigned	 head, n;
};

struct cli {
	WOLFSSL		*ssl;
	struct sockaddr_in addr;
	struct queue	 in;		/* from the server */
	const char	*id;
	const char	*key;
	bool		 dropped;	/* a datagram did not fit */
};

static struct cfg	 cf;
static struct metrics	 m;
static struct dtls_server *srv;
static WOLFSSL_CTX	*cctx;
static struct cli	 cli[NCLI];
static struct queue	 to_srv[NCLI];
static uint64_t		 now;
static unsigned		 app_calls;
static char		 last_identity[130];

static void
q_push(struct queue *q, const uint8_t *b, size_t len, bool *dropped)
{
	struct dgram	*d;

	if (q->n == QMAX || len > sizeof(d->b)) {
		if (dropped != NULL)
			*dropped = true;
		return;
	}
	d = &q->d[(q->head + q->n++) % QMAX];
	memcpy(d->b, b, len);
	d->len = len;
}

static struct dgram *
q_pop(struct queue *q)
{
	struct dgram	*d;

	if (q->n == 0)
		return NULL;
	d = &q->d[q->head];
	q->head = (q->head + 1) % QMAX;
	q->n--;
	return d;
}

/* dtls_send_fn: to the client with that port. */
static void
srv_send(void *arg, unsigned sock, const struct sockaddr *to,
    socklen_t tolen, const uint8_t *buf, size_t len)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)to;
	int	 i;

	(void)arg;
	ck_assert_uint_eq(sock, 3);
	ck_assert_uint_eq(tolen, sizeof(*a));
	for (i = 0; i < NCLI; i++)
		if (cli[i].addr.sin_port == a->sin_port) {
			q_push(&cli[i].in, buf, len, &cli[i].dropped);
			return;
		}
	ck_abort_msg("datagram to an unknown port");
}

/* dtls_app_fn: answer "echo:" + request + ":" + identity. */
static size_t
srv_app(void *arg, unsigned sock, const struct sockaddr *from,
    socklen_t fromlen, const char *identity, uint64_t serial,
    const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	int	 n;

	(void)arg;
	ck_assert_uint_ne(serial, 0);
	(void)from;
	(void)fromlen;
	ck_assert_uint_eq(sock, 3);
	app_calls++;
	snprintf(last_identity, sizeof(last_identity), "%s", identity);
	n = snprintf((char *)out, cap, "echo:%.*s:%s", (int)len,
	    (const char *)in, identity);
	return (size_t)n;
}

static int
cli_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct cli	*c = ctx;
	struct dgram	*d;

	(void)ssl;
	if ((d = q_pop(&c->in)) == NULL)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	ck_assert_int_le((int)d->len, sz);
	memcpy(buf, d->b, d->len);
	return (int)d->len;
}

static int
cli_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct cli	*c = ctx;

	(void)ssl;
	q_push(&to_srv[c - cli], (const uint8_t *)buf, (size_t)sz, NULL);
	return sz;
}

static unsigned int
cli_psk(WOLFSSL *ssl, const char *hint, char *identity, unsigned int idmax,
    unsigned char *key, unsigned int keymax)
{
	struct cli	*c = wolfSSL_GetIOReadCtx(ssl);

	(void)hint;
	snprintf(identity, idmax, "%s", c->id);
	ck_assert_uint_le(strlen(c->key), keymax);
	memcpy(key, c->key, strlen(c->key));
	return (unsigned int)strlen(c->key);
}

/* Deliver everything client i sent to the server. */
static unsigned
deliver(int i)
{
	struct dgram	*d;
	unsigned	 n = 0;

	while ((d = q_pop(&to_srv[i])) != NULL) {
		dtls_input(srv, 3, (const struct sockaddr *)&cli[i].addr,
		    sizeof(cli[i].addr), d->b, d->len, now);
		n++;
	}
	return n;
}

static void
cli_new(int i, const char *id, const char *key)
{
	struct cli	*c = &cli[i];

	if (c->ssl != NULL)
		wolfSSL_free(c->ssl);
	memset(&c->in, 0, sizeof(c->in));
	memset(&to_srv[i], 0, sizeof(to_srv[i]));
	c->id = id;
	c->key = key;
	c->addr.sin_family = AF_INET;
	c->addr.sin_port = htons((uint16_t)(40000 + i));
	c->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->ssl = wolfSSL_new(cctx);
	ck_assert_ptr_nonnull(c->ssl);
	wolfSSL_SSLSetIORecv(c->ssl, cli_recv);
	wolfSSL_SSLSetIOSend(c->ssl, cli_send);
	wolfSSL_SetIOReadCtx(c->ssl, c);
	wolfSSL_SetIOWriteCtx(c->ssl, c);
	wolfSSL_dtls_set_using_nonblock(c->ssl, 1);
}

/* Run client i's handshake; true when it completed. */
static bool
handshake(int i)
{
	int	 k, r;

	for (k = 0; k < 20; k++) {
		r = wolfSSL_connect(cli[i].ssl);
		if (r == WOLFSSL_SUCCESS) {
			deliver(i);
			return true;
		}
		if (deliver(i) == 0 && cli[i].in.n == 0)
			return false;
	}
	return false;
}

/* Send text from client i, run the server, read one answer into buf. */
static int
roundtrip(int i, const char *text, char *buf, int cap)
{
	int	 r;

	ck_assert_int_eq(wolfSSL_write(cli[i].ssl, text, (int)strlen(text)),
	    (int)strlen(text));
	deliver(i);
	r = wolfSSL_read(cli[i].ssl, buf, cap - 1);
	buf[r > 0 ? r : 0] = '\0';
	return r;
}

static void
setup(void)
{
	static const char keys[] =
	    "sensor-1:73656e736f72312d7365637265742d6b6579\n"
	    "admin:61646d696e2d7365637265742d6b65792d30303031\n";
	char	 err[256] = "";

	memset(&cf, 0, sizeof(cf));
	memset(&m, 0, sizeof(m));
	memset(cli, 0, sizeof(cli));
	memset(to_srv, 0, sizeof(to_srv));
	app_calls = 0;
	cf.workers = 1;
	cf.dtls.max_sessions = 3;
	cf.dtls.max_handshakes = 4;
	cf.dtls.max_handshakes_per_host = 2;
	cf.dtls.session_timeout_s = 60;
	cf.dtls.handshake_timeout_s = 5;
	cf.dtls.hello_hold_s = 10;
	ck_assert_int_eq(psk_parse(keys, sizeof(keys) - 1, &cf.dtls.psk, NULL,
	    NULL), 0);
	now = clock_now_ns();
	ck_assert_msg(dtls_server_new(&srv, &cf, 0, &m, srv_send, srv_app,
	    NULL, err, sizeof(err)) == 0, "%s", err);
	cctx = wolfSSL_CTX_new(wolfDTLSv1_2_client_method());
	ck_assert_ptr_nonnull(cctx);
	wolfSSL_CTX_set_psk_client_callback(cctx, cli_psk);
	ck_assert_int_eq(wolfSSL_CTX_set_cipher_list(cctx,
	    "PSK-CHACHA20-POLY1305"), WOLFSSL_SUCCESS);
}

static void
teardown(void)
{
	int	 i;

	for (i = 0; i < NCLI; i++)
		if (cli[i].ssl != NULL)
			wolfSSL_free(cli[i].ssl);
	wolfSSL_CTX_free(cctx);
	dtls_server_free(srv);
	psk_free(cf.dtls.psk);
	wolfSSL_Cleanup();
}

static uint64_t
counter(atomic_uint_least64_t *c)
{
	return metrics_get(c);
}

START_TEST(handshake_and_records)
{
	char	 buf[256];

	cli_new(0, "sensor-1", "sensor1-secret-key");
	/* first flight: a cookieless hello is answered, nothing is kept */
	ck_assert_int_ne(wolfSSL_connect(cli[0].ssl), WOLFSSL_SUCCESS);
	ck_assert_uint_eq(deliver(0), 1);
	ck_assert_uint_eq(counter(&m.dtls_hello_verify), 1);
	ck_assert_uint_eq(dtls_sessions(srv), 0);
	ck_assert(handshake(0));
	ck_assert_uint_eq(dtls_sessions(srv), 1);
	ck_assert_uint_eq(counter(&m.dtls_handshakes), 1);
	ck_assert_int_gt(roundtrip(0, "GET", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "echo:GET:sensor-1");
	ck_assert_int_gt(roundtrip(0, "again", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "echo:again:sensor-1");
	ck_assert_uint_eq(app_calls, 2);

	/* a message sent later goes through the session */
	ck_assert_int_eq(dtls_write(srv, 3,
	    (const struct sockaddr *)&cli[0].addr, sizeof(cli[0].addr),
	    (const uint8_t *)"notify", 6), 0);
	ck_assert_int_eq(wolfSSL_read(cli[0].ssl, buf, sizeof(buf)), 6);
	ck_assert(memcmp(buf, "notify", 6) == 0);
	/* ... and not to a peer without one */
	cli[1].addr = cli[0].addr;
	cli[1].addr.sin_port = htons(40001);
	ck_assert_int_eq(dtls_write(srv, 3,
	    (const struct sockaddr *)&cli[1].addr, sizeof(cli[1].addr),
	    (const uint8_t *)"x", 1), -ENOTCONN);
	/* nor on another socket */
	ck_assert_int_eq(dtls_write(srv, 4,
	    (const struct sockaddr *)&cli[0].addr, sizeof(cli[0].addr),
	    (const uint8_t *)"x", 1), -ENOTCONN);

	/* close_notify ends the session */
	wolfSSL_shutdown(cli[0].ssl);
	deliver(0);
	ck_assert_uint_eq(dtls_sessions(srv), 0);
	ck_assert_uint_eq(counter(&m.dtls_sessions), 0);
}
END_TEST

START_TEST(wrong_key_reaped)
{
	cli_new(0, "sensor-1", "this-is-not-the-key");
	ck_assert(!handshake(0));
	/* the client waits for an answer to its Finished */
	ck_assert_uint_eq(dtls_sessions(srv), 1);
	now += 4 * NS_PER_SEC;
	dtls_sweep(srv, now);
	ck_assert_uint_eq(dtls_sessions(srv), 1);
	now += 2 * NS_PER_SEC;
	dtls_sweep(srv, now);
	ck_assert_uint_eq(dtls_sessions(srv), 0);
	ck_assert_uint_eq(counter(&m.dtls_handshake_timeouts), 1);
	ck_assert_uint_eq(app_calls, 0);
}
END_TEST

START_TEST(unknown_identity)
{
	cli_new(0, "nobody", "sensor1-secret-key");
	ck_assert(!handshake(0));
	ck_assert_uint_eq(dtls_sessions(srv), 0);
	ck_assert_uint_eq(counter(&m.dtls_handshake_failures), 1);
}
END_TEST

START_TEST(table_bound_lru)
{
	char	 buf[64];
	int	 i;

	for (i = 0; i < 5; i++) {
		cli_new(i, "admin", "admin-secret-key-0001");
		ck_assert(handshake(i));
		now += NS_PER_MS;
	}
	/* max_sessions 3: the two least recently active went */
	ck_assert_uint_eq(dtls_sessions(srv), 3);
	ck_assert_uint_eq(counter(&m.dtls_evicted), 2);
	for (i = 2; i < 5; i++) {
		ck_assert_int_gt(roundtrip(i, "hi", buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, "echo:hi:admin");
	}
	/* an evicted client's records are dropped */
	ck_assert_int_le(roundtrip(0, "hi", buf, sizeof(buf)), 0);
	ck_assert_uint_eq(app_calls, 3);
	/* traffic refreshed 2: a sixth client evicts 3, the least recent */
	now += NS_PER_MS;
	ck_assert_int_gt(roundtrip(2, "hi", buf, sizeof(buf)), 0);
	cli_new(5, "admin", "admin-secret-key-0001");
	ck_assert(handshake(5));
	ck_assert_int_gt(roundtrip(2, "hi", buf, sizeof(buf)), 0);
	ck_assert_int_le(roundtrip(3, "hi", buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(idle_expiry)
{
	char	 buf[64];

	cli_new(0, "admin", "admin-secret-key-0001");
	ck_assert(handshake(0));
	now += 59 * NS_PER_SEC;
	dtls_sweep(srv, now);
	ck_assert_uint_eq(dtls_sessions(srv), 1);
	ck_assert_int_gt(roundtrip(0, "hi", buf, sizeof(buf)), 0);
	now += 59 * NS_PER_SEC;
	dtls_sweep(srv, now);
	ck_assert_uint_eq(dtls_sessions(srv), 1);
	now += 2 * NS_PER_SEC;
	dtls_sweep(srv, now);
	ck_assert_uint_eq(dtls_sessions(srv), 0);
}
END_TEST

/* Capture what client 0 sends instead of delivering it. */
static struct dgram first_hello2;

START_TEST(new_hello_new_session)
{
	struct dgram	*d;
	char		 buf[64];

	cli_new(0, "admin", "admin-secret-key-0001");
	/* hello, HelloVerifyRequest, hello with the cookie (kept aside) */
	ck_assert_int_ne(wolfSSL_connect(cli[0].ssl), WOLFSSL_SUCCESS);
	deliver(0);
	ck_assert_int_ne(wolfSSL_connect(cli[0].ssl), WOLFSSL_SUCCESS);
	ck_assert_uint_eq(to_srv[0].n, 1);
	first_hello2 = to_srv[0].d[to_srv[0].head];
	ck_assert(handshake(0));
	ck_assert_uint_eq(dtls_sessions(srv), 1);
	/* a stale duplicate of that hello does not replace the session */
	d = &first_hello2;
	dtls_input(srv, 3, (const struct sockaddr *)&cli[0].addr,
	    sizeof(cli[0].addr), d->b, d->len, now);
	ck_assert_uint_eq(counter(&m.dtls_handshakes), 1);
	ck_assert_int_gt(roundtrip(0, "zero", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "echo:zero:admin");
	ck_assert_int_gt(roundtrip(0, "one", buf, sizeof(buf)), 0);
	/*
	 * same address and port, a client that lost its state; it comes
	 * back after the session has been quiet long enough for its
	 * cookieless hello to be answered (offpath_hello_keeps_session)
	 */
	now += 11 * NS_PER_SEC;
	cli_new(0, "sensor-1", "sensor1-secret-key");
	ck_assert(handshake(0));
	ck_assert_uint_eq(dtls_sessions(srv), 1);
	ck_assert_uint_eq(counter(&m.dtls_handshakes), 2);
	ck_assert_uint_eq(counter(&m.dtls_dropped), 1);
	ck_assert_int_gt(roundtrip(0, "two", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "echo:two:sensor-1");
}
END_TEST

/*
 * RFC 6347 §4.2.8: a new ClientHello from an established client's address
 * and port replaces the session only once it carries a valid cookie.  An
 * off-path attacker forging that address never sees the cookie: its
 * hellos, with no cookie or with a cookie made for another random, change
 * nothing.  While the session is live (its peer spoke in the last 10 s)
 * they get no answer at all, so no HelloVerifyRequest reaches the real
 * client's established session; once it has been quiet, a
 * HelloVerifyRequest, as for a client that lost its state.
 */
#define HELLO_RANDOM	(13 + 12 + 2)	/* record, handshake, version */

START_TEST(offpath_hello_keeps_session)
{
	struct dgram	 forged[2], *d;
	char		 buf[64];
	int		 k;

	cli_new(0, "admin", "admin-secret-key-0001");
	ck_assert_int_ne(wolfSSL_connect(cli[0].ssl), WOLFSSL_SUCCESS);
	ck_assert_uint_eq(to_srv[0].n, 1);
	forged[0] = to_srv[0].d[to_srv[0].head];	/* cookieless */
	deliver(0);
	ck_assert_int_ne(wolfSSL_connect(cli[0].ssl), WOLFSSL_SUCCESS);
	ck_assert_uint_eq(to_srv[0].n, 1);
	forged[1] = to_srv[0].d[to_srv[0].head];	/* with the cookie */
	ck_assert(handshake(0));
	ck_assert_uint_eq(dtls_sessions(srv), 1);
	ck_assert_uint_eq(counter(&m.dtls_hello_verify), 1);
	/* a fresh random: a new hello, its cookie (if any) stale */
	for (k = 0; k < 2; k++)
		forged[k].b[HELLO_RANDOM] ^= 0x5a;
	for (k = 0; k < 2; k++) {		/* live: held */
		dtls_input(srv, 3, (const struct sockaddr *)&cli[0].addr,
		    sizeof(cli[0].addr), forged[k].b, forged[k].len, now);
		ck_assert_uint_eq(counter(&m.dtls_hello_held), 1 + k);
		ck_assert_uint_eq(cli[0].in.n, 0);
	}
	ck_assert_int_gt(roundtrip(0, "live", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "echo:live:admin");
	now += 11 * NS_PER_SEC;
	for (k = 0; k < 2; k++) {		/* quiet: a HelloVerifyRequest */
		dtls_input(srv, 3, (const struct sockaddr *)&cli[0].addr,
		    sizeof(cli[0].addr), forged[k].b, forged[k].len, now);
		ck_assert_uint_eq(counter(&m.dtls_hello_verify), 2 + k);
		ck_assert_uint_eq(counter(&m.dtls_hello_held), 2);
		ck_assert_uint_eq(cli[0].in.n, 1);
		d = q_pop(&cli[0].in);
		ck_assert_uint_eq(d->b[0], 22);		/* handshake */
		ck_assert_uint_eq(d->b[13], 3);		/* hello_verify */
		ck_assert_uint_eq(dtls_sessions(srv), 1);
		ck_assert_uint_eq(counter(&m.dtls_handshakes), 1);
	}
	ck_assert_int_gt(roundtrip(0, "still", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "echo:still:admin");
}
END_TEST

/* Hand d[0..len) to the server as from client i's address. */
static void
forge(int i, const uint8_t *d, size_t len)
{
	dtls_input(srv, 3, (const struct sockaddr *)&cli[i].addr,
	    sizeof(cli[i].addr), d, len, now);
}

/*
 * RFC 6347 §4.1.2.7: forged datagrams from an established client's
 * address (a record shorter than the cipher's minimum, a bare header, a
 * header claiming more than the datagram, a record that fails
 * authentication, an unknown type) are dropped and the session goes on;
 * a record never spans datagrams; the good record beside a bad one in a
 * datagram still counts.
 */
#define REC_HDR	13	/* DTLS record header */

START_TEST(forged_records_ignored)
{
	static const uint8_t shortrec[] = { 23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0,
	    0x10, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	static const uint8_t hdr[] = { 23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0x11,
	    0, 0, 0 };
	uint8_t		 d[DTLS_RECORD_MAX + 64];
	struct dgram	*real;
	char		 buf[64];
	size_t		 n;

	cli_new(0, "admin", "admin-secret-key-0001");
	ck_assert(handshake(0));
	forge(0, shortrec, sizeof(shortrec));
	forge(0, hdr, sizeof(hdr));
	/* claims 600 bytes, holds 20 */
	memcpy(d, shortrec, REC_HDR);
	d[11] = 600 >> 8;
	d[12] = 600 & 0xff;
	memset(d + REC_HDR, 0xa5, 20);
	forge(0, d, REC_HDR + 20);
	/* long enough, but not authentic */
	memset(d + REC_HDR, 0x5a, 60);
	d[11] = 0;
	d[12] = 60;
	forge(0, d, REC_HDR + 60);
	d[0] = 99;
	forge(0, d, REC_HDR + 60);
	ck_assert_uint_eq(dtls_sessions(srv), 1);
	ck_assert_int_gt(roundtrip(0, "still", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "echo:still:admin");
	/* a short record, then the client's real one, in one datagram */
	ck_assert_int_eq(wolfSSL_write(cli[0].ssl, "pair", 4), 4);
	real = q_pop(&to_srv[0]);
	ck_assert_ptr_nonnull(real);
	memcpy(d, shortrec, sizeof(shortrec));
	memcpy(d + sizeof(shortrec), real->b, real->len);
	n = sizeof(shortrec) + real->len;
	forge(0, d, n);
	ck_assert_int_gt(wolfSSL_read(cli[0].ssl, buf, sizeof(buf) - 1), 0);
	ck_assert(memcmp(buf, "echo:pair:admin", 15) == 0);
	ck_assert_uint_eq(counter(&m.dtls_handshakes), 1);
	ck_assert_uint_ge(counter(&m.dtls_records_invalid), 5);
	ck_assert_int_gt(roundtrip(0, "end", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "echo:end:admin");
}
END_TEST

/* Client i gets past the cookie (ServerHello) and goes no further. */
static void
half_open(int i)
{
	ck_assert_int_ne(wolfSSL_connect(cli[i].ssl), WOLFSSL_SUCCESS);
	deliver(i);
	ck_assert_int_ne(wolfSSL_connect(cli[i].ssl), WOLFSSL_SUCCESS);
	deliver(i);
}

/*
 * Handshakes past the cookie have their own budget (max_handshakes 4,
 * of one host 2) and never evict an established session (max_sessions
 * 3 are held while 7 handshakes come and go).
 */
START_TEST(half_open_budget)
{
	char	 buf[64];
	int	 i;

	for (i = 0; i < 3; i++) {
		cli_new(i, "admin", "admin-secret-key-0001");
		ck_assert(handshake(i));
	}
	ck_assert_uint_eq(dtls_sessions(srv), 3);
	for (i = 3; i < 8; i++) {
		cli_new(i, "admin", "admin-secret-key-0001");
		half_open(i);
	}
	/* one host: only its 2 newest handshakes are kept */
	ck_assert_uint_eq(dtls_sessions(srv), 3 + 2);
	ck_assert_uint_eq(counter(&m.dtls_handshakes_evicted), 3);
	ck_assert_uint_eq(counter(&m.dtls_evicted), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_gt(roundtrip(i, "up", buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, "echo:up:admin");
	}
	/* one that completes takes the place of the least recent session */
	ck_assert(handshake(7));
	ck_assert_uint_eq(counter(&m.dtls_evicted), 1);
	ck_assert_int_le(roundtrip(0, "gone", buf, sizeof(buf)), 0);
	ck_assert_int_gt(roundtrip(7, "in", buf, sizeof(buf)), 0);
}
END_TEST

/* Raw cookieless hellos from many ports: answered, nothing kept. */
START_TEST(hello_flood)
{
	uint8_t		 hello[128];
	struct sockaddr_in a;
	size_t		 n = 0;
	int		 i;

	memset(hello, 0, sizeof(hello));
	/* record: handshake, DTLS 1.0, epoch 0, seq 0, length */
	hello[n++] = 22; hello[n++] = 254; hello[n++] = 255;
	n += 8;
	hello[n++] = 0; hello[n++] = 12 + 2 + 32 + 1 + 1 + 4 + 2 + 2;
	/* handshake header: client_hello, length, seq 0, unfragmented */
	hello[n++] = 1; hello[n++] = 0; hello[n++] = 0;
	hello[n++] = 2 + 32 + 1 + 1 + 4 + 2 + 2;
	n += 2 + 3;
	hello[n++] = 0; hello[n++] = 0;
	hello[n++] = 2 + 32 + 1 + 1 + 4 + 2 + 2;
	hello[n++] = 254; hello[n++] = 253;
	n += 32;		/* random */
	n += 1;			/* session id */
	n += 1;			/* cookie */
	hello[n++] = 0; hello[n++] = 2; hello[n++] = 0xcc; hello[n++] = 0xab;
	hello[n++] = 1; hello[n++] = 0;
	hello[n++] = 0; hello[n++] = 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* answers go to client slot 0's queue, which is drained */
	cli[0].addr = a;
	for (i = 0; i < 5000; i++) {
		a.sin_port = cli[0].addr.sin_port = htons((uint16_t)(20000 +
		    i % 500));
		dtls_input(srv, 3, (const struct sockaddr *)&a, sizeof(a),
		    hello, n, now);
		while (q_pop(&cli[0].in) != NULL)
			;
	}
	ck_assert_uint_eq(counter(&m.dtls_hello_verify), 5000);
	ck_assert_uint_eq(dtls_sessions(srv), 0);
	/* truncated and garbage records are dropped */
	dtls_input(srv, 3, (const struct sockaddr *)&a, sizeof(a), hello, 20,
	    now);
	dtls_input(srv, 3, (const struct sockaddr *)&a, sizeof(a),
	    (const uint8_t *)"\x17\xfe\xfd garbage record", 20, now);
	ck_assert_uint_eq(dtls_sessions(srv), 0);
	ck_assert_uint_eq(counter(&m.dtls_hello_verify), 5000);
}
END_TEST

START_TEST(cipher_names)
{
	char	 err[1024], d[2048];

	ck_assert(dtls_cipher_ok("TLS_PSK_WITH_CHACHA20_POLY1305_SHA256", err,
	    sizeof(err)));
	ck_assert(dtls_cipher_ok("PSK-CHACHA20-POLY1305", err, sizeof(err)));
	ck_assert(!dtls_cipher_ok("NOPE", err, sizeof(err)));
	ck_assert(strstr(err, "unknown cipher suite") != NULL);
	/* the suites offered are listed; a near miss gets the nearest */
	ck_assert(strstr(err, "expected one of TLS_") != NULL);
	ck_assert(strstr(err, "did you mean") == NULL);
	ck_assert(!dtls_cipher_ok("TLS_PSK_WITH_CHACHA20_POLY1305_SHA265", err,
	    sizeof(err)));
	ck_assert_msg(strstr(err, "(did you mean "
	    "\"TLS_PSK_WITH_CHACHA20_POLY1305_SHA256\"?)") != NULL, "%s", err);
	ck_assert(!dtls_cipher_ok("A:B", err, sizeof(err)));
	ck_assert(!dtls_cipher_ok("", err, sizeof(err)));
	if (!dtls_has_ccm8()) {
		ck_assert(!dtls_cipher_ok("TLS_PSK_WITH_AES_128_CCM_8", err,
		    sizeof(err)));
		ck_assert(strstr(err, "make wolfssl") != NULL);
	} else
		ck_assert(dtls_cipher_ok("TLS_PSK_WITH_AES_128_CCM_8", err,
		    sizeof(err)));
	dtls_describe(d, sizeof(d));
	ck_assert(strstr(d, "TLS_PSK_WITH_AES_128_CCM_8") != NULL);
	ck_assert(strstr(d, "_DHE_") == NULL);
	ck_assert(strstr(d, "_NULL_") == NULL);
}
END_TEST

static Suite *
dtls_suite(void)
{
	Suite	*s = suite_create("dtls");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, handshake_and_records);
	tcase_add_test(tc, wrong_key_reaped);
	tcase_add_test(tc, unknown_identity);
	tcase_add_test(tc, table_bound_lru);
	tcase_add_test(tc, idle_expiry);
	tcase_add_test(tc, new_hello_new_session);
	tcase_add_test(tc, offpath_hello_keeps_session);
	tcase_add_test(tc, hello_flood);
	tcase_add_test(tc, forged_records_ignored);
	tcase_add_test(tc, half_open_budget);
	tcase_add_test(tc, cipher_names);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	/* the notices the tests provoke are expected: keep the output quiet */
	log_init(LOG_LVL_ERR, "test_dtls");
	return th_run(dtls_suite());
}
