/*
 * cfg.c - the configuration snapshot: finishing it once every key is
 * applied (the rules that span the file, the built-in content formats, the
 * compiled route table), then references, freeing and lookups.
 *
 * Reading the file is cfg_load.c, its keys cfg_schema.c; see cfg_int.h for
 * the whole map.  A struct cfg is immutable once cfg_load() returns it.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/acl.h"
#include "adapt/cfg.h"
#include "adapt/cfg_int.h"
#include "proto/coap_msg.h"
#include "proto/linkfmt.h"
#include "proto/psk.h"
#include "proto/route.h"

/*
 * Finishing: after every key of the file is applied (ld_top_finish() is
 * top_opts' finish hook), the rules no single key can check.
 */

/* Built-in extension map; `content_formats` entries come after it. */
static const struct {
	const char	*ext;
	uint16_t	 ct;
} builtin_ctypes[] = {
	{ "txt", COAP_CT_TEXT_PLAIN },
	{ "wlnk", COAP_CT_LINK_FORMAT },
	{ "xml", COAP_CT_XML },
	{ "bin", COAP_CT_OCTET_STREAM },
	{ "exi", COAP_CT_EXI },
	{ "json", COAP_CT_JSON },
	{ "cbor", COAP_CT_CBOR },
};

/* Keep a route's source file name beyond the config_t's lifetime. */
static const char *
intern_file(struct ld *ld, const char *file)
{
	struct cfg_store *st = ld->store;
	char		**v;
	size_t		 i;

	for (i = 0; i < st->nfiles; i++)
		if (strcmp(st->files[i], file) == 0)
			return st->files[i];
	v = ld_alloc_fail(ld, realloc(st->files,
	    (st->nfiles + 1) * sizeof(*v)));
	if (v == NULL)
		return NULL;
	st->files = v;
	if ((v[st->nfiles] = ld_strdup(ld, file)) == NULL)
		return NULL;
	return v[st->nfiles++];
}

static void
check_listen_dups(struct ld *ld, const struct config_setting_t *root)
{
	const struct config_setting_t	*ls, *a, *b;
	struct cfg			*c = ld->c;
	char				 pos[PATH_MAX + 32];
	size_t				 i, j;

	ls = ld_member(root, "listen");
	for (i = 0; i < c->nlisten; i++) {
		a = ld_elem_member(ls, i, NULL);
		if (c->listen[i].dtls && c->dtls.psk_file == NULL)
			ld_err(ld, ld_elem_member(ls, i, "dtls"),
			    "listen[%zu].dtls: needs dtls.psk_file", i);
		if (c->listen[i].addrlen == 0)
			continue;
		for (j = 0; j < i; j++) {
			if (c->listen[j].addrlen != c->listen[i].addrlen ||
			    memcmp(&c->listen[j].addr, &c->listen[i].addr,
			    c->listen[i].addrlen) != 0)
				continue;
			b = ld_elem_member(ls, j, NULL);
			ld_pos_str(ld, a, b, pos, sizeof(pos));
			ld_err(ld, a, "listen[%zu]: \"%s\" port %u already "
			    "used by listen[%zu] (%s)", i,
			    c->listen[i].address, c->listen[i].port, j, pos);
			break;
		}
	}
}

static void
check_route_dups(struct ld *ld, const struct config_setting_t *root)
{
	const struct config_setting_t	*rs, *a, *b;
	struct cfg			*c = ld->c;
	char				 pos[PATH_MAX + 32];
	size_t				 i, j;

	rs = ld_member(root, "routes");
	for (i = 0; i < c->nroutes; i++) {
		if (c->routes[i].path == NULL)
			continue;
		for (j = 0; j < i; j++) {
			if (c->routes[j].path == NULL ||
			    strcmp(c->routes[i].path, c->routes[j].path) != 0)
				continue;
			a = ld_elem_member(rs, i, "path");
			b = ld_elem_member(rs, j, "path");
			ld_pos_str(ld, a, b, pos, sizeof(pos));
			ld_err(ld, a, "routes[%zu].path: \"%s\" already used by "
			    "routes[%zu] (%s)", i, c->routes[i].path, j, pos);
			break;
		}
	}
}

/* Built-ins first, then the file's: cfg_ctype_for() looks from the end. */
static void
merge_ctypes(struct ld *ld)
{
	struct cfg		*c = ld->c;
	struct cfg_ctype	*t;
	size_t			 i, nb = NELEM(builtin_ctypes);

	t = ld_alloc_fail(ld, calloc(nb + c->nctypes, sizeof(*t)));
	if (t == NULL)
		return;
	for (i = 0; i < nb; i++) {
		t[i].ext = ld_strdup(ld, builtin_ctypes[i].ext);
		t[i].ct = builtin_ctypes[i].ct;
	}
	if (c->nctypes > 0)
		memcpy(t + nb, c->ctypes, c->nctypes * sizeof(*t));
	free(c->ctypes);
	c->ctypes = t;
	c->nctypes += nb;
}

/*
 * What the pure modules get of the routes: the router's specs (copied by
 * the table) and the link-format entries (kept in the snapshot).
 */
static int
compile_routes(struct cfg *c, char *err, size_t errlen)
{
	struct route_spec *specs;
	struct linkfmt_entry *l;
	struct cfg_route *r;
	size_t		 i;
	int		 rc;

	specs = calloc(c->nroutes, sizeof(*specs));
	c->links = calloc(c->nroutes, sizeof(*c->links));
	if (specs == NULL || c->links == NULL) {
		free(specs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		specs[i] = (struct route_spec){ .path = r->path,
		    .path_len = r->path_len, .target = r,
		    .prefix = r->kind == ROUTE_STATIC ? r->static_is_dir :
		    r->kind != ROUTE_HOOK };
		l = &c->links[i];
		*l = (struct linkfmt_entry){ .href = r->path, .rt = r->rt,
		    .if_ = r->if_, .title = r->title, .ct = r->ct,
		    .obs = r->observe, .acl = r->acl };
	}
	c->nlinks = c->nroutes;
	rc = route_table_build(&c->table, specs, c->nroutes, err, errlen);
	free(specs);
	return rc;
}

void
ld_top_finish(struct ld *ld, const struct config_setting_t *g,
    const struct config_setting_t *at, const char *key, void *base)
{
	struct cfg			*c = base;
	const struct config_setting_t	*rs;
	const char			*file;
	char				 err[256];
	long				 ncpu;
	uint64_t			 life_s;
	unsigned			 line;
	size_t				 i;

	(void)at;
	(void)key;
	if (c->workers == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = ncpu < 1 ? 1 : ncpu > 256 ? 256 : (uint32_t)ncpu;
	}
	/*
	 * Unset (its range starts at 1): RFC 7252 §4.8.2 from the coap
	 * group, rounded up: it follows the timers.
	 */
	if (c->exchange_lifetime_s == 0) {
		life_s = (retx_exchange_lifetime_ms(&c->coap) + 999) / 1000;
		c->exchange_lifetime_s = life_s > LD_LIFETIME_MAX_S ?
		    LD_LIFETIME_MAX_S : (uint32_t)life_s;
	}
	check_listen_dups(ld, g);
	check_route_dups(ld, g);
	merge_ctypes(ld);

	rs = ld_member(g, "routes");
	for (i = 0; i < c->nroutes; i++) {
		ld_pos(ld, ld_elem_member(rs, i, NULL), &file, &line);
		c->routes[i].src_file = intern_file(ld, file);
	}

	/* the table assumes valid routes: build it only from a clean file */
	if (ld->nmsgs > 0 || ld->nomem || c->nroutes == 0)
		return;
	if (compile_routes(c, err, sizeof(err)) == -ENOMEM)
		ld->nomem = true;
	else if (c->table == NULL)
		ld_err(ld, rs, "routes: %s", err);
}

/*
 * The snapshot.
 */

void
cfg_free(struct cfg *c)
{
	struct cfg_store *st = (struct cfg_store *)c;
	struct cfg_route *r;
	size_t		 i, j;

	route_table_free(c->table);
	free(c->links);
	for (i = 0; i < c->nlisten; i++)
		free(c->listen[i].address);
	free(c->listen);
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		free(r->path);
		free(r->static_path);
		free(r->static_name);
		if (r->static_dirfd != -1)
			close(r->static_dirfd);
		free(r->rt);
		free(r->if_);
		free(r->title);
		for (j = 0; j < r->nallow; j++)
			free(r->allow[j]);
		free(r->allow);
		for (j = 0; j < r->nhook; j++)
			free(r->hook[j]);
		free(r->hook);
		for (j = 0; j < r->nenv; j++)
			free(r->env[j]);
		free(r->env);
		free(r->user);
		free(r->group);
		free(r->running);
		free(r->backend);
		free(r->pending);
		acl_free(r->acl);
	}
	free(c->routes);
	for (i = 0; i < c->nctypes; i++)
		free(c->ctypes[i].ext);
	free(c->ctypes);
	free(c->dtls.psk_file);
	free(c->user);
	free(c->group);
	psk_free(c->dtls.psk);
	free(c->dtls.identity_hint);
	for (i = 0; i < c->dtls.nciphers; i++)
		free(c->dtls.ciphers[i]);
	free(c->dtls.ciphers);
	free(c->hooks.tmp_dir);
	free(c->control_socket);
	free(c->metrics.file);
	for (i = 0; i < st->nfiles; i++)
		free(st->files[i]);
	free(st->files);
	free(c->file);
	free(c->dir);
	free(st);
}

struct cfg *
cfg_ref(struct cfg *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void
cfg_unref(struct cfg *c)
{
	if (c == NULL)
		return;
	/* acq_rel: the last owner sees every other owner's reads finished */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		cfg_free(c);
}

uint16_t
cfg_ctype_for(const struct cfg *c, const char *name)
{
	const char	*dot, *slash;
	size_t		 i;

	dot = strrchr(name, '.');
	slash = strrchr(name, '/');
	if (dot == NULL || (slash != NULL && dot < slash) || dot[1] == '\0')
		return COAP_CT_OCTET_STREAM;
	/* from the end: the file's entries override the built-ins */
	for (i = c->nctypes; i-- > 0;)
		if (strcasecmp(c->ctypes[i].ext, dot + 1) == 0)
			return c->ctypes[i].ct;
	return COAP_CT_OCTET_STREAM;
}
