#include "cellbits.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "mem.h"

struct dca_cellbits {
    dca_bits *b;
    int64_t rows, cols, wr; /* wr: words per row */
    int m, nslots, threads;
    int32_t *dy, *dx;
    int64_t pw, ew;    /* pad words on each side of an extended row; its words */
    uint64_t *E;       /* rows x ew: the state before the step, wrapped */
    uint64_t last;     /* the valid bits of a row's last word */
    int64_t tw;        /* words per chunk of a row */
    uint64_t *scratch; /* threads x (m + nslots) x tw */
};

/* Words per chunk: the neighbours' shifted words and the circuit's
 * temporaries of one chunk stay in L1. */
enum { CHUNK_WORDS = 64 };

void dca_cellbits_destroy(dca_cellbits *c)
{
    if (!c)
        return;
    dca_bits_destroy(c->b);
    free(c->dy), free(c->dx), free(c->E), free(c->scratch);
    free(c);
}

dca_status dca_cellbits_create(const dca_hard *h, int threads, dca_cellbits **out,
                               dca_error *err)
{
    *out = NULL;
    dca_hard_geometry g;
    dca_hard_get_geometry(h, &g);
    dca_bits *b = NULL;
    dca_status st = dca_bits_from_hard(h, &b, err);
    if (st)
        return st;
    dca_cellbits *c = calloc(1, sizeof *c);
    if (!c) {
        dca_bits_destroy(b);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    c->b = b;
    c->rows = g.rows;
    c->cols = g.cols;
    c->wr = (g.cols + 63) / 64;
    c->m = g.m;
    c->nslots = dca_bits_slots(b);
    c->dy = malloc((size_t)g.m * sizeof *c->dy);
    c->dx = malloc((size_t)g.m * sizeof *c->dx);
    if (!c->dy || !c->dx) {
        dca_cellbits_destroy(c);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    int64_t hx = 0;
    for (int s = 0; s < g.m; s++) {
        /* Offsets reduced onto the torus: a neighbour further than the
         * lattice is wide is the same cell as its remainder. */
        c->dy[s] = g.rows == 1 ? 0 : (int32_t)(((int64_t)g.dy[s] % g.rows + g.rows) % g.rows);
        int64_t x = ((int64_t)g.dx[s] % g.cols + g.cols) % g.cols;
        if (x > g.cols / 2)
            x -= g.cols;
        c->dx[s] = (int32_t)x;
        hx = llabs((long long)x) > hx ? llabs((long long)x) : hx;
    }
    c->pw = (hx + 63) / 64;
    c->pw = c->pw > 0 ? c->pw : 1;
    c->ew = c->wr + 2 * c->pw + 1;
    c->last = g.cols % 64 ? (UINT64_C(1) << (g.cols % 64)) - 1 : ~UINT64_C(0);
    c->tw = c->wr < CHUNK_WORDS ? c->wr : CHUNK_WORDS;
    int th = threads > 0 ? threads : omp_get_max_threads();
    c->threads = (int64_t)th > c->rows ? (int)c->rows : th;
    const double bytes = 8.0 * ((double)c->rows * (double)c->ew +
                                (double)c->threads * (c->m + c->nslots) * (double)c->tw);
    if (bytes > (double)dca_mem_physical() / 2) {
        dca_cellbits_destroy(c);
        return dca_error_set(err, DCA_ERR_NOMEM, "the bit-parallel engine needs %.3g bytes",
                             bytes);
    }
    c->E = dca_alloc((size_t)(c->rows * c->ew) * sizeof *c->E);
    c->scratch =
        dca_alloc((size_t)((int64_t)c->threads * (c->m + c->nslots) * c->tw) * sizeof *c->scratch);
    if (!c->E || !c->scratch) {
        dca_cellbits_destroy(c);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the bit-parallel engine");
    }
    *out = c;
    return DCA_OK;
}

int64_t dca_cellbits_words(const dca_cellbits *c) { return c->rows * c->wr; }
int dca_cellbits_threads(const dca_cellbits *c) { return c->threads; }
int dca_cellbits_gates(const dca_cellbits *c) { return dca_bits_gates(c->b); }

bool dca_cellbits_pack(const dca_cellbits *c, const double *x, uint64_t *s)
{
    bool exact = true;
    for (int64_t r = 0; r < c->rows; r++) {
        const double *xr = x + r * c->cols;
        uint64_t *sr = s + r * c->wr;
        for (int64_t w = 0; w < c->wr; w++) {
            const int64_t c0 = 64 * w, n = c->cols - c0 < 64 ? c->cols - c0 : 64;
            uint64_t v = 0;
            for (int64_t i = 0; i < n; i++) {
                exact &= xr[c0 + i] == 0.0 || xr[c0 + i] == 1.0;
                v |= (uint64_t)(xr[c0 + i] == 1.0) << i;
            }
            sr[w] = v;
        }
    }
    return exact;
}

void dca_cellbits_unpack(const dca_cellbits *c, const uint64_t *s, double *x)
{
    for (int64_t r = 0; r < c->rows; r++)
        for (int64_t col = 0; col < c->cols; col++)
            x[r * c->cols + col] = (double)((s[r * c->wr + col / 64] >> (col % 64)) & 1);
}

static inline uint64_t bit_at(const uint64_t *row, int64_t col)
{
    return (row[col >> 6] >> (col & 63)) & 1;
}

/* 64 consecutive columns from c (0 <= c < cols, cols >= 64), wrapping at
 * cols; the row's bits beyond cols are 0. */
static inline uint64_t bits_from(const dca_cellbits *cb, const uint64_t *row, int64_t c)
{
    const int64_t q = c >> 6, s = c & 63;
    uint64_t v = row[q] >> s;
    if (s && q + 1 < cb->wr)
        v |= row[q + 1] << (64 - s);
    const int64_t n = cb->cols - c; /* columns before the wrap */
    if (n < 64)
        v |= row[0] << n;
    return v;
}

/* e: the row with the torus wrapped around it; bit k is column
 * (k - 64 pw) mod cols, for k in [0, 64 ew). */
static void extend(const dca_cellbits *c, const uint64_t *row, uint64_t *e)
{
    const int64_t pw = c->pw, wr = c->wr, ew = c->ew, cols = c->cols, base = 64 * pw;
    if (cols >= 64) {
        /* Whole words: the middle is the row, the pads and the word that
         * holds the wrap are extracted with it. */
        if (wr > 1)
            memcpy(e + pw, row, (size_t)(wr - 1) * sizeof *e);
        for (int64_t w = 0; w < pw; w++)
            e[w] = bits_from(c, row, ((64 * w - base) % cols + cols) % cols);
        for (int64_t w = pw + wr - 1; w < ew; w++)
            e[w] = bits_from(c, row, (64 * w - base) % cols);
        return;
    }
    /* Narrower than a word: bit by bit. */
    for (int64_t w = 0; w < ew; w++)
        e[w] = 0;
    for (int64_t k = 0; k < 64 * ew; k++) {
        const int64_t col = ((k - base) % cols + cols) % cols;
        e[k >> 6] |= bit_at(row, col) << (k & 63);
    }
}

/* Row r of the next state from E, into out (wr words). */
static void next_row(const dca_cellbits *c, int64_t r, uint64_t *out, uint64_t *scratch)
{
    const uint64_t *in[DCA_BITS_MAX_NEIGHBOURS];
    uint64_t *slots = scratch + (int64_t)c->m * c->tw;
    for (int64_t j0 = 0; j0 < c->wr; j0 += c->tw) {
        const int64_t n = c->wr - j0 < c->tw ? c->wr - j0 : c->tw;
        for (int s = 0; s < c->m; s++) {
            int64_t rr = r + c->dy[s];
            rr = rr >= c->rows ? rr - c->rows : rr;
            const uint64_t *src = c->E + rr * c->ew;
            const int64_t o = 64 * (c->pw + j0) + c->dx[s], q = o >> 6;
            const int sh = (int)(o & 63);
            if (sh == 0) {
                in[s] = src + q;
                continue;
            }
            uint64_t *d = scratch + (int64_t)s * c->tw;
            for (int64_t i = 0; i < n; i++)
                d[i] = (src[q + i] >> sh) | (src[q + i + 1] << (64 - sh));
            in[s] = d;
        }
        dca_bits_eval(c->b, in, out + j0, slots, c->tw, n);
    }
    out[c->wr - 1] &= c->last;
}

void dca_cellbits_run(dca_cellbits *c, uint64_t *s, int64_t steps)
{
    for (int64_t t = 0; t < steps; t++) {
#pragma omp parallel num_threads(c->threads)
        {
            uint64_t *scratch =
                c->scratch + (int64_t)omp_get_thread_num() * (c->m + c->nslots) * c->tw;
#pragma omp for schedule(static)
            for (int64_t r = 0; r < c->rows; r++)
                extend(c, s + r * c->wr, c->E + r * c->ew);
#pragma omp for schedule(static)
            for (int64_t r = 0; r < c->rows; r++)
                next_row(c, r, s + r * c->wr, scratch);
        }
    }
}
