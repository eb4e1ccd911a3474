/* bfloat16 inference convolution with float32 accumulation (src/nn/conv_bf16.c).
 * The same 3x3 layer as conv_forward (x: up to SN_CONV_MAX_SRC sources concatenated along
 * channels, all [N, Ci, H, W]; y: [N, Cout, H, W]; bias and optional ReLU fused), with the
 * weights and activations rounded to bfloat16 (round to nearest even) and every product summed
 * in float32 by AVX512_BF16's dot-product instruction. Used only at inference, behind the
 * configuration key `precision = bf16` (docs/config.md); off by default. */
#ifndef SERNET_CONV_BF16_H
#define SERNET_CONV_BF16_H

#include "sernet/nn.h"

#include <stdint.h>

/* 1 if this CPU reports AVX512_BF16 (and AVX512F/BW) and the build has the kernel; checked
 * at run time, so one binary serves machines with and without it. */
int conv_bf16_available(void);
/* 1 if the kernel handles the shape: K = 3 and W a multiple of 16 (whatever the CPU). */
int conv_bf16_supported(const sn_conv_shape *s, int h, int w);

/* float -> bfloat16 bits as the hardware converts (VCVTNEPS2BF16): round to nearest even,
 * denormals flushed to a zero of the same sign, NaN kept a (quiet) NaN. */
uint16_t sn_bf16_from_float(float f);
float sn_bf16_to_float(uint16_t h);

/* Packed weights: [ceil(Cout/4)][ceil(Cin/2)][9][4] 32-bit words, each the bfloat16 pair of
 * input channels (2c, 2c+1) of one output channel and tap (channel 2c in the low half; a
 * missing channel or output channel is zero). Converted once per set of weights. */
size_t conv_bf16_packed_words(const sn_conv_shape *s);
void conv_bf16_pack(const sn_conv_shape *s, const float *w, uint32_t *wp);

/* Forward with packed weights wp (conv_bf16_pack) and float32 bias b (may be NULL). Needs
 * conv_bf16_available() and conv_bf16_supported() (asserted). SN_ENOMEM if scratch cannot be
 * allocated. */
sn_status conv_forward_bf16(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const uint32_t *wp,
                            const float *b, sn_tensor *y);

/* Plain reference of the same arithmetic: x and w rounded by sn_bf16_from_float, products
 * (exact in float32) summed in float32 per output in the kernel's order (input-channel pairs,
 * then taps, channel 2c before 2c+1), products too small for a normal float flushed to zero
 * as the instruction does; then bias and ReLU. Any CPU; unpacked float weights [Cout, Cin, 3, 3]. */
void conv_forward_bf16_ref(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                           const float *b, sn_tensor *y);

#endif
