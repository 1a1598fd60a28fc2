/* precision = float32 (DESIGN.md §4): the single-precision BLAS kernels
 * against the float64 reference twins, the outer-totalistic kernels against
 * their float64 twins, with tolerances of single precision,
 * over one step and over a whole reverse-mode gradient; thread
 * independence; and the combinations a float32 plan refuses. */
#include <math.h>
#include <string.h>

#include "dca/gradient.h"
#include "helpers.h"
#include "dca/task.h"

typedef struct fixture {
    dca_lattice lat;
    dca_nbhd *nb;
    dca_rule *rule;
    int k;
    dca_mode mode;
    int64_t B, len, P;
    double *x0, *phi;
    dca_task_shape sh;
} fixture;

static void fixture_init(fixture *f, const char *size, const char *nbspec, int k, dca_mode mode,
                         int64_t B)
{
    *f = (fixture){.k = k, .mode = mode, .B = B};
    cr_assert_eq(dca_lattice_parse(size, &f->lat, NULL), DCA_OK);
    f->nb = t_nbhd(nbspec, f->lat.dims);
    f->rule = t_rule(f->nb, k, mode);
    t_random_weights(f->rule, 2.0, 3);
    f->len = dca_lattice_cells(&f->lat) * (mode == DCA_MODE_BINARY ? 1 : k);
    f->P = dca_rule_params(f->rule);
    f->x0 = malloc((size_t)(B * f->len) * 8);
    f->phi = malloc((size_t)(B * f->len) * 8);
    for (int64_t b = 0; b < B; b++)
        t_random_config(f->x0 + b * f->len, dca_lattice_cells(&f->lat), k, mode, 50 + (uint64_t)b);
    f->sh = (dca_task_shape){&f->lat, k, mode, B, f->nb, NULL, NULL, 0};
    cr_assert_eq(dca_target_lookup("identity")(&f->sh, f->x0, f->phi, NULL), DCA_OK);
}

static void fixture_fini(fixture *f)
{
    dca_rule_destroy(f->rule);
    dca_nbhd_destroy(f->nb);
    free(f->x0);
    free(f->phi);
}

static dca_sim *plan(fixture *f, dca_kernel kernel, dca_precision p, int threads)
{
    dca_sim_options o = {.kernel = kernel, .threads = threads, .gradients = DCA_GRAD_REVERSE,
                         .precision = p};
    dca_sim *s;
    dca_error e;
    cr_assert_eq(dca_sim_create(&f->lat, f->rule, f->B, &o, &s, &e), DCA_OK, "%s", e.msg);
    cr_assert_eq(dca_sim_precision(s), p);
    return s;
}

static double grad(fixture *f, dca_sim *s, int64_t T, double *g)
{
    dca_adjoint *adj;
    dca_error e;
    cr_assert_eq(dca_adjoint_create(s, f->B, T, &adj, &e), DCA_OK, "%s", e.msg);
    double E;
    cr_assert_eq(dca_adjoint_run(adj, f->x0, f->phi, dca_loss_lookup("cross-entropy"), &f->sh, &E, g, NULL, NULL), DCA_OK);
    dca_adjoint_destroy(adj);
    return E;
}

/* One step and a 12-step loss gradient in float32 against the float64
 * reference twin. Single precision carries 2^-24 ~ 6e-8 relative; a step
 * sums k^m pattern products, so 2e-6 on values and 1e-4 on the gradient
 * (relative to its largest entry) leave room for growth over 12 steps yet
 * fail for any real error (a wrong pattern weight moves values by ~1e-2). */
static void against_reference(const char *size, const char *nbspec, int k, dca_mode mode)
{
    fixture f;
    fixture_init(&f, size, nbspec, k, mode, 3);
    dca_sim *s32 = plan(&f, DCA_KERNEL_AUTO, DCA_FLOAT32, 2);
    dca_sim *ref = plan(&f, DCA_KERNEL_REFERENCE, DCA_FLOAT64, 1);
    const int64_t n = f.B * f.len;
    double *y32 = malloc((size_t)n * 8), *yref = malloc((size_t)n * 8);
    dca_sim_step(s32, f.x0, y32);
    dca_sim_step(ref, f.x0, yref);
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        d = fmax(d, fabs(y32[i] - yref[i]));
    cr_assert_leq(d, 2e-6, "%s %s k=%d: float32 values differ by %g", size, nbspec, k, d);
    cr_assert_gt(d, 0.0, "%s %s: float32 gave float64 results bit for bit: not single precision?",
                 size, nbspec);
    double *g32 = malloc((size_t)f.P * 8), *gref = malloc((size_t)f.P * 8);
    double E32 = grad(&f, s32, 12, g32), Eref = grad(&f, ref, 12, gref);
    cr_assert_leq(fabs(E32 - Eref), 1e-5 * fabs(Eref), "loss %.9g vs %.9g", E32, Eref);
    double r = t_rel_diff(g32, gref, f.P);
    cr_assert_leq(r, 1e-4, "%s %s k=%d: float32 gradient rel diff %g", size, nbspec, k, r);
    free(y32), free(yref), free(g32), free(gref);
    dca_sim_destroy(s32);
    dca_sim_destroy(ref);
    fixture_fini(&f);
}

Test(f32, binary_ring_radius3) { against_reference("97", "radius:3", 2, DCA_MODE_BINARY); }
Test(f32, binary_torus_moore) { against_reference("13x11", "moore:1", 2, DCA_MODE_BINARY); }
Test(f32, softmax_torus_3states) { against_reference("9x7", "vonneumann:1", 3, DCA_MODE_SOFTMAX); }

/* Outer-totalistic (Life-like) rules in float32 against the float64 plan,
 * with the tolerances above: one step, a 12-step gradient, and the thread
 * count. The count recurrence sums M + 1 products per cell, fewer than a
 * table's k^m, so the same bounds hold with room. */
static void ot_fixture(fixture *f, const char *size, const char *nbspec)
{
    fixture_init(f, size, nbspec, 2, DCA_MODE_BINARY, 3);
    dca_rule_destroy(f->rule);
    dca_error e;
    cr_assert_eq(dca_rule_create_outer_totalistic(f->nb, &f->rule, &e), DCA_OK, "%s", e.msg);
    t_random_weights(f->rule, 2.0, 5);
    f->P = dca_rule_params(f->rule);
}

static void ot_against_float64(const char *size, const char *nbspec)
{
    fixture f;
    ot_fixture(&f, size, nbspec);
    dca_sim *s32 = plan(&f, DCA_KERNEL_AUTO, DCA_FLOAT32, 2);
    dca_sim *s64 = plan(&f, DCA_KERNEL_AUTO, DCA_FLOAT64, 1);
    cr_assert_eq(dca_sim_kernel(s32), DCA_KERNEL_TOTALISTIC);
    const int64_t n = f.B * f.len;
    double *y32 = malloc((size_t)n * 8), *y64 = malloc((size_t)n * 8);
    cr_assert_eq(dca_sim_step(s32, f.x0, y32), DCA_OK);
    cr_assert_eq(dca_sim_step(s64, f.x0, y64), DCA_OK);
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        d = fmax(d, fabs(y32[i] - y64[i]));
    cr_assert_leq(d, 2e-6, "%s %s: float32 values differ by %g", size, nbspec, d);
    cr_assert_gt(d, 0.0, "%s %s: float32 gave float64 results bit for bit", size, nbspec);
    double *g32 = malloc((size_t)f.P * 8), *g64 = malloc((size_t)f.P * 8);
    double E32 = grad(&f, s32, 12, g32), E64 = grad(&f, s64, 12, g64);
    cr_assert_leq(fabs(E32 - E64), 1e-5 * fabs(E64), "loss %.9g vs %.9g", E32, E64);
    double r = t_rel_diff(g32, g64, f.P);
    cr_assert_leq(r, 1e-4, "%s %s: float32 gradient rel diff %g", size, nbspec, r);
    cr_assert_gt(r, 0.0, "%s %s: float32 gradient is float64's bit for bit", size, nbspec);
    /* 1 and 2 threads: the same bits. */
    dca_sim *s1 = plan(&f, DCA_KERNEL_AUTO, DCA_FLOAT32, 1);
    double *g1 = malloc((size_t)f.P * 8);
    double E1 = grad(&f, s1, 12, g1);
    cr_assert(E1 == E32 && memcmp(g1, g32, (size_t)f.P * 8) == 0,
              "%s %s: float32 gradients differ between 1 and 2 threads", size, nbspec);
    free(y32), free(y64), free(g32), free(g64), free(g1);
    dca_sim_destroy(s1);
    dca_sim_destroy(s32);
    dca_sim_destroy(s64);
    fixture_fini(&f);
}

Test(f32, outer_totalistic_moore1) { ot_against_float64("40x36", "moore:1"); }
Test(f32, outer_totalistic_moore2) { ot_against_float64("30x33", "moore:2"); }

/* Thread count: same bits for 1 and 2 threads (the fixed block partition). */
Test(f32, thread_independent)
{
    fixture f;
    fixture_init(&f, "300", "radius:2", 2, DCA_MODE_BINARY, 5);
    dca_sim *s1 = plan(&f, DCA_KERNEL_BLAS, DCA_FLOAT32, 1);
    dca_sim *s2 = plan(&f, DCA_KERNEL_BLAS, DCA_FLOAT32, 2);
    double *g1 = malloc((size_t)f.P * 8), *g2 = malloc((size_t)f.P * 8);
    double E1 = grad(&f, s1, 20, g1), E2 = grad(&f, s2, 20, g2);
    cr_assert(E1 == E2, "loss %.17g vs %.17g", E1, E2);
    cr_assert(memcmp(g1, g2, (size_t)f.P * 8) == 0, "gradients differ between 1 and 2 threads");
    free(g1), free(g2);
    dca_sim_destroy(s1);
    dca_sim_destroy(s2);
    fixture_fini(&f);
}

/* The plan is smaller: workspace and the reverse-mode buffer in 4 bytes. */
Test(f32, memory_halved)
{
    fixture f;
    fixture_init(&f, "4096", "radius:3", 2, DCA_MODE_BINARY, 4);
    dca_sim *s64 = plan(&f, DCA_KERNEL_BLAS, DCA_FLOAT64, 2);
    dca_sim *s32 = plan(&f, DCA_KERNEL_BLAS, DCA_FLOAT32, 2);
    double ratio = (double)dca_sim_memory(s32) / (double)dca_sim_memory(s64);
    cr_assert(ratio > 0.45 && ratio < 0.55, "float32 plan holds %.2f of float64's bytes", ratio);
    dca_sim_destroy(s64);
    dca_sim_destroy(s32);
    fixture_fini(&f);
}

static void refused(dca_lattice *lat, dca_rule *rule, dca_sim_options o, const char *needle)
{
    dca_sim *s = NULL;
    dca_error e;
    cr_assert_eq(dca_sim_create(lat, rule, 1, &o, &s, &e), DCA_ERR_ARG);
    cr_assert_null(s);
    cr_assert(strstr(e.msg, needle), "message '%s' lacks '%s'", e.msg, needle);
}

Test(f32, refusals)
{
    fixture f;
    fixture_init(&f, "64", "radius:1", 2, DCA_MODE_BINARY, 1);
    refused(&f.lat, f.rule,
            (dca_sim_options){.precision = DCA_FLOAT32, .gradients = DCA_GRAD_FORWARD},
            "forward-mode");
    refused(&f.lat, f.rule,
            (dca_sim_options){.precision = DCA_FLOAT32, .kernel = DCA_KERNEL_REFERENCE},
            "reference");
    refused(&f.lat, f.rule, (dca_sim_options){.precision = (dca_precision)7}, "precision");
    fixture_fini(&f);
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse("16x16", &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd("moore:1", 2);
    dca_rule *ot;
    dca_error e;
    cr_assert_eq(dca_rule_create_outer_totalistic(nb, &ot, &e), DCA_OK, "%s", e.msg);
    refused(&lat, ot, (dca_sim_options){.precision = DCA_FLOAT32, .gradients = DCA_GRAD_FORWARD},
            "forward-mode");
    dca_rule_destroy(ot);
    dca_nbhd_destroy(nb);
}
