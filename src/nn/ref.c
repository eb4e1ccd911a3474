/* Plain reference kernels: direct loops in double, written for clarity, used by the tests to
 * check the optimised kernels. Shapes as in sernet/nn.h. */
#include "sernet/nn.h"

#include <math.h>
#include <string.h>

/* x: [N, Cin, H, W], w: [Cout, Cin, K, K], b: [Cout], y: [N, Cout, H, W] */
void conv_forward_ref(const sn_conv_shape *s, const sn_tensor *x, const float *w, const float *b,
                      sn_tensor *y)
{
    const int n = x->n, h = x->h, wd = x->w, k = s->k, p = k / 2;
    for (int i = 0; i < n; i++)
        for (int co = 0; co < s->cout; co++)
            for (int r = 0; r < h; r++)
                for (int c = 0; c < wd; c++) {
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int sr = r + ky - p, sc = c + kx - p;
                                if (sr < 0 || sr >= h || sc < 0 || sc >= wd)
                                    continue;
                                acc += (double)w[((co * s->cin + ci) * k + ky) * k + kx] *
                                       x->data[(((size_t)i * s->cin + ci) * h + sr) * wd + sc];
                            }
                    y->data[(((size_t)i * s->cout + co) * h + r) * wd + c] = (float)acc;
                }
}

/* dx overwritten (if not NULL); dw, db accumulated */
void conv_backward_ref(const sn_conv_shape *s, const sn_tensor *x, const float *w,
                       const sn_tensor *dy, sn_tensor *dx, float *dw, float *db)
{
    const int n = x->n, h = x->h, wd = x->w, k = s->k, p = k / 2;
    if (dx)
        memset(dx->data, 0, sn_tensor_numel(dx) * sizeof(float));
    for (int i = 0; i < n; i++)
        for (int co = 0; co < s->cout; co++)
            for (int r = 0; r < h; r++)
                for (int c = 0; c < wd; c++) {
                    const float g = dy->data[(((size_t)i * s->cout + co) * h + r) * wd + c];
                    if (db)
                        db[co] += g;
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int sr = r + ky - p, sc = c + kx - p;
                                if (sr < 0 || sr >= h || sc < 0 || sc >= wd)
                                    continue;
                                size_t xi = (((size_t)i * s->cin + ci) * h + sr) * wd + sc;
                                size_t wi = ((size_t)(co * s->cin + ci) * k + ky) * k + kx;
                                if (dw)
                                    dw[wi] += g * x->data[xi];
                                if (dx)
                                    dx->data[xi] += g * w[wi];
                            }
                }
}

/* x, y: [N, C, H, W]; single process; no fused ReLU */
void bn_forward_ref(const sn_bn_shape *s, int training, const sn_tensor *x, const float *gamma,
                    const float *beta, float *running_mean, float *running_var, sn_tensor *y)
{
    const int n = x->n, c = x->c;
    const size_t hw = sn_tensor_plane(x);
    const double m = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        double mean, var;
        if (training) {
            double s1 = 0, s2 = 0;
            for (int i = 0; i < n; i++)
                for (size_t j = 0; j < hw; j++)
                    s1 += x->data[((size_t)i * c + ch) * hw + j];
            mean = s1 / m;
            for (int i = 0; i < n; i++)
                for (size_t j = 0; j < hw; j++) {
                    double d = x->data[((size_t)i * c + ch) * hw + j] - mean;
                    s2 += d * d;
                }
            var = s2 / m;
            running_mean[ch] = (float)((1 - s->momentum) * running_mean[ch] + s->momentum * mean);
            running_var[ch] = (float)((1 - s->momentum) * running_var[ch] + s->momentum * var * m / (m - 1));
        } else {
            mean = running_mean[ch];
            var = running_var[ch];
        }
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) {
                size_t q = ((size_t)i * c + ch) * hw + j;
                double v = (x->data[q] - mean) / sqrt(var + s->eps) * gamma[ch] + beta[ch];
                y->data[q] = (float)(s->relu && v < 0 ? 0 : v);
            }
    }
}

/* Training-mode gradient; dy_pre_relu is the gradient w.r.t. the BN output (before any ReLU). */
void bn_backward_ref(const sn_bn_shape *s, const sn_tensor *x, const float *gamma,
                     const sn_tensor *dy, sn_tensor *dx, float *dgamma, float *dbeta)
{
    const int n = x->n, c = x->c;
    const size_t hw = sn_tensor_plane(x);
    const double m = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        double s1 = 0, s2 = 0;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++)
                s1 += x->data[((size_t)i * c + ch) * hw + j];
        double mean = s1 / m;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) {
                double d = x->data[((size_t)i * c + ch) * hw + j] - mean;
                s2 += d * d;
            }
        double is = 1.0 / sqrt(s2 / m + s->eps);
        double sdy = 0, sdyx = 0;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) {
                size_t q = ((size_t)i * c + ch) * hw + j;
                sdy += dy->data[q];
                sdyx += dy->data[q] * (x->data[q] - mean) * is;
            }
        dgamma[ch] += (float)sdyx;
        dbeta[ch] += (float)sdy;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) {
                size_t q = ((size_t)i * c + ch) * hw + j;
                double xh = (x->data[q] - mean) * is;
                dx->data[q] = (float)(gamma[ch] * is * (dy->data[q] - sdy / m - xh * sdyx / m));
            }
    }
}

/* x: [N, C, H, W] -> y: [N, C, 2H, 2W], PyTorch's bilinear rule written out directly */
void upsample2_forward_ref(const sn_tensor *x, sn_tensor *y)
{
    const int h = x->h, w = x->w;
    for (long pl = 0; pl < (long)x->n * x->c; pl++)
        for (int i = 0; i < 2 * h; i++)
            for (int j = 0; j < 2 * w; j++) {
                double sy = fmax(0.0, (i + 0.5) / 2.0 - 0.5), sx = fmax(0.0, (j + 0.5) / 2.0 - 0.5);
                int y0 = (int)floor(sy), x0 = (int)floor(sx);
                int y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
                double ly = sy - y0, lx = sx - x0;
                const float *p = x->data + (size_t)pl * h * w;
                double v = (1 - ly) * ((1 - lx) * p[y0 * w + x0] + lx * p[y0 * w + x1]) +
                           ly * ((1 - lx) * p[y1 * w + x0] + lx * p[y1 * w + x1]);
                y->data[(size_t)pl * 4 * h * w + (size_t)i * 2 * w + j] = (float)v;
            }
}

/* SSIM map sum in double with the direct 2-D window (zero padding): p, g [N, C, H, W]. */
double ssim_sum_ref(int window, double sigma, double c1, double c2, const sn_tensor *p, const sn_tensor *g)
{
    const int r = window / 2, h = p->h, w = p->w;
    double g1[101], norm = 0, total = 0;
    for (int i = 0; i < window; i++) {
        g1[i] = exp(-(double)(i - r) * (i - r) / (2 * sigma * sigma));
        norm += g1[i];
    }
    for (long pl = 0; pl < (long)p->n * p->c; pl++) {
        const float *a = p->data + (size_t)pl * h * w, *b = g->data + (size_t)pl * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double mp = 0, mg = 0, pp = 0, gg = 0, pg = 0;
                for (int dy = -r; dy <= r; dy++)
                    for (int dx = -r; dx <= r; dx++) {
                        int yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                            continue;
                        double k = g1[dy + r] * g1[dx + r] / (norm * norm);
                        double u = a[yy * w + xx], v = b[yy * w + xx];
                        mp += k * u; mg += k * v; pp += k * u * u; gg += k * v * v; pg += k * u * v;
                    }
                total += ((2 * mp * mg + c1) * (2 * (pg - mp * mg) + c2)) /
                         ((mp * mp + mg * mg + c1) * ((pp - mp * mp) + (gg - mg * mg) + c2));
            }
    }
    return total;
}
