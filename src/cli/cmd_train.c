/* dca train CONFIG: fit the rule's weights to the [task] over the batch of
 * initial configurations (full batch, reverse-mode gradients), then harden
 * the rule and, for the majority target, evaluate it on density
 * classification. The CLI owns the loop: logging, checkpoints, stopping. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"
#include "experiment.h"
#include "dca/objective.h"
#include "density.h"
#include "io/io.h"
#include "mem.h"
#include "dca/optim.h"
#include "rng.h"
#include "dca/task.h"

static const char help[] =
    "usage: dca train CONFIG [-o OUT.h5] [--resume OUT.h5] [--set S.K=V]... [--threads N]\n"
    "                 [--quiet]\n"
    "\n"
    "Fits the rule's weights to the [task] (target and loss) over the [init] batch with\n"
    "the [optimizer], using exact reverse-mode gradients of the whole batch. The run\n"
    "file holds the history (/train), the final weights (/rule) and the best ones\n"
    "(/train/best_weights); it is rewritten every [optimizer] checkpoint-every\n"
    "iterations (written aside, then renamed: never half-written). Ctrl-C or SIGTERM\n"
    "finishes the current iteration, writes the file and exits with status 1;\n"
    "--resume continues from such a file and ends with exactly the weights an\n"
    "uninterrupted run would have. With target = majority the hardened rule is then\n"
    "evaluated on density classification ([eval]).\n";

typedef struct trainer {
    cli_common o;
    const char *resume;
    dca_config *cfg;
    dca_experiment *ex;
    dca_sim *sim;
    dca_objective *obj;
    dca_optim *opt;
    double *phi, *w, *grad, *best_w;
    double *xb, *phib; /* minibatch or fresh batch */
    int64_t *order;    /* minibatch draws */
    /* histories: loss, gnorm, seconds (I), weights ((I+1) x P), steps (I x P) */
    double *loss, *gnorm, *secs, *weights, *steps;
    double best_E;
    int64_t P, I, done;
    bool has_eval;
    dca_density_result eval;
    char *command_line;
} trainer;

static const char *train_extra(int argc, char **argv, int *i, void *ctx)
{
    trainer *t = ctx;
    if (strcmp(argv[*i], "--resume") != 0)
        return NULL;
    if (*i + 1 >= argc) {
        cli_fail(EXIT_USAGE, "--resume needs a run file");
        return "error";
    }
    t->resume = argv[++*i];
    return "ok";
}

/* The run file as it stands after `done` iterations. */
static dca_status save(trainer *t, const char *path, bool finished, dca_error *err)
{
    dca_runfile *rf;
    dca_run_meta meta = {dca_config_text(t->cfg), t->command_line, 0.0};
    dca_status st = dca_runfile_create(path, &meta, &rf, err);
    if (st)
        return st;
    const dca_rule *rule = t->ex->rule;
    int64_t wd[3] = {0, 0, 0};
    int wr = dca_rule_shape(rule, wd + 1);
    int64_t n = t->done;
    int64_t d1[1] = {n}, dw[3] = {n + 1, wd[1], wd[2]}, ds[3] = {n, wd[1], wd[2]};
    int64_t dst[1] = {dca_optim_state_len(t->opt)};
    if ((st = dca_runfile_write_rule(rf, rule, t->cfg->neighborhood, err)) ||
        (st = dca_runfile_array(rf, "/train/loss", 1, d1, t->loss, err)) ||
        (st = dca_runfile_array(rf, "/train/gradient_norm", 1, d1, t->gnorm, err)) ||
        (st = dca_runfile_array(rf, "/train/wall_seconds", 1, d1, t->secs, err)) ||
        (st = dca_runfile_array(rf, "/train/weights", 1 + wr, dw, t->weights, err)) ||
        (st = dca_runfile_array(rf, "/train/step_size", 1 + wr, ds, t->steps, err)) ||
        (st = dca_runfile_array(rf, "/train/best_weights", wr, wd + 1, t->best_w, err)) ||
        (st = dca_runfile_array(rf, "/train/best_loss", 0, NULL, &t->best_E, err)) ||
        (st = dca_runfile_array(rf, "/train/optimizer_state", 1, dst, dca_optim_state(t->opt),
                                err)) ||
        (st = dca_runfile_attr_i64(rf, "/train", "iterations", t->I, err)) ||
        (st = dca_runfile_attr_i64(rf, "/train", "iterations_done", n, err)) ||
        (st = dca_runfile_attr_i64(rf, "/train", "finished", finished, err)) ||
        (st = dca_runfile_attr_str(rf, "/train", "method", t->cfg->method, err)) ||
        (st = dca_runfile_attr_str(rf, "/train", "target", t->cfg->target, err)) ||
        (st = dca_runfile_attr_str(rf, "/train", "loss", t->cfg->loss, err)) ||
        (st = dca_runfile_attr_str(rf, "/train", "precision",
                                   t->cfg->precision == DCA_FLOAT32 ? "float32" : "float64",
                                   err)) ||
        (st = dca_runfile_attr_i64(rf, "/train", "configurations", t->ex->batch, err)) ||
        (t->has_eval &&
         ((st = dca_runfile_array(rf, "/eval/accuracy", 0, NULL, &t->eval.accuracy, err)) ||
          (st = dca_runfile_array(rf, "/eval/standard_error", 0, NULL, &t->eval.standard_error,
                                  err)) ||
          (st = dca_runfile_attr_i64(rf, "/eval", "samples", t->eval.samples, err)) ||
          (st = dca_runfile_attr_i64(rf, "/eval", "correct", t->eval.correct, err)) ||
          (st = dca_runfile_attr_i64(rf, "/eval", "max_steps", t->eval.max_steps, err)) ||
          (st = dca_runfile_attr_str(rf, "/eval", "task", "density-classification", err)) ||
          (st = dca_runfile_attr_str(rf, "/eval", "kind", t->cfg->eval_kind, err))))) {
        dca_runfile_close(rf, false, NULL);
        return st;
    }
    return dca_runfile_close(rf, true, err);
}

/* Reads the state of an interrupted run back; the configuration must be
 * the one it was started with. */
static int load_resume(trainer *t)
{
    dca_error err;
    double *v = NULL;
    int rank;
    int64_t dims[DCA_H5_MAX_RANK];
    const char *path = t->resume;
    char *cfgtext = NULL, *format = NULL;
    int64_t version = 0;
    if (dca_h5_read_string_attr(path, "/", "format", &format, &err) ||
        dca_h5_read_i64_attr(path, "/", "format_version", &version, &err)) {
        free(format);
        return cli_fail(EXIT_USAGE, "--resume %s (not a dca run file?)", err.msg);
    }
    bool ours = strcmp(format, "dca-run") == 0 && version == DCA_FORMAT_VERSION;
    free(format);
    if (!ours)
        return cli_fail(EXIT_USAGE, "--resume %s: not a dca run file of format version %d (this "
                                    "one says %lld)", path, DCA_FORMAT_VERSION, (long long)version);
    if (dca_h5_read_string_attr(path, "/", "config", &cfgtext, &err))
        return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
    bool same = strcmp(cfgtext, dca_config_text(t->cfg)) == 0;
    free(cfgtext);
    if (!same)
        return cli_fail(EXIT_USAGE, "--resume %s: the run was started with another configuration "
                                    "(compare `dca info %s` with this one)", path, path);
    int64_t done = 0;
    if (dca_h5_read_i64_attr(path, "/train", "iterations_done", &done, &err))
        return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
    if (done > t->I)
        return cli_fail(EXIT_USAGE, "--resume %s: it has %lld iterations, more than [optimizer] "
                                    "iterations = %lld", path, (long long)done, (long long)t->I);
    struct {
        const char *name;
        double *dst;
        int64_t n;
    } parts[] = {
        {"/train/loss", t->loss, done},
        {"/train/gradient_norm", t->gnorm, done},
        {"/train/wall_seconds", t->secs, done},
        {"/train/weights", t->weights, (done + 1) * t->P},
        {"/train/step_size", t->steps, done * t->P},
        {"/train/best_weights", t->best_w, t->P},
        {"/train/best_loss", &t->best_E, 1},
        {"/train/optimizer_state", dca_optim_state(t->opt), dca_optim_state_len(t->opt)},
    };
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        if (dca_h5_read_doubles(path, parts[i].name, &v, &rank, dims, &err))
            return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
        int64_t n = 1;
        for (int r = 0; r < rank; r++)
            n *= dims[r];
        if (n != parts[i].n) {
            free(v);
            return cli_fail(EXIT_USAGE, "--resume %s:%s holds %lld values, expected %lld", path,
                            parts[i].name, (long long)n, (long long)parts[i].n);
        }
        memcpy(parts[i].dst, v, (size_t)n * sizeof *v);
        free(v);
    }
    t->done = done;
    dca_optim_set_iteration(t->opt, done);
    memcpy(t->w, t->weights + done * t->P, (size_t)t->P * sizeof *t->w);
    return -1;
}

static void cleanup(trainer *t)
{
    free(t->phi), free(t->w), free(t->grad), free(t->best_w);
    free(t->xb), free(t->phib), free(t->order);
    free(t->loss), free(t->gnorm), free(t->secs), free(t->weights), free(t->steps);
    dca_optim_destroy(t->opt);
    dca_objective_destroy(t->obj);
    dca_sim_destroy(t->sim);
    dca_experiment_destroy(t->ex);
    dca_config_destroy(t->cfg);
    free(t->o.sets);
}

static bool all_finite(const double *v, int64_t n, int64_t *bad)
{
    for (int64_t i = 0; i < n; i++)
        if (isnan(v[i]) || isinf(v[i])) {
            *bad = i;
            return false;
        }
    return true;
}

int cmd_train(int argc, char **argv, char *command_line)
{
    trainer t = {.command_line = command_line};
    dca_error err;
    int rc = cli_parse_common(argc, argv, help, &t.o, train_extra, &t);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (cli_load(&t.o, &t.cfg, &t.ex) >= 0)
        goto out;
    if (strcmp(t.cfg->target, "none") == 0) {
        cli_fail(EXIT_USAGE, "%s: training needs a [task] target (%s)", t.o.config,
                 dca_target_names());
        goto out;
    }
    if (t.o.threads)
        omp_set_num_threads(t.o.threads);
    const int64_t B = t.ex->batch, T = t.cfg->steps;
    /* Configurations per iteration: the batch, a minibatch of it, or a
     * fresh batch of B. */
    const int64_t M = t.cfg->minibatch ? t.cfg->minibatch : B;
    if (M > B) {
        char where[600];
        cli_fail(EXIT_USAGE, "%s: a minibatch of %lld from a batch of %lld configurations",
                 dca_config_where(t.cfg, "optimizer", "minibatch", where, sizeof where),
                 (long long)M, (long long)B);
        goto out;
    }
    double op[DCA_CONFIG_MAX_OPTIM_KEYS];
    dca_config_optim_params(t.cfg, op);
    t.P = dca_rule_params(t.ex->rule);
    t.I = t.cfg->iterations;
    if (dca_optim_create(t.cfg->method, op, t.P, t.cfg->optim_seed, &t.opt, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    /* Gradient-free methods evaluate the loss only: no reverse mode. */
    const bool use_grad = dca_optim_needs_gradient(t.opt);
    dca_sim_options so = {.threads = t.o.threads, .gradients = use_grad ? DCA_GRAD_REVERSE : 0u,
                          .precision = t.cfg->precision};
    if (dca_sim_create(&t.ex->lat, t.ex->rule, M, &so, &t.sim, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    double hist = 8.0 * (double)t.P * (2.0 * (double)t.I + 1);
    if (hist > (double)dca_mem_physical() / 4) {
        char a[32], b[64];
        cli_fail(EXIT_USAGE, "the training history (%lld iterations x %lld weights) needs %s, "
                 "more than a quarter of %s", (long long)t.I, (long long)t.P,
                 dca_mem_fmt(hist, a, sizeof a), dca_mem_budget(b, sizeof b));
        goto out;
    }
    const int64_t n = B * t.ex->config_len, P = t.P, I = t.I;
    t.phi = malloc((size_t)n * 8);
    t.w = malloc((size_t)P * 8);
    t.grad = malloc((size_t)P * 8);
    t.best_w = malloc((size_t)P * 8);
    t.loss = calloc((size_t)I + 1, 8);
    t.gnorm = calloc((size_t)I + 1, 8);
    t.secs = calloc((size_t)I + 1, 8);
    t.weights = calloc((size_t)((I + 1) * P), 8);
    t.steps = calloc((size_t)(I * P + 1), 8);
    const int64_t len = t.ex->config_len;
    const bool sampled = t.cfg->minibatch || t.cfg->fresh;
    if (sampled) {
        t.xb = malloc((size_t)(M * len) * 8);
        t.phib = malloc((size_t)(M * len) * 8);
        t.order = malloc((size_t)B * sizeof *t.order);
    }
    if (!t.phi || !t.w || !t.grad || !t.best_w || !t.loss || !t.gnorm || !t.secs || !t.weights ||
        !t.steps || (sampled && (!t.xb || !t.phib || !t.order))) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    dca_task_shape sh_all = dca_experiment_shape(t.cfg, t.ex, B);
    dca_task_shape sh = sh_all;
    sh.batch = M;
    dca_loss_fn loss = dca_loss_lookup(t.cfg->loss);
    if (dca_target_make(t.cfg->target, &sh_all, t.ex->x0, t.phi, &err)) {
        cli_fail_at(t.cfg, "task", "target", err.msg);
        goto out;
    }
    memcpy(t.w, dca_rule_weights(t.ex->rule), (size_t)P * 8);
    memcpy(t.weights, t.w, (size_t)P * 8);
    memcpy(t.best_w, t.w, (size_t)P * 8);
    t.best_E = INFINITY;
    if (t.resume && (rc = load_resume(&t)) >= 0)
        goto out;
    /* Each iteration reads its configurations from xb/phib (sampled) or
     * the whole batch. */
    dca_objective_options oo = {.steps = T};
    if (dca_sim_set_params(t.sim, t.w, &err) ||
        dca_objective_create(t.sim, sampled ? t.xb : t.ex->x0, sampled ? t.phib : t.phi, loss,
                             &sh, &oo, &t.obj, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    rc = EXIT_RUNTIME;
    const char *outpath = t.o.output ? t.o.output : (t.resume ? t.resume : t.cfg->output_file);
    if (cli_make_parent_dirs(outpath) != 0) {
        cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    if (!t.o.quiet)
        fprintf(stderr, "dca train: %s, %lld weights, %lld %sconfigurations x %lld steps, %s "
                        "target, %s loss, %lld iterations%s -> %s\n",
                t.cfg->method, (long long)P, (long long)M,
                t.cfg->fresh ? "fresh " : (t.cfg->minibatch ? "sampled " : ""), (long long)T,
                t.cfg->target,
                t.cfg->loss, (long long)I, t.resume ? " (resumed)" : "", outpath);
    cli_catch_signals();
    progress pr;
    progress_init(&pr, t.o.quiet);
    const double t_start = cli_now() - (t.done ? t.secs[t.done - 1] : 0.0);
    const char *stopped = NULL;
    while (t.done < I) {
        const int64_t it = t.done;
        if (t.cfg->fresh) {
            /* A new batch, keyed by (seed, iteration): a resumed run draws
             * the same ones. */
            uint64_t seed = t.cfg->init_seed * 0x9E3779B97F4A7C15ull + (uint64_t)it + 1;
            if (dca_init_generate(t.cfg->init_kind, &t.ex->lat, t.cfg->states, t.cfg->mode, B,
                                  seed, t.xb, &err)) {
                progress_end(&pr);
                cli_fail(EXIT_RUNTIME, "iteration %lld: %s", (long long)it, err.msg);
                goto out;
            }
            dca_init_apply_eps(t.xb, B * len, t.cfg->states, t.cfg->mode, t.cfg->eps);
            if (dca_target_make(t.cfg->target, &sh_all, t.xb, t.phib, &err)) {
                progress_end(&pr);
                cli_fail(EXIT_RUNTIME, "iteration %lld: %s", (long long)it, err.msg);
                goto out;
            }
        } else if (t.cfg->minibatch) {
            /* M distinct configurations: a partial Fisher-Yates shuffle
             * keyed by (seed, iteration, draw). */
            for (int64_t j = 0; j < B; j++)
                t.order[j] = j;
            for (int64_t j = 0; j < M; j++) {
                double u[2];
                dca_rng_uniform2(t.cfg->init_seed, DCA_RNG_MINIBATCH, (uint64_t)it,
                                 (uint64_t)j, u);
                int64_t r = j + (int64_t)(u[0] * (double)(B - j));
                r = r < B ? r : B - 1;
                int64_t sw = t.order[j];
                t.order[j] = t.order[r];
                t.order[r] = sw;
                memcpy(t.xb + j * len, t.ex->x0 + t.order[j] * len, (size_t)len * 8);
                memcpy(t.phib + j * len, t.phi + t.order[j] * len, (size_t)len * 8);
            }
        }
        double E;
        if (dca_objective_eval(t.obj, NULL, &E, use_grad ? t.grad : NULL, NULL, &err)) {
            progress_end(&pr);
            cli_fail(EXIT_RUNTIME, "iteration %lld: %s", (long long)it, err.msg);
            goto out;
        }
        int64_t bad = 0;
        if (!isfinite(E) || (use_grad && !all_finite(t.grad, P, &bad))) {
            progress_end(&pr);
            save(&t, outpath, false, &err);
            char what[96];
            if (isfinite(E))
                snprintf(what, sizeof what, "the gradient (first: weight %lld, %g)", (long long)bad,
                         t.grad[bad]);
            else
                snprintf(what, sizeof what, "the loss (%g)", E);
            cli_fail(EXIT_RUNTIME, "iteration %lld: %s is not finite; the state after iteration "
                                   "%lld is saved in %s", (long long)it, what, (long long)it,
                     outpath);
            goto out;
        }
        double g2 = use_grad ? 0.0 : NAN; /* no gradient: NaN in /train/gradient_norm */
        for (int64_t p = 0; use_grad && p < P; p++)
            g2 += t.grad[p] * t.grad[p];
        t.loss[it] = E;
        t.gnorm[it] = sqrt(g2);
        if (E < t.best_E) {
            t.best_E = E;
            memcpy(t.best_w, t.w, (size_t)P * 8);
        }
        dca_optim_step(t.opt, E, use_grad ? t.grad : NULL, t.w);
        if (!all_finite(t.w, P, &bad) && isnan(t.w[bad])) {
            progress_end(&pr);
            cli_fail(EXIT_RUNTIME, "iteration %lld: weight %lld became NaN; the last good state "
                                   "is in %s", (long long)it, (long long)bad, outpath);
            save(&t, outpath, false, &err);
            goto out;
        }
        dca_sim_set_params(t.sim, t.w, NULL);
        memcpy(t.weights + (it + 1) * P, t.w, (size_t)P * 8);
        memcpy(t.steps + it * P, dca_optim_step_sizes(t.opt), (size_t)P * 8);
        t.secs[it] = cli_now() - t_start;
        t.done = it + 1;
        if (pr.on && !t.o.quiet) {
            double el = t.secs[it];
            fprintf(stderr, "\r\033[K  iteration %lld/%lld  loss %.6g  best %.6g  |grad| %.3g  "
                            "%.2f it/s  ETA %.0f s",
                    (long long)t.done, (long long)I, E, t.best_E, t.gnorm[it],
                    (double)t.done / (el > 0 ? el : 1), el / (double)t.done * (double)(I - t.done));
        }
        if (E <= t.cfg->tolerance)
            stopped = "the loss reached [optimizer] tolerance";
        else if (t.cfg->time_limit > 0 && t.secs[it] >= t.cfg->time_limit)
            stopped = "the time limit was reached";
        else if (cli_interrupted())
            stopped = "interrupted";
        if (stopped || t.done % t.cfg->checkpoint_every == 0 || t.done == I) {
            if (save(&t, outpath, false, &err)) {
                progress_end(&pr);
                cli_fail(EXIT_RUNTIME, "%s", err.msg);
                goto out;
            }
        }
        if (stopped)
            break;
    }
    progress_end(&pr);
    if (stopped && strcmp(stopped, "interrupted") == 0) {
        cli_fail(EXIT_RUNTIME, "interrupted after iteration %lld of %lld; the state is in %s "
                               "(continue with --resume %s)", (long long)t.done, (long long)I,
                 outpath, outpath);
        goto out;
    }
    cli_print_hardened(t.ex->rule);
    printf("iterations %lld, final loss %.10g, best loss %.10g%s%s\n", (long long)t.done,
           t.done ? t.loss[t.done - 1] : NAN, t.best_E, stopped ? "; stopped: " : "",
           stopped ? stopped : "");
    if (strcmp(t.cfg->target, "majority") == 0 && t.cfg->states == 2) {
        dca_hard *h = NULL;
        dca_density_result res;
        int64_t cells = dca_lattice_cells(&t.ex->lat);
        if (dca_hard_create(&t.ex->lat, t.ex->rule, t.o.threads, &h, &err) ||
            dca_eval_density(h, t.cfg->eval_samples, t.cfg->eval_steps ? t.cfg->eval_steps
                                                                         : 2 * cells,
                             t.cfg->eval_kind, t.cfg->eval_seed, &res, &err)) {
            dca_hard_destroy(h);
            cli_fail(EXIT_RUNTIME, "%s", err.msg);
            goto out;
        }
        dca_hard_destroy(h);
        t.eval = res;
        t.has_eval = true;
        printf("density classification of the hardened rule: accuracy %.4f +- %.4f (%lld "
               "samples)\n", res.accuracy, res.standard_error, (long long)res.samples);
    }
    if (save(&t, outpath, true, &err)) {
        cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto out;
    }
    rc = EXIT_OK;
out:
    cleanup(&t);
    return rc;
}
