/* Stochastic lattice models (dca/slm.h): the SI step against a plain
 * independent simulator on the same noise, noise replay and thread-count
 * independence, the smoothed model's adjoint against finite differences,
 * the zero-width surrogate, the estimators on exact counts, bad
 * parameters. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dca/slm.h"
#include "helpers.h"
#include "rng.h"

#include <Random123/philox.h>

static dca_si *make_si(int64_t h, int64_t w, const char *nb, uint64_t seed)
{
    char spec[32];
    snprintf(spec, sizeof spec, "%lldx%lld", (long long)h, (long long)w);
    dca_lattice lat;
    dca_error err;
    cr_assert_eq(dca_lattice_parse(spec, &lat, &err), DCA_OK);
    dca_si *si;
    cr_assert_eq(dca_si_create(&lat, nb, seed, &si, &err), DCA_OK, "%s", err.msg);
    return si;
}

/* A random 0/1 state with density d (its own LCG, not Philox). */
static void random_state(double *x, int64_t n, double d, uint64_t s)
{
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (double)(s >> 11) / 9007199254740992.0 < d ? 1.0 : 0.0;
    }
}

/* The vectorised Philox (dca_rng_words, _soa, the groups of lanes and the
 * scalar edges) against Random123's philox4x32 itself, counter by counter:
 * the noise of every model rests on it. Counters that cross 2^32 in the
 * sub-index test the carry into the fourth word. */
Test(rng, words_are_random123_philox)
{
    enum { N = 100 };
    const uint64_t seed = 0x123456789abcdefULL, index = 0xfedcba987654321ULL;
    const uint64_t subs[3] = {0, 12345, ((uint64_t)1 << 32) - 40};
    uint32_t w[4 * N], soa[4 * N];
    for (int k = 0; k < 3; k++)
        for (int64_t count = 1; count <= N; count += 13) {
            dca_rng_words(seed, DCA_RNG_MK, index, subs[k], count, w);
            dca_rng_words_soa(seed, DCA_RNG_MK, index, subs[k], count, soa, N);
            for (int64_t i = 0; i < count; i++) {
                const uint64_t sub = subs[k] + (uint64_t)i;
                const philox4x32_ctr_t ctr = {{(uint32_t)index, (uint32_t)(index >> 32),
                                               (uint32_t)sub,
                                               (uint32_t)(sub >> 32) ^ (DCA_RNG_MK << 24)}};
                const philox4x32_key_t key = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
                const philox4x32_ctr_t r = philox4x32(ctr, key);
                for (int j = 0; j < 4; j++) {
                    cr_assert_eq(w[4 * i + j], r.v[j], "draw %lld word %d (count %lld)",
                                 (long long)sub, j, (long long)count);
                    cr_assert_eq(soa[j * N + i], r.v[j], "soa: draw %lld word %d",
                                 (long long)sub, j);
                }
            }
        }
}

Test(si, hard_step_matches_plain_simulator)
{
    const int64_t H = 13, W = 17, B = 3, C = H * W;
    const uint64_t seed = 77;
    dca_si *si = make_si(H, W, "moore:1", seed);
    cr_assert_eq(dca_si_neighbours(si), 8);
    double *x = malloc((size_t)(B * C) * 8), *y = malloc((size_t)(B * C) * 8);
    random_state(x, B * C, 0.3, 5);
    const double beta = 0.37;
    const int64_t first = 11, step = 4;
    dca_si_step(si, beta, NULL, B, first, step, x, y);
    int64_t changed = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++) {
                int n = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                        if (dy || dx)
                            n += x[b * C + ((i + dy + H) % H) * W + (j + dx + W) % W] == 1;
                double u[2];
                dca_rng_uniform2(seed, DCA_RNG_SLM, (uint64_t)(first + b) << 32 | (uint64_t)step,
                                 (uint64_t)(i * W + j), u);
                const double p = 1 - pow(1 - beta, n);
                const double want = x[b * C + i * W + j] == 1 ? 1.0 : (p > u[0] ? 1.0 : 0.0);
                cr_assert_eq(y[b * C + i * W + j], want, "b %lld cell (%lld, %lld), N = %d",
                             (long long)b, (long long)i, (long long)j, n);
                changed += want != x[b * C + i * W + j];
            }
    cr_assert_gt(changed, 10, "the step must inform some cells");
    free(x), free(y);
    dca_si_destroy(si);
}

Test(si, ring_and_von_neumann)
{
    dca_lattice lat;
    dca_error err;
    cr_assert_eq(dca_lattice_parse("50", &lat, &err), DCA_OK);
    dca_si *si;
    cr_assert_eq(dca_si_create(&lat, "radius:2", 3, &si, &err), DCA_OK);
    cr_assert_eq(dca_si_neighbours(si), 4);
    double x[50] = {0}, y[50];
    x[10] = 1;
    dca_si_step(si, 1.0, NULL, 1, 0, 0, x, y);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(y[i], (i >= 8 && i <= 12) ? 1.0 : 0.0, "cell %d", i);
    dca_si_destroy(si);
    dca_si *vn = make_si(8, 8, "vonneumann:1", 3);
    cr_assert_eq(dca_si_neighbours(vn), 4);
    dca_si_destroy(vn);
}

/* Forward, backward, forward again: bitwise the same; and the same on one
 * thread and on three. */
Test(si, noise_replay_and_threads)
{
    const int64_t H = 24, W = 20, B = 5, C = H * W, T = 6;
    dca_si *si = make_si(H, W, "moore:1", 9);
    const dca_ste ste = {DCA_SURROGATE_IDENTITY, 0, false};
    double *xs[2], *g[2], gb[2];
    double *obs = malloc((size_t)(B * C) * 8);
    random_state(obs, B * C, 0.5, 99);
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 3 : 1);
        xs[run] = malloc((size_t)((T + 1) * B * C) * 8);
        g[run] = malloc((size_t)(2 * B * C) * 8);
        random_state(xs[run], B * C, 0.05, 1);
        for (int64_t t = 0; t < T; t++)
            dca_si_step(si, 0.3, &ste, B, 0, t, xs[run] + t * B * C, xs[run] + (t + 1) * B * C);
        double *ga = g[run], *gn = g[run] + B * C;
        for (int64_t c = 0; c < B * C; c++)
            ga[c] = xs[run][T * B * C + c] - obs[c];
        gb[run] = 0;
        for (int64_t t = T - 1; t >= 0; t--) {
            dca_si_step_adjoint(si, 0.3, &ste, B, 0, t, xs[run] + t * B * C, ga, gn, &gb[run]);
            double *tmp = ga;
            ga = gn, gn = tmp;
        }
        /* forward again */
        double *again = malloc((size_t)(B * C) * 8);
        for (int64_t t = 0; t < T; t++) {
            dca_si_step(si, 0.3, &ste, B, 0, t, xs[run] + t * B * C, again);
            cr_assert_eq(memcmp(again, xs[run] + (t + 1) * B * C, (size_t)(B * C) * 8), 0,
                         "step %lld replayed differently", (long long)t);
        }
        free(again);
    }
    omp_set_num_threads(2);
    cr_assert_eq(memcmp(xs[0], xs[1], (size_t)((T + 1) * B * C) * 8), 0);
    cr_assert_eq(memcmp(g[0], g[1], (size_t)(2 * B * C) * 8), 0);
    cr_assert_eq(memcmp(&gb[0], &gb[1], sizeof gb[0]), 0, "%.17g vs %.17g", gb[0], gb[1]);
    cr_assert_neq(gb[0], 0.0);
    for (int run = 0; run < 2; run++)
        free(xs[run]), free(g[run]);
    free(obs);
    dca_si_destroy(si);
}

/* L(beta, x0) = sum_c w_c x_T,c over T relaxed steps. */
static double relaxed_loss(const dca_si *si, double beta, const dca_ste *ste, int64_t B,
                           int64_t T, const double *x0, const double *wt, double *buf)
{
    const int64_t C = dca_si_cells(si);
    memcpy(buf, x0, (size_t)(B * C) * 8);
    for (int64_t t = 0; t < T; t++)
        dca_si_step(si, beta, ste, B, 0, t, buf + t * B * C, buf + (t + 1) * B * C);
    double L = 0;
    for (int64_t c = 0; c < B * C; c++)
        L += wt[c] * buf[T * B * C + c];
    return L;
}

/* Where the model is smooth (the relaxed model, H = s(z/W) forward), its
 * adjoint is its exact derivative: in beta and in every cell of x0. */
Test(si, smoothed_adjoint_matches_finite_differences)
{
    const int64_t H = 9, W = 11, B = 2, C = H * W, T = 4;
    dca_si *si = make_si(H, W, "moore:1", 5);
    const dca_ste ste = {DCA_SURROGATE_SIGMOID, 0.2, true};
    double *x0 = malloc((size_t)(B * C) * 8), *wt = malloc((size_t)(B * C) * 8);
    double *buf = malloc((size_t)((T + 1) * B * C) * 8), *g = malloc((size_t)(2 * B * C) * 8);
    random_state(x0, B * C, 0.2, 3);
    for (int64_t c = 0; c < B * C; c++)
        x0[c] = 0.1 + 0.8 * x0[c]; /* fractional states */
    random_state(wt, B * C, 0.5, 4);
    const double beta = 0.31;
    relaxed_loss(si, beta, &ste, B, T, x0, wt, buf);
    double *ga = g, *gn = g + B * C, gbeta = 0;
    memcpy(ga, wt, (size_t)(B * C) * 8);
    for (int64_t t = T - 1; t >= 0; t--) {
        dca_si_step_adjoint(si, beta, &ste, B, 0, t, buf + t * B * C, ga, gn, &gbeta);
        double *tmp = ga;
        ga = gn, gn = tmp;
    }
    const double h = 1e-6;
    const double num = (relaxed_loss(si, beta + h, &ste, B, T, x0, wt, buf) -
                        relaxed_loss(si, beta - h, &ste, B, T, x0, wt, buf)) /
                       (2 * h);
    cr_assert(fabs(gbeta - num) <= 1e-6 * fmax(1, fabs(num)), "beta: %.12g vs %.12g", gbeta,
              num);
    cr_assert_gt(fabs(num), 1e-3);
    double worst = 0;
    for (int64_t c = 0; c < B * C; c += 7) {
        const double keep = x0[c];
        x0[c] = keep + h;
        const double Lp = relaxed_loss(si, beta, &ste, B, T, x0, wt, buf);
        x0[c] = keep - h;
        const double Lm = relaxed_loss(si, beta, &ste, B, T, x0, wt, buf);
        x0[c] = keep;
        worst = fmax(worst, fabs(ga[c] - (Lp - Lm) / (2 * h)));
    }
    cr_assert_lt(worst, 1e-6, "dL/dx0: worst difference %g", worst);
    free(x0), free(wt), free(buf), free(g);
    dca_si_destroy(si);
}

/* A zero-width surrogate gives the hard model's derivative, which is 0
 * almost everywhere (the hard model is piecewise constant in beta); the
 * identity surrogate does not vanish. */
Test(si, zero_width_surrogate_is_the_hard_derivative)
{
    const int64_t H = 16, W = 16, B = 4, C = H * W;
    dca_si *si = make_si(H, W, "moore:1", 12);
    double *x = malloc((size_t)(B * C) * 8), *y = malloc((size_t)(B * C) * 8),
           *gy = malloc((size_t)(B * C) * 8);
    random_state(x, B * C, 0.3, 8);
    const dca_ste narrow = {DCA_SURROGATE_SIGMOID, 1e-300, false};
    const dca_ste id = {DCA_SURROGATE_IDENTITY, 0, false};
    dca_si_step(si, 0.4, &narrow, B, 0, 0, x, y);
    for (int64_t c = 0; c < B * C; c++)
        gy[c] = 1.0;
    double g0 = 0, g1 = 0;
    dca_si_step_adjoint(si, 0.4, &narrow, B, 0, 0, x, gy, NULL, &g0);
    dca_si_step_adjoint(si, 0.4, &id, B, 0, 0, x, gy, NULL, &g1);
    cr_assert_eq(g0, 0.0);
    cr_assert_gt(g1, 0.0);
    free(x), free(y), free(gy);
    dca_si_destroy(si);
}

/* Counts made exactly from p_N(beta0): both estimators return beta0. */
Test(si, estimators_on_exact_counts)
{
    const int m = 8;
    const double b0 = 0.42;
    double n[9], k[9];
    for (int N = 0; N <= m; N++) {
        n[N] = 1000.0 / (N + 1);
        k[N] = N ? n[N] * (1 - pow(1 - b0, N)) : 0;
    }
    cr_assert(fabs(dca_si_beta_ml(m, n, k) - b0) < 1e-9, "%.12g", dca_si_beta_ml(m, n, k));
    cr_assert(fabs(dca_si_beta_ls(m, n, k) - b0) < 1e-9, "%.12g", dca_si_beta_ls(m, n, k));
    /* Mixed betas: the two differ, both inside the range. */
    for (int N = 1; N <= m; N++)
        k[N] = n[N] * 0.5 * ((1 - pow(1 - 0.2, N)) + (1 - pow(1 - 0.8, N)));
    const double ml = dca_si_beta_ml(m, n, k), ls = dca_si_beta_ls(m, n, k);
    cr_assert(ml > 0.2 && ml < 0.8 && ls > 0.2 && ls < 0.8);
    cr_assert_gt(fabs(ml - ls), 1e-4);
    double z[9] = {5, 0, 0, 0, 0, 0, 0, 0, 0};
    cr_assert(isnan(dca_si_beta_ml(m, z, z)));
}

Test(si, bad_parameters)
{
    dca_error err;
    cr_assert_eq(dca_si_check_beta(-0.1, &err), DCA_ERR_ARG);
    cr_assert(strstr(err.msg, "beta"));
    cr_assert_eq(dca_si_check_beta(1.5, &err), DCA_ERR_ARG);
    cr_assert_eq(dca_si_check_beta(NAN, &err), DCA_ERR_ARG);
    cr_assert_eq(dca_si_check_beta(1.0, &err), DCA_OK);
    dca_ste s;
    cr_assert_eq(dca_ste_parse("sigmoid:-1", &s, &err), DCA_ERR_ARG);
    cr_assert_eq(dca_ste_parse("sigmoid:", &s, &err), DCA_ERR_ARG);
    cr_assert_eq(dca_ste_parse("tanh", &s, &err), DCA_ERR_ARG);
    cr_assert_eq(dca_ste_parse("sigmoid:0.5", &s, &err), DCA_OK);
    cr_assert_eq(s.kind, DCA_SURROGATE_SIGMOID);
    dca_lattice lat;
    cr_assert_eq(dca_lattice_parse("8x8", &lat, &err), DCA_OK);
    dca_si *si;
    cr_assert_eq(dca_si_create(&lat, "offsets:(0,0)", 1, &si, &err), DCA_ERR_ARG);
    cr_assert(strstr(err.msg, "centre"), "%s", err.msg);
}

/* ---- the cellular Potts model ---------------------------------------------- */

/* A plain simulator on the whole grid: the boundary by scanning every pixel
 * in row-major order, the cell's unwrapped pixels tracked beside it. */
static void plain_potts(int64_t H, int64_t W, int uniform, uint64_t seed, int64_t lattice,
                        int64_t steps, double T, double *msd, double *A, double *R, int *grid)
{
    static const int off[8][2] = {{-1, -1}, {-1, 0}, {-1, 1}, {0, -1},
                                  {0, 1},   {1, -1}, {1, 0},  {1, 1}};
    memset(grid, 0, (size_t)(H * W) * sizeof *grid);
    int64_t ur[2] = {H / 2, H / 2}, uc[2] = {W / 2, W / 2}; /* unwrapped cell pixels */
    int v = 1;
    grid[(H / 2) * W + W / 2] = 1;
    *A = *R = 0;
    const double p = exp(-1.0 / T);
    int64_t *bd = malloc((size_t)(H * W) * sizeof *bd);
    for (int64_t s = 0; s < steps; s++) {
        uint32_t w[4];
        dca_rng_words(seed, DCA_RNG_POTTS, (uint64_t)lattice, (uint64_t)s, 1, w);
        const uint64_t u = (uint64_t)w[0] << 32 | w[1];
        int64_t src;
        if (uniform) {
            src = (int64_t)(((unsigned __int128)u * (uint64_t)(H * W)) >> 64);
        } else {
            int64_t n = 0;
            for (int64_t i = 0; i < H; i++)
                for (int64_t j = 0; j < W; j++) {
                    bool b = false;
                    for (int k = 0; k < 8; k++)
                        b |= grid[((i + off[k][0] + H) % H) * W + (j + off[k][1] + W) % W] !=
                             grid[i * W + j];
                    if (b)
                        bd[n++] = i * W + j;
                }
            src = bd[(int64_t)(((unsigned __int128)u * (uint64_t)n) >> 64)];
        }
        const int k = (int)(w[2] >> 29);
        const int64_t si = src / W, sj = src % W;
        const int64_t tgt = ((si + off[k][0] + H) % H) * W + (sj + off[k][1] + W) % W;
        const int dv = grid[src] - grid[tgt];
        if (dv == 0)
            continue;
        const double prob = (v + dv > 2 || v + dv < 1) ? 0 : dv == -1 ? 1 : p;
        const int h = prob > (double)w[3] * 0x1.0p-32;
        if (dv == 1 && v == 1)
            h ? (*A += 1) : (*R += 1);
        if (!h)
            continue;
        grid[tgt] = grid[src];
        if (dv == 1) { /* the source is the cell's pixel 0 */
            ur[1] = ur[0] + off[k][0], uc[1] = uc[0] + off[k][1];
            v = 2;
        } else {
            const int64_t t0 = ((ur[0] % H + H) % H) * W + (uc[0] % W + W) % W;
            if (t0 == tgt)
                ur[0] = ur[1], uc[0] = uc[1];
            v = 1;
        }
    }
    free(bd);
    const double cr = v == 2 ? 0.5 * (double)(ur[0] + ur[1]) : (double)ur[0];
    const double cc = v == 2 ? 0.5 * (double)(uc[0] + uc[1]) : (double)uc[0];
    *msd = (cr - (double)(H / 2)) * (cr - (double)(H / 2)) +
           (cc - (double)(W / 2)) * (cc - (double)(W / 2));
}

Test(potts, matches_plain_simulator)
{
    const int64_t H = 7, W = 9, n = 12, steps = 3000;
    int *grid = malloc((size_t)(H * W) * sizeof *grid);
    for (int uniform = 0; uniform < 2; uniform++) {
        dca_lattice lat = {2, {H, W}};
        dca_error err;
        dca_potts *p;
        cr_assert_eq(dca_potts_create(&lat, (dca_potts_sampling)uniform, 21, &p, &err), DCA_OK);
        double msd[12], A[12], R[12];
        int64_t fin[48];
        const double T = 0.6;
        dca_potts_run(p, T, 100, n, steps, msd, A, R, NULL, fin);
        double moved = 0;
        for (int64_t l = 0; l < n; l++) {
            double m, a, r;
            plain_potts(H, W, uniform, 21, 100 + l, steps, T, &m, &a, &r, grid);
            cr_assert_eq(a, A[l], "sampling %d lattice %lld: accepted", uniform, (long long)l);
            cr_assert_eq(r, R[l], "sampling %d lattice %lld: rejected", uniform, (long long)l);
            cr_assert_eq(m, msd[l], "sampling %d lattice %lld: msd %g vs %g", uniform,
                         (long long)l, m, msd[l]);
            for (int k = 0; k < 2; k++) {
                const int64_t r0 = (fin[4 * l + 2 * k] % H + H) % H,
                              c0 = (fin[4 * l + 2 * k + 1] % W + W) % W;
                cr_assert_eq(grid[r0 * W + c0], 1, "final pixel %d not in the plain grid", k);
            }
            moved += m;
        }
        cr_assert_gt(moved, 0, "the cells must move (wrapping the 7x9 torus)");
        dca_potts_destroy(p);
    }
    free(grid);
}

Test(potts, threads_and_estimators)
{
    dca_lattice lat = {2, {128, 128}};
    dca_error err;
    dca_potts *p;
    cr_assert_eq(dca_potts_create(&lat, DCA_POTTS_BOUNDARY, 3, &p, &err), DCA_OK);
    const int64_t n = 2000, S = 800;
    const int K = 6;
    double *o[2][4];
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 3 : 1);
        for (int k = 0; k < 4; k++)
            o[run][k] = malloc((size_t)n * 8);
        dca_potts_run(p, 0.33, 0, n, S, o[run][0], o[run][1], o[run][2], o[run][3], NULL);
    }
    omp_set_num_threads(2);
    for (int k = 0; k < 4; k++)
        cr_assert_eq(memcmp(o[0][k], o[1][k], (size_t)n * 8), 0, "output %d differs", k);
    /* The score-function estimate agrees with central differences of the
     * batch mean (common random numbers) within 4 standard errors; the
     * straight-through estimate has the wrong sign. */
    const double T = 0.33, h = 0.01;
    double fd[6], sc[6], st[6];
    for (int64_t b = 0; b < K; b++) {
        double hi = 0, lo = 0, g = 0;
        dca_potts_run(p, T + h, b * n, n, S, o[0][0], NULL, NULL, NULL, NULL);
        for (int64_t l = 0; l < n; l++)
            hi += o[0][0][l] / (double)n;
        dca_potts_run(p, T - h, b * n, n, S, o[0][0], NULL, NULL, NULL, NULL);
        for (int64_t l = 0; l < n; l++)
            lo += o[0][0][l] / (double)n;
        fd[b] = (hi - lo) / (2 * h);
        dca_potts_run(p, T, b * n, n, S, o[0][0], o[0][1], o[0][2], o[0][3], NULL);
        sc[b] = dca_potts_score_gradient(T, n, o[0][0], o[0][1], o[0][2]);
        for (int64_t l = 0; l < n; l++)
            g += o[0][3][l] / (double)n;
        st[b] = g;
    }
    double mf = 0, ms = 0, mt = 0, vf = 0, vs = 0;
    for (int b = 0; b < K; b++)
        mf += fd[b] / K, ms += sc[b] / K, mt += st[b] / K;
    for (int b = 0; b < K; b++)
        vf += (fd[b] - mf) * (fd[b] - mf), vs += (sc[b] - ms) * (sc[b] - ms);
    const double se = sqrt(vf / (K - 1) / K + vs / (K - 1) / K);
    cr_assert_gt(mf, 0, "E[MSD] grows with T: %g", mf);
    cr_assert(fabs(ms - mf) < 4 * se, "score %g vs differences %g (se %g)", ms, mf, se);
    cr_assert_lt(mt, 0, "straight-through: %g", mt);
    for (int run = 0; run < 2; run++)
        for (int k = 0; k < 4; k++)
            free(o[run][k]);
    dca_potts_destroy(p);
}

Test(potts, bad_parameters)
{
    dca_error err;
    cr_assert_eq(dca_potts_check_temperature(0, &err), DCA_ERR_ARG);
    cr_assert(strstr(err.msg, "T > 0"));
    cr_assert_eq(dca_potts_check_temperature(-1, &err), DCA_ERR_ARG);
    cr_assert_eq(dca_potts_check_temperature(INFINITY, &err), DCA_ERR_ARG);
    cr_assert_eq(dca_potts_check_temperature(0.3, &err), DCA_OK);
    dca_potts *p;
    dca_lattice small = {2, {4, 9}}, ring = {1, {100, 0}};
    cr_assert_eq(dca_potts_create(&small, DCA_POTTS_BOUNDARY, 1, &p, &err), DCA_ERR_ARG);
    cr_assert(strstr(err.msg, "5x5"), "%s", err.msg);
    cr_assert_eq(dca_potts_create(&ring, DCA_POTTS_BOUNDARY, 1, &p, &err), DCA_ERR_ARG);
    double msd[2] = {1, 2}, a[2] = {1, 1}, r[2] = {1, 1};
    cr_assert(isnan(dca_potts_score_gradient(0.3, 1, msd, a, r)));
}

/* ---- segmentation ------------------------------------------------------------- */

Test(segment, gradient_matches_finite_differences_everywhere)
{
    const int64_t H = 6, W = 7, n = H * W;
    double g[42], x[42], gr[42], parts[4];
    for (int64_t c = 0; c < n; c++) {
        g[c] = sin(0.9 * (double)c);
        x[c] = g[c] + 0.3 * cos(1.3 * (double)c);
    }
    const dca_segment_weights lam = {0.3, 0.2, 0.15, 1.1};
    const double L = dca_segment_loss(H, W, g, x, &lam, gr, parts);
    cr_assert(fabs(L - (0.3 * parts[0] + 0.2 * parts[1] + 0.15 * parts[2] + 1.1 * parts[3])) <
              1e-9);
    /* lb and lc are the same function (the neighbour relation is symmetric) */
    cr_assert(fabs(parts[1] - parts[2]) < 1e-12 * fmax(1, fabs(parts[1])), "%.17g vs %.17g",
              parts[1], parts[2]);
    for (int64_t c = 0; c < n; c++) { /* every pixel: corners, edges, interior */
        const double keep = x[c], h = 1e-6;
        x[c] = keep + h;
        const double Lp = dca_segment_loss(H, W, g, x, &lam, NULL, NULL);
        x[c] = keep - h;
        const double Lm = dca_segment_loss(H, W, g, x, &lam, NULL, NULL);
        x[c] = keep;
        cr_assert(fabs((Lp - Lm) / (2 * h) - gr[c]) < 1e-6, "pixel %lld: %g vs %g", (long long)c,
                  (Lp - Lm) / (2 * h), gr[c]);
    }
}

Test(segment, dice_normalise_and_synthetic_cells)
{
    const double x[4] = {1, -1, 0.5, 0};
    const uint8_t m[4] = {1, 1, 0, 0};
    cr_assert(fabs(dca_dice(4, x, m) - 0.5) < 1e-12); /* 2*1 / (2 + 2) */
    const uint8_t none[4] = {0, 0, 0, 0};
    const double neg[4] = {-1, -1, -1, -1};
    cr_assert_eq(dca_dice(4, neg, none), 1.0);
    dca_error err;
    double flat[4] = {3, 3, 3, 3}, g[4];
    cr_assert_eq(dca_segment_normalise(4, flat, g, &err), DCA_ERR_ARG);
    const double ramp[4] = {0, 1, 2, 5};
    cr_assert_eq(dca_segment_normalise(4, ramp, g, &err), DCA_OK);
    cr_assert(fabs(g[0] + g[1] + g[2] + g[3]) < 1e-12 && fabs(g[3] - 1) < 1e-12);
    const int64_t H = 64, W = 80;
    double *a = malloc((size_t)(H * W) * 8), *b = malloc((size_t)(H * W) * 8);
    uint8_t *ma = malloc((size_t)(H * W)), *mb = malloc((size_t)(H * W));
    cr_assert_eq(dca_cells_synthesize(H, W, 5, 4, 8, 1.5, 0.05, 7, a, ma, &err), DCA_OK);
    cr_assert_eq(dca_cells_synthesize(H, W, 5, 4, 8, 1.5, 0.05, 7, b, mb, &err), DCA_OK);
    cr_assert_eq(memcmp(a, b, (size_t)(H * W) * 8), 0, "the same seed, the same image");
    cr_assert_eq(memcmp(ma, mb, (size_t)(H * W)), 0);
    double in = 0, out = 0, nin = 0, nout = 0;
    for (int64_t c = 0; c < H * W; c++) {
        cr_assert(a[c] >= 0 && a[c] <= 1);
        ma[c] ? (in += a[c], nin++) : (out += a[c], nout++);
    }
    cr_assert(nin > 100 && nout > 100);
    cr_assert_gt(in / nin, out / nout + 0.3, "cells are brighter than the background");
    cr_assert_eq(dca_cells_synthesize(H, W, 5, 9, 4, 1, 0, 7, a, ma, &err), DCA_ERR_ARG);
    free(a), free(b), free(ma), free(mb);
}

/* ---- the Malevanets-Kapral lattice gas ---------------------------------------- */

static double unit32(uint32_t w) { return ((double)w + 0.5) * 0x1.0p-32; }

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* The plain Gumbel-max choice of species s's offset from a step's words. */
static int plain_offset(const uint32_t *w, int64_t C, int s, double D)
{
    static const int off[9][2] = {{0, 0},  {-1, -1}, {-1, 0}, {-1, 1}, {0, -1},
                                  {0, 1},  {1, -1},  {1, 0},  {1, 1}};
    const double a = 1 / (4 + 4 / sqrt(2.0));
    int best = 0;
    double zb = -INFINITY;
    for (int j = 0; j < 9; j++) {
        const double pi = j == 0 ? 1 - D : D * a / ((off[j][0] && off[j][1]) ? sqrt(2.0) : 1);
        const double z = log(pi) - log(-log(unit32(w[4 * C + 9 * s + j])));
        if (z > zb)
            zb = z, best = j;
    }
    return best;
}

/* A plain step on fixed noise, written from the thesis's equations. */
static void plain_mk(int64_t H, int64_t W, int N, double gamma, const dca_mk_params *p,
                     uint64_t seed, int64_t conf, int64_t t, const double *x, double *y)
{
    static const int off[9][2] = {{0, 0},  {-1, -1}, {-1, 0}, {-1, 1}, {0, -1},
                                  {0, 1},  {1, -1},  {1, 0},  {1, 1}};
    const int64_t C = H * W;
    uint32_t *w = malloc((size_t)(4 * (C + 5)) * sizeof *w);
    dca_rng_words(seed, DCA_RNG_MK, (uint64_t)conf << 32 | (uint64_t)t, 0, C + 5, w);
    double *mid = malloc((size_t)(2 * C) * 8), *E = malloc((size_t)(2 * C) * 8);
    const double D[2] = {p->D_A, p->D_B};
    for (int s = 0; s < 2; s++) {
        const int best = plain_offset(w, C, s, D[s]);
        for (int64_t c = 0; c < C; c++)
            E[s * C + c] = x[s * C + c] > N * unit32(w[4 * c + s]) ? 1 : 0;
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++) {
                const int64_t from = ((i - off[best][0] + H) % H) * W + (j - off[best][1] + W) % W;
                mid[s * C + i * W + j] = x[s * C + i * W + j] - E[s * C + i * W + j] + E[s * C + from];
            }
    }
    for (int64_t c = 0; c < C; c++) {
        const double A = mid[c], B = mid[C + c], n = N, q = (n - 1) * (n - 2);
        const double pr[6] = {gamma * p->k1 * (n - A) * A * A / q, gamma * p->k1 * A * (n - A) * (n - A) / q,
                              gamma * p->k2 * (n - A) * B / n,     gamma * p->k2 * A * (n - B) / n,
                              gamma * p->k3 * (n - A) * (n - B) / n, gamma * p->k3 * A * B / n};
        const int r = (int)floor(6.0 * (double)w[4 * c + 2] / 4294967296.0);
        const int h = pr[r] > unit32(w[4 * c + 3]);
        y[c] = A + (r == 0 ? h : r == 1 ? -h : r == 2 ? h : r == 3 ? -h : 0);
        y[C + c] = B + (r == 4 ? h : r == 5 ? -h : 0);
    }
    free(w), free(mid), free(E);
}

Test(mk, hard_step_matches_plain_simulator)
{
    const int64_t H = 12, W = 10, C = H * W, T = 40;
    dca_lattice lat = {2, {H, W}};
    dca_error err;
    dca_mk *m;
    const dca_ste id = {DCA_SURROGATE_IDENTITY, 0, false};
    cr_assert_eq(dca_mk_create(&lat, 20, 0.02, 1, &id, 5, &m, &err), DCA_OK, "%s", err.msg);
    const dca_mk_params p = {0.3, 0.6, 0.9, 0.4, 0.3};
    cr_assert_eq(dca_mk_check(m, &p, &err), DCA_OK, "%s", err.msg);
    double *st = malloc((size_t)((T + 1) * 2 * C) * 8), *y = malloc((size_t)(2 * C) * 8);
    for (int64_t c = 0; c < 2 * C; c++)
        st[c] = (double)((c * 7) % 21);
    dca_mk_run(m, &p, 3, 100, T, st);
    double moved = 0;
    for (int64_t t = 0; t < T; t++) {
        plain_mk(H, W, 20, 0.02, &p, 5, 3, 100 + t, st + t * 2 * C, y);
        for (int64_t c = 0; c < 2 * C; c++) {
            cr_assert_eq(y[c], st[(t + 1) * 2 * C + c], "step %lld cell %lld", (long long)t,
                         (long long)c);
            cr_assert(y[c] >= 0 && y[c] <= 20);
            moved += fabs(y[c] - st[t * 2 * C + c]);
        }
    }
    cr_assert_gt(moved, 100);
    free(st), free(y);
    dca_mk_destroy(m);
}

/* The smoothed model's adjoint is its derivative, in the parameters and in
 * the initial state; the hard model's runs replay and do not depend on
 * the thread count. */
Test(mk, smoothed_adjoint_replay_threads)
{
    const int64_t H = 8, W = 9, C = H * W, T = 6;
    dca_lattice lat = {2, {H, W}};
    dca_error err;
    const dca_ste sm = {DCA_SURROGATE_SIGMOID, 0.3, true};
    dca_mk *m;
    cr_assert_eq(dca_mk_create(&lat, 10, 0.05, 0.7, &sm, 2, &m, &err), DCA_OK, "%s", err.msg);
    const dca_mk_params p = {0.35, 0.55, 0.8, 0.5, 0.4};
    double *st = malloc((size_t)((T + 1) * 2 * C) * 8), *x0 = malloc((size_t)(2 * C) * 8);
    double *wt = malloc((size_t)(2 * C) * 8), *g0 = malloc((size_t)(2 * C) * 8);
    for (int64_t c = 0; c < 2 * C; c++) {
        x0[c] = 1 + (double)((c * 5) % 8) + 0.3 * sin((double)c);
        wt[c] = cos(0.7 * (double)c);
    }
#define LOSS(params)                                                                          \
    (memcpy(st, x0, (size_t)(2 * C) * 8), dca_mk_run(m, params, 1, 0, T, st), dot(wt, st + T * 2 * C, 2 * C))
    double grad[5] = {0};
    LOSS(&p);
    dca_mk_adjoint(m, &p, 1, 0, T, st, wt, g0, grad);
    const double h = 1e-6;
    for (int j = 0; j < 5; j++) {
        dca_mk_params a = p, b = p;
        (&a.D_A)[j] += h, (&b.D_A)[j] -= h;
        const double La = LOSS(&a);
        const double Lb = LOSS(&b);
        const double num = (La - Lb) / (2 * h);
        cr_assert(fabs(num - grad[j]) < 1e-6 * fmax(1, fabs(num)), "param %d: %.10g vs %.10g", j,
                  num, grad[j]);
    }
    for (int64_t c = 0; c < 2 * C; c += 5) {
        const double keep = x0[c];
        x0[c] = keep + h;
        const double Lp = LOSS(&p);
        x0[c] = keep - h;
        const double Lm = LOSS(&p);
        x0[c] = keep;
        cr_assert(fabs((Lp - Lm) / (2 * h) - g0[c]) < 1e-6, "state %lld", (long long)c);
    }
#undef LOSS
    dca_mk_destroy(m);
    /* the hard model: forward, backward, forward again; 1 and 3 threads */
    const dca_ste id = {DCA_SURROGATE_IDENTITY, 0, false};
    cr_assert_eq(dca_mk_create(&lat, 10, 0.05, 0.7, &id, 2, &m, &err), DCA_OK);
    double *s1 = malloc((size_t)((T + 1) * 2 * C) * 8), gr[2][5] = {{0}};
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 3 : 1);
        double *s = run ? s1 : st;
        for (int64_t c = 0; c < 2 * C; c++)
            s[c] = (double)((c * 5) % 8);
        dca_mk_run(m, &p, 4, 0, T, s);
        dca_mk_adjoint(m, &p, 4, 0, T, s, wt, NULL, gr[run]);
    }
    omp_set_num_threads(2);
    cr_assert_eq(memcmp(st, s1, (size_t)((T + 1) * 2 * C) * 8), 0);
    cr_assert_eq(memcmp(gr[0], gr[1], sizeof gr[0]), 0);
    memcpy(s1, st, (size_t)(2 * C) * 8);
    dca_mk_run(m, &p, 4, 0, T, s1);
    cr_assert_eq(memcmp(st, s1, (size_t)((T + 1) * 2 * C) * 8), 0, "forward again");
    /* the taped forward and adjoint: the same states, gradient and dL/dx0
     * as the replay, bit for bit, on 1 and 3 threads */
    cr_assert(dca_mk_tape_usable(m));
    uint8_t *tape = malloc((size_t)(T * C));
    double *gx[2] = {malloc((size_t)(2 * C) * 8), malloc((size_t)(2 * C) * 8)};
    double gt[5] = {0};
    dca_mk_adjoint(m, &p, 4, 0, T, st, wt, gx[0], (double[5]){0});
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 3 : 1);
        memcpy(s1, st, (size_t)(2 * C) * 8);
        memset(tape, 0xff, (size_t)(T * C));
        dca_mk_run_tape(m, &p, 4, 0, T, s1, tape);
        cr_assert_eq(memcmp(st, s1, (size_t)((T + 1) * 2 * C) * 8), 0, "taped forward");
        for (int j = 0; j < 5; j++)
            gt[j] = 0;
        dca_mk_adjoint_tape(m, &p, 4, 0, T, s1, tape, wt, gx[1], gt);
        cr_assert_eq(memcmp(gt, gr[0], sizeof gt), 0, "taped gradient (run %d)", run);
        cr_assert_eq(memcmp(gx[0], gx[1], (size_t)(2 * C) * 8), 0, "taped dL/dx0 (run %d)", run);
    }
    /* without the intermediate states: dca_mk_run_final leaves the same
     * final state and tape, and dca_mk_adjoint_final, rebuilding the states
     * from them, the same gradient and dL/dx0, bit for bit (1 and 3
     * threads) */
    double *xf = malloc((size_t)(2 * C) * 8);
    uint8_t *tape2 = malloc((size_t)(T * C));
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 3 : 1);
        memcpy(xf, st, (size_t)(2 * C) * 8);
        memset(tape2, 0xff, (size_t)(T * C));
        dca_mk_run_final(m, &p, 4, 0, T, xf, tape2);
        cr_assert_eq(memcmp(xf, st + T * 2 * C, (size_t)(2 * C) * 8), 0, "final state (run %d)",
                     run);
        cr_assert_eq(memcmp(tape2, tape, (size_t)(T * C)), 0, "final tape (run %d)", run);
        for (int j = 0; j < 5; j++)
            gt[j] = 0;
        cr_assert_eq(dca_mk_adjoint_final(m, &p, 4, 0, T, xf, tape2, wt, gx[1], gt, &err), DCA_OK,
                     "%s", err.msg);
        cr_assert_eq(memcmp(gt, gr[0], sizeof gt), 0, "gradient from the final state (run %d)",
                     run);
        cr_assert_eq(memcmp(gx[0], gx[1], (size_t)(2 * C) * 8), 0, "dL/dx0 from the final state");
    }
    /* a corrupted tape rebuilds other states: the gradient changes */
    for (int64_t c = 3; c < T * C; c += 11)
        tape2[c] ^= 32;
    for (int j = 0; j < 5; j++)
        gt[j] = 0;
    cr_assert_eq(dca_mk_adjoint_final(m, &p, 4, 0, T, xf, tape2, wt, NULL, gt, &err), DCA_OK);
    cr_assert_neq(memcmp(gt, gr[0], sizeof gt), 0, "a corrupted tape went unnoticed");
    cr_assert_eq(dca_mk_adjoint_final(m, &p, 4, 0, T, xf, NULL, wt, NULL, gt, &err), DCA_ERR_ARG);
    free(xf), free(tape2);
    omp_set_num_threads(2);
    /* a tape that does not match the run changes the gradient: it is read */
    for (int64_t c = 0; c < T * C; c += 7)
        tape[c] ^= 1;
    for (int j = 0; j < 5; j++)
        gt[j] = 0;
    dca_mk_adjoint_tape(m, &p, 4, 0, T, s1, tape, wt, NULL, gt);
    cr_assert_neq(memcmp(gt, gr[0], sizeof gt), 0, "a corrupted tape went unnoticed");
    free(tape), free(gx[0]), free(gx[1]);
    free(st), free(x0), free(wt), free(g0), free(s1);
    dca_mk_destroy(m);
}

/* The adjoint from the final state against the one with every state, on a
 * lattice split into blocks of whole groups of 4 rows (22 rows: 6 groups,
 * the last one of 2; 1 to 6 threads, blocks of 4 to 22 rows) and with the
 * particles moving most steps (D near 1): every block edge rebuilds rows
 * from excitations a row beyond its block, and reads dL/dmid there. */
Test(mk, final_state_adjoint_threads)
{
    enum { H = 22, W = 7, C = H * W };
    const int64_t T = 40;
    const dca_lattice lat = {2, {H, W}};
    const dca_ste id = {DCA_SURROGATE_IDENTITY, 0, false};
    dca_error err;
    dca_mk *m;
    cr_assert_eq(dca_mk_create(&lat, 10, 0.05, 0.7, &id, 3, &m, &err), DCA_OK, "%s", err.msg);
    const dca_mk_params p = {0.9, 0.85, 0.8, 0.5, 0.4};
    cr_assert_eq(dca_mk_check(m, &p, &err), DCA_OK, "%s", err.msg);
    double *st = malloc((size_t)((T + 1) * 2 * C) * 8), *x = malloc((size_t)(2 * C) * 8);
    double *wt = malloc((size_t)(2 * C) * 8), g0[2][2 * C], gr[2][5];
    uint8_t *tape = malloc((size_t)(T * C)), *tape2 = malloc((size_t)(T * C));
    for (int64_t c = 0; c < 2 * C; c++)
        st[c] = (double)((c * 7) % 11), wt[c] = (double)((c * 5) % 9) - 4;
    omp_set_num_threads(1);
    dca_mk_run_tape(m, &p, 1, 0, T, st, tape);
    memset(gr[0], 0, sizeof gr[0]);
    dca_mk_adjoint_tape(m, &p, 1, 0, T, st, tape, wt, g0[0], gr[0]);
    for (int threads = 1; threads <= 6; threads++) {
        omp_set_num_threads(threads);
        memcpy(x, st, (size_t)(2 * C) * 8);
        dca_mk_run_final(m, &p, 1, 0, T, x, tape2);
        cr_assert_eq(memcmp(x, st + T * 2 * C, (size_t)(2 * C) * 8), 0, "%d threads", threads);
        cr_assert_eq(memcmp(tape, tape2, (size_t)(T * C)), 0, "%d threads", threads);
        memset(gr[1], 0, sizeof gr[1]);
        cr_assert_eq(dca_mk_adjoint_final(m, &p, 1, 0, T, x, tape2, wt, g0[1], gr[1], &err),
                     DCA_OK);
        cr_assert_eq(memcmp(gr[0], gr[1], sizeof gr[0]), 0, "gradient, %d threads", threads);
        cr_assert_eq(memcmp(g0[0], g0[1], sizeof g0[0]), 0, "dL/dx0, %d threads", threads);
    }
    omp_set_num_threads(2);
    free(st), free(x), free(wt), free(tape), free(tape2);
    dca_mk_destroy(m);
}

Test(mk, bad_parameters)
{
    dca_lattice lat = {2, {8, 8}};
    dca_error err;
    dca_mk *m;
    cr_assert_eq(dca_mk_create(&lat, 2, 0.005, 1, NULL, 1, &m, &err), DCA_ERR_ARG);
    cr_assert(strstr(err.msg, "N = 2"), "%s", err.msg);
    cr_assert_eq(dca_mk_create(&lat, 50, -1, 1, NULL, 1, &m, &err), DCA_ERR_ARG);
    cr_assert_eq(dca_mk_create(&lat, 50, 0.005, 0, NULL, 1, &m, &err), DCA_ERR_ARG);
    cr_assert_eq(dca_mk_create(&lat, 50, 0.005, 1, NULL, 1, &m, &err), DCA_OK);
    dca_mk_params p = {0.1, 0.4, 0.98, 0.1, 0.2};
    cr_assert_eq(dca_mk_check(m, &p, &err), DCA_OK, "%s", err.msg);
    p.k2 = -0.1;
    cr_assert_eq(dca_mk_check(m, &p, &err), DCA_ERR_ARG);
    cr_assert(strstr(err.msg, "k2"), "%s", err.msg);
    p.k2 = 5; /* p3 = 0.005 * 5 * 50 > 1 */
    cr_assert_eq(dca_mk_check(m, &p, &err), DCA_ERR_ARG);
    cr_assert(strstr(err.msg, "> 1"), "%s", err.msg);
    p.k2 = 0.1, p.D_A = 1;
    cr_assert_eq(dca_mk_check(m, &p, &err), DCA_ERR_ARG);
    cr_assert(strstr(err.msg, "D_A"), "%s", err.msg);
    dca_mk_destroy(m);
}

/* The offset score: the sum over steps of d log pi_k / dD for the drawn k,
 * from the same Gumbel words as the plain step's choice. */
Test(mk, offset_score)
{
    const int64_t H = 6, W = 7, C = H * W, T = 30;
    dca_lattice lat = {2, {H, W}};
    dca_error err;
    dca_mk *m;
    cr_assert_eq(dca_mk_create(&lat, 10, 0.05, 1, NULL, 8, &m, &err), DCA_OK);
    const dca_mk_params p = {0.3, 0.6, 0.5, 0.5, 0.5};
    double sc[2];
    dca_mk_offset_score(m, &p, 2, 10, T, sc);
    const double D[2] = {p.D_A, p.D_B};
    double want[2] = {0, 0};
    int moves = 0;
    uint32_t *w = malloc((size_t)(4 * (C + 5)) * sizeof *w);
    for (int64_t t = 0; t < T; t++) {
        dca_rng_words(8, DCA_RNG_MK, (uint64_t)2 << 32 | (uint64_t)(10 + t), 0, C + 5, w);
        for (int s = 0; s < 2; s++) {
            const int best = plain_offset(w, C, s, D[s]);
            want[s] += best == 0 ? -1 / (1 - D[s]) : 1 / D[s];
            moves += best != 0;
        }
    }
    cr_assert(moves > 5 && moves < 2 * T - 5, "moves %d", moves);
    for (int s = 0; s < 2; s++)
        cr_assert(fabs(sc[s] - want[s]) < 1e-9, "species %d: %g vs %g", s, sc[s], want[s]);
    free(w);
    dca_mk_destroy(m);
}
