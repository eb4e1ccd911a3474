/* Parallel HDF5 helpers: files opened with MPI-IO on a communicator, written under a temporary
 * name and renamed when complete, attributes, row-wise hyperslab I/O, and every call checked with
 * an error naming the file and the dataset or attribute. All functions that take an sn_h5file are
 * collective over its communicator unless noted. */
#ifndef SERNET_H5UTIL_H
#define SERNET_H5UTIL_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "sernet/common.h"
#include "sernet/config.h"

typedef struct {
    hid_t id;        /* file id; H5I_INVALID_HID (negative) when not open */
    MPI_Comm comm;
    int writing;     /* 1: created by sn_h5_create, lives under `tmp` until sn_h5_finish */
    char path[1024]; /* the final name */
    char tmp[1040];  /* the temporary name while writing */
    /* Chunked datasets get HDF5's Fletcher32 checksum filter (verified on every read) unless
     * this is set: filtered chunks are reallocated when written, so files whose rows are
     * written incrementally and must survive a kill (results) keep their own row checksums. */
    int no_checksums;
} sn_h5file;

/* Create `path`'s temporary file "<path>.tmp" for writing. An existing `path` is refused
 * (SN_EINVAL) unless `force`. The status is agreed across ranks. */
sn_status sn_h5_create(sn_h5file *f, const char *path, int force, MPI_Comm comm);
/* sn_h5_create with flags. SN_H5_META_CHECKSUMS: the HDF5 1.8+ file format, whose superblock,
 * object headers (hence every attribute) and indexes carry checksums verified on reading, so a
 * flipped bit in metadata is refused too (readable by HDF5 1.8 and later). */
#define SN_H5_META_CHECKSUMS 1
sn_status sn_h5_create_ex(sn_h5file *f, const char *path, int force, MPI_Comm comm, int flags);
/* Finish a file from sn_h5_create: agree on `local` across ranks; on success close the file and
 * rename it to its final name (rank 0), else close and remove the temporary file. Returns the
 * agreed status; f is closed in both cases. */
sn_status sn_h5_finish(sn_h5file *f, sn_status local);
/* Open an existing file read-only. A missing, foreign or damaged file is SN_EIO/SN_EFORMAT. */
sn_status sn_h5_open(sn_h5file *f, const char *path, MPI_Comm comm);
/* Open an existing file read-only on this process alone (default POSIX driver, no MPI needed):
 * for readers that every rank runs independently and for programs that never start MPI.
 * f->comm is MPI_COMM_NULL. */
sn_status sn_h5_open_local(sn_h5file *f, const char *path);
/* Reopen the temporary file "<path>.tmp" of an interrupted sn_h5_create for writing (MPI-IO on
 * comm), to continue filling it; finish it with sn_h5_finish as if it had just been created.
 * SN_EIO when there is no such file, SN_EFORMAT when it is damaged. Agreed across ranks. */
sn_status sn_h5_resume(sn_h5file *f, const char *path, MPI_Comm comm);
/* Close a file being written but keep its temporary file (what it holds stays on disk for a
 * later sn_h5_resume). Collective. */
void sn_h5_suspend(sn_h5file *f);
/* Flush everything written so far to the file (collective). */
sn_status sn_h5_flush(sn_h5file *f);
/* Close; a file still being written is abandoned (temporary removed). Safe on a closed file. */
void sn_h5_close(sn_h5file *f);

/* 1 if the object path exists (every intermediate group too), 0 if not. */
int sn_h5_exists(sn_h5file *f, const char *objpath);
/* 1 if the object at `where` exists and carries attribute `name`, 0 if not; sets no error, so an
 * optional attribute is looked up with it before the sn_h5_attr_get_* call. */
int sn_h5_attr_exists(sn_h5file *f, const char *where, const char *name);
/* The same, telling an attribute that cannot be looked up (its object header failed its metadata
 * checksum: damaged) from an absent one: 1 present, 0 absent, -1 unreadable. Sets no error. */
int sn_h5_attr_probe(sn_h5file *f, const char *where, const char *name);
sn_status sn_h5_group_create(sn_h5file *f, const char *path);

/* Attributes on the object at `where` ("/" for the file). Values must be equal on all ranks. */
sn_status sn_h5_attr_set_str(sn_h5file *f, const char *where, const char *name, const char *value);
sn_status sn_h5_attr_set_int(sn_h5file *f, const char *where, const char *name, int64_t value);
sn_status sn_h5_attr_set_double(sn_h5file *f, const char *where, const char *name, double value);
/* Reading (not collective); *value from malloc, caller frees. Missing attribute: SN_EFORMAT. */
sn_status sn_h5_attr_get_str(sn_h5file *f, const char *where, const char *name, char **value);
sn_status sn_h5_attr_get_int(sn_h5file *f, const char *where, const char *name, int64_t *value);
sn_status sn_h5_attr_get_double(sn_h5file *f, const char *where, const char *name, double *value);
/* Optional attributes: 1 with *value when the attribute exists and reads as that type; 0 when
 * it is absent, of another type or unreadable (*value: NULL for strings, untouched otherwise).
 * They record no error (sernet/err_mute.h), so nothing needs sn_err_clear afterwards. */
int sn_h5_attr_opt_str(sn_h5file *f, const char *where, const char *name, char **value);
int sn_h5_attr_opt_int(sn_h5file *f, const char *where, const char *name, int64_t *value);
int sn_h5_attr_opt_double(sn_h5file *f, const char *where, const char *name, double *value);
/* Read every attribute of the object `where` (values discarded): SN_EFORMAT naming the file, the
 * object and the first unreadable attribute, e.g. after a failed metadata checksum in a file
 * written with SN_H5_META_CHECKSUMS. Not collective. */
sn_status sn_h5_verify_attrs(sn_h5file *f, const char *where);

/* Provenance attributes on "/": "config" (sn_config_to_ini of cfg, if cfg) and "created_by"
 * (sn_version_oneline). No time stamp, and object time tracking is off, so the same input gives
 * the same bytes. */
sn_status sn_h5_provenance(sn_h5file *f, const sn_config *cfg);

/* Create a dataset of `ndims` dimensions (chunked with `chunk` if not NULL, else contiguous). */
sn_status sn_h5_dataset_create(sn_h5file *f, const char *path, hid_t type, int ndims,
                               const hsize_t *dims, const hsize_t *chunk, hid_t *dset);
/* Open a dataset and check its rank; dims (ndims entries) receive its shape. Not collective
 * for reading. */
sn_status sn_h5_dataset_open(sn_h5file *f, const char *path, int ndims, hsize_t *dims, hid_t *dset);

/* Rows [row0, row0 + nrows) along dimension 0 of `dset` (`name` for messages). The write is
 * collective: every rank calls it, nrows may be 0. Reads are independent (any rank, any time). */
sn_status sn_h5_write_rows(sn_h5file *f, hid_t dset, const char *name, hid_t memtype,
                           int64_t row0, int64_t nrows, const void *buf);
/* Write n rows given by strictly increasing indices (rows[i] from buf row i) in one
 * collective call: every rank calls it, n may be 0. */
sn_status sn_h5_write_rowset(sn_h5file *f, hid_t dset, const char *name, hid_t memtype,
                             const int64_t *rows, int64_t n, const void *buf);
sn_status sn_h5_read_rows(sn_h5file *f, hid_t dset, const char *name, hid_t memtype,
                          int64_t row0, int64_t nrows, void *buf);

/* A 1-D dataset of fixed-length strings as NUL-terminated copies (*out: count entries, free
 * with sn_h5_free_names); want >= 0 requires exactly that many entries. Not collective. */
sn_status sn_h5_read_names(sn_h5file *f, const char *path, int64_t want, char ***out);
void sn_h5_free_names(char **names, int64_t n);
/* Read a whole floating-point dataset of exactly numel elements (any shape) into buf; a missing
 * dataset, another type class or element count is SN_EFORMAT naming file and dataset. Not
 * collective. */
sn_status sn_h5_read_floats(sn_h5file *f, const char *path, size_t numel, float *buf);
/* Fixed-length string type of `len` bytes (NUL padded); close with H5Tclose. */
hid_t sn_h5_string_type(size_t len);

/* 1 after a file could not be closed (disk full during the final flush): HDF5's clean-up at
 * MPI_Finalize would crash on it, so the program must exit without MPI_Finalize. */
int sn_h5_poisoned(void);
/* The most specific message on the HDF5 error stack ("" if none), then clears it. */
const char *sn_h5_detail(void);

#endif
