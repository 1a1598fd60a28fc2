/* Population search over hard binary rule tables (dca search): the genetic
 * algorithm of Mitchell, Crutchfield and Das (1996), coevolution of rules
 * and initial configurations (Juille and Pollack 1998), simulated annealing,
 * a natural evolution strategy over rho, and gradient-informed variants that
 * draw mutations from the DCA gradient's predicted gain.
 *
 * Strategies are table entries (dca_search_strategies). Every strategy
 * spends its budget in configuration-runs (one rule run on one initial
 * configuration), counted the same way for all, and records the same
 * history. Fitness is density classification on the lattice of the
 * experiment (fresh configurations every generation); a fixed test set of
 * unbiased configurations scores the generation's best rule every
 * test_every generations with the bit-sliced evaluator.
 *
 * Every random choice is Philox keyed by (seed, run, generation, purpose,
 * index): results do not depend on the thread count. */
#ifndef DCA_SEARCH_H
#define DCA_SEARCH_H

#include <stdint.h>

#include "dca/dca.h"

typedef struct dca_search_options {
    const char *strategy;
    int64_t runs, generations, population, elite, mutations, configurations;
    const char *kind;         /* fitness configurations: uniform-density or bernoulli:P */
    int64_t steps;            /* step limit (0: 2 x cells) */
    int64_t test_samples, test_every;
    const char *test_kind;
    uint64_t test_seed;
    uint64_t seed;
    int64_t gradient_steps;   /* T of the DCA gradient (gradient-informed strategies) */
    int64_t gradient_configurations; /* the first this many of the generation's (<= all) */
    double gradient_logit;    /* the hard table as weights +-this */
    double temperature_start, temperature_end; /* annealing, in units of fitness */
    double nes_rate;          /* NES: Adam's step size on the logits */
    double ic_sigma;          /* coevolution: mutation of an IC's density */
    const char *symmetry;     /* none or complement-reflection (NULL: none) */
    int threads;              /* 0: all */
} dca_search_options;

/* One run's history (arrays of the lengths given; owned by the caller). */
typedef struct dca_search_history {
    double *best_fitness;   /* [generations] the generation's best fitness */
    double *mean_fitness;   /* [generations] */
    double *evaluations;    /* [generations] configuration-runs spent up to the generation */
    uint8_t *best_rule;     /* [generations x patterns] the generation's best rule */
    double *test_accuracy;  /* [tests] the tested generation's best rule on the test set */
    uint8_t *final_rule;    /* [patterns] the run's result: the best tested rule */
    double final_test;      /* its test accuracy */
    int64_t gradient_evaluations; /* DCA gradients computed (gradient-informed strategies) */
} dca_search_history;

typedef struct dca_search_strategy {
    const char *name;
    const char *doc;
    int uses_gradient;
} dca_search_strategy;

const dca_search_strategy *dca_search_strategies(int *n);
const dca_search_strategy *dca_search_strategy_find(const char *name);
/* "ga, ga-gradient, ...": for messages. */
const char *dca_search_strategy_names(void);

/* Generations at which the test set is used: g = test_every - 1, 2 test_every
 * - 1, ... and always the last. */
int64_t dca_search_tests(const dca_search_options *o);
int64_t dca_search_test_generation(const dca_search_options *o, int64_t i);

/* Progress: called after every generation of every run. */
typedef void (*dca_search_progress)(void *ctx, int64_t run, int64_t generation, double best,
                                    double test);

typedef struct dca_search dca_search;
/* A search over binary tables of rule's neighbourhood on lat (rule: the
 * shape; its weights are ignored). */
dca_status dca_search_create(const dca_lattice *lat, dca_rule *rule,
                             const dca_search_options *opt, dca_search **out, dca_error *err);
void dca_search_destroy(dca_search *s);
int64_t dca_search_patterns(const dca_search *s);
/* 1 when table has the search's symmetry (always, without one). */
int dca_search_symmetric(const dca_search *s, const uint8_t *table);
/* Runs run number `run` (0-based; its randomness is keyed by it). */
dca_status dca_search_run(dca_search *s, int64_t run, dca_search_history *h,
                          dca_search_progress progress, void *ctx, dca_error *err);

#endif
