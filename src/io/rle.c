/* Golly's run-length encoded pattern format (RLE), two states.
 *
 *   #C comment lines (any # line before the header)
 *   x = 3, y = 3, rule = B3/S23
 *   bob$2bo$3o!
 *
 * Cells: b or . dead, o or A live; a number before a tag repeats it; $
 * ends a row (n$ ends n rows); ! ends the pattern. Whitespace between
 * tags is ignored. Multi-state letters (B..X, pA..) are refused: dca's
 * Life-like rules have two states. */
#include "rle.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dca_rle_free(dca_rle *p)
{
    if (!p)
        return;
    free(p->cells);
    free(p->rule);
    p->cells = NULL;
    p->rule = NULL;
}

/* "x = 3, y = 3, rule = B3/S23". The rule is the rest of the line: Golly's
 * Larger-than-Life names hold commas ("rule = R5,C0,M1,S34..58,B34..45,NM"). */
static bool parse_header(const char *line, int64_t *w, int64_t *h, char **rule)
{
    *w = *h = -1;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", line);
    for (char *r = strstr(buf, "rule"); r; r = strstr(r + 1, "rule")) {
        char *q = r + 4;
        while (isspace((unsigned char)*q))
            q++;
        if (*q != '=' || (r > buf && r[-1] != ',' && !isspace((unsigned char)r[-1])))
            continue;
        q++;
        while (isspace((unsigned char)*q))
            q++;
        for (char *e = q + strlen(q); e > q && isspace((unsigned char)e[-1]);)
            *--e = '\0';
        free(*rule);
        *rule = strdup(q);
        *r = '\0';
        break;
    }
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) {
            bool blank = true;
            for (const char *c = t; *c; c++)
                blank = blank && isspace((unsigned char)*c);
            if (blank)
                continue; /* the empty field before a cut-off "rule =" */
            return false;
        }
        *eq = '\0';
        char *key = t, *val = eq + 1;
        while (isspace((unsigned char)*key))
            key++;
        for (char *e = key + strlen(key); e > key && isspace((unsigned char)e[-1]);)
            *--e = '\0';
        while (isspace((unsigned char)*val))
            val++;
        for (char *e = val + strlen(val); e > val && isspace((unsigned char)e[-1]);)
            *--e = '\0';
        if (strcmp(key, "x") == 0 || strcmp(key, "y") == 0) {
            char *end;
            errno = 0;
            long long v = strtoll(val, &end, 10);
            if (errno || end == val || *end || v < 0 || v > (1LL << 31))
                return false;
            *(key[0] == 'x' ? w : h) = v;
        } else if (strcmp(key, "rule") == 0) {
            free(*rule);
            *rule = strdup(val);
        }
        /* Other keys (Golly writes none for 2-state rules) are ignored. */
    }
    return *w >= 0 && *h >= 0;
}

enum { RLE_MAX_LINE = 1 << 20 };

/* The next line into buf (RLE_MAX_LINE bytes): 1, 0 at the end of the file,
 * -1 for a line too long or one holding a NUL byte (a file that is not
 * text, like /dev/zero). */
static int next_line(FILE *f, char *buf)
{
    if (!fgets(buf, RLE_MAX_LINE, f))
        return 0;
    size_t n = strlen(buf);
    if ((n == 0 || buf[n - 1] != '\n') && !feof(f))
        return -1;
    return 1;
}

dca_status dca_rle_read(const char *path, int64_t max_width, int64_t max_height, dca_rle *out,
                        dca_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f)
        return dca_error_set(err, DCA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *line = malloc(RLE_MAX_LINE);
    int n;
    int64_t lineno = 0, w = -1, h = -1;
    char *rule = NULL;
    dca_status st = DCA_OK;
    if (!line) {
        fclose(f);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    /* The header: the first line that is not a comment or blank. */
    while ((n = next_line(f, line)) > 0) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#' || *p == '\0')
            continue;
        if (!parse_header(p, &w, &h, &rule)) {
            st = dca_error_set(err, DCA_ERR_FORMAT,
                               "%s:%lld: expected the RLE header 'x = W, y = H[, rule = R]'",
                               path, (long long)lineno);
            goto done;
        }
        break;
    }
    if (n < 0) {
        st = dca_error_set(err, DCA_ERR_FORMAT, "%s:%lld: a line longer than 1 MiB or with a NUL "
                           "byte (not an RLE file?)", path, (long long)lineno + 1);
        goto done;
    }
    if (w < 0) {
        st = dca_error_set(err, DCA_ERR_FORMAT, "%s: no RLE header ('x = W, y = H') found", path);
        goto done;
    }
    if (w == 0 || h == 0) {
        st = dca_error_set(err, DCA_ERR_FORMAT, "%s:%lld: a pattern of %lld x %lld cells", path,
                           (long long)lineno, (long long)w, (long long)h);
        goto done;
    }
    /* Refused before allocating: the header alone can ask for any size. */
    if (w > max_width || h > max_height) {
        st = dca_error_set(err, DCA_ERR_FORMAT,
                           "%s:%lld: the pattern is %lld wide and %lld high; the lattice is %lld x "
                           "%lld", path, (long long)lineno, (long long)w, (long long)h,
                           (long long)max_height, (long long)max_width);
        goto done;
    }
    out->width = w;
    out->height = h;
    out->cells = calloc((size_t)(w * h), 1);
    if (!out->cells) {
        st = dca_error_set(err, DCA_ERR_NOMEM, "%s: out of memory for a %lld x %lld pattern",
                           path, (long long)w, (long long)h);
        goto done;
    }
    int64_t row = 0, col = 0, count = 0;
    bool ended = false, have_count = false;
    while (!ended && (n = next_line(f, line)) > 0) {
        lineno++;
        for (char *p = line; *p && !ended; p++) {
            unsigned char ch = (unsigned char)*p;
            if (isspace(ch))
                continue;
            if (isdigit(ch)) {
                count = count * 10 + (ch - '0');
                have_count = true;
                if (count > (int64_t)1 << 40) {
                    st = dca_error_set(err, DCA_ERR_FORMAT, "%s:%lld: run count too large", path,
                                       (long long)lineno);
                    goto done;
                }
                continue;
            }
            int64_t run = have_count ? count : 1;
            count = 0;
            have_count = false;
            if (ch == '!') {
                ended = true;
            } else if (ch == '$') {
                row += run;
                col = 0;
            } else if (ch == 'b' || ch == '.' || ch == 'o' || ch == 'A') {
                if (row >= h || col + run > w) {
                    st = dca_error_set(err, DCA_ERR_FORMAT,
                                       "%s:%lld: cells beyond the header's %lld x %lld (row %lld, "
                                       "column %lld)", path, (long long)lineno, (long long)w,
                                       (long long)h, (long long)row + 1, (long long)(col + run));
                    goto done;
                }
                if (ch == 'o' || ch == 'A')
                    memset(out->cells + row * w + col, 1, (size_t)run);
                col += run;
            } else {
                st = dca_error_set(err, DCA_ERR_FORMAT,
                                   "%s:%lld: unexpected '%c' (dca reads two-state RLE: b or . "
                                   "dead, o or A live, $ end of row, ! end)", path,
                                   (long long)lineno, ch);
                goto done;
            }
        }
    }
    if (n < 0) {
        st = dca_error_set(err, DCA_ERR_FORMAT, "%s:%lld: a line longer than 1 MiB or with a NUL "
                           "byte (not an RLE file?)", path, (long long)lineno + 1);
        goto done;
    }
    if (!ended) {
        st = dca_error_set(err, DCA_ERR_FORMAT, "%s: the pattern does not end with '!' (truncated?)",
                           path);
        goto done;
    }
    out->rule = rule;
    rule = NULL;
done:
    if (st)
        dca_rle_free(out);
    free(rule);
    free(line);
    fclose(f);
    return st;
}

/* Appends a run to the body, breaking lines before 70 characters. */
static int put_run(FILE *f, int64_t run, char tag, int *linelen)
{
    char tok[32];
    int len = run > 1 ? snprintf(tok, sizeof tok, "%lld%c", (long long)run, tag)
                      : snprintf(tok, sizeof tok, "%c", tag);
    if (*linelen + len > 70) {
        if (fputc('\n', f) == EOF)
            return -1;
        *linelen = 0;
    }
    *linelen += len;
    return fputs(tok, f) == EOF ? -1 : 0;
}

dca_status dca_rle_write(const char *path, const uint8_t *cells, int64_t width, int64_t height,
                         const char *rule, const char *comment, dca_error *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return dca_error_set(err, DCA_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int bad = 0;
    if (comment)
        for (const char *p = comment; *p;) {
            const char *nl = strchr(p, '\n');
            int len = nl ? (int)(nl - p) : (int)strlen(p);
            bad |= fprintf(f, "#C %.*s\n", len, p) < 0;
            p += len + (nl ? 1 : 0);
        }
    if (rule)
        bad |= fprintf(f, "x = %lld, y = %lld, rule = %s\n", (long long)width, (long long)height,
                       rule) < 0;
    else
        bad |= fprintf(f, "x = %lld, y = %lld\n", (long long)width, (long long)height) < 0;
    int linelen = 0;
    int64_t at = 0; /* the row the body is on */
    for (int64_t r = 0; r < height && !bad; r++) {
        const uint8_t *row = cells + r * width;
        int64_t end = width;
        while (end > 0 && !row[end - 1])
            end--;
        if (end == 0)
            continue;
        if (r > at)
            bad |= put_run(f, r - at, '$', &linelen);
        at = r;
        for (int64_t c = 0; c < end && !bad;) {
            int64_t c2 = c;
            while (c2 < end && row[c2] == row[c])
                c2++;
            bad |= put_run(f, c2 - c, row[c] ? 'o' : 'b', &linelen);
            c = c2;
        }
    }
    bad |= fputs("!\n", f) == EOF;
    bad |= fflush(f) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return dca_error_set(err, DCA_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return DCA_OK;
}

/* Is nb exactly spec (same offsets in the same order)? */
static bool nbhd_is(const dca_nbhd *nb, const char *spec)
{
    dca_nbhd *ref = NULL;
    if (dca_nbhd_parse(spec, 2, &ref, NULL))
        return false;
    bool same = dca_nbhd_count(ref) == dca_nbhd_count(nb) &&
                memcmp(dca_nbhd_offsets(ref), dca_nbhd_offsets(nb),
                       (size_t)dca_nbhd_count(nb) * 2 * sizeof(int32_t)) == 0;
    dca_nbhd_destroy(ref);
    return same;
}

/* One contiguous range "a..b" of B/S counts, from dca_rule_life's text. */
static bool one_range(const char *s, int *lo, int *hi, int max)
{
    if (max <= 9) {
        /* digits */
        int n = (int)strlen(s);
        if (n == 0)
            return false;
        for (int i = 1; i < n; i++)
            if (s[i] != s[i - 1] + 1)
                return false;
        *lo = s[0] - '0';
        *hi = s[n - 1] - '0';
        return true;
    }
    if (strchr(s, ','))
        return false;
    if (sscanf(s, "%d..%d", lo, hi) == 2)
        return true;
    if (sscanf(s, "%d", lo) == 1) {
        *hi = *lo;
        return true;
    }
    return false;
}

bool dca_rle_rule(const dca_rule *rule, char *buf, size_t len)
{
    const dca_nbhd *nb = dca_rule_nbhd(rule);
    if (dca_nbhd_dims(nb) != 2)
        return false;
    char life[4096];
    if (!dca_rule_life(rule, life, sizeof life))
        return false;
    if (nbhd_is(nb, "moore:1"))
        return snprintf(buf, len, "%s", life) < (int)len;
    if (nbhd_is(nb, "vonneumann:1"))
        return snprintf(buf, len, "%sV", life) < (int)len;
    /* Larger than Life: R r, C0 (2 states), M0 (centre not counted), one
     * range each for S and B. */
    const int m = dca_nbhd_count(nb);
    for (int r = 2; r <= 500; r++) {
        char spec[32];
        char type = 0;
        snprintf(spec, sizeof spec, "moore:%d", r);
        if ((2 * r + 1) * (2 * r + 1) == m && nbhd_is(nb, spec))
            type = 'M';
        snprintf(spec, sizeof spec, "vonneumann:%d", r);
        if (!type && 2 * r * (r + 1) + 1 == m && nbhd_is(nb, spec))
            type = 'N';
        if (!type)
            continue;
        char *slash = strchr(life, '/');
        *slash = '\0';
        int blo, bhi, slo, shi;
        if (!one_range(life + 1, &blo, &bhi, m - 1) || !one_range(slash + 2, &slo, &shi, m - 1))
            return false;
        return snprintf(buf, len, "R%d,C0,M0,S%d..%d,B%d..%d,N%c", r, slo, shi, blo, bhi, type) <
               (int)len;
    }
    return false;
}
