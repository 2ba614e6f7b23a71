/*
 * cfg_load.c - read coapd.conf with libconfig into a struct cfg.  The only
 * includer of <libconfig.h>: the other cfg*.c files see a setting as an
 * opaque struct config_setting_t and read it through the ld_* accessors
 * here.
 *
 * One generic walker applies an option table (cfg_schema.c) to a libconfig
 * group: unknown keys, types, bounds and defaults are checked here, once,
 * for every key; the table's hooks do the rest.  Errors are collected
 * (cfg_diag.c), then sorted by position and handed to the caller's
 * callback, all of them.
 */
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/cfg.h"
#include "adapt/cfg_int.h"

#define KEY_MAX		160	/* "content_formats[12].ext" and the like */

static void	 apply_group(struct ld *, const config_setting_t *,
		    const config_setting_t *, const struct optset *,
		    const char *, void *);

/*
 * Settings, for the files that do not include libconfig.
 */

const config_setting_t *
ld_member(const config_setting_t *g, const char *name)
{
	return config_setting_get_member(g, name);
}

const config_setting_t *
ld_elem_member(const config_setting_t *list, size_t i, const char *name)
{
	const config_setting_t *e;

	if (list == NULL || (e = config_setting_get_elem(list, i)) == NULL)
		return NULL;
	if (name == NULL || !config_setting_is_group(e))
		return e;
	return config_setting_get_member(e, name);
}

unsigned
ld_line(const config_setting_t *s)
{
	return config_setting_source_line(s);
}

void
ld_pos(struct ld *ld, const config_setting_t *s, const char **file,
    unsigned *line)
{
	struct ld_src	*src;

	*file = NULL;
	*line = 0;
	if (s != NULL) {
		*file = config_setting_source_file(s);
		*line = config_setting_source_line(s);
	}
	if (*file == NULL)
		*file = ld->path;
	else if ((src = ld_source(ld, *file)) != NULL)
		*file = src->shown;
	/* the root group sits on line 0: point at the top of the file */
	if (*line == 0)
		*line = 1;
}

/*
 * libconfig 1.5 reads a plain integer literal into an int and wraps it
 * silently: "max_body_bytes = 5000000000;" would load as 705032704.  Values
 * past 2^31 - 1 need the L suffix (a 64-bit literal).  The parsed value
 * cannot tell, so read the literal back from the source line of s, a
 * CONFIG_TYPE_INT setting.  Returns true when it does not fit in 32 bits,
 * with its text in lit and its value (saturated) in *val; false when it
 * fits or cannot be found.
 */
static bool
int_wrapped(struct ld *ld, const config_setting_t *s, char *lit, size_t len,
    long long *val)
{
	const char	*name = config_setting_name(s);

	if (name == NULL || config_setting_source_file(s) == NULL)
		return false;
	return ld_int_literal(ld, config_setting_source_file(s),
	    config_setting_source_line(s), name, lit, len, val);
}

/*
 * The generic walker.
 */

/* A libconfig type as a noun, for "expected ..., got an integer". */
static const char *
type_noun(int t)
{
	switch (t) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "integer";
	case CONFIG_TYPE_FLOAT:
		return "float";
	case CONFIG_TYPE_STRING:
		return "string";
	case CONFIG_TYPE_BOOL:
		return "boolean";
	case CONFIG_TYPE_ARRAY:
		return "array";
	case CONFIG_TYPE_LIST:
		return "list";
	case CONFIG_TYPE_GROUP:
		return "group";
	}
	return "nothing";
}

static const char *
article(const char *noun)
{
	return strchr("aeiou", noun[0]) != NULL ? "an" : "a";
}

static const char *
opt_type_name(enum opt_type t)
{
	switch (t) {
	case OPT_INT:
		return "an integer";
	case OPT_BOOL:
		return "a boolean (true or false)";
	case OPT_STR:
		return "a string";
	case OPT_STRV:
		return "an array of strings [ \"...\", ... ]";
	case OPT_GROUP:
		return "a group { ... }";
	case OPT_LIST:
		return "a list of groups ( { ... }, ... )";
	case OPT_ENV:
		return "a group of strings { NAME = \"value\"; ... }";
	}
	return "?";
}

static void
type_err(struct ld *ld, const config_setting_t *s, const char *key,
    const char *want)
{
	const char	*got = type_noun(config_setting_type(s));

	ld_err(ld, s, "%s: expected %s, got %s %s", key, want, article(got),
	    got);
}

static const struct opt *
opt_find(const struct optset *set, const char *name)
{
	size_t	 i;

	for (i = 0; i < set->nopts; i++)
		if (strcmp(set->opts[i].name, name) == 0)
			return &set->opts[i];
	return NULL;
}

static void
mkkey(char *buf, size_t len, const char *prefix, const char *name)
{
	if (prefix[0] == '\0')
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s.%s", prefix, name);
}

static void
store_int(void *base, const struct opt *o, long long v)
{
	char		*p = (char *)base + o->off;
	uint8_t		 u8 = (uint8_t)v;
	uint16_t	 u16 = (uint16_t)v;
	uint32_t	 u32 = (uint32_t)v;	/* an int's -1 as well */
	uint64_t	 u64 = (uint64_t)v;

	switch (o->size) {
	case 1:
		memcpy(p, &u8, 1);
		break;
	case 2:
		memcpy(p, &u16, 2);
		break;
	case 4:
		memcpy(p, &u32, 4);
		break;
	case 8:
		memcpy(p, &u64, 8);
		break;
	}
}

static void
store_bool(void *base, const struct opt *o, bool v)
{
	memcpy((char *)base + o->off, &v, sizeof(v));
}

static int
store_str(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, const char *val, void *base)
{
	char	*dup;

	if (o->conv != NULL)
		return o->conv(ld, s, key, val, base);
	if ((dup = ld_strdup(ld, val)) == NULL)
		return -ENOMEM;
	memcpy((char *)base + o->off, &dup, sizeof(dup));
	return 0;
}

static bool
str_valid(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, const char *val)
{
	size_t	 len = strlen(val);

	if (len < (size_t)o->min) {
		ld_err(ld, s, "%s: must not be empty", key);
		return false;
	}
	if (o->max > 0 && len > (size_t)o->max) {
		ld_err(ld, s, "%s: longer than %lld bytes", key, o->max);
		return false;
	}
	return o->check == NULL || o->check(ld, s, key, val) == 0;
}

static void
apply_list(struct ld *ld, const config_setting_t *s,
    const config_setting_t *at, const struct opt *o, const char *key,
    void *base)
{
	const struct optset *set = o->sub;
	const config_setting_t *e;
	char		 ekey[KEY_MAX];
	char		*arr;
	size_t		 i, n;

	n = s != NULL ? (size_t)config_setting_length(s) : 1;
	if (n == 0)
		return;
	if ((arr = ld_alloc_fail(ld, calloc(n, set->size))) == NULL)
		return;
	/* owned by the snapshot from here, so cfg_free() sees it */
	memcpy((char *)base + o->off, &arr, sizeof(arr));
	memcpy((char *)base + o->noff, &n, sizeof(n));
	for (i = 0; i < n && set->init != NULL; i++)
		set->init(ld, arr + i * set->size);
	for (i = 0; i < n; i++) {
		snprintf(ekey, sizeof(ekey), "%s[%zu]", key, i);
		if (s == NULL) {
			apply_group(ld, NULL, at, set, ekey, arr);
			continue;
		}
		e = config_setting_get_elem(s, i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			type_err(ld, e, ekey, opt_type_name(OPT_GROUP));
		else
			apply_group(ld, e, e, set, ekey, arr + i * set->size);
	}
}

static void
apply_strv(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, void *base)
{
	const config_setting_t *e;
	const char	*val;
	char		**v = NULL;
	size_t		 i, n, nv = 0;

	n = (size_t)config_setting_length(s);
	if (n > 0 && o->conv == NULL) {
		if ((v = ld_alloc_fail(ld, calloc(n, sizeof(*v)))) == NULL)
			return;
		memcpy((char *)base + o->off, &v, sizeof(v));
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			/* libconfig arrays hold one type: one error will do */
			ld_err(ld, e, "%s: expected %s, got an array of %ss",
			    key, opt_type_name(o->type),
			    type_noun(config_setting_type(e)));
			return;
		}
		val = config_setting_get_string(e);
		if (!str_valid(ld, e, o, key, val))
			continue;
		if (o->conv != NULL)
			o->conv(ld, e, key, val, base);
		else if (v != NULL && (v[nv] = ld_strdup(ld, val)) != NULL)
			nv++;
	}
	if (v != NULL)
		memcpy((char *)base + o->noff, &nv, sizeof(nv));
}

/* Variables coapd sets for a hook (coapd.conf(5)): not the route's. */
static bool
env_reserved(const char *name)
{
	static const char *const cgi[] = {
		"REQUEST_METHOD", "QUERY_STRING", "CONTENT_FORMAT",
		"CONTENT_LENGTH", "REMOTE_ADDR", "REMOTE_PORT",
	};
	size_t	 i;

	if (strncmp(name, "COAP_", 5) == 0)
		return true;
	for (i = 0; i < NELEM(cgi); i++)
		if (strcmp(name, cgi[i]) == 0)
			return true;
	return false;
}

/* OPT_ENV: every member a string, kept as "NAME=value". */
static void
apply_env(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, void *base)
{
	const config_setting_t *e;
	const char	*name, *p;
	char		**v, ekey[KEY_MAX];
	size_t		 i, n, nv = 0;

	if ((n = (size_t)config_setting_length(s)) == 0)
		return;
	if ((v = ld_alloc_fail(ld, calloc(n, sizeof(*v)))) == NULL)
		return;
	memcpy((char *)base + o->off, &v, sizeof(v));
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, i);
		name = config_setting_name(e);
		if (snprintf(ekey, sizeof(ekey), "%s.%s", key, name) < 0)
			ekey[0] = '\0';
		for (p = name; *p == '_' || isalnum((unsigned char)*p); p++)
			;
		if (*p != '\0' || isdigit((unsigned char)name[0])) {
			ld_err(ld, e, "%s: not a variable name (letters, "
			    "digits and _)", ekey);
			continue;
		}
		if (env_reserved(name)) {
			ld_err(ld, e, "%s: coapd sets this variable itself",
			    ekey);
			continue;
		}
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			type_err(ld, e, ekey, opt_type_name(OPT_STR));
			continue;
		}
		if (asprintf(&v[nv], "%s=%s", name,
		    config_setting_get_string(e)) == -1) {
			ld->nomem = true;
			break;
		}
		nv++;
	}
	memcpy((char *)base + o->noff, &nv, sizeof(nv));
}

static void
apply_default(struct ld *ld, const config_setting_t *at, const struct opt *o,
    const char *key, void *base)
{
	if (o->flags & OPT_REQUIRED) {
		ld_err(ld, at, "%s: required key missing", key);
		return;
	}
	if (o->flags & (OPT_NODEFAULT | OPT_TARGET))
		return;
	switch (o->type) {
	case OPT_INT:
		store_int(base, o, o->def);
		break;
	case OPT_BOOL:
		store_bool(base, o, o->def != 0);
		break;
	case OPT_STR:
		if (o->sdef != NULL)
			store_str(ld, NULL, o, key, o->sdef, base);
		break;
	case OPT_STRV:
	case OPT_ENV:
		break;
	case OPT_GROUP:
		apply_group(ld, NULL, at, o->sub, key, (char *)base + o->off);
		break;
	case OPT_LIST:
		if (o->flags & OPT_ONEDEFAULT)
			apply_list(ld, NULL, at, o, key, base);
		break;
	}
}

/* Whether s has the libconfig type o wants; reports when not. */
static bool
type_ok(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key)
{
	int	 t = config_setting_type(s);
	bool	 ok = false;

	switch (o->type) {
	case OPT_INT:
		ok = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
		break;
	case OPT_BOOL:
		ok = t == CONFIG_TYPE_BOOL;
		break;
	case OPT_STR:
		ok = t == CONFIG_TYPE_STRING;
		break;
	case OPT_STRV:
		ok = t == CONFIG_TYPE_ARRAY ||
		    (t == CONFIG_TYPE_LIST && config_setting_length(s) == 0);
		break;
	case OPT_GROUP:
	case OPT_ENV:
		ok = t == CONFIG_TYPE_GROUP;
		break;
	case OPT_LIST:
		ok = t == CONFIG_TYPE_LIST;
		break;
	}
	if (!ok)
		type_err(ld, s, key, opt_type_name(o->type));
	return ok;
}

/* An integer of the right type: bounds, then stored.  Returns 0 or -EINVAL. */
static int
apply_int(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, void *base)
{
	long long	 v;
	char		 lit[64];

	if (config_setting_type(s) == CONFIG_TYPE_INT &&
	    int_wrapped(ld, s, lit, sizeof(lit), &v)) {
		if (v < o->min || v > o->max)
			ld_err(ld, s, "%s: %s out of range %lld..%lld",
			    key, lit, o->min, o->max);
		else
			ld_err(ld, s, "%s: %s does not fit in 32 bits: "
			    "write %sL", key, lit, lit);
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < o->min || v > o->max) {
		ld_err(ld, s, "%s: %lld out of range %lld..%lld", key,
		    v, o->min, o->max);
		return -EINVAL;
	}
	if ((o->flags & OPT_POW2) && (v & (v - 1)) != 0) {
		ld_err(ld, s, "%s: %lld is not a power of two", key, v);
		return -EINVAL;
	}
	store_int(base, o, v);
	return 0;
}

/* A value of the right type, by type.  Returns 0, or <0 after reporting. */
static int
apply_value(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, void *base)
{
	const char	*val;

	switch (o->type) {
	case OPT_INT:
		return apply_int(ld, s, o, key, base);
	case OPT_BOOL:
		store_bool(base, o, config_setting_get_bool(s));
		return 0;
	case OPT_STR:
		val = config_setting_get_string(s);
		if (!str_valid(ld, s, o, key, val))
			return -EINVAL;
		return store_str(ld, s, o, key, val, base);
	case OPT_STRV:
		if ((o->flags & OPT_NONEMPTY) && config_setting_length(s) == 0) {
			ld_err(ld, s, "%s: empty array: at least one value is "
			    "required", key);
			return -EINVAL;
		}
		apply_strv(ld, s, o, key, base);
		return 0;
	case OPT_GROUP:
		apply_group(ld, s, s, o->sub, key, (char *)base + o->off);
		return 0;
	case OPT_LIST:
		if ((o->flags & OPT_NONEMPTY) && config_setting_length(s) == 0) {
			ld_err(ld, s, "%s: empty list: at least one entry is "
			    "required", key);
			return -EINVAL;
		}
		apply_list(ld, s, s, o, key, base);
		return 0;
	case OPT_ENV:
		apply_env(ld, s, o, key, base);
		return 0;
	}
	return 0;
}

/* Key o, present as setting s. */
static void
apply_opt(struct ld *ld, const config_setting_t *s, const struct opt *o,
    const char *key, void *base)
{
	if (type_ok(ld, s, o, key) && apply_value(ld, s, o, key, base) == 0)
		return;
	/*
	 * A bad value leaves the default, so later checks do not cascade.
	 * The copy has no flags and no string default: integers, booleans
	 * and groups get their default back; strings, arrays and lists stay
	 * unset.
	 */
	if (!(o->flags & OPT_NODEFAULT)) {
		o = &(struct opt){ .name = o->name, .type = o->type,
		    .off = o->off, .size = o->size, .def = o->def,
		    .sub = o->sub };
		apply_default(ld, s, o, key, base);
	}
}

/*
 * Apply the table set to group g (NULL when absent: defaults only; at is
 * then the position to report), filling the struct at base.  prefix names
 * the group in messages ("" for the top level).
 */
static void
apply_group(struct ld *ld, const config_setting_t *g,
    const config_setting_t *at, const struct optset *set, const char *prefix,
    void *base)
{
	const config_setting_t *m;
	const struct opt *o;
	char		 key[KEY_MAX];
	size_t		 before = ld->nmsgs;
	int		 i, n;

	if (g != NULL) {
		n = config_setting_length(g);
		for (i = 0; i < n; i++) {
			m = config_setting_get_elem(g, i);
			if (opt_find(set, config_setting_name(m)) != NULL)
				continue;
			mkkey(key, sizeof(key), prefix, config_setting_name(m));
			ld_unknown_key(ld, m, config_setting_name(m), key, set);
		}
	}
	for (o = set->opts; o < set->opts + set->nopts; o++) {
		mkkey(key, sizeof(key), prefix, o->name);
		m = g != NULL ? config_setting_get_member(g, o->name) : NULL;
		if (m == NULL)
			apply_default(ld, g != NULL ? g : at, o, key, base);
		else
			apply_opt(ld, m, o, key, base);
	}
	ld->group_clean = ld->nmsgs == before;
	if (set->finish != NULL)
		set->finish(ld, g, g != NULL ? g : at, prefix, base);
}

/*
 * Loading.
 */

static void
emit(cfg_err_fn *err, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
emit(cfg_err_fn *err, void *arg, const char *fmt, ...)
{
	char	 line[1536];
	va_list	 ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	err(arg, line);
}

static int
msg_cmp(const void *a, const void *b)
{
	const struct ld_msg *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* An empty snapshot for path, and the names messages need.  0 or -errno. */
static int
ld_init(struct ld *ld, const char *path)
{
	struct cfg	*c;
	const char	*slash;
	int		 rc;

	memset(ld, 0, sizeof(*ld));
	ld->path = path;
	if ((ld->store = calloc(1, sizeof(*ld->store))) == NULL)
		return -ENOMEM;
	c = ld->c = &ld->store->pub;
	atomic_init(&c->refs, 1);
	if ((c->file = strdup(path)) == NULL) {
		cfg_free(c);
		return -ENOMEM;
	}
	if ((c->dir = ld_dir_of(path)) == NULL) {
		rc = -errno;
		cfg_free(c);
		return rc;
	}
	if ((slash = strrchr(path, '/')) != NULL &&
	    (ld->showdir = strndup(path, (size_t)(slash - path))) == NULL) {
		cfg_free(c);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Parse the file and its @includes into lc (destroyed by the caller in any
 * case).  libconfig stops at the first syntax error: that one is reported,
 * with the line and what was expected (ld_parse_err()).
 * Returns 0, -EINVAL after reporting, or -EIO.
 */
static int
read_file(struct ld *ld, config_t *lc, cfg_err_fn *err, void *arg)
{
	char	 msg[1024];

	config_init(lc);
	/* @include "x.conf" is relative to this file, as other paths are */
	config_set_include_dir(lc, ld->c->dir);
	if (ld_include_dir(ld, ld->path, 0, msg, sizeof(msg))) {
		emit(err, arg, "%s", msg);
		return -EINVAL;
	}
	if (config_read_file(lc, ld->path) != CONFIG_FALSE)
		return 0;
	if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
		return -EIO;
	ld_parse_err(ld, config_error_file(lc) ? config_error_file(lc) :
	    ld->path, (unsigned)config_error_line(lc), config_error_text(lc),
	    msg, sizeof(msg));
	emit(err, arg, "%s", msg);
	return ld->nomem ? -ENOMEM : -EINVAL;
}

/* Hand the errors to err, in file order; returns what cfg_load() does. */
static int
report(struct ld *ld, cfg_err_fn *err, void *arg)
{
	size_t	 i;

	if (ld->nmsgs > 1)
		qsort(ld->msgs, ld->nmsgs, sizeof(*ld->msgs), msg_cmp);
	for (i = 0; i < ld->nmsgs; i++) {
		emit(err, arg, "%s", ld->msgs[i].text);
		free(ld->msgs[i].text);
	}
	return ld->nomem ? -ENOMEM : ld->nmsgs > 0 ? -EINVAL : 0;
}

/* Free what ld holds besides the snapshot. */
static void
ld_done(struct ld *ld)
{
	size_t	 i;

	free(ld->msgs);
	for (i = 0; i < ld->nsrcs; i++) {
		free(ld->srcs[i].name);
		free(ld->srcs[i].shown);
		free(ld->srcs[i].data);
	}
	free(ld->srcs);
	free(ld->showdir);
}

int
cfg_load(const char *path, struct cfg **out, cfg_err_fn *err, void *arg)
{
	return cfg_reload(path, NULL, out, err, arg);
}

int
cfg_reload(const char *path, const struct cfg *running, struct cfg **out,
    cfg_err_fn *err, void *arg)
{
	struct ld	 ld;
	config_t	 lc;
	int		 rc;

	*out = NULL;
	if ((rc = ld_check_readable(path)) != 0 ||
	    (rc = ld_init(&ld, path)) != 0)
		return rc;
	ld.running = running;
	if ((rc = read_file(&ld, &lc, err, arg)) == 0) {
		apply_group(&ld, config_root_setting(&lc), NULL, &ld_top_set,
		    "", ld.c);
		if (running != NULL && ld.nmsgs == 0 && !ld.nomem)
			ld_restart_check(&ld, config_root_setting(&lc));
		rc = report(&ld, err, arg);
	}
	ld_done(&ld);
	config_destroy(&lc);
	if (rc != 0) {
		cfg_free(ld.c);
		return rc;
	}
	*out = ld.c;
	return 0;
}

const char *
cfg_lib_version(void)
{
	static char	 v[96];

	/* no run-time version call in libconfig: the header's */
	snprintf(v, sizeof(v), "%d.%d.%d (build; libconfig has no run-time "
	    "version call)", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR,
	    LIBCONFIG_VER_REVISION);
	return v;
}
