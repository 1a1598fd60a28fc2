#include "dca/objective.h"

#include <stdlib.h>
#include <string.h>

#include "dca/gradient.h"
#include "mem.h"

struct dca_objective {
    dca_sim *sim;
    const double *x0, *phi;
    dca_loss_fn loss;
    dca_task_shape sh;
    int64_t steps, every, len, keep;
    const dca_reduction *red;
    dca_adjoint *adj; /* made at the first gradient evaluation */
    double *a, *b;    /* value-only sweep */
};

dca_status dca_objective_create(dca_sim *sim, const double *x0, const double *phi,
                                dca_loss_fn loss, const dca_task_shape *sh,
                                const dca_objective_options *opt, dca_objective **out,
                                dca_error *err)
{
    if (!sim || !x0 || !phi || !loss || !sh || !opt || !out)
        return dca_error_set(err, DCA_ERR_ARG, "dca_objective_create: NULL argument");
    *out = NULL;
    dca_part_info part;
    if (dca_sim_part(sim, &part) == DCA_OK && part.parts > 1)
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_objective_create: the plan is part %d of %d of a lattice; "
                             "objectives take whole-lattice plans", part.part, part.parts);
    const int64_t B = dca_sim_batch(sim);
    dca_objective_range r = opt->range;
    if (r.count == 0)
        r.count = B;
    if (r.global_count == 0)
        r.global_count = r.count;
    if (r.count != B || sh->batch != B)
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_objective_create: a slice of %lld configurations (shape: %lld) "
                             "for a plan of %lld", (long long)r.count, (long long)sh->batch,
                             (long long)B);
    if (r.first < 0 || r.first + r.count > r.global_count)
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_objective_create: configurations %lld..%lld are not inside a "
                             "batch of %lld", (long long)r.first,
                             (long long)(r.first + r.count - 1), (long long)r.global_count);
    if (opt->steps < 0 || opt->loss_every < 0)
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_objective_create: steps and loss_every must not be negative");
    if (opt->reduce && !dca_loss_sum_of(loss))
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_objective_create: slices of a batch need one of the library's "
                             "losses (%s)", dca_loss_names());
    if (opt->reduce && (!opt->reduce->chain || !opt->reduce->from_last || !opt->reduce->gather))
        return dca_error_set(err, DCA_ERR_ARG, "dca_objective_create: a reduction without hooks");
    dca_objective *o = calloc(1, sizeof *o);
    if (!o)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    o->sim = sim;
    o->x0 = x0;
    o->phi = phi;
    o->loss = loss;
    o->sh = *sh;
    o->sh.norm_batch = r.global_count == r.count ? 0 : r.global_count;
    o->steps = opt->steps;
    o->every = opt->loss_every;
    o->keep = opt->keep_all_bytes;
    o->red = opt->reduce;
    o->len = B * dca_sim_config_len(sim);
    o->a = dca_alloc((size_t)o->len * sizeof(double));
    o->b = dca_alloc((size_t)o->len * sizeof(double));
    if (!o->a || !o->b) {
        dca_objective_destroy(o);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the objective's states");
    }
    *out = o;
    return DCA_OK;
}

void dca_objective_destroy(dca_objective *o)
{
    if (!o)
        return;
    dca_adjoint_destroy(o->adj);
    free(o->a);
    free(o->b);
    free(o);
}

int64_t dca_objective_params(const dca_objective *o) { return dca_sim_params(o->sim); }

int64_t dca_objective_state_bytes(const dca_objective *o)
{
    return o->adj ? dca_adjoint_state_bytes(o->adj) : 0;
}

dca_status dca_objective_eval(dca_objective *o, const double *params, double *E, double *grad,
                              double *xT, dca_error *err)
{
    if (!o || !E)
        return dca_error_set(err, DCA_ERR_ARG, "dca_objective_eval: NULL argument");
    dca_status st;
    if (params && (st = dca_sim_set_params(o->sim, params, err)))
        return st;
    if (grad) {
        if (!o->adj && (st = dca_adjoint_create_kept(o->sim, dca_sim_batch(o->sim), o->steps,
                                                     o->keep, &o->adj, err)))
            return st;
        return dca_adjoint_run_reduced(o->adj, o->x0, o->phi, o->loss, &o->sh, o->every, o->red,
                                       E, grad, xT, err);
    }
    /* Values only: the same sweep and the same sums as the reverse one. */
    double *cur = o->a, *next = o->b, Etraj = 0.0;
    memcpy(cur, o->x0, (size_t)o->len * sizeof(double));
    for (int64_t t = 0; t < o->steps; t++) {
        if ((st = dca_sim_step_at(o->sim, t, cur, next)))
            return dca_error_set(err, st, "%s", dca_sim_error(o->sim));
        double *s = cur;
        cur = next;
        next = s;
        if (dca_loss_at_step(t + 1, o->every, o->steps))
            Etraj += dca_loss_reduced(o->loss, &o->sh, o->phi, cur, o->red);
    }
    if (xT)
        memcpy(xT, cur, (size_t)o->len * sizeof(double));
    *E = dca_loss_reduced(o->loss, &o->sh, o->phi, cur, o->red);
    if (o->every > 0)
        *E += Etraj;
    if (o->red)
        *E = o->red->from_last(o->red->ctx, *E);
    return DCA_OK;
}
