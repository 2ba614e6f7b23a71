/*
 * cfg_limits.c - the `limits` group: rate limits, load shedding, bounds of
 * per-client state and the hostile-peer guards (coapd.conf(5) LIMITS); and
 * the `coap` group: the RFC 7252 §4.8 transmission parameters.
 */
#include <stddef.h>
#include <stdint.h>

#include "adapt/cfg.h"
#include "adapt/cfg_int.h"

#define FLD(st, f)	.off = offsetof(st, f), .size = sizeof(((st *)0)->f)

/* The load levels need room for hysteresis (ratelimit.h rl_load). */
static void
limits_finish(struct ld *ld, const struct config_setting_t *g,
    const struct config_setting_t *at, const char *key, void *base)
{
	struct cfg_limits	*l = base;

	(void)at;
	if (g == NULL || !ld->group_clean)
		return;
	if (l->normal_below_percent >= l->throttle_at_percent ||
	    l->throttle_at_percent > l->shed_at_percent)
		ld_err(ld, g, "%s: want normal_below_percent (%u) < "
		    "throttle_at_percent (%u) <= shed_at_percent (%u)", key,
		    l->normal_below_percent, l->throttle_at_percent,
		    l->shed_at_percent);
}


/*
 * Rate limits and load shedding (ratelimit.h, dispatch.c).  Defaults:
 * no rate limit (an operator knows the rates of his devices; the shipped
 * conf/coapd.conf sets them), load levels as issue 16 asks.
 */
static const struct opt limits_opts[] = {
	{ .name = "rate", .type = OPT_INT, FLD(struct cfg_limits, rate),
	  .min = 0, .max = 1000000, .def = 0 },
	{ .name = "burst", .type = OPT_INT, FLD(struct cfg_limits, burst),
	  .min = 1, .max = 1000000, .def = 50 },
	{ .name = "identity_rate", .type = OPT_INT,
	  FLD(struct cfg_limits, identity_rate),
	  .min = 0, .max = 1000000, .def = 0 },
	{ .name = "identity_burst", .type = OPT_INT,
	  FLD(struct cfg_limits, identity_burst),
	  .min = 1, .max = 1000000, .def = 50 },
	{ .name = "ipv6_prefix", .type = OPT_INT,
	  FLD(struct cfg_limits, ipv6_prefix), .min = 1, .max = 128, .def = 64 },
	{ .name = "max_clients", .type = OPT_INT,
	  FLD(struct cfg_limits, max_clients),
	  .min = 16, .max = 1 << 24, .def = 10000, .flags = OPT_RESTART },
	{ .name = "client_idle_s", .type = OPT_INT,
	  FLD(struct cfg_limits, client_idle_s),
	  .min = 1, .max = 86400, .def = 60 },
	{ .name = "throttle_at_percent", .type = OPT_INT,
	  FLD(struct cfg_limits, throttle_at_percent),
	  .min = 1, .max = 100, .def = 75 },
	{ .name = "shed_at_percent", .type = OPT_INT,
	  FLD(struct cfg_limits, shed_at_percent),
	  .min = 1, .max = 100, .def = 90 },
	{ .name = "normal_below_percent", .type = OPT_INT,
	  FLD(struct cfg_limits, normal_below_percent),
	  .min = 1, .max = 100, .def = 50 },
	{ .name = "shed_max_age_s", .type = OPT_INT,
	  FLD(struct cfg_limits, shed_max_age_s),
	  .min = 0, .max = 3600, .def = 5 },
	/* upload tables are made when the workers start */
	{ .name = "max_uploads", .type = OPT_INT,
	  FLD(struct cfg_limits, max_uploads),
	  .min = 1, .max = 4096, .def = 32, .flags = OPT_RESTART },
	/* hostile peers (amp.c, notify.c) */
	{ .name = "echo_lifetime_s", .type = OPT_INT,
	  FLD(struct cfg_limits, echo_lifetime_s),
	  .min = 1, .max = 86400, .def = 3600 },
	{ .name = "max_amp_clients", .type = OPT_INT,
	  FLD(struct cfg_limits, max_amp_clients),
	  .min = 64, .max = 1 << 24, .def = 65536 },
	{ .name = "max_observers_per_client", .type = OPT_INT,
	  FLD(struct cfg_limits, max_observers_per_client),
	  .min = 1, .max = 1 << 20, .def = 32 },
};

const struct optset ld_limits_set = {
	limits_opts, NELEM(limits_opts), 0, NULL, limits_finish,
};

/*
 * RFC 7252 §4.8: ACK_TIMEOUT and MAX_RETRANSMIT of every confirmable
 * message coapd sends (separate responses, CON notifications, requests to
 * UDP backends); ACK_RANDOM_FACTOR stays 1.5.  The RFC's defaults; lower
 * values give up on a silent peer sooner (tests use them).
 */
static const struct opt coap_opts[] = {
	{ .name = "ack_timeout_ms", .type = OPT_INT,
	  FLD(struct retx_params, ack_timeout_ms),
	  .min = 10, .max = 60000, .def = RETX_ACK_TIMEOUT_MS },
	{ .name = "max_retransmit", .type = OPT_INT,
	  FLD(struct retx_params, max_retransmit),
	  .min = 0, .max = 20, .def = RETX_MAX_RETRANSMIT },
};

const struct optset ld_coap_set = {
	coap_opts, NELEM(coap_opts), 0, NULL, NULL,
};
