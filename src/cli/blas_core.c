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
 * Because the choice is made at load time, it has to be in the environment
 * before OpenBLAS loads. The dca launcher (launch.c) sets it when it can
 * decide without OpenBLAS (dca_start_blas_core); otherwise dca_blas_select
 * looks at what OpenBLAS chose and, when it must change it, re-executes the
 * program (/proc/self/exe, same arguments) once, before anything else has
 * happened. The benchmark programs call dca_blas_select alone, so they always
 * decide here. DCA_BLAS_CORETYPE controls it:
 *   unset or "auto"  upgrade an AVX2-or-older core to SkylakeX when the CPU
 *                    and the OS support AVX-512 (F, CD, BW, DQ, VL);
 *   "keep"           never change what OpenBLAS chose;
 *   NAME             run OpenBLAS core NAME (OpenBLAS's spelling, e.g. Zen).
 * The decision is kept for dca_blas_note (run files record it).
 *
 * How idle OpenMP threads wait is also read only at load time, by libgomp.
 * Its default spins for up to 300,000 iterations at every barrier before
 * sleeping. When two dca processes (or dca and anything else) share the
 * cores, each one's spinning threads take the cores the other's working
 * threads need. Two default W1 runs started together took 5.0 s of wall
 * time against 1.07 s for the same pair on one thread each
 * (bench/concurrent). dca therefore runs with GOMP_SPINCOUNT=1000 (a
 * bounded spin, then sleep) unless the user set OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT (dca_start_spin). With it the pair took 1.04 s, and a
 * single run lost 3.6 % (0.550 s against 0.531 s; OMP_WAIT_POLICY=passive
 * lost 3.8 %). DCA_OMP_SPINCOUNT=keep leaves libgomp's default;
 * DCA_OMP_SPINCOUNT=N spins N iterations. A function in the executable's
 * .preinit_array does run before libgomp's constructor, but libc's own
 * initialisation then resets the environment to the one the process started
 * with, and libgomp never sees the change (tried and measured:
 * OMP_DISPLAY_ENV still showed 300000). The launcher sets it instead; a
 * program without the launcher (dca-mpi, the benchmarks) restarts here for
 * it. A run that will use one thread (--threads 1, OMP_NUM_THREADS=1) has no
 * barriers to spin at and needs neither. A restart costs about 16 ms of
 * process start (20 `dca --version`: 0.68 s against 0.36 s). */
#include "blas_core.h"
#include "start_env.h"

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
    const char *mpi_exe = dca_start_mpi_handover(mpi_path, sizeof mpi_path);
    const char *want = getenv("DCA_BLAS_CORETYPE");
    const char *core = openblas_get_corename();
    const char *target = NULL;
    const char *spin = dca_start_spin(argv);
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
    } else if (dca_start_cpu_avx512() && !dca_start_core_avx512(core)) {
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
