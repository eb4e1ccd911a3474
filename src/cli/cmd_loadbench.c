/* sernet loadbench: throughput of the sharded training loader (sn_dataset_train_batch) on a
 * dataset file: every rank reads its part of every global batch for a number of epochs. */
#define _GNU_SOURCE
#include "cli/cli.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"

#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static const char usage[] =
    "usage: sernet loadbench FILE [--category NAME] [--batch B] [--epochs E]\n"
    "Time the sharded training loader: for E epochs (default 3) every rank reads its share of\n"
    "each global batch of B images (default 8) as float NCHW. Prints images/s and MB/s (stored\n"
    "uint8 bytes read) over all ranks.\n";

int sn_cmd_loadbench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"category", required_argument, 0, 'n'}, {"batch", required_argument, 0, 'b'},
        {"epochs", required_argument, 0, 'e'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *category = NULL;
    int batch = 8, epochs = 3, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': category = optarg; break;
        case 'b': batch = atoi(optarg); break;
        case 'e': epochs = atoi(optarg); break;
        case 'h': fputs(usage, stdout); return SN_EXIT_OK;
        case ':': return sn_cli_usage_error("loadbench", usage, "option '%s' needs a value", argv[optind - 1]);
        default: return sn_cli_usage_error("loadbench", usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return sn_cli_usage_error("loadbench", usage, optind >= argc ? "missing FILE" : "one FILE only");
    if (batch < 1 || epochs < 1)
        return sn_cli_usage_error("loadbench", usage, "--batch and --epochs must be positive");
    sn_dataset *ds = NULL;
    if (sn_dataset_open(argv[optind], category, MPI_COMM_WORLD, &ds) != SN_OK)
        return sn_cli_fail("loadbench");
    int S = sn_dataset_image_size(ds), size = sn_dist_size(MPI_COMM_WORLD);
    int per = (batch + size - 1) / size;
    float *img = sn_alloc((size_t)per * 3 * S * S * sizeof(float), "loader batch");
    sn_status st = img ? SN_OK : SN_ENOMEM;
    int64_t n = sn_dataset_count(ds, SN_SPLIT_TRAIN), local = 0, total = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int e = 0; e < epochs && st == SN_OK; e++)
        for (int64_t b = 0; b < sn_dataset_batches(n, batch, 0) && st == SN_OK; b++) {
            int count = 0;
            st = sn_dataset_train_batch(ds, 1, e, b, batch, img, NULL, &count, NULL);
            local += count;
        }
    double secs = MPI_Wtime() - t0, maxs = secs;
    st = sn_dist_agree(st, MPI_COMM_WORLD);
    MPI_Allreduce(&secs, &maxs, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&local, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (st == SN_OK && sn_cli_rank() == 0)
        printf("loadbench: %s/%s: %lld images of %dx%d in %.3f s on %d rank(s): %.1f images/s, %.1f MB/s\n",
               argv[optind], sn_dataset_category(ds), (long long)total, S, S, maxs, size,
               total / maxs, total * 3.0 * S * S / 1e6 / maxs);
    sn_free(img);
    sn_dataset_close(ds);
    return st == SN_OK ? SN_EXIT_OK : sn_cli_fail("loadbench");
}
