/* Replays every input the fuzzers found (tests/fuzz/regress/, kept after
 * the fix) through the same entry points as the tests/fuzz targets: *.ini through
 * the configuration loader and experiment builder, *.rle through the RLE
 * reader. Each must be rejected with a message naming the file (or key),
 * or accepted with sane contents; under the sanitizer build a crash, leak
 * or undefined behaviour fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "experiment.h"
#include "helpers.h"
#include "io/rle.h"

static void replay(const char *path)
{
    dca_error e = {0};
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".rle") == 0) {
        dca_rle p;
        if (dca_rle_read(path, 4096, 4096, &p, &e) == DCA_OK) {
            for (int64_t i = 0; i < p.width * p.height; i++)
                cr_assert(p.cells[i] <= 1, "%s: cell %lld is %d", path, (long long)i, p.cells[i]);
            dca_rle_free(&p);
        } else {
            cr_assert(strstr(e.msg, path), "%s: the message does not name the file: %s", path,
                      e.msg);
        }
        return;
    }
    dca_config *cfg = NULL;
    if (dca_config_load(path, NULL, 0, &cfg, &e) != DCA_OK) {
        cr_assert(strstr(e.msg, path) || strstr(e.msg, "["), "%s: %s", path, e.msg);
        return;
    }
    dca_experiment *ex = NULL;
    if (dca_experiment_build(cfg, &ex, &e) == DCA_OK)
        dca_experiment_destroy(ex);
    else
        cr_assert(strstr(e.msg, "["), "%s: %s", path, e.msg);
    dca_config_destroy(cfg);
}

Test(fuzz, regressions_replay)
{
    setenv("DCA_MEMORY_LIMIT", "256M", 1);
    const char *root = getenv("DCA_SOURCE_ROOT");
    cr_assert(root, "DCA_SOURCE_ROOT is not set (run through meson test)");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regress", root);
    DIR *d = opendir(dir);
    cr_assert(d, "%s: cannot open", dir);
    int count = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        replay(path);
        count++;
    }
    closedir(d);
    cr_assert_gt(count, 0, "no regression inputs in %s", dir);
}
