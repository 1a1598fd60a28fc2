/* Simulation plan: validates shapes, lets the model type pick its kernels
 * and size the workspace once (dca_sim_create); the step functions then
 * only check their arguments (cheaply, always) and compute.
 *
 * Parallel work: the unit is a (configuration, tile) pair, tiles being
 * fixed ranges of cells independent of the thread count. Each unit writes
 * only its own cells, and gradient blocks sum fixed ranges of units in
 * order, so results are bitwise identical for any number of threads.
 *
 * Thread safety: a plan is used by one caller thread at a time (it opens
 * its own OpenMP regions). Distinct plans may run concurrently, also over
 * one rule, as long as nobody changes the rule's weights meanwhile. */
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "plan.h"

/* Records a misuse in the plan's message and returns DCA_ERR_ARG. */
__attribute__((format(printf, 2, 3))) static dca_status misuse(dca_sim *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    return DCA_ERR_ARG;
}

/* The model types, indexed by dca_rule_kind. */
static const dca_model_type *const model_types[] = {
    [DCA_RULE_TABLE] = &dca_model_table,
    [DCA_RULE_OUTER_TOTALISTIC] = &dca_model_outer_totalistic,
};

const dca_model_type *dca_model_of(dca_rule_kind kind) { return model_types[kind]; }

/* Scheduling. Each unit (and each gradient block) writes only its own
 * outputs and sums in a fixed order, so which thread runs it cannot change
 * a bit of the result: the loops are scheduled dynamically, in chunks of
 * about 1/8 of a thread's share (consecutive units: neighbouring memory).
 * On this shared virtual machine the two vCPUs often run at different
 * speeds; with a static split the faster one spent up to a quarter of W1
 * waiting at the step's barrier (perf: 26 % in libgomp; 6 % dynamic). */
static inline int64_t sched_chunk(int64_t units, int threads)
{
    int64_t c = units / (8 * (int64_t)threads);
    return c < 1 ? 1 : c;
}

/* The team for a loop over `units` work units: no more threads than units.
 * A lattice of one tile (the paper's figure: 500 cells) then runs in a team
 * of one, with no barrier and no idle thread to wake at every step. The
 * results do not depend on it: units and gradient blocks are fixed by the
 * plan. */
static inline int team_size(int64_t units, int threads)
{
    return units < (int64_t)threads ? (int)(units > 0 ? units : 1) : threads;
}

/* The gradient's blocks (reverse mode): a fixed partition of the work
 * units, each block summed by one thread in unit order, the blocks then
 * summed in block order, so the rule gradient is the same for any thread
 * count. The partition is fixed by the whole batch (G configurations of
 * ntiles tiles) and never crosses a configuration: with G >= NB (NB = 64,
 * halved while NB x P exceeds 2^25 numbers), block j is configurations
 * [j G / NB, (j + 1) G / NB); with fewer, each configuration is split into
 * k = min(ntiles, NB / G) blocks of tiles [i ntiles / k, (i + 1) ntiles / k).
 * A slice of the batch (an MPI rank's share) then holds whole blocks, and
 * the slices' blocks in order are the batch's. */
static int64_t blocks_max(int64_t P)
{
    int64_t nb = 64;
    while (nb > 1 && (double)nb * (double)P > (double)(1 << 25))
        nb /= 2;
    return nb;
}

void dca_sim_batch_share(int64_t batch, int64_t params, int ranks, int rank, int64_t *first,
                         int64_t *count)
{
    const int64_t nb = blocks_max(params), R = ranks, r = rank;
    if (batch >= nb) {
        /* Whole groups of configurations: rank r takes groups
         * [r nb / R, (r + 1) nb / R). */
        const int64_t g0 = r * nb / R, g1 = (r + 1) * nb / R;
        *first = g0 * batch / nb;
        *count = g1 * batch / nb - *first;
    } else {
        const int64_t q = batch / R, m = batch % R;
        *first = r * q + (r < m ? r : m);
        *count = q + (r < m);
    }
}

static dca_status plan_blocks(dca_sim *s, int64_t P, const dca_sim_options *o, dca_error *err)
{
    const int64_t B = s->batch, nt = s->ntiles, nb = blocks_max(P);
    const int64_t G = o->block_batch ? o->block_batch : B, f = o->block_first;
    if (f < 0 || f + B > G)
        return dca_error_set(err, DCA_ERR_ARG,
                             "configurations %lld..%lld are not inside a batch of %lld",
                             (long long)f, (long long)(f + B - 1), (long long)G);
    if (G >= nb) {
        /* Groups j0..j1 - 1 must be exactly this slice. */
        const int64_t j0 = (f * nb + G - 1) / G, j1 = ((f + B) * nb + G - 1) / G;
        if (j0 * G / nb != f || j1 * G / nb != f + B)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "configurations %lld..%lld of %lld do not hold whole gradient "
                                 "blocks of %lld configurations (dca_sim_batch_share gives "
                                 "slices that do)",
                                 (long long)f, (long long)(f + B - 1), (long long)G,
                                 (long long)(G / nb));
        s->nblocks = j1 - j0;
        s->nblocks_batch = nb;
        if (!(s->block_start = malloc((size_t)(s->nblocks + 1) * sizeof *s->block_start)))
            return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        for (int64_t j = j0; j <= j1; j++)
            s->block_start[j - j0] = (j * G / nb - f) * nt;
    } else {
        int64_t k = nb / G;
        k = k < nt ? k : nt;
        k = k > 1 ? k : 1;
        s->nblocks = B * k;
        s->nblocks_batch = G * k;
        if (!(s->block_start = malloc((size_t)(s->nblocks + 1) * sizeof *s->block_start)))
            return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < k; i++)
                s->block_start[b * k + i] = b * nt + i * nt / k;
        s->block_start[s->nblocks] = B * nt;
    }
    return DCA_OK;
}

/* Work unit u is tile (u % ntiles) of configuration (u / ntiles): tiles
 * start at own0 (0 for a whole lattice) and end at own1 at the latest. */
static inline void unit_range(int64_t own0, int64_t own1, int64_t u, int64_t ntiles,
                              int64_t tile, int64_t *b, int64_t *c0, int64_t *c1)
{
    *b = u / ntiles;
    *c0 = own0 + (u % ntiles) * tile;
    *c1 = *c0 + tile < own1 ? *c0 + tile : own1;
}

/* ---- lattice parts ------------------------------------------------------
 * The whole lattice's tiles fall into k groups (reverse mode: the gradient
 * blocks of one configuration, k = min(tiles, NB / B); otherwise every tile
 * is a group) and part r of R takes groups [r k / R, (r + 1) k / R): the
 * tiles, and in reverse mode the blocks, are the whole plan's. Its window
 * adds the neighbourhood's reach on either side: whole rows in 2D, cells on
 * a ring. Window cell i is lattice cell (window_first + i) mod cells. */
typedef struct part_window {
    int64_t t0, t1, i0, i1;       /* tiles and groups */
    int64_t a, b;                 /* own lattice cells [a, b) */
    int64_t w0, rows, cols, own0; /* window */
} part_window;

typedef struct part_reach {
    int64_t up, down, left, right; /* rows above and below, cells left and right */
} part_reach;

static part_window part_window_of(const dca_geom *g, int dims, part_reach e, int64_t tile,
                                  int64_t nt, int64_t k, int R, int r)
{
    part_window w = {.i0 = (int64_t)r * k / R, .i1 = (int64_t)(r + 1) * k / R};
    w.t0 = w.i0 * nt / k;
    w.t1 = w.i1 * nt / k;
    w.a = w.t0 * tile;
    w.b = w.t1 * tile < g->cells ? w.t1 * tile : g->cells;
    if (dims == 2) {
        const int64_t ra = w.a / g->cols, rb = (w.b - 1) / g->cols;
        w.rows = rb - ra + 1 + e.up + e.down;
        w.cols = g->cols;
        w.w0 = (((ra - e.up) % g->rows + g->rows) % g->rows) * g->cols;
        w.own0 = w.a - (ra - e.up) * g->cols;
    } else {
        w.rows = 1;
        w.cols = w.b - w.a + e.left + e.right;
        w.w0 = ((w.a - e.left) % g->cells + g->cells) % g->cells;
        w.own0 = e.left;
    }
    return w;
}

static int64_t window_cells(part_window w) { return w.rows * w.cols; }
static int64_t window_after(part_window w) { return window_cells(w) - w.own0 - (w.b - w.a); }

static dca_status plan_part(dca_sim *s, const dca_lattice *lat, int64_t P,
                            const dca_sim_options *o, dca_error *err)
{
    const int R = o->parts, r = o->part;
    dca_geom *g = &s->g;
    if (r < 0 || r >= R)
        return dca_error_set(err, DCA_ERR_ARG, "part %d of %d: parts are numbered 0..%d", r, R,
                             R - 1);
    if (!o->halo.fn)
        return dca_error_set(err, DCA_ERR_ARG,
                             "a plan for part of a lattice needs a halo hook (options.halo)");
    if (s->grad & DCA_GRAD_FORWARD)
        return dca_error_set(err, DCA_ERR_ARG,
                             "forward-mode gradients are not split into lattice parts; use "
                             "reverse mode");
    if (s->type->in_place)
        return dca_error_set(err, DCA_ERR_ARG, "the %s model updates in place and is not split "
                                               "into lattice parts", s->type->name);
    if (o->block_first != 0 || (o->block_batch != 0 && o->block_batch != s->batch))
        return dca_error_set(err, DCA_ERR_ARG,
                             "a plan is either a slice of a batch or a part of the lattice, "
                             "not both");
    const bool reverse = (s->grad & DCA_GRAD_REVERSE) != 0;
    const int64_t nt = s->ntiles, nb = blocks_max(P), B = s->batch;
    if (reverse && B >= nb)
        return dca_error_set(err, DCA_ERR_ARG,
                             "%lld configurations fill the gradient's %lld blocks with whole "
                             "configurations: share the batch among processes "
                             "(dca_sim_batch_share), not the lattice",
                             (long long)B, (long long)nb);
    int64_t k = reverse ? nb / B : nt;
    k = k < nt ? k : nt;
    if (k < R)
        return dca_error_set(err, DCA_ERR_ARG,
                             "the lattice holds %lld %s%s (tiles of %lld cells); %d parts "
                             "need at least as many",
                             (long long)k, reverse ? "gradient block" : "tile",
                             k == 1 ? "" : "s", (long long)s->tile, R);
    /* The neighbourhood's reach. */
    const dca_nbhd *nbh = dca_rule_nbhd(s->rule);
    const int32_t *off = dca_nbhd_offsets(nbh);
    part_reach e = {0, 0, 0, 0};
    for (int i = 0; i < g->m; i++) {
        const int64_t oy = lat->dims == 1 ? 0 : off[2 * i];
        const int64_t ox = lat->dims == 1 ? off[i] : off[2 * i + 1];
        e.up = -oy > e.up ? -oy : e.up;
        e.down = oy > e.down ? oy : e.down;
        e.left = -ox > e.left ? -ox : e.left;
        e.right = ox > e.right ? ox : e.right;
    }
    /* Every part checks every part, so that all of them fail alike (a
     * collective hook would otherwise wait for the one that failed). */
    for (int q = 0; q < R; q++) {
        const part_window w = part_window_of(g, lat->dims, e, s->tile, nt, k, R, q);
        const part_window pw = part_window_of(g, lat->dims, e, s->tile, nt, k, R, (q + R - 1) % R);
        const part_window nw = part_window_of(g, lat->dims, e, s->tile, nt, k, R, (q + 1) % R);
        const int64_t own = w.b - w.a;
        if (lat->dims == 2 ? w.rows > g->rows : w.cols > g->cols)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "part %d of %d spans %lld %s with its halo, more than the "
                                 "lattice's %lld: use fewer parts",
                                 q, R, (long long)(lat->dims == 2 ? w.rows : w.cols),
                                 lat->dims == 2 ? "rows" : "cells",
                                 (long long)(lat->dims == 2 ? g->rows : g->cols));
        if (own < window_after(pw) || own < nw.own0)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "part %d of %d holds %lld cells, fewer than a neighbouring "
                                 "part's halo (%lld): use fewer parts",
                                 q, R, (long long)own,
                                 (long long)(window_after(pw) > nw.own0 ? window_after(pw)
                                                                        : nw.own0));
    }
    const part_window w = part_window_of(g, lat->dims, e, s->tile, nt, k, R, r);
    const part_window pw = part_window_of(g, lat->dims, e, s->tile, nt, k, R, (r + R - 1) % R);
    const part_window nw = part_window_of(g, lat->dims, e, s->tile, nt, k, R, (r + 1) % R);
    s->part = (dca_part_info){
        .parts = R,
        .part = r,
        .prev = (r + R - 1) % R,
        .next = (r + 1) % R,
        .cells = window_cells(w),
        .own_first = w.own0,
        .own_count = w.b - w.a,
        .lattice_first = w.a,
        .window_first = w.w0,
        .window_rows = w.rows,
        .window_cols = w.cols,
        .to_prev = window_after(pw),
        .to_next = nw.own0,
        .block_first = reverse ? w.i0 : 0,
        .block_count = reverse ? w.i1 - w.i0 : 0,
        .blocks_per_config = reverse ? k : 0,
    };
    /* The window as the plan's torus: no own cell's neighbour wraps in it. */
    g->rows = w.rows;
    g->cols = w.cols;
    g->cells = window_cells(w);
    for (int i = 0; i < g->m; i++) {
        const int64_t oy = lat->dims == 1 ? 0 : off[2 * i];
        const int64_t ox = lat->dims == 1 ? off[i] : off[2 * i + 1];
        s->dy[i] = ((oy % g->rows) + g->rows) % g->rows;
        s->dx[i] = ((ox % g->cols) + g->cols) % g->cols;
    }
    s->own0 = w.own0;
    s->own1 = w.own0 + (w.b - w.a);
    s->ntiles = w.t1 - w.t0;
    s->halo = o->halo;
    if (!reverse)
        return DCA_OK;
    /* Blocks: configuration-major, this part's groups of each. */
    const int64_t kk = w.i1 - w.i0, ntl = s->ntiles;
    s->nblocks = B * kk;
    s->nblocks_batch = B * k;
    if (!(s->block_start = malloc((size_t)(s->nblocks + 1) * sizeof *s->block_start)))
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < kk; i++)
            s->block_start[b * kk + i] = b * ntl + (w.i0 + i) * nt / k - w.t0;
    s->block_start[s->nblocks] = B * ntl;
    return DCA_OK;
}

dca_status dca_sim_part(const dca_sim *sim, dca_part_info *out)
{
    if (!sim || !out)
        return DCA_ERR_ARG;
    *out = sim->part;
    return DCA_OK;
}

dca_status dca_sim_halo_fill(dca_sim *sim, double *x)
{
    if (!sim)
        return DCA_ERR_ARG;
    if (!x)
        return misuse(sim, "dca_sim_halo_fill: NULL state");
    if (sim->part.parts < 2)
        return DCA_OK;
    const dca_halo_buffer hb = {.data = x, .real = sizeof(double), .configs = sim->batch,
                                .planes = 1, .cell_len = sim->g.cell_len};
    dca_status st = sim->halo.fn(sim->halo.ctx, &sim->part, &hb);
    if (st)
        misuse(sim, "dca_sim_halo_fill: the halo hook failed (%s)", dca_status_str(st));
    return st;
}

/* The one place that sizes a plan's buffers: the up-front estimate, the
 * allocation and dca_sim_memory all read it. Bytes, as a double so that an
 * absurd request cannot overflow before it is refused. */
typedef struct plan_sizes {
    double work, mr, rho_r, gacc, gx, grad; /* bytes, all threads */
} plan_sizes;

static plan_sizes sizes_of(const dca_sim *s)
{
    const double rb = (double)s->real, P = (double)dca_rule_params(s->rule);
    plan_sizes z = {
        .work = rb * (double)s->work_len * s->threads,
        .mr = rb * (double)s->mr_len,
        .rho_r = rb * (double)s->rho_r_len,
        .gacc = rb * (double)s->nblocks * P,
        .gx = (s->grad & DCA_GRAD_REVERSE) && !s->stripe
                  ? rb * (double)s->batch * s->g.m * s->g.cell_len * (double)s->g.cells
                  : 0.0,
        .grad = s->grad ? 16.0 * P : 0.0, /* Mv and drho */
    };
    return z;
}

static double sizes_total(plan_sizes z) { return z.work + z.mr + z.rho_r + z.gacc + z.gx + z.grad; }

dca_status dca_sim_create(const dca_lattice *lat, dca_rule *rule, int64_t batch,
                          const dca_sim_options *opt, dca_sim **out, dca_error *err)
{
    if (!lat || !rule || !out)
        return dca_error_set(err, DCA_ERR_ARG, "dca_sim_create: NULL argument");
    *out = NULL;
    const dca_nbhd *nb = dca_rule_nbhd(rule);
    if (dca_nbhd_dims(nb) != lat->dims)
        return dca_error_set(err, DCA_ERR_ARG,
                             "the neighbourhood is %dD but the lattice is %dD",
                             dca_nbhd_dims(nb), lat->dims);
    if (batch < 1)
        return dca_error_set(err, DCA_ERR_ARG, "the batch needs at least 1 configuration");
    dca_sim_options o = opt ? *opt : (dca_sim_options){0};
    if (o.threads < 0 || o.tile_cells < 0)
        return dca_error_set(err, DCA_ERR_ARG, "threads and tile size must not be negative");
    if (o.precision != DCA_FLOAT64 && o.precision != DCA_FLOAT32)
        return dca_error_set(err, DCA_ERR_ARG, "unknown precision %d", (int)o.precision);
    if (o.gradients & ~(unsigned)(DCA_GRAD_FORWARD | DCA_GRAD_REVERSE))
        return dca_error_set(err, DCA_ERR_ARG, "unknown gradient bits 0x%x", o.gradients);
    if (o.precision == DCA_FLOAT32 && (o.gradients & DCA_GRAD_FORWARD))
        return dca_error_set(err, DCA_ERR_ARG,
                             "forward-mode gradients run in float64 only; use reverse mode "
                             "or precision = float64");
    const dca_rule_kind kind = dca_rule_kind_of(rule);
    if ((size_t)kind >= sizeof model_types / sizeof *model_types || !model_types[kind])
        return dca_error_set(err, DCA_ERR_ARG, "no model type for rule kind %d", (int)kind);

    dca_sim *s = calloc(1, sizeof *s);
    if (!s)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    const int m = dca_nbhd_count(nb);
    const int32_t *off = dca_nbhd_offsets(nb);
    s->rule = rule;
    s->type = model_types[kind];
    s->batch = batch;
    s->seed = o.seed;
    s->dy = malloc((size_t)m * sizeof *s->dy);
    s->dx = malloc((size_t)m * sizeof *s->dx);
    if (!s->dy || !s->dx)
        goto nomem;
    dca_geom *g = &s->g;
    g->rows = lat->dims == 1 ? 1 : lat->shape[0];
    g->cols = lat->dims == 1 ? lat->shape[0] : lat->shape[1];
    g->cells = g->rows * g->cols;
    g->m = m;
    for (int i = 0; i < m; i++) {
        int64_t oy = lat->dims == 1 ? 0 : off[2 * i];
        int64_t ox = lat->dims == 1 ? off[i] : off[2 * i + 1];
        s->dy[i] = ((oy % g->rows) + g->rows) % g->rows;
        s->dx[i] = ((ox % g->cols) + g->cols) % g->cols;
    }
    g->dy = s->dy;
    g->dx = s->dx;
    g->k = dca_rule_states(rule);
    g->binary = dca_rule_mode(rule) == DCA_MODE_BINARY;
    g->outputs = dca_rule_outputs(rule);
    g->cell_len = g->binary ? 1 : g->k;
    g->centre = kind == DCA_RULE_OUTER_TOTALISTIC ? dca_nbhd_center(nb) : -1;
    s->threads = o.threads ? o.threads : omp_get_max_threads();
    s->grad = o.gradients;
    s->precision = o.precision;
    s->real = o.precision == DCA_FLOAT32 ? sizeof(float) : sizeof(double);

    dca_status st = s->type->plan(s, &o, err);
    if (st) {
        dca_sim_destroy(s);
        return st;
    }
    s->ntiles = (g->cells + s->tile - 1) / s->tile;
    s->own0 = 0;
    s->own1 = g->cells;
    if (!(s->grad & DCA_GRAD_FORWARD))
        s->tangent = NULL;
    if (!(s->grad & DCA_GRAD_REVERSE))
        s->adjoint = NULL, s->stripe = NULL;
    const int64_t P = dca_rule_params(rule);
    if (o.parts < 0) {
        dca_sim_destroy(s);
        return dca_error_set(err, DCA_ERR_ARG, "parts must not be negative");
    }
    s->part = (dca_part_info){.parts = 1, .part = 0, .cells = g->cells, .own_count = g->cells,
                              .window_rows = g->rows, .window_cols = g->cols};
    if (o.parts > 1) {
        st = plan_part(s, lat, P, &o, err);
        if (st) {
            dca_sim_destroy(s);
            return st;
        }
    } else if (s->grad & DCA_GRAD_REVERSE) {
        st = plan_blocks(s, P, &o, err);
        if (st) {
            dca_sim_destroy(s);
            return st;
        }
    }

    const plan_sizes z = sizes_of(s);
    const double need = sizes_total(z);
    if (need > (double)dca_mem_physical() / 2) {
        char a[64], b[64];
        dca_sim_destroy(s);
        return dca_error_set(err, DCA_ERR_NOMEM,
                             "the simulator's workspace needs %s, more than half of %s",
                             dca_mem_fmt(need, a, sizeof a), dca_mem_budget(b, sizeof b));
    }
    s->work = calloc((size_t)s->threads, sizeof *s->work);
    if (!s->work)
        goto nomem;
    for (int t = 0; t < s->threads; t++)
        if (!(s->work[t] = dca_alloc((size_t)s->work_len * s->real)))
            goto nomem;
    if (s->mr_len && !(s->Mr = dca_alloc((size_t)z.mr)))
        goto nomem;
    if (s->rho_r_len && !(s->rho_r = dca_alloc((size_t)z.rho_r)))
        goto nomem;
    if (s->grad) {
        s->Mv = dca_alloc((size_t)P * sizeof(double));
        s->drho = dca_alloc((size_t)P * sizeof(double));
        if (!s->Mv || !s->drho)
            goto nomem;
    }
    if (s->grad & DCA_GRAD_REVERSE) {
        s->Gx = z.gx > 0 ? dca_alloc((size_t)z.gx) : NULL; /* none: the stripe function */
        s->Gacc = dca_calloc((size_t)z.gacc);
        if ((z.gx > 0 && !s->Gx) || !s->Gacc)
            goto nomem;
    }
    dca_sim_set_params(s, NULL, NULL);
    *out = s;
    return DCA_OK;
nomem:
    dca_sim_destroy(s);
    return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the simulator's workspace");
}

void dca_sim_destroy(dca_sim *sim)
{
    if (!sim)
        return;
    if (sim->work)
        for (int t = 0; t < sim->threads; t++)
            free(sim->work[t]);
    free(sim->work);
    free(sim->Mr);
    free(sim->rho_r);
    free(sim->Mv);
    free(sim->drho);
    free(sim->Gx);
    free(sim->Gacc);
    free(sim->block_start);
    free(sim->dy);
    free(sim->dx);
    free(sim);
}

dca_status dca_sim_set_params(dca_sim *sim, const double *weights, dca_error *err)
{
    if (!sim)
        return dca_error_set(err, DCA_ERR_ARG, "dca_sim_set_params: NULL plan");
    if (weights) {
        dca_status st = dca_rule_set_weights(sim->rule, weights, err);
        if (st)
            return st;
    }
    sim->type->set_params(sim);
    if (sim->grad) {
        const double *rho = dca_rule_probabilities(sim->rule);
        const int64_t P = dca_rule_params(sim->rule);
        for (int64_t i = 0; i < P; i++)
            sim->drho[i] = rho[i] * (1.0 - rho[i]);
    }
    sim->generation = dca_rule_generation(sim->rule);
    return DCA_OK;
}

int64_t dca_sim_memory(const dca_sim *sim) { return (int64_t)sizes_total(sizes_of(sim)); }
int64_t dca_sim_config_len(const dca_sim *sim) { return sim->g.cells * sim->g.cell_len; }
int64_t dca_sim_batch(const dca_sim *sim) { return sim->batch; }
int dca_sim_threads(const dca_sim *sim) { return sim->threads; }
int64_t dca_sim_params(const dca_sim *sim) { return dca_rule_params(sim->rule); }
dca_kernel dca_sim_kernel(const dca_sim *sim) { return sim->kernel; }

const char *dca_kernel_name(dca_kernel kernel)
{
    static const char *const names[] = {
        [DCA_KERNEL_AUTO] = "auto",
        [DCA_KERNEL_BLAS] = "blas",
        [DCA_KERNEL_REFERENCE] = "reference",
        [DCA_KERNEL_TOTALISTIC] = "totalistic",
        [DCA_KERNEL_FUSED] = "fused",
    };
    return (unsigned)kernel < sizeof names / sizeof *names && names[kernel] ? names[kernel]
                                                                             : "unknown";
}
dca_precision dca_sim_precision(const dca_sim *sim) { return sim->precision; }
int64_t dca_sim_tile_cells(const dca_sim *sim) { return sim->tile; }
unsigned dca_sim_gradients(const dca_sim *sim) { return sim->grad; }
const char *dca_sim_model(const dca_sim *sim) { return sim->type->name; }
const char *dca_sim_error(const dca_sim *sim) { return sim ? sim->msg : "no plan"; }

/* The checks every step makes: cheap, always on. */
static dca_status check_step(dca_sim *s, const char *fn, const void *a, const void *b)
{
    if (!a || !b)
        return misuse(s, "%s: NULL state", fn);
    if (a == b && !s->type->in_place)
        return misuse(s, "%s: input and output are the same buffer", fn);
    if (s->generation != dca_rule_generation(s->rule))
        return misuse(s, "%s: the rule's weights changed after the plan last read them; set "
                         "them with dca_sim_set_params (or call it with NULL to re-read)", fn);
    return DCA_OK;
}

dca_status dca_sim_step_at(dca_sim *sim, int64_t t, const double *x, double *y)
{
    if (!sim)
        return DCA_ERR_ARG;
    dca_status st = check_step(sim, "dca_sim_step", x, y);
    if (st)
        return st;
    const dca_sim *s = sim;
    const int64_t units = sim->batch * sim->ntiles, ntiles = sim->ntiles, tile = sim->tile;
    const int64_t len = dca_sim_config_len(sim), own0 = sim->own0, own1 = sim->own1;
    const int64_t chunk = sched_chunk(units, sim->threads);
    const int team = team_size(units, sim->threads);
    const dca_values_unit_fn values = sim->values;
    void **work = sim->work;

    /* Inside the region each thread asks for 1 thread in nested regions:
     * the OpenMP build of OpenBLAS reads that (omp_get_max_threads) when
     * omp_in_parallel() is false, as it is in a team of one. Without it a
     * 1-thread run would let OpenBLAS split large DGEMMs its own way, and
     * its split changes the rounding: results would depend on the thread
     * count. */
#pragma omp parallel num_threads(team) default(none) \
    shared(s, x, y, work) firstprivate(units, ntiles, tile, len, own0, own1, chunk, values, t)
    {
        omp_set_num_threads(1);
        void *w = work[omp_get_thread_num()];
        /* nowait: the region's end is the step's one barrier. */
#pragma omp for schedule(dynamic, chunk) nowait
        for (int64_t u = 0; u < units; u++) {
            int64_t b, c0, c1;
            unit_range(own0, own1, u, ntiles, tile, &b, &c0, &c1);
            values(s, t, b, x + b * len, y + b * len, c0, c1, w);
        }
    }
    return DCA_OK;
}

dca_status dca_sim_step(dca_sim *sim, const double *x, double *y)
{
    return dca_sim_step_at(sim, 0, x, y);
}

dca_status dca_sim_tangent_step(dca_sim *sim, const double *x, const double *J, double *Jn,
                                int64_t configs)
{
    if (!sim)
        return DCA_ERR_ARG;
    if (!sim->tangent)
        return misuse(sim, "dca_sim_tangent_step: the plan was made without DCA_GRAD_FORWARD");
    dca_status st = check_step(sim, "dca_sim_tangent_step", x, Jn);
    if (st == DCA_OK && (!J || !Jn))
        st = misuse(sim, "dca_sim_tangent_step: NULL tangent");
    if (st == DCA_OK && (configs < 1 || configs > sim->batch))
        st = misuse(sim, "dca_sim_tangent_step: %lld configurations; the plan has %lld",
                    (long long)configs, (long long)sim->batch);
    if (st)
        return st;
    const dca_sim *s = sim;
    const int64_t ntiles = sim->ntiles, tile = sim->tile, units = configs * ntiles;
    const int64_t len = dca_sim_config_len(sim), jlen = len * dca_rule_params(sim->rule);
    const int64_t own0 = sim->own0, own1 = sim->own1;
    const int64_t chunk = sched_chunk(units, sim->threads);
    const int team = team_size(units, sim->threads);
    const dca_tangent_unit_fn tangent = sim->tangent;
    void **work = sim->work;

#pragma omp parallel num_threads(team) default(none) \
    shared(s, x, J, Jn, work) \
    firstprivate(units, ntiles, tile, len, jlen, own0, own1, chunk, tangent)
    {
        omp_set_num_threads(1); /* see dca_sim_step_at */
        void *w = work[omp_get_thread_num()];
#pragma omp for schedule(dynamic, chunk) nowait
        for (int64_t u = 0; u < units; u++) {
            int64_t b, c0, c1;
            unit_range(own0, own1, u, ntiles, tile, &b, &c0, &c1);
            tangent(s, 0, b, x + b * len, J + b * jlen, Jn + b * jlen, c0, c1, w);
        }
    }
    return DCA_OK;
}

dca_status dca_sim_adjoint_begin(dca_sim *sim)
{
    if (!sim)
        return DCA_ERR_ARG;
    if (!sim->adjoint)
        return misuse(sim, "dca_sim_adjoint_begin: the plan was made without DCA_GRAD_REVERSE");
    memset(sim->Gacc, 0, (size_t)sim->nblocks * (size_t)dca_rule_params(sim->rule) * sim->real);
    sim->adjoint_open = 1;
    return DCA_OK;
}

/* dE/dx of one work unit's cells: the per-offset parts in offset order. */
static inline void gather_unit(const dca_geom *g, const char *Gx, double *xbar, int64_t u,
                               int64_t ntiles, int64_t tile, int64_t own0, int64_t own1,
                               int64_t len, int64_t gxlen, bool f32)
{
    int64_t b, c0, c1;
    unit_range(own0, own1, u, ntiles, tile, &b, &c0, &c1);
    if (f32)
        dca_kernel_adjoint_gather_f32(g, (const float *)(const void *)Gx + b * gxlen,
                                      xbar + b * len, c0, c1);
    else
        dca_kernel_adjoint_gather(g, (const double *)(const void *)Gx + b * gxlen, xbar + b * len,
                                  c0, c1);
}

dca_status dca_sim_adjoint_step_at(dca_sim *sim, int64_t t, const double *x, const double *ybar,
                                   double *xbar)
{
    if (!sim)
        return DCA_ERR_ARG;
    if (!sim->adjoint)
        return misuse(sim, "dca_sim_adjoint_step: the plan was made without DCA_GRAD_REVERSE");
    if (!sim->adjoint_open)
        return misuse(sim, "dca_sim_adjoint_step: call dca_sim_adjoint_begin first");
    dca_status st = check_step(sim, "dca_sim_adjoint_step", x, xbar);
    if (st == DCA_OK && (!ybar || ybar == xbar))
        st = misuse(sim, "dca_sim_adjoint_step: ybar is NULL or the same buffer as xbar");
    if (st)
        return st;
    const dca_sim *s = sim;
    const dca_geom *g = &sim->g;
    const int64_t ntiles = sim->ntiles, tile = sim->tile, units = sim->batch * ntiles;
    const int64_t len = dca_sim_config_len(sim), P = dca_rule_params(sim->rule);
    const int64_t gxlen = (int64_t)g->m * g->cell_len * g->cells, nblocks = sim->nblocks;
    const int64_t chunk = sched_chunk(units, sim->threads);
    const int team = team_size(units, sim->threads);
    const bool f32 = sim->precision == DCA_FLOAT32;
    const size_t real = sim->real;
    const dca_adjoint_unit_fn adjoint = sim->adjoint;
    void **work = sim->work;
    char *Gx = sim->Gx, *Gacc = sim->Gacc;
    const int64_t *bstart = sim->block_start;
    const int64_t own0 = sim->own0, own1 = sim->own1;
    /* A lattice part fills the halo of Gx between the two halves. */
    const bool split = sim->part.parts > 1;
    if (sim->stripe && !split) {
        /* Runs of whole blocks, about 4 per thread, cut at configurations:
         * the model's stripe function needs no Gx and no gather pass. */
        const dca_adjoint_stripe_fn stripe = sim->stripe;
        const int64_t items = nblocks < 4 * (int64_t)sim->threads ? nblocks
                                                                   : 4 * (int64_t)sim->threads;
#pragma omp parallel num_threads(team) default(none) \
    shared(s, x, ybar, xbar, work, bstart) firstprivate(items, nblocks, ntiles, stripe)
        {
            omp_set_num_threads(1); /* see dca_sim_step_at */
            void *w = work[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
            for (int64_t i = 0; i < items; i++) {
                const int64_t u1 = bstart[(i + 1) * nblocks / items];
                for (int64_t u = bstart[i * nblocks / items]; u < u1;) {
                    const int64_t end = (u / ntiles + 1) * ntiles; /* the configuration's */
                    const int64_t v = end < u1 ? end : u1;
                    stripe(s, x, ybar, xbar, u, v, w);
                    u = v;
                }
            }
        }
        return DCA_OK;
    }

#pragma omp parallel num_threads(team) default(none) \
    shared(s, g, x, ybar, xbar, work, Gx, Gacc, bstart) \
    firstprivate(units, ntiles, tile, len, P, gxlen, nblocks, f32, real, chunk, adjoint, t, \
                 own0, own1, split)
    {
        omp_set_num_threads(1); /* see dca_sim_step_at */
        void *w = work[omp_get_thread_num()];
        /* Block j takes units [block_start[j], block_start[j + 1]) in order. */
#pragma omp for schedule(dynamic)
        for (int64_t j = 0; j < nblocks; j++) {
            for (int64_t u = bstart[j]; u < bstart[j + 1]; u++) {
                int64_t b, c0, c1;
                unit_range(own0, own1, u, ntiles, tile, &b, &c0, &c1);
                adjoint(s, t, b, x + b * len, ybar + b * len, Gacc + (size_t)(j * P) * real,
                        Gx + (size_t)(b * gxlen) * real, c0, c1, w);
            }
        }
        if (!split) {
#pragma omp for schedule(dynamic, chunk) nowait
            for (int64_t u = 0; u < units; u++)
                gather_unit(g, Gx, xbar, u, ntiles, tile, own0, own1, len, gxlen, f32);
        }
    }
    if (!split)
        return DCA_OK;
    const dca_halo_buffer hb = {.data = Gx, .real = real, .configs = sim->batch,
                                .planes = (int64_t)g->m * g->cell_len, .cell_len = 1};
    if ((st = sim->halo.fn(sim->halo.ctx, &sim->part, &hb))) {
        misuse(sim, "dca_sim_adjoint_step: the halo hook failed (%s)", dca_status_str(st));
        return st;
    }
#pragma omp parallel num_threads(team) default(none) shared(g, Gx, xbar) \
    firstprivate(units, ntiles, tile, own0, own1, len, gxlen, f32, chunk)
    {
        omp_set_num_threads(1);
#pragma omp for schedule(dynamic, chunk) nowait
        for (int64_t u = 0; u < units; u++)
            gather_unit(g, Gx, xbar, u, ntiles, tile, own0, own1, len, gxlen, f32);
    }
    return DCA_OK;
}

dca_status dca_sim_adjoint_step(dca_sim *sim, const double *x, const double *ybar, double *xbar)
{
    return dca_sim_adjoint_step_at(sim, 0, x, ybar, xbar);
}

int64_t dca_sim_gradient_blocks(const dca_sim *sim) { return sim ? sim->nblocks : 0; }
int64_t dca_sim_gradient_blocks_batch(const dca_sim *sim) { return sim ? sim->nblocks_batch : 0; }

/* Ends the sweep; checks shared by the two ways to end it. */
static dca_status adjoint_close(dca_sim *sim, const char *fn, const void *out)
{
    if (!sim->adjoint)
        return misuse(sim, "%s: the plan was made without DCA_GRAD_REVERSE", fn);
    if (!sim->adjoint_open)
        return misuse(sim, "%s: call dca_sim_adjoint_begin first", fn);
    if (!out)
        return misuse(sim, "%s: NULL output", fn);
    sim->adjoint_open = 0;
    return DCA_OK;
}

/* Adds block j's dE/drho to out (the model type's layout unpacked). */
static void add_block(const dca_sim *sim, int64_t j, double *out)
{
    const int64_t P = dca_rule_params(sim->rule);
    sim->type->unpack_gradient(sim, (const char *)sim->Gacc + (size_t)(j * P) * sim->real, out);
}

dca_status dca_sim_adjoint_blocks(dca_sim *sim, double *blocks)
{
    if (!sim)
        return DCA_ERR_ARG;
    dca_status st = adjoint_close(sim, "dca_sim_adjoint_blocks", blocks);
    if (st)
        return st;
    const int64_t P = dca_rule_params(sim->rule);
    for (int64_t j = 0; j < sim->nblocks; j++) {
        double *bj = blocks + j * P;
        for (int64_t i = 0; i < P; i++)
            bj[i] = 0.0;
        add_block(sim, j, bj);
    }
    return DCA_OK;
}

/* dE/dw from dE/drho: through rho = sigmoid(w), or softmax(w) per pattern. */
static void chain_rho(const dca_sim *sim, double *grad_w)
{
    const int64_t P = dca_rule_params(sim->rule);
    const int out = sim->g.outputs;
    const double *rho = dca_rule_probabilities(sim->rule);
    if (sim->g.binary) {
        for (int64_t i = 0; i < P; i++)
            grad_w[i] *= sim->drho[i];
        return;
    }
    for (int64_t y = 0; y < P / out; y++) {
        const double *r = rho + y * out;
        double *gr = grad_w + y * out;
        double dot = 0.0;
        for (int a = 0; a < out; a++)
            dot += gr[a] * r[a];
        for (int a = 0; a < out; a++)
            gr[a] = r[a] * (gr[a] - dot);
    }
}

dca_status dca_sim_adjoint_finish(dca_sim *sim, const double *blocks, int64_t nblocks,
                                  double *grad_w)
{
    if (!sim)
        return DCA_ERR_ARG;
    if (!sim->adjoint)
        return misuse(sim, "dca_sim_adjoint_finish: the plan was made without DCA_GRAD_REVERSE");
    if (!blocks || !grad_w || nblocks < 0)
        return misuse(sim, "dca_sim_adjoint_finish: NULL blocks or gradient");
    const int64_t P = dca_rule_params(sim->rule);
    for (int64_t i = 0; i < P; i++)
        grad_w[i] = 0.0;
    /* dE/drho: the blocks in order. */
    for (int64_t j = 0; j < nblocks; j++)
        for (int64_t i = 0; i < P; i++)
            grad_w[i] += blocks[j * P + i];
    chain_rho(sim, grad_w);
    return DCA_OK;
}

dca_status dca_sim_adjoint_end(dca_sim *sim, double *grad_w)
{
    if (!sim)
        return DCA_ERR_ARG;
    dca_status st = adjoint_close(sim, "dca_sim_adjoint_end", grad_w);
    if (st)
        return st;
    const int64_t P = dca_rule_params(sim->rule);
    /* dE/drho: the blocks in order. */
    for (int64_t i = 0; i < P; i++)
        grad_w[i] = 0.0;
    for (int64_t j = 0; j < sim->nblocks; j++)
        add_block(sim, j, grad_w);
    chain_rho(sim, grad_w);
    return DCA_OK;
}
