/*
 * core/log.h — structured logs: one JSON object per line on standard error.
 *
 * Every line has "ts" (RFC 3339, UTC, milliseconds), "level" and "event"; callers add fields as
 * key/value pairs. Lines are written with one write(2) each, so lines from several threads never
 * interleave. The level threshold is process-wide (set once at start).
 */
#ifndef LODE_CORE_LOG_H
#define LODE_CORE_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *name);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* The end of log_emit's key/value list (a typed null pointer, as variadic calls need). */
#define LOG_END ((const char *)0)

/*
 * Writes one line. After `event`, pairs of (const char *key, const char *value) end with LOG_END;
 * values are strings, escaped here; format numbers into a buffer first.
 *   log_emit(LOG_INFO, "listening", "addr", "127.0.0.1:8080", LOG_END);
 */
void log_emit(enum log_level level, const char *event, ...);

/* Writes one line with a printf-formatted "msg" field. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a line that the caller has already rendered as a complete JSON object (no newline). */
void log_raw_json(const char *json_object);

#endif
