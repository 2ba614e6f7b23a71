/*
 * cfg_diag.c - what the loader says about a file.  Errors are collected
 * rather than printed, then sorted by position and handed to the caller's
 * callback (cfg_load.c): the operator gets every mistake of the file in one
 * run, in file order, as "FILE:LINE: key: message".  Here: collecting them,
 * the file names they show, "did you mean", and the source re-read that
 * catches integer literals libconfig wraps.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/cfg_int.h"
#include "base/strdist.h"

#define SRC_MAX		(16u << 20) /* largest file re-read for literals */

void *
ld_alloc_fail(struct ld *ld, void *p)
{
	if (p == NULL)
		ld->nomem = true;
	return p;
}

char *
ld_strdup(struct ld *ld, const char *s)
{
	return ld_alloc_fail(ld, strdup(s));
}

void
ld_add(struct ld *ld, const char *file, unsigned line, char *text)
{
	struct ld_msg	*m;
	size_t		 i, ncap;
	unsigned	 rank = 0;
	char		*p;

	/* one line per error, whatever escapes the strings held */
	for (p = text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (ld->nmsgs == ld->msgcap) {
		ncap = ld->msgcap ? ld->msgcap * 2 : 16;
		m = realloc(ld->msgs, ncap * sizeof(*m));
		if (m == NULL) {
			ld->nomem = true;
			free(text);
			return;
		}
		ld->msgs = m;
		ld->msgcap = ncap;
	}
	/* files are ranked by their first error: includes stay together */
	for (i = 0; i < ld->nmsgs; i++) {
		if (strcmp(ld->msgs[i].file, file) == 0) {
			rank = ld->msgs[i].rank;
			break;
		}
		if (ld->msgs[i].rank >= rank)
			rank = ld->msgs[i].rank + 1;
	}
	m = &ld->msgs[ld->nmsgs];
	m->rank = rank;
	m->line = line;
	m->seq = ld->nmsgs;
	m->text = text;
	m->file = file;
	ld->nmsgs++;
}

void
ld_err(struct ld *ld, const struct config_setting_t *s, const char *fmt, ...)
{
	const char	*file;
	unsigned	 line;
	char		 msg[1280];
	char		*text;
	va_list		 ap;

	ld_pos(ld, s, &file, &line);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&text, "%s:%u: %s", file, line, msg) == -1) {
		ld->nomem = true;
		return;
	}
	ld_add(ld, file, line, text);
}

void
ld_pos_str(struct ld *ld, const struct config_setting_t *here,
    const struct config_setting_t *there, char *buf, size_t len)
{
	const char	*f1, *f2;
	unsigned	 l1, l2;

	ld_pos(ld, here, &f1, &l1);
	ld_pos(ld, there, &f2, &l2);
	if (strcmp(f1, f2) == 0)
		snprintf(buf, len, "line %u", l2);
	else
		snprintf(buf, len, "%s:%u", f2, l2);
}

/*
 * The source entry for a file name recorded by libconfig.  The file given
 * is shown as given.  An @include name is relative to the include dir
 * (c->dir); it is shown relative to where the given file was named from,
 * so that "conf/include/x.inc:3" opens from the caller's directory too.
 */
struct ld_src *
ld_source(struct ld *ld, const char *name)
{
	struct ld_src	*src;
	size_t		 i;
	int		 n;

	for (i = 0; i < ld->nsrcs; i++)
		if (strcmp(ld->srcs[i].name, name) == 0)
			return &ld->srcs[i];
	src = ld_alloc_fail(ld, realloc(ld->srcs,
	    (ld->nsrcs + 1) * sizeof(*src)));
	if (src == NULL)
		return NULL;
	ld->srcs = src;
	src = &ld->srcs[ld->nsrcs];
	memset(src, 0, sizeof(*src));
	if ((src->name = ld_strdup(ld, name)) == NULL)
		return NULL;
	if (strcmp(name, ld->path) == 0 || name[0] == '/' ||
	    ld->showdir == NULL)
		n = asprintf(&src->shown, "%s", name);
	else
		n = asprintf(&src->shown, "%s/%s", ld->showdir, name);
	if (n == -1) {
		ld->nomem = true;
		free(src->name);
		return NULL;
	}
	ld->nsrcs++;
	return src;
}

/* The text of a source file, or NULL. */
static const char *
src_text(struct ld *ld, struct ld_src *src)
{
	FILE	*fp;
	char	*p;
	size_t	 n;

	if (src->tried)
		return src->data;
	src->tried = true;
	if (src->name[0] == '/' || strcmp(src->name, ld->path) == 0)
		p = ld_strdup(ld, src->name);
	else
		p = ld_abs_path(ld, src->name);
	if (p == NULL)
		return NULL;
	fp = fopen(p, "re");
	free(p);
	if (fp == NULL)
		return NULL;
	if ((src->data = ld_alloc_fail(ld, malloc(SRC_MAX + 1))) != NULL) {
		n = fread(src->data, 1, SRC_MAX, fp);
		src->data[n] = '\0';
	}
	fclose(fp);
	return src->data;
}

static bool
is_name_char(int ch)
{
	return isalnum(ch) || ch == '_' || ch == '-' || ch == '*';
}

/*
 * The literal is read back from its source line (int_wrapped() in
 * cfg_load.c says why): the first "name =" or "name:" on it.  False when
 * it fits or cannot be found (a value on a line of its own is then
 * trusted).
 */
bool
ld_int_literal(struct ld *ld, const char *file, unsigned srcline,
    const char *name, char *lit, size_t len, long long *val)
{
	const char	*p, *q, *d, *text;
	struct ld_src	*src;
	unsigned long long v = 0, base;
	unsigned	 line, dig;
	size_t		 nlen;
	bool		 neg;

	if ((src = ld_source(ld, file)) == NULL ||
	    (text = src_text(ld, src)) == NULL)
		return false;
	for (p = text, line = 1; line < srcline; p++) {
		if (*p == '\0')
			return false;
		if (*p == '\n')
			line++;
	}
	nlen = strlen(name);
	for (; *p != '\0' && *p != '\n'; p++) {
		if (strncmp(p, name, nlen) != 0 ||
		    (p > text && is_name_char((unsigned char)p[-1])) ||
		    is_name_char((unsigned char)p[nlen]))
			continue;
		q = p + nlen;
		q += strspn(q, " \t");
		if (*q != '=' && *q != ':')
			continue;
		q++;
		q += strspn(q, " \t");
		d = q;
		neg = *q == '-';
		if (*q == '-' || *q == '+')
			q++;
		base = 10;
		if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
			base = 16;
			q += 2;
		}
		for (; isxdigit((unsigned char)*q); q++) {
			dig = isdigit((unsigned char)*q) ? (unsigned)(*q - '0') :
			    (unsigned)(tolower((unsigned char)*q) - 'a' + 10);
			if (dig >= base)
				break;
			if (v > ((unsigned long long)LLONG_MAX - dig) / base)
				v = (unsigned long long)LLONG_MAX;
			else
				v = v * base + dig;
		}
		if (v <= (neg ? (unsigned long long)INT_MAX + 1 :
		    (unsigned long long)INT_MAX))
			return false;
		snprintf(lit, len, "%.*s", (int)(q - d), d);
		*val = neg ? -(long long)v : (long long)v;
		return true;
	}
	return false;
}

/*
 * The nearest of names[0..n-1] to val, within two edits and fewer edits
 * than val has characters (so that "x" suggests nothing); NULL when none.
 */
static const char *
nearest(const char *val, const char *const *names, size_t n)
{
	const char	*best = NULL;
	unsigned	 d, bestd = 3;
	size_t		 i;

	for (i = 0; i < n; i++) {
		d = str_distance(val, names[i]);
		if (d < bestd && d < strlen(val)) {
			bestd = d;
			best = names[i];
		}
	}
	return best;
}

void
ld_enum_err(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *what, const char *val, const char *const *names, size_t n)
{
	const char	*best = nearest(val, names, n);
	char		 list[256];
	size_t		 i, len = 0;

	list[0] = '\0';
	for (i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	if (best != NULL)
		ld_err(ld, s, "%s: unknown %s \"%s\" (did you mean \"%s\"?): "
		    "expected %s", key, what, val, best, list);
	else
		ld_err(ld, s, "%s: unknown %s \"%s\": expected %s", key, what,
		    val, list);
}

static bool
has_key(const struct optset *set, const char *name)
{
	size_t	 i;

	for (i = 0; i < set->nopts; i++)
		if (strcmp(set->opts[i].name, name) == 0)
			return true;
	return false;
}

/*
 * Where a key unknown in set belongs when another group of the file has
 * it: "inside routes = ( { ... } )", "at the top level or inside ...";
 * "" when none has.  The schema is two levels deep: the top level and its
 * groups and lists.
 */
static void
belongs(const char *name, const struct optset *set, char *buf, size_t len)
{
	const struct optset *top = &ld_top_set;
	const struct opt *o;
	size_t		 n = 0;

	buf[0] = '\0';
	if (set != top && has_key(top, name))
		n = (size_t)snprintf(buf, len, "at the top level");
	for (o = top->opts; o < top->opts + top->nopts; o++) {
		if ((o->type != OPT_GROUP && o->type != OPT_LIST) ||
		    o->sub == NULL || o->sub == set || !has_key(o->sub, name))
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
		    o->type == OPT_LIST ? "%sinside %s = ( { ... } )" :
		    "%sinside %s = { ... }", n > 0 ? " or " : "", o->name);
	}
}

void
ld_unknown_key(struct ld *ld, const struct config_setting_t *s,
    const char *name, const char *key, const struct optset *set)
{
	const char	*names[64] = { NULL }, *best;
	char		 where[256];
	size_t		 i, n, len;

	for (i = n = 0; i < set->nopts && n < NELEM(names); i++)
		names[n++] = set->opts[i].name;
	best = nearest(name, names, n);
	/* one edit from a key here is a typo ("hooks" in a route) */
	belongs(name, set, where, sizeof(where));
	if (where[0] != '\0' &&
	    (best == NULL || str_distance(name, best) > 1)) {
		ld_err(ld, s, "%s: unknown key %s: it belongs %s", key,
		    strcmp(key, name) == 0 ? "at the top level" : "here",
		    where);
		return;
	}
	if (best != NULL) {
		ld_err(ld, s, "%s: unknown key (did you mean \"%s\"?)", key,
		    best);
		return;
	}
	/* a short list is said in full; the long ones are in the man page */
	if (n > 8) {
		ld_err(ld, s, "%s: unknown key (the keys are in coapd.conf(5))",
		    key);
		return;
	}
	where[0] = '\0';
	for (i = 0, len = 0; i < n && len < sizeof(where); i++)
		len += (size_t)snprintf(where + len, sizeof(where) - len,
		    "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	ld_err(ld, s, "%s: unknown key: expected %s", key, where);
}

bool
ld_src_line(struct ld *ld, const char *file, unsigned srcline, char *buf,
    size_t len)
{
	const char	*p, *end, *text;
	struct ld_src	*src;
	unsigned	 line;
	size_t		 n;

	if (len == 0 || (src = ld_source(ld, file)) == NULL ||
	    (text = src_text(ld, src)) == NULL)
		return false;
	for (p = text, line = 1; line < srcline; p++) {
		if (*p == '\0')
			return false;
		if (*p == '\n')
			line++;
	}
	p += strspn(p, " \t");
	end = p + strcspn(p, "\n");
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	n = (size_t)(end - p);
	if (n >= len)
		snprintf(buf, len, "%.*s...", (int)(len > 4 ? len - 4 : 0), p);
	else
		snprintf(buf, len, "%.*s", (int)n, p);
	return n > 0;
}

/* The name of an `@include "NAME"` line, in buf; false when it is none. */
static bool
include_name(const char *line, char *buf, size_t len)
{
	const char	*p, *q;

	if (strncmp(line, "@include", 8) != 0)
		return false;
	p = line + 8;
	p += strspn(p, " \t");
	if (*p++ != '"' || *(q = p + strcspn(p, "\"\n")) != '"' ||
	    (size_t)(q - p) >= len)
		return false;
	snprintf(buf, len, "%.*s", (int)(q - p), p);
	return true;
}

void
ld_parse_err(struct ld *ld, const char *file, unsigned line,
    const char *text, char *buf, size_t len)
{
	struct ld_src	*src;
	const char	*shown = file;
	char		 src_line[80], name[PATH_MAX], *abs;
	int		 fd, e;

	if ((src = ld_source(ld, file)) != NULL)
		shown = src->shown;
	if (!ld_src_line(ld, file, line, src_line, sizeof(src_line)))
		src_line[0] = '\0';
	/* libconfig does not say which file: the line does */
	if (strcmp(text, "cannot open include file") == 0 &&
	    include_name(src_line, name, sizeof(name)) &&
	    (src = ld_source(ld, name)) != NULL &&
	    (abs = name[0] == '/' ? ld_strdup(ld, name) :
	    ld_abs_path(ld, name)) != NULL) {
		fd = open(abs, O_RDONLY | O_CLOEXEC);
		e = fd == -1 ? errno : EISDIR;	/* libconfig failed anyway */
		if (fd != -1)
			close(fd);
		free(abs);
		snprintf(buf, len, "%s:%u: @include \"%s\": cannot open %s: %s",
		    shown, line, name, src->shown, strerror(e));
		return;
	}
	/* no token there: libconfig reached the end of the file */
	if (src_line[0] == '\0' && strcmp(text, "syntax error") == 0) {
		snprintf(buf, len, "%s:%u: libconfig: syntax error at the end "
		    "of the file: expected the ) ] or } that closes a list, "
		    "array or group", shown, line);
		return;
	}
	if (src_line[0] == '\0')
		snprintf(buf, len, "%s:%u: libconfig: %s", shown, line, text);
	else
		snprintf(buf, len, "%s:%u: libconfig: %s in \"%s\"", shown,
		    line, text, src_line);
	if (strcmp(text, "syntax error") == 0)
		snprintf(buf + strlen(buf), len - strlen(buf), ": expected "
		    "NAME = VALUE, with VALUE a number, \"string\", true, "
		    "false, [ array ], ( list ) or { group }");
	else if (strcmp(text, "duplicate setting name") == 0)
		snprintf(buf + strlen(buf), len - strlen(buf), ": a key may "
		    "appear only once in a group");
}

bool
ld_include_dir(struct ld *ld, const char *file, unsigned depth, char *buf,
    size_t len)
{
	struct ld_src	*src, *inc;
	struct stat	 st;
	const char	*text, *p;
	char		 name[PATH_MAX], *abs;
	unsigned	 line;
	size_t		 si;
	bool		 found = false;

	/* libconfig refuses nesting deeper than 10 itself */
	if (depth > 10 || (src = ld_source(ld, file)) == NULL ||
	    (text = src_text(ld, src)) == NULL)
		return false;
	/* ld_source() may move ld->srcs: keep the index (text stays) */
	si = (size_t)(src - ld->srcs);
	for (p = text, line = 1; p != NULL && !found; line++) {
		p += strspn(p, " \t");
		if (include_name(p, name, sizeof(name)) &&
		    (abs = name[0] == '/' ? ld_strdup(ld, name) :
		    ld_abs_path(ld, name)) != NULL) {
			if (stat(abs, &st) == 0 && S_ISDIR(st.st_mode) &&
			    (inc = ld_source(ld, name)) != NULL) {
				snprintf(buf, len, "%s:%u: @include \"%s\": %s "
				    "is a directory", ld->srcs[si].shown, line,
				    name, inc->shown);
				found = true;
			} else if (stat(abs, &st) == 0)
				found = ld_include_dir(ld, name, depth + 1, buf,
				    len);
			free(abs);
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return found;
}
