/* dca run CONFIG: simulate and write a run file. */
#include <cblas.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "config.h"
#include "experiment.h"
#include "io/io.h"
#include "mem.h"
#include "text.h"

static const char help[] =
    "usage: dca run CONFIG [-o OUT.h5] [--set SECTION.KEY=VALUE]... [--threads N] [--quiet]\n"
    "\n"
    "Simulates the experiment in CONFIG (an INI file; keys in configs/README.md) and\n"
    "writes the rule and the recorded values to an HDF5 run file (docs/hdf5-layout.md).\n"
    "\n"
    "  -o, --output OUT.h5   run file (default: [output] file, runs/<config name>.h5)\n"
    "  --set S.K=V           override key K of section S (repeatable)\n"
    "  --threads N           OpenMP threads (default: OMP_NUM_THREADS or all cores);\n"
    "                        results are identical for any N\n"
    "  -q, --quiet           no progress line or summary\n"
    "\n"
    "The file is written as OUT.h5.partial and renamed when complete.\n";

/* Parses the options common to run-like commands. Returns -1 when the
 * caller should continue, else an exit code. */
static int parse_common(int argc, char **argv, const char *usage_text, cli_common *o)
{
    o->sets = calloc((size_t)argc, sizeof *o->sets);
    if (!o->sets)
        return cli_fail(EXIT_RUNTIME, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
#define VALUE(name)                                                                       \
    (strncmp(a, name "=", sizeof name) == 0 ? (v = a + sizeof name)                       \
     : strcmp(a, name) == 0 && i + 1 < argc ? (v = argv[++i])                             \
     : strcmp(a, name) == 0                  ? (v = NULL, a)                              \
                                             : NULL)
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (VALUE("-o") || VALUE("--output")) {
            if (!v)
                return cli_fail(EXIT_USAGE, "%s needs a file name", a);
            o->output = v;
        } else if (VALUE("--set")) {
            if (!v)
                return cli_fail(EXIT_USAGE, "--set needs SECTION.KEY=VALUE");
            o->sets[o->n_sets++] = v;
        } else if (VALUE("--threads")) {
            int64_t n;
            if (!v || !dca_parse_i64(v, &n) || n < 1 || n > 4096)
                return cli_fail(EXIT_USAGE, "--threads needs a whole number from 1 to 4096");
            o->threads = (int)n;
        } else if (a[0] == '-' && a[1]) {
            fputs(usage_text, stderr);
            return cli_fail(EXIT_USAGE, "unknown option '%s'", a);
        } else if (!o->config) {
            o->config = a;
        } else {
            return cli_fail(EXIT_USAGE, "unexpected argument '%s' (one CONFIG only)", a);
        }
#undef VALUE
    }
    if (!o->config) {
        fputs(usage_text, stderr);
        return cli_fail(EXIT_USAGE, "missing CONFIG");
    }
    return -1;
}

/* mkdir -p of path's directory. */
static int make_parent_dirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return 0;
    *slash = '\0';
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int cmd_run(int argc, char **argv, char *command_line)
{
    cli_common o = {0};
    int rc = parse_common(argc, argv, help, &o);
    dca_config *cfg = NULL;
    dca_experiment *ex = NULL;
    dca_sim *sim = NULL;
    dca_runfile *rf = NULL;
    double *buf[2] = {NULL, NULL};
    int64_t *times = NULL;
    dca_error err;
    if (rc >= 0)
        goto out;

    if (dca_config_load(o.config, o.sets, o.n_sets, &cfg, &err)) {
        rc = cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    if (dca_experiment_build(cfg, &ex, &err)) {
        rc = cli_fail(err.status == DCA_ERR_IO || err.status == DCA_ERR_NOMEM ||
                              err.status == DCA_ERR_FORMAT || err.status == DCA_ERR_ARG ||
                              err.status == DCA_ERR_CONFIG || err.status == DCA_ERR_UNSUPPORTED
                          ? EXIT_USAGE
                          : EXIT_RUNTIME,
                      "%s", err.msg);
        goto out;
    }
    if (o.threads)
        omp_set_num_threads(o.threads);
    dca_sim_options so = {.kernel = DCA_KERNEL_AUTO, .threads = o.threads};
    if (dca_sim_create(&ex->lat, ex->rule, ex->batch, &so, &sim, &err)) {
        rc = cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }

    const int64_t B = ex->batch, len = ex->config_len, T = cfg->steps;
    const int64_t G = cfg->record_configurations ? cfg->record_configurations : B;
    const int64_t every = cfg->record_every;
    const int64_t rows = T / every + 1 + (T % every != 0);
    double need = 16.0 * (double)B * (double)len;
    if (need > (double)dca_mem_physical() / 2) {
        char a[32], b[32];
        rc = cli_fail(EXIT_USAGE, "the state of %lld configurations needs %s; this machine has %s",
                      (long long)B, dca_mem_fmt(need, a, sizeof a),
                      dca_mem_fmt((double)dca_mem_physical(), b, sizeof b));
        goto out;
    }
    buf[0] = ex->x0;
    ex->x0 = NULL;
    buf[1] = dca_alloc((size_t)(B * len) * sizeof(double));
    times = malloc((size_t)rows * sizeof *times);
    if (!buf[1] || !times) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory for %lld configurations", (long long)B);
        goto out;
    }
    for (int64_t r = 0; r < rows; r++)
        times[r] = r * every < T ? r * every : T;

    const char *outpath = o.output ? o.output : cfg->output_file;
    if (make_parent_dirs(outpath) != 0) {
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot create its directory: %s", outpath,
                      strerror(errno));
        goto out;
    }
    dca_run_meta meta = {dca_config_text(cfg), command_line, 1.0};
    if (dca_runfile_create(outpath, &meta, &rf, &err) ||
        dca_runfile_write_rule(rf, ex->rule, cfg->neighborhood, &err)) {
        rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto out;
    }
    int sid = -1;
    if (cfg->record_values) {
        dca_series_spec sp = {.name = "/run/values", .configs = G, .rows = rows, .times = times,
                              .gzip = cfg->gzip};
        for (int d = 0; d < ex->lat.dims; d++)
            sp.inner[sp.inner_rank++] = ex->lat.shape[d];
        if (ex->lat.dims == 1) {
            sp.inner_labels[0] = "cell";
        } else {
            sp.inner_labels[0] = "row";
            sp.inner_labels[1] = "column";
        }
        if (cfg->mode == DCA_MODE_SOFTMAX) {
            sp.inner_labels[sp.inner_rank] = "state";
            sp.inner[sp.inner_rank++] = cfg->states;
        }
        if (dca_runfile_series(rf, &sp, &sid, &err) ||
            dca_runfile_series_row(rf, sid, 0, buf[0], len, &err)) {
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
            goto out;
        }
    }

    int64_t cells = dca_lattice_cells(&ex->lat);
    if (!o.quiet) {
        char lat[64];
        if (ex->lat.dims == 1)
            snprintf(lat, sizeof lat, "ring of %lld", (long long)cells);
        else
            snprintf(lat, sizeof lat, "%lldx%lld torus", (long long)ex->lat.shape[0],
                     (long long)ex->lat.shape[1]);
        fprintf(stderr, "dca run: %s, %s %s rule over %s (%lld parameters), %lld configuration%s, "
                        "%lld steps, %d thread%s -> %s\n",
                lat, cfg->mode == DCA_MODE_BINARY ? "binary" : "softmax",
                dca_rule_is_hard(ex->rule) ? "hard" : "soft", cfg->neighborhood,
                (long long)dca_rule_params(ex->rule), (long long)B, B == 1 ? "" : "s",
                (long long)T, dca_sim_threads(sim), dca_sim_threads(sim) == 1 ? "" : "s",
                outpath);
    }
    cli_catch_signals();
    progress pr;
    progress_init(&pr, o.quiet);
    double step_time = 0, t_start = cli_now();
    int64_t row = 1, t = 0;
    for (t = 1; t <= T; t++) {
        if (cli_interrupted())
            break;
        double t0 = cli_now();
        dca_sim_step(sim, buf[0], buf[1]);
        step_time += cli_now() - t0;
        double *sw = buf[0];
        buf[0] = buf[1];
        buf[1] = sw;
        if (sid >= 0 && row < rows && times[row] == t) {
            if (dca_runfile_series_row(rf, sid, row, buf[0], len, &err)) {
                progress_end(&pr);
                rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
                goto out;
            }
            row++;
        }
        progress_update(&pr, t, T, (double)t * (double)cells * (double)B, "cell-updates");
    }
    progress_end(&pr);
    double wall = cli_now() - t_start;
    int64_t done = t - 1;
    double rate = step_time > 0 ? (double)done * (double)cells * (double)B / step_time : 0;
    dca_runfile_attr_i64(rf, "/run", "steps", T, &err);
    dca_runfile_attr_i64(rf, "/run", "steps_done", done, &err);
    dca_runfile_attr_i64(rf, "/run", "configurations", B, &err);
    dca_runfile_attr_i64(rf, "/run", "threads", dca_sim_threads(sim), &err);
    dca_runfile_attr_str(rf, "/run", "kernel",
                         dca_sim_kernel(sim) == DCA_KERNEL_BLAS ? "blas" : "reference", &err);
    dca_runfile_attr_i64(rf, "/run", "tile_cells", dca_sim_tile_cells(sim), &err);
    dca_runfile_attr_f64(rf, "/run", "step_seconds", step_time, &err);
    dca_runfile_attr_f64(rf, "/run", "wall_seconds", wall, &err);
    dca_runfile_attr_f64(rf, "/run", "cell_updates_per_second", rate, &err);
    dca_runfile_attr_str(rf, "/run", "openblas_config", openblas_get_config(), &err);
    dca_runfile_attr_str(rf, "/run", "openblas_core", openblas_get_corename(), &err);
    if (cli_interrupted()) {
        char partial[4200];
        snprintf(partial, sizeof partial, "%s", dca_runfile_partial_path(rf));
        dca_status st = dca_runfile_close(rf, false, &err);
        rf = NULL;
        if (st)
            rc = cli_fail(EXIT_RUNTIME, "interrupted at step %lld, and saving failed: %s",
                          (long long)done, err.msg);
        else
            rc = cli_fail(EXIT_RUNTIME,
                          "interrupted after step %lld of %lld; the %lld recorded rows are in %s",
                          (long long)done, (long long)T, (long long)row, partial);
        goto out;
    }
    dca_status st = dca_runfile_close(rf, true, &err);
    rf = NULL;
    if (st) {
        rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto out;
    }
    if (!o.quiet)
        fprintf(stderr, "wrote %s: %lld rows x %lld configurations; %lld steps in %.3g s "
                        "(%.3g cell-updates/s), %.3g s in all\n",
                outpath, (long long)(sid >= 0 ? rows : 0), (long long)(sid >= 0 ? G : 0),
                (long long)T, step_time, rate, wall);
    rc = EXIT_OK;
out:
    if (rf) {
        /* A failure after the file was created: keep what was written. */
        fprintf(stderr, "dca: partial results kept in %s\n", dca_runfile_partial_path(rf));
        dca_runfile_close(rf, false, NULL);
    }
    free(buf[0]);
    free(buf[1]);
    free(times);
    dca_sim_destroy(sim);
    dca_experiment_destroy(ex);
    dca_config_destroy(cfg);
    free(o.sets);
    return rc;
}
