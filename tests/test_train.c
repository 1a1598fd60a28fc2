/* dca train: rule recovery, thread independence, interrupt and resume. */
#include <hdf5.h>
#include <math.h>
#include <time.h>
#include <signal.h>

#include "cli_helpers.h"

static double *read_ds(const char *file, const char *name, hsize_t *n)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "cannot open %s", file);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert(d >= 0, "no %s in %s", name, file);
    hid_t sp = H5Dget_space(d);
    *n = (hsize_t)H5Sget_simple_extent_npoints(sp);
    double *v = malloc(*n * sizeof *v);
    H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

static const char *recover_ini =
    "[lattice]\nsize = 64\nneighborhood = radius:1\n[rule]\nweights = normal:1\nseed = 3\n"
    "[init]\nconfigurations = 16\nkind = bernoulli:0.5\neps = 1e-3\nseed = 5\n"
    "[run]\nsteps = 1\n[task]\ntarget = rule:110:1\n[optimizer]\niterations = 100\n";

/* Trained on one-step transitions of an elementary rule, the hardened rule
 * is that rule (a sample; scripts/recover-all-rules runs all 256). */
Test(train, recovers_elementary_rules)
{
    t_chdir_scratch();
    t_write("r.ini", recover_ini);
    int rules[] = {30, 110, 90, 184, 54, 232, 1, 254};
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        char set[64], out[4096], err[4096], want[64];
        snprintf(set, sizeof set, "task.target=rule:%d:1", rules[i]);
        int rc = t_run((const char *[]){"train", "r.ini", "--quiet", "--set", set, NULL}, err,
                       sizeof err, out, sizeof out);
        cr_assert_eq(rc, 0, "rule %d: %s", rules[i], err);
        snprintf(want, sizeof want, "hardened rule: hex:%02x (wolfram:%d)\n", rules[i], rules[i]);
        cr_assert(strstr(out, want), "rule %d not recovered: %s", rules[i], out);
    }
}

Test(train, identical_for_one_and_two_threads)
{
    t_chdir_scratch();
    t_write("m.ini", "[lattice]\nsize = 149\nneighborhood = radius:3\n[rule]\nweights = normal:1\n"
                     "[init]\nconfigurations = 12\nkind = uniform-density\n[run]\nsteps = 30\n"
                     "[task]\ntarget = majority\n[optimizer]\niterations = 8\n[eval]\nsamples = 200\n");
    char err[4096], out[4096];
    cr_assert_eq(t_run((const char *[]){"train", "m.ini", "-o", "a.h5", "--threads", "1", "--quiet",
                                        NULL}, err, sizeof err, out, sizeof out), 0, "%s", err);
    cr_assert(strstr(out, "density classification of the hardened rule: accuracy"), "%s", out);
    cr_assert_eq(t_run((const char *[]){"train", "m.ini", "-o", "b.h5", "--threads", "2", "--quiet",
                                        NULL}, err, sizeof err, out, sizeof out), 0, "%s", err);
    const char *names[] = {"/train/weights", "/train/loss", "/train/gradient_norm",
                           "/train/step_size", "/eval/accuracy"};
    for (size_t i = 0; i < 5; i++) {
        hsize_t na, nb;
        double *a = read_ds("a.h5", names[i], &na), *b = read_ds("b.h5", names[i], &nb);
        cr_assert(na == nb && memcmp(a, b, na * 8) == 0, "%s differs between 1 and 2 threads",
                  names[i]);
        free(a);
        free(b);
    }
}

/* Ctrl-C finishes the iteration and saves; --resume ends with exactly the
 * weights of an uninterrupted run. */
Test(train, interrupt_and_resume_are_bit_identical)
{
    t_chdir_scratch();
    t_write("s.ini", "[lattice]\nsize = 2000\nneighborhood = radius:3\n[rule]\nweights = normal:1\n"
                     "[init]\nconfigurations = 16\n[run]\nsteps = 16\n"
                     "[task]\ntarget = identity\n[optimizer]\nmethod = irprop+\niterations = 60\n"
                     "checkpoint-every = 1000\n");
    char err[4096], out[4096];
    cr_assert_eq(t_run((const char *[]){"train", "s.ini", "-o", "full.h5", "--quiet", NULL}, err,
                       sizeof err, out, sizeof out), 0, "%s", err);
    /* The interrupted run. */
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(t_dca_bin(), t_dca_bin(), "train", "s.ini", "-o", "part.h5", "--quiet", (char *)NULL);
        _exit(127);
    }
    nanosleep(&(struct timespec){0, 400 * 1000 * 1000}, NULL);
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status), "dca train died of a signal");
    hsize_t n;
    double *loss = read_ds("part.h5", "/train/loss", &n);
    free(loss);
    if (WEXITSTATUS(status) == 1)
        cr_assert(n >= 1 && n < 60, "interrupted run saved %llu iterations", (unsigned long long)n);
    else
        cr_log_warn("the run finished before the interrupt; resume is still checked");
    cr_assert_eq(t_run((const char *[]){"train", "s.ini", "--resume", "part.h5", "--quiet", NULL},
                       err, sizeof err, out, sizeof out), 0, "%s", err);
    hsize_t na, nb;
    double *a = read_ds("full.h5", "/train/weights", &na), *b = read_ds("part.h5", "/train/weights", &nb);
    cr_assert(na == nb && memcmp(a, b, na * 8) == 0, "resumed weights differ");
    free(a);
    free(b);
    a = read_ds("full.h5", "/rule/weights", &na);
    b = read_ds("part.h5", "/rule/weights", &nb);
    cr_assert(na == nb && memcmp(a, b, na * 8) == 0, "final weights differ");
    free(a);
    free(b);
    /* Resuming under another configuration is refused. */
    int rc = t_run((const char *[]){"train", "s.ini", "--resume", "part.h5", "--set",
                                    "optimizer.iterations=70", NULL}, err, sizeof err, out, sizeof out);
    cr_assert_eq(rc, 2);
    cr_assert(strstr(err, "another configuration"), "%s", err);
}

Test(train, bad_use)
{
    t_chdir_scratch();
    t_write("n.ini", "[lattice]\nsize = 30\n");
    char err[4096];
    cr_assert_eq(t_run((const char *[]){"train", "n.ini", NULL}, err, sizeof err, NULL, 0), 2);
    cr_assert(strstr(err, "training needs a [task] target"), "%s", err);
    t_write("m.ini", "[lattice]\nsize = 30\n[task]\ntarget = rule:30\n");
    cr_assert_eq(t_run((const char *[]){"train", "m.ini", NULL}, err, sizeof err, NULL, 0), 2);
    cr_assert(strstr(err, "m.ini:4: [task] target = rule:30: rule:N:T"), "%s", err);
    t_write("o.ini", "[lattice]\nsize = 30\n[task]\ntarget = identity\n[optimizer]\nmethod = lbfgs\n");
    cr_assert_eq(t_run((const char *[]){"train", "o.ini", NULL}, err, sizeof err, NULL, 0), 2);
    cr_assert(strstr(err, "o.ini:6: [optimizer] method"), "%s", err);
    cr_assert_not(t_exists("runs"));
}

/* file: targets and shift: targets teach the same rule: move right by one
 * (phi(g) = x0(g-1), the output is the first offset's state: hex f0). */
Test(train, file_and_shift_targets)
{
    t_chdir_scratch();
    double x[8 * 32], y[8 * 32];
    uint64_t s = 7;
    for (int i = 0; i < 8 * 32; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (double)((s >> 33) & 1);
    }
    for (int b = 0; b < 8; b++)
        for (int c = 0; c < 32; c++)
            y[b * 32 + c] = x[b * 32 + (c + 31) % 32];
    hid_t f = H5Fcreate("data.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d[2] = {8, 32};
    hid_t sp = H5Screate_simple(2, d, NULL);
    hid_t ds = H5Dcreate2(f, "/x", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(ds);
    ds = H5Dcreate2(f, "/y", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    t_write("f.ini", "[lattice]\nsize = 32\nneighborhood = radius:1\n[init]\nkind = file:data.h5:/x\n"
                     "eps = 1e-3\n[run]\nsteps = 1\n[task]\ntarget = file:data.h5:/y\n"
                     "[optimizer]\niterations = 100\n");
    char err[4096], out[4096];
    cr_assert_eq(t_run((const char *[]){"train", "f.ini", "--quiet", NULL}, err, sizeof err, out,
                       sizeof out), 0, "%s", err);
    cr_assert(strstr(out, "hardened rule: hex:f0"), "file: target: %s", out);
    cr_assert_eq(t_run((const char *[]){"train", "f.ini", "--quiet", "--set", "task.target=shift:1",
                                        NULL}, err, sizeof err, out, sizeof out), 0, "%s", err);
    cr_assert(strstr(out, "hardened rule: hex:f0"), "shift: target: %s", out);
}

/* Minibatches and fresh batches: keyed by (seed, iteration), so the same
 * for any thread count; both still recover rule 110. */
Test(train, minibatch_and_fresh)
{
    t_chdir_scratch();
    t_write("r.ini", recover_ini);
    const char *modes[] = {"optimizer.minibatch=4", "optimizer.fresh=yes"};
    for (int i = 0; i < 2; i++) {
        char err[4096], out[4096];
        cr_assert_eq(t_run((const char *[]){"train", "r.ini", "-o", "a.h5", "--threads", "1",
                                            "--quiet", "--set", modes[i], NULL},
                           err, sizeof err, out, sizeof out), 0, "%s", err);
        cr_assert(strstr(out, "hardened rule: hex:6e"), "%s: %s", modes[i], out);
        cr_assert_eq(t_run((const char *[]){"train", "r.ini", "-o", "b.h5", "--threads", "2",
                                            "--quiet", "--set", modes[i], NULL},
                           err, sizeof err, out, sizeof out), 0, "%s", err);
        hsize_t na, nb;
        double *a = read_ds("a.h5", "/train/loss", &na), *b = read_ds("b.h5", "/train/loss", &nb);
        cr_assert(na == nb && memcmp(a, b, na * 8) == 0, "%s: runs differ", modes[i]);
        free(a);
        free(b);
    }
    char err[4096];
    cr_assert_eq(t_run((const char *[]){"train", "r.ini", "--set", "optimizer.minibatch=17", NULL},
                       err, sizeof err, NULL, 0), 2);
    cr_assert(strstr(err, "a minibatch of 17 from a batch of 16"), "%s", err);
    cr_assert_eq(t_run((const char *[]){"train", "r.ini", "--set", "optimizer.fresh=yes", "--set",
                                        "optimizer.minibatch=4", NULL}, err, sizeof err, NULL, 0), 2);
    cr_assert(strstr(err, "exclude minibatches"), "%s", err);
}
