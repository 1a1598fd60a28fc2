/* dca search's library (src/exp/search.c): sizes, seeds, thread counts,
 * budgets, and the operators' invariants. Small populations: seconds. */
#include <string.h>

#include "density.h"
#include "hard.h"
#include "helpers.h"
#include "search.h"

static dca_search_options small(const char *strategy)
{
    return (dca_search_options){.strategy = strategy, .runs = 1, .generations = 4,
                                .population = 12, .elite = 3, .mutations = 2,
                                .configurations = 70, .kind = "uniform-density", .steps = 0,
                                .test_samples = 300, .test_every = 2,
                                .test_kind = "bernoulli:0.5", .test_seed = 2, .seed = 1,
                                .gradient_steps = 4, .gradient_configurations = 8,
                                .gradient_logit = 2, .temperature_start = 0.05,
                                .temperature_end = 0.001, .nes_rate = 0.1, .ic_sigma = 0.05,
                                .threads = 2};
}

typedef struct result {
    double best[4], mean[4], evals[4], test[2], final_test;
    uint8_t rules[4 * 128], final_rule[128];
    int64_t grads;
} result;

static result run(dca_search_options o, int64_t which_run)
{
    dca_lattice lat = {.dims = 1, .shape = {59, 1}};
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_search *s;
    dca_error e;
    cr_assert_eq(dca_search_create(&lat, rule, &o, &s, &e), DCA_OK, "%s", e.msg);
    cr_assert_eq(dca_search_patterns(s), 128);
    cr_assert_eq(dca_search_tests(&o), 2);
    result r;
    memset(&r, 0, sizeof r);
    dca_search_history h = {r.best, r.mean, r.evals, r.rules, r.test, r.final_rule, 0, 0};
    cr_assert_eq(dca_search_run(s, which_run, &h, NULL, NULL, &e), DCA_OK, "%s", e.msg);
    r.final_test = h.final_test;
    r.grads = h.gradient_evaluations;
    dca_search_destroy(s);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
    return r;
}

static bool same(const result *a, const result *b)
{
    return memcmp(a->best, b->best, sizeof a->best) == 0 &&
           memcmp(a->mean, b->mean, sizeof a->mean) == 0 &&
           memcmp(a->test, b->test, sizeof a->test) == 0 &&
           memcmp(a->rules, b->rules, sizeof a->rules) == 0 &&
           memcmp(a->final_rule, b->final_rule, sizeof a->final_rule) == 0;
}

/* Every strategy: the same seed gives the same run at 1 and 2 threads; a
 * different seed or run index another; the budget is population x
 * configurations per generation; rules stay 0/1 tables of 128 entries; the
 * final rule's test accuracy is the best tested. */
Test(search, strategies_are_seeded_thread_independent_and_budgeted)
{
    int n;
    const dca_search_strategy *st = dca_search_strategies(&n);
    cr_assert_geq(n, 7);
    for (int i = 0; i < n; i++) {
        dca_search_options o = small(st[i].name);
        result a = run(o, 0);
        o.threads = 1;
        result b = run(o, 0);
        cr_assert(same(&a, &b), "%s: 1 and 2 threads differ", st[i].name);
        o.seed = 2;
        result c = run(o, 0);
        o.seed = 1;
        result d = run(o, 1);
        cr_assert(!same(&a, &c), "%s: the seed changed nothing", st[i].name);
        cr_assert(!same(&a, &d), "%s: run 1 repeats run 0", st[i].name);
        for (int g = 0; g < 4; g++)
            cr_assert_eq(a.evals[g], (double)((g + 1) * 12 * 70), "%s: generation %d budget %g",
                         st[i].name, g, a.evals[g]);
        for (int k = 0; k < 4 * 128; k++)
            cr_assert_leq(a.rules[k], 1);
        cr_assert(a.final_test >= a.test[0] && a.final_test >= a.test[1],
                  "%s: final %g below a tested %g / %g", st[i].name, a.final_test, a.test[0],
                  a.test[1]);
        cr_assert_eq(a.grads > 0, st[i].uses_gradient != 0, "%s: %lld gradients", st[i].name,
                     (long long)a.grads);
    }
}

/* The test accuracy the search reports is dca eval's for the same samples
 * and seed (the same draws, the bit-sliced evaluator). */
Test(search, test_accuracy_is_dca_evals)
{
    dca_search_options o = small("ga");
    result a = run(o, 0);
    dca_lattice lat = {.dims = 1, .shape = {59, 1}};
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
    double rho[128];
    for (int i = 0; i < 128; i++)
        rho[i] = a.final_rule[i];
    dca_error e;
    cr_assert_eq(dca_rule_set_probabilities(rule, rho, &e), DCA_OK, "%s", e.msg);
    dca_hard *h;
    cr_assert_eq(dca_hard_create(&lat, rule, 2, &h, &e), DCA_OK);
    dca_density_result res;
    cr_assert_eq(dca_eval_density_with(h, DCA_DENSITY_BYTES, 300, 118, "bernoulli:0.5", 2, &res,
                                       NULL, &e), DCA_OK, "%s", e.msg);
    cr_assert_eq(res.accuracy, a.final_test, "eval %g, search %g", res.accuracy, a.final_test);
    dca_hard_destroy(h);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
}

/* The fixed test set is drawn by 2 threads: the same in every repetition.
 * When the loop was split by configuration, a 64-configuration word could
 * be filled by both threads at once, losing bits; 100 configurations put
 * both threads' first draws into word 0 at the same moment. */
Test(search, test_set_is_the_same_every_time)
{
    dca_search_options o = small("ga");
    o.generations = 2;
    o.test_every = 1;
    o.test_samples = 100;
    result first = run(o, 0);
    for (int rep = 1; rep < 200; rep++) {
        result r = run(o, 0);
        cr_assert_eq(memcmp(r.test, first.test, sizeof r.test), 0,
                     "repetition %d: test accuracy %.6f, first %.6f", rep, r.test[0],
                     first.test[0]);
    }
}

/* The GA does what it is for: on a 59-cell ring, 3 runs of 30 generations
 * of 40 rules lift the best fitness from about 1/2 (constant rules) to
 * above 0.9 in at least one run (block-expanding rules), and the test
 * accuracy of the result beats the constant rules' 1/2. A broken crossover,
 * elite or mutation fails this. */
Test(search, ga_climbs)
{
    dca_lattice lat = {.dims = 1, .shape = {59, 1}};
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_search_options o = small("ga");
    o.generations = 30;
    o.population = 40;
    o.elite = 8;
    o.test_every = 30;
    o.test_samples = 2000;
    dca_search *s;
    dca_error e;
    cr_assert_eq(dca_search_create(&lat, rule, &o, &s, &e), DCA_OK, "%s", e.msg);
    double best_end = 0, best_test = 0;
    for (int64_t r = 0; r < 3; r++) {
        double best[30], mean[30], evals[30], test[1];
        uint8_t rules[30 * 128], fin[128];
        dca_search_history h = {best, mean, evals, rules, test, fin, 0, 0};
        cr_assert_eq(dca_search_run(s, r, &h, NULL, NULL, &e), DCA_OK, "%s", e.msg);
        cr_assert_lt(mean[0], 0.5, "run %lld starts at mean fitness %g", (long long)r, mean[0]);
        best_end = fmax(best_end, best[29]);
        best_test = fmax(best_test, h.final_test);
    }
    cr_assert_gt(best_end, 0.9, "best final fitness %g", best_end);
    cr_assert_gt(best_test, 0.55, "best test accuracy %g", best_test);
    dca_search_destroy(s);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
}

Test(search, bad_options_are_refused)
{
    dca_lattice lat = {.dims = 1, .shape = {59, 1}};
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_search *s;
    dca_error e;
    dca_search_options o = small("ga");
    o.elite = o.population;
    cr_assert_eq(dca_search_create(&lat, rule, &o, &s, &e), DCA_ERR_ARG);
    o = small("nope");
    cr_assert_eq(dca_search_create(&lat, rule, &o, &s, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "ga, ga-gradient"), "%s", e.msg);
    o = small("ga-gradient");
    o.gradient_configurations = 71;
    cr_assert_eq(dca_search_create(&lat, rule, &o, &s, &e), DCA_ERR_ARG);
    o = small("ga");
    o.configurations = 5000;
    cr_assert_eq(dca_search_create(&lat, rule, &o, &s, &e), DCA_ERR_ARG);
    dca_rule *soft3 = t_rule(nb, 3, DCA_MODE_SOFTMAX);
    o = small("ga");
    cr_assert_eq(dca_search_create(&lat, soft3, &o, &s, &e), DCA_ERR_UNSUPPORTED);
    dca_rule_destroy(soft3);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
}

/* [search] symmetry = complement-reflection: the partner of a radius-3
 * pattern is its bit reversal complemented (slot 0 is the top bit). GKL,
 * built from its definition, has the symmetry and a one-entry change of it
 * has not; every strategy's rules keep it (every generation's best and the
 * result), at 1 and 2 threads alike. */
static int rev7c(int i)
{
    int q = 0;
    for (int k = 0; k < 7; k++)
        q |= ((i >> k) & 1) << (6 - k);
    return ~q & 127;
}

Test(search, symmetry_is_kept_by_every_strategy)
{
    dca_lattice lat = {.dims = 1, .shape = {59, 1}};
    dca_nbhd *nb = t_nbhd("radius:3", 1);
    dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_search_options o = small("ga");
    o.symmetry = "complement-reflection";
    dca_search *s;
    dca_error e;
    cr_assert_eq(dca_search_create(&lat, rule, &o, &s, &e), DCA_OK, "%s", e.msg);
    uint8_t gkl[128];
    for (int p = 0; p < 128; p++) {
        int x[7];
        for (int k = 0; k < 7; k++)
            x[k] = (p >> (6 - k)) & 1; /* offset k - 3 */
        int v = x[3] + (x[3] ? x[4] + x[6] : x[2] + x[0]);
        gkl[p] = v >= 2;
    }
    cr_assert(dca_search_symmetric(s, gkl), "GKL is complement-reflection symmetric");
    gkl[5] ^= 1;
    cr_assert(!dca_search_symmetric(s, gkl));
    dca_search_destroy(s);
    int n;
    const dca_search_strategy *st = dca_search_strategies(&n);
    for (int i = 0; i < n; i++) {
        o = small(st[i].name);
        o.symmetry = "complement-reflection";
        result a = run(o, 0);
        o.threads = 1;
        result b = run(o, 0);
        cr_assert(same(&a, &b), "%s: 1 and 2 threads differ", st[i].name);
        o.symmetry = "none";
        result c = run(o, 0);
        cr_assert(!same(&a, &c), "%s: the symmetry changed nothing", st[i].name);
        for (int g = 0; g <= 4; g++) {
            const uint8_t *t = g < 4 ? a.rules + g * 128 : a.final_rule;
            for (int p = 0; p < 128; p++)
                cr_assert_neq(t[p], t[rev7c(p)], "%s: generation %d, pattern %d", st[i].name,
                              g, p);
        }
    }
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
}

Test(search, symmetry_needs_a_mirrored_neighbourhood)
{
    dca_lattice lat = {.dims = 1, .shape = {59, 1}};
    dca_nbhd *nb = t_nbhd("offsets:-1,0,1,2", 1);
    dca_rule *rule = t_rule(nb, 2, DCA_MODE_BINARY);
    dca_search_options o = small("ga");
    o.symmetry = "complement-reflection";
    dca_search *s;
    dca_error e;
    cr_assert_eq(dca_search_create(&lat, rule, &o, &s, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "own mirror image; its offset 2 has"), "%s", e.msg);
    o.symmetry = "mirror";
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
    nb = t_nbhd("offsets:-1,1", 1);
    rule = t_rule(nb, 2, DCA_MODE_BINARY);
    cr_assert_eq(dca_search_create(&lat, rule, &o, &s, &e), DCA_ERR_ARG);
    o.symmetry = "complement-reflection";
    cr_assert_eq(dca_search_create(&lat, rule, &o, &s, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "own mirror complement"), "%s", e.msg);
    dca_rule_destroy(rule);
    dca_nbhd_destroy(nb);
}
