/*
 * coap-responder - the least a CoAP server can do, as a benchmark baseline.
 *
 * It answers every request with 2.05 Content, Content-Format 0 and the
 * 5-byte payload "hello", and looks at nothing but the header: no options,
 * no routing, no deduplication.  Datagrams come in and go out in batches
 * (recvmmsg/sendmmsg) on one socket with a large receive buffer, so what it
 * reaches is close to what the kernel's UDP path allows on one core.
 *
 * Loopback only, like coapd-bench.  -l bounds its lifetime so a forgotten
 * instance does not outlive the benchmark script.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH		64
#define RX_BYTES	1500
#define TX_BYTES	(4 + 8 + 1 + 1 + 5)
#define RCVBUF_BYTES	(8 * 1024 * 1024)

#define COAP_TYPE_CON	0
#define COAP_TYPE_NON	1
#define COAP_TYPE_ACK	2
#define COAP_CONTENT	0x45	/* 2.05 */

struct responder {
	int			 fd;
	uint16_t		 next_mid;	/* for NON answers */
	uint8_t			 rx[BATCH][RX_BYTES];
	uint8_t			 tx[BATCH][TX_BYTES];
	struct sockaddr_storage	 peer[BATCH];
	struct iovec		 rxv[BATCH], txv[BATCH];
	struct mmsghdr		 rxm[BATCH], txm[BATCH];
};

static bool
addr_is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (ss->ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)ss;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	sin6 = (const struct sockaddr_in6 *)ss;
	return ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
}

static int
sock_open(const char *addr, int port, int rcvbuf)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	int			 fd, got;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		len = sizeof(*sin6);
	} else {
		fprintf(stderr, "coap-responder: %s: not a numeric address\n",
		    addr);
		return -EINVAL;
	}
	if (!addr_is_loopback(&ss)) {
		fprintf(stderr, "coap-responder: %s: refused, loopback "
		    "only\n", addr);
		return -EPERM;
	}
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	/* FORCE passes net.core.rmem_max, but only with CAP_NET_ADMIN */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
	    sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	len = sizeof(got);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0)
		fprintf(stderr, "coap-responder: %s port %d, SO_RCVBUF %d\n",
		    addr, port, got);
	len = ss.ss_family == AF_INET ? sizeof(*sin) : sizeof(*sin6);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/*
 * Turn request m into its answer at out; 0 if it gets none.  RFC 7252 §5.2.1:
 * a CON is answered by a piggybacked ACK with the same MID; a NON by a NON
 * with a MID of our own.
 */
static size_t
answer(struct responder *r, const uint8_t *m, size_t len, uint8_t *out)
{
	unsigned	type, tkl;
	size_t		n;

	if (len < 4 || m[0] >> 6 != 1)
		return 0;
	type = (m[0] >> 4) & 3;
	tkl = m[0] & 15;
	if (tkl > 8 || len < 4 + tkl)
		return 0;
	if (m[1] == 0 || m[1] >> 5 != 0)	/* empty, or not a request */
		return 0;
	if (type == COAP_TYPE_CON) {
		out[0] = (uint8_t)(1 << 6 | COAP_TYPE_ACK << 4 | tkl);
		out[2] = m[2];
		out[3] = m[3];
	} else if (type == COAP_TYPE_NON) {
		out[0] = (uint8_t)(1 << 6 | COAP_TYPE_NON << 4 | tkl);
		out[2] = (uint8_t)(r->next_mid >> 8);
		out[3] = (uint8_t)r->next_mid;
		r->next_mid++;
	} else
		return 0;
	out[1] = COAP_CONTENT;
	memcpy(out + 4, m + 4, tkl);
	n = 4 + tkl;
	out[n++] = 0xc0;	/* Content-Format (12), length 0: text/plain */
	out[n++] = 0xff;
	memcpy(out + n, "hello", 5);
	return n + 5;
}

static void
serve(struct responder *r)
{
	int	i, n, k, j, s;
	size_t	len;

	for (i = 0; i < BATCH; i++) {
		r->rxv[i].iov_base = r->rx[i];
		r->rxv[i].iov_len = RX_BYTES;
		r->rxm[i].msg_hdr.msg_iov = &r->rxv[i];
		r->rxm[i].msg_hdr.msg_iovlen = 1;
		r->txv[i].iov_base = r->tx[i];
		r->txm[i].msg_hdr.msg_iov = &r->txv[i];
		r->txm[i].msg_hdr.msg_iovlen = 1;
	}
	for (;;) {
		for (i = 0; i < BATCH; i++) {
			r->rxm[i].msg_hdr.msg_name = &r->peer[i];
			r->rxm[i].msg_hdr.msg_namelen = sizeof(r->peer[i]);
		}
		/* block for the first datagram, then take what is queued */
		n = recvmmsg(r->fd, r->rxm, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("coap-responder: recvmmsg");
			return;
		}
		for (i = 0, k = 0; i < n; i++) {
			len = answer(r, r->rx[i], r->rxm[i].msg_len, r->tx[k]);
			if (len == 0)
				continue;
			r->txv[k].iov_len = len;
			r->txm[k].msg_hdr.msg_name = &r->peer[i];
			r->txm[k].msg_hdr.msg_namelen =
			    r->rxm[i].msg_hdr.msg_namelen;
			k++;
		}
		for (j = 0; j < k; j += s) {
			s = sendmmsg(r->fd, r->txm + j, (unsigned)(k - j), 0);
			if (s <= 0)
				s = 1;	/* drop the one that failed, as UDP
					   would, and go on with the rest */
		}
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: coap-responder [-a addr] [-p port] "
	    "[-b rcvbuf_bytes] [-l lifetime_s]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct responder	 r;
	const char		*addr = "127.0.0.1";
	long			 port = 5683, rcvbuf = RCVBUF_BYTES;
	long			 life = 0;
	char			*e;
	int			 ch;

	while ((ch = getopt(argc, argv, "a:p:b:l:")) != -1) {
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = strtol(optarg, &e, 10);
			if (*e != '\0' || port < 1 || port > 65535)
				usage();
			break;
		case 'b':
			rcvbuf = strtol(optarg, &e, 10);
			if (*e != '\0' || rcvbuf < 4096 || rcvbuf > 1L << 30)
				usage();
			break;
		case 'l':
			life = strtol(optarg, &e, 10);
			if (*e != '\0' || life < 0 || life > 86400)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if ((r.fd = sock_open(addr, (int)port, (int)rcvbuf)) < 0) {
		if (r.fd != -EINVAL && r.fd != -EPERM)
			fprintf(stderr, "coap-responder: %s port %ld: %s\n",
			    addr, port, strerror(-r.fd));
		return 1;
	}
	/* SIGALRM's default action ends us: the safety net for -l */
	if (life > 0)
		alarm((unsigned)life);
	serve(&r);
	return 1;
}
