/* Dataset layer under MPI (run at 1, 2 and 3 ranks): collective ingest gives exactly the serially
 * computed pixels whatever the rank count, the sharded loader (uneven and empty shards, per-epoch
 * order independent of the rank count), collective error agreement, and a failure found on one
 * rank ending every rank with that rank's message. */
#include "cli/cli.h"
#include "dataset_fixture.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/synth.h"
#include "sn_test.h"

#include <mpi.h>
#include <stdarg.h>
#include <unistd.h>

static char tmp[256];
static int rank, nranks;

static void check_agree(void)
{
    sn_err_clear();
    EXPECT(sn_dist_agree(SN_OK, MPI_COMM_WORLD) == SN_OK);
    sn_status local = SN_OK;
    if (rank == nranks - 1)
        local = SN_ERR(SN_EIO, "broken.png: cannot open image (rank %d)", rank);
    sn_status st = sn_dist_agree(local, MPI_COMM_WORLD);
    EXPECT(st == SN_EIO);
    char want[64];
    snprintf(want, sizeof want, "(rank %d)", nranks - 1);
    EXPECT_MSG(strstr(sn_err_msg(), "broken.png") && strstr(sn_err_msg(), want),
               "rank %d got message '%s'", rank, sn_err_msg());
    sn_err_clear();
    /* two failing ranks: the lowest one's message wins */
    local = rank >= nranks - 2 ? SN_ERR(SN_EFORMAT, "bad%d", rank) : SN_OK;
    st = sn_dist_agree(local, MPI_COMM_WORLD);
    snprintf(want, sizeof want, "bad%d", nranks >= 2 ? nranks - 2 : 0);
    EXPECT(st == SN_EFORMAT && strstr(sn_err_msg(), want));
    sn_err_clear();
}

static void check_ingest(void)
{
    char root[512], out[600], p[1200];
    snprintf(root, sizeof root, "%s/tree", tmp);
    if (rank == 0)
        EXPECT(fx_make_tree(root, "cat") == 0);
    MPI_Barrier(MPI_COMM_WORLD);
    snprintf(out, sizeof out, "%s/cat.h5", tmp);
    int rc = fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "cat", "--size", "32", "--out", out, NULL);
    EXPECT_MSG(rc == 0, "ingest at %d ranks: %s", nranks, sn_err_msg());
    sn_dataset *ds = NULL;
    EXPECT(sn_dataset_open(out, "cat", MPI_COMM_WORLD, &ds) == SN_OK);
    if (!ds)
        return;
    const int S = 32;
    size_t px = (size_t)S * S;
    uint8_t raw[32 * 32 * 3], ref[32 * 32 * 3], mref[32 * 32];
    float m[32 * 32];
    int bad = 0;
    int64_t total = 0;
    for (int s = 0; s < 2; s++) {
        int64_t b, c;
        sn_dataset_shard(ds, (sn_split)s, &b, &c);
        total += c;
        for (int64_t i = b; i < b + c; i++) {
            snprintf(p, sizeof p, "%s/cat/%s", root, sn_dataset_name(ds, (sn_split)s, i));
            EXPECT(fx_reference(p, S, ref, NULL) == 0);
            EXPECT(sn_dataset_read(ds, (sn_split)s, &i, 1, NULL, s ? m : NULL, raw) == SN_OK);
            bad += memcmp(raw, ref, 3 * px) != 0;
            if (s == 1 && sn_dataset_has_mask(ds, i)) {
                char type[256], file[256];
                sscanf(sn_dataset_name(ds, SN_SPLIT_TEST, i), "test/%255[^/]/%255[^.]", type, file);
                snprintf(p, sizeof p, "%s/cat/ground_truth/%s/%s_mask.png", root, type, file);
                EXPECT(fx_reference_mask(p, S, mref) == 0);
                for (size_t k = 0; k < px; k++)
                    bad += (m[k] != 0) != mref[k];
            }
        }
    }
    int64_t all = 0;
    MPI_Allreduce(&total, &all, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    EXPECT(all == 11);
    EXPECT_MSG(bad == 0, "rank %d: %d items differ from serial decoding", rank, bad);
    sn_dataset_close(ds);

    /* a corrupt file decoded by whichever rank owns it: every rank fails with its name */
    snprintf(root, sizeof root, "%s/bad", tmp);
    if (rank == 0) {
        EXPECT(fx_make_tree(root, "b") == 0);
        snprintf(p, sizeof p, "%s/b/train/good/004.png", root);
        EXPECT(truncate(p, 100) == 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    snprintf(out, sizeof out, "%s/bad.h5", tmp);
    rc = fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "b", "--size", "32", "--out", out, NULL);
    EXPECT(rc == SN_EXIT_FAIL);
    EXPECT_MSG(strstr(sn_err_msg(), "b/train/good/004.png") != NULL, "rank %d: '%s'", rank, sn_err_msg());
    sn_err_clear();
    MPI_Barrier(MPI_COMM_WORLD);
    EXPECT(access(out, F_OK) != 0);
    snprintf(p, sizeof p, "%s.tmp", out);
    EXPECT(access(p, F_OK) != 0);
}

static void check_loader(void)
{
    char out[600];
    const int S = 32;
    const uint64_t seed = 11;
    snprintf(out, sizeof out, "%s/synth.h5", tmp);
    EXPECT(fx_run(sn_cmd_synth, "synth", "--out", out, "--size", "32", "--seed", "11", NULL) == 0);
    sn_dataset *ds = NULL;
    EXPECT(sn_dataset_open(out, "weave", MPI_COMM_WORLD, &ds) == SN_OK);
    if (!ds)
        return;
    int64_t n = sn_dataset_count(ds, SN_SPLIT_TRAIN);
    int64_t *perm = malloc(sizeof(int64_t) * n);
    size_t px = (size_t)S * S;
    float *img = malloc(sizeof(float) * 3 * px * 8);
    uint8_t ref[32 * 32 * 3];
    int64_t idx[8];
    const int batches[2] = {2, 5}; /* 2 < 3 ranks: an empty rank; 5 at 2 or 3 ranks: uneven */
    for (int bi = 0; bi < 2; bi++) {
        int B = batches[bi], bad = 0, badorder = 0;
        for (int64_t epoch = 0; epoch < 2; epoch++) {
            sn_dataset_epoch_order(n, seed, epoch, perm);
            for (int64_t b = 0; b < sn_dataset_batches(n, B, 0); b++) {
                int count = -1, offset = -1;
                EXPECT(sn_dataset_train_batch(ds, seed, epoch, b, B, img, idx, &count, &offset) == SN_OK);
                int64_t want_b, want_c;
                int64_t bn = SN_MIN((int64_t)B, n - b * B);
                sn_dist_shard(bn, rank, nranks, &want_b, &want_c);
                if (count != want_c || offset != want_b)
                    bad++;
                for (int j = 0; j < count; j++) {
                    badorder += idx[j] != perm[b * B + offset + j];
                    EXPECT(sn_synth_render(0, 0, idx[j], S, seed, ref, NULL) == SN_OK);
                    for (size_t k = 0; k < px; k++)
                        for (int c = 0; c < 3; c++)
                            bad += fabsf(img[(size_t)j * 3 * px + c * px + k] - ref[3 * k + c] / 255.0f) > 1e-6f;
                }
                /* the ranks' parts together are exactly the global batch */
                int counts[64] = {0};
                MPI_Allgather(&count, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
                int sum = 0;
                for (int r = 0; r < nranks; r++)
                    sum += counts[r];
                if (sum != bn)
                    bad++;
            }
        }
        EXPECT_MSG(bad == 0 && badorder == 0, "batch %d on rank %d: %d bad values, %d out of order", B,
                   rank, bad, badorder);
    }
    /* the tensor variant gives the same batch, reusing its storage */
    sn_tensor t = {0}, tm = {0};
    int tbad = 0;
    for (int64_t bb = 0; bb < sn_dataset_batches(n, 5, 0); bb++) {
        int count = 0, offset = 0;
        int64_t tidx[8];
        EXPECT(sn_dataset_train_batch(ds, seed, 3, bb, 5, img, idx, &count, &offset) == SN_OK);
        EXPECT(sn_dataset_train_batch_tensor(ds, seed, 3, bb, 5, &t, tidx, NULL) == SN_OK);
        tbad += t.n != count || t.c != 3 || t.h != S || t.w != S;
        if (t.n == count && count > 0)
            tbad += memcmp(t.data, img, sizeof(float) * 3 * px * count) != 0 ||
                    memcmp(tidx, idx, sizeof(int64_t) * count) != 0;
    }
    EXPECT_MSG(tbad == 0, "tensor batches differ on rank %d", rank);
    int64_t two[2] = {1, 0};
    EXPECT(sn_dataset_read_tensor(ds, SN_SPLIT_TEST, two, 2, &t, &tm) == SN_OK);
    EXPECT(t.n == 2 && tm.n == 2 && tm.c == 1);
    sn_tensor_free(&t);
    sn_tensor_free(&tm);
    /* test split shard: uneven at 2 and 3 ranks; masks match the generator */
    int64_t b, c;
    sn_dataset_shard(ds, SN_SPLIT_TEST, &b, &c);
    int bad = 0;
    uint8_t mref[32 * 32];
    float *m = malloc(sizeof(float) * px);
    for (int64_t i = b; i < b + c; i++) {
        EXPECT(sn_dataset_read(ds, SN_SPLIT_TEST, &i, 1, img, m, NULL) == SN_OK);
        EXPECT(sn_synth_render(0, 1, i, S, seed, ref, mref) == SN_OK);
        for (size_t k = 0; k < px; k++) {
            bad += (m[k] != 0) != mref[k];
            bad += fabsf(img[k] - ref[3 * k] / 255.0f) > 1e-6f;
        }
    }
    EXPECT_MSG(bad == 0, "test shard on rank %d: %d bad values", rank, bad);
    /* bad requests */
    int64_t far = n;
    EXPECT(sn_dataset_read(ds, SN_SPLIT_TRAIN, &far, 1, img, NULL, NULL) == SN_EINVAL);
    sn_err_clear();
    int count;
    EXPECT(sn_dataset_train_batch(ds, seed, 0, sn_dataset_batches(n, 8, 0), 8, img, NULL, &count, NULL) == SN_EINVAL);
    sn_err_clear();
    free(m);
    free(perm);
    free(img);
    sn_dataset_close(ds);

    /* a split smaller than the number of ranks: empty shards */
    char tiny[600], root[600], p[1300];
    snprintf(root, sizeof root, "%s/tiny", tmp);
    if (rank == 0) {
        EXPECT(fx_make_tree(root, "t") == 0);
        for (int i = 1; i < 5; i++) {
            snprintf(p, sizeof p, "%s/t/train/good/%03d.png", root, i);
            remove(p);
        }
        snprintf(p, sizeof p, "%s/t/train/good/005.jpg", root);
        remove(p);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    snprintf(tiny, sizeof tiny, "%s/tiny.h5", tmp);
    EXPECT(fx_run(sn_cmd_ingest, "ingest", "--root", root, "--category", "t", "--size", "32", "--out", tiny, NULL) == 0);
    EXPECT(sn_dataset_open(tiny, NULL, MPI_COMM_WORLD, &ds) == SN_OK);
    if (ds) {
        EXPECT(sn_dataset_count(ds, SN_SPLIT_TRAIN) == 1);
        sn_dataset_shard(ds, SN_SPLIT_TRAIN, &b, &c);
        EXPECT(c == (rank == 0 ? 1 : 0));
        float one[3 * 32 * 32];
        int offset = -1;
        EXPECT(sn_dataset_train_batch(ds, 1, 0, 0, 8, one, idx, &count, &offset) == SN_OK);
        EXPECT(count == (rank == 0 ? 1 : 0));
        sn_dataset_close(ds);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (rank == 0)
        snprintf(tmp, sizeof tmp, "/tmp/sn_mpi_dataset_%ld", (long)getpid());
    MPI_Bcast(tmp, sizeof tmp, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank == 0)
        mkdir(tmp, 0700);
    MPI_Barrier(MPI_COMM_WORLD);
    check_agree();
    check_ingest();
    check_loader();
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmp);
    }
    /* every rank's verdict counts */
    int failed = sn_test_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = sn_test_finish();
    MPI_Finalize();
    return any ? 1 : rc;
}
