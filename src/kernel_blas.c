/* Split-neighbourhood value kernel over BLAS (DESIGN.md §4).
 *
 * Assumptions: x and y are one configuration each (g->cells cells), do not
 * overlap; Mr is packed by dca_kernel_blas_pack; work holds
 * dca_kernel_blas_work() doubles and is private to the caller's thread. The
 * DGEMM runs single-threaded because the caller is inside an OpenMP region
 * (the OpenMP build of OpenBLAS does so by itself). */
#include "kernel.h"

#include <cblas.h>

int64_t dca_kernel_blas_work(const dca_geom *g, const dca_split *sp, int64_t tile)
{
    /* F (m * cell_len rows), PhiL, PhiR, Zt, one row of sums per output. */
    return tile * ((int64_t)g->m * g->cell_len + sp->KL + sp->KR + sp->KL * g->outputs +
                   g->outputs);
}

void dca_kernel_blas_pack(const dca_geom *g, const dca_split *sp, const double *restrict rho,
                          double *restrict Mr)
{
    const int out = g->outputs;
    const int64_t KL = sp->KL, KR = sp->KR, N = KL * out;
    for (int64_t yL = 0; yL < KL; yL++)
        for (int64_t yR = 0; yR < KR; yR++)
            for (int a = 0; a < out; a++)
                Mr[yR * N + yL * out + a] = rho[(yL * KR + yR) * out + a];
}

/* Gathers the neighbours' states of cells [c0, c0 + T) into F: row
 * (s * cell_len + b) holds state b of offset s's neighbour for each cell.
 * A tile is cut into row segments of the lattice; within a segment the
 * neighbours of one offset are one contiguous run of a lattice row, split
 * at most once by the wrap-around. */
static void gather(const dca_geom *g, const double *restrict x, int64_t c0, int64_t T,
                   double *restrict F)
{
    const int64_t cols = g->cols;
    const int L = g->cell_len;
    int64_t t = 0;
    while (t < T) {
        const int64_t c = c0 + t, row = c / cols, col = c - row * cols;
        const int64_t seg = T - t < cols - col ? T - t : cols - col;
        for (int s = 0; s < g->m; s++) {
            int64_t rr = row + g->dy[s];
            rr -= rr >= g->rows ? g->rows : 0;
            const double *src = x + rr * cols * L;
            int64_t cc = col + g->dx[s];
            cc -= cc >= cols ? cols : 0;
            for (int b = 0; b < L; b++) {
                double *dst = F + ((int64_t)s * L + b) * T + t;
                int64_t c2 = cc;
                for (int64_t j = 0; j < seg; j++) {
                    dst[j] = src[c2 * L + b];
                    c2 = c2 + 1 == cols ? 0 : c2 + 1;
                }
            }
        }
        t += seg;
    }
}

/* Pattern products of offsets [s0, s1) for T cells into P (K x T, row
 * stride T), pattern index with offset s0 most significant. Built from the
 * last offset to the first, each prepended as the new most significant
 * digit: block b of the new table is (state b) x (old table), elementwise
 * over cells; block 0 last, in place. */
static void build_phi(const dca_geom *g, const double *restrict F, int s0, int s1, int64_t T,
                      double *restrict P)
{
    for (int64_t t = 0; t < T; t++)
        P[t] = 1.0;
    int64_t len = 1;
    const int k = g->k, L = g->cell_len;
    for (int s = s1 - 1; s >= s0; s--) {
        const double *f = F + (int64_t)s * L * T;
        if (g->binary) {
            for (int64_t j = 0; j < len; j++) {
                double *lo = P + j * T, *hi = P + (len + j) * T;
                for (int64_t t = 0; t < T; t++) {
                    hi[t] = lo[t] * f[t];
                    lo[t] *= 1.0 - f[t];
                }
            }
        } else {
            for (int b = k - 1; b >= 0; b--) {
                const double *fb = f + (int64_t)b * T;
                for (int64_t j = 0; j < len; j++) {
                    double *src = P + j * T, *dst = P + (b * len + j) * T;
                    for (int64_t t = 0; t < T; t++)
                        dst[t] = src[t] * fb[t];
                }
            }
        }
        len *= k;
    }
}

void dca_kernel_values_blas(const dca_geom *g, const dca_split *sp, const double *restrict Mr,
                            const double *restrict x, double *restrict y, int64_t c0, int64_t c1,
                            double *restrict work)
{
    const int out = g->outputs;
    const int64_t T = c1 - c0, KL = sp->KL, KR = sp->KR, N = KL * out;
    double *F = work;
    double *PL = F + (int64_t)g->m * g->cell_len * T;
    double *PR = PL + KL * T;
    double *Zt = PR + KR * T;
    double *acc = Zt + N * T;

    gather(g, x, c0, T, F);
    build_phi(g, F, 0, sp->mL, T, PL);
    build_phi(g, F, sp->mL, g->m, T, PR);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)T, (int)KR, 1.0, Mr,
                (int)N, PR, (int)T, 0.0, Zt, (int)T);
    /* acc(a, c) = sum_yL PhiL(yL, c) Zt(yL*out + a, c), yL in order. */
    for (int a = 0; a < out; a++) {
        double *acc_a = acc + (int64_t)a * T;
        for (int64_t t = 0; t < T; t++)
            acc_a[t] = 0.0;
        for (int64_t j = 0; j < KL; j++) {
            const double *pl = PL + j * T, *z = Zt + (j * out + a) * T;
            for (int64_t t = 0; t < T; t++)
                acc_a[t] += pl[t] * z[t];
        }
    }
    if (g->binary) {
        /* Clip rounding excursions: see dca_finish_cell. */
        double *yy = y + c0;
        for (int64_t t = 0; t < T; t++) {
            double v = acc[t];
            yy[t] = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
        }
        return;
    }
    for (int64_t t = 0; t < T; t++) {
        double sum = 0.0;
        for (int a = 0; a < out; a++)
            sum += acc[(int64_t)a * T + t];
        for (int a = 0; a < out; a++)
            y[(c0 + t) * out + a] = acc[(int64_t)a * T + t] / sum;
    }
}
