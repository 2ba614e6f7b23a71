/*
 * log.h - logging in the style of OpenBSD httpd: log_warn() appends
 * strerror(errno), log_warnx() does not; fatal()/fatalx() exit and are only
 * used before the first worker starts.  When stderr is journald's stream
 * (JOURNAL_STREAM names it) messages are sent with sd_journal_send() and
 * structured fields (PRIORITY=, CODE_FILE=, CODE_LINE=, COAP_*=);
 * otherwise they go to stderr as "coapd: message".  Thread-safe: every call formats into
 * a local buffer and writes once.
 */
#ifndef COAPD_LOG_H
#define COAPD_LOG_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERR = 3,	/* syslog priorities, so <N> prefixes match */
	LOG_LVL_WARN = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Set the threshold and the program name.  Call once before threads. */
void	log_init(enum log_level level, const char *progname);
/* Change the threshold (reload); atomic, any thread. */
void	log_set_level(enum log_level level);
/* True when messages of this level are written: check before formatting. */
bool	log_enabled(enum log_level level);
/* Parse "err", "warn", "notice", "info", "debug".  Returns 0 or -EINVAL. */
int	log_level_parse(const char *name, enum log_level *out);

/*
 * Each call records where it was made (CODE_FILE=, CODE_LINE=,
 * CODE_FUNC= under journald): the names below are macros over log_at().
 */
void	log_at(enum log_level level, int errnum, const char *file, int line,
	    const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 6, 7)));
void	fatal_at(int errnum, const char *file, int line, const char *func,
	    const char *fmt, ...)
	    __attribute__((format(printf, 5, 6), noreturn));

#define LOG_HERE	__FILE__, __LINE__, __func__
#define log_warn(...)	log_at(LOG_LVL_WARN, errno, LOG_HERE, __VA_ARGS__)
#define log_warnx(...)	log_at(LOG_LVL_WARN, 0, LOG_HERE, __VA_ARGS__)
#define log_notice(...)	log_at(LOG_LVL_NOTICE, 0, LOG_HERE, __VA_ARGS__)
#define log_info(...)	log_at(LOG_LVL_INFO, 0, LOG_HERE, __VA_ARGS__)
#define log_debug(...)	log_at(LOG_LVL_DEBUG, 0, LOG_HERE, __VA_ARGS__)
#define fatal(...)	fatal_at(errno, LOG_HERE, __VA_ARGS__)
#define fatalx(...)	fatal_at(0, LOG_HERE, __VA_ARGS__)

/*
 * A message with structured fields: fields is a NULL-terminated list of
 * "NAME=value" strings (PEER=, PSK_IDENTITY=, ROUTE=, CODE=, LATENCY_US=,
 * at most 8).  journald gets them as COAP_NAME=value (COAP_PEER= ...); on
 * stderr they are appended as " name=value".
 */
void	log_fields_at(enum log_level level, const char *const *fields,
	    const char *file, int line, const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 6, 7)));
#define log_fields(level, fields, ...)					\
	log_fields_at((level), (fields), LOG_HERE, __VA_ARGS__)

/*
 * A kind of message a peer can trigger (a failed hook, a silent backend, a
 * failing ring): at most burst (default LOG_LIMIT_BURST) lines per
 * LOG_LIMIT_WINDOW_NS per kind, the rest counted; the first line of a later window ends with
 * "(N similar suppressed)".  One struct per kind and per thread (usually
 * in the worker's state), zero-initialized; not thread-safe.
 */
struct log_limit {
	uint32_t	 burst;		/* lines per window; 0: LOG_LIMIT_BURST */
	uint64_t	 window_ns;	/* start of the current window */
	uint32_t	 lines;		/* written in it */
	uint64_t	 suppressed;	/* held back since the last line */
};

#define LOG_LIMIT_WINDOW_NS	(10 * 1000000000ULL)
#define LOG_LIMIT_BURST		5

/*
 * log_fields() through the limiter l at now_ns (CLOCK_MONOTONIC).  fields
 * may be NULL.  Returns true when the line was written.
 */
bool	log_limited(struct log_limit *l, uint64_t now_ns,
	    enum log_level level, const char *const *fields,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define log_debugf(...) do {						\
	if (log_enabled(LOG_LVL_DEBUG))					\
		log_debug(__VA_ARGS__);					\
} while (0)

#endif /* COAPD_LOG_H */
