/* Rule numbers of any size: decimal Wolfram numbers and hex tables, where
 * bit i is the output of pattern i. */
#ifndef DCA_BIGNUM_H
#define DCA_BIGNUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses s as a table of nbits bits into bits[0..nbits) (0/1 bytes):
 *  - decimal digits: a number N < 2^nbits (a Wolfram number);
 *  - "0x" + hex digits, or hex (set is_hex): exactly ceil(nbits/4) digits,
 *    most significant first; '_' and white space between digits ignored.
 * On failure writes a reason to why and returns false. */
bool dca_table_bits(const char *s, bool is_hex, int64_t nbits, uint8_t *bits, char *why,
                    size_t whylen);

#endif
