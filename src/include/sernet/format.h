/* The identity every sernet file carries (owner: src/format/identify.c): the root attributes
 * "format" (the kind: SN_DATASET_FORMAT, SN_MODEL_FORMAT, SN_RESULTS_FORMAT, SN_BUNDLE_FORMAT)
 * and "format_version". Each format's own file (src/format/<kind>.c) writes and checks them;
 * programs that take any kind of file (`sernet info`, the model-or-bundle loader) ask here. */
#ifndef SERNET_FORMAT_H
#define SERNET_FORMAT_H

#include <stdint.h>

#include "sernet/h5util.h"

/* The kind of an open file. 1: *kind (malloc, caller frees) holds the root attribute "format";
 * 0: there is none (an HDF5 file not written by sernet), no error recorded; -1: it cannot be
 * read (a failed metadata checksum, which only bundles carry), the error recorded with HDF5's
 * detail. *version (may be NULL): "format_version", -1 when absent. Not collective. */
int sn_format_identify(sn_h5file *f, char **kind, int64_t *version);

#endif
