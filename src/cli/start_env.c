/* The environment dca wants before OpenMP and OpenBLAS load (start_env.h). */
#include "start_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* One thread: nothing spins at barriers. */
static bool single_thread(char **argv)
{
    const char *n = getenv("OMP_NUM_THREADS");
    if (n && strcmp(n, "1") == 0)
        return true;
    for (int i = 1; argv[i]; i++) {
        if (strcmp(argv[i], "--threads") == 0 && argv[i + 1])
            return strcmp(argv[i + 1], "1") == 0;
        if (strcmp(argv[i], "--threads=1") == 0)
            return true;
    }
    return false;
}

const char *dca_start_spin(char **argv)
{
    const char *d = getenv("DCA_OMP_SPINCOUNT");
    if (single_thread(argv) || getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") ||
        (d && strcmp(d, "keep") == 0))
        return NULL;
    return d && *d ? d : "1000";
}

bool dca_start_under_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

const char *dca_start_mpi_handover(char *path, size_t size)
{
#ifdef DCA_MPI
    (void)path;
    (void)size;
    return NULL;
#else
    if (!dca_start_under_mpirun() || size < 32)
        return NULL;
    ssize_t n = readlink("/proc/self/exe", path, size - 16);
    if (n <= 0)
        return NULL;
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash)
        return NULL;
    strcpy(slash + 1, "dca-mpi");
    return access(path, X_OK) == 0 ? path : NULL;
#endif
}

/* True for the cores with AVX-512 kernels in OpenBLAS 0.3.21. */
bool dca_start_core_avx512(const char *core)
{
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
        if (strcasecmp(core, avx512[i]) == 0)
            return true;
    return false;
}

bool dca_start_cpu_avx512(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

const char *dca_start_blas_core(char *note, size_t size)
{
    const char *want = getenv("DCA_BLAS_CORETYPE");
    const char *have = getenv("OPENBLAS_CORETYPE");
    if (want && strcmp(want, "keep") == 0)
        return NULL;
    if (want && *want && strcmp(want, "auto") != 0) {
        snprintf(note, size, "%s (DCA_BLAS_CORETYPE)", want);
        return want;
    }
    if (have && *have && !dca_start_core_avx512(have) && dca_start_cpu_avx512()) {
        snprintf(note, size, "SkylakeX (dca chose it: OPENBLAS_CORETYPE was %s on an AVX-512 CPU)",
                 have);
        return "SkylakeX";
    }
    return NULL;
}
