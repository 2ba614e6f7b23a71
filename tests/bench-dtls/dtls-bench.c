/*
 * dtls-bench.c - load generator for CoAP over DTLS 1.2 with a pre-shared
 * key (wolfSSL client).  A test tool, not part of coapd: it may include
 * wolfSSL (the one-owner rule is for src/).
 *
 *   dtls-bench rps HOST PORT PATH ID KEY SESSIONS WINDOW SECONDS [THREADS]
 *	SESSIONS established sessions (spread over THREADS threads, default
 *	2), each keeping WINDOW CON GETs in flight; prints requests/s.
 *   dtls-bench hs HOST PORT ID KEY SECONDS [THREADS]
 *	full handshakes (cookie exchange included) back to back, each
 *	followed by close_notify; prints handshakes/s.
 *
 * KEY is the key as text (like libcoap's -k).  DTLS_BENCH_CIPHERS picks the
 * client's cipher list (default: the library's PSK suites).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

struct conf {
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	const char		*path;
	const char		*id;
	const char		*key;
	int			 sessions;
	int			 window;
	double			 seconds;
	int			 threads;
	WOLFSSL_CTX		*ctx;
};

static struct conf	 cf;
static atomic_ullong	 done_total;
static atomic_ullong	 fail_total;

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned int
psk_cb(WOLFSSL *ssl, const char *hint, char *identity, unsigned int idmax,
    unsigned char *key, unsigned int keymax)
{
	size_t	 n = strlen(cf.key);

	(void)ssl;
	(void)hint;
	snprintf(identity, idmax, "%s", cf.id);
	if (n > keymax)
		return 0;
	memcpy(key, cf.key, n);
	return (unsigned int)n;
}

/* A connected UDP socket and a finished handshake, or NULL. */
static WOLFSSL *
dial(int *fdp)
{
	struct pollfd	 pfd;
	WOLFSSL		*ssl;
	double		 deadline;
	int		 fd, r, e;

	fd = socket(cf.addr.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&cf.addr,
	    cf.addrlen) != 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	ssl = wolfSSL_new(cf.ctx);
	wolfSSL_set_fd(ssl, fd);
	wolfSSL_dtls_set_peer(ssl, &cf.addr, cf.addrlen);
	/*
	 * Non-blocking, with our own retransmission timer: a blocking
	 * wolfSSL_connect() waits forever for a lost datagram.
	 */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	wolfSSL_dtls_set_using_nonblock(ssl, 1);
	deadline = now_s() + 5;
	while ((r = wolfSSL_connect(ssl)) != WOLFSSL_SUCCESS) {
		e = wolfSSL_get_error(ssl, r);
		if ((e != WOLFSSL_ERROR_WANT_READ &&
		    e != WOLFSSL_ERROR_WANT_WRITE) || now_s() > deadline)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 1000 *
		    wolfSSL_dtls_get_current_timeout(ssl)) == 0 &&
		    wolfSSL_dtls_got_timeout(ssl) != WOLFSSL_SUCCESS)
			goto fail;
	}
	*fdp = fd;
	return ssl;
fail:
	wolfSSL_free(ssl);
	close(fd);
	return NULL;
}

/* CON GET path with MID mid and a 2-byte token. */
static int
build_get(uint8_t *b, uint16_t mid)
{
	const char	*p = cf.path, *e;
	int		 n = 0, prev = 0, len, delta;

	b[n++] = 0x42;		/* ver 1, CON, TKL 2 */
	b[n++] = 0x01;		/* GET */
	b[n++] = (uint8_t)(mid >> 8);
	b[n++] = (uint8_t)mid;
	b[n++] = (uint8_t)(mid >> 8);
	b[n++] = (uint8_t)mid;
	while (*p == '/')
		p++;
	while (*p != '\0') {
		e = strchr(p, '/');
		len = e ? (int)(e - p) : (int)strlen(p);
		delta = 11 - prev;
		prev = 11;
		if (len < 13)
			b[n++] = (uint8_t)(delta << 4 | len);
		else {
			b[n++] = (uint8_t)(delta << 4 | 13);
			b[n++] = (uint8_t)(len - 13);
		}
		memcpy(b + n, p, (size_t)len);
		n += len;
		p += len;
		while (*p == '/')
			p++;
	}
	return n;
}

struct sess {
	WOLFSSL		*ssl;
	int		 fd;
	int		 inflight;
	double		 last;
};

static void *
rps_thread(void *arg)
{
	int		 nsess = (int)(intptr_t)arg, i, n, ep, k;
	struct sess	*s = calloc((size_t)nsess, sizeof(*s));
	struct epoll_event ev, evs[64];
	uint8_t		 buf[2048];
	uint16_t	 mid = (uint16_t)random();
	unsigned long long done = 0, fail = 0;
	double		 end, t;

	ep = epoll_create1(0);
	for (i = 0; i < nsess; i++) {
		if ((s[i].ssl = dial(&s[i].fd)) == NULL) {
			fprintf(stderr, "handshake %d failed\n", i);
			exit(1);
		}
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, s[i].fd, &ev);
	}
	end = now_s() + cf.seconds;
	for (i = 0; i < nsess; i++) {
		for (k = 0; k < cf.window; k++) {
			n = build_get(buf, mid++);
			wolfSSL_write(s[i].ssl, buf, n);
		}
		s[i].inflight = cf.window;
		s[i].last = now_s();
	}
	while ((t = now_s()) < end) {
		n = epoll_wait(ep, evs, 64, 50);
		for (k = 0; k < n; k++) {
			struct sess *x = &s[evs[k].data.u32];
			int r;

			while ((r = wolfSSL_read(x->ssl, buf,
			    sizeof(buf))) > 0) {
				done++;
				x->last = t;
				r = build_get(buf, mid++);
				wolfSSL_write(x->ssl, buf, r);
			}
		}
		/* a lost datagram: refill the window after a second */
		for (i = 0; i < nsess; i++)
			if (t - s[i].last > 1.0) {
				fail += (unsigned long long)cf.window;
				for (k = 0; k < cf.window; k++) {
					n = build_get(buf, mid++);
					wolfSSL_write(s[i].ssl, buf, n);
				}
				s[i].last = t;
			}
	}
	atomic_fetch_add(&done_total, done);
	atomic_fetch_add(&fail_total, fail);
	for (i = 0; i < nsess; i++) {
		wolfSSL_shutdown(s[i].ssl);
		wolfSSL_free(s[i].ssl);
		close(s[i].fd);
	}
	close(ep);
	free(s);
	return NULL;
}

static void *
hs_thread(void *arg)
{
	unsigned long long done = 0, fail = 0;
	double		 end = now_s() + cf.seconds;
	WOLFSSL		*ssl;
	int		 fd;

	(void)arg;
	while (now_s() < end) {
		if ((ssl = dial(&fd)) == NULL) {
			fail++;
			continue;
		}
		done++;
		wolfSSL_shutdown(ssl);
		wolfSSL_free(ssl);
		close(fd);
	}
	atomic_fetch_add(&done_total, done);
	atomic_fetch_add(&fail_total, fail);
	return NULL;
}

static int
parse_addr(const char *host, const char *port)
{
	struct sockaddr_in	*a4 = (struct sockaddr_in *)&cf.addr;
	struct sockaddr_in6	*a6 = (struct sockaddr_in6 *)&cf.addr;

	memset(&cf.addr, 0, sizeof(cf.addr));
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)atoi(port));
		cf.addrlen = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)atoi(port));
		cf.addrlen = sizeof(*a6);
		return 0;
	}
	return -1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: dtls-bench rps HOST PORT PATH ID KEY SESSIONS "
	    "WINDOW SECONDS [THREADS]\n"
	    "       dtls-bench hs HOST PORT ID KEY SECONDS [THREADS]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	pthread_t	 th[64];
	const char	*ciphers = getenv("DTLS_BENCH_CIPHERS");
	double		 t0, t;
	int		 i, rps;

	if (argc < 2)
		usage();
	rps = strcmp(argv[1], "rps") == 0;
	if (rps && (argc == 10 || argc == 11)) {
		cf.path = argv[4];
		cf.id = argv[5];
		cf.key = argv[6];
		cf.sessions = atoi(argv[7]);
		cf.window = atoi(argv[8]);
		cf.seconds = atof(argv[9]);
		cf.threads = argc == 11 ? atoi(argv[10]) : 2;
	} else if (!rps && strcmp(argv[1], "hs") == 0 &&
	    (argc == 7 || argc == 8)) {
		cf.id = argv[4];
		cf.key = argv[5];
		cf.seconds = atof(argv[6]);
		cf.threads = argc == 8 ? atoi(argv[7]) : 2;
	} else
		usage();
	if (parse_addr(argv[2], argv[3]) != 0 || cf.threads < 1 ||
	    cf.threads > 64)
		usage();
	wolfSSL_Init();
	cf.ctx = wolfSSL_CTX_new(wolfDTLSv1_2_client_method());
	wolfSSL_CTX_set_psk_client_callback(cf.ctx, psk_cb);
	if (wolfSSL_CTX_set_cipher_list(cf.ctx, ciphers ? ciphers :
	    "PSK-AES128-CCM-8:PSK-CHACHA20-POLY1305:PSK-AES128-GCM-SHA256")
	    != WOLFSSL_SUCCESS &&
	    wolfSSL_CTX_set_cipher_list(cf.ctx, "PSK-CHACHA20-POLY1305") !=
	    WOLFSSL_SUCCESS) {
		fprintf(stderr, "no PSK cipher suite\n");
		return 1;
	}
	t0 = now_s();
	for (i = 0; i < cf.threads; i++)
		pthread_create(&th[i], NULL, rps ? rps_thread : hs_thread,
		    (void *)(intptr_t)(rps ? cf.sessions / cf.threads +
		    (i < cf.sessions % cf.threads) : 0));
	for (i = 0; i < cf.threads; i++)
		pthread_join(th[i], NULL);
	t = now_s() - t0;
	if (rps)
		printf("%.0f requests/s (%llu in %.1f s; %llu lost)\n",
		    (double)done_total / cf.seconds,
		    (unsigned long long)done_total, cf.seconds,
		    (unsigned long long)fail_total);
	else
		printf("%.0f handshakes/s (%llu in %.1f s; %llu failed)\n",
		    (double)done_total / t, (unsigned long long)done_total, t,
		    (unsigned long long)fail_total);
	wolfSSL_CTX_free(cf.ctx);
	wolfSSL_Cleanup();
	return 0;
}
