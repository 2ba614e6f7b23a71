/*
 * fwd.h - requests forwarded to a backend, and its answers, as CoAP
 * messages (backend routes).  Pure.
 *
 * coapd sends the client's request with its own Message ID and token,
 * the client's options passed through (the first strip Uri-Path segments
 * dropped when the route strips its prefix; Uri-Host and Uri-Port, which
 * name coapd, left out; Observe only as the caller says: an observation
 * upstream is coapd's own, one per path, serve/h_backend.c), plus two
 * elective options
 * from the experimental range (RFC 7252 §12.2) that a backend may read or
 * ignore:
 *
 *	FWD_OPT_CLIENT    65000  the client's endpoint as text,
 *	                         "192.0.2.1:5683" or "[2001:db8::1]:5683"
 *	FWD_OPT_IDENTITY  65002  the client's PSK identity (DTLS only)
 */
#ifndef COAPD_FWD_H
#define COAPD_FWD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct coap_msg;
struct coap_resp;

#define FWD_OPT_CLIENT		65000
#define FWD_OPT_IDENTITY	65002
/*
 * Encode m as a request of type (CON or NON) with mid and token[0..tkl)
 * into out; strip Uri-Path segments are left out; client (text) and
 * identity (NULL: none) become the options above; an Observe option of
 * m is replaced by observe (0 or 1), or left out when observe < 0.
 * Returns the length, -ENOSPC, or -E2BIG when the result would carry more
 * than COAP_MAX_OPTIONS options (a backend using a codec like coapd's
 * could not parse it).
 */
ssize_t	fwd_encode(uint8_t *out, size_t cap, const struct coap_msg *m,
	    uint8_t type, uint16_t mid, const uint8_t *token, uint8_t tkl,
	    unsigned strip, const char *client, const char *identity,
	    int observe);

/*
 * The forwarded request msg[0..len) (made by fwd_encode() with an
 * Observe option) again with Message ID mid and Observe value observe:
 * a re-registration (0) or a deregistration (1, RFC 7641 §3.6) of the
 * same token.  Returns the length, -EINVAL when msg does not parse or
 * has no Observe, or -ENOSPC.
 */
ssize_t	fwd_reobserve(uint8_t *out, size_t cap, const uint8_t *msg,
	    size_t len, uint16_t mid, uint32_t observe);

/*
 * Copy a backend's response m into r: code, options (not the two above,
 * and not Observe: the caller numbers notifications itself) and payload.
 * Returns 0, or -ENOSPC when it does not fit (answer 5.02).
 */
int	fwd_response(struct coap_resp *r, const struct coap_msg *m);

#endif /* COAPD_FWD_H */
