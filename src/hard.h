/* Hardened rules as ordinary cellular automata on integer states, and the
 * density-classification evaluation (issue 4, DESIGN.md §3).
 *
 * Hardening: binary rho >= 1/2 -> 1; softmax: the most probable state (ties
 * to the lowest). States are uint8 (k <= 256). */
#ifndef DCA_HARD_H
#define DCA_HARD_H

#include <stdint.h>

#include "dca/dca.h"

typedef struct dca_hard dca_hard;

dca_status dca_hard_create(const dca_lattice *lat, const dca_rule *rule, int threads,
                           dca_hard **out, dca_error *err);
void dca_hard_destroy(dca_hard *h);
/* The hardened table: output state of each pattern (k^m entries). */
const uint8_t *dca_hard_table(const dca_hard *h);
/* One step of one configuration; x and y do not overlap. */
void dca_hard_step(const dca_hard *h, const uint8_t *x, uint8_t *y);

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
