/*
 * access.c - the access log: formatting only; log.c sends it to journald
 * (fields) or stderr (" name=value" appended).
 */
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "adapt/log.h"
#include "base/net.h"
#include "proto/coap_msg.h"
#include "serve/access.h"

static const char *
method_name(uint8_t code)
{
	static const char *const names[] = {
		"0", "GET", "POST", "PUT", "DELETE", "FETCH", "PATCH", "iPATCH",
	};

	return code < sizeof(names) / sizeof(names[0]) ? names[code] : "?";
}

void
access_log(const struct sockaddr *peer, const char *identity,
    uint8_t method, const char *path, const char *route, uint8_t code,
    uint64_t latency_ns)
{
	char		 a[NET_ADDRSTRLEN], f_peer[NET_ADDRSTRLEN + 8];
	char		 f_id[160], f_meth[24], f_path[280], f_route[280];
	char		 f_code[16], f_lat[40];
	const char	*fields[8];
	int		 n = 0;

	struct sockaddr_storage	 plain;

	/* a dual-stack listener's IPv4 client reads as IPv4 */
	net_addr_unmap(peer, peer->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in), &plain);
	peer = (const struct sockaddr *)&plain;
	net_addr_str(peer, a, sizeof(a));
	snprintf(f_peer, sizeof(f_peer), "PEER=%s", a);
	fields[n++] = f_peer;
	if (identity != NULL) {
		snprintf(f_id, sizeof(f_id), "PSK_IDENTITY=%s", identity);
		fields[n++] = f_id;
	}
	snprintf(f_meth, sizeof(f_meth), "METHOD=%s", method_name(method));
	fields[n++] = f_meth;
	snprintf(f_path, sizeof(f_path), "PATH=%s", path);
	fields[n++] = f_path;
	if (route != NULL) {
		snprintf(f_route, sizeof(f_route), "ROUTE=%s", route);
		fields[n++] = f_route;
	}
	snprintf(f_code, sizeof(f_code), "CODE=%u.%02u",
	    (unsigned)code >> 5, (unsigned)code & 31);
	fields[n++] = f_code;
	snprintf(f_lat, sizeof(f_lat), "LATENCY_US=%llu",
	    (unsigned long long)(latency_ns / 1000));
	fields[n++] = f_lat;
	fields[n] = NULL;
	/* the fields name the peer (appended on stderr) */
	log_fields(LOG_LVL_INFO, fields, "%s %s %s", method_name(method),
	    path, f_code + 5);
}
