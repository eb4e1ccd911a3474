/* Pixel-level ROC and PRO curves and the F1-optimal pixel threshold of anomaly maps spread over
 * MPI ranks, from score histograms reduced over the ranks (docs/evaluation.md, "Curves").
 *
 * The global score range [lo, hi] is cut into `bins` equal-width bins; every rank counts its
 * pixels per bin (defect-free pixels, defect pixels, sum over defect pixels of 1 / size of the
 * pixel's 8-connected ground-truth region) and the smallest score in the bin; the histograms
 * are summed with MPI_Allreduce. Curve point k is the threshold t_k = smallest score of the k-th
 * non-empty bin from the top: the pixels with score >= t_k are exactly those of the bins at or
 * above it, so EVERY POINT IS AN EXACT POINT of the true curve (the curve over all distinct
 * scores); binning only leaves points out. Between two points the true curve is monotone, which
 * bounds the error of the integrals (the same bounds as sn_eval_compute's binned path) and of the
 * F1 optimum (an upper bound of F1 at every threshold left out). A bin holding a single distinct
 * score leaves nothing out; with bins >= the number of distinct scores everything is exact. */
#ifndef SERNET_EVAL_CURVES_H
#define SERNET_EVAL_CURVES_H

#include "sernet/common.h"
#include "sernet/metrics.h"

#include <mpi.h>

typedef struct {
    int n;          /* points, 0..n-1; point 0 is the origin (threshold +inf, nothing positive) */
    double *thr;    /* threshold of point k (predict defect when score >= thr); thr[0] = +inf */
    int64_t *tp;    /* defect pixels with score >= thr */
    int64_t *fp;    /* defect-free pixels with score >= thr */
    double *fpr;    /* fp / N */
    double *tpr;    /* tp / P (0 when P = 0) */
    double *pro;    /* mean over the R regions of the fraction of the region with score >= thr,
                     * i.e. sum over defect pixels >= thr of 1 / (R * |region|) (0 when R = 0) */
    int64_t P, N, R; /* defect pixels, defect-free pixels, ground-truth regions */
    double lo, hi;   /* global score range */
    int bins;        /* bins used */
    int exact;       /* 1: every bin held a single distinct score (no point left out) */
    /* Integrals of the curves (NaN/undefined as sn_eval_compute) and |value - exact| bounds. */
    sn_metric pixel_auroc, aupro;
    double pixel_auroc_bound, aupro_bound, max_fpr;
    /* F1-optimal pixel threshold among the curve points (ties: the highest threshold), its
     * precision and recall; f1_bound: the best F1 over ALL thresholds is at most
     * pixel_f1.value + f1_bound (0 when exact). Undefined when P = 0. */
    sn_metric pixel_f1;
    double pixel_threshold, pixel_precision, pixel_recall, f1_bound;
} sn_eval_curves;

/* Collective over comm. n_local images of h x w held by this rank: maps [n_local*h*w] (finite),
 * masks [n_local*h*w] (non-zero = defect; NULL = all good). bins >= 1; max_fpr in (0, 1].
 * Every rank receives the same curves (free with sn_eval_curves_free). */
sn_status sn_eval_curves_compute(MPI_Comm comm, int64_t n_local, int h, int w, const float *maps,
                                 const uint8_t *masks, int bins, double max_fpr,
                                 sn_eval_curves *out);
void sn_eval_curves_free(sn_eval_curves *c);

/* The exact image-level ROC of n scores (one process): points (fpr, tpr) from (0,0) to (1,1),
 * one per distinct score from the highest down (tied scores switch together). fpr/tpr have room
 * for n + 1 points; *npts receives the count. All zero/NaN-free even when P or N is 0 (the axis
 * with no samples stays 0). */
void sn_eval_roc_points(const float *scores, const uint8_t *labels, int64_t n, double *fpr,
                        double *tpr, int64_t *npts);

#endif
