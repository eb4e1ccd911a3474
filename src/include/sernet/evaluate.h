/* `sernet eval`: the metrics of a results file of `sernet infer` against the ground truth of its
 * dataset, printed as a table, written as JSON, into the results file (group /metrics) and as a
 * report folder (docs/evaluation.md, "The eval command"). */
#ifndef SERNET_EVALUATE_H
#define SERNET_EVALUATE_H

#include "sernet/common.h"
#include "sernet/config.h"

#include <mpi.h>

/* SN_METRICS_FORMAT and SN_METRICS_VERSION (the /metrics group's identity): sernet/results_format.h */
#include "sernet/results_format.h"

typedef struct {
    const char *results; /* RESULTS.h5 of sernet infer (required) */
    const char *data;    /* the dataset file it was computed from (required) */
    const char *json;    /* NULL: <results without .h5>_metrics.json */
    const char *report;  /* NULL: <results without .h5>_report */
    int worst;           /* false positives / negatives listed in the report (>= 0) */
    int no_write_results; /* 1: leave the results file untouched (no /metrics) */
    /* SN_BASELINE_* (sernet/baseline.h): evaluate a training-free baseline's maps instead of
     * the results file's; prints the table, writes JSON only to an explicit json, never the
     * report or /metrics. The sobel baseline needs no results file (results may be NULL). */
    int baseline;
    const char *category; /* without results: the dataset's category (NULL: its only one) */
    /* Store the F1-optimal image and pixel thresholds in this model file (sernet/model.h
     * sn_thresholds), "" meaning the model the results file names; NULL: do not. The model's
     * fingerprint must be the results file's. */
    const char *store_thresholds;
} sn_evaluate_options;

/* Collective over comm (any rank count, uneven shards). Rank 0 prints the table to stdout and
 * writes every output file; errors are agreed on every rank. */
sn_status sn_evaluate_run(const sn_config *cfg, const sn_evaluate_options *o, MPI_Comm comm);

#endif
