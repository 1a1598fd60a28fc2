/* Small strict parsers shared by the spec and configuration parsers.
 * All return false on any malformed input (trailing junk, overflow, empty). */
#ifndef DCA_TEXT_H
#define DCA_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dca/dca.h"

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

/* Reads a whole text file into a malloc'd, NUL-terminated string. On
 * failure returns NULL with err set: `status` (what the caller's context
 * calls a bad file) when the file cannot be opened or read or holds a NUL
 * byte, DCA_ERR_NOMEM when memory runs out; messages say "PATH: cannot open
 * the WHAT: REASON". */
char *dca_read_text_file(const char *path, const char *what, dca_status status, dca_error *err);

#endif
