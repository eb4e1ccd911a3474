/* Pixel ROC/PRO curves and the F1-optimal pixel threshold from histograms reduced over MPI
 * ranks (include/sernet/eval_curves.h), and the exact image-level ROC points. */
#include "sernet/eval_curves.h"
#include "sernet/components.h"
#include "sernet/dist.h"
#include "eval/eval_internal.h"

#include <math.h>
#include <stdlib.h>

void sn_eval_curves_free(sn_eval_curves *c)
{
    if (!c)
        return;
    free(c->thr);
    free(c->tp);
    free(c->fp);
    free(c->fpr);
    free(c->tpr);
    free(c->pro);
    c->thr = c->fpr = c->tpr = c->pro = NULL;
    c->tp = c->fp = NULL;
    c->n = 0;
}

static sn_metric metric(double v)
{
    sn_metric m = {v, !isnan(v)};
    return m;
}

/* Local pass: range and finiteness of the maps, regions of the masks. */
static sn_status local_range(int64_t n_local, size_t px, const float *maps, double *lo, double *hi)
{
    double l = INFINITY, u = -INFINITY;
    for (int64_t k = 0; k < n_local; k++)
        for (size_t i = 0; i < px; i++) {
            float v = maps[(size_t)k * px + i];
            if (!isfinite(v))
                return SN_ERR(SN_ENONFINITE, "curves: local image %lld: anomaly map pixel %zu is %s",
                              (long long)k, i, isnan(v) ? "NaN" : "infinite");
            l = v < l ? v : l;
            u = v > u ? v : u;
        }
    *lo = l;
    *hi = u;
    return SN_OK;
}

sn_status sn_eval_curves_compute(MPI_Comm comm, int64_t n_local, int h, int w, const float *maps,
                                 const uint8_t *masks, int bins, double max_fpr, sn_eval_curves *out)
{
    sn_status status = SN_OK, st = SN_OK;
    int64_t *cnt = NULL, *gcnt = NULL; /* [2B]: negatives, positives */
    double *pro = NULL, *gpro = NULL;  /* [B]: sum of 1 / region size over the positives */
    uint32_t *kmin = NULL, *gkmin = NULL, *kmax = NULL, *gkmax = NULL;
    int32_t *lab = NULL;
    int64_t *areas = NULL;
    const size_t px = (size_t)(h > 0 ? h : 0) * (size_t)(w > 0 ? w : 0);
    memset(out, 0, sizeof *out);
    out->pixel_auroc = out->aupro = out->pixel_f1 = metric(NAN);
    out->pixel_auroc_bound = out->aupro_bound = out->f1_bound = NAN;
    out->pixel_threshold = out->pixel_precision = out->pixel_recall = NAN;
    out->max_fpr = max_fpr;
    out->bins = bins;

    if (bins < 1 || !(max_fpr > 0 && max_fpr <= 1) || h < 1 || w < 1 || n_local < 0)
        st = SN_ERR(SN_EINVAL, "curves: bins %d, max FPR %g, maps %dx%d, %lld images: expected "
                    "bins >= 1, max FPR in (0, 1], positive sizes", bins, max_fpr, h, w,
                    (long long)n_local);
    double lo = INFINITY, hi = -INFINITY;
    if (st == SN_OK)
        st = local_range(n_local, px, maps, &lo, &hi);
    if (st == SN_OK) {
        cnt = calloc(2 * (size_t)bins, sizeof *cnt);
        gcnt = malloc(2 * (size_t)bins * sizeof *gcnt);
        pro = calloc((size_t)bins, sizeof *pro);
        gpro = malloc((size_t)bins * sizeof *gpro);
        kmin = malloc((size_t)bins * sizeof *kmin);
        gkmin = malloc((size_t)bins * sizeof *gkmin);
        kmax = calloc((size_t)bins, sizeof *kmax);
        gkmax = malloc((size_t)bins * sizeof *gkmax);
        lab = malloc(px * sizeof *lab + 1);
        if (!cnt || !gcnt || !pro || !gpro || !kmin || !gkmin || !kmax || !gkmax || !lab)
            st = SN_ERR(SN_ENOMEM, "curves: no memory for %d bins", bins);
    }
    SN_TRY(sn_dist_agree(st, comm));

    double lm[2] = {-lo, hi}, gm[2];
    if (MPI_Allreduce(lm, gm, 2, MPI_DOUBLE, MPI_MAX, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "curves: MPI_Allreduce of the score range failed");
    lo = -gm[0];
    hi = gm[1];
    out->lo = lo;
    out->hi = hi;
    for (int b = 0; b < bins; b++)
        kmin[b] = UINT32_MAX;
    /* (s - lo) * scale is monotone in s, so bin order is score order. */
    const double scale = hi > lo ? (double)bins / (hi - lo) : 0.0;
    int64_t regions = 0;
    for (int64_t k = 0; k < n_local && st == SN_OK; k++) {
        const float *m = maps + (size_t)k * px;
        const uint8_t *mk = masks ? masks + (size_t)k * px : NULL;
        int count = 0;
        if (mk) {
            st = sn_components_label(mk, h, w, lab, &count, &areas);
            if (st != SN_OK)
                break;
        }
        regions += count;
        for (size_t i = 0; i < px; i++) {
            double t = ((double)m[i] - lo) * scale;
            int b = t >= (double)bins ? bins - 1 : t >= 0 ? (int)t : 0;
            uint32_t key = sn_eval_key(m[i]);
            if (mk && lab[i]) {
                cnt[2 * b + 1]++;
                pro[b] += 1.0 / (double)areas[lab[i]];
            } else {
                cnt[2 * b]++;
            }
            kmin[b] = key < kmin[b] ? key : kmin[b];
            kmax[b] = key > kmax[b] ? key : kmax[b];
        }
        sn_free(areas);
        areas = NULL;
    }
    SN_TRY(sn_dist_agree(st, comm));
    int64_t greg = 0;
    if (MPI_Allreduce(cnt, gcnt, 2 * bins, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS ||
        MPI_Allreduce(pro, gpro, bins, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS ||
        MPI_Allreduce(kmin, gkmin, bins, MPI_UINT32_T, MPI_MIN, comm) != MPI_SUCCESS ||
        MPI_Allreduce(kmax, gkmax, bins, MPI_UINT32_T, MPI_MAX, comm) != MPI_SUCCESS ||
        MPI_Allreduce(&regions, &greg, 1, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "curves: MPI_Allreduce of the score histograms failed");

    int64_t P = 0, N = 0;
    int used = 0;
    for (int b = 0; b < bins; b++) {
        N += gcnt[2 * b];
        P += gcnt[2 * b + 1];
        used += gcnt[2 * b] + gcnt[2 * b + 1] > 0;
    }
    out->P = P;
    out->N = N;
    out->R = greg;
    size_t np = (size_t)used + 1;
    out->thr = malloc(np * sizeof(double));
    out->tp = malloc(np * sizeof(int64_t));
    out->fp = malloc(np * sizeof(int64_t));
    out->fpr = malloc(np * sizeof(double));
    out->tpr = malloc(np * sizeof(double));
    out->pro = malloc(np * sizeof(double));
    if (!out->thr || !out->tp || !out->fp || !out->fpr || !out->tpr || !out->pro)
        st = SN_ERR(SN_ENOMEM, "curves: no memory for %d curve points", used + 1);
    SN_TRY(sn_dist_agree(st, comm));

    sn_sweep sw;
    sn_sweep_init(&sw, P, N, greg, max_fpr);
    int n = 0, exact = 1;
    out->thr[0] = INFINITY;
    out->tp[0] = out->fp[0] = 0;
    out->fpr[0] = out->tpr[0] = out->pro[0] = 0;
    n = 1;
    double prosum = 0, best = -1, ub = 0;
    for (int b = bins - 1; b >= 0; b--) {
        int64_t neg = gcnt[2 * b], pos = gcnt[2 * b + 1];
        if (neg + pos == 0)
            continue;
        int one = gkmin[b] == gkmax[b];
        exact &= one;
        double t = sn_eval_unkey(gkmin[b]);
        sn_sweep_group(&sw, pos, neg, gpro[b], t, one);
        int64_t tp_above = out->tp[n - 1], fp_above = out->fp[n - 1];
        int64_t tp = tp_above + pos, fp = fp_above + neg;
        prosum += gpro[b];
        out->thr[n] = t;
        out->tp[n] = tp;
        out->fp[n] = fp;
        out->fpr[n] = N > 0 ? (double)fp / (double)N : 0;
        out->tpr[n] = P > 0 ? (double)tp / (double)P : 0;
        out->pro[n] = greg > 0 ? fmin(prosum / (double)greg, 1.0) : 0;
        if (P > 0) {
            double f1 = 2.0 * (double)tp / (double)(tp + fp + P);
            if (f1 > best) {
                best = f1;
                out->pixel_threshold = t;
                out->pixel_precision = (double)tp / (double)(tp + fp);
                out->pixel_recall = (double)tp / (double)P;
            }
            if (!one) {
                /* a threshold inside the bin counts at most tp positives and at least the
                 * pixels above the bin */
                double u = 2.0 * (double)tp / (double)(tp_above + fp_above + P);
                ub = u > ub ? u : ub;
            }
        }
        n++;
    }
    out->n = n;
    out->bins = bins;
    out->exact = exact;
    sn_sweep_out so;
    sn_sweep_finish(&sw, &so);
    out->pixel_auroc = metric(so.auroc);
    out->aupro = metric(so.aupro);
    out->pixel_auroc_bound = out->pixel_auroc.defined ? so.auroc_bound : NAN;
    out->aupro_bound = out->aupro.defined ? so.aupro_bound : NAN;
    if (P > 0) {
        out->pixel_f1 = metric(best);
        out->f1_bound = ub > best ? ub - best : 0;
    }
done:
    free(cnt);
    free(gcnt);
    free(pro);
    free(gpro);
    free(kmin);
    free(gkmin);
    free(kmax);
    free(gkmax);
    free(lab);
    sn_free(areas);
    if (status != SN_OK)
        sn_eval_curves_free(out);
    return status;
}

typedef struct {
    float s;
    uint8_t l;
} scored;

static int cmp_scored_desc(const void *a, const void *b)
{
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return x < y ? 1 : x > y ? -1 : 0;
}

void sn_eval_roc_points(const float *scores, const uint8_t *labels, int64_t n, double *fpr,
                        double *tpr, int64_t *npts)
{
    scored *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
    SN_ASSERT(v);
    int64_t P = 0, N = 0;
    for (int64_t i = 0; i < n; i++) {
        v[i].s = scores[i];
        v[i].l = labels[i] != 0;
        P += v[i].l;
    }
    N = n - P;
    qsort(v, (size_t)n, sizeof *v, cmp_scored_desc);
    int64_t k = 0, tp = 0, fp = 0;
    fpr[k] = tpr[k] = 0;
    k++;
    for (int64_t i = 0; i < n;) {
        float s = v[i].s;
        while (i < n && v[i].s == s) {
            tp += v[i].l;
            fp += !v[i].l;
            i++;
        }
        fpr[k] = N > 0 ? (double)fp / (double)N : 0;
        tpr[k] = P > 0 ? (double)tp / (double)P : 0;
        k++;
    }
    *npts = k;
    free(v);
}
