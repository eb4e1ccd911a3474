/* Perceptual hash (METHOD.md §5), bit-for-bit compatible with ImageHash 4.3.1 `phash(image)`
 * with its defaults (hash_size 8, highfreq_factor 4) on Pillow 9.4:
 *   grey (Pillow 'L') -> 32x32 antialiased Lanczos-3 resize in 22-bit fixed point ->
 *   unnormalised 2-D DCT-II -> top-left 8x8 block -> bit = value > median -> 64 bits, first bit
 *   most significant, printed as 16 lowercase hex digits. See docs/phash.md. */
#ifndef SERNET_PHASH_H
#define SERNET_PHASH_H

#include "sernet/common.h"

#define SN_PHASH_SIZE 32   /* side of the resized grey image */
#define SN_PHASH_BLOCK 8   /* side of the low-frequency block: 64 bits */

/* Hash of an 8-bit image, w x h pixels, c = 1 (grey, used as is) or 3 (RGB interleaved),
 * rows contiguous (stride w*c). Fails (SN_EINVAL) on w, h < 1 or another c. */
sn_status sn_phash_rgb8(const uint8_t *pix, int w, int h, int c, uint64_t *hash);

/* The steps, exposed for tests and for callers that need them. */

/* Pillow's convert('L') of RGB: (19595 R + 38470 G + 7471 B + 0x8000) >> 16; n pixels. */
void sn_phash_grey(const uint8_t *rgb, size_t n, uint8_t *grey);

/* Pillow's LANCZOS resize of a grey image (w x h -> ow x oh) in 22-bit fixed point:
 * horizontal pass into uint8 first (skipped when ow == w), then vertical (skipped when oh == h). */
sn_status sn_phash_resize_lanczos(const uint8_t *src, int w, int h, uint8_t *dst, int ow, int oh);

/* Hash of a 32x32 grey image: DCT-II, exact-zero snapping, median rule. */
uint64_t sn_phash_from_32x32(const uint8_t grey[SN_PHASH_SIZE * SN_PHASH_SIZE]);

/* 16 lowercase hex digits and a terminating NUL. */
void sn_phash_format(uint64_t hash, char out[17]);
/* Parse exactly 16 hex digits (either case); anything else is SN_EINVAL naming the text. */
sn_status sn_phash_parse(const char *text, uint64_t *hash);

/* Hamming distance. */
static inline int sn_phash_distance(uint64_t a, uint64_t b) { return __builtin_popcountll(a ^ b); }

#endif
