/* One-file deployment bundle (`sernet bundle`; schema in docs/formats.md, "Bundle file").
 *
 * SeRNet's repair replaces defect pixels with those of the most similar training image, so
 * scoring needs the training images and their hash index besides the nets. A bundle holds
 * exactly what scoring needs: both nets (parameters and BatchNorm statistics, no optimiser
 * state), the configuration, the repair calibration and the decision thresholds of the model, and
 * the training images, names and perceptual-hash index of the model's category. Every data
 * block is chunked with HDF5's Fletcher32 checksum and the file is written with HDF5 metadata
 * checksums, so a flipped bit anywhere that matters is refused, naming the part.
 *
 * Readers: sn_model_load (sernet/model.h) reads a bundle's model part like a model file;
 * sn_trainset_load_bundle reads its training part. `sernet score`, `sernet infer`,
 * `sernet calibrate` and sn_inspector_open (sernet/inspect.h) accept a bundle in place of the
 * model + dataset pair; the results are bit-identical to the pair's. */
#ifndef SERNET_BUNDLE_H
#define SERNET_BUNDLE_H

#include <stdint.h>

#include "sernet/common.h"
#include "sernet/h5util.h"

#define SN_BUNDLE_FORMAT "sernet-bundle"
#define SN_BUNDLE_VERSION 1

/* The training images of one category in memory: what the repair module draws from. */
typedef struct {
    char category[256];
    int s;           /* image side */
    int64_t n;       /* training images, >= 1 */
    uint8_t *images; /* [n, S, S, 3] RGB, HWC, as stored in dataset files */
    uint64_t *hashes; /* [n] perceptual hashes (docs/phash.md) */
    char **names;    /* [n] source names, e.g. "train/good/012.png" */
} sn_trainset;

/* The training split of `category` of the dataset file `data_path`, read on this process alone
 * (no MPI). `s` is the model's image size (the dataset's must equal it; `model_path` names the
 * model in that message); `category_given` only changes the wording when the category is
 * missing. Errors: not a dataset file, other version, no such category (the message lists the
 * file's), other image size, no or stale hash index (the message gives the `sernet index` to
 * run). */
sn_status sn_trainset_load(const char *data_path, const char *category, int category_given,
                           const char *model_path, int s, sn_trainset *t);
/* The training part of a bundle: images, names and hash index, each checked (Fletcher32) and
 * against the bundle's root attributes; a damaged part is refused naming it
 * ("B.h5: bundle part /train/phash (training hash index): ..."). */
sn_status sn_trainset_load_bundle(const char *bundle_path, sn_trainset *t);
void sn_trainset_free(sn_trainset *t);

/* 1 if `path` is an HDF5 file whose root attribute format is "sernet-bundle", else 0 (no error
 * recorded; a missing or damaged file gives 0 and is reported by the loader). */
int sn_bundle_probe(const char *path);

/* Write the bundle `out` from the trained model `model_path` and the dataset it was trained on,
 * `data_path` (the training split of the model's category is taken). The model is loaded and
 * checked as for inference (complete, finite, calibrated); the dataset must hold the model's
 * category at the model's image size with a current hash index. Written by this process alone
 * (MPI initialised; MPI_COMM_SELF) to "<out>.tmp", then renamed: after any error neither `out`
 * nor the temporary file exists. An existing `out` is refused unless `force`. On success *n_train
 * (may be NULL) receives the number of training images stored. */
sn_status sn_bundle_write(const char *model_path, const char *data_path, const char *out,
                          int force, int64_t *n_train);

/* ---- for the model loader (src/infer/model.c), which reads a bundle's model parts ---------- */

/* The calling thread's error, re-raised as "PATH: bundle part PART (WHAT)[: checksum mismatch
 * ...]: <the original message>"; returns its status. */
sn_status sn_bundle_part_error(const char *path, const char *part, const char *what);
/* Format, version, completion marker and list of parts of an open bundle (SN_EFORMAT naming
 * the file, or the part). */
sn_status sn_bundle_check_root(sn_h5file *f);
/* The bundle parts present in f, comma-separated, for the root attribute "parts". */
sn_status sn_bundle_parts_list(sn_h5file *f, char *out, size_t cap);

#endif
