/* Initial configurations. Every draw is keyed by (seed, configuration, cell)
 * through Philox, so configuration b is the same whatever B or the thread
 * count. */
#include "dca/dca.h"

#include <math.h>
#include <string.h>

#include "rng.h"
#include "text.h"

/* Writes state s (0..k-1) as a certain cell: 0/1 in binary mode, one-hot
 * in softmax mode. */
static void put_state(double *x, int64_t cell, int s, int states, dca_mode mode)
{
    if (mode == DCA_MODE_BINARY) {
        x[cell] = s;
        return;
    }
    for (int a = 0; a < states; a++)
        x[cell * states + a] = a == s;
}

dca_status dca_init_generate(const char *kind, const dca_lattice *lat, int states,
                             dca_mode mode, int64_t batch, uint64_t seed, double *x,
                             dca_error *err)
{
    return dca_init_generate_part(kind, lat, states, mode, 0, batch, seed, x, err);
}

dca_status dca_init_generate_part(const char *kind, const dca_lattice *lat, int states,
                                  dca_mode mode, int64_t first, int64_t batch, uint64_t seed,
                                  double *x, dca_error *err)
{
    return dca_init_generate_window(kind, lat, states, mode, first, batch, seed, 0,
                                    dca_lattice_cells(lat), x, err);
}

dca_status dca_init_generate_window(const char *kind, const dca_lattice *lat, int states,
                                    dca_mode mode, int64_t first, int64_t batch, uint64_t seed,
                                    int64_t cell0, int64_t ncells, double *x, dca_error *err)
{
    if (first < 0 || batch < 0)
        return dca_error_set(err, DCA_ERR_ARG, "configurations from %lld: %lld of them",
                             (long long)first, (long long)batch);
    const int64_t cells = dca_lattice_cells(lat);
    if (cell0 < 0 || cell0 >= cells || ncells < 0 || ncells > cells)
        return dca_error_set(err, DCA_ERR_ARG,
                             "a window of %lld cells from cell %lld does not fit a lattice of "
                             "%lld cells",
                             (long long)ncells, (long long)cell0, (long long)cells);
    /* Window cell i is lattice cell (cell0 + i) mod cells: the draws are
     * keyed by the lattice cell. */
    const int64_t len = mode == DCA_MODE_BINARY ? ncells : ncells * states;
#define CELL(i) ((cell0 + (i)) < cells ? cell0 + (i) : cell0 + (i) - cells)
    const char *rest;
    if ((rest = dca_strip_prefix(kind, "bernoulli:"))) {
        double p;
        if (!dca_parse_double(rest, &p) || !(p >= 0.0 && p <= 1.0))
            return dca_error_set(err, DCA_ERR_ARG,
                                 "bernoulli:P needs a probability P in [0, 1], got '%s'", rest);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < ncells; i++) {
                double u[2];
                dca_rng_uniform2(seed, DCA_RNG_INIT_CELLS, (uint64_t)(first + b),
                                 (uint64_t)CELL(i), u);
                put_state(x + b * len, i, u[0] < p, states, mode);
            }
        return DCA_OK;
    }
    if (strcmp(kind, "uniform-density") == 0) {
        for (int64_t b = 0; b < batch; b++) {
            double d[2];
            dca_rng_uniform2(seed, DCA_RNG_INIT_DENSITY, (uint64_t)(first + b), 0, d);
            for (int64_t i = 0; i < ncells; i++) {
                double u[2];
                dca_rng_uniform2(seed, DCA_RNG_INIT_CELLS, (uint64_t)(first + b),
                                 (uint64_t)CELL(i), u);
                put_state(x + b * len, i, u[0] < d[0], states, mode);
            }
        }
        return DCA_OK;
    }
    if (strcmp(kind, "uniform-states") == 0) {
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < ncells; i++) {
                double u[2];
                dca_rng_uniform2(seed, DCA_RNG_INIT_CELLS, (uint64_t)(first + b),
                                 (uint64_t)CELL(i), u);
                int s = (int)(u[0] * states);
                put_state(x + b * len, i, s < states ? s : states - 1, states, mode);
            }
        return DCA_OK;
    }
    if (strcmp(kind, "single") == 0) {
        int64_t centre = lat->dims == 1 ? lat->shape[0] / 2
                                        : (lat->shape[0] / 2) * lat->shape[1] + lat->shape[1] / 2;
        for (int64_t b = 0; b < batch; b++)
            for (int64_t i = 0; i < ncells; i++)
                put_state(x + b * len, i, CELL(i) == centre, states, mode);
        return DCA_OK;
    }
#undef CELL
    return dca_error_set(err, DCA_ERR_ARG,
                         "unknown initial configuration kind '%s': expected bernoulli:P, "
                         "uniform-density, uniform-states, single, rle:PATH.rle or "
                         "file:PATH.h5:/DATASET", kind);
}

void dca_init_apply_eps(double *x, int64_t n_values, int states, dca_mode mode, double eps)
{
    if (eps == 0.0)
        return;
    const double k = states;
    const double scale = 1.0 - eps * k / (k - 1.0), shift = eps / (k - 1.0);
    (void)mode; /* binary cells are P(state 1): the same map with k = 2 */
    for (int64_t i = 0; i < n_values; i++)
        x[i] = scale * x[i] + shift;
}
