/* Specification strings: lattices, neighbourhood order (a public
 * contract: it fixes the pattern index), rule numbers and tables. */
#include <math.h>
#include <string.h>

#include "bignum.h"
#include "experiment.h"
#include "helpers.h"

Test(parse, lattice_sizes)
{
    dca_lattice l;
    cr_assert_eq(dca_lattice_parse("149", &l, NULL), DCA_OK);
    cr_assert(l.dims == 1 && l.shape[0] == 149);
    cr_assert_eq(dca_lattice_parse("64x48", &l, NULL), DCA_OK);
    cr_assert(l.dims == 2 && l.shape[0] == 64 && l.shape[1] == 48);
    const char *bad[] = {"", "0", "-3", "12x", "x12", "3x0", "1.5", "12 ", "4x4x4", "abc"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dca_error e;
        cr_assert_neq(dca_lattice_parse(bad[i], &l, &e), DCA_OK, "'%s' accepted", bad[i]);
    }
}

static void expect_offsets(const char *spec, int dims, const int32_t *want, int count)
{
    dca_nbhd *nb = t_nbhd(spec, dims);
    cr_assert_eq(dca_nbhd_count(nb), count, "%s: %d offsets", spec, dca_nbhd_count(nb));
    cr_assert(memcmp(dca_nbhd_offsets(nb), want, (size_t)(count * dims) * 4) == 0, "%s order", spec);
    dca_nbhd_destroy(nb);
}

Test(parse, neighbourhood_order)
{
    expect_offsets("radius:1", 1, (int32_t[]){-1, 0, 1}, 3);
    expect_offsets("radius:3", 1, (int32_t[]){-3, -2, -1, 0, 1, 2, 3}, 7);
    expect_offsets("radius:0", 1, (int32_t[]){0}, 1);
    expect_offsets("moore:1", 2,
                   (int32_t[]){-1, -1, -1, 0, -1, 1, 0, -1, 0, 0, 0, 1, 1, -1, 1, 0, 1, 1}, 9);
    expect_offsets("vonneumann:1", 2, (int32_t[]){-1, 0, 0, -1, 0, 0, 0, 1, 1, 0}, 5);
    expect_offsets("offsets:(-1,0), (0,0),(1,0)", 2, (int32_t[]){-1, 0, 0, 0, 1, 0}, 3);
    expect_offsets("offsets:2,-1, 0", 1, (int32_t[]){2, -1, 0}, 3);
    dca_nbhd *nb = t_nbhd("moore:2", 2);
    cr_assert_eq(dca_nbhd_count(nb), 25);
    cr_assert_eq(dca_nbhd_center(nb), 12);
    dca_nbhd_destroy(nb);
    nb = t_nbhd("vonneumann:2", 2);
    cr_assert_eq(dca_nbhd_count(nb), 13);
    dca_nbhd_destroy(nb);
}

Test(parse, bad_neighbourhoods)
{
    struct { const char *spec; int dims; } bad[] = {
        {"radius:1", 2},      {"moore:1", 1},         {"radius:-1", 1}, {"radius:x", 1},
        {"hex:3", 1},         {"offsets:", 1},        {"offsets:1,1", 1}, {"offsets:(0,0),(0,0)", 2},
        {"offsets:(0,0", 2},  {"offsets:1;2", 1},     {"moore:", 2},    {"vonneumann:1.5", 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dca_nbhd *nb = NULL;
        dca_error e;
        cr_assert_neq(dca_nbhd_parse(bad[i].spec, bad[i].dims, &nb, &e), DCA_OK, "'%s' accepted",
                      bad[i].spec);
        cr_assert(strlen(e.msg) > 10);
    }
}

Test(parse, rule_numbers)
{
    uint8_t bits[512];
    char why[256];
    cr_assert(dca_table_bits("30", false, 8, bits, why, sizeof why));
    static const uint8_t r30[8] = {0, 1, 1, 1, 1, 0, 0, 0};
    cr_assert(memcmp(bits, r30, 8) == 0);
    cr_assert(dca_table_bits("1e", true, 8, bits, why, sizeof why));
    cr_assert(memcmp(bits, r30, 8) == 0);
    cr_assert(dca_table_bits("0x1E", false, 8, bits, why, sizeof why));
    cr_assert(memcmp(bits, r30, 8) == 0);
    /* 2^127 + 1 as a decimal number over 128 patterns (radius 3). */
    cr_assert(dca_table_bits("170141183460469231731687303715884105729", false, 128, bits, why,
                             sizeof why));
    for (int i = 0; i < 128; i++)
        cr_assert_eq(bits[i], i == 0 || i == 127, "bit %d", i);
    cr_assert_not(dca_table_bits("256", false, 8, bits, why, sizeof why));
    cr_assert(strstr(why, "too large"));
    cr_assert_not(dca_table_bits("1e0", true, 8, bits, why, sizeof why));
    cr_assert(strstr(why, "exactly 2 hex digits"));
    cr_assert_not(dca_table_bits("1g", true, 8, bits, why, sizeof why));
    cr_assert_not(dca_table_bits("4", true, 2, bits, why, sizeof why));
    cr_assert_not(dca_table_bits("-1", false, 8, bits, why, sizeof why));
    cr_assert_not(dca_table_bits("", false, 8, bits, why, sizeof why));
}

Test(parse, hex_export_roundtrip)
{
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY);
    /* Gacs-Kurdyumov-Levin, as a 128-pattern table. */
    const char *gkl = "005f005f005f005f005fff5f005fff5f";
    char spec[64], out[64];
    snprintf(spec, sizeof spec, "hex:%s", gkl);
    dca_error e;
    cr_assert_eq(dca_rule_load_weights(r, spec, 0, ".", &e), DCA_OK, "%s", e.msg);
    cr_assert(dca_rule_hex(r, out, sizeof out));
    cr_assert_str_eq(out, gkl);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(parse, hard_tables_have_infinite_weights)
{
    dca_nbhd *nb = t_nbhd("radius:1", 1);
    dca_rule *b = t_rule(nb, 2, DCA_MODE_BINARY), *s = t_rule(nb, 2, DCA_MODE_SOFTMAX);
    cr_assert_eq(dca_rule_load_weights(b, "wolfram:110", 0, ".", NULL), DCA_OK);
    cr_assert_eq(dca_rule_load_weights(s, "wolfram:110", 0, ".", NULL), DCA_OK);
    for (int y = 0; y < 8; y++) {
        int bit = (110 >> y) & 1;
        cr_assert_eq(dca_rule_probabilities(b)[y], bit);
        cr_assert(isinf(dca_rule_weights(b)[y]) && (dca_rule_weights(b)[y] > 0) == bit);
        cr_assert_eq(dca_rule_probabilities(s)[2 * y + 1], bit);
        cr_assert_eq(dca_rule_probabilities(s)[2 * y], 1 - bit);
    }
    /* The weights alone reproduce the hard table. */
    dca_rule *c = t_rule(nb, 2, DCA_MODE_BINARY);
    cr_assert_eq(dca_rule_set_weights(c, dca_rule_weights(b), NULL), DCA_OK);
    cr_assert(memcmp(dca_rule_probabilities(c), dca_rule_probabilities(b), 64) == 0);
    dca_rule_destroy(b);
    dca_rule_destroy(s);
    dca_rule_destroy(c);
    dca_nbhd_destroy(nb);
}

Test(parse, weight_sources_reject_bad_input)
{
    dca_nbhd *nb = t_nbhd("radius:1", 1);
    dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY);
    const char *bad[] = {
        "normal:-1", "normal:x", "zeros:3", "list:1,2,3", "list:1,2,3,4,5,6,7,x",
        "probabilities:0,0,0,0,0,0,0,1.5", "wolfram:256", "hex:1", "mix:30,31", "mix:30,31,2",
        "life:B3/S23", "file:nope", "gaussian:1", "list:1,2,3,4,5,6,7,nan",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dca_error e = {0};
        cr_assert_neq(dca_rule_load_weights(r, bad[i], 0, ".", &e), DCA_OK, "'%s' accepted",
                      bad[i]);
        cr_assert(strlen(e.msg) > 5, "'%s': no message", bad[i]);
    }
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(parse, normal_weights_are_seeded)
{
    dca_nbhd *nb = t_nbhd("radius:2", 1);
    dca_rule *a = t_rule(nb, 2, DCA_MODE_BINARY), *b = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_rule_load_weights(a, "normal:1", 42, ".", NULL);
    dca_rule_load_weights(b, "normal:1", 42, ".", NULL);
    cr_assert(memcmp(dca_rule_weights(a), dca_rule_weights(b), 32 * 8) == 0);
    dca_rule_load_weights(b, "normal:1", 43, ".", NULL);
    cr_assert(memcmp(dca_rule_weights(a), dca_rule_weights(b), 32 * 8) != 0);
    double m = 0, v = 0;
    for (int i = 0; i < 32; i++)
        m += dca_rule_weights(a)[i] / 32;
    for (int i = 0; i < 32; i++)
        v += pow(dca_rule_weights(a)[i] - m, 2) / 31;
    cr_assert(fabs(m) < 0.7 && v > 0.3 && v < 3, "mean %g var %g", m, v);
    dca_rule_destroy(a);
    dca_rule_destroy(b);
    dca_nbhd_destroy(nb);
}

Test(parse, initial_configurations)
{
    dca_lattice lat = {.dims = 1, .shape = {1000, 1}};
    double x[2000];
    cr_assert_eq(dca_init_generate("bernoulli:0.3", &lat, 2, DCA_MODE_BINARY, 2, 5, x, NULL),
                 DCA_OK);
    double ones = 0;
    for (int i = 0; i < 2000; i++) {
        cr_assert(x[i] == 0 || x[i] == 1);
        ones += x[i];
    }
    cr_assert(ones > 500 && ones < 700, "bernoulli:0.3 gave %g ones of 2000", ones);
    /* Configuration b does not depend on B. */
    double y[1000];
    dca_init_generate("bernoulli:0.3", &lat, 2, DCA_MODE_BINARY, 1, 5, y, NULL);
    cr_assert(memcmp(x, y, sizeof y) == 0);
    dca_init_apply_eps(x, 2000, 2, DCA_MODE_BINARY, 0.01);
    for (int i = 0; i < 2000; i++)
        cr_assert(x[i] == 0.01 || fabs(x[i] - 0.99) < 1e-15);
    cr_assert_eq(dca_init_generate("single", &lat, 2, DCA_MODE_BINARY, 1, 0, y, NULL), DCA_OK);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(y[i], i == 500);
    double s[3 * 1000];
    cr_assert_eq(dca_init_generate("uniform-states", &lat, 3, DCA_MODE_SOFTMAX, 1, 1, s, NULL),
                 DCA_OK);
    dca_init_apply_eps(s, 3000, 3, DCA_MODE_SOFTMAX, 0.1);
    for (int c = 0; c < 1000; c++) {
        cr_assert_leq(fabs(s[3 * c] + s[3 * c + 1] + s[3 * c + 2] - 1), 1e-15);
        double mx = fmax(s[3 * c], fmax(s[3 * c + 1], s[3 * c + 2]));
        cr_assert_leq(fabs(mx - 0.9), 1e-15);
    }
    const char *bad[] = {"bernoulli:1.5", "bernoulli:", "uniform", "file"};
    for (size_t i = 0; i < 4; i++)
        cr_assert_neq(dca_init_generate(bad[i], &lat, 2, DCA_MODE_BINARY, 1, 0, y, NULL), DCA_OK);
}

/* configs/README.md documents every key of the schema with its default. */
#include "config.h"

Test(parse, every_key_is_documented)
{
    const char *root = getenv("DCA_SOURCE_ROOT");
    cr_assert(root, "DCA_SOURCE_ROOT is not set (run through meson test)");
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/README.md", root);
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    static char text[1 << 17];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    const dca_config_key_doc *keys;
    int nk = dca_config_schema(&keys);
    for (int i = 0; i < nk; i++) {
        char row[256];
        snprintf(row, sizeof row, "| `%s` | `%s` |", keys[i].key, keys[i].def);
        cr_expect(strstr(text, row), "configs/README.md lacks the row '%s' for [%s]", row,
                  keys[i].section);
    }
}
