/* Dataset layer, single process: resize against its reference, sharding, epoch order, the
 * synthetic set (determinism, exact masks in their size class), ingest of a generated MVTec tree
 * checked against directly decoded pixels, the accepted layouts, and every bad input. */
#include "cli/cli.h"
#include "dataset_fixture.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/format.h"
#include "sernet/hashindex_format.h"
#include "sernet/h5util.h"
#include "sernet/synth.h"
#include "sn_test.h"

#include <mpi.h>
#include <stdarg.h>
#include <unistd.h>

static char tmp[256];

/* This test initialises MPI (ingest and info are collective) without mpiexec. Open MPI's
 * singleton start-up leaks memory in components it later unloads, which LeakSanitizer cannot
 * suppress by name, so leak detection is off here as for the mpiexec-launched tests. (Checked
 * with fast_unwind_on_malloc=0: every reported leak starts in MPI_Init or its threads.) The
 * decoding code is leak-checked by test_image, which does not use MPI. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

static void check_resize(void)
{
    const int sizes[][4] = {{40, 36, 32, 32}, {512, 512, 64, 64}, {17, 23, 32, 48}, {32, 32, 32, 32}, {100, 7, 13, 5}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int w = sizes[s][0], h = sizes[s][1], ow = sizes[s][2], oh = sizes[s][3];
        float *in = malloc(sizeof(float) * w * h * 2), *a = malloc(sizeof(float) * ow * oh * 2),
              *b = malloc(sizeof(float) * ow * oh * 2);
        for (int i = 0; i < w * h * 2; i++)
            in[i] = (float)(((unsigned)i * 7919u) % 256u);
        EXPECT(sn_resize_f32(in, w, h, 2, a, ow, oh) == SN_OK);
        sn_resize_f32_ref(in, w, h, 2, b, ow, oh);
        EXPECT_ALLCLOSE(a, b, (size_t)ow * oh * 2, 1e-4, 1e-3, "separable resize vs 2-D reference");
        if (w == ow && h == oh) {
            EXPECT_ALLCLOSE(a, in, (size_t)ow * oh * 2, 0, 1e-4, "same-size resize is the identity");
        }
        for (int i = 0; i < w * h * 2; i++)
            in[i] = 0.75f;
        EXPECT(sn_resize_f32(in, w, h, 2, a, ow, oh) == SN_OK);
        for (int i = 0; i < ow * oh * 2; i++)
            b[i] = 0.75f;
        EXPECT_ALLCLOSE(a, b, (size_t)ow * oh * 2, 0, 1e-5, "constant stays constant");
        free(in);
        free(a);
        free(b);
    }
    /* antialiasing: a 1-pixel checkerboard shrunk 4x averages to grey */
    uint8_t cb[64 * 64], out[16 * 16];
    for (int i = 0; i < 64 * 64; i++)
        cb[i] = ((i % 64) + (i / 64)) % 2 ? 255 : 0;
    EXPECT(sn_resize_u8(cb, 64, 64, 1, out, 16, 16) == SN_OK);
    int far = 0;
    for (int i = 0; i < 16 * 16; i++)
        far += abs((int)out[i] - 128) > 2;
    EXPECT_MSG(far == 0, "checkerboard shrink is grey (%d pixels off)", far);
    EXPECT(sn_resize_u8(cb, 0, 64, 1, out, 16, 16) == SN_EINVAL);
    sn_err_clear();
}

static void check_shard(void)
{
    for (int64_t n = 0; n < 12; n++)
        for (int size = 1; size <= 5; size++) {
            int64_t next = 0, mx = 0, mn = n;
            for (int r = 0; r < size; r++) {
                int64_t b, c;
                sn_dist_shard(n, r, size, &b, &c);
                if (b != next)
                    EXPECT_MSG(0, "shard n=%lld size=%d rank=%d begins at %lld", (long long)n, size, r, (long long)b);
                next = b + c;
                mx = SN_MAX(mx, c);
                mn = SN_MIN(mn, c);
            }
            EXPECT(next == n && mx - mn <= 1);
        }
    int64_t perm[50], perm2[50], seen[50] = {0};
    sn_dataset_epoch_order(50, 7, 3, perm);
    sn_dataset_epoch_order(50, 7, 3, perm2);
    EXPECT(memcmp(perm, perm2, sizeof perm) == 0);
    int ok = 1;
    for (int i = 0; i < 50; i++)
        ok &= perm[i] >= 0 && perm[i] < 50 && !seen[perm[i]]++;
    EXPECT_MSG(ok, "epoch order is a permutation");
    sn_dataset_epoch_order(50, 7, 4, perm2);
    EXPECT(memcmp(perm, perm2, sizeof perm) != 0);
    sn_dataset_epoch_order(50, 8, 3, perm2);
    EXPECT(memcmp(perm, perm2, sizeof perm) != 0);
    EXPECT(sn_dataset_batches(10, 4, 0) == 3 && sn_dataset_batches(10, 4, 1) == 2);
}

static void check_synth(int S)
{
    size_t n = (size_t)S * S;
    uint8_t *a = malloc(3 * n), *b = malloc(3 * n), *ma = malloc(n), *mb = malloc(n),
            *clean = malloc(3 * n);
    for (int c = 0; c < sn_synth_n_categories(); c++) {
        EXPECT(sn_synth_count(c, 0) >= 100);
        int bad_area = 0, bad_det = 0, small = 0, large = 0, bad_exact = 0;
        double worst_same = 0;
        for (int64_t i = 0; i < sn_synth_count(c, 1); i++) {
            EXPECT(sn_synth_render(c, 1, i, S, 5, a, ma) == SN_OK);
            EXPECT(sn_synth_render(c, 1, i, S, 5, b, mb) == SN_OK);
            bad_det += memcmp(a, b, 3 * n) != 0 || memcmp(ma, mb, n) != 0;
            int t = sn_synth_test_defect(c, i), scale = sn_synth_defect_scale(c, t);
            size_t area = 0;
            for (size_t k = 0; k < n; k++)
                area += ma[k];
            double frac = (double)area / n;
            if (scale == 0)
                bad_area += area != 0;
            else if (scale == 1)
                bad_area += !(frac < 0.01 && area > 0), small++;
            else
                bad_area += !(frac > 0.05), large++;
            /* exactness against the same item before its defect: nothing changes outside the
             * mask, and (nearly) every mask pixel changes */
            EXPECT(sn_synth_render_pair(c, 1, i, S, 5, b, mb, clean) == SN_OK);
            size_t out_changed = 0, in_same = 0;
            for (size_t k = 0; k < n; k++) {
                int changed = memcmp(clean + 3 * k, b + 3 * k, 3) != 0;
                out_changed += !mb[k] && changed;
                in_same += mb[k] && !changed;
            }
            bad_exact += out_changed != 0 || in_same != 0;
            worst_same = SN_MAX(worst_same, area ? (double)in_same / (double)area : 0.0);
        }
        EXPECT_MSG(bad_det == 0, "%s: %d test items differ between two renders", sn_synth_category_name(c), bad_det);
        EXPECT_MSG(bad_area == 0, "%s: %d defects outside their size class", sn_synth_category_name(c), bad_area);
        EXPECT_MSG(bad_exact == 0, "%s: %d masks not exact (worst: %.2f%% of mask pixels unchanged)",
                   sn_synth_category_name(c), bad_exact, 100 * worst_same);
        printf("%s: at most %.3f%% of a mask's pixels unchanged by its defect\n", sn_synth_category_name(c), 100 * worst_same);
        EXPECT(small >= 3 * 6 && large >= 3 * 6);
        EXPECT(sn_synth_render(c, 0, 0, S, 5, a, NULL) == SN_OK);
        EXPECT(sn_synth_render(c, 0, 0, S, 6, b, NULL) == SN_OK);
        EXPECT_MSG(memcmp(a, b, 3 * n) != 0, "another seed gives another image");
        EXPECT(sn_synth_render(c, 0, 1, S, 5, b, NULL) == SN_OK);
        EXPECT_MSG(memcmp(a, b, 3 * n) != 0, "train images differ from each other");
    }
    EXPECT(sn_synth_render(0, 0, 0, 16, 5, a, NULL) == SN_EINVAL);
    sn_err_clear();
    free(a);
    free(b);
    free(ma);
    free(mb);
    free(clean);
}

/* The ingested file holds exactly what direct decoding and resizing give. */
static void check_ingested(const char *h5, const char *root, const char *cat, int S, int64_t ntrain,
                           int64_t ntest, int masks)
{
    sn_dataset *ds = NULL;
    sn_err_clear();
    sn_status st = sn_dataset_open(h5, NULL, MPI_COMM_WORLD, &ds);
    EXPECT_MSG(st == SN_OK, "open %s: %s", h5, sn_err_msg());
    if (st != SN_OK)
        return;
    EXPECT(strcmp(sn_dataset_category(ds), cat) == 0);
    EXPECT(sn_dataset_image_size(ds) == S);
    EXPECT(sn_dataset_count(ds, SN_SPLIT_TRAIN) == ntrain);
    EXPECT(sn_dataset_count(ds, SN_SPLIT_TEST) == ntest);
    size_t px = (size_t)S * S;
    uint8_t *raw = malloc(3 * px), *ref = malloc(3 * px), *mref = malloc(px);
    float *img = malloc(sizeof(float) * 3 * px), *msk = malloc(sizeof(float) * px);
    int bad = 0, badm = 0;
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < sn_dataset_count(ds, (sn_split)s); i++) {
            char p[1024];
            int32_t orig[2] = {-1, -1};
            int h = 0, w = 0;
            snprintf(p, sizeof p, "%s/%s/%s", root, cat, sn_dataset_name(ds, (sn_split)s, i));
            EXPECT(fx_reference(p, S, ref, orig) == 0);
            EXPECT(sn_dataset_read(ds, (sn_split)s, &i, 1, img, s ? msk : NULL, raw) == SN_OK);
            sn_dataset_orig_size(ds, (sn_split)s, i, &h, &w);
            bad += memcmp(raw, ref, 3 * px) != 0 || h != orig[0] || w != orig[1];
            for (size_t k = 0; k < px; k++)
                for (int c = 0; c < 3; c++)
                    bad += fabsf(img[c * px + k] - ref[3 * k + c] / 255.0f) > 1e-6f;
            if (s == 1) {
                int has = sn_dataset_has_mask(ds, i);
                EXPECT(has == (masks && sn_dataset_label(ds, i)));
                memset(mref, 0, px);
                if (has) {
                    const char *name = sn_dataset_name(ds, SN_SPLIT_TEST, i); /* test/<t>/<f>.png */
                    char type[256], file[256];
                    sscanf(name, "test/%255[^/]/%255[^.]", type, file);
                    snprintf(p, sizeof p, "%s/%s/ground_truth/%s/%s_mask.png", root, cat, type, file);
                    EXPECT(fx_reference_mask(p, S, mref) == 0);
                }
                for (size_t k = 0; k < px; k++)
                    badm += (msk[k] != 0) != (mref[k] != 0);
                EXPECT(sn_dataset_label(ds, i) == (sn_dataset_defect(ds, i) != 0));
                EXPECT(strcmp(sn_dataset_defect_type(ds, 0), "good") == 0);
            }
        }
    EXPECT_MSG(bad == 0, "%s: %d image values differ from direct decoding", h5, bad);
    EXPECT_MSG(badm == 0, "%s: %d mask values differ from direct decoding", h5, badm);
    free(raw);
    free(ref);
    free(mref);
    free(img);
    free(msk);
    sn_dataset_close(ds);
}

static void expect_fail(int rc, const char *what, const char *needle)
{
    EXPECT_MSG(rc == SN_EXIT_FAIL, "%s: exit %d, want %d", what, rc, SN_EXIT_FAIL);
    EXPECT_MSG(strstr(sn_err_msg(), needle) != NULL, "%s: message '%s' lacks '%s'", what, sn_err_msg(), needle);
    sn_err_clear();
}

static void check_ingest(void)
{
    char root[512], out[600], p[2048], p2[1024];
    snprintf(root, sizeof root, "%s/tree", tmp);
    EXPECT(fx_make_tree(root, "cat") == 0);
    snprintf(out, sizeof out, "%s/cat.h5", tmp);
    EXPECT(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "cat", "--size", "32", "--out", out, NULL) == 0);
    check_ingested(out, root, "cat", 32, 6, 5, 1);
    EXPECT(fx_run(sn_cmd_info, "info", "--check", out, NULL) == 0);

    /* an existing output is refused, --force replaces it, no temporary is left behind */
    expect_fail(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "cat", "--size", "32", "--out", out, NULL),
                "existing output", "exists");
    EXPECT(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "cat", "--size", "32", "--out", out, "--force", NULL) == 0);
    snprintf(p, sizeof p, "%s.tmp", out);
    EXPECT(access(p, F_OK) != 0);

    /* size not a multiple of 16 */
    snprintf(out, sizeof out, "%s/bad.h5", tmp);
    expect_fail(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "cat", "--size", "40", "--out", out, NULL),
                "size 40", "multiple of 16");
    /* missing category folder */
    expect_fail(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "nope", "--size", "32", "--out", out, NULL),
                "missing folder", "nope");

    /* train-only category, and test without masks */
    snprintf(root, sizeof root, "%s/tree2", tmp);
    EXPECT(fx_make_tree(root, "c2") == 0);
    snprintf(p, sizeof p, "rm -rf %s/c2/test %s/c2/ground_truth", root, root);
    EXPECT(system(p) == 0);
    snprintf(out, sizeof out, "%s/c2.h5", tmp);
    EXPECT(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "c2", "--size", "32", "--out", out, NULL) == 0);
    check_ingested(out, root, "c2", 32, 6, 0, 0);
    snprintf(root, sizeof root, "%s/tree3", tmp);
    EXPECT(fx_make_tree(root, "c3") == 0);
    snprintf(p, sizeof p, "rm -rf %s/c3/ground_truth", root);
    EXPECT(system(p) == 0);
    snprintf(out, sizeof out, "%s/c3.h5", tmp);
    EXPECT(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "c3", "--size", "32", "--out", out, NULL) == 0);
    check_ingested(out, root, "c3", 32, 6, 5, 0);

    /* bad inputs, each on a fresh tree */
    snprintf(root, sizeof root, "%s/bad", tmp);
    snprintf(out, sizeof out, "%s/bad.h5", tmp);
    /* undecodable image: named; nothing written */
    EXPECT(fx_make_tree(root, "b1") == 0);
    snprintf(p, sizeof p, "%s/b1/test/crack/001.png", root);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs("\x89PNG\r\n\x1a\nthis is not really a png", f);
        fclose(f);
    }
    expect_fail(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "b1", "--size", "32", "--out", out, NULL),
                "corrupt image", "b1/test/crack/001.png");
    EXPECT(access(out, F_OK) != 0);
    snprintf(p2, sizeof p2, "%s.tmp", out);
    EXPECT(access(p2, F_OK) != 0);
    /* --skip-bad drops it with a warning */
    EXPECT(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "b1", "--size", "32", "--out", out, "--skip-bad", NULL) == 0);
    check_ingested(out, root, "b1", 32, 6, 4, 1);
    remove(out);
    /* truncated image */
    EXPECT(fx_make_tree(root, "b2") == 0);
    snprintf(p, sizeof p, "%s/b2/train/good/003.png", root);
    EXPECT(truncate(p, 60) == 0);
    expect_fail(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "b2", "--size", "32", "--out", out, NULL),
                "truncated image", "b2/train/good/003.png");
    /* mask of the wrong size */
    EXPECT(fx_make_tree(root, "b3") == 0);
    EXPECT(fx_write_mask(root, "b3/ground_truth/hole/000_mask.png", 20, 18, 1, 0, 0, 5, 5) == 0);
    expect_fail(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "b3", "--size", "32", "--out", out, NULL),
                "mask size", "000_mask.png: mask is 20x18");
    /* defect image without a mask while others have masks */
    EXPECT(fx_make_tree(root, "b4") == 0);
    snprintf(p, sizeof p, "%s/b4/ground_truth/crack/001_mask.png", root);
    remove(p);
    expect_fail(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "b4", "--size", "32", "--out", out, NULL),
                "missing mask", "test/crack/001.png: defect image without a mask");
    /* empty training split */
    EXPECT(fx_make_tree(root, "b5") == 0);
    snprintf(p, sizeof p, "rm -f %s/b5/train/good/*.png %s/b5/train/good/*.jpg", root, root);
    EXPECT(system(p) == 0);
    expect_fail(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "b5", "--size", "32", "--out", out, NULL),
                "empty train", "training split is empty");
    /* missing train folder, empty test folder */
    EXPECT(fx_make_tree(root, "b6") == 0);
    snprintf(p, sizeof p, "rm -rf %s/b6/train", root);
    EXPECT(system(p) == 0);
    expect_fail(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "b6", "--size", "32", "--out", out, NULL),
                "missing train", "b6/train/good");
    EXPECT(fx_make_tree(root, "b7") == 0);
    snprintf(p, sizeof p, "rm -f %s/b7/test/good/*", root);
    EXPECT(system(p) == 0);
    expect_fail(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "b7", "--size", "32", "--out", out, NULL),
                "empty test folder", "b7/test/good: empty test folder");
    EXPECT(access(out, F_OK) != 0);
    /* usage errors */
    EXPECT(fx_run(sn_cmd_ingest, "ingest", "--root", root, NULL) == SN_EXIT_USAGE);
}

static void check_bad_files(void)
{
    char p[600];
    /* foreign HDF5 file */
    snprintf(p, sizeof p, "%s/foreign.h5", tmp);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d = 4;
    hid_t s = H5Screate_simple(1, &d, NULL);
    hid_t ds = H5Dcreate2(f, "x", H5T_NATIVE_INT, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(s);
    H5Fclose(f);
    expect_fail(fx_run(sn_cmd_info, "info", p, NULL), "foreign file", "not written by sernet");
    sn_dataset *dset = NULL;
    EXPECT(sn_dataset_open(p, NULL, MPI_COMM_WORLD, &dset) == SN_EFORMAT);
    EXPECT(strstr(sn_err_msg(), "not a sernet dataset") != NULL);
    sn_err_clear();
    /* not HDF5 at all */
    snprintf(p, sizeof p, "%s/text.h5", tmp);
    FILE *t = fopen(p, "w");
    if (t) {
        fputs("just some text\n", t);
        fclose(t);
    }
    expect_fail(fx_run(sn_cmd_info, "info", p, NULL), "text file", "not an HDF5 file");
    /* a truncated dataset file */
    char src[600], cmd[1400];
    snprintf(src, sizeof src, "%s/cat.h5", tmp);
    snprintf(p, sizeof p, "%s/trunc.h5", tmp);
    snprintf(cmd, sizeof cmd, "head -c 3000 %s > %s", src, p);
    EXPECT(system(cmd) == 0);
    EXPECT(fx_run(sn_cmd_info, "info", "--check", p, NULL) == SN_EXIT_FAIL);
    EXPECT(strstr(sn_err_msg(), "trunc.h5") != NULL);
    sn_err_clear();
    /* a dataset file of another version */
    snprintf(p, sizeof p, "%s/v2.h5", tmp);
    snprintf(cmd, sizeof cmd, "cp %s %s", src, p);
    EXPECT(system(cmd) == 0);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    long long v = 99;
    H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    H5Fclose(f);
    EXPECT(sn_dataset_open(p, NULL, MPI_COMM_WORLD, &dset) == SN_EFORMAT);
    EXPECT_MSG(strstr(sn_err_msg(), "version 99") != NULL, "%s", sn_err_msg());
    sn_err_clear();
    /* missing file */
    snprintf(p, sizeof p, "%s/none.h5", tmp);
    EXPECT(sn_dataset_open(p, NULL, MPI_COMM_WORLD, &dset) == SN_EIO);
    EXPECT(strstr(sn_err_msg(), "none.h5") != NULL);
    sn_err_clear();
    /* a category that is not there */
    snprintf(p, sizeof p, "%s/cat.h5", tmp);
    EXPECT(sn_dataset_open(p, "dog", MPI_COMM_WORLD, &dset) == SN_EINVAL);
    EXPECT(strstr(sn_err_msg(), "no category 'dog'") != NULL);
    sn_err_clear();
}

static void check_synth_file(void)
{
    char a[600], b[600], cmd[1400];
    snprintf(a, sizeof a, "%s/s1.h5", tmp);
    snprintf(b, sizeof b, "%s/s2.h5", tmp);
    EXPECT(fx_run(sn_cmd_synth, "synth", "--out", a, "--size", "32", "--seed", "3", NULL) == 0);
    EXPECT(fx_run(sn_cmd_synth, "synth", "--out", b, "--size", "32", "--seed", "3", NULL) == 0);
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    EXPECT_MSG(system(cmd) == 0, "same seed, same bytes");
    sn_dataset *ds = NULL;
    EXPECT(sn_dataset_open(a, NULL, MPI_COMM_WORLD, &ds) == SN_EINVAL); /* two categories */
    sn_err_clear();
    EXPECT(sn_dataset_open(a, "flange", MPI_COMM_WORLD, &ds) == SN_OK);
    if (ds) {
        int64_t i = sn_dataset_count(ds, SN_SPLIT_TEST) - 1;
        uint8_t raw[32 * 32 * 3], ref[32 * 32 * 3], mref[32 * 32];
        float m[32 * 32];
        EXPECT(sn_dataset_read(ds, SN_SPLIT_TEST, &i, 1, NULL, m, raw) == SN_OK);
        EXPECT(sn_synth_render(1, 1, i, 32, 3, ref, mref) == SN_OK);
        EXPECT(memcmp(raw, ref, sizeof raw) == 0);
        int bad = 0;
        for (int k = 0; k < 32 * 32; k++)
            bad += (m[k] != 0) != mref[k];
        EXPECT(bad == 0);
        EXPECT(sn_dataset_label(ds, i) == 1);
        /* Training reads float tensors (sn_dataset_read), inference reads bytes and converts
         * them in sn_infer_batch (sn_tensor_from_u8_hwc): the same image must give the same
         * tensor bit for bit, and every value must be v / 255.0f exactly. */
        int64_t t = 2;
        float train_x[3 * 32 * 32], infer_x[3 * 32 * 32];
        EXPECT(sn_dataset_read(ds, SN_SPLIT_TRAIN, &t, 1, train_x, NULL, NULL) == SN_OK);
        EXPECT(sn_dataset_read(ds, SN_SPLIT_TRAIN, &t, 1, NULL, NULL, raw) == SN_OK);
        sn_tensor_from_u8_hwc(raw, 1, 32, infer_x);
        EXPECT_MSG(memcmp(train_x, infer_x, sizeof train_x) == 0, "training and inference tensors differ");
        int off = 0;
        for (int k = 0; k < 32 * 32; k++)
            for (int c = 0; c < 3; c++)
                off += train_x[c * 32 * 32 + k] != (float)raw[3 * k + c] / 255.0f;
        EXPECT_MSG(off == 0, "pixel conversion is not v / 255.0f");
        uint8_t all[16 * 16 * 3];
        float allf[3 * 16 * 16];
        for (int k = 0; k < 16 * 16 * 3; k++)
            all[k] = (uint8_t)((k / 3 + 85 * (k % 3)) & 255);
        sn_tensor_from_u8_hwc(all, 1, 16, allf);
        off = 0;
        for (int k = 0; k < 16 * 16; k++)
            for (int c = 0; c < 3; c++)
                off += allf[c * 256 + k] != (float)all[3 * k + c] / 255.0f;
        EXPECT_MSG(off == 0, "not every byte value converts to v / 255.0f");
        sn_dataset_close(ds);
    }
    snprintf(a, sizeof a, "%s/preview.png", tmp);
    EXPECT(fx_run(sn_cmd_synth, "synth", "--preview", a, "--size", "32", NULL) == 0);
    sn_image img;
    EXPECT(sn_image_read(a, &img) == SN_OK && img.c == 3 && img.w > 8 * 32);
    sn_image_free(&img);
}

/* The MPI-free readers (sn_dataset_open_local, sn_hashindex_load_local: what the embedding API
 * uses) give what the collective ones give, with the same checks; sn_format_identify tells the
 * kind of a file and records no error for a foreign one. Uses s1.h5 of check_synth_file. */
static void check_local_open(void)
{
    char a[600], p[600];
    snprintf(a, sizeof a, "%s/s1.h5", tmp);
    sn_dataset *g = NULL, *l = NULL;
    EXPECT(sn_dataset_open(a, "flange", MPI_COMM_WORLD, &g) == SN_OK);
    EXPECT(sn_dataset_open_local(a, "flange", &l) == SN_OK);
    if (g && l) {
        EXPECT(sn_dataset_image_size(l) == sn_dataset_image_size(g));
        for (int s = 0; s < 2; s++) {
            int64_t n = sn_dataset_count(g, s), b = -1, c = -1;
            EXPECT(sn_dataset_count(l, s) == n && n > 0);
            sn_dataset_shard(l, s, &b, &c);
            EXPECT_MSG(b == 0 && c == n, "local shard is the whole split: %lld + %lld of %lld",
                       (long long)b, (long long)c, (long long)n);
            for (int64_t i = 0; i < n; i++)
                EXPECT(strcmp(sn_dataset_name(l, s, i), sn_dataset_name(g, s, i)) == 0);
            const size_t px = (size_t)32 * 32 * 3;
            uint8_t *all = malloc(px * (size_t)n), *one = malloc(px);
            EXPECT(all && one);
            if (all && one) {
                EXPECT(sn_dataset_read_raw_range(l, s, 0, n, all) == SN_OK);
                int same = 1;
                for (int64_t i = 0; i < n; i++) {
                    EXPECT(sn_dataset_read(g, s, &i, 1, NULL, NULL, one) == SN_OK);
                    same &= memcmp(one, all + px * (size_t)i, px) == 0;
                }
                EXPECT_MSG(same, "split %d: range read differs from the item reads", s);
                EXPECT(sn_dataset_read_raw_range(l, s, n - 1, 2, all) == SN_EINVAL);
                EXPECT(strstr(sn_err_msg(), "outside the") != NULL);
                sn_err_clear();
            }
            free(all);
            free(one);
        }
        EXPECT(sn_dataset_n_defect_types(l) == sn_dataset_n_defect_types(g));
    }
    sn_dataset_close(l);
    sn_dataset_close(g);
    uint64_t *hg = NULL, *hl = NULL;
    int64_t ng = 0, nl = 0;
    EXPECT(sn_hashindex_load(a, "flange", MPI_COMM_WORLD, &hg, &ng) == SN_OK);
    EXPECT(sn_hashindex_load_local(a, "flange", &hl, &nl) == SN_OK);
    EXPECT(ng > 0 && nl == ng && hg && hl && memcmp(hg, hl, sizeof *hg * (size_t)ng) == 0);
    sn_free(hg);
    sn_free(hl);
    /* the same refusals as the collective reader */
    EXPECT(sn_dataset_open_local(a, "dog", &l) == SN_EINVAL && !l);
    EXPECT(strstr(sn_err_msg(), "no category 'dog'") != NULL);
    sn_err_clear();
    EXPECT(sn_dataset_open_local(a, NULL, &l) == SN_EINVAL && !l); /* two categories */
    sn_err_clear();
    snprintf(p, sizeof p, "%s/none.h5", tmp);
    EXPECT(sn_dataset_open_local(p, NULL, &l) == SN_EIO && strstr(sn_err_msg(), "none.h5"));
    sn_err_clear();
    /* identity: a dataset file, and a plain HDF5 file (no error recorded) */
    sn_h5file f;
    char *kind = NULL;
    int64_t ver = 0;
    EXPECT(sn_h5_open_local(&f, a) == SN_OK);
    EXPECT(sn_format_identify(&f, &kind, &ver) == 1 && kind && strcmp(kind, SN_DATASET_FORMAT) == 0 &&
           ver == SN_DATASET_VERSION);
    free(kind);
    sn_h5_close(&f);
    snprintf(p, sizeof p, "%s/plain.h5", tmp);
    hid_t h = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT(h >= 0);
    if (h >= 0)
        H5Fclose(h);
    EXPECT(sn_h5_open_local(&f, p) == SN_OK);
    kind = NULL;
    EXPECT(sn_format_identify(&f, &kind, &ver) == 0 && !kind && ver == -1);
    EXPECT_MSG(sn_err_msg()[0] == 0, "a look-up left an error: %s", sn_err_msg());
    sn_h5_close(&f);
    EXPECT(sn_dataset_open_local(p, NULL, &l) == SN_EFORMAT &&
           strstr(sn_err_msg(), "not a sernet dataset file"));
    sn_err_clear();
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    snprintf(tmp, sizeof tmp, "/tmp/sn_test_dataset_%ld", (long)getpid());
    mkdir(tmp, 0700);
    check_resize();
    check_shard();
    check_synth(64);
    check_synth(128);
    check_ingest();
    check_bad_files();
    check_synth_file();
    check_local_open();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmp);
    int rc = sn_test_finish();
    MPI_Finalize();
    return rc;
}
