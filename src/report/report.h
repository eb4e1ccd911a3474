/* Private pieces of `sernet eval` (src/report): the gathered summary and its writers. */
#ifndef SN_REPORT_REPORT_H
#define SN_REPORT_REPORT_H

#include "sernet/dataset.h"
#include "sernet/eval_curves.h"
#include "sernet/h5util.h"
#include "sernet/metrics.h"

#include <stdio.h>

typedef struct {
    int64_t index; /* test image index */
    float score;
    int32_t type;  /* defect type of the dataset (0 = good) */
    int32_t label; /* 1 when the ground-truth mask has a defect pixel (the metrics' label) */
} sn_report_image;

typedef struct {
    const char *results, *data, *json, *report;
    char category[256], model[1024];
    int S;
    const sn_dataset *ds; /* open while the outputs are written (image names) */
    int64_t M;
    sn_eval_result res;
    int n_types;
    char type_names[SN_EVAL_MAX_TYPES][64];
    int64_t type_images[SN_EVAL_MAX_TYPES];
    sn_metric type_image_auroc[SN_EVAL_MAX_TYPES], type_pixel_auroc[SN_EVAL_MAX_TYPES],
        type_aupro[SN_EVAL_MAX_TYPES];
    /* bootstrap intervals of the image AUROC (eval_bootstrap resamples at eval_ci_level; NaN
     * when undefined or turned off), overall and per type */
    int ci_resamples;
    double ci_level;
    double image_auroc_ci[2];
    double type_image_auroc_ci[SN_EVAL_MAX_TYPES][2];
    sn_eval_curves cv;
    /* rank 0 only */
    sn_report_image *img; /* all M images in index order */
    int64_t *fp, *fn; /* worst false positives / negatives (test image indices) */
    int n_fp, n_fn;
    int worst; /* K of --worst */
    int64_t unlabelled_defects; /* images of a defect type without any mask pixel */
} sn_report_summary;

void sn_report_print_table(const sn_report_summary *s, FILE *f);
sn_status sn_report_write_json(const sn_report_summary *s, const char *path);
/* The report folder; reads the panels' rows from the open results file and dataset (rank 0). */
sn_status sn_report_write_markdown(const sn_report_summary *s, const char *dir, sn_h5file *rf, sn_dataset *ds);
/* Copy the results file, add /metrics (replacing an old one), rename over it (rank 0, after every
 * rank closed the file). */
sn_status sn_report_write_metrics_h5(const sn_report_summary *s, const char *path);

#endif
