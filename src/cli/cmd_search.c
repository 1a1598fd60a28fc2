/* dca search CONFIG: population search over hard rule tables (exp/search.h),
 * every run's history in /search of a run file. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"
#include "experiment.h"
#include "io/io.h"
#include "search.h"

static const char help[] =
    "usage: dca search CONFIG [-o OUT.h5] [--resume OUT.h5] [--set S.K=V]... [--threads N]\n"
    "                  [--quiet]\n"
    "\n"
    "Searches hard binary rule tables of the configuration's [lattice] neighbourhood for\n"
    "density classification with the [search] strategy (ga, ga-gradient, coevolution,\n"
    "coevolution-gradient, sa, sa-gradient, nes): [search] runs independent runs of\n"
    "[search] generations, each rule scored on fresh configurations with the\n"
    "bit-sliced evaluator, the generation's best rule scored every test-every\n"
    "generations on a fixed test set. Writes every run's history to /search of the\n"
    "run file (rewritten as runs finish: a stopped search keeps the runs it finished)\n"
    "and the best rule found to /rule, so that `dca eval CONFIG --rule OUT.h5` scores\n"
    "it on more samples. Prints each run's result and the distribution over runs.\n"
    "[search] symmetry = complement-reflection searches only rules with GKL's symmetry\n"
    "(the mirror image of a neighbourhood with 0 and 1 swapped gets the opposite state).\n"
    "\n"
    "Independent runs go side by side, one per thread (--threads N: N at a time); a\n"
    "run's result does not depend on that. A search of one run uses every thread.\n"
    "\n"
    "  -o OUT.h5       the run file (default [output] file)\n"
    "  --resume OUT.h5 continue a search from its run file: its finished runs are kept\n"
    "                  and the next run starts where it stopped (runs are keyed by their\n"
    "                  index, so the result is the uninterrupted search's); [search]\n"
    "                  runs may be raised to add runs\n";

static const char *search_extra(int argc, char **argv, int *i, void *ctx)
{
    const char **resume = ctx;
    if (strcmp(argv[*i], "--resume") != 0)
        return NULL;
    if (*i + 1 >= argc) {
        cli_fail(EXIT_USAGE, "--resume needs a run file");
        return "error";
    }
    *resume = argv[++*i];
    return "ok";
}

/* hex: of a 0/1 table, dca's order (bit i = pattern i, most significant
 * digit first). */
static void table_hex(const uint8_t *t, int64_t P, char *buf)
{
    static const char d[] = "0123456789abcdef";
    int64_t digits = P < 4 ? 1 : P / 4;
    strcpy(buf, "hex:");
    for (int64_t k = 0; k < digits; k++) {
        int64_t base = 4 * (digits - 1 - k);
        int v = 0;
        for (int b = 0; b < 4; b++)
            if (base + b < P && t[base + b])
                v |= 1 << b;
        buf[4 + k] = d[v];
    }
    buf[4 + digits] = '\0';
}

typedef struct search_state {
    const dca_config *cfg;
    int64_t R, G, P, tests;
    double *best_fitness, *mean_fitness, *evaluations, *best_rule, *test_accuracy;
    double *final_rule, *final_test, *gradient_evaluations, *seconds;
    uint8_t *final_bytes;
    int64_t generations_done;
    progress pg;
    bool quiet;
    double evaluations_done;
} search_state;

static void on_progress(void *ctx, int64_t run, int64_t gen, double best, double test)
{
    search_state *s = ctx;
    (void)run, (void)gen, (void)best, (void)test;
#pragma omp critical
    {
        s->evaluations_done +=
            (double)(s->cfg->search.population * s->cfg->search.configurations);
        s->generations_done++;
        progress_update(&s->pg, s->generations_done, s->R * s->G, s->evaluations_done,
                        "configuration-runs");
    }
}

/* Writes the runs finished so far (`done` of them). */
static int write_file(search_state *s, const char *path, const dca_experiment *ex,
                      const char *command_line, int64_t done, double secs, dca_config *cfg)
{
    dca_error err;
    dca_runfile *rf = NULL;
    dca_run_meta meta = {dca_config_text(cfg), command_line, 1.0, .alone = false};
    const int64_t R = done, G = s->G, P = s->P, T = s->tests;
    int64_t d2[2] = {R, G}, d3[3] = {R, G, P}, dt[2] = {R, T}, dr[2] = {R, P}, d1[1] = {R};
    int64_t dtg[1] = {T};
    double *tg = malloc((size_t)(T ? T : 1) * sizeof *tg);
    if (!tg)
        return cli_fail(EXIT_RUNTIME, "out of memory");
    for (int64_t i = 0; i < T; i++)
        tg[i] = (double)dca_search_test_generation(&cfg->search, i);
    /* The best rule over the runs: /rule, for dca eval --rule. */
    int64_t best = 0;
    for (int64_t r = 1; r < R; r++)
        if (s->final_test[r] > s->final_test[best])
            best = r;
    char *hex = malloc((size_t)(P / 4 + 8));
    if (!hex) {
        free(tg);
        return cli_fail(EXIT_RUNTIME, "out of memory");
    }
    table_hex(s->final_bytes + best * P, P, hex);
    dca_status st = dca_rule_load_weights(ex->rule, hex, 0, ".", &err);
    if (!st)
        st = dca_runfile_create(path, &meta, &rf, &err);
    if (!st)
        st = dca_runfile_write_rule(rf, ex->rule, cfg->neighborhood, &err);
    if (!st)
        st = dca_runfile_array(rf, "/search/best_fitness", 2, d2, s->best_fitness, &err);
    if (!st)
        st = dca_runfile_array(rf, "/search/mean_fitness", 2, d2, s->mean_fitness, &err);
    if (!st)
        st = dca_runfile_array(rf, "/search/evaluations", 2, d2, s->evaluations, &err);
    if (!st)
        st = dca_runfile_array(rf, "/search/best_rule", 3, d3, s->best_rule, &err);
    if (!st)
        st = dca_runfile_array(rf, "/search/test_accuracy", 2, dt, s->test_accuracy, &err);
    if (!st)
        st = dca_runfile_array(rf, "/search/test_generation", 1, dtg, tg, &err);
    if (!st)
        st = dca_runfile_array(rf, "/search/final_rule", 2, dr, s->final_rule, &err);
    if (!st)
        st = dca_runfile_array(rf, "/search/final_test", 1, d1, s->final_test, &err);
    if (!st)
        st = dca_runfile_array(rf, "/search/gradient_evaluations", 1, d1,
                               s->gradient_evaluations, &err);
    if (!st)
        st = dca_runfile_array(rf, "/search/seconds", 1, d1, s->seconds, &err);
    const dca_search_options *o = &cfg->search;
    if (!st)
        st = dca_runfile_attr_str(rf, "/search", "strategy", o->strategy, &err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/search", "symmetry", o->symmetry ? o->symmetry : "none",
                                  &err);
    if (!st)
        st = dca_runfile_attr_i64(rf, "/search", "runs", R, &err);
    if (!st)
        st = dca_runfile_attr_i64(rf, "/search", "runs_planned", s->R, &err);
    if (!st)
        st = dca_runfile_attr_i64(rf, "/search", "budget",
                                  R ? (int64_t)s->evaluations[G - 1] : 0, &err);
    if (!st)
        st = dca_runfile_attr_str(rf, "/search", "best_hex", hex, &err);
    if (!st)
        st = dca_runfile_attr_f64(rf, "/search", "best_test", R ? s->final_test[best] : NAN,
                                  &err);
    if (!st)
        st = dca_runfile_attr_f64(rf, "/search", "wall_seconds", secs, &err);
    free(tg), free(hex);
    if (st) {
        if (rf)
            dca_runfile_close(rf, false, NULL);
        return cli_fail(EXIT_RUNTIME, "%s: %s", path, err.msg);
    }
    if (dca_runfile_close(rf, true, &err))
        return cli_fail(EXIT_RUNTIME, "%s: %s", path, err.msg);
    return -1;
}

/* One dataset of a run file being resumed: `done` runs of `row` doubles
 * each into dst. Returns -1, or an exit code after the error. */
static int load(const char *path, const char *name, int rank, const int64_t *want, double *dst,
                int64_t *done)
{
    double *d = NULL;
    int r = 0;
    int64_t dims[DCA_H5_MAX_RANK];
    dca_error err;
    if (dca_h5_read_doubles(path, name, &d, &r, dims, &err))
        return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
    bool ok = r == rank;
    for (int k = 1; ok && k < rank; k++)
        ok = dims[k] == want[k];
    if (ok && *done >= 0)
        ok = dims[0] == *done;
    if (!ok) {
        free(d);
        return cli_fail(EXIT_USAGE, "--resume %s: %s has another shape than this "
                                    "configuration's search makes (different generations, "
                                    "population, tests or neighbourhood?)", path, name);
    }
    *done = dims[0];
    int64_t row = 1;
    for (int k = 1; k < rank; k++)
        row *= dims[k];
    memcpy(dst, d, (size_t)(dims[0] * row) * sizeof *d);
    free(d);
    return -1;
}

/* Reads the finished runs of a search's run file into s. */
static int resume_from(search_state *s, const char *path, int64_t *done)
{
    char *strategy = NULL;
    dca_error err;
    if (dca_h5_read_string_attr(path, "/search", "strategy", &strategy, &err))
        return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
    bool same = strcmp(strategy, s->cfg->search.strategy) == 0;
    free(strategy);
    if (!same)
        return cli_fail(EXIT_USAGE, "--resume %s: it was made by another [search] strategy",
                        path);
    /* Files from before [search] symmetry have none. */
    char *sym = NULL;
    const char *want = s->cfg->search.symmetry ? s->cfg->search.symmetry : "none";
    same = dca_h5_read_string_attr(path, "/search", "symmetry", &sym, &err) != DCA_OK
               ? strcmp(want, "none") == 0
               : strcmp(sym, want) == 0;
    free(sym);
    if (!same)
        return cli_fail(EXIT_USAGE, "--resume %s: it was made with another [search] symmetry",
                        path);
    const int64_t G = s->G, P = s->P, T = s->tests;
    int64_t d2[2] = {0, G}, d3[3] = {0, G, P}, dt[2] = {0, T}, dr[2] = {0, P}, d1[1] = {0};
    *done = -1;
    int rc;
    if ((rc = load(path, "/search/best_fitness", 2, d2, s->best_fitness, done)) >= 0)
        return rc;
    if (*done > s->R)
        return cli_fail(EXIT_USAGE, "--resume %s holds %lld runs; [search] runs is %lld", path,
                        (long long)*done, (long long)s->R);
    if ((rc = load(path, "/search/mean_fitness", 2, d2, s->mean_fitness, done)) >= 0 ||
        (rc = load(path, "/search/evaluations", 2, d2, s->evaluations, done)) >= 0 ||
        (rc = load(path, "/search/best_rule", 3, d3, s->best_rule, done)) >= 0 ||
        (rc = load(path, "/search/test_accuracy", 2, dt, s->test_accuracy, done)) >= 0 ||
        (rc = load(path, "/search/final_rule", 2, dr, s->final_rule, done)) >= 0 ||
        (rc = load(path, "/search/final_test", 1, d1, s->final_test, done)) >= 0 ||
        (rc = load(path, "/search/gradient_evaluations", 1, d1, s->gradient_evaluations,
                   done)) >= 0 ||
        (rc = load(path, "/search/seconds", 1, d1, s->seconds, done)) >= 0)
        return rc;
    for (int64_t i = 0; i < *done * P; i++)
        s->final_bytes[i] = s->final_rule[i] != 0;
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_search(int argc, char **argv, char *command_line)
{
    cli_common o = {0};
    dca_config *cfg = NULL;
    dca_experiment *ex = NULL;
    dca_search *srch = NULL, **workers = NULL;
    search_state s = {0};
    uint8_t *thread_bytes = NULL;
    dca_error *run_err = NULL;
    dca_status *run_st = NULL;
    dca_search_history *run_h = NULL;
    uint8_t *finished = NULL;
    int nthreads = 1, n_workers = 0;
    dca_error err;
    const char *resume = NULL;
    int rc = cli_parse_common(argc, argv, help, &o, search_extra, &resume);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    if (cli_load(&o, &cfg, &ex) >= 0)
        goto out;
    if (o.threads)
        omp_set_num_threads(o.threads);
    nthreads = o.threads ? o.threads : omp_get_max_threads();
    dca_search_options opt = cfg->search;
    opt.threads = o.threads;
    if (opt.elite >= opt.population) {
        rc = cli_fail_at(cfg, "search", "elite", "must be smaller than [search] population");
        goto out;
    }
    if (dca_search_create(&ex->lat, ex->rule, &opt, &srch, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    rc = EXIT_RUNTIME;
    s.cfg = cfg;
    s.R = opt.runs;
    s.G = opt.generations;
    s.P = dca_search_patterns(srch);
    s.tests = dca_search_tests(&opt);
    const int64_t R = s.R, G = s.G, P = s.P, T = s.tests;
    s.best_fitness = calloc((size_t)(R * G), sizeof(double));
    s.mean_fitness = calloc((size_t)(R * G), sizeof(double));
    s.evaluations = calloc((size_t)(R * G), sizeof(double));
    s.best_rule = calloc((size_t)(R * G * P), sizeof(double));
    s.test_accuracy = calloc((size_t)(R * (T ? T : 1)), sizeof(double));
    s.final_rule = calloc((size_t)(R * P), sizeof(double));
    s.final_test = calloc((size_t)R, sizeof(double));
    s.gradient_evaluations = calloc((size_t)R, sizeof(double));
    s.seconds = calloc((size_t)R, sizeof(double));
    s.final_bytes = calloc((size_t)(R * P), 1);
    if (!s.best_fitness || !s.mean_fitness || !s.evaluations || !s.best_rule ||
        !s.test_accuracy || !s.final_rule || !s.final_test || !s.gradient_evaluations ||
        !s.seconds || !s.final_bytes) {
        cli_fail(EXIT_RUNTIME, "out of memory for the search history (%lld runs x %lld "
                               "generations x %lld entries)", (long long)R, (long long)G,
                 (long long)P);
        goto out;
    }
    const char *outpath = o.output ? o.output : (resume ? resume : cfg->output_file);
    int64_t done = 0;
    if (resume && (rc = resume_from(&s, resume, &done)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    if (cli_make_parent_dirs(outpath) != 0) {
        cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    cli_catch_signals();
    progress_init(&s.pg, o.quiet);
    s.evaluations_done = (double)done * (double)(G * opt.population * opt.configurations);
    s.generations_done = done * G;
    const double t0 = cli_now();
    printf("search: %s, %lld runs x %lld generations, population %lld, %lld configurations "
           "per generation (%s), %lld-entry tables%s\n",
           opt.strategy, (long long)R, (long long)G, (long long)opt.population,
           (long long)opt.configurations, opt.kind, (long long)P,
           opt.symmetry && strcmp(opt.symmetry, "none") != 0
               ? " (complement-reflection symmetric: half of them free)"
               : "");
    if (done)
        printf("resumed: %lld runs from %s\n", (long long)done, resume);
    /* Independent runs go side by side, each on one thread (a run's result
     * does not depend on its thread count): every thread takes the next run
     * not started, and finished runs are reported and written in run order,
     * as soon as all runs before them have finished. A search with one run
     * left uses all threads inside the run. */
    const int K = (int)(R - done < nthreads ? R - done : nthreads);
    thread_bytes = malloc((size_t)((K > 1 ? K : 1) * G * P));
    run_err = calloc((size_t)R, sizeof *run_err);
    run_st = calloc((size_t)R, sizeof *run_st);
    run_h = calloc((size_t)R, sizeof *run_h);
    finished = calloc((size_t)R, 1);
    if (!thread_bytes || !run_err || !run_st || !run_h || !finished) {
        cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    if (K > 1) {
        dca_search_options one = opt;
        one.threads = 1;
        workers = calloc((size_t)K, sizeof *workers);
        n_workers = workers ? K : 0;
        if (!workers) {
            cli_fail(EXIT_RUNTIME, "out of memory");
            goto out;
        }
        for (int k = 0; k < K; k++)
            if (dca_search_create(&ex->lat, ex->rule, &one, &workers[k], &err)) {
                cli_fail(EXIT_RUNTIME, "%s", err.msg);
                goto out;
            }
    }
    int64_t next = done, failed_run = -1;
    int write_rc = -1;
#pragma omp parallel num_threads(K > 1 ? K : 1)
    {
        const int k = omp_get_thread_num();
        uint8_t *bytes = thread_bytes + (int64_t)k * G * P;
        for (;;) {
            int64_t r;
#pragma omp critical
            r = failed_run >= 0 || write_rc >= 0 || cli_interrupted() ? R : next++;
            if (r >= R)
                break;
            run_h[r] = (dca_search_history){s.best_fitness + r * G, s.mean_fitness + r * G,
                                              s.evaluations + r * G, bytes,
                                              s.test_accuracy + r * T, s.final_bytes + r * P,
                                              NAN, 0};
            double tr = cli_now();
            dca_status st = dca_search_run(K > 1 ? workers[k] : srch, r, &run_h[r],
                                           on_progress, &s, &run_err[r]);
            s.seconds[r] = cli_now() - tr;
            for (int64_t i = 0; i < G * P; i++)
                s.best_rule[r * G * P + i] = bytes[i];
#pragma omp critical
            {
                run_st[r] = st;
                finished[r] = 1;
                if (st && (failed_run < 0 || r < failed_run))
                    failed_run = r;
                int64_t was = done;
                while (done < R && finished[done] && !run_st[done]) {
                    const int64_t q = done++;
                    for (int64_t i = 0; i < P; i++)
                        s.final_rule[q * P + i] = s.final_bytes[q * P + i];
                    s.final_test[q] = run_h[q].final_test;
                    s.gradient_evaluations[q] = (double)run_h[q].gradient_evaluations;
                    char hex[4200];
                    if (P <= 4 * 1024)
                        table_hex(s.final_bytes + q * P, P, hex);
                    else
                        strcpy(hex, "(see /search/final_rule)");
                    progress_end(&s.pg);
                    printf("run %lld: test accuracy %.4f, final fitness %.2f, %.3g "
                           "configuration-runs, %.1f s, %s\n",
                           (long long)q, run_h[q].final_test, s.best_fitness[q * G + G - 1],
                           s.evaluations[q * G + G - 1], s.seconds[q], hex);
                }
                if (done > was) {
                    fflush(stdout);
                    if (write_rc < 0)
                        write_rc = write_file(&s, outpath, ex, command_line, done,
                                              cli_now() - t0, cfg);
                }
            }
        }
    }
    progress_end(&s.pg);
    if (write_rc >= 0) {
        rc = write_rc;
        goto out;
    }
    if (failed_run >= 0) {
        cli_fail(EXIT_RUNTIME, "run %lld: %s", (long long)failed_run, run_err[failed_run].msg);
        goto out;
    }
    if (done) {
        double *sorted = malloc((size_t)done * sizeof *sorted);
        if (!sorted) {
            cli_fail(EXIT_RUNTIME, "out of memory");
            goto out;
        }
        memcpy(sorted, s.final_test, (size_t)done * sizeof *sorted);
        qsort(sorted, (size_t)done, sizeof *sorted, cmp_double);
        int64_t high = 0;
        double mean = 0;
        for (int64_t r = 0; r < done; r++) {
            high += sorted[r] >= 0.75;
            mean += sorted[r];
        }
        printf("over %lld run%s: test accuracy mean %.4f, median %.4f, max %.4f; %lld run%s "
               "(%.0f %%) reach%s >= 0.75\n",
               (long long)done, done == 1 ? "" : "s", mean / (double)done,
               0.5 * (sorted[(done - 1) / 2] + sorted[done / 2]), sorted[done - 1],
               (long long)high, high == 1 ? "" : "s", 100.0 * (double)high / (double)done,
               high == 1 ? "es" : "");
        free(sorted);
        printf("wrote %s (%.1f s)\n", outpath, cli_now() - t0);
    }
    if (cli_interrupted()) {
        fprintf(stderr, "dca: interrupted after %lld of %lld runs; %s holds them\n",
                (long long)done, (long long)R, outpath);
        rc = EXIT_RUNTIME;
        goto out;
    }
    rc = EXIT_OK;
out:
    free(s.best_fitness), free(s.mean_fitness), free(s.evaluations), free(s.best_rule);
    free(s.test_accuracy), free(s.final_rule), free(s.final_test), free(s.gradient_evaluations);
    free(s.seconds), free(s.final_bytes);
    free(thread_bytes), free(run_err), free(run_st), free(run_h), free(finished);
    for (int k = 0; k < n_workers; k++)
        dca_search_destroy(workers[k]);
    free(workers);
    dca_search_destroy(srch);
    dca_experiment_destroy(ex);
    dca_config_destroy(cfg);
    free(o.sets);
    return rc;
}
