/* The synth stage (`sernet synth`): the embedded synthetic inspection set (sernet/synth.h) written
 * as a dataset file, or a PNG grid of examples. */
#ifndef SERNET_SYNTH_RUN_H
#define SERNET_SYNTH_RUN_H

#include <mpi.h>

#include "sernet/common.h"
#include "sernet/config.h"
#include "sernet/synth.h"

typedef struct {
    const sn_config *cfg;  /* resolved configuration (required): image_size (>= 32) and seed */
    const char *out;       /* dataset file to write, or NULL */
    const char *preview;   /* PNG grid to write instead (exactly one of out and preview) */
    int force;             /* replace an existing output file */
    int test_copies;       /* copies of the test layout, 1..SN_SYNTH_MAX_TEST_COPIES (0 means 1) */
} sn_synth_options;

typedef struct {
    const char *path;      /* the file written (out or preview) */
    int size;
    long seed;
    double seconds;
    int ranks;
} sn_synth_summary;

/* Collective over comm: the ranks write the dataset file together; the preview is drawn by
 * rank 0. Errors are agreed on every rank. */
sn_status sn_synth_run(const sn_synth_options *o, MPI_Comm comm, sn_synth_summary *summary);

#endif
