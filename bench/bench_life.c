/* Life on exact states (issue 18, part 3): B3/S23 on a big torus of exact
 * 0/1 states, the bit-parallel engine (64 cells per word, cellbits.h)
 * against the soft engine it replaces for such runs (the outer-totalistic
 * kernel on float64 probabilities), both on the same threads.
 *
 * Before timing it checks, on --check-size for --check-steps steps, that the
 * two engines give the same states at every step; then the timed runs' final
 * states are checked against each other too (the soft engine runs
 * --soft-steps steps and the bit engine is checked after the same number).
 * Rates are cell-updates per second of stepping (no packing, no I/O);
 * medians of --reps.
 *
 *   bench_life [--size HxW] [--steps T] [--soft-steps T] [--threads K] [--reps R]
 *              [--rule B3/S23] [--check-size HxW] [--check-steps T]
 * Prints one line of JSON. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cellbits.h"
#include "dca/dca.h"
#include "hard.h"

static const char *prog = "bench_life";

typedef struct setup {
    dca_lattice lat;
    dca_nbhd *nb;
    dca_rule *rule;
    dca_hard *hard;
    dca_cellbits *cb;
    dca_sim *sim;
    double *x;
    int64_t n;
} setup;

static void make(setup *s, const char *size, const char *bs, int threads)
{
    dca_error e;
    memset(s, 0, sizeof *s);
    if (dca_lattice_parse(size, &s->lat, &e) ||
        dca_nbhd_parse("moore:1", s->lat.dims, &s->nb, &e) ||
        dca_rule_create_outer_totalistic(s->nb, &s->rule, &e) ||
        dca_rule_set_life(s->rule, bs, &e))
        bench_die(prog, size, &e);
    dca_sim_options o = {.threads = threads};
    if (dca_hard_create(&s->lat, s->rule, threads, &s->hard, &e) ||
        dca_cellbits_create(s->hard, threads, &s->cb, &e) ||
        dca_sim_create(&s->lat, s->rule, 1, &o, &s->sim, &e))
        bench_die(prog, "engines", &e);
    s->n = dca_lattice_cells(&s->lat);
    s->x = malloc((size_t)s->n * sizeof *s->x);
    if (!s->x || dca_init_generate("bernoulli:0.35", &s->lat, 2, DCA_MODE_BINARY, 1, 2026, s->x, &e))
        bench_die(prog, "init", &e);
}

static void destroy(setup *s)
{
    dca_sim_destroy(s->sim);
    dca_cellbits_destroy(s->cb);
    dca_hard_destroy(s->hard);
    dca_rule_destroy(s->rule);
    dca_nbhd_destroy(s->nb);
    free(s->x);
}

/* T soft steps from x (in place, with a scratch state); seconds. */
static double soft_run(setup *s, double *x, double *tmp, int64_t T)
{
    double t0 = bench_now();
    for (int64_t t = 0; t < T; t++) {
        dca_sim_step(s->sim, x, tmp);
        double *w = x;
        x = tmp;
        tmp = w;
    }
    double dt = bench_now() - t0;
    if (T % 2)
        memcpy(tmp, x, (size_t)s->n * sizeof *x); /* the result in the caller's x */
    return dt;
}

static void same(const setup *s, const double *a, const uint64_t *bits, double *scratch,
                 const char *what)
{
    dca_cellbits_unpack(s->cb, bits, scratch);
    if (memcmp(a, scratch, (size_t)s->n * sizeof *a) != 0) {
        fprintf(stderr, "%s: the engines differ (%s)\n", prog, what);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *size = "8192x8192", *check = "256x320", *bs = "B3/S23";
    int64_t T = 100, Tsoft = 4, Tcheck = 40, reps = 3;
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "%s: %s needs a value\n", prog, a);
            return 2;
        }
        if (!strcmp(a, "--size")) size = v;
        else if (!strcmp(a, "--steps")) T = atoll(v);
        else if (!strcmp(a, "--soft-steps")) Tsoft = atoll(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoll(v);
        else if (!strcmp(a, "--rule")) bs = v;
        else if (!strcmp(a, "--check-size")) check = v;
        else if (!strcmp(a, "--check-steps")) Tcheck = atoll(v);
        else {
            fprintf(stderr, "%s: unknown option %s\n", prog, a);
            return 2;
        }
        i++;
    }
    if (T < 1 || Tsoft < 1 || Tcheck < 1 || reps < 1 || threads < 1 || Tsoft > T) {
        fprintf(stderr, "%s: steps, reps and threads must be positive, soft-steps <= steps\n",
                prog);
        return 2;
    }
    omp_set_num_threads(threads);
    /* Every step of a small lattice, both engines. */
    setup c;
    make(&c, check, bs, threads);
    {
        double *x = malloc((size_t)c.n * 8), *tmp = malloc((size_t)c.n * 8),
               *scr = malloc((size_t)c.n * 8);
        uint64_t *w = malloc((size_t)dca_cellbits_words(c.cb) * 8);
        memcpy(x, c.x, (size_t)c.n * 8);
        if (!dca_cellbits_pack(c.cb, x, w)) {
            fprintf(stderr, "%s: the start is not exact\n", prog);
            return 1;
        }
        for (int64_t t = 0; t < Tcheck; t++) {
            soft_run(&c, x, tmp, 1);
            dca_cellbits_run(c.cb, w, 1);
            same(&c, x, w, scr, "check lattice");
        }
        free(x), free(tmp), free(scr), free(w);
    }
    destroy(&c);

    setup s;
    make(&s, size, bs, threads);
    const int64_t W = dca_cellbits_words(s.cb);
    double *x = malloc((size_t)s.n * 8), *tmp = malloc((size_t)s.n * 8);
    uint64_t *w = malloc((size_t)W * 8), *w0 = malloc((size_t)W * 8);
    if (!x || !tmp || !w || !w0 || !dca_cellbits_pack(s.cb, s.x, w0)) {
        fprintf(stderr, "%s: out of memory or an inexact start\n", prog);
        return 1;
    }
    double *tb = malloc((size_t)reps * 8), *ts = malloc((size_t)reps * 8);
    for (int64_t r = 0; r < reps; r++) {
        /* Alternate the engines; the soft one runs Tsoft steps and both are
         * compared there. */
        memcpy(x, s.x, (size_t)s.n * 8);
        ts[r] = soft_run(&s, x, tmp, Tsoft) / (double)Tsoft;
        memcpy(w, w0, (size_t)W * 8);
        dca_cellbits_run(s.cb, w, Tsoft);
        same(&s, x, w, tmp, "timed lattice");
        memcpy(w, w0, (size_t)W * 8);
        double t0 = bench_now();
        dca_cellbits_run(s.cb, w, T);
        tb[r] = (bench_now() - t0) / (double)T;
    }
    qsort(tb, (size_t)reps, sizeof *tb, bench_cmp);
    qsort(ts, (size_t)reps, sizeof *ts, bench_cmp);
    const double bits = (double)s.n / tb[reps / 2], soft = (double)s.n / ts[reps / 2];
    printf("{\"size\": \"%s\", \"rule\": \"%s\", \"threads\": %d, \"steps\": %lld, "
           "\"soft_steps\": %lld, \"reps\": %lld, \"gates\": %d, "
           "\"bits_cell_updates_per_second\": %.4g, \"soft_cell_updates_per_second\": %.4g, "
           "\"speedup\": %.1f, \"verified\": \"every step of %s x %lld steps, and the timed "
           "lattice after %lld steps, equal the soft engine's states\"}\n",
           size, bs, threads, (long long)T, (long long)Tsoft, (long long)reps,
           dca_cellbits_gates(s.cb), bits, soft, bits / soft, check, (long long)Tcheck, (long long)Tsoft);
    free(x), free(tmp), free(w), free(w0), free(tb), free(ts);
    destroy(&s);
    return 0;
}
