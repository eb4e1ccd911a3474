/* The two SeRNet U-Nets (METHOD.md §1) on top of the layer kernels.
 * All parameters live in one contiguous buffer, all gradients in another (allreduced per step,
 * in buckets while the backward runs: sn_unet_set_grad_ready), BatchNorm running statistics in a third. Tensor order and names are canonical:
 * for each block (seg: E1 E2 E3 D2 D1; rec: E1..E5 D4 D3 D2 D1) and unit u:
 * "B.u.conv.weight", "B.u.conv.bias", "B.u.bn.weight", "B.u.bn.bias", then "out.weight",
 * "out.bias"; buffers "B.u.bn.running_mean", "B.u.bn.running_var". */
#ifndef SERNET_UNET_H
#define SERNET_UNET_H

#include "sernet/nn.h"

typedef enum { SN_NET_SEG = 0, SN_NET_REC = 1 } sn_net_kind;

typedef struct {
    char name[48];
    int is_buffer;  /* 0: parameter, 1: BatchNorm running statistic */
    size_t offset;  /* in floats, into the parameter or buffer vector */
    int ndim;
    int dims[4];
    size_t numel;
} sn_tensor_info;

typedef struct sn_unet sn_unet;

/* Net of `kind` with first-block width `width` and `units` conv units per block. */
sn_status sn_unet_create(sn_unet **net, sn_net_kind kind, int width, int units, double bn_eps,
                         double bn_momentum);
void sn_unet_free(sn_unet *net);

/* DRAEM initialisation from `seed`: conv weights N(0, 0.02^2), conv bias U(+-1/sqrt(fan_in)),
 * BN gamma N(1, 0.02^2), beta 0; running mean 0, variance 1. */
void sn_unet_init(sn_unet *net, uint64_t seed);

sn_net_kind sn_unet_kind(const sn_unet *net);
const char *sn_unet_kind_name(sn_net_kind kind);
int sn_unet_in_channels(const sn_unet *net);
int sn_unet_out_channels(const sn_unet *net);
/* Side lengths must be multiples of this (4 for seg, 16 for rec). */
int sn_unet_size_multiple(sn_net_kind kind);

float *sn_unet_params(sn_unet *net);
float *sn_unet_grads(sn_unet *net);
float *sn_unet_buffers(sn_unet *net);
size_t sn_unet_param_count(const sn_unet *net);
size_t sn_unet_buffer_count(const sn_unet *net);
int sn_unet_tensor_count(const sn_unet *net);
const sn_tensor_info *sn_unet_tensor(const sn_unet *net, int i);

/* x: [N, 3, S, S] in [0, 1]. *out receives a view of the output [N, Cout, S, S] owned by the
 * net (valid until the next forward). training: batch statistics (reduced through `hook`)
 * and activations kept for backward; otherwise running statistics. The net keeps a pointer to
 * x for the backward pass: x must stay unchanged until sn_unet_backward has run. */
sn_status sn_unet_forward(sn_unet *net, const sn_tensor *x, int training, const sn_reduce_hook *hook,
                          const sn_tensor **out);
/* dout: gradient w.r.t. the output of the last training forward. Gradients are accumulated
 * into the gradient buffer (clear it with sn_unet_zero_grad). */
sn_status sn_unet_backward(sn_unet *net, const sn_tensor *dout, const sn_reduce_hook *hook);
void sn_unet_zero_grad(sn_unet *net);
/* The BatchNorm reductions that one training forward and its backward make through the hook,
 * in call order: writes the length of each (doubles) to len[0 .. max-1] and returns how many
 * there are. A rank whose pass failed part-way makes the rest of them with any values, so that
 * every rank makes the same collective calls (src/train/step.c). */
int sn_unet_bn_reductions(const sn_unet *net, int *len, int max);
/* Told during sn_unet_backward each time more gradients are final: every gradient from float
 * offset `from` to the end of the gradient buffer will not change again in this backward.
 * Gradients become final from the end of the buffer towards its start, one conv unit at a time
 * (the output convolution first, E1's first unit last; the canonical order above is the reverse
 * of the backward's): `from` decreases from call to call, and the last call of a successful
 * backward has from = 0. A failed backward stops calling it. The training step uses it to start
 * the allreduce of finished gradients while the backward goes on (src/dist/gradsync.c). */
typedef struct {
    void (*fn)(size_t from, void *ctx);
    void *ctx;
} sn_grad_ready_hook;
/* The hook the following backward passes call (copied); NULL: none (the default). */
void sn_unet_set_grad_ready(sn_unet *net, const sn_grad_ready_hook *hook);
/* Inference forwards fold each BatchNorm into the convolution before it (weights scaled, bias
 * shifted, ReLU applied as the outputs are written): on by default. Off runs conv -> BN -> ReLU
 * as in training mode, the reference the folded path is tested against. */
void sn_unet_set_fold(sn_unet *net, int on);
/* Arithmetic of the folded inference convolutions: float32 (the default), or bfloat16 operands
 * with float32 accumulation (src/nn/conv_bf16.c) on layers whose width is a multiple of 16
 * (the others, and the output convolution, stay float32). Training forwards and the unfolded
 * path are always float32. SN_EINVAL (naming the key `precision`) if bf16 is asked for on a CPU
 * without AVX512_BF16. */
typedef enum { SN_PREC_FP32 = 0, SN_PREC_BF16 = 1 } sn_precision;
sn_status sn_unet_set_precision(sn_unet *net, sn_precision p);
/* Drop activation and gradient buffers (they are reallocated on the next forward). */
void sn_unet_release(sn_unet *net);
/* Bytes currently held by activations and gradient scratch. */
size_t sn_unet_activation_bytes(const sn_unet *net);

/* Multiply-add FLOPs (2 per MAC) of the convolutions for one image of side s:
 * forward only, or a training step (forward, input gradients except the first layer's, and
 * weight gradients). */
double sn_unet_flops(sn_net_kind kind, int width, int units, int s, int training);

#endif
