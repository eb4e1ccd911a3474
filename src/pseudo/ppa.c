/* Parameters, scratch buffers, and the PPA generator of METHOD.md §3.2. */
#include "sernet/pseudo.h"
#include "sernet/components.h"
#include "pseudo/pseudo_internal.h"

#include <math.h>
#include <string.h>


void sn_pseudo_params_from_config(sn_pseudo_params *p, const sn_config *cfg)
{
    p->size = cfg->image_size;
    p->p_anomaly = cfg->p_anomaly;
    p->large_area = cfg->large_area;
    p->small_area = cfg->small_area;
    p->beta_max = cfg->beta_max;
    p->dpa_strength_min = cfg->dpa_strength_min;
    p->perlin_scale_max = cfg->perlin_scale_max;
    p->perlin_threshold = cfg->perlin_threshold;
    p->ppa_max_tries = cfg->ppa_max_tries;
}

sn_status sn_pseudo_params_check(const sn_pseudo_params *p)
{
    if (p->size < 8 || p->size % 2 != 0 || p->size > 16384)
        return SN_ERR(SN_EINVAL, "pseudo-anomalies: image size %d: must be even and in [8, 16384] "
                      "(PPA tiles four equal quadrants)", p->size);
    if (!(p->p_anomaly >= 0 && p->p_anomaly <= 1))
        return SN_ERR(SN_EINVAL, "pseudo.p_anomaly = %g: must be in [0, 1]", p->p_anomaly);
    if (!(p->large_area > 0 && p->large_area < 1))
        return SN_ERR(SN_EINVAL, "pseudo.large_area = %g: must be in (0, 1)", p->large_area);
    if (!(p->small_area > 0 && p->small_area < 1))
        return SN_ERR(SN_EINVAL, "pseudo.small_area = %g: must be in (0, 1)", p->small_area);
    if (!(p->beta_max >= 0 && p->beta_max <= 1))
        return SN_ERR(SN_EINVAL, "pseudo.beta_max = %g: must be in [0, 1]", p->beta_max);
    if (!(p->dpa_strength_min >= 0 && p->dpa_strength_min <= 1))
        return SN_ERR(SN_EINVAL, "pseudo.dpa_strength_min = %g: must be in [0, 1]", p->dpa_strength_min);
    if (p->perlin_scale_max < 0 || p->perlin_scale_max > 10)
        return SN_ERR(SN_EINVAL, "pseudo.perlin_scale_max = %d: must be in [0, 10]", p->perlin_scale_max);
    if (p->ppa_max_tries < 1)
        return SN_ERR(SN_EINVAL, "pseudo.ppa_max_tries = %d: must be >= 1", p->ppa_max_tries);
    /* DPA needs room for at least a few pixels below the total bound. */
    if ((double)p->size * p->size * p->large_area < 32)
        return SN_ERR(SN_EINVAL, "pseudo.large_area = %g at S = %d leaves fewer than 32 pixels for a DPA mask",
                      p->large_area, p->size);
    if ((double)p->size * p->size * p->small_area < 32)
        return SN_ERR(SN_EINVAL, "pseudo.small_area = %g at S = %d leaves fewer than 32 pixels for the DPA seeds",
                      p->small_area, p->size);
    return SN_OK;
}

sn_status sn_pseudo_work_create(int size, sn_pseudo_work **out)
{
    sn_status status = SN_OK;
    sn_pseudo_work *w = NULL;
    *out = NULL;
    if (size < 1)
        SN_FAIL(SN_EINVAL, "pseudo-anomaly scratch: size %d must be >= 1", size);
    SN_CALLOC(w, 1, "pseudo-anomaly scratch");
    w->size = size;
    size_t plane = (size_t)size * size;
    SN_ALLOC(w->noise, plane, "Perlin noise plane");
    SN_ALLOC(w->tmp, plane, "Perlin noise plane");
    SN_ALLOC(w->mask, plane, "pseudo-anomaly mask");
    SN_ALLOC(w->last, plane, "pseudo-anomaly mask");
    SN_ALLOC(w->a, SN_PSEUDO_CHANNELS * plane, "PPA source image");
    SN_ALLOC(w->b, SN_PSEUDO_CHANNELS * plane, "PPA source image");
    for (int i = 0; i < 4; i++)
        SN_ALLOC(w->src[i], SN_PSEUDO_CHANNELS * plane, "PPA source image");
    *out = w;
    w = NULL;
done:
    sn_pseudo_work_free(w);
    return status;
}

void sn_pseudo_work_free(sn_pseudo_work *w)
{
    if (!w)
        return;
    sn_free(w->noise);
    sn_free(w->tmp);
    sn_free(w->mask);
    sn_free(w->last);
    sn_free(w->a);
    sn_free(w->b);
    for (int i = 0; i < 4; i++)
        sn_free(w->src[i]);
    sn_free(w);
}

sn_status sn_pseudo_begin(const sn_pseudo_params *p, const sn_pseudo_key *key,
                          const sn_pseudo_work *w, sn_rng *r, sn_pseudo_info *info)
{
    sn_status status = SN_OK;
    SN_TRY(sn_pseudo_params_check(p));
    if (!w || w->size != p->size)
        SN_FAIL(SN_EINVAL, "pseudo-anomalies: scratch made for S = %d used with S = %d",
                w ? w->size : -1, p->size);
    if (key->stage >= 256 || key->sample > SN_RNG_MAX_SAMPLE)
        SN_FAIL(SN_EINVAL, "pseudo-anomalies: key stage %u / sample %llu out of range (< 256 / < 2^56)",
                key->stage, (unsigned long long)key->sample);
    memset(info, 0, sizeof *info);
    sn_rng_init(r, key->seed, key->stage, key->epoch, key->sample);
done:
    return status;
}

void sn_pseudo_clean(int s, const float *img, float *out_img, float *out_mask)
{
    size_t plane = (size_t)s * s;
    if (out_img != img)
        memcpy(out_img, img, SN_PSEUDO_CHANNELS * plane * sizeof(float));
    memset(out_mask, 0, plane * sizeof(float));
}

sn_status sn_pseudo_ppa_mask(sn_rng *r, const sn_pseudo_params *p, sn_pseudo_work *w,
                             uint8_t *mask, sn_pseudo_info *info)
{
    sn_status status = SN_OK;
    int s = p->size;
    size_t plane = (size_t)s * s;
    int64_t min_area = (int64_t)ceil(p->large_area * (double)plane);
    int have_last = 0, last_ry = 0, last_rx = 0;
    double last_angle = 0;
    for (int t = 1; t <= p->ppa_max_tries; t++) {
        int ry, rx;
        double deg;
        SN_TRY(sn_perlin_mask(r, p, w->noise, w->tmp, mask, &ry, &rx, &deg));
        info->tries = t;
        info->res_y = ry;
        info->res_x = rx;
        info->angle = deg;
        int64_t raw = 0;
        for (size_t i = 0; i < plane; i++)
            raw += mask[i];
        if (raw == 0)
            continue;
        memcpy(w->last, mask, plane);
        have_last = 1;
        last_ry = ry;
        last_rx = rx;
        last_angle = deg;
        if (raw < min_area) /* no region can be large enough */
            continue;
        int kept = 0;
        SN_TRY(sn_components_filter(mask, s, s, min_area, &kept));
        if (kept > 0)
            goto count;
    }
    info->fallback = 1;
    if (have_last) {
        memcpy(mask, w->last, plane);
        info->res_y = last_ry;
        info->res_x = last_rx;
        info->angle = last_angle;
        SN_TRY(sn_components_keep_largest(mask, s, s));
    } else {
        memset(mask, 0, plane);
    }
count:
    info->area = 0;
    for (size_t i = 0; i < plane; i++)
        info->area += mask[i];
done:
    return status;
}

/* Rec.601 luma, the grey image used by contrast and saturation. */
static inline float grey(float r, float g, float b)
{
    return 0.299f * r + 0.587f * g + 0.114f * b;
}

static inline float clip01(float v)
{
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}

void sn_pseudo_color_jitter(float *chw, int s, double b, double c, double sat)
{
    size_t plane = (size_t)s * s;
    float *R = chw, *G = chw + plane, *B = chw + 2 * plane;
    float fb = (float)b, fc = (float)c, fs = (float)sat;
    for (size_t i = 0; i < SN_PSEUDO_CHANNELS * plane; i++)
        chw[i] = clip01(chw[i] * fb);
    double sum = 0.0;
    for (size_t i = 0; i < plane; i++)
        sum += grey(R[i], G[i], B[i]);
    float mean = (float)(sum / (double)plane);
    for (size_t i = 0; i < SN_PSEUDO_CHANNELS * plane; i++)
        chw[i] = clip01(mean + fc * (chw[i] - mean));
    for (size_t i = 0; i < plane; i++) {
        float g = grey(R[i], G[i], B[i]);
        R[i] = clip01(g + fs * (R[i] - g));
        G[i] = clip01(g + fs * (G[i] - g));
        B[i] = clip01(g + fs * (B[i] - g));
    }
}

/* Reflect a continuous coordinate into [0, n-1] (mirror about the edge pixel centres). */
static double reflect(double v, int n)
{
    if (n == 1)
        return 0.0;
    double period = 2.0 * (n - 1);
    v = fmod(v, period);
    if (v < 0)
        v += period;
    if (v > n - 1)
        v = period - v;
    return v;
}

void sn_pseudo_affine_ref(const float *in, int s, double degrees, double scale, double ty,
                          double tx, float *out)
{
    double th = degrees * SN_PI / 180.0, co = cos(th) / scale, si = sin(th) / scale;
    double cc = 0.5 * (s - 1);
    size_t plane = (size_t)s * s;
    for (int y = 0; y < s; y++) {
        double dy = y - cc - ty;
        for (int x = 0; x < s; x++) {
            double dx = x - cc - tx;
            double sx = reflect(cc + co * dx - si * dy, s);
            double sy = reflect(cc + si * dx + co * dy, s);
            int x0 = (int)sx, y0 = (int)sy;
            int x1 = x0 + 1 < s ? x0 + 1 : s - 1, y1 = y0 + 1 < s ? y0 + 1 : s - 1;
            float wx = (float)(sx - x0), wy = (float)(sy - y0);
            for (int ch = 0; ch < SN_PSEUDO_CHANNELS; ch++) {
                const float *p = in + ch * plane;
                float top = p[(size_t)y0 * s + x0] + wx * (p[(size_t)y0 * s + x1] - p[(size_t)y0 * s + x0]);
                float bot = p[(size_t)y1 * s + x0] + wx * (p[(size_t)y1 * s + x1] - p[(size_t)y1 * s + x0]);
                out[ch * plane + (size_t)y * s + x] = top + wy * (bot - top);
            }
        }
    }
}

/* Same result; constant steps along a row, reflection only where the source leaves the image,
 * and the three channels share the weights. */
void sn_pseudo_affine(const float *in, int s, double degrees, double scale, double ty, double tx,
                      float *out)
{
    double th = degrees * SN_PI / 180.0, co = cos(th) / scale, si = sin(th) / scale;
    double cc = 0.5 * (s - 1);
    size_t plane = (size_t)s * s;
    const float *in1 = in + plane, *in2 = in + 2 * plane;
    for (int y = 0; y < s; y++) {
        double dy = y - cc - ty;
        double bx = cc + co * (-cc - tx) - si * dy, by = cc + si * (-cc - tx) + co * dy;
        float *o0 = out + (size_t)y * s, *o1 = o0 + plane, *o2 = o0 + 2 * plane;
        for (int x = 0; x < s; x++) {
            double sx = bx + co * x, sy = by + si * x;
            if (!(sx >= 0 && sx <= s - 1))
                sx = reflect(sx, s);
            if (!(sy >= 0 && sy <= s - 1))
                sy = reflect(sy, s);
            int x0 = (int)sx, y0 = (int)sy;
            int x1 = x0 + 1 < s ? x0 + 1 : s - 1, y1 = y0 + 1 < s ? y0 + 1 : s - 1;
            float wx = (float)(sx - x0), wy = (float)(sy - y0);
            size_t i00 = (size_t)y0 * s + x0, i01 = (size_t)y0 * s + x1;
            size_t i10 = (size_t)y1 * s + x0, i11 = (size_t)y1 * s + x1;
            float t, b;
            t = in[i00] + wx * (in[i01] - in[i00]);
            b = in[i10] + wx * (in[i11] - in[i10]);
            o0[x] = t + wy * (b - t);
            t = in1[i00] + wx * (in1[i01] - in1[i00]);
            b = in1[i10] + wx * (in1[i11] - in1[i10]);
            o1[x] = t + wy * (b - t);
            t = in2[i00] + wx * (in2[i01] - in2[i00]);
            b = in2[i10] + wx * (in2[i11] - in2[i10]);
            o2[x] = t + wy * (b - t);
        }
    }
}

/* Tile the four quadrant positions of w->a with the chosen quadrants of the source images. */
static sn_status compose_source(sn_rng *r, const sn_image_source *src, sn_pseudo_work *w,
                                sn_pseudo_info *info)
{
    sn_status status = SN_OK;
    int s = w->size, hs = s / 2;
    size_t plane = (size_t)s * s;
    int64_t loaded[4];
    int n_loaded = 0, slot[4];
    for (int q = 0; q < 4; q++)
        info->src_index[q] = sn_rng_int(r, 0, src->count - 1);
    sn_rng_permutation(r, info->src_quadrant, 4);
    for (int q = 0; q < 4; q++) {
        int k = 0;
        while (k < n_loaded && loaded[k] != info->src_index[q])
            k++;
        if (k == n_loaded) {
            status = src->get(src->ctx, info->src_index[q], w->src[k]);
            if (status != SN_OK)
                SN_FAIL(status, "PPA: fetching source image %lld of %lld failed: %s",
                        (long long)info->src_index[q], (long long)src->count, sn_err_msg());
            loaded[n_loaded++] = info->src_index[q];
        }
        slot[q] = k;
    }
    for (int q = 0; q < 4; q++) {
        int sq = info->src_quadrant[q];
        int dy = (q >> 1) * hs, dx = (q & 1) * hs, sy = (sq >> 1) * hs, sx = (sq & 1) * hs;
        for (int ch = 0; ch < SN_PSEUDO_CHANNELS; ch++)
            for (int y = 0; y < hs; y++)
                memcpy(w->a + ch * plane + (size_t)(dy + y) * s + dx,
                       w->src[slot[q]] + ch * plane + (size_t)(sy + y) * s + sx, hs * sizeof(float));
    }
done:
    return status;
}

sn_status sn_pseudo_ppa(const sn_pseudo_params *p, const sn_pseudo_key *key, const float *img,
                        const sn_image_source *src, sn_pseudo_work *w, float *out_img,
                        float *out_mask, sn_pseudo_info *info)
{
    sn_status status = SN_OK;
    sn_pseudo_info local;
    sn_rng r;
    if (!info)
        info = &local;
    SN_TRY(sn_pseudo_begin(p, key, w, &r, info));
    if (!src || src->count < 1 || !src->get)
        SN_FAIL(SN_EINVAL, "PPA: the source of same-class training images is empty");
    int s = p->size;
    size_t plane = (size_t)s * s;
    if (!(sn_rng_uniform(&r) < p->p_anomaly)) {
        sn_pseudo_clean(s, img, out_img, out_mask);
        goto done;
    }
    SN_TRY(sn_pseudo_ppa_mask(&r, p, w, w->mask, info));
    if (info->area == 0) { /* every draw empty: nothing to paste */
        sn_pseudo_clean(s, img, out_img, out_mask);
        goto done;
    }
    SN_TRY(compose_source(&r, src, w, info));
    info->brightness = sn_rng_range(&r, 0.7, 1.3);
    info->contrast = sn_rng_range(&r, 0.7, 1.3);
    info->saturation = sn_rng_range(&r, 0.5, 1.5);
    info->rot = sn_rng_range(&r, -45.0, 45.0);
    info->scale = sn_rng_range(&r, 0.9, 1.1);
    info->ty = sn_rng_range(&r, -0.1 * s, 0.1 * s);
    info->tx = sn_rng_range(&r, -0.1 * s, 0.1 * s);
    info->beta = sn_rng_range(&r, 0.0, p->beta_max);
    sn_pseudo_color_jitter(w->a, s, info->brightness, info->contrast, info->saturation);
    sn_pseudo_affine(w->a, s, info->rot, info->scale, info->ty, info->tx, w->b);
    info->anomalous = 1;
    float beta = (float)info->beta;
    for (size_t i = 0; i < plane; i++)
        out_mask[i] = w->mask[i] ? 1.0f : 0.0f;
    for (int ch = 0; ch < SN_PSEUDO_CHANNELS; ch++) {
        const float *I = img + ch * plane, *A = w->b + ch * plane;
        float *O = out_img + ch * plane;
        for (size_t i = 0; i < plane; i++) {
            float m = out_mask[i];
            O[i] = (1.0f - m) * I[i] + m * ((1.0f - beta) * A[i] + beta * I[i]);
        }
    }
done:
    return status;
}
