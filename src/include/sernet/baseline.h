/* Training-free baselines for the quality benchmark (docs/quality.md): maps computed without
 * any network, evaluated by the same code as SeRNet's maps (`sernet eval --baseline`), so that
 * a SeRNet figure counts as evidence only where it clearly beats them.
 *   sobel: the grey image (Rec. 601 luma), its Sobel gradient magnitude (3x3, replicated border)
 *          and a box x box mean of it with zero padding divided by box² (as the anomaly map's
 *          F21); image score = max of the map. It finds whatever has strong local structure.
 *   fixed: one map for every test image, the per-pixel mean of the maps of the good test
 *          images in a results file; image score = its max, the same for every image. It
 *          measures how much of a pixel figure comes from where defects tend to lie. */
#ifndef SERNET_BASELINE_H
#define SERNET_BASELINE_H

#include "sernet/common.h"

enum { SN_BASELINE_NONE = 0, SN_BASELINE_FIXED = 1, SN_BASELINE_SOBEL = 2 };

/* "fixed" / "sobel" -> SN_BASELINE_*; -1 for anything else. */
int sn_baseline_parse(const char *name);
const char *sn_baseline_name(int kind);

/* Sobel baseline of one CHW float image [3, s, s] (values in [0,1]): map [s*s], *score = max
 * (score may be NULL). */
sn_status sn_baseline_sobel(const float *chw, int s, int box, float *map, float *score);

#endif
