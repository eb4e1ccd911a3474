/* The stored hash index under MPI (1, 2, 3 ranks; 7 training images, so uneven and, at 3 ranks,
 * unequal shards): build, load, compare with hashes of the same pixels computed directly;
 * refusal to overwrite without force; a missing index, an empty one and one whose count
 * disagrees with the training images all fail with a clear error on every rank. */
#include "sn_test.h"
#include "sernet/dataset.h"
#include "sernet/hashindex.h"
#include "sernet/phash.h"

#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { S = 32, NTRAIN = 7 };

static void pixels(int64_t i, uint8_t *img)
{
    uint64_t st = 0x1234567ULL + (uint64_t)i * 0x9e3779b97f4a7c15ULL;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            for (int c = 0; c < 3; c++) {
                st = st * 6364136223846793005ULL + 1442695040888963407ULL;
                /* a smooth pattern that depends on i, plus noise */
                int v = (int)((x * (i + 1) + y * (7 - i) * 3 + c * 40) % 256) / 2 + (int)(st >> 58);
                img[((size_t)y * S + x) * 3 + c] = (uint8_t)v;
            }
}

static sn_status produce(void *ctx, int cat, int split, int64_t i, uint8_t *image, uint8_t *mask,
                         int32_t orig[2])
{
    (void)ctx;
    (void)cat;
    (void)split;
    (void)mask;
    pixels(i, image);
    orig[0] = orig[1] = S;
    return SN_OK;
}

/* Replace /c/train/phash by `n` zero hashes, from rank 0 alone with the serial driver. */
static void replace_index(const char *path, int n)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        EXPECT(f >= 0);
        if (H5Lexists(f, "/c/train/phash", H5P_DEFAULT) > 0)
            EXPECT(H5Ldelete(f, "/c/train/phash", H5P_DEFAULT) >= 0);
        hsize_t dims[1] = {(hsize_t)n};
        hid_t sp = H5Screate_simple(1, dims, NULL);
        hid_t d = H5Dcreate2(f, "/c/train/phash", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        EXPECT(d >= 0);
        uint64_t zeros[NTRAIN] = {0};
        if (n > 0)
            EXPECT(H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros) >= 0);
        H5Dclose(d);
        H5Sclose(sp);
        H5Fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char path[256] = "";
    if (rank == 0)
        snprintf(path, sizeof path, "/tmp/sn_mpi_hashindex_%ld.h5", (long)getpid());
    MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);

    char *names[NTRAIN];
    char buf[NTRAIN][16];
    for (int i = 0; i < NTRAIN; i++) {
        snprintf(buf[i], sizeof buf[i], "train/%03d.png", i);
        names[i] = buf[i];
    }
    sn_dsw_category cat = {.name = "c", .source = "test", .n_train = NTRAIN, .n_test = 0,
                           .train_names = names};
    sn_config cfg;
    sn_config_defaults(&cfg);
    EXPECT(sn_dsw_write(path, 1, MPI_COMM_WORLD, &cfg, S, "mpi_hashindex", &cat, 1, produce, NULL) == SN_OK);

    uint64_t *h = NULL;
    int64_t n = -1;
    /* the writer stored the index; remove it to see the error for a file without one */
    EXPECT(sn_hashindex_load(path, NULL, MPI_COMM_WORLD, &h, &n) == SN_OK && n == NTRAIN);
    uint64_t *from_writer = h;
    h = NULL;
    n = -1;
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        hid_t fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        EXPECT(fid >= 0 && H5Ldelete(fid, "/c/train/phash", H5P_DEFAULT) >= 0);
        H5Fclose(fid);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    sn_err_clear();
    EXPECT(sn_hashindex_load(path, NULL, MPI_COMM_WORLD, &h, &n) == SN_EFORMAT);
    EXPECT_MSG(strstr(sn_err_msg(), "sernet index") != NULL, "message: %s", sn_err_msg());
    EXPECT(h == NULL && n == 0);
    sn_err_clear();

    int64_t count = 0;
    EXPECT(sn_hashindex_build(path, NULL, 0, MPI_COMM_WORLD, &count) == SN_OK);
    EXPECT(count == NTRAIN);
    EXPECT(sn_hashindex_load(path, "c", MPI_COMM_WORLD, &h, &n) == SN_OK);
    EXPECT(n == NTRAIN);
    EXPECT(h && from_writer && memcmp(h, from_writer, sizeof(uint64_t) * NTRAIN) == 0);
    sn_free(from_writer);
    uint8_t img[S * S * 3];
    int same = 0;
    for (int i = 0; i < NTRAIN && h && n == NTRAIN; i++) {
        uint64_t want = 0;
        pixels(i, img);
        EXPECT(sn_phash_rgb8(img, S, S, 3, &want) == SN_OK);
        same += h[i] == want;
    }
    EXPECT_MSG(same == NTRAIN, "%d of %d stored hashes match the direct ones", same, NTRAIN);
    /* the nearest training image of a training image is itself (or an earlier identical hash) */
    if (h && n == NTRAIN) {
        int64_t at;
        int d;
        EXPECT(sn_hashindex_nearest(h, n, h[NTRAIN - 1], &at, &d) == SN_OK && d == 0 && h[at] == h[NTRAIN - 1]);
    }
    /* query with the training images themselves: each finds a hash equal to its own */
    if (h && n == NTRAIN) {
        uint8_t *imgs = malloc((size_t)NTRAIN * S * S * 3);
        int64_t at[NTRAIN];
        int dd[NTRAIN], self = 0;
        for (int i = 0; i < NTRAIN; i++)
            pixels(i, imgs + (size_t)i * S * S * 3);
        EXPECT(sn_hashindex_nearest_images(h, n, imgs, NTRAIN, S, at, dd) == SN_OK);
        for (int i = 0; i < NTRAIN; i++)
            self += dd[i] == 0 && h[at[i]] == h[i] && at[i] <= i;
        EXPECT_MSG(self == NTRAIN, "%d of %d training images found their own hash", self, NTRAIN);
        sn_err_clear();
        EXPECT(sn_hashindex_nearest_images(h, 0, imgs, 1, S, at, dd) == SN_EINVAL);
        sn_err_clear();
        free(imgs);
    }
    sn_free(h);
    h = NULL;

    /* existing index: refused without force, on every rank */
    sn_err_clear();
    EXPECT(sn_hashindex_build(path, NULL, 0, MPI_COMM_WORLD, &count) == SN_EINVAL);
    EXPECT(strstr(sn_err_msg(), "already exists") != NULL);
    sn_err_clear();
    EXPECT(sn_hashindex_build(path, "c", 1, MPI_COMM_WORLD, &count) == SN_OK && count == NTRAIN);
    EXPECT(sn_hashindex_load(path, NULL, MPI_COMM_WORLD, &h, &n) == SN_OK && n == NTRAIN);
    sn_free(h);
    h = NULL;

    /* an index whose count disagrees with the training images */
    replace_index(path, NTRAIN - 2);
    sn_err_clear();
    EXPECT(sn_hashindex_load(path, NULL, MPI_COMM_WORLD, &h, &n) == SN_EFORMAT);
    EXPECT_MSG(strstr(sn_err_msg(), "5 hashes") && strstr(sn_err_msg(), "7 training images"),
               "message: %s", sn_err_msg());
    EXPECT(h == NULL);
    sn_err_clear();
    /* an empty index */
    replace_index(path, 0);
    EXPECT(sn_hashindex_load(path, NULL, MPI_COMM_WORLD, &h, &n) == SN_EFORMAT);
    EXPECT_MSG(strstr(sn_err_msg(), "empty hash index") != NULL, "message: %s", sn_err_msg());
    sn_err_clear();
    /* rebuilding repairs it */
    EXPECT(sn_hashindex_build(path, NULL, 1, MPI_COMM_WORLD, &count) == SN_OK);
    EXPECT(sn_hashindex_load(path, NULL, MPI_COMM_WORLD, &h, &n) == SN_OK && n == NTRAIN);
    sn_free(h);
    /* a missing file */
    sn_err_clear();
    EXPECT(sn_hashindex_build("/nonexistent/x.h5", NULL, 0, MPI_COMM_WORLD, &count) != SN_OK);
    sn_err_clear();

    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0)
        remove(path);
    int rc = sn_test_finish();
    MPI_Finalize();
    return rc;
}
