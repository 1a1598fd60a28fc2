/* Memory helpers: aligned buffers and the machine's memory, used to refuse
 * requests that cannot fit before allocating them. */
#ifndef DCA_MEM_H
#define DCA_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 64-byte aligned; size rounded up. Free with free(). NULL on failure. */
void *dca_alloc(size_t bytes);
void *dca_calloc(size_t bytes);
/* Physical memory in bytes (sysconf), or INT64_MAX when unknown; lowered
 * to DCA_MEMORY_LIMIT (environment: bytes, or 512M, 4G, 4GiB, ...) when
 * that is set, valid and smaller. Every up-front memory check uses it. */
int64_t dca_mem_physical(void);
/* "4G", "512MiB", "1e9" -> bytes (K, M, G, T are powers of 1024). */
bool dca_mem_parse_size(const char *s, int64_t *out);
/* "this machine's 23.4 GiB" or "DCA_MEMORY_LIMIT's 1.0 GiB": the budget the
 * up-front checks compare against, for messages. */
const char *dca_mem_budget(char *buf, size_t len);
/* "1.5 GiB"-style text into buf. */
const char *dca_mem_fmt(double bytes, char *buf, size_t len);

#endif
