/* An experiment built from a configuration: lattice, neighbourhood, rule
 * with its weights, and the initial configurations. Orchestration layer:
 * it resolves weight and initial-configuration sources (including HDF5
 * files through src/io) and reports errors at the configuration key. */
#ifndef DCA_EXPERIMENT_H
#define DCA_EXPERIMENT_H

#include "config.h"
#include "dca/dca.h"

typedef struct dca_experiment {
    dca_lattice lat;
    dca_nbhd *nb;
    dca_rule *rule;
    int64_t batch;      /* B */
    int64_t config_len; /* doubles per configuration */
    double *x0;         /* B x config_len, 64-byte aligned */
} dca_experiment;

dca_status dca_experiment_build(const dca_config *cfg, dca_experiment **out, dca_error *err);
void dca_experiment_destroy(dca_experiment *ex);

/* Weight sources, also usable without a configuration (tests, tools):
 * spec is what follows "weights = ". seed feeds normal:. basedir resolves a
 * relative file: path. */
dca_status dca_rule_load_weights(dca_rule *rule, const char *spec, uint64_t seed,
                                 const char *basedir, dca_error *err);

#endif
