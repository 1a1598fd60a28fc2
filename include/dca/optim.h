/* Optimisers as a table of types (STYLE.md 5, the pattern of GSL's
 * gsl_multimin_fminimizer_type). A type declares its name, its parameters
 * (config keys in [optimizer] with defaults and ranges: the configuration
 * schema is built from these, so a new method needs no edit to the config
 * layer), whether it needs the gradient, and its own state: state_len(P)
 * doubles, kept in one flat array so that a checkpoint stores it and a
 * resumed run continues bit for bit. The caller owns the loop:
 * dca_optim_step takes E (and the gradient) at w and updates w.
 *
 * Adding a method: a file with its step function and descriptors, and its
 * entry in the table of optim.c. */
#ifndef DCA_OPTIM_H
#define DCA_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "dca/dca.h"

/* One method parameter: [optimizer] key, default, range [lo, hi] (open at
 * lo when lo_open), and one line of documentation. */
typedef struct dca_optim_param {
    const char *key;
    const char *def; /* as written in configs and run files */
    double lo, hi;
    bool lo_open;
    const char *doc;
    bool integer; /* a whole number */
} dca_optim_param;

typedef struct dca_optim_type {
    const char *name;
    const char *doc;
    const dca_optim_param *params; /* n_params of them */
    int n_params;
    bool needs_gradient;
    int64_t (*state_len)(const double *par, int64_t P);
    /* par: the parameter values in descriptor order. state is zeroed
     * before init. */
    void (*init)(const double *par, int64_t P, uint64_t seed, const double *w, double *state);
    /* One update of w from E and grad (dE/dw; NULL when !needs_gradient)
     * at w; iter counts from 0. Entries of w that are infinite (hard) are
     * left alone. sizes (P) receives a per-parameter step size for
     * reporting. */
    void (*step)(const double *par, int64_t P, uint64_t seed, int64_t iter, double E,
                 const double *grad, double *w, double *state, double *sizes);
    /* Optional (NULL: none): the step with a second objective R in [0, 1]
     * to be raised, such as a network's robustness (seed 003's
     * biparametric form). */
    void (*step2)(const double *par, int64_t P, uint64_t seed, int64_t iter, double E, double R,
                  const double *grad, double *w, double *state, double *sizes);
} dca_optim_type;

/* The table: dca_optim_types(&n) returns the n types. */
DCA_API const dca_optim_type *const *dca_optim_types(int *n);
DCA_API const dca_optim_type *dca_optim_type_find(const char *name);
/* "irprop+, irprop-, sgd, adam, autonomous": for messages. */
DCA_API const char *dca_optim_names(void);

typedef struct dca_optim dca_optim;

/* A parameter's default as a number. */
DCA_API double dca_optim_param_default(const dca_optim_param *p);

/* par: the type's parameter values in descriptor order (NULL: defaults),
 * each checked against its range. seed keys the noise of stochastic
 * methods. */
DCA_API dca_status dca_optim_create(const char *method, const double *par, int64_t params, uint64_t seed,
                            dca_optim **out, dca_error *err);
DCA_API void dca_optim_destroy(dca_optim *o);
DCA_API const dca_optim_type *dca_optim_type_of(const dca_optim *o);
DCA_API bool dca_optim_needs_gradient(const dca_optim *o);
/* Updates w in place from E and grad at w (grad may be NULL for methods
 * that need none); the step counter advances by one. */
DCA_API void dca_optim_step(dca_optim *o, double E, const double *grad, double *w);
/* The same step with a second objective R (robustness, to be raised):
 * DCA_ERR_ARG for types without one (dca_optim_has_second). */
DCA_API bool dca_optim_has_second(const dca_optim *o);
DCA_API dca_status dca_optim_step_second(dca_optim *o, double E, double R, const double *grad,
                                         double *w);
/* The full state (its length is the type's state_len(P)). */
DCA_API int64_t dca_optim_state_len(const dca_optim *o);
DCA_API double *dca_optim_state(dca_optim *o);
/* Iterations taken (a resumed run sets it with dca_optim_set_iteration). */
DCA_API int64_t dca_optim_iteration(const dca_optim *o);
DCA_API void dca_optim_set_iteration(dca_optim *o, int64_t iter);
/* A per-parameter step size for reporting (iRprop: the step sizes; the
 * others: the magnitude of the last change). */
DCA_API const double *dca_optim_step_sizes(const dca_optim *o);

#endif
