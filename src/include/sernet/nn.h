/* Layer kernels of the engine: forward and backward for each layer, float32 NCHW.
 * Optimised kernels parallelise with OpenMP (static schedules, so results are reproducible
 * for a fixed thread count); every kernel has a plain reference in src/nn/ref.c that the
 * tests compare against. */
#ifndef SERNET_NN_H
#define SERNET_NN_H

#include "sernet/tensor.h"

/* ---- 2-D convolution, K x K, stride 1, zero padding K/2 -----------------------------------
 * x: the input as up to SN_CONV_MAX_SRC tensors concatenated along channels (all [N,Ci,H,W];
 *    sum Ci = Cin), so a decoder's [upsampled, skip] concat needs no copy.
 * w: [Cout, Cin, K, K]   b: [Cout]   y: [N, Cout, H, W] */
#define SN_CONV_MAX_SRC 2
typedef struct {
    int cin, cout, k;
    int relu; /* forward only: ReLU applied to the output in the same pass (inference, BN folded) */
    int winograd; /* the Winograd kernel may serve its forward and its input gradient (outputs
                   * differ from the direct kernel's in the last bits) */
} sn_conv_shape;

sn_status conv_forward(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                       const float *b, sn_tensor *y);
/* The two forward algorithms conv_forward chooses between (src/nn/conv.c, src/nn/conv_direct.c):
 * im2col + GEMM (any shape), and a direct AVX-512 kernel (K = 3, W a multiple of 16;
 * conv_direct_supported says 0 without AVX-512), taken wherever it applies, also
 * for conv_backward's input gradient. SERNET_CONV_ALGO=gemm selects the GEMM path everywhere
 * (measurements). Same arguments as conv_forward. */
sn_status conv_forward_gemm(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                            const float *b, sn_tensor *y);
/* The sources agree with each other and with s (1..SN_CONV_MAX_SRC tensors of one N, H, W whose
 * channels add up to cin; odd K) and, when y is given, y is [N, cout, H, W]. */
int conv_sources_ok(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *y);
int conv_direct_supported(const sn_conv_shape *s, int h, int w);
sn_status conv_forward_direct(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                              const float *b, sn_tensor *y);
/* Winograd F(2x2, 3x3), AVX-512 (src/nn/conv_winograd.c): K = 3, H even, W a multiple of 32;
 * conv_forward and conv_backward's input gradient take it for shapes that ask for it
 * (s->winograd), from 16 input and 8 output channels on, unless SERNET_CONV_ALGO is "direct" or
 * "gemm". conv_winograd_transform_ref: the scalar transforms of one tile
 * (v = B^T d B of a 4x4 patch, u = G g G^T of 3x3 weights, y = A^T m A). */
int conv_winograd_supported(const sn_conv_shape *s, int h, int w);
sn_status conv_forward_winograd(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                                const float *b, sn_tensor *y);
void conv_winograd_transform_ref(const float d[16], const float g[9], const float m[16], float v[16],
                                 float u[16], float y[4]);
/* Direct AVX-512 weight (and bias) gradient of a 3x3 convolution (src/nn/conv_wgrad.c): any H, W
 * and channel counts (conv_wgrad_direct_supported says 0 without AVX-512). dy: [N, Cout, H, W];
 * dw [Cout, Cin, 3, 3] and db [Cout] (either may be NULL) are accumulated (+=). conv_backward
 * takes it wherever it applies and the Winograd weight gradient below does not, unless
 * SERNET_CONV_ALGO=gemm or SERNET_CONV_WGRAD=gemm (read once; measurements), except when the
 * input gradient goes through the GEMM path anyway. */
int conv_wgrad_direct_supported(const sn_conv_shape *s, int h, int w);
sn_status conv_wgrad_direct(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *dy,
                            float *dw, float *db);
/* Winograd F(3x3, 2x2) weight (and bias) gradient (src/nn/conv_winograd.c): H even, W a multiple
 * of 32, Cin a multiple of 8, Cout of 16 (conv_wgrad_winograd_supported says 0 without
 * AVX-512); same arguments as conv_wgrad_direct. conv_backward takes it for shapes that ask for
 * Winograd (s->winograd) wherever it applies, unless SERNET_CONV_WGRAD is "direct" or "gemm" or
 * SERNET_CONV_ALGO is "direct" or "gemm". */
int conv_wgrad_winograd_supported(const sn_conv_shape *s, int h, int w);
sn_status conv_wgrad_winograd(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *dy,
                              float *dw, float *db);
/* The same gradients by the GEMM path (im2col of x or dy, whichever is smaller): any shape. */
sn_status conv_wgrad_gemm(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *dy,
                          float *dw, float *db);
/* dy: [N, Cout, H, W]. dx[i] (may be NULL: no input gradient wanted) receive the gradient of
 * the matching source (overwritten); dx[i] may share x[i]'s storage (the weight gradient reads
 * x before the input gradient overwrites it), so a source dead after the backward pass can hold
 * its own gradient. dw, db are accumulated (+=). */
sn_status conv_backward(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                        const sn_tensor *dy, sn_tensor *const *dx, float *dw, float *db);

/* ---- BatchNorm2d (optionally fused with a following ReLU) ---------------------------------
 * x, y: [N, C, H, W]; gamma, beta, running_mean, running_var, mean, invstd: [C].
 * Training: batch statistics over N*H*W, reduced across ranks through `reduce` (sums of
 * doubles, in place; NULL for a single process); running statistics updated with momentum
 * (unbiased variance, as PyTorch). Inference: running statistics. */
typedef struct {
    void (*fn)(double *buf, int n, void *ctx); /* element-wise sum over all ranks, in place */
    void *ctx;
} sn_reduce_hook;

typedef struct {
    int c;
    double eps, momentum;
    int relu; /* apply ReLU to the output in the same pass */
} sn_bn_shape;

sn_status bn_forward(const sn_bn_shape *s, int training, const sn_tensor *x, const float *gamma,
                     const float *beta, float *running_mean, float *running_var,
                     const sn_reduce_hook *reduce, float *mean, float *invstd, sn_tensor *y);
/* dy: gradient w.r.t. y (post-ReLU when s->relu). The ReLU mask is recomputed from x, gamma,
 * beta, mean and invstd with the forward's arithmetic (so y need not be kept: the U-Nets reuse
 * its storage for gradients). dx may alias dy. dgamma, dbeta accumulated with this rank's local
 * sums. */
sn_status bn_backward(const sn_bn_shape *s, const sn_tensor *x, const float *gamma, const float *beta,
                      const float *mean, const float *invstd,
                      const sn_reduce_hook *reduce, const sn_tensor *dy, sn_tensor *dx,
                      float *dgamma, float *dbeta);

/* ---- element-wise -------------------------------------------------------------------------
 * x, y, dy, dx: same shape [N, C, H, W]; dx may alias dy. */
void relu_forward(const sn_tensor *x, sn_tensor *y);
void relu_backward(const sn_tensor *y, const sn_tensor *dy, sn_tensor *dx);
void sigmoid_forward(const sn_tensor *x, sn_tensor *y);
void sigmoid_backward(const sn_tensor *y, const sn_tensor *dy, sn_tensor *dx);

/* ---- 2x2 max-pool, stride 2 --------------------------------------------------------------
 * x: [N, C, H, W] (H, W even)   y: [N, C, H/2, W/2]. Ties: the first maximum in raster order
 * gets the gradient. dx is accumulated (+=). maxpool2_forward_arg also records, per output
 * pixel, which of the 4 inputs won (0..3 in raster order; arg has N*C*H/2*W/2 bytes), so that
 * maxpool2_backward_arg needs no copy of x: the same routing as maxpool2_backward. */
void maxpool2_forward(const sn_tensor *x, sn_tensor *y);
void maxpool2_backward(const sn_tensor *x, const sn_tensor *dy, sn_tensor *dx);
void maxpool2_forward_arg(const sn_tensor *x, sn_tensor *y, uint8_t *arg);
void maxpool2_backward_arg(const uint8_t *arg, const sn_tensor *dy, sn_tensor *dx);

/* ---- bilinear x2 up-sampling, half-pixel centres (align_corners = False) ------------------
 * x: [N, C, H, W]   y: [N, C, 2H, 2W]. dx is overwritten. */
sn_status upsample2_forward(const sn_tensor *x, sn_tensor *y);
sn_status upsample2_backward(const sn_tensor *dy, sn_tensor *dx);

/* ---- channel concatenation ----------------------------------------------------------------
 * a: [N, Ca, H, W], b: [N, Cb, H, W]   y: [N, Ca+Cb, H, W]. (The U-Nets fuse this into the
 * convolution; the layer exists for general use and as the tests' reference.) */
void concat_forward(const sn_tensor *a, const sn_tensor *b, sn_tensor *y);
void concat_backward(const sn_tensor *dy, sn_tensor *da, sn_tensor *db);

/* ---- plain references (src/nn/ref.c) ------------------------------------------------------ */
void conv_forward_ref(const sn_conv_shape *s, const sn_tensor *x, const float *w, const float *b,
                      sn_tensor *y);
void conv_backward_ref(const sn_conv_shape *s, const sn_tensor *x, const float *w,
                       const sn_tensor *dy, sn_tensor *dx, float *dw, float *db);
void bn_forward_ref(const sn_bn_shape *s, int training, const sn_tensor *x, const float *gamma,
                    const float *beta, float *running_mean, float *running_var, sn_tensor *y);
void bn_backward_ref(const sn_bn_shape *s, const sn_tensor *x, const float *gamma,
                     const sn_tensor *dy_pre_relu, sn_tensor *dx, float *dgamma, float *dbeta);
void upsample2_forward_ref(const sn_tensor *x, sn_tensor *y);
double ssim_sum_ref(int window, double sigma, double c1, double c2, const sn_tensor *p, const sn_tensor *g);

#endif
