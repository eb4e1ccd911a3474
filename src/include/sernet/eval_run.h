/* The eval stage (`sernet eval`) in the application layer's shape: options, communicator,
 * summary. The metrics, the table, the JSON, the report and /metrics are computed and written by
 * sn_evaluate_run (sernet/evaluate.h, src/eval/evaluate.c; the report writers are src/report/). */
#ifndef SERNET_EVAL_RUN_H
#define SERNET_EVAL_RUN_H

#include <mpi.h>

#include "sernet/common.h"
#include "sernet/config.h"
#include "sernet/evaluate.h"

typedef struct {
    const sn_config *cfg;  /* resolved configuration (required; the map and metric keys) */
    sn_evaluate_options what; /* files, outputs, baseline, thresholds to store (sernet/evaluate.h) */
} sn_eval_options;

typedef struct {
    double seconds;        /* the whole evaluation, slowest rank */
    int ranks;
} sn_eval_summary;

/* Collective over comm (any rank count). Rank 0 prints the metrics table to stdout and writes
 * every output file; errors are agreed on every rank. */
sn_status sn_eval_run(const sn_eval_options *o, MPI_Comm comm, sn_eval_summary *summary);

#endif
