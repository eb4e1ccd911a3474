/* MSE and SSIM losses with their gradients.
 * Shapes: p, g, dp [N, C, H, W]; SSIM works per (image, channel) plane with a separable
 * Gaussian window and zero padding, so its map has the full H x W size. */
#include "sernet/loss.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define SN_SSIM_MAX_WINDOW 101

void sn_ssim_defaults(sn_ssim_params *p, int window, double sigma)
{
    p->window = window;
    p->sigma = sigma;
    p->c1 = 0.01 * 0.01;
    p->c2 = 0.03 * 0.03;
}

static void gauss_taps(const sn_ssim_params *sp, float *taps)
{
    const int r = sp->window / 2;
    double sum = 0.0, tmp[SN_SSIM_MAX_WINDOW];
    for (int i = 0; i < sp->window; i++) {
        double d = i - r;
        tmp[i] = exp(-d * d / (2.0 * sp->sigma * sp->sigma));
        sum += tmp[i];
    }
    for (int i = 0; i < sp->window; i++)
        taps[i] = (float)(tmp[i] / sum); /* the 2-D window is the outer product: sums to 1 */
}

/* out = separable zero-padded correlation of in with taps (length 2r+1); tmp: h*w floats */
static void gauss_filter(const float *in, float *out, float *tmp, int h, int w, const float *taps, int r)
{
    for (int y = 0; y < h; y++) {
        const float *row = in + (size_t)y * w;
        float *t = tmp + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            float acc = 0.0f;
            const int k0 = x - r < 0 ? r - x : 0, k1 = x + r >= w ? r + (w - 1 - x) : 2 * r;
            for (int k = k0; k <= k1; k++)
                acc += taps[k] * row[x + k - r];
            t[x] = acc;
        }
    }
    for (int y = 0; y < h; y++) {
        float *o = out + (size_t)y * w;
        const int k0 = y - r < 0 ? r - y : 0, k1 = y + r >= h ? r + (h - 1 - y) : 2 * r;
        memset(o, 0, sizeof(float) * (size_t)w);
        for (int k = k0; k <= k1; k++) {
            const float tk = taps[k];
            const float *t = tmp + (size_t)(y + k - r) * w;
            for (int x = 0; x < w; x++)
                o[x] += tk * t[x];
        }
    }
}

double mse_forward(const sn_tensor *p, const sn_tensor *g)
{
    const size_t n = sn_tensor_numel(p);
    double sum = 0.0;
    SN_ASSERT(sn_tensor_numel(g) == n);
    for (size_t i = 0; i < n; i++) {
        double d = (double)p->data[i] - g->data[i];
        sum += d * d;
    }
    return sum;
}

void mse_backward(const sn_tensor *p, const sn_tensor *g, float scale, sn_tensor *dp)
{
    const size_t n = sn_tensor_numel(p);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        dp->data[i] += scale * 2.0f * (p->data[i] - g->data[i]);
}

/* Per plane: 5 filtered maps (mu_p, mu_g, E[pp], E[gg], E[pg]); with `grad`, the 3 filtered
 * adjoints turn the map derivative into dp. Returns the plane's SSIM sum. */
static double ssim_plane(const sn_ssim_params *sp, const float *taps, const float *p, const float *g,
                         int h, int w, float *ws, float scale, float *dp)
{
    const size_t hw = (size_t)h * w;
    const int r = sp->window / 2;
    float *mp = ws, *mg = ws + hw, *spp = ws + 2 * hw, *sgg = ws + 3 * hw, *spg = ws + 4 * hw;
    float *tmp = ws + 5 * hw, *prod = ws + 6 * hw;
    const float c1 = (float)sp->c1, c2 = (float)sp->c2;
    gauss_filter(p, mp, tmp, h, w, taps, r);
    gauss_filter(g, mg, tmp, h, w, taps, r);
    for (size_t i = 0; i < hw; i++)
        prod[i] = p[i] * p[i];
    gauss_filter(prod, spp, tmp, h, w, taps, r);
    for (size_t i = 0; i < hw; i++)
        prod[i] = g[i] * g[i];
    gauss_filter(prod, sgg, tmp, h, w, taps, r);
    for (size_t i = 0; i < hw; i++)
        prod[i] = p[i] * g[i];
    gauss_filter(prod, spg, tmp, h, w, taps, r);
    double sum = 0.0;
    for (size_t i = 0; i < hw; i++) {
        const float up = mp[i], ug = mg[i];
        const float a1 = 2.0f * up * ug + c1, a2 = 2.0f * (spg[i] - up * ug) + c2;
        const float b1 = up * up + ug * ug + c1, b2 = (spp[i] - up * up) + (sgg[i] - ug * ug) + c2;
        const float inv_b = 1.0f / (b1 * b2), s = a1 * a2 * inv_b;
        sum += s;
        if (dp) {
            /* reuse the buffers for the adjoints of mu_p, E[pp], E[pg]. Only the denominators
             * (>= c1, c2) divide: a1 and a2 reach 0 where the prediction's mean or covariance is
             * negative, and s / a1 there is 0 / 0 (a NaN gradient under a finite loss). */
            const float d_mu = 2.0f * ug * (a2 - a1) * inv_b - 2.0f * up * s / b1 + 2.0f * up * s / b2;
            const float d_pp = -s / b2;
            const float d_pg = 2.0f * a1 * inv_b;
            mp[i] = scale * d_mu;
            spp[i] = scale * d_pp;
            spg[i] = scale * d_pg;
        }
    }
    if (dp) {
        /* the zero-padded symmetric filter is its own transpose */
        gauss_filter(mp, mg, tmp, h, w, taps, r);
        gauss_filter(spp, sgg, tmp, h, w, taps, r);
        gauss_filter(spg, prod, tmp, h, w, taps, r);
        for (size_t i = 0; i < hw; i++)
            dp[i] += mg[i] + 2.0f * p[i] * sgg[i] + g[i] * prod[i];
    }
    return sum;
}

static sn_status ssim_run(const sn_ssim_params *sp, const sn_tensor *p, const sn_tensor *g,
                          float scale, sn_tensor *dp, double *sum_out)
{
    SN_ASSERT(sp->window % 2 == 1 && sp->window <= SN_SSIM_MAX_WINDOW);
    SN_ASSERT(sn_tensor_numel(p) == sn_tensor_numel(g));
    const int h = p->h, w = p->w;
    const size_t hw = (size_t)h * w;
    const long planes = (long)p->n * p->c;
    float taps[SN_SSIM_MAX_WINDOW];
    gauss_taps(sp, taps);
    double *sums = NULL;
    float *ws = NULL;
    sn_status status = SN_OK;
    const int threads = omp_get_max_threads();
    SN_CALLOC(sums, planes > 0 ? planes : 1, "SSIM sums");
    SN_ALLOC(ws, (size_t)threads * 7 * hw, "SSIM workspace");
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        float *mine = ws + (size_t)omp_get_thread_num() * 7 * hw;
        sums[pl] = ssim_plane(sp, taps, p->data + pl * hw, g->data + pl * hw, h, w, mine, scale,
                              dp ? dp->data + pl * hw : NULL);
    }
    double total = 0.0;
    for (long pl = 0; pl < planes; pl++)
        total += sums[pl];
    if (sum_out)
        *sum_out = total;
done:
    sn_free(sums);
    sn_free(ws);
    return status;
}

sn_status ssim_forward(const sn_ssim_params *sp, const sn_tensor *p, const sn_tensor *g, double *sum)
{
    return ssim_run(sp, p, g, 0.0f, NULL, sum);
}

sn_status ssim_backward(const sn_ssim_params *sp, const sn_tensor *p, const sn_tensor *g, float scale,
                        sn_tensor *dp)
{
    return ssim_run(sp, p, g, scale, dp, NULL);
}

sn_status sn_loss_compute(const sn_ssim_params *sp, const sn_tensor *p, const sn_tensor *g,
                          double global_count, sn_loss_sums *sums, sn_tensor *dp)
{
    sn_status status = SN_OK;
    sums->count = (double)sn_tensor_numel(p);
    sums->mse_sum = mse_forward(p, g);
    if (dp) {
        memset(dp->data, 0, sn_tensor_numel(dp) * sizeof(float));
        mse_backward(p, g, (float)(1.0 / global_count), dp);
        /* the forward sum comes out of the same pass */
        SN_TRY(ssim_run(sp, p, g, (float)(-1.0 / global_count), dp, &sums->ssim_sum));
    } else {
        SN_TRY(ssim_forward(sp, p, g, &sums->ssim_sum));
    }
done:
    return status;
}

void sn_loss_values(const sn_loss_sums *s, double *loss, double *mse, double *ssim)
{
    double m = s->mse_sum / s->count, ss = s->ssim_sum / s->count;
    if (mse)
        *mse = m;
    if (ssim)
        *ssim = ss;
    if (loss)
        *loss = m + (1.0 - ss);
}
