#include "dca/gradient.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

struct dca_adjoint {
    dca_sim *sim;
    int64_t batch, steps, len, K, nseg;
    double *ckpt;      /* nseg - 1 states (the last segment is kept whole in seg) */
    double *seg;       /* K states: the last segment's, then each earlier one replayed */
    double *a0, *a1;   /* adjoints */
    double *tmp;       /* one state */
    double *mine, *all; /* gradient blocks of a slice, and of the batch */
};

dca_status dca_adjoint_create(dca_sim *sim, int64_t batch, int64_t steps, dca_adjoint **out,
                              dca_error *err)
{
    return dca_adjoint_create_kept(sim, batch, steps, 0, out, err);
}

dca_status dca_adjoint_create_kept(dca_sim *sim, int64_t batch, int64_t steps,
                                   int64_t keep_all_bytes, dca_adjoint **out, dca_error *err)
{
    if (!sim || !out)
        return dca_error_set(err, DCA_ERR_ARG, "dca_adjoint_create: NULL argument");
    if (!(dca_sim_gradients(sim) & DCA_GRAD_REVERSE))
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_adjoint_create: the plan was made without DCA_GRAD_REVERSE");
    if (batch != dca_sim_batch(sim))
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_adjoint_create: a batch of %lld for a plan of %lld "
                             "configurations (they must be equal)",
                             (long long)batch, (long long)dca_sim_batch(sim));
    if (steps < 0)
        return dca_error_set(err, DCA_ERR_ARG, "dca_adjoint_create: %lld steps",
                             (long long)steps);
    dca_part_info part;
    if (dca_sim_part(sim, &part) == DCA_OK && part.parts > 1)
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_adjoint_create: the plan is part %d of %d of a lattice; its "
                             "caller steps it (dca_sim_halo_fill before each step, dca.h)",
                             part.part, part.parts);
    dca_adjoint *a = calloc(1, sizeof *a);
    if (!a)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    a->sim = sim;
    a->batch = batch;
    a->steps = steps;
    a->len = batch * dca_sim_config_len(sim);
    /* Every state when they fit in keep_all_bytes and half the memory (no
     * replay), otherwise checkpoints every K = ceil(sqrt(T)) steps. */
    const double keep = keep_all_bytes == 0 ? (double)DCA_ADJOINT_KEEP_ALL_DEFAULT
                                            : (double)keep_all_bytes;
    const double all = (double)(steps + 3) * (double)a->len * sizeof(double);
    if (steps > 0 && all <= keep && all <= (double)dca_mem_physical() / 2) {
        a->K = steps;
    } else {
        a->K = 1;
        while (a->K * a->K < steps)
            a->K++;
    }
    a->nseg = steps > 0 ? (steps + a->K - 1) / a->K : 1;
    double bytes = (double)dca_adjoint_state_bytes(a);
    if (bytes > (double)dca_mem_physical() / 2) {
        char s1[32], s2[32];
        free(a);
        return dca_error_set(err, DCA_ERR_NOMEM,
                             "reverse mode over %lld steps keeps %s of states, more than half of "
                             "%s", (long long)steps, dca_mem_fmt(bytes, s1, sizeof s1),
                             dca_mem_budget(s2, sizeof s2));
    }
    size_t one = (size_t)a->len * sizeof(double);
    a->ckpt = dca_alloc(one * (size_t)(a->nseg > 1 ? a->nseg - 1 : 1));
    a->seg = dca_alloc(one * (size_t)a->K);
    a->a0 = dca_alloc(one);
    a->a1 = dca_alloc(one);
    a->tmp = dca_alloc(one);
    if (!a->ckpt || !a->seg || !a->a0 || !a->a1 || !a->tmp) {
        dca_adjoint_destroy(a);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for reverse-mode states");
    }
    *out = a;
    return DCA_OK;
}

void dca_adjoint_destroy(dca_adjoint *a)
{
    if (!a)
        return;
    free(a->ckpt);
    free(a->seg);
    free(a->a0);
    free(a->a1);
    free(a->tmp);
    free(a->mine);
    free(a->all);
    free(a);
}

int64_t dca_adjoint_state_bytes(const dca_adjoint *a)
{
    return (a->nseg - 1 + a->K + 3) * a->len * (int64_t)sizeof(double);
}

dca_status dca_adjoint_run(dca_adjoint *a, const double *x0, const double *phi, dca_loss_fn loss,
                           const dca_task_shape *sh, double *E, double *grad_w, double *xT,
                           dca_error *err)
{
    return dca_adjoint_run_every(a, x0, phi, loss, sh, 0, E, grad_w, xT, err);
}

typedef struct running_arg {
    dca_loss_sum_fn sum;
    const dca_task_shape *sh;
    const double *phi, *x;
} running_arg;

static double running(void *arg, double start)
{
    const running_arg *r = arg;
    return r->sum(r->sh, r->phi, r->x, start);
}

double dca_loss_reduced(dca_loss_fn loss, const dca_task_shape *sh, const double *phi,
                        const double *x, const dca_reduction *red)
{
    if (!red)
        return loss(sh, phi, x, NULL);
    /* The same operations as the loss itself: the running sum, then the
     * scale. */
    running_arg r = {dca_loss_sum_of(loss), sh, phi, x};
    return red->chain(red->ctx, running, &r) * dca_loss_scale(sh);
}

dca_status dca_adjoint_run_every(dca_adjoint *a, const double *x0, const double *phi,
                                 dca_loss_fn loss, const dca_task_shape *sh, int64_t every,
                                 double *E, double *grad_w, double *xT, dca_error *err)
{
    return dca_adjoint_run_reduced(a, x0, phi, loss, sh, every, NULL, E, grad_w, xT, err);
}

/* dE/dw from the plan's blocks and the other slices'. */
static dca_status end_reduced(dca_adjoint *a, const dca_reduction *red, double *grad_w,
                              dca_error *err)
{
    dca_sim *sim = a->sim;
    const int64_t P = dca_sim_params(sim), n = dca_sim_gradient_blocks(sim),
                  nall = dca_sim_gradient_blocks_batch(sim);
    if (!a->all) {
        a->mine = dca_alloc((size_t)((n > 0 ? n : 1) * P) * sizeof(double));
        a->all = dca_alloc((size_t)(nall * P) * sizeof(double));
        if (!a->mine || !a->all)
            return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the gradient blocks");
    }
    dca_status st;
    if ((st = dca_sim_adjoint_blocks(sim, a->mine)))
        return dca_error_set(err, st, "%s", dca_sim_error(sim));
    if ((st = red->gather(red->ctx, a->mine, n, P, a->all)))
        return dca_error_set(err, st, "gathering the gradient blocks of the slices failed");
    if ((st = dca_sim_adjoint_finish(sim, a->all, nall, grad_w)))
        return dca_error_set(err, st, "%s", dca_sim_error(sim));
    return DCA_OK;
}

dca_status dca_adjoint_run_reduced(dca_adjoint *a, const double *x0, const double *phi,
                                   dca_loss_fn loss, const dca_task_shape *sh, int64_t every,
                                   const dca_reduction *red, double *E, double *grad_w,
                                   double *xT, dca_error *err)
{
    dca_status st = DCA_OK;
    if (every < 0)
        return dca_error_set(err, DCA_ERR_ARG, "a loss every %lld steps", (long long)every);
    if (red && !dca_loss_sum_of(loss))
        return dca_error_set(err, DCA_ERR_ARG,
                             "slices of a batch need one of the library's losses (%s)",
                             dca_loss_names());
    double Etraj = 0.0;
    const int64_t T = a->steps, K = a->K, len = a->len;
    const size_t one = (size_t)len * sizeof(double);
    /* Forward sweep: checkpoint x_{jK}; the last segment's states go
     * straight to seg (the backward sweep starts there without replaying
     * it); x_T ends in tmp. */
    const int64_t tl = (a->nseg - 1) * K; /* the last segment's first step */
    double *cur = a->a0, *next = a->tmp;
    memcpy(tl > 0 ? cur : a->seg, x0, one);
    for (int64_t t = 0; t < T; t++) {
        if (t < tl && t % K == 0)
            memcpy(a->ckpt + (t / K) * len, cur, one);
        const double *src = t < tl ? cur : a->seg + (t - tl) * len;
        double *dst = t + 1 < tl ? next : (t + 1 < T ? a->seg + (t + 1 - tl) * len : a->tmp);
        if ((st = dca_sim_step_at(a->sim, t, src, dst)))
            return dca_error_set(err, st, "%s", dca_sim_error(a->sim));
        if (t + 1 < tl) {
            double *s = cur;
            cur = next;
            next = s;
        }
        if (dca_loss_at_step(t + 1, every, T))
            Etraj += dca_loss_reduced(loss, sh, phi, dst, red);
    }
    if (T == 0)
        memcpy(a->tmp, x0, one);
    cur = a->tmp;
    if (xT)
        memcpy(xT, cur, one);
    double *ybar = a->a0, *xbar = a->a1;
    *E = loss(sh, phi, cur, ybar);
    if (red)
        *E = dca_loss_reduced(loss, sh, phi, cur, red);
    if (every > 0)
        *E += Etraj;
    if (red)
        *E = red->from_last(red->ctx, *E);
    /* Backward sweep, segment by segment from the last. */
    if ((st = dca_sim_adjoint_begin(a->sim)))
        return dca_error_set(err, st, "%s", dca_sim_error(a->sim));
    for (int64_t j = a->nseg - 1; j >= 0 && T > 0; j--) {
        const int64_t t0 = j * K, t1 = t0 + K < T ? t0 + K : T;
        if (j < a->nseg - 1)
            memcpy(a->seg, a->ckpt + j * len, one);
        for (int64_t t = t0 + 1; t < t1 && j < a->nseg - 1; t++)
            if ((st = dca_sim_step_at(a->sim, t - 1, a->seg + (t - 1 - t0) * len,
                                      a->seg + (t - t0) * len)))
                return dca_error_set(err, st, "%s", dca_sim_error(a->sim));
        for (int64_t t = t1 - 1; t >= t0; t--) {
            if ((st = dca_sim_adjoint_step_at(a->sim, t, a->seg + (t - t0) * len, ybar, xbar)))
                return dca_error_set(err, st, "%s", dca_sim_error(a->sim));
            double *s = ybar;
            ybar = xbar;
            xbar = s;
            /* ybar is now dE/dx_t; a loss term at t adds its own part. */
            if (dca_loss_at_step(t, every, T)) {
                loss(sh, phi, a->seg + (t - t0) * len, a->tmp);
                for (int64_t i = 0; i < len; i++)
                    ybar[i] += a->tmp[i];
            }
        }
    }
    if (red)
        return end_reduced(a, red, grad_w, err);
    if ((st = dca_sim_adjoint_end(a->sim, grad_w)))
        return dca_error_set(err, st, "%s", dca_sim_error(a->sim));
    return DCA_OK;
}

struct dca_tangent {
    dca_sim *sim;
    int64_t configs, jlen;
    double *J, *Jn;
};

int64_t dca_tangent_bytes(int64_t configs, int64_t config_len, int64_t params)
{
    double b = 2.0 * (double)configs * (double)config_len * (double)params * 8.0;
    return b > 9e18 ? INT64_MAX : (int64_t)b;
}

dca_status dca_tangent_create(dca_sim *sim, int64_t configs, dca_tangent **out, dca_error *err)
{
    if (!sim || !out)
        return dca_error_set(err, DCA_ERR_ARG, "dca_tangent_create: NULL argument");
    if (!(dca_sim_gradients(sim) & DCA_GRAD_FORWARD))
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_tangent_create: the plan was made without DCA_GRAD_FORWARD");
    if (configs < 1 || configs > dca_sim_batch(sim))
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_tangent_create: %lld configurations for a plan of %lld",
                             (long long)configs, (long long)dca_sim_batch(sim));
    const int64_t len = dca_sim_config_len(sim);
    const int64_t P = dca_sim_params(sim);
    double bytes = (double)dca_tangent_bytes(configs, len, P);
    if (bytes > (double)dca_mem_physical() / 2) {
        char s1[32], s2[32];
        return dca_error_set(err, DCA_ERR_NOMEM,
                             "forward-mode gradients for %lld configurations x %lld values x "
                             "%lld parameters need %s, more than half of %s "
                             "(record fewer configurations, or use reverse mode for the loss "
                             "gradient)", (long long)configs, (long long)len, (long long)P,
                             dca_mem_fmt(bytes, s1, sizeof s1),
                             dca_mem_budget(s2, sizeof s2));
    }
    dca_tangent *tg = calloc(1, sizeof *tg);
    if (!tg)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    tg->sim = sim;
    tg->configs = configs;
    tg->jlen = configs * len * P;
    tg->J = dca_calloc((size_t)tg->jlen * sizeof(double));
    tg->Jn = dca_alloc((size_t)tg->jlen * sizeof(double));
    if (!tg->J || !tg->Jn) {
        dca_tangent_destroy(tg);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for forward-mode gradients");
    }
    *out = tg;
    return DCA_OK;
}

void dca_tangent_destroy(dca_tangent *tg)
{
    if (!tg)
        return;
    free(tg->J);
    free(tg->Jn);
    free(tg);
}

void dca_tangent_reset(dca_tangent *tg) { memset(tg->J, 0, (size_t)tg->jlen * sizeof(double)); }

dca_status dca_tangent_step(dca_tangent *tg, const double *x)
{
    dca_status st = dca_sim_tangent_step(tg->sim, x, tg->J, tg->Jn, tg->configs);
    if (st)
        return st;
    double *s = tg->J;
    tg->J = tg->Jn;
    tg->Jn = s;
    return DCA_OK;
}

const double *dca_tangent_J(const dca_tangent *tg) { return tg->J; }

void dca_tangent_loss_gradient(const dca_tangent *tg, const double *xbar, double *grad_w)
{
    const int64_t P = dca_sim_params(tg->sim), n = tg->configs * dca_sim_config_len(tg->sim);
    for (int64_t p = 0; p < P; p++)
        grad_w[p] = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double xb = xbar[i], *j = tg->J + i * P;
        for (int64_t p = 0; p < P; p++)
            grad_w[p] += xb * j[p];
    }
}
