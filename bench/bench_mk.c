/* W9's library calls, forward and adjoint apart (issue 14): one iteration of
 * the Malevanets-Kapral stability fit, dca_mk_run_final then
 * dca_mk_adjoint_final, on 1 thread and on K, the two alternating rep by rep
 * so that both see the same machine. bench/mk times the whole `dca train`
 * command against the PyTorch peer; this program splits the iteration and
 * reports the minimum and the median of each part, so that a change to the
 * threading can be judged on a machine whose cores come and go.
 *
 * The workload is bench/mk's: the reference pattern of configs/mk-e1.ini
 * (the CLI's striped uniform state run --pattern-steps steps with the
 * reference parameters 0.1, 0.4, 0.98, 0.1, 0.2 and seed 1), then the fit's
 * first iteration from it (parameters 0.3, 0.3, 0.5, 0.5, 0.5, model seed 1,
 * noise configuration 0), gamma = 0.005, N = 50, tau = 1.
 *
 * Verified before timing: on 1 and on K threads the final state, the tape,
 * the gradient and dL/dx0 are bit for bit the same, and the gradient equals
 * the all-states path's (dca_mk_run_tape + dca_mk_adjoint_tape).
 *
 * The machine's health is printed beside the figures, before and after the
 * timed reps: the cost of an idle K-thread OpenMP barrier (best of 5 loops
 * of 10,000), and the compute scaling of K threads, K times the time of
 * some vector multiply-adds on one thread over the time of K threads doing
 * as many each (best of 5; K when every thread has a core of its own). On
 * the 2-vCPU VMs of issue 14 the barrier is 0.22-0.28 us when both vCPUs
 * are there and about twice that in some of the spells when the second one
 * is not; the compute scaling also shows the spells when the host runs the
 * two vCPUs on the two hyperthreads of one core.
 *
 *   bench_mk [--size HxW] [--steps T] [--threads K] [--reps R] [--pattern-steps P]
 * Prints one line of JSON (times in ms). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "dca/dca.h"
#include "dca/slm.h"

static const char *prog = "bench_mk";

typedef struct result {
    double *x, *g0, grad[5];
    uint8_t *tape;
} result;

/* One iteration from x0 on the current thread count; the parts' seconds. */
static void iteration(const dca_mk *m, const dca_mk_params *p, int64_t T, const double *x0,
                      const double *ref, result *r, double *tf, double *ta)
{
    const int64_t C = dca_mk_cells(m);
    dca_error e;
    memcpy(r->x, x0, (size_t)(2 * C) * sizeof *r->x);
    const double t0 = bench_now();
    dca_mk_run_final(m, p, 0, 0, T, r->x, r->tape);
    const double t1 = bench_now();
    double *gT = r->g0 + 2 * C;
    for (int64_t c = 0; c < 2 * C; c++) /* dL/dx of the fit's MSE */
        gT[c] = (r->x[c] - ref[c]) / (double)C;
    memset(r->grad, 0, sizeof r->grad);
    const double t2 = bench_now();
    if (dca_mk_adjoint_final(m, p, 0, 0, T, r->x, r->tape, gT, r->g0, r->grad, &e))
        bench_die(prog, "adjoint", &e);
    const double t3 = bench_now();
    *tf = t1 - t0, *ta = t3 - t2;
}

static void alloc(result *r, int64_t C, int64_t T)
{
    r->x = malloc((size_t)(2 * C) * sizeof *r->x);
    r->g0 = malloc((size_t)(4 * C) * sizeof *r->g0);
    r->tape = malloc((size_t)(T * C));
    if (!r->x || !r->g0 || !r->tape) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(1);
    }
}

/* The cost of one idle barrier of K threads, in microseconds. */
static double idle_barrier_us(int K)
{
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        const double t0 = bench_now();
#pragma omp parallel num_threads(K)
        for (int i = 0; i < 10000; i++) {
#pragma omp barrier
        }
        const double t = (bench_now() - t0) / 10000;
        best = t < best ? t : best;
    }
    return 1e6 * best;
}

/* n rounds of 12 independent vector multiply-adds: enough to keep a core's
 * floating-point pipes busy, so that two threads on the two hyperthreads of
 * one core (which share them) run no faster than one. */
typedef double probe_v4 __attribute__((vector_size(32)));
static double fma_work(int64_t n)
{
    const probe_v4 m = {0.999, 0.999, 0.999, 0.999}, c = {1e-3, 1e-3, 1e-3, 1e-3};
#define PROBE12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define PROBE_INIT(k) probe_v4 a##k = {k, k + 1, k + 2, k + 3};
#define PROBE_STEP(k) a##k = a##k * m + c; __asm__ volatile("" : "+x"(a##k));
#define PROBE_SUM(k) + a##k[0] + a##k[1] + a##k[2] + a##k[3]
    PROBE12(PROBE_INIT)
    for (int64_t i = 0; i < n; i++) { /* in registers; the asm keeps every round */
        PROBE12(PROBE_STEP)
    }
    return 0 PROBE12(PROBE_SUM);
#undef PROBE12
#undef PROBE_INIT
#undef PROBE_STEP
#undef PROBE_SUM
}

/* Where the probe's results go, so that its work is kept. */
static volatile double probe_sink;

/* K x (the work on 1 thread) / (K times the work on K threads), best of 5:
 * K when the threads have cores of their own. */
static double compute_scaling(int K)
{
    const int64_t n = 400000;
    double t1 = 1e9, tk = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now();
        probe_sink = fma_work(n);
        const double a = bench_now() - t0;
        t0 = bench_now();
#pragma omp parallel num_threads(K)
        probe_sink = fma_work(n);
        const double b = bench_now() - t0;
        t1 = a < t1 ? a : t1, tk = b < tk ? b : tk;
    }
    return K * t1 / tk;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double minimum(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        b = v[i] < b ? v[i] : b;
    return b;
}

int main(int argc, char **argv)
{
    const char *size = "64x64";
    int64_t T = 500, P = 50000;
    int K = 2, reps = 20;
    for (int i = 1; i < argc; i++) {
        const bool more = i + 1 < argc;
        if (!strcmp(argv[i], "--size") && more)
            size = argv[++i];
        else if (!strcmp(argv[i], "--steps") && more)
            T = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && more)
            K = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && more)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pattern-steps") && more)
            P = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--size HxW] [--steps T] [--threads K] [--reps R] "
                            "[--pattern-steps P]\n", prog);
            return 2;
        }
    }
    if (T < 1 || K < 1 || reps < 1 || P < 0) {
        fprintf(stderr, "%s: --steps, --threads and --reps must be >= 1, --pattern-steps >= 0\n",
                prog);
        return 2;
    }
    dca_error e;
    dca_lattice lat;
    if (dca_lattice_parse(size, &lat, &e))
        bench_die(prog, size, &e);
    const int N = 50;
    const dca_ste id = {DCA_SURROGATE_IDENTITY, 0, false};
    const dca_mk_params pref = {0.1, 0.4, 0.98, 0.1, 0.2}, pfit = {0.3, 0.3, 0.5, 0.5, 0.5};
    dca_mk *mref, *m;
    if (dca_mk_create(&lat, N, 0.005, 1, &id, 1, &mref, &e) ||
        dca_mk_create(&lat, N, 0.005, 1, &id, 1, &m, &e) || dca_mk_check(m, &pfit, &e))
        bench_die(prog, "model", &e);
    const int64_t C = dca_mk_cells(m), H = lat.shape[0], W = lat.shape[1];
    double *ref = malloc((size_t)(2 * C) * sizeof *ref);
    if (!ref) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    for (int64_t c = 0; c < C; c++) { /* the CLI's striped uniform state (cmd_mk.c) */
        const int64_t j = c % W;
        ref[c] = (j >= W / 2 - 2 && j < W / 2 + 2) ? (double)(4 * N / 5) : (double)(N / 2);
        ref[C + c] = (double)(N / 2);
    }
    omp_set_num_threads(K);
    dca_mk_run_final(mref, &pref, 0, 0, P, ref, NULL);

    /* verification: 1 and K threads bit for bit, and the all-states path */
    result r1, rk;
    alloc(&r1, C, T), alloc(&rk, C, T);
    double tf, ta;
    omp_set_num_threads(1);
    iteration(m, &pfit, T, ref, ref, &r1, &tf, &ta);
    omp_set_num_threads(K);
    iteration(m, &pfit, T, ref, ref, &rk, &tf, &ta);
    if (memcmp(r1.x, rk.x, (size_t)(2 * C) * sizeof *r1.x) ||
        memcmp(r1.tape, rk.tape, (size_t)(T * C)) || memcmp(r1.grad, rk.grad, sizeof r1.grad) ||
        memcmp(r1.g0, rk.g0, (size_t)(2 * C) * sizeof *r1.g0)) {
        fprintf(stderr, "%s: 1 and %d threads differ\n", prog, K);
        return 1;
    }
    double *states = malloc((size_t)((T + 1) * 2 * C) * sizeof *states);
    uint8_t *tape = malloc((size_t)(T * C));
    double *gT = r1.g0 + 2 * C, grad[5] = {0};
    if (!states || !tape) {
        fprintf(stderr, "%s: out of memory (%lld states)\n", prog, (long long)(T + 1));
        return 1;
    }
    memcpy(states, ref, (size_t)(2 * C) * sizeof *states);
    dca_mk_run_tape(m, &pfit, 0, 0, T, states, tape);
    dca_mk_adjoint_tape(m, &pfit, 0, 0, T, states, tape, gT, NULL, grad);
    if (memcmp(grad, r1.grad, sizeof grad) ||
        memcmp(states + T * 2 * C, r1.x, (size_t)(2 * C) * sizeof *r1.x)) {
        fprintf(stderr, "%s: the final-state path differs from the all-states path\n", prog);
        return 1;
    }
    free(states), free(tape);

    const double bar0 = idle_barrier_us(K), cs0 = compute_scaling(K);
    double *t[4]; /* forward 1, adjoint 1, forward K, adjoint K */
    for (int k = 0; k < 4; k++)
        t[k] = malloc((size_t)reps * sizeof *t[k]);
    for (int i = 0; i < reps; i++) {
        omp_set_num_threads(1);
        iteration(m, &pfit, T, ref, ref, &r1, &t[0][i], &t[1][i]);
        omp_set_num_threads(K);
        iteration(m, &pfit, T, ref, ref, &rk, &t[2][i], &t[3][i]);
    }
    const double bar1 = idle_barrier_us(K), cs1 = compute_scaling(K);
    double mn[4], md[4];
    for (int k = 0; k < 4; k++)
        mn[k] = 1e3 * minimum(t[k], reps), md[k] = 1e3 * median(t[k], reps);
    printf("{\"size\": \"%lldx%lld\", \"steps\": %lld, \"threads\": %d, \"reps\": %d, "
           "\"forward_ms_1\": [%.3f, %.3f], \"adjoint_ms_1\": [%.3f, %.3f], "
           "\"forward_ms_k\": [%.3f, %.3f], \"adjoint_ms_k\": [%.3f, %.3f], "
           "\"scaling_min\": {\"forward\": %.3f, \"adjoint\": %.3f, \"iteration\": %.3f}, "
           "\"scaling_median\": {\"forward\": %.3f, \"adjoint\": %.3f, \"iteration\": %.3f}, "
           "\"cell_steps_per_s_k\": %.4g, \"idle_barrier_us\": [%.3f, %.3f], "
           "\"compute_scaling\": [%.3f, %.3f], "
           "\"note\": \"[min, median] of alternating reps; "
           "verified: 1 and K threads bit for bit, gradient = all-states path\"}\n",
           (long long)H, (long long)W, (long long)T, K, reps, mn[0], md[0], mn[1], md[1], mn[2],
           md[2], mn[3], md[3], mn[0] / mn[2], mn[1] / mn[3], (mn[0] + mn[1]) / (mn[2] + mn[3]),
           md[0] / md[2], md[1] / md[3], (md[0] + md[1]) / (md[2] + md[3]),
           2.0 * (double)(C * T) / ((mn[2] + mn[3]) * 1e-3), bar0, bar1, cs0, cs1);
    for (int k = 0; k < 4; k++)
        free(t[k]);
    free(r1.x), free(r1.g0), free(r1.tape), free(rk.x), free(rk.g0), free(rk.tape), free(ref);
    dca_mk_destroy(m), dca_mk_destroy(mref);
    return 0;
}
