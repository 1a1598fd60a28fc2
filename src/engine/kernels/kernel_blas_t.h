/* The split-neighbourhood BLAS kernels, written once for both precisions.
 * kernel_blas.c includes this file twice: with REAL = double, GEMM =
 * cblas_dgemm and SFX(name) = name, and with REAL = float, GEMM =
 * cblas_sgemm and SFX(name) = name##_f32. States enter (x, ybar) and leave
 * (y, xbar) as doubles in both cases; everything in between (the gathered
 * neighbour rows, pattern products, GEMMs, the rule-gradient partial sums
 * Gm and the per-offset adjoint parts Gx) is REAL. No include guard: that
 * is the point. */

/* Gathers the neighbours' states of cells [c0, c0 + T) into F: row
 * (s * cell_len + b) holds state b of offset s's neighbour for each cell.
 * A tile is cut into row segments of the lattice; within a segment the
 * neighbours of one offset are one contiguous run of a lattice row, split
 * at most once by the wrap-around. */
void SFX(dca_kernel_gather)(const dca_geom *g, const double *restrict x, int64_t c0, int64_t T,
                            REAL *restrict F)
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
                REAL *dst = F + (int64_t)s * T + t;
                SFX(copy_run)(dst, src + cc, first);
                SFX(copy_run)(dst + first, src, seg - first);
                continue;
            }
            for (int b = 0; b < L; b++) {
                REAL *dst = F + ((int64_t)s * L + b) * T + t;
                for (int64_t j = 0; j < first; j++)
                    dst[j] = (REAL)src[(cc + j) * L + b];
                for (int64_t j = first; j < seg; j++)
                    dst[j] = (REAL)src[(j - first) * L + b];
            }
        }
        t += seg;
    }
}

void SFX(dca_kernel_blas_pack)(const dca_geom *g, const dca_split *sp, const double *restrict rho,
                               REAL *restrict Mr)
{
    const int out = g->outputs;
    const int64_t KL = sp->KL, KR = sp->KR, N = KL * out;
    for (int64_t yL = 0; yL < KL; yL++)
        for (int64_t yR = 0; yR < KR; yR++)
            for (int a = 0; a < out; a++)
                Mr[yR * N + yL * out + a] = (REAL)rho[(yL * KR + yR) * out + a];
}

/* Pattern products of offsets [s0, s1) for T cells into P (K x T, row
 * stride T), pattern index with offset s0 most significant. Built from the
 * last offset to the first, each prepended as the new most significant
 * digit: block b of the new table is (state b) x (old table), elementwise
 * over cells; block 0 last, in place. */
static void SFX(build_phi)(const dca_geom *g, const REAL *restrict F, int s0, int s1, int64_t T,
                           REAL *restrict P)
{
    for (int64_t t = 0; t < T; t++)
        P[t] = 1;
    int64_t len = 1;
    const int k = g->k, L = g->cell_len;
    for (int s = s1 - 1; s >= s0; s--) {
        const REAL *f = F + (int64_t)s * L * T;
        if (g->binary) {
            for (int64_t j = 0; j < len; j++) {
                REAL *lo = P + j * T, *hi = P + (len + j) * T;
                for (int64_t t = 0; t < T; t++) {
                    hi[t] = lo[t] * f[t];
                    lo[t] *= 1 - f[t];
                }
            }
        } else {
            for (int b = k - 1; b >= 0; b--) {
                const REAL *fb = f + (int64_t)b * T;
                for (int64_t j = 0; j < len; j++) {
                    REAL *src = P + j * T, *dst = P + (b * len + j) * T;
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
static void SFX(tile_forward)(const dca_geom *g, const dca_split *sp, const REAL *restrict Mr,
                              const double *restrict x, int64_t c0, int64_t T, REAL *restrict F,
                              REAL *restrict PL, REAL *restrict PR, REAL *restrict Zt)
{
    const int64_t N = sp->KL * g->outputs;
    SFX(dca_kernel_gather)(g, x, c0, T, F);
    SFX(build_phi)(g, F, 0, sp->mL, T, PL);
    SFX(build_phi)(g, F, sp->mL, g->m, T, PR);
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)T, (int)sp->KR, 1, Mr, (int)N, PR,
         (int)T, 0, Zt, (int)T);
}

/* Raw mu of each tile cell, rows a x T:
 * mu(a, c) = sum_yL PhiL(yL, c) Zt(yL*outputs + a, c), yL in order. */
static void SFX(mu_rows)(const dca_geom *g, const dca_split *sp, const REAL *restrict PL,
                         const REAL *restrict Zt, int64_t T, REAL *restrict mu)
{
    const int out = g->outputs;
    for (int a = 0; a < out; a++) {
        REAL *m = mu + (int64_t)a * T;
        for (int64_t t = 0; t < T; t++)
            m[t] = 0;
        for (int64_t j = 0; j < sp->KL; j++) {
            const REAL *pl = PL + j * T, *z = Zt + (j * out + a) * T;
            for (int64_t t = 0; t < T; t++)
                m[t] += pl[t] * z[t];
        }
    }
}

void SFX(dca_kernel_values_blas)(const dca_geom *g, const dca_split *sp, const REAL *restrict Mr,
                                 const double *restrict x, double *restrict y, int64_t c0,
                                 int64_t c1, REAL *restrict work)
{
    const int out = g->outputs;
    const int64_t T = c1 - c0, KL = sp->KL, KR = sp->KR, N = KL * out;
    REAL *F = work;
    REAL *PL = F + (int64_t)g->m * g->cell_len * T;
    REAL *PR = PL + KL * T;
    REAL *Zt = PR + KR * T;
    REAL *acc = Zt + N * T;

    SFX(tile_forward)(g, sp, Mr, x, c0, T, F, PL, PR, Zt);
    SFX(mu_rows)(g, sp, PL, Zt, T, acc);
    if (g->binary) {
        /* Clip rounding excursions: see dca_finish_cell. */
        double *yy = y + c0;
        for (int64_t t = 0; t < T; t++) {
            REAL v = acc[t];
            yy[t] = v < 0 ? 0.0 : (v > 1 ? 1.0 : (double)v);
        }
        return;
    }
    for (int64_t t = 0; t < T; t++) {
        REAL sum = 0;
        for (int a = 0; a < out; a++)
            sum += acc[(int64_t)a * T + t];
        for (int a = 0; a < out; a++)
            y[(c0 + t) * out + a] = (double)(acc[(int64_t)a * T + t] / sum);
    }
}

/* Factor b of offset s for each of T cells: binary b = 0 -> 1 - P(1). */
static void SFX(factor_row)(const dca_geom *g, const REAL *restrict F, int s, int b, int64_t T,
                            REAL *restrict row)
{
    if (g->binary) {
        const REAL *p = F + (int64_t)s * T;
        if (b)
            for (int64_t t = 0; t < T; t++)
                row[t] = p[t];
        else
            for (int64_t t = 0; t < T; t++)
                row[t] = 1 - p[t];
        return;
    }
    const REAL *f = F + ((int64_t)s * g->k + b) * T;
    for (int64_t t = 0; t < T; t++)
        row[t] = f[t];
}

/* The binary case of mlgrad below for r <= 5 offsets, one vector of cells
 * at a time with every level in registers (the general code streams up to
 * k^r rows of T cells through memory several times over; it was 26 % of
 * W2). Each cell sees exactly the operations of the general code in the
 * same order (0 + a*b + c*d for a suffix row, the products of the prefix
 * rows, -o0 + o1 for the derivative), so the results are bit for bit the
 * same: only the loops are interchanged. r is a constant in each call, so
 * the loops unroll and the arrays stay in registers. */
typedef REAL SFX(mlg_vec) __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) void
SFX(mlgrad_binary_chunk)(const REAL *restrict F, int s0, const int r, int64_t ld,
                         const REAL *restrict u, REAL *restrict out)
{
    typedef SFX(mlg_vec) V;
    const V zero = {0}, one = zero + 1;
    V p[5], S[32], pre[16], pre2[16];
    _Pragma("GCC unroll 8")
    for (int j = 0; j < r; j++)
        memcpy(&p[j], F + (int64_t)(s0 + j) * ld, sizeof(V));
    /* Suffix levels r-1 .. 1, each in S[2^j .. 2^(j+1)); level r is u. */
    V U[32];
    const int K = 1 << r;
    _Pragma("GCC unroll 32")
    for (int y = 0; y < K; y++)
        memcpy(&U[y], u + (int64_t)y * ld, sizeof(V));
    _Pragma("GCC unroll 8")
    for (int j = r - 1; j >= 1; j--) {
        const V f0 = one - p[j];
        const int rows = 1 << j;
        _Pragma("GCC unroll 16")
        for (int i = 0; i < rows; i++) {
            const V s0v = j + 1 == r ? U[2 * i] : S[(2 << j) + 2 * i];
            const V s1v = j + 1 == r ? U[2 * i + 1] : S[(2 << j) + 2 * i + 1];
            V d = zero;
            d += s0v * f0;
            d += s1v * p[j];
            S[(1 << j) + i] = d;
        }
    }
    pre[0] = one;
    _Pragma("GCC unroll 8")
    for (int j = 0; j < r; j++) {
        const int rows = 1 << j;
        V d = zero;
        _Pragma("GCC unroll 2")
        for (int b = 0; b < 2; b++) {
            V o = zero;
            _Pragma("GCC unroll 16")
            for (int i = 0; i < rows; i++)
                o += pre[i] * (j + 1 == r ? U[2 * i + b] : S[(2 << j) + 2 * i + b]);
            if (b == 0)
                d = -o;
            else
                d += o;
        }
        memcpy(out + (int64_t)j * ld, &d, sizeof(V));
        if (j + 1 < r) {
            const V f0 = one - p[j];
            _Pragma("GCC unroll 16")
            for (int i = 0; i < rows; i++) {
                pre2[2 * i] = pre[i] * f0;
                pre2[2 * i + 1] = pre[i] * p[j];
            }
            _Pragma("GCC unroll 32")
            for (int i = 0; i < 2 * rows; i++)
                pre[i] = pre2[i];
        }
    }
}

/* Cells [0, T) in vectors; the tail through zero-padded copies. */
static inline __attribute__((always_inline)) void
SFX(mlgrad_binary_r)(const REAL *restrict F, int s0, const int r, int64_t T,
                     const REAL *restrict u, REAL *restrict out)
{
    enum { W = (int)(sizeof(SFX(mlg_vec)) / sizeof(REAL)) };
    int64_t t = 0;
    for (; t + W <= T; t += W)
        SFX(mlgrad_binary_chunk)(F + t, s0, r, T, u + t, out + t);
    if (t == T)
        return;
    REAL Fp[5 * W], up[32 * W], op[5 * W];
    memset(Fp, 0, sizeof Fp);
    memset(up, 0, sizeof up);
    for (int j = 0; j < r; j++)
        memcpy(Fp + j * W, F + (int64_t)(s0 + j) * T + t, (size_t)(T - t) * sizeof(REAL));
    for (int y = 0; y < (1 << r); y++)
        memcpy(up + y * W, u + (int64_t)y * T + t, (size_t)(T - t) * sizeof(REAL));
    SFX(mlgrad_binary_chunk)(Fp, 0, r, W, up, op);
    for (int j = 0; j < r; j++)
        memcpy(out + (int64_t)j * T + t, op + j * W, (size_t)(T - t) * sizeof(REAL));
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
static void SFX(mlgrad)(const dca_geom *g, const REAL *restrict F, int s0, int r, int64_t T,
                        const REAL *restrict u, REAL *restrict out, REAL *restrict scratch)
{
    if (r == 0)
        return;
    if (g->binary && r <= 5) {
        switch (r) {
        case 1: SFX(mlgrad_binary_r)(F, s0, 1, T, u, out); return;
        case 2: SFX(mlgrad_binary_r)(F, s0, 2, T, u, out); return;
        case 3: SFX(mlgrad_binary_r)(F, s0, 3, T, u, out); return;
        case 4: SFX(mlgrad_binary_r)(F, s0, 4, T, u, out); return;
        default: SFX(mlgrad_binary_r)(F, s0, 5, T, u, out); return;
        }
    }
    const int k = g->k;
    const int64_t K = ipow(k, r);
    /* Suffix levels j = 1..r-1 at S + off[j]; level r is u itself. */
    REAL *S = scratch;
    int64_t off[64];
    int64_t total = 0;
    for (int j = 1; j < r; j++) {
        off[j] = total;
        total += ipow(k, j) * T;
    }
    REAL *pre = S + total, *pre2 = pre + K * T, *frow = pre2 + K * T;
    for (int j = r - 1; j >= 1; j--) {
        const REAL *src = j + 1 == r ? u : S + off[j + 1];
        REAL *dst = S + off[j];
        const int64_t rows = ipow(k, j);
        for (int64_t i = 0; i < rows * T; i++)
            dst[i] = 0;
        for (int b = 0; b < k; b++) {
            SFX(factor_row)(g, F, s0 + j, b, T, frow);
            for (int64_t i = 0; i < rows; i++) {
                const REAL *sr = src + (i * k + b) * T;
                REAL *dr = dst + i * T;
                for (int64_t t = 0; t < T; t++)
                    dr[t] += sr[t] * frow[t];
            }
        }
    }
    for (int64_t t = 0; t < T; t++)
        pre[t] = 1;
    for (int j = 0; j < r; j++) {
        const REAL *Sj1 = j + 1 == r ? u : S + off[j + 1];
        const int64_t rows = ipow(k, j);
        for (int b = 0; b < k; b++) {
            REAL *o = g->binary ? frow : out + ((int64_t)j * k + b) * T;
            for (int64_t t = 0; t < T; t++)
                o[t] = 0;
            for (int64_t i = 0; i < rows; i++) {
                const REAL *p = pre + i * T, *s = Sj1 + (i * k + b) * T;
                for (int64_t t = 0; t < T; t++)
                    o[t] += p[t] * s[t];
            }
            if (g->binary) {
                /* h is affine in P(1): dh/dp = dh/df[1] - dh/df[0]. */
                REAL *d = out + (int64_t)j * T;
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
                SFX(factor_row)(g, F, s0 + j, b, T, frow);
                for (int64_t i = 0; i < rows; i++) {
                    const REAL *p = pre + i * T;
                    REAL *q = pre2 + (i * k + b) * T;
                    for (int64_t t = 0; t < T; t++)
                        q[t] = p[t] * frow[t];
                }
            }
            REAL *sw = pre;
            pre = pre2;
            pre2 = sw;
        }
    }
}

typedef struct SFX(grad_ws) {
    REAL *F, *PL, *PR, *Zt, *W, *u, *v, *D, *scratch;
} SFX(grad_ws);

static SFX(grad_ws) SFX(grad_layout)(const dca_geom *g, const dca_split *sp, int64_t T,
                                     REAL *work)
{
    const int64_t L = g->cell_len, out = g->outputs, N = sp->KL * out;
    SFX(grad_ws) w;
    w.F = work;
    w.PL = w.F + (int64_t)g->m * L * T;
    w.PR = w.PL + sp->KL * T;
    w.Zt = w.PR + sp->KR * T;
    w.W = w.Zt + N * T;
    w.u = w.W + (N > out * sp->KR ? N : out * sp->KR) * T;
    w.v = w.u + sp->KL * T;
    w.D = w.v + sp->KR * T;
    w.scratch = w.D + out * g->m * L * T;
    return w;
}

void SFX(dca_kernel_adjoint_blas)(const dca_geom *g, const dca_split *sp, const REAL *restrict Mr,
                                  const double *restrict x, const double *restrict ybar,
                                  REAL *restrict Gm, REAL *restrict Gx, int64_t c0, int64_t c1,
                                  REAL *restrict work)
{
    const int out = g->outputs, L = g->cell_len, m = g->m, mL = sp->mL;
    const int64_t T = c1 - c0, KL = sp->KL, KR = sp->KR, N = KL * out;
    SFX(grad_ws) w = SFX(grad_layout)(g, sp, T, work);
    SFX(tile_forward)(g, sp, Mr, x, c0, T, w.F, w.PL, w.PR, w.Zt);
    /* ybar rows (a, t) into D's room, which is free until mlgrad. */
    REAL *yb = w.D;
    for (int a = 0; a < out; a++)
        for (int64_t t = 0; t < T; t++)
            yb[(int64_t)a * T + t] = (REAL)ybar[(c0 + t) * L + a];
    /* Softmax: dE/dy -> dE/dmu through the renormalisation, with the raw
     * mu rows formed in W's room (W is filled only after this). */
    if (!g->binary) {
        REAL *mu = w.W;
        SFX(mu_rows)(g, sp, w.PL, w.Zt, T, mu);
        for (int64_t t = 0; t < T; t++)
            SFX(dca_softmax_adjoint)(out, mu + t, T, yb + t, T);
    }
    /* W[(yL, a)][t] = PhiL(yL, t) ybar(a, t) */
    for (int64_t yL = 0; yL < KL; yL++)
        for (int a = 0; a < out; a++) {
            const REAL *pl = w.PL + yL * T, *ya = yb + (int64_t)a * T;
            REAL *wr = w.W + (yL * out + a) * T;
            for (int64_t t = 0; t < T; t++)
                wr[t] = pl[t] * ya[t];
        }
    /* Rule gradient: Gm (KR x N) += PhiR W^T, summed over the tile's cells. */
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)KR, (int)N, (int)T, 1, w.PR, (int)T, w.W,
         (int)T, 1, Gm, (int)N);
    /* u = (M_ybar) PhiR and v = (M_ybar)^T PhiL with M_ybar = sum_a ybar_a rho_a. */
    for (int64_t yL = 0; yL < KL; yL++) {
        REAL *u = w.u + yL * T;
        for (int64_t t = 0; t < T; t++)
            u[t] = 0;
        for (int a = 0; a < out; a++) {
            const REAL *z = w.Zt + (yL * out + a) * T, *ya = yb + (int64_t)a * T;
            for (int64_t t = 0; t < T; t++)
                u[t] += ya[t] * z[t];
        }
    }
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)KR, (int)T, (int)N, 1, Mr, (int)N, w.W,
         (int)T, 0, w.v, (int)T);
    /* dE/dx of each neighbour, per offset: rows (s, b). */
    SFX(mlgrad)(g, w.F, 0, mL, T, w.u, w.D, w.scratch);
    SFX(mlgrad)(g, w.F, mL, m - mL, T, w.v, w.D + (int64_t)mL * L * T, w.scratch);
    for (int64_t r = 0; r < (int64_t)m * L; r++)
        memcpy(Gx + r * g->cells + c0, w.D + r * T, (size_t)T * sizeof(REAL));
}

void SFX(dca_kernel_adjoint_gather)(const dca_geom *g, const REAL *restrict Gx,
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
                const REAL *restrict src = Gx + (int64_t)s * g->cells + rr * cols;
                const int64_t first = seg < cols - cc ? seg : cols - cc;
                for (int64_t j = 0; j < first; j++)
                    dst[j] += (double)src[cc + j];
                for (int64_t j = first; j < seg; j++)
                    dst[j] += (double)src[j - first];
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
                const REAL *src = Gx + ((int64_t)s * L + b) * g->cells + rr * cols;
                const int64_t first = seg < cols - cc ? seg : cols - cc;
                for (int64_t j = 0; j < first; j++)
                    dst[j * L] += (double)src[cc + j];
                for (int64_t j = first; j < seg; j++)
                    dst[j * L] += (double)src[j - first];
            }
        }
        c += seg;
    }
}
