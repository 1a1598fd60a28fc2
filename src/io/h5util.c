/* HDF5 helpers, dataset reading and `dca info`. */
#include "h5util.h"

#include <hdf5_hl.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/io.h"
#include "mem.h"

void dca_h5_quiet(void)
{
    static int done = 0;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

static herr_t deepest(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    if (e->desc && *e->desc)
        snprintf((char *)data, 256, "%s", e->desc);
    return 0;
}

dca_status dca_h5_fail(dca_error *err, dca_status st, const char *fmt, ...)
{
    char what[DCA_ERROR_MSG_LEN / 2], why[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, deepest, why);
    H5Eclear2(H5E_DEFAULT);
    if (*why)
        return dca_error_set(err, st, "%s (HDF5: %s)", what, why);
    return dca_error_set(err, st, "%s", what);
}

hid_t dca_h5_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* A file that exists, can be read, and is HDF5. */
static dca_status check_readable(const char *path, dca_error *err)
{
    dca_h5_quiet();
    if (access(path, R_OK) != 0)
        return dca_error_set(err, DCA_ERR_IO, "%s: cannot read the file (missing or no permission)",
                             path);
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return dca_error_set(err, DCA_ERR_FORMAT, "%s: not an HDF5 file (or a truncated one)",
                             path);
    }
    return DCA_OK;
}

dca_status dca_h5_read_doubles(const char *path, const char *dataset, double **data, int *rank,
                               int64_t dims[DCA_H5_MAX_RANK], dca_error *err)
{
    dca_status st0 = check_readable(path, err);
    if (st0)
        return st0;
    dca_status st = DCA_OK;
    hid_t f = -1, d = -1, sp = -1, ty = -1;
    double *buf = NULL;
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        st = dca_h5_fail(err, DCA_ERR_FORMAT, "%s: cannot open as HDF5", path);
        goto done;
    }
    if (H5Lexists(f, dataset, H5P_DEFAULT) <= 0 ||
        H5Oexists_by_name(f, dataset, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        st = dca_error_set(err, DCA_ERR_FORMAT, "%s: no dataset '%s'", path, dataset);
        goto done;
    }
    d = H5Dopen2(f, dataset, H5P_DEFAULT);
    if (d < 0) {
        st = dca_h5_fail(err, DCA_ERR_FORMAT, "%s: '%s' is not a dataset", path, dataset);
        goto done;
    }
    ty = H5Dget_type(d);
    H5T_class_t cls = H5Tget_class(ty);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        st = dca_error_set(err, DCA_ERR_FORMAT,
                           "%s:%s holds non-numeric data; expected integers or floats", path,
                           dataset);
        goto done;
    }
    sp = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(sp);
    if (r < 0 || r > DCA_H5_MAX_RANK) {
        st = dca_error_set(err, DCA_ERR_FORMAT, "%s:%s has rank %d; at most %d is supported", path,
                           dataset, r, DCA_H5_MAX_RANK);
        goto done;
    }
    hsize_t hd[DCA_H5_MAX_RANK];
    H5Sget_simple_extent_dims(sp, hd, NULL);
    double n = 1;
    for (int i = 0; i < r; i++) {
        dims[i] = (int64_t)hd[i];
        n *= (double)hd[i];
    }
    if (n * 8 > (double)dca_mem_physical() / 2) {
        char a[32];
        st = dca_error_set(err, DCA_ERR_NOMEM, "%s:%s needs %s as float64, too much for this machine",
                           path, dataset, dca_mem_fmt(n * 8, a, sizeof a));
        goto done;
    }
    buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
    if (!buf) {
        st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory reading %s:%s", path, dataset);
        goto done;
    }
    if (n > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        st = dca_h5_fail(err, DCA_ERR_FORMAT, "%s:%s could not be read", path, dataset);
        goto done;
    }
    *rank = r;
    *data = buf;
    buf = NULL;
done:
    free(buf);
    if (sp >= 0)
        H5Sclose(sp);
    if (ty >= 0)
        H5Tclose(ty);
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    return st;
}

/* Opens attribute name of obj in a fresh read-only file handle. */
static dca_status open_attr(const char *path, const char *obj, const char *name, hid_t *f,
                            hid_t *a, dca_error *err)
{
    dca_status st = check_readable(path, err);
    if (st)
        return st;
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*f < 0)
        return dca_h5_fail(err, DCA_ERR_FORMAT, "%s: cannot open as HDF5", path);
    if (H5Aexists_by_name(*f, obj, name, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        H5Fclose(*f);
        return dca_error_set(err, DCA_ERR_FORMAT, "%s: no attribute %s@%s", path, obj, name);
    }
    *a = H5Aopen_by_name(*f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    return DCA_OK;
}

dca_status dca_h5_read_string_attr(const char *path, const char *obj, const char *name,
                                   char **out, dca_error *err)
{
    hid_t f, a;
    dca_status st = open_attr(path, obj, name, &f, &a, err);
    if (st)
        return st;
    hid_t t = dca_h5_str_type();
    char *s = NULL;
    if (H5Aread(a, t, &s) < 0 || !s) {
        st = dca_h5_fail(err, DCA_ERR_FORMAT, "%s: %s@%s is not a string", path, obj, name);
    } else {
        *out = strdup(s);
        H5free_memory(s);
        if (!*out)
            st = dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    H5Tclose(t);
    H5Aclose(a);
    H5Fclose(f);
    return st;
}

/* A numeric attribute read as mem_type into out. */
static dca_status read_num_attr(const char *path, const char *obj, const char *name,
                                hid_t mem_type, void *out, const char *what, dca_error *err)
{
    hid_t f, a;
    dca_status st = open_attr(path, obj, name, &f, &a, err);
    if (st)
        return st;
    if (H5Aread(a, mem_type, out) < 0)
        st = dca_h5_fail(err, DCA_ERR_FORMAT, "%s: %s@%s is not %s", path, obj, name, what);
    H5Aclose(a);
    H5Fclose(f);
    return st;
}

dca_status dca_h5_read_i64_attr(const char *path, const char *obj, const char *name,
                                int64_t *out, dca_error *err)
{
    long long v = 0;
    const dca_status st = read_num_attr(path, obj, name, H5T_NATIVE_LLONG, &v, "an integer", err);
    *out = v;
    return st;
}

dca_status dca_h5_read_f64_attr(const char *path, const char *obj, const char *name,
                                double *out, dca_error *err)
{
    *out = 0;
    return read_num_attr(path, obj, name, H5T_NATIVE_DOUBLE, out, "a number", err);
}

/* ---- dca info ------------------------------------------------------------ */

static void print_attr_value(hid_t obj, const char *name, const char *indent, bool multiline)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t cls = H5Tget_class(t);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    printf("%s%s = ", indent, name);
    if (cls == H5T_STRING && H5Tis_variable_str(t) > 0 && n == 1) {
        hid_t st = dca_h5_str_type();
        char *s = NULL;
        if (H5Aread(a, st, &s) >= 0 && s) {
            if (multiline && strchr(s, '\n')) {
                printf("\n");
                for (char *line = s, *nl; *line; line = nl + 1) {
                    nl = strchr(line, '\n');
                    if (!nl)
                        nl = line + strlen(line) - 1;
                    else
                        *nl = '\0';
                    printf("%s    %s\n", indent, line);
                }
            } else {
                printf("%s\n", s);
            }
            H5free_memory(s);
        } else {
            printf("?\n");
        }
        H5Tclose(st);
    } else if (cls == H5T_INTEGER && n == 1) {
        long long v = 0;
        H5Aread(a, H5T_NATIVE_LLONG, &v);
        printf("%lld\n", v);
    } else if (cls == H5T_FLOAT && n == 1) {
        double v = 0;
        H5Aread(a, H5T_NATIVE_DOUBLE, &v);
        printf("%.6g\n", v);
    } else {
        printf("(%lld values)\n", (long long)n);
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
}

static herr_t attr_cb(hid_t obj, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    /* Dimension-scale bookkeeping is shown as axis labels instead. */
    static const char *hidden[] = {"CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST",
                                   "DIMENSION_LABELS"};
    for (size_t i = 0; i < sizeof hidden / sizeof *hidden; i++)
        if (strcmp(name, hidden[i]) == 0)
            return 0;
    print_attr_value(obj, name, (const char *)data, true);
    return 0;
}

static herr_t visit_cb(hid_t root, const char *name, const H5O_info_t *info, void *data)
{
    (void)data;
    if (strcmp(name, ".") == 0)
        return 0;
    if (info->type == H5O_TYPE_GROUP) {
        printf("/%s/\n", name);
        hid_t g = H5Gopen2(root, name, H5P_DEFAULT);
        hsize_t idx = 0;
        H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, (void *)"    @");
        H5Gclose(g);
        return 0;
    }
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    int r = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[32];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    const char *ty = "?";
    switch (H5Tget_class(t)) {
    case H5T_FLOAT: ty = H5Tget_size(t) == 8 ? "float64" : "float32"; break;
    case H5T_INTEGER: ty = H5Tget_size(t) == 8 ? "int64" : "int32"; break;
    case H5T_STRING: ty = "string"; break;
    default: break;
    }
    printf("/%s  %s (", name, ty);
    for (int i = 0; i < r; i++)
        printf(i ? ", %llu" : "%llu", (unsigned long long)dims[i]);
    printf(r == 1 ? ",)" : ")");
    if (H5Aexists(d, "DIMENSION_LABELS") > 0) {
        printf("  axes (");
        for (int i = 0; i < r; i++) {
            char label[64] = "";
            H5DSget_label(d, (unsigned)i, label, sizeof label);
            printf(i ? ", %s" : "%s", *label ? label : "?");
        }
        printf(")");
    }
    hid_t pl = H5Dget_create_plist(d);
    if (H5Pget_layout(pl) == H5D_CHUNKED) {
        hsize_t ch[32];
        int cr = H5Pget_chunk(pl, 32, ch);
        printf("  chunks (");
        for (int i = 0; i < cr; i++)
            printf(i ? ", %llu" : "%llu", (unsigned long long)ch[i]);
        printf(")");
        if (H5Pget_nfilters(pl) > 0)
            printf(" compressed");
    }
    printf("\n");
    H5Pclose(pl);
    hsize_t idx = 0;
    H5Aiterate2(d, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, (void *)"    @");
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    return 0;
}

dca_status dca_h5_info(const char *path, dca_error *err)
{
    dca_status st0 = check_readable(path, err);
    if (st0)
        return st0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return dca_h5_fail(err, DCA_ERR_FORMAT, "%s: cannot open as HDF5", path);
    dca_status st = DCA_OK;
    char fmt[64] = "";
    if (H5Aexists(f, "format") > 0) {
        hid_t a = H5Aopen(f, "format", H5P_DEFAULT), t = dca_h5_str_type();
        char *s = NULL;
        if (H5Aread(a, t, &s) >= 0 && s) {
            snprintf(fmt, sizeof fmt, "%s", s);
            H5free_memory(s);
        }
        H5Tclose(t);
        H5Aclose(a);
    }
    H5Eclear2(H5E_DEFAULT);
    if (strcmp(fmt, "dca-run") != 0) {
        st = dca_error_set(err, DCA_ERR_FORMAT,
                           "%s: not a dca run file (root attribute format is '%s', expected "
                           "'dca-run')", path, fmt);
        H5Fclose(f);
        return st;
    }
    printf("%s\n", path);
    static const char *root_attrs[] = {"format", "format_version", "dca_version", "command",
                                       "created"};
    for (size_t i = 0; i < sizeof root_attrs / sizeof *root_attrs; i++)
        if (H5Aexists(f, root_attrs[i]) > 0)
            print_attr_value(f, root_attrs[i], "  @", false);
    printf("\n");
    H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, visit_cb, NULL, H5O_INFO_BASIC);
    if (H5Aexists(f, "config") > 0) {
        printf("\neffective configuration:\n");
        print_attr_value(f, "config", "", true);
    }
    H5Eclear2(H5E_DEFAULT);
    H5Fclose(f);
    return st;
}
