/* The deployment bundle format (src/include/sernet/bundle.h; schema: docs/formats.md, "Bundle
 * file"): its root attributes and parts, the check of an open bundle, the reader of its training
 * part and the writer. The model parts use the model format's layout (sernet/model_format.h), the
 * training part's index the hash index's (sernet/hashindex_format.h). */
#include "sernet/bundle.h"
#include "sernet/model.h"
#include "sernet/dataset.h"
#include "sernet/err_mute.h"
#include "sernet/format.h"
#include "sernet/h5util.h"
#include "sernet/hashindex.h"
#include "sernet/model_format.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------------------------- */

sn_status sn_bundle_part_error(const char *path, const char *part, const char *what)
{
    char inner[1024];
    snprintf(inner, sizeof inner, "%s", sn_err_msg());
    sn_status st = sn_err_status() != SN_OK ? sn_err_status() : SN_EFORMAT;
    const char *msg = inner;
    size_t n = strlen(path);
    /* the inner message starts with the file name already: say it once */
    if (strncmp(msg, path, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
        msg += n + 2;
    int sum = strstr(inner, "Fletcher32") || strstr(inner, "checksum");
    sn_err_clear();
    return SN_ERR(st, "%s: bundle part %s (%s)%s: %s", path, part, what,
                  sum ? ": checksum mismatch, the bundle is damaged (make it again with `sernet "
                        "bundle`)" : "", msg);
}

/* ---- from a bundle --------------------------------------------------------------------------- */

int sn_bundle_probe(const char *path)
{
    sn_h5file f = {.id = H5I_INVALID_HID};
    char *fmt = NULL;
    int yes = 0;
    /* a probe: a missing or damaged file is reported by the loader, not here */
    sn_err_mute();
    if (sn_h5_open_local(&f, path) == SN_OK && sn_format_identify(&f, &fmt, NULL) > 0)
        yes = strcmp(fmt, SN_BUNDLE_FORMAT) == 0;
    sn_err_unmute();
    free(fmt);
    sn_h5_close(&f);
    return yes;
}

#define TRAIN_PART "/train" /* the training split: images, names, hash index */
static const char *const PARTS[] = {SN_MODEL_SEG, SN_MODEL_REC, SN_MODEL_CALIB, SN_MODEL_THRESHOLDS, TRAIN_PART};
enum { N_PARTS = sizeof PARTS / sizeof PARTS[0] };

static int listed(const char *list, const char *part)
{
    size_t n = strlen(part);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, part, n) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

sn_status sn_bundle_parts_list(sn_h5file *f, char *out, size_t cap)
{
    out[0] = '\0';
    for (int i = 0; i < N_PARTS; i++) {
        htri_t e = H5Lexists(f->id, PARTS[i], H5P_DEFAULT);
        if (e < 0)
            return SN_ERR(SN_EFORMAT, "%s: cannot look up %s: %s", f->path, PARTS[i], sn_h5_detail());
        if (e > 0) {
            size_t used = strlen(out);
            snprintf(out + used, cap - used, "%s%s", used ? "," : "", PARTS[i]);
        }
    }
    return SN_OK;
}

/* The groups present are exactly those the root attribute `parts` lists (which its metadata
 * checksum protects): a part lost from a damaged link table is never taken for an absent one. */
static sn_status check_parts(sn_h5file *f)
{
    sn_status status = SN_OK;
    char *list = NULL;
    if (sn_h5_attr_get_str(f, "/", "parts", &list) != SN_OK) {
        status = sn_bundle_part_error(f->path, "/", "root attributes");
        goto done;
    }
    for (int i = 0; i < N_PARTS; i++) {
        htri_t e = H5Lexists(f->id, PARTS[i], H5P_DEFAULT);
        int want = listed(list, PARTS[i]);
        if (e < 0)
            SN_FAIL(SN_EFORMAT, "%s: bundle part %s: cannot be looked up, the bundle is damaged: %s",
                    f->path, PARTS[i], sn_h5_detail());
        if ((e > 0) != want)
            SN_FAIL(SN_EFORMAT, "%s: bundle part %s is %s, but the bundle lists its parts as '%s': "
                    "damaged or edited, make it again with `sernet bundle`", f->path, PARTS[i],
                    e > 0 ? "present" : "missing", list);
        if (i < 2 && !want)
            SN_FAIL(SN_EFORMAT, "%s: bundle part %s is required but not listed ('%s')", f->path,
                    PARTS[i], list);
    }
    if (!listed(list, "/train"))
        SN_FAIL(SN_EFORMAT, "%s: bundle part /train is required but not listed ('%s')", f->path, list);
done:
    free(list);
    return status;
}

/* Format, version, completion marker and list of parts of an open bundle. */
sn_status sn_bundle_check_root(sn_h5file *f)
{
    sn_status status = SN_OK;
    char *fmt = NULL;
    int64_t v;
    if (sn_format_identify(f, &fmt, NULL) < 0) {
        status = sn_bundle_part_error(f->path, "/", "root attributes");
        goto done;
    }
    if (!fmt || strcmp(fmt, SN_BUNDLE_FORMAT) != 0)
        SN_FAIL(SN_EFORMAT, "%s: not a sernet bundle (root attribute format is '%s', expected '%s'; "
                "make one with `sernet bundle`)", f->path, fmt ? fmt : "missing", SN_BUNDLE_FORMAT);
    if (sn_h5_verify_attrs(f, "/") != SN_OK) {
        status = sn_bundle_part_error(f->path, "/", "root attributes");
        goto done;
    }
    SN_TRY(sn_h5_attr_get_int(f, "/", "format_version", &v));
    if (v != SN_BUNDLE_VERSION)
        SN_FAIL(SN_EFORMAT, "%s: bundle format version %lld, this program reads version %d: make the "
                "bundle again with this program's `sernet bundle`", f->path, (long long)v,
                SN_BUNDLE_VERSION);
    if (!sn_h5_attr_opt_int(f, "/", "bundle_complete", &v) || v != 1)
        SN_FAIL(SN_EFORMAT, "%s: incomplete bundle (no completion marker bundle_complete)", f->path);
    SN_TRY(check_parts(f));
done:
    free(fmt);
    return status;
}

sn_status sn_trainset_load_bundle(const char *bpath, sn_trainset *t)
{
    sn_status status = SN_OK;
    sn_h5file f = {.id = H5I_INVALID_HID};
    hid_t d = H5I_INVALID_HID;
    char *cat = NULL, *alg = NULL;
    int64_t s = 0, n = 0;
    hsize_t dims[4] = {0};
    memset(t, 0, sizeof *t);
    SN_TRY(sn_h5_open_local(&f, bpath));
    SN_TRY(sn_bundle_check_root(&f));
    if (sn_h5_verify_attrs(&f, "/") != SN_OK ||
        sn_h5_attr_get_str(&f, "/", "category", &cat) != SN_OK ||
        sn_h5_attr_get_int(&f, "/", "image_size", &s) != SN_OK ||
        sn_h5_attr_get_int(&f, "/", "n_train", &n) != SN_OK) {
        status = sn_bundle_part_error(bpath, "/", "root attributes");
        goto done;
    }
    if (s < 16 || s > 8192 || n < 1 || n > ((int64_t)1 << 40) / (s * s * 3) || !cat[0] ||
        strlen(cat) >= sizeof t->category)
        SN_FAIL(SN_EFORMAT, "%s: bundle part / (root attributes): image_size %lld, n_train %lld, "
                "category '%s' out of range (damaged bundle?)", bpath, (long long)s, (long long)n, cat);
    snprintf(t->category, sizeof t->category, "%s", cat);
    t->s = (int)s;
    t->n = n;

    if (sn_h5_verify_attrs(&f, "/train") != SN_OK) {
        status = sn_bundle_part_error(bpath, "/train", "training split attributes");
        goto done;
    }
    status = sn_h5_dataset_open(&f, "/train/images", 4, dims, &d);
    if (status == SN_OK && (dims[0] != (hsize_t)n || dims[1] != (hsize_t)s || dims[2] != (hsize_t)s ||
                            dims[3] != 3))
        status = SN_ERR(SN_EFORMAT, "shape [%llu, %llu, %llu, %llu], expected [%lld, %lld, %lld, 3]",
                        (unsigned long long)dims[0], (unsigned long long)dims[1],
                        (unsigned long long)dims[2], (unsigned long long)dims[3], (long long)n,
                        (long long)s, (long long)s);
    if (status == SN_OK && !(t->images = sn_alloc((size_t)n * s * s * 3, "training images")))
        status = SN_ENOMEM;
    if (status == SN_OK)
        status = sn_h5_read_rows(&f, d, "/train/images", H5T_NATIVE_UINT8, 0, n, t->images);
    if (d >= 0)
        H5Dclose(d);
    d = H5I_INVALID_HID;
    if (status != SN_OK) {
        status = sn_bundle_part_error(bpath, "/train/images", "training images");
        goto done;
    }

    if (sn_h5_read_names(&f, "/train/names", n, &t->names) != SN_OK) {
        status = sn_bundle_part_error(bpath, "/train/names", "training image names");
        goto done;
    }

    status = sn_h5_dataset_open(&f, "/train/phash", 1, dims, &d);
    if (status == SN_OK)
        status = sn_h5_verify_attrs(&f, "/train/phash");
    if (status == SN_OK && dims[0] != (hsize_t)n)
        status = SN_ERR(SN_EFORMAT, "%llu hashes for %lld training images",
                        (unsigned long long)dims[0], (long long)n);
    if (status == SN_OK)
        status = sn_h5_attr_get_str(&f, "/train/phash", "algorithm", &alg);
    if (status == SN_OK && strcmp(alg, sn_hashindex_algorithm()) != 0)
        status = SN_ERR(SN_EFORMAT, "made with another hash algorithm ('%s', this program uses "
                        "'%s'): make the bundle again", alg, sn_hashindex_algorithm());
    if (status == SN_OK && !(t->hashes = sn_alloc((size_t)n * sizeof *t->hashes, "hash index")))
        status = SN_ENOMEM;
    if (status == SN_OK)
        status = sn_h5_read_rows(&f, d, "/train/phash", H5T_NATIVE_UINT64, 0, n, t->hashes);
    if (status != SN_OK) {
        status = sn_bundle_part_error(bpath, "/train/phash", "training hash index");
        goto done;
    }
done:
    if (d >= 0)
        H5Dclose(d);
    free(cat);
    free(alg);
    sn_h5_close(&f);
    if (status != SN_OK)
        sn_trainset_free(t);
    return status;
}

/* ---- writing --------------------------------------------------------------------------------- */

/* A whole array as one dataset of `ndim` dims, chunked (chunk dims given) so every chunk carries
 * a Fletcher32 checksum. */
static sn_status write_array(sn_h5file *f, const char *path, hid_t ftype, hid_t mtype, int ndim,
                             const hsize_t *dims, const hsize_t *chunk, const void *buf)
{
    sn_status status = SN_OK;
    hid_t d = H5I_INVALID_HID;
    SN_TRY(sn_h5_dataset_create(f, path, ftype, ndim, dims, chunk, &d));
    SN_TRY(sn_h5_write_rows(f, d, path, mtype, 0, (int64_t)dims[0], buf));
done:
    if (d >= 0)
        H5Dclose(d);
    return status;
}

/* A net as in model files (one chunk per tensor), without the optimiser state. */
static sn_status write_net(sn_h5file *f, sn_h5file *src, const sn_model *m, sn_net_kind kind)
{
    sn_status status = SN_OK;
    const char *g = sn_model_group(kind);
    int64_t step, total;
    SN_TRY(sn_h5_attr_get_int(src, g, "step", &step));
    SN_TRY(sn_h5_attr_get_int(src, g, "steps_total", &total));
    /* complete (step == steps_total): the loader refused anything else */
    const sn_config *cfg = sn_model_config(m);
    SN_TRY(sn_model_file_write_net(f, kind, sn_model_net(m, kind),
                                   kind == SN_NET_SEG ? cfg->seg_width : cfg->rec_width,
                                   cfg->units_per_block, step, total, NULL));
done:
    return status;
}

/* The repair calibration: the attributes of the model's /calib that exist. */
static sn_status write_calib(sn_h5file *f, sn_h5file *src)
{
    sn_status status = SN_OK;
    static const char *dbl[] = {"tau", "f1", "recall", "precision", "max_in_anomaly", "pixel_auroc",
                                "fire_fraction"};
    static const char *ints[] = {"samples", "anomalous_pixels", "auto"};
    char *warn = NULL;
    const char *g = SN_MODEL_CALIB;
    if (!sn_h5_exists(src, g))
        return SN_OK;
    SN_TRY(sn_h5_group_create(f, g));
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++) {
        double v;
        if (!sn_h5_attr_exists(src, g, dbl[i]))
            continue;
        SN_TRY(sn_h5_attr_get_double(src, g, dbl[i], &v));
        SN_TRY(sn_h5_attr_set_double(f, g, dbl[i], v));
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int64_t v;
        if (!sn_h5_attr_exists(src, g, ints[i]))
            continue;
        SN_TRY(sn_h5_attr_get_int(src, g, ints[i], &v));
        SN_TRY(sn_h5_attr_set_int(f, g, ints[i], v));
    }
    if (sn_h5_attr_exists(src, g, "warning")) {
        SN_TRY(sn_h5_attr_get_str(src, g, "warning", &warn));
        SN_TRY(sn_h5_attr_set_str(f, g, "warning", warn));
    }
done:
    free(warn);
    return status;
}

static sn_status write_train(sn_h5file *f, const sn_trainset *t, const char *data_path)
{
    sn_status status = SN_OK;
    const hsize_t n = (hsize_t)t->n, s = (hsize_t)t->s;
    hsize_t chunk1 = n < 4096 ? n : 4096;
    size_t len = 1;
    char *names = NULL;
    hid_t st = H5I_INVALID_HID;
    SN_TRY(sn_h5_group_create(f, "/train"));
    SN_TRY(sn_h5_attr_set_str(f, "/train", "category", t->category));
    SN_TRY(sn_h5_attr_set_str(f, "/train", "source", data_path));
    SN_TRY(sn_h5_attr_set_int(f, "/train", "n_images", t->n));
    {
        hsize_t dims[4] = {n, s, s, 3}, chunk[4] = {1, s, s, 3};
        SN_TRY(write_array(f, "/train/images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, dims, chunk,
                           t->images));
    }
    for (int64_t i = 0; i < t->n; i++)
        len = SN_MAX(len, strlen(t->names[i]) + 1);
    if (!(names = calloc((size_t)t->n, len)))
        SN_FAIL(SN_ENOMEM, "%s: names of %lld training images", f->path, (long long)t->n);
    for (int64_t i = 0; i < t->n; i++)
        memcpy(names + (size_t)i * len, t->names[i], strlen(t->names[i]));
    if ((st = sn_h5_string_type(len)) < 0)
        SN_FAIL(SN_EIO, "%s: string type of %zu bytes: %s", f->path, len, sn_h5_detail());
    SN_TRY(write_array(f, "/train/names", st, st, 1, &n, &chunk1, names));
    SN_TRY(sn_hashindex_write(f, "/train/phash", t->n, (int64_t)chunk1, 0, t->n, t->hashes));
done:
    if (st >= 0)
        H5Tclose(st);
    free(names);
    return status;
}

/* Training ran floor(N / global_batch) steps per epoch over the N training images it saw: a
 * dataset whose count of the category gives another number is not the one the model was
 * trained on (its images would repair, but not the ones the nets learnt). */
static sn_status check_training_count(sn_h5file *src, const sn_trainset *t, const char *model_path,
                                      const char *data_path)
{
    sn_status status = SN_OK;
    int64_t batch = 0, per_epoch = 0;
    if (!sn_h5_attr_exists(src, "/", "global_batch") ||
        !sn_h5_attr_exists(src, sn_model_group(SN_NET_SEG), "steps_per_epoch"))
        return SN_OK;
    SN_TRY(sn_h5_attr_get_int(src, "/", "global_batch", &batch));
    SN_TRY(sn_h5_attr_get_int(src, sn_model_group(SN_NET_SEG), "steps_per_epoch", &per_epoch));
    if (batch >= 1 && t->n / batch != per_epoch)
        SN_FAIL(SN_EINVAL, "%s (category '%s') holds %lld training images, but %s was trained on "
                "%lld to %lld images (%lld steps per epoch at global batch %lld): give the dataset "
                "the model was trained on", data_path, t->category, (long long)t->n, model_path,
                (long long)(per_epoch * batch), (long long)(per_epoch * batch + batch - 1),
                (long long)per_epoch, (long long)batch);
done:
    return status;
}

sn_status sn_bundle_write(const char *model_path, const char *data_path, const char *out, int force,
                          int64_t *n_train)
{
    sn_status status = SN_OK;
    sn_model *m = NULL;
    sn_trainset t = {0};
    sn_h5file src = {.id = H5I_INVALID_HID}, f = {.id = H5I_INVALID_HID};
    SN_TRY(sn_model_load(model_path, &m));
    if (sn_model_is_bundle(m))
        SN_FAIL(SN_EINVAL, "%s is a bundle already: give the model file of `sernet train` (and the "
                "dataset it was trained on)", model_path);
    const char *category = sn_model_category(m);
    const sn_thresholds *thr = sn_model_thresholds(m);
    status = sn_trainset_load(data_path, category, 1, model_path, sn_model_image_size(m), &t);
    if (status == SN_EINVAL && strstr(sn_err_msg(), "no category")) {
        /* the model's category is not in the dataset: say which file the category came from */
        char inner[1024];
        snprintf(inner, sizeof inner, "%s", sn_err_msg());
        sn_err_clear();
        SN_FAIL(SN_EINVAL, "%s: the model %s was trained on category '%s', a bundle takes the "
                "training images of that category: %s", out, model_path, category, inner);
    }
    SN_TRY(status);
    SN_TRY(sn_h5_open_local(&src, model_path));
    SN_TRY(check_training_count(&src, &t, model_path, data_path));

    /* object headers and the superblock carry checksums too: a flipped bit in an attribute
     * (configuration, thresholds) is refused like one in the data */
    SN_TRY(sn_h5_create_ex(&f, out, force, MPI_COMM_SELF, SN_H5_META_CHECKSUMS));
    SN_TRY(sn_h5_provenance(&f, sn_model_config(m)));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "format", SN_BUNDLE_FORMAT));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "format_version", SN_BUNDLE_VERSION));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "category", category));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "image_size", sn_model_image_size(m)));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "n_train", t.n));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "model", model_path));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "data", data_path));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "model_fingerprint", sn_model_fingerprint(m)));
    SN_TRY(write_net(&f, &src, m, SN_NET_SEG));
    SN_TRY(write_net(&f, &src, m, SN_NET_REC));
    SN_TRY(write_calib(&f, &src));
    if (thr->set) {
        const char *g = SN_MODEL_THRESHOLDS;
        SN_TRY(sn_h5_group_create(&f, g));
        SN_TRY(sn_h5_attr_set_double(&f, g, "image", thr->image));
        SN_TRY(sn_h5_attr_set_double(&f, g, "pixel", thr->pixel));
        SN_TRY(sn_h5_attr_set_str(&f, g, "source", thr->source));
        SN_TRY(sn_h5_attr_set_str(&f, g, "model_fingerprint", thr->fingerprint));
    }
    SN_TRY(write_train(&f, &t, data_path));
    {
        char parts[128];
        SN_TRY(sn_bundle_parts_list(&f, parts, sizeof parts));
        SN_TRY(sn_h5_attr_set_str(&f, "/", "parts", parts));
    }
    /* completion marker, written last */
    SN_TRY(sn_h5_attr_set_int(&f, "/", "bundle_complete", 1));
    if (n_train)
        *n_train = t.n;
done:
    if (f.id >= 0 || f.writing)
        status = sn_h5_finish(&f, status);
    sn_h5_close(&src);
    sn_trainset_free(&t);
    sn_model_free(m);
    return status;
}
