#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool dca_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

bool dca_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || !isdigit((unsigned char)*s))
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return false;
    *out = (uint64_t)v;
    return true;
}

bool dca_parse_double(const char *s, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || (errno == ERANGE && fabs(v) > 1.0))
        return false;
    *out = v;
    return true;
}

bool dca_parse_double_list(const char *s, double **out, int64_t *count, int64_t *bad_item)
{
    size_t cap = 16, n = 0;
    double *v = malloc(cap * sizeof *v);
    if (!v) {
        *bad_item = -1;
        return false;
    }
    const char *p = s;
    for (;;) {
        while (*p && (isspace((unsigned char)*p) || *p == ','))
            p++;
        if (!*p)
            break;
        char *end = NULL;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || (errno == ERANGE && fabs(x) > 1.0) ||
            (*end && !isspace((unsigned char)*end) && *end != ',')) {
            free(v);
            *bad_item = (int64_t)n;
            return false;
        }
        if (n == cap) {
            cap *= 2;
            double *w = realloc(v, cap * sizeof *w);
            if (!w) {
                free(v);
                *bad_item = -1;
                return false;
            }
            v = w;
        }
        v[n++] = x;
        p = end;
    }
    *out = v;
    *count = (int64_t)n;
    return true;
}

const char *dca_strip_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

char *dca_trim(char *s)
{
    char *p = s;
    while (*p && isspace((unsigned char)*p))
        p++;
    size_t n = strlen(p);
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    memmove(s, p, n);
    s[n] = '\0';
    return s;
}

char *dca_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *dca_read_text_file(const char *path, const char *what, dca_status status, dca_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dca_error_set(err, status, "%s: cannot open the %s: %s", path, what, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            dca_error_set(err, DCA_ERR_NOMEM, "out of memory reading %s", path);
            return NULL;
        }
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        cap *= 2;
        char *b = realloc(buf, cap);
        if (!b)
            free(buf);
        buf = b;
    }
    bool bad = ferror(f);
    fclose(f);
    buf[n] = '\0';
    if (bad || strlen(buf) != n) {
        free(buf);
        dca_error_set(err, status, "%s: cannot read the %s (%s)", path, what,
                      bad ? "read error" : "it contains a NUL byte: not a text file");
        return NULL;
    }
    return buf;
}
