/* The repair module (METHOD.md §4, paper Algorithm 1):
 *   1. B = Mp > tau (strictly greater);
 *   2. remove the 8-connected regions of B with fewer than min_area pixels
 *      (sn_components_filter, the one labelling shared with PPA and the evaluation);
 *   3. Ir = B * Is + (1 - B) * Ia.
 * Layout: one image is float C x H x W planes (channel-major, each plane H x W row-major), as the
 * networks produce them; a batch is N x C x H x W, contiguous. The predicted mask Mp is 1 x H x W
 * (H x W) per image. See docs/phash.md. */
#ifndef SERNET_REPAIR_H
#define SERNET_REPAIR_H

#include "sernet/common.h"

/* The area threshold in pixels for `large_area` given as a fraction of h*w (config key
 * large_area): the smallest integer >= fraction*h*w, so that a region is kept exactly when its
 * area is >= fraction*h*w (a relative 1e-12 slack absorbs the rounding of the product). */
int64_t sn_repair_min_area(double fraction, int h, int w);

/* Steps 1-2: mask[h*w] = 1 where Mp > tau and the pixel's region has >= min_area pixels, else 0.
 * *pixels (optional) = number of ones. tau must be in [0, 1] (a negative value, the
 * configuration's `auto`, is an error: calibrate first); NaN in Mp counts as not anomalous. */
sn_status sn_repair_mask(const float *mp, int h, int w, double tau, int64_t min_area, uint8_t *mask,
                         int64_t *pixels);

/* Step 3 on C x H x W planes: ir = mask ? is : ia, per channel. ir may be the same array as ia. */
void sn_repair_blend(const float *ia, const float *is, const uint8_t *mask, int c, int h, int w,
                     float *ir);

/* All three steps for a batch of n images (N x C x H x W; mp N x H x W). mask (optional, N x H x W)
 * receives the filtered masks; repaired (optional, n entries) the repaired pixel count per image.
 * Returns the total repaired pixel count in *total (optional). ir may alias ia. */
sn_status sn_repair_batch(int n, const float *mp, const float *ia, const float *is, int c, int h,
                          int w, double tau, int64_t min_area, float *ir, uint8_t *mask,
                          int64_t *repaired, int64_t *total);

/* 1 when a repair of `repaired` pixels replaced more than half of an image of `area` pixels: its
 * anomaly map then compares the image with a reconstruction of another one (a training image's
 * pixels). infer and score count such images and warn. */
int sn_repair_is_most(int64_t repaired, int64_t area);

/* The explanation and advice those warnings end with (one sentence pair, no newline). */
const char *sn_repair_most_advice(void);

#endif
