/* Data-parallel two-stage training with checkpoints and exact resume
 * (src/include/sernet/train.h, docs/training.md). */
#define _GNU_SOURCE
#include "sernet/train.h"
#include "sernet/testhook.h"

#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/h5util.h"
#include "sernet/loss.h"
#include "sernet/optim.h"
#include "sernet/plot.h"
#include "sernet/pseudo.h"
#include "sernet/repair.h"
#include "sernet/unet.h"
#include "sernet/version.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- stop requests --------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void sn_train_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

int sn_train_stop_requested(void) { return stop_flag != 0; }
void sn_train_request_stop(void) { stop_flag = 1; }

/* ---- the BatchNorm reduction hook ------------------------------------------------------------ */

typedef struct {
    MPI_Comm comm;
    int failed;
} reduce_ctx;

static void reduce_sum(double *buf, int n, void *ctx)
{
    reduce_ctx *r = ctx;
    if (MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, r->comm) != MPI_SUCCESS)
        r->failed = 1;
}

/* ---- trainer state --------------------------------------------------------------------------- */

typedef struct {
    sn_net_kind kind;
    int epochs;
    sn_unet *net;
    sn_adam adam;
    double *loss;          /* per-step global loss, total entries */
    long step;             /* steps done */
    long total;            /* steps of the stage */
    int present;           /* created (and written to the model file) */
} net_state;

typedef struct {
    const sn_config *cfg;
    const sn_train_opts *o;
    MPI_Comm comm;
    int rank, size;
    sn_dataset *ds;
    int s;
    int64_t n_train;
    int batch;             /* global batch */
    int64_t per_epoch;     /* steps per epoch */
    net_state ns[2];       /* SN_NET_SEG, SN_NET_REC */
    int calibrated;
    sn_calib calib;
    sn_pseudo_params pp;
    sn_pseudo_work *pw;
    sn_image_source src;
    int64_t min_area;
    sn_tensor x, clean, target, dout, mp;
    int64_t *idx;
    reduce_ctx rctx;
    sn_reduce_hook hook;
    double t_step, t_allreduce; /* seconds in this run's steps, in the gradient allreduce */
    int tty;                    /* rank 0's stdout is a terminal */
} trainer;

static const char *group_of(sn_net_kind k) { return k == SN_NET_SEG ? "/seg" : "/rec"; }
static const char *stage_name(sn_net_kind k) { return k == SN_NET_SEG ? "seg" : "rec"; }

/* ---- model file ------------------------------------------------------------------------------ */

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

static sn_status write_net(trainer *t, sn_h5file *f, const net_state *ns)
{
    sn_status status = SN_OK;
    char path[256];
    const char *g = group_of(ns->kind);
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
static sn_status write_model_local(trainer *t)
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

/* The loss curves as SVG next to the model file: <out without .h5>_loss.svg (sernet/plot.h). */
static sn_status write_loss_svg(const trainer *t)
{
    sn_status status = SN_OK;
    char path[1100];
    double *steps = NULL;
    size_t n = strlen(t->o->out);
    if (n > 3 && strcmp(t->o->out + n - 3, ".h5") == 0)
        n -= 3;
    snprintf(path, sizeof path, "%.*s_loss.svg", (int)n, t->o->out);
    static const char *colour[2] = {"#1f77b4", "#d62728"};
    static const char *name[2] = {"segmentation", "reconstruction"};
    double lo = INFINITY, hi = -INFINITY;
    long most = 1;
    for (int k = 0; k < 2; k++) {
        const net_state *ns = &t->ns[k];
        if (!ns->present)
            continue;
        most = SN_MAX(most, ns->total);
        for (long i = 0; i < ns->step; i++) {
            lo = fmin(lo, ns->loss[i]);
            hi = fmax(hi, ns->loss[i]);
        }
    }
    if (!(hi >= lo))
        lo = 0, hi = 1;
    if (hi - lo < 1e-12)
        hi = lo + 1e-12;
    SN_ALLOC(steps, most, "loss curve steps");
    for (long i = 0; i < most; i++)
        steps[i] = (double)i;
    sn_plot_series ser[2];
    int nser = 0;
    for (int k = 0; k < 2; k++) {
        const net_state *ns = &t->ns[k];
        if (ns->present && ns->step > 0)
            ser[nser++] = (sn_plot_series){steps, ns->loss, ns->step, colour[k], name[k]};
    }
    char xlabel[64];
    snprintf(xlabel, sizeof xlabel, "step (of %ld)", most);
    sn_plot_panel p = {0, 0, 640, 360, "loss per step", xlabel, "loss", 0, (double)SN_MAX(most - 1, 1),
                       lo, hi, 0, NAN, NULL, ser, nser};
    SN_TRY(sn_plot_svg(path, 640, 360, &p, 1));
done:
    sn_free(steps);
    return status;
}

/* Collective: rank 0 writes after every rank has finished the step; the status is agreed. */
static sn_status checkpoint(trainer *t)
{
    sn_status status = SN_OK;
    if (t->rank == 0) {
        status = write_model_local(t);
        if (status == SN_OK)
            status = write_loss_svg(t);
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

static sn_status read_net(trainer *t, sn_h5file *f, net_state *ns)
{
    sn_status status = SN_OK;
    char path[256];
    const char *g = group_of(ns->kind);
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
static sn_status read_checkpoint_local(trainer *t, sn_h5file *f, int load_rec)
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

static sn_status load_model(trainer *t, int load_rec)
{
    sn_h5file f;
    sn_status status = sn_h5_open(&f, t->o->out, t->comm);
    if (status != SN_OK)
        return status;
    status = sn_dist_agree(read_checkpoint_local(t, &f, load_rec), t->comm);
    sn_h5_close(&f);
    return status;
}

/* ---- samples --------------------------------------------------------------------------------- */

/* This rank's images of step `g` into t->x (and their count in the global batch). Local. */
static sn_status read_batch(trainer *t, long g, int *offset, double *in_batch)
{
    sn_status status = SN_OK;
    int64_t epoch = g / t->per_epoch, b = g % t->per_epoch;
    SN_TRY(sn_dataset_train_batch_tensor(t->ds, (uint64_t)t->cfg->seed, epoch, b, t->batch, &t->x,
                                         t->idx, offset));
    *in_batch = (double)SN_MIN((int64_t)t->batch, t->n_train - b * t->batch);
    if (t->x.n < 1)
        SN_FAIL(SN_EINVAL, "rank %d has no sample in step %ld (batch_size %d over %d ranks)",
                t->rank, g + 1, t->batch, t->size);
done:
    return status;
}

/* Segmentation samples: PPA images into t->x, masks into t->target. */
static sn_status seg_samples(trainer *t, long g, double *global_count)
{
    sn_status status = SN_OK;
    int64_t epoch = g / t->per_epoch, b = g % t->per_epoch;
    int offset = 0;
    double in_batch = 0;
    const size_t plane = (size_t)t->s * t->s;
    SN_TRY(read_batch(t, g, &offset, &in_batch));
    int count = t->x.n;
    SN_TRY(sn_tensor_ensure(&t->target, count, 1, t->s, t->s, "segmentation target"));
    SN_TRY(sn_tensor_ensure(&t->dout, count, 1, t->s, t->s, "output gradient"));
    for (int i = 0; i < count; i++) {
        sn_pseudo_key key = {(uint64_t)t->cfg->seed, SN_RNG_STAGE_SEG, (uint32_t)epoch,
                             (uint64_t)(b * t->batch + offset + i)};
        float *img = t->x.data + (size_t)i * 3 * plane;
        SN_TRY(sn_pseudo_ppa(&t->pp, &key, img, &t->src, t->pw, img,
                             t->target.data + (size_t)i * plane, NULL));
    }
    *global_count = in_batch * (double)plane;
done:
    return status;
}

/* Reconstruction samples: each clean image gets a PPA anomaly (key sample 2k) and, independently,
 * a DPA anomaly (key sample 2k+1), each with probability p_anomaly; the frozen segmentation net
 * predicts the mask, the repair module splices the clean image into the predicted large regions.
 * Input (repaired image) into t->x, the clean image (target) into t->clean. */
static sn_status rec_samples(trainer *t, long g, double *global_count, int64_t *repaired)
{
    sn_status status = SN_OK;
    int64_t epoch = g / t->per_epoch, b = g % t->per_epoch;
    int offset = 0;
    double in_batch = 0;
    const int s = t->s;
    const size_t plane = (size_t)s * s;
    float *mask = NULL;
    SN_TRY(read_batch(t, g, &offset, &in_batch));
    int count = t->x.n;
    SN_TRY(sn_tensor_ensure(&t->clean, count, 3, s, s, "clean images"));
    SN_TRY(sn_tensor_ensure(&t->dout, count, 3, s, s, "output gradient"));
    memcpy(t->clean.data, t->x.data, sn_tensor_numel(&t->x) * sizeof(float));
    SN_ALLOC(mask, plane, "pseudo-anomaly mask");
    for (int i = 0; i < count; i++) {
        uint64_t k = (uint64_t)(b * t->batch + offset + i);
        sn_pseudo_key kp = {(uint64_t)t->cfg->seed, SN_RNG_STAGE_REC, (uint32_t)epoch, 2 * k};
        sn_pseudo_key kd = {(uint64_t)t->cfg->seed, SN_RNG_STAGE_REC, (uint32_t)epoch, 2 * k + 1};
        float *img = t->x.data + (size_t)i * 3 * plane;
        SN_TRY(sn_pseudo_ppa(&t->pp, &kp, img, &t->src, t->pw, img, mask, NULL));
        SN_TRY(sn_pseudo_dpa(&t->pp, &kd, img, t->pw, img, mask, NULL));
    }
    const sn_tensor *mp = NULL;
    SN_TRY(sn_unet_forward(t->ns[SN_NET_SEG].net, &t->x, 0, NULL, &mp));
    SN_TRY(sn_repair_batch(count, mp->data, t->x.data, t->clean.data, 3, s, s, t->calib.tau,
                           t->min_area, t->x.data, NULL, NULL, repaired));
    *global_count = in_batch * 3.0 * (double)plane;
done:
    sn_free(mask);
    return status;
}

/* ---- one step -------------------------------------------------------------------------------- */

/* batch_mode = per_rank: the linear scaling rule (lr x global batch / batch_size = x ranks)
 * reached by a linear warm-up over warmup_steps steps, starting from the single-rank lr. */
static double train_lr_scale(const sn_config *cfg, int ranks, long g)
{
    double k = (double)ranks;
    if (cfg->warmup_steps <= 0 || g + 1 >= cfg->warmup_steps)
        return k;
    return 1.0 + (k - 1.0) * (double)(g + 1) / (double)cfg->warmup_steps;
}

/* Names the layer tensor that holds a non-finite value, for the non-finite-loss message:
 * parameters and running statistics first (a bad value there is the cause; the gradients of
 * every layer below it are then non-finite too), gradients last, each in canonical order. */
static void first_nonfinite(sn_unet *net, char *buf, size_t len)
{
    static const char *what[3] = {"parameter", "running statistic", "gradient"};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < sn_unet_tensor_count(net); i++) {
            const sn_tensor_info *ti = sn_unet_tensor(net, i);
            const float *src = k == 0 ? (ti->is_buffer ? NULL : sn_unet_params(net))
                               : k == 1 ? (ti->is_buffer ? sn_unet_buffers(net) : NULL)
                                        : (ti->is_buffer ? NULL : sn_unet_grads(net));
            for (size_t j = 0; src && j < ti->numel; j++)
                if (!isfinite(src[ti->offset + j])) {
                    snprintf(buf, len, "first non-finite %s in layer tensor %s", what[k], ti->name);
                    return;
                }
        }
    }
    snprintf(buf, len, "all parameters and gradients are finite (the input or the loss itself is not)");
}

static sn_status train_step(trainer *t, net_state *ns, long g, double *loss_out, double *repaired)
{
    sn_status status = SN_OK;
    double global_count = 0;
    int64_t rep = 0;
    sn_ssim_params sp;
    sn_ssim_defaults(&sp, t->cfg->ssim_window, t->cfg->ssim_sigma);
    const sn_tensor *target = ns->kind == SN_NET_SEG ? &t->target : &t->clean;
    sn_testhook_delay("SERNET_TRAIN_DELAY_MS"); /* tests only: docs/hardening.md */
    status = ns->kind == SN_NET_SEG ? seg_samples(t, g, &global_count)
                                    : rec_samples(t, g, &global_count, &rep);
    status = sn_dist_agree(status, t->comm);
    if (status != SN_OK)
        return status;
    const sn_tensor *out = NULL;
    sn_loss_sums sums = {0, 0, 0};
    t->rctx.failed = 0;
    /* The forward and backward passes call the BatchNorm reduction on every rank in the same
     * order, so a local failure there is agreed only afterwards. */
    sn_status local = sn_unet_forward(ns->net, &t->x, 1, &t->hook, &out);
    if (local == SN_OK)
        local = sn_loss_compute(&sp, out, target, global_count, &sums, &t->dout);
    if (local == SN_OK) {
        sn_unet_zero_grad(ns->net);
        local = sn_unet_backward(ns->net, &t->dout, &t->hook);
    }
    if (local == SN_OK && t->rctx.failed)
        local = SN_ERR(SN_EMPI, "step %ld: BatchNorm statistics allreduce failed", g + 1);
    SN_TRY(sn_dist_agree(local, t->comm));
    double s4[4] = {sums.mse_sum, sums.ssim_sum, sums.count, (double)rep};
    if (MPI_Allreduce(MPI_IN_PLACE, s4, 4, MPI_DOUBLE, MPI_SUM, t->comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "step %ld: loss allreduce failed", g + 1);
    size_t n = sn_unet_param_count(ns->net);
    double ta = MPI_Wtime();
    if (t->size > 1 &&
        MPI_Allreduce(MPI_IN_PLACE, sn_unet_grads(ns->net), (int)n, MPI_FLOAT, MPI_SUM, t->comm) !=
            MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "step %ld: gradient allreduce (%zu floats) failed", g + 1, n);
    t->t_allreduce += MPI_Wtime() - ta;
    sn_loss_sums all = {s4[0], s4[1], s4[2]};
    double loss, mse, ssim;
    sn_loss_values(&all, &loss, &mse, &ssim);
    if (!isfinite(loss)) {
        char where[160];
        first_nonfinite(ns->net, where, sizeof where);
        SN_FAIL(SN_ENONFINITE, "%s stage, step %ld (epoch %ld): loss is %g (mse %g, ssim %g); %s; "
                "stopping (try a smaller lr)", stage_name(ns->kind), g + 1,
                g / (long)t->per_epoch + 1, loss, mse, ssim, where);
    }
    double lr = sn_lr_at(t->cfg->lr, t->cfg->lr_decay, t->cfg->lr_decay_at1, t->cfg->lr_decay_at2,
                         (int)(g / t->per_epoch), ns->epochs);
    if (t->cfg->batch_mode == SN_BATCH_PER_RANK)
        lr *= train_lr_scale(t->cfg, t->size, g);
    sn_adam_step(&ns->adam, sn_unet_params(ns->net), sn_unet_grads(ns->net), lr);
    *loss_out = loss;
    *repaired = s4[3];
done:
    return status;
}

/* ---- calibration ----------------------------------------------------------------------------- */

#define N_CAND 99
#define N_BINS 1024

/* Binned AUROC: anomalous pixels above normal ones, ties within a bin counted half. */
static double binned_auroc(const int64_t *pos, const int64_t *neg, int bins)
{
    double np = 0, nn = 0, below = 0, area = 0;
    for (int b = 0; b < bins; b++) {
        np += (double)pos[b];
        nn += (double)neg[b];
    }
    if (np == 0 || nn == 0)
        return -1;
    for (int b = 0; b < bins; b++) {
        area += (double)pos[b] * (below + 0.5 * (double)neg[b]);
        below += (double)neg[b];
    }
    return area / (np * nn);
}

static void calib_warning(sn_calib *c, double fixed_tau)
{
    size_t used = 0;
    c->warning[0] = 0;
    if (c->recall < SN_CALIB_WARN_RECALL)
        used += (size_t)snprintf(c->warning, sizeof c->warning,
                                 "calibration recall %.3f < %.1f at tau %.2f (%s; pixel AUROC of the "
                                 "segmentation net %.3f): the repair module will rarely fire; train "
                                 "the segmentation stage longer (epochs_seg)%s", c->recall,
                                 SN_CALIB_WARN_RECALL, c->tau, fixed_tau >= 0 ? "fixed" : "calibrated",
                                 c->pixel_auroc, fixed_tau >= 0 ? " or lower repair_threshold" : "");
    if (c->fire_fraction > SN_CALIB_WARN_FIRE && used < sizeof c->warning)
        snprintf(c->warning + used, sizeof c->warning - used,
                 "%srepair would fire on %.0f %% of the pixels outside anomalies at tau %.2f: it "
                 "would replace most of every image; train the segmentation stage longer "
                 "(epochs_seg) or set repair_threshold to a higher number", used ? "; " : "",
                 100 * c->fire_fraction, c->tau);
}

sn_status sn_train_calibrate(const float *mp, const float *mask, int n, int s, int64_t min_area,
                             double fixed_tau, MPI_Comm comm, sn_calib *out)
{
    sn_status status = SN_OK;
    const size_t plane = (size_t)s * s;
    int nc = fixed_tau >= 0 ? 1 : N_CAND;
    double tau[N_CAND];
    /* tp, fp, fn per candidate; true anomalous pixels; normal pixels; then the prediction
     * histograms of anomalous and of normal pixels */
    enum { C_ANOM = 3 * N_CAND, C_NORM, C_HIST, C_LEN = C_HIST + 2 * N_BINS };
    int64_t *cnt = NULL;
    double mx = -1;
    uint8_t *bin = NULL;
    memset(out, 0, sizeof *out);
    for (int c = 0; c < nc; c++)
        tau[c] = fixed_tau >= 0 ? fixed_tau : 0.01 * (c + 1);
    SN_ALLOC(cnt, C_LEN, "calibration counts");
    memset(cnt, 0, C_LEN * sizeof *cnt);
    SN_ALLOC(bin, plane > 0 ? plane : 1, "calibration mask");
    for (int i = 0; i < n; i++) {
        const float *p = mp + (size_t)i * plane, *m = mask + (size_t)i * plane;
        for (size_t j = 0; j < plane; j++) {
            int tr = m[j] > 0.5f;
            double v = p[j] > 0 ? (p[j] < 1 ? p[j] : 1) : 0; /* NaN counts as 0 */
            int b = (int)SN_MIN(v * N_BINS, (double)(N_BINS - 1));
            cnt[C_HIST + (tr ? 0 : N_BINS) + b]++;
            cnt[tr ? C_ANOM : C_NORM]++;
            if (tr && p[j] > mx)
                mx = p[j];
        }
        for (int c = 0; c < nc; c++) {
            SN_TRY(sn_repair_mask(p, s, s, tau[c], min_area, bin, NULL));
            for (size_t j = 0; j < plane; j++) {
                int tr = m[j] > 0.5f;
                cnt[3 * c + 0] += bin[j] && tr;
                cnt[3 * c + 1] += bin[j] && !tr;
                cnt[3 * c + 2] += !bin[j] && tr;
            }
        }
    }
done:
    status = sn_dist_agree(status, comm);
    sn_free(bin);
    if (status != SN_OK) {
        sn_free(cnt);
        return status;
    }
    int64_t samples = n;
    if (MPI_Allreduce(MPI_IN_PLACE, cnt, C_LEN, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS ||
        MPI_Allreduce(MPI_IN_PLACE, &mx, 1, MPI_DOUBLE, MPI_MAX, comm) != MPI_SUCCESS ||
        MPI_Allreduce(MPI_IN_PLACE, &samples, 1, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS) {
        sn_free(cnt);
        return SN_ERR(SN_EMPI, "repair-threshold calibration: allreduce failed");
    }
    int best = 0;
    double best_f1 = -1;
    for (int c = 0; c < nc; c++) {
        double tp = (double)cnt[3 * c], fp = (double)cnt[3 * c + 1], fn = (double)cnt[3 * c + 2];
        double f1 = tp > 0 ? 2 * tp / (2 * tp + fp + fn) : 0;
        if (f1 >= best_f1) { /* ties: the higher tau */
            best_f1 = f1;
            best = c;
        }
    }
    double tp = (double)cnt[3 * best], fp = (double)cnt[3 * best + 1], fn = (double)cnt[3 * best + 2];
    out->tau = tau[best];
    out->f1 = best_f1;
    out->recall = tp + fn > 0 ? tp / (tp + fn) : 0;
    out->precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    out->max_in_anomaly = mx;
    out->samples = samples;
    out->anomalous_pixels = cnt[C_ANOM];
    out->pixel_auroc = binned_auroc(cnt + C_HIST, cnt + C_HIST + N_BINS, N_BINS);
    out->fire_fraction = cnt[C_NORM] > 0 ? fp / (double)cnt[C_NORM] : 0;
    calib_warning(out, fixed_tau);
    sn_free(cnt);
    return SN_OK;
}

/* Fresh samples drawn like the training samples (PPA with probability p_anomaly, image j mod n,
 * RNG stage CALIB), predicted by the segmentation net in inference mode. */
static sn_status calibrate(trainer *t)
{
    sn_status status = SN_OK;
    const int s = t->s;
    const size_t plane = (size_t)s * s;
    int64_t total = t->cfg->calib_samples, begin = 0, count = 0;
    float *mp = NULL, *mask = NULL;
    sn_dist_shard(total, t->rank, t->size, &begin, &count);
    SN_ALLOC(mp, (count > 0 ? count : 1) * plane, "calibration predictions");
    SN_ALLOC(mask, (count > 0 ? count : 1) * plane, "calibration masks");
    const int chunk = 8;
    for (int64_t j0 = 0; j0 < count; j0 += chunk) {
        int m = (int)SN_MIN((int64_t)chunk, count - j0);
        int64_t idx[8];
        for (int i = 0; i < m; i++)
            idx[i] = (begin + j0 + i) % t->n_train;
        SN_TRY(sn_tensor_ensure(&t->x, m, 3, s, s, "calibration images"));
        SN_TRY(sn_dataset_read(t->ds, SN_SPLIT_TRAIN, idx, m, t->x.data, NULL, NULL));
        for (int i = 0; i < m; i++) {
            sn_pseudo_key key = {(uint64_t)t->cfg->seed, SN_RNG_STAGE_CALIB, 0,
                                 (uint64_t)(begin + j0 + i)};
            float *img = t->x.data + (size_t)i * 3 * plane;
            SN_TRY(sn_pseudo_ppa(&t->pp, &key, img, &t->src, t->pw, img,
                                 mask + (size_t)(j0 + i) * plane, NULL));
        }
        const sn_tensor *out = NULL;
        SN_TRY(sn_unet_forward(t->ns[SN_NET_SEG].net, &t->x, 0, NULL, &out));
        memcpy(mp + (size_t)j0 * plane, out->data, (size_t)m * plane * sizeof(float));
    }
done:
    status = sn_dist_agree(status, t->comm);
    if (status == SN_OK)
        status = sn_train_calibrate(mp, mask, (int)count, s, t->min_area, t->cfg->repair_threshold,
                                    t->comm, &t->calib);
    sn_free(mp);
    sn_free(mask);
    if (status == SN_OK) {
        t->calibrated = 1;
        if (t->rank == 0) {
            printf("train calib: tau %.2f (%s) on %lld fresh samples: recall %.3f, precision %.3f, "
                   "F1 %.3f; largest prediction inside anomalies %.3f; segmentation pixel AUROC "
                   "%.3f; repair fires on %.2f %% of the pixels outside anomalies\n", t->calib.tau,
                   t->cfg->repair_threshold < 0 ? "calibrated" : "fixed", (long long)t->calib.samples,
                   t->calib.recall, t->calib.precision, t->calib.f1, t->calib.max_in_anomaly,
                   t->calib.pixel_auroc, 100 * t->calib.fire_fraction);
            fflush(stdout);
            if (t->calib.warning[0])
                fprintf(stderr, "sernet train: warning: %s\n", t->calib.warning);
        }
    }
    return status;
}

/* ---- setup ----------------------------------------------------------------------------------- */

/* Parameters of a net of any width without allocating it: every layer's parameter count is a
 * quadratic in the width (conv weights w_in x w_out, biases and BatchNorm w), so three tiny nets
 * fix the polynomial exactly. -1 if even those cannot be made. */
static double param_count_for(sn_net_kind kind, int width, int units)
{
    double p[3];
    for (int k = 0; k < 3; k++) {
        sn_unet *net = NULL;
        if (sn_unet_create(&net, kind, k + 1, units, 1e-5, 0.1) != SN_OK) {
            sn_err_clear();
            return -1;
        }
        p[k] = (double)sn_unet_param_count(net);
        sn_unet_destroy(net);
    }
    double c2 = (p[2] - 2 * p[1] + p[0]) / 2, c1 = p[1] - p[0] - 3 * c2, c0 = p[0] - c1 - c2;
    return c2 * width * width + c1 * width + c0;
}

static sn_status net_create(trainer *t, sn_net_kind kind)
{
    sn_status status = SN_OK;
    const sn_config *cfg = t->cfg;
    net_state *ns = &t->ns[kind];
    const int width = kind == SN_NET_SEG ? cfg->seg_width : cfg->rec_width;
    ns->kind = kind;
    ns->epochs = kind == SN_NET_SEG ? cfg->epochs_seg : cfg->epochs_rec;
    ns->total = (long)t->per_epoch * ns->epochs;
    if (t->s % sn_unet_size_multiple(kind) != 0)
        SN_FAIL(SN_EINVAL, "image size %d is not a multiple of %d (%s net)", t->s,
                sn_unet_size_multiple(kind), sn_unet_kind_name(kind));
    SN_TRY(sn_unet_create(&ns->net, kind, width, cfg->units_per_block, cfg->bn_eps,
                          cfg->bn_momentum));
    /* Different initial draws for the two nets. */
    sn_unet_init(ns->net, (uint64_t)cfg->seed + (uint64_t)kind);
    SN_TRY(sn_adam_init(&ns->adam, sn_unet_param_count(ns->net), cfg->adam_beta1, cfg->adam_beta2,
                        cfg->adam_eps));
    SN_CALLOC(ns->loss, ns->total > 0 ? ns->total : 1, "loss history");
done:
    if (status == SN_ENOMEM) {
        /* say what the whole configuration needs, not only the allocation that failed */
        char first[600];
        snprintf(first, sizeof first, "%s", sn_err_msg());
        sn_err_clear();
        double P = param_count_for(kind, width, cfg->units_per_block);
        status = SN_ERR(SN_ENOMEM, "%s net of width %d: %.0f parameters; their values, gradients "
                        "and two Adam moments need %.2f GiB per rank before any activation (%s); "
                        "lower %s or use a machine with more memory", sn_unet_kind_name(kind), width,
                        P, P * 4.0 * 4.0 / 1073741824.0, first,
                        kind == SN_NET_SEG ? "seg_width" : "rec_width");
    }
    return status;
}

static void net_free(net_state *ns)
{
    sn_free(ns->loss);
    sn_adam_free(&ns->adam);
    sn_unet_destroy(ns->net);
}

static sn_status setup(trainer *t)
{
    sn_status status = SN_OK;
    const sn_config *cfg = t->cfg;
    t->s = sn_dataset_image_size(t->ds);
    t->n_train = sn_dataset_count(t->ds, SN_SPLIT_TRAIN);
    /* per_rank: batch_size per rank, the global batch grows with the ranks (PIPELINE.md). */
    t->batch = cfg->batch_mode == SN_BATCH_PER_RANK ? cfg->batch_size * t->size : cfg->batch_size;
    if (t->n_train < t->batch)
        SN_FAIL(SN_EINVAL, "%s: category '%s' has %lld training images, fewer than the global "
                "batch %d", t->o->data, sn_dataset_category(t->ds), (long long)t->n_train, t->batch);
    if (t->batch < t->size)
        SN_FAIL(SN_EINVAL, "global batch %d is smaller than the number of ranks %d: every rank "
                "needs at least one sample per step", t->batch, t->size);
    /* Partial last batches are dropped, so every step has exactly `batch` samples. */
    t->per_epoch = sn_dataset_batches(t->n_train, t->batch, 1);
    sn_pseudo_params_from_config(&t->pp, cfg);
    t->pp.size = t->s;
    SN_TRY(sn_pseudo_params_check(&t->pp));
    SN_TRY(sn_pseudo_work_create(t->s, &t->pw));
    sn_pseudo_dataset_source(t->ds, &t->src);
    t->min_area = sn_repair_min_area(cfg->large_area, t->s, t->s);
    SN_TRY(net_create(t, SN_NET_SEG));
    if (t->o->stage != SN_TRAIN_SEG)
        SN_TRY(net_create(t, SN_NET_REC));
    SN_ALLOC(t->idx, t->batch, "batch indices");
    t->rctx.comm = t->comm;
    t->hook.fn = reduce_sum;
    t->hook.ctx = &t->rctx;
done:
    return status;
}

/* ---- the stages ------------------------------------------------------------------------------ */

static void progress(const trainer *t, const net_state *ns, long g, double loss, double repaired,
                     double t0, long first)
{
    double now = MPI_Wtime();
    double rate = (double)(g + 1 - first) * t->batch / fmax(now - t0, 1e-9);
    double left = (double)(ns->total - g - 1) * t->batch / fmax(rate, 1e-9);
    printf("train %s  epoch %ld/%d  step %ld/%ld  loss %.5f", stage_name(ns->kind),
           g / (long)t->per_epoch + 1, ns->epochs, g + 1, ns->total, loss);
    if (ns->kind == SN_NET_REC)
        printf("  repaired %.4f", repaired / ((double)t->batch * t->s * t->s));
    printf("  %.1f images/s  %.0f s left", rate, left);
    /* A terminal gets one live line, rewritten in place; a batch log gets plain lines. */
    fputs(t->tty && g + 1 < ns->total ? "\033[K\r" : "\n", stdout);
    fflush(stdout);
}

/* Train one stage to its end, or until a stop is requested (*stopped = 1). */
static sn_status run_stage(trainer *t, net_state *ns, int *stopped)
{
    sn_status status = SN_OK;
    const sn_config *cfg = t->cfg;
    const sn_train_opts *o = t->o;
    ns->present = 1;
    *stopped = 0;
    if (t->rank == 0 && !o->quiet)
        printf("train %s: %lld training images, global batch %d over %d rank(s), %lld steps per "
               "epoch, steps %ld..%ld, %zu parameters\n", stage_name(ns->kind),
               (long long)t->n_train, t->batch, t->size, (long long)t->per_epoch, ns->step + 1,
               ns->total, sn_unet_param_count(ns->net));
    double t0 = MPI_Wtime();
    long first = ns->step;
    t->t_step = t->t_allreduce = 0;
    while (ns->step < ns->total) {
        long g = ns->step;
        double loss = 0, repaired = 0, ts = MPI_Wtime();
        SN_TRY(train_step(t, ns, g, &loss, &repaired));
        t->t_step += MPI_Wtime() - ts;
        ns->loss[g] = loss;
        ns->step = g + 1;
        if (t->rank == 0 && !o->quiet && cfg->log_every > 0 &&
            (ns->step % cfg->log_every == 0 || ns->step == ns->total))
            progress(t, ns, g, loss, repaired, t0, first);
        int stop = sn_train_stop_requested() || (o->stop_after > 0 && ns->step >= o->stop_after);
        if (MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, t->comm) != MPI_SUCCESS)
            SN_FAIL(SN_EMPI, "step %ld: stop-flag allreduce failed", ns->step);
        if (stop && ns->step < ns->total) {
            SN_TRY(checkpoint(t));
            *stopped = 1;
            if (t->rank == 0 && t->tty && !o->quiet)
                putchar('\n');
            if (t->rank == 0)
                printf("train: stopped after %s step %ld of %ld; checkpoint written to %s\n"
                       "train: to continue, run the same command with --resume\n",
                       stage_name(ns->kind), ns->step, ns->total, o->out);
            goto done;
        }
        if (cfg->checkpoint_every > 0 && ns->step % cfg->checkpoint_every == 0 &&
            ns->step < ns->total)
            SN_TRY(checkpoint(t));
    }
    SN_TRY(checkpoint(t));
    if (t->rank == 0 && !o->quiet) {
        long ran = ns->total - first;
        printf("train %s: done, %ld steps, final loss %.5f; model in %s\n", stage_name(ns->kind),
               ns->total, ns->total > 0 ? ns->loss[ns->total - 1] : 0.0, o->out);
        if (ran > 0)
            printf("train %s: %ld steps in %.2f s, %.2f images/s; gradient allreduce %.1f %% of "
                   "the step time (rank 0)\n", stage_name(ns->kind), ran, t->t_step,
                   (double)ran * t->batch / fmax(t->t_step, 1e-9),
                   100.0 * t->t_allreduce / fmax(t->t_step, 1e-9));
    }
done:
    return status;
}

/* A live progress bar only for an interactive single process: Open MPI gives ranks a pty even
 * when mpirun's output goes to a file, and batch logs want plain lines. SERNET_PROGRESS=bar or
 * lines overrides. */
static int progress_bar_wanted(int nranks)
{
    const char *env = getenv("SERNET_PROGRESS");
    if (env && strcmp(env, "bar") == 0)
        return 1;
    if (env && strcmp(env, "lines") == 0)
        return 0;
    return isatty(fileno(stdout)) && nranks == 1 && !getenv("SLURM_JOB_ID") && !getenv("OMPI_COMM_WORLD_SIZE");
}

sn_status sn_train_run(const sn_config *cfg, const sn_train_opts *o, MPI_Comm comm,
                       int *interrupted)
{
    sn_status status = SN_OK;
    trainer t;
    int stopped = 0;
    memset(&t, 0, sizeof t);
    t.cfg = cfg;
    t.o = o;
    t.comm = comm;
    t.rank = sn_dist_rank(comm);
    t.size = sn_dist_size(comm);
    t.tty = progress_bar_wanted(t.size);
    if (interrupted)
        *interrupted = 0;
    SN_TRY(sn_dataset_open(o->data, o->category, comm, &t.ds));
    /* The nets train at the dataset's image size; the configuration stored with the model says
     * so, whatever image_size was given (it applies to ingest and synth). */
    sn_config eff = *cfg;
    eff.image_size = sn_dataset_image_size(t.ds);
    if (eff.image_size != cfg->image_size && t.rank == 0 && !o->quiet)
        printf("train: %s holds %d x %d images: training at that size (image_size = %d in the "
               "configuration applies to ingest and synth)\n", o->data, eff.image_size,
               eff.image_size, cfg->image_size);
    t.cfg = &eff;
    SN_TRY(sn_dist_agree(setup(&t), comm));
    if (o->resume || o->stage == SN_TRAIN_REC) {
        /* --stage rec without --resume takes the segmentation net (and tau) from the model file
         * and starts the reconstruction net afresh. */
        SN_TRY(load_model(&t, o->resume));
        if (t.rank == 0 && !o->quiet)
            printf("train: loaded %s: seg step %ld of %ld%s%s\n", o->out, t.ns[0].step,
                   t.ns[0].total, t.calibrated ? ", calibrated" : "",
                   t.ns[1].present ? ", rec resumed" : "");
    }
    if (o->stage != SN_TRAIN_REC) {
        SN_TRY(run_stage(&t, &t.ns[SN_NET_SEG], &stopped));
        if (stopped)
            goto done;
    }
    if (o->stage != SN_TRAIN_SEG) {
        if (t.ns[SN_NET_SEG].step < t.ns[SN_NET_SEG].total)
            SN_FAIL(SN_EINVAL, "%s: the segmentation stage is not finished (step %ld of %ld); run "
                    "--stage seg --resume first", o->out, t.ns[0].step, t.ns[0].total);
        if (!t.calibrated) {
            SN_TRY(calibrate(&t));
            SN_TRY(checkpoint(&t));
        } else if (t.rank == 0 && !o->quiet) {
            printf("train calib: tau %.2f from the model file (recall %.3f, precision %.3f)\n",
                   t.calib.tau, t.calib.recall, t.calib.precision);
        }
        SN_TRY(run_stage(&t, &t.ns[SN_NET_REC], &stopped));
    }
done:
    if (interrupted)
        *interrupted = stopped;
    sn_tensor_free(&t.x);
    sn_tensor_free(&t.clean);
    sn_tensor_free(&t.target);
    sn_tensor_free(&t.dout);
    sn_tensor_free(&t.mp);
    sn_free(t.idx);
    net_free(&t.ns[0]);
    net_free(&t.ns[1]);
    sn_pseudo_work_free(t.pw);
    sn_dataset_close(t.ds);
    return status;
}
