/* One training iteration as a library step (STYLE.md 6: init / step; the
 * caller owns the loop, logging, checkpoints and stopping).
 *
 * A trainer draws the iteration's configurations (the whole batch, a
 * minibatch of M distinct ones, or a fresh batch), evaluates the objective
 * (with the gradient when the optimiser needs it), checks that loss and
 * gradient are finite, takes the optimiser's step and hands the new
 * weights to the plan. Every draw is keyed by (seed, iteration): a resumed
 * run repeats the iterations it continues bit for bit, on any thread count. */
#ifndef DCA_TRAINER_H
#define DCA_TRAINER_H

#include "dca/dca.h"
#include "dca/gradient.h"
#include "dca/optim.h"
#include "dca/task.h"

typedef struct dca_trainer dca_trainer;

typedef struct dca_trainer_options {
    int64_t steps;          /* T: steps from the initial configurations to the loss */
    int64_t minibatch;      /* M distinct configurations per iteration (0: all) */
    bool fresh;             /* a new batch of B every iteration, drawn with fresh_init */
    const char *fresh_init; /* fresh: the [init] kind (bernoulli:P, uniform-density, ...) */
    double fresh_eps;       /* fresh: the [init] eps */
    const char *target;     /* fresh: the target spec, recomputed for each batch */
    uint64_t seed;          /* minibatch draws and fresh batches */
    int threads;            /* 0: OpenMP's default */
    dca_precision precision;
    /* Several processes (MPI ranks) sharing each iteration's configurations:
     * this one is slice `slice` of `slices` (0: one slice, the whole
     * iteration) and takes the share dca_sim_batch_share gives it; reduce
     * combines the slices (gradient.h). Every slice then sees the whole
     * batch's loss and gradient, bit for bit those of one process, and
     * takes the same optimiser step. */
    int slices, slice;
    const dca_reduction *reduce;
    /* x0 and phi hold configurations [held_first, held_first + held_count)
     * of the batch (held_count 0: all of it). Whole-batch training needs
     * this slice's share among them; minibatches need the whole batch;
     * fresh batches read neither. */
    int64_t held_first, held_count;
    /* Reverse mode's memory: dca_objective_options.keep_all_bytes. */
    int64_t keep_all_bytes;
    /* The plan's kernel and tile (AUTO, 0: the plan's choice); tune: chosen
     * by dca_sim_tune on this slice's shape (one slice only), with the
     * candidates in *tune_report when it is not NULL. */
    dca_kernel kernel;
    int64_t tile_cells;
    bool tune;
    dca_tune_report *tune_report;
} dca_trainer_options;

/* Why an iteration failed (status DCA_ERR_FORMAT), for the caller's message. */
typedef enum dca_train_fault {
    DCA_TRAIN_OK = 0,
    DCA_TRAIN_LOSS_NOT_FINITE,     /* report.loss */
    DCA_TRAIN_GRADIENT_NOT_FINITE, /* report.bad_index, report.bad_value */
    DCA_TRAIN_WEIGHT_NAN,          /* report.bad_index: after the step; the plan keeps the old weights */
} dca_train_fault;

typedef struct dca_train_report {
    double loss;          /* E at the weights the iteration started from */
    double gradient_norm; /* |dE/dw|; NaN for gradient-free optimisers */
    dca_train_fault fault;
    int64_t bad_index;
    double bad_value;
} dca_train_report;

/* x0 and phi: the batch (B configurations of the shape's lattice, or the part
 * named by held_first/held_count) and its
 * targets, read at every iteration (the caller keeps them). rule: its
 * current weights are the start. opt: the optimiser (its type decides
 * whether reverse mode is planned). sh: the task shape of the whole batch. */
DCA_API dca_status dca_trainer_create(const dca_lattice *lat, dca_rule *rule, const double *x0,
                                      const double *phi, dca_loss_fn loss,
                                      const dca_task_shape *sh, dca_optim *opt,
                                      const dca_trainer_options *o, dca_trainer **out,
                                      dca_error *err);
DCA_API void dca_trainer_destroy(dca_trainer *tr);
/* Iteration `iter` from the weights w (params doubles, also the rule's
 * current weights): fills report, updates w in place and sets the rule to
 * it. DCA_ERR_FORMAT with report->fault when something is not finite; w is
 * then the last good weights unless fault is DCA_TRAIN_WEIGHT_NAN. */
DCA_API dca_status dca_trainer_step(dca_trainer *tr, int64_t iter, double *w,
                                    dca_train_report *report, dca_error *err);
/* The last gradient (params doubles; NULL for gradient-free optimisers). */
DCA_API const double *dca_trainer_gradient(const dca_trainer *tr);
/* Configurations per iteration (all slices'). */
DCA_API int64_t dca_trainer_batch(const dca_trainer *tr);
/* This slice's share of them: [*first, *first + *count). */
DCA_API void dca_trainer_share(const dca_trainer *tr, int64_t *first, int64_t *count);
DCA_API dca_sim *dca_trainer_sim(dca_trainer *tr);

#endif
