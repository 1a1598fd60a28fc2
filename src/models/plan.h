/* The simulation plan and the model-type table (models layer, internal).
 *
 * A model type is a const table entry (STYLE.md 5, the pattern of GSL's
 * gsl_odeiv2_step_type): its name, the rule kind it serves, and functions
 * that plan, take parameters, and compute one work unit (a tile of cells of
 * one configuration) of a value step, a tangent step and an adjoint step.
 * sim.c owns everything that is the same for every model: the work units,
 * the parallel regions, the fixed-order gradient blocks, the checks. A plan
 * keeps the `const dca_model_type *` and the unit functions chosen once by
 * the type's plan function; the step loops never dispatch on the kind.
 *
 * Adding a model is adding a file with its entry and a line to
 * dca_model_types in sim.c. */
#ifndef DCA_PLAN_H
#define DCA_PLAN_H

#include "dca/dca.h"
#include "kernel.h"

typedef struct dca_model_type dca_model_type;

/* One work unit: cells [c0, c1) of configuration b (x, y and the
 * gradient buffers already offset to that configuration); t is the step
 * index and the plan's seed keys stochastic models' noise, so that the
 * backward pass replays it. work: the calling thread's workspace. */
typedef void (*dca_values_unit_fn)(const dca_sim *s, int64_t t, int64_t b, const double *x,
                                   double *y, int64_t c0, int64_t c1, void *work);
typedef void (*dca_tangent_unit_fn)(const dca_sim *s, int64_t t, int64_t b, const double *x,
                                    const double *J, double *Jn, int64_t c0, int64_t c1,
                                    void *work);
/* Adds the unit's dE/d(parameters) to Gacc (one block's partial sum, in
 * the model's accumulation layout) and writes its per-offset parts of dE/dx
 * into Gx (kernel.h, gradients). */
typedef void (*dca_adjoint_unit_fn)(const dca_sim *s, int64_t t, int64_t b, const double *x,
                                    const double *ybar, void *Gacc, void *Gx, int64_t c0,
                                    int64_t c1, void *work);

/* Optional: the adjoint of units [u0, u1) of one configuration straight
 * into xbar (the configuration's dE/dx), with each unit's rule gradient
 * added to its block's Gacc as the unit function would, and the per-offset
 * parts kept out of Gx; bitwise the unit function followed by the gather.
 * x, ybar, xbar: the whole batch's. */
typedef void (*dca_adjoint_stripe_fn)(const dca_sim *s, const double *x, const double *ybar,
                                      double *xbar, int64_t u0, int64_t u1, void *work);

struct dca_model_type {
    const char *name;
    dca_rule_kind kind;
    /* Validates the options for this model, picks the unit functions, the
     * tile and the workspace (fills the fields marked "plan" below). Called
     * with s->rule, s->g, s->batch, s->threads, s->grad, s->precision set. */
    dca_status (*plan)(dca_sim *s, const dca_sim_options *o, dca_error *err);
    /* Recomputes every value the plan derives from the parameters. */
    void (*set_params)(dca_sim *s);
    /* Adds one block's partial sum G (accumulation layout) into grad_rho
     * (dE/drho in the rule's storage order). */
    void (*unpack_gradient)(const dca_sim *s, const void *G, double *grad_rho);
    /* 1 when a step updates the lattice in place (sub-sweeps); 0 for
     * synchronous maps y = mu(x). */
    int in_place;
    /* The parameters, described (dca.h, dca_rule_model): the weights'
     * shape and its axis names (returns the rank), the numbers per cell of
     * a state, and a label for parameter p (snprintf's contract: returns
     * the length it needed). */
    int (*param_shape)(const dca_rule *r, int64_t dims[2], const char *names[2]);
    int (*values_per_cell)(const dca_rule *r);
    int (*param_label)(const dca_rule *r, int64_t p, char *buf, size_t len);
};

/* The model types, one per rule kind (sim.c), and the type of a kind. */
extern const dca_model_type dca_model_table, dca_model_outer_totalistic;
const dca_model_type *dca_model_of(dca_rule_kind kind);

struct dca_sim {
    dca_rule *rule;
    const dca_model_type *type;
    uint64_t generation; /* the rule's generation the derived values match */
    int64_t batch;
    uint64_t seed;
    dca_geom g;
    int64_t *dy, *dx;
    int threads;
    unsigned grad;
    dca_precision precision;
    size_t real; /* bytes per number in Mr, rho_r, work, Gx, Gacc: 8 or 4 */
    int adjoint_open; /* between adjoint_begin and adjoint_end */
    char msg[DCA_ERROR_MSG_LEN]; /* the last misuse, for dca_sim_error */

    /* plan: */
    dca_kernel kernel;
    dca_values_unit_fn values;
    dca_tangent_unit_fn tangent;   /* NULL without forward mode */
    dca_adjoint_unit_fn adjoint;   /* NULL without reverse mode */
    dca_adjoint_stripe_fn stripe;  /* optional, whole-lattice plans only (see above) */
    int64_t stripe_rows;           /* the stripe function's ring (the model's use) */
    int64_t tile, ntiles;
    int64_t work_len;              /* numbers (of `real` bytes) per thread */
    int64_t mr_len, rho_r_len;     /* numbers in Mr and rho_r (0: none) */
    dca_split split, fsplit;       /* table model: BLAS and fused splits */
    int fused_adjoint;             /* table model: Gacc holds dE/dd (the fused basis) */

    /* Buffers (sim.c allocates them from the sizes above). */
    void *rho_r;   /* fused kernel: rho in the kernel's precision */
    void *Mr;      /* BLAS kernel: packed rule */
    void **work;   /* per thread */
    double *Mv;    /* forward mode: rule regrouped per output (table model) */
    double *drho;  /* binary: rho (1 - rho) */
    void *Gx;      /* reverse: per-offset parts of dE/dx, B x m x cell_len x cells */
    void *Gacc;    /* reverse: nblocks partial sums */
    int64_t nblocks, nblocks_batch; /* this plan's, and the whole batch's */
    int64_t *block_start; /* reverse: block j sums units [block_start[j], block_start[j + 1]) */

    /* Lattice parts (dca.h): the plan computes cells [own0, own1) of its
     * window g (the whole lattice: 0, g.cells); the layout, and the hook
     * that fills halos. */
    int64_t own0, own1;
    dca_part_info part;
    struct dca_halo_hook halo;
};

uint64_t dca_rule_generation(const dca_rule *rule);

/* unpack_gradient for models that accumulate dE/drho in the rule's own
 * order, in float64. */
static inline void dca_unpack_gradient_plain(const dca_sim *s, const void *G, double *grad_rho)
{
    const int64_t P = dca_rule_params(s->rule);
    const double *G64 = G;
    for (int64_t i = 0; i < P; i++)
        grad_rho[i] += G64[i];
}

#endif
