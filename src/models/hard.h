/* Hardened rules as ordinary cellular automata on integer states (the
 * density-classification protocol is in exp/density.h).
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

/* Accessors: cells of one configuration, states, threads of the plan. */
int64_t dca_hard_cells(const dca_hard *h);
int dca_hard_states(const dca_hard *h);
int dca_hard_threads(const dca_hard *h);

/* The lattice as rows x cols (1D: one row), the m neighbours' signed
 * offsets, and the centre neighbour of an outer-totalistic rule (its table
 * is indexed alive * m + live neighbours; -1 for plain tables, indexed by
 * the pattern sum_s x_s k^(m-1-s)). */
typedef struct dca_hard_geometry {
    int64_t rows, cols;
    int m, centre;
    const int32_t *dy, *dx;
} dca_hard_geometry;
void dca_hard_get_geometry(const dca_hard *h, dca_hard_geometry *g);

#endif
