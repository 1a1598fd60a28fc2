/* Learners: the non-lattice model types of dca/learn.h (feed-forward
 * networks, Kuramoto oscillators) as configured by [model], and one
 * ensemble member's training loop with any optimiser type (seed 003's
 * autonomous map, biparametric with robustness, or a gradient method).
 *
 * A member is a pure function of (configuration, member index): its
 * initial weights, frequencies and phases are Philox draws keyed by
 * ([model] seed, member), its optimiser's noise by [optimizer] seed + member
 * times a fixed odd constant. Members never share state, so an ensemble is
 * bitwise the same on any thread count. */
#ifndef DCA_LEARNER_H
#define DCA_LEARNER_H

#include <stdbool.h>
#include <stdint.h>

#include "dca/dca.h"
#include "dca/learn.h"

enum { DCA_LEARNER_MAX_LAYERS = 64 };

typedef enum dca_model_kind {
    DCA_MODEL_RULE = 0, /* the cellular automaton of [lattice] and [rule] */
    DCA_MODEL_FFNET,
    DCA_MODEL_KURAMOTO,
    DCA_MODEL_SI,    /* the SI epidemic of seed 001 (dca/slm.h) */
    DCA_MODEL_POTTS, /* the one-pixel random-walk cellular Potts model of seed 001 */
    DCA_MODEL_SEGMENT, /* state fitting: segmentation (seed 001) */
    DCA_MODEL_MK,      /* the Malevanets-Kapral lattice gas (seed 001) */
} dca_model_kind;

typedef struct dca_learner_options {
    dca_model_kind kind;
    const char *kind_name;
    /* ffnet */
    int n_layers;
    int64_t layers[DCA_LEARNER_MAX_LAYERS];
    bool linear_output;
    const char *patterns; /* vowels | vowels+digits | xor | sin:COUNT | file:PATH */
    const char *weights;  /* auto | uniform:A | normal:STD | constant:C */
    const char *bias;     /* as-weights | zeros | fan-in */
    double robustness_threshold; /* 0: robustness not computed */
    /* kuramoto */
    int64_t oscillators;
    const char *omega; /* spread:A | uniform:A | normal:STD | list:... */
    double dt, interval, r0, gamma, w0;
    uint64_t seed;
    /* [ensemble] */
    int64_t members;
    const char *sweep[2]; /* "none" or "SECTION.KEY: V1 V2 ..." */
    int64_t record_every;
    double success;
    int64_t trace_members;
} dca_learner_options;

/* What every member of one configuration shares: the patterns and targets
 * of a network, the checked weight and frequency specifications. */
typedef struct dca_learner_data {
    int64_t patterns, n_in, n_out;
    double *x, *t; /* patterns x n_in, patterns x n_out */
    bool classification; /* targets are all 0 or 1 */
    int64_t steps;       /* kuramoto: Euler steps per interval */
} dca_learner_data;

/* Reads the patterns (file: paths relative to basedir) and checks them
 * against the layers. Errors say what is wrong; the caller names the key. */
dca_status dca_learner_data_load(const dca_learner_options *o, const char *basedir,
                                 dca_learner_data *d, dca_error *err);
void dca_learner_data_free(dca_learner_data *d);

/* Parameters of the configured model (0 for DCA_MODEL_RULE). */
int64_t dca_learner_param_count(const dca_learner_options *o);
/* Hidden units (ffnet), for the damaged-error arrays. */
int64_t dca_learner_hidden(const dca_learner_options *o);

/* One member's history, in arrays the caller owns (NULL: not wanted). */
typedef struct dca_learner_record {
    int64_t rows;         /* recorded iterations: 0, s, 2s, ... and the last */
    double *loss;         /* rows: E at the weights each recorded iteration started from */
    double *robustness;   /* rows (ffnet with a threshold) */
    double *order;        /* rows (kuramoto): rbar */
    double *mean_weight;  /* rows (kuramoto): W = mean |w| */
    double *initial_weights, *final_weights; /* P */
    double *damaged;      /* N_h: final error with each hidden unit deleted */
    double *outputs;      /* patterns x n_out: final outputs */
    double *trace_before, *trace_after; /* kuramoto: 2 S + 1 values of r(t) */
    double final_loss, final_robustness, final_order, final_mean_weight, classified;
    int64_t iterations_run;
    bool diverged; /* the loss or a weight stopped being finite at iterations_run */
} dca_learner_record;

/* Row count for `iterations` with [ensemble] record-every s: iterations
 * 0, s, 2s, ... below `iterations`, and the final state (row index
 * `iterations`). times (may be NULL) receives the iteration numbers. */
int64_t dca_learner_rows(int64_t iterations, int64_t every, int64_t *times);

typedef struct dca_learner_run {
    const dca_learner_options *model;
    const dca_learner_data *data;
    const char *method;
    const double *optim_par; /* the method's parameters, descriptor order */
    uint64_t optim_seed;
    int64_t iterations;
    double tolerance; /* stop when E <= tolerance (0: never) */
} dca_learner_run;

/* Trains member `member`. progress (may be NULL) is called after every
 * iteration with the member's iteration count; returning true stops the
 * member (an interrupt): the record then holds what was done. A member
 * whose loss or weights stop being finite has diverged: that is a result
 * (rec->diverged, its later rows and final values NaN), not an error. */
dca_status dca_learner_train(const dca_learner_run *run, int64_t member, dca_learner_record *rec,
                             bool (*progress)(void *ctx, int64_t iter), void *ctx,
                             dca_error *err);

/* Member 0's initial weights, E and gradient, and E at w (for gradcheck):
 * a learner that evaluates without training. */
typedef struct dca_learner dca_learner;
dca_status dca_learner_create(const dca_learner_options *o, const dca_learner_data *d,
                              int64_t member, dca_learner **out, double *w0, dca_error *err);
void dca_learner_destroy(dca_learner *l);
int64_t dca_learner_params(const dca_learner *l);
void dca_learner_eval(dca_learner *l, const double *w, double *E, double *grad);
/* The oscillators of a kuramoto learner (NULL otherwise). */
dca_kuramoto *dca_learner_kuramoto(dca_learner *l);

#endif
