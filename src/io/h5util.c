/* Parallel HDF5 helpers (see src/include/sernet/h5util.h). HDF5's own error printing is switched off;
 * the most specific message of its error stack is appended to ours instead. */
#include "sernet/h5util.h"
#include "sernet/err_mute.h"
#include "sernet/fsutil.h"

#include "sernet/dist.h"
#include "sernet/version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Thread_local char h5_detail_buf[512];

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)data;
    if (n == 0 && e && e->desc)
        snprintf(h5_detail_buf, sizeof h5_detail_buf, "%s", e->desc);
    return 0;
}

const char *sn_h5_detail(void)
{
    h5_detail_buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, NULL);
    H5Eclear2(H5E_DEFAULT);
    if (!h5_detail_buf[0])
        snprintf(h5_detail_buf, sizeof h5_detail_buf, "HDF5 call failed");
    return h5_detail_buf;
}

static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static const char *shown(const sn_h5file *f) { return f->path; }

hid_t sn_h5_string_type(size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return t;
    if (H5Tset_size(t, len ? len : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

static hid_t mpio_fapl(MPI_Comm comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return fapl;
    if (H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
    return fapl;
}

static void init(sn_h5file *f, const char *path, MPI_Comm comm)
{
    memset(f, 0, sizeof *f);
    f->id = H5I_INVALID_HID;
    f->comm = comm;
    snprintf(f->path, sizeof f->path, "%s", path);
    /* the name every rank and a resuming run agree on; f->tmp has room for f->path + ".tmp" */
    sn_status st = sn_tmp_name(f->path, SN_TMP_SHARED, f->tmp, sizeof f->tmp);
    SN_ASSERT(st == SN_OK);
}

static sn_status create_precheck(const sn_h5file *f, int force)
{
    sn_status status = SN_OK;
    if (strlen(f->path) >= sizeof f->path - 8)
        SN_FAIL(SN_EINVAL, "output path too long: %s", f->path);
    if (sn_dist_rank(f->comm) == 0) {
        if (access(f->path, F_OK) == 0 && !force)
            SN_FAIL(SN_EINVAL, "%s: output file exists (use --force to replace it)", f->path);
        if (access(f->tmp, F_OK) == 0 && remove(f->tmp) != 0)
            SN_FAIL(SN_EIO, "%s: cannot remove the stale temporary file: %s", f->tmp, strerror(errno));
    }
done:
    return status;
}

sn_status sn_h5_create(sn_h5file *f, const char *path, int force, MPI_Comm comm)
{
    return sn_h5_create_ex(f, path, force, comm, 0);
}

sn_status sn_h5_create_ex(sn_h5file *f, const char *path, int force, MPI_Comm comm, int flags)
{
    sn_status status = SN_OK;
    hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID;
    quiet();
    init(f, path, comm);
    status = sn_dist_agree(create_precheck(f, force), comm);
    if (status != SN_OK)
        return status;
    fapl = mpio_fapl(comm);
    fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fapl < 0 || fcpl < 0)
        status = SN_ERR(SN_EIO, "%s: cannot set up MPI-IO file access: %s", path, sn_h5_detail());
    else if ((flags & SN_H5_META_CHECKSUMS) &&
             H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0)
        status = SN_ERR(SN_EIO, "%s: cannot select the checksummed file format: %s", path,
                        sn_h5_detail());
    else if ((f->id = H5Fcreate(f->tmp, H5F_ACC_TRUNC, fcpl, fapl)) < 0)
        status = SN_ERR(SN_EIO, "%s: cannot create: %s", f->tmp, sn_h5_detail());
    if (fapl >= 0)
        H5Pclose(fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    status = sn_dist_agree(status, comm);
    if (status != SN_OK) {
        if (f->id >= 0)
            H5Fclose(f->id);
        f->id = H5I_INVALID_HID;
        if (sn_dist_rank(comm) == 0)
            remove(f->tmp);
        return status;
    }
    f->writing = 1;
    return SN_OK;
}

/* A failed H5Fclose (its final metadata flush hit a full disk or a quota) leaves HDF5 with a
 * half-closed file that crashes the library's own clean-up inside MPI_Finalize; the program
 * then ends without that clean-up (sn_h5_poisoned, src/cli/main.c). */
static int poisoned;

int sn_h5_poisoned(void) { return poisoned; }

static herr_t close_file(sn_h5file *f)
{
    herr_t r = H5Fclose(f->id);
    if (r < 0)
        poisoned = 1;
    return r;
}

sn_status sn_h5_finish(sn_h5file *f, sn_status local)
{
    sn_status status = sn_dist_agree(local, f->comm);
    int rank = sn_dist_rank(f->comm);
    if (f->id >= 0) {
        if (close_file(f) < 0 && status == SN_OK)
            status = SN_ERR(SN_EIO, "%s: closing failed (disk full?): %s", f->tmp, sn_h5_detail());
        f->id = H5I_INVALID_HID;
    }
    status = sn_dist_agree(status, f->comm);
    if (rank == 0 && f->writing) {
        if (status == SN_OK) {
            status = sn_rename_into_place(f->tmp, f->path);
        }
        if (status != SN_OK)
            remove(f->tmp);
    }
    f->writing = 0;
    return sn_dist_agree(status, f->comm);
}

sn_status sn_h5_open(sn_h5file *f, const char *path, MPI_Comm comm)
{
    sn_status status = SN_OK;
    hid_t fapl = H5I_INVALID_HID;
    quiet();
    init(f, path, comm);
    if (access(path, R_OK) != 0)
        SN_FAIL(SN_EIO, "%s: cannot open: %s", path, strerror(errno));
    fapl = mpio_fapl(comm);
    if (fapl < 0)
        SN_FAIL(SN_EIO, "%s: cannot set up MPI-IO file access: %s", path, sn_h5_detail());
    f->id = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f->id < 0)
        SN_FAIL(SN_EFORMAT, "%s: not an HDF5 file, or damaged/truncated (%s)", path, sn_h5_detail());
done:
    if (fapl >= 0)
        H5Pclose(fapl);
    status = sn_dist_agree(status, comm);
    if (status != SN_OK)
        sn_h5_close(f);
    return status;
}

sn_status sn_h5_open_local(sn_h5file *f, const char *path)
{
    sn_status status = SN_OK;
    quiet();
    init(f, path, MPI_COMM_NULL);
    if (access(path, R_OK) != 0)
        SN_FAIL(SN_EIO, "%s: cannot open: %s", path, strerror(errno));
    f->id = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->id < 0)
        SN_FAIL(SN_EFORMAT, "%s: not an HDF5 file, or damaged/truncated (%s)", path, sn_h5_detail());
done:
    return status;
}

sn_status sn_h5_resume(sn_h5file *f, const char *path, MPI_Comm comm)
{
    sn_status status = SN_OK;
    hid_t fapl = H5I_INVALID_HID;
    quiet();
    init(f, path, comm);
    if (access(f->tmp, R_OK | W_OK) != 0)
        SN_FAIL(SN_EIO, "%s: no interrupted file to resume: %s", f->tmp, strerror(errno));
    if ((fapl = mpio_fapl(comm)) < 0)
        SN_FAIL(SN_EIO, "%s: cannot set up MPI-IO file access: %s", path, sn_h5_detail());
    f->id = H5Fopen(f->tmp, H5F_ACC_RDWR, fapl);
    if (f->id < 0)
        SN_FAIL(SN_EFORMAT, "%s: not an HDF5 file, or damaged/truncated (%s)", f->tmp, sn_h5_detail());
done:
    if (fapl >= 0)
        H5Pclose(fapl);
    status = sn_dist_agree(status, comm);
    if (status != SN_OK) {
        if (f->id >= 0)
            H5Fclose(f->id);
        f->id = H5I_INVALID_HID;
        return status;
    }
    f->writing = 1;
    return SN_OK;
}

void sn_h5_suspend(sn_h5file *f)
{
    f->writing = 0;
    sn_h5_close(f);
}

sn_status sn_h5_flush(sn_h5file *f)
{
    if (H5Fflush(f->id, H5F_SCOPE_GLOBAL) < 0)
        return SN_ERR(SN_EIO, "%s: flushing to disk failed: %s", f->writing ? f->tmp : f->path,
                      sn_h5_detail());
    return SN_OK;
}

void sn_h5_close(sn_h5file *f)
{
    if (!f)
        return;
    if (f->id >= 0)
        close_file(f);
    f->id = H5I_INVALID_HID;
    if (f->writing && sn_dist_rank(f->comm) == 0)
        remove(f->tmp);
    f->writing = 0;
}

int sn_h5_exists(sn_h5file *f, const char *objpath)
{
    if (strcmp(objpath, "/") == 0)
        return 1;
    /* check every prefix, since H5Lexists fails on a missing intermediate group */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", objpath);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char save = *p;
            *p = '\0';
            htri_t e = H5Lexists(f->id, buf, H5P_DEFAULT);
            if (e <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return 0;
            }
            *p = save;
            if (save == '\0')
                return 1;
        }
    }
}

int sn_h5_attr_exists(sn_h5file *f, const char *where, const char *name)
{
    if (!sn_h5_exists(f, where))
        return 0;
    htri_t e = H5Aexists_by_name(f->id, where, name, H5P_DEFAULT);
    if (e <= 0)
        H5Eclear2(H5E_DEFAULT);
    return e > 0;
}

int sn_h5_attr_probe(sn_h5file *f, const char *where, const char *name)
{
    if (!sn_h5_exists(f, where))
        return 0;
    htri_t e = H5Aexists_by_name(f->id, where, name, H5P_DEFAULT);
    if (e <= 0)
        H5Eclear2(H5E_DEFAULT);
    return e < 0 ? -1 : e > 0;
}

sn_status sn_h5_group_create(sn_h5file *f, const char *path)
{
    sn_status status = SN_OK;
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), g = H5I_INVALID_HID;
    if (gcpl < 0 || H5Pset_obj_track_times(gcpl, 0) < 0)
        SN_FAIL(SN_EIO, "%s: group properties for %s: %s", shown(f), path, sn_h5_detail());
    g = H5Gcreate2(f->id, path, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    if (g < 0)
        SN_FAIL(SN_EIO, "%s: cannot create group %s: %s", shown(f), path, sn_h5_detail());
done:
    if (g >= 0)
        H5Gclose(g);
    if (gcpl >= 0)
        H5Pclose(gcpl);
    return status;
}

static sn_status attr_write(sn_h5file *f, const char *where, const char *name, hid_t type,
                            const void *value)
{
    sn_status status = SN_OK;
    hid_t space = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    if (space < 0)
        SN_FAIL(SN_EIO, "%s: attribute %s:%s: %s", shown(f), where, name, sn_h5_detail());
    htri_t ex = H5Aexists_by_name(f->id, where, name, H5P_DEFAULT);
    if (ex < 0)
        SN_FAIL(SN_EIO, "%s: object %s for attribute %s: %s", shown(f), where, name, sn_h5_detail());
    if (ex > 0 && H5Adelete_by_name(f->id, where, name, H5P_DEFAULT) < 0)
        SN_FAIL(SN_EIO, "%s: cannot replace attribute %s:%s: %s", shown(f), where, name, sn_h5_detail());
    a = H5Acreate_by_name(f->id, where, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, type, value) < 0)
        SN_FAIL(SN_EIO, "%s: cannot write attribute %s:%s: %s", shown(f), where, name, sn_h5_detail());
done:
    if (a >= 0)
        H5Aclose(a);
    if (space >= 0)
        H5Sclose(space);
    return status;
}

sn_status sn_h5_attr_set_str(sn_h5file *f, const char *where, const char *name, const char *value)
{
    hid_t t = sn_h5_string_type(strlen(value) + 1);
    if (t < 0)
        return SN_ERR(SN_EIO, "%s: string type for %s:%s: %s", shown(f), where, name, sn_h5_detail());
    sn_status st = attr_write(f, where, name, t, value);
    H5Tclose(t);
    return st;
}

sn_status sn_h5_attr_set_int(sn_h5file *f, const char *where, const char *name, int64_t value)
{
    return attr_write(f, where, name, H5T_NATIVE_INT64, &value);
}

sn_status sn_h5_attr_set_double(sn_h5file *f, const char *where, const char *name, double value)
{
    return attr_write(f, where, name, H5T_NATIVE_DOUBLE, &value);
}

static sn_status attr_open(sn_h5file *f, const char *where, const char *name, hid_t *a)
{
    htri_t ex = sn_h5_exists(f, where) ? H5Aexists_by_name(f->id, where, name, H5P_DEFAULT) : 0;
    if (ex < 0) /* not absent: its storage could not be read (a failed metadata checksum) */
        return SN_ERR(SN_EFORMAT, "%s: cannot look up attribute %s:%s (damaged file?): %s", shown(f),
                      where, name, sn_h5_detail());
    if (ex == 0) {
        H5Eclear2(H5E_DEFAULT);
        return SN_ERR(SN_EFORMAT, "%s: attribute '%s' missing on %s", shown(f), name, where);
    }
    *a = H5Aopen_by_name(f->id, where, name, H5P_DEFAULT, H5P_DEFAULT);
    if (*a < 0)
        return SN_ERR(SN_EFORMAT, "%s: cannot open attribute %s:%s: %s", shown(f), where, name,
                      sn_h5_detail());
    return SN_OK;
}

sn_status sn_h5_attr_get_str(sn_h5file *f, const char *where, const char *name, char **value)
{
    sn_status status = SN_OK;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, mt = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    char *buf = NULL;
    *value = NULL;
    SN_TRY(attr_open(f, where, name, &a));
    ft = H5Aget_type(a);
    sp = H5Aget_space(a);
    /* one element only: H5Aread writes every element, the buffer below holds one */
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) != 0 || sp < 0 ||
        H5Sget_simple_extent_npoints(sp) != 1)
        SN_FAIL(SN_EFORMAT, "%s: attribute %s:%s is not a single fixed-length string", shown(f),
                where, name);
    size_t n = H5Tget_size(ft);
    mt = sn_h5_string_type(n + 1);
    buf = calloc(n + 2, 1);
    if (!buf || mt < 0)
        SN_FAIL(SN_ENOMEM, "%s: attribute %s:%s of %zu bytes", shown(f), where, name, n);
    if (H5Aread(a, mt, buf) < 0)
        SN_FAIL(SN_EIO, "%s: cannot read attribute %s:%s: %s", shown(f), where, name, sn_h5_detail());
    *value = buf;
    buf = NULL;
done:
    free(buf);
    if (sp >= 0)
        H5Sclose(sp);
    if (mt >= 0)
        H5Tclose(mt);
    if (ft >= 0)
        H5Tclose(ft);
    if (a >= 0)
        H5Aclose(a);
    return status;
}

static sn_status attr_get_num(sn_h5file *f, const char *where, const char *name, hid_t mt, void *v)
{
    sn_status status = SN_OK;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    SN_TRY(attr_open(f, where, name, &a));
    ft = H5Aget_type(a);
    sp = H5Aget_space(a);
    H5T_class_t cls = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || sp < 0 || H5Sget_simple_extent_npoints(sp) != 1)
        SN_FAIL(SN_EFORMAT, "%s: attribute %s:%s is not a single number", shown(f), where, name);
    if (H5Aread(a, mt, v) < 0)
        SN_FAIL(SN_EFORMAT, "%s: cannot read attribute %s:%s as a number: %s", shown(f), where,
                name, sn_h5_detail());
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    if (a >= 0)
        H5Aclose(a);
    return status;
}

sn_status sn_h5_attr_get_int(sn_h5file *f, const char *where, const char *name, int64_t *value)
{
    return attr_get_num(f, where, name, H5T_NATIVE_INT64, value);
}

sn_status sn_h5_attr_get_double(sn_h5file *f, const char *where, const char *name, double *value)
{
    return attr_get_num(f, where, name, H5T_NATIVE_DOUBLE, value);
}

sn_status sn_h5_provenance(sn_h5file *f, const sn_config *cfg)
{
    sn_status status = SN_OK;
    char ver[1024];
    char *ini = NULL;
    sn_version_oneline(ver, sizeof ver);
    SN_TRY(sn_h5_attr_set_str(f, "/", "created_by", ver));
    if (cfg) {
        ini = sn_config_to_ini(cfg);
        if (!ini)
            SN_FAIL(SN_ENOMEM, "%s: cannot format the configuration", shown(f));
        SN_TRY(sn_h5_attr_set_str(f, "/", "config", ini));
    }
done:
    sn_free(ini);
    return status;
}

sn_status sn_h5_dataset_create(sn_h5file *f, const char *path, hid_t type, int ndims,
                               const hsize_t *dims, const hsize_t *chunk, hid_t *dset)
{
    sn_status status = SN_OK;
    hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
    *dset = H5I_INVALID_HID;
    space = H5Screate_simple(ndims, dims, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (space < 0 || dcpl < 0 || H5Pset_obj_track_times(dcpl, 0) < 0)
        SN_FAIL(SN_EIO, "%s: dataset %s: %s", shown(f), path, sn_h5_detail());
    if (chunk) {
        if (H5Pset_chunk(dcpl, ndims, chunk) < 0)
            SN_FAIL(SN_EIO, "%s: chunking of dataset %s: %s", shown(f), path, sn_h5_detail());
        /* a checksum per chunk, verified by every read: flipped bits are reported, never used */
        if (!f->no_checksums && H5Pset_fletcher32(dcpl) < 0)
            SN_FAIL(SN_EIO, "%s: checksum filter of dataset %s: %s", shown(f), path, sn_h5_detail());
        /* parallel writes need the chunks allocated up front */
        if (H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0)
            SN_FAIL(SN_EIO, "%s: allocation of dataset %s: %s", shown(f), path, sn_h5_detail());
    }
    if (H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC) < 0)
        SN_FAIL(SN_EIO, "%s: fill of dataset %s: %s", shown(f), path, sn_h5_detail());
    *dset = H5Dcreate2(f->id, path, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (*dset < 0)
        SN_FAIL(SN_EIO, "%s: cannot create dataset %s: %s", shown(f), path, sn_h5_detail());
done:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return status;
}

sn_status sn_h5_dataset_open(sn_h5file *f, const char *path, int ndims, hsize_t *dims, hid_t *dset)
{
    sn_status status = SN_OK;
    hid_t space = H5I_INVALID_HID;
    *dset = H5I_INVALID_HID;
    if (!sn_h5_exists(f, path))
        SN_FAIL(SN_EFORMAT, "%s: dataset %s missing", shown(f), path);
    *dset = H5Dopen2(f->id, path, H5P_DEFAULT);
    if (*dset < 0)
        SN_FAIL(SN_EFORMAT, "%s: cannot open dataset %s: %s", shown(f), path, sn_h5_detail());
    space = H5Dget_space(*dset);
    int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (nd != ndims)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s has %d dimensions, expected %d", shown(f), path, nd, ndims);
    if (H5Sget_simple_extent_dims(space, dims, NULL) < 0)
        SN_FAIL(SN_EFORMAT, "%s: shape of dataset %s: %s", shown(f), path, sn_h5_detail());
done:
    if (space >= 0)
        H5Sclose(space);
    if (status != SN_OK && *dset >= 0) {
        H5Dclose(*dset);
        *dset = H5I_INVALID_HID;
    }
    return status;
}

/* File and memory spaces for rows [row0, row0+nrows), or empty selections when nrows == 0. */
static sn_status row_spaces(sn_h5file *f, hid_t dset, const char *name, int64_t row0,
                            int64_t nrows, hid_t *fspace, hid_t *mspace)
{
    sn_status status = SN_OK;
    hsize_t dims[8], start[8] = {0}, count[8];
    *fspace = H5Dget_space(dset);
    int nd = *fspace >= 0 ? H5Sget_simple_extent_ndims(*fspace) : -1;
    if (nd < 1 || nd > 8 || H5Sget_simple_extent_dims(*fspace, dims, NULL) < 0)
        SN_FAIL(SN_EIO, "%s: dataset %s: cannot get its shape: %s", shown(f), name, sn_h5_detail());
    if (row0 < 0 || nrows < 0 || (hsize_t)(row0 + nrows) > dims[0])
        SN_FAIL(SN_EINVAL, "%s: dataset %s: rows [%lld, %lld) outside its %llu rows", shown(f),
                name, (long long)row0, (long long)(row0 + nrows), (unsigned long long)dims[0]);
    for (int i = 0; i < nd; i++)
        count[i] = dims[i];
    start[0] = (hsize_t)row0;
    count[0] = (hsize_t)nrows;
    if (nrows == 0) {
        hsize_t one = 1;
        *mspace = H5Screate_simple(1, &one, NULL);
        if (*mspace < 0 || H5Sselect_none(*fspace) < 0 || H5Sselect_none(*mspace) < 0)
            SN_FAIL(SN_EIO, "%s: dataset %s: empty selection: %s", shown(f), name, sn_h5_detail());
    } else {
        *mspace = H5Screate_simple(nd, count, NULL);
        if (*mspace < 0 ||
            H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0)
            SN_FAIL(SN_EIO, "%s: dataset %s: hyperslab: %s", shown(f), name, sn_h5_detail());
    }
done:
    return status;
}

sn_status sn_h5_write_rows(sn_h5file *f, hid_t dset, const char *name, hid_t memtype,
                           int64_t row0, int64_t nrows, const void *buf)
{
    sn_status status = SN_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    SN_TRY(row_spaces(f, dset, name, row0, nrows, &fspace, &mspace));
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (dxpl < 0 || H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0)
        SN_FAIL(SN_EIO, "%s: dataset %s: transfer properties: %s", shown(f), name, sn_h5_detail());
    if (H5Dwrite(dset, memtype, mspace, fspace, dxpl, buf) < 0)
        SN_FAIL(SN_EIO, "%s: writing rows [%lld, %lld) of dataset %s failed: %s", shown(f),
                (long long)row0, (long long)(row0 + nrows), name, sn_h5_detail());
done:
    if (dxpl >= 0)
        H5Pclose(dxpl);
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    return status;
}

sn_status sn_h5_write_rowset(sn_h5file *f, hid_t dset, const char *name, hid_t memtype,
                             const int64_t *rows, int64_t n, const void *buf)
{
    sn_status status = SN_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    hsize_t dims[8], start[8] = {0}, count[8];
    /* shape and an empty selection from row_spaces, then the union of the rows */
    SN_TRY(row_spaces(f, dset, name, 0, 0, &fspace, &mspace));
    if (n > 0) {
        int nd = H5Sget_simple_extent_ndims(fspace);
        if (nd < 1 || H5Sget_simple_extent_dims(fspace, dims, NULL) < 0)
            SN_FAIL(SN_EIO, "%s: dataset %s: cannot get its shape: %s", shown(f), name, sn_h5_detail());
        for (int i = 0; i < nd; i++)
            count[i] = dims[i];
        count[0] = 1;
        for (int64_t i = 0; i < n; i++) {
            if (rows[i] < 0 || (hsize_t)rows[i] >= dims[0])
                SN_FAIL(SN_EINVAL, "%s: dataset %s: row %lld outside its %llu rows", shown(f), name,
                        (long long)rows[i], (unsigned long long)dims[0]);
            start[0] = (hsize_t)rows[i];
            if (H5Sselect_hyperslab(fspace, i == 0 ? H5S_SELECT_SET : H5S_SELECT_OR, start, NULL,
                                    count, NULL) < 0)
                SN_FAIL(SN_EIO, "%s: dataset %s: row selection: %s", shown(f), name, sn_h5_detail());
        }
        /* HDF5 maps a file selection in increasing row order: rows must come sorted */
        for (int64_t i = 1; i < n; i++)
            SN_ASSERT(rows[i] > rows[i - 1]);
        H5Sclose(mspace);
        count[0] = (hsize_t)n;
        if ((mspace = H5Screate_simple(nd, count, NULL)) < 0)
            SN_FAIL(SN_EIO, "%s: dataset %s: memory space: %s", shown(f), name, sn_h5_detail());
    }
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (dxpl < 0 || H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0)
        SN_FAIL(SN_EIO, "%s: dataset %s: transfer properties: %s", shown(f), name, sn_h5_detail());
    if (H5Dwrite(dset, memtype, mspace, fspace, dxpl, buf) < 0)
        SN_FAIL(SN_EIO, "%s: writing %lld rows of dataset %s failed: %s", shown(f), (long long)n,
                name, sn_h5_detail());
done:
    if (dxpl >= 0)
        H5Pclose(dxpl);
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    return status;
}

sn_status sn_h5_read_rows(sn_h5file *f, hid_t dset, const char *name, hid_t memtype,
                          int64_t row0, int64_t nrows, void *buf)
{
    sn_status status = SN_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    if (nrows == 0)
        return SN_OK;
    SN_TRY(row_spaces(f, dset, name, row0, nrows, &fspace, &mspace));
    if (H5Dread(dset, memtype, mspace, fspace, H5P_DEFAULT, buf) < 0)
        SN_FAIL(SN_EFORMAT, "%s: reading rows [%lld, %lld) of dataset %s failed: %s", shown(f),
                (long long)row0, (long long)(row0 + nrows), name, sn_h5_detail());
done:
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    return status;
}

void sn_h5_free_names(char **names, int64_t n)
{
    if (!names)
        return;
    for (int64_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

sn_status sn_h5_read_names(sn_h5file *f, const char *path, int64_t want, char ***out)
{
    sn_status status = SN_OK;
    hid_t d = H5I_INVALID_HID, ft = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    char *buf = NULL;
    char **names = NULL;
    hsize_t dims[1];
    *out = NULL;
    SN_TRY(sn_h5_dataset_open(f, path, 1, dims, &d));
    if (want >= 0 && (int64_t)dims[0] != want)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s has %llu entries, expected %lld", f->path, path,
                (unsigned long long)dims[0], (long long)want);
    ft = H5Dget_type(d);
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) != 0)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s is not fixed-length strings", f->path, path);
    size_t len = H5Tget_size(ft);
    mt = sn_h5_string_type(len);
    buf = calloc(dims[0] ? dims[0] : 1, len);
    names = calloc(dims[0] ? dims[0] : 1, sizeof *names);
    if (!buf || !names || mt < 0)
        SN_FAIL(SN_ENOMEM, "%s: reading %s", f->path, path);
    SN_TRY(sn_h5_read_rows(f, d, path, mt, 0, (int64_t)dims[0], buf));
    for (hsize_t i = 0; i < dims[0]; i++) {
        names[i] = calloc(len + 1, 1);
        if (!names[i])
            SN_FAIL(SN_ENOMEM, "%s: reading %s", f->path, path);
        memcpy(names[i], buf + i * len, len);
    }
    *out = names;
    names = NULL;
done:
    sn_h5_free_names(names, (int64_t)(dims[0]));
    free(buf);
    if (mt >= 0)
        H5Tclose(mt);
    if (ft >= 0)
        H5Tclose(ft);
    if (d >= 0)
        H5Dclose(d);
    return status;
}

sn_status sn_h5_read_floats(sn_h5file *f, const char *path, size_t numel, float *buf)
{
    sn_status status = SN_OK;
    hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID, type = H5I_INVALID_HID;
    hsize_t dims[8];
    if (!sn_h5_exists(f, path))
        SN_FAIL(SN_EFORMAT, "%s: no dataset %s (another architecture or version?)", shown(f), path);
    if ((d = H5Dopen2(f->id, path, H5P_DEFAULT)) < 0 || (sp = H5Dget_space(d)) < 0 ||
        (type = H5Dget_type(d)) < 0)
        SN_FAIL(SN_EFORMAT, "%s: cannot open dataset %s: %s", shown(f), path, sn_h5_detail());
    if (H5Tget_class(type) != H5T_FLOAT)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s is not floating point", shown(f), path);
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd < 1 || nd > 8 || H5Sget_simple_extent_dims(sp, dims, NULL) != nd)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s: bad rank", shown(f), path);
    size_t total = 1;
    for (int i = 0; i < nd; i++)
        total *= (size_t)dims[i];
    if (total != numel)
        SN_FAIL(SN_EFORMAT, "%s: dataset %s has %zu elements, expected %zu", shown(f), path, total,
                numel);
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        SN_FAIL(SN_EFORMAT, "%s: reading %s failed: %s", shown(f), path, sn_h5_detail());
done:
    if (type >= 0)
        H5Tclose(type);
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return status;
}

int sn_h5_attr_opt_str(sn_h5file *f, const char *where, const char *name, char **value)
{
    *value = NULL;
    if (!sn_h5_attr_exists(f, where, name))
        return 0;
    sn_err_mute();
    sn_status st = sn_h5_attr_get_str(f, where, name, value);
    sn_err_unmute();
    return st == SN_OK;
}

int sn_h5_attr_opt_int(sn_h5file *f, const char *where, const char *name, int64_t *value)
{
    int64_t v = 0;
    if (!sn_h5_attr_exists(f, where, name))
        return 0;
    sn_err_mute();
    sn_status st = sn_h5_attr_get_int(f, where, name, &v);
    sn_err_unmute();
    if (st == SN_OK)
        *value = v;
    return st == SN_OK;
}

int sn_h5_attr_opt_double(sn_h5file *f, const char *where, const char *name, double *value)
{
    double v = 0;
    if (!sn_h5_attr_exists(f, where, name))
        return 0;
    sn_err_mute();
    sn_status st = sn_h5_attr_get_double(f, where, name, &v);
    sn_err_unmute();
    if (st == SN_OK)
        *value = v;
    return st == SN_OK;
}

static herr_t verify_attr(hid_t obj, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    char *failed = data;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5I_INVALID_HID;
    herr_t r = -1;
    if (a >= 0 && (t = H5Aget_type(a)) >= 0) {
        H5T_class_t c = H5Tget_class(t);
        if (c == H5T_VLEN || (c == H5T_STRING && H5Tis_variable_str(t) > 0)) {
            r = 0; /* sernet writes none; the open above read its header */
        } else {
            hsize_t n = H5Aget_storage_size(a);
            void *buf = malloc(n ? n : 1);
            r = buf && H5Aread(a, t, buf) >= 0 ? 0 : -1;
            free(buf);
        }
    }
    if (r < 0) /* before the next HDF5 call, which clears the error stack */
        snprintf(failed, 768, "%s: %s", name, sn_h5_detail());
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return r;
}

sn_status sn_h5_verify_attrs(sn_h5file *f, const char *where)
{
    char failed[768] = "";
    hsize_t idx = 0;
    hid_t o = H5Oopen(f->id, where, H5P_DEFAULT);
    if (o < 0)
        return SN_ERR(SN_EFORMAT, "%s: cannot open %s (damaged file?): %s", shown(f), where,
                      sn_h5_detail());
    herr_t r = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, verify_attr, failed);
    if (r < 0 && !failed[0]) /* the iteration itself failed */
        snprintf(failed, sizeof failed, "%s", sn_h5_detail());
    H5Oclose(o);
    if (r < 0)
        return SN_ERR(SN_EFORMAT, "%s: the attributes of %s cannot be read (damaged file?): %s",
                      shown(f), where, failed);
    return SN_OK;
}
