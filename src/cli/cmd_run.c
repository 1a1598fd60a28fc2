/* dca run CONFIG: simulate, optionally with gradients, and write a run file. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/blas_core.h"
#include "cli/cli.h"
#include "cli/par.h"
#include "config.h"
#include "experiment.h"
#include "dca/gradient.h"
#include "dca/objective.h"
#include "io/io.h"
#include "io/rle.h"
#include "mem.h"
#include "dca/task.h"
#include "cellbits.h"
#include "hard.h"

static const char help[] =
    "usage: dca run CONFIG [-o OUT.h5] [--set SECTION.KEY=VALUE]... [--threads N] [--quiet]\n"
    "\n"
    "Simulates the experiment in CONFIG (an INI file; keys in configs/README.md) and\n"
    "writes the rule, the recorded values and, when asked, gradient diagrams (forward\n"
    "mode) and the loss and its gradient ([task], forward or reverse mode) to an HDF5\n"
    "run file (docs/hdf5-layout.md).\n"
    "\n"
    "  -o, --output OUT.h5   run file (default: [output] file, runs/<config name>.h5)\n"
    "  --set S.K=V           override key K of section S (repeatable)\n"
    "  --threads N           OpenMP threads (default: OMP_NUM_THREADS or all cores);\n"
    "                        results are identical for any N\n"
    "  -q, --quiet           no progress line or summary\n"
    "\n"
    "The file is written as OUT.h5.partial and renamed when complete.\n";

typedef struct run {
    cli_common o;
    dca_config *cfg;
    dca_experiment *ex;
    dca_sim *sim;
    dca_tangent *tg;
    dca_runfile *rf;
    double *buf[2];
    int64_t *times;
    double *phi;          /* task target, B configurations */
    dca_loss_fn loss;
    dca_task_shape shape;
    int values_id, grads_id;
    int64_t B, len, T, G, rows;
    /* MPI ranks: this rank simulates configurations [first, first + B) of
     * Ball, and records the mine of them that are below G. */
    int64_t first, Ball, mine;
    bool forward, reverse;
    char tuned[512]; /* [run] tune = measure: the candidates and their step times */
    /* A hard binary rule on exact 0/1 states, values only: the
     * bit-parallel engine steps the packed configurations (cellbits.h). */
    dca_hard *hard;
    dca_cellbits *cb;
    uint64_t *packed; /* B x dca_cellbits_words */
    /* [run] split = lattice on several ranks: every configuration's part
     * of the lattice (r->sim is a part plan; r->len a window's length). */
    bool split;
    dca_part_info part;
    int64_t cell_len;
} run;

/* The inner axes of a recorded series: lattice, [state], [parameter]. */
static void lattice_axes(const run *r, dca_series_spec *sp, bool with_params)
{
    const dca_lattice *lat = &r->ex->lat;
    for (int d = 0; d < lat->dims; d++)
        sp->inner[sp->inner_rank++] = lat->shape[d];
    if (lat->dims == 1) {
        sp->inner_labels[0] = "cell";
    } else {
        sp->inner_labels[0] = "row";
        sp->inner_labels[1] = "column";
    }
    if (r->cfg->mode == DCA_MODE_SOFTMAX) {
        sp->inner_labels[sp->inner_rank] = "state";
        sp->inner[sp->inner_rank++] = r->cfg->states;
    }
    if (with_params) {
        sp->inner_labels[sp->inner_rank] = "parameter";
        sp->inner[sp->inner_rank++] = dca_rule_params(r->ex->rule);
    }
}

/* One recorded row of values: this rank's configurations, or with a
 * split lattice its part of every recorded configuration. */
static dca_status record_values(run *r, int64_t row, const double *x, dca_error *err)
{
    if (!r->split)
        return dca_runfile_series_part(r->rf, r->values_id, row, r->first, r->mine, x, r->len,
                                       err);
    return dca_runfile_series_cells(r->rf, r->values_id, row, r->ex->lat.dims, r->G,
                                    r->part.lattice_first, r->part.own_count,
                                    x + r->part.own_first * r->cell_len, r->len, err);
}

static dca_status open_series(run *r, dca_error *err)
{
    dca_status st;
    const int64_t P = dca_rule_params(r->ex->rule);
    if (r->cfg->record_values) {
        dca_series_spec sp = {.name = "/run/values", .configs = r->G, .rows = r->rows,
                              .times = r->times, .gzip = r->cfg->gzip};
        lattice_axes(r, &sp, false);
        if ((st = dca_runfile_series(r->rf, &sp, &r->values_id, err)) ||
            (st = record_values(r, 0, r->buf[0], err)))
            return st;
    }
    if (r->cfg->record_gradients) {
        dca_series_spec sp = {.name = "/run/gradients", .configs = r->G, .rows = r->rows,
                              .times = r->times, .gzip = r->cfg->gradient_gzip};
        lattice_axes(r, &sp, true);
        if ((st = dca_runfile_series(r->rf, &sp, &r->grads_id, err)) ||
            (st = dca_runfile_series_part(r->rf, r->grads_id, 0, r->first, r->mine,
                                          r->tg ? dca_tangent_J(r->tg) : NULL, r->len * P, err)))
            return st;
    }
    return DCA_OK;
}

/* Loss and its gradient, by the mode the configuration asks for; written
 * to /run/loss and /run/loss_gradient. */
static dca_status finish_task(run *r, double *E_out, double *gnorm_out, dca_error *err)
{
    const int64_t P = dca_rule_params(r->ex->rule), n = r->B * r->len;
    double *grad = malloc((size_t)P * sizeof *grad);
    double *xbar = malloc((size_t)n * sizeof *xbar);
    dca_status st = DCA_OK;
    if (!grad || !xbar) {
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the loss gradient");
        goto done;
    }
    double E = 0;
    const dca_reduction *red = par_reduction();
    if (r->reverse) {
        dca_objective *obj = NULL;
        dca_objective_options oo = {.steps = r->T,
                                    .range = {r->first, r->B, r->Ball},
                                    .reduce = red,
                                    .keep_all_bytes = r->cfg->reverse_memory};
        if ((st = dca_objective_create(r->sim, r->ex->x0, r->phi, r->loss, &r->shape, &oo, &obj,
                                       err)) ||
            (st = dca_objective_eval(obj, NULL, &E, grad, NULL, err))) {
            dca_objective_destroy(obj);
            goto done;
        }
        /* Rank 0's figure: attributes are written by every rank alike. */
        double bytes = (double)dca_objective_state_bytes(obj);
        par_bcast_f64(&bytes, 1);
        dca_runfile_attr_i64(r->rf, "/run", "reverse_state_bytes", (int64_t)bytes, err);
        dca_objective_destroy(obj);
    } else if (r->forward) {
        E = r->loss(&r->shape, r->phi, r->buf[0], xbar);
        dca_tangent_loss_gradient(r->tg, xbar, grad);
    } else {
        /* The loss through the ranks in order: the serial sum, bit for bit. */
        E = dca_loss_reduced(r->loss, &r->shape, r->phi, r->buf[0], red);
        if (red)
            E = red->from_last(red->ctx, E);
    }
    double gnorm = 0;
    for (int64_t p = 0; p < P; p++)
        gnorm += grad[p] * grad[p];
    *E_out = E;
    *gnorm_out = sqrt(gnorm);
    if ((st = dca_runfile_array(r->rf, "/run/loss", 0, NULL, &E, err)) ||
        (st = dca_runfile_attr_str(r->rf, "/run", "target", r->cfg->target, err)) ||
        (st = dca_runfile_attr_str(r->rf, "/run", "loss", r->cfg->loss, err)))
        goto done;
    if (r->forward || r->reverse) {
        int64_t dims[2];
        int rank = dca_rule_shape(r->ex->rule, dims);
        if ((st = dca_runfile_array(r->rf, "/run/loss_gradient", rank, dims, grad,
                                    err)) ||
            (st = dca_runfile_attr_str(r->rf, "/run", "gradient_mode",
                                       r->reverse ? "reverse" : "forward", err)))
            goto done;
    }
done:
    free(grad);
    free(xbar);
    return st;
}

static void write_run_attrs(run *r, int64_t done, double step_time, double wall, double rate)
{
    dca_error e;
    dca_runfile_attr_i64(r->rf, "/run", "steps", r->T, &e);
    dca_runfile_attr_i64(r->rf, "/run", "steps_done", done, &e);
    dca_runfile_attr_i64(r->rf, "/run", "configurations", r->Ball, &e);
    dca_runfile_attr_str(r->rf, "/run", "gradients", r->cfg->gradients, &e);
    dca_runfile_attr_str(r->rf, "/run", "precision",
                         r->cfg->precision == DCA_FLOAT32 ? "float32" : "float64", &e);
    dca_runfile_attr_i64(r->rf, "/run", "threads",
                         r->cb ? dca_cellbits_threads(r->cb) : dca_sim_threads(r->sim), &e);
    dca_runfile_attr_str(r->rf, "/run", "kernel",
                         r->cb ? "bit-parallel" : dca_kernel_name(dca_sim_kernel(r->sim)), &e);
    dca_runfile_attr_i64(r->rf, "/run", "tile_cells", dca_sim_tile_cells(r->sim), &e);
    if (r->tuned[0])
        dca_runfile_attr_str(r->rf, "/run", "tuned", r->tuned, &e);
    dca_runfile_attr_f64(r->rf, "/run", "step_seconds", step_time, &e);
    dca_runfile_attr_f64(r->rf, "/run", "wall_seconds", wall, &e);
    dca_runfile_attr_f64(r->rf, "/run", "cell_updates_per_second", rate, &e);
    dca_runfile_attr_str(r->rf, "/run", "openblas_config", openblas_get_config(), &e);
    dca_runfile_attr_str(r->rf, "/run", "openblas_core", openblas_get_corename(), &e);
    dca_runfile_attr_str(r->rf, "/run", "openblas_core_choice", dca_blas_note(), &e);
}

static void print_header(const run *r, const char *outpath)
{
    const dca_lattice *lat = &r->ex->lat;
    char l[64];
    if (lat->dims == 1)
        snprintf(l, sizeof l, "ring of %lld", (long long)lat->shape[0]);
    else
        snprintf(l, sizeof l, "%lldx%lld torus", (long long)lat->shape[0],
                 (long long)lat->shape[1]);
    int th = r->cb ? dca_cellbits_threads(r->cb) : dca_sim_threads(r->sim);
    char ranks[96] = "";
    if (r->split)
        snprintf(ranks, sizeof ranks, " on each of %d MPI ranks, the lattice split among them",
                 par_size());
    else if (par_many())
        snprintf(ranks, sizeof ranks, " on each of %d MPI ranks", par_size());
    fprintf(stderr,
            "dca run: %s, %s %s rule over %s (%lld parameters), %lld configuration%s, %lld steps, "
            "gradients %s, %d thread%s%s%s -> %s\n",
            l,
            dca_rule_kind_of(r->ex->rule) == DCA_RULE_OUTER_TOTALISTIC
                ? "outer-totalistic"
                : (r->cfg->mode == DCA_MODE_BINARY ? "binary" : "softmax"),
            dca_rule_is_hard(r->ex->rule) ? "hard" : "soft", r->cfg->neighborhood,
            (long long)dca_rule_params(r->ex->rule), (long long)r->Ball, r->Ball == 1 ? "" : "s",
            (long long)r->T, r->cfg->gradients, th, th == 1 ? "" : "s", ranks,
            r->cb ? ", exact 0/1 states: bit-parallel engine" : "", outpath);
}

static void cleanup(run *r)
{
    /* A failure after the file was created: keep what was written. With
     * several ranks, closing is collective and the others may be waiting
     * elsewhere: the job is aborted (par_finish) and the partial file
     * stays as last flushed. */
    if (r->rf && !par_many()) {
        if (par_rank() == 0)
            fprintf(stderr, "dca: partial results kept in %s\n",
                    dca_runfile_partial_path(r->rf));
        dca_runfile_close(r->rf, false, NULL);
    }
    free(r->packed);
    dca_cellbits_destroy(r->cb);
    dca_hard_destroy(r->hard);
    free(r->buf[0]);
    free(r->buf[1]);
    free(r->times);
    free(r->phi);
    dca_tangent_destroy(r->tg);
    dca_sim_destroy(r->sim);
    dca_experiment_destroy(r->ex);
    dca_config_destroy(r->cfg);
    free(r->o.sets);
}

/* [output] rle: configuration 0 of x, hardened, as a Golly RLE file. */
static int write_rle(const run *r, const double *x, const char *outpath)
{
    const dca_lattice *lat = &r->ex->lat;
    const int64_t H = lat->dims == 1 ? 1 : lat->shape[0];
    const int64_t W = lat->dims == 1 ? lat->shape[0] : lat->shape[1];
    const int L = r->cfg->mode == DCA_MODE_BINARY ? 1 : r->cfg->states;
    uint8_t *cells = malloc((size_t)(H * W));
    if (!cells)
        return cli_fail(EXIT_RUNTIME, "out of memory");
    for (int64_t c = 0; c < H * W; c++)
        cells[c] = (L == 1 ? x[c] : x[2 * c + 1]) >= 0.5;
    char golly[4096], life[4096], comment[9000];
    bool has_golly = dca_rle_rule(r->ex->rule, golly, sizeof golly);
    bool has_life = dca_rule_life(r->ex->rule, life, sizeof life);
    snprintf(comment, sizeof comment,
             "dca %s: %s, configuration 0 after step %lld, cells with P(1) >= 1/2 live\n"
             "run file %s; neighbourhood %s; hardened rule %s%s",
             dca_version(), r->o.config, (long long)r->T, outpath, r->cfg->neighborhood,
             has_life ? "life:" : "(not Life-like)", has_life ? life : "");
    dca_error err;
    if (cli_make_parent_dirs(r->cfg->output_rle) != 0) {
        free(cells);
        return cli_fail(EXIT_RUNTIME, "%s: cannot create its directory: %s (the run file %s is "
                        "complete)", r->cfg->output_rle, strerror(errno), outpath);
    }
    if (dca_rle_write(r->cfg->output_rle, cells, W, H, has_golly ? golly : NULL, comment, &err)) {
        free(cells);
        return cli_fail(EXIT_RUNTIME, "%s (the run file %s is complete)", err.msg, outpath);
    }
    free(cells);
    if (!r->o.quiet)
        fprintf(stderr, "wrote %s: %lld x %lld%s%s\n", r->cfg->output_rle, (long long)W,
                (long long)H, has_golly ? ", rule = " : "", has_golly ? golly : "");
    return 0;
}

/* The bit-parallel engine, when every initial configuration holds exact
 * 0/1 states (otherwise, or for a rule it does not take, the soft engine
 * runs: the values are the same, only slower). -1 to continue; an exit
 * code for a failure. */
static int start_bits(run *r)
{
    dca_error err;
    if (dca_hard_create(&r->ex->lat, r->ex->rule, r->o.threads, &r->hard, &err) ||
        dca_cellbits_create(r->hard, r->o.threads, &r->cb, &err)) {
        if (err.status == DCA_ERR_NOMEM)
            return cli_fail(EXIT_RUNTIME, "%s", err.msg);
        dca_hard_destroy(r->hard);
        r->hard = NULL;
        return -1;
    }
    const int64_t W = dca_cellbits_words(r->cb);
    r->packed = malloc((size_t)(r->B * W) * sizeof *r->packed);
    if (!r->packed)
        return cli_fail(EXIT_RUNTIME, "out of memory for %lld packed configurations",
                        (long long)r->B);
    bool exact = true;
    for (int64_t b = 0; b < r->B && exact; b++)
        exact = dca_cellbits_pack(r->cb, r->buf[0] + b * r->len, r->packed + b * W);
    /* Several ranks write the same /run@kernel: they choose together. */
    if (par_many())
        exact = !par_any(!exact);
    if (!exact) {
        free(r->packed), dca_cellbits_destroy(r->cb), dca_hard_destroy(r->hard);
        r->packed = NULL, r->cb = NULL, r->hard = NULL;
    }
    return -1;
}

/* The first n configurations' packed states into buf[0]. */
static void unpack_bits(run *r, int64_t n)
{
    const int64_t W = dca_cellbits_words(r->cb);
    for (int64_t b = 0; b < n; b++)
        dca_cellbits_unpack(r->cb, r->packed + b * W, r->buf[0] + b * r->len);
}

/* This rank's configurations: whole gradient blocks in reverse mode, so
 * that the ranks' blocks add up to the serial gradient
 * (dca_sim_batch_share); otherwise an even share. */
static void run_share(void *ctx, int64_t batch, int64_t params, int64_t *first, int64_t *count)
{
    const run *r = ctx;
    if (strcmp(r->cfg->gradients, "reverse") == 0)
        dca_sim_batch_share(batch, params, par_size(), par_rank(), first, count);
    else
        par_share(batch, first, count);
}

/* [run] split = lattice: the part plan of this rank, made once the rule is
 * known, and its window. What a split run cannot do is refused here, on
 * every rank alike, before any collective operation. */
static dca_status run_window(void *ctx, const dca_experiment *ex, int64_t *cell0,
                             int64_t *ncells, dca_error *err)
{
    run *r = ctx;
    const dca_config *c = r->cfg;
    const char *why = NULL;
    if (strcmp(c->target, "none") != 0 || strcmp(c->gradients, "none") != 0)
        why = "records values only: run a [task] or gradients with split = configurations";
    else if (c->output_rle)
        why = "holds no process with a whole configuration for [output] rle: set it to none";
    if (why)
        return dca_error_set(err, DCA_ERR_CONFIG, "%s: [run] split = lattice %s", r->o.config,
                             why);
    if (c->tune)
        return dca_error_set(err, DCA_ERR_CONFIG, "%s: [run] split = lattice needs the kernel "
                             "and tile agreed by every rank: set [run] kernel and tile (and "
                             "tune = no)", r->o.config);
    dca_sim_options so = {.threads = r->o.threads,
                          .kernel = c->kernel,
                          .tile_cells = c->tile,
                          .precision = c->precision,
                          .parts = par_size(),
                          .part = par_rank(),
                          .halo = par_halo()};
    dca_status st = dca_sim_create(&ex->lat, ex->rule, ex->batch, &so, &r->sim, err);
    if (st) {
        dca_error_prefix(err, "%s: [run] split = lattice", r->o.config);
        return st;
    }
    dca_sim_part(r->sim, &r->part);
    r->split = true;
    *cell0 = r->part.window_first;
    *ncells = r->part.cells;
    return DCA_OK;
}

int cmd_run(int argc, char **argv, char *command_line)
{
    const double t_entry = cli_now();
    run r = {.values_id = -1, .grads_id = -1};
    dca_error err;
    int rc = cli_parse_common(argc, argv, help, &r.o, NULL, NULL);
    if (rc >= 0)
        goto out;
    rc = EXIT_USAGE;
    r.o.quiet |= par_rank() > 0;
    if (r.o.threads)
        omp_set_num_threads(r.o.threads);
    if (cli_load_split(&r.o, run_share, run_window, &r, &r.cfg, &r.ex) >= 0)
        goto out;
    bool task = strcmp(r.cfg->target, "none") != 0;
    r.forward = strcmp(r.cfg->gradients, "forward") == 0;
    r.reverse = strcmp(r.cfg->gradients, "reverse") == 0;
    r.Ball = r.ex->batch;
    r.first = r.ex->first;
    r.B = r.ex->count;
    const int64_t P_rule = dca_rule_params(r.ex->rule);
    if (par_many() && !r.split) {
        /* Values, forward-mode diagrams and a loss (with its reverse-mode
         * gradient) run on several ranks: each configuration on one rank,
         * the loss summed through the ranks in order. */
        if (task && r.forward) {
            rc = cli_fail(EXIT_USAGE, "%s: the forward-mode loss gradient does not run on "
                                      "several MPI ranks (reverse mode does); run without mpirun "
                                      "or set [run] gradients = reverse", r.o.config);
            goto out;
        }
        if (task && strncmp(r.cfg->target, "file:", 5) == 0) {
            rc = cli_fail(EXIT_USAGE, "%s: a file: target holds the whole batch and does not run "
                                      "on several MPI ranks; run without mpirun", r.o.config);
            goto out;
        }
        bool empty = r.Ball < par_size();
        for (int k = 0; k < par_size() && r.reverse; k++) {
            int64_t f0, c0;
            dca_sim_batch_share(r.Ball, P_rule, par_size(), k, &f0, &c0);
            empty |= c0 < 1;
        }
        if (empty) {
            rc = cli_fail(EXIT_USAGE, "%s: %lld configuration%s for %d MPI ranks: each rank "
                                      "needs at least one ([init] batch)",
                          r.o.config, (long long)r.Ball, r.Ball == 1 ? "" : "s", par_size());
            goto out;
        }
    }
    if (r.cfg->output_rle && r.cfg->states != 2) {
        cli_fail_at(r.cfg, "output", "rle", "RLE files hold 2-state configurations");
        goto out;
    }
    dca_sim_options so = {.threads = r.o.threads,
                          .gradients = r.forward ? DCA_GRAD_FORWARD
                                                 : (r.reverse ? DCA_GRAD_REVERSE : 0),
                          .kernel = r.cfg->kernel,
                          .tile_cells = r.cfg->tile,
                          .precision = r.cfg->precision,
                          .block_first = r.first,
                          .block_batch = r.Ball};
    if (!r.split && r.cfg->tune) {
        if (par_many()) {
            rc = cli_fail(EXIT_USAGE, "%s: [run] tune = measure runs in one process (the ranks "
                                      "must agree on the kernel and tile): tune without mpirun "
                                      "and set [run] kernel and tile from /run@kernel and "
                                      "/run@tile_cells", r.o.config);
            goto out;
        }
        dca_tune_report tr;
        if (dca_sim_tune(&r.ex->lat, r.ex->rule, r.B, &so, &tr, &err)) {
            cli_fail(EXIT_USAGE, "%s", err.msg);
            goto out;
        }
        dca_tune_describe(&tr, r.tuned, sizeof r.tuned);
        if (!r.o.quiet)
            fprintf(stderr, "tuned: %s\n", r.tuned);
    }
    if (!r.split && dca_sim_create(&r.ex->lat, r.ex->rule, r.B, &so, &r.sim, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    r.len = r.ex->config_len;
    r.cell_len = r.cfg->mode == DCA_MODE_BINARY ? 1 : r.cfg->states;
    r.T = r.cfg->steps;
    r.G = r.cfg->record_configurations ? r.cfg->record_configurations : r.Ball;
    r.mine = r.G - r.first < r.B ? r.G - r.first : r.B;
    if (r.mine < 0)
        r.mine = 0;
    const int64_t every = r.cfg->record_every;
    r.rows = r.T / every + 1 + (r.T % every != 0);
    double need = 16.0 * (double)r.B * (double)r.len * (task ? 1.5 : 1.0);
    if (need > (double)dca_mem_physical() / 2) {
        char a[64], b[64];
        cli_fail(EXIT_USAGE, "the state of %lld configurations needs %s; the budget is %s",
                 (long long)r.B, dca_mem_fmt(need, a, sizeof a),
                 dca_mem_budget(b, sizeof b));
        goto out;
    }
    if (r.forward) {
        /* The loss gradient needs every configuration's tangents; diagrams
         * only the recorded ones. */
        const int64_t nt = task ? r.B : r.mine;
        if (nt > 0 && dca_tangent_create(r.sim, nt, &r.tg, &err)) {
            cli_fail(EXIT_USAGE, "%s", err.msg);
            goto out;
        }
        if (r.tg)
            dca_tangent_reset(r.tg);
    }
    r.buf[0] = r.ex->x0; /* this rank's configurations, drawn as for one rank */
    r.ex->x0 = dca_alloc((size_t)(r.B * r.len) * sizeof(double));
    r.buf[1] = dca_alloc((size_t)(r.B * r.len) * sizeof(double));
    r.times = malloc((size_t)r.rows * sizeof *r.times);
    if (task)
        r.phi = dca_alloc((size_t)(r.B * r.len) * sizeof(double));
    if (!r.ex->x0 || !r.buf[1] || !r.times || (task && !r.phi)) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory for %lld configurations", (long long)r.B);
        goto out;
    }
    memcpy(r.ex->x0, r.buf[0], (size_t)(r.B * r.len) * sizeof(double));
    for (int64_t i = 0; i < r.rows; i++)
        r.times[i] = i * every < r.T ? i * every : r.T;
    r.shape = dca_experiment_shape(r.cfg, r.ex, r.B);
    r.shape.norm_batch = par_many() ? r.Ball : 0; /* a loss averages over the whole batch */
    if (task) {
        r.loss = dca_loss_lookup(r.cfg->loss);
        if (dca_target_make(r.cfg->target, &r.shape, r.ex->x0, r.phi, &err)) {
            cli_fail_at(r.cfg, "task", "target", err.msg);
            goto out;
        }
    }

    if (r.cfg->bit_parallel && !r.split && !task && !r.forward && !r.reverse &&
        r.cfg->states == 2 &&
        r.cfg->mode == DCA_MODE_BINARY && dca_rule_is_hard(r.ex->rule) &&
        (rc = start_bits(&r)) >= 0)
        goto out;
    rc = EXIT_RUNTIME;
    const char *outpath = r.o.output ? r.o.output : r.cfg->output_file;
    if (cli_make_parent_dirs(outpath) != 0) {
        cli_fail(EXIT_RUNTIME, "%s: cannot create its directory: %s", outpath, strerror(errno));
        goto out;
    }
    dca_run_meta meta = {dca_config_text(r.cfg), command_line, 1.0, .alone = false};
    if (dca_runfile_create(outpath, &meta, &r.rf, &err) ||
        dca_runfile_write_rule(r.rf, r.ex->rule, r.cfg->neighborhood, &err) ||
        open_series(&r, &err)) {
        cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto out;
    }
    if (!r.o.quiet)
        print_header(&r, outpath);

    const int64_t cells = dca_lattice_cells(&r.ex->lat), P = dca_rule_params(r.ex->rule);
    cli_catch_signals();
    progress pr;
    progress_init(&pr, r.o.quiet);
    double step_time = 0, t_start = cli_now();
    int64_t row = 1, t;
    bool stopped = false;
    for (t = 1; t <= r.T; t++) {
        /* Several ranks stop at the same step, or the collective writes
         * would not match. */
        if (par_many() ? par_any(cli_interrupted()) : cli_interrupted()) {
            stopped = true;
            break;
        }
        double t0 = cli_now();
        if (r.cb) {
            const int64_t W = dca_cellbits_words(r.cb);
            for (int64_t b = 0; b < r.B; b++)
                dca_cellbits_run(r.cb, r.packed + b * W, 1);
            step_time += cli_now() - t0;
        } else {
            if (r.tg)
                dca_tangent_step(r.tg, r.buf[0]);
            /* A lattice part first takes its halo from its neighbours. */
            if (r.split && dca_sim_halo_fill(r.sim, r.buf[0])) {
                progress_end(&pr);
                cli_fail(EXIT_RUNTIME, "step %lld: %s", (long long)t, dca_sim_error(r.sim));
                goto out;
            }
            dca_sim_step(r.sim, r.buf[0], r.buf[1]);
            step_time += cli_now() - t0;
            double *sw = r.buf[0];
            r.buf[0] = r.buf[1];
            r.buf[1] = sw;
        }
        if (row < r.rows && r.times[row] == t) {
            if (r.cb)
                unpack_bits(&r, r.mine);
            if ((r.values_id >= 0 && record_values(&r, row, r.buf[0], &err)) ||
                (r.grads_id >= 0 &&
                 dca_runfile_series_part(r.rf, r.grads_id, row, r.first, r.mine,
                                         r.tg ? dca_tangent_J(r.tg) : NULL, r.len * P, &err))) {
                progress_end(&pr);
                cli_fail(EXIT_RUNTIME, "%s", err.msg);
                goto out;
            }
            row++;
        }
        progress_update(&pr, t, r.T, (double)t * (double)cells * (double)r.Ball, "cell-updates");
    }
    progress_end(&pr);
    int64_t done = t - 1;
    if (r.cb) /* the final state, for the RLE output */
        unpack_bits(&r, r.B);
    double E = NAN, gnorm = NAN;
    /* One process: an interrupt after the last step still keeps the file
     * partial (several ranks decide only at steps, together). */
    stopped |= !par_many() && cli_interrupted();
    if (task && !stopped && finish_task(&r, &E, &gnorm, &err)) {
        cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto out;
    }
    stopped |= !par_many() && cli_interrupted();
    double wall = cli_now() - t_start;
    /* Rank 0's times (the attributes must be the same on every rank). */
    double times[2] = {step_time, wall};
    par_bcast_f64(times, 2);
    step_time = times[0];
    wall = times[1];
    double rate = step_time > 0 ? (double)done * (double)cells * (double)r.Ball / step_time : 0;
    write_run_attrs(&r, done, step_time, wall, rate);
    if (stopped) {
        char partial[4200];
        snprintf(partial, sizeof partial, "%s", dca_runfile_partial_path(r.rf));
        dca_status st = dca_runfile_close(r.rf, false, &err);
        r.rf = NULL;
        if (!st && par_many()) {
            /* Every rank stopped at this step and closed the file together. */
            par_exit_agreed();
            if (par_rank() > 0)
                goto out;
        }
        if (st)
            cli_fail(EXIT_RUNTIME, "interrupted at step %lld, and saving failed: %s",
                     (long long)done, err.msg);
        else
            cli_fail(EXIT_RUNTIME,
                     "interrupted after step %lld of %lld; the %lld recorded rows are in %s",
                     (long long)done, (long long)r.T, (long long)row, partial);
        goto out;
    }
    const double t_close = cli_now();
    dca_status st = dca_runfile_close(r.rf, true, &err);
    const double closing = cli_now() - t_close;
    r.rf = NULL;
    if (st) {
        cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto out;
    }
    /* Configuration 0 is rank 0's. */
    if (r.cfg->output_rle && par_rank() == 0 && write_rle(&r, r.buf[0], outpath) != 0)
        goto out;
    if (!r.o.quiet) {
        /* The parts of the command's time (docs/performance.md, W3): setup
         * is parsing, planning and creating the file; recording is the
         * loop's time outside the steps (row writes, the task's loss);
         * closing is the final flush (compression of cached chunks), the
         * fsync and the rename. */
        fprintf(stderr,
                "wrote %s: %lld rows x %lld configurations; %lld steps in %.3g s "
                "(%.3g cell-updates/s), %.3g s in all (setup %.3g s, recording %.3g s, "
                "closing %.3g s)\n",
                outpath, (long long)r.rows, (long long)r.G, (long long)r.T, step_time, rate,
                t_close - t_entry + closing, t_start - t_entry, wall - step_time, closing);
        if (task)
            fprintf(stderr, "loss (%s, %s target) = %.10g; |dE/dw| = %.6g (%s mode)\n",
                    r.cfg->loss, r.cfg->target, E, gnorm,
                    r.reverse ? "reverse" : (r.forward ? "forward" : "no gradient"));
    }
    rc = EXIT_OK;
out:
    cleanup(&r);
    return rc;
}
