/* U-Net assembly: blocks of conv -> BN -> ReLU units, max-pool down, bilinear up, skips as a
 * channel concat fused into the decoder's first convolution.
 * Shapes at level l (0 = full resolution, side s_l = S / 2^l): encoder and decoder outputs
 * [N, widths[l], s_l, s_l]; up[l] = upsample of level l+1's output [N, C_{l+1}, s_l, s_l]. */
#include "sernet/unet.h"
#include "sernet/conv_bf16.h"
#include "sernet/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SN_MAX_LEVELS 5

typedef struct {
    sn_conv_shape conv;
    sn_bn_shape bn;
    size_t w_off, b_off, g_off, be_off, rm_off, rv_off;
    size_t bf_off; /* packed bf16 weights in fold_bf (precision bf16) */
    sn_tensor z; /* conv output, BN input */
    sn_tensor a; /* BN + ReLU output */
    float *mean, *invstd;
} unit_t;

typedef struct {
    unit_t *u;
    int n;
} block_t;

struct sn_unet {
    sn_net_kind kind;
    int width, units, levels, out_c;
    int widths[SN_MAX_LEVELS];
    block_t enc[SN_MAX_LEVELS], dec[SN_MAX_LEVELS];
    sn_conv_shape out_conv;
    size_t ow_off, ob_off;
    float *params, *grads, *buffers, *stats;
    float *fold; /* inference: conv weights and biases with BatchNorm folded in, at params' offsets */
    int no_fold; /* inference through the unfused conv -> BN -> ReLU path instead */
    int bf16;          /* folded convolutions in bfloat16 (sn_unet_set_precision) */
    uint32_t *fold_bf; /* their packed weights, converted from `fold` once per inference forward */
    size_t np, nb;
    sn_tensor_info *info;
    int ninfo;
    /* activations */
    int cur_n, cur_s;
    sn_tensor pooled[SN_MAX_LEVELS], up[SN_MAX_LEVELS], out_z, out;
    /* training: which input of each 2x2 window won the max-pool into pooled[l] (l >= 1), so the
     * pool's backward needs no copy of its input */
    uint8_t *pool_arg[SN_MAX_LEVELS];
    size_t pool_arg_cap[SN_MAX_LEVELS];
    const sn_tensor *x_in;
    int have_train_forward;
    /* gradient scratch. g_out, g_skip, g_up and g_pool are views of activations that are dead
     * by the time their gradient is written (see ensure_grads); only g_tmp owns memory */
    sn_tensor g_out[SN_MAX_LEVELS], g_tmp[SN_MAX_LEVELS], g_skip[SN_MAX_LEVELS],
        g_up[SN_MAX_LEVELS], g_pool[SN_MAX_LEVELS], g_final;
    sn_grad_ready_hook ready; /* told as gradients become final (sn_unet_set_grad_ready) */
    size_t ready_from;        /* gradients [ready_from, np) are final in the current backward */
};

/* ---- construction ------------------------------------------------------------------------ */

static void add_info(sn_unet *net, const char *name, int is_buffer, size_t offset, int ndim,
                     const int *dims)
{
    sn_tensor_info *t = &net->info[net->ninfo++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->is_buffer = is_buffer;
    t->offset = offset;
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        t->numel *= (size_t)dims[i];
    }
}

/* Lay out one block's tensors; `count_only` pass just advances the offsets. */
static void layout_block(sn_unet *net, block_t *b, const char *bname, int cin, int cout,
                         size_t *po, size_t *bo, int count_only)
{
    for (int u = 0; u < net->units; u++) {
        const int ci = u == 0 ? cin : cout;
        const size_t nw = (size_t)cout * ci * 9;
        if (!count_only) {
            unit_t *un = &b->u[u];
            char name[48];
            un->conv = (sn_conv_shape){ci, cout, 3, 0, 1}; /* Winograd where it applies and pays */
            un->bn = (sn_bn_shape){cout, 0, 0, 1};
            un->w_off = *po;
            un->b_off = *po + nw;
            un->g_off = *po + nw + cout;
            un->be_off = *po + nw + 2 * (size_t)cout;
            un->rm_off = *bo;
            un->rv_off = *bo + cout;
            int dw[4] = {cout, ci, 3, 3}, dv[1] = {cout};
            snprintf(name, sizeof name, "%s.%d.conv.weight", bname, u);
            add_info(net, name, 0, un->w_off, 4, dw);
            snprintf(name, sizeof name, "%s.%d.conv.bias", bname, u);
            add_info(net, name, 0, un->b_off, 1, dv);
            snprintf(name, sizeof name, "%s.%d.bn.weight", bname, u);
            add_info(net, name, 0, un->g_off, 1, dv);
            snprintf(name, sizeof name, "%s.%d.bn.bias", bname, u);
            add_info(net, name, 0, un->be_off, 1, dv);
        }
        *po += nw + 3 * (size_t)cout;
        *bo += 2 * (size_t)cout;
    }
}

/* Runs the canonical layout; with count_only it only sizes the buffers. */
static void layout(sn_unet *net, int count_only, size_t *np, size_t *nb)
{
    size_t po = 0, bo = 0;
    const int L = net->levels;
    char bname[16];
    for (int l = 0; l < L; l++) {
        snprintf(bname, sizeof bname, "E%d", l + 1);
        layout_block(net, &net->enc[l], bname, l == 0 ? 3 : net->widths[l - 1], net->widths[l], &po, &bo,
                     count_only);
    }
    for (int l = L - 2; l >= 0; l--) {
        snprintf(bname, sizeof bname, "D%d", l + 1);
        layout_block(net, &net->dec[l], bname, net->widths[l + 1] + net->widths[l], net->widths[l], &po,
                     &bo, count_only);
    }
    const size_t nw = (size_t)net->out_c * net->widths[0] * 9;
    if (!count_only) {
        net->out_conv = (sn_conv_shape){net->widths[0], net->out_c, 3, 0, 0};
        net->ow_off = po;
        net->ob_off = po + nw;
        int dw[4] = {net->out_c, net->widths[0], 3, 3}, db[1] = {net->out_c};
        add_info(net, "out.weight", 0, net->ow_off, 4, dw);
        add_info(net, "out.bias", 0, net->ob_off, 1, db);
    }
    po += nw + (size_t)net->out_c;
    *np = po;
    *nb = bo;
}

static void add_buffer_info(sn_unet *net, block_t *b, const char *bname)
{
    char name[48];
    for (int u = 0; u < b->n; u++) {
        int dv[1] = {b->u[u].conv.cout};
        snprintf(name, sizeof name, "%s.%d.bn.running_mean", bname, u);
        add_info(net, name, 1, b->u[u].rm_off, 1, dv);
        snprintf(name, sizeof name, "%s.%d.bn.running_var", bname, u);
        add_info(net, name, 1, b->u[u].rv_off, 1, dv);
    }
}

sn_status sn_unet_create(sn_unet **out, sn_net_kind kind, int width, int units, double bn_eps,
                         double bn_momentum)
{
    sn_status status = SN_OK;
    sn_unet *net = NULL;
    *out = NULL;
    if (width < 1 || units < 1)
        SN_FAIL(SN_EINVAL, "U-Net width %d and units per block %d must be positive", width, units);
    SN_CALLOC(net, 1, "U-Net");
    net->kind = kind;
    net->width = width;
    net->units = units;
    net->levels = kind == SN_NET_SEG ? 3 : 5;
    net->out_c = kind == SN_NET_SEG ? 1 : 3;
    static const int mult_seg[] = {1, 2, 4}, mult_rec[] = {1, 2, 4, 8, 8};
    for (int l = 0; l < net->levels; l++)
        net->widths[l] = width * (kind == SN_NET_SEG ? mult_seg[l] : mult_rec[l]);
    const int nblocks = 2 * net->levels - 1;
    for (int l = 0; l < net->levels; l++) {
        SN_CALLOC(net->enc[l].u, units, "U-Net units");
        net->enc[l].n = units;
        if (l < net->levels - 1) {
            SN_CALLOC(net->dec[l].u, units, "U-Net units");
            net->dec[l].n = units;
        }
    }
    SN_CALLOC(net->info, (size_t)nblocks * units * 6 + 2, "U-Net tensor table");
    layout(net, 1, &net->np, &net->nb);
    SN_CALLOC(net->params, net->np, "U-Net parameters");
    SN_CALLOC(net->grads, net->np, "U-Net gradients");
    SN_CALLOC(net->buffers, net->nb, "U-Net BatchNorm statistics");
    SN_CALLOC(net->stats, net->nb, "U-Net batch statistics");
    size_t np2, nb2;
    layout(net, 0, &np2, &nb2);
    SN_ASSERT(np2 == net->np && nb2 == net->nb);
    {
        char bname[16];
        for (int l = 0; l < net->levels; l++) {
            snprintf(bname, sizeof bname, "E%d", l + 1);
            add_buffer_info(net, &net->enc[l], bname);
        }
        for (int l = net->levels - 2; l >= 0; l--) {
            snprintf(bname, sizeof bname, "D%d", l + 1);
            add_buffer_info(net, &net->dec[l], bname);
        }
    }
    /* per-unit batch mean/invstd live in `stats` at the buffer offsets */
    for (int l = 0; l < net->levels; l++) {
        block_t *bs[2] = {&net->enc[l], l < net->levels - 1 ? &net->dec[l] : NULL};
        for (int k = 0; k < 2; k++)
            for (int u = 0; bs[k] && u < bs[k]->n; u++) {
                unit_t *un = &bs[k]->u[u];
                un->bn.eps = bn_eps;
                un->bn.momentum = bn_momentum;
                un->mean = net->stats + un->rm_off;
                un->invstd = net->stats + un->rv_off;
            }
    }
    *out = net;
    net = NULL;
done:
    sn_unet_free(net);
    return status;
}

static void free_activations(sn_unet *net)
{
    for (int l = 0; l < SN_MAX_LEVELS; l++) {
        block_t *bs[2] = {&net->enc[l], &net->dec[l]};
        for (int k = 0; k < 2; k++)
            for (int u = 0; u < bs[k]->n; u++) {
                sn_tensor_free(&bs[k]->u[u].z);
                sn_tensor_free(&bs[k]->u[u].a);
            }
        sn_tensor_free(&net->pooled[l]);
        sn_tensor_free(&net->up[l]);
        sn_tensor_free(&net->g_out[l]);
        sn_tensor_free(&net->g_tmp[l]);
        sn_tensor_free(&net->g_skip[l]);
        sn_tensor_free(&net->g_up[l]);
        sn_tensor_free(&net->g_pool[l]);
        sn_free(net->pool_arg[l]);
        net->pool_arg[l] = NULL;
        net->pool_arg_cap[l] = 0;
    }
    sn_tensor_free(&net->out_z);
    sn_tensor_free(&net->out);
    sn_tensor_free(&net->g_final);
    net->cur_n = net->cur_s = 0;
    net->have_train_forward = 0;
}

void sn_unet_release(sn_unet *net) { free_activations(net); }

void sn_unet_free(sn_unet *net)
{
    if (!net)
        return;
    free_activations(net);
    for (int l = 0; l < SN_MAX_LEVELS; l++) {
        sn_free(net->enc[l].u);
        sn_free(net->dec[l].u);
    }
    sn_free(net->params);
    sn_free(net->grads);
    sn_free(net->buffers);
    sn_free(net->stats);
    sn_free(net->fold);
    sn_free(net->fold_bf);
    sn_free(net->info);
    sn_free(net);
}

/* ---- initialisation ---------------------------------------------------------------------- */

static void init_conv(float *w, float *b, int cout, int cin, sn_rng *s)
{
    const double bound = 1.0 / sqrt((double)cin * 9.0);
    for (size_t i = 0; i < (size_t)cout * cin * 9; i++)
        w[i] = (float)(0.02 * sn_rng_normal(s));
    for (int i = 0; i < cout; i++)
        b[i] = (float)sn_rng_range(s, -bound, bound);
}

void sn_unet_init(sn_unet *net, uint64_t seed)
{
    sn_rng s;
    sn_rng_init(&s, seed, SN_RNG_STAGE_INIT, 0, (uint64_t)net->kind);
    for (int l = 0; l < net->levels; l++) {
        block_t *bs[2] = {&net->enc[l], l < net->levels - 1 ? &net->dec[l] : NULL};
        for (int k = 0; k < 2; k++)
            for (int u = 0; bs[k] && u < bs[k]->n; u++) {
                unit_t *un = &bs[k]->u[u];
                init_conv(net->params + un->w_off, net->params + un->b_off, un->conv.cout, un->conv.cin, &s);
                for (int c = 0; c < un->conv.cout; c++) {
                    net->params[un->g_off + c] = (float)(1.0 + 0.02 * sn_rng_normal(&s));
                    net->params[un->be_off + c] = 0.0f;
                    net->buffers[un->rm_off + c] = 0.0f;
                    net->buffers[un->rv_off + c] = 1.0f;
                }
            }
    }
    init_conv(net->params + net->ow_off, net->params + net->ob_off, net->out_c, net->widths[0], &s);
}

/* ---- accessors --------------------------------------------------------------------------- */

sn_net_kind sn_unet_kind(const sn_unet *net) { return net->kind; }
const char *sn_unet_kind_name(sn_net_kind kind) { return kind == SN_NET_SEG ? "seg" : "rec"; }
int sn_unet_in_channels(const sn_unet *net) { (void)net; return 3; }
int sn_unet_out_channels(const sn_unet *net) { return net->out_c; }
int sn_unet_size_multiple(sn_net_kind kind) { return kind == SN_NET_SEG ? 4 : 16; }
float *sn_unet_params(sn_unet *net) { return net->params; }
float *sn_unet_grads(sn_unet *net) { return net->grads; }
float *sn_unet_buffers(sn_unet *net) { return net->buffers; }
size_t sn_unet_param_count(const sn_unet *net) { return net->np; }
size_t sn_unet_buffer_count(const sn_unet *net) { return net->nb; }
int sn_unet_tensor_count(const sn_unet *net) { return net->ninfo; }
const sn_tensor_info *sn_unet_tensor(const sn_unet *net, int i)
{
    SN_ASSERT(i >= 0 && i < net->ninfo);
    return &net->info[i];
}
void sn_unet_set_fold(sn_unet *net, int on) { net->no_fold = !on; }

/* The order of forward_pass / sn_unet_backward; per unit, bn_forward reduces the channel sums
 * and the count (c + 1), then the squared deviations (c); bn_backward the two gradient sums and
 * the count (2c + 1). */
int sn_unet_bn_reductions(const sn_unet *net, int *len, int max)
{
    const int L = net->levels;
    int k = 0;
#define SN_PUT(v) do { if (k < max) len[k] = (v); k++; } while (0)
    for (int l = 0; l < L; l++)
        for (int u = 0; u < net->enc[l].n; u++) {
            SN_PUT(net->enc[l].u[u].conv.cout + 1);
            SN_PUT(net->enc[l].u[u].conv.cout);
        }
    for (int l = L - 2; l >= 0; l--)
        for (int u = 0; u < net->dec[l].n; u++) {
            SN_PUT(net->dec[l].u[u].conv.cout + 1);
            SN_PUT(net->dec[l].u[u].conv.cout);
        }
    for (int l = 0; l <= L - 2; l++)
        for (int u = net->dec[l].n - 1; u >= 0; u--)
            SN_PUT(2 * net->dec[l].u[u].conv.cout + 1);
    for (int l = L - 1; l >= 0; l--)
        for (int u = net->enc[l].n - 1; u >= 0; u--)
            SN_PUT(2 * net->enc[l].u[u].conv.cout + 1);
#undef SN_PUT
    return k;
}

sn_status sn_unet_set_precision(sn_unet *net, sn_precision p)
{
    sn_status status = SN_OK;
    if (p == SN_PREC_BF16 && !conv_bf16_available())
        SN_FAIL(SN_EINVAL, "precision = bf16: this CPU does not report AVX512_BF16 (or the build has no "
                "bf16 kernel); use precision = fp32");
    if (p == SN_PREC_BF16 && !net->fold_bf) {
        size_t words = 0;
        for (int l = 0; l < net->levels; l++) {
            block_t *bs[2] = {&net->enc[l], l < net->levels - 1 ? &net->dec[l] : NULL};
            for (int k = 0; k < 2; k++)
                for (int u = 0; bs[k] && u < bs[k]->n; u++) {
                    bs[k]->u[u].bf_off = words;
                    words += conv_bf16_packed_words(&bs[k]->u[u].conv);
                }
        }
        SN_CALLOC(net->fold_bf, words, "bf16 inference weights");
    }
    net->bf16 = p == SN_PREC_BF16;
done:
    return status;
}
void sn_unet_zero_grad(sn_unet *net) { memset(net->grads, 0, net->np * sizeof(float)); }

void sn_unet_set_grad_ready(sn_unet *net, const sn_grad_ready_hook *hook)
{
    net->ready = hook ? *hook : (sn_grad_ready_hook){NULL, NULL};
}

size_t sn_unet_activation_bytes(const sn_unet *net)
{
    size_t b = 0;
    for (int l = 0; l < SN_MAX_LEVELS; l++) {
        const block_t *bs[2] = {&net->enc[l], &net->dec[l]};
        for (int k = 0; k < 2; k++)
            for (int u = 0; u < bs[k]->n; u++)
                b += bs[k]->u[u].z.cap + bs[k]->u[u].a.cap;
        b += net->pooled[l].cap + net->up[l].cap + net->g_out[l].cap + net->g_tmp[l].cap +
             net->g_skip[l].cap + net->g_up[l].cap + net->g_pool[l].cap;
    }
    b += net->out_z.cap + net->out.cap + net->g_final.cap;
    size_t arg = 0;
    for (int l = 0; l < SN_MAX_LEVELS; l++)
        arg += net->pool_arg_cap[l];
    return b * sizeof(float) + arg;
}

/* ---- forward ----------------------------------------------------------------------------- */

/* The fused inference path writes each unit's output straight into `a`: z is needed only by
 * training (BN statistics, backward) and by the unfused path; the max-pool winners only by
 * training. */
static sn_status ensure_activations(sn_unet *net, int n, int s, int need_z, int training)
{
    sn_status status = SN_OK;
    const int L = net->levels;
    for (int l = 0; l < L; l++) {
        const int sl = s >> l;
        block_t *bs[2] = {&net->enc[l], l < L - 1 ? &net->dec[l] : NULL};
        for (int k = 0; k < 2; k++)
            for (int u = 0; bs[k] && u < bs[k]->n; u++) {
                if (need_z)
                    SN_TRY(sn_tensor_ensure(&bs[k]->u[u].z, n, net->widths[l], sl, sl, "activations"));
                SN_TRY(sn_tensor_ensure(&bs[k]->u[u].a, n, net->widths[l], sl, sl, "activations"));
            }
        if (l > 0)
            SN_TRY(sn_tensor_ensure(&net->pooled[l], n, net->widths[l - 1], sl, sl, "activations"));
        if (l > 0 && training) {
            const size_t need = (size_t)n * net->widths[l - 1] * sl * sl;
            if (net->pool_arg_cap[l] < need) {
                sn_free(net->pool_arg[l]);
                net->pool_arg[l] = NULL;
                net->pool_arg_cap[l] = 0;
                SN_ALLOC(net->pool_arg[l], need, "max-pool winners");
                net->pool_arg_cap[l] = need;
            }
        }
        if (l < L - 1)
            SN_TRY(sn_tensor_ensure(&net->up[l], n, net->widths[l + 1], sl, sl, "activations"));
    }
    SN_TRY(sn_tensor_ensure(&net->out_z, n, net->out_c, s, s, "activations"));
    net->cur_n = n;
    net->cur_s = s;
done:
    return status;
}

/* Inference with BatchNorm folded into the convolution: y = relu(conv(x, w * s) + (b - m) * s + beta)
 * with s = gamma / sqrt(running_var + eps), the same scale bn_forward applies. Writes the folded
 * weights and bias into net->fold at the unit's offsets (block_forward reads them there). */
static void fold_unit(sn_unet *net, const unit_t *un)
{
    const int cout = un->conv.cout;
    const size_t per = (size_t)un->conv.cin * un->conv.k * un->conv.k;
    const float *w = net->params + un->w_off, *b = net->params + un->b_off;
    const float *g = net->params + un->g_off, *be = net->params + un->be_off;
    const float *rm = net->buffers + un->rm_off, *rv = net->buffers + un->rv_off;
    float *fw = net->fold + un->w_off, *fb = net->fold + un->b_off;
    for (int co = 0; co < cout; co++) {
        const float invstd = (float)(1.0 / sqrt((double)rv[co] + un->bn.eps));
        const float scale = invstd * g[co];
        for (size_t i = 0; i < per; i++)
            fw[co * per + i] = w[co * per + i] * scale;
        fb[co] = (float)(((double)b[co] - rm[co]) * scale + be[co]);
    }
}

/* Fold every unit, once per inference forward (before its chunks). */
static void fold_all(sn_unet *net)
{
    for (int l = 0; l < net->levels; l++) {
        block_t *bs[2] = {&net->enc[l], l < net->levels - 1 ? &net->dec[l] : NULL};
        for (int k = 0; k < 2; k++)
            for (int u = 0; bs[k] && u < bs[k]->n; u++) {
                fold_unit(net, &bs[k]->u[u]);
                if (net->bf16)
                    conv_bf16_pack(&bs[k]->u[u].conv, net->fold + bs[k]->u[u].w_off, net->fold_bf + bs[k]->u[u].bf_off);
            }
    }
}

static sn_status block_forward(sn_unet *net, block_t *b, const sn_tensor *const *src, int nsrc,
                               int training, const sn_reduce_hook *hook)
{
    sn_status status = SN_OK;
    for (int u = 0; u < b->n; u++) {
        unit_t *un = &b->u[u];
        const sn_tensor *one[1] = {u > 0 ? &b->u[u - 1].a : NULL};
        if (!training && !net->no_fold) {
            sn_conv_shape fused = un->conv;
            fused.relu = 1;
            const sn_tensor *const *in = u == 0 ? src : one;
            if (net->bf16 && conv_bf16_supported(&fused, in[0]->h, in[0]->w)) {
                SN_TRY(conv_forward_bf16(&fused, in, u == 0 ? nsrc : 1, net->fold_bf + un->bf_off,
                                         net->fold + un->b_off, &un->a));
                continue;
            }
            SN_TRY(conv_forward(&fused, u == 0 ? src : one, u == 0 ? nsrc : 1, net->fold + un->w_off,
                                net->fold + un->b_off, &un->a));
            continue;
        }
        SN_TRY(conv_forward(&un->conv, u == 0 ? src : one, u == 0 ? nsrc : 1, net->params + un->w_off,
                            net->params + un->b_off, &un->z));
        SN_TRY(bn_forward(&un->bn, training, &un->z, net->params + un->g_off, net->params + un->be_off,
                          net->buffers + un->rm_off, net->buffers + un->rv_off, hook, un->mean,
                          un->invstd, &un->a));
    }
done:
    return status;
}

static const sn_tensor *block_out(const block_t *b) { return &b->u[b->n - 1].a; }

/* Inference runs the batch in chunks of images whose activations fit this budget (at least one
 * image): the activations are then a fraction of a whole batch's, and the output is the same,
 * since inference treats every image on its own. SERNET_INFER_CHUNK_MB overrides it. */
static size_t chunk_budget_bytes(void)
{
    const char *e = getenv("SERNET_INFER_CHUNK_MB");
    const double mb = e ? atof(e) : 0.0;
    return (size_t)((mb > 0.0 ? mb : 256.0) * 1048576.0);
}

/* Activation bytes of one image in an inference forward (what ensure_activations allocates). */
static size_t image_activation_bytes(const sn_unet *net, int s, int need_z)
{
    size_t f = 0;
    const int L = net->levels;
    for (int l = 0; l < L; l++) {
        const size_t px = (size_t)(s >> l) * (size_t)(s >> l);
        const int blocks = l < L - 1 ? 2 : 1;
        f += px * (size_t)blocks * net->units * net->widths[l] * (need_z ? 2 : 1);
        if (l > 0)
            f += px * net->widths[l - 1];
        if (l < L - 1)
            f += px * net->widths[l + 1];
    }
    f += (size_t)s * s * net->out_c;
    return f * sizeof(float);
}

/* One pass over a batch (or a chunk of one) whose activations are ensured; the sigmoid output
 * goes to `out`. */
static sn_status forward_pass(sn_unet *net, const sn_tensor *x, int training, const sn_reduce_hook *hook,
                              sn_tensor *out)
{
    sn_status status = SN_OK;
    const int L = net->levels;
    for (int l = 0; l < L; l++) {
        if (l == 0) {
            const sn_tensor *src[1] = {x};
            SN_TRY(block_forward(net, &net->enc[0], src, 1, training, hook));
        } else {
            if (training)
                maxpool2_forward_arg(block_out(&net->enc[l - 1]), &net->pooled[l], net->pool_arg[l]);
            else
                maxpool2_forward(block_out(&net->enc[l - 1]), &net->pooled[l]);
            const sn_tensor *src[1] = {&net->pooled[l]};
            SN_TRY(block_forward(net, &net->enc[l], src, 1, training, hook));
        }
    }
    for (int l = L - 2; l >= 0; l--) {
        const sn_tensor *below = l == L - 2 ? block_out(&net->enc[L - 1]) : block_out(&net->dec[l + 1]);
        SN_TRY(upsample2_forward(below, &net->up[l]));
        const sn_tensor *src[2] = {&net->up[l], block_out(&net->enc[l])};
        SN_TRY(block_forward(net, &net->dec[l], src, 2, training, hook));
    }
    const sn_tensor *src[1] = {block_out(&net->dec[0])};
    SN_TRY(conv_forward(&net->out_conv, src, 1, net->params + net->ow_off, net->params + net->ob_off,
                        &net->out_z));
    sigmoid_forward(&net->out_z, out);
done:
    return status;
}

sn_status sn_unet_forward(sn_unet *net, const sn_tensor *x, int training, const sn_reduce_hook *hook,
                          const sn_tensor **out)
{
    sn_status status = SN_OK;
    const int mult = sn_unet_size_multiple(net->kind);
    if (x->c != 3)
        SN_FAIL(SN_EINVAL, "%s net input has %d channels, expected 3 (RGB)", sn_unet_kind_name(net->kind), x->c);
    if (x->h != x->w || x->h % mult != 0 || x->h < mult)
        SN_FAIL(SN_EINVAL, "%s net input is %dx%d: the side must be square and a multiple of %d",
                sn_unet_kind_name(net->kind), x->h, x->w, mult);
    if (x->n < 1)
        SN_FAIL(SN_EINVAL, "empty batch");
    const int fold = !training && !net->no_fold;
    if (fold && !net->fold)
        SN_CALLOC(net->fold, net->np, "folded inference weights");
    if (fold)
        fold_all(net);
    net->have_train_forward = 0;
    const int s = x->h;
    int chunk = x->n;
    if (!training) {
        chunk = (int)SN_MAX(1, SN_MIN((size_t)x->n, chunk_budget_bytes() / image_activation_bytes(net, s, !fold)));
        const int chunks = (x->n + chunk - 1) / chunk;
        chunk = (x->n + chunks - 1) / chunks; /* balanced: 8 images in 3 chunks are 3 + 3 + 2 */
    }
    SN_TRY(sn_tensor_ensure(&net->out, x->n, net->out_c, s, s, "activations"));
    const size_t in_img = (size_t)3 * s * s, out_img = (size_t)net->out_c * s * s;
    for (int i0 = 0; i0 < x->n; i0 += chunk) {
        const int m = SN_MIN(chunk, x->n - i0);
        SN_TRY(ensure_activations(net, m, s, !fold, training));
        sn_tensor xv = sn_tensor_view(x->data + (size_t)i0 * in_img, m, 3, s, s);
        sn_tensor ov = sn_tensor_view(net->out.data + (size_t)i0 * out_img, m, net->out_c, s, s);
        SN_TRY(forward_pass(net, m == x->n ? x : &xv, training, hook, &ov));
    }
    net->x_in = x;
    net->have_train_forward = training;
    *out = &net->out;
done:
    return status;
}

/* ---- backward ---------------------------------------------------------------------------- */

/* Most gradients live in the storage of an activation that the backward pass no longer needs
 * once the gradient is written (training memory: issue 15):
 * - g_up[l] in up[l] and g_pool[l] in pooled[l]: the convolution that reads the source writes its
 *   gradient (conv_backward computes the weight gradient first);
 * - g_skip[l] in the encoder's output at level l: read by the decoder's first convolution, which
 *   writes its gradient there (as above), and by the max-pool, whose backward uses the recorded
 *   winners instead; at the bottom level only the up-sampling read it (forward);
 * - g_out[l] in the decoder's output at level l: read by the output convolution (l = 0, as above)
 *   or only by the forward up-sampling (l > 0);
 * - g_final in out_z (the sigmoid's backward reads its output, not its input).
 * The BatchNorm backward recomputes its ReLU mask from z, so the post-ReLU outputs are not
 * needed either. The backward pass therefore destroys the activations: it runs once per
 * training forward. */
static sn_status ensure_grads(sn_unet *net)
{
    sn_status status = SN_OK;
    const int L = net->levels, n = net->cur_n, s = net->cur_s;
    for (int l = 0; l < L; l++) {
        const int sl = s >> l;
        net->g_skip[l] = sn_tensor_view(block_out(&net->enc[l])->data, n, net->widths[l], sl, sl);
        if (l < L - 1) {
            net->g_out[l] = sn_tensor_view(block_out(&net->dec[l])->data, n, net->widths[l], sl, sl);
            net->g_up[l] = sn_tensor_view(net->up[l].data, n, net->widths[l + 1], sl, sl);
        }
        if (net->units > 1)
            SN_TRY(sn_tensor_ensure(&net->g_tmp[l], n, net->widths[l], sl, sl, "gradients"));
        if (l > 0)
            net->g_pool[l] = sn_tensor_view(net->pooled[l].data, n, net->widths[l - 1], sl, sl);
    }
    net->g_final = sn_tensor_view(net->out_z.data, n, net->out_c, s, s); /* pre-sigmoid output: dead */
done:
    return status;
}

/* The gradients [from, end) are final. The layout puts the tensors in the reverse of the
 * backward's order, so each finished range must end where the final ones begin. */
static void grads_final(sn_unet *net, size_t from, size_t end)
{
    SN_ASSERT(end == net->ready_from && from < end);
    net->ready_from = from;
    if (net->ready.fn)
        net->ready.fn(from, net->ready.ctx);
}

/* g: gradient of the block output (destroyed). dsrc: gradients for the first unit's sources
 * (entries may be NULL). tmp: scratch of the block's width for units > 1. */
static sn_status block_backward(sn_unet *net, block_t *b, const sn_tensor *const *src, int nsrc,
                                sn_tensor *g, sn_tensor *tmp, sn_tensor *const *dsrc,
                                const sn_reduce_hook *hook)
{
    sn_status status = SN_OK;
    sn_tensor *cur = g, *other = tmp;
    for (int u = b->n - 1; u >= 0; u--) {
        unit_t *un = &b->u[u];
        float *p = net->params, *gr = net->grads;
        SN_TRY(bn_backward(&un->bn, &un->z, p + un->g_off, p + un->be_off, un->mean, un->invstd, hook, cur,
                           cur, gr + un->g_off, gr + un->be_off));
        if (u > 0) {
            const sn_tensor *in[1] = {&b->u[u - 1].a};
            sn_tensor *din[1] = {other};
            SN_TRY(conv_backward(&un->conv, in, 1, p + un->w_off, cur, din, gr + un->w_off, gr + un->b_off));
            sn_tensor *t = cur;
            cur = other;
            other = t;
        } else {
            SN_TRY(conv_backward(&un->conv, src, nsrc, p + un->w_off, cur, dsrc, gr + un->w_off,
                                 gr + un->b_off));
        }
        grads_final(net, un->w_off, un->be_off + (size_t)un->conv.cout);
    }
done:
    return status;
}

sn_status sn_unet_backward(sn_unet *net, const sn_tensor *dout, const sn_reduce_hook *hook)
{
    sn_status status = SN_OK;
    const int L = net->levels;
    float *gr = net->grads;
    if (!net->have_train_forward)
        SN_FAIL(SN_EINVAL, "backward needs a training-mode forward first (one backward per forward)");
    SN_ASSERT(dout->n == net->out.n && dout->c == net->out.c && dout->h == net->out.h);
    net->have_train_forward = 0; /* the activations hold gradients from here on */
    SN_TRY(ensure_grads(net));
    net->ready_from = net->np;
    sigmoid_backward(&net->out, dout, &net->g_final);
    {
        const sn_tensor *in[1] = {block_out(&net->dec[0])};
        sn_tensor *din[1] = {&net->g_out[0]};
        SN_TRY(conv_backward(&net->out_conv, in, 1, net->params + net->ow_off, &net->g_final, din,
                             gr + net->ow_off, gr + net->ob_off));
        grads_final(net, net->ow_off, net->np);
    }
    for (int l = 0; l <= L - 2; l++) {
        const sn_tensor *src[2] = {&net->up[l], block_out(&net->enc[l])};
        sn_tensor *dsrc[2] = {&net->g_up[l], &net->g_skip[l]};
        SN_TRY(block_backward(net, &net->dec[l], src, 2, &net->g_out[l], &net->g_tmp[l], dsrc, hook));
        sn_tensor *below = l == L - 2 ? &net->g_skip[L - 1] : &net->g_out[l + 1];
        SN_TRY(upsample2_backward(&net->g_up[l], below));
    }
    for (int l = L - 1; l >= 0; l--) {
        if (l > 0) {
            const sn_tensor *src[1] = {&net->pooled[l]};
            sn_tensor *dsrc[1] = {&net->g_pool[l]};
            SN_TRY(block_backward(net, &net->enc[l], src, 1, &net->g_skip[l], &net->g_tmp[l], dsrc, hook));
            maxpool2_backward_arg(net->pool_arg[l], &net->g_pool[l], &net->g_skip[l - 1]);
        } else {
            const sn_tensor *src[1] = {net->x_in};
            sn_tensor *dsrc[1] = {NULL};
            SN_TRY(block_backward(net, &net->enc[0], src, 1, &net->g_skip[0], &net->g_tmp[0], dsrc, hook));
        }
    }
    SN_ASSERT(net->ready_from == 0);
done:
    return status;
}

/* ---- FLOPs ------------------------------------------------------------------------------- */

double sn_unet_flops(sn_net_kind kind, int width, int units, int s, int training)
{
    const int L = kind == SN_NET_SEG ? 3 : 5, out_c = kind == SN_NET_SEG ? 1 : 3;
    static const int mult_seg[] = {1, 2, 4}, mult_rec[] = {1, 2, 4, 8, 8};
    double fwd = 0.0, first = 0.0;
    for (int l = 0; l < L; l++) {
        const int wl = width * (kind == SN_NET_SEG ? mult_seg[l] : mult_rec[l]);
        const double px = (double)(s >> l) * (s >> l);
        for (int u = 0; u < units; u++) {
            const int cin_e = u ? wl : (l == 0 ? 3 : width * (kind == SN_NET_SEG ? mult_seg[l - 1] : mult_rec[l - 1]));
            const double f = 2.0 * px * wl * cin_e * 9.0;
            fwd += f;
            if (l == 0 && u == 0)
                first = f;
            if (l < L - 1) {
                const int wb = width * (kind == SN_NET_SEG ? mult_seg[l + 1] : mult_rec[l + 1]);
                const int cin_d = u ? wl : wb + wl;
                fwd += 2.0 * px * wl * cin_d * 9.0;
            }
        }
    }
    fwd += 2.0 * (double)s * s * out_c * width * 9.0;
    return training ? 3.0 * fwd - first : fwd;
}
