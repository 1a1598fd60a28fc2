/* Optimiser types: the table's descriptors, the state, and the autonomous
 * (gradient-free) method on a quadratic bowl. */
#include <math.h>
#include <string.h>

#include "dca/optim.h"
#include "helpers.h"

enum { P = 6 };
static const double centre[P] = {1.0, -2.0, 0.5, 3.0, -1.0, 0.25};

static double bowl(const double *w, double *g)
{
    double E = 0;
    for (int i = 0; i < P; i++) {
        double d = w[i] - centre[i];
        E += d * d;
        if (g)
            g[i] = 2 * d;
    }
    return E;
}

/* Runs `iters` iterations of method from w = 0 and returns the final E. */
static double descend(const char *method, const double *par, uint64_t seed, int iters, double *w)
{
    dca_optim *o = NULL;
    dca_error e;
    cr_assert_eq(dca_optim_create(method, par, P, seed, &o, &e), DCA_OK, "%s", e.msg);
    memset(w, 0, P * sizeof *w);
    double g[P];
    for (int n = 0; n < iters; n++) {
        double E = bowl(w, g);
        dca_optim_step(o, E, dca_optim_needs_gradient(o) ? g : NULL, w);
    }
    dca_optim_destroy(o);
    return bowl(w, NULL);
}

Test(optim, table_descriptors_are_consistent)
{
    int n;
    const dca_optim_type *const *types = dca_optim_types(&n);
    cr_assert_geq(n, 5);
    for (int t = 0; t < n; t++) {
        cr_assert_eq(dca_optim_type_find(types[t]->name), types[t]);
        cr_assert(strstr(dca_optim_names(), types[t]->name));
        for (int p = 0; p < types[t]->n_params; p++) {
            const dca_optim_param *d = &types[t]->params[p];
            double x = dca_optim_param_default(d);
            cr_assert(x >= d->lo && x <= d->hi && !(d->lo_open && x == d->lo),
                      "%s: %s default %s outside its range", types[t]->name, d->key, d->def);
        }
        /* Defaults make a working optimiser. */
        dca_optim *o = NULL;
        cr_assert_eq(dca_optim_create(types[t]->name, NULL, P, 1, &o, NULL), DCA_OK);
        cr_assert_gt(dca_optim_state_len(o), 0);
        dca_optim_destroy(o);
    }
    /* The four gradient methods keep the state layout run files have always stored. */
    const char *legacy[] = {"irprop+", "irprop-", "sgd", "adam"};
    for (int i = 0; i < 4; i++) {
        dca_optim *o = NULL;
        cr_assert_eq(dca_optim_create(legacy[i], NULL, P, 1, &o, NULL), DCA_OK);
        cr_assert_eq(dca_optim_state_len(o), 5 * P + 2);
        dca_optim_destroy(o);
    }
    dca_error e;
    dca_optim *o = NULL;
    cr_assert_eq(dca_optim_create("lbfgs", NULL, P, 1, &o, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "autonomous"), "%s", e.msg);
    double bad[6] = {1, 0.1, 1, 2.5, 0, 0}; /* delay not whole */
    cr_assert_eq(dca_optim_create("autonomous", bad, P, 1, &o, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "delay"), "%s", e.msg);
    cr_assert_null(o);
}

Test(optim, gradient_methods_descend_the_bowl)
{
    double w[P];
    cr_assert_lt(descend("irprop+", NULL, 1, 200, w), 1e-6);
    cr_assert_lt(descend("irprop-", NULL, 1, 200, w), 1e-6);
    double sgd[2] = {0.05, 0.5};
    cr_assert_lt(descend("sgd", sgd, 1, 300, w), 1e-8);
    double adam[4] = {0.05, 0.9, 0.999, 1e-8};
    cr_assert_lt(descend("adam", adam, 1, 2000, w), 1e-3);
}

/* RMSprop is torch.optim.RMSprop: ten steps on the bowl from w = 0 with
 * lr 0.05, decay (torch's alpha) 0.9, epsilon 1e-8 end where PyTorch 1.13
 * (Debian's python3-torch, float64) ends:
 *   w = torch.zeros(6, requires_grad=True)
 *   opt = torch.optim.RMSprop([w], lr=0.05, alpha=0.9, eps=1e-8)
 *   10 x (zero_grad, E = ((w - centre)**2).sum(), backward, step) */
Test(optim, rmsprop_follows_pytorch)
{
    const double torch_w[P] = {0.6986015689792462, -0.7932053315338574, 0.48394145800799754,
                               0.8200100889585878, -0.6986015689792462, 0.24999994106609585};
    double par[3] = {0.05, 0.9, 1e-8}, w[P];
    descend("rmsprop", par, 1, 10, w);
    for (int i = 0; i < P; i++)
        cr_assert_float_eq(w[i], torch_w[i], 1e-14, "w[%d] = %.17g, PyTorch %.17g", i, w[i],
                           torch_w[i]);
    cr_assert_lt(descend("rmsprop", par, 1, 3000, w), 1e-3);
}

/* The autonomous map descends the bowl with its delayed feedback, and with
 * epsilon = sigma = 0 it never moves. Measured while writing this test
 * (10 seeds, 20,000 iterations): the reconstructed map is slow near the
 * minimum (its noise and feedback both vanish with E) and unstable once
 * epsilon |dE| exceeds 1, so "descends" means below a third of E0 here,
 * not convergence to the minimum; issue 16 studies the (epsilon, sigma)
 * map properly. */
Test(optim, autonomous_descends_and_needs_its_terms)
{
    double w[P];
    const double E0 = bowl((double[P]){0}, NULL);
    double par[6] = {1.0, 0.001, 1.0, 1.0, 0.0, 0.0};
    for (uint64_t seed = 1; seed <= 5; seed++) {
        double E = descend("autonomous", par, seed, 20000, w);
        cr_assert(E < E0 / 3, "seed %llu: E = %g from %g", (unsigned long long)seed, E, E0);
    }
    double none[6] = {0.0, 0.0, 1.0, 1.0, 0.0, 0.0};
    cr_assert_eq(descend("autonomous", none, 7, 500, w), E0);
    for (int i = 0; i < P; i++)
        cr_assert_eq(w[i], 0.0);
    /* Noise alone (epsilon = 0) is a random walk: no better than the start
     * on most seeds. */
    double noise[6] = {0.0, 0.001, 1.0, 1.0, 0.0, 0.0};
    int better = 0;
    for (uint64_t seed = 1; seed <= 5; seed++)
        better += descend("autonomous", noise, seed, 20000, w) < E0 / 3;
    cr_assert_leq(better, 1);
}

Test(optim, autonomous_noise_is_reproducible_and_keyed_by_seed)
{
    double a[P], b[P], c[P];
    double par[6] = {2.0, 0.05, 1.0, 2.0, 0.0, 0.0};
    descend("autonomous", par, 11, 300, a);
    descend("autonomous", par, 11, 300, b);
    descend("autonomous", par, 12, 300, c);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_neq(memcmp(a, c, sizeof a), 0);
}

/* Stopping and resuming from the saved state and iteration count gives the
 * uninterrupted run's weights bit for bit. */
Test(optim, resume_from_state_is_bitwise)
{
    /* Every type of the table: 150 iterations, the state copied into a new
     * optimiser, 250 more end exactly where 400 in one go end. */
    int nt;
    const dca_optim_type *const *types = dca_optim_types(&nt);
    for (int k = 0; k < nt; k++) {
        const char *name = types[k]->name;
        const double autonomous[6] = {2.0, 0.05, 1.0, 3.0, 0.0, 0.0};
        const double *par = strcmp(name, "autonomous") == 0 ? autonomous : NULL;
        double full[P], w[P] = {0}, g[P];
        descend(name, par, 5, 400, full);
        dca_optim *o = NULL, *r = NULL;
        cr_assert_eq(dca_optim_create(name, par, P, 5, &o, NULL), DCA_OK);
        for (int n = 0; n < 150; n++) {
            double E = bowl(w, g);
            dca_optim_step(o, E, dca_optim_needs_gradient(o) ? g : NULL, w);
        }
        cr_assert_eq(dca_optim_create(name, par, P, 5, &r, NULL), DCA_OK);
        cr_assert_eq(dca_optim_state_len(r), dca_optim_state_len(o));
        memcpy(dca_optim_state(r), dca_optim_state(o),
               (size_t)dca_optim_state_len(o) * sizeof(double));
        dca_optim_set_iteration(r, dca_optim_iteration(o));
        for (int n = 150; n < 400; n++) {
            double E = bowl(w, g);
            dca_optim_step(r, E, dca_optim_needs_gradient(r) ? g : NULL, w);
        }
        cr_assert_eq(memcmp(w, full, sizeof w), 0, "%s: the resumed run differs", name);
        dca_optim_destroy(o);
        dca_optim_destroy(r);
    }
}
