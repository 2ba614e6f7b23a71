/*
 * handler.c - route kind to handler table.  Hooks and backends plug in here
 * when they land; until then their routes get NULL and the worker answers
 * 5.01.
 */
#include <stddef.h>

#include "serve/handler.h"

const struct handler_ops *
handler_for(enum route_kind kind)
{
	switch (kind) {
	case ROUTE_STATIC:
		return &h_file_ops;
	case ROUTE_HOOK:
	case ROUTE_BACKEND:
	default:
		return NULL;
	}
}
