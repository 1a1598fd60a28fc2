/* Learners: [model] kinds ffnet and kuramoto, and one member's training
 * loop (learner.h). */
#include "learner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dca/optim.h"
#include "rng.h"
#include "text.h"

static const double TWO_PI = 6.283185307179586;

/* Sub-indices of a member's draws (DCA_RNG_LEARNER, index = member). */
enum { SUB_WEIGHTS = 0 };
static const uint64_t SUB_OMEGA = (uint64_t)1 << 40, SUB_PHASES = (uint64_t)2 << 40;

void dca_learner_data_free(dca_learner_data *d)
{
    free(d->x);
    free(d->t);
    memset(d, 0, sizeof *d);
}

static dca_status one_hot(dca_learner_data *d, int64_t count, dca_error *err)
{
    d->t = calloc((size_t)(count * count), sizeof *d->t);
    if (!d->t)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    for (int64_t p = 0; p < count; p++)
        d->t[p * count + p] = 1;
    d->n_out = count;
    return DCA_OK;
}

dca_status dca_learner_data_load(const dca_learner_options *o, const char *basedir,
                                 dca_learner_data *d, dca_error *err)
{
    memset(d, 0, sizeof *d);
    if (o->kind == DCA_MODEL_KURAMOTO) {
        const double s = o->interval / o->dt;
        const double r = nearbyint(s);
        if (r < 1 || fabs(s - r) > 1e-9 * fmax(1.0, s))
            return dca_error_set(err, DCA_ERR_CONFIG,
                                 "interval = %g is not a whole number (>= 1) of steps dt = %g",
                                 o->interval, o->dt);
        d->steps = (int64_t)r;
        return DCA_OK;
    }
    if (o->kind != DCA_MODEL_FFNET)
        return DCA_OK;
    const char *p = o->patterns, *rest;
    dca_status st = DCA_OK;
    if (strcmp(p, "vowels") == 0 || strcmp(p, "vowels+digits") == 0) {
        const int64_t n = dca_bitmaps(p, NULL, NULL);
        d->x = malloc((size_t)(n * 35) * sizeof *d->x);
        if (!d->x || (st = one_hot(d, n, err)))
            goto fail;
        dca_bitmaps(p, d->x, NULL);
        d->patterns = n;
        d->n_in = 35;
    } else if (strcmp(p, "xor") == 0) {
        static const double x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, t[4] = {0, 1, 1, 0};
        d->x = malloc(sizeof x);
        d->t = malloc(sizeof t);
        if (!d->x || !d->t)
            goto nomem;
        memcpy(d->x, x, sizeof x);
        memcpy(d->t, t, sizeof t);
        d->patterns = 4, d->n_in = 2, d->n_out = 1;
    } else if ((rest = dca_strip_prefix(p, "sin:"))) {
        int64_t n;
        if (!dca_parse_i64(rest, &n) || n < 2 || n > (int64_t)1 << 24)
            return dca_error_set(err, DCA_ERR_CONFIG,
                                 "sin:COUNT needs a whole number of sample points from 2 to %d",
                                 1 << 24);
        d->x = malloc((size_t)n * sizeof *d->x);
        d->t = malloc((size_t)n * sizeof *d->t);
        if (!d->x || !d->t)
            goto nomem;
        for (int64_t i = 0; i < n; i++) {
            d->x[i] = -TWO_PI / 2 + TWO_PI * (double)i / (double)(n - 1);
            d->t[i] = sin(d->x[i]);
        }
        d->patterns = n, d->n_in = 1, d->n_out = 1;
    } else if ((rest = dca_strip_prefix(p, "file:"))) {
        char path[4096];
        if (rest[0] == '/')
            snprintf(path, sizeof path, "%s", rest);
        else
            snprintf(path, sizeof path, "%s/%s", basedir, rest);
        char *text = dca_read_text_file(path, "bitmap file", DCA_ERR_IO, err);
        if (!text)
            return err ? err->status : DCA_ERR_IO;
        int64_t n, rows, cols;
        st = dca_bitmaps_parse(text, path, &d->x, &n, &rows, &cols, err);
        free(text);
        if (st || (st = one_hot(d, n, err)))
            goto fail;
        d->patterns = n;
        d->n_in = rows * cols;
    } else {
        return dca_error_set(err, DCA_ERR_CONFIG,
                             "expected vowels, vowels+digits, xor, sin:COUNT or file:PATH.txt");
    }
    d->classification = true;
    for (int64_t i = 0; i < d->patterns * d->n_out; i++)
        d->classification &= d->t[i] == 0 || d->t[i] == 1;
    if (o->layers[0] != d->n_in || o->layers[o->n_layers - 1] != d->n_out) {
        st = dca_error_set(err, DCA_ERR_CONFIG,
                           "the patterns '%s' have %lld inputs and %lld outputs, the layers %lld "
                           "and %lld",
                           p, (long long)d->n_in, (long long)d->n_out, (long long)o->layers[0],
                           (long long)o->layers[o->n_layers - 1]);
        goto fail;
    }
    return DCA_OK;
nomem:
    st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the patterns");
fail:
    dca_learner_data_free(d);
    return st;
}

int64_t dca_learner_param_count(const dca_learner_options *o)
{
    if (o->kind == DCA_MODEL_KURAMOTO)
        return o->oscillators * (o->oscillators - 1) / 2;
    if (o->kind != DCA_MODEL_FFNET)
        return 0;
    int64_t P = 0;
    for (int l = 0; l + 1 < o->n_layers; l++)
        P += o->layers[l + 1] * (o->layers[l] + 1);
    return P;
}

int64_t dca_learner_hidden(const dca_learner_options *o)
{
    int64_t h = 0;
    for (int l = 1; o->kind == DCA_MODEL_FFNET && l + 1 < o->n_layers; l++)
        h += o->layers[l];
    return h;
}

int64_t dca_learner_rows(int64_t iterations, int64_t every, int64_t *times)
{
    int64_t r = 0;
    for (int64_t n = 0; n < iterations; n += every, r++)
        if (times)
            times[r] = n;
    if (times)
        times[r] = iterations;
    return r + 1;
}

/* ---- one member ------------------------------------------------------------ */

struct dca_learner {
    const dca_learner_options *o;
    const dca_learner_data *d;
    dca_ffnet *net;
    dca_kuramoto *osc;
    int64_t P;
    double rbar; /* kuramoto: the last evaluation's */
};

/* A draw from spec ("uniform:A", "normal:STD", "constant:C"). */
static double draw(const char *spec, uint64_t seed, uint64_t member, uint64_t sub)
{
    const char *v;
    double a = 0;
    if ((v = dca_strip_prefix(spec, "uniform:"))) {
        dca_parse_double(v, &a);
        double u[2];
        dca_rng_uniform2(seed, DCA_RNG_LEARNER, member, sub, u);
        return a * (2 * u[0] - 1);
    }
    if ((v = dca_strip_prefix(spec, "normal:"))) {
        dca_parse_double(v, &a);
        return a * dca_rng_normal(seed, DCA_RNG_LEARNER, member, sub);
    }
    if ((v = dca_strip_prefix(spec, "constant:")))
        dca_parse_double(v, &a);
    return a;
}

static void initial_weights(const dca_learner_options *o, int64_t member, double *w)
{
    const uint64_t m = (uint64_t)member;
    if (o->kind == DCA_MODEL_KURAMOTO) {
        char spec[64];
        const char *ws = o->weights;
        if (strcmp(ws, "auto") == 0) {
            snprintf(spec, sizeof spec, "constant:%.17g", o->w0);
            ws = spec;
        }
        const int64_t P = dca_learner_param_count(o);
        for (int64_t p = 0; p < P; p++)
            w[p] = draw(ws, o->seed, m, SUB_WEIGHTS + (uint64_t)p);
        return;
    }
    const char *ws = strcmp(o->weights, "auto") == 0 ? "uniform:1" : o->weights;
    int64_t p = 0;
    for (int l = 0; l + 1 < o->n_layers; l++) {
        const int64_t ni = o->layers[l], no = o->layers[l + 1];
        for (int64_t j = 0; j < no; j++) {
            for (int64_t i = 0; i < ni; i++, p++)
                w[p] = draw(ws, o->seed, m, (uint64_t)p);
            if (strcmp(o->bias, "zeros") == 0) {
                w[p] = 0;
            } else if (strcmp(o->bias, "fan-in") == 0) {
                double u[2];
                dca_rng_uniform2(o->seed, DCA_RNG_LEARNER, m, (uint64_t)p, u);
                w[p] = (2 * u[0] - 1) / sqrt((double)ni);
            } else {
                w[p] = draw(ws, o->seed, m, (uint64_t)p);
            }
            p++;
        }
    }
}

static dca_status make_oscillators(const dca_learner_options *o, const dca_learner_data *d,
                                   int64_t member, dca_kuramoto **out, dca_error *err)
{
    const int64_t N = o->oscillators;
    double *omega = malloc((size_t)N * sizeof *omega), *theta = malloc((size_t)N * sizeof *theta);
    if (!omega || !theta) {
        free(omega), free(theta);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    const char *v;
    const uint64_t m = (uint64_t)member;
    if ((v = dca_strip_prefix(o->omega, "spread:"))) {
        double a = 0;
        dca_parse_double(v, &a);
        for (int64_t i = 0; i < N; i++)
            omega[i] = -a + 2 * a * (double)i / (double)(N - 1);
    } else if ((v = dca_strip_prefix(o->omega, "list:"))) {
        double *list = NULL;
        int64_t n = 0, bad;
        dca_parse_double_list(v, &list, &n, &bad);
        for (int64_t i = 0; i < N; i++)
            omega[i] = i < n ? list[i] : 0;
        free(list);
    } else {
        for (int64_t i = 0; i < N; i++)
            omega[i] = draw(o->omega, o->seed, m, SUB_OMEGA + (uint64_t)i);
    }
    for (int64_t i = 0; i < N; i++) {
        double u[2];
        dca_rng_uniform2(o->seed, DCA_RNG_LEARNER, m, SUB_PHASES + (uint64_t)i, u);
        theta[i] = TWO_PI * u[0];
    }
    dca_status st = dca_kuramoto_create(N, omega, theta, o->dt, d->steps, o->r0, out, err);
    free(omega), free(theta);
    return st;
}

dca_status dca_learner_create(const dca_learner_options *o, const dca_learner_data *d,
                              int64_t member, dca_learner **out, double *w0, dca_error *err)
{
    *out = NULL;
    dca_learner *l = calloc(1, sizeof *l);
    if (!l)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    l->o = o;
    l->d = d;
    l->P = dca_learner_param_count(o);
    dca_status st = DCA_OK;
    if (o->kind == DCA_MODEL_FFNET)
        st = dca_ffnet_create(o->n_layers, o->layers, o->linear_output, d->patterns, d->x, d->t,
                              &l->net, err);
    else if (o->kind == DCA_MODEL_KURAMOTO)
        st = make_oscillators(o, d, member, &l->osc, err);
    else
        st = dca_error_set(err, DCA_ERR_ARG, "[model] kind = %s is not a learner", o->kind_name);
    if (st) {
        dca_learner_destroy(l);
        return st;
    }
    if (w0)
        initial_weights(o, member, w0);
    *out = l;
    return DCA_OK;
}

void dca_learner_destroy(dca_learner *l)
{
    if (!l)
        return;
    dca_ffnet_destroy(l->net);
    dca_kuramoto_destroy(l->osc);
    free(l);
}

int64_t dca_learner_params(const dca_learner *l) { return l->P; }
dca_kuramoto *dca_learner_kuramoto(dca_learner *l) { return l->osc; }

void dca_learner_eval(dca_learner *l, const double *w, double *E, double *grad)
{
    if (l->net)
        dca_ffnet_eval(l->net, w, E, grad, NULL);
    else
        dca_kuramoto_eval(l->osc, w, E, grad, &l->rbar);
}

static double mean_abs(const double *w, int64_t P)
{
    double s = 0;
    for (int64_t p = 0; p < P; p++)
        s += fabs(w[p]);
    return P ? s / (double)P : 0;
}

/* The fraction of patterns classified right: the output on the target's
 * side of 1/2 (one output), or the largest output at the target's 1. */
static double classified(const dca_learner_data *d, const double *out)
{
    const int64_t K = d->n_out;
    int64_t ok = 0;
    for (int64_t p = 0; p < d->patterns; p++) {
        const double *o = out + p * K, *t = d->t + p * K;
        if (K == 1) {
            ok += (o[0] >= 0.5) == (t[0] >= 0.5);
            continue;
        }
        int64_t a = 0, b = 0;
        for (int64_t k = 1; k < K; k++) {
            a = o[k] > o[a] ? k : a;
            b = t[k] > t[b] ? k : b;
        }
        ok += a == b;
    }
    return (double)ok / (double)d->patterns;
}

dca_status dca_learner_train(const dca_learner_run *run, int64_t member, dca_learner_record *rec,
                             bool (*progress)(void *ctx, int64_t iter), void *ctx,
                             dca_error *err)
{
    const dca_learner_options *o = run->model;
    const dca_learner_data *d = run->data;
    dca_learner *l = NULL;
    dca_optim *opt = NULL;
    double *w = NULL, *g = NULL, *out = NULL;
    const int64_t P = dca_learner_param_count(o), I = run->iterations;
    const int64_t every = o->record_every;
    const bool robust = o->kind == DCA_MODEL_FFNET && o->robustness_threshold > 0;
    dca_status st;
    w = malloc((size_t)(P ? P : 1) * sizeof *w);
    g = malloc((size_t)(P ? P : 1) * sizeof *g);
    out = d->patterns ? malloc((size_t)(d->patterns * d->n_out) * sizeof *out) : NULL;
    if (!w || !g || (d->patterns && !out)) {
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = dca_learner_create(o, d, member, &l, w, err)))
        goto done;
    const uint64_t oseed = run->optim_seed + (uint64_t)member * 0x9E3779B97F4A7C15ULL;
    if ((st = dca_optim_create(run->method, run->optim_par, P, oseed, &opt, err)))
        goto done;
    const bool gradient = dca_optim_needs_gradient(opt);
    const bool second = robust && dca_optim_has_second(opt);
    if (rec->initial_weights)
        memcpy(rec->initial_weights, w, (size_t)P * sizeof *w);
    if (l->osc && rec->trace_before)
        dca_kuramoto_order_trace(l->osc, w, 2 * d->steps, rec->trace_before);
    int64_t n = 0, row = 0;
    double E = NAN, R = NAN;
    bool diverged = false;
    for (; n < I; n++) {
        dca_learner_eval(l, w, &E, gradient ? g : NULL);
        if (!isfinite(E)) {
            diverged = true;
            break;
        }
        if (robust)
            R = dca_ffnet_robustness(l->net, w, o->robustness_threshold, NULL);
        const double W = mean_abs(w, P);
        if (n % every == 0) {
            if (rec->loss)
                rec->loss[row] = E;
            if (rec->robustness)
                rec->robustness[row] = R;
            if (rec->order)
                rec->order[row] = l->rbar;
            if (rec->mean_weight)
                rec->mean_weight[row] = W;
            row++;
        }
        if (run->tolerance > 0 && E <= run->tolerance)
            break;
        if (second)
            dca_optim_step_second(opt, E, R, gradient ? g : NULL, w);
        else
            dca_optim_step(opt, E, gradient ? g : NULL, w);
        if (l->osc) {
            dca_kuramoto_control(w, P, o->gamma, o->w0);
            dca_kuramoto_advance(l->osc);
        }
        bool finite = true;
        for (int64_t p = 0; p < P; p++)
            finite &= isfinite(w[p]) != 0;
        if (!finite) {
            diverged = true;
            n++;
            break;
        }
        if (progress && progress(ctx, n + 1)) {
            n++;
            break;
        }
    }
    rec->iterations_run = n;
    rec->diverged = diverged;
    if (diverged) {
        /* The loss or a weight is no longer finite: the member's result is
         * that it diverged at iteration n; its later rows are NaN. */
        for (; row < rec->rows; row++) {
            if (rec->loss)
                rec->loss[row] = NAN;
            if (rec->robustness)
                rec->robustness[row] = NAN;
            if (rec->order)
                rec->order[row] = NAN;
            if (rec->mean_weight)
                rec->mean_weight[row] = NAN;
        }
        rec->final_loss = rec->final_robustness = rec->final_order = NAN;
        rec->final_mean_weight = rec->classified = NAN;
        if (rec->final_weights)
            memcpy(rec->final_weights, w, (size_t)P * sizeof *w);
        goto done;
    }
    /* The final state: the last row, and every row the run did not reach. */
    if (l->net)
        dca_ffnet_eval(l->net, w, &E, NULL, out); /* E and the outputs in one pass */
    else
        dca_learner_eval(l, w, &E, NULL);
    rec->final_loss = E;
    rec->final_order = l->osc ? l->rbar : NAN;
    rec->final_mean_weight = mean_abs(w, P);
    rec->final_robustness =
        robust ? dca_ffnet_robustness(l->net, w, o->robustness_threshold, rec->damaged) : NAN;
    if (l->net && !robust && rec->damaged)
        for (int64_t h = 0; h < dca_ffnet_hidden(l->net); h++)
            rec->damaged[h] = dca_ffnet_damaged(l->net, w, h);
    rec->classified = l->net && d->classification ? classified(d, out) : NAN;
    for (; row < rec->rows; row++) {
        if (rec->loss)
            rec->loss[row] = E;
        if (rec->robustness)
            rec->robustness[row] = rec->final_robustness;
        if (rec->order)
            rec->order[row] = rec->final_order;
        if (rec->mean_weight)
            rec->mean_weight[row] = rec->final_mean_weight;
    }
    if (rec->final_weights)
        memcpy(rec->final_weights, w, (size_t)P * sizeof *w);
    if (rec->outputs && out)
        memcpy(rec->outputs, out, (size_t)(d->patterns * d->n_out) * sizeof *out);
    if (l->osc && rec->trace_after)
        dca_kuramoto_order_trace(l->osc, w, 2 * d->steps, rec->trace_after);
done:
    dca_optim_destroy(opt);
    dca_learner_destroy(l);
    free(w), free(g), free(out);
    return st;
}
