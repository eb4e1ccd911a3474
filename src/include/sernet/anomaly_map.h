/* The anomaly map of METHOD.md §6: A = Dg + c*Dc, comparing a test image I with its
 * reconstruction R (both float CHW [3,h,w], values in [0,1] as the network emits them).
 *   Dc = F(box)((Δa)² + (Δb)²)   a, b: CIELAB computed in float (sRGB D65, white 0.95047/1/1.08883)
 *   Dg = F(box)(mean over RGB channels of (1 − mean over scales of GMS))
 *   GMS = (2 m1 m2 + 0.0026)/(m1² + m2² + 0.0026), m = sqrt(gx² + gy² + 1e-12), Prewitt/3
 *   gradients with zero padding 1; scale s is a 2x2 average pool of scale s-1 (odd sizes floor);
 *   every scale's GMS map is resized bilinearly (half-pixel centres, as PyTorch
 *   F.interpolate(mode="bilinear", align_corners=False)) back to h x w.
 *   Not METHOD.md, off by default: with erode = k > 1 (msgms_erode), each scale s >= 1's
 *   1 − GMS is eroded (k x k minimum over the in-bounds neighbours, i.e. a maximum of GMS) at
 *   its own resolution before the resize, so a coarse scale's response stops about where the
 *   difference does instead of one coarse pixel (2^s image pixels) beyond it.
 *   F(box) is a box x box mean with zero padding, always divided by box².
 * Image score = max(A); with score_scales or score_box set (score_msgms_scales, score_box_size;
 * not METHOD.md) it is the maximum of a second map made with those instead, A unchanged.
 * sn_map_compute is the fast kernel (O(1) box mean per pixel, whatever the box size);
 * sn_map_compute_ref is the straightforward reference it is tested against. */
#ifndef SERNET_ANOMALY_MAP_H
#define SERNET_ANOMALY_MAP_H

#include "sernet/common.h"
#include "sernet/config.h"

typedef struct {
    int scales;          /* msgms_scales, >= 1 */
    int box;             /* box_size, odd, >= 1 */
    double color_weight; /* c */
    int score_scales;    /* score_msgms_scales: scales of the image score's map, 0 = scales */
    int score_box;       /* score_box_size: its box, 0 = box */
    int erode;           /* msgms_erode: erosion of the coarse scales, odd; 0 or 1 = off (METHOD.md) */
} sn_map_params;

/* Defaults of METHOD.md: 4 scales, 21x21 box, c = 0.001, no erosion. */
void sn_map_params_default(sn_map_params *p);
/* From the configuration keys msgms_scales, box_size, color_weight, score_msgms_scales,
 * score_box_size, msgms_erode. */
void sn_map_params_from_config(const sn_config *cfg, sn_map_params *p);
/* Checks the parameters against an h x w image (box and erosion odd, every scale at least 1x1;
 * the same for the score's map). */
sn_status sn_map_params_check(const sn_map_params *p, int h, int w);
/* The parameters of the image score's map (score_scales/score_box resolved, no further score
 * map), and whether that map differs from A's. */
void sn_map_params_score(const sn_map_params *p, sn_map_params *out);
int sn_map_params_separate_score(const sn_map_params *p);

/* Reusable buffers for one h x w image size; one workspace per thread. */
typedef struct sn_map_ws sn_map_ws;
sn_status sn_map_ws_create(const sn_map_params *p, int h, int w, sn_map_ws **ws);
void sn_map_ws_free(sn_map_ws *ws);

/* Fast map of one image: A [h*w] (may be NULL when only the score is wanted), *score = max(A),
 * or the maximum of the score's map (may be NULL). A non-finite map value is an SN_ENONFINITE
 * error. */
sn_status sn_map_compute(sn_map_ws *ws, const float *img, const float *rec, float *A, float *score);

/* n images (CHW each, consecutive), OpenMP-parallel over images; A [n*h*w] or NULL,
 * scores [n] or NULL. The error names the first failing image index. */
sn_status sn_map_compute_batch(const sn_map_params *p, int64_t n, int h, int w, const float *img,
                               const float *rec, float *A, float *scores);

/* Reference: direct formulas, direct box sums in double; dg, dc optional outputs [h*w]. */
sn_status sn_map_compute_ref(const sn_map_params *p, int h, int w, const float *img,
                             const float *rec, float *A, float *dg, float *dc, float *score);

/* Building blocks, exposed for the tests. */
/* CIELAB a and b of n pixels of a CHW image (channel stride n). */
void sn_map_lab_ab(const float *rgb, int64_t n, float *a, float *b);
/* Box mean with zero padding, divided by box²: fast (sliding sums in double) and direct. */
sn_status sn_map_box_mean(const float *x, int h, int w, int box, float *out);
void sn_map_box_mean_ref(const float *x, int h, int w, int box, float *out);
/* Bilinear resize, half-pixel centres (align_corners = False), of an ih x iw map to oh x ow. */
void sn_map_resize_ref(const float *x, int ih, int iw, float *out, int oh, int ow);

#endif
