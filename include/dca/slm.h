/* Stochastic lattice models (seed 001, Schering 2023) fitted by
 * straight-through gradients.
 *
 * Reparameterised noise: every random number a model draws is a Philox
 * draw keyed by (seed, configuration, step, cell, purpose). A step is a pure
 * function of its input state, its parameters and that key, so the backward
 * pass replays exactly the forward noise without storing it, and no result
 * depends on the thread count.
 *
 * Discrete nodes: the Heaviside node H(z) of a model has a surrogate
 * derivative for the backward pass (dca_surrogate):
 *   identity      H'(z) := 1 (identity STE, Bengio 2013; the default);
 *   sigmoid:W     H'(z) := s(z/W)(1 - s(z/W))/W, s the logistic function.
 * The forward pass is hard (H(z) = [z > 0]) unless the model is run
 * relaxed, when H(z) := s(z/W) forward too: the "smoothed model", whose
 * exact derivative the sigmoid surrogate then is (what dca gradcheck
 * checks against finite differences). */
#ifndef DCA_SLM_H
#define DCA_SLM_H

#include <stdbool.h>
#include <stdint.h>

#include "dca/dca.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dca_surrogate_kind {
    DCA_SURROGATE_IDENTITY = 0,
    DCA_SURROGATE_SIGMOID = 1,
} dca_surrogate_kind;

typedef struct dca_ste {
    dca_surrogate_kind kind;
    double width;  /* W > 0 for sigmoid */
    bool relaxed;  /* forward H(z) = s(z/W) too (sigmoid only) */
} dca_ste;

/* "identity" or "sigmoid:W" (W > 0 and finite). */
DCA_API dca_status dca_ste_parse(const char *text, dca_ste *out, dca_error *err);

/* Noise keys: configuration c and step t select Philox index
 * c * 2^32 + t, so c < 2^31 and t < 2^32. */
enum { DCA_SLM_MAX_STEP_BITS = 32 };

/* ---- SI epidemic (thesis 7.2) ---------------------------------------------
 *
 * Binary cells (1 aware, 0 unaware) on a ring or torus. With N_c the number
 * of aware neighbours of cell c (the neighbourhood's offsets other than the
 * centre) and xi_c uniform on [0, 1) (one draw per cell and step),
 *
 *   p_c = 1 - (1 - beta)^N_c,   y_c = x_c + (1 - x_c) H(p_c - xi_c).
 *
 * One uniform per cell, not one coin per aware neighbour: both give the
 * same law P(aware) = p_c, but only this one makes the identity-STE fit
 * consistent. The expected STE gradient over xi is
 *   sum_c (1 - x_c) dp_c/dbeta (p_c(beta) - y_obs,c) * 2/(cells),
 * the gradient of the least-squares fit of p_N(beta) to the observed
 * outcomes; with one coin per neighbour it compares beta itself with the
 * outcomes, a fit biased towards the aware fraction (docs/slm.md).
 *
 * States are doubles: 0/1 when hard, in [0, 1] when relaxed. */
typedef struct dca_si dca_si;

/* lat: a ring or torus; nbhd_spec as dca_nbhd_parse (its centre offset, if
 * any, is not a neighbour). */
DCA_API dca_status dca_si_create(const dca_lattice *lat, const char *nbhd_spec, uint64_t seed,
                                 dca_si **out, dca_error *err);
DCA_API void dca_si_destroy(dca_si *si);
DCA_API int64_t dca_si_cells(const dca_si *si);
/* Neighbours per cell (offsets other than the centre). */
DCA_API int dca_si_neighbours(const dca_si *si);
/* beta must lie in [0, 1]; DCA_ERR_ARG otherwise (the message says so). */
DCA_API dca_status dca_si_check_beta(double beta, dca_error *err);

/* One step of batch configurations numbered first .. first+batch-1, at
 * step index step: x -> y (batch x cells each; y may not alias x). */
DCA_API void dca_si_step(const dca_si *si, double beta, const dca_ste *ste, int64_t batch,
                         int64_t first, int64_t step, const double *x, double *y);
/* The adjoint of dca_si_step at (x, beta), replaying its noise: given gy =
 * dL/dy, adds dL/dbeta to *gbeta and writes dL/dx to gx (NULL: not
 * wanted). Needs beta < 1 when gx is wanted (dp/dN has a log(1 - beta)).
 * The per-configuration partial sums of dL/dbeta are added in
 * configuration order. */
DCA_API void dca_si_step_adjoint(const dca_si *si, double beta, const dca_ste *ste,
                                 int64_t batch, int64_t first, int64_t step, const double *x,
                                 const double *gy, double *gx, double *gbeta);

/* Counts of one transition x -> y per neighbour count N = 0..m (m =
 * dca_si_neighbours): n[N] unaware cells of x with N aware neighbours and
 * k[N] of them aware in y. Added to n and k (hard states only). */
DCA_API void dca_si_count(const dca_si *si, int64_t batch, const double *x, const double *y,
                          double *n, double *k);
/* Estimators of beta from those counts (n, k: m + 1 entries each):
 *   maximum likelihood: maximises sum_N k_N log p_N + (n_N - k_N) N log(1 - beta);
 *   least squares (the identity-STE fit's fixed point): solves
 *   sum_N dp_N/dbeta (n_N p_N - k_N) = 0.
 * Both by bisection to 1e-12 on [0, 1]. Return NAN when the counts hold no
 * cell with N > 0. */
DCA_API double dca_si_beta_ml(int m, const double *n, const double *k);
DCA_API double dca_si_beta_ls(int m, const double *n, const double *k);

/* ---- one-pixel random-walk cellular Potts model (thesis 7.5) -------------
 *
 * One cell of volume 1 or 2 on a torus of at least 5 x 5 pixels (value 1:
 * the cell, 0: background), starting as one pixel at (H/2, W/2). A sampling
 * step picks a source pixel i and one of its 8 Moore neighbours j, then
 * copies i's value to j when L_i != L_j and H(p - xi) = 1, with
 *   dv = L_i - L_j,  v the cell's volume,
 *   p = 0 when v + dv leaves [1, 2], 1 when the cell shrinks from 2,
 *       e^(-1/T) when it grows from 1.
 * The source is drawn uniformly from the boundary pixels (DCA_POTTS_BOUNDARY:
 * the pixels with a Moore neighbour of the other value, ordered by their
 * row-major index; the usual CPM speed-up and the reading under which the
 * thesis's 800 steps make sense, DESIGN.md 8) or from all pixels
 * (DCA_POTTS_UNIFORM). Step s of lattice l reads the four words of Philox
 * (seed, DCA_RNG_POTTS, l, s): words 0-1 pick the source, word 2's top 3
 * bits the neighbour (row-major offsets without the centre), word 3 is xi.
 *
 * The statistic is the squared displacement of the cell's centroid after
 * the steps, in unwrapped coordinates. */
typedef enum dca_potts_sampling { DCA_POTTS_BOUNDARY = 0, DCA_POTTS_UNIFORM = 1 } dca_potts_sampling;

typedef struct dca_potts dca_potts;

DCA_API dca_status dca_potts_create(const dca_lattice *lat, dca_potts_sampling sampling,
                                    uint64_t seed, dca_potts **out, dca_error *err);
DCA_API void dca_potts_destroy(dca_potts *p);
/* T > 0 and finite; DCA_ERR_ARG otherwise. */
DCA_API dca_status dca_potts_check_temperature(double T, dca_error *err);

/* Per lattice l of lattices first .. first + count - 1, after `steps`
 * sampling steps at temperature T (NULL arrays are not filled):
 *   msd[l]       the squared displacement of the centroid;
 *   accepted[l], rejected[l]  the growth attempts from volume 1 (the only
 *                events whose probability depends on T) accepted / rejected;
 *   ste[l]       d msd / dT by the identity straight-through estimator: the
 *                adjoint of L_j <- L_j + H(p - xi)(L_i - L_j) over the run,
 *                with H' := 1 and the volume conditions held fixed;
 *   final[l*4]   the cell's final pixels (row, column, unwrapped; a
 *                volume-1 cell repeats its pixel).
 * Lattices are independent and run side by side on the threads. */
DCA_API void dca_potts_run(const dca_potts *p, double T, int64_t first, int64_t count,
                           int64_t steps, double *msd, double *accepted, double *rejected,
                           double *ste, int64_t *final);

/* The score-function (likelihood-ratio) estimate of d E[msd] / dT from one
 * batch: with S_l = (A_l / p - R_l / (1 - p)) dp/dT the score of lattice
 * l's accept/reject events (p = e^(-1/T)) and b_l the mean msd of the other
 * lattices (a leave-one-out baseline, so the estimate stays unbiased),
 *   g = (1/n) sum_l (msd_l - b_l) S_l. */
DCA_API double dca_potts_score_gradient(double T, int64_t n, const double *msd,
                                        const double *accepted, const double *rejected);

/* ---- the Malevanets-Kapral reaction-diffusion lattice gas (thesis 7.3) -----
 *
 * Two species A and B, 0..N particles per cell of a torus. One step:
 *  1. diffusion of A: each cell excites one particle when A_c > N xi_c
 *     (E_c = H(A_c - N xi_c)); the whole excited layer moves by one of 9
 *     offsets k (0: stay, then the Moore offsets row-major), chosen by the
 *     Gumbel-max trick on the logits log pi_k(D_A), pi_stay = 1 - D_A,
 *     pi_orth = D_A a, pi_diag = D_A a / sqrt 2, a = 1 / (4 + 4 / sqrt 2);
 *     A <- A - E + shift_k(E);
 *  2. the same for B with D_B and its own draws;
 *  3. reaction: each cell picks one of the 6 channels uniformly and applies
 *     it when p_r > xi: +A with p1 = g k1 (N-A) A^2 / ((N-1)(N-2)), -A with
 *     p2 = g k1 A (N-A)^2 / ((N-1)(N-2)), +A with p3 = g k2 (N-A) B / N, -A
 *     with p4 = g k2 A (N-B) / N, +B with p5 = g k3 (N-A)(N-B) / N, -B with
 *     p6 = g k3 A B / N (g = gamma; k_i = k_i*, thesis 7.3.2).
 * Noise: Philox (seed, DCA_RNG_MK, configuration * 2^32 + step, cell) gives
 * the four words xi_A, xi_B, the channel and xi_r; draws C .. C + 4 give the
 * 18 Gumbels. Backward: the Heaviside nodes take the surrogate (identity by
 * default), the categorical offset the Gumbel-softmax straight-through
 * estimator at temperature tau (Jang 2016). */
typedef struct dca_mk_params {
    double D_A, D_B, k1, k2, k3;
} dca_mk_params;

typedef struct dca_mk dca_mk;

/* lat: a torus; N >= 3 particles per cell (<= 65535); gamma > 0; tau > 0. */
DCA_API dca_status dca_mk_create(const dca_lattice *lat, int N, double gamma, double tau,
                                 const dca_ste *ste, uint64_t seed, dca_mk **out,
                                 dca_error *err);
DCA_API void dca_mk_destroy(dca_mk *m);
DCA_API int64_t dca_mk_cells(const dca_mk *m);
DCA_API int dca_mk_particles(const dca_mk *m);
/* 0 < D < 1 for both species, k >= 0, and every p_r <= 1 over all (A, B)
 * in [0, N]^2; DCA_ERR_ARG naming the first that fails. */
DCA_API dca_status dca_mk_check(const dca_mk *m, const dca_mk_params *p, dca_error *err);
/* T steps of configuration conf from step index t0: states (T + 1) x 2 x C
 * (A then B, the first state given on entry; whole numbers as doubles). */
DCA_API void dca_mk_run(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                        int64_t T, double *states);
/* The adjoint of dca_mk_run: from gT (2 x C, dL/d(final state)) back to the
 * first state (g0, 2 x C, may be NULL), adding dL/d(D_A, D_B, k1, k2, k3)
 * to grad[5]. Replays the noise; states as dca_mk_run wrote them. */
DCA_API void dca_mk_adjoint(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                            int64_t T, const double *states, const double *gT, double *g0,
                            double grad[5]);

/* A tape keeps each step's discrete outcomes, one byte per cell and step
 * (T x C bytes: the two excitations, the reaction channel and whether it
 * fired), so that the adjoint rebuilds the step from it and the states
 * instead of replaying the noise: the same gradient, bit for bit, in about
 * a fifth of the time (64x64, 500 steps: 9.6 against 45.1 ms on one
 * thread). It takes the state after diffusion to be the next state minus
 * the reaction's particle: exact for whole particle counts, the model's
 * states. Only the hard model with the identity surrogate has one
 * (dca_mk_tape_usable); for the others dca_mk_adjoint_tape ignores the tape
 * and replays. tape may be NULL. */
DCA_API bool dca_mk_tape_usable(const dca_mk *m);
DCA_API void dca_mk_run_tape(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                             int64_t T, double *states, uint8_t *tape);
DCA_API void dca_mk_adjoint_tape(const dca_mk *m, const dca_mk_params *p, int64_t conf,
                                 int64_t t0, int64_t T, const double *states,
                                 const uint8_t *tape, const double *gT, double *g0,
                                 double grad[5]);
/* A fit's iteration without its intermediate states: dca_mk_run_final
 * advances x (2 x C) by T steps in place, recording the tape (T x C bytes;
 * NULL for a plain simulation), and dca_mk_adjoint_final takes the final
 * state and the tape and rebuilds each earlier state on its way back (the
 * reaction and the diffusion undone: exact for whole particle counts, the
 * model's states). The same final state, tape, gradient and dL/dx0 (g0,
 * may be NULL), bit for bit, as dca_mk_run_tape and dca_mk_adjoint_tape,
 * in 2 x C doubles of states instead of (T + 1) x 2 x C. The adjoint needs
 * a tape (dca_mk_tape_usable): otherwise DCA_ERR_ARG. */
DCA_API void dca_mk_run_final(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                              int64_t T, double *x, uint8_t *tape);
DCA_API dca_status dca_mk_adjoint_final(const dca_mk *m, const dca_mk_params *p, int64_t conf,
                                        int64_t t0, int64_t T, const double *xT,
                                        const uint8_t *tape, const double *gT, double *g0,
                                        double grad[5], dca_error *err);

/* The score of the offset draws over T steps of configuration conf from t0:
 * score[s] = sum_t d log pi_{k_t}(D_s) / dD_s for A (s = 0) and B (s = 1),
 * k_t the offset drawn (the Gumbel-max choice, replayed). D enters the
 * model only through these draws, so (L - b) score[s] is an unbiased
 * estimate of dE[L]/dD_s for any baseline b independent of the run. */
DCA_API void dca_mk_offset_score(const dca_mk *m, const dca_mk_params *p, int64_t conf,
                                 int64_t t0, int64_t T, double score[2]);

/* ---- state fitting: foreground-background segmentation (thesis 7.4) ------
 *
 * The pixels of an H x W image are the parameters. From the preprocessed
 * image g (grey values, zero-centred and scaled to [-1, 1]) the state x
 * starts at x = g and descends
 *   L = la*sum_c (1 - x_c) + lb*sum_c sum_u x_c (1 - x_u)
 *     + lc*sum_c sum_u (1 - x_c) x_u + ld*sum_c (g_c - x_c)^2,
 * u over the Moore neighbours of c inside the image (no wrap: an image is
 * not a torus). The mask is the discrete node H(x): a pixel is foreground
 * when x > 0. The fit differentiates L with respect to x itself, which is
 * the thesis's straight-through reading (the mask never enters L). */
typedef struct dca_segment_weights {
    double a, b, c, d; /* lambda_a .. lambda_d */
} dca_segment_weights;

/* L at x and, when grad is non-NULL, dL/dx (H x W each). parts (non-NULL)
 * receives the four unweighted terms la, lb, lc, ld. */
DCA_API double dca_segment_loss(int64_t H, int64_t W, const double *g, const double *x,
                                const dca_segment_weights *lam, double *grad, double parts[4]);
/* The preprocessing: grey values (any range) -> zero mean, max |.| = 1.
 * DCA_ERR_ARG for a constant image. */
DCA_API dca_status dca_segment_normalise(int64_t n, const double *grey, double *g,
                                         dca_error *err);
/* Dice = 2 |P & M| / (|P| + |M|) of P = {x > 0} and M = {mask != 0}
 * (1 when both are empty). */
DCA_API double dca_dice(int64_t n, const double *x, const uint8_t *mask);

/* Synthetic fluorescent cells, made the way BBBC005 was: `cells` ellipses
 * (semi-axes on [rmin, rmax], random orientation, brightness on [0.6, 1])
 * that may touch, blurred by a Gaussian of standard deviation `blur` pixels
 * (0: none), on a background of 0.05, plus Gaussian noise of standard
 * deviation `noise`, clipped to [0, 1]. The mask is the ellipses before
 * blurring. Every draw is Philox (seed). */
DCA_API dca_status dca_cells_synthesize(int64_t H, int64_t W, int64_t cells, double rmin,
                                        double rmax, double blur, double noise, uint64_t seed,
                                        double *image, uint8_t *mask, dca_error *err);

#ifdef __cplusplus
}
#endif

#endif
