/* 8-connected component labelling of binary masks: one implementation shared by PPA mask
 * filtering, the repair module and the evaluation's ground-truth regions. */
#ifndef SERNET_COMPONENTS_H
#define SERNET_COMPONENTS_H

#include "sernet/common.h"

/* Label the non-zero pixels of mask (h x w, row-major) into 8-connected components.
 * labels[i] = 0 for background, 1..n for components numbered in raster order of their first
 * pixel. areas (optional, may be NULL) receives a malloc'd array of n+1 entries, areas[0] = 0;
 * free with sn_free. Returns the number of components in *count. */
sn_status sn_components_label(const uint8_t *mask, int h, int w, int32_t *labels, int *count,
                              int64_t **areas);

/* Remove (set to 0) every 8-connected region of mask smaller than min_area pixels, in place.
 * *kept (optional) receives the number of regions kept. */
sn_status sn_components_filter(uint8_t *mask, int h, int w, int64_t min_area, int *kept);

/* Keep only the largest 8-connected region (ties: the first in raster order). */
sn_status sn_components_keep_largest(uint8_t *mask, int h, int w);

#endif
