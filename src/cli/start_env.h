/* The environment dca wants before OpenMP and OpenBLAS load (blas_core.c,
 * launch.c). No library dependencies: the launcher uses it before anything
 * else is loaded. */
#ifndef DCA_START_ENV_H
#define DCA_START_ENV_H

#include <stdbool.h>
#include <stddef.h>

/* The GOMP_SPINCOUNT to set before libgomp loads, or NULL to leave it:
 * "1000" unless the user chose a wait policy (OMP_WAIT_POLICY,
 * GOMP_SPINCOUNT, DCA_OMP_SPINCOUNT=keep; DCA_OMP_SPINCOUNT=N sets N), and
 * NULL when the command runs one thread (nothing spins). */
const char *dca_start_spin(char **argv);
/* The serial dca under mpirun hands over to dca-mpi, the MPI build beside
 * it (issue 17): its path (in path, size bytes), or NULL when this is
 * dca-mpi, when mpirun did not start this process, or when there is no
 * dca-mpi. */
const char *dca_start_mpi_handover(char *path, size_t size);
/* True for the cores with AVX-512 kernels in OpenBLAS 0.3.21; true when
 * the CPU and the OS support AVX-512 (F, CD, BW, DQ, VL). */
bool dca_start_core_avx512(const char *core);
bool dca_start_cpu_avx512(void);
/* The OpenBLAS core to set before OpenBLAS loads, when that can be decided
 * without loading it: DCA_BLAS_CORETYPE=NAME, or an OPENBLAS_CORETYPE that
 * names an AVX2-or-older core on an AVX-512 CPU (upgraded to SkylakeX, as
 * dca_blas_select does). note receives how it was chosen. NULL otherwise:
 * dca_blas_select then decides once OpenBLAS has chosen. */
const char *dca_start_blas_core(char *note, size_t size);
/* True when an MPI launcher (mpirun, srun) started this process. */
bool dca_start_under_mpirun(void);

#endif
