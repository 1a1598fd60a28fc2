/* The density-classification protocol (the literature's, N = lattice
 * size) over a hardened rule: random configurations, run, compare with the
 * initial majority (exp layer: it parses the init kind). */
#include "density.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"
#include "text.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int64_t dca_density_draw(uint64_t seed, int uniform_density, double p, int64_t j, int64_t n,
                         uint8_t *a)
{
    double d = p;
    if (uniform_density) {
        double u[2];
        dca_rng_uniform2(seed, DCA_RNG_INIT_DENSITY, (uint64_t)j, 0, u);
        d = u[0];
    }
    int64_t ones = 0;
    double u[256];
    for (int64_t c0 = 0; c0 < n; c0 += 256) {
        const int64_t len = n - c0 < 256 ? n - c0 : 256;
        dca_rng_first_uniforms(seed, DCA_RNG_INIT_CELLS, (uint64_t)j, (uint64_t)c0, len, u);
        for (int64_t c = 0; c < len; c++) {
            a[c0 + c] = u[c] < d;
            ones += a[c0 + c];
        }
    }
    return ones;
}

/* The byte engine: dca_hard_step one configuration at a time. */
static void run_bytes(const dca_hard *h, int64_t first, int64_t samples, int64_t max_steps,
                      uint64_t seed,
                      double p, int uniform_density, uint8_t *ok, int64_t *steps_used,
                      uint8_t *buf)
{
    const int64_t n = dca_hard_cells(h);
    const int threads = dca_hard_threads(h);
    /* Whether the uniform lattices are fixed points: a configuration is
     * classified only by reaching the fixed point of its majority state (a
     * rule that flips uniform lattices would otherwise score by the parity
     * of the step limit). */
    uint8_t fixed[2];
    for (int v = 0; v < 2; v++) {
        memset(buf, v, (size_t)n);
        dca_hard_step(h, buf, buf + n);
        fixed[v] = memcmp(buf, buf + n, (size_t)n) == 0;
    }
#pragma omp parallel num_threads(threads) default(none) \
    shared(h, buf, ok, steps_used, fixed) \
    firstprivate(first, samples, max_steps, seed, p, uniform_density, n)
    {
        uint8_t *a = buf + 2 * n * omp_get_thread_num(), *b = a + n;
#pragma omp for schedule(dynamic, 16)
        for (int64_t j = 0; j < samples; j++) {
            const int64_t ones = dca_density_draw(seed, uniform_density, p, first + j, n, a);
            const uint8_t major = 2 * ones > n;
            int64_t t = 0;
            int64_t same = 0;
            for (; t < max_steps; t++) {
                dca_hard_step(h, a, b);
                uint8_t *s = a;
                a = b;
                b = s;
                /* Stop at a uniform lattice (a fixed point of any rule that
                 * maps the uniform patterns to themselves; checked anyway). */
                same = 0;
                for (int64_t c = 0; c < n; c++)
                    same += a[c] == a[0];
                if (same == n) {
                    dca_hard_step(h, a, b);
                    if (memcmp(a, b, (size_t)n) == 0)
                        break;
                }
            }
            same = 0;
            for (int64_t c = 0; c < n; c++)
                same += a[c] == major;
            ok[j] = same == n && fixed[major];
            steps_used[j] = t < max_steps ? t + 1 : max_steps;
        }
    }
}

/* Words per cell of a bit-sliced block: 256 configurations. */
#define BLOCK_WORDS 4

/* The bit-sliced engine: blocks of 64 BLOCK_WORDS configurations. */
static dca_status run_bits(const dca_bits *bits, int threads, int64_t first, int64_t samples,
                           int64_t max_steps, uint64_t seed, double p, int uniform_density,
                           uint8_t *ok, int64_t *steps_used, dca_error *err)
{
    const int W = BLOCK_WORDS, B = 64 * W;
    const int64_t n = dca_bits_cells(bits), blocks = (samples + B - 1) / B;
    const size_t work = dca_bits_work_bytes(bits, W);
    int nomem = 0;
#pragma omp parallel num_threads(threads) default(none) \
    shared(bits, ok, steps_used, nomem) \
    firstprivate(first, samples, max_steps, seed, p, uniform_density, n, blocks, work, W, B)
    {
        uint64_t *x = malloc((size_t)(n * W) * sizeof *x);
        uint8_t *a = malloc((size_t)n), *major = malloc((size_t)B);
        int64_t *st = malloc((size_t)B * sizeof *st);
        void *scratch = aligned_alloc(64, (work + 63) & ~(size_t)63);
        if (!x || !a || !major || !st || !scratch) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp barrier
        if (!nomem) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t blk = 0; blk < blocks; blk++) {
                const int64_t j0 = blk * B, cnt = samples - j0 < B ? samples - j0 : B;
                uint64_t active[BLOCK_WORDS] = {0};
                memset(x, 0, (size_t)(n * W) * sizeof *x);
                for (int64_t i = 0; i < cnt; i++) {
                    const int64_t ones = dca_density_draw(seed, uniform_density, p, first + j0 + i, n, a);
                    major[i] = 2 * ones > n;
                    const int w = (int)(i / 64);
                    const uint64_t bit = UINT64_C(1) << (i % 64);
                    active[w] |= bit;
                    for (int64_t c = 0; c < n; c++)
                        x[c * W + w] |= a[c] ? bit : 0;
                }
                dca_bits_run(bits, x, W, active, max_steps, st, scratch);
                dca_bits_classified(bits, x, W, major, cnt, ok + j0);
                for (int64_t i = 0; i < cnt; i++)
                    steps_used[j0 + i] = st[i];
            }
        }
        free(x), free(a), free(major), free(st), free(scratch);
    }
    if (nomem)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for bit-sliced blocks");
    return DCA_OK;
}

dca_status dca_eval_density_part(const dca_hard *h, dca_density_engine engine, int64_t first,
                                 int64_t samples, int64_t max_steps, const char *kind,
                                 uint64_t seed, dca_density_result *res, uint8_t *correct,
                                 dca_error *err)
{
    const int k = dca_hard_states(h);
    if (k != 2)
        return dca_error_set(err, DCA_ERR_UNSUPPORTED,
                             "density classification is for 2-state rules; this one has %d", k);
    if (samples < 0 || max_steps < 0 || first < 0)
        return dca_error_set(err, DCA_ERR_ARG, "samples, steps and the first sample must be >= 0");
    double p = 0.5;
    int uniform_density = strcmp(kind, "uniform-density") == 0;
    const char *rest = dca_strip_prefix(kind, "bernoulli:");
    if (!uniform_density && !(rest && dca_parse_double(rest, &p) && p >= 0.0 && p <= 1.0))
        return dca_error_set(err, DCA_ERR_ARG,
                             "density classification samples bernoulli:P or uniform-density, "
                             "got '%s'", kind);
    dca_bits *bits = NULL;
    if (engine != DCA_DENSITY_BYTES) {
        dca_error berr;
        if (dca_bits_from_hard(h, &bits, &berr) && engine == DCA_DENSITY_BITS) {
            *err = berr;
            return berr.status;
        }
    }
    const int64_t n = dca_hard_cells(h), threads = dca_hard_threads(h);
    uint8_t *buf = bits ? NULL : malloc((size_t)(2 * n * threads));
    uint8_t *ok = correct ? correct : malloc((size_t)(samples ? samples : 1));
    int64_t *steps_used = malloc((size_t)(samples ? samples : 1) * sizeof *steps_used);
    if ((!bits && !buf) || !ok || !steps_used) {
        free(buf), free(steps_used), dca_bits_destroy(bits);
        if (ok != correct)
            free(ok);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    double t0 = now();
    dca_status st = DCA_OK;
    if (bits)
        st = run_bits(bits, (int)threads, first, samples, max_steps, seed, p, uniform_density, ok,
                      steps_used, err);
    else
        run_bytes(h, first, samples, max_steps, seed, p, uniform_density, ok, steps_used, buf);
    double secs = now() - t0;
    int64_t right = 0, cu = 0;
    for (int64_t j = 0; !st && j < samples; j++) {
        right += ok[j];
        cu += steps_used[j];
    }
    res->samples = samples;
    res->correct = right;
    res->accuracy = samples ? (double)right / (double)samples : 0.0;
    res->standard_error = samples ? sqrt(res->accuracy * (1 - res->accuracy) / (double)samples) : 0;
    res->max_steps = max_steps;
    res->seconds = secs;
    res->cell_updates = cu * n;
    res->cell_updates_per_second = secs > 0 ? (double)cu * (double)n / secs : 0;
    res->engine = bits ? "bit-sliced" : "bytes";
    free(buf), free(steps_used), dca_bits_destroy(bits);
    if (ok != correct)
        free(ok);
    return st;
}

dca_status dca_eval_density_with(const dca_hard *h, dca_density_engine engine, int64_t samples,
                                 int64_t max_steps, const char *kind, uint64_t seed,
                                 dca_density_result *res, uint8_t *correct, dca_error *err)
{
    return dca_eval_density_part(h, engine, 0, samples, max_steps, kind, seed, res, correct,
                                 err);
}

dca_status dca_eval_density(const dca_hard *h, int64_t samples, int64_t max_steps,
                            const char *kind, uint64_t seed, dca_density_result *res,
                            dca_error *err)
{
    return dca_eval_density_with(h, DCA_DENSITY_AUTO, samples, max_steps, kind, seed, res, NULL,
                                 err);
}
