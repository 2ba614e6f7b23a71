/*
 * ctl.c - the control socket's mechanics: listen, accept, read one line,
 * answer, close.  See ctl.h; the commands are daemon_ctl.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"
#include "daemon/ctl.h"

struct ctl_conn {
	int		 fd;		/* -1: free */
	uint64_t	 deadline_ns;
	char		 in[CTL_LINE_MAX];
	size_t		 inlen;
	struct mbuf	 out;		/* the answer, once the line is in */
	size_t		 sent;
	bool		 answered;
};

struct ctl {
	int		 fd;
	char		*path;
	ctl_cmd_fn	*fn;
	void		*arg;
	struct ctl_conn	 conn[CTL_CONNS];
};

/*
 * Something at path: a socket nobody answers on is a dead coapd's and is
 * removed; a live one, or another kind of file, is left alone.
 */
static int
clear_stale(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat	 st;
	int		 fd, r;

	if (lstat(sun->sun_path, &st) == -1)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control_socket %s: exists and is not "
		    "a socket", sun->sun_path);
		return -EEXIST;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "control_socket %s: in use by a running "
		    "coapd", sun->sun_path);
		return -EADDRINUSE;
	}
	if (unlink(sun->sun_path) == -1 && errno != ENOENT)
		return -errno;
	return 0;
}

static int
listen_at(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 fd, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control_socket %s: longer than %zu "
		    "bytes", path, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((r = clear_stale(&sun, err, errlen)) != 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	/* 0600 from the start: no moment where others may connect */
	old = umask(0177);
	r = bind(fd, (const struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r == -1 || chmod(path, 0600) == -1 || listen(fd, 16) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int
ctl_open(struct ctl **out, const char *path, ctl_cmd_fn *fn, void *arg,
    char *err, size_t errlen)
{
	struct ctl	*c;
	int		 fd, i;

	err[0] = '\0';
	if ((fd = listen_at(path, err, errlen)) < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "control_socket %s: %s", path,
			    strerror(-fd));
		return fd;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		free(c);
		close(fd);
		unlink(path);
		snprintf(err, errlen, "control_socket: out of memory");
		return -ENOMEM;
	}
	c->fd = fd;
	c->fn = fn;
	c->arg = arg;
	for (i = 0; i < CTL_CONNS; i++)
		c->conn[i].fd = -1;
	*out = c;
	return 0;
}

static void
conn_end(struct ctl_conn *k)
{
	close(k->fd);
	k->fd = -1;
	mbuf_free(&k->out);
}

void
ctl_close(struct ctl *c)
{
	int	 i;

	if (c == NULL)
		return;
	for (i = 0; i < CTL_CONNS; i++)
		if (c->conn[i].fd != -1)
			conn_end(&c->conn[i]);
	close(c->fd);
	unlink(c->path);
	free(c->path);
	free(c);
}

void
ctl_pollfds(const struct ctl *c, struct pollfd *pfd)
{
	bool	 room = false;
	int	 i;

	for (i = 0; i < CTL_CONNS; i++) {
		pfd[i + 1].fd = c->conn[i].fd;
		pfd[i + 1].events = c->conn[i].answered ? POLLOUT : POLLIN;
		pfd[i + 1].revents = 0;
		if (c->conn[i].fd == -1)
			room = true;
	}
	/* all busy: the next client waits in the backlog */
	pfd[0].fd = room ? c->fd : -1;
	pfd[0].events = POLLIN;
	pfd[0].revents = 0;
}

static void
conn_accept(struct ctl *c, uint64_t now_ns)
{
	struct ctl_conn	*k;
	int		 fd, i;

	for (i = 0; i < CTL_CONNS && c->conn[i].fd != -1; i++)
		;
	if (i == CTL_CONNS)
		return;
	fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return;
	k = &c->conn[i];
	memset(k, 0, sizeof(*k));
	k->fd = fd;
	k->deadline_ns = now_ns + (uint64_t)CTL_TIMEOUT_MS * NS_PER_MS;
}

/* The line is in (or can never be): make the answer. */
static void
conn_answer(struct ctl *c, struct ctl_conn *k, char *line)
{
	struct mbuf	 body = { 0 };
	bool		 ok;

	if (line == NULL) {
		ok = false;
		mbuf_printf(&body, "request longer than %d bytes\n",
		    CTL_LINE_MAX - 1);
	} else
		ok = c->fn(c->arg, line, &body);
	mbuf_printf(&k->out, "%s\n", ok ? "ok" : "error");
	if (body.len > 0)
		mbuf_printf(&k->out, "%s", body.p);
	mbuf_free(&body);
	if (k->out.oom) {
		mbuf_free(&k->out);
		mbuf_printf(&k->out, "error\nout of memory\n");
	}
	k->answered = true;
}

static void	conn_write(struct ctl_conn *k);

static void
conn_read(struct ctl *c, struct ctl_conn *k)
{
	char	*lf;
	ssize_t	 n;

	n = read(k->fd, k->in + k->inlen, sizeof(k->in) - 1 - k->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_end(k);	/* gone before its request was complete */
		return;
	}
	k->inlen += (size_t)n;
	k->in[k->inlen] = '\0';
	if ((lf = memchr(k->in, '\n', k->inlen)) != NULL) {
		*lf = '\0';
		if (lf > k->in && lf[-1] == '\r')
			lf[-1] = '\0';
		conn_answer(c, k, k->in);
	} else if (k->inlen == sizeof(k->in) - 1)
		conn_answer(c, k, NULL);
	else
		return;
	conn_write(k);		/* most answers fit the socket buffer */
}

static void
conn_write(struct ctl_conn *k)
{
	ssize_t	 n;

	n = send(k->fd, k->out.p + k->sent, k->out.len - k->sent,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || (k->sent += (size_t)n) == k->out.len)
		conn_end(k);
}

void
ctl_events(struct ctl *c, const struct pollfd *pfd, uint64_t now_ns)
{
	struct ctl_conn	*k;
	int		 i;

	for (i = 0; i < CTL_CONNS; i++) {
		k = &c->conn[i];
		if (k->fd == -1 || pfd[i + 1].fd != k->fd)
			continue;
		if (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR) &&
		    !k->answered)
			conn_read(c, k);
		else if (pfd[i + 1].revents & (POLLOUT | POLLHUP | POLLERR) &&
		    k->answered)
			conn_write(k);
		if (k->fd != -1 && now_ns >= k->deadline_ns)
			conn_end(k);
	}
	if (pfd[0].fd == c->fd && (pfd[0].revents & POLLIN))
		conn_accept(c, now_ns);
}

int
ctl_timeout_ms(const struct ctl *c, uint64_t now_ns)
{
	uint64_t	 next = UINT64_MAX;
	int		 i;

	for (i = 0; i < CTL_CONNS; i++)
		if (c->conn[i].fd != -1 && c->conn[i].deadline_ns < next)
			next = c->conn[i].deadline_ns;
	if (next == UINT64_MAX)
		return CLOCK_WAIT_FOREVER;
	return next <= now_ns ? 0 : (int)((next - now_ns) / NS_PER_MS) + 1;
}
