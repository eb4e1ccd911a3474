/* sernet synth: the options of sn_synth_run (src/synth/, sernet/synth_run.h) from the command
 * line, and its summary printed. */
#include "cli/cli.h"
#include "sernet/synth_run.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static const char usage[] =
    "usage: sernet synth --out FILE.h5 [--size S] [--seed K] [--test-copies K] [--force]\n"
    "       sernet synth --preview FILE.png [--size S] [--seed K] [--force]\n"
    "                    [--config FILE] [--set key=value]...\n"
    "Write the embedded synthetic inspection set (categories 'weave', a woven texture, and\n"
    "'flange', a metal part with pose and lighting variation): 120 normal training images per\n"
    "category and a test split of normal and defective images with exact pixel masks.\n"
    "--preview writes a PNG grid instead: per category one row of images (2 train, 1 normal\n"
    "test, one of each defect type) and one row of their masks.\n"
    "  --size S   image side, a multiple of 16 (default: the image_size key, 256)\n"
    "  --seed K   generator seed (default: the seed key); same seed, same bytes\n"
    "  --test-copies K  a test split K times as large (1..100, default 1): K copies of the\n"
    "             layout (24 good images, 6 per defect type), each image drawn on its own, the\n"
    "             first copy the default split; for figures precise enough to compare (the\n"
    "             image AUROC's interval narrows about as 1/sqrt(K))\n"
    "  --force    replace an existing output file\n";

int sn_cmd_synth(int argc, char **argv)
{
    sn_cli_config_args ca = {0};
    const char *out = NULL, *preview = NULL, *size_arg = NULL, *seed_arg = NULL, *copies_arg = NULL;
    int force = 0, pos = 0;
    const sn_cli_opt opts[] = {{"out", SN_OPT_STR, &out, 0, 0},       {"preview", SN_OPT_STR, &preview, 0, 0},
                               {"size", SN_OPT_STR, &size_arg, 0, 0}, {"seed", SN_OPT_STR, &seed_arg, 0, 0},
                               {"test-copies", SN_OPT_STR, &copies_arg, 0, 0},
                               {"force", SN_OPT_FLAG, &force, 0, 0},  SN_OPT_END};
    int rc = sn_cli_parse("synth", usage, argc, argv, opts, &ca, &pos);
    if (rc)
        return sn_cli_parse_exit(rc);
    if (pos < argc)
        return sn_cli_usage_error("synth", usage, "unexpected argument '%s'", argv[pos]);
    if (!out == !preview)
        return sn_cli_usage_error("synth", usage, "give exactly one of --out and --preview");
    long copies = 1;
    if (copies_arg) {
        char *end;
        copies = strtol(copies_arg, &end, 10);
        if (*end || end == copies_arg || copies < 1 || copies > SN_SYNTH_MAX_TEST_COPIES)
            return sn_cli_usage_error("synth", usage, "--test-copies '%s': expected an integer in [1, %d]",
                                      copies_arg, SN_SYNTH_MAX_TEST_COPIES);
        if (preview)
            return sn_cli_usage_error("synth", usage, "--test-copies is for --out (the preview shows one of each type)");
    }
    char size_set[64], seed_set[64];
    if (size_arg) {
        char *end;
        long s = strtol(size_arg, &end, 10);
        if (*end || s <= 0 || s > 4096)
            return sn_cli_usage_error("synth", usage, "--size '%s': expected an integer in [32, 4096]", size_arg);
        snprintf(size_set, sizeof size_set, "image_size=%ld", s);
        if (ca.n_sets < (int)(sizeof ca.sets / sizeof ca.sets[0]))
            ca.sets[ca.n_sets++] = size_set;
    }
    if (seed_arg) {
        snprintf(seed_set, sizeof seed_set, "seed=%s", seed_arg);
        if (ca.n_sets < (int)(sizeof ca.sets / sizeof ca.sets[0]))
            ca.sets[ca.n_sets++] = seed_set;
    }
    sn_config cfg;
    if (sn_cli_config_resolve(&ca, &cfg) != SN_OK)
        return sn_cli_fail("synth");
    sn_cli_config_announce("synth", &cfg);
    sn_synth_options o = {&cfg, out, preview, force, (int)copies};
    sn_synth_summary s;
    if (sn_synth_run(&o, MPI_COMM_WORLD, &s) != SN_OK)
        return sn_cli_fail("synth");
    if (sn_cli_rank() == 0) {
        char extra[48] = "";
        if (copies > 1)
            snprintf(extra, sizeof extra, ", %ld test copies", copies);
        printf("synth: wrote %s (size %d, seed %ld%s) in %.2f s on %d rank(s)\n", s.path, s.size, s.seed,
               extra, s.seconds, s.ranks);
    }
    return SN_EXIT_OK;
}
