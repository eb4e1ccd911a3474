/* The inspection API (sernet/inspect.h) against `sernet infer`: a tiny model (S = 32) is trained
 * with the sernet program, then this process (which never starts MPI) scores the dataset's test
 * images through the API and compares with the results files of `sernet infer --batch 1`
 * (bit-identical, threads 1 on both sides) and `--batch 8` (1e-4 relative). Also: pixel formats
 * and strides, map_full, files, many threads sharing one inspector (bit-identical to sequential
 * calls), and the errors of bad input. */
#include "sernet/h5util.h"
#include "sernet/image.h"
#include "sernet/inspect.h"
#include "sernet/resize.h"
#include "sn_test.h"

#include <hdf5.h>
#include <mpi.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S 32
#define PLANE (S * S)

static char dir[256];
static const char *bin;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                     "ASAN_OPTIONS=detect_leaks=0 OMP_NUM_THREADS=1 ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

/* The whole of a dataset `name` of file `path` (no MPI). */
static void *read_all(const char *path, const char *name, hid_t memtype, size_t elem, int ndims,
                      hsize_t *dims)
{
    sn_h5file f;
    hid_t d = H5I_INVALID_HID;
    void *buf = NULL;
    if (sn_h5_open_local(&f, path) != SN_OK)
        return NULL;
    if (sn_h5_dataset_open(&f, name, ndims, dims, &d) == SN_OK) {
        size_t n = 1;
        for (int i = 0; i < ndims; i++)
            n *= dims[i];
        buf = malloc(n * elem);
        if (buf && sn_h5_read_rows(&f, d, name, memtype, 0, (int64_t)dims[0], buf) != SN_OK) {
            free(buf);
            buf = NULL;
        }
        H5Dclose(d);
    }
    sn_h5_close(&f);
    if (!buf)
        fprintf(stderr, "reading %s %s: %s\n", path, name, sn_err_msg());
    return buf;
}

typedef struct {
    float *scores, *maps, *seg;
    uint8_t *repair, *recon;
    int64_t *nbr, *repaired;
    int32_t *dist;
    int64_t m;
} results;

static int load_results(const char *path, results *r)
{
    hsize_t d[4];
    memset(r, 0, sizeof *r);
    r->scores = read_all(path, "/scores", H5T_NATIVE_FLOAT, 4, 1, d);
    r->m = (int64_t)d[0];
    r->maps = read_all(path, "/maps", H5T_NATIVE_FLOAT, 4, 3, d);
    r->seg = read_all(path, "/seg_masks", H5T_NATIVE_FLOAT, 4, 3, d);
    r->repair = read_all(path, "/repair_masks", H5T_NATIVE_UINT8, 1, 3, d);
    r->recon = read_all(path, "/reconstructions", H5T_NATIVE_UINT8, 1, 4, d);
    r->nbr = read_all(path, "/neighbor", H5T_NATIVE_INT64, 8, 1, d);
    r->dist = read_all(path, "/neighbor_distance", H5T_NATIVE_INT32, 4, 1, d);
    r->repaired = read_all(path, "/repaired_pixels", H5T_NATIVE_INT64, 8, 1, d);
    return r->scores && r->maps && r->seg && r->repair && r->recon && r->nbr && r->dist && r->repaired
               ? 0 : -1;
}

static void free_results(results *r)
{
    free(r->scores); free(r->maps); free(r->seg); free(r->repair); free(r->recon);
    free(r->nbr); free(r->dist); free(r->repaired);
}

/* One image's full output through the API. */
typedef struct {
    float score;
    int64_t nbr, repaired;
    int dist;
    float map[PLANE], seg[PLANE];
    uint8_t repair[PLANE], recon[PLANE * 3], input[PLANE * 3];
} one;

static sn_status score_one(sn_inspector *in, const sn_inspect_image *im, one *o)
{
    sn_inspect_result r = {0};
    r.map = o->map;
    r.seg = o->seg;
    r.repair_mask = o->repair;
    r.recon = o->recon;
    r.input = o->input;
    sn_status st = sn_inspect_pixels(in, im, &r);
    o->score = r.score;
    o->nbr = r.neighbor;
    o->repaired = r.repaired_pixels;
    o->dist = r.neighbor_distance;
    return st;
}

static int same_one(const one *a, const one *b)
{
    return memcmp(&a->score, &b->score, sizeof a->score) == 0 && a->nbr == b->nbr &&
           a->repaired == b->repaired && a->dist == b->dist &&
           memcmp(a->map, b->map, sizeof a->map) == 0 && memcmp(a->seg, b->seg, sizeof a->seg) == 0 &&
           memcmp(a->repair, b->repair, sizeof a->repair) == 0 &&
           memcmp(a->recon, b->recon, sizeof a->recon) == 0;
}

/* ---- concurrent callers ---------------------------------------------------------------------- */

typedef struct {
    sn_inspector *in;
    const uint8_t *images;
    int64_t m;
    int tid, nthreads, rounds;
    one *out; /* [m] */
    int errors;
} thread_job;

static void *thread_main(void *p)
{
    thread_job *j = p;
    for (int r = 0; r < j->rounds; r++)
        for (int64_t i = j->tid; i < j->m; i += j->nthreads) {
            sn_inspect_image im = {j->images + (size_t)i * PLANE * 3, S, S, 0, SN_PIX_RGB};
            if (score_one(j->in, &im, &j->out[i]) != SN_OK) {
                fprintf(stderr, "thread %d image %lld: %s\n", j->tid, (long long)i, sn_err_msg());
                j->errors++;
            }
        }
    return NULL;
}

/* nthreads callers on one inspector (threads per call `omp`, at most `workers` workers) must give
 * exactly what sequential calls of an inspector with the same `omp` give. */
static void check_concurrent(const char *model, const char *data, const uint8_t *images, int64_t m,
                             int nthreads, int omp, int workers)
{
    sn_inspect_options o;
    sn_inspect_options_init(&o);
    o.threads = omp;
    o.max_workers = workers;
    sn_inspector *seq = NULL, *par = NULL;
    one *a = calloc((size_t)m, sizeof *a), *b = calloc((size_t)m, sizeof *b);
    EXPECT(sn_inspector_open(model, data, &o, &seq) == SN_OK);
    EXPECT(sn_inspector_open(model, data, &o, &par) == SN_OK);
    if (!seq || !par || !a || !b)
        goto out;
    int seq_err = 0;
    for (int64_t i = 0; i < m; i++) {
        sn_inspect_image im = {images + (size_t)i * PLANE * 3, S, S, 0, SN_PIX_RGB};
        seq_err += score_one(seq, &im, &a[i]) != SN_OK;
    }
    EXPECT(seq_err == 0);
    pthread_t th[8];
    thread_job jobs[8];
    for (int t = 0; t < nthreads; t++) {
        jobs[t] = (thread_job){par, images, m, t, nthreads, 2, b, 0};
        EXPECT(pthread_create(&th[t], NULL, thread_main, &jobs[t]) == 0);
    }
    int errors = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        errors += jobs[t].errors;
    }
    EXPECT_MSG(errors == 0, "%d threads x %d OpenMP threads, %d workers: %d failed calls", nthreads,
               omp, workers, errors);
    int64_t diff = 0;
    for (int64_t i = 0; i < m; i++)
        diff += !same_one(&a[i], &b[i]);
    EXPECT_MSG(diff == 0, "%d threads x %d OpenMP threads, %d workers: %lld of %lld images differ "
               "from sequential calls", nthreads, omp, workers, (long long)diff, (long long)m);
    EXPECT_MSG(sn_inspector_workers(par) >= 1 && sn_inspector_workers(par) <= workers,
               "workers created: %d (max %d)", sn_inspector_workers(par), workers);
out:
    free(a);
    free(b);
    sn_inspector_close(seq);
    sn_inspector_close(par);
}

/* ---- bad input ------------------------------------------------------------------------------- */

static void expect_open_error(const char *what, const char *model, const char *data,
                              const sn_inspect_options *o, const char *must1, const char *must2)
{
    sn_inspector *in = NULL;
    sn_status st = sn_inspector_open(model, data, o, &in);
    const char *msg = sn_err_msg();
    EXPECT_MSG(st != SN_OK && in == NULL && strstr(msg, must1) && (!must2 || strstr(msg, must2)),
               "%s: status %s, message '%s' (must contain '%s'%s%s)", what, sn_status_name(st), msg,
               must1, must2 ? " and " : "", must2 ? must2 : "");
    sn_inspector_close(in);
    sn_err_clear();
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    int rc = a && b ? 0 : -1;
    char buf[1 << 16];
    size_t n;
    while (!rc && (n = fread(buf, 1, sizeof buf, a)) > 0)
        rc = fwrite(buf, 1, n, b) == n ? 0 : -1;
    if (a)
        fclose(a);
    if (b && fclose(b) != 0)
        rc = -1;
    return rc;
}

static void check_bad_input(const char *model, const char *data, const uint8_t *img0)
{
    char p[512], q[512];
    sn_inspect_options o;
    sn_inspect_options_init(&o);

    /* a dataset at another image size */
    snprintf(p, sizeof p, "%s/syn48.h5", dir);
    if (run("\"%s\" synth --out %s --size 48 --set seed=3 >/dev/null 2>&1", bin, p) == 0)
        expect_open_error("image size mismatch", model, p, &o, "32 x 32", "48 x 48");
    /* a category the dataset does not have */
    o.category = "nosuchcat";
    expect_open_error("unknown category", model, data, &o, "nosuchcat", "weave,flange");
    o.category = NULL;
    /* no hash index */
    snprintf(p, sizeof p, "%s/noindex.h5", dir);
    EXPECT(copy_file(data, p) == 0);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    EXPECT(f >= 0 && H5Ldelete(f, "/weave/train/phash", H5P_DEFAULT) >= 0);
    if (f >= 0)
        H5Fclose(f);
    expect_open_error("missing hash index", model, p, &o, "run `sernet index", "/weave/train/phash");
    /* files of the wrong kind, missing files */
    expect_open_error("model given as dataset", model, model, &o, "not a sernet dataset", model);
    expect_open_error("dataset given as model", data, data, &o, data, NULL);
    snprintf(q, sizeof q, "%s/missing.h5", dir);
    expect_open_error("missing model", q, data, &o, q, NULL);
    expect_open_error("missing dataset", model, q, &o, q, NULL);
    /* an override of a key that shaped the nets */
    const char *sets[] = {"seg_width=8"};
    o.sets = sets;
    o.n_sets = 1;
    expect_open_error("override of a trained key", model, data, &o, "seg_width", NULL);
    o.sets = NULL;
    o.n_sets = 0;
    o.threads = -5;
    expect_open_error("bad threads", model, data, &o, "threads", NULL);
    o.threads = 1;

    sn_inspector *in = NULL;
    EXPECT(sn_inspector_open(model, data, &o, &in) == SN_OK);
    if (!in)
        return;
    sn_inspect_result r = {0};
    sn_inspect_image im = {img0, S, S, 0, (sn_pixel_format)2};
    EXPECT(sn_inspect_pixels(in, &im, &r) == SN_EINVAL && strstr(sn_err_msg(), "pixel format 2"));
    im.format = SN_PIX_RGB;
    im.stride = S * 3 - 1;
    EXPECT(sn_inspect_pixels(in, &im, &r) == SN_EINVAL && strstr(sn_err_msg(), "stride"));
    im.stride = 0;
    im.width = 0;
    EXPECT(sn_inspect_pixels(in, &im, &r) == SN_EINVAL && strstr(sn_err_msg(), "0 x 32"));
    im.width = S;
    im.data = NULL;
    EXPECT(sn_inspect_pixels(in, &im, &r) == SN_EINVAL && strstr(sn_err_msg(), "NULL"));
    /* undecodable and missing files: the message names the file */
    snprintf(p, sizeof p, "%s/garbage.png", dir);
    FILE *g = fopen(p, "wb");
    if (g) {
        fputs("this is not a PNG file at all", g);
        fclose(g);
    }
    sn_status st = sn_inspect_file(in, p, &r);
    EXPECT_MSG(st != SN_OK && strstr(sn_err_msg(), p), "undecodable file: %s", sn_err_msg());
    snprintf(p, sizeof p, "%s/nothere.png", dir);
    st = sn_inspect_file(in, p, &r);
    EXPECT_MSG(st != SN_OK && strstr(sn_err_msg(), p), "missing file: %s", sn_err_msg());
    /* a failed call leaves the inspector usable and the next call's message its own */
    im.data = img0;
    one ok;
    EXPECT(score_one(in, &im, &ok) == SN_OK && sn_err_msg()[0] == '\0');
    sn_inspector_close(in);
}

int main(void)
{
    bin = getenv("SERNET_BIN");
    if (!bin)
        sn_test_skip("SERNET_BIN not set (run through ctest)");
    snprintf(dir, sizeof dir, "/tmp/sn_inspect_XXXXXX");
    if (!mkdtemp(dir))
        sn_test_skip("cannot create a temporary folder");
    char data[300], model[300], r1[300], r8[300], rt[300], png[300];
    snprintf(data, sizeof data, "%s/syn.h5", dir);
    snprintf(model, sizeof model, "%s/m.h5", dir);
    snprintf(r1, sizeof r1, "%s/r1.h5", dir);
    snprintf(r8, sizeof r8, "%s/r8.h5", dir);
    snprintf(rt, sizeof rt, "%s/rt.h5", dir);
    const char *tr = "--category weave --quiet --set image_size=32 --set seg_width=4 --set rec_width=4 "
                     "--set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 --set epochs_rec=1 "
                     "--set calib_samples=16 --set seed=3 --set threads=1 --stage all";
    if (run("\"%s\" synth --out %s --size 32 --set seed=3 >/dev/null", bin, data) ||
        run("\"%s\" train --data %s %s --out %s >/dev/null 2>&1", bin, data, tr, model) ||
        run("\"%s\" infer --model %s --data %s --category weave --out %s --batch 1 --quiet "
            "--set threads=1 >/dev/null 2>&1", bin, model, data, r1) ||
        run("\"%s\" infer --model %s --data %s --category weave --out %s --batch 8 --quiet "
            "--set threads=1 >/dev/null 2>&1", bin, model, data, r8) ||
        run("\"%s\" infer --model %s --data %s --category weave --out %s --batch 1 --quiet "
            "--set threads=1 --set repair_threshold=0.5 >/dev/null 2>&1", bin, model, data, rt)) {
        EXPECT_MSG(0, "could not make the model and the results files in %s", dir);
        return sn_test_finish();
    }
    hsize_t d[4];
    uint8_t *images = read_all(data, "/weave/test/images", H5T_NATIVE_UINT8, 1, 4, d);
    int64_t m = (int64_t)d[0];
    results a, b, c;
    EXPECT(images && d[1] == S);
    EXPECT(load_results(r1, &a) == 0 && a.m == m);
    EXPECT(load_results(r8, &b) == 0 && b.m == m);
    EXPECT(load_results(rt, &c) == 0 && c.m == m);
    if (!images || a.m != m || b.m != m || c.m != m)
        return sn_test_finish();

    sn_inspect_options o;
    sn_inspect_options_init(&o);
    sn_inspector *in = NULL;
    EXPECT(sn_inspector_open(model, data, &o, &in) == SN_OK);
    if (!in) {
        fprintf(stderr, "%s\n", sn_err_msg());
        return sn_test_finish();
    }
    EXPECT(sn_inspector_image_size(in) == S && strcmp(sn_inspector_category(in), "weave") == 0);
    EXPECT(sn_inspector_train_count(in) == 120 && sn_inspector_threads(in) == 1);
    EXPECT(strncmp(sn_inspector_train_name(in, 0), "train/good/", 11) == 0);
    EXPECT(sn_inspector_train_name(in, 120)[0] == '\0' && sn_inspector_train_name(in, -1)[0] == '\0');

    /* (a) every test image: bit-identical to `sernet infer --batch 1`, close to --batch 8 */
    one *got = calloc((size_t)m, sizeof *got);
    int64_t diff[8] = {0};
    float *s8 = malloc(sizeof(float) * (size_t)m);
    for (int64_t i = 0; i < m; i++) {
        const uint8_t *img = images + (size_t)i * PLANE * 3;
        sn_inspect_image im = {img, S, S, 0, SN_PIX_RGB};
        one *g = &got[i];
        EXPECT(score_one(in, &im, g) == SN_OK);
        diff[0] += memcmp(&g->score, &a.scores[i], sizeof(float)) != 0;
        diff[1] += memcmp(g->map, a.maps + (size_t)i * PLANE, sizeof g->map) != 0;
        diff[2] += memcmp(g->seg, a.seg + (size_t)i * PLANE, sizeof g->seg) != 0;
        diff[3] += memcmp(g->repair, a.repair + (size_t)i * PLANE, sizeof g->repair) != 0;
        diff[4] += memcmp(g->recon, a.recon + (size_t)i * PLANE * 3, sizeof g->recon) != 0;
        diff[5] += g->nbr != a.nbr[i] || g->dist != a.dist[i];
        diff[6] += g->repaired != a.repaired[i];
        diff[7] += memcmp(g->input, img, sizeof g->input) != 0; /* S x S RGB passes unchanged */
        s8[i] = g->score;
    }
    const char *what[8] = {"scores", "maps", "seg", "repair masks", "reconstructions", "neighbours",
                           "repaired pixels", "preprocessed input"};
    for (int k = 0; k < 8; k++)
        EXPECT_MSG(diff[k] == 0, "API vs infer --batch 1: %s differ for %lld of %lld images", what[k],
                   (long long)diff[k], (long long)m);
    EXPECT_ALLCLOSE(s8, b.scores, (size_t)m, 1e-4, 0, "API vs infer --batch 8: scores");
    int64_t nrep = 0, rep_px = 0;
    for (int64_t i = 0; i < m; i++) {
        nrep += got[i].repaired > 0;
        rep_px += got[i].repaired;
    }
    EXPECT_MSG(nrep > 0, "the repair module changed %lld images (the comparison covers repair)",
               (long long)nrep);

    /* configuration overrides: a fixed repair threshold, as `sernet infer --set` */
    {
        const char *sets[] = {"repair_threshold=0.5"};
        sn_inspect_options ot;
        sn_inspect_options_init(&ot);
        ot.sets = sets;
        ot.n_sets = 1;
        sn_inspector *it = NULL;
        EXPECT(sn_inspector_open(model, data, &ot, &it) == SN_OK);
        EXPECT(it && sn_inspector_tau(it) == 0.5 && sn_inspector_tau(in) != 0.5);
        int64_t nd = 0, rep = 0;
        one *v = malloc(sizeof *v);
        for (int64_t i = 0; it && v && i < m; i++) {
            sn_inspect_image im = {images + (size_t)i * PLANE * 3, S, S, 0, SN_PIX_RGB};
            EXPECT(score_one(it, &im, v) == SN_OK);
            nd += memcmp(&v->score, &c.scores[i], sizeof(float)) != 0 ||
                  memcmp(v->map, c.maps + (size_t)i * PLANE, sizeof v->map) != 0 ||
                  v->repaired != c.repaired[i] || v->nbr != c.nbr[i];
            rep += v->repaired;
        }
        EXPECT_MSG(nd == 0, "API vs infer --set repair_threshold=0.5: %lld of %lld images differ",
                   (long long)nd, (long long)m);
        EXPECT_MSG(rep != rep_px, "the override changed the repairs (%lld pixels, %lld without)",
                   (long long)rep, (long long)rep_px);
        free(v);
        sn_inspector_close(it);
    }

    /* pixel formats and strides give the same bytes to the nets */
    const uint8_t *img = images + 5 * PLANE * 3;
    uint8_t *buf = calloc((size_t)S * (S * 4 + 9), 1), *grey = malloc(PLANE), *grey3 = malloc(PLANE * 3);
    one *v = malloc(sizeof *v);
    struct { sn_pixel_format f; int bpp, pad; } fm[] = {{SN_PIX_RGB, 3, 7}, {SN_PIX_BGR, 3, 0},
                                                       {SN_PIX_RGBA, 4, 5}, {SN_PIX_BGRA, 4, 0}};
    for (int k = 0; k < 4; k++) {
        size_t stride = (size_t)S * fm[k].bpp + fm[k].pad;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                const uint8_t *s = img + ((size_t)y * S + x) * 3;
                uint8_t *t = buf + y * stride + (size_t)x * fm[k].bpp;
                int bgr = fm[k].f == SN_PIX_BGR || fm[k].f == SN_PIX_BGRA;
                t[0] = s[bgr ? 2 : 0];
                t[1] = s[1];
                t[2] = s[bgr ? 0 : 2];
                if (fm[k].bpp == 4)
                    t[3] = (uint8_t)(x * 7 + y); /* alpha is ignored */
            }
        sn_inspect_image im = {buf, S, S, fm[k].pad ? stride : 0, fm[k].f};
        EXPECT(score_one(in, &im, v) == SN_OK);
        EXPECT_MSG(same_one(v, &got[5]), "format %s, stride %zu: result differs from RGB",
                   sn_pixel_format_name(fm[k].f), stride);
    }
    for (int i = 0; i < PLANE; i++)
        grey[i] = grey3[3 * i] = grey3[3 * i + 1] = grey3[3 * i + 2] = img[3 * i + 1];
    one *vg = malloc(sizeof *vg);
    sn_inspect_image ig = {grey, S, S, 0, SN_PIX_GREY}, ig3 = {grey3, S, S, 0, SN_PIX_RGB};
    EXPECT(score_one(in, &ig, v) == SN_OK && score_one(in, &ig3, vg) == SN_OK);
    EXPECT_MSG(same_one(v, vg), "a grey image scores as its 3-channel copy");

    /* another size: the preprocessing is sn_preprocess_rgb8, map_full is the map resized back */
    const int W = 47, H = 29;
    uint8_t *big = malloc((size_t)W * H * 3), *pre = malloc(PLANE * 3);
    float *mf = malloc(sizeof(float) * W * H), *mf_ref = malloc(sizeof(float) * W * H);
    EXPECT(sn_resize_u8(img, S, S, 3, big, W, H) == SN_OK);
    EXPECT(sn_preprocess_rgb8(big, W, H, SN_PIX_RGB, 0, S, pre) == SN_OK);
    sn_inspect_result r = {0};
    r.map = v->map;
    r.input = v->input;
    r.map_full = mf;
    r.map_full_cap = (size_t)W * H - 1;
    sn_inspect_image ib = {big, W, H, 0, SN_PIX_RGB};
    EXPECT(sn_inspect_pixels(in, &ib, &r) == SN_EINVAL && r.width == W && r.height == H &&
           strstr(sn_err_msg(), "map_full"));
    r.map_full_cap = (size_t)W * H;
    EXPECT(sn_inspect_pixels(in, &ib, &r) == SN_OK);
    EXPECT(memcmp(v->input, pre, PLANE * 3) == 0);
    EXPECT(sn_resize_f32(v->map, S, S, 1, mf_ref, W, H) == SN_OK);
    EXPECT(memcmp(mf, mf_ref, sizeof(float) * W * H) == 0);
    float mx = 0;
    for (int i = 0; i < PLANE; i++)
        mx = v->map[i] > mx ? v->map[i] : mx;
    EXPECT(r.score == mx && r.width == W && r.height == H);

    /* a PNG file scores as its pixels */
    snprintf(png, sizeof png, "%s/img5.png", dir);
    sn_image pi = {S, S, 3, (uint8_t *)img};
    EXPECT(sn_image_write_png(png, &pi) == SN_OK);
    sn_inspect_result rf = {0};
    EXPECT(sn_inspect_file(in, png, &rf) == SN_OK);
    EXPECT(memcmp(&rf.score, &got[5].score, sizeof(float)) == 0 && rf.neighbor == got[5].nbr &&
           rf.width == S && rf.height == S);
    sn_inspector_close(in);

    /* (c) concurrent callers: more threads than workers (callers wait), and 2 OpenMP threads */
    int64_t mc = m < 24 ? m : 24;
    check_concurrent(model, data, images, mc, 4, 1, 2);
    check_concurrent(model, data, images, mc, 3, 1, 3);
    check_concurrent(model, data, images, mc, 2, 2, 2);

    /* (d) bad input */
    check_bad_input(model, data, img);

    /* nothing above started MPI (the name is pasted so the test is not labelled an MPI test) */
#define SN_MPI_QUERY(x) MPI_##x
    int mpi_on = 1;
    SN_MPI_QUERY(Initialized)(&mpi_on);
    EXPECT_MSG(mpi_on == 0, "the inspection API must not need MPI");

    free(got); free(s8); free(buf); free(grey); free(grey3); free(v); free(vg);
    free(big); free(pre); free(mf); free(mf_ref); free(images);
    free_results(&a);
    free_results(&b);
    free_results(&c);
    run("rm -rf %s", dir);
    return sn_test_finish();
}
