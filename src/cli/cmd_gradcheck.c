/* dca gradcheck CONFIG: forward- and reverse-mode loss gradients against
 * central finite differences. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"
#include "experiment.h"
#include "dca/gradient.h"
#include "dca/objective.h"
#include "mem.h"
#include "dca/task.h"
#include "text.h"

static const char help[] =
    "usage: dca gradcheck CONFIG [--tol T] [--step H] [--all] [--set S.K=V]... [--threads N]\n"
    "\n"
    "Computes the loss gradient of the experiment's [task] in forward mode and in reverse\n"
    "mode, and compares both with central finite differences (E(w+h) - E(w-h)) / 2h for\n"
    "every finite weight. Prints a table (the 20 worst parameters, or --all) and exits\n"
    "with status 1 when the worst error is above the tolerance.\n"
    "\n"
    "  --tol T    tolerance on the error (default 1e-6)\n"
    "  --step H   finite-difference step h (default 1e-5)\n"
    "  --all      print every parameter\n"
    "\n"
    "error = |analytic - numeric| / max(|numeric|, 1e-3 max(max_p |numeric_p|, |E|)):\n"
    "relative, with a floor that absorbs the finite difference's own rounding noise\n"
    "(about 1e-16 |E| / h). Chaotic rules need short horizons ([run] steps <= 5) or\n"
    "small lattices for finite differences to mean anything.\n"
    "\n"
    "With [model] kind = ffnet or kuramoto it checks member 0's exact gradient at its\n"
    "initial weights: backpropagation of the network's mean squared error, or the\n"
    "adjoint of the Kuramoto Euler interval (from the initial phases) of |rbar - r0|.\n";

static const char *gc_extra(int argc, char **argv, int *i, void *ctx)
{
    cli_gradcheck_opts *g = ctx;
    const char *a = argv[*i];
    if (strcmp(a, "--all") == 0) {
        g->all = true;
        return "ok";
    }
    double *dst = strcmp(a, "--tol") == 0 ? &g->tol : strcmp(a, "--step") == 0 ? &g->step : NULL;
    if (!dst)
        return NULL;
    if (*i + 1 >= argc || !dca_parse_double(argv[*i + 1], dst) || !(*dst > 0) || !isfinite(*dst)) {
        cli_fail(EXIT_USAGE, "%s needs a positive number", a);
        return "error";
    }
    (*i)++;
    return "ok";
}

typedef struct row {
    int64_t p;
    double fwd, rev, num, err_f, err_r;
} row;

static int by_error(const void *a, const void *b)
{
    const row *x = a, *y = b;
    double ex = fmax(x->err_f, x->err_r), ey = fmax(y->err_f, y->err_r);
    return (ex < ey) - (ex > ey);
}

int cmd_gradcheck(int argc, char **argv, char *command_line)
{
    (void)command_line;
    cli_common o = {0};
    cli_gradcheck_opts g = {.tol = 1e-6, .step = 1e-5};
    dca_config *cfg = NULL;
    dca_experiment *ex = NULL;
    dca_sim *sim = NULL;
    dca_objective *obj = NULL;
    dca_tangent *tg = NULL;
    double *phi = NULL, *gf = NULL, *gr = NULL, *w = NULL, *a = NULL, *b = NULL, *xbar = NULL;
    row *rows = NULL;
    dca_error err;
    int rc = cli_parse_common(argc, argv, help, &o, gc_extra, &g);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    {
        dca_config *lc;
        if ((rc = cli_load_learner(&o, &lc)) >= 0)
            goto out;
        if (lc) {
            const cli_model *m = cli_model_of(lc->learner.kind);
            rc = m ? m->gradcheck(&o, lc, &g)
                   : cli_fail_at(lc, "model", "kind", "dca gradcheck has no driver for this model");
            dca_config_destroy(lc);
            goto out;
        }
        rc = EXIT_USAGE;
    }
    if (cli_load(&o, &cfg, &ex) >= 0)
        goto out;
    if (strcmp(cfg->target, "none") == 0) {
        cli_fail(EXIT_USAGE, "%s: gradcheck needs a loss: set [task] target (%s), e.g. --set "
                             "task.target=identity", o.config, dca_target_names());
        goto out;
    }
    if (o.threads)
        omp_set_num_threads(o.threads);
    /* Always float64: the check is of the derivation, not of single-precision rounding. */
    if (cfg->precision == DCA_FLOAT32 && !o.quiet)
        fprintf(stderr, "dca gradcheck: [run] precision = float32 is ignored: the gradients are "
                        "checked in float64\n");
    dca_sim_options so = {.threads = o.threads, .gradients = DCA_GRAD_FORWARD | DCA_GRAD_REVERSE};
    const int64_t B = ex->batch, T = cfg->steps, n = B * ex->config_len;
    if (dca_sim_create(&ex->lat, ex->rule, B, &so, &sim, &err) ||
        dca_tangent_create(sim, B, &tg, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    const int64_t P = dca_rule_params(ex->rule);
    phi = malloc((size_t)n * 8);
    a = malloc((size_t)n * 8);
    b = malloc((size_t)n * 8);
    xbar = malloc((size_t)n * 8);
    gf = malloc((size_t)P * 8);
    gr = malloc((size_t)P * 8);
    w = malloc((size_t)P * 8);
    rows = calloc((size_t)P, sizeof *rows);
    if (!phi || !a || !b || !xbar || !gf || !gr || !w || !rows) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    dca_task_shape sh = dca_experiment_shape(cfg, ex, B);
    dca_loss_fn loss = dca_loss_lookup(cfg->loss);
    if (dca_target_make(cfg->target, &sh, ex->x0, phi, &err)) {
        cli_fail_at(cfg, "task", "target", err.msg);
        goto out;
    }
    dca_objective_options oo = {.steps = T};
    if (dca_objective_create(sim, ex->x0, phi, loss, &sh, &oo, &obj, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    rc = EXIT_RUNTIME;
    double E;
    if (dca_objective_eval(obj, NULL, &E, gr, NULL, &err)) {
        cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto out;
    }
    dca_tangent_reset(tg);
    memcpy(a, ex->x0, (size_t)n * 8);
    for (int64_t t = 0; t < T; t++) {
        if (dca_tangent_step(tg, a) || dca_sim_step_at(sim, t, a, b)) {
            cli_fail(EXIT_RUNTIME, "%s", dca_sim_error(sim));
            goto out;
        }
        double *s = a;
        a = b;
        b = s;
    }
    double Ef = loss(&sh, phi, a, xbar);
    dca_tangent_loss_gradient(tg, xbar, gf);

    /* Finite differences over the finite weights. */
    memcpy(w, dca_rule_weights(ex->rule), (size_t)P * 8);
    int64_t nrows = 0, skipped = 0;
    double nmax = 0;
    for (int64_t p = 0; p < P; p++) {
        if (!isfinite(w[p])) {
            skipped++;
            continue;
        }
        double keep = w[p];
        double Ep, Em;
        w[p] = keep + g.step;
        dca_objective_eval(obj, w, &Ep, NULL, NULL, NULL);
        w[p] = keep - g.step;
        dca_objective_eval(obj, w, &Em, NULL, NULL, NULL);
        w[p] = keep;
        rows[nrows++] = (row){p, gf[p], gr[p], (Ep - Em) / (2 * g.step), 0, 0};
        nmax = fmax(nmax, fabs(rows[nrows - 1].num));
    }
    dca_rule_set_weights(ex->rule, w, NULL);
    double floor_ = 1e-3 * fmax(nmax, fabs(E)), worst = 0, fr = 0, gmax = 0;
    for (int64_t i = 0; i < nrows; i++) {
        row *q = &rows[i];
        double den = fmax(fabs(q->num), floor_);
        den = den > 0 ? den : 1;
        q->err_f = fabs(q->fwd - q->num) / den;
        q->err_r = fabs(q->rev - q->num) / den;
        worst = fmax(worst, fmax(q->err_f, q->err_r));
    }
    for (int64_t p = 0; p < P; p++) {
        fr = fmax(fr, fabs(gf[p] - gr[p]));
        gmax = fmax(gmax, fmax(fabs(gf[p]), fabs(gr[p])));
    }
    qsort(rows, (size_t)nrows, sizeof *rows, by_error);

    /* Each parameter's label (the model type's: a table's pattern, an
     * outer-totalistic entry's centre and count) when it fits the column. */
    char pat[24];
    const bool labels = dca_rule_param_label(ex->rule, 0, pat, sizeof pat) == DCA_OK;
    printf("gradcheck %s: %s loss, %s target, %lld steps, %lld configuration%s, h = %g\n",
           o.config, cfg->loss, cfg->target, (long long)T, (long long)B, B == 1 ? "" : "s",
           g.step);
    printf("loss E = %.12g (reverse), %.12g (forward)\n", E, Ef);
    int64_t show = g.all ? nrows : (nrows < 20 ? nrows : 20);
    printf("%s%s\n", g.all || nrows <= 20 ? "every parameter" : "the 20 worst parameters",
           skipped ? " (hard weights, +-inf, skipped)" : "");
    printf("%8s %-12s %19s %19s %19s %9s %9s\n", "param", labels ? "pattern" : "", "forward",
           "reverse", "numeric", "err fwd", "err rev");
    for (int64_t i = 0; i < show; i++) {
        const row *q = &rows[i];
        if (!labels)
            pat[0] = '\0';
        else
            dca_rule_param_label(ex->rule, q->p, pat, sizeof pat);
        printf("%8lld %-12s %19.12g %19.12g %19.12g %9.2e %9.2e\n", (long long)q->p, pat, q->fwd,
               q->rev, q->num, q->err_f, q->err_r);
    }
    printf("forward vs reverse: max |diff| %.3g (relative to max |grad| %.3g: %.3g)\n", fr, gmax,
           gmax > 0 ? fr / gmax : 0.0);
    printf("worst error vs finite differences: %.3g (tolerance %g): %s\n", worst, g.tol,
           worst <= g.tol ? "PASS" : "FAIL");
    rc = worst <= g.tol ? EXIT_OK : EXIT_RUNTIME;
out:
    free(phi), free(gf), free(gr), free(w), free(a), free(b), free(xbar), free(rows);
    dca_tangent_destroy(tg);
    dca_objective_destroy(obj);
    dca_sim_destroy(sim);
    dca_experiment_destroy(ex);
    dca_config_destroy(cfg);
    free(o.sets);
    return rc;
}
