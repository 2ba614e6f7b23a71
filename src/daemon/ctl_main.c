/*
 * ctl_main.c - coapd-ctl(8): one command to coapd's control socket
 * (protocol in ctl.h), the answer on stdout, or on stderr with exit
 * status 1 when coapd says "error".  Exit status 2: usage, or coapd
 * cannot be reached.  Linked alone, not with libcoapd.a.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/ctl.h"

/* reload parses the whole configuration: allow it time */
#define CTLC_TIMEOUT_MS	60000

static void
usage(FILE *f)
{
	fprintf(f, "usage: coapd-ctl [-s SOCKET] COMMAND\n"
	    "  reload            load the configuration again; print every "
	    "error\n"
	    "  status            version, uptime, workers, routes, last "
	    "reload\n"
	    "  stats [--json | --prometheus]\n"
	    "                    the counters, summed over the workers\n"
	    "  notify /PATH      notify the observers of PATH now\n"
	    "  -s SOCKET         control socket (default "
	    "$RUNTIME_DIRECTORY/control, else /run/coapd/control)\n");
}

/* Connect to the control socket: its descriptor, or a negative errno. */
static int
reach(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "coapd-ctl: %s: name too long\n", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		e = -errno;
		fprintf(stderr, "coapd-ctl: %s: %s (is coapd running, and "
		    "is this its control_socket?)\n", path, strerror(-e));
		if (fd != -1)
			close(fd);
		return e;
	}
	return fd;
}

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Copy the answer from fd: its first line decides (ok / error), the rest
 * goes to stdout or stderr.  Returns the exit status.
 */
static int
relay(int fd)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	long long	 end = now_ms() + CTLC_TIMEOUT_MS, left;
	char		 buf[8192], head[8];
	size_t		 hl = 0;
	ssize_t		 n, i;
	int		 status = -1;

	for (;;) {
		left = end - now_ms();
		if (poll(&pfd, 1, left > 0 ? (int)left : 0) <= 0) {
			fprintf(stderr, "coapd-ctl: no answer within %d s\n",
			    CTLC_TIMEOUT_MS / 1000);
			return 2;
		}
		if ((n = read(fd, buf, sizeof(buf))) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; status < 0 && i < n; i++) {
			if (buf[i] != '\n') {
				if (hl < sizeof(head) - 1)
					head[hl++] = buf[i];
				continue;
			}
			head[hl] = '\0';
			status = strcmp(head, "ok") == 0 ? 0 : 1;
		}
		if (status >= 0 && i < n)
			fwrite(buf + i, 1, (size_t)(n - i),
			    status == 0 ? stdout : stderr);
	}
	if (status < 0) {
		fprintf(stderr, "coapd-ctl: connection closed without an "
		    "answer\n");
		return 2;
	}
	return fflush(stdout) == 0 ? status : 2;
}

/* The request line for argv, or NULL (usage). */
static int
request(int argc, char **argv, char *line, size_t len)
{
	const char	*cmd = argv[0];
	int		 n = -1;

	if (strcmp(cmd, "reload") == 0 && argc == 1)
		n = snprintf(line, len, "reload\n");
	else if (strcmp(cmd, "status") == 0 && argc == 1)
		n = snprintf(line, len, "status\n");
	else if (strcmp(cmd, "stats") == 0 && argc == 1)
		n = snprintf(line, len, "stats\n");
	else if (strcmp(cmd, "stats") == 0 && argc == 2 &&
	    strcmp(argv[1], "--json") == 0)
		n = snprintf(line, len, "stats json\n");
	else if (strcmp(cmd, "stats") == 0 && argc == 2 &&
	    strcmp(argv[1], "--prometheus") == 0)
		n = snprintf(line, len, "stats prometheus\n");
	else if (strcmp(cmd, "notify") == 0 && argc == 2 &&
	    argv[1][0] == '/' && strpbrk(argv[1], " \t\r\n") == NULL)
		n = snprintf(line, len, "notify %s\n", argv[1]);
	return n > 0 && (size_t)n < len ? n : -1;
}

int
main(int argc, char *argv[])
{
	const char	*sock = NULL, *rd = getenv("RUNTIME_DIRECTORY");
	char		 def[256], line[CTL_LINE_MAX];
	size_t		 off = 0;
	ssize_t		 w;
	int		 ch, fd, n, st;

	while ((ch = getopt(argc, argv, "+s:h")) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (n = request(argc, argv, line, sizeof(line))) < 0) {
		usage(stderr);
		return 2;
	}
	if (sock == NULL) {
		/* as coapd chooses it (daemon_ctl.c) */
		snprintf(def, sizeof(def), "%.*s/control",
		    rd != NULL && rd[0] != '\0' ? (int)strcspn(rd, ":") : 10,
		    rd != NULL && rd[0] != '\0' ? rd : "/run/coapd");
		sock = def;
	}
	if ((fd = reach(sock)) < 0)
		return 2;
	while (off < (size_t)n) {
		if ((w = send(fd, line + off, (size_t)n - off,
		    MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "coapd-ctl: %s: %s\n", sock,
			    strerror(errno));
			close(fd);
			return 2;
		}
		off += (size_t)w;
	}
	st = relay(fd);
	close(fd);
	return st;
}
