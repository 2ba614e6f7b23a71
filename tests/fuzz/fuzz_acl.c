/*
 * fuzz_acl.c - libFuzzer target for access rules (src/proto/acl.c): the
 * input's lines are the entries of one route's allow list.
 *
 * A refused list names a bad entry within it and says why; a compiled one
 * answers every client with one of the three results, and the same client
 * always gets the same one.  Anything else aborts.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/acl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES	16

static void
check(const struct acl *a, const char *id, const struct sockaddr *sa,
    socklen_t len)
{
	enum acl_result	 r = acl_check(a, id, sa, len);

	if (r != ACL_ALLOW && r != ACL_UNAUTHORIZED && r != ACL_FORBIDDEN)
		abort();
	if (acl_check(a, id, sa, len) != r)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			*copy, *entries[MAX_ENTRIES], *p, *nl;
	struct sockaddr_in	 v4;
	struct sockaddr_in6	 v6;
	struct acl		*a = NULL;
	char			 err[128];
	size_t			 n = 0, bad = SIZE_MAX;
	int			 rc;

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = copy; n < MAX_ENTRIES; p = nl + 1) {
		entries[n++] = p;
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
	}
	err[0] = '\0';
	rc = acl_compile(entries, n, &a, &bad, err, sizeof(err));
	if (rc == -ENOMEM)
		goto out;
	if (rc != 0) {
		if (rc != -EINVAL || bad >= n || err[0] == '\0')
			abort();
		goto out;
	}
	memset(&v4, 0, sizeof(v4));
	v4.sin_family = AF_INET;
	v4.sin_addr.s_addr = htonl(0xc0000201);
	memset(&v6, 0, sizeof(v6));
	v6.sin6_family = AF_INET6;
	v6.sin6_addr = in6addr_loopback;
	check(a, NULL, (struct sockaddr *)&v4, sizeof(v4));
	check(a, "dev1", (struct sockaddr *)&v4, sizeof(v4));
	check(a, entries[0], (struct sockaddr *)&v6, sizeof(v6));
	check(a, "", (struct sockaddr *)&v6, sizeof(v6));
	(void)acl_glob(entries[0], n > 1 ? entries[1] : "");
	acl_free(a);
out:
	free(copy);
	return 0;
}
