/* Learning machines beyond lattices (seeds 003 and 004): feed-forward
 * networks and Kuramoto oscillators, as model types behind the same contract
 * as the lattice objective: parameters in, loss and (if asked) its exact
 * gradient out. Any optimiser type of dca/optim.h drives them, the
 * gradient-free autonomous map included (it never asks for the gradient).
 *
 * Every object holds its own workspace: one object per thread. */
#ifndef DCA_LEARN_H
#define DCA_LEARN_H

#include <stdbool.h>
#include <stdint.h>

#include "dca/dca.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- feed-forward networks ------------------------------------------------
 *
 * Layers of n_0 (inputs), n_1, ..., n_{L-1} (outputs) units. Every unit of
 * layer l+1 takes a weighted sum of layer l and of a threshold node fixed at
 * 1, then the sigmoid (the output layer may be linear instead). Parameters,
 * layer by layer: W_l is (n_{l+1}, n_l + 1) row-major, its last column the
 * threshold weights.
 *
 * The error is the mean over patterns and outputs of (o - t)^2 (PyTorch's
 * MSELoss). Forward and backward passes are GEMMs over the pattern batch.
 *
 * Damage (seed 003): deleting hidden node j sets its output to 0 for every
 * pattern. The robustness at threshold E_th is the fraction of the N_h
 * single-node deletions whose error is below E_th. */
typedef struct dca_ffnet dca_ffnet;

/* sizes: n_layers >= 2 entries, each >= 1. inputs (patterns x n_0) and
 * targets (patterns x n_{L-1}) are copied. */
DCA_API dca_status dca_ffnet_create(int n_layers, const int64_t *sizes, bool linear_output,
                                    int64_t patterns, const double *inputs,
                                    const double *targets, dca_ffnet **out, dca_error *err);
DCA_API void dca_ffnet_destroy(dca_ffnet *net);
DCA_API int64_t dca_ffnet_params(const dca_ffnet *net);
/* Hidden units N_h (all layers but the first and the last). */
DCA_API int64_t dca_ffnet_hidden(const dca_ffnet *net);
/* E at w, and dE/dw (exact backpropagation) when grad is non-NULL.
 * outputs (patterns x n_out), when non-NULL, receives the outputs. */
DCA_API void dca_ffnet_eval(dca_ffnet *net, const double *w, double *E, double *grad,
                            double *outputs);
/* E with hidden unit h (0 <= h < N_h, counted layer by layer) deleted. */
DCA_API double dca_ffnet_damaged(dca_ffnet *net, const double *w, int64_t h);
/* The robustness at threshold E_th; damaged (N_h doubles, may be NULL)
 * receives every deletion's error. */
DCA_API double dca_ffnet_robustness(dca_ffnet *net, const double *w, double threshold,
                                    double *damaged);

/* The shipped 5x7 bitmaps: "vowels" (A E I O U) and "vowels+digits" (A E I
 * O U 0..9). Rows top to bottom, '#' = 1. Returns the pattern count and
 * fills (if non-NULL) inputs (count x 35) and one-hot targets
 * (count x count); -1 for an unknown name. */
DCA_API int64_t dca_bitmaps(const char *name, double *inputs, double *targets);
/* The bitmap file text of a set ("A\n.###.\n..." blocks). */
DCA_API const char *dca_bitmaps_text(const char *name);
/* Parses bitmap text: blocks of equal-sized rows of '#' and '.', each
 * headed by a label line, separated by blank lines. Allocates *inputs
 * (count x rows*cols, malloc) and sets the count and the size. */
DCA_API dca_status dca_bitmaps_parse(const char *text, const char *origin, double **inputs,
                                     int64_t *count, int64_t *rows, int64_t *cols,
                                     dca_error *err);

/* ---- Kuramoto oscillators ---------------------------------------------------
 *
 *   d theta_i / dt = omega_i + (1/N) sum_j w_ij sin(theta_j - theta_i),
 *
 * w symmetric, parameters the N(N-1)/2 weights w_ij with i < j in row-major
 * order. One evaluation integrates an interval of S Euler steps of size dt
 * from the current phases, takes the mean order parameter
 * rbar = (1/S) sum_{s=1..S} r(t_s), r = |(1/N) sum_j exp(i theta_j)|, and
 * E = |rbar - r0|. The gradient is the exact adjoint of the Euler scheme
 * (dE/drbar = sign(rbar - r0), 0 at equality). Evaluation does not move the
 * phases; dca_kuramoto_advance does (phases carry over between learning
 * iterations, seed 003). */
typedef struct dca_kuramoto dca_kuramoto;

DCA_API dca_status dca_kuramoto_create(int64_t n, const double *omega, const double *phases,
                                       double dt, int64_t steps, double r0, dca_kuramoto **out,
                                       dca_error *err);
DCA_API void dca_kuramoto_destroy(dca_kuramoto *k);
DCA_API int64_t dca_kuramoto_params(const dca_kuramoto *k);
/* rbar (may be NULL) receives the mean order parameter. */
DCA_API void dca_kuramoto_eval(dca_kuramoto *k, const double *w, double *E, double *grad,
                               double *rbar);
/* The phases become those at the end of the last evaluation's interval. */
DCA_API void dca_kuramoto_advance(dca_kuramoto *k);
DCA_API const double *dca_kuramoto_phases(const dca_kuramoto *k);
DCA_API const double *dca_kuramoto_omega(const dca_kuramoto *k);
/* r(t_s) for s = 0..steps from the current phases (steps + 1 values); the
 * phases do not move. */
DCA_API void dca_kuramoto_order_trace(dca_kuramoto *k, const double *w, int64_t steps,
                                      double *r);
/* Weight control (seed 003, eq. 13's last term): with W the mean |w_p|,
 * w_p -= gamma (W - W0) w_p / W. Returns W before the change. */
DCA_API double dca_kuramoto_control(double *w, int64_t params, double gamma, double w0);

#ifdef __cplusplus
}
#endif

#endif
