/* Gradient methods: iRprop+ and iRprop- (the paper's appendix), SGD with
 * momentum, Adam.
 *
 * These four share one state layout, the one run files have stored since
 * the first version, so that a file written before keeps resuming bit for
 * bit: [step (P) | prev_grad (P) | change (P) | m1 (P) | m2 (P) | t, prev_E].
 * A method uses the parts it needs; new methods size their own state. */
#include <math.h>
#include <string.h>

#include "optim_types.h"

typedef struct parts {
    double *step, *prev, *change, *m1, *m2, *scalars;
} parts;

static parts split(double *s, int64_t P)
{
    return (parts){s, s + P, s + 2 * P, s + 3 * P, s + 4 * P, s + 5 * P};
}

static int64_t legacy_len(const double *par, int64_t P)
{
    (void)par;
    return 5 * P + 2;
}

static double sgn(double x) { return (x > 0) - (x < 0); }

/* ---- iRprop ---------------------------------------------------------------- */

enum { STEP0, ETA_PLUS, ETA_MINUS, STEP_MIN, STEP_MAX };

static const dca_optim_param rprop_params[] = {
    {"step0", "0.0125", 0, 1e300, true, "initial step size", false},
    {"eta-plus", "1.2", 1, 1e300, false, "growth factor", false},
    {"eta-minus", "0.5", 0, 1, true, "shrink factor", false},
    {"step-min", "0", 0, 1e300, false, "smallest step size", false},
    {"step-max", "50", 0, 1e300, true, "largest step size", false},
};

static void rprop_init(const double *par, int64_t P, uint64_t seed, const double *w, double *s)
{
    (void)seed, (void)w;
    for (int64_t i = 0; i < P; i++)
        s[i] = par[STEP0];
}

/* Step sizes grow where the gradient keeps its sign and shrink where it
 * flips, clipped to [step_min, step_max] (the paper's appendix). */
static void rprop_sizes(const double *par, int64_t P, parts o, const double *g)
{
    for (int64_t i = 0; i < P; i++) {
        double s = g[i] * o.prev[i];
        if (s > 0)
            o.step[i] *= par[ETA_PLUS];
        else if (s < 0)
            o.step[i] *= par[ETA_MINUS];
        o.step[i] = fmin(fmax(o.step[i], par[STEP_MIN]), par[STEP_MAX]);
    }
}

static void irprop_minus(const double *par, int64_t P, uint64_t seed, int64_t iter, double E,
                         const double *g, double *w, double *state, double *sizes)
{
    (void)seed, (void)iter, (void)E;
    parts o = split(state, P);
    rprop_sizes(par, P, o, g);
    for (int64_t i = 0; i < P; i++) {
        o.change[i] = -sgn(g[i]) * o.step[i];
        if (isfinite(w[i]))
            w[i] += o.change[i];
        o.prev[i] = g[i];
    }
    memcpy(sizes, o.step, (size_t)P * sizeof *sizes);
}

/* iRprop+: a sign flip reverts the last change, but only if the loss went
 * up; the gradient is then forgotten for one step (the paper's appendix). */
static void irprop_plus(const double *par, int64_t P, uint64_t seed, int64_t iter, double E,
                        const double *g, double *w, double *state, double *sizes)
{
    (void)seed, (void)iter;
    parts o = split(state, P);
    double *prevE = &o.scalars[1];
    rprop_sizes(par, P, o, g);
    for (int64_t i = 0; i < P; i++) {
        double s = g[i] * o.prev[i];
        if (s >= 0)
            o.change[i] = -sgn(g[i]) * o.step[i];
        else
            o.change[i] = E > *prevE ? -o.change[i] : 0.0;
        if (isfinite(w[i]))
            w[i] += o.change[i];
        o.prev[i] = s >= 0 ? g[i] : 0.0;
    }
    *prevE = E;
    memcpy(sizes, o.step, (size_t)P * sizeof *sizes);
}

const dca_optim_type dca_optim_irprop_plus = {
    "irprop+", "iRprop+ (sign-based steps; a sign flip reverts the last change if E went up)",
    rprop_params, 5, true, legacy_len, rprop_init, irprop_plus, NULL,
};

const dca_optim_type dca_optim_irprop_minus = {
    "irprop-", "iRprop- (sign-based steps; a sign flip only shrinks the step)",
    rprop_params, 5, true, legacy_len, rprop_init, irprop_minus, NULL,
};

/* ---- SGD and Adam ------------------------------------------------------------ */

static void no_init(const double *par, int64_t P, uint64_t seed, const double *w, double *s)
{
    (void)par, (void)P, (void)seed, (void)w, (void)s;
}

enum { SGD_LR, SGD_MOMENTUM };

static const dca_optim_param sgd_params[] = {
    {"learning-rate", "0.01", 0, 1e300, true, "learning rate", false},
    {"momentum", "0.9", 0, 1, false, "momentum", false},
};

static void sgd(const double *par, int64_t P, uint64_t seed, int64_t iter, double E,
                const double *g, double *w, double *state, double *sizes)
{
    (void)seed, (void)iter, (void)E;
    parts o = split(state, P);
    for (int64_t i = 0; i < P; i++) {
        o.change[i] = par[SGD_MOMENTUM] * o.change[i] - par[SGD_LR] * g[i];
        if (isfinite(w[i]))
            w[i] += o.change[i];
        o.step[i] = fabs(o.change[i]);
    }
    memcpy(sizes, o.step, (size_t)P * sizeof *sizes);
}

const dca_optim_type dca_optim_sgd = {
    "sgd", "gradient descent with momentum", sgd_params, 2, true, legacy_len, no_init, sgd, NULL,
};

enum { ADAM_LR, ADAM_BETA1, ADAM_BETA2, ADAM_EPS };

static const dca_optim_param adam_params[] = {
    {"learning-rate", "0.01", 0, 1e300, true, "learning rate", false},
    {"beta1", "0.9", 0, 1, false, "first-moment decay", false},
    {"beta2", "0.999", 0, 1, false, "second-moment decay", false},
    {"epsilon", "1e-8", 0, 1e300, true, "denominator floor", false},
};

static void adam(const double *par, int64_t P, uint64_t seed, int64_t iter, double E,
                 const double *g, double *w, double *state, double *sizes)
{
    (void)seed, (void)iter, (void)E;
    parts o = split(state, P);
    const double b1 = par[ADAM_BETA1], b2 = par[ADAM_BETA2];
    double t = o.scalars[0] += 1.0;
    double c1 = 1.0 - pow(b1, t), c2 = 1.0 - pow(b2, t);
    for (int64_t i = 0; i < P; i++) {
        o.m1[i] = b1 * o.m1[i] + (1 - b1) * g[i];
        o.m2[i] = b2 * o.m2[i] + (1 - b2) * g[i] * g[i];
        o.change[i] = -par[ADAM_LR] * (o.m1[i] / c1) / (sqrt(o.m2[i] / c2) + par[ADAM_EPS]);
        if (isfinite(w[i]))
            w[i] += o.change[i];
        o.step[i] = fabs(o.change[i]);
    }
    memcpy(sizes, o.step, (size_t)P * sizeof *sizes);
}

const dca_optim_type dca_optim_adam = {
    "adam", "Adam (bias-corrected moment estimates)", adam_params, 4, true, legacy_len, no_init,
    adam, NULL,
};
