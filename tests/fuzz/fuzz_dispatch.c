/*
 * fuzz_dispatch.c - libFuzzer target for the whole request path of one
 * worker without sockets: dispatch_datagram() (parse, dedup, routing,
 * ACL, Block1/Block2, Observe registration, static files read and written)
 * and the asynchronous exchanges of xch.c (empty ACK, separate response,
 * retransmission, RST), driven by a fake clock and a fake event service.
 *
 * The input is split at "\n--\n" into datagrams.  The first byte of each
 * says who sends it (bits 0-1: one of four peers, the fourth a DTLS
 * session with a PSK identity) and how far the clock moves before it
 * (bits 2-7, in 100 ms steps); the rest is the datagram.  Between
 * datagrams the exchange timers and the sweeps run.  Every message coapd
 * sends, at once or later, must parse as CoAP and fit COAP_MAX_MSG; an
 * answer to a CON carries its Message ID; anything else aborts.  The
 * engine is made afresh for every input; the files it may write are in a
 * directory emptied before each one.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/cfg.h"
#include "adapt/log.h"
#include "proto/coap_msg.h"
#include "proto/metrics.h"
#include "serve/dispatch.h"
#include "serve/handler.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KIND_SLOW	7
#define NTIMERS		64
#define STEP_NS		(100ULL * 1000 * 1000)

static char			 dir[64];
static struct cfg		*cfg;
static struct h_env		 env;
static atomic_uint_least64_t	 gen;
static struct metrics		 met;
static uint64_t			 now;

/* The fake event service: timers only (no handler here watches fds). */
struct ftimer {
	bool		 used;
	uint64_t	 at;
	h_timer_fn	*fn;
	void		*arg;
};
static struct ftimer		 timers[NTIMERS];

static int
f_watch(void *svc, int fd, unsigned events, h_fd_fn *fn, void *arg)
{
	(void)svc; (void)fd; (void)events; (void)fn; (void)arg;
	return -ENOSPC;
}

static void
f_unwatch(void *svc, int id)
{
	(void)svc;
	(void)id;
}

static int
f_timer(void *svc, uint64_t at_ns, h_timer_fn *fn, void *arg)
{
	int	 i;

	(void)svc;
	for (i = 0; i < NTIMERS; i++)
		if (!timers[i].used) {
			timers[i] = (struct ftimer){ true, at_ns, fn, arg };
			return i;
		}
	return -ENOSPC;
}

static void
f_untimer(void *svc, int id)
{
	(void)svc;
	if (id >= 0 && id < NTIMERS)
		timers[id].used = false;
}

static const struct h_svc svc = { .watch = f_watch, .unwatch = f_unwatch,
    .timer = f_timer, .untimer = f_untimer };

static void
run_timers(void)
{
	struct ftimer	 t;
	int		 i;

	for (i = 0; i < NTIMERS; i++)
		if (timers[i].used && timers[i].at <= now) {
			t = timers[i];
			timers[i].used = false;
			t.fn(t.arg, now);
		}
}

/* A handler that answers later: GET /slow?ms=N, a timer N ms away. */
struct slow {
	struct xch	*x;
	int		 timer;
};

static void *
slow_init(const struct cfg *c, const struct h_env *e, const struct h_svc *s)
{
	(void)c;
	(void)e;
	return (void *)s;
}

static void
slow_fire(void *arg, uint64_t now_ns)
{
	struct slow		*s = arg;
	struct coap_resp	*r = xch_resp(s->x);

	r->code = COAP_CONTENT;
	coap_resp_payload(r, "late", 4);
	xch_complete(s->x, now_ns);
	free(s);
}

static void
slow_cancel(void *ctx, enum xch_cancel why)
{
	struct slow	*s = ctx;

	(void)why;
	f_untimer(NULL, s->timer);
	free(s);
}

static int
slow_start(const struct h_req *req, struct coap_resp *resp)
{
	const struct coap_opt	*q;
	struct slow		*s;
	unsigned		 ms = 0, i;

	if ((q = coap_msg_opt(req->msg, COAP_OPT_URI_QUERY)) != NULL)
		for (i = 0; i < q->len && i < 4; i++)
			ms = ms * 10 + (q->val[i] % 10);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	if ((s->x = xch_begin(req, s)) == NULL) {
		free(s);
		xch_busy(resp);
		return H_DONE;
	}
	s->timer = f_timer(NULL, req->now_ns + ms * 1000000ULL, slow_fire, s);
	if (s->timer < 0)
		abort();	/* NTIMERS > max_separate */
	return H_PENDING;
}

static const struct handler_ops slow_ops = {
	.name = "slow",
	.worker_init = slow_init,
	.start = slow_start,
	.cancel = slow_cancel,
};

static void
check_msg(const uint8_t *buf, size_t len)
{
	struct coap_msg	 m;

	if (len > COAP_MAX_MSG || coap_msg_parse(&m, buf, len) != 0)
		abort();
}

static void
on_emit(void *arg, const struct dispatch_peer *p, const uint8_t *buf,
    size_t len)
{
	(void)arg;
	(void)p;
	check_msg(buf, len);
}

static void
put(const char *rel, const void *data, size_t len)
{
	char	 path[PATH_MAX];
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
	    write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static void
cfg_err(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "fuzz_dispatch: %s\n", line);
}

static void
setup(void)
{
	static uint8_t	 big[3000];
	char		 path[PATH_MAX];
	size_t		 i;

	log_init(LOG_LVL_ERR, "fuzz_dispatch");
	snprintf(dir, sizeof(dir), "/tmp/fuzz_dispatch.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/www", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/up", dir);
	mkdir(path, 0755);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	put("www/hello.txt", "hello\n", 6);
	put("www/big.bin", big, sizeof(big));
	snprintf(path, sizeof(path), "%s/t.conf", dir);
	{
		static const char text[] =
		    "separate_after_ms = 100;\nmax_separate = 8;\n"
		    "routes = (\n"
		    "  { path = \"/hello\"; static = \"www/hello.txt\";"
		    " ct = 0; observe = true; },\n"
		    "  { path = \"/files\"; static = \"www\";"
		    " block_size = 64; },\n"
		    "  { path = \"/up\"; static = \"up\"; writable = true;"
		    " methods = [\"GET\", \"PUT\", \"DELETE\"];"
		    " block_size = 16; max_body_bytes = 4096; },\n"
		    "  { path = \"/private\"; static = \"www/hello.txt\";"
		    " allow = [\"psk:dev*\"]; },\n"
		    "  { path = \"/slow\"; static = \"www/hello.txt\"; }\n"
		    ");\n";
		put("t.conf", text, sizeof(text) - 1);
	}
	if (cfg_load(path, &cfg, cfg_err, NULL) != 0)
		abort();
	for (i = 0; i < cfg->nroutes; i++)
		if (strcmp(cfg->routes[i].path, "/slow") == 0)
			cfg->routes[i].kind = KIND_SLOW;
	handler_table_init(&env);
	env.file_gen = &gen;
	env.ops[KIND_SLOW] = &slow_ops;
}

/* Empty the writable directory: each input starts from the same tree. */
static void
clean_up_dir(void)
{
	char		 path[PATH_MAX];
	struct dirent	*de;
	DIR		*d;

	snprintf(path, sizeof(path), "%s/up", dir);
	if ((d = opendir(path)) == NULL)
		abort();
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' || (de->d_name[1] != '\0' &&
		    strcmp(de->d_name, "..") != 0))
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static void
one(struct dispatch *d, const struct dispatch_peer *p, const uint8_t *in,
    size_t len)
{
	static uint8_t	 out[COAP_MAX_MSG];
	struct coap_msg	 req, ans;
	size_t		 n;

	n = dispatch_datagram(d, p, in, len, now, out, sizeof(out));
	if (n == 0)
		return;
	check_msg(out, n);
	/* RFC 7252 §4.2, §4.3: an answer to a CON is its ACK or RST. */
	if (coap_msg_parse(&req, in, len) == 0 &&
	    req.type == COAP_TYPE_CON && coap_msg_parse(&ans, out, n) == 0 &&
	    (ans.mid != req.mid || (ans.type != COAP_TYPE_ACK &&
	    ans.type != COAP_TYPE_RST)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in	 a4[3];
	struct sockaddr_in6	 a6;
	struct dispatch_peer	 peers[4];
	struct dispatch		*d;
	const uint8_t		*p = data, *end = data + size, *sep;
	size_t			 len;
	unsigned		 i;

	if (cfg == NULL)
		setup();
	clean_up_dir();
	memset(timers, 0, sizeof(timers));
	memset(&met, 0, sizeof(met));
	now = 1000ULL * 1000 * 1000 * 1000;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return 0;
	if (dispatch_init(d, cfg, &met, &env, &svc, 1) != 0)
		abort();
	dispatch_set_emit(d, on_emit, NULL);
	for (i = 0; i < 3; i++) {
		memset(&a4[i], 0, sizeof(a4[i]));
		a4[i].sin_family = AF_INET;
		a4[i].sin_port = htons((uint16_t)(40000 + i % 2));
		a4[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK + i / 2);
		peers[i] = (struct dispatch_peer){
		    (const struct sockaddr *)&a4[i], sizeof(a4[i]), NULL, 0,
		    0 };
	}
	memset(&a6, 0, sizeof(a6));
	a6.sin6_family = AF_INET6;
	a6.sin6_port = htons(40002);
	a6.sin6_addr = in6addr_loopback;
	peers[3] = (struct dispatch_peer){ (const struct sockaddr *)&a6,
	    sizeof(a6), "dev1", 1, 7 };

	while (p < end) {
		sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
		len = sep != NULL ? (size_t)(sep - p) : (size_t)(end - p);
		if (len > 0) {
			now += (uint64_t)(p[0] >> 2) * STEP_NS;
			dispatch_timers(d, now);
			run_timers();
			one(d, &peers[p[0] & 3], p + 1, len - 1);
			dispatch_sweep(d, now);
		}
		if (sep == NULL)
			break;
		p = sep + 4;
	}
	/* Let every pending exchange finish or give up. */
	for (i = 0; i < 400; i++) {
		now += STEP_NS;
		dispatch_timers(d, now);
		run_timers();
	}
	dispatch_sweep(d, now);
	dispatch_fini(d);
	free(d);
	return 0;
}
