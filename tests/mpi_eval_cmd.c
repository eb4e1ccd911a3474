/* sernet eval end to end at 1, 2, 3 ranks: a synthetic dataset (S = 32) and a hand-made results
 * file with known maps; the metrics in /metrics equal a one-process computation with the metrics
 * API over the whole set (and per defect type), the pixel F1 threshold is within its bound of the
 * exact pixel F1 optimum, the report files exist and the panels decode; bad results files fail
 * clearly on every rank. With `--fixture DIR [S]` (one rank) it only writes DIR/data.h5,
 * DIR/results.h5, DIR/incomplete.h5, DIR/images.csv and DIR/pixels.csv for tests/eval_cli.sh
 * (S = 32 unless given; larger S for timing sernet eval, docs/evaluation.md). */
#include "cli/cli.h"
#include "sernet/dataset.h"
#include "sernet/eval_curves.h"
#include "sernet/evaluate.h"
#include "sernet/h5util.h"
#include "sernet/image.h"
#include "sernet/metrics.h"
#include "sernet/model.h"
#include "sernet/panel.h"
#include "sernet/results.h"
#include "sn_test.h"

#include <hdf5.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rank, nranks;

/* Run a subcommand in-process: fx_run(sn_cmd_eval, "eval", "--results", r, ..., NULL). */
static int fx_run(int (*cmd)(int, char **), const char *a0, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    sn_err_clear();
    return cmd(argc, argv);
}
static char tmp[512];

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static float unif(uint64_t a, uint64_t b) { return (float)(mix(a * 1000003u + b) >> 40) / (float)(1 << 24); }

typedef struct {
    int S;
    int64_t M;
    float *maps, *scores;
    uint8_t *masks, *labels;
    int32_t *types;
    int n_types;
    char fingerprint[17];
} truth;

/* 1 when folder dir holds no entry whose name starts with prefix. */
static int no_file_starting(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            found = 1;
    closedir(d);
    return !found;
}

static void truth_free(truth *t)
{
    free(t->maps);
    free(t->scores);
    free(t->masks);
    free(t->labels);
    free(t->types);
}

/* Ground truth from the dataset (this process alone) and the fixture's maps: background noise
 * plus a bump on the defect pixels, every other image quantised to 1/128 (tied scores). */
static int make_truth(const char *data, truth *t)
{
    sn_dataset *ds = NULL;
    memset(t, 0, sizeof *t);
    if (sn_dataset_open(data, "weave", MPI_COMM_SELF, &ds) != SN_OK)
        return -1;
    t->S = sn_dataset_image_size(ds);
    t->M = sn_dataset_count(ds, SN_SPLIT_TEST);
    t->n_types = sn_dataset_n_defect_types(ds);
    sn_results_data_fingerprint(ds, t->fingerprint);
    size_t px = (size_t)t->S * t->S;
    t->maps = malloc(sizeof(float) * px * (size_t)t->M);
    t->masks = malloc(px * (size_t)t->M);
    t->scores = malloc(sizeof(float) * (size_t)t->M);
    t->labels = malloc((size_t)t->M);
    t->types = malloc(sizeof(int32_t) * (size_t)t->M);
    float *mf = malloc(sizeof(float) * px);
    for (int64_t i = 0; i < t->M; i++) {
        if (sn_dataset_read(ds, SN_SPLIT_TEST, &i, 1, NULL, mf, NULL) != SN_OK)
            return -1;
        t->types[i] = sn_dataset_defect(ds, i);
        float off = 0.04f * unif(7, (uint64_t)i), best = 0;
        t->labels[i] = 0;
        for (size_t k = 0; k < px; k++) {
            uint8_t m = mf[k] > 0.5f;
            float v = off + 0.05f * unif((uint64_t)i + 11, k) + (m ? 0.06f * unif((uint64_t)i + 5000, k) : 0.0f);
            if (i % 2)
                v = floorf(v * 128.0f) / 128.0f;
            t->maps[(size_t)i * px + k] = v;
            t->masks[(size_t)i * px + k] = m;
            t->labels[i] |= m;
            best = v > best ? v : best;
        }
        t->scores[i] = best;
    }
    free(mf);
    sn_dataset_close(ds);
    return 0;
}

static void attr_str(hid_t f, const char *name, const char *v)
{
    sn_h5file h = {.id = f, .comm = MPI_COMM_SELF};
    snprintf(h.path, sizeof h.path, "fixture");
    sn_h5_attr_set_str(&h, "/", name, v);
}

static void attr_int(hid_t f, const char *name, int64_t v)
{
    sn_h5file h = {.id = f, .comm = MPI_COMM_SELF};
    snprintf(h.path, sizeof h.path, "fixture");
    sn_h5_attr_set_int(&h, "/", name, v);
}

static void put(hid_t f, const char *name, hid_t type, int nd, const hsize_t *dims, const void *buf)
{
    hid_t sp = H5Screate_simple(nd, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    H5Sclose(sp);
}

/* The /checksums entry of a row as `sernet infer` computes it (src/infer/run.c, row_checksum):
 * FNV-1a 64 over score, map, seg mask, repair mask, reconstruction, neighbour, distance and
 * repaired pixels, in that order. */
static uint64_t row_checksum(int S, float score, const float *map, const float *seg,
                             const uint8_t *rep, const uint8_t *recon, int64_t nbr, int32_t dist,
                             int64_t repaired)
{
    size_t plane = (size_t)S * S;
    uint64_t h = SN_FNV_OFFSET;
    h = sn_fnv1a(h, &score, sizeof score);
    h = sn_fnv1a(h, map, plane * sizeof *map);
    h = sn_fnv1a(h, seg, plane * sizeof *seg);
    h = sn_fnv1a(h, rep, plane);
    h = sn_fnv1a(h, recon, plane * 3);
    h = sn_fnv1a(h, &nbr, sizeof nbr);
    h = sn_fnv1a(h, &dist, sizeof dist);
    h = sn_fnv1a(h, &repaired, sizeof repaired);
    return h;
}

/* variant 0: complete; 1: complete = 0; 2: n_test one short; 3: wrong format; 4: complete but
 * row 5 not done; 5: another data fingerprint; 6: row 7 damaged (checksum). */
static int write_results(const char *path, const truth *t, int variant)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return -1;
    int64_t M = variant == 2 ? t->M - 1 : t->M;
    size_t px = (size_t)t->S * t->S;
    attr_str(f, "format", variant == 3 ? "sernet-model" : "sernet-results");
    attr_int(f, "format_version", 1);
    attr_int(f, "complete", variant == 1 ? 0 : 1);
    attr_str(f, "model", "fixture-model.h5");
    attr_str(f, "category", "weave");
    attr_int(f, "image_size", t->S);
    attr_int(f, "n_test", M);
    attr_str(f, "data_fingerprint", variant == 5 ? "0123456789abcdef" : t->fingerprint);
    hsize_t d1[1] = {(hsize_t)M}, d3[3] = {(hsize_t)M, (hsize_t)t->S, (hsize_t)t->S},
            d4[4] = {(hsize_t)M, (hsize_t)t->S, (hsize_t)t->S, 3};
    put(f, "/scores", H5T_NATIVE_FLOAT, 1, d1, t->scores);
    put(f, "/maps", H5T_NATIVE_FLOAT, 3, d3, t->maps);
    uint8_t *rec = malloc(px * 3 * (size_t)M);
    for (size_t k = 0; k < px * 3 * (size_t)M; k++)
        rec[k] = (uint8_t)(k * 7);
    put(f, "/reconstructions", H5T_NATIVE_UINT8, 4, d4, rec);
    float *seg = calloc(px * (size_t)M + 1, sizeof(float));
    uint8_t *rep = calloc(px * (size_t)M + 1, 1);
    int64_t *nbr = calloc((size_t)M + 1, sizeof(int64_t)), *repaired = calloc((size_t)M + 1, sizeof(int64_t));
    int32_t *dist = calloc((size_t)M + 1, sizeof(int32_t));
    uint64_t *sums = calloc((size_t)M + 1, sizeof(uint64_t));
    for (int64_t i = 0; i < M; i++) {
        nbr[i] = i % 7;
        dist[i] = (int32_t)(i % 5);
        sums[i] = row_checksum(t->S, t->scores[i], t->maps + (size_t)i * px, seg + (size_t)i * px,
                               rep + (size_t)i * px, rec + (size_t)i * px * 3, nbr[i], dist[i], repaired[i]);
    }
    if (variant == 6)
        sums[7] ^= 1;
    put(f, "/seg_masks", H5T_NATIVE_FLOAT, 3, d3, seg);
    put(f, "/repair_masks", H5T_NATIVE_UINT8, 3, d3, rep);
    put(f, "/neighbor", H5T_NATIVE_INT64, 1, d1, nbr);
    put(f, "/neighbor_distance", H5T_NATIVE_INT32, 1, d1, dist);
    put(f, "/repaired_pixels", H5T_NATIVE_INT64, 1, d1, repaired);
    put(f, "/checksums", H5T_NATIVE_UINT64, 1, d1, sums);
    free(seg);
    free(rep);
    free(nbr);
    free(repaired);
    free(dist);
    free(sums);
    free(rec);
    uint8_t *done = malloc((size_t)M);
    for (int64_t i = 0; i < M; i++)
        done[i] = !(variant == 4 && i == 5);
    put(f, "/done", H5T_NATIVE_UINT8, 1, d1, done);
    free(done);
    return H5Fclose(f) < 0 ? -1 : 0;
}

static double attr_d(hid_t f, const char *where, const char *name)
{
    double v = -999;
    hid_t a = H5Aopen_by_name(f, where, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        return -999;
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
    return v;
}

static void read_vec(hid_t f, const char *name, double *v, int n)
{
    for (int i = 0; i < n; i++)
        v[i] = -999;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return;
    H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
}

static int same(double got, double want, double tol)
{
    if (isnan(want))
        return isnan(got);
    return fabs(got - want) <= tol;
}

/* The metrics of a subset (type 0 and `keep`, all when keep < 0) in this process alone. */
static sn_eval_result reference(const truth *t, int keep, double max_fpr)
{
    size_t px = (size_t)t->S * t->S;
    int64_t n = 0;
    float *m = malloc(sizeof(float) * px * (size_t)t->M), *sc = malloc(sizeof(float) * (size_t)t->M);
    uint8_t *mk = malloc(px * (size_t)t->M);
    int32_t *ty = malloc(sizeof(int32_t) * (size_t)t->M);
    for (int64_t i = 0; i < t->M; i++) {
        if (keep >= 0 && t->types[i] != 0 && t->types[i] != keep)
            continue;
        memcpy(m + (size_t)n * px, t->maps + (size_t)i * px, px * sizeof(float));
        memcpy(mk + (size_t)n * px, t->masks + (size_t)i * px, px);
        sc[n] = t->scores[i];
        ty[n] = t->types[i];
        n++;
    }
    sn_eval_opts o;
    sn_eval_opts_default(&o);
    o.max_fpr = max_fpr;
    sn_eval_result r;
    EXPECT(sn_eval_arrays(MPI_COMM_SELF, n, t->S, t->S, m, mk, sc, ty, 0, &o, &r) == SN_OK);
    free(m);
    free(sc);
    free(mk);
    free(ty);
    return r;
}

static int file_exists(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, R_OK) == 0;
}

static void check_outputs(const char *data, const char *results, const truth *t)
{
    hid_t f = H5Fopen(results, H5F_ACC_RDONLY, H5P_DEFAULT);
    EXPECT(f >= 0);
    if (f < 0)
        return;
    sn_eval_result r = reference(t, -1, 0.3);
    EXPECT(r.n_images == t->M && r.n_good > 0 && r.n_defective > 0);
    EXPECT_NEAR(attr_d(f, "/metrics", "n_images"), (double)t->M, 0);
    EXPECT_NEAR(attr_d(f, "/metrics", "n_defect_pixels"), (double)r.n_defect_pixels, 0);
    EXPECT_NEAR(attr_d(f, "/metrics", "image_auroc"), r.image_auroc.value, 1e-12);
    EXPECT_NEAR(attr_d(f, "/metrics", "pixel_auroc"), r.pixel_auroc.value, 1e-12);
    EXPECT_NEAR(attr_d(f, "/metrics", "aupro"), r.aupro.value, 1e-12);
    EXPECT_NEAR(attr_d(f, "/metrics", "pixel_ap"), r.pixel_ap.value, 1e-12);
    EXPECT_NEAR(attr_d(f, "/metrics", "image_f1"), r.f1.f1.value, 1e-12);
    EXPECT_NEAR(attr_d(f, "/metrics", "image_threshold"), r.f1.threshold, 0);
    EXPECT(r.image_auroc.value > 0.5 && r.image_auroc.value < 1); /* a non-trivial fixture */

    double tv[SN_EVAL_MAX_TYPES], tp[SN_EVAL_MAX_TYPES], ta[SN_EVAL_MAX_TYPES];
    read_vec(f, "/metrics/type_image_auroc", tv, t->n_types);
    read_vec(f, "/metrics/type_pixel_auroc", tp, t->n_types);
    read_vec(f, "/metrics/type_aupro", ta, t->n_types);
    EXPECT(isnan(tv[0]) && isnan(tp[0]) && isnan(ta[0])); /* good vs good: undefined */
    for (int ty = 1; ty < t->n_types; ty++) {
        sn_eval_result rt = reference(t, ty, 0.3);
        EXPECT_MSG(same(tv[ty], r.type_auroc[ty].value, 1e-12), "type %d image AUROC %g vs %g", ty, tv[ty],
                   r.type_auroc[ty].value);
        EXPECT_MSG(same(tp[ty], rt.pixel_auroc.value, 1e-12), "type %d pixel AUROC %g vs %g", ty, tp[ty],
                   rt.pixel_auroc.value);
        EXPECT_MSG(same(ta[ty], rt.aupro.value, 1e-12), "type %d AUPRO %g vs %g", ty, ta[ty], rt.aupro.value);
    }

    /* pixel F1: within its bound of the exact optimum over all pixels */
    sn_f1_result ex;
    EXPECT(sn_metric_best_f1(t->maps, t->masks, t->M * t->S * t->S, &ex) == SN_OK);
    double f1 = attr_d(f, "/metrics", "pixel_f1"), bound = attr_d(f, "/metrics", "pixel_f1_bound");
    double thr = attr_d(f, "/metrics", "pixel_threshold");
    EXPECT_MSG(f1 <= ex.f1.value + 1e-12 && ex.f1.value <= f1 + bound + 1e-12,
               "pixel F1 %.9g (bound %.3g), exact %.9g", f1, bound, ex.f1.value);
    EXPECT(bound >= 0 && bound < 0.01);
    /* its threshold is a real score whose F1 is the reported one */
    int64_t tpc = 0, fpc = 0, P = 0;
    for (int64_t k = 0; k < t->M * t->S * t->S; k++) {
        P += t->masks[k];
        if (t->maps[k] >= thr) {
            tpc += t->masks[k];
            fpc += !t->masks[k];
        }
    }
    EXPECT_NEAR(f1, 2.0 * (double)tpc / (double)(tpc + fpc + P), 1e-12);
    H5Fclose(f);

    char dir[600];
    snprintf(dir, sizeof dir, "%s/results_report", tmp);
    EXPECT(file_exists(tmp, "results_metrics.json"));
    EXPECT(file_exists(dir, "report.md") && file_exists(dir, "roc_image.svg") &&
           file_exists(dir, "roc_pixel.svg") && file_exists(dir, "pro.svg"));
    for (int j = 1; j <= 3; j++)
        for (int pass = 0; pass < 2; pass++) {
            char p[800];
            snprintf(p, sizeof p, "%s/%s_%d.png", dir, pass ? "fn" : "fp", j);
            sn_image img = {0};
            sn_panel_layout lay;
            sn_panel_layout_get(t->S, &lay);
            EXPECT_MSG(sn_image_read(p, &img) == SN_OK && img.h == lay.height && img.c == 3 &&
                           img.w == lay.width, "panel %s: %dx%d, want %dx%d", p, img.w, img.h, lay.width, lay.height);
            sn_image_free(&img);
        }
    EXPECT(!file_exists(dir, "fp_4.png"));
    (void)data;
}

static void check_eval(void)
{
    char data[600], res[600], bad[600], cmp[600];
    snprintf(data, sizeof data, "%s/data.h5", tmp);
    snprintf(res, sizeof res, "%s/results.h5", tmp);
    EXPECT(fx_run(sn_cmd_synth, "synth", "--out", data, "--size", "32", "--seed", "3", NULL) == 0);
    truth t = {0};
    int ok = 1;
    if (rank == 0) {
        ok = make_truth(data, &t) == 0 && write_results(res, &t, 0) == 0;
        for (int v = 1; v <= 6 && ok; v++) {
            snprintf(bad, sizeof bad, "%s/bad%d.h5", tmp, v);
            ok = write_results(bad, &t, v) == 0;
        }
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    EXPECT(ok);
    if (!ok)
        return;
    /* twice: the second run replaces /metrics and the stale panel fp_4 of a larger --worst */
    EXPECT(fx_run(sn_cmd_eval, "eval", "--results", res, "--data", data, "--worst", "4", NULL) == 0);
    EXPECT(fx_run(sn_cmd_eval, "eval", "--results", res, "--data", data, "--worst", "3", NULL) == 0);
    if (rank == 0)
        check_outputs(data, res, &t);
    /* no temporary copy of the results file left ("results.h5.tmp.<pid>", sernet/fsutil.h) */
    snprintf(cmp, sizeof cmp, "%s/results.h5.tmp.%ld", tmp, (long)getpid());
    EXPECT(access(cmp, F_OK) != 0);
    EXPECT(no_file_starting(tmp, "results.h5.tmp"));

    /* bad inputs: exit 1 on every rank, the message names the problem */
    const char *want[7] = {"cannot open", "incomplete results file", "does not match dataset",
                           "not a results file", "row 5 (test image test/good/005) is not done",
                           "data_fingerprint 0123456789abcdef", "row 7 is damaged"};
    for (int v = 0; v <= 6; v++) {
        if (v == 0)
            snprintf(bad, sizeof bad, "%s/missing.h5", tmp);
        else
            snprintf(bad, sizeof bad, "%s/bad%d.h5", tmp, v);
        int rc = fx_run(sn_cmd_eval, "eval", "--results", bad, "--data", data, NULL);
        const char *base = strrchr(bad, '/') + 1;
        EXPECT_MSG(rc == 1 && strstr(sn_err_msg(), want[v]) && strstr(sn_err_msg(), base),
                   "variant %d: rc %d, message '%s'", v, rc, sn_err_msg());
    }
    /* a results file must not be modified when eval fails */
    snprintf(bad, sizeof bad, "%s/bad1.h5", tmp);
    if (rank == 0) {
        hid_t f = H5Fopen(bad, H5F_ACC_RDONLY, H5P_DEFAULT);
        EXPECT(f >= 0 && H5Lexists(f, "/metrics", H5P_DEFAULT) == 0);
        if (f >= 0)
            H5Fclose(f);
    }
    if (rank == 0)
        truth_free(&t);
}

/* --fixture DIR: the inputs of tests/eval_cli.sh */
static int fixture(const char *dir, const char *size)
{
    char data[600], p[600];
    snprintf(data, sizeof data, "%s/data.h5", dir);
    if (fx_run(sn_cmd_synth, "synth", "--out", data, "--size", size, "--seed", "3", "--force", NULL) != 0)
        return 1;
    truth t;
    if (make_truth(data, &t) != 0)
        return 1;
    snprintf(p, sizeof p, "%s/results.h5", dir);
    int rc = write_results(p, &t, 0);
    snprintf(p, sizeof p, "%s/incomplete.h5", dir);
    rc |= write_results(p, &t, 1);
    snprintf(p, sizeof p, "%s/images.csv", dir);
    FILE *f = fopen(p, "w");
    if (!f)
        return 1;
    fprintf(f, "score,label,type\n");
    for (int64_t i = 0; i < t.M; i++)
        fprintf(f, "%.9g,%d,%d\n", t.scores[i], t.labels[i], t.types[i]);
    fclose(f);
    snprintf(p, sizeof p, "%s/pixels.csv", dir);
    if (!(f = fopen(p, "w")))
        return 1;
    fprintf(f, "score,label,image\n");
    size_t px = (size_t)t.S * t.S;
    for (int64_t i = 0; i < t.M; i++)
        for (size_t k = 0; k < px; k++)
            fprintf(f, "%.9g,%d,%lld\n", t.maps[(size_t)i * px + k], t.masks[(size_t)i * px + k], (long long)i);
    fclose(f);
    truth_free(&t);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "--fixture") == 0) {
        int rc = fixture(argv[2], argc == 4 ? argv[3] : "32");
        MPI_Finalize();
        return rc;
    }
    if (rank == 0)
        snprintf(tmp, sizeof tmp, "/tmp/sn_mpi_eval_%ld", (long)getpid());
    MPI_Bcast(tmp, sizeof tmp, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank == 0)
        mkdir(tmp, 0700);
    MPI_Barrier(MPI_COMM_WORLD);
    check_eval();
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmp);
    }
    int failed = sn_test_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = sn_test_finish();
    MPI_Finalize();
    return any ? 1 : rc;
}
