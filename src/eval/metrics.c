/* Exact metrics of plain arrays (one process) and their slow direct references. */
#include "sernet/metrics.h"
#include "sernet/components.h"
#include "eval/eval_internal.h"
#include "sernet/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- bootstrap interval of the AUROC ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the resampled values and takes their central `level` interval (numpy's linear quantile). */
static void percentile_interval(double *v, int B, double level, double ci[2])
{
    qsort(v, (size_t)B, sizeof *v, cmp_double);
    for (int e = 0; e < 2; e++) {
        double h = (B - 1) * (e ? (1 + level) / 2 : (1 - level) / 2);
        int lo = (int)floor(h);
        int hi = lo + 1 < B ? lo + 1 : lo;
        ci[e] = v[lo] + (h - lo) * (v[hi] - v[lo]);
    }
}

/* Checks the arguments, splits the element indices into positives and negatives (array order). */
static sn_status ci_strata(const float *scores, const uint8_t *labels, int64_t n, int resamples,
                           double level, int64_t **pos, int64_t **neg, int64_t *P, int64_t *N)
{
    sn_status status = SN_OK;
    *pos = *neg = NULL;
    *P = *N = 0;
    if (resamples < 0 || !(level > 0 && level < 1))
        SN_FAIL(SN_EINVAL, "AUROC interval: %d resamples at level %g, expected >= 0 and in (0, 1)",
                resamples, level);
    SN_TRY(check_finite(scores, n, "AUROC interval"));
    SN_ALLOC(*pos, n + 1, "AUROC interval strata");
    SN_ALLOC(*neg, n + 1, "AUROC interval strata");
    for (int64_t i = 0; i < n; i++) {
        if (labels[i])
            (*pos)[(*P)++] = i;
        else
            (*neg)[(*N)++] = i;
    }
done:
    return status;
}

sn_status sn_metric_auroc_ci(const float *scores, const uint8_t *labels, int64_t n, int resamples,
                             double level, uint64_t seed, uint32_t stream, double ci[2])
{
    sn_status status = SN_OK;
    int64_t *pos = NULL, *neg = NULL, P, N;
    sn_prec *rec = NULL, *tmp = NULL;
    uint32_t *cnt = NULL;
    double *v = NULL;
    ci[0] = ci[1] = NAN;
    SN_TRY(ci_strata(scores, labels, n, resamples, level, &pos, &neg, &P, &N));
    if (P == 0 || N == 0 || resamples == 0)
        goto done;
    if (n > (int64_t)UINT32_MAX)
        SN_FAIL(SN_EINVAL, "AUROC interval: %lld elements, at most %u", (long long)n, UINT32_MAX);
    SN_ALLOC(rec, n, "AUROC interval sort");
    SN_ALLOC(tmp, n, "AUROC interval sort");
    SN_ALLOC(cnt, n, "AUROC interval counts");
    SN_ALLOC(v, resamples, "AUROC interval values");
    for (int64_t i = 0; i < n; i++) {
        rec[i].key = sn_eval_key(scores[i]);
        rec[i].w = (uint32_t)i;
    }
    const sn_prec *s = sn_eval_radix_sort(rec, tmp, n);
    for (int b = 0; b < resamples; b++) {
        sn_rng r;
        sn_rng_init(&r, seed, SN_RNG_STAGE_EVAL, stream, (uint64_t)b);
        memset(cnt, 0, sizeof *cnt * (size_t)n);
        for (int64_t j = 0; j < P; j++)
            cnt[pos[sn_rng_int(&r, 0, P - 1)]]++;
        for (int64_t j = 0; j < N; j++)
            cnt[neg[sn_rng_int(&r, 0, N - 1)]]++;
        /* ascending tie groups: each drawn positive beats the negatives below its group and
         * half of those tied with it */
        double num = 0, below = 0;
        for (int64_t i = 0; i < n;) {
            double wp = 0, wn = 0;
            int64_t j = i;
            for (; j < n && s[j].key == s[i].key; j++) {
                if (labels[s[j].w])
                    wp += cnt[s[j].w];
                else
                    wn += cnt[s[j].w];
            }
            num += wp * (below + 0.5 * wn);
            below += wn;
            i = j;
        }
        v[b] = num / ((double)P * (double)N);
    }
    percentile_interval(v, resamples, level, ci);
done:
    sn_free(pos);
    sn_free(neg);
    sn_free(rec);
    sn_free(tmp);
    sn_free(cnt);
    sn_free(v);
    return status;
}

sn_status sn_metric_auroc_ci_ref(const float *scores, const uint8_t *labels, int64_t n, int resamples,
                                 double level, uint64_t seed, uint32_t stream, double ci[2])
{
    sn_status status = SN_OK;
    int64_t *pos = NULL, *neg = NULL, P, N;
    float *rs = NULL;
    uint8_t *rl = NULL;
    double *v = NULL;
    ci[0] = ci[1] = NAN;
    SN_TRY(ci_strata(scores, labels, n, resamples, level, &pos, &neg, &P, &N));
    if (P == 0 || N == 0 || resamples == 0)
        goto done;
    SN_ALLOC(rs, n, "AUROC interval resample");
    SN_ALLOC(rl, n, "AUROC interval resample");
    SN_ALLOC(v, resamples, "AUROC interval values");
    for (int b = 0; b < resamples; b++) {
        sn_rng r;
        sn_rng_init(&r, seed, SN_RNG_STAGE_EVAL, stream, (uint64_t)b);
        int64_t k = 0;
        for (int64_t j = 0; j < P; j++, k++) {
            rs[k] = scores[pos[sn_rng_int(&r, 0, P - 1)]];
            rl[k] = 1;
        }
        for (int64_t j = 0; j < N; j++, k++) {
            rs[k] = scores[neg[sn_rng_int(&r, 0, N - 1)]];
            rl[k] = 0;
        }
        sn_metric m;
        SN_TRY(sn_metric_auroc(rs, rl, n, &m));
        v[b] = m.value;
    }
    percentile_interval(v, resamples, level, ci);
done:
    sn_free(pos);
    sn_free(neg);
    sn_free(rs);
    sn_free(rl);
    sn_free(v);
    return status;
}
