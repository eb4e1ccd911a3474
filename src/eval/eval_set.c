/* A test set spread over MPI ranks and its metrics: image metrics on gathered image scores;
 * pixel metrics exact (local radix sort, gather of the sorted runs on rank 0, merge, sweep) up
 * to a pixel budget, else binned (global score range, per-bin class histograms reduced over
 * the ranks, a sweep over bins with a rigorous error bound). */
#include "sernet/metrics.h"
#include "sernet/components.h"
#include "eval/eval_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

typedef struct {
    float score;
    int32_t type;
    int32_t label;
} img_rec;

struct sn_eval_set {
    sn_prec *px;
    int64_t n_px, cap_px;
    img_rec *img;
    int64_t n_img, cap_img;
    int64_t n_pos, n_regions;
    float lo, hi; /* local score range of the pixels */
    int failed;
    int32_t *lab;
    size_t lab_cap;
};

sn_status sn_eval_set_create(sn_eval_set **out)
{
    sn_status status = SN_OK;
    sn_eval_set *s = NULL;
    *out = NULL;
    SN_CALLOC(s, 1, "evaluation set");
    s->lo = INFINITY;
    s->hi = -INFINITY;
    *out = s;
done:
    return status;
}

void sn_eval_set_free(sn_eval_set *s)
{
    if (!s)
        return;
    sn_free(s->px);
    sn_free(s->img);
    sn_free(s->lab);
    sn_free(s);
}

int64_t sn_eval_set_pixels(const sn_eval_set *s) { return s->n_px; }

static sn_status grow(void **p, int64_t *cap, int64_t used, int64_t need, size_t elem, const char *what)
{
    if (need <= *cap)
        return SN_OK;
    int64_t nc = *cap ? *cap : 1024;
    while (nc < need)
        nc *= 2;
    void *q = sn_alloc((size_t)nc * elem, what);
    if (!q)
        return SN_ENOMEM;
    if (*p && used)
        memcpy(q, *p, (size_t)used * elem);
    sn_free(*p);
    *p = q;
    *cap = nc;
    return SN_OK;
}

sn_status sn_eval_set_reserve(sn_eval_set *s, int64_t images, int64_t pixels)
{
    sn_status status = SN_OK;
    if (images < 0 || pixels < 0)
        SN_FAIL(SN_EINVAL, "evaluation: cannot reserve %lld images, %lld pixels", (long long)images,
                (long long)pixels);
    if (s->n_px + pixels > s->cap_px) {
        int64_t cap = s->n_px + pixels;
        sn_prec *q = sn_alloc((size_t)cap * sizeof *q, "evaluation pixels");
        if (!q)
            SN_FAIL(SN_ENOMEM, "evaluation: no memory for %lld pixels", (long long)cap);
        if (s->n_px)
            memcpy(q, s->px, (size_t)s->n_px * sizeof *q);
        sn_free(s->px);
        s->px = q;
        s->cap_px = cap;
    }
    if (s->n_img + images > s->cap_img) {
        int64_t cap = s->n_img + images;
        img_rec *q = sn_alloc((size_t)cap * sizeof *q, "evaluation images");
        if (!q)
            SN_FAIL(SN_ENOMEM, "evaluation: no memory for %lld images", (long long)cap);
        if (s->n_img)
            memcpy(q, s->img, (size_t)s->n_img * sizeof *q);
        sn_free(s->img);
        s->img = q;
        s->cap_img = cap;
    }
done:
    return status;
}

sn_status sn_eval_set_add(sn_eval_set *s, int64_t index, const char *name, int type, float score,
                          const float *map, int map_h, int map_w, const uint8_t *mask, int mask_h,
                          int mask_w)
{
    sn_status status = SN_OK;
    int64_t *areas = NULL;
    const char *nm = name ? name : "";
    const char *sep = name ? " " : "";
    if (type < 0 || type >= SN_EVAL_MAX_TYPES)
        SN_FAIL(SN_EINVAL, "evaluation: image %lld%s%s has type %d, expected 0..%d", (long long)index,
                sep, nm, type, SN_EVAL_MAX_TYPES - 1);
    if (!isfinite(score))
        SN_FAIL(SN_ENONFINITE, "evaluation: image %lld%s%s has a %s image score", (long long)index, sep,
                nm, isnan(score) ? "NaN" : "infinite");
    if (!map || map_h < 1 || map_w < 1)
        SN_FAIL(SN_EINVAL, "evaluation: image %lld%s%s has no anomaly map (size %dx%d)", (long long)index,
                sep, nm, map_h, map_w);
    if (mask && (mask_h != map_h || mask_w != map_w))
        SN_FAIL(SN_EINVAL,
                "evaluation: image %lld%s%s: ground-truth mask is %dx%d but the anomaly map is %dx%d",
                (long long)index, sep, nm, mask_h, mask_w, map_h, map_w);
    size_t n = (size_t)map_h * map_w;
    if (n >= UINT32_MAX)
        SN_FAIL(SN_EINVAL, "evaluation: image %lld%s%s: map of %dx%d pixels is too large",
                (long long)index, sep, nm, map_h, map_w);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(map[i]))
            SN_FAIL(SN_ENONFINITE, "evaluation: image %lld%s%s: anomaly map pixel (%zu, %zu) is %s",
                    (long long)index, sep, nm, i / (size_t)map_w, i % (size_t)map_w,
                    isnan(map[i]) ? "NaN" : "infinite");
    SN_TRY(grow((void **)&s->px, &s->cap_px, s->n_px, s->n_px + (int64_t)n, sizeof *s->px, "evaluation pixels"));
    SN_TRY(grow((void **)&s->img, &s->cap_img, s->n_img, s->n_img + 1, sizeof *s->img, "evaluation images"));
    int count = 0;
    if (mask) {
        if (s->lab_cap < n) {
            sn_free(s->lab);
            s->lab = NULL;
            s->lab_cap = 0;
            SN_ALLOC(s->lab, n, "evaluation region labels");
            s->lab_cap = n;
        }
        SN_TRY(sn_components_label(mask, map_h, map_w, s->lab, &count, &areas));
    }
    sn_prec *out = s->px + s->n_px;
    int64_t pos = 0;
    float lo = s->lo, hi = s->hi;
    for (size_t i = 0; i < n; i++) {
        uint32_t w = (mask && s->lab[i]) ? (uint32_t)areas[s->lab[i]] : 0u;
        out[i].key = sn_eval_key(map[i]);
        out[i].w = w;
        pos += w != 0;
        lo = map[i] < lo ? map[i] : lo;
        hi = map[i] > hi ? map[i] : hi;
    }
    s->lo = lo;
    s->hi = hi;
    s->n_px += (int64_t)n;
    s->n_pos += pos;
    s->n_regions += count;
    img_rec r = {score, type, pos > 0};
    s->img[s->n_img++] = r;
done:
    sn_free(areas);
    if (status != SN_OK)
        s->failed = 1;
    return status;
}

void sn_eval_opts_default(sn_eval_opts *o)
{
    o->max_fpr = 0.3;
    o->exact_max_pixels = 200000000;
    o->bins = 65536;
    o->mode = SN_EVAL_AUTO;
}

void sn_eval_opts_from_config(const sn_config *cfg, sn_eval_opts *o)
{
    sn_eval_opts_default(o);
    o->max_fpr = cfg->aupro_max_fpr;
    o->exact_max_pixels = cfg->eval_exact_max_pixels;
    o->bins = cfg->eval_bins;
}

/* Every rank learns whether any rank failed; the failing rank keeps its own message. */
static sn_status agree(sn_status st, MPI_Comm comm, const char *where)
{
    int bad = st != SN_OK, any = 0;
    if (MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
        return SN_ERR(SN_EMPI, "evaluation: MPI_Allreduce failed (%s)", where);
    if (any && !bad)
        return SN_ERR(SN_EMPI, "evaluation: another rank failed (%s)", where);
    return st;
}

static sn_metric mk(double v)
{
    sn_metric m = {v, !isnan(v)};
    return m;
}

/* Image-level metrics on every rank from the gathered image records. */
static sn_status image_metrics(const sn_eval_set *s, MPI_Comm comm, int nranks, sn_eval_result *res)
{
    sn_status status = SN_OK, st = SN_OK;
    int *counts = NULL, *displs = NULL;
    img_rec *all = NULL;
    float *sc = NULL;
    uint8_t *lb = NULL;
    MPI_Datatype t = MPI_DATATYPE_NULL;
    counts = malloc(sizeof(int) * (size_t)nranks);
    displs = malloc(sizeof(int) * (size_t)nranks);
    int mine = s->n_img > INT_MAX ? -1 : (int)s->n_img;
    if (!counts || !displs)
        st = SN_ERR(SN_ENOMEM, "evaluation: no memory for %d rank counts", nranks);
    SN_TRY(agree(st, comm, "image counts"));
    if (MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "evaluation: MPI_Allgather of image counts failed");
    int64_t total = 0;
    for (int r = 0; r < nranks; r++) {
        if (counts[r] < 0 || total + counts[r] > INT_MAX)
            SN_FAIL(SN_EINVAL, "evaluation: more than %d images", INT_MAX);
        displs[r] = (int)total;
        total += counts[r];
    }
    all = malloc(sizeof *all * (size_t)(total + 1));
    sc = malloc(sizeof *sc * (size_t)(total + 1));
    lb = malloc((size_t)(total + 1));
    st = (all && sc && lb) ? SN_OK : SN_ERR(SN_ENOMEM, "evaluation: no memory for %lld image scores", (long long)total);
    SN_TRY(agree(st, comm, "image buffers"));
    if (MPI_Type_contiguous((int)sizeof(img_rec), MPI_BYTE, &t) != MPI_SUCCESS || MPI_Type_commit(&t) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "evaluation: MPI_Type_commit failed");
    if (MPI_Allgatherv(s->img, mine, t, all, counts, displs, t, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "evaluation: MPI_Allgatherv of image scores failed");
    res->n_images = total;
    for (int64_t i = 0; i < total; i++) {
        sc[i] = all[i].score;
        lb[i] = (uint8_t)(all[i].label != 0);
        res->n_defective += lb[i];
        if (all[i].type >= res->n_types)
            res->n_types = all[i].type + 1;
        res->type_images[all[i].type]++;
    }
    res->n_good = total - res->n_defective;
    SN_TRY(sn_metric_auroc(sc, lb, total, &res->image_auroc));
    SN_TRY(sn_metric_best_f1(sc, lb, total, &res->f1));
    res->type_auroc[0] = mk(NAN);
    for (int ty = 1; ty < res->n_types; ty++) {
        int64_t k = 0;
        for (int64_t i = 0; i < total; i++)
            if (all[i].type == 0 || all[i].type == ty) {
                sc[k] = all[i].score;
                lb[k] = all[i].type == ty;
                k++;
            }
        SN_TRY(sn_metric_auroc(sc, lb, k, &res->type_auroc[ty]));
    }
done:
    if (t != MPI_DATATYPE_NULL && MPI_Type_free(&t) != MPI_SUCCESS && status == SN_OK)
        status = SN_ERR(SN_EMPI, "MPI_Type_free failed");
    free(counts);
    free(displs);
    free(all);
    free(sc);
    free(lb);
    return status;
}

static void put_pixel_metrics(const sn_sweep_out *o, int binned, sn_eval_result *res)
{
    res->pixel_auroc = mk(o->auroc);
    res->pixel_ap = mk(o->ap);
    res->aupro = mk(o->aupro);
    res->binned = binned;
    res->pixel_auroc_bound = binned && res->pixel_auroc.defined ? o->auroc_bound : 0;
    res->pixel_ap_bound = binned && res->pixel_ap.defined ? o->ap_bound : 0;
    res->aupro_bound = binned && res->aupro.defined ? o->aupro_bound : 0;
}

/* Exact: local sort, gather the runs on rank 0, merge, sweep there. */
static sn_status pixels_exact(const sn_eval_set *s, MPI_Comm comm, int rank, int nranks,
                              const int64_t g[4], const sn_eval_opts *o, sn_eval_result *res)
{
    sn_status status = SN_OK, st = SN_OK;
    sn_prec *loc = NULL, *ltmp = NULL, *all = NULL, *atmp = NULL;
    int64_t *counts = NULL;
    int *ic = NULL, *id = NULL;
    MPI_Datatype t = MPI_DATATYPE_NULL;
    sn_sweep_out out;
    const int64_t total = g[0];

    loc = sn_alloc((size_t)(s->n_px + 1) * sizeof *loc, "evaluation local sort");
    ltmp = sn_alloc((size_t)(s->n_px + 1) * sizeof *ltmp, "evaluation local sort");
    st = (loc && ltmp) ? SN_OK : SN_ENOMEM;
    SN_TRY(agree(st, comm, "local sort buffers"));
    if (s->n_px)
        memcpy(loc, s->px, (size_t)s->n_px * sizeof *loc);
    sn_prec *sorted = sn_eval_radix_sort(loc, ltmp, s->n_px);
    /* keep only the buffer holding the sorted run */
    if (sorted == loc) {
        sn_free(ltmp);
        ltmp = NULL;
    } else {
        sn_free(loc);
        loc = NULL;
    }
    if (nranks == 1) {
        sn_sweep sw;
        sn_sweep_init(&sw, g[1], total - g[1], g[2], o->max_fpr);
        sn_sweep_records(&sw, sorted, total);
        sn_sweep_finish(&sw, &out);
        put_pixel_metrics(&out, 0, res);
        goto done;
    }

    counts = malloc(sizeof(int64_t) * (size_t)nranks);
    ic = malloc(sizeof(int) * (size_t)nranks);
    id = malloc(sizeof(int) * (size_t)nranks);
    st = (counts && ic && id) ? SN_OK : SN_ERR(SN_ENOMEM, "evaluation: no memory for rank counts");
    SN_TRY(agree(st, comm, "rank counts"));
    int64_t mine = s->n_px;
    if (MPI_Gather(&mine, 1, MPI_INT64_T, counts, 1, MPI_INT64_T, 0, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "evaluation: MPI_Gather of pixel counts failed");
    if (rank == 0) {
        if (total > INT_MAX)
            st = SN_ERR(SN_EINVAL, "evaluation: %lld pixels exceed the exact path's limit of %d; "
                        "use the binned path (eval_exact_max_pixels)", (long long)total, INT_MAX);
        else {
            all = sn_alloc((size_t)(total + 1) * sizeof *all, "evaluation gathered pixels (rank 0)");
            atmp = sn_alloc((size_t)(total + 1) * sizeof *atmp, "evaluation gathered pixels (rank 0)");
            if (!all || !atmp)
                st = SN_ENOMEM;
            int64_t off = 0;
            for (int r = 0; r < nranks; r++) {
                ic[r] = (int)counts[r];
                id[r] = (int)off;
                off += counts[r];
            }
        }
    }
    SN_TRY(agree(st, comm, "gather buffers on rank 0"));
    if (MPI_Type_contiguous((int)sizeof(sn_prec), MPI_BYTE, &t) != MPI_SUCCESS || MPI_Type_commit(&t) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "evaluation: MPI_Type_commit failed");
    if (MPI_Gatherv(sorted, (int)mine, t, all, ic, id, t, 0, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "evaluation: MPI_Gatherv of pixel scores failed");
    sn_free(loc);
    sn_free(ltmp);
    loc = ltmp = NULL;
    if (rank == 0) {
        sn_prec *m = sn_eval_merge_runs(all, atmp, counts, nranks);
        sn_sweep sw;
        sn_sweep_init(&sw, g[1], total - g[1], g[2], o->max_fpr);
        sn_sweep_records(&sw, m, total);
        sn_sweep_finish(&sw, &out);
        put_pixel_metrics(&out, 0, res);
    }
done:
    if (t != MPI_DATATYPE_NULL && MPI_Type_free(&t) != MPI_SUCCESS && status == SN_OK)
        status = SN_ERR(SN_EMPI, "MPI_Type_free failed");
    sn_free(loc);
    sn_free(ltmp);
    sn_free(all);
    sn_free(atmp);
    free(counts);
    free(ic);
    free(id);
    return status;
}

/* Binned, in two passes so the bins follow the data: pass 1 counts the pixels in
 * min(bins, SN_COARSE) equal-width bins over the global score range; every rank derives from these (identical,
 * reduced) counts the same split of coarse bin j into sub_j = ceil(count_j * bins / N)
 * equal-width fine bins; pass 2 accumulates per fine bin. Coarse index, position inside the
 * coarse bin and fine index are monotone in the score, so the fine bins are ordered exactly
 * like the scores. There are at most 2 * bins fine bins (16 bytes each while accumulating). */
enum { SN_COARSE = 4096 };

typedef struct {
    uint32_t neg, pos;   /* counts of the current chunk (at most UINT32_MAX pixels) */
    uint32_t kmin, kmax; /* smallest and largest score key in the bin */
} bin_acc;

static inline double coarse_pos(uint32_t key, double lo, double scale)
{
    return ((double)sn_eval_unkey(key) - lo) * scale; /* >= 0; NaN only as 0 * inf */
}

static inline int coarse_bin(double t, int B1)
{
    return t >= (double)B1 ? B1 - 1 : t >= 0 ? (int)t : 0;
}

static sn_status pixels_binned(const sn_eval_set *s, MPI_Comm comm, int rank, const int64_t g[4],
                               double lo, double hi, const sn_eval_opts *o, sn_eval_result *res)
{
    sn_status status = SN_OK, st = SN_OK;
    const int B = o->bins, B1 = o->bins < SN_COARSE ? o->bins : SN_COARSE;
    int64_t *c1 = NULL, *gc1 = NULL;
    int *sub = NULL, *off = NULL;
    bin_acc *acc = NULL;
    int64_t *cnt = NULL, *gcnt = NULL;  /* [2F]: negatives, positives */
    double *pro = NULL, *gpro = NULL;   /* [F]: sum of 1/region size (touched by positives only) */
    uint32_t *kk = NULL, *gkk = NULL;   /* [2F]: ~smallest key, largest key (both reduced by MAX) */
    if (B < 1)
        SN_FAIL(SN_EINVAL, "evaluation: eval_bins = %d, expected >= 1", B);
    c1 = sn_calloc(sizeof(int64_t) * B1, "evaluation coarse histogram");
    gc1 = sn_alloc(sizeof(int64_t) * B1, "evaluation coarse histogram");
    sub = sn_alloc(sizeof(int) * B1, "evaluation coarse histogram");
    off = sn_alloc(sizeof(int) * (B1 + 1), "evaluation coarse histogram");
    st = (c1 && gc1 && sub && off) ? SN_OK : SN_ENOMEM;
    SN_TRY(agree(st, comm, "coarse histogram buffers"));
    const double scale = hi > lo ? (double)B1 / (hi - lo) : 0.0;
    for (int64_t i = 0; i < s->n_px; i++)
        c1[coarse_bin(coarse_pos(s->px[i].key, lo, scale), B1)]++;
    if (MPI_Allreduce(c1, gc1, B1, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "evaluation: MPI_Allreduce of the coarse histogram failed");
    int F = 0;
    for (int j = 0; j < B1; j++) {
        double want = ceil((double)gc1[j] * (double)B / (double)g[0]);
        sub[j] = gc1[j] == 0 ? 0 : want < 1 ? 1 : want > B ? B : (int)want;
        off[j] = F;
        F += sub[j];
    }
    off[B1] = F;

    acc = sn_alloc(sizeof(bin_acc) * (size_t)F + 1, "evaluation histograms");
    cnt = sn_calloc(sizeof(int64_t) * 2 * (size_t)F + 1, "evaluation histograms");
    gcnt = sn_alloc(sizeof(int64_t) * 2 * (size_t)F + 1, "evaluation histograms");
    pro = sn_calloc(sizeof(double) * (size_t)F + 1, "evaluation histograms");
    gpro = sn_alloc(sizeof(double) * (size_t)F + 1, "evaluation histograms");
    kk = sn_alloc(sizeof(uint32_t) * 2 * (size_t)F + 1, "evaluation histograms");
    gkk = sn_alloc(sizeof(uint32_t) * 2 * (size_t)F + 1, "evaluation histograms");
    st = (acc && cnt && gcnt && pro && gpro && kk && gkk) ? SN_OK : SN_ENOMEM;
    SN_TRY(agree(st, comm, "histogram buffers"));
    for (int b = 0; b < F; b++) {
        bin_acc z = {0, 0, UINT32_MAX, 0};
        acc[b] = z;
    }
    for (int64_t c0 = 0; c0 < s->n_px; c0 += UINT32_MAX) {
        int64_t cend = s->n_px - c0 > (int64_t)UINT32_MAX ? c0 + (int64_t)UINT32_MAX : s->n_px;
        for (int64_t i = c0; i < cend; i++) {
            uint32_t k = s->px[i].key, w = s->px[i].w;
            double t = coarse_pos(k, lo, scale);
            int j = coarse_bin(t, B1);
            double u = (t - (double)j) * (double)sub[j]; /* position inside coarse bin j */
            int b = off[j] + (u >= (double)sub[j] ? sub[j] - 1 : u >= 0 ? (int)u : 0);
            bin_acc *a = &acc[b];
            if (w) {
                a->pos++;
                pro[b] += 1.0 / (double)w;
            } else {
                a->neg++;
            }
            a->kmin = k < a->kmin ? k : a->kmin;
            a->kmax = k > a->kmax ? k : a->kmax;
        }
        for (int b = 0; b < F; b++) { /* flush the 32-bit counts */
            cnt[2 * b] += acc[b].neg;
            cnt[2 * b + 1] += acc[b].pos;
            acc[b].neg = acc[b].pos = 0;
        }
    }
    for (int b = 0; b < F; b++) {
        kk[2 * b] = ~acc[b].kmin;
        kk[2 * b + 1] = acc[b].kmax;
    }
    if (MPI_Allreduce(cnt, gcnt, 2 * F, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS ||
        MPI_Allreduce(pro, gpro, F, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS ||
        MPI_Allreduce(kk, gkk, 2 * F, MPI_UINT32_T, MPI_MAX, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "evaluation: MPI_Allreduce of the score histograms failed");
    if (rank == 0) {
        sn_sweep sw;
        sn_sweep_out out;
        sn_sweep_init(&sw, g[1], g[0] - g[1], g[2], o->max_fpr);
        for (int b = F - 1; b >= 0; b--) {
            int64_t neg = gcnt[2 * b], pos = gcnt[2 * b + 1];
            if (neg + pos == 0)
                continue;
            uint32_t kmin = ~gkk[2 * b], kmax = gkk[2 * b + 1];
            sn_sweep_group(&sw, pos, neg, gpro[b], sn_eval_unkey(kmax), kmin == kmax);
        }
        sn_sweep_finish(&sw, &out);
        put_pixel_metrics(&out, 1, res);
        res->bins = F;
    }
done:
    sn_free(c1);
    sn_free(gc1);
    sn_free(sub);
    sn_free(off);
    sn_free(acc);
    sn_free(cnt);
    sn_free(gcnt);
    sn_free(pro);
    sn_free(gpro);
    sn_free(kk);
    sn_free(gkk);
    return status;
}

sn_status sn_eval_compute(const sn_eval_set *s, MPI_Comm comm, const sn_eval_opts *o,
                          sn_eval_result *res)
{
    sn_status status = SN_OK, st = SN_OK;
    int rank = 0, nranks = 1;
    memset(res, 0, sizeof *res);
    res->max_fpr = o->max_fpr;
    res->image_auroc = res->pixel_auroc = res->aupro = res->pixel_ap = mk(NAN);
    res->f1.f1 = mk(NAN);
    res->f1.threshold = res->f1.precision = res->f1.recall = NAN;
    for (int t = 0; t < SN_EVAL_MAX_TYPES; t++)
        res->type_auroc[t] = mk(NAN);
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &nranks) != MPI_SUCCESS)
        return SN_ERR(SN_EMPI, "evaluation: MPI_Comm_rank/size failed");
    if (s->failed)
        st = SN_ERR(SN_EINVAL, "evaluation: an image could not be added to the set");
    else if (!(o->max_fpr > 0 && o->max_fpr <= 1))
        st = SN_ERR(SN_EINVAL, "evaluation: aupro_max_fpr = %g, expected in (0, 1]", o->max_fpr);
    SN_TRY(agree(st, comm, "input"));

    int64_t loc[4] = {s->n_px, s->n_pos, s->n_regions, 0}, g[4];
    double lm[2] = {-(double)s->lo, (double)s->hi}, gm[2];
    if (MPI_Allreduce(loc, g, 4, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS ||
        MPI_Allreduce(lm, gm, 2, MPI_DOUBLE, MPI_MAX, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "evaluation: MPI_Allreduce of the set sizes failed");
    res->n_pixels = g[0];
    res->n_defect_pixels = g[1];
    res->n_regions = g[2];

    SN_TRY(agree(image_metrics(s, comm, nranks, res), comm, "image metrics"));

    int binned = o->mode == SN_EVAL_BINNED || (o->mode == SN_EVAL_AUTO && g[0] > o->exact_max_pixels);
    if (g[0] > 0) {
        if (binned)
            st = pixels_binned(s, comm, rank, g, -gm[0], gm[1], o, res);
        else
            st = pixels_exact(s, comm, rank, nranks, g, o, res);
    }
    SN_TRY(agree(st, comm, "pixel metrics"));
    /* Rank 0 computed the pixel metrics; everyone gets its result. */
    if (MPI_Bcast(res, (int)sizeof *res, MPI_BYTE, 0, comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "evaluation: MPI_Bcast of the result failed");
done:
    return status;
}

sn_status sn_eval_arrays(MPI_Comm comm, int64_t n_local, int h, int w, const float *maps,
                         const uint8_t *masks, const float *scores, const int32_t *types,
                         int64_t first_index, const sn_eval_opts *o, sn_eval_result *res)
{
    sn_status status = SN_OK, st;
    sn_eval_set *set = NULL;
    size_t px = (size_t)h * w;
    st = sn_eval_set_create(&set);
    if (st == SN_OK)
        st = sn_eval_set_reserve(set, n_local, n_local * (int64_t)px);
    SN_TRY(agree(st, comm, "evaluation set"));
    for (int64_t k = 0; k < n_local && set->failed == 0; k++) {
        const float *m = maps + px * (size_t)k;
        const uint8_t *mk = masks ? masks + px * (size_t)k : NULL;
        float score = 0;
        if (scores) {
            score = scores[k];
        } else {
            score = -INFINITY;
            for (size_t i = 0; i < px; i++)
                score = m[i] > score ? m[i] : score; /* a NaN pixel is reported by the add */
        }
        int type = 0;
        if (types) {
            type = types[k];
        } else if (mk) {
            for (size_t i = 0; i < px && !type; i++)
                type = mk[i] != 0;
        }
        (void)sn_eval_set_add(set, first_index + k, NULL, type, score, m, h, w, mk, h, w);
    }
    SN_TRY(sn_eval_compute(set, comm, o, res));
done:
    sn_eval_set_free(set);
    return status;
}

static void pm(FILE *f, const char *name, sn_metric m, int binned, double bound)
{
    if (!m.defined)
        fprintf(f, "%-22s undefined\n", name);
    else if (binned)
        fprintf(f, "%-22s %.6f  (binned, |error| <= %.3g)\n", name, m.value, bound);
    else
        fprintf(f, "%-22s %.6f\n", name, m.value);
}

void sn_eval_result_print(const sn_eval_result *r, const char *const *names, FILE *f)
{
    fprintf(f, "images %lld (good %lld, defective %lld), pixels %lld (defect %lld, regions %lld)\n",
            (long long)r->n_images, (long long)r->n_good, (long long)r->n_defective,
            (long long)r->n_pixels, (long long)r->n_defect_pixels, (long long)r->n_regions);
    pm(f, "image AUROC", r->image_auroc, 0, 0);
    pm(f, "pixel AUROC", r->pixel_auroc, r->binned, r->pixel_auroc_bound);
    char label[64];
    snprintf(label, sizeof label, "AUPRO@%.3g", r->max_fpr);
    pm(f, label, r->aupro, r->binned, r->aupro_bound);
    pm(f, "pixel AP", r->pixel_ap, r->binned, r->pixel_ap_bound);
    if (r->f1.f1.defined)
        fprintf(f, "%-22s %.6f  (F1 %.6f, precision %.6f, recall %.6f)\n", "F1-optimal threshold",
                r->f1.threshold, r->f1.f1.value, r->f1.precision, r->f1.recall);
    else
        fprintf(f, "%-22s undefined\n", "F1-optimal threshold");
    if (r->binned)
        fprintf(f, "pixel metrics binned over %d bins (error bounds above are rigorous)\n", r->bins);
    for (int t = 1; t < r->n_types; t++) {
        if (!r->type_images[t])
            continue;
        char lab[96];
        snprintf(lab, sizeof lab, "AUROC %s", names && names[t] ? names[t] : "");
        if (!(names && names[t]))
            snprintf(lab, sizeof lab, "AUROC type %d", t);
        pm(f, lab, r->type_auroc[t], 0, 0);
    }
}
