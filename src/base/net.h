/*
 * net.h - sockets and addresses (L0).  No CoAP knowledge.
 */
#ifndef COAPD_NET_H
#define COAPD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text net_addr_str() writes: "[v6]:port". */
#define NET_ADDRSTRLEN	(46 + 8)

/*
 * Parse a numeric IPv4 or IPv6 address (no DNS) and port into ss.
 * Returns 0 or -EINVAL.
 */
int	net_addr_parse(const char *addr, uint16_t port,
	    struct sockaddr_storage *ss, socklen_t *len);

/*
 * "1.2.3.4:5683" or "[::1]:5683" (the address as inet_ntop(3) writes it,
 * RFC 5952) into buf, truncated to len; returns buf.  Cheap enough for a
 * per-request path (no printf with len >= NET_ADDRSTRLEN).
 */
const char *net_addr_str(const struct sockaddr *sa, char *buf, size_t len);

/*
 * sa into out, an IPv4-mapped IPv6 address (a dual-stack "::" listener's
 * IPv4 client) as plain IPv4, so that hooks and backends see "192.0.2.1"
 * whatever the listener.  Returns the length of out.
 */
socklen_t net_addr_unmap(const struct sockaddr *sa, socklen_t len,
	    struct sockaddr_storage *out);

/* True for loopback addresses (127/8, ::1, ::ffff:127/104). */
bool	net_addr_is_loopback(const struct sockaddr *sa);

/*
 * The same endpoint: family, address, port and, for IPv6, the scope id
 * (fe80::1%eth0 is not fe80::1%eth1).
 */
bool	net_addr_same(const struct sockaddr *a, socklen_t alen,
	    const struct sockaddr *b, socklen_t blen);

/*
 * Create a non-blocking UDP socket bound to addr with SO_REUSEPORT,
 * IPV6_V6ONLY off for "::", the given buffer sizes (SO_RCVBUFFORCE when
 * permitted, else SO_RCVBUF clamped by net.core.rmem_max; the size reached
 * is stored in *rcvbuf_got).  Returns the fd or a negative errno.
 */
int	net_udp_bind(const struct sockaddr *addr, socklen_t len,
	    int rcvbuf, int sndbuf, int *rcvbuf_got);

/*
 * Attach a classic BPF program to the reuseport group of fd that steers a
 * datagram to socket (hash(source address) % nsocks), ignoring the source
 * port, so one client host always reaches the same worker.  IPv4 and
 * v4-mapped traffic hash the IPv4 source.  Returns 0 or a negative errno.
 */
int	net_reuseport_steer(int fd, unsigned nsocks);

/* The worker index net_reuseport_steer() picks for a peer (for tests). */
unsigned net_steer_index(const struct sockaddr *peer, unsigned nsocks);

#endif /* COAPD_NET_H */
