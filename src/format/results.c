/* The results file format (src/include/sernet/results_format.h; docs/formats.md "Results
 * files"): the row datasets and their types, the identity attributes, row checksums, and the
 * create, identify and open-and-check functions used by `sernet infer` (src/infer/run.c) and
 * the readers (eval, export, report, info). */
#include "sernet/results_format.h"
#include "sernet/dist.h"
#include "sernet/fsutil.h"
#include "sernet/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int planes; /* per-row shape: 0 scalar, 1 [S,S], 3 [S,S,3] */
} COLS_NAMES[SN_RES_N_COLS] = {
    {"/scores", 0},   {"/maps", 1},     {"/seg_masks", 1},       {"/repair_masks", 1},
    {"/reconstructions", 3}, {"/neighbor", 0}, {"/neighbor_distance", 0}, {"/repaired_pixels", 0},
    {"/checksums", 0}, {"/done", 0}, {"/normalized_scores", 0}, {"/verdicts", 0},
};

const char *sn_results_col_name(sn_results_col c)
{
    SN_ASSERT(c >= 0 && c < SN_RES_N_COLS);
    return COLS_NAMES[c].name;
}

int sn_results_col_ndims(sn_results_col c)
{
    SN_ASSERT(c >= 0 && c < SN_RES_N_COLS);
    return COLS_NAMES[c].planes == 0 ? 1 : (COLS_NAMES[c].planes == 1 ? 3 : 4);
}

static hid_t file_type(sn_results_col c)
{
    switch (c) {
    case SN_RES_SCORES: case SN_RES_MAPS: case SN_RES_SEG: case SN_RES_NORMALIZED:
        return H5T_IEEE_F32LE;
    case SN_RES_REPAIR: case SN_RES_RECON: case SN_RES_DONE: case SN_RES_VERDICTS:
        return H5T_STD_U8LE;
    case SN_RES_NEIGHBOR: case SN_RES_REPAIRED: return H5T_STD_I64LE;
    case SN_RES_CHECKSUMS: return H5T_STD_U64LE;
    default: return H5T_STD_I32LE;
    }
}

hid_t sn_results_col_mem_type(sn_results_col c)
{
    switch (c) {
    case SN_RES_SCORES: case SN_RES_MAPS: case SN_RES_SEG: case SN_RES_NORMALIZED:
        return H5T_NATIVE_FLOAT;
    case SN_RES_REPAIR: case SN_RES_RECON: case SN_RES_DONE: case SN_RES_VERDICTS:
        return H5T_NATIVE_UINT8;
    case SN_RES_NEIGHBOR: case SN_RES_REPAIRED: return H5T_NATIVE_INT64;
    case SN_RES_CHECKSUMS: return H5T_NATIVE_UINT64;
    default: return H5T_NATIVE_INT32;
    }
}

const char *sn_results_metrics_path(char *buf, size_t cap, const char *item)
{
    snprintf(buf, cap, "%s/%s", SN_RESULTS_METRICS, item);
    return buf;
}

sn_status sn_results_metrics_begin(sn_h5file *f, const char *results)
{
    sn_status status = SN_OK;
    hid_t g = H5I_INVALID_HID, gcpl = H5I_INVALID_HID;
    memset(f, 0, sizeof *f);
    f->id = H5I_INVALID_HID;
    f->comm = MPI_COMM_SELF;
    SN_TRY(sn_tmp_name(results, SN_TMP_PRIVATE, f->tmp, sizeof f->tmp));
    int k = snprintf(f->path, sizeof f->path, "%s", f->tmp);
    if (k < 0 || (size_t)k >= sizeof f->path)
        SN_FAIL(SN_EINVAL, "%s: path too long", results);
    SN_TRY(sn_copy_file(results, f->tmp));
    f->id = H5Fopen(f->tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f->id < 0)
        SN_FAIL(SN_EIO, "%s: cannot open the copy of %s for writing: %s", f->tmp, results,
                sn_h5_detail());
    if (sn_h5_exists(f, SN_RESULTS_METRICS) && H5Ldelete(f->id, SN_RESULTS_METRICS, H5P_DEFAULT) < 0)
        SN_FAIL(SN_EIO, "%s: cannot remove the old %s: %s", f->tmp, SN_RESULTS_METRICS, sn_h5_detail());
    gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0 || H5Pset_obj_track_times(gcpl, 0) < 0)
        SN_FAIL(SN_EIO, "%s: group properties: %s", f->tmp, sn_h5_detail());
    g = H5Gcreate2(f->id, SN_RESULTS_METRICS, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (g < 0)
        SN_FAIL(SN_EIO, "%s: cannot create %s: %s", f->tmp, SN_RESULTS_METRICS, sn_h5_detail());
    SN_TRY(sn_h5_attr_set_str(f, SN_RESULTS_METRICS, "format", SN_METRICS_FORMAT));
    SN_TRY(sn_h5_attr_set_int(f, SN_RESULTS_METRICS, "format_version", SN_METRICS_VERSION));
done:
    if (g >= 0)
        H5Gclose(g);
    if (gcpl >= 0)
        H5Pclose(gcpl);
    if (status != SN_OK) {
        if (f->id >= 0)
            H5Fclose(f->id);
        f->id = H5I_INVALID_HID;
        if (f->tmp[0])
            remove(f->tmp);
    }
    return status;
}

sn_status sn_results_metrics_finish(sn_h5file *f, const char *results, sn_status status)
{
    if (f->id >= 0) {
        if (H5Fclose(f->id) < 0 && status == SN_OK)
            status = SN_ERR(SN_EIO, "%s: closing failed: %s", f->tmp, sn_h5_detail());
        f->id = H5I_INVALID_HID;
    }
    if (status == SN_OK)
        status = sn_rename_into_place(f->tmp, results);
    if (status != SN_OK && f->tmp[0])
        remove(f->tmp);
    return status;
}

void sn_results_data_fingerprint(const sn_dataset *ds, char out[17])
{
    uint64_t h = SN_FNV_OFFSET;
    const char *cat = sn_dataset_category(ds);
    int64_t v[3] = {sn_dataset_image_size(ds), sn_dataset_count(ds, SN_SPLIT_TRAIN),
                    sn_dataset_count(ds, SN_SPLIT_TEST)};
    h = sn_fnv1a(h, cat, strlen(cat) + 1);
    h = sn_fnv1a(h, v, sizeof v);
    for (int64_t i = 0; i < v[2]; i++) {
        const char *name = sn_dataset_name(ds, SN_SPLIT_TEST, i);
        h = sn_fnv1a(h, name, strlen(name) + 1);
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

uint64_t sn_results_row_checksum(int s, float score, const float *map, const float *seg,
                                 const uint8_t *repair, const uint8_t *recon, int64_t nbr,
                                 int32_t dist, int64_t repaired)
{
    const size_t plane = (size_t)s * s;
    uint64_t h = SN_FNV_OFFSET;
    h = sn_fnv1a(h, &score, sizeof score);
    h = sn_fnv1a(h, map, plane * sizeof *map);
    h = sn_fnv1a(h, seg, plane * sizeof *seg);
    h = sn_fnv1a(h, repair, plane);
    h = sn_fnv1a(h, recon, plane * 3);
    h = sn_fnv1a(h, &nbr, sizeof nbr);
    h = sn_fnv1a(h, &dist, sizeof dist);
    h = sn_fnv1a(h, &repaired, sizeof repaired);
    return h;
}

/* ---- writing --------------------------------------------------------------------------------- */

sn_status sn_results_create(sn_h5file *f, const char *path, MPI_Comm comm, const sn_results_info *in,
                            hid_t d[SN_RES_N_ROWS])
{
    sn_status status = SN_OK;
    const int s = in->s;
    SN_TRY(sn_h5_create(f, path, 1, comm));
    f->no_checksums = 1; /* rows carry their own checksums (/checksums) */
    SN_TRY(sn_h5_provenance(f, in->cfg));
    SN_TRY(sn_h5_attr_set_str(f, "/", "format", SN_RESULTS_FORMAT));
    SN_TRY(sn_h5_attr_set_int(f, "/", "format_version", SN_RESULTS_VERSION));
    SN_TRY(sn_h5_attr_set_int(f, "/", "complete", 0));
    SN_TRY(sn_h5_attr_set_str(f, "/", "model", in->model));
    SN_TRY(sn_h5_attr_set_str(f, "/", "model_fingerprint", in->model_fingerprint));
    SN_TRY(sn_h5_attr_set_str(f, "/", "data", in->data));
    SN_TRY(sn_h5_attr_set_str(f, "/", "data_fingerprint", in->data_fingerprint));
    SN_TRY(sn_h5_attr_set_str(f, "/", "category", in->category));
    SN_TRY(sn_h5_attr_set_int(f, "/", "image_size", s));
    SN_TRY(sn_h5_attr_set_int(f, "/", "n_test", in->m));
    SN_TRY(sn_h5_attr_set_double(f, "/", "tau", in->tau));
    SN_TRY(sn_h5_attr_set_int(f, "/", "min_area", in->min_area));
    SN_TRY(sn_h5_attr_set_int(f, "/", "ranks", in->ranks));
    SN_TRY(sn_h5_attr_set_int(f, "/", "batch", in->batch));
    /* tiling: 0 = none; else the tile side (the model's S) and the least overlap */
    SN_TRY(sn_h5_attr_set_int(f, "/", "tile", in->tile));
    SN_TRY(sn_h5_attr_set_int(f, "/", "tile_overlap", in->tile_overlap));
    if (in->tile) {
        SN_TRY(sn_h5_attr_set_str(f, "/", "train_data", in->train_data));
        SN_TRY(sn_h5_attr_set_str(f, "/", "train_fingerprint", in->train_fingerprint));
    }
    for (int i = 0; i < SN_RES_N_ROWS; i++) {
        hsize_t dims[4] = {(hsize_t)in->m, (hsize_t)s, (hsize_t)s, 3};
        hsize_t chunk[4] = {1, (hsize_t)s, (hsize_t)s, 3};
        int nd = sn_results_col_ndims(i);
        /* an empty test split still gets its (empty) datasets */
        SN_TRY(sn_h5_dataset_create(f, COLS_NAMES[i].name, file_type(i), nd, dims,
                                    nd > 1 && in->m > 0 ? chunk : NULL, &d[i]));
    }
    /* the file's structure reaches the disk before any row, so a killed run leaves a readable file */
    SN_TRY(sn_h5_flush(f));
done:
    return status;
}

sn_status sn_results_write_verdict_attrs(sn_h5file *f, double image_threshold,
                                         double pixel_threshold, const char *source, int64_t defects)
{
    sn_status status = SN_OK;
    SN_TRY(sn_h5_attr_set_double(f, "/", "image_threshold", image_threshold));
    SN_TRY(sn_h5_attr_set_double(f, "/", "pixel_threshold", pixel_threshold));
    SN_TRY(sn_h5_attr_set_str(f, "/", "thresholds_source", source));
    SN_TRY(sn_h5_attr_set_int(f, "/", "defects", defects));
done:
    return status;
}

sn_status sn_results_write_complete(sn_h5file *f, int64_t repaired_images, int64_t repaired_pixels,
                                    int64_t repaired_most, int ranks)
{
    sn_status status = SN_OK;
    SN_TRY(sn_h5_attr_set_int(f, "/", "repaired_images", repaired_images));
    SN_TRY(sn_h5_attr_set_int(f, "/", "repaired_pixels", repaired_pixels));
    SN_TRY(sn_h5_attr_set_int(f, "/", "repaired_most", repaired_most));
    SN_TRY(sn_h5_attr_set_int(f, "/", "ranks", ranks));
    SN_TRY(sn_h5_attr_set_int(f, "/", "complete", 1));
done:
    return status;
}

/* ---- reading --------------------------------------------------------------------------------- */

sn_status sn_results_open_col(sn_h5file *f, sn_results_col c, int64_t m, int s, hid_t *d)
{
    sn_status status = SN_OK;
    hsize_t dims[4] = {0, 0, 0, 0};
    const int nd = sn_results_col_ndims(c);
    *d = H5I_INVALID_HID;
    SN_TRY(sn_h5_dataset_open(f, COLS_NAMES[c].name, nd, dims, d));
    if ((int64_t)dims[0] != m || (nd > 1 && (dims[1] != (hsize_t)s || dims[2] != (hsize_t)s)) ||
        (nd == 4 && dims[3] != 3))
        SN_FAIL(SN_EFORMAT, "%s: dataset %s has the wrong shape (expected %lld rows%s%s)",
                f->writing ? f->tmp : f->path, COLS_NAMES[c].name, (long long)m,
                nd > 1 ? " of S x S" : "", nd == 4 ? " x 3" : "");
done:
    if (status != SN_OK && *d >= 0) {
        H5Dclose(*d);
        *d = H5I_INVALID_HID;
    }
    return status;
}

sn_status sn_results_read_col(sn_h5file *f, hid_t d, sn_results_col c, int64_t row0, int64_t n,
                              void *buf)
{
    return sn_h5_read_rows(f, d, COLS_NAMES[c].name, sn_results_col_mem_type(c), row0, n, buf);
}

sn_status sn_results_open_rows(sn_h5file *f, int64_t m, int s, hid_t d[SN_RES_N_ROWS])
{
    sn_status status = SN_OK;
    for (int i = 0; i < SN_RES_N_ROWS; i++)
        SN_TRY(sn_results_open_col(f, i, m, s, &d[i]));
done:
    return status;
}

sn_status sn_results_read_header(sn_h5file *f, const char *shown, int need_complete,
                                 sn_results_header *h)
{
    sn_status status = SN_OK;
    char *fmt = NULL, *cat = NULL, *model = NULL, *fp = NULL;
    int64_t v = 0, s = 0, m = 0;
    memset(h, 0, sizeof *h);
    /* NULL when absent: the message says so */
    if (!sn_h5_attr_opt_str(f, "/", "format", &fmt) || strcmp(fmt, SN_RESULTS_FORMAT) != 0)
        SN_FAIL(SN_EFORMAT, "%s: not a sernet results file (root attribute format is '%s', expected "
                "'%s': not a results file of `sernet infer`)", shown, fmt ? fmt : "missing",
                SN_RESULTS_FORMAT);
    SN_TRY(sn_h5_attr_get_int(f, "/", "format_version", &v));
    if (v != SN_RESULTS_VERSION)
        SN_FAIL(SN_EFORMAT, "%s: results file version %lld, this program reads version %d", shown,
                (long long)v, SN_RESULTS_VERSION);
    SN_TRY(sn_h5_attr_get_int(f, "/", "complete", &v));
    if (need_complete && v != 1)
        SN_FAIL(SN_EFORMAT, "%s: incomplete results file (attribute complete = %lld, expected 1): "
                "sernet infer did not finish, the file is not complete; run it again with --resume",
                shown, (long long)v);
    h->complete = v == 1;
    SN_TRY(sn_h5_attr_get_str(f, "/", "category", &cat));
    SN_TRY(sn_h5_attr_get_int(f, "/", "image_size", &s));
    SN_TRY(sn_h5_attr_get_int(f, "/", "n_test", &m));
    if (s < 1 || s > 32768 || m < 0)
        SN_FAIL(SN_EFORMAT, "%s: image_size %lld / n_test %lld out of range", shown, (long long)s,
                (long long)m);
    snprintf(h->category, sizeof h->category, "%s", cat);
    h->s = (int)s;
    h->m = m;
    if (sn_h5_attr_opt_str(f, "/", "model", &model))
        snprintf(h->model, sizeof h->model, "%s", model);
    if (sn_h5_attr_opt_str(f, "/", "model_fingerprint", &fp))
        snprintf(h->model_fingerprint, sizeof h->model_fingerprint, "%s", fp);
    h->batch = -1;
    sn_h5_attr_opt_int(f, "/", "batch", &h->batch);
    /* files from before tiling have no tile attributes: untiled */
    int64_t tile = 0, overlap = 0;
    if (sn_h5_attr_exists(f, "/", "tile"))
        SN_TRY(sn_h5_attr_get_int(f, "/", "tile", &tile));
    if (sn_h5_attr_exists(f, "/", "tile_overlap"))
        SN_TRY(sn_h5_attr_get_int(f, "/", "tile_overlap", &overlap));
    if (tile < 0 || tile > 32768 || overlap < 0 || overlap > 32768)
        SN_FAIL(SN_EFORMAT, "%s: tile %lld / tile_overlap %lld out of range", shown, (long long)tile,
                (long long)overlap);
    h->tile = (int)tile;
    h->tile_overlap = (int)overlap;
    if (h->tile) {
        char *td = NULL, *tf = NULL;
        if (sn_h5_attr_opt_str(f, "/", "train_data", &td) &&
            sn_h5_attr_opt_str(f, "/", "train_fingerprint", &tf)) {
            snprintf(h->train_data, sizeof h->train_data, "%s", td);
            snprintf(h->train_fingerprint, sizeof h->train_fingerprint, "%s", tf);
            h->has_train_id = 1;
        }
        free(td);
        free(tf);
    }
done:
    free(fmt);
    free(cat);
    free(model);
    free(fp);
    return status;
}

sn_status sn_results_check_dataset(sn_h5file *f, const char *shown, const sn_results_header *h,
                                   const sn_dataset *ds)
{
    sn_status status = SN_OK;
    char *fp = NULL, want[17];
    const int s = sn_dataset_image_size(ds);
    const int64_t m = sn_dataset_count(ds, SN_SPLIT_TEST);
    const char *dpath = sn_dataset_file((sn_dataset *)ds)->path;
    if (strcmp(h->category, sn_dataset_category(ds)) != 0 || s != h->s || m != h->m)
        SN_FAIL(SN_EINVAL, "%s does not match dataset %s: results for category '%s' (%lld test "
                "images of %d px), but the dataset has category '%s' (%lld test images of %d px)",
                shown, dpath, h->category, (long long)h->m, h->s, sn_dataset_category(ds),
                (long long)m, s);
    SN_TRY(sn_h5_attr_get_str(f, "/", "data_fingerprint", &fp));
    sn_results_data_fingerprint(ds, want);
    if (strcmp(fp, want) != 0)
        SN_FAIL(SN_EINVAL, "%s does not match dataset %s: results were made from another dataset "
                "(data_fingerprint %s, this dataset's is %s: other test images or names)", shown,
                dpath, fp, want);
done:
    free(fp);
    return status;
}

sn_status sn_results_identify(const char *path, MPI_Comm comm, sn_results_header *h)
{
    sn_h5file f;
    sn_status status = sn_h5_open(&f, path, comm);
    if (status != SN_OK)
        return status;
    status = sn_dist_agree(sn_results_read_header(&f, path, 1, h), comm);
    sn_h5_close(&f);
    return status;
}

sn_status sn_results_verify_rows(sn_h5file *f, const char *shown, int s, int64_t begin,
                                 int64_t count, const uint8_t *want, int64_t *bad)
{
    sn_status status = SN_OK;
    hid_t d[SN_RES_N_ROWS];
    const size_t plane = (size_t)s * s;
    float score, *map = NULL, *seg = NULL;
    uint8_t *repair = NULL, *recon = NULL;
    for (int i = 0; i < SN_RES_N_ROWS; i++)
        d[i] = H5I_INVALID_HID;
    *bad = -1;
    SN_ALLOC(map, plane, "map row");
    SN_ALLOC(seg, plane, "mask row");
    SN_ALLOC(repair, plane, "repair row");
    SN_ALLOC(recon, plane * 3, "reconstruction row");
    for (int i = 0; i < SN_RES_N_ROWS; i++) {
        /* the row shape must be the one the buffers hold: a row is read whole */
        hsize_t dims[4];
        int nd = sn_results_col_ndims(i);
        SN_TRY(sn_h5_dataset_open(f, COLS_NAMES[i].name, nd, dims, &d[i]));
        if (nd > 1 && (dims[1] != (hsize_t)s || dims[2] != (hsize_t)s || (nd == 4 && dims[3] != 3)))
            SN_FAIL(SN_EFORMAT, "%s: dataset %s has rows of the wrong shape (expected %d x %d%s)",
                    shown, COLS_NAMES[i].name, s, s, nd == 4 ? " x 3" : "");
    }
    for (int64_t r = begin; r < begin + count; r++) {
        if (want && !want[r - begin])
            continue;
        int64_t nbr, repaired;
        int32_t dist;
        uint64_t stored;
        void *dst[SN_RES_N_ROWS] = {&score, map, seg, repair, recon, &nbr, &dist, &repaired, &stored,
                                    NULL};
        for (int i = 0; i < SN_RES_DONE; i++)
            SN_TRY(sn_results_read_col(f, d[i], i, r, 1, dst[i]));
        if (sn_results_row_checksum(s, score, map, seg, repair, recon, nbr, dist, repaired) != stored) {
            *bad = r;
            SN_FAIL(SN_EFORMAT, "%s: row %lld is damaged (its data do not match /checksums[%lld])",
                    shown, (long long)r, (long long)r);
        }
    }
done:
    for (int i = 0; i < SN_RES_N_ROWS; i++)
        if (d[i] >= 0)
            H5Dclose(d[i]);
    sn_free(map);
    sn_free(seg);
    sn_free(repair);
    sn_free(recon);
    return status;
}

/* Header and dataset check of an open file (local). */
static sn_status check_local(sn_h5file *f, const char *path, const sn_dataset *ds)
{
    sn_status status = SN_OK;
    sn_results_header h;
    SN_TRY(sn_results_read_header(f, path, 1, &h));
    SN_TRY(sn_results_check_dataset(f, path, &h, ds));
done:
    return status;
}

sn_status sn_results_open(sn_h5file *f, const char *path, const sn_dataset *ds, MPI_Comm comm)
{
    sn_status status = sn_h5_open(f, path, comm);
    if (status != SN_OK)
        return status;
    status = sn_dist_agree(check_local(f, path, ds), comm);
    if (status == SN_OK) {
        /* every rank verifies the row checksums of its shard */
        int64_t begin, count, bad;
        sn_dist_shard(sn_dataset_count(ds, SN_SPLIT_TEST), sn_dist_rank(comm), sn_dist_size(comm),
                      &begin, &count);
        status = sn_dist_agree(sn_results_verify_rows(f, path, sn_dataset_image_size(ds), begin,
                                                      count, NULL, &bad), comm);
    }
    if (status != SN_OK)
        sn_h5_close(f);
    return status;
}
