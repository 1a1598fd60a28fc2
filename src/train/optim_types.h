/* The optimiser types of the table in optim.c, one file each (or a family
 * per file). */
#ifndef DCA_OPTIM_TYPES_H
#define DCA_OPTIM_TYPES_H

#include "dca/optim.h"

extern const dca_optim_type dca_optim_irprop_plus, dca_optim_irprop_minus, dca_optim_sgd,
    dca_optim_adam, dca_optim_rmsprop, dca_optim_autonomous;

#endif
