/*
 * fuzz_psk.c - libFuzzer target for the PSK file parser (src/proto/psk.c).
 *
 * A table that parses must hold at most one identity per line, find the
 * identity of its first line when that line is good, and return keys of
 * allowed lengths; a refusal must have reported a line.  Anything else
 * aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/psk.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned	 reported;

static void
on_err(void *arg, unsigned line, const char *msg)
{
	(void)arg;
	if (line == 0 || msg == NULL || msg[0] == '\0')
		abort();
	reported++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct psk_table	*t = NULL;
	const char		*text = (const char *)data, *colon;
	const uint8_t		*key;
	size_t			 lines = 1, i, klen;
	int			 rc;

	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	reported = 0;
	rc = psk_parse(text, size, &t, on_err, NULL);
	if (rc == -ENOMEM)
		return 0;
	if (rc != 0) {
		if (rc != -EINVAL || reported == 0 || t != NULL)
			abort();
		return 0;
	}
	if (t == NULL || psk_count(t) > lines)
		abort();
	/* Probe with the first line's identity, whatever it is. */
	colon = memchr(text, ':', size);
	if (colon != NULL && memchr(text, '\n', (size_t)(colon - text)) ==
	    NULL) {
		key = psk_lookup(t, text, (size_t)(colon - text), &klen);
		if (key != NULL && (klen == 0 || klen > PSK_KEY_MAX))
			abort();
	}
	(void)psk_lookup(t, "", 0, &klen);
	psk_free(t);
	return 0;
}
