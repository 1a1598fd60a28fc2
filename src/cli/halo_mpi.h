/* Lattice parts over MPI (issue 17, docs/cluster.md): the halo hook of a
 * part plan (dca.h, dca_part_info) as non-blocking point-to-point messages
 * between neighbouring ranks, and the gather of the parts' gradient blocks
 * in the batch's order. Rank r computes part r of the communicator's size.
 * Compiled only into MPI programs (dca-mpi, tests/mpi_parts, bench). */
#ifndef DCA_CLI_HALO_MPI_H
#define DCA_CLI_HALO_MPI_H

#include <mpi.h>

#include "dca/dca.h"

/* The hook's context: the communicator whose rank r runs part r, and the
 * packing buffer, grown to the largest exchange and kept between steps
 * (dca_mpi_halo_release frees it). Initialise with {.comm = ...}. */
typedef struct dca_mpi_halo_ctx {
    MPI_Comm comm;
    char *buf;
    size_t cap;
} dca_mpi_halo_ctx;

/* The hook: ctx points to a dca_mpi_halo_ctx. Returns DCA_ERR_ARG for a
 * message larger than INT_MAX bytes, DCA_ERR_IO when MPI reports an error.
 * Call it from the thread that initialised MPI. */
dca_status dca_mpi_halo(void *ctx, const dca_part_info *part, const dca_halo_buffer *buf);
void dca_mpi_halo_release(dca_mpi_halo_ctx *ctx);

/* Every part's gradient blocks (dca_sim_adjoint_blocks: B configurations x
 * part->block_count blocks x P) gathered into `all` (B x
 * part->blocks_per_config x P) in the batch's order, configuration by
 * configuration, each in part order: dca_sim_adjoint_finish's input. */
dca_status dca_mpi_part_blocks(MPI_Comm comm, const dca_part_info *part, int64_t B, int64_t P,
                               const double *mine, double *all);

#endif
