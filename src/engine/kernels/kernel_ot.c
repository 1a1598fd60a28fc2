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
#include <stdlib.h>
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

/* Cells per vector group in the register-blocked kernels, at most (float32). */
#define SVL_MAX 8

int64_t dca_kernel_ot_stripe_rows(const dca_geom *g, int64_t tile)
{
    if (g->m - 1 != 8 && g->m - 1 != 4)
        return 0; /* no register-blocked kernel */
    if (g->cell_len != 1 || g->rows < 2)
        return 0;
    int64_t hy = 0;
    for (int s = 0; s < g->m; s++) {
        int64_t d = g->dy[s] <= g->rows - g->dy[s] ? g->dy[s] : g->rows - g->dy[s];
        hy = d > hy ? d : hy;
    }
    const int64_t K = 2 * ((tile + g->cols - 1) / g->cols) + 2 * hy + 3;
    return K < g->rows ? K : g->rows;
}

int64_t dca_kernel_ot_stripe_work(const dca_geom *g, int64_t tile, int64_t K)
{
    /* ring, sums; the scratch parts of a tile widened to whole vector
     * groups (for a chunk that wraps around the ring) */
    return (int64_t)g->m * K * g->cols + 2 * g->m + (int64_t)g->m * (tile + 2 * SVL_MAX);
}

/* The largest M of the register-blocked kernels (kernel_ot_t.h). */
#define OTF_MAX 8
#define OTB_MAX (OTF_MAX + 1)

int dca_kernel_ot_centred(const dca_geom *g) { return g->m - 1 == 8 || g->m - 1 == 4; }

/* The basis change of the register-blocked kernels. With y_j = p_j - 1/2,
 * u = (1 + z)/2 and v = z - 1, each neighbour's factor of the count's
 * generating function is (1 - p_j) + p_j z = u + y_j v, so
 *     sum_n q(n) z^n = sum_n e_n(y) v^n u^(M - n)
 * and mu_s = sum_k q(k) rho(s, k) = sum_n e_n(y) c_s(n) with
 *     c_s(n) = sum_k B(n, k) rho(s, k),  B(n, k) = [z^k] (z - 1)^n ((1 + z)/2)^(M - n).
 * B's entries are integers over powers of 2 (exact in double for M <= 8);
 * e_n(y) is built by the recurrence e <- e + y_j (e shifted by one), half
 * the operations of the count recurrence, and its adjoint likewise. Every
 * term is bounded (|c_s(n)| <= 2^n, |e_n| <= C(M, n) / 2^n); on exact 0/1
 * states and rules every product and sum is exact. */
static void basis(int M, double B[OTB_MAX][OTB_MAX])
{
    for (int n = 0; n <= M; n++) {
        double poly[OTB_MAX] = {1};
        int deg = 0;
        for (int i = 0; i < M; i++, deg++) {
            /* times (z - 1) for the first n factors, (1 + z)/2 after */
            const double a0 = i < n ? -1.0 : 0.5, a1 = i < n ? 1.0 : 0.5;
            for (int k = deg + 1; k >= 0; k--)
                poly[k] = (k <= deg ? poly[k] * a0 : 0.0) + (k > 0 ? poly[k - 1] * a1 : 0.0);
        }
        for (int k = 0; k <= M; k++)
            B[n][k] = poly[k];
    }
}

void dca_ot_coefficients(int m, const double *restrict rho, double *restrict c)
{
    const int M = m - 1;
    double B[OTB_MAX][OTB_MAX];
    basis(M, B);
    for (int s = 0; s < 2; s++)
        for (int n = 0; n <= M; n++) {
            double v = 0.0;
            for (int k = 0; k <= M; k++)
                v += B[n][k] * rho[s * m + k];
            c[s * m + n] = v;
        }
}

void dca_ot_coefficients_adjoint(int m, double *v)
{
    const int M = m - 1;
    double B[OTB_MAX][OTB_MAX], r[2 * OTB_MAX];
    basis(M, B);
    for (int s = 0; s < 2; s++)
        for (int k = 0; k <= M; k++) {
            double a = 0.0;
            for (int n = 0; n <= M; n++)
                a += B[n][k] * v[s * m + n];
            r[s * m + k] = a;
        }
    memcpy(v, r, (size_t)(2 * m) * sizeof *v);
}

/* The register-blocked kernels round the products below, which a later
 * a*b + c*d would otherwise be free to fuse either way (-ffp-contract=fast
 * decides per inlined copy: the full and the partial vector groups, or the
 * stripe and the tile kernels, could differ in the last bit). An empty asm
 * makes the value opaque, so it is rounded where it is computed (at no
 * cost where a vector register holds it). */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__AVX__)
#define OT_ROUNDED(v) __asm__("" : "+x"(v)) /* a 256-bit register */
#else
#define OT_ROUNDED(v) __asm__("" : "+m"(v)) /* no such register: through memory */
#endif

/* Neighbour j (0-based, centre skipped) -> its offset. */
static inline int nb_offset(const dca_geom *g, int j) { return j < g->centre ? j : j + 1; }

#define REAL double
#define SFX(name) name
#include "kernel_ot_t.h"
#undef REAL
#undef SFX
#define REAL float
#define SFX(name) name##_f32
#include "kernel_ot_t.h"
#undef REAL
#undef SFX

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

