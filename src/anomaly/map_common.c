/* Anomaly map: parameters and the pieces shared by the fast kernel and the reference. */
#include "sernet/anomaly_map.h"
#include "anomaly/map_internal.h"

#include <math.h>

void sn_map_params_default(sn_map_params *p)
{
    p->scales = 4;
    p->box = 21;
    p->color_weight = 0.001;
    p->score_scales = 0;
    p->score_box = 0;
    p->erode = 1;
}

void sn_map_params_from_config(const sn_config *cfg, sn_map_params *p)
{
    p->scales = cfg->msgms_scales;
    p->box = cfg->box_size;
    p->color_weight = cfg->color_weight;
    p->score_scales = cfg->score_msgms_scales;
    p->score_box = cfg->score_box_size;
    p->erode = cfg->msgms_erode;
}

void sn_map_params_score(const sn_map_params *p, sn_map_params *out)
{
    *out = *p;
    out->scales = p->score_scales > 0 ? p->score_scales : p->scales;
    out->box = p->score_box > 0 ? p->score_box : p->box;
    out->score_scales = out->score_box = 0;
}

int sn_map_params_separate_score(const sn_map_params *p)
{
    sn_map_params s;
    sn_map_params_score(p, &s);
    return s.scales != p->scales || s.box != p->box;
}

sn_status sn_map_params_check(const sn_map_params *p, int h, int w)
{
    sn_status status = SN_OK;
    if (h < 1 || w < 1)
        SN_FAIL(SN_EINVAL, "anomaly map: image size %dx%d, expected at least 1x1", h, w);
    if (p->scales < 1 || p->scales > SN_MAP_MAX_SCALES)
        SN_FAIL(SN_EINVAL, "anomaly map: msgms_scales = %d, expected 1..%d", p->scales, SN_MAP_MAX_SCALES);
    if (p->box < 1 || p->box % 2 == 0)
        SN_FAIL(SN_EINVAL, "anomaly map: box_size = %d, expected an odd number >= 1", p->box);
    if (p->erode < 0 || (p->erode > 1 && p->erode % 2 == 0))
        SN_FAIL(SN_EINVAL, "anomaly map: msgms_erode = %d, expected 0 or 1 (off) or an odd number", p->erode);
    if (!(p->color_weight >= 0) || !isfinite(p->color_weight))
        SN_FAIL(SN_EINVAL, "anomaly map: color_weight = %g, expected a finite value >= 0", p->color_weight);
    if ((h >> (p->scales - 1)) < 1 || (w >> (p->scales - 1)) < 1)
        SN_FAIL(SN_EINVAL, "anomaly map: %dx%d image is too small for %d scales (2x2 pooling %d times)",
                h, w, p->scales, p->scales - 1);
    if (p->score_scales < 0 || p->score_scales > SN_MAP_MAX_SCALES)
        SN_FAIL(SN_EINVAL, "anomaly map: score_msgms_scales = %d, expected 0 (as msgms_scales) or 1..%d",
                p->score_scales, SN_MAP_MAX_SCALES);
    if (p->score_box < 0 || (p->score_box > 0 && p->score_box % 2 == 0))
        SN_FAIL(SN_EINVAL, "anomaly map: score_box_size = %d, expected 0 (as box_size) or an odd number",
                p->score_box);
    if (sn_map_params_separate_score(p)) {
        sn_map_params s;
        sn_map_params_score(p, &s);
        if ((h >> (s.scales - 1)) < 1 || (w >> (s.scales - 1)) < 1)
            SN_FAIL(SN_EINVAL, "anomaly map: %dx%d image is too small for score_msgms_scales = %d", h, w,
                    s.scales);
    }
done:
    return status;
}

static inline float srgb_to_linear(float c)
{
    return c <= 0.04045f ? c / 12.92f : powf((c + 0.055f) / 1.055f, 2.4f);
}

static inline float lab_f(float t)
{
    return t > 0.008856f ? cbrtf(t) : 7.787f * t + 4.0f / 29.0f;
}

void sn_map_lab_ab_pixel(float r, float g, float b, float *a_out, float *b_out)
{
    r = srgb_to_linear(r);
    g = srgb_to_linear(g);
    b = srgb_to_linear(b);
    float X = (0.412453f * r + 0.357580f * g + 0.180423f * b) / 0.95047f;
    float Y = 0.212671f * r + 0.715160f * g + 0.072169f * b;
    float Z = (0.019334f * r + 0.119193f * g + 0.950227f * b) / 1.08883f;
    float fx = lab_f(X), fy = lab_f(Y), fz = lab_f(Z);
    *a_out = 500.0f * (fx - fy);
    *b_out = 200.0f * (fy - fz);
}

void sn_map_lab_ab(const float *rgb, int64_t n, float *a, float *b)
{
    for (int64_t i = 0; i < n; i++)
        sn_map_lab_ab_pixel(rgb[i], rgb[n + i], rgb[2 * n + i], &a[i], &b[i]);
}

void sn_map_pool2(const float *x, int ih, int iw, float *out)
{
    int oh = ih / 2, ow = iw / 2;
    for (int i = 0; i < oh; i++) {
        const float *r0 = x + (size_t)(2 * i) * iw, *r1 = r0 + iw;
        float *o = out + (size_t)i * ow;
        for (int j = 0; j < ow; j++)
            o[j] = (r0[2 * j] + r0[2 * j + 1] + r1[2 * j] + r1[2 * j + 1]) * 0.25f;
    }
}

void sn_map_resize_coords(int in, int out, int *i0, int *i1, float *l1)
{
    float scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float src = scale * ((float)o + 0.5f) - 0.5f;
        if (src < 0)
            src = 0;
        int k = (int)src;
        if (k > in - 1)
            k = in - 1;
        i0[o] = k;
        i1[o] = k < in - 1 ? k + 1 : k;
        l1[o] = src - (float)k;
    }
}
