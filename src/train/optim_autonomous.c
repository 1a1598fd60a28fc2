/* Autonomous learning (seed 003, discrete-time form; the seed lost its
 * equations, this is the reconstruction of DESIGN.md §8): no gradient, only
 * the loss, with a delay of m iterations,
 *
 *   w_i(n+1) = w_i(n) + (1/kappa) [ -epsilon dE(n) dw_i(n) + sigma E(n) xi_i(n) ]
 *   dE(n) = E(n) - E(n-m),  dw_i(n) = w_i(n) - w_i(n-m),
 *
 * xi_i(n) standard normal, number i of the Philox stream (seed, iteration)
 * (dca_rng_normals, both Box-Muller halves): the
 * noise is reproducible and independent of threads, and it vanishes with
 * E. The first term is delayed feedback: a change that lowered E is
 * continued, one that raised it is reversed.
 *
 * The history before iteration 0 is flat: w(n-m) = w(0), E(n-m) = E(0) for
 * n < m. The first update (dw = 0) is then driven by the noise alone, which
 * gives the feedback its first dw; with delay m the first m updates are
 * exploration. (A history seeded with random steps would act the same way
 * but spend evaluations on points nobody chose.)
 *
 * Biparametric form (seed 003, eq. 8), for a second objective R in [0, 1]
 * to be raised (a network's robustness): the step adds
 *
 *   (1/kappa) [ +epsilon_R dR(n) dw_i(n) + sigma_R (1 - R(n)) eta_i(n) ],
 *
 * eta_i another standard normal stream (purpose DCA_RNG_OPTIM_SECOND). With
 * epsilon_R = sigma_R = 0 (the defaults) it is the one-objective map.
 *
 * State: [history of w (m x P) | history of E (m) | w(0) (P) | E(0) |
 *         history of R (m) | R(0)]. */
#include <math.h>
#include <string.h>

#include "optim_types.h"
#include "rng.h"

enum { EPSILON, SIGMA, KAPPA, DELAY, EPSILON_R, SIGMA_R };

static const dca_optim_param params[] = {
    {"epsilon", "1", 0, 1e300, false, "autonomous: feedback gain (dca default)", false},
    {"sigma", "0.1", 0, 1e300, false, "autonomous: noise scale, times E (dca default)", false},
    {"kappa", "1", 0, 1e300, true, "autonomous: time constant; the update is divided by it (dca default)", false},
    {"delay", "1", 1, 1e6, false, "autonomous: delay m in iterations (dca default)", true},
    {"epsilon-r", "0", 0, 1e300, false,
     "autonomous, biparametric: feedback gain of the second objective R (robustness; 0: off; "
     "dca default)", false},
    {"sigma-r", "0", 0, 1e300, false,
     "autonomous, biparametric: noise scale, times 1 - R (0: off; dca default)", false},
};

static int64_t delay_of(const double *par) { return (int64_t)par[DELAY]; }

static int64_t state_len(const double *par, int64_t P)
{
    return (delay_of(par) + 1) * (P + 2);
}

static void init(const double *par, int64_t P, uint64_t seed, const double *w, double *s)
{
    (void)par, (void)P, (void)seed, (void)w, (void)s;
}

static void step2(const double *par, int64_t P, uint64_t seed, int64_t iter, double E, double R,
                  const double *g, double *w, double *state, double *sizes)
{
    (void)g;
    const int64_t m = delay_of(par);
    double *Wh = state, *Eh = Wh + m * P, *w0 = Eh + m, *E0 = w0 + P, *Rh = E0 + 1, *R0 = Rh + m;
    const bool second = !isnan(R) && (par[EPSILON_R] != 0 || par[SIGMA_R] != 0);
    if (iter == 0) {
        memcpy(w0, w, (size_t)P * sizeof *w);
        *E0 = E;
        *R0 = R;
    }
    const int64_t slot = iter % m;
    const double *wd = iter < m ? w0 : Wh + slot * P;
    const double Ed = iter < m ? *E0 : Eh[slot];
    const double dE = E - Ed;
    const double dR = second ? R - (iter < m ? *R0 : Rh[slot]) : 0.0;
    double *keep = Wh + slot * P;
    enum { CHUNK = 256 };
    double xi[CHUNK], eta[CHUNK];
    for (int64_t i0 = 0; i0 < P; i0 += CHUNK) {
        const int64_t n = P - i0 < CHUNK ? P - i0 : CHUNK;
        dca_rng_normals(seed, DCA_RNG_OPTIM, (uint64_t)iter, (uint64_t)i0, n, xi);
        if (second)
            dca_rng_normals(seed, DCA_RNG_OPTIM_SECOND, (uint64_t)iter, (uint64_t)i0, n, eta);
        for (int64_t k = 0; k < n; k++) {
            const int64_t i = i0 + k;
            const double dw = w[i] - wd[i];
            double change = -par[EPSILON] * dE * dw + par[SIGMA] * E * xi[k];
            if (second)
                change += par[EPSILON_R] * dR * dw + par[SIGMA_R] * (1.0 - R) * eta[k];
            change /= par[KAPPA];
            keep[i] = w[i]; /* w(n), read back m iterations later */
            if (isfinite(w[i]))
                w[i] += change;
            sizes[i] = fabs(change);
        }
    }
    Eh[slot] = E;
    Rh[slot] = R;
}

static void step(const double *par, int64_t P, uint64_t seed, int64_t iter, double E,
                 const double *g, double *w, double *state, double *sizes)
{
    step2(par, P, seed, iter, E, NAN, g, w, state, sizes);
}

const dca_optim_type dca_optim_autonomous = {
    "autonomous",
    "autonomous learning (seed 003): delayed loss feedback plus loss-scaled noise, no gradient",
    params, 6, false, state_len, init, step, step2,
};
