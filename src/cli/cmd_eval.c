/* dca eval CONFIG: the hardened rule as an ordinary CA on the density-
 * classification task. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/par.h"
#include "config.h"
#include "experiment.h"
#include "density.h"
#include "io/io.h"

static const char help[] =
    "usage: dca eval CONFIG [--rule RUN.h5] [-o OUT.h5] [--set S.K=V]... [--threads N] [--quiet]\n"
    "\n"
    "Hardens the rule (rho >= 1/2 -> 1; softmax: the most probable state) and runs it\n"
    "as an ordinary cellular automaton on the density-classification task: [eval]\n"
    "samples random configurations of the [lattice] (each cell 1 with probability 1/2\n"
    "by default), up to [eval] steps steps (default 2 x cells); a sample is correct\n"
    "when the lattice reaches the uniform state of its initial majority and that\n"
    "state is a fixed point of the rule (a rule that flips uniform lattices never\n"
    "classifies: it would otherwise score by the parity of the step limit). Prints the\n"
    "accuracy with its binomial standard error and the hardened rule. Binary rules\n"
    "run bit-sliced (64 configurations per machine word, the rule compiled to a\n"
    "Boolean circuit); others with 8-bit states. Both give the same outcomes.\n"
    "\n"
    "  --rule RUN.h5   take the weights from a run file's /rule/weights (its\n"
    "                  neighbourhood must be the configuration's)\n"
    "  -o OUT.h5       also write a run file with /rule and /eval\n";

static const char *eval_extra(int argc, char **argv, int *i, void *ctx)
{
    const char **rule = ctx;
    if (strcmp(argv[*i], "--rule") != 0)
        return NULL;
    if (*i + 1 >= argc) {
        cli_fail(EXIT_USAGE, "--rule needs a run file");
        return "error";
    }
    *rule = argv[++*i];
    return "ok";
}

/* The run file's neighbourhood must be the configuration's. */
static int check_offsets(const char *path, const dca_nbhd *nb)
{
    double *off = NULL;
    int rank = 0;
    int64_t dims[DCA_H5_MAX_RANK];
    dca_error err;
    if (dca_h5_read_doubles(path, "/rule/offsets", &off, &rank, dims, &err))
        return cli_fail(EXIT_USAGE, "--rule %s", err.msg);
    const int m = dca_nbhd_count(nb), d = dca_nbhd_dims(nb);
    bool same = rank == 2 && dims[0] == m && dims[1] == d;
    for (int i = 0; same && i < m * d; i++)
        same = off[i] == dca_nbhd_offsets(nb)[i];
    free(off);
    if (!same)
        return cli_fail(EXIT_USAGE, "--rule %s: its /rule/offsets differ from the configuration's "
                                    "neighbourhood", path);
    return -1;
}

int cmd_eval(int argc, char **argv, char *command_line)
{
    cli_common o = {0};
    const char *rule_file = NULL;
    dca_config *cfg = NULL;
    dca_experiment *ex = NULL;
    dca_hard *h = NULL;
    dca_runfile *rf = NULL;
    dca_error err;
    int rc = cli_parse_common(argc, argv, help, &o, eval_extra, &rule_file);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (cli_load(&o, &cfg, &ex) >= 0)
        goto out;
    if (rule_file) {
        char spec[4200];
        snprintf(spec, sizeof spec, "file:%s:/rule/weights", rule_file);
        if ((rc = check_offsets(rule_file, ex->nb)) >= 0)
            goto out;
        rc = EXIT_USAGE;
        if (dca_rule_load_weights(ex->rule, spec, 0, ".", &err)) {
            cli_fail(EXIT_USAGE, "--rule %s", err.msg);
            goto out;
        }
    }
    if (o.threads)
        omp_set_num_threads(o.threads);
    if (dca_hard_create(&ex->lat, ex->rule, o.threads, &h, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    const int64_t cells = dca_lattice_cells(&ex->lat);
    const int64_t steps = cfg->eval_steps ? cfg->eval_steps : 2 * cells;
    dca_density_result res;
    if (cli_eval_density(h, cfg, steps, &res, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    const bool speak = par_rank() == 0;
    rc = EXIT_RUNTIME;
    size_t hexlen = (size_t)(dca_rule_patterns(ex->rule) / 4 + 2);
    char *hex = malloc(hexlen);
    if (!hex) {
        cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    bool has_hex = dca_rule_hex(ex->rule, hex, hexlen);
    if (speak) {
        printf("density classification: %lld cells, %lld samples (%s, seed %llu), up to %lld "
               "steps\n",
               (long long)cells, (long long)res.samples, cfg->eval_kind,
               (unsigned long long)cfg->eval_seed, (long long)steps);
        printf("accuracy %.4f +- %.4f (standard error; %lld correct)\n", res.accuracy,
               res.standard_error, (long long)res.correct);
        cli_print_hardened(ex->rule);
    }
    if (!o.quiet && speak)
        fprintf(stderr, "%.3g s, %.3g cell-updates/s (%s evaluator%s)\n", res.seconds,
                res.cell_updates_per_second, res.engine,
                par_many() ? ", all ranks" : "");
    if (o.output) {
        if (cli_make_parent_dirs(o.output) != 0) {
            cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", o.output);
            free(hex);
            goto out;
        }
        dca_run_meta meta = {dca_config_text(cfg), command_line, 1.0, .alone = false};
        double acc = res.accuracy, se = res.standard_error;
        if (dca_runfile_create(o.output, &meta, &rf, &err) ||
            dca_runfile_write_rule(rf, ex->rule, cfg->neighborhood, &err) ||
            dca_runfile_array(rf, "/eval/accuracy", 0, NULL, &acc, &err) ||
            dca_runfile_array(rf, "/eval/standard_error", 0, NULL, &se, &err) ||
            dca_runfile_attr_i64(rf, "/eval", "samples", res.samples, &err) ||
            dca_runfile_attr_i64(rf, "/eval", "correct", res.correct, &err) ||
            dca_runfile_attr_i64(rf, "/eval", "max_steps", steps, &err) ||
            dca_runfile_attr_str(rf, "/eval", "task", "density-classification", &err) ||
            dca_runfile_attr_str(rf, "/eval", "kind", cfg->eval_kind, &err) ||
            dca_runfile_attr_i64(rf, "/eval", "seed", (int64_t)cfg->eval_seed, &err) ||
            (has_hex && dca_runfile_attr_str(rf, "/eval", "hardened_hex", hex, &err))) {
            cli_fail(EXIT_RUNTIME, "%s", err.msg);
            free(hex);
            goto out;
        }
        dca_status st = dca_runfile_close(rf, true, &err);
        rf = NULL;
        if (st) {
            cli_fail(EXIT_RUNTIME, "%s", err.msg);
            free(hex);
            goto out;
        }
    }
    free(hex);
    rc = EXIT_OK;
out:
    if (rf)
        dca_runfile_close(rf, false, NULL);
    dca_hard_destroy(h);
    dca_experiment_destroy(ex);
    dca_config_destroy(cfg);
    free(o.sets);
    return rc;
}
