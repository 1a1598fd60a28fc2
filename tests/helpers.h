/* Shared test helpers: small deterministic generators and plain integer
 * cellular automata to compare against. Header-only for the test binaries. */
#ifndef DCA_TEST_HELPERS_H
#define DCA_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "dca/dca.h"

/* splitmix64: fixed-seed test data, independent of the library's RNG. */
static inline uint64_t t_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline double t_unif(uint64_t *s) { return (double)(t_next(s) >> 11) * 0x1.0p-53; }

/* Largest difference of a and b relative to their largest entry (the
 * difference itself when both are zero). */
static inline double t_rel_diff(const double *a, const double *b, int64_t n)
{
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        m = fmax(m, fmax(fabs(a[i]), fabs(b[i])));
    }
    return m > 0 ? d / m : d;
}

static inline dca_nbhd *t_nbhd(const char *spec, int dims)
{
    dca_nbhd *nb = NULL;
    dca_error e;
    cr_assert_eq(dca_nbhd_parse(spec, dims, &nb, &e), DCA_OK, "%s", e.msg);
    return nb;
}

static inline dca_rule *t_rule(const dca_nbhd *nb, int k, dca_mode mode)
{
    dca_rule *r = NULL;
    dca_error e;
    cr_assert_eq(dca_rule_create(nb, k, mode, &r, &e), DCA_OK, "%s", e.msg);
    return r;
}

static inline void t_random_weights(dca_rule *r, double sd, uint64_t seed)
{
    int64_t P = dca_rule_params(r);
    double *w = malloc((size_t)P * sizeof *w);
    for (int64_t i = 0; i < P; i++)
        w[i] = sd * (2 * t_unif(&seed) - 1);
    dca_error e;
    cr_assert_eq(dca_rule_set_weights(r, w, &e), DCA_OK, "%s", e.msg);
    free(w);
}

static inline dca_sim *t_sim(const dca_lattice *lat, dca_rule *r, int64_t B,
                             dca_kernel kernel, int threads)
{
    dca_sim *s = NULL;
    dca_error e;
    dca_sim_options o = {.kernel = kernel, .threads = threads};
    cr_assert_eq(dca_sim_create(lat, r, B, &o, &s, &e), DCA_OK, "%s", e.msg);
    return s;
}

/* Random soft configurations: binary P(1) in (0,1), or softmax rows. */
static inline void t_random_config(double *x, int64_t cells, int k, dca_mode mode, uint64_t seed)
{
    if (mode == DCA_MODE_BINARY) {
        for (int64_t c = 0; c < cells; c++)
            x[c] = t_unif(&seed);
        return;
    }
    for (int64_t c = 0; c < cells; c++) {
        double s = 0;
        for (int a = 0; a < k; a++)
            s += x[c * k + a] = 0.05 + t_unif(&seed);
        for (int a = 0; a < k; a++)
            x[c * k + a] /= s;
    }
}

/* One step of an ordinary CA on 0/1 (or 0..k-1) states given by a table:
 * out(c) = table[pattern index of c's neighbourhood], the pattern index as
 * in DESIGN.md §1, neighbours with plain modular arithmetic. */
static inline void t_ca_step(const dca_lattice *lat, const dca_nbhd *nb, int k,
                             const int *table, const int *x, int *y)
{
    int64_t rows = lat->dims == 1 ? 1 : lat->shape[0];
    int64_t cols = lat->dims == 1 ? lat->shape[0] : lat->shape[1];
    const int32_t *off = dca_nbhd_offsets(nb);
    int m = dca_nbhd_count(nb);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t p = 0;
            for (int s = 0; s < m; s++) {
                int64_t dy = lat->dims == 1 ? 0 : off[2 * s];
                int64_t dx = lat->dims == 1 ? off[s] : off[2 * s + 1];
                int64_t rr = ((r + dy) % rows + rows) % rows;
                int64_t cc = ((c + dx) % cols + cols) % cols;
                p = p * k + x[rr * cols + cc];
            }
            y[r * cols + c] = table[p];
        }
}

#endif
