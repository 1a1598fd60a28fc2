/* The command line and the configuration contract (DESIGN.md §5): every bad
 * configuration exits 2 with a message naming the line and key, and leaves
 * no output file; good ones run and write what they say. */
#include <hdf5.h>
#include <math.h>

#include "cli_helpers.h"

typedef struct bad_case {
    const char *name;
    const char *ini;
    const char *where; /* expected in the message: "bad.ini:LINE" or "--set ..." */
    const char *what;  /* and this */
} bad_case;

#define HEAD "[lattice]\nsize = 64\n"

static const bad_case bad_cases[] = {
    {"unknown section", HEAD "[lattis]\nsize = 3\n", "bad.ini:3", "unknown section [lattis]"},
    {"unknown key", HEAD "neighbourhood = radius:1\n", "bad.ini:3", "unknown key 'neighbourhood'"},
    {"key outside section", "size = 3\n", "bad.ini:1", "outside any section"},
    {"duplicate key", HEAD "size = 65\n", "bad.ini:3", "set twice (first on line 2)"},
    {"malformed size", "[lattice]\nsize = 64y\n", "bad.ini:2: [lattice] size", "expected"},
    {"zero size", "[lattice]\nsize = 0x5\n", "bad.ini:2: [lattice] size", "at least 1"},
    {"states too few", HEAD "states = 1\n", "bad.ini:3: [lattice] states", "2 to 65536"},
    {"states not a number", HEAD "states = three\n", "bad.ini:3: [lattice] states", "whole number"},
    {"binary with 3 states", HEAD "states = 3\n[rule]\nmode = binary\n", "bad.ini:5: [rule] mode",
     "binary mode needs"},
    {"bad mode", HEAD "[rule]\nmode = sigmoid\n", "bad.ini:4: [rule] mode", "expected auto"},
    {"2D neighbourhood on a ring", HEAD "neighborhood = moore:1\n",
     "bad.ini:3: [lattice] neighborhood", "2D neighbourhood but the lattice is 1D"},
    {"1D neighbourhood on a torus", "[lattice]\nsize = 8x8\nneighborhood = radius:1\n",
     "bad.ini:3: [lattice] neighborhood", "1D neighbourhood"},
    {"bad offsets", HEAD "neighborhood = offsets:-1,zero,1\n", "bad.ini:3: [lattice] neighborhood",
     "offset 2"},
    {"wolfram too large", HEAD "[rule]\nweights = wolfram:256\n", "bad.ini:4: [rule] weights",
     "too large"},
    {"hex wrong size for moore:1", "[lattice]\nsize = 8x8\nneighborhood = moore:1\n[rule]\n"
                                   "weights = hex:1e\n",
     "bad.ini:5: [rule] weights", "512 patterns needs exactly 128 hex digits"},
    {"list wrong length", HEAD "[rule]\nweights = list:1,2,3\n", "bad.ini:4: [rule] weights",
     "got 3 values, this rule needs 8"},
    {"unknown weight source", HEAD "[rule]\nweights = gauss:1\n", "bad.ini:4: [rule] weights",
     "unknown weight source"},
    {"weights file missing", HEAD "[rule]\nweights = file:nope.h5:/w\n",
     "bad.ini:4: [rule] weights", "nope.h5: cannot read"},
    {"rule kind unknown", HEAD "[rule]\nkind = lookup\n", "bad.ini:4: [rule] kind",
     "expected table"},
    {"negative eps", HEAD "[init]\neps = -0.1\n", "bad.ini:4: [init] eps", "[0, 0.5)"},
    {"bernoulli out of range", HEAD "[init]\nkind = bernoulli:2\n", "bad.ini:4: [init] kind",
     "probability P in [0, 1]"},
    {"unknown init kind", HEAD "[init]\nkind = random\n", "bad.ini:4: [init] kind",
     "unknown initial configuration kind"},
    {"zero configurations", HEAD "[init]\nconfigurations = 0\n", "bad.ini:4: [init] configurations",
     "1 to"},
    {"bad seed", HEAD "[init]\nseed = -4\n", "bad.ini:4: [init] seed", "seed"},
    {"negative steps", HEAD "[run]\nsteps = -1\n", "bad.ini:4: [run] steps", "0 to"},
    {"steps not integer", HEAD "[run]\nsteps = 1e3\n", "bad.ini:4: [run] steps", "whole number"},
    {"record-every zero", HEAD "[run]\nrecord-every = 0\n", "bad.ini:4: [run] record-every",
     "1 to"},
    {"reverse-memory unit", HEAD "[run]\nreverse-memory = 2GB\n",
     "bad.ini:4: [run] reverse-memory", "with a unit (KiB, MiB, GiB, TiB)"},
    {"reverse-memory negative", HEAD "[run]\nreverse-memory = -1MiB\n",
     "bad.ini:4: [run] reverse-memory", "expected a size"},
    {"precision unknown", HEAD "[run]\nprecision = float16\n", "bad.ini:4: [run] precision",
     "expected float64 or float32"},
    {"float32 forward mode", HEAD "[run]\nprecision = float32\ngradients = forward\n"
                             "record = values,gradients\n",
     "bad.ini:4: [run] precision", "forward-mode gradients run in float64 only"},
    {"float32 outer-totalistic forward", "[lattice]\nsize = 8x8\nneighborhood = moore:1\n"
                                         "[rule]\nkind = outer-totalistic\n[run]\nprecision = "
                                         "float32\ngradients = forward\nrecord = values,gradients\n",
     "bad.ini:7: [run] precision", "forward-mode gradients run in float64 only"},
    {"record more than exist", HEAD "[init]\nconfigurations = 2\n[run]\nrecord-configurations = 3\n",
     "bad.ini:6: [run] record-configurations", "more configurations to record"},
    {"record unknown", HEAD "[run]\nrecord = values,pictures\n", "bad.ini:4: [run] record",
     "unknown item 'pictures'"},
    {"gradients not yet", HEAD "[run]\ngradients = sideways\n", "bad.ini:4: [run] gradients",
     "expected none"},
    {"compression level", HEAD "[output]\ncompression = gzip:12\n",
     "bad.ini:4: [output] compression", "LEVEL 1..9"},
    {"syntax error", HEAD "this line has no equals sign\n", "bad.ini:3", "syntax error"},
    {"over-long line", HEAD "[rule]\nweights = list:" "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                       "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                       "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
                       "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n",
     "bad.ini:4", "longer than"},
};

/* Criterion runs each case in a re-executed worker: the strings must live
 * in its shared arena (cr_strdup), not at this process's addresses. */
static char *t_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = cr_malloc(n);
    memcpy(d, s, n);
    return d;
}

static void free_cases(struct criterion_test_params *ctp)
{
    bad_case *c = ctp->params;
    for (size_t i = 0; i < ctp->length; i++) {
        cr_free((void *)c[i].name);
        cr_free((void *)c[i].ini);
        cr_free((void *)c[i].where);
        cr_free((void *)c[i].what);
    }
    cr_free(ctp->params);
}

ParameterizedTestParameters(cli, bad_config)
{
    size_t n = sizeof bad_cases / sizeof *bad_cases;
    bad_case *c = cr_malloc(n * sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = (bad_case){t_strdup(bad_cases[i].name), t_strdup(bad_cases[i].ini),
                          t_strdup(bad_cases[i].where), t_strdup(bad_cases[i].what)};
    return cr_make_param_array(bad_case, c, n, free_cases);
}

ParameterizedTest(const bad_case *c, cli, bad_config)
{
    t_chdir_scratch();
    t_write("bad.ini", c->ini);
    char err[4096];
    int rc = t_run((const char *[]){"run", "bad.ini", "--quiet", NULL}, err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 2, "%s: exit %d, stderr: %s", c->name, rc, err);
    cr_assert(strstr(err, c->where), "%s: message lacks '%s': %s", c->name, c->where, err);
    cr_assert(strstr(err, c->what), "%s: message lacks '%s': %s", c->name, c->what, err);
    cr_assert_not(t_exists("runs/bad.h5") || t_exists("runs/bad.h5.partial") || t_exists("runs"),
                  "%s: output left behind", c->name);
}

Test(cli, bad_set_overrides)
{
    t_chdir_scratch();
    t_write("ok.ini", "[lattice]\nsize = 16\n[run]\nsteps = 2\n");
    struct { const char *set, *what; } cases[] = {
        {"lattice.sise=3", "unknown key 'sise' in [lattice]"},
        {"latice.size=3", "unknown section [latice]"},
        {"lattice.size", "expected SECTION.KEY=VALUE"},
        {"rule.weights=wolfram:1000", "--set rule.weights=wolfram:1000"},
        {"lattice.size=-5", "--set lattice.size=-5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[4096];
        int rc = t_run((const char *[]){"run", "ok.ini", "--set", cases[i].set, NULL}, err,
                       sizeof err, NULL, 0);
        cr_assert_eq(rc, 2, "--set %s: exit %d", cases[i].set, rc);
        cr_assert(strstr(err, cases[i].what), "--set %s: %s", cases[i].set, err);
    }
    cr_assert_not(t_exists("runs"));
}

Test(cli, usage_errors)
{
    t_chdir_scratch();
    t_write("ok.ini", "[run]\nsteps = 1\n");
    char err[4096];
    cr_assert_eq(t_run((const char *[]){NULL}, err, sizeof err, NULL, 0), 2);
    cr_assert_eq(t_run((const char *[]){"frobnicate", NULL}, err, sizeof err, NULL, 0), 2);
    cr_assert(strstr(err, "unknown command"));
    cr_assert_eq(t_run((const char *[]){"run", NULL}, err, sizeof err, NULL, 0), 2);
    cr_assert(strstr(err, "missing CONFIG"));
    cr_assert_eq(t_run((const char *[]){"run", "ok.ini", "--bogus", NULL}, err, sizeof err, NULL,
                       0), 2);
    cr_assert_eq(t_run((const char *[]){"run", "ok.ini", "--threads", "0", NULL}, err, sizeof err,
                       NULL, 0), 2);
    cr_assert_eq(t_run((const char *[]){"run", "missing.ini", NULL}, err, sizeof err, NULL, 0), 2);
    cr_assert(strstr(err, "missing.ini: cannot open"), "%s", err);
    char out[4096];
    cr_assert_eq(t_run((const char *[]){"--version", NULL}, err, sizeof err, out, sizeof out), 0);
    cr_assert(strstr(out, "dca 0."));
    cr_assert_eq(t_run((const char *[]){"--help", NULL}, err, sizeof err, out, sizeof out), 0);
    cr_assert(strstr(out, "usage: dca"));
    cr_assert_eq(t_run((const char *[]){"run", "--help", NULL}, err, sizeof err, out, sizeof out), 0);
    cr_assert(strstr(out, "--set"));
    cr_assert_eq(t_run((const char *[]){"info", "--help", NULL}, err, sizeof err, out, sizeof out),
                 0);
    cr_assert_eq(t_run((const char *[]){"info", "ok.ini", NULL}, err, sizeof err, NULL, 0), 1);
    cr_assert(strstr(err, "not an HDF5 file"), "%s", err);
    cr_assert_eq(t_run((const char *[]){"info", "nothing.h5", NULL}, err, sizeof err, NULL, 0), 1);
}

/* ---- good runs, read back with the HDF5 C API -------------------------------- */

static double *read_all(const char *file, const char *name, int *rank, hsize_t *dims)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "cannot open %s", file);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert(d >= 0, "no %s in %s", name, file);
    hid_t sp = H5Dget_space(d);
    *rank = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    double *v = malloc((size_t)n * sizeof *v);
    cr_assert(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

Test(cli, run_writes_the_documented_layout)
{
    t_chdir_scratch();
    t_write("r.ini", "[lattice]\nsize = 40\nneighborhood = radius:1\n[rule]\nweights = wolfram:30\n"
                     "[init]\nconfigurations = 3\nkind = single\neps = 0\n"
                     "[run]\nsteps = 10\nrecord-every = 3\nrecord-configurations = 2\n");
    char err[4096];
    int rc = t_run((const char *[]){"run", "r.ini", NULL}, err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(t_exists("runs/r.h5") && !t_exists("runs/r.h5.partial"));
    int rank;
    hsize_t dims[8];
    double *v = read_all("runs/r.h5", "/run/values", &rank, dims);
    cr_assert(rank == 3 && dims[0] == 2 && dims[1] == 5 && dims[2] == 40,
              "values shape (%llu, %llu, %llu)", dims[0], dims[1], dims[2]);
    double *t = read_all("runs/r.h5", "/run/values_times", &rank, dims);
    static const double want_t[5] = {0, 3, 6, 9, 10};
    cr_assert(memcmp(t, want_t, sizeof want_t) == 0, "times %g %g %g %g %g", t[0], t[1], t[2],
              t[3], t[4]);
    /* Row 0 is the initial configuration: one live cell at n/2. */
    for (int c = 0; c < 40; c++)
        cr_assert_eq(v[c], c == 20);
    /* Rule 30 after 10 steps from a single cell: width 21 centred on 20. */
    double *last = v + 4 * 40;
    cr_assert(last[10] == 1 && last[30] == 1 && last[9] == 0 && last[31] == 0);
    double *p = read_all("runs/r.h5", "/rule/probabilities", &rank, dims);
    cr_assert(rank == 1 && dims[0] == 8);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(p[i], (30 >> i) & 1);
    double *off = read_all("runs/r.h5", "/rule/offsets", &rank, dims);
    cr_assert(rank == 2 && dims[0] == 3 && dims[1] == 1 && off[0] == -1 && off[2] == 1);
    free(v), free(t), free(p), free(off);

    /* -o and --set, and the effective configuration records them. */
    rc = t_run((const char *[]){"run", "r.ini", "-o", "out/x.h5", "--set", "rule.weights=wolfram:90",
                                "--quiet", NULL},
               err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(err[0], '\0', "--quiet printed: %s", err);
    p = read_all("out/x.h5", "/rule/probabilities", &rank, dims);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(p[i], (90 >> i) & 1);
    free(p);
    char out[16384];
    rc = t_run((const char *[]){"info", "out/x.h5", NULL}, err, sizeof err, out, sizeof out);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "weights = wolfram:90"), "%s", out);
    cr_assert(strstr(out, "/run/values  float64 (2, 5, 40)  axes (configuration, step, cell)"),
              "%s", out);
    cr_assert(strstr(out, "@hardened_hex = 5a"), "%s", out);
}

Test(cli, softmax_2d_layout_and_thread_independence)
{
    t_chdir_scratch();
    t_write("s.ini", "[lattice]\nsize = 12x10\nstates = 3\nneighborhood = vonneumann:1\n"
                     "[rule]\nweights = normal:2\n[init]\nconfigurations = 2\nkind = uniform-states\n"
                     "[run]\nsteps = 7\n");
    char err[4096];
    cr_assert_eq(t_run((const char *[]){"run", "s.ini", "--threads", "1", "-o", "a.h5", NULL}, err,
                       sizeof err, NULL, 0), 0, "%s", err);
    cr_assert_eq(t_run((const char *[]){"run", "s.ini", "--threads=2", "-o", "b.h5", NULL}, err,
                       sizeof err, NULL, 0), 0, "%s", err);
    int rank;
    hsize_t dims[8];
    double *a = read_all("a.h5", "/run/values", &rank, dims);
    cr_assert(rank == 5 && dims[0] == 2 && dims[1] == 8 && dims[2] == 12 && dims[3] == 10 &&
              dims[4] == 3);
    double *b = read_all("b.h5", "/run/values", &rank, dims);
    cr_assert(memcmp(a, b, 2 * 8 * 12 * 10 * 3 * sizeof(double)) == 0,
              "1 and 2 threads wrote different values");
    double *w = read_all("a.h5", "/rule/weights", &rank, dims);
    cr_assert(rank == 2 && dims[0] == 243 && dims[1] == 3);
    free(a), free(b), free(w);
}

Test(cli, weights_and_initial_configurations_from_files)
{
    t_chdir_scratch();
    /* A first run provides both: its rule weights and its last values. */
    t_write("a.ini", "[lattice]\nsize = 30\nneighborhood = radius:2\n[rule]\nweights = normal:1\n"
                     "[init]\nconfigurations = 2\n[run]\nsteps = 3\nrecord-every = 3\n");
    char err[4096];
    cr_assert_eq(t_run((const char *[]){"run", "a.ini", "--quiet", NULL}, err, sizeof err, NULL, 0),
                 0, "%s", err);
    mkdir("sub", 0777);
    /* Relative paths in a config file start at the file's directory. */
    t_write("sub/b.ini", "[lattice]\nsize = 30\nneighborhood = radius:2\n"
                         "[rule]\nweights = file:../runs/a.h5:/rule/weights\n"
                         "[init]\nkind = file:../runs/a.h5:/rule/probabilities\n");
    int rc = t_run((const char *[]){"run", "sub/b.ini", "--quiet", NULL}, err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 2, "a (32,) dataset is not a (B, 30) configuration: %s", err);
    cr_assert(strstr(err, "sub/b.ini:7: [init] kind"), "%s", err);
    cr_assert(strstr(err, "rank 1; expected shape (B, 30)"), "%s", err);
    /* /run/values is (2, 2, 30): not (B, 30) either, so make a real one. */
    hid_t f = H5Fcreate("init.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d2[2] = {4, 30};
    double x[120];
    for (int i = 0; i < 120; i++)
        x[i] = (i * 7 % 11) / 10.0;
    hid_t sp = H5Screate_simple(2, d2, NULL);
    hid_t ds = H5Dcreate2(f, "/x", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(ds);
    x[5] = 1.5;
    ds = H5Dcreate2(f, "/bad", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    t_write("sub/b.ini", "[lattice]\nsize = 30\nneighborhood = radius:2\n"
                         "[rule]\nweights = file:../runs/a.h5:/rule/weights\n"
                         "[init]\nkind = file:../init.h5:/x\neps = 0\n[run]\nsteps = 1\n");
    rc = t_run((const char *[]){"run", "sub/b.ini", "--quiet", NULL}, err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 0, "%s", err);
    int rank;
    hsize_t dims[8];
    double *v = read_all("runs/b.h5", "/run/values", &rank, dims);
    cr_assert(dims[0] == 4 && dims[1] == 2);
    x[5] = (5 * 7 % 11) / 10.0;
    for (int b = 0; b < 4; b++)
        for (int c = 0; c < 30; c++)
            cr_assert_eq(v[b * 60 + c], x[b * 30 + c]);
    double *wa = read_all("runs/a.h5", "/rule/weights", &rank, dims);
    double *wb = read_all("runs/b.h5", "/rule/weights", &rank, dims);
    cr_assert(memcmp(wa, wb, 32 * 8) == 0);
    free(v), free(wa), free(wb);
    /* Out-of-range probabilities and a configuration count mismatch. */
    rc = t_run((const char *[]){"run", "sub/b.ini", "--set", "init.kind=file:init.h5:/bad", NULL},
               err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 2);
    cr_assert(strstr(err, "value 5 is 1.5"), "%s", err);
    rc = t_run((const char *[]){"run", "sub/b.ini", "--set", "init.configurations=3", NULL}, err,
               sizeof err, NULL, 0);
    cr_assert_eq(rc, 2);
    cr_assert(strstr(err, "holds 4 configurations; expected 3"), "%s", err);
    rc = t_run((const char *[]){"run", "sub/b.ini", "--set", "rule.weights=file:init.h5:/nope",
                                NULL}, err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 2);
    cr_assert(strstr(err, "init.h5: no dataset '/nope'"), "%s", err);
}

Test(cli, continuation_lines_and_comments)
{
    t_chdir_scratch();
    t_write("c.ini", "# a comment\n[lattice]\nsize = 16 ; inline comment\n"
                     "neighborhood = radius:1\n[rule]\nweights = list:0,1,2,3\n"
                     "    4,5,6,7\n[run]\nsteps = 1\n");
    char err[4096];
    cr_assert_eq(t_run((const char *[]){"run", "c.ini", "--quiet", NULL}, err, sizeof err, NULL, 0),
                 0, "%s", err);
    int rank;
    hsize_t dims[8];
    double *w = read_all("runs/c.h5", "/rule/weights", &rank, dims);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(w[i], i);
    free(w);
}

/* ---- gradients through the command line ----------------------------------------- */

static const bad_case grad_cases[] = {
    {"reverse without task", HEAD "[run]\ngradients = reverse\n", "bad.ini:4: [run] gradients",
     "set [task] target"},
    {"forward computing nothing", HEAD "[run]\ngradients = forward\n",
     "bad.ini:4: [run] gradients", "forward mode would compute nothing"},
    {"record gradients without forward", HEAD "[run]\nrecord = values, gradients\n",
     "bad.ini:4: [run] record", "needs [run] gradients = forward"},
    {"unknown target", HEAD "[task]\ntarget = parity\n", "bad.ini:4: [task] target",
     "expected none, identity, majority, shift:D, rule:N:T, life:Bxx/Syy:T or file:PATH.h5:/DATASET"},
    {"missing target file", HEAD "[task]\ntarget = file:t.h5:/x\n", "bad.ini:4: [task] target",
     "t.h5: cannot read"},
    {"bad shift", HEAD "[task]\ntarget = shift:x\n", "bad.ini:4: [task] target", "shift:D"},
    {"rule target too large", HEAD "[task]\ntarget = rule:300:1\n[run]\ngradients = reverse\n",
     "bad.ini:4: [task] target", "too large"},
    {"unknown loss", HEAD "[task]\nloss = hinge\n", "bad.ini:4: [task] loss", "cross-entropy, mse"},
    {"gradient compression", HEAD "[output]\ngradient-compression = lz4\n",
     "bad.ini:4: [output] gradient-compression", "gzip:LEVEL"},
};

Test(cli, bad_gradient_configs)
{
    t_chdir_scratch();
    for (size_t i = 0; i < sizeof grad_cases / sizeof *grad_cases; i++) {
        const bad_case *c = &grad_cases[i];
        t_write("bad.ini", c->ini);
        char err[4096];
        int rc = t_run((const char *[]){"run", "bad.ini", "--quiet", NULL}, err, sizeof err, NULL,
                       0);
        cr_assert_eq(rc, 2, "%s: exit %d: %s", c->name, rc, err);
        cr_assert(strstr(err, c->where) && strstr(err, c->what), "%s: %s", c->name, err);
        cr_assert_not(t_exists("runs"), "%s: output left behind", c->name);
    }
}

Test(cli, forward_and_reverse_loss_gradients_agree)
{
    t_chdir_scratch();
    t_write("g.ini", "[lattice]\nsize = 50\nneighborhood = radius:2\n[rule]\nweights = normal:1\n"
                     "[init]\nconfigurations = 3\n[run]\nsteps = 12\n"
                     "[task]\ntarget = majority\n");
    char err[4096];
    cr_assert_eq(t_run((const char *[]){"run", "g.ini", "-o", "f.h5", "--set", "run.gradients=forward",
                                        "--set", "run.record=values,gradients",
                                        "--set", "run.record-configurations=2", NULL},
                       err, sizeof err, NULL, 0), 0, "%s", err);
    cr_assert(strstr(err, "loss (cross-entropy, majority target) ="), "%s", err);
    cr_assert_eq(t_run((const char *[]){"run", "g.ini", "-o", "r.h5", "--set", "run.gradients=reverse",
                                        "--quiet", NULL},
                       err, sizeof err, NULL, 0), 0, "%s", err);
    int rank;
    hsize_t dims[8];
    double *gf = read_all("f.h5", "/run/loss_gradient", &rank, dims);
    cr_assert(rank == 1 && dims[0] == 32);
    double *gr = read_all("r.h5", "/run/loss_gradient", &rank, dims);
    double *Ef = read_all("f.h5", "/run/loss", &rank, dims);
    cr_assert_eq(rank, 0);
    double *Er = read_all("r.h5", "/run/loss", &rank, dims);
    cr_assert_eq(*Ef, *Er);
    double d = 0, mx = 0;
    for (int p = 0; p < 32; p++) {
        d = fmax(d, fabs(gf[p] - gr[p]));
        mx = fmax(mx, fabs(gr[p]));
    }
    cr_assert(mx > 0 && d <= 1e-12 * mx, "forward vs reverse: %g of %g", d, mx);
    double *J = read_all("f.h5", "/run/gradients", &rank, dims);
    cr_assert(rank == 4 && dims[0] == 2 && dims[1] == 13 && dims[2] == 50 && dims[3] == 32);
    for (int i = 0; i < 50 * 32; i++)
        cr_assert_eq(J[i], 0.0, "row 0 of the diagrams: x0 does not depend on w");
    free(gf), free(gr), free(Ef), free(Er), free(J);
}

Test(cli, gradcheck_exit_status)
{
    t_chdir_scratch();
    t_write("g.ini", "[lattice]\nsize = 5x6\nstates = 3\nneighborhood = vonneumann:1\n"
                     "[rule]\nweights = normal:1\n[init]\nkind = uniform-states\neps = 0.05\n"
                     "[run]\nsteps = 3\n[task]\ntarget = identity\n");
    char err[4096], out[65536];
    int rc = t_run((const char *[]){"gradcheck", "g.ini", NULL}, err, sizeof err, out, sizeof out);
    cr_assert_eq(rc, 0, "%s%s", out, err);
    cr_assert(strstr(out, ": PASS"), "%s", out);
    /* A tolerance nothing meets: exit 1, and the table says FAIL. */
    rc = t_run((const char *[]){"gradcheck", "g.ini", "--tol", "1e-30", NULL}, err, sizeof err, out,
               sizeof out);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, ": FAIL"), "%s", out);
    rc = t_run((const char *[]){"gradcheck", "g.ini", "--set", "task.target=none", NULL}, err,
               sizeof err, out, sizeof out);
    cr_assert_eq(rc, 2);
    cr_assert(strstr(err, "gradcheck needs a loss"), "%s", err);
    rc = t_run((const char *[]){"gradcheck", "g.ini", "--tol", "-1", NULL}, err, sizeof err, out,
               sizeof out);
    cr_assert_eq(rc, 2);
}

Test(cli, eval_command)
{
    t_chdir_scratch();
    t_write("gkl.ini", "[lattice]\nsize = 149\nneighborhood = radius:3\n"
                       "[rule]\nweights = hex:fafffa00fafffa00fa00fa00fa00fa00\n"
                       "[eval]\nsamples = 500\n");
    char err[4096], out[8192];
    int rc = t_run((const char *[]){"eval", "gkl.ini", "-o", "e.h5", NULL}, err, sizeof err, out,
                   sizeof out);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "accuracy 0.") && strstr(out, "hex:fafffa00"), "%s", out);
    int rank;
    hsize_t dims[8];
    double *acc = read_all("e.h5", "/eval/accuracy", &rank, dims);
    cr_assert(rank == 0 && *acc > 0.7 && *acc < 0.92, "accuracy %g", *acc);
    free(acc);
    /* --rule takes the weights of a run file with the same neighbourhood. */
    t_write("soft.ini", "[lattice]\nsize = 149\nneighborhood = radius:3\n[rule]\nweights = "
                        "hex:fafffa00fafffa00fa00fa00fa00fa00\n[run]\nsteps = 1\n");
    cr_assert_eq(t_run((const char *[]){"run", "soft.ini", "-o", "r.h5", "--quiet", NULL}, err,
                       sizeof err, NULL, 0), 0, "%s", err);
    rc = t_run((const char *[]){"eval", "gkl.ini", "--rule", "r.h5", "--set",
                                "rule.weights=zeros", NULL}, err, sizeof err, out, sizeof out);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "hex:fafffa00"), "--rule did not replace the weights: %s", out);
    t_write("r1.ini", "[lattice]\nsize = 149\nneighborhood = radius:1\n[run]\nsteps = 1\n");
    cr_assert_eq(t_run((const char *[]){"run", "r1.ini", "-o", "r1.h5", "--quiet", NULL}, err,
                       sizeof err, NULL, 0), 0);
    rc = t_run((const char *[]){"eval", "gkl.ini", "--rule", "r1.h5", NULL}, err, sizeof err, out,
               sizeof out);
    cr_assert_eq(rc, 2);
    cr_assert(strstr(err, "offsets differ"), "%s", err);
    rc = t_run((const char *[]){"eval", "gkl.ini", "--set", "eval.kind=bernoulli:2", NULL}, err,
               sizeof err, out, sizeof out);
    cr_assert_eq(rc, 2);
    cr_assert(strstr(err, "--set eval.kind=bernoulli:2: expected bernoulli:P"), "%s", err);
    rc = t_run((const char *[]){"eval", "gkl.ini", "--set", "lattice.states=3", NULL}, err,
               sizeof err, out, sizeof out);
    cr_assert_eq(rc, 2, "density classification of a 3-state rule: %s", err);
}

/* Bad HDF5 input: each a clear error naming the file, never a crash. */
Test(cli, bad_hdf5_inputs)
{
    t_chdir_scratch();
    hid_t f = H5Fcreate("w.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    double nanw[8] = {0, 1, NAN, 0, 0, 0, 0, 0};
    hsize_t d8[1] = {8}, d2[2] = {8, 2};
    hid_t sp = H5Screate_simple(1, d8, NULL);
    hid_t ds = H5Dcreate2(f, "/nan", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, nanw);
    H5Dclose(ds);
    H5Sclose(sp);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 4);
    sp = H5Screate_simple(1, d8, NULL);
    ds = H5Dcreate2(f, "/str", st, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(st);
    sp = H5Screate_simple(2, d2, NULL);
    ds = H5Dcreate2(f, "/m2", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Gclose(H5Gcreate2(f, "/grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(f);
    /* A truncated copy and a non-HDF5 file. */
    FILE *in = fopen("w.h5", "rb"), *out = fopen("trunc.h5", "wb");
    char buf[1500];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    t_write("junk.h5", "not hdf5");
    t_write("b.ini", "[lattice]\nsize = 30\n[run]\nsteps = 2\n[task]\ntarget = identity\n"
                     "[optimizer]\niterations = 3\n");
    struct { const char *set, *what; } cases[] = {
        {"rule.weights=file:w.h5:/nan", "weight 2 is NaN"},
        {"rule.weights=file:w.h5:/str", "holds non-numeric data"},
        {"rule.weights=file:w.h5:/m2", "has shape (8, 2); this binary rule needs (8,)"},
        {"rule.weights=file:w.h5:/grp", "'/grp' is not a dataset"},
        {"rule.weights=file:w.h5:/none", "no dataset '/none'"},
        {"rule.weights=file:trunc.h5:/nan", "trunc.h5: cannot open as HDF5"},
        {"rule.weights=file:junk.h5:/x", "junk.h5: not an HDF5 file"},
        {"rule.weights=file:missing.h5:/x", "missing.h5: cannot read the file"},
        {"init.kind=file:w.h5:/m2", "expected shape (B, 30)"},
        {"task.target=file:w.h5:/nan", "expected shape (B, 30)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[4096];
        int rc = t_run((const char *[]){"run", "b.ini", "--quiet", "--set", cases[i].set, NULL}, err,
                       sizeof err, NULL, 0);
        cr_assert_eq(rc, 2, "%s: exit %d: %s", cases[i].set, rc, err);
        cr_assert(strstr(err, cases[i].what) && strstr(err, cases[i].set), "%s: %s", cases[i].set,
                  err);
    }
    char err[4096];
    cr_assert_eq(t_run((const char *[]){"train", "b.ini", "--resume", "w.h5", NULL}, err, sizeof err,
                       NULL, 0), 2);
    cr_assert(strstr(err, "--resume w.h5") && strstr(err, "not a dca run file"), "%s", err);
    cr_assert_eq(t_run((const char *[]){"train", "b.ini", "--resume", "trunc.h5", NULL}, err,
                       sizeof err, NULL, 0), 2);
    cr_assert_eq(t_run((const char *[]){"eval", "b.ini", "--rule", "junk.h5", NULL}, err, sizeof err,
                       NULL, 0), 2);
    cr_assert_eq(t_run((const char *[]){"info", "trunc.h5", NULL}, err, sizeof err, NULL, 0), 1);
    cr_assert(strstr(err, "trunc.h5: cannot open as HDF5"), "%s", err);
}

/* Outer-totalistic rules through the CLI: an RLE pattern in, Life run, the
 * hardened final state out as RLE (read back as the next run's start),
 * B/S notation in the run file, and clear errors for bad RLE input. */
Test(cli, life_with_rle_in_and_out)
{
    t_chdir_scratch();
    t_write("glider.rle", "#N Glider\nx = 3, y = 3, rule = B3/S23\nbob$2bo$3o!\n");
    t_write("g.ini", "[lattice]\nsize = 12x12\nneighborhood = moore:1\n"
                     "[rule]\nkind = outer-totalistic\nweights = life:B3/S23\n"
                     "[init]\nkind = rle:glider.rle\neps = 0\n[run]\nsteps = 4\n"
                     "[output]\nrle = out/g4.rle\n");
    char err[4096], out[4096];
    cr_assert_eq(t_run((const char *[]){"run", "g.ini", NULL}, err, sizeof err, NULL, 0), 0, "%s",
                 err);
    cr_assert(strstr(err, "outer-totalistic hard rule over moore:1 (18 parameters)"), "%s", err);
    cr_assert(strstr(err, "wrote out/g4.rle: 12 x 12, rule = B3/S23"), "%s", err);
    /* The glider, centred at rows/cols 4..6, moved one cell down and right. */
    FILE *f = fopen("out/g4.rle", "r");
    cr_assert(f);
    char text[1024];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    cr_assert(strstr(text, "x = 12, y = 12, rule = B3/S23\n5$6bo$7bo$5b3o!"), "%s", text);
    cr_assert_eq(t_run((const char *[]){"info", "runs/g.h5", NULL}, err, sizeof err, out,
                       sizeof out), 0, "%s", err);
    /* The written RLE is a valid start for the next run. */
    t_write("h.ini", "[lattice]\nsize = 12x12\nneighborhood = moore:1\n"
                     "[rule]\nkind = outer-totalistic\nweights = life:B3/S23\n"
                     "[init]\nkind = rle:out/g4.rle\neps = 0\n[run]\nsteps = 4\n");
    cr_assert_eq(t_run((const char *[]){"run", "h.ini", "--quiet", NULL}, err, sizeof err, NULL, 0),
                 0, "%s", err);
    hid_t h = H5Fopen("runs/h.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(h >= 0);
    double v[2 * 144];
    hid_t ds = H5Dopen2(h, "/run/values", H5P_DEFAULT);
    hid_t fs = H5Dget_space(ds);
    hsize_t st[4] = {0, 0, 0, 0}, cnt[4] = {1, 1, 12, 12};
    double got[144];
    hid_t ms = H5Screate_simple(4, cnt, NULL);
    st[1] = 4;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, cnt, NULL);
    H5Dread(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, got);
    (void)v;
    int live = 0;
    for (int i = 0; i < 144; i++)
        live += got[i] == 1.0;
    cr_assert(live == 5 && got[6 * 12 + 7] == 1.0 && got[7 * 12 + 8] == 1.0 &&
                  got[8 * 12 + 6] == 1.0 && got[8 * 12 + 7] == 1.0 && got[8 * 12 + 8] == 1.0,
              "the glider did not move on from the written RLE");
    char life[64] = "";
    hid_t g = H5Gopen2(h, "/rule", H5P_DEFAULT);
    hid_t a = H5Aopen(g, "hardened_life", H5P_DEFAULT);
    hid_t ty = H5Aget_type(a);
    char *s = NULL;
    H5Aread(a, ty, &s);
    snprintf(life, sizeof life, "%s", s);
    H5free_memory(s);
    H5Tclose(ty), H5Aclose(a), H5Gclose(g), H5Sclose(ms), H5Sclose(fs), H5Dclose(ds), H5Fclose(h);
    cr_assert_str_eq(life, "B3/S23");
    /* Bad RLE input: exit 2, the key and the file:line named. */
    t_write("bad.rle", "x = 3, y = 3\nbob$2bo$3q!\n");
    int rc = t_run((const char *[]){"run", "g.ini", "--set", "init.kind=rle:bad.rle", NULL}, err,
                   sizeof err, NULL, 0);
    cr_assert_eq(rc, 2, "%s", err);
    cr_assert(strstr(err, "--set init.kind=rle:bad.rle") && strstr(err, "bad.rle:2: unexpected 'q'"), "%s", err);
    t_write("big.rle", "x = 13, y = 3\n13o!\n");
    rc = t_run((const char *[]){"run", "g.ini", "--set", "init.kind=rle:big.rle", NULL}, err,
               sizeof err, NULL, 0);
    cr_assert_eq(rc, 2, "%s", err);
    cr_assert(strstr(err, "the pattern is 13 wide and 3 high; the lattice is 12 x 12"), "%s", err);
    /* Full-table sources are refused for an outer-totalistic rule. */
    rc = t_run((const char *[]){"run", "g.ini", "--set", "rule.weights=wolfram:30", NULL}, err,
               sizeof err, NULL, 0);
    cr_assert_eq(rc, 2, "%s", err);
    cr_assert(strstr(err, "--set rule.weights=wolfram:30") && strstr(err, "outer-totalistic"), "%s",
              err);
    rc = t_run((const char *[]){"run", "g.ini", "--set", "lattice.states=3", NULL}, err,
               sizeof err, NULL, 0);
    cr_assert_eq(rc, 2, "%s", err);
    cr_assert(strstr(err, "outer-totalistic rules are binary"), "%s", err);
}

/* A string attribute of the file at path (the caller frees it). */
static char *str_attr(const char *path, const char *obj, const char *name)
{
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(h >= 0, "cannot open %s", path);
    hid_t g = H5Oopen(h, obj, H5P_DEFAULT);
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    cr_assert(a >= 0, "%s has no %s@%s", path, obj, name);
    hid_t ty = H5Aget_type(a);
    char *s = NULL;
    H5Aread(a, ty, &s);
    char *out = strdup(s);
    H5free_memory(s);
    H5Tclose(ty), H5Aclose(a), H5Oclose(g), H5Fclose(h);
    return out;
}

static int64_t i64_attr(const char *path, const char *obj, const char *name)
{
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = H5Oopen(h, obj, H5P_DEFAULT);
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    cr_assert(a >= 0, "%s has no %s@%s", path, obj, name);
    int64_t v = 0;
    H5Aread(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a), H5Oclose(g), H5Fclose(h);
    return v;
}

/* [run] tune = measure: dca run and dca train record the candidates and
 * run on the chosen kernel and tile; kernel and tile pin a plan (the way
 * to repeat a tuned run bit for bit); a resumed tuned training keeps its
 * choice. */
Test(cli, tune_kernel_and_tile_keys)
{
    t_chdir_scratch();
    t_write("g.ini", "[lattice]\nsize = 300\nneighborhood = radius:2\n[rule]\nweights = normal:1\n"
                     "[init]\nconfigurations = 3\n[run]\nsteps = 6\ngradients = reverse\n"
                     "[task]\ntarget = identity\n[optimizer]\niterations = 3\n");
    char err[4096];
    int rc = t_run((const char *[]){"run", "g.ini", "-o", "t.h5", "--set", "run.tune=measure",
                                    NULL},
                   err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(err, "tuned: ") && strstr(err, "(chosen)"), "%s", err);
    char *tuned = str_attr("t.h5", "/run", "tuned"), *kernel = str_attr("t.h5", "/run", "kernel");
    const int64_t tile = i64_attr("t.h5", "/run", "tile_cells");
    char chosen[96];
    snprintf(chosen, sizeof chosen, "%s/%lld ", kernel, (long long)tile);
    const char *at = strstr(tuned, chosen);
    cr_assert(at && strstr(at, "(chosen)") && strstr(tuned, "blas/"), "%s vs %s", tuned, chosen);
    free(tuned);
    /* pinned: the recorded choice, and the same bits */
    char kset[64], tset[64];
    snprintf(kset, sizeof kset, "run.kernel=%s", kernel);
    snprintf(tset, sizeof tset, "run.tile=%lld", (long long)tile);
    rc = t_run((const char *[]){"run", "g.ini", "-o", "p.h5", "--set", kset, "--set", tset,
                                "--quiet", NULL},
               err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 0, "%s", err);
    int rank;
    hsize_t dims[8];
    double *g1 = read_all("t.h5", "/run/loss_gradient", &rank, dims);
    double *g2 = read_all("p.h5", "/run/loss_gradient", &rank, dims);
    cr_assert(memcmp(g1, g2, (size_t)dims[0] * sizeof *g1) == 0, "pinned run differs");
    free(g1), free(g2), free(kernel);
    rc = t_run((const char *[]){"run", "g.ini", "-o", "b.h5", "--set", "run.kernel=blas", "--set",
                                "run.tile=40", "--quiet", NULL},
               err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 0, "%s", err);
    kernel = str_attr("b.h5", "/run", "kernel");
    cr_assert_str_eq(kernel, "blas");
    cr_assert_eq(i64_attr("b.h5", "/run", "tile_cells"), 40);
    free(kernel);
    /* refusals, naming the key */
    rc = t_run((const char *[]){"run", "g.ini", "--set", "run.tune=measure", "--set",
                                "run.tile=40", NULL},
               err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 2);
    cr_assert(strstr(err, "run.tune=measure") && strstr(err, "leave [run] kernel and tile"), "%s",
              err);
    rc = t_run((const char *[]){"run", "g.ini", "--set", "run.kernel=fast", NULL}, err,
               sizeof err, NULL, 0);
    cr_assert(rc == 2 && strstr(err, "run.kernel=fast") && strstr(err, "expected auto, fused"),
              "%s", err);
    rc = t_run((const char *[]){"run", "g.ini", "--set", "run.kernel=totalistic", NULL}, err,
               sizeof err, NULL, 0);
    cr_assert(rc == 2 && strstr(err, "totalistic kernel is for outer-totalistic"), "%s", err);
    /* dca train: tuned, then resumed on its choice */
    rc = t_run((const char *[]){"train", "g.ini", "-o", "tr.h5", "--set", "run.tune=measure",
                                NULL},
               err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 0, "%s", err);
    tuned = str_attr("tr.h5", "/train", "tuned");
    kernel = str_attr("tr.h5", "/train", "kernel");
    cr_assert(strstr(tuned, "(chosen)") && strstr(tuned, kernel), "%s / %s", tuned, kernel);
    free(tuned);
    rc = t_run((const char *[]){"train", "g.ini", "--resume", "tr.h5", "--set", "run.tune=measure",
                                "--quiet", NULL},
               err, sizeof err, NULL, 0);
    cr_assert_eq(rc, 0, "%s", err);
    tuned = str_attr("tr.h5", "/train", "tuned");
    cr_assert(strstr(tuned, "resumed on ") && strstr(tuned, kernel), "%s", tuned);
    free(tuned), free(kernel);
}
