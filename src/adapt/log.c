/*
 * log.c - stderr and journald logging (the only file besides sd.c that
 * includes <systemd/...>).
 *
 * When stderr is connected to journald (JOURNAL_STREAM names its device and
 * inode, systemd.exec(5)), messages go to journald natively with structured
 * fields; if that fails they are written to stderr with a "<N>" priority
 * prefix and no timestamp, which journald understands.  On a terminal lines
 * read "coapd: message".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "adapt/log.h"

#define LOG_LINE_MAX	1024
#define LOG_FIELDS_MAX	8

struct log_state {
	atomic_int	 level;
	bool		 stream;	/* stderr is journald's stream */
	bool		 journal;	/* ... and its socket is there */
	const char	*progname;
};

/*
 * The logger is the one piece of process-wide state outside struct coapd:
 * fatal() may be called from anywhere before workers start, and threading a
 * logger through every parser would buy nothing.  Only the level changes
 * after start-up, atomically.
 */
static struct log_state logst = {
	.level = LOG_LVL_INFO,
	.progname = "coapd",
};

static bool
stderr_is_journal(void)
{
	const char	*js = getenv("JOURNAL_STREAM");
	unsigned long	 dev, ino;
	struct stat	 st;

	if (js == NULL || sscanf(js, "%lu:%lu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) == -1)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

/*
 * sd_journal_send() drops messages silently when journald's socket is
 * missing: then the stream gets "<N>" lines instead.
 */
static bool
journal_socket_ok(void)
{
	return access("/run/systemd/journal/socket", W_OK) == 0;
}

void
log_init(enum log_level level, const char *progname)
{
	atomic_store(&logst.level, level);
	if (progname != NULL)
		logst.progname = progname;
	logst.stream = stderr_is_journal();
	logst.journal = logst.stream && journal_socket_ok();
}

void
log_set_level(enum log_level level)
{
	atomic_store(&logst.level, level);
}

bool
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&logst.level,
	    memory_order_relaxed);
}

int
log_level_parse(const char *name, enum log_level *out)
{
	static const struct {
		const char	*name;
		enum log_level	 level;
	} names[] = {
		{ "err", LOG_LVL_ERR }, { "error", LOG_LVL_ERR },
		{ "warn", LOG_LVL_WARN }, { "warning", LOG_LVL_WARN },
		{ "notice", LOG_LVL_NOTICE }, { "info", LOG_LVL_INFO },
		{ "debug", LOG_LVL_DEBUG },
	};
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	return -EINVAL;
}

/* Where a message comes from, for journald's CODE_* fields. */
struct log_where {
	const char	*file;
	int		 line;
	const char	*func;
};

/*
 * To journald: MESSAGE=, PRIORITY=, CODE_FILE/LINE/FUNC=, SYSLOG_IDENTIFIER=
 * and each field as COAP_NAME=value.  Returns sd_journal_sendv()'s result.
 */
static int
log_journal(enum log_level level, const struct log_where *at,
    const char *const *fields, const char *msg)
{
	struct iovec	 iov[LOG_FIELDS_MAX + 6];
	char		 m[LOG_LINE_MAX + 16], prio[16], file[160], line[32];
	char		 func[96], ident[48], fbuf[LOG_FIELDS_MAX][320];
	int		 niov = 0, i;

#define LOG_IOV(buf, ...) do {						\
	int n_ = snprintf((buf), sizeof(buf), __VA_ARGS__);		\
	iov[niov].iov_base = (buf);					\
	iov[niov++].iov_len = n_ < 0 ? 0 : (size_t)n_ < sizeof(buf) ?	\
	    (size_t)n_ : sizeof(buf) - 1;				\
} while (0)
	LOG_IOV(m, "MESSAGE=%s", msg);
	LOG_IOV(prio, "PRIORITY=%d", (int)level);
	LOG_IOV(ident, "SYSLOG_IDENTIFIER=%s", logst.progname);
	if (at != NULL) {
		LOG_IOV(file, "CODE_FILE=%s", at->file);
		LOG_IOV(line, "CODE_LINE=%d", at->line);
		LOG_IOV(func, "CODE_FUNC=%s", at->func);
	}
	for (i = 0; fields != NULL && fields[i] != NULL && i < LOG_FIELDS_MAX;
	    i++)
		LOG_IOV(fbuf[i], "COAP_%s", fields[i]);
#undef LOG_IOV
	return sd_journal_sendv(iov, niov);
}

static void
log_emit(enum log_level level, const struct log_where *at,
    const char *const *fields, const char *msg)
{
	char		 line[LOG_LINE_MAX + 256];
	size_t		 n = 0;
	int		 i;

	if (logst.journal && log_journal(level, at, fields, msg) == 0)
		return;
	if (logst.stream)
		/* journald's stream reads the priority from the prefix */
		n = (size_t)snprintf(line, sizeof(line), "<%d>", (int)level);
	else
		n = (size_t)snprintf(line, sizeof(line), "%s: ",
		    logst.progname);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%s", msg);
	for (i = 0; fields != NULL && fields[i] != NULL && n < sizeof(line);
	    i++) {
		const char	*eq = strchr(fields[i], '=');
		int		 klen = eq ? (int)(eq - fields[i]) : 0;
		char		 key[32];
		int		 k;

		for (k = 0; k < klen && k < (int)sizeof(key) - 1; k++)
			key[k] = fields[i][k] >= 'A' && fields[i][k] <= 'Z' ?
			    (char)(fields[i][k] | 0x20) : fields[i][k];
		key[k] = '\0';
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%s",
		    key, eq ? eq + 1 : fields[i]);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

static void log_vmsg(enum log_level, const struct log_where *,
    const char *const *, int, const char *, va_list)
    __attribute__((format(printf, 5, 0)));

static void
log_vmsg(enum log_level level, const struct log_where *at,
    const char *const *fields, int errnum, const char *fmt, va_list ap)
{
	char	 msg[LOG_LINE_MAX];
	int	 n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
		    strerror(errnum));
	log_emit(level, at, fields, msg);
}

void
log_at(enum log_level level, int errnum, const char *file, int line,
    const char *func, const char *fmt, ...)
{
	struct log_where	 at = { file, line, func };
	va_list			 ap;
	int			 e = errno;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, &at, NULL, errnum, fmt, ap);
	va_end(ap);
	errno = e;
}

void
fatal_at(int errnum, const char *file, int line, const char *func,
    const char *fmt, ...)
{
	struct log_where	 at = { file, line, func };
	va_list			 ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, &at, NULL, errnum, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_fields_at(enum log_level level, const char *const *fields,
    const char *file, int line, const char *func, const char *fmt, ...)
{
	struct log_where	 at = { file, line, func };
	va_list			 ap;
	int			 e = errno;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, &at, fields, 0, fmt, ap);
	va_end(ap);
	errno = e;
}

bool
log_limited(struct log_limit *l, uint64_t now_ns, enum log_level level,
    const char *const *fields, const char *fmt, ...)
{
	char		 msg[LOG_LINE_MAX];
	va_list		 ap;
	size_t		 n;
	int		 r;

	if (!log_enabled(level))
		return false;
	if (l->window_ns == 0 || now_ns - l->window_ns >= LOG_LIMIT_WINDOW_NS) {
		l->window_ns = now_ns != 0 ? now_ns : 1;
		l->lines = 0;
	}
	if (l->lines >= (l->burst != 0 ? l->burst : LOG_LIMIT_BURST)) {
		l->suppressed++;
		return false;
	}
	l->lines++;
	va_start(ap, fmt);
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r < 0)
		return false;
	n = (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1;
	if (l->suppressed > 0 && n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, " (%llu similar suppressed)",
		    (unsigned long long)l->suppressed);
	l->suppressed = 0;
	log_emit(level, NULL, fields, msg);
	return true;
}
