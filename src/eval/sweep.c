/* Sorting scored elements and sweeping the threshold over them. */
#include "eval/eval_internal.h"

#include <math.h>
#include <stdlib.h>

sn_prec *sn_eval_radix_sort(sn_prec *a, sn_prec *tmp, int64_t n)
{
    enum { BITS = 11, NB = 1 << BITS };
    static const int shifts[3] = {0, 11, 22};
    if (n < 2)
        return a;
    int64_t *cnt = malloc(sizeof(int64_t) * NB * 3);
    SN_ASSERT(cnt);
    memset(cnt, 0, sizeof(int64_t) * NB * 3);
    for (int64_t i = 0; i < n; i++) {
        uint32_t k = a[i].key;
        cnt[k & (NB - 1)]++;
        cnt[NB + ((k >> 11) & (NB - 1))]++;
        cnt[2 * NB + (k >> 22)]++;
    }
    sn_prec *src = a, *dst = tmp;
    for (int p = 0; p < 3; p++) {
        int64_t *c = cnt + (size_t)p * NB;
        uint32_t d0 = (src[0].key >> shifts[p]) & (NB - 1);
        if (c[d0] == n)
            continue; /* every key has this digit */
        int64_t sum = 0;
        for (int d = 0; d < NB; d++) {
            int64_t t = c[d];
            c[d] = sum;
            sum += t;
        }
        for (int64_t i = 0; i < n; i++) {
            uint32_t d = (src[i].key >> shifts[p]) & (NB - 1);
            dst[c[d]++] = src[i];
        }
        sn_prec *t = src;
        src = dst;
        dst = t;
    }
    free(cnt);
    return src;
}

static void merge2(const sn_prec *x, int64_t nx, const sn_prec *y, int64_t ny, sn_prec *out)
{
    int64_t i = 0, j = 0, k = 0;
    while (i < nx && j < ny)
        out[k++] = y[j].key < x[i].key ? y[j++] : x[i++];
    while (i < nx)
        out[k++] = x[i++];
    while (j < ny)
        out[k++] = y[j++];
}

sn_prec *sn_eval_merge_runs(sn_prec *a, sn_prec *tmp, const int64_t *counts, int k)
{
    /* Pairwise rounds: run lengths in a small array, ping-pong between a and tmp. */
    int64_t *len = malloc(sizeof(int64_t) * (size_t)(k > 0 ? k : 1));
    SN_ASSERT(len);
    for (int i = 0; i < k; i++)
        len[i] = counts[i];
    sn_prec *src = a, *dst = tmp;
    int runs = k;
    while (runs > 1) {
        int64_t off = 0;
        int out_runs = 0;
        for (int i = 0; i < runs; i += 2) {
            int64_t sum = len[i] + (i + 1 < runs ? len[i + 1] : 0);
            if (i + 1 < runs)
                merge2(src + off, len[i], src + off + len[i], len[i + 1], dst + off);
            else
                memcpy(dst + off, src + off, (size_t)len[i] * sizeof *src);
            len[out_runs++] = sum;
            off += sum;
        }
        runs = out_runs;
        sn_prec *t = src;
        src = dst;
        dst = t;
    }
    free(len);
    return src;
}

void sn_sweep_init(sn_sweep *s, int64_t P, int64_t N, int64_t R, double max_fpr)
{
    memset(s, 0, sizeof *s);
    s->P = P;
    s->N = N;
    s->R = R;
    s->max_fpr = max_fpr;
    s->best_f1 = -1;
    s->best_thr = s->best_prec = s->best_rec = NAN;
}

void sn_sweep_group(sn_sweep *s, int64_t pos, int64_t neg, double prosum, double value, int exact)
{
    const int64_t a = s->tp, f = s->fp; /* counts strictly above this group */
    /* AUROC: positives here beat every negative below and tie with the negatives here. */
    s->auc2 += (long double)pos * (long double)(2 * (s->N - f - neg) + neg);
    s->tp += pos;
    s->fp += neg;
    s->pro += prosum;
    if (pos > 0) {
        double prec = (double)s->tp / (double)(s->tp + s->fp);
        s->ap += (double)pos * prec;
        if (!exact) {
            /* Any ordering inside the bin: a positive is credited a precision between
             * (a+k)/(a+f+n+k) (k-th positive, all negatives first; summed >= the integral) and
             * (a+p)/(a+f+p) (all positives first). */
            double p = (double)pos, n = (double)neg, c = (double)(a + f) + n;
            double lo = p;
            if ((double)f + n > 0)
                lo = p - ((double)f + n) * log((c + p) / c);
            double hi = p * ((double)a + p) / ((double)(a + f) + p);
            s->ap_lo += lo < 0 ? 0 : lo;
            s->ap_hi += hi;
        } else {
            s->ap_lo += (double)pos * prec;
            s->ap_hi += (double)pos * prec;
        }
    }
    if (!exact)
        s->auc_pairs += (double)pos * (double)neg;
    if (s->P > 0) {
        /* F1 of "predict positive when score >= value" */
        double f1 = 2.0 * (double)s->tp / (double)(s->tp + s->fp + s->P);
        if (exact && f1 > s->best_f1) {
            s->best_f1 = f1;
            s->best_thr = value;
            s->best_prec = (double)s->tp / (double)(s->tp + s->fp);
            s->best_rec = (double)s->tp / (double)s->P;
        }
    }
    if (!s->area_done && s->N > 0 && s->R > 0) {
        double x1 = (double)s->fp / (double)s->N;
        double y1 = s->pro / (double)s->R;
        if (y1 > 1)
            y1 = 1;
        double xm = s->max_fpr;
        if (x1 <= xm) {
            s->area += 0.5 * (x1 - s->x0) * (s->y0 + y1);
            if (!exact)
                s->pro_err += 0.5 * (x1 - s->x0) * (y1 - s->y0);
            if (x1 == xm)
                s->area_done = 1;
        } else {
            double dx = xm - s->x0;
            double yi = s->y0 + (y1 - s->y0) * dx / (x1 - s->x0);
            double part = 0.5 * dx * (s->y0 + yi);
            s->area += part;
            if (!exact) {
                double lo = s->y0 * dx, hi = y1 * dx;
                s->pro_err += fmax(hi - part, part - lo);
            }
            s->area_done = 1;
        }
        s->x0 = x1;
        s->y0 = y1;
    }
}

void sn_sweep_records(sn_sweep *s, const sn_prec *r, int64_t n)
{
    int64_t i = n - 1;
    while (i >= 0) {
        uint32_t k = r[i].key;
        int64_t pos = 0, neg = 0;
        double prosum = 0;
        while (i >= 0 && r[i].key == k) {
            if (r[i].w) {
                pos++;
                prosum += 1.0 / (double)r[i].w;
            } else {
                neg++;
            }
            i--;
        }
        sn_sweep_group(s, pos, neg, prosum, sn_eval_unkey(k), 1);
    }
}

void sn_sweep_finish(const sn_sweep *s, sn_sweep_out *o)
{
    double PN = (double)s->P * (double)s->N;
    o->auroc = (s->P > 0 && s->N > 0) ? (double)(s->auc2 / (2.0L * (long double)s->P * (long double)s->N)) : NAN;
    o->auroc_bound = (s->P > 0 && s->N > 0) ? 0.5 * s->auc_pairs / PN : NAN;
    o->ap = s->P > 0 ? s->ap / (double)s->P : NAN;
    o->ap_bound = s->P > 0 ? fmax(s->ap_hi - s->ap, s->ap - s->ap_lo) / (double)s->P : NAN;
    o->aupro = (s->R > 0 && s->N > 0) ? s->area / s->max_fpr : NAN;
    o->aupro_bound = (s->R > 0 && s->N > 0) ? s->pro_err / s->max_fpr : NAN;
}
