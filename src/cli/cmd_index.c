/* sernet index FILE: compute and store the training hashes of a dataset file. */
#define _GNU_SOURCE
#include "cli/cli.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/hashindex.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sn_cmd_index(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet index [--category NAME] [--force] FILE.h5\n"
        "Compute the perceptual hash (ImageHash 4.3.1 phash) of every stored training image of a\n"
        "dataset file and store them as /<category>/train/phash (uint64), the index that the\n"
        "similar-image search of inference reads. Run under mpiexec to hash on several ranks\n"
        "(each rank hashes a contiguous shard; the written index does not depend on the rank count).\n"
        "  --category NAME  the category to index (default: every category of the file)\n"
        "  --force          recompute an existing index\n";
    const char *category = NULL;
    int force = 0, pos = 0;
    const sn_cli_opt opts[] = {{"category", SN_OPT_STR, &category, 0, 0}, {"force", SN_OPT_FLAG, &force, 0, 0},
                               SN_OPT_END};
    int prc = sn_cli_parse("index", usage, argc, argv, opts, NULL, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos >= argc)
        return sn_cli_usage_error("index", usage, "no dataset file given");
    if (pos + 1 < argc)
        return sn_cli_usage_error("index", usage, "unexpected argument '%s'", argv[pos + 1]);
    const char *path = argv[pos];
    char *list = NULL;
    if (category) {
        list = strdup(category);
        if (!list) {
            SN_ERR(SN_ENOMEM, "no memory");
            return sn_cli_fail("index");
        }
    } else if (sn_dataset_categories(path, MPI_COMM_WORLD, &list) != SN_OK) {
        return sn_cli_fail("index");
    }
    int rc = SN_EXIT_OK, ranks = sn_dist_size(MPI_COMM_WORLD);
    char *save = NULL;
    for (char *cat = strtok_r(list, ",", &save); cat; cat = strtok_r(NULL, ",", &save)) {
        int64_t n = 0;
        double t0 = MPI_Wtime();
        if (sn_hashindex_build(path, cat, force, MPI_COMM_WORLD, &n) != SN_OK) {
            rc = sn_cli_fail("index");
            break;
        }
        if (sn_cli_rank() == 0)
            printf("%s: /%s/train/phash: %lld hashes on %d rank%s in %.2f s\n", path, cat, (long long)n,
                   ranks, ranks == 1 ? "" : "s", MPI_Wtime() - t0);
    }
    free(list);
    return rc;
}
