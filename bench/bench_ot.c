/* W5 (DESIGN.md §7): a 2D outer-totalistic (Life-like) DCA, values +
 * reverse-mode gradient + cross-entropy loss (identity target), cell-updates
 * of the forward pass per second of the whole loss-and-gradient evaluation.
 *
 * Before timing it verifies the totalistic kernels against the full-table
 * engine (BLAS kernels) on the same rule written as a 2^m table: loss and
 * gradient on 2 configurations of 48x40, 6 steps (the table gradient summed
 * per (centre, count) entry). With --out it also writes, for the peer, the
 * input, weights, loss and gradient of a second problem of the peer's size
 * (--peer-size, --peer-steps).
 *
 * With --precision float32 the timed runs are single precision; before
 * timing, the float32 loss and gradient of the timed problem's first 2
 * configurations over 12 steps are checked against float64 (relative
 * difference of the gradient <= 1e-3, reported as f64_max_diff).
 *
 *   bench_ot [--size HxW] [--batch B] [--steps T] [--nb moore:1] [--threads K]
 *            [--reps R] [--precision float64|float32]
 *            [--out DIR --peer-size HxW --peer-steps T]
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

static double *soft_start(const dca_lattice *lat, int64_t B)
{
    dca_error e;
    int64_t len = B * dca_lattice_cells(lat);
    double *x0 = malloc((size_t)len * 8);
    if (!x0 || dca_init_generate("bernoulli:0.35", lat, 2, DCA_MODE_BINARY, B, 7, x0, &e))
        bench_die("bench_ot", "init", &e);
    dca_init_apply_eps(x0, len, 2, DCA_MODE_BINARY, 1e-3);
    return x0;
}

/* Loss and gradient of rule on lat (B configurations, T steps). */
static dca_precision precision = DCA_FLOAT64; /* of the timed runs (--precision) */

static double loss_grad_p(const dca_lattice *lat, dca_rule *rule, const double *x0,
                          int64_t B, int64_t T, int threads, int64_t reps, double *grad,
                          double *median, int64_t *bytes, dca_precision prec)
{
    dca_error e;
    dca_sim *sim;
    dca_sim_options o = {.threads = threads, .gradients = DCA_GRAD_REVERSE, .precision = prec};
    if (dca_sim_create(lat, rule, B, &o, &sim, &e))
        bench_die("bench_ot", "plan", &e);
    dca_adjoint *adj;
    if (dca_adjoint_create(sim, B, T, &adj, &e))
        bench_die("bench_ot", "adjoint", &e);
    const int64_t len = B * dca_lattice_cells(lat);
    double *phi = malloc((size_t)len * 8);
    dca_task_shape sh = {lat, 2, DCA_MODE_BINARY, B, NULL, NULL, NULL, 0};
    dca_target_lookup("identity")(&sh, x0, phi, NULL);
    double E = 0, *times = malloc((size_t)(reps < 1 ? 1 : reps) * sizeof *times);
    for (int64_t r = 0; r < (reps < 1 ? 1 : reps); r++) {
        double t0 = bench_now();
        dca_adjoint_run(adj, x0, phi, dca_loss_lookup("cross-entropy"), &sh, &E, grad, NULL, NULL);
        times[r] = bench_now() - t0;
    }
    qsort(times, (size_t)(reps < 1 ? 1 : reps), sizeof *times, bench_cmp);
    if (median)
        *median = times[(reps < 1 ? 1 : reps) / 2];
    if (bytes)
        *bytes = dca_adjoint_state_bytes(adj) + dca_sim_memory(sim);
    free(times);
    free(phi);
    dca_adjoint_destroy(adj);
    dca_sim_destroy(sim);
    return E;
}

/* In float64: the verification against the full table. */
static double loss_grad(const dca_lattice *lat, dca_rule *rule, const double *x0, int64_t B,
                        int64_t T, int threads, int64_t reps, double *grad, double *median,
                        int64_t *bytes)
{
    return loss_grad_p(lat, rule, x0, B, T, threads, reps, grad, median, bytes, DCA_FLOAT64);
}

/* The OT rule as a full table (weight of pattern y = weight of its entry). */
static dca_rule *as_table(const dca_rule *ot, const dca_nbhd *nb, int64_t **entry_out)
{
    dca_error e;
    dca_rule *t;
    if (dca_rule_create(nb, 2, DCA_MODE_BINARY, &t, &e))
        bench_die("bench_ot", "table rule", &e);
    const int64_t P = dca_rule_params(t);
    double *w = malloc((size_t)P * 8);
    int64_t *entry = malloc((size_t)P * sizeof *entry);
    for (int64_t y = 0; y < P; y++) {
        entry[y] = dca_nbhd_totalistic_entry(nb, y);
        w[y] = dca_rule_weights(ot)[entry[y]];
    }
    if (dca_rule_set_weights(t, w, &e))
        bench_die("bench_ot", "table weights", &e);
    free(w);
    *entry_out = entry;
    return t;
}

int main(int argc, char **argv)
{
    dca_blas_select(argv); /* the core dca itself would run */
    const char *size = "1024x1024", *nbspec = "moore:1", *out = NULL, *peer_size = "256x256";
    int64_t B = 4, T = 100, reps = 3, peer_T = 100;
    int threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--size")) size = v;
        else if (!strcmp(k, "--batch")) B = strtoll(v, NULL, 10);
        else if (!strcmp(k, "--steps")) T = strtoll(v, NULL, 10);
        else if (!strcmp(k, "--nb")) nbspec = v;
        else if (!strcmp(k, "--threads")) threads = (int)strtol(v, NULL, 10);
        else if (!strcmp(k, "--reps")) reps = strtoll(v, NULL, 10);
        else if (!strcmp(k, "--out")) out = v;
        else if (!strcmp(k, "--peer-size")) peer_size = v;
        else if (!strcmp(k, "--peer-steps")) peer_T = strtoll(v, NULL, 10);
        else if (!strcmp(k, "--precision") && (!strcmp(v, "float64") || !strcmp(v, "float32")))
            precision = v[5] == '3' ? DCA_FLOAT32 : DCA_FLOAT64;
        else {
            fprintf(stderr, "bench_ot: unknown option %s\n", k);
            return 2;
        }
    }
    if (threads)
        omp_set_num_threads(threads);
    dca_error e;
    dca_lattice lat, small = {2, {48, 40}};
    dca_nbhd *nb;
    dca_rule *rule;
    if (dca_lattice_parse(size, &lat, &e) || dca_nbhd_parse(nbspec, 2, &nb, &e) ||
        dca_rule_create_outer_totalistic(nb, &rule, &e) ||
        dca_rule_load_weights(rule, "normal:1", 5, ".", &e))
        bench_die("bench_ot", "setup", &e);
    const int64_t P = dca_rule_params(rule);

    /* Verify: the totalistic engine against the full table. */
    double verify = NAN;
    if (dca_nbhd_count(nb) <= 16) {
        int64_t *entry;
        dca_rule *tab = as_table(rule, nb, &entry);
        const int64_t Pt = dca_rule_params(tab);
        double *x0 = soft_start(&small, 2), *go = malloc((size_t)P * 8),
               *gt = malloc((size_t)Pt * 8), *sum = calloc((size_t)P, 8);
        double Eo = loss_grad(&small, rule, x0, 2, 6, threads, 1, go, NULL, NULL);
        double Et = loss_grad(&small, tab, x0, 2, 6, threads, 1, gt, NULL, NULL);
        for (int64_t y = 0; y < Pt; y++)
            sum[entry[y]] += gt[y];
        double d = 0, mx = 0;
        for (int64_t p = 0; p < P; p++) {
            d = fmax(d, fabs(go[p] - sum[p]));
            mx = fmax(mx, fabs(sum[p]));
        }
        verify = d / mx;
        if (!(verify <= 1e-11) || !(fabs(Eo - Et) <= 1e-12)) {
            fprintf(stderr, "bench_ot: VERIFY FAILED: totalistic vs table: loss %g vs %g, "
                            "gradient rel diff %g\n", Eo, Et, verify);
            return 1;
        }
        free(x0), free(go), free(gt), free(sum), free(entry);
        dca_rule_destroy(tab);
    }

    double *grad = malloc((size_t)P * 8);
    double *x0 = soft_start(&lat, B);
    /* float32: its loss and gradient against float64 on the timed lattice. */
    double f64_diff = 0;
    if (precision == DCA_FLOAT32) {
        double *g64 = malloc((size_t)P * 8), *g32 = malloc((size_t)P * 8);
        const int64_t Bc = B < 2 ? B : 2, Tc = T < 12 ? T : 12;
        double E64 = loss_grad_p(&lat, rule, x0, Bc, Tc, threads, 1, g64, NULL, NULL,
                                 DCA_FLOAT64);
        double E32 = loss_grad_p(&lat, rule, x0, Bc, Tc, threads, 1, g32, NULL, NULL,
                                 DCA_FLOAT32);
        double d = 0, mx = 0;
        for (int64_t p = 0; p < P; p++) {
            d = fmax(d, fabs(g32[p] - g64[p]));
            mx = fmax(mx, fabs(g64[p]));
        }
        f64_diff = d / mx;
        if (!(f64_diff <= 1e-3) || !(fabs(E32 - E64) <= 1e-4 * fabs(E64)) || f64_diff == 0) {
            fprintf(stderr, "bench_ot: VERIFY FAILED: float32 vs float64: loss %.9g vs %.9g, "
                            "gradient rel diff %g\n", E32, E64, f64_diff);
            return 1;
        }
        free(g64), free(g32);
    }
    int64_t bytes = 0;
    double med = 0;
    double E = loss_grad_p(&lat, rule, x0, B, T, threads, reps, grad, &med, &bytes, precision);
    const double cells = (double)dca_lattice_cells(&lat);
    /* The same at the peer's size, timed too (ratio at equal size). */
    double peer_rate = 0;
    if (out) {
        dca_lattice pl;
        if (dca_lattice_parse(peer_size, &pl, &e))
            bench_die("bench_ot", "peer size", &e);
        double *px = soft_start(&pl, B), pmed = 0;
        /* At least 3 runs (the median): the peer is timed warm too. */
        double pE = loss_grad_p(&pl, rule, px, B, peer_T, threads, reps < 3 ? 3 : reps, grad,
                                &pmed, NULL, precision);
        peer_rate = (double)dca_lattice_cells(&pl) * (double)B * (double)peer_T / pmed;
        bench_dump("bench_ot", out, "x0.bin", px, B * dca_lattice_cells(&pl));
        bench_dump("bench_ot", out, "w.bin", dca_rule_weights(rule), P);
        bench_dump("bench_ot", out, "grad.bin", grad, P);
        bench_dump("bench_ot", out, "loss.bin", &pE, 1);
        free(px);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"openblas_core\": \"%s\", \"mode\": \"reverse-ot\", \"size\": \"%s\", \"neighborhood\": \"%s\", "
           "\"batch\": %lld, \"steps\": %lld, \"threads\": %d, \"median_seconds\": %.6g, "
           "\"cell_updates_per_second\": %.6g, \"loss\": %.17g, \"verify_max_diff\": %.3g, "
           "\"state_bytes\": %lld, \"peak_rss_mib\": %.1f, \"peer_size\": \"%s\", "
           "\"peer_steps\": %lld, \"at_peer_size_cell_updates_per_second\": %.6g, "
           "\"precision\": \"%s\", \"f64_max_diff\": %.3g}\n",
           dca_blas_core(), size, nbspec, (long long)B, (long long)T, threads ? threads : omp_get_max_threads(),
           med, cells * (double)B * (double)T / med, E, verify, (long long)bytes,
           (double)ru.ru_maxrss / 1024.0, out ? peer_size : "", (long long)peer_T, peer_rate,
           precision == DCA_FLOAT32 ? "float32" : "float64", f64_diff);
    free(grad), free(x0);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
    return 0;
}
