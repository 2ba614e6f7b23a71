/*
 * handler.c - the built-in handler kinds by route kind.  Hooks and
 * backends plug in here when they land; until then their routes find no
 * handler and are answered 5.01.
 */
#include <stddef.h>

#include "serve/handler.h"

void
handler_table_init(struct h_env *env)
{
	unsigned	 k;

	for (k = 0; k < HANDLER_KINDS; k++)
		env->ops[k] = NULL;
	env->ops[ROUTE_STATIC] = &h_file_ops;
	env->ops[ROUTE_HOOK] = &h_hook_ops;
	env->ops[ROUTE_BACKEND] = &h_backend_ops;
}

const struct handler_ops *
handler_for(const struct h_env *env, unsigned kind)
{
	if (env == NULL || kind >= HANDLER_KINDS)
		return NULL;
	return env->ops[kind];
}
