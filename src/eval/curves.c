/* Pixel ROC/PRO curves and the F1-optimal pixel threshold from histograms reduced over MPI
 * ranks (src/include/sernet/eval_curves.h), and the exact image-level ROC points. */
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

/* ---- exact F1 optimum: refine the bins that may hide a better threshold ----
 * A bin holding several distinct scores, with tp_above / fp_above pixels above it and tp
 * positives at or above its smallest score, allows at most F1 = 2 tp / (tp_above + fp_above + P)
 * for a threshold inside it. While such an upper bound exceeds the best F1 found, the candidate
 * bins' score ranges are cut again into sub-bins (one more pass over the local pixels and one
 * MPI_Allreduce per round), whose smallest scores are new exact thresholds. Sub-bins are
 * equal-width in double over [smallest, largest] score of their bin, so a few rounds separate any
 * two floats; the rounds stop when no candidate is left (the optimum is then exact) or after
 * SN_F1_ROUNDS rounds (the remaining upper bound is reported). */
typedef struct {
    uint32_t klo, khi;          /* score keys of the bin's smallest and largest score */
    int64_t tp_above, fp_above; /* pixels above the bin */
    double ub;                  /* F1 upper bound inside the bin */
} f1_cand;

typedef struct {
    double f1, thr, prec, rec;
} f1_best;

enum { SN_F1_ROUNDS = 8, SN_F1_MAX_CAND = 256, SN_F1_MIN_SUB = 256 };

static int cmp_cand_ub(const void *a, const void *b)
{
    double x = ((const f1_cand *)a)->ub, y = ((const f1_cand *)b)->ub;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_cand_key_desc(const void *a, const void *b)
{
    uint32_t x = ((const f1_cand *)a)->klo, y = ((const f1_cand *)b)->klo;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void f1_consider(f1_best *fb, int64_t tp, int64_t fp, int64_t P, double thr)
{
    double f1 = 2.0 * (double)tp / (double)(tp + fp + P);
    if (f1 > fb->f1 || (f1 == fb->f1 && thr > fb->thr)) {
        fb->f1 = f1;
        fb->thr = thr;
        fb->prec = (double)tp / (double)(tp + fp);
        fb->rec = (double)tp / (double)P;
    }
}

static sn_status refine_f1(MPI_Comm comm, int64_t n_local, size_t px, const float *maps,
                           const uint8_t *masks, int bins, int64_t P, const f1_cand *cand0,
                           int ncand0, f1_best *fb, double *ub_left)
{
    sn_status status = SN_OK, st = SN_OK;
    int64_t *cnt = NULL, *gcnt = NULL;
    uint32_t *kk = NULL, *gkk = NULL; /* [2 * tot]: ~smallest key, largest key (MAX-reduced) */
    f1_cand *cur = NULL, *next = NULL;
    int ncur = ncand0;
    *ub_left = 0;
    cur = malloc(sizeof *cur * (size_t)(ncand0 + 1));
    st = cur ? SN_OK : SN_ERR(SN_ENOMEM, "curves: no memory for %d F1 candidates", ncand0);
    SN_TRY(sn_dist_agree(st, comm));
    memcpy(cur, cand0, sizeof *cur * (size_t)ncand0);
    for (int round = 0;; round++) {
        /* keep the candidates that can still beat the best, the most promising first */
        int k = 0;
        for (int i = 0; i < ncur; i++)
            if (cur[i].ub > fb->f1)
                cur[k++] = cur[i];
        ncur = k;
        qsort(cur, (size_t)ncur, sizeof *cur, cmp_cand_ub);
        if (ncur == 0 || round == SN_F1_ROUNDS) {
            *ub_left = ncur ? cur[0].ub : 0;
            break;
        }
        /* refine at most SN_F1_MAX_CAND this round; the others are carried over unchanged */
        const int nref = ncur < SN_F1_MAX_CAND ? ncur : SN_F1_MAX_CAND, carried = ncur - nref;
        qsort(cur, (size_t)nref, sizeof *cur, cmp_cand_key_desc);
        const int sub = bins / nref > SN_F1_MIN_SUB ? bins / nref : SN_F1_MIN_SUB;
        const size_t tot = (size_t)nref * (size_t)sub;
        free(cnt);
        free(gcnt);
        free(kk);
        free(gkk);
        cnt = calloc(2 * tot, sizeof *cnt);
        gcnt = malloc(2 * tot * sizeof *gcnt);
        kk = calloc(2 * tot, sizeof *kk);
        gkk = malloc(2 * tot * sizeof *gkk);
        next = malloc(sizeof *next * (tot + (size_t)carried + 1));
        st = (cnt && gcnt && kk && gkk && next) ? SN_OK
                                                : SN_ERR(SN_ENOMEM, "curves: no memory for %zu sub-bins", tot);
        SN_TRY(sn_dist_agree(st, comm));
        for (size_t q = 0; q < (size_t)n_local * px; q++) {
            uint32_t key = sn_eval_key(maps[q]);
            /* candidates are disjoint and sorted by descending key: binary search */
            int a = 0, z = nref - 1, c = -1;
            while (a <= z) {
                int mid = (a + z) / 2;
                if (key > cur[mid].khi)
                    z = mid - 1;
                else if (key < cur[mid].klo)
                    a = mid + 1;
                else {
                    c = mid;
                    break;
                }
            }
            if (c < 0)
                continue;
            double lo = sn_eval_unkey(cur[c].klo), hi = sn_eval_unkey(cur[c].khi);
            double t = ((double)maps[q] - lo) * ((double)sub / (hi - lo));
            int sb = t >= (double)sub ? sub - 1 : t >= 0 ? (int)t : 0;
            size_t j = (size_t)c * sub + (size_t)sb;
            cnt[2 * j + (masks && masks[q] ? 1 : 0)]++;
            uint32_t nk = ~key;
            kk[2 * j] = nk > kk[2 * j] ? nk : kk[2 * j];
            kk[2 * j + 1] = key > kk[2 * j + 1] ? key : kk[2 * j + 1];
        }
        if (MPI_Allreduce(cnt, gcnt, (int)(2 * tot), MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS ||
            MPI_Allreduce(kk, gkk, (int)(2 * tot), MPI_UINT32_T, MPI_MAX, comm) != MPI_SUCCESS)
            SN_FAIL(SN_EMPI, "curves: MPI_Allreduce of the F1 refinement histograms failed");
        int nn = 0;
        for (int c = 0; c < nref; c++) {
            int64_t tp = cur[c].tp_above, fp = cur[c].fp_above;
            for (int sb = sub - 1; sb >= 0; sb--) {
                size_t j = (size_t)c * sub + (size_t)sb;
                int64_t neg = gcnt[2 * j], pos = gcnt[2 * j + 1];
                if (neg + pos == 0)
                    continue;
                uint32_t kmn = ~gkk[2 * j], kmx = gkk[2 * j + 1];
                if (kmn != kmx) {
                    f1_cand cd = {kmn, kmx, tp, fp, 2.0 * (double)(tp + pos) / (double)(tp + fp + P)};
                    next[nn++] = cd;
                }
                tp += pos;
                fp += neg;
                f1_consider(fb, tp, fp, P, sn_eval_unkey(kmn));
            }
        }
        for (int i = 0; i < carried; i++)
            next[nn++] = cur[nref + i];
        free(cur);
        cur = next;
        next = NULL;
        ncur = nn;
    }
done:
    free(cnt);
    free(gcnt);
    free(kk);
    free(gkk);
    free(cur);
    free(next);
    return status;
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
    f1_cand *cand = NULL;
    int ncand = 0;
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
    double prosum = 0, best = -1;
    cand = malloc(sizeof *cand * (size_t)(used + 1));
    if (!cand)
        st = SN_ERR(SN_ENOMEM, "curves: no memory for %d bins", used);
    SN_TRY(sn_dist_agree(st, comm));
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
                f1_cand cd = {gkmin[b], gkmax[b], tp_above, fp_above,
                              2.0 * (double)tp / (double)(tp_above + fp_above + P)};
                cand[ncand++] = cd;
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
        f1_best fb = {best, out->pixel_threshold, out->pixel_precision, out->pixel_recall};
        double ub = 0;
        SN_TRY(refine_f1(comm, n_local, px, maps, masks, bins, P, cand, ncand, &fb, &ub));
        out->pixel_f1 = metric(fb.f1);
        out->pixel_threshold = fb.thr;
        out->pixel_precision = fb.prec;
        out->pixel_recall = fb.rec;
        out->f1_bound = ub > fb.f1 ? ub - fb.f1 : 0;
    }
done:
    free(cand);
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
