/* Fused value kernel for binary table rules (DESIGN.md §4: "fused kernels
 * vs BLAS per shape").
 *
 * The BLAS kernel materialises the pattern products of a tile (PhiL, PhiR),
 * calls a GEMM with a small inner dimension (KR = 8..32) and reads the
 * products back for the final dot product; the profile of W1 put as much
 * time in building and re-reading those tables as in the GEMM. Here the
 * cells of a tile sit in the lanes of a vector register instead (8 doubles
 * or 16 floats: one AVX-512 register; GCC splits the vector type into
 * narrower ones on machines without AVX-512), and per chunk of lanes
 *   PhiR(yR)   the KR trailing pattern products stay in registers,
 *   z(yL)      = sum_yR rho[yL*KR + yR] PhiR(yR), 8 rows yL at a time
 *              (8 independent FMA chains: enough to fill both FMA pipes),
 *   mu        += PhiL(yL) z(yL), PhiL built per chunk in the work buffer.
 * Per cell that is KL*KR + KL fused multiply-adds plus ~KL + KR products,
 * with no trip through memory but the gathered neighbour rows.
 *
 * Assumptions: binary mode, 2 <= m <= DCA_FUSED_MAX_M, KR = 2^mR with mR in 1..4 (the caller's
 * split, dca_fused_split); rho (KL*KR, pattern order, first offset most
 * significant) in the kernel's precision; x and y one configuration each, not
 * overlapping; work holds dca_kernel_fused_work numbers of that precision,
 * private to the calling thread. Summation order is fixed per cell, so
 * results do not depend on tiling or threads.
 *
 * The project is compiled with -ffp-contract=fast (meson.build): ISO C mode
 * otherwise forbids GCC to fuse a*b + c into one FMA instruction, which
 * halves this kernel's speed. */
#include "kernel.h"

#include <string.h>

int64_t dca_kernel_fused_work(const dca_geom *g, const dca_split *sp, int64_t tile)
{
    /* F (m rows of the tile), PhiL for one chunk (KL vectors of <= 16
     * lanes), and one padded chunk of F for the tail. */
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

#define KERNEL_BODY(V, REAL, LANES, KR, YB)                                                       \
    do {                                                                                        \
        const int mR = __builtin_ctz(KR);                                                       \
        V phiR[KR];                                                                             \
        /* Trailing part: most significant digit first = offset mL. */                          \
        phiR[0] = one;                                                                          \
        _Pragma("GCC unroll 4")                                                                 \
        for (int i = 0; i < mR; i++) {                                                          \
            const int len = 1 << i;                                                             \
            V f;                                                                                \
            memcpy(&f, Fc + (int64_t)(m - 1 - i) * stride, sizeof f);                           \
            _Pragma("GCC unroll 8")                                                             \
            for (int j = 0; j < len; j++) {                                                     \
                phiR[len + j] = phiR[j] * f;                                                    \
                phiR[j] = phiR[j] * (one - f);                                                  \
            }                                                                                   \
        }                                                                                       \
        /* Leading part into PL (KL vectors), the same way. */                                  \
        PL[0] = one;                                                                            \
        for (int s = mL - 1, len = 1; s >= 0; s--, len *= 2) {                                  \
            V f;                                                                                \
            memcpy(&f, Fc + (int64_t)s * stride, sizeof f);                                     \
            for (int j = 0; j < len; j++) {                                                     \
                PL[len + j] = PL[j] * f;                                                        \
                PL[j] = PL[j] * (one - f);                                                      \
            }                                                                                   \
        }                                                                                       \
        V mu = zero;                                                                            \
        for (int64_t yL = 0; yL < KL; yL += YB) {                                               \
            V z[YB];                                                                            \
            for (int b = 0; b < YB; b++)                                                        \
                z[b] = zero;                                                                    \
            _Pragma("GCC unroll 16")                                                            \
            for (int yR = 0; yR < KR; yR++)                                                     \
                _Pragma("GCC unroll 8")                                                         \
                for (int b = 0; b < YB; b++)                                                    \
                    z[b] += rho[(yL + b) * KR + yR] * phiR[yR];                                 \
            for (int b = 0; b < YB; b++)                                                        \
                mu += PL[yL + b] * z[b];                                                        \
        }                                                                                       \
        for (int l = 0; l < LANES; l++) {                                                       \
            REAL v = mu[l];                                                                     \
            out[l] = v < 0 ? 0.0 : (v > 1 ? 1.0 : (double)v);                                   \
        }                                                                                       \
    } while (0)

/* One chunk of LANES cells: Fc points at the chunk's first neighbour value
 * (row stride `stride`), out at LANES doubles of y. YB rows of the leading
 * table at a time; KL is a multiple of YB. */
#define DEFINE_CHUNK(NAME, V, REAL, LANES, KR, YB)                                               \
    static inline __attribute__((always_inline)) void NAME(                                     \
        int m, int mL, int64_t KL, const REAL *restrict rho, const REAL *restrict Fc,           \
        int64_t stride, V *restrict PL, double *restrict out)                                   \
    {                                                                                           \
        const V one = (V){0} + 1, zero = (V){0};                                                \
        KERNEL_BODY(V, REAL, LANES, KR, YB);                                                    \
    }

typedef double v8d __attribute__((vector_size(64)));
typedef float v16f __attribute__((vector_size(64)));

/* Every (KR, YB) a split can produce, for one precision: YB = 8 rows when
 * KL allows (8 chains), else 2 (KL = 2 or 4). Named P<KR>_<YB>. */
#define DEFINE_CHUNKS(P, V, REAL, LANES)                                                        \
    DEFINE_CHUNK(P##2_8, V, REAL, LANES, 2, 8)                                                  \
    DEFINE_CHUNK(P##4_8, V, REAL, LANES, 4, 8)                                                  \
    DEFINE_CHUNK(P##8_8, V, REAL, LANES, 8, 8)                                                  \
    DEFINE_CHUNK(P##16_8, V, REAL, LANES, 16, 8)                                                \
    DEFINE_CHUNK(P##2_2, V, REAL, LANES, 2, 2)                                                  \
    DEFINE_CHUNK(P##4_2, V, REAL, LANES, 4, 2)                                                  \
    DEFINE_CHUNK(P##8_2, V, REAL, LANES, 8, 2)                                                  \
    DEFINE_CHUNK(P##16_2, V, REAL, LANES, 16, 2)
DEFINE_CHUNKS(chunk_d, v8d, double, 8)
DEFINE_CHUNKS(chunk_f, v16f, float, 16)

/* The tile loop, once per precision: full chunks straight from F, the
 * tail through a padded copy (padding lanes hold 1/2 and are not stored). */
#define DEFINE_TILE(NAME, V, REAL, LANES, GATHER, CH)                                            \
    void NAME(const dca_geom *g, const dca_split *sp, const REAL *restrict rho,                 \
              const double *restrict x, double *restrict y, int64_t c0, int64_t c1,             \
              REAL *restrict work)                                                              \
    {                                                                                           \
        const int m = g->m, mL = sp->mL;                                                        \
        const int64_t T = c1 - c0, KL = sp->KL, KR = sp->KR;                                    \
        REAL *F = work;                                                                         \
        V *PL = (V *)(((uintptr_t)(F + (int64_t)m * T) + 63) & ~(uintptr_t)63);                 \
        REAL *pad = (REAL *)(PL + KL);                                                          \
        GATHER(g, x, c0, T, F);                                                                 \
        double tail[LANES];                                                                     \
        for (int64_t t = 0; t < T; t += LANES) {                                                \
            const int full = t + LANES <= T;                                                   \
            const REAL *Fc = F + t;                                                             \
            int64_t stride = T;                                                                 \
            double *out = full ? y + c0 + t : tail;                                             \
            if (!full) {                                                                        \
                for (int s = 0; s < m; s++)                                                     \
                    for (int l = 0; l < LANES; l++)                                             \
                        pad[s * LANES + l] = t + l < T ? F[(int64_t)s * T + t + l] : (REAL)0.5; \
                Fc = pad;                                                                       \
                stride = LANES;                                                                 \
            }                                                                                   \
            switch (KR * 2 + (KL % 8 == 0)) {                                                   \
            case 4: CH##2_2(m, mL, KL, rho, Fc, stride, PL, out); break;                        \
            case 5: CH##2_8(m, mL, KL, rho, Fc, stride, PL, out); break;                        \
            case 8: CH##4_2(m, mL, KL, rho, Fc, stride, PL, out); break;                        \
            case 9: CH##4_8(m, mL, KL, rho, Fc, stride, PL, out); break;                        \
            case 16: CH##8_2(m, mL, KL, rho, Fc, stride, PL, out); break;                       \
            case 17: CH##8_8(m, mL, KL, rho, Fc, stride, PL, out); break;                       \
            case 32: CH##16_2(m, mL, KL, rho, Fc, stride, PL, out); break;                      \
            default: CH##16_8(m, mL, KL, rho, Fc, stride, PL, out); break;                      \
            }                                                                                   \
            if (!full)                                                                          \
                memcpy(y + c0 + t, tail, (size_t)(T - t) * sizeof(double));                     \
        }                                                                                       \
    }

DEFINE_TILE(dca_kernel_values_fused, v8d, double, 8, dca_kernel_gather, chunk_d)
DEFINE_TILE(dca_kernel_values_fused_f32, v16f, float, 16, dca_kernel_gather_f32, chunk_f)
