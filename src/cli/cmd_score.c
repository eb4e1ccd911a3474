/* sernet score: the options of sn_score_run (src/score/, sernet/score.h) from the command line;
 * each image's line (tab-separated or JSON) and the summary printed. */
#include "cli/cli.h"
#include "sernet/dist.h"
#include "sernet/image.h"
#include "sernet/score.h"
#include "sernet/tile.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sernet score --model MODEL.h5 --data DATA.h5 [--category NAME] [--threads N] [--jobs J]\n"
    "                    [--maps DIR] [--heat] [--map-max V] [--full-size] [--json]\n"
    "                    [--fail-on-defect] [--tile [--overlap PX]] [--config FILE] [--set key=value]...\n"
    "                    IMAGE_OR_FOLDER...\n"
    "       sernet score --model BUNDLE.h5 [the same options, no --data] IMAGE_OR_FOLDER...\n"
    "Score image files (PNG, JPEG or BMP, any size, grey or colour) with a trained model, as an\n"
    "inspection station would: each image is converted to RGB and resized to the model's size\n"
    "exactly as `sernet ingest` does, repaired with its most similar training image of DATA.h5\n"
    "(the dataset the model was trained on; its hash index is needed) and scored. A bundle\n"
    "(`sernet bundle`) carries those training images and replaces the pair. A folder\n"
    "stands for its .png .jpg .jpeg .bmp files (not recursive), in byte order of their names.\n"
    "Prints one line per scored image, tab-separated:\n"
    "  path  score  neighbour (training image name)  hamming distance  repaired pixels\n"
    "  [normalised score  verdict]  [map]\n"
    "where a model with decision thresholds (`sernet calibrate`, `sernet eval --store-thresholds`)\n"
    "adds the score divided by the image threshold (1.0 at the threshold) and good or defect\n"
    "(normalised score > 1); without thresholds a warning says how to set them.\n"
    "An image that cannot be read or decoded gets an error line on stderr naming it; the others\n"
    "are still scored and the exit status is 1. A last line on stderr gives the count and the\n"
    "throughput, the mean wall time of one image (decoding to score) and the process CPU time\n"
    "per image.\n"
    "  --category NAME  dataset category of the training images (default: the model's)\n"
    "  --threads N      OpenMP threads per image (default: the threads key, as sernet infer)\n"
    "  --jobs J         score J images at once, in J threads sharing one model (default 1);\n"
    "                   lines still come in the order of the arguments. With --tile: J tiles\n"
    "                   of one image at once, the images one after the other\n"
    "  --maps DIR       write each anomaly map as DIR/<file name stem>.png (created if needed),\n"
    "                   grey level = round(255 * min(map / V, 1)); the map file is the 6th column\n"
    "  --map-max V      the map value drawn white (default 1)\n"
    "  --heat           colour the maps black-red-yellow-white instead of grey\n"
    "  --full-size      write maps resized to each image's own size (default: S x S)\n"
    "  --json           one JSON object per image instead of the tab-separated line (keys path,\n"
    "                   score, neighbour, hamming, repaired_pixels, and normalized_score,\n"
    "                   verdict, defect_pixels with thresholds, map with --maps)\n"
    "  --fail-on-defect exit status 3 when an image is a defect (1 still means a failure);\n"
    "                   needs thresholds\n"
    "  --tile           large images (line-scan frames, 2048 x 2048, ...): no resizing; the image is\n"
    "                   cut at its native resolution into S x S tiles (S = the model's size) that\n"
    "                   overlap by at least --overlap pixels, the last row and column of tiles\n"
    "                   aligned to the image's edges; each tile is scored with its own most\n"
    "                   similar training image, the tile maps are stitched (overlaps averaged) and\n"
    "                   the score is the stitched map's maximum. Columns: neighbour and distance\n"
    "                   of the tile with the highest own score, repaired pixels of the whole image;\n"
    "                   --maps are at the image's size; --json adds width, height and tiles.\n"
    "                   Images smaller than S x S are refused (score them without --tile)\n"
    "  --overlap PX     least overlap of neighbouring tiles, a multiple of 16 below S (default S/4\n"
    "                   rounded down to a multiple of 16: 64 for S = 256, 0 for S < 64)\n"
    "With --maps and a pixel threshold, DIR/<stem>_defect.png holds the defect mask (map above\n"
    "the pixel threshold, white).\n"
    "--config/--set change what may change after training (repair_threshold, map keys, threads).\n";

/* One line per input, in input order: the tab-separated or JSON line on stdout, or the error on
 * stderr. */
static void print_item(void *ctx, const sn_score_item *r)
{
    const int json = *(const int *)ctx;
    char line[5200];
    if (!r->ok) {
        fprintf(stderr, "sernet score: error: %s\n", r->error);
        fflush(stderr);
        return;
    }
    if (json) {
        char jp[8400], jn[2100], jm[8400];
        sn_cli_json_string(r->path, jp, sizeof jp);
        sn_cli_json_string(r->neighbour, jn, sizeof jn);
        sn_cli_json_string(r->map, jm, sizeof jm);
        int n = snprintf(line, sizeof line, "{\"path\": %s, \"score\": %.9g, \"neighbour\": %s, "
                         "\"hamming\": %d, \"repaired_pixels\": %lld", jp, (double)r->score, jn,
                         r->hamming, (long long)r->repaired_pixels);
        if (r->has_verdict && n > 0 && (size_t)n < sizeof line)
            n += snprintf(line + n, sizeof line - (size_t)n, ", \"normalized_score\": %.9g, "
                          "\"verdict\": \"%s\", \"defect_pixels\": %lld", r->normalized_score,
                          r->defect ? "defect" : "good", (long long)r->defect_pixels);
        if (r->map[0] && n > 0 && (size_t)n < sizeof line)
            n += snprintf(line + n, sizeof line - (size_t)n, ", \"map\": %s", jm);
        if (r->tiles && n > 0 && (size_t)n < sizeof line)
            n += snprintf(line + n, sizeof line - (size_t)n, ", \"width\": %d, \"height\": %d, "
                          "\"tiles\": %d", r->width, r->height, r->tiles);
        if (n > 0 && (size_t)n < sizeof line)
            snprintf(line + n, sizeof line - (size_t)n, "}\n");
    } else {
        char verdict[64] = "";
        if (r->has_verdict)
            snprintf(verdict, sizeof verdict, "\t%.6g\t%s", r->normalized_score, r->defect ? "defect" : "good");
        snprintf(line, sizeof line, "%s\t%.9g\t%s\t%d\t%lld%s%s%s\n", r->path, (double)r->score, r->neighbour,
                 r->hamming, (long long)r->repaired_pixels, verdict, r->map[0] ? "\t" : "", r->map);
    }
    fputs(line, stdout);
    fflush(stdout);
}

int sn_cmd_score(int argc, char **argv)
{
    sn_cli_config_args ca = {0};
    sn_score_options o;
    sn_score_options_init(&o);
    int pos = 0, json = 0, fail_on_defect = 0;
    const sn_cli_opt opts[] = {{"model", SN_OPT_STR, &o.model, 0, 0},
                               {"data", SN_OPT_STR, &o.data, 0, 0},
                               {"category", SN_OPT_STR, &o.category, 0, 0},
                               {"threads", SN_OPT_INT, &o.threads, 1, 1024},
                               {"jobs", SN_OPT_INT, &o.jobs, 1, 256},
                               {"maps", SN_OPT_STR, &o.maps_dir, 0, 0},
                               {"map-max", SN_OPT_DOUBLE, &o.map_max, 1e-30, 1e30},
                               {"heat", SN_OPT_FLAG, &o.heat, 0, 0},
                               {"full-size", SN_OPT_FLAG, &o.full_size, 0, 0},
                               {"json", SN_OPT_FLAG, &json, 0, 0},
                               {"fail-on-defect", SN_OPT_FLAG, &fail_on_defect, 0, 0},
                               {"tile", SN_OPT_FLAG, &o.tile, 0, 0},
                               {"overlap", SN_OPT_INT, &o.overlap, 0, SN_IMAGE_MAX_DIM},
                               SN_OPT_END};
    int prc = sn_cli_parse("score", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (!o.model)
        return sn_cli_usage_error("score", usage, "--model is required (and --data, unless the model "
                                  "is a bundle)");
    if (pos >= argc)
        return sn_cli_usage_error("score", usage, "no image or folder given");
    if ((o.heat || o.full_size) && !o.maps_dir)
        return sn_cli_usage_error("score", usage, "--heat and --full-size need --maps DIR");
    if (o.overlap != SN_TILE_OVERLAP_DEFAULT && !o.tile)
        return sn_cli_usage_error("score", usage, "--overlap needs --tile");
    if (o.tile && o.full_size)
        return sn_cli_usage_error("score", usage, "--full-size and --tile: a tiled map is always at the "
                                  "image's size; drop --full-size");
    if (sn_dist_size(MPI_COMM_WORLD) > 1)
        return sn_cli_usage_error("score", usage, "runs on one process (%d MPI ranks given): use "
                                  "--threads or --jobs, or `sernet infer` for a dataset on many ranks",
                                  sn_dist_size(MPI_COMM_WORLD));

    o.require_thresholds = fail_on_defect;
    o.config_path = ca.config_path;
    o.sets = ca.sets;
    o.n_sets = ca.n_sets;
    o.inputs = (const char *const *)argv + pos;
    o.n_inputs = argc - pos;
    o.on_item = print_item;
    o.ctx = &json;
    sn_score_summary s;
    if (sn_score_run(&o, &s) != SN_OK)
        return sn_cli_fail("score");
    fprintf(stderr, "score: %d image(s) scored, %d failed, in %.2f s (%.2f images/s, %d job(s) x %d "
            "OpenMP thread(s), S = %d); per image %.2f ms wall (mean call), %.2f ms CPU (process CPU "
            "time / images)\n",
            s.scored, s.failed, s.seconds, s.seconds > 0 ? s.scored / s.seconds : 0.0, s.jobs, s.threads,
            s.size, s.scored ? 1e3 * s.wall_sum / s.scored : 0.0, s.scored ? 1e3 * s.cpu / s.scored : 0.0);
    if (s.has_thresholds)
        fprintf(stderr, "score: %d defect(s), %d good, at image threshold %.6g (%s)\n", s.defects,
                s.scored - s.defects, s.thresholds.image, s.thresholds.source);
    if (s.failed || s.failed_folders)
        return SN_EXIT_FAIL;
    return fail_on_defect && s.defects > 0 ? SN_EXIT_DEFECT : SN_EXIT_OK;
}
