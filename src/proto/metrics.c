/*
 * metrics.c - names of counters.
 */
#include "proto/metrics.h"

const char *
drop_reason_str(enum drop_reason r)
{
	static const char *const names[DROP_REASONS] = {
		[DROP_MALFORMED_NON] = "malformed_non",
		[DROP_VERSION] = "bad_version",
		[DROP_DUP_NON] = "duplicate_non",
		[DROP_DUP_PENDING] = "duplicate_pending",
		[DROP_BAD_NON] = "rejected_non",
		[DROP_UNEXPECTED] = "unexpected",
		[DROP_TRUNCATED] = "truncated",
		[DROP_NOBUFS] = "no_buffers",
		[DROP_SEND_FAILED] = "send_failed",
	};

	if ((unsigned)r >= DROP_REASONS)
		return "unknown";
	return names[r];
}
