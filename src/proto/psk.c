/*
 * psk.c - pre-shared key table.  See psk.h.
 *
 * The entries live in one array sized from the number of lines before
 * parsing starts, so it is never reallocated: a realloc would leave copies
 * of keys behind in freed memory.  An open-addressing index of entry
 * numbers (load at most 1/2) finds an identity in one or two probes, so
 * the handshake callback costs the same with ten keys or a hundred
 * thousand.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/hash.h"
#include "proto/psk.h"

struct psk_entry {
	char		*id;
	size_t		 idlen;
	unsigned	 line;
	size_t		 keylen;
	uint8_t		 key[PSK_KEY_MAX];
};

struct psk_table {
	struct psk_entry *e;
	size_t		  n;
	uint32_t	 *slot;		/* entry index + 1; 0 is empty */
	size_t		  mask;		/* slots - 1, a power of two less 1 */
};

/* FNV-1a: identities come from the operator's file, not from attackers. */
static uint64_t
hash(const char *s, size_t len)
{
	return hash_fold(fnv1a(FNV1A_INIT, s, len));
}

/* The value of hex digit c, or -EINVAL. */
static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -EINVAL;
}

static bool
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The slot where identity is, or the empty slot where it would go. */
static uint32_t *
find_slot(const struct psk_table *t, const char *id, size_t idlen)
{
	const struct psk_entry	*e;
	size_t			 i;

	i = (size_t)hash(id, idlen) & t->mask;
	for (;; i = (i + 1) & t->mask) {
		if (t->slot[i] == 0)
			return &t->slot[i];
		e = &t->e[t->slot[i] - 1];
		if (e->idlen == idlen && memcmp(e->id, id, idlen) == 0)
			return &t->slot[i];
	}
}

static void
report(psk_err_fn *err, void *arg, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
report(psk_err_fn *err, void *arg, unsigned line, const char *fmt, ...)
{
	char	 msg[PSK_IDENTITY_MAX * 4 + 128];
	va_list	 ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err(arg, line, msg);
}

/*
 * Parse one line [s, end) numbered lno into a new entry of t.
 * Returns 0, 1 for a line without an entry, -EINVAL after reporting, or
 * -ENOMEM.
 */
static int
parse_line(struct psk_table *t, const char *s, const char *end,
    unsigned lno, psk_err_fn *err, void *arg)
{
	struct psk_entry	*e;
	const char		*colon, *hex;
	uint32_t		*slot;
	size_t			 idlen, hexlen, i;
	int			 hi, lo;

	while (s < end && is_space((unsigned char)*s))
		s++;
	while (end > s && is_space((unsigned char)end[-1]))
		end--;
	if (s == end || *s == '#')
		return 1;
	if ((colon = memchr(s, ':', (size_t)(end - s))) == NULL) {
		report(err, arg, lno, "malformed line, expected "
		    "\"identity:hexkey\"");
		return -EINVAL;
	}
	idlen = (size_t)(colon - s);
	if (idlen == 0 || idlen > PSK_IDENTITY_MAX) {
		report(err, arg, lno, "an identity has 1..%d bytes",
		    PSK_IDENTITY_MAX);
		return -EINVAL;
	}
	for (i = 0; i < idlen; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			report(err, arg, lno, "control character in identity");
			return -EINVAL;
		}
	hex = colon + 1;
	hexlen = (size_t)(end - hex);
	if (hexlen % 2 != 0) {
		report(err, arg, lno, "key of identity \"%.*s\": odd number "
		    "of hex digits", (int)idlen, s);
		return -EINVAL;
	}
	if (hexlen / 2 < PSK_KEY_MIN || hexlen / 2 > PSK_KEY_MAX) {
		report(err, arg, lno, "key of identity \"%.*s\" has %zu "
		    "bytes, it must have %d to %d", (int)idlen, s, hexlen / 2,
		    PSK_KEY_MIN, PSK_KEY_MAX);
		return -EINVAL;
	}
	e = &t->e[t->n];
	for (i = 0; i < hexlen / 2; i++) {
		hi = hexval((unsigned char)hex[2 * i]);
		lo = hexval((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			explicit_bzero(e->key, sizeof(e->key));
			report(err, arg, lno, "key of identity \"%.*s\": not "
			    "a hex string", (int)idlen, s);
			return -EINVAL;
		}
		e->key[i] = (uint8_t)(hi << 4 | lo);
	}
	slot = find_slot(t, s, idlen);
	if (*slot != 0) {
		explicit_bzero(e->key, sizeof(e->key));
		report(err, arg, lno, "duplicate identity \"%.*s\" (first on "
		    "line %u)", (int)idlen, s, t->e[*slot - 1].line);
		return -EINVAL;
	}
	if ((e->id = malloc(idlen + 1)) == NULL) {
		explicit_bzero(e->key, sizeof(e->key));
		return -ENOMEM;
	}
	memcpy(e->id, s, idlen);
	e->id[idlen] = '\0';
	e->idlen = idlen;
	e->keylen = hexlen / 2;
	e->line = lno;
	*slot = (uint32_t)++t->n;
	return 0;
}

int
psk_parse(const char *text, size_t len, struct psk_table **out,
    psk_err_fn *err, void *arg)
{
	struct psk_table	*t;
	const char		*p, *end = text + len, *nl;
	size_t			 lines = 1, nslots;
	unsigned		 lno = 0;
	int			 r, rc = 0;

	*out = NULL;
	for (p = text; p < end && (nl = memchr(p, '\n', (size_t)(end - p)));
	    p = nl + 1)
		lines++;
	if (lines > UINT32_MAX / 4)
		return -ENOMEM;
	for (nslots = 16; nslots < lines * 2; nslots *= 2)
		;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	t->e = calloc(lines, sizeof(*t->e));
	t->slot = calloc(nslots, sizeof(*t->slot));
	if (t->e == NULL || t->slot == NULL) {
		psk_free(t);
		return -ENOMEM;
	}
	t->mask = nslots - 1;
	for (p = text; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		lno++;
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL) {
			report(err, arg, lno, "NUL byte in line");
			rc = -EINVAL;
			continue;
		}
		r = parse_line(t, p, nl, lno, err, arg);
		if (r == -ENOMEM) {
			psk_free(t);
			return r;
		}
		if (r < 0)
			rc = r;
	}
	if (rc != 0) {
		psk_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

bool
psk_mode_ok(mode_t mode)
{
	return (mode & (S_IRWXG | S_IRWXO)) == 0;
}

const uint8_t *
psk_lookup(const struct psk_table *t, const char *identity, size_t idlen,
    size_t *keylen)
{
	const uint32_t	*slot;
	const struct psk_entry *e;

	if (t == NULL || idlen == 0 || idlen > PSK_IDENTITY_MAX)
		return NULL;
	slot = find_slot(t, identity, idlen);
	if (*slot == 0)
		return NULL;
	e = &t->e[*slot - 1];
	*keylen = e->keylen;
	return e->key;
}

size_t
psk_count(const struct psk_table *t)
{
	return t == NULL ? 0 : t->n;
}

void
psk_free(struct psk_table *t)
{
	size_t	 i;

	if (t == NULL)
		return;
	if (t->e != NULL) {
		for (i = 0; i < t->n; i++) {
			explicit_bzero(t->e[i].key, sizeof(t->e[i].key));
			free(t->e[i].id);
		}
		free(t->e);
	}
	free(t->slot);
	free(t);
}
