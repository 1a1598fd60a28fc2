/* libFuzzer target: the configuration loader and experiment builder.
 *
 * Each input is written as an INI file and loaded the way `dca run` loads
 * one (dca_config_load, then dca_experiment_build with its weight and
 * initial-configuration sources, file: / rle: included). The memory budget
 * is capped (DCA_MEMORY_LIMIT = 256M) so the up-front checks refuse big
 * lattices instead of letting the fuzzer's RSS limit fire. Invariants
 * checked beyond "no crash, no leak, no UB" (ASan + UBSan):
 *  - a rejected input has a message that names the file or the key;
 *  - an accepted one yields an experiment whose rule and states are finite
 *    and whose configurations lie in [0, 1], and one step of it runs.
 * Built by scripts/fuzz (clang -fsanitize=fuzzer,address,undefined). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "experiment.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setenv("DCA_MEMORY_LIMIT", "256M", 1);
    snprintf(path, sizeof path, "/tmp/dca-fuzz-%d.ini", (int)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    dca_config *cfg = NULL;
    dca_experiment *ex = NULL;
    dca_error err = {0};
    if (dca_config_load(path, NULL, 0, &cfg, &err) != DCA_OK) {
        if (!strstr(err.msg, path) && !strstr(err.msg, "["))
            abort(); /* a rejection that names neither the file nor a key */
        return 0;
    }
    if (dca_experiment_build(cfg, &ex, &err) != DCA_OK) {
        if (!strstr(err.msg, "[") && !strstr(err.msg, "--set"))
            abort();
        dca_config_destroy(cfg);
        return 0;
    }
    const int64_t n = ex->batch * ex->config_len, P = dca_rule_params(ex->rule);
    for (int64_t i = 0; i < n; i++)
        if (!(ex->x0[i] >= 0.0 && ex->x0[i] <= 1.0))
            abort();
    const double *rho = dca_rule_probabilities(ex->rule);
    for (int64_t i = 0; i < P; i++)
        if (!(rho[i] >= 0.0 && rho[i] <= 1.0))
            abort();
    /* One step when it is cheap. */
    if (n <= 4096 && P <= 4096) {
        dca_sim *sim = NULL;
        dca_sim_options o = {.threads = 1};
        if (dca_sim_create(&ex->lat, ex->rule, ex->batch, &o, &sim, &err) == DCA_OK) {
            double *y = malloc((size_t)n * sizeof *y);
            dca_sim_step(sim, ex->x0, y);
            for (int64_t i = 0; i < n; i++)
                if (!(y[i] >= 0.0 && y[i] <= 1.0))
                    abort();
            free(y);
            dca_sim_destroy(sim);
        }
    }
    dca_experiment_destroy(ex);
    dca_config_destroy(cfg);
    return 0;
}
