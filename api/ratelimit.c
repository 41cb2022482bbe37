/*
 * api/ratelimit.c — per-account token buckets for routes that cost CPU (POST /v1/detect).
 *
 * A fixed table of buckets keyed by account id (open addressing over RATE_SLOTS; when the
 * table is full the least recently refilled bucket is reused, which can only make a limit
 * more lenient for an idle account). One mutex: the critical section is a few arithmetic
 * operations. Limits are per process; with several replicas each applies its own.
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "api/internal.h"

#define RATE_SLOTS 4096
#define RATE_PROBES 8

struct bucket {
    int64_t account_id; /* 0 = free */
    double tokens;
    uint64_t refilled_ns;
};

static struct bucket buckets[RATE_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

bool ratelimit_take(int64_t account_id, double burst, double per_second, int *remaining_out,
                    int *retry_after_s_out)
{
    uint64_t now = monotonic_ns();
    size_t h = (size_t)((uint64_t)account_id * 0x9E3779B97F4A7C15u >> 52) % RATE_SLOTS;
    struct bucket *b = NULL, *oldest = NULL;
    bool ok;

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < RATE_PROBES; i++) {
        struct bucket *c = &buckets[(h + i) % RATE_SLOTS];
        if (c->account_id == account_id || c->account_id == 0) {
            b = c;
            break;
        }
        if (oldest == NULL || c->refilled_ns < oldest->refilled_ns)
            oldest = c;
    }
    if (b == NULL)
        b = oldest;
    if (b->account_id != account_id) {
        b->account_id = account_id;
        b->tokens = burst;
        b->refilled_ns = now;
    }
    b->tokens += (double)(now - b->refilled_ns) / 1e9 * per_second;
    if (b->tokens > burst)
        b->tokens = burst;
    b->refilled_ns = now;
    ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    *remaining_out = (int)b->tokens;
    *retry_after_s_out = ok ? 0 : (int)((1.0 - b->tokens) / per_second) + 1;
    pthread_mutex_unlock(&lock);
    return ok;
}
