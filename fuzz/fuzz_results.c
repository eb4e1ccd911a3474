/* Fuzz target: opening a results file for reading (sn_results_open, as `sernet eval` and
 * `sernet export` do). The generator (h5gen.c, fz_h5gen_results_write) writes a valid dataset
 * file and a results file for it whose attributes, datasets, row data, checksums and done flags
 * are perturbed from the fuzz bytes. The reader must either refuse with a status and a message,
 * or open a file whose datasets have the dataset's shape: [n_test] and [n_test, S, S(, 3)]. */
#include "fuzz_common.h"
#include "h5gen.h"

#include "sernet/dataset.h"
#include "sernet/results.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init_warm(argc, argv, LLVMFuzzerTestOneInput);
    return 0;
}

static void check_shape(sn_h5file *f, const char *name, int nd, int64_t m, int s)
{
    hsize_t dims[4];
    hid_t d = H5I_INVALID_HID;
    FZ_CHECK(sn_h5_dataset_open(f, name, nd, dims, &d) == SN_OK);
    FZ_CHECK((int64_t)dims[0] == m);
    if (nd > 1)
        FZ_CHECK(dims[1] == (hsize_t)s && dims[2] == (hsize_t)s);
    if (nd > 3)
        FZ_CHECK(dims[3] == 3);
    H5Dclose(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dpath[600], rpath[600];
    fz_h5gen_results_info info;
    sn_err_clear();
    fz_path(dpath, sizeof dpath, "data.h5");
    fz_path(rpath, sizeof rpath, "results.h5");
    if (fz_h5gen_results_write(dpath, rpath, data, size, &info) != 0)
        goto out;
    sn_dataset *ds = NULL;
    FZ_CHECK(sn_dataset_open(dpath, NULL, MPI_COMM_WORLD, &ds) == SN_OK);
    sn_h5file f;
    memset(&f, 0, sizeof f);
    sn_status st = sn_results_open(&f, rpath, ds, MPI_COMM_WORLD);
    if (st == SN_OK) {
        if (getenv("FZ_VERBOSE"))
            fprintf(stderr, "accepted\n");
        int64_t m = sn_dataset_count(ds, SN_SPLIT_TEST);
        int s = sn_dataset_image_size(ds);
        FZ_CHECK(m == info.n_test && s == info.size);
        static const char *rows1[] = {"/scores", "/neighbor", "/neighbor_distance",
                                      "/repaired_pixels", "/checksums", "/done"};
        static const char *rows3[] = {"/maps", "/seg_masks", "/repair_masks"};
        for (int i = 0; i < 6; i++)
            check_shape(&f, rows1[i], 1, m, s);
        for (int i = 0; i < 3; i++)
            check_shape(&f, rows3[i], 3, m, s);
        check_shape(&f, "/reconstructions", 4, m, s);
        sn_h5_close(&f);
    } else {
        if (getenv("FZ_VERBOSE")) /* why an input is refused (seed checks) */
            fprintf(stderr, "refused: %s\n", sn_err_msg());
        fz_refused(st);
    }
    sn_dataset_close(ds);
out:
    unlink(rpath);
    unlink(dpath);
    return 0;
}
