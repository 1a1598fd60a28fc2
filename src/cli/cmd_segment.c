/* dca train and dca gradcheck with [model] kind = segment: segmentation by
 * state fitting (the thesis loss, its exact gradient, the Dice score). */
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

/* ---- segmentation by state fitting ------------------------------------------------ */

static int check_unused_segment(const dca_config *cfg)
{
    static const char *const allowed[] = {
        "model.kind", "model.lambda-a", "model.lambda-b", "model.lambda-c", "model.lambda-d",
        "data.source", "data.mask", "data.cells", "data.cell-radius", "data.blur", "data.noise",
        "data.seed", "lattice.size", "optimizer.*", NULL};
    int rc = slm_refuse_foreign(cfg, "segment", allowed);
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
    slm_split_file_spec(cfg, "data", "source", cfg->slm.source, path, sizeof path, &ds);
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
    slm_split_file_spec(cfg, "data", "mask", cfg->slm.mask, path, sizeof path, &ds);
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

/* A segmentation fit's state: the run file after `done` optimiser steps
 * (the loss and Dice of the state they reached included). */
typedef struct seg_fit {
    dca_config *cfg;
    const char *command_line;
    dca_optim *opt;
    int64_t H, W, done, ns;
    int64_t snap_it[9];
    double secs;
    double *grey, *g, *x, *dice, *loss, *parts;
    uint8_t *mask, *snaps;
} seg_fit;

enum { SEG_SNAPSHOTS = 9 };

static dca_status seg_save(const seg_fit *f, const char *outpath, bool finished, dca_error *err)
{
    const dca_config *cfg = f->cfg;
    const int64_t H = f->H, W = f->W, done = f->done, ns = f->ns;
    dca_runfile *rf = NULL;
    dca_run_meta meta = {dca_config_text(f->cfg), f->command_line, 1.0, .alone = false};
    dca_status st = dca_runfile_create(outpath, &meta, &rf, err);
    int64_t d2[2] = {H, W}, dn[1] = {done + 1}, dp[2] = {done + 1, 4}, ds[3] = {ns, H, W},
            dsi[1] = {ns};
    double sit[SEG_SNAPSHOTS];
    for (int k = 0; k < ns; k++)
        sit[k] = (double)f->snap_it[k];
    if (!st)
        st = dca_runfile_array(rf, "/data/image", 2, d2, f->grey, err);
    if (!st)
        st = dca_runfile_array(rf, "/data/normalised", 2, d2, f->g, err);
    if (!st && f->mask)
        st = dca_runfile_array_u8(rf, "/data/mask", 2, d2, f->mask, 4, err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/data", "source", cfg->slm.source, err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/data", "model", "segment", err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/loss", 1, dn, f->loss, err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/loss_terms", 2, dp, f->parts, err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/dice", 1, dn, f->dice, err);
    if (!st)
        st = dca_runfile_array(rf, "/fit/state", 2, d2, f->x, err);
    if (!st && ns)
        st = dca_runfile_array_u8(rf, "/fit/masks", 3, ds, f->snaps, 4, err);
    if (!st && ns)
        st = dca_runfile_array(rf, "/fit/mask_iterations", 1, dsi, sit, err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/fit", "model", "segment", err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/fit", "method", cfg->method, err);
    const dca_segment_weights lam = cfg->slm.lambda;
    const double lams[4] = {lam.a, lam.b, lam.c, lam.d};
    int64_t d4[1] = {4};
    if (!st)
        st = dca_runfile_array(rf, "/fit/lambda", 1, d4, lams, err);
    if (!st)
        st = dca_runfile_attr_f64(rf, "/fit", "dice_final", f->dice[done], err);
    if (!st)
        st = dca_runfile_attr_f64(rf, "/fit", "seconds", f->secs, err);
    if (!st)
        st = dca_runfile_attr_i64(rf, "/fit", "masks_done", ns, err);
    if (!st)
        st = slm_save_progress(rf, f->opt, done, finished, err);
    return slm_close_runfile(&rf, st, err);
}

static int seg_resume(seg_fit *f, const char *path, int64_t I)
{
    int64_t done, ns;
    int rc = slm_resume_open(path, f->cfg, "segment", I, &done);
    if (rc < 0)
        rc = slm_resume_i64(path, "/fit", "masks_done", &ns);
    if (rc >= 0)
        return rc;
    const int64_t n = f->H * f->W;
    if (ns < 0 || ns > SEG_SNAPSHOTS)
        return cli_fail(EXIT_USAGE, "--resume %s: /fit@masks_done = %lld, expected 0 .. %d", path,
                        (long long)ns, SEG_SNAPSHOTS);
    if ((rc = slm_resume_doubles(path, "/fit/state", f->x, n)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/loss", f->loss, done + 1)) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/loss_terms", f->parts, 4 * (done + 1))) >= 0 ||
        (rc = slm_resume_doubles(path, "/fit/dice", f->dice, done + 1)) >= 0 ||
        (rc = slm_resume_u8(path, "/fit/masks", f->snaps, ns * n)) >= 0 ||
        (rc = slm_resume_f64(path, "/fit", "seconds", &f->secs)) >= 0 ||
        (rc = slm_resume_optim(path, f->opt, done)) >= 0)
        return rc;
    f->done = done, f->ns = ns;
    return -1;
}

int cmd_segment_train(const cli_common *o, dca_config *cfg, const char *resume,
                      const char *command_line)
{
    int rc = check_unused_segment(cfg);
    if (rc >= 0)
        return rc;
    if (o->threads)
        omp_set_num_threads(o->threads);
    seg_fit f = {.cfg = cfg, .command_line = command_line};
    double *grad = NULL;
    dca_error err;
    int64_t H, W;
    if ((rc = load_image(cfg, &f.grey, &f.mask, &H, &W)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    f.H = H, f.W = W;
    const int64_t n = H * W, I = cfg->iterations, NS = SEG_SNAPSHOTS;
    f.g = malloc((size_t)n * 8), f.x = malloc((size_t)n * 8), grad = malloc((size_t)n * 8);
    f.dice = malloc((size_t)(I + 1) * 8), f.loss = malloc((size_t)(I + 1) * 8);
    f.parts = malloc((size_t)(4 * (I + 1)) * 8), f.snaps = calloc((size_t)(NS * n), 1);
    if (!f.g || !f.x || !grad || !f.dice || !f.loss || !f.parts || !f.snaps) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    if (dca_segment_normalise(n, f.grey, f.g, &err)) {
        rc = cli_fail_at(cfg, "data", "source", err.msg);
        goto out;
    }
    double par[64];
    dca_config_optim_params(cfg, par);
    if (dca_optim_create(cfg->method, par, n, cfg->optim_seed, &f.opt, &err)) {
        rc = cli_fail_at(cfg, "optimizer", "method", err.msg);
        goto out;
    }
    memcpy(f.x, f.g, (size_t)n * 8);
    for (int k = 0; k < NS; k++)
        f.snap_it[k] = I * k / (NS - 1);
    if (resume && (rc = seg_resume(&f, resume, I)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    const dca_segment_weights lam = cfg->slm.lambda;
    printf("train: segment, %lldx%lld image (%s), %s, %lld iterations, lambda = %g, %g, %g, "
           "%g%s\n",
           (long long)H, (long long)W, cfg->slm.source, cfg->method, (long long)I, lam.a, lam.b,
           lam.c, lam.d, resume ? " (resumed)" : "");
    if (resume)
        printf("resumed from %s after %lld iterations\n", resume, (long long)f.done);
    if (!(lam.d > 8 * (lam.b + lam.c)))
        fprintf(stderr, "dca: note: lambda-d <= 8 (lambda-b + lambda-c): the loss is not "
                        "bounded below, so the state grows without bound as the fit goes on "
                        "(the Dice score is recorded every iteration)\n");
    fflush(stdout);
    const char *outpath = o->output ? o->output : (resume ? resume : cfg->output_file);
    if (cli_make_parent_dirs(outpath) != 0) {
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    cli_catch_signals();
    slm_fit_ctx fc = {.total = I};
    progress_init(&fc.pg, o->quiet);
    const double t0 = cli_now() - f.secs;
    for (int64_t i = f.done;; i++) {
        f.loss[i] = dca_segment_loss(H, W, f.g, f.x, &lam, grad, f.parts + 4 * i);
        f.dice[i] = f.mask ? dca_dice(n, f.x, f.mask) : NAN;
        while (f.ns < NS && f.snap_it[f.ns] == i) {
            for (int64_t c = 0; c < n; c++)
                f.snaps[f.ns * n + c] = f.x[c] > 0;
            f.ns++;
        }
        f.done = i;
        if (i == I || cli_interrupted())
            break;
        if (i > 0 && i % cfg->checkpoint_every == 0) {
            f.secs = cli_now() - t0;
            if (seg_save(&f, outpath, false, &err)) {
                progress_end(&fc.pg);
                rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
                goto out;
            }
        }
        dca_optim_step(f.opt, f.loss[i], grad, f.x);
        progress_update(&fc.pg, i + 1, I, (double)(i + 1), "iterations");
    }
    progress_end(&fc.pg);
    const int64_t done = f.done;
    f.secs = cli_now() - t0;
    if (seg_save(&f, outpath, done == I, &err)) {
        rc = cli_fail(EXIT_RUNTIME, "%s: %s", outpath, err.msg);
        goto out;
    }
    if (f.mask) {
        /* the best Dice and the Dice of the best single threshold of g, for reference */
        int64_t best = 0;
        for (int64_t i = 1; i <= done; i++)
            best = f.dice[i] > f.dice[best] ? i : best;
        double bt = 0, bd = 0;
        for (int k = -100; k < 100; k++) {
            const double t = k / 100.0;
            for (int64_t c = 0; c < n; c++)
                grad[c] = f.g[c] - t;
            const double d = dca_dice(n, grad, f.mask);
            if (d > bd)
                bd = d, bt = t;
        }
        printf("dice: %.4f at iteration 0 (g > 0), %.4f after %lld iterations (best %.4f at "
               "iteration %lld); the best single threshold of g (%.2f, chosen knowing the "
               "mask) gives %.4f\n",
               f.dice[0], f.dice[done], (long long)done, f.dice[best], (long long)best, bt, bd);
    } else {
        int64_t fg = 0;
        for (int64_t c = 0; c < n; c++)
            fg += f.x[c] > 0;
        printf("no mask: %lld of %lld pixels foreground after %lld iterations\n", (long long)fg,
               (long long)n, (long long)done);
    }
    printf("fit: %.3f s; wrote %s\n", f.secs, outpath);
    rc = done == I ? EXIT_OK
                   : cli_fail(EXIT_RUNTIME, "interrupted after iteration %lld of %lld: %s keeps "
                                            "what was done (continue with --resume %s)",
                              (long long)done, (long long)I, outpath, outpath);
out:
    dca_optim_destroy(f.opt);
    free(f.grey), free(f.g), free(f.x), free(grad), free(f.dice), free(f.loss), free(f.parts);
    free(f.mask), free(f.snaps);
    return rc;
}

int cmd_segment_gradcheck(const cli_common *o, dca_config *cfg, const cli_gradcheck_opts *gc)
{
    const double tol = gc->tol, h = gc->step;
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
