#include "rng.h"

#include <math.h>

#include <Random123/philox.h>

void dca_rng_uniform2(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub,
                      double out[2])
{
    /* The purpose shares a word with the high bits of sub: cells and
     * parameters stay below 2^40, so the top byte is free for it. */
    philox4x32_ctr_t c = {{(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)sub,
                           (uint32_t)(sub >> 32) ^ (purpose << 24)}};
    philox4x32_key_t k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    philox4x32_ctr_t r = philox4x32(c, k);
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

void dca_rng_first_uniforms(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0,
                            int64_t count, double *out)
{
    const philox4x32_key_t k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    for (int64_t i = 0; i < count; i++) {
        const uint64_t sub = sub0 + (uint64_t)i;
        philox4x32_ctr_t c = {{(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)sub,
                               (uint32_t)(sub >> 32) ^ (purpose << 24)}};
        philox4x32_ctr_t r = philox4x32(c, k);
        out[i] = (double)(((uint64_t)r.v[0] << 32 | r.v[1]) >> 11) * 0x1.0p-53;
    }
}

void dca_rng_normals(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0,
                     int64_t count, double *out)
{
    /* Normal number q (q = 2 j or 2 j + 1) of the stream is the cosine or
     * sine half of Box-Muller on the uniform pair of counter j: numbers
     * sub0 .. sub0 + count - 1 of the stream, whatever the chunking. */
    int64_t q = (int64_t)sub0;
    const int64_t end = q + count;
    while (q < end) {
        double u[2];
        dca_rng_uniform2(seed, purpose, index, (uint64_t)(q / 2), u);
        const double r = sqrt(-2.0 * log(1.0 - u[0])), a = 6.283185307179586 * u[1];
        if (q % 2 == 0) {
            *out++ = r * cos(a);
            if (++q == end)
                break;
        }
        *out++ = r * sin(a);
        q++;
    }
}
