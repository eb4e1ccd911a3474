/* Inspection of images larger than the model by tiling (docs/inference.md "Large images:
 * tiling"; the grid and the stitching are those of sernet/tile.h).
 *
 * An image of W x H >= S x S pixels is NOT resized: it is cut at its native resolution into
 * S x S tiles (S = sn_inspector_image_size) overlapping by at least `overlap` pixels, the last
 * row and column of tiles aligned to the image's edges. Each tile is scored exactly as
 * sn_inspect_pixels scores an S x S image (its own perceptual hash and most similar training
 * image, repair, reconstruction, anomaly map), so a tile's numbers are bit-identical to scoring
 * that tile cut out on its own. Tiles run one after the other on the calling thread, or
 * sn_tile_result.jobs at once on helper threads (each needs an inspector worker). The tile maps
 * are stitched in raster order into one W x H map (overlapping pixels averaged); the image score
 * is the maximum of the stitched map. Thread-safety, errors and memory as in sernet/inspect.h. */
#ifndef SERNET_INSPECT_TILE_H
#define SERNET_INSPECT_TILE_H

#include "sernet/inspect.h"
#include "sernet/tile.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tile's own result. */
typedef struct {
    int x, y;                /* top-left pixel of the tile in the image */
    float score;             /* maximum of the tile's own map (before stitching) */
    int64_t neighbor;        /* its most similar training image */
    int neighbor_distance;   /* Hamming distance of the two hashes */
    int64_t repaired_pixels; /* pixels of the tile the repair replaced */
} sn_tile_score;

typedef struct {
    /* always set on success */
    float score;             /* maximum of the stitched map */
    int max_x, max_y;        /* where it is (first in raster order) */
    int64_t neighbor;        /* neighbour and distance of the tile with the highest own score */
    int neighbor_distance;   /*   (the first such tile in raster order) */
    int64_t repaired_pixels; /* image pixels that the repair replaced in at least one tile */
    int width, height;       /* the image's size (set even when a buffer is too small) */
    int tiles, nx, ny;       /* tiles in all, per row, per column (set with width and height) */
    int tile, overlap;       /* tile side (= S) and the least overlap used */
    /* optional outputs (NULL when not wanted); capacities in elements */
    float *map;              /* stitched anomaly map, width x height, row-major */
    uint8_t *repair_mask;    /* union of the tiles' repair masks (0/1), width x height */
    size_t map_cap;          /* elements map and repair_mask can hold: must be >= width x height,
                                else SN_EINVAL before any inference (width, height set) */
    sn_tile_score *per_tile; /* per-tile results in raster order (k = row * nx + column) */
    int per_tile_cap;        /* must be >= tiles when per_tile is given, else SN_EINVAL */
    /* input: tiles scored at once, each by its own thread and inspector worker (0 or 1: one
     * after the other on the calling thread; capped by the tiles and the inspector's
     * max_workers). The results do not depend on it: tiles are stitched in raster order. */
    int jobs;
} sn_tile_result;

/* Score `image` (any size >= S x S, any sn_inspect_image layout) by tiling. overlap: the least
 * overlap of neighbouring tiles in pixels, a multiple of 16 below S, or SN_TILE_OVERLAP_DEFAULT
 * (sernet/tile.h: S / 4 rounded down to a multiple of 16). Errors (SN_EINVAL,
 * nothing scored): overlap not a multiple of 16 or >= S, the image smaller than S x S, buffers
 * too small; then those of sn_inspect_pixels. */
sn_status sn_inspect_tiled(sn_inspector *in, const sn_inspect_image *image, int overlap,
                           sn_tile_result *res);

/* Decode a PNG, JPEG or BMP file and score it as sn_inspect_tiled; messages name the file. */
sn_status sn_inspect_tiled_file(sn_inspector *in, const char *path, int overlap, sn_tile_result *res);

#ifdef __cplusplus
}
#endif

#endif
