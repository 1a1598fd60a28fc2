/* The bit-sliced hard-CA evaluator (src/models/bits.c) against the byte
 * evaluator (src/models/hard.c): every step, every configuration, random
 * rules on rings and tori, tables and outer-totalistic rules. The same for
 * the bit-parallel engine with cells in the lanes (src/models/cellbits.c),
 * and that engine against the soft one on exact states. */
#include <string.h>

#include "bits.h"
#include "cellbits.h"
#include "density.h"
#include "hard.h"
#include "helpers.h"

/* A random hard rule: weights of +-1 per pattern (each output 0 or 1 with
 * probability 1/2), or a probability `bias` of output 1. */
static dca_rule *random_rule(const dca_nbhd *nb, bool totalistic, double bias, uint64_t seed)
{
    dca_rule *r = NULL;
    dca_error e;
    if (totalistic)
        cr_assert_eq(dca_rule_create_outer_totalistic(nb, &r, &e), DCA_OK, "%s", e.msg);
    else
        r = t_rule(nb, 2, DCA_MODE_BINARY);
    int64_t P = dca_rule_params(r);
    double *w = malloc((size_t)P * sizeof *w);
    for (int64_t i = 0; i < P; i++)
        w[i] = t_unif(&seed) < bias ? 1.0 : -1.0;
    cr_assert_eq(dca_rule_set_weights(r, w, &e), DCA_OK, "%s", e.msg);
    free(w);
    return r;
}

/* 64 W configurations stepped `steps` times by both evaluators, compared
 * after every step. */
static void compare(const char *size, const char *nbspec, bool totalistic, double bias, int W,
                    int steps, uint64_t seed)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse(size, &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd(nbspec, lat.dims);
    dca_rule *r = random_rule(nb, totalistic, bias, seed);
    dca_error e;
    dca_hard *h;
    cr_assert_eq(dca_hard_create(&lat, r, 1, &h, &e), DCA_OK, "%s", e.msg);
    dca_bits *b;
    cr_assert_eq(dca_bits_from_hard(h, &b, &e), DCA_OK, "%s", e.msg);
    const int64_t n = dca_hard_cells(h), B = 64 * W;
    cr_assert_eq(dca_bits_cells(b), n);
    uint8_t *a = malloc((size_t)(n * B)), *t = malloc((size_t)n);
    uint64_t *x = calloc((size_t)(n * W), sizeof *x);
    void *work = aligned_alloc(64, (dca_bits_work_bytes(b, W) + 63) & ~(size_t)63);
    for (int64_t j = 0; j < B; j++)
        for (int64_t c = 0; c < n; c++) {
            a[j * n + c] = (uint8_t)(t_next(&seed) & 1);
            x[c * W + j / 64] |= (uint64_t)a[j * n + c] << (j % 64);
        }
    uint64_t none[DCA_BITS_MAX_WORDS] = {0};
    for (int s = 0; s < steps; s++) {
        dca_bits_run(b, x, W, none, 1, NULL, work);
        for (int64_t j = 0; j < B; j++) {
            dca_hard_step(h, a + j * n, t);
            memcpy(a + j * n, t, (size_t)n);
            for (int64_t c = 0; c < n; c++)
                cr_assert_eq((x[c * W + j / 64] >> (j % 64)) & 1, a[j * n + c],
                             "%s %s%s W=%d step %d configuration %lld cell %lld (%d gates)",
                             size, nbspec, totalistic ? " totalistic" : "", W, s + 1,
                             (long long)j, (long long)c, dca_bits_gates(b));
        }
    }
    free(a), free(t), free(x), free(work);
    dca_bits_destroy(b);
    dca_hard_destroy(h);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(bits, equals_byte_evaluator_on_random_rules)
{
    for (uint64_t s = 1; s <= 4; s++) {
        compare("149", "radius:3", false, 0.5, 1 + (int)(s % 3), 30, s);
        compare("31", "radius:1", false, 0.5, 1, 30, s);
        compare("64", "radius:4", false, 0.5, 2, 20, s);
        compare("50", "offsets:2,-1,0", false, 0.5, 1, 20, s);
        compare("16x19", "moore:1", true, 0.5, 1, 15, s);
        compare("12x10", "vonneumann:1", false, 0.5, 2, 15, s);
    }
    /* Biased tables (many constant subfunctions), a ring shorter than the
     * neighbourhood, a torus thinner than it, and 200 cells per row (two
     * tiles and a remainder). */
    compare("149", "radius:3", false, 0.9, 1, 30, 7);
    compare("149", "radius:3", false, 0.1, 1, 30, 8);
    compare("5", "radius:3", false, 0.5, 1, 20, 9);
    compare("3x4", "moore:2", true, 0.5, 1, 10, 10);
    compare("2x200", "moore:1", false, 0.5, 1, 10, 11);
}

/* Constant and single-neighbour rules compile to no gate at all. */
Test(bits, degenerate_rules)
{
    dca_error e;
    int32_t dy[3] = {0, 0, 0}, dx[3] = {-1, 0, 1};
    uint8_t zero[8] = {0}, one[8] = {1, 1, 1, 1, 1, 1, 1, 1}, left[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    uint8_t xor3[8] = {0, 1, 1, 0, 1, 0, 0, 1};
    const uint8_t *tabs[4] = {zero, one, left, xor3};
    for (int k = 0; k < 4; k++) {
        dca_bits *b;
        cr_assert_eq(dca_bits_create(1, 10, 3, dy, dx, tabs[k], &b, &e), DCA_OK, "%s", e.msg);
        if (k < 3)
            cr_assert_eq(dca_bits_gates(b), 0, "table %d: %d gates", k, dca_bits_gates(b));
        else
            cr_assert_leq(dca_bits_gates(b), 4, "xor of three: %d gates", dca_bits_gates(b));
        uint64_t x[10], y[10];
        uint64_t s = 99;
        for (int c = 0; c < 10; c++)
            x[c] = y[c] = t_next(&s);
        void *work = aligned_alloc(64, (dca_bits_work_bytes(b, 1) + 63) & ~(size_t)63);
        uint64_t none = 0;
        dca_bits_run(b, y, 1, &none, 1, NULL, work);
        for (int c = 0; c < 10; c++) {
            uint64_t l = x[(c + 9) % 10], m = x[c], r = x[(c + 1) % 10];
            uint64_t want = k == 0 ? 0 : k == 1 ? ~UINT64_C(0) : k == 2 ? l : l ^ m ^ r;
            cr_assert_eq(y[c], want, "table %d cell %d", k, c);
        }
        free(work);
        dca_bits_destroy(b);
    }
    uint8_t bad[8] = {0, 2, 0, 0, 0, 0, 0, 0};
    dca_bits *b;
    cr_assert_eq(dca_bits_create(1, 10, 3, dy, dx, bad, &b, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "pattern 1"), "%s", e.msg);
    cr_assert_eq(dca_bits_create(1, 10, 27, dy, dx, bad, &b, &e), DCA_ERR_UNSUPPORTED);
}

/* Density classification: both engines give each sample the same outcome,
 * and the bit-sliced one gives the same at 1 and 2 threads; the steps it
 * reports are the byte engine's. */
Test(bits, density_outcomes_equal_byte_engine)
{
    dca_lattice lat = {.dims = 1, .shape = {149, 1}};
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    for (uint64_t s = 0; s < 3; s++) {
        dca_rule *r = s == 0 ? t_rule(nb, 2, DCA_MODE_BINARY) : random_rule(nb, false, 0.5, s);
        dca_error e;
        if (s == 0)
            cr_assert_eq(dca_rule_load_weights(r, "hex:fafffa00fafffa00fa00fa00fa00fa00", 0, ".",
                                               &e), DCA_OK, "%s", e.msg);
        const char *kind = s == 1 ? "uniform-density" : "bernoulli:0.5";
        uint8_t o[3][700];
        dca_density_result res[3];
        for (int v = 0; v < 3; v++) {
            dca_hard *h;
            cr_assert_eq(dca_hard_create(&lat, r, v == 2 ? 1 : 2, &h, &e), DCA_OK);
            cr_assert_eq(dca_eval_density_with(h, v == 0 ? DCA_DENSITY_BYTES : DCA_DENSITY_BITS,
                                               700, 298, kind, 5, &res[v], o[v], &e),
                         DCA_OK, "%s", e.msg);
            dca_hard_destroy(h);
        }
        cr_assert_str_eq(res[0].engine, "bytes");
        cr_assert_str_eq(res[1].engine, "bit-sliced");
        cr_assert_arr_eq(o[0], o[1], 700, "rule %llu: outcomes differ", (unsigned long long)s);
        cr_assert_arr_eq(o[1], o[2], 700, "rule %llu: thread count changed outcomes",
                         (unsigned long long)s);
        cr_assert_eq(res[0].correct, res[1].correct);
        cr_assert_eq(res[0].cell_updates, res[1].cell_updates, "steps used differ");
        if (s == 0)
            cr_assert(res[0].correct > 500, "GKL %lld of 700", (long long)res[0].correct);
        dca_rule_destroy(r);
    }
    dca_nbhd_destroy(nb);
}

/* A sample counts only if the lattice reaches the fixed point of its
 * majority state. hex:0017...1fff maps the all-0 pattern to 1 and all-1 to
 * 0: uniform lattices flip every step, and at the even step limit 2N most
 * samples are uniform in their majority state. Without the fixed-point
 * condition it scores about 0.80; with it, 0 on both engines. */
Test(bits, period_two_uniform_states_are_not_classified)
{
    dca_lattice lat = {.dims = 1, .shape = {149, 1}};
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_error e;
    cr_assert_eq(dca_rule_load_weights(r, "hex:00171517231d14d411f59157373f1fff", 0, ".", &e),
                 DCA_OK, "%s", e.msg);
    dca_hard *h;
    cr_assert_eq(dca_hard_create(&lat, r, 2, &h, &e), DCA_OK, "%s", e.msg);
    /* The lattice at step 298, by hand: uniform in the majority state? */
    int64_t uniform_major = 0;
    uint8_t a[149], b[149];
    for (int64_t j = 0; j < 200; j++) {
        const int64_t ones = dca_density_draw(9, 0, 0.5, j, 149, a);
        for (int t = 0; t < 298; t++) {
            dca_hard_step(h, a, b);
            memcpy(a, b, sizeof a);
        }
        int64_t same = 0;
        for (int c = 0; c < 149; c++)
            same += a[c] == (2 * ones > 149);
        uniform_major += same == 149;
    }
    cr_assert_gt(uniform_major, 140, "%lld of 200 end uniform in the majority state",
                 (long long)uniform_major);
    for (int v = 0; v < 2; v++) {
        dca_density_result res;
        cr_assert_eq(dca_eval_density_with(h, v ? DCA_DENSITY_BITS : DCA_DENSITY_BYTES, 200, 298,
                                           "bernoulli:0.5", 9, &res, NULL, &e),
                     DCA_OK, "%s", e.msg);
        cr_assert_eq(res.correct, 0, "%s engine: %lld correct", res.engine,
                     (long long)res.correct);
    }
    dca_hard_destroy(h);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

/* The bit-parallel engine (64 cells per word) against the byte evaluator:
 * one configuration, every step, random rules; widths that are multiples of
 * 64 and ones that are not, lattices narrower than a word or than the
 * neighbourhood, rings and tori, 1 and 2 threads. */
static void compare_cells(const char *size, const char *nbspec, bool totalistic, int steps,
                          int threads, uint64_t seed)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse(size, &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd(nbspec, lat.dims);
    dca_rule *r = random_rule(nb, totalistic, 0.5, seed);
    dca_error e;
    dca_hard *h;
    cr_assert_eq(dca_hard_create(&lat, r, 1, &h, &e), DCA_OK, "%s", e.msg);
    dca_cellbits *c;
    cr_assert_eq(dca_cellbits_create(h, threads, &c, &e), DCA_OK, "%s", e.msg);
    const int64_t n = dca_hard_cells(h);
    uint8_t *a = malloc((size_t)n), *t = malloc((size_t)n);
    double *x = malloc((size_t)n * sizeof *x);
    uint64_t *s = malloc((size_t)dca_cellbits_words(c) * sizeof *s);
    for (int64_t i = 0; i < n; i++) {
        a[i] = (uint8_t)(t_next(&seed) & 1);
        x[i] = a[i];
    }
    cr_assert(dca_cellbits_pack(c, x, s));
    for (int k = 0; k < steps; k++) {
        dca_cellbits_run(c, s, 1);
        dca_hard_step(h, a, t);
        memcpy(a, t, (size_t)n);
        dca_cellbits_unpack(c, s, x);
        for (int64_t i = 0; i < n; i++)
            cr_assert_eq(x[i], (double)a[i], "%s %s%s, %d threads: step %d cell %lld", size,
                         nbspec, totalistic ? " totalistic" : "", threads, k + 1, (long long)i);
    }
    free(a), free(t), free(x), free(s);
    dca_cellbits_destroy(c);
    dca_hard_destroy(h);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(bits, cells_in_words_equal_byte_evaluator)
{
    for (uint64_t s = 1; s <= 3; s++) {
        compare_cells("149", "radius:3", false, 25, 1, s);
        compare_cells("256", "radius:2", false, 25, 2, s);
        compare_cells("7", "radius:3", false, 10, 1, s);
        compare_cells("64x128", "moore:1", true, 12, 2, s);
        compare_cells("37x70", "moore:1", true, 12, 2, s);
        compare_cells("20x200", "moore:1", false, 10, 1, s);
        compare_cells("12x10", "vonneumann:2", false, 10, 2, s);
        compare_cells("9x5", "moore:2", true, 10, 2, s);
        compare_cells("3x130", "offsets:(0,-1),(1,70),(-1,2),(0,0)", false, 10, 1, s);
    }
}

/* Packing refuses a value that is not exactly 0 or 1. */
Test(bits, cells_pack_refuses_inexact_states)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse("10x70", &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd("moore:1", 2);
    dca_rule *r = random_rule(nb, true, 0.5, 3);
    dca_error e;
    dca_hard *h;
    cr_assert_eq(dca_hard_create(&lat, r, 1, &h, &e), DCA_OK, "%s", e.msg);
    dca_cellbits *c;
    cr_assert_eq(dca_cellbits_create(h, 1, &c, &e), DCA_OK, "%s", e.msg);
    double x[700] = {0};
    uint64_t s[20];
    x[699] = 1.0;
    cr_assert(dca_cellbits_pack(c, x, s));
    x[333] = 0.999;
    cr_assert(!dca_cellbits_pack(c, x, s));
    dca_cellbits_destroy(c);
    dca_hard_destroy(h);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}
