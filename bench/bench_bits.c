/* W6: the bit-sliced hard-CA evaluator on density classification (N = 149,
 * radius 3, unbiased configurations, up to 2N steps), against the byte
 * evaluator (dca_hard_step) measured in the same run.
 *
 *   bench_bits [--rule gkl|random:SEED|hex:H] [--samples N] [--byte-samples N]
 *              [--threads T] [--words W] [--reps R]
 *
 * Verified before timing: random rules and GKL stepped by both evaluators
 * from the same configurations agree bit for bit at every step, and the
 * two density evaluations give the same outcome for every sample.
 * Prints one line of JSON (bench/run's format): cell_updates_per_second is
 * the bit-sliced stepping (useful updates: each configuration's steps up to
 * its fixed point), byte_cell_updates_per_second the byte evaluator's whole
 * evaluation, eval_cell_updates_per_second the bit-sliced whole evaluation
 * (configuration draws included). */
#include <omp.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_util.h"
#include "bits.h"
#include "density.h"
#include "hard.h"

static const char *prog = "bench_bits";

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void hex_of_seed(uint64_t seed, char *buf)
{
    static const char d[] = "0123456789abcdef";
    strcpy(buf, "hex:");
    for (int i = 0; i < 32; i++)
        buf[4 + i] = d[splitmix(&seed) & 15];
    buf[36] = '\0';
}

static dca_hard *make_hard(const dca_lattice *lat, const dca_nbhd *nb, const char *weights,
                           int threads, dca_rule **rule)
{
    dca_error e;
    if (dca_rule_create(nb, 2, DCA_MODE_BINARY, rule, &e))
        bench_die(prog, "rule", &e);
    if (dca_rule_load_weights(*rule, weights, 0, ".", &e))
        bench_die(prog, weights, &e);
    dca_hard *h;
    if (dca_hard_create(lat, *rule, threads, &h, &e))
        bench_die(prog, "hard", &e);
    return h;
}

/* Both evaluators from the same 64 W configurations, step by step. */
static void verify_steps(const dca_hard *h, int W, int steps, uint64_t seed)
{
    dca_error e;
    dca_bits *b;
    if (dca_bits_from_hard(h, &b, &e))
        bench_die(prog, "bits", &e);
    const int64_t n = dca_hard_cells(h), B = 64 * W;
    uint8_t *a = malloc((size_t)(n * B)), *t = malloc((size_t)n);
    uint64_t *x = calloc((size_t)(n * W), sizeof *x);
    void *work = aligned_alloc(64, (dca_bits_work_bytes(b, W) + 63) & ~(size_t)63);
    for (int64_t j = 0; j < B; j++)
        for (int64_t c = 0; c < n; c++) {
            a[j * n + c] = (uint8_t)(splitmix(&seed) & 1);
            x[c * W + j / 64] |= (uint64_t)a[j * n + c] << (j % 64);
        }
    for (int s = 0; s < steps; s++) {
        /* One step at a time: no early stop can hide a difference. */
        uint64_t none[DCA_BITS_MAX_WORDS] = {0};
        dca_bits_run(b, x, W, none, 1, NULL, work);
        for (int64_t j = 0; j < B; j++) {
            dca_hard_step(h, a + j * n, t);
            memcpy(a + j * n, t, (size_t)n);
            for (int64_t c = 0; c < n; c++)
                if (((x[c * W + j / 64] >> (j % 64)) & 1) != a[j * n + c]) {
                    fprintf(stderr, "%s: bit-sliced and byte evaluators differ at step %d, "
                                    "configuration %lld, cell %lld\n",
                            prog, s + 1, (long long)j, (long long)c);
                    exit(1);
                }
        }
    }
    free(a), free(t), free(x), free(work);
    dca_bits_destroy(b);
}

int main(int argc, char **argv)
{
    const char *rule_spec = "gkl";
    int64_t samples = 1000000, byte_samples = 10000;
    int threads = 2, W = 4, reps = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rule") == 0 && i + 1 < argc)
            rule_spec = argv[++i];
        else if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc)
            samples = atoll(argv[++i]);
        else if (strcmp(argv[i], "--byte-samples") == 0 && i + 1 < argc)
            byte_samples = atoll(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--words") == 0 && i + 1 < argc)
            W = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--rule gkl|random:SEED|hex:H] [--samples N] "
                            "[--byte-samples N] [--threads T] [--words W] [--reps R]\n", prog);
            return 2;
        }
    }
    if (W < 1 || W > DCA_BITS_MAX_WORDS || samples < 1 || byte_samples < 1 || reps < 1) {
        fprintf(stderr, "%s: --words is 1..%d; samples and reps are >= 1\n", prog,
                DCA_BITS_MAX_WORDS);
        return 2;
    }
    char weights[64];
    if (strcmp(rule_spec, "gkl") == 0)
        strcpy(weights, "hex:fafffa00fafffa00fa00fa00fa00fa00");
    else if (strncmp(rule_spec, "random:", 7) == 0)
        hex_of_seed((uint64_t)atoll(rule_spec + 7), weights);
    else
        snprintf(weights, sizeof weights, "%s", rule_spec);
    dca_lattice lat = {.dims = 1, .shape = {149, 1}};
    dca_error e;
    dca_nbhd *nb;
    if (dca_nbhd_parse("radius:3", 1, &nb, &e))
        bench_die(prog, "nbhd", &e);

    /* Verify: four random rules and this one, 100 steps, and the density
     * outcomes of both evaluators on 3000 samples. */
    for (uint64_t s = 1; s <= 5; s++) {
        char w[64];
        if (s < 5)
            hex_of_seed(s * 977, w);
        else
            strcpy(w, weights);
        dca_rule *r;
        dca_hard *h = make_hard(&lat, nb, w, threads, &r);
        verify_steps(h, s % 2 ? W : 1, 100, s);
        dca_hard_destroy(h);
        dca_rule_destroy(r);
    }
    dca_rule *rule;
    dca_hard *h = make_hard(&lat, nb, weights, threads, &rule);
    {
        uint8_t *o1 = malloc(3000), *o2 = malloc(3000);
        dca_density_result r1, r2;
        if (dca_eval_density_with(h, DCA_DENSITY_BYTES, 3000, 298, "bernoulli:0.5", 11, &r1, o1,
                                  &e) ||
            dca_eval_density_with(h, DCA_DENSITY_BITS, 3000, 298, "bernoulli:0.5", 11, &r2, o2,
                                  &e))
            bench_die(prog, "density", &e);
        if (memcmp(o1, o2, 3000) != 0) {
            fprintf(stderr, "%s: density outcomes differ between the evaluators\n", prog);
            return 1;
        }
        free(o1), free(o2);
    }

    /* Stepping alone: configurations drawn beforehand, blocks of 64 W over
     * the threads. Useful cell-updates count each configuration's steps up
     * to its fixed point; performed ones what the blocks ran. */
    dca_bits *b;
    if (dca_bits_from_hard(h, &b, &e))
        bench_die(prog, "bits", &e);
    const int64_t n = 149, B = 64 * W, blocks = (samples + B - 1) / B;
    uint64_t *x0 = calloc((size_t)(blocks * n * W), sizeof *x0);
    uint64_t *x = malloc((size_t)(blocks * n * W) * sizeof *x);
    int64_t *st = malloc((size_t)(blocks * B) * sizeof *st);
    uint64_t seed = 5;
    for (int64_t j = 0; j < blocks * B; j++)
        for (int64_t c = 0; c < n; c++)
            x0[(j / B) * n * W + c * W + (j % B) / 64] |= (splitmix(&seed) & 1) << (j % 64);
    const size_t wb = (dca_bits_work_bytes(b, W) + 63) & ~(size_t)63;
    double best = 1e300;
    int64_t useful = 0, performed = 0;
    for (int rep = 0; rep < reps; rep++) {
        memcpy(x, x0, (size_t)(blocks * n * W) * sizeof *x);
        double t0 = bench_now();
#pragma omp parallel num_threads(threads)
        {
            void *work = aligned_alloc(64, wb);
#pragma omp for schedule(dynamic, 1)
            for (int64_t k = 0; k < blocks; k++)
                dca_bits_run(b, x + k * n * W, W, NULL, 2 * n, st + k * B, work);
            free(work);
        }
        double dt = bench_now() - t0;
        best = dt < best ? dt : best;
        useful = performed = 0;
        for (int64_t k = 0; k < blocks; k++) {
            int64_t mx = 0;
            for (int64_t j = 0; j < B; j++) {
                useful += st[k * B + j];
                mx = st[k * B + j] > mx ? st[k * B + j] : mx;
            }
            performed += mx * B;
        }
    }
    const double cu_useful = (double)useful * (double)n, cu_done = (double)performed * (double)n;

    /* Whole evaluations (drawing included), the same protocol. */
    dca_density_result rb, rh;
    double tb = bench_now();
    if (dca_eval_density_with(h, DCA_DENSITY_BITS, samples, 298, "bernoulli:0.5", 1, &rb, NULL,
                              &e))
        bench_die(prog, "density", &e);
    tb = bench_now() - tb;
    if (dca_eval_density_with(h, DCA_DENSITY_BYTES, byte_samples, 298, "bernoulli:0.5", 1, &rh,
                              NULL, &e))
        bench_die(prog, "density", &e);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"rule\": \"%s\", \"gates\": %d, \"slots\": %d, \"words\": %d, \"threads\": %d, "
           "\"samples\": %lld, \"step_seconds\": %.5f, \"cell_updates_per_second\": %.5g, "
           "\"performed_cell_updates_per_second\": %.5g, \"eval_seconds\": %.5f, "
           "\"eval_cell_updates_per_second\": %.5g, \"accuracy\": %.6f, "
           "\"byte_samples\": %lld, \"byte_cell_updates_per_second\": %.5g, "
           "\"byte_accuracy\": %.6f, \"peak_rss_mib\": %.1f, \"verified\": true}\n",
           rule_spec, dca_bits_gates(b), dca_bits_slots(b), W, threads, (long long)samples, best,
           cu_useful / best, cu_done / best, tb, rb.cell_updates_per_second, rb.accuracy,
           (long long)byte_samples, rh.cell_updates_per_second, rh.accuracy,
           (double)ru.ru_maxrss / 1024.0);
    free(x0), free(x), free(st);
    dca_bits_destroy(b);
    dca_hard_destroy(h);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
    return 0;
}
