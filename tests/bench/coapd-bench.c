/*
 * coapd-bench - a CoAP (RFC 7252) load generator for loopback benchmarks.
 *
 * Self-contained: it carries its own few lines of CoAP encoding and decoding
 * and links nothing of coapd.  Every client is its own connected UDP socket
 * (its own source port, so the server sees that many peers) and keeps up to
 * -n requests in flight.  Responses are matched by token, and piggybacked
 * ACKs also by Message ID.  Requests are never retransmitted: one that gets
 * no answer within --timeout is counted as lost and its slot is reused.
 *
 * Only loopback targets are accepted (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)
 * and every run is bounded: duration at most MAX_DURATION_S, drain at most
 * the timeout.
 *
 * Two I/O engines, picked by -E or, by default, by the load's shape:
 *
 *  uring  (one request in flight per client, or more clients than file
 *         descriptors) io_uring through the raw system calls, since the
 *         bench must not link liburing.  Client sockets are "direct
 *         descriptors" in the ring's registered file table, so 20,000
 *         clients do not need 20,000 entries in the fd table (RLIMIT_NOFILE
 *         still bounds the table per ring; -T splits it).  Each socket has
 *         one multishot recv drawing on a provided-buffer ring; sends are
 *         SQEs whose completions are skipped unless they fail.  One
 *         io_uring_enter per loop turn submits every send and reaps every
 *         answer: no system call per request, which with one request per
 *         socket is most of what the epoll engine costs on a PTI kernel.
 *  epoll  (4 or more in flight per client) one epoll over the sockets,
 *         recvmmsg(2) to read all answers queued on a socket and one send
 *         to refill its free slots.  Also the fallback when io_uring is
 *         unavailable (seccomp, sysctl, old kernel).
 *
 * Both engines send the requests due on one socket as one UDP GSO send
 * (UDP_SEGMENT): the kernel splits it into one datagram per request before
 * the server's socket queue (unless the server asked for UDP_GRO), so the
 * server sees exactly what separate sends would give it, while the bench
 * pays the send path once per batch.  --no-gso turns it off.
 *
 * Latencies go into a log-linear histogram (64 sub-buckets per power of two,
 * < 1.6 % error), never a sorted array of samples.  The main thread only
 * sleeps and samples /proc/PID/stat at the window's edges.
 */
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <linux/io_uring.h>

#include <netinet/in.h>
#include <netinet/udp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DURATION_S		120
#define MAX_WARMUP_S		30
#define MAX_CLIENTS		200000
#define MAX_INFLIGHT		4096
#define MAX_SLOTS		4000000	/* clients x in-flight */
#define MAX_THREADS		64
#define MAX_PAYLOAD		60000
#define MAX_TIMEOUT_MS		10000
#define BATCH			64	/* datagrams per sendmmsg/recvmmsg */
#define RX_BYTES		2048	/* more than any answer we inspect */
#define EVENTS			1024
#define SWEEP_NS		(100 * NSEC_PER_MSEC)
#define PACED_BURST		4096	/* sends per loop turn, paced mode */
#define NSEC_PER_SEC		1000000000ULL
#define NSEC_PER_MSEC		1000000ULL
#define TOKEN_LEN		8	/* slot index + sequence number */
#define URING_SQ		4096
#define URING_CQ_MAX		(1u << 18)
#define URING_BUF_BYTES		128	/* answers are truncated: we read the
					   header and token only */
#define URING_BUFS_MAX		32768	/* provided-buffer ring limit */
#define URING_FD_CHUNK		256	/* sockets opened per table update */

#define STAGE_BYTES		(4u << 20) /* uring: GSO batches in flight */
#define GSO_MAX_SEGS		64	/* UDP_MAX_SEGMENTS of older kernels */
#define GSO_MAX_BYTES		65000	/* one UDP datagram before splitting */

/*
 * io_uring user_data: kind:2, then
 *   UD_SEND	slot:12 | seq:18 | client:32
 *   UD_SENDG	count:7 | stage offset:23 | client:32
 *   UD_RECV, UD_ACK	client:32
 */
#define UD_ACK			0ULL
#define UD_RECV			1ULL
#define UD_SEND			2ULL
#define UD_SENDG		3ULL
#define UD_SEQ_MASK		0x3ffffU

#define COAP_VERSION		1
#define COAP_TYPE_CON		0
#define COAP_TYPE_NON		1
#define COAP_TYPE_ACK		2
#define COAP_TYPE_RST		3
#define COAP_OPT_URI_PATH	11
#define COAP_OPT_CONTENT_FORMAT	12

/* Log-linear histogram of nanoseconds. */
#define H_SUB_BITS		6
#define H_SUB			(1u << H_SUB_BITS)
#define H_BUCKETS		((64 - H_SUB_BITS + 1) * H_SUB)

struct hist {
	uint64_t	 count;
	uint64_t	 max;
	uint64_t	 b[H_BUCKETS];
};

/* One request slot of a client. */
struct slot {
	uint64_t	 sent_ns;	/* 0 when free */
	uint32_t	 seq;		/* second half of the token */
	uint16_t	 mid;
	bool		 acked;		/* empty ACK seen, answer to follow */
	bool		 in_window;	/* sent inside the measured window */
};

struct client {
	int		 fd;		/* epoll: socket; uring: table index */
	uint32_t	 id;		/* index in its worker */
	uint8_t		 ack[4];	/* uring: empty ACK being sent */
	bool		 rearm;		/* uring: recv to be armed again */
	uint16_t	 next_mid;
	uint32_t	 next_seq;
	uint32_t	 nfree;
	uint32_t	*free;		/* stack of free slot indices */
	struct slot	*slots;
};

struct stats {
	uint64_t	 sent;		/* requests sent inside the window */
	uint64_t	 rx_window;	/* answers received inside the window */
	uint64_t	 done;		/* window requests answered */
	uint64_t	 c2xx, c4xx, c5xx, cother;
	uint64_t	 rst;
	uint64_t	 lost;		/* window requests never answered */
	uint64_t	 err_send;
	uint64_t	 err_recv;
	uint64_t	 unmatched;	/* late, duplicate or foreign answers */
	uint64_t	 bad;		/* not parseable as CoAP */
	uint64_t	 skipped;	/* paced sends with no free slot */
	uint64_t	 empty_ack;
	struct hist	 h;
};

enum engine {
	ENGINE_AUTO = 0,
	ENGINE_URING,
	ENGINE_EPOLL,
};

/* The parts of an io_uring instance that user space touches. */
struct uring {
	int			 fd;
	unsigned		*sq_head, *sq_tail, *sq_array, sq_mask;
	unsigned		 sq_entries;
	unsigned		 sq_local;	/* next SQE to fill */
	struct io_uring_sqe	*sqes;
	unsigned		*cq_head, *cq_tail, cq_mask;
	struct io_uring_cqe	*cqes;
	struct io_uring_buf_ring *br;		/* provided buffers */
	unsigned		 br_mask;
	unsigned short		 br_tail;
	uint8_t			*bufs;
	unsigned		 flags;		/* setup flags that stuck */
};

struct bench;

struct worker {
	pthread_t	 tid;
	struct bench	*b;
	enum engine	 engine;	/* resolved: URING or EPOLL */
	int		 epfd;
	struct uring	 u;
	uint8_t		*img;		/* uring: one request image per slot */
	uint8_t		*stage;		/* uring: GSO batches, used in turn */
	size_t		 stage_off;
	bool		 gso;		/* UDP_SEGMENT works on our sockets */
	unsigned	 gso_max;	/* requests per GSO send */
	struct client	*cl;
	size_t		 ncl;
	size_t		 rr;		/* paced round-robin cursor */
	double		 rate;		/* requests per second, 0 = closed */
	uint64_t	 paced_n;	/* paced requests issued (or skipped) */
	uint64_t	 inflight;	/* busy slots in the window */
	struct stats	 st;
	size_t		 first;		/* index of our first client overall */
	uint8_t		*txbuf;		/* BATCH request images */
	size_t		 txlen;		/* bytes of one request image */
	uint8_t		*rxbuf;		/* BATCH answer buffers */
	struct mmsghdr	 txm[BATCH];
	struct iovec	 txv[BATCH];
	struct mmsghdr	 rxm[BATCH];
	struct iovec	 rxv[BATCH];
	uint32_t	 txslot[BATCH];
	int		 err;
};

struct bench {
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			 addrstr[INET6_ADDRSTRLEN];
	int			 port;
	const char		*uri;
	int			 type;
	int			 method;
	long			 clients;
	long			 nslots;	/* -n: in flight per client */
	long			 duration_s;
	long			 warmup_s;
	double			 rate;
	long			 payload;
	long			 pid;
	long			 threads;
	long			 timeout_ms;
	enum engine		 engine;
	bool			 oneline;
	bool			 no_gso;
	long			 sources;	/* 127.0.0.1 .. 127.0.0.N */

	uint8_t			*tmpl;		/* options + payload */
	size_t			 tmpl_len;
	uint64_t		 t_start;	/* CLOCK_MONOTONIC ns */
	uint64_t		 t_measure;
	uint64_t		 t_end;
	uint64_t		 timeout_ns;
	pthread_barrier_t	 ready;		/* every worker set up */
	pthread_barrier_t	 go;		/* times are set */
	bool			 abort;
	struct worker		*w;
};

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void
sleep_until(uint64_t t)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)(t / NSEC_PER_SEC);
	ts.tv_nsec = (long)(t % NSEC_PER_SEC);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

static unsigned
hist_index(uint64_t v)
{
	unsigned	e, shift;

	if (v < 2 * H_SUB)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v);
	shift = e - H_SUB_BITS;
	return (shift + 1) * H_SUB + (unsigned)(v >> shift) - H_SUB;
}

/* Midpoint of a bucket: what a percentile falling into it reports. */
static uint64_t
hist_value(unsigned idx)
{
	unsigned	shift;
	uint64_t	low;

	if (idx < 2 * H_SUB)
		return idx;
	shift = idx / H_SUB - 1;
	low = (uint64_t)(idx % H_SUB + H_SUB) << shift;
	return low + ((1ULL << shift) >> 1);
}

static void
hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

static void
hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned	i;

	for (i = 0; i < H_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	if (src->max > dst->max)
		dst->max = src->max;
}

static uint64_t
hist_pct(const struct hist *h, double q)
{
	uint64_t	rank, cum = 0;
	unsigned	i;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->count + 0.999999);
	if (rank == 0)
		rank = 1;
	for (i = 0; i < H_BUCKETS; i++) {
		cum += h->b[i];
		if (cum >= rank) {
			uint64_t v = hist_value(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

static bool
addr_is_loopback(const struct sockaddr_storage *ss)
{
	static const uint8_t	 v4mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (ss->ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)ss;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		return memcmp(sin6->sin6_addr.s6_addr, v4mapped, 12) == 0 &&
		    sin6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

/* Numeric literals only: no resolver, so nothing can point elsewhere. */
static int
addr_parse(const char *s, int port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	char			 buf[INET6_ADDRSTRLEN + 2];
	size_t			 n;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return 0;
	}
	/* accept "[::1]" as well as "::1" */
	n = strlen(s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		s = buf;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

/* Option header: 4-bit delta and length with their 8/16-bit extensions. */
static size_t
opt_encode(uint8_t *p, unsigned delta, const void *val, size_t len)
{
	uint8_t	*q = p + 1;
	unsigned dn, ln;

	if (delta < 13)
		dn = delta;
	else if (delta < 269)
		dn = 13;
	else
		dn = 14;
	if (len < 13)
		ln = (unsigned)len;
	else if (len < 269)
		ln = 13;
	else
		ln = 14;
	p[0] = (uint8_t)(dn << 4 | ln);
	if (dn == 13)
		*q++ = (uint8_t)(delta - 13);
	else if (dn == 14) {
		*q++ = (uint8_t)((delta - 269) >> 8);
		*q++ = (uint8_t)(delta - 269);
	}
	if (ln == 13)
		*q++ = (uint8_t)(len - 13);
	else if (ln == 14) {
		*q++ = (uint8_t)((len - 269) >> 8);
		*q++ = (uint8_t)(len - 269);
	}
	if (len > 0)
		memcpy(q, val, len);
	return (size_t)(q - p) + len;
}

/*
 * Everything of a request after the token is the same for every request:
 * build it once.  Uri-Path segments come from the path split at '/'.
 */
static int
tmpl_build(struct bench *b)
{
	const char	*s, *e;
	size_t		 cap, n = 0;
	unsigned	 last = 0;
	uint8_t		*p;

	cap = 3 * strlen(b->uri) + 8 + 1 + (size_t)b->payload + 16;
	if ((p = malloc(cap)) == NULL)
		return -ENOMEM;
	for (s = b->uri; *s != '\0'; s = e) {
		while (*s == '/')
			s++;
		if (*s == '\0')
			break;
		for (e = s; *e != '\0' && *e != '/'; e++)
			;
		if ((size_t)(e - s) > 255) {
			free(p);
			return -ENAMETOOLONG;
		}
		n += opt_encode(p + n, COAP_OPT_URI_PATH - last, s,
		    (size_t)(e - s));
		last = COAP_OPT_URI_PATH;
	}
	if (b->payload > 0) {
		/* text/plain (0): a zero-length uint option */
		n += opt_encode(p + n, COAP_OPT_CONTENT_FORMAT - last, NULL, 0);
		p[n++] = 0xff;
		memset(p + n, 'x', (size_t)b->payload);
		n += (size_t)b->payload;
	}
	b->tmpl = p;
	b->tmpl_len = n;
	return 0;
}

static void
slot_release(struct client *c, uint32_t idx)
{
	c->slots[idx].sent_ns = 0;
	c->free[c->nfree++] = idx;
}

/*
 * Take a free slot of c for a new request and write the request's header
 * and token at p (the options and payload are already there).
 */
static uint32_t
slot_take(struct worker *w, struct client *c, uint8_t *p, uint64_t now)
{
	struct bench	*b = w->b;
	struct slot	*sl;
	uint32_t	 idx = c->free[--c->nfree];

	sl = &c->slots[idx];
	sl->seq = c->next_seq++;
	sl->mid = c->next_mid++;
	sl->acked = false;
	sl->in_window = now >= b->t_measure && now < b->t_end;
	sl->sent_ns = now;
	p[0] = (uint8_t)(COAP_VERSION << 6 | b->type << 4 | TOKEN_LEN);
	p[1] = (uint8_t)b->method;
	p[2] = (uint8_t)(sl->mid >> 8);
	p[3] = (uint8_t)sl->mid;
	/* the token means something to us only: native byte order */
	memcpy(p + 4, &idx, 4);
	memcpy(p + 8, &sl->seq, 4);
	if (sl->in_window) {
		w->st.sent++;
		w->inflight++;
	}
	return idx;
}

/* Undo slot_take() for a request that never left. */
static void
slot_unsend(struct worker *w, struct client *c, uint32_t idx)
{
	if (c->slots[idx].in_window) {
		w->st.sent--;
		w->inflight--;
	}
	slot_release(c, idx);
}

/* ---- io_uring engine ------------------------------------------------- */

static int
sys_uring_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int
sys_uring_enter(int fd, unsigned submit, unsigned wait, unsigned flags,
    void *arg, size_t argsz)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, arg,
	    argsz);
}

static int
sys_uring_register(int fd, unsigned op, const void *arg, unsigned nr)
{
	return (int)syscall(__NR_io_uring_register, fd, op, arg, nr);
}

static unsigned
pow2_at_least(uint64_t v)
{
	unsigned	p = 1;

	while (p < v && p < (1u << 30))
		p <<= 1;
	return p;
}

static uint64_t
ud_make(uint64_t kind, uint32_t slot, uint32_t seq, uint32_t client)
{
	return kind << 62 | (uint64_t)(slot & 0xfff) << 50 |
	    (uint64_t)(seq & UD_SEQ_MASK) << 32 | client;
}

/*
 * Create the ring.  Newer setup flags are tried first and dropped when the
 * kernel refuses them: DEFER_TASKRUN (6.1) runs completion work only when we
 * ask for completions, in this thread, instead of interrupting us per answer.
 */
static int
uring_setup(struct uring *u, unsigned cq_entries)
{
	static const unsigned	 tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	struct io_uring_params	 p;
	size_t			 ring_sz, cq_sz;
	uint8_t			*ring;
	unsigned		 i;
	int			 fd = -1, e;

	for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP |
		    IORING_SETUP_SUBMIT_ALL;
		p.cq_entries = cq_entries;
		if ((fd = sys_uring_setup(URING_SQ, &p)) >= 0)
			break;
		if (errno != EINVAL)
			return -errno;
	}
	if (fd < 0)
		return -errno;
	if ((p.features & IORING_FEAT_SINGLE_MMAP) == 0 ||
	    (p.features & IORING_FEAT_EXT_ARG) == 0) {
		close(fd);
		return -ENOSYS;
	}
	ring_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (cq_sz > ring_sz)
		ring_sz = cq_sz;
	ring = mmap(NULL, ring_sz, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	if (ring == MAP_FAILED)
		goto fail;
	u->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
	    IORING_OFF_SQES);
	if (u->sqes == MAP_FAILED)
		goto fail;
	u->fd = fd;
	u->flags = p.flags;
	u->sq_head = (unsigned *)(ring + p.sq_off.head);
	u->sq_tail = (unsigned *)(ring + p.sq_off.tail);
	u->sq_mask = *(unsigned *)(ring + p.sq_off.ring_mask);
	u->sq_entries = p.sq_entries;
	u->sq_array = (unsigned *)(ring + p.sq_off.array);
	/* SQE i always sits in array slot i: we fill them in ring order */
	for (i = 0; i < p.sq_entries; i++)
		u->sq_array[i] = i;
	u->sq_local = *u->sq_tail;
	u->cq_head = (unsigned *)(ring + p.cq_off.head);
	u->cq_tail = (unsigned *)(ring + p.cq_off.tail);
	u->cq_mask = *(unsigned *)(ring + p.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)(ring + p.cq_off.cqes);
	return 0;
fail:
	e = errno;
	close(fd);
	return -e;
}

/*
 * Publish the SQEs filled so far and enter the kernel: submit them and, when
 * wait is set, return after one completion or timeout_ns.
 */
static int
uring_enter(struct uring *u, bool wait, uint64_t timeout_ns)
{
	struct io_uring_getevents_arg	 arg;
	struct __kernel_timespec	 ts;
	unsigned			 submit;
	int				 r;

	__atomic_store_n(u->sq_tail, u->sq_local, __ATOMIC_RELEASE);
	submit = u->sq_local - __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE);
	if (!wait) {
		if (submit == 0)
			return 0;
		r = sys_uring_enter(u->fd, submit, 0, 0, NULL, 0);
	} else {
		memset(&arg, 0, sizeof(arg));
		ts.tv_sec = (long long)(timeout_ns / NSEC_PER_SEC);
		ts.tv_nsec = (long long)(timeout_ns % NSEC_PER_SEC);
		arg.ts = (uint64_t)(uintptr_t)&ts;
		r = sys_uring_enter(u->fd, submit, 1,
		    IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg,
		    sizeof(arg));
	}
	if (r < 0 && (errno == ETIME || errno == EINTR))
		return 0;
	return r < 0 ? -errno : r;
}

/* Next free SQE, submitting first when the queue is full; NULL if stuck. */
static struct io_uring_sqe *
uring_sqe(struct uring *u)
{
	struct io_uring_sqe	*sqe;

	if (u->sq_local - __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE) >=
	    u->sq_entries) {
		if (uring_enter(u, false, 0) <= 0)
			return NULL;
	}
	sqe = &u->sqes[u->sq_local & u->sq_mask];
	memset(sqe, 0, sizeof(*sqe));
	u->sq_local++;
	return sqe;
}

static void
uring_buf_put(struct uring *u, unsigned bid)
{
	struct io_uring_buf	*buf = &u->br->bufs[u->br_tail & u->br_mask];

	buf->addr = (uint64_t)(uintptr_t)(u->bufs + (size_t)bid *
	    URING_BUF_BYTES);
	buf->len = URING_BUF_BYTES;
	buf->bid = (uint16_t)bid;
	u->br_tail++;
}

static int
uring_bufs(struct uring *u, unsigned n)
{
	struct io_uring_buf_reg	reg;
	unsigned		i;

	u->br = mmap(NULL, n * sizeof(struct io_uring_buf),
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u->br == MAP_FAILED)
		return -errno;
	if ((u->bufs = malloc((size_t)n * URING_BUF_BYTES)) == NULL)
		return -ENOMEM;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)u->br;
	reg.ring_entries = n;
	reg.bgid = 0;
	if (sys_uring_register(u->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
		return -errno;
	u->br_mask = n - 1;
	for (i = 0; i < n; i++)
		uring_buf_put(u, i);
	__atomic_store_n(&u->br->tail, u->br_tail, __ATOMIC_RELEASE);
	return 0;
}

static int
sock_connect(struct worker *w)
{
	const struct bench	*b = w->b;
	int			 fd, e, seg = (int)w->txlen;

	fd = socket(b->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * --sources N: clients take source addresses 127.0.0.1..N in turn,
	 * so a server that steers by source address (coapd) spreads them
	 * over its workers as it would real hosts.
	 */
	if (b->sources > 1 && b->addr.ss_family == AF_INET) {
		static unsigned long	 next_src;
		struct sockaddr_in	 src;
		unsigned long		 k;

		k = __atomic_fetch_add(&next_src, 1, __ATOMIC_RELAXED);
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000001u +
		    (uint32_t)(k % (unsigned long)b->sources));
		if (bind(fd, (const struct sockaddr *)&src,
		    sizeof(src)) < 0) {
			e = errno;
			close(fd);
			return -e;
		}
	}
	if (connect(fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	/* sends longer than one request are split into requests */
	if (w->gso && setsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &seg,
	    sizeof(seg)) < 0)
		w->gso = false;
	return fd;
}

/*
 * Open the clients' sockets a chunk at a time, move them into the ring's
 * file table and close the ordinary descriptors again.
 */
static int
uring_clients(struct worker *w)
{
	struct io_uring_rsrc_register	 rr;
	struct io_uring_files_update	 up;
	int				 fds[URING_FD_CHUNK];
	size_t				 i, j, n;
	int				 r = 0;

	memset(&rr, 0, sizeof(rr));
	rr.nr = (uint32_t)w->ncl;
	rr.flags = IORING_RSRC_REGISTER_SPARSE;
	if (sys_uring_register(w->u.fd, IORING_REGISTER_FILES2, &rr,
	    sizeof(rr)) < 0)
		return -errno;
	for (i = 0; i < w->ncl; i += n) {
		n = w->ncl - i < URING_FD_CHUNK ? w->ncl - i : URING_FD_CHUNK;
		for (j = 0; j < n; j++)
			fds[j] = -1;
		for (j = 0; j < n && r == 0; j++)
			if ((fds[j] = sock_connect(w)) < 0)
				r = fds[j];
		if (r == 0) {
			memset(&up, 0, sizeof(up));
			up.offset = (uint32_t)i;
			up.fds = (uint64_t)(uintptr_t)fds;
			if (sys_uring_register(w->u.fd,
			    IORING_REGISTER_FILES_UPDATE, &up, (unsigned)n) !=
			    (int)n)
				r = errno != 0 ? -errno : -EIO;
		}
		for (j = 0; j < n; j++)
			if (fds[j] >= 0)
				close(fds[j]);
		if (r < 0)
			return r;
		for (j = 0; j < n; j++)
			w->cl[i + j].fd = (int)(i + j);
	}
	return 0;
}

/* One multishot recv per socket, refilled from the provided buffers. */
static void
uring_arm(struct worker *w, struct client *c)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = uring_sqe(&w->u)) == NULL) {
		c->rearm = true;	/* the sweep tries again */
		return;
	}
	sqe->opcode = IORING_OP_RECV;
	sqe->flags = IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe->ioprio = IORING_RECV_MULTISHOT;
	sqe->fd = c->fd;
	sqe->buf_group = 0;
	sqe->user_data = ud_make(UD_RECV, 0, 0, c->id);
	c->rearm = false;
}

/*
 * Several requests for c in one GSO send from the stage area.  The area is
 * reused in turn: a UDP send is normally done when the SQE is submitted,
 * and one still waiting for send buffer space by the time 4 MiB of later
 * batches went out would be a very stuck socket.
 */
static unsigned
uring_send_gso(struct worker *w, struct client *c, unsigned want,
    uint64_t now)
{
	struct bench		*b = w->b;
	struct io_uring_sqe	*sqe;
	uint8_t			*p, *q;
	unsigned		 i, k;

	k = want < c->nfree ? want : c->nfree;
	if (k > w->gso_max)
		k = w->gso_max;
	if (w->stage_off + k * w->txlen > STAGE_BYTES)
		w->stage_off = 0;
	if ((sqe = uring_sqe(&w->u)) == NULL) {
		w->st.err_send++;
		return 0;
	}
	p = w->stage + w->stage_off;
	for (i = 0; i < k; i++) {
		q = p + (size_t)i * w->txlen;
		memcpy(q + 4 + TOKEN_LEN, b->tmpl, b->tmpl_len);
		slot_take(w, c, q, now);
	}
	sqe->opcode = IORING_OP_SEND;
	sqe->flags = IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
	sqe->fd = c->fd;
	sqe->addr = (uint64_t)(uintptr_t)p;
	sqe->len = (uint32_t)(k * w->txlen);
	sqe->user_data = UD_SENDG << 62 | (uint64_t)k << 55 |
	    (uint64_t)w->stage_off << 32 | c->id;
	w->stage_off += k * w->txlen;
	return k;
}

static unsigned
uring_send(struct worker *w, struct client *c, unsigned want, uint64_t now)
{
	struct io_uring_sqe	*sqe;
	uint8_t			*p;
	uint32_t		 idx;
	unsigned		 i;

	if (w->gso && want > 1 && c->nfree > 1)
		return uring_send_gso(w, c, want, now);
	for (i = 0; i < want && c->nfree > 0; i++) {
		if ((sqe = uring_sqe(&w->u)) == NULL) {
			w->st.err_send++;
			break;
		}
		idx = c->free[c->nfree - 1];
		/* each slot owns its image: the kernel may read it late */
		p = w->img + ((size_t)c->id * (size_t)w->b->nslots + idx) *
		    w->txlen;
		slot_take(w, c, p, now);
		sqe->opcode = IORING_OP_SEND;
		sqe->flags = IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
		sqe->fd = c->fd;
		sqe->addr = (uint64_t)(uintptr_t)p;
		sqe->len = (uint32_t)w->txlen;
		sqe->user_data = ud_make(UD_SEND, idx, c->slots[idx].seq,
		    c->id);
	}
	return i;
}

static void
uring_ack(struct worker *w, struct client *c, const uint8_t *m)
{
	struct io_uring_sqe	*sqe;

	if ((sqe = uring_sqe(&w->u)) == NULL) {
		w->st.err_send++;
		return;
	}
	c->ack[0] = COAP_VERSION << 6 | COAP_TYPE_ACK << 4;
	c->ack[1] = 0;
	c->ack[2] = m[2];
	c->ack[3] = m[3];
	sqe->opcode = IORING_OP_SEND;
	sqe->flags = IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
	sqe->fd = c->fd;
	sqe->addr = (uint64_t)(uintptr_t)c->ack;
	sqe->len = sizeof(c->ack);
	sqe->user_data = ud_make(UD_ACK, 0, 0, c->id);
}

/* ---- epoll + sendmmsg/recvmmsg engine -------------------------------- */

/* Up to want requests on c in one sendmmsg; failed ones free their slot. */
static unsigned
mmsg_send(struct worker *w, struct client *c, unsigned want, uint64_t now)
{
	unsigned	 i, k;
	int		 r;

	if (want > c->nfree)
		want = c->nfree;
	if (want > BATCH)
		want = BATCH;
	if (w->gso && want > w->gso_max)
		want = w->gso_max;
	for (i = 0; i < want; i++)
		w->txslot[i] = slot_take(w, c,
		    w->txbuf + (size_t)i * w->txlen, now);
	if (w->gso && want > 1) {
		/* the images sit back to back: one GSO send carries them */
		r = (int)send(c->fd, w->txbuf, want * w->txlen, 0);
		k = r == (int)(want * w->txlen) ? want : 0;
		if (k == 0) {
			w->st.err_send++;
			if (r < 0 && (errno == EIO || errno == EINVAL))
				w->gso = false;
		}
		want = k == 0 ? want : k;
		goto out;
	}
	for (k = 0; k < want; ) {
		r = sendmmsg(c->fd, w->txm + k, want - k, 0);
		if (r <= 0) {
			w->st.err_send++;
			break;
		}
		k += (unsigned)r;
	}
out:
	/* give back what did not go out; the sweep retries later */
	for (i = want; i-- > k; )
		slot_unsend(w, c, w->txslot[i]);
	return k;
}

static unsigned
client_send(struct worker *w, struct client *c, unsigned want, uint64_t now)
{
	if (want == 0 || c->nfree == 0)
		return 0;
	if (w->engine == ENGINE_URING)
		return uring_send(w, c, want, now);
	return mmsg_send(w, c, want, now);
}

/* Closed loop: put every free slot of c back on the wire. */
static void
client_fill(struct worker *w, struct client *c, uint64_t now)
{
	while (c->nfree > 0 && client_send(w, c, c->nfree, now) > 0)
		;
}

/* RFC 7252 §4.2: a separate response sent as CON must be acknowledged. */
static void
client_ack(struct worker *w, struct client *c, const uint8_t *m)
{
	uint8_t	ack[4];

	if (w->engine == ENGINE_URING) {
		uring_ack(w, c, m);
		return;
	}
	ack[0] = COAP_VERSION << 6 | COAP_TYPE_ACK << 4;
	ack[1] = 0;
	ack[2] = m[2];
	ack[3] = m[3];
	if (send(c->fd, ack, sizeof(ack), 0) < 0)
		w->st.err_send++;
}

static struct slot *
slot_by_mid(struct client *c, uint16_t mid, uint32_t *idx, long n)
{
	long	i;

	for (i = 0; i < n; i++) {
		if (c->slots[i].sent_ns != 0 && c->slots[i].mid == mid) {
			*idx = (uint32_t)i;
			return &c->slots[i];
		}
	}
	return NULL;
}

static void
slot_finish(struct worker *w, struct client *c, uint32_t idx, uint64_t now)
{
	struct slot	*sl = &c->slots[idx];

	if (sl->in_window) {
		w->st.done++;
		w->inflight--;
		hist_add(&w->st.h, now - sl->sent_ns);
	}
	slot_release(c, idx);
}

static void
answer_handle(struct worker *w, struct client *c, const uint8_t *m,
    size_t len, uint64_t now)
{
	struct bench	*b = w->b;
	struct slot	*sl;
	unsigned	 type, tkl, code;
	uint32_t	 idx, seq;
	uint16_t	 mid;
	bool		 win = now >= b->t_measure && now < b->t_end;

	if (len < 4 || m[0] >> 6 != COAP_VERSION) {
		w->st.bad++;
		return;
	}
	type = (m[0] >> 4) & 3;
	tkl = m[0] & 15;
	code = m[1];
	mid = (uint16_t)(m[2] << 8 | m[3]);
	if (tkl > 8 || len < 4 + tkl) {
		w->st.bad++;
		return;
	}
	if (code == 0) {
		/* empty: ACK of a CON whose answer comes later, or RST */
		if ((sl = slot_by_mid(c, mid, &idx, b->nslots)) == NULL) {
			w->st.unmatched++;
			return;
		}
		if (type == COAP_TYPE_RST) {
			if (sl->in_window) {
				w->st.rst++;
				w->inflight--;
			}
			slot_release(c, idx);
		} else if (type == COAP_TYPE_ACK) {
			sl->acked = true;
			w->st.empty_ack++;
		} else
			w->st.bad++;
		return;
	}
	if (code >> 5 == 0) {
		/* a request sent to a client: not ours to answer */
		w->st.bad++;
		return;
	}
	if (type == COAP_TYPE_CON)
		client_ack(w, c, m);
	if (tkl != TOKEN_LEN) {
		w->st.unmatched++;
		return;
	}
	memcpy(&idx, m + 4, 4);
	memcpy(&seq, m + 8, 4);
	if (idx >= (uint32_t)b->nslots) {
		w->st.unmatched++;
		return;
	}
	sl = &c->slots[idx];
	if (sl->sent_ns == 0 || sl->seq != seq ||
	    (type == COAP_TYPE_ACK && sl->mid != mid)) {
		w->st.unmatched++;
		return;
	}
	if (win)
		w->st.rx_window++;
	if (sl->in_window) {
		switch (code >> 5) {
		case 2:
			w->st.c2xx++;
			break;
		case 4:
			w->st.c4xx++;
			break;
		case 5:
			w->st.c5xx++;
			break;
		default:
			w->st.cother++;
			break;
		}
	}
	slot_finish(w, c, idx, now);
}

static void
client_read(struct worker *w, struct client *c, bool refill)
{
	uint64_t	now;
	int		i, r;

	for (;;) {
		r = recvmmsg(c->fd, w->rxm, BATCH, MSG_DONTWAIT, NULL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			/* ECONNREFUSED: an ICMP port unreachable came back */
			w->st.err_recv++;
			continue;
		}
		now = now_ns();
		for (i = 0; i < r; i++)
			answer_handle(w, c, w->rxbuf + (size_t)i * RX_BYTES,
			    w->rxm[i].msg_len, now);
		if (r < BATCH)
			break;
	}
	if (refill && c->nfree > 0)
		client_fill(w, c, now_ns());
}

/* A send SQE failed (successful ones post no completion). */
static void
uring_send_failed(struct worker *w, struct client *c, uint64_t ud)
{
	uint32_t	 idx = (uint32_t)(ud >> 50) & 0xfff;
	uint32_t	 seq = (uint32_t)(ud >> 32) & UD_SEQ_MASK;
	struct slot	*sl = &c->slots[idx];

	w->st.err_send++;
	if (sl->sent_ns != 0 && (sl->seq & UD_SEQ_MASK) == seq)
		slot_unsend(w, c, idx);
}

/* A GSO send failed: every request it carried is given back. */
static void
uring_sendg_failed(struct worker *w, struct client *c, uint64_t ud, int res)
{
	unsigned	 n = (unsigned)(ud >> 55) & 0x7f, i;
	size_t		 off = (size_t)(ud >> 32) & 0x7fffff;
	uint32_t	 idx, seq;
	const uint8_t	*q;

	w->st.err_send++;
	if (res == -EIO || res == -EINVAL)
		w->gso = false;		/* no UDP GSO here after all */
	for (i = 0; i < n; i++) {
		q = w->stage + off + (size_t)i * w->txlen;
		memcpy(&idx, q + 4, 4);
		memcpy(&seq, q + 8, 4);
		if (idx < (uint32_t)w->b->nslots &&
		    c->slots[idx].sent_ns != 0 && c->slots[idx].seq == seq)
			slot_unsend(w, c, idx);
	}
}

static void
uring_reap(struct worker *w, bool refill)
{
	struct uring		*u = &w->u;
	struct io_uring_cqe	*cqe;
	struct client		*c;
	unsigned		 head, tail, bid, nbuf = 0;
	uint64_t		 now = now_ns(), ud;
	int			 res;

	head = *u->cq_head;
	tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
	for (; head != tail; head++) {
		cqe = &u->cqes[head & u->cq_mask];
		ud = cqe->user_data;
		res = cqe->res;
		c = &w->cl[(uint32_t)ud];
		switch (ud >> 62) {
		case UD_RECV:
			if (cqe->flags & IORING_CQE_F_BUFFER) {
				bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
				if (res > 0)
					answer_handle(w, c, u->bufs +
					    (size_t)bid * URING_BUF_BYTES,
					    (size_t)res, now);
				else
					w->st.bad++;
				uring_buf_put(u, bid);
				nbuf++;
			} else if (res != -ENOBUFS)
				/* -ECONNREFUSED: ICMP port unreachable */
				w->st.err_recv++;
			/* multishot ends on errors and on buffer shortage */
			if ((cqe->flags & IORING_CQE_F_MORE) == 0)
				uring_arm(w, c);
			if (refill && c->nfree > 0)
				client_fill(w, c, now);
			break;
		case UD_SEND:
			uring_send_failed(w, c, ud);
			break;
		case UD_SENDG:
			uring_sendg_failed(w, c, ud, res);
			break;
		default:
			if (res < 0)
				w->st.err_send++;
			break;
		}
	}
	__atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
	if (nbuf > 0)
		__atomic_store_n(&u->br->tail, u->br_tail, __ATOMIC_RELEASE);
}

/* Expire lost requests; in closed loop also refill what errors left free. */
static void
sweep(struct worker *w, uint64_t now, bool refill)
{
	struct bench	*b = w->b;
	struct client	*c;
	size_t		 i;
	long		 j;

	for (i = 0; i < w->ncl; i++) {
		c = &w->cl[i];
		if (c->rearm)
			uring_arm(w, c);
		if (c->nfree < (uint32_t)b->nslots) {
			for (j = 0; j < b->nslots; j++) {
				struct slot *sl = &c->slots[j];

				if (sl->sent_ns == 0 ||
				    now - sl->sent_ns < b->timeout_ns)
					continue;
				if (sl->in_window) {
					w->st.lost++;
					w->inflight--;
				}
				slot_release(c, (uint32_t)j);
			}
		}
		if (refill && c->nfree > 0)
			client_fill(w, c, now);
	}
}

/* Open loop: issue what the clock says is due, round-robin over clients. */
static void
paced_send(struct worker *w, uint64_t now)
{
	struct bench	*b = w->b;
	uint64_t	 due;
	size_t		 tries;
	unsigned	 n = 0;

	if (now < b->t_start)
		return;
	due = (uint64_t)((double)(now - b->t_start) * w->rate / 1e9);
	while (w->paced_n < due && n < PACED_BURST) {
		struct client	*c = NULL;

		/* next client with a free slot; one try each, no spinning */
		for (tries = 0; tries < w->ncl; tries++) {
			c = &w->cl[w->rr];
			w->rr = (w->rr + 1) % w->ncl;
			if (c->nfree > 0)
				break;
		}
		if (tries < w->ncl)
			client_send(w, c, 1, now);
		else if (now >= b->t_measure)
			w->st.skipped++;
		w->paced_n++;
		n++;
	}
}

static uint64_t
paced_next(struct worker *w)
{
	return w->b->t_start +
	    (uint64_t)((double)(w->paced_n + 1) * 1e9 / w->rate);
}

static int
epoll_events(struct worker *w, struct epoll_event *ev, uint64_t timeout_ns)
{
	struct timespec	ts;
	int		n;

	ts.tv_sec = (time_t)(timeout_ns / NSEC_PER_SEC);
	ts.tv_nsec = (long)(timeout_ns % NSEC_PER_SEC);
	n = epoll_pwait2(w->epfd, ev, EVENTS, &ts, NULL);
	if (n < 0 && errno == ENOSYS)
		n = epoll_wait(w->epfd, ev, EVENTS, (int)((timeout_ns +
		    NSEC_PER_MSEC - 1) / NSEC_PER_MSEC));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n;
}

static void
worker_run(struct worker *w)
{
	struct bench		*b = w->b;
	struct epoll_event	 ev[EVENTS];
	uint64_t		 now, next_sweep, until, drain_end;
	bool			 paced = w->rate > 0, sending, refill;
	size_t			 i;
	long			 j;
	int			 n;

	sleep_until(b->t_start);
	now = now_ns();
	if (w->engine == ENGINE_URING)
		for (i = 0; i < w->ncl; i++)
			uring_arm(w, &w->cl[i]);
	if (!paced)
		for (i = 0; i < w->ncl; i++)
			client_fill(w, &w->cl[i], now);
	next_sweep = now + SWEEP_NS;
	drain_end = b->t_end + b->timeout_ns;
	for (;;) {
		now = now_ns();
		sending = now < b->t_end;
		refill = sending && !paced;
		if (!sending && (w->inflight == 0 || now >= drain_end))
			break;
		if (sending && paced)
			paced_send(w, now);
		if (now >= next_sweep) {
			sweep(w, now, refill);
			next_sweep = now + SWEEP_NS;
		}
		until = next_sweep;
		if (sending && paced && paced_next(w) < until)
			until = paced_next(w);
		if (sending && b->t_end < until)
			until = b->t_end;
		if (!sending && drain_end < until)
			until = drain_end;
		until = until > now ? until - now : 0;
		if (w->engine == ENGINE_URING) {
			n = uring_enter(&w->u, true, until);
			/* -EBUSY: completions must be reaped first */
			if (n < 0 && n != -EBUSY && n != -EAGAIN) {
				w->err = n;
				break;
			}
			uring_reap(w, refill);
			continue;
		}
		if ((n = epoll_events(w, ev, until)) < 0) {
			w->err = n;
			break;
		}
		for (i = 0; i < (size_t)n; i++)
			client_read(w, ev[i].data.ptr, refill);
	}
	/* the window's requests still unanswered are lost */
	for (i = 0; i < w->ncl; i++)
		for (j = 0; j < b->nslots; j++)
			if (w->cl[i].slots[j].sent_ns != 0 &&
			    w->cl[i].slots[j].in_window)
				w->st.lost++;
}

/* Best effort: as many descriptors as wanted, or as the hard limit allows. */
static void
nofile_raise(rlim_t need)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need;
	if (rl.rlim_max < need) {
		rl.rlim_max = need;	/* works with CAP_SYS_RESOURCE */
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return;
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
	}
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int
uring_init(struct worker *w)
{
	struct bench	*b = w->b;
	uint64_t	 nslots = (uint64_t)w->ncl * (uint64_t)b->nslots;
	uint64_t	 cq, nbufs;
	size_t		 i;
	int		 r;

	/* every answer in flight may be waiting in the CQ at once */
	cq = 2 * nslots + w->ncl;
	if (cq < 4096)
		cq = 4096;
	if (cq > (1u << 20))
		cq = 1u << 20;
	nbufs = nslots < 1024 ? 1024 : nslots;
	if (nbufs > URING_BUFS_MAX)
		nbufs = URING_BUFS_MAX;
	if (nslots * w->txlen > (1ULL << 30))
		return -E2BIG;
	w->u.fd = -1;
	if ((r = uring_setup(&w->u, pow2_at_least(cq))) < 0)
		return r;
	if ((r = uring_bufs(&w->u, pow2_at_least(nbufs))) < 0)
		goto fail;
	w->img = malloc(nslots * w->txlen);
	w->stage = malloc(STAGE_BYTES);
	if (w->img == NULL || w->stage == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < nslots; i++)
		memcpy(w->img + i * w->txlen + 4 + TOKEN_LEN, b->tmpl,
		    b->tmpl_len);
	if ((r = uring_clients(w)) < 0)
		goto fail;
	return 0;
fail:
	close(w->u.fd);
	w->u.fd = -1;
	return r;
}

static int
epoll_init(struct worker *w)
{
	struct bench		*b = w->b;
	struct epoll_event	 ev;
	size_t			 i;
	int			 fd;

	if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -errno;
	w->txbuf = malloc(BATCH * w->txlen);
	w->rxbuf = malloc(BATCH * RX_BYTES);
	if (w->txbuf == NULL || w->rxbuf == NULL)
		return -ENOMEM;
	for (i = 0; i < BATCH; i++) {
		memcpy(w->txbuf + i * w->txlen + 4 + TOKEN_LEN, b->tmpl,
		    b->tmpl_len);
		w->txv[i].iov_base = w->txbuf + i * w->txlen;
		w->txv[i].iov_len = w->txlen;
		w->txm[i].msg_hdr.msg_iov = &w->txv[i];
		w->txm[i].msg_hdr.msg_iovlen = 1;
		w->rxv[i].iov_base = w->rxbuf + i * RX_BYTES;
		w->rxv[i].iov_len = RX_BYTES;
		w->rxm[i].msg_hdr.msg_iov = &w->rxv[i];
		w->rxm[i].msg_hdr.msg_iovlen = 1;
	}
	for (i = 0; i < w->ncl; i++) {
		if ((fd = sock_connect(w)) < 0)
			return fd;
		w->cl[i].fd = fd;
		ev.events = EPOLLIN;
		ev.data.ptr = &w->cl[i];
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
	}
	return 0;
}

/*
 * Measured on a 2-core VM: with several requests in flight per socket,
 * sendmmsg/GSO and recvmmsg carry a batch per system call and beat io_uring,
 * which pays task work per datagram; with one in flight per socket io_uring
 * wins by far (no system call per request).  epoll also needs one fd per
 * client.
 */
static bool
auto_epoll(const struct bench *b)
{
	struct rlimit	rl;

	if (b->nslots < 4)
		return false;
	return getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur >= (rlim_t)b->clients + 64;
}

static int
worker_setup(struct worker *w)
{
	struct bench	*b = w->b;
	size_t		 i;
	uint32_t	 j;
	int		 r;

	w->txlen = 4 + TOKEN_LEN + b->tmpl_len;
	w->gso_max = (unsigned)(GSO_MAX_BYTES / w->txlen);
	if (w->gso_max > GSO_MAX_SEGS)
		w->gso_max = GSO_MAX_SEGS;
	/* batches happen only with several requests in flight per client */
	w->gso = !b->no_gso && b->nslots > 1 && w->gso_max > 1;
	if ((w->cl = calloc(w->ncl, sizeof(*w->cl))) == NULL)
		return -ENOMEM;
	for (i = 0; i < w->ncl; i++) {
		struct client *c = &w->cl[i];

		c->id = (uint32_t)i;
		c->slots = calloc((size_t)b->nslots, sizeof(*c->slots));
		c->free = calloc((size_t)b->nslots, sizeof(*c->free));
		if (c->slots == NULL || c->free == NULL)
			return -ENOMEM;
		for (j = (uint32_t)b->nslots; j-- > 0; )
			c->free[c->nfree++] = j;
		/* spread MIDs so clients do not walk in step */
		c->next_mid = (uint16_t)((w->first + i) * 7919);
		c->next_seq = (uint32_t)random();
	}
	if (b->engine == ENGINE_EPOLL ||
	    (b->engine == ENGINE_AUTO && auto_epoll(b))) {
		w->engine = ENGINE_EPOLL;
		return epoll_init(w);
	}
	r = uring_init(w);
	if (r == 0) {
		w->engine = ENGINE_URING;
		return 0;
	}
	if (b->engine == ENGINE_URING)
		return r;
	if (w->first == 0)
		fprintf(stderr, "coapd-bench: io_uring: %s, using epoll\n",
		    strerror(-r));
	w->engine = ENGINE_EPOLL;
	return epoll_init(w);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	struct bench	*b = w->b;

	/* set up here: a SINGLE_ISSUER ring belongs to its creating thread */
	w->err = worker_setup(w);
	pthread_barrier_wait(&b->ready);
	pthread_barrier_wait(&b->go);
	if (w->err == 0 && !b->abort)
		worker_run(w);
	return NULL;
}

/* utime + stime of a process, in clock ticks; -1 if unreadable. */
static long long
proc_cpu_ticks(long pid)
{
	char		 path[64], buf[1024], *p;
	unsigned long	 ut, st;
	FILE		*f;
	size_t		 n;
	int		 i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and ')': the fields start after the last ')' */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	p++;
	/* skip fields 3..13, then utime (14) and stime (15) */
	for (i = 0; i < 11; i++) {
		p = strchr(p + 1, ' ');
		if (p == NULL)
			return -1;
	}
	if (sscanf(p, " %lu %lu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

static long
proc_rss_kb(long pid)
{
	char	 path[64], line[256];
	long	 kb = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static uint64_t
self_cpu_us(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: coapd-bench [options]\n"
"  -a, --addr ADDR      loopback IPv4/IPv6 literal (default 127.0.0.1)\n"
"  -p, --port PORT      server port (default 5683)\n"
"  -u, --uri PATH       Uri-Path, e.g. /hello (default /hello)\n"
"  -m, --method M       get|post|put|delete (default get)\n"
"  -t, --type T         con|non (default con)\n"
"  -c, --clients N      clients, one UDP socket each (default 1)\n"
"  -n, --inflight N     requests in flight per client (default 1)\n"
"  -d, --duration S     measured seconds, at most %d (default 5)\n"
"  -w, --warmup S       unmeasured seconds first (default 1)\n"
"  -r, --rate R         paced total requests/s; 0 = closed loop\n"
"  -s, --size N         request payload bytes (default 0)\n"
"  -P, --pid PID        server process: CPU per request and RSS\n"
"  -T, --threads N      threads, clients split among them (default 1)\n"
"  -E, --engine E       uring|epoll (default: by -n and the fd limit)\n"
"      --timeout MS     a request unanswered this long is lost (2000)\n"
"      --sources N      IPv4 clients use source addresses 127.0.0.1..N\n"
"      --no-gso         one send per request, no UDP GSO batches\n"
"      --oneline        one line of key=value pairs\n"
"  -h, --help\n", MAX_DURATION_S);
}

static int
num_arg(const char *s, long lo, long hi, long *out)
{
	char	*e;
	long	 v;

	errno = 0;
	v = strtol(s, &e, 10);
	if (errno != 0 || e == s || *e != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int
parse_args(struct bench *b, int argc, char **argv)
{
	static const struct option	opts[] = {
		{ "addr",	required_argument, NULL, 'a' },
		{ "port",	required_argument, NULL, 'p' },
		{ "uri",	required_argument, NULL, 'u' },
		{ "method",	required_argument, NULL, 'm' },
		{ "type",	required_argument, NULL, 't' },
		{ "clients",	required_argument, NULL, 'c' },
		{ "inflight",	required_argument, NULL, 'n' },
		{ "duration",	required_argument, NULL, 'd' },
		{ "warmup",	required_argument, NULL, 'w' },
		{ "rate",	required_argument, NULL, 'r' },
		{ "size",	required_argument, NULL, 's' },
		{ "pid",	required_argument, NULL, 'P' },
		{ "threads",	required_argument, NULL, 'T' },
		{ "engine",	required_argument, NULL, 'E' },
		{ "timeout",	required_argument, NULL, 'O' },
		{ "oneline",	no_argument,	   NULL, '1' },
		{ "no-gso",	no_argument,	   NULL, 'G' },
		{ "sources",	required_argument, NULL, 'S' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 }
	};
	const char	*addr = "127.0.0.1";
	long		 v;
	int		 ch;

	b->port = 5683;
	b->uri = "/hello";
	b->type = COAP_TYPE_CON;
	b->method = 1;
	b->clients = 1;
	b->nslots = 1;
	b->duration_s = 5;
	b->warmup_s = 1;
	b->threads = 1;
	b->timeout_ms = 2000;
	b->pid = -1;
	while ((ch = getopt_long(argc, argv, "a:p:u:m:t:c:n:d:w:r:s:P:T:E:h",
	    opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			if (num_arg(optarg, 1, 65535, &v) < 0)
				goto bad;
			b->port = (int)v;
			break;
		case 'u':
			b->uri = optarg;
			break;
		case 'm':
			if (strcasecmp(optarg, "get") == 0)
				b->method = 1;
			else if (strcasecmp(optarg, "post") == 0)
				b->method = 2;
			else if (strcasecmp(optarg, "put") == 0)
				b->method = 3;
			else if (strcasecmp(optarg, "delete") == 0)
				b->method = 4;
			else
				goto bad;
			break;
		case 't':
			if (strcasecmp(optarg, "con") == 0)
				b->type = COAP_TYPE_CON;
			else if (strcasecmp(optarg, "non") == 0)
				b->type = COAP_TYPE_NON;
			else
				goto bad;
			break;
		case 'c':
			if (num_arg(optarg, 1, MAX_CLIENTS, &b->clients) < 0)
				goto bad;
			break;
		case 'n':
			if (num_arg(optarg, 1, MAX_INFLIGHT, &b->nslots) < 0)
				goto bad;
			break;
		case 'd':
			if (num_arg(optarg, 1, LONG_MAX, &b->duration_s) < 0)
				goto bad;
			if (b->duration_s > MAX_DURATION_S) {
				fprintf(stderr, "coapd-bench: duration capped "
				    "at %d s\n", MAX_DURATION_S);
				b->duration_s = MAX_DURATION_S;
			}
			break;
		case 'w':
			if (num_arg(optarg, 0, MAX_WARMUP_S, &b->warmup_s) < 0)
				goto bad;
			break;
		case 'r':
			if (num_arg(optarg, 0, 100000000, &v) < 0)
				goto bad;
			b->rate = (double)v;
			break;
		case 's':
			if (num_arg(optarg, 0, MAX_PAYLOAD, &b->payload) < 0)
				goto bad;
			break;
		case 'P':
			if (num_arg(optarg, 1, INT_MAX, &b->pid) < 0)
				goto bad;
			break;
		case 'S':
			if (num_arg(optarg, 1, 254, &v) < 0)
				goto bad;
			b->sources = v;
			break;
		case 'T':
			if (num_arg(optarg, 1, MAX_THREADS, &b->threads) < 0)
				goto bad;
			break;
		case 'E':
			if (strcmp(optarg, "uring") == 0)
				b->engine = ENGINE_URING;
			else if (strcmp(optarg, "epoll") == 0)
				b->engine = ENGINE_EPOLL;
			else
				goto bad;
			break;
		case 'O':
			if (num_arg(optarg, 1, MAX_TIMEOUT_MS,
			    &b->timeout_ms) < 0)
				goto bad;
			break;
		case '1':
			b->oneline = true;
			break;
		case 'G':
			b->no_gso = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	if (addr_parse(addr, b->port, &b->addr, &b->addrlen) < 0) {
		fprintf(stderr, "coapd-bench: %s: not a numeric IPv4 or IPv6 "
		    "address\n", addr);
		return -EINVAL;
	}
	if (!addr_is_loopback(&b->addr)) {
		fprintf(stderr, "coapd-bench: %s: refused, only loopback "
		    "targets (127.0.0.0/8, ::1) are allowed\n", addr);
		return -EPERM;
	}
	snprintf(b->addrstr, sizeof(b->addrstr), "%s", addr);
	if (b->threads > b->clients)
		b->threads = b->clients;
	if (b->clients * b->nslots > MAX_SLOTS) {
		fprintf(stderr, "coapd-bench: clients x in-flight is at most "
		    "%d\n", MAX_SLOTS);
		return -EINVAL;
	}
	return 0;
bad:
	fprintf(stderr, "coapd-bench: bad value for -%c: %s\n", ch, optarg);
	return -EINVAL;
}

static void
report(const struct bench *b, const struct stats *st, long long cpu_ticks,
    uint64_t self_us, long rss0, long rss1)
{
	static const char	*tname[] = { "CON", "NON" };
	static const char	*mname[] = {
		"", "GET", "POST", "PUT", "DELETE"
	};
	double	 secs = (double)b->duration_s;
	double	 rps = (double)st->rx_window / secs;
	double	 srv_us = -1, srv_pct = -1, self_req, self_pct;
	uint64_t errs = st->err_send + st->err_recv + st->bad;
	const char *ename = b->w[0].engine == ENGINE_URING ? "uring" : "epoll";

	if (cpu_ticks >= 0) {
		double us = (double)cpu_ticks * 1e6 /
		    (double)sysconf(_SC_CLK_TCK);

		srv_pct = us / (secs * 1e4);
		if (st->rx_window > 0)
			srv_us = us / (double)st->rx_window;
	}
	self_req = st->rx_window > 0 ?
	    (double)self_us / (double)st->rx_window : -1;
	self_pct = (double)self_us / (secs * 1e4);

	if (b->oneline) {
		printf("engine=%s gso=%d rps=%.0f sent=%llu done=%llu "
		    "lost=%llu rst=%llu err=%llu unmatched=%llu skipped=%llu "
		    "c2xx=%llu c4xx=%llu c5xx=%llu cother=%llu p50_us=%.1f "
		    "p90_us=%.1f "
		    "p99_us=%.1f max_us=%.1f srv_cpu_us=%.2f srv_cpu_pct=%.1f "
		    "rss_before_kb=%ld rss_after_kb=%ld bench_cpu_us=%.2f "
		    "bench_cpu_pct=%.1f\n", ename, b->w[0].gso, rps,
		    (unsigned long long)st->sent,
		    (unsigned long long)st->done,
		    (unsigned long long)st->lost,
		    (unsigned long long)st->rst,
		    (unsigned long long)errs,
		    (unsigned long long)st->unmatched,
		    (unsigned long long)st->skipped,
		    (unsigned long long)st->c2xx,
		    (unsigned long long)st->c4xx,
		    (unsigned long long)st->c5xx,
		    (unsigned long long)st->cother,
		    hist_pct(&st->h, 0.50) / 1e3, hist_pct(&st->h, 0.90) / 1e3,
		    hist_pct(&st->h, 0.99) / 1e3, st->h.max / 1e3,
		    srv_us, srv_pct, rss0, rss1, self_req, self_pct);
		return;
	}
	printf("coapd-bench: %s port %d %s %s %s, %ld clients x %ld in "
	    "flight, %ld s (+%ld s warmup), ", b->addrstr, b->port,
	    tname[b->type], mname[b->method], b->uri, b->clients, b->nslots,
	    b->duration_s, b->warmup_s);
	if (b->rate > 0)
		printf("paced at %.0f req/s\n", b->rate);
	else
		printf("closed loop\n");
	printf("requests    sent %llu  answered %llu  lost %llu  rst %llu  "
	    "errors %llu  unmatched %llu  skipped %llu\n",
	    (unsigned long long)st->sent, (unsigned long long)st->done,
	    (unsigned long long)st->lost, (unsigned long long)st->rst,
	    (unsigned long long)errs, (unsigned long long)st->unmatched,
	    (unsigned long long)st->skipped);
	printf("responses   2.xx %llu  4.xx %llu  5.xx %llu  other %llu\n",
	    (unsigned long long)st->c2xx, (unsigned long long)st->c4xx,
	    (unsigned long long)st->c5xx, (unsigned long long)st->cother);
	printf("throughput  %.0f req/s\n", rps);
	printf("latency     p50 %.1f us  p90 %.1f us  p99 %.1f us  "
	    "max %.1f us\n", hist_pct(&st->h, 0.50) / 1e3,
	    hist_pct(&st->h, 0.90) / 1e3, hist_pct(&st->h, 0.99) / 1e3,
	    st->h.max / 1e3);
	if (b->pid > 0)
		printf("server      %.2f us cpu/req  (%.1f %% of a core)  "
		    "rss %ld -> %ld kB\n", srv_us, srv_pct, rss0, rss1);
	printf("bench       %.2f us cpu/req  (%.1f %% of a core), %s engine%s"
	    "\n", self_req, self_pct, ename,
	    b->w[0].gso ? ", UDP GSO" : "");
}

static void
stats_add(struct stats *dst, const struct stats *s)
{
	dst->sent += s->sent;
	dst->rx_window += s->rx_window;
	dst->done += s->done;
	dst->c2xx += s->c2xx;
	dst->c4xx += s->c4xx;
	dst->c5xx += s->c5xx;
	dst->cother += s->cother;
	dst->rst += s->rst;
	dst->lost += s->lost;
	dst->err_send += s->err_send;
	dst->err_recv += s->err_recv;
	dst->unmatched += s->unmatched;
	dst->bad += s->bad;
	dst->skipped += s->skipped;
	dst->empty_ack += s->empty_ack;
	hist_merge(&dst->h, &s->h);
}

int
main(int argc, char **argv)
{
	struct bench	 b;
	struct stats	*st;
	long long	 cpu0 = -1, cpu1 = -1, cpu_ticks = -1;
	uint64_t	 self0, self1;
	long		 rss0 = -1, rss1 = -1, t;
	size_t		 first = 0;
	int		 r;

	memset(&b, 0, sizeof(b));
	if (parse_args(&b, argc, argv) < 0)
		return 2;
	if ((r = tmpl_build(&b)) < 0) {
		fprintf(stderr, "coapd-bench: %s: %s\n", b.uri, strerror(-r));
		return 2;
	}
	b.timeout_ns = (uint64_t)b.timeout_ms * NSEC_PER_MSEC;
	nofile_raise((rlim_t)b.clients + 64);
	srandom((unsigned)getpid() ^ (unsigned)now_ns());
	if (b.pid > 0 && (rss0 = proc_rss_kb(b.pid)) < 0) {
		fprintf(stderr, "coapd-bench: pid %ld: no such process\n",
		    b.pid);
		return 1;
	}

	b.w = calloc((size_t)b.threads, sizeof(*b.w));
	st = calloc(1, sizeof(*st));
	if (b.w == NULL || st == NULL)
		return 1;
	pthread_barrier_init(&b.ready, NULL, (unsigned)b.threads + 1);
	pthread_barrier_init(&b.go, NULL, (unsigned)b.threads + 1);
	for (t = 0; t < b.threads; t++) {
		struct worker *w = &b.w[t];

		w->b = &b;
		w->first = first;
		w->ncl = (size_t)(b.clients / b.threads) +
		    (t < b.clients % b.threads);
		w->rate = b.rate / (double)b.threads;
		first += w->ncl;
		if ((r = pthread_create(&w->tid, NULL, worker_main, w)) != 0) {
			fprintf(stderr, "coapd-bench: pthread_create: %s\n",
			    strerror(r));
			return 1;
		}
	}
	pthread_barrier_wait(&b.ready);
	for (t = 0; t < b.threads; t++) {
		if (b.w[t].err == 0)
			continue;
		fprintf(stderr, "coapd-bench: setting up clients %zu..%zu: "
		    "%s%s\n", b.w[t].first, b.w[t].first + b.w[t].ncl - 1,
		    strerror(-b.w[t].err), b.w[t].err == -EMFILE ?
		    " (RLIMIT_NOFILE; the uring engine needs only the clients "
		    "of one thread within it: use -T)" : "");
		b.abort = true;
	}
	b.t_start = now_ns() + 10 * NSEC_PER_MSEC;
	b.t_measure = b.t_start + (uint64_t)b.warmup_s * NSEC_PER_SEC;
	b.t_end = b.t_measure + (uint64_t)b.duration_s * NSEC_PER_SEC;
	pthread_barrier_wait(&b.go);
	if (b.abort) {
		for (t = 0; t < b.threads; t++)
			pthread_join(b.w[t].tid, NULL);
		return 1;
	}

	sleep_until(b.t_measure);
	if (b.pid > 0)
		cpu0 = proc_cpu_ticks(b.pid);
	self0 = self_cpu_us();
	sleep_until(b.t_end);
	if (b.pid > 0)
		cpu1 = proc_cpu_ticks(b.pid);
	self1 = self_cpu_us();
	if (cpu0 >= 0 && cpu1 >= 0)
		cpu_ticks = cpu1 - cpu0;

	r = 0;
	for (t = 0; t < b.threads; t++) {
		pthread_join(b.w[t].tid, NULL);
		if (b.w[t].err < 0) {
			fprintf(stderr, "coapd-bench: thread %ld: %s\n", t,
			    strerror(-b.w[t].err));
			r = 1;
		}
		stats_add(st, &b.w[t].st);
	}
	if (b.pid > 0)
		rss1 = proc_rss_kb(b.pid);
	report(&b, st, cpu_ticks, self1 - self0, rss0, rss1);
	return r;
}
