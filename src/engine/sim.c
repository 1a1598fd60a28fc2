/* Simulation plan: validates shapes, picks the kernel, sizes the workspace
 * once (dca_sim_create); dca_sim_step then only computes.
 *
 * Parallel work: the unit is a (configuration, tile) pair, tiles being
 * fixed ranges of cells independent of the thread count. Each unit writes
 * only its own cells and there is no reduction, so results are bitwise
 * identical for any number of threads. */
#include "dca/dca.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "mem.h"

struct dca_sim {
    const dca_rule *rule;
    int64_t batch;
    dca_geom g;
    int64_t *dy, *dx;
    dca_kernel kernel;
    int threads;
    int64_t tile, ntiles;
    dca_split split;
    dca_precision precision;
    size_t real;    /* bytes per number in Mr, work, Gx, Gacc: 8 or 4 */
    dca_split fsplit; /* fused kernel */
    void *rho_r;    /* fused kernel: rho in the kernel's precision, pattern order */
    void *Mr;       /* BLAS kernel (and gradients of the fused one): packed rule */
    void **work;    /* per thread */
    int64_t work_len; /* numbers (of `real` bytes) per thread */
    /* Gradients. */
    unsigned grad;
    double *Mv;       /* forward mode: rule regrouped per output */
    double *drho;     /* binary: rho (1 - rho) */
    void *Gx;         /* reverse: per-offset parts of dE/dx, B x m x L x cells */
    void *Gacc;       /* reverse: nblocks partial dE/drho (Mr layout for BLAS) */
    int64_t nblocks;
};

/* Choose the leading part of the neighbourhood so that the GEMM's inner
 * dimension (KR) is the larger half: KR = k^ceil(m/2). */
static dca_split choose_split(int m, int k)
{
    dca_split sp = {.mL = m / 2, .KL = 1, .KR = 1};
    for (int s = 0; s < m; s++) {
        if (s < sp.mL)
            sp.KL *= k;
        else
            sp.KR *= k;
    }
    return sp;
}

/* Tiles of about 512 KiB of workspace (L2-sized), at least 64 cells so the
 * DGEMM has rows to work with, at most 4096, a multiple of 8. */
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

/* Work unit u is tile (u % ntiles) of configuration (u / ntiles). */
static inline void unit_range(const dca_geom *g, int64_t u, int64_t ntiles, int64_t tile,
                              int64_t *b, int64_t *c0, int64_t *c1)
{
    *b = u / ntiles;
    *c0 = (u % ntiles) * tile;
    *c1 = *c0 + tile < g->cells ? *c0 + tile : g->cells;
}

/* Outer-totalistic: about 256 KiB of workspace per tile, 64 to 1024 cells,
 * a multiple of 8. The gradient kernels keep every stage of the count
 * recurrence (O(m^2) rows), so for large neighbourhoods the 64-cell floor
 * wins: rows shorter than that leave the loops dominated by their overhead
 * (Moore radius 5, values + gradient: 8-cell tiles ran 2x slower than
 * 64-cell tiles of 4 MiB, measured with dca train on 256x256). */
static int64_t choose_tile_ot(const dca_geom *g, int grad)
{
    int64_t per_cell = dca_kernel_ot_work(g, 1, grad) * 8;
    int64_t t = (256 * 1024) / per_cell;
    t = t < 64 ? 64 : (t > 1024 ? 1024 : t);
    return t / 8 * 8;
}

/* Fused kernel: the gathered rows (m per cell) in about 16 KiB, so they stay
 * in L1 beside the leading products; 64 to 1024 cells, a multiple of 16. */
static int64_t choose_tile_fused(const dca_geom *g)
{
    int64_t t = (16 * 1024) / (8 * (int64_t)g->m);
    t = t < 64 ? 64 : (t > 1024 ? 1024 : t);
    return t / 16 * 16;
}

static int64_t choose_tile(const dca_geom *g, const dca_split *sp)
{
    int64_t per_cell = dca_kernel_blas_work(g, sp, 1) * 8;
    int64_t t = (512 * 1024) / per_cell;
    t = t < 64 ? 64 : (t > 4096 ? 4096 : t);
    return t / 8 * 8;
}

dca_status dca_sim_create(const dca_lattice *lat, const dca_rule *rule, int64_t batch,
                          const dca_sim_options *opt, dca_sim **out, dca_error *err)
{
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
    const bool ot = dca_rule_kind_of(rule) == DCA_RULE_OUTER_TOTALISTIC;
    if (ot && o.kernel != DCA_KERNEL_AUTO && o.kernel != DCA_KERNEL_TOTALISTIC)
        return dca_error_set(err, DCA_ERR_ARG,
                             "outer-totalistic rules run on the totalistic kernel only");
    if (!ot && o.kernel == DCA_KERNEL_TOTALISTIC)
        return dca_error_set(err, DCA_ERR_ARG, "the totalistic kernel is for outer-totalistic rules");
    if (o.precision != DCA_FLOAT64 && o.precision != DCA_FLOAT32)
        return dca_error_set(err, DCA_ERR_ARG, "unknown precision %d", (int)o.precision);
    if (o.precision == DCA_FLOAT32) {
        if (ot)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "float32 is implemented for table rules; outer-totalistic rules "
                                 "run in float64");
        if (o.kernel == DCA_KERNEL_REFERENCE)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "float32 runs on the BLAS kernel; the reference kernel is float64");
        if (o.gradients & DCA_GRAD_FORWARD)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "forward-mode gradients run in float64 only; use reverse mode "
                                 "or precision = float64");
    }

    dca_sim *s = calloc(1, sizeof *s);
    if (!s)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    const int m = dca_nbhd_count(nb);
    const int32_t *off = dca_nbhd_offsets(nb);
    s->rule = rule;
    s->batch = batch;
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
    g->centre = ot ? dca_nbhd_center(nb) : -1;

    const bool fusable = g->binary && m >= 2 && m <= DCA_FUSED_MAX_M;
    if (o.kernel == DCA_KERNEL_FUSED && !fusable) {
        free(s->dy);
        free(s->dx);
        free(s);
        return dca_error_set(err, DCA_ERR_ARG,
                             "the fused kernel is for binary table rules with 2 to %d neighbours",
                             DCA_FUSED_MAX_M);
    }
    /* Per shape (docs/performance.md): the fused kernel wins wherever it
     * applies; BLAS does softmax and every gradient. */
    s->kernel = ot ? DCA_KERNEL_TOTALISTIC
                   : (o.kernel == DCA_KERNEL_AUTO ? (fusable ? DCA_KERNEL_FUSED : DCA_KERNEL_BLAS)
                                                  : o.kernel);
    s->threads = o.threads ? o.threads : omp_get_max_threads();
    s->split = choose_split(m, g->k);
    s->tile = o.tile_cells ? o.tile_cells
                           : (ot ? choose_tile_ot(g, o.gradients != 0)
                              : (s->kernel == DCA_KERNEL_FUSED && !o.gradients
                                     ? choose_tile_fused(g)
                                     : choose_tile(g, &s->split)));
    if (s->tile > g->cells)
        s->tile = g->cells;
    s->ntiles = (g->cells + s->tile - 1) / s->tile;
    s->grad = o.gradients;
    s->precision = o.precision;
    s->real = o.precision == DCA_FLOAT32 ? sizeof(float) : sizeof(double);
    if (ot) {
        s->work_len = dca_kernel_ot_work(g, s->tile, s->grad != 0);
    } else if (s->kernel == DCA_KERNEL_BLAS || s->kernel == DCA_KERNEL_FUSED) {
        if (s->kernel == DCA_KERNEL_FUSED) {
            s->fsplit = dca_fused_split(m);
            s->work_len = dca_kernel_fused_work(g, &s->fsplit, s->tile);
        } else {
            s->work_len = dca_kernel_blas_work(g, &s->split, s->tile);
        }
        if (s->grad) {
            int64_t gw = dca_kernel_grad_work(g, &s->split, s->tile);
            s->work_len = gw > s->work_len ? gw : s->work_len;
        }
    } else {
        s->work_len = m + g->outputs + 8;
        if (s->grad) {
            int64_t gw = dca_kernel_ref_grad_work(g);
            s->work_len = gw > s->work_len ? gw : s->work_len;
        }
    }
    const int64_t P = dca_rule_params(rule);
    if (s->grad & DCA_GRAD_REVERSE) {
        /* A fixed partition of the work units into blocks, each summed by
         * one thread in unit order, the blocks then summed in block order:
         * the rule gradient is the same for any thread count. */
        int64_t units = batch * ((g->cells + s->tile - 1) / s->tile);
        s->nblocks = units < 64 ? units : 64;
        while (s->nblocks > 1 && (double)s->nblocks * (double)P > (double)(1 << 25))
            s->nblocks /= 2;
    }

    const double rb = (double)s->real;
    /* Mr (BLAS, or the fused kernel's gradients) and rho_r (fused), as allocated below. */
    const bool has_mr = s->kernel == DCA_KERNEL_BLAS || (s->kernel == DCA_KERNEL_FUSED && s->grad);
    double need = rb * ((double)s->work_len * s->threads + (has_mr ? (double)P : 0.0) +
                        (s->kernel == DCA_KERNEL_FUSED ? (double)P : 0.0) +
                        (double)s->nblocks * (double)P +
                        (s->grad & DCA_GRAD_REVERSE
                             ? (double)batch * m * g->cell_len * (double)g->cells
                             : 0.0)) +
                  (s->grad ? 16.0 * (double)P : 0.0);
    if (need > (double)dca_mem_physical() / 2) {
        char a[64], b[64];
        free(s->dy);
        free(s->dx);
        free(s);
        return dca_error_set(err, DCA_ERR_NOMEM,
                             "the simulator's workspace needs %s, more than half of %s", dca_mem_fmt(need, a, sizeof a),
                             dca_mem_budget(b, sizeof b));
    }
    s->work = calloc((size_t)s->threads, sizeof *s->work);
    if (!s->work)
        goto nomem;
    for (int t = 0; t < s->threads; t++)
        if (!(s->work[t] = dca_alloc((size_t)s->work_len * s->real)))
            goto nomem;
    if (has_mr) {
        s->Mr = dca_alloc((size_t)P * s->real);
        if (!s->Mr)
            goto nomem;
    }
    if (s->kernel == DCA_KERNEL_FUSED) {
        s->rho_r = dca_alloc((size_t)P * s->real);
        if (!s->rho_r)
            goto nomem;
    }
    if (s->grad) {
        s->Mv = dca_alloc((size_t)P * sizeof(double));
        s->drho = dca_alloc((size_t)P * sizeof(double));
        if (!s->Mv || !s->drho)
            goto nomem;
    }
    if (s->grad & DCA_GRAD_REVERSE) {
        s->Gx = dca_alloc((size_t)batch * (size_t)m * (size_t)g->cell_len * (size_t)g->cells *
                          s->real);
        s->Gacc = dca_calloc((size_t)s->nblocks * (size_t)P * s->real);
        if (!s->Gx || !s->Gacc)
            goto nomem;
    }
    dca_sim_refresh(s);
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
    free(sim->dy);
    free(sim->dx);
    free(sim);
}

void dca_sim_refresh(dca_sim *sim)
{
    const double *rho = dca_rule_probabilities(sim->rule);
    const int64_t P = dca_rule_params(sim->rule);
    if (sim->Mr && sim->precision == DCA_FLOAT32)
        dca_kernel_blas_pack_f32(&sim->g, &sim->split, rho, sim->Mr);
    else if (sim->Mr)
        dca_kernel_blas_pack(&sim->g, &sim->split, rho, sim->Mr);
    if (sim->rho_r && sim->precision == DCA_FLOAT32)
        for (int64_t i = 0; i < P; i++)
            ((float *)sim->rho_r)[i] = (float)rho[i];
    else if (sim->rho_r)
        memcpy(sim->rho_r, rho, (size_t)P * sizeof(double));
    if (sim->grad) {
        if (sim->Mr)
            dca_kernel_blas_pack_v(&sim->g, &sim->split, rho, sim->Mv);
        for (int64_t i = 0; i < P; i++)
            sim->drho[i] = rho[i] * (1.0 - rho[i]);
    }
}

int64_t dca_sim_memory(const dca_sim *sim)
{
    const int64_t P = dca_rule_params(sim->rule);
    const int64_t rb = (int64_t)sim->real;
    int64_t bytes = (int64_t)sim->threads * sim->work_len * rb;
    bytes += (sim->Mr ? P : 0) * rb + (sim->rho_r ? P : 0) * rb + (sim->grad ? 2 * P * 8 : 0) + sim->nblocks * P * rb;
    if (sim->Gx)
        bytes += sim->batch * sim->g.m * sim->g.cell_len * sim->g.cells * rb;
    return bytes;
}

int64_t dca_sim_config_len(const dca_sim *sim) { return sim->g.cells * sim->g.cell_len; }
int dca_sim_threads(const dca_sim *sim) { return sim->threads; }
int64_t dca_sim_params(const dca_sim *sim) { return dca_rule_params(sim->rule); }
dca_kernel dca_sim_kernel(const dca_sim *sim) { return sim->kernel; }
dca_precision dca_sim_precision(const dca_sim *sim) { return sim->precision; }
int64_t dca_sim_tile_cells(const dca_sim *sim) { return sim->tile; }

void dca_sim_step(dca_sim *sim, const double *x, double *y)
{
    const dca_geom *g = &sim->g;
    const dca_split *sp = &sim->split;
    const dca_split *fsp = &sim->fsplit;
    const void *Mr = sim->Mr, *rho_r = sim->rho_r;
    const double *rho = dca_rule_probabilities(sim->rule);
    const int64_t units = sim->batch * sim->ntiles, ntiles = sim->ntiles, tile = sim->tile;
    const int64_t len = dca_sim_config_len(sim);
    const dca_kernel kernel = sim->kernel;
    const int64_t chunk = sched_chunk(units, sim->threads);
    const bool f32 = sim->precision == DCA_FLOAT32;
    void **work = sim->work;

    /* Inside the region each thread asks for 1 thread in nested regions:
     * the OpenMP build of OpenBLAS reads that (omp_get_max_threads) when
     * omp_in_parallel() is false, as it is in a team of one. Without it a
     * 1-thread run would let OpenBLAS split large DGEMMs its own way, and
     * its split changes the rounding: results would depend on the thread
     * count. */
#pragma omp parallel num_threads(sim->threads) default(none) \
    shared(g, sp, fsp, Mr, rho_r, rho, x, y, work) \
    firstprivate(units, ntiles, tile, len, kernel, f32, chunk)
    {
        omp_set_num_threads(1);
        void *w = work[omp_get_thread_num()];
#pragma omp for schedule(dynamic, chunk)
        for (int64_t u = 0; u < units; u++) {
            int64_t b, c0, c1;
            unit_range(g, u, ntiles, tile, &b, &c0, &c1);
            if (kernel == DCA_KERNEL_FUSED && f32)
                dca_kernel_values_fused_f32(g, fsp, rho_r, x + b * len, y + b * len, c0, c1, w);
            else if (kernel == DCA_KERNEL_FUSED)
                dca_kernel_values_fused(g, fsp, rho_r, x + b * len, y + b * len, c0, c1, w);
            else if (kernel == DCA_KERNEL_BLAS && f32)
                dca_kernel_values_blas_f32(g, sp, Mr, x + b * len, y + b * len, c0, c1, w);
            else if (kernel == DCA_KERNEL_BLAS)
                dca_kernel_values_blas(g, sp, Mr, x + b * len, y + b * len, c0, c1, w);
            else if (kernel == DCA_KERNEL_TOTALISTIC)
                dca_kernel_values_ot(g, rho, x + b * len, y + b * len, c0, c1, w);
            else
                dca_kernel_values_ref(g, rho, x + b * len, y + b * len, c0, c1,
                                      (int64_t *)((double *)w + g->outputs), w);
        }
    }
}

void dca_sim_tangent_step(dca_sim *sim, const double *x, const double *J, double *Jn,
                          int64_t configs)
{
    const dca_geom *g = &sim->g;
    const dca_split *sp = &sim->split;
    const double *Mr = sim->Mr, *Mv = sim->Mv, *drho = sim->drho; /* float64: no forward mode in float32 */
    const double *rho = dca_rule_probabilities(sim->rule);
    const int64_t ntiles = sim->ntiles, tile = sim->tile, units = configs * ntiles;
    const int64_t len = dca_sim_config_len(sim), jlen = len * dca_rule_params(sim->rule);
    const dca_kernel kernel = sim->kernel;
    const int64_t chunk = sched_chunk(units, sim->threads);
    void **work = sim->work;

#pragma omp parallel num_threads(sim->threads) default(none) \
    shared(g, sp, Mr, Mv, rho, drho, x, J, Jn, work) \
    firstprivate(units, ntiles, tile, len, jlen, kernel, chunk)
    {
        omp_set_num_threads(1); /* see dca_sim_step */
        double *w = work[omp_get_thread_num()];
#pragma omp for schedule(dynamic, chunk)
        for (int64_t u = 0; u < units; u++) {
            int64_t b, c0, c1;
            unit_range(g, u, ntiles, tile, &b, &c0, &c1);
            if (kernel == DCA_KERNEL_BLAS || kernel == DCA_KERNEL_FUSED)
                dca_kernel_tangent_blas(g, sp, Mr, Mv, rho, drho, x + b * len, J + b * jlen,
                                        Jn + b * jlen, c0, c1, w);
            else if (kernel == DCA_KERNEL_TOTALISTIC)
                dca_kernel_tangent_ot(g, rho, drho, x + b * len, J + b * jlen, Jn + b * jlen, c0,
                                      c1, w);
            else
                dca_kernel_tangent_ref(g, rho, drho, x + b * len, J + b * jlen, Jn + b * jlen,
                                       c0, c1, w);
        }
    }
}

void dca_sim_adjoint_begin(dca_sim *sim)
{
    memset(sim->Gacc, 0, (size_t)sim->nblocks * (size_t)dca_rule_params(sim->rule) * sim->real);
}

void dca_sim_adjoint_step(dca_sim *sim, const double *x, const double *ybar, double *xbar)
{
    const dca_geom *g = &sim->g;
    const dca_split *sp = &sim->split;
    const void *Mr = sim->Mr;
    const double *rho = dca_rule_probabilities(sim->rule);
    const int64_t ntiles = sim->ntiles, tile = sim->tile, units = sim->batch * ntiles;
    const int64_t len = dca_sim_config_len(sim), P = dca_rule_params(sim->rule);
    const int64_t gxlen = (int64_t)g->m * g->cell_len * g->cells, nblocks = sim->nblocks;
    const dca_kernel kernel = sim->kernel;
    const int64_t chunk = sched_chunk(units, sim->threads);
    const bool f32 = sim->precision == DCA_FLOAT32;
    /* The fused kernel's gradients are the BLAS kernel's. */
    const bool blas = kernel == DCA_KERNEL_BLAS || kernel == DCA_KERNEL_FUSED;
    void **work = sim->work;
    /* One of the two views is used, by precision. */
    double *Gx = sim->Gx, *Gacc = sim->Gacc;
    float *Gx32 = sim->Gx, *Gacc32 = sim->Gacc;

#pragma omp parallel num_threads(sim->threads) default(none) \
    shared(g, sp, Mr, rho, x, ybar, xbar, work, Gx, Gacc, Gx32, Gacc32) \
    firstprivate(units, ntiles, tile, len, P, gxlen, nblocks, kernel, f32, blas, chunk)
    {
        omp_set_num_threads(1); /* see dca_sim_step */
        void *w = work[omp_get_thread_num()];
        /* Block j takes units [j*units/nblocks, (j+1)*units/nblocks) in order. */
#pragma omp for schedule(dynamic)
        for (int64_t j = 0; j < nblocks; j++) {
            for (int64_t u = j * units / nblocks; u < (j + 1) * units / nblocks; u++) {
                int64_t b, c0, c1;
                unit_range(g, u, ntiles, tile, &b, &c0, &c1);
                if (blas && f32)
                    dca_kernel_adjoint_blas_f32(g, sp, Mr, x + b * len, ybar + b * len,
                                                Gacc32 + j * P, Gx32 + b * gxlen, c0, c1, w);
                else if (blas)
                    dca_kernel_adjoint_blas(g, sp, Mr, x + b * len, ybar + b * len, Gacc + j * P,
                                            Gx + b * gxlen, c0, c1, w);
                else if (kernel == DCA_KERNEL_TOTALISTIC)
                    dca_kernel_adjoint_ot(g, rho, x + b * len, ybar + b * len, Gacc + j * P,
                                          Gx + b * gxlen, c0, c1, w);
                else
                    dca_kernel_adjoint_ref(g, rho, x + b * len, ybar + b * len, Gacc + j * P,
                                           Gx + b * gxlen, c0, c1, w);
            }
        }
#pragma omp for schedule(dynamic, chunk)
        for (int64_t u = 0; u < units; u++) {
            int64_t b, c0, c1;
            unit_range(g, u, ntiles, tile, &b, &c0, &c1);
            if (f32)
                dca_kernel_adjoint_gather_f32(g, Gx32 + b * gxlen, xbar + b * len, c0, c1);
            else
                dca_kernel_adjoint_gather(g, Gx + b * gxlen, xbar + b * len, c0, c1);
        }
    }
}

void dca_sim_adjoint_end(dca_sim *sim, double *grad_w)
{
    const dca_geom *g = &sim->g;
    const int64_t P = dca_rule_params(sim->rule), KL = sim->split.KL, KR = sim->split.KR;
    const int out = g->outputs;
    const double *rho = dca_rule_probabilities(sim->rule);
    /* dE/drho: the blocks in order, unpacked from the Mr layout. */
    for (int64_t i = 0; i < P; i++)
        grad_w[i] = 0.0;
    /* float32 partial sums (BLAS layout only) are summed in double from here. */
    const bool f32 = sim->precision == DCA_FLOAT32;
    for (int64_t j = 0; j < sim->nblocks; j++) {
        const double *G = (const double *)sim->Gacc + j * P;
        const float *G32 = (const float *)sim->Gacc + j * P;
        if (sim->kernel != DCA_KERNEL_BLAS && sim->kernel != DCA_KERNEL_FUSED) {
            for (int64_t i = 0; i < P; i++)
                grad_w[i] += G[i];
            continue;
        }
        for (int64_t yL = 0; yL < KL; yL++)
            for (int64_t yR = 0; yR < KR; yR++)
                for (int a = 0; a < out; a++) {
                    const int64_t k = yR * KL * out + yL * out + a;
                    grad_w[(yL * KR + yR) * out + a] += f32 ? (double)G32[k] : G[k];
                }
    }
    /* Through rho = sigmoid(w), or softmax(w) per pattern. */
    if (g->binary) {
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
