/* Lattice parts over MPI (halo_mpi.h). */
#include "halo_mpi.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { TAG_TO_NEXT = 171, TAG_TO_PREV = 172 };

/* Copies `cells` cells from window cell `at` of every (configuration,
 * plane) segment of buf to or from the packed buffer p. */
static void pack(const dca_part_info *pi, const dca_halo_buffer *buf, int64_t at, int64_t cells,
                 char *p, int to_packed)
{
    const size_t cell = (size_t)buf->cell_len * buf->real, run = (size_t)cells * cell;
    const int64_t segs = buf->configs * buf->planes;
    char *data = buf->data;
    for (int64_t s = 0; s < segs; s++) {
        char *w = data + ((size_t)s * (size_t)pi->cells + (size_t)at) * cell;
        if (to_packed)
            memcpy(p + (size_t)s * run, w, run);
        else
            memcpy(w, p + (size_t)s * run, run);
    }
}

void dca_mpi_halo_release(dca_mpi_halo_ctx *ctx)
{
    free(ctx->buf);
    ctx->buf = NULL;
    ctx->cap = 0;
}

dca_status dca_mpi_halo(void *ctx, const dca_part_info *pi, const dca_halo_buffer *buf)
{
    dca_mpi_halo_ctx *hc = ctx;
    MPI_Comm comm = hc->comm;
    const double seg = (double)(buf->configs * buf->planes) * (double)buf->cell_len *
                       (double)buf->real;
    const int64_t before = pi->own_first, after = pi->cells - pi->own_first - pi->own_count;
    const int64_t n[4] = {pi->to_prev, pi->to_next, before, after}; /* send p, send n, recv p, n */
    size_t bytes[4], total = 0;
    for (int i = 0; i < 4; i++) {
        if ((double)n[i] * seg > (double)INT_MAX)
            return DCA_ERR_ARG;
        bytes[i] = (size_t)((double)n[i] * seg);
        total += bytes[i];
    }
    if (total > hc->cap) {
        char *grown = realloc(hc->buf, total);
        if (!grown)
            return DCA_ERR_NOMEM;
        hc->buf = grown;
        hc->cap = total;
    }
    char *sp = hc->buf, *sn = sp + bytes[0], *rp = sn + bytes[1], *rn = rp + bytes[2];
    pack(pi, buf, pi->own_first, pi->to_prev, sp, 1);
    pack(pi, buf, pi->own_first + pi->own_count - pi->to_next, pi->to_next, sn, 1);
    MPI_Request rq[4];
    int rc = MPI_Irecv(rp, (int)bytes[2], MPI_BYTE, pi->prev, TAG_TO_NEXT, comm, &rq[0]);
    rc |= MPI_Irecv(rn, (int)bytes[3], MPI_BYTE, pi->next, TAG_TO_PREV, comm, &rq[1]);
    rc |= MPI_Isend(sp, (int)bytes[0], MPI_BYTE, pi->prev, TAG_TO_PREV, comm, &rq[2]);
    rc |= MPI_Isend(sn, (int)bytes[1], MPI_BYTE, pi->next, TAG_TO_NEXT, comm, &rq[3]);
    rc |= MPI_Waitall(4, rq, MPI_STATUSES_IGNORE);
    if (rc == MPI_SUCCESS) {
        pack(pi, buf, 0, before, rp, 0);
        pack(pi, buf, pi->own_first + pi->own_count, after, rn, 0);
    }
    return rc == MPI_SUCCESS ? DCA_OK : DCA_ERR_IO;
}

dca_status dca_mpi_part_blocks(MPI_Comm comm, const dca_part_info *pi, int64_t B, int64_t P,
                               const double *mine, double *all)
{
    const int R = pi->parts, k = (int)pi->blocks_per_config;
    if ((double)B * k * (double)P > (double)INT_MAX)
        return DCA_ERR_ARG;
    int *cnt = malloc(4 * (size_t)R * sizeof *cnt);
    double *tmp = malloc((size_t)(B * k * P) * sizeof *tmp);
    if (!cnt || !tmp) {
        free(cnt);
        free(tmp);
        return DCA_ERR_NOMEM;
    }
    int *disp = cnt + R, *first = disp + R, *count = first + R;
    const int me[2] = {(int)pi->block_first, (int)pi->block_count};
    int *pairs = malloc(2 * (size_t)R * sizeof *pairs);
    int rc = pairs ? MPI_Allgather(me, 2, MPI_INT, pairs, 2, MPI_INT, comm) : MPI_ERR_NO_MEM;
    if (rc == MPI_SUCCESS) {
        for (int r = 0, at = 0; r < R; r++) {
            first[r] = pairs[2 * r];
            count[r] = pairs[2 * r + 1];
            cnt[r] = (int)(B * count[r] * P);
            disp[r] = at;
            at += cnt[r];
        }
        rc = MPI_Allgatherv(mine, (int)(B * pi->block_count * P), MPI_DOUBLE, tmp, cnt, disp,
                            MPI_DOUBLE, comm);
    }
    /* Part r's block i of configuration b is tmp[disp[r] + (b count[r] + i) P]; in the
     * batch it is block b k + first[r] + i. */
    if (rc == MPI_SUCCESS)
        for (int r = 0; r < R; r++)
            for (int64_t b = 0; b < B; b++)
                memcpy(all + (b * k + first[r]) * P, tmp + disp[r] + b * count[r] * P,
                       (size_t)(count[r] * P) * sizeof *all);
    free(pairs);
    free(cnt);
    free(tmp);
    return rc == MPI_SUCCESS ? DCA_OK : DCA_ERR_IO;
}
