/* Writing dataset files (format in docs/formats.md), shared by `sernet ingest` and `sernet synth`.
 * The caller describes every item up front (identical on all ranks); the pixels are produced by
 * a callback on the rank that owns the item, and written collectively in rounds. */
#ifndef SN_IO_DATASET_WRITE_H
#define SN_IO_DATASET_WRITE_H

#include <mpi.h>
#include <stdint.h>

#include "sernet/common.h"
#include "sernet/config.h"

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
 * force) with every category, root attributes and provenance. `source` goes to the root. */
sn_status sn_dsw_write(const char *path, int force, MPI_Comm comm, const sn_config *cfg, int size,
                       const char *source, const sn_dsw_category *cats, int ncats,
                       sn_dsw_produce produce, void *ctx);

#endif
