/* Lattice parts under MPI (issue 17): every rank runs part r of a lattice
 * split among the ranks (dca.h, dca_part_info; src/cli/halo_mpi.c) and
 * checks, bit for bit against the whole-lattice plan it also runs, the
 * halo after each fill, the values after T steps, dE/dx of the initial
 * state and dE/dw of a loss on the last state.
 *   mpirun -np R tests/mpi_parts            TAP, one line per case (rank 0)
 *   mpirun -np R tests/mpi_parts --bench ROWSxCOLS STEPS [REPS]
 *       the halo's share of the step time (bench/mpi_scaling): one line of
 *       JSON, the slowest rank's times, after checking the values and the
 *       gradient against the whole plan run on rank 0. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/halo_mpi.h"
#include "dca/dca.h"

typedef struct tcase {
    const char *name, *lattice, *nbhd;
    int states;
    dca_mode mode;
    int ot;         /* outer-totalistic */
    int64_t B;      /* configurations */
    int T;          /* steps */
    int64_t tile;   /* 0: the plan's choice */
    dca_precision precision;
    unsigned grad;
} tcase;

static MPI_Comm comm = MPI_COMM_WORLD;
static dca_mpi_halo_ctx halo_ctx; /* comm set in main */
static int rank_, size_;
static double halo_seconds; /* time spent in the hook */

static dca_status timed_halo(void *ctx, const dca_part_info *p, const dca_halo_buffer *b)
{
    double t0 = MPI_Wtime();
    dca_status st = dca_mpi_halo(ctx, p, b);
    halo_seconds += MPI_Wtime() - t0;
    return st;
}

typedef struct model {
    dca_lattice lat;
    dca_nbhd *nb;
    dca_rule *rule;
} model;

static int model_make(const tcase *c, model *m, dca_error *err)
{
    if (dca_lattice_parse(c->lattice, &m->lat, err) ||
        dca_nbhd_parse(c->nbhd, m->lat.dims, &m->nb, err))
        return 1;
    dca_status st = c->ot ? dca_rule_create_outer_totalistic(m->nb, &m->rule, err)
                          : dca_rule_create(m->nb, c->states, c->mode, &m->rule, err);
    if (st)
        return 1;
    /* Weights: a seeded normal draw, so that every rank has the same rule. */
    return dca_rule_load_weights(m->rule, "normal:1.5", 7, NULL, err) != DCA_OK;
}

static void model_free(model *m)
{
    dca_rule_destroy(m->rule);
    dca_nbhd_destroy(m->nb);
}

/* The whole-lattice run: states x[0..T] (B x len each), dE/dx0, dE/dw. */
typedef struct whole {
    double *x, *xbar, *grad;
    int64_t len;
} whole;

/* Loss: sum over cells of (y - 1/2)^2; ybar = 2 (y - 1/2). */
static double ybar_of(double y) { return 2.0 * (y - 0.5); }

static int run_whole(const tcase *c, model *m, whole *w, dca_error *err)
{
    dca_sim *sim = NULL;
    dca_sim_options o = {.tile_cells = c->tile, .gradients = c->grad, .precision = c->precision};
    if (dca_sim_create(&m->lat, m->rule, c->B, &o, &sim, err))
        return 1;
    const int64_t len = dca_sim_config_len(sim), n = c->B * len, P = dca_sim_params(sim);
    w->len = len;
    w->x = malloc((size_t)(n * (c->T + 1)) * sizeof *w->x);
    w->xbar = malloc(2 * (size_t)n * sizeof *w->xbar);
    w->grad = malloc((size_t)P * sizeof *w->grad);
    int bad = !w->x || !w->xbar || !w->grad;
    bad = bad || dca_init_generate(c->mode == DCA_MODE_SOFTMAX ? "uniform-states" : "bernoulli:0.4",
                                   &m->lat, c->states, c->mode, c->B, 11, w->x, err);
    if (!bad)
        dca_init_apply_eps(w->x, n, c->states, c->mode, 0.1);
    for (int t = 0; t < c->T && !bad; t++)
        bad = dca_sim_step_at(sim, t, w->x + t * n, w->x + (t + 1) * n) != DCA_OK;
    if (!bad && (c->grad & DCA_GRAD_REVERSE)) {
        double *yb = w->xbar + n, *xb = w->xbar;
        for (int64_t i = 0; i < n; i++)
            yb[i] = ybar_of(w->x[c->T * n + i]);
        bad = dca_sim_adjoint_begin(sim) != DCA_OK;
        for (int t = c->T - 1; t >= 0 && !bad; t--) {
            bad = dca_sim_adjoint_step_at(sim, t, w->x + t * n, yb, xb) != DCA_OK;
            double *sw = yb;
            yb = xb;
            xb = sw;
        }
        /* dE/dx0 is in yb after the last swap. */
        if (!bad && yb != w->xbar)
            memcpy(w->xbar, yb, (size_t)n * sizeof *yb);
        bad = bad || dca_sim_adjoint_end(sim, w->grad) != DCA_OK;
    }
    if (bad && sim)
        dca_error_set(err, DCA_ERR_ARG, "whole plan: %s", dca_sim_error(sim));
    dca_sim_destroy(sim);
    return bad;
}

static void whole_free(whole *w)
{
    free(w->x);
    free(w->xbar);
    free(w->grad);
}

/* Window cell i's lattice cell. */
static int64_t lattice_cell(const dca_part_info *p, int64_t i, int64_t cells)
{
    int64_t c = p->window_first + i;
    return c < cells ? c : c - cells;
}

/* Compares the window's cells [i0, i1) of every configuration with the
 * whole lattice's state; returns the number of differing numbers. */
static int64_t differ(const dca_part_info *p, int64_t i0, int64_t i1, const double *win,
                      const double *all, int64_t B, int64_t cl, int64_t cells)
{
    int64_t bad = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = i0; i < i1; i++) {
            const double *a = win + (b * p->cells + i) * cl;
            const double *z = all + (b * cells + lattice_cell(p, i, cells)) * cl;
            bad += memcmp(a, z, (size_t)cl * sizeof *a) != 0;
        }
    return bad;
}

typedef struct outcome {
    int64_t halo_bad, values_bad, xbar_bad, grad_bad;
    double step_s, halo_s;
    char msg[256];
} outcome;

/* Runs this rank's part and compares it with w (NULL: no comparison). */
static int run_part(const tcase *c, model *m, const whole *w, outcome *out, dca_error *err)
{
    dca_sim *sim = NULL;
    dca_sim_options o = {.tile_cells = c->tile,
                         .gradients = c->grad,
                         .precision = c->precision,
                         .parts = size_,
                         .part = rank_,
                         .halo = {timed_halo, &halo_ctx}};
    if (dca_sim_create(&m->lat, m->rule, c->B, &o, &sim, err))
        return 1;
    dca_part_info p;
    dca_sim_part(sim, &p);
    const int64_t len = dca_sim_config_len(sim), n = c->B * len, P = dca_sim_params(sim);
    const int64_t cl = len / p.cells, cells = dca_lattice_cells(&m->lat);
    double *x = malloc((size_t)(n * (c->T + 1)) * sizeof *x);
    double *yb = calloc((size_t)n, sizeof *yb), *xb = calloc((size_t)n, sizeof *xb);
    double *blocks = malloc((size_t)(c->B * p.block_count * P + 1) * sizeof *blocks);
    double *all = malloc((size_t)(c->B * p.blocks_per_config * P + 1) * sizeof *all);
    double *grad = malloc((size_t)P * sizeof *grad);
    int bad = !x || !yb || !xb || !blocks || !all || !grad;
    /* The window's initial cells, drawn as the whole lattice's are. */
    bad = bad || dca_init_generate_window(c->mode == DCA_MODE_SOFTMAX ? "uniform-states"
                                                                      : "bernoulli:0.4",
                                          &m->lat, c->states, c->mode, 0, c->B, 11,
                                          p.window_first, p.cells, x, err);
    if (!bad)
        dca_init_apply_eps(x, n, c->states, c->mode, 0.1);
    MPI_Barrier(comm);
    halo_seconds = 0;
    const double t0 = MPI_Wtime();
    for (int t = 0; t < c->T && !bad; t++) {
        bad = dca_sim_halo_fill(sim, x + t * n) != DCA_OK;
        if (!bad && w)
            out->halo_bad += differ(&p, 0, p.cells, x + t * n, w->x + t * c->B * w->len, c->B, cl,
                                    cells);
        bad = bad || dca_sim_step_at(sim, t, x + t * n, x + (t + 1) * n) != DCA_OK;
    }
    if (!bad && (c->grad & DCA_GRAD_REVERSE)) {
        for (int64_t b = 0; b < c->B; b++)
            for (int64_t i = p.own_first * cl; i < (p.own_first + p.own_count) * cl; i++)
                yb[b * len + i] = ybar_of(x[c->T * n + b * len + i]);
        bad = dca_sim_adjoint_begin(sim) != DCA_OK;
        for (int t = c->T - 1; t >= 0 && !bad; t--) {
            bad = dca_sim_adjoint_step_at(sim, t, x + t * n, yb, xb) != DCA_OK;
            double *sw = yb;
            yb = xb;
            xb = sw;
        }
        if (p.parts == 1) { /* one rank: the plan is the whole lattice */
            bad = bad || dca_sim_adjoint_end(sim, grad) != DCA_OK;
        } else {
            bad = bad || dca_sim_adjoint_blocks(sim, blocks) != DCA_OK;
            bad = bad || dca_mpi_part_blocks(comm, &p, c->B, P, blocks, all) != DCA_OK;
            bad = bad ||
                  dca_sim_adjoint_finish(sim, all, c->B * p.blocks_per_config, grad) != DCA_OK;
        }
    }
    out->step_s = MPI_Wtime() - t0;
    out->halo_s = halo_seconds;
    if (!bad && w) {
        const int64_t o0 = p.own_first, o1 = p.own_first + p.own_count;
        out->values_bad = differ(&p, o0, o1, x + c->T * n, w->x + c->T * c->B * w->len, c->B, cl,
                                 cells);
        if (c->grad & DCA_GRAD_REVERSE) {
            out->xbar_bad = differ(&p, o0, o1, yb, w->xbar, c->B, cl, cells);
            out->grad_bad = memcmp(grad, w->grad, (size_t)P * sizeof *grad) != 0;
        }
    }
    if (bad && sim && !err->msg[0])
        dca_error_set(err, DCA_ERR_ARG, "part plan: %s", dca_sim_error(sim));
    free(x);
    free(yb);
    free(xb);
    free(blocks);
    free(all);
    free(grad);
    dca_sim_destroy(sim);
    return bad;
}

static const tcase cases[] = {
    {"2D Moore binary table, values + reverse, default tiles", "96x80", "moore:1", 2,
     DCA_MODE_BINARY, 0, 2, 6, 0, DCA_FLOAT64, DCA_GRAD_REVERSE},
    {"2D Moore binary table, values + reverse, 56-cell tiles (parts end mid-row)", "48x40",
     "moore:1", 2, DCA_MODE_BINARY, 0, 3, 5, 56, DCA_FLOAT64, DCA_GRAD_REVERSE},
    {"2D Moore binary table, values only (fused kernel)", "64x50", "moore:1", 2, DCA_MODE_BINARY,
     0, 3, 7, 0, DCA_FLOAT64, 0},
    {"2D Moore binary table, float32, values + reverse", "48x40", "moore:1", 2, DCA_MODE_BINARY,
     0, 2, 5, 64, DCA_FLOAT32, DCA_GRAD_REVERSE},
    {"Life-like (outer-totalistic Moore), values + reverse", "40x36", "moore:1", 2,
     DCA_MODE_BINARY, 1, 2, 6, 48, DCA_FLOAT64, DCA_GRAD_REVERSE},
    {"Life-like radius 2, values + reverse", "60x33", "moore:2", 2, DCA_MODE_BINARY, 1, 1, 4, 64,
     DCA_FLOAT64, DCA_GRAD_REVERSE},
    /* The whole plans of these two run the stripe adjoint (no Gx; a ring of
     * rows), the parts the Gx path with its halo exchange. */
    {"Life-like float32, default tiles, values + reverse", "64x29", "moore:1", 2,
     DCA_MODE_BINARY, 1, 2, 5, 0, DCA_FLOAT32, DCA_GRAD_REVERSE},
    {"outer-totalistic von Neumann, values + reverse", "45x31", "vonneumann:1", 2,
     DCA_MODE_BINARY, 1, 3, 5, 40, DCA_FLOAT64, DCA_GRAD_REVERSE},
    {"2D von Neumann softmax k=3, values + reverse", "36x30", "vonneumann:1", 3,
     DCA_MODE_SOFTMAX, 0, 2, 4, 40, DCA_FLOAT64, DCA_GRAD_REVERSE},
    {"1D ring radius 3, values + reverse", "700", "radius:3", 2, DCA_MODE_BINARY, 0, 2, 8, 48,
     DCA_FLOAT64, DCA_GRAD_REVERSE},
};

static int tap(void)
{
    const int n = (int)(sizeof cases / sizeof *cases);
    if (rank_ == 0)
        printf("1..%d\n", n + 1);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        const tcase *c = &cases[i];
        model m = {0};
        whole w = {0};
        outcome oc = {0};
        dca_error err = {0};
        int bad = model_make(c, &m, &err) || run_whole(c, &m, &w, &err) ||
                  run_part(c, &m, &w, &oc, &err);
        int64_t v[5] = {bad, oc.halo_bad, oc.values_bad, oc.xbar_bad, oc.grad_bad}, s[5];
        MPI_Allreduce(v, s, 5, MPI_INT64_T, MPI_SUM, comm);
        const int ok = s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0;
        failed += !ok;
        if (bad)
            fprintf(stderr, "rank %d: %s: %s\n", rank_, c->name, err.msg);
        if (rank_ == 0) {
            printf("%s %d - %d parts: %s: halo, values, dE/dx, dE/dw bitwise the whole "
                   "lattice's\n",
                   ok ? "ok" : "not ok", i + 1, size_, c->name);
            if (!ok)
                printf("# errors on %lld ranks; differing numbers: halo %lld, values %lld, "
                       "dE/dx %lld, dE/dw on %lld ranks\n",
                       (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3],
                       (long long)s[4]);
        }
        whole_free(&w);
        model_free(&m);
    }
    /* A refusal every rank gives alike: parts smaller than their halos (a
     * radius-2 Life-like rule on 6 rows of 40 cells in 20-cell tiles). */
    {
        const tcase c = {"refusal", "6x40", "moore:2", 2, DCA_MODE_BINARY, 1, 1, 1, 20,
                         DCA_FLOAT64, DCA_GRAD_REVERSE};
        model m = {0};
        dca_error err = {0};
        dca_sim *sim = NULL;
        dca_sim_options o = {.gradients = c.grad, .tile_cells = c.tile, .parts = size_,
                             .part = rank_, .halo = {timed_halo, &halo_ctx}};
        int made = !model_make(&c, &m, &err) &&
                   dca_sim_create(&m.lat, m.rule, c.B, &o, &sim, &err) == DCA_OK;
        int64_t v = made, s = 0;
        MPI_Allreduce(&v, &s, 1, MPI_INT64_T, MPI_SUM, comm);
        /* 2 parts span 7 rows with their halos; 4 hold 60 cells against
         * halos of 100; 1 part is the whole lattice and 3 fit exactly. */
        const int refuse = size_ == 2 || size_ == 4;
        const int ok = refuse ? s == 0 && strstr(err.msg, "use fewer parts") != NULL
                              : s == size_;
        failed += !ok;
        if (rank_ == 0)
            printf("%s %d - %d parts of 6 rows, radius 2: %s\n", ok ? "ok" : "not ok", n + 1,
                   size_, refuse ? err.msg : "accepted");
        dca_sim_destroy(sim);
        model_free(&m);
    }
    return failed != 0;
}

static int bench(const char *shape, int T, int reps)
{
    tcase c = {"bench", shape, "moore:1", 2, DCA_MODE_BINARY, 0, 1, T, 0, DCA_FLOAT64,
               DCA_GRAD_REVERSE};
    model m = {0};
    whole w = {0};
    dca_error err = {0};
    int bad = model_make(&c, &m, &err);
    /* The check: rank 0 runs the whole lattice once; everyone compares. */
    double t_whole = 0;
    if (!bad) {
        double t0 = MPI_Wtime();
        bad = run_whole(&c, &m, &w, &err);
        t_whole = MPI_Wtime() - t0;
    }
    outcome oc = {0};
    bad = bad || run_part(&c, &m, &w, &oc, &err);
    int64_t v[4] = {bad, oc.values_bad, oc.xbar_bad, oc.grad_bad}, s[4];
    MPI_Allreduce(v, s, 4, MPI_INT64_T, MPI_SUM, comm);
    if (s[0] || s[1] || s[2] || s[3]) {
        if (rank_ == 0)
            fprintf(stderr, "mpi_parts --bench: the parts differ from the whole lattice "
                            "(%lld %lld %lld %lld) %s\n",
                    (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3],
                    err.msg);
        return 1;
    }
    whole_free(&w);
    /* Timed: the parts only, median of reps, the slowest rank's figures. */
    double *st = malloc((size_t)reps * sizeof *st), *ht = malloc((size_t)reps * sizeof *ht);
    for (int r = 0; r < reps; r++) {
        outcome o2 = {0};
        run_part(&c, &m, NULL, &o2, &err);
        double mx[2], in[2] = {o2.step_s, o2.halo_s};
        MPI_Allreduce(in, mx, 2, MPI_DOUBLE, MPI_MAX, comm);
        st[r] = mx[0];
        ht[r] = mx[1];
    }
    /* Median by total time. */
    for (int i = 0; i < reps; i++)
        for (int j = i + 1; j < reps; j++)
            if (st[j] < st[i]) {
                double a = st[i], b = ht[i];
                st[i] = st[j], ht[i] = ht[j];
                st[j] = a, ht[j] = b;
            }
    if (rank_ == 0) {
        const double cu = (double)dca_lattice_cells(&m.lat) * T;
        printf("{\"shape\": \"%s\", \"steps\": %d, \"ranks\": %d, \"whole_s\": %.4f, "
               "\"parts_s\": %.4f, \"halo_s\": %.4f, \"halo_share\": %.4f, "
               "\"cu_per_s\": %.4g, \"checked\": true}\n",
               shape, T, size_, t_whole, st[reps / 2], ht[reps / 2], ht[reps / 2] / st[reps / 2],
               cu / st[reps / 2]);
    }
    free(st);
    free(ht);
    model_free(&m);
    return 0;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(comm, &rank_);
    MPI_Comm_size(comm, &size_);
    halo_ctx.comm = comm;
    int rc;
    if (argc >= 4 && strcmp(argv[1], "--bench") == 0)
        rc = bench(argv[2], atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 5);
    else
        rc = tap();
    dca_mpi_halo_release(&halo_ctx);
    MPI_Finalize();
    return rc;
}
