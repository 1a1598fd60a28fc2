/* Model type "outer-totalistic": binary Life-like rules whose rho depends on
 * the centre cell and the number of live neighbours (a (2, m) table). The
 * pattern sum collapses to a sum over the neighbour count, whose
 * Poisson-binomial distribution kernel_ot.c computes by an O(m^2)
 * recurrence. float64 only. */
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
    dca_kernel_values_ot(&s->g, dca_rule_probabilities(s->rule), x, y, c0, c1, w);
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
    dca_kernel_adjoint_ot(&s->g, dca_rule_probabilities(s->rule), x, ybar, G, Gx, c0, c1, w);
}

static dca_status plan(dca_sim *s, const dca_sim_options *o, dca_error *err)
{
    if (o->kernel != DCA_KERNEL_AUTO && o->kernel != DCA_KERNEL_TOTALISTIC)
        return dca_error_set(err, DCA_ERR_ARG,
                             "outer-totalistic rules run on the totalistic kernel only");
    if (s->precision == DCA_FLOAT32)
        return dca_error_set(err, DCA_ERR_ARG,
                             "float32 is implemented for table rules; outer-totalistic rules "
                             "run in float64");
    s->kernel = DCA_KERNEL_TOTALISTIC;
    s->tile = o->tile_cells ? o->tile_cells : choose_tile(&s->g, s->grad != 0);
    if (s->tile > s->g.cells)
        s->tile = s->g.cells;
    s->work_len = dca_kernel_ot_work(&s->g, s->tile, s->grad != 0);
    s->values = values;
    s->tangent = tangent;
    s->adjoint = adjoint;
    return DCA_OK;
}

static void set_params(dca_sim *s) { (void)s; /* the kernels read rho itself */ }

const dca_model_type dca_model_outer_totalistic = {
    .name = "outer-totalistic",
    .kind = DCA_RULE_OUTER_TOTALISTIC,
    .plan = plan,
    .set_params = set_params,
    .unpack_gradient = dca_unpack_gradient_plain,
    .in_place = 0,
};
