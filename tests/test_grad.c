/* Gradients (DESIGN.md §2): kernels vs reference twins, forward mode vs
 * reverse mode over long horizons, both vs central finite differences on
 * short ones, exact 0/1 states, thread independence, sqrt(T) memory. */
#include <math.h>
#include <string.h>

#include "dca/gradient.h"
#include "helpers.h"
#include "dca/task.h"

typedef struct setup {
    dca_lattice lat;
    dca_nbhd *nb;
    dca_rule *rule;
    dca_sim *sim;
    int64_t B, len, P;
    int k;
    dca_mode mode;
    double *x0, *phi;
    dca_task_shape sh;
} setup;

/* Fills *out (its task shape points at out->lat, so it is not returned by value). */
static void make_into(setup *out, const char *size, const char *nbspec, int k, dca_mode mode,
                      int64_t B, dca_kernel kernel, int threads, double wscale, double eps,
                      uint64_t seed)
{
    setup s = {.B = B, .k = k, .mode = mode};
    cr_assert_eq(dca_lattice_parse(size, &s.lat, NULL), DCA_OK);
    s.nb = t_nbhd(nbspec, s.lat.dims);
    s.rule = t_rule(s.nb, k, mode);
    t_random_weights(s.rule, wscale, seed);
    dca_sim_options o = {.kernel = kernel, .threads = threads,
                         .gradients = DCA_GRAD_FORWARD | DCA_GRAD_REVERSE};
    dca_error e;
    cr_assert_eq(dca_sim_create(&s.lat, s.rule, B, &o, &s.sim, &e), DCA_OK, "%s", e.msg);
    s.len = dca_sim_config_len(s.sim);
    s.P = dca_rule_params(s.rule);
    s.x0 = malloc((size_t)(B * s.len) * 8);
    s.phi = malloc((size_t)(B * s.len) * 8);
    const char *kind = k == 2 ? "bernoulli:0.5" : "uniform-states";
    cr_assert_eq(dca_init_generate(kind, &s.lat, k, mode, B, seed, s.x0, &e), DCA_OK, "%s", e.msg);
    dca_init_apply_eps(s.x0, B * s.len, k, mode, eps);
    *out = s;
    out->sh = (dca_task_shape){&out->lat, k, mode, B, out->nb, NULL, NULL, 0};
    cr_assert_eq(dca_target_lookup("identity")(&out->sh, out->x0, out->phi, NULL), DCA_OK);
}

static void drop(setup *s)
{
    dca_sim_destroy(s->sim);
    dca_rule_destroy(s->rule);
    dca_nbhd_destroy(s->nb);
    free(s->x0);
    free(s->phi);
}

static double loss_only(setup *s, int64_t T, const char *loss)
{
    double *a = malloc((size_t)(s->B * s->len) * 8), *b = malloc((size_t)(s->B * s->len) * 8);
    memcpy(a, s->x0, (size_t)(s->B * s->len) * 8);
    for (int64_t t = 0; t < T; t++) {
        dca_sim_step(s->sim, a, b);
        double *sw = a;
        a = b;
        b = sw;
    }
    double E = dca_loss_lookup(loss)(&s->sh, s->phi, a, NULL);
    free(a);
    free(b);
    return E;
}

static double reverse_grad(setup *s, int64_t T, const char *loss, double *g)
{
    dca_adjoint *adj;
    dca_error e;
    cr_assert_eq(dca_adjoint_create(s->sim, s->B, T, &adj, &e), DCA_OK, "%s", e.msg);
    double E;
    cr_assert_eq(dca_adjoint_run(adj, s->x0, s->phi, dca_loss_lookup(loss), &s->sh, &E, g, NULL, NULL), DCA_OK);
    dca_adjoint_destroy(adj);
    return E;
}

static double forward_grad(setup *s, int64_t T, const char *loss, double *g)
{
    dca_tangent *tg;
    dca_error e;
    cr_assert_eq(dca_tangent_create(s->sim, s->B, &tg, &e), DCA_OK, "%s", e.msg);
    dca_tangent_reset(tg);
    int64_t n = s->B * s->len;
    double *a = malloc((size_t)n * 8), *b = malloc((size_t)n * 8), *xbar = malloc((size_t)n * 8);
    memcpy(a, s->x0, (size_t)n * 8);
    for (int64_t t = 0; t < T; t++) {
        dca_tangent_step(tg, a);
        dca_sim_step(s->sim, a, b);
        double *sw = a;
        a = b;
        b = sw;
    }
    double E = dca_loss_lookup(loss)(&s->sh, s->phi, a, xbar);
    dca_tangent_loss_gradient(tg, xbar, g);
    dca_tangent_destroy(tg);
    free(a), free(b), free(xbar);
    return E;
}

/* ---- kernels vs reference twins ------------------------------------------------ */

static void kernel_vs_ref(dca_kernel kernel, const char *size, const char *nbspec, int k,
                          dca_mode mode)
{
    setup f;
    make_into(&f, size, nbspec, k, mode, 2, kernel, 2, 2.0, 0.1, 5);
    setup r;
    make_into(&r, size, nbspec, k, mode, 2, DCA_KERNEL_REFERENCE, 1, 2.0, 0.1, 5);
    int64_t n = f.B * f.len, jn = n * f.P;
    uint64_t seed = 9;
    double *x = malloc((size_t)n * 8);
    for (int64_t b = 0; b < f.B; b++)
        t_random_config(x + b * f.len, dca_lattice_cells(&f.lat), k, mode, 100 + (uint64_t)b);
    /* Tangent: from a random J. */
    double *J = malloc((size_t)jn * 8), *J1 = malloc((size_t)jn * 8), *J2 = malloc((size_t)jn * 8);
    for (int64_t i = 0; i < jn; i++)
        J[i] = 2 * t_unif(&seed) - 1;
    dca_sim_tangent_step(f.sim, x, J, J1, f.B);
    dca_sim_tangent_step(r.sim, x, J, J2, f.B);
    cr_assert_leq(t_rel_diff(J1, J2, jn), 1e-13, "%s %s k=%d tangent: rel diff %g", size, nbspec, k,
                  t_rel_diff(J1, J2, jn));
    /* Adjoint: from a random ybar. */
    double *yb = malloc((size_t)n * 8), *xb1 = malloc((size_t)n * 8), *xb2 = malloc((size_t)n * 8);
    double *g1 = malloc((size_t)f.P * 8), *g2 = malloc((size_t)f.P * 8);
    for (int64_t i = 0; i < n; i++)
        yb[i] = 2 * t_unif(&seed) - 1;
    dca_sim_adjoint_begin(f.sim);
    dca_sim_adjoint_step(f.sim, x, yb, xb1);
    dca_sim_adjoint_end(f.sim, g1);
    dca_sim_adjoint_begin(r.sim);
    dca_sim_adjoint_step(r.sim, x, yb, xb2);
    dca_sim_adjoint_end(r.sim, g2);
    cr_assert_leq(t_rel_diff(xb1, xb2, n), 1e-13, "%s %s %s adjoint x: %g", size, nbspec,
                  dca_kernel_name(kernel), t_rel_diff(xb1, xb2, n));
    cr_assert_leq(t_rel_diff(g1, g2, f.P), 1e-13, "%s %s %s adjoint w: %g", size, nbspec,
                  dca_kernel_name(kernel), t_rel_diff(g1, g2, f.P));
    /* The dot-product test: <J v, u> = <v, J^T u> for the one-step map,
     * with v = a random tangent direction, i.e. J starting at v e_p. */
    free(x), free(J), free(J1), free(J2), free(yb), free(xb1), free(xb2), free(g1), free(g2);
    drop(&f);
    drop(&r);
}

static void kernels_vs_ref(const char *size, const char *nbspec, int k, dca_mode mode)
{
    kernel_vs_ref(DCA_KERNEL_BLAS, size, nbspec, k, mode);
}

/* The fused kernel's own adjoint (m <= DCA_FUSED_ADJ_MAX_M; beyond, BLAS's):
 * every (KR, row blocking) it compiles, leading parts with and without
 * high monomials, tails, one gathered run (consecutive rings, also wrapping
 * several times) and m rows. */
Test(grad_kernels, fused_adjoint_matches_reference)
{
    const char *cases[][2] = {
        {"31", "offsets:-1,1"},           /* m = 2: KL = 2, KR = 2, m rows */
        {"37", "radius:1"},               /* m = 3: KR = 4, one run */
        {"45", "offsets:-2,-1,1,2"},      /* m = 4: KR = 8 */
        {"40", "radius:2"},               /* m = 5: KL = 2, KR = 16 */
        {"333", "radius:3"},              /* m = 7: KL = 8 (rows of 8), a tail */
        {"9x7", "moore:1"},               /* m = 9: KL = 32, two high offsets */
        {"70", "offsets:-5,-4,-3,-2,-1,0,1,2,3,4"}, /* m = 10: KL = 64 */
        {"3", "radius:2"},                /* a run wrapping the ring twice */
        {"2x2", "moore:1"},
        {"13x9", "vonneumann:2"},         /* m = 13: the BLAS adjoint */
        {"3000", "radius:3"},             /* several tiles: Gx and the gather pass */
        {"64x50", "moore:1"},             /* (the cases above: one tile, the stripe) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        kernel_vs_ref(DCA_KERNEL_FUSED, cases[i][0], cases[i][1], 2, DCA_MODE_BINARY);
}

Test(grad_kernels, tangent_and_adjoint_match_reference)
{
    kernels_vs_ref("40", "radius:2", 2, DCA_MODE_BINARY);
    kernels_vs_ref("9x7", "moore:1", 2, DCA_MODE_BINARY);
    kernels_vs_ref("30", "radius:1", 3, DCA_MODE_SOFTMAX);
    kernels_vs_ref("6x5", "vonneumann:1", 3, DCA_MODE_SOFTMAX);
    kernels_vs_ref("3", "radius:2", 2, DCA_MODE_BINARY);     /* offsets wrap: repeated cells */
    kernels_vs_ref("2x2", "moore:1", 2, DCA_MODE_BINARY);
    kernels_vs_ref("25", "offsets:3,-1", 4, DCA_MODE_SOFTMAX);
}

/* ---- forward vs reverse ------------------------------------------------------------ */

static void forward_vs_reverse(const char *size, const char *nbspec, int k, dca_mode mode,
                               int64_t T, const char *loss, double eps, double tol)
{
    setup s;
    make_into(&s, size, nbspec, k, mode, 2, DCA_KERNEL_BLAS, 2, 1.0, eps, 21);
    double *gf = malloc((size_t)s.P * 8), *gr = malloc((size_t)s.P * 8);
    double Ef = forward_grad(&s, T, loss, gf), Er = reverse_grad(&s, T, loss, gr);
    cr_assert(isfinite(Ef) && Ef == Er, "losses %.17g %.17g", Ef, Er);
    for (int64_t p = 0; p < s.P; p++)
        cr_assert(isfinite(gf[p]) && isfinite(gr[p]), "parameter %lld not finite", (long long)p);
    double r = t_rel_diff(gf, gr, s.P);
    cr_assert_leq(r, tol, "%s %s k=%d T=%lld %s: forward vs reverse rel diff %g", size, nbspec, k,
                  (long long)T, loss, r);
    double mx = 0;
    for (int64_t p = 0; p < s.P; p++)
        mx = fmax(mx, fabs(gr[p]));
    cr_assert_gt(mx, 0.0, "a zero gradient proves nothing");
    free(gf), free(gr);
    drop(&s);
}

Test(grad, forward_equals_reverse_50_steps)
{
    forward_vs_reverse("60", "radius:2", 2, DCA_MODE_BINARY, 50, "cross-entropy", 1e-3, 1e-9);
    forward_vs_reverse("8x9", "vonneumann:1", 3, DCA_MODE_SOFTMAX, 50, "cross-entropy", 1e-2, 1e-9);
    forward_vs_reverse("60", "radius:2", 2, DCA_MODE_BINARY, 50, "mse", 1e-3, 1e-9);
    forward_vs_reverse("7x6", "moore:1", 2, DCA_MODE_BINARY, 20, "cross-entropy", 1e-3, 1e-9);
}

Test(grad, exact_zero_one_states)
{
    /* eps = 0: states exactly 0/1 at t = 0; nothing divides by them. */
    forward_vs_reverse("40", "radius:1", 2, DCA_MODE_BINARY, 10, "cross-entropy", 0.0, 1e-9);
    forward_vs_reverse("40", "radius:1", 2, DCA_MODE_BINARY, 10, "mse", 0.0, 1e-9);
    forward_vs_reverse("5x5", "vonneumann:1", 3, DCA_MODE_SOFTMAX, 8, "mse", 0.0, 1e-9);
}

/* ---- vs finite differences --------------------------------------------------------- */

static void vs_finite_differences(const char *size, const char *nbspec, int k, dca_mode mode,
                                  int64_t T, const char *loss)
{
    setup s;
    make_into(&s, size, nbspec, k, mode, 2, DCA_KERNEL_BLAS, 2, 1.0, 1e-2, 33);
    double *gr = malloc((size_t)s.P * 8), *gf = malloc((size_t)s.P * 8);
    double E0 = reverse_grad(&s, T, loss, gr);
    forward_grad(&s, T, loss, gf);
    double *w = malloc((size_t)s.P * 8);
    memcpy(w, dca_rule_weights(s.rule), (size_t)s.P * 8);
    double scale = 0;
    for (int64_t p = 0; p < s.P; p++)
        scale = fmax(scale, fabs(gr[p]));
    const double h = 1e-5;
    for (int64_t p = 0; p < s.P; p++) {
        double keep = w[p];
        w[p] = keep + h;
        dca_rule_set_weights(s.rule, w, NULL);
        dca_sim_set_params(s.sim, NULL, NULL);
        double Ep = loss_only(&s, T, loss);
        w[p] = keep - h;
        dca_rule_set_weights(s.rule, w, NULL);
        dca_sim_set_params(s.sim, NULL, NULL);
        double Em = loss_only(&s, T, loss);
        w[p] = keep;
        double num = (Ep - Em) / (2 * h);
        /* A central difference carries rounding noise of about
         * 1e-16 |E| / h = 1e-11 |E|: allow 1e-9 |E| absolute. */
        double den = fmax(fabs(num), 1e-3 * fmax(scale, fabs(E0)));
        cr_assert_leq(fabs(gr[p] - num) / den, 1e-6, "%s %s p=%lld: reverse %.10g numeric %.10g",
                      size, nbspec, (long long)p, gr[p], num);
        cr_assert_leq(fabs(gf[p] - num) / den, 1e-6, "%s %s p=%lld: forward %.10g numeric %.10g",
                      size, nbspec, (long long)p, gf[p], num);
    }
    free(w), free(gr), free(gf);
    drop(&s);
}

Test(grad, finite_differences_short_horizons)
{
    vs_finite_differences("30", "radius:2", 2, DCA_MODE_BINARY, 4, "cross-entropy");
    vs_finite_differences("6x6", "vonneumann:1", 3, DCA_MODE_SOFTMAX, 3, "cross-entropy");
    vs_finite_differences("5x4", "moore:1", 2, DCA_MODE_BINARY, 3, "mse");
    vs_finite_differences("20", "radius:1", 2, DCA_MODE_SOFTMAX, 5, "cross-entropy");
}

/* ---- determinism and memory ----------------------------------------------------------- */

Test(grad, identical_for_one_and_two_threads)
{
    const char *sizes[] = {"3000", "40x40"}, *nbs[] = {"radius:3", "vonneumann:1"};
    int ks[] = {2, 3};
    dca_mode modes[] = {DCA_MODE_BINARY, DCA_MODE_SOFTMAX};
    for (int i = 0; i < 2; i++) {
        setup a;
    make_into(&a, sizes[i], nbs[i], ks[i], modes[i], 3, DCA_KERNEL_BLAS, 1, 1.0, 1e-3, 4);
        setup b;
    make_into(&b, sizes[i], nbs[i], ks[i], modes[i], 3, DCA_KERNEL_BLAS, 2, 1.0, 1e-3, 4);
        double *ga = malloc((size_t)a.P * 8), *gb = malloc((size_t)a.P * 8);
        double Ea = reverse_grad(&a, 12, "cross-entropy", ga);
        double Eb = reverse_grad(&b, 12, "cross-entropy", gb);
        cr_assert(Ea == Eb && memcmp(ga, gb, (size_t)a.P * 8) == 0,
                  "%s: reverse-mode gradient differs between 1 and 2 threads", sizes[i]);
        Ea = forward_grad(&a, 5, "cross-entropy", ga);
        Eb = forward_grad(&b, 5, "cross-entropy", gb);
        cr_assert(memcmp(ga, gb, (size_t)a.P * 8) == 0,
                  "%s: forward-mode gradient differs between 1 and 2 threads", sizes[i]);
        free(ga), free(gb);
        drop(&a);
        drop(&b);
    }
}

/* The fused adjoint on one and two threads: several tiles per configuration
 * (Gx and the gather pass) and one (the stripe). */
Test(grad, fused_adjoint_identical_for_one_and_two_threads)
{
    const char *sizes[] = {"3000", "333", "64x50"}, *nbs[] = {"radius:3", "radius:3", "moore:1"};
    for (int i = 0; i < 3; i++) {
        setup a, b;
        make_into(&a, sizes[i], nbs[i], 2, DCA_MODE_BINARY, 3, DCA_KERNEL_FUSED, 1, 1.0, 1e-3, 4);
        make_into(&b, sizes[i], nbs[i], 2, DCA_MODE_BINARY, 3, DCA_KERNEL_FUSED, 2, 1.0, 1e-3, 4);
        cr_assert_eq(dca_sim_tile_cells(a.sim) < dca_lattice_cells(&a.lat), i != 1,
                     "%s: expected %s", sizes[i], i != 1 ? "several tiles" : "one tile");
        double *ga = malloc((size_t)a.P * 8), *gb = malloc((size_t)a.P * 8);
        double Ea = reverse_grad(&a, 12, "cross-entropy", ga);
        double Eb = reverse_grad(&b, 12, "cross-entropy", gb);
        cr_assert(Ea == Eb && memcmp(ga, gb, (size_t)a.P * 8) == 0,
                  "%s: fused reverse-mode gradient differs between 1 and 2 threads", sizes[i]);
        free(ga), free(gb);
        drop(&a);
        drop(&b);
    }
}

Test(grad, reverse_memory_grows_like_sqrt_T)
{
    setup s;
    make_into(&s, "1024", "radius:3", 2, DCA_MODE_BINARY, 4, DCA_KERNEL_BLAS, 2, 1.0, 1e-3, 1);
    int64_t bytes[3], Ts[3] = {64, 256, 1024};
    for (int i = 0; i < 3; i++) {
        dca_adjoint *adj;
        cr_assert_eq(dca_adjoint_create_kept(s.sim, s.B, Ts[i], -1, &adj, NULL), DCA_OK);
        bytes[i] = dca_adjoint_state_bytes(adj);
        dca_adjoint_destroy(adj);
    }
    int64_t state = s.B * s.len * 8;
    cr_log_info("reverse-mode state memory: T=64 %lld, T=256 %lld, T=1024 %lld bytes "
                "(one state %lld)", (long long)bytes[0], (long long)bytes[1], (long long)bytes[2],
                (long long)state);
    /* 16x the steps, about 4x the memory; storing every state would be 16x. */
    cr_assert_lt((double)bytes[2] / (double)bytes[0], 4.0);
    cr_assert_lt(bytes[2], 1024 * state / 10);
    drop(&s);
}

/* Every state kept (the default when they fit 256 MiB, or a budget that
 * holds them) or checkpoints every ceil(sqrt(T)) steps with the segments
 * replayed: the same loss, gradient and x_T bit for bit, with and without
 * a trajectory loss, for T a square, not a square, 1 and 0. */
Test(grad, kept_states_and_checkpoints_agree_bitwise)
{
    setup s;
    make_into(&s, "300", "radius:2", 2, DCA_MODE_BINARY, 3, DCA_KERNEL_AUTO, 2, 1.0, 1e-3, 5);
    const int64_t n = s.B * s.len, state = n * 8;
    const dca_loss_fn loss = dca_loss_lookup("mse");
    const int64_t Ts[] = {16, 23, 1, 0}, every[] = {0, 3};
    double *gk = malloc((size_t)s.P * 8), *gc = malloc((size_t)s.P * 8);
    double *xk = malloc((size_t)n * 8), *xc = malloc((size_t)n * 8);
    for (size_t i = 0; i < sizeof Ts / sizeof *Ts; i++)
        for (int e = 0; e < 2; e++) {
            const int64_t T = Ts[i];
            dca_adjoint *keep, *ckpt;
            cr_assert_eq(dca_adjoint_create(s.sim, s.B, T, &keep, NULL), DCA_OK);
            cr_assert_eq(dca_adjoint_create_kept(s.sim, s.B, T, -1, &ckpt, NULL), DCA_OK);
            /* kept: x_0..x_{T-1} and three more; checkpoints: fewer */
            if (T > 0)
                cr_assert_eq(dca_adjoint_state_bytes(keep), (T + 3) * state);
            if (T == 23)
                cr_assert_lt(dca_adjoint_state_bytes(ckpt), (T + 3) * state / 2);
            double Ek, Ec;
            cr_assert_eq(dca_adjoint_run_every(keep, s.x0, s.phi, loss, &s.sh, every[e], &Ek, gk,
                                               xk, NULL),
                         DCA_OK);
            cr_assert_eq(dca_adjoint_run_every(ckpt, s.x0, s.phi, loss, &s.sh, every[e], &Ec, gc,
                                               xc, NULL),
                         DCA_OK);
            cr_assert(memcmp(&Ek, &Ec, sizeof Ek) == 0, "T=%lld every=%lld: E %.17g vs %.17g",
                      (long long)T, (long long)every[e], Ek, Ec);
            cr_assert(memcmp(gk, gc, (size_t)s.P * 8) == 0, "T=%lld every=%lld: gradients differ",
                      (long long)T, (long long)every[e]);
            cr_assert(memcmp(xk, xc, (size_t)n * 8) == 0, "T=%lld: x_T differs", (long long)T);
            /* a budget one state short of keeping them all: checkpoints */
            dca_adjoint *tight;
            cr_assert_eq(dca_adjoint_create_kept(s.sim, s.B, T, (T + 3) * state - 1, &tight,
                                                 NULL),
                         DCA_OK);
            if (T > 1)
                cr_assert_lt(dca_adjoint_state_bytes(tight), (T + 3) * state);
            dca_adjoint_destroy(tight);
            dca_adjoint_destroy(keep);
            dca_adjoint_destroy(ckpt);
        }
    /* and both against the loss of a plain forward run */
    dca_adjoint *keep;
    double E;
    cr_assert_eq(dca_adjoint_create(s.sim, s.B, 23, &keep, NULL), DCA_OK);
    cr_assert_eq(dca_adjoint_run(keep, s.x0, s.phi, loss, &s.sh, &E, gk, NULL, NULL), DCA_OK);
    cr_assert(memcmp(&E, &(double){loss_only(&s, 23, "mse")}, sizeof E) == 0);
    dca_adjoint_destroy(keep);
    free(gk);
    free(gc);
    free(xk);
    free(xc);
    drop(&s);
}
