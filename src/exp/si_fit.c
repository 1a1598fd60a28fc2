/* SI experiments (si_fit.h). */
#include "si_fit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dca/optim.h"
#include "io.h"
#include "mem.h"
#include "rng.h"

void dca_si_data_free(dca_si_data *d)
{
    free(d->frames), free(d->beta_t), free(d->n), free(d->k);
    memset(d, 0, sizeof *d);
}

static dca_status alloc_data(const dca_si *si, int64_t S, int64_t T, dca_si_data *d, bool betas,
                             dca_error *err)
{
    memset(d, 0, sizeof *d);
    d->S = S, d->T = T, d->C = dca_si_cells(si), d->m = dca_si_neighbours(si);
    const double bytes = 8.0 * (double)S * (double)T * (double)d->C;
    if (bytes > 0.8 * (double)dca_mem_physical())
        return dca_error_set(err, DCA_ERR_NOMEM,
                             "%lld trajectories of %lld states need %.3g GB, more than this "
                             "machine has",
                             (long long)S, (long long)T, bytes / 1e9);
    d->frames = malloc((size_t)(S * T * d->C) * sizeof *d->frames);
    d->beta_t = betas ? malloc((size_t)(S * (T - 1) > 0 ? S * (T - 1) : 1) * sizeof *d->beta_t)
                      : NULL;
    d->n = calloc((size_t)d->m + 1, sizeof *d->n);
    d->k = calloc((size_t)d->m + 1, sizeof *d->k);
    if (!d->frames || (betas && !d->beta_t) || !d->n || !d->k) {
        dca_si_data_free(d);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the trajectories");
    }
    return DCA_OK;
}

static void count_all(const dca_si *si, dca_si_data *d)
{
    for (int64_t s = 0; s < d->S; s++)
        for (int64_t t = 0; t + 1 < d->T; t++) {
            const double *x = d->frames + (s * d->T + t) * d->C;
            dca_si_count(si, 1, x, x + d->C, d->n, d->k);
        }
}

dca_status dca_si_data_simulate(const dca_si *si, const dca_lattice *lat,
                                const dca_si_sim_options *o, dca_si_data *d, dca_error *err)
{
    if (o->simulations < 1 || o->states < 2)
        return dca_error_set(err, DCA_ERR_ARG, "need at least one simulation of two states");
    dca_status st = alloc_data(si, o->simulations, o->states, d, true, err);
    if (st)
        return st;
    const int64_t S = d->S, T = d->T, C = d->C;
    const int64_t H = lat->dims == 2 ? lat->shape[0] : 1, W = C / H;
    for (int64_t s = 0; s < S; s++) {
        double *f = d->frames + s * T * C;
        memset(f, 0, (size_t)C * sizeof *f);
        f[(H / 2) * W + W / 2] = 1;
        for (int64_t t = 0; t + 1 < T; t++) {
            /* the truncated normal: redraw while outside [0, 1] */
            double b = -1;
            for (uint64_t r = 0; !(b >= 0 && b <= 1); r++) {
                if (r == 1000)
                    return dca_error_set(err, DCA_ERR_ARG,
                                         "beta-mean = %g, beta-std = %g: no draw in [0, 1] in "
                                         "1000 tries",
                                         o->beta_mean, o->beta_std);
                b = o->beta_mean +
                    o->beta_std * dca_rng_normal(o->seed, DCA_RNG_SLM_DATA, (uint64_t)s,
                                                 (uint64_t)t << 16 | r);
            }
            d->beta_t[s * (T - 1) + t] = b;
            dca_si_step(si, b, NULL, 1, s, t, f + t * C, f + (t + 1) * C);
        }
    }
    count_all(si, d);
    return DCA_OK;
}

dca_status dca_si_data_load(const dca_si *si, const dca_lattice *lat, const char *path,
                            const char *dataset, dca_si_data *d, dca_error *err)
{
    double *x = NULL;
    int rank;
    int64_t dims[DCA_H5_MAX_RANK];
    dca_status st = dca_h5_read_doubles(path, dataset, &x, &rank, dims, err);
    if (st)
        return st;
    const int want = lat->dims + 2;
    bool shape_ok = rank == want;
    for (int i = 0; shape_ok && i < lat->dims; i++)
        shape_ok = dims[2 + i] == lat->shape[i];
    if (!shape_ok || dims[0] < 1 || dims[1] < 2) {
        char got[128] = "";
        for (int i = 0; i < rank; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                     (long long)dims[i]);
        free(x);
        return dca_error_set(err, DCA_ERR_FORMAT,
                             "%s:%s has shape (%s); expected (simulations >= 1, states >= 2, %s) "
                             "for [lattice] size",
                             path, dataset, got,
                             lat->dims == 2 ? "rows, columns" : "cells");
    }
    if ((st = alloc_data(si, dims[0], dims[1], d, false, err))) {
        free(x);
        return st;
    }
    const int64_t S = d->S, T = d->T, C = d->C;
    for (int64_t s = 0; s < S; s++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < C; c++) {
                const double v = x[(s * T + t) * C + c];
                const char *bad = NULL;
                if (v != 0 && v != 1)
                    bad = "is not 0 or 1";
                else if (t > 0 && v == 0 && x[(s * T + t - 1) * C + c] == 1)
                    bad = "turns unaware again (aware cells stay aware in the SI model)";
                if (bad) {
                    st = dca_error_set(err, DCA_ERR_FORMAT,
                                       "%s:%s[%lld, %lld, cell %lld] = %g %s", path, dataset,
                                       (long long)s, (long long)t, (long long)c, v, bad);
                    free(x);
                    dca_si_data_free(d);
                    return st;
                }
            }
    memcpy(d->frames, x, (size_t)(S * T * C) * sizeof *x);
    free(x);
    count_all(si, d);
    return DCA_OK;
}

dca_status dca_si_fit(const dca_si *si, const dca_si_data *d, const dca_si_fit_options *o,
                      dca_si_fit_result *r, dca_error *err)
{
    const int64_t B = o->minibatch, C = d->C, D = d->S * (d->T - 1);
    if (B < 1)
        return dca_error_set(err, DCA_ERR_ARG, "minibatch must be at least 1");
    dca_optim *opt = o->opt;
    if (o->start < 0 || o->start > o->iterations)
        return dca_error_set(err, DCA_ERR_ARG, "start = %lld: expected 0 .. %lld iterations",
                             (long long)o->start, (long long)o->iterations);
    dca_status st = dca_si_check_beta(o->start ? r->beta[o->start] : o->beta0, err);
    if (st)
        return st;
    double *x = malloc((size_t)(B * C) * sizeof *x), *obs = malloc((size_t)(B * C) * sizeof *obs),
           *y = malloc((size_t)(B * C) * sizeof *y);
    if (!x || !obs || !y) {
        free(x), free(obs), free(y);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a minibatch of %lld",
                             (long long)B);
    }
    double w = o->start ? r->beta[o->start] : o->beta0;
    r->iterations_run = o->start;
    r->left_domain = r->interrupted = false;
    r->beta[o->start] = w;
    for (int64_t i = o->start; i < o->iterations; i++) {
        for (int64_t j = 0; j < B; j++) {
            double u[2];
            dca_rng_uniform2(o->optim_seed, DCA_RNG_MINIBATCH, (uint64_t)i, (uint64_t)j, u);
            int64_t q = (int64_t)(u[0] * (double)D);
            q = q < D ? q : D - 1;
            const int64_t s = q / (d->T - 1), t = q % (d->T - 1);
            const double *f = d->frames + (s * d->T + t) * C;
            memcpy(x + j * C, f, (size_t)C * sizeof *x);
            memcpy(obs + j * C, f + C, (size_t)C * sizeof *x);
        }
        dca_si_step(si, w, &o->ste, B, i * B, 0, x, y);
        double L = 0;
        const double scale = 1.0 / ((double)B * (double)C);
        for (int64_t c = 0; c < B * C; c++) {
            const double e = y[c] - obs[c];
            L += e * e;
            y[c] = 2 * e * scale; /* y becomes dL/dy */
        }
        L *= scale;
        double g = 0;
        if (dca_optim_needs_gradient(opt))
            dca_si_step_adjoint(si, w, &o->ste, B, i * B, 0, x, y, NULL, &g);
        r->loss[i] = L;
        r->gradient[i] = g;
        dca_optim_step(opt, L, &g, &w);
        r->beta[i + 1] = w;
        r->iterations_run = i + 1;
        if (!(w >= 0 && w <= 1)) {
            r->left_domain = true;
            break;
        }
        if (o->on_iteration && o->on_iteration(o->ctx, i, w, L)) {
            r->interrupted = true;
            break;
        }
    }
    free(x), free(obs), free(y);
    return DCA_OK;
}

static int cmp_pair(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

double dca_si_abc_estimate(const double *beta, const double *distance, int64_t n, double accept)
{
    if (n < 1)
        return NAN;
    double *p = malloc((size_t)n * 2 * sizeof *p);
    if (!p)
        return NAN;
    for (int64_t i = 0; i < n; i++)
        p[2 * i] = distance[i], p[2 * i + 1] = beta[i];
    qsort(p, (size_t)n, 2 * sizeof *p, cmp_pair);
    int64_t a = (int64_t)ceil(accept * (double)n);
    a = a < 1 ? 1 : a > n ? n : a;
    double s = 0;
    for (int64_t i = 0; i < a; i++)
        s += p[2 * i + 1];
    free(p);
    return s / (double)a;
}

dca_status dca_si_abc(const dca_si *si, const dca_si_data *d, const dca_si_abc_options *o,
                      double *beta, double *distance, int64_t *done, dca_error *err)
{
    const int64_t R = o->simulations, T = d->T, C = d->C;
    *done = o->start;
    if (R < 1 || R > d->S)
        return dca_error_set(err, DCA_ERR_ARG,
                             "ABC simulations = %lld: expected 1 .. %lld (the observed "
                             "trajectories, whose initial states it starts from)",
                             (long long)R, (long long)d->S);
    double *obs = calloc((size_t)T, sizeof *obs), *sim = malloc((size_t)T * sizeof *sim);
    double *a = malloc((size_t)(R * C) * sizeof *a), *b = malloc((size_t)(R * C) * sizeof *b);
    if (!obs || !sim || !a || !b) {
        free(obs), free(sim), free(a), free(b);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    /* The observed mean aware fraction per time, over all trajectories. */
    for (int64_t s = 0; s < d->S; s++)
        for (int64_t t = 0; t < T; t++) {
            const double *f = d->frames + (s * T + t) * C;
            double c = 0;
            for (int64_t i = 0; i < C; i++)
                c += f[i];
            obs[t] += c / (double)C / (double)d->S;
        }
    for (int64_t c = o->start; c < o->candidates; c++) {
        double u[2];
        dca_rng_uniform2(o->seed, DCA_RNG_SLM_DATA, (uint64_t)1 << 40 | (uint64_t)c, 0, u);
        beta[c] = u[0];
        for (int64_t s = 0; s < R; s++)
            memcpy(a + s * C, d->frames + s * T * C, (size_t)C * sizeof *a);
        double dist = 0;
        for (int64_t t = 1; t < T; t++) {
            dca_si_step(si, beta[c], NULL, R, ((int64_t)1 << 24) + c * R, t - 1, a, b);
            double m = 0;
            for (int64_t i = 0; i < R * C; i++)
                m += b[i];
            m /= (double)(R * C);
            dist += (m - obs[t]) * (m - obs[t]);
            double *tmp = a;
            a = b, b = tmp;
        }
        distance[c] = sqrt(dist / (double)(T - 1));
        *done = c + 1;
        if (o->on_candidate && o->on_candidate(o->ctx, c + 1))
            break;
    }
    free(obs), free(sim), free(a), free(b);
    return DCA_OK;
}
