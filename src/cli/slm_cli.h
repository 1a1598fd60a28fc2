/* What the stochastic-lattice-model commands share (cmd_slm.c: SI and
 * these helpers; cmd_potts.c, cmd_segment.c, cmd_mk.c). */
#ifndef DCA_SLM_CLI_H
#define DCA_SLM_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "config.h"
#include "io.h"

/* Every key given (in the file or by --set) must be one this model uses:
 * `allowed` lists "section.key" entries, NULL-terminated; "optimizer.*"
 * allows the optimiser's keys except those of rule training (fresh,
 * checkpoint-every, time-limit, tolerance) and minibatch (unless listed).
 * [output] is always allowed. Returns -1, or the exit code after the
 * message. */
int slm_refuse_foreign(const dca_config *cfg, const char *kind, const char *const *allowed);

/* "file:PATH:DATASET" of key (section, key) -> path (relative to the
 * config's directory) and dataset. */
void slm_split_file_spec(const dca_config *cfg, const char *section, const char *key,
                         const char *spec, char *path, size_t len, const char **dataset);

/* Closes *rf (complete when st is DCA_OK); a close failure becomes st. */
dca_status slm_close_runfile(dca_runfile **rf, dca_status st, dca_error *err);

/* Mean and standard error of x[0..n). */
void slm_mean_se(const double *x, int64_t n, double *mean, double *se);

typedef struct slm_fit_ctx {
    progress pg;
    int64_t total;
} slm_fit_ctx;

#endif
