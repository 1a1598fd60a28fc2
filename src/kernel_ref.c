/* Reference twin of the value step: the DCA sum written as in the paper,
 *   mu(x)(g)(a) = sum_y rho(y)(a) prod_s x(g+s)(y_s),
 * one pattern at a time. Slow (k^m * m per cell) and obviously right. */
#include "kernel.h"

void dca_kernel_values_ref(const dca_geom *g, const double *restrict rho,
                           const double *restrict x, double *restrict y, int64_t c0, int64_t c1,
                           int64_t *restrict idx, double *restrict acc)
{
    const int m = g->m, k = g->k, out = g->outputs;
    int64_t patterns = 1;
    for (int s = 0; s < m; s++)
        patterns *= k;
    for (int64_t c = c0; c < c1; c++) {
        dca_geom_neighbours(g, c, idx);
        for (int a = 0; a < out; a++)
            acc[a] = 0.0;
        for (int64_t p = 0; p < patterns; p++) {
            /* Digit s of p (base k, first offset most significant). */
            double prod = 1.0;
            int64_t rest = p;
            for (int s = m - 1; s >= 0; s--) {
                int digit = (int)(rest % k);
                rest /= k;
                if (g->binary) {
                    double v = x[idx[s]];
                    prod *= digit ? v : 1.0 - v;
                } else {
                    prod *= x[idx[s] * k + digit];
                }
            }
            for (int a = 0; a < out; a++)
                acc[a] += rho[p * out + a] * prod;
        }
        dca_finish_cell(g, acc, y + c * g->cell_len);
    }
}
