/* Status codes and caller-owned error messages. */
#include "dca/dca.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dca_version.h"

const char *dca_status_str(dca_status status)
{
    switch (status) {
    case DCA_OK: return "ok";
    case DCA_ERR_ARG: return "invalid argument";
    case DCA_ERR_CONFIG: return "configuration error";
    case DCA_ERR_NOMEM: return "out of memory";
    case DCA_ERR_IO: return "input/output error";
    case DCA_ERR_FORMAT: return "bad data in file";
    case DCA_ERR_UNSUPPORTED: return "not supported";
    case DCA_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

const char *dca_version(void) { return DCA_VERSION; }

dca_status dca_error_set(dca_error *err, dca_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

dca_status dca_error_prefix(dca_error *err, const char *fmt, ...)
{
    if (!err)
        return DCA_ERR_ARG;
    char prefix[DCA_ERROR_MSG_LEN];
    char old[DCA_ERROR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* "<prefix>: <old>", cut at the buffer's end if it must be. */
    size_t cap = sizeof err->msg, n = strnlen(prefix, cap - 1);
    memcpy(err->msg, prefix, n);
    const char *parts[2] = {": ", old};
    for (int i = 0; i < 2; i++) {
        size_t k = strnlen(parts[i], cap - 1 - n);
        memcpy(err->msg + n, parts[i], k);
        n += k;
    }
    err->msg[n] = '\0';
    return err->status;
}
