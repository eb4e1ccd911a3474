/* The dataset file format (src/include/sernet/dataset.h; docs/formats.md "Dataset files"): its
 * paths, the reader and sharded loader, and the writer.
 *
 * Reading: small per-item tables (names, sizes, labels) are read whole at open; pixels are read
 * per item with hyperslabs.
 * Writing: items are sharded over ranks with sn_dist_shard; in each round every rank produces up
 * to ROUND items of its shard, the ranks agree on success, then write their rows with one
 * collective hyperslab write per dataset. The bytes of every dataset depend only on the items,
 * never on the number of ranks. */
#include "sernet/dataset.h"
#include "sernet/rng.h"

#include "sernet/dist.h"
#include "sernet/h5util.h"
#include "sernet/hashindex_format.h"
#include "sernet/phash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *split_name(sn_split s) { return s == SN_SPLIT_TRAIN ? "train" : "test"; }

const char *sn_dataset_path(char *buf, size_t cap, const char *category, sn_split split,
                            const char *item)
{
    if (!item)
        snprintf(buf, cap, "/%s", category);
    else if (!item[0])
        snprintf(buf, cap, "/%s/%s", category, split_name(split));
    else
        snprintf(buf, cap, "/%s/%s/%s", category, split_name(split), item);
    return buf;
}

typedef struct {
    int64_t n;
    hid_t images, masks;
    char **names;
    int32_t *orig; /* [n][2] h, w */
    uint8_t *labels, *has_mask;
    int32_t *defect;
} split_data;

struct sn_dataset {
    sn_h5file f;
    char category[256];
    int size;
    split_data sp[2];
    char **defect_types;
    int n_defect_types;
    int64_t perm_epoch;
    uint64_t perm_seed;
    int64_t *perm;
    uint8_t *rowbuf;
    int local; /* opened by sn_dataset_open_local: no communicator */
};

/* The loader's rank and size: one process for a local dataset. */
static int ds_rank(const sn_dataset *ds) { return ds->local ? 0 : sn_dist_rank(ds->f.comm); }
static int ds_size(const sn_dataset *ds) { return ds->local ? 1 : sn_dist_size(ds->f.comm); }

static sn_status read_table(sn_h5file *f, const char *path, hid_t mt, int ndims, int64_t n,
                            int64_t cols, void *buf)
{
    sn_status status = SN_OK;
    hid_t d = H5I_INVALID_HID;
    hsize_t dims[2];
    SN_TRY(sn_h5_dataset_open(f, path, ndims, dims, &d));
    if ((int64_t)dims[0] != n || (ndims == 2 && (int64_t)dims[1] != cols))
        SN_FAIL(SN_EFORMAT, "%s: dataset %s has the wrong shape", f->path, path);
    SN_TRY(sn_h5_read_rows(f, d, path, mt, 0, n, buf));
done:
    if (d >= 0)
        H5Dclose(d);
    return status;
}

/* An integer attribute (a count, size or version) that must hold an exact integer: one stored
 * as floating point is accepted only when integral (0.5 would otherwise be read as a count of 0
 * and hide the items; found by fuzz/fuzz_dataset, see docs/hardening.md). */
static sn_status get_exact_int(sn_h5file *f, const char *where, const char *name, int64_t *value)
{
    sn_status status = SN_OK;
    double d = 0;
    SN_TRY(sn_h5_attr_get_int(f, where, name, value));
    SN_TRY(sn_h5_attr_get_double(f, where, name, &d));
    if (!(d == (double)*value))
        SN_FAIL(SN_EFORMAT, "%s: attribute %s:%s = %g is not an integer", f->path, where, name, d);
done:
    return status;
}

/* Check the root attributes: the file is a dataset of this version. */
sn_status sn_dataset_check_root(sn_h5file *f)
{
    sn_status status = SN_OK;
    char *fmt = NULL;
    int64_t ver = 0;
    if (!sn_h5_attr_opt_str(f, "/", "format", &fmt))
        SN_FAIL(SN_EFORMAT, "%s: not a sernet dataset file (no 'format' attribute)", f->path);
    if (strcmp(fmt, SN_DATASET_FORMAT) != 0)
        SN_FAIL(SN_EFORMAT, "%s: not a sernet dataset file (root attribute format is '%s', expected "
                "'%s'; make one with `sernet ingest`)", f->path, fmt, SN_DATASET_FORMAT);
    SN_TRY(get_exact_int(f, "/", "format_version", &ver));
    if (ver != SN_DATASET_VERSION)
        SN_FAIL(SN_EFORMAT, "%s: dataset format version %lld, this program reads version %d",
                f->path, (long long)ver, SN_DATASET_VERSION);
done:
    free(fmt);
    return status;
}

sn_status sn_dataset_categories(const char *path, MPI_Comm comm, char **list)
{
    sn_status status = SN_OK;
    sn_h5file f;
    *list = NULL;
    SN_TRY(sn_h5_open(&f, path, comm));
    status = sn_dataset_check_root(&f);
    if (status == SN_OK)
        status = sn_h5_attr_get_str(&f, "/", "categories", list);
    sn_h5_close(&f);
done:
    return status;
}

static sn_status open_split(sn_dataset *ds, int s)
{
    sn_status status = SN_OK;
    sn_h5file *f = &ds->f;
    split_data *sp = &ds->sp[s];
    const char *cat = ds->category;
    char p[400];
    hsize_t dims[4];
    int64_t n = 0;
    sn_dataset_path(p, sizeof p, cat, s, NULL);
    SN_TRY(get_exact_int(f, p, s == 0 ? "n_train" : "n_test", &n));
    sp->n = n;
    if (n == 0)
        return SN_OK;
    sn_dataset_path(p, sizeof p, cat, s, SN_DATASET_IMAGES);
    SN_TRY(sn_h5_dataset_open(f, p, 4, dims, &sp->images));
    if ((int64_t)dims[0] != n || dims[1] != (hsize_t)ds->size || dims[2] != (hsize_t)ds->size ||
        dims[3] != 3)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s has shape [%llu,%llu,%llu,%llu], expected [%lld,%d,%d,3]",
                f->path, p, (unsigned long long)dims[0], (unsigned long long)dims[1],
                (unsigned long long)dims[2], (unsigned long long)dims[3], (long long)n, ds->size,
                ds->size);
    sn_dataset_path(p, sizeof p, cat, s, SN_DATASET_NAMES);
    SN_TRY(sn_h5_read_names(f, p, n, &sp->names));
    sp->orig = malloc(sizeof(int32_t) * 2 * n);
    if (!sp->orig)
        SN_FAIL(SN_ENOMEM, "%s: sizes", f->path);
    sn_dataset_path(p, sizeof p, cat, s, SN_DATASET_ORIG_SIZE);
    SN_TRY(read_table(f, p, H5T_NATIVE_INT32, 2, n, 2, sp->orig));
    if (s == 1) {
        sn_dataset_path(p, sizeof p, cat, SN_SPLIT_TEST, SN_DATASET_MASKS);
        SN_TRY(sn_h5_dataset_open(f, p, 3, dims, &sp->masks));
        if ((int64_t)dims[0] != n || dims[1] != (hsize_t)ds->size || dims[2] != (hsize_t)ds->size)
            SN_FAIL(SN_EFORMAT, "%s: dataset %s has the wrong shape", f->path, p);
        sp->labels = malloc((size_t)n);
        sp->has_mask = malloc((size_t)n);
        sp->defect = malloc(sizeof(int32_t) * n);
        if (!sp->labels || !sp->has_mask || !sp->defect)
            SN_FAIL(SN_ENOMEM, "%s: labels", f->path);
        sn_dataset_path(p, sizeof p, cat, SN_SPLIT_TEST, SN_DATASET_LABELS);
        SN_TRY(read_table(f, p, H5T_NATIVE_UINT8, 1, n, 1, sp->labels));
        sn_dataset_path(p, sizeof p, cat, SN_SPLIT_TEST, SN_DATASET_HAS_MASK);
        SN_TRY(read_table(f, p, H5T_NATIVE_UINT8, 1, n, 1, sp->has_mask));
        sn_dataset_path(p, sizeof p, cat, SN_SPLIT_TEST, SN_DATASET_DEFECT);
        SN_TRY(read_table(f, p, H5T_NATIVE_INT32, 1, n, 1, sp->defect));
        sn_dataset_path(p, sizeof p, cat, SN_SPLIT_TEST, SN_DATASET_DEFECT_TYPES);
        char **types = NULL;
        SN_TRY(sn_h5_read_names(f, p, -1, &types));
        ds->defect_types = types;
        hid_t d;
        hsize_t td[1];
        SN_TRY(sn_h5_dataset_open(f, p, 1, td, &d));
        H5Dclose(d);
        ds->n_defect_types = (int)td[0];
        for (int64_t i = 0; i < n; i++)
            if (sp->defect[i] < 0 || sp->defect[i] >= ds->n_defect_types || sp->labels[i] > 1)
                SN_FAIL(SN_EFORMAT, "%s: test item %lld has defect index %d of %d types", f->path,
                        (long long)i, sp->defect[i], ds->n_defect_types);
    }
done:
    return status;
}

/* 1 if `name` is one of the comma-separated entries of `list`. */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, name, n) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

static sn_status open_local(sn_dataset *ds, const char *category)
{
    sn_status status = SN_OK;
    char *list = NULL;
    int64_t size = 0;
    SN_TRY(sn_dataset_check_root(&ds->f));
    SN_TRY(sn_h5_attr_get_str(&ds->f, "/", "categories", &list));
    if (!category) {
        if (strchr(list, ',') || !list[0])
            SN_FAIL(SN_EINVAL, "%s: holds categories '%s'; name one", ds->f.path, list);
        category = list;
    }
    snprintf(ds->category, sizeof ds->category, "%s", category);
    char g[300];
    sn_dataset_path(g, sizeof g, ds->category, SN_SPLIT_TRAIN, NULL);
    if (strchr(ds->category, '/') || !listed(list, ds->category) || !sn_h5_exists(&ds->f, g))
        SN_FAIL(SN_EINVAL, "%s: no category '%s' (it holds: %s)", ds->f.path, ds->category, list);
    SN_TRY(get_exact_int(&ds->f, g, "image_size", &size));
    if (size < 16 || size > 8192)
        SN_FAIL(SN_EFORMAT, "%s: image size %lld out of range", ds->f.path, (long long)size);
    ds->size = (int)size;
    SN_TRY(open_split(ds, 0));
    SN_TRY(open_split(ds, 1));
    SN_ALLOC(ds->rowbuf, (size_t)ds->size * ds->size * 3, "dataset row");
done:
    free(list);
    return status;
}

/* comm MPI_COMM_NULL: on this process alone. */
static sn_status open_any(const char *path, const char *category, MPI_Comm comm, sn_dataset **out)
{
    sn_status status = SN_OK;
    sn_dataset *ds = calloc(1, sizeof *ds);
    const int local = comm == MPI_COMM_NULL;
    *out = NULL;
    if (!ds)
        return SN_ERR(SN_ENOMEM, "%s: dataset handle", path);
    for (int s = 0; s < 2; s++)
        ds->sp[s].images = ds->sp[s].masks = H5I_INVALID_HID;
    ds->perm_epoch = -1;
    ds->local = local;
    status = local ? sn_h5_open_local(&ds->f, path) : sn_h5_open(&ds->f, path, comm);
    if (status != SN_OK) {
        free(ds);
        return status;
    }
    status = open_local(ds, category);
    if (!local)
        status = sn_dist_agree(status, comm);
    if (status != SN_OK) {
        sn_dataset_close(ds);
        return status;
    }
    *out = ds;
    return SN_OK;
}

sn_status sn_dataset_open(const char *path, const char *category, MPI_Comm comm, sn_dataset **out)
{
    SN_ASSERT(comm != MPI_COMM_NULL);
    return open_any(path, category, comm, out);
}

sn_status sn_dataset_open_local(const char *path, const char *category, sn_dataset **out)
{
    return open_any(path, category, MPI_COMM_NULL, out);
}

sn_h5file *sn_dataset_file(sn_dataset *ds) { return &ds->f; }

void sn_dataset_close(sn_dataset *ds)
{
    if (!ds)
        return;
    for (int s = 0; s < 2; s++) {
        split_data *sp = &ds->sp[s];
        if (sp->images >= 0)
            H5Dclose(sp->images);
        if (sp->masks >= 0)
            H5Dclose(sp->masks);
        sn_h5_free_names(sp->names, sp->n);
        free(sp->orig);
        free(sp->labels);
        free(sp->has_mask);
        free(sp->defect);
    }
    sn_h5_free_names(ds->defect_types, ds->n_defect_types);
    free(ds->perm);
    sn_free(ds->rowbuf);
    sn_h5_close(&ds->f);
    free(ds);
}

const char *sn_dataset_category(const sn_dataset *ds) { return ds->category; }
int sn_dataset_image_size(const sn_dataset *ds) { return ds->size; }
int64_t sn_dataset_count(const sn_dataset *ds, sn_split s) { return ds->sp[s].n; }

const char *sn_dataset_name(const sn_dataset *ds, sn_split s, int64_t i)
{
    SN_ASSERT(i >= 0 && i < ds->sp[s].n);
    return ds->sp[s].names[i];
}

void sn_dataset_orig_size(const sn_dataset *ds, sn_split s, int64_t i, int *h, int *w)
{
    SN_ASSERT(i >= 0 && i < ds->sp[s].n);
    *h = ds->sp[s].orig[2 * i];
    *w = ds->sp[s].orig[2 * i + 1];
}

int sn_dataset_label(const sn_dataset *ds, int64_t i)
{
    SN_ASSERT(i >= 0 && i < ds->sp[1].n);
    return ds->sp[1].labels[i];
}

int sn_dataset_defect(const sn_dataset *ds, int64_t i)
{
    SN_ASSERT(i >= 0 && i < ds->sp[1].n);
    return ds->sp[1].defect[i];
}

int sn_dataset_has_mask(const sn_dataset *ds, int64_t i)
{
    SN_ASSERT(i >= 0 && i < ds->sp[1].n);
    return ds->sp[1].has_mask[i];
}

int sn_dataset_n_defect_types(const sn_dataset *ds) { return ds->n_defect_types; }

const char *sn_dataset_defect_type(const sn_dataset *ds, int t)
{
    SN_ASSERT(t >= 0 && t < ds->n_defect_types);
    return ds->defect_types[t];
}

sn_status sn_dataset_read(sn_dataset *ds, sn_split split, const int64_t *idx, int n, float *images,
                          float *masks, uint8_t *raw)
{
    sn_status status = SN_OK;
    split_data *sp = &ds->sp[split];
    const int S = ds->size;
    const size_t px = (size_t)S * S;
    char name[400];
    if (masks && split != SN_SPLIT_TEST)
        SN_FAIL(SN_EINVAL, "%s: masks exist only for the test split", ds->f.path);
    for (int j = 0; j < n; j++) {
        int64_t i = idx[j];
        if (i < 0 || i >= sp->n)
            SN_FAIL(SN_EINVAL, "%s: item %lld outside the %s split of %lld items", ds->f.path,
                    (long long)i, split_name(split), (long long)sp->n);
        if (images || raw) {
            uint8_t *dst = raw ? raw + px * 3 * j : ds->rowbuf;
            sn_dataset_path(name, sizeof name, ds->category, split, SN_DATASET_IMAGES);
            SN_TRY(sn_h5_read_rows(&ds->f, sp->images, name, H5T_NATIVE_UINT8, i, 1, dst));
            if (images)
                sn_tensor_from_u8_hwc(dst, 1, S, images + px * 3 * j);
        }
        if (masks) {
            sn_dataset_path(name, sizeof name, ds->category, SN_SPLIT_TEST, SN_DATASET_MASKS);
            SN_TRY(sn_h5_read_rows(&ds->f, sp->masks, name, H5T_NATIVE_UINT8, i, 1, ds->rowbuf));
            float *o = masks + px * j;
            for (size_t p = 0; p < px; p++)
                o[p] = ds->rowbuf[p] ? 1.0f : 0.0f;
        }
    }
done:
    return status;
}

sn_status sn_dataset_read_raw_range(sn_dataset *ds, sn_split split, int64_t begin, int64_t n,
                                    uint8_t *raw)
{
    sn_status status = SN_OK;
    char name[400];
    if (begin < 0 || n < 0 || begin + n > ds->sp[split].n)
        SN_FAIL(SN_EINVAL, "%s: items [%lld, %lld) outside the %s split of %lld items", ds->f.path,
                (long long)begin, (long long)(begin + n), split_name(split),
                (long long)ds->sp[split].n);
    if (n == 0)
        return SN_OK;
    sn_dataset_path(name, sizeof name, ds->category, split, SN_DATASET_IMAGES);
    SN_TRY(sn_h5_read_rows(&ds->f, ds->sp[split].images, name, H5T_NATIVE_UINT8, begin, n, raw));
done:
    return status;
}

void sn_dataset_shard(const sn_dataset *ds, sn_split split, int64_t *begin, int64_t *count)
{
    sn_dist_shard(ds->sp[split].n, ds_rank(ds), ds_size(ds), begin, count);
}

/* Fisher-Yates with draws from the keyed generator (seed, shuffle stage, epoch): the order is a
 * pure function of (seed, epoch), whatever the number of ranks. */
void sn_dataset_epoch_order(int64_t n, uint64_t seed, int64_t epoch, int64_t *perm)
{
    sn_rng r;
    sn_rng_init(&r, seed, SN_RNG_STAGE_SHUFFLE, (uint32_t)epoch, 0);
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = sn_rng_int(&r, 0, i);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

int64_t sn_dataset_batches(int64_t n, int global_batch, int drop_last)
{
    SN_ASSERT(global_batch > 0);
    return drop_last ? n / global_batch : (n + global_batch - 1) / global_batch;
}

sn_status sn_dataset_train_batch(sn_dataset *ds, uint64_t seed, int64_t epoch, int64_t batch,
                                 int global_batch, float *images, int64_t *indices, int *count,
                                 int *offset)
{
    sn_status status = SN_OK;
    int64_t n = ds->sp[0].n;
    *count = 0;
    if (global_batch <= 0 || batch < 0 || batch >= sn_dataset_batches(n, global_batch, 0))
        SN_FAIL(SN_EINVAL, "%s: batch %lld of size %d outside an epoch of %lld items", ds->f.path,
                (long long)batch, global_batch, (long long)n);
    if (!ds->perm) {
        ds->perm = malloc(sizeof(int64_t) * (n ? n : 1));
        if (!ds->perm)
            SN_FAIL(SN_ENOMEM, "%s: epoch order", ds->f.path);
    }
    if (ds->perm_epoch != epoch || ds->perm_seed != seed) {
        sn_dataset_epoch_order(n, seed, epoch, ds->perm);
        ds->perm_epoch = epoch;
        ds->perm_seed = seed;
    }
    int64_t b0 = batch * global_batch, bn = SN_MIN((int64_t)global_batch, n - b0), begin, cnt;
    sn_dist_shard(bn, ds_rank(ds), ds_size(ds), &begin, &cnt);
    if (offset)
        *offset = (int)begin;
    if (indices)
        for (int64_t j = 0; j < cnt; j++)
            indices[j] = ds->perm[b0 + begin + j];
    if (images && cnt > 0)
        SN_TRY(sn_dataset_read(ds, SN_SPLIT_TRAIN, ds->perm + b0 + begin, (int)cnt, images, NULL, NULL));
    *count = (int)cnt;
done:
    return status;
}

sn_status sn_dataset_train_batch_tensor(sn_dataset *ds, uint64_t seed, int64_t epoch, int64_t batch,
                                        int global_batch, sn_tensor *images, int64_t *indices,
                                        int *offset)
{
    sn_status status = SN_OK;
    int size = ds_size(ds), count = 0;
    if (global_batch <= 0)
        SN_FAIL(SN_EINVAL, "%s: global batch %d must be positive", ds->f.path, global_batch);
    int room = (global_batch + size - 1) / size;
    SN_TRY(sn_tensor_ensure(images, room, 3, ds->size, ds->size, "loader batch"));
    SN_TRY(sn_dataset_train_batch(ds, seed, epoch, batch, global_batch, images->data, indices,
                                  &count, offset));
    images->n = count;
done:
    return status;
}

sn_status sn_dataset_read_tensor(sn_dataset *ds, sn_split split, const int64_t *idx, int n,
                                 sn_tensor *images, sn_tensor *masks)
{
    sn_status status = SN_OK;
    SN_TRY(sn_tensor_ensure(images, n, 3, ds->size, ds->size, "loader images"));
    if (masks)
        SN_TRY(sn_tensor_ensure(masks, n, 1, ds->size, ds->size, "loader masks"));
    SN_TRY(sn_dataset_read(ds, split, idx, n, images->data, masks ? masks->data : NULL, NULL));
done:
    return status;
}

/* ---- writing ---------------------------------------------------------------------------------- */

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
    for (int s = 0; s < 2; s++)
        d[s].images = d[s].masks = d[s].orig = H5I_INVALID_HID;
    hsize_t S = (hsize_t)size;
    sn_dataset_path(g, sizeof g, c->name, SN_SPLIT_TRAIN, NULL);
    SN_TRY(sn_h5_group_create(f, g));
    SN_TRY(sn_h5_attr_set_int(f, g, "image_size", size));
    SN_TRY(sn_h5_attr_set_int(f, g, "n_train", c->n_train));
    SN_TRY(sn_h5_attr_set_int(f, g, "n_test", c->n_test));
    SN_TRY(sn_h5_attr_set_str(f, g, "source", c->source ? c->source : ""));
    for (int s = 0; s < 2; s++) {
        int64_t n = s == 0 ? c->n_train : c->n_test;
        if (n == 0)
            continue;
        SN_TRY(sn_h5_group_create(f, sn_dataset_path(p, sizeof p, c->name, s, "")));
        sn_dataset_path(d[s].images_name, sizeof d[s].images_name, c->name, s, SN_DATASET_IMAGES);
        sn_dataset_path(d[s].masks_name, sizeof d[s].masks_name, c->name, s, SN_DATASET_MASKS);
        sn_dataset_path(d[s].orig_name, sizeof d[s].orig_name, c->name, s, SN_DATASET_ORIG_SIZE);
        hsize_t dims[4] = {(hsize_t)n, S, S, 3}, chunk[4] = {1, S, S, 3};
        SN_TRY(sn_h5_dataset_create(f, d[s].images_name, H5T_STD_U8LE, 4, dims, chunk, &d[s].images));
        hsize_t odims[2] = {(hsize_t)n, 2};
        SN_TRY(sn_h5_dataset_create(f, d[s].orig_name, H5T_STD_I32LE, 2, odims, NULL, &d[s].orig));
        if (s == 1)
            SN_TRY(sn_h5_dataset_create(f, d[s].masks_name, H5T_STD_U8LE, 3, dims, chunk, &d[s].masks));
        sn_dataset_path(p, sizeof p, c->name, s, SN_DATASET_NAMES);
        SN_TRY(write_names(f, p, s == 0 ? c->train_names : c->test_names, n));
        if (s == 1) {
            hsize_t nd[1] = {(hsize_t)n};
            sn_dataset_path(p, sizeof p, c->name, SN_SPLIT_TEST, SN_DATASET_LABELS);
            SN_TRY(write_small(f, p, H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, nd, c->test_labels));
            sn_dataset_path(p, sizeof p, c->name, SN_SPLIT_TEST, SN_DATASET_DEFECT);
            SN_TRY(write_small(f, p, H5T_STD_I32LE, H5T_NATIVE_INT32, 1, nd, c->test_defect));
            sn_dataset_path(p, sizeof p, c->name, SN_SPLIT_TEST, SN_DATASET_HAS_MASK);
            SN_TRY(write_small(f, p, H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, nd, c->test_has_mask));
            sn_dataset_path(p, sizeof p, c->name, SN_SPLIT_TEST, SN_DATASET_DEFECT_TYPES);
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
            sn_hashindex_path(p, sizeof p, c->name);
            SN_TRY(sn_hashindex_write(f, p, n, 0, begin, count, hashes));
        } else {
            SN_TRY(write_split_pixels(f, &d[s], ci, s, n, size, produce, ctx, NULL));
        }
    }
done:
    sn_free(hashes);
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
