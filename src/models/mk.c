/* The Malevanets-Kapral reaction-diffusion lattice gas (seed 001, thesis
 * 7.3; dca/slm.h) with a straight-through adjoint.
 *
 * Diffusion of X (A or B) with excitation E = H(X - N xi) and offset k:
 *   X' = X - E + S_k E,  (S_k E)[c] = E[c - o_k].
 * Adjoint, g' = dL/dX' and H' the surrogate:
 *   dL/dE[c] = -g'[c] + g'[c + o_k],
 *   dL/dX[c] = g'[c] + dL/dE[c] H'(X_c - N xi_c),
 *   dL/dy_j = sum_c g'[c] E[c - o_j]  (the one-hot y of the offset),
 *   dL/dl_j = (1/tau) s_j (dL/dy_j - sum_i s_i dL/dy_i),  s = softmax((l + G)/tau),
 *   dL/dD  = sum_j dL/dl_j dl_j/dD,  dl_stay/dD = -1/(1 - D), dl_move/dD = 1/D.
 * Reaction, channel r acting on species Y with sign s_r:
 *   Y' = Y + s_r H(p_r - xi),  dL/dA += g'_Y s_r H' dp_r/dA  (likewise B, k). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dca/slm.h"
#include "rng.h"

struct dca_mk {
    int64_t H, W, C;
    int N;
    double gamma, tau;
    dca_ste ste;
    uint64_t seed;
};

static const int OFF[9][2] = {{0, 0},  {-1, -1}, {-1, 0}, {-1, 1}, {0, -1},
                              {0, 1},  {1, -1},  {1, 0},  {1, 1}};

dca_status dca_mk_create(const dca_lattice *lat, int N, double gamma, double tau,
                         const dca_ste *ste, uint64_t seed, dca_mk **out, dca_error *err)
{
    *out = NULL;
    if (lat->dims != 2 || lat->shape[0] < 3 || lat->shape[1] < 3)
        return dca_error_set(err, DCA_ERR_ARG, "the Malevanets-Kapral model needs a torus HxW "
                                               "of at least 3x3 cells");
    if (N < 3 || N > 65535)
        return dca_error_set(err, DCA_ERR_ARG,
                             "N = %d particles per cell: expected 3..65535 (p1 and p2 divide "
                             "by (N - 1)(N - 2))",
                             N);
    if (!(gamma > 0) || !isfinite(gamma))
        return dca_error_set(err, DCA_ERR_ARG, "gamma = %g: expected a positive timescale",
                             gamma);
    if (!(tau > 0) || !isfinite(tau))
        return dca_error_set(err, DCA_ERR_ARG, "tau = %g: expected a positive temperature", tau);
    dca_mk *m = calloc(1, sizeof *m);
    if (!m)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    m->H = lat->shape[0], m->W = lat->shape[1], m->C = m->H * m->W;
    m->N = N, m->gamma = gamma, m->tau = tau, m->seed = seed;
    m->ste = ste ? *ste : (dca_ste){DCA_SURROGATE_IDENTITY, 0, false};
    if (m->ste.relaxed && m->ste.kind != DCA_SURROGATE_SIGMOID) {
        free(m);
        return dca_error_set(err, DCA_ERR_ARG, "a relaxed model needs a sigmoid:W surrogate");
    }
    *out = m;
    return DCA_OK;
}

void dca_mk_destroy(dca_mk *m) { free(m); }
int64_t dca_mk_cells(const dca_mk *m) { return m->C; }
int dca_mk_particles(const dca_mk *m) { return m->N; }

/* The reaction probability of channel r (0..5) and its derivatives in A, B
 * and in its rate constant. */
static inline double react(const dca_mk *m, const dca_mk_params *p, int r, double A, double B,
                           double *dA, double *dB, double *dk)
{
    const double N = m->N, g = m->gamma, q = 1.0 / ((N - 1) * (N - 2));
    double f, fA, fB;
    switch (r) {
    case 0: /* +A: (N - A) A^2 q */
        f = (N - A) * A * A * q, fA = (2 * A * (N - A) - A * A) * q, fB = 0;
        break;
    case 1: /* -A: A (N - A)^2 q */
        f = A * (N - A) * (N - A) * q, fA = ((N - A) * (N - A) - 2 * A * (N - A)) * q, fB = 0;
        break;
    case 2: /* +A: (N - A) B / N */
        f = (N - A) * B / N, fA = -B / N, fB = (N - A) / N;
        break;
    case 3: /* -A: A (N - B) / N */
        f = A * (N - B) / N, fA = (N - B) / N, fB = -A / N;
        break;
    case 4: /* +B: (N - A)(N - B) / N */
        f = (N - A) * (N - B) / N, fA = -(N - B) / N, fB = -(N - A) / N;
        break;
    default: /* -B: A B / N */
        f = A * B / N, fA = B / N, fB = A / N;
        break;
    }
    const double k = r < 2 ? p->k1 : r < 4 ? p->k2 : p->k3;
    if (dA)
        *dA = g * k * fA, *dB = g * k * fB, *dk = g * f;
    return g * k * f;
}

dca_status dca_mk_check(const dca_mk *m, const dca_mk_params *p, dca_error *err)
{
    const char *names[2] = {"D_A", "D_B"};
    const double D[2] = {p->D_A, p->D_B};
    for (int i = 0; i < 2; i++)
        if (!(D[i] > 0 && D[i] < 1))
            return dca_error_set(err, DCA_ERR_ARG,
                                 "%s = %.17g: expected 0 < D < 1 (the probability of moving)",
                                 names[i], D[i]);
    const double k[3] = {p->k1, p->k2, p->k3};
    for (int i = 0; i < 3; i++)
        if (!(k[i] >= 0) || !isfinite(k[i]))
            return dca_error_set(err, DCA_ERR_ARG, "k%d = %.17g: expected a rate >= 0", i + 1,
                                 k[i]);
    for (int r = 0; r < 6; r++)
        for (int a = 0; a <= m->N; a++)
            for (int b = 0; b <= m->N; b++) {
                const double pr = react(m, p, r, a, b, NULL, NULL, NULL);
                if (pr > 1)
                    return dca_error_set(err, DCA_ERR_ARG,
                                         "p%d = %.4g > 1 at A = %d, B = %d (gamma = %g, k%d = "
                                         "%g, N = %d): lower gamma or the rate",
                                         r + 1, pr, a, b, m->gamma, r / 2 + 1, k[r / 2], m->N);
            }
    return DCA_OK;
}

/* The 9 logits of a diffusion coefficient, and their derivatives in D. */
static void logits(double D, double *l, double *dl)
{
    const double a = 1.0 / (4.0 + 4.0 / sqrt(2.0));
    for (int j = 0; j < 9; j++) {
        const bool diag = OFF[j][0] && OFF[j][1];
        l[j] = j == 0 ? log1p(-D) : log(D * a * (diag ? 1 / sqrt(2.0) : 1.0));
        dl[j] = j == 0 ? -1 / (1 - D) : 1 / D;
    }
}

static inline double unit(uint32_t w) { return ((double)w + 0.5) * 0x1.0p-32; }

/* The step's noise: per cell 4 words (draws 0 .. C-1), then 20 words of
 * Gumbels (draws C .. C+4: 9 for A, 9 for B). draws() makes the Gumbel words;
 * step() draws the cells' words row by row on its threads (the same
 * numbers in any chunking). */
static inline uint64_t noise_index(int64_t conf, int64_t t)
{
    return (uint64_t)conf << 32 | (uint64_t)(uint32_t)t;
}

static void draws(const dca_mk *m, int64_t conf, int64_t t, uint32_t *w)
{
    dca_rng_words(m->seed, DCA_RNG_MK, noise_index(conf, t), (uint64_t)m->C, 5, w + 4 * m->C);
}

/* The chosen offset of species s (0: A, 1: B) and the softmax s_j. */
static int choose(const dca_mk *m, double D, const uint32_t *w, int s, double *soft,
                  double *dl)
{
    double l[9], z[9], mx = -INFINITY;
    logits(D, l, dl);
    int best = 0;
    for (int j = 0; j < 9; j++) {
        const double G = -log(-log(unit(w[4 * m->C + 9 * s + j])));
        z[j] = l[j] + G;
        if (z[j] > z[best])
            best = j;
    }
    if (soft) {
        for (int j = 0; j < 9; j++)
            mx = fmax(mx, z[j] / m->tau);
        double sum = 0;
        for (int j = 0; j < 9; j++)
            sum += soft[j] = exp(z[j] / m->tau - mx);
        for (int j = 0; j < 9; j++)
            soft[j] /= sum;
    }
    return best;
}


static inline double hv(double z) { return z > 0 ? 1.0 : 0.0; }

/* Row i of field f read at offset sign * o_k: out[j] = f[(i + sign dy) mod H,
 * (j + sign dx) mod W], as a pointer pair (the row and its column shift s:
 * entries j < W - s come from row[j + s], the rest from row[j + s - W]). */
static inline const double *row_at(const dca_mk *m, const double *f, int64_t i, int k, int sign,
                                   int64_t *s)
{
    const int64_t r = ((i + sign * OFF[k][0]) % m->H + m->H) % m->H;
    *s = ((sign * OFF[k][1]) % m->W + m->W) % m->W;
    return f + r * m->W;
}

static inline double surr(const dca_ste *s, double z)
{
    if (s->kind == DCA_SURROGATE_IDENTITY)
        return 1.0;
    const double e = 1.0 / (1.0 + exp(-z / s->width));
    return e * (1 - e) / s->width;
}

/* The Heaviside node forward: hard, or s(z/W) in the relaxed model. */
static inline double node(const dca_ste *s, double z)
{
    return s->relaxed ? 1.0 / (1.0 + exp(-z / s->width)) : hv(z);
}

/* The offset weights y (9) of species s: one-hot on the Gumbel-max choice,
 * or the softmax itself in the relaxed model; returns the choice. */
static int weights(const dca_mk *m, double D, const uint32_t *w, int s, double *y)
{
    double soft[9], dl[9];
    const int k = choose(m, D, w, s, soft, dl);
    for (int j = 0; j < 9; j++)
        y[j] = m->ste.relaxed ? soft[j] : (j == k);
    return k;
}

/* Row i of mid (2 x C), the state after both diffusions: x - E plus E
 * moved by the chosen offset k[s] (the relaxed model: every offset q,
 * weighted by y[s][q]). */
static void diffuse_row(const dca_mk *m, int64_t i, const int k[2], const double y[2][9],
                        const double *x, const double *E, double *mid)
{
    const int64_t C = m->C, W = m->W;
    const bool relaxed = m->ste.relaxed;
    for (int s = 0; s < 2; s++) {
        const int64_t o = s * C + i * W;
        for (int64_t j = 0; j < W; j++)
            mid[o + j] = x[o + j] - E[o + j];
        for (int q = 0; q < 9; q++) {
            if (!relaxed && q != k[s])
                continue;
            const double wq = relaxed ? y[s][q] : 1.0;
            int64_t sh;
            const double *src = row_at(m, E + s * C, i, q, -1, &sh);
            for (int64_t j = 0; j < W - sh; j++)
                mid[o + j] += wq * src[j + sh];
            for (int64_t j = W - sh; j < W; j++)
                mid[o + j] += wq * src[j + sh - W];
        }
    }
}

/* One forward step x (2 x C) -> out, with the excitations in E (2 x C) and
 * the state after both diffusions in mid (2 x C): the excitations, then each
 * row's diffusion and reaction together. tape (C bytes, may be NULL)
 * receives each cell's E_A | E_B << 1 | channel << 2. */
static void step(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t, uint32_t *w,
                 const double *x, double *E, double *mid, double *out, double y[2][9],
                 uint8_t *tape)
{
    const int64_t C = m->C, W = m->W;
    const double N = m->N;
    draws(m, conf, t, w);
    const int k[2] = {weights(m, p->D_A, w, 0, y[0]), weights(m, p->D_B, w, 1, y[1])};
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < m->H; i++) {
            dca_rng_words(m->seed, DCA_RNG_MK, noise_index(conf, t), (uint64_t)(i * W), W,
                          w + 4 * i * W);
            for (int64_t c = i * W; c < (i + 1) * W; c++)
                for (int s = 0; s < 2; s++)
                    E[s * C + c] = node(&m->ste, x[s * C + c] - N * unit(w[4 * c + s]));
        }
#pragma omp for schedule(static)
        for (int64_t i = 0; i < m->H; i++) {
            diffuse_row(m, i, k, (const double(*)[9])y, x, E, mid);
            for (int64_t c = i * W; c < (i + 1) * W; c++) {
                const int r = (int)(((uint64_t)w[4 * c + 2] * 6) >> 32);
                const double A = mid[c], B = mid[C + c];
                const double pr = react(m, p, r, A, B, NULL, NULL, NULL);
                const double h = node(&m->ste, pr - unit(w[4 * c + 3]));
                const double sign = (r % 2 == 0) ? 1.0 : -1.0;
                out[c] = A + (r < 4 ? sign * h : 0);
                out[C + c] = B + (r >= 4 ? sign * h : 0);
                if (tape) /* the step's discrete outcomes, for a taped adjoint */
                    tape[c] = (uint8_t)((E[c] > 0) | (E[C + c] > 0) << 1 | r << 2);
            }
        }
    }
}

/* dL/dy_q for the 9 offsets of row i: d[q] = sum_j gr[j] E[(i - dy_q) mod H,
 * (j - dx_q) mod W], each sum in j order, product then sum (no fused
 * multiply-add: the same bits as one loop per offset). The 9 sums advance
 * together, so they are not one long chain of dependent additions. ext:
 * 3 x (W + 2) scratch, the three source rows with one cell of wrap-around
 * on each side. */
__attribute__((optimize("fp-contract=off"))) static void
offset_dots(const dca_mk *m, const double *E, int64_t i, const double *gr, double *ext,
            double d[9])
{
    const int64_t H = m->H, W = m->W;
    for (int dy = -1; dy <= 1; dy++) {
        const double *row = E + ((i - dy) % H + H) % H * W;
        double *e = ext + (dy + 1) * (W + 2);
        e[0] = row[W - 1];
        memcpy(e + 1, row, (size_t)W * sizeof *e);
        e[W + 1] = row[0];
    }
    const double *src[9];
    for (int q = 0; q < 9; q++)
        src[q] = ext + (OFF[q][0] + 1) * (W + 2) + 1 - OFF[q][1];
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0;
    for (int64_t j = 0; j < W; j++) {
        const double g = gr[j];
        a0 += g * src[0][j], a1 += g * src[1][j], a2 += g * src[2][j];
        a3 += g * src[3][j], a4 += g * src[4][j], a5 += g * src[5][j];
        a6 += g * src[6][j], a7 += g * src[7][j], a8 += g * src[8][j];
    }
    d[0] = a0, d[1] = a1, d[2] = a2, d[3] = a3, d[4] = a4;
    d[5] = a5, d[6] = a6, d[7] = a7, d[8] = a8;
}

bool dca_mk_tape_usable(const dca_mk *m)
{
    return !m->ste.relaxed && m->ste.kind == DCA_SURROGATE_IDENTITY;
}

void dca_mk_run_tape(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                     int64_t T, double *states, uint8_t *tape)
{
    const int64_t C = m->C;
    uint32_t *w = malloc((size_t)(4 * (C + 5)) * sizeof *w);
    double *E = malloc((size_t)(4 * C) * sizeof *E), *mid = E + 2 * C;
    for (int64_t t = 0; t < T; t++) {
        double y[2][9];
        step(m, p, conf, t0 + t, w, states + t * 2 * C, E, mid, states + (t + 1) * 2 * C, y,
             tape ? tape + t * C : NULL);
    }
    free(w), free(E);
}

void dca_mk_run(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0, int64_t T,
                double *states)
{
    dca_mk_run_tape(m, p, conf, t0, T, states, NULL);
}

void dca_mk_adjoint(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0, int64_t T,
                    const double *states, const double *gT, double *g0, double grad[5])
{
    dca_mk_adjoint_tape(m, p, conf, t0, T, states, NULL, gT, g0, grad);
}

/* The reaction's adjoint on row i: gm = dL/dmid from g = dL/d(out), and
 * the row's dL/dk1..3 into dk. tp: the step's tape (identity surrogate),
 * or NULL to read the replayed words w. */
static void adjoint_react_row(const dca_mk *m, const dca_mk_params *p, int64_t i,
                              const uint8_t *tp, const uint32_t *w, const double *mid,
                              const double *g, double *gm, double dk_out[3])
{
    const int64_t C = m->C, W = m->W;
    double dk[3] = {0, 0, 0};
    for (int64_t c = i * W; c < (i + 1) * W; c++) {
        const int r = tp ? tp[c] >> 2 : (int)(((uint64_t)w[4 * c + 2] * 6) >> 32);
        const double A = mid[c], B = mid[C + c];
        double dA, dB, dkr;
        const double pr = react(m, p, r, A, B, &dA, &dB, &dkr);
        const double sign = (r % 2 == 0) ? 1.0 : -1.0;
        /* taped: the identity surrogate, 1 (surr()'s value) */
        const double q = (r < 4 ? g[c] : g[C + c]) * sign *
                         (tp ? 1.0 : surr(&m->ste, pr - unit(w[4 * c + 3])));
        gm[c] = g[c] + q * dA;
        gm[C + c] = g[C + c] + q * dB;
        dk[r / 2] += q * dkr;
    }
    for (int j = 0; j < 3; j++)
        dk_out[j] = dk[j];
}

/* The diffusion's adjoint on row i: dL/dy_q into dy (2 x 9) and g =
 * dL/dx from gm. gE (W) and ext (3 x (W + 2)): the thread's scratch. */
static void adjoint_diffuse_row(const dca_mk *m, int64_t i, const int k[2],
                                const double y[2][9], const double *E, const double *gm,
                                const double *x, const uint8_t *tp, const uint32_t *w,
                                double *g, double *gE, double *ext, double *dy)
{
    const int64_t C = m->C, W = m->W;
    const double N = m->N;
    const bool relaxed = m->ste.relaxed;
    for (int s = 0; s < 2; s++) {
        const double *gr = gm + s * C + i * W;
        offset_dots(m, E + s * C, i, gr, ext, dy + 9 * s);
        for (int64_t j = 0; j < W; j++)
            gE[j] = -gr[j];
        for (int q = 0; q < 9; q++) {
            if (!relaxed && q != k[s])
                continue;
            const double wq = relaxed ? y[s][q] : 1.0;
            int64_t sh;
            const double *src = row_at(m, gm + s * C, i, q, 1, &sh);
            for (int64_t j = 0; j < W - sh; j++)
                gE[j] += wq * src[j + sh];
            for (int64_t j = W - sh; j < W; j++)
                gE[j] += wq * src[j + sh - W];
        }
        for (int64_t j = 0; j < W; j++) {
            const int64_t c = i * W + j;
            const double h = tp ? 1.0 : surr(&m->ste, x[s * C + c] - N * unit(w[4 * c + s]));
            g[s * C + c] = gr[j] + gE[j] * h;
        }
    }
}

/* Per step t, what the offsets need: the choice k, the weights y, the
 * softmax and the logits' derivatives in D (from the step's Gumbel words). */
typedef struct mk_offsets {
    int k[2];
    double y[2][9], soft[2][9], dl[2][9];
} mk_offsets;

/* acc += the step's dL/dk (rows[i][0..2]) and dL/dD through the offsets
 * (rows[i][3..20]: dL/dy), the rows in order. */
static void accumulate(const dca_mk *m, const double *rows, const mk_offsets *o, double acc[5])
{
    double dy[2][9] = {{0}};
    for (int64_t i = 0; i < m->H; i++) {
        for (int j = 0; j < 3; j++)
            acc[2 + j] += rows[i * 21 + j];
        for (int s = 0; s < 2; s++)
            for (int j = 0; j < 9; j++)
                dy[s][j] += rows[i * 21 + 3 + 9 * s + j];
    }
    for (int s = 0; s < 2; s++) {
        double mean = 0;
        for (int j = 0; j < 9; j++)
            mean += o->soft[s][j] * dy[s][j];
        for (int j = 0; j < 9; j++)
            acc[s] += o->soft[s][j] * (dy[s][j] - mean) / m->tau * o->dl[s][j];
    }
}

void dca_mk_adjoint_tape(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                         int64_t T, const double *states, const uint8_t *tape, const double *gT,
                         double *g0, double grad[5])
{
    const int64_t C = m->C, H = m->H, W = m->W;
    const bool taped = tape && dca_mk_tape_usable(m);
    /* taped: the rows of every step (the sums wait for the sweep's end) */
    const int64_t nrows = taped ? T * H * 21 : H * 21;
    uint32_t *w = malloc((size_t)(4 * (C + 5)) * sizeof *w);
    double *E = malloc((size_t)(8 * C) * sizeof *E), *mid = E + 4 * C, *y = E + 6 * C;
    double *g = malloc((size_t)(4 * C) * sizeof *g), *gm = g + 2 * C; /* g: after, gm: mid */
    double *rows = malloc((size_t)nrows * sizeof *rows);
    mk_offsets *off = malloc((size_t)(taped ? T : 1) * sizeof *off);
    const int nthreads = omp_get_max_threads();
    /* per-thread row scratch: dL/dE (W) and offset_dots' rows (3 x (W + 2)) */
    double *scratch = malloc((size_t)(nthreads * (4 * W + 6)) * sizeof *scratch);
    memcpy(g, gT, (size_t)(2 * C) * sizeof *g);
    double acc[5] = {0, 0, 0, 0, 0};
    if (taped) {
        /* One parallel region for the whole sweep, two barriers a step. E
         * alternates between two buffers, so a step's excitations can be
         * written while a slower thread still reads the last step's. */
        for (int64_t t = 0; t < T; t++) {
            mk_offsets *o = off + t;
            draws(m, conf, t0 + t, w);
            o->k[0] = weights(m, p->D_A, w, 0, o->y[0]);
            o->k[1] = weights(m, p->D_B, w, 1, o->y[1]);
            choose(m, p->D_A, w, 0, o->soft[0], o->dl[0]);
            choose(m, p->D_B, w, 1, o->soft[1], o->dl[1]);
        }
#pragma omp parallel
        {
            double *gE = scratch + (size_t)omp_get_thread_num() * (size_t)(4 * W + 6);
            double *ext = gE + W;
            for (int64_t t = T - 1; t >= 0; t--) {
                const double *x = states + t * 2 * C;
                const uint8_t *tp = tape + t * C;
                double *Et = E + (t & 1) * 2 * C, *rt = rows + t * H * 21;
                const mk_offsets *o = off + t;
#pragma omp for schedule(static)
                for (int64_t c = 0; c < C; c++) {
                    Et[c] = tp[c] & 1 ? 1.0 : 0.0;
                    Et[C + c] = tp[c] & 2 ? 1.0 : 0.0;
                }
                /* the row's diffusion as step() made it, then the reaction's adjoint */
#pragma omp for schedule(static)
                for (int64_t i = 0; i < H; i++) {
                    diffuse_row(m, i, o->k, (const double(*)[9])o->y, x, Et, mid);
                    adjoint_react_row(m, p, i, tp, NULL, mid, g, gm, rt + i * 21);
                }
#pragma omp for schedule(static) nowait
                for (int64_t i = 0; i < H; i++)
                    adjoint_diffuse_row(m, i, o->k, (const double(*)[9])o->y, Et, gm, x, tp,
                                        NULL, g, gE, ext, rt + i * 21 + 3);
            }
        }
        for (int64_t t = T - 1; t >= 0; t--)
            accumulate(m, rows + t * H * 21, off + t, acc);
    } else {
        for (int64_t t = T - 1; t >= 0; t--) {
            const double *x = states + t * 2 * C;
            mk_offsets o;
            step(m, p, conf, t0 + t, w, x, E, mid, y, o.y, NULL);
            o.k[0] = o.k[1] = 0;
            for (int s = 0; s < 2; s++)
                for (int j = 0; j < 9; j++)
                    o.k[s] = o.y[s][j] > o.y[s][o.k[s]] ? j : o.k[s];
            choose(m, p->D_A, w, 0, o.soft[0], o.dl[0]);
            choose(m, p->D_B, w, 1, o.soft[1], o.dl[1]);
#pragma omp parallel
            {
                double *gE = scratch + (size_t)omp_get_thread_num() * (size_t)(4 * W + 6);
                double *ext = gE + W;
#pragma omp for schedule(static)
                for (int64_t i = 0; i < H; i++)
                    adjoint_react_row(m, p, i, NULL, w, mid, g, gm, rows + i * 21);
#pragma omp for schedule(static)
                for (int64_t i = 0; i < H; i++)
                    adjoint_diffuse_row(m, i, o.k, (const double(*)[9])o.y, E, gm, x, NULL, w,
                                        g, gE, ext, rows + i * 21 + 3);
            }
            accumulate(m, rows, &o, acc);
        }
    }
    for (int j = 0; j < 5; j++)
        grad[j] += acc[j];
    if (g0)
        memcpy(g0, g, (size_t)(2 * C) * sizeof *g);
    free(w), free(E), free(g), free(rows), free(off), free(scratch);
}

void dca_mk_offset_score(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                         int64_t T, double score[2])
{
    uint32_t *w = malloc((size_t)(4 * (m->C + 5)) * sizeof *w);
    score[0] = score[1] = 0;
    for (int64_t t = 0; t < T; t++) {
        draws(m, conf, t0 + t, w);
        for (int s = 0; s < 2; s++) {
            double dl[9];
            const int k = choose(m, s ? p->D_B : p->D_A, w, s, NULL, dl);
            score[s] += dl[k];
        }
    }
    free(w);
}
