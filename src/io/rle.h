/* Golly RLE patterns (two states): reading patterns as initial
 * configurations and writing hardened configurations, so that patterns
 * from Golly's collections run in dca and learned rules can be inspected
 * in Golly. */
#ifndef DCA_RLE_H
#define DCA_RLE_H

#include <stdbool.h>
#include <stdint.h>

#include "dca/dca.h"

typedef struct dca_rle {
    int64_t width, height; /* the header's x and y */
    uint8_t *cells;        /* height x width, row-major, 0/1 */
    char *rule;            /* the header's rule, or NULL */
} dca_rle;

/* Errors name the file and line. A header larger than max_width x
 * max_height (the lattice) is refused before anything is allocated. */
dca_status dca_rle_read(const char *path, int64_t max_width, int64_t max_height, dca_rle *out,
                        dca_error *err);
void dca_rle_free(dca_rle *p);

/* Writes height x width 0/1 cells; rule (may be NULL) goes into the
 * header, each line of comment (may be NULL) into a #C line. Written to
 * PATH.partial and renamed into place. */
dca_status dca_rle_write(const char *path, const uint8_t *cells, int64_t width, int64_t height,
                         const char *rule, const char *comment, dca_error *err);

/* The hardened rule as Golly names it, for the RLE header: B/S for Moore
 * radius 1, B/S + "V" for von Neumann radius 1, Larger-than-Life
 * "Rr,C0,M0,Sa..b,Bc..d,NM|NN" for larger Moore / von Neumann ranges when
 * B and S are single ranges. False when Golly has no name for it. */
bool dca_rle_rule(const dca_rule *rule, char *buf, size_t len);

#endif
