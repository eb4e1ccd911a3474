/* sernet calibrate: the options of sn_calibrate_run (src/score/calibrate.c, sernet/score.h) from
 * the command line, and the thresholds stored printed. */
#include "cli/cli.h"
#include "sernet/dist.h"
#include "sernet/image.h"
#include "sernet/score.h"
#include "sernet/tile.h"

#include <mpi.h>
#include <stdio.h>

static const char usage[] =
    "usage: sernet calibrate --model MODEL.h5 --data DATA.h5 [--category NAME] [--fpr F]\n"
    "                        [--threads N] [--tile [--overlap PX]] [--config FILE] [--set key=value]...\n"
    "                        GOOD_IMAGE_OR_FOLDER...\n"
    "       sernet calibrate --model BUNDLE.h5 [--fpr F] ... GOOD_IMAGE_OR_FOLDER...\n"
    "       sernet calibrate --model MODEL_OR_BUNDLE.h5 --threshold T [--pixel-threshold P]\n"
    "Store decision thresholds in MODEL.h5, which `sernet score` then applies (normalised score,\n"
    "verdict good/defect, defect mask). First form: score held-out good images (images of good\n"
    "parts that training did not see, e.g. a folder kept aside before `sernet ingest`) exactly as\n"
    "`sernet score` does, and set the image threshold so that at most a fraction F of them is\n"
    "judged defect (a score above the threshold), and the pixel threshold so that at most F of\n"
    "their map pixels are defect pixels. A bundle (`sernet bundle`) needs no --data and gets\n"
    "the thresholds itself. Last form: store the given numbers. The file is rewritten by copy\n"
    "and rename; a crash leaves the old one. Retraining drops the thresholds; a bundle made\n"
    "before thresholds were set on its model has none (bundle again, or calibrate the bundle).\n"
    "  --fpr F             false-positive rate on the good images, in (0, 0.5] (default 0.01);\n"
    "                      with n images the image threshold is the (floor(F n) + 1)-th largest\n"
    "                      score, so fewer than 1/F images give their largest score\n"
    "  --category NAME     dataset category of the training images (default: the model's)\n"
    "  --threads N         OpenMP threads (default: the threads key)\n"
    "  --tile              score the good images by tiling, as `sernet score --tile` does (for\n"
    "                      a line that scores large images tiled: tiled and resized scores\n"
    "                      differ); the pixel quantile is over the stitched maps\n"
    "  --overlap PX        tile overlap, as `sernet score --overlap` (default S/4 rounded down\n"
    "                      to a multiple of 16)\n"
    "  --threshold T       image threshold (> 0) to store as given\n"
    "  --pixel-threshold P pixel threshold (>= 0; 0 or absent: no defect masks)\n";

int sn_cmd_calibrate(int argc, char **argv)
{
    sn_cli_config_args ca = {0};
    sn_calibrate_options o;
    sn_calibrate_options_init(&o);
    int pos = 0;
    const sn_cli_opt opts[] = {{"model", SN_OPT_STR, &o.model, 0, 0},
                               {"data", SN_OPT_STR, &o.data, 0, 0},
                               {"category", SN_OPT_STR, &o.category, 0, 0},
                               {"fpr", SN_OPT_DOUBLE, &o.fpr, 1e-9, 0.5},
                               {"threads", SN_OPT_INT, &o.threads, 1, 1024},
                               {"threshold", SN_OPT_DOUBLE, &o.threshold, 1e-300, 1e300},
                               {"pixel-threshold", SN_OPT_DOUBLE, &o.pixel_threshold, 0, 1e300},
                               {"tile", SN_OPT_FLAG, &o.tile, 0, 0},
                               {"overlap", SN_OPT_INT, &o.overlap, 0, SN_IMAGE_MAX_DIM},
                               SN_OPT_END};
    int prc = sn_cli_parse("calibrate", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    const int given = o.threshold > 0;
    if (!o.model)
        return sn_cli_usage_error("calibrate", usage, "--model is required");
    if (given && (o.data || pos < argc))
        return sn_cli_usage_error("calibrate", usage, "--threshold stores numbers: no --data and no images");
    if (given && o.tile)
        return sn_cli_usage_error("calibrate", usage, "--tile scores images: not with --threshold");
    if (!o.tile && o.overlap != SN_TILE_OVERLAP_DEFAULT)
        return sn_cli_usage_error("calibrate", usage, "--overlap needs --tile");
    if (!given && o.pixel_threshold >= 0)
        return sn_cli_usage_error("calibrate", usage, "--pixel-threshold needs --threshold");
    if (!given && pos >= argc)
        return sn_cli_usage_error("calibrate", usage, "give held-out good images, with --data unless "
                                  "the model is a bundle (or --threshold T)");
    if (sn_dist_size(MPI_COMM_WORLD) > 1)
        return sn_cli_usage_error("calibrate", usage, "runs on one process (%d MPI ranks given)",
                                  sn_dist_size(MPI_COMM_WORLD));

    o.config_path = ca.config_path;
    o.sets = ca.sets;
    o.n_sets = ca.n_sets;
    o.inputs = (const char *const *)argv + pos;
    o.n_inputs = argc - pos;
    sn_calibrate_summary s;
    if (sn_calibrate_run(&o, &s) != SN_OK)
        return sn_cli_fail("calibrate");
    const sn_thresholds *t = &s.thresholds;
    printf("calibrate: %s: image threshold %.9g, pixel threshold %.9g (%s)\n", o.model, t->image,
           t->pixel, t->source);
    if (!s.model_is_bundle)
        fprintf(stderr, "calibrate: note: bundles made from %s before now lack these thresholds: "
                "make them again with `sernet bundle --model %s --data DATA.h5 --out BUNDLE.h5 "
                "--force`, or calibrate the bundle itself\n", o.model, o.model);
    return SN_EXIT_OK;
}
