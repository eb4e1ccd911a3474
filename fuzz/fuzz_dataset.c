/* Fuzz target: loading dataset files. The input drives a generator (h5gen.c) that writes a
 * structurally valid HDF5 file with wrong shapes, types, attributes, counts or versions; the
 * loader opens it (sn_dataset_open over the singleton MPI_COMM_WORLD) and, when
 * it accepts the file, every accessor and every read must work: all items of both splits (pixels
 * as floats and raw, masks), and a training batch. */
#include "fuzz_common.h"
#include "h5gen.h"

#include "sernet/dataset.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init_warm(argc, argv, LLVMFuzzerTestOneInput);
    return 0;
}

static void exercise(sn_dataset *ds)
{
    const int S = sn_dataset_image_size(ds);
    FZ_CHECK(S >= 16 && S <= 8192);
    const size_t px = (size_t)S * S;
    float *img = malloc(px * 3 * sizeof(float)), *msk = malloc(px * sizeof(float));
    uint8_t *raw = malloc(px * 3);
    FZ_CHECK(img && msk && raw);
    for (int s = 0; s < 2; s++) {
        int64_t n = sn_dataset_count(ds, (sn_split)s);
        FZ_CHECK(n >= 0);
        for (int64_t i = 0; i < n; i++) {
            const char *name = sn_dataset_name(ds, (sn_split)s, i);
            FZ_CHECK(name != NULL);
            int h, w;
            sn_dataset_orig_size(ds, (sn_split)s, i, &h, &w);
            if (s == SN_SPLIT_TEST) {
                int d = sn_dataset_defect(ds, i);
                FZ_CHECK(d >= 0 && d < sn_dataset_n_defect_types(ds));
                FZ_CHECK(sn_dataset_defect_type(ds, d) != NULL);
                int l = sn_dataset_label(ds, i);
                FZ_CHECK(l == 0 || l == 1);
                (void)sn_dataset_has_mask(ds, i);
            }
            sn_status st = sn_dataset_read(ds, (sn_split)s, &i, 1, img,
                                           s == SN_SPLIT_TEST ? msk : NULL, raw);
            if (st != SN_OK) {
                fz_refused(st);
                continue;
            }
            for (size_t p = 0; p < px * 3; p++)
                FZ_CHECK(img[p] >= 0.0f && img[p] <= 1.0f);
            if (s == SN_SPLIT_TEST)
                for (size_t p = 0; p < px; p++)
                    FZ_CHECK(msk[p] == 0.0f || msk[p] == 1.0f);
        }
        /* an index outside the split is refused */
        int64_t bad = n;
        fz_refused(sn_dataset_read(ds, (sn_split)s, &bad, 1, NULL, NULL, raw));
    }
    int64_t n = sn_dataset_count(ds, SN_SPLIT_TRAIN);
    if (n > 0) {
        sn_tensor t = {0};
        int64_t idx[4];
        int offset = -1;
        sn_status st = sn_dataset_train_batch_tensor(ds, 7, 0, 0, 4, &t, idx, &offset);
        if (st == SN_OK)
            FZ_CHECK(t.n >= 0 && t.n <= 4 && offset == 0);
        else
            fz_refused(st);
        sn_tensor_free(&t);
    }
    free(img);
    free(msk);
    free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    fz_h5gen_info info;
    sn_err_clear();
    fz_path(path, sizeof path, "input.h5");
    if (fz_h5gen_write(path, data, size, &info) != 0) {
        unlink(path);
        return 0;
    }
    sn_dataset *ds = NULL;
    sn_status st = sn_dataset_open(path, info.category_arg, MPI_COMM_WORLD, &ds);
    if (st == SN_OK) {
        FZ_CHECK(ds != NULL);
        exercise(ds);
        sn_dataset_close(ds);
    } else {
        FZ_CHECK(ds == NULL);
        fz_refused(st);
    }
    char *list = NULL;
    st = sn_dataset_categories(path, MPI_COMM_WORLD, &list);
    if (st == SN_OK)
        FZ_CHECK(list != NULL);
    else
        fz_refused(st);
    free(list);
    unlink(path);
    return 0;
}
