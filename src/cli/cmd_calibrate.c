/* sernet calibrate: set a model's decision thresholds from held-out good images (a quantile of
 * their scores and map pixels) or as given numbers (docs/inspection.md). */
#include "cli/cli.h"
#include "sernet/bundle.h"
#include "sernet/dist.h"
#include "sernet/image.h"
#include "sernet/inspect.h"
#include "sernet/inspect_tile.h"
#include "sernet/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static int cmp_float_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* The (floor(fpr n) + 1)-th largest value: at most fpr n of the values lie above it. Sorts v. */
static double upper_quantile(float *v, size_t n, double fpr)
{
    qsort(v, n, sizeof *v, cmp_float_desc);
    size_t k = (size_t)floor(fpr * (double)n);
    return v[k < n ? k : n - 1];
}

int sn_cmd_calibrate(int argc, char **argv)
{
    sn_cli_config_args ca = {0};
    const char *model = NULL, *data = NULL, *category = NULL;
    double fpr = 0.01, thr_image = -1, thr_pixel = -1;
    int threads = SN_INSPECT_THREADS_CONFIG, pos = 0, rc = SN_EXIT_FAIL;
    int tile = 0, overlap = SN_TILE_OVERLAP_DEFAULT;
    const sn_cli_opt opts[] = {{"model", SN_OPT_STR, &model, 0, 0},
                               {"data", SN_OPT_STR, &data, 0, 0},
                               {"category", SN_OPT_STR, &category, 0, 0},
                               {"fpr", SN_OPT_DOUBLE, &fpr, 1e-9, 0.5},
                               {"threads", SN_OPT_INT, &threads, 1, 1024},
                               {"threshold", SN_OPT_DOUBLE, &thr_image, 1e-300, 1e300},
                               {"pixel-threshold", SN_OPT_DOUBLE, &thr_pixel, 0, 1e300},
                               {"tile", SN_OPT_FLAG, &tile, 0, 0},
                               {"overlap", SN_OPT_INT, &overlap, 0, SN_IMAGE_MAX_DIM},
                               SN_OPT_END};
    int prc = sn_cli_parse("calibrate", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    const int given = thr_image > 0;
    if (!model)
        return sn_cli_usage_error("calibrate", usage, "--model is required");
    if (given && (data || pos < argc))
        return sn_cli_usage_error("calibrate", usage, "--threshold stores numbers: no --data and no images");
    if (given && tile)
        return sn_cli_usage_error("calibrate", usage, "--tile scores images: not with --threshold");
    if (!tile && overlap != SN_TILE_OVERLAP_DEFAULT)
        return sn_cli_usage_error("calibrate", usage, "--overlap needs --tile");
    if (!given && thr_pixel >= 0)
        return sn_cli_usage_error("calibrate", usage, "--pixel-threshold needs --threshold");
    if (!given && pos >= argc)
        return sn_cli_usage_error("calibrate", usage, "give held-out good images, with --data unless "
                                  "the model is a bundle (or --threshold T)");
    if (sn_dist_size(MPI_COMM_WORLD) > 1)
        return sn_cli_usage_error("calibrate", usage, "runs on one process (%d MPI ranks given)",
                                  sn_dist_size(MPI_COMM_WORLD));

    sn_inspector *in = NULL;
    sn_cli_strlist files = {0};
    float *scores = NULL, *pixels = NULL, *map = NULL;
    size_t npix = 0, pix_cap = 0, map_cap = 0;
    sn_thresholds t;
    memset(&t, 0, sizeof t);
    t.set = 1;
    sn_inspect_options o;
    sn_inspect_options_init(&o);
    o.category = category;
    o.threads = threads;
    o.config_path = ca.config_path;
    o.sets = ca.sets;
    o.n_sets = ca.n_sets;
    if (given) {
        sn_model *m = NULL;
        if (sn_model_load(model, &m) != SN_OK) {
            sn_cli_fail("calibrate");
            goto done;
        }
        snprintf(t.fingerprint, sizeof t.fingerprint, "%s", sn_model_fingerprint(m));
        sn_model_free(m);
        t.image = thr_image;
        t.pixel = thr_pixel > 0 ? thr_pixel : 0;
        snprintf(t.source, sizeof t.source, "given (sernet calibrate --threshold)");
    } else {
        if (sn_inspector_open(model, data, &o, &in) != SN_OK) {
            sn_cli_fail("calibrate");
            goto done;
        }
        for (int a = pos; a < argc; a++) {
            struct stat sb;
            int bad = stat(argv[a], &sb) == 0 && S_ISDIR(sb.st_mode)
                          ? sn_cli_scan_images(argv[a], &files) != SN_OK
                          : sn_cli_strlist_push(&files, argv[a]) != 0;
            if (bad) {
                sn_cli_fail("calibrate");
                goto done;
            }
        }
        const int S = sn_inspector_image_size(in);
        const size_t px = (size_t)S * S;
        if (tile) {
            /* a bad --overlap is refused before any image is read */
            sn_tile_grid g;
            overlap = overlap == SN_TILE_OVERLAP_DEFAULT ? sn_tile_default_overlap(S) : overlap;
            if (sn_tile_grid_make(S, S, S, overlap, "--overlap", &g) != SN_OK) {
                sn_cli_fail("calibrate");
                goto done;
            }
        }
        scores = malloc(sizeof(float) * (size_t)(files.n ? files.n : 1));
        map = malloc(px * sizeof *map); /* grown for larger tiled images */
        map_cap = px;
        if (!scores || !map) {
            fprintf(stderr, "sernet calibrate: error: out of memory for %d images' scores\n", files.n);
            goto done;
        }
        for (int i = 0; i < files.n; i++) {
            /* the maps' pixels of all images, grown as images come (tiled maps have each image's
             * own size) */
            for (int pass = 0; pass < 2; pass++) {
                size_t need = px;
                sn_status st;
                if (tile) {
                    sn_tile_result t = {0};
                    t.map = map;
                    t.map_cap = map_cap;
                    st = sn_inspect_tiled_file(in, files.v[i], overlap, &t);
                    need = (size_t)t.width * t.height;
                    if (st == SN_EINVAL && pass == 0 && t.tiles > 0 && need > map_cap) {
                        sn_err_clear();
                        free(map);
                        map_cap = 0;
                        if (!(map = malloc(need * sizeof *map))) {
                            fprintf(stderr, "sernet calibrate: error: %s: out of memory for a %d x %d "
                                    "map\n", files.v[i], t.width, t.height);
                            goto done;
                        }
                        map_cap = need;
                        continue;
                    }
                    scores[i] = t.score;
                } else {
                    sn_inspect_result r = {0};
                    r.map = map;
                    st = sn_inspect_file(in, files.v[i], &r);
                    scores[i] = r.score;
                }
                if (st != SN_OK) {
                    /* every good image counts: a threshold from a subset would be silently different */
                    sn_cli_fail("calibrate");
                    goto done;
                }
                if (npix + need > pix_cap) {
                    size_t cap = SN_MAX(2 * pix_cap, npix + need);
                    float *grown = realloc(pixels, cap * sizeof *pixels);
                    if (!grown) {
                        fprintf(stderr, "sernet calibrate: error: out of memory for %d images' maps\n",
                                files.n);
                        goto done;
                    }
                    pixels = grown;
                    pix_cap = cap;
                }
                memcpy(pixels + npix, map, need * sizeof *map);
                npix += need;
                break;
            }
        }
        if (floor(fpr * files.n) < 1)
            fprintf(stderr, "sernet calibrate: warning: %d good image(s) at --fpr %g: the image "
                    "threshold is their largest score; %.0f or more images give a real %g quantile\n",
                    files.n, fpr, ceil(1 / fpr), 1 - fpr);
        t.image = upper_quantile(scores, (size_t)files.n, fpr);
        t.pixel = upper_quantile(pixels, npix, fpr);
        snprintf(t.fingerprint, sizeof t.fingerprint, "%s", sn_inspector_fingerprint(in));
        if (tile)
            snprintf(t.source, sizeof t.source, "fpr %g on %d held-out good images, tiled (overlap %d)",
                     fpr, files.n, overlap);
        else
            snprintf(t.source, sizeof t.source, "fpr %g on %d held-out good images", fpr, files.n);
        if (!(t.image > 0)) {
            fprintf(stderr, "sernet calibrate: error: the good images' threshold score is %g: an "
                    "image threshold must be > 0\n", t.image);
            goto done;
        }
    }
    if (sn_model_store_thresholds(model, &t) != SN_OK) {
        sn_cli_fail("calibrate");
        goto done;
    }
    printf("calibrate: %s: image threshold %.9g, pixel threshold %.9g (%s)\n", model, t.image,
           t.pixel, t.source);
    if (!sn_bundle_probe(model))
        fprintf(stderr, "calibrate: note: bundles made from %s before now lack these thresholds: "
                "make them again with `sernet bundle --model %s --data DATA.h5 --out BUNDLE.h5 "
                "--force`, or calibrate the bundle itself\n", model, model);
    rc = SN_EXIT_OK;
done:
    free(scores);
    free(pixels);
    free(map);
    sn_cli_strlist_free(&files);
    sn_inspector_close(in);
    return rc;
}
