/*
 * fwatch.c - inotify watcher of the served trees, main thread.  See
 * fwatch.h.
 *
 * inotify watches directories, not names: a file replaced by rename, or
 * deleted, is reported by its directory, under its name.  So every
 * directory of a served tree is watched (hidden ones excepted, as they are
 * never served), new subdirectories as they appear, and for a file route
 * the directory that holds the file.  An event becomes the hash of the
 * changed path (observe_path_hash()), the name observers use too.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "adapt/cfg.h"
#include "proto/fchange.h"
#include "daemon/fwatch.h"
#include "adapt/log.h"
#include "proto/observe.h"

#define FWATCH_MASK	(IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | \
			 IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |	      \
			 IN_DELETE_SELF | IN_MOVE_SELF)
#define FWATCH_DEPTH	32	/* deeper trees are watched to here */
#define FWATCH_BATCH	256	/* distinct paths per batch, then "all" */

struct fw_dir {
	char		*path;		/* NULL: slot unused */
	bool		 recursive;
};

struct fwatch {
	int		 fd;
	struct fw_dir	*dirs;		/* indexed by watch descriptor */
	size_t		 ndirs;
	bool		 full_warned;

	bool		 pending;
	uint64_t	 first_ns;	/* first event of the batch */
	bool		 all;
	size_t		 n;
	uint64_t	 hash[FWATCH_BATCH];
};

static void
fw_clear(struct fwatch *fw)
{
	size_t	 i;

	for (i = 0; i < fw->ndirs; i++)
		free(fw->dirs[i].path);
	free(fw->dirs);
	fw->dirs = NULL;
	fw->ndirs = 0;
}

int
fwatch_new(struct fwatch **out)
{
	struct fwatch	*fw;

	if ((fw = calloc(1, sizeof(*fw))) == NULL)
		return -ENOMEM;
	if ((fw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		free(fw);
		return -errno;
	}
	*out = fw;
	return 0;
}

void
fwatch_free(struct fwatch *fw)
{
	if (fw == NULL)
		return;
	fw_clear(fw);
	if (fw->fd >= 0)
		close(fw->fd);
	free(fw);
}

int
fwatch_fd(const struct fwatch *fw)
{
	return fw->fd;
}

static void
fw_mark(struct fwatch *fw, uint64_t now_ns)
{
	if (!fw->pending) {
		fw->pending = true;
		fw->first_ns = now_ns;
	}
}

static void
fw_note(struct fwatch *fw, uint64_t h, uint64_t now_ns)
{
	size_t	 i;

	fw_mark(fw, now_ns);
	if (fw->all)
		return;
	for (i = 0; i < fw->n; i++)
		if (fw->hash[i] == h)
			return;
	if (fw->n == FWATCH_BATCH) {
		fw->all = true;
		return;
	}
	fw->hash[fw->n++] = h;
}

/* Watch path (and, when recursive, the directories beneath it). */
static void
fw_add(struct fwatch *fw, const char *path, bool recursive, bool top,
    int depth)
{
	char		 sub[PATH_MAX];
	struct fw_dir	*v;
	struct dirent	*de;
	struct stat	 st;
	size_t		 n;
	DIR		*dir;
	int		 wd;

	/* Beneath a root, no symlink is followed: it may leave the tree. */
	wd = inotify_add_watch(fw->fd, path, FWATCH_MASK | IN_ONLYDIR |
	    (top ? 0 : IN_DONT_FOLLOW));
	if (wd < 0) {
		if (errno == ENOSPC && !fw->full_warned) {
			fw->full_warned = true;
			log_warnx("watch %s, no more inotify watches: raise "
			    "fs.inotify.max_user_watches; changes beneath "
			    "it are seen within a second, observers are not "
			    "notified", path);
		} else if (errno != ENOSPC && errno != ENOENT &&
		    errno != ENOTDIR)
			log_warn("watch %s", path);
		return;
	}
	if ((size_t)wd >= fw->ndirs) {
		n = (size_t)wd + 64;
		if ((v = realloc(fw->dirs, n * sizeof(*v))) == NULL) {
			log_warnx("watch %s, out of memory", path);
			return;
		}
		memset(v + fw->ndirs, 0, (n - fw->ndirs) * sizeof(*v));
		fw->dirs = v;
		fw->ndirs = n;
	}
	/* One inode watched twice keeps its first name. */
	if (fw->dirs[wd].path == NULL &&
	    (fw->dirs[wd].path = strdup(path)) == NULL)
		return;
	if (!recursive)
		return;
	fw->dirs[wd].recursive = true;
	if (depth >= FWATCH_DEPTH || (dir = opendir(path)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (de->d_type == DT_UNKNOWN &&
		    (fstatat(dirfd(dir), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path,
		    de->d_name) >= sizeof(sub))
			continue;
		fw_add(fw, sub, true, false, depth + 1);
	}
	closedir(dir);
}

void
fwatch_set_cfg(struct fwatch *fw, const struct cfg *c)
{
	const struct cfg_route	*r;
	char			 dir[PATH_MAX];
	char			*slash;
	size_t			 i;
	int			 fd;

	/*
	 * A fresh inotify instance drops every old watch at once; events
	 * lost in between are covered by reporting everything changed.
	 */
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		log_warn("inotify");
		return;
	}
	fw_clear(fw);
	close(fw->fd);
	fw->fd = fd;
	fw->full_warned = false;
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		if (r->kind != ROUTE_STATIC || r->static_path == NULL)
			continue;
		if (r->static_is_dir) {
			fw_add(fw, r->static_path, true, true, 0);
			continue;
		}
		if (strlen(r->static_path) >= sizeof(dir))
			continue;
		memcpy(dir, r->static_path, strlen(r->static_path) + 1);
		if ((slash = strrchr(dir, '/')) == NULL)
			continue;
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		fw_add(fw, dir, false, true, 0);
	}
	fw->all = true;
	fw_mark(fw, 0);
}

static void
fw_event(struct fwatch *fw, const struct inotify_event *ev, uint64_t now_ns)
{
	const struct fw_dir	*d;
	const char		*parts[2];
	char			 sub[PATH_MAX];

	if (ev->mask & IN_Q_OVERFLOW) {
		fw->all = true;
		fw_mark(fw, now_ns);
		return;
	}
	if (ev->wd < 0 || (size_t)ev->wd >= fw->ndirs ||
	    (d = &fw->dirs[ev->wd])->path == NULL)
		return;
	if (ev->mask & IN_IGNORED) {
		/* The directory is gone; its parent reported it. */
		free(fw->dirs[ev->wd].path);
		fw->dirs[ev->wd].path = NULL;
		return;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		fw->all = true;
		fw_mark(fw, now_ns);
		return;
	}
	if (ev->len == 0 || ev->name[0] == '\0')
		return;
	parts[0] = d->path;
	parts[1] = ev->name;
	fw_note(fw, observe_path_hash(parts, 2), now_ns);
	/* The directory's listing may have changed too (observed listings). */
	fw_note(fw, observe_path_hash(parts, 1), now_ns);
	if (!(ev->mask & IN_ISDIR))
		return;
	/* A directory came or went: the files beneath it did too. */
	fw->all = true;
	if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && d->recursive &&
	    ev->name[0] != '.' &&
	    (size_t)snprintf(sub, sizeof(sub), "%s/%s", d->path, ev->name) <
	    sizeof(sub))
		fw_add(fw, sub, true, false, 0);
}

void
fwatch_read(struct fwatch *fw, uint64_t now_ns)
{
	union {
		struct inotify_event	 ev;
		char			 b[16384];
	} buf;
	const struct inotify_event	*ev;
	ssize_t				 n, i;

	for (;;) {
		n = read(fw->fd, buf.b, sizeof(buf.b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (i = 0; i < n; i += (ssize_t)(sizeof(*ev) + ev->len)) {
			ev = (const struct inotify_event *)(const void *)
			    (buf.b + i);
			fw_event(fw, ev, now_ns);
		}
	}
}

int
fwatch_timeout_ms(const struct fwatch *fw, uint64_t now_ns)
{
	uint64_t	 due;

	if (!fw->pending)
		return CLOCK_WAIT_FOREVER;
	due = fw->first_ns + FWATCH_COALESCE_NS;
	if (now_ns >= due)
		return 0;
	return (int)((due - now_ns + 999999) / 1000000);
}

struct fchange *
fwatch_take(struct fwatch *fw, uint64_t now_ns)
{
	struct fchange	*c;

	if (!fw->pending || now_ns < fw->first_ns + FWATCH_COALESCE_NS)
		return NULL;
	if ((c = fchange_new(fw->all ? 0 : fw->n)) == NULL)
		return NULL;	/* tried again on the next loop */
	c->all = fw->all;
	if (!fw->all) {
		memcpy(c->hash, fw->hash, fw->n * sizeof(fw->hash[0]));
		c->n = fw->n;
	}
	fw->pending = false;
	fw->all = false;
	fw->n = 0;
	return c;
}
