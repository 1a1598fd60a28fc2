/* Which OpenBLAS kernels this process runs (DESIGN.md §4).
 *
 * OpenBLAS's DYNAMIC_ARCH build picks its kernels ("core") once, when the
 * library is loaded, from the CPU or from OPENBLAS_CORETYPE. OpenBLAS 0.3.21
 * predates some AVX-512 CPUs (AMD Zen 5 among them), and on such machines
 * OPENBLAS_CORETYPE is often pinned to Haswell, an AVX2 core, to avoid a
 * misdetection. On an AVX-512 CPU that leaves half the vector width unused:
 * on the benchmark machine (Zen 5) the SkylakeX core ran W1 1.3-1.5x and W2
 * 1.4x faster than Haswell (docs/performance.md).
 *
 * Because the choice is made at load time, the only way to change it is to
 * start the program again with the variable set: dca_blas_select re-executes
 * the program (/proc/self/exe, same arguments) once, before anything else
 * has happened. DCA_BLAS_CORETYPE controls it:
 *   unset or "auto"  upgrade an AVX2-or-older core to SkylakeX when the CPU
 *                    and the OS support AVX-512 (F, CD, BW, DQ, VL);
 *   "keep"           never change what OpenBLAS chose;
 *   NAME             run OpenBLAS core NAME (OpenBLAS's spelling, e.g. Zen).
 * The decision is kept for dca_blas_note (run files record it).
 *
 * The same restart sets how idle OpenMP threads wait, which libgomp also
 * reads only at load time. Its default spins for up to 300,000 iterations at
 * every barrier before sleeping. When two dca processes (or dca and anything
 * else) share the cores, each one's spinning threads take the cores the
 * other's working threads need. Two default W1 runs started together took
 * 5.0 s of wall time against 1.07 s for the same pair on one thread each
 * (bench/concurrent). dca therefore runs with GOMP_SPINCOUNT=1000 (a
 * bounded spin, then sleep) unless the user set OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT. With it the pair took 1.04 s, and a single run lost
 * 3.6 % (0.550 s against 0.531 s; OMP_WAIT_POLICY=passive lost 3.8 %).
 * DCA_OMP_SPINCOUNT=keep leaves libgomp's default; DCA_OMP_SPINCOUNT=N
 * spins N iterations. Setting it needs the restart too. A function in the
 * executable's .preinit_array does run before libgomp's constructor, but
 * libc's own initialisation then resets the environment to the one the
 * process started with, and libgomp never sees the change (tried and
 * measured: OMP_DISPLAY_ENV still showed 300000). A run that will use one
 * thread (--threads 1, OMP_NUM_THREADS=1) has no barriers to spin at and is
 * not restarted. The restart costs about 16 ms of process start (20
 * `dca --version`: 0.68 s against 0.36 s). */
#include "blas_core.h"

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

char *openblas_get_corename(void);

static char note[256];

const char *dca_blas_core(void) { return openblas_get_corename(); }

const char *dca_blas_note(void)
{
    const char *n = getenv("DCA_BLAS_CORE_NOTE");
    return n ? n : note;
}

/* True for the cores with AVX-512 kernels in OpenBLAS 0.3.21. */
static bool core_is_avx512(const char *core)
{
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
        if (strcasecmp(core, avx512[i]) == 0)
            return true;
    return false;
}

static bool cpu_has_avx512(void)
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

/* The GOMP_SPINCOUNT to set before OpenMP starts, or NULL to leave it. */
static const char *spin_wanted(void)
{
    const char *d = getenv("DCA_OMP_SPINCOUNT");
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || (d && strcmp(d, "keep") == 0))
        return NULL;
    return d && *d ? d : "1000";
}

/* One thread: nothing spins, no restart for the wait policy. */
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

/* The serial dca under mpirun hands over to dca-mpi, the MPI build beside
 * it (issue 17): the path of that executable, or NULL when this is dca-mpi,
 * when mpirun did not start this process, or when there is no dca-mpi. */
static const char *mpi_handover(char *path, size_t size)
{
#ifdef DCA_MPI
    (void)path;
    (void)size;
    return NULL;
#else
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
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

int dca_mpi_ranks_without_mpi(void)
{
#ifdef DCA_MPI
    return 0;
#else
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (!n)
        n = getenv("PMI_SIZE");
    return n && atoi(n) > 1 ? atoi(n) : 0;
#endif
}

void dca_blas_select(char **argv)
{
    /* Set by the first run before it re-executes: never loop. */
    if (getenv("DCA_BLAS_CORE_NOTE"))
        return;
    char mpi_path[4096];
    const char *mpi_exe = mpi_handover(mpi_path, sizeof mpi_path);
    const char *want = getenv("DCA_BLAS_CORETYPE");
    const char *core = openblas_get_corename();
    const char *target = NULL;
    const char *spin = single_thread(argv) ? NULL : spin_wanted();
    char buf[256];
    if (!core)
        core = "(unknown)";
    if (want && strcmp(want, "keep") == 0) {
        snprintf(buf, sizeof buf, "%s (kept: DCA_BLAS_CORETYPE=keep)", core);
    } else if (want && *want && strcmp(want, "auto") != 0) {
        if (strcasecmp(core, want) == 0)
            snprintf(buf, sizeof buf, "%s (DCA_BLAS_CORETYPE)", core);
        else
            target = want;
    } else if (cpu_has_avx512() && !core_is_avx512(core)) {
        target = "SkylakeX";
    } else {
        snprintf(buf, sizeof buf, "%s (OpenBLAS's choice)", core);
    }
    if (target)
        snprintf(buf, sizeof buf, "%s (dca chose it: OpenBLAS had %s%s)", target, core,
                 want && *want && strcmp(want, "auto") != 0 ? "; DCA_BLAS_CORETYPE"
                                                            : " on an AVX-512 CPU");
    snprintf(note, sizeof note, "%s", buf);
    if (!target && !spin && !mpi_exe)
        return;
    if ((target && setenv("OPENBLAS_CORETYPE", target, 1)) ||
        (spin && setenv("GOMP_SPINCOUNT", spin, 1)) || setenv("DCA_BLAS_CORE_NOTE", buf, 1))
        return;
    execv(mpi_exe ? mpi_exe : "/proc/self/exe", argv);
    /* exec failed (no /proc, say): carry on with what OpenBLAS and libgomp chose. */
    unsetenv("DCA_BLAS_CORE_NOTE");
    if (spin)
        unsetenv("GOMP_SPINCOUNT");
    if (target)
        snprintf(note, sizeof note, "%s (could not switch to %s)", core, target);
}
