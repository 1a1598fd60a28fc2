/* Split-neighbourhood kernels over BLAS (DESIGN.md §4), in float64 and
 * float32 (kernel_blas_t.h, included once per precision).
 *
 * Assumptions: x and y are one configuration each (g->cells cells), do not
 * overlap; Mr is packed by dca_kernel_blas_pack; work holds
 * dca_kernel_blas_work() doubles and is private to the caller's thread. The
 * DGEMM runs single-threaded because the caller is inside an OpenMP region
 * (the OpenMP build of OpenBLAS does so by itself). */
#include "kernel.h"

#include <cblas.h>
#include <string.h>

static int64_t ipow(int64_t k, int e)
{
    int64_t r = 1;
    while (e-- > 0)
        r *= k;
    return r;
}

/* Doubles of mlgrad's scratch for r offsets (K = k^r patterns) and T cells:
 * suffix levels k^1..k^(r-1) (< 2K rows), two prefix levels (< 2K rows),
 * and one row of factors. */
static int64_t mlgrad_work(int64_t K, int64_t T) { return (4 * K + 4) * T; }

int64_t dca_kernel_grad_work(const dca_geom *g, const dca_split *sp, int64_t tile)
{
    const int64_t L = g->cell_len, out = g->outputs, N = sp->KL * out;
    const int64_t Kmax = sp->KL > sp->KR ? sp->KL : sp->KR;
    /* F, PL, PR, Zt, then: Wst (N) or V (out*KR); u (KL); v (KR); D (out*m*L);
     * mlgrad scratch; neighbour indices (m). */
    int64_t rows = (int64_t)g->m * L + sp->KL + sp->KR + N + (N > out * sp->KR ? N : out * sp->KR) +
                   sp->KL + sp->KR + out * g->m * L;
    return tile * rows + mlgrad_work(Kmax, tile) + g->m + 64;
}

void dca_kernel_blas_pack_v(const dca_geom *g, const dca_split *sp, const double *restrict rho,
                            double *restrict Mv)
{
    const int out = g->outputs;
    const int64_t KL = sp->KL, KR = sp->KR;
    for (int a = 0; a < out; a++)
        for (int64_t yR = 0; yR < KR; yR++)
            for (int64_t yL = 0; yL < KL; yL++)
                Mv[(a * KR + yR) * KL + yL] = rho[(yL * KR + yR) * out + a];
}


int64_t dca_kernel_blas_work(const dca_geom *g, const dca_split *sp, int64_t tile)
{
    /* F (m * cell_len rows), PhiL, PhiR, Zt, one row of sums per output. */
    return tile * ((int64_t)g->m * g->cell_len + sp->KL + sp->KR + sp->KL * g->outputs +
                   g->outputs);
}

/* A contiguous run of n states into a tile row. */
static inline void copy_run(double *restrict dst, const double *restrict src, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof *dst);
}

static inline void copy_run_f32(float *restrict dst, const double *restrict src, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        dst[j] = (float)src[j];
}

#define REAL double
#define SFX(name) name
#define GEMM cblas_dgemm
#include "kernel_blas_t.h"
#undef REAL
#undef SFX
#undef GEMM

#define REAL float
#define SFX(name) name##_f32
#define GEMM cblas_sgemm
#include "kernel_blas_t.h"
#undef REAL
#undef SFX
#undef GEMM

/* ---- forward mode (float64 only) ------------------------------------------ */

void dca_kernel_tangent_blas(const dca_geom *g, const dca_split *sp, const double *restrict Mr,
                             const double *restrict Mv, const double *restrict rho,
                             const double *restrict drho, const double *restrict x,
                             const double *restrict J, double *restrict Jn, int64_t c0, int64_t c1,
                             double *restrict work)
{
    const int out = g->outputs, L = g->cell_len, m = g->m, mL = sp->mL;
    const int64_t T = c1 - c0, KL = sp->KL, KR = sp->KR, P = KL * KR * out;
    grad_ws w = grad_layout(g, sp, T, work);
    const int64_t Kmax = KL > KR ? KL : KR;
    int64_t *idx = (int64_t *)(w.scratch + mlgrad_work(Kmax, T));
    tile_forward(g, sp, Mr, x, c0, T, w.F, w.PL, w.PR, w.Zt);
    /* V = Mv PhiL: row (a, yR) is sum_yL rho[(yL, yR), a] PhiL(yL). */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(out * KR), (int)T, (int)KL, 1.0,
                Mv, (int)KL, w.PL, (int)T, 0.0, w.W, (int)T);
    for (int a = 0; a < out; a++) {
        for (int64_t yL = 0; yL < KL; yL++)
            for (int64_t t = 0; t < T; t++)
                w.u[yL * T + t] = w.Zt[(yL * out + a) * T + t];
        double *Da = w.D + (int64_t)a * m * L * T;
        mlgrad(g, w.F, 0, mL, T, w.u, Da, w.scratch);
        mlgrad(g, w.F, mL, m - mL, T, w.W + (int64_t)a * KR * T, Da + (int64_t)mL * L * T,
               w.scratch);
    }
    /* Softmax: the raw mu of each cell (rows a x T), for the projection.
     * W (V) is free again: mlgrad has consumed it. */
    double *mu = w.W;
    if (!g->binary)
        mu_rows(g, sp, w.PL, w.Zt, T, mu);
    int64_t row = c0 / g->cols, col = c0 - row * g->cols;
    for (int64_t t = 0; t < T; t++) {
        const int64_t c = c0 + t;
        dca_geom_neighbours_rc(g, row, col, idx);
        if (++col == g->cols) {
            col = 0;
            row++;
        }
        for (int a = 0; a < out; a++) {
            double *jn = Jn + (c * L + a) * P;
            for (int64_t p = 0; p < P; p++)
                jn[p] = 0.0;
            for (int s = 0; s < m; s++)
                for (int b = 0; b < L; b++) {
                    const double d = w.D[(((int64_t)a * m + s) * L + b) * T + t];
                    const double *jr = J + (idx[s] * L + b) * P;
                    for (int64_t p = 0; p < P; p++)
                        jn[p] += d * jr[p];
                }
        }
        /* Direct term: d rho / d w times the pattern products. */
        for (int64_t yL = 0; yL < KL; yL++) {
            const double pl = w.PL[yL * T + t];
            for (int64_t yR = 0; yR < KR; yR++) {
                const double phi = pl * w.PR[yR * T + t];
                const int64_t y = yL * KR + yR;
                if (g->binary) {
                    Jn[c * P + y] += drho[y] * phi;
                    continue;
                }
                const double *r = rho + y * out;
                for (int a = 0; a < out; a++) {
                    double *jn = Jn + (c * L + a) * P + y * out;
                    for (int a2 = 0; a2 < out; a2++)
                        jn[a2] += r[a] * ((a == a2) - r[a2]) * phi;
                }
            }
        }
        if (!g->binary)
            dca_softmax_tangent(out, mu + t, T, Jn + c * L * P, P);
    }
}

