/*
 * min-backend.c - the smallest coapd backend, for the benchmark: binds a
 * Unix datagram socket at argv[1] and answers every confirmable request
 * with a piggybacked 2.05 Content "ok" (same Message ID and token); a
 * non-confirmable request gets a NON 2.05, a CoAP ping an RST, anything
 * else nothing.  SIGINT or SIGTERM removes the socket and ends it.
 *
 *	cc -O2 -o build/min-backend tests/backend/min-backend.c
 *	build/min-backend /run/app.sock
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* SOCK_CLOEXEC, struct sigaction with -std=c11 */
#endif
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CON	0u
#define NON	1u
#define ACK	2u
#define RST	3u

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct sigaction	 sa = { .sa_handler = on_signal };
	uint8_t			 in[1280], out[32];
	uint16_t		 mid = 0;
	int			 fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: min-backend SOCKET_PATH\n");
		return 2;
	}
	strcpy(sun.sun_path, argv[1]);
	/* no SA_RESTART: recvfrom returns EINTR and the loop sees stop */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		perror("socket");
		return 1;
	}
	unlink(sun.sun_path);		/* one left by an earlier run */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		perror(sun.sun_path);
		return 1;
	}
	while (!stop) {
		struct sockaddr_storage	 peer;
		socklen_t		 plen = sizeof(peer);
		ssize_t			 n;
		size_t			 tkl, len;
		unsigned		 type;

		n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&peer,
		    &plen);
		if (n == -1) {
			if (errno != EINTR)
				perror("recvfrom");
			continue;
		}
		/* an unbound sender cannot get an answer */
		if (plen <= offsetof(struct sockaddr_un, sun_path))
			continue;
		if (n < 4 || in[0] >> 6 != 1 || (tkl = in[0] & 15) > 8 ||
		    (size_t)n < 4 + tkl)
			continue;	/* not CoAP: ignored */
		type = in[0] >> 4 & 3;
		if (type == CON && in[1] == 0) {	/* ping: RST */
			out[0] = 0x40 | RST << 4;
			out[1] = 0;
			memcpy(out + 2, in + 2, 2);
			len = 4;
		} else if ((type == CON || type == NON) && in[1] >> 5 == 0 &&
		    in[1] != 0) {			/* a request */
			out[0] = (uint8_t)(0x40u | (type == CON ? ACK : NON) << 4 |
			    tkl);
			out[1] = 2 << 5 | 5;		/* 2.05 Content */
			if (type == CON) {
				memcpy(out + 2, in + 2, 2);
			} else {
				mid++;
				out[2] = (uint8_t)(mid >> 8);
				out[3] = (uint8_t)mid;
			}
			memcpy(out + 4, in + 4, tkl);
			len = 4 + tkl;
			out[len++] = 0xc0;	/* Content-Format (12): 0, text */
			out[len++] = 0xff;
			out[len++] = 'o';
			out[len++] = 'k';
		} else {
			continue;		/* ACK, RST, a response */
		}
		if (sendto(fd, out, len, 0, (struct sockaddr *)&peer, plen) ==
		    -1 && errno != EINTR)
			perror("sendto");
	}
	unlink(sun.sun_path);
	return 0;
}
