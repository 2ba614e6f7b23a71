/*
 * cfg_int.h - private to src/adapt/cfg*.c: the option table types, the
 * state of one cfg_load(), and what the files of the loader share.
 *
 *   cfg_schema.c  the option tables (top_opts[], route_opts[], ...) and the
 *                 hooks of their keys
 *   cfg_files.c   the keys that name files: static targets, the PSK key file;
 *                 the configuration file's own directory and readability
 *   cfg_load.c    reading with libconfig (its only includer), @include, and
 *                 the generic walker that applies a table to a group
 *   cfg_diag.c    error collection: positions, file names as shown,
 *                 "did you mean", integer literals libconfig wraps
 *   cfg.c         the snapshot: rules across the whole file, compiled
 *                 routes, references, freeing, lookups
 *
 * Names shared between these files start with ld_ (the loader), or cfg_
 * for the snapshot's own cfg_free().
 */
#ifndef COAPD_CFG_INT_H
#define COAPD_CFG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "adapt/cfg.h"

/*
 * A libconfig setting.  Only cfg_load.c includes <libconfig.h>, where this
 * is config_setting_t; the other files pass it on unopened and read it
 * through ld_member(), ld_elem_member(), ld_line() and ld_pos().
 */
struct config_setting_t;

struct ld;

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

enum opt_type {
	OPT_INT,	/* integer into an integer field of o->size bytes */
	OPT_BOOL,	/* into a bool */
	OPT_STR,	/* strdup'd into a char *, or given to o->conv */
	OPT_STRV,	/* array of strings: char ** at off, size_t at noff */
	OPT_GROUP,	/* a nested table applied to base + off */
	OPT_LIST,	/* list of groups: element array at off, size_t at noff */
	OPT_ENV,	/* group of strings: "NAME=value" char ** at off,
			   size_t at noff */
};

#define OPT_REQUIRED	0x01	/* absent is an error */
#define OPT_NONEMPTY	0x02	/* an empty array or list is an error */
#define OPT_POW2	0x04	/* an integer must be a power of two */
#define OPT_RESTART	0x08	/* a reload cannot change it (see the man page) */
#define OPT_NODEFAULT	0x10	/* absent: keep what the set's init put there */
#define OPT_ONEDEFAULT	0x20	/* absent list: one element made of defaults */
#define OPT_TARGET	0x40	/* one of a route's exclusive targets */

/*
 * Validate a string value (s is its setting, for the error position).
 * Returns 0, or -EINVAL after reporting.
 */
typedef int opt_check_fn(struct ld *, const struct config_setting_t *s,
    const char *key, const char *val);
/*
 * Store a string value into the struct at base instead of the default
 * strdup (for OPT_STRV: called per element).  s is NULL when val is the
 * table default.  Returns 0, -EINVAL after reporting, or -ENOMEM.
 */
typedef int opt_conv_fn(struct ld *, const struct config_setting_t *s,
    const char *key, const char *val, void *base);

struct optset;

struct opt {
	const char		*name;	/* the key, as in the man page */
	enum opt_type		 type;
	size_t			 off;	/* the field in the target struct */
	size_t			 size;	/* its size (integers) */
	size_t			 noff;	/* OPT_STRV, OPT_LIST: count field */
	long long		 min;	/* integers: value; strings: length */
	long long		 max;	/* strings: 0 means no limit */
	long long		 def;	/* OPT_INT, OPT_BOOL default */
	const char		*sdef;	/* OPT_STR default, NULL for none */
	unsigned		 flags;
	const struct optset	*sub;	/* OPT_GROUP, OPT_LIST */
	opt_check_fn		*check;
	opt_conv_fn		*conv;
};

/* The keys of one group, and what to do around applying them. */
struct optset {
	const struct opt	*opts;
	size_t			 nopts;
	size_t			 size;	/* OPT_LIST element size */
	/* Before any key of a list element is applied. */
	void			(*init)(struct ld *, void *base);
	/*
	 * After all keys: cross-key rules.  g is the group, or NULL when it
	 * was absent (then at is where to report).
	 */
	void			(*finish)(struct ld *,
				    const struct config_setting_t *g,
				    const struct config_setting_t *at,
				    const char *key, void *base);
};

/* One collected error. */
struct ld_msg {
	unsigned	 rank;		/* order of the file among the errors */
	unsigned	 line;
	unsigned	 seq;		/* keeps equal positions stable */
	char		*text;		/* "FILE:LINE: message" */
	const char	*file;		/* shown name, owned by ld->srcs */
};

/* A source file of the configuration: the file given or an @include. */
struct ld_src {
	char		*name;		/* as libconfig records it */
	char		*shown;		/* as messages show it */
	char		*data;		/* its text, read on demand */
	bool		 tried;		/* data was read (or failed) */
};

/*
 * The private tail of a snapshot: source file names that routes point at
 * (libconfig's copies die with the config_t).
 */
struct cfg_store {
	struct cfg	 pub;		/* first: cfg_unref() casts back */
	char		**files;
	size_t		 nfiles;
};

/* State of one cfg_load(). */
struct ld {
	struct cfg_store *store;
	struct cfg	*c;
	const char	*path;		/* as given */
	char		*showdir;	/* dirname(path) as given, for messages;
					   NULL when path has no '/' */
	struct ld_msg	*msgs;
	size_t		 nmsgs;
	size_t		 msgcap;
	struct ld_src	*srcs;
	size_t		 nsrcs;
	bool		 nomem;
	bool		 group_clean;	/* for finish hooks: no error in the
					   group's own keys */
	const struct cfg *running;	/* cfg_reload(): the snapshot in use */
};

/*
 * cfg_schema.c
 */

/* The top-level table: applied to the root group with base = the cfg. */
extern const struct optset ld_top_set;

/*
 * cfg_files.c: hooks of ld_top_set's keys that name files.
 */

/* dtls.psk_file: resolve, stat and load the key file into d->psk. */
opt_conv_fn	ld_conv_psk_file;
/* routes[].static: resolve and open the target (its dirfd) for a route. */
opt_conv_fn	ld_conv_static;
/* routes[].hook: the argv; hook[0] an executable file. */
opt_conv_fn	ld_conv_hook;
/* hooks.tmp_dir: an existing directory. */
opt_conv_fn	ld_conv_tmp_dir;
/* control_socket and metrics.file: paths of the daemon's own files. */
opt_conv_fn	ld_conv_ctl_path;
opt_conv_fn	ld_conv_metrics_file;
/* routes[].backend: a Unix socket path or coap://ADDRESS:PORT. */
opt_conv_fn	ld_conv_backend;

/*
 * val made absolute against the config file's directory (c->dir): a copy,
 * owned by the caller.  NULL (and ld->nomem) when out of memory.
 */
char	*ld_abs_path(struct ld *, const char *val);
/* Absolute directory of path (symlinks resolved), malloc'd; NULL: errno. */
char	*ld_dir_of(const char *path);
/*
 * 0 when path opens for reading and is not a directory, else -errno
 * (libconfig only says "file I/O error").
 */
int	 ld_check_readable(const char *path);

/*
 * cfg.c
 */

/* The largest exchange_lifetime_s, set or derived. */
#define LD_LIFETIME_MAX_S	86400

/* top_opts' finish hook: rules across the file, then the route table. */
void	 ld_top_finish(struct ld *, const struct config_setting_t *g,
	    const struct config_setting_t *at, const char *key, void *base);

/* Free a snapshot whatever its state (also one cfg_load() gave up on). */
void	 cfg_free(struct cfg *);

/*
 * cfg_load.c: settings, for the files that do not include libconfig.
 */

/* Member name of group g, or NULL. */
const struct config_setting_t *ld_member(const struct config_setting_t *g,
	    const char *name);
/*
 * Element i of list (NULL: none), or its member name when name is not NULL
 * and the element is a group.
 */
const struct config_setting_t *ld_elem_member(
	    const struct config_setting_t *list, size_t i, const char *name);
/* The source line of s, as libconfig records it. */
unsigned ld_line(const struct config_setting_t *s);
/*
 * Where s is, as messages show it: the file (owned by ld or the caller's
 * path) and the line (1 for the root group and for s == NULL).
 */
void	 ld_pos(struct ld *, const struct config_setting_t *s,
	    const char **file, unsigned *line);

/*
 * cfg_diag.c
 */

/* p, noting ld->nomem when it is NULL (wrap an allocation with it). */
void	*ld_alloc_fail(struct ld *, void *p);
/* strdup() that notes ld->nomem. */
char	*ld_strdup(struct ld *, const char *);
/*
 * Collect text ("FILE:LINE: message", malloc'd; ld takes it) for file, as
 * shown, at line.  Control characters in text become '?'.
 */
void	 ld_add(struct ld *, const char *file, unsigned line, char *text);
/* Report "FILE:LINE: message" at setting s. */
void	 ld_err(struct ld *, const struct config_setting_t *s,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * A second position in a message about here: "line N" when there is in
 * the same file as here, "FILE:N" otherwise.
 */
void	 ld_pos_str(struct ld *, const struct config_setting_t *here,
	    const struct config_setting_t *there, char *buf, size_t len);
/*
 * The source entry for a file name recorded by libconfig (or a key file
 * named in it), created on first use.  NULL when out of memory.
 */
struct ld_src *ld_source(struct ld *, const char *name);
/*
 * Whether the integer literal of key name on line `line` of source file
 * `file` (libconfig's name) does not fit in 32 bits; then lit holds its
 * text and *val its value (saturated).
 */
bool	 ld_int_literal(struct ld *, const char *file, unsigned line,
	    const char *name, char *lit, size_t len, long long *val);
/*
 * Report setting s, named name, as an unknown key of set: where it belongs
 * when it is a key of one of set's groups or lists ("path" at the top
 * level belongs inside routes), else suggesting the nearest known one.
 */
void	 ld_unknown_key(struct ld *, const struct config_setting_t *s,
	    const char *name, const char *key, const struct optset *set);

/*
 * Report val, a value of the enumeration names[0..n-1] ("method", "level"),
 * as unknown: "KEY: unknown WHAT "VAL" (did you mean "X"?): expected A, B
 * or C".
 */
void	 ld_enum_err(struct ld *, const struct config_setting_t *s,
	    const char *key, const char *what, const char *val,
	    const char *const *names, size_t n);
/*
 * Line `line` of source file `file` (libconfig's name), without its
 * leading and trailing blanks, in buf (cut with "..." when too long).
 * False when the file cannot be read or the line is blank or absent.
 */
bool	 ld_src_line(struct ld *, const char *file, unsigned line, char *buf,
	    size_t len);
/*
 * The message for libconfig's parse error `text` at line of file
 * (libconfig's name), in buf: the file as shown, the line's text, what was
 * expected, and for an @include that failed the file it names and why.
 */
void	 ld_parse_err(struct ld *, const char *file, unsigned line,
	    const char *text, char *buf, size_t len);
/*
 * Whether file (libconfig's name) or a file it includes has an @include of
 * a directory, which libconfig 1.5's scanner answers by exiting the
 * process; then buf holds the message.  depth: 0 for the file given.
 */
bool	 ld_include_dir(struct ld *, const char *file, unsigned depth,
	    char *buf, size_t len);
/*
 * cfg_user.c: the top-level user and group, resolved at load (the switch
 * is daemon_sd.c's).
 */
opt_conv_fn	ld_conv_user, ld_conv_group;
/* cfg_limits.c: the limits group. */
extern const struct optset ld_limits_set;
/*
 * cfg_reload.c: report every OPT_RESTART key whose value in ld->c differs
 * from ld->running, at its setting under root (the file's root group).
 */
void	 ld_restart_check(struct ld *, const struct config_setting_t *root);
/* cfg_limits.c: the `coap` group (transmission parameters). */
extern const struct optset ld_coap_set;

#endif /* COAPD_CFG_INT_H */
