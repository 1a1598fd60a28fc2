#include "dca/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dca/objective.h"
#include "mem.h"
#include "rng.h"

struct dca_trainer {
    dca_trainer_options o;
    const dca_lattice *lat;
    dca_rule *rule;
    dca_optim *opt;
    dca_sim *sim;
    dca_objective *obj;
    dca_task_shape sh_all; /* the whole batch */
    const double *x0, *phi;
    int64_t B, M, len, P;
    int64_t first, count; /* this slice of the M configurations */
    bool use_grad;
    double *xb, *phib; /* the iteration's configurations when sampled */
    int64_t *order;
    double *grad;
};

dca_status dca_trainer_create(const dca_lattice *lat, dca_rule *rule, const double *x0,
                              const double *phi, dca_loss_fn loss, const dca_task_shape *sh,
                              dca_optim *opt, const dca_trainer_options *o, dca_trainer **out,
                              dca_error *err)
{
    if (!lat || !rule || !x0 || !phi || !loss || !sh || !opt || !o || !out)
        return dca_error_set(err, DCA_ERR_ARG, "dca_trainer_create: NULL argument");
    *out = NULL;
    const int64_t B = sh->batch, M = o->minibatch ? o->minibatch : B;
    if (M < 1 || M > B)
        return dca_error_set(err, DCA_ERR_ARG,
                             "a minibatch of %lld from a batch of %lld configurations",
                             (long long)M, (long long)B);
    if (o->fresh && (o->minibatch || !o->fresh_init || !o->target))
        return dca_error_set(err, DCA_ERR_ARG,
                             "fresh batches need an init kind and a target, and no minibatch");
    const int slices = o->slices > 0 ? o->slices : 1;
    if (o->slice < 0 || o->slice >= slices || (slices > 1 && !o->reduce))
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_trainer_create: slice %d of %d%s", o->slice, slices,
                             slices > 1 && !o->reduce ? " without a reduction" : "");
    int64_t first = 0, count = M;
    if (slices > 1) {
        dca_sim_batch_share(M, dca_rule_params(rule), slices, o->slice, &first, &count);
        if (count < 1)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "%lld configurations per iteration cannot be shared by %d "
                                 "slices: slice %d gets none", (long long)M, slices, o->slice);
        if (o->fresh && strncmp(o->target, "file:", 5) == 0)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "a file: target with fresh batches cannot be split between "
                                 "slices");
    }
    const int64_t held = o->held_count ? o->held_count : B;
    if (o->held_first < 0 || held < 0 || o->held_first + held > B ||
        (o->minibatch && held != B) ||
        (!o->minibatch && !o->fresh &&
         (first < o->held_first || first + count > o->held_first + held)))
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_trainer_create: x0 holds configurations %lld..%lld of %lld; "
                             "this slice trains on %lld..%lld%s", (long long)o->held_first,
                             (long long)(o->held_first + held - 1), (long long)B,
                             (long long)first, (long long)(first + count - 1),
                             o->minibatch ? " (a minibatch needs all of them)" : "");
    dca_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    t->o = *o;
    t->lat = lat;
    t->rule = rule;
    t->opt = opt;
    t->sh_all = *sh;
    t->x0 = x0;
    t->phi = phi;
    t->B = B;
    t->M = M;
    t->first = first;
    t->count = count;
    t->P = dca_rule_params(rule);
    /* Gradient-free methods evaluate the loss only: no reverse mode. */
    t->use_grad = dca_optim_needs_gradient(opt);
    dca_sim_options so = {.threads = o->threads,
                          .kernel = o->kernel,
                          .tile_cells = o->tile_cells,
                          .gradients = t->use_grad ? DCA_GRAD_REVERSE : 0u,
                          .precision = o->precision,
                          .block_first = first,
                          .block_batch = M};
    dca_status st = DCA_OK;
    if (o->tune) {
        dca_tune_report rep;
        if (slices > 1)
            st = dca_error_set(err, DCA_ERR_ARG,
                               "dca_trainer_create: tuning needs one slice (the slices must "
                               "agree on the kernel and tile): pass them instead");
        else
            st = dca_sim_tune(lat, rule, count, &so, o->tune_report ? o->tune_report : &rep,
                              err);
        if (st) {
            dca_trainer_destroy(t);
            return st;
        }
    }
    st = dca_sim_create(lat, rule, count, &so, &t->sim, err);
    if (st) {
        dca_trainer_destroy(t);
        return st;
    }
    t->len = dca_sim_config_len(t->sim);
    const bool sampled = o->minibatch || o->fresh;
    t->grad = t->use_grad ? dca_alloc((size_t)t->P * sizeof(double)) : NULL;
    if (sampled) {
        t->xb = dca_alloc((size_t)(count * t->len) * sizeof(double));
        t->phib = dca_alloc((size_t)(count * t->len) * sizeof(double));
        t->order = malloc((size_t)B * sizeof *t->order);
    }
    if ((t->use_grad && !t->grad) || (sampled && (!t->xb || !t->phib || !t->order))) {
        dca_trainer_destroy(t);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the trainer");
    }
    /* The objective reads the iteration's configurations from xb/phib
     * (sampled) or the whole batch. */
    dca_task_shape shm = *sh;
    shm.batch = count;
    dca_objective_options oo = {.steps = o->steps,
                                .range = {.first = first, .count = count, .global_count = M},
                                .reduce = slices > 1 ? o->reduce : NULL,
                                .keep_all_bytes = o->keep_all_bytes};
    const double *xs = sampled ? t->xb : x0 + (first - o->held_first) * t->len;
    const double *ps = sampled ? t->phib : phi + (first - o->held_first) * t->len;
    if ((st = dca_objective_create(t->sim, xs, ps, loss, &shm, &oo, &t->obj, err))) {
        dca_trainer_destroy(t);
        return st;
    }
    *out = t;
    return DCA_OK;
}

void dca_trainer_destroy(dca_trainer *t)
{
    if (!t)
        return;
    dca_objective_destroy(t->obj);
    dca_sim_destroy(t->sim);
    free(t->xb), free(t->phib), free(t->order), free(t->grad);
    free(t);
}

const double *dca_trainer_gradient(const dca_trainer *t) { return t->grad; }
int64_t dca_trainer_batch(const dca_trainer *t) { return t->M; }

void dca_trainer_share(const dca_trainer *t, int64_t *first, int64_t *count)
{
    *first = t->first;
    *count = t->count;
}
dca_sim *dca_trainer_sim(dca_trainer *t) { return t->sim; }

/* The iteration's configurations into xb/phib. */
static dca_status draw(dca_trainer *t, int64_t it, dca_error *err)
{
    const int64_t B = t->B, len = t->len;
    if (t->o.fresh) {
        /* A new batch, keyed by (seed, iteration); this slice draws its
         * own configurations of it. */
        const int states = t->sh_all.states;
        uint64_t seed = t->o.seed * 0x9E3779B97F4A7C15ull + (uint64_t)it + 1;
        dca_status st = dca_init_generate_part(t->o.fresh_init, t->lat, states, t->sh_all.mode,
                                               t->first, t->count, seed, t->xb, err);
        if (st)
            return st;
        dca_init_apply_eps(t->xb, t->count * len, states, t->sh_all.mode, t->o.fresh_eps);
        dca_task_shape sh = t->sh_all;
        sh.batch = t->count;
        return dca_target_make(t->o.target, &sh, t->xb, t->phib, err);
    }
    /* M distinct configurations: a partial Fisher-Yates shuffle keyed by
     * (seed, iteration, draw). */
    for (int64_t j = 0; j < B; j++)
        t->order[j] = j;
    for (int64_t j = 0; j < t->first + t->count; j++) {
        double u[2];
        dca_rng_uniform2(t->o.seed, DCA_RNG_MINIBATCH, (uint64_t)it, (uint64_t)j, u);
        int64_t r = j + (int64_t)(u[0] * (double)(B - j));
        r = r < B ? r : B - 1;
        int64_t sw = t->order[j];
        t->order[j] = t->order[r];
        t->order[r] = sw;
        if (j < t->first)
            continue; /* another slice's */
        const int64_t k = j - t->first;
        memcpy(t->xb + k * len, t->x0 + t->order[j] * len, (size_t)len * sizeof(double));
        memcpy(t->phib + k * len, t->phi + t->order[j] * len, (size_t)len * sizeof(double));
    }
    return DCA_OK;
}

static int64_t first_not_finite(const double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return i;
    return -1;
}

dca_status dca_trainer_step(dca_trainer *t, int64_t it, double *w, dca_train_report *rep,
                            dca_error *err)
{
    if (!t || !w || !rep)
        return dca_error_set(err, DCA_ERR_ARG, "dca_trainer_step: NULL argument");
    *rep = (dca_train_report){.gradient_norm = NAN, .bad_index = -1};
    dca_status st;
    if ((t->o.fresh || t->o.minibatch) && (st = draw(t, it, err)))
        return st;
    double E;
    if ((st = dca_objective_eval(t->obj, NULL, &E, t->grad, NULL, err)))
        return st;
    rep->loss = E;
    if (!isfinite(E)) {
        rep->fault = DCA_TRAIN_LOSS_NOT_FINITE;
        return dca_error_set(err, DCA_ERR_FORMAT, "the loss (%g) is not finite", E);
    }
    if (t->use_grad) {
        int64_t bad = first_not_finite(t->grad, t->P);
        if (bad >= 0) {
            rep->fault = DCA_TRAIN_GRADIENT_NOT_FINITE;
            rep->bad_index = bad;
            rep->bad_value = t->grad[bad];
            return dca_error_set(err, DCA_ERR_FORMAT,
                                 "the gradient (first: weight %lld, %g) is not finite",
                                 (long long)bad, t->grad[bad]);
        }
        double g2 = 0;
        for (int64_t p = 0; p < t->P; p++)
            g2 += t->grad[p] * t->grad[p];
        rep->gradient_norm = sqrt(g2);
    }
    dca_optim_step(t->opt, E, t->grad, w);
    for (int64_t p = 0; p < t->P; p++)
        if (isnan(w[p])) {
            rep->fault = DCA_TRAIN_WEIGHT_NAN;
            rep->bad_index = p;
            return dca_error_set(err, DCA_ERR_FORMAT, "weight %lld became NaN", (long long)p);
        }
    return dca_sim_set_params(t->sim, w, err);
}
