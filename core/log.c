/*
 * core/log.c — JSON-lines logging to standard error.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_BYTES_MAX 8192

static _Atomic int threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(enum log_level level)
{
    atomic_store(&threshold, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&threshold);
}

struct line {
    char buf[LINE_BYTES_MAX];
    size_t len;
    int truncated;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->len + n + 2 > sizeof l->buf) { /* keep room for "}\n" */
        l->truncated = 1;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_escaped(struct line *l, const char *s)
{
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(l, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            put(l, esc, 6);
        } else {
            put(l, (const char *)p, 1);
        }
    }
    put(l, "\"", 1);
}

static void begin(struct line *l, enum log_level level, const char *event)
{
    struct timespec ts;
    struct tm tm;
    char stamp[160];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(stamp, sizeof stamp, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000, level_names[level]);
    l->len = 0;
    l->truncated = 0;
    put(l, stamp, strlen(stamp));
    put(l, "\"event\":", 8);
    put_escaped(l, event);
}

static void finish(struct line *l)
{
    if (l->truncated)
        put(l, ",\"truncated\":true", 17);
    memcpy(l->buf + l->len, "}\n", 2);
    l->len += 2;
    ssize_t w = write(STDERR_FILENO, l->buf, l->len);
    (void)w; /* nowhere better to report a failed log write */
}

void log_emit(enum log_level level, const char *event, ...)
{
    struct line l;
    va_list ap;
    const char *key;

    if ((int)level < atomic_load(&threshold))
        return;
    begin(&l, level, event);
    va_start(ap, event);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        put(&l, ",", 1);
        put_escaped(&l, key);
        put(&l, ":", 1);
        put_escaped(&l, value != NULL ? value : "");
    }
    va_end(ap);
    finish(&l);
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
    struct line l;
    char msg[2048];
    va_list ap;

    if ((int)level < atomic_load(&threshold))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    begin(&l, level, event);
    put(&l, ",\"msg\":", 7);
    put_escaped(&l, msg);
    finish(&l);
}

void log_raw_json(const char *json_object)
{
    size_t n = strlen(json_object);
    char buf[LINE_BYTES_MAX + 1];

    if (n > LINE_BYTES_MAX)
        n = LINE_BYTES_MAX; /* an access line never gets this long; cut rather than split */
    memcpy(buf, json_object, n);
    buf[n] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, n + 1);
    (void)w;
}
