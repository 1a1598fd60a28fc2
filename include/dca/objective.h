/* The objective: parameters in, loss and (if asked) its gradient out.
 *
 * One function for everything that fits a model: dca train, dca run's
 * [task], dca gradcheck, the Python binding, and (next) MPI ranks all call
 * dca_objective_eval. It owns the sweep: T steps of the plan from x0, the
 * loss against the targets phi at x_T (or along the trajectory), and, when
 * a gradient is wanted, the reverse-mode sweep with sqrt(T) checkpoints.
 *
 * A slice of a larger batch: range.first is the global index of the plan's
 * first configuration, range.global_count the whole batch. The loss is then
 * normalised by the global batch, so the slices' losses and gradients add
 * up to the whole batch's (their sum in a fixed order is the reduction). */
#ifndef DCA_OBJECTIVE_H
#define DCA_OBJECTIVE_H

#include "dca/dca.h"
#include "dca/gradient.h"
#include "dca/task.h"

typedef struct dca_objective dca_objective;

typedef struct dca_objective_range {
    int64_t first;        /* global index of the plan's configuration 0 */
    int64_t count;        /* configurations in this slice: the plan's batch (0: the same) */
    int64_t global_count; /* the whole batch (0: count) */
} dca_objective_range;

typedef struct dca_objective_options {
    int64_t steps;              /* T >= 0 */
    int64_t loss_every;         /* 0: the loss at x_T only; s > 0: plus a term at t = s, 2s, ... */
    dca_objective_range range;
    /* How the slices combine (NULL: this plan is the whole batch). With it,
     * every slice's dca_objective_eval returns the whole batch's E and
     * gradient, bit for bit those of one process (gradient.h); the plan
     * must be made with block_first = range.first and block_batch =
     * range.global_count. */
    const dca_reduction *reduce;
    /* Reverse mode keeps every state when they need at most this many
     * bytes (0: DCA_ADJOINT_KEEP_ALL_DEFAULT, 256 MiB; negative: never,
     * checkpoints every ceil(sqrt(T)) steps); dca_adjoint_create_kept. */
    int64_t keep_all_bytes;
} dca_objective_options;

/* sim: the plan (its batch is the slice; DCA_GRAD_REVERSE if gradients
 * will be asked for). x0, phi: batch x config_len each, owned by the caller
 * and read at every evaluation. sh describes one slice (sh->batch must be
 * the plan's batch). */
DCA_API dca_status dca_objective_create(dca_sim *sim, const double *x0, const double *phi,
                                dca_loss_fn loss, const dca_task_shape *sh,
                                const dca_objective_options *opt, dca_objective **out,
                                dca_error *err);
DCA_API void dca_objective_destroy(dca_objective *obj);
/* Sets the parameters (params doubles; NULL keeps the current ones),
 * evaluates E and, when grad is non-NULL, dE/dw. xT (non-NULL) receives the
 * final states. Fails with DCA_ERR_ARG for NaN parameters or a gradient
 * asked of a plan without reverse mode. */
DCA_API dca_status dca_objective_eval(dca_objective *obj, const double *params, double *E, double *grad,
                              double *xT, dca_error *err);
DCA_API int64_t dca_objective_params(const dca_objective *obj);
/* Bytes the reverse sweep keeps (checkpoints, one segment, adjoints); 0
 * before the first gradient evaluation. */
DCA_API int64_t dca_objective_state_bytes(const dca_objective *obj);

#endif
