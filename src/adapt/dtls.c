/*
 * dtls.c - DTLS 1.2 PSK server over the worker's datagrams (wolfSSL).
 * See dtls.h; dtls_int.h says how the work is shared with dtls_hello.c
 * (ClientHello, cookies) and dtls_sess.c (the session table).  The only
 * file that includes wolfSSL headers.
 *
 * I/O.  Every session has its own receive and send callbacks
 * (wolfSSL_SSLSetIORecv/Send; wolfSSL_SetIORecv is per context): the
 * receive callback hands wolfSSL the datagram being processed, once, then
 * says "want read"; the send callback passes records to the worker.
 * Handshake flights are not retransmitted on a timer: a client that misses
 * one retransmits its own flight, and wolfSSL answers that with ours.
 *
 * A WOLFSSL object is only made for a peer whose ClientHello carried a
 * valid cookie (dtls_hello.c); it gets the secret that made the cookie and
 * checks the cookie again itself.
 */
#include <sys/random.h>

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "base/clock.h"
#include "base/net.h"
#include "proto/metrics.h"
#include "proto/psk.h"
#include "adapt/cfg.h"
#include "adapt/dtls.h"
#include "base/strdist.h"
#include "adapt/dtls_int.h"
#include "adapt/log.h"

#define CCM8_IANA		"TLS_PSK_WITH_AES_128_CCM_8"

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

static void	default_ciphers(char *, size_t);

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

/*
 * "NAME": unknown, with the nearest PSK suite of the build (IANA name,
 * within three edits) and the list offered by default.
 */
static void
unknown_suite(const char *name, char *iana, char *err, size_t errlen)
{
	char		 list[4096], *p, *save = NULL;
	const char	*best = NULL;
	unsigned	 d, bestd = 4;
	size_t		 n;

	for (p = strtok_r(iana, ":", &save); p != NULL;
	    p = strtok_r(NULL, ":", &save)) {
		d = str_distance(name, p);
		if (strstr(p, "PSK") != NULL && d < bestd &&
		    2 * d < strlen(name)) {
			bestd = d;
			best = p;
		}
	}
	n = (size_t)snprintf(err, errlen, "\"%s\": unknown cipher suite", name);
	if (best != NULL && n < errlen)
		n += (size_t)snprintf(err + n, errlen - n, " (did you mean "
		    "\"%s\"?)", best);
	default_ciphers(list, sizeof(list));
	if (n < errlen)
		n += (size_t)snprintf(err + n, errlen - n, ": expected one of");
	save = NULL;
	for (p = strtok_r(list, ":", &save); p != NULL && n < errlen;
	    p = strtok_r(NULL, ":", &save))
		n += (size_t)snprintf(err + n, errlen - n, "%s %s",
		    p == list ? "" : ",", p);
	if (n < errlen)
		snprintf(err + n, errlen - n, " (IANA or wolfSSL names, see "
		    "coapd -V)");
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
			unknown_suite(name, iana, err, errlen);
		return false;
	}
	if (strstr(name, "PSK") == NULL) {
		snprintf(err, errlen, "\"%s\": not a PSK cipher suite", name);
		return false;
	}
	return true;
}

/*
 * Whether a suite goes in the default list, and its preference there in
 * *rank (lower first): CCM-8 (RFC 7252 §9.1.3.1 makes it mandatory), then
 * AEAD suites without ECDHE (cheapest for constrained clients), AEAD with
 * ECDHE, then CBC.  DHE (no DH parameters are configured) and NULL
 * (unencrypted) suites are left out.
 */
static bool
suite_rank(const char *iana, int *rank)
{
	bool	 ecdhe = strstr(iana, "_ECDHE_") != NULL;
	bool	 aead = strstr(iana, "_GCM_") != NULL ||
		    strstr(iana, "_CCM") != NULL ||
		    strstr(iana, "_CHACHA20_") != NULL;

	if (strstr(iana, "PSK") == NULL || strstr(iana, "_DHE_") != NULL ||
	    strstr(iana, "_NULL_") != NULL)
		return false;
	if (strcmp(iana, CCM8_IANA) == 0)
		*rank = 0;
	else
		*rank = 1 + (ecdhe ? 1 : 0) + (aead ? 0 : 2);
	return true;
}

/* The default list: the build's PSK suites by IANA name, by rank. */
static void
default_ciphers(char *out, size_t len)
{
	char	 names[8192], iana[8192], copy[8192], *p, *save;
	size_t	 n = 0;
	int	 rank, r;

	cipher_lists(names, sizeof(names), iana, sizeof(iana));
	out[0] = '\0';
	for (rank = 0; rank <= 4; rank++) {
		memcpy(copy, iana, sizeof(copy));
		save = NULL;
		for (p = strtok_r(copy, ":", &save); p != NULL;
		    p = strtok_r(NULL, ":", &save)) {
			if (!suite_rank(p, &r) || r != rank ||
			    in_list(out, p))
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

const char *
dtls_lib_version(void)
{
	static char	 v[PATH_MAX + 64];

#ifndef COAPD_WOLFSSL_BUILD
#define COAPD_WOLFSSL_BUILD	"build unknown"
#endif
	/* wolfSSL_lib_version() is the library loaded, at run time */
	snprintf(v, sizeof(v), "%s (run time; built with %s; %s)",
	    wolfSSL_lib_version(), LIBWOLFSSL_VERSION_STRING,
	    COAPD_WOLFSSL_BUILD);
	return v;
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
		dtls_sess_log(x, LOG_LVL_NOTICE, "unknown PSK identity");
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

/* dtls.max_handshakes_per_host; 0 (a cfg not from cfg_load()): none */
static size_t
hs_host_bound(const struct cfg *c)
{
	return c->dtls.max_handshakes_per_host ?
	    c->dtls.max_handshakes_per_host : SIZE_MAX;
}

int
dtls_server_new(struct dtls_server **out, const struct cfg *c, unsigned id,
    struct metrics *m, dtls_send_fn *send_fn, dtls_app_fn *app_fn, void *arg,
    char *err, size_t errlen)
{
	struct dtls_server	*s;

	*out = NULL;
	if (dtls_global_init() != 0) {
		snprintf(err, errlen, "cannot initialize wolfSSL");
		return -EIO;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->id = id;
	/*
	 * A completed handshake needs a key: one line each is what an
	 * operator wants, up to 10 a second per worker.
	 */
	s->ll_done.burst = 100;
	s->cfg = c;
	s->m = m;
	s->send = send_fn;
	s->app = app_fn;
	s->arg = arg;
	s->max_sess = dtls_sess_share(c);
	s->max_hs = dtls_hs_share(c);
	s->max_hs_host = hs_host_bound(c);
	if (dtls_sess_init(s) != 0) {
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
	s->max_sess = dtls_sess_share(c);
	s->max_hs = dtls_hs_share(c);
	s->max_hs_host = hs_host_bound(c);
	/* a session holds a reference to its context: old ones live on */
	if ((ctx = ctx_new(c, err, sizeof(err))) == NULL) {
		log_warnx("worker %u, dtls: %s; keeping the previous cipher "
		    "suites", s->id, err);
		return;
	}
	wolfSSL_CTX_free(s->ctx);
	s->ctx = ctx;
}

void
dtls_server_free(struct dtls_server *s)
{
	if (s == NULL)
		return;
	dtls_sess_free_all(s);
	if (s->ctx != NULL)
		wolfSSL_CTX_free(s->ctx);
	explicit_bzero(s->secret, sizeof(s->secret));
	free(s);
}

/*
 * What dtls_hello.c and dtls_sess.c need of wolfSSL.
 */

int
dtls_ssl_new(struct dtls_sess *x, const uint8_t *secret)
{
	if ((x->ssl = wolfSSL_new(x->srv->ctx)) == NULL)
		return -ENOMEM;
	wolfSSL_SSLSetIORecv(x->ssl, io_recv);
	wolfSSL_SSLSetIOSend(x->ssl, io_send);
	wolfSSL_SetIOReadCtx(x->ssl, x);
	wolfSSL_SetIOWriteCtx(x->ssl, x);
	wolfSSL_dtls_set_using_nonblock(x->ssl, 1);
	if (wolfSSL_DTLS_SetCookieSecret(x->ssl, secret,
	    DTLS_SECRET_LEN) != 0 ||
	    wolfSSL_dtls_set_peer(x->ssl, &x->addr, x->addrlen) !=
	    WOLFSSL_SUCCESS) {
		dtls_ssl_free(x);
		return -EIO;
	}
	return 0;
}

void
dtls_ssl_free(struct dtls_sess *x)
{
	wolfSSL_free(x->ssl);
	x->ssl = NULL;
}

int
dtls_hmac_sha256(const uint8_t *key, size_t keylen, const struct iovec *iov,
    size_t n, uint8_t out[DTLS_HMAC_LEN])
{
	Hmac	 mac;
	size_t	 i;
	bool	 ok;

	if (wc_HmacInit(&mac, NULL, INVALID_DEVID) != 0)
		return -EIO;
	ok = wc_HmacSetKey(&mac, WC_SHA256, key, (word32)keylen) == 0;
	for (i = 0; ok && i < n; i++)
		ok = wc_HmacUpdate(&mac, iov[i].iov_base,
		    (word32)iov[i].iov_len) == 0;
	ok = ok && wc_HmacFinal(&mac, out) == 0;
	wc_HmacFree(&mac);
	return ok ? 0 : -EIO;
}

/*
 * Records.
 */

static void
handshake_done(struct dtls_server *s, struct dtls_sess *x)
{
	char		 peer[NET_ADDRSTRLEN + 8];
	char		 idf[PSK_IDENTITY_MAX + 16];
	const char	*fields[3] = { peer, idf, NULL };
	const char	*name, *iana;
	int		 cs;

	dtls_sess_established(s, x);
	METRIC_INC(s->m->dtls_handshakes);
	if (!log_enabled(LOG_LVL_INFO))
		return;
	name = wolfSSL_get_cipher_name(x->ssl);
	cs = wolfSSL_get_current_cipher_suite(x->ssl);
	iana = wolfSSL_get_cipher_name_iana_from_suite((byte)(cs >> 8),
	    (byte)cs);
	dtls_sess_fields(x, peer, sizeof(peer), idf, sizeof(idf));
	log_limited(&s->ll_done, clock_now_ns(), LOG_LVL_INFO, fields,
	    "dtls %s, handshake done, identity \"%s\", cipher suite %s (%s)",
	    peer + 5, x->identity, iana ? iana : "?", name ? name : "?");
}

/* Log the wolfSSL error e at lvl as "what: reason". */
static void
sess_log_error(const struct dtls_sess *x, enum log_level lvl,
    const char *what, int e)
{
	char	 why[128], es[80];

	if (!log_enabled(lvl))
		return;
	wolfSSL_ERR_error_string_n((unsigned long)e, es, sizeof(es));
	snprintf(why, sizeof(why), "%s: %s", what, es);
	dtls_sess_log(x, lvl, why);
}

/*
 * One step of x's handshake with the datagram in x->in.  True when the
 * session is established (records may follow in the same datagram);
 * false when it waits for more, or failed and was freed.
 */
static bool
handshake(struct dtls_server *s, struct dtls_sess *x)
{
	int	 r, e;

	r = wolfSSL_accept(x->ssl);
	if (r == WOLFSSL_SUCCESS) {
		handshake_done(s, x);
		return true;
	}
	e = wolfSSL_get_error(x->ssl, r);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE) {
		x->in = NULL;
		return false;
	}
	METRIC_INC(s->m->dtls_handshake_failures);
	sess_log_error(x, LOG_LVL_NOTICE, "handshake failed", e);
	dtls_sess_free(s, x);
	return false;
}

/*
 * The fewest bytes a protected record of x's cipher suite can hold: the
 * record wolfSSL would make of no plaintext, less its header (AEAD: the
 * explicit nonce, none for ChaCha20, and the tag; CBC: the IV and a block
 * of MAC and padding; RFC 5246 §6.2.3).  wolfSSL_GetOutputSize() is in
 * every build; the finer wolfSSL_GetCipherType() and friends are not.
 */
static size_t
rec_min_body(struct dtls_sess *x)
{
	int	 n = wolfSSL_GetOutputSize(x->ssl, 0);

	return n > DTLS_REC_HDR ? (size_t)(n - DTLS_REC_HDR) : 0;
}

/* Whether the record header h (DTLS_REC_HDR bytes) of body blen may be x's. */
static bool
rec_plausible(struct dtls_sess *x, const uint8_t *h, size_t blen,
    size_t min_body)
{
	/* change_cipher_spec, alert, handshake, application_data */
	if (h[0] < 20 || h[0] > 23)
		return false;
	/* DTLS 1.0 (first ClientHello) or 1.2 */
	if (h[1] != 0xfe || (h[2] != 0xff && h[2] != 0xfd))
		return false;
	/* epoch 0 is plaintext: a handshake retransmission */
	if (h[3] == 0 && h[4] == 0)
		return h[0] != 23 || !x->established;
	return blen >= min_body;
}

/*
 * RFC 6347 §4.1.2.7: an invalid record is silently discarded and the
 * session goes on.  wolfSSL ends a session on a record too short for its
 * cipher, and waits for the rest of a record whose header claims more
 * than the datagram holds (gluing the peer's next datagrams to it); a
 * forged datagram from the peer's address could do either.  So records
 * are screened here first: a record never spans datagrams (§4.1.1), and
 * implausible ones are cut out.  Returns the bytes to give wolfSSL, d
 * itself when every record passes (the usual case: no copy), or a copy
 * of the good ones in s->screened; *outlen 0 when none is left.
 */
static const uint8_t *
rec_screen(struct dtls_server *s, struct dtls_sess *x, const uint8_t *d,
    size_t len, size_t *outlen)
{
	size_t	 off = 0, blen, n = 0, min_body;
	bool	 copy = false, ok;

	min_body = x->established ? rec_min_body(x) : 0;
	while (off < len) {
		blen = len - off < DTLS_REC_HDR ? 0 :
		    ((size_t)d[off + 11] << 8) | d[off + 12];
		/* truncated: the rest of the datagram is no record */
		ok = len - off >= DTLS_REC_HDR &&
		    blen <= len - off - DTLS_REC_HDR;
		if (ok && rec_plausible(x, d + off, blen, min_body)) {
			if (copy)
				memcpy(s->screened + n, d + off,
				    DTLS_REC_HDR + blen);
			n += DTLS_REC_HDR + blen;
		} else {
			METRIC_INC(s->m->dtls_records_invalid);
			if (!copy)
				memcpy(s->screened, d, n);
			copy = true;
		}
		if (!ok)
			break;
		off += DTLS_REC_HDR + blen;
	}
	*outlen = n;
	return copy ? s->screened : d;
}

void
dtls_feed(struct dtls_server *s, struct dtls_sess *x, const uint8_t *d,
    size_t len, uint64_t now_ns)
{
	size_t	 n;
	int	 r, e;

	if (len > sizeof(s->screened)) {
		METRIC_INC(s->m->dtls_dropped);
		return;
	}
	d = rec_screen(s, x, d, len, &len);
	if (len == 0) {
		/* nothing left: not even a sign of life of the peer */
		METRIC_INC(s->m->dtls_dropped);
		return;
	}
	x->in = d;
	x->inlen = len;
	dtls_sess_touch(s, x, now_ns);
	if (!x->established && !handshake(s, x))
		return;
	for (;;) {
		r = wolfSSL_read(x->ssl, s->plain, sizeof(s->plain));
		if (r <= 0)
			break;
		if ((size_t)r >= sizeof(s->plain)) {
			/* Cannot happen (see plain); never split a message. */
			dtls_sess_log(x, LOG_LVL_NOTICE,
			    "oversized record dropped");
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
		dtls_sess_log(x, LOG_LVL_DEBUG, "close_notify, session closed");
	} else
		sess_log_error(x, LOG_LVL_DEBUG, "session closed", e);
	dtls_sess_free(s, x);
}

void
dtls_input(struct dtls_server *s, unsigned sock, const struct sockaddr *from,
    socklen_t fromlen, const uint8_t *data, size_t len, uint64_t now_ns)
{
	struct sockaddr_storage	 a;
	struct dtls_sess	*x;
	socklen_t		 alen;

	if (len < DTLS_REC_HDR || !dtls_sess_canon(from, fromlen, &a, &alen)) {
		METRIC_INC(s->m->dtls_dropped);
		return;
	}
	x = dtls_sess_find(s, sock, &a, alen);
	if (dtls_hello_is(data, len)) {
		dtls_hello_input(s, sock, &a, alen, x, data, len, now_ns);
		return;
	}
	if (x == NULL) {
		/* a record for a session we do not have (any more) */
		METRIC_INC(s->m->dtls_dropped);
		return;
	}
	dtls_feed(s, x, data, len, now_ns);
}

int
dtls_write(struct dtls_server *s, unsigned sock, const struct sockaddr *to,
    socklen_t tolen, const uint8_t *buf, size_t len)
{
	struct sockaddr_storage	 a;
	struct dtls_sess	*x;
	socklen_t		 alen;

	if (!dtls_sess_canon(to, tolen, &a, &alen))
		return -EAFNOSUPPORT;
	x = dtls_sess_find(s, sock, &a, alen);
	if (x == NULL || !x->established) {
		METRIC_INC(s->m->dtls_dropped);
		return -ENOTCONN;
	}
	if (wolfSSL_write(x->ssl, buf, (int)len) != (int)len)
		return -EIO;
	return 0;
}
