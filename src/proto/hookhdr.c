/*
 * hookhdr.c - the header block of a hook's output (hookhdr.h).  Pure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/hookhdr.h"

enum hdr_name {
	HDR_STATUS,
	HDR_CT,
	HDR_MAX_AGE,
	HDR_ETAG,
	HDR_LOCATION,
	HDR_N,
};

static const char *const hdr_names[HDR_N] = {
	"Status", "Content-Format", "Max-Age", "ETag", "Location-Path",
};

/* Parse all of s[0..n) as a decimal in 0..max.  Returns 0 or -EINVAL. */
static int
parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t	 v = 0;
	size_t		 i;

	if (n == 0 || n > 10)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "4.04", "404", either followed by a space and text.  Response classes. */
static int
parse_status(const char *s, size_t n)
{
	size_t		 k;
	unsigned	 c, dd;

	for (k = 0; k < n && s[k] != ' '; k++)
		;
	if (k == 4 && s[1] == '.')
		;
	else if (k != 3)
		return -EINVAL;
	if (s[0] < '2' || s[0] > '5' || s[0] == '3' ||
	    s[k - 2] < '0' || s[k - 2] > '9' || s[k - 1] < '0' ||
	    s[k - 1] > '9')
		return -EINVAL;
	c = (unsigned)(s[0] - '0');
	dd = (unsigned)(s[k - 2] - '0') * 10 + (unsigned)(s[k - 1] - '0');
	if (dd > 31)
		return -EINVAL;
	return (int)(c << 5 | dd);
}

/* Apply one header; returns 0 or -EINVAL with why set. */
static int
apply(struct hook_hdr *h, enum hdr_name name, const char *v, size_t n,
    const char **why)
{
	uint64_t	 u;

	switch (name) {
	case HDR_STATUS:
		if ((h->status = parse_status(v, n)) < 0)
			return (*why = "not a response code such as 4.04"),
			    -EINVAL;
		return 0;
	case HDR_CT:
		if (parse_uint(v, n, 65535, &u) != 0)
			return (*why = "not a number 0..65535"), -EINVAL;
		h->ct = (int)u;
		return 0;
	case HDR_MAX_AGE:
		if (parse_uint(v, n, UINT32_MAX, &u) != 0)
			return (*why = "not a number 0..4294967295"), -EINVAL;
		h->max_age = (int64_t)u;
		return 0;
	case HDR_ETAG:
		if (n == 0 || n > HOOKHDR_ETAG_MAX)
			return (*why = "must be 1 to 8 bytes"), -EINVAL;
		memcpy(h->etag, v, n);
		h->etag_len = n;
		return 0;
	case HDR_LOCATION:
		if (n == 0 || n > HOOKHDR_LOC_MAX || v[0] != '/' ||
		    memchr(v, '\0', n) != NULL)
			return (*why = "must be a path starting with /"),
			    -EINVAL;
		memcpy(h->location, v, n);
		h->location[n] = '\0';
		return 0;
	default:
		return -EINVAL;
	}
}

/* One line s[0..n) without its end: name, ':', optional blanks, value. */
static int
parse_line(struct hook_hdr *h, const char *s, size_t n, unsigned *seen,
    const char **why)
{
	const char	*colon = memchr(s, ':', n);
	size_t		 nl, i;

	if (colon == NULL)
		return (*why = "expected \"Name: value\""), -EINVAL;
	nl = (size_t)(colon - s);
	for (i = 0; i < HDR_N; i++)
		if (strlen(hdr_names[i]) == nl &&
		    strncasecmp(hdr_names[i], s, nl) == 0)
			break;
	if (i == HDR_N)
		return (*why = "unknown header (Status, Content-Format, "
		    "Max-Age, ETag or Location-Path)"), -EINVAL;
	if (*seen & (1u << i))
		return (*why = "repeated header"), -EINVAL;
	*seen |= 1u << i;
	s = colon + 1;
	n -= nl + 1;
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return apply(h, (enum hdr_name)i, s, n, why);
}

int
hookhdr_parse(const char *buf, size_t len, struct hook_hdr *h, char *err,
    size_t errlen)
{
	const char	*why = NULL, *eol;
	size_t		 pos = 0, n;
	unsigned	 seen = 0, line = 1;

	memset(h, 0, sizeof(*h));
	h->status = h->ct = -1;
	h->max_age = -1;
	for (;; line++) {
		eol = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
		if (eol == NULL || (size_t)(eol - buf) >= HOOKHDR_MAX) {
			snprintf(err, errlen, "header line %u: %s", line,
			    eol == NULL ? "no empty line ends the headers" :
			    "headers longer than 4096 bytes");
			return -EINVAL;
		}
		n = (size_t)(eol - (buf + pos));
		if (n > 0 && buf[pos + n - 1] == '\r')
			n--;
		if (n == 0) {
			h->body_off = (size_t)(eol - buf) + 1;
			return 0;
		}
		if (parse_line(h, buf + pos, n, &seen, &why) != 0) {
			snprintf(err, errlen, "header line %u: %s", line, why);
			return -EINVAL;
		}
		pos = (size_t)(eol - buf) + 1;
	}
}
