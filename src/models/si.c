/* The SI epidemic (seed 001, thesis 7.2) with reparameterised noise and a
 * straight-through adjoint (dca/slm.h).
 *
 * Step, per cell c with N_c = sum over neighbour offsets o of x_{c+o}:
 *   q_c = (1 - beta)^N_c,  p_c = 1 - q_c,  z_c = p_c - xi_c,
 *   y_c = x_c + (1 - x_c) H(z_c).
 * Adjoint, with H' the surrogate derivative and a_c = gy_c (1 - x_c) H'(z_c):
 *   dL/dbeta += a_c N_c (1 - beta)^(N_c - 1),
 *   dL/dx_c   = gy_c (1 - H(z_c)) + sum_o u_{c-o},  u_c = -a_c q_c log(1 - beta).
 * xi_c is the first uniform of Philox (seed, DCA_RNG_SLM, conf * 2^32 +
 * step, cell): the adjoint draws it again. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dca/slm.h"
#include "rng.h"

struct dca_si {
    int64_t H, W, C;
    int m;          /* neighbours */
    int32_t *dy, *dx;
    uint64_t seed;
};

dca_status dca_ste_parse(const char *text, dca_ste *out, dca_error *err)
{
    memset(out, 0, sizeof *out);
    if (strcmp(text, "identity") == 0)
        return DCA_OK;
    if (strncmp(text, "sigmoid:", 8) == 0) {
        char *end;
        const double w = strtod(text + 8, &end);
        if (end != text + 8 && !*end && w > 0 && isfinite(w)) {
            out->kind = DCA_SURROGATE_SIGMOID;
            out->width = w;
            return DCA_OK;
        }
    }
    return dca_error_set(err, DCA_ERR_ARG,
                         "surrogate '%s': expected identity or sigmoid:W with W > 0", text);
}

void dca_si_destroy(dca_si *si)
{
    if (!si)
        return;
    free(si->dy), free(si->dx);
    free(si);
}

dca_status dca_si_create(const dca_lattice *lat, const char *nbhd_spec, uint64_t seed,
                         dca_si **out, dca_error *err)
{
    *out = NULL;
    dca_nbhd *nb;
    dca_status st = dca_nbhd_parse(nbhd_spec, lat->dims, &nb, err);
    if (st)
        return st;
    dca_si *si = calloc(1, sizeof *si);
    const int count = dca_nbhd_count(nb), centre = dca_nbhd_center(nb);
    if (!si || !(si->dy = calloc((size_t)count, sizeof *si->dy)) ||
        !(si->dx = calloc((size_t)count, sizeof *si->dx))) {
        dca_nbhd_destroy(nb);
        dca_si_destroy(si);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    si->H = lat->dims == 2 ? lat->shape[0] : 1;
    si->W = lat->dims == 2 ? lat->shape[1] : lat->shape[0];
    si->C = si->H * si->W;
    si->seed = seed;
    const int32_t *off = dca_nbhd_offsets(nb);
    for (int i = 0; i < count; i++) {
        if (i == centre)
            continue;
        si->dy[si->m] = lat->dims == 2 ? off[2 * i] : 0;
        si->dx[si->m] = lat->dims == 2 ? off[2 * i + 1] : off[i];
        si->m++;
    }
    dca_nbhd_destroy(nb);
    if (si->m == 0) {
        dca_si_destroy(si);
        return dca_error_set(err, DCA_ERR_ARG,
                             "neighbourhood '%s' has no cell other than the centre: nothing can "
                             "spread",
                             nbhd_spec);
    }
    *out = si;
    return DCA_OK;
}

int64_t dca_si_cells(const dca_si *si) { return si->C; }
int dca_si_neighbours(const dca_si *si) { return si->m; }

dca_status dca_si_check_beta(double beta, dca_error *err)
{
    if (beta >= 0 && beta <= 1)
        return DCA_OK;
    return dca_error_set(err, DCA_ERR_ARG,
                         "beta = %.17g is not a probability (expected 0 <= beta <= 1)", beta);
}

static inline int64_t wrap(int64_t i, int64_t n)
{
    i %= n;
    return i < 0 ? i + n : i;
}

/* N_c for one row i of configuration x (W values into N). */
static void neighbour_counts(const dca_si *si, const double *x, int64_t i, double *N)
{
    const int64_t W = si->W;
    for (int64_t j = 0; j < W; j++)
        N[j] = 0;
    for (int k = 0; k < si->m; k++) {
        const double *row = x + wrap(i + si->dy[k], si->H) * W;
        const int64_t s = wrap(si->dx[k], W);
        /* N[j] += row[(j + s) mod W], in two runs */
        for (int64_t j = 0; j < W - s; j++)
            N[j] += row[j + s];
        for (int64_t j = W - s; j < W; j++)
            N[j] += row[j + s - W];
    }
}

/* (1 - beta)^n from a table for whole n <= m (the hard model's counts),
 * else exp(n log(1 - beta)): the same value either way for whole n up to
 * rounding of exp, so the table is used for every whole n. */
enum { DCA_SI_TABLE = 64 };
static void power_table(const dca_si *si, double lq, double *qt)
{
    for (int n = 0; n < DCA_SI_TABLE && n <= si->m; n++)
        qt[n] = n == 0 ? 1.0 : exp(n * lq);
}

static inline double qpow(const double *qt, int m, double n, double lq)
{
    const int i = (int)n;
    if ((double)i == n && i >= 0 && i <= m && i < DCA_SI_TABLE)
        return qt[i];
    return n == 0 ? 1.0 : exp(n * lq);
}

static inline double sigm(double t) { return 1.0 / (1.0 + exp(-t)); }

static inline double heaviside(const dca_ste *ste, double z)
{
    if (ste && ste->relaxed)
        return sigm(z / ste->width);
    return z > 0 ? 1.0 : 0.0;
}

static inline double surrogate(const dca_ste *ste, double z)
{
    if (!ste || ste->kind == DCA_SURROGATE_IDENTITY)
        return 1.0;
    const double s = sigm(z / ste->width);
    return s * (1 - s) / ste->width;
}

static inline uint64_t noise_index(int64_t conf, int64_t step)
{
    return (uint64_t)conf << 32 | (uint64_t)(uint32_t)step;
}

void dca_si_step(const dca_si *si, double beta, const dca_ste *ste, int64_t batch,
                 int64_t first, int64_t step, const double *x, double *y)
{
    const int64_t H = si->H, W = si->W, C = si->C;
    const double lq = log1p(-beta); /* log(1 - beta); -inf at beta = 1 */
    double qt[DCA_SI_TABLE];
    power_table(si, lq, qt);
#pragma omp parallel
    {
        double *N = malloc((size_t)W * 2 * sizeof *N), *xi = N + W;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < batch * H; r++) {
            const int64_t b = r / H, i = r % H;
            const double *xb = x + b * C;
            neighbour_counts(si, xb, i, N);
            dca_rng_first_uniforms(si->seed, DCA_RNG_SLM, noise_index(first + b, step), (uint64_t)(i * W),
                                   W, xi);
            const double *xr = xb + i * W;
            double *yr = y + b * C + i * W;
            for (int64_t j = 0; j < W; j++) {
                const double q = qpow(qt, si->m, N[j], lq);
                yr[j] = xr[j] + (1 - xr[j]) * heaviside(ste, (1 - q) - xi[j]);
            }
        }
        free(N);
    }
}

void dca_si_step_adjoint(const dca_si *si, double beta, const dca_ste *ste, int64_t batch,
                         int64_t first, int64_t step, const double *x, const double *gy,
                         double *gx, double *gbeta)
{
    const int64_t H = si->H, W = si->W, C = si->C, rows = batch * H;
    const double lq = log1p(-beta);
    double qt[DCA_SI_TABLE];
    power_table(si, lq, qt);
    double *rowsum = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *rowsum);
    double *u = gx ? malloc((size_t)(rows * W > 0 ? rows * W : 1) * sizeof *u) : NULL;
#pragma omp parallel
    {
        double *N = malloc((size_t)W * 2 * sizeof *N), *xi = N + W;
        /* Pass 1: each row's beta partial, u, and dL/dx's own term. */
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t b = r / H, i = r % H;
            const double *xb = x + b * C;
            neighbour_counts(si, xb, i, N);
            dca_rng_first_uniforms(si->seed, DCA_RNG_SLM, noise_index(first + b, step), (uint64_t)(i * W),
                                   W, xi);
            const double *xr = xb + i * W, *gr = gy + r * W;
            double acc = 0;
            for (int64_t j = 0; j < W; j++) {
                const double q = qpow(qt, si->m, N[j], lq);
                const double z = (1 - q) - xi[j];
                const double a = gr[j] * (1 - xr[j]) * surrogate(ste, z);
                if (N[j] > 0)
                    acc += a * N[j] * (N[j] == 1 ? 1.0 : qpow(qt, si->m, N[j] - 1, lq));
                if (u) {
                    u[r * W + j] = N[j] > 0 ? -a * q * lq : 0.0;
                    gx[r * W + j] = gr[j] * (1 - heaviside(ste, z));
                }
            }
            rowsum[r] = acc;
        }
        /* Pass 2: dL/dx_c += sum_o u_{c - o}. */
        if (u) {
#pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; r++) {
                const int64_t b = r / H, i = r % H;
                double *g = gx + r * W;
                for (int k = 0; k < si->m; k++) {
                    const double *ur = u + b * C + wrap(i - si->dy[k], H) * W;
                    const int64_t s = wrap(-(int64_t)si->dx[k], W);
                    for (int64_t j = 0; j < W - s; j++)
                        g[j] += ur[j + s];
                    for (int64_t j = W - s; j < W; j++)
                        g[j] += ur[j + s - W];
                }
            }
        }
        free(N);
    }
    double total = 0;
    for (int64_t r = 0; r < rows; r++)
        total += rowsum[r];
    *gbeta += total;
    free(rowsum);
    free(u);
}

void dca_si_count(const dca_si *si, int64_t batch, const double *x, const double *y, double *n,
                  double *k)
{
    const int64_t H = si->H, W = si->W, C = si->C;
    double *N = malloc((size_t)W * sizeof *N);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < H; i++) {
            neighbour_counts(si, x + b * C, i, N);
            const double *xr = x + b * C + i * W, *yr = y + b * C + i * W;
            for (int64_t j = 0; j < W; j++)
                if (xr[j] == 0) {
                    const int c = (int)N[j];
                    n[c] += 1;
                    k[c] += yr[j];
                }
        }
    free(N);
}

/* Bisection for the root of a function decreasing through 0 on (0, 1). */
static double bisect(double (*f)(double, int, const double *, const double *), int m,
                     const double *n, const double *k)
{
    double lo = 0, hi = 1;
    const double flo = f(1e-15, m, n, k), fhi = f(1 - 1e-15, m, n, k);
    if (!(flo > 0))
        return 0;
    if (!(fhi < 0))
        return 1;
    for (int it = 0; it < 200 && hi - lo > 1e-13; it++) {
        const double mid = 0.5 * (lo + hi);
        if (f(mid, m, n, k) > 0)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* The score d/dbeta of the log-likelihood (decreasing in beta). */
static double ml_score(double beta, int m, const double *n, const double *k)
{
    double s = 0;
    for (int N = 1; N <= m; N++) {
        const double q = pow(1 - beta, N), dp = N * pow(1 - beta, N - 1);
        s += k[N] * dp / (1 - q) - (n[N] - k[N]) * N / (1 - beta);
    }
    return s;
}

/* Minus half the derivative of sum_N (n_N p_N^2 - 2 k_N p_N) (the squared
 * error's expectation up to a constant): decreasing where the fit is unique. */
static double ls_score(double beta, int m, const double *n, const double *k)
{
    double s = 0;
    for (int N = 1; N <= m; N++) {
        const double p = 1 - pow(1 - beta, N), dp = N * pow(1 - beta, N - 1);
        s -= dp * (n[N] * p - k[N]);
    }
    return s;
}

static bool has_cells(int m, const double *n)
{
    double t = 0;
    for (int N = 1; N <= m; N++)
        t += n[N];
    return t > 0;
}

double dca_si_beta_ml(int m, const double *n, const double *k)
{
    return has_cells(m, n) ? bisect(ml_score, m, n, k) : NAN;
}

double dca_si_beta_ls(int m, const double *n, const double *k)
{
    return has_cells(m, n) ? bisect(ls_score, m, n, k) : NAN;
}
