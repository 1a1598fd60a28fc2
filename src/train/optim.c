#include "dca/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct method method;

struct dca_optim {
    const method *m;
    dca_optim_params p;
    int64_t P;
    /* state: [step (P) | prev_grad (P) | change (P) | m1 (P) | m2 (P) | t, prev_E] */
    double *state;
    double *step, *prev, *change, *m1, *m2, *scalars;
};

struct method {
    const char *name;
    void (*step)(dca_optim *o, double E, const double *g, double *w);
};

static double sgn(double x) { return (x > 0) - (x < 0); }

/* Step sizes grow where the gradient keeps its sign and shrink where it
 * flips, clipped to [step_min, step_max] (the paper's appendix). */
static void rprop_sizes(dca_optim *o, const double *g)
{
    for (int64_t i = 0; i < o->P; i++) {
        double s = g[i] * o->prev[i];
        if (s > 0)
            o->step[i] *= o->p.eta_plus;
        else if (s < 0)
            o->step[i] *= o->p.eta_minus;
        o->step[i] = fmin(fmax(o->step[i], o->p.step_min), o->p.step_max);
    }
}

static void irprop_minus(dca_optim *o, double E, const double *g, double *w)
{
    (void)E;
    rprop_sizes(o, g);
    for (int64_t i = 0; i < o->P; i++) {
        o->change[i] = -sgn(g[i]) * o->step[i];
        if (isfinite(w[i]))
            w[i] += o->change[i];
        o->prev[i] = g[i];
    }
}

/* iRprop+: a sign flip reverts the last change, but only if the loss went
 * up; the gradient is then forgotten for one step (the paper's appendix). */
static void irprop_plus(dca_optim *o, double E, const double *g, double *w)
{
    double *prevE = &o->scalars[1];
    rprop_sizes(o, g);
    for (int64_t i = 0; i < o->P; i++) {
        double s = g[i] * o->prev[i];
        if (s >= 0)
            o->change[i] = -sgn(g[i]) * o->step[i];
        else
            o->change[i] = E > *prevE ? -o->change[i] : 0.0;
        if (isfinite(w[i]))
            w[i] += o->change[i];
        o->prev[i] = s >= 0 ? g[i] : 0.0;
    }
    *prevE = E;
}

static void sgd(dca_optim *o, double E, const double *g, double *w)
{
    (void)E;
    for (int64_t i = 0; i < o->P; i++) {
        o->change[i] = o->p.momentum * o->change[i] - o->p.learning_rate * g[i];
        if (isfinite(w[i]))
            w[i] += o->change[i];
        o->step[i] = fabs(o->change[i]);
    }
}

static void adam(dca_optim *o, double E, const double *g, double *w)
{
    (void)E;
    double t = o->scalars[0] += 1.0;
    double c1 = 1.0 - pow(o->p.beta1, t), c2 = 1.0 - pow(o->p.beta2, t);
    for (int64_t i = 0; i < o->P; i++) {
        o->m1[i] = o->p.beta1 * o->m1[i] + (1 - o->p.beta1) * g[i];
        o->m2[i] = o->p.beta2 * o->m2[i] + (1 - o->p.beta2) * g[i] * g[i];
        o->change[i] = -o->p.learning_rate * (o->m1[i] / c1) / (sqrt(o->m2[i] / c2) + o->p.epsilon);
        if (isfinite(w[i]))
            w[i] += o->change[i];
        o->step[i] = fabs(o->change[i]);
    }
}

static const method methods[] = {
    {"irprop+", irprop_plus}, {"irprop-", irprop_minus}, {"sgd", sgd}, {"adam", adam}};

const char *dca_optim_names(void) { return "irprop+, irprop-, sgd, adam"; }

dca_status dca_optim_create(const char *name, const dca_optim_params *p, int64_t P,
                            dca_optim **out, dca_error *err)
{
    const method *m = NULL;
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
        if (strcmp(methods[i].name, name) == 0)
            m = &methods[i];
    if (!m)
        return dca_error_set(err, DCA_ERR_ARG, "unknown optimiser '%s': expected %s", name,
                             dca_optim_names());
    dca_optim *o = calloc(1, sizeof *o);
    if (!o || !(o->state = calloc((size_t)(5 * P + 2), sizeof(double)))) {
        free(o);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the optimiser");
    }
    o->m = m;
    o->p = *p;
    o->P = P;
    o->step = o->state;
    o->prev = o->step + P;
    o->change = o->prev + P;
    o->m1 = o->change + P;
    o->m2 = o->m1 + P;
    o->scalars = o->m2 + P;
    for (int64_t i = 0; i < P; i++)
        o->step[i] = strncmp(name, "irprop", 6) == 0 ? p->step0 : 0.0;
    *out = o;
    return DCA_OK;
}

void dca_optim_destroy(dca_optim *o)
{
    if (!o)
        return;
    free(o->state);
    free(o);
}

void dca_optim_step(dca_optim *o, double E, const double *g, double *w) { o->m->step(o, E, g, w); }
int64_t dca_optim_state_len(const dca_optim *o) { return 5 * o->P + 2; }
double *dca_optim_state(dca_optim *o) { return o->state; }
const double *dca_optim_step_sizes(const dca_optim *o) { return o->step; }
