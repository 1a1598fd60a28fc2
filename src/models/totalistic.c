/* Model type "outer-totalistic": binary Life-like rules whose rho depends on
 * the centre cell and the number of live neighbours (a (2, m) table). The
 * pattern sum collapses to a sum over the neighbour count, whose
 * Poisson-binomial distribution kernel_ot.c computes by an O(m^2)
 * recurrence. float64, or float32 for value steps and reverse mode. */
#include <stdbool.h>
#include <stdio.h>

#include "plan.h"

/* About 256 KiB of workspace per tile, 64 to 1024 cells, a multiple of 8.
 * The gradient kernels keep every stage of the count recurrence (O(m^2)
 * rows), so for large neighbourhoods the 64-cell floor wins: rows shorter
 * than that leave the loops dominated by their overhead (Moore radius 5,
 * values + gradient: 8-cell tiles ran 2x slower than 64-cell tiles of
 * 4 MiB, measured with dca train on 256x256). */
static int64_t choose_tile(const dca_geom *g, int grad)
{
    int64_t per_cell = dca_kernel_ot_work(g, 1, grad) * 8;
    int64_t t = (256 * 1024) / per_cell;
    t = t < 64 ? 64 : (t > 1024 ? 1024 : t);
    return t / 8 * 8;
}

static void values(const dca_sim *s, int64_t t, int64_t b, const double *x, double *y, int64_t c0,
                   int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_values_ot(&s->g, s->rho_r, x, y, c0, c1, w);
}

static void tangent(const dca_sim *s, int64_t t, int64_t b, const double *x, const double *J,
                    double *Jn, int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_tangent_ot(&s->g, dca_rule_probabilities(s->rule), s->drho, x, J, Jn, c0, c1, w);
}

static void adjoint(const dca_sim *s, int64_t t, int64_t b, const double *x, const double *ybar,
                    void *G, void *Gx, int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_adjoint_ot(&s->g, s->rho_r, x, ybar, G, Gx, c0, c1, w);
}

static void values_f32(const dca_sim *s, int64_t t, int64_t b, const double *x, double *y,
                       int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_values_ot_f32(&s->g, s->rho_r, x, y, c0, c1, w);
}

static void adjoint_f32(const dca_sim *s, int64_t t, int64_t b, const double *x,
                        const double *ybar, void *G, void *Gx, int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_adjoint_ot_f32(&s->g, s->rho_r, x, ybar, G, Gx, c0, c1, w);
}

/* Units [u0, u1) of one configuration through the stripe kernel: the
 * tiles' first cells and their blocks' sums first in the workspace. */
static void stripe(const dca_sim *s, const double *x, const double *ybar, double *xbar,
                   int64_t u0, int64_t u1, void *w)
{
    const int64_t nt = s->ntiles, tile = s->tile, cells = s->g.cells, b = u0 / nt;
    const int64_t n = u1 - u0, P = dca_rule_params(s->rule);
    const int64_t *bstart = s->block_start;
    int64_t *tiles = w;
    char *G = (char *)(tiles + nt + 1), *rest = G + (size_t)nt * sizeof(void *);
    int64_t j = 0;
    while (bstart[j + 1] <= u0)
        j++;
    const bool f32 = s->precision == DCA_FLOAT32;
    for (int64_t k = 0; k < n; k++) {
        while (bstart[j + 1] <= u0 + k)
            j++;
        tiles[k] = ((u0 + k) % nt) * tile;
        char *Gj = (char *)s->Gacc + (size_t)(j * P) * s->real;
        if (f32)
            ((float **)(void *)G)[k] = (float *)(void *)Gj;
        else
            ((double **)(void *)G)[k] = (double *)(void *)Gj;
    }
    tiles[n] = tiles[n - 1] + tile < cells ? tiles[n - 1] + tile : cells;
    const int64_t off = b * cells;
    if (f32)
        dca_kernel_adjoint_ot_stripe_f32(&s->g, s->rho_r, x + off, ybar + off, xbar + off, tiles,
                                         n, (float *const *)(void *)G, tile, s->stripe_rows,
                                         (float *)(void *)rest);
    else
        dca_kernel_adjoint_ot_stripe(&s->g, s->rho_r, x + off,
                                     ybar + off, xbar + off, tiles, n,
                                     (double *const *)(void *)G, tile, s->stripe_rows,
                                     (double *)(void *)rest);
}

/* The stripe kernel's workspace may take this much per thread; beyond it
 * (the ring is the whole lattice of a large configuration) the adjoint
 * goes through Gx. */
#define STRIPE_BUDGET (64.0 * 1024 * 1024)

static dca_status plan(dca_sim *s, const dca_sim_options *o, dca_error *err)
{
    if (o->kernel != DCA_KERNEL_AUTO && o->kernel != DCA_KERNEL_TOTALISTIC)
        return dca_error_set(err, DCA_ERR_ARG,
                             "outer-totalistic rules run on the totalistic kernel only");
    const bool f32 = s->precision == DCA_FLOAT32;
    s->kernel = DCA_KERNEL_TOTALISTIC;
    /* The tile does not depend on the precision: float32 tiles hold as many
     * (smaller) numbers, and its gradient blocks are float64's. Tiles sized
     * by float32's bytes (twice the cells) ran no faster on W5. */
    s->tile = o->tile_cells ? o->tile_cells : choose_tile(&s->g, s->grad != 0);
    if (s->tile > s->g.cells)
        s->tile = s->g.cells;
    s->work_len = dca_kernel_ot_work(&s->g, s->tile, s->grad != 0);
    s->values = f32 ? values_f32 : values;
    s->tangent = tangent; /* float64 only: sim.c refuses forward mode in float32 */
    s->adjoint = f32 ? adjoint_f32 : adjoint;
    s->rho_r_len = dca_rule_params(s->rule);
    const int64_t K = dca_kernel_ot_stripe_rows(&s->g, s->tile);
    if ((s->grad & DCA_GRAD_REVERSE) && o->parts <= 1 && K > 0) {
        const int64_t nt = (s->g.cells + s->tile - 1) / s->tile;
        /* tiles[] and the blocks' sums, in numbers of s->real bytes */
        const int64_t lists = ((nt + 1) * 8 + nt * (int64_t)sizeof(void *)) / (int64_t)s->real;
        const int64_t need = dca_kernel_ot_stripe_work(&s->g, s->tile, K) + lists + 8;
        if ((double)need * (double)s->real <= STRIPE_BUDGET) {
            s->stripe = stripe;
            s->stripe_rows = K;
            s->work_len = need > s->work_len ? need : s->work_len;
        }
    }
    return DCA_OK;
}

/* The kernels' rule, once per parameter change: the centred basis for 4
 * and 8 neighbours (dca_ot_coefficients), rho itself otherwise; computed
 * in double and rounded once for float32. The tangent kernel reads rho. */
static void set_params(dca_sim *s)
{
    const double *rho = dca_rule_probabilities(s->rule);
    const int64_t P = dca_rule_params(s->rule);
    double c[2 * (DCA_OT_MAX_M + 1)];
    const double *src = rho;
    if (dca_kernel_ot_centred(&s->g)) {
        dca_ot_coefficients(s->g.m, rho, c);
        src = c;
    }
    for (int64_t i = 0; i < P; i++) {
        if (s->precision == DCA_FLOAT32)
            ((float *)s->rho_r)[i] = (float)src[i];
        else
            ((double *)s->rho_r)[i] = src[i];
    }
}

/* Partial sums in the rule's order: float64, or float32 summed in double
 * from here. */
static void unpack_gradient(const dca_sim *s, const void *G, double *grad_rho)
{
    if (dca_kernel_ot_centred(&s->g)) {
        /* dE/dc -> dE/drho (the transposed basis change). */
        const int64_t P = dca_rule_params(s->rule);
        double v[2 * (DCA_OT_MAX_M + 1)];
        for (int64_t i = 0; i < P; i++)
            v[i] = s->precision == DCA_FLOAT32 ? (double)((const float *)G)[i]
                                               : ((const double *)G)[i];
        dca_ot_coefficients_adjoint(s->g.m, v);
        for (int64_t i = 0; i < P; i++)
            grad_rho[i] += v[i];
        return;
    }
    if (s->precision != DCA_FLOAT32) {
        dca_unpack_gradient_plain(s, G, grad_rho);
        return;
    }
    const float *G32 = G;
    for (int64_t i = 0; i < dca_rule_params(s->rule); i++)
        grad_rho[i] += (double)G32[i];
}

/* The weights: (2, m), row = centre state, column = live neighbours. */
static int param_shape(const dca_rule *r, int64_t dims[2], const char *names[2])
{
    dims[0] = 2;
    dims[1] = dca_rule_patterns(r) / 2;
    names[0] = "centre";
    names[1] = "live_neighbours";
    return 2;
}

static int values_per_cell(const dca_rule *r)
{
    (void)r;
    return 1;
}

static int param_label(const dca_rule *r, int64_t p, char *buf, size_t len)
{
    const int64_t m = dca_rule_patterns(r) / 2;
    return snprintf(buf, len, "%s,n=%lld", p < m ? "dead" : "live", (long long)(p % m));
}

const dca_model_type dca_model_outer_totalistic = {
    .name = "outer-totalistic",
    .kind = DCA_RULE_OUTER_TOTALISTIC,
    .plan = plan,
    .set_params = set_params,
    .unpack_gradient = unpack_gradient,
    .in_place = 0,
    .param_shape = param_shape,
    .values_per_cell = values_per_cell,
    .param_label = param_label,
};
