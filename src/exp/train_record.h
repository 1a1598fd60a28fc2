/* The record of a rule training (dca train): its histories, the best
 * weights, and how they are written to and read back from a run file's
 * /train group (docs/hdf5-layout.md). The caller owns the loop; this keeps
 * what a checkpoint holds, so that a resumed run continues bit for bit. */
#ifndef DCA_TRAIN_RECORD_H
#define DCA_TRAIN_RECORD_H

#include "dca/optim.h"
#include "dca/trainer.h"
#include "io/io.h"

typedef struct dca_train_record {
    int64_t P, I, done; /* weights, iterations planned, iterations done */
    int wrank;          /* the rule's weights shape (dca_rule_shape) */
    int64_t wdims[2];
    /* loss, gradient_norm, wall_seconds: I; weights: (I + 1) x P (row i is
     * the weights iteration i started from); step_size: I x P. */
    double *loss, *gnorm, *secs, *weights, *steps;
    double *best_w, best_E; /* the weights of the lowest loss seen */
} dca_train_record;

/* Room for I iterations of the rule's weights, starting from its current
 * ones. The histories are refused (DCA_ERR_CONFIG, with the sizes) when
 * they would take more than a quarter of the physical memory. */
dca_status dca_train_record_init(dca_train_record *r, const dca_rule *rule, int64_t I,
                                 dca_error *err);
void dca_train_record_free(dca_train_record *r);

/* Iteration it's loss (from the weights it started from, row it); the best
 * weights follow. */
void dca_train_record_loss(dca_train_record *r, int64_t it, const dca_train_report *rep);
/* Iteration it ended at weights w after `seconds` of training in all, with
 * the optimiser's step sizes: done becomes it + 1. */
void dca_train_record_step(dca_train_record *r, int64_t it, const double *w,
                           const double *sizes, double seconds);

/* The /train datasets and their sizes' attributes. The caller writes the
 * string attributes (method, target, loss, ...). */
dca_status dca_train_record_write(const dca_train_record *r, dca_runfile *rf, dca_optim *opt,
                                  bool finished, dca_error *err);
/* Reads back the state of path's /train (after r->done iterations, at most
 * r->I) into r and the optimiser's state; *w gets the weights to continue
 * from. Errors name the file and dataset. */
dca_status dca_train_record_read(dca_train_record *r, const char *path, dca_optim *opt,
                                 double *w, dca_error *err);

#endif
