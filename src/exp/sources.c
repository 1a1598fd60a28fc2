/* Weight sources and initial-configuration sources, and the experiment
 * builder that ties them to a configuration. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bignum.h"
#include "experiment.h"
#include "io/io.h"
#include "io/rle.h"
#include "mem.h"
#include "rng.h"
#include "text.h"

/* ---- weight sources ---------------------------------------------------------
 * Each source fills the rule from the text after its prefix. They form a
 * table: adding a source is adding a row. */
typedef struct weight_ctx {
    uint64_t seed;
    const char *basedir;
} weight_ctx;

typedef dca_status (*weight_fn)(dca_rule *rule, const char *arg, const weight_ctx *ctx,
                                dca_error *err);

static dca_status w_normal(dca_rule *r, const char *arg, const weight_ctx *ctx, dca_error *err)
{
    double sd;
    if (!dca_parse_double(arg, &sd) || !(sd >= 0.0) || !isfinite(sd))
        return dca_error_set(err, DCA_ERR_ARG,
                             "normal:STD needs a finite standard deviation >= 0, got '%s'", arg);
    int64_t P = dca_rule_params(r);
    double *w = malloc((size_t)P * sizeof *w);
    if (!w)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < P; i++)
        w[i] = sd * dca_rng_normal(ctx->seed, DCA_RNG_WEIGHTS, (uint64_t)i, 0);
    dca_status st = dca_rule_set_weights(r, w, err);
    free(w);
    return st;
}

static dca_status w_zeros(dca_rule *r, const char *arg, const weight_ctx *ctx, dca_error *err)
{
    (void)ctx;
    if (*arg)
        return dca_error_set(err, DCA_ERR_ARG, "zeros takes no argument");
    double *w = calloc((size_t)dca_rule_params(r), sizeof *w);
    if (!w)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    dca_status st = dca_rule_set_weights(r, w, err);
    free(w);
    return st;
}

static const char *shape_text(const dca_rule *r, char *buf, size_t len)
{
    if (dca_rule_kind_of(r) == DCA_RULE_OUTER_TOTALISTIC)
        snprintf(buf, len, "%lld (2 x %lld: centre state 0 then 1, each for 0..%lld live "
                 "neighbours)", (long long)dca_rule_params(r), (long long)dca_rule_params(r) / 2,
                 (long long)dca_rule_params(r) / 2 - 1);
    else if (dca_rule_mode(r) == DCA_MODE_BINARY)
        snprintf(buf, len, "%lld (one per pattern)", (long long)dca_rule_patterns(r));
    else
        snprintf(buf, len, "%lld (%lld patterns x %d states, pattern-major)",
                 (long long)dca_rule_params(r), (long long)dca_rule_patterns(r),
                 dca_rule_states(r));
    return buf;
}

static dca_status list_values(dca_rule *r, const char *arg, const char *what, double **out,
                              dca_error *err)
{
    int64_t n = 0, bad = 0;
    if (!dca_parse_double_list(arg, out, &n, &bad)) {
        if (bad < 0)
            return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        return dca_error_set(err, DCA_ERR_ARG, "%s: item %lld is not a number", what,
                             (long long)bad + 1);
    }
    if (n != dca_rule_params(r)) {
        char s[128];
        free(*out);
        return dca_error_set(err, DCA_ERR_ARG, "%s: got %lld values, this rule needs %s", what,
                             (long long)n, shape_text(r, s, sizeof s));
    }
    return DCA_OK;
}

static dca_status w_list(dca_rule *r, const char *arg, const weight_ctx *ctx, dca_error *err)
{
    (void)ctx;
    double *w = NULL;
    dca_status st = list_values(r, arg, "list:", &w, err);
    if (st)
        return st;
    st = dca_rule_set_weights(r, w, err);
    free(w);
    return st;
}

static dca_status w_probabilities(dca_rule *r, const char *arg, const weight_ctx *ctx,
                                  dca_error *err)
{
    (void)ctx;
    double *p = NULL;
    dca_status st = list_values(r, arg, "probabilities:", &p, err);
    if (st)
        return st;
    st = dca_rule_set_probabilities(r, p, err);
    free(p);
    return st;
}

/* rho of a hard binary table (bits: one per pattern) into out (params). */
static void hard_rho(const dca_rule *r, const uint8_t *bits, double *out)
{
    int64_t n = dca_rule_patterns(r);
    for (int64_t y = 0; y < n; y++) {
        if (dca_rule_mode(r) == DCA_MODE_BINARY) {
            out[y] = bits[y];
        } else {
            out[2 * y] = 1.0 - bits[y];
            out[2 * y + 1] = bits[y];
        }
    }
}

static dca_status table_bits(const dca_rule *r, const char *arg, bool is_hex, const char *what,
                             uint8_t **bits, dca_error *err)
{
    if (dca_rule_states(r) != 2)
        return dca_error_set(err, DCA_ERR_ARG, "%s tables are for 2 states; this rule has %d",
                             what, dca_rule_states(r));
    if (dca_rule_kind_of(r) != DCA_RULE_TABLE)
        return dca_error_set(err, DCA_ERR_ARG,
                             "%s gives a full pattern table; this rule is outer-totalistic (use "
                             "life:Bxx/Syy, list:, probabilities:, normal:, zeros or file:)",
                             what);
    int64_t n = dca_rule_patterns(r);
    *bits = malloc((size_t)n);
    if (!*bits)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    char why[512];
    if (!dca_table_bits(arg, is_hex, n, *bits, why, sizeof why)) {
        free(*bits);
        return dca_error_set(err, DCA_ERR_ARG, "%s%s: %s", what, arg, why);
    }
    return DCA_OK;
}

static dca_status set_hard(dca_rule *r, const uint8_t *bits, dca_error *err)
{
    double *rho = malloc((size_t)dca_rule_params(r) * sizeof *rho);
    if (!rho)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    hard_rho(r, bits, rho);
    dca_status st = dca_rule_set_probabilities(r, rho, err);
    free(rho);
    return st;
}

static dca_status w_table(dca_rule *r, const char *arg, bool is_hex, const char *what,
                          dca_error *err)
{
    uint8_t *bits = NULL;
    dca_status st = table_bits(r, arg, is_hex, what, &bits, err);
    if (st)
        return st;
    st = set_hard(r, bits, err);
    free(bits);
    return st;
}

static dca_status w_wolfram(dca_rule *r, const char *arg, const weight_ctx *ctx, dca_error *err)
{
    (void)ctx;
    return w_table(r, arg, false, "wolfram:", err);
}

static dca_status w_hex(dca_rule *r, const char *arg, const weight_ctx *ctx, dca_error *err)
{
    (void)ctx;
    return w_table(r, arg, true, "hex:", err);
}

/* mix:A,B,ALPHA: rho = (1 - alpha) rho_A + alpha rho_B, for two hard tables
 * A and B (decimal or 0x hex). With tables that differ in one pattern this
 * is the interpolation of the paper's §3.1. */
static dca_status w_mix(dca_rule *r, const char *arg, const weight_ctx *ctx, dca_error *err)
{
    (void)ctx;
    char buf[4096];
    if (strlen(arg) >= sizeof buf)
        return dca_error_set(err, DCA_ERR_ARG, "mix: argument too long");
    strcpy(buf, arg);
    char *a = buf, *b = strchr(a, ',');
    char *al = b ? strchr(b + 1, ',') : NULL;
    if (!b || !al)
        return dca_error_set(err, DCA_ERR_ARG,
                             "mix:A,B,ALPHA needs two rule numbers and a weight, e.g. "
                             "mix:31,95,0.4");
    *b++ = '\0';
    *al++ = '\0';
    double alpha;
    if (!dca_parse_double(dca_trim(al), &alpha) || !(alpha >= 0.0 && alpha <= 1.0))
        return dca_error_set(err, DCA_ERR_ARG, "mix: ALPHA must be a number in [0, 1], got '%s'",
                             al);
    uint8_t *ba = NULL, *bb = NULL;
    dca_status st = table_bits(r, dca_trim(a), false, "mix: rule A ", &ba, err);
    if (st)
        return st;
    if ((st = table_bits(r, dca_trim(b), false, "mix: rule B ", &bb, err))) {
        free(ba);
        return st;
    }
    double *rho = malloc((size_t)dca_rule_params(r) * sizeof *rho);
    if (!rho) {
        free(ba);
        free(bb);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    int64_t n = dca_rule_patterns(r);
    for (int64_t y = 0; y < n; y++) {
        /* Exact where A and B agree: no rounding of 0 or 1. */
        double p = ba[y] == bb[y] ? ba[y] : (ba[y] ? 1.0 - alpha : alpha);
        if (dca_rule_mode(r) == DCA_MODE_BINARY) {
            rho[y] = p;
        } else {
            rho[2 * y] = 1.0 - p;
            rho[2 * y + 1] = p;
        }
    }
    st = dca_rule_set_probabilities(r, rho, err);
    free(rho);
    free(ba);
    free(bb);
    return st;
}

/* life:Bxx/Syy: the rule module parses B/S notation (dca_rule_set_life). */
static dca_status w_life(dca_rule *r, const char *arg, const weight_ctx *ctx, dca_error *err)
{
    (void)ctx;
    return dca_rule_set_life(r, arg, err);
}

/* Splits "PATH.h5:/DATASET" at the last ":/". */
static bool split_file_spec(const char *arg, const char *basedir, char *path, size_t plen,
                            const char **dataset)
{
    const char *sep = NULL;
    for (const char *p = strstr(arg, ":/"); p; p = strstr(p + 1, ":/"))
        sep = p;
    if (!sep || sep == arg)
        return false;
    size_t n = (size_t)(sep - arg);
    if (arg[0] == '/' || !basedir || strcmp(basedir, ".") == 0)
        snprintf(path, plen, "%.*s", (int)n, arg);
    else
        snprintf(path, plen, "%s/%.*s", basedir, (int)n, arg);
    *dataset = sep + 1;
    return true;
}

static dca_status w_file(dca_rule *r, const char *arg, const weight_ctx *ctx, dca_error *err)
{
    char path[4096];
    const char *dset;
    if (!split_file_spec(arg, ctx->basedir, path, sizeof path, &dset))
        return dca_error_set(err, DCA_ERR_ARG,
                             "file: expected file:PATH.h5:/DATASET, e.g. file:runs/a.h5:/rule/weights");
    double *w = NULL;
    int rank = 0;
    int64_t dims[DCA_H5_MAX_RANK];
    dca_status st = dca_h5_read_doubles(path, dset, &w, &rank, dims, err);
    if (st)
        return st;
    int64_t want[2];
    int wrank = dca_rule_shape(r, want);
    bool ok = rank == wrank && dims[0] == want[0] && (wrank == 1 || dims[1] == want[1]);
    if (!ok) {
        char shape[128] = "", ws[64];
        for (int i = 0; i < rank; i++) {
            size_t n = strlen(shape);
            snprintf(shape + n, sizeof shape - n, i ? ", %lld" : "%lld", (long long)dims[i]);
        }
        if (wrank == 1)
            snprintf(ws, sizeof ws, "(%lld,)", (long long)want[0]);
        else
            snprintf(ws, sizeof ws, "(%lld, %lld)", (long long)want[0], (long long)want[1]);
        const char *what = dca_rule_kind_of(r) == DCA_RULE_OUTER_TOTALISTIC ? "outer-totalistic"
                           : dca_rule_mode(r) == DCA_MODE_BINARY            ? "binary"
                                                                           : "softmax";
        st = dca_error_set(err, DCA_ERR_FORMAT, "%s:%s has shape (%s); this %s rule needs %s",
                           path, dset, shape, what, ws);
    } else {
        st = dca_rule_set_weights(r, w, err);
        if (st)
            dca_error_prefix(err, "%s:%s", path, dset);
    }
    free(w);
    return st;
}

typedef struct weight_source {
    const char *prefix;
    weight_fn fn;
} weight_source;

static const weight_source weight_sources[] = {
    {"normal:", w_normal},   {"zeros", w_zeros},       {"list:", w_list},
    {"probabilities:", w_probabilities},                {"wolfram:", w_wolfram},
    {"hex:", w_hex},         {"mix:", w_mix},          {"life:", w_life},
    {"file:", w_file},
};

dca_status dca_rule_load_weights(dca_rule *rule, const char *spec, uint64_t seed,
                                 const char *basedir, dca_error *err)
{
    weight_ctx ctx = {seed, basedir};
    for (size_t i = 0; i < sizeof weight_sources / sizeof *weight_sources; i++) {
        const char *rest = dca_strip_prefix(spec, weight_sources[i].prefix);
        if (rest)
            return weight_sources[i].fn(rule, rest, &ctx, err);
    }
    return dca_error_set(err, DCA_ERR_ARG,
                         "unknown weight source '%s': expected normal:STD, zeros, list:..., "
                         "probabilities:..., wolfram:N, hex:DIGITS, mix:A,B,ALPHA, life:Bxx/Syy "
                         "or file:PATH.h5:/DATASET", spec);
}

/* ---- initial configurations from a file ---------------------------------- */

dca_status dca_read_configurations(const char *spec, const char *basedir,
                                   const dca_lattice *lat, int states, dca_mode mode,
                                   int64_t batch, double **out, int64_t *out_batch,
                                   dca_error *err)
{
    char path[4096];
    const char *dset;
    if (!split_file_spec(spec, basedir, path, sizeof path, &dset))
        return dca_error_set(err, DCA_ERR_ARG, "file: expected file:PATH.h5:/DATASET");
    double *x = NULL;
    int rank = 0;
    int64_t dims[DCA_H5_MAX_RANK];
    dca_status st = dca_h5_read_doubles(path, dset, &x, &rank, dims, err);
    if (st)
        return st;
    const bool binary = mode == DCA_MODE_BINARY;
    const int want_rank = 1 + lat->dims + (binary ? 0 : 1);
    bool ok = rank == want_rank && dims[1] == lat->shape[0] &&
              (lat->dims == 1 || dims[2] == lat->shape[1]) &&
              (binary || dims[rank - 1] == states);
    if (!ok) {
        char want[128];
        if (lat->dims == 1)
            snprintf(want, sizeof want, binary ? "(B, %lld)" : "(B, %lld, %d)",
                     (long long)lat->shape[0], states);
        else
            snprintf(want, sizeof want, binary ? "(B, %lld, %lld)" : "(B, %lld, %lld, %d)",
                     (long long)lat->shape[0], (long long)lat->shape[1], states);
        st = dca_error_set(err, DCA_ERR_FORMAT, "%s:%s has rank %d; expected shape %s", path, dset,
                           rank, want);
        goto done;
    }
    if (batch && batch != dims[0]) {
        st = dca_error_set(err, DCA_ERR_FORMAT,
                           "%s:%s holds %lld configurations; expected %lld", path, dset,
                           (long long)dims[0], (long long)batch);
        goto done;
    }
    const int64_t n = dims[0] * dca_lattice_cells(lat) * (binary ? 1 : states);
    for (int64_t i = 0; i < n; i++)
        if (!(x[i] >= 0.0 && x[i] <= 1.0)) {
            st = dca_error_set(err, DCA_ERR_FORMAT,
                               "%s:%s: value %lld is %g; cell probabilities must lie in [0, 1]",
                               path, dset, (long long)i, x[i]);
            goto done;
        }
    if (!binary)
        for (int64_t c = 0; c < n / states; c++) {
            double sum = 0;
            for (int a = 0; a < states; a++)
                sum += x[c * states + a];
            if (fabs(sum - 1.0) > 1e-9) {
                st = dca_error_set(err, DCA_ERR_FORMAT,
                                   "%s:%s: the states of cell %lld sum to %.12g, not 1", path,
                                   dset, (long long)c, sum);
                goto done;
            }
        }
    *out = dca_alloc((size_t)n * sizeof(double));
    if (!*out) {
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(*out, x, (size_t)n * sizeof(double));
    *out_batch = dims[0];
done:
    free(x);
    return st;
}

/* ---- initial configurations from a Golly RLE pattern ------------------------ */

/* Every configuration gets the pattern, centred on the lattice (top-left
 * corner at ((H - h) / 2, (W - w) / 2)); a ring takes one-row patterns. */
static dca_status read_rle_configurations(const char *spec, const char *basedir,
                                          const dca_lattice *lat, int states, dca_mode mode,
                                          int64_t batch, double *x, dca_error *err)
{
    char path[4096];
    if (spec[0] == '/' || !basedir || strcmp(basedir, ".") == 0)
        snprintf(path, sizeof path, "%s", spec);
    else
        snprintf(path, sizeof path, "%s/%s", basedir, spec);
    if (states != 2)
        return dca_error_set(err, DCA_ERR_ARG, "rle: patterns have 2 states; this lattice has %d",
                             states);
    const int64_t H = lat->dims == 1 ? 1 : lat->shape[0];
    const int64_t W = lat->dims == 1 ? lat->shape[0] : lat->shape[1];
    dca_rle p;
    dca_status st = dca_rle_read(path, W, H, &p, err);
    if (st) {
        if (lat->dims == 1 && strstr(err->msg, "the lattice is"))
            dca_error_set(err, st, "%s (a ring takes one-row patterns)", err->msg);
        return st;
    }
    const int64_t r0 = (H - p.height) / 2, c0 = (W - p.width) / 2, cells = H * W;
    const int L = mode == DCA_MODE_BINARY ? 1 : 2;
    for (int64_t b = 0; b < batch; b++) {
        double *xb = x + b * cells * L;
        for (int64_t c = 0; c < cells; c++) {
            int64_t r = c / W - r0, q = c % W - c0;
            int v = r >= 0 && r < p.height && q >= 0 && q < p.width ? p.cells[r * p.width + q] : 0;
            if (L == 1) {
                xb[c] = v;
            } else {
                xb[2 * c] = 1 - v;
                xb[2 * c + 1] = v;
            }
        }
    }
    dca_rle_free(&p);
    return DCA_OK;
}

/* ---- experiment ------------------------------------------------------------- */

dca_task_shape dca_experiment_shape(const dca_config *cfg, const dca_experiment *ex,
                                    int64_t batch)
{
    return (dca_task_shape){&ex->lat, cfg->states, cfg->mode, batch, ex->nb,
                            dca_config_basedir(cfg, "task", "target"), dca_read_configurations, 0};
}

void dca_experiment_destroy(dca_experiment *ex)
{
    if (!ex)
        return;
    dca_rule_destroy(ex->rule);
    dca_nbhd_destroy(ex->nb);
    free(ex->x0);
    free(ex);
}

static dca_status at_key(const dca_config *cfg, const char *section, const char *key,
                         dca_status st, dca_error *err)
{
    char where[512];
    if (err)
        err->status = st;
    dca_error_prefix(err, "%s", dca_config_where(cfg, section, key, where, sizeof where));
    return st;
}

dca_status dca_experiment_build(const dca_config *cfg, dca_experiment **out, dca_error *err)
{
    return dca_experiment_build_share(cfg, NULL, NULL, out, err);
}

/* A source read whole (B configurations in x0): keeps the share. */
static dca_status cut_share(dca_experiment *ex, dca_experiment_share_fn share, void *ctx,
                            dca_error *err)
{
    if (!share)
        return DCA_OK;
    share(ctx, ex->batch, dca_rule_params(ex->rule), &ex->first, &ex->count);
    const int64_t first = ex->first, count = ex->count;
    if (first == 0 && count == ex->batch)
        return DCA_OK;
    double *x = dca_alloc((size_t)((count > 0 ? count : 1) * ex->config_len) * sizeof *x);
    if (!x)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    memcpy(x, ex->x0 + first * ex->config_len,
           (size_t)(count * ex->config_len) * sizeof *x);
    free(ex->x0);
    ex->x0 = x;
    return DCA_OK;
}

/* A source read whole: keeps every configuration's window of cells
 * [cell0, cell0 + n) (wrapped). */
static dca_status cut_window(dca_experiment *ex, int64_t cell0, int64_t n, int cl,
                             dca_error *err)
{
    const int64_t cells = dca_lattice_cells(&ex->lat), len = n * cl;
    double *x = dca_alloc((size_t)((ex->count > 0 ? ex->count : 1) * len) * sizeof *x);
    if (!x)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < ex->count; b++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t c = (cell0 + i) % cells;
            memcpy(x + b * len + i * cl, ex->x0 + b * ex->config_len + c * cl,
                   (size_t)cl * sizeof *x);
        }
    free(ex->x0);
    ex->x0 = x;
    ex->config_len = len;
    return DCA_OK;
}

static dca_status build(const dca_config *cfg, dca_experiment_share_fn share,
                        dca_experiment_window_fn window, void *ctx, dca_experiment **out,
                        dca_error *err);

dca_status dca_experiment_build_share(const dca_config *cfg, dca_experiment_share_fn share,
                                      void *ctx, dca_experiment **out, dca_error *err)
{
    return build(cfg, share, NULL, ctx, out, err);
}

dca_status dca_experiment_build_window(const dca_config *cfg, dca_experiment_window_fn window,
                                       void *ctx, dca_experiment **out, dca_error *err)
{
    return build(cfg, NULL, window, ctx, out, err);
}

static dca_status build(const dca_config *cfg, dca_experiment_share_fn share,
                        dca_experiment_window_fn window, void *ctx, dca_experiment **out,
                        dca_error *err)
{
    dca_experiment *ex = calloc(1, sizeof *ex);
    if (!ex)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    dca_status st;
    ex->lat = cfg->lattice;
    if ((st = dca_nbhd_parse(cfg->neighborhood, ex->lat.dims, &ex->nb, err))) {
        st = at_key(cfg, "lattice", "neighborhood", st, err);
        goto fail;
    }
    if (strcmp(cfg->rule_kind, "outer-totalistic") == 0
            ? (st = dca_rule_create_outer_totalistic(ex->nb, &ex->rule, err)) != DCA_OK
            : (st = dca_rule_create(ex->nb, cfg->states, cfg->mode, &ex->rule, err)) != DCA_OK) {
        st = at_key(cfg, "lattice", "neighborhood", st, err);
        goto fail;
    }
    if ((st = dca_rule_load_weights(ex->rule, cfg->weights, cfg->rule_seed,
                                    dca_config_basedir(cfg, "rule", "weights"), err))) {
        st = at_key(cfg, "rule", "weights", st, err);
        goto fail;
    }
    int64_t cells = dca_lattice_cells(&ex->lat);
    const int cl = cfg->mode == DCA_MODE_BINARY ? 1 : cfg->states;
    ex->config_len = cells * cl;
    const char *rest = dca_strip_prefix(cfg->init_kind, "file:");
    const char *rle = dca_strip_prefix(cfg->init_kind, "rle:");
    /* A window (picked once the batch is known): generated kinds draw only
     * its cells. */
    int64_t cell0 = 0, ncells = cells;
    if (rest) {
        if ((st = dca_read_configurations(rest, dca_config_basedir(cfg, "init", "kind"), &ex->lat,
                                          cfg->states, cfg->mode, cfg->configurations, &ex->x0,
                                          &ex->batch, err))) {
            st = at_key(cfg, "init", "kind", st, err);
            goto fail;
        }
        ex->count = ex->batch;
        if ((st = cut_share(ex, share, ctx, err)) ||
            (window && ((st = window(ctx, ex, &cell0, &ncells, err)) ||
                        (st = cut_window(ex, cell0, ncells, cl, err)))))
            goto fail;
    } else {
        ex->batch = cfg->configurations ? cfg->configurations : 1;
        ex->count = ex->batch;
        /* Generated kinds draw only the share; an RLE pattern is read for
         * every configuration, then cut. */
        if (share && !rle)
            share(ctx, ex->batch, dca_rule_params(ex->rule), &ex->first, &ex->count);
        if (window && (st = window(ctx, ex, &cell0, &ncells, err)))
            goto fail;
        if (window && !rle)
            ex->config_len = ncells * cl;
        double bytes = 8.0 * (double)(ex->count > 0 ? ex->count : 1) * (double)ex->config_len;
        if (bytes > (double)dca_mem_physical() / 4) {
            char a[64], b[64];
            st = dca_error_set(err, DCA_ERR_NOMEM,
                               "%lld configurations of %lld values need %s, more than a quarter "
                               "of %s", (long long)ex->batch,
                               (long long)ex->config_len, dca_mem_fmt(bytes, a, sizeof a),
                               dca_mem_budget(b, sizeof b));
            st = at_key(cfg, "init", "configurations", st, err);
            goto fail;
        }
        ex->x0 = dca_alloc((size_t)bytes);
        if (!ex->x0) {
            st = at_key(cfg, "init", "configurations",
                        dca_error_set(err, DCA_ERR_NOMEM, "out of memory"), err);
            goto fail;
        }
        if (rle ? (st = read_rle_configurations(rle, dca_config_basedir(cfg, "init", "kind"),
                                                &ex->lat, cfg->states, cfg->mode, ex->batch,
                                                ex->x0, err)) != DCA_OK
                : (st = dca_init_generate_window(cfg->init_kind, &ex->lat, cfg->states,
                                                 cfg->mode, ex->first, ex->count,
                                                 cfg->init_seed, cell0, ncells, ex->x0,
                                                 err)) != DCA_OK) {
            st = at_key(cfg, "init", "kind", st, err);
            goto fail;
        }
        if (rle && ((st = cut_share(ex, share, ctx, err)) ||
                    (window && (st = cut_window(ex, cell0, ncells, cl, err)))))
            goto fail;
    }
    dca_init_apply_eps(ex->x0, ex->count * ex->config_len, cfg->states, cfg->mode, cfg->eps);
    if (cfg->record_configurations > ex->batch) {
        st = dca_error_set(err, DCA_ERR_CONFIG,
                           "asks to record %lld configurations but there are only %lld",
                           (long long)cfg->record_configurations, (long long)ex->batch);
        st = at_key(cfg, "run", "record-configurations", st, err);
        goto fail;
    }
    *out = ex;
    return DCA_OK;
fail:
    dca_experiment_destroy(ex);
    return st == DCA_OK ? DCA_ERR_CONFIG : st;
}
