/*
 * cfg.h - the configuration snapshot, built by src/adapt/cfg*.c (cfg_int.h
 * maps them; cfg_load.c is the only includer of <libconfig.h>).  A struct
 * cfg is immutable once cfg_load() returns it and is shared by every worker
 * through reference counting; a reload builds a new one aside and swaps the
 * pointer (design.md "Threads and ownership").
 */
#ifndef COAPD_CFG_H
#define COAPD_CFG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "adapt/log.h"
#include "proto/retx.h"

struct acl;
struct linkfmt_entry;
struct psk_table;
struct route_table;

/* One `listen` entry. */
struct cfg_listen {
	char			*address;	/* numeric, as written */
	uint16_t		 port;
	bool			 dtls;
	struct sockaddr_storage	 addr;		/* address + port */
	socklen_t		 addrlen;
};

enum route_kind {
	ROUTE_STATIC = 1,
	ROUTE_HOOK,
	ROUTE_BACKEND,
};

/* Bit for a method code (1..7) in cfg_route.methods. */
#define ROUTE_METHOD(code)	(1u << (code))

/* One `routes` entry. */
struct cfg_route {
	char		*path;		/* normalized: "/", "/a", "/a/b" */
	size_t		 path_len;
	enum route_kind	 kind;
	unsigned	 methods;	/* ROUTE_METHOD() bits */

	/* static */
	char		*static_path;	/* absolute target path */
	bool		 static_is_dir;	/* serves the tree beneath path */
	int		 static_dirfd;	/* O_PATH fd: the directory, or the
					   file's parent for a file target */
	char		*static_name;	/* file target: its base name; NULL for
					   directories */
	bool		 writable;	/* PUT/DELETE enabled */
	bool		 create_dirs;	/* PUT may create missing directories */
	bool		 observe;	/* Observe (RFC 7641) enabled */
	uint32_t	 block_size;	/* Block2 size: 16..1024, power of 2 */
	uint64_t	 max_body_bytes; /* uploads above get 4.13 */

	/* link-format attributes for /.well-known/core (RFC 6690) */
	uint32_t	 max_age;	/* seconds (Max-Age option) */
	char		*rt;		/* NULL when unset */
	char		*if_;
	char		*title;
	int		 ct;		/* -1 when unset */

	/* hook: one run of an executable per request (h_hook.c) */
	char		**hook;		/* argv, NULL-terminated */
	size_t		 nhook;
	char		**env;		/* "NAME=value" from `env` */
	size_t		 nenv;
	uint32_t	 timeout_s;	/* killed after: 5.04 */
	uint32_t	 max_running;	/* runs of this route at once */
	uint64_t	 max_output_bytes; /* stdout past it: 5.00 */
	bool		 headers;	/* stdout starts with CGI headers */
	char		*user;		/* run as; NULL: coapd's own */
	char		*group;
	bool		 run_as_root;	/* allow no `user` when root */
	uint32_t	 interval_s;	/* observers: a run this often; 0 */
	bool		 set_ids;	/* uid/gid below apply */
	uid_t		 uid;
	gid_t		 gid;
	/* Runs of this route at once, all workers: the one counter a
	   snapshot carries that changes (like refs). */
	atomic_uint	*running;

	/* backend: requests forwarded as CoAP datagrams (h_backend.c) */
	char		*backend;	/* as written: a path or coap://... */
	struct sockaddr_storage backend_addr; /* AF_UNIX, AF_INET(6) */
	socklen_t	 backend_addrlen;
	bool		 strip_prefix;	/* drop path's segments upstream */
	uint32_t	 max_pending;	/* exchanges at once, all workers */
	atomic_uint	*pending;	/* like running */

	/* per-route rate limit (ratelimit.h), on top of limits.rate */
	uint32_t	 rate;		/* requests/s per client; 0: none */
	uint32_t	 burst;		/* 0: rate */

	char		**allow;	/* "psk:...", "net:..." entries */
	size_t		 nallow;
	struct acl	*acl;		/* compiled allow; NULL: everyone */

	const char	*src_file;	/* where the route was defined */
	int		 src_line;
	/* Its per-route counters (metrics.h): given by the daemon before
	   the snapshot is shared; 0 (not counted) until then. */
	unsigned	 stats_slot;
};

/* Extension to Content-Format mapping (`content_formats`). */
struct cfg_ctype {
	char		*ext;		/* without the dot, lower case */
	uint16_t	 ct;
};

struct cfg_dtls {
	char		*psk_file;	/* NULL when no DTLS */
	char		*identity_hint;
	char		**ciphers;
	size_t		 nciphers;
	uint32_t	 max_sessions;	/* established, all workers */
	uint32_t	 max_handshakes; /* past the cookie, all workers */
	uint32_t	 max_handshakes_per_host; /* per worker */
	uint32_t	 session_timeout_s;
	uint32_t	 handshake_timeout_s;
	uint32_t	 hello_hold_s;	/* cookieless hellos to a live session */
	struct psk_table *psk;		/* loaded from psk_file; NULL when
					   no DTLS */
};

/* The `hooks` group: all hook routes together. */
struct cfg_hooks {
	uint32_t	 max_running;	/* runs at once, whole process */
	char		*tmp_dir;	/* request bodies for stdin */
	uint32_t	 term_grace_s;	/* SIGTERM to SIGKILL at shutdown */
	uint64_t	 max_cache_bytes; /* Block2 outputs kept per worker */
};

/*
 * The `limits` group (issue 16).  Rate limits and load shedding: */
struct cfg_limits {
	uint32_t	 rate;		/* requests/s per address; 0: off */
	uint32_t	 burst;
	uint32_t	 identity_rate;	/* requests/s per PSK identity */
	uint32_t	 identity_burst;
	uint32_t	 ipv6_prefix;	/* IPv6 clients grouped per /N */
	uint32_t	 max_clients;	/* buckets per worker */
	uint32_t	 client_idle_s;	/* idle buckets forgotten after */
	uint32_t	 throttle_at_percent;	/* load levels (ratelimit.h) */
	uint32_t	 shed_at_percent;
	uint32_t	 normal_below_percent;
	uint32_t	 shed_max_age_s;	/* Max-Age of a 5.03 when shedding */
	uint32_t	 max_uploads;	/* Block1 transfers per worker and
					   handler kind (static, hook) */
	/* hostile peers (amp.c, notify.c) */
	uint32_t	 echo_lifetime_s;  /* verified address kept */
	uint32_t	 max_amp_clients;  /* guard table, all workers */
	uint32_t	 max_observers_per_client; /* per address, per worker */
};

/* The `metrics` group: the Prometheus textfile export (daemon layer). */
struct cfg_metrics {
	char		*file;		/* NULL: no export */
	uint32_t	 interval_s;
};

struct cfg {
	atomic_uint		 refs;
	char			*file;		/* config file as given */
	char			*dir;		/* its directory (absolute) */

	struct cfg_listen	*listen;
	size_t			 nlisten;
	uint32_t		 workers;	/* resolved: never 0 */
	uint32_t		 rcvbuf_bytes;	/* SO_RCVBUF per socket */
	uint32_t		 sndbuf_bytes;	/* SO_SNDBUF per socket */
	uint32_t		 dedup_entries;	/* exchange cache bound/worker */
	uint32_t		 exchange_lifetime_s; /* RFC 7252: 247 */
	uint32_t		 separate_after_ms; /* empty ACK, then a
						   separate response */
	uint32_t		 max_separate;	/* pending exchanges/worker */
	uint32_t		 max_observers;	/* total, per worker share */
	uint32_t		 observe_con_every;
	uint64_t		 max_body_bytes; /* default for routes */
	uint32_t		 shutdown_grace_s; /* SIGTERM: pending
						     exchanges finish */
	enum log_level		 log_level;
	bool			 log_access;	/* one line per request */
	char			*user;		/* drop to it after binding */
	char			*group;
	bool			 drop;		/* user set: uid/gid below */
	uid_t			 uid;
	gid_t			 gid;

	struct cfg_route	*routes;
	size_t			 nroutes;
	struct cfg_ctype	*ctypes;	/* built-ins first, then config */
	size_t			 nctypes;
	struct route_table	*table;		/* compiled from routes */
	struct linkfmt_entry	*links;		/* routes as links, in order */
	size_t			 nlinks;

	struct cfg_dtls		 dtls;
	struct cfg_hooks	 hooks;
	struct cfg_limits	 limits;
	char			*control_socket; /* NULL: the default; ""
						   : none */
	struct cfg_metrics	 metrics;
	struct retx_params	 coap;		/* RFC 7252 §4.8: the `coap`
						   group */
};

/*
 * Called once per configuration error with a complete line
 * "FILE:LINE: message" (no newline).
 */
typedef void cfg_err_fn(void *arg, const char *line);

/*
 * Load and validate the file at path.  Every error is reported through err
 * (all of them, not only the first).  On success *out holds a snapshot with
 * one reference.  Returns 0, -EINVAL when the file has errors, or another
 * negative errno when it cannot be read.
 */
/* libconfig's version, for `coapd -V`. */
const char *cfg_lib_version(void);

int	cfg_load(const char *path, struct cfg **out, cfg_err_fn *err,
	    void *arg);
/*
 * cfg_load() for a reload while running is in use: in addition, every key
 * that cannot change without a restart (OPT_RESTART: listen, workers,
 * user, group, ...) and differs from running is an error at its line
 * ("FILE:LINE: user: cannot change on reload (...); restart coapd to
 * apply it"), so the reload is refused as a whole.
 */
int	cfg_reload(const char *path, const struct cfg *running,
	    struct cfg **out, cfg_err_fn *err, void *arg);

/* Take / drop a reference.  The last unref frees everything; thread-safe. */
struct cfg *cfg_ref(struct cfg *c);
void	cfg_unref(struct cfg *c);

/* Content-Format for a file name from its extension (octet-stream if none). */
uint16_t cfg_ctype_for(const struct cfg *c, const char *name);

#endif /* COAPD_CFG_H */
