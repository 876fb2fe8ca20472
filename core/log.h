/*
 * log: one line per event, key=value text or JSON, to stderr or a file.
 *
 * Messages are printf-style; by convention they read "event key=value ...".
 * log_warn appends strerror(errno). Never pass a secret, a token or a
 * DATABASE_URL to these functions.
 */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Sets the program name, threshold and format. path NULL means stderr. */
int log_init(const char *prog, enum log_level level, enum log_format format, const char *path);
/* Reopens the log file (SIGHUP); a no-op on stderr. */
int log_reopen(void);
/* Parses "error|warn|info|debug" / "text|json"; -1 when unknown. */
int log_level_parse(const char *s);
int log_format_parse(const char *s);
enum log_level log_get_level(void);
/* Routes libevent's own messages into this log. */
void log_route_libevent(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
