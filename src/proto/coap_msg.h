/*
 * coap_msg.h - CoAP message codec (RFC 7252 §3), pure: no I/O, no allocation.
 *
 * coap_msg_parse() decodes a datagram into a struct coap_msg whose option
 * values and payload point into the caller's buffer.  The encoder writes a
 * message into a caller-provided buffer; struct coap_resp collects a
 * response (code, options in any order, payload) for later encoding.
 */
#ifndef COAPD_COAP_MSG_H
#define COAPD_COAP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define COAP_VERSION		1
#define COAP_HDR_LEN		4
#define COAP_MAX_TOKEN		8
#define COAP_MAX_OPTIONS	48	/* options kept per parsed message */
#define COAP_MAX_MSG		1280	/* largest datagram coapd sends */
#define COAP_PAYLOAD_MAX	1024	/* largest payload in one message */

enum coap_type {
	COAP_TYPE_CON = 0,
	COAP_TYPE_NON = 1,
	COAP_TYPE_ACK = 2,
	COAP_TYPE_RST = 3,
};

#define COAP_CODE(c, dd)	((uint8_t)(((c) << 5) | (dd)))
#define COAP_CODE_CLASS(code)	((code) >> 5)
#define COAP_CODE_DETAIL(code)	((code) & 0x1f)

/* Methods (class 0) and response codes (classes 2, 4, 5). */
enum coap_code {
	COAP_EMPTY			= 0,
	COAP_GET			= COAP_CODE(0, 1),
	COAP_POST			= COAP_CODE(0, 2),
	COAP_PUT			= COAP_CODE(0, 3),
	COAP_DELETE			= COAP_CODE(0, 4),
	COAP_FETCH			= COAP_CODE(0, 5),
	COAP_PATCH			= COAP_CODE(0, 6),
	COAP_IPATCH			= COAP_CODE(0, 7),

	COAP_CREATED			= COAP_CODE(2, 1),
	COAP_DELETED			= COAP_CODE(2, 2),
	COAP_VALID			= COAP_CODE(2, 3),
	COAP_CHANGED			= COAP_CODE(2, 4),
	COAP_CONTENT			= COAP_CODE(2, 5),
	COAP_CONTINUE			= COAP_CODE(2, 31),

	COAP_BAD_REQUEST		= COAP_CODE(4, 0),
	COAP_UNAUTHORIZED		= COAP_CODE(4, 1),
	COAP_BAD_OPTION			= COAP_CODE(4, 2),
	COAP_FORBIDDEN			= COAP_CODE(4, 3),
	COAP_NOT_FOUND			= COAP_CODE(4, 4),
	COAP_METHOD_NOT_ALLOWED		= COAP_CODE(4, 5),
	COAP_NOT_ACCEPTABLE		= COAP_CODE(4, 6),
	COAP_REQUEST_ENTITY_INCOMPLETE	= COAP_CODE(4, 8),
	COAP_PRECONDITION_FAILED	= COAP_CODE(4, 12),
	COAP_REQUEST_ENTITY_TOO_LARGE	= COAP_CODE(4, 13),
	COAP_UNSUPPORTED_CONTENT_FORMAT	= COAP_CODE(4, 15),
	COAP_TOO_MANY_REQUESTS		= COAP_CODE(4, 29),

	COAP_INTERNAL_SERVER_ERROR	= COAP_CODE(5, 0),
	COAP_NOT_IMPLEMENTED		= COAP_CODE(5, 1),
	COAP_BAD_GATEWAY		= COAP_CODE(5, 2),
	COAP_SERVICE_UNAVAILABLE	= COAP_CODE(5, 3),
	COAP_GATEWAY_TIMEOUT		= COAP_CODE(5, 4),
	COAP_PROXYING_NOT_SUPPORTED	= COAP_CODE(5, 5),
};

/* Option numbers (RFC 7252 §5.10, 7641, 7959, 9175). */
enum coap_option {
	COAP_OPT_IF_MATCH	= 1,
	COAP_OPT_URI_HOST	= 3,
	COAP_OPT_ETAG		= 4,
	COAP_OPT_IF_NONE_MATCH	= 5,
	COAP_OPT_OBSERVE	= 6,
	COAP_OPT_URI_PORT	= 7,
	COAP_OPT_LOCATION_PATH	= 8,
	COAP_OPT_URI_PATH	= 11,
	COAP_OPT_CONTENT_FORMAT	= 12,
	COAP_OPT_MAX_AGE	= 14,
	COAP_OPT_URI_QUERY	= 15,
	COAP_OPT_HOP_LIMIT	= 16,
	COAP_OPT_ACCEPT		= 17,
	COAP_OPT_LOCATION_QUERY	= 20,
	COAP_OPT_BLOCK2		= 23,
	COAP_OPT_BLOCK1		= 27,
	COAP_OPT_SIZE2		= 28,
	COAP_OPT_PROXY_URI	= 35,
	COAP_OPT_PROXY_SCHEME	= 39,
	COAP_OPT_SIZE1		= 60,
	COAP_OPT_ECHO		= 252,	/* RFC 9175 */
	COAP_OPT_NO_RESPONSE	= 258,
	COAP_OPT_REQUEST_TAG	= 292,
};

/* Content-Format numbers used by coapd (RFC 7252 §12.3, RFC 7049). */
enum coap_ct {
	COAP_CT_TEXT_PLAIN	= 0,
	COAP_CT_LINK_FORMAT	= 40,
	COAP_CT_XML		= 41,
	COAP_CT_OCTET_STREAM	= 42,
	COAP_CT_EXI		= 47,
	COAP_CT_JSON		= 50,
	COAP_CT_CBOR		= 60,
};

/* Why coap_msg_parse() refused a datagram (struct coap_msg.perr). */
enum coap_perr {
	COAP_PERR_NONE = 0,
	COAP_PERR_SHORT,	/* fewer than 4 bytes */
	COAP_PERR_VERSION,	/* version field is not 1 */
	COAP_PERR_TKL,		/* token length 9..15 */
	COAP_PERR_TRUNC_TOKEN,	/* datagram ends inside the token */
	COAP_PERR_OPT_NIBBLE,	/* reserved delta or length nibble 15 */
	COAP_PERR_OPT_TRUNC,	/* option header or value runs past the end */
	COAP_PERR_OPT_NUM,	/* option number above 65535 */
	COAP_PERR_OPT_MANY,	/* more than COAP_MAX_OPTIONS options */
	COAP_PERR_MARKER,	/* payload marker followed by no payload */
	COAP_PERR_EMPTY,	/* code 0.00 with token, options or payload */
};

/* One option; val points into the parsed datagram (not NUL-terminated). */
struct coap_opt {
	uint16_t	 num;
	uint16_t	 len;
	const uint8_t	*val;
};

/* A parsed message.  Pointers reference the buffer given to the parser. */
struct coap_msg {
	uint8_t		 type;		/* enum coap_type */
	uint8_t		 code;		/* enum coap_code */
	uint16_t	 mid;		/* message ID, host order */
	uint8_t		 tkl;		/* token length 0..8 */
	uint8_t		 token[COAP_MAX_TOKEN];
	uint8_t		 perr;		/* enum coap_perr when parse failed */
	uint16_t	 nopts;		/* options in opts[], ascending num */
	struct coap_opt	 opts[COAP_MAX_OPTIONS];
	const uint8_t	*payload;	/* NULL when absent */
	size_t		 payload_len;
};

/*
 * Parse len bytes at buf into m.  Returns 0, or -EBADMSG with m->perr set.
 * Even on failure m->type, m->code and m->mid are valid when len >= 4, so
 * the caller can answer a malformed CON with RST (RFC 7252 §4.2).
 * Pure and reentrant; m only borrows buf.
 */
int		 coap_msg_parse(struct coap_msg *m, const uint8_t *buf, size_t len);

/* Short lower-case description of a parse error, for logs and tests. */
const char	*coap_perr_str(enum coap_perr e);

/* First option numbered num in m, or NULL. */
const struct coap_opt *coap_msg_opt(const struct coap_msg *m, uint16_t num);

/* Number of options numbered num in m. */
unsigned	 coap_msg_opt_count(const struct coap_msg *m, uint16_t num);

/*
 * Decode an unsigned option value (0..4 bytes, network order) into *v.
 * Returns 0, or -EINVAL when the option is longer than 4 bytes.
 */
int		 coap_opt_uint(const struct coap_opt *o, uint32_t *v);

/* RFC 7252 §5.4.1: odd option numbers are critical. */
static inline bool
coap_opt_is_critical(uint16_t num)
{
	return (num & 1) != 0;
}

/* True for options coapd understands; an unknown critical one gives 4.02. */
bool		 coap_opt_is_known(uint16_t num);

/*
 * First unknown critical option of a request, or 0 if there is none.  A
 * known critical option with a length outside its range (RFC 7252 §5.4.3)
 * or a second occurrence of a non-repeatable one (§5.4.5) counts as
 * unknown, so both get 4.02 too.
 */
uint16_t	 coap_msg_unknown_critical(const struct coap_msg *m);

/* Bytes needed to encode v as an option value (0 for v == 0). */
unsigned	 coap_uint_len(uint32_t v);

/*
 * Encoder.  Options must be added in ascending number order; an out of order
 * option or a full buffer makes coap_enc_finish() fail.
 */
struct coap_enc {
	uint8_t		*buf;
	size_t		 cap;
	size_t		 len;
	uint16_t	 last_opt;
	bool		 failed;
};

/* Start a message with header and token in buf (cap bytes). */
void		 coap_enc_init(struct coap_enc *e, uint8_t *buf, size_t cap,
		    uint8_t type, uint8_t code, uint16_t mid,
		    const uint8_t *token, uint8_t tkl);
/* Append an option (num >= previous option's number). */
void		 coap_enc_opt(struct coap_enc *e, uint16_t num, const void *val,
		    size_t len);
/* Append an unsigned option with the shortest encoding. */
void		 coap_enc_opt_uint(struct coap_enc *e, uint16_t num, uint32_t v);
/* Append the payload marker and len bytes (nothing when len == 0). */
void		 coap_enc_payload(struct coap_enc *e, const void *p, size_t len);
/* Returns the encoded length, or -ENOSPC / -EINVAL. */
ssize_t		 coap_enc_finish(struct coap_enc *e);

/*
 * A response under construction: handlers set code, add options in any
 * order (kept sorted, stable for repeated options) and write the payload
 * into the buffer the caller lent at init.
 */
#define COAP_RESP_MAX_OPTS	16
#define COAP_RESP_OPTSTORE	192

struct coap_resp {
	uint8_t		 code;		/* enum coap_code */
	uint8_t		 nopts;
	uint16_t	 optstore_len;
	struct coap_opt	 opts[COAP_RESP_MAX_OPTS];
	uint8_t		 optstore[COAP_RESP_OPTSTORE]; /* option values live here */
	uint8_t		*payload;	/* caller's buffer */
	size_t		 payload_len;
	size_t		 payload_cap;
};

/* Reset r with code 0 and an empty payload in buf (cap bytes, not owned). */
void		 coap_resp_init(struct coap_resp *r, uint8_t *buf, size_t cap);
/* Drop r's options and payload and set code (an error answer). */
void		 coap_resp_reset(struct coap_resp *r, uint8_t code);
/* Copy an option value into r.  Returns 0 or -ENOSPC. */
int		 coap_resp_opt(struct coap_resp *r, uint16_t num, const void *val,
		    size_t len);
/* Add an unsigned option, shortest encoding.  Returns 0 or -ENOSPC. */
int		 coap_resp_opt_uint(struct coap_resp *r, uint16_t num, uint32_t v);
/* Copy len bytes as the payload.  Returns 0 or -ENOSPC. */
int		 coap_resp_payload(struct coap_resp *r, const void *p, size_t len);
/*
 * Encode r as a message of the given type, MID and token into out.
 * Returns the length or a negative errno.
 */
ssize_t		 coap_resp_encode(const struct coap_resp *r, uint8_t *out,
		    size_t cap, uint8_t type, uint16_t mid,
		    const uint8_t *token, uint8_t tkl);

/*
 * Join the Uri-Path options of m into out as "/seg/seg" ("/" when there is
 * none).  Returns the length, or -EINVAL when a segment contains '/' or NUL
 * or is "." or ".." (never served: RFC 7252 §6.4 forbids them in a URI's
 * decomposition), or -ENAMETOOLONG when cap is too small.
 */
ssize_t		 coap_msg_uri_path(const struct coap_msg *m, char *out,
		    size_t cap);

/* "2.05" style text of a code into buf (at least 5 bytes). */
const char	*coap_code_str(uint8_t code, char buf[static 5]);

#endif /* COAPD_COAP_MSG_H */
