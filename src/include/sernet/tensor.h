/* float32 NCHW tensors. A tensor either owns its data or views memory owned elsewhere
 * (for example a slice of the flat parameter buffer). */
#ifndef SERNET_TENSOR_H
#define SERNET_TENSOR_H

#include "sernet/common.h"

#include <stdint.h>

typedef struct {
    int n, c, h, w;
    float *data;
    int owns;     /* 1 when data was allocated by this tensor */
    size_t cap;   /* allocated elements when owned */
} sn_tensor;

static inline size_t sn_tensor_numel(const sn_tensor *t)
{
    return (size_t)t->n * (size_t)t->c * (size_t)t->h * (size_t)t->w;
}
static inline size_t sn_tensor_plane(const sn_tensor *t) { return (size_t)t->h * (size_t)t->w; }

/* Allocate an owned tensor (contents undefined); `what` names it in error messages. */
sn_status sn_tensor_alloc(sn_tensor *t, int n, int c, int h, int w, const char *what);
sn_status sn_tensor_zeros(sn_tensor *t, int n, int c, int h, int w, const char *what);
/* Reuse t's storage if it is owned and large enough, otherwise reallocate. */
sn_status sn_tensor_ensure(sn_tensor *t, int n, int c, int h, int w, const char *what);
sn_tensor sn_tensor_view(float *data, int n, int c, int h, int w);
void sn_tensor_free(sn_tensor *t);
void sn_tensor_fill(sn_tensor *t, float v);
/* The one conversion of 8-bit pixels to network input, used by training and inference alike:
 * n interleaved HWC RGB images of s x s (uint8) -> NCHW float, value v / 255.0f (the correctly
 * rounded quotient, as PyTorch's ToTensor). */
void sn_tensor_from_u8_hwc(const uint8_t *hwc, int n, int s, float *chw);

#endif
