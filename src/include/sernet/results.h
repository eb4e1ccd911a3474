/* The distributed inference run of `sernet infer`, which writes a results file
 * (sernet/results_format.h; schema: docs/formats.md, "Results files").
 *
 * The run shards the test split of one category over the ranks; each rank processes its rows in
 * batches (seg -> similar-image search -> repair -> rec -> anomaly map) and all ranks write their
 * rows collectively into one file with parallel HDF5, round by round, the per-row done flags
 * after the rows' data, flushed every round. The file lives under "<out>.tmp" until every row is
 * done and is then renamed, so <out> is always complete; an interrupted or failed run leaves the
 * .tmp with its finished rows, which `--resume` continues. The data do not depend on the number
 * of ranks. */
#ifndef SERNET_RESULTS_H
#define SERNET_RESULTS_H

#include <mpi.h>

#include "sernet/config.h"
#include "sernet/dataset.h"
#include "sernet/h5util.h"

/* The file format itself (layout, create, open and check): sernet/results_format.h. */
#include "sernet/results_format.h"

typedef struct {
    const char *model;    /* model file */
    const char *data;     /* dataset file */
    const char *category; /* NULL: the file's only category */
    const char *out;      /* results file */
    int resume;           /* continue <out>.tmp (or accept a complete <out> of the same inputs) */
    int force;            /* replace an existing <out> or <out>.tmp */
    int batch;            /* images per rank per round */
    int quiet;
    /* configuration: the model's own, with this file (may be NULL) and these assignments on top */
    const char *config_path;
    const char *const *sets;
    int n_sets;
    int announce;         /* rank 0 prints the resolved configuration (stderr) */
    /* tiling (sernet/infer_tile.h): test images of size D >= S cut into the model's S x S tiles
     * overlapping by at least `overlap` pixels (SN_TILE_OVERLAP_DEFAULT: S / 4 rounded down to a
     * multiple of 16); the similar training tiles come from train_data (a dataset file at S with
     * its hash index; NULL: data itself). The results are at D. */
    int tile;
    int overlap;
    const char *train_data;
} sn_infer_options;

typedef struct {
    int64_t rows, done_before, done_now; /* test images; rows done before this run; by this run */
    int64_t repaired_images, repaired_pixels; /* over all rows */
    int thresholds;     /* the model had decision thresholds: /verdicts written */
    int64_t defects;    /* images judged defect (score above the image threshold) */
    double image_threshold;
    int complete;       /* every row done (the file is renamed to <out>) */
    int interrupted;    /* stopped on SIGTERM/SIGUSR1 */
    double seconds;     /* wall time of the rows loop */
    /* stage seconds, the largest over ranks: reading images, hashing + search, seg, repair, rec,
     * map, writing (including waiting for other ranks) */
    double t_read, t_search, t_seg, t_repair, t_rec, t_map, t_write;
    int64_t repaired_most; /* rows whose repair replaced more than half of the S x S input */
} sn_infer_summary;

/* Collective. */
sn_status sn_infer_run(const sn_infer_options *o, MPI_Comm comm, sn_infer_summary *sum);

#endif
