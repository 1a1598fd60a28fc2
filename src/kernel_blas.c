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
    /* PhiL, PhiR, Z, one cell's sums, then m neighbour indices (int64, the
     * same size as a double). */
    return tile * (sp->KL + sp->KR + sp->KL * g->outputs) + g->outputs + g->m;
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

/* Tensor product of the factors of offsets idx[0..count): out[j] for the
 * pattern j of those offsets (first offset most significant). Built in
 * place from the top so that each entry is read before it is overwritten. */
static inline void build_phi(const dca_geom *g, const double *restrict x,
                             const int64_t *restrict idx, int count, double *restrict phi)
{
    phi[0] = 1.0;
    int64_t len = 1;
    if (g->binary) {
        for (int s = 0; s < count; s++) {
            const double p = x[idx[s]], q = 1.0 - p;
            for (int64_t j = len - 1; j >= 0; j--) {
                const double v = phi[j];
                phi[2 * j] = v * q;
                phi[2 * j + 1] = v * p;
            }
            len *= 2;
        }
        return;
    }
    const int k = g->k;
    for (int s = 0; s < count; s++) {
        const double *f = x + idx[s] * k;
        for (int64_t j = len - 1; j >= 0; j--) {
            const double v = phi[j];
            for (int b = k - 1; b >= 0; b--)
                phi[j * k + b] = v * f[b];
        }
        len *= k;
    }
}

void dca_kernel_values_blas(const dca_geom *g, const dca_split *sp, const double *restrict Mr,
                            const double *restrict x, double *restrict y, int64_t c0, int64_t c1,
                            double *restrict work)
{
    const int out = g->outputs, mL = sp->mL;
    const int64_t T = c1 - c0, KL = sp->KL, KR = sp->KR, N = KL * out;
    double *PL = work;
    double *PR = PL + T * KL;
    double *Z = PR + T * KR;
    double *acc = Z + T * N;
    int64_t *idx = (int64_t *)(acc + out);

    for (int64_t t = 0; t < T; t++) {
        dca_geom_neighbours(g, c0 + t, idx);
        build_phi(g, x, idx, mL, PL + t * KL);
        build_phi(g, x, idx + mL, g->m - mL, PR + t * KR);
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)N, (int)KR, 1.0, PR,
                (int)KR, Mr, (int)N, 0.0, Z, (int)N);
    for (int64_t t = 0; t < T; t++) {
        const double *pl = PL + t * KL, *z = Z + t * N;
        for (int a = 0; a < out; a++)
            acc[a] = 0.0;
        for (int64_t j = 0; j < KL; j++)
            for (int a = 0; a < out; a++)
                acc[a] += pl[j] * z[j * out + a];
        dca_finish_cell(g, acc, y + (c0 + t) * g->cell_len);
    }
}
