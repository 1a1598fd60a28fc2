/* Tasks: a target phi(x0) for each initial configuration and a loss
 * between phi and the final state x_T, averaged over cells and the batch
 * (DESIGN.md §3). Targets and losses are tables: adding one is adding a row. */
#ifndef DCA_TASK_H
#define DCA_TASK_H

#include "dca/dca.h"

/* Probabilities are clamped to [DCA_LOG_FLOOR, 1] inside the logarithm of
 * the cross-entropy; where the clamp is active the loss is flat in x. Terms
 * with target probability 0 are 0 (0 log 0 = 0): exact 0/1 targets and
 * states never give NaN. */
#define DCA_LOG_FLOOR 1e-12

typedef struct dca_task_shape {
    const dca_lattice *lat;
    int states;
    dca_mode mode;
    int64_t batch;
    const dca_nbhd *nb;      /* for rule:N:T targets; may be NULL otherwise */
    const char *basedir;     /* for file: targets with a relative path; NULL: "." */
    /* Reads file: targets (PATH.h5:/DATASET); supplied by the experiment
     * layer (dca_read_configurations), NULL to refuse file: targets. */
    dca_status (*read_configurations)(const char *spec, const char *basedir,
                                      const dca_lattice *lat, int states, dca_mode mode,
                                      int64_t batch, double **out, int64_t *out_batch,
                                      dca_error *err);
    /* The losses average over norm_batch configurations (0: batch): a slice
     * of a larger batch gives its share of the whole batch's loss. */
    int64_t norm_batch;
} dca_task_shape;

typedef dca_status (*dca_target_fn)(const dca_task_shape *sh, const double *x0, double *phi,
                                    dca_error *err);
/* Returns the loss; writes dE/dx into xbar when xbar is not NULL. */
typedef double (*dca_loss_fn)(const dca_task_shape *sh, const double *phi, const double *x,
                              double *xbar);

/* Looks up a target ("identity", "majority") or loss ("cross-entropy",
 * "mse") by name; NULL if unknown. */
DCA_API dca_target_fn dca_target_lookup(const char *name);
/* Any target spec, parameterised ones included:
 *   shift:D (1D) or shift:DY,DX (2D): phi(x0)(g) = x0(g - D), the start moved
 *     D cells forward around the ring (torus);
 *   rule:N:T: the exact configuration an ordinary CA with table N (decimal
 *     Wolfram number or 0x hex, bit i = output of pattern i, over the
 *     experiment's neighbourhood, 2 states) reaches after T steps from x0
 *     rounded to 0/1;
 *   life:Bxx/Syy:T: the same for the Life-like (outer-totalistic) rule in
 *     B/S notation over the experiment's neighbourhood (any size);
 *   file:PATH.h5:/DATASET: per-configuration targets of the shape of the
 *     initial configurations, (B, *L) binary or (B, *L, k) softmax, values
 *     in [0, 1] (softmax cells summing to 1).
 * Returns DCA_ERR_ARG with a message for a malformed spec. */
DCA_API dca_status dca_target_make(const char *spec, const dca_task_shape *sh, const double *x0,
                           double *phi, dca_error *err);
/* Checks a spec's syntax (without data): for the configuration loader. */
DCA_API bool dca_target_valid(const char *spec, char *why, size_t len);
DCA_API dca_loss_fn dca_loss_lookup(const char *name);
/* The library's losses are sums of per-value terms times dca_loss_scale(sh)
 * (1 / (norm_batch x cells)). Their running-sum form adds the terms to
 * start one at a time, in value order, and returns the unscaled sum: a slice
 * of a batch that starts from the previous slices' sum ends with the whole
 * batch's sum bit for bit. NULL for a loss not from dca_loss_lookup. */
typedef double (*dca_loss_sum_fn)(const dca_task_shape *sh, const double *phi, const double *x,
                                  double start);
DCA_API dca_loss_sum_fn dca_loss_sum_of(dca_loss_fn loss);
DCA_API double dca_loss_scale(const dca_task_shape *sh);
/* Names for messages: "identity, majority". */
DCA_API const char *dca_target_names(void);
DCA_API const char *dca_loss_names(void);

#endif
