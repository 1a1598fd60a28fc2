#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/par.h"

int cli_fail(int code, const char *fmt, ...)
{
    /* Several ranks: rank 0 speaks. The others fail the same way on the
     * same configuration; only their runtime failures can be their own. */
    if (par_rank() > 0 && code != EXIT_RUNTIME)
        return code;
    va_list ap;
    va_start(ap, fmt);
    if (par_rank() > 0)
        fprintf(stderr, "dca (rank %d): error: ", par_rank());
    else
        fputs("dca: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void progress_init(progress *p, bool quiet)
{
    p->on = !quiet && isatty(STDERR_FILENO);
    p->start = p->last = cli_now();
}

void progress_update(progress *p, int64_t done, int64_t total, double work_done, const char *unit)
{
    if (!p->on)
        return;
    double now = cli_now();
    if (now - p->last < 0.1 && done < total)
        return;
    p->last = now;
    double el = now - p->start;
    double rate = el > 0 ? work_done / el : 0;
    double eta = done > 0 ? el * (double)(total - done) / (double)done : 0;
    fprintf(stderr, "\r\033[K  step %lld/%lld  %.3g %s/s  elapsed %.1f s  ETA %.1f s",
            (long long)done, (long long)total, rate, unit, el, eta);
    fflush(stderr);
}

void progress_end(progress *p)
{
    if (p->on)
        fprintf(stderr, "\r\033[K");
}

static volatile sig_atomic_t interrupted = 0;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

void cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool cli_interrupted(void) { return interrupted != 0; }
