#include "hard.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

struct dca_hard {
    int64_t rows, cols, cells;
    int m, k, threads;
    int64_t *dy, *dx; /* offsets reduced to [0, rows) x [0, cols) */
    int32_t *sdy, *sdx; /* the neighbourhood's signed offsets */
    uint8_t *table;
    int64_t patterns;
    int sliding; /* 1D radius neighbourhood on a ring larger than it: rolling index */
    int radius;
    int centre;  /* outer-totalistic: the centre offset (table[alive * m + count]); else -1 */
};

void dca_hard_destroy(dca_hard *h)
{
    if (!h)
        return;
    free(h->dy);
    free(h->dx);
    free(h->sdy);
    free(h->sdx);
    free(h->table);
    free(h);
}

const uint8_t *dca_hard_table(const dca_hard *h) { return h->table; }

dca_status dca_hard_create(const dca_lattice *lat, const dca_rule *rule, int threads,
                           dca_hard **out, dca_error *err)
{
    const dca_nbhd *nb = dca_rule_nbhd(rule);
    const int k = dca_rule_states(rule), m = dca_nbhd_count(nb), outn = dca_rule_outputs(rule);
    if (k > 256)
        return dca_error_set(err, DCA_ERR_UNSUPPORTED,
                             "hardened rules are simulated with 8-bit states (k <= 256)");
    if (dca_nbhd_dims(nb) != lat->dims)
        return dca_error_set(err, DCA_ERR_ARG, "the neighbourhood is %dD but the lattice is %dD",
                             dca_nbhd_dims(nb), lat->dims);
    dca_hard *h = calloc(1, sizeof *h);
    if (!h)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    h->rows = lat->dims == 1 ? 1 : lat->shape[0];
    h->cols = lat->dims == 1 ? lat->shape[0] : lat->shape[1];
    h->cells = h->rows * h->cols;
    h->m = m;
    h->k = k;
    h->threads = threads > 0 ? threads : omp_get_max_threads();
    h->patterns = dca_rule_patterns(rule);
    h->centre = dca_rule_kind_of(rule) == DCA_RULE_OUTER_TOTALISTIC ? dca_nbhd_center(nb) : -1;
    h->dy = malloc((size_t)m * sizeof *h->dy);
    h->dx = malloc((size_t)m * sizeof *h->dx);
    h->sdy = malloc((size_t)m * sizeof *h->sdy);
    h->sdx = malloc((size_t)m * sizeof *h->sdx);
    h->table = malloc((size_t)h->patterns);
    if (!h->dy || !h->dx || !h->sdy || !h->sdx || !h->table) {
        dca_hard_destroy(h);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a hardened table");
    }
    const int32_t *off = dca_nbhd_offsets(nb);
    for (int s = 0; s < m; s++) {
        int64_t oy = lat->dims == 1 ? 0 : off[2 * s], ox = lat->dims == 1 ? off[s] : off[2 * s + 1];
        h->sdy[s] = (int32_t)oy;
        h->sdx[s] = (int32_t)ox;
        h->dy[s] = ((oy % h->rows) + h->rows) % h->rows;
        h->dx[s] = ((ox % h->cols) + h->cols) % h->cols;
    }
    const double *rho = dca_rule_probabilities(rule);
    for (int64_t y = 0; y < h->patterns; y++) {
        if (outn == 1) {
            h->table[y] = rho[y] >= 0.5;
            continue;
        }
        int best = 0;
        for (int a = 1; a < outn; a++)
            if (rho[y * outn + a] > rho[y * outn + best])
                best = a;
        h->table[y] = (uint8_t)best;
    }
    /* A 1D radius-r neighbourhood (offsets -r..r in order) on a ring of
     * more than 2r+1 cells: the pattern index rolls from cell to cell. */
    int r = (m - 1) / 2;
    h->sliding = lat->dims == 1 && m % 2 == 1 && h->cols > m && h->centre < 0;
    for (int s = 0; s < m && h->sliding; s++)
        h->sliding = off[s] == s - r;
    h->radius = r;
    *out = h;
    return DCA_OK;
}

/* Plain: the pattern index from the m neighbours of each cell. */
static void step_generic(const dca_hard *h, const uint8_t *restrict x, uint8_t *restrict y)
{
    for (int64_t r = 0; r < h->rows; r++)
        for (int64_t c = 0; c < h->cols; c++) {
            int64_t p = 0;
            for (int s = 0; s < h->m; s++) {
                int64_t rr = r + h->dy[s], cc = c + h->dx[s];
                rr -= rr >= h->rows ? h->rows : 0;
                cc -= cc >= h->cols ? h->cols : 0;
                p = p * h->k + x[rr * h->cols + cc];
            }
            y[r * h->cols + c] = h->table[p];
        }
}

/* 1D radius r: index(i+1) = (index(i) mod k^(m-1)) * k + x[i+1+r]. */
static void step_sliding(const dca_hard *h, const uint8_t *restrict x, uint8_t *restrict y)
{
    const int64_t n = h->cols, r = h->radius;
    const int64_t k = h->k, top = h->patterns / k;
    int64_t p = 0;
    for (int64_t j = -r; j <= r; j++)
        p = p * k + x[(j + n) % n];
    y[0] = h->table[p];
    for (int64_t i = 1; i < n; i++) {
        int64_t in = i + r;
        in -= in >= n ? n : 0;
        p = (p % top) * k + x[in];
        y[i] = h->table[p];
    }
}

/* Outer-totalistic: the live neighbours counted, the centre looked up. */
static void step_totalistic(const dca_hard *h, const uint8_t *restrict x, uint8_t *restrict y)
{
    const int m = h->m, centre = h->centre;
    for (int64_t r = 0; r < h->rows; r++)
        for (int64_t c = 0; c < h->cols; c++) {
            int count = 0, alive = 0;
            for (int s = 0; s < m; s++) {
                int64_t rr = r + h->dy[s], cc = c + h->dx[s];
                rr -= rr >= h->rows ? h->rows : 0;
                cc -= cc >= h->cols ? h->cols : 0;
                int v = x[rr * h->cols + cc];
                if (s == centre)
                    alive = v;
                else
                    count += v;
            }
            y[r * h->cols + c] = h->table[alive * m + count];
        }
}

void dca_hard_step(const dca_hard *h, const uint8_t *x, uint8_t *y)
{
    if (h->centre >= 0)
        step_totalistic(h, x, y);
    else if (h->sliding)
        step_sliding(h, x, y);
    else
        step_generic(h, x, y);
}

int64_t dca_hard_cells(const dca_hard *h) { return h->cells; }
int dca_hard_states(const dca_hard *h) { return h->k; }
int dca_hard_threads(const dca_hard *h) { return h->threads; }

void dca_hard_get_geometry(const dca_hard *h, dca_hard_geometry *g)
{
    *g = (dca_hard_geometry){h->rows, h->cols, h->m, h->centre, h->sdy, h->sdx};
}
