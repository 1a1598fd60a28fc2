/* The library's contract under misuse, and the objective.
 *
 * Misuse: every wrong call returns the documented status (DCA_ERR_ARG) with
 * a message, and never crashes or writes out of bounds (the sanitizer build
 * runs these too). The objective: values-only and gradient evaluations
 * agree, a trajectory loss's gradient matches central finite differences,
 * and slices of a batch add up to the whole batch. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dca/gradient.h"
#include "dca/objective.h"
#include "dca/task.h"
#include "dca/trainer.h"
#include "helpers.h"

typedef struct fixture {
    dca_lattice lat;
    dca_nbhd *nb;
    dca_rule *rule;
    dca_sim *sim;
    int64_t B, len, P;
    double *x, *y, *phi;
} fixture;

static fixture make(const char *size, const char *nbspec, int64_t B, unsigned grads,
                    dca_kernel kernel)
{
    fixture f = {.B = B};
    cr_assert_eq(dca_lattice_parse(size, &f.lat, NULL), DCA_OK);
    f.nb = t_nbhd(nbspec, f.lat.dims);
    f.rule = t_rule(f.nb, 2, DCA_MODE_BINARY);
    t_random_weights(f.rule, 2.0, 11);
    dca_sim_options o = {.kernel = kernel, .threads = 2, .gradients = grads};
    dca_error e;
    cr_assert_eq(dca_sim_create(&f.lat, f.rule, B, &o, &f.sim, &e), DCA_OK, "%s", e.msg);
    f.len = dca_sim_config_len(f.sim);
    f.P = dca_rule_params(f.rule);
    f.x = malloc((size_t)(B * f.len) * 8);
    f.y = malloc((size_t)(B * f.len) * 8);
    f.phi = malloc((size_t)(B * f.len) * 8);
    t_random_config(f.x, B * dca_lattice_cells(&f.lat), 2, DCA_MODE_BINARY, 5);
    for (int64_t i = 0; i < B * f.len; i++)
        f.phi[i] = f.x[(i + 1) % (B * f.len)] > 0.5;
    return f;
}

static void drop(fixture *f)
{
    dca_sim_destroy(f->sim);
    dca_rule_destroy(f->rule);
    dca_nbhd_destroy(f->nb);
    free(f->x), free(f->y), free(f->phi);
}

Test(misuse, gradient_steps_on_a_values_only_plan)
{
    fixture f = make("64", "radius:2", 3, 0, DCA_KERNEL_AUTO);
    double *J = calloc((size_t)(f.B * f.len * f.P), 8), *g = calloc((size_t)f.P, 8);
    cr_assert_eq(dca_sim_adjoint_begin(f.sim), DCA_ERR_ARG);
    cr_assert_eq(dca_sim_adjoint_step(f.sim, f.x, f.phi, f.y), DCA_ERR_ARG);
    cr_assert(strstr(dca_sim_error(f.sim), "DCA_GRAD_REVERSE"), "%s", dca_sim_error(f.sim));
    cr_assert_eq(dca_sim_adjoint_end(f.sim, g), DCA_ERR_ARG);
    cr_assert_eq(dca_sim_tangent_step(f.sim, f.x, J, J, 1), DCA_ERR_ARG);
    cr_assert(strstr(dca_sim_error(f.sim), "DCA_GRAD_FORWARD"), "%s", dca_sim_error(f.sim));
    dca_adjoint *adj = NULL;
    dca_tangent *tg = NULL;
    dca_error e;
    cr_assert_eq(dca_adjoint_create(f.sim, f.B, 4, &adj, &e), DCA_ERR_ARG);
    cr_assert_null(adj);
    cr_assert_eq(dca_tangent_create(f.sim, 1, &tg, &e), DCA_ERR_ARG);
    cr_assert_null(tg);
    free(J), free(g);
    drop(&f);
}

static dca_status no_exchange(void *ctx, const dca_part_info *p, const dca_halo_buffer *b)
{
    (void)p, (void)b;
    ++*(int *)ctx;
    return DCA_OK;
}

/* Lattice parts (dca.h): what a part plan refuses, with a message, and what
 * it reports. The bitwise checks against whole plans run under mpirun
 * (tests/mpi_parts.c, test_mpi.py). */
Test(misuse, lattice_part_plans_refuse_what_they_cannot_do)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse("48x40", &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd("moore:1", 2);
    dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
    int calls = 0;
    const struct dca_halo_hook hook = {no_exchange, &calls};
    struct {
        dca_sim_options o;
        int64_t B;
        const char *why;
    } bad[] = {
        {{.parts = 2, .part = 0}, 1, "halo hook"},
        {{.parts = 2, .part = 2, .halo = hook}, 1, "numbered 0..1"},
        {{.parts = 2, .part = 0, .halo = hook, .gradients = DCA_GRAD_FORWARD}, 1, "forward"},
        {{.parts = 2, .part = 0, .halo = hook, .gradients = DCA_GRAD_REVERSE, .block_batch = 4},
         2, "not both"},
        {{.parts = 2, .part = 0, .halo = hook, .gradients = DCA_GRAD_REVERSE}, 64,
         "dca_sim_batch_share"},
        /* 240 tiles of 8 cells: parts of 8 or 16 cells, halos of 40. */
        {{.parts = 200, .part = 0, .halo = hook, .tile_cells = 8}, 1, "fewer than a neighbouring"},
        {{.parts = 40, .part = 3, .halo = hook, .tile_cells = 64}, 1, "30 tiles (tiles of 64 cells); 40 parts need at least"},
        {{.parts = -1}, 1, "negative"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dca_sim *sim = NULL;
        dca_error e = {0};
        cr_assert_eq(dca_sim_create(&lat, rule, bad[i].B, &bad[i].o, &sim, &e), DCA_ERR_ARG,
                     "case %zu", i);
        cr_assert_null(sim);
        cr_assert(strstr(e.msg, bad[i].why), "case %zu: %s", i, e.msg);
    }
    /* A valid part: its layout, its halo fill, and the drivers that refuse it. */
    dca_sim *sim = NULL;
    dca_error e = {0};
    dca_sim_options o = {.parts = 3, .part = 1, .halo = hook, .tile_cells = 80,
                         .gradients = DCA_GRAD_REVERSE};
    cr_assert_eq(dca_sim_create(&lat, rule, 2, &o, &sim, &e), DCA_OK, "%s", e.msg);
    dca_part_info p;
    cr_assert_eq(dca_sim_part(sim, &p), DCA_OK);
    /* 24 tiles of 80 cells in 24 blocks: part 1 holds tiles 8..15, lattice
     * rows 16..31 and one halo row either side. */
    cr_assert_eq(p.parts, 3);
    cr_assert_eq(p.prev, 0);
    cr_assert_eq(p.next, 2);
    cr_assert_eq(p.lattice_first, 8 * 80);
    cr_assert_eq(p.own_count, 8 * 80);
    cr_assert_eq(p.window_rows, 18);
    cr_assert_eq(p.window_cols, 40);
    cr_assert_eq(p.cells, 18 * 40);
    cr_assert_eq(p.own_first, 40);
    cr_assert_eq(p.window_first, 15 * 40);
    cr_assert_eq(p.to_prev, 40);
    cr_assert_eq(p.to_next, 40);
    cr_assert_eq(p.blocks_per_config, 24);
    cr_assert_eq(p.block_first, 8);
    cr_assert_eq(p.block_count, 8);
    cr_assert_eq(dca_sim_config_len(sim), 18 * 40);
    double *x = calloc(2 * 18 * 40, sizeof *x);
    cr_assert_eq(dca_sim_halo_fill(sim, x), DCA_OK);
    cr_assert_eq(calls, 1);
    dca_adjoint *adj = NULL;
    cr_assert_eq(dca_adjoint_create(sim, 2, 3, &adj, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "part 1 of 3"), "%s", e.msg);
    dca_sim_destroy(sim);
    /* A whole plan reports one part: its window is the lattice. */
    cr_assert_eq(dca_sim_create(&lat, rule, 2, NULL, &sim, &e), DCA_OK, "%s", e.msg);
    cr_assert_eq(dca_sim_part(sim, &p), DCA_OK);
    cr_assert_eq(p.parts, 1);
    cr_assert_eq(p.cells, 48 * 40);
    cr_assert_eq(p.own_count, 48 * 40);
    cr_assert_eq(dca_sim_halo_fill(sim, x), DCA_OK); /* nothing to fill, no hook */
    free(x);
    dca_sim_destroy(sim);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
    /* A window that would wrap onto itself: radius 2 on 4 rows, 2 parts. */
    cr_assert_eq(dca_lattice_parse("4x40", &lat, NULL), DCA_OK);
    nb = t_nbhd("moore:2", 2);
    cr_assert_eq(dca_rule_create_outer_totalistic(nb, &rule, NULL), DCA_OK);
    o = (dca_sim_options){.parts = 2, .part = 1, .halo = hook, .tile_cells = 40};
    cr_assert_eq(dca_sim_create(&lat, rule, 1, &o, &sim, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "spans 6 rows with its halo, more than the lattice's 4"), "%s", e.msg);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
}

/* A window of a configuration (wrapping past the last cell) is the same
 * cells' draws as the whole configuration's. */
Test(misuse, init_window_is_the_lattice_cells)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse("12x10", &lat, NULL), DCA_OK);
    const char *kinds[] = {"bernoulli:0.3", "uniform-density", "uniform-states", "single"};
    double whole[3 * 120 * 3], win[3 * 50 * 3];
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(dca_init_generate_part(kinds[k], &lat, 3, DCA_MODE_SOFTMAX, 2, 3, 9, whole,
                                            NULL), DCA_OK);
        cr_assert_eq(dca_init_generate_window(kinds[k], &lat, 3, DCA_MODE_SOFTMAX, 2, 3, 9, 90,
                                              50, win, NULL), DCA_OK);
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < 50; i++)
                for (int a = 0; a < 3; a++)
                    cr_assert_eq(win[(b * 50 + i) * 3 + a],
                                 whole[(b * 120 + (90 + i) % 120) * 3 + a], "%s", kinds[k]);
    }
    dca_error e = {0};
    cr_assert_eq(dca_init_generate_window("single", &lat, 2, DCA_MODE_BINARY, 0, 1, 9, 120, 5,
                                          win, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "does not fit"), "%s", e.msg);
}

Test(misuse, adjoint_batch_must_match_the_plan)
{
    fixture f = make("64", "radius:2", 4, DCA_GRAD_REVERSE | DCA_GRAD_FORWARD, DCA_KERNEL_AUTO);
    dca_adjoint *adj = NULL;
    dca_tangent *tg = NULL;
    dca_error e;
    /* Larger and smaller batches than the plan's: both refused (a larger
     * one used to overflow the heap, a smaller one to leave states unset). */
    cr_assert_eq(dca_adjoint_create(f.sim, 8, 4, &adj, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "must be equal"), "%s", e.msg);
    cr_assert_eq(dca_adjoint_create(f.sim, 2, 4, &adj, &e), DCA_ERR_ARG);
    cr_assert_eq(dca_adjoint_create(f.sim, 4, -1, &adj, &e), DCA_ERR_ARG);
    cr_assert_eq(dca_tangent_create(f.sim, 5, &tg, &e), DCA_ERR_ARG);
    cr_assert_eq(dca_tangent_create(f.sim, 0, &tg, &e), DCA_ERR_ARG);
    cr_assert_eq(dca_adjoint_create(f.sim, 4, 4, &adj, &e), DCA_OK, "%s", e.msg);
    dca_adjoint_destroy(adj);
    drop(&f);
}

Test(misuse, adjoint_step_outside_begin_end)
{
    fixture f = make("64", "radius:2", 2, DCA_GRAD_REVERSE, DCA_KERNEL_AUTO);
    double *g = calloc((size_t)f.P, 8);
    cr_assert_eq(dca_sim_adjoint_step(f.sim, f.x, f.phi, f.y), DCA_ERR_ARG);
    cr_assert(strstr(dca_sim_error(f.sim), "begin"), "%s", dca_sim_error(f.sim));
    cr_assert_eq(dca_sim_adjoint_end(f.sim, g), DCA_ERR_ARG);
    cr_assert_eq(dca_sim_adjoint_begin(f.sim), DCA_OK);
    cr_assert_eq(dca_sim_adjoint_step(f.sim, f.x, f.phi, f.phi), DCA_ERR_ARG);
    cr_assert_eq(dca_sim_adjoint_step(f.sim, f.x, f.phi, f.y), DCA_OK);
    cr_assert_eq(dca_sim_adjoint_end(f.sim, NULL), DCA_ERR_ARG);
    cr_assert_eq(dca_sim_adjoint_end(f.sim, g), DCA_OK);
    free(g);
    drop(&f);
}

Test(misuse, null_and_aliased_buffers)
{
    fixture f = make("32", "radius:1", 2, 0, DCA_KERNEL_AUTO);
    cr_assert_eq(dca_sim_step(NULL, f.x, f.y), DCA_ERR_ARG);
    cr_assert_eq(dca_sim_step(f.sim, NULL, f.y), DCA_ERR_ARG);
    cr_assert_eq(dca_sim_step(f.sim, f.x, NULL), DCA_ERR_ARG);
    cr_assert_eq(dca_sim_step(f.sim, f.x, f.x), DCA_ERR_ARG);
    cr_assert(strstr(dca_sim_error(f.sim), "same buffer"), "%s", dca_sim_error(f.sim));
    cr_assert_eq(dca_sim_set_params(NULL, NULL, NULL), DCA_ERR_ARG);
    dca_sim *s = NULL;
    dca_error e;
    cr_assert_eq(dca_sim_create(&f.lat, NULL, 1, NULL, &s, &e), DCA_ERR_ARG);
    cr_assert_eq(dca_sim_create(&f.lat, f.rule, 1, NULL, NULL, &e), DCA_ERR_ARG);
    dca_sim_options bad = {.gradients = 8};
    cr_assert_eq(dca_sim_create(&f.lat, f.rule, 1, &bad, &s, &e), DCA_ERR_ARG);
    cr_assert_null(s);
    dca_sim_destroy(NULL);
    drop(&f);
}

/* Weights changed on the rule behind the plan's back: every kernel refuses
 * to step (it used to give y = 0.5 on the fused kernel and 0.9526 on the
 * reference kernel) until set_params re-reads them; then the kernels agree. */
Test(misuse, stale_weights_are_refused_on_every_kernel)
{
    const dca_kernel kernels[] = {DCA_KERNEL_FUSED, DCA_KERNEL_BLAS, DCA_KERNEL_REFERENCE};
    double *ref = NULL;
    for (size_t i = 0; i < 3; i++) {
        fixture f = make("40", "radius:1", 2, 0, kernels[i]);
        double *w = malloc((size_t)f.P * 8);
        for (int64_t p = 0; p < f.P; p++)
            w[p] = 3.0;
        cr_assert_eq(dca_rule_set_weights(f.rule, w, NULL), DCA_OK);
        cr_assert_eq(dca_sim_step(f.sim, f.x, f.y), DCA_ERR_ARG);
        cr_assert(strstr(dca_sim_error(f.sim), "dca_sim_set_params"), "%s",
                  dca_sim_error(f.sim));
        cr_assert_eq(dca_sim_set_params(f.sim, NULL, NULL), DCA_OK);
        cr_assert_eq(dca_sim_step(f.sim, f.x, f.y), DCA_OK);
        /* sigmoid(3) everywhere. */
        cr_assert(fabs(f.y[0] - 1.0 / (1.0 + exp(-3.0))) < 1e-12, "kernel %zu: %g", i, f.y[0]);
        if (!ref) {
            ref = malloc((size_t)(f.B * f.len) * 8);
            memcpy(ref, f.y, (size_t)(f.B * f.len) * 8);
        } else {
            cr_assert(t_rel_diff(ref, f.y, f.B * f.len) < 1e-14);
        }
        /* A NaN weight through set_params: refused, named. */
        w[1] = NAN;
        dca_error e;
        cr_assert_eq(dca_sim_set_params(f.sim, w, &e), DCA_ERR_ARG);
        cr_assert(strstr(e.msg, "NaN"), "%s", e.msg);
        free(w);
        drop(&f);
    }
    free(ref);
}

static double objective_at(dca_objective *obj, const double *w)
{
    double E;
    cr_assert_eq(dca_objective_eval(obj, w, &E, NULL, NULL, NULL), DCA_OK);
    return E;
}

/* A trajectory loss (a term every 2 steps and at T): reverse-mode gradient
 * against central finite differences, and values-only E equal to the
 * gradient evaluation's E bit for bit. */
Test(objective, trajectory_loss_gradient_matches_finite_differences)
{
    fixture f = make("24", "radius:1", 3, DCA_GRAD_REVERSE, DCA_KERNEL_AUTO);
    dca_task_shape sh = {&f.lat, 2, DCA_MODE_BINARY, f.B, f.nb, NULL, NULL, 0};
    dca_objective *obj = NULL;
    dca_error e;
    dca_objective_options oo = {.steps = 5, .loss_every = 2};
    cr_assert_eq(dca_objective_create(f.sim, f.x, f.phi, dca_loss_lookup("cross-entropy"), &sh, &oo,
                                      &obj, &e), DCA_OK, "%s", e.msg);
    double *w = malloc((size_t)f.P * 8), *g = malloc((size_t)f.P * 8);
    memcpy(w, dca_rule_weights(f.rule), (size_t)f.P * 8);
    double E, E0;
    cr_assert_eq(dca_objective_eval(obj, w, &E, g, NULL, &e), DCA_OK, "%s", e.msg);
    E0 = objective_at(obj, w);
    cr_assert_eq(E, E0, "%.17g vs %.17g", E, E0);
    /* Larger than the terminal loss alone: the trajectory terms count. */
    dca_objective *term = NULL;
    dca_objective_options ot = {.steps = 5};
    cr_assert_eq(dca_objective_create(f.sim, f.x, f.phi, dca_loss_lookup("cross-entropy"), &sh, &ot,
                                      &term, &e), DCA_OK);
    cr_assert(objective_at(term, w) < E);
    dca_objective_destroy(term);
    const double h = 1e-6;
    double worst = 0;
    for (int64_t p = 0; p < f.P; p++) {
        double keep = w[p];
        w[p] = keep + h;
        double Ep = objective_at(obj, w);
        w[p] = keep - h;
        double Em = objective_at(obj, w);
        w[p] = keep;
        double num = (Ep - Em) / (2 * h);
        worst = fmax(worst, fabs(num - g[p]) / fmax(fabs(num), 1e-3));
    }
    cr_assert(worst < 1e-6, "worst relative error %g", worst);
    free(w), free(g);
    dca_objective_destroy(obj);
    drop(&f);
}

/* Two slices of a batch, each normalised by the whole batch, add up to the
 * whole batch's loss and gradient (to rounding: the sums group differently). */
Test(objective, slices_add_up_to_the_whole_batch)
{
    fixture f = make("48", "radius:2", 4, DCA_GRAD_REVERSE, DCA_KERNEL_AUTO);
    dca_task_shape sh = {&f.lat, 2, DCA_MODE_BINARY, f.B, f.nb, NULL, NULL, 0};
    dca_objective *whole = NULL;
    dca_error e;
    dca_objective_options oo = {.steps = 6};
    cr_assert_eq(dca_objective_create(f.sim, f.x, f.phi, dca_loss_lookup("mse"), &sh, &oo, &whole,
                                      &e), DCA_OK, "%s", e.msg);
    double *g = malloc((size_t)f.P * 8), *g1 = malloc((size_t)f.P * 8),
           *g2 = malloc((size_t)f.P * 8);
    double E, E1, E2;
    cr_assert_eq(dca_objective_eval(whole, NULL, &E, g, NULL, &e), DCA_OK, "%s", e.msg);
    dca_sim *half = NULL;
    dca_sim_options so = {.threads = 2, .gradients = DCA_GRAD_REVERSE};
    cr_assert_eq(dca_sim_create(&f.lat, f.rule, 2, &so, &half, &e), DCA_OK);
    dca_task_shape hs = sh;
    hs.batch = 2;
    dca_objective *s1 = NULL, *s2 = NULL;
    dca_objective_options o1 = {.steps = 6, .range = {0, 2, 4}}, o2 = {.steps = 6, .range = {2, 2, 4}};
    cr_assert_eq(dca_objective_create(half, f.x, f.phi, dca_loss_lookup("mse"), &hs, &o1, &s1, &e),
                 DCA_OK, "%s", e.msg);
    cr_assert_eq(dca_objective_create(half, f.x + 2 * f.len, f.phi + 2 * f.len,
                                      dca_loss_lookup("mse"), &hs, &o2, &s2, &e), DCA_OK);
    cr_assert_eq(dca_objective_eval(s1, NULL, &E1, g1, NULL, &e), DCA_OK, "%s", e.msg);
    cr_assert_eq(dca_objective_eval(s2, NULL, &E2, g2, NULL, &e), DCA_OK, "%s", e.msg);
    cr_assert(fabs(E1 + E2 - E) < 1e-13 * E, "%.17g + %.17g vs %.17g", E1, E2, E);
    for (int64_t p = 0; p < f.P; p++)
        g1[p] += g2[p];
    cr_assert(t_rel_diff(g1, g, f.P) < 1e-12);
    /* A slice outside its batch, and a gradient asked of a values-only plan. */
    dca_objective *bad = NULL;
    dca_objective_options ob = {.steps = 6, .range = {3, 2, 4}};
    cr_assert_eq(dca_objective_create(half, f.x, f.phi, dca_loss_lookup("mse"), &hs, &ob, &bad, &e),
                 DCA_ERR_ARG);
    cr_assert_null(bad);
    dca_objective_destroy(s1), dca_objective_destroy(s2), dca_objective_destroy(whole);
    dca_sim_destroy(half);
    free(g), free(g1), free(g2);
    drop(&f);
}

Test(objective, gradient_needs_reverse_mode)
{
    fixture f = make("16", "radius:1", 1, 0, DCA_KERNEL_AUTO);
    dca_task_shape sh = {&f.lat, 2, DCA_MODE_BINARY, f.B, f.nb, NULL, NULL, 0};
    dca_objective *obj = NULL;
    dca_error e;
    dca_objective_options oo = {.steps = 3};
    cr_assert_eq(dca_objective_create(f.sim, f.x, f.phi, dca_loss_lookup("mse"), &sh, &oo, &obj, &e),
                 DCA_OK);
    double E, *g = malloc((size_t)f.P * 8);
    cr_assert_eq(dca_objective_eval(obj, NULL, &E, g, NULL, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "DCA_GRAD_REVERSE"), "%s", e.msg);
    cr_assert_eq(dca_objective_eval(obj, NULL, &E, NULL, NULL, &e), DCA_OK);
    cr_assert(isfinite(E) && E > 0);
    free(g);
    dca_objective_destroy(obj);
    drop(&f);
}

/* One adjoint step of configurations [first, first + count) of a batch of
 * B, by a plan of its own: its gradient blocks (dca_sim_adjoint_blocks). */
static int64_t slice_blocks(const dca_lattice *lat, dca_rule *rule, int64_t B, int64_t first,
                            int64_t count, int64_t tile, int threads, const double *x,
                            const double *ybar, int64_t len, double *blocks)
{
    dca_sim *s = NULL;
    dca_error e;
    dca_sim_options o = {.threads = threads, .gradients = DCA_GRAD_REVERSE, .tile_cells = tile,
                         .block_first = first, .block_batch = B};
    cr_assert_eq(dca_sim_create(lat, rule, count, &o, &s, &e), DCA_OK, "%s", e.msg);
    double *xbar = malloc((size_t)(count * len) * sizeof *xbar);
    cr_assert_eq(dca_sim_adjoint_begin(s), DCA_OK);
    cr_assert_eq(dca_sim_adjoint_step(s, x + first * len, ybar + first * len, xbar), DCA_OK);
    cr_assert_eq(dca_sim_adjoint_blocks(s, blocks), DCA_OK, "%s", dca_sim_error(s));
    int64_t n = dca_sim_gradient_blocks(s);
    free(xbar);
    dca_sim_destroy(s);
    return n;
}

/* Slices of a batch (MPI ranks' shares) each hold whole gradient blocks of
 * the batch: their blocks, summed in slice order, give the whole batch's
 * gradient bit for bit, for any number of slices and threads, on a
 * multi-tile 2D lattice (fewer configurations than blocks: blocks of tiles)
 * and a 1D batch of more configurations than blocks (blocks of
 * configurations). A slice that cuts a block is refused. */
Test(objective, slices_sum_to_the_whole_batch_bitwise)
{
    const struct {
        const char *size, *nbhd;
        int64_t B, tile;
    } cases[] = {{"24x20", "moore:1", 5, 40}, {"40", "radius:2", 100, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        dca_lattice lat;
        cr_assert_eq(dca_lattice_parse(cases[c].size, &lat, NULL), DCA_OK);
        dca_nbhd *nb = t_nbhd(cases[c].nbhd, lat.dims);
        dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
        t_random_weights(rule, 2.0, 11 + c);
        const int64_t B = cases[c].B, len = dca_lattice_cells(&lat), P = dca_rule_params(rule);
        double *x = malloc((size_t)(B * len) * sizeof *x), *ybar = malloc((size_t)(B * len) * 8);
        t_random_config(x, B * len, 2, DCA_MODE_BINARY, 3 + c);
        uint64_t seed = 9;
        for (int64_t i = 0; i < B * len; i++)
            ybar[i] = 2 * t_unif(&seed) - 1;
        double *blocks = malloc((size_t)(128 * P) * sizeof *blocks);
        double *whole = malloc((size_t)P * 8), *joined = malloc((size_t)P * 8);
        /* The whole batch by dca_sim_adjoint_end. */
        dca_sim *s = NULL;
        dca_error e;
        dca_sim_options o = {.threads = 2, .gradients = DCA_GRAD_REVERSE,
                             .tile_cells = cases[c].tile};
        cr_assert_eq(dca_sim_create(&lat, rule, B, &o, &s, &e), DCA_OK, "%s", e.msg);
        double *xbar = malloc((size_t)(B * len) * sizeof *xbar);
        cr_assert_eq(dca_sim_adjoint_begin(s), DCA_OK);
        cr_assert_eq(dca_sim_adjoint_step(s, x, ybar, xbar), DCA_OK);
        cr_assert_eq(dca_sim_adjoint_end(s, whole), DCA_OK);
        cr_assert_gt(dca_sim_gradient_blocks(s), 1);
        for (int R = 1; R <= 4; R++) {
            int64_t n = 0;
            for (int r = 0; r < R; r++) {
                int64_t first, count;
                dca_sim_batch_share(B, P, R, r, &first, &count);
                cr_assert_gt(count, 0);
                n += slice_blocks(&lat, rule, B, first, count, cases[c].tile, 1 + r % 2, x, ybar,
                                  len, blocks + n * P);
            }
            cr_assert_eq(n, dca_sim_gradient_blocks(s));
            cr_assert_eq(dca_sim_adjoint_finish(s, blocks, n, joined), DCA_OK);
            cr_assert(memcmp(joined, whole, (size_t)P * sizeof *whole) == 0,
                      "%s: %d slices differ from the whole batch (rel %g)", cases[c].size, R,
                      t_rel_diff(joined, whole, P));
        }
        if (B >= 64) { /* blocks of configurations: a slice must not cut one */
            dca_sim *bad = NULL;
            dca_sim_options ob = {.gradients = DCA_GRAD_REVERSE, .block_first = 1,
                                  .block_batch = B};
            cr_assert_eq(dca_sim_create(&lat, rule, 10, &ob, &bad, &e), DCA_ERR_ARG);
            cr_assert(strstr(e.msg, "whole gradient blocks") != NULL, "%s", e.msg);
        }
        free(x), free(ybar), free(blocks), free(whole), free(joined), free(xbar);
        dca_sim_destroy(s);
        dca_rule_destroy(rule);
        dca_nbhd_destroy(nb);
    }
}

/* ---- slices with a reduction (what MPI ranks do, here as threads) ---- */

/* A stand-in for MPI among R threads: the chain passes running sums from
 * slice to slice through per-round slots, from_last and gather meet at a
 * barrier. */
enum { MAX_SLICES = 4, MAX_ROUNDS = 256 };
typedef struct comm {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_barrier_t bar;
    int R;
    double val[MAX_SLICES][MAX_ROUNDS];
    int64_t posted[MAX_SLICES];
    double last;
    const double *blocks[MAX_SLICES];
    int64_t nblocks[MAX_SLICES];
} comm;

typedef struct slice {
    comm *c;
    int r;
    int64_t rounds;
    dca_reduction red;
    /* inputs and results */
    const dca_lattice *lat;
    dca_rule *rule;
    const double *x0, *phi;
    int64_t B, len, steps, every;
    bool grad;
    double E, *g;
    dca_status st;
} slice;

static double c_chain(void *ctx, double (*running)(void *, double), void *arg)
{
    slice *s = ctx;
    comm *c = s->c;
    const int64_t n = s->rounds++;
    double start = 0.0;
    pthread_mutex_lock(&c->mu);
    while (s->r > 0 && c->posted[s->r - 1] <= n)
        pthread_cond_wait(&c->cv, &c->mu);
    if (s->r > 0)
        start = c->val[s->r - 1][n];
    pthread_mutex_unlock(&c->mu);
    const double v = running(arg, start);
    pthread_mutex_lock(&c->mu);
    c->val[s->r][n] = v;
    c->posted[s->r] = n + 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return v;
}

static double c_from_last(void *ctx, double v)
{
    slice *s = ctx;
    if (s->r == s->c->R - 1)
        s->c->last = v;
    pthread_barrier_wait(&s->c->bar);
    v = s->c->last;
    pthread_barrier_wait(&s->c->bar);
    return v;
}

static dca_status c_gather(void *ctx, const double *mine, int64_t n, int64_t P, double *all)
{
    slice *s = ctx;
    comm *c = s->c;
    c->blocks[s->r] = mine;
    c->nblocks[s->r] = n;
    pthread_barrier_wait(&c->bar);
    for (int r = 0, at = 0; r < c->R; r++) {
        memcpy(all + at * P, c->blocks[r], (size_t)(c->nblocks[r] * P) * sizeof *all);
        at += (int)c->nblocks[r];
    }
    pthread_barrier_wait(&c->bar);
    return DCA_OK;
}

static void *run_slice(void *arg)
{
    slice *s = arg;
    const int64_t P = dca_rule_params(s->rule);
    int64_t first, count;
    dca_sim_batch_share(s->B, P, s->c->R, s->r, &first, &count);
    dca_sim_options so = {.threads = 1 + s->r % 2, .gradients = DCA_GRAD_REVERSE,
                          .block_first = first, .block_batch = s->B};
    dca_sim *sim = NULL;
    dca_objective *obj = NULL;
    dca_task_shape sh = {.lat = s->lat, .states = 2, .mode = DCA_MODE_BINARY, .batch = count};
    dca_objective_options oo = {.steps = s->steps, .loss_every = s->every,
                                .range = {first, count, s->B}, .reduce = &s->red};
    if ((s->st = dca_sim_create(s->lat, s->rule, count, &so, &sim, NULL)) ||
        (s->st = dca_objective_create(sim, s->x0 + first * s->len, s->phi + first * s->len,
                                      dca_loss_lookup("cross-entropy"), &sh, &oo, &obj, NULL)))
        return NULL; /* count == 0 cannot happen here: the test asserts it */
    s->st = dca_objective_eval(obj, NULL, &s->E, s->grad ? s->g : NULL, NULL, NULL);
    dca_objective_destroy(obj);
    dca_sim_destroy(sim);
    return NULL;
}

/* Slices of one batch, each in its own thread with its own plan and
 * objective, combined by a reduction: every slice gets the whole batch's
 * loss and gradient bit for bit, for 1 to 4 slices, losses at x_T only and
 * along the trajectory, values only and with the gradient; blocks of tiles
 * (5 configurations) and of configurations (100). */
Test(objective, reduced_slices_give_the_whole_batch_bitwise)
{
    const struct {
        const char *size, *nbhd;
        int64_t B;
    } cases[] = {{"24x20", "moore:1", 5}, {"40", "radius:2", 100}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        dca_lattice lat;
        cr_assert_eq(dca_lattice_parse(cases[c].size, &lat, NULL), DCA_OK);
        dca_nbhd *nb = t_nbhd(cases[c].nbhd, lat.dims);
        dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
        t_random_weights(rule, 2.0, 21 + c);
        const int64_t B = cases[c].B, len = dca_lattice_cells(&lat), P = dca_rule_params(rule);
        double *x = malloc((size_t)(B * len) * sizeof *x), *phi = malloc((size_t)(B * len) * 8);
        t_random_config(x, B * len, 2, DCA_MODE_BINARY, 5 + c);
        t_random_config(phi, B * len, 2, DCA_MODE_BINARY, 7 + c);
        dca_init_apply_eps(x, B * len, 2, DCA_MODE_BINARY, 1e-3);
        for (int every = 0; every <= 2; every += 2)
            for (int grad = 0; grad <= 1; grad++) {
                /* The whole batch in one plan. */
                dca_sim *s = NULL;
                dca_objective *o = NULL;
                dca_sim_options so = {.threads = 2, .gradients = DCA_GRAD_REVERSE};
                dca_task_shape sh = {.lat = &lat, .states = 2, .mode = DCA_MODE_BINARY,
                                     .batch = B};
                dca_objective_options oo = {.steps = 5, .loss_every = every};
                double E, *g = malloc((size_t)P * 8);
                cr_assert_eq(dca_sim_create(&lat, rule, B, &so, &s, NULL), DCA_OK);
                cr_assert_eq(dca_objective_create(s, x, phi, dca_loss_lookup("cross-entropy"),
                                                  &sh, &oo, &o, NULL), DCA_OK);
                cr_assert_eq(dca_objective_eval(o, NULL, &E, grad ? g : NULL, NULL, NULL),
                             DCA_OK);
                for (int R = 1; R <= MAX_SLICES; R++) {
                    comm cm = {.R = R};
                    pthread_mutex_init(&cm.mu, NULL);
                    pthread_cond_init(&cm.cv, NULL);
                    pthread_barrier_init(&cm.bar, NULL, (unsigned)R);
                    slice sl[MAX_SLICES];
                    pthread_t th[MAX_SLICES];
                    for (int r = 0; r < R; r++) {
                        int64_t f0, c0;
                        dca_sim_batch_share(B, P, R, r, &f0, &c0);
                        cr_assert_gt(c0, 0);
                        sl[r] = (slice){.c = &cm, .r = r, .lat = &lat, .rule = rule, .x0 = x,
                                        .phi = phi, .B = B, .len = len, .steps = 5,
                                        .every = every, .grad = grad,
                                        .g = malloc((size_t)P * 8)};
                        sl[r].red = (dca_reduction){&sl[r], c_chain, c_from_last, c_gather};
                        pthread_create(&th[r], NULL, run_slice, &sl[r]);
                    }
                    for (int r = 0; r < R; r++)
                        pthread_join(th[r], NULL);
                    for (int r = 0; r < R; r++) {
                        cr_assert_eq(sl[r].st, DCA_OK);
                        cr_assert(memcmp(&sl[r].E, &E, sizeof E) == 0,
                                  "%s, every %d: slice %d of %d: E %.17g, whole %.17g",
                                  cases[c].size, every, r, R, sl[r].E, E);
                        cr_assert(!grad || memcmp(sl[r].g, g, (size_t)P * 8) == 0,
                                  "%s, every %d: slice %d of %d: the gradient differs (rel %g)",
                                  cases[c].size, every, r, R, t_rel_diff(sl[r].g, g, P));
                        free(sl[r].g);
                    }
                    pthread_barrier_destroy(&cm.bar);
                    pthread_cond_destroy(&cm.cv);
                    pthread_mutex_destroy(&cm.mu);
                }
                free(g);
                dca_objective_destroy(o);
                dca_sim_destroy(s);
            }
        free(x), free(phi);
        dca_rule_destroy(rule);
        dca_nbhd_destroy(nb);
    }
}

/* The trainer refuses slices it cannot serve: several slices without a
 * reduction, a slice with no configurations, initial configurations that do
 * not hold the slice's share, a minibatch drawn from part of the batch. */
Test(trainer, misuse_of_slices_returns_arg)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse("30", &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd("radius:1", 1);
    dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
    const int64_t B = 6, len = 30, P = dca_rule_params(rule);
    double *x = calloc((size_t)(B * len), sizeof *x), *phi = calloc((size_t)(B * len), 8);
    dca_optim *opt = NULL;
    dca_error e;
    cr_assert_eq(dca_optim_create("sgd", NULL, P, 1, &opt, &e), DCA_OK, "%s", e.msg);
    dca_task_shape sh = {.lat = &lat, .states = 2, .mode = DCA_MODE_BINARY, .batch = B};
    dca_loss_fn loss = dca_loss_lookup("mse");
    dca_reduction red = {NULL, c_chain, c_from_last, c_gather};
    const struct {
        dca_trainer_options o;
        const char *why;
    } bad[] = {
        {{.steps = 2, .slices = 2, .slice = 0}, "without a reduction"},
        {{.steps = 2, .slices = 8, .slice = 7, .reduce = &red}, "gets none"},
        {{.steps = 2, .slices = 2, .slice = 1, .reduce = &red, .held_first = 0, .held_count = 3},
         "holds configurations"},
        {{.steps = 2, .minibatch = 2, .held_first = 3, .held_count = 3}, "minibatch"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dca_trainer *tr = (dca_trainer *)1;
        cr_assert_eq(dca_trainer_create(&lat, rule, x, phi, loss, &sh, opt, &bad[i].o, &tr, &e),
                     DCA_ERR_ARG, "case %zu", i);
        cr_assert_null(tr);
        cr_assert(strstr(e.msg, bad[i].why) != NULL, "case %zu: %s", i, e.msg);
    }
    /* The share it holds is enough for whole-batch training. */
    dca_trainer *tr = NULL;
    dca_trainer_options ok = {.steps = 2, .slices = 2, .slice = 1, .reduce = &red,
                              .held_first = 3, .held_count = 3};
    cr_assert_eq(dca_trainer_create(&lat, rule, x, phi, loss, &sh, opt, &ok, &tr, &e), DCA_OK,
                 "%s", e.msg);
    int64_t f, c;
    dca_trainer_share(tr, &f, &c);
    cr_assert(f == 3 && c == 3, "share %lld + %lld", (long long)f, (long long)c);
    dca_trainer_destroy(tr);
    dca_optim_destroy(opt);
    free(x), free(phi);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
}

/* The model type's descriptors: names, axes, values per cell, and labels
 * that mean what the engine does: a hard binary table that is 1 only at
 * pattern p turns on exactly the cells whose neighbourhood reads p's label. */
Test(model, descriptors_and_labels_match_the_engine)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse("16", &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd("offsets:0,-1,2", 1);
    dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
    const char *names[2];
    cr_assert_str_eq(dca_rule_model(rule), "table");
    cr_assert_eq(dca_rule_axes(rule, names), 1);
    cr_assert_str_eq(names[0], "pattern");
    cr_assert_eq(dca_rule_values_per_cell(rule), 1);
    const double x[16] = {1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1};
    double y[16], rho[8];
    char label[16];
    for (int64_t p = 0; p < 8; p++) {
        cr_assert_eq(dca_rule_param_label(rule, p, label, sizeof label), DCA_OK);
        cr_assert_eq(strlen(label), 3);
        for (int q = 0; q < 8; q++)
            rho[q] = q == p;
        cr_assert_eq(dca_rule_set_probabilities(rule, rho, NULL), DCA_OK);
        dca_sim *s;
        cr_assert_eq(dca_sim_create(&lat, rule, 1, NULL, &s, NULL), DCA_OK);
        cr_assert_eq(dca_sim_step(s, x, y), DCA_OK);
        for (int c = 0; c < 16; c++) {
            const int off[3] = {0, -1, 2};
            bool match = true;
            for (int j = 0; j < 3; j++)
                match &= (int)x[(c + off[j] + 16) % 16] == label[j] - '0';
            cr_assert_eq(y[c], match ? 1.0 : 0.0, "pattern %lld (%s), cell %d", (long long)p,
                         label, c);
        }
        dca_sim_destroy(s);
    }
    /* Out of range, or a buffer too small: DCA_ERR_ARG and "". */
    cr_assert_eq(dca_rule_param_label(rule, 8, label, sizeof label), DCA_ERR_ARG);
    cr_assert_eq(dca_rule_param_label(rule, -1, label, sizeof label), DCA_ERR_ARG);
    cr_assert_eq(dca_rule_param_label(rule, 5, label, 3), DCA_ERR_ARG);
    cr_assert_str_eq(label, "");
    cr_assert_eq(dca_rule_param_label(rule, 5, label, 4), DCA_OK);
    cr_assert_str_eq(label, "101");
    dca_rule_destroy(rule);

    /* Softmax: the output after "->"; three numbers per cell. */
    rule = t_rule(nb, 3, DCA_MODE_SOFTMAX);
    cr_assert_eq(dca_rule_axes(rule, names), 2);
    cr_assert_str_eq(names[1], "state");
    cr_assert_eq(dca_rule_values_per_cell(rule), 3);
    cr_assert_eq(dca_rule_param_label(rule, 3 * 5 + 2, label, sizeof label), DCA_OK);
    cr_assert_str_eq(label, "012->2");
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);

    /* Outer-totalistic: centre state and live neighbours. */
    nb = t_nbhd("moore:1", 2);
    cr_assert_eq(dca_rule_create_outer_totalistic(nb, &rule, NULL), DCA_OK);
    cr_assert_str_eq(dca_rule_model(rule), "outer-totalistic");
    cr_assert_eq(dca_rule_axes(rule, names), 2);
    cr_assert_str_eq(names[0], "centre");
    cr_assert_str_eq(names[1], "live_neighbours");
    cr_assert_eq(dca_rule_param_label(rule, 3, label, sizeof label), DCA_OK);
    cr_assert_str_eq(label, "dead,n=3");
    cr_assert_eq(dca_rule_param_label(rule, 9 + 2, label, sizeof label), DCA_OK);
    cr_assert_str_eq(label, "live,n=2");
    cr_assert_eq(dca_rule_param_label(rule, 18, label, sizeof label), DCA_ERR_ARG);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
    cr_assert_str_eq(dca_kernel_name(DCA_KERNEL_FUSED), "fused");
    cr_assert_str_eq(dca_kernel_name(DCA_KERNEL_TOTALISTIC), "totalistic");
    cr_assert_str_eq(dca_kernel_name((dca_kernel)99), "unknown");
}

/* The autotuner: the heuristic's plan is candidate 0, every candidate is a
 * plan that can be made, the chosen one is set in the options and is
 * within 3 % of the fastest (or the fastest); pinned options and lattice
 * parts are refused; an outer-totalistic rule has one kernel to try. */
Test(tune, measures_candidates_and_sets_the_fastest)
{
    fixture f = make("600", "radius:3", 4, DCA_GRAD_REVERSE, DCA_KERNEL_AUTO);
    dca_sim_options o = {.threads = 2, .gradients = DCA_GRAD_REVERSE};
    dca_tune_report rep;
    dca_error e;
    cr_assert_eq(dca_sim_tune(&f.lat, f.rule, f.B, &o, &rep, &e), DCA_OK, "%s", e.msg);
    cr_assert(rep.count >= 3 && rep.count <= DCA_TUNE_MAX, "%d candidates", rep.count);
    cr_assert_eq(rep.c[0].kernel, dca_sim_kernel(f.sim));
    cr_assert_eq(rep.c[0].tile_cells, dca_sim_tile_cells(f.sim));
    int blas = 0;
    double fastest = rep.c[0].seconds;
    for (int i = 0; i < rep.count; i++) {
        cr_assert(rep.c[i].seconds > 0, "candidate %d: %g s", i, rep.c[i].seconds);
        blas += rep.c[i].kernel == DCA_KERNEL_BLAS;
        fastest = rep.c[i].seconds < fastest ? rep.c[i].seconds : fastest;
    }
    cr_assert(blas >= 1, "the BLAS alternative was not measured");
    cr_assert(rep.best >= 0 && rep.best < rep.count);
    cr_assert(rep.c[rep.best].seconds <= fastest * 1.03 + 1e-12 || rep.best == 0);
    cr_assert_eq(o.kernel, rep.c[rep.best].kernel);
    cr_assert_eq(o.tile_cells, rep.c[rep.best].tile_cells);
    char text[512];
    cr_assert(dca_tune_describe(&rep, text, sizeof text) > 0 && strstr(text, "(chosen)"), "%s",
              text);
    char tiny[8];
    cr_assert(dca_tune_describe(&rep, tiny, sizeof tiny) > (int)sizeof tiny && strlen(tiny) < 8);
    /* the tuned options make a plan */
    dca_sim *s;
    cr_assert_eq(dca_sim_create(&f.lat, f.rule, f.B, &o, &s, &e), DCA_OK, "%s", e.msg);
    cr_assert_eq(dca_sim_tile_cells(s), o.tile_cells);
    dca_sim_destroy(s);
    /* refusals */
    dca_sim_options pinned = {.threads = 2, .kernel = DCA_KERNEL_BLAS};
    cr_assert_eq(dca_sim_tune(&f.lat, f.rule, f.B, &pinned, &rep, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "already chosen"), "%s", e.msg);
    dca_sim_options tiled = {.threads = 2, .tile_cells = 64};
    cr_assert_eq(dca_sim_tune(&f.lat, f.rule, f.B, &tiled, &rep, &e), DCA_ERR_ARG);
    dca_sim_options part = {.threads = 2, .parts = 2};
    cr_assert_eq(dca_sim_tune(&f.lat, f.rule, f.B, &part, &rep, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "part of a lattice"), "%s", e.msg);
    drop(&f);

    /* outer-totalistic: tiles only */
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse("40x36", &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd("moore:1", 2);
    dca_rule *ot;
    cr_assert_eq(dca_rule_create_outer_totalistic(nb, &ot, &e), DCA_OK, "%s", e.msg);
    dca_sim_options oo = {.threads = 2, .gradients = DCA_GRAD_REVERSE};
    cr_assert_eq(dca_sim_tune(&lat, ot, 2, &oo, &rep, &e), DCA_OK, "%s", e.msg);
    for (int i = 0; i < rep.count; i++)
        cr_assert_eq(rep.c[i].kernel, DCA_KERNEL_TOTALISTIC);
    cr_assert(rep.count >= 2);
    cr_assert_eq(oo.kernel, DCA_KERNEL_TOTALISTIC);
    dca_rule_destroy(ot);
    dca_nbhd_destroy(nb);
}
