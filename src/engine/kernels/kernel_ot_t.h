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

/* ---- register-blocked kernels for small neighbourhoods -------------------
 * For 4 and 8 neighbours, in the centred basis of dca_ot_coefficients
 * (kernel_ot.c): the elementary symmetric polynomials e_n of the
 * neighbours' x - 1/2 instead of the count distribution, half its
 * operations, and their adjoint. SVL cells at a time in vector registers,
 * read straight from the state (a cursor per run of cells; groups at a
 * row's ends are gathered lane by lane): M is a compile-time constant in
 * each instance (always_inline, called with a literal), the loops over n
 * and j unroll, e, the sums and the adjoint vectors b stay in registers,
 * and the stages the adjoint reads back sit in a small stack array written
 * only on the way up. The rule gradient (dE/dc) is summed per vector lane
 * (cells t = l mod SVL of the tile) and the lanes added in order at the
 * tile's end: no serial chain, and closer to the exact sum. */
#define SVL (32 / (int)sizeof(REAL))
typedef REAL SFX(otvec) __attribute__((vector_size(32)));

/* Lanes [l0, l1) of v to r[i0 + l] (i0 + l0 >= 0). */
__attribute__((always_inline)) static inline void
SFX(ot_store_win)(REAL *r, int64_t i0, SFX(otvec) v, int l0, int l1)
{
    if (l0 == 0 && l1 == SVL) {
        memcpy(r + i0, &v, sizeof v);
        return;
    }
    for (int l = l0; l < l1; l++)
        r[i0 + l] = v[l];
}

/* Lanes [0, nl) from the doubles at p, in the kernel's precision; the
 * rest 0. */
typedef double SFX(otdvec) __attribute__((vector_size(SVL * 8)));
/* Comparison masks of otvec (integers of REAL's width). */
typedef __typeof__((SFX(otvec)){0} < (REAL)0) SFX(otmask);
__attribute__((always_inline)) static inline SFX(otvec) SFX(ot_loadx)(const double *p, const int nl)
{
    if (nl == SVL) {
        SFX(otdvec) d;
        memcpy(&d, p, sizeof d);
        return __builtin_convertvector(d, SFX(otvec));
    }
    SFX(otvec) v = (SFX(otvec)){0};
    for (int l = 0; l < nl; l++)
        v[l] = (REAL)p[l];
    return v;
}

/* Where the groups of a run of cells find their neighbours, read straight
 * from the state (no gathered copy): the cursor's cell (row, col) and, for
 * its row, off[s] = (row + dy_s mod rows) cols + dx_s with dx_s signed. A
 * group whose every offset's lanes stay inside a lattice row (lo <= col,
 * col + nl <= hi) reads at x + off[s] + col; the others (a row's ends, a
 * group across rows) are gathered lane by lane as dca_kernel_gather does. */
typedef struct SFX(ot_cursor) {
    const double *x;
    int64_t row, col, lo, hi, off[OTF_MAX + 1];
} SFX(ot_cursor);

static void SFX(ot_cursor_row)(const dca_geom *g, SFX(ot_cursor) *cu)
{
    for (int s = 0; s < g->m; s++) {
        const int64_t rr = (cu->row + g->dy[s]) % g->rows;
        const int64_t dx = 2 * g->dx[s] > g->cols ? g->dx[s] - g->cols : g->dx[s];
        cu->off[s] = rr * g->cols + dx;
    }
}

static void SFX(ot_cursor_init)(const dca_geom *g, const double *x, int64_t c, SFX(ot_cursor) *cu)
{
    cu->x = x;
    cu->row = c / g->cols;
    cu->col = c - cu->row * g->cols;
    int64_t lo = 0, hi = g->cols;
    for (int s = 0; s < g->m; s++) {
        const int64_t dx = 2 * g->dx[s] > g->cols ? g->dx[s] - g->cols : g->dx[s];
        lo = -dx > lo ? -dx : lo;
        hi = g->cols - dx < hi ? g->cols - dx : hi;
    }
    cu->lo = lo;
    cu->hi = hi;
    SFX(ot_cursor_row)(g, cu);
}

__attribute__((always_inline)) static inline void SFX(ot_cursor_next)(const dca_geom *g,
                                                                      SFX(ot_cursor) *cu)
{
    cu->col += SVL;
    if (cu->col < g->cols)
        return;
    while (cu->col >= g->cols) {
        cu->col -= g->cols;
        cu->row++;
    }
    SFX(ot_cursor_row)(g, cu);
}

/* The group's sources: src[s] points at lane 0's neighbour through offset
 * s, lanes consecutive (into the state, or into buf for a gathered group). */
__attribute__((always_inline)) static inline void
SFX(ot_group_src)(const dca_geom *g, const SFX(ot_cursor) *cu, const int nl,
                  const double **src, double *buf, const int m)
{
    if (cu->col >= cu->lo && cu->col + nl <= cu->hi) {
#pragma GCC unroll 32
        for (int s = 0; s < m; s++)
            src[s] = cu->x + cu->off[s] + cu->col;
        return;
    }
    const int64_t rows = g->rows, cols = g->cols;
    for (int l = 0; l < nl; l++) {
        int64_t r = cu->row, cl = cu->col + l;
        while (cl >= cols) {
            cl -= cols;
            r++;
        }
        for (int s = 0; s < m; s++) {
            int64_t rr = r + g->dy[s], cc = cl + g->dx[s];
            rr -= rr >= rows ? rows : 0;
            cc -= cc >= cols ? cols : 0;
            buf[s * SVL + l] = cu->x[rr * cols + cc];
        }
    }
    for (int s = 0; s < m; s++)
        src[s] = buf + s * SVL;
}

/* The elementary symmetric polynomials e_0..e_M of the group's y = p - 1/2
 * into e (e_0 = 1); with E, every stage j's e_1..e_j at
 * E[j (j - 1) / 2 + n - 1] too (stage j: the first j neighbours). */
__attribute__((always_inline)) static inline void
SFX(ot_elem)(const SFX(otvec) *y, SFX(otvec) *restrict e, SFX(otvec) *restrict E, const int M)
{
    e[0] = (SFX(otvec)){0} + (REAL)1;
    e[1] = y[0];
    if (E)
        E[0] = e[1];
#pragma GCC unroll 32
    for (int j = 2; j <= M; j++) {
        const SFX(otvec) yj = y[j - 1];
        /* From the top down, in place. */
        e[j] = e[j - 1] * yj;
        OT_ROUNDED(e[j]);
#pragma GCC unroll 32
        for (int n = j - 1; n >= 2; n--)
            e[n] += yj * e[n - 1];
        e[1] += yj;
        if (E)
#pragma GCC unroll 32
            for (int n = 1; n <= j; n++)
                E[j * (j - 1) / 2 + n - 1] = e[n];
    }
}

/* The group at t0 of both kernels: its centred neighbours y (M), centre xc,
 * polynomials e (and, with E, their stages) and the sums
 * A0 = sum_n e_n c0_n, D = sum_n e_n (c1_n - c0_n): mu = A0 + xc D. */
__attribute__((always_inline)) static inline void
SFX(ot_front)(const dca_geom *g, const REAL *restrict c0, const REAL *restrict dc,
              const double *const *src, const int nl, SFX(otvec) *y, SFX(otvec) *e,
              SFX(otvec) *E, SFX(otvec) *xc, SFX(otvec) *A0, SFX(otvec) *D, const int M)
{
#pragma GCC unroll 32
    for (int j = 0; j < M; j++)
        y[j] = SFX(ot_loadx)(src[nb_offset(g, j)], nl) - (REAL)0.5;
    SFX(ot_elem)(y, e, E, M);
    SFX(otvec) a = (SFX(otvec)){0} + c0[0], d = (SFX(otvec)){0} + dc[0];
#pragma GCC unroll 32
    for (int n = 1; n <= M; n++) {
        a += e[n] * c0[n];
        d += e[n] * dc[n];
    }
    *A0 = a, *D = d;
    *xc = SFX(ot_loadx)(src[g->centre], nl);
}

/* dc = c1 - c0 of the coefficients c (2m). */
__attribute__((always_inline)) static inline void
SFX(ot_dc)(const REAL *restrict c, REAL *restrict dc, const int M)
{
#pragma GCC unroll 32
    for (int n = 0; n <= M; n++)
        dc[n] = c[M + 1 + n] - c[n];
}

/* Cells [c0, c0 + T) of the state x into y. */
__attribute__((always_inline)) static inline void
SFX(values_fixed)(const dca_geom *g, const REAL *restrict c, const double *restrict x,
                  double *restrict y, int64_t c0, int64_t T, const int M)
{
    REAL dc[OTF_MAX + 1];
    SFX(ot_dc)(c, dc, M);
    SFX(ot_cursor) cu;
    SFX(ot_cursor_init)(g, x, c0, &cu);
    const double *src[OTF_MAX + 1];
    double buf[(OTF_MAX + 1) * SVL];
    for (int64_t t0 = 0; t0 < T; t0 += SVL) {
        const int nl = T - t0 < SVL ? (int)(T - t0) : SVL;
        SFX(otvec) yv[OTF_MAX], e[OTF_MAX + 1], xc, A0, D;
        if (nl == SVL) {
            SFX(ot_group_src)(g, &cu, SVL, src, buf, M + 1);
            SFX(ot_front)(g, c, dc, src, SVL, yv, e, NULL, &xc, &A0, &D, M);
        } else {
            SFX(ot_group_src)(g, &cu, nl, src, buf, M + 1);
            SFX(ot_front)(g, c, dc, src, nl, yv, e, NULL, &xc, &A0, &D, M);
        }
        SFX(otvec) mu = A0 + xc * D;
        /* clip01 on the vector (NaN passes), stored as doubles */
        const SFX(otmask) lo = mu < (REAL)0, hi = mu > (REAL)1;
        mu = (SFX(otvec))(((SFX(otmask))mu & ~(lo | hi)) |
                          ((SFX(otmask))((SFX(otvec)){0} + (REAL)1) & hi));
        const SFX(otdvec) md = __builtin_convertvector(mu, SFX(otdvec));
        if (nl == SVL)
            memcpy(y + c0 + t0, &md, sizeof md);
        else
            for (int l = 0; l < nl; l++)
                y[c0 + t0 + l] = md[l];
        SFX(ot_cursor_next)(g, &cu);
    }
}

/* The adjoint of the group at t0 (partials with weights wt, written to part
 * rows of stride ps; the rule gradient's terms of the window's cells, dE/dc,
 * added to the lane sums a0, a1). Backwards through stage j (e^(j)_n =
 * e^(j-1)_n + y_j e^(j-1)_(n-1)) with b = w dmu/de^(j):
 *     w dmu/dp_j = sum_(n=1..j) b_n e^(j-1)_(n-1),  b_n <- b_n + y_j b_(n+1). */
__attribute__((always_inline)) static inline void
SFX(adjoint_group)(const dca_geom *g, const REAL *restrict c0, const REAL *restrict dc,
                   const double *const *src, const double *restrict wt, REAL *restrict part,
                   int64_t ps, SFX(otvec) *restrict a0, SFX(otvec) *restrict a1, int64_t t0,
                   const int nl, int sums, int64_t toff, int l0, int l1, const int M)
{
    SFX(otvec) y[OTF_MAX], e[OTF_MAX + 1], E[OTF_MAX * (OTF_MAX + 1) / 2], xc, A0, D;
    SFX(ot_front)(g, c0, dc, src, nl, y, e, E, &xc, &A0, &D, M);
    const SFX(otvec) w = SFX(ot_loadx)(wt + t0, nl);
    SFX(ot_store_win)(part + (int64_t)g->centre * ps, t0 - toff, w * D, l0, l1);
    SFX(otvec) b[OTF_MAX + 1];
#pragma GCC unroll 32
    for (int n = 0; n <= M; n++) {
        b[n] = w * (c0[n] + xc * dc[n]);
        OT_ROUNDED(b[n]);
    }
#pragma GCC unroll 32
    for (int j = M; j >= 1; j--) {
        const SFX(otvec) *prev = E + (j - 1) * (j - 2) / 2, yj = y[j - 1];
        SFX(otvec) d = b[1];
#pragma GCC unroll 32
        for (int n = 2; n <= j; n++)
            d += b[n] * prev[n - 2];
#pragma GCC unroll 32
        for (int n = 0; n < j; n++)
            b[n] += yj * b[n + 1];
        SFX(ot_store_win)(part + (int64_t)nb_offset(g, j - 1) * ps, t0 - toff, d, l0, l1);
    }
    if (!sums)
        return;
    SFX(otvec) w1 = w * xc;
    OT_ROUNDED(w1);
    SFX(otvec) w0 = w - w1;
    if (l0 > 0 || l1 < SVL) /* lanes outside the window add nothing */
        for (int l = 0; l < SVL; l++)
            if (l < l0 || l >= l1)
                w1[l] = w0[l] = 0;
    a0[0] += w0;
    a1[0] += w1;
#pragma GCC unroll 32
    for (int n = 1; n <= M; n++) {
        a1[n] += w1 * e[n];
        a0[n] += w0 * e[n];
    }
}

/* The adjoint of cells [cf, cf + T) of the state x (cf: an SVL-aligned
 * cell, so that a cell is always computed in the same lanes by the same
 * code) with weights ybar; only cells [cf + toff, cf + toff + nwin) are
 * stored (part[s * ps + t - toff] for cell cf + t) and summed (s0, s1:
 * dE/dc of the window, NULL: no sums). */
__attribute__((always_inline)) static inline void
SFX(adjoint_fixed)(const dca_geom *g, const REAL *restrict c, const double *restrict x,
                   const double *restrict ybar, int64_t cf, int64_t T, int64_t toff,
                   int64_t nwin, REAL *restrict part, int64_t ps, REAL *restrict s0,
                   REAL *restrict s1, const int M)
{
    const int sums = s0 != NULL;
    REAL dc[OTF_MAX + 1];
    SFX(ot_dc)(c, dc, M);
    /* The tile's lane sums in registers; the lanes added in order at the end. */
    SFX(otvec) a0[OTF_MAX + 1], a1[OTF_MAX + 1];
#pragma GCC unroll 32
    for (int n = 0; n <= M; n++)
        a0[n] = a1[n] = (SFX(otvec)){0};
    SFX(ot_cursor) cu;
    SFX(ot_cursor_init)(g, x, cf, &cu);
    const double *src[OTF_MAX + 1], *wt = ybar + cf;
    double buf[(OTF_MAX + 1) * SVL];
    for (int64_t t0 = 0; t0 < T; t0 += SVL) {
        const int nl = T - t0 < SVL ? (int)(T - t0) : SVL;
        const int l0 = toff > t0 ? (int)(toff - t0) : 0;
        const int l1 = toff + nwin - t0 < nl ? (int)(toff + nwin - t0) : nl;
        if (l0 < l1 && nl == SVL) {
            SFX(ot_group_src)(g, &cu, SVL, src, buf, M + 1);
            SFX(adjoint_group)(g, c, dc, src, wt, part, ps, a0, a1, t0, SVL, sums, toff, l0,
                               l1, M);
        } else if (l0 < l1) {
            SFX(ot_group_src)(g, &cu, nl, src, buf, M + 1);
            SFX(adjoint_group)(g, c, dc, src, wt, part, ps, a0, a1, t0, nl, sums, toff, l0, l1,
                               M);
        }
        SFX(ot_cursor_next)(g, &cu);
    }
    if (!sums)
        return;
#pragma GCC unroll 32
    for (int n = 0; n <= M; n++) {
        REAL r0 = 0, r1 = 0;
        for (int l = 0; l < SVL; l++) {
            r0 += a0[n][l];
            r1 += a1[n][l];
        }
        s0[n] = r0;
        s1[n] = r1;
    }
}

/* The register-blocked instances (M <= OTF_MAX): Moore radius 1
 * (Life-like, M = 8) and von Neumann radius 1 (M = 4). 0: no instance for
 * this neighbourhood. */
static int SFX(values_fused)(const dca_geom *g, const REAL *rho, const double *x, double *y,
                             int64_t c0, int64_t T)
{
    switch (g->m - 1) {
    case 8:
        SFX(values_fixed)(g, rho, x, y, c0, T, 8);
        return 1;
    case 4:
        SFX(values_fixed)(g, rho, x, y, c0, T, 4);
        return 1;
    default:
        return 0;
    }
}

static int SFX(adjoint_fused)(const dca_geom *g, const REAL *rho, const double *x,
                              const double *ybar, int64_t cf, int64_t T, int64_t toff, int64_t n,
                              REAL *part, int64_t ps, REAL *s0, REAL *s1)
{
    switch (g->m - 1) {
    case 8:
        SFX(adjoint_fixed)(g, rho, x, ybar, cf, T, toff, n, part, ps, s0, s1, 8);
        return 1;
    case 4:
        SFX(adjoint_fixed)(g, rho, x, ybar, cf, T, toff, n, part, ps, s0, s1, 4);
        return 1;
    default:
        return 0;
    }
}

void SFX(dca_kernel_values_ot)(const dca_geom *g, const REAL *restrict rho,
                               const double *restrict x, double *restrict y, int64_t c0,
                               int64_t c1, REAL *restrict work)
{
    const int64_t T = c1 - c0;
    const int M = g->m - 1;
    REAL *F = work, *Q = F + (int64_t)g->m * T, *A0 = Q + (int64_t)(M + 1) * T, *A1 = A0 + T;
    if (SFX(values_fused)(g, rho, x, y, c0, T))
        return;
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
    /* The rule gradient's sums per entry (centre 0, then 1), in Q's room. */
    REAL *sum0 = Q, *sum1 = Q + m;
    if (SFX(adjoint_fused)(g, rho, x, ybar, c0, T, 0, T, Gx + c0, g->cells, sum0, sum1)) {
        for (int n = 0; n < m; n++) {
            Grho[n] += sum0[n];
            Grho[m + n] += sum1[n];
        }
        return;
    }
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

/* ---- the adjoint without a lattice-wide Gx ----------------------------------
 * dca_kernel_adjoint_ot_stripe: see kernel.h. The per-offset parts of the
 * cells a stripe's gather reads (its rows and hy rows either side) are
 * computed tile by tile into a ring of K lattice rows (ring row = position
 * row mod K) and gathered as soon as a tile's sources are in; the ring
 * stays in cache where the lattice-wide Gx went to memory and back. The
 * parts, the per-tile rule-gradient sums and the gather's order are the
 * unit kernels', so the results are bitwise theirs. */

/* Parts of positions [p, q) (one lattice lap, at most a tile and a
 * group) into the ring: straight in, or through the scratch rows S when
 * the ring wraps in the middle. The cells' SVL-aligned groups, as the unit
 * kernel's tiles have them, so that every cell is computed by the same
 * code in the same lanes. With Grho (a whole tile of the stripe): its rule
 * gradient added. sums: 2m. */
static void SFX(stripe_chunk)(const dca_geom *g, const REAL *rho, const double *x,
                              const double *ybar, REAL *ring, int64_t Wn, int64_t p, int64_t q,
                              REAL *Grho, REAL *S, int64_t Sn, REAL *sums)
{
    const int m = g->m;
    const int64_t c0 = ((p % g->cells) + g->cells) % g->cells, n = q - p, c1 = c0 + n;
    const int64_t a0 = c0 - c0 % SVL;
    int64_t a1 = c1 % SVL ? c1 + SVL - c1 % SVL : c1;
    a1 = a1 < g->cells ? a1 : g->cells;
    const int64_t T = a1 - a0;
    REAL *s0 = Grho ? sums : NULL, *s1 = sums + m;
    const int64_t rp = ((p % Wn) + Wn) % Wn, first = n < Wn - rp ? n : Wn - rp;
    /* The parts straight into the ring, unless the chunk wraps around it. */
    const int direct = first == n;
    SFX(adjoint_fused)(g, rho, x, ybar, a0, T, c0 - a0, n, direct ? ring + rp : S,
                       direct ? Wn : Sn, s0, s1);
    if (Grho)
        for (int i = 0; i < m; i++) {
            Grho[i] += s0[i];
            Grho[m + i] += s1[i];
        }
    if (direct)
        return;
    for (int s = 0; s < m; s++) {
        const REAL *src = S + (int64_t)s * Sn;
        REAL *dst = ring + (int64_t)s * Wn;
        memcpy(dst + rp, src, (size_t)first * sizeof(REAL));
        memcpy(dst, src + first, (size_t)(n - first) * sizeof(REAL));
    }
}

/* dE/dx of cells [c0, c1) from the ring (K rows of cols, position row
 * mod K): per cell the parts in offset order from 0, as
 * dca_kernel_adjoint_gather adds them. dys: the signed row offsets. */
static void SFX(stripe_gather)(const dca_geom *g, const REAL *ring, int64_t K,
                               const int64_t *dys, double *restrict xbar, int64_t c0, int64_t c1)
{
    typedef double v4d __attribute__((vector_size(32)));
    typedef REAL v4r __attribute__((vector_size(4 * sizeof(REAL))));
    const int64_t cols = g->cols, Wn = K * cols;
    const int m = g->m;
    int64_t c = c0;
    while (c < c1) {
        const int64_t row = c / cols, col = c - row * cols;
        const int64_t seg = c1 - c < cols - col ? c1 - c : cols - col;
        double *restrict dst = xbar + c;
        /* Offset s reads its ring row from column cc[s] on, wrapping once
         * at most; the segment is cut where any offset wraps, and each
         * piece sums the m parts of a cell in registers, in offset order
         * from 0.0 (the order of dca_kernel_adjoint_gather). */
        const REAL *base[OTF_MAX + 1];
        int64_t cc[OTF_MAX + 1];
        for (int s = 0; s < m; s++) {
            int64_t rk = (row - dys[s]) % K, x = col - g->dx[s];
            rk += rk < 0 ? K : 0;
            cc[s] = x + (x < 0 ? cols : 0);
            base[s] = ring + (int64_t)s * Wn + rk * cols;
        }
        int64_t j = 0;
        while (j < seg) {
            int64_t end = seg;
            const REAL *p[OTF_MAX + 1];
            for (int s = 0; s < m; s++) {
                const int64_t pos = cc[s] + j;
                if (pos < cols && j + cols - pos < end)
                    end = j + cols - pos;
                p[s] = base[s] + (pos < cols ? pos : pos - cols) - j;
            }
            int64_t i = j;
            for (; i + 4 <= end; i += 4) {
                v4d acc = {0};
                for (int s = 0; s < m; s++) {
                    v4r v;
                    memcpy(&v, p[s] + i, sizeof v);
                    acc += __builtin_convertvector(v, v4d);
                }
                memcpy(dst + i, &acc, sizeof acc);
            }
            for (; i < end; i++) {
                double acc = 0.0;
                for (int s = 0; s < m; s++)
                    acc += (double)p[s][i];
                dst[i] = acc;
            }
            j = end;
        }
        c += seg;
    }
}

void SFX(dca_kernel_adjoint_ot_stripe)(const dca_geom *g, const REAL *restrict rho,
                                       const double *restrict x, const double *restrict ybar,
                                       double *restrict xbar, const int64_t *restrict tiles,
                                       int64_t ntiles, REAL *const *Grho, int64_t tile,
                                       int64_t K, REAL *restrict work)
{
    const int64_t cols = g->cols, cells = g->cells, Wn = K * cols, T = tile;
    const int m = g->m;
    const int64_t Sn = T + 2 * SVL_MAX; /* a tile and a group each side */
    REAL *ring = work, *sums = ring + (int64_t)m * Wn, *S = sums + 2 * m;
    int64_t dys[OTF_MAX + 1], hy = 0;
    for (int s = 0; s < m; s++) {
        dys[s] = g->dy[s] <= g->rows - g->dy[s] ? g->dy[s] : g->dy[s] - g->rows;
        hy = llabs(dys[s]) > hy ? llabs(dys[s]) : hy;
    }
    const int64_t C0 = tiles[0], C1 = tiles[ntiles];
    if (K >= g->rows) {
        /* The ring is the lattice: every cell once (the stripe's tiles with
         * their sums), then the gather. */
        for (int s = 0; s < m; s++)
            dys[s] = g->dy[s];
        for (int64_t p = 0; p < C0; p += T)
            SFX(stripe_chunk)(g, rho, x, ybar, ring, cells, p, p + T < C0 ? p + T : C0, NULL, S,
                              Sn, sums);
        for (int64_t k = 0; k < ntiles; k++)
            SFX(stripe_chunk)(g, rho, x, ybar, ring, cells, tiles[k], tiles[k + 1], Grho[k], S,
                              Sn, sums);
        for (int64_t p = C1; p < cells; p += T)
            SFX(stripe_chunk)(g, rho, x, ybar, ring, cells, p, p + T < cells ? p + T : cells,
                              NULL, S, Sn, sums);
        SFX(stripe_gather)(g, ring, g->rows, dys, xbar, C0, C1);
        return;
    }
    /* Positions: the stripe's cells, with hy rows before (negative
     * positions are the lattice's last rows) and after. */
    const int64_t P0 = (C0 / cols - hy) * cols, P1 = ((C1 - 1) / cols + hy + 1) * cols;
    int64_t done = P0, next = 0; /* positions computed; the next tile to gather */
    for (int phase = 0; phase < 3; phase++) {
        const int64_t n = phase == 1 ? ntiles : (phase == 0 ? (C0 - P0 + T - 1) / T
                                                            : (P1 - C1 + T - 1) / T);
        for (int64_t k = 0; k < n; k++) {
            /* The next chunk: a tile of the stripe (with its sums) or of a halo. */
            int64_t q = phase == 1 ? tiles[k + 1] : done + T;
            q = phase == 0 && q > C0 ? C0 : (phase == 2 && q > P1 ? P1 : q);
            REAL *G = phase == 1 ? Grho[k] : NULL;
            /* Split at lattice laps (halo chunks only: a tile of the stripe
             * lies in the lattice). */
            while (done < q) {
                const int64_t lap = ((done % cells) + cells) % cells;
                const int64_t e = q - done < cells - lap ? q : done + cells - lap;
                SFX(stripe_chunk)(g, rho, x, ybar, ring, Wn, done, e, G, S, Sn, sums);
                done = e;
            }
            /* Gather every tile whose sources are all in. */
            while (next < ntiles) {
                int64_t need = ((tiles[next + 1] - 1) / cols + hy + 1) * cols;
                need = need < P1 ? need : P1;
                if (done < need)
                    break;
                SFX(stripe_gather)(g, ring, K, dys, xbar, tiles[next], tiles[next + 1]);
                next++;
            }
        }
    }
}
#undef SVL
