/* Perlin noise, image rotation and the Perlin mask of METHOD.md §3.1. */
#include "sernet/pseudo.h"

#include <math.h>
#include <string.h>

#define SN_SQRT2 1.41421356237309504880168872420969808

static double fade(double t)
{
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0);
}

/* Gradients at the (res_y+1) x (res_x+1) lattice points, row by row: angle = 2 pi U[0,1). */
static sn_status draw_gradients(sn_rng *r, int res_y, int res_x, float **grad_out)
{
    sn_status status = SN_OK;
    float *g = NULL;
    size_t n = (size_t)(res_y + 1) * (size_t)(res_x + 1);
    SN_ALLOC(g, 2 * n, "Perlin gradients");
    for (size_t i = 0; i < n; i++) {
        double a = 2.0 * SN_PI * sn_rng_uniform(r);
        g[2 * i] = (float)cos(a);     /* y component */
        g[2 * i + 1] = (float)sin(a); /* x component */
    }
    *grad_out = g;
done:
    return status;
}

/* Cell index and fraction of pixel i on an axis of n pixels and res cells. */
static void cell_of(int i, int n, int res, int *c, double *f)
{
    double u = (double)i * (double)res / (double)n;
    int ci = (int)floor(u);
    if (ci > res - 1)
        ci = res - 1;
    *c = ci;
    *f = u - ci;
}

sn_status sn_perlin_noise_ref(sn_rng *r, int h, int w, int res_y, int res_x, float *out)
{
    sn_status status = SN_OK;
    float *g = NULL;
    if (h < 1 || w < 1 || res_y < 1 || res_x < 1)
        SN_FAIL(SN_EINVAL, "Perlin noise: grid %dx%d with lattice %dx%d: all must be >= 1", h, w,
                res_y, res_x);
    SN_TRY(draw_gradients(r, res_y, res_x, &g));
    int gw = res_x + 1;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int cy, cx;
            double fy, fx;
            cell_of(y, h, res_y, &cy, &fy);
            cell_of(x, w, res_x, &cx, &fx);
            const float *g00 = g + 2 * (cy * gw + cx), *g10 = g + 2 * ((cy + 1) * gw + cx);
            const float *g01 = g + 2 * (cy * gw + cx + 1), *g11 = g + 2 * ((cy + 1) * gw + cx + 1);
            double n00 = g00[0] * fy + g00[1] * fx;
            double n10 = g10[0] * (fy - 1) + g10[1] * fx;
            double n01 = g01[0] * fy + g01[1] * (fx - 1);
            double n11 = g11[0] * (fy - 1) + g11[1] * (fx - 1);
            double ty = fade(fy), tx = fade(fx);
            double a = n00 + ty * (n10 - n00);
            double b = n01 + ty * (n11 - n01);
            out[(size_t)y * w + x] = (float)(SN_SQRT2 * (a + tx * (b - a)));
        }
    }
done:
    sn_free(g);
    return status;
}

/* Same function with the per-row and per-column quantities computed once. */
sn_status sn_perlin_noise(sn_rng *r, int h, int w, int res_y, int res_x, float *out)
{
    sn_status status = SN_OK;
    float *g = NULL, *colf = NULL, *colt = NULL;
    int *colc = NULL;
    if (h < 1 || w < 1 || res_y < 1 || res_x < 1)
        SN_FAIL(SN_EINVAL, "Perlin noise: grid %dx%d with lattice %dx%d: all must be >= 1", h, w,
                res_y, res_x);
    SN_TRY(draw_gradients(r, res_y, res_x, &g));
    SN_ALLOC(colf, w, "Perlin column fractions");
    SN_ALLOC(colt, w, "Perlin column fades");
    SN_ALLOC(colc, w, "Perlin column cells");
    for (int x = 0; x < w; x++) {
        double f;
        cell_of(x, w, res_x, &colc[x], &f);
        colf[x] = (float)f;
        colt[x] = (float)fade(f);
    }
    int gw = res_x + 1;
    for (int y = 0; y < h; y++) {
        int cy;
        double fyd;
        cell_of(y, h, res_y, &cy, &fyd);
        float fy = (float)fyd, ty = (float)fade(fyd);
        const float *row0 = g + 2 * (size_t)cy * gw, *row1 = g + 2 * (size_t)(cy + 1) * gw;
        float *o = out + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            int cx = colc[x];
            float fx = colf[x];
            const float *g00 = row0 + 2 * cx, *g01 = row0 + 2 * cx + 2;
            const float *g10 = row1 + 2 * cx, *g11 = row1 + 2 * cx + 2;
            float n00 = g00[0] * fy + g00[1] * fx;
            float n10 = g10[0] * (fy - 1.0f) + g10[1] * fx;
            float n01 = g01[0] * fy + g01[1] * (fx - 1.0f);
            float n11 = g11[0] * (fy - 1.0f) + g11[1] * (fx - 1.0f);
            float a = n00 + ty * (n10 - n00);
            float b = n01 + ty * (n11 - n01);
            o[x] = (float)SN_SQRT2 * (a + colt[x] * (b - a));
        }
    }
done:
    sn_free(g);
    sn_free(colf);
    sn_free(colt);
    sn_free(colc);
    return status;
}

void sn_pseudo_rotate_ref(const float *in, int h, int w, double degrees, float *out)
{
    double th = degrees * SN_PI / 180.0, c = cos(th), s = sin(th);
    double cy = 0.5 * (h - 1), cx = 0.5 * (w - 1);
    for (int y = 0; y < h; y++) {
        double dy = y - cy;
        for (int x = 0; x < w; x++) {
            double dx = x - cx;
            double sx = cx + c * dx - s * dy;
            double sy = cy + s * dx + c * dy;
            double fy0 = floor(sy), fx0 = floor(sx);
            double wy = sy - fy0, wx = sx - fx0;
            double acc = 0.0;
            if (fy0 >= -1 && fy0 <= h - 1 && fx0 >= -1 && fx0 <= w - 1) {
                int y0 = (int)fy0, x0 = (int)fx0;
                for (int k = 0; k < 4; k++) {
                    int yy = y0 + (k >> 1), xx = x0 + (k & 1);
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                        continue;
                    double wt = ((k >> 1) ? wy : 1.0 - wy) * ((k & 1) ? wx : 1.0 - wx);
                    acc += wt * in[(size_t)yy * w + xx];
                }
            }
            out[(size_t)y * w + x] = (float)acc;
        }
    }
}

/* Same result; the source position advances by a constant step along a row, and pixels whose
 * four neighbours are all inside take a branch-free path. */
void sn_pseudo_rotate(const float *in, int h, int w, double degrees, float *out)
{
    double th = degrees * SN_PI / 180.0, c = cos(th), s = sin(th);
    double cy = 0.5 * (h - 1), cx = 0.5 * (w - 1);
    for (int y = 0; y < h; y++) {
        double dy = y - cy;
        double bx = cx - c * cx - s * dy, by = cy - s * cx + c * dy; /* source at x = 0 */
        float *o = out + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            double sx = bx + c * x, sy = by + s * x;
            if (sx >= 0 && sy >= 0 && sx < w - 1 && sy < h - 1) {
                int x0 = (int)sx, y0 = (int)sy;
                float wx = (float)(sx - x0), wy = (float)(sy - y0);
                const float *p = in + (size_t)y0 * w + x0;
                float top = p[0] + wx * (p[1] - p[0]);
                float bot = p[w] + wx * (p[w + 1] - p[w]);
                o[x] = top + wy * (bot - top);
                continue;
            }
            double fy0 = floor(sy), fx0 = floor(sx);
            double wy = sy - fy0, wx = sx - fx0;
            double acc = 0.0;
            if (fy0 >= -1 && fy0 <= h - 1 && fx0 >= -1 && fx0 <= w - 1) {
                int y0 = (int)fy0, x0 = (int)fx0;
                for (int k = 0; k < 4; k++) {
                    int yy = y0 + (k >> 1), xx = x0 + (k & 1);
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                        continue;
                    double wt = ((k >> 1) ? wy : 1.0 - wy) * ((k & 1) ? wx : 1.0 - wx);
                    acc += wt * in[(size_t)yy * w + xx];
                }
            }
            o[x] = (float)acc;
        }
    }
}

sn_status sn_perlin_mask(sn_rng *r, const sn_pseudo_params *p, float *noise, float *tmp,
                         uint8_t *mask, int *res_y, int *res_x, double *angle)
{
    sn_status status = SN_OK;
    int s = p->size;
    int ky = (int)sn_rng_int(r, 0, p->perlin_scale_max);
    int kx = (int)sn_rng_int(r, 0, p->perlin_scale_max);
    int ry = 1 << ky, rx = 1 << kx;
    SN_TRY(sn_perlin_noise(r, s, s, ry, rx, tmp));
    double deg = sn_rng_range(r, -90.0, 90.0);
    sn_pseudo_rotate(tmp, s, s, deg, noise);
    float thr = (float)p->perlin_threshold;
    for (size_t i = 0; i < (size_t)s * s; i++)
        mask[i] = noise[i] > thr;
    if (res_y)
        *res_y = ry;
    if (res_x)
        *res_x = rx;
    if (angle)
        *angle = deg;
done:
    return status;
}
