/*
 * ctl.h - the local control socket (coapd-ctl(8)), served by the main
 * thread.  A Unix stream socket, mode 0600; one command per connection:
 *
 *	request:  COMMAND [ARGUMENT] LF		(at most CTL_LINE_MAX bytes)
 *	response: "ok" LF or "error" LF, then the body, then the server
 *		  closes the connection.
 *
 * Every descriptor is non-blocking and every connection has a deadline,
 * so a slow or stuck client never holds up the main loop.
 */
#ifndef COAPD_CTL_H
#define COAPD_CTL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/mexport.h"

#define CTL_LINE_MAX	1024
#define CTL_CONNS	8		/* served at once; more wait in the
					   listen backlog */
#define CTL_TIMEOUT_MS	10000		/* a connection's whole life */
#define CTL_POLLFDS	(CTL_CONNS + 1)

struct ctl;

/*
 * Run the command line (no LF): append the body to out and return true
 * for "ok", false for "error".
 */
typedef bool ctl_cmd_fn(void *arg, char *line, struct mbuf *out);

/*
 * Listen on path: a stale socket left by a dead coapd is replaced, a live
 * one (another coapd answers) or any other file is not.  Returns 0 or a
 * negative errno (-EADDRINUSE: someone answers there) with a sentence in
 * err.
 */
int	ctl_open(struct ctl **out, const char *path, ctl_cmd_fn *fn, void *arg,
	    char *err, size_t errlen);

/* Close every connection, remove the socket file, free. */
void	ctl_close(struct ctl *c);

/* Fill pfd[0..CTL_POLLFDS) (unused entries get fd -1). */
void	ctl_pollfds(const struct ctl *c, struct pollfd *pfd);

/* Act on poll()'s answer in pfd (as filled above) at now_ns. */
void	ctl_events(struct ctl *c, const struct pollfd *pfd, uint64_t now_ns);

/* Milliseconds until the next connection deadline, or CLOCK_WAIT_FOREVER. */
int	ctl_timeout_ms(const struct ctl *c, uint64_t now_ns);

#endif /* COAPD_CTL_H */
