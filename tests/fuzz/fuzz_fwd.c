/*
 * fuzz_fwd.c - libFuzzer target for backend replies (src/proto/fwd.c):
 * whatever a backend sends back is parsed and copied into the client's
 * response, which must then encode to a well-formed message without the
 * forwarding options or Observe.  The same datagram read as a client
 * request is forwarded (fwd_encode), and that must parse too, carrying
 * the client option.  Anything else aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/coap_msg.h"
#include "proto/fwd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_forwarded(const struct coap_msg *m, unsigned strip)
{
	static uint8_t	 out[COAP_MAX_MSG];
	struct coap_msg	 f;
	ssize_t		 n;

	n = fwd_encode(out, sizeof(out), m, COAP_TYPE_CON, 0x1234,
	    (const uint8_t *)"\x01\x02\x03\x04", 4, strip,
	    "[2001:db8::1]:5683", strip % 2 ? "dev1" : NULL,
	    strip % 3 == 0 ? 0 : -1);
	if (n < 0)
		return;
	if (coap_msg_parse(&f, out, (size_t)n) != 0 || f.mid != 0x1234 ||
	    coap_msg_opt(&f, FWD_OPT_CLIENT) == NULL ||
	    (strip % 2 == 0 && coap_msg_opt(&f, FWD_OPT_IDENTITY) != NULL))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t		 pay[COAP_PAYLOAD_MAX], out[COAP_MAX_MSG];
	struct coap_msg		 m, e;
	struct coap_resp	 r;
	ssize_t			 n;

	if (coap_msg_parse(&m, data, size) != 0)
		return 0;
	/* As h_backend.c: only requests go up, only responses come back. */
	if (COAP_CODE_CLASS(m.code) == 0 && m.code != COAP_EMPTY)
		check_forwarded(&m, size % 4);
	if (COAP_CODE_CLASS(m.code) < 2)
		return 0;
	coap_resp_init(&r, pay, sizeof(pay));
	if (fwd_response(&r, &m) != 0)
		return 0;
	n = coap_resp_encode(&r, out, sizeof(out), COAP_TYPE_ACK, 7,
	    (const uint8_t *)"tk", 2);
	if (n < 0)
		return 0;
	if (coap_msg_parse(&e, out, (size_t)n) != 0 || e.code != m.code ||
	    coap_msg_opt(&e, FWD_OPT_CLIENT) != NULL ||
	    coap_msg_opt(&e, FWD_OPT_IDENTITY) != NULL ||
	    coap_msg_opt(&e, COAP_OPT_OBSERVE) != NULL ||
	    e.payload_len != m.payload_len)
		abort();
	return 0;
}
