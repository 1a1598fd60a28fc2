/* dca: the launcher (issue 18, part 4).
 *
 * libgomp reads its wait policy (GOMP_SPINCOUNT) and OpenBLAS its core
 * (OPENBLAS_CORETYPE) only when they load. dca used to set them and then
 * re-execute itself, which doubled process start (0.040 s against 0.020 s
 * for `dca --version` on the test VM; docs/performance.md, W3). This small
 * program links neither: it sets the environment first, then loads the real
 * program, libdca-cli.so (the whole command line, linked with OpenMP,
 * OpenBLAS, HDF5 and inih), and calls it. The rest of the choice (OpenBLAS's
 * own core on an AVX-512 CPU) is still made by dca_blas_select once OpenBLAS
 * is loaded, and still restarts in that one case.
 *
 * Under mpirun the launcher hands over to dca-mpi beside it (docs/cluster.md).
 *
 * The module is looked for beside this executable (the build tree), then in
 * DCA_CLI_MODULE_REL relative to it and at DCA_CLI_MODULE_ABS (installed). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "start_env.h"

#ifndef DCA_CLI_MODULE_REL
#define DCA_CLI_MODULE_REL "../lib/dca"
#endif
#ifndef DCA_CLI_MODULE_ABS
#define DCA_CLI_MODULE_ABS "/usr/local/lib/dca"
#endif
#define MODULE "libdca-cli.so"

static void *load(const char *dir, const char *rel, char *tried, size_t size)
{
    char path[4600];
    snprintf(path, sizeof path, "%s%s%s/" MODULE, dir, *rel ? "/" : "", rel);
    if (access(path, R_OK) != 0) {
        size_t n = strlen(tried);
        snprintf(tried + n, size - n, "%s%s", n ? ", " : "", path);
        return NULL;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dca: error: cannot load %s: %s\n", path, dlerror());
        exit(1);
    }
    return h;
}

int main(int argc, char **argv)
{
    const char *spin = dca_start_spin(argv);
    if (spin)
        setenv("GOMP_SPINCOUNT", spin, 1);
    char note[256];
    const char *core = getenv("DCA_BLAS_CORE_NOTE") ? NULL : dca_start_blas_core(note, sizeof note);
    if (core) {
        /* dca_blas_select sees the note and keeps this choice. */
        setenv("OPENBLAS_CORETYPE", core, 1);
        setenv("DCA_BLAS_CORE_NOTE", note, 1);
    }
    char path[4096];
    const char *mpi = dca_start_mpi_handover(path, sizeof path);
    if (mpi)
        execv(mpi, argv); /* returns only if it failed: then run serially */

    char dir[4096];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0) {
        fprintf(stderr, "dca: error: cannot find this program (/proc/self/exe)\n");
        return 1;
    }
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    char tried[16384] = "";
    void *h = load(dir, "", tried, sizeof tried);
    if (!h)
        h = load(dir, DCA_CLI_MODULE_REL, tried, sizeof tried);
    if (!h)
        h = load(DCA_CLI_MODULE_ABS, "", tried, sizeof tried);
    if (!h) {
        fprintf(stderr, "dca: error: the program library " MODULE " is missing (looked at %s)\n",
                tried);
        return 1;
    }
    int (*cli_main)(int, char **);
    *(void **)&cli_main = dlsym(h, "dca_cli_main");
    if (!cli_main) {
        fprintf(stderr, "dca: error: " MODULE " has no dca_cli_main: %s\n", dlerror());
        return 1;
    }
    return cli_main(argc, argv);
}
