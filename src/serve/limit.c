/*
 * limit.c - rate limits and load shedding in the engine.  See limit.h.
 *
 * Where they sit (dispatch_datagram()): after the dedup lookup, so a
 * retransmission is answered from the cache without spending a token or
 * being shed (RFC 7252 §4.5; issue 16: "retransmitted CONs are still
 * answered"), and before routing, so a refused request costs a hash
 * probe.  Refusals are not stored in the dedup cache: the handler did not
 * run, so a retransmission may simply be judged again, and a flood of
 * refused requests cannot push out the answers of served ones.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "adapt/cfg.h"
#include "base/clock.h"
#include "proto/coap_msg.h"
#include "proto/metrics.h"
#include "serve/dispatch.h"
#include "serve/limit.h"

int
limit_init(struct dispatch *d, uint64_t seed)
{
	struct limit_state	*l = &d->lim;

	/*
	 * Peers choose addresses: key the table with a secret per worker.
	 * Before the kernel's pool is ready (early boot) the worker's seed
	 * and the clock are the best there is.
	 */
	if (getrandom(l->key, sizeof(l->key), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(l->key)) {
		uint64_t	 now = clock_now_ns();

		memcpy(l->key, &seed, sizeof(seed));
		memcpy(l->key + sizeof(seed), &now, sizeof(now));
	}
	l->rl = rl_table_new(d->cfg->limits.max_clients, l->key);
	if (l->rl == NULL)
		return -ENOMEM;
	limit_set_cfg(d);
	return 0;
}

void
limit_fini(struct dispatch *d)
{
	rl_table_free(d->lim.rl);
	d->lim.rl = NULL;
}

void
limit_set_cfg(struct dispatch *d)
{
	const struct cfg_limits	*c = &d->cfg->limits;
	struct rl_load		*ld = &d->lim.load;

	/* keep the level: a reload is no reason to stop shedding */
	ld->throttle_at = c->throttle_at_percent;
	ld->shed_at = c->shed_at_percent;
	ld->normal_below = c->normal_below_percent;
}

/* The interval of rate in force: twice as long while throttled. */
static uint64_t
interval(const struct dispatch *d, uint32_t rate)
{
	uint64_t	 T = NS_PER_SEC / rate;

	return d->lim.load.level != RL_NORMAL ? 2 * T : T;
}

/* One bucket; remembers which refused, for limit_refuse(). */
static uint64_t
take(struct dispatch *d, const struct rl_key *k, enum rl_kind kind,
    uint32_t rate, uint32_t burst, uint64_t now_ns)
{
	struct rl_verdict	 v;

	v = rl_take_ns(d->lim.rl, k, interval(d, rate), burst, now_ns);
	if (v.wait_ns != 0) {
		d->lim.slot = v.slot;
		d->lim.kind = kind;
		METRIC_INC(d->m->rate_limited[kind]);
	}
	return v.wait_ns;
}

uint64_t
limit_client(struct dispatch *d, const struct dispatch_peer *p,
    uint64_t now_ns)
{
	const struct cfg_limits	*c = &d->cfg->limits;
	struct rl_key		 k;
	uint64_t		 w;

	if (c->rate > 0 && rl_key_addr(&k, RL_ADDRESS, 0, p->addr,
	    p->addrlen, c->ipv6_prefix) == 0 &&
	    (w = take(d, &k, RL_ADDRESS, c->rate, c->burst, now_ns)) != 0)
		return w;
	if (c->identity_rate > 0 && p->psk_identity != NULL) {
		rl_key_identity(&k, p->psk_identity, d->lim.key);
		return take(d, &k, RL_IDENTITY, c->identity_rate,
		    c->identity_burst, now_ns);
	}
	return 0;
}

uint64_t
limit_route(struct dispatch *d, const struct dispatch_peer *p,
    const struct cfg_route *rt, uint64_t now_ns)
{
	struct rl_key	 k;
	uint32_t	 idx;

	if (rt->rate == 0)
		return 0;
	/* a reload renumbers routes: their buckets start afresh, no harm */
	idx = (uint32_t)(rt - d->cfg->routes);
	if (rl_key_addr(&k, RL_ROUTE, idx, p->addr, p->addrlen,
	    d->cfg->limits.ipv6_prefix) != 0)
		return 0;
	return take(d, &k, RL_ROUTE, rt->rate,
	    rt->burst != 0 ? rt->burst : rt->rate, now_ns);
}

/* RFC 7252 §4.2: RST carries the MID of the message it rejects. */
static size_t
rst(struct dispatch *d, uint8_t *out, size_t cap)
{
	struct coap_enc	 e;
	ssize_t		 n;

	coap_enc_init(&e, out, cap, COAP_TYPE_RST, COAP_EMPTY, d->msg.mid,
	    NULL, 0);
	if ((n = coap_enc_finish(&e)) < 0)
		return 0;
	METRIC_INC(d->m->rst_sent);
	return (size_t)n;
}

/* code with Max-Age: piggybacked on the ACK of a CON, or a NON. */
static size_t
refusal(struct dispatch *d, uint8_t code, uint32_t max_age, uint8_t *out,
    size_t cap)
{
	struct coap_msg		*m = &d->msg;
	struct coap_resp	*r = &d->resp;
	uint8_t			 type = COAP_TYPE_ACK;
	uint16_t		 mid = m->mid;
	ssize_t			 n;

	if (m->type != COAP_TYPE_CON) {
		type = COAP_TYPE_NON;
		mid = d->next_mid++;
	}
	coap_resp_init(r, d->payload, sizeof(d->payload));
	coap_resp_reset(r, code);
	/* RFC 8516 §4: Max-Age says when to retry (0 is "now") */
	coap_resp_opt_uint(r, COAP_OPT_MAX_AGE, max_age);
	n = coap_resp_encode(r, out, cap, type, mid, m->token, m->tkl);
	if (n < 0)
		return m->type == COAP_TYPE_CON ? rst(d, out, cap) : 0;
	METRIC_INC(d->m->resp_class[COAP_CODE_CLASS(code) % 6]);
	return (size_t)n;
}

size_t
limit_refuse(struct dispatch *d, uint64_t wait_ns, uint64_t now_ns,
    uint8_t *out, size_t cap)
{
	uint64_t	 s = (wait_ns + NS_PER_SEC - 1) / NS_PER_SEC;

	if (d->msg.type != COAP_TYPE_CON &&
	    !rl_may_answer(d->lim.rl, d->lim.slot, now_ns, NS_PER_SEC)) {
		METRIC_INC(d->m->drops[DROP_RATE_NON]);
		return 0;
	}
	return refusal(d, COAP_TOO_MANY_REQUESTS,
	    s < 1 ? 1 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s, out, cap);
}

bool
limit_shedding(const struct dispatch *d)
{
	return d->lim.load.level == RL_SHEDDING;
}

size_t
limit_shed(struct dispatch *d, uint8_t *out, size_t cap)
{
	if (d->msg.type != COAP_TYPE_CON) {
		METRIC_INC(d->m->drops[DROP_SHED_NON]);
		return 0;
	}
	METRIC_INC(d->m->shed_503);
	return refusal(d, COAP_SERVICE_UNAVAILABLE,
	    d->cfg->limits.shed_max_age_s, out, cap);
}

bool
limit_load(struct dispatch *d, unsigned io_pct, uint64_t now_ns,
    unsigned *usage_pct)
{
	struct rl_load	*ld = &d->lim.load;
	unsigned	 pct = io_pct, x;

	/* pending exchanges: hooks, backends, slow disks (xch.c) */
	x = d->cfg->max_separate > 0 ?
	    (unsigned)((uint64_t)d->nx * 100 / d->cfg->max_separate) : 0;
	if (x > pct)
		pct = x;
	*usage_pct = pct;
	if (!rl_load_update(ld, pct, now_ns))
		return false;
	METRIC_INC(d->m->load_entered[ld->level]);
	atomic_store_explicit(&d->m->load_level, ld->level,
	    memory_order_relaxed);
	return true;
}

enum rl_level
limit_level(const struct dispatch *d)
{
	return d->lim.load.level;
}

void
limit_sweep(struct dispatch *d, uint64_t now_ns)
{
	struct rl_table	*t = d->lim.rl;

	rl_reap(t, now_ns, (uint64_t)d->cfg->limits.client_idle_s *
	    NS_PER_SEC);
	/* the tables outlive reloads: their totals are the counters */
	atomic_store_explicit(&d->m->rl_clients, rl_count(t),
	    memory_order_relaxed);
	atomic_store_explicit(&d->m->rl_evicted, rl_evicted(t),
	    memory_order_relaxed);
	atomic_store_explicit(&d->m->rl_reaped, rl_reaped(t),
	    memory_order_relaxed);
}
