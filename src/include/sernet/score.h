/* The station stages on one process, through the inspection API (sernet/inspect.h):
 *   score      score image files that are in no dataset file (`sernet score`),
 *   calibrate  set a model's decision thresholds from held-out good images or given numbers
 *              (`sernet calibrate`).
 * docs/inference.md "sernet score", docs/inspection.md. */
#ifndef SERNET_SCORE_H
#define SERNET_SCORE_H

#include <stdint.h>

#include "sernet/common.h"
#include "sernet/thresholds.h"

/* One scored input, handed to sn_score_options.on_item in the order of the inputs. */
typedef struct {
    int index;                /* position in the file list; -1: an input folder that could not be listed */
    const char *path;         /* the image file (or the folder, index -1) */
    int ok;                   /* 1 scored; 0 failed: see error */
    const char *error;        /* !ok: what failed, naming the file */
    float score;
    const char *neighbour;    /* name of the training image the repair used */
    int hamming;              /* its hash distance */
    int64_t repaired_pixels;
    int has_verdict;          /* the model has thresholds: the next three are set */
    double normalized_score;  /* score / image threshold */
    int defect;               /* score > image threshold */
    int64_t defect_pixels;    /* map pixels > pixel threshold */
    const char *map;          /* the map file written ("" without maps_dir) */
    int width, height, tiles; /* image size; tiles with tile (0 otherwise) */
    double wall;              /* seconds from decoding to score */
} sn_score_item;

typedef struct {
    const char *model;        /* model or bundle file (required) */
    const char *data;         /* dataset with the training images; NULL with a bundle */
    const char *category;     /* NULL: the model's */
    int threads;              /* OpenMP threads per image; SN_INSPECT_THREADS_CONFIG: the threads key */
    int jobs;                 /* images scored at once (>= 1); with tile: tiles of one image at once */
    const char *maps_dir;     /* NULL, or write each map as maps_dir/<stem>.png (created) */
    double map_max;           /* map value drawn white (> 0) */
    int heat;                 /* colour maps black-red-yellow-white instead of grey */
    int full_size;            /* maps at each image's own size instead of S x S (not with tile) */
    int tile;                 /* score large images by tiling at native resolution */
    int overlap;              /* with tile: least overlap; SN_TILE_OVERLAP_DEFAULT: S/4 rounded */
    int require_thresholds;   /* fail when the model has no decision thresholds */
    const char *config_path;  /* configuration changes allowed after training (sernet/inspect.h) */
    const char *const *sets;
    int n_sets;
    const char *const *inputs; /* image files and folders (a folder: its image files, sorted) */
    int n_inputs;
    /* Called once per input, in input order, from one worker thread at a time (the caller
     * prints); may be NULL. */
    void (*on_item)(void *ctx, const sn_score_item *item);
    void *ctx;
} sn_score_options;

typedef struct {
    int scored, failed;       /* images scored; images that failed */
    int failed_folders;       /* input folders that could not be listed */
    int defects;              /* images judged defect (with thresholds) */
    int repaired_most;        /* images whose repair replaced more than half of them (warned) */
    double seconds, cpu;      /* wall time and process CPU time of the scoring */
    double wall_sum;          /* sum of the scored images' wall times */
    int jobs, threads, size;  /* jobs, OpenMP threads per job, the model's S */
    int has_thresholds;
    sn_thresholds thresholds; /* when has_thresholds */
} sn_score_summary;

/* Defaults: threads SN_INSPECT_THREADS_CONFIG, jobs 1, map_max 1, overlap SN_TILE_OVERLAP_DEFAULT. */
void sn_score_options_init(sn_score_options *o);

/* One process (no MPI). Warnings (no thresholds, calibration or fingerprint mismatch, a repair
 * over more than half of an image) go to stderr. Returns an error only when nothing could be
 * scored (the model, the options, the maps folder); an image or folder that fails is reported
 * through on_item and counted in summary->failed or summary->failed_folders. */
sn_status sn_score_run(const sn_score_options *o, sn_score_summary *summary);

typedef struct {
    const char *model;        /* model or bundle file to store the thresholds in (required) */
    const char *data, *category; /* as for score */
    double fpr;               /* false-positive rate on the good images, (0, 0.5] */
    int threads;
    int tile, overlap;        /* as for score */
    const char *config_path;
    const char *const *sets;
    int n_sets;
    const char *const *inputs; /* held-out good image files and folders */
    int n_inputs;
    double threshold;         /* > 0: store this image threshold as given (no inputs) */
    double pixel_threshold;   /* with threshold: >= 0 the pixel threshold; < 0: none */
} sn_calibrate_options;

typedef struct {
    sn_thresholds thresholds; /* what was stored */
    int n_images;             /* good images scored (0 for given numbers) */
    int model_is_bundle;      /* the file calibrated is a bundle */
} sn_calibrate_summary;

/* Defaults: fpr 0.01, threads SN_INSPECT_THREADS_CONFIG, overlap SN_TILE_OVERLAP_DEFAULT,
 * threshold -1, pixel_threshold -1. */
void sn_calibrate_options_init(sn_calibrate_options *o);

/* One process. Every good image must score (a threshold from a subset would differ silently);
 * the model file is rewritten by copy and rename. */
sn_status sn_calibrate_run(const sn_calibrate_options *o, sn_calibrate_summary *summary);

#endif
