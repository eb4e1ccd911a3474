/* A trained model file (written by `sernet train`, schema in docs/formats.md) loaded for
 * inference: both nets with their parameters and BatchNorm statistics, the repair threshold,
 * the configuration it was trained with, and a fingerprint of all of it.
 *
 * Loading reads the file on the calling process alone (no MPI needed): every rank of an MPI job
 * loads its own copy, and programs that embed inference (sernet/inspect.h) need no MPI at all.
 * A loaded model is read-only; workers (sernet/infer.h) copy its parameters. */
#ifndef SERNET_MODEL_H
#define SERNET_MODEL_H

#include "sernet/common.h"
#include "sernet/config.h"
#include "sernet/thresholds.h"
#include "sernet/unet.h"

typedef struct sn_model sn_model;

/* Load MODEL.h5, or the model part of a deployment bundle (sernet/bundle.h: the same nets,
 * configuration, calibration and thresholds; a damaged part is refused naming it, and the
 * recomputed fingerprint must equal the one stored when the bundle was made).
 * Errors name the file and what is wrong: not a model file, another version, an
 * incomplete checkpoint, a net missing or not trained to the end (the message gives the step and
 * the `sernet train --resume` to finish it), no calibrated repair threshold, tensors of the wrong
 * size. */
sn_status sn_model_load(const char *path, sn_model **model);
void sn_model_free(sn_model *model);

/* Use the configuration `user` for what may change after training (repair_threshold as a fixed
 * number, the anomaly-map keys, eval keys, threads); every key that shaped the trained nets
 * ([model], [train], [pseudo] sections and large_area) must equal the model's, else SN_EINVAL
 * naming the keys. */
sn_status sn_model_apply_config(sn_model *model, const sn_config *user);

/* The model's configuration with a configuration file (may be NULL) and then "key=value"
 * assignments applied on top, passed to sn_model_apply_config. */
sn_status sn_model_override(sn_model *model, const char *config_path, const char *const *sets,
                            int n_sets);

const char *sn_model_path(const sn_model *model);
/* 1 when the model was loaded from a bundle (its training images are in the same file). */
int sn_model_is_bundle(const sn_model *model);
const char *sn_model_category(const sn_model *model);
int sn_model_image_size(const sn_model *model);
const sn_config *sn_model_config(const sn_model *model);
/* The repair threshold in use (calibrated, or fixed by the configuration) and the area filter. */
double sn_model_tau(const sn_model *model);
int64_t sn_model_min_area(const sn_model *model);
/* 1 when the configuration in use takes the image score from a second map
 * (score_msgms_scales / score_box_size, sernet/anomaly_map.h), which tiled inference does not
 * support: a tiled image's score is the stitched map's maximum. */
int sn_model_separate_score(const sn_model *model);
/* The message refusing that combination, for callers to prefix with what they were doing. */
#define SN_MODEL_TILE_SCORE_REFUSAL                                                                \
    "score_msgms_scales / score_box_size are set, which tiling does not support (a tiled "        \
    "image's score is the stitched map's maximum): set both to 0"
/* The calibration's warning stored by training (recall too low, or a repair that would fire on
 * most pixels), when the calibrated tau is the one in use; "" otherwise. */
const char *sn_model_calib_warning(const sn_model *model);
/* 16 hex digits: FNV-1a 64 of both nets' tensors and the repair threshold. Two results files
 * made with the same fingerprint came from the same weights. */
const char *sn_model_fingerprint(const sn_model *model);
/* The loaded nets (read-only; workers copy them). */
const sn_unet *sn_model_net(const sn_model *model, sn_net_kind kind);

/* sn_thresholds (the decision thresholds stored with a model): sernet/thresholds.h. */

const sn_thresholds *sn_model_thresholds(const sn_model *model);
/* Store t in the model file or bundle `path` (a loaded sn_model of it must exist): the file is
 * copied to "<path>.tmp", the thresholds written there and the copy renamed over `path`, so a
 * crash leaves the old file. One process (MPI is initialised; comm MPI_COMM_SELF is used). */
sn_status sn_model_store_thresholds(const char *path, const sn_thresholds *t);

/* FNV-1a 64 over bytes, continuing from h (start with SN_FNV_OFFSET). */
#define SN_FNV_OFFSET 0xcbf29ce484222325ULL
uint64_t sn_fnv1a(uint64_t h, const void *data, size_t n);

#endif
