/*
 * net.c - UDP sockets, addresses and reuseport steering.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/net.h"

/* Multiplier of the steering hash (Knuth's golden ratio). */
#define STEER_MUL	0x9e3779b1u

int
net_addr_parse(const char *addr, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

static char *
put_dec(char *p, unsigned v)
{
	char	 t[5];
	int	 n = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = t[--n];
	return p;
}

static char *
put_hex(char *p, unsigned v)
{
	static const char	 hex[] = "0123456789abcdef";
	int			 sh = 12;

	while (sh > 0 && (v >> sh) == 0)
		sh -= 4;
	for (; sh >= 0; sh -= 4)
		*p++ = hex[(v >> sh) & 0xf];
	return p;
}

/* RFC 5952 §4.2: the longest run (first of equals) of >= 2 zero groups. */
static void
zero_run(const uint16_t w[8], int *base, int *len)
{
	int	 i, b = -1, l = 0;

	*base = -1;
	*len = 0;
	for (i = 0; i <= 8; i++) {
		if (i < 8 && w[i] == 0) {
			if (b < 0)
				b = i;
			l++;
			continue;
		}
		if (l >= 2 && l > *len) {
			*base = b;
			*len = l;
		}
		b = -1;
		l = 0;
	}
}

/*
 * sa as "a.b.c.d:port" or "[v6]:port" into out (NET_ADDRSTRLEN bytes), the
 * address as inet_ntop(3) writes it (RFC 5952) but without printf, which
 * cost a third of a forwarded request (the client option of a backend
 * request is written per request).  Returns its length.
 */
static size_t
addr_fmt(char *out, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin = (const void *)sa;
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	const uint8_t			*b;
	char				 a[INET6_ADDRSTRLEN], *p = out;
	uint16_t			 w[8];
	int				 i, base, len;

	if (sa->sa_family == AF_INET) {
		b = (const uint8_t *)&sin->sin_addr;
		for (i = 0; i < 4; i++) {
			p = put_dec(p, b[i]);
			*p++ = i < 3 ? '.' : ':';
		}
		p = put_dec(p, ntohs(sin->sin_port));
		*p = '\0';
		return (size_t)(p - out);
	}
	if (sa->sa_family != AF_INET6)
		return (size_t)snprintf(out, NET_ADDRSTRLEN, "(family %d)",
		    sa->sa_family);
	b = sin6->sin6_addr.s6_addr;
	for (i = 0; i < 8; i++)
		w[i] = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);
	zero_run(w, &base, &len);
	*p++ = '[';
	if (base == 0 && (len == 6 || (len == 5 && w[5] == 0xffff))) {
		/* an embedded IPv4 address: inet_ntop's dotted form */
		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		len = (int)strlen(a);
		memcpy(p, a, (size_t)len);
		p += len;
	} else {
		for (i = 0; i < 8;) {
			if (i == base) {
				*p++ = ':';
				*p++ = ':';
				i += len;
				continue;
			}
			if (i > 0 && i != base + len)
				*p++ = ':';
			p = put_hex(p, w[i++]);
		}
	}
	*p++ = ']';
	*p++ = ':';
	p = put_dec(p, ntohs(sin6->sin6_port));
	*p = '\0';
	return (size_t)(p - out);
}

const char *
net_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 t[NET_ADDRSTRLEN];
	size_t	 n;

	if (len >= NET_ADDRSTRLEN)
		(void)addr_fmt(buf, sa);
	else if (len > 0) {
		n = addr_fmt(t, sa);
		if (n > len - 1)
			n = len - 1;	/* truncated, as snprintf would */
		memcpy(buf, t, n);
		buf[n] = '\0';
	}
	return buf;
}

bool
net_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		const uint8_t *b = sin6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127;
	}
	return false;
}

int
net_udp_bind(const struct sockaddr *addr, socklen_t len, int rcvbuf,
    int sndbuf, int *rcvbuf_got)
{
	int		 fd, one = 1, zero = 0, got;
	socklen_t	 glen = sizeof(got);

	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (addr->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
	    sizeof(zero)) == -1)
		goto fail;
	/*
	 * A burst from many clients must queue in the kernel, not be dropped:
	 * the default receive buffer (208 KiB) holds only ~1,500 datagrams.
	 * SO_RCVBUFFORCE passes net.core.rmem_max when we may; otherwise the
	 * kernel clamps SO_RCVBUF and we report what we got.
	 */
	if (rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
	    sizeof(rcvbuf)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
	if (sndbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
	    sizeof(sndbuf)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
		    sizeof(sndbuf));
	if (rcvbuf_got != NULL) {
		if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &glen) == 0)
			*rcvbuf_got = got / 2;	/* kernel doubles it */
		else
			*rcvbuf_got = 0;
	}
	if (bind(fd, addr, len) == -1)
		goto fail;
	return fd;
fail:
	got = -errno;
	close(fd);
	return got;
}

int
net_reuseport_steer(int fd, unsigned nsocks)
{
	/*
	 * The kernel's default reuseport choice hashes the 4-tuple, which
	 * spreads one host's source ports over all workers and multiplies
	 * its rate limit.  This program hashes the source address only.
	 * The IP version nibble tells IPv4 (also v4-mapped on a dual-stack
	 * socket) from IPv6.  BPF_ABS word loads read big-endian;
	 * net_steer_index() computes the same function in C.
	 */
	struct sock_filter code[] = {
		/* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 0),
		/* 1 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
		/* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 2, 0),
		/* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12),
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JA, 10, 0, 0),
		/* 5 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 8),
		/* 6 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
		/* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12),
		/* 8 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		/* 9 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
		/* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 16),
		/* 11 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		/* 12 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
		/* 13 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 20),
		/* 14 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		/* hash: jumped to from 4 */
		/* 15 */ BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, STEER_MUL),
		/* 16 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
		/* 17 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, nsocks),
		/* 18 */ BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog;

	if (nsocks <= 1)
		return 0;
	/* Zeroed whole: the padding after .len goes to the kernel too. */
	memset(&prog, 0, sizeof(prog));
	prog.len = sizeof(code) / sizeof(code[0]);
	prog.filter = code;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
	    sizeof(prog)) == -1)
		return -errno;
	return 0;
}

static uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

unsigned
net_steer_index(const struct sockaddr *peer, unsigned nsocks)
{
	uint32_t	 a;

	if (nsocks <= 1)
		return 0;
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)peer;

		a = load_be32((const uint8_t *)&sin->sin_addr);
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)peer;
		const uint8_t *b = sin6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			a = load_be32(b + 12);
		else
			a = load_be32(b) ^ load_be32(b + 4) ^
			    load_be32(b + 8) ^ load_be32(b + 12);
	}
	return ((a * STEER_MUL) >> 16) % nsocks;
}

socklen_t
net_addr_unmap(const struct sockaddr *sa, socklen_t len,
    struct sockaddr_storage *out)
{
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	struct sockaddr_in		*sin = (struct sockaddr_in *)out;

	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET6 && len >= sizeof(*sin6) &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		sin->sin_family = AF_INET;
		sin->sin_port = sin6->sin6_port;
		memcpy(&sin->sin_addr, sin6->sin6_addr.s6_addr + 12, 4);
		return sizeof(*sin);
	}
	if (len > sizeof(*out))
		len = sizeof(*out);
	memcpy(out, sa, len);
	return len;
}

bool
net_addr_same(const struct sockaddr *a, socklen_t alen,
    const struct sockaddr *b, socklen_t blen)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (alen != blen || a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return a6->sin6_port == b6->sin6_port &&
		    a6->sin6_scope_id == b6->sin6_scope_id &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
	return memcmp(a, b, alen) == 0;
}
