#include "search.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "dca/objective.h"
#include "dca/optim.h"
#include "dca/task.h"
#include "density.h"
#include "hard.h"
#include "rng.h"
#include "text.h"

/* ---- the strategy table --------------------------------------------------- */

enum { S_GA, S_GA_GRAD, S_COEV, S_COEV_GRAD, S_SA, S_SA_GRAD, S_NES };

static const dca_search_strategy strategies[] = {
    {"ga", "Mitchell, Crutchfield and Das (1996): elite survive, single-point crossover of elite "
           "pairs, point mutations at uniformly random entries.", 0},
    {"ga-gradient", "ga with each offspring's mutations drawn in proportion to the DCA "
                    "gradient's predicted gain at its first parent.", 1},
    {"coevolution", "Juille and Pollack (1998): rules and initial-configuration densities evolve "
                    "together; both fitnesses share resources (an IC solved by few rules is "
                    "worth more; an IC failed by rules that fail few is worth more).", 0},
    {"coevolution-gradient", "coevolution with gradient-drawn mutations (as ga-gradient).", 1},
    {"sa", "Simulated annealing from one rule: single-entry flips at random, current and "
           "candidate scored on the same fresh configurations, Metropolis acceptance.", 0},
    {"sa-gradient", "Gradient-informed simulated annealing (the paper's proposal): flips drawn in "
                    "proportion to the DCA gradient's predicted gain at the current rule.", 1},
    {"nes", "A natural evolution strategy over rho = sigmoid(theta): population hard tables "
            "sampled from rho, rank-based REINFORCE gradient, Adam on theta.", 0},
};
#define N_STRATEGIES ((int)(sizeof strategies / sizeof strategies[0]))

const dca_search_strategy *dca_search_strategies(int *n)
{
    *n = N_STRATEGIES;
    return strategies;
}

const dca_search_strategy *dca_search_strategy_find(const char *name)
{
    for (int i = 0; i < N_STRATEGIES; i++)
        if (strcmp(strategies[i].name, name) == 0)
            return &strategies[i];
    return NULL;
}

const char *dca_search_strategy_names(void)
{
    static char buf[256];
    if (!buf[0])
        for (int i = 0; i < N_STRATEGIES; i++) {
            strcat(buf, i ? ", " : "");
            strcat(buf, strategies[i].name);
        }
    return buf;
}

int64_t dca_search_tests(const dca_search_options *o)
{
    if (o->generations < 1)
        return 0;
    int64_t n = o->generations / o->test_every;
    return o->generations % o->test_every ? n + 1 : n;
}

int64_t dca_search_test_generation(const dca_search_options *o, int64_t i)
{
    int64_t g = (i + 1) * o->test_every - 1;
    return g < o->generations ? g : o->generations - 1;
}

/* ---- the search ----------------------------------------------------------- */

/* Streams of random draws (the top byte of Philox's sub-index). */
enum {
    R_INIT_LAMBDA = 1,
    R_INIT_BITS,
    R_PARENT,
    R_CROSS,
    R_MUTATE,
    R_ACCEPT,
    R_NES,
    R_IC,
    R_CONFIG_SEED,
    R_IC_MUTATE,
    R_IC_FRESH,
};
#define DCA_RNG_SEARCH 6

struct dca_search {
    dca_search_options o;
    int kind; /* strategy index */
    dca_lattice lat;
    dca_rule *rule;
    int m;
    int64_t P, n, T, rows, cols;
    int32_t *dy, *dx;
    /* [search] symmetry = complement-reflection: partner[i] is the pattern
     * that is i mirrored with 0 and 1 swapped; a rule has t[partner[i]] =
     * 1 - t[i]. The lower index of each pair is free. NULL: no symmetry. */
    int64_t *partner;
    int64_t free_entries;
    int threads;
    /* The generation's configurations, bit-sliced (W words per cell). */
    int W;
    uint64_t *x0, active[DCA_BITS_MAX_WORDS];
    uint8_t *major, *cells;
    /* The test set: blocks of 256 configurations. */
    int64_t test_blocks;
    uint64_t *test_x;
    uint8_t *test_major;
    /* Gradient-informed strategies: per thread a rule, a one-thread soft
     * plan and its objective (gradients of several rules run side by side;
     * the engine's results do not depend on its thread count). */
    struct grad_unit {
        dca_rule *rule;
        dca_sim *sim;
        dca_objective *obj;
        double *w, *g;
    } *gu;
    double *gx0, *gphi;
    dca_task_shape shape;
};

static double U(const dca_search *s, int64_t run, int64_t gen, int stream, uint64_t i)
{
    double u[2];
    dca_rng_uniform2(s->o.seed, DCA_RNG_SEARCH, ((uint64_t)run << 32) | (uint64_t)gen,
                     ((uint64_t)stream << 44) | i, u);
    return u[0];
}

static double N01(const dca_search *s, int64_t run, int64_t gen, int stream, uint64_t i)
{
    double u[2];
    dca_rng_uniform2(s->o.seed, DCA_RNG_SEARCH, ((uint64_t)run << 32) | (uint64_t)gen,
                     ((uint64_t)stream << 44) | i, u);
    return sqrt(-2.0 * log(1.0 - u[0])) * cos(6.283185307179586 * u[1]);
}

void dca_search_destroy(dca_search *s)
{
    if (!s)
        return;
    free(s->dy), free(s->dx), free(s->partner), free(s->x0), free(s->major), free(s->cells);
    free(s->test_x), free(s->test_major);
    for (int t = 0; s->gu && t < s->threads; t++) {
        dca_objective_destroy(s->gu[t].obj);
        dca_sim_destroy(s->gu[t].sim);
        dca_rule_destroy(s->gu[t].rule);
        free(s->gu[t].w), free(s->gu[t].g);
    }
    free(s->gu);
    free(s->gx0), free(s->gphi);
    free(s);
}

int64_t dca_search_patterns(const dca_search *s) { return s->P; }

static int parse_kind(const char *kind, double *p)
{
    if (strcmp(kind, "uniform-density") == 0)
        return 1;
    const char *rest = dca_strip_prefix(kind, "bernoulli:");
    if (rest && dca_parse_double(rest, p) && *p >= 0 && *p <= 1)
        return 0;
    return -1;
}

/* Packs configuration a (n cells) as bit i of the W-word cells of x. */
static void pack(uint64_t *x, int W, int64_t n, const uint8_t *a, int64_t i)
{
    const uint64_t bit = UINT64_C(1) << (i % 64);
    for (int64_t c = 0; c < n; c++)
        x[c * W + i / 64] |= a[c] ? bit : 0;
}

static dca_status draw_test_set(dca_search *s, dca_error *err)
{
    double p = 0.5;
    int uniform = parse_kind(s->o.test_kind, &p);
    const int64_t n = s->n, S = s->o.test_samples;
    s->test_blocks = (S + 255) / 256;
    s->test_x = calloc((size_t)(s->test_blocks * n * 4), sizeof *s->test_x);
    s->test_major = malloc((size_t)(s->test_blocks * 256));
    if (!s->test_x || !s->test_major)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for %lld test configurations",
                             (long long)S);
    /* By blocks of 256 configurations: pack() ORs bits into words shared by
     * 64 configurations, so two threads must never fill one block (they
     * did, racing, when the loop was split by configuration). */
    int nomem = 0;
#pragma omp parallel num_threads(s->threads)
    {
        uint8_t *a = malloc((size_t)n);
        if (!a) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(static)
        for (int64_t k = 0; k < s->test_blocks; k++)
            for (int64_t j = 256 * k; a && j < S && j < 256 * (k + 1); j++) {
                int64_t ones = dca_density_draw(s->o.test_seed, uniform, p, j, n, a);
                s->test_major[j] = 2 * ones > n;
                pack(s->test_x + k * n * 4, 4, n, a, j % 256);
            }
        free(a);
    }
    if (nomem)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory drawing the test set");
    return DCA_OK;
}

/* Complement-reflection partners of the patterns (see struct dca_search):
 * slot k of the neighbourhood (offset o) reads, in the mirror image, the
 * slot at offset -o; the pattern index has slot 0 as its top bit. */
static dca_status make_partners(dca_search *s, const dca_lattice *lat, dca_rule *rule,
                                dca_error *err)
{
    if (strcmp(s->o.symmetry, "complement-reflection") != 0)
        return dca_error_set(err, DCA_ERR_ARG,
                             "[search] symmetry is none or complement-reflection, not '%s'",
                             s->o.symmetry);
    const int m = s->m, d = lat->dims == 1 ? 1 : 2;
    const int32_t *off = dca_nbhd_offsets(dca_rule_nbhd(rule));
    int mirror[32];
    for (int k = 0; k < m; k++) {
        mirror[k] = -1;
        for (int j = 0; j < m && mirror[k] < 0; j++) {
            int same = 1;
            for (int a = 0; a < d; a++)
                same &= off[d * j + a] == -off[d * k + a];
            if (same)
                mirror[k] = j;
        }
        if (mirror[k] < 0) {
            char o[32];
            if (d == 1)
                snprintf(o, sizeof o, "%d", (int)off[k]);
            else
                snprintf(o, sizeof o, "(%d,%d)", (int)off[2 * k], (int)off[2 * k + 1]);
            return dca_error_set(err, DCA_ERR_ARG,
                                 "[search] symmetry = complement-reflection needs a "
                                 "neighbourhood that is its own mirror image; its offset %s has "
                                 "no mirror offset in it",
                                 o);
        }
    }
    s->partner = malloc((size_t)s->P * sizeof *s->partner);
    if (!s->partner)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    s->free_entries = 0;
    for (int64_t i = 0; i < s->P; i++) {
        int64_t q = 0;
        for (int k = 0; k < m; k++) {
            const int bit = (int)((i >> (m - 1 - mirror[k])) & 1);
            q |= (int64_t)(1 - bit) << (m - 1 - k);
        }
        if (q == i)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "[search] symmetry = complement-reflection: pattern %lld is its "
                                 "own mirror complement, so no rule has the symmetry (a "
                                 "neighbourhood with its centre cell has none such)",
                                 (long long)i);
        s->partner[i] = q;
        s->free_entries += q > i;
    }
    return DCA_OK;
}

/* Imposes the symmetry: each pair's higher entry is the complement of its
 * lower one. */
static void symmetrize(const dca_search *s, uint8_t *t)
{
    if (!s->partner)
        return;
    for (int64_t i = 0; i < s->P; i++)
        if (s->partner[i] > i)
            t[s->partner[i]] = (uint8_t)!t[i];
}

int dca_search_symmetric(const dca_search *s, const uint8_t *t)
{
    for (int64_t i = 0; s->partner && i < s->P; i++)
        if (t[s->partner[i]] == t[i])
            return 0;
    return 1;
}

dca_status dca_search_create(const dca_lattice *lat, dca_rule *rule,
                             const dca_search_options *opt, dca_search **out, dca_error *err)
{
    *out = NULL;
    int kind = -1;
    for (int i = 0; i < N_STRATEGIES; i++)
        if (strcmp(strategies[i].name, opt->strategy) == 0)
            kind = i;
    if (kind < 0)
        return dca_error_set(err, DCA_ERR_ARG, "unknown search strategy '%s'; expected %s",
                             opt->strategy, dca_search_strategy_names());
    if (dca_rule_states(rule) != 2 || dca_rule_kind_of(rule) != DCA_RULE_TABLE)
        return dca_error_set(err, DCA_ERR_UNSUPPORTED,
                             "dca search works on binary rule tables (k = 2, [rule] kind = table)");
    double p;
    if (parse_kind(opt->kind, &p) < 0 || parse_kind(opt->test_kind, &p) < 0)
        return dca_error_set(err, DCA_ERR_ARG, "configurations are bernoulli:P or uniform-density");
    if (opt->population < 2 || opt->elite < 1 || opt->elite >= opt->population ||
        opt->configurations < 1 || opt->configurations > 64 * DCA_BITS_MAX_WORDS ||
        opt->generations < 1 || opt->runs < 1 || opt->test_samples < 1 || opt->test_every < 1 ||
        opt->mutations < 0 ||
        (strategies[kind].uses_gradient &&
         (opt->gradient_configurations < 1 || opt->gradient_configurations > opt->configurations ||
          opt->gradient_steps < 1)))
        return dca_error_set(err, DCA_ERR_ARG,
                             "search sizes: population >= 2, 1 <= elite < population, 1 <= "
                             "configurations <= %d, generations, runs, test-samples and "
                             "test-every >= 1, mutations >= 0, 1 <= gradient-configurations <= "
                             "configurations, gradient-steps >= 1",
                             64 * DCA_BITS_MAX_WORDS);
    dca_search *s = calloc(1, sizeof *s);
    if (!s)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    s->o = *opt;
    s->kind = kind;
    s->lat = *lat;
    s->rule = rule;
    s->threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
    dca_hard *h = NULL;
    dca_status st = dca_hard_create(lat, rule, s->threads, &h, err);
    if (st) {
        dca_search_destroy(s);
        return st;
    }
    dca_hard_geometry g;
    dca_hard_get_geometry(h, &g);
    s->m = g.m;
    s->rows = g.rows;
    s->cols = g.cols;
    s->n = g.rows * g.cols;
    s->P = dca_rule_patterns(rule);
    s->dy = malloc((size_t)g.m * sizeof *s->dy);
    s->dx = malloc((size_t)g.m * sizeof *s->dx);
    if (s->dy && s->dx) {
        memcpy(s->dy, g.dy, (size_t)g.m * sizeof *s->dy);
        memcpy(s->dx, g.dx, (size_t)g.m * sizeof *s->dx);
    }
    dca_hard_destroy(h);
    if (s->m > 20) {
        dca_search_destroy(s);
        return dca_error_set(err, DCA_ERR_UNSUPPORTED,
                             "dca search takes neighbourhoods of up to 20 cells (tables of 2^20 "
                             "entries); this one has %d", g.m);
    }
    s->free_entries = s->P;
    if (opt->symmetry && strcmp(opt->symmetry, "none") != 0 &&
        (st = make_partners(s, lat, rule, err))) {
        dca_search_destroy(s);
        return st;
    }
    s->T = opt->steps ? opt->steps : 2 * s->n;
    s->W = (int)((opt->configurations + 63) / 64);
    const int64_t C = opt->configurations;
    for (int w = 0; w < s->W; w++) {
        int64_t left = C - 64 * w;
        s->active[w] = left >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << left) - 1;
    }
    s->x0 = calloc((size_t)(s->n * s->W), sizeof *s->x0);
    s->major = malloc((size_t)C);
    s->cells = malloc((size_t)s->n);
    if (!s->dy || !s->dx || !s->x0 || !s->major || !s->cells) {
        dca_search_destroy(s);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    if ((st = draw_test_set(s, err))) {
        dca_search_destroy(s);
        return st;
    }
    if (strategies[kind].uses_gradient) {
        dca_sim_options so = {.threads = 1, .gradients = DCA_GRAD_REVERSE};
        const int64_t Cg = opt->gradient_configurations;
        s->gx0 = calloc((size_t)(Cg * s->n), sizeof *s->gx0);
        s->gphi = calloc((size_t)(Cg * s->n), sizeof *s->gphi);
        s->gu = calloc((size_t)s->threads, sizeof *s->gu);
        if (!s->gx0 || !s->gphi || !s->gu) {
            dca_search_destroy(s);
            return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        }
        s->shape = (dca_task_shape){.lat = &s->lat, .states = 2, .mode = DCA_MODE_BINARY,
                                    .batch = Cg, .nb = dca_rule_nbhd(rule)};
        dca_objective_options oo = {.steps = opt->gradient_steps};
        for (int t = 0; t < s->threads; t++) {
            struct grad_unit *u = &s->gu[t];
            u->w = malloc((size_t)s->P * sizeof *u->w);
            u->g = malloc((size_t)s->P * sizeof *u->g);
            if (!u->w || !u->g) {
                dca_search_destroy(s);
                return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
            }
            if ((st = dca_rule_create(dca_rule_nbhd(rule), 2, DCA_MODE_BINARY, &u->rule, err)) ||
                (st = dca_sim_create(lat, u->rule, Cg, &so, &u->sim, err)) ||
                (st = dca_objective_create(u->sim, s->gx0, s->gphi,
                                           dca_loss_lookup("cross-entropy"), &s->shape, &oo,
                                           &u->obj, err))) {
                dca_search_destroy(s);
                return st;
            }
        }
    }
    *out = s;
    return DCA_OK;
}

/* The generation's configurations: configuration j drawn with density
 * dens[j] (coevolution) or as `kind` says, from a seed of (run, gen). */
static void draw_generation(dca_search *s, int64_t run, int64_t gen, const double *dens)
{
    double p = 0.5;
    int uniform = parse_kind(s->o.kind, &p);
    const int64_t n = s->n, C = s->o.configurations;
    uint64_t seed = (uint64_t)(U(s, run, gen, R_CONFIG_SEED, 0) * 0x1.0p53);
    memset(s->x0, 0, (size_t)(n * s->W) * sizeof *s->x0);
    uint8_t *a = s->cells;
    for (int64_t j = 0; j < C; j++) {
        int64_t ones = dens ? dca_density_draw(seed, 0, dens[j], j, n, a)
                            : dca_density_draw(seed, uniform, p, j, n, a);
        s->major[j] = 2 * ones > n;
        pack(s->x0, s->W, n, a, j);
        if (s->gx0 && j < s->o.gradient_configurations)
            for (int64_t c = 0; c < n; c++) {
                s->gx0[j * n + c] = a[c];
                s->gphi[j * n + c] = s->major[j];
            }
    }
}

/* Per-thread scratch for running one rule on W-word blocks. */
typedef struct scratch {
    uint64_t *x;
    void *work;
    size_t work_bytes;
} scratch;

static int scratch_fit(scratch *sc, size_t bytes)
{
    if (sc->work_bytes >= bytes)
        return 0;
    free(sc->work);
    sc->work_bytes = (bytes + 63) & ~(size_t)63;
    sc->work = aligned_alloc(64, sc->work_bytes);
    return sc->work ? 0 : -1;
}

/* Runs table on W-word configurations x0 (n cells), writing each
 * configuration's outcome (1: correct) to ok. */
static int run_rule(const dca_search *s, const uint8_t *table, const uint64_t *x0, int W,
                    const uint64_t *active, const uint8_t *major, int64_t count, uint8_t *ok,
                    scratch *sc)
{
    dca_bits *b;
    dca_error e;
    if (dca_bits_create(s->rows, s->cols, s->m, s->dy, s->dx, table, &b, &e))
        return -1;
    if (scratch_fit(sc, dca_bits_work_bytes(b, W))) {
        dca_bits_destroy(b);
        return -1;
    }
    memcpy(sc->x, x0, (size_t)(s->n * W) * sizeof *x0);
    dca_bits_run(b, sc->x, W, active, s->T, NULL, sc->work);
    dca_bits_classified(b, sc->x, W, major, count, ok);
    dca_bits_destroy(b);
    return 0;
}

/* Outcomes of `count` rules on the generation's configurations:
 * ok[r * C + j]. */
static dca_status eval_rules(dca_search *s, const uint8_t *rules, int64_t count, uint8_t *ok,
                             dca_error *err)
{
    const int64_t C = s->o.configurations;
    int failed = 0;
#pragma omp parallel num_threads(s->threads)
    {
        scratch sc = {malloc((size_t)(s->n * s->W) * sizeof(uint64_t)), NULL, 0};
#pragma omp for schedule(dynamic, 1)
        for (int64_t r = 0; r < count; r++)
            if (!sc.x || run_rule(s, rules + r * s->P, s->x0, s->W, s->active, s->major, C,
                                  ok + r * C, &sc)) {
#pragma omp atomic write
                failed = 1;
            }
        free(sc.x), free(sc.work);
    }
    if (failed)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory running rules");
    return DCA_OK;
}

/* Accuracy of a rule on the fixed test set. */
static double test_accuracy(dca_search *s, const uint8_t *table)
{
    const int64_t S = s->o.test_samples;
    int64_t correct = 0;
    int failed = 0;
#pragma omp parallel num_threads(s->threads) reduction(+ : correct)
    {
        scratch sc = {malloc((size_t)(s->n * 4) * sizeof(uint64_t)), NULL, 0};
        uint8_t ok[256];
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < s->test_blocks; k++) {
            const int64_t cnt = S - 256 * k < 256 ? S - 256 * k : 256;
            uint64_t active[4] = {0};
            for (int w = 0; w < 4; w++) {
                int64_t left = cnt - 64 * w;
                active[w] = left >= 64 ? ~UINT64_C(0) : left > 0 ? (UINT64_C(1) << left) - 1 : 0;
            }
            if (!sc.x || run_rule(s, table, s->test_x + k * s->n * 4, 4, active,
                                  s->test_major + 256 * k, cnt, ok, &sc)) {
#pragma omp atomic write
                failed = 1;
                continue;
            }
            for (int64_t i = 0; i < cnt; i++)
                correct += ok[i];
        }
        free(sc.x), free(sc.work);
    }
    return failed ? NAN : (double)correct / (double)S;
}

/* Predicted loss decrease of flipping each entry of table, from the DCA
 * gradient at weights +-logit over the generation's configurations:
 * gain_i = -dE/dw_i * (w'_i - w_i) = 2 w_i dE/dw_i. */
static dca_status gains_of(dca_search *s, int unit, const uint8_t *table, double *gain,
                          dca_error *err)
{
    struct grad_unit *u = &s->gu[unit];
    const double L = s->o.gradient_logit;
    for (int64_t i = 0; i < s->P; i++)
        u->w[i] = table[i] ? L : -L;
    double E;
    dca_status st = dca_objective_eval(u->obj, u->w, &E, u->g, NULL, err);
    if (st)
        return st;
    for (int64_t i = 0; i < s->P; i++)
        gain[i] = 2.0 * u->w[i] * u->g[i];
    return DCA_OK;
}

/* The gains of `count` tables (rules[k] at gains + k P), side by side. */
static dca_status gains_of_all(dca_search *s, const uint8_t *const *rules, int64_t count,
                               double *gains, dca_error *err)
{
    dca_status first = DCA_OK;
    dca_error e0;
    int64_t first_k = count; /* the lowest failing table reports, whatever the threads */
#pragma omp parallel num_threads(s->threads)
    {
        dca_error e;
        const int t = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < count; k++) {
            dca_status st = gains_of(s, t, rules[k], gains + k * s->P, &e);
            if (st)
#pragma omp critical
                if (k < first_k) {
                    first_k = k;
                    first = st;
                    e0 = e;
                }
        }
    }
    if (first)
        *err = e0;
    return first;
}

/* An entry drawn with probability proportional to the positive entries of
 * w (u uniform on [0, 1)), or -1 when none is positive. */
static int64_t pick_weighted(const double *w, int64_t P, double u)
{
    double total = 0;
    for (int64_t i = 0; i < P; i++)
        total += w[i] > 0 ? w[i] : 0;
    if (!(total > 0))
        return -1;
    double acc = 0, target = u * total;
    for (int64_t i = 0; i < P; i++)
        if (w[i] > 0 && (acc += w[i]) > target)
            return i;
    for (int64_t i = P - 1; i >= 0; i--) /* rounding */
        if (w[i] > 0)
            return i;
    return -1;
}

/* `mutations` distinct entries of the table to flip: uniformly, or with
 * probability proportional to the positive part of gain (uniformly among
 * the rest once no positive gain is left). Under the symmetry, pairs: the
 * lower entry is drawn (weighed by the pair's summed gain) and both flip.
 * wbuf: P doubles of scratch. */
static void mutate(const dca_search *s, int64_t run, int64_t gen, uint64_t id, uint8_t *table,
                   const double *gain, double *wbuf)
{
    const int64_t P = s->P, F = s->free_entries, count = s->o.mutations < F ? s->o.mutations : F;
    const int64_t *partner = s->partner;
    for (int64_t i = 0; i < P; i++) { /* -1 marks an entry taken (or a pair's higher entry) */
        const double g = !gain ? 0 : partner ? gain[i] + gain[partner[i]] : gain[i];
        wbuf[i] = partner && partner[i] < i ? -1 : g > 0 ? g : 0;
    }
    for (int64_t k = 0; k < count; k++) {
        const double u = U(s, run, gen, R_MUTATE, id * (uint64_t)count + (uint64_t)k);
        int64_t pick = pick_weighted(wbuf, P, u);
        if (pick < 0 && partner) { /* uniform among the pairs left */
            int64_t nth = (int64_t)(u * (double)(F - k));
            nth = nth < F - k ? nth : F - k - 1;
            for (int64_t i = 0; i < P && pick < 0; i++)
                if (wbuf[i] >= 0 && nth-- == 0)
                    pick = i;
        } else if (pick < 0) {
            pick = (int64_t)(u * (double)P);
            pick = pick < P ? pick : P - 1;
            while (wbuf[pick] < 0)
                pick = (pick + 1) % P;
        }
        table[pick] ^= 1;
        if (partner)
            table[partner[pick]] ^= 1;
        wbuf[pick] = -1;
    }
}

static int by_fitness_desc(const void *a, const void *b, void *ctx)
{
    const double *f = ctx;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (f[i] != f[j])
        return f[i] > f[j] ? -1 : 1;
    return (i > j) - (i < j);
}

/* Stable sort of indices by fitness (descending), ties by index. */
static void order_by(const double *f, int64_t n, int64_t *order)
{
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    /* insertion sort: populations are small, and it is stable */
    for (int64_t i = 1; i < n; i++) {
        int64_t v = order[i], j = i;
        while (j > 0 && by_fitness_desc(&v, &order[j - 1], (void *)f) < 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

/* A random initial rule: lambda uniform on [0, 1], each entry 1 with
 * probability lambda (as Mitchell et al. did). */
static void random_rule(const dca_search *s, int64_t run, uint64_t id, uint8_t *t)
{
    double lambda = U(s, run, 0, R_INIT_LAMBDA, id);
    for (int64_t i = 0; i < s->P; i++)
        t[i] = U(s, run, 0, R_INIT_BITS, id * (uint64_t)s->P + (uint64_t)i) < lambda;
    symmetrize(s, t);
}

typedef struct run_state {
    dca_search *s;
    int64_t run;
    dca_search_history *h;
    dca_search_progress progress;
    void *ctx;
    int64_t next_test;
    double best_test;
    double evaluations;
} run_state;

/* Records generation g's best rule and fitness; tests it when due. */
static void record(run_state *rs, int64_t g, const uint8_t *best, double fbest, double fmean)
{
    dca_search *s = rs->s;
    dca_search_history *h = rs->h;
    h->best_fitness[g] = fbest;
    h->mean_fitness[g] = fmean;
    h->evaluations[g] = rs->evaluations;
    memcpy(h->best_rule + g * s->P, best, (size_t)s->P);
    double test = NAN;
    if (rs->next_test < dca_search_tests(&s->o) &&
        dca_search_test_generation(&s->o, rs->next_test) == g) {
        test = test_accuracy(s, best);
        h->test_accuracy[rs->next_test++] = test;
        if (!(test <= rs->best_test)) {
            rs->best_test = test;
            memcpy(h->final_rule, best, (size_t)s->P);
            h->final_test = test;
        }
    }
    if (rs->progress)
        rs->progress(rs->ctx, rs->run, g, fbest, test);
}

/* GA and coevolution: one population of rules (and of IC densities). */
/* Runs `count` rules on the generation's configurations and counts the
 * budget: fit[r] = rule r's fraction correct, *mean their mean. */
static dca_status score_rules(dca_search *s, run_state *rs, const uint8_t *rules, int64_t count,
                              uint8_t *ok, double *fit, double *mean, dca_error *err)
{
    const int64_t C = s->o.configurations;
    dca_status st = eval_rules(s, rules, count, ok, err);
    if (st)
        return st;
    rs->evaluations += (double)(count * C);
    *mean = 0;
    for (int64_t r = 0; r < count; r++) {
        int64_t c = 0;
        for (int64_t j = 0; j < C; j++)
            c += ok[r * C + j];
        fit[r] = (double)c / (double)C;
        *mean += fit[r];
    }
    return DCA_OK;
}

static dca_status run_population(run_state *rs, dca_error *err)
{
    dca_search *s = rs->s;
    const int64_t N = s->o.population, E = s->o.elite, P = s->P, C = s->o.configurations;
    const int coev = s->kind == S_COEV || s->kind == S_COEV_GRAD;
    const int grad = s->kind == S_GA_GRAD || s->kind == S_COEV_GRAD;
    const int64_t run = rs->run;
    uint8_t *pop = malloc((size_t)(N * P)), *next = malloc((size_t)(N * P));
    uint8_t *ok = malloc((size_t)(N * C));
    double *fit = malloc((size_t)N * sizeof *fit), *raw = malloc((size_t)N * sizeof *raw);
    int64_t *order = malloc((size_t)(N > C ? N : C) * sizeof *order);
    double *gain = grad ? malloc((size_t)(E * P) * sizeof *gain) : NULL;
    const uint8_t **elite_rules = malloc((size_t)E * sizeof *elite_rules);
    double *wbuf = malloc((size_t)P * sizeof *wbuf), *gchild = malloc((size_t)P * sizeof *gchild);
    double *icfit = malloc((size_t)C * sizeof *icfit), *dens = malloc((size_t)C * sizeof *dens);
    dca_status st = DCA_OK;
    if (!pop || !next || !ok || !fit || !raw || !order || (grad && !gain) || !elite_rules ||
        !wbuf || !gchild ||
        !icfit || !dens) {
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a population of %lld rules",
                           (long long)N);
        goto out;
    }
    for (int64_t r = 0; r < N; r++)
        random_rule(s, run, (uint64_t)r, pop + r * P);
    for (int64_t j = 0; j < C; j++)
        dens[j] = U(s, run, 0, R_IC, (uint64_t)j);
    for (int64_t g = 0; g < s->o.generations; g++) {
        draw_generation(s, run, g, coev ? dens : NULL);
        double mean;
        if ((st = score_rules(s, rs, pop, N, ok, raw, &mean, err)))
            goto out;
        if (coev) {
            /* Resource sharing (Juille and Pollack 1998). */
            for (int64_t r = 0; r < N; r++)
                fit[r] = 0;
            for (int64_t j = 0; j < C; j++) {
                int64_t solved = 0;
                for (int64_t r = 0; r < N; r++)
                    solved += ok[r * C + j];
                for (int64_t r = 0; r < N; r++)
                    if (ok[r * C + j])
                        fit[r] += 1.0 / (double)solved;
                icfit[j] = 0;
            }
            for (int64_t r = 0; r < N; r++) {
                int64_t failed = 0;
                for (int64_t j = 0; j < C; j++)
                    failed += !ok[r * C + j];
                for (int64_t j = 0; j < C; j++)
                    if (!ok[r * C + j])
                        icfit[j] += 1.0 / (double)failed;
            }
        } else {
            memcpy(fit, raw, (size_t)N * sizeof *fit);
        }
        order_by(fit, N, order);
        record(rs, g, pop + order[0] * P, raw[order[0]], mean / (double)N);
        if (g == s->o.generations - 1) {
            /* The last generation: test every elite, keep the best. */
            for (int64_t e = 1; e < E; e++) {
                const uint8_t *t = pop + order[e] * P;
                double a = test_accuracy(s, t);
                if (a > rs->best_test) {
                    rs->best_test = a;
                    memcpy(rs->h->final_rule, t, (size_t)P);
                    rs->h->final_test = a;
                }
            }
            break;
        }
        if (grad) {
            for (int64_t e = 0; e < E; e++)
                elite_rules[e] = pop + order[e] * P;
            if ((st = gains_of_all(s, elite_rules, E, gain, err)))
                goto out;
            rs->h->gradient_evaluations += E;
        }
        /* Elite survive; offspring from single-point crossover of elite
         * pairs (parents drawn with replacement), then mutations. */
        for (int64_t e = 0; e < E; e++)
            memcpy(next + e * P, pop + order[e] * P, (size_t)P);
        for (int64_t k = E, pair = 0; k < N; pair++) {
            int64_t a = (int64_t)(U(s, run, g, R_PARENT, 2 * (uint64_t)pair) * (double)E);
            int64_t b = (int64_t)(U(s, run, g, R_PARENT, 2 * (uint64_t)pair + 1) * (double)E);
            a = a < E ? a : E - 1;
            b = b < E ? b : E - 1;
            int64_t cut = 1 + (int64_t)(U(s, run, g, R_CROSS, (uint64_t)pair) * (double)(P - 1));
            cut = cut < P ? cut : P - 1;
            const uint8_t *pa = pop + order[a] * P, *pb = pop + order[b] * P;
            for (int child = 0; child < 2 && k < N; child++, k++) {
                uint8_t *c = next + k * P;
                const uint8_t *first = child ? pb : pa, *second = child ? pa : pb;
                memcpy(c, first, (size_t)cut);
                memcpy(c + cut, second + cut, (size_t)(P - cut));
                symmetrize(s, c);
                if (grad) {
                    /* The first parent's gains; an entry that crossover
                     * changed has the opposite sign in the child. */
                    const double *gn = gain + (child ? b : a) * P;
                    for (int64_t i = 0; i < P; i++)
                        gchild[i] = c[i] == first[i] ? gn[i] : -gn[i];
                }
                mutate(s, run, g, (uint64_t)k, c, grad ? gchild : NULL, wbuf);
            }
        }
        uint8_t *t = pop;
        pop = next;
        next = t;
        if (coev) {
            /* IC densities: the best fifth (by shared fitness) survive;
             * of the rest, half are copies of them moved by N(0, ic_sigma)
             * and reflected into [0, 1], half fresh uniform densities (a
             * dca choice: it keeps easy ICs in play, against the
             * disengagement of rules and ICs that a pure arms race shows). */
            order_by(icfit, C, order);
            const int64_t keep = C / 5 > 0 ? C / 5 : 1;
            for (int64_t j = 0; j < C; j++)
                icfit[j] = dens[order[j % keep]];
            for (int64_t j = keep; j < C; j++) {
                if (U(s, run, g, R_IC_FRESH, 2 * (uint64_t)j) < 0.5) {
                    icfit[j] = U(s, run, g, R_IC_FRESH, 2 * (uint64_t)j + 1);
                    continue;
                }
                double d = icfit[j] + s->o.ic_sigma * N01(s, run, g, R_IC_MUTATE, (uint64_t)j);
                d = fabs(d);
                icfit[j] = d > 1 ? 2 - d : d;
            }
            memcpy(dens, icfit, (size_t)C * sizeof *dens);
        }
    }
out:
    free(pop), free(next), free(ok), free(fit), free(raw), free(order), free(gain), free(wbuf);
    free(gchild), free(icfit), free(dens), free(elite_rules);
    return st;
}

/* Simulated annealing: one rule; generation = population/2 iterations, each
 * scoring the current rule and a one-flip candidate on the same fresh
 * configurations (2 x configurations configuration-runs). */
static dca_status run_annealing(run_state *rs, dca_error *err)
{
    dca_search *s = rs->s;
    const int64_t P = s->P, C = s->o.configurations, iters = s->o.population / 2;
    const int grad = s->kind == S_SA_GRAD;
    const int64_t run = rs->run, G = s->o.generations;
    uint8_t *pair = malloc((size_t)(2 * P)), *ok = malloc((size_t)(2 * C));
    double *gain = grad ? malloc((size_t)P * sizeof *gain) : NULL;
    double *wbuf = malloc((size_t)P * sizeof *wbuf);
    dca_status st = DCA_OK;
    if (!pair || !ok || (grad && !gain) || !wbuf) {
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        goto out;
    }
    uint8_t *cur = pair, *cand = pair + P;
    random_rule(s, run, 0, cur);
    int stale = 1; /* the gains are for another rule */
    const double T0 = s->o.temperature_start, T1 = s->o.temperature_end;
    for (int64_t g = 0; g < G; g++) {
        double sum = 0, last = 0;
        for (int64_t it = 0; it < iters; it++) {
            const int64_t k = g * iters + it;
            /* Fresh configurations per iteration: keyed by (g, it). */
            draw_generation(s, run, k, NULL);
            if (grad && stale) {
                if ((st = gains_of(s, 0, cur, gain, err)))
                    goto out;
                rs->h->gradient_evaluations++;
                stale = 0;
            }
            memcpy(cand, cur, (size_t)P);
            /* [search] mutations flips per proposal (1: classic SA). */
            mutate(s, run, k, 0, cand, grad ? gain : NULL, wbuf);
            if ((st = eval_rules(s, pair, 2, ok, err)))
                goto out;
            rs->evaluations += (double)(2 * C);
            int64_t a = 0, b = 0;
            for (int64_t j = 0; j < C; j++)
                a += ok[j], b += ok[C + j];
            double fa = (double)a / (double)C, fb = (double)b / (double)C;
            const double frac = (double)k / (double)(G * iters > 1 ? G * iters - 1 : 1);
            const double temp = T0 * pow(T1 / T0, frac);
            int accept = fb >= fa || U(s, run, k, R_ACCEPT, 0) < exp((fb - fa) / temp);
            if (accept) {
                memcpy(cur, cand, (size_t)P);
                stale = 1;
                last = fb;
            } else {
                last = fa;
            }
            sum += last;
        }
        record(rs, g, cur, last, iters ? sum / (double)iters : 0);
    }
out:
    free(pair), free(ok), free(gain), free(wbuf);
    return st;
}

/* NES over rho = sigmoid(theta). */
static dca_status run_nes(run_state *rs, dca_error *err)
{
    dca_search *s = rs->s;
    const int64_t N = s->o.population, P = s->P, C = s->o.configurations;
    const int64_t run = rs->run;
    uint8_t *pop = malloc((size_t)(N * P)), *ok = malloc((size_t)(N * C));
    double *theta = calloc((size_t)P, sizeof *theta), *grad = malloc((size_t)P * sizeof *grad);
    double *fit = malloc((size_t)N * sizeof *fit), *util = malloc((size_t)N * sizeof *util);
    int64_t *order = malloc((size_t)N * sizeof *order);
    dca_optim *opt = NULL;
    dca_status st = DCA_OK;
    if (!pop || !ok || !theta || !grad || !fit || !util || !order) {
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        goto out;
    }
    const dca_optim_type *adam = dca_optim_type_find("adam");
    double par[16];
    for (int i = 0; i < adam->n_params && i < 16; i++)
        par[i] = strcmp(adam->params[i].key, "learning-rate") == 0
                     ? s->o.nes_rate
                     : dca_optim_param_default(&adam->params[i]);
    if ((st = dca_optim_create("adam", par, P, s->o.seed, &opt, err)))
        goto out;
    for (int64_t g = 0; g < s->o.generations; g++) {
        for (int64_t r = 0; r < N; r++)
            for (int64_t i = 0; i < P; i++)
                pop[r * P + i] = U(s, run, g, R_NES, (uint64_t)(r * P + i)) <
                                 1.0 / (1.0 + exp(-theta[i]));
        for (int64_t r = 0; r < N; r++)
            symmetrize(s, pop + r * P);
        draw_generation(s, run, g, NULL);
        double mean;
        if ((st = score_rules(s, rs, pop, N, ok, fit, &mean, err)))
            goto out;
        order_by(fit, N, order);
        record(rs, g, pop + order[0] * P, fit[order[0]], mean / (double)N);
        /* Centred ranks: the best +1/2, the worst -1/2. */
        for (int64_t k = 0; k < N; k++)
            util[order[k]] = 0.5 - (double)k / (double)(N - 1);
        /* dE/dtheta for E = -expected utility: -(1/N) sum u (b - rho). */
        for (int64_t i = 0; i < P; i++) {
            const double rho = 1.0 / (1.0 + exp(-theta[i]));
            double acc = 0;
            for (int64_t r = 0; r < N; r++)
                acc += util[r] * ((double)pop[r * P + i] - rho);
            grad[i] = s->partner && s->partner[i] < i ? 0 : -acc / (double)N;
        }
        dca_optim_step(opt, 1.0 - mean / (double)N, grad, theta);
    }
out:
    dca_optim_destroy(opt);
    free(pop), free(ok), free(theta), free(grad), free(fit), free(util), free(order);
    return st;
}

dca_status dca_search_run(dca_search *s, int64_t run, dca_search_history *h,
                          dca_search_progress progress, void *ctx, dca_error *err)
{
    run_state rs = {s, run, h, progress, ctx, 0, -1.0, 0};
    h->gradient_evaluations = 0;
    h->final_test = NAN;
    for (int64_t i = 0; i < dca_search_tests(&s->o); i++)
        h->test_accuracy[i] = NAN;
    switch (s->kind) {
    case S_SA:
    case S_SA_GRAD:
        return run_annealing(&rs, err);
    case S_NES:
        return run_nes(&rs, err);
    default:
        return run_population(&rs, err);
    }
}
