/* libFuzzer target: the Golly RLE reader (rle: initial configurations).
 * Accepted patterns must be 0/1 cells of the header's size; a rejection
 * must name the file. Write -> read must give the same cells back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/rle.h"

static char in[64], out[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(in, sizeof in, "/tmp/dca-fuzz-%d.rle", (int)getpid());
    snprintf(out, sizeof out, "/tmp/dca-fuzz-%d-out.rle", (int)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(in, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    dca_rle p, q;
    dca_error err = {0};
    if (dca_rle_read(in, 4096, 4096, &p, &err) != DCA_OK) {
        if (!strstr(err.msg, in))
            abort();
        return 0;
    }
    const int64_t n = p.width * p.height;
    for (int64_t i = 0; i < n; i++)
        if (p.cells[i] > 1)
            abort();
    if (n <= 1 << 20) {
        if (dca_rle_write(out, p.cells, p.width, p.height, p.rule && !strchr(p.rule, '\n') ? p.rule : NULL,
                          "fuzz", &err) != DCA_OK)
            abort();
        if (dca_rle_read(out, 4096, 4096, &q, &err) != DCA_OK || q.width != p.width ||
            q.height != p.height || memcmp(p.cells, q.cells, (size_t)n) != 0)
            abort();
        dca_rle_free(&q);
    }
    dca_rle_free(&p);
    return 0;
}
