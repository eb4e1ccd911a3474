/* Generator of structurally valid HDF5 dataset files with wrong shapes, types, attributes,
 * counts or versions, driven by fuzz bytes (used by fuzz_dataset and fuzz_hashindex).
 *
 * The bytes are read as a stream of decisions. Each decision byte below 192 (and every decision
 * after the stream ends) keeps the valid choice, so the empty input writes a valid dataset file
 * (format docs/formats.md: root attributes, one category with train and test splits and a phash
 * index); a byte of 192 or more picks one of several perturbations of that element:
 * attributes missing, of another type, another value, an array, a variable-length or empty
 * string, a null dataspace; datasets missing, replaced by a group, of another type or rank,
 * with one dimension changed, empty, scalar, or chunked and compressed; table values out of
 * range. */
#ifndef SN_FUZZ_H5GEN_H
#define SN_FUZZ_H5GEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int size;           /* image size S written into the attributes (may be perturbed) */
    int n_train;        /* real number of training items written */
    int n_test;         /* real number of test items written */
    const char *category_arg; /* the category to ask the loader for (NULL: the only one) */
    char category_buf[320];
} fz_h5gen_info;

/* Optional: called for every traced decision with its name, the position of its byte in the
 * input and the number k of perturbations (a byte of 192 + j picks perturbation 1 + j % k).
 * Used by tests/test_bad_dataset_files.c to try every perturbation one at a time. */
typedef void (*fz_h5gen_trace_fn)(const char *what, size_t pos, unsigned k, void *ctx);
void fz_h5gen_set_trace(fz_h5gen_trace_fn fn, void *ctx);

/* Write the file at path (replacing it). Returns 0 on success, -1 if the generator itself could
 * not write the file (an HDF5 call of the generator failed: not a finding). */
int fz_h5gen_write(const char *path, const uint8_t *data, size_t size, fz_h5gen_info *info);

/* Model files (fuzz_model): root attributes, /seg and /rec with the tensors of real nets
 * (sn_unet_create of width 1..4, 1..2 units; sn_unet_tensor names and shapes), /calib tau and
 * the completion marker, each perturbed like the dataset elements above; also tensors of another
 * architecture, a non-finite weight, an extra tensor, a stored configuration that disagrees. */
typedef struct {
    int size; /* image size S of the valid file */
} fz_h5gen_model_info;
int fz_h5gen_model_write(const char *path, const uint8_t *data, size_t size,
                         fz_h5gen_model_info *info);

/* Results files (fuzz_results): first a valid dataset file at data_path (fz_h5gen_write with
 * every decision valid; S, n_train and n_test from the first bytes), then a results file for it
 * at path with rows, their checksums, attributes and datasets perturbed (wrong fingerprint, done
 * flags > 1, a wrong checksum, data changed after the checksum, shapes and types). */
typedef struct {
    int size;       /* S of the dataset */
    int64_t n_test; /* test images of the dataset */
} fz_h5gen_results_info;
int fz_h5gen_results_write(const char *data_path, const char *path, const uint8_t *data,
                           size_t size, fz_h5gen_results_info *info);

#endif
