/* HDF5 input and output. STYLE.md 7: HDF5 is used only in src/io, from the
 * main thread, with automatic error printing off and every id closed on one
 * cleanup path. The layout written here is a public contract
 * (docs/hdf5-layout.md). */
#ifndef DCA_IO_H
#define DCA_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "dca/dca.h"

enum { DCA_FORMAT_VERSION = 1, DCA_H5_MAX_RANK = 8 };

/* Reads PATH:DATASET (any integer or floating type) as float64. *data is
 * malloc'd; the caller frees it. Errors name the file and dataset. */
dca_status dca_h5_read_doubles(const char *path, const char *dataset, double **data, int *rank,
                               int64_t dims[DCA_H5_MAX_RANK], dca_error *err);

/* Attribute NAME of object OBJ ("/" for the root) in PATH. */
dca_status dca_h5_read_string_attr(const char *path, const char *obj, const char *name,
                                   char **out, dca_error *err);
dca_status dca_h5_read_i64_attr(const char *path, const char *obj, const char *name,
                                int64_t *out, dca_error *err);
dca_status dca_h5_read_f64_attr(const char *path, const char *obj, const char *name,
                                double *out, dca_error *err);

/* ---- run files ---------------------------------------------------------
 * A run file is written to PATH.partial and renamed to PATH when finished,
 * so PATH is always either absent, a previous complete file, or this run's
 * complete file. The partial file is flushed as rows are recorded (at most
 * every flush_seconds, and always at the end); /run@rows_written says how
 * many rows of each series are valid in it. */
typedef struct dca_runfile dca_runfile;

typedef struct dca_run_meta {
    const char *config_text; /* effective configuration, INI */
    const char *command;     /* the command line */
    double flush_seconds;    /* 0: flush after every row */
    /* This process writes the file by itself, even as one of several MPI
     * ranks (dca train's checkpoints: rank 0 alone). */
    bool alone;
} dca_run_meta;

dca_status dca_runfile_create(const char *path, const dca_run_meta *meta, dca_runfile **out,
                              dca_error *err);
/* /rule/offsets, /rule/weights, /rule/probabilities and /rule attributes. */
dca_status dca_runfile_write_rule(dca_runfile *rf, const dca_rule *rule, const char *nbhd_spec,
                                  dca_error *err);

/* A recorded series: dataset NAME of shape (G, R, inner...), written one
 * row (all G configurations at one recorded time) at a time. times (R
 * values) become the dimension scale NAME_times... of axis 1. */
typedef struct dca_series_spec {
    const char *name;         /* e.g. "/run/values" */
    int64_t configs;          /* G */
    int64_t rows;             /* R */
    const int64_t *times;     /* R step numbers */
    int inner_rank;
    int64_t inner[DCA_H5_MAX_RANK - 2];
    const char *inner_labels[DCA_H5_MAX_RANK - 2];
    int gzip;                 /* 0: no compression; 1..9 deflate level (with shuffle) */
} dca_series_spec;

dca_status dca_runfile_series(dca_runfile *rf, const dca_series_spec *spec, int *series_id,
                              dca_error *err);
/* data: G configurations, each prod(inner) doubles, config_stride apart. */
dca_status dca_runfile_series_row(dca_runfile *rf, int series_id, int64_t row, const double *data,
                                  int64_t config_stride, dca_error *err);
/* The same for configurations [first, first + configs) only (configs may
 * be 0). With several MPI ranks every rank calls it for every row, each
 * with its own configurations: the write is collective. */
dca_status dca_runfile_series_part(dca_runfile *rf, int series_id, int64_t row, int64_t first,
                                   int64_t configs, const double *data, int64_t config_stride,
                                   dca_error *err);

/* The same for lattice cells [cell0, cell0 + ncells) (row-major over the
 * lattice axes, not wrapped) of configurations [0, configs): one MPI rank's
 * lattice part (dca_part_info). data: per configuration ncells cells of
 * prod(inner axes after the lattice's) doubles, config_stride apart.
 * Collective with several ranks, as above. */
dca_status dca_runfile_series_cells(dca_runfile *rf, int series_id, int64_t row, int lattice_dims,
                                    int64_t configs, int64_t cell0, int64_t ncells,
                                    const double *data, int64_t config_stride, dca_error *err);

/* A whole float64 array (rank 0 for a scalar), e.g. /run/loss_gradient. */
dca_status dca_runfile_array(dca_runfile *rf, const char *name, int rank, const int64_t *dims,
                             const double *data, dca_error *err);
/* A whole uint8 array (rank >= 2), chunked by its last two axes (one
 * frame a chunk) and deflated at level gzip (0: none), e.g. /data/frames. */
dca_status dca_runfile_array_u8(dca_runfile *rf, const char *name, int rank, const int64_t *dims,
                                const uint8_t *data, int gzip, dca_error *err);

/* Scalar attributes on a group (created if missing). */
dca_status dca_runfile_attr_i64(dca_runfile *rf, const char *group, const char *name, int64_t v,
                                dca_error *err);
dca_status dca_runfile_attr_f64(dca_runfile *rf, const char *group, const char *name, double v,
                                dca_error *err);
dca_status dca_runfile_attr_str(dca_runfile *rf, const char *group, const char *name,
                                const char *v, dca_error *err);

/* complete: flush, close, fsync and rename PATH.partial to PATH.
 * Otherwise: flush and close, leaving PATH.partial (its name is returned
 * in err's message by the caller's choice). Always frees rf. */
dca_status dca_runfile_close(dca_runfile *rf, bool complete, dca_error *err);
const char *dca_runfile_partial_path(const dca_runfile *rf);

/* ---- reading run files for `dca info` ---------------------------------- */
/* Prints a human summary of a run file to stdout. */
dca_status dca_h5_info(const char *path, dca_error *err);

#endif
