/*
 * rcvbuf.so - LD_PRELOAD shim for `make bench`: gives every UDP socket a
 * program binds the receive buffer named by $BENCH_RCVBUF (bytes).
 *
 * libcoap's coap-server-notls keeps the kernel's default receive buffer
 * (net.core.rmem_default, 208 KiB here), which holds fewer datagrams than the
 * 512 requests a 64x8 closed-loop run keeps in flight: the kernel drops the
 * excess (ss shows it as skmem d...), and every dropped request parks its
 * client slot until the bench's timeout.  That was the "640 lost per run"
 * and most of libcoap's low figure.  coapd and the responder ask for 16 and
 * 8 MiB themselves; with this shim libcoap gets the same as the responder,
 * so the three are measured on the same socket budget.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/socket.h>

#include <dlfcn.h>
#include <stdlib.h>

int
bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real_bind)(int, const struct sockaddr *, socklen_t);
	const char *v = getenv("BENCH_RCVBUF");
	socklen_t tl = sizeof(int);
	int type = 0, n;

	if (real_bind == NULL)
		real_bind = (int (*)(int, const struct sockaddr *,
		    socklen_t))dlsym(RTLD_NEXT, "bind");
	if (v != NULL && (n = atoi(v)) > 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
	    type == SOCK_DGRAM &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &n, sizeof(n)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
	return real_bind(fd, sa, len);
}
