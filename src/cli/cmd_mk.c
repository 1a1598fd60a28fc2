/* dca train and dca gradcheck with [model] kind = mk: the Malevanets-Kapral
 * reaction-diffusion lattice gas, stability fitting and pattern tests. */
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

/* ---- the Malevanets-Kapral lattice gas: stability fitting --------------------------- */

static int check_unused_mk(const dca_config *cfg)
{
    static const char *const allowed[] = {
        "model.kind", "model.D_A", "model.D_B", "model.k1", "model.k2", "model.k3", "model.N",
        "model.gamma", "model.tau", "model.surrogate", "model.fit", "model.offset-estimator",
        "model.stability-steps",
        "model.test-every", "model.test-steps", "model.seed", "data.source", "data.reference",
        "data.pattern-steps", "data.seed", "lattice.size", "optimizer.*", NULL};
    int rc = slm_refuse_foreign(cfg, "mk", allowed);
    if (rc >= 0)
        return rc;
    if (strcmp(cfg->slm.source, "simulate") != 0)
        return cli_fail_at(cfg, "data", "source",
                           "[model] kind = mk makes its reference pattern (simulate)");
    return -1;
}

/* What train and gradcheck check first: the keys, a torus, the threads. */
static int mk_prologue(const cli_common *o, const dca_config *cfg)
{
    int rc = check_unused_mk(cfg);
    if (rc >= 0)
        return rc;
    if (cfg->lattice.dims != 2)
        return cli_fail_at(cfg, "lattice", "size", "the Malevanets-Kapral model needs HxW");
    if (o->threads)
        omp_set_num_threads(o->threads);
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

/* steps from x in place (chunked, for the progress line and Ctrl-C), with
 * a progress line (pg may be NULL); false when interrupted (Ctrl-C,
 * SIGTERM) part-way. */
static bool mk_advance(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t steps,
                       double *x, progress *pg)
{
    const int64_t C = dca_mk_cells(m), chunk = 256;
    for (int64_t t = 0; t < steps; t += chunk) {
        if (cli_interrupted())
            return false;
        const int64_t n = steps - t < chunk ? steps - t : chunk;
        dca_mk_run_final(m, p, conf, t, n, x, NULL);
        if (pg)
            progress_update(pg, t + n, steps, (double)(t + n) * (double)C, "cell-steps");
    }
    return true;
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

/* A stability fit's state: what the run file holds after `done` iterations
 * and `nt` pattern tests. */
typedef struct mk_fit {
    dca_config *cfg;
    const char *command_line;
    dca_optim *opt;
    int N;
    int64_t H, W, C, Tst, done, nt;
    bool left;
    double secs, test_secs, baseline;
    double *ref, *params, *loss, *grads, *gdste, *tvar, *tit;
    uint8_t *tpat;
} mk_fit;

static dca_status mk_save(const mk_fit *f, const char *outpath, bool finished, dca_error *err)
{
    const dca_config *cfg = f->cfg;
    const int64_t done = f->done, nt = f->nt;
    dca_runfile *rf = NULL;
    dca_run_meta meta = {dca_config_text(f->cfg), f->command_line, 1.0, .alone = false};
    dca_status st = dca_runfile_create(outpath, &meta, &rf, err);
    int64_t dref[3] = {2, f->H, f->W}, dp[2] = {done + 1, 5}, dg[2] = {done, 5}, dl[1] = {done},
            dt[1] = {nt}, dpat[3] = {nt, f->H, f->W}, dg2[2] = {done, 2};
    if (!st)
        st = dca_runfile_array(rf, "/data/reference", 3, dref, f->ref, err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/data", "model", "mk", err);
    if (!st)
        st = dca_runfile_attr_i64(rf, "/data", "pattern_steps", cfg->slm.pattern_steps, err);
    const double rp[5] = {cfg->slm.mk_reference.D_A, cfg->slm.mk_reference.D_B,
                          cfg->slm.mk_reference.k1, cfg->slm.mk_reference.k2,
                          cfg->slm.mk_reference.k3};
    int64_t d5[1] = {5};
    if (!st)
        st = dca_runfile_array(rf, "/data/reference_params", 1, d5, rp, err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/params", 2, dp, f->params, err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/loss", 1, dl, f->loss, err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/gradient", 2, dg, f->grads, err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/gradient_d_ste", 2, dg2, f->gdste, err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/fit", "offset_estimator",
                                  cfg->slm.offset_score ? "score" : "ste", err);
    if (!st && cfg->slm.offset_score)
        st = dca_runfile_array(rf, "/fit/score_baseline", 0, NULL, &f->baseline, err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/test_iterations", 1, dt, f->tit, err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/test_variance", 1, dt, f->tvar, err);
    if (!st)
        st = dca_runfile_array_u8(rf, "/fit/test_patterns", 3, dpat, f->tpat, 4, err);
    const char *sattr[][2] = {{"model", "mk"}, {"method", cfg->method}, {"fit", cfg->slm.fit},
                              {"parameters", "D_A, D_B, k1, k2, k3"}};
    for (size_t k = 0; k < 4 && !st; k++)
        st = dca_runfile_attr_str(rf, "/fit", sattr[k][0], sattr[k][1], err);
    const char *fnames[] = {"gamma", "N", "tau", "stability_steps", "test_steps", "seconds",
                            "left_domain", "reference_variance", "test_seconds"};
    const double fvals[] = {cfg->learner.gamma, f->N, cfg->slm.tau, (double)f->Tst,
                            (double)cfg->slm.test_steps, f->secs, f->left,
                            variance_A(f->ref, f->C, f->N), f->test_secs};
    for (size_t k = 0; k < 9 && !st; k++)
        st = dca_runfile_attr_f64(rf, "/fit", fnames[k], fvals[k], err);
    if (!st)
        st = dca_runfile_attr_i64(rf, "/fit", "tests_done", nt, err);
    if (!st)
        st = slm_save_progress(rf, f->opt, done, finished, err);
    return slm_close_runfile(&rf, st, err);
}

/* --resume: the state after the file's iterations (the reference pattern is
 * read, not made again). */
static int mk_resume(mk_fit *f, const char *path, int64_t I, int64_t ntests)
{
    int64_t done, nt;
    int rc = slm_resume_open(path, f->cfg, "mk", I, &done);
    if (rc < 0)
        rc = slm_resume_i64(path, "/fit", "tests_done", &nt);
    if (rc >= 0)
        return rc;
    if (nt < 0 || nt > ntests)
        return cli_fail(EXIT_USAGE, "--resume %s: /fit@tests_done = %lld, expected 0 .. %lld",
                        path, (long long)nt, (long long)ntests);
    if ((rc = slm_resume_doubles(path, "/data/reference", f->ref, 2 * f->C)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/params", f->params, 5 * (done + 1))) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/loss", f->loss, done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/gradient", f->grads, 5 * done)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/gradient_d_ste", f->gdste, 2 * done)) >= 0 ||
        (f->cfg->slm.offset_score &&
         (rc = slm_resume_doubles(path, "/fit/score_baseline", &f->baseline, 1)) >= 0) ||
        (rc = slm_resume_doubles(path, "/fit/test_iterations", f->tit, nt)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/test_variance", f->tvar, nt)) >= 0 ||
        (rc = slm_resume_u8(path, "/fit/test_patterns", f->tpat, nt * f->C)) >= 0 ||
        (rc = slm_resume_f64(path, "/fit", "seconds", &f->secs)) >= 0 ||
        (rc = slm_resume_f64(path, "/fit", "test_seconds", &f->test_secs)) >= 0 ||
        (rc = slm_resume_optim(path, f->opt, done)) >= 0)
        return rc;
    f->done = done, f->nt = nt;
    return -1;
}

int cmd_mk_train(const cli_common *o, dca_config *cfg, const char *resume,
                 const char *command_line)
{
    int rc = mk_prologue(o, cfg);
    if (rc >= 0)
        return rc;
    dca_error err;
    dca_mk *m = NULL;
    const int N = (int)cfg->slm.particles;
    const int64_t H = cfg->lattice.shape[0], W = cfg->lattice.shape[1], C = H * W;
    const int64_t I = cfg->iterations, Tst = cfg->slm.stability_steps;
    const int64_t every = cfg->slm.test_every;
    const int64_t ntests = (every > 0 ? I / every + 1 : 0) + 1;
    mk_fit f = {.cfg = cfg, .command_line = command_line, .N = N, .H = H, .W = W, .C = C,
                .Tst = Tst};
    double *states = NULL, *gT = NULL, *x = NULL;
    uint8_t *tape = NULL; /* the forward's outcomes for the adjoint (dca/slm.h) */
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
    f.ref = malloc((size_t)(2 * C) * 8), x = malloc((size_t)(2 * C) * 8);
    /* with a tape, the final state only (the adjoint rebuilds the others);
     * the replay needs them all */
    const bool taped = dca_mk_tape_usable(m);
    const int64_t nstates = taped ? 1 : Tst + 1;
    states = malloc((size_t)(nstates * 2 * C) * 8), gT = malloc((size_t)(2 * C) * 8);
    f.params = malloc((size_t)(5 * (I + 1)) * 8), f.loss = malloc((size_t)(I + 1) * 8);
    f.grads = malloc((size_t)(5 * (I + 1)) * 8), f.gdste = malloc((size_t)(2 * (I + 1)) * 8);
    f.tvar = malloc((size_t)ntests * 8), f.tit = malloc((size_t)ntests * 8);
    f.tpat = malloc((size_t)(ntests * C));
    if (taped && !(tape = malloc((size_t)(Tst * C)))) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    if (!f.ref || !x || !states || !gT || !f.params || !f.loss || !f.grads || !f.tvar || !f.tit ||
        !f.tpat || !f.gdste) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory (%lld stability steps keep %.3g MB of states)",
                      (long long)Tst, (double)(nstates * 2 * C) * 8e-6);
        goto out;
    }
    const bool fitD = strcmp(cfg->slm.fit, "k") != 0, fitk = strcmp(cfg->slm.fit, "D") != 0;
    double par[64];
    dca_config_optim_params(cfg, par);
    if (dca_optim_create(cfg->method, par, 5, cfg->optim_seed, &f.opt, &err)) {
        rc = cli_fail_at(cfg, "optimizer", "method", err.msg);
        goto out;
    }
    if (resume && (rc = mk_resume(&f, resume, I, ntests)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    printf("train: mk on %lldx%lld, N = %d, gamma = %g, stability fitting of %s over %lld steps, "
           "%s, %lld iterations%s\n",
           (long long)H, (long long)W, N, cfg->learner.gamma,
           fitD && fitk ? "D_A, D_B, k1, k2, k3" : fitD ? "D_A, D_B (k fixed)" : "k1, k2, k3 (D fixed)",
           (long long)Tst, cfg->method, (long long)I, resume ? " (resumed)" : "");
    fflush(stdout);
    cli_catch_signals();
    const double t0 = cli_now();
    if (resume) {
        const double *q = f.params + 5 * f.done;
        P = (dca_mk_params){q[0], q[1], q[2], q[3], q[4]};
        printf("resumed from %s after %lld iterations and %lld pattern tests\n", resume,
               (long long)f.done, (long long)f.nt);
    } else {
        /* X_ref: the reference parameters' pattern, from the [data] seed's noise */
        dca_mk *mref;
        if (dca_mk_create(&cfg->lattice, N, cfg->learner.gamma, cfg->slm.tau, &cfg->slm.ste,
                          cfg->slm.data_seed, &mref, &err)) {
            rc = cli_fail_at(cfg, "data", "seed", err.msg);
            goto out;
        }
        mk_initial(H, W, N, f.ref);
        progress pg;
        progress_init(&pg, o->quiet);
        const bool made =
            mk_advance(mref, &cfg->slm.mk_reference, 0, cfg->slm.pattern_steps, f.ref, &pg);
        progress_end(&pg);
        dca_mk_destroy(mref);
        if (!made) {
            rc = cli_fail(EXIT_RUNTIME, "interrupted while making the reference pattern; "
                                        "nothing was written");
            goto out;
        }
    }
    printf("reference pattern: %lld steps at D_A, D_B, k1, k2, k3 = %g, %g, %g, %g, %g: variance "
           "of A/N %.4f (%s %.1f s)\n",
           (long long)cfg->slm.pattern_steps, cfg->slm.mk_reference.D_A, cfg->slm.mk_reference.D_B,
           cfg->slm.mk_reference.k1, cfg->slm.mk_reference.k2, cfg->slm.mk_reference.k3,
           variance_A(f.ref, C, N), resume ? "read back in" : "made in", cli_now() - t0);
    fflush(stdout);
    const char *outpath = o->output ? o->output : (resume ? resume : cfg->output_file);
    if (cli_make_parent_dirs(outpath) != 0) {
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    slm_fit_ctx fc = {.total = I};
    progress_init(&fc.pg, o->quiet);
    const double t1 = cli_now() - f.secs - f.test_secs;
    for (int64_t i = f.done;; i++) {
        double *pp = f.params + 5 * i;
        pp[0] = P.D_A, pp[1] = P.D_B, pp[2] = P.k1, pp[3] = P.k2, pp[4] = P.k3;
        const bool tested = f.nt > 0 && f.tit[f.nt - 1] == (double)i; /* before an interrupt */
        if (((every > 0 && i % every == 0) || i == I || f.left) && !tested) {
            /* the pattern-formation test: noise configuration 2^31 + test */
            /* (interrupted part-way, it is dropped: --resume runs it again) */
            const double ts = cli_now();
            mk_initial(H, W, N, x);
            progress pt;
            progress_init(&pt, o->quiet || f.done < I);
            const bool ran =
                mk_advance(m, &P, ((int64_t)1 << 31) + f.nt, cfg->slm.test_steps, x, &pt);
            progress_end(&pt);
            if (ran) {
                f.tvar[f.nt] = variance_A(x, C, N);
                f.tit[f.nt] = (double)i;
                for (int64_t c = 0; c < C; c++)
                    f.tpat[f.nt * C + c] = (uint8_t)(x[c] * 255.0 / N + 0.5);
                f.nt++;
            }
            f.test_secs += cli_now() - ts;
        }
        if (i == I || f.left || cli_interrupted())
            break;
        memcpy(states, f.ref, (size_t)(2 * C) * 8);
        if (taped)
            dca_mk_run_final(m, &P, i, 0, Tst, states, tape);
        else
            dca_mk_run(m, &P, i, 0, Tst, states);
        const double *xT = states + (nstates - 1) * 2 * C;
        double L = 0;
        for (int64_t c = 0; c < 2 * C; c++) { /* the MSE in particle counts */
            const double e = xT[c] - f.ref[c];
            L += e * e;
            gT[c] = e / (double)C; /* d/dx of (1 / 2C) sum e^2 */
        }
        f.loss[i] = L / (2.0 * (double)C);
        double g[5] = {0, 0, 0, 0, 0};
        if (taped) {
            if (dca_mk_adjoint_final(m, &P, i, 0, Tst, xT, tape, gT, NULL, g, &err)) {
                rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
                goto out;
            }
        } else
            dca_mk_adjoint(m, &P, i, 0, Tst, states, gT, NULL, g);
        f.gdste[2 * i] = g[0], f.gdste[2 * i + 1] = g[1];
        if (cfg->slm.offset_score) {
            /* the baseline: a moving average of the earlier iterations' losses
             * (independent of this run's noise; the first iteration's own) */
            f.baseline = i == 0 ? f.loss[0] : 0.9 * f.baseline + 0.1 * f.loss[i - 1];
            double sc[2];
            dca_mk_offset_score(m, &P, i, 0, Tst, sc);
            g[0] = (f.loss[i] - f.baseline) * sc[0];
            g[1] = (f.loss[i] - f.baseline) * sc[1];
        }
        for (int j = 0; j < 5; j++)
            if ((j < 2 && !fitD) || (j >= 2 && !fitk))
                g[j] = 0;
        memcpy(f.grads + 5 * i, g, sizeof g);
        double w[5] = {P.D_A, P.D_B, P.k1, P.k2, P.k3};
        dca_optim_step(f.opt, f.loss[i], g, w);
        /* fixed parameters stay fixed whatever the optimiser's noise */
        if (fitD)
            P.D_A = w[0], P.D_B = w[1];
        if (fitk)
            P.k1 = w[2], P.k2 = w[3], P.k3 = w[4];
        f.done = i + 1;
        if (dca_mk_check(m, &P, &err)) {
            f.left = true;
            fprintf(stderr, "\ndca: warning: iteration %lld: %s; the fit stops here\n",
                    (long long)i, err.msg);
            P = (dca_mk_params){pp[0], pp[1], pp[2], pp[3], pp[4]}; /* the last valid */
        }
        progress_update(&fc.pg, f.done, I, (double)f.done * (double)Tst * (double)C, "cell-steps");
        if (f.done % cfg->checkpoint_every == 0 && f.done < I && !f.left) {
            f.secs = cli_now() - t1 - f.test_secs;
            memcpy(f.params + 5 * f.done, (double[5]){P.D_A, P.D_B, P.k1, P.k2, P.k3}, 40);
            if (mk_save(&f, outpath, false, &err)) {
                progress_end(&fc.pg);
                rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
                goto out;
            }
        }
    }
    progress_end(&fc.pg);
    f.secs = cli_now() - t1 - f.test_secs;
    /* finished: every iteration and the last pattern test ran */
    const bool finished = (f.done == I || f.left) && !cli_interrupted();
    if (mk_save(&f, outpath, finished, &err)) {
        rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
        goto out;
    }
    const double *last = f.params + 5 * f.done;
    if (I == 0)
        printf("no fitting ([optimizer] iterations = 0)\n");
    else
        printf("fit: D_A %.4f, D_B %.4f, k1 %.4f, k2 %.4f, k3 %.4f after %lld iterations (%.1f s, "
           "%.3g cell-steps/s forward and backward; tests %.1f s); loss %.5f -> %.5f\n",
           last[0], last[1], last[2], last[3], last[4], (long long)f.done, f.secs,
           2.0 * (double)f.done * (double)Tst * (double)C / f.secs, f.test_secs,
           f.done ? f.loss[0] : NAN, f.done ? f.loss[f.done - 1] : NAN);
    printf("pattern tests (variance of A/N after %lld steps from the striped uniform state; the "
           "reference %.4f):",
           (long long)cfg->slm.test_steps, variance_A(f.ref, C, N));
    for (int64_t k = 0; k < f.nt; k++)
        printf(" %lld: %.4f", (long long)f.tit[k], f.tvar[k]);
    printf("\nwrote %s\n", outpath);
    rc = !finished ? cli_fail(EXIT_RUNTIME, "interrupted after iteration %lld of %lld: %s "
                                                    "keeps what was done (continue with --resume "
                                                    "%s)",
                                      (long long)f.done, (long long)I, outpath, outpath)
                           : EXIT_OK;
out:
    dca_mk_destroy(m);
    dca_optim_destroy(f.opt);
    free(f.ref), free(x), free(states), free(gT), free(f.params), free(f.loss);
    free(f.grads), free(f.gdste), free(f.tvar), free(f.tit), free(f.tpat), free(tape);
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
int cmd_mk_gradcheck(const cli_common *o, dca_config *cfg, const cli_gradcheck_opts *gc)
{
    const double tol = gc->tol, h = gc->step;
    int rc = mk_prologue(o, cfg);
    if (rc >= 0)
        return rc;
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
