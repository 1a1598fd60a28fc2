#include "dca/task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bignum.h"
#include "hard.h"
#include "text.h"

static int64_t values_per_config(const dca_task_shape *sh)
{
    int64_t cells = dca_lattice_cells(sh->lat);
    return sh->mode == DCA_MODE_BINARY ? cells : cells * sh->states;
}

static int64_t norm_batch(const dca_task_shape *sh)
{
    return sh->norm_batch > 0 ? sh->norm_batch : sh->batch;
}

/* phi = x0 (after the eps mapping, as in the paper's appendix). */
static dca_status t_identity(const dca_task_shape *sh, const double *x0, double *phi,
                             dca_error *err)
{
    (void)err;
    memcpy(phi, x0, (size_t)(sh->batch * values_per_config(sh)) * sizeof *phi);
    return DCA_OK;
}

/* Every cell -> the state with the largest total probability in x0, as an
 * exact one-hot (binary: 0/1). Ties go to the lowest state. */
static dca_status t_majority(const dca_task_shape *sh, const double *x0, double *phi,
                             dca_error *err)
{
    (void)err;
    const int64_t cells = dca_lattice_cells(sh->lat), len = values_per_config(sh);
    const int k = sh->states;
    for (int64_t b = 0; b < sh->batch; b++) {
        const double *x = x0 + b * len;
        double *p = phi + b * len;
        if (sh->mode == DCA_MODE_BINARY) {
            double ones = 0.0;
            for (int64_t c = 0; c < cells; c++)
                ones += x[c];
            double major = ones > 0.5 * (double)cells ? 1.0 : 0.0;
            for (int64_t c = 0; c < cells; c++)
                p[c] = major;
            continue;
        }
        int best = 0;
        double best_sum = -1.0;
        for (int a = 0; a < k; a++) {
            double s = 0.0;
            for (int64_t c = 0; c < cells; c++)
                s += x[c * k + a];
            if (s > best_sum) {
                best_sum = s;
                best = a;
            }
        }
        for (int64_t c = 0; c < cells; c++)
            for (int a = 0; a < k; a++)
                p[c * k + a] = a == best;
    }
    return DCA_OK;
}

/* -phi log(max(x, floor)); its derivative, 0 where the floor is active. */
static double xlogx_term(double phi, double x, double *dx)
{
    if (phi == 0.0) {
        *dx = 0.0;
        return 0.0;
    }
    if (x <= DCA_LOG_FLOOR) {
        *dx = 0.0;
        return -phi * log(DCA_LOG_FLOOR);
    }
    *dx = -phi / x;
    return -phi * log(x);
}

double dca_loss_scale(const dca_task_shape *sh)
{
    return 1.0 / ((double)norm_batch(sh) * (double)dca_lattice_cells(sh->lat));
}

/* Each loss is a sum of per-value terms, added to start one at a time in
 * value order, times dca_loss_scale: a slice of a batch can continue the
 * running sum of the slices before it and so give the whole batch's sum
 * bit for bit (dca_loss_sum_of). */
static double ce_sum(const dca_task_shape *sh, const double *phi, const double *x, double *xbar,
                     double start)
{
    const int64_t n = sh->batch * values_per_config(sh);
    const double scale = dca_loss_scale(sh);
    double E = start;
    for (int64_t i = 0; i < n; i++) {
        double d1, d0 = 0.0, e;
        e = xlogx_term(phi[i], x[i], &d1);
        if (sh->mode == DCA_MODE_BINARY) {
            /* The state-0 term: -(1 - phi) log(1 - x). */
            e += xlogx_term(1.0 - phi[i], 1.0 - x[i], &d0);
            d0 = -d0;
        }
        E += e;
        if (xbar)
            xbar[i] = (d1 + d0) * scale;
    }
    return E;
}

static double mse_sum(const dca_task_shape *sh, const double *phi, const double *x, double *xbar,
                      double start)
{
    const int64_t n = sh->batch * values_per_config(sh);
    const double scale = dca_loss_scale(sh);
    double E = start;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - phi[i];
        E += d * d;
        if (xbar)
            xbar[i] = 2.0 * d * scale;
    }
    return E;
}

static double ce_running(const dca_task_shape *sh, const double *phi, const double *x,
                         double start)
{
    return ce_sum(sh, phi, x, NULL, start);
}

static double mse_running(const dca_task_shape *sh, const double *phi, const double *x,
                          double start)
{
    return mse_sum(sh, phi, x, NULL, start);
}

static double l_cross_entropy(const dca_task_shape *sh, const double *phi, const double *x,
                              double *xbar)
{
    return ce_sum(sh, phi, x, xbar, 0.0) * dca_loss_scale(sh);
}

static double l_mse(const dca_task_shape *sh, const double *phi, const double *x, double *xbar)
{
    return mse_sum(sh, phi, x, xbar, 0.0) * dca_loss_scale(sh);
}

static const struct {
    const char *name;
    dca_loss_fn fn;
    dca_loss_sum_fn sum;
} losses[] = {{"cross-entropy", l_cross_entropy, ce_running}, {"mse", l_mse, mse_running}};

dca_loss_sum_fn dca_loss_sum_of(dca_loss_fn loss)
{
    for (size_t i = 0; i < sizeof losses / sizeof *losses; i++)
        if (losses[i].fn == loss)
            return losses[i].sum;
    return NULL;
}

dca_loss_fn dca_loss_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof losses / sizeof *losses; i++)
        if (strcmp(losses[i].name, name) == 0)
            return losses[i].fn;
    return NULL;
}

const char *dca_loss_names(void) { return "cross-entropy, mse"; }

/* shift:D or shift:DY,DX */
static bool parse_shift(const char *arg, int dims, int64_t *dy, int64_t *dx)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", arg);
    char *comma = strchr(buf, ',');
    if (dims == 1) {
        *dy = 0;
        return !comma && dca_parse_i64(buf, dx);
    }
    if (!comma)
        return false;
    *comma = '\0';
    return dca_parse_i64(buf, dy) && dca_parse_i64(comma + 1, dx);
}

static dca_status t_shift(const char *arg, const dca_task_shape *sh, const double *x0, double *phi,
                          dca_error *err)
{
    int64_t dy, dx;
    if (!parse_shift(arg, sh->lat->dims, &dy, &dx))
        return dca_error_set(err, DCA_ERR_ARG, sh->lat->dims == 1
                                                   ? "shift:D needs a whole number D, got '%s'"
                                                   : "shift:DY,DX needs two whole numbers, got '%s'",
                             arg);
    const int64_t rows = sh->lat->dims == 1 ? 1 : sh->lat->shape[0];
    const int64_t cols = sh->lat->dims == 1 ? sh->lat->shape[0] : sh->lat->shape[1];
    const int L = sh->mode == DCA_MODE_BINARY ? 1 : sh->states;
    const int64_t len = rows * cols * L;
    for (int64_t b = 0; b < sh->batch; b++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                int64_t sr = ((r - dy) % rows + rows) % rows, sc = ((c - dx) % cols + cols) % cols;
                memcpy(phi + b * len + (r * cols + c) * L, x0 + b * len + (sr * cols + sc) * L,
                       (size_t)L * sizeof *phi);
            }
    return DCA_OK;
}

/* phi = the hard rule r run T steps from x0 rounded to 0/1. */
static dca_status run_hard_target(const dca_rule *r, int64_t T, const dca_task_shape *sh,
                                  const double *x0, double *phi, dca_error *err)
{
    const int64_t cells = dca_lattice_cells(sh->lat);
    const int L = sh->mode == DCA_MODE_BINARY ? 1 : 2;
    dca_hard *h = NULL;
    uint8_t *a = malloc((size_t)cells), *b = malloc((size_t)cells);
    dca_status st = DCA_OK;
    if (!a || !b) {
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = dca_hard_create(sh->lat, r, 1, &h, err)))
        goto done;
    for (int64_t j = 0; j < sh->batch; j++) {
        const double *x = x0 + j * cells * L;
        for (int64_t c = 0; c < cells; c++)
            a[c] = (L == 1 ? x[c] : x[2 * c + 1]) >= 0.5;
        for (int64_t t = 0; t < T; t++) {
            dca_hard_step(h, a, b);
            uint8_t *sw = a;
            a = b;
            b = sw;
        }
        double *p = phi + j * cells * L;
        for (int64_t c = 0; c < cells; c++) {
            if (L == 1) {
                p[c] = a[c];
            } else {
                p[2 * c] = 1 - a[c];
                p[2 * c + 1] = a[c];
            }
        }
    }
done:
    dca_hard_destroy(h);
    free(a), free(b);
    return st;
}

/* Splits "SPEC:T" at the last colon. */
static bool split_steps(const char *arg, char *buf, size_t len, int64_t *T)
{
    snprintf(buf, len, "%s", arg);
    char *colon = strrchr(buf, ':');
    if (!colon || colon == buf || !dca_parse_i64(colon + 1, T) || *T < 0)
        return false;
    *colon = '\0';
    return true;
}

static dca_status t_rule(const char *arg, const dca_task_shape *sh, const double *x0, double *phi,
                         dca_error *err)
{
    char buf[4096];
    int64_t T;
    if (!split_steps(arg, buf, sizeof buf, &T))
        return dca_error_set(err, DCA_ERR_ARG, "rule:N:T needs a rule number and a step count T "
                                               ">= 0, got 'rule:%s'", arg);
    if (sh->states != 2 || !sh->nb)
        return dca_error_set(err, DCA_ERR_ARG, "rule:N:T targets are for 2-state rules");
    dca_rule *r = NULL;
    uint8_t *bits = NULL;
    double *rho = NULL;
    dca_status st = dca_rule_create(sh->nb, 2, DCA_MODE_BINARY, &r, err);
    if (st)
        return st;
    const int64_t P = dca_rule_patterns(r);
    bits = malloc((size_t)P);
    rho = malloc((size_t)P * sizeof *rho);
    char why[512];
    if (!bits || !rho) {
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!dca_table_bits(buf, false, P, bits, why, sizeof why)) {
        st = dca_error_set(err, DCA_ERR_ARG, "rule:%s: %s", arg, why);
        goto done;
    }
    for (int64_t y = 0; y < P; y++)
        rho[y] = bits[y];
    if (!(st = dca_rule_set_probabilities(r, rho, err)))
        st = run_hard_target(r, T, sh, x0, phi, err);
done:
    dca_rule_destroy(r);
    free(bits), free(rho);
    return st;
}

/* life:Bxx/Syy:T: the Life-like rule (outer-totalistic over the experiment's
 * neighbourhood) run T steps; any neighbourhood size. */
static dca_status t_life(const char *arg, const dca_task_shape *sh, const double *x0,
                         double *phi, dca_error *err)
{
    char buf[4096];
    int64_t T;
    if (!split_steps(arg, buf, sizeof buf, &T))
        return dca_error_set(err, DCA_ERR_ARG, "life:Bxx/Syy:T needs B/S notation and a step "
                                               "count T >= 0, got 'life:%s'", arg);
    if (sh->states != 2 || !sh->nb)
        return dca_error_set(err, DCA_ERR_ARG, "life: targets are for 2-state rules");
    dca_rule *r = NULL;
    dca_status st = dca_rule_create_outer_totalistic(sh->nb, &r, err);
    if (!st && !(st = dca_rule_set_life(r, buf, err)))
        st = run_hard_target(r, T, sh, x0, phi, err);
    dca_rule_destroy(r);
    return st;
}

static dca_status t_file(const char *arg, const dca_task_shape *sh, const double *x0, double *phi,
                         dca_error *err)
{
    (void)x0;
    double *v = NULL;
    int64_t B = 0;
    if (!sh->read_configurations)
        return dca_error_set(err, DCA_ERR_UNSUPPORTED,
                             "file: targets need a reader of configuration files (the "
                             "experiment layer supplies one)");
    dca_status st = sh->read_configurations(arg, sh->basedir, sh->lat, sh->states, sh->mode,
                                            sh->batch, &v, &B, err);
    if (st)
        return st;
    const int64_t n = B * dca_lattice_cells(sh->lat) * (sh->mode == DCA_MODE_BINARY ? 1 : sh->states);
    memcpy(phi, v, (size_t)n * sizeof *phi);
    free(v);
    return DCA_OK;
}

/* Syntax checks of the parameterised targets (for the configuration
 * loader: no data needed). */
static bool steps_suffix(const char *arg)
{
    const char *colon = strrchr(arg, ':');
    int64_t T;
    return colon && colon != arg && dca_parse_i64(colon + 1, &T) && T >= 0;
}

static bool v_shift(const char *arg)
{
    int64_t dy, dx;
    return parse_shift(arg, 1, &dy, &dx) || parse_shift(arg, 2, &dy, &dx);
}

static bool v_file(const char *arg) { return strstr(arg, ":/") && arg[0] != ':'; }

/* The targets (STYLE.md 5): a plain name, or a prefix with an argument. */
typedef struct target_def {
    const char *name;   /* "identity", or a prefix ending in ':' */
    const char *syntax; /* for messages */
    dca_target_fn plain;
    dca_status (*make)(const char *arg, const dca_task_shape *sh, const double *x0, double *phi,
                       dca_error *err);
    bool (*valid)(const char *arg);
} target_def;

static const target_def targets[] = {
    {"identity", "identity", t_identity, NULL, NULL},
    {"majority", "majority", t_majority, NULL, NULL},
    {"shift:", "shift:D (1D) or shift:DY,DX (2D) with whole numbers", NULL, t_shift, v_shift},
    {"rule:", "rule:N:T with a rule number N and a step count T >= 0", NULL, t_rule, steps_suffix},
    {"life:", "life:Bxx/Syy:T with B/S notation and a step count T >= 0", NULL, t_life,
     steps_suffix},
    {"file:", "file:PATH.h5:/DATASET", NULL, t_file, v_file},
};
enum { n_targets = sizeof targets / sizeof *targets };

/* The entry for spec and, for a prefix entry, its argument. */
static const target_def *find_target(const char *spec, const char **arg)
{
    for (int i = 0; i < n_targets; i++) {
        if (targets[i].plain && strcmp(spec, targets[i].name) == 0)
            return &targets[i];
        if (!targets[i].plain && (*arg = dca_strip_prefix(spec, targets[i].name)))
            return &targets[i];
    }
    return NULL;
}

dca_target_fn dca_target_lookup(const char *name)
{
    const char *arg;
    const target_def *t = find_target(name, &arg);
    return t ? t->plain : NULL;
}

const char *dca_target_names(void)
{
    static char buf[256];
    if (!buf[0])
        for (int i = 0; i < n_targets; i++) {
            size_t n = strlen(buf);
            const char *s = targets[i].syntax, *cut = strstr(s, " ");
            snprintf(buf + n, sizeof buf - n, "%s%.*s",
                     i == 0 ? "" : (i == n_targets - 1 ? " or " : ", "),
                     cut ? (int)(cut - s) : (int)strlen(s), s);
        }
    return buf;
}

dca_status dca_target_make(const char *spec, const dca_task_shape *sh, const double *x0,
                           double *phi, dca_error *err)
{
    const char *arg = NULL;
    const target_def *t = find_target(spec, &arg);
    if (!t)
        return dca_error_set(err, DCA_ERR_ARG, "unknown target '%s': expected %s", spec,
                             dca_target_names());
    return t->plain ? t->plain(sh, x0, phi, err) : t->make(arg, sh, x0, phi, err);
}

bool dca_target_valid(const char *spec, char *why, size_t len)
{
    const char *arg = NULL;
    const target_def *t = find_target(spec, &arg);
    if (t && (t->plain || t->valid(arg)))
        return true;
    if (t)
        snprintf(why, len, "%s", t->syntax);
    else
        snprintf(why, len, "expected none, %s", dca_target_names());
    return false;
}
