/* Value-step kernels. Layer 3 of API -> orchestration -> kernels: kernels
 * take read-only inputs, a range of cells and scratch memory; they never
 * allocate, read configuration, do I/O or open OpenMP regions.
 *
 * Layout: one configuration is `cells` cells in row-major order (a ring is a
 * torus with one row). Binary mode stores one double per cell, P(state 1);
 * softmax mode stores k doubles per cell. Offsets are pre-reduced to
 * [0, rows) x [0, cols), so a neighbour index needs one conditional
 * subtraction per axis; on a lattice smaller than the neighbourhood two
 * offsets may therefore name the same cell (DESIGN.md §1; configs/README.md).
 */
#ifndef DCA_KERNEL_H
#define DCA_KERNEL_H

#include <stdint.h>

typedef struct dca_geom {
    int64_t rows, cols, cells;
    int m;             /* offsets */
    const int64_t *dy; /* m row offsets in [0, rows) */
    const int64_t *dx; /* m column offsets in [0, cols) */
    int k;             /* states */
    int binary;        /* 1: a cell is P(state 1) */
    int outputs;       /* doubles per pattern in rho: 1 binary, k softmax */
    int cell_len;      /* doubles per cell: 1 binary, k softmax */
} dca_geom;

/* Neighbour indices of the cell at (r, col) (m of them, in offset order). */
static inline void dca_geom_neighbours_rc(const dca_geom *g, int64_t r, int64_t col,
                                          int64_t *restrict idx)
{
    for (int s = 0; s < g->m; s++) {
        int64_t rr = r + g->dy[s], cc = col + g->dx[s];
        rr -= rr >= g->rows ? g->rows : 0;
        cc -= cc >= g->cols ? g->cols : 0;
        idx[s] = rr * g->cols + cc;
    }
}

/* Neighbour indices of cell c. */
static inline void dca_geom_neighbours(const dca_geom *g, int64_t c, int64_t *restrict idx)
{
    const int64_t r = c / g->cols;
    dca_geom_neighbours_rc(g, r, c - r * g->cols, idx);
}

/* The map's last touch on one cell's raw sum acc (outputs doubles):
 * binary mode clips rounding excursions outside [0, 1] (mathematically mu is
 * a convex combination of rho values in [0, 1]); softmax mode divides by the
 * sum, which is 1 in exact arithmetic. Without it the deviation from the
 * simplex grows by a factor of m per step (sum mu = (sum x)^m), and after
 * ~20 steps rounding noise would dominate. Both are the identity on exact
 * values, so they change no derivative. */
static inline void dca_finish_cell(const dca_geom *g, const double *restrict acc,
                                   double *restrict out)
{
    if (g->binary) {
        double v = acc[0];
        out[0] = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
        return;
    }
    double sum = 0.0;
    for (int a = 0; a < g->k; a++)
        sum += acc[a];
    for (int a = 0; a < g->k; a++)
        out[a] = acc[a] / sum;
}

/* Reference twin: enumerates every pattern for every cell in [c0, c1).
 * rho: patterns x outputs. scratch: m int64 + outputs doubles (caller's). */
void dca_kernel_values_ref(const dca_geom *g, const double *restrict rho,
                           const double *restrict x, double *restrict y, int64_t c0, int64_t c1,
                           int64_t *restrict idx_scratch, double *restrict acc_scratch);

/* Split-neighbourhood GEMM kernel (DESIGN.md §4). The first mL offsets form
 * the leading part (KL = k^mL patterns), the rest the trailing part
 * (KR = k^(m-mL)). For the tile of cells [c0, c1) (T cells) it works on
 * transposed tables, patterns x cells, so that every per-cell operation is
 * an elementwise product over the tile (vectorisable):
 *   F      the neighbours' states, one row per offset (and state),
 *   PhiL   KL x T and PhiR  KR x T, the pattern products,
 *   Zt     N x T = Mr^T * PhiR with one DGEMM (N = KL * outputs),
 *   mu(c)(a) = sum_yL PhiL(yL, c) Zt(yL * outputs + a, c).
 * Mr is KR x N: Mr[yR][yL*outputs + a] = rho[(yL*KR + yR)*outputs + a]. */
typedef struct dca_split {
    int mL;
    int64_t KL, KR;
} dca_split;

int64_t dca_kernel_blas_work(const dca_geom *g, const dca_split *sp, int64_t tile);
void dca_kernel_blas_pack(const dca_geom *g, const dca_split *sp, const double *restrict rho,
                          double *restrict Mr);
void dca_kernel_values_blas(const dca_geom *g, const dca_split *sp, const double *restrict Mr,
                            const double *restrict x, double *restrict y, int64_t c0, int64_t c1,
                            double *restrict work);

#endif
