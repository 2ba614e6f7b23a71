/*
 * dtls_hello.c - the stateless part of the DTLS server: ClientHello
 * parsing, cookies, HelloVerifyRequest.  See dtls_int.h.
 *
 * wolfSSL 5.5.4 answers a cookieless ClientHello itself, but only from a
 * WOLFSSL object, i.e. after allocating tens of kilobytes per source
 * address; its cookie callback (wolfSSL_CTX_SetGenCookie) is never
 * called.  So coapd parses the ClientHello and sends the
 * HelloVerifyRequest itself, from the datagram and a per-worker secret,
 * with the very computation wolfSSL uses to check a cookie (HMAC-SHA256
 * over the peer address given to wolfSSL_dtls_set_peer(), client_version,
 * random, session_id, cipher_suites and compression_methods, see its
 * CreateDtlsCookie()).  Only a ClientHello with a valid cookie creates a
 * session; wolfSSL then gets the same secret (wolfSSL_DTLS_SetCookieSecret,
 * in dtls_ssl_new()) and the same address, verifies the cookie again and
 * carries on.  The secret changes every COOKIE_ROTATE_NS; a cookie made
 * with the previous one is still accepted.
 */
#include <sys/random.h>

#include <errno.h>
#include <string.h>

#include "base/clock.h"
#include "proto/metrics.h"
#include "adapt/cfg.h"
#include "adapt/dtls_int.h"
#include "adapt/log.h"

#define COOKIE_LEN		DTLS_HMAC_LEN	/* HMAC-SHA256, as wolfSSL */
#define COOKIE_ROTATE_NS	(300 * NS_PER_SEC)

/* DTLS 1.2 wire constants (RFC 6347 §4.1, §4.2.2) */
#define HS_HDR			12
#define CT_HANDSHAKE		22
#define HS_CLIENT_HELLO		1
#define HS_HELLO_VERIFY		3

struct hello {
	const uint8_t	*rec_seq;	/* 6 bytes */
	uint16_t	 msg_seq;
	const uint8_t	*version;	/* 2 bytes */
	const uint8_t	*random;	/* DTLS_RANDOM_LEN bytes */
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

bool
dtls_hello_is(const uint8_t *d, size_t len)
{
	return len >= DTLS_REC_HDR + HS_HDR && d[0] == CT_HANDSHAKE &&
	    d[3] == 0 && d[4] == 0 && d[DTLS_REC_HDR] == HS_CLIENT_HELLO;
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
	if (DTLS_REC_HDR + reclen > len || reclen < HS_HDR)
		return false;
	bodylen = be24(d + DTLS_REC_HDR + 1);
	if (be24(d + DTLS_REC_HDR + 6) != 0 ||
	    be24(d + DTLS_REC_HDR + 9) != bodylen || HS_HDR + bodylen > reclen)
		return false;
	h->rec_seq = d + 5;
	h->msg_seq = (uint16_t)(d[DTLS_REC_HDR + 4] << 8 | d[DTLS_REC_HDR + 5]);
	b = d + DTLS_REC_HDR + HS_HDR;
	if (bodylen < 2 + DTLS_RANDOM_LEN + 1)
		return false;
	h->version = b;
	h->random = b + 2;
	i = 2 + DTLS_RANDOM_LEN;
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
	const struct iovec	 iov[] = {
		{ (void *)a, alen },
		{ (void *)h->version, 2 },
		{ (void *)h->random, DTLS_RANDOM_LEN },
		{ (void *)h->sid, h->sidlen },
		{ (void *)h->suites, h->suiteslen },
		{ (void *)h->comp, h->complen },
	};

	return dtls_hmac_sha256(secret, DTLS_SECRET_LEN, iov,
	    sizeof(iov) / sizeof(iov[0]), out) == 0;
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

void
dtls_hello_rotate(struct dtls_server *s, uint64_t now_ns)
{
	if (now_ns < s->secret_ns + COOKIE_ROTATE_NS)
		return;
	memcpy(s->secret[1], s->secret[0], DTLS_SECRET_LEN);
	if (getrandom(s->secret[0], DTLS_SECRET_LEN, 0) != DTLS_SECRET_LEN)
		return;		/* keep the old one: still secret */
	s->secret_ns = now_ns;
}

/*
 * Check h's cookie against both secrets.  Returns 0 when one of them made
 * it, and *secret is that one; -EACCES when neither did (or h has none),
 * and then cookie[] holds a fresh one made with the current secret; -EIO
 * when the HMAC failed.
 */
static int
check_cookie(struct dtls_server *s, const struct sockaddr_storage *a,
    socklen_t alen, const struct hello *h, uint8_t cookie[COOKIE_LEN],
    const uint8_t **secret)
{
	uint8_t	 old[COOKIE_LEN];

	*secret = NULL;
	if (!make_cookie(s->secret[0], a, alen, h, cookie))
		return -EIO;
	if (h->cookielen != COOKIE_LEN)
		return -EACCES;
	if (same(h->cookie, cookie, COOKIE_LEN)) {
		*secret = s->secret[0];
		return 0;
	}
	if (make_cookie(s->secret[1], a, alen, h, old) &&
	    same(h->cookie, old, COOKIE_LEN)) {
		*secret = s->secret[1];
		return 0;
	}
	return -EACCES;
}

/* RFC 6347 §4.2.1: HelloVerifyRequest, record sequence of the hello. */
static void
send_hvr(struct dtls_server *s, unsigned sock,
    const struct sockaddr_storage *a, socklen_t alen, const struct hello *h,
    const uint8_t cookie[COOKIE_LEN])
{
	uint8_t		 p[DTLS_REC_HDR + HS_HDR + 3 + COOKIE_LEN];
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
	METRIC_INC(s->m->dtls_hello_verify);
}

/*
 * Is a hello without a valid cookie from x's address left unanswered?  It
 * is while x is established and its peer spoke in the last
 * dtls.hello_hold_s: then the hello is far more likely forged off-path
 * than sent by that peer after losing its state, and a HelloVerifyRequest
 * arriving on an established session stalls some clients for good
 * (OpenSSL 3.0's).  A peer that did start over retransmits its hello (RFC
 * 6347 section 4.2.4: 1 s, doubling) and is answered once the session has
 * gone quiet.
 */
static bool
hvr_held(const struct dtls_server *s, const struct dtls_sess *x,
    uint64_t now_ns)
{
	return x != NULL && x->established && now_ns - x->last_ns <
	    (uint64_t)s->cfg->dtls.hello_hold_s * NS_PER_SEC;
}

void
dtls_hello_input(struct dtls_server *s, unsigned sock,
    const struct sockaddr_storage *a, socklen_t alen, struct dtls_sess *x,
    const uint8_t *d, size_t len, uint64_t now_ns)
{
	struct hello	 h;
	uint8_t		 cookie[COOKIE_LEN];
	const uint8_t	*secret;
	int		 e;

	if (!parse_hello(d, len, &h)) {
		METRIC_INC(s->m->dtls_dropped);
		return;
	}
	dtls_hello_rotate(s, now_ns);
	e = check_cookie(s, a, alen, &h, cookie, &secret);
	if (e == -EIO) {
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
		if (!x->established && e == 0)
			dtls_feed(s, x, d, len, now_ns);
		else
			METRIC_INC(s->m->dtls_dropped);
		return;
	}
	if (e != 0) {
		if (hvr_held(s, x, now_ns)) {
			METRIC_INC(s->m->dtls_hello_held);
			return;
		}
		/* Nothing is kept: a spoofed source costs one datagram. */
		send_hvr(s, sock, a, alen, &h, cookie);
		return;
	}
	/*
	 * The peer proved its address: a new hello is a new session.
	 * RFC 6347 §4.2.8: a server may abandon an association on a new
	 * epoch-0 ClientHello from its address and port (a client that lost
	 * its state) once the client has demonstrated reachability by
	 * completing a cookie exchange, which this hello did.  An off-path
	 * attacker forging the address never sees the cookie: its hellos were
	 * held or got a HelloVerifyRequest above, and left the session as it
	 * was.
	 */
	if (x != NULL) {
		dtls_sess_log(x, LOG_LVL_DEBUG,
		    "new ClientHello, session replaced");
		dtls_sess_free(s, x);
	}
	x = dtls_sess_new(s, sock, a, alen, h.random, secret,
	    now_ns);
	if (x == NULL) {
		METRIC_INC(s->m->dtls_dropped);
		return;
	}
	dtls_feed(s, x, d, len, now_ns);
}
