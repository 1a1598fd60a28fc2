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
    double *Mr;     /* BLAS kernel: packed rule */
    double **work;  /* per thread */
    int64_t work_len;
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

    s->kernel = o.kernel == DCA_KERNEL_AUTO ? DCA_KERNEL_BLAS : o.kernel;
    s->threads = o.threads ? o.threads : omp_get_max_threads();
    s->split = choose_split(m, g->k);
    s->tile = o.tile_cells ? o.tile_cells : choose_tile(g, &s->split);
    if (s->tile > g->cells)
        s->tile = g->cells;
    s->ntiles = (g->cells + s->tile - 1) / s->tile;
    if (s->kernel == DCA_KERNEL_BLAS)
        s->work_len = dca_kernel_blas_work(g, &s->split, s->tile);
    else
        s->work_len = m + g->outputs + 8;

    double need = 8.0 * ((double)s->work_len * s->threads +
                         (s->kernel == DCA_KERNEL_BLAS ? (double)dca_rule_params(rule) : 0.0));
    if (need > (double)dca_mem_physical() / 2) {
        char a[32], b[32];
        free(s->dy);
        free(s->dx);
        free(s);
        return dca_error_set(err, DCA_ERR_NOMEM,
                             "the simulator's workspace needs %s, more than half of this "
                             "machine's %s", dca_mem_fmt(need, a, sizeof a),
                             dca_mem_fmt((double)dca_mem_physical(), b, sizeof b));
    }
    s->work = calloc((size_t)s->threads, sizeof *s->work);
    if (!s->work)
        goto nomem;
    for (int t = 0; t < s->threads; t++)
        if (!(s->work[t] = dca_alloc((size_t)s->work_len * sizeof(double))))
            goto nomem;
    if (s->kernel == DCA_KERNEL_BLAS) {
        s->Mr = dca_alloc((size_t)dca_rule_params(rule) * sizeof(double));
        if (!s->Mr)
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
    free(sim->dy);
    free(sim->dx);
    free(sim);
}

void dca_sim_refresh(dca_sim *sim)
{
    if (sim->kernel == DCA_KERNEL_BLAS)
        dca_kernel_blas_pack(&sim->g, &sim->split, dca_rule_probabilities(sim->rule), sim->Mr);
}

int64_t dca_sim_config_len(const dca_sim *sim) { return sim->g.cells * sim->g.cell_len; }
int dca_sim_threads(const dca_sim *sim) { return sim->threads; }
dca_kernel dca_sim_kernel(const dca_sim *sim) { return sim->kernel; }
int64_t dca_sim_tile_cells(const dca_sim *sim) { return sim->tile; }

void dca_sim_step(dca_sim *sim, const double *x, double *y)
{
    const dca_geom *g = &sim->g;
    const dca_split *sp = &sim->split;
    const double *Mr = sim->Mr;
    const double *rho = dca_rule_probabilities(sim->rule);
    const int64_t units = sim->batch * sim->ntiles, ntiles = sim->ntiles, tile = sim->tile;
    const int64_t len = dca_sim_config_len(sim);
    const dca_kernel kernel = sim->kernel;
    double **work = sim->work;

    /* Inside the region each thread asks for 1 thread in nested regions:
     * the OpenMP build of OpenBLAS reads that (omp_get_max_threads) when
     * omp_in_parallel() is false, as it is in a team of one. Without it a
     * 1-thread run would let OpenBLAS split large DGEMMs its own way, and
     * its split changes the rounding: results would depend on the thread
     * count. */
#pragma omp parallel num_threads(sim->threads) default(none) \
    shared(g, sp, Mr, rho, x, y, work) firstprivate(units, ntiles, tile, len, kernel)
    {
        omp_set_num_threads(1);
        double *w = work[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (int64_t u = 0; u < units; u++) {
            const int64_t b = u / ntiles, t = u % ntiles;
            const int64_t c0 = t * tile, c1 = c0 + tile < g->cells ? c0 + tile : g->cells;
            if (kernel == DCA_KERNEL_BLAS)
                dca_kernel_values_blas(g, sp, Mr, x + b * len, y + b * len, c0, c1, w);
            else
                dca_kernel_values_ref(g, rho, x + b * len, y + b * len, c0, c1,
                                      (int64_t *)(w + g->outputs), w);
        }
    }
}
