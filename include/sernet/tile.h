/* Tiling of images larger than a model's input (docs/inference.md "Large images: tiling"):
 * an image of W x H pixels at its native resolution is covered by square tiles of T x T pixels
 * that overlap their neighbours by at least `overlap` pixels; each tile is scored on its own and
 * the per-tile maps are stitched back into one W x H map, overlapping pixels averaged.
 *
 * Grid (per axis, the same rule for x and y): step = T - overlap; a length L >= T gets
 *   n = 1 + ceil((L - T) / step) tiles at origins min(i * step, L - T), i = 0 .. n-1,
 * so the first tile starts at 0, the last one ends exactly at the edge (L - T: it may overlap its
 * neighbour by more than `overlap`, never by less) and no tile reaches outside the image: no
 * padding, every pixel covered by real pixels. Tiles are numbered in raster order: k = row * nx +
 * column (rows of tiles top to bottom, each left to right).
 *
 * Stitching: sum[p] accumulates the tile values at image pixel p in raster tile order in single
 * precision, then mean[p] = sum[p] / count[p], count[p] = tiles covering p (= count_x(x) *
 * count_y(y), never 0). A tiled result can therefore be reproduced exactly from the tiles scored
 * one by one (tests/test_inspect_tile.c does). */
#ifndef SERNET_TILE_H
#define SERNET_TILE_H

#include <stddef.h>
#include <stdint.h>

#include "sernet/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tile sides and overlaps are multiples of this (the nets pool 4 times). */
#define SN_TILE_MULTIPLE 16

typedef struct {
    int width, height; /* the image */
    int tile, overlap; /* tile side T and the least overlap */
    int nx, ny;        /* tiles per row, per column */
} sn_tile_grid;

/* Where an overlap is asked for: this value means sn_tile_default_overlap(T). */
#define SN_TILE_OVERLAP_DEFAULT (-1)

/* The default overlap for tile side T: T / 4 rounded down to a multiple of 16 (64 for T = 256,
 * 0 for T < 64). */
int sn_tile_default_overlap(int tile);

/* Plan the tiles of a width x height image. Errors (SN_EINVAL; `what` names the image or file in
 * the message): tile not a positive multiple of 16; overlap negative, not a multiple of 16, or
 * >= tile; width or height smaller than the tile (the message says what to do). */
sn_status sn_tile_grid_make(int width, int height, int tile, int overlap, const char *what,
                            sn_tile_grid *g);

static inline int sn_tile_count(const sn_tile_grid *g) { return g->nx * g->ny; }

/* Top-left pixel of tile k (0 <= k < sn_tile_count). */
void sn_tile_origin(const sn_tile_grid *g, int k, int *x0, int *y0);

/* Add tile k's values (T x T x c floats, row-major, channels interleaved) into sum (width x height
 * x c floats, zeroed by the caller before the first tile). */
void sn_tile_add_f32(const sn_tile_grid *g, int k, const float *tile, int c, float *sum);

/* Turn the sum of all tiles into their mean: sum[p] /= tiles covering p (in place, c channels). */
void sn_tile_mean_f32(const sn_tile_grid *g, int c, float *sum);

/* OR tile k's 0/1 mask (T x T bytes) into mask (width x height bytes, zeroed by the caller). */
void sn_tile_or_u8(const sn_tile_grid *g, int k, const uint8_t *tile, uint8_t *mask);

/* Copy tile k of an interleaved 8-bit image (bpp bytes per pixel, row stride in bytes, 0 = width x
 * bpp) into tile (T x T x bpp bytes, packed). */
void sn_tile_extract_u8(const sn_tile_grid *g, int k, const uint8_t *image, int bpp, size_t stride,
                        uint8_t *tile);

#ifdef __cplusplus
}
#endif

#endif
