/* Decision thresholds of a trained model, as the inspection API (sernet/inspect.h) reports
 * them. Part of the installed API. */
#ifndef SERNET_THRESHOLDS_H
#define SERNET_THRESHOLDS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Decision thresholds stored with a model (group /thresholds, docs/formats.md): an image is a
 * defect when its score is above `image`; a pixel is a defect pixel when its map value is above
 * `pixel`. They apply to the map configuration the model was scored with when they were set
 * (`map_fingerprint`: the model fingerprint then). A retrained model has none. */
typedef struct {
    int set;            /* 0: the model has no thresholds */
    double image, pixel; /* > 0 and finite; pixel may be 0 when only an image threshold was set */
    char source[512];   /* how they were set: "fpr 0.01 on 40 good images", "eval F1 ...", "given" */
    char fingerprint[17]; /* sn_model_fingerprint when they were set */
} sn_thresholds;

/* The score divided by the image threshold (1.0 at the threshold); NaN without thresholds. */
double sn_thresholds_normalise(const sn_thresholds *t, double score);

#ifdef __cplusplus
}
#endif

#endif
