/* Value-step benchmark (DESIGN.md §7, W1): cell-updates per second of
 * dca_sim_step on a batch of binary 1D configurations.
 *
 * Before timing it verifies the BLAS kernel against the reference twin on
 * the same input, and it writes the input, the rule and the states after 1
 * and after T steps as raw float64 files for the peers to check against.
 *
 *   bench_values [--n N] [--batch B] [--steps T] [--radius R] [--threads K]
 *                [--reps R] [--out DIR]
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dca/dca.h"
#include "experiment.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void dump(const char *dir, const char *name, const double *x, int64_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(x, sizeof *x, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "bench: cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static void die(const char *what, const dca_error *e)
{
    fprintf(stderr, "bench: %s: %s\n", what, e->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    int64_t n = 1024, B = 64, T = 64, radius = 3, reps = 5;
    int threads = 0;
    const char *out = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i];
        int64_t v = strtoll(argv[i + 1], NULL, 10);
        if (!strcmp(k, "--n")) n = v;
        else if (!strcmp(k, "--batch")) B = v;
        else if (!strcmp(k, "--steps")) T = v;
        else if (!strcmp(k, "--radius")) radius = v;
        else if (!strcmp(k, "--threads")) threads = (int)v;
        else if (!strcmp(k, "--reps")) reps = v;
        else if (!strcmp(k, "--out")) out = argv[i + 1];
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
    dca_nbhd *nb;
    dca_rule *rule;
    if (dca_nbhd_parse(spec, 1, &nb, &e) || dca_rule_create(nb, 2, DCA_MODE_BINARY, &rule, &e) ||
        dca_rule_load_weights(rule, "normal:1", 1, ".", &e))
        die("setup", &e);
    int64_t len = n * B;
    double *x0 = malloc((size_t)len * 8), *a = malloc((size_t)len * 8),
           *b = malloc((size_t)len * 8), *r = malloc((size_t)len * 8);
    if (dca_init_generate("bernoulli:0.5", &lat, 2, DCA_MODE_BINARY, B, 1, x0, &e))
        die("init", &e);
    dca_init_apply_eps(x0, len, 2, DCA_MODE_BINARY, 1e-3);

    dca_sim_options fo = {.kernel = DCA_KERNEL_BLAS, .threads = threads};
    dca_sim_options ro = {.kernel = DCA_KERNEL_REFERENCE, .threads = threads};
    dca_sim *fast, *ref;
    if (dca_sim_create(&lat, rule, B, &fo, &fast, &e) || dca_sim_create(&lat, rule, B, &ro, &ref, &e))
        die("plan", &e);

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
    if (!(worst <= 1e-13)) {
        fprintf(stderr, "bench: VERIFY FAILED: kernel vs reference max diff %g\n", worst);
        return 1;
    }
    if (out) {
        dump(out, "x0.bin", x0, len);
        dump(out, "rho.bin", dca_rule_probabilities(rule), dca_rule_params(rule));
        dca_sim_step(fast, x0, b);
        dump(out, "x1.bin", b, len);
    }

    double *times = malloc((size_t)reps * sizeof *times);
    for (int64_t rep = 0; rep < reps; rep++) {
        memcpy(a, x0, (size_t)len * 8);
        double t0 = now();
        for (int64_t t = 0; t < T; t++) {
            dca_sim_step(fast, a, b);
            double *s = a;
            a = b;
            b = s;
        }
        times[rep] = now() - t0;
    }
    if (out)
        dump(out, "xT.bin", a, len);
    qsort(times, (size_t)reps, sizeof *times, cmp);
    double med = times[reps / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"n\": %lld, \"batch\": %lld, \"steps\": %lld, \"radius\": %lld, \"threads\": %d, "
           "\"kernel\": \"blas\", \"tile\": %lld, \"median_seconds\": %.6g, \"min_seconds\": %.6g, "
           "\"cell_updates_per_second\": %.6g, \"verify_max_diff\": %.3g, \"peak_rss_mib\": %.1f}\n",
           (long long)n, (long long)B, (long long)T, (long long)radius, dca_sim_threads(fast),
           (long long)dca_sim_tile_cells(fast), med, times[0],
           (double)n * (double)B * (double)T / med, worst, (double)ru.ru_maxrss / 1024.0);
    free(times);
    free(x0), free(a), free(b), free(r);
    dca_sim_destroy(fast);
    dca_sim_destroy(ref);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
    return 0;
}
