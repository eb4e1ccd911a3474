/* Exact metrics of plain arrays (one process) and their slow direct references. */
#include "sernet/metrics.h"
#include "sernet/components.h"
#include "eval/eval_internal.h"

#include <math.h>
#include <stdlib.h>

static sn_metric metric(double v)
{
    sn_metric m = {v, !isnan(v)};
    return m;
}

static sn_status check_finite(const float *scores, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(scores[i]))
            return SN_ERR(SN_ENONFINITE, "%s: score %lld is %s", what, (long long)i,
                          isnan(scores[i]) ? "NaN" : "infinite");
    return SN_OK;
}

/* Sorted records of (score, label) and the sweep over them. */
static sn_status sweep_labels(const float *scores, const uint8_t *labels, int64_t n, const char *what,
                              sn_sweep *sw)
{
    sn_status status = SN_OK;
    sn_prec *r = NULL, *tmp = NULL;
    SN_TRY(check_finite(scores, n, what));
    SN_ALLOC(r, n + 1, "metric sort buffer");
    SN_ALLOC(tmp, n + 1, "metric sort buffer");
    int64_t P = 0;
    for (int64_t i = 0; i < n; i++) {
        r[i].key = sn_eval_key(scores[i]);
        r[i].w = labels[i] ? 1u : 0u;
        P += labels[i] != 0;
    }
    sn_prec *s = sn_eval_radix_sort(r, tmp, n);
    sn_sweep_init(sw, P, n - P, 0, 1.0);
    sn_sweep_records(sw, s, n);
done:
    sn_free(r);
    sn_free(tmp);
    return status;
}

sn_status sn_metric_auroc(const float *scores, const uint8_t *labels, int64_t n, sn_metric *out)
{
    sn_status status = SN_OK;
    sn_sweep sw;
    sn_sweep_out o;
    out->value = NAN;
    out->defined = 0;
    SN_TRY(sweep_labels(scores, labels, n, "AUROC", &sw));
    sn_sweep_finish(&sw, &o);
    *out = metric(o.auroc);
done:
    return status;
}

sn_status sn_metric_average_precision(const float *scores, const uint8_t *labels, int64_t n,
                                      sn_metric *out)
{
    sn_status status = SN_OK;
    sn_sweep sw;
    sn_sweep_out o;
    out->value = NAN;
    out->defined = 0;
    SN_TRY(sweep_labels(scores, labels, n, "average precision", &sw));
    sn_sweep_finish(&sw, &o);
    *out = metric(o.ap);
done:
    return status;
}

sn_status sn_metric_best_f1(const float *scores, const uint8_t *labels, int64_t n, sn_f1_result *out)
{
    sn_status status = SN_OK;
    sn_sweep sw;
    out->f1 = metric(NAN);
    out->threshold = out->precision = out->recall = NAN;
    SN_TRY(sweep_labels(scores, labels, n, "F1 threshold", &sw));
    if (sw.P > 0) {
        out->f1 = metric(sw.best_f1);
        out->threshold = sw.best_thr;
        out->precision = sw.best_prec;
        out->recall = sw.best_rec;
    }
done:
    return status;
}

sn_status sn_metric_auroc_ref(const float *scores, const uint8_t *labels, int64_t n, sn_metric *out)
{
    sn_status status = SN_OK;
    SN_TRY(check_finite(scores, n, "AUROC"));
    double num = 0;
    int64_t P = 0, N = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i])
            P++;
        else
            N++;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!labels[i])
            continue;
        for (int64_t j = 0; j < n; j++) {
            if (labels[j])
                continue;
            num += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
        }
    }
    *out = metric(P > 0 && N > 0 ? num / ((double)P * (double)N) : NAN);
done:
    return status;
}

static int cmp_desc_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Distinct values of x in descending order (malloc'd), count in *m. */
static float *distinct_desc(const float *x, int64_t n, int64_t *m)
{
    float *t = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!t)
        return NULL;
    memcpy(t, x, sizeof(float) * (size_t)n);
    qsort(t, (size_t)n, sizeof(float), cmp_desc_float);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (k == 0 || t[k - 1] != t[i])
            t[k++] = t[i];
    *m = k;
    return t;
}

sn_status sn_metric_average_precision_ref(const float *scores, const uint8_t *labels, int64_t n,
                                          sn_metric *out)
{
    sn_status status = SN_OK;
    float *th = NULL;
    int64_t m = 0, P = 0;
    SN_TRY(check_finite(scores, n, "average precision"));
    for (int64_t i = 0; i < n; i++)
        P += labels[i] != 0;
    th = distinct_desc(scores, n, &m);
    if (!th)
        SN_FAIL(SN_ENOMEM, "average precision reference: no memory for %lld thresholds", (long long)n);
    double ap = 0, prev_rec = 0;
    for (int64_t k = 0; k < m && P > 0; k++) {
        int64_t tp = 0, fp = 0;
        for (int64_t i = 0; i < n; i++)
            if (scores[i] >= th[k]) {
                if (labels[i])
                    tp++;
                else
                    fp++;
            }
        double rec = (double)tp / (double)P, prec = (double)tp / (double)(tp + fp);
        ap += (rec - prev_rec) * prec;
        prev_rec = rec;
    }
    *out = metric(P > 0 ? ap : NAN);
done:
    free(th);
    return status;
}

/* Region size of every pixel (0 = defect-free) for a stack of masks. */
static sn_status region_sizes(const uint8_t *masks, int64_t n_images, int h, int w, uint32_t *size,
                              int64_t *regions)
{
    sn_status status = SN_OK;
    int32_t *lab = NULL;
    int64_t *areas = NULL;
    size_t px = (size_t)h * w;
    *regions = 0;
    SN_ALLOC(lab, px, "region labels");
    for (int64_t k = 0; k < n_images; k++) {
        int count = 0;
        SN_TRY(sn_components_label(masks + (size_t)k * px, h, w, lab, &count, &areas));
        for (size_t i = 0; i < px; i++)
            size[(size_t)k * px + i] = lab[i] ? (uint32_t)areas[lab[i]] : 0u;
        *regions += count;
        sn_free(areas);
        areas = NULL;
    }
done:
    sn_free(lab);
    sn_free(areas);
    return status;
}

sn_status sn_metric_aupro(const float *maps, const uint8_t *masks, int64_t n_images, int h, int w,
                          double max_fpr, sn_metric *out)
{
    sn_status status = SN_OK;
    sn_prec *r = NULL, *tmp = NULL;
    uint32_t *size = NULL;
    int64_t n = n_images * h * w, R = 0, N = 0;
    out->value = NAN;
    out->defined = 0;
    if (!(max_fpr > 0 && max_fpr <= 1))
        SN_FAIL(SN_EINVAL, "AUPRO: max FPR %g, expected in (0, 1]", max_fpr);
    SN_TRY(check_finite(maps, n, "AUPRO"));
    SN_ALLOC(size, n + 1, "AUPRO region sizes");
    SN_TRY(region_sizes(masks, n_images, h, w, size, &R));
    SN_ALLOC(r, n + 1, "AUPRO sort buffer");
    SN_ALLOC(tmp, n + 1, "AUPRO sort buffer");
    for (int64_t i = 0; i < n; i++) {
        r[i].key = sn_eval_key(maps[i]);
        r[i].w = size[i];
        N += size[i] == 0;
    }
    sn_prec *s = sn_eval_radix_sort(r, tmp, n);
    sn_sweep sw;
    sn_sweep_init(&sw, n - N, N, R, max_fpr);
    sn_sweep_records(&sw, s, n);
    sn_sweep_out o;
    sn_sweep_finish(&sw, &o);
    *out = metric(o.aupro);
done:
    sn_free(r);
    sn_free(tmp);
    sn_free(size);
    return status;
}

sn_status sn_metric_aupro_ref(const float *maps, const uint8_t *masks, int64_t n_images, int h,
                              int w, double max_fpr, sn_metric *out)
{
    sn_status status = SN_OK;
    int64_t n = n_images * h * w, m = 0, R = 0, N = 0;
    size_t px = (size_t)h * w;
    float *th = NULL;
    double *fpr = NULL, *pro = NULL;
    int32_t *lab = NULL;
    int64_t *areas = NULL, *inside = NULL;
    out->value = NAN;
    out->defined = 0;
    if (!(max_fpr > 0 && max_fpr <= 1))
        SN_FAIL(SN_EINVAL, "AUPRO: max FPR %g, expected in (0, 1]", max_fpr);
    SN_TRY(check_finite(maps, n, "AUPRO"));
    th = distinct_desc(maps, n, &m);
    if (!th)
        SN_FAIL(SN_ENOMEM, "AUPRO reference: no memory");
    SN_ALLOC(fpr, m + 1, "AUPRO reference curve");
    SN_ALLOC(pro, m + 1, "AUPRO reference curve");
    SN_ALLOC(lab, px, "AUPRO reference labels");
    for (int64_t i = 0; i < n; i++)
        N += masks[i] == 0;
    /* curve point k: threshold th[k-1]; point 0 is (0, 0) */
    fpr[0] = pro[0] = 0;
    for (int64_t k = 1; k <= m; k++)
        fpr[k] = pro[k] = 0;
    for (int64_t img = 0; img < n_images; img++) {
        int count = 0;
        SN_TRY(sn_components_label(masks + (size_t)img * px, h, w, lab, &count, &areas));
        R += count;
        inside = calloc((size_t)count + 1, sizeof *inside);
        if (!inside)
            SN_FAIL(SN_ENOMEM, "AUPRO reference: no memory");
        const float *mp = maps + (size_t)img * px;
        for (int64_t k = 1; k <= m; k++) {
            float t = th[k - 1];
            int64_t fp = 0;
            for (int c = 0; c <= count; c++)
                inside[c] = 0;
            for (size_t i = 0; i < px; i++)
                if (mp[i] >= t) {
                    if (lab[i])
                        inside[lab[i]]++;
                    else
                        fp++;
                }
            fpr[k] += (double)fp;
            for (int c = 1; c <= count; c++)
                pro[k] += (double)inside[c] / (double)areas[c];
        }
        free(inside);
        inside = NULL;
        sn_free(areas);
        areas = NULL;
    }
    if (R == 0 || N == 0) {
        *out = metric(NAN);
        goto done;
    }
    for (int64_t k = 1; k <= m; k++) {
        fpr[k] /= (double)N;
        pro[k] = fmin(pro[k] / (double)R, 1.0);
    }
    /* MVTec trapezoid: points with x <= max_fpr, plus an interpolated piece up to max_fpr. */
    double area = 0;
    int64_t last = 0;
    for (int64_t k = 1; k <= m && fpr[k] <= max_fpr; k++) {
        area += 0.5 * (fpr[k] - fpr[k - 1]) * (pro[k] + pro[k - 1]);
        last = k;
    }
    if (fpr[last] < max_fpr && last < m) {
        int64_t k = last + 1;
        double yi = pro[k - 1] + (pro[k] - pro[k - 1]) * (max_fpr - fpr[k - 1]) / (fpr[k] - fpr[k - 1]);
        area += 0.5 * (yi + pro[k - 1]) * (max_fpr - fpr[k - 1]);
    }
    *out = metric(area / max_fpr);
done:
    free(th);
    free(inside);
    sn_free(fpr);
    sn_free(pro);
    sn_free(lab);
    sn_free(areas);
    return status;
}
