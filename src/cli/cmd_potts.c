/* dca train and dca gradcheck with [model] kind = potts: the one-pixel
 * random-walk cellular Potts model of seed 001 fitted to a target mean
 * squared displacement (docs/slm.md). */
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
#include "slm_cli.h"
#include "si_fit.h"

/* ---- the cellular Potts model -------------------------------------------------- */

static int check_unused_potts(const dca_config *cfg)
{
    static const char *const allowed[] = {
        "model.kind", "model.temperature", "model.target-msd", "model.sampling",
        "model.estimator", "model.lattices", "model.sampling-steps", "model.seed",
        "abc.candidates", "abc.simulations", "abc.accept", "abc.prior", "abc.seed",
        "lattice.size", "optimizer.*", NULL};
    return slm_refuse_foreign(cfg, "potts", allowed);
}

static int load_potts(const dca_config *cfg, dca_potts **p)
{
    dca_error err;
    if (dca_potts_create(&cfg->lattice, (dca_potts_sampling)cfg->slm.sampling, cfg->learner.seed,
                         p, &err))
        return cli_fail_at(cfg, "lattice", "size", err.msg);
    return -1;
}

/* A temperature fit's state: the run file after `done` iterations and
 * `abc_done` ABC candidates. */
typedef struct potts_fit {
    dca_config *cfg;
    const char *command_line;
    dca_optim *opt;
    int64_t done, abc_done;
    bool left;
    double secs, Tfit, em, ese, abc_est, abc_m, abc_se;
    double *Ts, *msdm, *acc, *loss, *gused, *gste, *gscore, *abc_T, *abc_d;
} potts_fit;

static dca_status potts_save(const potts_fit *f, const char *outpath, bool finished,
                             dca_error *err)
{
    const dca_config *cfg = f->cfg;
    const int64_t done = f->done, n = cfg->slm.lattices, S = cfg->slm.sampling_steps;
    const double target = cfg->slm.target_msd;
    dca_runfile *rf = NULL;
    dca_run_meta meta = {dca_config_text(f->cfg), f->command_line, 1.0, .alone = false};
    dca_status st = dca_runfile_create(outpath, &meta, &rf, err);
    int64_t td[1] = {done + 1}, id[1] = {done};
#define W(name, dims, data)                                                                   \
    if (!st)                                                                                  \
    st = dca_runfile_array(rf, name, 1, dims, data, err)
#define AF(name, v)                                                                           \
    if (!st)                                                                                  \
    st = dca_runfile_attr_f64(rf, "/fit", name, v, err)
#define AS(name, v)                                                                           \
    if (!st)                                                                                  \
    st = dca_runfile_attr_str(rf, "/fit", name, v, err)
    W("/fit/temperature", td, f->Ts);
    W("/fit/msd", id, f->msdm);
    W("/fit/acceptance", id, f->acc);
    W("/fit/loss", id, f->loss);
    W("/fit/gradient", id, f->gused);
    W("/fit/gradient_ste", id, f->gste);
    W("/fit/gradient_score", id, f->gscore);
    AS("model", "potts");
    AS("method", cfg->method);
    AS("estimator", cfg->slm.score ? "score" : "ste");
    AS("sampling", cfg->slm.sampling ? "uniform" : "boundary");
    AF("target_msd", target);
    AF("lattices", (double)n);
    AF("sampling_steps", (double)S);
    AF("temperature_fit", f->Tfit);
    AF("msd_fit", f->em);
    AF("msd_fit_se", f->ese);
    AF("within_5_percent", fabs(f->em - target) <= 0.05 * target);
    AF("left_domain", f->left);
    AF("iterations_run", (double)done);
    AF("seconds", f->secs);
    AF("lattice_steps", (double)done * (double)n * (double)S);
    if (cfg->slm.abc_candidates > 0) {
        const int64_t NS = cfg->slm.abc_simulations;
        int64_t ad[1] = {f->abc_done};
        W("/abc/temperature", ad, f->abc_T);
        W("/abc/distance", ad, f->abc_d);
        const char *names[] = {"estimate", "msd_check", "msd_check_se", "within_5_percent",
                               "lattice_steps", "accept", "simulations"};
        const double vals[] = {f->abc_est,
                               f->abc_m,
                               f->abc_se,
                               fabs(f->abc_m - target) <= 0.05 * target,
                               (double)f->abc_done * (double)NS * (double)S,
                               cfg->slm.abc_accept,
                               (double)NS};
        for (size_t k = 0; k < sizeof vals / sizeof *vals && !st; k++)
            st = dca_runfile_attr_f64(rf, "/abc", names[k], vals[k], err);
        if (!st)
            st = dca_runfile_attr_i64(rf, "/abc", "candidates_done", f->abc_done, err);
    }
#undef W
#undef AF
#undef AS
    if (!st)
        st = slm_save_progress(rf, f->opt, done, finished, err);
    return slm_close_runfile(&rf, st, err);
}

static int potts_resume(potts_fit *f, const char *path, int64_t I)
{
    int64_t done, abc_done = 0;
    int rc = slm_resume_open(path, f->cfg, "potts", I, &done);
    if (rc < 0)
        rc = slm_resume_abc(path, f->cfg->slm.abc_candidates, done, I, &abc_done);
    if (rc >= 0)
        return rc;
    if ((rc = slm_resume_doubles(path, "/fit/temperature", f->Ts, done + 1)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/msd", f->msdm, done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/acceptance", f->acc, done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/loss", f->loss, done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/gradient", f->gused, done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/gradient_ste", f->gste, done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/gradient_score", f->gscore, done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/abc/temperature", f->abc_T, abc_done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/abc/distance", f->abc_d, abc_done)) >= 0 ||
        (rc = slm_resume_f64(path, "/fit", "seconds", &f->secs)) >= 0 ||
        (rc = slm_resume_optim(path, f->opt, done)) >= 0)
        return rc;
    f->done = done, f->abc_done = abc_done;
    return -1;
}

int cmd_potts_train(const cli_common *o, dca_config *cfg, const char *resume,
                    const char *command_line)
{
    int rc = check_unused_potts(cfg);
    if (rc >= 0)
        return rc;
    if (o->threads)
        omp_set_num_threads(o->threads);
    dca_potts *pm = NULL;
    dca_error err;
    const int64_t I = cfg->iterations, n = cfg->slm.lattices, S = cfg->slm.sampling_steps;
    const int64_t NC = cfg->slm.abc_candidates, NS = cfg->slm.abc_simulations;
    potts_fit f = {.cfg = cfg, .command_line = command_line, .Tfit = NAN, .em = NAN, .ese = NAN,
                   .abc_est = NAN, .abc_m = NAN, .abc_se = NAN};
    double *msd = NULL, *A = NULL, *R = NULL, *ste = NULL, *eval = NULL, *sims = NULL;
    dca_potts *ap = NULL;
    if ((rc = load_potts(cfg, &pm)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    if ((I + 5) * n >= (int64_t)1 << 32) {
        rc = cli_fail_at(cfg, "model", "lattices",
                         "(iterations + 5) x lattices must stay below 2^32 (noise keys)");
        goto out;
    }
    f.Ts = calloc((size_t)I + 1, 8), f.msdm = calloc((size_t)I + 1, 8);
    f.acc = calloc((size_t)I + 1, 8), f.loss = calloc((size_t)I + 1, 8);
    f.gused = calloc((size_t)I + 1, 8), f.gste = calloc((size_t)I + 1, 8);
    f.gscore = calloc((size_t)I + 1, 8);
    f.abc_T = calloc((size_t)NC + 1, 8), f.abc_d = calloc((size_t)NC + 1, 8);
    msd = malloc((size_t)n * 8), A = malloc((size_t)n * 8), R = malloc((size_t)n * 8);
    ste = malloc((size_t)n * 8), eval = malloc((size_t)(4 * n) * 8);
    sims = malloc((size_t)(NS > 0 ? NS : 1) * 8);
    if (!f.Ts || !f.msdm || !f.acc || !f.loss || !f.gused || !f.gste || !f.gscore || !f.abc_T ||
        !f.abc_d || !msd || !A || !R || !ste || !eval || !sims) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    double par[64];
    dca_config_optim_params(cfg, par);
    if (dca_optim_create(cfg->method, par, 1, cfg->optim_seed, &f.opt, &err)) {
        rc = cli_fail_at(cfg, "optimizer", "method", err.msg);
        goto out;
    }
    f.Ts[0] = cfg->slm.temperature;
    if (resume && (rc = potts_resume(&f, resume, I)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    const double target = cfg->slm.target_msd;
    printf("train: potts on %lldx%lld, %lld lattices x %lld sampling steps (%s sources), target "
           "MSD %g, %s on the %s gradient, %lld iterations%s\n",
           (long long)cfg->lattice.shape[0], (long long)cfg->lattice.shape[1], (long long)n,
           (long long)S, cfg->slm.sampling ? "uniform" : "boundary", target, cfg->method,
           cfg->slm.score ? "score-function" : "straight-through", (long long)I,
           resume ? " (resumed)" : "");
    if (resume)
        printf("resumed from %s after %lld iterations and %lld ABC candidates\n", resume,
               (long long)f.done, (long long)f.abc_done);
    fflush(stdout);
    const char *outpath = o->output ? o->output : (resume ? resume : cfg->output_file);
    if (cli_make_parent_dirs(outpath) != 0) {
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    cli_catch_signals();
    slm_fit_ctx fc = {.total = I};
    progress_init(&fc.pg, o->quiet);
    double T = f.Ts[f.done];
    const double t0 = cli_now() - f.secs;
    for (int64_t i = f.done; i < I && !cli_interrupted(); i++) {
        dca_potts_run(pm, T, i * n, n, S, msd, A, R, ste, NULL);
        double m, se, a = 0, r = 0, gs = 0;
        slm_mean_se(msd, n, &m, &se);
        for (int64_t l = 0; l < n; l++)
            a += A[l], r += R[l], gs += ste[l];
        gs /= (double)n;
        const double gsc = dca_potts_score_gradient(T, n, msd, A, R);
        f.msdm[i] = m;
        f.acc[i] = a + r > 0 ? a / (a + r) : NAN;
        f.loss[i] = (m - target) * (m - target);
        f.gste[i] = 2 * (m - target) * gs;
        f.gscore[i] = 2 * (m - target) * gsc;
        f.gused[i] = cfg->slm.score ? f.gscore[i] : f.gste[i];
        double g = f.gused[i];
        dca_optim_step(f.opt, f.loss[i], &g, &T);
        f.Ts[i + 1] = T;
        f.done = i + 1;
        if (!(T > 0) || !isfinite(T)) {
            f.left = true;
            break;
        }
        progress_update(&fc.pg, f.done, I, (double)f.done, "iterations");
        if (f.done % cfg->checkpoint_every == 0 && f.done < I) {
            f.secs = cli_now() - t0;
            if (potts_save(&f, outpath, false, &err)) {
                progress_end(&fc.pg);
                rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
                goto out;
            }
        }
    }
    progress_end(&fc.pg);
    f.secs = cli_now() - t0;
    const int64_t done = f.done;
    /* The fit: the mean of the second half of the temperatures, checked on
     * 4 fresh batches. */
    double Tfit = 0;
    const int64_t a0 = (done + 1) / 2;
    for (int64_t i = a0; i <= done; i++)
        Tfit += f.Ts[i];
    Tfit /= (double)(done + 1 - a0);
    f.Tfit = Tfit;
    if (done == I && !f.left && Tfit > 0) {
        dca_potts_run(pm, Tfit, (I + 1) * n, 4 * n, S, eval, NULL, NULL, NULL, NULL);
        slm_mean_se(eval, 4 * n, &f.em, &f.ese);
    }
    const bool within = fabs(f.em - target) <= 0.05 * target;

    /* ABC rejection on the same target: candidates T ~ U(prior), [abc]
     * simulations lattices each (their own seed), the estimate checked like
     * the fit's. It runs once the fit has ended. */
    if (NC > 0 && (done == I || f.left)) {
        if (dca_potts_create(&cfg->lattice, (dca_potts_sampling)cfg->slm.sampling,
                             cfg->slm.abc_seed, &ap, &err)) {
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
            goto out;
        }
        slm_fit_ctx ac = {.total = NC};
        progress_init(&ac.pg, o->quiet);
        for (int64_t c = f.abc_done; c < NC && !cli_interrupted(); c++) {
            double u[2], m, se;
            dca_rng_uniform2(cfg->slm.abc_seed, DCA_RNG_SLM_DATA, (uint64_t)1 << 43 | (uint64_t)c,
                             0, u);
            f.abc_T[c] = cfg->slm.abc_tmin + (cfg->slm.abc_tmax - cfg->slm.abc_tmin) * u[0];
            dca_potts_run(ap, f.abc_T[c], c * NS, NS, S, sims, NULL, NULL, NULL, NULL);
            slm_mean_se(sims, NS, &m, &se);
            f.abc_d[c] = fabs(m - target);
            f.abc_done = c + 1;
            progress_update(&ac.pg, c + 1, NC, (double)(c + 1), "candidates");
            if (f.abc_done % cfg->checkpoint_every == 0 && f.abc_done < NC &&
                potts_save(&f, outpath, false, &err)) {
                progress_end(&ac.pg);
                rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
                goto out;
            }
        }
        progress_end(&ac.pg);
        if (f.abc_done == NC) {
            f.abc_est = dca_si_abc_estimate(f.abc_T, f.abc_d, f.abc_done, cfg->slm.abc_accept);
            if (f.abc_est > 0) {
                dca_potts_run(pm, f.abc_est, (I + 5) * n, 4 * n, S, eval, NULL, NULL, NULL,
                              NULL);
                slm_mean_se(eval, 4 * n, &f.abc_m, &f.abc_se);
            }
        }
    }
    const bool abc_within = fabs(f.abc_m - target) <= 0.05 * target;
    const bool finished = (done == I || f.left) && (NC == 0 || f.abc_done == NC);
    if (potts_save(&f, outpath, finished, &err)) {
        rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
        goto out;
    }
    printf("fit: T %.5f (the mean of the second half of the iterates; acceptance e^(-1/T) = "
           "%.4f); %lld iterations in %.2f s\n",
           Tfit, exp(-1 / Tfit), (long long)done, f.secs);
    if (done == I && !f.left)
        printf("check on %lld fresh lattices: MSD %.4f +- %.4f against the target %g: %s (%.3g "
               "lattice-steps simulated)\n",
               (long long)(4 * n), f.em, f.ese, target, within ? "within 5 %" : "NOT within 5 %",
               (double)done * (double)n * (double)S);
    if (NC > 0 && f.abc_done == NC)
        printf("abc: %lld candidates x %lld lattices, accept %.3g: T %.5f; check: MSD %.4f +- "
               "%.4f: %s (%.3g lattice-steps simulated)\n",
               (long long)f.abc_done, (long long)NS, cfg->slm.abc_accept, f.abc_est, f.abc_m,
               f.abc_se, abc_within ? "within 5 %" : "NOT within 5 %",
               (double)f.abc_done * (double)NS * (double)S);
    fflush(stdout);
    if (f.left)
        fprintf(stderr, "dca: warning: the optimiser moved T to %.6g, out of (0, inf), at "
                        "iteration %lld; the fit stopped there\n",
                T, (long long)(done - 1));
    printf("wrote %s\n", outpath);
    rc = finished ? EXIT_OK
                  : cli_fail(EXIT_RUNTIME, "interrupted after %lld of %lld iterations and %lld of "
                                           "%lld ABC candidates: %s keeps what was done "
                                           "(continue with --resume %s)",
                             (long long)done, (long long)I, (long long)f.abc_done, (long long)NC,
                             outpath, outpath);
out:
    dca_potts_destroy(pm);
    dca_potts_destroy(ap);
    dca_optim_destroy(f.opt);
    free(f.Ts), free(f.msdm), free(f.acc), free(f.loss), free(f.gused), free(f.gste);
    free(f.gscore), free(f.abc_T), free(f.abc_d);
    free(msd), free(A), free(R), free(ste), free(eval), free(sims);
    return rc;
}

/* The estimators against central differences of the expected MSD with
 * common random numbers, over `batches` batches of [model] lattices. */
int cmd_potts_gradcheck(const cli_common *o, dca_config *cfg, const cli_gradcheck_opts *gc)
{
    const double tol = gc->tol;
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
        slm_mean_se(msd, n, &hi, &se);
        dca_potts_run(pm, T - h, k * n, n, S, msd, NULL, NULL, NULL, NULL);
        slm_mean_se(msd, n, &lo, &se);
        fd[k] = (hi - lo) / (2 * h);
        dca_potts_run(pm, T, k * n, n, S, msd, A, R, ste, NULL);
        slm_mean_se(msd, n, &mm[k], &se);
        sc[k] = dca_potts_score_gradient(T, n, msd, A, R);
        for (int64_t l = 0; l < n; l++)
            g += ste[l];
        st[k] = g / (double)n;
    }
    double mf, sf, ms, ss, mt, stt, mmsd, smsd;
    slm_mean_se(fd, K, &mf, &sf);
    slm_mean_se(sc, K, &ms, &ss);
    slm_mean_se(st, K, &mt, &stt);
    slm_mean_se(mm, K, &mmsd, &smsd);
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
