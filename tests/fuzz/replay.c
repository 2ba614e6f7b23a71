/*
 * replay.c - run a libFuzzer target over a corpus directory without
 * libFuzzer, so `make check` replays every stored input with plain cc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input being replayed, named by the handler when the target aborts. */
static const char *volatile current;

static void
on_abort(int sig)
{
	const char	*name = current;

	if (name != NULL) {
		(void)!write(STDERR_FILENO, "fuzz replay: failed on ", 23);
		(void)!write(STDERR_FILENO, name, strlen(name));
		(void)!write(STDERR_FILENO, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Read all of fd into *buf (malloc'd).  Returns 0 or a negative errno. */
static int
read_all(int fd, size_t size, uint8_t **buf)
{
	uint8_t		*b;
	size_t		 off = 0;
	ssize_t		 n;

	/* One spare byte so an empty file still gets a buffer. */
	b = malloc(size + 1);
	if (b == NULL)
		return -ENOMEM;
	while (off < size) {
		n = read(fd, b + off, size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(b);
			return n < 0 ? -errno : -EIO;
		}
		off += (size_t)n;
	}
	*buf = b;
	return 0;
}

int
main(int argc, char **argv)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	uint8_t		*buf = NULL;
	unsigned	 n = 0;
	int		 dfd, fd, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s corpus-dir\n", argv[0]);
		return 2;
	}
	d = opendir(argv[1]);
	if (d == NULL) {
		fprintf(stderr, "fuzz replay: %s: %s\n", argv[1],
		    strerror(errno));
		return 1;
	}
	dfd = dirfd(d);
	signal(SIGABRT, on_abort);
	signal(SIGSEGV, on_abort);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "fuzz replay: %s/%s: %s\n", argv[1],
			    de->d_name, strerror(errno));
			closedir(d);
			return 1;
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		rc = read_all(fd, (size_t)st.st_size, &buf);
		close(fd);
		if (rc != 0) {
			fprintf(stderr, "fuzz replay: %s/%s: %s\n", argv[1],
			    de->d_name, strerror(-rc));
			closedir(d);
			return 1;
		}
		current = de->d_name;
		LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
		current = NULL;
		free(buf);
		n++;
	}
	closedir(d);
	if (n == 0) {
		fprintf(stderr, "fuzz replay: %s: no inputs\n", argv[1]);
		return 1;
	}
	printf("fuzz replay: %u inputs OK\n", n);
	return 0;
}
