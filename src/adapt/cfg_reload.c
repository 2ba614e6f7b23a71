/*
 * cfg_reload.c - the keys a reload cannot change (OPT_RESTART in the
 * tables): compared between the running snapshot and the one being loaded,
 * while the file's settings are still at hand for FILE:LINE.
 *
 * Refusing the whole reload, rather than applying the rest and ignoring
 * these, keeps one rule for the operator: what the file says is what runs,
 * or the reload failed and says why (Knot's server_reload() model; see
 * coapd(8) RELOAD).
 */
#include <stdio.h>
#include <string.h>

#include "adapt/cfg.h"
#include "adapt/cfg_int.h"

static unsigned long long
get_int(const void *base, const struct opt *o)
{
	const char	*p = (const char *)base + o->off;
	uint8_t		 u8;
	uint16_t	 u16;
	uint32_t	 u32;
	uint64_t	 u64 = 0;

	switch (o->size) {
	case 1:
		memcpy(&u8, p, 1);
		return u8;
	case 2:
		memcpy(&u16, p, 2);
		return u16;
	case 4:
		memcpy(&u32, p, 4);
		return u32;
	default:
		memcpy(&u64, p, sizeof(u64));
		return u64;
	}
}

static const char *
get_str(const void *base, const struct opt *o)
{
	const char	*s;

	memcpy(&s, (const char *)base + o->off, sizeof(s));
	return s;
}

static bool
str_same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether key o holds the same value in the structs at a and b. */
static bool
opt_same(const struct opt *o, const void *a, const void *b)
{
	const struct optset *set = o->sub;
	const char	*ea, *eb;
	size_t		 na, nb, i, j;

	switch (o->type) {
	case OPT_INT:
		return get_int(a, o) == get_int(b, o);
	case OPT_BOOL:
		return memcmp((const char *)a + o->off, (const char *)b + o->off,
		    sizeof(bool)) == 0;
	case OPT_STR:
		return str_same(get_str(a, o), get_str(b, o));
	case OPT_LIST:
		memcpy(&na, (const char *)a + o->noff, sizeof(na));
		memcpy(&nb, (const char *)b + o->noff, sizeof(nb));
		if (na != nb)
			return false;
		ea = get_str(a, o);
		eb = get_str(b, o);
		for (i = 0; i < na; i++)
			for (j = 0; j < set->nopts; j++)
				if (!opt_same(&set->opts[j],
				    ea + i * set->size, eb + i * set->size))
					return false;
		return true;
	default:	/* no restart-only key of another type */
		return true;
	}
}

static void
restart_err(struct ld *ld, const struct config_setting_t *at,
    const struct opt *o, const char *key, const void *run, const void *now)
{
	const char	*a, *b;

	switch (o->type) {
	case OPT_INT:
		ld_err(ld, at, "%s: cannot change on reload (running %llu, "
		    "file %llu); restart coapd to apply it", key,
		    get_int(run, o), get_int(now, o));
		break;
	case OPT_STR:
		a = get_str(run, o);
		b = get_str(now, o);
		ld_err(ld, at, "%s: cannot change on reload (running %s%s%s, "
		    "file %s%s%s); restart coapd to apply it", key,
		    a ? "\"" : "", a ? a : "unset", a ? "\"" : "",
		    b ? "\"" : "", b ? b : "unset", b ? "\"" : "");
		break;
	default:
		ld_err(ld, at, "%s: cannot change on reload; restart coapd "
		    "to apply it", key);
	}
}

static void
check_set(struct ld *ld, const struct config_setting_t *g,
    const struct config_setting_t *at, const struct optset *set,
    const char *prefix, const void *run, const void *now)
{
	const struct config_setting_t *m;
	const struct opt *o;
	char		 key[128];

	for (o = set->opts; o < set->opts + set->nopts; o++) {
		snprintf(key, sizeof(key), "%s%s%s", prefix,
		    *prefix ? "." : "", o->name);
		m = g != NULL ? ld_member(g, o->name) : NULL;
		if (o->type == OPT_GROUP && !(o->flags & OPT_RESTART)) {
			check_set(ld, m, m != NULL ? m : at, o->sub, key,
			    (const char *)run + o->off,
			    (const char *)now + o->off);
			continue;
		}
		if ((o->flags & OPT_RESTART) && !opt_same(o, run, now))
			restart_err(ld, m != NULL ? m : at, o, key, run, now);
	}
}

void
ld_restart_check(struct ld *ld, const struct config_setting_t *root)
{
	check_set(ld, root, root, &ld_top_set, "", ld->running, ld->c);
}
