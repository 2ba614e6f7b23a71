/*
 * h_file_path.c - resolving the names clients send, for the static handler.
 *
 * Every name is resolved with openat2(2) beneath the route's directory
 * (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): "..", absolute paths and
 * symlinks that leave the tree fail in the kernel, so no user-space path
 * check has to be right (hf_open_walk() covers kernels without openat2).
 */
#include <sys/types.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
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
 * Without openat2 (kernels before 5.6, container seccomp profiles that
 * predate it, valgrind 3.19) walk the path one segment at a time with
 * O_NOFOLLOW: ".." is refused and no symlink is followed at all, so a
 * symlink inside the tree is 4.04 there.  Stricter than openat2, never
 * weaker.
 */
static int
hf_open_walk(int dirfd, const char *path, int flags)
{
	char seg[NAME_MAX + 1];
	const char *p = path, *end;
	int cur = dirfd, fd;
	size_t n;
	bool last;

	if (path[0] == '/')
		return -EXDEV;
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0') {
			/* "", "." or "a/": the directory reached so far. */
			fd = openat(cur, ".", flags);
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
		p += n;
		if (strcmp(seg, "..") == 0) {
			fd = -EXDEV;
			break;
		}
		if (strcmp(seg, ".") == 0)
			continue;
		for (end = p; *end == '/'; end++)
			;
		last = *end == '\0';
		fd = openat(cur, seg, last ? flags | O_NOFOLLOW :
		    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		fd = fd < 0 ? -errno : fd;
		if (fd < 0 || last)
			break;
		if (cur != dirfd)
			close(cur);
		cur = fd;
	}
	if (cur != dirfd)
		close(cur);
	return fd;
}

/* Open path beneath dirfd; returns the fd or a negative errno. */
int
hf_open(int dirfd, const char *path, int flags)
{
	int fd;

	fd = hf_openat2(dirfd, path, (uint64_t)flags);
	if (fd != -ENOSYS)
		return fd;
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
