/* Element-wise layers, 2x2 max-pool, bilinear x2 up-sampling and channel concatenation.
 * Every kernel loops over (image, channel) planes in parallel. */
#include "sernet/nn.h"

#include <math.h>
#include <string.h>

/* x, y: [N, C, H, W] */
void relu_forward(const sn_tensor *x, sn_tensor *y)
{
    const size_t n = sn_tensor_numel(x);
    SN_ASSERT(sn_tensor_numel(y) == n);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        y->data[i] = x->data[i] < 0.0f ? 0.0f : x->data[i]; /* NaN passes, as in PyTorch */
}

/* y: relu output; dy, dx: [N, C, H, W] */
void relu_backward(const sn_tensor *y, const sn_tensor *dy, sn_tensor *dx)
{
    const size_t n = sn_tensor_numel(y);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        dx->data[i] = y->data[i] > 0.0f ? dy->data[i] : 0.0f;
}

/* x, y: [N, C, H, W] */
void sigmoid_forward(const sn_tensor *x, sn_tensor *y)
{
    const size_t n = sn_tensor_numel(x);
    SN_ASSERT(sn_tensor_numel(y) == n);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        y->data[i] = 1.0f / (1.0f + expf(-x->data[i]));
}

/* y: sigmoid output; dy, dx: [N, C, H, W] */
void sigmoid_backward(const sn_tensor *y, const sn_tensor *dy, sn_tensor *dx)
{
    const size_t n = sn_tensor_numel(y);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float s = y->data[i];
        dx->data[i] = dy->data[i] * s * (1.0f - s);
    }
}

/* x: [N, C, H, W] -> y: [N, C, H/2, W/2] */
void maxpool2_forward(const sn_tensor *x, sn_tensor *y)
{
    const int h = x->h, w = x->w, oh = h / 2, ow = w / 2;
    SN_ASSERT(h % 2 == 0 && w % 2 == 0 && y->h == oh && y->w == ow && y->c == x->c && y->n == x->n);
    const long planes = (long)x->n * x->c;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *p = x->data + (size_t)pl * h * w;
        float *q = y->data + (size_t)pl * oh * ow;
        for (int i = 0; i < oh; i++) {
            const float *r0 = p + (size_t)(2 * i) * w, *r1 = r0 + w;
            for (int j = 0; j < ow; j++) {
                float m = r0[2 * j];
                m = r0[2 * j + 1] > m ? r0[2 * j + 1] : m;
                m = r1[2 * j] > m ? r1[2 * j] : m;
                m = r1[2 * j + 1] > m ? r1[2 * j + 1] : m;
                q[(size_t)i * ow + j] = m;
            }
        }
    }
}

/* x: [N, C, H, W], dy: [N, C, H/2, W/2]; dx += routed gradient */
void maxpool2_backward(const sn_tensor *x, const sn_tensor *dy, sn_tensor *dx)
{
    const int h = x->h, w = x->w, oh = h / 2, ow = w / 2;
    const long planes = (long)x->n * x->c;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *p = x->data + (size_t)pl * h * w;
        const float *g = dy->data + (size_t)pl * oh * ow;
        float *d = dx->data + (size_t)pl * h * w;
        for (int i = 0; i < oh; i++) {
            for (int j = 0; j < ow; j++) {
                const size_t a = (size_t)(2 * i) * w + 2 * j;
                const size_t cand[4] = {a, a + 1, a + w, a + w + 1};
                size_t best = cand[0];
                for (int q = 1; q < 4; q++)
                    if (p[cand[q]] > p[best])
                        best = cand[q];
                d[best] += g[(size_t)i * ow + j];
            }
        }
    }
}

/* As maxpool2_forward, recording the winner of each window (0..3, raster order): the same
 * comparisons as maxpool2_backward makes, so maxpool2_backward_arg routes identically. */
void maxpool2_forward_arg(const sn_tensor *x, sn_tensor *y, uint8_t *arg)
{
    const int h = x->h, w = x->w, oh = h / 2, ow = w / 2;
    SN_ASSERT(h % 2 == 0 && w % 2 == 0 && y->h == oh && y->w == ow && y->c == x->c && y->n == x->n);
    const long planes = (long)x->n * x->c;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *p = x->data + (size_t)pl * h * w;
        float *q = y->data + (size_t)pl * oh * ow;
        uint8_t *ap = arg + (size_t)pl * oh * ow;
        for (int i = 0; i < oh; i++) {
            const float *r0 = p + (size_t)(2 * i) * w, *r1 = r0 + w;
            for (int j = 0; j < ow; j++) {
                const float v[4] = {r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
                int best = 0;
                for (int k = 1; k < 4; k++)
                    if (v[k] > v[best])
                        best = k;
                q[(size_t)i * ow + j] = v[best];
                ap[(size_t)i * ow + j] = (uint8_t)best;
            }
        }
    }
}

/* arg: from maxpool2_forward_arg; dy: [N, C, H/2, W/2]; dx: [N, C, H, W] += routed gradient */
void maxpool2_backward_arg(const uint8_t *arg, const sn_tensor *dy, sn_tensor *dx)
{
    const int h = dx->h, w = dx->w, oh = h / 2, ow = w / 2;
    SN_ASSERT(dy->h == oh && dy->w == ow && dy->c == dx->c && dy->n == dx->n);
    const long planes = (long)dx->n * dx->c;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const uint8_t *ap = arg + (size_t)pl * oh * ow;
        const float *g = dy->data + (size_t)pl * oh * ow;
        float *d = dx->data + (size_t)pl * h * w;
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                const int k = ap[(size_t)i * ow + j];
                d[(size_t)(2 * i + (k >> 1)) * w + 2 * j + (k & 1)] += g[(size_t)i * ow + j];
            }
    }
}

/* Source coordinate of output index o for a x2 up-sampling with half-pixel centres:
 * s = max(0, (o + 0.5) / 2 - 0.5); taps i0 = floor(s), i1 = min(i0 + 1, n - 1). */
static void up_taps(int o, int n, int *i0, int *i1, float *l1)
{
    float s = ((float)o + 0.5f) * 0.5f - 0.5f;
    if (s < 0.0f)
        s = 0.0f;
    int a = (int)s;
    *i0 = a;
    *i1 = a < n - 1 ? a + 1 : a;
    *l1 = s - (float)a;
}

typedef struct {
    int i0, i1;
    float l0, l1;
} up_tap;

static void up_table(up_tap *t, int out, int in)
{
    for (int o = 0; o < out; o++) {
        float l1;
        up_taps(o, in, &t[o].i0, &t[o].i1, &l1);
        t[o].l1 = l1;
        t[o].l0 = 1.0f - l1;
    }
}

/* One plane forward, separable: every input row is interpolated horizontally once into `rows`,
 * then output rows blend two of those; the arithmetic is the same as the four-tap formula. */
static void up_plane_forward(const float *p, float *q, int h, int w, const up_tap *tr, const up_tap *tc,
                             float *rows)
{
    const int oh = 2 * h, ow = 2 * w;
    for (int i = 0; i < h; i++) {
        const float *in = p + (size_t)i * w;
        float *r = rows + (size_t)i * ow;
        for (int j = 0; j < ow; j++)
            r[j] = in[tc[j].i0] * tc[j].l0 + in[tc[j].i1] * tc[j].l1;
    }
    for (int i = 0; i < oh; i++) {
        const float *ra = rows + (size_t)tr[i].i0 * ow, *rb = rows + (size_t)tr[i].i1 * ow;
        const float a = tr[i].l0, b = tr[i].l1;
        float *out = q + (size_t)i * ow;
#pragma omp simd
        for (int j = 0; j < ow; j++)
            out[j] = ra[j] * a + rb[j] * b;
    }
}

/* One plane backward: the adjoint of the two passes, g [2H, 2W] -> d [H, W] (overwritten). */
static void up_plane_backward(const float *g, float *d, int h, int w, const up_tap *tr, const up_tap *tc,
                              float *rows)
{
    const int oh = 2 * h, ow = 2 * w;
    memset(rows, 0, sizeof(float) * (size_t)h * ow);
    for (int i = 0; i < oh; i++) {
        float *ra = rows + (size_t)tr[i].i0 * ow, *rb = rows + (size_t)tr[i].i1 * ow;
        const float a = tr[i].l0, b = tr[i].l1;
        const float *gin = g + (size_t)i * ow;
#pragma omp simd
        for (int j = 0; j < ow; j++)
            ra[j] += gin[j] * a;
#pragma omp simd
        for (int j = 0; j < ow; j++)
            rb[j] += gin[j] * b;
    }
    memset(d, 0, sizeof(float) * (size_t)h * w);
    for (int i = 0; i < h; i++) {
        const float *r = rows + (size_t)i * ow;
        float *out = d + (size_t)i * w;
        for (int j = 0; j < ow; j++) {
            out[tc[j].i0] += r[j] * tc[j].l0;
            out[tc[j].i1] += r[j] * tc[j].l1;
        }
    }
}

/* lo: [N, C, H, W], hi: [N, C, 2H, 2W]; forward reads lo and writes hi, backward the reverse. */
static sn_status up_run(sn_tensor *lo, sn_tensor *hi, int backward)
{
    const int h = lo->h, w = lo->w, oh = 2 * h, ow = 2 * w;
    SN_ASSERT(hi->h == oh && hi->w == ow && hi->c == lo->c && hi->n == lo->n);
    const long planes = (long)lo->n * lo->c;
    up_tap *tr = sn_alloc(sizeof(up_tap) * (size_t)(oh + ow), "up-sampling taps");
    int failed = 0;
    if (!tr)
        return SN_ENOMEM;
    up_tap *tc = tr + oh;
    up_table(tr, oh, h);
    up_table(tc, ow, w);
#pragma omp parallel
    {
        float *rows = sn_alloc(sizeof(float) * (size_t)h * ow, "up-sampling rows");
        if (!rows) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (long pl = 0; pl < planes; pl++) {
            if (!rows)
                continue;
            float *l = lo->data + (size_t)pl * h * w, *u = hi->data + (size_t)pl * oh * ow;
            if (backward)
                up_plane_backward(u, l, h, w, tr, tc, rows);
            else
                up_plane_forward(l, u, h, w, tr, tc, rows);
        }
        sn_free(rows);
    }
    sn_free(tr);
    return failed ? SN_ENOMEM : SN_OK;
}

/* x: [N, C, H, W] -> y: [N, C, 2H, 2W] */
sn_status upsample2_forward(const sn_tensor *x, sn_tensor *y) { return up_run((sn_tensor *)x, y, 0); }

/* dy: [N, C, 2H, 2W] -> dx: [N, C, H, W] (overwritten) */
sn_status upsample2_backward(const sn_tensor *dy, sn_tensor *dx) { return up_run(dx, (sn_tensor *)dy, 1); }

/* a: [N, Ca, H, W], b: [N, Cb, H, W] -> y: [N, Ca+Cb, H, W] */
void concat_forward(const sn_tensor *a, const sn_tensor *b, sn_tensor *y)
{
    const size_t hw = sn_tensor_plane(a), la = (size_t)a->c * hw, lb = (size_t)b->c * hw;
    SN_ASSERT(y->c == a->c + b->c && y->n == a->n && b->n == a->n && sn_tensor_plane(b) == hw);
    for (int i = 0; i < a->n; i++) {
        memcpy(y->data + (size_t)i * (la + lb), a->data + (size_t)i * la, la * sizeof(float));
        memcpy(y->data + (size_t)i * (la + lb) + la, b->data + (size_t)i * lb, lb * sizeof(float));
    }
}

/* dy: [N, Ca+Cb, H, W] -> da: [N, Ca, H, W], db: [N, Cb, H, W] */
void concat_backward(const sn_tensor *dy, sn_tensor *da, sn_tensor *db)
{
    const size_t hw = sn_tensor_plane(dy), la = (size_t)da->c * hw, lb = (size_t)db->c * hw;
    for (int i = 0; i < dy->n; i++) {
        memcpy(da->data + (size_t)i * la, dy->data + (size_t)i * (la + lb), la * sizeof(float));
        memcpy(db->data + (size_t)i * lb, dy->data + (size_t)i * (la + lb) + la, lb * sizeof(float));
    }
}
