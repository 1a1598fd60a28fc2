#include "bits.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* A node reference: a gate (>= 0), a neighbour literal, or a constant. */
#define REF_C0 INT32_MIN
#define REF_C1 (INT32_MIN + 1)
#define REF_VAR(v) (-1 - (int32_t)(v))
#define IS_VAR(r) ((r) < 0 && (r) > REF_C1)
#define VAR_OF(r) (-1 - (r))

enum { G_MUX, G_AND, G_ANDN, G_OR, G_ORN, G_NOT, G_XOR, G_XNOR };

/* dst = op(x, lo, hi) where x is neighbour `var`: lo where x = 0, hi
 * where x = 1. */
typedef struct gate {
    uint8_t op;
    int32_t var, lo, hi;
    int32_t slot; /* temporary written (-1: the output row) */
} gate;

struct dca_bits {
    int64_t rows, cols, cells;
    int m;
    int32_t *dy, *dx;
    int64_t hy, hx, prows, pcols; /* halo widths and padded shape */
    gate *g;
    int ngates, nslots;
    int32_t root;
    int fixed0, fixed1;
    int64_t tile; /* cells per tile (along a row) for W = 1 */
};

/* ---- compiling: a reduced ordered decision diagram ----------------------- */

typedef struct memo_entry {
    int64_t off; /* bit offset of the subtable (-1: empty) */
    int32_t level, ref;
} memo_entry;

typedef struct compiler {
    const uint64_t *t; /* truth table bits */
    int m;
    memo_entry *memo;
    uint64_t mask; /* memo capacity - 1 */
    int64_t used;
    gate *g;
    int ngates, cap;
    int failed;
} compiler;

static uint64_t sub_bits(const compiler *c, int64_t off, int64_t n)
{
    uint64_t w = c->t[off >> 6] >> (off & 63);
    return n >= 64 ? w : w & ((UINT64_C(1) << n) - 1);
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 33);
}

/* 0: mixed, 1: all zero, 2: all one. */
static int constant_of(const compiler *c, int64_t off, int64_t n)
{
    if (n <= 64) {
        uint64_t v = sub_bits(c, off, n), ones = n == 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1;
        return v == 0 ? 1 : v == ones ? 2 : 0;
    }
    const uint64_t *w = c->t + (off >> 6);
    int zero = 1, one = 1;
    for (int64_t i = 0; i < n / 64 && (zero || one); i++) {
        zero &= w[i] == 0;
        one &= w[i] == ~UINT64_C(0);
    }
    return zero ? 1 : one ? 2 : 0;
}

static uint64_t hash_of(const compiler *c, int level, int64_t off, int64_t n)
{
    if (n <= 64)
        return mix(sub_bits(c, off, n) ^ ((uint64_t)level << 58) ^ (uint64_t)n);
    uint64_t h = (uint64_t)level * UINT64_C(0x9e3779b97f4a7c15);
    const uint64_t *w = c->t + (off >> 6);
    for (int64_t i = 0; i < n / 64; i++)
        h = mix(h ^ w[i]) + (uint64_t)i;
    return h;
}

/* Subtables at a and b equal (complement: a equals not b). */
static int same(const compiler *c, int64_t a, int64_t b, int64_t n, int complement)
{
    if (n <= 64) {
        uint64_t ones = n == 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1;
        uint64_t vb = sub_bits(c, b, n);
        return sub_bits(c, a, n) == (complement ? ~vb & ones : vb);
    }
    const uint64_t *wa = c->t + (a >> 6), *wb = c->t + (b >> 6);
    for (int64_t i = 0; i < n / 64; i++)
        if (wa[i] != (complement ? ~wb[i] : wb[i]))
            return 0;
    return 1;
}

static int32_t emit(compiler *c, int op, int var, int32_t lo, int32_t hi)
{
    if (c->ngates == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        gate *g = realloc(c->g, (size_t)cap * sizeof *g);
        if (!g) {
            c->failed = 1;
            return REF_C0;
        }
        c->g = g;
        c->cap = cap;
    }
    c->g[c->ngates] = (gate){(uint8_t)op, var, lo, hi, -1};
    return c->ngates++;
}

/* The function of neighbours level..m-1 given by the 2^(m-level) bits at
 * off. */
static int32_t build(compiler *c, int level, int64_t off)
{
    const int64_t n = (int64_t)1 << (c->m - level);
    int k = constant_of(c, off, n);
    if (k)
        return k == 1 ? REF_C0 : REF_C1;
    uint64_t h = hash_of(c, level, off, n);
    uint64_t i = h & c->mask;
    for (; c->memo[i].off >= 0; i = (i + 1) & c->mask)
        if (c->memo[i].level == level && same(c, c->memo[i].off, off, n, 0))
            return c->memo[i].ref;
    const int64_t half = n / 2;
    int32_t lo = build(c, level + 1, off), hi = build(c, level + 1, off + half);
    if (c->failed)
        return REF_C0;
    int32_t ref;
    if (lo == hi)
        ref = lo;
    else if (lo == REF_C0 && hi == REF_C1)
        ref = REF_VAR(level);
    else if (lo == REF_C1 && hi == REF_C0)
        ref = emit(c, G_NOT, level, lo, hi);
    else if (lo == REF_C0)
        ref = emit(c, G_AND, level, lo, hi);
    else if (hi == REF_C0)
        ref = emit(c, G_ANDN, level, lo, hi);
    else if (lo == REF_C1)
        ref = emit(c, G_ORN, level, lo, hi);
    else if (hi == REF_C1)
        ref = emit(c, G_OR, level, lo, hi);
    else if (same(c, off, off + half, half, 1))
        ref = emit(c, G_XOR, level, lo, hi);
    else
        ref = emit(c, G_MUX, level, lo, hi);
    if (c->failed)
        return REF_C0;
    /* The memo holds at most one entry per call; it was sized for all. */
    c->memo[i] = (memo_entry){off, level, ref};
    c->used++;
    return ref;
}

/* Temporaries: a gate's slot is taken before its operands' dead slots are
 * freed, so a gate never writes over what it reads. */
static int assign_slots(gate *g, int n, int32_t root)
{
    int *last = malloc((size_t)(n ? n : 1) * sizeof *last);
    int *free_slots = malloc((size_t)(n ? n : 1) * sizeof *free_slots);
    if (!last || !free_slots) {
        free(last), free(free_slots);
        return -1;
    }
    for (int i = 0; i < n; i++)
        last[i] = i;
    for (int i = 0; i < n; i++) {
        if (g[i].lo >= 0)
            last[g[i].lo] = i;
        if (g[i].hi >= 0)
            last[g[i].hi] = i;
    }
    int nfree = 0, nslots = 0;
    for (int i = 0; i < n; i++) {
        if (i == root) {
            g[i].slot = -1; /* the root writes the next state */
        } else {
            g[i].slot = nfree ? free_slots[--nfree] : nslots++;
        }
        int32_t ops[2] = {g[i].lo, g[i].hi};
        for (int o = 0; o < 2; o++)
            if (ops[o] >= 0 && last[ops[o]] == i && g[ops[o]].slot >= 0 &&
                (o == 0 || ops[1] != ops[0]))
                free_slots[nfree++] = g[ops[o]].slot;
    }
    free(last), free(free_slots);
    return nslots;
}

void dca_bits_destroy(dca_bits *b)
{
    if (!b)
        return;
    free(b->dy), free(b->dx), free(b->g);
    free(b);
}

dca_status dca_bits_create(int64_t rows, int64_t cols, int m, const int32_t *dy,
                           const int32_t *dx, const uint8_t *table, dca_bits **out,
                           dca_error *err)
{
    *out = NULL;
    if (m < 1 || m > DCA_BITS_MAX_NEIGHBOURS)
        return dca_error_set(err, DCA_ERR_UNSUPPORTED,
                             "bit-sliced evaluation takes 1 to %d neighbours; this rule has %d",
                             DCA_BITS_MAX_NEIGHBOURS, m);
    if (rows < 1 || cols < 1)
        return dca_error_set(err, DCA_ERR_ARG, "the lattice is empty (%lld x %lld)",
                             (long long)rows, (long long)cols);
    const int64_t P = (int64_t)1 << m, words = P < 64 ? 1 : P / 64;
    dca_bits *b = calloc(1, sizeof *b);
    uint64_t *t = calloc((size_t)words, sizeof *t);
    compiler c = {.t = t, .m = m};
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)P + 16)
        cap *= 2;
    c.memo = malloc(cap * sizeof *c.memo);
    c.mask = cap - 1;
    if (b) {
        b->dy = malloc((size_t)m * sizeof *b->dy);
        b->dx = malloc((size_t)m * sizeof *b->dx);
    }
    if (!b || !t || !c.memo || !b->dy || !b->dx) {
        free(t), free(c.memo), dca_bits_destroy(b);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory compiling a %d-neighbour rule", m);
    }
    for (uint64_t i = 0; i < cap; i++)
        c.memo[i].off = -1;
    for (int64_t p = 0; p < P; p++) {
        if (table[p] > 1) {
            free(t), free(c.memo), dca_bits_destroy(b);
            return dca_error_set(err, DCA_ERR_ARG,
                                 "bit-sliced evaluation is for binary rules; pattern %lld "
                                 "maps to state %d", (long long)p, table[p]);
        }
        t[p >> 6] |= (uint64_t)table[p] << (p & 63);
    }
    b->root = build(&c, 0, 0);
    free(c.memo);
    free(t);
    if (c.failed) {
        free(c.g), dca_bits_destroy(b);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory compiling a %d-neighbour rule", m);
    }
    b->g = c.g;
    b->ngates = c.ngates;
    /* Gates after the root are not needed by it: build() emits children
     * first, so the root is the last gate when it is one. */
    b->nslots = assign_slots(b->g, b->ngates, b->root);
    if (b->nslots < 0) {
        dca_bits_destroy(b);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory compiling a rule");
    }
    b->rows = rows;
    b->cols = cols;
    b->cells = rows * cols;
    b->m = m;
    for (int s = 0; s < m; s++) {
        b->dy[s] = rows == 1 ? 0 : dy[s];
        b->dx[s] = dx[s];
        int64_t ay = llabs((long long)b->dy[s]), ax = llabs((long long)dx[s]);
        b->hy = ay > b->hy ? ay : b->hy;
        b->hx = ax > b->hx ? ax : b->hx;
    }
    b->prows = rows + 2 * b->hy;
    b->pcols = cols + 2 * b->hx;
    b->fixed0 = table[0] == 0;
    b->fixed1 = table[P - 1] == 1;
    /* About 1 KiB of words per temporary keeps the live ones in L1. */
    b->tile = 128;
    *out = b;
    return DCA_OK;
}

dca_status dca_bits_from_hard(const dca_hard *h, dca_bits **out, dca_error *err)
{
    *out = NULL;
    if (dca_hard_states(h) != 2)
        return dca_error_set(err, DCA_ERR_UNSUPPORTED,
                             "bit-sliced evaluation is for 2-state rules; this one has %d",
                             dca_hard_states(h));
    dca_hard_geometry g;
    dca_hard_get_geometry(h, &g);
    if (g.m > DCA_BITS_MAX_NEIGHBOURS)
        return dca_error_set(err, DCA_ERR_UNSUPPORTED,
                             "bit-sliced evaluation takes up to %d neighbours; this rule has %d",
                             DCA_BITS_MAX_NEIGHBOURS, g.m);
    const uint8_t *tab = dca_hard_table(h);
    uint8_t *full = NULL;
    if (g.centre >= 0) {
        /* Outer-totalistic: the full table over all 2^m patterns. */
        const int64_t P = (int64_t)1 << g.m;
        full = malloc((size_t)P);
        if (!full)
            return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a %d-neighbour table",
                                 g.m);
        const int cbit = g.m - 1 - g.centre;
        for (int64_t p = 0; p < P; p++) {
            int alive = (int)((p >> cbit) & 1);
            int count = __builtin_popcountll((unsigned long long)p) - alive;
            full[p] = tab[alive * g.m + count];
        }
        tab = full;
    }
    dca_status st = dca_bits_create(g.rows, g.cols, g.m, g.dy, g.dx, tab, out, err);
    free(full);
    return st;
}

int dca_bits_gates(const dca_bits *b) { return b->ngates; }
int dca_bits_slots(const dca_bits *b) { return b->nslots; }
int64_t dca_bits_cells(const dca_bits *b) { return b->cells; }
int dca_bits_fixed0(const dca_bits *b) { return b->fixed0; }
int dca_bits_fixed1(const dca_bits *b) { return b->fixed1; }

void dca_bits_classified(const dca_bits *b, const uint64_t *x, int W, const uint8_t *major,
                         int64_t count, uint8_t *ok)
{
    const uint64_t fix0 = b->fixed0 ? ~UINT64_C(0) : 0, fix1 = b->fixed1 ? ~UINT64_C(0) : 0;
    uint64_t all1[DCA_BITS_MAX_WORDS], any1[DCA_BITS_MAX_WORDS];
    for (int w = 0; w < W; w++)
        all1[w] = ~UINT64_C(0), any1[w] = 0;
    for (int64_t c = 0; c < b->cells; c++)
        for (int w = 0; w < W; w++) {
            all1[w] &= x[c * W + w];
            any1[w] |= x[c * W + w];
        }
    for (int64_t i = 0; i < count; i++) {
        const int w = (int)(i / 64), bit = (int)(i % 64);
        const uint64_t hit = major[i] ? (all1[w] & fix1) >> bit : (~any1[w] & fix0) >> bit;
        ok[i] = (uint8_t)(hit & 1U);
    }
}

/* ---- running ------------------------------------------------------------- */

static int64_t tile_cells(const dca_bits *b, int W)
{
    int64_t t = b->tile / W;
    if (t < 1)
        t = 1;
    return t < b->cols ? t : b->cols;
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t dca_bits_work_bytes(const dca_bits *b, int W)
{
    size_t grid = round64((size_t)(b->prows * b->pcols * W) * sizeof(uint64_t));
    size_t slots = round64((size_t)(tile_cells(b, W) * W) * sizeof(uint64_t));
    return 2 * grid + (size_t)b->nslots * slots + 64;
}

/* Refills the halo of the padded grid p from its interior. */
static void fill_halo(const dca_bits *b, uint64_t *p, int W)
{
    const int64_t pc = b->pcols, hx = b->hx, hy = b->hy, cols = b->cols, rows = b->rows;
    if (hx)
        for (int64_t r = hy; r < hy + rows; r++) {
            uint64_t *row = p + r * pc * W;
            for (int64_t c = 0; c < hx; c++) {
                int64_t s = ((c - hx) % cols + cols) % cols;
                memcpy(row + c * W, row + (hx + s) * W, (size_t)W * sizeof *row);
                int64_t e = hx + cols + c, se = c % cols;
                memcpy(row + e * W, row + (hx + se) * W, (size_t)W * sizeof *row);
            }
        }
    for (int64_t r = 0; r < hy; r++) {
        int64_t s = ((r - hy) % rows + rows) % rows;
        memcpy(p + r * pc * W, p + (hy + s) * pc * W, (size_t)(pc * W) * sizeof *p);
        int64_t e = hy + rows + r, se = r % rows;
        memcpy(p + e * pc * W, p + (hy + se) * pc * W, (size_t)(pc * W) * sizeof *p);
    }
}

static void run_gate(const gate *g, uint64_t *restrict d, const uint64_t *restrict x,
                     const uint64_t *restrict lo, const uint64_t *restrict hi, int64_t n)
{
    switch (g->op) {
    case G_MUX:
        for (int64_t i = 0; i < n; i++)
            d[i] = lo[i] ^ (x[i] & (lo[i] ^ hi[i]));
        break;
    case G_AND:
        for (int64_t i = 0; i < n; i++)
            d[i] = x[i] & hi[i];
        break;
    case G_ANDN:
        for (int64_t i = 0; i < n; i++)
            d[i] = lo[i] & ~x[i];
        break;
    case G_OR:
        for (int64_t i = 0; i < n; i++)
            d[i] = lo[i] | x[i];
        break;
    case G_ORN:
        for (int64_t i = 0; i < n; i++)
            d[i] = hi[i] | ~x[i];
        break;
    case G_NOT:
        for (int64_t i = 0; i < n; i++)
            d[i] = ~x[i];
        break;
    case G_XOR:
        for (int64_t i = 0; i < n; i++)
            d[i] = lo[i] ^ x[i];
        break;
    default:
        break;
    }
}

int dca_bits_neighbours(const dca_bits *b) { return b->m; }

void dca_bits_eval(const dca_bits *b, const uint64_t *const *in, uint64_t *out, uint64_t *slots,
                   int64_t slot_words, int64_t n)
{
#define REF(ref)                                                                                 \
    ((ref) >= 0 ? (b->g[ref].slot < 0 ? out : slots + b->g[ref].slot * slot_words)              \
                : in[VAR_OF(ref)])
    for (int i = 0; i < b->ngates; i++) {
        const gate *g = b->g + i;
        uint64_t *d = g->slot < 0 ? out : slots + g->slot * slot_words;
        const uint64_t *x = in[g->var];
        const uint64_t *lo = g->lo == REF_C0 || g->lo == REF_C1 ? x : REF(g->lo);
        const uint64_t *hi = g->hi == REF_C0 || g->hi == REF_C1 ? x : REF(g->hi);
        run_gate(g, d, x, lo, hi, n);
    }
    if (b->root < 0) {
        if (b->root == REF_C0 || b->root == REF_C1)
            memset(out, b->root == REF_C1 ? 0xff : 0, (size_t)n * sizeof *out);
        else
            memcpy(out, REF(b->root), (size_t)n * sizeof *out);
    }
#undef REF
}

/* One step: q's interior from p (both padded). */
static void step(const dca_bits *b, const uint64_t *p, uint64_t *q, int W, uint64_t *slots,
                 int64_t slot_words)
{
    const int64_t pc = b->pcols, T = tile_cells(b, W);
    const uint64_t *in[DCA_BITS_MAX_NEIGHBOURS];
    for (int64_t r = 0; r < b->rows; r++)
        for (int64_t c0 = 0; c0 < b->cols; c0 += T) {
            const int64_t len = (c0 + T <= b->cols ? T : b->cols - c0) * W;
            for (int s = 0; s < b->m; s++)
                in[s] = p + ((r + b->hy + b->dy[s]) * pc + c0 + b->hx + b->dx[s]) * W;
            dca_bits_eval(b, in, q + ((r + b->hy) * pc + c0 + b->hx) * W, slots, slot_words,
                          len);
        }
}

void dca_bits_run(const dca_bits *b, uint64_t *x, int W, const uint64_t *active,
                  int64_t max_steps, int64_t *steps, void *work)
{
    const int64_t pc = b->pcols, grid_words = (int64_t)(round64(
                                                   (size_t)(b->prows * pc * W) * 8) / 8);
    const int64_t slot_words = (int64_t)(round64((size_t)(tile_cells(b, W) * W) * 8) / 8);
    uint64_t *p = work, *q = p + grid_words, *slots = q + grid_words;
    for (int64_t r = 0; r < b->rows; r++)
        memcpy(p + ((r + b->hy) * pc + b->hx) * W, x + r * b->cols * W,
               (size_t)(b->cols * W) * sizeof *x);
    uint64_t done[DCA_BITS_MAX_WORDS], act[DCA_BITS_MAX_WORDS];
    const int WW = W;
    for (int w = 0; w < WW; w++) {
        act[w] = active ? active[w] : ~UINT64_C(0);
        done[w] = ~act[w];
    }
    if (steps)
        for (int64_t j = 0; j < 64 * WW; j++)
            steps[j] = max_steps;
    const uint64_t f0 = b->fixed0 ? ~UINT64_C(0) : 0, f1 = b->fixed1 ? ~UINT64_C(0) : 0;
    for (int64_t t = 0; t < max_steps; t++) {
        fill_halo(b, p, W);
        step(b, p, q, W, slots, slot_words);
        uint64_t *s = p;
        p = q;
        q = s;
        /* Uniform fixed points: all ones (and all-ones is fixed), or all
         * zeros (and all-zeros is fixed). */
        uint64_t all1[DCA_BITS_MAX_WORDS], any1[DCA_BITS_MAX_WORDS];
        for (int w = 0; w < WW; w++)
            all1[w] = ~UINT64_C(0), any1[w] = 0;
        for (int64_t r = 0; r < b->rows; r++) {
            const uint64_t *row = p + ((r + b->hy) * pc + b->hx) * W;
            for (int64_t c = 0; c < b->cols; c++)
                for (int w = 0; w < WW; w++) {
                    all1[w] &= row[c * W + w];
                    any1[w] |= row[c * W + w];
                }
        }
        int finished = 1;
        for (int w = 0; w < WW; w++) {
            uint64_t stop = ((all1[w] & f1) | (~any1[w] & f0)) & ~done[w];
            if (steps)
                for (uint64_t m = stop; m; m &= m - 1)
                    steps[64 * w + __builtin_ctzll(m)] = t + 1;
            done[w] |= stop;
            finished &= done[w] == ~UINT64_C(0);
        }
        if (finished)
            break;
    }
    for (int64_t r = 0; r < b->rows; r++)
        memcpy(x + r * b->cols * W, p + ((r + b->hy) * pc + b->hx) * W,
               (size_t)(b->cols * W) * sizeof *x);
}
