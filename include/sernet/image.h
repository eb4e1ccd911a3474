/* Image files: decoding PNG (libpng) and JPEG (libjpeg-turbo) into 8-bit interleaved pixels,
 * and writing PNG. The format is detected from the file's signature, never from its name.
 *
 * Channel rules (see docs/formats.md, "Image decoding"):
 *   PNG grey, grey+alpha            -> c = 1 (alpha dropped)
 *   PNG RGB, RGBA, palette          -> c = 3 (alpha and tRNS dropped, palette expanded; a palette
 *                                      whose entries are all grey still gives c = 3)
 *   PNG bit depths 1, 2, 4          -> expanded to 0..255 (v * 255 / (2^d - 1), exact)
 *   PNG bit depth 16                -> 8 bit by rounding to nearest: (v + 128) / 257, i.e. round(v * 255 / 65535)
 *   PNG interlaced (Adam7)          -> de-interlaced
 *   JPEG greyscale                  -> c = 1;  JPEG YCbCr/RGB -> c = 3;  JPEG CMYK/YCCK -> error
 *   BMP (uncompressed 8/24/32 bit; found in real data sets under .png names): 8-bit with an
 *                                      all-grey palette -> c = 1, otherwise c = 3
 * Gamma, colour profiles and background chunks are ignored (pixels are taken as stored).
 * A libjpeg warning (e.g. premature end of data in a truncated file) is treated as an error. */
#ifndef SERNET_IMAGE_H
#define SERNET_IMAGE_H

#include <stdint.h>

#include "sernet/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* c = 1 (grey) or 3 (RGB); interleaved HWC, 8-bit, row-major; data from sn_alloc. */
typedef struct {
    int w, h, c;
    uint8_t *data;
} sn_image;

/* Largest accepted width or height (protects against absurd headers). */
#define SN_IMAGE_MAX_DIM 32768

/* Decode a PNG, JPEG or BMP file. On failure img is left empty ({0}) and the error names the file. */
sn_status sn_image_read(const char *path, sn_image *img);
/* Free the pixels and reset to {0}; safe on an empty image. */
void sn_image_free(sn_image *img);
/* Write an 8-bit PNG (c = 1 grey, c = 3 RGB) to a temporary name next to path, then rename. */
sn_status sn_image_write_png(const char *path, const sn_image *img);

#ifdef __cplusplus
}
#endif

#endif
