/* log: one line per event, key=value text or JSON, to stderr or a file (see log.h). */
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#define LOG_LINE_MAX 2048

static const char *log_prog = "berth";
static enum log_level log_level = LOG_LEVEL_INFO;
static enum log_format log_format = LOG_FORMAT_TEXT;
static char *log_path;
static FILE *log_fp;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int
log_init(const char *prog, enum log_level level, enum log_format format, const char *path)
{
	FILE *fp = NULL;

	if (path != NULL && (fp = fopen(path, "a")) == NULL)
		return -errno;
	if (log_fp != NULL && log_fp != stderr)
		fclose(log_fp);
	free(log_path);
	log_path = path != NULL ? strdup(path) : NULL;
	log_fp = fp != NULL ? fp : stderr;
	log_prog = prog;
	log_level = level;
	log_format = format;
	return 0;
}

int
log_reopen(void)
{
	FILE *fp;

	if (log_path == NULL)
		return 0;
	if ((fp = fopen(log_path, "a")) == NULL)
		return -errno;
	if (log_fp != NULL && log_fp != stderr)
		fclose(log_fp);
	log_fp = fp;
	return 0;
}

int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

int
log_format_parse(const char *s)
{
	if (strcmp(s, "text") == 0)
		return LOG_FORMAT_TEXT;
	if (strcmp(s, "json") == 0)
		return LOG_FORMAT_JSON;
	return -1;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

/* Escapes s as the inside of a JSON string into out (always terminated). */
static void
json_escape(char *out, size_t outlen, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

static void
log_emit(enum log_level level, const char *fmt, va_list ap, const char *suffix)
{
	char msg[LOG_LINE_MAX], esc[LOG_LINE_MAX * 2], ts[64];
	struct timespec now;
	struct tm tm;
	FILE *fp = log_fp != NULL ? log_fp : stderr;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (suffix != NULL) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, " error=\"%s\"", suffix);
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (long)(now.tv_nsec / 1000000) % 1000);
	if (log_format == LOG_FORMAT_JSON) {
		json_escape(esc, sizeof(esc), msg);
		fprintf(fp, "{\"ts\":\"%s\",\"prog\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts,
		        log_prog, level_names[level], esc);
	} else {
		fprintf(fp, "ts=%s prog=%s level=%s %s\n", ts, log_prog, level_names[level], msg);
	}
	fflush(fp);
}

#define LOG_FN(name, level, with_errno)                                                            \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		int saved = errno;                                                                 \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_emit(level, fmt, ap, with_errno ? strerror(saved) : NULL);                     \
		va_end(ap);                                                                        \
		errno = saved;                                                                     \
	}

LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

static void
libevent_log_cb(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent msg=\"%s\"", msg);
	else
		log_debug("libevent msg=\"%s\"", msg);
}

void
log_route_libevent(void)
{
	event_set_log_callback(libevent_log_cb);
}
