/*
 * bench/labeling_bench.c — aggregation time and peak memory per method on synthetic answers.
 *
 * usage: labeling_bench ANSWERS [RUNS] [METHODS]
 *   ANSWERS  number of answers (e.g. 100000, 10000000)
 *   RUNS     runs per method; the median is printed (default 3)
 *   METHODS  comma-separated subset of mv,onecoin,hds,ds,auto (default all)
 *
 * The data are generated deterministically (splitmix64, fixed seed) from a known worker model:
 * 4 classes with skewed priors (.4 .3 .2 .1), 10 answers per item, workers drawn with a
 * Zipf-like load (a few prolific workers, a long tail), 70% diligent workers (accuracy
 * .65-.95, errors biased toward the next class), 20% careless (.4-.65), 10% spammers (a
 * random label). Each run happens in a forked child so its peak resident memory and CPU time
 * (getrusage of the child; the CPU time includes the child's accuracy count, which is small)
 * belong to that run alone; the engine's own arena bytes are printed too. Wall seconds time
 * labeling_aggregate() alone.
 * Accuracy against the generated truth is printed as a sanity figure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "core/arena.h"
#include "labeling/labeling.h"

#define K 4
#define PER_ITEM 10

static uint64_t rng_state = 0x5eed1abe11ull;

static uint64_t next64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(void)
{
    return (double)(next64() >> 11) / 9007199254740992.0;
}

struct data {
    struct labeling_answer *answers;
    size_t count;
    uint32_t items, workers;
    uint32_t *truth;
};

static void generate(size_t answers, struct data *d)
{
    static const double prior[K] = {0.4, 0.3, 0.2, 0.1};
    d->items = (uint32_t)(answers / PER_ITEM);
    d->workers = (uint32_t)(answers / 500 > 50 ? answers / 500 : 50);
    d->count = (size_t)d->items * PER_ITEM;
    d->answers = malloc(d->count * sizeof *d->answers);
    d->truth = malloc((size_t)d->items * sizeof *d->truth);
    double *acc = malloc(d->workers * sizeof *acc);
    uint8_t *kind = malloc(d->workers);
    for (uint32_t w = 0; w < d->workers; w++) {
        double u = uniform();
        kind[w] = u < 0.7 ? 0 : u < 0.9 ? 1 : 2;
        acc[w] = kind[w] == 0 ? 0.65 + 0.3 * uniform() : kind[w] == 1 ? 0.4 + 0.25 * uniform() : 0;
    }
    size_t n = 0;
    for (uint32_t i = 0; i < d->items; i++) {
        double u = uniform(), c = 0;
        uint32_t t = K - 1;
        for (uint32_t k = 0; k < K; k++) {
            c += prior[k];
            if (u < c) {
                t = k;
                break;
            }
        }
        d->truth[i] = t;
        uint32_t chosen[PER_ITEM] = {0};
        for (int j = 0; j < PER_ITEM; j++) {
            uint32_t w;
            int again;
            do { /* Zipf-like load: worker index ~ W * u^3, distinct within an item */
                double z = uniform();
                w = (uint32_t)(d->workers * z * z * z);
                if (w >= d->workers)
                    w = d->workers - 1;
                again = 0;
                for (int q = 0; q < j; q++)
                    again |= chosen[q] == w;
            } while (again);
            chosen[j] = w;
            uint32_t l;
            if (kind[w] == 2)
                l = (uint32_t)(next64() % K);
            else if (uniform() < acc[w])
                l = t;
            else if (uniform() < 0.6)
                l = (t + 1) % K; /* biased confusion: the next class */
            else
                l = (uint32_t)(next64() % K);
            d->answers[n++] = (struct labeling_answer){i, w, l};
        }
    }
    free(acc);
    free(kind);
}

struct sample {
    double seconds;
    double accuracy;
    double arena_mb;
    double rss_mb;
    double cpu_s;
    int method_used;
    unsigned iterations;
};

/* One run in a child process: time, accuracy and arena bytes come back through a pipe. */
static int run_child(const struct data *d, enum labeling_method m, struct sample *s)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct arena *arena = arena_create(0);
        struct labeling_options o;
        struct labeling_result r;
        struct lode_error err = {0};
        struct labeling_problem p = {d->answers, d->count, NULL, 0, d->items, d->workers, K};
        struct sample out = {0};
        labeling_options_init(&o);
        o.method = m;
        double t0 = bench_now_s();
        if (labeling_aggregate(&p, &o, arena, &r, &err) != LODE_OK) {
            fprintf(stderr, "aggregate: %s\n", err.message);
            _exit(1);
        }
        out.seconds = bench_now_s() - t0;
        size_t right = 0;
        for (uint32_t i = 0; i < d->items; i++)
            right += r.label[i] == d->truth[i];
        out.accuracy = 100.0 * (double)right / d->items;
        out.arena_mb = arena_used_bytes(arena) / 1048576.0;
        out.method_used = r.method;
        out.iterations = r.iterations;
        if (write(fd[1], &out, sizeof out) != (ssize_t)sizeof out)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], s, sizeof *s);
    close(fd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || got != (ssize_t)sizeof *s || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    s->rss_mb = ru.ru_maxrss / 1024.0;
    s->cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
    return 0;
}

static int cmp_sample(const void *a, const void *b)
{
    double x = ((const struct sample *)a)->seconds, y = ((const struct sample *)b)->seconds;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: labeling_bench ANSWERS [RUNS] [METHODS]\n");
        return 2;
    }
    size_t answers = strtoull(argv[1], NULL, 10);
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    const char *methods = argc > 3 ? argv[3] : "mv,onecoin,hds,ds,auto";
    struct data d;
    if (answers < 1000 || runs < 1 || runs > 15) {
        fprintf(stderr, "labeling_bench: ANSWERS >= 1000, RUNS 1..15\n");
        return 2;
    }
    double t0 = bench_now_s();
    generate(answers, &d);
    printf("labeling_bench: %zu answers, %u items, %u workers, %d labels, %d runs per method "
           "(generated in %.2f s)\n",
           d.count, d.items, d.workers, K, runs, bench_now_s() - t0);
    printf("%-8s %10s %10s %10s %10s %12s %10s %10s %s\n", "method", "median_s", "min_s",
           "max_s", "cpu_s", "peak_rss_MB", "arena_MB", "accuracy", "note");
    char list[128];
    snprintf(list, sizeof list, "%s", methods);
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        enum labeling_method m;
        struct sample s[15];
        if (!labeling_method_parse(name, &m)) {
            fprintf(stderr, "labeling_bench: unknown method %s\n", name);
            return 2;
        }
        for (int r = 0; r < runs; r++)
            if (run_child(&d, m, &s[r]) != 0) {
                fprintf(stderr, "labeling_bench: run failed\n");
                return 1;
            }
        qsort(s, (size_t)runs, sizeof s[0], cmp_sample);
        const struct sample *med = &s[runs / 2];
        printf("%-8s %10.3f %10.3f %10.3f %10.3f %12.1f %10.1f %9.2f%% %s%s, %u iterations\n",
               name, med->seconds, s[0].seconds, s[runs - 1].seconds, med->cpu_s, med->rss_mb,
               med->arena_mb,
               med->accuracy, m == LABELING_METHOD_AUTO ? "chose " : "",
               m == LABELING_METHOD_AUTO ? labeling_method_name(med->method_used) : "",
               med->iterations);
        fflush(stdout);
    }
    free(d.answers);
    free(d.truth);
    return 0;
}
