/* Adam over one flat parameter buffer, with PyTorch's update order, and the step schedule. */
#ifndef SERNET_OPTIM_H
#define SERNET_OPTIM_H

#include "sernet/common.h"

typedef struct {
    double beta1, beta2, eps;
    long step;   /* steps taken */
    size_t n;
    float *m, *v; /* first and second moments, n each */
} sn_adam;

sn_status sn_adam_init(sn_adam *a, size_t n, double beta1, double beta2, double eps);
void sn_adam_free(sn_adam *a);
/* One step with learning rate lr: params -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps). */
void sn_adam_step(sn_adam *a, float *params, const float *grads, double lr);

/* Learning rate at `epoch` (0-based) of `epochs`: base * decay at each milestone reached
 * (milestones at1*epochs and at2*epochs, rounded down, as PyTorch's MultiStepLR). */
double sn_lr_at(double base, double decay, double at1, double at2, int epoch, int epochs);

#endif
