/* Which OpenBLAS core the dca program runs (blas_core.c). A program-level
 * choice: it re-executes the process, so it belongs to the command line
 * (and to the benchmark programs), never to the library. */
#ifndef DCA_BLAS_CORE_H
#define DCA_BLAS_CORE_H

/* Called first thing in main(): if OpenBLAS runs an AVX2-or-older core on a
 * CPU with AVX-512, or libgomp would spin at its default on more than one
 * thread (neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT set), re-executes the
 * program once with OPENBLAS_CORETYPE = SkylakeX and/or GOMP_SPINCOUNT =
 * 1000. DCA_BLAS_CORETYPE = auto (default) | keep | NAME and
 * DCA_OMP_SPINCOUNT = keep | N control them. Returns only when no restart
 * happens. */
void dca_blas_select(char **argv);
/* The serial dca started by mpirun hands over to dca-mpi beside it in the
 * same restart (or alone, when nothing else needs one). Without a dca-mpi,
 * this returns mpirun's rank count when it is over 1 (main then refuses to
 * run: every rank would do the whole command), else 0. */
int dca_mpi_ranks_without_mpi(void);
/* The OpenBLAS core in use, and how it was chosen (for run files). */
const char *dca_blas_core(void);
const char *dca_blas_note(void);

#endif
