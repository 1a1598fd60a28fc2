/* Lattice shapes: "N" (ring) or "HxW" (torus). */
#include "dca/dca.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"

int64_t dca_lattice_cells(const dca_lattice *lat)
{
    return lat->dims == 1 ? lat->shape[0] : lat->shape[0] * lat->shape[1];
}

/* Cells are addressed with int64_t; the cap keeps cells * states * 8 bytes
 * far from overflow. It is not a practical limit (2^40 cells). */
static const int64_t max_cells = (int64_t)1 << 40;

dca_status dca_lattice_parse(const char *spec, dca_lattice *out, dca_error *err)
{
    char buf[64];
    size_t n = strlen(spec);
    if (n == 0 || n >= sizeof buf)
        return dca_error_set(err, DCA_ERR_ARG,
                             "expected a size like 149 (ring) or 64x64 (torus), got '%s'", spec);
    memcpy(buf, spec, n + 1);
    char *x = strchr(buf, 'x');
    dca_lattice lat = {.dims = 1, .shape = {0, 1}};
    if (x) {
        *x = '\0';
        lat.dims = 2;
        if (!dca_parse_i64(buf, &lat.shape[0]) || !dca_parse_i64(x + 1, &lat.shape[1]))
            return dca_error_set(err, DCA_ERR_ARG,
                                 "expected a torus size HxW with whole numbers, like 64x64, got '%s'",
                                 spec);
    } else if (!dca_parse_i64(buf, &lat.shape[0])) {
        return dca_error_set(err, DCA_ERR_ARG,
                             "expected a size like 149 (ring) or 64x64 (torus), got '%s'", spec);
    }
    if (lat.shape[0] < 1 || lat.shape[1] < 1)
        return dca_error_set(err, DCA_ERR_ARG, "lattice sides must be at least 1, got '%s'", spec);
    if (lat.shape[0] > max_cells || lat.shape[1] > max_cells / lat.shape[0])
        return dca_error_set(err, DCA_ERR_ARG, "lattice '%s' has more than 2^40 cells", spec);
    *out = lat;
    return DCA_OK;
}
