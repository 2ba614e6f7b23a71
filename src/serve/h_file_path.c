/*
 * h_file_path.c - resolving the names clients send, for the static handler.
 *
 * Every name is resolved with openat2(2) beneath the route's directory
 * (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): "..", absolute paths and
 * symlinks that leave the tree fail in the kernel, so no user-space path
 * check has to be right; hf_open_walk() applies the same rules where
 * openat2 is refused.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/h_file_int.h"

static int
hf_openat2(int dirfd, const char *path, uint64_t flags)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = flags;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	do {
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	} while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : (int)fd;
}

/*
 * Without openat2 (kernels before 5.6, valgrind 3.19, and systemd's
 * seccomp filters: RestrictSUIDSGID=, implied by DynamicUser=, makes it
 * fail with ENOSYS because it cannot inspect openat2's flags) the path is
 * walked here with the same rules as RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS:
 *
 *  - each segment is opened with O_PATH | O_NOFOLLOW relative to the
 *    directory reached so far, so the kernel never follows anything;
 *  - a symlink is read from that very descriptor (readlinkat(fd, "")):
 *    an absolute target is refused (EXDEV), a relative one is spliced in
 *    front of the rest of the path, at most HF_WALK_LINKS times (ELOOP);
 *  - ".." pops the walk's own stack of directory descriptors and never
 *    asks the kernel for "..": at the root it is refused (EXDEV), so no
 *    rename race can lift the walk out of the tree;
 *  - the last segment is opened with O_NOFOLLOW: had it become a symlink
 *    since it was inspected, the open fails (ELOOP) instead of following.
 * Magic links (/proc) read as absolute paths or as "pipe:[N]" names, so
 * they are refused or not found, as with RESOLVE_NO_MAGICLINKS.
 */
#define HF_WALK_DEPTH	64	/* directories deep */
#define HF_WALK_LINKS	40	/* symlinks per lookup, as the kernel's */

struct hf_walk {
	int	 dirs[HF_WALK_DEPTH];	/* dirs[0] is the route's root */
	int	 ndirs;
	int	 links;
	char	 buf[2][PATH_MAX];	/* the path still to walk */
	int	 cur;			/* which buf holds it */
};

static void
hf_walk_free(struct hf_walk *w)
{
	while (w->ndirs > 1)
		close(w->dirs[--w->ndirs]);
}

/*
 * Splice link (from fd) in front of rest (slash: the link was followed by
 * a '/', kept so the target must be a directory); returns 0 or -errno.
 */
static int
hf_walk_link(struct hf_walk *w, int fd, const char *rest, bool slash)
{
	char	 target[PATH_MAX];
	char	*dst = w->buf[!w->cur];
	ssize_t	 n;
	int	 len;

	if (++w->links > HF_WALK_LINKS)
		return -ELOOP;
	n = readlinkat(fd, "", target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	if (n == 0 || target[0] == '/')
		return -EXDEV;
	len = snprintf(dst, PATH_MAX, "%s%s%s", target,
	    *rest != '\0' || slash ? "/" : "", rest);
	if (len < 0 || len >= PATH_MAX)
		return -ENAMETOOLONG;
	w->cur = !w->cur;
	return 0;
}

/*
 * One step of the walk on segment seg (rest follows it; slash: a '/'
 * came after seg, so it must be a directory): 1 to go on,
 * 2 to go on from the start of w->buf[w->cur] (a link was spliced in),
 * 0 with *out set when done, or -errno.
 */
static int
hf_walk_step(struct hf_walk *w, const char *seg, const char *rest,
    bool slash, int flags, int *out)
{
	int		 top = w->dirs[w->ndirs - 1], fd, r;
	struct stat	 st;

	if (strcmp(seg, ".") == 0)
		return 1;
	if (strcmp(seg, "..") == 0) {
		if (w->ndirs == 1)
			return -EXDEV;
		close(w->dirs[--w->ndirs]);
		return 1;
	}
	fd = openat(top, seg, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	if (S_ISLNK(st.st_mode)) {
		r = hf_walk_link(w, fd, rest, slash);
		close(fd);
		return r < 0 ? r : 2;
	}
	if (*rest == '\0') {
		/* The name itself, never through a symlink. */
		close(fd);
		fd = openat(top, seg, flags | O_NOFOLLOW |
		    (slash ? O_DIRECTORY : 0));
		*out = fd < 0 ? -errno : fd;
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		close(fd);
		return -ENOTDIR;
	}
	if (w->ndirs == HF_WALK_DEPTH) {
		close(fd);
		return -ENAMETOOLONG;
	}
	w->dirs[w->ndirs++] = fd;
	return 1;
}

int
hf_open_walk(int dirfd, const char *path, int flags)
{
	struct hf_walk	 w;
	char		 seg[NAME_MAX + 1];
	const char	*p, *end;
	size_t		 n;
	int		 fd = -ENOENT, r;
	bool		 slash;

	if (path[0] == '/')
		return -EXDEV;
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	w.dirs[0] = dirfd;
	w.ndirs = 1;
	w.links = 0;
	w.cur = 0;
	memcpy(w.buf[0], path, strlen(path) + 1);
	for (p = w.buf[w.cur];;) {
		while (*p == '/')
			p++;
		if (*p == '\0') {
			/* "", "." or "a/": the directory reached so far. */
			fd = openat(w.dirs[w.ndirs - 1], ".", flags);
			fd = fd < 0 ? -errno : fd;
			break;
		}
		end = strchr(p, '/');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n > NAME_MAX) {
			fd = -ENAMETOOLONG;
			break;
		}
		memcpy(seg, p, n);
		seg[n] = '\0';
		slash = p[n] == '/';
		for (p += n; *p == '/'; p++)
			;
		r = hf_walk_step(&w, seg, p, slash, flags, &fd);
		if (r <= 0) {
			if (r < 0)
				fd = r;
			break;
		}
		if (r == 2)
			p = w.buf[w.cur];
	}
	hf_walk_free(&w);
	return fd;
}

/*
 * 1 once openat2 answered ENOSYS (it will not come back), or when
 * COAPD_TEST_NO_OPENAT2 is set in the environment: the integration tests
 * force the walk with it.  Written by any worker, the same value each
 * time.
 */
static atomic_int hf_no_openat2 = -1;

static bool
hf_skip_openat2(void)
{
	int v = atomic_load_explicit(&hf_no_openat2, memory_order_relaxed);

	if (v < 0) {
		v = getenv("COAPD_TEST_NO_OPENAT2") != NULL;
		atomic_store_explicit(&hf_no_openat2, v,
		    memory_order_relaxed);
	}
	return v == 1;
}

/* Open path beneath dirfd; returns the fd or a negative errno. */
int
hf_open(int dirfd, const char *path, int flags)
{
	int fd;

	if (!hf_skip_openat2()) {
		fd = hf_openat2(dirfd, path, (uint64_t)flags);
		if (fd != -ENOSYS)
			return fd;
		atomic_store_explicit(&hf_no_openat2, 1,
		    memory_order_relaxed);
	}
	return hf_open_walk(dirfd, path, flags);
}

/*
 * Errors that mean "nothing to serve under that name".  EXDEV is
 * RESOLVE_BENEATH refusing an escape, ELOOP a magic link or a symlink loop.
 * EACCES and EPERM are 4.04 rather than 4.03 on purpose: a file the daemon
 * may not read is not part of the published tree, and a different code
 * would tell a scanner which names exist.  ENXIO is a socket or a FIFO.
 */
bool
hf_errno_not_found(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case EXDEV:
	case ELOOP:
	case ENAMETOOLONG:
	case EACCES:
	case EPERM:
	case ENXIO:
	case ENODEV:
		return true;
	default:
		return false;
	}
}

/*
 * Dotfiles (.git, .htpasswd, editor swap files) are neither listed nor
 * served: a tree copied onto a gateway often carries them by accident.
 */
bool
hf_hidden(const char *rest)
{
	const char *p;

	if (rest[0] == '.')
		return true;
	for (p = rest; (p = strchr(p, '/')) != NULL; p++)
		if (p[1] == '.')
			return true;
	return false;
}

/* --- the target of a write (PUT, DELETE) --- */

/* The target is refused with code (t->dirfd is closed): returns 0. */
static int
hf_target_refuse(struct hf_target *t, uint8_t code)
{
	if (t->dirfd >= 0)
		close(t->dirfd);
	t->dirfd = -1;
	t->refuse = code;
	return 0;
}

/*
 * Create the missing directories of rel (a relative path of directories)
 * beneath rootfd, one level at a time and each resolved beneath the one
 * before, so no symlink leads the creation out of the tree.
 */
static int
hf_mkdirs(int rootfd, const char *rel)
{
	char seg[NAME_MAX + 1];
	const char *p = rel, *end;
	int cur = rootfd, fd;
	size_t n;

	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, '/');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n > NAME_MAX) {
			fd = -ENAMETOOLONG;
			goto out;
		}
		memcpy(seg, p, n);
		seg[n] = '\0';
		p += n;
		fd = hf_open(cur, seg, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd == -ENOENT) {
			if (mkdirat(cur, seg, 0755) < 0 && errno != EEXIST) {
				fd = -errno;
				goto out;
			}
			fd = hf_open(cur, seg, O_PATH | O_DIRECTORY |
			    O_CLOEXEC);
		}
		if (fd < 0)
			goto out;
		if (cur != rootfd)
			close(cur);
		cur = fd;
	}
	fd = 0;
out:
	if (cur != rootfd)
		close(cur);
	return fd;
}

/* Resolve the target of a write (h_file_int.h). */
int
hf_target_open(const struct h_req *req, bool create, struct hf_target *t)
{
	const struct cfg_route *r = req->route;
	const char *rest = req->rest != NULL ? req->rest : "", *slash;
	int fd;

	memset(t, 0, sizeof(*t));
	t->dirfd = -1;
	if (!r->static_is_dir) {
		if (rest[0] != '\0' || r->static_name == NULL)
			return hf_target_refuse(t, COAP_NOT_FOUND);
		t->base = r->static_name;
		snprintf(t->parent, sizeof(t->parent), ".");
	} else {
		/* The directory itself is no file to write. */
		if (rest[0] == '\0')
			return hf_target_refuse(t, COAP_METHOD_NOT_ALLOWED);
		if (hf_hidden(rest) || strlen(rest) >= sizeof(t->parent))
			return hf_target_refuse(t, COAP_NOT_FOUND);
		if ((slash = strrchr(rest, '/')) == NULL) {
			snprintf(t->parent, sizeof(t->parent), ".");
			t->base = rest;
		} else {
			memcpy(t->parent, rest, (size_t)(slash - rest));
			t->parent[slash - rest] = '\0';
			t->base = slash + 1;
		}
		if (t->base[0] == '\0' || strlen(t->base) > NAME_MAX)
			return hf_target_refuse(t, COAP_NOT_FOUND);
	}
	fd = hf_open(r->static_dirfd, t->parent,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -ENOENT && create && r->create_dirs) {
		if ((fd = hf_mkdirs(r->static_dirfd, t->parent)) < 0 &&
		    !hf_errno_not_found(-fd))
			return fd;
		fd = hf_open(r->static_dirfd, t->parent,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd == -ENOENT && !create && r->create_dirs) {
		/* the caller admits the write before asking again to create */
		t->parent_missing = true;
		return 0;
	}
	if (fd < 0)
		return hf_errno_not_found(-fd) ? hf_target_refuse(t, COAP_NOT_FOUND) : fd;
	t->dirfd = fd;
	if (fstatat(fd, t->base, &t->st, AT_SYMLINK_NOFOLLOW) == 0)
		t->exists = true;
	else if (errno != ENOENT) {
		fd = -errno;
		close(t->dirfd);
		t->dirfd = -1;
		return fd;
	}
	/* Only regular files are replaced or deleted: no dirs, no links. */
	if (t->exists && !S_ISREG(t->st.st_mode))
		return hf_target_refuse(t, COAP_METHOD_NOT_ALLOWED);
	return 0;
}
