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

/* The constants of the reaction probabilities: N, q = 1 / ((N - 1)(N - 2)),
 * gamma, and gamma k1..k3. */
typedef struct mk_consts {
    double N, q, g, gk[3], invN;
} mk_consts;

static mk_consts consts(const dca_mk *m, const dca_mk_params *p)
{
    const double N = m->N, g = m->gamma;
    return (mk_consts){N, 1.0 / ((N - 1) * (N - 2)), g, {g * p->k1, g * p->k2, g * p->k3},
                       1.0 / N};
}

/* The reaction probability p of channel r (0..5) and its derivatives in A,
 * B and in the channel's rate constant:
 *   r = 0, +A: gamma k1 (N - A) A^2 q     r = 1, -A: gamma k1 A (N - A)^2 q
 *   r = 2, +A: gamma k2 (N - A) B / N     r = 3, -A: gamma k2 A (N - B) / N
 *   r = 4, +B: gamma k3 (N - A)(N - B) / N  r = 5, -B: gamma k3 A B / N
 * Written as selections between operands rather than a branch on r, so that
 * a row of cells with random channels vectorises; each channel's numbers
 * are the same operations on the same operands as written out above. */
typedef struct mk_rate {
    double p, dA, dB, dk;
} mk_rate;

/* c ? a : b as a blend of bit patterns. GCC turns a plain selection
 * between computed values into branches (jump threading, PRE), and then
 * does not vectorise the loop; the blend stays a blend. */
static inline double sel(uint64_t c, double a, double b)
{
    uint64_t ua, ub;
    memcpy(&ua, &a, sizeof ua), memcpy(&ub, &b, sizeof ub);
    const uint64_t m = (uint64_t)0 - (uint64_t)(c != 0), u = (ua & m) | (ub & ~m);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Eight doubles, eight 64-bit and eight 32-bit integers, eight bytes
 * (GCC's vector extension: the target's vectors, or pairs of halves where
 * they are shorter); vsel is sel on eight lanes (m: 0 or -1 a lane, as a
 * comparison gives). */
typedef double mk_v8 __attribute__((vector_size(8 * sizeof(double))));
typedef int64_t mk_i8 __attribute__((vector_size(8 * sizeof(int64_t))));
typedef uint64_t mk_q8 __attribute__((vector_size(8 * sizeof(uint64_t))));
typedef uint32_t mk_u8 __attribute__((vector_size(8 * sizeof(uint32_t))));
typedef uint8_t mk_b8 __attribute__((vector_size(8)));

static inline mk_v8 vsel(mk_i8 m, mk_v8 a, mk_v8 b)
{
    return (mk_v8)(((mk_i8)a & m) | ((mk_i8)b & ~m));
}

static inline mk_rate rate_as(const mk_consts *K, bool adjoint, uint64_t r, double A, double B)
{
    /* every operand is computed, then selected. The adjoint multiplies by
     * 1/N where the forward divides by N (three divisions a cell cost a
     * third of the adjoint's reaction): its p is the forward's to an ulp,
     * the derivatives to an ulp of what they were. */
    const double iN = K->invN;
    const double N = K->N, q = K->q, NA = N - A, NB = N - B;
    const uint64_t cubic = r < 2;
    /* f = a1 a2 a2 q (r < 2) or a1 a2 / N; a2 at r = 2, 5: B, at 3, 4: N - B */
    const double a1 = sel(r & 1, A, NA);
    const double a2 = sel(r == 0, A, sel(r == 1, NA, sel((r + 1) & 2, B, NB)));
    const double prod = a1 * a2;
    const double fc = prod * a2 * q, fl = adjoint ? prod * iN : prod / N;
    /* df/dA: (2A(N - A) - A^2) q, ((N - A)^2 - 2A(N - A)) q, then -B/N,
     * (N - B)/N, -(N - B)/N, B/N; df/dB: 0, 0, (N - A)/N, -A/N, -(N - A)/N,
     * A/N */
    const double P2 = 2 * A * NA;
    const double fA0 = (P2 - A * A) * q, fA1 = (NA * NA - P2) * q;
    /* negated at r = 2, 4 and at r = 3, 4 */
    const double fAl = adjoint ? sel(r & 1, a2, -a2) * iN : sel(r & 1, a2, -a2) / N;
    const double fBl = adjoint ? sel((r + 1) & 2, a1, -a1) * iN : sel((r + 1) & 2, a1, -a1) / N;
    const double f = sel(cubic, fc, fl);
    const double fA = sel(r == 0, fA0, sel(r == 1, fA1, fAl)), fB = sel(cubic, 0, fBl);
    const double gk = sel(r < 2, K->gk[0], sel(r < 4, K->gk[1], K->gk[2]));
    return (mk_rate){gk * f, gk * fA, gk * fB, K->g * f};
}

/* The forward's probability p. */
static inline double rate(const mk_consts *K, uint64_t r, double A, double B)
{
    return rate_as(K, false, r, A, B).p;
}

/* rate_as on eight lanes (r: the channels), operand for operand, so the
 * same numbers bit for bit; the rate constant looked up by a permute on
 * the channel instead of selected. */
typedef struct mk_rate8 {
    mk_v8 p, dA, dB, dk;
} mk_rate8;

static inline mk_rate8 rate8(const mk_consts *K, bool adjoint, mk_q8 r, mk_v8 A, mk_v8 B)
{
    const double N = K->N, q = K->q, iN = K->invN;
    const mk_v8 zero = {0};
    const mk_v8 gktab = {K->gk[0], K->gk[0], K->gk[1], K->gk[1], K->gk[2], K->gk[2], 0, 0};
    const mk_i8 odd = (r & 1) != 0, cub = r < 2, bsel = ((r + 1) & 2) != 0;
    const mk_v8 NA = N - A, NB = N - B;
    const mk_v8 a1 = vsel(odd, A, NA), a2 = vsel(cub, vsel(odd, NA, A), vsel(bsel, B, NB));
    const mk_v8 prod = a1 * a2;
    const mk_v8 fc = prod * a2 * q, fl = adjoint ? prod * iN : prod / N;
    const mk_v8 P2 = 2 * A * NA;
    const mk_v8 fA0 = (P2 - A * A) * q, fA1 = (NA * NA - P2) * q;
    const mk_v8 fAl = adjoint ? vsel(odd, a2, -a2) * iN : vsel(odd, a2, -a2) / N;
    const mk_v8 fBl = adjoint ? vsel(bsel, a1, -a1) * iN : vsel(bsel, a1, -a1) / N;
    const mk_v8 f = vsel(cub, fc, fl);
    const mk_v8 fA = vsel(cub, vsel(odd, fA1, fA0), fAl), fB = vsel(cub, zero, fBl);
    const mk_v8 gk = __builtin_shuffle(gktab, (mk_i8)r);
    return (mk_rate8){gk * f, gk * fA, gk * fB, K->g * f};
}

/* The particle's sign of channels r: +1 for the even (adding) channels,
 * -1 for the odd. */
static inline mk_v8 sign8(mk_i8 r)
{
    const mk_v8 sgntab = {1, -1, 1, -1, 1, -1, 1, -1};
    return __builtin_shuffle(sgntab, r);
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
    const mk_consts K = consts(m, p);
    for (uint32_t r = 0; r < 6; r++)
        for (int a = 0; a <= m->N; a++)
            for (int b = 0; b <= m->N; b++) {
                const double pr = rate(&K, r, a, b);
                if (pr > 1)
                    return dca_error_set(err, DCA_ERR_ARG,
                                         "p%d = %.4g > 1 at A = %d, B = %d (gamma = %g, k%d = "
                                         "%g, N = %d): lower gamma or the rate",
                                         (int)r + 1, pr, a, b, m->gamma, (int)r / 2 + 1, k[r / 2],
                                         m->N);
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

/* The reaction channel 0..5 of a cell from its word 2. */
static inline uint32_t channel(uint32_t w) { return (uint32_t)(((uint64_t)w * 6) >> 32); }

/* The step's noise, the stream (seed, DCA_RNG_MK, conf << 32 | t): draw c < C
 * gives cell c four words (0, 1: the excitations of A and B; 2: the reaction
 * channel; 3: its acceptance); draws C .. C+4 give 20 words, the first 18 of
 * them the offsets' Gumbels (9 for A, 9 for B). Every draw is a pure
 * function of its index: whichever thread draws a row gets the same numbers. */
static inline uint64_t noise_index(int64_t conf, int64_t t)
{
    return (uint64_t)conf << 32 | (uint64_t)(uint32_t)t;
}

/* The words of row i into w (4 C words, one array of C per word: word k of
 * cell c at w[k C + c]). */
static void row_words(const dca_mk *m, int64_t conf, int64_t t, int64_t i, uint32_t *w)
{
    dca_rng_words_soa(m->seed, DCA_RNG_MK, noise_index(conf, t), (uint64_t)(i * m->W), m->W,
                      w + i * m->W, m->C);
}

/* Per step, what the offsets need: the choice k, the weights y (one-hot on
 * k, or the softmax itself in the relaxed model), the softmax s_j and the
 * logits' derivatives in D. */
typedef struct mk_offsets {
    int k[2];
    double y[2][9], soft[2][9], dl[2][9];
} mk_offsets;

/* The Gumbel-max choice of one species from its 9 Gumbel words G, the
 * softmax of (l + G) / tau into soft, and the logits' derivatives. */
static int choose(const dca_mk *m, double D, const uint32_t *G, double *soft, double *dl)
{
    double l[9], z[9], mx = -INFINITY;
    logits(D, l, dl);
    int best = 0;
    for (int j = 0; j < 9; j++) {
        z[j] = l[j] - log(-log(unit(G[j])));
        if (z[j] > z[best])
            best = j;
    }
    for (int j = 0; j < 9; j++)
        mx = fmax(mx, z[j] / m->tau);
    double sum = 0;
    for (int j = 0; j < 9; j++)
        sum += soft[j] = exp(z[j] / m->tau - mx);
    for (int j = 0; j < 9; j++)
        soft[j] /= sum;
    return best;
}

static void offsets(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t,
                    mk_offsets *o)
{
    uint32_t G[20];
    dca_rng_words(m->seed, DCA_RNG_MK, noise_index(conf, t), (uint64_t)m->C, 5, G);
    for (int s = 0; s < 2; s++) {
        o->k[s] = choose(m, s ? p->D_B : p->D_A, G + 9 * s, o->soft[s], o->dl[s]);
        for (int j = 0; j < 9; j++)
            o->y[s][j] = m->ste.relaxed ? o->soft[s][j] : (j == o->k[s]);
    }
}

static inline double hv(double z) { return z > 0 ? 1.0 : 0.0; }

/* i mod n for -n <= i < 2n, without a division. */
static inline int64_t wrap(int64_t i, int64_t n) { return i < 0 ? i + n : i >= n ? i - n : i; }

/* Row i of field f read at offset sign * o_k: out[j] = f[(i + sign dy) mod H,
 * (j + sign dx) mod W], as a pointer pair (the row and its column shift s:
 * entries j < W - s come from row[j + s], the rest from row[j + s - W]). */
static inline const double *row_at(const dca_mk *m, const double *f, int64_t i, int k, int sign,
                                   int64_t *s)
{
    const int64_t r = wrap(i + sign * OFF[k][0], m->H), dx = sign * OFF[k][1];
    *s = dx < 0 ? dx + m->W : dx;
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

/* Row i of mid (2 x C), the state after both diffusions in the relaxed
 * model: x - E plus E moved by every offset q, weighted by y[s][q] (the
 * hard model's, one offset: step_row_hard). */
static void diffuse_row(const dca_mk *m, int64_t i, const double y[2][9], const double *x,
                        const double *E, double *mid)
{
    const int64_t C = m->C, W = m->W;
    for (int s = 0; s < 2; s++) {
        const int64_t o = s * C + i * W;
        for (int64_t j = 0; j < W; j++)
            mid[o + j] = x[o + j] - E[o + j];
        for (int q = 0; q < 9; q++) {
            const double wq = y[s][q];
            int64_t sh;
            const double *src = row_at(m, E + s * C, i, q, -1, &sh);
            for (int64_t j = 0; j < W - sh; j++)
                mid[o + j] += wq * src[j + sh];
            for (int64_t j = W - sh; j < W; j++)
                mid[o + j] += wq * src[j + sh - W];
        }
    }
}

/* The excitations of row i: E = H(X - N xi) for both species. The hard
 * model's loop has no call in it, so it vectorises. */
static void excite_row(const dca_mk *m, int64_t i, const uint32_t *w, const double *x, double *E)
{
    const int64_t C = m->C, W = m->W;
    const double N = m->N;
    if (m->ste.relaxed) {
        for (int64_t c = i * W; c < (i + 1) * W; c++)
            for (int s = 0; s < 2; s++)
                E[s * C + c] = node(&m->ste, x[s * C + c] - N * unit(w[s * C + c]));
        return;
    }
    for (int64_t c = i * W; c < (i + 1) * W; c++)
        for (int s = 0; s < 2; s++)
            E[s * C + c] = hv(x[s * C + c] - N * unit(w[s * C + c]));
}

/* The relaxed model's reaction on row i: out = mid plus or minus h, the
 * smoothed acceptance of the cell's channel. */
static void react_row_relaxed(const dca_mk *m, const mk_consts *K, int64_t i, const uint32_t *w,
                              const double *mid, double *out)
{
    const int64_t C = m->C, W = m->W;
    for (int64_t c = i * W; c < (i + 1) * W; c++) {
        const uint64_t r = channel(w[2 * C + c]);
        const double A = mid[c], B = mid[C + c];
        const double h = node(&m->ste, rate(K, r, A, B) - unit(w[3 * C + c]));
        const double d = sel(r & 1, -1.0, 1.0) * h;
        out[c] = A + sel(r < 4, d, 0);
        out[C + c] = B + sel(r >= 4, d, 0);
    }
}

/* A cell's tape byte: E_A | E_B << 1 | r << 2 | h << 5, h whether the
 * channel fired (what the taped adjoint needs to recover mid from out). */
static inline uint8_t tape_byte(double EA, double EB, uint64_t r, bool fired)
{
    return (uint8_t)((uint32_t)(EA > 0) | (uint32_t)(EB > 0) << 1 | (uint32_t)r << 2 |
                     (uint32_t)fired << 5);
}

/* Eight values of a row from column jj (jj < 2 W) on, wrapping at W. */
static inline mk_v8 row8(const double *row, int64_t jj, int64_t W)
{
    mk_v8 v;
    jj -= jj >= W ? W : 0;
    if (jj + 8 <= W) {
        memcpy(&v, row + jj, sizeof v);
        return v;
    }
    double t[8];
    for (int l = 0; l < 8; l++)
        t[l] = row[jj + l < W ? jj + l : jj + l - W];
    memcpy(&v, t, sizeof v);
    return v;
}

/* The hard model's step on row i after its excitations, eight cells at a
 * time: the diffusion (mid = (x - E) + E moved by the offset k, into mid
 * when it is not NULL) and the reaction, with the operations of
 * diffuse_row and rate() (the same numbers, bit for bit): the rate constant
 * and the particle's sign looked up by channel in a vector (a permute each)
 * instead of selected, the particle added as +0 where the channel did not
 * fire (A + 0 is A + (-0): counts are never -0), and the tape's bytes (tape
 * may be NULL) made in the same pass. The row's last W mod 8 cells one at
 * a time. */
static void step_row_hard(const dca_mk *m, const mk_consts *K, int64_t i, const int k[2],
                          const uint32_t *restrict w, const double *restrict x,
                          const double *restrict E, double *restrict mid, double *restrict out,
                          uint8_t *restrict tape)
{
    const int64_t C = m->C, W = m->W, i0 = i * W, end = i0 + W;
    const mk_consts Kl = *K; /* a local copy: its loads stay out of the loop */
    int64_t shA, shB;
    const double *srcA = row_at(m, E, i, k[0], -1, &shA);
    const double *srcB = row_at(m, E + C, i, k[1], -1, &shB);
    int64_t c = i0;
    for (; c + 8 <= end; c += 8) {
        mk_u8 w2, w3;
        mk_v8 xA, xB, EA, EB;
        memcpy(&w2, w + 2 * C + c, sizeof w2), memcpy(&w3, w + 3 * C + c, sizeof w3);
        memcpy(&xA, x + c, sizeof xA), memcpy(&xB, x + C + c, sizeof xB);
        memcpy(&EA, E + c, sizeof EA), memcpy(&EB, E + C + c, sizeof EB);
        const mk_v8 A = (xA - EA) + row8(srcA, c - i0 + shA, W);
        const mk_v8 B = (xB - EB) + row8(srcB, c - i0 + shB, W);
        if (mid)
            memcpy(mid + c, &A, sizeof A), memcpy(mid + C + c, &B, sizeof B);
        const mk_q8 r = __builtin_convertvector(w2, mk_q8) * 6 >> 32;
        const mk_i8 ri = (mk_i8)r;
        const mk_v8 u = (__builtin_convertvector(w3, mk_v8) + 0.5) * 0x1.0p-32;
        const mk_v8 z = rate8(&Kl, false, r, A, B).p - u;
        const mk_i8 fired = z > 0, d = fired & (mk_i8)sign8(ri);
        const mk_v8 oA = A + (mk_v8)(d & (ri < 4)), oB = B + (mk_v8)(d & (ri >= 4));
        memcpy(out + c, &oA, sizeof oA), memcpy(out + C + c, &oB, sizeof oB);
        if (tape) {
            const mk_i8 t = ((EA > 0) & 1) | ((EB > 0) & 2) | ri << 2 | (fired & 32);
            const mk_b8 tb = __builtin_convertvector(t, mk_b8);
            memcpy(tape + c, &tb, sizeof tb);
        }
    }
    for (; c < end; c++) {
        const int64_t jA = c - i0 + shA, jB = c - i0 + shB;
        const double A = (x[c] - E[c]) + srcA[jA < W ? jA : jA - W];
        const double B = (x[C + c] - E[C + c]) + srcB[jB < W ? jB : jB - W];
        if (mid)
            mid[c] = A, mid[C + c] = B;
        const uint64_t r = channel(w[2 * C + c]);
        const double z = rate(K, r, A, B) - unit(w[3 * C + c]);
        const double d = sel(r & 1, -1.0, 1.0) * hv(z);
        out[c] = A + sel(r < 4, d, 0);
        out[C + c] = B + sel(r >= 4, d, 0);
        if (tape)
            tape[c] = tape_byte(E[c], E[C + c], r, z > 0);
    }
}

/* The relaxed model's step on row i after its excitations: the diffusion
 * into mid, then the reaction; tape (C bytes, may be NULL) receives the
 * step's outcomes (not read: the relaxed model's adjoint replays). */
__attribute__((noinline)) static void step_row_relaxed(const dca_mk *m, const mk_consts *K,
                                                       int64_t i, const mk_offsets *o,
                                                       const uint32_t *w, const double *x,
                                                       const double *E, double *mid,
                                                       double *out, uint8_t *tape)
{
    diffuse_row(m, i, (const double(*)[9])o->y, x, E, mid);
    react_row_relaxed(m, K, i, w, mid, out);
    if (tape)
        for (int64_t c = i * m->W; c < (i + 1) * m->W; c++)
            tape[c] = tape_byte(E[c], E[m->C + c], channel(w[2 * m->C + c]), out[c] != mid[c] ||
                                out[m->C + c] != mid[m->C + c]);
}

/* The adjoint sums the rows' gradient terms in groups of MK_GROUP rows
 * (the last group may be shorter), and then the groups, each in order:
 * the same numbers on any thread count, and a thread's groups are summed
 * where their rows are, in its cache. */
enum { MK_GROUP = 4 };

static inline int64_t row_groups(int64_t H) { return (H + MK_GROUP - 1) / MK_GROUP; }

/* The rows [lo, hi) of thread id of nt, a contiguous block of whole
 * groups. */
static void row_block(int64_t H, int id, int nt, int64_t *lo, int64_t *hi)
{
    const int64_t ng = row_groups(H), g1 = MK_GROUP * (ng * (id + 1) / nt);
    *lo = MK_GROUP * (ng * id / nt), *hi = g1 < H ? g1 : H;
}

/* T steps: step t maps x_t (x0 for t = 0, else the last step's output) to
 * outs + t 2C, or with ring (the run keeps no states) to the slot t mod 2
 * of outs (2 x 2C), with tape + t C its outcomes (tape may be NULL). One parallel
 * region for the whole run and one barrier a step: each thread owns a block
 * of rows and draws the words and excitations of its rows and of the row on
 * either side (the diffusion reads them) into its own buffers, so that no
 * thread waits for another within a step. The offsets of every step are
 * drawn first, shared out among the threads. If w, E and mid are given (the
 * replaying adjoint, T = 1), they receive the step's words, excitations and
 * state after diffusion. */
static void forward(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                    int64_t T, const double *x0, double *outs, bool ring, uint8_t *tape,
                    mk_offsets *off, uint32_t *w_out, double *E_out, double *mid_out)
{
    const int64_t C = m->C, H = m->H, W = m->W;
    const mk_consts K = consts(m, p);
    /* per thread: the words (4 C), the excitations (2 C) and mid (2 C) */
    const size_t per = (size_t)C * (4 * sizeof(uint32_t) + 4 * sizeof(double));
    char *buf = malloc((size_t)omp_get_max_threads() * per);
#pragma omp parallel
    {
        const int id = omp_get_thread_num();
        uint32_t *w = (uint32_t *)(buf + (size_t)id * per);
        double *E = (double *)(w + 4 * C), *mid = E + 2 * C;
        int64_t lo, hi;
        row_block(H, id, omp_get_num_threads(), &lo, &hi);
        /* the rows to excite: the block and the row on either side that a
         * diffusion reads (the hard model: only where a species' offset
         * comes from; the relaxed model mixes all offsets), or all */
        const bool all = hi - lo + 2 >= H;
#pragma omp for schedule(static)
        for (int64_t t = 0; t < T; t++)
            offsets(m, p, conf, t0 + t, off + t);
        for (int64_t t = 0; t < T; t++) {
            const int64_t slot = ring ? t & 1 : t, last = ring ? (t - 1) & 1 : t - 1;
            const double *x = t ? outs + last * 2 * C : x0;
            double *out = outs + slot * 2 * C;
            const mk_offsets *o = off + t;
            if (lo < hi) {
                bool up = true, down = true; /* row lo - 1, row hi */
                if (!m->ste.relaxed) {
                    const int oyA = OFF[o->k[0]][0], oyB = OFF[o->k[1]][0];
                    up = oyA == 1 || oyB == 1, down = oyA == -1 || oyB == -1;
                }
                const int64_t e0 = all ? 0 : lo - up, e1 = all ? H : hi + down;
                for (int64_t r = e0; r < e1; r++) {
                    const int64_t i = wrap(r, H);
                    row_words(m, conf, t0 + t, i, w);
                    excite_row(m, i, w, x, E);
                }
                uint8_t *tp = tape ? tape + t * C : NULL;
                for (int64_t i = lo; i < hi; i++)
                    if (m->ste.relaxed)
                        step_row_relaxed(m, &K, i, o, w, x, E, mid, out, tp);
                    else
                        step_row_hard(m, &K, i, o->k, w, x, E, w_out ? mid : NULL, out, tp);
                if (w_out) {
                    const size_t n = (size_t)((hi - lo) * W);
                    for (int k = 0; k < 4; k++)
                        memcpy(w_out + k * C + lo * W, w + k * C + lo * W, n * sizeof *w);
                    for (int s = 0; s < 2; s++) {
                        memcpy(E_out + s * C + lo * W, E + s * C + lo * W, n * sizeof *E);
                        memcpy(mid_out + s * C + lo * W, mid + s * C + lo * W, n * sizeof *E);
                    }
                }
            }
#pragma omp barrier
        }
    }
    free(buf);
}

/* The fixed tree that sums the lanes of a double vector. */
static inline double hsum(mk_v8 a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* d[k] = hsum(the k-th of a..h), the same tree for the eight at once:
 * pairs of lanes, then pairs of pairs, then halves, each level an add of
 * two shuffles. */
static inline void hsum8(mk_v8 a, mk_v8 b, mk_v8 c, mk_v8 d, mk_v8 e, mk_v8 f, mk_v8 g, mk_v8 h,
                         double out[8])
{
    const mk_i8 lo = {0, 8, 2, 10, 4, 12, 6, 14}, hi = {1, 9, 3, 11, 5, 13, 7, 15};
    /* [x0+x1, y0+y1, x2+x3, y2+y3, x4+x5, y4+y5, x6+x7, y6+y7] */
#define PAIRS(x, y) (__builtin_shuffle(x, y, lo) + __builtin_shuffle(x, y, hi))
    const mk_v8 ab = PAIRS(a, b), cd = PAIRS(c, d), ef = PAIRS(e, f), gh = PAIRS(g, h);
#undef PAIRS
    const mk_i8 q0 = {0, 1, 8, 9, 4, 5, 12, 13}, q1 = {2, 3, 10, 11, 6, 7, 14, 15};
    /* [a0123, b0123, c0123, d0123, a4567, b4567, c4567, d4567] */
    const mk_v8 abcd = __builtin_shuffle(ab, cd, q0) + __builtin_shuffle(ab, cd, q1);
    const mk_v8 efgh = __builtin_shuffle(ef, gh, q0) + __builtin_shuffle(ef, gh, q1);
    const mk_i8 h0 = {0, 1, 2, 3, 8, 9, 10, 11}, h1 = {4, 5, 6, 7, 12, 13, 14, 15};
    const mk_v8 all = __builtin_shuffle(abcd, efgh, h0) + __builtin_shuffle(abcd, efgh, h1);
    memcpy(out, &all, sizeof all);
}

/* dL/dy_q for the 9 offsets of a row: d[q] = sum_j gr[j] E[(i - dy_q) mod H,
 * (j - dx_q) mod W], from rows[dy + 1], the source row i - dy with one cell
 * of wrap-around on each side (rows[.][0] is column W - 1, rows[.][W + 1]
 * column 0). Each sum runs in 8 lanes (lane l adds the terms j = l mod 8 in
 * j order; the last W mod 8 terms padded with zeros) closed by a fixed
 * tree: the 9 sums advance as 9 vectors, the same numbers on any thread
 * count. With gs, the same pass also writes the taped hard model's dL/dx
 * row, gs[j] = gr[j] + (-gr[j] + src[(j + sh) mod W]) (dL/dE = -gr + the
 * moved gr, h' = 1). */
static void dots9(const double *const rows[3], int64_t W, const double *gr, double d[9],
                  const double *src, int64_t sh, double *gs)
{
    /* the nine accumulators as named values (an array of them went through
     * memory, zeroed by a call to memset) */
#define DOTS9(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8)
#define SRC(q) const double *s##q = rows[OFF[q][0] + 1] + 1 - OFF[q][1];
#define ZERO(q) mk_v8 a##q = {0};
#define STEP(q) memcpy(&e, s##q + j, sizeof e), a##q += g * e;
#define TAIL(q)                                                                              \
    memcpy(et, s##q + j, (size_t)(W - j) * sizeof *et), memcpy(&e, et, sizeof e), a##q += g * e;
    DOTS9(SRC)
    DOTS9(ZERO)
    int64_t j = 0;
    for (; j + 8 <= W; j += 8) {
        mk_v8 g, e;
        memcpy(&g, gr + j, sizeof g);
        DOTS9(STEP)
        if (gs) {
            const mk_v8 o = g + (-g + row8(src, j + sh, W));
            memcpy(gs + j, &o, sizeof o);
        }
    }
    if (gs)
        for (int64_t jj = j; jj < W; jj++)
            gs[jj] = gr[jj] + (-gr[jj] + src[jj + sh < W ? jj + sh : jj + sh - W]);
    if (j < W) { /* the last W mod 8 terms, padded with zeros */
        double gt[8] = {0}, et[8] = {0};
        memcpy(gt, gr + j, (size_t)(W - j) * sizeof *gt);
        mk_v8 g, e;
        memcpy(&g, gt, sizeof g);
        DOTS9(TAIL)
    }
    hsum8(a0, a1, a2, a3, a4, a5, a6, a7, d);
    d[8] = hsum(a8);
#undef DOTS9
#undef SRC
#undef ZERO
#undef STEP
#undef TAIL
}

/* dots9 of row i of E (C cells, rows of W): ext (3 x (W + 2)) receives the
 * three source rows with their wrap-around. */
static void offset_dots(const dca_mk *m, const double *E, int64_t i, const double *gr,
                        double *ext, double d[9])
{
    const int64_t H = m->H, W = m->W;
    const double *rows[3];
    for (int dy = -1; dy <= 1; dy++) {
        const double *row = E + wrap(i - dy, H) * W;
        double *e = ext + (dy + 1) * (W + 2);
        e[0] = row[W - 1];
        memcpy(e + 1, row, (size_t)W * sizeof *e);
        e[W + 1] = row[0];
        rows[dy + 1] = e;
    }
    dots9(rows, W, gr, d, NULL, 0, NULL);
}

bool dca_mk_tape_usable(const dca_mk *m)
{
    return !m->ste.relaxed && m->ste.kind == DCA_SURROGATE_IDENTITY;
}

void dca_mk_run_tape(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                     int64_t T, double *states, uint8_t *tape)
{
    mk_offsets *off = malloc((size_t)(T > 0 ? T : 1) * sizeof *off);
    forward(m, p, conf, t0, T, states, states + 2 * m->C, false, tape, off, NULL, NULL, NULL);
    free(off);
}

void dca_mk_run_final(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                      int64_t T, double *x, uint8_t *tape)
{
    const int64_t C = m->C;
    if (T <= 0)
        return;
    mk_offsets *off = malloc((size_t)T * sizeof *off);
    double *slots = malloc((size_t)(4 * C) * sizeof *slots);
    forward(m, p, conf, t0, T, x, slots, true, tape, off, NULL, NULL, NULL);
    memcpy(x, slots + ((T - 1) & 1) * 2 * C, (size_t)(2 * C) * sizeof *x);
    free(off), free(slots);
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

/* Adds the products v of eight cells to the lanes of dL/dk1..3 by their
 * channels r (2 j and 2 j + 1 to dk_j; +0 to the other two). */
static inline void dk_add(mk_v8 *dk0, mk_v8 *dk1, mk_v8 *dk2, mk_v8 v, mk_i8 r)
{
    const mk_i8 vi = (mk_i8)v;
    *dk0 += (mk_v8)(vi & (r < 2));
    *dk1 += (mk_v8)(vi & ((r >> 1) == 1));
    *dk2 += (mk_v8)(vi & (r >= 4));
}

/* dL/dk_j of row i in the replay: the products qs[c] ks[c] of the cells
 * whose channel rs[c] is 2 j or 2 j + 1, summed in 8 lanes (lane l: the
 * cells c = l mod 8 in order; the row's last W mod 8 cells padded with
 * zeros) and closed by a fixed tree, as adjoint_taped_row sums them. */
static void react_dk(int64_t i, int64_t W, const double *qs, const double *ks,
                     const uint32_t *rs, double dk_out[3])
{
    mk_v8 dk0 = {0}, dk1 = {0}, dk2 = {0};
    for (int64_t c = i * W; c < (i + 1) * W; c += 8) {
        const int64_t n = (i + 1) * W - c < 8 ? (i + 1) * W - c : 8;
        double qt[8] = {0}, kt[8] = {0};
        uint32_t rt[8] = {0};
        const double *qp = qs + c, *kp = ks + c;
        const uint32_t *rp = rs + c;
        if (n < 8) {
            memcpy(qt, qs + c, (size_t)n * sizeof *qt), memcpy(kt, ks + c, (size_t)n * sizeof *kt);
            memcpy(rt, rs + c, (size_t)n * sizeof *rt);
            qp = qt, kp = kt, rp = rt;
        }
        mk_v8 qv, kv;
        mk_u8 r32;
        memcpy(&qv, qp, sizeof qv), memcpy(&kv, kp, sizeof kv), memcpy(&r32, rp, sizeof r32);
        dk_add(&dk0, &dk1, &dk2, qv * kv, __builtin_convertvector(r32, mk_i8));
    }
    dk_out[0] = hsum(dk0), dk_out[1] = hsum(dk1), dk_out[2] = hsum(dk2);
}

/* The reaction's adjoint on row i in the replay: gm = dL/dmid from g =
 * dL/d(out), and the row's dL/dk1..3 into dk_out, from the step's words w.
 * tmp (3 W): the thread's scratch. */
static void adjoint_react_row(const dca_mk *m, const mk_consts *K, int64_t i,
                              const uint32_t *restrict w, const double *restrict mid,
                              const double *restrict g, double *restrict gm,
                              double *restrict tmp, double dk_out[3])
{
    const int64_t C = m->C, W = m->W;
    /* indexed by the cell c of row i: tmp[0, W), [W, 2 W), then W words */
    double *restrict qs = tmp - i * W, *restrict ks = tmp + W - i * W;
    uint32_t *restrict rs = (uint32_t *)(tmp + 2 * W) - i * W;
    for (int64_t c = i * W; c < (i + 1) * W; c++)
        rs[c] = channel(w[2 * C + c]);
    for (int64_t c = i * W; c < (i + 1) * W; c++) {
        const uint64_t r = rs[c];
        const mk_rate R = rate_as(K, true, r, mid[c], mid[C + c]);
        const double gs = sel(r < 4, g[c], g[C + c]) * sel(r & 1, -1.0, 1.0);
        const double q = gs * surr(&m->ste, R.p - unit(w[3 * C + c]));
        gm[c] = g[c] + q * R.dA;
        gm[C + c] = g[C + c] + q * R.dB;
        qs[c] = q, ks[c] = R.dk;
    }
    react_dk(i, W, qs, ks, rs, dk_out);
}

/* The diffusion's adjoint on row i: dL/dy_q into dy (2 x 9) and g =
 * dL/dx from gm; tp: the step's tape (the hard model with the identity
 * surrogate, h' = 1; E then has rows of W + 2, padded as dots9 reads them,
 * H of them a species), or NULL for the replay (w: the step's words; E has
 * rows of W). gE (W) and ext (3 x (W + 2)): the thread's scratch. */
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
        double *gs = g + s * C + i * W;
        if (tp) { /* the taped hard model, one pass: dL/dE = -gr + 1.0 gr[src], h = 1 */
            const int64_t H = m->H, P = W + 2;
            const double *Es = E + s * H * P;
            const double *rows[3] = {Es + wrap(i + 1, H) * P, Es + i * P, Es + wrap(i - 1, H) * P};
            int64_t sh;
            const double *src = row_at(m, gm + s * C, i, k[s], 1, &sh);
            dots9(rows, W, gr, dy + 9 * s, src, sh, gs);
            continue;
        }
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
            gs[j] = gr[j] + gE[j] * surr(&m->ste, x[s * C + c] - N * unit(w[s * C + c]));
        }
    }
}

/* The sums of the rows' gradient terms (rows: H x 21) over the groups
 * [g0, g1), each in row order, into grp (a group's 21 at grp + 21 g). */
static void group_sums(int64_t H, const double *rows, int64_t g0, int64_t g1, double *grp)
{
    for (int64_t g = g0; g < g1; g++) {
        const int64_t i1 = (g + 1) * MK_GROUP < H ? (g + 1) * MK_GROUP : H;
        double a[21] = {0};
        for (int64_t i = g * MK_GROUP; i < i1; i++)
            for (int j = 0; j < 21; j++)
                a[j] += rows[i * 21 + j];
        memcpy(grp + 21 * g, a, sizeof a);
    }
}

/* The step's contribution to the gradient, into d[5], from its group sums
 * (grp, group_sums'): dL/dk (grp[g][0..2]) and dL/dD through the offsets
 * (grp[g][3..20]: dL/dy), the groups in order. part 0: d[0] and d[2..4]
 * (the columns 0..11), part 1: d[1] (12..20), part 2: both. The callers
 * add the steps' contributions in order. */
static void step_grad(const dca_mk *m, const double *grp, const mk_offsets *o, int part,
                      double d[5])
{
    const int s0 = part == 1 ? 1 : 0, s1 = part == 0 ? 1 : 2;
    double dy[2][9] = {{0}}, dk[3] = {0, 0, 0};
    for (int64_t g = 0; g < row_groups(m->H); g++) {
        if (part != 1)
            for (int j = 0; j < 3; j++)
                dk[j] += grp[g * 21 + j];
        for (int s = s0; s < s1; s++)
            for (int j = 0; j < 9; j++)
                dy[s][j] += grp[g * 21 + 3 + 9 * s + j];
    }
    if (part != 1)
        for (int j = 0; j < 3; j++)
            d[2 + j] = dk[j];
    for (int s = s0; s < s1; s++) {
        double mean = 0, ds = 0;
        for (int j = 0; j < 9; j++)
            mean += o->soft[s][j] * dy[s][j];
        for (int j = 0; j < 9; j++)
            ds += o->soft[s][j] * (dy[s][j] - mean) / m->tau * o->dl[s][j];
        d[s] = ds;
    }
}

/* Eight cells of the taped adjoint's reaction (adjoint_taped_row): from
 * the tape bytes tb, the state after the reaction (oA, oB) and its dL
 * (gA, gB), the excitations, the state after diffusion, dL/dmid and the
 * products that dL/dk sums, with the operations of rate_as (the adjoint's)
 * and of unreacting, operand for operand. */
typedef struct mk_lanes {
    mk_v8 ea, eb, A, B, gmA, gmB, v;
    mk_i8 r;
} mk_lanes;

static inline mk_lanes adjoint_lanes(const mk_consts *K, mk_b8 tb, mk_v8 oA, mk_v8 oB, mk_v8 gA,
                                     mk_v8 gB)
{
    const mk_v8 one = {1, 1, 1, 1, 1, 1, 1, 1};
    mk_lanes o;
    const mk_q8 b = __builtin_convertvector(tb, mk_q8), r = b >> 2 & 7;
    const mk_i8 ri = (mk_i8)r, fired = (b & 32) != 0, low = ri < 4;
    o.r = ri;
    o.ea = (mk_v8)(((b & 1) != 0) & (mk_i8)one), o.eb = (mk_v8)(((b & 2) != 0) & (mk_i8)one);
    const mk_v8 sgn = sign8(ri), d = (mk_v8)(fired & (mk_i8)sgn);
    const mk_v8 A = oA - (mk_v8)((mk_i8)d & low), B = oB - (mk_v8)((mk_i8)d & ~low);
    o.A = A, o.B = B;
    const mk_rate8 R = rate8(K, true, r, A, B);
    const mk_v8 qv = vsel(low, gA, gB) * sgn;
    o.gmA = gA + qv * R.dA;
    o.gmB = gB + qv * R.dB;
    o.v = qv * R.dk;
    return o;
}

/* The taped adjoint of row i's reaction in one pass over the tape: the
 * excitations into EA and EB (the row, padded as dots9 reads them), the
 * state after diffusion into mid, and from it and g = dL/d(out) gm =
 * dL/dmid and the row's dL/dk1..3. The state after diffusion is the state
 * after the reaction, out, minus the particle the channel added or removed:
 * exact for whole particle counts below 2^52 (the model's states),
 * (A + 1) - 1 = A. Eight cells at a time; dL/dk_j sums the products of
 * the channels 2 j, 2 j + 1 in 8 lanes (lane l: the cells c = l mod 8 in
 * order; the row's last W mod 8 cells padded with zeros), closed by a
 * fixed tree. */
__attribute__((noinline)) static void
adjoint_taped_row(const dca_mk *m, const mk_consts *K, int64_t i, const uint8_t *restrict tp,
                  const double *restrict out, const double *restrict g, double *restrict gm,
                  double *restrict mid, double *restrict EA, double *restrict EB,
                  double dk_out[3])
{
    const int64_t C = m->C, W = m->W, i0 = i * W, end = i0 + W;
    const mk_consts Kl = *K;
    mk_v8 dk0 = {0}, dk1 = {0}, dk2 = {0};
    int64_t c = i0;
    for (; c + 8 <= end; c += 8) {
        mk_b8 tb;
        mk_v8 oA, oB, gA, gB;
        memcpy(&tb, tp + c, sizeof tb);
        memcpy(&oA, out + c, sizeof oA), memcpy(&oB, out + C + c, sizeof oB);
        memcpy(&gA, g + c, sizeof gA), memcpy(&gB, g + C + c, sizeof gB);
        const mk_lanes o = adjoint_lanes(&Kl, tb, oA, oB, gA, gB);
        memcpy(EA + 1 + (c - i0), &o.ea, sizeof o.ea);
        memcpy(EB + 1 + (c - i0), &o.eb, sizeof o.eb);
        memcpy(mid + c, &o.A, sizeof o.A), memcpy(mid + C + c, &o.B, sizeof o.B);
        memcpy(gm + c, &o.gmA, sizeof o.gmA), memcpy(gm + C + c, &o.gmB, sizeof o.gmB);
        dk_add(&dk0, &dk1, &dk2, o.v, o.r);
    }
    if (c < end) { /* the last W mod 8 cells, padded with zeros */
        const size_t n = (size_t)(end - c), nd = n * sizeof(double);
        mk_b8 tb = {0};
        mk_v8 oA = {0}, oB = {0}, gA = {0}, gB = {0};
        memcpy(&tb, tp + c, n);
        memcpy(&oA, out + c, nd), memcpy(&oB, out + C + c, nd);
        memcpy(&gA, g + c, nd), memcpy(&gB, g + C + c, nd);
        const mk_lanes o = adjoint_lanes(&Kl, tb, oA, oB, gA, gB);
        memcpy(EA + 1 + (c - i0), &o.ea, nd), memcpy(EB + 1 + (c - i0), &o.eb, nd);
        memcpy(mid + c, &o.A, nd), memcpy(mid + C + c, &o.B, nd);
        memcpy(gm + c, &o.gmA, nd), memcpy(gm + C + c, &o.gmB, nd);
        dk_add(&dk0, &dk1, &dk2, o.v, o.r);
    }
    EA[0] = EA[W], EA[W + 1] = EA[1], EB[0] = EB[W], EB[W + 1] = EB[1];
    dk_out[0] = hsum(dk0), dk_out[1] = hsum(dk1), dk_out[2] = hsum(dk2);
}

/* Row i's excitations from the tape into EA and EB, padded as dots9
 * reads them. */
static void excite_taped_row(const dca_mk *m, int64_t i, const uint8_t *tp, double *EA,
                             double *EB)
{
    const int64_t W = m->W;
    const uint8_t *b = tp + i * W;
    for (int64_t j = 0; j < W; j++)
        EA[1 + j] = b[j] & 1 ? 1.0 : 0.0, EB[1 + j] = b[j] & 2 ? 1.0 : 0.0;
    EA[0] = EA[W], EA[W + 1] = EA[1], EB[0] = EB[W], EB[W + 1] = EB[1];
}

/* Row i of the state before the step, x, from the state after diffusion,
 * mid (adjoint_taped_row's): the diffusion undone, (x - E) + E[src] minus
 * E[src] plus E. Exact for whole particle counts below 2^52. E: the step's
 * excitations, padded (the rows i - 1 .. i + 1). */
static void rebuild_row(const dca_mk *m, int64_t i, const int k[2], const double *restrict E,
                        const double *restrict mid, double *restrict x)
{
    const int64_t C = m->C, H = m->H, W = m->W, P = W + 2;
    for (int s = 0; s < 2; s++) {
        const double *Es = E + s * H * P, *e = Es + i * P + 1;
        const double *src = Es + wrap(i - OFF[k[s]][0], H) * P + 1 - OFF[k[s]][1];
        const double *ms = mid + s * C + i * W;
        double *xs = x + s * C + i * W;
        for (int64_t j = 0; j < W; j++)
            xs[j] = (ms[j] - src[j]) + e[j];
    }
}

/* The taped adjoint: one parallel region for the whole sweep and one
 * barrier a step. Each thread owns a block of rows. For them it rebuilds
 * from the tape and the next state the excitations, the states after
 * diffusion and dL/dmid, then dL/dx and, without states, the state before
 * the step. The diffusion's adjoint of its rows also reads the excitations
 * of the row on either side (from the tape) and dL/dmid of the row a
 * species' offset moves to: only then (about one step in five) does the
 * thread compute a row beyond its block in full. dL/d(out) and, without
 * states, the state alternate between two shared buffers, so a step's
 * rows are written while a neighbour still reads the last step's. A
 * thread sums its rows' gradient terms (rows: H x 21) by groups (grp: 2 x
 * (groups) x 21, the step's slot t mod 2); step t's groups are summed, its
 * contribution into d (T x 5), during step t - 1 in two parts, part q by
 * thread (t + q) mod (threads), and step 0's after the sweep. */
static void adjoint_taped(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                          int64_t T, const double *states, const double *xT, const uint8_t *tape,
                          const double *gT, double *g0, double *rows, double *grp,
                          mk_offsets *off, double *d)
{
    const int64_t C = m->C, H = m->H, W = m->W, ng = row_groups(H);
    const mk_consts K = consts(m, p);
    /* dL/d(out) and without states the state: two slots of 2 C each */
    double *gb = malloc((size_t)((xT ? 8 : 4) * C) * sizeof *gb), *xb = xT ? gb + 4 * C : NULL;
    memcpy(gb + (T & 1) * 2 * C, gT, (size_t)(2 * C) * sizeof *gb);
    if (xT)
        memcpy(xb + (T & 1) * 2 * C, xT, (size_t)(2 * C) * sizeof *xb);
    /* per thread: E (2 H (W + 2), rows padded for dots9), dL/dmid and the
     * states after diffusion (2 C each) */
    const size_t per = (size_t)(2 * H * (W + 2) + 4 * C);
    double *buf = malloc((size_t)omp_get_max_threads() * per * sizeof *buf);
#pragma omp parallel
    {
        const int id = omp_get_thread_num(), nt = omp_get_num_threads();
        double *E = buf + (size_t)id * per, *gm = E + 2 * H * (W + 2), *mid = gm + 2 * C;
        int64_t lo, hi;
        row_block(H, id, nt, &lo, &hi);
        const bool all = hi - lo + 2 >= H;
#pragma omp for schedule(static)
        for (int64_t t = 0; t < T; t++)
            offsets(m, p, conf, t0 + t, off + t);
        for (int64_t t = T - 1; t >= 0; t--) {
            const double *out = xT ? xb + ((t + 1) & 1) * 2 * C : states + (t + 1) * 2 * C;
            const double *g = gb + ((t + 1) & 1) * 2 * C;
            const uint8_t *tp = tape + t * C;
            const mk_offsets *o = off + t;
            if (t + 1 < T) /* the last step's groups are complete */
                for (int q = 0; q < 2; q++)
                    if ((t + 1 + q) % nt == id)
                        step_grad(m, grp + ((t + 1) & 1) * ng * 21, off + t + 1, q,
                                  d + 5 * (t + 1));
            if (lo < hi) {
                /* the rows' excitations, states after diffusion and the
                 * reaction's adjoint (a row outside the block: its dL/dk is
                 * its owner's, and only its excitations unless an offset
                 * moves there), then the diffusion's adjoint of the block */
                const int oyA = OFF[o->k[0]][0], oyB = OFF[o->k[1]][0];
                const bool up = oyA == -1 || oyB == -1, down = oyA == 1 || oyB == 1;
                const int64_t m0 = all ? 0 : lo - 1, m1 = all ? H : hi + 1;
                for (int64_t r = m0; r < m1; r++) {
                    const int64_t i = wrap(r, H);
                    const bool own = i >= lo && i < hi;
                    double dk[3];
                    if (own || all || (r < lo && up) || (r >= hi && down))
                        adjoint_taped_row(m, &K, i, tp, out, g, gm, mid, E + i * (W + 2),
                                          E + (H + i) * (W + 2), own ? rows + i * 21 : dk);
                    else
                        excite_taped_row(m, i, tp, E + i * (W + 2), E + (H + i) * (W + 2));
                }
                for (int64_t i = lo; i < hi; i++)
                    adjoint_diffuse_row(m, i, o->k, (const double(*)[9])o->y, E, gm, NULL, tp, NULL,
                                        gb + (t & 1) * 2 * C, NULL, NULL, rows + i * 21 + 3);
                group_sums(H, rows, lo / MK_GROUP, row_groups(hi), grp + (t & 1) * ng * 21);
                if (xT) /* x_t from x_t+1: the block's rows */
                    for (int64_t i = lo; i < hi; i++)
                        rebuild_row(m, i, o->k, E, mid, xb + (t & 1) * 2 * C);
            }
#pragma omp barrier
        }
        if (T > 0)
            for (int q = 0; q < 2; q++)
                if (q % nt == id)
                    step_grad(m, grp, off, q, d);
    }
    if (g0)
        memcpy(g0, gb, (size_t)(2 * C) * sizeof *g0);
    free(gb), free(buf);
}

/* The taped adjoint with its buffers, from the states or, without them,
 * from the final state xT; the steps' contributions added in order into
 * acc. */
static void taped_grad(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                       int64_t T, const double *states, const double *xT, const uint8_t *tape,
                       const double *gT, double *g0, double acc[5])
{
    double *rows = malloc((size_t)((m->H + 2 * row_groups(m->H)) * 21) * sizeof *rows);
    mk_offsets *off = malloc((size_t)(T > 0 ? T : 1) * sizeof *off);
    double *d = malloc((size_t)(T > 0 ? 5 * T : 1) * sizeof *d);
    adjoint_taped(m, p, conf, t0, T, states, xT, tape, gT, g0, rows, rows + m->H * 21, off, d);
    for (int64_t t = T - 1; t >= 0; t--)
        for (int j = 0; j < 5; j++)
            acc[j] += d[5 * t + j];
    free(rows), free(off), free(d);
}

dca_status dca_mk_adjoint_final(const dca_mk *m, const dca_mk_params *p, int64_t conf,
                                int64_t t0, int64_t T, const double *xT, const uint8_t *tape,
                                const double *gT, double *g0, double grad[5], dca_error *err)
{
    if (!tape || !dca_mk_tape_usable(m))
        return dca_error_set(err, DCA_ERR_ARG,
                             "the adjoint from the final state needs the run's tape, which only "
                             "the hard model with the identity surrogate keeps");
    double acc[5] = {0, 0, 0, 0, 0};
    taped_grad(m, p, conf, t0, T, NULL, xT, tape, gT, g0, acc);
    for (int j = 0; j < 5; j++)
        grad[j] += acc[j];
    return DCA_OK;
}

void dca_mk_adjoint_tape(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                         int64_t T, const double *states, const uint8_t *tape, const double *gT,
                         double *g0, double grad[5])
{
    const int64_t C = m->C, H = m->H, W = m->W;
    const bool taped = tape && dca_mk_tape_usable(m);
    double acc[5] = {0, 0, 0, 0, 0};
    if (taped)
        taped_grad(m, p, conf, t0, T, states, NULL, tape, gT, g0, acc);
    else {
        /* Replay: each step's words, excitations and mid from forward(),
         * then its adjoint, two parallel regions a step. */
        uint32_t *w = malloc((size_t)(4 * C) * sizeof *w);
        double *E = malloc((size_t)(6 * C) * sizeof *E), *mid = E + 2 * C, *y = E + 4 * C;
        double *g = malloc((size_t)(4 * C) * sizeof *g), *gm = g + 2 * C; /* g: after, gm: mid */
        double *rows = malloc((size_t)((H + row_groups(H)) * 21) * sizeof *rows);
        double *grp = rows + H * 21;
        const int nthreads = omp_get_max_threads();
        /* per-thread row scratch: dL/dE (W), offset_dots' rows (3 x (W + 2)),
         * adjoint_react_row's scratch (3 W) */
        double *scratch = malloc((size_t)(nthreads * (7 * W + 6)) * sizeof *scratch);
        const mk_consts K = consts(m, p);
        memcpy(g, gT, (size_t)(2 * C) * sizeof *g);
        for (int64_t t = T - 1; t >= 0; t--) {
            const double *x = states + t * 2 * C;
            mk_offsets o;
            forward(m, p, conf, t0 + t, 1, x, y, false, NULL, &o, w, E, mid);
#pragma omp parallel
            {
                double *gE = scratch + (size_t)omp_get_thread_num() * (size_t)(7 * W + 6);
                double *ext = gE + W, *tmp = ext + 3 * (W + 2);
#pragma omp for schedule(static)
                for (int64_t i = 0; i < H; i++)
                    adjoint_react_row(m, &K, i, w, mid, g, gm, tmp, rows + i * 21);
#pragma omp for schedule(static)
                for (int64_t i = 0; i < H; i++)
                    adjoint_diffuse_row(m, i, o.k, (const double(*)[9])o.y, E, gm, x, NULL, w,
                                        g, gE, ext, rows + i * 21 + 3);
            }
            double d[5];
            group_sums(H, rows, 0, row_groups(H), grp);
            step_grad(m, grp, &o, 2, d);
            for (int j = 0; j < 5; j++)
                acc[j] += d[j];
        }
        if (g0)
            memcpy(g0, g, (size_t)(2 * C) * sizeof *g);
        free(w), free(E), free(g), free(rows), free(scratch);
    }
    for (int j = 0; j < 5; j++)
        grad[j] += acc[j];
}

void dca_mk_offset_score(const dca_mk *m, const dca_mk_params *p, int64_t conf, int64_t t0,
                         int64_t T, double score[2])
{
    score[0] = score[1] = 0;
    for (int64_t t = 0; t < T; t++) {
        mk_offsets o;
        offsets(m, p, conf, t0 + t, &o);
        for (int s = 0; s < 2; s++)
            score[s] += o.dl[s][o.k[s]];
    }
}
