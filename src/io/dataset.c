/* Dataset reader and sharded loader (see src/include/sernet/dataset.h). Small per-item tables
 * (names, sizes, labels) are read whole at open; pixels are read per item with hyperslabs. */
#include "sernet/dataset.h"
#include "sernet/rng.h"

#include "sernet/dist.h"
#include "sernet/h5util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
};

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
static sn_status check_kind(sn_h5file *f)
{
    sn_status status = SN_OK;
    char *fmt = NULL;
    int64_t ver = 0;
    if (!sn_h5_attr_opt_str(f, "/", "format", &fmt))
        SN_FAIL(SN_EFORMAT, "%s: not a sernet dataset file (no 'format' attribute)", f->path);
    if (strcmp(fmt, SN_DATASET_FORMAT) != 0)
        SN_FAIL(SN_EFORMAT, "%s: is a '%s' file, expected a %s file", f->path, fmt, SN_DATASET_FORMAT);
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
    status = check_kind(&f);
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
    const char *name = s == 0 ? "train" : "test";
    char p[400];
    hsize_t dims[4];
    int64_t n = 0;
    snprintf(p, sizeof p, "/%s", ds->category);
    SN_TRY(get_exact_int(f, p, s == 0 ? "n_train" : "n_test", &n));
    sp->n = n;
    if (n == 0)
        return SN_OK;
    snprintf(p, sizeof p, "/%s/%s/images", ds->category, name);
    SN_TRY(sn_h5_dataset_open(f, p, 4, dims, &sp->images));
    if ((int64_t)dims[0] != n || dims[1] != (hsize_t)ds->size || dims[2] != (hsize_t)ds->size ||
        dims[3] != 3)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s has shape [%llu,%llu,%llu,%llu], expected [%lld,%d,%d,3]",
                f->path, p, (unsigned long long)dims[0], (unsigned long long)dims[1],
                (unsigned long long)dims[2], (unsigned long long)dims[3], (long long)n, ds->size,
                ds->size);
    snprintf(p, sizeof p, "/%s/%s/names", ds->category, name);
    SN_TRY(sn_h5_read_names(f, p, n, &sp->names));
    sp->orig = malloc(sizeof(int32_t) * 2 * n);
    if (!sp->orig)
        SN_FAIL(SN_ENOMEM, "%s: sizes", f->path);
    snprintf(p, sizeof p, "/%s/%s/orig_size", ds->category, name);
    SN_TRY(read_table(f, p, H5T_NATIVE_INT32, 2, n, 2, sp->orig));
    if (s == 1) {
        snprintf(p, sizeof p, "/%s/test/masks", ds->category);
        SN_TRY(sn_h5_dataset_open(f, p, 3, dims, &sp->masks));
        if ((int64_t)dims[0] != n || dims[1] != (hsize_t)ds->size || dims[2] != (hsize_t)ds->size)
            SN_FAIL(SN_EFORMAT, "%s: dataset %s has the wrong shape", f->path, p);
        sp->labels = malloc((size_t)n);
        sp->has_mask = malloc((size_t)n);
        sp->defect = malloc(sizeof(int32_t) * n);
        if (!sp->labels || !sp->has_mask || !sp->defect)
            SN_FAIL(SN_ENOMEM, "%s: labels", f->path);
        snprintf(p, sizeof p, "/%s/test/labels", ds->category);
        SN_TRY(read_table(f, p, H5T_NATIVE_UINT8, 1, n, 1, sp->labels));
        snprintf(p, sizeof p, "/%s/test/has_mask", ds->category);
        SN_TRY(read_table(f, p, H5T_NATIVE_UINT8, 1, n, 1, sp->has_mask));
        snprintf(p, sizeof p, "/%s/test/defect", ds->category);
        SN_TRY(read_table(f, p, H5T_NATIVE_INT32, 1, n, 1, sp->defect));
        snprintf(p, sizeof p, "/%s/test/defect_types", ds->category);
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

static sn_status open_local(sn_dataset *ds, const char *category)
{
    sn_status status = SN_OK;
    char *list = NULL;
    int64_t size = 0;
    SN_TRY(check_kind(&ds->f));
    SN_TRY(sn_h5_attr_get_str(&ds->f, "/", "categories", &list));
    if (!category) {
        if (strchr(list, ',') || !list[0])
            SN_FAIL(SN_EINVAL, "%s: holds categories '%s'; name one", ds->f.path, list);
        category = list;
    }
    snprintf(ds->category, sizeof ds->category, "%s", category);
    char g[300];
    snprintf(g, sizeof g, "/%s", ds->category);
    if (strchr(ds->category, '/') || !sn_h5_exists(&ds->f, g))
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

sn_status sn_dataset_open(const char *path, const char *category, MPI_Comm comm, sn_dataset **out)
{
    sn_status status = SN_OK;
    sn_dataset *ds = calloc(1, sizeof *ds);
    *out = NULL;
    if (!ds)
        return SN_ERR(SN_ENOMEM, "%s: dataset handle", path);
    for (int s = 0; s < 2; s++)
        ds->sp[s].images = ds->sp[s].masks = H5I_INVALID_HID;
    ds->perm_epoch = -1;
    status = sn_h5_open(&ds->f, path, comm);
    if (status != SN_OK) {
        free(ds);
        return status;
    }
    status = sn_dist_agree(open_local(ds, category), comm);
    if (status != SN_OK) {
        sn_dataset_close(ds);
        return status;
    }
    *out = ds;
    return SN_OK;
}

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
                    (long long)i, split == SN_SPLIT_TRAIN ? "train" : "test", (long long)sp->n);
        if (images || raw) {
            uint8_t *dst = raw ? raw + px * 3 * j : ds->rowbuf;
            snprintf(name, sizeof name, "/%s/%s/images", ds->category, split ? "test" : "train");
            SN_TRY(sn_h5_read_rows(&ds->f, sp->images, name, H5T_NATIVE_UINT8, i, 1, dst));
            if (images)
                sn_tensor_from_u8_hwc(dst, 1, S, images + px * 3 * j);
        }
        if (masks) {
            snprintf(name, sizeof name, "/%s/test/masks", ds->category);
            SN_TRY(sn_h5_read_rows(&ds->f, sp->masks, name, H5T_NATIVE_UINT8, i, 1, ds->rowbuf));
            float *o = masks + px * j;
            for (size_t p = 0; p < px; p++)
                o[p] = ds->rowbuf[p] ? 1.0f : 0.0f;
        }
    }
done:
    return status;
}

void sn_dataset_shard(const sn_dataset *ds, sn_split split, int64_t *begin, int64_t *count)
{
    sn_dist_shard(ds->sp[split].n, sn_dist_rank(ds->f.comm), sn_dist_size(ds->f.comm), begin, count);
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
    sn_dist_shard(bn, sn_dist_rank(ds->f.comm), sn_dist_size(ds->f.comm), &begin, &cnt);
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
    int size = sn_dist_size(ds->f.comm), count = 0;
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
