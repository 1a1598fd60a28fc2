/* Neighbourhoods: ordered offset lists (DESIGN.md §1 fixes the order, which
 * fixes the pattern index, which is public). */
#include "dca/dca.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

struct dca_nbhd {
    int dims;
    int count;
    int32_t *offsets; /* count x dims */
};

/* A neighbourhood larger than this is refused: even the outer-totalistic
 * family needs a per-cell loop over it. Documented in configs/README.md. */
enum { max_offsets = 1 << 20 };

dca_status dca_nbhd_create(int dims, int count, const int32_t *offsets, dca_nbhd **out,
                           dca_error *err)
{
    if (dims < 1 || dims > 2)
        return dca_error_set(err, DCA_ERR_ARG, "neighbourhood dimension must be 1 or 2, got %d",
                             dims);
    if (count < 1 || count > max_offsets)
        return dca_error_set(err, DCA_ERR_ARG,
                             "a neighbourhood needs 1 to %d offsets, got %d", max_offsets, count);
    for (int i = 0; i < count; i++)
        for (int j = 0; j < i; j++)
            if (memcmp(offsets + (size_t)i * (size_t)dims, offsets + (size_t)j * (size_t)dims,
                       (size_t)dims * sizeof *offsets) == 0) {
                if (dims == 1)
                    return dca_error_set(err, DCA_ERR_ARG,
                                         "offset %d appears twice (positions %d and %d)",
                                         (int)offsets[i], j, i);
                return dca_error_set(err, DCA_ERR_ARG,
                                     "offset (%d,%d) appears twice (positions %d and %d)",
                                     (int)offsets[2 * i], (int)offsets[2 * i + 1], j, i);
            }
    dca_nbhd *nb = calloc(1, sizeof *nb);
    if (!nb)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a neighbourhood");
    nb->offsets = malloc((size_t)count * (size_t)dims * sizeof *nb->offsets);
    if (!nb->offsets) {
        free(nb);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for a neighbourhood");
    }
    memcpy(nb->offsets, offsets, (size_t)count * (size_t)dims * sizeof *offsets);
    nb->dims = dims;
    nb->count = count;
    *out = nb;
    return DCA_OK;
}

void dca_nbhd_destroy(dca_nbhd *nb)
{
    if (!nb)
        return;
    free(nb->offsets);
    free(nb);
}

int dca_nbhd_dims(const dca_nbhd *nb) { return nb->dims; }
int dca_nbhd_count(const dca_nbhd *nb) { return nb->count; }
const int32_t *dca_nbhd_offsets(const dca_nbhd *nb) { return nb->offsets; }

int dca_nbhd_center(const dca_nbhd *nb)
{
    for (int i = 0; i < nb->count; i++) {
        bool zero = true;
        for (int d = 0; d < nb->dims; d++)
            zero = zero && nb->offsets[i * nb->dims + d] == 0;
        if (zero)
            return i;
    }
    return -1;
}

/* Parses a strict whole number at *p, advancing *p. */
static bool take_int(const char **p, int32_t *out)
{
    const char *s = *p;
    while (isspace((unsigned char)*s))
        s++;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || v < -(1L << 30) || v > (1L << 30))
        return false;
    *out = (int32_t)v;
    *p = end;
    return true;
}

static void skip_space(const char **p)
{
    while (isspace((unsigned char)**p))
        (*p)++;
}

static dca_status parse_offsets(const char *s, int dims, dca_nbhd **out, dca_error *err)
{
    size_t cap = 16;
    int count = 0;
    int32_t *v = malloc(cap * (size_t)dims * sizeof *v);
    if (!v)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    const char *p = s;
    dca_status st = DCA_OK;
    for (;;) {
        skip_space(&p);
        if (!*p)
            break;
        if ((size_t)count == cap) {
            cap *= 2;
            int32_t *w = realloc(v, cap * (size_t)dims * sizeof *w);
            if (!w) {
                free(v);
                return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
            }
            v = w;
        }
        if (dims == 1) {
            if (!take_int(&p, &v[count])) {
                st = dca_error_set(err, DCA_ERR_ARG,
                                   "offset %d of '%s' is not a whole number", count + 1, s);
                break;
            }
        } else {
            int32_t dy = 0, dx = 0;
            bool ok = *p == '(';
            if (ok) {
                p++;
                ok = take_int(&p, &dy);
            }
            skip_space(&p);
            ok = ok && *p == ',';
            if (ok) {
                p++;
                ok = take_int(&p, &dx);
            }
            skip_space(&p);
            ok = ok && *p == ')';
            if (!ok) {
                st = dca_error_set(err, DCA_ERR_ARG,
                                   "offset %d of '%s' is not a pair (dy,dx) of whole numbers",
                                   count + 1, s);
                break;
            }
            p++;
            v[2 * count] = dy;
            v[2 * count + 1] = dx;
        }
        count++;
        skip_space(&p);
        if (*p == ',')
            p++;
        else if (*p) {
            st = dca_error_set(err, DCA_ERR_ARG, "expected ',' after offset %d in '%s'", count, s);
            break;
        }
    }
    if (st == DCA_OK && count == 0)
        st = dca_error_set(err, DCA_ERR_ARG, "offsets: needs at least one offset");
    if (st == DCA_OK)
        st = dca_nbhd_create(dims, count, v, out, err);
    free(v);
    return st;
}

static dca_status parse_radius(const char *spec, const char *rest, int64_t max_r, int64_t *r,
                               dca_error *err)
{
    if (!dca_parse_i64(rest, r) || *r < 0 || *r > max_r)
        return dca_error_set(err, DCA_ERR_ARG, "'%s': the radius must be a whole number 0..%lld",
                             spec, (long long)max_r);
    return DCA_OK;
}

dca_status dca_nbhd_parse(const char *spec, int dims, dca_nbhd **out, dca_error *err)
{
    const char *rest;
    int64_t r = 0;
    dca_status st;
    if ((rest = dca_strip_prefix(spec, "offsets:")))
        return parse_offsets(rest, dims, out, err);
    if ((rest = dca_strip_prefix(spec, "radius:"))) {
        if (dims != 1)
            return dca_error_set(err, DCA_ERR_ARG,
                                 "'%s' is a 1D neighbourhood but the lattice is 2D (use moore:R, "
                                 "vonneumann:R or offsets:(dy,dx),...)", spec);
        if ((st = parse_radius(spec, rest, max_offsets / 2 - 1, &r, err)))
            return st;
        int count = (int)(2 * r + 1);
        int32_t *v = malloc((size_t)count * sizeof *v);
        if (!v)
            return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        for (int i = 0; i < count; i++)
            v[i] = (int32_t)(i - r);
        st = dca_nbhd_create(1, count, v, out, err);
        free(v);
        return st;
    }
    bool moore = false;
    if ((rest = dca_strip_prefix(spec, "moore:")))
        moore = true;
    else if (!(rest = dca_strip_prefix(spec, "vonneumann:")))
        return dca_error_set(err, DCA_ERR_ARG,
                             "unknown neighbourhood '%s': expected radius:R, moore:R, "
                             "vonneumann:R or offsets:...", spec);
    if (dims != 2)
        return dca_error_set(err, DCA_ERR_ARG,
                             "'%s' is a 2D neighbourhood but the lattice is 1D (use radius:R or "
                             "offsets:...)", spec);
    if ((st = parse_radius(spec, rest, 511, &r, err)))
        return st;
    int side = (int)(2 * r + 1);
    int32_t *v = malloc((size_t)side * (size_t)side * 2 * sizeof *v);
    if (!v)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    int count = 0;
    for (int dy = -(int)r; dy <= r; dy++)
        for (int dx = -(int)r; dx <= r; dx++) {
            if (!moore && abs(dy) + abs(dx) > r)
                continue;
            v[2 * count] = dy;
            v[2 * count + 1] = dx;
            count++;
        }
    st = dca_nbhd_create(2, count, v, out, err);
    free(v);
    return st;
}

int64_t dca_nbhd_totalistic_entry(const dca_nbhd *nb, int64_t y)
{
    const int m = dca_nbhd_count(nb), centre = dca_nbhd_center(nb);
    int count = 0, alive = 0;
    for (int s = 0; s < m; s++) {
        int bit = (int)((y >> (m - 1 - s)) & 1);
        if (s == centre)
            alive = bit;
        else
            count += bit;
    }
    return (int64_t)alive * m + count;
}
