/* Inspection of large images by tiling (include/sernet/inspect_tile.h): tiles scored one by one
 * through the public inspection API, maps stitched with sernet/tile.h. */
#include "sernet/inspect_tile.h"
#include "api/inspect_internal.h"
#include "sernet/model.h"
#include "sernet/image.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One tile's call, run on the calling thread or a helper thread. */
typedef struct {
    sn_inspector *in;
    sn_inspect_image im;
    sn_inspect_result r;
    sn_status status;
    char msg[1024]; /* the error message (messages are per thread) */
} tile_call;

static void *tile_run(void *p)
{
    tile_call *c = p;
    c->status = sn_inspect_pixels(c->in, &c->im, &c->r);
    if (c->status != SN_OK)
        snprintf(c->msg, sizeof c->msg, "%s", sn_err_msg());
    sn_err_clear();
    return NULL;
}

static sn_status tiled(sn_inspector *in, const sn_inspect_image *im, int overlap, const char *what,
                       sn_tile_result *res)
{
    sn_status status = SN_OK;
    const int S = sn_inspector_image_size(in);
    float *map = NULL, *tmap = NULL;
    uint8_t *mask = NULL, *tmask = NULL;
    tile_call *calls = NULL;
    pthread_t *th = NULL;
    sn_tile_grid g;
    if (!im)
        SN_FAIL(SN_EINVAL, "sn_inspect_tiled: no image (NULL)");
    if (sn_inspector_separate_score(in))
        SN_FAIL(SN_EINVAL, "%s: " SN_MODEL_TILE_SCORE_REFUSAL, what);
    const int bpp = sn_pixel_format_bytes(im->format);
    if (bpp == 0)
        SN_FAIL(SN_EINVAL, "%s: pixel format %d is not supported (expected SN_PIX_GREY, SN_PIX_RGB, "
                "SN_PIX_RGBA, SN_PIX_BGR or SN_PIX_BGRA)", what, (int)im->format);
    if (!im->data)
        SN_FAIL(SN_EINVAL, "%s: no pixel buffer (NULL)", what);
    if (im->width < 1 || im->height < 1 || im->width > SN_IMAGE_MAX_DIM || im->height > SN_IMAGE_MAX_DIM)
        SN_FAIL(SN_EINVAL, "%s: image of %d x %d pixels: width and height must be 1..%d", what,
                im->width, im->height, SN_IMAGE_MAX_DIM);
    const size_t stride = im->stride ? im->stride : (size_t)im->width * bpp;
    if (stride < (size_t)im->width * bpp)
        SN_FAIL(SN_EINVAL, "%s: row stride %zu bytes is shorter than a row of %d pixels", what, stride,
                im->width);
    res->width = im->width;
    res->height = im->height;
    if (overlap == SN_TILE_OVERLAP_DEFAULT)
        overlap = sn_tile_default_overlap(S);
    SN_TRY(sn_tile_grid_make(im->width, im->height, S, overlap, what, &g));
    const int n = sn_tile_count(&g);
    const size_t full = (size_t)im->width * im->height, plane = (size_t)S * S;
    res->tiles = n;
    res->nx = g.nx;
    res->ny = g.ny;
    res->tile = S;
    res->overlap = overlap;
    if ((res->map || res->repair_mask) && res->map_cap < full)
        SN_FAIL(SN_EINVAL, "%s: the map buffers hold %zu elements but the image is %d x %d (%zu)", what,
                res->map_cap, im->width, im->height, full);
    if (res->per_tile && res->per_tile_cap < n)
        SN_FAIL(SN_EINVAL, "%s: per_tile holds %d results but the image has %d tiles (%d x %d)", what,
                res->per_tile_cap, n, g.nx, g.ny);
    /* tiles at once: each call needs a worker, so more than max_workers would only wait */
    const int J = SN_MAX(1, SN_MIN(SN_MIN(SN_MIN(res->jobs, n), sn_inspector_max_workers(in)), 64));
    map = res->map;
    if (!map)
        SN_ALLOC(map, full, "stitched anomaly map");
    mask = res->repair_mask;
    if (!mask)
        SN_ALLOC(mask, full, "stitched repair mask");
    SN_ALLOC(tmap, plane * J, "tile anomaly maps");
    SN_ALLOC(tmask, plane * J, "tile repair masks");
    SN_CALLOC(calls, J, "tile calls");
    SN_CALLOC(th, J, "tile threads");
    memset(map, 0, full * sizeof *map);
    memset(mask, 0, full);
    float best = -INFINITY;
    int64_t nbr = -1;
    int dist = 0;
    /* rounds of J tiles scored at once, then stitched in raster order */
    for (int k0 = 0; k0 < n; k0 += J) {
        const int m = SN_MIN(J, n - k0);
        int started[64] = {0};
        for (int j = 0; j < m; j++) {
            int x0, y0;
            sn_tile_origin(&g, k0 + j, &x0, &y0);
            tile_call *c = &calls[j];
            memset(c, 0, sizeof *c);
            c->in = in;
            c->im = (sn_inspect_image){im->data + (size_t)y0 * stride + (size_t)x0 * bpp, S, S, stride,
                                       im->format};
            c->r.map = tmap + (size_t)j * plane;
            c->r.repair_mask = tmask + (size_t)j * plane;
            /* job 0 is this thread; a thread that cannot start is run here afterwards */
            if (j > 0)
                started[j] = pthread_create(&th[j], NULL, tile_run, c) == 0;
        }
        tile_run(&calls[0]);
        for (int j = 1; j < m; j++) {
            if (started[j])
                pthread_join(th[j], NULL);
            else
                tile_run(&calls[j]);
        }
        for (int j = 0; j < m; j++) {
            const int k = k0 + j;
            const tile_call *c = &calls[j];
            int x0, y0;
            sn_tile_origin(&g, k, &x0, &y0);
            if (c->status != SN_OK)
                SN_FAIL(c->status, "%s: tile %d (x %d, y %d): %s", what, k, x0, y0, c->msg);
            sn_tile_add_f32(&g, k, c->r.map, 1, map);
            sn_tile_or_u8(&g, k, c->r.repair_mask, mask);
            if (c->r.score > best || nbr < 0) { /* NaN never replaces a number */
                best = c->r.score;
                nbr = c->r.neighbor;
                dist = c->r.neighbor_distance;
            }
            if (res->per_tile)
                res->per_tile[k] = (sn_tile_score){x0, y0, c->r.score, c->r.neighbor,
                                                   c->r.neighbor_distance, c->r.repaired_pixels};
        }
    }
    sn_tile_mean_f32(&g, 1, map);
    /* the image score: the stitched map's maximum, as an untiled score is its map's maximum (a
     * NaN pixel makes it NaN, as sn_anomaly_map would) */
    float mx = map[0];
    size_t at = 0;
    int64_t rep = 0;
    for (size_t p = 0; p < full; p++) {
        if (isnan(map[p]) && !isnan(mx)) {
            mx = map[p];
            at = p;
        } else if (map[p] > mx) {
            mx = map[p];
            at = p;
        }
        rep += mask[p];
    }
    res->score = mx;
    res->max_x = (int)(at % (size_t)im->width);
    res->max_y = (int)(at / (size_t)im->width);
    res->neighbor = nbr;
    res->neighbor_distance = dist;
    res->repaired_pixels = rep;
done:
    if (map != res->map)
        sn_free(map);
    if (mask != res->repair_mask)
        sn_free(mask);
    sn_free(tmap);
    sn_free(tmask);
    sn_free(calls);
    sn_free(th);
    return status;
}

sn_status sn_inspect_tiled(sn_inspector *in, const sn_inspect_image *image, int overlap,
                           sn_tile_result *res)
{
    sn_err_clear();
    if (!in || !res)
        return SN_ERR(SN_EINVAL, "sn_inspect_tiled: %s is NULL", !in ? "the inspector" : "the result");
    return tiled(in, image, overlap, "image", res);
}

sn_status sn_inspect_tiled_file(sn_inspector *in, const char *path, int overlap, sn_tile_result *res)
{
    sn_status status = SN_OK;
    sn_image img = {0};
    sn_err_clear();
    if (!in || !res || !path)
        return SN_ERR(SN_EINVAL, "sn_inspect_tiled_file: %s is NULL",
                      !in ? "the inspector" : (!res ? "the result" : "the path"));
    SN_TRY(sn_image_read(path, &img)); /* the message names the file */
    sn_inspect_image im = {img.data, img.w, img.h, 0, (sn_pixel_format)img.c};
    status = tiled(in, &im, overlap, path, res);
done:
    sn_image_free(&img);
    return status;
}
