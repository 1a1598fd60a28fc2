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
    slm_fit_ctx fc = {.total = I};
    progress_init(&fc.pg, o->quiet);
    double T = cfg->slm.temperature;
    int64_t done = 0;
    bool left = false;
    const double t0 = cli_now();
    Ts[0] = T;
    for (int64_t i = 0; i < I; i++) {
        dca_potts_run(pm, T, i * n, n, S, msd, A, R, ste, NULL);
        double m, se, a = 0, r = 0, gs = 0;
        slm_mean_se(msd, n, &m, &se);
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
        slm_mean_se(eval, 4 * n, &em, &ese);
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
        slm_fit_ctx ac = {.total = NC};
        progress_init(&ac.pg, o->quiet);
        for (int64_t c = 0; c < NC && !cli_interrupted(); c++) {
            double u[2], m, se;
            dca_rng_uniform2(cfg->slm.abc_seed, DCA_RNG_SLM_DATA, (uint64_t)1 << 43 | (uint64_t)c,
                             0, u);
            abc_T[c] = cfg->slm.abc_tmin + (cfg->slm.abc_tmax - cfg->slm.abc_tmin) * u[0];
            dca_potts_run(ap, abc_T[c], c * NS, NS, S, sims, NULL, NULL, NULL, NULL);
            slm_mean_se(sims, NS, &m, &se);
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
            slm_mean_se(eval, 4 * n, &abc_m, &abc_se);
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
    st = slm_close_runfile(&rf, st, &err);
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
