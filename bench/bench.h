/*
 * bench/bench.h — what every benchmark program needs: a monotonic clock in seconds and an
 * ascending comparison of doubles for qsort() (medians of repeated runs).
 */
#ifndef LODE_BENCH_BENCH_H
#define LODE_BENCH_BENCH_H

#include <time.h>

static inline double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
