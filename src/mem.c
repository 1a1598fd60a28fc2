#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *dca_alloc(size_t bytes)
{
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n < bytes)
        return NULL;
    return aligned_alloc(64, n ? n : 64);
}

void *dca_calloc(size_t bytes)
{
    void *p = dca_alloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

int64_t dca_mem_physical(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return INT64_MAX;
    return (int64_t)pages * (int64_t)page;
}

const char *dca_mem_fmt(double bytes, char *buf, size_t len)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 6) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
    return buf;
}
