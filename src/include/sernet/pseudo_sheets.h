/* The pseudo stage (`sernet pseudo`): PNG sheets (clean | mask | pseudo-anomalous) of the
 * training samples PPA or DPA produces for chosen global sample indices, with the random keys
 * training uses, so a person can look at what the networks are trained on. */
#ifndef SERNET_PSEUDO_SHEETS_H
#define SERNET_PSEUDO_SHEETS_H

#include <mpi.h>
#include <stdint.h>

#include "sernet/common.h"
#include "sernet/config.h"
#include "sernet/pseudo.h"

/* One sheet written, handed to on_sheet by the rank that wrote it. */
typedef struct {
    const char *path;        /* out_dir/<kind>_<sample>.png */
    int64_t image;           /* training image index (sample mod training images) */
    const char *image_name;  /* its dataset name */
    int dpa;
    int size;                /* S */
    const sn_pseudo_info *info;
} sn_pseudo_sheet;

typedef struct {
    const sn_config *cfg;    /* resolved configuration (required): seed and pseudo.* keys */
    const char *data;        /* dataset file (required) */
    const char *category;    /* NULL: the file's only category */
    int dpa;                 /* 0: PPA (stage seg keys), 1: DPA (stage rec keys) */
    long long count;         /* samples start .. start + count - 1 (>= 0) */
    long long epoch, start;
    const char *out_dir;     /* created with its parents */
    void (*on_sheet)(void *ctx, const sn_pseudo_sheet *sheet); /* may be NULL */
    void *ctx;
} sn_pseudo_sheets_options;

typedef struct {
    int64_t written;         /* sheets written, all ranks */
} sn_pseudo_sheets_summary;

/* Collective over comm: the ranks share the samples (rank r takes r, r + size, ...); the sheets
 * do not depend on the number of ranks. Errors are agreed on every rank. */
sn_status sn_pseudo_sheets_run(const sn_pseudo_sheets_options *o, MPI_Comm comm,
                               sn_pseudo_sheets_summary *summary);

#endif
