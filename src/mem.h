/* Memory helpers: aligned buffers and the machine's memory, used to refuse
 * requests that cannot fit before allocating them. */
#ifndef DCA_MEM_H
#define DCA_MEM_H

#include <stddef.h>
#include <stdint.h>

/* 64-byte aligned; size rounded up. Free with free(). NULL on failure. */
void *dca_alloc(size_t bytes);
void *dca_calloc(size_t bytes);
/* Physical memory in bytes (sysconf), or INT64_MAX when unknown. */
int64_t dca_mem_physical(void);
/* "1.5 GiB"-style text into buf. */
const char *dca_mem_fmt(double bytes, char *buf, size_t len);

#endif
