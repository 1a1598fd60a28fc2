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
#include "cli/par.h"
#include "config.h"
#include "experiment.h"
#include "dca/trainer.h"
#include "density.h"
#include "io/io.h"
#include "mem.h"
#include "dca/optim.h"
#include "dca/task.h"
#include "train_record.h"

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
    "evaluated on density classification ([eval]). Under mpirun the ranks share each\n"
    "iteration's configurations and end with the serial run's file bit for bit\n"
    "(docs/cluster.md).\n"
    "\n"
    "With [model] kind = ffnet or kuramoto (seeds 003/004) it trains an ensemble\n"
    "instead: [ensemble] members on a grid of [ensemble] sweep values, side by side on\n"
    "the threads, any [optimizer] method including the gradient-free autonomous map; the\n"
    "run file's /ensemble holds every member's history (docs/hdf5-layout.md). Ctrl-C\n"
    "stops the members and writes what they did; --resume does not apply.\n"
    "\n"
    "With [model] kind = si, potts, segment or mk (seed 001's stochastic lattice\n"
    "models) it fits the model's parameters (/data, /fit, /abc), with checkpoints,\n"
    "Ctrl-C and --resume as above: the resumed file's datasets are bitwise those of\n"
    "an uninterrupted run.\n";

typedef struct trainer {
    cli_common o;
    const char *resume;
    dca_config *cfg;
    dca_experiment *ex;
    dca_trainer *tr;
    dca_optim *opt;
    double *phi, *w;
    dca_train_record rec; /* the histories, the best weights (/train) */
    bool has_eval;
    dca_density_result eval;
    char *command_line;
    dca_tune_report tune; /* [run] tune = measure */
    char tuned[512];
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
    dca_run_meta meta = {dca_config_text(t->cfg), t->command_line, 0.0, .alone = true};
    dca_status st = dca_runfile_create(path, &meta, &rf, err);
    if (st)
        return st;
    if ((st = dca_runfile_write_rule(rf, t->ex->rule, t->cfg->neighborhood, err)) ||
        (st = dca_train_record_write(&t->rec, rf, t->opt, finished, err)) ||
        (st = dca_runfile_attr_str(rf, "/train", "method", t->cfg->method, err)) ||
        (st = dca_runfile_attr_str(rf, "/train", "target", t->cfg->target, err)) ||
        (st = dca_runfile_attr_str(rf, "/train", "loss", t->cfg->loss, err)) ||
        (st = dca_runfile_attr_str(rf, "/train", "precision",
                                   t->cfg->precision == DCA_FLOAT32 ? "float32" : "float64",
                                   err)) ||
        (st = dca_runfile_attr_i64(rf, "/train", "configurations", t->ex->batch, err)) ||
        (t->tr &&
         ((st = dca_runfile_attr_str(rf, "/train", "kernel",
                                     dca_kernel_name(dca_sim_kernel(dca_trainer_sim(t->tr))),
                                     err)) ||
          (st = dca_runfile_attr_i64(rf, "/train", "tile_cells",
                                     dca_sim_tile_cells(dca_trainer_sim(t->tr)), err)))) ||
        (t->tuned[0] && (st = dca_runfile_attr_str(rf, "/train", "tuned", t->tuned, err))) ||
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

/* Rank 0 writes the file by itself; every rank learns whether it could. */
static dca_status save_agreed(trainer *t, const char *path, bool finished, dca_error *err)
{
    dca_status st = par_rank() == 0 ? save(t, path, finished, err) : DCA_OK;
    if (par_many() && par_any(st != DCA_OK) && !st)
        st = dca_error_set(err, DCA_ERR_IO, "rank 0 could not write %s", path);
    return st;
}

/* A failure every rank reached at the same point: rank 0 says why, and the
 * job ends without an abort. */
static int fail_agreed(const char *msg)
{
    par_exit_agreed();
    if (par_rank() > 0)
        return EXIT_RUNTIME;
    return cli_fail(EXIT_RUNTIME, "%s", msg);
}

/* Reads the state of an interrupted run back; the configuration must be
 * the one it was started with. */
static int load_resume(trainer *t)
{
    dca_error err;
    const int rc = cli_resume_check(t->resume, t->cfg);
    if (rc >= 0)
        return rc;
    if (dca_train_record_read(&t->rec, t->resume, t->opt, t->w, &err))
        return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
    /* A tuned run resumes on the kernel and tile it chose (bit for bit the
     * uninterrupted run), not on a new measurement. */
    char *kernel = NULL;
    int64_t tile = 0;
    if (t->cfg->tune && !dca_h5_read_string_attr(t->resume, "/train", "kernel", &kernel, &err) &&
        !dca_h5_read_i64_attr(t->resume, "/train", "tile_cells", &tile, &err)) {
        for (int k = DCA_KERNEL_AUTO; k <= DCA_KERNEL_FUSED; k++)
            if (strcmp(kernel, dca_kernel_name((dca_kernel)k)) == 0) {
                t->cfg->kernel = (dca_kernel)k;
                t->cfg->tile = tile;
                t->cfg->tune = false;
                snprintf(t->tuned, sizeof t->tuned, "resumed on %s/%lld", kernel,
                         (long long)tile);
            }
    }
    free(kernel);
    return -1;
}

/* Training on the whole batch keeps only this rank's share of the
 * initial configurations (the trainer's share: whole gradient blocks);
 * minibatches are drawn from all of them. */
static void train_share(void *ctx, int64_t batch, int64_t params, int64_t *first,
                        int64_t *count)
{
    const trainer *t = ctx;
    *first = 0;
    *count = batch;
    if (par_many() && !t->cfg->minibatch)
        dca_sim_batch_share(batch, params, par_size(), par_rank(), first, count);
}

static void cleanup(trainer *t)
{
    free(t->phi), free(t->w);
    dca_train_record_free(&t->rec);
    dca_optim_destroy(t->opt);
    dca_trainer_destroy(t->tr);
    dca_experiment_destroy(t->ex);
    dca_config_destroy(t->cfg);
    free(t->o.sets);
}

int cmd_train(int argc, char **argv, char *command_line)
{
    trainer t = {.command_line = command_line};
    dca_error err;
    int rc = cli_parse_common(argc, argv, help, &t.o, train_extra, &t);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    {
        dca_config *lc;
        if ((rc = cli_load_learner(&t.o, &lc)) >= 0)
            goto out;
        if (lc) {
            const cli_model *m = cli_model_of(lc->learner.kind);
            if (!m)
                rc = cli_fail_at(lc, "model", "kind", "dca train has no driver for this model");
            else if (!m->mpi && par_many())
                rc = cli_fail(EXIT_USAGE,
                              "%s: dca train with [model] kind = %s runs on one process (rule "
                              "tables train on several MPI ranks); start it without mpirun, or "
                              "with mpirun -np 1", t.o.config, lc->learner.kind_name);
            else
                rc = m->train(&t.o, lc, t.resume, command_line);
            dca_config_destroy(lc);
            goto out;
        }
        rc = EXIT_USAGE;
    }
    if (cli_load_share(&t.o, train_share, &t, &t.cfg, &t.ex) >= 0)
        goto out;
    if (strcmp(t.cfg->target, "none") == 0) {
        cli_fail(EXIT_USAGE, "%s: training needs a [task] target (%s)", t.o.config,
                 dca_target_names());
        goto out;
    }
    if (t.o.threads)
        omp_set_num_threads(t.o.threads);
    t.o.quiet |= par_rank() > 0;
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
    const int64_t P = dca_rule_params(t.ex->rule), I = t.cfg->iterations;
    if (dca_optim_create(t.cfg->method, op, P, t.cfg->optim_seed, &t.opt, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    if (dca_train_record_init(&t.rec, t.ex->rule, I, &err)) {
        rc = cli_fail(err.status == DCA_ERR_NOMEM ? EXIT_RUNTIME : EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    const int64_t held = t.ex->count, n = (held > 0 ? held : 1) * t.ex->config_len;
    t.phi = malloc((size_t)n * 8);
    t.w = malloc((size_t)P * 8);
    if (!t.phi || !t.w) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    dca_task_shape sh_all = dca_experiment_shape(t.cfg, t.ex, B);
    dca_task_shape sh_held = dca_experiment_shape(t.cfg, t.ex, held);
    dca_loss_fn loss = dca_loss_lookup(t.cfg->loss);
    if (held != B && strncmp(t.cfg->target, "file:", 5) == 0) {
        cli_fail(EXIT_USAGE, "%s: a file: target holds the whole batch and does not train on "
                             "several MPI ranks (except with a minibatch); train without "
                             "mpirun", t.o.config);
        goto out;
    }
    if (dca_target_make(t.cfg->target, &sh_held, t.ex->x0, t.phi, &err)) {
        cli_fail_at(t.cfg, "task", "target", err.msg);
        goto out;
    }
    memcpy(t.w, dca_rule_weights(t.ex->rule), (size_t)P * 8);
    if (t.resume && (rc = load_resume(&t)) >= 0)
        goto out;
    /* Every rank needs a share of each iteration's configurations; all
     * ranks check all shares, so they refuse together. */
    for (int r = 0; r < par_size() && par_many(); r++) {
        int64_t f0, c0;
        dca_sim_batch_share(M, P, par_size(), r, &f0, &c0);
        if (c0 < 1) {
            cli_fail(EXIT_USAGE, "%s: %lld configurations per iteration cannot be shared by %d "
                                 "MPI ranks (rank %d would get none); start fewer ranks",
                     t.o.config, (long long)M, par_size(), r);
            goto out;
        }
    }
    dca_trainer_options to = {.steps = T, .minibatch = t.cfg->minibatch, .fresh = t.cfg->fresh,
                              .fresh_init = t.cfg->init_kind, .fresh_eps = t.cfg->eps,
                              .target = t.cfg->target, .seed = t.cfg->init_seed,
                              .threads = t.o.threads, .precision = t.cfg->precision,
                              .slices = par_size(), .slice = par_rank(),
                              .reduce = par_reduction(),
                              .held_first = t.ex->first, .held_count = held,
                              .keep_all_bytes = t.cfg->reverse_memory,
                              .kernel = t.cfg->kernel,
                              .tile_cells = t.cfg->tile,
                              .tune = t.cfg->tune,
                              .tune_report = &t.tune};
    if (t.cfg->tune && par_many()) {
        rc = cli_fail(EXIT_USAGE, "%s: [run] tune = measure runs in one process (the ranks must "
                                  "agree on the kernel and tile): tune without mpirun and set "
                                  "[run] kernel and tile from /train@kernel and "
                                  "/train@tile_cells", t.o.config);
        goto out;
    }
    if (dca_rule_set_weights(t.ex->rule, t.w, &err) ||
        dca_trainer_create(&t.ex->lat, t.ex->rule, t.ex->x0, t.phi, loss, &sh_all, t.opt, &to,
                           &t.tr, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    if (t.cfg->tune) {
        dca_tune_describe(&t.tune, t.tuned, sizeof t.tuned);
        if (!t.o.quiet)
            fprintf(stderr, "tuned: %s\n", t.tuned);
    }
    rc = EXIT_RUNTIME;
    const char *outpath = t.o.output ? t.o.output : (t.resume ? t.resume : t.cfg->output_file);
    if (par_rank() == 0 && cli_make_parent_dirs(outpath) != 0) {
        cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    char ranks[64] = "";
    if (par_many())
        snprintf(ranks, sizeof ranks, ", shared by %d MPI ranks", par_size());
    if (!t.o.quiet)
        fprintf(stderr, "dca train: %s, %lld weights, %lld %sconfigurations x %lld steps%s, %s "
                        "target, %s loss, %lld iterations%s -> %s\n",
                t.cfg->method, (long long)P, (long long)M,
                t.cfg->fresh ? "fresh " : (t.cfg->minibatch ? "sampled " : ""), (long long)T,
                ranks, t.cfg->target, t.cfg->loss, (long long)I, t.resume ? " (resumed)" : "",
                outpath);
    cli_catch_signals();
    progress pr;
    progress_init(&pr, t.o.quiet);
    dca_train_record *h = &t.rec;
    const double t_start = cli_now() - (h->done ? h->secs[h->done - 1] : 0.0);
    const char *stopped = NULL;
    while (h->done < I) {
        const int64_t it = h->done;
        dca_train_report rep;
        dca_status st = dca_trainer_step(t.tr, it, t.w, &rep, &err);
        if (st && rep.fault != DCA_TRAIN_WEIGHT_NAN) {
            progress_end(&pr);
            char what[8192];
            if (rep.fault) {
                /* The loss and the gradient are the whole batch's on every
                 * rank: all stop here. */
                save_agreed(&t, outpath, false, NULL);
                snprintf(what, sizeof what, "iteration %lld: %s; the state before it is saved in %s",
                         (long long)it, err.msg, outpath);
                rc = fail_agreed(what);
            } else {
                cli_fail(EXIT_RUNTIME, "iteration %lld: %s", (long long)it, err.msg);
            }
            goto out;
        }
        const double E = rep.loss;
        dca_train_record_loss(h, it, &rep);
        if (st) {
            progress_end(&pr);
            char what[8192];
            snprintf(what, sizeof what, "iteration %lld: %s; the last good state is in %s",
                     (long long)it, err.msg, outpath);
            save_agreed(&t, outpath, false, NULL);
            rc = fail_agreed(what);
            goto out;
        }
        double el = cli_now() - t_start;
        par_bcast_f64(&el, 1); /* rank 0's clock decides the time limit */
        dca_train_record_step(h, it, t.w, dca_optim_step_sizes(t.opt), el);
        if (pr.on && !t.o.quiet) {
            fprintf(stderr, "\r\033[K  iteration %lld/%lld  loss %.6g  best %.6g  |grad| %.3g  "
                            "%.2f it/s  ETA %.0f s",
                    (long long)h->done, (long long)I, E, h->best_E, h->gnorm[it],
                    (double)h->done / (el > 0 ? el : 1),
                    el / (double)h->done * (double)(I - h->done));
        }
        if (E <= t.cfg->tolerance)
            stopped = "the loss reached [optimizer] tolerance";
        else if (t.cfg->time_limit > 0 && el >= t.cfg->time_limit)
            stopped = "the time limit was reached";
        else if (par_many() ? par_any(cli_interrupted()) : cli_interrupted())
            stopped = "interrupted";
        if (stopped || h->done % t.cfg->checkpoint_every == 0 || h->done == I) {
            if (save_agreed(&t, outpath, false, &err)) {
                progress_end(&pr);
                rc = fail_agreed(err.msg);
                goto out;
            }
        }
        if (stopped)
            break;
    }
    progress_end(&pr);
    if (stopped && strcmp(stopped, "interrupted") == 0) {
        char what[8192];
        snprintf(what, sizeof what, "interrupted after iteration %lld of %lld; the state is in "
                 "%s (continue with --resume %s)", (long long)h->done, (long long)I, outpath,
                 outpath);
        rc = fail_agreed(what);
        goto out;
    }
    const bool speak = par_rank() == 0;
    if (speak)
        cli_print_hardened(t.ex->rule);
    if (speak)
        printf("iterations %lld, final loss %.10g, best loss %.10g%s%s\n", (long long)h->done,
               h->done ? h->loss[h->done - 1] : NAN, h->best_E, stopped ? "; stopped: " : "",
               stopped ? stopped : "");
    if (strcmp(t.cfg->target, "majority") == 0 && t.cfg->states == 2) {
        dca_hard *hard = NULL;
        dca_density_result res;
        int64_t cells = dca_lattice_cells(&t.ex->lat);
        if (dca_hard_create(&t.ex->lat, t.ex->rule, t.o.threads, &hard, &err) ||
            cli_eval_density(hard, t.cfg, t.cfg->eval_steps ? t.cfg->eval_steps : 2 * cells,
                             &res, &err)) {
            dca_hard_destroy(hard);
            cli_fail(EXIT_RUNTIME, "%s", err.msg);
            goto out;
        }
        dca_hard_destroy(hard);
        t.eval = res;
        t.has_eval = true;
        if (speak)
            printf("density classification of the hardened rule: accuracy %.4f +- %.4f (%lld "
                   "samples)\n", res.accuracy, res.standard_error, (long long)res.samples);
    }
    if (save_agreed(&t, outpath, true, &err)) {
        rc = fail_agreed(err.msg);
        goto out;
    }
    rc = EXIT_OK;
out:
    cleanup(&t);
    return rc;
}
