#include "sernet/tensor.h"

#include <string.h>

sn_status sn_tensor_alloc(sn_tensor *t, int n, int c, int h, int w, const char *what)
{
    SN_ASSERT(n >= 0 && c >= 0 && h >= 0 && w >= 0);
    t->n = n; t->c = c; t->h = h; t->w = w;
    t->data = sn_alloc(sn_tensor_numel(t) * sizeof(float), what);
    t->owns = t->data != NULL;
    t->cap = t->owns ? sn_tensor_numel(t) : 0;
    return t->data ? SN_OK : SN_ENOMEM;
}

sn_status sn_tensor_zeros(sn_tensor *t, int n, int c, int h, int w, const char *what)
{
    sn_status st = sn_tensor_alloc(t, n, c, h, w, what);
    if (st == SN_OK)
        memset(t->data, 0, sn_tensor_numel(t) * sizeof(float));
    return st;
}

sn_status sn_tensor_ensure(sn_tensor *t, int n, int c, int h, int w, const char *what)
{
    size_t need = (size_t)n * c * h * w;
    if (t->data && t->owns && t->cap >= need) {
        t->n = n; t->c = c; t->h = h; t->w = w;
        return SN_OK;
    }
    sn_tensor_free(t);
    return sn_tensor_alloc(t, n, c, h, w, what);
}

sn_tensor sn_tensor_view(float *data, int n, int c, int h, int w)
{
    sn_tensor t = {n, c, h, w, data, 0, 0};
    return t;
}

void sn_tensor_free(sn_tensor *t)
{
    if (t->owns)
        sn_free(t->data);
    t->data = NULL;
    t->owns = 0;
    t->cap = 0;
    t->n = t->c = t->h = t->w = 0;
}

void sn_tensor_fill(sn_tensor *t, float v)
{
    size_t n = sn_tensor_numel(t);
    for (size_t i = 0; i < n; i++)
        t->data[i] = v;
}

void sn_tensor_from_u8_hwc(const uint8_t *hwc, int n, int s, float *chw)
{
    /* A table keeps the per-pixel division out of the loop and makes every path use the same
     * 256 values; (1.0f / 255) * v differs from v / 255.0f by one ulp for about half of them. */
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = (float)v / 255.0f;
    const size_t plane = (size_t)s * s;
    for (int i = 0; i < n; i++) {
        const uint8_t *src = hwc + (size_t)i * plane * 3;
        float *dst = chw + (size_t)i * plane * 3;
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++)
                dst[c * plane + p] = lut[src[p * 3 + c]];
    }
}
