/* The DPA generator of METHOD.md §3.3: seed rectangles grown by adjacent rectangles into one
 * irregular region, brightness and colour changes inside.
 *
 * Choices the method leaves open (documented in docs/pseudo.md):
 *  - seeds: n in {1, 2}; their total target area is U(0.25, 0.6) * min(small_area, large_area)
 *    * S^2, split U(0.3, 0.7) between two seeds; aspect ratio h/w = exp(U(-ln 3, ln 3));
 *    h = floor(sqrt(a * ratio)), w = floor(sqrt(a / ratio)), so the seeds' summed area stays
 *    strictly below small_area * S^2.
 *  - the second seed is placed over a border pixel of the first seed's grown region, so the
 *    whole mask is one connected region (the issue asks for "one connected region").
 *  - each diffusion rectangle: area U(0.3, 0.8) x its seed's area, its own aspect ratio, placed
 *    so that it contains a uniformly chosen border pixel of the seed or of a rectangle already
 *    added for that seed (so it touches or overlaps that rectangle), clipped to the image.
 *  - if a rectangle would bring the mask to large_area * S^2 or more, its area is halved and it
 *    is drawn again (up to 16 times, then it shrinks to the single border pixel).
 */
#include "sernet/pseudo.h"
#include "pseudo/pseudo_internal.h"

#include <math.h>
#include <string.h>

typedef struct {
    int y0, x0, h, w;
} rect;

static void dims(sn_rng *r, double area, int s, int *h, int *w)
{
    double ratio = exp(sn_rng_range(r, -log(3.0), log(3.0)));
    int hh = (int)floor(sqrt(area * ratio)), ww = (int)floor(sqrt(area / ratio));
    hh = hh < 1 ? 1 : hh > s ? s : hh;
    ww = ww < 1 ? 1 : ww > s ? s : ww;
    if ((double)hh * ww > area) /* a side was raised to 1 pixel: keep the area bound */
        ww = SN_MAX(1, (int)(area / hh));
    *h = hh;
    *w = ww;
}

/* Pixels of rect not yet in mask. */
static int64_t new_pixels(const uint8_t *mask, int s, rect q)
{
    int64_t n = 0;
    for (int y = q.y0; y < q.y0 + q.h; y++)
        for (int x = q.x0; x < q.x0 + q.w; x++)
            n += !mask[(size_t)y * s + x];
    return n;
}

static void paint(uint8_t *mask, int s, rect q)
{
    for (int y = q.y0; y < q.y0 + q.h; y++)
        memset(mask + (size_t)y * s + q.x0, 1, (size_t)q.w);
}

/* A uniformly chosen side, then a uniform pixel along it. */
static void border_pixel(sn_rng *r, rect a, int *py, int *px)
{
    int side = (int)sn_rng_int(r, 0, 3);
    if (side < 2) {
        *py = side == 0 ? a.y0 : a.y0 + a.h - 1;
        *px = a.x0 + (int)sn_rng_int(r, 0, a.w - 1);
    } else {
        *px = side == 2 ? a.x0 : a.x0 + a.w - 1;
        *py = a.y0 + (int)sn_rng_int(r, 0, a.h - 1);
    }
}

/* A rectangle of about `area` pixels containing a border pixel of one of anchors[0..n),
 * keeping the mask strictly below `limit` pixels. */
static rect attach(sn_rng *r, int s, const uint8_t *mask, int64_t have, int64_t limit,
                   const rect *anchors, int n, double area)
{
    rect a = anchors[sn_rng_int(r, 0, n - 1)];
    int py, px;
    border_pixel(r, a, &py, &px);
    for (int t = 0; t < 16; t++, area *= 0.5) {
        int h, w;
        dims(r, area, s, &h, &w);
        rect q;
        q.y0 = py - (int)sn_rng_int(r, 0, h - 1);
        q.x0 = px - (int)sn_rng_int(r, 0, w - 1);
        int y1 = q.y0 + h, x1 = q.x0 + w;
        q.y0 = q.y0 < 0 ? 0 : q.y0;
        q.x0 = q.x0 < 0 ? 0 : q.x0;
        q.h = (y1 > s ? s : y1) - q.y0;
        q.w = (x1 > s ? s : x1) - q.x0;
        if (have + new_pixels(mask, s, q) < limit)
            return q;
    }
    rect one = {py, px, 1, 1};
    return one;
}

sn_status sn_pseudo_dpa_mask(sn_rng *r, const sn_pseudo_params *p, uint8_t *mask,
                             sn_pseudo_info *info)
{
    int s = p->size;
    double plane = (double)s * s;
    /* Largest pixel counts strictly below the bounds. */
    int64_t limit = (int64_t)ceil(p->large_area * plane); /* mask area must stay < limit */
    double seed_budget = sn_rng_range(r, 0.25, 0.6) * SN_MIN(p->small_area, p->large_area) * plane;
    int n_seeds = (int)sn_rng_int(r, 1, 2);
    double split = n_seeds == 2 ? sn_rng_range(r, 0.3, 0.7) : 1.0;
    double seed_area[2] = {seed_budget * split, seed_budget * (1.0 - split)};
    memset(mask, 0, (size_t)s * s);
    rect rects[10];
    int n = 0;
    int64_t have = 0, seeds_sum = 0;
    for (int k = 0; k < n_seeds; k++) {
        int first = n;
        rect seed;
        if (k == 0) {
            dims(r, seed_area[0], s, &seed.h, &seed.w);
            seed.y0 = (int)sn_rng_int(r, 0, s - seed.h);
            seed.x0 = (int)sn_rng_int(r, 0, s - seed.w);
        } else {
            seed = attach(r, s, mask, have, limit, rects, n, seed_area[1]);
        }
        have += new_pixels(mask, s, seed);
        paint(mask, s, seed);
        seeds_sum += (int64_t)seed.h * seed.w;
        rects[n++] = seed;
        double area = (double)seed.h * seed.w;
        int grow = (int)sn_rng_int(r, 2, 4);
        for (int g = 0; g < grow; g++) {
            rect q = attach(r, s, mask, have, limit, rects + first, n - first,
                            area * sn_rng_range(r, 0.3, 0.8));
            have += new_pixels(mask, s, q);
            paint(mask, s, q);
            rects[n++] = q;
        }
    }
    info->n_seeds = n_seeds;
    info->n_rects = n;
    for (int i = 0; i < n; i++) {
        info->rects[i][0] = rects[i].y0;
        info->rects[i][1] = rects[i].x0;
        info->rects[i][2] = rects[i].h;
        info->rects[i][3] = rects[i].w;
    }
    info->seed_area = seeds_sum;
    info->area = have;
    return SN_OK;
}

sn_status sn_pseudo_dpa(const sn_pseudo_params *p, const sn_pseudo_key *key, const float *img,
                        sn_pseudo_work *w, float *out_img, float *out_mask, sn_pseudo_info *info)
{
    sn_status status = SN_OK;
    sn_pseudo_info local;
    sn_rng r;
    if (!info)
        info = &local;
    SN_TRY(sn_pseudo_begin(p, key, w, &r, info));
    int s = p->size;
    size_t plane = (size_t)s * s;
    if (!(sn_rng_uniform(&r) < p->p_anomaly)) {
        sn_pseudo_clean(s, img, out_img, out_mask);
        goto done;
    }
    SN_TRY(sn_pseudo_dpa_mask(&r, p, w->mask, info));
    double mag = sn_rng_range(&r, 0.1, 0.3);
    info->alpha = (sn_rng_u32(&r) & 1u) ? mag : -mag;
    for (int c = 0; c < 3; c++)
        info->gamma[c] = sn_rng_range(&r, 0.6, 1.4);
    /* Drawn last and only when asked for, so that METHOD.md's samples (key = 1) keep their
     * stream and every draw above is the same at any strength. */
    info->strength = 1.0;
    if (p->dpa_strength_min < 1.0) {
        info->strength = sn_rng_range(&r, p->dpa_strength_min, 1.0);
        info->alpha *= info->strength;
        for (int c = 0; c < 3; c++)
            info->gamma[c] = 1.0 + (info->gamma[c] - 1.0) * info->strength;
    }
    info->anomalous = 1;
    for (size_t i = 0; i < plane; i++)
        out_mask[i] = w->mask[i] ? 1.0f : 0.0f;
    float alpha = (float)info->alpha;
    for (int c = 0; c < SN_PSEUDO_CHANNELS; c++) {
        const float *I = img + c * plane;
        float *O = out_img + c * plane;
        float gamma = (float)info->gamma[c];
        for (size_t i = 0; i < plane; i++) {
            if (w->mask[i]) {
                float v = gamma * I[i] + alpha;
                O[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            } else {
                O[i] = I[i];
            }
        }
    }
done:
    return status;
}
