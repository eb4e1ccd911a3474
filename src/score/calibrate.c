/* The calibrate stage (sernet/score.h): a model's decision thresholds from held-out good images
 * (a quantile of their scores and map pixels, scored exactly as the score stage scores) or as
 * given numbers (docs/inspection.md). */
#include "sernet/score.h"
#include "sernet/bundle.h"
#include "sernet/image.h"
#include "sernet/inspect.h"
#include "sernet/inspect_tile.h"
#include "sernet/model.h"
#include "sernet/strlist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

void sn_calibrate_options_init(sn_calibrate_options *o)
{
    memset(o, 0, sizeof *o);
    o->fpr = 0.01;
    o->threads = SN_INSPECT_THREADS_CONFIG;
    o->overlap = SN_TILE_OVERLAP_DEFAULT;
    o->threshold = -1;
    o->pixel_threshold = -1;
}

/* Score the good images of o into t (image and pixel quantiles, fingerprint, source). */
static sn_status from_images(const sn_calibrate_options *o, sn_thresholds *t, int *n_images)
{
    sn_status status = SN_OK;
    sn_inspector *in = NULL;
    sn_strlist files = {0};
    float *scores = NULL, *pixels = NULL, *map = NULL;
    size_t npix = 0, pix_cap = 0, map_cap = 0;
    int overlap = o->overlap;
    const double fpr = o->fpr;
    sn_inspect_options io;
    sn_inspect_options_init(&io);
    io.category = o->category;
    io.threads = o->threads;
    io.config_path = o->config_path;
    io.sets = o->sets;
    io.n_sets = o->n_sets;
    SN_TRY(sn_inspector_open(o->model, o->data, &io, &in));
    for (int a = 0; a < o->n_inputs; a++) {
        struct stat sb;
        if (stat(o->inputs[a], &sb) == 0 && S_ISDIR(sb.st_mode))
            SN_TRY(sn_strlist_scan_images(o->inputs[a], &files));
        else if (sn_strlist_push(&files, o->inputs[a]) != 0)
            SN_FAIL(SN_ENOMEM, "out of memory for the list of images");
    }
    const int S = sn_inspector_image_size(in);
    const size_t px = (size_t)S * S;
    if (o->tile) {
        /* a bad --overlap is refused before any image is read */
        sn_tile_grid g;
        overlap = overlap == SN_TILE_OVERLAP_DEFAULT ? sn_tile_default_overlap(S) : overlap;
        SN_TRY(sn_tile_grid_make(S, S, S, overlap, "--overlap", &g));
    }
    scores = malloc(sizeof(float) * (size_t)(files.n ? files.n : 1));
    map = malloc(px * sizeof *map); /* grown for larger tiled images */
    map_cap = px;
    if (!scores || !map)
        SN_FAIL(SN_ENOMEM, "out of memory for %d images' scores", files.n);
    for (int i = 0; i < files.n; i++) {
        /* the maps' pixels of all images, grown as images come (tiled maps have each image's
         * own size) */
        for (int pass = 0; pass < 2; pass++) {
            size_t need = px;
            sn_status st;
            if (o->tile) {
                sn_tile_result tr = {0};
                tr.map = map;
                tr.map_cap = map_cap;
                st = sn_inspect_tiled_file(in, files.v[i], overlap, &tr);
                need = (size_t)tr.width * tr.height;
                if (st == SN_EINVAL && pass == 0 && tr.tiles > 0 && need > map_cap) {
                    sn_err_clear();
                    free(map);
                    map_cap = 0;
                    if (!(map = malloc(need * sizeof *map)))
                        SN_FAIL(SN_ENOMEM, "%s: out of memory for a %d x %d map", files.v[i], tr.width,
                                tr.height);
                    map_cap = need;
                    continue;
                }
                scores[i] = tr.score;
            } else {
                sn_inspect_result r = {0};
                r.map = map;
                st = sn_inspect_file(in, files.v[i], &r);
                scores[i] = r.score;
            }
            /* every good image counts: a threshold from a subset would be silently different */
            SN_TRY(st);
            if (npix + need > pix_cap) {
                size_t cap = SN_MAX(2 * pix_cap, npix + need);
                float *grown = realloc(pixels, cap * sizeof *pixels);
                if (!grown)
                    SN_FAIL(SN_ENOMEM, "out of memory for %d images' maps", files.n);
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
    t->image = upper_quantile(scores, (size_t)files.n, fpr);
    t->pixel = upper_quantile(pixels, npix, fpr);
    snprintf(t->fingerprint, sizeof t->fingerprint, "%s", sn_inspector_fingerprint(in));
    if (o->tile)
        snprintf(t->source, sizeof t->source, "fpr %g on %d held-out good images, tiled (overlap %d)",
                 fpr, files.n, overlap);
    else
        snprintf(t->source, sizeof t->source, "fpr %g on %d held-out good images", fpr, files.n);
    if (!(t->image > 0))
        SN_FAIL(SN_EINVAL, "the good images' threshold score is %g: an image threshold must be > 0",
                t->image);
    *n_images = files.n;
done:
    free(scores);
    free(pixels);
    free(map);
    sn_strlist_free(&files);
    sn_inspector_close(in);
    return status;
}

sn_status sn_calibrate_run(const sn_calibrate_options *o, sn_calibrate_summary *summary)
{
    sn_status status = SN_OK;
    sn_thresholds *t = &summary->thresholds;
    const int given = o->threshold > 0;
    memset(summary, 0, sizeof *summary);
    t->set = 1;
    if (!o->model || (given && (o->data || o->n_inputs || o->tile)) || (!given && o->n_inputs < 1) ||
        (!given && o->pixel_threshold >= 0) || (!o->tile && o->overlap != SN_TILE_OVERLAP_DEFAULT) ||
        (!given && !(o->fpr > 0 && o->fpr <= 0.5)))
        SN_FAIL(SN_EINVAL, "calibrate: needs a model and either good images (fpr in (0, 0.5]; overlap "
                "only with tile) or a threshold > 0 (no data, images or tile)");
    if (given) {
        sn_model *m = NULL;
        SN_TRY(sn_model_load(o->model, &m));
        snprintf(t->fingerprint, sizeof t->fingerprint, "%s", sn_model_fingerprint(m));
        sn_model_free(m);
        t->image = o->threshold;
        t->pixel = o->pixel_threshold > 0 ? o->pixel_threshold : 0;
        snprintf(t->source, sizeof t->source, "given (sernet calibrate --threshold)");
    } else {
        SN_TRY(from_images(o, t, &summary->n_images));
    }
    SN_TRY(sn_model_store_thresholds(o->model, t));
    summary->model_is_bundle = sn_bundle_probe(o->model);
done:
    return status;
}
