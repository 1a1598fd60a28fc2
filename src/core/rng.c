#include "rng.h"

#include <math.h>

#include <Random123/philox.h>

/* The counter of draw (purpose, index, sub). The purpose shares a word with
 * the high bits of sub: cells and parameters stay below 2^40, so the top
 * byte is free for it. */
static philox4x32_ctr_t counter(uint32_t purpose, uint64_t index, uint64_t sub)
{
    return (philox4x32_ctr_t){{(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)sub,
                               (uint32_t)(sub >> 32) ^ (purpose << 24)}};
}

static philox4x32_key_t key(uint64_t seed)
{
    return (philox4x32_key_t){{(uint32_t)seed, (uint32_t)(seed >> 32)}};
}

void dca_rng_uniform2(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub,
                      double out[2])
{
    philox4x32_ctr_t r = philox4x32(counter(purpose, index, sub), key(seed));
    uint64_t a = ((uint64_t)r.v[0] << 32 | r.v[1]) >> 11;
    uint64_t b = ((uint64_t)r.v[2] << 32 | r.v[3]) >> 11;
    out[0] = (double)a * 0x1.0p-53;
    out[1] = (double)b * 0x1.0p-53;
}

double dca_rng_normal(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub)
{
    double u[2];
    dca_rng_uniform2(seed, purpose, index, sub, u);
    /* 1 - u is in (0, 1]: log never sees 0. */
    return sqrt(-2.0 * log(1.0 - u[0])) * cos(6.283185307179586 * u[1]);
}

/* Philox4x32-10 of LANES counters at once, structure of arrays (c[word][lane],
 * each 32-bit word held in a 64-bit slot): the same numbers as Random123's
 * philox4x32. The 32 x 32 -> 64-bit products are vpmuludq (AVX-512F, AVX2),
 * which reads the low half of each slot, so the high halves may carry
 * garbage between rounds; GCC, given the plain loop, multiplies with
 * vpmullq (three uops on Intel) instead. Words are read as the low 32 bits
 * of their slots. */
enum { LANES = 32 };
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#if defined(__AVX512F__)
typedef __m512i vq;
#define VQ_N 8
#define VQ_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define VQ_STORE(p, v) _mm512_storeu_si512((void *)(p), v)
#define VQ_SET1(x) _mm512_set1_epi64((long long)(x))
#define VQ_MUL(a, b) _mm512_mul_epu32(a, b)
#define VQ_SRL32(a) _mm512_srli_epi64(a, 32)
#define VQ_XOR3(a, b, c) _mm512_ternarylogic_epi64(a, b, c, 0x96)
#else
typedef __m256i vq;
#define VQ_N 4
#define VQ_LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define VQ_STORE(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define VQ_SET1(x) _mm256_set1_epi64x((long long)(x))
#define VQ_MUL(a, b) _mm256_mul_epu32(a, b)
#define VQ_SRL32(a) _mm256_srli_epi64(a, 32)
#define VQ_XOR3(a, b, c) _mm256_xor_si256(_mm256_xor_si256(a, b), c)
#endif
__attribute__((noinline)) static void philox_lanes(uint32_t k0, uint32_t k1,
                                                   uint64_t c[4][LANES])
{
    enum { V = LANES / VQ_N };
    vq c0[V], c1[V], c2[V], c3[V];
    for (int v = 0; v < V; v++) {
        c0[v] = VQ_LOAD(c[0] + v * VQ_N), c1[v] = VQ_LOAD(c[1] + v * VQ_N);
        c2[v] = VQ_LOAD(c[2] + v * VQ_N), c3[v] = VQ_LOAD(c[3] + v * VQ_N);
    }
    const vq m0 = VQ_SET1(0xD2511F53u), m1 = VQ_SET1(0xCD9E8D57u);
    for (int round = 0; round < 10; round++) {
        const vq K0 = VQ_SET1(k0), K1 = VQ_SET1(k1);
        for (int v = 0; v < V; v++) {
            const vq p0 = VQ_MUL(c0[v], m0), p1 = VQ_MUL(c2[v], m1);
            c0[v] = VQ_XOR3(VQ_SRL32(p1), c1[v], K0);
            c2[v] = VQ_XOR3(VQ_SRL32(p0), c3[v], K1);
            c1[v] = p1, c3[v] = p0;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int v = 0; v < V; v++) {
        VQ_STORE(c[0] + v * VQ_N, c0[v]), VQ_STORE(c[1] + v * VQ_N, c1[v]);
        VQ_STORE(c[2] + v * VQ_N, c2[v]), VQ_STORE(c[3] + v * VQ_N, c3[v]);
    }
}
#else
__attribute__((noinline)) static void philox_lanes(uint32_t k0, uint32_t k1,
                                                   uint64_t c[4][LANES])
{
    for (int round = 0; round < 10; round++) {
        for (int l = 0; l < LANES; l++) {
            const uint64_t p0 = (uint64_t)0xD2511F53u * (uint32_t)c[0][l];
            const uint64_t p1 = (uint64_t)0xCD9E8D57u * (uint32_t)c[2][l];
            const uint64_t n0 = (p1 >> 32) ^ c[1][l] ^ k0;
            const uint64_t n2 = (p0 >> 32) ^ c[3][l] ^ k1;
            c[0][l] = n0;
            c[1][l] = p1 & 0xFFFFFFFFu;
            c[2][l] = n2;
            c[3][l] = p0 & 0xFFFFFFFFu;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}
#endif

/* The counters of draws sub0 .. sub0 + LANES - 1 (counter(), lane by lane). */
static inline void lane_counters(uint32_t purpose, uint64_t index, uint64_t sub0,
                                 uint64_t c[4][LANES])
{
    for (int l = 0; l < LANES; l++) {
        const uint64_t sub = sub0 + (uint64_t)l;
        c[0][l] = (uint32_t)index, c[1][l] = (uint32_t)(index >> 32);
        c[2][l] = (uint32_t)sub, c[3][l] = (uint32_t)(sub >> 32) ^ (purpose << 24);
    }
}

/* Word w of draw sub0 + i into out[w * ws + i * is]. */
static inline __attribute__((always_inline)) void
words(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0, int64_t count,
      uint32_t *out, int64_t ws, int64_t is)
{
    const philox4x32_key_t k = key(seed);
    int64_t i = 0;
    for (; i + LANES <= count; i += LANES) {
        uint64_t c[4][LANES];
        lane_counters(purpose, index, sub0 + (uint64_t)i, c);
        philox_lanes(k.v[0], k.v[1], c);
        for (int l = 0; l < LANES; l++)
            for (int word = 0; word < 4; word++)
                out[word * ws + (i + l) * is] = (uint32_t)c[word][l];
    }
    for (; i < count; i++) {
        philox4x32_ctr_t r = philox4x32(counter(purpose, index, sub0 + (uint64_t)i), k);
        for (int word = 0; word < 4; word++)
            out[word * ws + i * is] = r.v[word];
    }
}

void dca_rng_words(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0, int64_t count,
                   uint32_t *out)
{
    words(seed, purpose, index, sub0, count, out, 1, 4);
}

void dca_rng_words_soa(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0,
                       int64_t count, uint32_t *out, int64_t stride)
{
    words(seed, purpose, index, sub0, count, out, stride, 1);
}

void dca_rng_first_uniforms(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0,
                            int64_t count, double *out)
{
    /* Words 0 and 1 of each draw (dca_rng_words: the vectorised Philox). */
    uint32_t w[4 * 64];
    for (int64_t i = 0; i < count; i += 64) {
        const int64_t n = count - i < 64 ? count - i : 64;
        dca_rng_words(seed, purpose, index, sub0 + (uint64_t)i, n, w);
        for (int64_t l = 0; l < n; l++)
            out[i + l] = (double)(((uint64_t)w[4 * l] << 32 | w[4 * l + 1]) >> 11) * 0x1.0p-53;
    }
}

/* Box-Muller in single precision on two 32-bit words: u0 on (0, 1],
 * u1 on [0, 1), 24 bits each. */
static void box_muller(uint32_t w0, uint32_t w1, float *z)
{
    const float u0 = (float)((w0 >> 8) + 1) * 0x1.0p-24f;
    const float u1 = (float)(w1 >> 8) * 0x1.0p-24f;
    const float rad = sqrtf(-2.0f * logf(u0)), a = 6.2831853f * u1;
    z[0] = rad * cosf(a);
    z[1] = rad * sinf(a);
}

void dca_rng_normals(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0,
                     int64_t count, double *out)
{
    /* Numbers 4 j .. 4 j + 3 of the stream come from Philox counter j: its
     * four 32-bit words as two Box-Muller pairs of uniforms with 24 bits
     * each, computed in single precision (logf, sincosf: about twice as fast
     * as double, and 24 bits are plenty for noise; the tails end at
     * |x| = sqrt(2 ln 2^24) = 5.77). Whole groups of LANES counters go through
     * the vectorised Philox, the edges through Random123's: any chunking
     * gives the same numbers. */
    const philox4x32_key_t k = key(seed);
    const int64_t first = (int64_t)sub0, end = first + count;
    for (int64_t j = first / 4; 4 * j < end;) {
        if (j % LANES == 0 && 4 * j >= first && 4 * (j + LANES) <= end) {
            uint64_t c[4][LANES];
            lane_counters(purpose, index, (uint64_t)j, c);
            philox_lanes(k.v[0], k.v[1], c);
            double *o = out + (4 * j - first);
            for (int l = 0; l < LANES; l++) {
                float z[4];
                box_muller((uint32_t)c[0][l], (uint32_t)c[1][l], z);
                box_muller((uint32_t)c[2][l], (uint32_t)c[3][l], z + 2);
                for (int h = 0; h < 4; h++)
                    o[4 * l + h] = (double)z[h];
            }
            j += LANES;
            continue;
        }
        const philox4x32_ctr_t r = philox4x32(counter(purpose, index, (uint64_t)j), k);
        float z[4];
        box_muller(r.v[0], r.v[1], z);
        box_muller(r.v[2], r.v[3], z + 2);
        for (int h = 0; h < 4; h++) {
            const int64_t q = 4 * j + h;
            if (q >= first && q < end)
                out[q - first] = (double)z[h];
        }
        j++;
    }
}
