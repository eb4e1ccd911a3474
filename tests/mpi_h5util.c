/* HDF5 helpers under MPI (1, 2, 3 ranks): create under a temporary name and rename, attributes of
 * every kind, collective row writes with uneven and empty shards read back by every rank, a
 * failure on one rank abandoning the file everywhere, and errors that name file and object. */
#include "sernet/dist.h"
#include "sernet/h5util.h"
#include "sn_test.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];
static int rank, nranks;

static void check_write_read(void)
{
    char path[400], tmpname[420];
    snprintf(path, sizeof path, "%s/a.h5", tmp);
    snprintf(tmpname, sizeof tmpname, "%s.tmp", path);
    sn_h5file f;
    sn_config cfg;
    sn_config_defaults(&cfg);
    EXPECT(sn_h5_create(&f, path, 0, MPI_COMM_WORLD) == SN_OK);
    EXPECT(access(tmpname, F_OK) == 0 && access(path, F_OK) != 0);
    EXPECT(sn_h5_group_create(&f, "/g") == SN_OK);
    EXPECT(sn_h5_attr_set_str(&f, "/", "format", "test-kind") == SN_OK);
    EXPECT(sn_h5_attr_set_int(&f, "/g", "count", -1234567890123LL) == SN_OK);
    EXPECT(sn_h5_attr_set_double(&f, "/g", "ratio", 0.1) == SN_OK);
    EXPECT(sn_h5_attr_set_int(&f, "/g", "count", 7) == SN_OK); /* replace */
    EXPECT(sn_h5_provenance(&f, &cfg) == SN_OK);
    /* 7 rows of 3 int32 values: shards 7/1, 4+3, 3+2+2; then 2 rows: an empty rank at 3 */
    const int64_t sizes[2] = {7, 2};
    for (int d = 0; d < 2; d++) {
        hsize_t dims[2] = {(hsize_t)sizes[d], 3}, chunk[2] = {1, 3};
        hid_t ds;
        char name[32];
        snprintf(name, sizeof name, "/g/rows%d", d);
        EXPECT(sn_h5_dataset_create(&f, name, H5T_STD_I32LE, 2, dims, d ? NULL : chunk, &ds) == SN_OK);
        int64_t b, c;
        sn_dist_shard(sizes[d], rank, nranks, &b, &c);
        int32_t buf[21];
        for (int64_t i = 0; i < c; i++)
            for (int k = 0; k < 3; k++)
                buf[3 * i + k] = (int32_t)(100 * (b + i) + k);
        EXPECT(sn_h5_write_rows(&f, ds, name, H5T_NATIVE_INT32, b, c, buf) == SN_OK);
        /* rows beyond the end are refused with the dataset named */
        sn_err_clear();
        EXPECT(sn_h5_write_rows(&f, ds, name, H5T_NATIVE_INT32, sizes[d], 1, buf) == SN_EINVAL);
        EXPECT(strstr(sn_err_msg(), name) != NULL);
        sn_err_clear();
        H5Dclose(ds);
    }
    EXPECT(sn_h5_finish(&f, SN_OK) == SN_OK);
    MPI_Barrier(MPI_COMM_WORLD);
    EXPECT(access(path, F_OK) == 0 && access(tmpname, F_OK) != 0);

    EXPECT(sn_h5_open(&f, path, MPI_COMM_WORLD) == SN_OK);
    char *s = NULL;
    int64_t v = 0;
    double x = 0;
    EXPECT(sn_h5_attr_get_str(&f, "/", "format", &s) == SN_OK && s && strcmp(s, "test-kind") == 0);
    free(s);
    EXPECT(sn_h5_attr_get_str(&f, "/", "config", &s) == SN_OK && s && strstr(s, "image_size"));
    free(s);
    EXPECT(sn_h5_attr_get_str(&f, "/", "created_by", &s) == SN_OK && s && strstr(s, "sernet"));
    free(s);
    EXPECT(sn_h5_attr_get_int(&f, "/g", "count", &v) == SN_OK && v == 7);
    EXPECT(sn_h5_attr_get_double(&f, "/g", "ratio", &x) == SN_OK && x == 0.1);
    EXPECT(sn_h5_attr_get_int(&f, "/g", "ratio", &v) == SN_OK && v == 0); /* converted */
    EXPECT(sn_h5_attr_get_int(&f, "/g", "nothing", &v) == SN_EFORMAT);
    EXPECT(strstr(sn_err_msg(), "a.h5") && strstr(sn_err_msg(), "nothing"));
    sn_err_clear();
    EXPECT(sn_h5_attr_get_int(&f, "/", "format", &v) == SN_EFORMAT); /* a string, not a number */
    sn_err_clear();
    EXPECT(sn_h5_attr_get_str(&f, "/nowhere", "x", &s) == SN_EFORMAT);
    sn_err_clear();
    EXPECT(sn_h5_exists(&f, "/g/rows0") && !sn_h5_exists(&f, "/g/none") && !sn_h5_exists(&f, "/x/y"));
    hsize_t dims[2];
    hid_t ds;
    EXPECT(sn_h5_dataset_open(&f, "/g/rows0", 2, dims, &ds) == SN_OK && dims[0] == 7 && dims[1] == 3);
    int32_t all[21];
    EXPECT(sn_h5_read_rows(&f, ds, "/g/rows0", H5T_NATIVE_INT32, 0, 7, all) == SN_OK);
    int bad = 0;
    for (int i = 0; i < 7; i++)
        for (int k = 0; k < 3; k++)
            bad += all[3 * i + k] != 100 * i + k;
    EXPECT_MSG(bad == 0, "rows written by %d ranks read back with %d errors", nranks, bad);
    H5Dclose(ds);
    EXPECT(sn_h5_dataset_open(&f, "/g/rows1", 3, dims, &ds) == SN_EFORMAT); /* wrong rank */
    EXPECT(strstr(sn_err_msg(), "/g/rows1") != NULL);
    sn_err_clear();
    EXPECT(sn_h5_dataset_open(&f, "/g/none", 2, dims, &ds) == SN_EFORMAT);
    EXPECT(strstr(sn_err_msg(), "/g/none") != NULL);
    sn_err_clear();
    sn_h5_close(&f);

    /* existing output refused unless forced */
    EXPECT(sn_h5_create(&f, path, 0, MPI_COMM_WORLD) == SN_EINVAL);
    EXPECT(strstr(sn_err_msg(), "exists") != NULL);
    sn_err_clear();
    EXPECT(sn_h5_create(&f, path, 1, MPI_COMM_WORLD) == SN_OK);
    /* a failure on the last rank only: every rank gets it, nothing is renamed, no temporary left */
    sn_status local = rank == nranks - 1 ? SN_ERR(SN_EIO, "simulated failure on rank %d", rank) : SN_OK;
    sn_status st = sn_h5_finish(&f, local);
    EXPECT(st == SN_EIO && strstr(sn_err_msg(), "simulated failure"));
    sn_err_clear();
    MPI_Barrier(MPI_COMM_WORLD);
    EXPECT(access(tmpname, F_OK) != 0);
    /* the old file is untouched */
    EXPECT(sn_h5_open(&f, path, MPI_COMM_WORLD) == SN_OK);
    EXPECT(sn_h5_attr_get_int(&f, "/g", "count", &v) == SN_OK && v == 7);
    sn_h5_close(&f);
    /* a place that cannot be written */
    EXPECT(sn_h5_create(&f, "/nonexistent_dir_sernet/x.h5", 0, MPI_COMM_WORLD) == SN_EIO);
    EXPECT(strstr(sn_err_msg(), "/nonexistent_dir_sernet/x.h5") != NULL);
    sn_err_clear();
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (rank == 0) {
        snprintf(tmp, sizeof tmp, "/tmp/sn_mpi_h5util_%ld", (long)getpid());
        mkdir(tmp, 0700);
    }
    MPI_Bcast(tmp, sizeof tmp, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    check_write_read();
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmp);
    }
    int failed = sn_test_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = sn_test_finish();
    MPI_Finalize();
    return any ? 1 : rc;
}
