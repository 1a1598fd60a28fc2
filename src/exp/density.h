/* Density classification of hardened binary rules (DESIGN.md §3). */
#ifndef DCA_DENSITY_H
#define DCA_DENSITY_H

#include "hard.h"

typedef struct dca_density_result {
    int64_t samples, correct;
    double accuracy, standard_error;
    int64_t max_steps;
    double seconds, cell_updates_per_second;
} dca_density_result;

/* Density classification (the literature's protocol with N = lattice
 * size): `samples` random configurations, each cell 1 with probability p
 * (init kind "bernoulli:P") or with a per-configuration density drawn
 * uniformly ("uniform-density"); the rule runs up to max_steps steps and a
 * sample is correct when the lattice is uniformly in the initial majority
 * state (ties, possible for even N, count as state 0). Configuration j is
 * drawn from (seed, j) with Philox: the result does not depend on threads.
 * Binary (k = 2) rules on rings or tori. */
dca_status dca_eval_density(const dca_hard *h, int64_t samples, int64_t max_steps,
                            const char *kind, uint64_t seed, dca_density_result *res,
                            dca_error *err);

#endif
