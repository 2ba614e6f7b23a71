/*
 * cfg_files.c - the keys that name files: a route's static target and the
 * DTLS key file (dtls.psk_file).  Relative paths in the file are relative
 * to the file's directory, so that a config works wherever it is started
 * from; messages show where a relative path was looked for.  Both are
 * opened now, by the main thread, so that a bad path fails the load (or
 * the reload) instead of a request.
 */
#include <sys/stat.h>
#include <sys/un.h>


#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/cfg.h"
#include "adapt/cfg_int.h"
#include "adapt/log.h"
#include "base/net.h"
#include "proto/psk.h"

#define PSK_FILE_MAX	(64u << 20) /* largest psk_file read */

char *
ld_abs_path(struct ld *ld, const char *val)
{
	char	*p;

	if (val[0] == '/')
		return ld_strdup(ld, val);
	if (asprintf(&p, "%s/%s", strcmp(ld->c->dir, "/") == 0 ? "" :
	    ld->c->dir, val) == -1) {
		ld->nomem = true;
		return NULL;
	}
	return p;
}

/* Report a file error on val, showing where a relative path was looked. */
static void
path_err(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, const char *why)
{
	if (val[0] == '/' || ld->showdir == NULL)
		ld_err(ld, s, "%s: \"%s\": %s", key, val, why);
	else
		ld_err(ld, s, "%s: \"%s\" (%s/%s): %s", key, val, ld->showdir,
		    val, why);
}

/* psk.c reports a bad line of the key file: "PSKFILE:LINE: message". */
struct psk_ctx {
	struct ld	*ld;
	const char	*shown;
};

static void
psk_err(void *arg, unsigned line, const char *msg)
{
	struct psk_ctx	*p = arg;
	char		*text;

	if (asprintf(&text, "%s:%u: %s", p->shown, line, msg) == -1) {
		p->ld->nomem = true;
		return;
	}
	ld_add(p->ld, p->shown, line, text);
}

/*
 * Read and parse the key file at d->psk_file (val as written).  Its mode
 * is checked on the open descriptor; the text is wiped after parsing.
 */
static int
load_psk(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, struct cfg_dtls *d)
{
	struct psk_ctx	 pc;
	struct ld_src	*src;
	struct stat	 st;
	char		*text, why[128];
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, r;

	if ((fd = open(d->psk_file, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		path_err(ld, s, key, val, strerror(errno));
		if (fd != -1)
			close(fd);
		return -EINVAL;
	}
	if (!psk_mode_ok(st.st_mode)) {
		snprintf(why, sizeof(why), "readable by group or others (mode "
		    "%04o): make it 0600", (unsigned)(st.st_mode & 07777));
		path_err(ld, s, key, val, why);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > PSK_FILE_MAX) {
		path_err(ld, s, key, val, "larger than 64 MiB");
		close(fd);
		return -EINVAL;
	}
	if ((text = ld_alloc_fail(ld, malloc((size_t)st.st_size + 1))) ==
	    NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (len < (size_t)st.st_size &&
	    (n = read(fd, text + len, (size_t)st.st_size - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			path_err(ld, s, key, val, strerror(errno));
			explicit_bzero(text, len);
			free(text);
			close(fd);
			return -EINVAL;
		}
		len += (size_t)n;
	}
	close(fd);
	/* lines are shown relative to where the config was named from */
	if ((src = ld_source(ld, val)) == NULL) {
		explicit_bzero(text, len);
		free(text);
		return -ENOMEM;
	}
	pc.ld = ld;
	pc.shown = src->shown;
	r = psk_parse(text, len, &d->psk, psk_err, &pc);
	explicit_bzero(text, len);
	free(text);
	if (r == -ENOMEM)
		ld->nomem = true;
	return r;
}

/*
 * psk_file = "credential:NAME": the file systemd passes with
 * LoadCredential=NAME[:PATH], in $CREDENTIALS_DIRECTORY.  Without that
 * variable (coapd -t from a shell, coapd outside systemd) NAME is looked
 * for where systemd itself looks for credentials on disk, so the check
 * reads the same file the unit will get.  Returns the path, or NULL with
 * the error reported.
 */
#define CRED_PREFIX	"credential:"

static char *
cred_path(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *name)
{
	static const char *const store[] = {
		"/etc/credstore", "/run/credstore", "/usr/lib/credstore",
	};
	const char	*dir = getenv("CREDENTIALS_DIRECTORY");
	char		*p;
	size_t		 i;

	if (name[0] == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		ld_err(ld, s, "%s: \"%s%s\": a credential name is one file "
		    "name", key, CRED_PREFIX, name);
		return NULL;
	}
	for (i = 0; dir == NULL && i < sizeof(store) / sizeof(store[0]); i++) {
		if (asprintf(&p, "%s/%s", store[i], name) == -1)
			break;
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	if (dir == NULL) {
		ld_err(ld, s, "%s: credential \"%s\": not found (no "
		    "CREDENTIALS_DIRECTORY, nor in /etc/credstore, "
		    "/run/credstore, /usr/lib/credstore)", key, name);
		return NULL;
	}
	if (asprintf(&p, "%s/%s", dir, name) == -1) {
		ld->nomem = true;
		return NULL;
	}
	return p;
}

int
ld_conv_psk_file(struct ld *ld, const struct config_setting_t *s,
    const char *key, const char *val, void *base)
{
	struct cfg_dtls	*d = base;
	struct stat	 st;

	if (val[0] == '\0') {
		ld_err(ld, s, "%s: must not be empty", key);
		return -EINVAL;
	}
	if (strncmp(val, CRED_PREFIX, strlen(CRED_PREFIX)) == 0) {
		d->psk_file = cred_path(ld, s, key, val + strlen(CRED_PREFIX));
		if (d->psk_file == NULL) {
			/* kept: a dtls listener does not also complain */
			d->psk_file = ld_strdup(ld, val);
			return ld->nomem ? -ENOMEM : -EINVAL;
		}
		val = d->psk_file;	/* errors name the real file */
	} else if ((d->psk_file = ld_abs_path(ld, val)) == NULL)
		/* kept even when bad: a dtls listener does not also complain */
		return -ENOMEM;
	if (stat(d->psk_file, &st) == -1) {
		path_err(ld, s, key, val, strerror(errno));
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode)) {
		path_err(ld, s, key, val, "not a regular file");
		return -EINVAL;
	}
	return load_psk(ld, s, key, val, d);
}

int
ld_conv_static(struct ld *ld, const struct config_setting_t *s,
    const char *key, const char *val, void *base)
{
	struct cfg_route *r = base;
	struct stat	 st;
	char		*slash, *dir;
	int		 fd;

	r->kind = ROUTE_STATIC;
	if (val[0] == '\0') {
		ld_err(ld, s, "%s: must not be empty", key);
		return -EINVAL;
	}
	if ((r->static_path = ld_abs_path(ld, val)) == NULL)
		return -ENOMEM;
	/*
	 * Opened now, by the main thread: workers resolve request paths
	 * with openat() beneath this fd, so a later rename of the tree or
	 * a chroot-like sandbox does not change what a route serves.
	 */
	fd = open(r->static_path, O_PATH | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		path_err(ld, s, key, val, strerror(errno));
		if (fd != -1)
			close(fd);
		return -EINVAL;
	}
	if (S_ISDIR(st.st_mode)) {
		r->static_is_dir = true;
		r->static_dirfd = fd;
		return 0;
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		path_err(ld, s, key, val, "not a regular file or directory");
		return -EINVAL;
	}
	/* a file target: its parent directory and its name */
	slash = strrchr(r->static_path, '/');
	if ((r->static_name = ld_strdup(ld, slash + 1)) == NULL)
		return -ENOMEM;
	dir = ld_alloc_fail(ld, strndup(r->static_path,
	    slash == r->static_path ? 1 : (size_t)(slash - r->static_path)));
	if (dir == NULL)
		return -ENOMEM;
	r->static_dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (r->static_dirfd == -1) {
		path_err(ld, s, key, val, strerror(errno));
		return -EINVAL;
	}
	return 0;
}

/* hook = [ ... ]: argv; the first must be an executable file. */
int
ld_conv_hook(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_route *r = base;
	struct stat	 st;
	const char	*why = NULL;
	char		**v, *a;

	r->kind = ROUTE_HOOK;
	if (r->nhook == 0) {
		if ((a = ld_abs_path(ld, val)) == NULL)
			return -ENOMEM;
		if (stat(a, &st) != 0)
			why = strerror(errno);
		else if (!S_ISREG(st.st_mode))
			why = "not a regular file";
		else if (access(a, X_OK) != 0)
			why = "not executable";
		if (why != NULL) {
			path_err(ld, s, key, val, why);
			free(a);
			return -EINVAL;
		}
	} else if ((a = ld_strdup(ld, val)) == NULL)
		return -ENOMEM;
	v = ld_alloc_fail(ld, realloc(r->hook, (r->nhook + 2) * sizeof(*v)));
	if (v == NULL) {
		free(a);
		return -ENOMEM;
	}
	v[r->nhook++] = a;
	v[r->nhook] = NULL;
	r->hook = v;
	return 0;
}

/* hooks.tmp_dir: an existing directory, made absolute. */
int
ld_conv_tmp_dir(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_hooks *h = base;
	struct stat	 st = { .st_mode = S_IFDIR };
	char		*a;

	if ((a = ld_abs_path(ld, val)) == NULL)
		return -ENOMEM;
	if (stat(a, &st) != 0 || !S_ISDIR(st.st_mode)) {
		path_err(ld, s, key, val, S_ISDIR(st.st_mode) ?
		    strerror(errno) : "not a directory");
		free(a);
		return -EINVAL;
	}
	free(h->tmp_dir);
	h->tmp_dir = a;
	return 0;
}

/* "coap://HOST[:PORT]" with a numeric host, IPv6 in brackets. */
static int
backend_udp(struct cfg_route *r, const char *spec)
{
	char			 host[64], *end;
	const char		*h = spec + 7, *p;
	unsigned long		 port = 5683;
	size_t			 n;

	if (*h == '[') {
		if ((p = strchr(h, ']')) == NULL)
			return -EINVAL;
		n = (size_t)(p - h - 1);
		h++;
		p++;
	} else {
		p = strchr(h, ':');
		n = p != NULL ? (size_t)(p - h) : strlen(h);
		p = h + n;
	}
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	if (*p == ':') {
		port = strtoul(p + 1, &end, 10);
		if (end == p + 1 || *end != '\0' || port == 0 || port > 65535)
			return -EINVAL;
	} else if (*p != '\0')
		return -EINVAL;
	return net_addr_parse(host, (uint16_t)port, &r->backend_addr,
	    &r->backend_addrlen);
}

/*
 * backend = "/run/app/coap.sock" or "coap://127.0.0.1:5700".  A socket
 * that does not exist yet is only a warning: the service may start later.
 */
int
ld_conv_backend(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg_route	*r = base;
	struct sockaddr_un	*sun = (struct sockaddr_un *)&r->backend_addr;
	struct stat		 st;
	const char		*file;
	unsigned		 line;
	char			*a;

	r->kind = ROUTE_BACKEND;
	if ((r->backend = ld_strdup(ld, val)) == NULL)
		return -ENOMEM;
	if (strncmp(val, "coap://", 7) == 0) {
		if (backend_udp(r, val) != 0) {
			ld_err(ld, s, "%s: \"%s\": expected coap://ADDRESS:PORT "
			    "with a numeric address ([...] for IPv6)", key, val);
			return -EINVAL;
		}
		return 0;
	}
	if (strstr(val, "://") != NULL) {
		ld_err(ld, s, "%s: \"%s\": a Unix socket path or "
		    "coap://ADDRESS:PORT", key, val);
		return -EINVAL;
	}
	if ((a = ld_abs_path(ld, val)) == NULL)
		return -ENOMEM;
	if (strlen(a) >= sizeof(sun->sun_path)) {
		ld_err(ld, s, "%s: \"%s\": longer than a socket path may be",
		    key, val);
		free(a);
		return -EINVAL;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, a, strlen(a) + 1);
	r->backend_addrlen = (socklen_t)sizeof(*sun);
	if (stat(a, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		ld_pos(ld, s, &file, &line);
		log_warnx("%s:%u: warning: %s: \"%s\": %s; requests get 5.02 "
		    "until it exists", file, line, key, a, stat(a, &st) != 0 ?
		    "no such socket yet" : "not a socket");
	}
	free(a);
	return 0;
}

/* Absolute directory of path (symlinks in the directory resolved). */
char *
ld_dir_of(const char *path)
{
	char	*copy, *slash, *dir;

	if ((copy = strdup(path)) == NULL)
		return NULL;
	slash = strrchr(copy, '/');
	if (slash == NULL)
		strcpy(copy, ".");
	else if (slash == copy)
		copy[1] = '\0';
	else
		*slash = '\0';
	dir = realpath(copy, NULL);
	free(copy);
	return dir;
}

/*
 * libconfig only says "file I/O error": find out why ourselves.  An
 * unreadable file is not a configuration error: the errno goes back to the
 * caller, which reports it (as for -ENOMEM).
 */
int
ld_check_readable(const char *path)
{
	struct stat	 st;
	int		 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	rc = fstat(fd, &st) == -1 ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : 0;
	close(fd);
	return rc;
}

/*
 * The daemon's own files: a relative path is taken from the config
 * file's directory, like every other path; "" keeps the control socket
 * off.
 */
int
ld_conv_ctl_path(struct ld *ld, const struct config_setting_t *s,
    const char *key, const char *val, void *base)
{
	struct cfg	*c = base;

	free(c->control_socket);
	c->control_socket = val[0] == '\0' ? ld_strdup(ld, "") :
	    ld_abs_path(ld, val);
	if (c->control_socket == NULL)
		return -ENOMEM;
	/* struct sockaddr_un's sun_path: 107 bytes and a NUL */
	if (strlen(c->control_socket) > 107) {
		ld_err(ld, s, "%s: \"%s\" is %zu bytes from here, a socket "
		    "name holds 107: give a shorter path", key, val,
		    strlen(c->control_socket));
		return -EINVAL;
	}
	return 0;
}

int
ld_conv_metrics_file(struct ld *ld, const struct config_setting_t *s,
    const char *key, const char *val, void *base)
{
	struct cfg_metrics *m = base;

	(void)s;
	(void)key;
	free(m->file);
	m->file = ld_abs_path(ld, val);
	return m->file == NULL ? -ENOMEM : 0;
}
