/* The one-pixel random-walk cellular Potts model (seed 001, thesis 7.5;
 * dca/slm.h). The cell has at most two pixels, so a lattice is its pixel
 * list in unwrapped coordinates; the boundary (the pixels that can take part
 * in a copy) is the cell with its Moore neighbours, at most 14 pixels. A
 * source drawn from all pixels that is not among them has only background
 * neighbours: its step changes nothing. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dca/slm.h"
#include "rng.h"

struct dca_potts {
    int64_t H, W;
    dca_potts_sampling sampling;
    uint64_t seed;
};

static const int OFF[8][2] = {{-1, -1}, {-1, 0}, {-1, 1}, {0, -1},
                              {0, 1},   {1, -1}, {1, 0},  {1, 1}};

dca_status dca_potts_create(const dca_lattice *lat, dca_potts_sampling sampling, uint64_t seed,
                            dca_potts **out, dca_error *err)
{
    *out = NULL;
    if (lat->dims != 2 || lat->shape[0] < 5 || lat->shape[1] < 5)
        return dca_error_set(err, DCA_ERR_ARG,
                             "the Potts model needs a torus of at least 5x5 pixels (a cell of two "
                             "pixels and its neighbours must not wrap onto themselves)");
    dca_potts *p = calloc(1, sizeof *p);
    if (!p)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    p->H = lat->shape[0];
    p->W = lat->shape[1];
    p->sampling = sampling;
    p->seed = seed;
    *out = p;
    return DCA_OK;
}

void dca_potts_destroy(dca_potts *p) { free(p); }

dca_status dca_potts_check_temperature(double T, dca_error *err)
{
    if (T > 0 && isfinite(T))
        return DCA_OK;
    return dca_error_set(err, DCA_ERR_ARG,
                         "temperature T = %.17g: expected T > 0 (growth is accepted with "
                         "probability e^(-1/T))",
                         T);
}

typedef struct px {
    int64_t r, c;
} px;

typedef struct event {
    px src, tgt;
    signed char dv, h, tdep;
} event;

static inline int64_t torus_key(const dca_potts *p, px a)
{
    int64_t r = a.r % p->H, c = a.c % p->W;
    r += r < 0 ? p->H : 0;
    c += c < 0 ? p->W : 0;
    return r * p->W + c;
}

static inline bool same(px a, px b) { return a.r == b.r && a.c == b.c; }

/* The boundary pixels, sorted by row-major torus index; returns the count. */
static int boundary(const dca_potts *p, const px *cell, int v, px *out)
{
    int n = 0;
    int64_t keys[16];
    for (int k = 0; k < v; k++)
        for (int o = -1; o < 8; o++) {
            const px q = o < 0 ? cell[k] : (px){cell[k].r + OFF[o][0], cell[k].c + OFF[o][1]};
            bool dup = false;
            for (int i = 0; i < n && !dup; i++)
                dup = same(out[i], q);
            if (dup)
                continue;
            /* insertion by key */
            const int64_t key = torus_key(p, q);
            int i = n++;
            for (; i > 0 && keys[i - 1] > key; i--) {
                keys[i] = keys[i - 1];
                out[i] = out[i - 1];
            }
            keys[i] = key;
            out[i] = q;
        }
    return n;
}

/* A small open-addressing map from unwrapped pixels to adjoints. */
typedef struct gmap {
    px *key;
    double *val;
    unsigned char *used;
    int64_t cap;
} gmap;

static double *gmap_get(gmap *m, px q, double init)
{
    uint64_t h = ((uint64_t)q.r * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)q.c * 0xC2B2AE3D27D4EB4FULL);
    for (int64_t i = (int64_t)(h & (uint64_t)(m->cap - 1));; i = (i + 1) & (m->cap - 1)) {
        if (!m->used[i]) {
            m->used[i] = 1;
            m->key[i] = q;
            m->val[i] = init;
            return &m->val[i];
        }
        if (same(m->key[i], q))
            return &m->val[i];
    }
}

void dca_potts_run(const dca_potts *p, double T, int64_t first, int64_t count, int64_t steps,
                   double *msd, double *accepted, double *rejected, double *ste, int64_t *final)
{
    const double pg = exp(-1.0 / T), dpdT = pg / (T * T);
    int64_t cap = 16;
    while (cap < 4 * (steps + 4))
        cap *= 2;
#pragma omp parallel
    {
        enum { CHUNK = 256 };
        uint32_t words[4 * CHUNK];
        event *ev = ste ? malloc((size_t)(steps > 0 ? steps : 1) * sizeof *ev) : NULL;
        gmap m = {0};
        if (ste) {
            m.cap = cap;
            m.key = malloc((size_t)cap * sizeof *m.key);
            m.val = malloc((size_t)cap * sizeof *m.val);
            m.used = malloc((size_t)cap);
        }
#pragma omp for schedule(static)
        for (int64_t l = 0; l < count; l++) {
            const px start = {p->H / 2, p->W / 2};
            px cell[2] = {start, start}, bd[16];
            int v = 1, nb = boundary(p, cell, v, bd);
            int64_t nev = 0;
            double A = 0, R = 0;
            for (int64_t s0 = 0; s0 < steps; s0 += CHUNK) {
                const int64_t n = steps - s0 < CHUNK ? steps - s0 : CHUNK;
                dca_rng_words(p->seed, DCA_RNG_POTTS, (uint64_t)(first + l), (uint64_t)s0, n,
                              words);
                for (int64_t s = 0; s < n; s++) {
                    const uint32_t *w = words + 4 * s;
                    const uint64_t u = (uint64_t)w[0] << 32 | w[1];
                    px src;
                    if (p->sampling == DCA_POTTS_BOUNDARY) {
                        src = bd[(int)(((unsigned __int128)u * (unsigned)nb) >> 64)];
                    } else {
                        const int64_t key =
                            (int64_t)(((unsigned __int128)u * (uint64_t)(p->H * p->W)) >> 64);
                        int i = 0;
                        while (i < nb && torus_key(p, bd[i]) != key)
                            i++;
                        if (i == nb)
                            continue; /* background among background */
                        src = bd[i];
                    }
                    const int k = (int)(w[2] >> 29);
                    const px tgt = {src.r + OFF[k][0], src.c + OFF[k][1]};
                    const int Ls = same(src, cell[0]) || (v == 2 && same(src, cell[1]));
                    const int Lt = same(tgt, cell[0]) || (v == 2 && same(tgt, cell[1]));
                    if (Ls == Lt)
                        continue;
                    const int dv = Ls - Lt;
                    double prob;
                    bool tdep = false;
                    if (v + dv > 2 || v + dv < 1)
                        prob = 0;
                    else if (dv == -1)
                        prob = 1; /* v == 2 here */
                    else
                        prob = pg, tdep = true;
                    const double xi = (double)w[3] * 0x1.0p-32;
                    const int h = prob > xi;
                    if (tdep)
                        h ? (A += 1) : (R += 1);
                    if (ev)
                        ev[nev++] = (event){src, tgt, (signed char)dv, (signed char)h,
                                            (signed char)tdep};
                    if (!h)
                        continue;
                    if (dv == 1) {
                        cell[1] = tgt;
                        v = 2;
                    } else {
                        if (same(tgt, cell[0]))
                            cell[0] = cell[1];
                        cell[1] = cell[0];
                        v = 1;
                    }
                    nb = boundary(p, cell, v, bd); /* only when the cell changed */
                }
            }
            const double cr = v == 2 ? 0.5 * (double)(cell[0].r + cell[1].r) : (double)cell[0].r;
            const double cc = v == 2 ? 0.5 * (double)(cell[0].c + cell[1].c) : (double)cell[0].c;
            const double dr = cr - (double)start.r, dc = cc - (double)start.c;
            if (msd)
                msd[l] = dr * dr + dc * dc;
            if (accepted)
                accepted[l] = A;
            if (rejected)
                rejected[l] = R;
            if (final) {
                final[4 * l] = cell[0].r, final[4 * l + 1] = cell[0].c;
                final[4 * l + 2] = cell[1].r, final[4 * l + 3] = cell[1].c;
            }
            if (ste) {
                /* dmsd/dL_x = 2 d.(x - c)/V at the end; then the events backwards:
                 * L_j' = L_j + h (L_i - L_j). */
                memset(m.used, 0, (size_t)m.cap);
#define G0(q) (2.0 * (dr * ((double)(q).r - cr) + dc * ((double)(q).c - cc)) / (double)v)
                double gT = 0;
                for (int64_t e = nev - 1; e >= 0; e--) {
                    const event *x = &ev[e];
                    double *gj = gmap_get(&m, x->tgt, G0(x->tgt));
                    if (x->tdep)
                        gT += *gj * x->dv * dpdT;
                    if (x->h) {
                        const double g = *gj;
                        *gj = 0;
                        *gmap_get(&m, x->src, G0(x->src)) += g;
                    }
                }
#undef G0
                ste[l] = gT;
            }
        }
        free(ev), free(m.key), free(m.val), free(m.used);
    }
}

double dca_potts_score_gradient(double T, int64_t n, const double *msd, const double *accepted,
                                const double *rejected)
{
    if (n < 2)
        return NAN;
    const double pg = exp(-1.0 / T), dpdT = pg / (T * T);
    double sum = 0;
    for (int64_t l = 0; l < n; l++)
        sum += msd[l];
    double g = 0;
    for (int64_t l = 0; l < n; l++) {
        const double b = (sum - msd[l]) / (double)(n - 1);
        const double score = (accepted[l] / pg - rejected[l] / (1 - pg)) * dpdT;
        g += (msd[l] - b) * score;
    }
    return g / (double)n;
}
