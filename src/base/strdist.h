/*
 * strdist.h - edit distance between short names, ignoring ASCII case: the
 * "did you mean" of configuration messages (keys, methods, cipher suites).
 */
#ifndef COAPD_STRDIST_H
#define COAPD_STRDIST_H

#include <ctype.h>
#include <limits.h>
#include <string.h>

#define STRDIST_MAX	63	/* longer names never match: UINT_MAX */

/* Levenshtein distance between a and b (insert, delete, substitute). */
static inline unsigned
str_distance(const char *a, const char *b)
{
	unsigned	 row[STRDIST_MAX + 1], prev, tmp, best;
	size_t		 i, j, la = strlen(a), lb = strlen(b);

	if (la > STRDIST_MAX || lb > STRDIST_MAX)
		return UINT_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (unsigned)i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

#endif /* COAPD_STRDIST_H */
