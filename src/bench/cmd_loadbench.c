/* sernet-bench loadbench: throughput of the sharded training loader (sn_dataset_train_batch) on a
 * dataset file: every rank reads its part of every global batch for a number of epochs. */
#define _GNU_SOURCE
#include "bench/bench.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static const char usage[] =
    "usage: sernet-bench loadbench FILE [--category NAME] [--batch B] [--epochs E]\n"
    "Time the sharded training loader: for E epochs (default 3) every rank reads its share of\n"
    "each global batch of B images (default 8) as float NCHW. Prints images/s and MB/s (stored\n"
    "uint8 bytes read) over all ranks.\n";

int sn_cmd_loadbench(int argc, char **argv)
{
    const char *category = NULL;
    int batch = 8, epochs = 3, pos = 0;
    const sn_cli_opt opts[] = {{"category", SN_OPT_STR, &category, 0, 0},
                               {"batch", SN_OPT_INT, &batch, 1, 1 << 20},
                               {"epochs", SN_OPT_INT, &epochs, 1, 1 << 20},
                               SN_OPT_END};
    int prc = sn_cli_parse("loadbench", usage, argc, argv, opts, NULL, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos != argc - 1)
        return sn_cli_usage_error("loadbench", usage, pos >= argc ? "missing FILE" : "one FILE only");
    if (batch < 1 || epochs < 1)
        return sn_cli_usage_error("loadbench", usage, "--batch and --epochs must be positive");
    sn_dataset *ds = NULL;
    if (sn_dataset_open(argv[pos], category, MPI_COMM_WORLD, &ds) != SN_OK)
        return sn_cli_fail("loadbench");
    int S = sn_dataset_image_size(ds), size = sn_dist_size(MPI_COMM_WORLD);
    int per = (batch + size - 1) / size;
    float *img = sn_alloc((size_t)per * 3 * S * S * sizeof(float), "loader batch");
    sn_status st = img ? SN_OK : SN_ENOMEM;
    int64_t n = sn_dataset_count(ds, SN_SPLIT_TRAIN), local = 0, total = 0;
    if (st == SN_OK && MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
        st = SN_ERR(SN_EMPI, "MPI_Barrier failed");
    double t0 = MPI_Wtime();
    for (int e = 0; e < epochs && st == SN_OK; e++)
        for (int64_t b = 0; b < sn_dataset_batches(n, batch, 0) && st == SN_OK; b++) {
            int count = 0;
            st = sn_dataset_train_batch(ds, 1, e, b, batch, img, NULL, &count, NULL);
            local += count;
        }
    double secs = MPI_Wtime() - t0, maxs = secs;
    st = sn_dist_agree(st, MPI_COMM_WORLD);
    if (st == SN_OK && (MPI_Allreduce(&secs, &maxs, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS ||
                        MPI_Allreduce(&local, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS))
        st = SN_ERR(SN_EMPI, "MPI_Allreduce of the loader figures failed");
    if (st == SN_OK && sn_cli_rank() == 0)
        printf("loadbench: %s/%s: %lld images of %dx%d in %.3f s on %d rank(s): %.1f images/s, %.1f MB/s\n",
               argv[pos], sn_dataset_category(ds), (long long)total, S, S, maxs, size,
               total / maxs, total * 3.0 * S * S / 1e6 / maxs);
    sn_free(img);
    sn_dataset_close(ds);
    return st == SN_OK ? SN_EXIT_OK : sn_cli_fail("loadbench");
}
