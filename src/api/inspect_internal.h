/* Private pieces shared by src/api/inspect.c and src/api/inspect_tile.c. */
#ifndef SN_API_INSPECT_INTERNAL_H
#define SN_API_INSPECT_INTERNAL_H

#include "sernet/inspect.h"

/* sn_model_separate_score of the inspector's model (sernet/model.h). */
int sn_inspector_separate_score(const sn_inspector *in);

#endif
