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
} dca_task_shape;

typedef dca_status (*dca_target_fn)(const dca_task_shape *sh, const double *x0, double *phi,
                                    dca_error *err);
/* Returns the loss; writes dE/dx into xbar when xbar is not NULL. */
typedef double (*dca_loss_fn)(const dca_task_shape *sh, const double *phi, const double *x,
                              double *xbar);

/* Looks up a target ("identity", "majority") or loss ("cross-entropy",
 * "mse") by name; NULL if unknown. */
dca_target_fn dca_target_lookup(const char *name);
dca_loss_fn dca_loss_lookup(const char *name);
/* Names for messages: "identity, majority". */
const char *dca_target_names(void);
const char *dca_loss_names(void);

#endif
