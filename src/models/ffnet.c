/* Feed-forward networks of sigmoid units (seeds 003 and 004), model type of
 * dca/learn.h. Forward and backward passes are GEMMs over the pattern batch:
 * with A_l the (B, n_l) activations of layer l and W_l = [V_l | b_l],
 *
 *   Z_{l+1} = A_l V_l^T + 1 b_l^T,   A_{l+1} = sigmoid(Z_{l+1}) (or Z, linear output),
 *   E = (1 / (B n_out)) sum (A_L - T)^2,
 *   D_L = dE/dZ_L = 2 (A_L - T) / (B n_out) * sigmoid',
 *   dE/dV_l = D_{l+1}^T A_l,  dE/db_l = column sums of D_{l+1},
 *   D_l = (D_{l+1} V_l) * A_l (1 - A_l).
 *
 * OpenBLAS runs these single-threaded inside an OpenMP region (an ensemble
 * runs one network per thread); the results do not depend on the thread
 * count because every element of a product is summed in the same order. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dca/learn.h"
#include "mem.h"

struct dca_ffnet {
    int L; /* layers */
    int64_t *n;
    int64_t *woff; /* parameter offset of W_l */
    int64_t P, B, hidden;
    bool linear_output;
    double *x, *t; /* B x n_0, B x n_out */
    double **a;    /* a[l]: B x n_l (a[0] = x) */
    double **d;    /* d[l]: B x n_l, l >= 1 */
};

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

void dca_ffnet_destroy(dca_ffnet *net)
{
    if (!net)
        return;
    for (int l = 1; l < net->L; l++) {
        free(net->a ? net->a[l] : NULL);
        free(net->d ? net->d[l] : NULL);
    }
    free(net->a), free(net->d), free(net->n), free(net->woff), free(net->x), free(net->t);
    free(net);
}

dca_status dca_ffnet_create(int n_layers, const int64_t *sizes, bool linear_output,
                            int64_t patterns, const double *inputs, const double *targets,
                            dca_ffnet **out, dca_error *err)
{
    *out = NULL;
    if (n_layers < 2)
        return dca_error_set(err, DCA_ERR_ARG, "a network needs at least 2 layers, got %d",
                             n_layers);
    if (patterns < 1)
        return dca_error_set(err, DCA_ERR_ARG, "a network needs at least one pattern");
    for (int l = 0; l < n_layers; l++)
        if (sizes[l] < 1 || sizes[l] > (int64_t)1 << 24)
            return dca_error_set(err, DCA_ERR_ARG, "layer %d has %lld units (expected 1..%d)", l,
                                 (long long)sizes[l], 1 << 24);
    dca_ffnet *net = calloc(1, sizeof *net);
    if (!net)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    net->L = n_layers;
    net->B = patterns;
    net->linear_output = linear_output;
    net->n = malloc((size_t)n_layers * sizeof *net->n);
    net->woff = malloc((size_t)n_layers * sizeof *net->woff);
    net->a = calloc((size_t)n_layers, sizeof *net->a);
    net->d = calloc((size_t)n_layers, sizeof *net->d);
    if (!net->n || !net->woff || !net->a || !net->d)
        goto nomem;
    memcpy(net->n, sizes, (size_t)n_layers * sizeof *sizes);
    for (int l = 0; l + 1 < n_layers; l++) {
        net->woff[l] = net->P;
        net->P += net->n[l + 1] * (net->n[l] + 1);
    }
    for (int l = 1; l + 1 < n_layers; l++)
        net->hidden += net->n[l];
    const int64_t n0 = net->n[0], no = net->n[n_layers - 1];
    net->x = dca_alloc((size_t)(patterns * n0) * sizeof(double));
    net->t = dca_alloc((size_t)(patterns * no) * sizeof(double));
    if (!net->x || !net->t)
        goto nomem;
    memcpy(net->x, inputs, (size_t)(patterns * n0) * sizeof(double));
    memcpy(net->t, targets, (size_t)(patterns * no) * sizeof(double));
    net->a[0] = net->x;
    for (int l = 1; l < n_layers; l++) {
        net->a[l] = dca_alloc((size_t)(patterns * net->n[l]) * sizeof(double));
        net->d[l] = dca_alloc((size_t)(patterns * net->n[l]) * sizeof(double));
        if (!net->a[l] || !net->d[l])
            goto nomem;
    }
    *out = net;
    return DCA_OK;
nomem:
    net->a[0] = NULL;
    dca_ffnet_destroy(net);
    return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a network");
}

int64_t dca_ffnet_params(const dca_ffnet *net) { return net->P; }
int64_t dca_ffnet_hidden(const dca_ffnet *net) { return net->hidden; }

/* Forward pass; hidden unit `cut` (-1: none) outputs 0. */
static void forward(dca_ffnet *net, const double *w, int64_t cut)
{
    const int64_t B = net->B;
    int64_t first_hidden = 0;
    for (int l = 0; l + 1 < net->L; l++) {
        const int64_t ni = net->n[l], no = net->n[l + 1], ld = ni + 1;
        const double *W = w + net->woff[l];
        double *z = net->a[l + 1];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)no, (int)ni, 1.0,
                    net->a[l], (int)ni, W, (int)ld, 0.0, z, (int)no);
        const bool linear = net->linear_output && l + 2 == net->L;
        for (int64_t p = 0; p < B; p++)
            for (int64_t j = 0; j < no; j++) {
                double v = z[p * no + j] + W[j * ld + ni];
                z[p * no + j] = linear ? v : sigmoid(v);
            }
        if (l + 2 < net->L) {
            const int64_t h = cut - first_hidden;
            if (h >= 0 && h < no)
                for (int64_t p = 0; p < B; p++)
                    z[p * no + h] = 0.0;
            first_hidden += no;
        }
    }
}

static double error_of(const dca_ffnet *net)
{
    const int64_t no = net->n[net->L - 1], count = net->B * no;
    const double *o = net->a[net->L - 1];
    double s = 0;
    for (int64_t i = 0; i < count; i++) {
        const double e = o[i] - net->t[i];
        s += e * e;
    }
    return s / (double)count;
}

void dca_ffnet_eval(dca_ffnet *net, const double *w, double *E, double *grad, double *outputs)
{
    forward(net, w, -1);
    const int L = net->L;
    const int64_t B = net->B, nout = net->n[L - 1];
    *E = error_of(net);
    if (outputs)
        memcpy(outputs, net->a[L - 1], (size_t)(B * nout) * sizeof(double));
    if (!grad)
        return;
    {
        const double scale = 2.0 / (double)(B * nout);
        const double *o = net->a[L - 1];
        double *D = net->d[L - 1];
        for (int64_t i = 0; i < B * nout; i++) {
            const double g = scale * (o[i] - net->t[i]);
            D[i] = net->linear_output ? g : g * o[i] * (1.0 - o[i]);
        }
    }
    for (int l = L - 2; l >= 0; l--) {
        const int64_t ni = net->n[l], no = net->n[l + 1], ld = ni + 1;
        const double *W = w + net->woff[l];
        double *G = grad + net->woff[l];
        const double *D = net->d[l + 1];
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)no, (int)ni, (int)B, 1.0, D,
                    (int)no, net->a[l], (int)ni, 0.0, G, (int)ld);
        for (int64_t j = 0; j < no; j++) {
            double s = 0;
            for (int64_t p = 0; p < B; p++)
                s += D[p * no + j];
            G[j * ld + ni] = s;
        }
        if (l == 0)
            break;
        double *Dl = net->d[l];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)ni, (int)no, 1.0, D,
                    (int)no, W, (int)ld, 0.0, Dl, (int)ni);
        const double *a = net->a[l];
        for (int64_t i = 0; i < B * ni; i++)
            Dl[i] *= a[i] * (1.0 - a[i]);
    }
}

double dca_ffnet_damaged(dca_ffnet *net, const double *w, int64_t h)
{
    forward(net, w, h);
    return error_of(net);
}

double dca_ffnet_robustness(dca_ffnet *net, const double *w, double threshold, double *damaged)
{
    if (net->hidden == 0)
        return 0.0;
    int64_t ok = 0;
    for (int64_t h = 0; h < net->hidden; h++) {
        const double e = dca_ffnet_damaged(net, w, h);
        if (damaged)
            damaged[h] = e;
        ok += e < threshold;
    }
    return (double)ok / (double)net->hidden;
}

/* ---- the shipped bitmaps --------------------------------------------------- */

/* 5x7, rows top to bottom (configs/data/ holds the same drawings as text). */
static const char *const glyphs[][2] = {
    {"A", ".###.#...##...#######...##...##...#"}, {"E", "######....#....####.#....#....#####"},
    {"I", ".###...#....#....#....#....#...###."}, {"O", ".###.#...##...##...##...##...#.###."},
    {"U", "#...##...##...##...##...##...#.###."}, {"0", ".###.#...##..###.#.###..##...#.###."},
    {"1", "..#...##....#....#....#....#...###."}, {"2", ".###.#...#....#...#...#...#...#####"},
    {"3", "#####...#...#.....#.....##...#.###."}, {"4", "...#...##..#.#.#..#.#####...#....#."},
    {"5", "######....####.....#....##...#.###."}, {"6", "..##..#...#....####.#...##...#.###."},
    {"7", "#####....#...#...#...#....#....#..."}, {"8", ".###.#...##...#.###.#...##...#.###."},
    {"9", ".###.#...##...#.####....#...#..##.."},
};

int64_t dca_bitmaps(const char *name, double *inputs, double *targets)
{
    int64_t count;
    if (strcmp(name, "vowels") == 0)
        count = 5;
    else if (strcmp(name, "vowels+digits") == 0)
        count = 15;
    else
        return -1;
    for (int64_t p = 0; p < count; p++) {
        for (int i = 0; i < 35 && inputs; i++)
            inputs[p * 35 + i] = glyphs[p][1][i] == '#';
        for (int64_t q = 0; q < count && targets; q++)
            targets[p * count + q] = p == q;
    }
    return count;
}

const char *dca_bitmaps_text(const char *name)
{
    static char text[2][1024];
    const int which = strcmp(name, "vowels") == 0 ? 0 : strcmp(name, "vowels+digits") == 0 ? 1 : -1;
    if (which < 0)
        return NULL;
    char *s = text[which];
    if (!s[0]) {
        size_t n = 0;
        for (int p = 0; p < (which ? 15 : 5); p++) {
            n += (size_t)snprintf(s + n, sizeof text[0] - n, "%s%s\n", p ? "\n" : "", glyphs[p][0]);
            for (int r = 0; r < 7; r++)
                n += (size_t)snprintf(s + n, sizeof text[0] - n, "%.5s\n", glyphs[p][1] + 5 * r);
        }
    }
    return s;
}

static bool pixel_row(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '#' && s[i] != '.')
            return false;
    return true;
}

/* A bitmap of r rows ends: the first sets the row count R, the others must
 * match it. On a mismatch frees x and fills err. */
static bool block_closes(int64_t *R, int64_t r, int64_t n, const char *origin, int64_t line,
                         double *x, dca_error *err)
{
    if (*R < 0)
        *R = r;
    if (r == *R && r > 0)
        return true;
    free(x);
    dca_error_set(err, DCA_ERR_FORMAT, "%s:%lld: bitmap %lld has %lld rows, the first had %lld",
                  origin, (long long)line, (long long)n, (long long)r, (long long)*R);
    return false;
}

dca_status dca_bitmaps_parse(const char *text, const char *origin, double **inputs,
                             int64_t *count, int64_t *rows, int64_t *cols, dca_error *err)
{
    *inputs = NULL;
    *count = *rows = *cols = 0;
    int64_t cap = 0, n = 0, r = 0, c = -1, R = -1, line = 0;
    double *x = NULL;
    bool in_block = false;
    for (const char *s = text; *s;) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        const char *next = e ? e + 1 : s + len;
        line++;
        while (len && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        const bool comment = len >= 1 && s[0] == '#' && (len == 1 || s[1] == ' ');
        if (comment && !in_block) {
            s = next;
            continue;
        }
        if (len == 0) {
            if (in_block && !block_closes(&R, r, n, origin, line, x, err))
                return DCA_ERR_FORMAT;
            in_block = false;
            s = next;
            continue;
        }
        if (!in_block) { /* a label line */
            in_block = true;
            r = 0;
            n++;
            s = next;
            continue;
        }
        if (!pixel_row(s, len)) {
            free(x);
            return dca_error_set(err, DCA_ERR_FORMAT,
                                 "%s:%lld: expected a row of '#' and '.' in bitmap %lld", origin,
                                 (long long)line, (long long)n);
        }
        if (c < 0)
            c = (int64_t)len;
        if ((int64_t)len != c) {
            free(x);
            return dca_error_set(err, DCA_ERR_FORMAT,
                                 "%s:%lld: row of %zu pixels, the first row had %lld", origin,
                                 (long long)line, len, (long long)c);
        }
        if (R >= 0 && r >= R) {
            free(x);
            return dca_error_set(err, DCA_ERR_FORMAT,
                                 "%s:%lld: bitmap %lld has more than %lld rows", origin,
                                 (long long)line, (long long)n, (long long)R);
        }
        if ((n * 64 + r + 1) * c > cap) {
            cap = 2 * (n * 64 + r + 1) * c;
            double *y = realloc(x, (size_t)cap * sizeof *y);
            if (!y) {
                free(x);
                return dca_error_set(err, DCA_ERR_NOMEM, "out of memory reading %s", origin);
            }
            x = y;
        }
        /* Rows are stored in a staging layout of 64 rows per bitmap (a
         * bitmap is at most 64 rows) and packed at the end. */
        if (r >= 64) {
            free(x);
            return dca_error_set(err, DCA_ERR_FORMAT, "%s:%lld: bitmaps have at most 64 rows",
                                 origin, (long long)line);
        }
        for (int64_t i = 0; i < c; i++)
            x[((n - 1) * 64 + r) * c + i] = s[i] == '#';
        r++;
        s = next;
    }
    if (in_block && !block_closes(&R, r, n, origin, line, x, err))
        return DCA_ERR_FORMAT;
    if (n == 0) {
        free(x);
        return dca_error_set(err, DCA_ERR_FORMAT, "%s: no bitmaps", origin);
    }
    for (int64_t p = 0; p < n; p++)
        memmove(x + p * R * c, x + p * 64 * c, (size_t)(R * c) * sizeof *x);
    *inputs = x;
    *count = n;
    *rows = R;
    *cols = c;
    return DCA_OK;
}
