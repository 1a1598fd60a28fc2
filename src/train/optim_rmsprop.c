/* RMSprop (Tieleman and Hinton 2012, as torch.optim.RMSprop without
 * momentum or centring): each weight's step is the learning rate times its
 * gradient over the root of a running mean of squared gradients,
 *   v <- decay v + (1 - decay) g^2,   w <- w - lr g / (sqrt(v) + epsilon).
 * State: v (P doubles). */
#include <math.h>

#include "optim_types.h"

enum { LR, DECAY, EPS };

static const dca_optim_param params[] = {
    {"learning-rate", "0.01", 0, 1e300, true, "learning rate", false},
    {"decay", "0.99", 0, 1, false, "decay of the mean squared gradient", false},
    {"epsilon", "1e-8", 0, 1e300, true, "denominator floor", false},
};

static int64_t state_len(const double *par, int64_t P)
{
    (void)par;
    return P;
}

static void init(const double *par, int64_t P, uint64_t seed, const double *w, double *v)
{
    (void)par, (void)P, (void)seed, (void)w, (void)v; /* v = 0: the state arrives zeroed */
}

static void step(const double *par, int64_t P, uint64_t seed, int64_t iter, double E,
                 const double *g, double *w, double *v, double *sizes)
{
    (void)seed, (void)iter, (void)E;
    for (int64_t i = 0; i < P; i++) {
        v[i] = par[DECAY] * v[i] + (1 - par[DECAY]) * g[i] * g[i];
        const double change = -par[LR] * g[i] / (sqrt(v[i]) + par[EPS]);
        if (isfinite(w[i]))
            w[i] += change;
        sizes[i] = fabs(change);
    }
}

const dca_optim_type dca_optim_rmsprop = {
    "rmsprop", "RMSprop (steps scaled by a running root mean square of the gradient)", params,
    3, true, state_len, init, step, NULL,
};
