/* The record of a rule training (train_record.h). */
#include "train_record.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

dca_status dca_train_record_init(dca_train_record *r, const dca_rule *rule, int64_t I,
                                 dca_error *err)
{
    const int64_t P = dca_rule_params(rule);
    const double *w0 = dca_rule_weights(rule);
    *r = (dca_train_record){.P = P, .I = I, .best_E = INFINITY};
    r->wrank = dca_rule_shape(rule, r->wdims);
    double bytes = 8.0 * (double)P * (2.0 * (double)I + 1);
    if (bytes > (double)dca_mem_physical() / 4) {
        char a[32], b[64];
        return dca_error_set(err, DCA_ERR_CONFIG,
                             "the training history (%lld iterations x %lld weights) needs %s, "
                             "more than a quarter of %s", (long long)I, (long long)P,
                             dca_mem_fmt(bytes, a, sizeof a), dca_mem_budget(b, sizeof b));
    }
    r->loss = calloc((size_t)I + 1, 8);
    r->gnorm = calloc((size_t)I + 1, 8);
    r->secs = calloc((size_t)I + 1, 8);
    r->weights = calloc((size_t)((I + 1) * P), 8);
    r->steps = calloc((size_t)(I * P + 1), 8);
    r->best_w = malloc((size_t)P * 8 + 1);
    if (!r->loss || !r->gnorm || !r->secs || !r->weights || !r->steps || !r->best_w) {
        dca_train_record_free(r);
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory for the training history");
    }
    memcpy(r->weights, w0, (size_t)P * 8);
    memcpy(r->best_w, w0, (size_t)P * 8);
    return DCA_OK;
}

void dca_train_record_free(dca_train_record *r)
{
    free(r->loss), free(r->gnorm), free(r->secs), free(r->weights), free(r->steps);
    free(r->best_w);
    *r = (dca_train_record){0};
}

void dca_train_record_loss(dca_train_record *r, int64_t it, const dca_train_report *rep)
{
    r->loss[it] = rep->loss;
    r->gnorm[it] = rep->gradient_norm; /* NaN for gradient-free methods */
    if (rep->loss < r->best_E) {
        r->best_E = rep->loss;
        memcpy(r->best_w, r->weights + it * r->P, (size_t)r->P * 8);
    }
}

void dca_train_record_step(dca_train_record *r, int64_t it, const double *w,
                           const double *sizes, double seconds)
{
    memcpy(r->weights + (it + 1) * r->P, w, (size_t)r->P * 8);
    memcpy(r->steps + it * r->P, sizes, (size_t)r->P * 8);
    r->secs[it] = seconds;
    r->done = it + 1;
}

dca_status dca_train_record_write(const dca_train_record *r, dca_runfile *rf, dca_optim *opt,
                                  bool finished, dca_error *err)
{
    const int64_t n = r->done;
    const int wr = r->wrank;
    int64_t d1[1] = {n}, dw[3] = {n + 1, r->wdims[0], r->wdims[1]},
            ds[3] = {n, r->wdims[0], r->wdims[1]};
    int64_t dst[1] = {dca_optim_state_len(opt)};
    dca_status st;
    if ((st = dca_runfile_array(rf, "/train/loss", 1, d1, r->loss, err)) ||
        (st = dca_runfile_array(rf, "/train/gradient_norm", 1, d1, r->gnorm, err)) ||
        (st = dca_runfile_array(rf, "/train/wall_seconds", 1, d1, r->secs, err)) ||
        (st = dca_runfile_array(rf, "/train/weights", 1 + wr, dw, r->weights, err)) ||
        (st = dca_runfile_array(rf, "/train/step_size", 1 + wr, ds, r->steps, err)) ||
        (st = dca_runfile_array(rf, "/train/best_weights", wr, r->wdims, r->best_w, err)) ||
        (st = dca_runfile_array(rf, "/train/best_loss", 0, NULL, &r->best_E, err)) ||
        (st = dca_runfile_array(rf, "/train/optimizer_state", 1, dst, dca_optim_state(opt),
                                err)) ||
        (st = dca_runfile_attr_i64(rf, "/train", "iterations", r->I, err)) ||
        (st = dca_runfile_attr_i64(rf, "/train", "iterations_done", n, err)) ||
        (st = dca_runfile_attr_i64(rf, "/train", "finished", finished, err)))
        return st;
    return DCA_OK;
}

dca_status dca_train_record_read(dca_train_record *r, const char *path, dca_optim *opt,
                                 double *w, dca_error *err)
{
    int64_t done = 0;
    dca_status st = dca_h5_read_i64_attr(path, "/train", "iterations_done", &done, err);
    if (st)
        return st;
    if (done < 0 || done > r->I)
        return dca_error_set(err, DCA_ERR_CONFIG,
                             "%s: it has %lld iterations, more than [optimizer] iterations = "
                             "%lld", path, (long long)done, (long long)r->I);
    struct {
        const char *name;
        double *dst;
        int64_t n;
    } parts[] = {
        {"/train/loss", r->loss, done},
        {"/train/gradient_norm", r->gnorm, done},
        {"/train/wall_seconds", r->secs, done},
        {"/train/weights", r->weights, (done + 1) * r->P},
        {"/train/step_size", r->steps, done * r->P},
        {"/train/best_weights", r->best_w, r->P},
        {"/train/best_loss", &r->best_E, 1},
        {"/train/optimizer_state", dca_optim_state(opt), dca_optim_state_len(opt)},
    };
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        double *v;
        int rank;
        int64_t dims[DCA_H5_MAX_RANK], n = 1;
        if ((st = dca_h5_read_doubles(path, parts[i].name, &v, &rank, dims, err)))
            return st;
        for (int k = 0; k < rank; k++)
            n *= dims[k];
        if (n != parts[i].n) {
            free(v);
            return dca_error_set(err, DCA_ERR_CONFIG, "%s:%s holds %lld values, expected %lld",
                                 path, parts[i].name, (long long)n, (long long)parts[i].n);
        }
        memcpy(parts[i].dst, v, (size_t)n * sizeof *v);
        free(v);
    }
    r->done = done;
    dca_optim_set_iteration(opt, done);
    memcpy(w, r->weights + done * r->P, (size_t)r->P * sizeof *w);
    return DCA_OK;
}
