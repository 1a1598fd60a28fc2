/* Fused value kernel for binary table rules (DESIGN.md §4: "fused kernels
 * vs BLAS per shape").
 *
 * The BLAS kernel materialises the pattern products of a tile (PhiL, PhiR),
 * calls a GEMM with a small inner dimension (KR = 8..32) and reads the
 * products back for the final dot product; the profile of W1 put as much
 * time in building and re-reading those tables as in the GEMM. Here the
 * cells of a tile sit in the lanes of a vector register instead (8 doubles
 * or 16 floats: one AVX-512 register; GCC splits the vector type into
 * narrower ones on machines without AVX-512).
 *
 * The basis. A binary table rule is the multilinear polynomial
 *   mu(x) = sum_y rho_y prod_s (x_s if y_s = 1 else 1 - x_s);
 * with u_s = x_s - 1/2 each factor is 1/2 +- u_s, and expanding gives
 *   mu(x) = sum_S d_S prod_{s in S} u_s   over the subsets S of the offsets,
 * d = dca_fused_coefficients(rho), computed once per parameter change. In
 * that basis a monomial costs one product and the polynomial folds by
 * Horner's rule, so per chunk of lanes
 *   mono(yR)   the KR trailing monomials in registers (KR - 1 - mR products),
 *   z(yL)      = sum_yR d[yL*KR + yR] mono(yR), 8 rows yL at a time
 *              (8 independent FMA chains: enough to fill both FMA pipes),
 *   fold       z's 8 rows by Horner's rule over their 3 offsets (7 FMAs),
 *   mu        += PH(block) z, PH the monomials of the remaining leading
 *              offsets (KL / 8 of them: 1 for m <= 7).
 * Per cell that is KL*KR + KL - 1 fused multiply-adds and about KR + KL/8
 * products (the product basis it replaced needed KL*KR + KL and 2 (KL + KR)
 * products, and a scalar clip). W1 (m = 7): 1.23e8 -> 1.70e8 cell-updates/s
 * on one thread, with the gather below 1.95e8.
 *
 * Rounding. The centred basis is well conditioned: |u_s| <= 1/2, and the
 * d_S are the rule's Walsh coefficients times 2^|S|, so each term is at
 * most |Walsh coefficient| and their absolute sum is at most 2^(m/2)
 * (Parseval); in W1 the largest difference from the reference kernel after
 * 3 steps is 1.0e-15 (7.8e-16 in the product basis). On exact 0/1 states
 * and a hard rule every intermediate is a short dyadic fraction, so float64
 * values are exact, as the bit-parallel engine requires. The raw
 * (uncentred) monomial basis would have terms up to 2^(m-1) and lose up to
 * ~3^m ulps: not used.
 *
 * Gather. The m neighbour rows of a tile are copied into F once, so that
 * the chunks read aligned rows from L1. On a ring whose offsets are
 * consecutive (radius:r) the rows are one run shifted by one cell each, and
 * the tile copies that run once (T + m - 1 values); the rows are then 1
 * value apart (W1: copying from 12 % of the samples to 2 %).
 *
 * Assumptions: binary mode, 2 <= m <= DCA_FUSED_MAX_M, KR = 2^mR with mR
 * in 1..4 (the caller's split, dca_fused_split); d (KL*KR, pattern order,
 * first offset most significant) in the kernel's precision; x and y one
 * configuration each, not overlapping; work holds dca_kernel_fused_work
 * numbers of that precision, private to the calling thread. Summation
 * order is fixed per cell, so results do not depend on tiling or threads.
 *
 * The project is compiled with -ffp-contract=fast (meson.build): ISO C mode
 * otherwise forbids GCC to fuse a*b + c into one FMA instruction, which
 * halves this kernel's speed. */
#include "kernel.h"

#include <string.h>

int64_t dca_kernel_fused_work(const dca_geom *g, const dca_split *sp, int64_t tile)
{
    /* F (m rows of the tile), the high monomials (fewer than KL vectors
     * of <= 16 lanes), and one padded chunk of F for the tail. */
    return (int64_t)g->m * tile + sp->KL * 16 + (int64_t)g->m * 16 + 64;
}

dca_split dca_fused_split(int m)
{
    /* KR = 2^min(m - 1, 4): up to 16 trailing products in registers. */
    dca_split sp = {.mL = m - (m - 1 < 4 ? m - 1 : 4), .KL = 1, .KR = 1};
    for (int s = 0; s < m; s++) {
        if (s < sp.mL)
            sp.KL *= 2;
        else
            sp.KR *= 2;
    }
    return sp;
}

void dca_fused_coefficients(int m, const double *restrict rho, double *restrict d)
{
    /* Per offset (bit j of the pattern index), the pair of patterns that
     * differ in it: a (1/2 - u) + b (1/2 + u) = (a + b)/2 + (b - a) u. */
    const int64_t P = (int64_t)1 << m;
    memcpy(d, rho, (size_t)P * sizeof *d);
    for (int64_t bit = 1; bit < P; bit *= 2)
        for (int64_t i = 0; i < P; i++)
            if (!(i & bit)) {
                const double a = d[i], b = d[i | bit];
                d[i] = 0.5 * (a + b);
                d[i | bit] = b - a;
            }
}

/* The parts of a chunk the value kernel and the adjoint share. The
 * prologue: u[s] = x - 1/2 of each offset, the trailing monomials (bit i of
 * yR is offset m - 1 - i; mono[0] = 1) and the high monomials PH (offsets
 * 0 .. mL - lb - 1, one per block of YB leading rows). */
#define CHUNK_PROLOGUE(V, KR, YB)                                                                 \
    const int mR = __builtin_ctz(KR), lb = __builtin_ctz(YB), mH = mL - lb;                     \
    V u[DCA_FUSED_MAX_M];                                                                       \
    for (int s = 0; s < m; s++)                                                                 \
        u[s] = LOAD(Fc + (int64_t)s * stride) - half;                                           \
    V mono[KR];                                                                                 \
    mono[0] = one;                                                                              \
    _Pragma("GCC unroll 4")                                                                     \
    for (int i = 0; i < mR; i++) {                                                              \
        const int len = 1 << i;                                                                 \
        mono[len] = u[m - 1 - i];                                                               \
        _Pragma("GCC unroll 8")                                                                 \
        for (int j = 1; j < len; j++)                                                           \
            mono[len + j] = mono[j] * u[m - 1 - i];                                             \
    }                                                                                           \
    PH[0] = one;                                                                                \
    for (int s = mH - 1, len = 1; s >= 0; s--, len *= 2)                                        \
        for (int j = 0; j < len; j++)                                                           \
            PH[len + j] = PH[j] * u[s]

/* z[b] = sum_yR d[(yL + b) KR + yR] mono[yR] for the YB rows from yL. */
#define CHUNK_ROWS(V, KR, YB, z, yL)                                                              \
    V z[YB];                                                                                    \
    _Pragma("GCC unroll 8")                                                                     \
    for (int b = 0; b < YB; b++)                                                                \
        z[b] = zero + d[((yL) + b) * KR];                                                       \
    _Pragma("GCC unroll 16")                                                                    \
    for (int yR = 1; yR < KR; yR++)                                                             \
        _Pragma("GCC unroll 8")                                                                 \
        for (int b = 0; b < YB; b++)                                                            \
            z[b] += d[((yL) + b) * KR + yR] * mono[yR]

/* The block's YB rows folded into z[0] by Horner's rule: bit i of b is
 * offset mL - 1 - i. */
#define CHUNK_FOLD(YB, z)                                                                         \
    _Pragma("GCC unroll 3")                                                                     \
    for (int i = 0; i < lb; i++)                                                                \
        _Pragma("GCC unroll 4")                                                                 \
        for (int j = 0; j < (YB >> (i + 1)); j++)                                               \
            z[j] = z[2 * j] + u[mL - 1 - i] * z[2 * j + 1]

#define KERNEL_BODY(V, M, REAL, LANES, KR, YB)                                                    \
    do {                                                                                        \
        CHUNK_PROLOGUE(V, KR, YB);                                                              \
        V mu = zero;                                                                            \
        for (int64_t yL = 0; yL < KL; yL += YB) {                                               \
            CHUNK_ROWS(V, KR, YB, z, yL);                                                       \
            CHUNK_FOLD(YB, z);                                                                  \
            mu += PH[yL >> lb] * z[0];                                                          \
        }                                                                                       \
        /* Clip rounding excursions out of [0, 1]; NaN passes (dca_finish_cell). */             \
        const M lo = mu < zero, hi = mu > one;                                                  \
        mu = (V)(((M)mu & ~(lo | hi)) | ((M)one & hi));                                         \
        STORE(out, mu);                                                                         \
    } while (0)

/* One chunk of LANES cells: Fc points at the chunk's first neighbour value
 * (row stride `stride`), out at LANES doubles of y. d: the rule in the
 * centred monomial basis (dca_fused_coefficients); YB rows of the leading
 * table at a time, KL a multiple of YB; PH: KL / YB vectors of scratch. */
#define DEFINE_CHUNK(NAME, V, M, REAL, LANES, KR, YB)                                            \
    static inline __attribute__((always_inline)) void NAME(                                     \
        int m, int mL, int64_t KL, const REAL *restrict d, const REAL *restrict Fc,             \
        int64_t stride, V *restrict PH, double *restrict out)                                   \
    {                                                                                           \
        const V one = (V){0} + 1, zero = (V){0}, half = (V){0} + (REAL)0.5;                     \
        KERNEL_BODY(V, M, REAL, LANES, KR, YB);                                                 \
    }

typedef double v8d __attribute__((vector_size(64)));
typedef long long v8l __attribute__((vector_size(64)));
typedef float v16f __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
typedef double v16d __attribute__((vector_size(128)));

/* LANES neighbour values (doubles) into the kernel's precision, and the
 * LANES results out as doubles. */
static inline __attribute__((always_inline)) v8d load_d(const double *p)
{
    v8d v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline __attribute__((always_inline)) v16f load_f(const float *p)
{
    v16f v;
    memcpy(&v, p, sizeof v);
    return v;
}
#define STORE_D(out, mu) memcpy(out, &mu, sizeof mu)
#define STORE_F(out, mu)                                                                        \
    do {                                                                                        \
        const v16d wide = __builtin_convertvector(mu, v16d);                                    \
        memcpy(out, &wide, sizeof wide);                                                        \
    } while (0)

/* Every (KR, YB) a split can produce, for one precision: YB = 8 rows when
 * KL allows (8 chains), else 2 (KL = 2 or 4). Named P<KR>_<YB>. */
#define DEFINE_CHUNKS(P, V, M, REAL, LANES)                                                     \
    DEFINE_CHUNK(P##2_8, V, M, REAL, LANES, 2, 8)                                               \
    DEFINE_CHUNK(P##4_8, V, M, REAL, LANES, 4, 8)                                               \
    DEFINE_CHUNK(P##8_8, V, M, REAL, LANES, 8, 8)                                               \
    DEFINE_CHUNK(P##16_8, V, M, REAL, LANES, 16, 8)                                             \
    DEFINE_CHUNK(P##2_2, V, M, REAL, LANES, 2, 2)                                               \
    DEFINE_CHUNK(P##4_2, V, M, REAL, LANES, 4, 2)                                               \
    DEFINE_CHUNK(P##8_2, V, M, REAL, LANES, 8, 2)                                               \
    DEFINE_CHUNK(P##16_2, V, M, REAL, LANES, 16, 2)
#define LOAD load_d
#define STORE STORE_D
DEFINE_CHUNKS(chunk_d, v8d, v8l, double, 8)
#undef LOAD
#undef STORE
#define LOAD load_f
#define STORE STORE_F
DEFINE_CHUNKS(chunk_f, v16f, v16i, float, 16)
#undef LOAD
#undef STORE

/* A ring whose offsets are consecutive (radius:r and any run of offsets):
 * the rows of F are one run of the ring shifted by one cell each, so the
 * tile gathers that run once (T + m - 1 values) and row s starts s values
 * in. Returns 1 when it applies. */
static int consecutive_ring(const dca_geom *g)
{
    if (g->rows != 1)
        return 0;
    for (int s = 1; s < g->m; s++) {
        int64_t next = g->dx[s - 1] + 1;
        next -= next >= g->cols ? g->cols : 0;
        if (g->dx[s] != next)
            return 0;
    }
    return 1;
}

#define DEFINE_RUN(NAME, REAL)                                                                   \
    static void NAME(const dca_geom *g, const double *restrict x, int64_t c0, int64_t len,      \
                     REAL *restrict F)                                                          \
    {                                                                                           \
        int64_t cc = c0 + g->dx[0];                                                             \
        cc -= cc >= g->cols ? g->cols : 0;                                                      \
        for (int64_t j = 0; j < len;) {                                                         \
            const int64_t n = len - j < g->cols - cc ? len - j : g->cols - cc;                  \
            for (int64_t i = 0; i < n; i++)                                                     \
                F[j + i] = (REAL)x[cc + i];                                                     \
            j += n;                                                                             \
            cc = 0;                                                                             \
        }                                                                                       \
    }
DEFINE_RUN(gather_run, double)
DEFINE_RUN(gather_run_f32, float)

/* Calls CH<KR>_<YB><SUF>(...) for the split's trailing size KR and row
 * blocking YB (8 when KL allows, else 2). */
#define SPLIT_CASES(CH, SUF, ...)                                                               \
    switch (KR * 2 + (KL % 8 == 0)) {                                                           \
    case 4: CH##2_2##SUF(__VA_ARGS__); break;                                                   \
    case 5: CH##2_8##SUF(__VA_ARGS__); break;                                                   \
    case 8: CH##4_2##SUF(__VA_ARGS__); break;                                                   \
    case 9: CH##4_8##SUF(__VA_ARGS__); break;                                                   \
    case 16: CH##8_2##SUF(__VA_ARGS__); break;                                                  \
    case 17: CH##8_8##SUF(__VA_ARGS__); break;                                                  \
    case 32: CH##16_2##SUF(__VA_ARGS__); break;                                                 \
    default: CH##16_8##SUF(__VA_ARGS__); break;                                                 \
    }

/* The tile's neighbour rows into F: one run (rows 1 apart) for a
 * consecutive ring, else m rows (T apart). */
#define TILE_GATHER(GATHER, RUN)                                                                \
    const int64_t rstride = consecutive_ring(g) ? 1 : T;                                        \
    if (rstride == 1)                                                                           \
        RUN(g, x, c0, T + m - 1, F);                                                            \
    else                                                                                        \
        GATHER(g, x, c0, T, F)

/* Chunk t's rows (Fc, stride): straight from F, or for the tail a padded
 * copy whose lanes beyond the tile hold 1/2 (their results are not used). */
#define CHUNK_SOURCE(REAL, LANES)                                                               \
    const REAL *Fc = F + t;                                                                     \
    int64_t stride = rstride;                                                                   \
    if (!full) {                                                                                \
        for (int s = 0; s < m; s++)                                                             \
            for (int l = 0; l < LANES; l++)                                                     \
                pad[s * LANES + l] = t + l < T ? F[(int64_t)s * rstride + t + l] : (REAL)0.5;   \
        Fc = pad;                                                                               \
        stride = LANES;                                                                         \
    }

/* The tile loop, once per precision. */
#define DEFINE_TILE(NAME, V, REAL, LANES, GATHER, RUN, CH)                                       \
    void NAME(const dca_geom *g, const dca_split *sp, const REAL *restrict d,                   \
              const double *restrict x, double *restrict y, int64_t c0, int64_t c1,             \
              REAL *restrict work)                                                              \
    {                                                                                           \
        const int m = g->m, mL = sp->mL;                                                        \
        const int64_t T = c1 - c0, KL = sp->KL, KR = sp->KR;                                    \
        REAL *F = work;                                                                         \
        V *PH = (V *)(((uintptr_t)(F + (int64_t)m * T) + 63) & ~(uintptr_t)63);                 \
        REAL *pad = (REAL *)(PH + KL);                                                          \
        TILE_GATHER(GATHER, RUN);                                                               \
        double tail[LANES];                                                                     \
        for (int64_t t = 0; t < T; t += LANES) {                                                \
            const int full = t + LANES <= T;                                                   \
            double *out = full ? y + c0 + t : tail;                                             \
            CHUNK_SOURCE(REAL, LANES)                                                           \
            SPLIT_CASES(CH, , m, mL, KL, d, Fc, stride, PH, out)                                \
            if (!full)                                                                          \
                memcpy(y + c0 + t, tail, (size_t)(T - t) * sizeof(double));                     \
        }                                                                                       \
    }

DEFINE_TILE(dca_kernel_values_fused, v8d, double, 8, dca_kernel_gather, gather_run, chunk_d)
DEFINE_TILE(dca_kernel_values_fused_f32, v16f, float, 16, dca_kernel_gather_f32, gather_run_f32,
            chunk_f)

/* ---- the fused adjoint ----------------------------------------------------
 *
 * Reverse mode of the value kernel above, in the same basis, per chunk of
 * LANES cells with dE/dy = yb:
 *   pass 1  the trailing monomials, z(yL) for every leading row and the
 *           fold of each block of YB rows to g(block) (as the value kernel);
 *   high    mu = sum_h PH(h) g(h): dE/dg(h) = yb PH(h), and the high
 *           offsets' parts by reversing PH's products;
 *   pass 2  per block, the fold reversed from dE/dg: dE/dz(yL) (which is
 *           yb times the leading monomial of yL) and the low leading
 *           offsets' parts; rbar(yR) = sum_yL dE/dz(yL) d[yL*KR + yR];
 *   trail   the trailing offsets' parts by reversing the monomials' products.
 * dE/dd[yL*KR + yR] = sum over cells of dE/dz(yL) mono(yR): the chunks of a
 * sub-tile (ST chunks) keep dE/dz and mono, and a register-blocked pass adds
 * their outer products into per-lane sums Gv (KL*KR vectors) in chunk
 * order; the tile ends by adding each Gv's lanes, in lane order, to Gd.
 * Everything per cell is fixed in order, and Gd's sum over the tile's cells
 * depends only on the tile: no result depends on the thread count. Since
 * x = u + 1/2, dE/dx = dE/du for each offset's part. */
#define ADJ_ST 8 /* chunks per sub-tile */

#define ADJ_BODY(V, REAL, LANES, KR, YB)                                                          \
    do {                                                                                        \
        const int64_t nH = KL >> __builtin_ctz(YB);                                             \
        CHUNK_PROLOGUE(V, KR, YB);                                                              \
        V ub[DCA_FUSED_MAX_M];                                                                  \
        for (int s = 0; s < m; s++)                                                             \
            ub[s] = zero;                                                                       \
        _Pragma("GCC unroll 16")                                                                \
        for (int j = 0; j < KR; j++)                                                            \
            MR[j] = mono[j];                                                                    \
        /* Pass 1: z per leading row (kept in Zs), g per block (in Gh). */                      \
        for (int64_t yL = 0; yL < KL; yL += YB) {                                               \
            CHUNK_ROWS(V, KR, YB, z, yL);                                                       \
            _Pragma("GCC unroll 8")                                                             \
            for (int b = 0; b < YB; b++)                                                        \
                Zs[yL + b] = z[b];                                                              \
            CHUNK_FOLD(YB, z);                                                                  \
            Gh[yL >> lb] = z[0];                                                                \
        }                                                                                       \
        /* High offsets: reverse PH[len + j] = PH[j] u[s] (built s = mH-1 .. 0). */             \
        for (int64_t h = 0; h < nH; h++)                                                        \
            PHbar[h] = yb * Gh[h];                                                              \
        for (int s = 0, len = (int)(nH / 2); s < mH; s++, len /= 2)                             \
            for (int j = 0; j < len; j++) {                                                     \
                ub[s] += PH[j] * PHbar[len + j];                                                \
                PHbar[j] += u[s] * PHbar[len + j];                                              \
            }                                                                                   \
        /* Pass 2: the folds reversed, and rbar. */                                             \
        V rbar[KR];                                                                             \
        _Pragma("GCC unroll 16")                                                                \
        for (int j = 0; j < KR; j++)                                                            \
            rbar[j] = zero;                                                                     \
        for (int64_t yL = 0; yL < KL; yL += YB) {                                               \
            V lev[4][YB], zb[4][YB];                                                            \
            _Pragma("GCC unroll 8")                                                             \
            for (int b = 0; b < YB; b++)                                                        \
                lev[0][b] = Zs[yL + b];                                                         \
            _Pragma("GCC unroll 3")                                                             \
            for (int i = 0; i < lb; i++)                                                        \
                _Pragma("GCC unroll 4")                                                         \
                for (int j = 0; j < (YB >> (i + 1)); j++)                                       \
                    lev[i + 1][j] = lev[i][2 * j] + u[mL - 1 - i] * lev[i][2 * j + 1];          \
            zb[lb][0] = yb * PH[yL >> lb];                                                      \
            _Pragma("GCC unroll 3")                                                             \
            for (int i = lb - 1; i >= 0; i--)                                                   \
                _Pragma("GCC unroll 4")                                                         \
                for (int j = 0; j < (YB >> (i + 1)); j++) {                                     \
                    zb[i][2 * j] = zb[i + 1][j];                                                \
                    zb[i][2 * j + 1] = u[mL - 1 - i] * zb[i + 1][j];                            \
                    ub[mL - 1 - i] += lev[i][2 * j + 1] * zb[i + 1][j];                         \
                }                                                                               \
            _Pragma("GCC unroll 8")                                                             \
            for (int b = 0; b < YB; b++)                                                        \
                ZB[yL + b] = zb[0][b];                                                          \
            _Pragma("GCC unroll 16")                                                            \
            for (int yR = 1; yR < KR; yR++)                                                     \
                _Pragma("GCC unroll 8")                                                         \
                for (int b = 0; b < YB; b++)                                                    \
                    rbar[yR] += zb[0][b] * d[(yL + b) * KR + yR];                               \
        }                                                                                       \
        /* Trailing offsets: reverse mono[len + j] = mono[j] u[m - 1 - i]. */                   \
        _Pragma("GCC unroll 4")                                                                 \
        for (int i = mR - 1; i >= 0; i--) {                                                     \
            const int len = 1 << i;                                                             \
            _Pragma("GCC unroll 8")                                                             \
            for (int j = 0; j < len; j++) {                                                     \
                ub[m - 1 - i] += mono[j] * rbar[len + j];                                       \
                rbar[j] += u[m - 1 - i] * rbar[len + j];                                        \
            }                                                                                   \
        }                                                                                       \
        for (int s = 0; s < m; s++)                                                             \
            UB[s] = ub[s];                                                                      \
    } while (0)

#define DEFINE_ADJ_CHUNK(NAME, V, REAL, LANES, KR, YB)                                          \
    static inline __attribute__((always_inline)) void NAME(                                     \
        int m, int mL, int64_t KL, const REAL *restrict d, const REAL *restrict Fc,             \
        int64_t stride, V yb, V *restrict PH, V *restrict Gh, V *restrict PHbar,                \
        V *restrict Zs, V *restrict ZB, V *restrict MR, V *restrict UB)                         \
    {                                                                                           \
        const V one = (V){0} + 1, zero = (V){0}, half = (V){0} + (REAL)0.5;                     \
        ADJ_BODY(V, REAL, LANES, KR, YB);                                                       \
    }                                                                                           \
    /* Gv[yL*KR + yR] += sum over n chunks of ZB[c*KL + yL] MR[c*KR + yR]. */                   \
    static inline __attribute__((always_inline)) void NAME##_acc(                               \
        int64_t KL, int n, const V *restrict ZB, const V *restrict MR, V *restrict Gv)          \
    {                                                                                           \
        for (int64_t yL = 0; yL < KL; yL++) {                                                   \
            V acc[KR];                                                                          \
            _Pragma("GCC unroll 16")                                                            \
            for (int j = 0; j < KR; j++)                                                        \
                acc[j] = Gv[yL * KR + j];                                                       \
            for (int c = 0; c < n; c++) {                                                       \
                const V zb = ZB[c * KL + yL];                                                   \
                _Pragma("GCC unroll 16")                                                        \
                for (int j = 0; j < KR; j++)                                                    \
                    acc[j] += zb * MR[c * KR + j];                                              \
            }                                                                                   \
            _Pragma("GCC unroll 16")                                                            \
            for (int j = 0; j < KR; j++)                                                        \
                Gv[yL * KR + j] = acc[j];                                                       \
        }                                                                                       \
    }

#define DEFINE_ADJ_CHUNKS(P, V, REAL, LANES)                                                    \
    DEFINE_ADJ_CHUNK(P##2_8, V, REAL, LANES, 2, 8)                                              \
    DEFINE_ADJ_CHUNK(P##4_8, V, REAL, LANES, 4, 8)                                              \
    DEFINE_ADJ_CHUNK(P##8_8, V, REAL, LANES, 8, 8)                                              \
    DEFINE_ADJ_CHUNK(P##16_8, V, REAL, LANES, 16, 8)                                            \
    DEFINE_ADJ_CHUNK(P##2_2, V, REAL, LANES, 2, 2)                                              \
    DEFINE_ADJ_CHUNK(P##4_2, V, REAL, LANES, 4, 2)                                              \
    DEFINE_ADJ_CHUNK(P##8_2, V, REAL, LANES, 8, 2)                                              \
    DEFINE_ADJ_CHUNK(P##16_2, V, REAL, LANES, 16, 2)
#define LOAD load_d
DEFINE_ADJ_CHUNKS(adj_d, v8d, double, 8)
#undef LOAD
#define LOAD load_f
DEFINE_ADJ_CHUNKS(adj_f, v16f, float, 16)
#undef LOAD

int64_t dca_kernel_fused_adjoint_work(const dca_geom *g, const dca_split *sp, int64_t tile)
{
    /* F (m rows), then in vectors of 64 bytes (16 numbers of either
     * precision): PH, Gh, PHbar, Zs (KL each), ZB (ADJ_ST * KL), MR
     * (ADJ_ST * KR), UB (m), Gv (KL * KR); the padded chunk (m * 16 doubles:
     * 32 floats) and room to align. */
    const int64_t vecs = 4 * sp->KL + ADJ_ST * (sp->KL + sp->KR) + g->m + sp->KL * sp->KR;
    return (int64_t)g->m * tile + 16 * vecs + 32 * (int64_t)g->m + 64;
}

#define DEFINE_ADJ_TILE(NAME, V, REAL, LANES, GATHER, RUN, CH)                                   \
    void NAME(const dca_geom *g, const dca_split *sp, const REAL *restrict d,                   \
              const double *restrict x, const double *restrict ybar, REAL *restrict Gd,         \
              REAL *restrict Gx, int64_t c0, int64_t c1, REAL *restrict work)                   \
    {                                                                                           \
        const int m = g->m, mL = sp->mL;                                                        \
        const int64_t T = c1 - c0, KL = sp->KL, KR = sp->KR, cells = g->cells;                  \
        REAL *F = work;                                                                         \
        V *PH = (V *)(((uintptr_t)(F + (int64_t)m * T) + 63) & ~(uintptr_t)63);                 \
        V *Gh = PH + KL, *PHbar = Gh + KL, *Zs = PHbar + KL, *ZB = Zs + KL;                     \
        V *MR = ZB + ADJ_ST * KL, *UB = MR + ADJ_ST * KR, *Gv = UB + m;                         \
        REAL *pad = (REAL *)(Gv + KL * KR);                                                     \
        TILE_GATHER(GATHER, RUN);                                                               \
        memset(Gv, 0, (size_t)(KL * KR) * sizeof(V));                                           \
        int ci = 0;                                                                             \
        for (int64_t t = 0; t < T; t += LANES) {                                                \
            const int full = t + LANES <= T;                                                   \
            const int n = full ? LANES : (int)(T - t);                                          \
            CHUNK_SOURCE(REAL, LANES)                                                           \
            V yb = (V){0};                                                                      \
            if (full)                                                                           \
                yb = LOAD_Y(ybar + c0 + t);                                                     \
            else                                                                                \
                for (int l = 0; l < n; l++)                                                     \
                    yb[l] = (REAL)ybar[c0 + t + l];                                             \
            SPLIT_CASES(CH, , m, mL, KL, d, Fc, stride, yb, PH, Gh, PHbar, Zs, ZB + ci * KL,    \
                        MR + ci * KR, UB)                                                       \
            for (int s = 0; s < m; s++) {                                                       \
                if (full)                                                                       \
                    memcpy(Gx + (int64_t)s * cells + c0 + t, &UB[s], sizeof(V));                \
                else                                                                            \
                    memcpy(Gx + (int64_t)s * cells + c0 + t, &UB[s], (size_t)n * sizeof(REAL)); \
            }                                                                                   \
            if (++ci == ADJ_ST || t + LANES >= T) {                                             \
                SPLIT_CASES(CH, _acc, KL, ci, ZB, MR, Gv)                                       \
                ci = 0;                                                                         \
            }                                                                                   \
        }                                                                                       \
        for (int64_t p = 0; p < KL * KR; p++) {                                                 \
            REAL sum = 0;                                                                       \
            for (int l = 0; l < LANES; l++)                                                     \
                sum += Gv[p][l];                                                                \
            Gd[p] += sum;                                                                       \
        }                                                                                       \
    }

static inline __attribute__((always_inline)) v16f load_y_f(const double *p)
{
    v16d v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, v16f);
}
#define LOAD_Y load_d
DEFINE_ADJ_TILE(dca_kernel_adjoint_fused, v8d, double, 8, dca_kernel_gather, gather_run, adj_d)
#undef LOAD_Y
#define LOAD_Y load_y_f
DEFINE_ADJ_TILE(dca_kernel_adjoint_fused_f32, v16f, float, 16, dca_kernel_gather_f32,
                gather_run_f32, adj_f)
#undef LOAD_Y

void dca_fused_coefficients_adjoint(int m, double *rbar)
{
    /* The transpose of dca_fused_coefficients: per bit, (a, b) -> (d_lo,
     * d_hi) = ((a + b)/2, b - a), so abar = d_lo_bar/2 - d_hi_bar and
     * bbar = d_lo_bar/2 + d_hi_bar; the bits' maps commute. */
    const int64_t P = (int64_t)1 << m;
    for (int64_t bit = 1; bit < P; bit *= 2)
        for (int64_t i = 0; i < P; i++)
            if (!(i & bit)) {
                const double lo = rbar[i], hi = rbar[i | bit];
                rbar[i] = 0.5 * lo - hi;
                rbar[i | bit] = 0.5 * lo + hi;
            }
}
