/* The model file of training: the checkpoint writer (rank 0, every net's tensors, Adam moments,
 * loss history, the calibration, a completion marker written last) and the reader of a resumed
 * run, which first checks format, configuration (keys that may differ listed below) and global
 * batch. Layout: docs/formats.md "Model file". */
#define _GNU_SOURCE
#include "train/train_internal.h"
#include "sernet/dist.h"
#include "sernet/err_mute.h"
#include "sernet/h5util.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

/* Keys that may differ between a checkpoint and its resumption (they do not change the maths,
 * except that a different thread count, and the allreduce keys at 3 or more ranks, change float
 * summation order). */
static int key_may_differ(const char *line)
{
    static const char *ok[] = {"threads", "log_every", "checkpoint_every", "allreduce_overlap",
                               "allreduce_bucket_mb"};
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

static sn_status write_net(sn_trainer *t, sn_h5file *f, const sn_train_net *ns)
{
    const sn_model_train_state ts = {t->per_epoch, ns->adam.step, ns->adam.m, ns->adam.v, ns->loss};
    return sn_model_file_write_net(f, ns->kind, ns->net,
                                   ns->kind == SN_NET_SEG ? t->cfg->seg_width : t->cfg->rec_width,
                                   t->cfg->units_per_block, ns->step, ns->total, &ts);
}

/* Rank 0 only (the file is opened on MPI_COMM_SELF). */
static sn_status write_model_local(sn_trainer *t)
{
    sn_status status = SN_OK;
    sn_h5file f;
    memset(&f, 0, sizeof f);
    f.id = H5I_INVALID_HID;
    SN_TRY(sn_h5_create(&f, t->o->out, 1, MPI_COMM_SELF));
    SN_TRY(sn_model_file_write_root(&f, t->cfg, sn_dataset_category(t->ds), t->s, t->batch));
    for (int k = 0; k < 2; k++)
        if (t->ns[k].present)
            SN_TRY(write_net(t, &f, &t->ns[k]));
    if (t->calibrated)
        SN_TRY(sn_model_file_write_calib(&f, &t->calib, t->cfg->repair_threshold < 0));
    /* Completion marker, written last. */
    SN_TRY(sn_model_file_write_complete(&f));
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

static sn_status read_net(sn_trainer *t, sn_h5file *f, sn_train_net *ns)
{
    sn_status status = SN_OK;
    char path[256];
    const char *g = sn_model_group(ns->kind);
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
    SN_TRY(sn_model_file_read_tensors(f, ns->kind, ns->net, 0));
    size_t n = sn_unet_param_count(ns->net);
    SN_TRY(sn_h5_read_floats(f, sn_model_net_path(path, sizeof path, ns->kind, SN_MODEL_ADAM_M), n,
                             ns->adam.m));
    SN_TRY(sn_h5_read_floats(f, sn_model_net_path(path, sizeof path, ns->kind, SN_MODEL_ADAM_V), n,
                             ns->adam.v));
    if (ns->step > 0) {
        hsize_t dims[1];
        hid_t d = H5I_INVALID_HID;
        sn_model_net_path(path, sizeof path, ns->kind, SN_MODEL_LOSS);
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
    char *stored = NULL, *now = NULL;
    char diff[4096];
    int64_t v;
    int calibrated = 0;
    SN_TRY(sn_model_file_check_root(f));
    SN_TRY(sn_h5_attr_get_str(f, "/", "config", &stored));
    {
        /* compare values, not spellings: files written before the shortest number format hold
         * 0.80000000000000004 where this program writes 0.8 */
        sn_config sc;
        sn_config_defaults(&sc);
        char *norm = NULL;
        /* unparsable: the raw text is compared and the diff names the line (no error kept) */
        sn_err_mute();
        sn_status parsed = sn_config_load_string(&sc, stored, f->path);
        sn_err_unmute();
        if (parsed == SN_OK && (norm = sn_config_to_ini(&sc))) {
            free(stored);
            stored = norm;
        }
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
    if (!sn_h5_exists(f, sn_model_group(SN_NET_SEG)))
        SN_FAIL(SN_EFORMAT, "%s: no segmentation net (%s) in the model file", f->path,
                sn_model_group(SN_NET_SEG));
    SN_TRY(read_net(t, f, &t->ns[SN_NET_SEG]));
    t->ns[SN_NET_SEG].present = 1;
    SN_TRY(sn_model_file_read_calib(f, &t->calib, &calibrated));
    if (calibrated)
        t->calibrated = 1;
    if (load_rec && t->ns[SN_NET_REC].net && sn_h5_exists(f, sn_model_group(SN_NET_REC))) {
        SN_TRY(read_net(t, f, &t->ns[SN_NET_REC]));
        t->ns[SN_NET_REC].present = 1;
    }
done:
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
