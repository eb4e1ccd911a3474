/* BatchNorm2d, optionally fused with the ReLU that follows it in every unit.
 * Shapes: x, y [N, C, H, W]; per-channel vectors [C].
 * Sums are taken per channel in double, in a fixed order, then reduced across ranks through
 * the hook, so the statistics are those of the global batch (synchronised BN). */
#include "sernet/nn.h"
#include "sernet/testhook.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Plane sums: float partial sums over short chunks (vectorised, fixed order), chunks added in
 * double, so long planes lose no precision. */
#define SN_BN_CHUNK 512

static double plane_sum(const float *p, size_t n)
{
    double s = 0.0;
    for (size_t j0 = 0; j0 < n; j0 += SN_BN_CHUNK) {
        const size_t j1 = j0 + SN_BN_CHUNK < n ? j0 + SN_BN_CHUNK : n;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (size_t j = j0; j < j1; j++)
            acc += p[j];
        s += acc;
    }
    return s;
}

static double plane_sqdev(const float *p, size_t n, float m)
{
    double s = 0.0;
    for (size_t j0 = 0; j0 < n; j0 += SN_BN_CHUNK) {
        const size_t j1 = j0 + SN_BN_CHUNK < n ? j0 + SN_BN_CHUNK : n;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (size_t j = j0; j < j1; j++)
            acc += (p[j] - m) * (p[j] - m);
        s += acc;
    }
    return s;
}

/* The forward's affine map y = x * scale + shift (before the ReLU), in one place: the backward
 * recomputes the ReLU mask with it, so it must round exactly as the forward did. */
static inline float bn_affine(float x, float scale, float shift) { return x * scale + shift; }

/* scale = invstd * gamma, shift = beta - mean * scale per channel (forward and backward alike) */
__attribute__((noinline)) static void bn_coefs(int c, const float *gamma, const float *beta, const float *mean, const float *invstd,
                     float *scale, float *shift)
{
    for (int ch = 0; ch < c; ch++) {
        scale[ch] = invstd[ch] * gamma[ch];
        shift[ch] = beta[ch] - mean[ch] * scale[ch];
    }
}

/* sum of the (ReLU-masked) gradient d and of d * xhat over a plane; relu: mask where
 * bn_affine(x, sc, sh) is not positive (where the forward's ReLU output was 0) */
static void plane_grad_sums(const float *g, const float *x, int relu, float sc, float sh, size_t n, float m,
                            float is, double *sdy, double *sdyx)
{
    for (size_t j0 = 0; j0 < n; j0 += SN_BN_CHUNK) {
        const size_t j1 = j0 + SN_BN_CHUNK < n ? j0 + SN_BN_CHUNK : n;
        float a = 0.0f, b = 0.0f;
        if (relu) {
#pragma omp simd reduction(+ : a, b)
            for (size_t j = j0; j < j1; j++) {
                const float d = bn_affine(x[j], sc, sh) > 0.0f ? g[j] : 0.0f;
                a += d;
                b += d * ((x[j] - m) * is);
            }
        } else {
#pragma omp simd reduction(+ : a, b)
            for (size_t j = j0; j < j1; j++) {
                a += g[j];
                b += g[j] * ((x[j] - m) * is);
            }
        }
        *sdy += a;
        *sdyx += b;
    }
}

static void reduce(const sn_reduce_hook *h, double *buf, int n)
{
    if (h && h->fn)
        h->fn(buf, n, h->ctx);
}

sn_status bn_forward(const sn_bn_shape *s, int training, const sn_tensor *x, const float *gamma,
                     const float *beta, float *running_mean, float *running_var,
                     const sn_reduce_hook *hook, float *mean, float *invstd, sn_tensor *y)
{
    const int n = x->n, c = x->c;
    const size_t hw = sn_tensor_plane(x);
    SN_ASSERT(c == s->c && y->n == n && y->c == c && sn_tensor_plane(y) == hw);
    sn_status status = SN_OK;
    double *acc = NULL;
    float *scale = NULL, *shift = NULL;
    if (training && sn_testhook_fail_nth("SERNET_TEST_BN_FAIL")) /* tests only: docs/hardening.md */
        SN_FAIL(SN_ENOMEM, "batch-norm statistics: failure injected by SERNET_TEST_BN_FAIL");
    SN_ALLOC(acc, 2 * (size_t)c + 1, "batch-norm statistics");
    SN_ALLOC(scale, 2 * (size_t)c, "batch-norm coefficients");
    shift = scale + c;

    if (training) {
#pragma omp parallel for schedule(static)
        for (int ch = 0; ch < c; ch++) {
            double sum = 0.0;
            for (int i = 0; i < n; i++)
                sum += plane_sum(x->data + ((size_t)i * c + ch) * hw, hw);
            acc[ch] = sum;
        }
        acc[c] = (double)n * (double)hw;
        reduce(hook, acc, c + 1);
        const double count = acc[c];
        if (count < 2.0)
            SN_FAIL(SN_EINVAL, "batch norm needs at least 2 values per channel in the global batch, got %.0f",
                    count);
        for (int ch = 0; ch < c; ch++)
            mean[ch] = (float)(acc[ch] / count);
#pragma omp parallel for schedule(static)
        for (int ch = 0; ch < c; ch++) {
            double ss = 0.0;
            for (int i = 0; i < n; i++)
                ss += plane_sqdev(x->data + ((size_t)i * c + ch) * hw, hw, mean[ch]);
            acc[ch] = ss;
        }
        reduce(hook, acc, c);
        for (int ch = 0; ch < c; ch++) {
            const double var = acc[ch] / count;
            invstd[ch] = (float)(1.0 / sqrt(var + s->eps));
            running_mean[ch] = (float)((1.0 - s->momentum) * running_mean[ch] + s->momentum * mean[ch]);
            running_var[ch] = (float)((1.0 - s->momentum) * running_var[ch] +
                                      s->momentum * var * count / (count - 1.0));
        }
    } else {
        for (int ch = 0; ch < c; ch++) {
            mean[ch] = running_mean[ch];
            invstd[ch] = (float)(1.0 / sqrt((double)running_var[ch] + s->eps));
        }
    }
    bn_coefs(c, gamma, beta, mean, invstd, scale, shift);
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < (long)n * c; pl++) {
        const int ch = (int)(pl % c);
        const float *p = x->data + (size_t)pl * hw;
        float *q = y->data + (size_t)pl * hw;
        const float a = scale[ch], b = shift[ch];
        if (s->relu)
#pragma omp simd
            for (size_t j = 0; j < hw; j++) {
                float v = bn_affine(p[j], a, b);
                q[j] = v < 0.0f ? 0.0f : v; /* NaN passes, as in PyTorch, so it reaches the loss check */
            }
        else
#pragma omp simd
            for (size_t j = 0; j < hw; j++)
                q[j] = bn_affine(p[j], a, b);
    }
done:
    sn_free(acc);
    sn_free(scale);
    return status;
}

sn_status bn_backward(const sn_bn_shape *s, const sn_tensor *x, const float *gamma, const float *beta,
                      const float *mean, const float *invstd,
                      const sn_reduce_hook *hook, const sn_tensor *dy, sn_tensor *dx,
                      float *dgamma, float *dbeta)
{
    const int n = x->n, c = x->c;
    const size_t hw = sn_tensor_plane(x);
    SN_ASSERT(c == s->c && dy->n == n && dy->c == c && dx->n == n && dx->c == c);
    SN_ASSERT(!s->relu || beta != NULL);
    sn_status status = SN_OK;
    double *acc = NULL;
    float *scale = NULL, *shift = NULL;
    if (sn_testhook_fail_nth("SERNET_TEST_BN_FAIL")) /* tests only: docs/hardening.md */
        SN_FAIL(SN_ENOMEM, "batch-norm gradient sums: failure injected by SERNET_TEST_BN_FAIL");
    SN_ALLOC(acc, 2 * (size_t)c + 1, "batch-norm gradient sums");
    SN_ALLOC(scale, 2 * (size_t)c, "batch-norm coefficients");
    shift = scale + c;
    /* the forward's coefficients, for the ReLU mask */
    if (s->relu)
        bn_coefs(c, gamma, beta, mean, invstd, scale, shift);
    else
        memset(scale, 0, 2 * (size_t)c * sizeof(float));

#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double sdy = 0.0, sdyx = 0.0;
        const float m = mean[ch], is = invstd[ch];
        for (int i = 0; i < n; i++) {
            const size_t off = ((size_t)i * c + ch) * hw;
            plane_grad_sums(dy->data + off, x->data + off, s->relu, scale[ch], shift[ch], hw, m, is, &sdy,
                            &sdyx);
        }
        acc[ch] = sdy;
        acc[c + ch] = sdyx;
    }
    for (int ch = 0; ch < c; ch++) {
        dbeta[ch] += (float)acc[ch];
        dgamma[ch] += (float)acc[c + ch];
    }
    acc[2 * c] = (double)n * (double)hw;
    reduce(hook, acc, 2 * c + 1);
    const double count = acc[2 * c];
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < (long)n * c; pl++) {
        const int ch = (int)(pl % c);
        const size_t off = (size_t)pl * hw;
        const float *g = dy->data + off, *xp = x->data + off;
        float *o = dx->data + off;
        const float m = mean[ch], is = invstd[ch];
        const float k = gamma[ch] * is;
        const float mdy = (float)(acc[ch] / count), mdyx = (float)(acc[c + ch] / count);
        const float sc = scale[ch], sh = shift[ch];
        if (s->relu) {
#pragma omp simd
            for (size_t j = 0; j < hw; j++) {
                const float d = bn_affine(xp[j], sc, sh) > 0.0f ? g[j] : 0.0f;
                o[j] = k * (d - mdy - ((xp[j] - m) * is) * mdyx);
            }
        } else {
#pragma omp simd
            for (size_t j = 0; j < hw; j++)
                o[j] = k * (g[j] - mdy - ((xp[j] - m) * is) * mdyx);
        }
    }
done:
    sn_free(acc);
    sn_free(scale);
    return status;
}
