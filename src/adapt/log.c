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
	bool		 journal;	/* stderr is journald's stream */
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

void
log_init(enum log_level level, const char *progname)
{
	atomic_store(&logst.level, level);
	if (progname != NULL)
		logst.progname = progname;
	logst.journal = stderr_is_journal();
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

static void
log_emit(enum log_level level, const char *const *fields, const char *msg)
{
	char		 line[LOG_LINE_MAX + 256];
	size_t		 n = 0;
	int		 i;

	if (logst.journal) {
		struct iovec	 iov[LOG_FIELDS_MAX + 3];
		char		 prio[16], m[LOG_LINE_MAX + 16];
		int		 niov = 0;

		snprintf(prio, sizeof(prio), "PRIORITY=%d", (int)level);
		snprintf(m, sizeof(m), "MESSAGE=%s", msg);
		iov[niov].iov_base = m;
		iov[niov++].iov_len = strlen(m);
		iov[niov].iov_base = prio;
		iov[niov++].iov_len = strlen(prio);
		for (i = 0; fields != NULL && fields[i] != NULL &&
		    i < LOG_FIELDS_MAX; i++) {
			iov[niov].iov_base = (void *)fields[i];
			iov[niov++].iov_len = strlen(fields[i]);
		}
		if (sd_journal_sendv(iov, niov) == 0)
			return;
		n = (size_t)snprintf(line, sizeof(line), "<%d>", (int)level);
	} else
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
			key[k] = (char)(fields[i][k] | 0x20);
		key[k] = '\0';
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%s",
		    key, eq ? eq + 1 : fields[i]);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

static void log_vmsg(enum log_level, const char *const *, int, const char *,
    va_list) __attribute__((format(printf, 4, 0)));

static void
log_vmsg(enum log_level level, const char *const *fields, int errnum,
    const char *fmt, va_list ap)
{
	char	 msg[LOG_LINE_MAX];
	int	 n;

	if (!log_enabled(level))
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
		    strerror(errnum));
	log_emit(level, fields, msg);
}

#define LOG_BODY(level, errnum) do {					\
	va_list	 ap;							\
	va_start(ap, fmt);						\
	log_vmsg((level), NULL, (errnum), fmt, ap);			\
	va_end(ap);							\
} while (0)

void
log_warn(const char *fmt, ...)
{
	int	 e = errno;

	LOG_BODY(LOG_LVL_WARN, e);
	errno = e;
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARN, 0);
}

void
log_notice(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_NOTICE, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_INFO, 0);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_DEBUG, 0);
}

void
fatal(const char *fmt, ...)
{
	int	 e = errno;

	LOG_BODY(LOG_LVL_ERR, e);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERR, 0);
	exit(1);
}

void
log_fields(enum log_level level, const char *const *fields,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(level, fields, 0, fmt, ap);
	va_end(ap);
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
	log_emit(level, fields, msg);
	return true;
}
