/* Options shared by run-like commands (run, gradcheck). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/par.h"
#include "density.h"
#include "config.h"
#include "experiment.h"
#include "io.h"
#include "text.h"

/* Parses the options common to run-like commands. Returns -1 when the
 * caller should continue, else an exit code. */
int cli_parse_common(int argc, char **argv, const char *usage_text, cli_common *o,
                     cli_extra_fn extra, void *extra_ctx)
{
    o->sets = calloc((size_t)argc, sizeof *o->sets);
    if (!o->sets)
        return cli_fail(EXIT_RUNTIME, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
#define VALUE(name)                                                                       \
    (strncmp(a, name "=", sizeof name) == 0 ? (v = a + sizeof name)                       \
     : strcmp(a, name) == 0 && i + 1 < argc ? (v = argv[++i])                             \
     : strcmp(a, name) == 0                  ? (v = NULL, a)                              \
                                             : NULL)
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (VALUE("-o") || VALUE("--output")) {
            if (!v)
                return cli_fail(EXIT_USAGE, "%s needs a file name", a);
            o->output = v;
        } else if (VALUE("--set")) {
            if (!v)
                return cli_fail(EXIT_USAGE, "--set needs SECTION.KEY=VALUE");
            o->sets[o->n_sets++] = v;
        } else if (VALUE("--threads")) {
            int64_t n;
            if (!v || !dca_parse_i64(v, &n) || n < 1 || n > 4096)
                return cli_fail(EXIT_USAGE, "--threads needs a whole number from 1 to 4096");
            o->threads = (int)n;
        } else if (extra && (v = extra(argc, argv, &i, extra_ctx)) != NULL) {
            if (strcmp(v, "error") == 0)
                return EXIT_USAGE;
        } else if (a[0] == '-' && a[1]) {
            fputs(usage_text, stderr);
            return cli_fail(EXIT_USAGE, "unknown option '%s'", a);
        } else if (!o->config) {
            o->config = a;
        } else {
            return cli_fail(EXIT_USAGE, "unexpected argument '%s' (one CONFIG only)", a);
        }
#undef VALUE
    }
    if (!o->config) {
        fputs(usage_text, stderr);
        return cli_fail(EXIT_USAGE, "missing CONFIG");
    }
    return -1;
}

/* mkdir -p of path's directory. */
int cli_make_parent_dirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return 0;
    *slash = '\0';
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}


int cli_fail_at(const struct dca_config *cfg, const char *section, const char *key,
                const char *msg)
{
    char where[600];
    return cli_fail(EXIT_USAGE, "%s: %s", dca_config_where(cfg, section, key, where, sizeof where),
                    msg);
}

void cli_print_hardened(const dca_rule *rule)
{
    char life[4096];
    bool has_life = dca_rule_life(rule, life, sizeof life);
    if (dca_rule_kind_of(rule) == DCA_RULE_OUTER_TOTALISTIC) {
        if (has_life)
            printf("hardened rule: life:%s\n", life);
        return;
    }
    size_t len = (size_t)(dca_rule_patterns(rule) / 4 + 2);
    char *hex = malloc(len);
    if (!hex || !dca_rule_hex(rule, hex, len)) {
        free(hex);
        return;
    }
    printf("hardened rule: hex:%s", hex);
    /* Up to 64 patterns the table is also a Wolfram number. */
    if (dca_rule_patterns(rule) <= 64)
        printf(" (wolfram:%llu)", strtoull(hex, NULL, 16));
    /* A Life-like table also in B/S notation. */
    if (has_life && dca_nbhd_dims(dca_rule_nbhd(rule)) == 2)
        printf(" (life:%s)", life);
    printf("\n");
    free(hex);
}

int cli_load(const cli_common *o, struct dca_config **cfg, struct dca_experiment **ex)
{
    return cli_load_share(o, NULL, NULL, cfg, ex);
}

int cli_load_share(const cli_common *o, dca_experiment_share_fn share, void *ctx,
                   struct dca_config **cfg, struct dca_experiment **ex)
{
    return cli_load_split(o, share, NULL, ctx, cfg, ex);
}

int cli_load_split(const cli_common *o, dca_experiment_share_fn share,
                   dca_experiment_window_fn window, void *ctx, struct dca_config **cfg,
                   struct dca_experiment **ex)
{
    dca_error err;
    if (dca_config_load(o->config, o->sets, o->n_sets, cfg, &err))
        return cli_fail(EXIT_USAGE, "%s", err.msg);
    if ((*cfg)->learner.kind != DCA_MODEL_RULE)
        return cli_fail_at(*cfg, "model", "kind",
                           "dca run, eval and search work on rule models; train and check this "
                           "model with dca train and dca gradcheck");
    if (!window && (*cfg)->split_lattice && par_many())
        return cli_fail_at(*cfg, "run", "split",
                           "only dca run splits the lattice among MPI ranks; this command shares "
                           "configurations: set it to configurations");
    if (window && (*cfg)->split_lattice && par_many()
            ? dca_experiment_build_window(*cfg, window, ctx, ex, &err)
            : dca_experiment_build_share(*cfg, share, ctx, ex, &err))
        return cli_fail(EXIT_USAGE, "%s", err.msg);
    return -1;
}

int cli_load_learner(const cli_common *o, struct dca_config **cfg)
{
    dca_error err;
    *cfg = NULL;
    dca_config *c;
    if (dca_config_load(o->config, o->sets, o->n_sets, &c, &err))
        return cli_fail(EXIT_USAGE, "%s", err.msg);
    if (c->learner.kind == DCA_MODEL_RULE)
        dca_config_destroy(c);
    else
        *cfg = c;
    return -1;
}

int cli_refuse_sections(const struct dca_config *cfg, const char *const *sections, size_t n,
                        const char *why)
{
    for (size_t i = 0; i < n; i++) {
        const char *k = dca_config_first_given(cfg, sections[i]);
        if (k)
            return cli_fail_at(cfg, sections[i], k, why);
    }
    return -1;
}

int cli_resume_check(const char *path, dca_config *cfg)
{
    dca_error err;
    char *cfgtext = NULL, *format = NULL;
    int64_t version = 0;
    if (dca_h5_read_string_attr(path, "/", "format", &format, &err) ||
        dca_h5_read_i64_attr(path, "/", "format_version", &version, &err)) {
        free(format);
        return cli_fail(EXIT_USAGE, "--resume %s (not a dca run file?)", err.msg);
    }
    const bool ours = strcmp(format, "dca-run") == 0 && version == DCA_FORMAT_VERSION;
    free(format);
    if (!ours)
        return cli_fail(EXIT_USAGE, "--resume %s: not a dca run file of format version %d (this "
                                    "one says %lld)", path, DCA_FORMAT_VERSION, (long long)version);
    if (dca_h5_read_string_attr(path, "/", "config", &cfgtext, &err))
        return cli_fail(EXIT_USAGE, "--resume %s", err.msg);
    const bool same = strcmp(cfgtext, dca_config_text(cfg)) == 0;
    free(cfgtext);
    if (!same)
        return cli_fail(EXIT_USAGE, "--resume %s: the run was started with another configuration "
                                    "(compare `dca info %s` with this one)", path, path);
    return -1;
}

dca_status cli_eval_density(const dca_hard *h, const dca_config *cfg, int64_t max_steps,
                            dca_density_result *res, dca_error *err)
{
    int64_t first, mine;
    par_share(cfg->eval_samples, &first, &mine);
    dca_status st = dca_eval_density_part(h, DCA_DENSITY_AUTO, first, mine, max_steps,
                                          cfg->eval_kind, cfg->eval_seed, res, NULL, err);
    if (st || !par_many())
        return st;
    res->samples = par_sum_i64(res->samples);
    res->correct = par_sum_i64(res->correct);
    res->cell_updates = par_sum_i64(res->cell_updates);
    res->seconds = par_max_f64(res->seconds);
    const double n = (double)res->samples;
    res->accuracy = n > 0 ? (double)res->correct / n : 0.0;
    res->standard_error = n > 0 ? sqrt(res->accuracy * (1 - res->accuracy) / n) : 0;
    res->cell_updates_per_second = res->seconds > 0 ? (double)res->cell_updates / res->seconds
                                                    : 0;
    return DCA_OK;
}
