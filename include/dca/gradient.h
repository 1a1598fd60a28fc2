/* Gradient drivers over a simulation plan (orchestration layer).
 *
 * Reverse mode (dca_adjoint): the loss gradient for all parameters from one
 * forward and one backward sweep. Every state is kept when they fit a
 * budget (256 MiB by default); otherwise states are kept at checkpoints
 * every K = ceil(sqrt(T)) steps and each segment is recomputed during the
 * backward sweep, so memory grows like sqrt(T) states, at the price of
 * about one more forward sweep.
 *
 * Forward mode (dca_tangent): J_t = d x_t / d w carried beside the values
 * (the paper's propagation scheme, section 3.2): every gradient diagram
 * d x_t(g) / d w_p, at about P times the cost of a value step. */
#ifndef DCA_GRADIENT_H
#define DCA_GRADIENT_H

#include "dca/dca.h"
#include "task.h"

typedef struct dca_adjoint dca_adjoint;

/* sim must be planned with DCA_GRAD_REVERSE for `batch` configurations
 * (DCA_ERR_ARG otherwise). Keeps every state when they need at most
 * DCA_ADJOINT_KEEP_ALL_DEFAULT bytes (dca_adjoint_create_kept). */
DCA_API dca_status dca_adjoint_create(dca_sim *sim, int64_t batch, int64_t steps, dca_adjoint **out,
                              dca_error *err);
/* The default of keep_all_bytes: 256 MiB. */
#define DCA_ADJOINT_KEEP_ALL_DEFAULT ((int64_t)256 << 20)
/* As dca_adjoint_create, choosing what to store: every state x_0..x_{T-1}
 * when the T + 3 states of the sweep need at most keep_all_bytes (0: the
 * default; negative: never), so that the backward sweep replays nothing;
 * otherwise checkpoints every K = ceil(sqrt(T)) steps, and each segment
 * but the last is recomputed during the backward sweep (about one more
 * value step per step). The results are the same bit for bit. */
DCA_API dca_status dca_adjoint_create_kept(dca_sim *sim, int64_t batch, int64_t steps,
                                           int64_t keep_all_bytes, dca_adjoint **out,
                                           dca_error *err);
/* A trajectory loss: E = sum of loss(phi, x_t) over t = every, 2 every, ...
 * below T, plus loss(phi, x_T); every = 0 is dca_adjoint_run. */
static inline bool dca_loss_at_step(int64_t t, int64_t every, int64_t T)
{
    /* The terms below T; the final state always has one. */
    return every > 0 && t > 0 && t < T && t % every == 0;
}
DCA_API dca_status dca_adjoint_run_every(dca_adjoint *adj, const double *x0, const double *phi,
                                 dca_loss_fn loss, const dca_task_shape *sh, int64_t every,
                                 double *E, double *grad_w, double *xT, dca_error *err);

/* Slices of one batch evaluated apart (MPI ranks, one slice each; plans made
 * with dca_sim_options.block_first/block_batch, shapes with norm_batch) and
 * combined in a fixed order, so that every slice ends with the whole batch's
 * loss and gradient bit for bit. The hooks are called on every slice in
 * the same sequence; each may block until the other slices reach it. */
typedef struct dca_reduction {
    void *ctx;
    /* A running sum through the slices in slice order: receive the sum the
     * slice before ended with (0.0 on the first), return
     * running(arg, that sum) after handing it on to the next slice. The
     * last slice's result is the whole batch's sum. */
    double (*chain)(void *ctx, double (*running)(void *arg, double start), void *arg);
    /* The last slice's v, on every slice. */
    double (*from_last)(void *ctx, double v);
    /* Every slice's gradient blocks in slice order, on every slice: this
     * slice's n x P doubles in (dca_sim_adjoint_blocks), the batch's
     * dca_sim_gradient_blocks_batch x P doubles out. */
    dca_status (*gather)(void *ctx, const double *mine, int64_t n, int64_t P, double *all);
} dca_reduction;

/* dca_adjoint_run_every for one slice of a batch (red NULL: the whole
 * batch). The loss must be one of the library's (dca_loss_sum_of). E and
 * grad_w are the whole batch's, on every slice. */
DCA_API dca_status dca_adjoint_run_reduced(dca_adjoint *adj, const double *x0, const double *phi,
                                           dca_loss_fn loss, const dca_task_shape *sh,
                                           int64_t every, const dca_reduction *red, double *E,
                                           double *grad_w, double *xT, dca_error *err);
/* The loss at x over the slices: loss(sh, phi, x, NULL) without red;
 * otherwise the whole batch's, on the last slice only (the others get
 * partial values). */
DCA_API double dca_loss_reduced(dca_loss_fn loss, const dca_task_shape *sh, const double *phi,
                                const double *x, const dca_reduction *red);
DCA_API void dca_adjoint_destroy(dca_adjoint *adj);
/* Bytes of stored states (checkpoints, one segment, adjoints). */
DCA_API int64_t dca_adjoint_state_bytes(const dca_adjoint *adj);
/* x0 forward `steps` steps, E = loss(phi, x_T), grad_w = dE/dw. xT, when
 * non-NULL, receives x_T. */
DCA_API dca_status dca_adjoint_run(dca_adjoint *adj, const double *x0, const double *phi, dca_loss_fn loss,
                           const dca_task_shape *sh, double *E, double *grad_w, double *xT,
                           dca_error *err);

typedef struct dca_tangent dca_tangent;

/* Tangents for the first `configs` configurations (1..B of a plan made
 * with DCA_GRAD_FORWARD; DCA_ERR_ARG otherwise); refused (with the
 * estimate) when they cannot fit in memory. */
DCA_API dca_status dca_tangent_create(dca_sim *sim, int64_t configs, dca_tangent **out, dca_error *err);
DCA_API void dca_tangent_destroy(dca_tangent *tg);
DCA_API int64_t dca_tangent_bytes(int64_t configs, int64_t config_len, int64_t params);
/* J = 0: the initial configurations do not depend on the weights. */
DCA_API void dca_tangent_reset(dca_tangent *tg);
/* J <- d mu(x) / d w, where x (all B configurations) is the state the step
 * starts from. Call before stepping x itself. */
DCA_API dca_status dca_tangent_step(dca_tangent *tg, const double *x);
/* configs x config_len x params */
DCA_API const double *dca_tangent_J(const dca_tangent *tg);
/* grad_w = sum over the configurations' values of xbar * J. */
DCA_API void dca_tangent_loss_gradient(const dca_tangent *tg, const double *xbar, double *grad_w);

#endif
