/*
 * dtls_int.h - what the three parts of the DTLS server share; not for use
 * outside src/adapt/dtls*.c (the API is dtls.h).
 *
 *   dtls.c        wolfSSL: library, cipher suites, the context, the
 *                 per-session WOLFSSL objects and their I/O callbacks,
 *                 records of established sessions and handshakes
 *   dtls_hello.c  ClientHello parsing, stateless cookies and the
 *                 HelloVerifyRequest (RFC 6347 §4.2.1)
 *   dtls_sess.c   the session table: canonical addresses, lookup,
 *                 insertion, eviction, timeouts, logging a session
 *
 * dtls.c alone includes wolfSSL: the others see WOLFSSL and WOLFSSL_CTX
 * as incomplete structs and reach the library through dtls_ssl_*() and
 * dtls_hmac_sha256().  Everything runs on the worker owning the server.
 */
#ifndef COAPD_DTLS_INT_H
#define COAPD_DTLS_INT_H

#include <sys/uio.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "adapt/dtls.h"
#include "adapt/log.h"
#include "proto/psk.h"

struct WOLFSSL;
struct WOLFSSL_CTX;

#define DTLS_SECRET_LEN		32	/* cookie secret, HMAC-SHA256 key */
#define DTLS_HMAC_LEN		32	/* HMAC-SHA256 output */
#define DTLS_RANDOM_LEN		32	/* ClientHello.random */
/* DTLS 1.2 record header (RFC 6347 §4.1) */
#define DTLS_REC_HDR		13

/* One peer of one socket, from its first valid ClientHello on. */
struct dtls_sess {
	struct dtls_sess	*hnext;		/* hash chain */
	struct dtls_sess	*prev, *next;	/* hs or lru list */
	struct dtls_server	*srv;		/* the owner */
	struct WOLFSSL		*ssl;		/* dtls.c's */
	unsigned		 sock;		/* the worker's socket index */
	struct sockaddr_storage	 addr;		/* see dtls_sess_canon() */
	socklen_t		 addrlen;
	uint64_t		 created_ns;	/* first valid ClientHello */
	uint64_t		 last_ns;	/* last datagram from peer */
	bool			 established;	/* on lru (else on hs) */
	uint8_t			 random[DTLS_RANDOM_LEN]; /* ClientHello's */
	const uint8_t		*in;		/* datagram being processed */
	size_t			 inlen;
	char			 identity[PSK_IDENTITY_MAX + 1]; /* PSK, NUL */
	uint64_t		 serial;	/* never 0, unique per server */
};

struct sess_list {
	struct dtls_sess	*head;		/* newest */
	struct dtls_sess	*tail;		/* oldest */
};

/* The DTLS state of one worker (dtls.h). */
struct dtls_server {
	unsigned		 id;		/* worker index, for logs */
	const struct cfg	*cfg;		/* current snapshot, borrowed */
	struct WOLFSSL_CTX	*ctx;		/* for new sessions */
	struct metrics		*m;		/* the worker's counters */
	dtls_send_fn		*send;		/* the worker's callbacks, */
	dtls_app_fn		*app;
	void			*arg;		/* with their argument */

	struct dtls_sess	**bucket;	/* mask + 1 hash chains */
	size_t			 mask;
	uint64_t		 seed;		/* of the hash, random */
	size_t			 nsess;		/* on hs and lru */
	size_t			 max_sess;	/* this worker's share of
						   established sessions */
	size_t			 nhs;		/* of nsess, on hs */
	size_t			 max_hs;	/* share of handshakes */
	size_t			 max_hs_host;	/* of one host (any port) */
	struct sess_list	 hs;		/* handshaking, by creation */
	struct sess_list	 lru;		/* established, by last use */

	uint8_t			 secret[2][DTLS_SECRET_LEN]; /* now, before */
	uint64_t		 secret_ns;	/* when [0] was made */
	uint64_t		 next_sweep;	/* dtls_sweep() idle until */

	uint64_t		 next_serial;	/* the last one given */
	/* session lines a peer can provoke, above debug (log_limited()) */
	struct log_limit	 ll_sess;
	struct log_limit	 ll_done;	/* handshakes done */
	/*
	 * wolfSSL hands back a record's plaintext in pieces when the buffer
	 * is smaller than the record; each piece would then look like a
	 * message of its own.  A datagram never exceeds the receive buffer.
	 */
	uint8_t			 plain[DTLS_PLAIN_MAX];
	uint8_t			 screened[DTLS_PLAIN_MAX]; /* records of a
						   datagram that pass */
	uint8_t			 answer[DTLS_RECORD_MAX];
};

/*
 * dtls.c
 */

/*
 * Give x a WOLFSSL object of x->srv->ctx with the session's I/O
 * callbacks, the cookie secret that made its cookie (secret,
 * DTLS_SECRET_LEN bytes) and x->addr as the peer.  Returns 0, -ENOMEM or
 * -EIO (x->ssl is then NULL).
 */
int	dtls_ssl_new(struct dtls_sess *x, const uint8_t *secret);

/* Free x->ssl (no alert is sent). */
void	dtls_ssl_free(struct dtls_sess *x);

/*
 * Feed one datagram d[0..len) of x's peer received at now_ns to x: the
 * handshake, or records whose plaintext goes to s->app.  May free x.
 */
void	dtls_feed(struct dtls_server *s, struct dtls_sess *x, const uint8_t *d,
	    size_t len, uint64_t now_ns);

/*
 * HMAC-SHA256 with key[0..keylen) over the concatenation of iov[0..n)
 * into out.  Returns 0 or -EIO.
 */
int	dtls_hmac_sha256(const uint8_t *key, size_t keylen,
	    const struct iovec *iov, size_t n, uint8_t out[DTLS_HMAC_LEN]);

/*
 * dtls_hello.c
 */

/* Whether d[0..len) starts with a plaintext ClientHello record. */
bool	dtls_hello_is(const uint8_t *d, size_t len);

/*
 * A ClientHello d[0..len) from (sock, a) (canonical, see
 * dtls_sess_canon()), whose session is x or NULL: answer it with a
 * HelloVerifyRequest, or hand it to x or to a new session.  May free x.
 */
void	dtls_hello_input(struct dtls_server *s, unsigned sock,
	    const struct sockaddr_storage *a, socklen_t alen,
	    struct dtls_sess *x, const uint8_t *d, size_t len, uint64_t now_ns);

/* Replace the cookie secret when it is COOKIE_ROTATE_NS old. */
void	dtls_hello_rotate(struct dtls_server *s, uint64_t now_ns);

/*
 * dtls_sess.c
 */

/*
 * Copy sa into out keeping only family, port, address and, for IPv6,
 * the scope id: the key of a session and the bytes wolfSSL hashes into a
 * cookie.  False for families other than IPv4 and IPv6.
 */
bool	dtls_sess_canon(const struct sockaddr *sa, socklen_t len,
	    struct sockaddr_storage *out, socklen_t *outlen);

/* The session of (sock, a) (canonical), or NULL. */
struct dtls_sess *dtls_sess_find(struct dtls_server *s, unsigned sock,
	    const struct sockaddr_storage *a, socklen_t alen);

/*
 * A handshaking session for (sock, a) (canonical, not in the table) whose
 * ClientHello had random[0..DTLS_RANDOM_LEN) and a cookie made with
 * secret; makes room among the handshakes (never by evicting an
 * established session).  Returns it, or NULL when out of memory.
 */
struct dtls_sess *dtls_sess_new(struct dtls_server *s, unsigned sock,
	    const struct sockaddr_storage *a, socklen_t alen,
	    const uint8_t *random, const uint8_t *secret, uint64_t now_ns);

/*
 * Move x from the handshakes to the established sessions, evicting the
 * least recently active one when they are at max_sess.
 */
void	dtls_sess_established(struct dtls_server *s, struct dtls_sess *x);

/* Record traffic from x's peer at now_ns. */
void	dtls_sess_touch(struct dtls_server *s, struct dtls_sess *x,
	    uint64_t now_ns);

/* Unlink and free x and its WOLFSSL object. */
void	dtls_sess_free(struct dtls_server *s, struct dtls_sess *x);

/* "PEER=addr" and "PSK_IDENTITY=id" of x, the journald fields. */
void	dtls_sess_fields(const struct dtls_sess *x, char *peer, size_t plen,
	    char *idf, size_t ilen);

/* Log "dtls PEER, what" at lvl with x's peer and identity as fields. */
void	dtls_sess_log(const struct dtls_sess *x, enum log_level lvl,
	    const char *what);

/* This worker's share of dtls.max_sessions in c (at least 1). */
size_t	dtls_sess_share(const struct cfg *c);
/* This worker's share of dtls.max_handshakes in c (at least 1). */
size_t	dtls_hs_share(const struct cfg *c);

/*
 * Allocate the table of s for s->max_sess sessions (s->seed, the hash
 * seed, is the caller's to set).  Returns 0 or -ENOMEM.
 */
int	dtls_sess_init(struct dtls_server *s);

/* Free every session and the table (s itself stays). */
void	dtls_sess_free_all(struct dtls_server *s);

#endif /* COAPD_DTLS_INT_H */
