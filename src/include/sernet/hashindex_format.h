/* The training hash index stored in a dataset file (owner: src/format/hashindex.c; docs/phash.md,
 * docs/formats.md "Dataset files"): /<category>/train/phash, uint64 [n_train], the phash of each
 * stored S x S RGB training image (the same images, and so the same hashes, that inference
 * compares test images with), with attributes "algorithm" and "n_images". A bundle stores the
 * same dataset with the same attributes at its own path (sernet/bundle.h). No other file names
 * the index's path or attributes. */
#ifndef SERNET_HASHINDEX_FORMAT_H
#define SERNET_HASHINDEX_FORMAT_H

#include <mpi.h>
#include <stdint.h>

#include "sernet/common.h"
#include "sernet/h5util.h"

/* The index item of a dataset's training split (sernet/dataset.h's sn_dataset_path). */
#define SN_HASHINDEX_ITEM "phash"

/* Description stored with every index (attribute "algorithm"). */
const char *sn_hashindex_algorithm(void);

/* "/<category>/train/phash" into buf; returns buf. */
const char *sn_hashindex_path(char *buf, size_t cap, const char *category);

/* Collective over f's communicator. Create the index dataset `where` of n hashes (chunked as
 * `chunk` rows when chunk > 0, else contiguous), write rows [begin, begin + count) from this
 * rank's hashes (count may be 0), then the attributes. */
sn_status sn_hashindex_write(sn_h5file *f, const char *where, int64_t n, int64_t chunk,
                             int64_t begin, int64_t count, const uint64_t *hashes);

/* Read and check the index at `where` of an open file (not collective): it exists (else
 * SN_EFORMAT "no hash index", with the `sernet index` to run), is not empty, holds exactly
 * n_train hashes (stale otherwise) and, with check_algorithm, when it names an algorithm, was
 * made with this one. *hashes from sn_alloc (free with sn_free). */
sn_status sn_hashindex_read(sn_h5file *f, const char *where, const char *category, int64_t n_train,
                            int check_algorithm, uint64_t **hashes);

/* Collective. Hash every training image of `category` (NULL: the file's only category) of the
 * dataset file `path`, each rank its contiguous shard, and write the index collectively: first
 * under the name "phash.partial", then renamed, so a reader never sees a half-written index. An
 * existing index is refused unless `force`. *count (optional) receives the number of hashes. The
 * file is modified in place (it is not copied): see docs/phash.md. */
sn_status sn_hashindex_build(const char *path, const char *category, int force, MPI_Comm comm,
                             int64_t *count);

/* Collective. Every rank reads the whole index of `category` into *hashes (sn_alloc; free with
 * sn_free) and *n, checked by sn_hashindex_read. */
sn_status sn_hashindex_load(const char *path, const char *category, MPI_Comm comm, uint64_t **hashes,
                            int64_t *n);
/* The same on this process alone (no MPI), also checking the algorithm attribute. */
sn_status sn_hashindex_load_local(const char *path, const char *category, uint64_t **hashes,
                                  int64_t *n);

#endif
