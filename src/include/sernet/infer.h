/* SeRNet inference on a batch of images (METHOD.md §6): segmentation net -> repair with the most
 * similar training image -> reconstruction net -> anomaly map and image score.
 *
 * A worker owns its own copies of both nets and its buffers, so one worker serves one caller at a
 * time and several workers (threads) can share one sn_model. Images come in as stored in dataset
 * files: uint8 [n, S, S, 3] (HWC, RGB), converted to float as value / 255. The similar training
 * image of each input is looked up by the caller (sn_hashindex_nearest_images), because where
 * training images live differs (a dataset file read by MPI ranks, or memory in sernet/inspect.h). */
#ifndef SERNET_INFER_H
#define SERNET_INFER_H

#include "sernet/model.h"

typedef struct sn_infer_worker sn_infer_worker;

/* threads: OpenMP threads this worker's calls use (<= 0: the calling thread's current setting). */
sn_status sn_infer_worker_create(const sn_model *model, int threads, sn_infer_worker **worker);
void sn_infer_worker_free(sn_infer_worker *worker);

/* Outputs per image; every pointer but `scores` may be NULL. S = sn_model_image_size. */
typedef struct {
    float *scores;        /* [n] image score = max of the anomaly map */
    float *maps;          /* [n, S, S] anomaly map */
    float *seg;           /* [n, S, S] segmentation net output Mp */
    uint8_t *repair_mask; /* [n, S, S] the filtered binary mask the repair module used (0/1) */
    uint8_t *recon;       /* [n, S, S, 3] reconstruction, round(255 x), clamped */
    int64_t *repaired;    /* [n] repaired pixels */
} sn_infer_out;

/* Seconds spent per stage, accumulated over calls. */
typedef struct {
    double seg, repair, rec, map;
} sn_infer_times;

/* images, similar: uint8 [n, S, S, 3]; similar[i] is the training image most similar to
 * images[i]. t (optional) accumulates stage times. n may be 0. */
sn_status sn_infer_batch(sn_infer_worker *worker, int n, const uint8_t *images,
                         const uint8_t *similar, const sn_infer_out *out, sn_infer_times *t);

#endif
