/* An experiment built from a configuration: lattice, neighbourhood, rule
 * with its weights, and the initial configurations. Orchestration layer:
 * it resolves weight and initial-configuration sources (including HDF5
 * files through src/io) and reports errors at the configuration key. */
#ifndef DCA_EXPERIMENT_H
#define DCA_EXPERIMENT_H

#include "config.h"
#include "dca/dca.h"
#include "dca/task.h"

typedef struct dca_experiment {
    dca_lattice lat;
    dca_nbhd *nb;
    dca_rule *rule;
    int64_t batch;      /* B */
    int64_t config_len; /* doubles per configuration */
    /* x0 holds configurations [first, first + count) of the batch (all of
     * them unless built with a share), count x config_len doubles, 64-byte
     * aligned. */
    int64_t first, count;
    double *x0;
} dca_experiment;

dca_status dca_experiment_build(const dca_config *cfg, dca_experiment **out, dca_error *err);
/* The same, holding only a share of the initial configurations (one MPI
 * rank's): share(ctx, B, parameters of the rule, &first, &count) picks it
 * once the batch and the rule are known. Generated kinds draw only the
 * share (dca_init_generate_part: the same values as in the whole batch);
 * file: and rle: sources are read whole and cut. */
typedef void (*dca_experiment_share_fn)(void *ctx, int64_t batch, int64_t params, int64_t *first,
                                        int64_t *count);
dca_status dca_experiment_build_share(const dca_config *cfg, dca_experiment_share_fn share,
                                      void *ctx, dca_experiment **out, dca_error *err);
/* The same, holding every configuration's window of the lattice (one MPI
 * rank's lattice part, dca_part_info): window(ctx, ex, &cell0, &ncells,
 * err) picks the lattice cells [cell0, cell0 + ncells) (row-major, wrapped)
 * once the lattice and the rule are known, and may fail. x0 then holds
 * batch configurations of window cells (config_len = ncells x values per
 * cell). Generated kinds draw only those cells (dca_init_generate_window);
 * file: and rle: sources are read whole and cut. */
typedef dca_status (*dca_experiment_window_fn)(void *ctx, const dca_experiment *ex,
                                               int64_t *cell0, int64_t *ncells, dca_error *err);
dca_status dca_experiment_build_window(const dca_config *cfg, dca_experiment_window_fn window,
                                       void *ctx, dca_experiment **out, dca_error *err);
void dca_experiment_destroy(dca_experiment *ex);
/* The task shape of ex for `batch` configurations, with the file: reader. */
dca_task_shape dca_experiment_shape(const dca_config *cfg, const dca_experiment *ex,
                                    int64_t batch);

/* Configurations from spec = "PATH.h5:/DATASET" (after "file:"): shape
 * (B, *lattice) binary or (B, *lattice, k) softmax, values in [0, 1],
 * softmax cells summing to 1 within 1e-9. batch = 0 accepts any B. *out is
 * 64-byte aligned (free with free()); *out_batch receives B. Relative paths
 * start at basedir. Used for initial configurations and file: targets. */
dca_status dca_read_configurations(const char *spec, const char *basedir,
                                   const dca_lattice *lat, int states, dca_mode mode,
                                   int64_t batch, double **out, int64_t *out_batch,
                                   dca_error *err);

#endif
