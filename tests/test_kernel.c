/* The value step: kernel vs reference twin, hard rules vs ordinary CAs,
 * and the properties a DCA must have (DESIGN.md §1, STYLE.md 15). */
#include <math.h>
#include <string.h>

#include "experiment.h"
#include "helpers.h"

/* The BLAS kernel and the reference twin sum the same products in a
 * different order: they agree to a few ulps of values in [0, 1]. */
#define KERNEL_TOL 1e-13

static void compare_kernel(dca_kernel kernel, dca_precision prec, double tol, const char *size,
                           const char *nbspec, int k, dca_mode mode, int64_t B, int steps,
                           uint64_t seed)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse(size, &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd(nbspec, lat.dims);
    dca_rule *r = t_rule(nb, k, mode);
    t_random_weights(r, 3.0, seed);
    dca_sim_options o = {.kernel = kernel, .threads = 2, .precision = prec};
    dca_sim *fast;
    dca_error e;
    cr_assert_eq(dca_sim_create(&lat, r, B, &o, &fast, &e), DCA_OK, "%s", e.msg);
    cr_assert_eq(dca_sim_kernel(fast), kernel);
    dca_sim *ref = t_sim(&lat, r, B, DCA_KERNEL_REFERENCE, 1);
    int64_t len = dca_sim_config_len(fast), n = B * len;
    double *x = malloc((size_t)n * sizeof *x), *y1 = malloc((size_t)n * sizeof *x),
           *y2 = malloc((size_t)n * sizeof *x);
    for (int64_t b = 0; b < B; b++)
        t_random_config(x + b * len, dca_lattice_cells(&lat), k, mode, seed + (uint64_t)b);
    for (int t = 0; t < steps; t++) {
        dca_sim_step(fast, x, y1);
        dca_sim_step(ref, x, y2);
        double worst = 0;
        for (int64_t i = 0; i < n; i++)
            worst = fmax(worst, fabs(y1[i] - y2[i]));
        cr_assert_leq(worst, tol, "%s %s k=%d step %d (kernel %d, precision %d): max |fast - "
                      "ref| = %g", size, nbspec, k, t, (int)kernel, (int)prec, worst);
        memcpy(x, y2, (size_t)n * sizeof *x);
    }
    free(x);
    free(y1);
    free(y2);
    dca_sim_destroy(fast);
    dca_sim_destroy(ref);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

static void compare_kernels(const char *size, const char *nbspec, int k, dca_mode mode,
                            int64_t B, int steps, uint64_t seed)
{
    compare_kernel(DCA_KERNEL_BLAS, DCA_FLOAT64, KERNEL_TOL, size, nbspec, k, mode, B, steps, seed);
}

/* The fused kernel on every shape it takes: KR = 2, 4, 8, 16 trailing
 * products, KL below and above 8 (both row blockings), lattices whose size
 * is no multiple of the vector width (the padded tail), a lattice smaller
 * than the neighbourhood, 1D and 2D; float64 and float32 (6e-8 relative
 * per operation: 2e-6 after a step is room for k^m terms, far below the
 * 1e-2 a wrong weight would cause). */
static void compare_fused(const char *size, const char *nbspec, uint64_t seed)
{
    compare_kernel(DCA_KERNEL_FUSED, DCA_FLOAT64, KERNEL_TOL, size, nbspec, 2, DCA_MODE_BINARY, 3,
                   4, seed);
    compare_kernel(DCA_KERNEL_FUSED, DCA_FLOAT32, 2e-6, size, nbspec, 2, DCA_MODE_BINARY, 3, 4,
                   seed);
}

Test(kernel, fused_matches_reference)
{
    compare_fused("61", "offsets:-1,1", 31);        /* m = 2: KL = 2, KR = 2 */
    compare_fused("77", "radius:1", 32);            /* m = 3: KL = 2, KR = 4 */
    compare_fused("1000", "radius:2", 33);          /* m = 5: KL = 2, KR = 16 */
    compare_fused("333", "radius:3", 34);           /* m = 7: KL = 8, KR = 16 */
    compare_fused("29x23", "moore:1", 35);          /* m = 9: KL = 32 */
    compare_fused("13x9", "vonneumann:2", 36);      /* m = 13: KL = 512 */
    compare_fused("3x4", "moore:1", 37);            /* smaller than the neighbourhood */
    compare_fused("5", "radius:3", 38);             /* a tail-only ring */
    compare_fused("203", "offsets:1,2,3,4,5", 39);  /* consecutive, not centred: one run */
    compare_fused("41", "offsets:-2,-1,0,2", 40);   /* not consecutive: m rows */
}

Test(kernel, fused_is_auto_for_binary_tables)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse("64", &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_sim *s = t_sim(&lat, r, 1, DCA_KERNEL_AUTO, 1);
    cr_assert_eq(dca_sim_kernel(s), DCA_KERNEL_FUSED);
    dca_sim_destroy(s);
    dca_rule_destroy(r);
    r = t_rule(nb, 3, DCA_MODE_SOFTMAX);
    s = t_sim(&lat, r, 1, DCA_KERNEL_AUTO, 1);
    cr_assert_eq(dca_sim_kernel(s), DCA_KERNEL_BLAS, "softmax runs on BLAS");
    dca_sim_options o = {.kernel = DCA_KERNEL_FUSED};
    dca_sim *bad = NULL;
    dca_error e;
    cr_assert_eq(dca_sim_create(&lat, r, 1, &o, &bad, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "fused kernel is for binary"), "%s", e.msg);
    dca_sim_destroy(s);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(kernel, blas_matches_reference_1d_binary)
{
    compare_kernels("300", "radius:2", 2, DCA_MODE_BINARY, 3, 5, 11);
    compare_kernels("1000", "radius:3", 2, DCA_MODE_BINARY, 2, 3, 12);
    compare_kernels("37", "offsets:-5,0,2,7", 2, DCA_MODE_BINARY, 2, 4, 13);
    compare_kernels("5", "radius:1", 2, DCA_MODE_BINARY, 1, 4, 14);
}

Test(kernel, blas_matches_reference_2d_binary)
{
    compare_kernels("24x31", "moore:1", 2, DCA_MODE_BINARY, 2, 3, 21);
    compare_kernels("16x16", "vonneumann:2", 2, DCA_MODE_BINARY, 1, 3, 22);
}

Test(kernel, blas_matches_reference_softmax_k3)
{
    compare_kernels("200", "radius:1", 3, DCA_MODE_SOFTMAX, 2, 4, 31);
    compare_kernels("12x13", "vonneumann:1", 3, DCA_MODE_SOFTMAX, 2, 4, 32);
    compare_kernels("50", "radius:1", 2, DCA_MODE_SOFTMAX, 1, 4, 33);
}

/* Every elementary rule, hard, on exact 0/1 states, is the ordinary CA, on
 * the BLAS and the fused kernel (whose centred basis must stay exact). */
Test(kernel, all_256_elementary_rules_are_exact)
{
    dca_lattice lat = {.dims = 1, .shape = {97, 1}};
    dca_nbhd *nb = t_nbhd("radius:1", 1);
    dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_sim *sims[2] = {t_sim(&lat, r, 1, DCA_KERNEL_BLAS, 2),
                        t_sim(&lat, r, 1, DCA_KERNEL_FUSED, 2)};
    double x[97], y[97];
    int a[97], b[97], table[8];
    for (int rule = 0; rule < 512; rule++) {
        dca_sim *sim = sims[rule / 256];
        char spec[32];
        snprintf(spec, sizeof spec, "wolfram:%d", rule % 256);
        dca_error e;
        cr_assert_eq(dca_rule_load_weights(r, spec, 0, ".", &e), DCA_OK, "%s", e.msg);
        cr_assert(dca_rule_is_hard(r));
        dca_sim_set_params(sim, NULL, NULL);
        for (int i = 0; i < 8; i++)
            table[i] = (rule % 256 >> i) & 1;
        uint64_t seed = (uint64_t)rule + 1000;
        for (int c = 0; c < 97; c++)
            x[c] = a[c] = (int)(t_next(&seed) & 1);
        for (int t = 1; t <= 100; t++) {
            dca_sim_step(sim, x, y);
            t_ca_step(&lat, nb, 2, table, a, b);
            for (int c = 0; c < 97; c++)
                cr_assert(y[c] == (double)b[c], "rule %d step %d cell %d (%s): dca %g, CA %d",
                          rule % 256, t, c, dca_kernel_name(dca_sim_kernel(sim)), y[c], b[c]);
            memcpy(x, y, sizeof x);
            memcpy(a, b, sizeof a);
        }
    }
    dca_sim_destroy(sims[0]);
    dca_sim_destroy(sims[1]);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

static void life_table(int *table)
{
    /* Moore order: (dy,dx) row-major, centre at position 4. */
    for (int y = 0; y < 512; y++) {
        int alive = (y >> 4) & 1, n = __builtin_popcount((unsigned)y) - alive;
        table[y] = alive ? (n == 2 || n == 3) : n == 3;
    }
}

static void run_life_pattern(const int (*cells)[2], int ncells, int steps, int period,
                             int shift_y, int shift_x)
{
    const int H = 12, W = 14;
    dca_lattice lat = {.dims = 2, .shape = {H, W}};
    dca_nbhd *nb = t_nbhd("moore:1", 2);
    dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_error e;
    cr_assert_eq(dca_rule_load_weights(r, "life:B3/S23", 0, ".", &e), DCA_OK, "%s", e.msg);
    dca_sim *sim = t_sim(&lat, r, 1, DCA_KERNEL_BLAS, 2);
    double x[12 * 14] = {0}, y[12 * 14], x0[12 * 14] = {0};
    int a[12 * 14] = {0}, b[12 * 14], table[512];
    life_table(table);
    for (int i = 0; i < ncells; i++)
        x0[cells[i][0] * W + cells[i][1]] = a[cells[i][0] * W + cells[i][1]] = 1;
    memcpy(x, x0, sizeof x);
    for (int t = 1; t <= steps; t++) {
        dca_sim_step(sim, x, y);
        t_ca_step(&lat, nb, 2, table, a, b);
        for (int c = 0; c < H * W; c++)
            cr_assert(y[c] == (double)b[c], "Life step %d cell %d: %g vs %d", t, c, y[c], b[c]);
        memcpy(x, y, sizeof x);
        memcpy(a, b, sizeof a);
        if (t % period == 0) {
            /* The pattern is back, moved by (t/period) * shift on the torus. */
            int k = t / period;
            for (int rr = 0; rr < H; rr++)
                for (int cc = 0; cc < W; cc++) {
                    int sr = ((rr - k * shift_y) % H + H) % H, sc = ((cc - k * shift_x) % W + W) % W;
                    cr_assert(x[rr * W + cc] == x0[sr * W + sc], "pattern not periodic at t=%d", t);
                }
        }
    }
    dca_sim_destroy(sim);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(kernel, life_full_table_glider_and_blinker)
{
    /* Glider moving down-right: period 4, shift (1, 1). */
    static const int glider[5][2] = {{1, 2}, {2, 3}, {3, 1}, {3, 2}, {3, 3}};
    run_life_pattern(glider, 5, 56, 4, 1, 1);
    static const int blinker[3][2] = {{5, 4}, {5, 5}, {5, 6}};
    run_life_pattern(blinker, 3, 20, 2, 0, 0);
}

/* Rolling a configuration by (sy, sx) and stepping equals stepping and
 * rolling, on the torus. */
static void roll(const double *x, double *y, int64_t rows, int64_t cols, int len, int64_t sy,
                 int64_t sx)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            memcpy(y + (((r + sy) % rows) * cols + (c + sx) % cols) * len, x + (r * cols + c) * len,
                   (size_t)len * sizeof *x);
}

static void check_equivariance(const char *size, const char *nbspec, int k, dca_mode mode,
                               int64_t sy, int64_t sx)
{
    dca_lattice lat;
    dca_lattice_parse(size, &lat, NULL);
    int64_t rows = lat.dims == 1 ? 1 : lat.shape[0], cols = lat.dims == 1 ? lat.shape[0] : lat.shape[1];
    dca_nbhd *nb = t_nbhd(nbspec, lat.dims);
    dca_rule *r = t_rule(nb, k, mode);
    t_random_weights(r, 2.0, 7);
    dca_sim *sim = t_sim(&lat, r, 1, DCA_KERNEL_BLAS, 2);
    int len = mode == DCA_MODE_BINARY ? 1 : k;
    int64_t n = dca_sim_config_len(sim);
    double *x = malloc((size_t)n * 8), *xs = malloc((size_t)n * 8), *y = malloc((size_t)n * 8),
           *ys = malloc((size_t)n * 8), *yr = malloc((size_t)n * 8);
    t_random_config(x, rows * cols, k, mode, 99);
    roll(x, xs, rows, cols, len, sy, sx);
    for (int t = 0; t < 10; t++) {
        dca_sim_step(sim, x, y);
        dca_sim_step(sim, xs, ys);
        roll(y, yr, rows, cols, len, sy, sx);
        for (int64_t i = 0; i < n; i++)
            cr_assert_leq(fabs(yr[i] - ys[i]), 1e-14, "%s %s: step %d value %lld", size, nbspec, t,
                          (long long)i);
        memcpy(x, y, (size_t)n * 8);
        memcpy(xs, ys, (size_t)n * 8);
    }
    free(x), free(xs), free(y), free(ys), free(yr);
    dca_sim_destroy(sim);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(properties, translation_equivariance)
{
    check_equivariance("301", "radius:2", 2, DCA_MODE_BINARY, 0, 17);
    check_equivariance("20x23", "moore:1", 2, DCA_MODE_BINARY, 5, 9);
    check_equivariance("9x11", "vonneumann:1", 3, DCA_MODE_SOFTMAX, 4, 2);
}

Test(properties, binary_values_stay_in_unit_interval)
{
    dca_lattice lat = {.dims = 1, .shape = {500, 1}};
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY);
    t_random_weights(r, 40.0, 5); /* rho close to 0 and 1: rounding at the edges */
    dca_sim *sim = t_sim(&lat, r, 1, DCA_KERNEL_BLAS, 2);
    double x[500], y[500];
    t_random_config(x, 500, 2, DCA_MODE_BINARY, 3);
    for (int t = 0; t < 200; t++) {
        dca_sim_step(sim, x, y);
        for (int c = 0; c < 500; c++)
            cr_assert(y[c] >= 0.0 && y[c] <= 1.0, "step %d cell %d: %.17g", t, c, y[c]);
        memcpy(x, y, sizeof x);
    }
    dca_sim_destroy(sim);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(properties, softmax_rows_sum_to_one)
{
    dca_lattice lat = {.dims = 2, .shape = {20, 20}};
    dca_nbhd *nb = t_nbhd("vonneumann:1", 2);
    dca_rule *r = t_rule(nb, 3, DCA_MODE_SOFTMAX);
    t_random_weights(r, 3.0, 8);
    dca_sim *sim = t_sim(&lat, r, 2, DCA_KERNEL_BLAS, 2);
    int64_t n = 2 * dca_sim_config_len(sim);
    double *x = malloc((size_t)n * 8), *y = malloc((size_t)n * 8);
    t_random_config(x, n / 3, 3, DCA_MODE_SOFTMAX, 4);
    for (int t = 0; t < 100; t++) {
        dca_sim_step(sim, x, y);
        for (int64_t c = 0; c < n / 3; c++) {
            double s = y[3 * c] + y[3 * c + 1] + y[3 * c + 2];
            cr_assert_leq(fabs(s - 1.0), 1e-12, "step %d cell %lld: sum %.17g", t, (long long)c, s);
            for (int a = 0; a < 3; a++)
                cr_assert(y[3 * c + a] >= 0.0 && y[3 * c + a] <= 1.0);
        }
        memcpy(x, y, (size_t)n * 8);
    }
    free(x);
    free(y);
    dca_sim_destroy(sim);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

/* Bitwise identical results for 1 and 2 threads (and a different tile
 * split of the work between them). */
static void check_threads(const char *size, const char *nbspec, int k, dca_mode mode, int64_t B)
{
    dca_lattice lat;
    dca_lattice_parse(size, &lat, NULL);
    dca_nbhd *nb = t_nbhd(nbspec, lat.dims);
    dca_rule *r = t_rule(nb, k, mode);
    t_random_weights(r, 2.0, 17);
    dca_sim *s1 = t_sim(&lat, r, B, DCA_KERNEL_BLAS, 1);
    dca_sim *s2 = t_sim(&lat, r, B, DCA_KERNEL_BLAS, 2);
    int64_t n = B * dca_sim_config_len(s1);
    double *x1 = malloc((size_t)n * 8), *x2 = malloc((size_t)n * 8), *y1 = malloc((size_t)n * 8),
           *y2 = malloc((size_t)n * 8);
    for (int64_t b = 0; b < B; b++)
        t_random_config(x1 + b * (n / B), dca_lattice_cells(&lat), k, mode, (uint64_t)b);
    memcpy(x2, x1, (size_t)n * 8);
    for (int t = 0; t < 20; t++) {
        dca_sim_step(s1, x1, y1);
        dca_sim_step(s2, x2, y2);
        cr_assert(memcmp(y1, y2, (size_t)n * 8) == 0, "%s %s: 1 and 2 threads differ at step %d",
                  size, nbspec, t);
        memcpy(x1, y1, (size_t)n * 8);
        memcpy(x2, y2, (size_t)n * 8);
    }
    free(x1), free(x2), free(y1), free(y2);
    dca_sim_destroy(s1);
    dca_sim_destroy(s2);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(properties, identical_for_one_and_two_threads)
{
    check_threads("5000", "radius:3", 2, DCA_MODE_BINARY, 3);
    check_threads("64x64", "moore:1", 2, DCA_MODE_BINARY, 2);
    check_threads("40x40", "vonneumann:1", 3, DCA_MODE_SOFTMAX, 2);
}

/* Lattices smaller than the neighbourhood: offsets wrap around, so a cell
 * can fill several positions of its own neighbourhood. Hard rules still
 * give the ordinary CA defined with modular indexing. */
Test(properties, lattice_smaller_than_neighbourhood)
{
    struct { const char *size, *nb; } cases[] = {
        {"1", "radius:2"}, {"2", "radius:3"}, {"3", "radius:2"}, {"1x1", "moore:1"},
        {"2x3", "moore:1"}, {"1x5", "vonneumann:2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dca_lattice lat;
        dca_lattice_parse(cases[i].size, &lat, NULL);
        dca_nbhd *nb = t_nbhd(cases[i].nb, lat.dims);
        dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY);
        int64_t P = dca_rule_patterns(r), cells = dca_lattice_cells(&lat);
        int *table = malloc((size_t)P * sizeof *table);
        double *rho = malloc((size_t)P * sizeof *rho);
        uint64_t seed = 77 + i;
        for (int64_t y = 0; y < P; y++)
            rho[y] = table[y] = (int)(t_next(&seed) & 1);
        cr_assert_eq(dca_rule_set_probabilities(r, rho, NULL), DCA_OK);
        dca_sim *sim = t_sim(&lat, r, 1, DCA_KERNEL_BLAS, 2);
        double x[16], y[16];
        int a[16], b[16];
        for (int64_t c = 0; c < cells; c++)
            x[c] = a[c] = (int)(t_next(&seed) & 1);
        for (int t = 0; t < 20; t++) {
            dca_sim_step(sim, x, y);
            t_ca_step(&lat, nb, 2, table, a, b);
            for (int64_t c = 0; c < cells; c++)
                cr_assert(y[c] == (double)b[c], "%s %s step %d", cases[i].size, cases[i].nb, t);
            memcpy(x, y, sizeof x);
            memcpy(a, b, sizeof a);
        }
        /* And the soft kernel agrees with the reference twin there too. */
        compare_kernels(cases[i].size, cases[i].nb, 2, DCA_MODE_BINARY, 1, 3, 5 + i);
        free(table);
        free(rho);
        dca_sim_destroy(sim);
        dca_rule_destroy(r);
        dca_nbhd_destroy(nb);
    }
}

/* The paper's §3.1: alpha = 0 and 1 give the two rules, and between them
 * the DCA is exactly the mixture in the one differing pattern. */
Test(properties, mix_interpolates_two_rules)
{
    dca_nbhd *nb = t_nbhd("radius:1", 1);
    dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY), *a = t_rule(nb, 2, DCA_MODE_BINARY);
    cr_assert_eq(dca_rule_load_weights(r, "mix:31,95,0", 0, ".", NULL), DCA_OK);
    cr_assert_eq(dca_rule_load_weights(a, "wolfram:31", 0, ".", NULL), DCA_OK);
    cr_assert(memcmp(dca_rule_probabilities(r), dca_rule_probabilities(a), 8 * 8) == 0);
    cr_assert_eq(dca_rule_load_weights(r, "mix:31,95,1", 0, ".", NULL), DCA_OK);
    cr_assert_eq(dca_rule_load_weights(a, "wolfram:95", 0, ".", NULL), DCA_OK);
    cr_assert(memcmp(dca_rule_probabilities(r), dca_rule_probabilities(a), 8 * 8) == 0);
    cr_assert_eq(dca_rule_load_weights(r, "mix:31,95,0.4", 0, ".", NULL), DCA_OK);
    const double *p = dca_rule_probabilities(r);
    static const double want[8] = {1, 1, 1, 1, 1, 0, 0.4, 0};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(p[i], want[i], "pattern %d: %g", i, p[i]);
    dca_rule_destroy(r);
    dca_rule_destroy(a);
    dca_nbhd_destroy(nb);
}
