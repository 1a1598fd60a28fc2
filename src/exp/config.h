/* Experiment configuration: INI files (libinih) plus --set overrides.
 *
 * Every key is declared once in the schema table of config.c with its
 * default and its check; configs/README.md documents the same table. The
 * loader keeps where each value came from (file and line, --set, or the
 * default) so that every error can name it. */
#ifndef DCA_CONFIG_H
#define DCA_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "dca/dca.h"
#include "dca/slm.h"
#include "learner.h"
#include "search.h"

/* Distinct parameter keys over all optimiser types (dca/optim.h). */
#define DCA_CONFIG_MAX_OPTIM_KEYS 32

typedef struct dca_config {
    char *path;    /* the configuration file */
    char *basedir; /* its directory: relative file: paths in it start here */

    /* [lattice] */
    dca_lattice lattice;
    int states;
    const char *neighborhood;
    /* [rule] */
    const char *rule_kind;
    dca_mode mode;
    const char *weights;
    uint64_t rule_seed;
    /* [init] */
    int64_t configurations; /* 0: not given (a file: source decides; else 1) */
    const char *init_kind;
    double eps;
    uint64_t init_seed;
    /* [run] */
    int64_t steps;
    const char *gradients; /* none, forward, reverse */
    bool record_values;
    bool record_gradients;
    int64_t record_configurations; /* 0: all */
    int64_t record_every;
    /* [run] reverse-memory: reverse mode keeps every state when they need
     * at most this many bytes (-1: never; dca_adjoint_create_kept) */
    int64_t reverse_memory;
    /* [run] kernel, tile (0: auto) and tune = measure (dca_sim_tune) */
    dca_kernel kernel;
    int64_t tile;
    bool tune;
    dca_precision precision;
    bool bit_parallel; /* [run] bit-parallel = auto */
    bool split_lattice; /* [run] split = lattice (dca run under mpirun) */
    /* [output] */
    const char *output_file;
    const char *output_rle; /* NULL: none */
    int gzip;          /* 0: none */
    int gradient_gzip; /* 0: none */
    /* [eval] */
    int64_t eval_samples;
    int64_t eval_steps; /* 0: 2 x cells */
    const char *eval_kind;
    uint64_t eval_seed;
    /* [optimizer] */
    const char *method;
    int64_t iterations;
    double optim_values[DCA_CONFIG_MAX_OPTIM_KEYS]; /* by schema slot: dca_config_optim_params */
    uint64_t optim_seed;
    double tolerance, time_limit;
    int64_t checkpoint_every;
    int64_t minibatch; /* 0: full batch */
    bool fresh;        /* new configurations every iteration */
    /* [search] */
    dca_search_options search;
    /* [model] and [ensemble]: learners beyond lattices (learner.h) */
    dca_learner_options learner;
    /* [model], [data] and [abc] for the stochastic lattice models (dca/slm.h) */
    struct {
        double beta;            /* si: initial beta of the fit */
        dca_ste ste;            /* [model] surrogate */
        const char *source;     /* [data] simulate | file:PATH.h5:DATASET */
        int64_t simulations, states;
        double beta_mean, beta_std;
        uint64_t data_seed;
        int64_t abc_candidates, abc_simulations;
        double abc_accept;
        uint64_t abc_seed;
        /* potts */
        double temperature, target_msd;
        double abc_tmin, abc_tmax; /* [abc] prior (potts) */
        int sampling;        /* dca_potts_sampling */
        bool score;          /* estimator = score (else ste) */
        int64_t lattices, sampling_steps;
        /* segment */
        dca_segment_weights lambda;
        const char *mask;    /* [data] mask: none | file:PATH.h5:DATASET */
        int64_t cells;
        double rmin, rmax, blur, noise;
        /* mk */
        dca_mk_params mk, mk_reference;
        int64_t particles;   /* [model] N */
        double tau;
        const char *fit;     /* all | k | D */
        bool offset_score;   /* offset-estimator = score (else ste) */
        int64_t stability_steps, test_every, test_steps, pattern_steps;
    } slm;
    /* [task] */
    const char *target; /* none, identity, majority */
    const char *loss;   /* cross-entropy, mse */

    struct dca_config_store *store; /* values and where they came from */
} dca_config;

/* Loads path (NULL: defaults only), then applies the overrides
 * ("section.key=value", n_sets of them), then checks every key and the
 * combinations. On failure err names the file, line and key. */
dca_status dca_config_load(const char *path, const char *const *sets, int n_sets,
                           dca_config **out, dca_error *err);
void dca_config_destroy(dca_config *cfg);

/* "FILE:LINE: [section] key = value" or "--set section.key=value" or
 * "[section] key = value (default)": the place to name in an error. */
const char *dca_config_where(const dca_config *cfg, const char *section, const char *key,
                             char *buf, size_t len);
/* True when the key came from the file or --set rather than the default. */
bool dca_config_given(const dca_config *cfg, const char *section, const char *key);
/* Base directory for a relative path in this key's value: the config
 * file's directory for values from the file, "." otherwise. */
const char *dca_config_basedir(const dca_config *cfg, const char *section, const char *key);
/* The effective configuration as INI text (every key, defaults included).
 * Owned by cfg. */
const char *dca_config_text(dca_config *cfg);

/* The first key of section given in the file or by --set (NULL: none). */
const char *dca_config_first_given(const dca_config *cfg, const char *section);

/* The chosen method's parameters in its descriptor order (dca_optim_create). */
void dca_config_optim_params(const dca_config *cfg, double *par);

/* Schema introspection (for docs and tests). */
typedef struct dca_config_key_doc {
    const char *section, *key, *def, *doc;
} dca_config_key_doc;
int dca_config_schema(const dca_config_key_doc **keys);

#endif
