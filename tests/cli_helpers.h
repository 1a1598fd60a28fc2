/* Running the dca binary from tests: exit status and captured stderr. */
#ifndef DCA_TEST_CLI_HELPERS_H
#define DCA_TEST_CLI_HELPERS_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

/* A fresh scratch directory per test, made the working directory. */
static inline void t_chdir_scratch(void)
{
    char tmpl[] = "/tmp/dca-test-XXXXXX";
    cr_assert(mkdtemp(tmpl), "mkdtemp");
    cr_assert_eq(chdir(tmpl), 0);
}

static inline const char *t_dca_bin(void)
{
    const char *b = getenv("DCA_BIN");
    cr_assert(b, "DCA_BIN is not set (run through meson test)");
    return b;
}

/* Runs dca with args (NULL-terminated); stderr (and stdout when out_stdout
 * is non-NULL) captured into buffers. Returns the exit status. */
static inline int t_run(const char *const *args, char *err, size_t errlen, char *out,
                        size_t outlen)
{
    char ef[] = "/tmp/dca-err-XXXXXX", of[] = "/tmp/dca-out-XXXXXX";
    int efd = mkstemp(ef), ofd = mkstemp(of);
    cr_assert(efd >= 0 && ofd >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(efd, 2);
        dup2(ofd, 1);
        int n = 0;
        while (args[n])
            n++;
        char **argv = calloc((size_t)n + 2, sizeof *argv);
        argv[0] = (char *)t_dca_bin();
        for (int i = 0; i < n; i++)
            argv[i + 1] = (char *)args[i];
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (err) {
        ssize_t k = pread(efd, err, errlen - 1, 0);
        err[k > 0 ? k : 0] = '\0';
    }
    if (out) {
        ssize_t k = pread(ofd, out, outlen - 1, 0);
        out[k > 0 ? k : 0] = '\0';
    }
    close(efd);
    close(ofd);
    unlink(ef);
    unlink(of);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static inline void t_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static inline bool t_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

#endif
