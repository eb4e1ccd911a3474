/* The model file of training: the checkpoint writer (rank 0, every net's tensors, Adam moments,
 * loss history, the calibration, a completion marker written last) and the reader of a resumed
 * run, which first checks format, configuration (keys that may differ listed below) and global
 * batch. Layout: docs/formats.md "Model file". */
#define _GNU_SOURCE
#include "train/train_internal.h"
#include "sernet/dist.h"
#include "sernet/h5util.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

/* Keys that may differ between a checkpoint and its resumption (they do not change the maths,
 * except that a different thread count changes float summation order). */
static int key_may_differ(const char *line)
{
    static const char *ok[] = {"threads", "log_every", "checkpoint_every"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = strlen(ok[i]);
        if (strncmp(line, ok[i], n) == 0 && (line[n] == ' ' || line[n] == '='))
            return 1;
    }
    return 0;
}

/* Compare two INI texts line by line; names the differing lines in `diff`. */
static int config_diff(const char *a, const char *b, char *diff, size_t len)
{
    int n = 0;
    diff[0] = '\0';
    char *ca = strdup(a), *cb = strdup(b);
    if (!ca || !cb) {
        free(ca);
        free(cb);
        snprintf(diff, len, "(out of memory comparing configurations)");
        return 1;
    }
    char *sa = NULL, *sb = NULL;
    char *la = strtok_r(ca, "\n", &sa), *lb = strtok_r(cb, "\n", &sb);
    while (la || lb) {
        if (!la || !lb || strcmp(la, lb) != 0) {
            const char *shown = la ? la : lb;
            if (!key_may_differ(shown)) {
                size_t used = strlen(diff);
                snprintf(diff + used, len - used, "%s'%s' (checkpoint) vs '%s' (now)", n ? "; " : "",
                         la ? la : "", lb ? lb : "");
                n++;
            }
        }
        la = la ? strtok_r(NULL, "\n", &sa) : NULL;
        lb = lb ? strtok_r(NULL, "\n", &sb) : NULL;
    }
    free(ca);
    free(cb);
    return n;
}

static sn_status write_floats(sn_h5file *f, const char *path, const float *buf, int ndim,
                              const int *dims)
{
    sn_status status = SN_OK;
    hsize_t hd[4];
    hid_t d = H5I_INVALID_HID;
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        hd[i] = (hsize_t)dims[i];
        numel *= dims[i];
    }
    /* one chunk per tensor, so HDF5 checksums it (a flipped bit is reported on reading) */
    SN_TRY(sn_h5_dataset_create(f, path, H5T_IEEE_F32LE, ndim, hd, numel > 0 ? hd : NULL, &d));
    SN_TRY(sn_h5_write_rows(f, d, path, H5T_NATIVE_FLOAT, 0, (int64_t)hd[0], buf));
done:
    if (d >= 0)
        H5Dclose(d);
    return status;
}

static sn_status write_doubles(sn_h5file *f, const char *path, const double *buf, int64_t n)
{
    sn_status status = SN_OK;
    hsize_t hd[1] = {(hsize_t)n};
    hid_t d = H5I_INVALID_HID;
    SN_TRY(sn_h5_dataset_create(f, path, H5T_IEEE_F64LE, 1, hd, n > 0 ? hd : NULL, &d));
    SN_TRY(sn_h5_write_rows(f, d, path, H5T_NATIVE_DOUBLE, 0, n, buf));
done:
    if (d >= 0)
        H5Dclose(d);
    return status;
}

static sn_status write_net(sn_trainer *t, sn_h5file *f, const sn_train_net *ns)
{
    sn_status status = SN_OK;
    char path[256];
    const char *g = sn_train_group(ns->kind);
    SN_TRY(sn_h5_group_create(f, g));
    SN_TRY(sn_h5_attr_set_str(f, g, "net", sn_unet_kind_name(ns->kind)));
    SN_TRY(sn_h5_attr_set_int(f, g, "width",
                              ns->kind == SN_NET_SEG ? t->cfg->seg_width : t->cfg->rec_width));
    SN_TRY(sn_h5_attr_set_int(f, g, "units_per_block", t->cfg->units_per_block));
    SN_TRY(sn_h5_attr_set_int(f, g, "step", ns->step));
    SN_TRY(sn_h5_attr_set_int(f, g, "epoch", ns->step / t->per_epoch));
    SN_TRY(sn_h5_attr_set_int(f, g, "steps_per_epoch", t->per_epoch));
    SN_TRY(sn_h5_attr_set_int(f, g, "steps_total", ns->total));
    SN_TRY(sn_h5_attr_set_int(f, g, "complete", ns->step >= ns->total));
    SN_TRY(sn_h5_attr_set_int(f, g, "adam_step", ns->adam.step));
    snprintf(path, sizeof path, "%s/tensors", g);
    SN_TRY(sn_h5_group_create(f, path));
    for (int i = 0; i < sn_unet_tensor_count(ns->net); i++) {
        const sn_tensor_info *ti = sn_unet_tensor(ns->net, i);
        const float *base = ti->is_buffer ? sn_unet_buffers(ns->net) : sn_unet_params(ns->net);
        snprintf(path, sizeof path, "%s/tensors/%s", g, ti->name);
        SN_TRY(write_floats(f, path, base + ti->offset, ti->ndim, ti->dims));
    }
    int n = (int)sn_unet_param_count(ns->net);
    snprintf(path, sizeof path, "%s/adam_m", g);
    SN_TRY(write_floats(f, path, ns->adam.m, 1, &n));
    snprintf(path, sizeof path, "%s/adam_v", g);
    SN_TRY(write_floats(f, path, ns->adam.v, 1, &n));
    snprintf(path, sizeof path, "%s/loss", g);
    SN_TRY(write_doubles(f, path, ns->loss, ns->step));
done:
    return status;
}

/* Rank 0 only (the file is opened on MPI_COMM_SELF). */
static sn_status write_model_local(sn_trainer *t)
{
    sn_status status = SN_OK;
    sn_h5file f;
    memset(&f, 0, sizeof f);
    f.id = H5I_INVALID_HID;
    SN_TRY(sn_h5_create(&f, t->o->out, 1, MPI_COMM_SELF));
    SN_TRY(sn_h5_provenance(&f, t->cfg));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "format", SN_MODEL_FORMAT));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "format_version", SN_MODEL_VERSION));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "category", sn_dataset_category(t->ds)));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "image_size", t->s));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "global_batch", t->batch));
    for (int k = 0; k < 2; k++)
        if (t->ns[k].present)
            SN_TRY(write_net(t, &f, &t->ns[k]));
    if (t->calibrated) {
        SN_TRY(sn_h5_group_create(&f, "/calib"));
        SN_TRY(sn_h5_attr_set_double(&f, "/calib", "tau", t->calib.tau));
        SN_TRY(sn_h5_attr_set_double(&f, "/calib", "f1", t->calib.f1));
        SN_TRY(sn_h5_attr_set_double(&f, "/calib", "recall", t->calib.recall));
        SN_TRY(sn_h5_attr_set_double(&f, "/calib", "precision", t->calib.precision));
        SN_TRY(sn_h5_attr_set_double(&f, "/calib", "max_in_anomaly", t->calib.max_in_anomaly));
        SN_TRY(sn_h5_attr_set_int(&f, "/calib", "samples", t->calib.samples));
        SN_TRY(sn_h5_attr_set_int(&f, "/calib", "anomalous_pixels", t->calib.anomalous_pixels));
        SN_TRY(sn_h5_attr_set_int(&f, "/calib", "auto", t->cfg->repair_threshold < 0));
        SN_TRY(sn_h5_attr_set_double(&f, "/calib", "pixel_auroc", t->calib.pixel_auroc));
        SN_TRY(sn_h5_attr_set_double(&f, "/calib", "fire_fraction", t->calib.fire_fraction));
        SN_TRY(sn_h5_attr_set_str(&f, "/calib", "warning", t->calib.warning));
    }
    /* Completion marker, written last. */
    SN_TRY(sn_h5_attr_set_int(&f, "/", "checkpoint_complete", 1));
done:
    if (f.id >= 0 || f.writing)
        status = sn_h5_finish(&f, status);
    return status;
}

/* Collective: rank 0 writes after every rank has finished the step; the status is agreed. */
sn_status sn_train_checkpoint(sn_trainer *t)
{
    sn_status status = SN_OK;
    if (t->rank == 0) {
        status = write_model_local(t);
        if (status == SN_OK)
            status = sn_train_write_loss_svg(t);
    }
    return sn_dist_agree(status, t->comm);
}

/* Diagnostics added after the first model files: absent in older files (-1 and no warning). */
static sn_status read_calib_diagnostics(sn_h5file *f, sn_calib *c)
{
    sn_status status = SN_OK;
    char *w = NULL;
    c->pixel_auroc = c->fire_fraction = -1;
    c->warning[0] = 0;
    if (sn_h5_attr_exists(f, "/calib", "pixel_auroc"))
        SN_TRY(sn_h5_attr_get_double(f, "/calib", "pixel_auroc", &c->pixel_auroc));
    if (sn_h5_attr_exists(f, "/calib", "fire_fraction"))
        SN_TRY(sn_h5_attr_get_double(f, "/calib", "fire_fraction", &c->fire_fraction));
    if (sn_h5_attr_exists(f, "/calib", "warning")) {
        SN_TRY(sn_h5_attr_get_str(f, "/calib", "warning", &w));
        snprintf(c->warning, sizeof c->warning, "%s", w);
    }
done:
    free(w);
    return status;
}

static sn_status read_net(sn_trainer *t, sn_h5file *f, sn_train_net *ns)
{
    sn_status status = SN_OK;
    char path[256];
    const char *g = sn_train_group(ns->kind);
    int64_t v;
    SN_TRY(sn_h5_attr_get_int(f, g, "step", &v));
    if (v < 0 || v > ns->total)
        SN_FAIL(SN_EFORMAT, "%s: %s step %lld outside [0, %ld]", f->path, g, (long long)v, ns->total);
    ns->step = (long)v;
    SN_TRY(sn_h5_attr_get_int(f, g, "steps_per_epoch", &v));
    if (v != t->per_epoch)
        SN_FAIL(SN_EINVAL, "%s: checkpoint has %lld steps per epoch, this dataset gives %lld",
                f->path, (long long)v, (long long)t->per_epoch);
    SN_TRY(sn_h5_attr_get_int(f, g, "adam_step", &v));
    ns->adam.step = (long)v;
    for (int i = 0; i < sn_unet_tensor_count(ns->net); i++) {
        const sn_tensor_info *ti = sn_unet_tensor(ns->net, i);
        float *base = ti->is_buffer ? sn_unet_buffers(ns->net) : sn_unet_params(ns->net);
        snprintf(path, sizeof path, "%s/tensors/%s", g, ti->name);
        SN_TRY(sn_h5_read_floats(f, path, ti->numel, base + ti->offset));
    }
    size_t n = sn_unet_param_count(ns->net);
    snprintf(path, sizeof path, "%s/adam_m", g);
    SN_TRY(sn_h5_read_floats(f, path, n, ns->adam.m));
    snprintf(path, sizeof path, "%s/adam_v", g);
    SN_TRY(sn_h5_read_floats(f, path, n, ns->adam.v));
    if (ns->step > 0) {
        hsize_t dims[1];
        hid_t d = H5I_INVALID_HID;
        snprintf(path, sizeof path, "%s/loss", g);
        SN_TRY(sn_h5_dataset_open(f, path, 1, dims, &d));
        if ((long)dims[0] != ns->step) {
            H5Dclose(d);
            SN_FAIL(SN_EFORMAT, "%s: %s has %llu entries, expected %ld", f->path, path,
                    (unsigned long long)dims[0], ns->step);
        }
        status = sn_h5_read_rows(f, d, path, H5T_NATIVE_DOUBLE, 0, ns->step, ns->loss);
        H5Dclose(d);
        SN_TRY(status);
    }
done:
    return status;
}

/* Every rank reads the model file (independent reads). load_rec: also the reconstruction net. */
static sn_status read_checkpoint_local(sn_trainer *t, sn_h5file *f, int load_rec)
{
    sn_status status = SN_OK;
    char *fmt = NULL, *stored = NULL, *now = NULL;
    char diff[4096];
    int64_t v;
    SN_TRY(sn_h5_attr_get_str(f, "/", "format", &fmt));
    if (strcmp(fmt, SN_MODEL_FORMAT) != 0)
        SN_FAIL(SN_EFORMAT, "%s: not a sernet model file (format '%s')", f->path, fmt);
    SN_TRY(sn_h5_attr_get_int(f, "/", "format_version", &v));
    if (v != SN_MODEL_VERSION)
        SN_FAIL(SN_EFORMAT, "%s: model file version %lld, expected %d", f->path, (long long)v,
                SN_MODEL_VERSION);
    if (sn_h5_attr_get_int(f, "/", "checkpoint_complete", &v) != SN_OK || v != 1)
        SN_FAIL(SN_EFORMAT, "%s: checkpoint incomplete (no completion marker)", f->path);
    SN_TRY(sn_h5_attr_get_str(f, "/", "config", &stored));
    {
        /* compare values, not spellings: files written before the shortest number format hold
         * 0.80000000000000004 where this program writes 0.8 */
        sn_config sc;
        sn_config_defaults(&sc);
        char *norm = NULL;
        if (sn_config_load_string(&sc, stored, f->path) == SN_OK && (norm = sn_config_to_ini(&sc))) {
            free(stored);
            stored = norm;
        }
        sn_err_clear(); /* unparsable: the raw text is compared and the diff names the line */
    }
    if (!(now = sn_config_to_ini(t->cfg)))
        SN_FAIL(SN_ENOMEM, "configuration text");
    if (config_diff(stored, now, diff, sizeof diff) > 0)
        SN_FAIL(SN_EINVAL, "%s: checkpoint was made with another configuration: %s", f->path, diff);
    SN_TRY(sn_h5_attr_get_int(f, "/", "global_batch", &v));
    if (v != t->batch)
        SN_FAIL(SN_EINVAL, "%s: checkpoint trained with a global batch of %lld, this run has %d "
                "(batch_mode = per_rank with another number of ranks?)", f->path, (long long)v,
                t->batch);
    if (!sn_h5_exists(f, "/seg"))
        SN_FAIL(SN_EFORMAT, "%s: no segmentation net (/seg) in the model file", f->path);
    SN_TRY(read_net(t, f, &t->ns[SN_NET_SEG]));
    t->ns[SN_NET_SEG].present = 1;
    if (sn_h5_exists(f, "/calib")) {
        SN_TRY(sn_h5_attr_get_double(f, "/calib", "tau", &t->calib.tau));
        SN_TRY(sn_h5_attr_get_double(f, "/calib", "f1", &t->calib.f1));
        SN_TRY(sn_h5_attr_get_double(f, "/calib", "recall", &t->calib.recall));
        SN_TRY(sn_h5_attr_get_double(f, "/calib", "precision", &t->calib.precision));
        SN_TRY(sn_h5_attr_get_double(f, "/calib", "max_in_anomaly", &t->calib.max_in_anomaly));
        SN_TRY(sn_h5_attr_get_int(f, "/calib", "samples", &t->calib.samples));
        SN_TRY(sn_h5_attr_get_int(f, "/calib", "anomalous_pixels", &t->calib.anomalous_pixels));
        SN_TRY(read_calib_diagnostics(f, &t->calib));
        t->calibrated = 1;
    }
    if (load_rec && t->ns[SN_NET_REC].net && sn_h5_exists(f, "/rec")) {
        SN_TRY(read_net(t, f, &t->ns[SN_NET_REC]));
        t->ns[SN_NET_REC].present = 1;
    }
done:
    free(fmt);
    free(stored);
    sn_free(now);
    return status;
}

sn_status sn_train_load_model(sn_trainer *t, int load_rec)
{
    sn_h5file f;
    sn_status status = sn_h5_open(&f, t->o->out, t->comm);
    if (status != SN_OK)
        return status;
    status = sn_dist_agree(read_checkpoint_local(t, &f, load_rec), t->comm);
    sn_h5_close(&f);
    return status;
}
