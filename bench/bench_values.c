/* Benchmarks of 1D binary workloads (DESIGN.md §7):
 *   --mode values   W1: cell-updates per second of dca_sim_step;
 *   --mode reverse  W2: values + reverse-mode gradient + cross-entropy loss
 *                   (identity target), cell-updates of the forward pass per
 *                   second of the whole loss-and-gradient evaluation.
 *
 * Before timing it verifies the BLAS kernels against their reference twins
 * on the same input (values: 3 steps of the full batch; reverse: the whole
 * loss gradient on 2 configurations, 6 steps), and it writes the input, the
 * rule and the results as raw float64 files for the peers to check against.
 * With --precision float32 the tolerances are those of single precision,
 * and the whole timed workload is also run in float64 to report the
 * float32 error at full length (f64_max_diff: states after T steps, or the
 * gradient relative to its largest entry).
 *
 * The same program runs W4 (2D, full table): --size 256x256 --nbhd moore:1.
 *
 *   bench_values [--mode values|reverse] [--n N] [--batch B] [--steps T]
 *                [--radius R] [--size HxW --nbhd SPEC] [--threads K] [--reps R]
 *                [--out DIR]
 *                [--precision float64|float32] [--kernel auto|blas|fused] [--tile CELLS]
 *                [--tune 1] (kernel and tile by dca_sim_tune: the "tuned" field lists
 *                the candidates and their step times)
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/blas_core.h"
#include "bench_util.h"
#include "dca/dca.h"
#include "experiment.h"
#include "dca/gradient.h"
#include "dca/task.h"

static dca_precision prec = DCA_FLOAT64;
static dca_kernel kern = DCA_KERNEL_AUTO;
static int64_t tile = 0; /* --tile: cells per work unit of the timed plan (0: the plan's choice) */
/* --tune 1: kernel and tile chosen by dca_sim_tune for the timed shape */
static char tuned[512] = "";
static double tune_seconds = 0;

/* Loss and gradient with kernel k (precision pr) for the first B configurations. */
static double loss_grad(const dca_lattice *lat, dca_rule *rule, const double *x0, int64_t B,
                        int64_t T, dca_kernel k, dca_precision pr, int threads, double *grad,
                        int64_t *state_bytes, int64_t reps, double *median)
{
    dca_error e;
    dca_sim *sim;
    dca_sim_options o = {.kernel = k, .threads = threads, .gradients = DCA_GRAD_REVERSE,
                         .precision = pr, .tile_cells = tile};
    if (dca_sim_create(lat, rule, B, &o, &sim, &e))
        bench_die("bench", "plan", &e);
    dca_adjoint *adj;
    if (dca_adjoint_create(sim, B, T, &adj, &e))
        bench_die("bench", "adjoint", &e);
    int64_t len = B * dca_lattice_cells(lat);
    double *phi = malloc((size_t)len * 8);
    dca_task_shape sh = {lat, 2, DCA_MODE_BINARY, B, NULL, NULL, NULL, 0};
    dca_target_lookup("identity")(&sh, x0, phi, NULL);
    double E = 0;
    if (reps < 1)
        reps = 1;
    double *times = malloc((size_t)reps * sizeof *times);
    for (int64_t r = 0; r < reps; r++) {
        double t0 = bench_now();
        dca_adjoint_run(adj, x0, phi, dca_loss_lookup("cross-entropy"), &sh, &E, grad, NULL, NULL);
        times[r] = bench_now() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, bench_cmp);
    if (median)
        *median = times[reps / 2];
    if (state_bytes)
        *state_bytes = dca_adjoint_state_bytes(adj) + dca_sim_memory(sim);
    free(times);
    free(phi);
    dca_adjoint_destroy(adj);
    dca_sim_destroy(sim);
    return E;
}

static int bench_reverse(const dca_lattice *lat, dca_rule *rule, const double *x0, int64_t B,
                         int64_t T, int64_t reps, int threads, const char *out)
{
    const int64_t P = dca_rule_params(rule);
    double *g1 = malloc((size_t)P * 8), *g2 = malloc((size_t)P * 8);
    /* Verify on a reduced problem: BLAS kernels vs the reference twins, 2
     * configurations and 6 steps; on a lattice of at most 64x64 cells (the
     * reference twin enumerates every pattern of every cell: W4's full
     * 256x256 would take minutes), with its own random start. */
    const dca_lattice *vlat = lat;
    dca_lattice small = *lat;
    double *vx = (double *)x0, *vx_own = NULL;
    if (dca_lattice_cells(lat) > 4096) {
        small.shape[0] = lat->dims == 1 ? 4096 : 64;
        small.shape[1] = lat->dims == 1 ? 1 : 64;
        vlat = &small;
        dca_error e;
        vx = vx_own = malloc((size_t)(2 * dca_lattice_cells(&small)) * 8);
        if (dca_init_generate("bernoulli:0.5", &small, 2, DCA_MODE_BINARY, 2, 7, vx, &e))
            bench_die("bench", "init", &e);
        dca_init_apply_eps(vx, 2 * dca_lattice_cells(&small), 2, DCA_MODE_BINARY, 1e-3);
    }
    loss_grad(vlat, rule, vx, 2, 6, kern, prec, threads, g1, NULL, 1, NULL);
    loss_grad(vlat, rule, vx, 2, 6, DCA_KERNEL_REFERENCE, DCA_FLOAT64, threads, g2, NULL, 1, NULL);
    free(vx_own);
    double d = 0, mx = 0;
    for (int64_t p = 0; p < P; p++) {
        d = fmax(d, fabs(g1[p] - g2[p]));
        mx = fmax(mx, fabs(g2[p]));
    }
    const double tol = prec == DCA_FLOAT32 ? 1e-4 : 1e-12;
    if (!(d <= tol * mx)) {
        fprintf(stderr, "bench: VERIFY FAILED: reverse gradient blas vs reference %g of %g\n", d,
                mx);
        return 1;
    }
    int64_t bytes = 0;
    double med = 0;
    double E = loss_grad(lat, rule, x0, B, T, kern, prec, threads, g1, &bytes, reps,
                         &med);
    /* float32: the error of the whole timed evaluation against float64. */
    double full = 0;
    if (prec == DCA_FLOAT32) {
        double gm = 0;
        loss_grad(lat, rule, x0, B, T, kern, DCA_FLOAT64, threads, g2, NULL, 1, NULL);
        for (int64_t p = 0; p < P; p++) {
            full = fmax(full, fabs(g1[p] - g2[p]));
            gm = fmax(gm, fabs(g2[p]));
        }
        full = gm > 0 ? full / gm : full;
    }
    if (out && prec == DCA_FLOAT64) {
        bench_dump("bench", out, "x0.bin", x0, B * dca_lattice_cells(lat));
        bench_dump("bench", out, "w.bin", dca_rule_weights(rule), P);
        bench_dump("bench", out, "grad.bin", g1, P);
        bench_dump("bench", out, "loss.bin", &E, 1);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"openblas_core\": \"%s\", \"mode\": \"reverse\", \"cells\": %lld, \"batch\": %lld, \"steps\": %lld, "
           "\"threads\": %d, \"median_seconds\": %.6g, \"cell_updates_per_second\": %.6g, "
           "\"loss\": %.17g, \"verify_max_diff\": %.3g, \"state_bytes\": %lld, "
           "\"peak_rss_mib\": %.1f, \"precision\": \"%s\", \"f64_max_diff\": %.3g, "
           "\"kernel\": \"%s\", \"tile\": %lld, \"tuned\": \"%s\", \"tune_seconds\": %.3g}\n",
           dca_blas_core(), (long long)dca_lattice_cells(lat), (long long)B, (long long)T,
           threads ? threads : omp_get_max_threads(), med,
           (double)dca_lattice_cells(lat) * (double)B * (double)T / med, E, mx > 0 ? d / mx : d,
           (long long)bytes, (double)ru.ru_maxrss / 1024.0,
           prec == DCA_FLOAT32 ? "float32" : "float64", full, dca_kernel_name(kern),
           (long long)tile, tuned, tune_seconds);
    free(g1);
    free(g2);
    return 0;
}

int main(int argc, char **argv)
{
    dca_blas_select(argv); /* the core dca itself would run */
    int64_t n = 1024, B = 64, T = 64, radius = 3, reps = 5;
    int threads = 0;
    const char *out = NULL, *mode = "values", *size = NULL, *nbspec = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i];
        int64_t v = strtoll(argv[i + 1], NULL, 10);
        if (!strcmp(k, "--mode")) mode = argv[i + 1];
        else if (!strcmp(k, "--n")) n = v;
        else if (!strcmp(k, "--size")) size = argv[i + 1];
        else if (!strcmp(k, "--nbhd")) nbspec = argv[i + 1];
        else if (!strcmp(k, "--batch")) B = v;
        else if (!strcmp(k, "--steps")) T = v;
        else if (!strcmp(k, "--radius")) radius = v;
        else if (!strcmp(k, "--threads")) threads = (int)v;
        else if (!strcmp(k, "--reps")) reps = v;
        else if (!strcmp(k, "--tile")) tile = v;
        else if (!strcmp(k, "--tune")) tuned[0] = v ? '?' : 0;
        else if (!strcmp(k, "--out")) out = argv[i + 1];
        else if (!strcmp(k, "--precision") && !strcmp(argv[i + 1], "float32")) prec = DCA_FLOAT32;
        else if (!strcmp(k, "--kernel") && !strcmp(argv[i + 1], "auto")) kern = DCA_KERNEL_AUTO;
        else if (!strcmp(k, "--kernel") && !strcmp(argv[i + 1], "blas")) kern = DCA_KERNEL_BLAS;
        else if (!strcmp(k, "--kernel") && !strcmp(argv[i + 1], "fused")) kern = DCA_KERNEL_FUSED;
        else if (!strcmp(k, "--precision") && !strcmp(argv[i + 1], "float64")) prec = DCA_FLOAT64;
        else {
            fprintf(stderr, "bench: unknown option %s\n", k);
            return 2;
        }
    }
    if (threads)
        omp_set_num_threads(threads);
    dca_error e;
    char spec[64];
    snprintf(spec, sizeof spec, "radius:%lld", (long long)radius);
    dca_lattice lat = {.dims = 1, .shape = {n, 1}};
    if (size && dca_lattice_parse(size, &lat, &e))
        bench_die("bench", "--size", &e);
    if (nbspec)
        snprintf(spec, sizeof spec, "%s", nbspec);
    n = dca_lattice_cells(&lat);
    dca_nbhd *nb;
    dca_rule *rule;
    if (dca_nbhd_parse(spec, lat.dims, &nb, &e) || dca_rule_create(nb, 2, DCA_MODE_BINARY, &rule, &e) ||
        dca_rule_load_weights(rule, "normal:1", 1, ".", &e))
        bench_die("bench", "setup", &e);
    int64_t len = n * B;
    if (out) {
        /* The neighbourhood for the peer, in dca's order (first offset most
         * significant in a pattern's index): m rows of (dy, dx) or (dx). */
        const int m = dca_nbhd_count(nb), d = dca_nbhd_dims(nb);
        double off[2 * 512];
        for (int i = 0; i < m * d && i < 1024; i++)
            off[i] = dca_nbhd_offsets(nb)[i];
        bench_dump("bench", out, "offsets.bin", off, m * d);
    }
    double *x0 = malloc((size_t)len * 8), *a = malloc((size_t)len * 8),
           *b = malloc((size_t)len * 8), *r = malloc((size_t)len * 8);
    if (dca_init_generate("bernoulli:0.5", &lat, 2, DCA_MODE_BINARY, B, 1, x0, &e))
        bench_die("bench", "init", &e);
    dca_init_apply_eps(x0, len, 2, DCA_MODE_BINARY, 1e-3);

    if (tuned[0]) {
        dca_sim_options to = {.kernel = kern, .threads = threads, .precision = prec,
                              .tile_cells = tile,
                              .gradients = !strcmp(mode, "reverse") ? DCA_GRAD_REVERSE : 0u};
        dca_tune_report rep;
        const double t0 = bench_now();
        if (dca_sim_tune(&lat, rule, B, &to, &rep, &e))
            bench_die("bench", "tune", &e);
        tune_seconds = bench_now() - t0;
        kern = to.kernel;
        tile = to.tile_cells;
        dca_tune_describe(&rep, tuned, sizeof tuned);
    }
    if (!strcmp(mode, "reverse"))
        return bench_reverse(&lat, rule, x0, B, T, reps, threads, out);
    dca_sim_options fo = {.kernel = kern, .threads = threads, .precision = prec,
                          .tile_cells = tile};
    dca_sim_options ro = {.kernel = DCA_KERNEL_REFERENCE, .threads = threads};
    dca_sim *fast, *ref;
    if (dca_sim_create(&lat, rule, B, &fo, &fast, &e) || dca_sim_create(&lat, rule, B, &ro, &ref, &e))
        bench_die("bench", "plan", &e);

    /* Verify: 3 steps of the kernel against the reference twin. */
    memcpy(a, x0, (size_t)len * 8);
    double worst = 0;
    for (int t = 0; t < 3; t++) {
        dca_sim_step(fast, a, b);
        dca_sim_step(ref, a, r);
        for (int64_t i = 0; i < len; i++)
            worst = fmax(worst, fabs(b[i] - r[i]));
        memcpy(a, r, (size_t)len * 8);
    }
    if (!(worst <= (prec == DCA_FLOAT32 ? 1e-5 : 1e-13))) {
        fprintf(stderr, "bench: VERIFY FAILED: kernel vs reference max diff %g\n", worst);
        return 1;
    }
    if (out && prec == DCA_FLOAT64) {
        bench_dump("bench", out, "x0.bin", x0, len);
        bench_dump("bench", out, "rho.bin", dca_rule_probabilities(rule), dca_rule_params(rule));
        dca_sim_step(fast, x0, b);
        bench_dump("bench", out, "x1.bin", b, len);
    }

    double *times = malloc((size_t)reps * sizeof *times);
    for (int64_t rep = 0; rep < reps; rep++) {
        memcpy(a, x0, (size_t)len * 8);
        double t0 = bench_now();
        for (int64_t t = 0; t < T; t++) {
            dca_sim_step(fast, a, b);
            double *s = a;
            a = b;
            b = s;
        }
        times[rep] = bench_now() - t0;
    }
    if (out && prec == DCA_FLOAT64)
        bench_dump("bench", out, "xT.bin", a, len);
    /* float32: the error after all T steps against float64. */
    double full = 0;
    if (prec == DCA_FLOAT32) {
        dca_sim *f64;
        dca_sim_options o64 = {.kernel = kern, .threads = threads};
        if (dca_sim_create(&lat, rule, B, &o64, &f64, &e))
            bench_die("bench", "plan", &e);
        memcpy(r, x0, (size_t)len * 8);
        for (int64_t t = 0; t < T; t++) {
            dca_sim_step(f64, r, b);
            double *s = r;
            r = b;
            b = s;
        }
        for (int64_t i = 0; i < len; i++)
            full = fmax(full, fabs(a[i] - r[i]));
        dca_sim_destroy(f64);
    }
    qsort(times, (size_t)reps, sizeof *times, bench_cmp);
    double med = times[reps / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"openblas_core\": \"%s\", \"mode\": \"values\", \"cells\": %lld, \"batch\": %lld, \"steps\": %lld, \"neighborhood\": \"%s\", \"threads\": %d, "
           "\"kernel\": \"%s\", \"tile\": %lld, \"median_seconds\": %.6g, \"min_seconds\": %.6g, "
           "\"cell_updates_per_second\": %.6g, \"verify_max_diff\": %.3g, \"peak_rss_mib\": %.1f, "
           "\"precision\": \"%s\", \"f64_max_diff\": %.3g, \"tuned\": \"%s\", "
           "\"tune_seconds\": %.3g}\n",
           dca_blas_core(), (long long)n, (long long)B, (long long)T, spec, dca_sim_threads(fast),
           dca_kernel_name(dca_sim_kernel(fast)),
           (long long)dca_sim_tile_cells(fast), med, times[0],
           (double)n * (double)B * (double)T / med, worst, (double)ru.ru_maxrss / 1024.0,
           prec == DCA_FLOAT32 ? "float32" : "float64", full, tuned, tune_seconds);
    free(times);
    free(x0), free(a), free(b), free(r);
    dca_sim_destroy(fast);
    dca_sim_destroy(ref);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
    return 0;
}
