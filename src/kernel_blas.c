/* Split-neighbourhood value kernel over BLAS (DESIGN.md §4).
 *
 * Assumptions: x and y are one configuration each (g->cells cells), do not
 * overlap; Mr is packed by dca_kernel_blas_pack; work holds
 * dca_kernel_blas_work() doubles and is private to the caller's thread. The
 * DGEMM runs single-threaded because the caller is inside an OpenMP region
 * (the OpenMP build of OpenBLAS does so by itself). */
#include "kernel.h"

#include <cblas.h>
#include <string.h>

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
void dca_kernel_gather(const dca_geom *g, const double *restrict x, int64_t c0, int64_t T,
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
            const int64_t first = seg < cols - cc ? seg : cols - cc;
            if (L == 1) {
                double *dst = F + (int64_t)s * T + t;
                memcpy(dst, src + cc, (size_t)first * sizeof *dst);
                memcpy(dst + first, src, (size_t)(seg - first) * sizeof *dst);
                continue;
            }
            for (int b = 0; b < L; b++) {
                double *dst = F + ((int64_t)s * L + b) * T + t;
                for (int64_t j = 0; j < first; j++)
                    dst[j] = src[(cc + j) * L + b];
                for (int64_t j = first; j < seg; j++)
                    dst[j] = src[(j - first) * L + b];
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

/* The value kernel's first half for a tile: factors, pattern products and
 * Zt = Mr^T PhiR. */
static void tile_forward(const dca_geom *g, const dca_split *sp, const double *restrict Mr,
                         const double *restrict x, int64_t c0, int64_t T, double *restrict F,
                         double *restrict PL, double *restrict PR, double *restrict Zt)
{
    const int64_t N = sp->KL * g->outputs;
    dca_kernel_gather(g, x, c0, T, F);
    build_phi(g, F, 0, sp->mL, T, PL);
    build_phi(g, F, sp->mL, g->m, T, PR);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)T, (int)sp->KR, 1.0, Mr,
                (int)N, PR, (int)T, 0.0, Zt, (int)T);
}

/* Raw mu of each tile cell, rows a x T:
 * mu(a, c) = sum_yL PhiL(yL, c) Zt(yL*outputs + a, c), yL in order. */
static void mu_rows(const dca_geom *g, const dca_split *sp, const double *restrict PL,
                    const double *restrict Zt, int64_t T, double *restrict mu)
{
    const int out = g->outputs;
    for (int a = 0; a < out; a++) {
        double *m = mu + (int64_t)a * T;
        for (int64_t t = 0; t < T; t++)
            m[t] = 0.0;
        for (int64_t j = 0; j < sp->KL; j++) {
            const double *pl = PL + j * T, *z = Zt + (j * out + a) * T;
            for (int64_t t = 0; t < T; t++)
                m[t] += pl[t] * z[t];
        }
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

    tile_forward(g, sp, Mr, x, c0, T, F, PL, PR, Zt);
    mu_rows(g, sp, PL, Zt, T, acc);
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

/* ---- gradients ---------------------------------------------------------------- */

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

/* Factor b of offset s for each of T cells: binary b = 0 -> 1 - P(1). */
static void factor_row(const dca_geom *g, const double *restrict F, int s, int b, int64_t T,
                       double *restrict row)
{
    if (g->binary) {
        const double *p = F + (int64_t)s * T;
        if (b)
            for (int64_t t = 0; t < T; t++)
                row[t] = p[t];
        else
            for (int64_t t = 0; t < T; t++)
                row[t] = 1.0 - p[t];
        return;
    }
    const double *f = F + ((int64_t)s * g->k + b) * T;
    for (int64_t t = 0; t < T; t++)
        row[t] = f[t];
}

/* Gradient of the multilinear form
 *   h(t) = sum_y u[y][t] prod_{j<r} f_{s0+j}[y_j](t)
 * (y over k^r patterns of offsets s0..s0+r-1, the first most significant)
 * with respect to each factor, for T cells:
 *   binary:  out[j*T + t]       = dh / d P(1) of offset s0+j
 *   softmax: out[(j*k + b)*T + t] = dh / d f_{s0+j}[b]
 * Suffix contractions S_j (k^j rows: offsets after j contracted) and prefix
 * products Pre_j (k^j rows) give dh/df_j[b] = sum_i Pre_j[i] S_{j+1}[i*k + b]
 * with no division: exact 0/1 states are fine. */
static void mlgrad(const dca_geom *g, const double *restrict F, int s0, int r, int64_t T,
                   const double *restrict u, double *restrict out, double *restrict scratch)
{
    if (r == 0)
        return;
    const int k = g->k;
    const int64_t K = ipow(k, r);
    /* Suffix levels j = 1..r-1 at S + off[j]; level r is u itself. */
    double *S = scratch;
    int64_t off[64];
    int64_t total = 0;
    for (int j = 1; j < r; j++) {
        off[j] = total;
        total += ipow(k, j) * T;
    }
    double *pre = S + total, *pre2 = pre + K * T, *frow = pre2 + K * T;
    for (int j = r - 1; j >= 1; j--) {
        const double *src = j + 1 == r ? u : S + off[j + 1];
        double *dst = S + off[j];
        const int64_t rows = ipow(k, j);
        for (int64_t i = 0; i < rows * T; i++)
            dst[i] = 0.0;
        for (int b = 0; b < k; b++) {
            factor_row(g, F, s0 + j, b, T, frow);
            for (int64_t i = 0; i < rows; i++) {
                const double *sr = src + (i * k + b) * T;
                double *dr = dst + i * T;
                for (int64_t t = 0; t < T; t++)
                    dr[t] += sr[t] * frow[t];
            }
        }
    }
    for (int64_t t = 0; t < T; t++)
        pre[t] = 1.0;
    for (int j = 0; j < r; j++) {
        const double *Sj1 = j + 1 == r ? u : S + off[j + 1];
        const int64_t rows = ipow(k, j);
        for (int b = 0; b < k; b++) {
            double *o = g->binary ? frow : out + ((int64_t)j * k + b) * T;
            for (int64_t t = 0; t < T; t++)
                o[t] = 0.0;
            for (int64_t i = 0; i < rows; i++) {
                const double *p = pre + i * T, *s = Sj1 + (i * k + b) * T;
                for (int64_t t = 0; t < T; t++)
                    o[t] += p[t] * s[t];
            }
            if (g->binary) {
                /* h is affine in P(1): dh/dp = dh/df[1] - dh/df[0]. */
                double *d = out + (int64_t)j * T;
                if (b == 0)
                    for (int64_t t = 0; t < T; t++)
                        d[t] = -o[t];
                else
                    for (int64_t t = 0; t < T; t++)
                        d[t] += o[t];
            }
        }
        if (j + 1 < r) {
            /* Pre_{j+1}[i*k + b] = Pre_j[i] * f_j[b] (frow is free again). */
            for (int b = 0; b < k; b++) {
                factor_row(g, F, s0 + j, b, T, frow);
                for (int64_t i = 0; i < rows; i++) {
                    const double *p = pre + i * T;
                    double *q = pre2 + (i * k + b) * T;
                    for (int64_t t = 0; t < T; t++)
                        q[t] = p[t] * frow[t];
                }
            }
            double *sw = pre;
            pre = pre2;
            pre2 = sw;
        }
    }
}

typedef struct grad_ws {
    double *F, *PL, *PR, *Zt, *W, *u, *v, *D, *scratch;
    int64_t *idx;
} grad_ws;

static grad_ws grad_layout(const dca_geom *g, const dca_split *sp, int64_t T, double *work)
{
    const int64_t L = g->cell_len, out = g->outputs, N = sp->KL * out;
    const int64_t Kmax = sp->KL > sp->KR ? sp->KL : sp->KR;
    grad_ws w;
    w.F = work;
    w.PL = w.F + (int64_t)g->m * L * T;
    w.PR = w.PL + sp->KL * T;
    w.Zt = w.PR + sp->KR * T;
    w.W = w.Zt + N * T;
    w.u = w.W + (N > out * sp->KR ? N : out * sp->KR) * T;
    w.v = w.u + sp->KL * T;
    w.D = w.v + sp->KR * T;
    w.scratch = w.D + out * g->m * L * T;
    w.idx = (int64_t *)(w.scratch + mlgrad_work(Kmax, T));
    return w;
}

void dca_kernel_tangent_blas(const dca_geom *g, const dca_split *sp, const double *restrict Mr,
                             const double *restrict Mv, const double *restrict rho,
                             const double *restrict drho, const double *restrict x,
                             const double *restrict J, double *restrict Jn, int64_t c0, int64_t c1,
                             double *restrict work)
{
    const int out = g->outputs, L = g->cell_len, m = g->m, mL = sp->mL;
    const int64_t T = c1 - c0, KL = sp->KL, KR = sp->KR, P = KL * KR * out;
    grad_ws w = grad_layout(g, sp, T, work);
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
        dca_geom_neighbours_rc(g, row, col, w.idx);
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
                    const double *jr = J + (w.idx[s] * L + b) * P;
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

void dca_kernel_adjoint_blas(const dca_geom *g, const dca_split *sp, const double *restrict Mr,
                             const double *restrict x, const double *restrict ybar,
                             double *restrict Gm, double *restrict Gx, int64_t c0, int64_t c1,
                             double *restrict work)
{
    const int out = g->outputs, L = g->cell_len, m = g->m, mL = sp->mL;
    const int64_t T = c1 - c0, KL = sp->KL, KR = sp->KR, N = KL * out;
    grad_ws w = grad_layout(g, sp, T, work);
    tile_forward(g, sp, Mr, x, c0, T, w.F, w.PL, w.PR, w.Zt);
    /* ybar rows (a, t) into D's room, which is free until mlgrad. */
    double *yb = w.D;
    for (int a = 0; a < out; a++)
        for (int64_t t = 0; t < T; t++)
            yb[(int64_t)a * T + t] = ybar[(c0 + t) * L + a];
    /* Softmax: dE/dy -> dE/dmu through the renormalisation, with the raw
     * mu rows formed in W's room (W is filled only after this). */
    if (!g->binary) {
        double *mu = w.W;
        mu_rows(g, sp, w.PL, w.Zt, T, mu);
        for (int64_t t = 0; t < T; t++)
            dca_softmax_adjoint(out, mu + t, T, yb + t, T);
    }
    /* W[(yL, a)][t] = PhiL(yL, t) ybar(a, t) */
    for (int64_t yL = 0; yL < KL; yL++)
        for (int a = 0; a < out; a++) {
            const double *pl = w.PL + yL * T, *ya = yb + (int64_t)a * T;
            double *wr = w.W + (yL * out + a) * T;
            for (int64_t t = 0; t < T; t++)
                wr[t] = pl[t] * ya[t];
        }
    /* Rule gradient: Gm (KR x N) += PhiR W^T, summed over the tile's cells. */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)KR, (int)N, (int)T, 1.0, w.PR,
                (int)T, w.W, (int)T, 1.0, Gm, (int)N);
    /* u = (M_ybar) PhiR and v = (M_ybar)^T PhiL with M_ybar = sum_a ybar_a rho_a. */
    for (int64_t yL = 0; yL < KL; yL++) {
        double *u = w.u + yL * T;
        for (int64_t t = 0; t < T; t++)
            u[t] = 0.0;
        for (int a = 0; a < out; a++) {
            const double *z = w.Zt + (yL * out + a) * T, *ya = yb + (int64_t)a * T;
            for (int64_t t = 0; t < T; t++)
                u[t] += ya[t] * z[t];
        }
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)KR, (int)T, (int)N, 1.0, Mr,
                (int)N, w.W, (int)T, 0.0, w.v, (int)T);
    /* dE/dx of each neighbour, per offset: rows (s, b). */
    mlgrad(g, w.F, 0, mL, T, w.u, w.D, w.scratch);
    mlgrad(g, w.F, mL, m - mL, T, w.v, w.D + (int64_t)mL * L * T, w.scratch);
    for (int64_t r = 0; r < (int64_t)m * L; r++)
        for (int64_t t = 0; t < T; t++)
            Gx[r * g->cells + c0 + t] = w.D[r * T + t];
}

void dca_kernel_adjoint_gather(const dca_geom *g, const double *restrict Gx,
                               double *restrict xbar, int64_t c0, int64_t c1)
{
    /* Row segments; per cell the parts are added in offset order starting
     * from 0, as the contract says. Within a segment the part from offset s
     * comes from one run of a lattice row, split at most once by the wrap. */
    const int L = g->cell_len;
    const int64_t cols = g->cols;
    int64_t c = c0;
    while (c < c1) {
        const int64_t row = c / cols, col = c - row * cols;
        const int64_t seg = c1 - c < cols - col ? c1 - c : cols - col;
        if (L == 1) {
            double *restrict dst = xbar + c;
            for (int64_t j = 0; j < seg; j++)
                dst[j] = 0.0;
            for (int s = 0; s < g->m; s++) {
                int64_t rr = row - g->dy[s], cc = col - g->dx[s];
                rr += rr < 0 ? g->rows : 0;
                cc += cc < 0 ? cols : 0;
                const double *restrict src = Gx + (int64_t)s * g->cells + rr * cols;
                const int64_t first = seg < cols - cc ? seg : cols - cc;
                for (int64_t j = 0; j < first; j++)
                    dst[j] += src[cc + j];
                for (int64_t j = first; j < seg; j++)
                    dst[j] += src[j - first];
            }
            c += seg;
            continue;
        }
        for (int b = 0; b < L; b++) {
            double *dst = xbar + c * L + b;
            for (int64_t j = 0; j < seg; j++)
                dst[j * L] = 0.0;
            for (int s = 0; s < g->m; s++) {
                int64_t rr = row - g->dy[s], cc = col - g->dx[s];
                rr += rr < 0 ? g->rows : 0;
                cc += cc < 0 ? cols : 0;
                const double *src = Gx + ((int64_t)s * L + b) * g->cells + rr * cols;
                const int64_t first = seg < cols - cc ? seg : cols - cc;
                for (int64_t j = 0; j < first; j++)
                    dst[j * L] += src[cc + j];
                for (int64_t j = first; j < seg; j++)
                    dst[j * L] += src[j - first];
            }
        }
        c += seg;
    }
}
