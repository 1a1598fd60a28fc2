/* The command line's table of models other than rule tables (cli.h). */
#include "cli/cli.h"
#include "learner.h"

static const cli_model models[] = {
    {DCA_MODEL_FFNET, cmd_learn_train, cmd_learn_gradcheck, false},
    {DCA_MODEL_KURAMOTO, cmd_learn_train, cmd_learn_gradcheck, false},
    {DCA_MODEL_SI, cmd_slm_train, cmd_slm_gradcheck, false},
    {DCA_MODEL_POTTS, cmd_potts_train, cmd_potts_gradcheck, false},
    {DCA_MODEL_SEGMENT, cmd_segment_train, cmd_segment_gradcheck, false},
    {DCA_MODEL_MK, cmd_mk_train, cmd_mk_gradcheck, false},
};

const cli_model *cli_model_of(int kind)
{
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        if (models[i].kind == kind)
            return &models[i];
    return NULL;
}
