/*
 * psk.h - the table of DTLS pre-shared keys, parsed from the text of a
 * psk_file: one "identity:hexkey" per line (the format of Mosquitto's
 * psk_file), '#' comments and blank lines allowed.
 *
 * Pure (L1): the caller reads the file and checks its mode; this module
 * parses bytes and answers lookups.  A table is immutable once built and may
 * be read from any thread.  Keys are wiped when the table is freed.
 */
#ifndef COAPD_PSK_H
#define COAPD_PSK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PSK_IDENTITY_MAX	128	/* bytes; wolfSSL's MAX_PSK_ID_LEN */
#define PSK_KEY_MIN		16	/* bytes: 128 bits */
#define PSK_KEY_MAX		64	/* bytes; wolfSSL's MAX_PSK_KEY_LEN */

struct psk_table;

/*
 * Called once per bad line with its number (1-based) and a message without
 * position ("duplicate identity \"x\" (first on line 3)").
 */
typedef void psk_err_fn(void *arg, unsigned line, const char *msg);

/*
 * Parse text[0..len).  Every bad line is reported through err (may be NULL):
 * a line without ':', an empty or too long identity, a key that is not
 * hex, shorter than PSK_KEY_MIN or longer than PSK_KEY_MAX bytes, a
 * duplicate identity.  On success *out holds the table (possibly empty).
 * Returns 0, -EINVAL after reporting, or -ENOMEM.  Copies of the key bytes
 * made while parsing are wiped.
 */
int	psk_parse(const char *text, size_t len, struct psk_table **out,
	    psk_err_fn *err, void *arg);

/*
 * Whether a key file with this st_mode may be used: no permission bits for
 * group or others.
 */
bool	psk_mode_ok(mode_t mode);

/*
 * The key of identity[0..idlen), or NULL.  *keylen receives its length.
 * The pointer stays valid until psk_free(t).
 */
const uint8_t *psk_lookup(const struct psk_table *t, const char *identity,
	    size_t idlen, size_t *keylen);

/* Number of identities. */
size_t	psk_count(const struct psk_table *t);

/* Wipe the keys and free the table; NULL is fine. */
void	psk_free(struct psk_table *t);

#endif /* COAPD_PSK_H */
