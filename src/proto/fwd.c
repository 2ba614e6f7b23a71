/*
 * fwd.c - forwarded requests and relayed answers (fwd.h).  Pure.
 */
#include <errno.h>
#include <string.h>

#include "proto/coap_msg.h"
#include "proto/fwd.h"

/* Our options go before the first of m's with a higher number. */
static void
ours(struct coap_enc *e, uint16_t below, bool *done, const char *client,
    const char *identity)
{
	if (*done || below <= FWD_OPT_IDENTITY)
		return;
	coap_enc_opt(e, FWD_OPT_CLIENT, client, strlen(client));
	if (identity != NULL)
		coap_enc_opt(e, FWD_OPT_IDENTITY, identity, strlen(identity));
	*done = true;
}

/*
 * Is the client's option o passed on?  A client's own copies of ours are
 * not, nor Uri-Host and Uri-Port (they name coapd, not the backend), nor
 * Observe until notifications are relayed.
 */
static bool
fwd_passed(const struct coap_opt *o)
{
	return o->num != FWD_OPT_CLIENT && o->num != FWD_OPT_IDENTITY &&
	    o->num != COAP_OPT_URI_HOST && o->num != COAP_OPT_URI_PORT &&
	    o->num != COAP_OPT_OBSERVE;
}

/* How many of m's options fwd_encode() passes on, strip segments off. */
static size_t
fwd_nopts(const struct coap_msg *m, unsigned strip)
{
	size_t i, n = 0;
	unsigned seg = 0;

	for (i = 0; i < m->nopts; i++) {
		if (!fwd_passed(&m->opts[i]))
			continue;
		if (m->opts[i].num == COAP_OPT_URI_PATH && seg++ < strip)
			continue;
		n++;
	}
	return n;
}

ssize_t
fwd_encode(uint8_t *out, size_t cap, const struct coap_msg *m,
    uint8_t type, uint16_t mid, const uint8_t *token, uint8_t tkl,
    unsigned strip, const char *client, const char *identity,
    int observe)
{
	struct coap_enc		 e;
	const struct coap_opt	*o;
	unsigned		 seg = 0;
	bool			 done = false, obs_done = false;
	size_t			 i;

	/*
	 * With our options added the request must still parse with a codec
	 * like ours (COAP_MAX_OPTIONS): found by fuzz_fwd.
	 */
	if (fwd_nopts(m, strip) + 1 + (identity != NULL) + (observe >= 0) >
	    COAP_MAX_OPTIONS)
		return -E2BIG;
	coap_enc_init(&e, out, cap, type, m->code, mid, token, tkl);
	for (i = 0; i < m->nopts; i++) {
		o = &m->opts[i];
		/*
		 * Observe upstream only for coapd's own observation, once
		 * (it is not repeatable, RFC 7641 §2; found by fuzz_fwd)
		 */
		if (o->num == COAP_OPT_OBSERVE) {
			if (observe >= 0 && !obs_done)
				coap_enc_opt_uint(&e, o->num,
				    (uint32_t)observe);
			obs_done = true;
			continue;
		}
		if (!fwd_passed(o))
			continue;
		ours(&e, o->num, &done, client, identity);
		if (o->num == COAP_OPT_URI_PATH && seg++ < strip)
			continue;
		coap_enc_opt(&e, o->num, o->val, o->len);
	}
	ours(&e, UINT16_MAX, &done, client, identity);
	coap_enc_payload(&e, m->payload, m->payload_len);
	return coap_enc_finish(&e);
}

int
fwd_response(struct coap_resp *r, const struct coap_msg *m)
{
	const struct coap_opt	*o;
	size_t			 i;

	r->code = m->code;
	for (i = 0; i < m->nopts; i++) {
		o = &m->opts[i];
		if (o->num == FWD_OPT_CLIENT || o->num == FWD_OPT_IDENTITY ||
		    o->num == COAP_OPT_OBSERVE)
			continue;
		if (coap_resp_opt(r, o->num, o->val, o->len) != 0)
			return -ENOSPC;
	}
	if (m->payload_len > 0 &&
	    coap_resp_payload(r, m->payload, m->payload_len) != 0)
		return -ENOSPC;
	return 0;
}

ssize_t
fwd_reobserve(uint8_t *out, size_t cap, const uint8_t *msg, size_t len,
    uint16_t mid, uint32_t observe)
{
	struct coap_enc		 e;
	struct coap_msg		 m;
	const struct coap_opt	*o;
	size_t			 i;

	if (coap_msg_parse(&m, msg, len) != 0 ||
	    coap_msg_opt(&m, COAP_OPT_OBSERVE) == NULL)
		return -EINVAL;
	coap_enc_init(&e, out, cap, m.type, m.code, mid, m.token, m.tkl);
	for (i = 0; i < m.nopts; i++) {
		o = &m.opts[i];
		if (o->num == COAP_OPT_OBSERVE)
			coap_enc_opt_uint(&e, o->num, observe);
		else
			coap_enc_opt(&e, o->num, o->val, o->len);
	}
	coap_enc_payload(&e, m.payload, m.payload_len);
	return coap_enc_finish(&e);
}
