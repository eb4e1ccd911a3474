/* The model file format (src/include/sernet/model_format.h; docs/formats.md "Model files"):
 * group and dataset paths, the root identity, and the net, tensor and calibration writers and
 * readers shared by the checkpoint (src/train/checkpoint.c), the inference loader
 * (src/infer/model.c) and the bundle (src/format/bundle.c). */
#include "sernet/model_format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATTR_COMPLETE "checkpoint_complete"

const char *sn_model_group(sn_net_kind kind) { return kind == SN_NET_SEG ? SN_MODEL_SEG : SN_MODEL_REC; }

const char *sn_model_net_path(char *buf, size_t cap, sn_net_kind kind, const char *item)
{
    snprintf(buf, cap, "%s/%s", sn_model_group(kind), item);
    return buf;
}

/* ---- writing --------------------------------------------------------------------------------- */

sn_status sn_model_file_write_root(sn_h5file *f, const sn_config *cfg, const char *category,
                                   int image_size, int global_batch)
{
    sn_status status = SN_OK;
    SN_TRY(sn_h5_provenance(f, cfg));
    SN_TRY(sn_h5_attr_set_str(f, "/", "format", SN_MODEL_FORMAT));
    SN_TRY(sn_h5_attr_set_int(f, "/", "format_version", SN_MODEL_VERSION));
    SN_TRY(sn_h5_attr_set_str(f, "/", "category", category));
    SN_TRY(sn_h5_attr_set_int(f, "/", "image_size", image_size));
    SN_TRY(sn_h5_attr_set_int(f, "/", "global_batch", global_batch));
done:
    return status;
}

sn_status sn_model_file_write_complete(sn_h5file *f)
{
    return sn_h5_attr_set_int(f, "/", ATTR_COMPLETE, 1);
}

/* One floating-point dataset, one chunk (so HDF5 checksums it: a flipped bit is reported on
 * reading), n rows along dimension 0. */
static sn_status write_array(sn_h5file *f, const char *path, hid_t ftype, hid_t mtype, int ndim,
                             const hsize_t *dims, int64_t numel, const void *buf)
{
    sn_status status = SN_OK;
    hid_t d = H5I_INVALID_HID;
    SN_TRY(sn_h5_dataset_create(f, path, ftype, ndim, dims, numel > 0 ? dims : NULL, &d));
    SN_TRY(sn_h5_write_rows(f, d, path, mtype, 0, (int64_t)dims[0], buf));
done:
    if (d >= 0)
        H5Dclose(d);
    return status;
}

sn_status sn_model_file_write_net(sn_h5file *f, sn_net_kind kind, const sn_unet *cnet, int width,
                                  int units_per_block, int64_t step, int64_t steps_total,
                                  const sn_model_train_state *ts)
{
    sn_status status = SN_OK;
    sn_unet *net = (sn_unet *)cnet; /* the accessors are not const; nothing is modified */
    const char *g = sn_model_group(kind);
    char path[256], item[200];
    SN_TRY(sn_h5_group_create(f, g));
    SN_TRY(sn_h5_attr_set_str(f, g, "net", sn_unet_kind_name(kind)));
    SN_TRY(sn_h5_attr_set_int(f, g, "width", width));
    SN_TRY(sn_h5_attr_set_int(f, g, "units_per_block", units_per_block));
    SN_TRY(sn_h5_attr_set_int(f, g, "step", step));
    if (ts) {
        SN_TRY(sn_h5_attr_set_int(f, g, "epoch", step / ts->steps_per_epoch));
        SN_TRY(sn_h5_attr_set_int(f, g, "steps_per_epoch", ts->steps_per_epoch));
    }
    SN_TRY(sn_h5_attr_set_int(f, g, "steps_total", steps_total));
    SN_TRY(sn_h5_attr_set_int(f, g, "complete", step >= steps_total));
    if (ts)
        SN_TRY(sn_h5_attr_set_int(f, g, "adam_step", ts->adam_step));
    SN_TRY(sn_h5_group_create(f, sn_model_net_path(path, sizeof path, kind, SN_MODEL_TENSORS)));
    for (int i = 0; i < sn_unet_tensor_count(net); i++) {
        const sn_tensor_info *ti = sn_unet_tensor(net, i);
        const float *base = ti->is_buffer ? sn_unet_buffers(net) : sn_unet_params(net);
        hsize_t dims[4];
        int64_t numel = 1;
        for (int k = 0; k < ti->ndim; k++) {
            dims[k] = (hsize_t)ti->dims[k];
            numel *= ti->dims[k];
        }
        snprintf(item, sizeof item, "%s/%s", SN_MODEL_TENSORS, ti->name);
        SN_TRY(write_array(f, sn_model_net_path(path, sizeof path, kind, item), H5T_IEEE_F32LE,
                           H5T_NATIVE_FLOAT, ti->ndim, dims, numel, base + ti->offset));
    }
    if (ts) {
        hsize_t n[1] = {(hsize_t)sn_unet_param_count(net)}, l[1] = {(hsize_t)step};
        SN_TRY(write_array(f, sn_model_net_path(path, sizeof path, kind, SN_MODEL_ADAM_M),
                           H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, n, (int64_t)n[0], ts->adam_m));
        SN_TRY(write_array(f, sn_model_net_path(path, sizeof path, kind, SN_MODEL_ADAM_V),
                           H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, n, (int64_t)n[0], ts->adam_v));
        SN_TRY(write_array(f, sn_model_net_path(path, sizeof path, kind, SN_MODEL_LOSS),
                           H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, l, step, ts->loss));
    }
done:
    return status;
}

sn_status sn_model_file_write_calib(sn_h5file *f, const sn_calib *c, int auto_tau)
{
    sn_status status = SN_OK;
    const char *g = SN_MODEL_CALIB;
    SN_TRY(sn_h5_group_create(f, g));
    SN_TRY(sn_h5_attr_set_double(f, g, "tau", c->tau));
    SN_TRY(sn_h5_attr_set_double(f, g, "f1", c->f1));
    SN_TRY(sn_h5_attr_set_double(f, g, "recall", c->recall));
    SN_TRY(sn_h5_attr_set_double(f, g, "precision", c->precision));
    SN_TRY(sn_h5_attr_set_double(f, g, "max_in_anomaly", c->max_in_anomaly));
    SN_TRY(sn_h5_attr_set_int(f, g, "samples", c->samples));
    SN_TRY(sn_h5_attr_set_int(f, g, "anomalous_pixels", c->anomalous_pixels));
    SN_TRY(sn_h5_attr_set_int(f, g, "auto", auto_tau));
    SN_TRY(sn_h5_attr_set_double(f, g, "pixel_auroc", c->pixel_auroc));
    SN_TRY(sn_h5_attr_set_double(f, g, "fire_fraction", c->fire_fraction));
    SN_TRY(sn_h5_attr_set_str(f, g, "warning", c->warning));
done:
    return status;
}

/* ---- reading --------------------------------------------------------------------------------- */

sn_status sn_model_file_check_root(sn_h5file *f)
{
    sn_status status = SN_OK;
    char *fmt = NULL;
    int64_t v = 0;
    if (!sn_h5_attr_opt_str(f, "/", "format", &fmt) || strcmp(fmt, SN_MODEL_FORMAT) != 0)
        SN_FAIL(SN_EFORMAT, "%s: not a sernet model file (root attribute format is '%s', expected "
                "'%s')", f->path, fmt ? fmt : "missing", SN_MODEL_FORMAT);
    SN_TRY(sn_h5_attr_get_int(f, "/", "format_version", &v));
    if (v != SN_MODEL_VERSION)
        SN_FAIL(SN_EFORMAT, "%s: model file version %lld, this program reads version %d", f->path,
                (long long)v, SN_MODEL_VERSION);
    if (!sn_h5_attr_opt_int(f, "/", ATTR_COMPLETE, &v) || v != 1)
        SN_FAIL(SN_EFORMAT, "%s: incomplete model file (no completion marker %s)", f->path,
                ATTR_COMPLETE);
done:
    free(fmt);
    return status;
}

sn_status sn_model_file_read_tensors(sn_h5file *f, sn_net_kind kind, sn_unet *net, int check_finite)
{
    sn_status status = SN_OK;
    char path[256], item[200];
    for (int i = 0; i < sn_unet_tensor_count(net); i++) {
        const sn_tensor_info *ti = sn_unet_tensor(net, i);
        float *buf = (ti->is_buffer ? sn_unet_buffers(net) : sn_unet_params(net)) + ti->offset;
        snprintf(item, sizeof item, "%s/%s", SN_MODEL_TENSORS, ti->name);
        sn_model_net_path(path, sizeof path, kind, item);
        SN_TRY(sn_h5_read_floats(f, path, ti->numel, buf));
        for (size_t k = 0; check_finite && k < ti->numel; k++)
            if (!isfinite(buf[k]))
                SN_FAIL(SN_EFORMAT, "%s: dataset %s holds a non-finite value at element %zu", f->path,
                        path, k);
    }
done:
    return status;
}

sn_status sn_model_file_read_calib(sn_h5file *f, sn_calib *c, int *present)
{
    sn_status status = SN_OK;
    const char *g = SN_MODEL_CALIB;
    char *w = NULL;
    *present = 0;
    if (!sn_h5_exists(f, g))
        return SN_OK;
    SN_TRY(sn_h5_attr_get_double(f, g, "tau", &c->tau));
    SN_TRY(sn_h5_attr_get_double(f, g, "f1", &c->f1));
    SN_TRY(sn_h5_attr_get_double(f, g, "recall", &c->recall));
    SN_TRY(sn_h5_attr_get_double(f, g, "precision", &c->precision));
    SN_TRY(sn_h5_attr_get_double(f, g, "max_in_anomaly", &c->max_in_anomaly));
    SN_TRY(sn_h5_attr_get_int(f, g, "samples", &c->samples));
    SN_TRY(sn_h5_attr_get_int(f, g, "anomalous_pixels", &c->anomalous_pixels));
    /* diagnostics added after the first model files: absent in older files */
    c->pixel_auroc = c->fire_fraction = -1;
    c->warning[0] = 0;
    if (sn_h5_attr_exists(f, g, "pixel_auroc"))
        SN_TRY(sn_h5_attr_get_double(f, g, "pixel_auroc", &c->pixel_auroc));
    if (sn_h5_attr_exists(f, g, "fire_fraction"))
        SN_TRY(sn_h5_attr_get_double(f, g, "fire_fraction", &c->fire_fraction));
    if (sn_h5_attr_exists(f, g, "warning")) {
        SN_TRY(sn_h5_attr_get_str(f, g, "warning", &w));
        snprintf(c->warning, sizeof c->warning, "%s", w);
    }
    *present = 1;
done:
    free(w);
    return status;
}
