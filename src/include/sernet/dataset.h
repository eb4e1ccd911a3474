/* The dataset file format (owner: src/format/dataset.c; schema in docs/formats.md "Dataset
 * files"): its layout, the writer shared by `sernet ingest` and `sernet synth`, the reader and
 * the sharded loader used by training and inference. No other file names a path of this format;
 * the training hash index stored inside it is sernet/hashindex_format.h's.
 *
 * Opening is collective over the communicator (or local, without MPI: sn_dataset_open_local);
 * reads are independent hyperslab reads, so each rank reads only its own items and ranks with
 * nothing to read need not call them. Pixels come back as float NCHW in [0, 1] (value / 255),
 * ready for the network's tensors. */
#ifndef SERNET_DATASET_H
#define SERNET_DATASET_H

#include <mpi.h>
#include <stdint.h>

#include "sernet/common.h"
#include "sernet/config.h"
#include "sernet/h5util.h"
#include "sernet/tensor.h"

/* ---- layout ----------------------------------------------------------------------------------
 * Root attributes format = SN_DATASET_FORMAT, format_version = SN_DATASET_VERSION, categories
 * (comma-separated), image_size, source, config, created_by; one group /<category> per category
 * with attributes image_size, n_train, n_test, source, and groups train/ and test/ (the latter
 * only when n_test > 0) holding the items below. */
#define SN_DATASET_FORMAT "sernet-dataset"
#define SN_DATASET_VERSION 1

typedef enum { SN_SPLIT_TRAIN = 0, SN_SPLIT_TEST = 1 } sn_split;

/* Items of a split: images uint8 [n, S, S, 3], names fixed-length strings [n], orig_size int32
 * [n, 2]; test split only: masks uint8 [n, S, S], labels uint8 [n], defect int32 [n], has_mask
 * uint8 [n], defect_types strings [types]. */
#define SN_DATASET_IMAGES "images"
#define SN_DATASET_NAMES "names"
#define SN_DATASET_ORIG_SIZE "orig_size"
#define SN_DATASET_MASKS "masks"
#define SN_DATASET_LABELS "labels"
#define SN_DATASET_DEFECT "defect"
#define SN_DATASET_HAS_MASK "has_mask"
#define SN_DATASET_DEFECT_TYPES "defect_types"

/* The HDF5 path of a category ("/<category>", item NULL and split ignored), of a split's group
 * (item "") or of one of its items ("/<category>/<split>/<item>") into buf. Returns buf. */
const char *sn_dataset_path(char *buf, size_t cap, const char *category, sn_split split,
                            const char *item);

/* Format and version of an open file (the root attributes): SN_EFORMAT naming the file when it
 * is not a dataset file of this version. Not collective. */
sn_status sn_dataset_check_root(sn_h5file *f);

typedef struct sn_dataset sn_dataset;

/* Collective. `category` NULL picks the file's only category (error if it has several).
 * A missing, foreign, damaged or wrong-version file gives a clear error naming it. */
sn_status sn_dataset_open(const char *path, const char *category, MPI_Comm comm, sn_dataset **ds);
/* The same on this process alone (no MPI needed, e.g. for sernet/inspect.h): every check of
 * sn_dataset_open; the loader's shard is then the whole split. */
sn_status sn_dataset_open_local(const char *path, const char *category, sn_dataset **ds);
/* Collective (local for a dataset from sn_dataset_open_local). Safe on NULL. */
void sn_dataset_close(sn_dataset *ds);
/* The file a dataset was opened from (its path, for messages; the hash index reads it). */
sn_h5file *sn_dataset_file(sn_dataset *ds);

/* Category names of a dataset file, comma-separated, from its root attribute (caller frees). */
sn_status sn_dataset_categories(const char *path, MPI_Comm comm, char **list);

const char *sn_dataset_category(const sn_dataset *ds);
int sn_dataset_image_size(const sn_dataset *ds);              /* S */
int64_t sn_dataset_count(const sn_dataset *ds, sn_split split); /* 0 for a missing test split */
const char *sn_dataset_name(const sn_dataset *ds, sn_split split, int64_t i); /* source-relative */
void sn_dataset_orig_size(const sn_dataset *ds, sn_split split, int64_t i, int *h, int *w);
/* Test split only: label 0 normal / 1 defective, defect type index, whether a pixel mask exists. */
int sn_dataset_label(const sn_dataset *ds, int64_t i);
int sn_dataset_defect(const sn_dataset *ds, int64_t i);
int sn_dataset_has_mask(const sn_dataset *ds, int64_t i);
int sn_dataset_n_defect_types(const sn_dataset *ds);
const char *sn_dataset_defect_type(const sn_dataset *ds, int t); /* t = 0 is "good" */

/* Read n items given by global indices (any order, repeats allowed) of `split`.
 * images: float [n, 3, S, S] in [0, 1], or NULL; masks: float [n, 1, S, S] 0/1 (test split only;
 * all zero where no mask exists), or NULL; raw: uint8 [n, S, S, 3] as stored, or NULL.
 * Not collective. */
sn_status sn_dataset_read(sn_dataset *ds, sn_split split, const int64_t *idx, int n, float *images,
                          float *masks, uint8_t *raw);

/* Items [begin, begin + n) of a split as stored (uint8 [n, S, S, 3]) in one read. Not collective. */
sn_status sn_dataset_read_raw_range(sn_dataset *ds, sn_split split, int64_t begin, int64_t n,
                                    uint8_t *raw);

/* This rank's contiguous shard of a split (sn_dist_shard over the dataset's communicator). */
void sn_dataset_shard(const sn_dataset *ds, sn_split split, int64_t *begin, int64_t *count);

/* The order of n items in `epoch`: a permutation that depends only on (seed, epoch, n), never on
 * the number of ranks (Fisher-Yates driven by a SplitMix64 stream keyed by seed and epoch). */
void sn_dataset_epoch_order(int64_t n, uint64_t seed, int64_t epoch, int64_t *perm);
/* Number of global batches in one epoch: ceil(n / global_batch) (the last may be short), or
 * floor(n / global_batch) with drop_last. */
int64_t sn_dataset_batches(int64_t n, int global_batch, int drop_last);
/* This rank's part of global batch `batch` of `epoch` of the training split: the batch's items
 * (positions batch*B .. min(n, (batch+1)*B) of the epoch order) are cut into contiguous shards by
 * sn_dist_shard; this rank reads its shard. *count (may be 0) items go to images ([count,3,S,S])
 * and their global indices to indices (may be NULL); both need room for ceil(B / ranks) items.
 * *offset (may be NULL) receives the position of this rank's first item within the global batch.
 * Not collective. */
sn_status sn_dataset_train_batch(sn_dataset *ds, uint64_t seed, int64_t epoch, int64_t batch,
                                 int global_batch, float *images, int64_t *indices, int *count,
                                 int *offset);

/* The same straight into engine tensors (storage reused when large enough, so a training loop
 * allocates once): images becomes [count, 3, S, S] (count may be 0, with room kept for
 * ceil(B / ranks) items). */
sn_status sn_dataset_train_batch_tensor(sn_dataset *ds, uint64_t seed, int64_t epoch, int64_t batch,
                                        int global_batch, sn_tensor *images, int64_t *indices,
                                        int *offset);
/* Items idx[0..n) of a split into images [n, 3, S, S] and, if masks is not NULL (test split),
 * masks [n, 1, S, S]. */
sn_status sn_dataset_read_tensor(sn_dataset *ds, sn_split split, const int64_t *idx, int n,
                                 sn_tensor *images, sn_tensor *masks);

/* ---- writing ---------------------------------------------------------------------------------
 * The caller describes every item up front (identical on all ranks); the pixels are produced by
 * a callback on the rank that owns the item, and written collectively in rounds. */
typedef struct {
    const char *name;        /* group name, e.g. "glass" */
    const char *source;      /* where the images came from (attribute "source") */
    int64_t n_train, n_test; /* n_train >= 1; n_test may be 0 (no /test group) */
    char **train_names;      /* [n_train] */
    char **test_names;       /* [n_test] */
    uint8_t *test_labels;    /* [n_test] 0 normal, 1 defective */
    int32_t *test_defect;    /* [n_test] index into defect_types (0 is "good") */
    uint8_t *test_has_mask;  /* [n_test] 1 if a pixel mask exists */
    char **defect_types;     /* [n_defect_types], defect_types[0] = "good" */
    int n_defect_types;
} sn_dsw_category;

/* Produce item i of split (0 train, 1 test) of category cat: image S*S*3 uint8 HWC, mask S*S 0/1
 * (test only, else NULL), orig[0] = original height, orig[1] = width. */
typedef sn_status (*sn_dsw_produce)(void *ctx, int cat, int split, int64_t i, uint8_t *image,
                                    uint8_t *mask, int32_t orig[2]);

/* Collective. Writes `path` (temporary name, then rename; refuses an existing file unless
 * force) with every category, root attributes and provenance, and each category's training hash
 * index (sernet/hashindex_format.h) computed from the stored images as they are written.
 * `source` goes to the root. */
sn_status sn_dsw_write(const char *path, int force, MPI_Comm comm, const sn_config *cfg, int size,
                       const char *source, const sn_dsw_category *cats, int ncats,
                       sn_dsw_produce produce, void *ctx);

#endif
