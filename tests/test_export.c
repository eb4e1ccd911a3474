/* sernet export end to end in-process on a tiny ingested MVTec-layout set (with a JPEG test
 * image, so the extension is replaced): one panel per test image in the dataset's layout, each
 * equal to the panel rendered from the same inputs, the threshold sources (--threshold, /metrics,
 * repair masks), --only/--limit, the index sorted by score, bad inputs, name mapping and mkdir -p.
 *
 * With arguments it is the results-file fixture of tests/export_cli.sh (until `sernet infer`
 * writes real ones; the layout follows RESULTS_SCHEMA / docs/outputs.md):
 *   test_export --fixture DATA.h5 RESULTS.h5 [--category C] [--incomplete] [--no-metrics]
 *               [--threshold T] [--wrong-n] [--bad-fingerprint] [--damage-row I]
 * prints the number of test images. */
#define _GNU_SOURCE
#include "cli/cli.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/export.h"
#include "sernet/fsutil.h"
#include "sernet/h5util.h"
#include "sernet/image.h"
#include "sernet/model.h"
#include "sernet/panel.h"
#include "sernet/results.h"
#include "dataset_fixture.h"
#include "sn_test.h"

#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* This test initialises MPI without mpiexec; Open MPI's singleton start-up leaks memory that
 * LeakSanitizer cannot suppress by name, so leak detection is off here (as in test_dataset). The
 * panel code is leak-checked by test_panel, which does not use MPI. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

#define FIX_REPAIR_T 0.16f /* the fixture's repair masks: map >= this */

/* The fixture's anomaly map of test item i: low texture everywhere, a raised blob on the truth
 * mask, and a small false-positive square on every third good image. */
static void fixture_map(int64_t i, int S, const float *mask, int label, float *map)
{
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            size_t p = (size_t)y * S + x;
            float v = 0.03f * (float)((x * 3 + y * 5 + (int)i * 7) % 11) / 10.0f;
            if (mask[p] >= 0.5f)
                v += 0.15f + 0.05f * (float)(i % 4);
            if (label == 0 && i % 3 == 0 && x >= 2 && x < 6 && y >= 3 && y < 7)
                v += 0.12f;
            map[p] = v;
        }
}

static void fixture_recon(int S, const uint8_t *raw, uint8_t *recon)
{
    for (size_t p = 0; p < (size_t)S * S * 3; p++)
        recon[p] = (uint8_t)(raw[p] * 3 / 4 + 32);
}

typedef struct {
    const char *category;
    int complete, metrics, wrong_n;
    double threshold;
    int bad_fingerprint;
    int damage_row; /* > 0: row damage_row - 1 gets a wrong checksum */
} fixture_opts;

static sn_status write_results(const char *data, const char *out, const fixture_opts *fo, int64_t *n_out)
{
    sn_status status = SN_OK;
    sn_dataset *ds = NULL;
    sn_h5file f = {.id = H5I_INVALID_HID};
    hid_t d[10];
    for (int k = 0; k < 10; k++)
        d[k] = H5I_INVALID_HID;
    float *map = NULL, *mask = NULL, *scores = NULL, *seg = NULL;
    uint8_t *raw = NULL, *recon = NULL, *rep = NULL;
    SN_TRY(sn_dataset_open(data, fo->category, MPI_COMM_WORLD, &ds));
    int S = sn_dataset_image_size(ds);
    int64_t M = sn_dataset_count(ds, SN_SPLIT_TEST), R = M + (fo->wrong_n ? 1 : 0);
    size_t np = (size_t)S * S;
    SN_ALLOC(map, np, "fixture");
    SN_ALLOC(seg, np, "fixture");
    SN_ALLOC(mask, np, "fixture");
    SN_ALLOC(raw, np * 3, "fixture");
    SN_ALLOC(recon, np * 3, "fixture");
    SN_ALLOC(rep, np, "fixture");
    SN_ALLOC(scores, R, "fixture");
    SN_TRY(sn_h5_create(&f, out, 1, MPI_COMM_WORLD));
    f.no_checksums = 1; /* as infer: rows carry their own checksums */
    SN_TRY(sn_h5_attr_set_str(&f, "/", "format", "sernet-results"));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "format_version", 1));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "complete", fo->complete));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "model", "fixture-model.h5"));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "model_fingerprint", "0000000000000000"));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "data", data));
    char fp[17];
    sn_results_data_fingerprint(ds, fp);
    if (fo->bad_fingerprint)
        fp[0] = fp[0] == '0' ? '1' : '0';
    SN_TRY(sn_h5_attr_set_str(&f, "/", "data_fingerprint", fp));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "category", sn_dataset_category(ds)));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "image_size", S));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "n_test", R));
    SN_TRY(sn_h5_attr_set_double(&f, "/", "tau", 0.5));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "min_area", 4));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "ranks", 1));
    SN_TRY(sn_h5_provenance(&f, NULL));
    hsize_t d1[1] = {(hsize_t)R}, d3[3] = {(hsize_t)R, (hsize_t)S, (hsize_t)S},
            d4[4] = {(hsize_t)R, (hsize_t)S, (hsize_t)S, 3}, c3[3] = {1, (hsize_t)S, (hsize_t)S},
            c4[4] = {1, (hsize_t)S, (hsize_t)S, 3};
    SN_TRY(sn_h5_dataset_create(&f, "/maps", H5T_IEEE_F32LE, 3, d3, c3, &d[0]));
    SN_TRY(sn_h5_dataset_create(&f, "/seg_masks", H5T_IEEE_F32LE, 3, d3, c3, &d[1]));
    SN_TRY(sn_h5_dataset_create(&f, "/repair_masks", H5T_STD_U8LE, 3, d3, c3, &d[2]));
    SN_TRY(sn_h5_dataset_create(&f, "/reconstructions", H5T_STD_U8LE, 4, d4, c4, &d[3]));
    SN_TRY(sn_h5_dataset_create(&f, "/scores", H5T_IEEE_F32LE, 1, d1, NULL, &d[4]));
    SN_TRY(sn_h5_dataset_create(&f, "/neighbor", H5T_STD_I64LE, 1, d1, NULL, &d[5]));
    SN_TRY(sn_h5_dataset_create(&f, "/neighbor_distance", H5T_STD_I32LE, 1, d1, NULL, &d[6]));
    SN_TRY(sn_h5_dataset_create(&f, "/repaired_pixels", H5T_STD_I64LE, 1, d1, NULL, &d[7]));
    SN_TRY(sn_h5_dataset_create(&f, "/done", H5T_STD_U8LE, 1, d1, NULL, &d[8]));
    SN_TRY(sn_h5_dataset_create(&f, "/checksums", H5T_STD_U64LE, 1, d1, NULL, &d[9]));
    for (int64_t r = 0; r < R; r++) {
        int64_t i = r < M ? r : M - 1;
        SN_TRY(sn_dataset_read(ds, SN_SPLIT_TEST, &i, 1, NULL, mask, raw));
        fixture_map(r, S, mask, sn_dataset_label(ds, i), map);
        fixture_recon(S, raw, recon);
        float mx = 0.0f;
        int64_t area = 0;
        for (size_t p = 0; p < np; p++) {
            mx = map[p] > mx ? map[p] : mx;
            rep[p] = map[p] >= FIX_REPAIR_T;
            area += rep[p];
            seg[p] = map[p] * 2.0f > 1.0f ? 1.0f : map[p] * 2.0f;
        }
        scores[r] = mx;
        int64_t nb = r % 3, rp = area;
        int32_t nd = (int32_t)(r % 7);
        uint8_t one = 1;
        uint64_t ck = sn_results_row_checksum(S, mx, map, seg, rep, recon, nb, nd, rp);
        if (fo->damage_row == r + 1)
            ck ^= 1;
        SN_TRY(sn_h5_write_rows(&f, d[9], "/checksums", H5T_NATIVE_UINT64, r, 1, &ck));
        SN_TRY(sn_h5_write_rows(&f, d[0], "/maps", H5T_NATIVE_FLOAT, r, 1, map));
        SN_TRY(sn_h5_write_rows(&f, d[1], "/seg_masks", H5T_NATIVE_FLOAT, r, 1, seg));
        SN_TRY(sn_h5_write_rows(&f, d[2], "/repair_masks", H5T_NATIVE_UINT8, r, 1, rep));
        SN_TRY(sn_h5_write_rows(&f, d[3], "/reconstructions", H5T_NATIVE_UINT8, r, 1, recon));
        SN_TRY(sn_h5_write_rows(&f, d[5], "/neighbor", H5T_NATIVE_INT64, r, 1, &nb));
        SN_TRY(sn_h5_write_rows(&f, d[6], "/neighbor_distance", H5T_NATIVE_INT32, r, 1, &nd));
        SN_TRY(sn_h5_write_rows(&f, d[7], "/repaired_pixels", H5T_NATIVE_INT64, r, 1, &rp));
        SN_TRY(sn_h5_write_rows(&f, d[8], "/done", H5T_NATIVE_UINT8, r, 1, &one));
    }
    SN_TRY(sn_h5_write_rows(&f, d[4], "/scores", H5T_NATIVE_FLOAT, 0, R, scores));
    if (fo->metrics) {
        SN_TRY(sn_h5_group_create(&f, "/metrics"));
        SN_TRY(sn_h5_attr_set_double(&f, "/metrics", "pixel_threshold", fo->threshold));
        SN_TRY(sn_h5_attr_set_double(&f, "/metrics", "image_auroc", 1.0));
    }
    if (n_out)
        *n_out = M;
done:
    for (int k = 0; k < 10; k++)
        if (d[k] >= 0)
            H5Dclose(d[k]);
    if (f.id >= 0 || f.writing)
        status = sn_h5_finish(&f, status);
    sn_dataset_close(ds);
    sn_free(map);
    sn_free(seg);
    sn_free(mask);
    sn_free(raw);
    sn_free(recon);
    sn_free(rep);
    sn_free(scores);
    return status;
}

static int fixture_main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_export --fixture DATA.h5 RESULTS.h5 [--category C] [--incomplete] "
                        "[--no-metrics] [--threshold T] [--wrong-n] [--bad-fingerprint] [--damage-row I]\n");
        return 2;
    }
    fixture_opts fo = {NULL, 1, 1, 0, 0.1, 0, 0};
    for (int a = 4; a < argc; a++) {
        if (strcmp(argv[a], "--category") == 0 && a + 1 < argc)
            fo.category = argv[++a];
        else if (strcmp(argv[a], "--incomplete") == 0)
            fo.complete = 0;
        else if (strcmp(argv[a], "--no-metrics") == 0)
            fo.metrics = 0;
        else if (strcmp(argv[a], "--wrong-n") == 0)
            fo.wrong_n = 1;
        else if (strcmp(argv[a], "--bad-fingerprint") == 0)
            fo.bad_fingerprint = 1;
        else if (strcmp(argv[a], "--damage-row") == 0 && a + 1 < argc)
            fo.damage_row = atoi(argv[++a]) + 1;
        else if (strcmp(argv[a], "--threshold") == 0 && a + 1 < argc)
            fo.threshold = atof(argv[++a]);
        else {
            fprintf(stderr, "test_export --fixture: unknown argument %s\n", argv[a]);
            return 2;
        }
    }
    int64_t M = 0;
    if (write_results(argv[2], argv[3], &fo, &M) != SN_OK) {
        fprintf(stderr, "test_export --fixture: %s\n", sn_err_msg());
        return 1;
    }
    printf("%lld\n", (long long)M);
    return 0;
}

/* ---------------- in-process checks ---------------- */

static char tmp[256];

static void tp(char *buf, size_t len, const char *rel)
{
    snprintf(buf, len, "%s/%s", tmp, rel);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Compare every panel of `outdir` with a panel rendered here from the dataset, the fixture's map
 * and reconstruction, map_max = the largest fixture score, and the expected predicted mask
 * (map >= t, or the repair masks when t is NaN). Items not selected must have no file. */
static void check_panels(const char *data, const char *outdir, double t, const int *selected)
{
    sn_dataset *ds = NULL;
    EXPECT(sn_dataset_open(data, NULL, MPI_COMM_WORLD, &ds) == SN_OK);
    if (!ds)
        return;
    int S = sn_dataset_image_size(ds);
    int64_t M = sn_dataset_count(ds, SN_SPLIT_TEST);
    size_t np = (size_t)S * S;
    float *mask = malloc(np * sizeof(float)), *map = malloc(np * sizeof(float));
    uint8_t *raw = malloc(np * 3), *recon = malloc(np * 3), *gt = malloc(np), *pred = malloc(np);
    float map_max = 0.0f;
    for (int64_t i = 0; i < M; i++) {
        EXPECT(sn_dataset_read(ds, SN_SPLIT_TEST, &i, 1, NULL, mask, raw) == SN_OK);
        fixture_map(i, S, mask, sn_dataset_label(ds, i), map);
        for (size_t p = 0; p < np; p++)
            map_max = map[p] > map_max ? map[p] : map_max;
    }
    int n_match = 0, n_sel = 0;
    for (int64_t i = 0; i < M; i++) {
        char rel[512], path[1024];
        EXPECT(sn_export_panel_name(sn_dataset_name(ds, SN_SPLIT_TEST, i), rel, sizeof rel) == SN_OK);
        snprintf(path, sizeof path, "%s/%s", outdir, rel);
        if (!selected[i]) {
            EXPECT_MSG(!file_exists(path), "%s written but not selected", path);
            continue;
        }
        n_sel++;
        EXPECT(sn_dataset_read(ds, SN_SPLIT_TEST, &i, 1, NULL, mask, raw) == SN_OK);
        int label = sn_dataset_label(ds, i);
        fixture_map(i, S, mask, label, map);
        fixture_recon(S, raw, recon);
        for (size_t p = 0; p < np; p++) {
            gt[p] = mask[p] >= 0.5f;
            pred[p] = isnan(t) ? map[p] >= FIX_REPAIR_T : (double)map[p] >= t;
        }
        int has_gt = sn_dataset_has_mask(ds, i) || label == 0;
        sn_image want = {0}, got = {0};
        EXPECT(sn_panel_render(&want, S, raw, has_gt ? gt : NULL, map, map_max, pred, recon) == SN_OK);
        if (sn_image_read(path, &got) != SN_OK) {
            EXPECT_MSG(0, "%s: %s", path, sn_err_msg());
            sn_err_clear();
        } else if (got.w == want.w && got.h == want.h && got.c == 3 &&
                   memcmp(got.data, want.data, (size_t)want.w * want.h * 3) == 0) {
            n_match++;
        } else {
            EXPECT_MSG(0, "%s differs from the expected panel (%dx%dx%d)", path, got.w, got.h, got.c);
        }
        sn_image_free(&want);
        sn_image_free(&got);
    }
    EXPECT_MSG(n_match == n_sel && n_sel > 0, "%d of %d panels as expected", n_match, n_sel);
    free(mask);
    free(map);
    free(raw);
    free(recon);
    free(gt);
    free(pred);
    sn_dataset_close(ds);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc((size_t)n + 1, 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

/* The index: one table row per selected image, scores non-increasing, every name present. */
static void check_index(const char *outdir, int n_rows, const char *must_name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/index.md", outdir);
    char *s = slurp(p);
    EXPECT_MSG(s != NULL, "%s missing", p);
    if (!s)
        return;
    int rows = 0, sorted = 1;
    double prev = 1e30;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        int k;
        if (sscanf(line, "| %d |", &k) != 1)
            continue;
        rows++;
        EXPECT(k == rows);
        char *last = strrchr(line, '|');
        *last = '\0';
        char *sc = strrchr(line, '|');
        double v = sc ? atof(sc + 1) : -1;
        if (v > prev)
            sorted = 0;
        prev = v;
    }
    EXPECT_MSG(rows == n_rows, "index rows %d, want %d", rows, n_rows);
    EXPECT(sorted);
    free(s);
    s = slurp(p);
    if (must_name)
        EXPECT_MSG(strstr(s, must_name) != NULL, "index lacks %s", must_name);
    free(s);
}

static void expect_fail_msg(int rc, int want_rc, const char *needle)
{
    EXPECT_MSG(rc == want_rc, "exit %d, want %d", rc, want_rc);
    EXPECT_MSG(strstr(sn_err_msg(), needle) != NULL, "error '%s' lacks '%s'", sn_err_msg(), needle);
    sn_err_clear();
}

static void test_names(void)
{
    char b[64];
    EXPECT(sn_export_panel_name("test/broken_large/000.png", b, sizeof b) == SN_OK &&
           strcmp(b, "test/broken_large/000.png") == 0);
    EXPECT(sn_export_panel_name("test/good/002.jpg", b, sizeof b) == SN_OK && strcmp(b, "test/good/002.png") == 0);
    EXPECT(sn_export_panel_name("test/crack/017", b, sizeof b) == SN_OK && strcmp(b, "test/crack/017.png") == 0);
    EXPECT(sn_export_panel_name("test/a.b/x", b, sizeof b) == SN_OK && strcmp(b, "test/a.b/x.png") == 0);
    EXPECT(sn_export_panel_name("t/.hidden", b, sizeof b) == SN_OK && strcmp(b, "t/.hidden.png") == 0);
    EXPECT(sn_export_panel_name("x.tar.gz", b, sizeof b) == SN_OK && strcmp(b, "x.tar.png") == 0);
    EXPECT(sn_export_panel_name("../etc/x.png", b, sizeof b) == SN_EFORMAT);
    EXPECT(sn_export_panel_name("a/../../x.png", b, sizeof b) == SN_EFORMAT);
    EXPECT(sn_export_panel_name("/abs/x.png", b, sizeof b) == SN_EFORMAT);
    EXPECT(sn_export_panel_name("a//x.png", b, sizeof b) == SN_EFORMAT);
    EXPECT(sn_export_panel_name("a/./x.png", b, sizeof b) == SN_EFORMAT);
    EXPECT(sn_export_panel_name("", b, sizeof b) == SN_EFORMAT);
    EXPECT(sn_export_panel_name("a/", b, sizeof b) == SN_EFORMAT);
    char small[8];
    EXPECT(sn_export_panel_name("abcdefgh.png", small, sizeof small) == SN_EINVAL);
    sn_err_clear();
}

static void test_mkdirs(void)
{
    char p[600], f[600];
    tp(p, sizeof p, "mk/a/b/c/");
    EXPECT(sn_mkdirs(p) == SN_OK);
    EXPECT(sn_mkdirs(p) == SN_OK); /* exists: fine */
    struct stat st;
    tp(p, sizeof p, "mk/a/b/c");
    EXPECT(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    tp(f, sizeof f, "mk/file");
    FILE *fh = fopen(f, "w");
    EXPECT(fh != NULL);
    if (fh)
        fclose(fh);
    tp(p, sizeof p, "mk/file/sub");
    EXPECT(sn_mkdirs(p) == SN_EIO);
    EXPECT(strstr(sn_err_msg(), "mk/file") != NULL);
    sn_err_clear();
    EXPECT(sn_mkdirs(f) == SN_EIO);
    EXPECT(strstr(sn_err_msg(), "not a directory") != NULL);
    sn_err_clear();
}

/* sel[i] = 1 for the first `limit` test items with label `label` (dataset order). */
static void select_label(const char *data, int label, int limit, int sel[16])
{
    sn_dataset *ds = NULL;
    memset(sel, 0, 16 * sizeof(int));
    EXPECT(sn_dataset_open(data, NULL, MPI_COMM_WORLD, &ds) == SN_OK);
    int k = 0;
    for (int64_t i = 0; ds && i < sn_dataset_count(ds, SN_SPLIT_TEST) && i < 16; i++)
        if (sn_dataset_label(ds, i) == label && k < limit) {
            sel[i] = 1;
            k++;
        }
    sn_dataset_close(ds);
}

static void test_export_end_to_end(void)
{
    char root[512], data[512], res[512], out[512], p[1024];
    tp(root, sizeof root, "tree");
    tp(data, sizeof data, "data.h5");
    tp(res, sizeof res, "res.h5");
    EXPECT(fx_make_tree(root, "cat") == 0);
    EXPECT(fx_write_jpeg(root, "cat/test/good/002.jpg", 40, 36) == 0);
    EXPECT(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "cat", "--size", "32", "--out",
                  data, NULL) == 0);
    fixture_opts fo = {NULL, 1, 1, 0, 0.1, 0, 0};
    int64_t M = 0;
    EXPECT(write_results(data, res, &fo, &M) == SN_OK);
    EXPECT(M == 6);
    int all[16];
    for (int i = 0; i < 16; i++)
        all[i] = 1;

    /* default: /metrics pixel_threshold */
    tp(out, sizeof out, "out1");
    EXPECT(fx_run(sn_cmd_export, "export", "--results", res, "--data", data, "--out", out, "--quiet", NULL) == 0);
    snprintf(p, sizeof p, "%s/test/good/002.png", out);
    EXPECT_MSG(file_exists(p), "%s (from 002.jpg) missing", p);
    snprintf(p, sizeof p, "%s/test/hole/000.png", out);
    EXPECT(file_exists(p));
    check_panels(data, out, 0.1, all);
    check_index(out, 6, "test/crack/001.png");

    /* --threshold overrides, --only and --limit select (dataset order: crack 000, 001, hole 000
     * are the defective ones after good 000, 001, 002) */
    tp(out, sizeof out, "out2");
    EXPECT(fx_run(sn_cmd_export, "export", "--results", res, "--data", data, "--out", out, "--threshold",
                  "0.02", "--only", "defective", "--limit", "2", "--quiet", NULL) == 0);
    {
        int sel[16];
        select_label(data, 1, 2, sel);
        check_panels(data, out, 0.02, sel);
    }
    check_index(out, 2, NULL);

    /* a huge threshold: empty predictions -> the PRED tile is the image tile */
    tp(out, sizeof out, "out3");
    EXPECT(fx_run(sn_cmd_export, "export", "--results", res, "--data", data, "--out", out, "--threshold",
                  "1e9", "--only", "good", "--quiet", NULL) == 0);
    {
        int sel[16];
        select_label(data, 0, 100, sel);
        check_panels(data, out, 1e9, sel);
    }

    /* no /metrics: the repair masks */
    char res_nm[512];
    tp(res_nm, sizeof res_nm, "res_nometrics.h5");
    fixture_opts fn = {NULL, 1, 0, 0, 0.1, 0, 0};
    EXPECT(write_results(data, res_nm, &fn, NULL) == SN_OK);
    tp(out, sizeof out, "out4");
    EXPECT(fx_run(sn_cmd_export, "export", "--results", res_nm, "--data", data, "--out", out, NULL) == 0);
    check_panels(data, out, NAN, all);

    /* bad inputs */
    char bad[512];
    tp(out, sizeof out, "out_bad");
    tp(bad, sizeof bad, "missing.h5");
    expect_fail_msg(fx_run(sn_cmd_export, "export", "--results", bad, "--data", data, "--out", out, NULL),
                    1, "missing.h5");
    expect_fail_msg(fx_run(sn_cmd_export, "export", "--results", data, "--data", data, "--out", out, NULL),
                    1, "not a sernet results file");
    tp(bad, sizeof bad, "res_incomplete.h5");
    fixture_opts fi = {NULL, 0, 1, 0, 0.1, 0, 0};
    EXPECT(write_results(data, bad, &fi, NULL) == SN_OK);
    expect_fail_msg(fx_run(sn_cmd_export, "export", "--results", bad, "--data", data, "--out", out, NULL),
                    1, "not complete");
    tp(bad, sizeof bad, "res_wrong_n.h5");
    fixture_opts fw = {NULL, 1, 1, 1, 0.1, 0, 0};
    EXPECT(write_results(data, bad, &fw, NULL) == SN_OK);
    expect_fail_msg(fx_run(sn_cmd_export, "export", "--results", bad, "--data", data, "--out", out, NULL),
                    1, "but the dataset has");
    tp(bad, sizeof bad, "res_other_data.h5");
    fixture_opts ff = {NULL, 1, 1, 0, 0.1, 1, 0};
    EXPECT(write_results(data, bad, &ff, NULL) == SN_OK);
    expect_fail_msg(fx_run(sn_cmd_export, "export", "--results", bad, "--data", data, "--out", out, NULL),
                    1, "another dataset");
    tp(bad, sizeof bad, "res_damaged.h5");
    fixture_opts fd = {NULL, 1, 1, 0, 0.1, 0, 5};
    EXPECT(write_results(data, bad, &fd, NULL) == SN_OK);
    expect_fail_msg(fx_run(sn_cmd_export, "export", "--results", bad, "--data", data, "--out", out, NULL),
                    1, "row 4 is damaged");
    struct stat st;
    EXPECT(stat(out, &st) != 0); /* nothing created for rejected inputs */
    /* --out below a regular file */
    tp(bad, sizeof bad, "plainfile");
    FILE *fh = fopen(bad, "w");
    if (fh)
        fclose(fh);
    snprintf(p, sizeof p, "%s/out", bad);
    expect_fail_msg(fx_run(sn_cmd_export, "export", "--results", res, "--data", data, "--out", p, NULL), 1,
                    "plainfile");
    /* a panel that cannot be written names the file: a directory where the panel should go */
    tp(out, sizeof out, "out5");
    snprintf(p, sizeof p, "%s/test/crack/000.png", out);
    EXPECT(sn_mkdirs(p) == SN_OK);
    expect_fail_msg(fx_run(sn_cmd_export, "export", "--results", res, "--data", data, "--out", out, NULL), 1,
                    "crack/000.png");
    snprintf(p, sizeof p, "%s/index.md", out);
    EXPECT(!file_exists(p));
    /* usage errors */
    EXPECT(fx_run(sn_cmd_export, "export", "--results", res, "--data", data, "--out", out, "--only", "bad",
                  NULL) == 2);
    EXPECT(fx_run(sn_cmd_export, "export", "--results", res, "--data", data, NULL) == 2);
    EXPECT(fx_run(sn_cmd_export, "export", "--results", res, "--data", data, "--out", out, "--threshold", "nan",
                  NULL) == 2);
    sn_err_clear();
}

int main(int argc, char **argv)
{
    (void)fx_reference; /* shared fixture helpers this test does not need */
    (void)fx_reference_mask;
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rc;
    if (argc > 1 && strcmp(argv[1], "--fixture") == 0) {
        rc = fixture_main(argc, argv);
    } else {
        snprintf(tmp, sizeof tmp, "/tmp/sn_test_export_%ld", (long)getpid());
        mkdir(tmp, 0700);
        test_names();
        test_mkdirs();
        test_export_end_to_end();
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (sn_test_failed == 0 && system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmp);
        rc = sn_test_finish();
    }
    MPI_Finalize();
    return rc;
}
