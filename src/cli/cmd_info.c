/* dca info RUN.h5 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "io/io.h"

static const char help[] = "usage: dca info RUN.h5\n"
                           "\n"
                           "Prints a run file's provenance, datasets (shape, chunks), attributes\n"
                           "and effective configuration.\n";

int cmd_info(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(help, stdout);
        return EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fputs(help, stderr);
        return cli_fail(EXIT_USAGE, "info takes exactly one run file");
    }
    dca_error err;
    if (dca_h5_info(argv[1], &err))
        return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    return EXIT_OK;
}
