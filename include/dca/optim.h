/* Optimisers as a table of strategies (STYLE.md 5). Each keeps its state in
 * one flat array of doubles (state_len doubles) so that a checkpoint can
 * store it and a resumed run continue bit for bit. The caller owns the
 * loop: optim_step takes the loss and gradient at w and updates w. */
#ifndef DCA_OPTIM_H
#define DCA_OPTIM_H

#include <stdint.h>

#include "dca/dca.h"

typedef struct dca_optim_params {
    double step0, eta_plus, eta_minus, step_min, step_max; /* iRprop */
    double learning_rate, momentum;                         /* SGD, Adam */
    double beta1, beta2, epsilon;                           /* Adam */
} dca_optim_params;

typedef struct dca_optim dca_optim;

/* method: irprop+, irprop-, sgd, adam. */
dca_status dca_optim_create(const char *method, const dca_optim_params *p, int64_t params,
                            dca_optim **out, dca_error *err);
void dca_optim_destroy(dca_optim *o);
const char *dca_optim_names(void);
/* Updates w in place from E and grad (dE/dw at w). Entries of w that are
 * infinite (hard) are left alone. */
void dca_optim_step(dca_optim *o, double E, const double *grad, double *w);
/* The full state (step sizes, previous gradient, moments, counters). */
int64_t dca_optim_state_len(const dca_optim *o);
double *dca_optim_state(dca_optim *o);
/* A per-parameter step size for reporting (iRprop: the step sizes; SGD and
 * Adam: the magnitude of the last change). */
const double *dca_optim_step_sizes(const dca_optim *o);

#endif
