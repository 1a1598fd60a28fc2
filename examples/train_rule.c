/* Recover elementary rule 110 from data with the installed libdca:
 * a soft rule on a ring of 64 cells, 16 random configurations, one step,
 * targets made by the hard rule itself, iRprop+ on the exact reverse-mode
 * gradient, then the hardened rule.
 *
 *   cc train_rule.c $(pkg-config --cflags --libs dca) -o train_rule
 *   ./train_rule            # prints the loss every 20 iterations and the rule */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dca/dca.h>
#include <dca/objective.h>
#include <dca/optim.h>
#include <dca/task.h>

#define CHECK(call)                                                                     \
    do {                                                                                \
        if ((call) != DCA_OK) {                                                         \
            fprintf(stderr, "train_rule: %s: %s\n", #call, err.msg);                    \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

int main(void)
{
    dca_error err = {0};
    dca_lattice lat;
    dca_nbhd *nb;
    dca_rule *rule, *truth;
    dca_sim *sim, *hard;
    const int64_t B = 16;
    CHECK(dca_lattice_parse("64", &lat, &err));
    CHECK(dca_nbhd_parse("radius:1", 1, &nb, &err));
    CHECK(dca_rule_create(nb, 2, DCA_MODE_BINARY, &rule, &err));
    CHECK(dca_rule_create(nb, 2, DCA_MODE_BINARY, &truth, &err));
    CHECK(dca_rule_load_weights(rule, "normal:1", 3, NULL, &err));
    CHECK(dca_rule_load_weights(truth, "wolfram:110", 0, NULL, &err));

    /* Data: exact 0/1 configurations and what rule 110 makes of them. */
    const int64_t n = B * dca_lattice_cells(&lat);
    double *x0 = malloc((size_t)n * sizeof *x0), *phi = malloc((size_t)n * sizeof *phi);
    CHECK(dca_init_generate("bernoulli:0.5", &lat, 2, DCA_MODE_BINARY, B, 5, x0, &err));
    dca_sim_options hard_opt = {.threads = 0};
    CHECK(dca_sim_create(&lat, truth, B, &hard_opt, &hard, &err));
    CHECK(dca_sim_step(hard, x0, phi));
    dca_init_apply_eps(x0, n, 2, DCA_MODE_BINARY, 1e-3);

    /* The objective: one step, cross-entropy against phi, reverse mode. */
    dca_sim_options opt = {.gradients = DCA_GRAD_REVERSE};
    CHECK(dca_sim_create(&lat, rule, B, &opt, &sim, &err));
    dca_task_shape sh = {&lat, 2, DCA_MODE_BINARY, B, nb, NULL, NULL, 0};
    dca_objective_options oo = {.steps = 1};
    dca_objective *obj;
    CHECK(dca_objective_create(sim, x0, phi, dca_loss_lookup("cross-entropy"), &sh, &oo, &obj,
                               &err));
    const int64_t P = dca_rule_params(rule);
    double *w = malloc((size_t)P * sizeof *w), *g = malloc((size_t)P * sizeof *g);
    memcpy(w, dca_rule_weights(rule), (size_t)P * sizeof *w);
    dca_optim *o;
    CHECK(dca_optim_create("irprop+", NULL, P, 1, &o, &err));
    double E = 0;
    for (int it = 0; it < 100; it++) {
        CHECK(dca_objective_eval(obj, w, &E, g, NULL, &err));
        if (it % 20 == 0)
            printf("iteration %3d  loss %.6f\n", it, E);
        dca_optim_step(o, E, g, w);
    }
    CHECK(dca_objective_eval(obj, w, &E, NULL, NULL, &err));
    char hex[8];
    dca_rule_hex(rule, hex, sizeof hex);
    printf("final loss %.6f, hardened rule hex:%s (rule 110 is hex:6e)\n", E, hex);
    int ok = strcmp(hex, "6e") == 0;
    dca_optim_destroy(o);
    dca_objective_destroy(obj);
    dca_sim_destroy(sim);
    dca_sim_destroy(hard);
    dca_rule_destroy(rule);
    dca_rule_destroy(truth);
    dca_nbhd_destroy(nb);
    free(x0), free(phi), free(w), free(g);
    return ok ? 0 : 1;
}
