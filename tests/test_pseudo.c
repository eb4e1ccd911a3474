/* PPA and DPA (METHOD.md §3.2, §3.3): mask properties, the blend and appearance equations pixel
 * by pixel, parameter ranges, determinism, and statistics over 1,000 draws. */
#include "sernet/components.h"
#include "sernet/pseudo.h"
#include "sn_test.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int s;
    int fetches;
} synth;

/* Image i of a synthetic class: smooth, distinct per index, values in [0, 1]. */
static sn_status synth_get(void *ctx, int64_t index, float *chw)
{
    synth *c = ctx;
    int s = c->s;
    c->fetches++;
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++) {
            size_t i = (size_t)y * s + x;
            chw[i] = (float)fmod(0.13 * (double)index + (double)x / s, 1.0);
            chw[(size_t)s * s + i] = (float)y / s;
            chw[2 * (size_t)s * s + i] = (float)(0.5 + 0.4 * sin(0.2 * x + 0.3 * y + (double)index));
        }
    return SN_OK;
}

static sn_status failing_get(void *ctx, int64_t index, float *chw)
{
    (void)ctx;
    (void)chw;
    return SN_ERR(SN_EIO, "synthetic source: image %lld unreadable", (long long)index);
}

static sn_pseudo_params params(int s)
{
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.image_size = s;
    sn_pseudo_params p;
    sn_pseudo_params_from_config(&p, &cfg);
    return p;
}

static int components(const float *mask, int s, int64_t *min_area)
{
    uint8_t *m = malloc((size_t)s * s);
    int32_t *lab = malloc(sizeof(int32_t) * s * s);
    for (int i = 0; i < s * s; i++)
        m[i] = mask[i] != 0.0f;
    int n = 0;
    int64_t *areas = NULL;
    sn_status st = sn_components_label(m, s, s, lab, &n, &areas);
    SN_ASSERT(st == SN_OK);
    *min_area = INT64_MAX;
    for (int k = 1; k <= n; k++)
        *min_area = SN_MIN(*min_area, areas[k]);
    sn_free(areas);
    free(m);
    free(lab);
    return n;
}

static int binary(const float *mask, int s, int64_t *area)
{
    int ok = 1;
    *area = 0;
    for (int i = 0; i < s * s; i++) {
        ok &= mask[i] == 0.0f || mask[i] == 1.0f;
        *area += mask[i] == 1.0f;
    }
    return ok;
}

/* Rebuild the PPA source image A from the recorded choices with the test's own tiling. */
static void rebuild_source(synth *src, int s, const sn_pseudo_info *info, float *a, float *warped)
{
    size_t plane = (size_t)s * s;
    float *img = malloc(sizeof(float) * 3 * plane);
    int hs = s / 2;
    for (int q = 0; q < 4; q++) {
        synth_get(src, info->src_index[q], img);
        int sq = info->src_quadrant[q];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < hs; y++)
                for (int x = 0; x < hs; x++)
                    a[c * plane + (size_t)((q / 2) * hs + y) * s + (q % 2) * hs + x] =
                        img[c * plane + (size_t)((sq / 2) * hs + y) * s + (sq % 2) * hs + x];
    }
    sn_pseudo_color_jitter(a, s, info->brightness, info->contrast, info->saturation);
    sn_pseudo_affine(a, s, info->rot, info->scale, info->ty, info->tx, warped);
    free(img);
}

static void ppa_samples(void)
{
    const int s = 64;
    sn_pseudo_params p = params(s);
    size_t plane = (size_t)s * s;
    synth sc = {s, 0};
    sn_image_source src = {5, &sc, synth_get};
    sn_pseudo_work *w = NULL;
    EXPECT(sn_pseudo_work_create(s, &w) == SN_OK);
    float *img = malloc(sizeof(float) * 3 * plane), *out = malloc(sizeof(float) * 3 * plane);
    float *out2 = malloc(sizeof(float) * 3 * plane), *mask = malloc(sizeof(float) * plane);
    float *mask2 = malloc(sizeof(float) * plane), *a = malloc(sizeof(float) * 3 * plane);
    float *warped = malloc(sizeof(float) * 3 * plane);
    synth_get(&sc, 2, img);
    int64_t min_area = (int64_t)ceil(p.large_area * s * s);
    int anomalous = 0, clean_ok = 1, regions_ok = 1, blend_ok = 1, ranges_ok = 1, fallbacks = 0;
    int binary_ok = 1, det_ok = 1, quad_ok = 1, area_ok = 1;
    for (uint64_t k = 0; k < 60; k++) {
        sn_pseudo_key key = {123, SN_RNG_STAGE_SEG, 3, k};
        sn_pseudo_info info;
        EXPECT(sn_pseudo_ppa(&p, &key, img, &src, w, out, mask, &info) == SN_OK);
        int64_t area;
        binary_ok &= binary(mask, s, &area);
        area_ok &= area == info.area;
        /* Rerun and in-place run give the same bits. */
        memcpy(out2, img, sizeof(float) * 3 * plane);
        EXPECT(sn_pseudo_ppa(&p, &key, out2, &src, w, out2, mask2, NULL) == SN_OK);
        det_ok &= memcmp(out, out2, sizeof(float) * 3 * plane) == 0 &&
                  memcmp(mask, mask2, sizeof(float) * plane) == 0;
        if (!info.anomalous) {
            clean_ok &= area == 0 && memcmp(out, img, sizeof(float) * 3 * plane) == 0;
            continue;
        }
        anomalous++;
        fallbacks += info.fallback;
        int64_t smallest;
        int n = components(mask, s, &smallest);
        if (!info.fallback)
            regions_ok &= n >= 1 && smallest >= min_area;
        else
            regions_ok &= n == 1;
        ranges_ok &= info.beta >= 0 && info.beta < p.beta_max && info.brightness >= 0.7 &&
                     info.brightness < 1.3 && info.contrast >= 0.7 && info.contrast < 1.3 &&
                     info.saturation >= 0.5 && info.saturation < 1.5 && info.rot >= -45 &&
                     info.rot < 45 && info.scale >= 0.9 && info.scale < 1.1 &&
                     fabs(info.tx) <= 0.1 * s && fabs(info.ty) <= 0.1 * s &&
                     info.tries >= 1 && info.tries <= p.ppa_max_tries;
        int perm = 0;
        for (int q = 0; q < 4; q++) {
            quad_ok &= info.src_index[q] >= 0 && info.src_index[q] < src.count;
            perm |= 1 << info.src_quadrant[q];
        }
        quad_ok &= perm == 15;
        rebuild_source(&sc, s, &info, a, warped);
        double beta = info.beta;
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < plane; i++) {
                double m = mask[i], I = img[c * plane + i], A = warped[c * plane + i];
                double want = (1 - m) * I + m * ((1 - beta) * A + beta * I);
                double got = out[c * plane + i];
                blend_ok &= fabs(got - want) <= 2e-6 && (m != 0 || got == img[c * plane + i]);
            }
    }
    EXPECT_MSG(anomalous > 15 && anomalous < 45, "%d of 60 PPA samples anomalous", anomalous);
    EXPECT_MSG(clean_ok, "clean samples: image unchanged, mask all zero");
    EXPECT_MSG(binary_ok && area_ok, "masks are 0/1 and info.area counts them");
    EXPECT_MSG(regions_ok, "every PPA region >= large_area * S^2 = %lld pixels (or the fallback's single region)",
               (long long)min_area);
    EXPECT_MSG(ranges_ok, "beta, colour and affine parameters within their ranges");
    EXPECT_MSG(quad_ok, "four quadrants, each used once, from valid source indices");
    EXPECT_MSG(blend_ok, "Ia = (1-M) I + M ((1-beta) A + beta I) pixel by pixel");
    EXPECT_MSG(det_ok, "rerun and in-place generation reproduce the sample bit for bit");
    EXPECT_MSG(fallbacks <= 3, "%d fallbacks in %d anomalous samples", fallbacks, anomalous);

    /* Fallback: no draw can keep a region of 90 % of the image, so after ppa_max_tries draws the
     * largest region of the last non-empty draw is kept, alone. */
    sn_pseudo_params pf = p;
    pf.p_anomaly = 1.0;
    pf.large_area = 0.9;
    pf.ppa_max_tries = 3;
    int fb_ok = 1;
    for (uint64_t k = 0; k < 10; k++) {
        sn_pseudo_key key = {5, 1, 0, k};
        sn_pseudo_info info;
        EXPECT(sn_pseudo_ppa(&pf, &key, img, &src, w, out, mask, &info) == SN_OK);
        int64_t smallest, area;
        binary(mask, s, &area);
        int n = area ? components(mask, s, &smallest) : 0;
        fb_ok &= info.fallback == 1 && info.tries == 3 && (info.anomalous ? n == 1 : area == 0);
    }
    EXPECT_MSG(fb_ok, "fallback after ppa_max_tries keeps exactly one region");
    /* Threshold above the noise range: every draw is empty, the sample stays clean. */
    pf.large_area = p.large_area;
    pf.perlin_threshold = 1.5;
    {
        sn_pseudo_key key = {5, 1, 0, 0};
        sn_pseudo_info info;
        EXPECT(sn_pseudo_ppa(&pf, &key, img, &src, w, out, mask, &info) == SN_OK);
        int64_t area;
        binary(mask, s, &area);
        EXPECT(info.anomalous == 0 && info.fallback == 1 && area == 0 &&
               memcmp(out, img, sizeof(float) * 3 * plane) == 0);
    }

    /* Source errors propagate with the message. */
    sn_image_source bad = {3, NULL, failing_get};
    sn_pseudo_params p1 = p;
    p1.p_anomaly = 1.0;
    sn_pseudo_key key = {1, 1, 0, 0};
    sn_err_clear();
    EXPECT(sn_pseudo_ppa(&p1, &key, img, &bad, w, out, mask, NULL) == SN_EIO);
    EXPECT(strstr(sn_err_msg(), "unreadable") != NULL);
    sn_err_clear();
    sn_image_source empty = {0, &sc, synth_get};
    EXPECT(sn_pseudo_ppa(&p1, &key, img, &empty, w, out, mask, NULL) == SN_EINVAL);
    sn_err_clear();
    sn_pseudo_params podd = p;
    podd.size = 63;
    EXPECT(sn_pseudo_ppa(&podd, &key, img, &src, w, out, mask, NULL) == SN_EINVAL);
    sn_err_clear();
    free(img); free(out); free(out2); free(mask); free(mask2); free(a); free(warped);
    sn_pseudo_work_free(w);
}

static void dpa_samples(void)
{
    const int s = 64;
    sn_pseudo_params p = params(s);
    size_t plane = (size_t)s * s;
    synth sc = {s, 0};
    sn_pseudo_work *w = NULL;
    EXPECT(sn_pseudo_work_create(s, &w) == SN_OK);
    float *img = malloc(sizeof(float) * 3 * plane), *out = malloc(sizeof(float) * 3 * plane);
    float *out2 = malloc(sizeof(float) * 3 * plane), *mask = malloc(sizeof(float) * plane);
    float *mask2 = malloc(sizeof(float) * plane);
    synth_get(&sc, 1, img);
    double small = p.small_area * s * s, large = p.large_area * s * s;
    int anomalous = 0, two_seeds = 0, shape_ok = 1, union_ok = 1, appear_ok = 1, ranges_ok = 1;
    int det_ok = 1, clean_ok = 1;
    for (uint64_t k = 0; k < 200; k++) {
        sn_pseudo_key key = {7, SN_RNG_STAGE_REC, 0, k};
        sn_pseudo_info info;
        EXPECT(sn_pseudo_dpa(&p, &key, img, w, out, mask, &info) == SN_OK);
        EXPECT(sn_pseudo_dpa(&p, &key, img, w, out2, mask2, NULL) == SN_OK);
        det_ok &= memcmp(out, out2, sizeof(float) * 3 * plane) == 0 &&
                  memcmp(mask, mask2, sizeof(float) * plane) == 0;
        int64_t area;
        int bin = binary(mask, s, &area);
        if (!info.anomalous) {
            clean_ok &= area == 0 && memcmp(out, img, sizeof(float) * 3 * plane) == 0;
            continue;
        }
        anomalous++;
        two_seeds += info.n_seeds == 2;
        int64_t smallest;
        int n = components(mask, s, &smallest);
        /* Seeds' summed area < small_area S^2, whole mask < large_area S^2, >= 3 rectangles
         * (>= 3 per seed), one 8-connected region. */
        shape_ok &= bin && area == info.area && info.seed_area < small && area < large &&
                    info.n_rects >= 3 * info.n_seeds && info.n_rects <= 5 * info.n_seeds && n == 1;
        /* The mask is exactly the union of the recorded rectangles, all inside the image. */
        uint8_t *u = calloc(plane, 1);
        for (int r = 0; r < info.n_rects; r++) {
            int y0 = info.rects[r][0], x0 = info.rects[r][1], h = info.rects[r][2], wd = info.rects[r][3];
            union_ok &= y0 >= 0 && x0 >= 0 && h >= 1 && wd >= 1 && y0 + h <= s && x0 + wd <= s;
            for (int y = y0; y < y0 + h && y < s; y++)
                for (int x = x0; x < x0 + wd && x < s; x++)
                    u[y * s + x] = 1;
        }
        for (size_t i = 0; i < plane; i++)
            union_ok &= u[i] == (mask[i] == 1.0f);
        free(u);
        ranges_ok &= fabs(info.alpha) >= 0.1 && fabs(info.alpha) < 0.3;
        for (int c = 0; c < 3; c++)
            ranges_ok &= info.gamma[c] >= 0.6 && info.gamma[c] < 1.4;
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < plane; i++) {
                double I = img[c * plane + i], got = out[c * plane + i];
                if (mask[i] == 1.0f) {
                    double want = fmin(1.0, fmax(0.0, info.gamma[c] * I + info.alpha));
                    appear_ok &= fabs(got - want) <= 1e-6;
                } else {
                    appear_ok &= got == img[c * plane + i];
                }
            }
    }
    EXPECT_MSG(anomalous > 70 && anomalous < 130, "%d of 200 DPA samples anomalous", anomalous);
    EXPECT_MSG(two_seeds > 20 && two_seeds < anomalous - 20, "%d of %d with two seeds", two_seeds, anomalous);
    EXPECT_MSG(clean_ok, "clean DPA samples unchanged with zero mask");
    EXPECT_MSG(shape_ok, "DPA: seeds < small_area, total < large_area, >= 3 rectangles, one region");
    EXPECT_MSG(union_ok, "DPA mask = union of its rectangles");
    EXPECT_MSG(ranges_ok, "0.1 <= |alpha| < 0.3, 0.6 <= gamma < 1.4");
    EXPECT_MSG(appear_ok, "Ia = clip(gamma I + alpha) inside, I outside, pixel by pixel");
    EXPECT_MSG(det_ok, "DPA rerun reproduces the sample bit for bit");
    free(img); free(out); free(out2); free(mask); free(mask2);
    sn_pseudo_work_free(w);
}

/* pseudo.dpa_strength_min < 1: the same mask and draws as METHOD.md's sample of the same key,
 * alpha and gamma - 1 scaled by one s ~ U[min, 1] drawn after them; the default key is 1. */
static void dpa_strength(void)
{
    const int s = 64;
    sn_pseudo_params p = params(s), pf = p;
    EXPECT(p.dpa_strength_min == 1.0);
    pf.dpa_strength_min = 0.2;
    size_t plane = (size_t)s * s;
    synth sc = {s, 0};
    sn_pseudo_work *w = NULL;
    EXPECT(sn_pseudo_work_create(s, &w) == SN_OK);
    float *img = malloc(sizeof(float) * 3 * plane), *out = malloc(sizeof(float) * 3 * plane);
    float *outf = malloc(sizeof(float) * 3 * plane), *mask = malloc(sizeof(float) * plane);
    float *maskf = malloc(sizeof(float) * plane);
    synth_get(&sc, 2, img);
    int anomalous = 0, same_ok = 1, scale_ok = 1, appear_ok = 1;
    double sum_s = 0, min_s = 1, sum_a = 0, sum_af = 0;
    for (uint64_t k = 0; k < 200; k++) {
        sn_pseudo_key key = {11, SN_RNG_STAGE_REC, 3, k};
        sn_pseudo_info a, b;
        EXPECT(sn_pseudo_dpa(&p, &key, img, w, out, mask, &a) == SN_OK);
        EXPECT(sn_pseudo_dpa(&pf, &key, img, w, outf, maskf, &b) == SN_OK);
        same_ok &= a.anomalous == b.anomalous && memcmp(mask, maskf, sizeof(float) * plane) == 0 &&
                   a.n_rects == b.n_rects && a.area == b.area;
        if (!a.anomalous)
            continue;
        anomalous++;
        scale_ok &= a.strength == 1.0 && b.strength >= 0.2 && b.strength < 1.0 &&
                    fabs(b.alpha - a.alpha * b.strength) < 1e-12;
        for (int c = 0; c < 3; c++)
            scale_ok &= fabs(b.gamma[c] - (1.0 + (a.gamma[c] - 1.0) * b.strength)) < 1e-12;
        sum_s += b.strength;
        min_s = fmin(min_s, b.strength);
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < plane; i++) {
                double I = img[c * plane + i];
                if (maskf[i] == 1.0f) {
                    double want = fmin(1.0, fmax(0.0, b.gamma[c] * I + b.alpha));
                    appear_ok &= fabs(outf[c * plane + i] - want) <= 1e-6;
                    sum_a += fabs(out[c * plane + i] - I);
                    sum_af += fabs(outf[c * plane + i] - I);
                } else {
                    appear_ok &= outf[c * plane + i] == img[c * plane + i];
                }
            }
    }
    EXPECT_MSG(anomalous > 70, "%d of 200 DPA samples anomalous", anomalous);
    EXPECT_MSG(same_ok, "strength < 1 keeps the mask and every draw before it");
    EXPECT_MSG(scale_ok, "alpha and gamma - 1 scaled by s in [0.2, 1); s = 1 at the default");
    EXPECT_MSG(appear_ok, "faint DPA: Ia = clip(gamma I + alpha) inside, I outside");
    /* s ~ U[0.2, 1]: mean 0.6, and some samples near the bottom of the range */
    EXPECT_NEAR(sum_s / anomalous, 0.6, 4 * 0.8 / sqrt(12.0 * anomalous));
    EXPECT_MSG(min_s < 0.3, "smallest strength %.3f", min_s);
    EXPECT_MSG(sum_af < 0.8 * sum_a, "faint DPA changes the image less: %.1f vs %.1f", sum_af, sum_a);
    pf.dpa_strength_min = 1.5;
    EXPECT(sn_pseudo_params_check(&pf) == SN_EINVAL);
    EXPECT(strstr(sn_err_msg(), "pseudo.dpa_strength_min") != NULL);
    sn_err_clear();
    free(img); free(out); free(outf); free(mask); free(maskf);
    sn_pseudo_work_free(w);
}

static void jitter_and_affine(void)
{
    const int s = 16;
    size_t plane = (size_t)s * s;
    float a[3 * 16 * 16], b[3 * 16 * 16], want[3 * 16 * 16];
    for (size_t i = 0; i < 3 * plane; i++)
        a[i] = (float)(0.2 + 0.5 * ((i * 7919) % 97) / 97.0);
    /* Brightness alone. */
    memcpy(b, a, sizeof a);
    sn_pseudo_color_jitter(b, s, 1.25, 1.0, 1.0);
    for (size_t i = 0; i < 3 * plane; i++)
        want[i] = fminf(1.0f, a[i] * 1.25f);
    EXPECT_ALLCLOSE(b, want, 3 * plane, 0, 1e-6, "brightness x1.25 with clipping");
    /* Contrast alone keeps the grey mean (no clipping at 0.8) and scales deviations. */
    memcpy(b, a, sizeof a);
    sn_pseudo_color_jitter(b, s, 1.0, 0.8, 1.0);
    double m0 = 0, m1 = 0;
    for (size_t i = 0; i < plane; i++) {
        m0 += 0.299 * a[i] + 0.587 * a[plane + i] + 0.114 * a[2 * plane + i];
        m1 += 0.299 * b[i] + 0.587 * b[plane + i] + 0.114 * b[2 * plane + i];
    }
    EXPECT_NEAR(m1 / plane, m0 / plane, 1e-6);
    EXPECT_NEAR(b[5] - b[9], 0.8 * (a[5] - a[9]), 1e-6);
    /* Saturation 0 gives the grey image in every channel. */
    memcpy(b, a, sizeof a);
    sn_pseudo_color_jitter(b, s, 1.0, 1.0, 0.0);
    int grey_ok = 1;
    for (size_t i = 0; i < plane; i++) {
        double g = 0.299 * a[i] + 0.587 * a[plane + i] + 0.114 * a[2 * plane + i];
        for (int c = 0; c < 3; c++)
            grey_ok &= fabs(b[c * plane + i] - g) < 1e-6;
    }
    EXPECT_MSG(grey_ok, "saturation 0 gives grey");
    /* Affine identity, and an integer translation with the mirrored border. */
    sn_pseudo_affine(a, s, 0.0, 1.0, 0.0, 0.0, b);
    EXPECT_ALLCLOSE(b, a, 3 * plane, 0, 1e-6, "affine identity");
    sn_pseudo_affine(a, s, 0.0, 1.0, 3.0, -2.0, b);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++) {
                int sy = y - 3, sx = x + 2;
                sy = sy < 0 ? -sy : sy;
                sx = sx > s - 1 ? 2 * (s - 1) - sx : sx;
                want[c * plane + y * s + x] = a[c * plane + sy * s + sx];
            }
    EXPECT_ALLCLOSE(b, want, 3 * plane, 0, 1e-6, "affine translation (3, -2) with reflection");
    /* Scale 2 about the centre c = 7.5: out(p) = in(c + (p - c) / 2), bilinear. */
    sn_pseudo_affine(a, s, 0.0, 2.0, 0.0, 0.0, b);
    /* out(y=7, x=3): source = 7.5 + (-0.5, -4.5)/2 = (7.25, 5.25). */
    double wy = 0.25, wx = 0.25;
    double expect = (1 - wy) * ((1 - wx) * a[7 * s + 5] + wx * a[7 * s + 6]) +
             wy * ((1 - wx) * a[8 * s + 5] + wx * a[8 * s + 6]);
    EXPECT_NEAR(b[7 * s + 3], expect, 1e-6);
}

static void affine_fast_vs_ref(void)
{
    const int sizes[] = {16, 64, 30};
    for (int k = 0; k < 3; k++) {
        int s = sizes[k];
        size_t n = (size_t)3 * s * s;
        float *in = malloc(sizeof(float) * n), *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
        sn_rng r;
        sn_rng_init(&r, 4, 0, 0, (uint64_t)k);
        for (size_t i = 0; i < n; i++)
            in[i] = sn_rng_uniformf(&r);
        for (int t = 0; t < 20; t++) {
            double deg = sn_rng_range(&r, -45, 45), sc = sn_rng_range(&r, 0.9, 1.1);
            double ty = sn_rng_range(&r, -0.1 * s, 0.1 * s), tx = sn_rng_range(&r, -0.1 * s, 0.1 * s);
            if (t == 0)
                deg = 0, sc = 1, ty = 0, tx = 0;
            sn_pseudo_affine(in, s, deg, sc, ty, tx, a);
            sn_pseudo_affine_ref(in, s, deg, sc, ty, tx, b);
            char what[96];
            snprintf(what, sizeof what, "affine fast vs ref S=%d deg=%.2f scale=%.3f t=(%.2f,%.2f)", s, deg, sc, ty, tx);
            EXPECT_ALLCLOSE(a, b, n, 0, 1e-5, what);
        }
        free(in);
        free(a);
        free(b);
    }
}

/* 1,000 draws per kind at S = 64: fraction clean and mean anomaly areas. */
static void statistics(void)
{
    const int s = 64, n = 1000;
    sn_pseudo_params p = params(s);
    size_t plane = (size_t)s * s;
    synth sc = {s, 0};
    sn_image_source src = {4, &sc, synth_get};
    sn_pseudo_work *w = NULL;
    EXPECT(sn_pseudo_work_create(s, &w) == SN_OK);
    float *img = malloc(sizeof(float) * 3 * plane), *out = malloc(sizeof(float) * 3 * plane);
    float *mask = malloc(sizeof(float) * plane);
    synth_get(&sc, 0, img);
    double sd = sqrt(p.p_anomaly * (1 - p.p_anomaly) / n);
    for (int kind = 0; kind < 2; kind++) {
        int clean = 0, fallbacks = 0;
        double area = 0, beta = 0, alpha_pos = 0;
        for (int k = 0; k < n; k++) {
            sn_pseudo_key key = {2026, kind ? SN_RNG_STAGE_REC : SN_RNG_STAGE_SEG, 1, (uint64_t)k};
            sn_pseudo_info info;
            sn_status st = kind ? sn_pseudo_dpa(&p, &key, img, w, out, mask, &info)
                                : sn_pseudo_ppa(&p, &key, img, &src, w, out, mask, &info);
            SN_ASSERT(st == SN_OK);
            if (!info.anomalous) {
                clean++;
                continue;
            }
            area += (double)info.area / (double)plane;
            beta += info.beta;
            alpha_pos += info.alpha > 0;
            fallbacks += info.fallback;
        }
        int an = n - clean;
        double frac = (double)clean / n, mean_area = area / an;
        printf("%s: %d/%d clean (%.3f, expected %.3f), mean anomaly area %.4f S^2, fallbacks %d\n",
               kind ? "DPA" : "PPA", clean, n, frac, 1 - p.p_anomaly, mean_area, fallbacks);
        EXPECT_NEAR(frac, 1 - p.p_anomaly, 4 * sd);
        if (kind == 0) {
            /* Kept regions are at least large_area each; the mean beta is beta_max / 2. */
            EXPECT_MSG(mean_area > p.large_area, "PPA mean area %.4f > large_area", mean_area);
            EXPECT_NEAR(beta / an, p.beta_max / 2, 4 * p.beta_max / sqrt(12.0 * an));
            EXPECT_MSG(fallbacks < an / 50, "PPA fallbacks %d of %d", fallbacks, an);
        } else {
            /* Between the smallest possible seed budget and the bound. */
            EXPECT_MSG(mean_area > 0.25 * p.large_area && mean_area < p.large_area,
                       "DPA mean area %.4f in (0.25, 1) x large_area", mean_area);
            EXPECT_NEAR(alpha_pos / an, 0.5, 4 * 0.5 / sqrt(an));
        }
    }
    free(img); free(out); free(mask);
    sn_pseudo_work_free(w);
}

static void key_independence(void)
{
    /* Neighbouring samples, epochs and stages give different masks. */
    const int s = 64;
    sn_pseudo_params p = params(s);
    p.p_anomaly = 1.0;
    size_t plane = (size_t)s * s;
    sn_pseudo_work *w = NULL;
    EXPECT(sn_pseudo_work_create(s, &w) == SN_OK);
    float *img = calloc(3 * plane, sizeof(float)), *out = malloc(sizeof(float) * 3 * plane);
    float *m0 = malloc(sizeof(float) * plane), *m1 = malloc(sizeof(float) * plane);
    sn_pseudo_key base = {5, SN_RNG_STAGE_REC, 2, 10};
    EXPECT(sn_pseudo_dpa(&p, &base, img, w, out, m0, NULL) == SN_OK);
    sn_pseudo_key v[4] = {{5, SN_RNG_STAGE_REC, 2, 11}, {5, SN_RNG_STAGE_REC, 3, 10},
                          {5, SN_RNG_STAGE_CALIB, 2, 10}, {6, SN_RNG_STAGE_REC, 2, 10}};
    for (int k = 0; k < 4; k++) {
        EXPECT(sn_pseudo_dpa(&p, &v[k], img, w, out, m1, NULL) == SN_OK);
        EXPECT_MSG(memcmp(m0, m1, sizeof(float) * plane) != 0, "key variant %d gives another mask", k);
    }
    /* Scratch made for another size is refused. */
    sn_pseudo_params p2 = params(128);
    EXPECT(sn_pseudo_dpa(&p2, &base, img, w, out, m1, NULL) == SN_EINVAL);
    sn_err_clear();
    free(img); free(out); free(m0); free(m1);
    sn_pseudo_work_free(w);
}

int main(void)
{
    ppa_samples();
    dpa_samples();
    dpa_strength();
    jitter_and_affine();
    affine_fast_vs_ref();
    key_independence();
    statistics();
    return sn_test_finish();
}
