/* One inference batch: seg -> repair -> rec -> map (METHOD.md §6). */
#include "sernet/infer.h"
#include "infer/model_internal.h"
#include "sernet/register.h"
#include "sernet/repair.h"
#include "sernet/tensor.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct sn_infer_worker {
    const sn_model *model;
    int threads;
    sn_unet *net[2];
    sn_tensor x, is; /* input images, similar training images: [n, 3, S, S] */
    float *map;      /* [cap, S, S] when the caller wants no maps */
    int cap;
};

static sn_status clone_net(const sn_unet *src, sn_unet **dst, const sn_config *cfg, int width)
{
    sn_status status = SN_OK;
    sn_unet *s = (sn_unet *)src; /* the accessors are not const; src is only read */
    SN_TRY(sn_unet_create(dst, sn_unet_kind(src), width, cfg->units_per_block, cfg->bn_eps,
                          cfg->bn_momentum));
    memcpy(sn_unet_params(*dst), sn_unet_params(s), sn_unet_param_count(s) * sizeof(float));
    memcpy(sn_unet_buffers(*dst), sn_unet_buffers(s), sn_unet_buffer_count(s) * sizeof(float));
    SN_TRY(sn_unet_set_precision(*dst, (sn_precision)cfg->precision));
done:
    return status;
}

sn_status sn_infer_worker_create(const sn_model *m, int threads, sn_infer_worker **out)
{
    sn_status status = SN_OK;
    sn_infer_worker *w = calloc(1, sizeof *w);
    *out = NULL;
    if (!w)
        SN_FAIL(SN_ENOMEM, "inference worker");
    w->model = m;
    w->threads = threads;
    SN_TRY(clone_net(m->net[SN_NET_SEG], &w->net[SN_NET_SEG], &m->cfg, m->cfg.seg_width));
    SN_TRY(clone_net(m->net[SN_NET_REC], &w->net[SN_NET_REC], &m->cfg, m->cfg.rec_width));
    *out = w;
    w = NULL;
done:
    sn_infer_worker_free(w);
    return status;
}

void sn_infer_worker_free(sn_infer_worker *w)
{
    if (!w)
        return;
    sn_unet_free(w->net[0]);
    sn_unet_free(w->net[1]);
    sn_tensor_free(&w->x);
    sn_tensor_free(&w->is);
    sn_free(w->map);
    free(w);
}

static void chw_to_hwc_u8(const float *chw, int s, uint8_t *hwc)
{
    const size_t plane = (size_t)s * s;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) {
            float v = chw[c * plane + p] * 255.0f;
            v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
            hwc[p * 3 + c] = (uint8_t)lrintf(v);
        }
}

/* repair_register = rigid: where the repair fired, paste from the similar training image rotated
 * and shifted onto the test image instead of the image as found (sernet/register.h). */
static sn_status register_repaired(sn_infer_worker *w, int n, const uint8_t *similar,
                                   const uint8_t *mask)
{
    sn_status status = SN_OK;
    const int s = w->model->s;
    const size_t plane = (size_t)s * s;
    float *nbr = NULL, *moved = NULL;
    for (int b = 0; b < n; b++) {
        const uint8_t *mb = mask + (size_t)b * plane;
        if (!memchr(mb, 1, plane))
            continue;
        if (!nbr) {
            SN_ALLOC(nbr, 3 * plane, "registration");
            SN_ALLOC(moved, 3 * plane, "registration");
        }
        const float *x = w->x.data + (size_t)b * 3 * plane;
        sn_rigid t;
        sn_tensor_from_u8_hwc(similar + (size_t)b * 3 * plane, 1, s, nbr);
        SN_TRY(sn_register_rigid(x, nbr, s, &t));
        sn_register_warp(nbr, s, &t, moved);
        SN_TRY(sn_register_paste(x, moved, mb, s, w->is.data + (size_t)b * 3 * plane));
    }
done:
    sn_free(nbr);
    sn_free(moved);
    return status;
}

static sn_status run(sn_infer_worker *w, int n, const uint8_t *images, const uint8_t *similar,
                     const sn_infer_out *out, sn_infer_times *t)
{
    sn_status status = SN_OK;
    const sn_model *m = w->model;
    const int s = m->s;
    const size_t plane = (size_t)s * s;
    const sn_tensor *mp = NULL, *rec = NULL;
    uint8_t *mask = NULL;
    double t0 = omp_get_wtime(), t1;
    SN_TRY(sn_tensor_ensure(&w->x, n, 3, s, s, "inference images"));
    SN_TRY(sn_tensor_ensure(&w->is, n, 3, s, s, "similar training images"));
    sn_tensor_from_u8_hwc(images, n, s, w->x.data);
    sn_tensor_from_u8_hwc(similar, n, s, w->is.data);
    SN_TRY(sn_unet_forward(w->net[SN_NET_SEG], &w->x, 0, NULL, &mp));
    if (out->seg)
        memcpy(out->seg, mp->data, (size_t)n * plane * sizeof(float));
    t1 = omp_get_wtime();
    if (t)
        t->seg += t1 - t0;
    t0 = t1;
    if (!(mask = out->repair_mask))
        SN_ALLOC(mask, (size_t)n * plane, "repair masks");
    /* the repaired image goes into w->is: w->x keeps the input for the map */
    SN_TRY(sn_repair_batch(n, mp->data, w->x.data, w->is.data, 3, s, s, m->tau, m->min_area,
                           w->is.data, mask, out->repaired, NULL));
    if (m->cfg.repair_register == SN_REGISTER_RIGID)
        SN_TRY(register_repaired(w, n, similar, mask));
    t1 = omp_get_wtime();
    if (t)
        t->repair += t1 - t0;
    t0 = t1;
    SN_TRY(sn_unet_forward(w->net[SN_NET_REC], &w->is, 0, NULL, &rec));
    if (out->recon)
        for (int i = 0; i < n; i++)
            chw_to_hwc_u8(rec->data + (size_t)i * 3 * plane, s, out->recon + (size_t)i * 3 * plane);
    t1 = omp_get_wtime();
    if (t)
        t->rec += t1 - t0;
    t0 = t1;
    float *maps = out->maps;
    if (!maps) {
        if (w->cap < n) {
            sn_free(w->map);
            w->cap = 0;
            SN_ALLOC(w->map, (size_t)n * plane, "anomaly maps");
            w->cap = n;
        }
        maps = w->map;
    }
    SN_TRY(sn_map_compute_batch(&m->map, n, s, s, w->x.data, rec->data, maps, out->scores));
    if (t)
        t->map += omp_get_wtime() - t0;
done:
    if (mask != out->repair_mask)
        sn_free(mask);
    return status;
}

sn_status sn_infer_batch(sn_infer_worker *w, int n, const uint8_t *images, const uint8_t *similar,
                         const sn_infer_out *out, sn_infer_times *t)
{
    if (n <= 0)
        return SN_OK;
    SN_ASSERT(out && out->scores && images && similar);
    /* the thread count is a per-thread OpenMP setting: set it for this call, then restore */
    int saved = omp_get_max_threads();
    if (w->threads > 0)
        omp_set_num_threads(w->threads);
    sn_status status = run(w, n, images, similar, out, t);
    if (w->threads > 0)
        omp_set_num_threads(saved);
    return status;
}
