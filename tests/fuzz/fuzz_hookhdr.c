/*
 * fuzz_hookhdr.c - libFuzzer target for the hook header parser
 * (src/proto/hookhdr.c): a hook's whole output, as it printed it.
 *
 * Accepted headers must be within their documented bounds and the body
 * offset within the output; a refusal must say why.  Anything else aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/hookhdr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hook_hdr	 h;
	char		 err[128];
	int		 rc;

	err[0] = '\0';
	rc = hookhdr_parse((const char *)data, size, &h, err, sizeof(err));
	if (rc != 0) {
		if (rc != -EINVAL || err[0] == '\0' ||
		    memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	if (h.body_off > size || h.body_off > HOOKHDR_MAX + 2 ||
	    h.etag_len > HOOKHDR_ETAG_MAX ||
	    (h.status != -1 && (h.status < 0 || h.status > 255)) ||
	    (h.ct != -1 && (h.ct < 0 || h.ct > 65535)) ||
	    (h.max_age != -1 && (h.max_age < 0 || h.max_age > UINT32_MAX)) ||
	    strnlen(h.location, sizeof(h.location)) > HOOKHDR_LOC_MAX)
		abort();
	return 0;
}
