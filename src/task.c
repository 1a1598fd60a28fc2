#include "task.h"

#include <math.h>
#include <string.h>

static int64_t values_per_config(const dca_task_shape *sh)
{
    int64_t cells = dca_lattice_cells(sh->lat);
    return sh->mode == DCA_MODE_BINARY ? cells : cells * sh->states;
}

/* phi = x0 (after the eps mapping, as in the paper's appendix). */
static dca_status t_identity(const dca_task_shape *sh, const double *x0, double *phi,
                             dca_error *err)
{
    (void)err;
    memcpy(phi, x0, (size_t)(sh->batch * values_per_config(sh)) * sizeof *phi);
    return DCA_OK;
}

/* Every cell -> the state with the largest total probability in x0, as an
 * exact one-hot (binary: 0/1). Ties go to the lowest state. */
static dca_status t_majority(const dca_task_shape *sh, const double *x0, double *phi,
                             dca_error *err)
{
    (void)err;
    const int64_t cells = dca_lattice_cells(sh->lat), len = values_per_config(sh);
    const int k = sh->states;
    for (int64_t b = 0; b < sh->batch; b++) {
        const double *x = x0 + b * len;
        double *p = phi + b * len;
        if (sh->mode == DCA_MODE_BINARY) {
            double ones = 0.0;
            for (int64_t c = 0; c < cells; c++)
                ones += x[c];
            double major = ones > 0.5 * (double)cells ? 1.0 : 0.0;
            for (int64_t c = 0; c < cells; c++)
                p[c] = major;
            continue;
        }
        int best = 0;
        double best_sum = -1.0;
        for (int a = 0; a < k; a++) {
            double s = 0.0;
            for (int64_t c = 0; c < cells; c++)
                s += x[c * k + a];
            if (s > best_sum) {
                best_sum = s;
                best = a;
            }
        }
        for (int64_t c = 0; c < cells; c++)
            for (int a = 0; a < k; a++)
                p[c * k + a] = a == best;
    }
    return DCA_OK;
}

/* -phi log(max(x, floor)); its derivative, 0 where the floor is active. */
static double xlogx_term(double phi, double x, double *dx)
{
    if (phi == 0.0) {
        *dx = 0.0;
        return 0.0;
    }
    if (x <= DCA_LOG_FLOOR) {
        *dx = 0.0;
        return -phi * log(DCA_LOG_FLOOR);
    }
    *dx = -phi / x;
    return -phi * log(x);
}

static double l_cross_entropy(const dca_task_shape *sh, const double *phi, const double *x,
                              double *xbar)
{
    const int64_t n = sh->batch * values_per_config(sh);
    const double scale = 1.0 / ((double)sh->batch * (double)dca_lattice_cells(sh->lat));
    double E = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d1, d0 = 0.0, e;
        e = xlogx_term(phi[i], x[i], &d1);
        if (sh->mode == DCA_MODE_BINARY) {
            /* The state-0 term: -(1 - phi) log(1 - x). */
            e += xlogx_term(1.0 - phi[i], 1.0 - x[i], &d0);
            d0 = -d0;
        }
        E += e;
        if (xbar)
            xbar[i] = (d1 + d0) * scale;
    }
    return E * scale;
}

static double l_mse(const dca_task_shape *sh, const double *phi, const double *x, double *xbar)
{
    const int64_t n = sh->batch * values_per_config(sh);
    const double scale = 1.0 / ((double)sh->batch * (double)dca_lattice_cells(sh->lat));
    double E = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - phi[i];
        E += d * d;
        if (xbar)
            xbar[i] = 2.0 * d * scale;
    }
    return E * scale;
}

static const struct {
    const char *name;
    dca_target_fn fn;
} targets[] = {{"identity", t_identity}, {"majority", t_majority}};

static const struct {
    const char *name;
    dca_loss_fn fn;
} losses[] = {{"cross-entropy", l_cross_entropy}, {"mse", l_mse}};

dca_target_fn dca_target_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++)
        if (strcmp(targets[i].name, name) == 0)
            return targets[i].fn;
    return NULL;
}

dca_loss_fn dca_loss_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof losses / sizeof *losses; i++)
        if (strcmp(losses[i].name, name) == 0)
            return losses[i].fn;
    return NULL;
}

const char *dca_target_names(void) { return "identity, majority"; }
const char *dca_loss_names(void) { return "cross-entropy, mse"; }
