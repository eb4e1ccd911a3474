/* Private pieces shared by the src/eval sources: pixel records, the radix sort and the sweep. */
#ifndef SN_EVAL_INTERNAL_H
#define SN_EVAL_INTERNAL_H

#include "sernet/common.h"

#include <string.h>

/* One scored element: key = order-preserving image of the float score; w = 0 for a negative,
 * otherwise the size of its ground-truth region (1 for plain labels). */
typedef struct {
    uint32_t key;
    uint32_t w;
} sn_prec;

static inline uint32_t sn_eval_key(float s)
{
    if (s == 0.0f)
        s = 0.0f; /* -0 and +0 are one score */
    uint32_t u;
    memcpy(&u, &s, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float sn_eval_unkey(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float s;
    memcpy(&s, &u, sizeof s);
    return s;
}

/* Ascending sort by key (LSD radix, 11-bit digits, digits common to all keys skipped); tmp has
 * room for n records. Returns the sorted array (a or tmp). */
sn_prec *sn_eval_radix_sort(sn_prec *a, sn_prec *tmp, int64_t n);
/* Merge k sorted runs (run i = counts[i] records, consecutive in a) into ascending order;
 * tmp has room for the total. Returns the merged array (a or tmp). */
sn_prec *sn_eval_merge_runs(sn_prec *a, sn_prec *tmp, const int64_t *counts, int k);

/* The descending threshold sweep: feed tie groups (or bins) from the highest score down. */
typedef struct {
    int64_t P, N;        /* positives and negatives overall */
    int64_t R;           /* ground-truth regions (AUPRO) */
    double max_fpr;
    int64_t tp, fp;      /* counts at or above the current group */
    double pro;          /* sum over pixels at or above of 1/region size */
    long double auc2;    /* sum over groups of pos * (2 * neg below + neg in group) */
    double ap;           /* sum over groups of pos * precision */
    double area, x0, y0; /* AUPRO trapezoid so far, last point */
    int area_done;
    /* error bounds (binned path) */
    double auc_pairs;    /* sum over inexact bins of pos * neg */
    double ap_lo, ap_hi; /* bounds on sum over groups of pos * precision */
    double pro_err;      /* bound on the AUPRO area error */
    /* F1 (exact groups only) */
    double best_f1, best_thr, best_prec, best_rec;
} sn_sweep;

void sn_sweep_init(sn_sweep *s, int64_t P, int64_t N, int64_t R, double max_fpr);
/* One group: pos positives (prosum = sum of 1/region size over them), neg negatives; value =
 * its score (F1 threshold); exact = 0 when the group is a bin holding several distinct scores. */
void sn_sweep_group(sn_sweep *s, int64_t pos, int64_t neg, double prosum, double value, int exact);
/* Sweep sorted ascending records from the top (group by equal keys). */
void sn_sweep_records(sn_sweep *s, const sn_prec *r, int64_t n);

typedef struct {
    double auroc, ap, aupro;         /* NaN when undefined */
    double auroc_bound, ap_bound, aupro_bound;
} sn_sweep_out;
void sn_sweep_finish(const sn_sweep *s, sn_sweep_out *o);

#endif
