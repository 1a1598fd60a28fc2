/* Outer-totalistic rules (issue 6): the totalistic kernels against the
 * full-table engine on the same rule expressed both ways (values, forward
 * and reverse gradients), against central finite differences (up to Moore
 * radius 5), hard Life against a plain integer Life, B/S notation both
 * ways, and thread independence. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "experiment.h"
#include "hard.h"
#include "io/rle.h"
#include "helpers.h"

static dca_rule *t_ot(const dca_nbhd *nb)
{
    dca_rule *r = NULL;
    dca_error e;
    cr_assert_eq(dca_rule_create_outer_totalistic(nb, &r, &e), DCA_OK, "%s", e.msg);
    return r;
}

/* The (centre, count) entry that table pattern y maps to. */
static int64_t ot_entry(const dca_nbhd *nb, int64_t y)
{
    const int m = dca_nbhd_count(nb), centre = dca_nbhd_center(nb);
    int count = 0, alive = 0;
    for (int s = 0; s < m; s++) {
        int bit = (int)((y >> (m - 1 - s)) & 1);
        if (s == centre)
            alive = bit;
        else
            count += bit;
    }
    return (int64_t)alive * m + count;
}

/* The full table whose weight for pattern y is the OT weight of its entry. */
static dca_rule *expand(const dca_rule *ot)
{
    const dca_nbhd *nb = dca_rule_nbhd(ot);
    dca_rule *t = t_rule(nb, 2, DCA_MODE_BINARY);
    const int64_t P = dca_rule_patterns(t);
    double *w = malloc((size_t)P * sizeof *w);
    for (int64_t y = 0; y < P; y++)
        w[y] = dca_rule_weights(ot)[ot_entry(nb, y)];
    dca_error e;
    cr_assert_eq(dca_rule_set_weights(t, w, &e), DCA_OK, "%s", e.msg);
    free(w);
    return t;
}

typedef struct pair {
    dca_lattice lat;
    dca_nbhd *nb;
    dca_rule *ot, *tab;
    dca_sim *so, *st;
    int64_t B, cells, Po, Pt;
} pair;

/* The totalistic plan's tile (0: its own choice). */
static int64_t pair_tile;

static void pair_make(pair *p, const char *size, const char *nbspec, int64_t B, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    cr_assert_eq(dca_lattice_parse(size, &p->lat, NULL), DCA_OK);
    p->nb = t_nbhd(nbspec, p->lat.dims);
    p->ot = t_ot(p->nb);
    t_random_weights(p->ot, 3.0, seed);
    p->tab = expand(p->ot);
    p->B = B;
    p->cells = dca_lattice_cells(&p->lat);
    p->Po = dca_rule_params(p->ot);
    p->Pt = dca_rule_params(p->tab);
    dca_sim_options o = {.threads = 2,
                         .gradients = DCA_GRAD_FORWARD | DCA_GRAD_REVERSE,
                         .tile_cells = pair_tile};
    dca_error e;
    cr_assert_eq(dca_sim_create(&p->lat, p->ot, B, &o, &p->so, &e), DCA_OK, "%s", e.msg);
    cr_assert_eq(dca_sim_kernel(p->so), DCA_KERNEL_TOTALISTIC);
    o.kernel = DCA_KERNEL_REFERENCE;
    o.tile_cells = 0;
    cr_assert_eq(dca_sim_create(&p->lat, p->tab, B, &o, &p->st, &e), DCA_OK, "%s", e.msg);
}

static void pair_drop(pair *p)
{
    dca_sim_destroy(p->so);
    dca_sim_destroy(p->st);
    dca_rule_destroy(p->ot);
    dca_rule_destroy(p->tab);
    dca_nbhd_destroy(p->nb);
}

static void values_agree(const char *size, const char *nbspec)
{
    pair p;
    pair_make(&p, size, nbspec, 3, 11);
    const int64_t n = p.B * p.cells;
    double *a = malloc((size_t)n * 8), *b = malloc((size_t)n * 8), *c = malloc((size_t)n * 8);
    t_random_config(a, n, 2, DCA_MODE_BINARY, 5);
    memcpy(b, a, (size_t)n * 8);
    for (int t = 0; t < 6; t++) {
        dca_sim_step(p.so, a, c);
        memcpy(a, c, (size_t)n * 8);
        dca_sim_step(p.st, b, c);
        memcpy(b, c, (size_t)n * 8);
        double d = 0;
        for (int64_t i = 0; i < n; i++)
            d = fmax(d, fabs(a[i] - b[i]));
        cr_assert_leq(d, 1e-13, "%s %s step %d: |OT - table| = %g", size, nbspec, t + 1, d);
    }
    free(a), free(b), free(c);
    pair_drop(&p);
}

Test(ot, values_match_full_table)
{
    values_agree("10x12", "moore:1");
    values_agree("9x7", "vonneumann:2");
    values_agree("40", "radius:3");
    values_agree("3x4", "moore:1"); /* smaller than the neighbourhood: offsets wrap */
    /* The register-blocked kernels (M = 8 and 4), 63 cells: a partial group. */
    values_agree("7x9", "moore:1");
    values_agree("7x9", "vonneumann:1");
}

/* One adjoint step with a random ybar: dE/dx equal, and dE/dw of the OT
 * rule equal to the table's dE/dw summed over the patterns of each entry. */
static void adjoint_agrees(const char *size, const char *nbspec)
{
    pair p;
    pair_make(&p, size, nbspec, 2, 21);
    const int64_t n = p.B * p.cells;
    double *x = malloc((size_t)n * 8), *yb = malloc((size_t)n * 8);
    double *xo = malloc((size_t)n * 8), *xt = malloc((size_t)n * 8);
    double *go = malloc((size_t)p.Po * 8), *gt = malloc((size_t)p.Pt * 8);
    double *sum = calloc((size_t)p.Po, 8);
    t_random_config(x, n, 2, DCA_MODE_BINARY, 3);
    uint64_t s = 99;
    for (int64_t i = 0; i < n; i++)
        yb[i] = 2 * t_unif(&s) - 1;
    dca_sim_adjoint_begin(p.so);
    dca_sim_adjoint_step(p.so, x, yb, xo);
    dca_sim_adjoint_end(p.so, go);
    dca_sim_adjoint_begin(p.st);
    dca_sim_adjoint_step(p.st, x, yb, xt);
    dca_sim_adjoint_end(p.st, gt);
    for (int64_t i = 0; i < n; i++)
        cr_assert_leq(fabs(xo[i] - xt[i]), 1e-12, "%s %s dE/dx[%lld]: %.17g vs %.17g", size,
                      nbspec, (long long)i, xo[i], xt[i]);
    for (int64_t y = 0; y < p.Pt; y++)
        sum[ot_entry(p.nb, y)] += gt[y];
    for (int64_t i = 0; i < p.Po; i++)
        cr_assert_leq(fabs(go[i] - sum[i]), 1e-11 * (1 + fabs(sum[i])),
                      "%s %s dE/dw[%lld]: %.17g vs %.17g", size, nbspec, (long long)i, go[i],
                      sum[i]);
    free(x), free(yb), free(xo), free(xt), free(go), free(gt), free(sum);
    pair_drop(&p);
}

Test(ot, adjoint_matches_full_table)
{
    adjoint_agrees("10x12", "moore:1");
    adjoint_agrees("9x7", "vonneumann:2");
    adjoint_agrees("40", "radius:3");
    adjoint_agrees("7x9", "moore:1");
    adjoint_agrees("7x9", "vonneumann:1");
}

/* Three forward-mode steps from J = 0: the OT tangent equals the table
 * tangent with its columns summed per entry (d/dw_ot = sum d/dw_table). */
/* The register-blocked kernels (4 and 8 neighbours) read the state
 * directly, group by group, and gather lane by lane only the groups at a
 * row's ends or across rows: rows narrower than a vector group, odd
 * widths, a ring (one row), tiles that end mid-row and mid-group. */
Test(ot, register_kernels_on_odd_shapes_and_tiles)
{
    static const struct {
        const char *size, *nb;
        int64_t tile;
    } cases[] = {
        {"5x3", "moore:1", 0},         {"6x2", "vonneumann:1", 0}, {"11x13", "moore:1", 24},
        {"11x13", "moore:1", 0},       {"9x17", "vonneumann:1", 16}, {"37", "radius:2", 8},
        {"37", "radius:2", 0},         {"4x9", "moore:1", 8},       {"13x4", "vonneumann:1", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pair_tile = cases[i].tile;
        values_agree(cases[i].size, cases[i].nb);
        adjoint_agrees(cases[i].size, cases[i].nb);
    }
    pair_tile = 0;
}

static void tangent_agrees(const char *size, const char *nbspec)
{
    pair p;
    pair_make(&p, size, nbspec, 1, 31);
    const int64_t n = p.cells;
    double *x = malloc((size_t)n * 8), *y = malloc((size_t)n * 8);
    double *Jo = calloc((size_t)(n * p.Po), 8), *Jo2 = malloc((size_t)(n * p.Po) * 8);
    double *Jt = calloc((size_t)(n * p.Pt), 8), *Jt2 = malloc((size_t)(n * p.Pt) * 8);
    t_random_config(x, n, 2, DCA_MODE_BINARY, 7);
    for (int t = 0; t < 3; t++) {
        dca_sim_tangent_step(p.so, x, Jo, Jo2, 1);
        dca_sim_tangent_step(p.st, x, Jt, Jt2, 1);
        memcpy(Jo, Jo2, (size_t)(n * p.Po) * 8);
        memcpy(Jt, Jt2, (size_t)(n * p.Pt) * 8);
        dca_sim_step(p.so, x, y);
        memcpy(x, y, (size_t)n * 8);
    }
    double *sum = malloc((size_t)p.Po * 8);
    for (int64_t c = 0; c < n; c++) {
        memset(sum, 0, (size_t)p.Po * 8);
        for (int64_t q = 0; q < p.Pt; q++)
            sum[ot_entry(p.nb, q)] += Jt[c * p.Pt + q];
        for (int64_t i = 0; i < p.Po; i++)
            cr_assert_leq(fabs(Jo[c * p.Po + i] - sum[i]), 1e-12, "%s %s J[%lld][%lld]: %g vs %g",
                          size, nbspec, (long long)c, (long long)i, Jo[c * p.Po + i], sum[i]);
    }
    free(x), free(y), free(Jo), free(Jo2), free(Jt), free(Jt2), free(sum);
    pair_drop(&p);
}

Test(ot, tangent_matches_full_table)
{
    tangent_agrees("8x9", "moore:1");
    tangent_agrees("30", "radius:2");
}

/* E(w) = sum_i c_i x_T(i) over T steps; the adjoint gradient against
 * central differences. */
static double run_loss(dca_sim *sim, const double *x0, const double *cw, int64_t n, int T,
                       double *states)
{
    memcpy(states, x0, (size_t)n * 8);
    for (int t = 0; t < T; t++)
        dca_sim_step(sim, states + t * n, states + (t + 1) * n);
    double E = 0;
    for (int64_t i = 0; i < n; i++)
        E += cw[i] * states[T * n + i];
    return E;
}

static void fd_agrees(const char *size, const char *nbspec, int T, double wscale)
{
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse(size, &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd(nbspec, lat.dims);
    dca_rule *r = t_ot(nb);
    t_random_weights(r, wscale, 41);
    const int64_t n = dca_lattice_cells(&lat), P = dca_rule_params(r);
    dca_sim_options o = {.threads = 2, .gradients = DCA_GRAD_REVERSE};
    dca_sim *sim = NULL;
    dca_error e;
    cr_assert_eq(dca_sim_create(&lat, r, 1, &o, &sim, &e), DCA_OK, "%s", e.msg);
    double *x0 = malloc((size_t)n * 8), *cw = malloc((size_t)n * 8);
    double *st = malloc((size_t)((T + 1) * n) * 8), *yb = malloc((size_t)n * 8);
    double *xb = malloc((size_t)n * 8), *g = malloc((size_t)P * 8), *w = malloc((size_t)P * 8);
    t_random_config(x0, n, 2, DCA_MODE_BINARY, 8);
    uint64_t s = 5;
    for (int64_t i = 0; i < n; i++)
        cw[i] = 2 * t_unif(&s) - 1;
    run_loss(sim, x0, cw, n, T, st);
    memcpy(yb, cw, (size_t)n * 8);
    dca_sim_adjoint_begin(sim);
    for (int t = T - 1; t >= 0; t--) {
        dca_sim_adjoint_step(sim, st + t * n, yb, xb);
        memcpy(yb, xb, (size_t)n * 8);
    }
    dca_sim_adjoint_end(sim, g);
    memcpy(w, dca_rule_weights(r), (size_t)P * 8);
    double gmax = 0;
    for (int64_t i = 0; i < P; i++)
        gmax = fmax(gmax, fabs(g[i]));
    const double h = 1e-5;
    for (int64_t i = 0; i < P; i++) {
        double w0 = w[i];
        w[i] = w0 + h;
        cr_assert_eq(dca_rule_set_weights(r, w, &e), DCA_OK);
        dca_sim_set_params(sim, NULL, NULL);
        double Ep = run_loss(sim, x0, cw, n, T, st);
        w[i] = w0 - h;
        cr_assert_eq(dca_rule_set_weights(r, w, &e), DCA_OK);
        dca_sim_set_params(sim, NULL, NULL);
        double Em = run_loss(sim, x0, cw, n, T, st);
        w[i] = w0;
        double num = (Ep - Em) / (2 * h);
        /* Relative 1e-6, with floors for tiny components and for the
         * difference quotient's own rounding (~1e-16 n / h). */
        double tol = 1e-6 * fmax(fabs(num), 1e-3 * gmax) + 1e-15 * (double)n / h;
        cr_assert_leq(fabs(num - g[i]), tol,
                      "%s %s T=%d dE/dw[%lld]: adjoint %.12g, numeric %.12g", size, nbspec, T,
                      (long long)i, g[i], num);
    }
    free(x0), free(cw), free(st), free(yb), free(xb), free(g), free(w);
    dca_sim_destroy(sim);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(ot, gradient_matches_finite_differences)
{
    fd_agrees("9x11", "moore:1", 4, 2.0);
    fd_agrees("23", "radius:4", 3, 2.0);
    fd_agrees("12x13", "moore:2", 3, 1.0);
    fd_agrees("13x14", "moore:5", 2, 0.5); /* Larger-than-Life: 120 neighbours */
}

/* A plain integer Life (B3/S23) to compare against. */
static void life_step(int64_t H, int64_t W, const uint8_t *x, uint8_t *y)
{
    for (int64_t r = 0; r < H; r++)
        for (int64_t c = 0; c < W; c++) {
            int n = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                    if (dy || dx)
                        n += x[((r + dy + H) % H) * W + (c + dx + W) % W];
            int alive = x[r * W + c];
            y[r * W + c] = (uint8_t)(alive ? (n == 2 || n == 3) : n == 3);
        }
}

static dca_rule *life_rule(const dca_nbhd *nb, const char *bs)
{
    dca_rule *r = t_ot(nb);
    dca_error e;
    cr_assert_eq(dca_rule_load_weights(r, bs, 0, NULL, &e), DCA_OK, "%s", e.msg);
    cr_assert(dca_rule_is_hard(r));
    return r;
}

/* Runs the soft engine (exact 0/1 doubles), the hardened integer CA and the
 * plain Life for T steps from x; all three must agree at every step. */
static void life_agrees(int64_t H, int64_t W, const uint8_t *start, int T)
{
    char size[32];
    snprintf(size, sizeof size, "%lldx%lld", (long long)H, (long long)W);
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse(size, &lat, NULL), DCA_OK);
    dca_nbhd *nb = t_nbhd("moore:1", 2);
    dca_rule *r = life_rule(nb, "life:B3/S23");
    dca_sim *sim = t_sim(&lat, r, 1, DCA_KERNEL_AUTO, 2);
    dca_hard *h = NULL;
    dca_error e;
    cr_assert_eq(dca_hard_create(&lat, r, 1, &h, &e), DCA_OK, "%s", e.msg);
    const int64_t n = H * W;
    uint8_t *a = malloc((size_t)n), *b = malloc((size_t)n), *ha = malloc((size_t)n),
            *hb = malloc((size_t)n);
    double *x = malloc((size_t)n * 8), *y = malloc((size_t)n * 8);
    memcpy(a, start, (size_t)n);
    memcpy(ha, start, (size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = start[i];
    for (int t = 1; t <= T; t++) {
        life_step(H, W, a, b);
        memcpy(a, b, (size_t)n);
        dca_hard_step(h, ha, hb);
        memcpy(ha, hb, (size_t)n);
        dca_sim_step(sim, x, y);
        memcpy(x, y, (size_t)n * 8);
        for (int64_t i = 0; i < n; i++) {
            cr_assert(x[i] == (double)a[i], "soft engine differs from Life at step %d, cell %lld",
                      t, (long long)i);
            cr_assert(ha[i] == a[i], "hard CA differs from Life at step %d, cell %lld", t,
                      (long long)i);
        }
    }
    free(a), free(b), free(ha), free(hb), free(x), free(y);
    dca_hard_destroy(h);
    dca_sim_destroy(sim);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

static void put(uint8_t *x, int64_t W, int64_t r, int64_t c, const char *const *rows, int nrows)
{
    for (int i = 0; i < nrows; i++)
        for (int j = 0; rows[i][j]; j++)
            x[(r + i) * W + c + j] = rows[i][j] == 'o';
}

Test(ot, hard_life_glider_blinker_r_pentomino)
{
    /* Glider: after 4 steps the same shape one cell down and right. */
    const char *glider[] = {".o.", "..o", "ooo"};
    uint8_t g0[100] = {0}, g4[100] = {0};
    put(g0, 10, 1, 1, glider, 3);
    put(g4, 10, 2, 2, glider, 3);
    life_agrees(10, 10, g0, 40);
    dca_lattice lat = {2, {10, 10}};
    dca_nbhd *nb = t_nbhd("moore:1", 2);
    dca_rule *r = life_rule(nb, "life:B3/S23");
    dca_sim *sim = t_sim(&lat, r, 1, DCA_KERNEL_AUTO, 1);
    double x[100], y[100];
    for (int i = 0; i < 100; i++)
        x[i] = g0[i];
    for (int t = 0; t < 4; t++) {
        dca_sim_step(sim, x, y);
        memcpy(x, y, sizeof x);
    }
    for (int i = 0; i < 100; i++)
        cr_assert(x[i] == g4[i], "glider moved wrongly at cell %d", i);
    /* Blinker: period 2. */
    const char *blinker[] = {"ooo"};
    uint8_t b0[64] = {0};
    put(b0, 8, 3, 2, blinker, 1);
    for (int i = 0; i < 64; i++)
        x[i] = b0[i];
    dca_sim_destroy(sim);
    lat.shape[0] = lat.shape[1] = 8;
    sim = t_sim(&lat, r, 1, DCA_KERNEL_AUTO, 1);
    dca_sim_step(sim, x, y);
    int live = 0;
    for (int i = 0; i < 64; i++)
        live += y[i] == 1.0;
    cr_assert(live == 3 && y[2 * 8 + 3] == 1.0 && y[4 * 8 + 3] == 1.0, "blinker did not turn");
    dca_sim_step(sim, y, x);
    for (int i = 0; i < 64; i++)
        cr_assert(x[i] == b0[i], "blinker is not period 2");
    life_agrees(8, 8, b0, 10);
    /* R-pentomino: 200 steps on a 96x96 torus. */
    const char *rpent[] = {".oo", "oo.", ".o."};
    uint8_t *rp = calloc(96 * 96, 1);
    put(rp, 96, 46, 46, rpent, 3);
    life_agrees(96, 96, rp, 200);
    free(rp);
    dca_sim_destroy(sim);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(ot, bs_notation_both_ways)
{
    dca_nbhd *nb = t_nbhd("moore:1", 2);
    char buf[256];
    const char *rules[] = {"B3/S23", "B36/S23", "B/S", "B2/S", "B012345678/S012345678"};
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "life:%s", rules[i]);
        dca_rule *r = life_rule(nb, spec);
        cr_assert(dca_rule_life(r, buf, sizeof buf));
        cr_assert_str_eq(buf, rules[i]);
        dca_rule_destroy(r);
        /* The same rule as a full table also reads back in B/S. */
        dca_rule *t = t_rule(nb, 2, DCA_MODE_BINARY);
        dca_error e;
        cr_assert_eq(dca_rule_load_weights(t, spec, 0, NULL, &e), DCA_OK, "%s", e.msg);
        cr_assert(dca_rule_life(t, buf, sizeof buf));
        cr_assert_str_eq(buf, rules[i]);
        dca_rule_destroy(t);
    }
    /* A table that is not Life-like has no B/S form. */
    dca_rule *t = t_rule(nb, 2, DCA_MODE_BINARY);
    double *w = calloc(512, 8);
    w[1] = 5; /* pattern 1 (only the last neighbour live) -> 1, its count-1 siblings -> 0 */
    for (int y = 2; y < 512; y++)
        w[y] = -5;
    w[0] = -5;
    cr_assert_eq(dca_rule_set_weights(t, w, NULL), DCA_OK);
    cr_assert_not(dca_rule_life(t, buf, sizeof buf));
    free(w);
    dca_rule_destroy(t);
    dca_nbhd_destroy(nb);
    /* Larger than Life: counts above 9 as comma lists with ranges. */
    nb = t_nbhd("moore:5", 2);
    dca_rule *r = life_rule(nb, "life:B34..45/S33..57");
    cr_assert(dca_rule_life(r, buf, sizeof buf));
    cr_assert_str_eq(buf, "B34..45/S33..57");
    dca_rule_destroy(r);
    r = life_rule(nb, "life:B3,10..12,120/S0");
    cr_assert(dca_rule_life(r, buf, sizeof buf));
    cr_assert_str_eq(buf, "B3,10..12,120/S0");
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(ot, rule_shape_and_errors)
{
    dca_nbhd *nb = t_nbhd("moore:1", 2);
    dca_rule *r = t_ot(nb);
    int64_t d[2];
    cr_assert_eq(dca_rule_shape(r, d), 2);
    cr_assert(d[0] == 2 && d[1] == 9);
    cr_assert_eq(dca_rule_params(r), 18);
    char hex[256];
    cr_assert_not(dca_rule_hex(r, hex, sizeof hex), "an OT rule has no table hex");
    dca_error e;
    cr_assert_eq(dca_rule_load_weights(r, "wolfram:30", 0, NULL, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "outer-totalistic"), "%s", e.msg);
    cr_assert_eq(dca_rule_load_weights(r, "life:B9/S23", 0, NULL, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "count 9"), "%s", e.msg);
    cr_assert_eq(dca_rule_load_weights(r, "list:1,2,3", 0, NULL, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "2 x 9"), "%s", e.msg);
    dca_lattice lat = {2, {8, 8}};
    dca_sim *sim = NULL;
    dca_sim_options o = {.kernel = DCA_KERNEL_BLAS};
    cr_assert_eq(dca_sim_create(&lat, r, 1, &o, &sim, &e), DCA_ERR_ARG);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
    /* No centre, no outer-totalistic rule. */
    nb = t_nbhd("offsets:(-1,0),(1,0)", 2);
    dca_rule *bad = NULL;
    cr_assert_eq(dca_rule_create_outer_totalistic(nb, &bad, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "centre"), "%s", e.msg);
    dca_nbhd_destroy(nb);
}

static void threads_agree(const char *nbspec)
{
    dca_lattice lat = {2, {37, 41}};
    dca_nbhd *nb = t_nbhd(nbspec, 2);
    dca_rule *r = t_ot(nb);
    t_random_weights(r, 2.0, 3);
    const int64_t B = 3, n = B * dca_lattice_cells(&lat), P = dca_rule_params(r);
    double *x = malloc((size_t)n * 8), *yb = malloc((size_t)n * 8), *xb[2], *g[2];
    t_random_config(x, n, 2, DCA_MODE_BINARY, 1);
    uint64_t s = 4;
    for (int64_t i = 0; i < n; i++)
        yb[i] = t_unif(&s) - 0.5;
    for (int k = 0; k < 2; k++) {
        dca_sim_options o = {.threads = k + 1, .gradients = DCA_GRAD_REVERSE, .tile_cells = 64};
        dca_sim *sim = NULL;
        cr_assert_eq(dca_sim_create(&lat, r, B, &o, &sim, NULL), DCA_OK);
        xb[k] = malloc((size_t)n * 8);
        g[k] = malloc((size_t)P * 8);
        dca_sim_adjoint_begin(sim);
        dca_sim_adjoint_step(sim, x, yb, xb[k]);
        dca_sim_adjoint_end(sim, g[k]);
        dca_sim_destroy(sim);
    }
    cr_assert(memcmp(xb[0], xb[1], (size_t)n * 8) == 0, "%s: dE/dx depends on the thread count",
              nbspec);
    cr_assert(memcmp(g[0], g[1], (size_t)P * 8) == 0, "%s: dE/dw depends on the thread count",
              nbspec);
    free(x), free(yb), free(xb[0]), free(xb[1]), free(g[0]), free(g[1]);
    dca_rule_destroy(r);
    dca_nbhd_destroy(nb);
}

Test(ot, gradient_independent_of_threads)
{
    threads_agree("moore:2"); /* the row kernels */
    threads_agree("moore:1"); /* the register-blocked ones */
}

/* ---- Golly RLE ------------------------------------------------------------ */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

Test(rle, read_write_round_trip)
{
    char dir[] = "/tmp/dca-rle-XXXXXX";
    cr_assert(mkdtemp(dir));
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/a.rle", dir);
    snprintf(out, sizeof out, "%s/b.rle", dir);
    /* Comments, run counts, multi-row $, whitespace and line breaks. */
    write_text(in, "#N test\n#C two lines\nx = 5, y = 4, rule = B3/S23\n2o.A$\n3bo 2$o3bo\n!\n");
    dca_rle p;
    dca_error e;
    cr_assert_eq(dca_rle_read(in, 1000, 1000, &p, &e), DCA_OK, "%s", e.msg);
    cr_assert(p.width == 5 && p.height == 4);
    cr_assert_str_eq(p.rule, "B3/S23");
    const uint8_t want[20] = {1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
    cr_assert(memcmp(p.cells, want, 20) == 0, "cells read wrongly");
    cr_assert_eq(dca_rle_write(out, p.cells, 5, 4, "B3/S23", "a\nb", &e), DCA_OK, "%s", e.msg);
    dca_rle q;
    cr_assert_eq(dca_rle_read(out, 1000, 1000, &q, &e), DCA_OK, "%s", e.msg);
    cr_assert(q.width == 5 && q.height == 4 && memcmp(q.cells, want, 20) == 0);
    dca_rle_free(&p);
    dca_rle_free(&q);
    /* A Larger-than-Life header: the rule holds commas. */
    write_text(in, "x = 2, y = 1, rule = R5,C0,M1,S34..58,B34..45,NM\n2o!\n");
    cr_assert_eq(dca_rle_read(in, 1000, 1000, &p, &e), DCA_OK, "%s", e.msg);
    cr_assert_str_eq(p.rule, "R5,C0,M1,S34..58,B34..45,NM");
    cr_assert(p.width == 2 && p.height == 1 && p.cells[0] == 1 && p.cells[1] == 1);
    dca_rle_free(&p);
    /* A long random pattern: lines stay under 71 characters, cells survive. */
    uint8_t big[60 * 50];
    uint64_t s = 1;
    for (int i = 0; i < 60 * 50; i++)
        big[i] = t_unif(&s) < 0.3;
    /* Blank rows at the top, in the middle (several) and at the bottom. */
    memset(big, 0, 3 * 60);
    memset(big + 20 * 60, 0, 4 * 60);
    memset(big + 47 * 60, 0, 3 * 60);
    cr_assert_eq(dca_rle_write(out, big, 60, 50, NULL, NULL, &e), DCA_OK, "%s", e.msg);
    cr_assert_eq(dca_rle_read(out, 1000, 1000, &q, &e), DCA_OK, "%s", e.msg);
    cr_assert(q.rule == NULL && memcmp(q.cells, big, sizeof big) == 0, "round trip lost cells");
    dca_rle_free(&q);
    FILE *f = fopen(out, "r");
    char line[256];
    while (fgets(line, sizeof line, f))
        cr_assert_leq(strlen(line), 71, "RLE line too long: %s", line);
    fclose(f);
    /* Bad files: each a clear error naming the file (and line). */
    const struct {
        const char *text, *msg;
    } bad[] = {
        {"bob$2bo$3o!\n", ":1: expected the RLE header"},
        {"#C only comments\n", "no RLE header"},
        {"x = 3, y = 3\nbob$2bo$3o\n", "does not end with '!'"},
        {"x = 3, y = 3\nbob$2bo$4o!\n", ":2: cells beyond the header's 3 x 3"},
        {"x = 3, y = 3\nbob$2bo$3o$o!\n", "cells beyond"},
        {"x = 3, y = 3\nbBb!\n", ":2: unexpected 'B'"},
        {"x = 0, y = 3\n!\n", "a pattern of 0 x 3"},
        {"x = 100000, y = 100000\n!\n", ":1: the pattern is 100000 wide and 100000 high"},
        {"x = -3, y = 3\n!\n", "expected the RLE header"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_text(in, bad[i].text);
        cr_assert_eq(dca_rle_read(in, 1000, 1000, &p, &e), DCA_ERR_FORMAT, "case %zu accepted", i);
        cr_assert(strstr(e.msg, in) && strstr(e.msg, bad[i].msg), "case %zu: %s", i, e.msg);
    }
    cr_assert_eq(dca_rle_read("/nonexistent/x.rle", 1000, 1000, &p, &e), DCA_ERR_IO);
    /* Not text at all: refused after one long "line", not read forever. */
    cr_assert_eq(dca_rle_read("/dev/zero", 1000, 1000, &p, &e), DCA_ERR_FORMAT);
    cr_assert(strstr(e.msg, "longer than 1 MiB or with a NUL byte"), "%s", e.msg);
    remove(in);
    remove(out);
    rmdir(dir);
}

Test(rle, golly_rule_names)
{
    const struct {
        const char *nb, *life, *golly;
    } cases[] = {
        {"moore:1", "life:B3/S23", "B3/S23"},
        {"vonneumann:1", "life:B1/S012", "B1/S012V"},
        {"moore:5", "life:B34..45/S33..57", "R5,C0,M0,S33..57,B34..45,NM"},
        {"vonneumann:2", "life:B3..4/S2..5", "R2,C0,M0,S2..5,B3..4,NN"},
        {"moore:2", "life:B3,5/S2", NULL}, /* not one range: Golly's LtL has no name */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dca_nbhd *nb = t_nbhd(cases[i].nb, 2);
        dca_rule *r = life_rule(nb, cases[i].life);
        char buf[256];
        bool ok = dca_rle_rule(r, buf, sizeof buf);
        if (cases[i].golly) {
            cr_assert(ok, "%s %s: no Golly name", cases[i].nb, cases[i].life);
            cr_assert_str_eq(buf, cases[i].golly);
        } else {
            cr_assert_not(ok, "%s %s: named %s", cases[i].nb, cases[i].life, buf);
        }
        dca_rule_destroy(r);
        dca_nbhd_destroy(nb);
    }
}
