/*
 * fuzz_linkfmt.c - libFuzzer target for the link-format writer
 * (src/proto/linkfmt.c) against a parser of RFC 6690 §2 written here.
 *
 * The input is split at NUL bytes into up to 4 entries of five fields:
 * href, rt, if, title and a byte for ct (and obs).  /.well-known/core for
 * them, and a listing made with linkfmt_append(), must parse back into the
 * same hrefs (percent-decoded) and attributes (quoted strings unescaped);
 * anything else aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/coap_msg.h"
#include "proto/linkfmt.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXL	4
#define FIELD	64

struct plink {
	char	 href[FIELD * 3];
	char	 rt[FIELD], if_[FIELD], title[FIELD];
	int	 ct;
	bool	 obs;
};

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One value: a quoted-string (unescaped into v) or a token. */
static const char *
parse_value(const char *p, const char *end, char *v, size_t cap)
{
	size_t n = 0;

	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && ++p == end)
				abort();
			if (n + 1 >= cap)
				abort();
			v[n++] = *p;
		}
		if (p == end)
			abort();	/* unterminated */
		p++;
	} else
		while (p < end && *p != ';' && *p != ',') {
			if (n + 1 >= cap)
				abort();
			v[n++] = *p++;
		}
	v[n] = '\0';
	return p;
}

/* Parse doc[0..len) into links; returns how many. */
static size_t
parse_doc(const char *doc, size_t len, struct plink *l, size_t max)
{
	const char *p = doc, *end = doc + len;
	char name[16], val[FIELD * 3];
	size_t n = 0, h;
	int hi, lo;

	while (p < end) {
		if (n == max || *p++ != '<')
			abort();
		memset(&l[n], 0, sizeof(l[n]));
		l[n].ct = -1;
		for (h = 0; p < end && *p != '>'; p++) {
			if (*p == '<' || *p == ',' || *p == ';' || *p == '"' ||
			    (unsigned char)*p <= ' ' || h + 1 >= FIELD * 3)
				abort();	/* not a URI-Reference */
			if (*p == '%') {
				if (end - p < 3 || (hi = hexval(p[1])) < 0 ||
				    (lo = hexval(p[2])) < 0)
					abort();
				l[n].href[h++] = (char)(hi << 4 | lo);
				p += 2;
			} else
				l[n].href[h++] = *p;
		}
		if (p == end)
			abort();
		p++;
		while (p < end && *p == ';') {
			size_t k = 0;

			for (p++; p < end && *p != '=' && *p != ';' &&
			    *p != ','; p++)
				if (k + 1 < sizeof(name))
					name[k++] = *p;
			name[k] = '\0';
			val[0] = '\0';
			if (p < end && *p == '=')
				p = parse_value(p + 1, end, val, sizeof(val));
			if (strcmp(name, "rt") == 0)
				snprintf(l[n].rt, FIELD, "%s", val);
			else if (strcmp(name, "if") == 0)
				snprintf(l[n].if_, FIELD, "%s", val);
			else if (strcmp(name, "title") == 0)
				snprintf(l[n].title, FIELD, "%s", val);
			else if (strcmp(name, "ct") == 0)
				l[n].ct = atoi(val);
			else if (strcmp(name, "obs") == 0)
				l[n].obs = true;
		}
		n++;
		if (p < end && *p++ != ',')
			abort();
	}
	return n;
}

static bool
same(const char *want, const char *got)
{
	return strcmp(want != NULL ? want : "", got) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 doc[8192], f[MAXL][4][FIELD];
	struct linkfmt_entry	 e[MAXL];
	struct plink		 pl[MAXL];
	struct coap_msg		 m;
	const uint8_t		 get[] = { 0x40, 0x01, 0x00, 0x01 };
	const uint8_t		*p = data, *end = data + size;
	size_t			 n = 0, i, j, k, len;
	ssize_t			 dl;

	memset(e, 0, sizeof(e));
	while (n < MAXL && p < end) {
		for (j = 0; j < 4; j++) {
			for (k = 0; p < end && *p != '\0' && k + 1 < FIELD; )
				f[n][j][k++] = (char)*p++;
			f[n][j][k] = '\0';
			while (p < end && *p != '\0')
				p++;
			if (p < end)
				p++;
		}
		/* hrefs are paths: non-empty, no NUL; the document itself
		   is not one of its links (linkfmt.c) */
		if (f[n][0][0] == '\0' ||
		    strcmp(f[n][0], "/.well-known/core") == 0)
			snprintf(f[n][0], FIELD, "/");	/* never listed */
		e[n].href = f[n][0];
		e[n].rt = f[n][1][0] != '\0' ? f[n][1] : NULL;
		e[n].if_ = f[n][2][0] != '\0' ? f[n][2] : NULL;
		e[n].title = f[n][3][0] != '\0' ? f[n][3] : NULL;
		e[n].ct = p < end ? (int)*p - 1 : -1;
		e[n].obs = p < end && (*p & 1);
		if (p < end)
			p++;
		n++;
	}
	if (coap_msg_parse(&m, get, sizeof(get)) != 0)
		abort();
	dl = linkfmt_wellknown(e, n, &m, NULL, doc, sizeof(doc));
	if (dl < 0)
		abort();	/* 4 short entries always fit */
	if (parse_doc(doc, (size_t)dl, pl, MAXL) != n)
		abort();
	for (i = 0; i < n; i++)
		if (!same(e[i].href, pl[i].href) || !same(e[i].rt, pl[i].rt) ||
		    !same(e[i].if_, pl[i].if_) ||
		    !same(e[i].title, pl[i].title) ||
		    (e[i].ct >= 0 && pl[i].ct != e[i].ct))
			abort();
	/* A directory listing of the same hrefs, and a buffer too small. */
	for (len = 0, i = 0; i < n; i++)
		if (linkfmt_append(doc, sizeof(doc), &len, e[i].href,
		    e[i].ct, e[i].rt) != 0)
			abort();
	if (parse_doc(doc, len, pl, MAXL) != n)
		abort();
	for (i = 0; i < n; i++)
		if (!same(e[i].href, pl[i].href) || !same(e[i].rt, pl[i].rt))
			abort();
	len = 0;
	if (n > 0 && linkfmt_append(doc, 4, &len, e[0].href, -1, NULL) == 0 &&
	    len > 4)
		abort();
	return 0;
}
