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
 * The decision is kept for dca_blas_note (run files record it). */
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

void dca_blas_select(char **argv)
{
    /* Set by the first run before it re-executes: never loop. */
    if (getenv("DCA_BLAS_CORE_NOTE"))
        return;
    const char *want = getenv("DCA_BLAS_CORETYPE");
    const char *core = openblas_get_corename();
    const char *target = NULL;
    if (!core)
        return;
    if (want && strcmp(want, "keep") == 0) {
        snprintf(note, sizeof note, "%s (kept: DCA_BLAS_CORETYPE=keep)", core);
        return;
    }
    if (want && *want && strcmp(want, "auto") != 0) {
        if (strcasecmp(core, want) == 0) {
            snprintf(note, sizeof note, "%s (DCA_BLAS_CORETYPE)", core);
            return;
        }
        target = want;
    } else if (cpu_has_avx512() && !core_is_avx512(core)) {
        target = "SkylakeX";
    } else {
        snprintf(note, sizeof note, "%s (OpenBLAS's choice)", core);
        return;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s (dca chose it: OpenBLAS had %s%s)", target, core,
             want && *want && strcmp(want, "auto") != 0 ? "; DCA_BLAS_CORETYPE" : " on an AVX-512 CPU");
    if (setenv("OPENBLAS_CORETYPE", target, 1) || setenv("DCA_BLAS_CORE_NOTE", buf, 1))
        return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc, say): carry on with what OpenBLAS chose. */
    unsetenv("DCA_BLAS_CORE_NOTE");
    snprintf(note, sizeof note, "%s (could not switch to %s)", core, target);
}
