/*
 * dtls.h - CoAP over DTLS 1.2 with pre-shared keys (RFC 7252 §9.1.3.1),
 * the server side of one worker.  dtls.c is the only includer of wolfSSL.
 *
 * The worker hands every datagram of a DTLS listener to dtls_input(); the
 * module answers handshakes, decrypts records and gives the plaintext to
 * the worker's app callback, and sends every record through the worker's
 * send callback (which queues it on the io_uring): no socket, no thread,
 * no blocking call here.
 *
 * A ClientHello without a valid cookie is answered with a
 * HelloVerifyRequest computed from the datagram alone (RFC 6347 §4.2.1):
 * nothing is allocated for a peer until it has proved it receives at its
 * address.  Sessions are kept per worker in a table bounded by
 * dtls.max_sessions (the worker's share), expire after
 * dtls.session_timeout_s without traffic, and handshakes that do not
 * finish within dtls.handshake_timeout_s are dropped and logged.
 *
 * One struct dtls_server per worker, used by that worker's thread only.
 */
#ifndef COAPD_DTLS_H
#define COAPD_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cfg;
struct metrics;
struct dtls_server;

/* Largest record dtls.c sends: a CoAP message of COAP_MAX_MSG + overhead. */
#define DTLS_RECORD_MAX		1536
/* Decrypted bytes of one datagram at most: worker receive buffers are 2 KiB. */
#define DTLS_PLAIN_MAX		4096

/*
 * Send a datagram buf[0..len) on the worker's socket sock to `to`.
 * buf is only valid during the call.
 */
typedef void dtls_send_fn(void *arg, unsigned sock, const struct sockaddr *to,
	    socklen_t tolen, const uint8_t *buf, size_t len);

/*
 * Handle decrypted application data in[0..len) from the peer (sock, from)
 * authenticated as identity (NUL-terminated) in the session numbered
 * serial (unique per server, never 0).  Write the answer into
 * out[0..cap) and return its length, or 0 for none.
 */
typedef size_t dtls_app_fn(void *arg, unsigned sock,
	    const struct sockaddr *from, socklen_t fromlen,
	    const char *identity, uint64_t serial, const uint8_t *in,
	    size_t len, uint8_t *out, size_t cap);

/*
 * Initialize the library once per process (idempotent, thread-safe).
 * Returns 0 or a negative errno.
 */
int	dtls_global_init(void);

/*
 * Whether name is a PSK cipher suite this build offers: an IANA name
 * ("TLS_PSK_WITH_AES_128_CCM_8") or a wolfSSL/OpenSSL one
 * ("PSK-AES128-CCM-8").  On false, err says why (and what to do for CCM-8).
 */
bool	dtls_cipher_ok(const char *name, char *err, size_t errlen);

/*
 * Describe the library for `coapd -V`: version, the PSK suites offered by
 * default, and whether TLS_PSK_WITH_AES_128_CCM_8 is among them (and how
 * to get it when not).  Writes lines ending in '\n' into buf.
 */
void	dtls_describe(char *buf, size_t len);

/*
 * Whether the default list (no dtls.ciphers) includes
 * TLS_PSK_WITH_AES_128_CCM_8.
 */
bool	dtls_has_ccm8(void);
/* wolfSSL's version and which build ("system library", "static, from
 * DIR"), for `coapd -V`. */
const char *dtls_lib_version(void);

/*
 * Create the DTLS state of worker id for configuration c (borrowed; the
 * worker keeps it alive and calls dtls_server_set_cfg() on reload).
 * Records go out through send_fn, plaintext in through app_fn, both with
 * arg.  Counters land in m (the worker's).  Returns 0, or a negative errno
 * with a sentence in err.
 */
int	dtls_server_new(struct dtls_server **out, const struct cfg *c,
	    unsigned id, struct metrics *m, dtls_send_fn *send_fn,
	    dtls_app_fn *app_fn, void *arg, char *err, size_t errlen);

/*
 * Switch to a new snapshot: new handshakes use its keys, ciphers and
 * identity hint; established sessions keep theirs.
 */
void	dtls_server_set_cfg(struct dtls_server *s, const struct cfg *c);

/* One datagram from (sock, from) received at now_ns. */
void	dtls_input(struct dtls_server *s, unsigned sock,
	    const struct sockaddr *from, socklen_t fromlen,
	    const uint8_t *data, size_t len, uint64_t now_ns);

/*
 * Encrypt buf[0..len) for the established session of (sock, to) and send
 * it: separate responses, notifications.  Returns 0, or -ENOTCONN when
 * there is no such session (the message is dropped).
 */
int	dtls_write(struct dtls_server *s, unsigned sock,
	    const struct sockaddr *to, socklen_t tolen, const uint8_t *buf,
	    size_t len);

/* Expire idle sessions and stalled handshakes. */
void	dtls_sweep(struct dtls_server *s, uint64_t now_ns);

/* Sessions held (established and handshaking). */
size_t	dtls_sessions(const struct dtls_server *s);

/* Free every session (no close_notify: used at shutdown) and the state. */
void	dtls_server_free(struct dtls_server *s);

#endif /* COAPD_DTLS_H */
