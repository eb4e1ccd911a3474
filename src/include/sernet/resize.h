/* Image resizing with an antialiased separable triangle (bilinear) filter: each output pixel
 * averages the input under a tent whose half-width is max(in/out, 1) input pixels, centred on
 * the output pixel's centre mapped into the input ((o + 0.5) * in/out), weights normalised to sum
 * 1 (the same construction as Pillow's BILINEAR resampling with reducing_gap off). Horizontal pass
 * first, then vertical, in single precision. Deterministic and single-threaded. */
#ifndef SERNET_RESIZE_H
#define SERNET_RESIZE_H

#include <stdint.h>

#include "sernet/common.h"

/* Interleaved (HWC) float image of c channels, w x h -> ow x oh. */
sn_status sn_resize_f32(const float *in, int w, int h, int c, float *out, int ow, int oh);
/* Same for 8-bit pixels; results rounded to nearest and clamped to [0, 255]. */
sn_status sn_resize_u8(const uint8_t *in, int w, int h, int c, uint8_t *out, int ow, int oh);
/* Plain reference: every output sample computed directly as a 2-D weighted sum (slow; tests). */
void sn_resize_f32_ref(const float *in, int w, int h, int c, float *out, int ow, int oh);

#endif
