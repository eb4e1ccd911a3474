/* Tiled inference of one large image for `sernet infer --tile` (docs/inference.md "Large
 * images: tiling"): the image (D x D, as stored in a dataset file ingested at a size D larger than
 * the model's S) is cut into S x S tiles with the grid of sernet/tile.h; each tile gets its own
 * most similar training image (perceptual hash searched in the training index of a dataset at S)
 * and goes through sn_infer_batch, `batch` tiles per call in raster order (so the numbers depend
 * on the batch size as untiled inference does, never on the number of ranks); the tiles' outputs
 * are stitched back to D x D:
 *   map, seg         mean over the tiles covering a pixel (sernet/tile.h)
 *   recon            mean of the tiles' 8-bit values, rounded to nearest
 *   repair mask      union (1 where any tile's repair replaced the pixel)
 *   score            maximum of the stitched map
 *   neighbour, dist  those of the tile with the highest own score (the first such)
 *   repaired         pixels of the union mask */
#ifndef SERNET_INFER_TILE_H
#define SERNET_INFER_TILE_H

#include "sernet/dataset.h"
#include "sernet/infer.h"
#include "sernet/tile.h"

/* Where the tiles' similar training images come from: the hash index and the training split of
 * a dataset whose images are S x S. */
typedef struct {
    const uint64_t *hashes;
    int64_t n_hashes;
    sn_dataset *train;
} sn_infer_tile_source;

/* Stage seconds added by sn_infer_tiled (the nets' stages go to sn_infer_times). */
typedef struct {
    double read, search;
} sn_infer_tile_times;

/* image: uint8 [D, D, 3] with D = g->width = g->height; g->tile = the model's S. out: one image's
 * outputs at D x D (scores[0], maps [D, D], seg [D, D], repair_mask [D, D], recon [D, D, 3],
 * repaired[0]; all required). batch: tiles per engine call (1..64). Not collective. */
sn_status sn_infer_tiled(sn_infer_worker *w, const sn_tile_grid *g, int batch, const uint8_t *image,
                         const sn_infer_tile_source *src, const sn_infer_out *out, int64_t *neighbor,
                         int32_t *distance, sn_infer_times *t, sn_infer_tile_times *tt);

#endif
