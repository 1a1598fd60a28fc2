/* Kuramoto oscillators (seed 003), model type of dca/learn.h.
 *
 * Euler: theta^{s+1} = theta^s + dt (omega + f(theta^s)),
 *        f_i = (1/N) sum_j W_ij sin(theta_j - theta_i).
 * Loss:  E = |rbar - r0|, rbar = (1/S) sum_{s=1..S} r(theta^s).
 * Adjoint, with lambda^s = dE/dtheta^s (through theta^{s+1} and r^s):
 *   lambda^S = g_S,
 *   lambda^s = g_s + lambda^{s+1} + (dt/N) sum_j W_ij c_ij (lambda_j^{s+1} - lambda_i^{s+1}),
 *   dE/dw_ij += (dt/N) sin(theta_j^s - theta_i^s) (lambda_i^{s+1} - lambda_j^{s+1}),
 * with c_ij = cos(theta_j^s - theta_i^s) and
 *   g_s = sign(rbar - r0) (1/S) dr/dtheta (s >= 1),
 *   dr/dtheta_k = (1/N) (S_s cos theta_k - C_s sin theta_k) / r,
 * C_s, S_s the means of cos and sin. The trajectory (S+1 x N) is kept. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dca/learn.h"
#include "mem.h"

struct dca_kuramoto {
    int64_t N, S, P;
    double dt, r0;
    double *omega, *phase; /* N */
    double *traj;          /* (S + 1) x N: the last evaluation's trajectory */
    double *Wm;            /* N x N */
    double *lam, *lam2, *sn, *cs;
    bool have_traj;
};

void dca_kuramoto_destroy(dca_kuramoto *k)
{
    if (!k)
        return;
    free(k->omega), free(k->phase), free(k->traj), free(k->Wm);
    free(k->lam), free(k->lam2), free(k->sn), free(k->cs);
    free(k);
}

dca_status dca_kuramoto_create(int64_t n, const double *omega, const double *phases, double dt,
                               int64_t steps, double r0, dca_kuramoto **out, dca_error *err)
{
    *out = NULL;
    if (n < 2 || n > 100000)
        return dca_error_set(err, DCA_ERR_ARG, "oscillators = %lld (expected 2..100000)",
                             (long long)n);
    if (steps < 1)
        return dca_error_set(err, DCA_ERR_ARG, "an interval needs at least one Euler step");
    if (!(dt > 0) || !isfinite(dt))
        return dca_error_set(err, DCA_ERR_ARG, "dt must be positive");
    const double bytes = (double)(steps + 1) * (double)n * 8.0 + 5.0 * (double)n * (double)n * 8.0;
    if (bytes > (double)dca_mem_physical())
        return dca_error_set(err, DCA_ERR_NOMEM,
                             "a Kuramoto interval of %lld steps x %lld oscillators needs %.3g "
                             "bytes for its trajectory",
                             (long long)steps, (long long)n, bytes);
    dca_kuramoto *k = calloc(1, sizeof *k);
    if (!k)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    k->N = n;
    k->S = steps;
    k->P = n * (n - 1) / 2;
    k->dt = dt;
    k->r0 = r0;
    const size_t N = (size_t)n;
    k->omega = malloc(N * sizeof(double));
    k->phase = malloc(N * sizeof(double));
    k->traj = dca_alloc((size_t)(steps + 1) * N * sizeof(double));
    k->Wm = dca_calloc(N * N * sizeof(double));
    k->lam = malloc(N * sizeof(double));
    k->lam2 = malloc(N * sizeof(double));
    k->sn = malloc(N * sizeof(double));
    k->cs = malloc(N * sizeof(double));
    if (!k->omega || !k->phase || !k->traj || !k->Wm || !k->lam || !k->lam2 || !k->sn || !k->cs) {
        dca_kuramoto_destroy(k);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for %lld oscillators",
                             (long long)n);
    }
    memcpy(k->omega, omega, N * sizeof(double));
    memcpy(k->phase, phases, N * sizeof(double));
    *out = k;
    return DCA_OK;
}

int64_t dca_kuramoto_params(const dca_kuramoto *k) { return k->P; }
const double *dca_kuramoto_phases(const dca_kuramoto *k) { return k->phase; }
const double *dca_kuramoto_omega(const dca_kuramoto *k) { return k->omega; }

static void fill_matrix(dca_kuramoto *k, const double *w)
{
    const int64_t N = k->N;
    int64_t p = 0;
    for (int64_t i = 0; i < N; i++) {
        k->Wm[i * N + i] = 0;
        for (int64_t j = i + 1; j < N; j++, p++)
            k->Wm[i * N + j] = k->Wm[j * N + i] = w[p];
    }
}

/* One Euler step from th to nx. The coupling sum uses
 * sin(theta_j - theta_i) = s_j c_i - c_j s_i: N sines and cosines a step,
 * not N^2. */
static void euler(dca_kuramoto *k, const double *th, double *nx)
{
    const int64_t N = k->N;
    for (int64_t j = 0; j < N; j++) {
        k->sn[j] = sin(th[j]);
        k->cs[j] = cos(th[j]);
    }
    const double h = k->dt / (double)N;
    for (int64_t i = 0; i < N; i++) {
        const double *row = k->Wm + i * N;
        double a = 0, b = 0; /* sum_j W_ij s_j, sum_j W_ij c_j */
        for (int64_t j = 0; j < N; j++) {
            a += row[j] * k->sn[j];
            b += row[j] * k->cs[j];
        }
        nx[i] = th[i] + k->dt * k->omega[i] + h * (a * k->cs[i] - b * k->sn[i]);
    }
}

static double order(const dca_kuramoto *k, const double *th, double *C, double *Sn)
{
    double c = 0, s = 0;
    for (int64_t j = 0; j < k->N; j++) {
        c += cos(th[j]);
        s += sin(th[j]);
    }
    c /= (double)k->N;
    s /= (double)k->N;
    if (C)
        *C = c, *Sn = s;
    return sqrt(c * c + s * s);
}

void dca_kuramoto_eval(dca_kuramoto *k, const double *w, double *E, double *grad, double *rbar)
{
    const int64_t N = k->N, S = k->S;
    fill_matrix(k, w);
    memcpy(k->traj, k->phase, (size_t)N * sizeof(double));
    double sum = 0;
    for (int64_t s = 0; s < S; s++) {
        euler(k, k->traj + s * N, k->traj + (s + 1) * N);
        sum += order(k, k->traj + (s + 1) * N, NULL, NULL);
    }
    k->have_traj = true;
    const double rb = sum / (double)S;
    *E = fabs(rb - k->r0);
    if (rbar)
        *rbar = rb;
    if (!grad)
        return;
    const double sign = (rb > k->r0) - (rb < k->r0);
    memset(grad, 0, (size_t)k->P * sizeof *grad);
    double *lam = k->lam, *nl = k->lam2;
    memset(nl, 0, (size_t)N * sizeof(double)); /* lambda^{S+1} = 0 */
    const double h = k->dt / (double)N;
    for (int64_t s = S; s >= 0; s--) {
        const double *th = k->traj + s * N;
        /* lam = lambda^s from nl = lambda^{s+1} (0 for s = S). */
        for (int64_t i = 0; i < N; i++)
            lam[i] = nl[i];
        if (s < S) {
            /* cos(theta_j - theta_i) = c_j c_i + s_j s_i and
             * sin(theta_j - theta_i) = s_j c_i - c_j s_i: no trigonometry
             * in the N^2 loops. */
            double *sn = k->sn, *cs = k->cs;
            for (int64_t j = 0; j < N; j++) {
                sn[j] = sin(th[j]);
                cs[j] = cos(th[j]);
            }
            for (int64_t i = 0; i < N; i++) {
                const double *row = k->Wm + i * N;
                double a = 0, b = 0, c = 0, d = 0;
                for (int64_t j = 0; j < N; j++) {
                    a += row[j] * cs[j] * nl[j];
                    b += row[j] * sn[j] * nl[j];
                    c += row[j] * cs[j];
                    d += row[j] * sn[j];
                }
                lam[i] += h * (cs[i] * a + sn[i] * b - nl[i] * (cs[i] * c + sn[i] * d));
            }
            int64_t p = 0;
            for (int64_t i = 0; i < N; i++)
                for (int64_t j = i + 1; j < N; j++, p++)
                    grad[p] += h * (sn[j] * cs[i] - cs[j] * sn[i]) * (nl[i] - nl[j]);
        }
        if (s >= 1 && sign != 0) {
            double C, Sn;
            const double r = order(k, th, &C, &Sn);
            if (r > 0) {
                const double f = sign / (double)S / (double)N / r;
                for (int64_t i = 0; i < N; i++)
                    lam[i] += f * (Sn * cos(th[i]) - C * sin(th[i]));
            }
        }
        double *t = lam;
        lam = nl;
        nl = t; /* nl now holds lambda^s */
    }
}

void dca_kuramoto_advance(dca_kuramoto *k)
{
    if (k->have_traj)
        memcpy(k->phase, k->traj + k->S * k->N, (size_t)k->N * sizeof(double));
    k->have_traj = false;
}

void dca_kuramoto_order_trace(dca_kuramoto *k, const double *w, int64_t steps, double *r)
{
    const int64_t N = k->N;
    fill_matrix(k, w);
    double *a = malloc(2 * (size_t)N * sizeof(double));
    if (!a) {
        for (int64_t s = 0; s <= steps; s++)
            r[s] = NAN;
        return;
    }
    double *b = a + N;
    memcpy(a, k->phase, (size_t)N * sizeof(double));
    r[0] = order(k, a, NULL, NULL);
    for (int64_t s = 0; s < steps; s++) {
        euler(k, a, b);
        r[s + 1] = order(k, b, NULL, NULL);
        double *t = a;
        a = b;
        b = t;
    }
    free(a < b ? a : b);
}

double dca_kuramoto_control(double *w, int64_t params, double gamma, double w0)
{
    double W = 0;
    for (int64_t p = 0; p < params; p++)
        W += fabs(w[p]);
    W /= (double)params;
    if (W > 0 && gamma != 0)
        for (int64_t p = 0; p < params; p++)
            w[p] -= gamma * (W - w0) * w[p] / W;
    return W;
}
