/* Hard binary rules on exact 0/1 states, 64 cells per machine word.
 *
 * Life soups and RLE patterns are one (or a few) big configurations of
 * exact 0/1 states under a hardened rule: the soft engine's probabilities
 * are then all 0 or 1 and carry nothing a bit does not. This engine packs
 * each row of cells into words (bit c % 64 of word c / 64 is column c; the
 * unused high bits of a row's last word stay 0) and runs the rule's
 * Boolean circuit (bits.h: the same compiler as the bit-sliced density
 * evaluator, there with configurations in the lanes, here with cells) over
 * whole rows: neighbour s's row is the source row shifted by its offset,
 * with the torus wrapped in. OpenMP over rows; results are exact, so they
 * do not depend on the thread count, and they equal the soft engine's
 * (tests/test_bits.c, the golden runs of configs/life*.ini). */
#ifndef DCA_CELLBITS_H
#define DCA_CELLBITS_H

#include <stdbool.h>
#include <stdint.h>

#include "dca/dca.h"
#include "hard.h"

typedef struct dca_cellbits dca_cellbits;

/* For the hardened binary rule h (tables and outer-totalistic rules on a
 * ring or torus; up to DCA_BITS_MAX_NEIGHBOURS neighbours). threads: 0 for
 * OpenMP's default. */
dca_status dca_cellbits_create(const dca_hard *h, int threads, dca_cellbits **out,
                               dca_error *err);
void dca_cellbits_destroy(dca_cellbits *c);
/* Words of one packed configuration (rows x ceil(cols / 64)). */
int64_t dca_cellbits_words(const dca_cellbits *c);
/* One configuration's cells (binary mode: one value per cell) into words;
 * false, and nothing useful in s, when a value is not exactly 0 or 1. */
bool dca_cellbits_pack(const dca_cellbits *c, const double *x, uint64_t *s);
void dca_cellbits_unpack(const dca_cellbits *c, const uint64_t *s, double *x);
/* `steps` steps of the packed configuration s, in place. */
void dca_cellbits_run(dca_cellbits *c, uint64_t *s, int64_t steps);
int dca_cellbits_threads(const dca_cellbits *c);
/* Gates in the rule's circuit (bits.h). */
int dca_cellbits_gates(const dca_cellbits *c);

#endif
