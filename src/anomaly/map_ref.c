/* Reference anomaly map: every step written out directly (direct box sums, bounds-checked
 * convolution, separate resize), used to test the fast kernel of map.c. */
#include "sernet/anomaly_map.h"
#include "anomaly/map_internal.h"

#include <math.h>
#include <string.h>

void sn_map_box_mean_ref(const float *x, int h, int w, int box, float *out)
{
    int r = box / 2;
    double area = (double)box * box;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            double s = 0;
            for (int di = -r; di <= r; di++)
                for (int dj = -r; dj <= r; dj++) {
                    int y = i + di, xx = j + dj;
                    if (y >= 0 && y < h && xx >= 0 && xx < w)
                        s += x[(size_t)y * w + xx];
                }
            out[(size_t)i * w + j] = (float)(s / area);
        }
}

void sn_map_resize_ref(const float *x, int ih, int iw, float *out, int oh, int ow)
{
    float sy = (float)ih / (float)oh, sx = (float)iw / (float)ow;
    for (int o = 0; o < oh; o++) {
        float fy = sy * ((float)o + 0.5f) - 0.5f;
        if (fy < 0)
            fy = 0;
        int y0 = (int)fy;
        int y1 = y0 < ih - 1 ? y0 + 1 : y0;
        float ly1 = fy - (float)y0, ly0 = 1.0f - ly1;
        for (int p = 0; p < ow; p++) {
            float fx = sx * ((float)p + 0.5f) - 0.5f;
            if (fx < 0)
                fx = 0;
            int x0 = (int)fx;
            int x1 = x0 < iw - 1 ? x0 + 1 : x0;
            float lx1 = fx - (float)x0, lx0 = 1.0f - lx1;
            out[(size_t)o * ow + p] =
                ly0 * (lx0 * x[(size_t)y0 * iw + x0] + lx1 * x[(size_t)y0 * iw + x1]) +
                ly1 * (lx0 * x[(size_t)y1 * iw + x0] + lx1 * x[(size_t)y1 * iw + x1]);
        }
    }
}

static float at(const float *x, int h, int w, int i, int j)
{
    return (i < 0 || i >= h || j < 0 || j >= w) ? 0.0f : x[(size_t)i * w + j];
}

/* Prewitt/3 gradient magnitude with zero padding 1. */
static void grad_mag_ref(const float *x, int h, int w, float *m)
{
    static const float kx[3][3] = {{1, 0, -1}, {1, 0, -1}, {1, 0, -1}};
    static const float ky[3][3] = {{1, 1, 1}, {0, 0, 0}, {-1, -1, -1}};
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            float gx = 0, gy = 0;
            for (int di = -1; di <= 1; di++)
                for (int dj = -1; dj <= 1; dj++) {
                    float v = at(x, h, w, i + di, j + dj);
                    gx += kx[di + 1][dj + 1] / 3.0f * v;
                    gy += ky[di + 1][dj + 1] / 3.0f * v;
                }
            m[(size_t)i * w + j] = sqrtf(gx * gx + gy * gy + SN_MAP_GRAD_EPS);
        }
}

sn_status sn_map_compute_ref(const sn_map_params *p, int h, int w, const float *img,
                             const float *rec, float *A, float *dg_out, float *dc_out, float *score)
{
    sn_status status = SN_OK;
    size_t n = (size_t)h * w;
    float *aI = NULL, *bI = NULL, *aR = NULL, *bR = NULL, *raw = NULL, *dc = NULL, *dg = NULL;
    float *pyI = NULL, *pyR = NULL, *mI = NULL, *mR = NULL, *gms = NULL, *up = NULL, *gsum = NULL;
    SN_TRY(sn_map_params_check(p, h, w));
    SN_ALLOC(aI, n, "reference map buffers");
    SN_ALLOC(bI, n, "reference map buffers");
    SN_ALLOC(aR, n, "reference map buffers");
    SN_ALLOC(bR, n, "reference map buffers");
    SN_ALLOC(raw, n, "reference map buffers");
    SN_ALLOC(dc, n, "reference map buffers");
    SN_ALLOC(dg, n, "reference map buffers");
    SN_ALLOC(pyI, 2 * n, "reference map buffers");
    SN_ALLOC(pyR, 2 * n, "reference map buffers");
    SN_ALLOC(mI, n, "reference map buffers");
    SN_ALLOC(mR, n, "reference map buffers");
    SN_ALLOC(gms, n, "reference map buffers");
    SN_ALLOC(up, n, "reference map buffers");
    SN_ALLOC(gsum, n, "reference map buffers");

    /* Colour: (Δa)² + (Δb)², then the box mean. */
    sn_map_lab_ab(img, (int64_t)n, aI, bI);
    sn_map_lab_ab(rec, (int64_t)n, aR, bR);
    for (size_t i = 0; i < n; i++) {
        float da = aI[i] - aR[i], db = bI[i] - bR[i];
        raw[i] = da * da + db * db;
    }
    sn_map_box_mean_ref(raw, h, w, p->box, dc);

    /* Structure: per channel, mean over scales of the resized GMS maps. */
    memset(raw, 0, n * sizeof *raw);
    for (int c = 0; c < 3; c++) {
        /* pyramid level s lives at offset off in pyI/pyR */
        memcpy(pyI, img + c * n, n * sizeof *pyI);
        memcpy(pyR, rec + c * n, n * sizeof *pyR);
        memset(gsum, 0, n * sizeof *gsum);
        size_t off = 0;
        int sh = h, sw = w;
        for (int s = 0; s < p->scales; s++) {
            if (s > 0) {
                size_t prev = off;
                off += (size_t)sh * sw;
                sn_map_pool2(pyI + prev, sh, sw, pyI + off);
                sn_map_pool2(pyR + prev, sh, sw, pyR + off);
                sh /= 2;
                sw /= 2;
            }
            grad_mag_ref(pyI + off, sh, sw, mI);
            grad_mag_ref(pyR + off, sh, sw, mR);
            for (size_t i = 0; i < (size_t)sh * sw; i++)
                gms[i] = (2.0f * mI[i] * mR[i] + SN_MAP_GMS_C) /
                         (mI[i] * mI[i] + mR[i] * mR[i] + SN_MAP_GMS_C);
            if (s > 0 && p->erode > 1) { /* 1 − GMS eroded: GMS's k x k maximum, in bounds */
                int r = p->erode / 2;
                for (int i = 0; i < sh; i++)
                    for (int j = 0; j < sw; j++) {
                        float m = -INFINITY;
                        for (int di = -r; di <= r; di++)
                            for (int dj = -r; dj <= r; dj++)
                                if (i + di >= 0 && i + di < sh && j + dj >= 0 && j + dj < sw &&
                                    gms[(size_t)(i + di) * sw + j + dj] > m)
                                    m = gms[(size_t)(i + di) * sw + j + dj];
                        mI[(size_t)i * sw + j] = m;
                    }
                memcpy(gms, mI, (size_t)sh * sw * sizeof *gms);
            }
            sn_map_resize_ref(gms, sh, sw, up, h, w);
            for (size_t i = 0; i < n; i++)
                gsum[i] += up[i];
        }
        for (size_t i = 0; i < n; i++)
            raw[i] += (1.0f - gsum[i] / (float)p->scales) / 3.0f;
    }
    sn_map_box_mean_ref(raw, h, w, p->box, dg);

    float best = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float a = dg[i] + (float)p->color_weight * dc[i];
        if (!isfinite(a))
            SN_FAIL(SN_ENONFINITE, "anomaly map: non-finite value at pixel (%zu, %zu)", i / (size_t)w,
                    i % (size_t)w);
        if (A)
            A[i] = a;
        if (a > best)
            best = a;
    }
    if (dg_out)
        memcpy(dg_out, dg, n * sizeof *dg);
    if (dc_out)
        memcpy(dc_out, dc, n * sizeof *dc);
    if (score && sn_map_params_separate_score(p)) {
        sn_map_params sp;
        sn_map_params_score(p, &sp);
        SN_TRY(sn_map_compute_ref(&sp, h, w, img, rec, NULL, NULL, NULL, score));
    } else if (score) {
        *score = best;
    }
done:
    sn_free(aI); sn_free(bI); sn_free(aR); sn_free(bR); sn_free(raw); sn_free(dc); sn_free(dg);
    sn_free(pyI); sn_free(pyR); sn_free(mI); sn_free(mR); sn_free(gms); sn_free(up); sn_free(gsum);
    return status;
}
