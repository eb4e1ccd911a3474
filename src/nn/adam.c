#include "sernet/optim.h"

#include <math.h>
#include <string.h>

sn_status sn_adam_init(sn_adam *a, size_t n, double beta1, double beta2, double eps)
{
    sn_status status = SN_OK;
    memset(a, 0, sizeof *a);
    a->beta1 = beta1;
    a->beta2 = beta2;
    a->eps = eps;
    a->n = n;
    SN_CALLOC(a->m, n, "Adam first moments");
    SN_CALLOC(a->v, n, "Adam second moments");
done:
    if (status != SN_OK)
        sn_adam_free(a);
    return status;
}

void sn_adam_free(sn_adam *a)
{
    sn_free(a->m);
    sn_free(a->v);
    a->m = a->v = NULL;
}

void sn_adam_step(sn_adam *a, float *params, const float *grads, double lr)
{
    a->step++;
    const double bc1 = 1.0 - pow(a->beta1, (double)a->step);
    const double bc2 = 1.0 - pow(a->beta2, (double)a->step);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)a->beta1, b2 = (float)a->beta2, eps = (float)a->eps;
    const float ob1 = (float)(1.0 - a->beta1), ob2 = (float)(1.0 - a->beta2);
    float *m = a->m, *v = a->v;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < a->n; i++) {
        const float g = grads[i];
        m[i] = m[i] * b1 + ob1 * g;
        v[i] = v[i] * b2 + ob2 * g * g;
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        params[i] -= step_size * (m[i] / denom);
    }
}

double sn_lr_at(double base, double decay, double at1, double at2, int epoch, int epochs)
{
    double lr = base;
    const int m1 = (int)floor(at1 * epochs), m2 = (int)floor(at2 * epochs);
    /* a milestone at epoch 0 never fires, as with MultiStepLR */
    if (m1 >= 1 && epoch >= m1)
        lr *= decay;
    if (m2 >= 1 && epoch >= m2)
        lr *= decay;
    return lr;
}
