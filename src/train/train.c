/* Data-parallel two-stage training with checkpoints and exact resume
 * (src/include/sernet/train.h, docs/training.md): set-up, the stages' step loops, stop requests
 * and progress. The step, the samples, the model file, the loss plot and the calibration are in
 * the other files of this folder (train_internal.h). */
#define _GNU_SOURCE
#include "train/train_internal.h"
#include "sernet/dist.h"
#include "sernet/fsutil.h"
#include "sernet/repair.h"
#include "sernet/stop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        sn_unet_free(net);
    }
    double c2 = (p[2] - 2 * p[1] + p[0]) / 2, c1 = p[1] - p[0] - 3 * c2, c0 = p[0] - c1 - c2;
    return c2 * width * width + c1 * width + c0;
}

static sn_status net_create(sn_trainer *t, sn_net_kind kind)
{
    sn_status status = SN_OK;
    const sn_config *cfg = t->cfg;
    sn_train_net *ns = &t->ns[kind];
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
    ns->n_bn = sn_unet_bn_reductions(ns->net, NULL, 0);
    SN_CALLOC(ns->bn_len, ns->n_bn, "BatchNorm reduction lengths");
    sn_unet_bn_reductions(ns->net, ns->bn_len, ns->n_bn);
    int longest = 1;
    for (int i = 0; i < ns->n_bn; i++)
        longest = ns->bn_len[i] > longest ? ns->bn_len[i] : longest;
    SN_CALLOC(ns->bn_spare, longest, "BatchNorm reduction spare");
    /* allreduce_overlap: the backward tells the bucketed allreduce which gradients are final */
    ns->overlap = t->size > 1 && cfg->allreduce_overlap == SN_OVERLAP_ON;
    if (ns->overlap) {
        SN_TRY(sn_gradsync_init(&ns->sync, t->comm, sn_unet_grads(ns->net), sn_unet_param_count(ns->net),
                                cfg->allreduce_bucket_mb));
        sn_unet_set_grad_ready(ns->net, &(sn_grad_ready_hook){sn_gradsync_ready, &ns->sync});
    }
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

static void net_free(sn_train_net *ns)
{
    sn_free(ns->loss);
    sn_free(ns->bn_len);
    sn_free(ns->bn_spare);
    sn_gradsync_free(&ns->sync);
    sn_adam_free(&ns->adam);
    sn_unet_free(ns->net);
}

static sn_status setup(sn_trainer *t)
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
    t->hook.fn = sn_train_bn_reduce;
    t->hook.ctx = &t->rctx;
done:
    return status;
}

/* ---- the stages ------------------------------------------------------------------------------ */

static void progress(const sn_trainer *t, const sn_train_net *ns, long g, double loss, double repaired,
                     double t0, long first)
{
    double now = MPI_Wtime();
    double rate = (double)(g + 1 - first) * t->batch / fmax(now - t0, 1e-9);
    double left = (double)(ns->total - g - 1) * t->batch / fmax(rate, 1e-9);
    printf("train %s  epoch %ld/%d  step %ld/%ld  loss %.5f", sn_train_stage_name(ns->kind),
           g / (long)t->per_epoch + 1, ns->epochs, g + 1, ns->total, loss);
    if (ns->kind == SN_NET_REC)
        printf("  repaired %.4f", repaired / ((double)t->batch * t->s * t->s));
    printf("  %.1f images/s  %.0f s left", rate, left);
    /* A terminal gets one live line, rewritten in place; a batch log gets plain lines. */
    fputs(t->tty && g + 1 < ns->total ? "\033[K\r" : "\n", stdout);
    fflush(stdout);
}

/* The stage's speed and where its step time went on rank 0 (the phases of step.c). With the
 * overlap, the gradient allreduce's exposed part is the wait after the backward; the time spent
 * starting and testing buckets during the backward is counted in the backward. */
static void print_times(const sn_trainer *t, const sn_train_net *ns, long ran)
{
    const char *name = sn_train_stage_name(ns->kind);
    const double T = fmax(t->t_step, 1e-9);
    const double *p = t->t_phase;
    double other = t->t_step;
    for (int k = 0; k < SN_PHASES; k++)
        other -= p[k];
    printf("train %s: %ld steps in %.2f s, %.2f images/s; gradient allreduce %.1f %% of the step time "
           "exposed (rank 0)", name, ran, t->t_step, (double)ran * t->batch / T,
           100.0 * p[SN_PHASE_ALLREDUCE] / T);
    if (t->size == 1)
        printf(", one rank: none\n");
    else if (ns->overlap)
        printf(", overlapped with the backward in %d buckets of %.2f MiB (%.1f %% of the step in "
               "their MPI calls during it)\n", ns->sync.nb,
               (double)ns->sync.bucket * sizeof(float) / 1048576.0, 100.0 * ns->sync.t_during / T);
    else
        printf(", blocking after the backward (allreduce_overlap = off)\n");
    printf("train %s: step time: samples %.1f %%, forward %.1f %%, backward %.1f %%, gradient "
           "allreduce %.1f %%, status and loss sums %.1f %%, Adam %.1f %%, other %.1f %%\n", name,
           100.0 * p[SN_PHASE_SAMPLES] / T, 100.0 * p[SN_PHASE_FORWARD] / T,
           100.0 * p[SN_PHASE_BACKWARD] / T, 100.0 * p[SN_PHASE_ALLREDUCE] / T,
           100.0 * p[SN_PHASE_SYNC] / T, 100.0 * p[SN_PHASE_ADAM] / T, 100.0 * other / T);
}

/* Train one stage to its end, or until a stop is requested (*stopped = 1). */
static sn_status run_stage(sn_trainer *t, sn_train_net *ns, int *stopped)
{
    sn_status status = SN_OK;
    const sn_config *cfg = t->cfg;
    const sn_train_options *o = t->o;
    ns->present = 1;
    *stopped = 0;
    if (t->rank == 0 && !o->quiet)
        printf("train %s: %lld training images, global batch %d over %d rank(s), %lld steps per "
               "epoch, steps %ld..%ld, %zu parameters, lr %g\n", sn_train_stage_name(ns->kind),
               (long long)t->n_train, t->batch, t->size, (long long)t->per_epoch, ns->step + 1,
               ns->total, sn_unet_param_count(ns->net), sn_train_stage_lr(cfg, ns->kind));
    double t0 = MPI_Wtime();
    long first = ns->step;
    t->t_step = 0;
    memset(t->t_phase, 0, sizeof t->t_phase);
    if (ns->overlap)
        ns->sync.t_during = ns->sync.t_wait = 0;
    while (ns->step < ns->total) {
        long g = ns->step;
        double loss = 0, repaired = 0, ts = MPI_Wtime();
        SN_TRY(sn_train_step(t, ns, g, &loss, &repaired));
        t->t_step += MPI_Wtime() - ts;
        ns->loss[g] = loss;
        ns->step = g + 1;
        if (t->rank == 0 && !o->quiet && cfg->log_every > 0 &&
            (ns->step % cfg->log_every == 0 || ns->step == ns->total))
            progress(t, ns, g, loss, repaired, t0, first);
        int stop = sn_stop_requested() || (o->stop_after > 0 && ns->step >= o->stop_after);
        if (MPI_Allreduce(MPI_IN_PLACE, &stop, 1, MPI_INT, MPI_MAX, t->comm) != MPI_SUCCESS)
            SN_FAIL(SN_EMPI, "step %ld: stop-flag allreduce failed", ns->step);
        if (stop && ns->step < ns->total) {
            SN_TRY(sn_train_checkpoint(t));
            *stopped = 1;
            if (t->rank == 0 && t->tty && !o->quiet)
                putchar('\n');
            if (t->rank == 0)
                printf("train: stopped after %s step %ld of %ld; checkpoint written to %s\n"
                       "train: to continue, run the same command with --resume\n",
                       sn_train_stage_name(ns->kind), ns->step, ns->total, o->out);
            goto done;
        }
        if (cfg->checkpoint_every > 0 && ns->step % cfg->checkpoint_every == 0 &&
            ns->step < ns->total)
            SN_TRY(sn_train_checkpoint(t));
    }
    SN_TRY(sn_train_checkpoint(t));
    if (t->rank == 0 && !o->quiet) {
        long ran = ns->total - first;
        printf("train %s: done, %ld steps, final loss %.5f; model in %s\n", sn_train_stage_name(ns->kind),
               ns->total, ns->total > 0 ? ns->loss[ns->total - 1] : 0.0, o->out);
        if (ran > 0)
            print_times(t, ns, ran);
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

sn_status sn_train_run(const sn_train_options *o, MPI_Comm comm, sn_train_summary *summary)
{
    const sn_config *cfg = &o->cfg;
    const double t_start = sn_clock_wall();
    sn_status status = SN_OK;
    sn_trainer t;
    int stopped = 0;
    memset(&t, 0, sizeof t);
    t.cfg = cfg;
    t.o = o;
    t.comm = comm;
    t.rank = sn_dist_rank(comm);
    t.size = sn_dist_size(comm);
    t.tty = progress_bar_wanted(t.size);
    t.rctx.comm = MPI_COMM_NULL;
    if (summary)
        memset(summary, 0, sizeof *summary);
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
    if (MPI_Comm_dup(comm, &t.rctx.comm) != MPI_SUCCESS) {
        t.rctx.comm = MPI_COMM_NULL;
        status = SN_ERR(SN_EMPI, "MPI_Comm_dup for the BatchNorm reductions failed");
    }
    SN_TRY(sn_dist_agree(status, comm));
    if (o->resume || o->stage == SN_TRAIN_REC) {
        /* --stage rec without --resume takes the segmentation net (and tau) from the model file
         * and starts the reconstruction net afresh. */
        SN_TRY(sn_train_load_model(&t, o->resume));
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
            SN_TRY(sn_train_calib_run(&t));
            SN_TRY(sn_train_checkpoint(&t));
        } else if (t.rank == 0 && !o->quiet) {
            printf("train calib: tau %.2f from the model file (recall %.3f, precision %.3f)\n",
                   t.calib.tau, t.calib.recall, t.calib.precision);
        }
        SN_TRY(run_stage(&t, &t.ns[SN_NET_REC], &stopped));
    }
done:
    if (summary) {
        summary->interrupted = stopped;
        summary->seconds = sn_clock_wall() - t_start;
    }
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
    if (t.rctx.comm != MPI_COMM_NULL && MPI_Comm_free(&t.rctx.comm) != MPI_SUCCESS && status == SN_OK)
        status = SN_ERR(SN_EMPI, "MPI_Comm_free of the BatchNorm reductions' communicator failed");
    return status;
}
