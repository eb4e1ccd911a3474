/* Whole-network checks: layout and names, size validation, the list of BatchNorm reductions, and
 * finite-difference gradients of the full loss through a small segmentation U-Net and a small
 * reconstruction U-Net. */
#include "sn_test.h"
#include "sernet/loss.h"
#include "sernet/threads.h"
#include "sernet/unet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double loss_at(sn_unet *net, const sn_tensor *x, const sn_tensor *t, const sn_ssim_params *sp,
                      float *bufs_saved)
{
    const sn_tensor *out;
    /* running statistics change on every training forward: restore them so each probe is equal */
    memcpy(sn_unet_buffers(net), bufs_saved, sn_unet_buffer_count(net) * sizeof(float));
    if (sn_unet_forward(net, x, 1, NULL, &out) != SN_OK)
        return NAN;
    sn_loss_sums s;
    double l;
    sn_loss_compute(sp, out, t, (double)sn_tensor_numel(out), &s, NULL);
    sn_loss_values(&s, &l, NULL, NULL);
    return l;
}

static void fd_check(sn_net_kind kind, int width, int units, int size)
{
    sn_unet *net = NULL;
    EXPECT(sn_unet_create(&net, kind, width, units, 1e-5, 0.1) == SN_OK);
    sn_unet_init(net, 7);
    const int oc = sn_unet_out_channels(net);
    sn_tensor x, t, dout;
    sn_tensor_alloc(&x, 2, 3, size, size, "x");
    sn_tensor_alloc(&t, 2, oc, size, size, "t");
    sn_tensor_alloc(&dout, 2, oc, size, size, "dout");
    uint64_t s = 99;
    for (size_t i = 0; i < sn_tensor_numel(&x); i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x.data[i] = (float)((s >> 40) & 0xFFFF) / 65535.0f;
    }
    for (size_t i = 0; i < sn_tensor_numel(&t); i++)
        t.data[i] = (float)((i * 7 + i / 13) % 5) / 4.0f;
    /* larger weights than the DRAEM init so the gradients are well above float noise */
    float *p = sn_unet_params(net);
    for (size_t i = 0; i < sn_unet_param_count(net); i++)
        p[i] *= 10.0f;
    float *saved = malloc(sn_unet_buffer_count(net) * sizeof(float));
    memcpy(saved, sn_unet_buffers(net), sn_unet_buffer_count(net) * sizeof(float));
    sn_ssim_params sp;
    sn_ssim_defaults(&sp, 11, 1.5);

    const sn_tensor *out;
    EXPECT(sn_unet_forward(net, &x, 1, NULL, &out) == SN_OK);
    sn_loss_sums sums;
    EXPECT(sn_loss_compute(&sp, out, &t, (double)sn_tensor_numel(out), &sums, &dout) == SN_OK);
    sn_unet_zero_grad(net);
    EXPECT(sn_unet_backward(net, &dout, NULL) == SN_OK);
    /* the backward pass writes gradients over the activations: a second one must be refused */
    EXPECT(sn_unet_backward(net, &dout, NULL) == SN_EINVAL);
    const float *g = sn_unet_grads(net);

    /* probe parameters of every tensor: a few entries each */
    double num = 0, den = 0;
    int probes = 0;
    for (int ti = 0; ti < sn_unet_tensor_count(net); ti++) {
        const sn_tensor_info *inf = sn_unet_tensor(net, ti);
        if (inf->is_buffer)
            continue;
        for (int k = 0; k < 2; k++) {
            size_t idx = inf->offset + ((size_t)k * 7919) % inf->numel;
            float keep = p[idx], e = 1e-3f * (fabsf(keep) > 0.1f ? fabsf(keep) : 0.1f);
            p[idx] = keep + e;
            double lp = loss_at(net, &x, &t, &sp, saved);
            p[idx] = keep - e;
            double lm = loss_at(net, &x, &t, &sp, saved);
            p[idx] = keep;
            double fd = (lp - lm) / (2 * e);
            num += (fd - g[idx]) * (fd - g[idx]);
            den += fd * fd;
            probes++;
        }
    }
    double rel = sqrt(num / (den > 0 ? den : 1));
    EXPECT_MSG(rel < 2e-2, "%s w%d u%d: gradient vs finite differences, relative error %g over %d probes",
               sn_unet_kind_name(kind), width, units, rel, probes);
    EXPECT(den > 0);
    free(saved);
    sn_tensor_free(&x);
    sn_tensor_free(&t);
    sn_tensor_free(&dout);
    sn_unet_free(net);
}

/* Inference with BatchNorm folded into the convolutions (and the ReLU fused) against the
 * unfused conv -> BN -> ReLU path, with running statistics, gamma and beta far from their
 * initial values; then a training step in between, which needs the pre-BN activations the
 * fused path does not keep. */
static void fold_check(sn_net_kind kind, int width, int units, int size, int n)
{
    sn_unet *net = NULL;
    EXPECT(sn_unet_create(&net, kind, width, units, 1e-5, 0.1) == SN_OK);
    sn_unet_init(net, 11);
    uint64_t st = 12345;
    for (int i = 0; i < sn_unet_tensor_count(net); i++) {
        const sn_tensor_info *t = sn_unet_tensor(net, i);
        float *p = (t->is_buffer ? sn_unet_buffers(net) : sn_unet_params(net)) + t->offset;
        const int is_var = strstr(t->name, "running_var") != NULL, is_mean = strstr(t->name, "running_mean") != NULL;
        const int is_bn = strstr(t->name, ".bn.") != NULL, is_gamma = is_bn && strstr(t->name, ".weight") != NULL;
        for (size_t j = 0; j < t->numel; j++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            const float u = (float)((st >> 40) * 0x1.0p-24); /* [0, 1) */
            if (is_var)
                p[j] = 0.05f + 2.0f * u;
            else if (is_mean)
                p[j] = 0.4f * (u - 0.5f);
            else if (is_gamma)
                p[j] = 0.5f + u;
            else if (is_bn)
                p[j] = 0.3f * (u - 0.5f);
            else if (strcmp(t->name, "out.weight") == 0)
                p[j] *= 20.0f; /* so the sigmoid output varies visibly */
        }
    }
    sn_tensor x, ref;
    sn_tensor_alloc(&x, n, 3, size, size, "x");
    for (size_t i = 0; i < sn_tensor_numel(&x); i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x.data[i] = (float)((st >> 40) * 0x1.0p-24);
    }
    const sn_tensor *out;
    const int oc = sn_unet_out_channels(net);
    sn_tensor_alloc(&ref, n, oc, size, size, "ref");
    sn_unet_set_fold(net, 0);
    EXPECT(sn_unet_forward(net, &x, 0, NULL, &out) == SN_OK);
    memcpy(ref.data, out->data, sn_tensor_numel(&ref) * sizeof(float));
    double spread = 0.0;
    for (size_t i = 1; i < sn_tensor_numel(&ref); i++)
        spread += fabs((double)ref.data[i] - ref.data[0]);
    EXPECT_MSG(spread / (double)sn_tensor_numel(&ref) > 1e-3, "%s output nearly constant (%g): a weak test",
               sn_unet_kind_name(kind), spread / (double)sn_tensor_numel(&ref));
    sn_unet_set_fold(net, 1);
    sn_unet_release(net); /* the folded path on its own allocations */
    EXPECT(sn_unet_forward(net, &x, 0, NULL, &out) == SN_OK);
    EXPECT_ALLCLOSE(out->data, ref.data, sn_tensor_numel(&ref), 1e-4, 1e-5, "folded inference vs unfused");
    /* in chunks of one image (a 1 KiB activation budget): the same output, fewer activations */
    const size_t whole = sn_unet_activation_bytes(net);
    setenv("SERNET_INFER_CHUNK_MB", "0.001", 1);
    sn_unet_release(net);
    EXPECT(sn_unet_forward(net, &x, 0, NULL, &out) == SN_OK);
    unsetenv("SERNET_INFER_CHUNK_MB");
    EXPECT_ALLCLOSE(out->data, ref.data, sn_tensor_numel(&ref), 1e-4, 1e-5, "folded inference in chunks");
    EXPECT_MSG(n == 1 || sn_unet_activation_bytes(net) < whole, "activations in chunks %zu, whole batch %zu",
               sn_unet_activation_bytes(net), whole);
    /* training forward and backward after a folded inference forward */
    float *bufs = malloc(sn_unet_buffer_count(net) * sizeof(float));
    memcpy(bufs, sn_unet_buffers(net), sn_unet_buffer_count(net) * sizeof(float));
    EXPECT(sn_unet_forward(net, &x, 1, NULL, &out) == SN_OK);
    sn_tensor dout;
    sn_tensor_alloc(&dout, n, oc, size, size, "dout");
    for (size_t i = 0; i < sn_tensor_numel(&dout); i++)
        dout.data[i] = out->data[i] - 0.5f;
    sn_unet_zero_grad(net);
    EXPECT(sn_unet_backward(net, &dout, NULL) == SN_OK);
    double gsum = 0.0;
    for (size_t i = 0; i < sn_unet_param_count(net); i++)
        gsum += fabs(sn_unet_grads(net)[i]);
    EXPECT_MSG(gsum > 0.0 && isfinite(gsum), "gradient after a folded inference forward: %g", gsum);
    memcpy(sn_unet_buffers(net), bufs, sn_unet_buffer_count(net) * sizeof(float));
    EXPECT(sn_unet_forward(net, &x, 0, NULL, &out) == SN_OK);
    EXPECT_ALLCLOSE(out->data, ref.data, sn_tensor_numel(&ref), 1e-4, 1e-5, "folded inference after training");
    free(bufs);
    sn_tensor_free(&x);
    sn_tensor_free(&ref);
    sn_tensor_free(&dout);
    sn_unet_free(net);
}

/* sn_unet_bn_reductions lists exactly the hook calls of one training forward and backward. */
typedef struct {
    int n, len[64];
} call_log;
static void record(double *buf, int n, void *ctx)
{
    (void)buf;
    call_log *l = ctx;
    if (l->n < 64)
        l->len[l->n] = n;
    l->n++;
}
static void reductions_check(sn_net_kind kind, int width, int units, int size)
{
    sn_unet *net = NULL;
    EXPECT(sn_unet_create(&net, kind, width, units, 1e-5, 0.1) == SN_OK);
    sn_unet_init(net, 5);
    sn_tensor x, dout;
    sn_tensor_alloc(&x, 2, 3, size, size, "x");
    uint64_t st = 11;
    for (size_t i = 0; i < sn_tensor_numel(&x); i++)
        x.data[i] = sn_test_frand(&st);
    call_log log = {0, {0}};
    const sn_reduce_hook hook = {record, &log};
    const sn_tensor *out;
    EXPECT(sn_unet_forward(net, &x, 1, &hook, &out) == SN_OK);
    sn_tensor_alloc(&dout, out->n, out->c, size, size, "dout");
    for (size_t i = 0; i < sn_tensor_numel(&dout); i++)
        dout.data[i] = out->data[i] - 0.5f;
    EXPECT(sn_unet_backward(net, &dout, &hook) == SN_OK);
    int want[64];
    const int n = sn_unet_bn_reductions(net, want, 64);
    EXPECT_MSG(n == log.n && n <= 64, "%s net, %d units: %d reductions listed, %d made", sn_unet_kind_name(kind),
               units, n, log.n);
    for (int i = 0; i < n && i < log.n && i < 64; i++)
        EXPECT_MSG(want[i] == log.len[i], "reduction %d: listed %d doubles, made %d", i, want[i], log.len[i]);
    EXPECT(sn_unet_bn_reductions(net, NULL, 0) == n);
    sn_tensor_free(&x);
    sn_tensor_free(&dout);
    sn_unet_free(net);
}

int main(void)
{
    sn_threads_set(2);
    sn_unet *net = NULL;
    /* layout: names in canonical order, offsets contiguous */
    EXPECT(sn_unet_create(&net, SN_NET_SEG, 4, 2, 1e-5, 0.1) == SN_OK);
    EXPECT(strcmp(sn_unet_tensor(net, 0)->name, "E1.0.conv.weight") == 0);
    EXPECT(strcmp(sn_unet_tensor(net, 4)->name, "E1.1.conv.weight") == 0);
    size_t off = 0;
    int nparam = 0;
    for (int i = 0; i < sn_unet_tensor_count(net); i++) {
        const sn_tensor_info *t = sn_unet_tensor(net, i);
        if (t->is_buffer)
            continue;
        EXPECT_MSG(t->offset == off, "%s at %zu, expected %zu", t->name, t->offset, off);
        off += t->numel;
        nparam++;
    }
    EXPECT(off == sn_unet_param_count(net));
    EXPECT(strcmp(sn_unet_tensor(net, nparam - 2)->name, "out.weight") == 0);
    /* D2's first conv sees 4w + 2w channels, upsampled first */
    for (int i = 0; i < sn_unet_tensor_count(net); i++)
        if (strcmp(sn_unet_tensor(net, i)->name, "D2.0.conv.weight") == 0)
            EXPECT(sn_unet_tensor(net, i)->dims[1] == 24 && sn_unet_tensor(net, i)->dims[0] == 8);
    /* bad sizes are rejected with the constraint named */
    sn_tensor bad;
    sn_tensor_zeros(&bad, 1, 3, 18, 18, "bad");
    const sn_tensor *o;
    sn_err_clear();
    EXPECT(sn_unet_forward(net, &bad, 0, NULL, &o) == SN_EINVAL);
    EXPECT_MSG(strstr(sn_err_msg(), "multiple of 4") != NULL, "%s", sn_err_msg());
    sn_err_clear();
    sn_tensor_free(&bad);
    sn_unet_free(net);
    EXPECT(sn_unet_create(&net, SN_NET_REC, 2, 1, 1e-5, 0.1) == SN_OK);
    sn_tensor_zeros(&bad, 1, 3, 24, 24, "bad");
    EXPECT(sn_unet_forward(net, &bad, 0, NULL, &o) == SN_EINVAL);
    EXPECT_MSG(strstr(sn_err_msg(), "multiple of 16") != NULL, "%s", sn_err_msg());
    sn_err_clear();
    sn_tensor_free(&bad);
    sn_unet_free(net);

    fold_check(SN_NET_REC, 4, 2, 64, 3); /* direct kernel at 64..16, GEMM at 8 and 4 */
    fold_check(SN_NET_SEG, 8, 1, 32, 2);
    fold_check(SN_NET_SEG, 3, 1, 12, 2); /* odd widths and sizes: GEMM only */
    reductions_check(SN_NET_SEG, 3, 1, 8);
    reductions_check(SN_NET_SEG, 2, 2, 8);
    reductions_check(SN_NET_REC, 2, 2, 16);
    fd_check(SN_NET_SEG, 2, 1, 8);
    fd_check(SN_NET_SEG, 2, 2, 8);
    /* the reconstruction net is checked against PyTorch (tests/torch_parity.sh): through five
     * levels of batch statistics its float32 loss is too rough for finite differences */
    return sn_test_finish();
}
