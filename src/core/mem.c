#include "mem.h"

#include <errno.h>
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

bool dca_mem_parse_size(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0))
        return false;
    double mul = 1;
    switch (*end) {
    case 'K': case 'k': mul = 1024.0; end++; break;
    case 'M': case 'm': mul = 1024.0 * 1024; end++; break;
    case 'G': case 'g': mul = 1024.0 * 1024 * 1024; end++; break;
    case 'T': case 't': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' && mul > 1)
        end++;
    if (*end == 'B' && mul > 1)
        end++;
    if (*end || v * mul > 9.0e18 || v * mul < 1)
        return false;
    *out = (int64_t)(v * mul);
    return true;
}

int64_t dca_mem_physical(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    int64_t phys = pages <= 0 || page <= 0 ? INT64_MAX : (int64_t)pages * (int64_t)page;
    const char *env = getenv("DCA_MEMORY_LIMIT");
    int64_t limit;
    if (env && *env && dca_mem_parse_size(env, &limit) && limit < phys)
        return limit;
    return phys;
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

const char *dca_mem_budget(char *buf, size_t len)
{
    char a[32];
    const char *env = getenv("DCA_MEMORY_LIMIT");
    int64_t limit, phys = dca_mem_physical();
    dca_mem_fmt((double)phys, a, sizeof a);
    if (env && *env && dca_mem_parse_size(env, &limit) && limit == phys)
        snprintf(buf, len, "DCA_MEMORY_LIMIT's %s", a);
    else
        snprintf(buf, len, "this machine's %s", a);
    return buf;
}
