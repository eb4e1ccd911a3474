/* sernet export: PNG panels of the test images from a results file (docs/outputs.md). */
#include "cli/cli.h"
#include "sernet/dist.h"
#include "sernet/export.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

int sn_cmd_export(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet export --results RESULTS.h5 --data DATA.h5 --out DIR [--threshold T]\n"
        "                     [--limit N] [--only good|defective] [--quiet] [--config FILE]\n"
        "                     [--set key=value]...\n"
        "Write one PNG panel per test image of the results file (written by sernet infer):\n"
        "image | ground truth | anomaly map as a heat overlay | predicted mask | reconstruction,\n"
        "as DIR/<dataset name of the image with its extension replaced by .png> (the dataset's\n"
        "folder layout), and DIR/index.md listing the panels by score. Collective: each MPI rank\n"
        "renders its shard; the files do not depend on the number of ranks.\n"
        "  --threshold T   predicted mask = anomaly map >= T (default: the results file's\n"
        "                  /metrics pixel_threshold written by sernet eval; without one, the\n"
        "                  repair masks of the results file are shown)\n"
        "  --limit N       only the first N selected test images (dataset order; default: all)\n"
        "  --only KIND     good or defective test images only (default: both)\n"
        "  --quiet         no notes, only errors\n"
        "The heat map's full heat is the largest image score of the whole test set, the same\n"
        "for every panel of an export. No configuration key changes the panels; --config and\n"
        "--set are validated as for every command.\n";
    sn_cli_config_args ca = {0};
    sn_export_options o = {0};
    const char *only = NULL;
    double threshold = NAN;
    long long limit = 0;
    int pos = 0;
    const sn_cli_opt opts[] = {{"results", SN_OPT_STR, &o.results, 0, 0},
                               {"data", SN_OPT_STR, &o.data, 0, 0},
                               {"out", SN_OPT_STR, &o.out, 0, 0},
                               {"threshold", SN_OPT_DOUBLE, &threshold, -1e300, 1e300},
                               {"limit", SN_OPT_LONG, &limit, 1, 9e15},
                               {"only", SN_OPT_STR, &only, 0, 0},
                               {"quiet", SN_OPT_FLAG, &o.quiet, 0, 0},
                               SN_OPT_END};
    int prc = sn_cli_parse("export", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos < argc)
        return sn_cli_usage_error("export", usage, "unexpected argument '%s'", argv[pos]);
    if (!o.results || !o.data || !o.out)
        return sn_cli_usage_error("export", usage, "--results, --data and --out are required");
    if (only && strcmp(only, "good") == 0)
        o.only = SN_EXPORT_GOOD;
    else if (only && strcmp(only, "defective") == 0)
        o.only = SN_EXPORT_DEFECTIVE;
    else if (only)
        return sn_cli_usage_error("export", usage, "--only '%s': expected good or defective", only);
    o.has_threshold = !isnan(threshold);
    o.threshold = threshold;
    o.limit = limit;

    sn_config cfg;
    sn_export_summary sum;
    sn_status status = sn_dist_agree(sn_cli_config_resolve(&ca, &cfg), MPI_COMM_WORLD);
    if (status == SN_OK)
        status = sn_export_run(&o, MPI_COMM_WORLD, &sum);
    if (status != SN_OK)
        return sn_cli_fail("export");
    if (sn_cli_rank() == 0) {
        printf("export: %lld panels written to %s (index: %s)\n", (long long)sum.n_written, o.out,
               sum.index_path);
        if (sum.tsource == SN_EXPORT_T_REPAIR)
            printf("export: predicted mask = repair masks; full heat at %.6g\n", (double)sum.map_max);
        else
            printf("export: predicted mask = map >= %.6g (%s); full heat at %.6g\n", sum.threshold,
                   sum.tsource == SN_EXPORT_T_OPTION ? "--threshold" : "/metrics pixel_threshold",
                   (double)sum.map_max);
    }
    return SN_EXIT_OK;
}
