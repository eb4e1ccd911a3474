/* The model struct, shared by the inference module's files (private to src/infer). */
#ifndef SN_INFER_MODEL_INTERNAL_H
#define SN_INFER_MODEL_INTERNAL_H

#include "sernet/anomaly_map.h"
#include "sernet/h5util.h"
#include "sernet/model.h"

struct sn_model {
    char path[1024];
    char category[256];
    int s;
    sn_config cfg;
    sn_unet *net[2]; /* SN_NET_SEG, SN_NET_REC */
    double calibrated_tau; /* -1: none stored */
    char calib_warning[512]; /* /calib warning of the training run ("" if none or not stored) */
    double tau;
    int64_t min_area;
    sn_map_params map;
    char fingerprint[17];
    sn_thresholds thr;
    int is_bundle; /* read from a deployment bundle (sernet/bundle.h) */
};

/* The bundle functions the loader uses (part errors, root check, parts list): sernet/bundle.h. */

#endif
