/*
 * core/error.h — the project-wide error codes and the structured error record.
 *
 * Every fallible function returns an `enum lode_code` and, where it can say more, fills a
 * caller-owned `struct lode_error`. The record carries a client-facing message (safe to show:
 * it never contains server internals), an optional detail and hint, the name of the database
 * constraint that fired (set only by storage/), and a log-only detail that never leaves the
 * process. api/ maps each code to one HTTP status and problem type.
 *
 * Message grammar (PostgreSQL's): lower case, no final period, "could not ..." for failures.
 * Thread-safety: the functions here touch only the record they are given.
 */
#ifndef LODE_CORE_ERROR_H
#define LODE_CORE_ERROR_H

#include <stdbool.h>
#include <stddef.h>

enum lode_code {
    LODE_OK = 0,
    LODE_EINVAL,       /* malformed or semantically invalid input (400) */
    LODE_EUNAUTH,      /* no or bad credentials (401) */
    LODE_EFORBIDDEN,   /* authenticated but not allowed (403) */
    LODE_ENOTFOUND,    /* no such resource (404) */
    LODE_EMETHOD,      /* method not allowed on this resource (405) */
    LODE_ECONFLICT,    /* state conflict: duplicate, already done (409) */
    LODE_EGONE,        /* existed once, no longer (410) */
    LODE_EPRECOND,     /* precondition failed (412) */
    LODE_EREQTIMEOUT,  /* the client was too slow sending its request (408) */
    LODE_ETOOBIG,      /* body or item over a limit (413) */
    LODE_EURITOOLONG,  /* request target over a limit (414) */
    LODE_EMEDIATYPE,   /* unsupported content type (415) */
    LODE_EUNPROCESSABLE, /* well-formed but violates a rule (422) */
    LODE_ERATELIMIT,   /* too many requests (429) */
    LODE_EHEADERS,     /* header section over a limit (431) */
    LODE_EUNAVAIL,     /* temporarily unavailable, retry later (503) */
    LODE_ETIMEOUT,     /* took longer than its budget (503/504) */
    LODE_EVERIFY,      /* a signature or proof did not verify */
    LODE_EIO,          /* could not read or write a file or socket */
    LODE_ENOMEM,       /* out of memory or over a memory budget */
    LODE_EINTERNAL,    /* a bug or an unexpected failure (500) */
};

#define LODE_ERROR_MESSAGE_MAX 512
#define LODE_ERROR_NAME_MAX 64

struct lode_error {
    enum lode_code code;
    char message[LODE_ERROR_MESSAGE_MAX];    /* for the client */
    char detail[LODE_ERROR_MESSAGE_MAX];     /* optional, for the client */
    char hint[LODE_ERROR_MESSAGE_MAX];       /* optional, for the client */
    char constraint[LODE_ERROR_NAME_MAX];    /* database constraint name, if any */
    char log_detail[LODE_ERROR_MESSAGE_MAX]; /* never sent to a client */
    char pointer[LODE_ERROR_NAME_MAX];       /* JSON pointer or field at fault, if any */
    int retry_after_s;                       /* for LODE_EUNAVAIL / LODE_ERATELIMIT, 0 = unset */
};

/* Sets code and message (printf-style); clears the other fields. Returns `code`. err may be NULL. */
enum lode_code lode_error_set(struct lode_error *err, enum lode_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the field at fault (a JSON pointer or a parameter name). */
void lode_error_pointer(struct lode_error *err, const char *pointer);

/* Sets the optional client-facing detail / hint, and the log-only detail. */
void lode_error_detail(struct lode_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lode_error_hint(struct lode_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lode_error_log_detail(struct lode_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets the record to LODE_OK with empty fields. */
void lode_error_clear(struct lode_error *err);

/* A stable lower-case name of the code ("invalid", "not_found", ...). */
const char *lode_code_name(enum lode_code code);

#endif
