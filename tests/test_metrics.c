/* Metrics on plain arrays: hand-computed cases, undefined cases, errors, fast vs slow direct
 * references on random data with ties. With arguments it is the C side of
 * tests/sklearn_metrics.sh:
 *   test_metrics --labels FILE        (lines "score label")  -> auroc, ap, f1 lines and the
 *                                     bootstrap interval (4000 resamples, 95 %, seed 0)
 *   test_metrics --aupro FILE MAXFPR  (header "n h w", then n*h*w lines "score mask") -> aupro */
#include "sn_test.h"
#include "sernet/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

#define N_OF(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

static void check(const float *s, const uint8_t *l, int64_t n, double auroc, double ap)
{
    sn_metric m, r;
    EXPECT(sn_metric_auroc(s, l, n, &m) == SN_OK);
    EXPECT(sn_metric_auroc_ref(s, l, n, &r) == SN_OK);
    if (isnan(auroc)) {
        EXPECT(!m.defined && isnan(m.value));
        EXPECT(!r.defined);
    } else {
        EXPECT(m.defined);
        EXPECT_NEAR(m.value, auroc, 1e-12);
        EXPECT_NEAR(r.value, auroc, 1e-12);
    }
    EXPECT(sn_metric_average_precision(s, l, n, &m) == SN_OK);
    EXPECT(sn_metric_average_precision_ref(s, l, n, &r) == SN_OK);
    if (isnan(ap)) {
        EXPECT(!m.defined && isnan(m.value));
        EXPECT(!r.defined);
    } else {
        EXPECT(m.defined);
        EXPECT_NEAR(m.value, ap, 1e-12);
        EXPECT_NEAR(r.value, ap, 1e-12);
    }
}

static void test_hand(void)
{
    /* perfect */
    const float s1[] = {0.1f, 0.2f, 0.8f, 0.9f};
    const uint8_t l1[] = {0, 0, 1, 1};
    check(s1, l1, 4, 1.0, 1.0);
    /* inverted: positives at ranks 3 and 4 -> AP = (1/2)(1/3) + (1/2)(2/4) */
    const uint8_t l2[] = {1, 1, 0, 0};
    check(s1, l2, 4, 0.0, 0.5 * (1.0 / 3.0) + 0.5 * 0.5);
    /* all tied: AUROC 1/2, AP = positive fraction */
    const float s3[] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    const uint8_t l3[] = {0, 1, 0, 0, 1};
    check(s3, l3, 5, 0.5, 0.4);
    /* one positive, ranked above one of three negatives */
    const float s4[] = {0.1f, 0.4f, 0.35f, 0.8f};
    const uint8_t l4[] = {0, 0, 1, 0};
    check(s4, l4, 4, 1.0 / 3.0, 1.0 / 3.0);
    /* the classic sklearn example: AUROC 0.75, AP 0.8333 */
    const uint8_t l5[] = {0, 0, 1, 1};
    check(s4, l5, 4, 0.75, (1.0 / 2.0) * 1.0 + (1.0 / 2.0) * (2.0 / 3.0));
    /* partial tie between a positive and a negative: pairs (p1>n1, p1=n2, p2>n1, p2<n2) */
    const float s6[] = {0.2f, 0.6f, 0.6f, 0.4f};
    const uint8_t l6[] = {0, 0, 1, 1};
    check(s6, l6, 4, (1 + 0.5 + 1 + 0) / 4.0, 0.5 * 0.5 + 0.5 * (2.0 / 3.0));
    /* -0 and +0 are the same score */
    const float s7[] = {-0.0f, 0.0f};
    const uint8_t l7[] = {0, 1};
    check(s7, l7, 2, 0.5, 0.5);
    /* undefined: no positives (AUROC, AP), no negatives (AUROC; AP is 1 by definition) */
    const uint8_t none[] = {0, 0, 0, 0}, all[] = {1, 1, 1, 1};
    check(s1, none, 4, NAN, NAN);
    check(s1, all, 4, NAN, 1.0);
    check(s1, none, 0, NAN, NAN);

    /* F1-optimal threshold: thresholds 0.8 (F1 2/3), 0.4 (1/2), 0.35 (4/5), 0.1 (2/3) */
    sn_f1_result f;
    EXPECT(sn_metric_best_f1(s4, l5, 4, &f) == SN_OK);
    EXPECT(f.f1.defined);
    EXPECT_NEAR(f.f1.value, 0.8, 1e-12);
    EXPECT_NEAR(f.threshold, 0.35f, 0);
    EXPECT_NEAR(f.precision, 2.0 / 3.0, 1e-12);
    EXPECT_NEAR(f.recall, 1.0, 1e-12);
    EXPECT(sn_metric_best_f1(s1, none, 4, &f) == SN_OK);
    EXPECT(!f.f1.defined && isnan(f.threshold));
    /* equal F1 at two thresholds: the higher one wins */
    const float s8[] = {0.9f, 0.8f, 0.1f};
    const uint8_t l8[] = {1, 0, 1};
    /* t=0.9: 2/(2+0+1)=2/3; t=0.8: 2/(2+1+1)=1/2; t=0.1: 4/(4+1)=4/5 */
    EXPECT(sn_metric_best_f1(s8, l8, 3, &f) == SN_OK);
    EXPECT_NEAR(f.f1.value, 0.8, 1e-12);
    const float s9[] = {0.9f, 0.8f, 0.7f, 0.6f};
    const uint8_t l9[] = {1, 0, 0, 1};
    /* t=0.9: 2/3; t=0.6: 4/(4+2)=2/3 -> 0.9 */
    EXPECT(sn_metric_best_f1(s9, l9, 4, &f) == SN_OK);
    EXPECT_NEAR(f.f1.value, 2.0 / 3.0, 1e-12);
    EXPECT_NEAR(f.threshold, 0.9f, 0);
}

static void test_errors(void)
{
    float s[] = {0.1f, NAN, 0.3f};
    uint8_t l[] = {0, 1, 0};
    sn_metric m;
    sn_err_clear();
    EXPECT(sn_metric_auroc(s, l, 3, &m) == SN_ENONFINITE);
    EXPECT_MSG(strstr(sn_err_msg(), "score 1") != NULL, "message names the element: %s", sn_err_msg());
    EXPECT(!m.defined);
    sn_err_clear();
    s[1] = INFINITY;
    EXPECT(sn_metric_average_precision(s, l, 3, &m) == SN_ENONFINITE);
    sn_err_clear();
    uint8_t mask[4] = {0, 1, 0, 0};
    float map[4] = {0, 0, -INFINITY, 0};
    EXPECT(sn_metric_aupro(map, mask, 1, 2, 2, 0.3, &m) == SN_ENONFINITE);
    sn_err_clear();
    map[2] = 0;
    EXPECT(sn_metric_aupro(map, mask, 1, 2, 2, 0.0, &m) == SN_EINVAL);
    sn_err_clear();
}

static void aupro_both(const float *map, const uint8_t *mask, int64_t n, int h, int w, double fpr,
                       double want)
{
    sn_metric a, b;
    EXPECT(sn_metric_aupro(map, mask, n, h, w, fpr, &a) == SN_OK);
    EXPECT(sn_metric_aupro_ref(map, mask, n, h, w, fpr, &b) == SN_OK);
    if (isnan(want)) {
        EXPECT(!a.defined && !b.defined);
        return;
    }
    EXPECT(a.defined && b.defined);
    EXPECT_NEAR(a.value, want, 1e-12);
    EXPECT_NEAR(b.value, want, 1e-12);
}

static void test_aupro_hand(void)
{
    /* curve (0,0) (0,.5) (.5,.5) (.5,1) (1,1) */
    const float m1[] = {0.9f, 0.5f, 0.7f, 0.1f};
    const uint8_t k1[] = {1, 1, 0, 0};
    aupro_both(m1, k1, 1, 1, 4, 0.3, 0.5);
    aupro_both(m1, k1, 1, 1, 4, 1.0, 0.75);
    aupro_both(m1, k1, 1, 1, 4, 0.5, 0.5);
    /* perfect, inverted, all tied (one segment (0,0)-(1,1): mean height 0.15 over [0,0.3]) */
    const float m2[] = {0.9f, 0.8f, 0.2f, 0.1f};
    aupro_both(m2, k1, 1, 1, 4, 0.3, 1.0);
    const uint8_t k2[] = {0, 0, 1, 1};
    aupro_both(m2, k2, 1, 1, 4, 0.3, 0.0);
    const float m3[] = {0.4f, 0.4f, 0.4f, 0.4f};
    aupro_both(m3, k1, 1, 1, 4, 0.3, 0.15);
    /* two regions (8-connected: diagonal neighbours join), region-averaged overlap:
     * 3x3 mask with region A = {(0,0),(1,1)} (diagonal, one region) and B = {(0,2)}... (0,2) touches
     * (1,1) diagonally too, so use a 1x5 row: A = {0,1}, B = {3}; scores: 0:.9 1:.1 2:.5 3:.8 4:.2
     * desc: .9 (A half) -> (0, .25); .8 (B) -> (0, .75); .5 (neg) -> (.5,.75); .2 (neg) -> (1,.75);
     * .1 (A) -> (1, 1). area to .3 = .3*.75 -> 0.75 */
    const float m4[] = {0.9f, 0.1f, 0.5f, 0.8f, 0.2f};
    const uint8_t k4[] = {1, 1, 0, 1, 0};
    aupro_both(m4, k4, 1, 1, 5, 0.3, 0.75);
    /* one positive pixel */
    const float m5[] = {0.3f, 0.6f, 0.5f, 0.4f};
    const uint8_t k5[] = {0, 0, 1, 0};
    /* desc .6 neg -> (1/3, 0); .5 pos -> (1/3, 1); ... area to .3: 0 */
    aupro_both(m5, k5, 1, 1, 4, 0.3, 0.0);
    /* to 0.5: 0 + (.5-1/3)*1 = 1/6 -> /0.5 = 1/3 */
    aupro_both(m5, k5, 1, 1, 4, 0.5, 1.0 / 3.0);
    /* undefined: no defect pixels; no defect-free pixels */
    const uint8_t k6[] = {0, 0, 0, 0}, k7[] = {1, 1, 1, 1};
    aupro_both(m5, k6, 1, 1, 4, 0.3, NAN);
    aupro_both(m5, k7, 1, 1, 4, 0.3, NAN);
}

/* n labels (positive with probability rate) and scores quantised to `levels` steps, positives
 * shifted up by up to `shift`: ties on every level (malloc'd; the caller frees). */
static void random_scores(int64_t n, int levels, double rate, double shift, float **s, uint8_t **l)
{
    *s = malloc(sizeof(float) * n);
    *l = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) {
        (*l)[i] = urand() < rate;
        (*s)[i] = (float)(floor((urand() + shift * (*l)[i]) * levels) / levels);
    }
}

static void test_random(void)
{
    for (int trial = 0; trial < 6; trial++) {
        int64_t n = 300 + trial * 250;
        int levels = trial % 2 ? 7 : 1000;
        float *s;
        uint8_t *l;
        random_scores(n, levels, 0.3, 0.3, &s, &l);
        sn_metric a, b;
        EXPECT(sn_metric_auroc(s, l, n, &a) == SN_OK);
        EXPECT(sn_metric_auroc_ref(s, l, n, &b) == SN_OK);
        EXPECT_NEAR(a.value, b.value, 1e-12);
        EXPECT(sn_metric_average_precision(s, l, n, &a) == SN_OK);
        EXPECT(sn_metric_average_precision_ref(s, l, n, &b) == SN_OK);
        EXPECT_NEAR(a.value, b.value, 1e-12);
        free(s);
        free(l);
    }
    /* AUPRO on stacks of images with blob masks and quantised scores */
    for (int trial = 0; trial < 4; trial++) {
        int nimg = 3 + trial, h = 20 + trial * 3, w = 24;
        size_t px = (size_t)h * w;
        float *m = malloc(sizeof(float) * px * nimg);
        uint8_t *k = calloc(px * nimg, 1);
        for (int im = 0; im < nimg; im++) {
            int blobs = im == 0 ? 0 : 1 + (int)(urand() * 3);
            for (int b = 0; b < blobs; b++) {
                int cy = (int)(urand() * h), cx = (int)(urand() * w), r = 1 + (int)(urand() * 4);
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        if ((y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r && urand() < 0.9)
                            k[im * px + (size_t)y * w + x] = 1;
            }
            for (size_t i = 0; i < px; i++)
                m[im * px + i] = (float)(floor((urand() + 0.4 * k[im * px + i]) * 12) / 12);
        }
        const double fprs[] = {0.3, 0.05, 1.0, 0.123};
        for (int f = 0; f < 4; f++) {
            sn_metric a, b;
            EXPECT(sn_metric_aupro(m, k, nimg, h, w, fprs[f], &a) == SN_OK);
            EXPECT(sn_metric_aupro_ref(m, k, nimg, h, w, fprs[f], &b) == SN_OK);
            EXPECT(a.defined && b.defined);
            EXPECT_NEAR(a.value, b.value, 1e-12);
        }
        free(m);
        free(k);
    }
}

static int driver_labels(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    int64_t cap = 1024, n = 0;
    float *s = malloc(sizeof(float) * cap);
    uint8_t *l = malloc((size_t)cap);
    double v;
    int lab;
    while (fscanf(f, "%lf %d", &v, &lab) == 2) {
        if (n == cap) {
            cap *= 2;
            s = realloc(s, sizeof(float) * cap);
            l = realloc(l, (size_t)cap);
        }
        s[n] = (float)v;
        l[n++] = (uint8_t)lab;
    }
    fclose(f);
    sn_metric a, p;
    sn_f1_result f1;
    if (sn_metric_auroc(s, l, n, &a) || sn_metric_average_precision(s, l, n, &p) ||
        sn_metric_best_f1(s, l, n, &f1)) {
        fprintf(stderr, "error: %s\n", sn_err_msg());
        return 1;
    }
    double ci[2];
    if (sn_metric_auroc_ci(s, l, n, 4000, 0.95, 0, 0, ci)) {
        fprintf(stderr, "error: %s\n", sn_err_msg());
        return 1;
    }
    printf("auroc %.17g\nap %.17g\nf1 %.17g\nf1_threshold %.9g\nci_lo %.17g\nci_hi %.17g\n", a.value,
           p.value, f1.f1.value, f1.threshold, ci[0], ci[1]);
    free(s);
    free(l);
    return 0;
}

static int driver_aupro(const char *path, double max_fpr)
{
    FILE *f = fopen(path, "r");
    int n, h, w;
    if (!f || fscanf(f, "%d %d %d", &n, &h, &w) != 3)
        return 1;
    size_t total = (size_t)n * h * w;
    float *m = malloc(sizeof(float) * total);
    uint8_t *k = malloc(total);
    for (size_t i = 0; i < total; i++) {
        double v;
        int lab;
        if (fscanf(f, "%lf %d", &v, &lab) != 2)
            return 1;
        m[i] = (float)v;
        k[i] = (uint8_t)lab;
    }
    fclose(f);
    sn_metric a;
    if (sn_metric_aupro(m, k, n, h, w, max_fpr, &a)) {
        fprintf(stderr, "error: %s\n", sn_err_msg());
        return 1;
    }
    printf("aupro %.17g\n", a.value);
    free(m);
    free(k);
    return 0;
}

/* Bootstrap interval of the AUROC: fast (weighted sweep) against the reference (explicit
 * resamples) on random data with ties, the degenerate cases, errors, determinism, and its width
 * against the Hanley-McNeil standard error on a large sample. */
static void interval(const float *s, const uint8_t *l, int64_t n, int B, double level, uint64_t seed,
                     double ci[2])
{
    double r[2];
    EXPECT(sn_metric_auroc_ci(s, l, n, B, level, seed, 3, ci) == SN_OK);
    EXPECT(sn_metric_auroc_ci_ref(s, l, n, B, level, seed, 3, r) == SN_OK);
    for (int e = 0; e < 2; e++)
        EXPECT_MSG(isnan(ci[e]) ? isnan(r[e]) : fabs(ci[e] - r[e]) <= 1e-12,
                   "interval end %d: fast %.17g, reference %.17g", e, ci[e], r[e]);
}

static void test_interval(void)
{
    double ci[2], wide[2], again[2], other[2];
    for (int trial = 0; trial < 4; trial++) {
        int64_t n = 40 + trial * 150;
        int levels = trial % 2 ? 5 : 1000;
        float *s;
        uint8_t *l;
        random_scores(n, levels, 0.35, 0.4, &s, &l);
        sn_metric a;
        EXPECT(sn_metric_auroc(s, l, n, &a) == SN_OK);
        interval(s, l, n, 150, 0.95, 7, ci);
        EXPECT_MSG(ci[0] < a.value && a.value < ci[1], "AUROC %g outside its interval [%g, %g]", a.value,
                   ci[0], ci[1]);
        interval(s, l, n, 150, 0.5, 7, wide);
        EXPECT(wide[0] > ci[0] && wide[1] < ci[1]); /* 50 % inside 95 % */
        interval(s, l, n, 150, 0.95, 7, again);
        EXPECT(again[0] == ci[0] && again[1] == ci[1]);
        interval(s, l, n, 150, 0.95, 8, other);
        EXPECT(other[0] != ci[0] || other[1] != ci[1]);
        free(s);
        free(l);
    }
    /* perfectly separated: every resample too; all tied: every resample 0.5 */
    float sep[] = {0.1f, 0.2f, 0.3f, 0.7f, 0.8f}, tied[] = {0.4f, 0.4f, 0.4f, 0.4f};
    uint8_t ls[] = {0, 0, 0, 1, 1}, lt[] = {0, 1, 0, 1};
    interval(sep, ls, 5, 50, 0.95, 0, ci);
    EXPECT(ci[0] == 1 && ci[1] == 1);
    interval(tied, lt, 4, 50, 0.95, 0, ci);
    EXPECT(ci[0] == 0.5 && ci[1] == 0.5);
    /* undefined: one class only, or no resamples */
    uint8_t none[] = {0, 0, 0, 0, 0};
    interval(sep, none, 5, 50, 0.95, 0, ci);
    EXPECT(isnan(ci[0]) && isnan(ci[1]));
    interval(sep, ls, 5, 0, 0.95, 0, ci);
    EXPECT(isnan(ci[0]) && isnan(ci[1]));
    /* errors */
    EXPECT(sn_metric_auroc_ci(sep, ls, 5, 10, 1.0, 0, 0, ci) == SN_EINVAL);
    EXPECT(sn_metric_auroc_ci(sep, ls, 5, -1, 0.95, 0, 0, ci) == SN_EINVAL);
    float bad[] = {0.1f, NAN, 0.3f};
    EXPECT(sn_metric_auroc_ci(bad, ls, 3, 10, 0.95, 0, 0, ci) == SN_ENONFINITE);
    /* a large sample: the 95 % interval is about +-1.96 of DeLong's standard error (the
     * nonparametric variance the bootstrap estimates too) */
    const int64_t n = 4000;
    float *s = malloc(sizeof(float) * n);
    uint8_t *l = malloc((size_t)n);
    int64_t P = 0;
    for (int64_t i = 0; i < n; i++) {
        l[i] = i % 4 == 0;
        P += l[i];
        s[i] = (float)(urand() + 0.5 * l[i] * urand());
    }
    sn_metric a;
    EXPECT(sn_metric_auroc(s, l, n, &a) == SN_OK);
    EXPECT(sn_metric_auroc_ci(s, l, n, 2000, 0.95, 1, 0, ci) == SN_OK);
    const double N = (double)(n - P);
    double m[2] = {0, 0}, q[2] = {0, 0}; /* sums and squares of the placements: [0] positives */
    for (int64_t i = 0; i < n; i++) {
        double v = 0;
        for (int64_t j = 0; j < n; j++)
            if (l[j] != l[i]) {
                float hi = l[i] ? s[i] : s[j], lo = l[i] ? s[j] : s[i];
                v += hi > lo ? 1 : hi == lo ? 0.5 : 0;
            }
        v /= l[i] ? N : (double)P;
        m[!l[i]] += v;
        q[!l[i]] += v * v;
    }
    double var1 = (q[0] - m[0] * m[0] / P) / (P - 1), var0 = (q[1] - m[1] * m[1] / N) / (N - 1);
    double se = sqrt(var1 / P + var0 / N);
    EXPECT_MSG(fabs((ci[1] - ci[0]) / (2 * 1.96 * se) - 1) < 0.1,
               "interval [%g, %g] around %g, expected about +-%g (DeLong)", ci[0], ci[1], a.value, 1.96 * se);
    free(s);
    free(l);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--labels") == 0)
        return driver_labels(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--aupro") == 0)
        return driver_aupro(argv[2], atof(argv[3]));
    test_hand();
    test_errors();
    test_aupro_hand();
    test_random();
    test_interval();
    return sn_test_finish();
}
