/* The dca command line. Exit status: 0 success, 1 runtime failure, 2 usage
 * or configuration error (DESIGN.md §5). Only the CLI may exit. */
#ifndef DCA_CLI_H
#define DCA_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Options shared by run, train, gradcheck. */
typedef struct cli_common {
    const char *config;
    const char *output; /* -o */
    const char **sets;
    int n_sets;
    int threads; /* 0: default */
    bool quiet;
    char *command_line;
} cli_common;

/* An extra option parser for one command: returns NULL when argv[*i] is
 * not its option, "ok" when it took it (advancing *i past a value), or
 * "error" after printing an error. */
typedef const char *(*cli_extra_fn)(int argc, char **argv, int *i, void *ctx);
/* Returns -1 to continue, else an exit code (help printed, usage error). */
int cli_parse_common(int argc, char **argv, const char *usage_text, cli_common *o,
                     cli_extra_fn extra, void *extra_ctx);
/* cli_fail(EXIT_USAGE) for an error found while using a configuration key:
 * "FILE:LINE: [section] key = value: message". */
struct dca_config;
int cli_fail_at(const struct dca_config *cfg, const char *section, const char *key,
                const char *msg);
/* "hardened rule: hex:... (wolfram:N)" on stdout, for 2-state rules. */
#include "dca/dca.h"
#include "experiment.h"
void cli_print_hardened(const dca_rule *rule);
/* Loads o->config with o->sets and builds its experiment; on failure prints
 * the error and returns EXIT_USAGE, else -1. */
struct dca_experiment;
int cli_load(const cli_common *o, struct dca_config **cfg, struct dca_experiment **ex);
/* The same, the experiment holding only this process's share of the
 * initial configurations (experiment.h). */
int cli_load_share(const cli_common *o, dca_experiment_share_fn share, void *ctx,
                   struct dca_config **cfg, struct dca_experiment **ex);
/* dca run's loader: with [run] split = lattice on several MPI ranks, the
 * experiment holds every configuration's window (window picks it,
 * dca_experiment_build_window); otherwise as cli_load_share. */
int cli_load_split(const cli_common *o, dca_experiment_share_fn share,
                   dca_experiment_window_fn window, void *ctx, struct dca_config **cfg,
                   struct dca_experiment **ex);
/* The first key given (file or --set) in any of sections is an error:
 * prints "WHERE: why" and returns EXIT_USAGE; -1 when none is given. */
int cli_refuse_sections(const struct dca_config *cfg, const char *const *sections, size_t n,
                        const char *why);
/* mkdir -p of the directory part of path. */
int cli_make_parent_dirs(const char *path);
/* --resume PATH: a dca run file of this format version, started with the
 * effective configuration cfg. -1 when it is; otherwise prints why and
 * returns EXIT_USAGE. */
int cli_resume_check(const char *path, struct dca_config *cfg);
/* Density classification of h with the [eval] keys, max_steps steps; each
 * MPI rank scores its share of the samples (sample j is drawn from
 * (seed, j) wherever it runs) and the counts add up exactly. */
struct dca_density_result;
struct dca_hard;
dca_status cli_eval_density(const struct dca_hard *h, const struct dca_config *cfg,
                            int64_t max_steps, struct dca_density_result *res, dca_error *err);

int cmd_run(int argc, char **argv, char *command_line);
int cmd_gradcheck(int argc, char **argv, char *command_line);
int cmd_eval(int argc, char **argv, char *command_line);
int cmd_search(int argc, char **argv, char *command_line);
int cmd_train(int argc, char **argv, char *command_line);
int cmd_info(int argc, char **argv);
/* The options of dca gradcheck (--tol, --step, --all). */
typedef struct cli_gradcheck_opts {
    double tol, step;
    bool all;
} cli_gradcheck_opts;

/* The models other than rule tables ([model] kind, exp/learner.h): each
 * entry names the drivers that dca train and dca gradcheck hand over to
 * once the configuration names the model (models.c). Adding a model to the
 * command line is adding its file and its entry. */
typedef struct cli_model {
    int kind; /* dca_model_kind */
    int (*train)(const cli_common *o, struct dca_config *cfg, const char *resume,
                 const char *command_line);
    int (*gradcheck)(const cli_common *o, struct dca_config *cfg, const cli_gradcheck_opts *gc);
    bool mpi; /* trains on several MPI ranks */
} cli_model;
/* The entry of kind (NULL for DCA_MODEL_RULE, which the commands drive). */
const cli_model *cli_model_of(int kind);

/* The drivers (ffnet and kuramoto: cmd_learn.c; si: cmd_slm.c; potts,
 * segment, mk: cmd_potts.c, cmd_segment.c, cmd_mk.c). */
int cmd_learn_train(const cli_common *o, struct dca_config *cfg, const char *resume,
                    const char *command_line);
int cmd_learn_gradcheck(const cli_common *o, struct dca_config *cfg,
                        const cli_gradcheck_opts *gc);
int cmd_slm_train(const cli_common *o, struct dca_config *cfg, const char *resume,
                  const char *command_line);
int cmd_slm_gradcheck(const cli_common *o, struct dca_config *cfg,
                      const cli_gradcheck_opts *gc);
int cmd_potts_train(const cli_common *o, struct dca_config *cfg, const char *resume,
                    const char *command_line);
int cmd_potts_gradcheck(const cli_common *o, struct dca_config *cfg,
                        const cli_gradcheck_opts *gc);
int cmd_segment_train(const cli_common *o, struct dca_config *cfg, const char *resume,
                      const char *command_line);
int cmd_segment_gradcheck(const cli_common *o, struct dca_config *cfg,
                          const cli_gradcheck_opts *gc);
int cmd_mk_train(const cli_common *o, struct dca_config *cfg, const char *resume,
                 const char *command_line);
int cmd_mk_gradcheck(const cli_common *o, struct dca_config *cfg,
                     const cli_gradcheck_opts *gc);
/* Loads the configuration when it names a learner ([model] kind other than
 * rule): returns -1 with *cfg NULL for rule models, -1 with *cfg set for
 * learners, or an exit code after printing the error. */
int cli_load_learner(const cli_common *o, struct dca_config **cfg);

/* Prints "dca: error: ..." to stderr and returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress line on stderr, only when stderr is a terminal and not quiet. */
typedef struct progress {
    bool on;
    double start, last;
} progress;
double cli_now(void);
void progress_init(progress *p, bool quiet);
/* done of total units, with a rate in `unit`/s computed from work done. */
void progress_update(progress *p, int64_t done, int64_t total, double work_done,
                     const char *unit);
void progress_end(progress *p);

/* Signals: SIGINT/SIGTERM set a flag that loops poll. */
void cli_catch_signals(void);
bool cli_interrupted(void);

#endif
