/* dca_sim_tune: the plan-time autotuner (FFTW's measure mode). The kernel
 * and tile of a plan are chosen by heuristics per shape (docs/performance.md,
 * "Per shape"); measured on one CPU, they can be wrong on another. The
 * tuner builds the plan for each candidate (kernel x tile), times a value
 * step (and an adjoint step for reverse mode) on random states of the real
 * shape, and keeps the fastest. The choice changes the last bits of results
 * (kernels round differently; the tile fixes the rule gradient's summation
 * blocks): callers record it (/run@kernel, /run@tile_cells) so that a run
 * can be repeated bit for bit by pinning it. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dca/dca.h"
#include "mem.h"

/* A value (+ adjoint) step of the candidate: seconds, best of the timed
 * rounds after one untimed; -1 if the plan cannot be made. */
static double measure(const dca_lattice *lat, dca_rule *rule, int64_t batch,
                      const dca_sim_options *o, int64_t *tile, dca_error *err)
{
    dca_sim *sim;
    dca_error e;
    if (dca_sim_create(lat, rule, batch, o, &sim, &e) != DCA_OK)
        return -1.0;
    *tile = dca_sim_tile_cells(sim);
    const int64_t len = batch * dca_sim_config_len(sim), P = dca_sim_params(sim);
    const int64_t cells = dca_lattice_cells(lat), cl = dca_sim_config_len(sim) / cells;
    double *x = dca_alloc((size_t)len * sizeof *x), *y = dca_alloc((size_t)len * sizeof *y);
    double *yb = dca_alloc((size_t)len * sizeof *yb), *xb = dca_alloc((size_t)len * sizeof *xb);
    double *g = dca_alloc((size_t)P * sizeof *g);
    double best = -1.0;
    if (!x || !y || !yb || !xb || !g) {
        dca_error_set(err, DCA_ERR_NOMEM, "out of memory for tuning");
        best = -2.0;
        goto done;
    }
    /* States in (0, 1) (distributions for softmax cells), seeded. */
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int64_t i = 0; i < len; i += cl) {
        double sum = 0.0;
        for (int64_t b = 0; b < cl; b++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            x[i + b] = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
            sum += x[i + b];
        }
        for (int64_t b = 0; cl > 1 && b < cl; b++)
            x[i + b] /= sum;
        for (int64_t b = 0; b < cl; b++)
            yb[i + b] = x[i + b] - 0.5;
    }
    const int reverse = (dca_sim_gradients(sim) & DCA_GRAD_REVERSE) != 0;
    /* Rounds of n steps, n set by the untimed first round so that a round
     * takes about 5 ms (short steps are timed over many); best of 3. */
    int64_t n = 1;
    for (int round = 0; round < 4; round++) {
        const double t0 = omp_get_wtime();
        for (int64_t i = 0; i < n; i++) {
            if (dca_sim_step(sim, x, y) != DCA_OK)
                goto done;
            if (reverse && (dca_sim_adjoint_begin(sim) != DCA_OK ||
                            dca_sim_adjoint_step(sim, x, yb, xb) != DCA_OK ||
                            dca_sim_adjoint_end(sim, g) != DCA_OK))
                goto done;
        }
        const double dt = (omp_get_wtime() - t0) / (double)n;
        if (round == 0) {
            n = dt > 0 ? (int64_t)(5e-3 / dt) : 1000;
            n = n < 1 ? 1 : (n > 1000 ? 1000 : n);
            continue;
        }
        if (best < 0 || dt < best)
            best = dt;
        if (dt > 0.5) /* a long step: one timed round is enough */
            break;
    }
done:
    free(x);
    free(y);
    free(yb);
    free(xb);
    free(g);
    dca_sim_destroy(sim);
    return best;
}

dca_status dca_sim_tune(const dca_lattice *lat, dca_rule *rule, int64_t batch,
                        dca_sim_options *opt, dca_tune_report *rep, dca_error *err)
{
    if (!lat || !rule || !opt || !rep)
        return dca_error_set(err, DCA_ERR_ARG, "dca_sim_tune: NULL argument");
    memset(rep, 0, sizeof *rep);
    rep->best = -1;
    if (opt->parts > 1)
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_sim_tune: a part of a lattice is not tuned alone (its parts "
                             "must agree on the tile); pin the kernel and tile instead");
    if (opt->kernel != DCA_KERNEL_AUTO || opt->tile_cells != 0)
        return dca_error_set(err, DCA_ERR_ARG,
                             "dca_sim_tune: the kernel and tile are already chosen (%s, %lld "
                             "cells); tuning needs both left to the plan (auto, 0)",
                             dca_kernel_name(opt->kernel), (long long)opt->tile_cells);
    /* The plan AUTO would make: its kernel, and the tile its heuristic picks. */
    dca_sim *sim;
    dca_status st = dca_sim_create(lat, rule, batch, opt, &sim, err);
    if (st)
        return st;
    const dca_kernel k0 = dca_sim_kernel(sim);
    dca_sim_destroy(sim);
    dca_kernel kernels[2] = {k0, k0};
    int nk = 1;
    if (k0 == DCA_KERNEL_FUSED)
        kernels[nk++] = DCA_KERNEL_BLAS;
    else if (k0 == DCA_KERNEL_BLAS)
        kernels[nk++] = DCA_KERNEL_FUSED; /* not made where it does not apply */
    const int64_t cells = dca_lattice_cells(lat);
    for (int a = 0; a < nk; a++) {
        dca_sim_options o = *opt;
        o.kernel = kernels[a];
        int64_t t0;
        double sec = measure(lat, rule, batch, &o, &t0, err);
        if (sec == -2.0)
            return DCA_ERR_NOMEM;
        if (sec < 0)
            continue;
        /* The heuristic's tile, half and twice it (multiples of 8, within
         * the lattice). */
        int64_t tiles[3] = {t0, t0 / 2 / 8 * 8, t0 * 2 / 8 * 8};
        for (int b = 0; b < 3; b++) {
            const int64_t t = tiles[b];
            if (b > 0 && (t < 8 || t >= cells || t == t0))
                continue;
            if (b > 0) {
                o.tile_cells = t;
                int64_t got;
                sec = measure(lat, rule, batch, &o, &got, err);
                if (sec == -2.0)
                    return DCA_ERR_NOMEM;
                if (sec < 0)
                    continue;
            }
            if (rep->count == DCA_TUNE_MAX)
                break;
            rep->c[rep->count] = (dca_tune_candidate){kernels[a], t, sec};
            if (rep->best < 0 || sec < rep->c[rep->best].seconds)
                rep->best = rep->count;
            rep->count++;
        }
    }
    if (rep->best < 0)
        return dca_error_set(err, DCA_ERR_ARG, "dca_sim_tune: no candidate plan could be made");
    /* The heuristic's plan (candidate 0) stays unless another is at least
     * 3 % faster, in a second measurement of both too (a slow spell of a
     * shared machine during one candidate does not flip the choice). */
    for (int again = 0; again < 2 && rep->best != 0; again++) {
        if (rep->c[0].seconds <= rep->c[rep->best].seconds * 1.03) {
            rep->best = 0;
            break;
        }
        if (again)
            break;
        for (int i = 0; i < 2; i++) {
            dca_tune_candidate *c = &rep->c[i ? rep->best : 0];
            dca_sim_options o = *opt;
            o.kernel = c->kernel;
            o.tile_cells = c->tile_cells;
            int64_t got;
            const double sec = measure(lat, rule, batch, &o, &got, err);
            if (sec == -2.0)
                return DCA_ERR_NOMEM;
            if (sec >= 0 && sec < c->seconds)
                c->seconds = sec;
        }
    }
    opt->kernel = rep->c[rep->best].kernel;
    opt->tile_cells = rep->c[rep->best].tile_cells;
    return DCA_OK;
}

int dca_tune_describe(const dca_tune_report *rep, char *buf, size_t len)
{
    size_t n = 0;
    int w = 0;
    if (len)
        buf[0] = 0;
    for (int i = 0; i < rep->count; i++) {
        w = snprintf(n < len ? buf + n : NULL, n < len ? len - n : 0, "%s%s/%lld %.3g ms%s",
                     i ? ", " : "",
                     dca_kernel_name(rep->c[i].kernel), (long long)rep->c[i].tile_cells,
                     rep->c[i].seconds * 1e3, i == rep->best ? " (chosen)" : "");
        n += w > 0 ? (size_t)w : 0;
    }
    return (int)n;
}
