/*
 * core/limits.h — named maxima for every input lode accepts.
 *
 * Each limit is the one place its number is written; modules and the router refer to these
 * names, the docs quote them, and tests probe one past each. Changing a limit is a change to
 * the public contract (docs/limits.md).
 */
#ifndef LODE_CORE_LIMITS_H
#define LODE_CORE_LIMITS_H

/* HTTP */
#define LODE_CONNECTIONS_MAX 4096          /* open connections per process */
#define LODE_STREAMS_MAX 100               /* concurrent HTTP/2 streams per connection */
#define LODE_HEADER_BYTES_MAX 16384        /* request header section, both protocols */
#define LODE_HEADER_COUNT_MAX 100          /* request header fields */
#define LODE_TARGET_BYTES_MAX 4096         /* request target (path and query) */
#define LODE_BODY_BYTES_DEFAULT 65536      /* default per-route body limit */
#define LODE_BODY_BYTES_MAX (64u << 20)    /* largest body any route may accept */
#define LODE_REQUEST_ARENA_BYTES_MAX (128u << 20) /* memory one request may use */
#define LODE_IDLE_TIMEOUT_MS 60000         /* idle connection is closed */
#define LODE_HEADER_TIMEOUT_MS 10000       /* a request's headers must arrive within this */
#define LODE_REQUEST_TIMEOUT_MS 30000      /* default per-route deadline */

/* JSON bodies */
#define LODE_JSON_DEPTH_MAX 32             /* nesting of arrays and objects */
#define LODE_JSON_STRING_BYTES_MAX (1u << 20)

/* Ledger */
#define LODE_ENTRY_BYTES_MAX 65535         /* one canonical JSON ledger entry */

/* Accounts */
#define LODE_NAME_BYTES_MAX 200            /* display names, labels of keys and tokens */

#endif
