/* The model file format (owner: src/format/model.c; schema: docs/formats.md "Model files"):
 * the file `sernet train` writes as its checkpoint and `sernet infer` loads. Root attributes
 * format = SN_MODEL_FORMAT, format_version = SN_MODEL_VERSION, config, created_by, category,
 * image_size, global_batch and the completion marker checkpoint_complete (written last); one
 * group per trained net (/seg, /rec) with its attributes, tensors/<name> (one chunk each),
 * adam_m, adam_v and loss; /calib with the repair calibration; /thresholds with the decision
 * thresholds (added by `sernet calibrate` or `sernet eval --store-thresholds`).
 * A deployment bundle (sernet/bundle.h) stores its nets, calibration and thresholds with the
 * same layout (without the optimiser state). No other file names a path of this format. */
#ifndef SERNET_MODEL_FORMAT_H
#define SERNET_MODEL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "sernet/common.h"
#include "sernet/config.h"
#include "sernet/h5util.h"
#include "sernet/unet.h"

#define SN_MODEL_FORMAT "sernet-model"
#define SN_MODEL_VERSION 1

#define SN_MODEL_SEG "/seg"               /* group: the segmentation net */
#define SN_MODEL_REC "/rec"               /* group: the reconstruction net */
#define SN_MODEL_CALIB "/calib"           /* group: the repair calibration */
#define SN_MODEL_THRESHOLDS "/thresholds" /* group: the decision thresholds */

/* Items of a net's group. */
#define SN_MODEL_TENSORS "tensors" /* group of the parameters and BatchNorm statistics */
#define SN_MODEL_ADAM_M "adam_m"
#define SN_MODEL_ADAM_V "adam_v"
#define SN_MODEL_LOSS "loss"

/* The group of a net: "/seg" or "/rec". */
const char *sn_model_group(sn_net_kind kind);
/* "<group>/<item>" of a net into buf (item "tensors/<name>" for a tensor); returns buf. */
const char *sn_model_net_path(char *buf, size_t cap, sn_net_kind kind, const char *item);

/* Repair-threshold calibration (METHOD.md §4), as stored in /calib: the tau that maximises the
 * pixel F1 score of the binarised, area-filtered predicted masks against the true masks, and the
 * diagnostics at it. */
typedef struct {
    double tau;             /* chosen threshold */
    double f1, recall, precision;
    double max_in_anomaly;  /* largest prediction on a true anomalous pixel (-1: no such pixel) */
    int64_t samples;        /* samples used (all ranks) */
    int64_t anomalous_pixels; /* true anomalous pixels (all ranks) */
    double pixel_auroc;     /* AUROC of the raw predictions against the true masks (1024 bins):
                             * does the segmentation net rank anomalous pixels at all */
    double fire_fraction;   /* share of the pixels outside true anomalies that the filtered mask
                             * at tau marks: the repair would replace that much of a good image */
    char warning[512];      /* "" or what is wrong with this calibration and what to change */
} sn_calib;

/* The training state of a net stored with it in a model file (NULL in a bundle). */
typedef struct {
    int64_t steps_per_epoch;
    int64_t adam_step;
    const float *adam_m, *adam_v; /* [parameter count] */
    const double *loss;           /* [step] */
} sn_model_train_state;

/* Root attributes of a new model file f (sn_h5_create'd): provenance, identity, category, image
 * size, global batch. Not collective (one process writes model files). */
sn_status sn_model_file_write_root(sn_h5file *f, const sn_config *cfg, const char *category,
                                   int image_size, int global_batch);
/* The completion marker, written last. */
sn_status sn_model_file_write_complete(sn_h5file *f);
/* A net's group: attributes (step of steps_total, complete when step >= total), its tensors, and
 * with ts the optimiser state and loss history. */
sn_status sn_model_file_write_net(sn_h5file *f, sn_net_kind kind, const sn_unet *net, int width,
                                  int units_per_block, int64_t step, int64_t steps_total,
                                  const sn_model_train_state *ts);
/* Every attribute of the calibration into /calib (created); auto_tau: tau was chosen, not given. */
sn_status sn_model_file_write_calib(sn_h5file *f, const sn_calib *c, int auto_tau);

/* Identity of an open model file: format (SN_EFORMAT "not a sernet model file"), version and
 * the completion marker ("incomplete model file"). Not collective. */
sn_status sn_model_file_check_root(sn_h5file *f);
/* Read a net's tensors into net (created with the stored width); with check_finite a non-finite
 * value is SN_EFORMAT naming the dataset and element. */
sn_status sn_model_file_read_tensors(sn_h5file *f, sn_net_kind kind, sn_unet *net, int check_finite);
/* The full calibration of /calib (diagnostics added after the first model files are optional:
 * -1 and no warning when absent). *present is 0 when the file has no /calib. */
sn_status sn_model_file_read_calib(sn_h5file *f, sn_calib *c, int *present);

#endif
