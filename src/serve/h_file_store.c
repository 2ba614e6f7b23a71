/*
 * h_file_store.c - storing an upload's body so that nothing is ever seen
 * half-written: a temporary file in the target's directory (unnamed with
 * O_TMPFILE where the file system can, else a dotfile), fsync'ed, then
 * renamed over the target or linked in without replacing.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/random.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/upload.h"
#include "serve/h_file_int.h"

/* ".coapd-up-" and 16 hex digits: a dotfile, so never served or listed. */
static void
hf_tmp_name(char name[UPLOAD_TMPNAME_MAX])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[8];
	uint64_t x;
	size_t i;

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
		x = hf_mix64((uint64_t)clock() ^ (uint64_t)getpid() ^
		    (uint64_t)(uintptr_t)name);
		memcpy(rnd, &x, sizeof(rnd));
	}
	memcpy(name, ".coapd-up-", 10);
	for (i = 0; i < sizeof(rnd); i++) {
		name[10 + 2 * i] = hex[rnd[i] >> 4];
		name[11 + 2 * i] = hex[rnd[i] & 15];
	}
	name[10 + 2 * sizeof(rnd)] = '\0';
}

/*
 * A new, empty temporary file in dirfd.  Unnamed (O_TMPFILE) where the
 * file system can: a crash then leaves nothing behind.  Elsewhere a named
 * dotfile, in name.
 */
int
hf_tmp_create(int dirfd, mode_t mode, char name[UPLOAD_TMPNAME_MAX])
{
	int fd, i;

	name[0] = '\0';
	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	for (i = 0; i < 8; i++) {
		hf_tmp_name(name);
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			break;
	}
	fd = -errno;
	name[0] = '\0';
	return fd;
}

/* Give an unnamed temporary file the name name; -EEXIST if taken. */
static int
hf_link_tmp(int fd, int dirfd, const char *name)
{
	char proc[64];

	if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc does not. */
	if (errno != ENOENT && errno != EPERM)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	return -errno;
}

/* Close u's descriptors and remove its temporary file, if named. */
void
hf_upload_discard(struct upload *u)
{
	if (u->fd >= 0)
		close(u->fd);
	if (u->tmpname[0] != '\0' && u->dirfd >= 0)
		(void)unlinkat(u->dirfd, u->tmpname, 0);
	if (u->dirfd >= 0)
		close(u->dirfd);
	u->fd = u->dirfd = -1;
	u->tmpname[0] = '\0';
}

int
hf_pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Publish u's temporary file as base: fsync it, then rename it over the
 * target, or for create-only link it in without replacing.  Returns 0,
 * -EEXIST when create-only found the name taken, or a negative errno.
 */
int
hf_commit(struct upload *u, const char *base)
{
	int rc;

	if (fsync(u->fd) < 0)
		return -errno;
	if ((rc = hf_publish(u, base)) < 0)
		return rc;
	/* The rename itself must survive a power cut too. */
	(void)fsync(u->dirfd);
	return 0;
}

int
hf_publish(struct upload *u, const char *base)
{
	char tmp[UPLOAD_TMPNAME_MAX];
	int rc = 0, i;

	if (u->tmpname[0] == '\0' && u->create_only) {
		if ((rc = hf_link_tmp(u->fd, u->dirfd, base)) < 0)
			return rc;
	} else if (u->tmpname[0] == '\0') {
		for (i = 0; i < 8; i++) {
			hf_tmp_name(tmp);
			if ((rc = hf_link_tmp(u->fd, u->dirfd, tmp)) != -EEXIST)
				break;
		}
		if (rc < 0)
			return rc;
		if (renameat(u->dirfd, tmp, u->dirfd, base) < 0) {
			rc = -errno;
			(void)unlinkat(u->dirfd, tmp, 0);
			return rc;
		}
	} else if (u->create_only) {
		if (renameat2(u->dirfd, u->tmpname, u->dirfd, base,
		    RENAME_NOREPLACE) < 0) {
			if (errno != EINVAL)
				return -errno;
			/* No RENAME_NOREPLACE here: link does not replace. */
			if (linkat(u->dirfd, u->tmpname, u->dirfd, base, 0) < 0)
				return -errno;
			(void)unlinkat(u->dirfd, u->tmpname, 0);
		}
		u->tmpname[0] = '\0';
	} else {
		if (renameat(u->dirfd, u->tmpname, u->dirfd, base) < 0)
			return -errno;
		u->tmpname[0] = '\0';
	}
	return 0;
}
