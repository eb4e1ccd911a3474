/* The results file format of `sernet infer` (owner: src/format/results.c; schema:
 * docs/formats.md, "Results files"): the per-row datasets, the root attributes that identify a
 * file and the data it describes, the row checksums, the /metrics group eval adds, and the
 * create / identify / open-and-check functions every writer and reader goes through. No other
 * file names a path of this format. */
#ifndef SERNET_RESULTS_FORMAT_H
#define SERNET_RESULTS_FORMAT_H

#include <mpi.h>
#include <stdint.h>

#include "sernet/config.h"
#include "sernet/dataset.h"
#include "sernet/h5util.h"

#define SN_RESULTS_FORMAT "sernet-results"
#define SN_RESULTS_VERSION 1

/* The per-row datasets, [n_test] or [n_test, S, S] or [n_test, S, S, 3]. The first
 * SN_RES_N_ROWS are made by sn_results_create and written row by row; the verdict columns exist
 * only when the model had decision thresholds. */
typedef enum {
    SN_RES_SCORES, SN_RES_MAPS, SN_RES_SEG, SN_RES_REPAIR, SN_RES_RECON, SN_RES_NEIGHBOR,
    SN_RES_DIST, SN_RES_REPAIRED, SN_RES_CHECKSUMS, SN_RES_DONE,
    SN_RES_N_ROWS,
    SN_RES_NORMALIZED = SN_RES_N_ROWS, SN_RES_VERDICTS,
    SN_RES_N_COLS
} sn_results_col;

const char *sn_results_col_name(sn_results_col c); /* "/scores", ... */
hid_t sn_results_col_mem_type(sn_results_col c);  /* native type of a row in memory */
int sn_results_col_ndims(sn_results_col c);        /* 1, 3 or 4 */

/* The group `sernet eval` writes into a results file, with its own identity (root-style
 * attributes format = SN_METRICS_FORMAT, format_version = SN_METRICS_VERSION): attributes with
 * the metrics, and per-defect-type vectors named "type_*" (docs/evaluation.md). */
#define SN_RESULTS_METRICS "/metrics"
#define SN_METRICS_FORMAT "sernet-metrics"
#define SN_METRICS_VERSION 1
/* "/metrics/<item>" into buf; returns buf. */
const char *sn_results_metrics_path(char *buf, size_t cap, const char *item);
/* One process (MPI_COMM_SELF): copy the results file `results` to a private temporary name,
 * open the copy for writing (f->path is the copy), replace its /metrics by an empty group with
 * the identity attributes. The caller writes the metrics, then sn_results_metrics_finish. */
sn_status sn_results_metrics_begin(sn_h5file *f, const char *results);
/* Close the copy and, when status is SN_OK, rename it over `results`; else remove it. Returns
 * the final status. */
sn_status sn_results_metrics_finish(sn_h5file *f, const char *results, sn_status status);

/* What a results file describes and how it was made (its root attributes). */
typedef struct {
    char category[256];
    int s;             /* image size of the rows */
    int64_t m;         /* test images (rows) */
    int complete;
    char model[1024];  /* "" when absent */
    char model_fingerprint[64]; /* "" when absent */
    int64_t batch;     /* rows per rank per round of the run that made it; -1 when absent */
    int tile, tile_overlap; /* 0, 0: untiled (files from before tiling have neither) */
    int has_train_id;  /* a tiled file's train_data and train_fingerprint were read */
    char train_data[1024], train_fingerprint[64];
} sn_results_header;

/* The identity written at creation (sn_results_create). */
typedef struct {
    const sn_config *cfg;   /* provenance */
    const char *model, *model_fingerprint, *data, *data_fingerprint, *category;
    int s;
    int64_t m;
    double tau;
    int64_t min_area;
    int ranks, batch;
    int tile, tile_overlap; /* 0, 0: untiled */
    const char *train_data, *train_fingerprint; /* tiled only */
} sn_results_info;

/* 16 hex digits identifying the test split of a dataset: FNV-1a 64 of the category, the image
 * size, the number of training and test images and every test image name. */
void sn_results_data_fingerprint(const sn_dataset *ds, char out[17]);

/* The /checksums entry of a row: FNV-1a 64 over score, map, segmentation mask, repair mask,
 * reconstruction, neighbour index, its distance and the repaired pixels, in that order, as
 * stored (native little-endian). */
uint64_t sn_results_row_checksum(int s, float score, const float *map, const float *seg,
                                 const uint8_t *repair, const uint8_t *recon, int64_t nbr,
                                 int32_t dist, int64_t repaired);

/* Collective. Create `path` (under its temporary name, sn_h5_create with force) with the root
 * attributes of `info` (complete = 0) and the SN_RES_N_ROWS row datasets, opened into d[], and
 * flush the structure to disk. */
sn_status sn_results_create(sn_h5file *f, const char *path, MPI_Comm comm, const sn_results_info *info,
                            hid_t d[SN_RES_N_ROWS]);
/* Collective. With decision thresholds: the root attributes of the verdicts (image and pixel
 * threshold, their source, the number of images judged defect). */
sn_status sn_results_write_verdict_attrs(sn_h5file *f, double image_threshold,
                                         double pixel_threshold, const char *source, int64_t defects);
/* Collective. The run's totals and the completion marker (complete = 1), written last. */
sn_status sn_results_write_complete(sn_h5file *f, int64_t repaired_images, int64_t repaired_pixels,
                                    int64_t repaired_most, int ranks);
/* Open the row datasets of an open file into d[] and check their shapes against m rows of
 * S x S. Not collective. */
sn_status sn_results_open_rows(sn_h5file *f, int64_t m, int s, hid_t d[SN_RES_N_ROWS]);
/* One column's dataset, its shape checked against m rows of S x S. Not collective. */
sn_status sn_results_open_col(sn_h5file *f, sn_results_col c, int64_t m, int s, hid_t *d);
/* Rows [row0, row0 + n) of column c (opened with sn_results_open_col). Not collective. */
sn_status sn_results_read_col(sn_h5file *f, hid_t d, sn_results_col c, int64_t row0, int64_t n,
                              void *buf);

/* Format, version, completion (when need_complete) and identity of an open file: SN_EFORMAT
 * naming `shown`. Not collective. */
sn_status sn_results_read_header(sn_h5file *f, const char *shown, int need_complete,
                                 sn_results_header *h);
/* The file describes the test split of ds (category, image size, count, data fingerprint):
 * SN_EINVAL naming both files. Not collective. */
sn_status sn_results_check_dataset(sn_h5file *f, const char *shown, const sn_results_header *h,
                                   const sn_dataset *ds);
/* Collective: open a results file, read and check its header (complete), close it. For readers
 * that need the category before they open the dataset. */
sn_status sn_results_identify(const char *path, MPI_Comm comm, sn_results_header *h);
/* Check the row checksums of rows [begin, begin + count) whose `want` flag is set (NULL: all).
 * *bad receives the first damaged row or -1; the error names it. Not collective. */
sn_status sn_results_verify_rows(sn_h5file *f, const char *shown, int s, int64_t begin,
                                 int64_t count, const uint8_t *want, int64_t *bad);
/* For readers (eval, export, report): open a complete results file read-only (collective) and
 * check it against the dataset it claims to describe (sn_results_read_header,
 * sn_results_check_dataset) and every rank the row checksums of its shard. */
sn_status sn_results_open(sn_h5file *f, const char *path, const sn_dataset *ds, MPI_Comm comm);

#endif
