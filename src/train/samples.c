/* The training samples of one step, drawn from (seed, stage, epoch, sample index) so they do not
 * depend on the number of ranks: PPA for the segmentation net; PPA and DPA, segmented by the
 * frozen net and repaired, for the reconstruction net (METHOD.md). */
#include "train/train_internal.h"
#include "sernet/repair.h"
#include "sernet/rng.h"

#include <string.h>

/* This rank's images of step `g` into t->x (and their count in the global batch). Local. */
static sn_status read_batch(sn_trainer *t, long g, int *offset, double *in_batch)
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
sn_status sn_train_seg_samples(sn_trainer *t, long g, double *global_count)
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
sn_status sn_train_rec_samples(sn_trainer *t, long g, double *global_count, int64_t *repaired)
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
