/*
 * core/error.c — filling struct lode_error records.
 */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vfill(char *dst, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(dst, cap, fmt, ap);
    if (n < 0)
        dst[0] = '\0';
}

enum lode_code lode_error_set(struct lode_error *err, enum lode_code code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    lode_error_clear(err);
    err->code = code;
    va_start(ap, fmt);
    vfill(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

void lode_error_pointer(struct lode_error *err, const char *pointer)
{
    if (err != NULL)
        snprintf(err->pointer, sizeof err->pointer, "%s", pointer);
}

void lode_error_detail(struct lode_error *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vfill(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
}

void lode_error_hint(struct lode_error *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vfill(err->hint, sizeof err->hint, fmt, ap);
    va_end(ap);
}

void lode_error_log_detail(struct lode_error *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vfill(err->log_detail, sizeof err->log_detail, fmt, ap);
    va_end(ap);
}

void lode_error_clear(struct lode_error *err)
{
    if (err != NULL)
        memset(err, 0, sizeof *err);
}

const char *lode_code_name(enum lode_code code)
{
    switch (code) {
    case LODE_OK: return "ok";
    case LODE_EINVAL: return "invalid";
    case LODE_EUNAUTH: return "unauthenticated";
    case LODE_EFORBIDDEN: return "forbidden";
    case LODE_ENOTFOUND: return "not_found";
    case LODE_EMETHOD: return "method_not_allowed";
    case LODE_ECONFLICT: return "conflict";
    case LODE_EGONE: return "gone";
    case LODE_EPRECOND: return "precondition_failed";
    case LODE_EREQTIMEOUT: return "request_timeout";
    case LODE_ETOOBIG: return "too_large";
    case LODE_EURITOOLONG: return "uri_too_long";
    case LODE_EMEDIATYPE: return "unsupported_media_type";
    case LODE_EUNPROCESSABLE: return "unprocessable";
    case LODE_ERATELIMIT: return "rate_limited";
    case LODE_EHEADERS: return "headers_too_large";
    case LODE_EUNAVAIL: return "unavailable";
    case LODE_ETIMEOUT: return "timeout";
    case LODE_EVERIFY: return "verification_failed";
    case LODE_EIO: return "io";
    case LODE_ENOMEM: return "out_of_memory";
    case LODE_EINTERNAL: return "internal";
    }
    return "internal";
}
