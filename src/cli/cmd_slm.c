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
#include "slm_cli.h"

/* Every key given (in the file or by --set) must be one this model uses:
 * `allowed` lists "section.key" entries, NULL-terminated; "optimizer.*"
 * allows the optimiser's keys except those of rule training (fresh,
 * time-limit, tolerance) and minibatch (unless listed).
 * [output] is always allowed. */
int slm_refuse_foreign(const dca_config *cfg, const char *kind, const char *const *allowed)
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
                  strcmp(key, "fresh") != 0 && strcmp(key, "time-limit") != 0 && strcmp(key, "tolerance") != 0 &&
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
    int rc = slm_refuse_foreign(cfg, "si", allowed);
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
void slm_split_file_spec(const dca_config *cfg, const char *section, const char *key,
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
    slm_split_file_spec(cfg, "data", "source", cfg->slm.source, path, sizeof path, &ds);
    if (dca_si_data_load(*si, &cfg->lattice, path, ds, d, &err))
        return cli_fail_at(cfg, "data", "source", err.msg);
    return -1;
}

/* Closes rf (complete when st is DCA_OK); a close failure becomes st. */
dca_status slm_close_runfile(dca_runfile **rf, dca_status st, dca_error *err)
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

int slm_resume_i64(const char *path, const char *obj, const char *name, int64_t *v)
{
    dca_error err;
    if (dca_h5_read_i64_attr(path, obj, name, v, &err))
        return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
    return -1;
}

int slm_resume_f64(const char *path, const char *obj, const char *name, double *v)
{
    dca_error err;
    if (dca_h5_read_f64_attr(path, obj, name, v, &err))
        return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
    return -1;
}

int slm_resume_open(const char *path, dca_config *cfg, const char *model, int64_t I,
                    int64_t *done)
{
    int rc = cli_resume_check(path, cfg);
    if (rc >= 0)
        return rc;
    dca_error err;
    char *m = NULL;
    if (dca_h5_read_string_attr(path, "/fit", "model", &m, &err))
        return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
    const bool same = strcmp(m, model) == 0;
    free(m);
    if (!same)
        return cli_fail(EXIT_USAGE, "--resume %s: not a [model] kind = %s fit", path, model);
    int64_t left = 0;
    if ((rc = slm_resume_i64(path, "/fit", "iterations_done", done)) >= 0 ||
        (strcmp(model, "segment") != 0 &&
         (rc = slm_resume_i64(path, "/fit", "left_domain", &left)) >= 0))
        return rc;
    if (*done < 0 || *done > I)
        return cli_fail(EXIT_USAGE, "--resume %s: it has %lld iterations, more than [optimizer] "
                                    "iterations = %lld", path, (long long)*done, (long long)I);
    if (left)
        return cli_fail(EXIT_USAGE, "--resume %s: that fit stopped because its parameters left "
                                    "their domain; there is nothing to continue", path);
    return -1;
}

int slm_resume_abc(const char *path, int64_t candidates, int64_t done, int64_t I,
                   int64_t *abc_done)
{
    *abc_done = 0;
    int rc = candidates > 0 ? slm_resume_i64(path, "/abc", "candidates_done", abc_done) : -1;
    if (rc >= 0)
        return rc;
    if (*abc_done < 0 || *abc_done > candidates || (*abc_done > 0 && done < I))
        return cli_fail(EXIT_USAGE, "--resume %s: /abc@candidates_done = %lld does not fit "
                                    "%lld fit iterations of %lld and %lld candidates",
                        path, (long long)*abc_done, (long long)done, (long long)I,
                        (long long)candidates);
    return -1;
}

int slm_resume_doubles(const char *path, const char *name, double *dst, int64_t n)
{
    if (n == 0)
        return -1;
    dca_error err;
    double *v = NULL;
    int rank;
    int64_t dims[DCA_H5_MAX_RANK];
    if (dca_h5_read_doubles(path, name, &v, &rank, dims, &err))
        return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
    int64_t k = 1;
    for (int r = 0; r < rank; r++)
        k *= dims[r];
    if (k != n) {
        free(v);
        return cli_fail(EXIT_USAGE, "--resume %s:%s holds %lld values, expected %lld", path, name,
                        (long long)k, (long long)n);
    }
    memcpy(dst, v, (size_t)n * sizeof *v);
    free(v);
    return -1;
}

int slm_resume_u8(const char *path, const char *name, uint8_t *dst, int64_t n)
{
    if (n == 0)
        return -1;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return cli_fail(EXIT_RUNTIME, "out of memory");
    const int rc = slm_resume_doubles(path, name, v, n);
    for (int64_t i = 0; rc < 0 && i < n; i++)
        dst[i] = (uint8_t)v[i];
    free(v);
    return rc;
}

int slm_resume_optim(const char *path, dca_optim *opt, int64_t done)
{
    int64_t finished = 0;
    int rc = slm_resume_i64(path, "/fit", "finished", &finished);
    if (rc >= 0 || finished) /* a finished fit takes no more steps */
        return rc;
    rc = slm_resume_doubles(path, "/fit/optimizer_state", dca_optim_state(opt),
                            dca_optim_state_len(opt));
    if (rc < 0)
        dca_optim_set_iteration(opt, done);
    return rc;
}

dca_status slm_save_progress(dca_runfile *rf, dca_optim *opt, int64_t done, bool finished,
                             dca_error *err)
{
    int64_t d[1] = {dca_optim_state_len(opt)};
    dca_status st = finished ? DCA_OK
                             : dca_runfile_array(rf, "/fit/optimizer_state", 1, d,
                                                 dca_optim_state(opt), err);
    if (!st)
        st = dca_runfile_attr_i64(rf, "/fit", "iterations_done", done, err);
    if (!st)
        st = dca_runfile_attr_i64(rf, "/fit", "finished", finished, err);
    return st;
}

/* Mean and standard error of x[0..n). */
void slm_mean_se(const double *x, int64_t n, double *mean, double *se)
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

/* The first index from which every later value lies within tol of ref
 * (-1: the last one does not). */
static int64_t settles(const double *v, int64_t n, double ref, double tol)
{
    int64_t first = -1;
    for (int64_t i = n - 1; i >= 0 && fabs(v[i] - ref) <= tol; i--)
        first = i;
    return first;
}

/* An SI fit's state: the run file after `done` iterations and `abc_done`
 * ABC candidates, and what is derived from them. */
typedef struct si_run {
    dca_config *cfg;
    const char *command_line, *outpath;
    dca_optim *opt;
    const dca_si_data *d;
    int64_t I, B, NC, done, abc_done;
    bool left;
    double secs, beta_ml, beta_ls;
    double *beta, *loss, *grad, *abc_beta, *abc_dist;
    /* the data as the run file stores it, made once: frames as uint8, the
     * counts as (m + 1) x 2 */
    uint8_t *frames8;
    double *counts;
    /* derived by si_derive (prefix: its scratch, iterations + 2) */
    double *avg, *prefix, *abc_est, *abc_cost;
    int64_t fit_settle, n_chk, abc_settle;
    double beta_fit, fit_cost, abc_cost_settle;
    slm_fit_ctx pc;
    dca_error err;
    bool save_failed;
} si_run;

static const double si_tol = 0.01;

/* The fit's estimate after i iterations is the Polyak-Ruppert average of
 * the iterates beta_{ceil(i/2)} .. beta_i (the second half); ABC's after n
 * candidates, n on a geometric grid (ratio 1.05) and the last. */
static void si_derive(si_run *f)
{
    const int64_t n_run = f->done;
    double *prefix = f->prefix;
    prefix[0] = 0;
    for (int64_t i = 0; i <= n_run; i++)
        prefix[i + 1] = prefix[i] + f->beta[i];
    for (int64_t i = 0; i <= n_run; i++) {
        const int64_t a = (i + 1) / 2;
        f->avg[i] = (prefix[i + 1] - prefix[a]) / (double)(i + 1 - a);
    }
    f->beta_fit = f->avg[n_run];
    f->fit_settle = settles(f->avg, n_run + 1, f->beta_ml, si_tol);
    /* lattice steps: each transition is one forward step and one adjoint step */
    f->fit_cost = f->fit_settle < 0 ? NAN : 2.0 * (double)f->fit_settle * (double)f->B;
    f->n_chk = 0;
    for (int64_t n = 1; n <= f->abc_done;) {
        f->abc_est[f->n_chk] = dca_si_abc_estimate(f->abc_beta, f->abc_dist, n,
                                                   f->cfg->slm.abc_accept);
        f->abc_cost[f->n_chk] =
            (double)n * (double)f->cfg->slm.abc_simulations * (double)(f->d->T - 1);
        f->n_chk++;
        if (n == f->abc_done)
            break;
        int64_t next = (int64_t)((double)n * 1.05);
        next = next > n ? next : n + 1;
        n = next < f->abc_done ? next : f->abc_done;
    }
    f->abc_settle = settles(f->abc_est, f->n_chk, f->beta_ml, si_tol);
    f->abc_cost_settle = f->abc_settle < 0 ? NAN : f->abc_cost[f->abc_settle];
}

static dca_status si_save(si_run *f, bool finished, dca_error *err)
{
    si_derive(f);
    const dca_config *cfg = f->cfg;
    const dca_si_data *d = f->d;
    const int m = d->m;
    const int64_t C = d->C, H = cfg->lattice.dims == 2 ? cfg->lattice.shape[0] : 1;
    const int64_t n_run = f->done;
    const uint8_t *u8 = f->frames8;
    const double *counts = f->counts;
    dca_runfile *rf = NULL;
    dca_run_meta meta = {dca_config_text(f->cfg), f->command_line, 1.0, .alone = false};
    dca_status st = dca_runfile_create(f->outpath, &meta, &rf, err);
    int64_t fd[4] = {d->S, d->T, H, C / H}, fd1[3] = {d->S, d->T, C};
    if (!st)
        st = cfg->lattice.dims == 2 ? dca_runfile_array_u8(rf, "/data/frames", 4, fd, u8, 4, err)
                                    : dca_runfile_array_u8(rf, "/data/frames", 3, fd1, u8, 4,
                                                           err);
    int64_t cd[2] = {m + 1, 2}, bd[2] = {d->S, d->T - 1}, id[1] = {n_run + 1}, ld[1] = {n_run};
#define W(name, rank, dims, data)                                                             \
    if (!st)                                                                                  \
    st = dca_runfile_array(rf, name, rank, dims, data, err)
#define AF(group, name, v)                                                                    \
    if (!st)                                                                                  \
    st = dca_runfile_attr_f64(rf, group, name, v, err)
#define AI(group, name, v)                                                                    \
    if (!st)                                                                                  \
    st = dca_runfile_attr_i64(rf, group, name, v, err)
#define AS(group, name, v)                                                                    \
    if (!st)                                                                                  \
    st = dca_runfile_attr_str(rf, group, name, v, err)
    W("/data/counts", 2, cd, counts);
    if (d->beta_t)
        W("/data/beta_t", 2, bd, d->beta_t);
    AS("/data", "source", cfg->slm.source);
    AS("/data", "model", "si");
    AS("/data", "neighborhood", cfg->neighborhood);
    AF("/data", "beta_ml", f->beta_ml);
    AF("/data", "beta_ls", f->beta_ls);
    W("/fit/beta", 1, id, f->beta);
    W("/fit/beta_average", 1, id, f->avg);
    W("/fit/loss", 1, ld, f->loss);
    W("/fit/gradient", 1, ld, f->grad);
    AS("/fit", "model", "si");
    AS("/fit", "method", cfg->method);
    AS("/fit", "surrogate", cfg->slm.ste.kind == DCA_SURROGATE_IDENTITY ? "identity" : "sigmoid");
    AF("/fit", "surrogate_width", cfg->slm.ste.width);
    AI("/fit", "minibatch", f->B);
    AI("/fit", "iterations_run", n_run);
    AF("/fit", "beta_final", f->beta[n_run]);
    AF("/fit", "beta_fit", f->beta_fit);
    AI("/fit", "left_domain", f->left);
    AF("/fit", "seconds", f->secs);
    AF("/fit", "tolerance", si_tol);
    AF("/fit", "lattice_steps_to_tolerance", f->fit_cost);
    if (f->NC > 0) {
        int64_t ad[1] = {f->abc_done}, kd[1] = {f->n_chk};
        W("/abc/beta", 1, ad, f->abc_beta);
        W("/abc/distance", 1, ad, f->abc_dist);
        W("/abc/estimate", 1, kd, f->abc_est);
        W("/abc/lattice_steps", 1, kd, f->abc_cost);
        AF("/abc", "accept", cfg->slm.abc_accept);
        AI("/abc", "simulations", cfg->slm.abc_simulations);
        AI("/abc", "candidates_done", f->abc_done);
        AF("/abc", "estimate_final", f->n_chk ? f->abc_est[f->n_chk - 1] : NAN);
        AF("/abc", "tolerance", si_tol);
        AF("/abc", "lattice_steps_to_tolerance", f->abc_cost_settle);
    }
#undef W
#undef AF
#undef AI
#undef AS
    if (!st)
        st = slm_save_progress(rf, f->opt, n_run, finished, err);
    return slm_close_runfile(&rf, st, err);
}

static int si_resume(si_run *f, const char *path)
{
    int64_t done, abc_done = 0;
    int rc = slm_resume_open(path, f->cfg, "si", f->I, &done);
    if (rc < 0)
        rc = slm_resume_abc(path, f->NC, done, f->I, &abc_done);
    if (rc >= 0)
        return rc;
    if ((rc = slm_resume_doubles(path, "/fit/beta", f->beta, done + 1)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/loss", f->loss, done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/gradient", f->grad, done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/abc/beta", f->abc_beta, abc_done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/abc/distance", f->abc_dist, abc_done)) >= 0 ||
        (rc = slm_resume_f64(path, "/fit", "seconds", &f->secs)) >= 0 ||
        (rc = slm_resume_optim(path, f->opt, done)) >= 0)
        return rc;
    f->done = done, f->abc_done = abc_done;
    return -1;
}

static bool on_iteration(void *ctx, int64_t iter, double beta, double loss)
{
    (void)beta, (void)loss;
    si_run *f = ctx;
    progress_update(&f->pc.pg, iter + 1, f->pc.total, (double)(iter + 1), "iterations");
    f->done = iter + 1;
    if (f->done % f->cfg->checkpoint_every == 0 && f->done < f->I &&
        si_save(f, false, &f->err)) {
        f->save_failed = true;
        return true;
    }
    return cli_interrupted();
}

static bool on_candidate(void *ctx, int64_t done)
{
    si_run *f = ctx;
    progress_update(&f->pc.pg, done, f->pc.total, (double)done, "candidates");
    f->abc_done = done;
    if (done % f->cfg->checkpoint_every == 0 && done < f->NC && si_save(f, false, &f->err)) {
        f->save_failed = true;
        return true;
    }
    return cli_interrupted();
}

int cmd_slm_train(const cli_common *o, dca_config *cfg, const char *resume,
                  const char *command_line)
{
    int rc = check_unused_si(cfg);
    if (rc >= 0)
        return rc;
    if (o->threads)
        omp_set_num_threads(o->threads);
    dca_si *si = NULL, *abc_si = NULL;
    dca_si_data d;
    dca_error err;
    si_run f = {.cfg = cfg, .command_line = command_line, .d = &d};
    if ((rc = load_si(cfg, cfg->learner.seed, &si, &d)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    const int64_t I = cfg->iterations, B = cfg->minibatch ? cfg->minibatch : d.S * (d.T - 1);
    const int64_t NC = cfg->slm.abc_candidates;
    f.I = I, f.B = B, f.NC = NC;
    if (I * B >= (int64_t)1 << 31) {
        rc = cli_fail_at(cfg, "optimizer", "iterations",
                         "iterations x minibatch must stay below 2^31 (noise keys)");
        goto out;
    }
    f.beta = calloc((size_t)I + 1, 8), f.loss = calloc((size_t)I + 1, 8);
    f.grad = calloc((size_t)I + 1, 8), f.avg = calloc((size_t)I + 1, 8);
    f.prefix = calloc((size_t)I + 2, 8);
    f.frames8 = malloc((size_t)(d.S * d.T * d.C));
    f.counts = malloc((size_t)(2 * (d.m + 1)) * sizeof *f.counts);
    f.abc_beta = calloc((size_t)NC + 1, 8), f.abc_dist = calloc((size_t)NC + 1, 8);
    f.abc_est = calloc((size_t)NC + 1, 8), f.abc_cost = calloc((size_t)NC + 1, 8);
    if (!f.beta || !f.loss || !f.grad || !f.avg || !f.prefix || !f.frames8 || !f.counts ||
        !f.abc_beta || !f.abc_dist || !f.abc_est || !f.abc_cost) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < d.S * d.T * d.C; i++)
        f.frames8[i] = (uint8_t)d.frames[i];
    for (int i = 0; i <= d.m; i++)
        f.counts[2 * i] = d.n[i], f.counts[2 * i + 1] = d.k[i];
    double par[64];
    dca_config_optim_params(cfg, par);
    if (dca_optim_create(cfg->method, par, 1, cfg->optim_seed, &f.opt, &err)) {
        rc = cli_fail_at(cfg, "optimizer", "method", err.msg);
        goto out;
    }
    if (resume && (rc = si_resume(&f, resume)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    const int m = d.m;
    f.beta_ml = dca_si_beta_ml(m, d.n, d.k), f.beta_ls = dca_si_beta_ls(m, d.n, d.k);
    printf("train: si on %s, %lld trajectories x %lld states (%lld transitions), %s, %lld "
           "iterations of minibatch %lld, surrogate %s%s\n",
           cfg->neighborhood, (long long)d.S, (long long)d.T, (long long)(d.S * (d.T - 1)),
           cfg->method, (long long)I, (long long)B,
           cfg->slm.ste.kind == DCA_SURROGATE_IDENTITY ? "identity" : "sigmoid",
           resume ? " (resumed)" : "");
    if (resume)
        printf("resumed from %s after %lld iterations and %lld ABC candidates\n", resume,
               (long long)f.done, (long long)f.abc_done);
    fflush(stdout);
    f.outpath = o->output ? o->output : (resume ? resume : cfg->output_file);
    if (cli_make_parent_dirs(f.outpath) != 0) {
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", f.outpath);
        goto out;
    }
    cli_catch_signals();
    f.pc.total = I;
    progress_init(&f.pc.pg, o->quiet);
    const dca_si_fit_options fo = {cfg->slm.beta, cfg->slm.ste, f.opt, cfg->optim_seed, I, B,
                                   f.done, on_iteration, &f};
    dca_si_fit_result fr = {f.beta, f.loss, f.grad, 0, false, false};
    const double t0 = cli_now() - f.secs;
    if (!cli_interrupted() && dca_si_fit(si, &d, &fo, &fr, &err)) {
        progress_end(&f.pc.pg);
        rc = cli_fail_at(cfg, "model", "beta", err.msg);
        goto out;
    }
    progress_end(&f.pc.pg);
    if (f.save_failed) {
        rc = cli_fail(EXIT_RUNTIME, "%s: %s", f.outpath, f.err.msg);
        goto out;
    }
    f.secs = cli_now() - t0;
    f.left = fr.left_domain;
    const int64_t n_run = f.done = fr.iterations_run ? fr.iterations_run : f.done;

    /* ABC, once the fit has ended */
    if (NC > 0 && (n_run == I || f.left) && !cli_interrupted()) {
        if (dca_si_create(&cfg->lattice, cfg->neighborhood, cfg->slm.abc_seed, &abc_si, &err)) {
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
            goto out;
        }
        f.pc.total = NC;
        progress_init(&f.pc.pg, o->quiet);
        const dca_si_abc_options ao = {NC,       cfg->slm.abc_simulations, cfg->slm.abc_accept,
                                       cfg->slm.abc_seed, f.abc_done, on_candidate, &f};
        int64_t abc_done = f.abc_done;
        dca_status st = dca_si_abc(abc_si, &d, &ao, f.abc_beta, f.abc_dist, &abc_done, &err);
        progress_end(&f.pc.pg);
        if (st) {
            rc = cli_fail_at(cfg, "abc", "simulations", err.msg);
            goto out;
        }
        if (f.save_failed) {
            rc = cli_fail(EXIT_RUNTIME, "%s: %s", f.outpath, f.err.msg);
            goto out;
        }
        f.abc_done = abc_done;
    }
    const bool finished = (n_run == I || f.left) && (NC == 0 || f.abc_done == NC);
    if (si_save(&f, finished, &err)) {
        rc = cli_fail(EXIT_RUNTIME, "%s: %s", f.outpath, err.msg);
        goto out;
    }
    printf("beta: fit %.4f (the mean of the second half of the iterates; the last is %.4f), "
           "maximum likelihood %.4f, least squares %.4f (the STE fit's fixed point)\n",
           f.beta_fit, f.beta[n_run], f.beta_ml, f.beta_ls);
    if (d.beta_t) {
        double mb = 0;
        for (int64_t i = 0; i < d.S * (d.T - 1); i++)
            mb += d.beta_t[i];
        printf("data: beta_t mean %.4f over %lld draws\n", mb / (double)(d.S * (d.T - 1)),
               (long long)(d.S * (d.T - 1)));
    }
    printf("fit: %lld iterations in %.3f s; within %.2g of the likelihood estimate from "
           "iteration %lld on (%.4g lattice steps, forward and adjoint)\n",
           (long long)n_run, f.secs, si_tol, (long long)f.fit_settle, f.fit_cost);
    if (NC > 0 && f.abc_done > 0)
        printf("abc: %lld candidates x %lld trajectories, accept %.3g: estimate %.4f; within "
               "%.2g of the likelihood estimate from %.4g lattice steps on\n",
               (long long)f.abc_done, (long long)cfg->slm.abc_simulations, cfg->slm.abc_accept,
               f.n_chk ? f.abc_est[f.n_chk - 1] : NAN, si_tol, f.abc_cost_settle);
    fflush(stdout);
    if (f.left)
        fprintf(stderr, "dca: warning: the optimiser moved beta to %.6g, out of [0, 1], at "
                        "iteration %lld; the fit stopped there (lower the learning rate)\n",
                f.beta[n_run], (long long)(n_run - 1));
    printf("wrote %s\n", f.outpath);
    rc = finished ? EXIT_OK
                  : cli_fail(EXIT_RUNTIME, "interrupted after %lld of %lld iterations and %lld of "
                                           "%lld ABC candidates: %s keeps what was done "
                                           "(continue with --resume %s)",
                             (long long)n_run, (long long)I, (long long)f.abc_done, (long long)NC,
                             f.outpath, f.outpath);
out:
    dca_si_destroy(si);
    dca_si_destroy(abc_si);
    dca_si_data_free(&d);
    dca_optim_destroy(f.opt);
    free(f.beta), free(f.loss), free(f.grad), free(f.avg), free(f.prefix), free(f.abc_beta);
    free(f.frames8), free(f.counts);
    free(f.abc_dist);
    free(f.abc_est), free(f.abc_cost);
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

int cmd_slm_gradcheck(const cli_common *o, dca_config *cfg, const cli_gradcheck_opts *gc)
{
    const double tol = gc->tol, h = gc->step;
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
