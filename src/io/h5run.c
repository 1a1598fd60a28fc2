/* Run files (docs/hdf5-layout.md). */
#include <errno.h>
#include <fcntl.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h5util.h"
#include "io/io.h"

#ifdef DCA_MPI
#include <mpi.h>
#endif

enum { max_series = 8 };

typedef struct series {
    hid_t dset;
    int rank;
    hsize_t dims[DCA_H5_MAX_RANK];
    int64_t inner_size;
    double *pack; /* a row packed for writing, when configurations are strided */
} series;

struct dca_runfile {
    char *path;
    char *partial;
    hid_t file;
    series s[max_series];
    int nseries;
    int64_t rows_written;
    double flush_seconds;
    struct timespec last_flush;
    int ranks, rank; /* MPI ranks writing this file together (1, 0 serially) */
    hid_t dxpl;      /* data transfer: collective with several ranks */
};

/* With several MPI ranks (dca-mpi under mpirun) every rank makes the same
 * calls in the same order: HDF5's metadata operations are collective. Data
 * rows are written collectively, each rank its own configurations. */
static void ranks_of(int *ranks, int *rank)
{
    *ranks = 1;
    *rank = 0;
#ifdef DCA_MPI
    int on = 0;
    MPI_Initialized(&on);
    if (on) {
        MPI_Comm_size(MPI_COMM_WORLD, ranks);
        MPI_Comm_rank(MPI_COMM_WORLD, rank);
    }
#endif
}

/* Rank 0's decision, on every rank (identity with one rank). */
static int64_t agree(const dca_runfile *rf, int64_t v)
{
#ifdef DCA_MPI
    if (rf->ranks > 1)
        MPI_Bcast(&v, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
#else
    (void)rf;
#endif
    return v;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

const char *dca_runfile_partial_path(const dca_runfile *rf) { return rf->partial; }

static hid_t open_group(dca_runfile *rf, const char *group)
{
    if (strcmp(group, "/") == 0)
        return H5Gopen2(rf->file, "/", H5P_DEFAULT);
    if (H5Lexists(rf->file, group, H5P_DEFAULT) > 0)
        return H5Gopen2(rf->file, group, H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(rf->file, group, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    return g;
}

static dca_status write_attr(dca_runfile *rf, const char *group, const char *name, hid_t type,
                             const void *value, dca_error *err)
{
    hid_t g = open_group(rf, group);
    if (g < 0)
        return dca_h5_fail(err, DCA_ERR_IO, "%s: cannot create group %s", rf->partial, group);
    if (H5Aexists(g, name) > 0)
        H5Adelete(g, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(g, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, type, value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Gclose(g);
    if (e < 0)
        return dca_h5_fail(err, DCA_ERR_IO, "%s: cannot write attribute %s@%s", rf->partial,
                           group, name);
    return DCA_OK;
}

dca_status dca_runfile_attr_i64(dca_runfile *rf, const char *group, const char *name, int64_t v,
                                dca_error *err)
{
    return write_attr(rf, group, name, H5T_NATIVE_INT64, &v, err);
}

dca_status dca_runfile_attr_f64(dca_runfile *rf, const char *group, const char *name, double v,
                                dca_error *err)
{
    return write_attr(rf, group, name, H5T_NATIVE_DOUBLE, &v, err);
}

dca_status dca_runfile_attr_str(dca_runfile *rf, const char *group, const char *name,
                                const char *v, dca_error *err)
{
    hid_t t = dca_h5_str_type();
    dca_status st = write_attr(rf, group, name, t, &v, err);
    H5Tclose(t);
    return st;
}

dca_status dca_runfile_create(const char *path, const dca_run_meta *meta, dca_runfile **out,
                              dca_error *err)
{
    dca_h5_quiet();
    dca_runfile *rf = calloc(1, sizeof *rf);
    size_t n = strlen(path);
    if (!rf || !(rf->path = malloc(n + 1)) || !(rf->partial = malloc(n + 9))) {
        if (rf)
            free(rf->path);
        free(rf);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    }
    memcpy(rf->path, path, n + 1);
    snprintf(rf->partial, n + 9, "%s.partial", path);
    rf->flush_seconds = meta->flush_seconds;
    rf->dxpl = H5P_DEFAULT;
    if (meta->alone) {
        rf->ranks = 1;
        rf->rank = 0;
    } else {
        ranks_of(&rf->ranks, &rf->rank);
    }
    /* Latest format with SWMR-compatible structures off: h5py of any
     * version in Debian reads 1.8-format files. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
#ifdef DCA_MPI
    if (rf->ranks > 1) {
        H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
        H5Pset_all_coll_metadata_ops(fapl, 1);
        H5Pset_coll_metadata_write(fapl, 1);
        rf->dxpl = H5Pcreate(H5P_DATASET_XFER);
        H5Pset_dxpl_mpio(rf->dxpl, H5FD_MPIO_COLLECTIVE);
    }
#endif
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
#ifdef DCA_MPI
    /* Several ranks: parallel HDF5 writes a compressed chunk anew at every
     * collective write that touches it, and by default reuses the space it
     * frees. A rank killed by SIGKILL then leaves a file whose chunk index,
     * as last flushed, may point at space written since (inflate() failed
     * on reading, in 3 of 5 trials). Freed space is not reused: what the
     * last flush described stays on disk as it was. */
    if (rf->ranks > 1)
        H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_NONE, 0, 1);
#endif
    rf->file = H5Fcreate(rf->partial, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fcpl);
    H5Pclose(fapl);
    if (rf->file < 0) {
        if (rf->dxpl != H5P_DEFAULT)
            H5Pclose(rf->dxpl);
        dca_status st = dca_h5_fail(err, DCA_ERR_IO, "%s: cannot create the run file",
                                    rf->partial);
        free(rf->path);
        free(rf->partial);
        free(rf);
        return st;
    }
    clock_gettime(CLOCK_MONOTONIC, &rf->last_flush);
    char created[64];
    time_t now = (time_t)agree(rf, (int64_t)time(NULL));
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    dca_status st;
    if ((st = dca_runfile_attr_str(rf, "/", "format", "dca-run", err)) ||
        (st = dca_runfile_attr_i64(rf, "/", "format_version", DCA_FORMAT_VERSION, err)) ||
        (st = dca_runfile_attr_str(rf, "/", "dca_version", dca_version(), err)) ||
        (st = dca_runfile_attr_str(rf, "/", "config", meta->config_text, err)) ||
        (st = dca_runfile_attr_str(rf, "/", "command", meta->command, err)) ||
        (st = dca_runfile_attr_str(rf, "/", "created", created, err))) {
        dca_runfile_close(rf, false, NULL);
        return st;
    }
    *out = rf;
    return DCA_OK;
}

/* dcpl: the dataset creation properties (H5P_DEFAULT: contiguous). */
static dca_status write_array_dcpl(dca_runfile *rf, const char *name, hid_t mem_type,
                                   hid_t file_type, int rank, const hsize_t *dims,
                                   const void *data, hid_t dcpl, dca_error *err)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t sp = rank > 0 ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(rf->file, name, file_type, sp, lcpl, dcpl, H5P_DEFAULT);
    herr_t e = d < 0 ? -1 : H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, rf->dxpl, data);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    H5Pclose(lcpl);
    if (e < 0)
        return dca_h5_fail(err, DCA_ERR_IO, "%s: cannot write %s", rf->partial, name);
    return DCA_OK;
}

static dca_status write_array(dca_runfile *rf, const char *name, hid_t mem_type, hid_t file_type,
                              int rank, const hsize_t *dims, const void *data, dca_error *err)
{
    return write_array_dcpl(rf, name, mem_type, file_type, rank, dims, data, H5P_DEFAULT, err);
}

dca_status dca_runfile_array(dca_runfile *rf, const char *name, int rank, const int64_t *dims,
                             const double *data, dca_error *err)
{
    hsize_t hd[DCA_H5_MAX_RANK];
    for (int i = 0; i < rank; i++)
        hd[i] = (hsize_t)dims[i];
    /* rank 0: a scalar dataset. */
    return write_array(rf, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, rank, hd, data, err);
}

dca_status dca_runfile_array_u8(dca_runfile *rf, const char *name, int rank, const int64_t *dims,
                                const uint8_t *data, int gzip, dca_error *err)
{
    if (rank < 2 || rank > DCA_H5_MAX_RANK)
        return dca_error_set(err, DCA_ERR_ARG, "%s: rank %d (expected 2..%d)", name, rank,
                             DCA_H5_MAX_RANK);
    hsize_t hd[DCA_H5_MAX_RANK], chunk[DCA_H5_MAX_RANK];
    bool empty = false;
    for (int i = 0; i < rank; i++) {
        hd[i] = (hsize_t)dims[i];
        chunk[i] = i < rank - 2 ? 1 : (hsize_t)dims[i];
        empty |= dims[i] == 0;
    }
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (!empty) {
        H5Pset_chunk(dcpl, rank, chunk);
        if (gzip > 0)
            H5Pset_deflate(dcpl, (unsigned)gzip);
    }
    dca_status st = write_array_dcpl(rf, name, H5T_NATIVE_UINT8, H5T_STD_U8LE, rank, hd, data,
                                     dcpl, err);
    H5Pclose(dcpl);
    return st;
}

dca_status dca_runfile_write_rule(dca_runfile *rf, const dca_rule *rule, const char *nbhd_spec,
                                  dca_error *err)
{
    const dca_nbhd *nb = dca_rule_nbhd(rule);
    hsize_t od[2] = {(hsize_t)dca_nbhd_count(nb), (hsize_t)dca_nbhd_dims(nb)};
    dca_status st = write_array(rf, "/rule/offsets", H5T_NATIVE_INT32, H5T_STD_I32LE, 2, od,
                                dca_nbhd_offsets(nb), err);
    if (st)
        return st;
    bool binary = dca_rule_mode(rule) == DCA_MODE_BINARY;
    bool ot = dca_rule_kind_of(rule) == DCA_RULE_OUTER_TOTALISTIC;
    int64_t sd[2];
    int rank = dca_rule_shape(rule, sd);
    hsize_t wd[2] = {(hsize_t)sd[0], (hsize_t)sd[1]};
    if ((st = write_array(rf, "/rule/weights", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, rank, wd,
                          dca_rule_weights(rule), err)) ||
        (st = write_array(rf, "/rule/probabilities", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, rank, wd,
                          dca_rule_probabilities(rule), err)) ||
        (st = dca_runfile_attr_str(rf, "/rule", "kind", dca_rule_model(rule), err)) ||
        (st = dca_runfile_attr_str(rf, "/rule", "mode", binary ? "binary" : "softmax", err)) ||
        (st = dca_runfile_attr_i64(rf, "/rule", "states", dca_rule_states(rule), err)) ||
        (st = dca_runfile_attr_str(rf, "/rule", "neighborhood", nbhd_spec, err)) ||
        (st = dca_runfile_attr_i64(rf, "/rule", "hard", dca_rule_is_hard(rule), err)))
        return st;
    if (dca_rule_states(rule) == 2 && !ot) {
        size_t len = (size_t)(dca_rule_patterns(rule) / 4 + 2);
        char *hex = malloc(len);
        if (!hex)
            return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
        dca_rule_hex(rule, hex, len);
        st = dca_runfile_attr_str(rf, "/rule", "hardened_hex", hex, err);
        free(hex);
    }
    char life[4096];
    if (!st && dca_rule_life(rule, life, sizeof life))
        st = dca_runfile_attr_str(rf, "/rule", "hardened_life", life, err);
    return st;
}

/* Chunks: one configuration, a few rows, the whole inner block, sized to
 * about 1 MiB; an inner block over 4 MiB is split along its first axis. */
static void choose_chunk(const dca_series_spec *sp, hsize_t *chunk)
{
    double inner = 8;
    for (int i = 0; i < sp->inner_rank; i++) {
        chunk[2 + i] = (hsize_t)sp->inner[i];
        inner *= (double)sp->inner[i];
    }
    chunk[0] = 1;
    chunk[1] = 1;
    if (inner < 1048576.0) {
        double rows = 1048576.0 / inner;
        chunk[1] = (hsize_t)(rows < (double)sp->rows ? rows : (double)sp->rows);
        if (chunk[1] < 1)
            chunk[1] = 1;
    } else if (sp->inner_rank > 0) {
        while (inner > 4194304.0 && chunk[2] > 1) {
            inner /= (double)chunk[2];
            chunk[2] = (chunk[2] + 1) / 2;
            inner *= (double)chunk[2];
        }
    }
}

dca_status dca_runfile_series(dca_runfile *rf, const dca_series_spec *spec, int *series_id,
                              dca_error *err)
{
    if (rf->nseries == max_series)
        return dca_error_set(err, DCA_ERR_ARG, "too many series in one run file");
    series *s = &rf->s[rf->nseries];
    s->rank = 2 + spec->inner_rank;
    s->dims[0] = (hsize_t)spec->configs;
    s->dims[1] = (hsize_t)spec->rows;
    s->inner_size = 1;
    for (int i = 0; i < spec->inner_rank; i++) {
        s->dims[2 + i] = (hsize_t)spec->inner[i];
        s->inner_size *= spec->inner[i];
    }
    hsize_t chunk[DCA_H5_MAX_RANK];
    choose_chunk(spec, chunk);
    /* Several ranks: one row per chunk, so that each chunk is compressed
     * and written once, by one collective write (parallel HDF5 keeps no
     * chunk cache for compressed data: a chunk of several rows would be
     * written again for each, and with the file-space strategy of
     * dca_runfile_create every version would stay in the file). */
    if (rf->ranks > 1)
        chunk[1] = 1;
    double chunk_bytes = 8;
    for (int i = 0; i < s->rank; i++)
        chunk_bytes *= (double)chunk[i];

    dca_status st = DCA_OK;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE),
          dapl = H5Pcreate(H5P_DATASET_ACCESS);
    hid_t sp = H5Screate_simple(s->rank, s->dims, NULL);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_chunk(dcpl, s->rank, chunk);
    if (spec->gzip > 0) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)spec->gzip);
    }
    /* One row touches one chunk per configuration (more when the inner
     * block is split): the cache must hold them all, or every row would
     * re-read and re-compress chunks (DESIGN.md §4). */
    double inner_chunks = 1;
    for (int i = 0; i < spec->inner_rank; i++)
        inner_chunks *= (double)((s->dims[2 + i] + chunk[2 + i] - 1) / chunk[2 + i]);
    double cache = chunk_bytes * (double)spec->configs * inner_chunks + 1048576.0;
    H5Pset_chunk_cache(dapl, 100003, (size_t)cache, 1.0);
    s->dset = H5Dcreate2(rf->file, spec->name, H5T_IEEE_F64LE, sp, lcpl, dcpl, dapl);
    if (s->dset < 0) {
        st = dca_h5_fail(err, DCA_ERR_IO, "%s: cannot create %s", rf->partial, spec->name);
        goto done;
    }
    /* Axis labels and the recorded step numbers as a dimension scale. */
    char tname[256];
    snprintf(tname, sizeof tname, "%s_times", spec->name);
    hsize_t rd[1] = {(hsize_t)spec->rows};
    if ((st = write_array(rf, tname, H5T_NATIVE_INT64, H5T_STD_I64LE, 1, rd, spec->times, err)))
        goto done;
    hid_t tds = H5Dopen2(rf->file, tname, H5P_DEFAULT);
    if (tds < 0 || H5DSset_scale(tds, "step") < 0 || H5DSattach_scale(s->dset, tds, 1) < 0) {
        if (tds >= 0)
            H5Dclose(tds);
        st = dca_h5_fail(err, DCA_ERR_IO, "%s: cannot attach the time scale to %s", rf->partial,
                         spec->name);
        goto done;
    }
    H5Dclose(tds);
    H5DSset_label(s->dset, 0, "configuration");
    H5DSset_label(s->dset, 1, "step");
    for (int i = 0; i < spec->inner_rank; i++)
        if (spec->inner_labels[i])
            H5DSset_label(s->dset, (unsigned)(2 + i), spec->inner_labels[i]);
    *series_id = rf->nseries++;
done:
    H5Sclose(sp);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Pclose(dapl);
    return st;
}

static dca_status flush(dca_runfile *rf, dca_error *err)
{
    dca_status st = dca_runfile_attr_i64(rf, "/run", "rows_written", rf->rows_written, err);
    if (st)
        return st;
    if (H5Fflush(rf->file, H5F_SCOPE_GLOBAL) < 0)
        return dca_h5_fail(err, DCA_ERR_IO, "%s: flush failed", rf->partial);
    clock_gettime(CLOCK_MONOTONIC, &rf->last_flush);
    return DCA_OK;
}

/* Writes one row's selections (closing both spaces; e < 0: the selection
 * failed), counts it and flushes when it is time: the end of every row
 * write. */
static dca_status write_row(dca_runfile *rf, int series_id, int64_t row, hid_t msp, hid_t fsp,
                            herr_t e, const double *data, dca_error *err)
{
    if (e >= 0)
        e = H5Dwrite(rf->s[series_id].dset, H5T_NATIVE_DOUBLE, msp, fsp, rf->dxpl, data);
    H5Sclose(msp);
    H5Sclose(fsp);
    if (e < 0)
        return dca_h5_fail(err, DCA_ERR_IO, "%s: cannot write row %lld", rf->partial,
                           (long long)row);
    if (series_id == 0)
        rf->rows_written = row + 1;
    if (agree(rf, seconds_since(&rf->last_flush) >= rf->flush_seconds))
        return flush(rf, err);
    return DCA_OK;
}

dca_status dca_runfile_series_part(dca_runfile *rf, int series_id, int64_t row, int64_t first,
                                   int64_t configs, const double *data, int64_t config_stride,
                                   dca_error *err)
{
    series *s = &rf->s[series_id];
    if (configs < 0 || (configs > 0 && (first < 0 || first + configs > (int64_t)s->dims[0])))
        return dca_error_set(err, DCA_ERR_ARG, "%s: configurations %lld..%lld of %lld", rf->partial,
                             (long long)first, (long long)(first + configs),
                             (long long)s->dims[0]);
    hid_t fsp = H5Dget_space(s->dset);
    hsize_t start[DCA_H5_MAX_RANK] = {0}, count[DCA_H5_MAX_RANK];
    memcpy(count, s->dims, sizeof count);
    start[0] = (hsize_t)first;
    count[0] = (hsize_t)configs;
    start[1] = (hsize_t)row;
    count[1] = 1;
    /* Memory: `configs` blocks of inner_size doubles, config_stride apart.
     * The memory space has the file selection's shape: HDF5 then copies
     * whole contiguous runs. A 2D memory space against the 4D file
     * selection made it map every element on its own (H5S_select_iterate),
     * most of the paper figure's write time. Strided blocks are packed
     * first. */
    if (configs > 1 && config_stride != s->inner_size) {
        if (!s->pack) {
            s->pack = malloc((size_t)s->dims[0] * (size_t)s->inner_size * sizeof *s->pack);
            if (!s->pack) {
                H5Sclose(fsp);
                return dca_error_set(err, DCA_ERR_NOMEM, "%s: no memory for a row of %lld values",
                                     rf->partial, (long long)(s->dims[0] * (hsize_t)s->inner_size));
            }
        }
        for (int64_t g = 0; g < configs; g++)
            memcpy(s->pack + g * s->inner_size, data + g * config_stride,
                   (size_t)s->inner_size * sizeof *data);
        data = s->pack;
    }
    herr_t e;
    hid_t msp;
    static const double nothing = 0;
    if (configs > 0) {
        msp = H5Screate_simple(s->rank, count, NULL);
        e = H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL);
    } else {
        /* A rank with nothing to write still takes part in the collective
         * write, with empty selections. */
        const hsize_t one = 1;
        msp = H5Screate_simple(1, &one, NULL);
        e = H5Sselect_none(fsp);
        if (e >= 0)
            e = H5Sselect_none(msp);
        data = &nothing;
    }
    return write_row(rf, series_id, row, msp, fsp, e, data, err);
}

dca_status dca_runfile_series_cells(dca_runfile *rf, int series_id, int64_t row, int lattice_dims,
                                    int64_t configs, int64_t cell0, int64_t ncells,
                                    const double *data, int64_t config_stride, dca_error *err)
{
    series *s = &rf->s[series_id];
    const int ld = lattice_dims;
    if (ld < 1 || ld > 2 || s->rank < 2 + ld)
        return dca_error_set(err, DCA_ERR_ARG, "%s: a series without %d lattice axes",
                             rf->partial, ld);
    const int64_t cols = ld == 2 ? (int64_t)s->dims[3] : (int64_t)s->dims[2];
    const int64_t cells = ld == 2 ? (int64_t)s->dims[2] * cols : cols;
    int64_t per_cell = 1; /* values per cell: the axes after the lattice's */
    for (int i = 2 + ld; i < s->rank; i++)
        per_cell *= (int64_t)s->dims[i];
    if (configs < 1 || configs > (int64_t)s->dims[0] || cell0 < 0 || ncells < 1 ||
        cell0 + ncells > cells)
        return dca_error_set(err, DCA_ERR_ARG, "%s: cells %lld..%lld of %lld, %lld configurations",
                             rf->partial, (long long)cell0, (long long)(cell0 + ncells),
                             (long long)cells, (long long)configs);
    /* Packed: configuration-major, cells in order, which is the order in
     * which HDF5 walks the selection below. */
    const int64_t run = ncells * per_cell;
    double *pack = malloc((size_t)(configs * run) * sizeof *pack);
    if (!pack)
        return dca_error_set(err, DCA_ERR_NOMEM, "%s: no memory for a row of %lld values",
                             rf->partial, (long long)(configs * run));
    for (int64_t g = 0; g < configs; g++)
        memcpy(pack + g * run, data + g * config_stride, (size_t)run * sizeof *pack);
    hid_t fsp = H5Dget_space(s->dset);
    herr_t e = 0;
    /* The cells as at most three blocks: the rest of the first row, whole
     * rows, the start of the last row (2D); one block on a ring. */
    const int64_t end = cell0 + ncells;
    int64_t blocks[3][3]; /* row, first column, columns ... or rows (block 1) */
    int nb = 0;
    if (ld == 1) {
        blocks[nb][0] = 0, blocks[nb][1] = cell0, blocks[nb][2] = ncells, nb++;
    } else {
        const int64_t r0 = cell0 / cols, c0 = cell0 % cols, r1 = (end - 1) / cols,
                      c1 = (end - 1) % cols;
        if (r0 == r1) {
            blocks[nb][0] = r0, blocks[nb][1] = c0, blocks[nb][2] = c1 - c0 + 1, nb++;
        } else {
            int64_t full0 = r0 + (c0 > 0), full1 = r1 - (c1 < cols - 1); /* whole rows */
            if (c0 > 0)
                blocks[nb][0] = r0, blocks[nb][1] = c0, blocks[nb][2] = cols - c0, nb++;
            if (full1 >= full0)
                blocks[nb][0] = full0, blocks[nb][1] = -1, blocks[nb][2] = full1 - full0 + 1,
                nb++;
            if (c1 < cols - 1)
                blocks[nb][0] = r1, blocks[nb][1] = 0, blocks[nb][2] = c1 + 1, nb++;
        }
    }
    for (int k = 0; k < nb && e >= 0; k++) {
        hsize_t start[DCA_H5_MAX_RANK] = {0}, count[DCA_H5_MAX_RANK];
        memcpy(count, s->dims, sizeof count);
        count[0] = (hsize_t)configs;
        start[1] = (hsize_t)row;
        count[1] = 1;
        if (ld == 1) {
            start[2] = (hsize_t)blocks[k][1];
            count[2] = (hsize_t)blocks[k][2];
        } else if (blocks[k][1] < 0) {
            start[2] = (hsize_t)blocks[k][0];
            count[2] = (hsize_t)blocks[k][2];
        } else {
            start[2] = (hsize_t)blocks[k][0];
            count[2] = 1;
            start[3] = (hsize_t)blocks[k][1];
            count[3] = (hsize_t)blocks[k][2];
        }
        e = H5Sselect_hyperslab(fsp, k == 0 ? H5S_SELECT_SET : H5S_SELECT_OR, start, NULL, count,
                                NULL);
    }
    const hsize_t n = (hsize_t)(configs * run);
    hid_t msp = H5Screate_simple(1, &n, NULL);
    dca_status st = write_row(rf, series_id, row, msp, fsp, e, pack, err);
    free(pack);
    return st;
}

dca_status dca_runfile_series_row(dca_runfile *rf, int series_id, int64_t row, const double *data,
                                  int64_t config_stride, dca_error *err)
{
    return dca_runfile_series_part(rf, series_id, row, 0, (int64_t)rf->s[series_id].dims[0], data,
                                   config_stride, err);
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

dca_status dca_runfile_close(dca_runfile *rf, bool complete, dca_error *err)
{
    dca_status st = DCA_OK;
    if (rf->file >= 0) {
        dca_error tmp;
        dca_error *e = err ? err : &tmp;
        st = dca_runfile_attr_i64(rf, "/run", "complete", complete, e);
        if (!st)
            st = flush(rf, e);
        for (int i = 0; i < rf->nseries; i++)
            H5Dclose(rf->s[i].dset);
        if (H5Fclose(rf->file) < 0 && !st)
            st = dca_h5_fail(err, DCA_ERR_IO, "%s: closing failed", rf->partial);
        if (rf->dxpl != H5P_DEFAULT)
            H5Pclose(rf->dxpl);
    }
    /* One rank makes the file durable and gives it its name. */
    if (complete && !st && rf->rank == 0) {
        /* Data on disk before the name points at it; then the name. */
        char *slash = strrchr(rf->path, '/');
        if (fsync_path(rf->partial, O_RDONLY) != 0)
            st = dca_error_set(err, DCA_ERR_IO, "%s: fsync failed: %s", rf->partial,
                               strerror(errno));
        else if (rename(rf->partial, rf->path) != 0)
            st = dca_error_set(err, DCA_ERR_IO, "cannot rename %s to %s: %s", rf->partial,
                               rf->path, strerror(errno));
        else if (slash) {
            *slash = '\0';
            fsync_path(*rf->path ? rf->path : "/", O_RDONLY | O_DIRECTORY);
        } else {
            fsync_path(".", O_RDONLY | O_DIRECTORY);
        }
    }
    if (complete && rf->ranks > 1) {
        dca_status st0 = (dca_status)agree(rf, (int64_t)st);
        if (st0 && !st)
            st = dca_error_set(err, st0, "%s: rank 0 could not finish the file", rf->path);
    }
    for (int i = 0; i < rf->nseries; i++)
        free(rf->s[i].pack);
    free(rf->path);
    free(rf->partial);
    free(rf);
    return st;
}
