/* sernet-bench results-diff: how far apart two results files of the same test split are (e.g.
 * float32 against bf16 inference, tools/bench/bench_bf16.sh). */
#include "bench/bench.h"
#include "sernet/h5util.h"
#include "sernet/results_format.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sernet-bench results-diff A.h5 B.h5\n"
    "Compare two complete results files of `sernet infer` over the same test split (same rows and\n"
    "image size): max and mean |A - B| of the image scores, anomaly maps and segmentation masks,\n"
    "the reconstructions in 8-bit levels, and the rows whose repair decision (repaired pixels > 0)\n"
    "differs. One process; prints one JSON line.\n";

typedef struct {
    double max, sum;
    size_t n;
} diff_acc;

static void acc_add(diff_acc *a, double d)
{
    a->max = d > a->max ? d : a->max;
    a->sum += d;
    a->n++;
}

/* Shape of dataset `path` of f (ndims entries). */
static sn_status shape(sn_h5file *f, const char *path, int ndims, hsize_t *dims)
{
    hid_t d = H5I_INVALID_HID;
    sn_status st = sn_h5_dataset_open(f, path, ndims, dims, &d);
    if (d >= 0)
        H5Dclose(d);
    return st;
}

static sn_status read_rows(sn_h5file *f, const char *path, int ndims, hid_t memtype, int64_t rows, void *buf)
{
    sn_status status = SN_OK;
    hsize_t dims[4];
    hid_t d = H5I_INVALID_HID;
    SN_TRY(sn_h5_dataset_open(f, path, ndims, dims, &d));
    SN_TRY(sn_h5_read_rows(f, d, path, memtype, 0, rows, buf));
done:
    if (d >= 0)
        H5Dclose(d);
    return status;
}

static sn_status results_diff(const char *pa, const char *pb)
{
    sn_status status = SN_OK;
    sn_h5file fa, fb;
    int oa = 0, ob = 0;
    float *a = NULL, *b = NULL;
    unsigned char *ua = NULL, *ub = NULL;
    int64_t *ra = NULL, *rb = NULL;
    memset(&fa, 0, sizeof fa);
    memset(&fb, 0, sizeof fb);
    SN_TRY(sn_h5_open_local(&fa, pa));
    oa = 1;
    SN_TRY(sn_h5_open_local(&fb, pb));
    ob = 1;
    hsize_t da[3], db[3];
    SN_TRY(shape(&fa, sn_results_col_name(SN_RES_MAPS), 3, da));
    SN_TRY(shape(&fb, sn_results_col_name(SN_RES_MAPS), 3, db));
    if (da[0] != db[0] || da[1] != db[1] || da[2] != db[2])
        SN_FAIL(SN_EINVAL, "%s has maps [%llu, %llu, %llu], %s [%llu, %llu, %llu]: not the same test split", pa,
                (unsigned long long)da[0], (unsigned long long)da[1], (unsigned long long)da[2], pb,
                (unsigned long long)db[0], (unsigned long long)db[1], (unsigned long long)db[2]);
    const int64_t m = (int64_t)da[0];
    const size_t px = (size_t)da[1] * da[2], n = (size_t)m * px;
    SN_ALLOC(a, n * sizeof(float), "maps");
    SN_ALLOC(b, n * sizeof(float), "maps");
    diff_acc sc = {0, 0, 0}, mp = {0, 0, 0}, sg = {0, 0, 0}, rc = {0, 0, 0};
    double map_mean = 0;
    SN_TRY(sn_h5_read_floats(&fa, sn_results_col_name(SN_RES_SCORES), (size_t)m, a));
    SN_TRY(sn_h5_read_floats(&fb, sn_results_col_name(SN_RES_SCORES), (size_t)m, b));
    for (int64_t i = 0; i < m; i++)
        acc_add(&sc, fabs((double)a[i] - b[i]));
    SN_TRY(sn_h5_read_floats(&fa, sn_results_col_name(SN_RES_MAPS), n, a));
    SN_TRY(sn_h5_read_floats(&fb, sn_results_col_name(SN_RES_MAPS), n, b));
    for (size_t i = 0; i < n; i++) {
        acc_add(&mp, fabs((double)a[i] - b[i]));
        map_mean += a[i];
    }
    SN_TRY(sn_h5_read_floats(&fa, sn_results_col_name(SN_RES_SEG), n, a));
    SN_TRY(sn_h5_read_floats(&fb, sn_results_col_name(SN_RES_SEG), n, b));
    for (size_t i = 0; i < n; i++)
        acc_add(&sg, fabs((double)a[i] - b[i]));
    SN_ALLOC(ua, 3 * n, "reconstructions");
    SN_ALLOC(ub, 3 * n, "reconstructions");
    SN_TRY(read_rows(&fa, sn_results_col_name(SN_RES_RECON), 4, H5T_NATIVE_UINT8, m, ua));
    SN_TRY(read_rows(&fb, sn_results_col_name(SN_RES_RECON), 4, H5T_NATIVE_UINT8, m, ub));
    for (size_t i = 0; i < 3 * n; i++)
        acc_add(&rc, abs((int)ua[i] - (int)ub[i]));
    SN_ALLOC(ra, (size_t)m * sizeof(int64_t), "repaired pixels");
    SN_ALLOC(rb, (size_t)m * sizeof(int64_t), "repaired pixels");
    SN_TRY(read_rows(&fa, sn_results_col_name(SN_RES_REPAIRED), 1, H5T_NATIVE_INT64, m, ra));
    SN_TRY(read_rows(&fb, sn_results_col_name(SN_RES_REPAIRED), 1, H5T_NATIVE_INT64, m, rb));
    int64_t decisions = 0, repaired_a = 0, repaired_b = 0;
    for (int64_t i = 0; i < m; i++) {
        decisions += (ra[i] > 0) != (rb[i] > 0);
        repaired_a += ra[i] > 0;
        repaired_b += rb[i] > 0;
    }
    printf("{\"a\": \"%s\", \"b\": \"%s\", \"rows\": %lld, \"size\": %llu, \"score_max_abs_diff\": %.6g, "
           "\"score_mean_abs_diff\": %.6g, \"map_max_abs_diff\": %.6g, \"map_mean_abs_diff\": %.6g, \"map_mean\": %.6g, "
           "\"seg_max_abs_diff\": %.6g, \"seg_mean_abs_diff\": %.6g, \"rec_max_level_diff\": %.0f, "
           "\"rec_mean_level_diff\": %.6g, \"repaired_rows_a\": %lld, \"repaired_rows_b\": %lld, "
           "\"repair_decisions_differ\": %lld}\n",
           pa, pb, (long long)m, (unsigned long long)da[1], sc.max, sc.sum / (double)sc.n, mp.max,
           mp.sum / (double)mp.n, map_mean / (double)n, sg.max, sg.sum / (double)sg.n, rc.max, rc.sum / (double)rc.n,
           (long long)repaired_a, (long long)repaired_b, (long long)decisions);
done:
    sn_free(a);
    sn_free(b);
    sn_free(ua);
    sn_free(ub);
    sn_free(ra);
    sn_free(rb);
    if (oa)
        sn_h5_close(&fa);
    if (ob)
        sn_h5_close(&fb);
    return status;
}

int sn_cmd_results_diff(int argc, char **argv)
{
    int pos = 0;
    const sn_cli_opt opts[] = {SN_OPT_END};
    int rc = sn_cli_parse("results-diff", usage, argc, argv, opts, NULL, &pos);
    if (rc)
        return sn_cli_parse_exit(rc);
    if (argc - pos != 2)
        return sn_cli_usage_error("results-diff", usage, "expected two results files, got %d arguments", argc - pos);
    if (sn_cli_rank() != 0)
        return SN_EXIT_OK;
    if (results_diff(argv[pos], argv[pos + 1]) != SN_OK)
        return sn_cli_fail("results-diff");
    return SN_EXIT_OK;
}
