/*
 * api/metrics.c — counters and histograms for /metrics, in Prometheus text format 0.0.4.
 *
 * Counters are atomics indexed by route (plus one row for requests that matched no route) and
 * by a fixed set of status codes, so recording never locks and never allocates.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

static const int tracked_status[] = {200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 410,
                                     412, 413, 414, 415, 422, 429, 431, 500, 503};
#define STATUS_SLOTS (sizeof tracked_status / sizeof tracked_status[0] + 1) /* + "other" */

static const double bucket_bounds_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1.0,   2.5,  5.0,  10.0};
#define BUCKETS (sizeof bucket_bounds_s / sizeof bucket_bounds_s[0])

struct route_metrics {
    _Atomic uint64_t by_status[STATUS_SLOTS];
    _Atomic uint64_t buckets[BUCKETS + 1]; /* last = +Inf */
    _Atomic uint64_t sum_us;
};

static struct route_metrics *rows; /* route_count + 1 (unmatched) */
static size_t row_count;
static _Atomic int64_t open_connections;
static _Atomic uint64_t accepted_connections;

void metrics_init(size_t route_count)
{
    free(rows);
    row_count = route_count + 1;
    rows = calloc(row_count, sizeof *rows);
    if (rows == NULL)
        abort();
}

void metrics_connection(int delta)
{
    atomic_fetch_add(&open_connections, delta);
    if (delta > 0)
        atomic_fetch_add(&accepted_connections, 1);
}

void metrics_record(int route_index, int status, uint64_t duration_ns)
{
    size_t row = route_index >= 0 && (size_t)route_index < row_count - 1 ? (size_t)route_index
                                                                           : row_count - 1;
    size_t slot = STATUS_SLOTS - 1;
    double s = (double)duration_ns / 1e9;
    size_t b = 0;

    if (rows == NULL)
        return;
    for (size_t i = 0; i < STATUS_SLOTS - 1; i++)
        if (tracked_status[i] == status) {
            slot = i;
            break;
        }
    while (b < BUCKETS && s > bucket_bounds_s[b])
        b++;
    atomic_fetch_add(&rows[row].by_status[slot], 1);
    atomic_fetch_add(&rows[row].buckets[b], 1);
    atomic_fetch_add(&rows[row].sum_us, duration_ns / 1000);
}

struct out {
    struct arena *arena;
    char *buf;
    size_t len, cap;
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct out *o, const char *fmt, ...)
{
    va_list ap;
    char line[512];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    if (o->len + (size_t)n + 1 > o->cap) {
        size_t cap = o->cap * 2 + (size_t)n + 1024;
        char *nb = arena_alloc(o->arena, cap);
        if (nb == NULL)
            return;
        if (o->len > 0)
            memcpy(nb, o->buf, o->len);
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, line, (size_t)n);
    o->len += (size_t)n;
    o->buf[o->len] = '\0';
}

char *metrics_render(struct arena *arena, struct server *server, size_t *len_out)
{
    struct out o = {arena, NULL, 0, 0};
    size_t count;
    const struct route *routes = router_routes(&count);
    struct db_pool_stats ps;

    emit(&o, "# HELP lode_http_requests_total HTTP requests answered, by route and status.\n"
             "# TYPE lode_http_requests_total counter\n");
    for (size_t r = 0; r < row_count; r++) {
        const char *method = r < count ? routes[r].method : "";
        const char *pattern = r < count ? routes[r].pattern : "unmatched";
        for (size_t s = 0; s < STATUS_SLOTS; s++) {
            uint64_t v = atomic_load(&rows[r].by_status[s]);
            if (v == 0)
                continue;
            if (s < STATUS_SLOTS - 1)
                emit(&o, "lode_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
                     method, pattern, tracked_status[s], (unsigned long long)v);
            else
                emit(&o, "lode_http_requests_total{method=\"%s\",route=\"%s\",status=\"other\"} %llu\n",
                     method, pattern, (unsigned long long)v);
        }
    }
    emit(&o, "# HELP lode_http_request_duration_seconds Time from first header to response.\n"
             "# TYPE lode_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < row_count; r++) {
        const char *method = r < count ? routes[r].method : "";
        const char *pattern = r < count ? routes[r].pattern : "unmatched";
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= BUCKETS; b++)
            cumulative += atomic_load(&rows[r].buckets[b]);
        if (cumulative == 0)
            continue;
        cumulative = 0;
        for (size_t b = 0; b < BUCKETS; b++) {
            cumulative += atomic_load(&rows[r].buckets[b]);
            emit(&o,
                 "lode_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} %llu\n",
                 method, pattern, bucket_bounds_s[b], (unsigned long long)cumulative);
        }
        cumulative += atomic_load(&rows[r].buckets[BUCKETS]);
        emit(&o,
             "lode_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %llu\n",
             method, pattern, (unsigned long long)cumulative);
        emit(&o, "lode_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
             method, pattern, (double)atomic_load(&rows[r].sum_us) / 1e6);
        emit(&o, "lode_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
             method, pattern, (unsigned long long)cumulative);
    }
    emit(&o, "# HELP lode_http_connections_open Client connections open now.\n"
             "# TYPE lode_http_connections_open gauge\nlode_http_connections_open %lld\n",
         (long long)atomic_load(&open_connections));
    emit(&o, "# HELP lode_http_connections_accepted_total Client connections accepted.\n"
             "# TYPE lode_http_connections_accepted_total counter\n"
             "lode_http_connections_accepted_total %llu\n",
         (unsigned long long)atomic_load(&accepted_connections));
    db_pool_stats(server->pool, &ps);
    emit(&o, "# HELP lode_db_pool_connections Database connections in the pool.\n"
             "# TYPE lode_db_pool_connections gauge\nlode_db_pool_connections %d\n", ps.size);
    emit(&o, "# HELP lode_db_pool_busy Database connections running a job now.\n"
             "# TYPE lode_db_pool_busy gauge\nlode_db_pool_busy %d\n", ps.busy);
    emit(&o, "# HELP lode_db_queue_depth Database jobs waiting for a connection.\n"
             "# TYPE lode_db_queue_depth gauge\nlode_db_queue_depth %d\n", ps.queued);
    emit(&o, "# HELP lode_db_queue_capacity Most database jobs that may wait.\n"
             "# TYPE lode_db_queue_capacity gauge\nlode_db_queue_capacity %d\n", ps.queue_max);
    emit(&o, "# HELP lode_db_jobs_submitted_total Database jobs accepted.\n"
             "# TYPE lode_db_jobs_submitted_total counter\nlode_db_jobs_submitted_total %llu\n",
         (unsigned long long)ps.submitted);
    emit(&o, "# HELP lode_db_jobs_rejected_total Database jobs refused because the queue was full.\n"
             "# TYPE lode_db_jobs_rejected_total counter\nlode_db_jobs_rejected_total %llu\n",
         (unsigned long long)ps.rejected);
    *len_out = o.len;
    return o.buf != NULL ? o.buf : "";
}
