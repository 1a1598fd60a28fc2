/* Outer-totalistic kernels (DESIGN.md §1): rho depends on the centre state
 * and the number of live cells among the other M = m - 1 offsets.
 *
 * For a cell with centre value xc and neighbour values p_1..p_M (each
 * P(state 1)), the count N of live neighbours is Poisson-binomial. Its
 * distribution q is built by the recurrence
 *     q^(0) = (1),  q^(j)(n) = (1 - p_j) q^(j-1)(n) + p_j q^(j-1)(n-1),
 * O(M^2) per cell, and
 *     mu = sum_n q^(M)(n) D(n),  D(n) = (1 - xc) rho(0, n) + xc rho(1, n).
 * Derivatives, all without division (exact at p = 0 or 1):
 *     d mu / d rho(s, n) = [s ? xc : 1 - xc] q^(M)(n)
 *     d mu / d xc        = sum_n q^(M)(n) (rho(1, n) - rho(0, n))
 *     d mu / d p_j       = sum_n q^(j-1)(n) (b^(j)(n+1) - b^(j)(n))
 * where b^(M) = D and b^(j-1)(n) = (1 - p_j) b^(j)(n) + p_j b^(j)(n+1) is
 * the adjoint of the recurrence (the suffix of the product run backwards).
 *
 * Layout: a tile of T cells is worked on transposed (one row of T doubles
 * per quantity), so every operation is elementwise over the tile and
 * vectorises. Stage j of the recurrence (j + 1 rows) sits at row
 * j (j + 1) / 2 of Q; the value kernel keeps only the last stage. */
#include <string.h>

#include "kernel.h"

/* Rows of T doubles each. */
static int64_t stage_rows(int M) { return (int64_t)(M + 1) * (M + 2) / 2; }

int64_t dca_kernel_ot_work(const dca_geom *g, int64_t tile, int grad)
{
    const int M = g->m - 1;
    /* F (m rows), Q, A0/A1/weights (3 rows); gradients: b (M + 2 rows), partials (m rows). */
    int64_t rows = g->m + (grad ? stage_rows(M) : M + 1) + 3;
    if (grad)
        rows += (M + 2) + g->m;
    return rows * tile;
}

/* Neighbour j (0-based, centre skipped) -> its offset. */
static inline int nb_offset(const dca_geom *g, int j) { return j < g->centre ? j : j + 1; }

/* The count distribution for T cells from F. keep: store every stage. */
static void count_distribution(const dca_geom *g, const double *restrict F, int64_t T,
                               double *restrict Q, int keep)
{
    const int M = g->m - 1;
    for (int64_t t = 0; t < T; t++)
        Q[t] = 1.0;
    for (int j = 1; j <= M; j++) {
        const double *p = F + (int64_t)nb_offset(g, j - 1) * T;
        if (keep) {
            const double *prev = Q + (int64_t)(j - 1) * j / 2 * T;
            double *cur = Q + (int64_t)j * (j + 1) / 2 * T;
            for (int64_t t = 0; t < T; t++)
                cur[t] = prev[t] * (1.0 - p[t]);
            for (int n = 1; n < j; n++) {
                const double *a = prev + (int64_t)n * T, *b = prev + (int64_t)(n - 1) * T;
                double *c = cur + (int64_t)n * T;
                for (int64_t t = 0; t < T; t++)
                    c[t] = a[t] * (1.0 - p[t]) + b[t] * p[t];
            }
            const double *b = prev + (int64_t)(j - 1) * T;
            double *c = cur + (int64_t)j * T;
            for (int64_t t = 0; t < T; t++)
                c[t] = b[t] * p[t];
        } else {
            /* In place, from the top count down. */
            double *top = Q + (int64_t)j * T;
            const double *below = Q + (int64_t)(j - 1) * T;
            for (int64_t t = 0; t < T; t++)
                top[t] = below[t] * p[t];
            for (int n = j - 1; n >= 1; n--) {
                double *c = Q + (int64_t)n * T;
                const double *b = Q + (int64_t)(n - 1) * T;
                for (int64_t t = 0; t < T; t++)
                    c[t] = c[t] * (1.0 - p[t]) + b[t] * p[t];
            }
            for (int64_t t = 0; t < T; t++)
                Q[t] *= 1.0 - p[t];
        }
    }
}

/* A0 = sum_n q(n) rho(0, n), A1 = sum_n q(n) rho(1, n). */
static void centre_sums(const dca_geom *g, const double *restrict rho, const double *restrict q,
                        int64_t T, double *restrict A0, double *restrict A1)
{
    const int m = g->m;
    for (int64_t t = 0; t < T; t++)
        A0[t] = A1[t] = 0.0;
    for (int n = 0; n < m; n++) {
        const double r0 = rho[n], r1 = rho[m + n];
        const double *qn = q + (int64_t)n * T;
        for (int64_t t = 0; t < T; t++) {
            A0[t] += qn[t] * r0;
            A1[t] += qn[t] * r1;
        }
    }
}

static inline double clip01(double v) { return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); }

void dca_kernel_values_ot(const dca_geom *g, const double *restrict rho, const double *restrict x,
                          double *restrict y, int64_t c0, int64_t c1, double *restrict work)
{
    const int64_t T = c1 - c0;
    const int M = g->m - 1;
    double *F = work, *Q = F + (int64_t)g->m * T, *A0 = Q + (int64_t)(M + 1) * T, *A1 = A0 + T;
    dca_kernel_gather(g, x, c0, T, F);
    count_distribution(g, F, T, Q, 0);
    centre_sums(g, rho, Q, T, A0, A1);
    const double *xc = F + (int64_t)g->centre * T;
    for (int64_t t = 0; t < T; t++)
        y[c0 + t] = clip01(A0[t] + xc[t] * (A1[t] - A0[t]));
}

/* Shared by the tangent and adjoint kernels: the stages Q, the sums A0, A1
 * and, for per-cell weights wt (dE/dy, or 1 for plain partial
 * derivatives), the weighted partials part[s * ps + t] = wt[t] d mu(t) / d x_s
 * (ps: the row stride, T for a tile buffer, or the lattice's cell count to
 * write the adjoint's Gx rows in place). */
static void partials(const dca_geom *g, const double *restrict rho, const double *restrict F,
                     const double *restrict wt, int64_t T, double *restrict Q,
                     double *restrict A0, double *restrict A1, double *restrict b,
                     double *restrict part, int64_t ps)
{
    const int m = g->m, M = m - 1;
    const double *xc = F + (int64_t)g->centre * T;
    count_distribution(g, F, T, Q, 1);
    const double *q = Q + (int64_t)M * (M + 1) / 2 * T;
    centre_sums(g, rho, q, T, A0, A1);
    double *pc = part + (int64_t)g->centre * ps;
    for (int64_t t = 0; t < T; t++)
        pc[t] = wt ? wt[t] * (A1[t] - A0[t]) : A1[t] - A0[t];
    /* b^(M)(n) = wt D(n), n = 0..M. */
    for (int n = 0; n <= M; n++) {
        const double r0 = rho[n], r1 = rho[m + n];
        double *bn = b + (int64_t)n * T;
        for (int64_t t = 0; t < T; t++) {
            double d = r0 + xc[t] * (r1 - r0);
            bn[t] = wt ? wt[t] * d : d;
        }
    }
    for (int j = M; j >= 1; j--) {
        const double *p = F + (int64_t)nb_offset(g, j - 1) * T;
        const double *prev = Q + (int64_t)(j - 1) * j / 2 * T; /* q^(j-1): j rows */
        double *pj = part + (int64_t)nb_offset(g, j - 1) * ps;
        for (int64_t t = 0; t < T; t++)
            pj[t] = 0.0;
        for (int n = 0; n < j; n++) {
            const double *qn = prev + (int64_t)n * T;
            double *bn = b + (int64_t)n * T;
            const double *bn1 = b + (int64_t)(n + 1) * T;
            for (int64_t t = 0; t < T; t++) {
                pj[t] += qn[t] * (bn1[t] - bn[t]);
                bn[t] = bn[t] * (1.0 - p[t]) + bn1[t] * p[t];
            }
        }
    }
}

void dca_kernel_tangent_ot(const dca_geom *g, const double *restrict rho,
                           const double *restrict drho, const double *restrict x,
                           const double *restrict J, double *restrict Jn, int64_t c0, int64_t c1,
                           double *restrict work)
{
    const int64_t T = c1 - c0;
    const int m = g->m, M = m - 1;
    const int64_t P = 2 * (int64_t)m;
    double *F = work, *Q = F + (int64_t)m * T, *A0 = Q + stage_rows(M) * T, *A1 = A0 + T;
    double *b = A1 + 2 * T, *part = b + (int64_t)(M + 2) * T;
    dca_kernel_gather(g, x, c0, T, F);
    partials(g, rho, F, NULL, T, Q, A0, A1, b, part, T);
    const double *q = Q + (int64_t)M * (M + 1) / 2 * T;
    const double *xc = F + (int64_t)g->centre * T;
    for (int64_t t = 0; t < T; t++) {
        const int64_t c = c0 + t, row = c / g->cols, col = c - row * g->cols;
        double *out = Jn + c * P;
        for (int n = 0; n < m; n++) {
            out[n] = drho[n] * (1.0 - xc[t]) * q[(int64_t)n * T + t];
            out[m + n] = drho[m + n] * xc[t] * q[(int64_t)n * T + t];
        }
        for (int s = 0; s < m; s++) {
            int64_t rr = row + g->dy[s], cc = col + g->dx[s];
            rr -= rr >= g->rows ? g->rows : 0;
            cc -= cc >= g->cols ? g->cols : 0;
            const double d = part[(int64_t)s * T + t];
            const double *in = J + (rr * g->cols + cc) * P;
            for (int64_t i = 0; i < P; i++)
                out[i] += d * in[i];
        }
    }
}

void dca_kernel_adjoint_ot(const dca_geom *g, const double *restrict rho,
                           const double *restrict x, const double *restrict ybar,
                           double *restrict Grho, double *restrict Gx, int64_t c0, int64_t c1,
                           double *restrict work)
{
    const int64_t T = c1 - c0;
    const int m = g->m, M = m - 1;
    double *F = work, *Q = F + (int64_t)m * T, *A0 = Q + stage_rows(M) * T, *A1 = A0 + T;
    double *b = A1 + T;
    const double *wt = ybar + c0;
    dca_kernel_gather(g, x, c0, T, F);
    partials(g, rho, F, wt, T, Q, A0, A1, b, Gx + c0, g->cells);
    const double *q = Q + (int64_t)M * (M + 1) / 2 * T;
    const double *xc = F + (int64_t)g->centre * T;
    /* The rule gradient, summed over the tile in cell order. */
    for (int n = 0; n < m; n++) {
        const double *qn = q + (int64_t)n * T;
        double s0 = 0.0, s1 = 0.0;
        for (int64_t t = 0; t < T; t++) {
            s1 += wt[t] * xc[t] * qn[t];
            s0 += wt[t] * (1.0 - xc[t]) * qn[t];
        }
        Grho[n] += s0;
        Grho[m + n] += s1;
    }
}
