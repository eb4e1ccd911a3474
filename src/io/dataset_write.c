/* Dataset file writer (see dataset_write.h and docs/formats.md). Items are sharded over ranks
 * with sn_dist_shard; in each round every rank produces up to ROUND items of its shard, the ranks
 * agree on success, then write their rows with one collective hyperslab write per dataset. The
 * bytes of every dataset depend only on the items, never on the number of ranks. */
#include "io/dataset_write.h"

#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/hashindex.h"
#include "sernet/phash.h"
#include "sernet/h5util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUND 8

static size_t max_len(char **names, int64_t n)
{
    size_t m = 1;
    for (int64_t i = 0; i < n; i++)
        if (strlen(names[i]) + 1 > m)
            m = strlen(names[i]) + 1;
    return m;
}

/* A small dataset written whole by rank 0 (others select nothing). */
static sn_status write_small(sn_h5file *f, const char *path, hid_t ftype, hid_t mtype, int ndims,
                             const hsize_t *dims, const void *buf)
{
    sn_status status = SN_OK;
    hid_t d = H5I_INVALID_HID;
    SN_TRY(sn_h5_dataset_create(f, path, ftype, ndims, dims, NULL, &d));
    int r0 = sn_dist_rank(f->comm) == 0;
    SN_TRY(sn_h5_write_rows(f, d, path, mtype, 0, r0 ? (int64_t)dims[0] : 0, buf));
done:
    if (d >= 0)
        H5Dclose(d);
    return status;
}

static sn_status write_names(sn_h5file *f, const char *path, char **names, int64_t n)
{
    sn_status status = SN_OK;
    size_t len = max_len(names, n);
    char *buf = calloc((size_t)n, len);
    hid_t t = sn_h5_string_type(len);
    if (!buf || t < 0)
        SN_FAIL(SN_ENOMEM, "%s: names for %s", f->path, path);
    for (int64_t i = 0; i < n; i++)
        memcpy(buf + (size_t)i * len, names[i], strlen(names[i]));
    hsize_t dims[1] = {(hsize_t)n};
    SN_TRY(write_small(f, path, t, t, 1, dims, buf));
done:
    if (t >= 0)
        H5Tclose(t);
    free(buf);
    return status;
}

typedef struct {
    hid_t images, masks, orig;
    char images_name[300], masks_name[300], orig_name[300];
} split_dsets;

/* hashes (optional): receives the perceptual hash of each image of this rank's shard */
static sn_status write_split_pixels(sn_h5file *f, const split_dsets *d, int cat, int split,
                                    int64_t n, int size, sn_dsw_produce produce, void *ctx,
                                    uint64_t *hashes)
{
    sn_status status = SN_OK;
    int rank = sn_dist_rank(f->comm), nranks = sn_dist_size(f->comm);
    int64_t begin, count, maxcount, b1, c1;
    sn_dist_shard(n, rank, nranks, &begin, &count);
    sn_dist_shard(n, 0, nranks, &b1, &c1);
    maxcount = c1; /* rank 0 always holds the largest shard */
    size_t px = (size_t)size * size;
    uint8_t *img = NULL, *msk = NULL;
    int32_t *orig = NULL;
    SN_ALLOC(img, px * 3 * ROUND, "image rows");
    SN_ALLOC(orig, 2 * ROUND, "sizes");
    if (split == 1)
        SN_ALLOC(msk, px * ROUND, "mask rows");
    for (int64_t r0 = 0; r0 < maxcount; r0 += ROUND) {
        int64_t k = count - r0 < ROUND ? count - r0 : ROUND;
        if (k < 0)
            k = 0;
        sn_status local = SN_OK;
        for (int64_t j = 0; j < k && local == SN_OK; j++) {
            local = produce(ctx, cat, split, begin + r0 + j, img + px * 3 * j,
                            msk ? msk + px * j : NULL, orig + 2 * j);
            if (local == SN_OK && hashes)
                local = sn_phash_rgb8(img + px * 3 * j, size, size, 3, &hashes[r0 + j]);
        }
        SN_TRY(sn_dist_agree(local, f->comm));
        int64_t row = begin + r0 < n ? begin + r0 : n;
        sn_status w = sn_h5_write_rows(f, d->images, d->images_name, H5T_NATIVE_UINT8, row, k, img);
        if (w == SN_OK)
            w = sn_h5_write_rows(f, d->orig, d->orig_name, H5T_NATIVE_INT32, row, k, orig);
        if (w == SN_OK && msk)
            w = sn_h5_write_rows(f, d->masks, d->masks_name, H5T_NATIVE_UINT8, row, k, msk);
        SN_TRY(sn_dist_agree(w, f->comm));
    }
done:
    sn_free(img);
    sn_free(msk);
    sn_free(orig);
    return status;
}

static sn_status write_category(sn_h5file *f, const sn_dsw_category *c, int ci, int size,
                                sn_dsw_produce produce, void *ctx)
{
    sn_status status = SN_OK;
    char g[256], p[300];
    split_dsets d[2];
    uint64_t *hashes = NULL;
    hid_t hd_id = H5I_INVALID_HID;
    for (int s = 0; s < 2; s++)
        d[s].images = d[s].masks = d[s].orig = H5I_INVALID_HID;
    hsize_t S = (hsize_t)size;
    snprintf(g, sizeof g, "/%s", c->name);
    SN_TRY(sn_h5_group_create(f, g));
    SN_TRY(sn_h5_attr_set_int(f, g, "image_size", size));
    SN_TRY(sn_h5_attr_set_int(f, g, "n_train", c->n_train));
    SN_TRY(sn_h5_attr_set_int(f, g, "n_test", c->n_test));
    SN_TRY(sn_h5_attr_set_str(f, g, "source", c->source ? c->source : ""));
    for (int s = 0; s < 2; s++) {
        int64_t n = s == 0 ? c->n_train : c->n_test;
        if (n == 0)
            continue;
        const char *sp = s == 0 ? "train" : "test";
        snprintf(p, sizeof p, "%s/%s", g, sp);
        SN_TRY(sn_h5_group_create(f, p));
        snprintf(d[s].images_name, sizeof d[s].images_name, "%s/%s/images", g, sp);
        snprintf(d[s].masks_name, sizeof d[s].masks_name, "%s/%s/masks", g, sp);
        snprintf(d[s].orig_name, sizeof d[s].orig_name, "%s/%s/orig_size", g, sp);
        hsize_t dims[4] = {(hsize_t)n, S, S, 3}, chunk[4] = {1, S, S, 3};
        SN_TRY(sn_h5_dataset_create(f, d[s].images_name, H5T_STD_U8LE, 4, dims, chunk, &d[s].images));
        hsize_t odims[2] = {(hsize_t)n, 2};
        SN_TRY(sn_h5_dataset_create(f, d[s].orig_name, H5T_STD_I32LE, 2, odims, NULL, &d[s].orig));
        if (s == 1)
            SN_TRY(sn_h5_dataset_create(f, d[s].masks_name, H5T_STD_U8LE, 3, dims, chunk, &d[s].masks));
        snprintf(p, sizeof p, "%s/%s/names", g, sp);
        SN_TRY(write_names(f, p, s == 0 ? c->train_names : c->test_names, n));
        if (s == 1) {
            hsize_t nd[1] = {(hsize_t)n};
            snprintf(p, sizeof p, "%s/test/labels", g);
            SN_TRY(write_small(f, p, H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, nd, c->test_labels));
            snprintf(p, sizeof p, "%s/test/defect", g);
            SN_TRY(write_small(f, p, H5T_STD_I32LE, H5T_NATIVE_INT32, 1, nd, c->test_defect));
            snprintf(p, sizeof p, "%s/test/has_mask", g);
            SN_TRY(write_small(f, p, H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, nd, c->test_has_mask));
            snprintf(p, sizeof p, "%s/test/defect_types", g);
            SN_TRY(write_names(f, p, c->defect_types, c->n_defect_types));
        }
    }
    for (int s = 0; s < 2; s++) {
        int64_t n = s == 0 ? c->n_train : c->n_test;
        if (n == 0)
            continue;
        if (s == 0) {
            /* the training hash index is computed from the stored images as they are written */
            int64_t begin, count;
            sn_dist_shard(n, sn_dist_rank(f->comm), sn_dist_size(f->comm), &begin, &count);
            hashes = sn_alloc(sizeof(uint64_t) * (size_t)(count ? count : 1), "training hashes");
            SN_TRY(sn_dist_agree(hashes ? SN_OK : SN_ENOMEM, f->comm));
            SN_TRY(write_split_pixels(f, &d[s], ci, s, n, size, produce, ctx, hashes));
            hsize_t hd[1] = {(hsize_t)n};
            snprintf(p, sizeof p, "/%s/train/phash", c->name);
            SN_TRY(sn_h5_dataset_create(f, p, H5T_STD_U64LE, 1, hd, NULL, &hd_id));
            SN_TRY(sn_dist_agree(sn_h5_write_rows(f, hd_id, p, H5T_NATIVE_UINT64, begin, count, hashes),
                                 f->comm));
            SN_TRY(sn_h5_attr_set_str(f, p, "algorithm", sn_hashindex_algorithm()));
            SN_TRY(sn_h5_attr_set_int(f, p, "n_images", n));
        } else {
            SN_TRY(write_split_pixels(f, &d[s], ci, s, n, size, produce, ctx, NULL));
        }
    }
done:
    sn_free(hashes);
    if (hd_id >= 0)
        H5Dclose(hd_id);
    for (int s = 0; s < 2; s++) {
        if (d[s].images >= 0)
            H5Dclose(d[s].images);
        if (d[s].masks >= 0)
            H5Dclose(d[s].masks);
        if (d[s].orig >= 0)
            H5Dclose(d[s].orig);
    }
    return status;
}

sn_status sn_dsw_write(const char *path, int force, MPI_Comm comm, const sn_config *cfg, int size,
                       const char *source, const sn_dsw_category *cats, int ncats,
                       sn_dsw_produce produce, void *ctx)
{
    sn_status status = SN_OK;
    sn_h5file f;
    char *list = NULL;
    SN_TRY(sn_h5_create(&f, path, force, comm));
    size_t len = 1;
    for (int i = 0; i < ncats; i++)
        len += strlen(cats[i].name) + 1;
    list = calloc(len, 1);
    if (!list)
        SN_FAIL(SN_ENOMEM, "%s: category list", path);
    for (int i = 0; i < ncats; i++) {
        if (i)
            strcat(list, ",");
        strcat(list, cats[i].name);
    }
    SN_TRY(sn_h5_attr_set_str(&f, "/", "format", SN_DATASET_FORMAT));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "format_version", SN_DATASET_VERSION));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "categories", list));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "image_size", size));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "source", source ? source : ""));
    SN_TRY(sn_h5_provenance(&f, cfg));
    for (int i = 0; i < ncats; i++)
        SN_TRY(write_category(&f, &cats[i], i, size, produce, ctx));
done:
    free(list);
    if (f.id >= 0 || f.writing)
        status = sn_h5_finish(&f, status);
    return status;
}
