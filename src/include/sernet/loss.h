/* The loss of both nets (METHOD.md §2): L = MSE(P, G) + (1 - SSIM(P, G)), each a mean over
 * batch, channels and pixels. In data-parallel training each rank holds part of the batch:
 * the kernels return this rank's sums, and the gradients are scaled by 1 / (elements of the
 * global batch), so summing gradients over ranks gives the gradient of the global loss. */
#ifndef SERNET_LOSS_H
#define SERNET_LOSS_H

#include "sernet/tensor.h"

typedef struct {
    int window;     /* odd, default 11 */
    double sigma;   /* default 1.5 */
    double c1, c2;  /* 0.01^2, 0.03^2 */
} sn_ssim_params;

void sn_ssim_defaults(sn_ssim_params *p, int window, double sigma);

/* P, G: [N, C, H, W]. Returns the sum of squared differences. */
double mse_forward(const sn_tensor *p, const sn_tensor *g);
/* dp += scale * d(sum of squared differences)/dp */
void mse_backward(const sn_tensor *p, const sn_tensor *g, float scale, sn_tensor *dp);
/* Sum of the SSIM map (zero-padded Gaussian window, per channel). */
sn_status ssim_forward(const sn_ssim_params *sp, const sn_tensor *p, const sn_tensor *g, double *sum);
/* dp += scale * d(sum of the SSIM map)/dp */
sn_status ssim_backward(const sn_ssim_params *sp, const sn_tensor *p, const sn_tensor *g, float scale,
                        sn_tensor *dp);

typedef struct {
    double mse_sum, ssim_sum; /* this rank's sums */
    double count;             /* this rank's element count */
} sn_loss_sums;

/* Local sums, and when dp != NULL the gradient (overwritten) of the global loss
 * (mse_sum_all + count_all - ssim_sum_all) / count_all, with count_all = global_count. */
sn_status sn_loss_compute(const sn_ssim_params *sp, const sn_tensor *p, const sn_tensor *g,
                          double global_count, sn_loss_sums *sums, sn_tensor *dp);
/* Loss, MSE and SSIM from (globally summed) sums. */
void sn_loss_values(const sn_loss_sums *s, double *loss, double *mse, double *ssim);

#endif
