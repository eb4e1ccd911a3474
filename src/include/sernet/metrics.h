/* Evaluation metrics of METHOD.md §7 (MVTec AD protocol), exact on plain arrays and
 * distributed over MPI ranks for whole test sets.
 *
 * Conventions (docs/evaluation.md has the formulas):
 * - A metric is undefined when its data has no positives or no negatives (AUROC, AUPRO) or no
 *   positives (average precision, F1): value = NaN and defined = 0, never a fake 0 or 1.
 * - Ties: tied scores switch together; AUROC counts tied positive/negative pairs 1/2 (as
 *   sklearn's roc_auc_score), average precision is sklearn's average_precision_score
 *   (sum over distinct thresholds of (R_k - R_{k-1}) * P_k, no interpolation).
 * - NaN or infinite scores are errors (SN_ENONFINITE) naming the image / element.
 */
#ifndef SERNET_METRICS_H
#define SERNET_METRICS_H

#include "sernet/common.h"
#include "sernet/config.h"

#include <mpi.h>
#include <stdio.h>

typedef struct {
    double value; /* NaN when undefined */
    int defined;
} sn_metric;

/* ---- exact metrics of one process's arrays (labels: 0 negative, non-zero positive) ---- */
sn_status sn_metric_auroc(const float *scores, const uint8_t *labels, int64_t n, sn_metric *out);
sn_status sn_metric_average_precision(const float *scores, const uint8_t *labels, int64_t n,
                                      sn_metric *out);
/* F1-optimal threshold t (predict positive when score >= t, t one of the scores); ties in F1
 * go to the highest threshold. */
typedef struct {
    sn_metric f1;
    double threshold, precision, recall; /* NaN when f1 is undefined */
} sn_f1_result;
sn_status sn_metric_best_f1(const float *scores, const uint8_t *labels, int64_t n, sn_f1_result *out);
/* AUPRO of n_images maps/masks of h x w (masks non-zero = defect) up to max_fpr, normalised
 * by max_fpr: fast sort-and-sweep, and a slow direct reference (one pass over all pixels per
 * distinct threshold, the MVTec trapezoid with interpolation at max_fpr). */
sn_status sn_metric_aupro(const float *maps, const uint8_t *masks, int64_t n_images, int h, int w,
                          double max_fpr, sn_metric *out);
sn_status sn_metric_aupro_ref(const float *maps, const uint8_t *masks, int64_t n_images, int h,
                              int w, double max_fpr, sn_metric *out);
/* Slow direct references for AUROC (all pairs) and AP (one pass per threshold), for tests. */
sn_status sn_metric_auroc_ref(const float *scores, const uint8_t *labels, int64_t n, sn_metric *out);
sn_status sn_metric_average_precision_ref(const float *scores, const uint8_t *labels, int64_t n,
                                          sn_metric *out);

/* Percentile-bootstrap interval of the AUROC (docs/evaluation.md, "Bootstrap interval"):
 * `resamples` stratified resamples (the positives and the negatives each drawn with replacement
 * to their own count, so every resample has both classes and its AUROC is defined); ci = the
 * (1 - level)/2 and (1 + level)/2 quantiles of the resampled AUROCs, linear between order
 * statistics (numpy's default). Resample b draws from the counter-based stream (seed,
 * SN_RNG_STAGE_EVAL, stream, b): the interval is a function of the seed, the stream and the
 * arrays in their order. ci = {NaN, NaN} without positives or negatives or with resamples = 0.
 * resamples >= 0 and 0 < level < 1 (SN_EINVAL otherwise). The fast form sorts once and weighs
 * each element by its draw count, O(n log n + resamples * n); the _ref form builds every
 * resample and calls sn_metric_auroc on it. Both see the same draws. */
sn_status sn_metric_auroc_ci(const float *scores, const uint8_t *labels, int64_t n, int resamples,
                             double level, uint64_t seed, uint32_t stream, double ci[2]);
sn_status sn_metric_auroc_ci_ref(const float *scores, const uint8_t *labels, int64_t n, int resamples,
                                 double level, uint64_t seed, uint32_t stream, double ci[2]);

/* ---- a test set spread over MPI ranks ---- */
#define SN_EVAL_MAX_TYPES 64 /* type 0 = good, 1..63 defect types */

typedef struct sn_eval_set sn_eval_set;
sn_status sn_eval_set_create(sn_eval_set **set);
void sn_eval_set_free(sn_eval_set *set);
/* Add one image held by this rank. index: its index in the whole test set and name (may be
 * NULL) are used in error messages; type: 0 for good images, 1..SN_EVAL_MAX_TYPES-1 for defect
 * types (used only by the per-type AUROC, which compares each type's images with the type-0
 * images); score: the image score; map: map_h x map_w anomaly map; mask: ground truth
 * (non-zero = defect; NULL = all good) of mask_h x mask_w, which must equal the map size.
 * The image label is 1 when any mask pixel is set. Pixels are stored compactly (8 bytes each:
 * the score and the size of the pixel's 8-connected ground-truth region). A failed add marks
 * the set so the next sn_eval_compute fails on every rank. */
sn_status sn_eval_set_add(sn_eval_set *set, int64_t index, const char *name, int type, float score,
                          const float *map, int map_h, int map_w, const uint8_t *mask, int mask_h,
                          int mask_w);
int64_t sn_eval_set_pixels(const sn_eval_set *set);
/* Optional: room for this many more images and pixels, so adding never reallocates (growth
 * otherwise doubles the pixel buffer, briefly holding old and new). */
sn_status sn_eval_set_reserve(sn_eval_set *set, int64_t images, int64_t pixels);

enum { SN_EVAL_AUTO = 0, SN_EVAL_EXACT = 1, SN_EVAL_BINNED = 2 };
typedef struct {
    double max_fpr;           /* AUPRO integration limit (aupro_max_fpr) */
    int64_t exact_max_pixels; /* AUTO: exact when the global pixel count is at most this */
    int bins;                 /* binned path: target number of bins (at most 2x are used) */
    int mode;                 /* SN_EVAL_AUTO, SN_EVAL_EXACT or SN_EVAL_BINNED */
} sn_eval_opts;
void sn_eval_opts_default(sn_eval_opts *o);
void sn_eval_opts_from_config(const sn_config *cfg, sn_eval_opts *o);

typedef struct {
    int64_t n_images, n_good, n_defective, n_pixels, n_defect_pixels, n_regions;
    sn_metric image_auroc, pixel_auroc, aupro, pixel_ap;
    sn_f1_result f1; /* F1-optimal image threshold */
    int n_types;     /* 1 + the largest type id seen */
    int64_t type_images[SN_EVAL_MAX_TYPES];
    sn_metric type_auroc[SN_EVAL_MAX_TYPES]; /* [0] is undefined (good vs good) */
    int binned;      /* pixel metrics from the binned path */
    int bins;        /* bins actually used by the binned path */
    /* Binned path: |reported - exact| <= bound for each pixel metric (0 when exact). */
    double pixel_auroc_bound, aupro_bound, pixel_ap_bound;
    double max_fpr;
} sn_eval_result;

/* Collective over comm: every rank passes its local set; every rank receives the same result. */
sn_status sn_eval_compute(const sn_eval_set *set, MPI_Comm comm, const sn_eval_opts *opts,
                          sn_eval_result *res);
/* The same from plain per-rank arrays: n_local images of h x w held by this rank, maps
 * [n_local*h*w], masks [n_local*h*w] (NULL: all good), scores [n_local] (NULL: max of each map,
 * the image score of METHOD.md §6), types [n_local] (NULL: 0 for images without defect pixels,
 * 1 otherwise); first_index = global index of the first local image (error messages).
 * Collective over comm. */
sn_status sn_eval_arrays(MPI_Comm comm, int64_t n_local, int h, int w, const float *maps,
                         const uint8_t *masks, const float *scores, const int32_t *types,
                         int64_t first_index, const sn_eval_opts *opts, sn_eval_result *res);
/* Human-readable report (type_names: NULL or n_types names). */
void sn_eval_result_print(const sn_eval_result *r, const char *const *type_names, FILE *f);

#endif
