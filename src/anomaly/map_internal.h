/* Private helpers shared by src/anomaly/map*.c. */
#ifndef SN_MAP_INTERNAL_H
#define SN_MAP_INTERNAL_H

#include <stdint.h>

#define SN_MAP_MAX_SCALES 8
#define SN_MAP_GMS_C 0.0026f
#define SN_MAP_GRAD_EPS 1e-12f

/* The fast kernel's libm-free CIELAB a, b (same layout as sn_map_lab_ab). */
void sn_map_lab_ab_fast(const float *rgb, int64_t n, float *a, float *b);
void sn_map_lab_ab_pixel(float r, float g, float b, float *a_out, float *b_out);
/* 2x2 average pooling, stride 2, odd sizes floored (PyTorch avg_pool2d(2)). */
void sn_map_pool2(const float *x, int ih, int iw, float *out);
/* Source coordinates of a half-pixel-centre bilinear resize along one axis:
 * out[o] = (1-l1[o]) * in[i0[o]] + l1[o] * in[i1[o]]. */
void sn_map_resize_coords(int in, int out, int *i0, int *i1, float *l1);

#endif
