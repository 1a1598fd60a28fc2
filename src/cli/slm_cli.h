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
 * time-limit, tolerance) and minibatch (unless listed).
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

/* ---- checkpoints and --resume ----------------------------------------------
 * A fit writes its run file every [optimizer] checkpoint-every iterations,
 * when interrupted and at the end, with /fit@model, /fit@iterations_done,
 * /fit@finished and, until it has finished, /fit/optimizer_state.
 * --resume reads that state back and
 * continues: the noise is keyed by iteration, so the finished file's
 * datasets are bitwise those of an uninterrupted run. Each function returns
 * -1 on success, else the exit code after the message. */

/* path holds a fit of this model (kind) started with cfg, after
 * *done <= I iterations; a fit that left the domain is not resumed. */
int slm_resume_open(const char *path, dca_config *cfg, const char *model, int64_t I,
                    int64_t *done);
/* /abc@candidates_done (0 when there are no candidates): at most
 * `candidates`, and 0 while the fit (done of I iterations) has not ended. */
int slm_resume_abc(const char *path, int64_t candidates, int64_t done, int64_t I,
                   int64_t *abc_done);
/* Dataset name holds exactly n values (n = 0: nothing is read). */
int slm_resume_doubles(const char *path, const char *name, double *dst, int64_t n);
int slm_resume_u8(const char *path, const char *name, uint8_t *dst, int64_t n);
int slm_resume_i64(const char *path, const char *obj, const char *name, int64_t *v);
int slm_resume_f64(const char *path, const char *obj, const char *name, double *v);
/* /fit/optimizer_state into opt, which has taken `done` steps. */
struct dca_optim;
int slm_resume_optim(const char *path, struct dca_optim *opt, int64_t done);
/* Writes /fit@iterations_done, /fit@finished and, when not finished,
 * /fit/optimizer_state. */
dca_status slm_save_progress(dca_runfile *rf, struct dca_optim *opt, int64_t done, bool finished,
                             dca_error *err);

typedef struct slm_fit_ctx {
    progress pg;
    int64_t total;
} slm_fit_ctx;

#endif
