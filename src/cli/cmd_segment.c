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
    slm_fit_ctx fc = {.total = I};
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
    st = slm_close_runfile(&rf, st, &err);
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
