/* Learning machines beyond lattices (dca/learn.h): feed-forward
 * backpropagation and the Kuramoto adjoint against finite differences, the
 * robustness count on a hand-built network, the shipped bitmaps, and the
 * biparametric autonomous map. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dca/learn.h"
#include "dca/optim.h"
#include "helpers.h"

static double urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* Central differences of eval's E against grad, over the P parameters of w;
 * returns the largest difference and sets *scale to the largest |grad|. */
typedef void (*eval_fn)(void *ctx, const double *w, double *E);
static double fd_worst(eval_fn eval, void *ctx, double *w, const double *g, int64_t P,
                       double *scale)
{
    const double h = 1e-6;
    double worst = 0, Ep, Em;
    *scale = 0;
    for (int64_t i = 0; i < P; i++) {
        const double w0 = w[i];
        w[i] = w0 + h;
        eval(ctx, w, &Ep);
        w[i] = w0 - h;
        eval(ctx, w, &Em);
        w[i] = w0;
        worst = fmax(worst, fabs((Ep - Em) / (2 * h) - g[i]));
        *scale = fmax(*scale, fabs(g[i]));
    }
    return worst;
}

static void ffnet_E(void *ctx, const double *w, double *E) { dca_ffnet_eval(ctx, w, E, NULL, NULL); }
static void kuramoto_E(void *ctx, const double *w, double *E)
{
    dca_kuramoto_eval(ctx, w, E, NULL, NULL);
}

/* Central differences of a network's E against its backpropagation. */
static void check_ffnet(int L, const int64_t *sizes, bool linear, int64_t B)
{
    uint64_t s = 42;
    const int64_t n0 = sizes[0], no = sizes[L - 1];
    double *x = malloc((size_t)(B * n0) * sizeof *x), *t = malloc((size_t)(B * no) * sizeof *t);
    for (int64_t i = 0; i < B * n0; i++)
        x[i] = urand(&s) < 0.5;
    for (int64_t i = 0; i < B * no; i++)
        t[i] = linear ? 2 * urand(&s) - 1 : urand(&s) < 0.5;
    dca_ffnet *net;
    dca_error e;
    cr_assert_eq(dca_ffnet_create(L, sizes, linear, B, x, t, &net, &e), DCA_OK, "%s", e.msg);
    const int64_t P = dca_ffnet_params(net);
    double *w = malloc((size_t)P * sizeof *w), *g = malloc((size_t)P * sizeof *g);
    for (int64_t i = 0; i < P; i++)
        w[i] = 2 * urand(&s) - 1;
    double E, scale;
    dca_ffnet_eval(net, w, &E, g, NULL);
    const double worst = fd_worst(ffnet_E, net, w, g, P, &scale);
    cr_assert_gt(scale, 1e-4, "a vanishing gradient checks nothing");
    cr_assert_lt(worst, 1e-8 + 1e-6 * scale, "largest difference %g (gradient scale %g)", worst,
                 scale);
    free(w), free(g), free(x), free(t);
    dca_ffnet_destroy(net);
}

Test(learn, ffnet_backprop_matches_finite_differences)
{
    check_ffnet(3, (int64_t[]){35, 10, 5}, false, 5);
    check_ffnet(3, (int64_t[]){1, 7, 1}, true, 9);
    check_ffnet(4, (int64_t[]){4, 6, 3, 2}, false, 11);
    check_ffnet(2, (int64_t[]){3, 2}, false, 4);
}

/* A hand-built XOR network: hidden units OR (h0) and AND (h1), output
 * "OR and not AND"; a third hidden unit with zero output weight is
 * redundant. Deleting the OR or the AND unit breaks it; deleting the
 * redundant unit does not. */
Test(learn, robustness_counts_functional_deletions)
{
    const double x[] = {0, 0, 0, 1, 1, 0, 1, 1}, t[] = {0, 1, 1, 0};
    dca_ffnet *net;
    cr_assert_eq(dca_ffnet_create(3, (int64_t[]){2, 3, 1}, false, 4, x, t, &net, NULL), DCA_OK);
    cr_assert_eq(dca_ffnet_params(net), 3 * 3 + 4);
    cr_assert_eq(dca_ffnet_hidden(net), 3);
    const double k = 20;
    const double w[] = {k, k, -k / 2,     /* h0 = OR */
                        k, k, -3 * k / 2, /* h1 = AND */
                        1, 1, 5,          /* h2: always on */
                        k, -k, 0, -k / 2};
    double E, out[4];
    dca_ffnet_eval(net, w, &E, NULL, out);
    cr_assert_lt(E, 1e-6, "the hand-built network computes XOR (E = %g)", E);
    double damaged[3];
    const double R = dca_ffnet_robustness(net, w, 0.01, damaged);
    cr_assert_gt(damaged[0], 0.1, "without OR: E = %g", damaged[0]);
    cr_assert_gt(damaged[1], 0.1, "without AND: E = %g", damaged[1]);
    cr_assert_lt(damaged[2], 1e-6, "without the redundant unit: E = %g", damaged[2]);
    cr_assert_float_eq(R, 1.0 / 3.0, 1e-15);
    cr_assert_eq(dca_ffnet_robustness(net, w, 1.0, NULL), 1.0);
    cr_assert_eq(dca_ffnet_robustness(net, w, 0.0, NULL), 0.0);
    /* Damage is not remembered: the network is whole again. */
    double E2;
    dca_ffnet_eval(net, w, &E2, NULL, NULL);
    cr_assert_eq(E, E2);
    dca_ffnet_destroy(net);
}

Test(learn, ffnet_rejects_bad_shapes)
{
    dca_ffnet *net;
    dca_error e;
    const double x[2] = {0}, t[2] = {0};
    cr_assert_eq(dca_ffnet_create(1, (int64_t[]){2}, false, 1, x, t, &net, &e), DCA_ERR_ARG);
    cr_assert_eq(dca_ffnet_create(2, (int64_t[]){2, 0}, false, 1, x, t, &net, &e), DCA_ERR_ARG);
    cr_assert(strstr(e.msg, "layer 1 has 0 units"), "%s", e.msg);
    cr_assert_eq(dca_ffnet_create(2, (int64_t[]){2, 1}, false, 0, x, t, &net, &e), DCA_ERR_ARG);
}

/* The shipped files hold the built-in drawings, and the parser reports
 * ragged input with its line. */
Test(learn, bitmaps_files_match_the_builtin_sets)
{
    const char *root = getenv("DCA_SOURCE_ROOT");
    cr_assert(root);
    const char *names[2] = {"vowels", "vowels+digits"};
    const char *files[2] = {"vowels-5x7.txt", "vowels-digits-5x7.txt"};
    for (int f = 0; f < 2; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/configs/data/%s", root, files[f]);
        FILE *fp = fopen(path, "rb");
        cr_assert(fp, "%s", path);
        static char text[65536];
        size_t n = fread(text, 1, sizeof text - 1, fp);
        text[n] = 0;
        fclose(fp);
        double *x;
        int64_t count, rows, cols;
        dca_error e;
        cr_assert_eq(dca_bitmaps_parse(text, path, &x, &count, &rows, &cols, &e), DCA_OK, "%s",
                     e.msg);
        cr_assert_eq(rows, 7);
        cr_assert_eq(cols, 5);
        const int64_t want = dca_bitmaps(names[f], NULL, NULL);
        cr_assert_eq(count, want);
        double *y = malloc((size_t)(want * 35) * sizeof *y);
        double *t = malloc((size_t)(want * want) * sizeof *t);
        dca_bitmaps(names[f], y, t);
        cr_assert_eq(memcmp(x, y, (size_t)(want * 35) * sizeof *y), 0);
        for (int64_t p = 0; p < want; p++)
            cr_assert_eq(t[p * want + p], 1.0);
        /* The text form of the built-in set parses to the same pixels. */
        double *z;
        cr_assert_eq(dca_bitmaps_parse(dca_bitmaps_text(names[f]), "builtin", &z, &count, &rows,
                                       &cols, &e),
                     DCA_OK, "%s", e.msg);
        cr_assert_eq(memcmp(z, y, (size_t)(want * 35) * sizeof *y), 0);
        free(x), free(y), free(z), free(t);
    }
    /* Every pair of shipped patterns differs (the task is learnable). */
    double y[15 * 35];
    dca_bitmaps("vowels+digits", y, NULL);
    for (int p = 0; p < 15; p++)
        for (int q = p + 1; q < 15; q++)
            cr_assert_neq(memcmp(y + p * 35, y + q * 35, 35 * sizeof *y), 0, "%d %d", p, q);
    double *x;
    int64_t count, rows, cols;
    dca_error e;
    cr_assert_eq(dca_bitmaps_parse("A\n##\n#.\n\nB\n##\n#\n", "t.txt", &x, &count, &rows, &cols,
                                   &e),
                 DCA_ERR_FORMAT);
    cr_assert(strstr(e.msg, "t.txt:7"), "%s", e.msg);
    cr_assert_eq(dca_bitmaps_parse("A\n##\n#x\n", "t.txt", &x, &count, &rows, &cols, &e),
                 DCA_ERR_FORMAT);
    cr_assert(strstr(e.msg, "t.txt:3"), "%s", e.msg);
}

static dca_kuramoto *oscillators(int64_t N, int64_t steps, double r0)
{
    double omega[64], theta[64];
    uint64_t s = 7;
    for (int64_t i = 0; i < N; i++) {
        omega[i] = 2 * urand(&s) - 1;
        theta[i] = 6.283185307179586 * urand(&s);
    }
    dca_kuramoto *k;
    dca_error e;
    cr_assert_eq(dca_kuramoto_create(N, omega, theta, 0.05, steps, r0, &k, &e), DCA_OK, "%s",
                 e.msg);
    return k;
}

Test(learn, kuramoto_adjoint_matches_finite_differences)
{
    for (int c = 0; c < 2; c++) {
        const double r0 = c ? 0.0 : 1.0; /* rbar below and above r0: both signs */
        dca_kuramoto *k = oscillators(7, 200, r0);
        const int64_t P = dca_kuramoto_params(k);
        cr_assert_eq(P, 21);
        double w[21], g[21];
        uint64_t s = 3;
        for (int i = 0; i < P; i++)
            w[i] = 4 * urand(&s) - 1;
        double E, rbar, scale;
        dca_kuramoto_eval(k, w, &E, g, &rbar);
        cr_assert_float_eq(E, fabs(rbar - r0), 1e-15);
        const double worst = fd_worst(kuramoto_E, k, w, g, P, &scale);
        cr_assert_gt(scale, 1e-4);
        cr_assert_lt(worst, 1e-7 * scale + 1e-9, "largest difference %g (scale %g)", worst, scale);
        dca_kuramoto_destroy(k);
    }
}

/* Evaluation leaves the phases; advance moves them to the interval's end,
 * where the order trace of a second interval starts. */
Test(learn, kuramoto_phases_carry_over)
{
    dca_kuramoto *k = oscillators(5, 50, 0.5);
    double w[10];
    for (int i = 0; i < 10; i++)
        w[i] = 0.3 * i - 1;
    double before[5], E, r[51];
    memcpy(before, dca_kuramoto_phases(k), sizeof before);
    dca_kuramoto_eval(k, w, &E, NULL, NULL);
    cr_assert_eq(memcmp(before, dca_kuramoto_phases(k), sizeof before), 0);
    dca_kuramoto_order_trace(k, w, 50, r);
    double mean = 0;
    for (int s = 1; s <= 50; s++)
        mean += r[s] / 50;
    cr_assert_float_eq(fabs(mean - 0.5), E, 1e-14);
    dca_kuramoto_advance(k);
    cr_assert_neq(memcmp(before, dca_kuramoto_phases(k), sizeof before), 0);
    double E2;
    dca_kuramoto_eval(k, w, &E2, NULL, NULL);
    cr_assert_neq(E, E2);
    dca_kuramoto_destroy(k);
}

Test(learn, kuramoto_weight_control_moves_mean_toward_target)
{
    double w[6] = {1, -2, 3, -4, 5, -6};
    const double W = dca_kuramoto_control(w, 6, 0.5, 1.5);
    cr_assert_float_eq(W, 3.5, 1e-15);
    double after = 0;
    for (int i = 0; i < 6; i++)
        after += fabs(w[i]) / 6;
    cr_assert_float_eq(after, 3.5 - 0.5 * (3.5 - 1.5), 1e-14);
    cr_assert_lt(w[1], 0, "signs are kept");
}

/* The biparametric map: its R terms act only when asked (R = NaN or
 * epsilon_R = sigma_R = 0 give the one-objective map bit for bit), and
 * its noise is keyed by the seed. */
Test(learn, autonomous_second_objective)
{
    double par[6] = {1.0, 0.1, 1.0, 2.0, 0.0, 0.0};
    double a[4] = {0}, b[4] = {0}, c[4] = {0};
    dca_optim *o1, *o2, *o3;
    cr_assert_eq(dca_optim_create("autonomous", par, 4, 5, &o1, NULL), DCA_OK);
    cr_assert_eq(dca_optim_create("autonomous", par, 4, 5, &o2, NULL), DCA_OK);
    double par2[6] = {1.0, 0.1, 1.0, 2.0, 0.5, 0.2};
    cr_assert_eq(dca_optim_create("autonomous", par2, 4, 5, &o3, NULL), DCA_OK);
    cr_assert(dca_optim_has_second(o1));
    for (int n = 0; n < 50; n++) {
        const double E = 0.1 + a[0] * a[0];
        dca_optim_step(o1, E, NULL, a);
        cr_assert_eq(dca_optim_step_second(o2, 0.1 + b[0] * b[0], 0.3, NULL, b), DCA_OK);
        cr_assert_eq(dca_optim_step_second(o3, 0.1 + c[0] * c[0], 0.3 + 0.01 * n, NULL, c),
                     DCA_OK);
    }
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_neq(memcmp(a, c, sizeof a), 0);
    dca_optim *sgd;
    cr_assert_eq(dca_optim_create("sgd", NULL, 4, 5, &sgd, NULL), DCA_OK);
    cr_assert(!dca_optim_has_second(sgd));
    cr_assert_eq(dca_optim_step_second(sgd, 1, 0.5, a, a), DCA_ERR_ARG);
    dca_optim_destroy(o1), dca_optim_destroy(o2), dca_optim_destroy(o3), dca_optim_destroy(sgd);
}

/* The batched normals are a fixed stream: any chunking gives the same
 * numbers, and they have mean 0 and variance 1. */
#include "rng.h"
Test(learn, batched_normals_are_one_stream)
{
    enum { N = 20001 };
    static double all[N], parts[N];
    dca_rng_normals(9, DCA_RNG_OPTIM, 4, 0, N, all);
    int64_t at = 0;
    for (int64_t c = 1; at < N; c = c * 3 % 257 + 1) {
        const int64_t n = at + c <= N ? c : N - at;
        dca_rng_normals(9, DCA_RNG_OPTIM, 4, (uint64_t)at, n, parts + at);
        at += n;
    }
    cr_assert_eq(memcmp(all, parts, sizeof all), 0);
    double m = 0, v = 0;
    for (int i = 0; i < N; i++)
        m += all[i] / N;
    for (int i = 0; i < N; i++)
        v += (all[i] - m) * (all[i] - m) / (N - 1);
    cr_assert_lt(fabs(m), 4.0 / sqrt(N), "mean %g", m);
    cr_assert_lt(fabs(v - 1), 0.05, "variance %g", v);
    double other[4];
    dca_rng_normals(10, DCA_RNG_OPTIM, 4, 0, 4, other);
    cr_assert_neq(memcmp(all, other, sizeof other), 0);
}
