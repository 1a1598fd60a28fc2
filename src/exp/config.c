/* Configuration loading: schema table, INI parsing with line numbers,
 * overrides, per-key checks and cross-key checks. */
#include "config.h"
#include "search.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dca/optim.h"
#include "dca/task.h"
#include "text.h"

/* ---- schema --------------------------------------------------------------
 * A check parses value into cfg or writes why it is wrong ("expected ...").
 * Checks run in table order, so a check may read fields of earlier keys. */
typedef bool (*check_fn)(dca_config *cfg, const char *value, char *why, size_t len);

typedef struct base_key {
    const char *section, *key, *def;
    check_fn check;
    const char *doc;
} base_key;

/* A schema key: a base key, or an optimiser parameter (check NULL). */
typedef struct key_def {
    const char *section, *key, *def;
    check_fn check;
    const char *doc;
    int optim; /* optimiser parameter keys: the slot in cfg->optim_values; -1 otherwise */
} key_def;

static bool check_size(dca_config *c, const char *v, char *why, size_t len)
{
    dca_error e;
    if (dca_lattice_parse(v, &c->lattice, &e)) {
        snprintf(why, len, "%s", e.msg);
        return false;
    }
    return true;
}

static bool parse_count(const char *v, int64_t lo, int64_t hi, int64_t *out, char *why, size_t len,
                        const char *what)
{
    int64_t x;
    if (!dca_parse_i64(v, &x) || x < lo || x > hi) {
        snprintf(why, len, "expected %s: a whole number from %lld to %lld", what, (long long)lo,
                 (long long)hi);
        return false;
    }
    *out = x;
    return true;
}

/* One of two words: *is_a says whether it was a. */
static bool parse_either(const char *v, const char *a, const char *b, bool *is_a, char *why,
                         size_t len)
{
    if (strcmp(v, a) == 0 || strcmp(v, b) == 0) {
        *is_a = strcmp(v, a) == 0;
        return true;
    }
    snprintf(why, len, "expected %s or %s", a, b);
    return false;
}

static bool check_states(dca_config *c, const char *v, char *why, size_t len)
{
    int64_t k;
    if (!parse_count(v, 2, 65536, &k, why, len, "the number of states"))
        return false;
    c->states = (int)k;
    return true;
}

static bool check_nonempty(const char *v, char *why, size_t len)
{
    if (!*v) {
        snprintf(why, len, "expected a value");
        return false;
    }
    return true;
}

static bool check_neighborhood(dca_config *c, const char *v, char *why, size_t len)
{
    c->neighborhood = v;
    return check_nonempty(v, why, len);
}

static bool check_rule_kind(dca_config *c, const char *v, char *why, size_t len)
{
    c->rule_kind = v;
    if (strcmp(v, "table") == 0 || strcmp(v, "outer-totalistic") == 0)
        return true;
    snprintf(why, len, "expected table or outer-totalistic");
    return false;
}

static bool check_mode(dca_config *c, const char *v, char *why, size_t len)
{
    if (strcmp(v, "auto") == 0)
        c->mode = c->states == 2 ? DCA_MODE_BINARY : DCA_MODE_SOFTMAX;
    else if (strcmp(v, "binary") == 0)
        c->mode = DCA_MODE_BINARY;
    else if (strcmp(v, "softmax") == 0)
        c->mode = DCA_MODE_SOFTMAX;
    else {
        snprintf(why, len, "expected auto, binary or softmax");
        return false;
    }
    if (c->rule_kind && strcmp(c->rule_kind, "outer-totalistic") == 0 &&
        (c->mode != DCA_MODE_BINARY || c->states != 2)) {
        snprintf(why, len, "outer-totalistic rules are binary: they need states = 2 and mode = "
                 "binary (or auto)");
        return false;
    }
    if (c->mode == DCA_MODE_BINARY && c->states != 2) {
        snprintf(why, len, "binary mode needs [lattice] states = 2 (it is %d); use softmax",
                 c->states);
        return false;
    }
    return true;
}

static bool check_weights(dca_config *c, const char *v, char *why, size_t len)
{
    c->weights = v;
    return check_nonempty(v, why, len);
}

static bool parse_seed(const char *v, uint64_t *out, char *why, size_t len)
{
    if (!dca_parse_u64(v, out)) {
        snprintf(why, len, "expected a seed: a whole number from 0 to 18446744073709551615");
        return false;
    }
    return true;
}

static bool check_rule_seed(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_seed(v, &c->rule_seed, why, len);
}

static bool check_configurations(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 1, (int64_t)1 << 40, &c->configurations, why, len,
                       "the number of configurations");
}

static bool check_init_kind(dca_config *c, const char *v, char *why, size_t len)
{
    c->init_kind = v;
    return check_nonempty(v, why, len);
}

static bool check_eps(dca_config *c, const char *v, char *why, size_t len)
{
    double e, hi = (double)(c->states - 1) / c->states;
    if (!dca_parse_double(v, &e) || !(e >= 0.0 && e < hi)) {
        snprintf(why, len, "expected eps in [0, %g) for %d states (0 keeps states exact)", hi,
                 c->states);
        return false;
    }
    c->eps = e;
    return true;
}

static bool check_init_seed(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_seed(v, &c->init_seed, why, len);
}

static bool check_steps(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 0, (int64_t)1 << 40, &c->steps, why, len, "the number of steps");
}

static bool check_gradients(dca_config *c, const char *v, char *why, size_t len)
{
    c->gradients = v;
    if (strcmp(v, "none") == 0 || strcmp(v, "forward") == 0 || strcmp(v, "reverse") == 0)
        return true;
    snprintf(why, len, "expected none, forward or reverse");
    return false;
}

static bool check_precision(dca_config *c, const char *v, char *why, size_t len)
{
    if (strcmp(v, "float64") == 0 || strcmp(v, "float32") == 0) {
        c->precision = v[5] == '3' ? DCA_FLOAT32 : DCA_FLOAT64;
        return true;
    }
    snprintf(why, len, "expected float64 or float32");
    return false;
}

static bool check_bit_parallel(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_either(v, "auto", "no", &c->bit_parallel, why, len);
}

static bool check_kernel(dca_config *c, const char *v, char *why, size_t len)
{
    static const struct {
        const char *name;
        dca_kernel k;
    } ks[] = {{"auto", DCA_KERNEL_AUTO},
              {"fused", DCA_KERNEL_FUSED},
              {"blas", DCA_KERNEL_BLAS},
              {"reference", DCA_KERNEL_REFERENCE},
              {"totalistic", DCA_KERNEL_TOTALISTIC}};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
        if (strcmp(v, ks[i].name) == 0) {
            c->kernel = ks[i].k;
            return true;
        }
    snprintf(why, len, "expected auto, fused, blas, reference or totalistic");
    return false;
}

/* `word` (stored as 0) or a count from 1. */
static bool parse_count_or(const char *v, const char *word, int64_t *out, char *why, size_t len,
                           const char *what)
{
    if (strcmp(v, word) == 0) {
        *out = 0;
        return true;
    }
    return parse_count(v, 1, (int64_t)1 << 40, out, why, len, what);
}

static bool check_tile(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count_or(v, "auto", &c->tile, why, len, "auto or the cells of a work unit");
}

static bool check_tune(dca_config *c, const char *v, char *why, size_t len)
{
    bool no;
    if (!parse_either(v, "no", "measure", &no, why, len))
        return false;
    c->tune = !no;
    return true;
}

static bool check_split(dca_config *c, const char *v, char *why, size_t len)
{
    bool whole;
    if (!parse_either(v, "configurations", "lattice", &whole, why, len))
        return false;
    c->split_lattice = !whole;
    return true;
}

static bool check_record(dca_config *c, const char *v, char *why, size_t len)
{
    c->record_values = false;
    c->record_gradients = false;
    char buf[256];
    if (strlen(v) >= sizeof buf) {
        snprintf(why, len, "expected values, gradients or none, separated by commas");
        return false;
    }
    strcpy(buf, v);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        dca_trim(tok);
        if (strcmp(tok, "values") == 0)
            c->record_values = true;
        else if (strcmp(tok, "none") == 0)
            continue;
        else if (strcmp(tok, "gradients") == 0) {
            if (strcmp(c->gradients, "forward") != 0) {
                snprintf(why, len, "recording gradients needs [run] gradients = forward "
                                   "(gradient diagrams come from forward mode)");
                return false;
            }
            c->record_gradients = true;
        } else {
            snprintf(why, len, "unknown item '%s': expected values, gradients or none", tok);
            return false;
        }
    }
    return true;
}

static bool check_record_configurations(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count_or(v, "all", &c->record_configurations, why, len,
                          "'all' or the number of configurations to record");
}

static bool check_record_every(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 1, (int64_t)1 << 40, &c->record_every, why, len, "a step stride");
}

/* A size in bytes: a whole number with an optional unit B, KiB, MiB, GiB
 * or TiB; 0 is "never keep every state" (-1). */
static bool check_reverse_memory(dca_config *c, const char *v, char *why, size_t len)
{
    static const struct {
        const char *unit;
        int shift;
    } units[] = {{"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
    char *end;
    errno = 0;
    const long long n = strtoll(v, &end, 10);
    for (size_t i = 0; end != v && errno == 0 && n >= 0 && i < sizeof units / sizeof *units; i++)
        if (strcmp(end, units[i].unit) == 0 && n <= (INT64_MAX >> units[i].shift)) {
            c->reverse_memory = n == 0 ? -1 : (int64_t)n << units[i].shift;
            return true;
        }
    snprintf(why, len, "expected a size: a whole number of bytes, or with a unit (KiB, MiB, "
                       "GiB, TiB), e.g. 256MiB; 0 always takes checkpoints");
    return false;
}

static bool check_output_file(dca_config *c, const char *v, char *why, size_t len)
{
    c->output_file = v;
    return check_nonempty(v, why, len);
}

static bool check_output_rle(dca_config *c, const char *v, char *why, size_t len)
{
    c->output_rle = strcmp(v, "none") == 0 ? NULL : v;
    return check_nonempty(v, why, len);
}

static bool parse_compression(const char *v, int *out, char *why, size_t len)
{
    const char *rest;
    int64_t level;
    if (strcmp(v, "none") == 0) {
        *out = 0;
        return true;
    }
    if ((rest = dca_strip_prefix(v, "gzip:")) && dca_parse_i64(rest, &level) && level >= 1 &&
        level <= 9) {
        *out = (int)level;
        return true;
    }
    snprintf(why, len, "expected none or gzip:LEVEL with LEVEL 1..9");
    return false;
}

static bool check_compression(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_compression(v, &c->gzip, why, len);
}

static bool check_gradient_compression(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_compression(v, &c->gradient_gzip, why, len);
}

static bool check_target(dca_config *c, const char *v, char *why, size_t len)
{
    c->target = v;
    if (strcmp(v, "none") == 0)
        return true;
    return dca_target_valid(v, why, len);
}

static bool check_eval_samples(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 1, (int64_t)1 << 40, &c->eval_samples, why, len, "a number of samples");
}

static bool check_eval_steps(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 0, (int64_t)1 << 40, &c->eval_steps, why, len,
                       "a step limit (0: twice the cell count)");
}

static bool check_eval_kind(dca_config *c, const char *v, char *why, size_t len)
{
    c->eval_kind = v;
    double p;
    const char *rest = dca_strip_prefix(v, "bernoulli:");
    if (strcmp(v, "uniform-density") == 0 ||
        (rest && dca_parse_double(rest, &p) && p >= 0.0 && p <= 1.0))
        return true;
    snprintf(why, len, "expected bernoulli:P (P in [0, 1]) or uniform-density");
    return false;
}

static bool check_eval_seed(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_seed(v, &c->eval_seed, why, len);
}

static bool check_optim_seed(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_seed(v, &c->optim_seed, why, len);
}

static bool check_method(dca_config *c, const char *v, char *why, size_t len)
{
    c->method = v;
    if (dca_optim_type_find(v))
        return true;
    snprintf(why, len, "expected %s", dca_optim_names());
    return false;
}

static bool check_iterations(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 0, (int64_t)1 << 40, &c->iterations, why, len, "a number of iterations");
}

static bool check_minibatch(dca_config *c, const char *v, char *why, size_t len)
{
    if (strcmp(v, "all") == 0) {
        c->minibatch = 0;
        return true;
    }
    return parse_count(v, 1, (int64_t)1 << 40, &c->minibatch, why, len,
                       "'all' or a number of configurations per iteration");
}

static bool check_fresh(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_either(v, "yes", "no", &c->fresh, why, len);
}

static bool check_checkpoint_every(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 1, (int64_t)1 << 40, &c->checkpoint_every, why, len,
                       "a number of iterations");
}

/* [search] */
#define COUNT_KEY(fn, field, lo, what)                                                        \
    static bool fn(dca_config *c, const char *v, char *why, size_t len)                       \
    {                                                                                         \
        return parse_count(v, lo, (int64_t)1 << 40, &c->search.field, why, len, what);        \
    }
COUNT_KEY(check_search_runs, runs, 1, "a number of runs")
COUNT_KEY(check_search_generations, generations, 1, "a number of generations")
COUNT_KEY(check_search_population, population, 2, "a population size (>= 2)")
COUNT_KEY(check_search_elite, elite, 1, "a number of elite rules (>= 1)")
COUNT_KEY(check_search_mutations, mutations, 0, "a number of mutations per offspring")
COUNT_KEY(check_search_steps, steps, 0, "a step limit (0: twice the cell count)")
COUNT_KEY(check_search_test_samples, test_samples, 1, "a number of test configurations")
COUNT_KEY(check_search_test_every, test_every, 1, "a number of generations")
COUNT_KEY(check_search_gradient_steps, gradient_steps, 1, "a number of steps (>= 1)")
COUNT_KEY(check_search_gradient_configurations, gradient_configurations, 1,
          "a number of configurations (>= 1)")
#undef COUNT_KEY

static bool check_search_configurations(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 1, 4096, &c->search.configurations, why, len,
                       "a number of configurations per generation (1..4096)");
}

static bool check_search_strategy(dca_config *c, const char *v, char *why, size_t len)
{
    c->search.strategy = v;
    if (dca_search_strategy_find(v))
        return true;
    snprintf(why, len, "expected %s", dca_search_strategy_names());
    return false;
}

/* A configuration kind as [eval] kind accepts it, stored in *to. */
static bool check_kind_into(dca_config *c, const char *v, const char **to, char *why, size_t len)
{
    const char *saved = c->eval_kind;
    bool ok = check_eval_kind(c, v, why, len);
    c->eval_kind = saved;
    *to = v;
    return ok;
}

static bool check_search_kind(dca_config *c, const char *v, char *why, size_t len)
{
    return check_kind_into(c, v, &c->search.kind, why, len);
}

static bool check_search_test_kind(dca_config *c, const char *v, char *why, size_t len)
{
    return check_kind_into(c, v, &c->search.test_kind, why, len);
}

static bool check_search_symmetry(dca_config *c, const char *v, char *why, size_t len)
{
    c->search.symmetry = v;
    if (strcmp(v, "none") == 0 || strcmp(v, "complement-reflection") == 0)
        return true;
    snprintf(why, len, "expected none or complement-reflection");
    return false;
}

static bool check_search_seed(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_seed(v, &c->search.seed, why, len);
}

static bool check_search_test_seed(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_seed(v, &c->search.test_seed, why, len);
}

/* A finite number in [lo, hi] (open at lo when lo_open). */
static bool parse_real(const char *v, double lo, bool lo_open, double hi, double *out, char *why,
                       size_t len)
{
    double x;
    if (!dca_parse_double(v, &x) || !isfinite(x) || x < lo || (lo_open && x == lo) || x > hi) {
        snprintf(why, len, "expected a number in %c%g, %g]", lo_open ? '(' : '[', lo, hi);
        return false;
    }
    *out = x;
    return true;
}

#define REAL_KEY(fn, field, lo, open, hi)                                                     \
    static bool fn(dca_config *c, const char *v, char *why, size_t len)                       \
    {                                                                                         \
        return parse_real(v, lo, open, hi, &c->field, why, len);                              \
    }
REAL_KEY(check_tolerance, tolerance, 0, false, 1e300)
REAL_KEY(check_time_limit, time_limit, 0, false, 1e300)
REAL_KEY(check_search_gradient_logit, search.gradient_logit, 0, true, 50)
REAL_KEY(check_search_temperature_start, search.temperature_start, 0, true, 1e300)
REAL_KEY(check_search_temperature_end, search.temperature_end, 0, true, 1e300)
REAL_KEY(check_search_nes_rate, search.nes_rate, 0, true, 1e300)
REAL_KEY(check_search_ic_sigma, search.ic_sigma, 0, false, 1)
REAL_KEY(check_model_threshold, learner.robustness_threshold, 0, false, 1e300)
REAL_KEY(check_model_dt, learner.dt, 0, true, 1e300)
REAL_KEY(check_model_interval, learner.interval, 0, true, 1e300)
REAL_KEY(check_model_r0, learner.r0, 0, false, 1)
REAL_KEY(check_model_gamma, learner.gamma, 0, false, 1e300)
REAL_KEY(check_model_w0, learner.w0, 0, false, 1e300)
REAL_KEY(check_ensemble_success, learner.success, 0, false, 1e300)
REAL_KEY(check_model_beta, slm.beta, 0, false, 1)
REAL_KEY(check_data_beta_mean, slm.beta_mean, 0, false, 1)
REAL_KEY(check_data_beta_std, slm.beta_std, 0, false, 1)
REAL_KEY(check_abc_accept, slm.abc_accept, 0, true, 1)
REAL_KEY(check_model_temperature, slm.temperature, 0, true, 1e300)
REAL_KEY(check_model_target_msd, slm.target_msd, 0, false, 1e300)
REAL_KEY(check_model_lambda_a, slm.lambda.a, 0, false, 1e300)
REAL_KEY(check_model_lambda_b, slm.lambda.b, 0, false, 1e300)
REAL_KEY(check_model_lambda_c, slm.lambda.c, 0, false, 1e300)
REAL_KEY(check_model_lambda_d, slm.lambda.d, 0, false, 1e300)
REAL_KEY(check_data_blur, slm.blur, 0, false, 1000)
REAL_KEY(check_model_D_A, slm.mk.D_A, 0, true, 1)
REAL_KEY(check_model_D_B, slm.mk.D_B, 0, true, 1)
REAL_KEY(check_model_k1, slm.mk.k1, 0, false, 1e300)
REAL_KEY(check_model_k2, slm.mk.k2, 0, false, 1e300)
REAL_KEY(check_model_k3, slm.mk.k3, 0, false, 1e300)
REAL_KEY(check_model_tau, slm.tau, 0, true, 1e300)
REAL_KEY(check_data_noise, slm.noise, 0, false, 1000)
#undef REAL_KEY

static bool check_model_surrogate(dca_config *c, const char *v, char *why, size_t len)
{
    dca_error err;
    if (!dca_ste_parse(v, &c->slm.ste, &err))
        return true;
    snprintf(why, len, "expected identity or sigmoid:W (W > 0)");
    return false;
}

static bool check_model_sampling(dca_config *c, const char *v, char *why, size_t len)
{
    bool boundary;
    if (!parse_either(v, "boundary", "uniform", &boundary, why, len))
        return false;
    c->slm.sampling = !boundary;
    return true;
}

static bool check_model_estimator(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_either(v, "score", "ste", &c->slm.score, why, len);
}

static bool check_model_lattices(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 2, (int64_t)1 << 30, &c->slm.lattices, why, len,
                       "a number of lattices per iteration (2 or more)");
}

static bool check_model_sampling_steps(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 1, (int64_t)1 << 40, &c->slm.sampling_steps, why, len,
                       "a number of sampling steps");
}

static bool check_data_mask(dca_config *c, const char *v, char *why, size_t len)
{
    c->slm.mask = v;
    const char *r = dca_strip_prefix(v, "file:");
    const char *colon = r ? strrchr(r, ':') : NULL;
    if (strcmp(v, "none") == 0 || (colon && colon > r && colon[1]))
        return true;
    snprintf(why, len, "expected none or file:PATH.h5:DATASET");
    return false;
}

static bool check_data_cells(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 0, (int64_t)1 << 20, &c->slm.cells, why, len, "a number of cells");
}

static bool check_data_cell_radius(dca_config *c, const char *v, char *why, size_t len)
{
    double a, b;
    char tail;
    if (sscanf(v, "%lf:%lf%c", &a, &b, &tail) == 2 && a > 0 && b >= a && isfinite(b)) {
        c->slm.rmin = a, c->slm.rmax = b;
        return true;
    }
    snprintf(why, len, "expected MIN:MAX semi-axes in pixels, 0 < MIN <= MAX");
    return false;
}

static bool check_model_N(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 3, 65535, &c->slm.particles, why, len,
                       "a number of particles per cell, 3..65535");
}

static bool check_model_offset_estimator(dca_config *c, const char *v, char *why, size_t len)
{
    bool ste;
    if (!parse_either(v, "ste", "score", &ste, why, len))
        return false;
    c->slm.offset_score = !ste;
    return true;
}

static bool check_model_fit(dca_config *c, const char *v, char *why, size_t len)
{
    c->slm.fit = v;
    if (strcmp(v, "all") == 0 || strcmp(v, "k") == 0 || strcmp(v, "D") == 0)
        return true;
    snprintf(why, len, "expected all (D_A, D_B, k1, k2, k3), k (the rates; D fixed) or D (the "
                       "diffusion coefficients; k fixed)");
    return false;
}

#define STEPS_KEY(fn, field, lo, what)                                                        \
    static bool fn(dca_config *c, const char *v, char *why, size_t len)                       \
    {                                                                                         \
        return parse_count(v, lo, (int64_t)1 << 40, &c->slm.field, why, len, what);           \
    }
STEPS_KEY(check_model_stability_steps, stability_steps, 1, "a number of steps")
STEPS_KEY(check_model_test_every, test_every, 0, "a number of iterations (0: no tests)")
STEPS_KEY(check_model_test_steps, test_steps, 1, "a number of steps")
STEPS_KEY(check_data_pattern_steps, pattern_steps, 1, "a number of steps")
#undef STEPS_KEY

static bool check_data_reference(dca_config *c, const char *v, char *why, size_t len)
{
    double *x = NULL;
    int64_t n = 0, bad = -1;
    bool ok = dca_parse_double_list(v, &x, &n, &bad) && n == 5;
    if (ok)
        c->slm.mk_reference = (dca_mk_params){x[0], x[1], x[2], x[3], x[4]};
    free(x);
    if (!ok)
        snprintf(why, len, "expected five numbers D_A,D_B,k1,k2,k3");
    return ok;
}

static bool check_data_source(dca_config *c, const char *v, char *why, size_t len)
{
    c->slm.source = v;
    const char *r = dca_strip_prefix(v, "file:");
    if (strcmp(v, "simulate") == 0)
        return true;
    const char *colon = r ? strrchr(r, ':') : NULL;
    if (colon && colon > r && colon[1])
        return true;
    snprintf(why, len, "expected simulate or file:PATH.h5:DATASET");
    return false;
}

static bool check_data_simulations(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 1, (int64_t)1 << 30, &c->slm.simulations, why, len,
                       "a number of simulations");
}

static bool check_data_states(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 2, (int64_t)1 << 30, &c->slm.states, why, len,
                       "a number of states per simulation (2 or more)");
}

static bool check_data_seed(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_seed(v, &c->slm.data_seed, why, len);
}

static bool check_abc_candidates(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 0, (int64_t)1 << 30, &c->slm.abc_candidates, why, len,
                       "a number of candidates (0: no ABC)");
}

static bool check_abc_simulations(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 1, (int64_t)1 << 30, &c->slm.abc_simulations, why, len,
                       "a number of simulations per candidate");
}

static bool check_abc_prior(dca_config *c, const char *v, char *why, size_t len)
{
    double a, b;
    char tail;
    if (sscanf(v, "%lf:%lf%c", &a, &b, &tail) == 2 && a > 0 && b > a && isfinite(b)) {
        c->slm.abc_tmin = a, c->slm.abc_tmax = b;
        return true;
    }
    snprintf(why, len, "expected MIN:MAX temperatures, 0 < MIN < MAX");
    return false;
}

static bool check_abc_seed(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_seed(v, &c->slm.abc_seed, why, len);
}

static bool check_loss(dca_config *c, const char *v, char *why, size_t len)
{
    c->loss = v;
    if (dca_loss_lookup(v))
        return true;
    snprintf(why, len, "expected %s", dca_loss_names());
    return false;
}


/* [model] and [ensemble] (learner.h) */
static bool check_model_kind(dca_config *c, const char *v, char *why, size_t len)
{
    c->learner.kind_name = v;
    if (strcmp(v, "rule") == 0)
        c->learner.kind = DCA_MODEL_RULE;
    else if (strcmp(v, "ffnet") == 0)
        c->learner.kind = DCA_MODEL_FFNET;
    else if (strcmp(v, "kuramoto") == 0)
        c->learner.kind = DCA_MODEL_KURAMOTO;
    else if (strcmp(v, "si") == 0)
        c->learner.kind = DCA_MODEL_SI;
    else if (strcmp(v, "potts") == 0)
        c->learner.kind = DCA_MODEL_POTTS;
    else if (strcmp(v, "segment") == 0)
        c->learner.kind = DCA_MODEL_SEGMENT;
    else if (strcmp(v, "mk") == 0)
        c->learner.kind = DCA_MODEL_MK;
    else {
        snprintf(why, len, "expected rule, ffnet, kuramoto, si, potts, segment or mk");
        return false;
    }
    return true;
}

static bool check_model_layers(dca_config *c, const char *v, char *why, size_t len)
{
    double *x = NULL;
    int64_t n = 0, bad = -1;
    bool ok = dca_parse_double_list(v, &x, &n, &bad) && n >= 2 && n <= DCA_LEARNER_MAX_LAYERS;
    for (int64_t i = 0; ok && i < n; i++)
        ok = x[i] == floor(x[i]) && x[i] >= 1 && x[i] <= (double)(1 << 24);
    for (int64_t i = 0; ok && i < n; i++)
        c->learner.layers[i] = (int64_t)x[i];
    c->learner.n_layers = ok ? (int)n : 0;
    free(x);
    if (!ok)
        snprintf(why, len,
                 "expected 2 to %d unit counts (1..%d), inputs first, e.g. 35,10,5",
                 DCA_LEARNER_MAX_LAYERS, 1 << 24);
    return ok;
}

static bool check_model_output(dca_config *c, const char *v, char *why, size_t len)
{
    c->learner.linear_output = strcmp(v, "linear") == 0;
    if (c->learner.linear_output || strcmp(v, "sigmoid") == 0)
        return true;
    snprintf(why, len, "expected sigmoid or linear");
    return false;
}

static bool check_model_patterns(dca_config *c, const char *v, char *why, size_t len)
{
    c->learner.patterns = v;
    const char *r;
    if (strcmp(v, "vowels") == 0 || strcmp(v, "vowels+digits") == 0 || strcmp(v, "xor") == 0 ||
        ((r = dca_strip_prefix(v, "file:")) && *r))
        return true;
    int64_t n;
    if ((r = dca_strip_prefix(v, "sin:")) && dca_parse_i64(r, &n) && n >= 2 && n <= 1 << 24)
        return true;
    snprintf(why, len, "expected vowels, vowels+digits, xor, sin:COUNT (2..%d) or file:PATH.txt",
             1 << 24);
    return false;
}

/* "uniform:A", "normal:STD" (A, STD > 0), "constant:C"; "auto" when allowed. */
static bool parse_draw_spec(const char *v, bool allow_auto, bool allow_constant, char *why,
                            size_t len)
{
    const char *r;
    double x;
    if (allow_auto && strcmp(v, "auto") == 0)
        return true;
    if (((r = dca_strip_prefix(v, "uniform:")) || (r = dca_strip_prefix(v, "normal:"))) &&
        dca_parse_double(r, &x) && isfinite(x) && x > 0)
        return true;
    if (allow_constant && (r = dca_strip_prefix(v, "constant:")) && dca_parse_double(r, &x) &&
        isfinite(x))
        return true;
    snprintf(why, len, "expected %suniform:A, normal:STD%s (A, STD > 0)",
             allow_auto ? "auto, " : "", allow_constant ? " or constant:C" : "");
    return false;
}

static bool check_model_weights(dca_config *c, const char *v, char *why, size_t len)
{
    c->learner.weights = v;
    return parse_draw_spec(v, true, true, why, len);
}

static bool check_model_bias(dca_config *c, const char *v, char *why, size_t len)
{
    c->learner.bias = v;
    if (strcmp(v, "as-weights") == 0 || strcmp(v, "zeros") == 0 || strcmp(v, "fan-in") == 0)
        return true;
    snprintf(why, len, "expected as-weights, zeros or fan-in");
    return false;
}

static bool check_model_omega(dca_config *c, const char *v, char *why, size_t len)
{
    c->learner.omega = v;
    const char *r;
    double x;
    if ((r = dca_strip_prefix(v, "spread:")) && dca_parse_double(r, &x) && isfinite(x) && x >= 0)
        return true;
    if ((r = dca_strip_prefix(v, "list:"))) {
        double *list = NULL;
        int64_t n = 0, bad = -1;
        bool ok = dca_parse_double_list(r, &list, &n, &bad);
        free(list);
        if (ok && n == c->learner.oscillators)
            return true;
        snprintf(why, len, "list: needs one frequency per oscillator (%lld), got %s",
                 (long long)c->learner.oscillators, ok ? "another count" : "a bad number");
        return false;
    }
    if (parse_draw_spec(v, false, false, why, len))
        return true;
    snprintf(why, len, "expected spread:A (evenly spaced in [-A, A]), uniform:A, normal:STD or "
                       "list:W1,W2,...");
    return false;
}

static bool check_model_seed(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_seed(v, &c->learner.seed, why, len);
}

static bool check_model_oscillators(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 2, 100000, &c->learner.oscillators, why, len,
                       "a number of oscillators");
}

static bool check_ensemble_members(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 1, (int64_t)1 << 30, &c->learner.members, why, len,
                       "a number of members");
}

static bool check_ensemble_record_every(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 1, (int64_t)1 << 40, &c->learner.record_every, why, len,
                       "a number of iterations");
}

static bool check_ensemble_trace_members(dca_config *c, const char *v, char *why, size_t len)
{
    return parse_count(v, 0, (int64_t)1 << 30, &c->learner.trace_members, why, len,
                       "a number of members");
}

/* "none" or "SECTION.KEY: V1 V2 ..." (values checked per grid point). */
static bool check_sweep_into(const char *v, const char **to, char *why, size_t len)
{
    *to = v;
    if (strcmp(v, "none") == 0)
        return true;
    const char *colon = strchr(v, ':'), *dot = strchr(v, '.');
    if (colon && dot && dot < colon) {
        const char *r = colon + 1;
        while (*r == ' ' || *r == '\t')
            r++;
        if (*r)
            return true;
    }
    snprintf(why, len, "expected none or SECTION.KEY: V1 V2 ... (values separated by spaces), "
                       "e.g. optimizer.epsilon: 0.1 0.3 1");
    return false;
}

static bool check_ensemble_sweep(dca_config *c, const char *v, char *why, size_t len)
{
    return check_sweep_into(v, &c->learner.sweep[0], why, len);
}

static bool check_ensemble_sweep2(dca_config *c, const char *v, char *why, size_t len)
{
    return check_sweep_into(v, &c->learner.sweep[1], why, len);
}

/* The default output file is derived from the configuration's name. */
#define DEFAULT_OUTPUT "runs/<config name>.h5"

static const base_key base_schema[] = {
    {"lattice", "size", "149", check_size,
     "Cells: N for a ring of N cells, HxW for a torus of H rows and W columns."},
    {"lattice", "states", "2", check_states, "Number of cell states k (2..65536)."},
    {"lattice", "neighborhood", "radius:1", check_neighborhood,
     "radius:R (1D, offsets -R..R), moore:R or vonneumann:R (2D, row-major (dy,dx)), "
     "offsets:-1,0,1 or offsets:(-1,0),(0,0),(1,0). The first offset is the most significant "
     "digit of the pattern index."},
    {"rule", "kind", "table", check_rule_kind,
     "table (a full pattern table, k^m entries) or outer-totalistic (binary, Life-like: rho "
     "depends on the centre state and the number of live neighbours; 2m weights)."},
    {"rule", "mode", "auto", check_mode,
     "binary (k = 2, sigmoid, one weight per pattern), softmax (k weights per pattern), or auto "
     "(binary when k = 2, else softmax)."},
    {"rule", "weights", "normal:1", check_weights,
     "normal:STD, zeros, list:W0,W1,..., probabilities:P0,P1,..., wolfram:N, hex:DIGITS, "
     "mix:A,B,ALPHA, life:Bxx/Syy, file:PATH.h5:/DATASET."},
    {"rule", "seed", "1", check_rule_seed, "Seed for normal: weights."},
    {"init", "configurations", "1", check_configurations,
     "Number of initial configurations B (a file: source sets it when this key is not given)."},
    {"init", "kind", "bernoulli:0.5", check_init_kind,
     "bernoulli:P, uniform-density, uniform-states, single, rle:PATH.rle, file:PATH.h5:/DATASET."},
    {"init", "eps", "1e-3", check_eps,
     "A certain state becomes 1-eps, the others share eps: x -> (1 - eps k/(k-1)) x + "
     "eps/(k-1). 0 keeps 0/1 states exact."},
    {"init", "seed", "1", check_init_seed, "Seed for random initial configurations."},
    {"run", "steps", "100", check_steps, "Number of steps T."},
    {"run", "gradients", "none", check_gradients,
     "none, forward (tangents d x_t / d w: gradient diagrams, and the loss gradient) or reverse "
     "(adjoints: the loss gradient at the cost of a few value steps; needs a [task])."},
    {"run", "precision", "float64", check_precision,
     "float64 or float32: the arithmetic of value steps and reverse-mode gradients (dca run, dca "
     "train). float32 is 1.5-2x faster on table rules, with relative errors of about 1e-6 per "
     "step (docs/performance.md); states are still passed between steps and written as float64. "
     "Table and outer-totalistic rules, not with gradients = forward; dca gradcheck always "
     "checks float64."},
    {"run", "bit-parallel", "auto", check_bit_parallel,
     "dca run: auto steps a hard binary rule on exact 0/1 states (values only, no [task]) with "
     "the bit-parallel engine, 64 cells per machine word; no keeps the soft engine. Both give "
     "the same values; the bit-parallel one is about 60x faster on Life soups."},
    {"run", "split", "configurations", check_split,
     "dca run on several MPI ranks: configurations gives each rank a share of the batch; "
     "lattice gives each rank a part of every configuration (domain decomposition with halo "
     "exchange, for lattices larger than one process's memory; values only). One process "
     "ignores it."},
    {"run", "record", "values", check_record,
     "What to store: values and/or gradients (forward mode), or none."},
    {"run", "record-configurations", "all", check_record_configurations,
     "How many configurations (the first G) to record: all or G."},
    {"run", "record-every", "1", check_record_every,
     "Record steps 0, s, 2s, ... and always the final step."},
    {"run", "kernel", "auto", check_kernel,
     "The kernel of value steps and gradients: auto (the per-shape choice: fused for binary "
     "tables up to 14 neighbours, BLAS otherwise, totalistic for outer-totalistic rules), "
     "fused, blas, reference or totalistic. Kernels round differently in the last bits."},
    {"run", "tile", "auto", check_tile,
     "Cells per work unit of the plan: auto (chosen from the shape) or a number. The tile "
     "fixes the order of the rule gradient's sums, so it changes the last bits of gradients."},
    {"run", "tune", "no", check_tune,
     "measure: choose kernel and tile by timing the candidates on this run's shape at plan "
     "time (dca_sim_tune, about 20 ms a candidate); needs kernel = auto and tile = auto. The "
     "choice is recorded (/run@kernel, /run@tile_cells, /run@tuned) to repeat the run bit for "
     "bit by setting kernel and tile."},
    {"run", "reverse-memory", "256MiB", check_reverse_memory,
     "Reverse mode (dca run, dca train): keep every state of the trajectory when they need at "
     "most this much memory, so that the backward sweep recomputes nothing; otherwise (or with "
     "0) keep checkpoints every ceil(sqrt(T)) steps and recompute the segments in between "
     "(about one more value step per step). The results are the same bit for bit."},
    {"output", "file", DEFAULT_OUTPUT, check_output_file,
     "Run file to write (relative to the working directory); -o overrides it."},
    {"output", "rle", "none", check_output_rle,
     "dca run: also write the final state of configuration 0, hardened (P(1) >= 1/2 live), as "
     "a Golly RLE file at this path; none: no RLE."},
    {"output", "compression", "gzip:4", check_compression,
     "none or gzip:LEVEL (with shuffle) for recorded values."},
    {"output", "gradient-compression", "none", check_gradient_compression,
     "none or gzip:LEVEL for recorded gradient diagrams (float64 gradients barely compress)."},
    {"eval", "samples", "10000", check_eval_samples,
     "dca eval: number of random configurations."},
    {"eval", "steps", "0", check_eval_steps, "dca eval: step limit per sample (0: 2 x cells)."},
    {"eval", "kind", "bernoulli:0.5", check_eval_kind,
     "dca eval: how samples are drawn: bernoulli:P or uniform-density."},
    {"eval", "seed", "1", check_eval_seed, "dca eval: seed of the samples."},
    {"optimizer", "method", "irprop+", check_method,
     "The optimiser type, a name in the table of optimiser types (dca_optim_names(); a wrong "
     "name is refused with the list). Each method's own keys follow [optimizer] iterations "
     "(see below)."},
    {"optimizer", "iterations", "100", check_iterations, "Number of iterations."},
    {"optimizer", "tolerance", "0", check_tolerance, "Stop when the loss is at most this."},
    {"optimizer", "time-limit", "0", check_time_limit, "Stop after this many seconds (0: none)."},
    {"optimizer", "minibatch", "all", check_minibatch,
     "Configurations per iteration: all, or M drawn from the batch with the init seed."},
    {"optimizer", "fresh", "no", check_fresh,
     "yes: draw a new batch of configurations every iteration (a stream)."},
    {"optimizer", "checkpoint-every", "10", check_checkpoint_every,
     "Write the run file every this many iterations (and at the end, and on Ctrl-C)."},
    {"optimizer", "seed", "1", check_optim_seed,
     "Seed of the optimiser's noise (autonomous): draws are keyed by (seed, iteration, weight)."},
    {"search", "strategy", "ga", check_search_strategy,
     "dca search: ga, ga-gradient, coevolution, coevolution-gradient, sa, sa-gradient or nes "
     "(README: Searching rule space)."},
    {"search", "runs", "1", check_search_runs,
     "dca search: independent runs (run i draws everything from (seed, i))."},
    {"search", "generations", "100", check_search_generations,
     "dca search: generations per run (sa: blocks of population/2 iterations)."},
    {"search", "population", "100", check_search_population,
     "dca search: rules per generation (nes: samples of rho; sa: 2 x iterations per block)."},
    {"search", "elite", "20", check_search_elite,
     "dca search: rules kept unchanged each generation (ga, coevolution); also the number of "
     "elite rules tested at the last generation."},
    {"search", "mutations", "2", check_search_mutations,
     "dca search: entries flipped per offspring (ga, coevolution) or per proposal (sa)."},
    {"search", "configurations", "100", check_search_configurations,
     "dca search: fresh initial configurations per generation that score each rule (ga, nes; "
     "coevolution: the IC population; sa: per iteration)."},
    {"search", "kind", "uniform-density", check_search_kind,
     "dca search: how fitness configurations are drawn: uniform-density or bernoulli:P "
     "(coevolution draws from its evolving densities)."},
    {"search", "steps", "0", check_search_steps,
     "dca search: step limit per configuration (0: 2 x cells)."},
    {"search", "test-samples", "10000", check_search_test_samples,
     "dca search: size of the fixed test set that scores the generation's best rule."},
    {"search", "test-every", "10", check_search_test_every,
     "dca search: test the generation's best rule every this many generations (and at the "
     "last)."},
    {"search", "test-kind", "bernoulli:0.5", check_search_test_kind,
     "dca search: how test configurations are drawn (the literature's unbiased test: "
     "bernoulli:0.5)."},
    {"search", "test-seed", "2", check_search_test_seed,
     "dca search: seed of the test set (draws as dca eval's with this seed)."},
    {"search", "seed", "1", check_search_seed, "dca search: seed of every random choice."},
    {"search", "gradient-steps", "10", check_search_gradient_steps,
     "dca search, gradient strategies: steps T of the DCA run whose loss (cross-entropy "
     "against the initial majority at step T) is differentiated."},
    {"search", "gradient-configurations", "32", check_search_gradient_configurations,
     "dca search, gradient strategies: the gradient is taken over the first this many of the "
     "generation's configurations (at most [search] configurations)."},
    {"search", "gradient-logit", "2", check_search_gradient_logit,
     "dca search, gradient strategies: the hard table as weights +-this (rho = sigmoid)."},
    {"search", "temperature-start", "0.05", check_search_temperature_start,
     "dca search, sa: initial temperature, in units of fitness (fraction correct)."},
    {"search", "temperature-end", "0.001", check_search_temperature_end,
     "dca search, sa: final temperature (geometric schedule)."},
    {"search", "nes-rate", "0.1", check_search_nes_rate,
     "dca search, nes: Adam's step size on the logits theta."},
    {"search", "ic-sigma", "0.05", check_search_ic_sigma,
     "dca search, coevolution: standard deviation of an IC density's mutation."},
    {"search", "symmetry", "none", check_search_symmetry,
     "dca search: none, or complement-reflection: every rule searched maps the mirror image "
     "of a neighbourhood with 0 and 1 swapped to the opposite state (as GKL does), so only "
     "half the table is free."},
    {"model", "kind", "rule", check_model_kind,
     "rule (the cellular automaton of [lattice] and [rule]), ffnet (a feed-forward network, "
     "seeds 003/004) or kuramoto (phase oscillators, seed 003). ffnet and kuramoto are trained "
     "by dca train and checked by dca gradcheck; [ensemble] runs many of them."},
    {"model", "layers", "35,10,5", check_model_layers,
     "ffnet: units per layer, inputs first (each unit of a layer also has a threshold node fixed "
     "at 1)."},
    {"model", "output", "sigmoid", check_model_output,
     "ffnet: the output layer's activation, sigmoid or linear (hidden layers are sigmoid)."},
    {"model", "patterns", "vowels", check_model_patterns,
     "ffnet: the training set. vowels (A E I O U, 5x7 bitmaps, one-hot targets), vowels+digits "
     "(15 patterns), xor (4 patterns, 2 inputs, 1 output), sin:COUNT (sin x at COUNT points "
     "evenly spaced on [-pi, pi]) or file:PATH.txt (bitmaps as in configs/data/, one-hot "
     "targets)."},
    {"model", "weights", "auto", check_model_weights,
     "Initial weights, drawn per member: uniform:A (on [-A, A]), normal:STD or constant:C; auto: "
     "uniform:1 for ffnet, constant:w0 for kuramoto (dca default)."},
    {"model", "bias", "as-weights", check_model_bias,
     "ffnet: initial threshold weights: as-weights (drawn like the weights), zeros, or fan-in "
     "(uniform on +-1/sqrt(inputs of the unit), PyTorch's nn.Linear default)."},
    {"model", "robustness-threshold", "0", check_model_threshold,
     "ffnet: E_th. A network with one hidden unit deleted is still functional when its error is "
     "below E_th; the robustness R is the functional fraction of the N_h deletions. 0: R is not "
     "computed (it must be > 0 for [optimizer] epsilon-r and sigma-r)."},
    {"model", "oscillators", "10", check_model_oscillators, "kuramoto: N (dca default)."},
    {"model", "omega", "spread:1", check_model_omega,
     "kuramoto: natural frequencies: spread:A (evenly spaced on [-A, A], the same for every "
     "member), uniform:A or normal:STD (drawn per member) or list:W1,...,WN (dca default)."},
    {"model", "dt", "0.01", check_model_dt, "kuramoto: Euler step (dca default)."},
    {"model", "interval", "20", check_model_interval,
     "kuramoto: T, the time over which the order parameter is averaged in one learning "
     "iteration; a whole number of steps dt (dca default)."},
    {"model", "r0", "0.6", check_model_r0,
     "kuramoto: target mean order parameter; E = |rbar - r0| (dca default)."},
    {"model", "gamma", "0.1", check_model_gamma,
     "kuramoto: weight control: after every update w -= gamma (W - w0) w / W, W the mean |w| "
     "(0: off; dca default). mk: the reaction timescale gamma > 0; its default is 0.005 when "
     "[model] kind = mk."},
    {"model", "w0", "1", check_model_w0,
     "kuramoto: the weight control's target mean |w| W0, and the constant initial weight of "
     "weights = auto (dca default)."},
    {"model", "seed", "1", check_model_seed,
     "ffnet, kuramoto: seed of every member's initial weights, frequencies and phases (member m "
     "draws with index m). si: seed of the model's noise while fitting."},
    {"model", "beta", "0.2", check_model_beta,
     "si: the initial beta of the fit (the probability that one aware neighbour informs an "
     "unaware cell)."},
    {"model", "surrogate", "identity", check_model_surrogate,
     "si: the derivative the backward pass gives the Heaviside node: identity (the "
     "straight-through estimator) or sigmoid:W (s(z/W)(1 - s(z/W))/W, s the logistic "
     "function)."},
    {"model", "temperature", "0.5", check_model_temperature,
     "potts: the initial temperature T of the fit; growth is accepted with probability "
     "e^(-1/T)."},
    {"model", "target-msd", "2", check_model_target_msd,
     "potts: the target of the batch mean squared displacement; the loss is (mean MSD - "
     "target)^2."},
    {"model", "sampling", "boundary", check_model_sampling,
     "potts: where a sampling step draws its source pixel: boundary (the pixels with a Moore "
     "neighbour of the other value; the usual CPM speed-up, under which the thesis's numbers "
     "hold) or uniform (all pixels)."},
    {"model", "estimator", "score", check_model_estimator,
     "potts: the gradient that drives the fit: score (the score-function estimator with a "
     "leave-one-out baseline, unbiased) or ste (the identity straight-through estimator, as in "
     "the thesis). Both are recorded."},
    {"model", "lattices", "4000", check_model_lattices,
     "potts: lattices per iteration, each from one pixel at the centre with fresh noise."},
    {"model", "sampling-steps", "800", check_model_sampling_steps,
     "potts: sampling steps per lattice."},
    {"model", "lambda-a", "0.5", check_model_lambda_a,
     "segment: weight of the inverse-intensity term la = sum (1 - x)."},
    {"model", "lambda-b", "0.1", check_model_lambda_b,
     "segment: weight of the background-contact term lb = sum_c sum_u x_c (1 - x_u)."},
    {"model", "lambda-c", "0.1", check_model_lambda_c,
     "segment: weight of the foreground-contact term lc = sum_c sum_u (1 - x_c) x_u."},
    {"model", "lambda-d", "1.7", check_model_lambda_d,
     "segment: weight of the reconstruction term ld = sum (g - x)^2. The loss is bounded below "
     "(convex) when lambda-d > 8 (lambda-b + lambda-c)."},
    {"model", "D_A", "0.2", check_model_D_A,
     "mk: the diffusion coefficient of A (the probability that its excited layer moves), the "
     "fit's start, or its fixed value when fit = k; 0 < D_A < 1."},
    {"model", "D_B", "0.2", check_model_D_B, "mk: the same for B."},
    {"model", "k1", "0.5", check_model_k1, "mk: the rate of channels 1 and 2 (k1 = k1*)."},
    {"model", "k2", "0.5", check_model_k2, "mk: the rate of channels 3 and 4."},
    {"model", "k3", "0.5", check_model_k3, "mk: the rate of channels 5 and 6."},
    {"model", "N", "50", check_model_N, "mk: the most particles a cell holds per species."},
    {"model", "tau", "1", check_model_tau,
     "mk: the Gumbel-softmax temperature of the backward pass through the choice of the "
     "diffusion offset."},
    {"model", "offset-estimator", "ste", check_model_offset_estimator,
     "mk: the gradient in D_A and D_B: ste (Gumbel-softmax straight-through, as the thesis) or "
     "score (the score function of the offset draws with a moving-average baseline: "
     "unbiased)."},
    {"model", "fit", "all", check_model_fit,
     "mk: the fitted parameters: all (the thesis's E1), D (E2: k fixed at its values here) or "
     "k (E3: D fixed)."},
    {"model", "stability-steps", "500", check_model_stability_steps,
     "mk: tau in MSE(X_ref, X_ref+tau): the steps of one stability-fitting iteration."},
    {"model", "test-every", "200", check_model_test_every,
     "mk: run a pattern-formation test at iteration 0 and every this many iterations, and at "
     "the end (0: only at the end)."},
    {"model", "test-steps", "50000", check_model_test_steps,
     "mk: the steps of a pattern-formation test, from the uniform state with a stripe."},
    {"ensemble", "members", "1", check_ensemble_members,
     "Independent members per grid point, run side by side on the threads (member m: model "
     "draws index m, optimiser seed + m x 0x9E3779B97F4A7C15)."},
    {"ensemble", "sweep", "none", check_ensemble_sweep,
     "A grid axis: SECTION.KEY: V1 V2 ... (space-separated values of any key, e.g. "
     "optimizer.epsilon: 0.1 0.3 1 or model.layers: 1,2,1 1,8,1); none: one point."},
    {"ensemble", "sweep2", "none", check_ensemble_sweep2,
     "A second grid axis (grid points: sweep outer, sweep2 inner)."},
    {"ensemble", "record-every", "1", check_ensemble_record_every,
     "Record the loss (and robustness, order, mean weight) every this many iterations, and the "
     "final state."},
    {"ensemble", "success", "0.01", check_ensemble_success,
     "A member succeeds when its final loss is at most this (the summary's success fraction)."},
    {"ensemble", "trace-members", "1", check_ensemble_trace_members,
     "kuramoto: members per grid point whose order parameter r(t) over two intervals is stored "
     "before and after training."},
    {"data", "source", "simulate", check_data_source,
     "si: the observed trajectories: simulate (reference simulations, keys below) or "
     "file:PATH.h5:DATASET (0/1 values of shape (simulations, states, rows, columns), or "
     "(simulations, states, cells) on a ring)."},
    {"data", "simulations", "100", check_data_simulations,
     "si, simulate: reference simulations, each from one aware cell at the centre."},
    {"data", "states", "30", check_data_states,
     "si, simulate: states per simulation (states - 1 transitions each)."},
    {"data", "beta-mean", "0.5", check_data_beta_mean,
     "si, simulate: beta_t is drawn from N(beta-mean, beta-std^2) for every simulation and "
     "step, redrawn while outside [0, 1]."},
    {"data", "beta-std", "0.1", check_data_beta_std, "si, simulate: see beta-mean."},
    {"data", "seed", "1", check_data_seed,
     "simulate: seed of the data dca makes (si: the reference simulations, their beta_t and "
     "noise; segment: the synthetic image; mk: the noise that makes X_ref)."},
    {"data", "mask", "none", check_data_mask,
     "segment, file images: the ground-truth mask, file:PATH.h5:DATASET (non-zero: "
     "foreground), or none."},
    {"data", "cells", "12", check_data_cells, "segment, simulate: cells in the synthetic image."},
    {"data", "cell-radius", "8:16", check_data_cell_radius,
     "segment, simulate: the range of the ellipses' semi-axes in pixels, MIN:MAX."},
    {"data", "blur", "2", check_data_blur,
     "segment, simulate: standard deviation of the Gaussian blur in pixels (0: none)."},
    {"data", "noise", "0.1", check_data_noise,
     "segment, simulate: standard deviation of the Gaussian noise added to intensities in [0, "
     "1]."},
    {"data", "reference", "0.1,0.4,0.98,0.1,0.2", check_data_reference,
     "mk, simulate: D_A,D_B,k1,k2,k3 of the reference pattern X_ref (the thesis's "
     "labyrinth-forming values)."},
    {"data", "pattern-steps", "50000", check_data_pattern_steps,
     "mk, simulate: the steps that make X_ref from the uniform state with a stripe."},
    {"abc", "candidates", "0", check_abc_candidates,
     "si, potts: candidates of the ABC-rejection baseline run after the fit (0: none). Each "
     "draws its parameter from the prior (si: beta ~ U(0, 1); potts: [abc] prior) and "
     "simulates."},
    {"abc", "simulations", "10", check_abc_simulations,
     "si: trajectories per ABC candidate, from the first observed initial states; potts: "
     "lattices per candidate."},
    {"abc", "accept", "0.02", check_abc_accept,
     "si, potts: the accepted fraction of ABC candidates (the nearest; si: by the distance "
     "between mean aware fractions per time, potts: by |mean MSD - target|)."},
    {"abc", "prior", "0.1:1", check_abc_prior,
     "potts: the ABC prior of the temperature, uniform on MIN:MAX."},
    {"abc", "seed", "1", check_abc_seed, "si, potts: seed of the ABC candidates and their noise."},
    {"task", "target", "none", check_target, "none, identity or majority."},
    {"task", "loss", "cross-entropy", check_loss, "cross-entropy or mse."},
};
enum { n_base = sizeof base_schema / sizeof *base_schema, MAX_KEYS = 256 };

/* The schema: the keys above, with every optimiser type's parameters
 * (dca/optim.h) inserted after [optimizer] iterations. A key that several
 * methods declare (learning-rate) appears once; its default is the chosen
 * method's (see apply_method_defaults) and, in the schema, the first
 * declaring method's. Built once, on first use. */
static key_def schema[MAX_KEYS];
static int n_keys;
static bool schema_incomplete;
static char optim_docs[DCA_CONFIG_MAX_OPTIM_KEYS][512];

static void build_schema(void)
{
    if (n_keys)
        return;
    int n = 0, slots = 0, ntypes;
    const dca_optim_type *const *types = dca_optim_types(&ntypes);
    for (int i = 0; i < n_base; i++) {
        const base_key *b = &base_schema[i];
        schema[n++] = (key_def){b->section, b->key, b->def, b->check, b->doc, -1};
        if (strcmp(base_schema[i].section, "optimizer") != 0 ||
            strcmp(base_schema[i].key, "iterations") != 0)
            continue;
        for (int t = 0; t < ntypes; t++)
            for (int p = 0; p < types[t]->n_params; p++) {
                const dca_optim_param *d = &types[t]->params[p];
                int have = -1;
                for (int j = 0; j < n; j++)
                    if (schema[j].optim >= 0 && strcmp(schema[j].key, d->key) == 0)
                        have = j;
                char *doc = optim_docs[have >= 0 ? schema[have].optim : slots];
                size_t len = strlen(doc);
                snprintf(doc + len, sizeof optim_docs[0] - len, "%s%s: %s", len ? "; " : "",
                         types[t]->name, d->doc);
                if (have >= 0)
                    continue;
                if (slots == DCA_CONFIG_MAX_OPTIM_KEYS || n + (n_base - i) >= MAX_KEYS) {
                    schema_incomplete = true; /* dca_config_load refuses to run */
                    continue;
                }
                schema[n++] = (key_def){"optimizer", d->key, d->def, NULL, doc, slots++};
            }
    }
    n_keys = n;
}

/* The chosen method's default for its keys that were not given. */
static void apply_method_defaults(dca_config *cfg);

static const char *const sections[] = {"lattice", "rule",   "init",   "run",   "task",     "optimizer",
                                       "eval",    "search", "output", "model", "ensemble",
                                       "data",    "abc"};

int dca_config_schema(const dca_config_key_doc **keys)
{
    static dca_config_key_doc docs[MAX_KEYS];
    build_schema();
    for (int i = 0; i < n_keys; i++)
        docs[i] = (dca_config_key_doc){schema[i].section, schema[i].key, schema[i].def,
                                       schema[i].doc};
    *keys = docs;
    return n_keys;
}

/* ---- store: one value per schema key, with its origin ------------------- */

typedef enum origin { FROM_DEFAULT, FROM_FILE, FROM_SET } origin;

typedef struct entry {
    char *value;
    origin from;
    int line; /* FROM_FILE: line of the key */
    char *set_text;
} entry;

struct dca_config_store {
    entry e[MAX_KEYS];
    char *text; /* effective INI */
};

static int find_key(const char *section, const char *key)
{
    build_schema();
    for (int i = 0; i < n_keys; i++)
        if (strcmp(schema[i].section, section) == 0 && strcmp(schema[i].key, key) == 0)
            return i;
    return -1;
}

static bool known_section(const char *s)
{
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
        if (strcmp(sections[i], s) == 0)
            return true;
    return false;
}

static void keys_of(const char *section, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < n_keys; i++)
        if (strcmp(schema[i].section, section) == 0) {
            size_t n = strlen(buf);
            snprintf(buf + n, len - n, "%s%s", n ? ", " : "", schema[i].key);
        }
}

/* ---- INI parsing with line numbers ---------------------------------------
 * inih 55 (Debian) has no line numbers in its handler and cuts lines at
 * INI_MAX_LINE. We feed it through ini_parse_stream with a reader that
 * counts lines, rejects over-long lines instead of letting inih split them,
 * and checks section names (inih does not report empty sections). */
typedef struct parse_state {
    dca_config *cfg;
    const char *text;
    size_t pos;
    int line;
    bool raw_indented; /* the current line starts with white space */
    int err_line;
    char err[DCA_ERROR_MSG_LEN];
    int last_key; /* schema index of the last key line, for continuations */
} parse_state;

static void parse_fail(parse_state *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void parse_fail(parse_state *ps, const char *fmt, ...)
{
    if (ps->err_line)
        return;
    ps->err_line = ps->line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, sizeof ps->err, fmt, ap);
    va_end(ap);
}

static char *reader(char *str, int num, void *stream)
{
    parse_state *ps = stream;
    if (ps->err_line || !ps->text[ps->pos])
        return NULL;
    const char *start = ps->text + ps->pos;
    const char *nl = strchr(start, '\n');
    size_t n = nl ? (size_t)(nl - start) + 1 : strlen(start);
    ps->line++;
    if (n + 1 > (size_t)num) {
        parse_fail(ps, "line is longer than %d characters; continue a long value on indented "
                       "lines below the key", num - 2);
        return NULL;
    }
    memcpy(str, start, n);
    str[n] = '\0';
    ps->pos += n;
    ps->raw_indented = isspace((unsigned char)str[0]) && str[0] != '\n' && str[0] != '\r';
    /* Section names. */
    const char *p = str;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (close) {
            char name[128];
            size_t len = (size_t)(close - p - 1);
            if (len >= sizeof name)
                len = sizeof name - 1;
            memcpy(name, p + 1, len);
            name[len] = '\0';
            dca_trim(name);
            if (!known_section(name))
                parse_fail(ps, "unknown section [%s]; expected [lattice], [rule], [init], [run], "
                               "[task], [optimizer], [eval], [search], [output], [model] or "
                               "[ensemble]", name);
        }
    }
    return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_state *ps = user;
    struct dca_config_store *st = ps->cfg->store;
    int i = find_key(section, name);
    if (ps->raw_indented && ps->last_key >= 0 && i == ps->last_key) {
        /* A continuation line: join with a space (lists accept spaces). */
        entry *e = &st->e[i];
        size_t a = strlen(e->value), b = strlen(value);
        char *v = realloc(e->value, a + b + 2);
        if (!v) {
            parse_fail(ps, "out of memory");
            return 0;
        }
        v[a] = ' ';
        memcpy(v + a + 1, value, b + 1);
        e->value = v;
        return 1;
    }
    if (!*section) {
        parse_fail(ps, "key '%s' is outside any section; put it under [lattice], [rule], [init], "
                       "[run], [task], [optimizer], [eval], [search] or [output]", name);
        return 0;
    }
    if (i < 0) {
        char keys[512];
        keys_of(section, keys, sizeof keys);
        parse_fail(ps, "unknown key '%s' in [%s]; expected one of: %s", name, section, keys);
        return 0;
    }
    entry *e = &st->e[i];
    if (e->from == FROM_FILE) {
        parse_fail(ps, "[%s] %s is set twice (first on line %d)", section, name, e->line);
        return 0;
    }
    char *v = dca_strdup(value);
    if (!v) {
        parse_fail(ps, "out of memory");
        return 0;
    }
    free(e->value);
    e->value = v;
    e->from = FROM_FILE;
    e->line = ps->line;
    ps->last_key = i;
    return 1;
}

/* ---- optimiser keys ---------------------------------------------------------- */

/* The descriptor of key for method (NULL when the method does not use it). */
static const dca_optim_param *method_param(const char *method, const char *key)
{
    const dca_optim_type *t = dca_optim_type_find(method);
    for (int p = 0; t && p < t->n_params; p++)
        if (strcmp(t->params[p].key, key) == 0)
            return &t->params[p];
    return NULL;
}

/* The first method that declares key (for the range of a key the chosen
 * method does not use). */
static const dca_optim_param *any_param(const char *key)
{
    int n;
    const dca_optim_type *const *types = dca_optim_types(&n);
    for (int t = 0; t < n; t++) {
        const dca_optim_param *d = method_param(types[t]->name, key);
        if (d)
            return d;
    }
    return NULL;
}

/* Keys whose default depends on [model] kind: gamma is Kuramoto's weight
 * control (0.1) or the Malevanets-Kapral timescale (0.005). */
static void set_default(dca_config *cfg, const char *section, const char *key, const char *value)
{
    entry *e = &cfg->store->e[find_key(section, key)];
    if (e->from != FROM_DEFAULT)
        return;
    char *v = dca_strdup(value);
    if (v) {
        free(e->value);
        e->value = v;
    }
}

/* Defaults that depend on [model] kind (configs/README.md): the MK
 * timescale, and checkpoints of the fits whose iterations take
 * milliseconds (a checkpoint rewrites the whole run file). */
static void apply_kind_defaults(dca_config *cfg)
{
    const char *kind = cfg->store->e[find_key("model", "kind")].value;
    if (strcmp(kind, "mk") == 0)
        set_default(cfg, "model", "gamma", "0.005");
    if (strcmp(kind, "si") == 0)
        set_default(cfg, "optimizer", "checkpoint-every", "250");
    if (strcmp(kind, "segment") == 0)
        set_default(cfg, "optimizer", "checkpoint-every", "100");
}

static void apply_method_defaults(dca_config *cfg)
{
    const char *method = cfg->store->e[find_key("optimizer", "method")].value;
    for (int i = 0; i < n_keys; i++) {
        entry *e = &cfg->store->e[i];
        const dca_optim_param *d = schema[i].optim >= 0 ? method_param(method, schema[i].key) : NULL;
        if (!d || e->from != FROM_DEFAULT || strcmp(e->value, d->def) == 0)
            continue;
        char *v = dca_strdup(d->def);
        if (v) {
            free(e->value);
            e->value = v;
        }
    }
}

static bool check_optim_key(dca_config *c, const key_def *k, const char *v, char *why, size_t len)
{
    const dca_optim_param *d = method_param(c->method, k->key);
    if (!d)
        d = any_param(k->key);
    double x;
    if (!dca_parse_double(v, &x) || !isfinite(x) || x < d->lo || (d->lo_open && x == d->lo) ||
        x > d->hi || (d->integer && x != floor(x))) {
        snprintf(why, len, "expected %s in %c%g, %g]", d->integer ? "a whole number" : "a number",
                 d->lo_open ? '(' : '[', d->lo, d->hi);
        return false;
    }
    c->optim_values[k->optim] = x;
    return true;
}


void dca_config_optim_params(const dca_config *cfg, double *par)
{
    const dca_optim_type *t = dca_optim_type_find(cfg->method);
    for (int p = 0; t && p < t->n_params; p++)
        par[p] = cfg->optim_values[schema[find_key("optimizer", t->params[p].key)].optim];
}

/* ---- public ---------------------------------------------------------------- */

const char *dca_config_where(const dca_config *cfg, const char *section, const char *key,
                             char *buf, size_t len)
{
    int i = find_key(section, key);
    if (i < 0) {
        snprintf(buf, len, "[%s] %s", section, key);
        return buf;
    }
    const entry *e = &cfg->store->e[i];
    switch (e->from) {
    case FROM_FILE:
        snprintf(buf, len, "%s:%d: [%s] %s = %s", cfg->path, e->line, section, key, e->value);
        break;
    case FROM_SET:
        snprintf(buf, len, "--set %s", e->set_text);
        break;
    case FROM_DEFAULT:
        snprintf(buf, len, "[%s] %s = %s (the default)", section, key, e->value);
        break;
    }
    return buf;
}

bool dca_config_given(const dca_config *cfg, const char *section, const char *key)
{
    int i = find_key(section, key);
    return i >= 0 && cfg->store->e[i].from != FROM_DEFAULT;
}

const char *dca_config_first_given(const dca_config *cfg, const char *section)
{
    for (int i = 0; i < n_keys; i++)
        if (strcmp(schema[i].section, section) == 0 && cfg->store->e[i].from != FROM_DEFAULT)
            return schema[i].key;
    return NULL;
}

const char *dca_config_basedir(const dca_config *cfg, const char *section, const char *key)
{
    int i = find_key(section, key);
    return i >= 0 && cfg->store->e[i].from == FROM_FILE ? cfg->basedir : ".";
}

const char *dca_config_text(dca_config *cfg)
{
    struct dca_config_store *st = cfg->store;
    if (st->text)
        return st->text;
    size_t cap = 256;
    for (int i = 0; i < n_keys; i++)
        cap += strlen(schema[i].section) + strlen(schema[i].key) + strlen(st->e[i].value) + 16;
    char *t = malloc(cap);
    if (!t)
        return "";
    size_t n = 0;
    n += (size_t)snprintf(t + n, cap - n, "; effective configuration (dca %s)\n", dca_version());
    const char *cur = "";
    for (int i = 0; i < n_keys; i++) {
        if (strcmp(cur, schema[i].section) != 0) {
            cur = schema[i].section;
            n += (size_t)snprintf(t + n, cap - n, "%s[%s]\n", i ? "\n" : "", cur);
        }
        n += (size_t)snprintf(t + n, cap - n, "%s = %s\n", schema[i].key, st->e[i].value);
    }
    st->text = t;
    return t;
}

void dca_config_destroy(dca_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->store) {
        for (int i = 0; i < n_keys; i++) {
            free(cfg->store->e[i].value);
            free(cfg->store->e[i].set_text);
        }
        free(cfg->store->text);
        free(cfg->store);
    }
    free(cfg->path);
    free(cfg->basedir);
    free(cfg);
}

/* The stem of path: "configs/rule30.ini" -> "rule30". */
static void stem(const char *path, char *buf, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, len, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = '\0';
}

static dca_status apply_set(dca_config *cfg, const char *set, dca_error *err)
{
    const char *eq = strchr(set, '=');
    const char *dot = strchr(set, '.');
    if (!eq || !dot || dot > eq)
        return dca_error_set(err, DCA_ERR_CONFIG,
                             "--set %s: expected SECTION.KEY=VALUE, e.g. rule.weights=wolfram:110",
                             set);
    char section[64], key[64];
    size_t ls = (size_t)(dot - set), lk = (size_t)(eq - dot - 1);
    if (ls >= sizeof section || lk >= sizeof key)
        return dca_error_set(err, DCA_ERR_CONFIG, "--set %s: unknown key", set);
    memcpy(section, set, ls);
    section[ls] = '\0';
    memcpy(key, dot + 1, lk);
    key[lk] = '\0';
    dca_trim(section);
    dca_trim(key);
    if (!known_section(section))
        return dca_error_set(err, DCA_ERR_CONFIG,
                             "--set %s: unknown section [%s]; expected lattice, rule, init, run, "
                             "task, optimizer, eval, search, output, model or ensemble", set,
                             section);
    int i = find_key(section, key);
    if (i < 0) {
        char keys[512];
        keys_of(section, keys, sizeof keys);
        return dca_error_set(err, DCA_ERR_CONFIG,
                             "--set %s: unknown key '%s' in [%s]; expected one of: %s", set, key,
                             section, keys);
    }
    entry *e = &cfg->store->e[i];
    char *v = dca_strdup(eq + 1), *s = dca_strdup(set);
    if (!v || !s) {
        free(v);
        free(s);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    dca_trim(v);
    free(e->value);
    free(e->set_text);
    e->value = v;
    e->set_text = s;
    e->from = FROM_SET;
    return DCA_OK;
}

dca_status dca_config_load(const char *path, const char *const *sets, int n_sets,
                           dca_config **out, dca_error *err)
{
    build_schema();
    if (schema_incomplete)
        return dca_error_set(err, DCA_ERR_UNSUPPORTED,
                             "the optimisers declare more keys than the configuration schema "
                             "holds (%d optimiser keys, %d keys in all): raise "
                             "DCA_CONFIG_MAX_OPTIM_KEYS or MAX_KEYS in the config layer",
                             DCA_CONFIG_MAX_OPTIM_KEYS, MAX_KEYS);
    dca_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->store = calloc(1, sizeof *cfg->store))) {
        free(cfg);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    dca_status st = DCA_OK;
    cfg->path = dca_strdup(path ? path : "(no file)");
    char name[256];
    stem(path ? path : "run", name, sizeof name);
    for (int i = 0; i < n_keys; i++) {
        char def[512];
        if (strcmp(schema[i].def, DEFAULT_OUTPUT) == 0)
            snprintf(def, sizeof def, "runs/%s.h5", name);
        else
            snprintf(def, sizeof def, "%s", schema[i].def);
        cfg->store->e[i].value = dca_strdup(def);
        if (!cfg->store->e[i].value) {
            st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    if (path) {
        const char *slash = strrchr(path, '/');
        cfg->basedir = slash ? strndup(path, (size_t)(slash - path ? slash - path : 1))
                             : dca_strdup(".");
        char *text = dca_read_text_file(path, "configuration", DCA_ERR_CONFIG, err);
        if (!text) {
            st = err ? err->status : DCA_ERR_CONFIG;
            goto fail;
        }
        parse_state ps = {.cfg = cfg, .text = text, .last_key = -1};
        int r = ini_parse_stream(reader, &ps, handler, &ps);
        free(text);
        if (ps.err_line) {
            st = dca_error_set(err, DCA_ERR_CONFIG, "%s:%d: %s", path, ps.err_line, ps.err);
            goto fail;
        }
        if (r != 0) {
            st = dca_error_set(err, DCA_ERR_CONFIG,
                               "%s:%d: syntax error: expected [section], key = value, or a "
                               "comment starting with ; or #", path, r);
            goto fail;
        }
    } else {
        cfg->basedir = dca_strdup(".");
    }
    for (int i = 0; i < n_sets; i++)
        if ((st = apply_set(cfg, sets[i], err)))
            goto fail;
    apply_method_defaults(cfg);
    apply_kind_defaults(cfg);
    for (int i = 0; i < n_keys; i++) {
        char why[768];
        const char *v = cfg->store->e[i].value;
        if (schema[i].optim >= 0 ? !check_optim_key(cfg, &schema[i], v, why, sizeof why)
                                 : !schema[i].check(cfg, v, why, sizeof why)) {
            char where[512];
            dca_config_where(cfg, schema[i].section, schema[i].key, where, sizeof where);
            st = dca_error_set(err, DCA_ERR_CONFIG, "%s: %s", where, why);
            goto fail;
        }
    }
    if (cfg->tune && (cfg->kernel != DCA_KERNEL_AUTO || cfg->tile != 0)) {
        char where[512];
        dca_config_where(cfg, "run", "tune", where, sizeof where);
        st = dca_error_set(err, DCA_ERR_CONFIG,
                           "%s: tune = measure chooses the kernel and tile itself: leave [run] "
                           "kernel and tile at auto, or set them and tune = no", where);
        goto fail;
    }
    if (strcmp(cfg->gradients, "reverse") == 0 && strcmp(cfg->target, "none") == 0) {
        char where[512];
        dca_config_where(cfg, "run", "gradients", where, sizeof where);
        st = dca_error_set(err, DCA_ERR_CONFIG,
                           "%s: reverse mode computes the gradient of a loss: set [task] target "
                           "(%s)", where, dca_target_names());
        goto fail;
    }
    if (strcmp(cfg->gradients, "forward") == 0 && strcmp(cfg->target, "none") == 0 &&
        !cfg->record_gradients) {
        char where[512];
        dca_config_where(cfg, "run", "gradients", where, sizeof where);
        st = dca_error_set(err, DCA_ERR_CONFIG,
                           "%s: forward mode would compute nothing: add gradients to [run] record "
                           "(gradient diagrams) or set [task] target (the loss gradient)", where);
        goto fail;
    }
    if (cfg->precision == DCA_FLOAT32 && strcmp(cfg->gradients, "forward") == 0) {
        char where[512];
        dca_config_where(cfg, "run", "precision", where, sizeof where);
        st = dca_error_set(err, DCA_ERR_CONFIG, "%s: %s", where,
                           "forward-mode gradients run in float64 only: use gradients = "
                           "reverse, or precision = float64");
        goto fail;
    }
    if (cfg->fresh && (cfg->minibatch || dca_strip_prefix(cfg->init_kind, "file:") ||
                       dca_strip_prefix(cfg->target, "file:"))) {
        char where[512];
        dca_config_where(cfg, "optimizer", "fresh", where, sizeof where);
        st = dca_error_set(err, DCA_ERR_CONFIG,
                           "%s: fresh configurations every iteration exclude minibatches and "
                           "file: configurations or targets", where);
        goto fail;
    }
    if (!dca_config_given(cfg, "init", "configurations"))
        cfg->configurations = 0;
    if (cfg->record_configurations && cfg->configurations &&
        cfg->record_configurations > cfg->configurations) {
        char where[512];
        dca_config_where(cfg, "run", "record-configurations", where, sizeof where);
        st = dca_error_set(err, DCA_ERR_CONFIG,
                           "%s: more configurations to record than [init] configurations = %lld",
                           where, (long long)cfg->configurations);
        goto fail;
    }
    *out = cfg;
    return DCA_OK;
fail:
    dca_config_destroy(cfg);
    return st;
}
