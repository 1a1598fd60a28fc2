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

/* ---- gradient reference twins ----------------------------------------------- */

int64_t dca_kernel_ref_grad_work(const dca_geom *g)
{
    return g->m + (int64_t)g->outputs * g->m * g->cell_len + 2 * g->outputs + 16;
}

static int64_t ipow(int64_t k, int e)
{
    int64_t r = 1;
    while (e-- > 0)
        r *= k;
    return r;
}

/* Factor of state digit y_s for neighbour value(s) at idx. */
static double factor(const dca_geom *g, const double *x, int64_t idx, int digit)
{
    if (g->binary)
        return digit ? x[idx] : 1.0 - x[idx];
    return x[idx * g->k + digit];
}

/* D[(a*m + s)*L + b] = d mu(c)(a) / d x(c+s)(b) (binary: d / d P(1)), by
 * enumerating patterns; the product over the other offsets is formed
 * factor by factor (never by dividing). */
static void cell_D(const dca_geom *g, const double *rho, const double *x, const int64_t *idx,
                   double *D)
{
    const int m = g->m, k = g->k, out = g->outputs, L = g->cell_len;
    const int64_t P = ipow(k, m);
    for (int64_t i = 0; i < (int64_t)out * m * L; i++)
        D[i] = 0.0;
    for (int64_t y = 0; y < P; y++)
        for (int s = 0; s < m; s++) {
            double others = 1.0;
            int ds = 0;
            for (int s2 = 0; s2 < m; s2++) {
                int digit = (int)((y / ipow(k, m - 1 - s2)) % k);
                if (s2 == s)
                    ds = digit;
                else
                    others *= factor(g, x, idx[s2], digit);
            }
            for (int a = 0; a < out; a++) {
                double r = rho[y * out + a] * others;
                if (g->binary)
                    D[(a * m + s) * L] += ds ? r : -r;
                else
                    D[(a * m + s) * L + ds] += r;
            }
        }
}

static double cell_phi(const dca_geom *g, const double *x, const int64_t *idx, int64_t y)
{
    double prod = 1.0;
    for (int s = 0; s < g->m; s++)
        prod *= factor(g, x, idx[s], (int)((y / ipow(g->k, g->m - 1 - s)) % g->k));
    return prod;
}

/* The raw (unnormalised) mu of one cell. */
static void cell_mu(const dca_geom *g, const double *rho, const double *x, const int64_t *idx,
                    double *mu)
{
    const int out = g->outputs;
    for (int a = 0; a < out; a++)
        mu[a] = 0.0;
    for (int64_t y = 0; y < ipow(g->k, g->m); y++) {
        double phi = cell_phi(g, x, idx, y);
        for (int a = 0; a < out; a++)
            mu[a] += rho[y * out + a] * phi;
    }
}

void dca_kernel_tangent_ref(const dca_geom *g, const double *restrict rho,
                            const double *restrict drho, const double *restrict x,
                            const double *restrict J, double *restrict Jn, int64_t c0, int64_t c1,
                            double *restrict scratch)
{
    const int m = g->m, out = g->outputs, L = g->cell_len;
    const int64_t patterns = ipow(g->k, m), P = patterns * out;
    int64_t *idx = (int64_t *)scratch;
    double *D = scratch + m;
    for (int64_t c = c0; c < c1; c++) {
        dca_geom_neighbours(g, c, idx);
        cell_D(g, rho, x, idx, D);
        for (int a = 0; a < out; a++) {
            double *jn = Jn + (c * L + a) * P;
            for (int64_t p = 0; p < P; p++) {
                double acc = 0.0;
                for (int s = 0; s < m; s++)
                    for (int b = 0; b < L; b++)
                        acc += D[(a * m + s) * L + b] * J[(idx[s] * L + b) * P + p];
                jn[p] = acc;
            }
        }
        for (int64_t y = 0; y < patterns; y++) {
            double phi = cell_phi(g, x, idx, y);
            if (g->binary) {
                Jn[c * P + y] += drho[y] * phi;
                continue;
            }
            for (int a = 0; a < out; a++)
                for (int a2 = 0; a2 < out; a2++)
                    Jn[(c * L + a) * P + y * out + a2] +=
                        rho[y * out + a] * ((a == a2) - rho[y * out + a2]) * phi;
        }
        if (!g->binary) {
            double *mu = D + (int64_t)out * m * L;
            cell_mu(g, rho, x, idx, mu);
            dca_softmax_tangent(out, mu, 1, Jn + c * L * P, P);
        }
    }
}

void dca_kernel_adjoint_ref(const dca_geom *g, const double *restrict rho,
                            const double *restrict x, const double *restrict ybar,
                            double *restrict Grho, double *restrict Gx, int64_t c0, int64_t c1,
                            double *restrict scratch)
{
    const int m = g->m, out = g->outputs, L = g->cell_len;
    const int64_t patterns = ipow(g->k, m);
    int64_t *idx = (int64_t *)scratch;
    double *D = scratch + m, *mu = D + (int64_t)out * m * L, *yb = mu + out;
    for (int64_t c = c0; c < c1; c++) {
        dca_geom_neighbours(g, c, idx);
        cell_D(g, rho, x, idx, D);
        for (int a = 0; a < out; a++)
            yb[a] = ybar[c * L + a];
        if (!g->binary) {
            cell_mu(g, rho, x, idx, mu);
            dca_softmax_adjoint(out, mu, 1, yb, 1);
        }
        for (int64_t y = 0; y < patterns; y++) {
            double phi = cell_phi(g, x, idx, y);
            for (int a = 0; a < out; a++)
                Grho[y * out + a] += yb[a] * phi;
        }
        for (int s = 0; s < m; s++)
            for (int b = 0; b < L; b++) {
                double acc = 0.0;
                for (int a = 0; a < out; a++)
                    acc += yb[a] * D[(a * m + s) * L + b];
                Gx[((int64_t)s * L + b) * g->cells + c] = acc;
            }
    }
}
