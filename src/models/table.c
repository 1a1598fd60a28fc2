/* Model type "table": a full pattern table (k^m entries, binary or
 * softmax), on the BLAS kernel (split-neighbourhood GEMMs), the fused kernel
 * (binary tables with 2..14 neighbours: values, and reverse mode up to 10;
 * forward mode and larger adjoints on BLAS) or the reference kernel (plain
 * pattern enumeration). */
#include <stdio.h>
#include <string.h>

#include "plan.h"

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

/* Fused kernel: the gathered rows (m per cell) in about 16 KiB, so they stay
 * in L1 beside the leading products; 64 to 1024 cells, a multiple of 16. */
static int64_t choose_tile_fused(const dca_geom *g)
{
    int64_t t = (16 * 1024) / (8 * (int64_t)g->m);
    t = t < 64 ? 64 : (t > 1024 ? 1024 : t);
    return t / 16 * 16;
}

/* BLAS: tiles of about 512 KiB of workspace (L2-sized), at least 64 cells
 * so the DGEMM has rows to work with, at most 4096, a multiple of 8. */
static int64_t choose_tile(const dca_geom *g, const dca_split *sp)
{
    int64_t per_cell = dca_kernel_blas_work(g, sp, 1) * 8;
    int64_t t = (512 * 1024) / per_cell;
    t = t < 64 ? 64 : (t > 4096 ? 4096 : t);
    return t / 8 * 8;
}

static const double *rho_of(const dca_sim *s) { return dca_rule_probabilities(s->rule); }

/* ---- work units, one per kernel x precision ------------------------------ */

static void values_fused(const dca_sim *s, int64_t t, int64_t b, const double *x, double *y,
                         int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_values_fused(&s->g, &s->fsplit, s->rho_r, x, y, c0, c1, w);
}

static void values_fused_f32(const dca_sim *s, int64_t t, int64_t b, const double *x, double *y,
                             int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_values_fused_f32(&s->g, &s->fsplit, s->rho_r, x, y, c0, c1, w);
}

static void values_blas(const dca_sim *s, int64_t t, int64_t b, const double *x, double *y,
                        int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_values_blas(&s->g, &s->split, s->Mr, x, y, c0, c1, w);
}

static void values_blas_f32(const dca_sim *s, int64_t t, int64_t b, const double *x, double *y,
                            int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_values_blas_f32(&s->g, &s->split, s->Mr, x, y, c0, c1, w);
}

/* The reference kernel's scratch: outputs doubles, then m indices. */
static void values_ref(const dca_sim *s, int64_t t, int64_t b, const double *x, double *y,
                       int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_values_ref(&s->g, rho_of(s), x, y, c0, c1,
                          (int64_t *)((double *)w + s->g.outputs), w);
}

static void tangent_blas(const dca_sim *s, int64_t t, int64_t b, const double *x, const double *J,
                         double *Jn, int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_tangent_blas(&s->g, &s->split, s->Mr, s->Mv, rho_of(s), s->drho, x, J, Jn, c0, c1,
                            w);
}

static void tangent_ref(const dca_sim *s, int64_t t, int64_t b, const double *x, const double *J,
                        double *Jn, int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_tangent_ref(&s->g, rho_of(s), s->drho, x, J, Jn, c0, c1, w);
}

static void adjoint_fused(const dca_sim *s, int64_t t, int64_t b, const double *x,
                          const double *ybar, void *G, void *Gx, int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_adjoint_fused(&s->g, &s->fsplit, s->rho_r, x, ybar, G, Gx, c0, c1, w);
}

static void adjoint_fused_f32(const dca_sim *s, int64_t t, int64_t b, const double *x,
                              const double *ybar, void *G, void *Gx, int64_t c0, int64_t c1,
                              void *w)
{
    (void)t, (void)b;
    dca_kernel_adjoint_fused_f32(&s->g, &s->fsplit, s->rho_r, x, ybar, G, Gx, c0, c1, w);
}

/* Reverse mode when a configuration is one tile (rings and small lattices,
 * the usual training shapes): the thread that computes a configuration's
 * per-offset parts gathers them at once, from its own cache, into a Gx of
 * one configuration in its workspace (after the adjoint's, at
 * s->stripe_rows numbers). Bitwise the unit function followed by the
 * gather pass: the same kernels in the same order per cell. */
static void stripe_one_tile(const dca_sim *s, const double *x, const double *ybar, double *xbar,
                            int64_t u0, int64_t u1, void *w)
{
    const int64_t len = s->g.cells * s->g.cell_len, P = dca_rule_params(s->rule);
    const int64_t *bstart = s->block_start;
    char *Gx = (char *)w + (size_t)s->stripe_rows * s->real;
    int64_t j = 0;
    for (int64_t u = u0; u < u1; u++) {
        while (bstart[j + 1] <= u)
            j++;
        void *G = (char *)s->Gacc + (size_t)(j * P) * s->real;
        s->adjoint(s, 0, u, x + u * len, ybar + u * len, G, Gx, 0, s->g.cells, w);
        if (s->precision == DCA_FLOAT32)
            dca_kernel_adjoint_gather_f32(&s->g, (const float *)(void *)Gx, xbar + u * len, 0,
                                          s->g.cells);
        else
            dca_kernel_adjoint_gather(&s->g, (const double *)(void *)Gx, xbar + u * len, 0,
                                      s->g.cells);
    }
}

static void adjoint_blas(const dca_sim *s, int64_t t, int64_t b, const double *x,
                         const double *ybar, void *G, void *Gx, int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_adjoint_blas(&s->g, &s->split, s->Mr, x, ybar, G, Gx, c0, c1, w);
}

static void adjoint_blas_f32(const dca_sim *s, int64_t t, int64_t b, const double *x,
                             const double *ybar, void *G, void *Gx, int64_t c0, int64_t c1,
                             void *w)
{
    (void)t, (void)b;
    dca_kernel_adjoint_blas_f32(&s->g, &s->split, s->Mr, x, ybar, G, Gx, c0, c1, w);
}

static void adjoint_ref(const dca_sim *s, int64_t t, int64_t b, const double *x,
                        const double *ybar, void *G, void *Gx, int64_t c0, int64_t c1, void *w)
{
    (void)t, (void)b;
    dca_kernel_adjoint_ref(&s->g, rho_of(s), x, ybar, G, Gx, c0, c1, w);
}

/* ---- the entry ------------------------------------------------------------ */

static dca_status plan(dca_sim *s, const dca_sim_options *o, dca_error *err)
{
    const dca_geom *g = &s->g;
    const int m = g->m;
    const bool f32 = s->precision == DCA_FLOAT32;
    const bool fusable = g->binary && m >= 2 && m <= DCA_FUSED_MAX_M;
    if (o->kernel == DCA_KERNEL_TOTALISTIC)
        return dca_error_set(err, DCA_ERR_ARG, "the totalistic kernel is for outer-totalistic rules");
    if (f32 && o->kernel == DCA_KERNEL_REFERENCE)
        return dca_error_set(err, DCA_ERR_ARG,
                             "float32 runs on the BLAS kernel; the reference kernel is float64");
    if (o->kernel == DCA_KERNEL_FUSED && !fusable)
        return dca_error_set(err, DCA_ERR_ARG,
                             "the fused kernel is for binary table rules with 2 to %d neighbours",
                             DCA_FUSED_MAX_M);
    /* Per shape (docs/performance.md): the fused kernel wins wherever it
     * applies; BLAS does softmax, forward mode and adjoints beyond
     * DCA_FUSED_ADJ_MAX_M neighbours. */
    s->kernel = o->kernel == DCA_KERNEL_AUTO ? (fusable ? DCA_KERNEL_FUSED : DCA_KERNEL_BLAS)
                                             : o->kernel;
    s->split = choose_split(m, g->k);
    const int64_t P = dca_rule_params(s->rule);
    const bool fused = s->kernel == DCA_KERNEL_FUSED, blas = s->kernel == DCA_KERNEL_BLAS;
    s->tile = o->tile_cells ? o->tile_cells
                            : (fused && !s->grad ? choose_tile_fused(g) : choose_tile(g, &s->split));
    if (s->tile > g->cells)
        s->tile = g->cells;
    if (blas || fused) {
        if (fused) {
            s->fsplit = dca_fused_split(m);
            s->work_len = dca_kernel_fused_work(g, &s->fsplit, s->tile);
            s->values = f32 ? values_fused_f32 : values_fused;
            s->rho_r_len = f32 ? 2 * P : P; /* P doubles: float32 rounds them in place */
        } else {
            s->work_len = dca_kernel_blas_work(g, &s->split, s->tile);
            s->values = f32 ? values_blas_f32 : values_blas;
        }
        /* Reverse mode on the fused kernel: its own adjoint up to
         * DCA_FUSED_ADJ_MAX_M offsets (beyond, the GEMMs have the size to
         * pay and its per-lane sums would not fit the caches); forward
         * mode and larger adjoints are the BLAS kernel's. */
        s->fused_adjoint = fused && (s->grad & DCA_GRAD_REVERSE) && m <= DCA_FUSED_ADJ_MAX_M;
        const bool blas_grad = s->grad && !(s->fused_adjoint && !(s->grad & DCA_GRAD_FORWARD));
        if (blas_grad) {
            int64_t gw = dca_kernel_grad_work(g, &s->split, s->tile);
            s->work_len = gw > s->work_len ? gw : s->work_len;
        }
        s->mr_len = blas || blas_grad ? P : 0;
        s->tangent = tangent_blas;
        s->adjoint = f32 ? adjoint_blas_f32 : adjoint_blas;
        if (s->fused_adjoint) {
            s->adjoint = f32 ? adjoint_fused_f32 : adjoint_fused;
            int64_t aw = dca_kernel_fused_adjoint_work(g, &s->fsplit, s->tile);
            s->work_len = aw > s->work_len ? aw : s->work_len;
            if (s->tile == g->cells && o->parts <= 1) {
                /* The configuration's Gx after the workspace, 64-byte aligned. */
                s->stripe = stripe_one_tile;
                s->stripe_rows = (s->work_len + 15) / 16 * 16;
                s->work_len = s->stripe_rows + (int64_t)m * g->cells + 16;
            }
        }
    } else {
        s->work_len = m + g->outputs + 8;
        if (s->grad) {
            int64_t gw = dca_kernel_ref_grad_work(g);
            s->work_len = gw > s->work_len ? gw : s->work_len;
        }
        s->values = values_ref;
        s->tangent = tangent_ref;
        s->adjoint = adjoint_ref;
    }
    return DCA_OK;
}

static void set_params(dca_sim *s)
{
    const double *rho = rho_of(s);
    const int64_t P = dca_rule_params(s->rule);
    const bool f32 = s->precision == DCA_FLOAT32;
    if (s->Mr && f32)
        dca_kernel_blas_pack_f32(&s->g, &s->split, rho, s->Mr);
    else if (s->Mr)
        dca_kernel_blas_pack(&s->g, &s->split, rho, s->Mr);
    /* The fused kernel's coefficients: computed in double, then rounded
     * once for float32 (in place: the float of entry i overwrites bytes
     * that entries before i have already left). */
    if (s->rho_r) {
        dca_fused_coefficients(s->g.m, rho, s->rho_r);
        if (f32)
            for (int64_t i = 0; i < P; i++)
                ((float *)s->rho_r)[i] = (float)((double *)s->rho_r)[i];
    }
    if (s->grad && s->Mr)
        dca_kernel_blas_pack_v(&s->g, &s->split, rho, s->Mv);
}

/* The BLAS adjoint accumulates in the packed layout of Mr, the fused one
 * dE/dd in pattern order (float32 partial sums are summed in double from
 * here); the reference kernel in rho's own order. */
static void unpack_gradient(const dca_sim *s, const void *G, double *grad_rho)
{
    const int64_t KL = s->split.KL, KR = s->split.KR;
    const int out = s->g.outputs;
    const double *G64 = G;
    const float *G32 = G;
    if (s->kernel != DCA_KERNEL_BLAS && s->kernel != DCA_KERNEL_FUSED) {
        dca_unpack_gradient_plain(s, G, grad_rho);
        return;
    }
    const bool f32 = s->precision == DCA_FLOAT32;
    if (s->fused_adjoint) {
        /* dE/dd in pattern order -> dE/drho (the transposed basis change). */
        const int64_t P = (int64_t)1 << s->g.m;
        double v[(int64_t)1 << DCA_FUSED_ADJ_MAX_M];
        for (int64_t p = 0; p < P; p++)
            v[p] = f32 ? (double)G32[p] : G64[p];
        dca_fused_coefficients_adjoint(s->g.m, v);
        for (int64_t p = 0; p < P; p++)
            grad_rho[p] += v[p];
        return;
    }
    for (int64_t yL = 0; yL < KL; yL++)
        for (int64_t yR = 0; yR < KR; yR++)
            for (int a = 0; a < out; a++) {
                const int64_t k = yR * KL * out + yL * out + a;
                grad_rho[(yL * KR + yR) * out + a] += f32 ? (double)G32[k] : G64[k];
            }
}

/* The weights: (patterns,) binary, (patterns, k) softmax. */
static int param_shape(const dca_rule *r, int64_t dims[2], const char *names[2])
{
    dims[0] = dca_rule_patterns(r);
    dims[1] = dca_rule_outputs(r);
    names[0] = "pattern";
    names[1] = "state";
    return dca_rule_mode(r) == DCA_MODE_BINARY ? 1 : 2;
}

static int values_per_cell(const dca_rule *r) { return dca_rule_outputs(r); }

/* Pattern y = p / outputs in base-k digits, the first offset's the most
 * significant (the pattern order of kernel.h), separated by dots when k >
 * 10; then "->a" in softmax mode. k^m fits in 63 bits, so m < 64. */
static int param_label(const dca_rule *r, int64_t p, char *buf, size_t len)
{
    const int m = dca_nbhd_count(dca_rule_nbhd(r)), k = dca_rule_states(r),
              out = dca_rule_outputs(r);
    int64_t digit[64], y = p / out;
    for (int s = m - 1; s >= 0; s--, y /= k)
        digit[s] = y % k;
    size_t n = 0;
    for (int s = 0; s <= m; s++) {
        char *at = n < len ? buf + n : NULL;
        size_t room = n < len ? len - n : 0;
        n += (size_t)(s < m ? snprintf(at, room, "%s%lld", k > 10 && s ? "." : "",
                                       (long long)digit[s])
                    : out > 1 ? snprintf(at, room, "->%lld", (long long)(p % out))
                              : 0);
    }
    return (int)n;
}

const dca_model_type dca_model_table = {
    .name = "table",
    .kind = DCA_RULE_TABLE,
    .plan = plan,
    .set_params = set_params,
    .unpack_gradient = unpack_gradient,
    .in_place = 0,
    .param_shape = param_shape,
    .values_per_cell = values_per_cell,
    .param_label = param_label,
};
