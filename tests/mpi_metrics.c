/* Distributed metrics: the same test set split over the ranks (round-robin) gives the same
 * numbers as one rank holding everything (MPI_COMM_SELF) and as the plain-array functions;
 * the binned path is within its printed bound of the exact one; undefined metrics; errors on
 * one rank reach every rank without a hang. */
#include "sn_test.h"
#include "sernet/metrics.h"

#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

typedef struct {
    int n, h, w;
    float *maps, *scores;
    uint8_t *masks;
    int *types;
} dataset;

static void make(dataset *d, int n, int h, int w, int levels, uint64_t seed, int all_good)
{
    rng = seed;
    d->n = n;
    d->h = h;
    d->w = w;
    size_t px = (size_t)h * w;
    d->maps = malloc(sizeof(float) * px * n);
    d->masks = calloc(px * n, 1);
    d->scores = malloc(sizeof(float) * n);
    d->types = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        int type = all_good ? 0 : i % 4; /* 0 good, 1..3 defect types */
        d->types[i] = type;
        int blobs = type == 0 ? 0 : 1 + (int)(urand() * 3);
        uint8_t *m = d->masks + px * i;
        for (int b = 0; b < blobs; b++) {
            int cy = (int)(urand() * h), cx = (int)(urand() * w), r = 1 + (int)(urand() * 5);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    if ((y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r && urand() < 0.9)
                        m[(size_t)y * w + x] = 1;
        }
        float best = -1;
        for (size_t p = 0; p < px; p++) {
            float v = (float)(floor((urand() + 0.3 * type * m[p] / 3.0 + 0.2 * m[p]) * levels) / levels);
            d->maps[px * i + p] = v;
            best = v > best ? v : best;
        }
        d->scores[i] = (float)(floor((best + 0.3 * urand()) * 20) / 20); /* tied image scores */
    }
}

static void drop(dataset *d)
{
    free(d->maps);
    free(d->masks);
    free(d->scores);
    free(d->types);
}

static sn_status fill(sn_eval_set *set, const dataset *d, int rank, int nranks)
{
    size_t px = (size_t)d->h * d->w;
    for (int i = rank; i < d->n; i += nranks) {
        sn_status st = sn_eval_set_add(set, i, NULL, d->types[i], d->scores[i], d->maps + px * i, d->h,
                                       d->w, d->masks + px * i, d->h, d->w);
        if (st != SN_OK)
            return st;
    }
    return SN_OK;
}

static void same(sn_metric a, sn_metric b, double tol, const char *what)
{
    EXPECT_MSG(a.defined == b.defined, "%s: defined %d vs %d", what, a.defined, b.defined);
    if (a.defined && b.defined)
        EXPECT_MSG(fabs(a.value - b.value) <= tol, "%s: %.17g vs %.17g", what, a.value, b.value);
}

static void test_exact_and_binned(int rank, int nranks)
{
    dataset d;
    make(&d, 23, 24, 20, 50, 0x1234567ull, 0);
    sn_eval_opts o;
    sn_eval_opts_default(&o);
    sn_eval_set *dist = NULL, *whole = NULL;
    EXPECT(sn_eval_set_create(&dist) == SN_OK);
    EXPECT(sn_eval_set_create(&whole) == SN_OK);
    EXPECT(fill(dist, &d, rank, nranks) == SN_OK);
    EXPECT(fill(whole, &d, 0, 1) == SN_OK);
    sn_eval_result rd, rw;
    o.mode = SN_EVAL_EXACT;
    EXPECT(sn_eval_compute(dist, MPI_COMM_WORLD, &o, &rd) == SN_OK);
    EXPECT(sn_eval_compute(whole, MPI_COMM_SELF, &o, &rw) == SN_OK);
    EXPECT(!rd.binned && rd.n_images == 23 && rd.n_pixels == 23 * 24 * 20);
    EXPECT(rd.n_good == rw.n_good && rd.n_regions == rw.n_regions && rd.n_defect_pixels == rw.n_defect_pixels);
    same(rd.image_auroc, rw.image_auroc, 0, "image AUROC dist vs single");
    same(rd.pixel_auroc, rw.pixel_auroc, 0, "pixel AUROC dist vs single");
    same(rd.pixel_ap, rw.pixel_ap, 1e-13, "pixel AP dist vs single");
    same(rd.aupro, rw.aupro, 1e-13, "AUPRO dist vs single");
    same(rd.f1.f1, rw.f1.f1, 0, "F1 dist vs single");
    EXPECT(rd.f1.threshold == rw.f1.threshold);
    EXPECT(rd.n_types == 4);
    for (int t = 1; t < 4; t++)
        same(rd.type_auroc[t], rw.type_auroc[t], 0, "per-type AUROC dist vs single");
    EXPECT(!rd.type_auroc[0].defined);

    /* against the plain-array functions on the whole data */
    size_t npx = (size_t)d.n * d.h * d.w, px0 = (size_t)d.h * d.w;
    uint8_t *lab = malloc(npx), *il = malloc((size_t)d.n);
    for (size_t i = 0; i < npx; i++)
        lab[i] = d.masks[i] != 0;
    for (int i = 0; i < d.n; i++)
        il[i] = d.types[i] != 0; /* every defect image got at least one blob pixel */
    sn_metric m;
    sn_f1_result f1;
    EXPECT(sn_metric_auroc(d.maps, lab, (int64_t)npx, &m) == SN_OK);
    same(rd.pixel_auroc, m, 1e-15, "pixel AUROC vs array function");
    EXPECT(sn_metric_average_precision(d.maps, lab, (int64_t)npx, &m) == SN_OK);
    same(rd.pixel_ap, m, 1e-13, "pixel AP vs array function");
    EXPECT(sn_metric_aupro_ref(d.maps, d.masks, d.n, d.h, d.w, 0.3, &m) == SN_OK);
    same(rd.aupro, m, 1e-12, "AUPRO vs slow reference");
    EXPECT(sn_metric_auroc(d.scores, il, d.n, &m) == SN_OK);
    same(rd.image_auroc, m, 0, "image AUROC vs array function");
    EXPECT(sn_metric_best_f1(d.scores, il, d.n, &f1) == SN_OK);
    same(rd.f1.f1, f1.f1, 0, "F1 vs array function");
    /* per type: its images against the good ones */
    float *s2 = malloc(sizeof(float) * d.n);
    uint8_t *l2 = malloc((size_t)d.n);
    for (int t = 1; t < 4; t++) {
        int k = 0;
        for (int i = 0; i < d.n; i++)
            if (d.types[i] == 0 || d.types[i] == t) {
                s2[k] = d.scores[i];
                l2[k++] = d.types[i] == t;
            }
        EXPECT(sn_metric_auroc(s2, l2, k, &m) == SN_OK);
        same(rd.type_auroc[t], m, 0, "per-type AUROC vs array function");
    }

    /* the array interface on a block distribution gives the same numbers */
    {
        int64_t lo = (int64_t)d.n * rank / nranks, hi = (int64_t)d.n * (rank + 1) / nranks;
        int32_t *ty = malloc(sizeof(int32_t) * d.n);
        for (int i = 0; i < d.n; i++)
            ty[i] = d.types[i];
        sn_eval_result ra;
        EXPECT(sn_eval_arrays(MPI_COMM_WORLD, hi - lo, d.h, d.w, d.maps + px0 * lo, d.masks + px0 * lo,
                              d.scores + lo, ty + lo, lo, &o, &ra) == SN_OK);
        same(ra.pixel_auroc, rd.pixel_auroc, 0, "arrays: pixel AUROC");
        same(ra.aupro, rd.aupro, 1e-13, "arrays: AUPRO");
        same(ra.pixel_ap, rd.pixel_ap, 1e-13, "arrays: pixel AP");
        same(ra.image_auroc, rd.image_auroc, 0, "arrays: image AUROC");
        same(ra.type_auroc[2], rd.type_auroc[2], 0, "arrays: per-type AUROC");
        /* default scores (max of the map) and types (1 = has defect pixels) */
        EXPECT(sn_eval_arrays(MPI_COMM_WORLD, hi - lo, d.h, d.w, d.maps + px0 * lo, d.masks + px0 * lo,
                              NULL, NULL, lo, &o, &ra) == SN_OK);
        same(ra.pixel_auroc, rd.pixel_auroc, 0, "arrays, default scores: pixel AUROC");
        EXPECT(ra.n_types == 2 && ra.type_images[1] == rd.n_defective);
        float *mx = malloc(sizeof(float) * d.n);
        for (int i = 0; i < d.n; i++) {
            mx[i] = -INFINITY;
            for (size_t p = 0; p < px0; p++)
                mx[i] = fmaxf(mx[i], d.maps[px0 * i + p]);
        }
        EXPECT(sn_metric_auroc(mx, il, d.n, &m) == SN_OK);
        same(ra.image_auroc, m, 0, "arrays, default scores: image AUROC of max(map)");
        free(mx);
        free(ty);
    }

    /* binned: within the bound, at several bin counts; one bin per distinct score is exact */
    const int bins[] = {1, 7, 64, 4096};
    for (int b = 0; b < 4; b++) {
        sn_eval_result rb;
        o.mode = SN_EVAL_BINNED;
        o.bins = bins[b];
        EXPECT(sn_eval_compute(dist, MPI_COMM_WORLD, &o, &rb) == SN_OK);
        EXPECT(rb.binned && rb.bins >= 1 && rb.bins <= 2 * bins[b]);
        EXPECT_MSG(fabs(rb.pixel_auroc.value - rd.pixel_auroc.value) <= rb.pixel_auroc_bound + 1e-12,
                   "bins %d: pixel AUROC %.9f vs exact %.9f, bound %.3g", bins[b], rb.pixel_auroc.value,
                   rd.pixel_auroc.value, rb.pixel_auroc_bound);
        EXPECT_MSG(fabs(rb.pixel_ap.value - rd.pixel_ap.value) <= rb.pixel_ap_bound + 1e-12,
                   "bins %d: pixel AP %.9f vs exact %.9f, bound %.3g", bins[b], rb.pixel_ap.value,
                   rd.pixel_ap.value, rb.pixel_ap_bound);
        EXPECT_MSG(fabs(rb.aupro.value - rd.aupro.value) <= rb.aupro_bound + 1e-12,
                   "bins %d: AUPRO %.9f vs exact %.9f, bound %.3g", bins[b], rb.aupro.value,
                   rd.aupro.value, rb.aupro_bound);
        same(rb.image_auroc, rd.image_auroc, 0, "image AUROC unaffected by binning");
        if (bins[b] == 4096) {
            /* 51 distinct levels k/50: 4096 coarse bins already separate them */
            EXPECT(rb.pixel_auroc_bound == 0 && rb.aupro_bound == 0 && rb.pixel_ap_bound == 0);
            same(rb.pixel_auroc, rd.pixel_auroc, 1e-15, "binned = exact when bins separate the scores");
            same(rb.aupro, rd.aupro, 1e-12, "binned AUPRO = exact when bins separate the scores");
        }
        if (bins[b] == 7)
            EXPECT(rb.pixel_auroc_bound > 0 && rb.aupro_bound > 0);
    }
    /* AUTO switches at the budget */
    sn_eval_result ra;
    o.mode = SN_EVAL_AUTO;
    o.bins = 16;
    o.exact_max_pixels = rd.n_pixels - 1;
    EXPECT(sn_eval_compute(dist, MPI_COMM_WORLD, &o, &ra) == SN_OK);
    EXPECT(ra.binned);
    o.exact_max_pixels = rd.n_pixels;
    EXPECT(sn_eval_compute(dist, MPI_COMM_WORLD, &o, &ra) == SN_OK);
    EXPECT(!ra.binned);
    same(ra.aupro, rd.aupro, 0, "AUTO under the budget is exact");
    if (rank == 0) {
        o.mode = SN_EVAL_BINNED;
        o.bins = 64;
        sn_eval_result rb;
        if (sn_eval_compute(whole, MPI_COMM_SELF, &o, &rb) == SN_OK) {
            const char *names[4] = {"good", "crack", "scratch", "hole"};
            sn_eval_result_print(&rd, names, stdout);
            sn_eval_result_print(&rb, names, stdout);
        }
    }
    /* continuous scores (no ties): binned bound is small with many bins */
    dataset c;
    make(&c, 9, 32, 32, 1 << 24, 0xBEEFull, 0);
    sn_eval_set *cs = NULL;
    EXPECT(sn_eval_set_create(&cs) == SN_OK);
    EXPECT(fill(cs, &c, rank, nranks) == SN_OK);
    sn_eval_result ce, cb;
    o.mode = SN_EVAL_EXACT;
    EXPECT(sn_eval_compute(cs, MPI_COMM_WORLD, &o, &ce) == SN_OK);
    o.mode = SN_EVAL_BINNED;
    o.bins = 1 << 16;
    EXPECT(sn_eval_compute(cs, MPI_COMM_WORLD, &o, &cb) == SN_OK);
    EXPECT(fabs(cb.pixel_auroc.value - ce.pixel_auroc.value) <= cb.pixel_auroc_bound + 1e-12);
    EXPECT(fabs(cb.aupro.value - ce.aupro.value) <= cb.aupro_bound + 1e-12);
    EXPECT(fabs(cb.pixel_ap.value - ce.pixel_ap.value) <= cb.pixel_ap_bound + 1e-12);
    EXPECT_MSG(cb.pixel_auroc_bound < 1e-3 && cb.aupro_bound < 1e-2 && cb.pixel_ap_bound < 1e-2,
               "bounds %.3g %.3g %.3g", cb.pixel_auroc_bound, cb.aupro_bound, cb.pixel_ap_bound);
    sn_eval_set_free(cs);
    /* skewed scores (most mass near 0, long tail): still within the bound */
    for (size_t i = 0; i < (size_t)c.n * c.h * c.w; i++)
        c.maps[i] = powf(c.maps[i], 8.0f);
    EXPECT(sn_eval_set_create(&cs) == SN_OK);
    EXPECT(fill(cs, &c, rank, nranks) == SN_OK);
    o.mode = SN_EVAL_EXACT;
    EXPECT(sn_eval_compute(cs, MPI_COMM_WORLD, &o, &ce) == SN_OK);
    const int sk[] = {16, 1024, 65536};
    for (int b = 0; b < 3; b++) {
        o.mode = SN_EVAL_BINNED;
        o.bins = sk[b];
        EXPECT(sn_eval_compute(cs, MPI_COMM_WORLD, &o, &cb) == SN_OK);
        EXPECT_MSG(fabs(cb.pixel_auroc.value - ce.pixel_auroc.value) <= cb.pixel_auroc_bound + 1e-12 &&
                       fabs(cb.aupro.value - ce.aupro.value) <= cb.aupro_bound + 1e-12 &&
                       fabs(cb.pixel_ap.value - ce.pixel_ap.value) <= cb.pixel_ap_bound + 1e-12,
                   "skewed, %d bins: AUROC %.9f/%.9f (%.2g) AUPRO %.9f/%.9f (%.2g) AP %.9f/%.9f (%.2g)", sk[b],
                   cb.pixel_auroc.value, ce.pixel_auroc.value, cb.pixel_auroc_bound, cb.aupro.value,
                   ce.aupro.value, cb.aupro_bound, cb.pixel_ap.value, ce.pixel_ap.value, cb.pixel_ap_bound);
    }
    sn_eval_set_free(cs);
    drop(&c);

    free(lab);
    free(il);
    free(s2);
    free(l2);
    sn_eval_set_free(dist);
    sn_eval_set_free(whole);
    drop(&d);
}

static void test_undefined(int rank, int nranks)
{
    dataset d;
    make(&d, 5, 8, 8, 10, 0x55ull, 1);
    sn_eval_set *s = NULL;
    EXPECT(sn_eval_set_create(&s) == SN_OK);
    EXPECT(fill(s, &d, rank, nranks) == SN_OK);
    sn_eval_opts o;
    sn_eval_opts_default(&o);
    for (int mode = SN_EVAL_EXACT; mode <= SN_EVAL_BINNED; mode++) {
        sn_eval_result r;
        o.mode = mode;
        EXPECT(sn_eval_compute(s, MPI_COMM_WORLD, &o, &r) == SN_OK);
        EXPECT(!r.image_auroc.defined && isnan(r.image_auroc.value));
        EXPECT(!r.pixel_auroc.defined && !r.aupro.defined && !r.pixel_ap.defined && !r.f1.f1.defined);
        EXPECT(r.n_defective == 0 && r.n_good == 5);
    }
    sn_eval_set_free(s);
    /* only defective images: image AUROC undefined, pixel metrics defined */
    EXPECT(sn_eval_set_create(&s) == SN_OK);
    drop(&d);
    make(&d, 8, 16, 16, 10, 0x77ull, 0);
    size_t px = (size_t)d.h * d.w;
    for (int i = rank; i < d.n; i += nranks)
        if (d.types[i] != 0)
            EXPECT(sn_eval_set_add(s, i, NULL, d.types[i], d.scores[i], d.maps + px * i, d.h, d.w,
                                   d.masks + px * i, d.h, d.w) == SN_OK);
    sn_eval_result r;
    o.mode = SN_EVAL_AUTO;
    EXPECT(sn_eval_compute(s, MPI_COMM_WORLD, &o, &r) == SN_OK);
    EXPECT(!r.image_auroc.defined && r.pixel_auroc.defined && r.aupro.defined);
    EXPECT(r.f1.f1.defined && r.f1.f1.value == 1.0);
    for (int t = 1; t < r.n_types; t++)
        EXPECT(!r.type_auroc[t].defined);
    sn_eval_set_free(s);
    drop(&d);
}

/* Every pixel has the same score: one bin, which is an exact tie group (bound 0), AUROC 1/2,
 * AUPRO = 0.15 (one segment from (0,0) to (1,1), mean height over [0, 0.3]). */
static void test_all_tied(int rank, int nranks)
{
    dataset d;
    make(&d, 6, 10, 10, 10, 0x99ull, 0);
    size_t px = (size_t)d.h * d.w;
    for (size_t i = 0; i < px * d.n; i++)
        d.maps[i] = 0.25f;
    sn_eval_set *s = NULL;
    EXPECT(sn_eval_set_create(&s) == SN_OK);
    EXPECT(fill(s, &d, rank, nranks) == SN_OK);
    sn_eval_opts o;
    sn_eval_opts_default(&o);
    for (int mode = SN_EVAL_EXACT; mode <= SN_EVAL_BINNED; mode++) {
        sn_eval_result r;
        o.mode = mode;
        EXPECT(sn_eval_compute(s, MPI_COMM_WORLD, &o, &r) == SN_OK);
        EXPECT_NEAR(r.pixel_auroc.value, 0.5, 1e-15);
        EXPECT_NEAR(r.aupro.value, 0.15, 1e-12);
        EXPECT_NEAR(r.pixel_ap.value, (double)r.n_defect_pixels / (double)r.n_pixels, 1e-12);
        EXPECT(r.pixel_auroc_bound == 0 && r.aupro_bound == 0 && r.pixel_ap_bound == 0);
    }
    sn_eval_set_free(s);
    drop(&d);
}

static void test_errors(int rank, int nranks)
{
    float map[16] = {0}, bad[16] = {0};
    uint8_t mask[16] = {0};
    bad[5] = NAN;
    sn_eval_set *s = NULL;
    EXPECT(sn_eval_set_create(&s) == SN_OK);
    sn_err_clear();
    EXPECT(sn_eval_set_add(s, 0, "a.png", 0, 0.5f, map, 4, 4, mask, 4, 4) == SN_OK);
    /* mask/map size mismatch and NaN are reported on the rank that adds them */
    EXPECT(sn_eval_set_add(s, 7, "b.png", 0, 0.5f, map, 4, 4, mask, 2, 8) == SN_EINVAL);
    EXPECT_MSG(strstr(sn_err_msg(), "b.png") && strstr(sn_err_msg(), "2x8") && strstr(sn_err_msg(), "4x4"),
               "mismatch message: %s", sn_err_msg());
    sn_err_clear();
    EXPECT(sn_eval_set_add(s, 9, "c.png", 0, NAN, map, 4, 4, mask, 4, 4) == SN_ENONFINITE);
    EXPECT_MSG(strstr(sn_err_msg(), "image 9 c.png") != NULL, "NaN score message: %s", sn_err_msg());
    sn_err_clear();
    EXPECT(sn_eval_set_add(s, 11, NULL, 0, 0.5f, bad, 4, 4, mask, 4, 4) == SN_ENONFINITE);
    EXPECT_MSG(strstr(sn_err_msg(), "image 11") && strstr(sn_err_msg(), "(1, 1)"), "NaN pixel message: %s",
               sn_err_msg());
    sn_err_clear();
    sn_eval_set_free(s);

    /* a failed add on the last rank only: every rank's compute fails, none hangs */
    EXPECT(sn_eval_set_create(&s) == SN_OK);
    EXPECT(sn_eval_set_add(s, rank, NULL, 0, 0.5f, map, 4, 4, mask, 4, 4) == SN_OK);
    if (rank == nranks - 1)
        EXPECT(sn_eval_set_add(s, 100, "d.png", 0, 0.5f, bad, 4, 4, mask, 4, 4) == SN_ENONFINITE);
    sn_eval_opts o;
    sn_eval_opts_default(&o);
    sn_eval_result r;
    EXPECT(sn_eval_compute(s, MPI_COMM_WORLD, &o, &r) != SN_OK);
    if (rank == nranks - 1)
        EXPECT_MSG(strstr(sn_err_msg(), "d.png") != NULL, "failing rank keeps its message: %s", sn_err_msg());
    sn_err_clear();
    sn_eval_set_free(s);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, nranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    test_exact_and_binned(rank, nranks);
    test_undefined(rank, nranks);
    test_all_tied(rank, nranks);
    test_errors(rank, nranks);
    int failed = sn_test_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (any && !failed)
        sn_test_failed = 1; /* another rank failed: this rank's exit status says so too */
    int rc = sn_test_finish();
    MPI_Finalize();
    return rc;
}
