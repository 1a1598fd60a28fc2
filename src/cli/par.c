/* MPI ranks for the command line (par.h). */
#include "par.h"
#include "start_env.h"

#include <stdlib.h>

#ifdef DCA_MPI
#include <mpi.h>

#include "halo_mpi.h"

static int rank_, size_ = 1, started, agreed;
static dca_mpi_halo_ctx world_halo; /* the halo hook's context; comm set by par_init */

void par_exit_agreed(void) { agreed = 1; }

void par_init(int *argc, char ***argv)
{
    if (!dca_start_under_mpirun())
        return;
    int provided;
    /* OpenMP threads compute; only the main thread calls MPI. */
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    world_halo.comm = MPI_COMM_WORLD;
}

int par_finish(int rc)
{
    if (!started)
        return rc;
    /* Usage and configuration errors (exit 2) are found before any
     * collective operation, from the same inputs on every rank: each rank
     * fails the same way and ends normally. Anything else may leave the
     * other ranks waiting in a collective write: abort the job. */
    if (rc != 0 && rc != 2 && size_ > 1 && !agreed)
        MPI_Abort(MPI_COMM_WORLD, rc);
    dca_mpi_halo_release(&world_halo);
    MPI_Finalize();
    return rc;
}

int par_rank(void) { return rank_; }
int par_size(void) { return size_; }

int64_t par_sum_i64(int64_t v)
{
    if (size_ == 1)
        return v;
    int64_t s = 0;
    MPI_Allreduce(&v, &s, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    return s;
}

bool par_any(bool v)
{
    if (size_ == 1)
        return v;
    int in = v, out = 0;
    MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    return out != 0;
}

void par_bcast_f64(double *v, int n)
{
    if (size_ > 1)
        MPI_Bcast(v, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
}

double par_max_f64(double v)
{
    if (size_ == 1)
        return v;
    double m = v;
    MPI_Allreduce(&v, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

enum { TAG_CHAIN = 17 };

static double chain(void *ctx, double (*running)(void *arg, double start), void *arg)
{
    (void)ctx;
    double start = 0.0;
    if (rank_ > 0)
        MPI_Recv(&start, 1, MPI_DOUBLE, rank_ - 1, TAG_CHAIN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    const double v = running(arg, start);
    if (rank_ < size_ - 1)
        MPI_Send(&v, 1, MPI_DOUBLE, rank_ + 1, TAG_CHAIN, MPI_COMM_WORLD);
    return v;
}

static double from_last(void *ctx, double v)
{
    (void)ctx;
    MPI_Bcast(&v, 1, MPI_DOUBLE, size_ - 1, MPI_COMM_WORLD);
    return v;
}

static dca_status gather(void *ctx, const double *mine, int64_t n, int64_t P, double *all)
{
    (void)ctx;
    int *cnt = malloc(2 * (size_t)size_ * sizeof *cnt);
    if (!cnt)
        return DCA_ERR_NOMEM;
    int *disp = cnt + size_;
    /* Block counts times P stay far below INT_MAX: at most 64 blocks of at
     * most 2^25 / 64 parameters (dca_sim_batch_share). */
    const int me = (int)(n * P);
    MPI_Allgather(&me, 1, MPI_INT, cnt, 1, MPI_INT, MPI_COMM_WORLD);
    for (int r = 0, at = 0; r < size_; r++) {
        disp[r] = at;
        at += cnt[r];
    }
    MPI_Allgatherv(mine, me, MPI_DOUBLE, all, cnt, disp, MPI_DOUBLE, MPI_COMM_WORLD);
    free(cnt);
    return DCA_OK;
}

static const dca_reduction reduction = {NULL, chain, from_last, gather};

const dca_reduction *par_reduction(void) { return size_ > 1 ? &reduction : NULL; }


struct dca_halo_hook par_halo(void)
{
    return (struct dca_halo_hook){size_ > 1 ? dca_mpi_halo : NULL, &world_halo};
}

#else

const dca_reduction *par_reduction(void) { return NULL; }
struct dca_halo_hook par_halo(void) { return (struct dca_halo_hook){NULL, NULL}; }

void par_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
}
int par_finish(int rc) { return rc; }
void par_exit_agreed(void) {}
int par_rank(void) { return 0; }
int par_size(void) { return 1; }
int64_t par_sum_i64(int64_t v) { return v; }
bool par_any(bool v) { return v; }
void par_bcast_f64(double *v, int n)
{
    (void)v;
    (void)n;
}
double par_max_f64(double v) { return v; }

#endif

void par_share(int64_t n, int64_t *first, int64_t *count)
{
    const int64_t R = par_size(), r = par_rank(), q = n / R, m = n % R;
    *first = r * q + (r < m ? r : m);
    *count = q + (r < m);
}
