/*
 * fuzz_coap_msg.c - libFuzzer target for the CoAP codec.
 *
 * Every datagram the parser accepts must re-encode to the same bytes (the
 * RFC 7252 §3.1 option encoding has one form per number and length) and
 * re-parse to the same message.  The same message rebuilt through
 * struct coap_resp, options added out of order, must encode identically
 * too.  Any mismatch aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/coap_msg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same_msg(const struct coap_msg *a, const struct coap_msg *b)
{
	unsigned	 i;

	if (a->type != b->type || a->code != b->code || a->mid != b->mid ||
	    a->tkl != b->tkl || memcmp(a->token, b->token, a->tkl) != 0 ||
	    a->nopts != b->nopts || a->payload_len != b->payload_len ||
	    (a->payload == NULL) != (b->payload == NULL))
		abort();
	for (i = 0; i < a->nopts; i++)
		if (a->opts[i].num != b->opts[i].num ||
		    a->opts[i].len != b->opts[i].len ||
		    (a->opts[i].len > 0 && memcmp(a->opts[i].val,
		    b->opts[i].val, a->opts[i].len) != 0))
			abort();
	if (a->payload_len > 0 &&
	    memcmp(a->payload, b->payload, a->payload_len) != 0)
		abort();
}

/*
 * Add the options to a struct coap_resp by descending number, each
 * number's repeats in their order: the sorted, stable store must give the
 * original order back.
 */
static void
check_resp(const struct coap_msg *m, const uint8_t *data, size_t size)
{
	static uint8_t		 pay[COAP_MAX_MSG], out[COAP_MAX_MSG];
	struct coap_resp	 r;
	size_t			 store = 0;
	ssize_t			 len;
	unsigned		 i, j, first;

	if (m->nopts > COAP_RESP_MAX_OPTS || m->payload_len > sizeof(pay) ||
	    size > sizeof(out))
		return;
	for (i = 0; i < m->nopts; i++)
		store += m->opts[i].len;
	if (store > COAP_RESP_OPTSTORE)
		return;

	coap_resp_init(&r, pay, sizeof(pay));
	r.code = m->code;
	for (i = m->nopts; i > 0; i = first) {
		first = i - 1;
		while (first > 0 &&
		    m->opts[first - 1].num == m->opts[i - 1].num)
			first--;
		for (j = first; j < i; j++)
			if (coap_resp_opt(&r, m->opts[j].num, m->opts[j].val,
			    m->opts[j].len) != 0)
				abort();
	}
	if (coap_resp_payload(&r, m->payload, m->payload_len) != 0)
		abort();
	len = coap_resp_encode(&r, out, sizeof(out), m->type, m->mid,
	    m->token, m->tkl);
	if (len < 0 || (size_t)len != size || memcmp(out, data, size) != 0)
		abort();
	/* One byte short must fail cleanly. */
	if (coap_resp_encode(&r, out, size - 1, m->type, m->mid, m->token,
	    m->tkl) != -ENOSPC)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coap_msg		 m, m2;
	struct coap_enc		 e;
	uint8_t			*buf;
	char			 path[256], code[5];
	uint32_t		 v;
	ssize_t			 len;
	unsigned		 i;

	if (coap_msg_parse(&m, data, size) != 0) {
		if (m.perr == COAP_PERR_NONE || m.nopts != 0 ||
		    m.payload != NULL)
			abort();
		(void)coap_perr_str(m.perr);
		return 0;
	}

	/* Exercise the read-side helpers; they must not fault. */
	(void)coap_msg_unknown_critical(&m);
	(void)coap_msg_uri_path(&m, path, sizeof(path));
	(void)coap_code_str(m.code, code);
	for (i = 0; i < m.nopts; i++) {
		if (coap_opt_uint(&m.opts[i], &v) == 0 &&
		    coap_uint_len(v) > m.opts[i].len)
			abort();
		if (coap_msg_opt(&m, m.opts[i].num) == NULL)
			abort();
	}

	/* A valid message is at least its header, so size >= 4 here. */
	buf = malloc(size);
	if (buf == NULL)
		return 0;
	coap_enc_init(&e, buf, size, m.type, m.code, m.mid, m.token, m.tkl);
	for (i = 0; i < m.nopts; i++)
		coap_enc_opt(&e, m.opts[i].num, m.opts[i].val, m.opts[i].len);
	coap_enc_payload(&e, m.payload, m.payload_len);
	len = coap_enc_finish(&e);
	if (len < 0 || (size_t)len != size || memcmp(buf, data, size) != 0)
		abort();
	if (coap_msg_parse(&m2, buf, (size_t)len) != 0)
		abort();
	same_msg(&m, &m2);
	free(buf);

	check_resp(&m, data, size);
	return 0;
}
