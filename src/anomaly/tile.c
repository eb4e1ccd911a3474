/* Tiling of large images: the grid, cutting tiles out and stitching tile maps back
 * (include/sernet/tile.h; docs/inference.md "Large images: tiling"). */
#include "sernet/tile.h"

#include <string.h>

int sn_tile_default_overlap(int tile)
{
    return tile / 4 / SN_TILE_MULTIPLE * SN_TILE_MULTIPLE;
}

/* Tiles along an axis of length len >= tile. */
static int axis_count(int len, int tile, int overlap)
{
    const int step = tile - overlap;
    return len <= tile ? 1 : 1 + (len - tile + step - 1) / step;
}

/* Origin of tile i of an axis: i * step, the last one at the edge. */
static int axis_origin(int len, int tile, int overlap, int i)
{
    return SN_MIN(i * (tile - overlap), len - tile);
}

sn_status sn_tile_grid_make(int width, int height, int tile, int overlap, const char *what,
                            sn_tile_grid *g)
{
    if (!what)
        what = "image";
    memset(g, 0, sizeof *g);
    if (tile < SN_TILE_MULTIPLE || tile % SN_TILE_MULTIPLE != 0)
        return SN_ERR(SN_EINVAL, "%s: tile size %d: must be a positive multiple of %d", what, tile,
                      SN_TILE_MULTIPLE);
    if (overlap < 0 || overlap % SN_TILE_MULTIPLE != 0)
        return SN_ERR(SN_EINVAL, "%s: tile overlap %d: must be 0 or a positive multiple of %d", what,
                      overlap, SN_TILE_MULTIPLE);
    if (overlap >= tile)
        return SN_ERR(SN_EINVAL, "%s: tile overlap %d: must be smaller than the tile size %d", what,
                      overlap, tile);
    if (width < tile || height < tile)
        return SN_ERR(SN_EINVAL, "%s: image of %d x %d pixels is smaller than a tile of %d x %d: tile "
                      "only images at least a tile wide and high (score this one without tiling: it "
                      "is then resized to the model's size)", what, width, height, tile, tile);
    g->width = width;
    g->height = height;
    g->tile = tile;
    g->overlap = overlap;
    g->nx = axis_count(width, tile, overlap);
    g->ny = axis_count(height, tile, overlap);
    return SN_OK;
}

void sn_tile_origin(const sn_tile_grid *g, int k, int *x0, int *y0)
{
    SN_ASSERT(k >= 0 && k < sn_tile_count(g));
    *x0 = axis_origin(g->width, g->tile, g->overlap, k % g->nx);
    *y0 = axis_origin(g->height, g->tile, g->overlap, k / g->nx);
}

void sn_tile_add_f32(const sn_tile_grid *g, int k, const float *tile, int c, float *sum)
{
    int x0, y0;
    sn_tile_origin(g, k, &x0, &y0);
    const size_t row = (size_t)g->tile * c;
    for (int y = 0; y < g->tile; y++) {
        float *o = sum + ((size_t)(y0 + y) * g->width + x0) * c;
        const float *t = tile + (size_t)y * row;
        for (size_t i = 0; i < row; i++)
            o[i] += t[i];
    }
}

/* Tiles of an axis covering coordinate p: origins o with o <= p < o + tile. */
static int axis_cover(int len, int tile, int overlap, int n, int p)
{
    int c = 0;
    for (int i = 0; i < n; i++) {
        int o = axis_origin(len, tile, overlap, i);
        if (o > p)
            break;
        c += p < o + tile;
    }
    return c;
}

void sn_tile_mean_f32(const sn_tile_grid *g, int c, float *sum)
{
    const int T = g->tile, O = g->overlap;
    for (int y = 0; y < g->height; y++) {
        const int cy = axis_cover(g->height, T, O, g->ny, y);
        float *row = sum + (size_t)y * g->width * c;
        /* tiles [lo, hi) cover x: origins and ends both increase with the index */
        int lo = 0, hi = 0;
        for (int x = 0; x < g->width; x++) {
            while (hi < g->nx && axis_origin(g->width, T, O, hi) <= x)
                hi++;
            while (lo < hi && axis_origin(g->width, T, O, lo) + T <= x)
                lo++;
            const float n = (float)((hi - lo) * cy);
            for (int k = 0; k < c; k++)
                row[(size_t)x * c + k] /= n;
        }
    }
}

void sn_tile_or_u8(const sn_tile_grid *g, int k, const uint8_t *tile, uint8_t *mask)
{
    int x0, y0;
    sn_tile_origin(g, k, &x0, &y0);
    for (int y = 0; y < g->tile; y++) {
        uint8_t *o = mask + (size_t)(y0 + y) * g->width + x0;
        const uint8_t *t = tile + (size_t)y * g->tile;
        for (int x = 0; x < g->tile; x++)
            o[x] |= t[x];
    }
}

void sn_tile_extract_u8(const sn_tile_grid *g, int k, const uint8_t *image, int bpp, size_t stride,
                        uint8_t *tile)
{
    int x0, y0;
    sn_tile_origin(g, k, &x0, &y0);
    if (stride == 0)
        stride = (size_t)g->width * bpp;
    const size_t row = (size_t)g->tile * bpp;
    for (int y = 0; y < g->tile; y++)
        memcpy(tile + (size_t)y * row, image + (size_t)(y0 + y) * stride + (size_t)x0 * bpp, row);
}
