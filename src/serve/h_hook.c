/*
 * h_hook.c - hook routes, the request side: a CoAP request becomes one run
 * of the route's executable (h_hook_run.c), its output the response.  The
 * contract a hook meets is in coapd.conf(5) "HOOK ROUTES".
 *
 * Here: the request body, reassembled from Block1 into an unnamed
 * temporary file in hooks.tmp_dir that becomes the hook's stdin; the clean
 * environment, built from the request and checked for NUL bytes (4.00);
 * and the outputs kept per client for Block2, so that blocks after the
 * first come from the run that made the first, never from a new run.
 */
#include <sys/stat.h>

#include <netdb.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/log.h"
#include "base/clock.h"
#include "base/net.h"
#include "serve/dispatch.h"
#include "serve/h_hook_int.h"

#define ENV_MAX		64		/* variables besides the route's */
#define ENV_BYTES	8192		/* for those variables' text */
#define DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"
#define UPLOAD_IDLE_NS	(60 * NS_PER_SEC)

/* Text of the environment, built in one buffer. */
struct envb {
	char	*vars[ENV_MAX];
	size_t	 n;
	char	 buf[ENV_BYTES];
	size_t	 len;
	bool	 full;
};

static void
env_add(struct envb *e, const char *name, const char *val, size_t vlen)
{
	int	 n;

	if (e->n == ENV_MAX) {
		e->full = true;
		return;
	}
	n = snprintf(e->buf + e->len, sizeof(e->buf) - e->len, "%s=%.*s",
	    name, (int)vlen, val);
	if (n < 0 || (size_t)n >= sizeof(e->buf) - e->len) {
		e->full = true;
		return;
	}
	e->vars[e->n++] = e->buf + e->len;
	e->len += (size_t)n + 1;
}

static void
env_str(struct envb *e, const char *name, const char *val)
{
	env_add(e, name, val, strlen(val));
}

static void
env_uint(struct envb *e, const char *name, unsigned long long v)
{
	char	 num[24];

	snprintf(num, sizeof(num), "%llu", v);
	env_str(e, name, num);
}

static const char *
method_name(uint8_t code)
{
	static const char *const names[] = {
		NULL, "GET", "POST", "PUT", "DELETE", "FETCH", "PATCH",
		"iPATCH",
	};

	return code < sizeof(names) / sizeof(names[0]) && names[code] ?
	    names[code] : "UNKNOWN";
}

/* QUERY_STRING: the Uri-Query options joined with '&'; -EINVAL on NUL. */
static int
env_query(struct envb *e, const struct coap_msg *m, char *key, size_t *klen)
{
	char	 q[1024];
	size_t	 n = 0, i;

	for (i = 0; i < m->nopts; i++) {
		const struct coap_opt *o = &m->opts[i];

		if (o->num != COAP_OPT_URI_QUERY)
			continue;
		if (memchr(o->val, '\0', o->len) != NULL)
			return -EINVAL;
		if (n + o->len + 1 >= sizeof(q))
			return -EINVAL;
		if (n > 0)
			q[n++] = '&';
		memcpy(q + n, o->val, o->len);
		n += o->len;
	}
	env_add(e, "QUERY_STRING", q, n);
	/* the cache key: path, then '?' and the query */
	if (n > 0 && *klen + 1 + n < HOOK_KEY_MAX) {
		key[(*klen)++] = '?';
		memcpy(key + *klen, q, n);
		*klen += n;
	}
	return 0;
}

/* COAP_PARAM_<NAME> for each ":name" segment, upper-cased. */
static void
env_params(struct envb *e, const struct h_req *req)
{
	char	 name[64];
	size_t	 i, j;

	for (i = 0; i < req->ncaps; i++) {
		const struct route_cap *c = &req->caps[i];

		if (c->name_len > sizeof(name) - 12)
			continue;
		memcpy(name, "COAP_PARAM_", 11);
		for (j = 0; j < c->name_len; j++)
			name[11 + j] = (char)(c->name[j] >= 'a' &&
			    c->name[j] <= 'z' ? c->name[j] - 'a' + 'A' :
			    c->name[j]);
		name[11 + j] = '\0';
		env_add(e, name, c->val, c->val_len);
	}
}

/* An unsigned option as a variable, when present. */
static void
env_opt_uint(struct envb *e, const char *name, const struct coap_msg *m,
    uint16_t num)
{
	const struct coap_opt	*o = coap_msg_opt(m, num);
	uint32_t		 v;

	if (o != NULL && coap_opt_uint(o, &v) == 0)
		env_uint(e, name, v);
}

/*
 * The hook's environment for req (contract: coapd.conf(5)), but for
 * CONTENT_LENGTH, known once the body is; and ask's cache key.  A run for
 * a resource's observers (interval_s, `notify`; req->peer NULL) describes
 * no client: COAP_OBSERVE=1 instead of REMOTE_ADDR, REMOTE_PORT,
 * COAP_PSK_IDENTITY, since one run answers all of them.
 */
static int
env_build(struct envb *e, const struct h_req *req, struct hook_ask *ask)
{
	const struct cfg_route	*rt = req->route;
	char			 host[NI_MAXHOST], port[NI_MAXSERV];
	struct sockaddr_storage	 peer;
	socklen_t		 plen;
	bool			 path_set = false;
	size_t			 i;

	e->n = e->len = 0;
	e->full = false;
	for (i = 0; i < rt->nenv; i++)
		if (strncmp(rt->env[i], "PATH=", 5) == 0)
			path_set = true;
	if (!path_set)
		env_str(e, "PATH", DEFAULT_PATH);
	env_str(e, "REQUEST_METHOD", method_name(req->msg->code));
	env_add(e, "COAP_PATH", req->path, req->path_len);
	env_str(e, "COAP_ROUTE", rt->path);
	memcpy(ask->key, req->path, req->path_len);
	ask->keylen = req->path_len;
	if (env_query(e, req->msg, ask->key, &ask->keylen) != 0)
		return -EINVAL;
	env_params(e, req);
	env_opt_uint(e, "CONTENT_FORMAT", req->msg, COAP_OPT_CONTENT_FORMAT);
	env_opt_uint(e, "COAP_ACCEPT", req->msg, COAP_OPT_ACCEPT);
	if (req->peer == NULL) {
		env_str(e, "COAP_OBSERVE", "1");
		snprintf(ask->who, sizeof(ask->who), "observers");
		return e->full ? -E2BIG : 0;
	}
	plen = net_addr_unmap(req->peer, req->peerlen, &peer);
	if (getnameinfo((struct sockaddr *)&peer, plen, host, sizeof(host),
	    port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		env_str(e, "REMOTE_ADDR", host);
		env_str(e, "REMOTE_PORT", port);
		snprintf(ask->who, sizeof(ask->who), "%s port %s", host, port);
	}
	if (req->psk_identity != NULL)
		env_str(e, "COAP_PSK_IDENTITY", req->psk_identity);
	return e->full ? -E2BIG : 0;
}

/* The route's env and ours, in one NULL-terminated array. */
static char **
env_join(const struct envb *e, const struct cfg_route *rt)
{
	char	**v;
	size_t	 i, n = 0;

	if ((v = calloc(e->n + rt->nenv + 1, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < rt->nenv; i++)
		v[n++] = rt->env[i];
	for (i = 0; i < e->n; i++)
		v[n++] = e->vars[i];
	v[n] = NULL;
	return v;
}

/* An unnamed file in hooks.tmp_dir for a request body. */
static int
body_file(struct hook_worker *hw, const struct cfg *c)
{
	const char	*dir = c->hooks.tmp_dir ? c->hooks.tmp_dir : "/tmp";
	int		 fd, e;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	e = errno;
	log_limited(&hw->ll_tmp, clock_now_ns(), LOG_LVL_WARN, NULL,
	    "hooks: temporary file in %s: %s", dir, strerror(e));
	return -e;
}

static int
write_all(int fd, const uint8_t *p, size_t n, off_t off)
{
	ssize_t	 w;

	while (n > 0) {
		w = pwrite(fd, p, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* The key of a Block1 transfer: peer, path, Request-Tag (upload.h). */
static void
upload_key_of(const struct h_req *req, struct upload_key *k)
{
	const struct coap_opt	*tag;

	memset(k, 0, sizeof(*k));
	k->scope = req->scope;
	k->peer = req->peer;
	k->peerlen = req->peerlen;
	k->path = req->path;
	k->path_len = req->path_len;
	if ((tag = coap_msg_opt(req->msg, COAP_OPT_REQUEST_TAG)) != NULL) {
		k->has_tag = true;
		k->tag = tag->val;
		k->taglen = (uint8_t)tag->len;
	}
}

static void
upload_drop(struct hook_worker *hw, struct upload *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	upload_release(&hw->up, u);
}

/* Answer a Block1 problem (RFC 7959 §2.9) and drop the transfer. */
static int
block1_refuse(struct hook_worker *hw, struct upload *u,
    enum upload_verdict v, const struct cfg_route *rt, struct coap_resp *r)
{
	if (u != NULL)
		upload_drop(hw, u);
	switch (v) {
	case UPLOAD_TOO_LARGE:
		r->code = COAP_REQUEST_ENTITY_TOO_LARGE;
		coap_resp_opt_uint(r, COAP_OPT_SIZE1,
		    rt->max_body_bytes > UINT32_MAX ? UINT32_MAX :
		    (uint32_t)rt->max_body_bytes);
		break;
	case UPLOAD_INCOMPLETE:
		r->code = COAP_REQUEST_ENTITY_INCOMPLETE;
		break;
	default:
		r->code = COAP_BAD_REQUEST;
		break;
	}
	return H_DONE;
}

/* RFC 7959 §2.3: 2.31 Continue acknowledges block b. */
static int
block1_continue(const struct block_opt *b, struct coap_resp *r)
{
	r->code = COAP_CONTINUE;
	coap_resp_opt_uint(r, COAP_OPT_BLOCK1,
	    block_opt_encode(b->num, true, b->szx));
	return H_DONE;
}

/*
 * The request body as a file: *fd is the hook's stdin, *len its size.
 * Returns 1 to run the hook, or H_DONE with resp filled (2.31 Continue
 * for a Block1 block that is not the last, or an error).
 */
static int
body(struct hook_worker *hw, const struct h_req *req, struct coap_resp *r,
    int *fd, uint64_t *len)
{
	const struct coap_msg	*m = req->msg;
	const struct cfg_route	*rt = req->route;
	struct block_opt	 b;
	struct upload_key	 k;
	struct upload		*u;
	enum upload_verdict	 v;
	uint64_t		 off;
	int			 rc;

	*len = 0;
	rc = block_opt_get(m, COAP_OPT_BLOCK1, &b);
	if (rc == -EBADMSG || rc == -EINVAL) {
		r->code = rc == -EBADMSG ? COAP_BAD_OPTION : COAP_BAD_REQUEST;
		return H_DONE;
	}
	if (rc != 0) {
		/* the whole body in this message */
		if (m->payload_len > rt->max_body_bytes)
			return block1_refuse(hw, NULL, UPLOAD_TOO_LARGE, rt, r);
		if (m->payload_len == 0) {
			*fd = dup(hw->devnull);
			return *fd < 0 ? -errno : 1;
		}
		if ((*fd = body_file(hw, req->cfg)) < 0)
			return *fd;
		if ((rc = write_all(*fd, m->payload, m->payload_len, 0)) != 0) {
			close(*fd);
			return rc;
		}
		*len = m->payload_len;
		return 1;
	}
	upload_key_of(req, &k);
	off = (uint64_t)b.num * block_size(b.szx);
	u = upload_find(&hw->up, &k);
	if (u != NULL && off == 0 && u->received > 0) {
		/* block 0 again: the client starts over */
		upload_drop(hw, u);
		u = NULL;
	}
	v = upload_check(u, u ? u->limit : rt->max_body_bytes, off,
	    m->payload_len, b.more, block_size(b.szx));
	if (v == UPLOAD_REPEAT)	/* a retry after a lost 2.31: in already */
		return block1_continue(&b, r);
	if (v != UPLOAD_OK)
		return block1_refuse(hw, u, v, rt, r);
	if (u == NULL) {
		u = upload_alloc(&hw->up, &k, rt->max_body_bytes, req->now_ns);
		if (u == NULL) {
			if (req->engine != NULL)
				METRIC_INC(req->engine->m->uploads_refused);
			xch_busy(r);
			return H_DONE;
		}
		if ((u->fd = body_file(hw, req->cfg)) < 0) {
			rc = u->fd;
			upload_drop(hw, u);
			return rc;
		}
	}
	if ((rc = write_all(u->fd, m->payload, m->payload_len,
	    (off_t)off)) != 0) {
		upload_drop(hw, u);
		return rc;
	}
	upload_advance(u, m->payload_len, req->now_ns);
	if (b.more)
		return block1_continue(&b, r);
	*fd = u->fd;
	*len = u->received;
	u->fd = -1;
	upload_release(&hw->up, u);
	/* RFC 7959 §2.3: the final answer acknowledges the last block */
	return 1;
}

/*
 * Is o the output a's later blocks come from?  An output is kept for the
 * client whose request ran the hook; one without a peer is a
 * notification's (notify_late.c runs the hook once for all the observers of
 * the resource), and every client of the same scope fetches that
 * notification's later blocks from it, as it would from one run per
 * block -- but without a new run whose output may differ.
 */
static bool
out_matches(const struct hook_out *o, const struct hook_ask *a)
{
	return o->used && o->scope == a->scope && o->keylen == a->keylen &&
	    memcmp(o->key, a->key, a->keylen) == 0 && (o->peerlen == 0 ||
	    net_addr_same((const struct sockaddr *)&o->peer, o->peerlen,
	    (const struct sockaddr *)&a->peer, a->peerlen));
}

static void
out_free(struct hook_worker *hw, struct hook_out *o)
{
	hw->cache_bytes -= o->len;
	free(o->data);
	memset(o, 0, sizeof(*o));
}

struct hook_out *
hook_cache_put(struct hook_worker *hw, const struct hook_ask *ask,
    const struct cfg *c, uint8_t code, int ct, int64_t max_age,
    const uint8_t *etag, size_t etag_len, char *data, size_t len,
    uint64_t now_ns)
{
	struct hook_out	*o, *oldest;
	size_t		 i;

	if (len > c->hooks.max_cache_bytes)
		return NULL;
	for (i = 0; i < HOOK_CACHE_SLOTS; i++)
		if (out_matches(&hw->cache[i], ask))
			out_free(hw, &hw->cache[i]);
	/* the oldest goes first, until the output fits */
	for (;;) {
		o = oldest = NULL;
		for (i = 0; i < HOOK_CACHE_SLOTS; i++) {
			if (!hw->cache[i].used)
				o = &hw->cache[i];
			else if (oldest == NULL ||
			    hw->cache[i].stored_ns < oldest->stored_ns)
				oldest = &hw->cache[i];
		}
		if (o != NULL && hw->cache_bytes + len <= c->hooks.max_cache_bytes)
			break;
		if (oldest == NULL)
			return NULL;
		out_free(hw, oldest);
	}
	o->used = true;
	o->scope = ask->scope;
	o->peer = ask->peer;
	o->peerlen = ask->peerlen;
	memcpy(o->key, ask->key, ask->keylen);
	o->keylen = ask->keylen;
	o->code = code;
	o->ct = ct;
	o->max_age = max_age;
	memcpy(o->etag, etag, etag_len);
	o->etag_len = etag_len;
	o->data = data;
	o->len = len;
	o->stored_ns = now_ns;
	o->expires_ns = now_ns + (uint64_t)c->exchange_lifetime_s * NS_PER_SEC;
	hw->cache_bytes += len;
	return o;
}

void
hook_answer_block(const struct hook_out *o, const struct cfg_route *rt,
    const struct block_ask *a, struct coap_resp *resp)
{
	int	 szx = block_szx_for(rt->block_size);

	resp->code = o->code;
	if (o->ct >= 0)
		coap_resp_opt_uint(resp, COAP_OPT_CONTENT_FORMAT,
		    (uint32_t)o->ct);
	else if (rt->ct >= 0)
		coap_resp_opt_uint(resp, COAP_OPT_CONTENT_FORMAT,
		    (uint32_t)rt->ct);
	if (o->max_age >= 0)
		coap_resp_opt_uint(resp, COAP_OPT_MAX_AGE, (uint32_t)o->max_age);
	if (o->etag_len > 0)
		coap_resp_opt(resp, COAP_OPT_ETAG, o->etag, o->etag_len);
	/* a block past the end is 4.00 with nothing of the output's */
	if (block2_respond_to(resp, a, (const uint8_t *)o->data, o->len,
	    (uint8_t)(szx < 0 ? 0 : szx)) != 0)
		coap_resp_reset(resp, COAP_INTERNAL_SERVER_ERROR);
	else if (resp->code == COAP_BAD_REQUEST)
		coap_resp_reset(resp, COAP_BAD_REQUEST);
}

/* What a run must remember of req, and the cached output for it. */
static void
ask_of(const struct h_req *req, struct hook_ask *a)
{
	memset(a, 0, sizeof(*a));
	a->method = req->msg->code;
	block2_ask(req->msg, &a->block2);
	a->scope = req->scope;
	if (req->peer != NULL && req->peerlen <= sizeof(a->peer)) {
		memcpy(&a->peer, req->peer, req->peerlen);
		a->peerlen = req->peerlen;
	}
	snprintf(a->who, sizeof(a->who), "unknown peer");
}

/* A later block of an output this client has: answer from it. */
static bool
from_cache(struct hook_worker *hw, const struct h_req *req,
    const struct hook_ask *a, struct coap_resp *resp)
{
	struct hook_out	*o;
	size_t		 i;

	if (a->block2.rc != 0 || a->block2.b.num == 0)
		return false;
	for (i = 0; i < HOOK_CACHE_SLOTS; i++) {
		o = &hw->cache[i];
		if (!out_matches(o, a))
			continue;
		if (o->expires_ns <= req->now_ns) {
			out_free(hw, o);
			return false;
		}
		hook_answer_block(o, req->route, &a->block2, resp);
		return true;
	}
	return false;
}

static int
hk_start(const struct h_req *req, struct coap_resp *resp)
{
	struct hook_worker	*hw = req->hstate;
	struct hook_ask		 ask;
	struct envb		 e;
	char			**envp;
	uint64_t		 len;
	int			 fd = -1, rc;

	if (hw == NULL)
		return -ENOSYS;
	hw->grace_s = req->cfg->hooks.term_grace_s;
	ask_of(req, &ask);
	/* the key first: a cached output is found by path and query */
	if (env_build(&e, req, &ask) != 0) {
		resp->code = COAP_BAD_REQUEST;
		return H_DONE;
	}
	if (from_cache(hw, req, &ask, resp))
		return H_DONE;
	if ((rc = body(hw, req, resp, &fd, &len)) != 1)
		return rc;
	env_uint(&e, "CONTENT_LENGTH", len);
	if (e.full || (envp = env_join(&e, req->route)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	rc = hook_run_start(hw, req, resp, envp, fd, &ask);
	free(envp);
	return rc;
}

static void *
hk_worker_init(const struct cfg *c, const struct h_env *env,
    const struct h_svc *svc)
{
	struct hook_worker	*hw;

	(void)env;
	if (svc == NULL || (hw = calloc(1, sizeof(*hw))) == NULL)
		return NULL;
	hw->svc = svc;
	hw->sp_watch = hw->sp_retry = -1;
	hw->grace_s = c->hooks.term_grace_s;
	hw->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (hw->devnull < 0 ||
	    upload_table_init(&hw->up, c->limits.max_uploads) != 0) {
		if (hw->devnull >= 0)
			close(hw->devnull);
		free(hw);
		return NULL;
	}
	return hw;
}

static void
hk_sweep(void *p, uint64_t now_ns)
{
	struct hook_worker	*hw = p;
	struct upload		*u;
	unsigned		 cursor = 0;
	size_t			 i;

	if (hw == NULL)
		return;
	while ((u = upload_next_expired(&hw->up, now_ns, UPLOAD_IDLE_NS,
	    &cursor)) != NULL)
		upload_drop(hw, u);
	for (i = 0; i < HOOK_CACHE_SLOTS; i++)
		if (hw->cache[i].used && hw->cache[i].expires_ns <= now_ns)
			out_free(hw, &hw->cache[i]);
}

static void
hk_worker_fini(void *p)
{
	struct hook_worker	*hw = p;
	size_t			 i;

	if (hw == NULL)
		return;
	hook_run_fini(hw, hw->grace_s);
	for (i = 0; i < hw->up.cap; i++)
		if (hw->up.u[i].used)
			upload_drop(hw, &hw->up.u[i]);
	upload_table_fini(&hw->up);
	for (i = 0; i < HOOK_CACHE_SLOTS; i++)
		if (hw->cache[i].used)
			out_free(hw, &hw->cache[i]);
	close(hw->devnull);
	free(hw);
}

const struct handler_ops h_hook_ops = {
	.name = "hook",
	.worker_init = hk_worker_init,
	.worker_fini = hk_worker_fini,
	.start = hk_start,
	.cancel = hook_run_cancel,
	.sweep = hk_sweep,
};
