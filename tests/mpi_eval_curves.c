/* sn_eval_curves_compute at 1, 2, 3 ranks (images dealt round-robin, some ranks without any)
 * against a direct computation on the whole set in one process: every curve point is an exact
 * point (threshold = a real score; TP, FP counted directly; PRO = mean over regions of the
 * covered fraction, regions labelled per image), the points are all distinct scores when the
 * bins separate them, the AUROC/AUPRO integrals agree with sn_eval_compute (exact path) within
 * the reported bound, and the pixel F1 optimum within its bound of sn_metric_best_f1.
 * Also the exact image ROC points (sn_eval_roc_points) on a hand example. */
#include "sernet/components.h"
#include "sernet/eval_curves.h"
#include "sernet/metrics.h"
#include "sn_test.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static int rank, nranks;

static uint64_t rs = 88172645463325252ull;
static double rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) / 9007199254740992.0;
}

typedef struct {
    int n, h, w;
    float *maps;
    uint8_t *masks;
} set;

/* levels > 0: scores quantised to `levels` values (ties); defects: rectangles on some images */
static void make_set(set *s, int n, int h, int w, int levels, int with_defects, double skew)
{
    s->n = n;
    s->h = h;
    s->w = w;
    size_t px = (size_t)h * w;
    s->maps = malloc(sizeof(float) * px * (size_t)n + 1);
    s->masks = calloc(px * (size_t)n + 1, 1);
    for (int i = 0; i < n; i++) {
        uint8_t *m = s->masks + (size_t)i * px;
        if (with_defects && i % 3 != 2) {
            int blobs = 1 + (int)(rnd() * 2);
            for (int b = 0; b < blobs; b++) {
                int y0 = (int)(rnd() * h), x0 = (int)(rnd() * w);
                int hh = 1 + (int)(rnd() * 3), ww = 1 + (int)(rnd() * 4);
                for (int y = y0; y < y0 + hh && y < h; y++)
                    for (int x = x0; x < x0 + ww && x < w; x++)
                        m[(size_t)y * w + x] = 1;
            }
        }
        for (size_t k = 0; k < px; k++) {
            double v = pow(rnd(), skew) + (m[k] ? 0.35 * rnd() : 0.0);
            if (levels > 0)
                v = floor(v * levels) / levels;
            s->maps[(size_t)i * px + k] = (float)v;
        }
    }
}

static void free_set(set *s)
{
    free(s->maps);
    free(s->masks);
}

/* Direct TP, FP, PRO at threshold t over the whole set. */
static void direct(const set *s, double t, int64_t *tp, int64_t *fp, double *pro, int64_t *R)
{
    size_t px = (size_t)s->h * s->w;
    int32_t *lab = malloc(sizeof(int32_t) * px);
    double sum = 0;
    *tp = *fp = 0;
    *R = 0;
    for (int i = 0; i < s->n; i++) {
        int count = 0;
        int64_t *areas = NULL;
        sn_components_label(s->masks + (size_t)i * px, s->h, s->w, lab, &count, &areas);
        int64_t *inside = calloc((size_t)count + 1, sizeof *inside);
        for (size_t k = 0; k < px; k++)
            if (s->maps[(size_t)i * px + k] >= t) {
                if (lab[k])
                    inside[lab[k]]++;
                else
                    (*fp)++;
            }
        for (int c = 1; c <= count; c++) {
            *tp += inside[c];
            sum += (double)inside[c] / (double)areas[c];
        }
        *R += count;
        free(inside);
        sn_free(areas);
    }
    *pro = *R ? sum / (double)*R : 0;
    free(lab);
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void check_case(const char *what, const set *s, int bins, double max_fpr)
{
    size_t px = (size_t)s->h * s->w;
    /* round-robin: this rank's images copied to local arrays */
    int nl = 0;
    for (int i = rank; i < s->n; i += nranks)
        nl++;
    float *lm = malloc(sizeof(float) * px * (size_t)nl + 1);
    uint8_t *lk = malloc(px * (size_t)nl + 1);
    for (int i = rank, j = 0; i < s->n; i += nranks, j++) {
        memcpy(lm + (size_t)j * px, s->maps + (size_t)i * px, px * sizeof(float));
        memcpy(lk + (size_t)j * px, s->masks + (size_t)i * px, px);
    }
    sn_eval_curves c;
    sn_status st = sn_eval_curves_compute(MPI_COMM_WORLD, nl, s->h, s->w, lm, lk, bins, max_fpr, &c);
    EXPECT_MSG(st == SN_OK, "%s: %s", what, sn_err_msg());
    if (st != SN_OK)
        goto out;

    /* every point exact (rank 0 checks; at most ~400 points of a long curve, the last always) */
    int bad = 0, step = c.n > 400 ? c.n / 400 : 1;
    for (int k = 1; k < c.n && rank == 0; k++) {
        if (k % step != 0 && k != c.n - 1)
            continue;
        int64_t tp, fp, R;
        double pro;
        direct(s, c.thr[k], &tp, &fp, &pro, &R);
        int real = 0;
        for (size_t q = 0; q < px * (size_t)s->n && !real; q++)
            real = (double)s->maps[q] == c.thr[k];
        if (!real || tp != c.tp[k] || fp != c.fp[k] || fabs(pro - c.pro[k]) > 1e-12 ||
            (c.N && fabs(c.fpr[k] - (double)fp / (double)c.N) > 1e-15) ||
            (k > 1 && !(c.thr[k] < c.thr[k - 1])))
            bad++;
    }
    EXPECT_MSG(bad == 0, "%s (bins %d): %d of %d points differ from the direct count", what, bins, bad, c.n - 1);
    EXPECT(c.n >= 2 && c.tp[c.n - 1] == c.P && c.fp[c.n - 1] == c.N);
    EXPECT(c.P + c.N == (int64_t)px * s->n);

    /* distinct scores */
    float *sorted = malloc(sizeof(float) * px * (size_t)s->n);
    memcpy(sorted, s->maps, sizeof(float) * px * (size_t)s->n);
    qsort(sorted, px * (size_t)s->n, sizeof(float), cmp_desc);
    int distinct = 0;
    for (size_t q = 0; q < px * (size_t)s->n; q++)
        distinct += q == 0 || sorted[q] != sorted[q - 1];
    free(sorted);
    if (c.exact)
        EXPECT_MSG(c.n - 1 == distinct, "%s: exact curve has %d points, %d distinct scores", what,
                   c.n - 1, distinct);
    if (bins >= 1 << 20 && distinct < 2000) /* with this many bins the quantised scores separate */
        EXPECT_MSG(c.exact, "%s: %d distinct scores in %d bins not separated", what, distinct, bins);

    /* integrals against sn_eval_compute's exact path */
    sn_eval_opts o;
    sn_eval_opts_default(&o);
    o.max_fpr = max_fpr;
    o.mode = SN_EVAL_EXACT;
    sn_eval_result r;
    EXPECT(sn_eval_arrays(MPI_COMM_SELF, s->n, s->h, s->w, s->maps, s->masks, NULL, NULL, 0, &o, &r) == SN_OK);
    EXPECT(c.pixel_auroc.defined == r.pixel_auroc.defined && c.aupro.defined == r.aupro.defined);
    if (r.pixel_auroc.defined)
        EXPECT_MSG(fabs(c.pixel_auroc.value - r.pixel_auroc.value) <= c.pixel_auroc_bound + 1e-12 &&
                       (!c.exact || c.pixel_auroc_bound == 0),
                   "%s (bins %d): pixel AUROC %.12f vs exact %.12f, bound %.3g", what, bins,
                   c.pixel_auroc.value, r.pixel_auroc.value, c.pixel_auroc_bound);
    if (r.aupro.defined)
        EXPECT_MSG(fabs(c.aupro.value - r.aupro.value) <= c.aupro_bound + 1e-12 && (!c.exact || c.aupro_bound == 0),
                   "%s (bins %d): AUPRO %.12f vs exact %.12f, bound %.3g", what, bins, c.aupro.value,
                   r.aupro.value, c.aupro_bound);

    /* pixel F1 */
    sn_f1_result ex;
    EXPECT(sn_metric_best_f1(s->maps, s->masks, (int64_t)px * s->n, &ex) == SN_OK);
    EXPECT(c.pixel_f1.defined == ex.f1.defined);
    if (ex.f1.defined) {
        EXPECT_MSG(c.pixel_f1.value <= ex.f1.value + 1e-12 && ex.f1.value <= c.pixel_f1.value + c.f1_bound + 1e-12,
                   "%s (bins %d): pixel F1 %.12f (bound %.3g) vs exact %.12f", what, bins, c.pixel_f1.value,
                   c.f1_bound, ex.f1.value);
        /* the refinement rounds find the exact optimum in these sets */
        EXPECT_MSG(c.pixel_threshold == ex.threshold && c.f1_bound == 0 && c.pixel_f1.value == ex.f1.value &&
                       fabs(c.pixel_precision - ex.precision) < 1e-12 && fabs(c.pixel_recall - ex.recall) < 1e-12,
                   "%s (bins %d): pixel threshold %.9g vs exact %.9g", what, bins, c.pixel_threshold, ex.threshold);
    }
    sn_eval_curves_free(&c);
out:
    free(lm);
    free(lk);
}

static void check_image_roc(void)
{
    /* scores 0.9(+) 0.8(-) 0.8(+) 0.3(-): points (0,0) (0,.5) (.5,1) (1,1) */
    const float sc[4] = {0.9f, 0.8f, 0.8f, 0.3f};
    const uint8_t lb[4] = {1, 0, 1, 0};
    double x[5], y[5];
    int64_t n = 0;
    sn_eval_roc_points(sc, lb, 4, x, y, &n);
    EXPECT(n == 4);
    const double wx[4] = {0, 0, 0.5, 1}, wy[4] = {0, 0.5, 1, 1};
    for (int k = 0; k < 4 && k < n; k++)
        EXPECT_MSG(x[k] == wx[k] && y[k] == wy[k], "image ROC point %d: (%g, %g)", k, x[k], y[k]);
}

static void check_errors(void)
{
    float m[4] = {0, 1, NAN, 2};
    uint8_t k[4] = {0, 1, 0, 0};
    sn_eval_curves c;
    /* NaN on the last rank only: every rank fails */
    int mine = rank == nranks - 1;
    sn_status st = sn_eval_curves_compute(MPI_COMM_WORLD, mine, 2, 2, m, k, 16, 0.3, &c);
    EXPECT(st != SN_OK && c.n == 0);
    if (rank == nranks - 1)
        EXPECT(strstr(sn_err_msg(), "NaN") != NULL);
    sn_err_clear();
    st = sn_eval_curves_compute(MPI_COMM_WORLD, 0, 2, 2, m, k, 0, 0.3, &c);
    EXPECT(st == SN_EINVAL);
    sn_err_clear();
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    set s;
    /* tied scores, few levels */
    make_set(&s, 7, 6, 9, 12, 1, 1.0);
    for (int b = 1; b <= 1 << 20; b *= 4)
        check_case("12 levels", &s, b, 0.3);
    free_set(&s);
    /* continuous scores, skewed (most near 0) */
    make_set(&s, 5, 10, 11, 0, 1, 6.0);
    const int bins[5] = {1, 7, 100, 4096, 65536};
    for (int i = 0; i < 5; i++) {
        check_case("continuous skewed", &s, bins[i], 0.3);
        check_case("continuous skewed, max FPR 1", &s, bins[i], 1.0);
    }
    free_set(&s);
    /* many continuous scores in few bins: hundreds of refinement candidates */
    make_set(&s, 40, 24, 24, 0, 1, 1.0);
    check_case("23040 continuous", &s, 2048, 0.3);
    check_case("23040 continuous", &s, 3, 0.3);
    free_set(&s);
    /* 300 levels, several max FPR */
    make_set(&s, 4, 12, 12, 300, 1, 2.0);
    check_case("300 levels", &s, 1 << 20, 0.05);
    check_case("300 levels", &s, 50, 0.05);
    free_set(&s);
    /* only good images: PRO and F1 undefined; one image (ranks without images) */
    make_set(&s, 2, 5, 5, 0, 0, 1.0);
    check_case("all good", &s, 64, 0.3);
    free_set(&s);
    make_set(&s, 1, 5, 5, 4, 1, 1.0);
    check_case("one image", &s, 64, 0.3);
    free_set(&s);
    check_image_roc();
    check_errors();
    int failed = sn_test_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = sn_test_finish();
    MPI_Finalize();
    return any ? 1 : rc;
}
