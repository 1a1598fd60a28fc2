/* Full pattern tables: weights and the probabilities rho derived from them. */
#include "dca/dca.h"
#include "plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "text.h"

struct dca_rule {
    dca_nbhd *nb; /* a private copy */
    dca_rule_kind kind;
    int centre;   /* outer-totalistic: position of the centre offset */
    int states;
    dca_mode mode;
    int outputs;
    int64_t patterns;
    int64_t params;
    double *weights;
    double *rho;
    uint64_t generation; /* counts changes of weights and rho (plans compare it) */
};

dca_status dca_rule_create(const dca_nbhd *nb, int states, dca_mode mode, dca_rule **out,
                           dca_error *err)
{
    if (states < 2)
        return dca_error_set(err, DCA_ERR_ARG, "a rule needs at least 2 states, got %d", states);
    if (mode == DCA_MODE_BINARY && states != 2)
        return dca_error_set(err, DCA_ERR_ARG,
                             "binary mode has exactly 2 states, got %d (use mode = softmax)",
                             states);
    int m = dca_nbhd_count(nb);
    /* patterns = states^m, refused once the two tables (weights and rho)
     * plus the simulator's copy would not fit in physical memory. */
    int64_t limit = dca_mem_physical() / 8 / 3;
    int64_t patterns = 1;
    int outputs = mode == DCA_MODE_BINARY ? 1 : states;
    for (int s = 0; s < m; s++) {
        if (patterns > limit / states) {
            char a[64];
            return dca_error_set(err, DCA_ERR_NOMEM,
                                 "a full table for %d states over %d neighbours has %d^%d "
                                 "patterns; it cannot fit in %s of memory (use a "
                                 "smaller neighbourhood, or the outer-totalistic family for large "
                                 "ones)", states, m, states, m,
                                 dca_mem_budget(a, sizeof a));
        }
        patterns *= states;
    }
    if (patterns > limit / outputs) {
        char a[64];
        return dca_error_set(err, DCA_ERR_NOMEM,
                             "a full table for %d states over %d neighbours has %lld parameters; "
                             "it cannot fit in %s of memory", states, m,
                             (long long)(patterns * outputs),
                             dca_mem_budget(a, sizeof a));
    }
    dca_rule *r = calloc(1, sizeof *r);
    if (!r)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a rule");
    dca_status st = dca_nbhd_create(dca_nbhd_dims(nb), m, dca_nbhd_offsets(nb), &r->nb, err);
    if (st) {
        free(r);
        return st;
    }
    r->states = states;
    r->mode = mode;
    r->outputs = outputs;
    r->patterns = patterns;
    r->params = patterns * outputs;
    r->weights = dca_calloc((size_t)r->params * sizeof(double));
    r->rho = dca_alloc((size_t)r->params * sizeof(double));
    if (!r->weights || !r->rho) {
        dca_rule_destroy(r);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a rule with %lld parameters",
                             (long long)patterns * outputs);
    }
    st = dca_rule_set_weights(r, r->weights, err);
    if (st) {
        dca_rule_destroy(r);
        return st;
    }
    *out = r;
    return DCA_OK;
}

dca_status dca_rule_create_outer_totalistic(const dca_nbhd *nb, dca_rule **out, dca_error *err)
{
    const int m = dca_nbhd_count(nb), centre = dca_nbhd_center(nb);
    if (centre < 0)
        return dca_error_set(err, DCA_ERR_ARG,
                             "an outer-totalistic rule needs the centre offset (the cell itself) "
                             "in its neighbourhood");
    if (m < 2)
        return dca_error_set(err, DCA_ERR_ARG,
                             "an outer-totalistic rule needs at least one neighbour besides the "
                             "centre");
    dca_rule *r = calloc(1, sizeof *r);
    if (!r)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a rule");
    dca_status st = dca_nbhd_create(dca_nbhd_dims(nb), m, dca_nbhd_offsets(nb), &r->nb, err);
    if (st) {
        free(r);
        return st;
    }
    r->kind = DCA_RULE_OUTER_TOTALISTIC;
    r->centre = centre;
    r->states = 2;
    r->mode = DCA_MODE_BINARY;
    r->outputs = 1;
    r->patterns = 2 * (int64_t)m;
    r->params = r->patterns;
    r->weights = dca_calloc((size_t)r->params * sizeof(double));
    r->rho = dca_alloc((size_t)r->params * sizeof(double));
    if (!r->weights || !r->rho || (st = dca_rule_set_weights(r, r->weights, err))) {
        dca_rule_destroy(r);
        return st ? st : dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a rule");
    }
    *out = r;
    return DCA_OK;
}

void dca_rule_destroy(dca_rule *rule)
{
    if (!rule)
        return;
    dca_nbhd_destroy(rule->nb);
    free(rule->weights);
    free(rule->rho);
    free(rule);
}

const dca_nbhd *dca_rule_nbhd(const dca_rule *rule) { return rule->nb; }
dca_rule_kind dca_rule_kind_of(const dca_rule *rule) { return rule->kind; }

int dca_rule_shape(const dca_rule *rule, int64_t dims[2])
{
    const char *names[2];
    return dca_model_of(rule->kind)->param_shape(rule, dims, names);
}

int dca_rule_axes(const dca_rule *rule, const char *names[2])
{
    int64_t dims[2];
    return dca_model_of(rule->kind)->param_shape(rule, dims, names);
}

const char *dca_rule_model(const dca_rule *rule) { return dca_model_of(rule->kind)->name; }

int dca_rule_values_per_cell(const dca_rule *rule)
{
    return dca_model_of(rule->kind)->values_per_cell(rule);
}

dca_status dca_rule_param_label(const dca_rule *rule, int64_t p, char *buf, size_t len)
{
    if (!rule || !buf || len == 0)
        return DCA_ERR_ARG;
    buf[0] = '\0';
    if (p < 0 || p >= rule->params)
        return DCA_ERR_ARG;
    int n = dca_model_of(rule->kind)->param_label(rule, p, buf, len);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return DCA_ERR_ARG;
    }
    return DCA_OK;
}
int dca_rule_states(const dca_rule *rule) { return rule->states; }
dca_mode dca_rule_mode(const dca_rule *rule) { return rule->mode; }
int64_t dca_rule_patterns(const dca_rule *rule) { return rule->patterns; }
int dca_rule_outputs(const dca_rule *rule) { return rule->outputs; }
int64_t dca_rule_params(const dca_rule *rule) { return rule->params; }
const double *dca_rule_weights(const dca_rule *rule) { return rule->weights; }
const double *dca_rule_probabilities(const dca_rule *rule) { return rule->rho; }

/* sigmoid(+inf) = 1 and sigmoid(-inf) = 0 exactly: hard tables stay hard. */
static double sigmoid(double w) { return 1.0 / (1.0 + exp(-w)); }

static dca_status set_weights(dca_rule *rule, const double *weights, dca_error *err)
{
    const int64_t P = rule->params;
    const int k = rule->outputs;
    for (int64_t i = 0; i < P; i++) {
        if (isnan(weights[i]))
            return dca_error_set(err, DCA_ERR_ARG, "weight %lld is NaN", (long long)i);
        if (rule->mode == DCA_MODE_SOFTMAX && weights[i] == INFINITY)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "weight %lld is +inf; softmax weights may be finite or -inf "
                                 "(a hard table uses 0 for the chosen state and -inf for the rest)",
                                 (long long)i);
    }
    if (rule->mode == DCA_MODE_SOFTMAX)
        for (int64_t y = 0; y < rule->patterns; y++) {
            bool any = false;
            for (int a = 0; a < k; a++)
                any = any || weights[y * k + a] > -INFINITY;
            if (!any)
                return dca_error_set(err, DCA_ERR_ARG,
                                     "pattern %lld has every softmax weight -inf", (long long)y);
        }
    if (weights != rule->weights)
        memmove(rule->weights, weights, (size_t)P * sizeof *weights);
    if (rule->mode == DCA_MODE_BINARY) {
        for (int64_t i = 0; i < P; i++)
            rule->rho[i] = sigmoid(rule->weights[i]);
        return DCA_OK;
    }
    for (int64_t y = 0; y < rule->patterns; y++) {
        const double *w = rule->weights + y * k;
        double *p = rule->rho + y * k;
        double mx = -INFINITY, sum = 0.0;
        for (int a = 0; a < k; a++)
            mx = w[a] > mx ? w[a] : mx;
        for (int a = 0; a < k; a++) {
            p[a] = exp(w[a] - mx);
            sum += p[a];
        }
        for (int a = 0; a < k; a++)
            p[a] /= sum;
    }
    return DCA_OK;
}

static dca_status set_probabilities(dca_rule *rule, const double *rho, dca_error *err)
{
    const int64_t P = rule->params;
    const int k = rule->outputs;
    for (int64_t i = 0; i < P; i++)
        if (!(rho[i] >= 0.0 && rho[i] <= 1.0))
            return dca_error_set(err, DCA_ERR_ARG,
                                 "probability %lld is %g; probabilities must lie in [0, 1]",
                                 (long long)i, rho[i]);
    if (rule->mode == DCA_MODE_BINARY) {
        for (int64_t i = 0; i < P; i++) {
            rule->rho[i] = rho[i];
            rule->weights[i] = log(rho[i]) - log1p(-rho[i]);
        }
        return DCA_OK;
    }
    for (int64_t y = 0; y < rule->patterns; y++) {
        double sum = 0.0;
        for (int a = 0; a < k; a++)
            sum += rho[y * k + a];
        if (fabs(sum - 1.0) > 1e-9)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "the probabilities of pattern %lld sum to %.12g, not 1",
                                 (long long)y, sum);
        for (int a = 0; a < k; a++) {
            rule->rho[y * k + a] = rho[y * k + a] / sum;
            rule->weights[y * k + a] = log(rule->rho[y * k + a]);
        }
    }
    return DCA_OK;
}

/* Every change counts, failed ones too: a failure part-way may have changed
 * some entries already. */
dca_status dca_rule_set_weights(dca_rule *rule, const double *weights, dca_error *err)
{
    if (!rule || !weights)
        return dca_error_set(err, DCA_ERR_ARG, "dca_rule_set_weights: NULL argument");
    dca_status st = set_weights(rule, weights, err);
    rule->generation++;
    return st;
}

dca_status dca_rule_set_probabilities(dca_rule *rule, const double *rho, dca_error *err)
{
    if (!rule || !rho)
        return dca_error_set(err, DCA_ERR_ARG, "dca_rule_set_probabilities: NULL argument");
    dca_status st = set_probabilities(rule, rho, err);
    rule->generation++;
    return st;
}

uint64_t dca_rule_generation(const dca_rule *rule) { return rule->generation; }

bool dca_rule_is_hard(const dca_rule *rule)
{
    for (int64_t i = 0; i < rule->params; i++)
        if (rule->rho[i] != 0.0 && rule->rho[i] != 1.0)
            return false;
    return true;
}

bool dca_rule_hex(const dca_rule *rule, char *buf, size_t buflen)
{
    if (rule->states != 2 || rule->kind != DCA_RULE_TABLE)
        return false;
    int64_t P = rule->patterns;
    int64_t digits = (P + 3) / 4;
    if ((int64_t)buflen < digits + 1)
        return false;
    static const char hex[] = "0123456789abcdef";
    for (int64_t d = 0; d < digits; d++) {
        /* Digit d from the right holds patterns 4d .. 4d+3. */
        unsigned v = 0;
        for (int b = 0; b < 4; b++) {
            int64_t y = 4 * d + b;
            if (y >= P)
                break;
            double p = rule->mode == DCA_MODE_BINARY ? rule->rho[y] : rule->rho[2 * y + 1];
            if (p >= 0.5)
                v |= 1u << b;
        }
        buf[digits - 1 - d] = hex[v];
    }
    buf[digits] = '\0';
    return true;
}

/* Appends the counts n with set[n] to buf: digits when every count is a
 * single digit, else a comma list with ranges ("3,10..12"). */
static bool append_counts(const uint8_t *set, int max, char *buf, size_t len)
{
    size_t at = strlen(buf);
    int w;
    if (max <= 9) {
        for (int n = 0; n <= max; n++)
            if (set[n]) {
                if (at + 2 > len)
                    return false;
                buf[at++] = (char)('0' + n);
                buf[at] = '\0';
            }
        return true;
    }
    bool first = true;
    for (int n = 0; n <= max; n++) {
        if (!set[n])
            continue;
        int hi = n;
        while (hi + 1 <= max && set[hi + 1])
            hi++;
        w = hi > n ? snprintf(buf + at, len - at, "%s%d..%d", first ? "" : ",", n, hi)
                   : snprintf(buf + at, len - at, "%s%d", first ? "" : ",", n);
        if (w < 0 || (size_t)w >= len - at)
            return false;
        at += (size_t)w;
        first = false;
        n = hi;
    }
    return true;
}

bool dca_rule_life(const dca_rule *rule, char *buf, size_t buflen)
{
    if (buflen < 5)
        return false;
    const int m = dca_nbhd_count(rule->nb), centre = dca_nbhd_center(rule->nb);
    if (rule->states != 2 || centre < 0)
        return false;
    uint8_t *born = calloc((size_t)m, 1), *surv = calloc((size_t)m, 1);
    bool ok = born && surv;
    if (ok && rule->kind == DCA_RULE_OUTER_TOTALISTIC) {
        for (int n = 0; n < m; n++) {
            born[n] = rule->rho[n] >= 0.5;
            surv[n] = rule->rho[m + n] >= 0.5;
        }
    } else if (ok) {
        /* A full table is Life-like when its hardened output depends only on
         * the centre and the neighbour count. */
        uint8_t *seen = calloc((size_t)2 * (size_t)m, 1);
        ok = seen != NULL && m <= 62;
        for (int64_t y = 0; ok && y < rule->patterns; y++) {
            const int64_t e = dca_nbhd_totalistic_entry(rule->nb, y);
            const int alive = (int)(e / m), count = (int)(e % m);
            double p = rule->mode == DCA_MODE_BINARY ? rule->rho[y] : rule->rho[2 * y + 1];
            uint8_t out = p >= 0.5;
            uint8_t *dst = alive ? surv : born;
            if (seen[alive * m + count] && dst[count] != out)
                ok = false;
            seen[alive * m + count] = 1;
            dst[count] = out;
        }
        free(seen);
    }
    if (ok) {
        strcpy(buf, "B");
        ok = append_counts(born, m - 1, buf, buflen);
        size_t at = strlen(buf);
        ok = ok && at + 3 <= buflen;
        if (ok) {
            strcpy(buf + at, "/S");
            ok = append_counts(surv, m - 1, buf, buflen);
        }
    }
    free(born);
    free(surv);
    return ok;
}

/* Parses the counts of one half of B/S notation: digits ("23": counts 2
 * and 3) or, for counts above 9, a comma list with ranges ("3,10..12"). */
static bool life_counts(const char *s, int max, uint8_t *set, char *why, size_t len)
{
    if (strchr(s, ',') || strstr(s, "..")) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", s);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int64_t lo, hi;
            char *dots = strstr(t, "..");
            if (dots) {
                *dots = '\0';
                if (!dca_parse_i64(t, &lo) || !dca_parse_i64(dots + 2, &hi) || lo > hi)
                    goto bad;
            } else if (!dca_parse_i64(t, &lo)) {
                goto bad;
            } else {
                hi = lo;
            }
            if (lo < 0 || hi > max) {
                snprintf(why, len, "count %lld is outside 0..%d (the number of neighbours)",
                         (long long)(lo < 0 ? lo : hi), max);
                return false;
            }
            for (int64_t c = lo; c <= hi; c++)
                set[c] = 1;
        }
        return true;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        int c = *p - '0';
        if (c > max) {
            snprintf(why, len, "count %d is more than the %d neighbours", c, max);
            return false;
        }
        set[c] = 1;
    }
    return true;
bad:
    snprintf(why, len, "'%s' is not a list of neighbour counts (digits like 23, or 2,3,10..12)", s);
    return false;
}

/* life:Bxx/Syy as a full table: the centre offset is the cell itself, the
 * other offsets its neighbours; a dead cell is born with a count in B, a
 * live one survives with a count in S. */
dca_status dca_rule_set_life(dca_rule *r, const char *arg, dca_error *err)
{
    const dca_nbhd *nb = dca_rule_nbhd(r);
    int centre = dca_nbhd_center(nb), m = dca_nbhd_count(nb);
    if (dca_rule_states(r) != 2)
        return dca_error_set(err, DCA_ERR_ARG, "life: rules are for 2 states");
    if (centre < 0)
        return dca_error_set(err, DCA_ERR_ARG,
                             "life: rules need the centre offset in the neighbourhood");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", arg);
    char *slash = strchr(buf, '/');
    if ((buf[0] != 'B' && buf[0] != 'b') || !slash || (slash[1] != 'S' && slash[1] != 's'))
        return dca_error_set(err, DCA_ERR_ARG,
                             "life: expected B/S notation such as life:B3/S23, got '%s'", arg);
    *slash = '\0';
    uint8_t *born = calloc((size_t)m, 1), *surv = calloc((size_t)m, 1);
    char why[256];
    dca_status st = DCA_OK;
    if (!born || !surv)
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    else if (!life_counts(buf + 1, m - 1, born, why, sizeof why) ||
             !life_counts(slash + 2, m - 1, surv, why, sizeof why))
        st = dca_error_set(err, DCA_ERR_ARG, "life:%s: %s", arg, why);
    int64_t n = dca_rule_patterns(r);
    if (!st && dca_rule_kind_of(r) == DCA_RULE_OUTER_TOTALISTIC) {
        double *rho = malloc((size_t)n * sizeof *rho);
        if (!rho) {
            st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        } else {
            for (int c = 0; c < m; c++) {
                rho[c] = born[c];
                rho[m + c] = surv[c];
            }
            st = dca_rule_set_probabilities(r, rho, err);
            free(rho);
        }
        free(born);
        free(surv);
        return st;
    }
    uint8_t *bits = st ? NULL : malloc((size_t)n);
    if (!st && !bits)
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    if (!st) {
        for (int64_t y = 0; y < n; y++) {
            const int64_t e = dca_nbhd_totalistic_entry(nb, y);
            bits[y] = e >= m ? surv[e - m] : born[e];
        }
        double *rho = malloc((size_t)dca_rule_params(r) * sizeof *rho);
        if (!rho) {
            st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        } else {
            const int out = dca_rule_outputs(r);
            for (int64_t y = 0; y < n; y++) {
                if (out == 1) {
                    rho[y] = bits[y];
                } else {
                    rho[2 * y] = 1.0 - bits[y];
                    rho[2 * y + 1] = bits[y];
                }
            }
            st = dca_rule_set_probabilities(r, rho, err);
            free(rho);
        }
    }
    free(bits);
    free(born);
    free(surv);
    return st;
}
