/*
 * access.h - the access log (log.access = true): one line per answered
 * request, with journald fields COAP_PEER, COAP_PSK_IDENTITY, COAP_METHOD,
 * COAP_PATH, COAP_ROUTE, COAP_CODE and COAP_LATENCY_US.  Worker threads.
 */
#ifndef COAPD_ACCESS_H
#define COAPD_ACCESS_H

#include <stdint.h>
#include <sys/socket.h>

/*
 * peer and identity (NULL on plain CoAP) of the client, the request's
 * method code and path, the route that took it (NULL: none), the
 * response code and the time since the request arrived.
 */
void	access_log(const struct sockaddr *peer, const char *identity,
	    uint8_t method, const char *path, const char *route, uint8_t code,
	    uint64_t latency_ns);

#endif /* COAPD_ACCESS_H */
