/* Antialiased triangle-filter resizing (see src/include/sernet/resize.h). */
#include "sernet/resize.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    int *first; /* first input index of each output sample */
    int *n;     /* number of taps */
    float *w;   /* taps, `stride` per output sample */
    int stride;
} taps;

static float tent(float x)
{
    x = fabsf(x);
    return x < 1.0f ? 1.0f - x : 0.0f;
}

/* Output sample o covers input positions around centre (o + 0.5) * scale. */
static void tap_range(int in, int out, int o, double *center, double *fs, int *lo, int *hi)
{
    double scale = (double)in / out;
    *fs = scale > 1.0 ? scale : 1.0;
    double support = *fs;
    *center = (o + 0.5) * scale;
    *lo = (int)floor(*center - support + 0.5);
    *hi = (int)floor(*center + support + 0.5);
    if (*lo < 0)
        *lo = 0;
    if (*hi > in)
        *hi = in;
}

static sn_status make_taps(int in, int out, taps *t)
{
    sn_status status = SN_OK;
    double scale = (double)in / out;
    double fs = scale > 1.0 ? scale : 1.0;
    t->stride = (int)ceil(2 * fs) + 2;
    t->first = malloc(sizeof(int) * out);
    t->n = malloc(sizeof(int) * out);
    t->w = malloc(sizeof(float) * (size_t)out * t->stride);
    if (!t->first || !t->n || !t->w)
        SN_FAIL(SN_ENOMEM, "resize: cannot allocate filter taps for %d -> %d", in, out);
    for (int o = 0; o < out; o++) {
        double center, f;
        int lo, hi;
        tap_range(in, out, o, &center, &f, &lo, &hi);
        if (hi - lo > t->stride)
            hi = lo + t->stride;
        float *w = t->w + (size_t)o * t->stride;
        double sum = 0;
        for (int x = lo; x < hi; x++) {
            w[x - lo] = tent((float)((x + 0.5 - center) / f));
            sum += w[x - lo];
        }
        for (int x = lo; x < hi; x++)
            w[x - lo] = sum > 0 ? (float)(w[x - lo] / sum) : 0.0f;
        t->first[o] = lo;
        t->n[o] = hi - lo;
    }
done:
    return status;
}

static void free_taps(taps *t)
{
    free(t->first);
    free(t->n);
    free(t->w);
}

sn_status sn_resize_f32(const float *in, int w, int h, int c, float *out, int ow, int oh)
{
    sn_status status = SN_OK;
    taps tx = {0}, ty = {0};
    float *tmp = NULL;
    if (w <= 0 || h <= 0 || ow <= 0 || oh <= 0 || c <= 0)
        SN_FAIL(SN_EINVAL, "resize: bad sizes %dx%d -> %dx%d (%d channels)", w, h, ow, oh, c);
    SN_TRY(make_taps(w, ow, &tx));
    SN_TRY(make_taps(h, oh, &ty));
    SN_ALLOC(tmp, (size_t)h * ow * c, "resize buffer");
    for (int y = 0; y < h; y++) {
        const float *row = in + (size_t)y * w * c;
        float *o = tmp + (size_t)y * ow * c;
        for (int x = 0; x < ow; x++) {
            const float *wt = tx.w + (size_t)x * tx.stride;
            for (int k = 0; k < c; k++) {
                float s = 0;
                for (int j = 0; j < tx.n[x]; j++)
                    s += wt[j] * row[(size_t)(tx.first[x] + j) * c + k];
                o[(size_t)x * c + k] = s;
            }
        }
    }
    for (int y = 0; y < oh; y++) {
        const float *wt = ty.w + (size_t)y * ty.stride;
        float *o = out + (size_t)y * ow * c;
        for (size_t i = 0; i < (size_t)ow * c; i++)
            o[i] = 0;
        for (int j = 0; j < ty.n[y]; j++) {
            const float *r = tmp + (size_t)(ty.first[y] + j) * ow * c;
            for (size_t i = 0; i < (size_t)ow * c; i++)
                o[i] += wt[j] * r[i];
        }
    }
done:
    free_taps(&tx);
    free_taps(&ty);
    sn_free(tmp);
    return status;
}

sn_status sn_resize_u8(const uint8_t *in, int w, int h, int c, uint8_t *out, int ow, int oh)
{
    sn_status status = SN_OK;
    float *fi = NULL, *fo = NULL;
    if (w <= 0 || h <= 0 || ow <= 0 || oh <= 0 || c <= 0)
        SN_FAIL(SN_EINVAL, "resize: bad sizes %dx%d -> %dx%d (%d channels)", w, h, ow, oh, c);
    SN_ALLOC(fi, (size_t)w * h * c, "resize input");
    SN_ALLOC(fo, (size_t)ow * oh * c, "resize output");
    for (size_t i = 0; i < (size_t)w * h * c; i++)
        fi[i] = in[i];
    SN_TRY(sn_resize_f32(fi, w, h, c, fo, ow, oh));
    for (size_t i = 0; i < (size_t)ow * oh * c; i++) {
        float v = floorf(fo[i] + 0.5f);
        out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
done:
    sn_free(fi);
    sn_free(fo);
    return status;
}

void sn_resize_f32_ref(const float *in, int w, int h, int c, float *out, int ow, int oh)
{
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            double cx, cy, fx, fy;
            int x0, x1, y0, y1;
            tap_range(w, ow, ox, &cx, &fx, &x0, &x1);
            tap_range(h, oh, oy, &cy, &fy, &y0, &y1);
            for (int k = 0; k < c; k++) {
                double s = 0, ws = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) {
                        double wt = (double)tent((float)((x + 0.5 - cx) / fx)) *
                                    tent((float)((y + 0.5 - cy) / fy));
                        s += wt * in[((size_t)y * w + x) * c + k];
                        ws += wt;
                    }
                out[((size_t)oy * ow + ox) * c + k] = ws > 0 ? (float)(s / ws) : 0.0f;
            }
        }
}
