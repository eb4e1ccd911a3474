/* Data-parallel training of the segmentation net with checkpoints and exact resume
 * (include/sernet/train.h, docs/training.md). */
#define _GNU_SOURCE
#include "sernet/train.h"

#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/h5util.h"
#include "sernet/loss.h"
#include "sernet/optim.h"
#include "sernet/pseudo.h"
#include "sernet/unet.h"
#include "sernet/version.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    const sn_config *cfg;
    const sn_train_opts *o;
    MPI_Comm comm;
    int rank, size;
    sn_dataset *ds;
    int s;
    int64_t n_train;
    int batch;             /* global batch */
    int64_t per_epoch;     /* steps per epoch */
    long total;            /* steps of the stage */
    long step;             /* steps done */
    sn_unet *net;
    sn_adam adam;
    double *loss;          /* per-step global loss, total entries */
    sn_pseudo_params pp;
    sn_pseudo_work *pw;
    sn_image_source src;
    sn_tensor x, target, dout;
    int64_t *idx;
    reduce_ctx rctx;
    sn_reduce_hook hook;
} trainer;

static const char *net_group(void) { return "/seg"; }

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

/* Compare two INI texts line by line; names the differing keys in `diff`. */
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
    for (int i = 0; i < ndim; i++)
        hd[i] = (hsize_t)dims[i];
    SN_TRY(sn_h5_dataset_create(f, path, H5T_IEEE_F32LE, ndim, hd, NULL, &d));
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
    SN_TRY(sn_h5_dataset_create(f, path, H5T_IEEE_F64LE, 1, hd, NULL, &d));
    SN_TRY(sn_h5_write_rows(f, d, path, H5T_NATIVE_DOUBLE, 0, n, buf));
done:
    if (d >= 0)
        H5Dclose(d);
    return status;
}

/* Rank 0 only (the file is opened on MPI_COMM_SELF). */
static sn_status write_model_local(trainer *t)
{
    sn_status status = SN_OK;
    sn_h5file f;
    char path[256];
    const char *g = net_group();
    memset(&f, 0, sizeof f);
    f.id = H5I_INVALID_HID;
    SN_TRY(sn_h5_create(&f, t->o->out, 1, MPI_COMM_SELF));
    SN_TRY(sn_h5_provenance(&f, t->cfg));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "format", SN_MODEL_FORMAT));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "format_version", SN_MODEL_VERSION));
    SN_TRY(sn_h5_attr_set_str(&f, "/", "category", sn_dataset_category(t->ds)));
    SN_TRY(sn_h5_attr_set_int(&f, "/", "image_size", t->s));
    SN_TRY(sn_h5_group_create(&f, g));
    SN_TRY(sn_h5_attr_set_str(&f, g, "net", sn_unet_kind_name(sn_unet_kind(t->net))));
    SN_TRY(sn_h5_attr_set_int(&f, g, "width", t->cfg->seg_width));
    SN_TRY(sn_h5_attr_set_int(&f, g, "units_per_block", t->cfg->units_per_block));
    SN_TRY(sn_h5_attr_set_int(&f, g, "step", t->step));
    SN_TRY(sn_h5_attr_set_int(&f, g, "epoch", t->step / t->per_epoch));
    SN_TRY(sn_h5_attr_set_int(&f, g, "steps_per_epoch", t->per_epoch));
    SN_TRY(sn_h5_attr_set_int(&f, g, "steps_total", t->total));
    SN_TRY(sn_h5_attr_set_int(&f, g, "complete", t->step >= t->total));
    SN_TRY(sn_h5_attr_set_int(&f, g, "adam_step", t->adam.step));
    snprintf(path, sizeof path, "%s/tensors", g);
    SN_TRY(sn_h5_group_create(&f, path));
    for (int i = 0; i < sn_unet_tensor_count(t->net); i++) {
        const sn_tensor_info *ti = sn_unet_tensor(t->net, i);
        const float *base = ti->is_buffer ? sn_unet_buffers(t->net) : sn_unet_params(t->net);
        snprintf(path, sizeof path, "%s/tensors/%s", g, ti->name);
        SN_TRY(write_floats(&f, path, base + ti->offset, ti->ndim, ti->dims));
    }
    int n = (int)sn_unet_param_count(t->net);
    snprintf(path, sizeof path, "%s/adam_m", g);
    SN_TRY(write_floats(&f, path, t->adam.m, 1, &n));
    snprintf(path, sizeof path, "%s/adam_v", g);
    SN_TRY(write_floats(&f, path, t->adam.v, 1, &n));
    snprintf(path, sizeof path, "%s/loss", g);
    SN_TRY(write_doubles(&f, path, t->loss, t->step));
    /* Completion marker, written last. */
    SN_TRY(sn_h5_attr_set_int(&f, "/", "checkpoint_complete", 1));
done:
    if (f.id >= 0 || f.writing)
        status = sn_h5_finish(&f, status);
    return status;
}

/* The loss curve as SVG next to the model file: <out without .h5>_loss.svg. */
static sn_status write_loss_svg(const trainer *t)
{
    sn_status status = SN_OK;
    char path[1100];
    char tmp[1110];
    FILE *fp = NULL;
    size_t n = strlen(t->o->out);
    if (n > 3 && strcmp(t->o->out + n - 3, ".h5") == 0)
        n -= 3;
    snprintf(path, sizeof path, "%.*s_loss.svg", (int)n, t->o->out);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const double W = 640, H = 360, L = 60, R = 20, T = 30, Bm = 40;
    double lo = INFINITY, hi = -INFINITY;
    for (long i = 0; i < t->step; i++) {
        lo = fmin(lo, t->loss[i]);
        hi = fmax(hi, t->loss[i]);
    }
    if (t->step == 0)
        lo = 0, hi = 1;
    if (hi - lo < 1e-12)
        hi = lo + 1e-12;
    if (!(fp = fopen(tmp, "w")))
        SN_FAIL(SN_EIO, "%s: cannot write the loss curve", tmp);
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                "<text x=\"%.0f\" y=\"20\" font-family=\"sans-serif\" font-size=\"14\">"
                "segmentation loss per step (%ld of %ld steps)</text>\n"
                "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n"
                "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n"
                "<text x=\"5\" y=\"%.0f\" font-family=\"sans-serif\" font-size=\"11\">%.4g</text>\n"
                "<text x=\"5\" y=\"%.0f\" font-family=\"sans-serif\" font-size=\"11\">%.4g</text>\n"
                "<text x=\"%.0f\" y=\"%.0f\" font-family=\"sans-serif\" font-size=\"11\">step</text>\n",
            W, H, L, t->step, t->total, L, H - Bm, W - R, H - Bm, L, T, L, H - Bm, T + 4, hi,
            H - Bm, lo, W / 2, H - 10);
    fprintf(fp, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (long i = 0; i < t->step; i++) {
        double x = L + (W - L - R) * (t->step > 1 ? (double)i / (double)(t->step - 1) : 0.5);
        double y = (H - Bm) - (H - Bm - T) * (t->loss[i] - lo) / (hi - lo);
        fprintf(fp, "%.1f,%.1f ", x, y);
    }
    fprintf(fp, "\"/>\n</svg>\n");
    if (fclose(fp) != 0) {
        fp = NULL;
        SN_FAIL(SN_EIO, "%s: write failed", tmp);
    }
    fp = NULL;
    if (rename(tmp, path) != 0)
        SN_FAIL(SN_EIO, "%s: cannot rename into place", path);
done:
    if (fp)
        fclose(fp);
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

static sn_status read_floats(sn_h5file *f, const char *path, size_t numel, float *buf)
{
    sn_status status = SN_OK;
    hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hsize_t dims[8];
    if ((d = H5Dopen2(f->id, path, H5P_DEFAULT)) < 0)
        SN_FAIL(SN_EFORMAT, "%s: checkpoint has no dataset %s (another architecture?)", f->path, path);
    if ((sp = H5Dget_space(d)) < 0)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s: no dataspace", f->path, path);
    int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
    if (nd < 1 || nd > 8)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s: bad rank", f->path, path);
    size_t total = 1;
    for (int i = 0; i < nd; i++)
        total *= (size_t)dims[i];
    if (total != numel)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s has %zu elements, the net expects %zu", f->path, path,
                total, numel);
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        SN_FAIL(SN_EFORMAT, "%s: reading %s failed: %s", f->path, path, sn_h5_detail());
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return status;
}

/* Every rank reads the checkpoint (independent reads). */
static sn_status read_checkpoint_local(trainer *t, sn_h5file *f)
{
    sn_status status = SN_OK;
    char *fmt = NULL, *stored = NULL, *now = NULL;
    char path[256], diff[4096];
    const char *g = net_group();
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
    if (!(now = sn_config_to_ini(t->cfg)))
        SN_FAIL(SN_ENOMEM, "configuration text");
    if (config_diff(stored, now, diff, sizeof diff) > 0)
        SN_FAIL(SN_EINVAL, "%s: checkpoint was made with another configuration: %s", f->path, diff);
    if (!sn_h5_exists(f, g))
        SN_FAIL(SN_EFORMAT, "%s: no segmentation net (%s) in the checkpoint", f->path, g);
    SN_TRY(sn_h5_attr_get_int(f, g, "step", &v));
    if (v < 0 || v > t->total)
        SN_FAIL(SN_EFORMAT, "%s: checkpoint step %lld outside [0, %ld]", f->path, (long long)v,
                t->total);
    t->step = (long)v;
    SN_TRY(sn_h5_attr_get_int(f, g, "steps_per_epoch", &v));
    if (v != t->per_epoch)
        SN_FAIL(SN_EINVAL, "%s: checkpoint has %lld steps per epoch, this dataset gives %lld",
                f->path, (long long)v, (long long)t->per_epoch);
    SN_TRY(sn_h5_attr_get_int(f, g, "adam_step", &v));
    t->adam.step = (long)v;
    for (int i = 0; i < sn_unet_tensor_count(t->net); i++) {
        const sn_tensor_info *ti = sn_unet_tensor(t->net, i);
        float *base = ti->is_buffer ? sn_unet_buffers(t->net) : sn_unet_params(t->net);
        snprintf(path, sizeof path, "%s/tensors/%s", g, ti->name);
        SN_TRY(read_floats(f, path, ti->numel, base + ti->offset));
    }
    size_t n = sn_unet_param_count(t->net);
    snprintf(path, sizeof path, "%s/adam_m", g);
    SN_TRY(read_floats(f, path, n, t->adam.m));
    snprintf(path, sizeof path, "%s/adam_v", g);
    SN_TRY(read_floats(f, path, n, t->adam.v));
    if (t->step > 0) {
        hsize_t dims[1];
        hid_t d = H5I_INVALID_HID;
        snprintf(path, sizeof path, "%s/loss", g);
        SN_TRY(sn_h5_dataset_open(f, path, 1, dims, &d));
        if ((long)dims[0] != t->step) {
            H5Dclose(d);
            SN_FAIL(SN_EFORMAT, "%s: %s has %llu entries, expected %ld", f->path, path,
                    (unsigned long long)dims[0], t->step);
        }
        status = sn_h5_read_rows(f, d, path, H5T_NATIVE_DOUBLE, 0, t->step, t->loss);
        H5Dclose(d);
        SN_TRY(status);
    }
done:
    free(fmt);
    free(stored);
    sn_free(now);
    return status;
}

static sn_status resume(trainer *t)
{
    sn_h5file f;
    sn_status status = sn_h5_open(&f, t->o->out, t->comm);
    if (status != SN_OK)
        return status;
    status = sn_dist_agree(read_checkpoint_local(t, &f), t->comm);
    sn_h5_close(&f);
    return status;
}

/* ---- one step -------------------------------------------------------------------------------- */

/* This rank's samples of step `g`: PPA images into t->x, masks into t->target. Local. */
static sn_status make_samples(trainer *t, long g, double *global_count)
{
    sn_status status = SN_OK;
    int64_t epoch = g / t->per_epoch, b = g % t->per_epoch;
    int offset = 0;
    const int s = t->s;
    const size_t plane = (size_t)s * s;
    SN_TRY(sn_dataset_train_batch_tensor(t->ds, (uint64_t)t->cfg->seed, epoch, b, t->batch, &t->x,
                                         t->idx, &offset));
    int count = t->x.n;
    SN_TRY(sn_tensor_ensure(&t->target, count, 1, s, s, "segmentation target"));
    SN_TRY(sn_tensor_ensure(&t->dout, count, 1, s, s, "output gradient"));
    for (int i = 0; i < count; i++) {
        sn_pseudo_key key = {(uint64_t)t->cfg->seed, SN_RNG_STAGE_SEG, (uint32_t)epoch,
                             (uint64_t)(b * t->batch + offset + i)};
        float *img = t->x.data + (size_t)i * 3 * plane;
        SN_TRY(sn_pseudo_ppa(&t->pp, &key, img, &t->src, t->pw, img,
                             t->target.data + (size_t)i * plane, NULL));
    }
    int64_t in_batch = SN_MIN((int64_t)t->batch, t->n_train - b * t->batch);
    *global_count = (double)in_batch * (double)plane;
    if (count < 1)
        SN_FAIL(SN_EINVAL, "rank %d has no sample in step %ld (batch_size %d over %d ranks)",
                t->rank, g + 1, t->batch, t->size);
done:
    return status;
}

static sn_status train_step(trainer *t, long g, double *loss_out)
{
    sn_status status = SN_OK;
    double global_count = 0;
    sn_ssim_params sp;
    sn_ssim_defaults(&sp, t->cfg->ssim_window, t->cfg->ssim_sigma);
    status = sn_dist_agree(make_samples(t, g, &global_count), t->comm);
    if (status != SN_OK)
        return status;
    const sn_tensor *out = NULL;
    sn_loss_sums sums = {0, 0, 0};
    t->rctx.failed = 0;
    /* The forward and backward passes call the BatchNorm reduction on every rank in the same
     * order, so a local failure there is agreed only afterwards. */
    sn_status local = sn_unet_forward(t->net, &t->x, 1, &t->hook, &out);
    if (local == SN_OK)
        local = sn_loss_compute(&sp, out, &t->target, global_count, &sums, &t->dout);
    if (local == SN_OK) {
        sn_unet_zero_grad(t->net);
        local = sn_unet_backward(t->net, &t->dout, &t->hook);
    }
    if (local == SN_OK && t->rctx.failed)
        local = SN_ERR(SN_EMPI, "step %ld: BatchNorm statistics allreduce failed", g + 1);
    SN_TRY(sn_dist_agree(local, t->comm));
    double s3[3] = {sums.mse_sum, sums.ssim_sum, sums.count};
    if (MPI_Allreduce(MPI_IN_PLACE, s3, 3, MPI_DOUBLE, MPI_SUM, t->comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "step %ld: loss allreduce failed", g + 1);
    size_t n = sn_unet_param_count(t->net);
    if (t->size > 1 &&
        MPI_Allreduce(MPI_IN_PLACE, sn_unet_grads(t->net), (int)n, MPI_FLOAT, MPI_SUM, t->comm) !=
            MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "step %ld: gradient allreduce (%zu floats) failed", g + 1, n);
    sn_loss_sums all = {s3[0], s3[1], s3[2]};
    double loss, mse, ssim;
    sn_loss_values(&all, &loss, &mse, &ssim);
    if (!isfinite(loss))
        SN_FAIL(SN_ENONFINITE, "step %ld (epoch %ld): segmentation loss is %g (mse %g, ssim %g); "
                "stopping (try a smaller lr)", g + 1, g / (long)t->per_epoch + 1, loss, mse, ssim);
    double lr = sn_lr_at(t->cfg->lr, t->cfg->lr_decay, t->cfg->lr_decay_at1, t->cfg->lr_decay_at2,
                         (int)(g / t->per_epoch), t->cfg->epochs_seg);
    sn_adam_step(&t->adam, sn_unet_params(t->net), sn_unet_grads(t->net), lr);
    *loss_out = loss;
done:
    return status;
}

/* ---- the stage ------------------------------------------------------------------------------- */

static sn_status setup(trainer *t)
{
    sn_status status = SN_OK;
    const sn_config *cfg = t->cfg;
    t->s = sn_dataset_image_size(t->ds);
    t->n_train = sn_dataset_count(t->ds, SN_SPLIT_TRAIN);
    t->batch = cfg->batch_mode == SN_BATCH_PER_RANK ? cfg->batch_size * t->size : cfg->batch_size;
    if (cfg->batch_mode == SN_BATCH_PER_RANK)
        SN_FAIL(SN_EINVAL, "batch_mode = per_rank is not implemented by sernet train yet; use "
                "batch_mode = global");
    if (t->n_train < t->batch)
        SN_FAIL(SN_EINVAL, "%s: category '%s' has %lld training images, fewer than the global "
                "batch %d", t->o->data, sn_dataset_category(t->ds), (long long)t->n_train, t->batch);
    if (t->batch < t->size)
        SN_FAIL(SN_EINVAL, "global batch %d is smaller than the number of ranks %d: every rank "
                "needs at least one sample per step", t->batch, t->size);
    if (t->s % sn_unet_size_multiple(SN_NET_SEG) != 0)
        SN_FAIL(SN_EINVAL, "image size %d is not a multiple of %d", t->s,
                sn_unet_size_multiple(SN_NET_SEG));
    /* Partial last batches are dropped, so every step has exactly `batch` samples. */
    t->per_epoch = sn_dataset_batches(t->n_train, t->batch, 1);
    t->total = (long)t->per_epoch * cfg->epochs_seg;
    sn_pseudo_params_from_config(&t->pp, cfg);
    t->pp.size = t->s;
    SN_TRY(sn_pseudo_params_check(&t->pp));
    SN_TRY(sn_pseudo_work_create(t->s, &t->pw));
    sn_pseudo_dataset_source(t->ds, &t->src);
    SN_TRY(sn_unet_create(&t->net, SN_NET_SEG, cfg->seg_width, cfg->units_per_block, cfg->bn_eps,
                          cfg->bn_momentum));
    sn_unet_init(t->net, (uint64_t)cfg->seed);
    SN_TRY(sn_adam_init(&t->adam, sn_unet_param_count(t->net), cfg->adam_beta1, cfg->adam_beta2,
                        cfg->adam_eps));
    SN_CALLOC(t->loss, t->total > 0 ? t->total : 1, "loss history");
    SN_ALLOC(t->idx, t->batch, "batch indices");
    t->rctx.comm = t->comm;
    t->hook.fn = reduce_sum;
    t->hook.ctx = &t->rctx;
done:
    return status;
}

static void progress(const trainer *t, long g, double loss, double t0, long first)
{
    double now = MPI_Wtime();
    double rate = (double)(g + 1 - first) * t->batch / fmax(now - t0, 1e-9);
    double left = (double)(t->total - g - 1) * t->batch / fmax(rate, 1e-9);
    printf("train seg  epoch %ld/%d  step %ld/%ld  loss %.5f  %.1f images/s  %.0f s left\n",
           g / (long)t->per_epoch + 1, t->cfg->epochs_seg, g + 1, t->total, loss, rate, left);
    fflush(stdout);
}

sn_status sn_train_run(const sn_config *cfg, const sn_train_opts *o, MPI_Comm comm,
                       int *interrupted)
{
    sn_status status = SN_OK;
    trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = cfg;
    t.o = o;
    t.comm = comm;
    t.rank = sn_dist_rank(comm);
    t.size = sn_dist_size(comm);
    if (interrupted)
        *interrupted = 0;
    if (o->stage != SN_TRAIN_SEG)
        return SN_ERR(SN_EINVAL, "--stage %s: only the segmentation stage (seg) is implemented so far",
                      o->stage == SN_TRAIN_REC ? "rec" : "all");
    SN_TRY(sn_dataset_open(o->data, o->category, comm, &t.ds));
    SN_TRY(sn_dist_agree(setup(&t), comm));
    if (o->resume) {
        SN_TRY(resume(&t));
        if (t.rank == 0 && !o->quiet)
            printf("train: resumed %s at step %ld of %ld (epoch %ld)\n", o->out, t.step, t.total,
                   t.step / (long)t.per_epoch + 1);
    } else if (t.rank == 0 && !o->quiet) {
        printf("train seg: %lld training images, global batch %d over %d rank(s), %lld steps per "
               "epoch, %ld steps, %zu parameters\n", (long long)t.n_train, t.batch, t.size,
               (long long)t.per_epoch, t.total, sn_unet_param_count(t.net));
    }
    double t0 = MPI_Wtime();
    long first = t.step;
    int every = cfg->checkpoint_every;
    while (t.step < t.total) {
        long g = t.step;
        double loss = 0;
        SN_TRY(train_step(&t, g, &loss));
        t.loss[g] = loss;
        t.step = g + 1;
        if (t.rank == 0 && !o->quiet && cfg->log_every > 0 &&
            (t.step % cfg->log_every == 0 || t.step == t.total))
            progress(&t, g, loss, t0, first);
        int stop = sn_train_stop_requested() || (o->stop_after > 0 && t.step >= o->stop_after);
        if (MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
            SN_FAIL(SN_EMPI, "step %ld: stop-flag allreduce failed", t.step);
        if (stop && t.step < t.total) {
            SN_TRY(checkpoint(&t));
            if (interrupted)
                *interrupted = 1;
            if (t.rank == 0)
                printf("train: stopped after step %ld of %ld; checkpoint written to %s\n"
                       "train: to continue, run the same command with --resume\n", t.step, t.total,
                       o->out);
            goto done;
        }
        if (every > 0 && t.step % every == 0 && t.step < t.total)
            SN_TRY(checkpoint(&t));
    }
    SN_TRY(checkpoint(&t));
    if (t.rank == 0 && !o->quiet)
        printf("train seg: done, %ld steps, final loss %.5f; model in %s\n", t.total,
               t.total > 0 ? t.loss[t.total - 1] : 0.0, o->out);
done:
    sn_tensor_free(&t.x);
    sn_tensor_free(&t.target);
    sn_tensor_free(&t.dout);
    sn_free(t.idx);
    sn_free(t.loss);
    sn_adam_free(&t.adam);
    sn_unet_destroy(t.net);
    sn_pseudo_work_free(t.pw);
    sn_dataset_close(t.ds);
    return status;
}
