/* The optimiser table and the object that runs one. The methods' files:
 * optim_gradient.c (iRprop+, iRprop-, SGD, Adam), optim_rmsprop.c,
 * optim_autonomous.c. */
#include "dca/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim_types.h"

static const dca_optim_type *const types[] = {
    &dca_optim_irprop_plus, &dca_optim_irprop_minus, &dca_optim_sgd, &dca_optim_adam,
    &dca_optim_rmsprop, &dca_optim_autonomous,
};
enum { n_types = sizeof types / sizeof *types };

const dca_optim_type *const *dca_optim_types(int *n)
{
    *n = n_types;
    return types;
}

const dca_optim_type *dca_optim_type_find(const char *name)
{
    for (int i = 0; i < n_types; i++)
        if (strcmp(types[i]->name, name) == 0)
            return types[i];
    return NULL;
}

const char *dca_optim_names(void)
{
    static char buf[256];
    if (!buf[0])
        for (int i = 0; i < n_types; i++) {
            size_t n = strlen(buf);
            snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", types[i]->name);
        }
    return buf;
}

double dca_optim_param_default(const dca_optim_param *p) { return strtod(p->def, NULL); }

struct dca_optim {
    const dca_optim_type *type;
    double *par;
    int64_t P, iter;
    uint64_t seed;
    double *state, *sizes;
};

dca_status dca_optim_create(const char *method, const double *par, int64_t P, uint64_t seed,
                            dca_optim **out, dca_error *err)
{
    if (!method || !out || P < 0)
        return dca_error_set(err, DCA_ERR_ARG, "dca_optim_create: bad argument");
    const dca_optim_type *t = dca_optim_type_find(method);
    if (!t)
        return dca_error_set(err, DCA_ERR_ARG, "unknown optimiser '%s': expected %s", method,
                             dca_optim_names());
    for (int i = 0; par && i < t->n_params; i++) {
        const dca_optim_param *d = &t->params[i];
        double x = par[i];
        if (!isfinite(x) || x < d->lo || (d->lo_open && x == d->lo) || x > d->hi ||
            (d->integer && x != floor(x)))
            return dca_error_set(err, DCA_ERR_ARG, "%s: %s = %g is outside %c%g, %g]%s", t->name,
                                 d->key, x, d->lo_open ? '(' : '[', d->lo, d->hi,
                                 d->integer ? " or not a whole number" : "");
    }
    dca_optim *o = calloc(1, sizeof *o);
    if (!o || !(o->par = calloc((size_t)t->n_params + 1, sizeof(double)))) {
        free(o);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the optimiser");
    }
    for (int i = 0; i < t->n_params; i++)
        o->par[i] = par ? par[i] : dca_optim_param_default(&t->params[i]);
    int64_t len = t->state_len(o->par, P);
    if (!(o->state = calloc((size_t)len + 1, sizeof(double))) ||
        !(o->sizes = calloc((size_t)P + 1, sizeof(double)))) {
        dca_optim_destroy(o);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the optimiser");
    }
    o->type = t;
    o->P = P;
    o->seed = seed;
    t->init(o->par, P, seed, NULL, o->state);
    *out = o;
    return DCA_OK;
}

void dca_optim_destroy(dca_optim *o)
{
    if (!o)
        return;
    free(o->par);
    free(o->state);
    free(o->sizes);
    free(o);
}

const dca_optim_type *dca_optim_type_of(const dca_optim *o) { return o->type; }
bool dca_optim_needs_gradient(const dca_optim *o) { return o->type->needs_gradient; }

void dca_optim_step(dca_optim *o, double E, const double *grad, double *w)
{
    o->type->step(o->par, o->P, o->seed, o->iter, E, grad, w, o->state, o->sizes);
    o->iter++;
}

bool dca_optim_has_second(const dca_optim *o) { return o->type->step2 != NULL; }

dca_status dca_optim_step_second(dca_optim *o, double E, double R, const double *grad, double *w)
{
    if (!o->type->step2)
        return DCA_ERR_ARG;
    o->type->step2(o->par, o->P, o->seed, o->iter, E, R, grad, w, o->state, o->sizes);
    o->iter++;
    return DCA_OK;
}

int64_t dca_optim_state_len(const dca_optim *o) { return o->type->state_len(o->par, o->P); }
double *dca_optim_state(dca_optim *o) { return o->state; }
int64_t dca_optim_iteration(const dca_optim *o) { return o->iter; }
void dca_optim_set_iteration(dca_optim *o, int64_t iter) { o->iter = iter; }
const double *dca_optim_step_sizes(const dca_optim *o) { return o->sizes; }
