/* The SI experiments of seed 001 (thesis 7.2): reference trajectories,
 * trajectory fitting of beta by minibatch straight-through gradients, the
 * likelihood and least-squares estimators on the same transitions, and a
 * gradient-free ABC-rejection baseline, counted in lattice steps. */
#ifndef DCA_SI_FIT_H
#define DCA_SI_FIT_H

#include <stdbool.h>
#include <stdint.h>

#include "dca/optim.h"
#include "dca/slm.h"

/* Trajectories: S simulations of T states each (T - 1 transitions). */
typedef struct dca_si_data {
    int64_t S, T, C;
    double *frames;  /* S x T x C, 0/1 */
    double *beta_t;  /* S x (T - 1): the per-step beta of simulated data (NULL for files) */
    int m;           /* neighbours */
    double *n, *k;   /* m + 1 each: transition counts (dca_si_count) */
} dca_si_data;

typedef struct dca_si_sim_options {
    int64_t simulations, states;
    double beta_mean, beta_std; /* beta_t ~ N(mean, std) truncated to [0, 1] */
    uint64_t seed;
} dca_si_sim_options;

/* Reference trajectories, each from one aware cell at the lattice's centre
 * (row H/2, column W/2), beta_t drawn per simulation and step (redrawn
 * while outside [0, 1]; the truncated normal). The noise seed is si's. */
dca_status dca_si_data_simulate(const dca_si *si, const dca_lattice *lat,
                                const dca_si_sim_options *o, dca_si_data *d, dca_error *err);
/* Trajectories from a float or integer dataset of shape (S, T, H, W) (a
 * torus) or (S, T, N) (a ring), values 0 or 1, aware cells staying aware.
 * Errors name the file, the dataset and the first bad entry. */
dca_status dca_si_data_load(const dca_si *si, const dca_lattice *lat, const char *path,
                            const char *dataset, dca_si_data *d, dca_error *err);
void dca_si_data_free(dca_si_data *d);

/* Minibatch fitting: iteration i draws `minibatch` transitions uniformly
 * with replacement (Philox (optim seed, MINIBATCH, i, slot)), predicts
 * each next state with one noisy step (configuration i * minibatch + slot,
 * step 0), and takes L = mean over the batch and cells of (y - x_obs)^2 and
 * its straight-through gradient. */
typedef struct dca_si_fit_options {
    double beta0;
    dca_ste ste;
    dca_optim *opt;        /* the caller's, over one weight (beta); its state is the fit's */
    uint64_t optim_seed;   /* the minibatches' draws */
    int64_t iterations, minibatch;
    int64_t start;         /* iterations already done (a resumed fit): r->beta[0..start],
                              r->loss and r->gradient[0..start) hold them, opt has taken
                              them; beta0 is not used then */
    /* progress: called after each iteration; returns true to stop. */
    bool (*on_iteration)(void *ctx, int64_t iter, double beta, double loss);
    void *ctx;
} dca_si_fit_options;

typedef struct dca_si_fit_result {
    double *beta;     /* iterations + 1: beta before each iteration and the last */
    double *loss;     /* iterations */
    double *gradient; /* iterations */
    int64_t iterations_run;
    bool left_domain; /* the optimiser moved beta out of [0, 1]: stopped there */
    bool interrupted;
} dca_si_fit_result;

/* r's arrays must hold iterations (+1) entries. */
dca_status dca_si_fit(const dca_si *si, const dca_si_data *d, const dca_si_fit_options *o,
                      dca_si_fit_result *r, dca_error *err);

/* ABC rejection: candidate c draws beta_c ~ U(0, 1) (Philox (seed,
 * SLM_DATA, 2^40 + c)), runs `simulations` trajectories of T states with
 * constant beta_c from the first `simulations` observed initial states (noise
 * configurations 2^24 + c * simulations + s of si's seed), and scores the
 * distance between the mean aware fraction per time (t = 1 .. T-1) and the
 * observed one (root mean square). The estimate after n candidates is the
 * mean beta of the ceil(accept * n) nearest. */
typedef struct dca_si_abc_options {
    int64_t candidates, simulations;
    double accept;
    uint64_t seed;
    int64_t start; /* candidates already scored (a resumed run): beta, distance [0..start) */
    bool (*on_candidate)(void *ctx, int64_t done);
    void *ctx;
} dca_si_abc_options;

dca_status dca_si_abc(const dca_si *si, const dca_si_data *d, const dca_si_abc_options *o,
                      double *beta, double *distance, int64_t *done, dca_error *err);
/* The estimate after the first n candidates (beta, distance as above). */
double dca_si_abc_estimate(const double *beta, const double *distance, int64_t n, double accept);

#endif
