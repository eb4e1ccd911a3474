/* Fast anomaly map: one pass for the colour term, a padded-buffer Prewitt gradient per scale,
 * precomputed resize coordinates accumulating every scale straight into one sum, and a box
 * mean of O(1) cost per pixel (sliding window sums in double, separable). By linearity one box
 * mean of g + c*dc gives Dg + c*Dc. */
#include "sernet/anomaly_map.h"
#include "anomaly/map_internal.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

struct sn_map_ws {
    sn_map_params p;
    int h, w;
    int sh[SN_MAP_MAX_SCALES], sw[SN_MAP_MAX_SCALES];
    size_t off[SN_MAP_MAX_SCALES];
    float *pyI, *pyR;   /* pooled scales s >= 1 of one channel */
    float *pad;         /* (h+2) x (w+2) zero-padded scratch */
    float *mI, *mR;     /* gradient magnitudes at the current scale */
    float *acc;         /* sum over channels and scales of GMS, at h x w */
    float *comb;        /* g + c*dc before the box mean */
    double *hsum;       /* horizontal window sums */
    double *col;        /* running vertical sums, one per column */
    int *rx0, *rx1, *ry0, *ry1; /* resize coordinates per scale: [scales][w], [scales][h] */
    float *rlx, *rly;
    sn_map_ws *score_ws; /* the image score's map when it differs from A's, else NULL */
};

void sn_map_ws_free(sn_map_ws *ws)
{
    if (!ws)
        return;
    sn_free(ws->pyI); sn_free(ws->pyR); sn_free(ws->pad); sn_free(ws->mI); sn_free(ws->mR);
    sn_free(ws->acc); sn_free(ws->comb); sn_free(ws->hsum); sn_free(ws->col);
    sn_free(ws->rx0); sn_free(ws->rx1); sn_free(ws->ry0); sn_free(ws->ry1);
    sn_free(ws->rlx); sn_free(ws->rly);
    sn_map_ws_free(ws->score_ws);
    sn_free(ws);
}

sn_status sn_map_ws_create(const sn_map_params *p, int h, int w, sn_map_ws **out)
{
    sn_status status = SN_OK;
    sn_map_ws *ws = NULL;
    *out = NULL;
    SN_TRY(sn_map_params_check(p, h, w));
    SN_CALLOC(ws, 1, "anomaly map workspace");
    ws->p = *p;
    ws->h = h;
    ws->w = w;
    size_t n = (size_t)h * w, total = 0;
    for (int s = 0; s < p->scales; s++) {
        ws->sh[s] = h >> s;
        ws->sw[s] = w >> s;
        ws->off[s] = total;
        if (s > 0)
            total += (size_t)ws->sh[s] * ws->sw[s];
    }
    SN_ALLOC(ws->pyI, total + 1, "anomaly map workspace");
    SN_ALLOC(ws->pyR, total + 1, "anomaly map workspace");
    SN_CALLOC(ws->pad, (size_t)(h + 2) * (w + 2), "anomaly map workspace");
    SN_ALLOC(ws->mI, n, "anomaly map workspace");
    SN_ALLOC(ws->mR, n, "anomaly map workspace");
    SN_ALLOC(ws->acc, n, "anomaly map workspace");
    SN_ALLOC(ws->comb, n, "anomaly map workspace");
    SN_ALLOC(ws->hsum, n, "anomaly map workspace");
    SN_ALLOC(ws->col, (size_t)w, "anomaly map workspace");
    SN_ALLOC(ws->rx0, (size_t)p->scales * w, "anomaly map workspace");
    SN_ALLOC(ws->rx1, (size_t)p->scales * w, "anomaly map workspace");
    SN_ALLOC(ws->rlx, (size_t)p->scales * w, "anomaly map workspace");
    SN_ALLOC(ws->ry0, (size_t)p->scales * h, "anomaly map workspace");
    SN_ALLOC(ws->ry1, (size_t)p->scales * h, "anomaly map workspace");
    SN_ALLOC(ws->rly, (size_t)p->scales * h, "anomaly map workspace");
    for (int s = 0; s < p->scales; s++) {
        sn_map_resize_coords(ws->sw[s], w, ws->rx0 + (size_t)s * w, ws->rx1 + (size_t)s * w,
                             ws->rlx + (size_t)s * w);
        sn_map_resize_coords(ws->sh[s], h, ws->ry0 + (size_t)s * h, ws->ry1 + (size_t)s * h,
                             ws->rly + (size_t)s * h);
    }
    if (sn_map_params_separate_score(p)) {
        sn_map_params sp;
        sn_map_params_score(p, &sp);
        SN_TRY(sn_map_ws_create(&sp, h, w, &ws->score_ws));
    }
    *out = ws;
    ws = NULL;
done:
    sn_map_ws_free(ws);
    return status;
}

/* Box mean in time independent of the box size: horizontal then vertical sliding sums, both
 * in double (the window sum is updated by one add and one subtract per pixel; the rounding
 * error stays below (h + w) * 2^-53 * max|x| * box², far under float resolution). */
static void box_mean(const float *x, int h, int w, int box, double *hsum, double *col, float *out)
{
    int r = box / 2;
    for (int i = 0; i < h; i++) {
        const float *row = x + (size_t)i * w;
        double *hs = hsum + (size_t)i * w;
        double s = 0;
        for (int k = 0; k <= r && k < w; k++)
            s += row[k];
        hs[0] = s;
        for (int j = 1; j < w; j++) {
            if (j + r < w)
                s += row[j + r];
            if (j - r - 1 >= 0)
                s -= row[j - r - 1];
            hs[j] = s;
        }
    }
    double inv = 1.0 / ((double)box * box);
    for (int j = 0; j < w; j++)
        col[j] = 0;
    for (int k = 0; k <= r && k < h; k++)
        for (int j = 0; j < w; j++)
            col[j] += hsum[(size_t)k * w + j];
    for (int i = 0; i < h; i++) {
        if (i > 0) {
            const double *add = i + r < h ? hsum + (size_t)(i + r) * w : NULL;
            const double *sub = i - r - 1 >= 0 ? hsum + (size_t)(i - r - 1) * w : NULL;
            if (add)
                for (int j = 0; j < w; j++)
                    col[j] += add[j];
            if (sub)
                for (int j = 0; j < w; j++)
                    col[j] -= sub[j];
        }
        float *o = out + (size_t)i * w;
        for (int j = 0; j < w; j++)
            o[j] = (float)(col[j] * inv);
    }
}

sn_status sn_map_box_mean(const float *x, int h, int w, int box, float *out)
{
    sn_status status = SN_OK;
    double *hsum = NULL, *col = NULL;
    if (h < 1 || w < 1 || box < 1 || box % 2 == 0)
        SN_FAIL(SN_EINVAL, "box mean: size %dx%d, box %d; expected positive sizes and an odd box", h, w, box);
    SN_ALLOC(hsum, (size_t)h * w, "box mean buffer");
    SN_ALLOC(col, (size_t)w, "box mean buffer");
    box_mean(x, h, w, box, hsum, col, out);
done:
    sn_free(hsum);
    sn_free(col);
    return status;
}

/* Without -ftrapping-math GCC may compute both sides of the branch-free selects below, and
 * without errno handling sqrtf is one instruction, so the pixel loops vectorise (sernet never
 * enables floating-point traps nor reads errno after maths functions). */
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math", "no-math-errno")
/* CIELAB a, b without libm calls so the pixel loop vectorises: x^2.4 = x^2 * (x^(1/5))^2 and
 * t^(1/3) by Newton iterations in double from a bit-level first guess (relative error of the
 * guess < 1/8, after 4 resp. 3 quadratic steps far below float resolution); the reference
 * (map_common.c) uses powf/cbrtf and the tests hold the two together. */
static inline double guess_root(float x, uint32_t k, uint32_t bias)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = u / k + bias;
    float y;
    memcpy(&y, &u, sizeof y);
    return (double)y;
}

static inline float lin_fast(float c)
{
    double x = ((double)(c > 0.04045f ? c : 0.04045f) + 0.055) / 1.055;
    double r = guess_root((float)x, 5u, 852282572u); /* (4/5) * bits of 1.0f */
    double r2;
    r2 = r * r; r = 0.8 * r + 0.2 * x / (r2 * r2);
    r2 = r * r; r = 0.8 * r + 0.2 * x / (r2 * r2);
    r2 = r * r; r = 0.8 * r + 0.2 * x / (r2 * r2);
    r2 = r * r; r = 0.8 * r + 0.2 * x / (r2 * r2);
    float p = (float)(x * x * r * r);
    float lin = c / 12.92f; /* computed unconditionally: the select below then vectorises */
    return c <= 0.04045f ? lin : p;
}

static inline float labf_fast(float t)
{
    double x = t > 0.008856f ? t : 0.008856f;
    double y = guess_root((float)x, 3u, 710235477u); /* (2/3) * bits of 1.0f */
    y = (2.0 * y + x / (y * y)) * (1.0 / 3.0);
    y = (2.0 * y + x / (y * y)) * (1.0 / 3.0);
    y = (2.0 * y + x / (y * y)) * (1.0 / 3.0);
    float lin = 7.787f * t + 4.0f / 29.0f, cb = (float)y;
    return t > 0.008856f ? cb : lin;
}

static inline void lab_ab_fast(float r, float g, float b, float *a_out, float *b_out)
{
    r = lin_fast(r);
    g = lin_fast(g);
    b = lin_fast(b);
    float X = (0.412453f * r + 0.357580f * g + 0.180423f * b) / 0.95047f;
    float Y = 0.212671f * r + 0.715160f * g + 0.072169f * b;
    float Z = (0.019334f * r + 0.119193f * g + 0.950227f * b) / 1.08883f;
    float fx = labf_fast(X), fy = labf_fast(Y), fz = labf_fast(Z);
    *a_out = 500.0f * (fx - fy);
    *b_out = 200.0f * (fy - fz);
}

void sn_map_lab_ab_fast(const float *rgb, int64_t n, float *a, float *b)
{
    for (int64_t i = 0; i < n; i++)
        lab_ab_fast(rgb[i], rgb[n + i], rgb[2 * n + i], &a[i], &b[i]);
}

/* dc[i] = (Δa)² + (Δb)² of the two CHW images. */
static void colour_diff(const float *img, const float *rec, size_t n, float *dc)
{
    for (size_t i = 0; i < n; i++) {
        float aI, bI, aR, bR;
        lab_ab_fast(img[i], img[n + i], img[2 * n + i], &aI, &bI);
        lab_ab_fast(rec[i], rec[n + i], rec[2 * n + i], &aR, &bR);
        float da = aI - aR, db = bI - bR;
        dc[i] = da * da + db * db;
    }
}
/* Squared Prewitt/3 gradient magnitude (+1e-12) of an h x w map through the zero-padded scratch. */
static void grad_mag(const float *x, int h, int w, float *pad, float *m)
{
    int pw = w + 2;
    for (int j = 0; j < pw; j++) {
        pad[j] = 0;
        pad[(size_t)(h + 1) * pw + j] = 0;
    }
    for (int i = 0; i < h; i++) {
        float *pr = pad + (size_t)(i + 1) * pw;
        pr[0] = 0;
        pr[w + 1] = 0;
        memcpy(pr + 1, x + (size_t)i * w, (size_t)w * sizeof *x);
    }
    const float third = 1.0f / 3.0f;
    for (int i = 0; i < h; i++) {
        const float *a = pad + (size_t)i * pw, *b = a + pw, *c = b + pw;
        float *mo = m + (size_t)i * w;
        for (int j = 0; j < w; j++) {
            float gx = (a[j] + b[j] + c[j]) - (a[j + 2] + b[j + 2] + c[j + 2]);
            float gy = (a[j] + a[j + 1] + a[j + 2]) - (c[j] + c[j + 1] + c[j + 2]);
            gx *= third;
            gy *= third;
            mo[j] = gx * gx + gy * gy + SN_MAP_GRAD_EPS; /* m², see gms_inplace */
        }
    }
}

/* GMS of the current scale written in place into mI, from the squared magnitudes:
 * 2 m1 m2 = 2 sqrt(m1² m2²), one square root per pixel pair. */
static void gms_inplace(float *mI, const float *mR, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float q1 = mI[i], q2 = mR[i];
        mI[i] = (2.0f * sqrtf(q1 * q2) + SN_MAP_GMS_C) / (q1 + q2 + SN_MAP_GMS_C);
    }
}
#pragma GCC pop_options

/* msgms_erode: the k x k maximum of GMS over the in-bounds neighbours (the minimum of 1 − GMS),
 * separable: rows into tmp, then columns into out. */
static void max_filter(const float *x, int h, int w, int k, float *tmp, float *out)
{
    const int r = k / 2;
    for (int i = 0; i < h; i++) {
        const float *row = x + (size_t)i * w;
        float *t = tmp + (size_t)i * w;
        for (int j = 0; j < w; j++) {
            int lo = j - r < 0 ? 0 : j - r, hi = j + r >= w ? w - 1 : j + r;
            float m = row[lo];
            for (int q = lo + 1; q <= hi; q++)
                m = row[q] > m ? row[q] : m;
            t[j] = m;
        }
    }
    for (int i = 0; i < h; i++) {
        int lo = i - r < 0 ? 0 : i - r, hi = i + r >= h ? h - 1 : i + r;
        float *o = out + (size_t)i * w;
        memcpy(o, tmp + (size_t)lo * w, (size_t)w * sizeof *o);
        for (int q = lo + 1; q <= hi; q++) {
            const float *t = tmp + (size_t)q * w;
            for (int j = 0; j < w; j++)
                o[j] = t[j] > o[j] ? t[j] : o[j];
        }
    }
}

sn_status sn_map_compute(sn_map_ws *ws, const float *img, const float *rec, float *A, float *score)
{
    sn_status status = SN_OK;
    const int h = ws->h, w = ws->w, S = ws->p.scales;
    const size_t n = (size_t)h * w;
    float *acc = ws->acc, *comb = ws->comb;

    memset(acc, 0, n * sizeof *acc);
    for (int c = 0; c < 3; c++) {
        const float *xI = img + c * n, *xR = rec + c * n;
        for (int s = 0; s < S; s++) {
            const int sh = ws->sh[s], sw = ws->sw[s];
            const float *lI = xI, *lR = xR;
            if (s > 0) {
                const float *pI = s == 1 ? xI : ws->pyI + ws->off[s - 1];
                const float *pR = s == 1 ? xR : ws->pyR + ws->off[s - 1];
                sn_map_pool2(pI, ws->sh[s - 1], ws->sw[s - 1], ws->pyI + ws->off[s]);
                sn_map_pool2(pR, ws->sh[s - 1], ws->sw[s - 1], ws->pyR + ws->off[s]);
                lI = ws->pyI + ws->off[s];
                lR = ws->pyR + ws->off[s];
            }
            grad_mag(lI, sh, sw, ws->pad, ws->mI);
            grad_mag(lR, sh, sw, ws->pad, ws->mR);
            gms_inplace(ws->mI, ws->mR, (size_t)sh * sw);
            const float *g = ws->mI;
            if (s > 0 && ws->p.erode > 1) { /* mR and pad are free until the next scale */
                max_filter(ws->mI, sh, sw, ws->p.erode, ws->pad, ws->mR);
                g = ws->mR;
            }
            if (s == 0) {
                for (size_t i = 0; i < n; i++)
                    acc[i] += g[i];
                continue;
            }
            const int *x0 = ws->rx0 + (size_t)s * w, *x1 = ws->rx1 + (size_t)s * w;
            const int *y0 = ws->ry0 + (size_t)s * h, *y1 = ws->ry1 + (size_t)s * h;
            const float *lx = ws->rlx + (size_t)s * w, *ly = ws->rly + (size_t)s * h;
            for (int o = 0; o < h; o++) {
                const float *r0 = g + (size_t)y0[o] * sw, *r1 = g + (size_t)y1[o] * sw;
                float b1 = ly[o], b0 = 1.0f - b1;
                float *ao = acc + (size_t)o * w;
                for (int p = 0; p < w; p++) {
                    float a1 = lx[p], a0 = 1.0f - a1;
                    ao[p] += b0 * (a0 * r0[x0[p]] + a1 * r0[x1[p]]) + b1 * (a0 * r1[x0[p]] + a1 * r1[x1[p]]);
                }
            }
        }
    }
    const float cw = (float)ws->p.color_weight, inv = 1.0f / (float)(3 * S);
    colour_diff(img, rec, n, comb);
    for (size_t i = 0; i < n; i++)
        comb[i] = (1.0f - acc[i] * inv) + cw * comb[i];
    float *out = A ? A : acc; /* acc is free again */
    box_mean(comb, h, w, ws->p.box, ws->hsum, ws->col, out);
    float best = -INFINITY;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        finite &= isfinite(out[i]) != 0;
        best = out[i] > best ? out[i] : best;
    }
    if (!finite) {
        for (size_t i = 0; i < n; i++)
            if (!isfinite(out[i]))
                SN_FAIL(SN_ENONFINITE, "anomaly map: non-finite value at pixel (%zu, %zu); is the input finite?",
                        i / (size_t)w, i % (size_t)w);
    }
    if (score && ws->score_ws)
        SN_TRY(sn_map_compute(ws->score_ws, img, rec, NULL, score));
    else if (score)
        *score = best;
done:
    return status;
}

sn_status sn_map_compute_batch(const sn_map_params *p, int64_t n, int h, int w, const float *img,
                               const float *rec, float *A, float *scores)
{
    sn_status status = SN_OK;
    SN_TRY(sn_map_params_check(p, h, w));
    const size_t px = (size_t)h * w;
    int64_t failed = -1;
    sn_status fail_st = SN_OK;
    char msg[512] = "";
#pragma omp parallel
    {
        sn_map_ws *ws = NULL;
        sn_status st = sn_map_ws_create(p, h, w, &ws);
        if (st != SN_OK) {
#pragma omp critical(sn_map_batch)
            if (failed < 0) {
                failed = 0;
                fail_st = st;
                snprintf(msg, sizeof msg, "%s", sn_err_msg());
            }
            sn_err_clear();
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < n; k++) {
            if (st != SN_OK)
                continue;
            float sc = 0;
            sn_status s2 = sn_map_compute(ws, img + (size_t)k * 3 * px, rec + (size_t)k * 3 * px,
                                          A ? A + (size_t)k * px : NULL, &sc);
            if (s2 != SN_OK) {
#pragma omp critical(sn_map_batch)
                if (failed < 0 || k < failed) {
                    failed = k;
                    fail_st = s2;
                    snprintf(msg, sizeof msg, "%s", sn_err_msg());
                }
                sn_err_clear();
            } else if (scores) {
                scores[k] = sc;
            }
        }
        sn_map_ws_free(ws);
    }
    if (failed >= 0)
        SN_FAIL(fail_st, "anomaly map of image %lld: %s", (long long)failed, msg);
done:
    return status;
}
