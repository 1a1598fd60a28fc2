/* Per-message costs of MPI on this machine (issue 17): the inputs of the
 * scaling model in docs/performance.md. Run under mpirun with 2 ranks:
 *   mpirun -np 2 build/bench/mpi_costs [--reps N]
 * Prints one line of JSON (rank 0): the half round trip of an 8-byte message
 * (latency), the bandwidth of 1 MiB messages, and the time of an allreduce
 * of 64 x 512 doubles (W2's gradient blocks: 64 blocks of P = 512 weights),
 * each the median of --reps timings. Every message is checked on arrival
 * before anything is timed. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

/* Half the round trip of n bytes between ranks 0 and 1, seconds. */
static double pingpong(char *buf, int n, int rank, int inner)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int i = 0; i < inner; i++) {
        if (rank == 0) {
            MPI_Send(buf, n, MPI_CHAR, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, n, MPI_CHAR, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Recv(buf, n, MPI_CHAR, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, n, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
        }
    }
    return (MPI_Wtime() - t0) / (2.0 * inner);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, reps = 21;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
    if (size < 2 || reps < 1) {
        if (rank == 0)
            fprintf(stderr, "mpi_costs: run with mpirun -np 2 (got %d ranks), --reps >= 1\n", size);
        MPI_Finalize();
        return 2;
    }
    const int big = 1 << 20, nred = 64 * 512;
    char *buf = malloc((size_t)big);
    double *red = malloc((size_t)nred * sizeof *red), *sum = malloc((size_t)nred * sizeof *sum);
    double *lat = malloc((size_t)reps * sizeof *lat), *bw = malloc((size_t)reps * sizeof *bw),
           *ar = malloc((size_t)reps * sizeof *ar);
    if (!buf || !red || !sum || !lat || !bw || !ar)
        MPI_Abort(MPI_COMM_WORLD, 1);
    /* Verify: a patterned 1 MiB message arrives intact, the sum is right. */
    for (int i = 0; i < big; i++)
        buf[i] = (char)(rank == 0 ? i * 7 : 0);
    pingpong(buf, big, rank, 1);
    int bad = 0;
    for (int i = 0; i < big; i++)
        bad |= buf[i] != (char)(i * 7);
    for (int i = 0; i < nred; i++)
        red[i] = (double)(rank + 1) * (double)i;
    MPI_Allreduce(red, sum, nred, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    const double k = (double)size * (size + 1) / 2.0;
    for (int i = 0; i < nred; i++)
        bad |= sum[i] != k * (double)i;
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    if (bad) {
        if (rank == 0)
            fprintf(stderr, "mpi_costs: a message or the allreduce arrived wrong\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int r = 0; r < reps; r++) {
        lat[r] = pingpong(buf, 8, rank, 1000);
        bw[r] = (double)big / pingpong(buf, big, rank, 20);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int i = 0; i < 20; i++)
            MPI_Allreduce(red, sum, nred, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        ar[r] = (MPI_Wtime() - t0) / 20;
    }
    if (rank == 0)
        printf("{\"ranks\": %d, \"latency_seconds\": %.3e, \"bandwidth_bytes_per_second\": %.3e, "
               "\"allreduce_64x512_seconds\": %.3e, \"reps\": %d}\n",
               size, median(lat, reps), median(bw, reps), median(ar, reps), reps);
    free(buf), free(red), free(sum), free(lat), free(bw), free(ar);
    MPI_Finalize();
    return 0;
}
