/* dca: command dispatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli/blas_core.h"
#include "cli/cli.h"
#include "cli/par.h"
#include "mem.h"
#include "dca/dca.h"

static const char usage[] =
    "usage: dca COMMAND [ARGS]\n"
    "\n"
    "Differentiable cellular automata: simulate, write HDF5 run files.\n"
    "\n"
    "commands:\n"
    "  run CONFIG [-o OUT.h5] [--set SECTION.KEY=VALUE]... [--threads N] [--quiet]\n"
    "                 simulate the experiment in CONFIG and write a run file\n"
    "  gradcheck CONFIG [--tol T] [--step H] [--all] [same options as run]\n"
    "                 forward- and reverse-mode loss gradients vs finite differences\n"
    "  train CONFIG [--resume OUT.h5] [same options as run]\n"
    "                 fit the rule to the [task]; harden; evaluate\n"
    "  eval CONFIG [--rule RUN.h5] [-o OUT.h5] [same options as run]\n"
    "                 the hardened rule as an ordinary CA on density classification\n"
    "  search CONFIG [same options as run]\n"
    "                 population search over hard rules (GA, coevolution, annealing, NES)\n"
    "  info RUN.h5    summarise a run file\n"
    "\n"
    "options:\n"
    "  -h, --help     this help (COMMAND --help: the command's)\n"
    "  --version      print the version\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.\n"
    "Configuration keys: configs/README.md. Run file layout: docs/hdf5-layout.md.\n"
    "Under mpirun, run, train and eval share their configurations or samples among the\n"
    "ranks (docs/cluster.md).\n";

/* The command line as one string, for the run file's provenance. */
static char *join_args(int argc, char **argv)
{
    size_t n = 1;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 3;
    char *s = malloc(n);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < argc; i++) {
        if (i)
            strcat(s, " ");
        bool quote = strpbrk(argv[i], " \t\"'$") != NULL;
        if (quote)
            strcat(s, "'");
        strcat(s, argv[i]);
        if (quote)
            strcat(s, "'");
    }
    return s;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("dca %s\nOpenBLAS core: %s\n", dca_version(), dca_blas_note());
        return EXIT_OK;
    }
    const char *limit = getenv("DCA_MEMORY_LIMIT");
    int64_t bytes;
    if (limit && *limit && !dca_mem_parse_size(limit, &bytes))
        return cli_fail(EXIT_USAGE,
                        "DCA_MEMORY_LIMIT='%s': expected a size such as 4G, 512M or a number of "
                        "bytes", limit);
    static const struct {
        const char *name;
        int (*fn)(int argc, char **argv, char *command_line);
    } commands[] = {{"run", cmd_run},
                    {"train", cmd_train},
                    {"gradcheck", cmd_gradcheck},
                    {"eval", cmd_eval},
                    {"search", cmd_search}};
    /* Data parallelism is built for run, train and eval; the other commands
     * would run whole on every rank and write one file together. */
    if (par_many() && strcmp(cmd, "run") != 0 && strcmp(cmd, "eval") != 0 &&
        strcmp(cmd, "train") != 0)
        return cli_fail(EXIT_USAGE,
                        "dca %s does not run on several MPI ranks yet (run, train and eval "
                        "do); start it without mpirun, or with mpirun -np 1",
                        cmd);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(cmd, commands[i].name) == 0) {
            char *line = join_args(argc, argv);
            int rc = commands[i].fn(argc - 1, argv + 1, line);
            free(line);
            return rc;
        }
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    fputs(usage, stderr);
    return cli_fail(EXIT_USAGE, "unknown command '%s'", cmd);
}

/* glibc returns freed memory to the system once the free top of the heap
 * passes a threshold (twice the largest mmapped chunk freed so far, 256 KiB
 * at first), and serves chunks from 128 KiB up by mmap. A command that
 * allocates the same work buffers at every iteration (each model call takes
 * its own, freed when it returns) then takes the page faults again at every
 * iteration until the thresholds have grown: `dca train configs/mk-e1.ini`
 * took 250 page faults an iteration for its first 9 iterations (4,132 faults
 * for 10 iterations against 1,904 for 1), and 10 iterations on 2 threads ran
 * at 3.62e8 cell-steps/s against 4.04e8 with the thresholds below (best of 6
 * alternating runs each; 1 thread 2.17e8 against 2.22e8). dca keeps freed
 * memory up to 256 MiB and maps only chunks of 32 MiB and more, unless the
 * user set glibc's own MALLOC_TRIM_THRESHOLD_ or MALLOC_MMAP_THRESHOLD_. */
static void malloc_policy(void)
{
#ifdef __GLIBC__
    if (!getenv("MALLOC_TRIM_THRESHOLD_") && !getenv("MALLOC_MMAP_THRESHOLD_")) {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 256 << 20);
    }
#endif
}

/* The program's entry: main() in dca-mpi, and the function the dca
 * launcher (launch.c) calls in libdca-cli.so. */
#ifdef DCA_CLI_MODULE
__attribute__((visibility("default"))) int dca_cli_main(int argc, char **argv);
int dca_cli_main(int argc, char **argv)
#else
int main(int argc, char **argv)
#endif
{
    malloc_policy();
    dca_blas_select(argv);
    int ranks = dca_mpi_ranks_without_mpi();
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (ranks > 1 && rank && strcmp(rank, "0") != 0)
        return EXIT_USAGE; /* rank 0 says why */
    if (ranks > 1)
        return cli_fail(EXIT_USAGE,
                        "mpirun started %d ranks of a dca built without MPI, and there is no "
                        "dca-mpi beside it; build it (meson -Dmpi=enabled, with libopenmpi-dev "
                        "and libhdf5-openmpi-dev) or run dca without mpirun",
                        ranks);
    par_init(&argc, &argv);
    return par_finish(dispatch(argc, argv));
}
