/* Distributed two-stage training (METHOD.md §2-4, PIPELINE.md "Distributed design"),
 * with checkpoints in the model file and exact resume. Model file schema: docs/formats.md
 * ("Model files"); usage: docs/training.md.
 *
 * Data parallel: every rank holds the whole net and computes its share of each global batch
 * (sn_dataset_train_batch_tensor); samples and pseudo-anomalies are keyed by (seed, stage, epoch,
 * global sample index), BatchNorm sees global-batch statistics, the flat gradient buffer is summed
 * with one MPI_Allreduce, every rank applies the same Adam step. The result does not depend on the
 * number of ranks (up to floating-point summation order). */
#ifndef SERNET_TRAIN_H
#define SERNET_TRAIN_H

#include <mpi.h>

#include "sernet/common.h"
#include "sernet/config.h"
#include "sernet/stop.h"

/* The model file the run writes and resumes from (layout, sn_calib): sernet/model_format.h. */
#include "sernet/model_format.h"

typedef enum { SN_TRAIN_SEG = 0, SN_TRAIN_REC = 1, SN_TRAIN_ALL = 2 } sn_train_stage;

typedef struct {
    sn_config cfg;         /* the resolved configuration (file, --set, defaults) */
    const char *data;      /* dataset file */
    const char *category;  /* NULL: the file's only category */
    const char *out;       /* model file (checkpoint) */
    sn_train_stage stage;
    int resume;            /* continue from the checkpoint in `out` */
    long stop_after;       /* > 0: checkpoint and stop once this many steps of the stage are done
                            * (for tests and for splitting a run into jobs) */
    int quiet;             /* no progress lines */
} sn_train_options;

typedef struct {
    int interrupted;       /* stopped on request (stop_after, SIGTERM/SIGUSR1) before the end */
    double seconds;        /* wall time of the run */
} sn_train_summary;

#define SN_CALIB_WARN_RECALL 0.2 /* METHOD.md §4: below it the repair rarely fires */
#define SN_CALIB_WARN_FIRE 0.5   /* above it the repair replaces most of a good image */
#define SN_CALIB_WARN_AUROC 0.6  /* under it (with low recall) the net does not rank anomalies at
                                  * all: a lower rate, not more steps, made it learn (quality.md) */

/* Collective over comm: each rank passes its n samples' predictions mp[n][s*s] in [0,1] and
 * true masks mask[n][s*s] (0/1). fixed_tau >= 0 evaluates only that threshold; otherwise the
 * candidates are 0.01, 0.02, ..., 0.99 and the one with the highest F1 wins (ties: the higher
 * tau, which repairs less). min_area: the repair module's area filter in pixels. Fills
 * out->warning when the recall is under SN_CALIB_WARN_RECALL or the fire fraction over
 * SN_CALIB_WARN_FIRE. */
sn_status sn_train_calibrate(const float *mp, const float *mask, int n, int s, int64_t min_area,
                             double fixed_tau, MPI_Comm comm, sn_calib *out);

/* The train stage (docs/architecture.md, "The application layer"). Collective over comm.
 * Returns SN_OK when the stage finished or stopped on request (stop_after reached,
 * SIGTERM/SIGUSR1: summary->interrupted = 1). summary may be NULL. */
sn_status sn_train_run(const sn_train_options *o, MPI_Comm comm, sn_train_summary *summary);

/* Stop requests (SIGTERM/SIGUSR1: checkpoint and stop at the end of the current step) are in
 * core: sernet/stop.h. These older names forward to it, for callers not yet moved over. */
static inline void sn_train_install_signals(void) { sn_stop_install_signals(); }
static inline int sn_train_stop_requested(void) { return sn_stop_requested(); }
static inline void sn_train_request_stop(void) { sn_stop_request(); }

#endif
