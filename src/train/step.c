/* One data-parallel optimisation step: samples, forward with BatchNorm statistics reduced over
 * the ranks (the hook below), MSE+SSIM loss, backward, gradient allreduce (overlapped with the
 * backward in buckets, sernet/gradsync.h, or one blocking call after it: allreduce_overlap), Adam
 * with the learning-rate schedule; a non-finite loss stops training naming the first bad tensor.
 * The time of each phase is summed into t->t_phase. */
#include "train/train_internal.h"
#include "sernet/dist.h"
#include "sernet/loss.h"
#include "sernet/testhook.h"

#include <math.h>
#include <stdio.h>

/* BatchNorm statistics summed over the ranks during the forward and backward passes. */
void sn_train_bn_reduce(double *buf, int n, void *ctx)
{
    sn_train_reduce_ctx *r = ctx;
    r->calls++;
    if (MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, r->comm) != MPI_SUCCESS)
        r->failed = 1;
}

/* A pass that failed part-way on this rank skipped BatchNorm reductions that the other ranks
 * make: make the rest of them now (the values do not matter, the step fails on every rank at the
 * agreement), before any gradient bucket is waited for, since the other ranks may be blocked in
 * one of them. Nothing here allocates. */
static void bn_reduce_rest(sn_trainer *t, const sn_train_net *ns)
{
    for (int i = t->rctx.calls; i < ns->n_bn; i++)
        sn_train_bn_reduce(ns->bn_spare, ns->bn_len[i], &t->rctx);
}

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

/* The time since *tick goes to phase k; the next phase starts now. */
static void phase_end(sn_trainer *t, int k, double *tick)
{
    const double now = MPI_Wtime();
    t->t_phase[k] += now - *tick;
    *tick = now;
}

sn_status sn_train_step(sn_trainer *t, sn_train_net *ns, long g, double *loss_out, double *repaired)
{
    sn_status status = SN_OK;
    double global_count = 0;
    int64_t rep = 0;
    sn_ssim_params sp;
    sn_ssim_defaults(&sp, t->cfg->ssim_window, t->cfg->ssim_sigma);
    const sn_tensor *target = ns->kind == SN_NET_SEG ? &t->target : &t->clean;
    double tick = MPI_Wtime();
    sn_testhook_delay("SERNET_TRAIN_DELAY_MS"); /* tests only: docs/hardening.md */
    status = ns->kind == SN_NET_SEG ? sn_train_seg_samples(t, g, &global_count)
                                    : sn_train_rec_samples(t, g, &global_count, &rep);
    phase_end(t, SN_PHASE_SAMPLES, &tick);
    status = sn_dist_agree(status, t->comm);
    phase_end(t, SN_PHASE_SYNC, &tick);
    if (status != SN_OK)
        return status;
    const sn_tensor *out = NULL;
    sn_loss_sums sums = {0, 0, 0};
    t->rctx.failed = 0;
    t->rctx.calls = 0;
    /* The forward and backward passes call the BatchNorm reduction on every rank in the same
     * order, so a local failure there is agreed only afterwards. With the overlap, the backward
     * also starts the gradient buckets as they become final, and sn_gradsync_finish starts the
     * rest and waits for all of them on every rank whatever happened locally, so every rank
     * makes the same collective calls before the agreement. */
    if (ns->overlap)
        sn_gradsync_begin(&ns->sync);
    sn_status local = sn_unet_forward(ns->net, &t->x, 1, &t->hook, &out);
    if (local == SN_OK)
        local = sn_loss_compute(&sp, out, target, global_count, &sums, &t->dout);
    phase_end(t, SN_PHASE_FORWARD, &tick);
    if (local == SN_OK) {
        sn_unet_zero_grad(ns->net);
        local = sn_unet_backward(ns->net, &t->dout, &t->hook);
    }
    if (local != SN_OK)
        bn_reduce_rest(t, ns);
    else
        SN_ASSERT(t->rctx.calls == ns->n_bn); /* sn_unet_bn_reductions matches the passes */
    phase_end(t, SN_PHASE_BACKWARD, &tick);
    if (ns->overlap) {
        sn_status sync = sn_gradsync_finish(&ns->sync);
        if (local == SN_OK)
            local = sync;
        phase_end(t, SN_PHASE_ALLREDUCE, &tick);
    }
    if (local == SN_OK && t->rctx.failed)
        local = SN_ERR(SN_EMPI, "step %ld: BatchNorm statistics allreduce failed", g + 1);
    status = sn_dist_agree(local, t->comm);
    phase_end(t, SN_PHASE_SYNC, &tick);
    if (status != SN_OK)
        goto done;
    double s4[4] = {sums.mse_sum, sums.ssim_sum, sums.count, (double)rep};
    if (MPI_Allreduce(MPI_IN_PLACE, s4, 4, MPI_DOUBLE, MPI_SUM, t->comm) != MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "step %ld: loss allreduce failed", g + 1);
    phase_end(t, SN_PHASE_SYNC, &tick);
    size_t n = sn_unet_param_count(ns->net);
    if (t->size > 1 && !ns->overlap &&
        MPI_Allreduce(MPI_IN_PLACE, sn_unet_grads(ns->net), (int)n, MPI_FLOAT, MPI_SUM, t->comm) !=
            MPI_SUCCESS)
        SN_FAIL(SN_EMPI, "step %ld: gradient allreduce (%zu floats) failed", g + 1, n);
    phase_end(t, SN_PHASE_ALLREDUCE, &tick);
    sn_loss_sums all = {s4[0], s4[1], s4[2]};
    double loss, mse, ssim;
    sn_loss_values(&all, &loss, &mse, &ssim);
    if (!isfinite(loss)) {
        char where[160];
        first_nonfinite(ns->net, where, sizeof where);
        SN_FAIL(SN_ENONFINITE, "%s stage, step %ld (epoch %ld): loss is %g (mse %g, ssim %g); %s; "
                "stopping (try a smaller lr)", sn_train_stage_name(ns->kind), g + 1,
                g / (long)t->per_epoch + 1, loss, mse, ssim, where);
    }
    double lr = sn_lr_at(sn_train_stage_lr(t->cfg, ns->kind), t->cfg->lr_decay, t->cfg->lr_decay_at1,
                         t->cfg->lr_decay_at2, (int)(g / t->per_epoch), ns->epochs);
    if (t->cfg->batch_mode == SN_BATCH_PER_RANK)
        lr *= train_lr_scale(t->cfg, t->size, g);
    sn_adam_step(&ns->adam, sn_unet_params(ns->net), sn_unet_grads(ns->net), lr);
    phase_end(t, SN_PHASE_ADAM, &tick);
    *loss_out = loss;
    *repaired = s4[3];
done:
    return status;
}
