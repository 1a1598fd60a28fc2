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
    int centre;        /* outer-totalistic rules: the centre offset; -1 for tables */
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
/* The neighbours' states of cells [c0, c0 + T) into F: row (s * cell_len + b)
 * holds state b of offset s's neighbour for each of the T cells. */
void dca_kernel_gather(const dca_geom *g, const double *restrict x, int64_t c0, int64_t T,
                       double *restrict F);
void dca_kernel_blas_pack(const dca_geom *g, const dca_split *sp, const double *restrict rho,
                          double *restrict Mr);
void dca_kernel_values_blas(const dca_geom *g, const dca_split *sp, const double *restrict Mr,
                            const double *restrict x, double *restrict y, int64_t c0, int64_t c1,
                            double *restrict work);

/* float32 twins of the above (precision = float32): the same contracts with
 * F, Mr, work (dca_kernel_blas_work floats) in single precision; x and y
 * stay double. */
void dca_kernel_gather_f32(const dca_geom *g, const double *restrict x, int64_t c0, int64_t T,
                           float *restrict F);
void dca_kernel_blas_pack_f32(const dca_geom *g, const dca_split *sp, const double *restrict rho,
                              float *restrict Mr);
void dca_kernel_values_blas_f32(const dca_geom *g, const dca_split *sp, const float *restrict Mr,
                                const double *restrict x, double *restrict y, int64_t c0,
                                int64_t c1, float *restrict work);

/* Fused value kernel (kernel_fused.c) for binary table rules with
 * 2 <= m <= DCA_FUSED_MAX_M: the same contract as dca_kernel_values_blas,
 * with rho in pattern order (not packed) and the split of dca_fused_split
 * (KR = 2^min(m-1, 4)). work: dca_kernel_fused_work numbers. */
#define DCA_FUSED_MAX_M 14
dca_split dca_fused_split(int m);
/* The rule (2^m entries, pattern order) in the basis the fused kernel takes:
 * d[S] multiplies the product of (x_s - 1/2) over the offsets s in S. */
void dca_fused_coefficients(int m, const double *restrict rho, double *restrict d);
int64_t dca_kernel_fused_work(const dca_geom *g, const dca_split *sp, int64_t tile);
void dca_kernel_values_fused(const dca_geom *g, const dca_split *sp, const double *restrict rho,
                             const double *restrict x, double *restrict y, int64_t c0, int64_t c1,
                             double *restrict work);
void dca_kernel_values_fused_f32(const dca_geom *g, const dca_split *sp, const float *restrict rho,
                                 const double *restrict x, double *restrict y, int64_t c0,
                                 int64_t c1, float *restrict work);

/* Fused adjoint (kernel_fused.c) for binary table rules with 2 <= m <=
 * DCA_FUSED_ADJ_MAX_M, the split of dca_fused_split and d from
 * dca_fused_coefficients: the contract of dca_kernel_adjoint_blas, except
 * that Gd (KL*KR, pattern order) accumulates dE/dd, the gradient in the
 * centred basis; dca_fused_coefficients_adjoint turns it into dE/drho
 * (the transposed basis change, in place).
 * work: dca_kernel_fused_adjoint_work numbers. */
#define DCA_FUSED_ADJ_MAX_M 10
int64_t dca_kernel_fused_adjoint_work(const dca_geom *g, const dca_split *sp, int64_t tile);
void dca_kernel_adjoint_fused(const dca_geom *g, const dca_split *sp, const double *restrict d,
                              const double *restrict x, const double *restrict ybar,
                              double *restrict Gd, double *restrict Gx, int64_t c0, int64_t c1,
                              double *restrict work);
void dca_kernel_adjoint_fused_f32(const dca_geom *g, const dca_split *sp, const float *restrict d,
                                  const double *restrict x, const double *restrict ybar,
                                  float *restrict Gd, float *restrict Gx, int64_t c0, int64_t c1,
                                  float *restrict work);
void dca_fused_coefficients_adjoint(int m, double *v); /* in place, 2^m entries */

#endif

/* ---- gradients ----------------------------------------------------------------
 * Derivatives of the computed map. Binary mode: the clip of dca_finish_cell
 * acts only on rounding excursions and is differentiated as the identity.
 * Softmax mode: the renormalisation y = mu / sum(mu) is differentiated
 * exactly, dy = (I - y 1^T) dmu / sum(mu). It is the identity on tangents
 * whose states sum to zero, but rounding leaves components along (1..1) in
 * every tangent, and the unnormalised map multiplies those by m per step:
 * without the projection forward and reverse mode drift apart within ~20
 * steps. (dca_softmax_tangent and dca_softmax_adjoint below.)
 *
 * Tangent (forward mode): J holds d x / d theta for one configuration,
 * laid out cells x cell_len x P (P = patterns x outputs, the weights in
 * their storage order). One step:
 *   Jn(c)[a][:] = d rho / d w (direct term) * Phi_c + sum_s sum_b D_s(c)[a][b] J(c+s)[b][:]
 * with D_s(c)[a][b] = d mu(c)(a) / d x(c+s)(b) (binary: d/d P(1)).
 *
 * Adjoint (reverse mode): ybar holds dE/dy for the whole configuration
 * (cells x cell_len); the kernel reads the tile's part. It
 *  - adds sum_c ybar(c)[a] Phi_c(yL, yR) to Gm[yR][yL*outputs + a] (the
 *    rule gradient in the packed layout of Mr; dE/d rho after unpacking),
 *  - writes, for every offset s, state b and tile cell c, the part of dE/dx
 *    that cell c sends to its neighbour c+s into Gx[(s*cell_len + b)*cells + c];
 *    dca_kernel_adjoint_gather sums those parts into dE/dx in offset order.
 * Mv is Mr regrouped per output state: Mv[a*KR + yR][yL] = rho[(yL*KR + yR)*outputs + a]. */
/* Forward: the k rows of one cell's tangent (P each, stride P), d mu ->
 * d y in place, given the cell's raw mu (k values, stride ms). */
static inline void dca_softmax_tangent(int k, const double *restrict mu, int64_t ms,
                                       double *restrict J, int64_t P)
{
    double sum = 0.0;
    for (int a = 0; a < k; a++)
        sum += mu[a * ms];
    for (int64_t p = 0; p < P; p++) {
        double col = 0.0;
        for (int a = 0; a < k; a++)
            col += J[a * P + p];
        for (int a = 0; a < k; a++)
            J[a * P + p] = (J[a * P + p] - mu[a * ms] / sum * col) / sum;
    }
}

/* Reverse: one cell's dE/dy (k values, stride ys) -> dE/dmu in place,
 * given its raw mu (stride ms). In both precisions: dca_softmax_adjoint
 * (double) and dca_softmax_adjoint_f32 (the float32 BLAS kernels). */
#define DCA_DEFINE_SOFTMAX_ADJOINT(NAME, REAL)                                               \
    static inline void NAME(int k, const REAL *restrict mu, int64_t ms, REAL *restrict ybar, \
                            int64_t ys)                                                      \
    {                                                                                        \
        REAL sum = 0, dot = 0;                                                               \
        for (int a = 0; a < k; a++)                                                          \
            sum += mu[a * ms];                                                               \
        for (int a = 0; a < k; a++)                                                          \
            dot += mu[a * ms] / sum * ybar[a * ys];                                          \
        for (int a = 0; a < k; a++)                                                          \
            ybar[a * ys] = (ybar[a * ys] - dot) / sum;                                       \
    }
DCA_DEFINE_SOFTMAX_ADJOINT(dca_softmax_adjoint, double)
DCA_DEFINE_SOFTMAX_ADJOINT(dca_softmax_adjoint_f32, float)

int64_t dca_kernel_grad_work(const dca_geom *g, const dca_split *sp, int64_t tile);
void dca_kernel_blas_pack_v(const dca_geom *g, const dca_split *sp, const double *restrict rho,
                            double *restrict Mv);
/* drho: d rho / d w for the direct term: binary rho(1-rho) per pattern;
 * softmax: unused (rho is used), may be NULL. */
void dca_kernel_tangent_blas(const dca_geom *g, const dca_split *sp, const double *restrict Mr,
                             const double *restrict Mv, const double *restrict rho,
                             const double *restrict drho, const double *restrict x,
                             const double *restrict J, double *restrict Jn, int64_t c0, int64_t c1,
                             double *restrict work);
void dca_kernel_adjoint_blas(const dca_geom *g, const dca_split *sp, const double *restrict Mr,
                             const double *restrict x, const double *restrict ybar,
                             double *restrict Gm, double *restrict Gx, int64_t c0, int64_t c1,
                             double *restrict work);
/* xbar(c)[b] = sum_s Gx[(s*cell_len + b)*cells + (c - offset_s)], s in order, for [c0, c1). */
void dca_kernel_adjoint_gather(const dca_geom *g, const double *restrict Gx,
                               double *restrict xbar, int64_t c0, int64_t c1);
/* float32 twins: Mr, Gm, Gx and work (dca_kernel_grad_work floats) in
 * single precision; x, ybar and xbar stay double (the parts of xbar are
 * added in double). */
void dca_kernel_adjoint_blas_f32(const dca_geom *g, const dca_split *sp,
                                 const float *restrict Mr, const double *restrict x,
                                 const double *restrict ybar, float *restrict Gm,
                                 float *restrict Gx, int64_t c0, int64_t c1,
                                 float *restrict work);
void dca_kernel_adjoint_gather_f32(const dca_geom *g, const float *restrict Gx,
                                   double *restrict xbar, int64_t c0, int64_t c1);

/* Reference twins: enumerate every pattern per cell. Gm here is dE/d rho in
 * rho's own layout (patterns x outputs). scratch: dca_kernel_ref_grad_work
 * doubles. */
int64_t dca_kernel_ref_grad_work(const dca_geom *g);  /* includes 2 * outputs for mu, ybar */
void dca_kernel_tangent_ref(const dca_geom *g, const double *restrict rho,
                            const double *restrict drho, const double *restrict x,
                            const double *restrict J, double *restrict Jn, int64_t c0, int64_t c1,
                            double *restrict scratch);
void dca_kernel_adjoint_ref(const dca_geom *g, const double *restrict rho,
                            const double *restrict x, const double *restrict ybar_tile,
                            double *restrict Grho, double *restrict Gx, int64_t c0, int64_t c1,
                            double *restrict scratch);

/* ---- outer-totalistic kernels (kernel_ot.c) --------------------------------
 * Binary, g->centre >= 0; rho and drho are the 2m entries (centre state,
 * live-neighbour count). Same contracts as the table kernels: the tangent
 * kernel writes Jn (cells x 2m) for [c0, c1); the adjoint kernel adds the
 * tile's dE/d rho to Grho (2m, rho's layout) as one sum (cell by cell; for 4
 * and 8 neighbours, lane sums of the vector kernel added in lane order) and
 * writes Gx as dca_kernel_adjoint_gather expects. work: dca_kernel_ot_work
 * doubles. */
int64_t dca_kernel_ot_work(const dca_geom *g, int64_t tile, int grad);
/* For 4 and 8 neighbours (the register-blocked kernels) the value, adjoint
 * and stripe kernels take the rule in the centred basis instead of rho:
 * c = (c0, c1), mu = sum_n e_n(x - 1/2) (c0_n + xc (c1_n - c0_n)) with e_n
 * the elementary symmetric polynomials of the neighbours' x_j - 1/2, and
 * their Grho accumulates dE/dc; dca_ot_coefficients_adjoint turns it into
 * dE/drho (the transposed basis change, in place). The tangent kernel and
 * the other neighbourhoods take rho. */
#define DCA_OT_MAX_M 8 /* the largest neighbour count in the centred basis */
int dca_kernel_ot_centred(const dca_geom *g);
void dca_ot_coefficients(int m, const double *restrict rho, double *restrict c);
void dca_ot_coefficients_adjoint(int m, double *v);
void dca_kernel_values_ot(const dca_geom *g, const double *restrict rho, const double *restrict x,
                          double *restrict y, int64_t c0, int64_t c1, double *restrict work);
void dca_kernel_tangent_ot(const dca_geom *g, const double *restrict rho,
                           const double *restrict drho, const double *restrict x,
                           const double *restrict J, double *restrict Jn, int64_t c0, int64_t c1,
                           double *restrict work);
void dca_kernel_adjoint_ot(const dca_geom *g, const double *restrict rho,
                           const double *restrict x, const double *restrict ybar,
                           double *restrict Grho, double *restrict Gx, int64_t c0, int64_t c1,
                           double *restrict work);
/* The adjoint of a stripe of one configuration (tiles[0] .. tiles[ntiles]:
 * consecutive tiles of the plan's size `tile`, in order) straight into dE/dx
 * (xbar), without a lattice-wide Gx: the parts the stripe's cells gather are
 * computed a tile at a time into a ring of K lattice rows (halo rows either
 * side recomputed) and gathered while in cache. Grho[k]: the block sum that
 * tile k's rule gradient is added to. Bitwise the unit kernel followed by
 * dca_kernel_adjoint_gather. For 4 and 8 neighbours (von Neumann and Moore
 * radius 1) on 2D lattices: dca_kernel_ot_stripe_rows gives K (0: not
 * offered; K = rows: the ring is the lattice) and dca_kernel_ot_stripe_work
 * the workspace, in numbers of the kernel's precision. */
int64_t dca_kernel_ot_stripe_rows(const dca_geom *g, int64_t tile);
int64_t dca_kernel_ot_stripe_work(const dca_geom *g, int64_t tile, int64_t K);
void dca_kernel_adjoint_ot_stripe(const dca_geom *g, const double *restrict rho,
                                  const double *restrict x, const double *restrict ybar,
                                  double *restrict xbar, const int64_t *restrict tiles,
                                  int64_t ntiles, double *const *Grho, int64_t tile, int64_t K,
                                  double *restrict work);
void dca_kernel_adjoint_ot_stripe_f32(const dca_geom *g, const float *restrict rho,
                                      const double *restrict x, const double *restrict ybar,
                                      double *restrict xbar, const int64_t *restrict tiles,
                                      int64_t ntiles, float *const *Grho, int64_t tile,
                                      int64_t K, float *restrict work);
/* float32 twins (precision = float32): rho, Grho, Gx and work (the same
 * number of floats) in single precision; x, y and ybar stay double. */
void dca_kernel_values_ot_f32(const dca_geom *g, const float *restrict rho,
                              const double *restrict x, double *restrict y, int64_t c0,
                              int64_t c1, float *restrict work);
void dca_kernel_adjoint_ot_f32(const dca_geom *g, const float *restrict rho,
                               const double *restrict x, const double *restrict ybar,
                               float *restrict Grho, float *restrict Gx, int64_t c0, int64_t c1,
                               float *restrict work);
