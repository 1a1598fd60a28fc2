/* The machine's ceilings for the roofline in docs/performance.md, measured
 * with the same OpenBLAS core dca runs (dca_blas_select):
 *   dgemm / sgemm  GFLOP/s of a large square GEMM (n = 2048) on all threads,
 *                  checked against a few entries computed directly;
 *   triad          GB/s of a[i] = b[i] + s c[i] over 3 x 64 MiB arrays
 *                  (24 bytes per element counted), OpenMP static split,
 *                  checked afterwards.
 * Prints one JSON line. Best of 5 runs each (ceilings, not typical speeds).
 *
 *   bench_machine [--threads K]
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/blas_core.h"
#include "bench_util.h"
#include "dca/dca.h"

static double gemm_gflops(int n, int single)
{
    const size_t nn = (size_t)n * (size_t)n;
    double *A = malloc(nn * 8), *B = malloc(nn * 8), *C = malloc(nn * 8);
    float *As = malloc(nn * 4), *Bs = malloc(nn * 4), *Cs = malloc(nn * 4);
    if (!A || !B || !C || !As || !Bs || !Cs) {
        fprintf(stderr, "bench_machine: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < nn; i++) {
        A[i] = (double)(i % 7) / 7.0;
        B[i] = (double)(i % 5) / 5.0;
        As[i] = (float)A[i];
        Bs[i] = (float)B[i];
    }
    double best = 1e300;
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now();
        if (single)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, As, n, Bs, n, 0,
                        Cs, n);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, A, n, B, n, 0, C,
                        n);
        double t = bench_now() - t0;
        best = t < best ? t : best;
    }
    /* Verify a few entries. */
    for (int k = 0; k < 4; k++) {
        size_t i = (size_t)(k * 517 % n), j = (size_t)(k * 911 % n);
        double s = 0;
        for (size_t l = 0; l < (size_t)n; l++)
            s += A[i * (size_t)n + l] * B[l * (size_t)n + j];
        double got = single ? (double)Cs[i * (size_t)n + j] : C[i * (size_t)n + j];
        if (!(fabs(got - s) <= (single ? 1e-4 : 1e-10) * fabs(s))) {
            fprintf(stderr, "bench_machine: VERIFY FAILED: gemm entry %g vs %g\n", got, s);
            exit(1);
        }
    }
    free(A), free(B), free(C), free(As), free(Bs), free(Cs);
    return 2.0 * n * (double)n * n / best / 1e9;
}

static double triad_gbs(void)
{
    const int64_t n = (int64_t)8 << 20; /* 64 MiB per array */
    double *a = malloc((size_t)n * 8), *b = malloc((size_t)n * 8), *c = malloc((size_t)n * 8);
    if (!a || !b || !c) {
        fprintf(stderr, "bench_machine: out of memory\n");
        exit(1);
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        a[i] = 0;
        b[i] = (double)(i % 3);
        c[i] = (double)(i % 11);
    }
    double best = 1e300;
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now();
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++)
            a[i] = b[i] + 3.0 * c[i];
        double t = bench_now() - t0;
        best = t < best ? t : best;
    }
    for (int64_t i = 0; i < n; i += 99991)
        if (a[i] != (double)(i % 3) + 3.0 * (double)(i % 11)) {
            fprintf(stderr, "bench_machine: VERIFY FAILED: triad\n");
            exit(1);
        }
    free(a), free(b), free(c);
    return 24.0 * (double)n / best / 1e9;
}

int main(int argc, char **argv)
{
    dca_blas_select(argv);
    int threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_machine: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (threads)
        omp_set_num_threads(threads);
    double dg = gemm_gflops(2048, 0), sg = gemm_gflops(2048, 1), tr = triad_gbs();
    printf("{\"openblas_core\": \"%s\", \"threads\": %d, \"dgemm_gflops\": %.1f, "
           "\"sgemm_gflops\": %.1f, \"triad_gbs\": %.1f}\n",
           dca_blas_core(), omp_get_max_threads(), dg, sg, tr);
    return 0;
}
