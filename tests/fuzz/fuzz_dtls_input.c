/*
 * fuzz_dtls_input.c - libFuzzer target for what an unauthenticated peer
 * reaches in the DTLS server: record and ClientHello parsing, the
 * stateless cookie check and the HelloVerifyRequest (src/adapt/dtls.c,
 * dtls_hello.c).
 *
 * The input is split at "\n--\n" into datagrams from one peer.  Without a
 * valid cookie (which a fuzzer cannot forge) no session may ever be
 * created, every datagram gets at most one answer, and an answer is never
 * larger than a HelloVerifyRequest: any of these failing aborts.
 */
#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/cfg.h"
#include "adapt/dtls.h"
#include "adapt/log.h"
#include "proto/metrics.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HVR_LEN		(13 + 12 + 3 + 32)

static struct dtls_server	*srv;
static struct cfg		 cf;
static struct metrics		 m;
static unsigned			 answers;

static void
on_send(void *arg, unsigned sock, const struct sockaddr *to, socklen_t tolen,
    const uint8_t *buf, size_t len)
{
	(void)arg;
	(void)sock;
	(void)to;
	(void)tolen;
	if (len != HVR_LEN || buf[0] != 22 || buf[13] != 3)
		abort();
	answers++;
}

static size_t
on_app(void *arg, unsigned sock, const struct sockaddr *from,
    socklen_t fromlen, const char *identity, uint64_t serial,
    const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	(void)arg; (void)sock; (void)from; (void)fromlen; (void)identity;
	(void)serial;
	(void)in; (void)len; (void)out; (void)cap;
	abort();	/* no session, no application data */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in	 peer;
	const uint8_t		*p = data, *end = data + size, *sep;
	char			 err[256];
	unsigned		 n = 0;

	if (srv == NULL) {
		log_init(LOG_LVL_ERR, "fuzz_dtls_input");
		cf.workers = 1;
		cf.dtls.max_sessions = 4;
		cf.dtls.max_handshakes = 4;
		cf.dtls.max_handshakes_per_host = 2;
		cf.dtls.session_timeout_s = 60;
		cf.dtls.handshake_timeout_s = 5;
		if (dtls_server_new(&srv, &cf, 0, &m, on_send, on_app, NULL,
		    err, sizeof(err)) != 0)
			abort();
	}
	memset(&peer, 0, sizeof(peer));
	peer.sin_family = AF_INET;
	peer.sin_port = htons(40000);
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	answers = 0;
	while (p <= end) {
		sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
		if (sep == NULL)
			sep = end;
		dtls_input(srv, 0, (const struct sockaddr *)&peer,
		    sizeof(peer), p, (size_t)(sep - p), 1000000000ull);
		n++;
		p = sep + 4;
	}
	if (dtls_sessions(srv) != 0 || answers > n)
		abort();
	return 0;
}
