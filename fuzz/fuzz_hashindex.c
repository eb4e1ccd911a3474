/* Fuzz target: loading the hash index of a dataset file (sn_hashindex_load). The same generator
 * as fuzz_dataset writes the file (h5gen.c: the /<category>/train/phash dataset and its
 * attributes are perturbed like everything else); an accepted index must hold exactly one hash
 * per training image and be searchable. */
#include "fuzz_common.h"
#include "h5gen.h"

#include "sernet/dataset.h"
#include "sernet/hashindex.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init_warm(argc, argv, LLVMFuzzerTestOneInput);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    fz_h5gen_info info;
    sn_err_clear();
    fz_path(path, sizeof path, "index.h5");
    if (fz_h5gen_write(path, data, size, &info) != 0) {
        unlink(path);
        return 0;
    }
    uint64_t *h = NULL;
    int64_t n = -1;
    sn_status st = sn_hashindex_load(path, info.category_arg, MPI_COMM_WORLD, &h, &n);
    if (st == SN_OK) {
        FZ_CHECK(h != NULL && n >= 1);
        /* one hash per training image of the same file */
        sn_dataset *ds = NULL;
        FZ_CHECK(sn_dataset_open(path, info.category_arg, MPI_COMM_WORLD, &ds) == SN_OK);
        FZ_CHECK(sn_dataset_count(ds, SN_SPLIT_TRAIN) == n);
        sn_dataset_close(ds);
        int64_t idx = -1;
        int dist = -1, found = 0;
        FZ_CHECK(sn_hashindex_nearest(h, n, h[n - 1], &idx, &dist) == SN_OK);
        FZ_CHECK(dist == 0 && idx >= 0 && idx <= n - 1 && h[idx] == h[n - 1]);
        int64_t ti[3];
        int td[3];
        FZ_CHECK(sn_hashindex_topk(h, n, ~h[0], 3, ti, td, &found) == SN_OK);
        FZ_CHECK(found == (n < 3 ? n : 3));
    } else {
        FZ_CHECK(h == NULL && n == 0);
        fz_refused(st);
    }
    sn_free(h);
    unlink(path);
    return 0;
}
