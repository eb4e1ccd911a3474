/* sernet ingest: image folders -> a dataset file: the options of sn_ingest_run (src/ingest/,
 * sernet/ingest.h) from the command line, and its summary printed. */
#include "cli/cli.h"
#include "sernet/image.h"
#include "sernet/ingest.h"
#include "sernet/tile.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sernet ingest --root DIR --category NAME --out FILE.h5 [options]\n"
    "       sernet ingest --good DIR [--test-good DIR] [--defect DIR [--masks DIR]]\n"
    "                     --category NAME --out FILE.h5 [options]\n"
    "Turn image folders into a dataset file. Images (PNG, JPEG or BMP by signature; files ending\n"
    ".png .jpg .jpeg .bmp) are resized to SxS with an antialiased triangle filter; masks are\n"
    "resized the same way and thresholded at 0.5 (any non-zero pixel is defect).\n"
    "MVTec AD layout: DIR/NAME/train/good/*, optional test/<type>/*, optional\n"
    "  ground_truth/<type>/<stem>_mask.png.\n"
    "Plain folders (NAME names the category in the file):\n"
    "  --good DIR       good images: the training split\n"
    "  --test-good DIR  good images for the test split (default: none)\n"
    "  --defect DIR     defective images for the test split: the files in DIR are of type\n"
    "                   'defect', each subfolder with images is a type named after it\n"
    "  --masks DIR      their masks, matched by file stem: for image <stem>.<ext> of type T,\n"
    "                   the first of DIR/T/<stem>, DIR/T/<stem>_mask, DIR/<stem>, DIR/<stem>_mask\n"
    "                   (.png .bmp .jpg .jpeg); every defective image must have one\n"
    "                   (default: no masks, so no pixel-level figures)\n"
    "Options:\n"
    "  --size S     output side, a multiple of 16 (default: the image_size key, 256)\n"
    "  --force      replace an existing output file (default: refuse)\n"
    "  --skip-bad   skip undecodable images (and defect images whose mask is bad) with a\n"
    "               warning and a count, instead of failing (default: fail)\n"
    "  --tile       cut every training image at its native resolution into SxS tiles (no\n"
    "               resizing) overlapping by at least --overlap pixels, the last row and\n"
    "               column of tiles aligned to the edges: the training split is the tiles,\n"
    "               named <file>@<x>,<y>, for a model that scores large images with --tile.\n"
    "               Training only: --test-good/--defect are refused and the test folders of\n"
    "               the MVTec layout left out (ingest them at their size with --size D for\n"
    "               `sernet infer --tile`). An image smaller than SxS is an error\n"
    "  --overlap PX least tile overlap, a multiple of 16 below S (default S/4 rounded down\n"
    "               to a multiple of 16)\n"
    "Run under mpiexec to decode on several ranks; the data written does not depend on the\n"
    "number of ranks.\n";

int sn_cmd_ingest(int argc, char **argv)
{
    sn_cli_config_args ca = {0};
    const char *size_arg = NULL;
    sn_ingest_options o;
    sn_ingest_options_init(&o);
    int pos = 0;
    const sn_cli_opt opts[] = {{"root", SN_OPT_STR, &o.root, 0, 0},        {"category", SN_OPT_STR, &o.category, 0, 0},
                               {"out", SN_OPT_STR, &o.out, 0, 0},          {"size", SN_OPT_STR, &size_arg, 0, 0},
                               {"good", SN_OPT_STR, &o.good, 0, 0},        {"test-good", SN_OPT_STR, &o.test_good, 0, 0},
                               {"defect", SN_OPT_STR, &o.defect, 0, 0},    {"masks", SN_OPT_STR, &o.masks, 0, 0},
                               {"force", SN_OPT_FLAG, &o.force, 0, 0},     {"skip-bad", SN_OPT_FLAG, &o.skip_bad, 0, 0},
                               {"tile", SN_OPT_FLAG, &o.tile, 0, 0},       {"overlap", SN_OPT_INT, &o.overlap, 0, SN_IMAGE_MAX_DIM},
                               SN_OPT_END};
    int rc = sn_cli_parse("ingest", usage, argc, argv, opts, &ca, &pos);
    if (rc)
        return sn_cli_parse_exit(rc);
    if (pos < argc)
        return sn_cli_usage_error("ingest", usage, "unexpected argument '%s'", argv[pos]);
    int folders = o.good || o.test_good || o.defect || o.masks;
    if (o.root && folders)
        return sn_cli_usage_error("ingest", usage, "--root (MVTec AD layout) and --good/--test-good/"
                                  "--defect/--masks (plain folders) are two ways in: give one");
    if (folders && !o.good)
        return sn_cli_usage_error("ingest", usage, "--good is required with --test-good, --defect "
                                  "or --masks (the good images are the training split)");
    if (o.masks && !o.defect)
        return sn_cli_usage_error("ingest", usage, "--masks needs --defect (the masks belong to "
                                  "the defective images)");
    if (!o.tile && o.overlap != SN_TILE_OVERLAP_DEFAULT)
        return sn_cli_usage_error("ingest", usage, "--overlap needs --tile");
    if (o.tile && (o.test_good || o.defect))
        return sn_cli_usage_error("ingest", usage, "--tile cuts the training images into tiles: no "
                                  "--test-good or --defect (ingest the test images at their size with "
                                  "--size D into another file for `sernet infer --tile`)");
    if ((!o.root && !folders) || !o.category || !o.out)
        return sn_cli_usage_error("ingest", usage, "--root or --good, and --category and --out, are required");
    if (strchr(o.category, '/') || strchr(o.category, ',') || !o.category[0])
        return sn_cli_usage_error("ingest", usage, "--category '%s': a folder name without '/' or ','", o.category);
    char size_set[64];
    if (size_arg) {
        char *end;
        long s = strtol(size_arg, &end, 10);
        if (*end || s <= 0 || s > 4096)
            return sn_cli_usage_error("ingest", usage, "--size '%s': expected an integer in [16, 4096]", size_arg);
        snprintf(size_set, sizeof size_set, "image_size=%ld", s);
        if (ca.n_sets < (int)(sizeof ca.sets / sizeof ca.sets[0]))
            ca.sets[ca.n_sets++] = size_set;
    }
    sn_config cfg;
    if (sn_cli_config_resolve(&ca, &cfg) != SN_OK)
        return sn_cli_fail("ingest");
    sn_cli_config_announce("ingest", &cfg);

    o.cfg = &cfg;
    sn_ingest_summary s;
    if (sn_ingest_run(&o, MPI_COMM_WORLD, &s) != SN_OK)
        return sn_cli_fail("ingest");
    if (sn_cli_rank() == 0) {
        printf("ingest: %s: %lld train, %lld test (%lld defective, %lld with masks, %lld defect "
               "types) at %dx%d -> %s in %.2f s on %d rank(s)\n",
               s.label, (long long)s.n_train, (long long)s.n_test, (long long)s.n_defective,
               (long long)s.n_masks, (long long)s.n_defect_types, s.size, s.size, o.out, s.seconds,
               s.ranks);
        int64_t nimg = s.n_sources + s.n_test;
        printf("ingest: throughput %.1f images/s, %.1f MB/s of input files (%.1f MB, masks included)\n",
               nimg / s.seconds, s.input_bytes / 1e6 / s.seconds, s.input_bytes / 1e6);
        if (o.skip_bad)
            printf("ingest: skipped %lld bad file(s)\n", (long long)s.n_skipped);
        if (o.tile)
            printf("ingest: --tile: %lld training tiles of %dx%d (overlap >= %d) from %lld image(s)\n",
                   (long long)s.n_train, s.size, s.size, s.overlap, (long long)s.n_sources);
        if (s.n_left_out)
            printf("ingest: --tile: %lld test image(s) left out: ingest them at their size (--size D) "
                   "into another file and score them with `sernet infer --tile --train-data %s`\n",
                   (long long)s.n_left_out, o.out);
    }
    return SN_EXIT_OK;
}
