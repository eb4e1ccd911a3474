/* Private pieces shared by src/api/inspect.c and src/api/inspect_tile.c. */
#ifndef SN_API_INSPECT_INTERNAL_H
#define SN_API_INSPECT_INTERNAL_H

#include "sernet/inspect.h"

/* 1 when the model's configuration takes the image score from a second map
 * (score_msgms_scales / score_box_size), which tiled inspection does not support: a tiled
 * image's score is the stitched map's maximum. */
int sn_inspector_separate_score(const sn_inspector *in);

#endif
