/* `sernet export`: one PNG panel per test image (see sernet/panel.h) in the dataset's folder
 * layout, plus an index file, from a results file of `sernet infer` and its dataset file.
 * docs/outputs.md describes the outputs. */
#ifndef SERNET_EXPORT_H
#define SERNET_EXPORT_H

#include <mpi.h>
#include <stdint.h>

#include "sernet/common.h"

typedef enum { SN_EXPORT_ALL = 0, SN_EXPORT_GOOD, SN_EXPORT_DEFECTIVE } sn_export_only;

typedef struct {
    const char *results;  /* RESULTS.h5 */
    const char *data;     /* DATA.h5 */
    const char *out;      /* output folder (created with its parents) */
    int has_threshold;    /* 1: use `threshold` for the predicted mask */
    double threshold;
    int64_t limit;        /* > 0: only the first `limit` selected images (dataset order) */
    sn_export_only only;
    int quiet;            /* no notes on stderr */
} sn_export_options;

/* Where the predicted mask came from. */
typedef enum {
    SN_EXPORT_T_OPTION = 0, /* --threshold */
    SN_EXPORT_T_METRICS,    /* /metrics attribute pixel_threshold of the results file */
    SN_EXPORT_T_REPAIR      /* no threshold known: the repair masks /repair_masks */
} sn_export_tsource;

typedef struct {
    int64_t n_written;   /* panels written (all ranks) */
    int64_t n_selected;
    sn_export_tsource tsource;
    double threshold;    /* the threshold used (NaN for SN_EXPORT_T_REPAIR) */
    float map_max;       /* anomaly-map value drawn as full heat */
    char index_path[1100];
} sn_export_summary;

/* Collective over comm. The results file must be complete and belong to the dataset (category,
 * image size, test count); every error is agreed across ranks and names the file concerned. */
sn_status sn_export_run(const sn_export_options *o, MPI_Comm comm, sn_export_summary *sum);

/* The panel file name for a dataset item name: the extension of the last path component
 * replaced by ".png" (added when there is none). Names that are absolute, contain a ".." or
 * empty component are refused (SN_EFORMAT) so panels stay inside the output folder. */
sn_status sn_export_panel_name(const char *item_name, char *out, size_t len);

#endif
