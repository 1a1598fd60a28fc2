/* Small strict parsers shared by the spec and configuration parsers.
 * All return false on any malformed input (trailing junk, overflow, empty). */
#ifndef DCA_TEXT_H
#define DCA_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool dca_parse_i64(const char *s, int64_t *out);
bool dca_parse_u64(const char *s, uint64_t *out);
bool dca_parse_double(const char *s, double *out);
/* Parses a list of doubles separated by commas and/or white space into a
 * freshly allocated array. Returns false (and *bad_item = index of the bad
 * item, or -1 for an allocation failure) on error. */
bool dca_parse_double_list(const char *s, double **out, int64_t *count, int64_t *bad_item);
/* If s starts with prefix, returns the rest; else NULL. */
const char *dca_strip_prefix(const char *s, const char *prefix);
/* Trims white space in place; returns s. */
char *dca_trim(char *s);
char *dca_strdup(const char *s);

#endif
