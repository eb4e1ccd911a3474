/* The one preprocessing of an image before it enters a dataset file or the nets: convert an
 * 8-bit image of any size, layout and row stride to 3-channel RGB and resize it to S x S with the
 * antialiased triangle filter of sernet/resize.h (rounded to 8 bits). `sernet ingest` stores
 * exactly these bytes, and the inspection API (sernet/inspect.h) scores exactly these bytes, so
 * an image scored from a file or a camera buffer gets the score it would get inside a dataset.
 *
 * Channel rules (the same as the image decoder's, docs/formats.md "Image decoding"): grey is
 * copied into R, G and B; an alpha channel is dropped; BGR orders are swapped to RGB. */
#ifndef SERNET_PREPROCESS_H
#define SERNET_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "sernet/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pixel layouts of 8-bit interleaved images. The value is the number of bytes per pixel for
 * GREY, RGB and RGBA, so a decoded sn_image's channel count c (1 or 3) can be passed as is. */
typedef enum {
    SN_PIX_GREY = 1, /* one byte per pixel */
    SN_PIX_RGB = 3,  /* R, G, B */
    SN_PIX_RGBA = 4, /* R, G, B, alpha (ignored) */
    SN_PIX_BGR = 103,  /* B, G, R (OpenCV's default order) */
    SN_PIX_BGRA = 104  /* B, G, R, alpha (ignored) */
} sn_pixel_format;

/* Bytes per pixel of a format, 0 for an unknown value. */
int sn_pixel_format_bytes(sn_pixel_format fmt);
/* "grey", "RGB", ... or "unknown". */
const char *sn_pixel_format_name(sn_pixel_format fmt);

/* pixels: h rows of w pixels in format fmt, row r starting at pixels + r * stride (stride in
 * bytes, >= w * bytes per pixel; 0 means exactly w * bytes per pixel). out: S x S x 3 RGB (HWC).
 * Errors (SN_EINVAL, the message says what was wrong): NULL pointers, w or h outside
 * 1..SN_IMAGE_MAX_DIM, an unknown format, a stride shorter than a row, S < 1. */
sn_status sn_preprocess_rgb8(const uint8_t *pixels, int w, int h, sn_pixel_format fmt, size_t stride,
                             int S, uint8_t *out);

#ifdef __cplusplus
}
#endif

#endif
