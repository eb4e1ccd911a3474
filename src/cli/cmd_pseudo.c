/* sernet pseudo: the options of sn_pseudo_sheets_run (src/pseudo/pseudo_sheets.c,
 * sernet/pseudo_sheets.h) from the command line; one line per sheet printed. */
#include "cli/cli.h"
#include "sernet/dist.h"
#include "sernet/pseudo_sheets.h"
#include "sernet/rng.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

/* One line per sheet, printed by the rank that wrote it. */
static void print_sheet(void *ctx, const sn_pseudo_sheet *s)
{
    const sn_pseudo_info *info = s->info;
    const double plane = (double)s->size * s->size;
    (void)ctx;
    if (!info->anomalous)
        printf("%s  image %lld (%s)  clean\n", s->path, (long long)s->image, s->image_name);
    else if (s->dpa)
        printf("%s  image %lld (%s)  area %.4f S^2  seeds %d  rectangles %d  alpha %+.3f  "
               "gamma %.3f %.3f %.3f  strength %.3f\n", s->path, (long long)s->image, s->image_name,
               (double)info->area / plane, info->n_seeds, info->n_rects, info->alpha,
               info->gamma[0], info->gamma[1], info->gamma[2], info->strength);
    else
        printf("%s  image %lld (%s)  area %.4f S^2  lattice %dx%d  tries %d%s  beta %.3f  "
               "sources %lld %lld %lld %lld\n", s->path, (long long)s->image, s->image_name,
               (double)info->area / plane, info->res_y, info->res_x, info->tries,
               info->fallback ? " (fallback)" : "", info->beta, (long long)info->src_index[0],
               (long long)info->src_index[1], (long long)info->src_index[2],
               (long long)info->src_index[3]);
}

int sn_cmd_pseudo(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet pseudo --data FILE --kind ppa|dpa --count N --out DIR [--category NAME]\n"
        "                     [--epoch E] [--start K] [--config FILE] [--set key=value]...\n"
        "Generate pseudo-anomalies for the global sample indices K .. K+N-1 of epoch E (default\n"
        "0, 0) with the random keys training uses (seed, stage seg for ppa / rec for dpa, epoch,\n"
        "sample) and write DIR/<kind>_<sample>.png sheets: clean image | mask | pseudo-anomalous\n"
        "image. Sample k is applied to training image k mod (number of training images).\n"
        "Clean samples (probability 1 - p_anomaly) are written too, with a black mask.\n"
        "Use --set pseudo.p_anomaly=1 to see only anomalies. DIR is created if needed (with\n"
        "parents). Ranks share the samples; the sheets do not depend on the number of ranks.\n"
        "--category: the dataset category (default: the file's only category).\n";
    sn_cli_config_args ca = {0};
    const char *data = NULL, *kind_s = NULL, *out_dir = NULL, *category = NULL;
    long long count = -1, epoch = 0, start = 0;
    int pos = 0;
    const sn_cli_opt opts[] = {{"data", SN_OPT_STR, &data, 0, 0},
                               {"kind", SN_OPT_STR, &kind_s, 0, 0},
                               {"count", SN_OPT_LONG, &count, 1, 1000000},
                               {"out", SN_OPT_STR, &out_dir, 0, 0},
                               {"category", SN_OPT_STR, &category, 0, 0},
                               {"epoch", SN_OPT_LONG, &epoch, 0, (double)UINT32_MAX},
                               {"start", SN_OPT_LONG, &start, 0, (double)(SN_RNG_MAX_SAMPLE - 1000000)},
                               SN_OPT_END};
    int prc = sn_cli_parse("pseudo", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos < argc)
        return sn_cli_usage_error("pseudo", usage, "unexpected argument '%s'", argv[pos]);
    if (!data || !kind_s || count < 0 || !out_dir)
        return sn_cli_usage_error("pseudo", usage, "--data, --kind, --count and --out are required");
    int dpa;
    if (strcmp(kind_s, "ppa") == 0)
        dpa = 0;
    else if (strcmp(kind_s, "dpa") == 0)
        dpa = 1;
    else
        return sn_cli_usage_error("pseudo", usage, "--kind '%s': expected ppa or dpa", kind_s);

    sn_config cfg;
    sn_pseudo_sheets_options o = {&cfg, data, category, dpa, count, epoch, start, out_dir, print_sheet, NULL};
    sn_pseudo_sheets_summary sum;
    sn_status status = sn_dist_agree(sn_cli_config_resolve(&ca, &cfg), MPI_COMM_WORLD);
    if (status == SN_OK) {
        sn_cli_config_announce("pseudo", &cfg);
        status = sn_pseudo_sheets_run(&o, MPI_COMM_WORLD, &sum);
    }
    return status == SN_OK ? SN_EXIT_OK : sn_cli_fail("pseudo");
}
