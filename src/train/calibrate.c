/* Repair-threshold calibration (sn_train_calibrate, sernet/train.h): predictions of the
 * segmentation net on fresh pseudo-anomalous samples, F1 over candidate thresholds reduced over
 * the ranks, the segmentation pixel AUROC and the warnings. */
#include "train/train_internal.h"
#include "sernet/dist.h"
#include "sernet/repair.h"
#include "sernet/rng.h"

#include <stdio.h>
#include <string.h>

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
    /* a net that ranks no anomalous pixel above the normal ones settled on "no anomaly": at lr
     * 5e-4 that held for 2000 steps on the synthetic flange, and 1e-4 made it learn */
    const int flat = c->pixel_auroc >= 0 && c->pixel_auroc < SN_CALIB_WARN_AUROC;
    if (c->recall < SN_CALIB_WARN_RECALL)
        used += (size_t)snprintf(c->warning, sizeof c->warning,
                                 "calibration recall %.3f < %.1f at tau %.2f (%s; pixel AUROC of the "
                                 "segmentation net %.3f): the repair module will rarely fire; %s%s",
                                 c->recall, SN_CALIB_WARN_RECALL, c->tau,
                                 fixed_tau >= 0 ? "fixed" : "calibrated", c->pixel_auroc,
                                 flat ? "the net does not tell anomalous pixels from normal ones: "
                                        "lower its learning rate (lr_seg, e.g. 1e-4, METHOD.md's "
                                        "lr; docs/quality.md), longer training at the same rate "
                                        "may not help"
                                      : "train the segmentation stage longer (epochs_seg)",
                                 /* a lower tau cannot help a net that ranks nothing */
                                 !flat && fixed_tau >= 0 ? " or lower repair_threshold" : "");
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
sn_status sn_train_calib_run(sn_trainer *t)
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
