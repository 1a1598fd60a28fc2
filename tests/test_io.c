/* The run-file writer (src/io/h5run.c): recorded series read back exactly,
 * whatever the memory layout of a row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "io.h"

/* Writes a (G, R, 4, 3) series row by row from memory where configuration g
 * starts at g * stride (stride >= 12), closes the file and reads it back. */
static void roundtrip(int64_t G, int64_t stride, int gzip)
{
    enum { R = 5, A = 4, B = 3 };
    char path[64];
    snprintf(path, sizeof path, "test_io_%d_%lld_%lld.h5", (int)getpid(), (long long)G,
             (long long)stride);
    dca_error e;
    dca_runfile *rf = NULL;
    dca_run_meta meta = {.config_text = "", .command = "test_io", .flush_seconds = 0};
    cr_assert_eq(dca_runfile_create(path, &meta, &rf, &e), DCA_OK, "%s", e.msg);
    int64_t times[R];
    for (int r = 0; r < R; r++)
        times[r] = 10 * r;
    dca_series_spec sp = {.name = "/run/values", .configs = G, .rows = R, .times = times,
                          .inner_rank = 2, .inner = {A, B}, .gzip = gzip};
    int id = -1;
    cr_assert_eq(dca_runfile_series(rf, &sp, &id, &e), DCA_OK, "%s", e.msg);
    double *row = malloc((size_t)(G * stride) * sizeof *row);
    cr_assert_not_null(row);
    for (int r = 0; r < R; r++) {
        for (int64_t i = 0; i < G * stride; i++)
            row[i] = -1; /* the gaps between configurations must not be written */
        for (int64_t g = 0; g < G; g++)
            for (int64_t c = 0; c < A * B; c++)
                row[g * stride + c] = 1000.0 * (double)r + 100.0 * (double)g + (double)c + 0.25;
        cr_assert_eq(dca_runfile_series_row(rf, id, r, row, stride, &e), DCA_OK, "%s", e.msg);
    }
    free(row);
    cr_assert_eq(dca_runfile_close(rf, true, &e), DCA_OK, "%s", e.msg);

    double *back = NULL;
    int rank = 0;
    int64_t dims[DCA_H5_MAX_RANK];
    cr_assert_eq(dca_h5_read_doubles(path, "/run/values", &back, &rank, dims, &e), DCA_OK, "%s",
                 e.msg);
    cr_assert_eq(rank, 4);
    cr_assert(dims[0] == G && dims[1] == R && dims[2] == A && dims[3] == B);
    for (int64_t g = 0; g < G; g++)
        for (int r = 0; r < R; r++)
            for (int64_t c = 0; c < A * B; c++) {
                double want = 1000.0 * (double)r + 100.0 * (double)g + (double)c + 0.25;
                double got = back[(g * R + r) * A * B + c];
                cr_assert_eq(got, want, "G %lld stride %lld: [%lld,%d,%lld] = %g, want %g",
                             (long long)G, (long long)stride, (long long)g, r, (long long)c, got,
                             want);
            }
    free(back);
    unlink(path);
}

Test(io, series_rows_contiguous) { roundtrip(3, 12, 0); }
Test(io, series_rows_one_configuration_with_stride) { roundtrip(1, 20, 0); }
Test(io, series_rows_strided_configurations) { roundtrip(3, 17, 0); }
Test(io, series_rows_strided_and_compressed) { roundtrip(4, 13, 4); }
