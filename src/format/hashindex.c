/* The training hash index stored in a dataset file (src/include/sernet/hashindex_format.h,
 * docs/phash.md): its path and attributes, the parallel build (each rank hashes its shard,
 * collective write under a temporary link name, then a rename), the writer the dataset writer
 * and the bundle share, and the one checked reader behind the collective and the local load. */
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/h5util.h"
#include "sernet/hashindex_format.h"
#include "sernet/phash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HASH_CHUNK 32 /* images read per hyperslab read while hashing */

#define ATTR_ALGORITHM "algorithm"
#define ATTR_N_IMAGES "n_images"
#define PARTIAL_SUFFIX ".partial"

static const char ALGORITHM[] =
    "ImageHash 4.3.1 phash (hash_size 8, highfreq_factor 4; Pillow 9.4 L + LANCZOS) of the stored "
    "SxS RGB training images";

const char *sn_hashindex_algorithm(void) { return ALGORITHM; }

const char *sn_hashindex_path(char *buf, size_t cap, const char *category)
{
    return sn_dataset_path(buf, cap, category, SN_SPLIT_TRAIN, SN_HASHINDEX_ITEM);
}

sn_status sn_hashindex_write(sn_h5file *f, const char *where, int64_t n, int64_t chunk,
                             int64_t begin, int64_t count, const uint64_t *hashes)
{
    sn_status status = SN_OK;
    hid_t d = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)n}, ch[1] = {(hsize_t)chunk};
    SN_TRY(sn_h5_dataset_create(f, where, H5T_STD_U64LE, 1, dims, chunk > 0 ? ch : NULL, &d));
    SN_TRY(sn_h5_write_rows(f, d, where, H5T_NATIVE_UINT64, begin, count, hashes));
    SN_TRY(sn_h5_attr_set_str(f, where, ATTR_ALGORITHM, ALGORITHM));
    SN_TRY(sn_h5_attr_set_int(f, where, ATTR_N_IMAGES, n));
done:
    if (d >= 0)
        H5Dclose(d);
    return status;
}

sn_status sn_hashindex_read(sn_h5file *f, const char *where, const char *category, int64_t n_train,
                            int check_algorithm, uint64_t **hashes)
{
    sn_status status = SN_OK;
    hid_t d = H5I_INVALID_HID;
    hsize_t dims[1] = {0};
    char *alg = NULL;
    uint64_t *h = NULL;
    *hashes = NULL;
    if (!sn_h5_exists(f, where))
        SN_FAIL(SN_EFORMAT, "%s: category '%s' has no hash index %s: run `sernet index %s`", f->path,
                category, where, f->path);
    SN_TRY(sn_h5_dataset_open(f, where, 1, dims, &d));
    if (dims[0] == 0)
        SN_FAIL(SN_EFORMAT, "%s: empty hash index %s (0 hashes for %lld training images)", f->path,
                where, (long long)n_train);
    if ((int64_t)dims[0] != n_train)
        SN_FAIL(SN_EFORMAT, "%s: hash index %s has %llu hashes but category '%s' has %lld training "
                "images (stale or damaged): run `sernet index --force %s`", f->path, where,
                (unsigned long long)dims[0], category, (long long)n_train, f->path);
    /* an index without the attribute (none was ever written so) is accepted */
    if (check_algorithm && sn_h5_attr_opt_str(f, where, ATTR_ALGORITHM, &alg) &&
        strcmp(alg, ALGORITHM) != 0)
        SN_FAIL(SN_EFORMAT, "%s: hash index %s was made with another algorithm ('%s'): run "
                "`sernet index --force %s`", f->path, where, alg, f->path);
    SN_ALLOC(h, (size_t)dims[0], "hash index");
    SN_TRY(sn_h5_read_rows(f, d, where, H5T_NATIVE_UINT64, 0, (int64_t)dims[0], h));
    *hashes = h;
    h = NULL;
done:
    if (d >= 0)
        H5Dclose(d);
    free(alg);
    sn_free(h);
    return status;
}

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
    uint64_t *mine = NULL;
    char cat[256], final_name[512], partial[512 + sizeof PARTIAL_SUFFIX];
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
    sn_hashindex_path(final_name, sizeof final_name, cat);
    snprintf(partial, sizeof partial, "%s%s", final_name, PARTIAL_SUFFIX);
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
    SN_TRY(sn_dist_agree(sn_hashindex_write(&f, partial, n, 0, begin, nmine, mine), comm));
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
    if (f.id >= 0) {
        if (H5Fclose(f.id) < 0 && status == SN_OK)
            status = SN_ERR(SN_EIO, "%s: closing failed: %s", path, sn_h5_detail());
        status = sn_dist_agree(status, comm);
    }
    sn_dataset_close(ds);
    sn_free(mine);
    return status;
}

/* comm MPI_COMM_NULL: on this process alone. */
static sn_status load_any(const char *path, const char *category, MPI_Comm comm, uint64_t **hashes,
                          int64_t *n)
{
    sn_status status = SN_OK;
    sn_dataset *ds = NULL;
    char name[512];
    const int local = comm == MPI_COMM_NULL;
    *hashes = NULL;
    *n = 0;
    SN_TRY(local ? sn_dataset_open_local(path, category, &ds) : sn_dataset_open(path, category, comm, &ds));
    int64_t n_train = sn_dataset_count(ds, SN_SPLIT_TRAIN);
    sn_hashindex_path(name, sizeof name, sn_dataset_category(ds));
    /* the collective reader (inference) has never checked the algorithm attribute */
    status = sn_hashindex_read(sn_dataset_file(ds), name, sn_dataset_category(ds), n_train, local,
                               hashes);
    if (!local)
        status = sn_dist_agree(status, comm);
    if (status != SN_OK) {
        sn_free(*hashes);
        *hashes = NULL;
        goto done;
    }
    *n = n_train;
done:
    sn_dataset_close(ds);
    return status;
}

sn_status sn_hashindex_load(const char *path, const char *category, MPI_Comm comm, uint64_t **hashes,
                            int64_t *n)
{
    SN_ASSERT(comm != MPI_COMM_NULL);
    return load_any(path, category, comm, hashes, n);
}

sn_status sn_hashindex_load_local(const char *path, const char *category, uint64_t **hashes,
                                  int64_t *n)
{
    return load_any(path, category, MPI_COMM_NULL, hashes, n);
}
