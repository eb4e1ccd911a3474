/* Regression test for a heap overflow found by fuzz_dataset (docs/hardening.md): a string
 * attribute stored as an array (or with a null dataspace) where one string is expected. Before
 * the fix sn_h5_attr_get_str let H5Aread write every element into a one-element buffer. Files
 * are written with the serial HDF5 API; the reader opens them over MPI-IO (singleton MPI).
 * Also the optional readers sn_h5_attr_opt_*, which record no error (sernet/err_mute.h). */
#include "sernet/dataset.h"
#include "sernet/h5util.h"
#include "sn_test.h"

#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Singleton MPI start-up leaks in components Open MPI later unloads (see test_dataset.c). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

static char path[256];

/* A file whose root attribute `name` is a string of `len` bytes: n elements (n = 0: null
 * dataspace, n = 1: scalar), every element `value`. The other root attributes are valid. */
static void write_file(const char *name, const char *value, int n)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    size_t len = strlen(value) + 1;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = n == 0 ? H5Screate(H5S_NULL) : n == 1 ? H5Screate(H5S_SCALAR)
                                                     : H5Screate_simple(1, dims, NULL);
    char *buf = calloc((size_t)(n ? n : 1), len);
    for (int i = 0; i < n; i++)
        memcpy(buf + (size_t)i * len, value, len);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (n > 0)
        H5Awrite(a, t, buf);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    free(buf);
    if (strcmp(name, "format") != 0) {
        hid_t s1 = H5Screate(H5S_SCALAR), t1 = H5Tcopy(H5T_C_S1);
        H5Tset_size(t1, 15);
        a = H5Acreate2(f, "format", t1, s1, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, t1, "sernet-dataset");
        H5Aclose(a);
        int64_t one = 1;
        a = H5Acreate2(f, "format_version", H5T_STD_I64LE, s1, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT64, &one);
        H5Aclose(a);
        H5Tclose(t1);
        H5Sclose(s1);
    }
    H5Fclose(f);
}

/* Read root attribute `name` as a string: the status, and the value when it succeeded. */
static sn_status read_attr(const char *name, char **value)
{
    sn_h5file f;
    *value = NULL;
    sn_err_clear();
    sn_status st = sn_h5_open(&f, path, MPI_COMM_WORLD);
    if (st != SN_OK)
        return st;
    st = sn_h5_attr_get_str(&f, "/", name, value);
    sn_h5_close(&f);
    return st;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    snprintf(path, sizeof path, "/tmp/sn_attr_shapes_%d.h5", (int)getpid());
    char *v = NULL;

    /* a scalar string is read back */
    write_file("format", "sernet-dataset", 1);
    EXPECT(read_attr("format", &v) == SN_OK && v && strcmp(v, "sernet-dataset") == 0);
    free(v);

    /* an array of three strings: refused, the message names the attribute and the file */
    write_file("format", "sernet-dataset", 3);
    EXPECT(read_attr("format", &v) == SN_EFORMAT && v == NULL);
    EXPECT(strstr(sn_err_msg(), "format") && strstr(sn_err_msg(), "single") &&
           strstr(sn_err_msg(), path));
    sn_dataset *ds = NULL;
    sn_err_clear();
    EXPECT(sn_dataset_open(path, NULL, MPI_COMM_WORLD, &ds) == SN_EFORMAT && ds == NULL);
    EXPECT(strstr(sn_err_msg(), "not a sernet dataset file") != NULL);

    /* a null dataspace (no element at all): refused */
    write_file("format", "sernet-dataset", 0);
    EXPECT(read_attr("format", &v) == SN_EFORMAT && v == NULL);

    /* the category list as an array of long strings: refused by the loader, not overflowed */
    write_file("categories", "a-category-name-longer-than-a-few-bytes", 4);
    char *list = NULL;
    sn_err_clear();
    EXPECT(sn_dataset_categories(path, MPI_COMM_WORLD, &list) == SN_EFORMAT && list == NULL);
    EXPECT(strstr(sn_err_msg(), "categories") != NULL);
    sn_err_clear();
    EXPECT(sn_dataset_open(path, NULL, MPI_COMM_WORLD, &ds) == SN_EFORMAT && ds == NULL);
    free(list);

    /* optional readers (sn_h5_attr_opt_*): absent or unreadable is 0 and records no error, and
     * an earlier message survives them */
    {
        sn_h5file f;
        write_file("categories", "a", 3); /* unreadable as one string; format and version valid */
        sn_err_clear();
        EXPECT(sn_h5_open(&f, path, MPI_COMM_WORLD) == SN_OK);
        SN_ERR(SN_EINVAL, "an earlier error");
        char *o = (char *)"sentinel";
        int64_t iv = 42;
        double dv = 4.5;
        EXPECT(sn_h5_attr_opt_str(&f, "/", "categories", &o) == 0 && o == NULL);
        EXPECT(sn_h5_attr_opt_int(&f, "/", "no_such_attribute", &iv) == 0 && iv == 42);
        EXPECT(sn_h5_attr_opt_double(&f, "/no/such/group", "x", &dv) == 0 && dv == 4.5);
        EXPECT(sn_h5_attr_opt_int(&f, "/", "format", &iv) == 0 && iv == 42); /* a string */
        EXPECT_MSG(strcmp(sn_err_msg(), "an earlier error") == 0, "message now '%s'", sn_err_msg());
        sn_err_clear();
        EXPECT(sn_h5_attr_opt_int(&f, "/", "format_version", &iv) == 1 && iv == 1);
        EXPECT(sn_h5_attr_opt_double(&f, "/", "format_version", &dv) == 1 && dv == 1.0);
        EXPECT(sn_err_msg()[0] == '\0');
        sn_h5_close(&f);
        EXPECT(sn_h5_open(&f, path, MPI_COMM_WORLD) == SN_OK);
        EXPECT(sn_h5_attr_opt_str(&f, "/", "format", &o) == 1 && o && strcmp(o, "sernet-dataset") == 0);
        free(o);
        sn_h5_close(&f);
        /* the normal reader still records its error after the optional ones */
        EXPECT(sn_h5_open(&f, path, MPI_COMM_WORLD) == SN_OK);
        EXPECT(sn_h5_attr_get_int(&f, "/", "no_such_attribute", &iv) == SN_EFORMAT);
        EXPECT(strstr(sn_err_msg(), "no_such_attribute") != NULL);
        sn_err_clear();
        sn_h5_close(&f);
    }

    unlink(path);
    MPI_Finalize();
    return sn_test_finish();
}
