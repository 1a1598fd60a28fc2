/* Density classification of hardened binary rules (DESIGN.md §3). */
#ifndef DCA_DENSITY_H
#define DCA_DENSITY_H

#include "hard.h"

#include "bits.h"

typedef struct dca_density_result {
    int64_t samples, correct;
    double accuracy, standard_error;
    int64_t max_steps;
    double seconds, cell_updates_per_second;
    /* Cell-updates counted as the protocol uses them: each sample's steps up
     * to its uniform fixed point, times the cells. */
    int64_t cell_updates;
    const char *engine; /* "bit-sliced" or "bytes" */
} dca_density_result;

/* Which evaluator runs the rule: bit-sliced whenever the rule is binary and
 * fits (auto), or one of them by name (tests and benchmarks compare them). */
typedef enum dca_density_engine {
    DCA_DENSITY_AUTO = 0,
    DCA_DENSITY_BYTES,
    DCA_DENSITY_BITS,
} dca_density_engine;

/* Density classification (the literature's protocol with N = lattice
 * size): `samples` random configurations, each cell 1 with probability p
 * (init kind "bernoulli:P") or with a per-configuration density drawn
 * uniformly ("uniform-density"); the rule runs up to max_steps steps and a
 * sample is correct when the lattice is uniformly in the initial majority
 * state (ties, possible for even N, count as state 0) and that uniform
 * state is a fixed point of the rule. Configuration j is
 * drawn from (seed, j) with Philox: the result does not depend on threads.
 * Binary (k = 2) rules on rings or tori. */
dca_status dca_eval_density(const dca_hard *h, int64_t samples, int64_t max_steps,
                            const char *kind, uint64_t seed, dca_density_result *res,
                            dca_error *err);
/* The same with a chosen engine; `correct` (if not NULL, `samples` bytes)
 * receives each sample's outcome. Both engines give the same outcomes. */
dca_status dca_eval_density_with(const dca_hard *h, dca_density_engine engine, int64_t samples,
                                 int64_t max_steps, const char *kind, uint64_t seed,
                                 dca_density_result *res, uint8_t *correct, dca_error *err);
/* Samples [first, first + samples) of the same protocol (an MPI rank's
 * share): outcome i of `correct` is sample first + i, and res counts these
 * samples only. */
dca_status dca_eval_density_part(const dca_hard *h, dca_density_engine engine, int64_t first,
                                 int64_t samples, int64_t max_steps, const char *kind,
                                 uint64_t seed, dca_density_result *res, uint8_t *correct,
                                 dca_error *err);

/* Configuration j of the protocol: n cells of 0/1 into a; returns the number
 * of ones. */
int64_t dca_density_draw(uint64_t seed, int uniform_density, double p, int64_t j, int64_t n,
                         uint8_t *a);

#endif
