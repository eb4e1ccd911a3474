/* Training hashes in a dataset file: parallel build (each rank hashes its shard, collective
 * write under a temporary link name, then a rename) and load with a count check. */
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/h5util.h"
#include "sernet/hashindex.h"
#include "sernet/phash.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HASH_CHUNK 32 /* images read per hyperslab read while hashing */

static const char ALGORITHM[] =
    "ImageHash 4.3.1 phash (hash_size 8, highfreq_factor 4; Pillow 9.4 L + LANCZOS) of the stored "
    "SxS RGB training images";

const char *sn_hashindex_algorithm(void) { return ALGORITHM; }

/* Hash this rank's shard [begin, begin + count) of the training split. */
static sn_status hash_shard(sn_dataset *ds, int64_t begin, int64_t count, uint64_t *out)
{
    sn_status status = SN_OK;
    int S = sn_dataset_image_size(ds);
    size_t img_bytes = (size_t)S * S * 3;
    uint8_t *raw = NULL;
    int64_t idx[HASH_CHUNK];
    if (count == 0)
        return SN_OK;
    SN_ALLOC(raw, img_bytes * HASH_CHUNK, "phash image buffer");
    for (int64_t done_n = 0; done_n < count; done_n += HASH_CHUNK) {
        int k = (int)SN_MIN((int64_t)HASH_CHUNK, count - done_n);
        for (int j = 0; j < k; j++)
            idx[j] = begin + done_n + j;
        SN_TRY(sn_dataset_read(ds, SN_SPLIT_TRAIN, idx, k, NULL, NULL, raw));
        for (int j = 0; j < k; j++)
            SN_TRY(sn_phash_rgb8(raw + (size_t)j * img_bytes, S, S, 3, &out[done_n + j]));
    }
done:
    sn_free(raw);
    return status;
}

sn_status sn_hashindex_nearest_images(const uint64_t *hashes, int64_t nh, const uint8_t *images, int n,
                                      int S, int64_t *index, int *distance)
{
    sn_status status = SN_OK;
    uint64_t *q = NULL;
    if (n < 0 || S < 1 || (n > 0 && (!images || !index)))
        SN_FAIL(SN_EINVAL, "hash index: bad query images (%d of %d x %d)", n, S, S);
    if (nh < 1)
        SN_FAIL(SN_EINVAL, "empty hash index: nothing to search (%lld hashes)", (long long)nh);
    if (n == 0)
        goto done;
    SN_ALLOC(q, n, "query hashes");
    for (int i = 0; i < n; i++)
        SN_TRY(sn_phash_rgb8(images + (size_t)i * S * S * 3, S, S, 3, &q[i]));
    SN_TRY(sn_hashindex_nearest_many(hashes, nh, q, n, index, distance));
done:
    sn_free(q);
    return status;
}

/* Open an existing HDF5 file read-write over MPI-IO (collective). */
static sn_status open_rw(sn_h5file *f, const char *path, MPI_Comm comm)
{
    sn_status status = SN_OK;
    hid_t fapl = H5I_INVALID_HID;
    memset(f, 0, sizeof *f);
    f->id = H5I_INVALID_HID;
    f->comm = comm;
    snprintf(f->path, sizeof f->path, "%s", path);
    if (access(path, R_OK | W_OK) != 0)
        SN_FAIL(SN_EIO, "%s: cannot open for writing: %s", path, strerror(errno));
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0)
        SN_FAIL(SN_EIO, "%s: cannot set up MPI-IO file access: %s", path, sn_h5_detail());
    f->id = H5Fopen(path, H5F_ACC_RDWR, fapl);
    if (f->id < 0)
        SN_FAIL(SN_EIO, "%s: cannot open read-write: %s", path, sn_h5_detail());
done:
    if (fapl >= 0)
        H5Pclose(fapl);
    status = sn_dist_agree(status, comm);
    if (status != SN_OK && f->id >= 0) {
        H5Fclose(f->id);
        f->id = H5I_INVALID_HID;
    }
    return status;
}

sn_status sn_hashindex_build(const char *path, const char *category, int force, MPI_Comm comm,
                             int64_t *count)
{
    sn_status status = SN_OK;
    sn_dataset *ds = NULL;
    sn_h5file f = {.id = H5I_INVALID_HID};
    hid_t d = H5I_INVALID_HID;
    uint64_t *mine = NULL;
    char cat[256], final_name[512], partial[512];
    int64_t n = 0, begin = 0, nmine = 0;
    if (count)
        *count = 0;

    /* 1. hash this rank's shard */
    SN_TRY(sn_dataset_open(path, category, comm, &ds));
    snprintf(cat, sizeof cat, "%s", sn_dataset_category(ds));
    n = sn_dataset_count(ds, SN_SPLIT_TRAIN);
    sn_dataset_shard(ds, SN_SPLIT_TRAIN, &begin, &nmine);
    sn_status local = SN_OK;
    mine = sn_alloc(sizeof(uint64_t) * (size_t)(nmine ? nmine : 1), "phash shard");
    local = mine ? hash_shard(ds, begin, nmine, mine) : SN_ENOMEM;
    SN_TRY(sn_dist_agree(local, comm));
    sn_dataset_close(ds);
    ds = NULL;
    if (n < 1)
        SN_FAIL(SN_EFORMAT, "%s: category %s has no training images to index", path, cat);

    /* 2. write under a temporary link name, then rename */
    snprintf(final_name, sizeof final_name, "/%s/train/phash", cat);
    snprintf(partial, sizeof partial, "/%s/train/phash.partial", cat);
    SN_TRY(open_rw(&f, path, comm));
    local = SN_OK;
    if (sn_h5_exists(&f, final_name) && !force)
        local = SN_ERR(SN_EINVAL, "%s: %s already exists (use --force to recompute it)", path,
                       final_name);
    SN_TRY(sn_dist_agree(local, comm));
    /* link deletions and creations are collective metadata operations: every rank makes them */
    if (sn_h5_exists(&f, partial) && H5Ldelete(f.id, partial, H5P_DEFAULT) < 0)
        local = SN_ERR(SN_EIO, "%s: cannot remove stale %s: %s", path, partial, sn_h5_detail());
    SN_TRY(sn_dist_agree(local, comm));
    hsize_t dims[1] = {(hsize_t)n};
    local = sn_h5_dataset_create(&f, partial, H5T_STD_U64LE, 1, dims, NULL, &d);
    SN_TRY(sn_dist_agree(local, comm));
    local = sn_h5_write_rows(&f, d, partial, H5T_NATIVE_UINT64, begin, nmine, mine);
    SN_TRY(sn_dist_agree(local, comm));
    local = sn_h5_attr_set_str(&f, partial, "algorithm", ALGORITHM);
    if (local == SN_OK)
        local = sn_h5_attr_set_int(&f, partial, "n_images", n);
    SN_TRY(sn_dist_agree(local, comm));
    H5Dclose(d);
    d = H5I_INVALID_HID;
    if (sn_h5_exists(&f, final_name) && H5Ldelete(f.id, final_name, H5P_DEFAULT) < 0)
        local = SN_ERR(SN_EIO, "%s: cannot remove the old %s: %s", path, final_name, sn_h5_detail());
    SN_TRY(sn_dist_agree(local, comm));
    if (H5Lmove(f.id, partial, f.id, final_name, H5P_DEFAULT, H5P_DEFAULT) < 0)
        local = SN_ERR(SN_EIO, "%s: cannot rename %s to %s: %s", path, partial, final_name,
                       sn_h5_detail());
    SN_TRY(sn_dist_agree(local, comm));
    if (H5Fflush(f.id, H5F_SCOPE_GLOBAL) < 0)
        local = SN_ERR(SN_EIO, "%s: flush failed: %s", path, sn_h5_detail());
    SN_TRY(sn_dist_agree(local, comm));
    if (count)
        *count = n;
done:
    if (d >= 0)
        H5Dclose(d);
    if (f.id >= 0) {
        if (H5Fclose(f.id) < 0 && status == SN_OK)
            status = SN_ERR(SN_EIO, "%s: closing failed: %s", path, sn_h5_detail());
        status = sn_dist_agree(status, comm);
    }
    sn_dataset_close(ds);
    sn_free(mine);
    return status;
}

sn_status sn_hashindex_load(const char *path, const char *category, MPI_Comm comm, uint64_t **hashes,
                            int64_t *n)
{
    sn_status status = SN_OK, local = SN_OK;
    sn_dataset *ds = NULL;
    sn_h5file f = {.id = H5I_INVALID_HID};
    hid_t d = H5I_INVALID_HID;
    uint64_t *h = NULL;
    char cat[256], name[512];
    *hashes = NULL;
    *n = 0;
    SN_TRY(sn_dataset_open(path, category, comm, &ds));
    snprintf(cat, sizeof cat, "%s", sn_dataset_category(ds));
    int64_t n_train = sn_dataset_count(ds, SN_SPLIT_TRAIN);
    sn_dataset_close(ds);
    ds = NULL;
    snprintf(name, sizeof name, "/%s/train/phash", cat);
    SN_TRY(sn_h5_open(&f, path, comm));
    hsize_t dims[1] = {0};
    if (!sn_h5_exists(&f, name)) {
        local = SN_ERR(SN_EFORMAT, "%s: no hash index %s (run: sernet index %s)", path, name, path);
        goto agree;
    }
    local = sn_h5_dataset_open(&f, name, 1, dims, &d);
    if (local != SN_OK)
        goto agree;
    if (dims[0] == 0) {
        local = SN_ERR(SN_EFORMAT, "%s: empty hash index %s (0 hashes for %lld training images)", path,
                       name, (long long)n_train);
        goto agree;
    }
    if ((int64_t)dims[0] != n_train) {
        local = SN_ERR(SN_EFORMAT,
                       "%s: hash index %s has %llu hashes but category %s has %lld training images "
                       "(stale or damaged; run: sernet index --force %s)",
                       path, name, (unsigned long long)dims[0], cat, (long long)n_train, path);
        goto agree;
    }
    h = sn_alloc(sizeof(uint64_t) * (size_t)dims[0], "hash index");
    local = h ? sn_h5_read_rows(&f, d, name, H5T_NATIVE_UINT64, 0, (int64_t)dims[0], h) : SN_ENOMEM;
agree:
    SN_TRY(sn_dist_agree(local, comm));
    *hashes = h;
    *n = (int64_t)dims[0];
    h = NULL;
done:
    if (d >= 0)
        H5Dclose(d);
    sn_h5_close(&f);
    sn_dataset_close(ds);
    sn_free(h);
    return status;
}
