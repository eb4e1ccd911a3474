/* The ingest stage (`sernet ingest`): image folders -> a dataset file (docs/formats.md). Two
 * layouts: MVTec AD (root/category/train/good, test/<type>, ground_truth/<type>/<stem>_mask.png)
 * and plain folders (good, test_good, defect with one subfolder per type, masks matched by file
 * stem). Every rank lists the folders (the same lists everywhere), decodes its shard of the
 * images and the ranks write collectively; the file does not depend on the number of ranks. */
#ifndef SERNET_INGEST_H
#define SERNET_INGEST_H

#include <mpi.h>
#include <stdint.h>

#include "sernet/common.h"
#include "sernet/config.h"

typedef struct {
    const sn_config *cfg;   /* resolved configuration (required); image_size is the output side S */
    const char *category;   /* category name in the file (required; no '/' or ',') */
    const char *out;        /* dataset file to write (required) */
    const char *root;       /* MVTec AD layout: root/category; NULL for plain folders */
    /* plain folders (root NULL): good = the training split (required), test_good = good test
     * images, defect = defective test images, masks = their masks (needs defect) */
    const char *good, *test_good, *defect, *masks;
    int force;              /* replace an existing output file */
    int skip_bad;           /* skip undecodable images (and defect images with a bad mask) */
    int tile;               /* cut training images into S x S tiles at native resolution; no test split */
    int overlap;            /* with tile: least tile overlap; SN_TILE_OVERLAP_DEFAULT: S/4 rounded */
} sn_ingest_options;

typedef struct {
    char label[4096];       /* root/category (MVTec) or the category name (plain folders) */
    int64_t n_train;        /* training items written (tiles with tile) */
    int64_t n_test, n_defective, n_masks;
    int n_defect_types;
    int size;               /* S */
    int64_t n_sources;      /* training images read (before tiling; after skipping) */
    int64_t n_skipped;      /* skip_bad: files dropped */
    int64_t n_left_out;     /* tile: test images of the MVTec layout left out */
    int overlap;            /* tile: the overlap used */
    double input_bytes;     /* every image and mask file read, each once (rank 0; 0 elsewhere) */
    double seconds;         /* listing, decoding and writing */
    int ranks;
} sn_ingest_summary;

/* Zeroes o and sets overlap = SN_TILE_OVERLAP_DEFAULT. */
void sn_ingest_options_init(sn_ingest_options *o);

/* Collective over comm. Errors are agreed on every rank and name the folder, file or option (by
 * its `sernet ingest` name: --good, --masks, ...); nothing is left under the output name on
 * failure. With skip_bad each skipped file gets a warning on stderr. *summary is filled on every
 * rank on success (input_bytes on rank 0). */
sn_status sn_ingest_run(const sn_ingest_options *o, MPI_Comm comm, sn_ingest_summary *summary);

#endif
