/* dca train and dca gradcheck for learners beyond lattices ([model] kind =
 * ffnet or kuramoto): ensembles over a grid of configurations, members side
 * by side on the threads, one /ensemble group in the run file
 * (docs/hdf5-layout.md). */
#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "dca/learn.h"
#include "dca/optim.h"
#include "io.h"
#include "learner.h"
#include "mem.h"
#include "text.h"

/* One grid point: its configuration (the base with the sweep values set),
 * data and optimiser parameters. */
typedef struct point {
    dca_config *cfg;
    dca_learner_data data;
    double par[64];
    const char *value[2];
    int64_t P, H;
} point;

/* A sweep axis: "SECTION.KEY: V1 V2 ...". */
typedef struct axis {
    char key[128];
    char **values;
    int64_t n;
    bool numeric;
    double *numbers;
} axis;

static void axis_free(axis *a)
{
    for (int64_t i = 0; a->values && i < a->n; i++)
        free(a->values[i]);
    free(a->values);
    free(a->numbers);
    memset(a, 0, sizeof *a);
}

static int axis_parse(const dca_config *cfg, const char *which, const char *spec, axis *a)
{
    memset(a, 0, sizeof *a);
    a->n = 1;
    if (strcmp(spec, "none") == 0)
        return -1;
    a->n = 0;
    const char *colon = strchr(spec, ':');
    size_t kl = (size_t)(colon - spec);
    if (kl >= sizeof a->key)
        return cli_fail_at(cfg, "ensemble", which, "the key is too long");
    memcpy(a->key, spec, kl);
    a->key[kl] = '\0';
    dca_trim(a->key);
    static const char *const fixed[] = {"ensemble.", "model.kind", "optimizer.iterations",
                                        "output."};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (strncmp(a->key, fixed[i], strlen(fixed[i])) == 0)
            return cli_fail_at(cfg, "ensemble", which,
                               "this key cannot be swept (every grid point shares the ensemble, "
                               "the model kind, the iteration count and the output); run one "
                               "configuration per value instead");
    const char *s = colon + 1;
    a->numeric = true;
    while (*s) {
        while (*s && isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && !isspace((unsigned char)*e))
            e++;
        char **v = realloc(a->values, (size_t)(a->n + 1) * sizeof *v);
        double *x = realloc(a->numbers, (size_t)(a->n + 1) * sizeof *x);
        if (v)
            a->values = v;
        if (x)
            a->numbers = x;
        if (!v || !x || !(a->values[a->n] = strndup(s, (size_t)(e - s))))
            return cli_fail(EXIT_RUNTIME, "out of memory");
        a->numeric &= dca_parse_double(a->values[a->n], &a->numbers[a->n]);
        a->n++;
        s = e;
    }
    if (a->n == 0)
        return cli_fail_at(cfg, "ensemble", which, "no values");
    return -1;
}

/* Keys a learner does not use: set in the file or by --set, they are an
 * error, not silently ignored. */
static int check_unused(const dca_config *cfg)
{
    static const char *const sections[] = {"lattice", "rule", "init", "run", "task", "eval",
                                           "search"};
    int rc = cli_refuse_sections(cfg, sections, sizeof sections / sizeof *sections,
                                 "this key has no effect on [model] kind = ffnet or kuramoto "
                                 "(they use [model], [optimizer], [ensemble] and [output])");
    if (rc >= 0)
        return rc;
    static const char *const opt_keys[] = {"minibatch", "fresh", "checkpoint-every",
                                           "time-limit"};
    for (size_t i = 0; i < sizeof opt_keys / sizeof *opt_keys; i++)
        if (dca_config_given(cfg, "optimizer", opt_keys[i]))
            return cli_fail_at(cfg, "optimizer", opt_keys[i],
                               "this key applies to rule models only, not to [model] kind = "
                               "ffnet or kuramoto");
    const dca_learner_options *o = &cfg->learner;
    const char *ffnet_keys[] = {"layers", "output", "patterns", "bias", "robustness-threshold"};
    const char *kur_keys[] = {"oscillators", "omega", "dt", "interval", "r0", "gamma", "w0"};
    const char **other = o->kind == DCA_MODEL_FFNET ? kur_keys : ffnet_keys;
    const size_t n_other = o->kind == DCA_MODEL_FFNET ? 7 : 5;
    for (size_t i = 0; i < n_other; i++)
        if (dca_config_given(cfg, "model", other[i]))
            return cli_fail_at(cfg, "model", other[i],
                               o->kind == DCA_MODEL_FFNET ? "a kuramoto key: no effect on ffnet"
                                                          : "an ffnet key: no effect on kuramoto");
    return -1;
}

static int prepare_point(point *pt, const dca_config *base, const cli_common *o,
                         const axis ax[2], int64_t i1, int64_t i2)
{
    const int extra = (ax[0].n && ax[0].key[0]) + (ax[1].n && ax[1].key[0]);
    const char **sets = calloc((size_t)(o->n_sets + extra + 1), sizeof *sets);
    char buf[2][4096];
    if (!sets)
        return cli_fail(EXIT_RUNTIME, "out of memory");
    int n = 0;
    for (int i = 0; i < o->n_sets; i++)
        sets[n++] = o->sets[i];
    const int64_t idx[2] = {i1, i2};
    for (int k = 0; k < 2; k++) {
        if (!ax[k].key[0])
            continue;
        pt->value[k] = ax[k].values[idx[k]];
        snprintf(buf[k], sizeof buf[k], "%s=%s", ax[k].key, ax[k].values[idx[k]]);
        sets[n++] = buf[k];
    }
    dca_error err;
    dca_status st = dca_config_load(o->config, sets, n, &pt->cfg, &err);
    free(sets);
    if (st) {
        if (!extra)
            return cli_fail(EXIT_USAGE, "%s", err.msg);
        char where[1024];
        dca_config_where(base, "ensemble", ax[0].key[0] ? "sweep" : "sweep2", where,
                         sizeof where);
        return cli_fail(EXIT_USAGE, "%s: %s", where, err.msg);
    }
    const dca_config *c = pt->cfg;
    if (dca_learner_data_load(&c->learner, dca_config_basedir(c, "model", "patterns"), &pt->data,
                              &err))
        return cli_fail_at(c, "model", c->learner.kind == DCA_MODEL_KURAMOTO ? "interval"
                                                                             : "patterns",
                           err.msg);
    const dca_optim_type *t = dca_optim_type_find(c->method);
    if (t->n_params > 64)
        return cli_fail(EXIT_RUNTIME, "optimiser %s has more than 64 parameters", t->name);
    dca_config_optim_params(c, pt->par);
    pt->P = dca_learner_param_count(&c->learner);
    pt->H = dca_learner_hidden(&c->learner);
    if (c->learner.kind == DCA_MODEL_FFNET && c->learner.robustness_threshold > 0 && pt->H == 0)
        return cli_fail_at(c, "model", "robustness-threshold",
                           "robustness deletes hidden units, and [model] layers has none");
    /* The second objective needs robustness. */
    for (int i = 0; i < t->n_params; i++) {
        const char *k = t->params[i].key;
        if ((strcmp(k, "epsilon-r") == 0 || strcmp(k, "sigma-r") == 0) && pt->par[i] != 0 &&
            !(c->learner.kind == DCA_MODEL_FFNET && c->learner.robustness_threshold > 0))
            return cli_fail_at(c, "optimizer", k,
                               "the second objective is the robustness of an ffnet: set [model] "
                               "robustness-threshold > 0");
    }
    return -1;
}

/* ---- the ensemble ------------------------------------------------------------ */

typedef struct ens {
    int64_t G, M, R, I, Pmax, Hmax, Bmax, Kmax, S2, TM;
    dca_model_kind kind;
    bool robust;
    double *loss, *rob, *order, *meanw;                 /* G M R */
    double *fin_loss, *fin_rob, *fin_order, *fin_meanw; /* G M */
    double *classified, *iters, *diverged;              /* G M */
    double *w_init, *w_final;                           /* G M Pmax */
    double *damaged;                                    /* G M Hmax */
    double *outputs;                                    /* G M Bmax Kmax */
    double *trace_before, *trace_after;                 /* G TM S2 */
    double *seconds;                                    /* G M */
    int64_t done_iters;
    progress pg;
} ens;

static void ens_free(ens *e)
{
    free(e->loss), free(e->rob), free(e->order), free(e->meanw);
    free(e->fin_loss), free(e->fin_rob), free(e->fin_order), free(e->fin_meanw);
    free(e->classified), free(e->iters), free(e->diverged), free(e->w_init), free(e->w_final), free(e->damaged);
    free(e->outputs), free(e->trace_before), free(e->trace_after), free(e->seconds);
}

static double *nans(int64_t n)
{
    double *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    for (int64_t i = 0; x && i < n; i++)
        x[i] = NAN;
    return x;
}

typedef struct task_ctx {
    ens *e;
    int64_t total;
} task_ctx;

static bool on_iteration(void *ctx, int64_t iter)
{
    (void)iter;
    task_ctx *t = ctx;
    int64_t d;
#pragma omp atomic capture
    d = ++t->e->done_iters;
    if (omp_get_thread_num() == 0)
        progress_update(&t->e->pg, d, t->total, (double)d, "iterations");
    return cli_interrupted();
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int write_file(const ens *e, const point *pts, const axis ax[2], const char *path,
                      const char *command_line, dca_config *base)
{
    dca_runfile *rf = NULL;
    dca_error err;
    dca_run_meta meta = {dca_config_text(base), command_line, 1.0, .alone = false};
    const int64_t G = e->G, M = e->M;
    int64_t d2[2] = {G, M}, d3[3] = {G, M, e->R}, dp[3] = {G, M, e->Pmax},
            dh[3] = {G, M, e->Hmax}, dout[4] = {G, M, e->Bmax, e->Kmax},
            dtr[3] = {G, e->TM, e->S2}, d1[1] = {G}, dr[1] = {e->R};
    double *times = malloc((size_t)e->R * sizeof *times), *pc = malloc((size_t)G * sizeof *pc),
           *hc = malloc((size_t)G * sizeof *hc);
    int64_t *it = malloc((size_t)e->R * sizeof *it);
    if (!times || !pc || !hc || !it) {
        free(times), free(pc), free(hc), free(it);
        return cli_fail(EXIT_RUNTIME, "out of memory");
    }
    dca_learner_rows(e->I, pts[0].cfg->learner.record_every, it);
    for (int64_t r = 0; r < e->R; r++)
        times[r] = (double)it[r];
    for (int64_t g = 0; g < G; g++) {
        pc[g] = (double)pts[g].P;
        hc[g] = (double)pts[g].H;
    }
    const dca_learner_options *lo = &pts[0].cfg->learner;
    dca_status st = dca_runfile_create(path, &meta, &rf, &err);
#define W(name, rank, dims, data)                                                             \
    if (!st)                                                                                  \
    st = dca_runfile_array(rf, name, rank, dims, data, &err)
#define A_STR(name, v)                                                                        \
    if (!st)                                                                                  \
    st = dca_runfile_attr_str(rf, "/ensemble", name, v, &err)
#define A_I64(name, v)                                                                        \
    if (!st)                                                                                  \
    st = dca_runfile_attr_i64(rf, "/ensemble", name, v, &err)
    W("/ensemble/iterations", 1, dr, times);
    W("/ensemble/loss", 3, d3, e->loss);
    W("/ensemble/final_loss", 2, d2, e->fin_loss);
    W("/ensemble/iterations_run", 2, d2, e->iters);
    W("/ensemble/diverged", 2, d2, e->diverged);
    W("/ensemble/seconds", 2, d2, e->seconds);
    W("/ensemble/initial_weights", 3, dp, e->w_init);
    W("/ensemble/final_weights", 3, dp, e->w_final);
    W("/ensemble/params", 1, d1, pc);
    A_STR("model", lo->kind_name);
    A_STR("method", pts[0].cfg->method);
    A_I64("members", M);
    A_I64("points", G);
    A_I64("optimizer_iterations", e->I);
    A_I64("record_every", lo->record_every);
    A_STR("sweep", lo->sweep[0]);
    A_STR("sweep2", lo->sweep[1]);
    for (int k = 0; k < 2; k++) {
        if (!ax[k].key[0])
            continue;
        char name[64];
        snprintf(name, sizeof name, "/ensemble/axis%d", k + 1);
        int64_t dn[1] = {ax[k].n};
        if (ax[k].numeric)
            W(name, 1, dn, ax[k].numbers);
        snprintf(name, sizeof name, "axis%d_key", k + 1);
        A_STR(name, ax[k].key);
    }
    if (e->kind == DCA_MODEL_FFNET) {
        W("/ensemble/damaged_loss", 3, dh, e->damaged);
        W("/ensemble/hidden", 1, d1, hc);
        W("/ensemble/outputs", 4, dout, e->outputs);
        W("/ensemble/classified", 2, d2, e->classified);
        const point *p0 = &pts[0];
        int64_t dx[2] = {p0->data.patterns, p0->data.n_in}, dt[2] = {p0->data.patterns,
                                                                      p0->data.n_out};
        W("/model/inputs", 2, dx, p0->data.x);
        W("/model/targets", 2, dt, p0->data.t);
        if (!st)
            st = dca_runfile_attr_str(rf, "/model", "patterns", lo->patterns, &err);
        if (e->robust) {
            W("/ensemble/robustness", 3, d3, e->rob);
            W("/ensemble/final_robustness", 2, d2, e->fin_rob);
            if (!st)
                st = dca_runfile_attr_f64(rf, "/ensemble", "robustness_threshold",
                                          lo->robustness_threshold, &err);
        }
    } else {
        W("/ensemble/order", 3, d3, e->order);
        W("/ensemble/mean_weight", 3, d3, e->meanw);
        W("/ensemble/final_order", 2, d2, e->fin_order);
        W("/ensemble/final_mean_weight", 2, d2, e->fin_meanw);
        if (e->TM) {
            W("/ensemble/trace_before", 3, dtr, e->trace_before);
            W("/ensemble/trace_after", 3, dtr, e->trace_after);
            if (!st)
                st = dca_runfile_attr_f64(rf, "/ensemble", "trace_dt", lo->dt, &err);
        }
        /* Member frequencies and initial phases of the first grid point. */
        const int64_t N = lo->oscillators;
        double *om = malloc((size_t)(M * N) * sizeof *om), *ph = malloc((size_t)(M * N) * sizeof *ph);
        for (int64_t m = 0; om && ph && m < M && !st; m++) {
            dca_learner *l;
            if ((st = dca_learner_create(lo, &pts[0].data, m, &l, NULL, &err)))
                break;
            memcpy(om + m * N, dca_kuramoto_omega(dca_learner_kuramoto(l)), (size_t)N * 8);
            memcpy(ph + m * N, dca_kuramoto_phases(dca_learner_kuramoto(l)), (size_t)N * 8);
            dca_learner_destroy(l);
        }
        int64_t dn[2] = {M, N};
        if (!om || !ph)
            st = dca_error_set(&err, DCA_ERR_NOMEM, "out of memory");
        W("/model/omega", 2, dn, om);
        W("/model/initial_phases", 2, dn, ph);
        free(om), free(ph);
        if (!st)
            st = dca_runfile_attr_f64(rf, "/model", "r0", lo->r0, &err);
    }
#undef W
#undef A_STR
#undef A_I64
    free(times), free(pc), free(hc), free(it);
    if (rf) {
        dca_error e2;
        dca_status cst = dca_runfile_close(rf, st == DCA_OK, &e2);
        if (!st && cst) {
            st = cst;
            err = e2;
        }
    }
    if (st)
        return cli_fail(EXIT_RUNTIME, "%s: %s", path, err.msg);
    return -1;
}

int cmd_learn_train(const cli_common *o, dca_config *base, const char *resume,
                    const char *command_line)
{
    axis ax[2] = {0};
    point *pts = NULL;
    ens e = {0};
    dca_error *errs = NULL;
    dca_status *sts = NULL;
    int64_t G = 0;
    int rc = EXIT_USAGE;
    if (resume) {
        rc = cli_fail(EXIT_USAGE, "--resume: [model] kind = %s runs are not resumable (an "
                                  "ensemble finishes in one go; an interrupted one keeps its "
                                  "finished members in the run file)",
                      base->learner.kind_name);
        goto out;
    }
    if ((rc = check_unused(base)) >= 0)
        goto out;
    if ((rc = axis_parse(base, "sweep", base->learner.sweep[0], &ax[0])) >= 0 ||
        (rc = axis_parse(base, "sweep2", base->learner.sweep[1], &ax[1])) >= 0)
        goto out;
    rc = EXIT_USAGE;
    G = ax[0].n * ax[1].n;
    pts = calloc((size_t)G, sizeof *pts);
    if (!pts) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < ax[0].n; i++)
        for (int64_t j = 0; j < ax[1].n; j++)
            if ((rc = prepare_point(&pts[i * ax[1].n + j], base, o, ax, i, j)) >= 0)
                goto out;
    const dca_learner_options *lo = &pts[0].cfg->learner;
    e.G = G;
    e.M = lo->members;
    e.I = pts[0].cfg->iterations;
    e.R = dca_learner_rows(e.I, lo->record_every, NULL);
    e.kind = lo->kind;
    e.robust = lo->kind == DCA_MODEL_FFNET && lo->robustness_threshold > 0;
    for (int64_t g = 0; g < G; g++) {
        const point *p = &pts[g];
        if (p->cfg->learner.kind != e.kind || p->cfg->iterations != e.I ||
            (p->cfg->learner.robustness_threshold > 0) != (lo->robustness_threshold > 0)) {
            rc = cli_fail(EXIT_USAGE, "[ensemble] sweep: every grid point must share the model "
                                      "kind, the iterations and whether robustness is computed");
            goto out;
        }
        e.Pmax = p->P > e.Pmax ? p->P : e.Pmax;
        e.Hmax = p->H > e.Hmax ? p->H : e.Hmax;
        e.Bmax = p->data.patterns > e.Bmax ? p->data.patterns : e.Bmax;
        e.Kmax = p->data.n_out > e.Kmax ? p->data.n_out : e.Kmax;
        const int64_t s2 = 2 * p->data.steps + 1;
        e.S2 = e.kind == DCA_MODEL_KURAMOTO && s2 > e.S2 ? s2 : e.S2;
    }
    e.TM = e.kind == DCA_MODEL_KURAMOTO ? (lo->trace_members < e.M ? lo->trace_members : e.M) : 0;
    const int64_t GM = G * e.M;
    {
        const double bytes = 8.0 * (double)GM *
                             (4.0 * (double)e.R + 2.0 * (double)e.Pmax + (double)e.Hmax +
                              (double)(e.Bmax * e.Kmax) + 10.0) +
                             16.0 * (double)(G * e.TM * e.S2);
        if (bytes > 0.8 * (double)dca_mem_physical()) {
            char b1[64], b2[128];
            rc = cli_fail(EXIT_USAGE,
                          "the ensemble's records need %s, more than %s allows: raise [ensemble] "
                          "record-every or lower members",
                          dca_mem_fmt(bytes, b1, sizeof b1), dca_mem_budget(b2, sizeof b2));
            goto out;
        }
    }
    e.loss = nans(GM * e.R);
    e.rob = nans(GM * e.R);
    e.order = nans(GM * e.R);
    e.meanw = nans(GM * e.R);
    e.fin_loss = nans(GM), e.fin_rob = nans(GM), e.fin_order = nans(GM), e.fin_meanw = nans(GM);
    e.classified = nans(GM), e.iters = nans(GM), e.seconds = nans(GM), e.diverged = nans(GM);
    e.w_init = nans(GM * e.Pmax), e.w_final = nans(GM * e.Pmax);
    e.damaged = nans(GM * e.Hmax);
    e.outputs = nans(GM * e.Bmax * e.Kmax);
    e.trace_before = nans(G * e.TM * e.S2), e.trace_after = nans(G * e.TM * e.S2);
    errs = calloc((size_t)GM, sizeof *errs);
    sts = calloc((size_t)GM, sizeof *sts);
    if (!e.loss || !e.rob || !e.order || !e.meanw || !e.fin_loss || !e.fin_rob || !e.fin_order ||
        !e.fin_meanw || !e.classified || !e.iters || !e.seconds || !e.diverged || !e.w_init || !e.w_final ||
        !e.damaged || !e.outputs || !e.trace_before || !e.trace_after || !errs || !sts) {
        rc = cli_fail(EXIT_RUNTIME, "out of memory for the ensemble's records");
        goto out;
    }
    const char *outpath = o->output ? o->output : base->output_file;
    if (cli_make_parent_dirs(outpath) != 0) {
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot create its directory", outpath);
        goto out;
    }
    if (o->threads)
        omp_set_num_threads(o->threads);
    const int nthreads = o->threads ? o->threads : omp_get_max_threads();
    const int K = (int)(GM < nthreads ? GM : nthreads);
    printf("train: %s, %lld grid point%s x %lld member%s, %lld iterations, %s (%lld "
           "parameters%s)\n",
           lo->kind_name, (long long)G, G == 1 ? "" : "s", (long long)e.M, e.M == 1 ? "" : "s",
           (long long)e.I, pts[0].cfg->method, (long long)pts[0].P,
           G > 1 && e.Pmax != pts[0].P ? " at the first point" : "");
    fflush(stdout);
    cli_catch_signals();
    progress_init(&e.pg, o->quiet);
    task_ctx tc = {&e, GM * e.I};
    const double t0 = cli_now();
    /* Members side by side, one per thread, each writing only its slots:
     * the records do not depend on the thread count. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(K)
    for (int64_t t = 0; t < GM; t++) {
        if (cli_interrupted())
            continue;
        const int64_t g = t / e.M, m = t % e.M;
        const point *p = &pts[g];
        const dca_config *c = p->cfg;
        const dca_learner_run run = {&c->learner, &p->data, c->method, p->par, c->optim_seed,
                                     e.I, c->tolerance};
        const bool tr = m < e.TM;
        dca_learner_record rec = {
            .rows = e.R,
            .loss = e.loss + t * e.R,
            .robustness = e.robust ? e.rob + t * e.R : NULL,
            .order = e.kind == DCA_MODEL_KURAMOTO ? e.order + t * e.R : NULL,
            .mean_weight = e.kind == DCA_MODEL_KURAMOTO ? e.meanw + t * e.R : NULL,
            .initial_weights = e.w_init + t * e.Pmax,
            .final_weights = e.w_final + t * e.Pmax,
            .damaged = p->H ? e.damaged + t * e.Hmax : NULL,
            .outputs = NULL,
            .trace_before = tr ? e.trace_before + (g * e.TM + m) * e.S2 : NULL,
            .trace_after = tr ? e.trace_after + (g * e.TM + m) * e.S2 : NULL,
        };
        double *outs = NULL;
        if (e.kind == DCA_MODEL_FFNET)
            rec.outputs = outs = malloc((size_t)(p->data.patterns * p->data.n_out) * 8);
        const double ts = cli_now();
        sts[t] = dca_learner_train(&run, m, &rec, on_iteration, &tc, &errs[t]);
        e.seconds[t] = cli_now() - ts;
        if (!sts[t]) {
            e.fin_loss[t] = rec.final_loss;
            e.fin_rob[t] = rec.final_robustness;
            e.fin_order[t] = rec.final_order;
            e.fin_meanw[t] = rec.final_mean_weight;
            e.classified[t] = rec.classified;
            e.iters[t] = (double)rec.iterations_run;
            e.diverged[t] = rec.diverged;
            for (int64_t b = 0; outs && b < p->data.patterns; b++)
                memcpy(e.outputs + (t * e.Bmax + b) * e.Kmax, outs + b * p->data.n_out,
                       (size_t)p->data.n_out * 8);
        } else {
            e.iters[t] = -1;
        }
        free(outs);
    }
    progress_end(&e.pg);
    const double elapsed = cli_now() - t0;
    int64_t failed = -1;
    for (int64_t t = 0; t < GM && failed < 0; t++)
        if (sts[t])
            failed = t;
    /* The summary: per grid point, the final loss over the members that
     * finished. */
    double *sorted = malloc((size_t)e.M * sizeof *sorted);
    for (int64_t g = 0; sorted && g < G; g++) {
        int64_t n = 0, ok = 0, all_right = 0, div = 0;
        double mean = 0, rmean = 0, cmean = 0, omean = 0, wmean = 0;
        for (int64_t m = 0; m < e.M; m++) {
            const int64_t t = g * e.M + m;
            div += e.diverged[t] == 1.0;
            if (sts[t] || e.iters[t] < 0 || isnan(e.fin_loss[t]))
                continue;
            sorted[n++] = e.fin_loss[t];
            mean += e.fin_loss[t];
            ok += e.fin_loss[t] <= pts[g].cfg->learner.success;
            rmean += e.fin_rob[t];
            cmean += e.classified[t];
            all_right += e.classified[t] == 1.0;
            omean += e.fin_order[t];
            wmean += e.fin_meanw[t];
        }
        char label[512] = "";
        for (int k = 0; k < 2; k++)
            if (ax[k].key[0]) {
                size_t l = strlen(label);
                snprintf(label + l, sizeof label - l, "%s%s = %s", l ? ", " : "", ax[k].key,
                         pts[g].value[k]);
            }
        if (n == 0) {
            printf("%s%sno member finished%s\n", label, label[0] ? ": " : "",
                   div ? " (every member diverged)" : "");
            continue;
        }
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
        const double dn = (double)n;
        printf("%s%sfinal loss mean %.4g, median %.4g, min %.4g, max %.4g; %lld/%lld at most "
               "%g",
               label, label[0] ? ": " : "", mean / dn, 0.5 * (sorted[(n - 1) / 2] + sorted[n / 2]),
               sorted[0], sorted[n - 1], (long long)ok, (long long)n,
               pts[g].cfg->learner.success);
        if (e.robust)
            printf("; robustness mean %.4g", rmean / dn);
        if (e.kind == DCA_MODEL_FFNET && pts[g].data.classification)
            printf("; all patterns right in %lld/%lld (mean %.4g)", (long long)all_right,
                   (long long)n, cmean / dn);
        if (e.kind == DCA_MODEL_KURAMOTO)
            printf("; rbar mean %.4g (r0 = %g), W mean %.4g", omean / dn,
                   pts[g].cfg->learner.r0, wmean / dn);
        if (div)
            printf("; %lld diverged (not in the figures before)", (long long)div);
        printf("\n");
    }
    free(sorted);
    int wrc = write_file(&e, pts, ax, outpath, command_line, base);
    if (wrc >= 0) {
        rc = wrc;
        goto out;
    }
    printf("wrote %s (%.1f s, %.3g member-iterations/s on %d thread%s)\n", outpath, elapsed,
           (double)e.done_iters / elapsed, K, K == 1 ? "" : "s");
    fflush(stdout);
    if (failed >= 0) {
        rc = cli_fail(EXIT_RUNTIME, "grid point %lld, %s (%s keeps the members that finished)",
                      (long long)(failed / e.M), errs[failed].msg, outpath);
        goto out;
    }
    if (cli_interrupted()) {
        rc = cli_fail(EXIT_RUNTIME, "interrupted: %s keeps what was done (iterations_run says "
                                    "how far each member got)",
                      outpath);
        goto out;
    }
    rc = EXIT_OK;
out:
    for (int64_t g = 0; pts && g < G; g++) {
        dca_learner_data_free(&pts[g].data);
        dca_config_destroy(pts[g].cfg);
    }
    free(pts), free(errs), free(sts);
    ens_free(&e);
    axis_free(&ax[0]), axis_free(&ax[1]);
    return rc;
}

/* ---- gradcheck ------------------------------------------------------------------- */

int cmd_learn_gradcheck(const cli_common *o, dca_config *cfg, const cli_gradcheck_opts *gc)
{
    const double tol = gc->tol, h = gc->step;
    const bool all = gc->all;
    dca_learner_data d;
    dca_error err;
    const dca_learner_options *lo = &cfg->learner;
    int rc = check_unused(cfg);
    if (rc >= 0)
        return rc;
    if (dca_learner_data_load(lo, dca_config_basedir(cfg, "model", "patterns"), &d, &err))
        return cli_fail_at(cfg, "model", lo->kind == DCA_MODEL_KURAMOTO ? "interval" : "patterns",
                           err.msg);
    const int64_t P = dca_learner_param_count(lo);
    dca_learner *l = NULL;
    double *w = malloc((size_t)P * 8), *g = malloc((size_t)P * 8), *num = malloc((size_t)P * 8);
    int64_t *order = malloc((size_t)P * sizeof *order);
    rc = EXIT_RUNTIME;
    if (!w || !g || !num || !order) {
        cli_fail(EXIT_RUNTIME, "out of memory");
        goto out;
    }
    if (dca_learner_create(lo, &d, 0, &l, w, &err)) {
        cli_fail(EXIT_USAGE, "%s", err.msg);
        goto out;
    }
    double E, Ep, Em, nmax = 0;
    dca_learner_eval(l, w, &E, g);
    for (int64_t p = 0; p < P; p++) {
        const double keep = w[p];
        w[p] = keep + h;
        dca_learner_eval(l, w, &Ep, NULL);
        w[p] = keep - h;
        dca_learner_eval(l, w, &Em, NULL);
        w[p] = keep;
        num[p] = (Ep - Em) / (2 * h);
        nmax = fmax(nmax, fabs(num[p]));
        order[p] = p;
    }
    /* Relative error with the same floor as the rule gradcheck. */
    const double floor_ = fmax(1e-3 * fmax(nmax, fabs(E)), 1e-300);
    double worst = 0;
    for (int64_t p = 0; p < P; p++)
        worst = fmax(worst, fabs(g[p] - num[p]) / fmax(fabs(num[p]), floor_));
    for (int64_t i = 1; i < P; i++) { /* by error, largest first (insertion sort: P is small) */
        const int64_t q = order[i];
        const double eq = fabs(g[q] - num[q]);
        int64_t j = i;
        for (; j > 0 && fabs(g[order[j - 1]] - num[order[j - 1]]) < eq; j--)
            order[j] = order[j - 1];
        order[j] = q;
    }
    printf("gradcheck %s: [model] kind = %s, %lld parameters, member 0's initial weights, h = "
           "%g\n",
           o->config, lo->kind_name, (long long)P, h);
    if (lo->kind == DCA_MODEL_KURAMOTO)
        printf("E = |rbar - r0| over one interval of %lld steps from the initial phases; the "
               "adjoint of the Euler scheme against central differences of the same interval\n",
               (long long)d.steps);
    else
        printf("E = mean squared error over %lld patterns; backpropagation against central "
               "differences\n",
               (long long)d.patterns);
    printf("loss E = %.12g\n", E);
    const int64_t show = all ? P : (P < 20 ? P : 20);
    printf("%s\n%8s %22s %22s %10s\n", all || P <= 20 ? "every parameter" : "the 20 worst parameters",
           "param", "exact", "numeric", "rel err");
    for (int64_t i = 0; i < show; i++) {
        const int64_t p = order[i];
        printf("%8lld %22.14g %22.14g %10.2e\n", (long long)p, g[p], num[p],
               fabs(g[p] - num[p]) / fmax(fabs(num[p]), floor_));
    }
    printf("worst error vs finite differences: %.3g (tolerance %g): %s\n", worst, tol,
           worst <= tol ? "PASS" : "FAIL");
    rc = worst <= tol ? EXIT_OK : EXIT_RUNTIME;
out:
    dca_learner_destroy(l);
    dca_learner_data_free(&d);
    free(w), free(g), free(num), free(order);
    return rc;
}
