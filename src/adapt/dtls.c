/*
 * dtls.c - DTLS 1.2 PSK server over the worker's datagrams (wolfSSL).
 * See dtls.h.  The only file that includes wolfSSL headers.
 *
 * Cookies.  wolfSSL 5.5.4 answers a cookieless ClientHello itself, but
 * only from a WOLFSSL object, i.e. after allocating tens of kilobytes per
 * source address; its cookie callback (wolfSSL_CTX_SetGenCookie) is never
 * called.  So coapd parses the ClientHello and sends the
 * HelloVerifyRequest itself, from the datagram and a per-worker secret,
 * with the very computation wolfSSL uses to check a cookie (HMAC-SHA256
 * over the peer address given to wolfSSL_dtls_set_peer(), client_version,
 * random, session_id, cipher_suites and compression_methods, see its
 * CreateDtlsCookie()).  Only a ClientHello with a valid cookie creates a
 * session; wolfSSL then gets the same secret (wolfSSL_DTLS_SetCookieSecret)
 * and the same address, verifies the cookie again and carries on.  The
 * secret changes every COOKIE_ROTATE_NS; a cookie made with the previous
 * one is still accepted.
 *
 * I/O.  Every session has its own receive and send callbacks
 * (wolfSSL_SSLSetIORecv/Send; wolfSSL_SetIORecv is per context): the
 * receive callback hands wolfSSL the datagram being processed, once, then
 * says "want read"; the send callback passes records to the worker.
 * Handshake flights are not retransmitted on a timer: a client that misses
 * one retransmits its own flight, and wolfSSL answers that with ours.
 *
 * Sessions.  A hash table on (socket, address) and two lists: handshakes
 * in order of creation (reaped after handshake_timeout_s) and established
 * sessions in order of last traffic (reaped after session_timeout_s,
 * evicted from the cold end when the table is full).
 */
#include <sys/random.h>

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "base/hash.h"
#include "adapt/cfg.h"
#include "base/clock.h"
#include "adapt/dtls.h"
#include "adapt/log.h"
#include "proto/metrics.h"
#include "base/net.h"
#include "proto/psk.h"

#define COOKIE_LEN		32		/* HMAC-SHA256, as wolfSSL */
#define SECRET_LEN		32
#define COOKIE_ROTATE_NS	(300 * NS_PER_SEC)
#define SWEEP_EVERY_NS		(250 * NS_PER_MS)
#define CCM8_IANA		"TLS_PSK_WITH_AES_128_CCM_8"

/* DTLS 1.2 wire constants (RFC 6347 §4.1, §4.2.2) */
#define REC_HDR			13
#define HS_HDR			12
#define CT_HANDSHAKE		22
#define HS_CLIENT_HELLO		1
#define HS_HELLO_VERIFY		3

struct dtls_sess {
	struct dtls_sess	*hnext;		/* hash chain */
	struct dtls_sess	*prev, *next;	/* hs or lru list */
	struct dtls_server	*srv;
	WOLFSSL			*ssl;
	unsigned		 sock;
	struct sockaddr_storage	 addr;		/* canonical, see canon() */
	socklen_t		 addrlen;
	uint64_t		 created_ns;
	uint64_t		 last_ns; /* last datagram from the peer */
	bool			 established;
	uint8_t			 random[32];	/* of the ClientHello */
	const uint8_t		*in;		/* datagram being processed */
	size_t			 inlen;
	char			 identity[PSK_IDENTITY_MAX + 1];
	uint64_t		 serial;	/* keeps sessions' state apart */
};

struct sess_list {
	struct dtls_sess	*head;		/* newest */
	struct dtls_sess	*tail;		/* oldest */
};

struct dtls_server {
	unsigned		 id;
	const struct cfg	*cfg;
	WOLFSSL_CTX		*ctx;
	struct metrics		*m;
	dtls_send_fn		*send;
	dtls_app_fn		*app;
	void			*arg;

	struct dtls_sess	**bucket;
	size_t			 mask;
	uint64_t		 seed;
	size_t			 nsess;
	size_t			 max_sess;	/* this worker's share */
	struct sess_list	 hs;		/* handshaking, by creation */
	struct sess_list	 lru;		/* established, by last use */

	uint8_t			 secret[2][SECRET_LEN];	/* current, previous */
	uint64_t		 secret_ns;	/* when [0] was made */
	uint64_t		 next_sweep;

	uint64_t		 next_serial;
	/*
	 * wolfSSL hands back a record's plaintext in pieces when the buffer
	 * is smaller than the record; each piece would then look like a
	 * message of its own.  A datagram never exceeds the receive buffer.
	 */
	uint8_t			 plain[DTLS_PLAIN_MAX];
	uint8_t			 answer[DTLS_RECORD_MAX];
};

/*
 * Library-wide.
 */

static pthread_once_t	 init_once = PTHREAD_ONCE_INIT;
static int		 init_rc;

static void
global_init(void)
{
	init_rc = wolfSSL_Init() == WOLFSSL_SUCCESS ? 0 : -EIO;
}

int
dtls_global_init(void)
{
	pthread_once(&init_once, global_init);
	return init_rc;
}

/* Colon-separated name lists of the build: wolfSSL names, IANA names. */
static void
cipher_lists(char *names, size_t nlen, char *iana, size_t ilen)
{
	dtls_global_init();
	names[0] = iana[0] = '\0';
	if (wolfSSL_get_ciphers(names, (int)nlen) != WOLFSSL_SUCCESS)
		names[0] = '\0';
	if (wolfSSL_get_ciphers_iana(iana, (int)ilen) != WOLFSSL_SUCCESS)
		iana[0] = '\0';
}

/* Whether name is one element of the colon-separated list. */
static bool
in_list(const char *list, const char *name)
{
	size_t		 n = strlen(name);
	const char	*p = list;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ':') &&
		    (p[n] == '\0' || p[n] == ':'))
			return true;
		p += n;
	}
	return false;
}

bool
dtls_cipher_ok(const char *name, char *err, size_t errlen)
{
	char	 names[8192], iana[8192];

	cipher_lists(names, sizeof(names), iana, sizeof(iana));
	if (strchr(name, ':') != NULL || name[0] == '\0') {
		snprintf(err, errlen, "\"%s\": one cipher suite per entry",
		    name);
		return false;
	}
	if (!in_list(names, name) && !in_list(iana, name)) {
		if (strstr(name, "CCM_8") != NULL ||
		    strstr(name, "CCM-8") != NULL ||
		    strstr(name, "CCM8") != NULL)
			snprintf(err, errlen, "\"%s\": not offered by this "
			    "wolfSSL %s (it lacks WOLFSSL_STATIC_PSK): build "
			    "coapd with `make wolfssl` and `make "
			    "WOLFSSL=build/wolfssl`", name,
			    wolfSSL_lib_version());
		else
			snprintf(err, errlen, "\"%s\": unknown cipher suite "
			    "(see coapd -V)", name);
		return false;
	}
	if (strstr(name, "PSK") == NULL) {
		snprintf(err, errlen, "\"%s\": not a PSK cipher suite", name);
		return false;
	}
	return true;
}

/*
 * Preference of a PSK suite in the default list (lower first): CCM-8
 * (RFC 7252 §9.1.3.1 makes it mandatory), then AEAD suites without ECDHE
 * (cheapest for constrained clients), AEAD with ECDHE, then CBC.  DHE
 * (no DH parameters are configured) and NULL (unencrypted) suites are
 * left out: -1.
 */
static int
suite_rank(const char *iana)
{
	bool	 ecdhe = strstr(iana, "_ECDHE_") != NULL;
	bool	 aead = strstr(iana, "_GCM_") != NULL ||
		    strstr(iana, "_CCM") != NULL ||
		    strstr(iana, "_CHACHA20_") != NULL;

	if (strstr(iana, "PSK") == NULL || strstr(iana, "_DHE_") != NULL ||
	    strstr(iana, "_NULL_") != NULL)
		return -1;
	if (strcmp(iana, CCM8_IANA) == 0)
		return 0;
	return 1 + (ecdhe ? 1 : 0) + (aead ? 0 : 2);
}

/* The default list: the build's PSK suites by IANA name, by rank. */
static void
default_ciphers(char *out, size_t len)
{
	char	 names[8192], iana[8192], copy[8192], *p, *save;
	size_t	 n = 0;
	int	 rank;

	cipher_lists(names, sizeof(names), iana, sizeof(iana));
	out[0] = '\0';
	for (rank = 0; rank <= 4; rank++) {
		memcpy(copy, iana, sizeof(copy));
		save = NULL;
		for (p = strtok_r(copy, ":", &save); p != NULL;
		    p = strtok_r(NULL, ":", &save)) {
			if (suite_rank(p) != rank || in_list(out, p))
				continue;
			if (n < len)
				n += (size_t)snprintf(out + n, len - n, "%s%s",
				    n ? ":" : "", p);
		}
	}
	if (n >= len && len > 0)
		out[len - 1] = '\0';
}

bool
dtls_has_ccm8(void)
{
	char	 list[4096];

	default_ciphers(list, sizeof(list));
	return in_list(list, CCM8_IANA);
}

void
dtls_describe(char *buf, size_t len)
{
	char	 list[4096], *p, *save = NULL;
	size_t	 n;
	bool	 ccm8;

	default_ciphers(list, sizeof(list));
	ccm8 = in_list(list, CCM8_IANA);
	n = (size_t)snprintf(buf, len, "wolfSSL %s, DTLS 1.2, PSK cipher "
	    "suites offered by default:\n", wolfSSL_lib_version());
	for (p = strtok_r(list, ":", &save); p != NULL && n < len;
	    p = strtok_r(NULL, ":", &save))
		n += (size_t)snprintf(buf + n, len - n, "  %s\n", p);
	if (n >= len)
		return;
	if (ccm8)
		snprintf(buf + n, len - n, "%s (mandatory, RFC 7252 "
		    "9.1.3.1): yes\n", CCM8_IANA);
	else
		snprintf(buf + n, len - n, "%s (mandatory, RFC 7252 "
		    "9.1.3.1): MISSING - this wolfSSL is built without "
		    "WOLFSSL_STATIC_PSK;\n  run `make wolfssl` and build with "
		    "`make WOLFSSL=build/wolfssl` to offer it\n", CCM8_IANA);
}

/*
 * Addresses.  The key of a session and the bytes wolfSSL hashes into the
 * cookie: only family, port, address (and scope for IPv6), so that two
 * datagrams of one peer always give the same bytes.  Those are the fields
 * net_addr_same() compares, so peers it calls the same hash alike.
 */
static bool
canon(const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *out,
    socklen_t *outlen)
{
	struct sockaddr_in	*o4 = (struct sockaddr_in *)out;
	struct sockaddr_in6	*o6 = (struct sockaddr_in6 *)out;
	const struct sockaddr_in *i4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *i6 = (const struct sockaddr_in6 *)sa;

	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(*i4)) {
		o4->sin_family = AF_INET;
		o4->sin_port = i4->sin_port;
		o4->sin_addr = i4->sin_addr;
		*outlen = sizeof(*o4);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(*i6)) {
		o6->sin6_family = AF_INET6;
		o6->sin6_port = i6->sin6_port;
		o6->sin6_addr = i6->sin6_addr;
		o6->sin6_scope_id = i6->sin6_scope_id;
		*outlen = sizeof(*o6);
		return true;
	}
	return false;
}

static size_t
addr_hash(const struct dtls_server *s, unsigned sock,
    const struct sockaddr_storage *a, socklen_t alen)
{
	/* seeded FNV-1a: the table only holds peers that passed a cookie */
	return (size_t)hash_fold(fnv1a(s->seed ^ sock, a, alen)) & s->mask;
}

static struct dtls_sess **
find(struct dtls_server *s, unsigned sock, const struct sockaddr_storage *a,
    socklen_t alen)
{
	struct dtls_sess **pp;

	for (pp = &s->bucket[addr_hash(s, sock, a, alen)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if ((*pp)->sock == sock && net_addr_same(
		    (const struct sockaddr *)&(*pp)->addr, (*pp)->addrlen,
		    (const struct sockaddr *)a, alen))
			return pp;
	return pp;
}

/*
 * Lists.
 */

static void
list_unlink(struct sess_list *l, struct dtls_sess *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		l->head = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	else
		l->tail = x->prev;
	x->prev = x->next = NULL;
}

static void
list_push(struct sess_list *l, struct dtls_sess *x)
{
	x->prev = NULL;
	x->next = l->head;
	if (l->head != NULL)
		l->head->prev = x;
	else
		l->tail = x;
	l->head = x;
}

static void
gauge(struct dtls_server *s)
{
	atomic_store_explicit(&s->m->dtls_sessions, s->nsess,
	    memory_order_relaxed);
}

static void
sess_free(struct dtls_server *s, struct dtls_sess *x)
{
	struct dtls_sess **pp;

	pp = find(s, x->sock, &x->addr, x->addrlen);
	if (*pp == x)
		*pp = x->hnext;
	list_unlink(x->established ? &s->lru : &s->hs, x);
	wolfSSL_free(x->ssl);
	explicit_bzero(x->identity, sizeof(x->identity));
	free(x);
	s->nsess--;
	gauge(s);
}

static void
peer_fields(const struct dtls_sess *x, char *peer, size_t plen,
    char *idf, size_t ilen)
{
	char	 a[NET_ADDRSTRLEN];

	net_addr_str((const struct sockaddr *)&x->addr, a, sizeof(a));
	snprintf(peer, plen, "PEER=%s", a);
	snprintf(idf, ilen, "PSK_IDENTITY=%s", x->identity);
}

/* Log a session's end at level with its peer and identity as fields. */
static void
sess_log(const struct dtls_sess *x, enum log_level lvl, const char *what)
{
	char		 peer[NET_ADDRSTRLEN + 8];
	char		 idf[PSK_IDENTITY_MAX + 16];
	const char	*fields[3] = { peer, idf, NULL };

	if (!log_enabled(lvl))
		return;
	peer_fields(x, peer, sizeof(peer), idf, sizeof(idf));
	log_fields(lvl, fields, "dtls %s, %s", peer + 5, what);
}

/*
 * wolfSSL callbacks.
 */

static int
io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct dtls_sess *x = ctx;
	size_t		 n;

	(void)ssl;
	if (x->in == NULL)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	n = x->inlen;
	/* a datagram is read whole or not at all (RFC 6347 §4.1.1) */
	if (n > (size_t)sz)
		n = 0;
	memcpy(buf, x->in, n);
	x->in = NULL;
	return n > 0 ? (int)n : WOLFSSL_CBIO_ERR_WANT_READ;
}

static int
io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct dtls_sess *x = ctx;

	(void)ssl;
	x->srv->send(x->srv->arg, x->sock, (const struct sockaddr *)&x->addr,
	    x->addrlen, (const uint8_t *)buf, (size_t)sz);
	return sz;
}

static unsigned int
psk_server_cb(WOLFSSL *ssl, const char *identity, unsigned char *key,
    unsigned int max_key_len)
{
	struct dtls_sess	*x = wolfSSL_GetIOReadCtx(ssl);
	const uint8_t		*k;
	size_t			 idlen, klen;

	if (x == NULL || identity == NULL)
		return 0;
	idlen = strnlen(identity, PSK_IDENTITY_MAX + 1);
	if (idlen > PSK_IDENTITY_MAX)
		return 0;
	memcpy(x->identity, identity, idlen);
	x->identity[idlen] = '\0';
	k = psk_lookup(x->srv->cfg->dtls.psk, identity, idlen, &klen);
	if (k == NULL || klen > max_key_len) {
		sess_log(x, LOG_LVL_NOTICE, "unknown PSK identity");
		return 0;
	}
	memcpy(key, k, klen);
	return (unsigned int)klen;
}

/*
 * Context.
 */

static WOLFSSL_CTX *
ctx_new(const struct cfg *c, char *err, size_t errlen)
{
	WOLFSSL_CTX	*ctx;
	char		 list[4096];
	size_t		 i, n = 0;

	if ((ctx = wolfSSL_CTX_new(wolfDTLSv1_2_server_method())) == NULL) {
		snprintf(err, errlen, "cannot create a DTLS context");
		return NULL;
	}
	if (c->dtls.nciphers == 0)
		default_ciphers(list, sizeof(list));
	else {
		list[0] = '\0';
		for (i = 0; i < c->dtls.nciphers && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n,
			    "%s%s", i ? ":" : "", c->dtls.ciphers[i]);
	}
	if (list[0] == '\0' ||
	    wolfSSL_CTX_set_cipher_list(ctx, list) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "no usable PSK cipher suite in \"%s\"",
		    list);
		wolfSSL_CTX_free(ctx);
		return NULL;
	}
	wolfSSL_CTX_set_psk_server_callback(ctx, psk_server_cb);
	if (c->dtls.identity_hint != NULL)
		wolfSSL_CTX_use_psk_identity_hint(ctx, c->dtls.identity_hint);
	/* no resumption: a session lives in its worker's table only */
	wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
	return ctx;
}

static size_t
share(const struct cfg *c)
{
	uint32_t	 w = c->workers ? c->workers : 1;
	size_t		 n;

	/* dtls.max_sessions is for all workers together */
	n = (c->dtls.max_sessions + w - 1) / w;
	return n ? n : 1;
}

int
dtls_server_new(struct dtls_server **out, const struct cfg *c, unsigned id,
    struct metrics *m, dtls_send_fn *send_fn, dtls_app_fn *app_fn, void *arg,
    char *err, size_t errlen)
{
	struct dtls_server	*s;
	size_t			 nb;

	*out = NULL;
	if (dtls_global_init() != 0) {
		snprintf(err, errlen, "cannot initialize wolfSSL");
		return -EIO;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->id = id;
	s->cfg = c;
	s->m = m;
	s->send = send_fn;
	s->app = app_fn;
	s->arg = arg;
	s->max_sess = share(c);
	for (nb = 64; nb < s->max_sess && nb < (1u << 20); nb *= 2)
		;
	s->mask = nb - 1;
	if ((s->bucket = calloc(nb, sizeof(*s->bucket))) == NULL) {
		free(s);
		return -ENOMEM;
	}
	if (getrandom(s->secret, sizeof(s->secret), 0) !=
	    (ssize_t)sizeof(s->secret) ||
	    getrandom(&s->seed, sizeof(s->seed), 0) !=
	    (ssize_t)sizeof(s->seed)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		dtls_server_free(s);
		return -EIO;
	}
	s->secret_ns = clock_now_ns();
	if ((s->ctx = ctx_new(c, err, errlen)) == NULL) {
		dtls_server_free(s);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

void
dtls_server_set_cfg(struct dtls_server *s, const struct cfg *c)
{
	WOLFSSL_CTX	*ctx;
	char		 err[256];

	s->cfg = c;
	s->max_sess = share(c);
	/* a session holds a reference to its context: old ones live on */
	if ((ctx = ctx_new(c, err, sizeof(err))) == NULL) {
		log_warnx("worker %u, dtls: %s; keeping the previous cipher "
		    "suites", s->id, err);
		return;
	}
	wolfSSL_CTX_free(s->ctx);
	s->ctx = ctx;
}

/*
 * The stateless part: ClientHello parsing, cookies, HelloVerifyRequest.
 */

struct hello {
	const uint8_t	*rec_seq;	/* 6 bytes */
	uint16_t	 msg_seq;
	const uint8_t	*version;	/* 2 bytes */
	const uint8_t	*random;	/* 32 bytes */
	const uint8_t	*sid;
	size_t		 sidlen;
	const uint8_t	*cookie;
	size_t		 cookielen;
	const uint8_t	*suites;
	size_t		 suiteslen;
	const uint8_t	*comp;
	size_t		 complen;
};

static uint32_t
be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Whether d[0..len) starts with a plaintext ClientHello record. */
static bool
is_client_hello(const uint8_t *d, size_t len)
{
	return len >= REC_HDR + HS_HDR && d[0] == CT_HANDSHAKE &&
	    d[3] == 0 && d[4] == 0 && d[REC_HDR] == HS_CLIENT_HELLO;
}

/*
 * Parse an unfragmented ClientHello (RFC 5246 §7.4.1.2, RFC 6347
 * §4.2.1).  A fragmented one is not answered: a PSK ClientHello is far
 * below any MTU.
 */
static bool
parse_hello(const uint8_t *d, size_t len, struct hello *h)
{
	size_t		 reclen, bodylen, i;
	const uint8_t	*b;

	reclen = (size_t)d[11] << 8 | d[12];
	if (REC_HDR + reclen > len || reclen < HS_HDR)
		return false;
	bodylen = be24(d + REC_HDR + 1);
	if (be24(d + REC_HDR + 6) != 0 || be24(d + REC_HDR + 9) != bodylen ||
	    HS_HDR + bodylen > reclen)
		return false;
	h->rec_seq = d + 5;
	h->msg_seq = (uint16_t)(d[REC_HDR + 4] << 8 | d[REC_HDR + 5]);
	b = d + REC_HDR + HS_HDR;
	if (bodylen < 2 + 32 + 1)
		return false;
	h->version = b;
	h->random = b + 2;
	i = 34;
	h->sidlen = b[i++];
	h->sid = b + i;
	i += h->sidlen;
	if (i + 1 > bodylen)
		return false;
	h->cookielen = b[i++];
	h->cookie = b + i;
	i += h->cookielen;
	if (i + 2 > bodylen)
		return false;
	h->suiteslen = (size_t)b[i] << 8 | b[i + 1];
	i += 2;
	h->suites = b + i;
	i += h->suiteslen;
	if (i + 1 > bodylen)
		return false;
	h->complen = b[i++];
	h->comp = b + i;
	i += h->complen;
	return i <= bodylen;
}

/* wolfSSL's CreateDtlsCookie(), computed without a WOLFSSL object. */
static bool
make_cookie(const uint8_t *secret, const struct sockaddr_storage *a,
    socklen_t alen, const struct hello *h, uint8_t out[COOKIE_LEN])
{
	Hmac	 mac;
	bool	 ok;

	if (wc_HmacInit(&mac, NULL, INVALID_DEVID) != 0)
		return false;
	ok = wc_HmacSetKey(&mac, WC_SHA256, secret, SECRET_LEN) == 0 &&
	    wc_HmacUpdate(&mac, (const byte *)a, alen) == 0 &&
	    wc_HmacUpdate(&mac, h->version, 2) == 0 &&
	    wc_HmacUpdate(&mac, h->random, 32) == 0 &&
	    wc_HmacUpdate(&mac, h->sid, (word32)h->sidlen) == 0 &&
	    wc_HmacUpdate(&mac, h->suites, (word32)h->suiteslen) == 0 &&
	    wc_HmacUpdate(&mac, h->comp, (word32)h->complen) == 0 &&
	    wc_HmacFinal(&mac, out) == 0;
	wc_HmacFree(&mac);
	return ok;
}

/* Constant time: the cookie must not be guessable byte by byte. */
static bool
same(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t	 d = 0;
	size_t	 i;

	for (i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static void
rotate_secret(struct dtls_server *s, uint64_t now_ns)
{
	if (now_ns < s->secret_ns + COOKIE_ROTATE_NS)
		return;
	memcpy(s->secret[1], s->secret[0], SECRET_LEN);
	if (getrandom(s->secret[0], SECRET_LEN, 0) != SECRET_LEN)
		return;		/* keep the old one: still secret */
	s->secret_ns = now_ns;
}

/*
 * Which secret made h's cookie: 0 current, 1 previous, -1 none (then
 * cookie[] holds a fresh one made with the current secret).
 */
static int
check_cookie(struct dtls_server *s, const struct sockaddr_storage *a,
    socklen_t alen, const struct hello *h, uint8_t cookie[COOKIE_LEN])
{
	uint8_t	 old[COOKIE_LEN];

	if (!make_cookie(s->secret[0], a, alen, h, cookie))
		return -2;
	if (h->cookielen != COOKIE_LEN)
		return -1;
	if (same(h->cookie, cookie, COOKIE_LEN))
		return 0;
	if (make_cookie(s->secret[1], a, alen, h, old) &&
	    same(h->cookie, old, COOKIE_LEN))
		return 1;
	return -1;
}

/* RFC 6347 §4.2.1: HelloVerifyRequest, record sequence of the hello. */
static void
send_hvr(struct dtls_server *s, unsigned sock,
    const struct sockaddr_storage *a, socklen_t alen, const struct hello *h,
    const uint8_t cookie[COOKIE_LEN])
{
	uint8_t		 p[REC_HDR + HS_HDR + 3 + COOKIE_LEN];
	const size_t	 body = 3 + COOKIE_LEN;
	uint8_t		*q = p;

	*q++ = CT_HANDSHAKE;
	*q++ = 254;			/* DTLS 1.0, as §4.2.1 recommends */
	*q++ = 255;
	*q++ = 0;			/* epoch 0 */
	*q++ = 0;
	memcpy(q, h->rec_seq, 6);
	q += 6;
	*q++ = (uint8_t)((HS_HDR + body) >> 8);
	*q++ = (uint8_t)(HS_HDR + body);
	*q++ = HS_HELLO_VERIFY;
	*q++ = 0;
	*q++ = 0;
	*q++ = (uint8_t)body;
	*q++ = (uint8_t)(h->msg_seq >> 8);
	*q++ = (uint8_t)h->msg_seq;
	*q++ = 0;			/* fragment offset */
	*q++ = 0;
	*q++ = 0;
	*q++ = 0;			/* fragment length = body */
	*q++ = 0;
	*q++ = (uint8_t)body;
	*q++ = 254;			/* server_version */
	*q++ = 255;
	*q++ = COOKIE_LEN;
	memcpy(q, cookie, COOKIE_LEN);
	s->send(s->arg, sock, (const struct sockaddr *)a, alen, p, sizeof(p));
	METRIC_INC(s->m->dtls_hvr_sent);
}

/* Make room for one session: evict the least recently active one. */
static void
make_room(struct dtls_server *s)
{
	struct dtls_sess *h, *e, *v;

	while (s->nsess >= s->max_sess) {
		h = s->hs.tail;
		e = s->lru.tail;
		if (h == NULL && e == NULL)
			return;
		v = h == NULL ? e : e == NULL ? h :
		    h->last_ns <= e->last_ns ? h : e;
		sess_log(v, LOG_LVL_DEBUG, v->established ?
		    "session evicted, table full" :
		    "handshake evicted, table full");
		METRIC_INC(s->m->dtls_evicted);
		sess_free(s, v);
	}
}

static struct dtls_sess *
sess_new(struct dtls_server *s, unsigned sock,
    const struct sockaddr_storage *a, socklen_t alen, const struct hello *h,
    int which, uint64_t now_ns)
{
	struct dtls_sess	*x, **pp;

	make_room(s);
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	x->srv = s;
	x->sock = sock;
	x->serial = ++s->next_serial;
	memcpy(&x->addr, a, alen);
	x->addrlen = alen;
	x->created_ns = x->last_ns = now_ns;
	memcpy(x->random, h->random, sizeof(x->random));
	if ((x->ssl = wolfSSL_new(s->ctx)) == NULL) {
		free(x);
		return NULL;
	}
	wolfSSL_SSLSetIORecv(x->ssl, io_recv);
	wolfSSL_SSLSetIOSend(x->ssl, io_send);
	wolfSSL_SetIOReadCtx(x->ssl, x);
	wolfSSL_SetIOWriteCtx(x->ssl, x);
	wolfSSL_dtls_set_using_nonblock(x->ssl, 1);
	if (wolfSSL_DTLS_SetCookieSecret(x->ssl, s->secret[which],
	    SECRET_LEN) != 0 ||
	    wolfSSL_dtls_set_peer(x->ssl, &x->addr, x->addrlen) !=
	    WOLFSSL_SUCCESS) {
		wolfSSL_free(x->ssl);
		free(x);
		return NULL;
	}
	pp = find(s, sock, a, alen);
	x->hnext = *pp;
	*pp = x;
	list_push(&s->hs, x);
	s->nsess++;
	gauge(s);
	return x;
}

static void
handshake_done(struct dtls_server *s, struct dtls_sess *x)
{
	char		 peer[NET_ADDRSTRLEN + 8];
	char		 idf[PSK_IDENTITY_MAX + 16];
	const char	*fields[3] = { peer, idf, NULL };
	const char	*name, *iana;
	int		 cs;

	list_unlink(&s->hs, x);
	x->established = true;
	list_push(&s->lru, x);
	METRIC_INC(s->m->dtls_handshakes);
	if (!log_enabled(LOG_LVL_INFO))
		return;
	name = wolfSSL_get_cipher_name(x->ssl);
	cs = wolfSSL_get_current_cipher_suite(x->ssl);
	iana = wolfSSL_get_cipher_name_iana_from_suite((byte)(cs >> 8),
	    (byte)cs);
	peer_fields(x, peer, sizeof(peer), idf, sizeof(idf));
	log_fields(LOG_LVL_INFO, fields, "dtls %s, handshake done, identity "
	    "\"%s\", cipher suite %s (%s)", peer + 5, x->identity,
	    iana ? iana : "?", name ? name : "?");
}

/* Feed one datagram to a session; may free it. */
static void
feed(struct dtls_server *s, struct dtls_sess *x, const uint8_t *d,
    size_t len, uint64_t now_ns)
{
	struct sess_list	*l;
	size_t			 n;
	int			 r, e;

	x->in = d;
	x->inlen = len;
	x->last_ns = now_ns;
	if (x->established) {
		l = &s->lru;
		list_unlink(l, x);
		list_push(l, x);
	} else {
		r = wolfSSL_accept(x->ssl);
		if (r != WOLFSSL_SUCCESS) {
			e = wolfSSL_get_error(x->ssl, r);
			if (e == WOLFSSL_ERROR_WANT_READ ||
			    e == WOLFSSL_ERROR_WANT_WRITE) {
				x->in = NULL;
				return;
			}
			METRIC_INC(s->m->dtls_handshake_failures);
			if (log_enabled(LOG_LVL_NOTICE)) {
				char why[128], es[80];

				wolfSSL_ERR_error_string_n((unsigned long)e,
				    es, sizeof(es));
				snprintf(why, sizeof(why), "handshake failed: "
				    "%s", es);
				sess_log(x, LOG_LVL_NOTICE, why);
			}
			sess_free(s, x);
			return;
		}
		handshake_done(s, x);
	}
	for (;;) {
		r = wolfSSL_read(x->ssl, s->plain, sizeof(s->plain));
		if (r <= 0)
			break;
		if ((size_t)r >= sizeof(s->plain)) {
			/* Cannot happen (see plain); never split a message. */
			sess_log(x, LOG_LVL_NOTICE, "oversized record dropped");
			continue;
		}
		n = s->app(s->arg, x->sock, (const struct sockaddr *)&x->addr,
		    x->addrlen, x->identity, x->serial, s->plain, (size_t)r,
		    s->answer, sizeof(s->answer));
		if (n > 0)
			wolfSSL_write(x->ssl, s->answer, (int)n);
	}
	x->in = NULL;
	e = wolfSSL_get_error(x->ssl, r);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return;
	if (e == WOLFSSL_ERROR_ZERO_RETURN) {
		/* close_notify: answer it and forget the session */
		wolfSSL_shutdown(x->ssl);
		sess_log(x, LOG_LVL_DEBUG, "close_notify, session closed");
	} else if (log_enabled(LOG_LVL_DEBUG)) {
		char why[128], es[80];

		wolfSSL_ERR_error_string_n((unsigned long)e, es, sizeof(es));
		snprintf(why, sizeof(why), "session closed: %s", es);
		sess_log(x, LOG_LVL_DEBUG, why);
	}
	sess_free(s, x);
}

void
dtls_input(struct dtls_server *s, unsigned sock, const struct sockaddr *from,
    socklen_t fromlen, const uint8_t *data, size_t len, uint64_t now_ns)
{
	struct sockaddr_storage	 a;
	struct dtls_sess	*x;
	struct hello		 h;
	uint8_t			 cookie[COOKIE_LEN];
	socklen_t		 alen;
	int			 which;

	if (len < REC_HDR || !canon(from, fromlen, &a, &alen)) {
		METRIC_INC(s->m->dtls_dropped);
		return;
	}
	x = *find(s, sock, &a, alen);
	if (!is_client_hello(data, len)) {
		if (x == NULL) {
			/* a record for a session we do not have (any more) */
			METRIC_INC(s->m->dtls_dropped);
			return;
		}
		feed(s, x, data, len, now_ns);
		return;
	}
	if (!parse_hello(data, len, &h)) {
		METRIC_INC(s->m->dtls_dropped);
		return;
	}
	rotate_secret(s, now_ns);
	which = check_cookie(s, &a, alen, &h, cookie);
	if (which == -2) {
		METRIC_INC(s->m->dtls_dropped);
		return;
	}
	if (x != NULL && memcmp(x->random, h.random, sizeof(x->random)) == 0) {
		/*
		 * The hello that made this session again: during the
		 * handshake our flight was lost and wolfSSL sends it again;
		 * afterwards it is a stale duplicate, which must not replace
		 * the session.
		 */
		if (!x->established && which >= 0)
			feed(s, x, data, len, now_ns);
		else
			METRIC_INC(s->m->dtls_dropped);
		return;
	}
	if (which < 0) {
		/* Nothing is kept: a spoofed source costs one datagram. */
		send_hvr(s, sock, &a, alen, &h, cookie);
		return;
	}
	/* The peer proved its address: a new hello is a new session. */
	if (x != NULL) {
		sess_log(x, LOG_LVL_DEBUG, "new ClientHello, session replaced");
		sess_free(s, x);
	}
	if ((x = sess_new(s, sock, &a, alen, &h, which, now_ns)) == NULL) {
		METRIC_INC(s->m->dtls_dropped);
		return;
	}
	feed(s, x, data, len, now_ns);
}

int
dtls_write(struct dtls_server *s, unsigned sock, const struct sockaddr *to,
    socklen_t tolen, const uint8_t *buf, size_t len)
{
	struct sockaddr_storage	 a;
	struct dtls_sess	*x;
	socklen_t		 alen;

	if (!canon(to, tolen, &a, &alen))
		return -EAFNOSUPPORT;
	x = *find(s, sock, &a, alen);
	if (x == NULL || !x->established) {
		METRIC_INC(s->m->dtls_dropped);
		return -ENOTCONN;
	}
	if (wolfSSL_write(x->ssl, buf, (int)len) != (int)len)
		return -EIO;
	return 0;
}

void
dtls_sweep(struct dtls_server *s, uint64_t now_ns)
{
	const struct cfg_dtls	*d = &s->cfg->dtls;
	uint64_t		 hs_ns, idle_ns;
	struct dtls_sess	*x;
	char			 why[96];

	if (now_ns < s->next_sweep)
		return;
	s->next_sweep = now_ns + SWEEP_EVERY_NS;
	hs_ns = (uint64_t)d->handshake_timeout_s * NS_PER_SEC;
	idle_ns = (uint64_t)d->session_timeout_s * NS_PER_SEC;
	/*
	 * A client whose key is wrong gets no answer to its Finished (the
	 * record does not decrypt and is dropped) and waits: only this
	 * frees the state.
	 */
	while ((x = s->hs.tail) != NULL && now_ns - x->created_ns >= hs_ns) {
		snprintf(why, sizeof(why), "handshake not completed within "
		    "%u s, wrong key?", d->handshake_timeout_s);
		sess_log(x, LOG_LVL_NOTICE, why);
		METRIC_INC(s->m->dtls_handshake_timeouts);
		sess_free(s, x);
	}
	while ((x = s->lru.tail) != NULL && now_ns - x->last_ns >= idle_ns) {
		sess_log(x, LOG_LVL_DEBUG, "session idle, closed");
		sess_free(s, x);
	}
	rotate_secret(s, now_ns);
}

size_t
dtls_sessions(const struct dtls_server *s)
{
	return s == NULL ? 0 : s->nsess;
}

void
dtls_server_free(struct dtls_server *s)
{
	if (s == NULL)
		return;
	while (s->hs.head != NULL)
		sess_free(s, s->hs.head);
	while (s->lru.head != NULL)
		sess_free(s, s->lru.head);
	if (s->ctx != NULL)
		wolfSSL_CTX_free(s->ctx);
	explicit_bzero(s->secret, sizeof(s->secret));
	free(s->bucket);
	free(s);
}
