/* Tiled inference of one large image (include/sernet/infer_tile.h). */
#include "sernet/infer_tile.h"
#include "sernet/hashindex.h"

#include <math.h>
#include <omp.h>
#include <string.h>

sn_status sn_infer_tiled(sn_infer_worker *w, const sn_tile_grid *g, int batch, const uint8_t *image,
                         const sn_infer_tile_source *src, const sn_infer_out *out, int64_t *neighbor,
                         int32_t *distance, sn_infer_times *t, sn_infer_tile_times *tt)
{
    sn_status status = SN_OK;
    const int S = g->tile, n = sn_tile_count(g);
    const size_t plane = (size_t)S * S, full = (size_t)g->width * g->height;
    uint8_t *tiles = NULL, *sim = NULL, *rep = NULL, *rec = NULL;
    float *maps = NULL, *seg = NULL, *scores = NULL, *recf = NULL, *rect = NULL;
    int64_t *nbr = NULL, *repaired = NULL;
    int *dist = NULL;
    SN_ASSERT(batch >= 1 && batch <= 64 && g->width == g->height);
    SN_ALLOC(tiles, batch * plane * 3, "tiles");
    SN_ALLOC(sim, batch * plane * 3, "similar training tiles");
    SN_ALLOC(rep, batch * plane, "tile repair masks");
    SN_ALLOC(rec, batch * plane * 3, "tile reconstructions");
    SN_ALLOC(maps, batch * plane, "tile maps");
    SN_ALLOC(seg, batch * plane, "tile segmentation masks");
    SN_ALLOC(scores, batch, "tile scores");
    SN_ALLOC(recf, full * 3, "stitched reconstruction");
    SN_ALLOC(rect, plane * 3, "tile reconstruction");
    SN_ALLOC(nbr, batch, "tile neighbours");
    SN_ALLOC(repaired, batch, "tile repaired pixels");
    SN_ALLOC(dist, batch, "tile distances");
    memset(out->maps, 0, full * sizeof *out->maps);
    memset(out->seg, 0, full * sizeof *out->seg);
    memset(out->repair_mask, 0, full);
    memset(recf, 0, full * 3 * sizeof *recf);
    float best = -INFINITY;
    int64_t best_nbr = -1;
    int best_dist = 0;
    for (int k0 = 0; k0 < n; k0 += batch) {
        const int m = SN_MIN(batch, n - k0);
        for (int i = 0; i < m; i++)
            sn_tile_extract_u8(g, k0 + i, image, 3, 0, tiles + (size_t)i * plane * 3);
        double t0 = omp_get_wtime();
        SN_TRY(sn_hashindex_nearest_images(src->hashes, src->n_hashes, tiles, m, S, nbr, dist));
        double t1 = omp_get_wtime();
        SN_TRY(sn_dataset_read(src->train, SN_SPLIT_TRAIN, nbr, m, NULL, NULL, sim));
        if (tt) {
            tt->search += t1 - t0;
            tt->read += omp_get_wtime() - t1;
        }
        sn_infer_out o = {scores, maps, seg, rep, rec, repaired};
        SN_TRY(sn_infer_batch(w, m, tiles, sim, &o, t));
        for (int i = 0; i < m; i++) {
            const int k = k0 + i;
            sn_tile_add_f32(g, k, maps + (size_t)i * plane, 1, out->maps);
            sn_tile_add_f32(g, k, seg + (size_t)i * plane, 1, out->seg);
            sn_tile_or_u8(g, k, rep + (size_t)i * plane, out->repair_mask);
            for (size_t p = 0; p < plane * 3; p++)
                rect[p] = rec[(size_t)i * plane * 3 + p];
            sn_tile_add_f32(g, k, rect, 3, recf);
            if (scores[i] > best || best_nbr < 0) {
                best = scores[i];
                best_nbr = nbr[i];
                best_dist = dist[i];
            }
        }
    }
    sn_tile_mean_f32(g, 1, out->maps);
    sn_tile_mean_f32(g, 1, out->seg);
    sn_tile_mean_f32(g, 3, recf);
    float mx = out->maps[0];
    int64_t nrep = 0;
    for (size_t p = 0; p < full; p++) {
        if (out->maps[p] > mx || (isnan(out->maps[p]) && !isnan(mx)))
            mx = out->maps[p];
        nrep += out->repair_mask[p];
    }
    for (size_t p = 0; p < full * 3; p++)
        out->recon[p] = (uint8_t)lrintf(fminf(fmaxf(recf[p], 0.0f), 255.0f));
    out->scores[0] = mx;
    out->repaired[0] = nrep;
    *neighbor = best_nbr;
    *distance = best_dist;
done:
    sn_free(tiles);
    sn_free(sim);
    sn_free(rep);
    sn_free(rec);
    sn_free(maps);
    sn_free(seg);
    sn_free(scores);
    sn_free(recf);
    sn_free(rect);
    sn_free(nbr);
    sn_free(repaired);
    sn_free(dist);
    return status;
}
