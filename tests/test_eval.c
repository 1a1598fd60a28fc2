/* Hardened rules as ordinary CAs, and density classification (issue 4). */
#include <string.h>

#include "experiment.h"
#include "density.h"
#include "helpers.h"

/* The integer kernel equals the DCA engine on hard tables and 0/1 states. */
static void hard_vs_dca(const char *size, const char *nbspec, const char *weights, int steps)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse(size, &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd(nbspec, lat.dims);
    dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_error e;
    cr_assert_eq(dca_rule_load_weights(r, weights, 0, ".", &e), DCA_OK, "%s", e.msg);
    dca_hard *h;
    cr_assert_eq(dca_hard_create(&lat, r, 2, &h, &e), DCA_OK, "%s", e.msg);
    dca_sim *sim = t_sim(&lat, r, 1, DCA_KERNEL_BLAS, 2);
    int64_t n = dca_lattice_cells(&lat);
    double *x = malloc((size_t)n * 8), *y = malloc((size_t)n * 8);
    uint8_t *a = malloc((size_t)n), *b = malloc((size_t)n);
    uint64_t seed = 3;
    for (int64_t c = 0; c < n; c++)
        x[c] = a[c] = (uint8_t)(t_next(&seed) & 1);
    for (int t = 0; t < steps; t++) {
        dca_sim_step(sim, x, y);
        dca_hard_step(h, a, b);
        for (int64_t c = 0; c < n; c++)
            cr_assert_eq((double)b[c], y[c], "%s %s %s step %d cell %lld", size, nbspec, weights,
                         t, (long long)c);
        memcpy(x, y, (size_t)n * 8);
        memcpy(a, b, (size_t)n);
    }
    free(x), free(y), free(a), free(b);
    dca_sim_destroy(sim);
    dca_hard_destroy(h);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(hard, integer_kernel_equals_dca_on_hard_rules)
{
    for (int rule = 0; rule < 256; rule += 7) {
        char w[32];
        snprintf(w, sizeof w, "wolfram:%d", rule);
        hard_vs_dca("101", "radius:1", w, 50);  /* rolling index */
    }
    hard_vs_dca("149", "radius:3", "hex:fafffa00fafffa00fa00fa00fa00fa00", 100);
    hard_vs_dca("5", "radius:3", "hex:fafffa00fafffa00fa00fa00fa00fa00", 20); /* ring < 2r+1 */
    hard_vs_dca("40", "offsets:2,-1,0", "wolfram:77", 30);
    hard_vs_dca("20x24", "moore:1", "life:B3/S23", 60);
}

static double eval(const char *weights, int64_t samples, int threads, int64_t *correct)
{
    dca_lattice lat = {.dims = 1, .shape = {149, 1}};
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    dca_rule *r = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_error e;
    cr_assert_eq(dca_rule_load_weights(r, weights, 0, ".", &e), DCA_OK, "%s", e.msg);
    dca_hard *h;
    cr_assert_eq(dca_hard_create(&lat, r, threads, &h, &e), DCA_OK, "%s", e.msg);
    dca_density_result res;
    cr_assert_eq(dca_eval_density(h, samples, 298, "bernoulli:0.5", 7, &res, &e), DCA_OK, "%s",
                 e.msg);
    *correct = res.correct;
    dca_hard_destroy(h);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
    return res.accuracy;
}

Test(hard, gkl_and_majority_on_density_classification)
{
    int64_t c1, c2;
    /* Published: GKL 81.6 % (N = 149, unbiased samples). 2000 samples give a
     * standard error of 0.0087: accept 4 of them. */
    double gkl = eval("hex:fafffa00fafffa00fa00fa00fa00fa00", 2000, 2, &c1);
    cr_assert(gkl > 0.816 - 0.035 && gkl < 0.816 + 0.035, "GKL accuracy %g", gkl);
    double again = eval("hex:fafffa00fafffa00fa00fa00fa00fa00", 2000, 1, &c2);
    cr_assert(c1 == c2 && gkl == again, "1 and 2 threads differ: %lld vs %lld", (long long)c1,
              (long long)c2);
    double maj = eval("hex:fffefee8fee8e880fee8e880e8808000", 2000, 2, &c1);
    cr_assert_lt(maj, 0.05, "majority-of-7 accuracy %g", maj);
}
