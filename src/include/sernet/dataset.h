/* Dataset files (HDF5, written by `sernet ingest` and `sernet synth`; schema in docs/formats.md)
 * and the sharded loader used by training and inference.
 *
 * Opening is collective over the communicator; reads are independent hyperslab reads, so each
 * rank reads only its own items and ranks with nothing to read need not call them. Pixels come
 * back as float NCHW in [0, 1] (value / 255), ready for the network's tensors. */
#ifndef SERNET_DATASET_H
#define SERNET_DATASET_H

#include <mpi.h>
#include <stdint.h>

#include "sernet/common.h"
#include "sernet/tensor.h"

#define SN_DATASET_FORMAT "sernet-dataset"
#define SN_DATASET_VERSION 1

typedef enum { SN_SPLIT_TRAIN = 0, SN_SPLIT_TEST = 1 } sn_split;

typedef struct sn_dataset sn_dataset;

/* Collective. `category` NULL picks the file's only category (error if it has several).
 * A missing, foreign, damaged or wrong-version file gives a clear error naming it. */
sn_status sn_dataset_open(const char *path, const char *category, MPI_Comm comm, sn_dataset **ds);
/* Collective. Safe on NULL. */
void sn_dataset_close(sn_dataset *ds);

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

#endif
