/* Outer-totalistic kernels in one precision: included by kernel_ot.c with
 * REAL = double (SFX: the plain names) and REAL = float (SFX: _f32). States
 * (x, y) and dE/dy stay double at the interface; everything else is REAL. */
/* The count distribution for T cells from F. keep: store every stage. */
static void SFX(count_distribution)(const dca_geom *g, const REAL *restrict F, int64_t T,
                                    REAL *restrict Q, int keep)
{
    const int M = g->m - 1;
    for (int64_t t = 0; t < T; t++)
        Q[t] = 1;
    for (int j = 1; j <= M; j++) {
        const REAL *p = F + (int64_t)nb_offset(g, j - 1) * T;
        if (keep) {
            const REAL *prev = Q + (int64_t)(j - 1) * j / 2 * T;
            REAL *cur = Q + (int64_t)j * (j + 1) / 2 * T;
            for (int64_t t = 0; t < T; t++)
                cur[t] = prev[t] * ((REAL)1 - p[t]);
            for (int64_t n = 1; n < j; n++) {
                const REAL *a = prev + (int64_t)n * T, *b = prev + (int64_t)(n - 1) * T;
                REAL *c = cur + (int64_t)n * T;
                for (int64_t t = 0; t < T; t++)
                    c[t] = a[t] * ((REAL)1 - p[t]) + b[t] * p[t];
            }
            const REAL *b = prev + (int64_t)(j - 1) * T;
            REAL *c = cur + (int64_t)j * T;
            for (int64_t t = 0; t < T; t++)
                c[t] = b[t] * p[t];
        } else {
            /* In place, from the top count down. */
            REAL *top = Q + (int64_t)j * T;
            const REAL *below = Q + (int64_t)(j - 1) * T;
            for (int64_t t = 0; t < T; t++)
                top[t] = below[t] * p[t];
            for (int n = j - 1; n >= 1; n--) {
                REAL *c = Q + (int64_t)n * T;
                const REAL *b = Q + (int64_t)(n - 1) * T;
                for (int64_t t = 0; t < T; t++)
                    c[t] = c[t] * ((REAL)1 - p[t]) + b[t] * p[t];
            }
            for (int64_t t = 0; t < T; t++)
                Q[t] *= (REAL)1 - p[t];
        }
    }
}

/* A0 = sum_n q(n) rho(0, n), A1 = sum_n q(n) rho(1, n). */
static void SFX(centre_sums)(const dca_geom *g, const REAL *restrict rho, const REAL *restrict q,
                             int64_t T, REAL *restrict A0, REAL *restrict A1)
{
    const int m = g->m;
    for (int64_t t = 0; t < T; t++)
        A0[t] = A1[t] = 0;
    for (int n = 0; n < m; n++) {
        const REAL r0 = rho[n], r1 = rho[m + n];
        const REAL *qn = q + (int64_t)n * T;
        for (int64_t t = 0; t < T; t++) {
            A0[t] += qn[t] * r0;
            A1[t] += qn[t] * r1;
        }
    }
}

static inline REAL SFX(clip01)(REAL v) { return v < 0 ? (REAL)0 : (v > 1 ? (REAL)1 : v); }

void SFX(dca_kernel_values_ot)(const dca_geom *g, const REAL *restrict rho,
                               const double *restrict x, double *restrict y, int64_t c0,
                               int64_t c1, REAL *restrict work)
{
    const int64_t T = c1 - c0;
    const int M = g->m - 1;
    REAL *F = work, *Q = F + (int64_t)g->m * T, *A0 = Q + (int64_t)(M + 1) * T, *A1 = A0 + T;
    SFX(dca_kernel_gather)(g, x, c0, T, F);
    SFX(count_distribution)(g, F, T, Q, 0);
    SFX(centre_sums)(g, rho, Q, T, A0, A1);
    const REAL *xc = F + (int64_t)g->centre * T;
    for (int64_t t = 0; t < T; t++)
        y[c0 + t] = (double)SFX(clip01)(A0[t] + xc[t] * (A1[t] - A0[t]));
}

/* Shared by the tangent and adjoint kernels: the stages Q, the sums A0, A1
 * and, for per-cell weights wt (dE/dy, or 1 for plain partial
 * derivatives), the weighted partials part[s * ps + t] = wt[t] d mu(t) / d x_s
 * (ps: the row stride, T for a tile buffer, or the lattice's cell count to
 * write the adjoint's Gx rows in place). */
static void SFX(partials)(const dca_geom *g, const REAL *restrict rho, const REAL *restrict F,
                          const REAL *restrict wt, int64_t T, REAL *restrict Q,
                          REAL *restrict A0, REAL *restrict A1, REAL *restrict b,
                          REAL *restrict part, int64_t ps)
{
    const int m = g->m, M = m - 1;
    const REAL *xc = F + (int64_t)g->centre * T;
    SFX(count_distribution)(g, F, T, Q, 1);
    const REAL *q = Q + (int64_t)M * (M + 1) / 2 * T;
    SFX(centre_sums)(g, rho, q, T, A0, A1);
    REAL *pc = part + (int64_t)g->centre * ps;
    for (int64_t t = 0; t < T; t++)
        pc[t] = wt ? wt[t] * (A1[t] - A0[t]) : A1[t] - A0[t];
    /* b^(M)(n) = wt D(n), n = 0..M. */
    for (int n = 0; n <= M; n++) {
        const REAL r0 = rho[n], r1 = rho[m + n];
        REAL *bn = b + (int64_t)n * T;
        for (int64_t t = 0; t < T; t++) {
            REAL d = r0 + xc[t] * (r1 - r0);
            bn[t] = wt ? wt[t] * d : d;
        }
    }
    for (int j = M; j >= 1; j--) {
        const REAL *p = F + (int64_t)nb_offset(g, j - 1) * T;
        const REAL *prev = Q + (int64_t)(j - 1) * j / 2 * T; /* q^(j-1): j rows */
        REAL *pj = part + (int64_t)nb_offset(g, j - 1) * ps;
        for (int64_t t = 0; t < T; t++)
            pj[t] = 0;
        for (int n = 0; n < j; n++) {
            const REAL *qn = prev + (int64_t)n * T;
            REAL *bn = b + (int64_t)n * T;
            const REAL *bn1 = b + (int64_t)(n + 1) * T;
            for (int64_t t = 0; t < T; t++) {
                pj[t] += qn[t] * (bn1[t] - bn[t]);
                bn[t] = bn[t] * ((REAL)1 - p[t]) + bn1[t] * p[t];
            }
        }
    }
}

void SFX(dca_kernel_adjoint_ot)(const dca_geom *g, const REAL *restrict rho,
                                const double *restrict x, const double *restrict ybar,
                                REAL *restrict Grho, REAL *restrict Gx, int64_t c0, int64_t c1,
                                REAL *restrict work)
{
    const int64_t T = c1 - c0;
    const int m = g->m, M = m - 1;
    REAL *F = work, *Q = F + (int64_t)m * T, *A0 = Q + stage_rows(M) * T, *A1 = A0 + T;
    REAL *b = A1 + T;
    /* dE/dy of the tile in the kernel's precision, in a row the adjoint
     * does not otherwise use (the tangent's partials). */
    REAL *wt = b + (int64_t)(M + 2) * T;
    for (int64_t t = 0; t < T; t++)
        wt[t] = (REAL)ybar[c0 + t];
    SFX(dca_kernel_gather)(g, x, c0, T, F);
    SFX(partials)(g, rho, F, wt, T, Q, A0, A1, b, Gx + c0, g->cells);
    const REAL *q = Q + (int64_t)M * (M + 1) / 2 * T;
    const REAL *xc = F + (int64_t)g->centre * T;
    /* The rule gradient, summed over the tile in cell order. */
    for (int n = 0; n < m; n++) {
        const REAL *qn = q + (int64_t)n * T;
        REAL s0 = 0, s1 = 0;
        for (int64_t t = 0; t < T; t++) {
            s1 += wt[t] * xc[t] * qn[t];
            s0 += wt[t] * ((REAL)1 - xc[t]) * qn[t];
        }
        Grho[n] += s0;
        Grho[m + n] += s1;
    }
}
