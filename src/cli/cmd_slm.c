/* dca train and dca gradcheck for the stochastic lattice models of seed 001
 * ([model] kind = si): reference data, the straight-through fit, the
 * likelihood and least-squares estimators, the ABC baseline, one run file
 * (/data, /fit, /abc; docs/hdf5-layout.md). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "dca/optim.h"
#include "dca/slm.h"
#include "io.h"
#include "rng.h"
#include "si_fit.h"

/* Keys that have no effect on an SI experiment are errors. */
/* Every key given (in the file or by --set) must be one this model uses:
 * `allowed` lists "section.key" entries, NULL-terminated; "optimizer.*"
 * allows the optimiser's keys except those of rule training (fresh,
 * checkpoint-every, time-limit, tolerance) and minibatch (unless listed).
 * [output] is always allowed. */
static int refuse_foreign(const dca_config *cfg, const char *kind, const char *const *allowed)
{
    const dca_config_key_doc *keys;
    const int n = dca_config_schema(&keys);
    for (int i = 0; i < n; i++) {
        const char *sec = keys[i].section, *key = keys[i].key;
        if (strcmp(sec, "output") == 0 || !dca_config_given(cfg, sec, key))
            continue;
        char full[160];
        snprintf(full, sizeof full, "%s.%s", sec, key);
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, full) == 0 ||
                 (strcmp(*a, "optimizer.*") == 0 && strcmp(sec, "optimizer") == 0 &&
                  strcmp(key, "fresh") != 0 && strcmp(key, "checkpoint-every") != 0 &&
                  strcmp(key, "time-limit") != 0 && strcmp(key, "tolerance") != 0 &&
                  strcmp(key, "minibatch") != 0);
        if (!ok) {
            char why[256];
            snprintf(why, sizeof why, "this key has no effect on [model] kind = %s", kind);
            return cli_fail_at(cfg, sec, key, why);
        }
    }
    return -1;
}

static int check_unused_si(const dca_config *cfg)
{
    static const char *const allowed[] = {
        "model.kind", "model.beta", "model.surrogate", "model.seed", "data.source",
        "data.simulations", "data.states", "data.beta-mean", "data.beta-std", "data.seed",
        "abc.candidates", "abc.simulations", "abc.accept", "abc.seed", "lattice.size",
        "lattice.neighborhood", "lattice.states", "optimizer.*", "optimizer.minibatch", NULL};
    int rc = refuse_foreign(cfg, "si", allowed);
    if (rc >= 0)
        return rc;
    if (cfg->states != 2)
        return cli_fail_at(cfg, "lattice", "states", "the SI model has two states (0 unaware, "
                                                     "1 aware)");
    const bool file = strncmp(cfg->slm.source, "file:", 5) == 0;
    static const char *const sim_keys[] = {"simulations", "states", "beta-mean", "beta-std",
                                           "seed"};
    for (size_t i = 0; file && i < sizeof sim_keys / sizeof *sim_keys; i++)
        if (dca_config_given(cfg, "data", sim_keys[i]))
            return cli_fail_at(cfg, "data", sim_keys[i],
                               "this key sets up simulated data; [data] source is a file");
    return -1;
}

/* "file:PATH:DATASET" of key (section, key) -> path (relative to the
 * config's directory) and dataset. */
static void split_file_spec(const dca_config *cfg, const char *section, const char *key,
                            const char *spec, char *path, size_t len, const char **dataset)
{
    const char *s = spec + 5, *colon = strrchr(s, ':');
    const int plen = (int)(colon - s);
    if (s[0] == '/')
        snprintf(path, len, "%.*s", plen, s);
    else
        snprintf(path, len, "%s/%.*s", dca_config_basedir(cfg, section, key), plen, s);
    *dataset = colon + 1;
}

/* The model (noise seed) and the data ([data] source). */
static int load_si(const dca_config *cfg, uint64_t noise_seed, dca_si **si, dca_si_data *d)
{
    dca_error err;
    memset(d, 0, sizeof *d);
    if (dca_si_create(&cfg->lattice, cfg->neighborhood, noise_seed, si, &err))
        return cli_fail_at(cfg, "lattice", "neighborhood", err.msg);
    if (strcmp(cfg->slm.source, "simulate") == 0) {
        dca_si *gen;
        if (dca_si_create(&cfg->lattice, cfg->neighborhood, cfg->slm.data_seed, &gen, &err))
            return cli_fail_at(cfg, "lattice", "neighborhood", err.msg);
        const dca_si_sim_options so = {cfg->slm.simulations, cfg->slm.states, cfg->slm.beta_mean,
                                       cfg->slm.beta_std, cfg->slm.data_seed};
        dca_status st = dca_si_data_simulate(gen, &cfg->lattice, &so, d, &err);
        dca_si_destroy(gen);
        if (st)
            return cli_fail_at(cfg, "data", "beta-std", err.msg);
        return -1;
    }
    char path[4096];
    const char *ds;
    split_file_spec(cfg, "data", "source", cfg->slm.source, path, sizeof path, &ds);
    if (dca_si_data_load(*si, &cfg->lattice, path, ds, d, &err))
        return cli_fail_at(cfg, "data", "source", err.msg);
    return -1;
}

/* Closes rf (complete when st is DCA_OK); a close failure becomes st. */
static dca_status close_runfile(dca_runfile **rf, dca_status st, dca_error *err)
{
    if (!*rf)
        return st;
    dca_error e2;
    const dca_status cst = dca_runfile_close(*rf, st == DCA_OK, &e2);
    *rf = NULL;
    if (!st && cst) {
        *err = e2;
        return cst;
    }
    return st;
}

typedef struct fit_ctx {
    progress pg;
    int64_t total;
} fit_ctx;

static bool on_iteration(void *ctx, int64_t iter, double beta, double loss)
{
    (void)beta, (void)loss;
    fit_ctx *f = ctx;
    progress_update(&f->pg, iter + 1, f->total, (double)(iter + 1), "iterations");
    return cli_interrupted();
}

static bool on_candidate(void *ctx, int64_t done)
{
    fit_ctx *f = ctx;
    progress_update(&f->pg, done, f->total, (double)done, "candidates");
    return cli_interrupted();
}

/* The first index from which every later value lies within tol of ref
 * (-1: the last one does not). */
static int64_t settles(const double *v, int64_t n, double ref, double tol)
{
    int64_t first = -1;
    for (int64_t i = n - 1; i >= 0 && fabs(v[i] - ref) <= tol; i--)
        first = i;
    return first;
}

int cmd_slm_train(const cli_common *o, dca_config *cfg, const char *resume,
                  const char *command_line)
{
    int rc = check_unused_si(cfg);
    if (rc >= 0)
        return rc;
    if (resume)
        return cli_fail(EXIT_USAGE, "--resume: [model] kind = si fits are not resumable (they "
                                    "take seconds; an interrupted fit keeps its iterations in the "
                                    "run file)");
    if (o->threads)
        omp_set_num_threads(o->threads);
    dca_si *si = NULL, *abc_si = NULL;
    dca_si_data d;
    dca_error err;
    dca_runfile *rf = NULL;
    double *beta = NULL, *loss = NULL, *grad = NULL, *abc_beta = NULL, *abc_dist = NULL,
           *abc_est = NULL, *abc_cost = NULL, *avg = NULL;
    uint8_t *u8 = NULL;
    if ((rc = load_si(cfg, cfg->learner.seed, &si, &d)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    const int64_t I = cfg->iterations, B = cfg->minibatch ? cfg->minibatch : d.S * (d.T - 1);
    if (I * B >= (int64_t)1 << 31) {
        rc = cli_fail_at(cfg, "optimizer", "iterations",
                         "iterations x minibatch must stay below 2^31 (noise keys)");
        goto out;
    }
    beta = calloc((size_t)I + 1, sizeof *beta);
    loss = calloc((size_t)I + 1, sizeof *loss);
    grad = calloc((size_t)I + 1, sizeof *grad);
    if (!beta || !loss || !grad) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    const int m = d.m;
    const double beta_ml = dca_si_beta_ml(m, d.n, d.k), beta_ls = dca_si_beta_ls(m, d.n, d.k);
    printf("train: si on %s, %lld trajectories x %lld states (%lld transitions), %s, %lld "
           "iterations of minibatch %lld, surrogate %s\n",
           cfg->neighborhood, (long long)d.S, (long long)d.T, (long long)(d.S * (d.T - 1)),
           cfg->method, (long long)I, (long long)B,
           cfg->slm.ste.kind == DCA_SURROGATE_IDENTITY ? "identity" : "sigmoid");
    fflush(stdout);
    cli_catch_signals();
    fit_ctx fc = {.total = I};
    progress_init(&fc.pg, o->quiet);
    double par[64];
    dca_config_optim_params(cfg, par);
    const dca_si_fit_options fo = {cfg->slm.beta, cfg->slm.ste, cfg->method, par,
                                   cfg->optim_seed, I, B, on_iteration, &fc};
    dca_si_fit_result fr = {beta, loss, grad, 0, false, false};
    const double t0 = cli_now();
    if (dca_si_fit(si, &d, &fo, &fr, &err)) {
        progress_end(&fc.pg);
        rc = cli_fail_at(cfg, "model", "beta", err.msg);
        goto out;
    }
    progress_end(&fc.pg);
    const double fit_secs = cli_now() - t0;
    const int64_t n_run = fr.iterations_run;
    /* The fit's estimate after i iterations: the Polyak-Ruppert average of
     * the iterates beta_{ceil(i/2)} .. beta_i (the second half). */
    avg = malloc((size_t)(n_run + 1) * sizeof *avg);
    double *prefix = malloc((size_t)(n_run + 2) * sizeof *prefix);
    if (!avg || !prefix) {
        free(prefix);
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    prefix[0] = 0;
    for (int64_t i = 0; i <= n_run; i++)
        prefix[i + 1] = prefix[i] + beta[i];
    for (int64_t i = 0; i <= n_run; i++) {
        const int64_t a = (i + 1) / 2;
        avg[i] = (prefix[i + 1] - prefix[a]) / (double)(i + 1 - a);
    }
    free(prefix);
    const double beta_fit = avg[n_run];
    const double tol = 0.01;
    const int64_t fit_settle = settles(avg, n_run + 1, beta_ml, tol);
    /* lattice steps: each transition is one forward step and one adjoint step */
    const double fit_cost = fit_settle < 0 ? NAN : 2.0 * (double)fit_settle * (double)B;

    /* ABC */
    const int64_t NC = cfg->slm.abc_candidates;
    int64_t abc_done = 0, n_chk = 0, abc_settle_at = -1;
    if (NC > 0) {
        abc_beta = malloc((size_t)NC * sizeof *abc_beta);
        abc_dist = malloc((size_t)NC * sizeof *abc_dist);
        abc_est = malloc((size_t)NC * sizeof *abc_est);
        abc_cost = malloc((size_t)NC * sizeof *abc_cost);
        if (!abc_beta || !abc_dist || !abc_est || !abc_cost) {
            rc = cli_fail(EXIT_RUNTIME, "out of memory");
            goto out;
        }
        if (dca_si_create(&cfg->lattice, cfg->neighborhood, cfg->slm.abc_seed, &abc_si, &err)) {
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
            goto out;
        }
        fit_ctx ac = {.total = NC};
        progress_init(&ac.pg, o->quiet);
        const dca_si_abc_options ao = {NC, cfg->slm.abc_simulations, cfg->slm.abc_accept,
                                       cfg->slm.abc_seed, on_candidate, &ac};
        if (dca_si_abc(abc_si, &d, &ao, abc_beta, abc_dist, &abc_done, &err)) {
            progress_end(&ac.pg);
            rc = cli_fail_at(cfg, "abc", "simulations", err.msg);
            goto out;
        }
        progress_end(&ac.pg);
        /* the estimate after n candidates, n on a geometric grid (ratio 1.05)
         * and the last */
        for (int64_t n = 1; n <= abc_done;) {
            abc_est[n_chk] = dca_si_abc_estimate(abc_beta, abc_dist, n, cfg->slm.abc_accept);
            abc_cost[n_chk] = (double)n * (double)cfg->slm.abc_simulations * (double)(d.T - 1);
            n_chk++;
            if (n == abc_done)
                break;
            int64_t next = (int64_t)((double)n * 1.05);
            next = next > n ? next : n + 1;
            n = next < abc_done ? next : abc_done;
        }
        const int64_t s = settles(abc_est, n_chk, beta_ml, tol);
        abc_settle_at = s;
    }
    const double abc_cost_settle = abc_settle_at < 0 ? NAN : abc_cost[abc_settle_at];

    /* The run file. */
    const char *outpath = o->output ? o->output : cfg->output_file;
    if (cli_make_parent_dirs(outpath) != 0) {
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    const int64_t C = d.C, H = cfg->lattice.dims == 2 ? cfg->lattice.shape[0] : 1;
    u8 = malloc((size_t)(d.S * d.T * C));
    if (!u8) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < d.S * d.T * C; i++)
        u8[i] = (uint8_t)d.frames[i];
    dca_run_meta meta = {dca_config_text(cfg), command_line, 1.0};
    dca_status st = dca_runfile_create(outpath, &meta, &rf, &err);
    int64_t fd[4] = {d.S, d.T, H, C / H}, fd1[3] = {d.S, d.T, C};
    if (!st)
        st = cfg->lattice.dims == 2 ? dca_runfile_array_u8(rf, "/data/frames", 4, fd, u8, 4, &err)
                                    : dca_runfile_array_u8(rf, "/data/frames", 3, fd1, u8, 4,
                                                           &err);
    double *counts = malloc((size_t)(2 * (m + 1)) * sizeof *counts);
    for (int i = 0; counts && i <= m; i++)
        counts[2 * i] = d.n[i], counts[2 * i + 1] = d.k[i];
    int64_t cd[2] = {m + 1, 2}, bd[2] = {d.S, d.T - 1}, id[1] = {n_run + 1}, ld[1] = {n_run};
#define W(name, rank, dims, data)                                                             \
    if (!st)                                                                                  \
    st = dca_runfile_array(rf, name, rank, dims, data, &err)
#define AF(group, name, v)                                                                    \
    if (!st)                                                                                  \
    st = dca_runfile_attr_f64(rf, group, name, v, &err)
#define AI(group, name, v)                                                                    \
    if (!st)                                                                                  \
    st = dca_runfile_attr_i64(rf, group, name, v, &err)
#define AS(group, name, v)                                                                    \
    if (!st)                                                                                  \
    st = dca_runfile_attr_str(rf, group, name, v, &err)
    if (!counts && !st)
        st = dca_error_set(&err, DCA_ERR_NOMEM, "out of memory");
    W("/data/counts", 2, cd, counts);
    free(counts);
    if (d.beta_t)
        W("/data/beta_t", 2, bd, d.beta_t);
    AS("/data", "source", cfg->slm.source);
    AS("/data", "model", "si");
    AS("/data", "neighborhood", cfg->neighborhood);
    AF("/data", "beta_ml", beta_ml);
    AF("/data", "beta_ls", beta_ls);
    W("/fit/beta", 1, id, beta);
    W("/fit/beta_average", 1, id, avg);
    W("/fit/loss", 1, ld, loss);
    W("/fit/gradient", 1, ld, grad);
    AS("/fit", "method", cfg->method);
    AS("/fit", "surrogate", cfg->slm.ste.kind == DCA_SURROGATE_IDENTITY ? "identity" : "sigmoid");
    AF("/fit", "surrogate_width", cfg->slm.ste.width);
    AI("/fit", "minibatch", B);
    AI("/fit", "iterations_run", n_run);
    AF("/fit", "beta_final", beta[n_run]);
    AF("/fit", "beta_fit", beta_fit);
    AI("/fit", "left_domain", fr.left_domain);
    AF("/fit", "seconds", fit_secs);
    AF("/fit", "tolerance", tol);
    AF("/fit", "lattice_steps_to_tolerance", fit_cost);
    if (NC > 0) {
        int64_t ad[1] = {abc_done}, kd[1] = {n_chk};
        W("/abc/beta", 1, ad, abc_beta);
        W("/abc/distance", 1, ad, abc_dist);
        W("/abc/estimate", 1, kd, abc_est);
        W("/abc/lattice_steps", 1, kd, abc_cost);
        AF("/abc", "accept", cfg->slm.abc_accept);
        AI("/abc", "simulations", cfg->slm.abc_simulations);
        AF("/abc", "estimate_final", n_chk ? abc_est[n_chk - 1] : NAN);
        AF("/abc", "tolerance", tol);
        AF("/abc", "lattice_steps_to_tolerance", abc_cost_settle);
    }
#undef W
#undef AF
#undef AI
#undef AS
    st = close_runfile(&rf, st, &err);
    if (st) {
        rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
        goto out;
    }
    printf("beta: fit %.4f (the mean of the second half of the iterates; the last is %.4f), "
           "maximum likelihood %.4f, least squares %.4f (the STE fit's fixed point)\n",
           beta_fit, beta[n_run], beta_ml, beta_ls);
    if (d.beta_t) {
        double mb = 0;
        for (int64_t i = 0; i < d.S * (d.T - 1); i++)
            mb += d.beta_t[i];
        printf("data: beta_t mean %.4f over %lld draws\n", mb / (double)(d.S * (d.T - 1)),
               (long long)(d.S * (d.T - 1)));
    }
    printf("fit: %lld iterations in %.3f s; within %.2g of the likelihood estimate from "
           "iteration %lld on (%.4g lattice steps, forward and adjoint)\n",
           (long long)n_run, fit_secs, tol, (long long)fit_settle, fit_cost);
    if (NC > 0)
        printf("abc: %lld candidates x %lld trajectories, accept %.3g: estimate %.4f; within "
               "%.2g of the likelihood estimate from %.4g lattice steps on\n",
               (long long)abc_done, (long long)cfg->slm.abc_simulations, cfg->slm.abc_accept,
               n_chk ? abc_est[n_chk - 1] : NAN, tol, abc_cost_settle);
    fflush(stdout);
    if (fr.left_domain)
        fprintf(stderr, "dca: warning: the optimiser moved beta to %.6g, out of [0, 1], at "
                        "iteration %lld; the fit stopped there (lower the learning rate)\n",
                beta[n_run], (long long)(n_run - 1));
    printf("wrote %s\n", outpath);
    rc = EXIT_OK;
    if (fr.interrupted || (NC > 0 && abc_done < NC))
        rc = cli_fail(EXIT_RUNTIME, "interrupted: %s keeps what was done", outpath);
out:
    dca_si_destroy(si);
    dca_si_destroy(abc_si);
    dca_si_data_free(&d);
    free(beta), free(loss), free(grad), free(abc_beta), free(abc_dist), free(abc_est),
        free(abc_cost), free(u8), free(avg);
    return rc;
}

/* ---- gradcheck ------------------------------------------------------------------- */

/* The relaxed model's loss over T steps from x0 (batch configurations),
 * L = mean (x_T - obs)^2; with grad, dL/dbeta by the adjoint. xs holds
 * (T + 1) states. */
static double rollout(const dca_si *si, double beta, const dca_ste *ste, int64_t B, int64_t T,
                      const double *x0, const double *obs, double *xs, double *g, double *gbeta)
{
    const int64_t C = dca_si_cells(si);
    memcpy(xs, x0, (size_t)(B * C) * sizeof *xs);
    for (int64_t t = 0; t < T; t++)
        dca_si_step(si, beta, ste, B, 0, t, xs + t * B * C, xs + (t + 1) * B * C);
    double L = 0;
    const double *xT = xs + T * B * C;
    for (int64_t c = 0; c < B * C; c++)
        L += (xT[c] - obs[c]) * (xT[c] - obs[c]);
    L /= (double)(B * C);
    if (gbeta) {
        *gbeta = 0;
        double *ga = g, *gb = g + B * C;
        for (int64_t c = 0; c < B * C; c++)
            ga[c] = 2 * (xT[c] - obs[c]) / (double)(B * C);
        for (int64_t t = T - 1; t >= 0; t--) {
            dca_si_step_adjoint(si, beta, ste, B, 0, t, xs + t * B * C, ga, t ? gb : NULL, gbeta);
            double *tmp = ga;
            ga = gb, gb = tmp;
        }
    }
    return L;
}

int cmd_slm_gradcheck(const cli_common *o, dca_config *cfg, double tol, double h)
{
    int rc = check_unused_si(cfg);
    if (rc >= 0)
        return rc;
    if (o->threads)
        omp_set_num_threads(o->threads);
    dca_si *si = NULL;
    dca_si_data d;
    if ((rc = load_si(cfg, cfg->learner.seed, &si, &d)) >= 0) {
        dca_si_destroy(si);
        return rc;
    }
    const double width = cfg->slm.ste.kind == DCA_SURROGATE_SIGMOID ? cfg->slm.ste.width : 0.1;
    const dca_ste smooth = {DCA_SURROGATE_SIGMOID, width, true};
    const int64_t C = d.C, B = d.S < 4 ? d.S : 4, T = d.T - 1 < 5 ? d.T - 1 : 5;
    double *x0 = malloc((size_t)(B * C) * sizeof *x0), *obs = malloc((size_t)(B * C) * 8),
           *xs = malloc((size_t)((T + 1) * B * C) * 8), *g = malloc((size_t)(2 * B * C) * 8);
    rc = EXIT_RUNTIME;
    if (!x0 || !obs || !xs || !g) {
        cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    /* From each of the first B trajectories' state at time t0 (the middle),
     * T steps, against the observed state T later. */
    const int64_t t0 = (d.T - 1 - T) / 2;
    for (int64_t b = 0; b < B; b++) {
        memcpy(x0 + b * C, d.frames + (b * d.T + t0) * C, (size_t)C * 8);
        memcpy(obs + b * C, d.frames + (b * d.T + t0 + T) * C, (size_t)C * 8);
    }
    const double beta = cfg->slm.beta;
    if (!(beta > h && beta + h < 1)) {
        rc = cli_fail_at(cfg, "model", "beta", "gradcheck needs h < beta < 1 - h");
        goto out;
    }
    printf("gradcheck %s: [model] kind = si at beta = %g, %lld trajectories x %lld steps from "
           "their state at t = %lld, noise frozen, h = %g\n",
           o->config, beta, (long long)B, (long long)T, (long long)t0, h);
    printf("the smoothed model: H(z) = s(z/%g) forward and backward; its adjoint against "
           "central differences of the same model\n",
           width);
    double gs, gh, Lp, Lm;
    const double L = rollout(si, beta, &smooth, B, T, x0, obs, xs, g, &gs);
    Lp = rollout(si, beta + h, &smooth, B, T, x0, obs, xs, NULL, NULL);
    Lm = rollout(si, beta - h, &smooth, B, T, x0, obs, xs, NULL, NULL);
    const double num = (Lp - Lm) / (2 * h);
    const double err = fabs(gs - num) / fmax(fabs(num), 1e-3 * fmax(fabs(num), fabs(L)));
    printf("loss L = %.12g\n%22s %22s %10s\n%22.14g %22.14g %10.2e\n", L, "exact dL/dbeta",
           "numeric", "rel err", gs, num, err);
    /* The fitting gradient beside it: hard forward, the configured surrogate. */
    const dca_ste hard = {cfg->slm.ste.kind, cfg->slm.ste.width, false};
    rollout(si, beta, &hard, B, T, x0, obs, xs, g, &gh);
    printf("straight-through gradient (hard forward, surrogate %s): %.14g (the estimator the fit "
           "uses; not a derivative of one model, so not checked)\n",
           cfg->slm.ste.kind == DCA_SURROGATE_IDENTITY ? "identity" : "sigmoid", gh);
    printf("worst error vs finite differences: %.3g (tolerance %g): %s\n", err, tol,
           err <= tol ? "PASS" : "FAIL");
    rc = err <= tol ? EXIT_OK : EXIT_RUNTIME;
out:
    dca_si_destroy(si);
    dca_si_data_free(&d);
    free(x0), free(obs), free(xs), free(g);
    return rc;
}

/* ---- the cellular Potts model -------------------------------------------------- */

static int check_unused_potts(const dca_config *cfg)
{
    static const char *const allowed[] = {
        "model.kind", "model.temperature", "model.target-msd", "model.sampling",
        "model.estimator", "model.lattices", "model.sampling-steps", "model.seed",
        "abc.candidates", "abc.simulations", "abc.accept", "abc.prior", "abc.seed",
        "lattice.size", "optimizer.*", NULL};
    return refuse_foreign(cfg, "potts", allowed);
}

static int load_potts(const dca_config *cfg, dca_potts **p)
{
    dca_error err;
    if (dca_potts_create(&cfg->lattice, (dca_potts_sampling)cfg->slm.sampling, cfg->learner.seed,
                         p, &err))
        return cli_fail_at(cfg, "lattice", "size", err.msg);
    return -1;
}

/* Mean and standard error of x[0..n). */
static void mean_se(const double *x, int64_t n, double *mean, double *se)
{
    double s = 0, q = 0;
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    s /= (double)n;
    for (int64_t i = 0; i < n; i++)
        q += (x[i] - s) * (x[i] - s);
    *mean = s;
    *se = n > 1 ? sqrt(q / (double)(n - 1) / (double)n) : NAN;
}

int cmd_potts_train(const cli_common *o, dca_config *cfg, const char *resume,
                    const char *command_line)
{
    int rc = check_unused_potts(cfg);
    if (rc >= 0)
        return rc;
    if (resume)
        return cli_fail(EXIT_USAGE, "--resume: [model] kind = potts fits are not resumable (an "
                                    "interrupted fit keeps its iterations in the run file)");
    if (o->threads)
        omp_set_num_threads(o->threads);
    dca_potts *pm = NULL;
    dca_optim *opt = NULL;
    dca_error err;
    const int64_t I = cfg->iterations, n = cfg->slm.lattices, S = cfg->slm.sampling_steps;
    double *Ts = NULL, *msdm = NULL, *acc = NULL, *loss = NULL, *gused = NULL, *gste = NULL,
           *gscore = NULL, *msd = NULL, *A = NULL, *R = NULL, *ste = NULL, *eval = NULL,
           *abc_T = NULL, *abc_d = NULL;
    if ((rc = load_potts(cfg, &pm)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    if ((I + 5) * n >= (int64_t)1 << 32) {
        rc = cli_fail_at(cfg, "model", "lattices",
                         "(iterations + 5) x lattices must stay below 2^32 (noise keys)");
        goto out;
    }
    Ts = calloc((size_t)I + 1, 8), msdm = calloc((size_t)I + 1, 8), acc = calloc((size_t)I + 1, 8);
    loss = calloc((size_t)I + 1, 8), gused = calloc((size_t)I + 1, 8), gste = calloc((size_t)I + 1, 8);
    gscore = calloc((size_t)I + 1, 8);
    msd = malloc((size_t)n * 8), A = malloc((size_t)n * 8), R = malloc((size_t)n * 8);
    ste = malloc((size_t)n * 8), eval = malloc((size_t)(4 * n) * 8);
    if (!Ts || !msdm || !acc || !loss || !gused || !gste || !gscore || !msd || !A || !R || !ste ||
        !eval) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    double par[64];
    dca_config_optim_params(cfg, par);
    if (dca_optim_create(cfg->method, par, 1, cfg->optim_seed, &opt, &err)) {
        rc = cli_fail_at(cfg, "optimizer", "method", err.msg);
        goto out;
    }
    const double target = cfg->slm.target_msd;
    printf("train: potts on %lldx%lld, %lld lattices x %lld sampling steps (%s sources), target "
           "MSD %g, %s on the %s gradient, %lld iterations\n",
           (long long)cfg->lattice.shape[0], (long long)cfg->lattice.shape[1], (long long)n,
           (long long)S, cfg->slm.sampling ? "uniform" : "boundary", target, cfg->method,
           cfg->slm.score ? "score-function" : "straight-through", (long long)I);
    fflush(stdout);
    cli_catch_signals();
    fit_ctx fc = {.total = I};
    progress_init(&fc.pg, o->quiet);
    double T = cfg->slm.temperature;
    int64_t done = 0;
    bool left = false;
    const double t0 = cli_now();
    Ts[0] = T;
    for (int64_t i = 0; i < I; i++) {
        dca_potts_run(pm, T, i * n, n, S, msd, A, R, ste, NULL);
        double m, se, a = 0, r = 0, gs = 0;
        mean_se(msd, n, &m, &se);
        for (int64_t l = 0; l < n; l++)
            a += A[l], r += R[l], gs += ste[l];
        gs /= (double)n;
        const double gsc = dca_potts_score_gradient(T, n, msd, A, R);
        msdm[i] = m;
        acc[i] = a + r > 0 ? a / (a + r) : NAN;
        loss[i] = (m - target) * (m - target);
        gste[i] = 2 * (m - target) * gs;
        gscore[i] = 2 * (m - target) * gsc;
        gused[i] = cfg->slm.score ? gscore[i] : gste[i];
        double g = gused[i];
        dca_optim_step(opt, loss[i], &g, &T);
        Ts[i + 1] = T;
        done = i + 1;
        if (!(T > 0) || !isfinite(T)) {
            left = true;
            break;
        }
        progress_update(&fc.pg, done, I, (double)done, "iterations");
        if (cli_interrupted())
            break;
    }
    progress_end(&fc.pg);
    const double secs = cli_now() - t0;
    /* The fit: the mean of the second half of the temperatures, checked on
     * 4 fresh batches. */
    double Tfit = 0;
    const int64_t a0 = (done + 1) / 2;
    for (int64_t i = a0; i <= done; i++)
        Tfit += Ts[i];
    Tfit /= (double)(done + 1 - a0);
    double em = NAN, ese = NAN;
    if (!left && Tfit > 0) {
        dca_potts_run(pm, Tfit, (I + 1) * n, 4 * n, S, eval, NULL, NULL, NULL, NULL);
        mean_se(eval, 4 * n, &em, &ese);
    }
    const bool within = fabs(em - target) <= 0.05 * target;

    /* ABC rejection on the same target: candidates T ~ U(prior), [abc]
     * simulations lattices each (their own seed), the estimate checked like
     * the fit's. */
    const int64_t NC = cfg->slm.abc_candidates, NS = cfg->slm.abc_simulations;
    int64_t abc_done = 0;
    double abc_est = NAN, abc_m = NAN, abc_se = NAN;
    if (NC > 0) {
        abc_T = malloc((size_t)NC * 8), abc_d = malloc((size_t)NC * 8);
        double *sims = malloc((size_t)NS * 8);
        dca_potts *ap = NULL;
        if (!abc_T || !abc_d || !sims ||
            dca_potts_create(&cfg->lattice, (dca_potts_sampling)cfg->slm.sampling,
                             cfg->slm.abc_seed, &ap, &err)) {
            free(sims);
            rc = cli_fail(EXIT_RUNTIME, "out of memory");
            goto out;
        }
        fit_ctx ac = {.total = NC};
        progress_init(&ac.pg, o->quiet);
        for (int64_t c = 0; c < NC && !cli_interrupted(); c++) {
            double u[2], m, se;
            dca_rng_uniform2(cfg->slm.abc_seed, DCA_RNG_SLM_DATA, (uint64_t)1 << 43 | (uint64_t)c,
                             0, u);
            abc_T[c] = cfg->slm.abc_tmin + (cfg->slm.abc_tmax - cfg->slm.abc_tmin) * u[0];
            dca_potts_run(ap, abc_T[c], c * NS, NS, S, sims, NULL, NULL, NULL, NULL);
            mean_se(sims, NS, &m, &se);
            abc_d[c] = fabs(m - target);
            abc_done = c + 1;
            progress_update(&ac.pg, c + 1, NC, (double)(c + 1), "candidates");
        }
        progress_end(&ac.pg);
        free(sims);
        dca_potts_destroy(ap);
        abc_est = dca_si_abc_estimate(abc_T, abc_d, abc_done, cfg->slm.abc_accept);
        if (abc_est > 0) {
            dca_potts_run(pm, abc_est, (I + 5) * n, 4 * n, S, eval, NULL, NULL, NULL, NULL);
            mean_se(eval, 4 * n, &abc_m, &abc_se);
        }
    }
    const bool abc_within = fabs(abc_m - target) <= 0.05 * target;

    const char *outpath = o->output ? o->output : cfg->output_file;
    if (cli_make_parent_dirs(outpath) != 0) {
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    dca_runfile *rf = NULL;
    dca_run_meta meta = {dca_config_text(cfg), command_line, 1.0};
    dca_status st = dca_runfile_create(outpath, &meta, &rf, &err);
    int64_t td[1] = {done + 1}, id[1] = {done};
#define W(name, dims, data)                                                                   \
    if (!st)                                                                                  \
    st = dca_runfile_array(rf, name, 1, dims, data, &err)
#define AF(name, v)                                                                           \
    if (!st)                                                                                  \
    st = dca_runfile_attr_f64(rf, "/fit", name, v, &err)
#define AS(name, v)                                                                           \
    if (!st)                                                                                  \
    st = dca_runfile_attr_str(rf, "/fit", name, v, &err)
    W("/fit/temperature", td, Ts);
    W("/fit/msd", id, msdm);
    W("/fit/acceptance", id, acc);
    W("/fit/loss", id, loss);
    W("/fit/gradient", id, gused);
    W("/fit/gradient_ste", id, gste);
    W("/fit/gradient_score", id, gscore);
    AS("model", "potts");
    AS("method", cfg->method);
    AS("estimator", cfg->slm.score ? "score" : "ste");
    AS("sampling", cfg->slm.sampling ? "uniform" : "boundary");
    AF("target_msd", target);
    AF("lattices", (double)n);
    AF("sampling_steps", (double)S);
    AF("temperature_fit", Tfit);
    AF("msd_fit", em);
    AF("msd_fit_se", ese);
    AF("within_5_percent", within);
    AF("left_domain", left);
    AF("iterations_run", (double)done);
    AF("seconds", secs);
    AF("lattice_steps", (double)done * (double)n * (double)S);
    if (NC > 0) {
        int64_t ad[1] = {abc_done};
        if (!st)
            st = dca_runfile_array(rf, "/abc/temperature", 1, ad, abc_T, &err);
        if (!st)
            st = dca_runfile_array(rf, "/abc/distance", 1, ad, abc_d, &err);
        const char *names[] = {"estimate", "msd_check", "msd_check_se", "within_5_percent",
                               "lattice_steps", "accept", "simulations"};
        const double vals[] = {abc_est, abc_m, abc_se, abc_within,
                               (double)abc_done * (double)NS * (double)S, cfg->slm.abc_accept,
                               (double)NS};
        for (size_t k = 0; k < sizeof vals / sizeof *vals && !st; k++)
            st = dca_runfile_attr_f64(rf, "/abc", names[k], vals[k], &err);
    }
#undef W
#undef AF
#undef AS
    st = close_runfile(&rf, st, &err);
    if (st) {
        rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
        goto out;
    }
    printf("fit: T %.5f (the mean of the second half of the iterates; acceptance e^(-1/T) = "
           "%.4f); %lld iterations in %.2f s\n",
           Tfit, exp(-1 / Tfit), (long long)done, secs);
    printf("check on %lld fresh lattices: MSD %.4f +- %.4f against the target %g: %s (%.3g "
           "lattice-steps simulated)\n",
           (long long)(4 * n), em, ese, target, within ? "within 5 %" : "NOT within 5 %",
           (double)done * (double)n * (double)S);
    if (NC > 0)
        printf("abc: %lld candidates x %lld lattices, accept %.3g: T %.5f; check: MSD %.4f +- "
               "%.4f: %s (%.3g lattice-steps simulated)\n",
               (long long)abc_done, (long long)NS, cfg->slm.abc_accept, abc_est, abc_m, abc_se,
               abc_within ? "within 5 %" : "NOT within 5 %",
               (double)abc_done * (double)NS * (double)S);
    fflush(stdout);
    if (left)
        fprintf(stderr, "dca: warning: the optimiser moved T to %.6g, out of (0, inf), at "
                        "iteration %lld; the fit stopped there\n",
                T, (long long)(done - 1));
    printf("wrote %s\n", outpath);
    rc = cli_interrupted() ? cli_fail(EXIT_RUNTIME, "interrupted: %s keeps what was done", outpath)
                           : EXIT_OK;
out:
    dca_potts_destroy(pm);
    dca_optim_destroy(opt);
    free(Ts), free(msdm), free(acc), free(loss), free(gused), free(gste), free(gscore);
    free(msd), free(A), free(R), free(ste), free(eval), free(abc_T), free(abc_d);
    return rc;
}

/* The estimators against central differences of the expected MSD with
 * common random numbers, over `batches` batches of [model] lattices. */
int cmd_potts_gradcheck(const cli_common *o, dca_config *cfg, double tol)
{
    int rc = check_unused_potts(cfg);
    if (rc >= 0)
        return rc;
    if (o->threads)
        omp_set_num_threads(o->threads);
    dca_potts *pm = NULL;
    if ((rc = load_potts(cfg, &pm)) >= 0)
        return rc;
    const int64_t n = cfg->slm.lattices, S = cfg->slm.sampling_steps, K = 16;
    const double T = cfg->slm.temperature, h = 0.02 * T;
    double *msd = malloc((size_t)n * 8), *A = malloc((size_t)n * 8), *R = malloc((size_t)n * 8),
           *ste = malloc((size_t)n * 8), *fd = malloc((size_t)K * 8), *sc = malloc((size_t)K * 8),
           *st = malloc((size_t)K * 8), *mm = malloc((size_t)K * 8);
    rc = EXIT_RUNTIME;
    if (!msd || !A || !R || !ste || !fd || !sc || !st || !mm) {
        cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    for (int64_t k = 0; k < K; k++) {
        double lo, hi, se, g = 0;
        dca_potts_run(pm, T + h, k * n, n, S, msd, NULL, NULL, NULL, NULL);
        mean_se(msd, n, &hi, &se);
        dca_potts_run(pm, T - h, k * n, n, S, msd, NULL, NULL, NULL, NULL);
        mean_se(msd, n, &lo, &se);
        fd[k] = (hi - lo) / (2 * h);
        dca_potts_run(pm, T, k * n, n, S, msd, A, R, ste, NULL);
        mean_se(msd, n, &mm[k], &se);
        sc[k] = dca_potts_score_gradient(T, n, msd, A, R);
        for (int64_t l = 0; l < n; l++)
            g += ste[l];
        st[k] = g / (double)n;
    }
    double mf, sf, ms, ss, mt, stt, mmsd, smsd;
    mean_se(fd, K, &mf, &sf);
    mean_se(sc, K, &ms, &ss);
    mean_se(st, K, &mt, &stt);
    mean_se(mm, K, &mmsd, &smsd);
    printf("gradcheck %s: [model] kind = potts at T = %g (acceptance %.4f), %lld batches of %lld "
           "lattices x %lld steps\n",
           o->config, T, exp(-1 / T), (long long)K, (long long)n, (long long)S);
    printf("E[MSD] = %.4f +- %.4f\n", mmsd, smsd);
    printf("%-44s %12s %10s\n", "d E[MSD] / dT", "mean", "std err");
    printf("%-44s %12.4f %10.4f\n", "central differences (h = 2 % of T, CRN)", mf, sf);
    printf("%-44s %12.4f %10.4f\n", "score function, leave-one-out baseline", ms, ss);
    printf("%-44s %12.4f %10.4f\n", "identity straight-through (the thesis's)", mt, stt);
    const double z = fabs(ms - mf) / sqrt(ss * ss + sf * sf);
    printf("score vs differences: %.2f standard errors; straight-through bias %.4f (%.0f %% of "
           "the derivative)\n",
           z, mt - mf, 100 * (mt - mf) / mf);
    /* tol is a gradcheck's relative tolerance: here the number of standard
     * errors allowed is max(4, tol) */
    const double zmax = fmax(4.0, tol);
    printf("score-function estimator within %.0f standard errors: %s\n", zmax,
           z <= zmax ? "PASS" : "FAIL");
    rc = z <= zmax ? EXIT_OK : EXIT_RUNTIME;
out:
    dca_potts_destroy(pm);
    free(msd), free(A), free(R), free(ste), free(fd), free(sc), free(st), free(mm);
    return rc;
}

/* ---- segmentation by state fitting ------------------------------------------------ */

static int check_unused_segment(const dca_config *cfg)
{
    static const char *const allowed[] = {
        "model.kind", "model.lambda-a", "model.lambda-b", "model.lambda-c", "model.lambda-d",
        "data.source", "data.mask", "data.cells", "data.cell-radius", "data.blur", "data.noise",
        "data.seed", "lattice.size", "optimizer.*", NULL};
    int rc = refuse_foreign(cfg, "segment", allowed);
    if (rc >= 0)
        return rc;
    const bool file = strncmp(cfg->slm.source, "file:", 5) == 0;
    static const char *const sim_keys[] = {"cells", "cell-radius", "blur", "noise", "seed"};
    for (size_t i = 0; file && i < sizeof sim_keys / sizeof *sim_keys; i++)
        if (dca_config_given(cfg, "data", sim_keys[i]))
            return cli_fail_at(cfg, "data", sim_keys[i],
                               "this key sets up the synthetic image; [data] source is a file");
    if (!file && strcmp(cfg->slm.mask, "none") != 0)
        return cli_fail_at(cfg, "data", "mask",
                           "the synthetic image brings its own mask; a mask file goes with "
                           "[data] source = file:...");
    return -1;
}

/* The image (grey values, H x W) and its mask (NULL when there is none). */
static int load_image(const dca_config *cfg, double **grey, uint8_t **mask, int64_t *H,
                      int64_t *W)
{
    dca_error err;
    *grey = NULL, *mask = NULL;
    if (strcmp(cfg->slm.source, "simulate") == 0) {
        if (cfg->lattice.dims != 2)
            return cli_fail_at(cfg, "lattice", "size", "a synthetic image needs HxW");
        *H = cfg->lattice.shape[0], *W = cfg->lattice.shape[1];
        *grey = malloc((size_t)(*H * *W) * 8);
        *mask = malloc((size_t)(*H * *W));
        if (!*grey || !*mask)
            return cli_fail(EXIT_RUNTIME, "out of memory");
        if (dca_cells_synthesize(*H, *W, cfg->slm.cells, cfg->slm.rmin, cfg->slm.rmax,
                                 cfg->slm.blur, cfg->slm.noise, cfg->slm.data_seed, *grey, *mask,
                                 &err))
            return cli_fail_at(cfg, "data", "cells", err.msg);
        return -1;
    }
    char path[4096];
    const char *ds;
    split_file_spec(cfg, "data", "source", cfg->slm.source, path, sizeof path, &ds);
    double *x;
    int rank;
    int64_t d[DCA_H5_MAX_RANK];
    if (dca_h5_read_doubles(path, ds, &x, &rank, d, &err))
        return cli_fail_at(cfg, "data", "source", err.msg);
    if (!(rank == 2 || (rank == 3 && (d[2] == 1 || d[2] == 3 || d[2] == 4))) || d[0] < 3 ||
        d[1] < 3) {
        free(x);
        return cli_fail_at(cfg, "data", "source",
                           "expected a grey image (rows, columns) or a colour one (rows, "
                           "columns, 1, 3 or 4 channels) of at least 3x3 pixels");
    }
    *H = d[0], *W = d[1];
    if (dca_config_given(cfg, "lattice", "size") &&
        (cfg->lattice.dims != 2 || cfg->lattice.shape[0] != *H || cfg->lattice.shape[1] != *W)) {
        free(x);
        return cli_fail_at(cfg, "lattice", "size", "does not match the image's size");
    }
    const int64_t n = *H * *W, ch = rank == 3 ? d[2] : 1;
    *grey = malloc((size_t)n * 8);
    if (!*grey) {
        free(x);
        return cli_fail(EXIT_RUNTIME, "out of memory");
    }
    for (int64_t i = 0; i < n; i++)
        (*grey)[i] = ch >= 3 ? 0.299 * x[i * ch] + 0.587 * x[i * ch + 1] + 0.114 * x[i * ch + 2]
                             : x[i * ch];
    free(x);
    if (strcmp(cfg->slm.mask, "none") == 0)
        return -1;
    split_file_spec(cfg, "data", "mask", cfg->slm.mask, path, sizeof path, &ds);
    if (dca_h5_read_doubles(path, ds, &x, &rank, d, &err))
        return cli_fail_at(cfg, "data", "mask", err.msg);
    if (rank != 2 || d[0] != *H || d[1] != *W) {
        free(x);
        return cli_fail_at(cfg, "data", "mask", "the mask's shape is not the image's");
    }
    *mask = malloc((size_t)n);
    for (int64_t i = 0; *mask && i < n; i++)
        (*mask)[i] = x[i] != 0;
    free(x);
    return *mask ? -1 : cli_fail(EXIT_RUNTIME, "out of memory");
}

int cmd_segment_train(const cli_common *o, dca_config *cfg, const char *resume,
                      const char *command_line)
{
    int rc = check_unused_segment(cfg);
    if (rc >= 0)
        return rc;
    if (resume)
        return cli_fail(EXIT_USAGE, "--resume: [model] kind = segment fits are not resumable");
    if (o->threads)
        omp_set_num_threads(o->threads);
    double *grey = NULL, *g = NULL, *x = NULL, *grad = NULL, *dice = NULL, *loss = NULL,
           *parts = NULL;
    uint8_t *mask = NULL, *snaps = NULL;
    dca_optim *opt = NULL;
    dca_runfile *rf = NULL;
    dca_error err;
    int64_t H, W;
    if ((rc = load_image(cfg, &grey, &mask, &H, &W)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    const int64_t n = H * W, I = cfg->iterations, NS = 9;
    g = malloc((size_t)n * 8), x = malloc((size_t)n * 8), grad = malloc((size_t)n * 8);
    dice = malloc((size_t)(I + 1) * 8), loss = malloc((size_t)(I + 1) * 8);
    parts = malloc((size_t)(4 * (I + 1)) * 8), snaps = calloc((size_t)(NS * n), 1);
    if (!g || !x || !grad || !dice || !loss || !parts || !snaps) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    if (dca_segment_normalise(n, grey, g, &err)) {
        rc = cli_fail_at(cfg, "data", "source", err.msg);
        goto out;
    }
    double par[64];
    dca_config_optim_params(cfg, par);
    if (dca_optim_create(cfg->method, par, n, cfg->optim_seed, &opt, &err)) {
        rc = cli_fail_at(cfg, "optimizer", "method", err.msg);
        goto out;
    }
    const dca_segment_weights lam = cfg->slm.lambda;
    printf("train: segment, %lldx%lld image (%s), %s, %lld iterations, lambda = %g, %g, %g, "
           "%g\n",
           (long long)H, (long long)W, cfg->slm.source, cfg->method, (long long)I, lam.a, lam.b,
           lam.c, lam.d);
    if (!(lam.d > 8 * (lam.b + lam.c)))
        fprintf(stderr, "dca: note: lambda-d <= 8 (lambda-b + lambda-c): the loss is not "
                        "bounded below, so the state grows without bound as the fit goes on "
                        "(the Dice score is recorded every iteration)\n");
    fflush(stdout);
    cli_catch_signals();
    memcpy(x, g, (size_t)n * 8);
    int64_t snap_it[9], ns = 0, done = 0;
    for (int k = 0; k < NS; k++)
        snap_it[k] = I * k / (NS - 1);
    fit_ctx fc = {.total = I};
    progress_init(&fc.pg, o->quiet);
    const double t0 = cli_now();
    for (int64_t i = 0;; i++) {
        loss[i] = dca_segment_loss(H, W, g, x, &lam, grad, parts + 4 * i);
        dice[i] = mask ? dca_dice(n, x, mask) : NAN;
        while (ns < NS && snap_it[ns] == i) {
            for (int64_t c = 0; c < n; c++)
                snaps[ns * n + c] = x[c] > 0;
            ns++;
        }
        done = i;
        if (i == I || cli_interrupted())
            break;
        dca_optim_step(opt, loss[i], grad, x);
        progress_update(&fc.pg, i + 1, I, (double)(i + 1), "iterations");
    }
    progress_end(&fc.pg);
    const double secs = cli_now() - t0;
    const char *outpath = o->output ? o->output : cfg->output_file;
    if (cli_make_parent_dirs(outpath) != 0) {
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    dca_run_meta meta = {dca_config_text(cfg), command_line, 1.0};
    dca_status st = dca_runfile_create(outpath, &meta, &rf, &err);
    int64_t d2[2] = {H, W}, dn[1] = {done + 1}, dp[2] = {done + 1, 4}, ds[3] = {ns, H, W},
            dsi[1] = {ns};
    double sit[9];
    for (int k = 0; k < ns; k++)
        sit[k] = (double)snap_it[k];
    if (!st)
        st = dca_runfile_array(rf, "/data/image", 2, d2, grey, &err);
    if (!st)
        st = dca_runfile_array(rf, "/data/normalised", 2, d2, g, &err);
    if (!st && mask)
        st = dca_runfile_array_u8(rf, "/data/mask", 2, d2, mask, 4, &err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/data", "source", cfg->slm.source, &err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/data", "model", "segment", &err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/loss", 1, dn, loss, &err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/loss_terms", 2, dp, parts, &err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/dice", 1, dn, dice, &err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/state", 2, d2, x, &err);
    if (!st && ns)
        st = dca_runfile_array_u8(rf, "/fit/masks", 3, ds, snaps, 4, &err);
    if (!st && ns)
        st = dca_runfile_array(rf, "/fit/mask_iterations", 1, dsi, sit, &err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/fit", "model", "segment", &err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/fit", "method", cfg->method, &err);
    const double lams[4] = {lam.a, lam.b, lam.c, lam.d};
    int64_t d4[1] = {4};
    if (!st)
        st = dca_runfile_array(rf, "/fit/lambda", 1, d4, lams, &err);
    if (!st)
        st = dca_runfile_attr_f64(rf, "/fit", "dice_final", dice[done], &err);
    if (!st)
        st = dca_runfile_attr_f64(rf, "/fit", "seconds", secs, &err);
    st = close_runfile(&rf, st, &err);
    if (st) {
        rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
        goto out;
    }
    if (mask) {
        /* the best Dice and the Dice of the best single threshold of g, for reference */
        int64_t best = 0;
        for (int64_t i = 1; i <= done; i++)
            best = dice[i] > dice[best] ? i : best;
        double bt = 0, bd = 0;
        for (int k = -100; k < 100; k++) {
            const double t = k / 100.0;
            for (int64_t c = 0; c < n; c++)
                grad[c] = g[c] - t;
            const double d = dca_dice(n, grad, mask);
            if (d > bd)
                bd = d, bt = t;
        }
        printf("dice: %.4f at iteration 0 (g > 0), %.4f after %lld iterations (best %.4f at "
               "iteration %lld); the best single threshold of g (%.2f, chosen knowing the "
               "mask) gives %.4f\n",
               dice[0], dice[done], (long long)done, dice[best], (long long)best, bt, bd);
    } else {
        int64_t fg = 0;
        for (int64_t c = 0; c < n; c++)
            fg += x[c] > 0;
        printf("no mask: %lld of %lld pixels foreground after %lld iterations\n", (long long)fg,
               (long long)n, (long long)done);
    }
    printf("fit: %.3f s; wrote %s\n", secs, outpath);
    rc = cli_interrupted() ? cli_fail(EXIT_RUNTIME, "interrupted: %s keeps what was done", outpath)
                           : EXIT_OK;
out:
    dca_optim_destroy(opt);
    free(grey), free(g), free(x), free(grad), free(dice), free(loss), free(parts);
    free(mask), free(snaps);
    return rc;
}

int cmd_segment_gradcheck(const cli_common *o, dca_config *cfg, double tol, double h)
{
    int rc = check_unused_segment(cfg);
    if (rc >= 0)
        return rc;
    double *grey = NULL, *g = NULL, *x = NULL, *grad = NULL;
    uint8_t *mask = NULL;
    int64_t H, W;
    dca_error err;
    if ((rc = load_image(cfg, &grey, &mask, &H, &W)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    const int64_t n = H * W;
    g = malloc((size_t)n * 8), x = malloc((size_t)n * 8), grad = malloc((size_t)n * 8);
    if (!g || !x || !grad || dca_segment_normalise(n, grey, g, &err)) {
        cli_fail(EXIT_RUNTIME, "%s", !g || !x || !grad ? "out of memory" : err.msg);
        goto out;
    }
    /* at a perturbed state (x = g + small noise), pixels on the border included */
    for (int64_t c = 0; c < n; c++)
        x[c] = g[c] + 0.1 * sin(0.37 * (double)c);
    const dca_segment_weights lam = cfg->slm.lambda;
    dca_segment_loss(H, W, g, x, &lam, grad, NULL);
    double worst = 0;
    const int64_t picks[] = {0, W - 1, n / 2 + W / 3, n - W, n - 1, W + 1, n / 3};
    printf("gradcheck %s: [model] kind = segment, %lldx%lld, h = %g: the loss is smooth in the "
           "state (the mask is not in it), so its gradient is exact\n",
           o->config, (long long)H, (long long)W, h);
    printf("%10s %22s %22s %10s\n", "pixel", "exact", "numeric", "rel err");
    for (size_t k = 0; k < sizeof picks / sizeof *picks; k++) {
        const int64_t c = picks[k];
        const double keep = x[c];
        x[c] = keep + h;
        const double Lp = dca_segment_loss(H, W, g, x, &lam, NULL, NULL);
        x[c] = keep - h;
        const double Lm = dca_segment_loss(H, W, g, x, &lam, NULL, NULL);
        x[c] = keep;
        const double num = (Lp - Lm) / (2 * h);
        const double e = fabs(grad[c] - num) / fmax(fabs(num), 1e-3);
        worst = fmax(worst, e);
        printf("%10lld %22.14g %22.14g %10.2e\n", (long long)c, grad[c], num, e);
    }
    printf("worst error vs finite differences: %.3g (tolerance %g): %s\n", worst, fmax(tol, 1e-5),
           worst <= fmax(tol, 1e-5) ? "PASS" : "FAIL");
    rc = worst <= fmax(tol, 1e-5) ? EXIT_OK : EXIT_RUNTIME;
out:
    free(grey), free(g), free(x), free(grad), free(mask);
    return rc;
}

/* ---- the Malevanets-Kapral lattice gas: stability fitting --------------------------- */

static int check_unused_mk(const dca_config *cfg)
{
    static const char *const allowed[] = {
        "model.kind", "model.D_A", "model.D_B", "model.k1", "model.k2", "model.k3", "model.N",
        "model.gamma", "model.tau", "model.surrogate", "model.fit", "model.offset-estimator",
        "model.stability-steps",
        "model.test-every", "model.test-steps", "model.seed", "data.source", "data.reference",
        "data.pattern-steps", "data.seed", "lattice.size", "optimizer.*", NULL};
    int rc = refuse_foreign(cfg, "mk", allowed);
    if (rc >= 0)
        return rc;
    if (strcmp(cfg->slm.source, "simulate") != 0)
        return cli_fail_at(cfg, "data", "source",
                           "[model] kind = mk makes its reference pattern (simulate)");
    return -1;
}

/* The uniform state with a stripe: A = B = N/2, A = 4N/5 in the 4 central
 * columns. */
static void mk_initial(int64_t H, int64_t W, int N, double *x)
{
    const int64_t C = H * W;
    for (int64_t c = 0; c < C; c++) {
        const int64_t j = c % W;
        x[c] = (j >= W / 2 - 2 && j < W / 2 + 2) ? (double)(4 * N / 5) : (double)(N / 2);
        x[C + c] = (double)(N / 2);
    }
}

/* steps from x in place (two state buffers, chunked). */
static void mk_advance(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t steps,
                       double *x, double *buf /* 2 x (chunk + 1) x 2C */)
{
    const int64_t C = dca_mk_cells(m), chunk = 256;
    for (int64_t t = 0; t < steps; t += chunk) {
        const int64_t n = steps - t < chunk ? steps - t : chunk;
        memcpy(buf, x, (size_t)(2 * C) * 8);
        dca_mk_run(m, p, conf, t, n, buf);
        memcpy(x, buf + n * 2 * C, (size_t)(2 * C) * 8);
    }
}

static double variance_A(const double *x, int64_t C, int N)
{
    double m = 0, v = 0;
    for (int64_t c = 0; c < C; c++)
        m += x[c] / N;
    m /= (double)C;
    for (int64_t c = 0; c < C; c++)
        v += (x[c] / N - m) * (x[c] / N - m);
    return v / (double)C;
}

int cmd_mk_train(const cli_common *o, dca_config *cfg, const char *resume,
                 const char *command_line)
{
    int rc = check_unused_mk(cfg);
    if (rc >= 0)
        return rc;
    if (resume)
        return cli_fail(EXIT_USAGE, "--resume: [model] kind = mk fits are not resumable");
    if (cfg->lattice.dims != 2)
        return cli_fail_at(cfg, "lattice", "size", "the Malevanets-Kapral model needs HxW");
    if (o->threads)
        omp_set_num_threads(o->threads);
    dca_error err;
    dca_mk *m = NULL;
    dca_optim *opt = NULL;
    const int N = (int)cfg->slm.particles;
    const int64_t H = cfg->lattice.shape[0], W = cfg->lattice.shape[1], C = H * W;
    const int64_t I = cfg->iterations, Tst = cfg->slm.stability_steps;
    const int64_t every = cfg->slm.test_every;
    const int64_t ntests = (every > 0 ? I / every + 1 : 0) + 1;
    double *ref = NULL, *states = NULL, *gT = NULL, *params = NULL, *loss = NULL, *grads = NULL,
           *buf = NULL, *x = NULL, *tvar = NULL, *tit = NULL, *gdste = NULL;
    uint8_t *tpat = NULL;
    rc = EXIT_RUNTIME;
    if (dca_mk_create(&cfg->lattice, N, cfg->learner.gamma, cfg->slm.tau, &cfg->slm.ste,
                      cfg->learner.seed, &m, &err)) {
        rc = cli_fail_at(cfg, "model", "N", err.msg);
        goto out;
    }
    dca_mk_params P = cfg->slm.mk;
    if (dca_mk_check(m, &P, &err)) {
        rc = cli_fail_at(cfg, "model", "k1", err.msg);
        goto out;
    }
    if (dca_mk_check(m, &cfg->slm.mk_reference, &err)) {
        rc = cli_fail_at(cfg, "data", "reference", err.msg);
        goto out;
    }
    ref = malloc((size_t)(2 * C) * 8), x = malloc((size_t)(2 * C) * 8);
    states = malloc((size_t)((Tst + 1) * 2 * C) * 8), gT = malloc((size_t)(2 * C) * 8);
    buf = malloc((size_t)(257 * 2 * C) * 8);
    params = malloc((size_t)(5 * (I + 1)) * 8), loss = malloc((size_t)(I + 1) * 8);
    grads = malloc((size_t)(5 * (I + 1)) * 8), gdste = malloc((size_t)(2 * (I + 1)) * 8);
    tvar = malloc((size_t)ntests * 8), tit = malloc((size_t)ntests * 8);
    tpat = malloc((size_t)(ntests * C));
    if (!ref || !x || !states || !gT || !buf || !params || !loss || !grads || !tvar || !tit ||
        !tpat || !gdste) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory (%lld stability steps keep %.3g MB of states)",
                      (long long)Tst, (double)((Tst + 1) * 2 * C) * 8e-6);
        goto out;
    }
    const bool fitD = strcmp(cfg->slm.fit, "k") != 0, fitk = strcmp(cfg->slm.fit, "D") != 0;
    double par[64];
    dca_config_optim_params(cfg, par);
    if (dca_optim_create(cfg->method, par, 5, cfg->optim_seed, &opt, &err)) {
        rc = cli_fail_at(cfg, "optimizer", "method", err.msg);
        goto out;
    }
    printf("train: mk on %lldx%lld, N = %d, gamma = %g, stability fitting of %s over %lld steps, "
           "%s, %lld iterations\n",
           (long long)H, (long long)W, N, cfg->learner.gamma,
           fitD && fitk ? "D_A, D_B, k1, k2, k3" : fitD ? "D_A, D_B (k fixed)" : "k1, k2, k3 (D fixed)",
           (long long)Tst, cfg->method, (long long)I);
    fflush(stdout);
    cli_catch_signals();
    /* X_ref: the reference parameters' pattern, from the [data] seed's noise */
    const double t0 = cli_now();
    dca_mk *mref;
    if (dca_mk_create(&cfg->lattice, N, cfg->learner.gamma, cfg->slm.tau, &cfg->slm.ste,
                      cfg->slm.data_seed, &mref, &err)) {
        rc = cli_fail_at(cfg, "data", "seed", err.msg);
        goto out;
    }
    mk_initial(H, W, N, ref);
    mk_advance(mref, &cfg->slm.mk_reference, 0, cfg->slm.pattern_steps, ref, buf);
    dca_mk_destroy(mref);
    printf("reference pattern: %lld steps at D_A, D_B, k1, k2, k3 = %g, %g, %g, %g, %g: variance "
           "of A/N %.4f (%.1f s)\n",
           (long long)cfg->slm.pattern_steps, cfg->slm.mk_reference.D_A, cfg->slm.mk_reference.D_B,
           cfg->slm.mk_reference.k1, cfg->slm.mk_reference.k2, cfg->slm.mk_reference.k3,
           variance_A(ref, C, N), cli_now() - t0);
    fflush(stdout);
    fit_ctx fc = {.total = I};
    progress_init(&fc.pg, o->quiet);
    int64_t done = 0, nt = 0;
    bool left = false;
    const double t1 = cli_now();
    double test_secs = 0, baseline = 0;
    for (int64_t i = 0;; i++) {
        double *pp = params + 5 * i;
        pp[0] = P.D_A, pp[1] = P.D_B, pp[2] = P.k1, pp[3] = P.k2, pp[4] = P.k3;
        if ((every > 0 && i % every == 0) || i == I || left) {
            /* the pattern-formation test: noise configuration 2^31 + test */
            const double ts = cli_now();
            mk_initial(H, W, N, x);
            mk_advance(m, &P, ((int64_t)1 << 31) + nt, cfg->slm.test_steps, x, buf);
            tvar[nt] = variance_A(x, C, N);
            tit[nt] = (double)i;
            for (int64_t c = 0; c < C; c++)
                tpat[nt * C + c] = (uint8_t)(x[c] * 255.0 / N + 0.5);
            nt++;
            test_secs += cli_now() - ts;
        }
        if (i == I || left || cli_interrupted())
            break;
        memcpy(states, ref, (size_t)(2 * C) * 8);
        dca_mk_run(m, &P, i, 0, Tst, states);
        const double *xT = states + Tst * 2 * C;
        double L = 0;
        for (int64_t c = 0; c < 2 * C; c++) { /* the MSE in particle counts */
            const double e = xT[c] - ref[c];
            L += e * e;
            gT[c] = e / (double)C; /* d/dx of (1 / 2C) sum e^2 */
        }
        loss[i] = L / (2.0 * (double)C);
        double g[5] = {0, 0, 0, 0, 0};
        dca_mk_adjoint(m, &P, i, 0, Tst, states, gT, NULL, g);
        gdste[2 * i] = g[0], gdste[2 * i + 1] = g[1];
        if (cfg->slm.offset_score) {
            /* the baseline: a moving average of the earlier iterations' losses
             * (independent of this run's noise; the first iteration's own) */
            baseline = i == 0 ? loss[0] : 0.9 * baseline + 0.1 * loss[i - 1];
            double sc[2];
            dca_mk_offset_score(m, &P, i, 0, Tst, sc);
            g[0] = (loss[i] - baseline) * sc[0];
            g[1] = (loss[i] - baseline) * sc[1];
        }
        for (int j = 0; j < 5; j++)
            if ((j < 2 && !fitD) || (j >= 2 && !fitk))
                g[j] = 0;
        memcpy(grads + 5 * i, g, sizeof g);
        double w[5] = {P.D_A, P.D_B, P.k1, P.k2, P.k3};
        dca_optim_step(opt, loss[i], g, w);
        /* fixed parameters stay fixed whatever the optimiser's noise */
        if (fitD)
            P.D_A = w[0], P.D_B = w[1];
        if (fitk)
            P.k1 = w[2], P.k2 = w[3], P.k3 = w[4];
        done = i + 1;
        if (dca_mk_check(m, &P, &err)) {
            left = true;
            fprintf(stderr, "\ndca: warning: iteration %lld: %s; the fit stops here\n",
                    (long long)i, err.msg);
            P = (dca_mk_params){pp[0], pp[1], pp[2], pp[3], pp[4]}; /* the last valid */
        }
        progress_update(&fc.pg, done, I, (double)done * (double)Tst * (double)C, "cell-steps");
    }
    progress_end(&fc.pg);
    const double secs = cli_now() - t1 - test_secs;
    const char *outpath = o->output ? o->output : cfg->output_file;
    if (cli_make_parent_dirs(outpath) != 0) {
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    dca_runfile *rf = NULL;
    dca_run_meta meta = {dca_config_text(cfg), command_line, 1.0};
    dca_status st = dca_runfile_create(outpath, &meta, &rf, &err);
    int64_t dref[3] = {2, H, W}, dp[2] = {done + 1, 5}, dg[2] = {done, 5}, dl[1] = {done},
            dt[1] = {nt}, dpat[3] = {nt, H, W};
    if (!st)
        st = dca_runfile_array(rf, "/data/reference", 3, dref, ref, &err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/data", "model", "mk", &err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/params", 2, dp, params, &err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/loss", 1, dl, loss, &err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/gradient", 2, dg, grads, &err);
    int64_t dg2[2] = {done, 2};
    if (!st)
        st = dca_runfile_array(rf, "/fit/gradient_d_ste", 2, dg2, gdste, &err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/fit", "offset_estimator",
                                  cfg->slm.offset_score ? "score" : "ste", &err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/test_iterations", 1, dt, tit, &err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/test_variance", 1, dt, tvar, &err);
    if (!st)
        st = dca_runfile_array_u8(rf, "/fit/test_patterns", 3, dpat, tpat, 4, &err);
    const char *sattr[][2] = {{"model", "mk"}, {"method", cfg->method}, {"fit", cfg->slm.fit},
                              {"parameters", "D_A, D_B, k1, k2, k3"}};
    for (size_t k = 0; k < 4 && !st; k++)
        st = dca_runfile_attr_str(rf, "/fit", sattr[k][0], sattr[k][1], &err);
    const char *fnames[] = {"gamma", "N", "tau", "stability_steps", "test_steps", "seconds",
                            "left_domain", "reference_variance", "test_seconds"};
    const double fvals[] = {cfg->learner.gamma, N, cfg->slm.tau, (double)Tst,
                            (double)cfg->slm.test_steps, secs, left, variance_A(ref, C, N),
                            test_secs};
    for (size_t k = 0; k < 9 && !st; k++)
        st = dca_runfile_attr_f64(rf, "/fit", fnames[k], fvals[k], &err);
    st = close_runfile(&rf, st, &err);
    if (st) {
        rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
        goto out;
    }
    const double *last = params + 5 * done;
    printf("fit: D_A %.4f, D_B %.4f, k1 %.4f, k2 %.4f, k3 %.4f after %lld iterations (%.1f s, "
           "%.3g cell-steps/s forward and backward; tests %.1f s); loss %.5f -> %.5f\n",
           last[0], last[1], last[2], last[3], last[4], (long long)done, secs,
           2.0 * (double)done * (double)Tst * (double)C / secs, test_secs, done ? loss[0] : NAN,
           done ? loss[done - 1] : NAN);
    printf("pattern tests (variance of A/N after %lld steps from the striped uniform state; the "
           "reference %.4f):",
           (long long)cfg->slm.test_steps, variance_A(ref, C, N));
    for (int64_t k = 0; k < nt; k++)
        printf(" %lld: %.4f", (long long)tit[k], tvar[k]);
    printf("\nwrote %s\n", outpath);
    rc = cli_interrupted() ? cli_fail(EXIT_RUNTIME, "interrupted: %s keeps what was done", outpath)
                           : EXIT_OK;
out:
    dca_mk_destroy(m);
    dca_optim_destroy(opt);
    free(ref), free(x), free(states), free(gT), free(buf), free(params), free(loss), free(grads);
    free(gdste);
    free(tvar), free(tit), free(tpat);
    return rc;
}

/* L = (1 / 2C) sum ((x_T - x_0) / N)^2 over T steps from x0 and, when grad
 * is non-NULL, its adjoint added to grad. */
static double mk_loss(const dca_mk *m, const dca_mk_params *p, const double *x0, int64_t T,
                      double *states, double *gT, double *grad)
{
    const int64_t C = dca_mk_cells(m);
    const double N = (double)dca_mk_particles(m);
    memcpy(states, x0, (size_t)(2 * C) * 8);
    dca_mk_run(m, p, 0, 0, T, states);
    double L = 0;
    for (int64_t c = 0; c < 2 * C; c++) {
        const double e = (states[T * 2 * C + c] - x0[c]) / N;
        L += e * e;
        gT[c] = e / (N * (double)C);
    }
    if (grad)
        dca_mk_adjoint(m, p, 0, 0, T, states, gT, NULL, grad);
    return L / (2.0 * (double)C);
}

/* The smoothed model's adjoint against central differences, from the
 * striped uniform state over min(stability-steps, 20) steps. */
int cmd_mk_gradcheck(const cli_common *o, dca_config *cfg, double tol, double h)
{
    int rc = check_unused_mk(cfg);
    if (rc >= 0)
        return rc;
    if (cfg->lattice.dims != 2)
        return cli_fail_at(cfg, "lattice", "size", "the Malevanets-Kapral model needs HxW");
    if (o->threads)
        omp_set_num_threads(o->threads);
    const int N = (int)cfg->slm.particles;
    const int64_t H = cfg->lattice.shape[0], W = cfg->lattice.shape[1], C = H * W;
    const int64_t T = cfg->slm.stability_steps < 20 ? cfg->slm.stability_steps : 20;
    const double width = cfg->slm.ste.kind == DCA_SURROGATE_SIGMOID ? cfg->slm.ste.width : 0.1;
    const dca_ste smooth = {DCA_SURROGATE_SIGMOID, width, true};
    dca_mk *ms = NULL, *mh = NULL;
    dca_error err;
    double *states = malloc((size_t)((T + 1) * 2 * C) * 8), *x0 = malloc((size_t)(2 * C) * 8),
           *gT = malloc((size_t)(2 * C) * 8);
    rc = EXIT_RUNTIME;
    if (!states || !x0 || !gT) {
        cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    if (dca_mk_create(&cfg->lattice, N, cfg->learner.gamma, cfg->slm.tau, &smooth,
                      cfg->learner.seed, &ms, &err) ||
        dca_mk_create(&cfg->lattice, N, cfg->learner.gamma, cfg->slm.tau, &cfg->slm.ste,
                      cfg->learner.seed, &mh, &err)) {
        rc = cli_fail_at(cfg, "model", "N", err.msg);
        goto out;
    }
    const dca_mk_params P = cfg->slm.mk;
    if (dca_mk_check(ms, &P, &err)) {
        rc = cli_fail_at(cfg, "model", "k1", err.msg);
        goto out;
    }
    mk_initial(H, W, N, x0);
    double gs[5] = {0}, gh[5] = {0};
    const double L = mk_loss(ms, &P, x0, T, states, gT, gs);
    mk_loss(mh, &P, x0, T, states, gT, gh);
    printf("gradcheck %s: [model] kind = mk, %lldx%lld, %lld steps from the striped uniform "
           "state, noise frozen, h = %g\n",
           o->config, (long long)H, (long long)W, (long long)T, h);
    printf("the smoothed model: excitation and reaction H(z) = s(z/%g), the offset a "
           "softmax((l + G)/%g) mixture; its adjoint against central differences\n",
           width, cfg->slm.tau);
    printf("loss L = %.12g\n%6s %22s %22s %10s %22s\n", L, "param", "exact", "numeric", "rel err",
           "straight-through");
    const char *names[5] = {"D_A", "D_B", "k1", "k2", "k3"};
    double worst = 0, gmax = 0;
    double num[5];
    for (int j = 0; j < 5; j++) {
        dca_mk_params a = P, b = P;
        double *pa = &a.D_A + j, *pb = &b.D_A + j;
        *pa += h, *pb -= h;
        num[j] = (mk_loss(ms, &a, x0, T, states, gT, NULL) -
                  mk_loss(ms, &b, x0, T, states, gT, NULL)) /
                 (2 * h);
        gmax = fmax(gmax, fabs(num[j]));
    }
    for (int j = 0; j < 5; j++) {
        const double e = fabs(gs[j] - num[j]) / fmax(fabs(num[j]), 1e-3 * gmax);
        worst = fmax(worst, e);
        printf("%6s %22.14g %22.14g %10.2e %22.14g\n", names[j], gs[j], num[j], e, gh[j]);
    }
    printf("the last column: the fit's estimator (hard forward, surrogate %s, Gumbel-softmax "
           "STE), not the derivative of one model, so not checked\n",
           cfg->slm.ste.kind == DCA_SURROGATE_IDENTITY ? "identity" : "sigmoid");
    const double tl = fmax(tol, 1e-5);
    printf("worst error vs finite differences: %.3g (tolerance %g): %s\n", worst, tl,
           worst <= tl ? "PASS" : "FAIL");
    rc = worst <= tl ? EXIT_OK : EXIT_RUNTIME;
out:
    dca_mk_destroy(ms);
    dca_mk_destroy(mh);
    free(states), free(x0), free(gT);
    return rc;
}
