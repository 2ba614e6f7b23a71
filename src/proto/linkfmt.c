/*
 * linkfmt.c - CoRE Link Format (RFC 6690) for /.well-known/core and for
 * directory listings.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto/acl.h"
#include "proto/coap_msg.h"
#include "proto/linkfmt.h"

/* An output buffer that remembers running out of room. */
struct lf_out {
	char		*buf;
	size_t		 cap;
	size_t		 len;
	bool		 full;
};

static void
lf_put(struct lf_out *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void
lf_puts(struct lf_out *o, const char *s)
{
	lf_put(o, s, strlen(s));
}

/*
 * RFC 6690 §2: the target is a URI-Reference between '<' and '>'.  Route
 * paths come from the config and directory entries from the disk, so any
 * byte can turn up; keep RFC 3986 pchar and '/' and percent-encode the
 * rest.  ',' and ';' are legal in a path but are encoded as well, because
 * many small link-format parsers split on them without honouring the
 * brackets; CoAP decodes Uri-Path segments, so the request is the same.
 */
static void
lf_put_href(struct lf_out *o, const char *href)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char enc[3];

	for (p = (const unsigned char *)href; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/!$&'()*+=:@",
		    *p) != NULL) {
			lf_put(o, (const char *)p, 1);
			continue;
		}
		enc[0] = '%';
		enc[1] = hex[*p >> 4];
		enc[2] = hex[*p & 0xf];
		lf_put(o, enc, 3);
	}
}

/* ;name="value" as an RFC 5988 quoted-string ('"' and '\' escaped). */
static void
lf_put_quoted(struct lf_out *o, const char *name, const char *val)
{
	const char *p;

	lf_put(o, ";", 1);
	lf_puts(o, name);
	lf_put(o, "=\"", 2);
	for (p = val; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			lf_put(o, "\\", 1);
		lf_put(o, p, 1);
	}
	lf_put(o, "\"", 1);
}

static void
lf_put_ct(struct lf_out *o, int ct)
{
	char num[16];
	int n;

	n = snprintf(num, sizeof(num), ";ct=%d", ct);
	lf_put(o, num, (size_t)n);
}

/* One parsed Uri-Query filter (RFC 6690 §4.1). */
struct lf_filter {
	const char	*name;
	size_t		 namelen;
	const char	*val;		/* NULL: no '=' */
	size_t		 vallen;
	bool		 prefix;	/* value ended with '*' */
};

static void
lf_filter_parse(const struct coap_opt *q, struct lf_filter *f)
{
	const char *s = (const char *)q->val;
	const char *eq;

	memset(f, 0, sizeof(*f));
	f->name = s;
	eq = memchr(s, '=', q->len);
	if (eq == NULL) {
		f->namelen = q->len;
		return;
	}
	f->namelen = (size_t)(eq - s);
	f->val = eq + 1;
	f->vallen = q->len - f->namelen - 1;
	if (f->vallen > 0 && f->val[f->vallen - 1] == '*') {
		f->prefix = true;
		f->vallen--;
	}
}

static bool
lf_name_is(const struct lf_filter *f, const char *name)
{
	return f->namelen == strlen(name) &&
	    memcmp(f->name, name, f->namelen) == 0;
}

/* Does the attribute value s[0..n) satisfy the filter's pattern? */
static bool
lf_value_match(const struct lf_filter *f, const char *s, size_t n)
{
	if (f->prefix)
		return n >= f->vallen && memcmp(s, f->val, f->vallen) == 0;
	return n == f->vallen && memcmp(s, f->val, n) == 0;
}

/*
 * RFC 6690 §4.1 (and RFC 6690 §3.1, §3.2): rt and if hold space-separated
 * lists, and a filter matches when any one item matches.
 */
static bool
lf_list_match(const struct lf_filter *f, const char *list)
{
	const char *p = list, *end;

	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return false;
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		if (lf_value_match(f, p, (size_t)(end - p)))
			return true;
		p = end;
	}
}

static bool
lf_route_match(const struct linkfmt_entry *r, const struct lf_filter *f)
{
	char num[16];
	int n;

	/* obs is a flag attribute (RFC 7641 §6): "?obs" lists observables. */
	if (lf_name_is(f, "obs"))
		return f->val == NULL && r->obs;
	if (f->val == NULL)
		return false;
	if (lf_name_is(f, "href"))
		return lf_value_match(f, r->href, strlen(r->href));
	if (lf_name_is(f, "rt"))
		return r->rt != NULL && lf_list_match(f, r->rt);
	if (lf_name_is(f, "if"))
		return r->if_ != NULL && lf_list_match(f, r->if_);
	if (lf_name_is(f, "title"))
		return r->title != NULL &&
		    lf_value_match(f, r->title, strlen(r->title));
	if (lf_name_is(f, "ct")) {
		if (r->ct < 0)
			return false;
		n = snprintf(num, sizeof(num), "%d", r->ct);
		return lf_value_match(f, num, (size_t)n);
	}
	/*
	 * Any other attribute (rel, anchor, sz, ...) appears in none of our
	 * links, so nothing can match it.
	 */
	return false;
}

/*
 * RFC 6690 §4.1 defines one filter; a request with several Uri-Query
 * options gets the links that satisfy all of them, the narrowest reading.
 */
static bool
lf_route_wanted(const struct linkfmt_entry *r, const struct coap_msg *m)
{
	struct lf_filter f;
	uint16_t i;

	if (m == NULL)
		return true;
	for (i = 0; i < m->nopts; i++) {
		if (m->opts[i].num != COAP_OPT_URI_QUERY)
			continue;
		lf_filter_parse(&m->opts[i], &f);
		if (!lf_route_match(r, &f))
			return false;
	}
	return true;
}

ssize_t
linkfmt_wellknown(const struct linkfmt_entry *links, size_t n,
    const struct coap_msg *m, const struct linkfmt_who *who, char *out,
    size_t cap)
{
	struct lf_out o = { out, cap, 0, false };
	const struct linkfmt_entry *r;
	size_t i;

	for (i = 0; i < n; i++) {
		r = &links[i];
		/*
		 * /.well-known/core itself is never listed (RFC 6690 §4 does
		 * not ask for it, and libcoap and Californium leave it out):
		 * every client that can read this document already knows it.
		 * The worker answers that path before routing, so a route of
		 * that name would be unreachable anyway.
		 */
		if (strcmp(r->href, "/.well-known/core") == 0)
			continue;
		if (!lf_route_wanted(r, m))
			continue;
		if (who != NULL && r->acl != NULL && acl_check(r->acl,
		    who->psk_identity, who->peer, who->peerlen) != ACL_ALLOW)
			continue;
		if (o.len > 0)
			lf_put(&o, ",", 1);
		lf_put(&o, "<", 1);
		lf_put_href(&o, r->href);
		lf_put(&o, ">", 1);
		if (r->rt != NULL)
			lf_put_quoted(&o, "rt", r->rt);
		if (r->if_ != NULL)
			lf_put_quoted(&o, "if", r->if_);
		if (r->ct >= 0)
			lf_put_ct(&o, r->ct);
		if (r->title != NULL)
			lf_put_quoted(&o, "title", r->title);
		if (r->obs)
			lf_puts(&o, ";obs");
		if (o.full)
			return -ENOSPC;
	}
	/* Not part of the document; a convenience for callers that print. */
	if (o.len < cap)
		out[o.len] = '\0';
	return (ssize_t)o.len;
}

int
linkfmt_append(char *out, size_t cap, size_t *len, const char *href, int ct,
    const char *rt)
{
	struct lf_out o = { out, cap, *len, *len > cap };

	if (o.len > 0)
		lf_put(&o, ",", 1);
	lf_put(&o, "<", 1);
	lf_put_href(&o, href);
	lf_put(&o, ">", 1);
	if (rt != NULL)
		lf_put_quoted(&o, "rt", rt);
	if (ct >= 0)
		lf_put_ct(&o, ct);
	if (o.full)
		return -ENOSPC;
	if (o.len < cap)
		out[o.len] = '\0';
	*len = o.len;
	return 0;
}
