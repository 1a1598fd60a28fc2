/* Helpers shared by the benchmark programs: a monotonic clock, a double
 * comparator for medians, raw float64 dumps for the peers, and fatal
 * errors. Header-only; messages start with the program's name. */
#ifndef DCA_BENCH_UTIL_H
#define DCA_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dca/dca.h"

static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline void bench_dump(const char *prog, const char *dir, const char *name,
                              const double *x, int64_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(x, sizeof *x, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: cannot write %s\n", prog, path);
        exit(1);
    }
    fclose(f);
}

static inline void bench_die(const char *prog, const char *what, const dca_error *e)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, e->msg);
    exit(1);
}

#endif
