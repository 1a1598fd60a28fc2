/* Data parallelism over MPI ranks (issue 17, docs/cluster.md).
 *
 * dca-mpi (built with -DDCA_MPI) starts MPI when mpirun launched it; every
 * rank then runs the same command on its own slice of the work and the
 * results are combined in a fixed order, so the files are bitwise those of
 * the serial dca. In the serial build, and in dca-mpi started without
 * mpirun, these functions describe one rank. */
#ifndef DCA_CLI_PAR_H
#define DCA_CLI_PAR_H

#include <stdbool.h>
#include <stdint.h>

#include "dca/gradient.h"

/* Starts MPI when the process was launched by mpirun (dca-mpi only). */
void par_init(int *argc, char ***argv);
/* Ends MPI. With a runtime failure (rc 1) on more than one rank it aborts
 * the job with rc: the other ranks may be waiting in a collective
 * operation. Usage errors (rc 2) happen on every rank alike, before any
 * collective operation, and end normally. */
int par_finish(int rc);
/* Every rank reached the same exit status at the same point (an interrupt
 * all ranks agreed on): par_finish then ends MPI normally, not by abort. */
void par_exit_agreed(void);
int par_rank(void);
int par_size(void);
/* True when this process runs as one of several ranks. */
static inline bool par_many(void) { return par_size() > 1; }
/* This rank's contiguous share [*first, *first + *count) of n items: the
 * first n % size ranks take one more. */
void par_share(int64_t n, int64_t *first, int64_t *count);
/* Sums over ranks (exact for integers). */
int64_t par_sum_i64(int64_t v);
/* Logical or over ranks. */
bool par_any(bool v);
/* Rank 0's values, on every rank. */
void par_bcast_f64(double *v, int n);
/* The largest value over ranks. */
double par_max_f64(double v);
/* The ranks as slices of one batch (gradient.h): loss sums passed from rank
 * to rank in order, the last rank's loss broadcast, gradient blocks gathered
 * in rank order. NULL on one rank. */
const dca_reduction *par_reduction(void);
/* The halo hook of a lattice part plan over the ranks (rank r runs part r,
 * src/cli/halo_mpi.c); an empty hook on one rank. */
struct dca_halo_hook par_halo(void);

#endif
