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

dca_status dca_eval_density(const dca_hard *h, int64_t samples, int64_t max_steps,
                            const char *kind, uint64_t seed, dca_density_result *res,
                            dca_error *err)
{
    const int k = dca_hard_states(h);
    if (k != 2)
        return dca_error_set(err, DCA_ERR_UNSUPPORTED,
                             "density classification is for 2-state rules; this one has %d", k);
    double p = 0.5;
    int uniform_density = strcmp(kind, "uniform-density") == 0;
    const char *rest = dca_strip_prefix(kind, "bernoulli:");
    if (!uniform_density && !(rest && dca_parse_double(rest, &p) && p >= 0.0 && p <= 1.0))
        return dca_error_set(err, DCA_ERR_ARG,
                             "density classification samples bernoulli:P or uniform-density, "
                             "got '%s'", kind);
    const int64_t n = dca_hard_cells(h), threads = dca_hard_threads(h);
    uint8_t *buf = malloc((size_t)(2 * n * threads));
    uint8_t *ok = malloc((size_t)samples);
    int64_t *steps_used = malloc((size_t)samples * sizeof *steps_used);
    if (!buf || !ok || !steps_used) {
        free(buf), free(ok), free(steps_used);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    double t0 = now();
#pragma omp parallel num_threads((int)threads) default(none) \
    shared(h, buf, ok, steps_used) firstprivate(samples, max_steps, seed, p, uniform_density, n)
    {
        uint8_t *a = buf + 2 * n * omp_get_thread_num(), *b = a + n;
#pragma omp for schedule(dynamic, 16)
        for (int64_t j = 0; j < samples; j++) {
            double d = p;
            if (uniform_density) {
                double u[2];
                dca_rng_uniform2(seed, DCA_RNG_INIT_DENSITY, (uint64_t)j, 0, u);
                d = u[0];
            }
            int64_t ones = 0;
            for (int64_t c = 0; c < n; c++) {
                double u[2];
                dca_rng_uniform2(seed, DCA_RNG_INIT_CELLS, (uint64_t)j, (uint64_t)c, u);
                a[c] = u[0] < d;
                ones += a[c];
            }
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
            ok[j] = same == n;
            steps_used[j] = t < max_steps ? t + 1 : max_steps;
        }
    }
    double secs = now() - t0;
    int64_t correct = 0, cu = 0;
    for (int64_t j = 0; j < samples; j++) {
        correct += ok[j];
        cu += steps_used[j];
    }
    res->samples = samples;
    res->correct = correct;
    res->accuracy = samples ? (double)correct / (double)samples : 0.0;
    res->standard_error = samples ? sqrt(res->accuracy * (1 - res->accuracy) / (double)samples) : 0;
    res->max_steps = max_steps;
    res->seconds = secs;
    res->cell_updates_per_second = secs > 0 ? (double)cu * (double)n / secs : 0;
    free(buf), free(ok), free(steps_used);
    return DCA_OK;
}
