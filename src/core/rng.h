/* Counter-based random numbers (Philox4x32-10, Random123). A draw is a pure
 * function of (seed, purpose, index, sub-index): results never depend on the
 * thread count or on the order in which draws are made. */
#ifndef DCA_RNG_H
#define DCA_RNG_H

#include <stdint.h>

enum dca_rng_purpose {
    DCA_RNG_INIT_CELLS = 1,   /* index = configuration, sub = cell */
    DCA_RNG_INIT_DENSITY = 2, /* index = configuration */
    DCA_RNG_WEIGHTS = 3,      /* index = parameter */
    DCA_RNG_MINIBATCH = 4,    /* index = iteration, sub = draw */
    DCA_RNG_OPTIM = 5,        /* index = iteration, sub = parameter (optimiser noise) */
    DCA_RNG_OPTIM_SECOND = 6, /* index = iteration, sub = parameter (second objective's noise) */
    DCA_RNG_LEARNER = 7,      /* index = member, sub = what (learner initial state) */
    DCA_RNG_SLM = 8,          /* index = configuration * 2^32 + step, sub = cell (slm.h) */
    DCA_RNG_SLM_DATA = 9,     /* index = simulation, sub = step (reference parameters) */
    DCA_RNG_POTTS = 10,       /* index = lattice, sub = sampling step (four words a step) */
    DCA_RNG_MK = 11,          /* index = configuration * 2^32 + step, sub = cell (and C.. for
                               * the Gumbel draws) */
};

/* Two independent doubles uniform on [0, 1) with 53 random bits each. */
void dca_rng_uniform2(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub,
                      double out[2]);
/* out[i] = the first of dca_rng_uniform2(seed, purpose, index, sub0 + i), for
 * i < count: the same numbers, drawn in one loop. */
void dca_rng_first_uniforms(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0,
                            int64_t count, double *out);
/* The four 32-bit words of Philox draws sub0 .. sub0 + count - 1 of the
 * stream (seed, purpose, index): out[4 i + w] is word w of draw sub0 + i.
 * The same words as Random123's philox4x32, 16 draws at a time. */
void dca_rng_words(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0, int64_t count,
                   uint32_t *out);
/* The same words, one array per word: out[w * stride + i] is word w of draw
 * sub0 + i (stride >= count). */
void dca_rng_words_soa(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0,
                       int64_t count, uint32_t *out, int64_t stride);
/* count standard normals, numbers sub0 .. sub0 + count - 1 of the stream
 * (seed, purpose, index): four from each Philox draw, by Box–Muller in
 * single precision (both halves), so the noise of a large parameter vector
 * is cheap. Chunks of any size give the same numbers. */
void dca_rng_normals(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub0,
                     int64_t count, double *out);
/* One standard normal (Box–Muller on dca_rng_uniform2). */
double dca_rng_normal(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t sub);

#endif
