/* Private to src/train: the state the training files share. train.c runs the stages (set-up,
 * the step loop, stop requests, progress); step.c is one optimisation step (with the BatchNorm
 * statistics reduction over the ranks); samples.c draws the training samples of a step;
 * checkpoint.c writes and reads the model file (and checks a resumed configuration);
 * loss_plot.c draws the loss curves; calibrate.c chooses the repair threshold. */
#ifndef SN_TRAIN_INTERNAL_H
#define SN_TRAIN_INTERNAL_H

#include "sernet/dataset.h"
#include "sernet/gradsync.h"
#include "sernet/optim.h"
#include "sernet/pseudo.h"
#include "sernet/tensor.h"
#include "sernet/train.h"
#include "sernet/unet.h"

#include <mpi.h>

/* Context of the BatchNorm reduction hook: its own duplicate of the ranks' communicator (so that
 * a rank that makes its remaining reductions late, after a local failure, cannot cross the
 * gradient buckets on the other one), whether an allreduce failed during the passes (checked
 * after them, since every rank must make the same calls), and the calls made in this step. */
typedef struct {
    MPI_Comm comm;
    int failed;
    int calls;
} sn_train_reduce_ctx;

/* One net being trained: its parameters, optimiser state and loss history. */
typedef struct {
    sn_net_kind kind;
    int epochs;
    sn_unet *net;
    sn_adam adam;
    double *loss;          /* per-step global loss, total entries */
    long step;             /* steps done */
    long total;            /* steps of the stage */
    int present;           /* created (and written to the model file) */
    int overlap;           /* gradients summed by `sync` during the backward (allreduce_overlap) */
    sn_gradsync sync;
    int n_bn;              /* BatchNorm reductions per training step, their lengths, and room */
    int *bn_len;           /* for the longest, for a rank whose pass failed part-way */
    double *bn_spare;
} sn_train_net;

/* Where a stage's step time goes (seconds on this rank, summed over the stage's steps). */
enum {
    SN_PHASE_SAMPLES,   /* drawing the samples (PPA, DPA, the frozen net and the repair for rec) */
    SN_PHASE_FORWARD,   /* forward pass and loss, with the BatchNorm reductions */
    SN_PHASE_BACKWARD,  /* backward pass, with the BatchNorm reductions (and with overlap the
                         * gradient buckets started and tested during it) */
    SN_PHASE_ALLREDUCE, /* the gradient allreduce's exposed part: overlap, waiting for the
                         * buckets after the backward; off, the blocking allreduce */
    SN_PHASE_SYNC,      /* agreeing on the status and summing the losses */
    SN_PHASE_ADAM,      /* the optimiser */
    SN_PHASES
};

/* The state of one training run (sn_train_run), shared by the files of src/train. */
typedef struct {
    const sn_config *cfg;
    const sn_train_options *o;
    MPI_Comm comm;
    int rank, size;
    sn_dataset *ds;
    int s;
    int64_t n_train;
    int batch;             /* global batch */
    int64_t per_epoch;     /* steps per epoch */
    sn_train_net ns[2];    /* SN_NET_SEG, SN_NET_REC */
    int calibrated;
    sn_calib calib;
    sn_pseudo_params pp;
    sn_pseudo_work *pw;
    sn_image_source src;
    int64_t min_area;
    sn_tensor x, clean, target, dout, mp;
    int64_t *idx;
    sn_train_reduce_ctx rctx;
    sn_reduce_hook hook;
    double t_step;              /* seconds in this stage's steps */
    double t_phase[SN_PHASES];  /* ... of which in each phase */
    int tty;                    /* rank 0's stdout is a terminal */
} sn_trainer;

static inline const char *sn_train_stage_name(sn_net_kind k) { return k == SN_NET_SEG ? "seg" : "rec"; }
/* The stage's base learning rate: lr_seg / lr_rec, or lr where that key is auto. */
static inline double sn_train_stage_lr(const sn_config *cfg, sn_net_kind k)
{
    double v = k == SN_NET_SEG ? cfg->lr_seg : cfg->lr_rec;
    return v < 0 ? cfg->lr : v;
}

/* checkpoint.c. Collective: rank 0 writes the model file (and the loss curves) after every rank
 * has finished the step; the status is agreed. */
sn_status sn_train_checkpoint(sn_trainer *t);
/* Collective: every rank reads the model file t->o->out (the segmentation net, the calibration,
 * and with load_rec the reconstruction net), after checking format, configuration and batch. */
sn_status sn_train_load_model(sn_trainer *t, int load_rec);

/* loss_plot.c: <out without .h5>_loss.svg. Rank 0. */
sn_status sn_train_write_loss_svg(const sn_trainer *t);

/* samples.c. Local. Segmentation samples of step g: PPA images into t->x, masks into t->target.
 * Reconstruction samples: PPA + DPA anomalies, segmented by the frozen net and repaired, into
 * t->x; the clean images into t->clean. *global_count: the loss normaliser of the global batch. */
sn_status sn_train_seg_samples(sn_trainer *t, long g, double *global_count);
sn_status sn_train_rec_samples(sn_trainer *t, long g, double *global_count, int64_t *repaired);

/* step.c. The BatchNorm reduction hook (sn_reduce_hook.fn; ctx is a sn_train_reduce_ctx). */
void sn_train_bn_reduce(double *buf, int n, void *ctx);
/* Collective: one optimisation step g of net ns (samples, forward, loss, backward, gradient
 * allreduce, Adam). *loss_out: the global loss; *repaired: repaired pixels (rec). */
sn_status sn_train_step(sn_trainer *t, sn_train_net *ns, long g, double *loss_out, double *repaired);

/* calibrate.c. Collective: choose the repair threshold on fresh samples (t->calib). */
sn_status sn_train_calib_run(sn_trainer *t);

#endif
