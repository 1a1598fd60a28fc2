/* Bit-sliced hard cellular automata for binary rules: 64 configurations per
 * machine word, W words per cell (64 W configurations at once).
 *
 * The rule is compiled once into a Boolean circuit: its reduced ordered
 * decision diagram over the neighbours (neighbour 0 at the top, as in the
 * pattern index), emitted as a straight list of gates (mux, and, or, xor and
 * their negated forms) whose temporaries are reused once dead. A step runs
 * the gate list over a tile of cells at a time, each gate a plain loop over
 * tile x W words, so the compiler vectorises it with whatever the CPU has.
 *
 * State layout: x[cell * W + w], bit b of word w is configuration 64 w + b;
 * cells in row-major order (1D: one row). Results are bit for bit those of
 * dca_hard_step (src/models/hard.c), tested on random rules. */
#ifndef DCA_BITS_H
#define DCA_BITS_H

#include <stddef.h>
#include <stdint.h>

#include "dca/dca.h"
#include "hard.h"

typedef struct dca_bits dca_bits;

/* The largest neighbourhood the compiler takes (its truth table has 2^m
 * bits). */
#define DCA_BITS_MAX_NEIGHBOURS 26
/* Words per cell a run takes at most (4096 configurations). */
#define DCA_BITS_MAX_WORDS 64

/* A circuit for the binary rule `table` (2^m entries of 0/1, pattern index
 * p = sum_s x_s 2^(m-1-s)) on a rows x cols torus (1D: rows = 1) with
 * neighbour s at signed offset (dy[s], dx[s]). */
dca_status dca_bits_create(int64_t rows, int64_t cols, int m, const int32_t *dy,
                           const int32_t *dx, const uint8_t *table, dca_bits **out,
                           dca_error *err);
/* The circuit of a hardened rule (tables and outer-totalistic rules, k = 2). */
dca_status dca_bits_from_hard(const dca_hard *h, dca_bits **out, dca_error *err);
void dca_bits_destroy(dca_bits *b);

/* Gates in the circuit, and the temporaries it needs at once. */
int dca_bits_gates(const dca_bits *b);
int dca_bits_slots(const dca_bits *b);
int64_t dca_bits_cells(const dca_bits *b);
/* Whether the uniform all-0 / all-1 lattices are fixed points. */
int dca_bits_fixed0(const dca_bits *b);
int dca_bits_fixed1(const dca_bits *b);
/* Density classification of a finished block: ok[i] = 1 when configuration
 * i (of count <= 64 W) is uniformly in state major[i] and that uniform
 * state is a fixed point of the rule. */
void dca_bits_classified(const dca_bits *b, const uint64_t *x, int W, const uint8_t *major,
                         int64_t count, uint8_t *ok);

/* Bytes of scratch one dca_bits_run call with W words per cell needs
 * (1 <= W <= DCA_BITS_MAX_WORDS). */
size_t dca_bits_work_bytes(const dca_bits *b, int W);

/* Runs the 64 W configurations in x (layout above) for up to max_steps
 * steps; a configuration stops once it is uniform and a fixed point (as the
 * density protocol does), and steps[64 w + b] (if not NULL) receives the
 * steps it used: the step at which that happened, else max_steps. Bits not
 * in `active` (W words; NULL: all) are ignored for stopping. `work` holds
 * dca_bits_work_bytes(b, W) bytes, 64-byte aligned. Single-threaded:
 * callers run one block per thread. */
void dca_bits_run(const dca_bits *b, uint64_t *x, int W, const uint64_t *active,
                  int64_t max_steps, int64_t *steps, void *work);
/* The circuit alone, lane by lane over n words: in[s] holds the words of
 * neighbour s (any layout, the same for all), out receives the rule's
 * output. slots: dca_bits_slots(b) arrays of slot_words >= n words. */
void dca_bits_eval(const dca_bits *b, const uint64_t *const *in, uint64_t *out, uint64_t *slots,
                   int64_t slot_words, int64_t n);
int dca_bits_neighbours(const dca_bits *b);

#endif
