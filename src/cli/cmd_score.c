/* sernet score: score image files that are in no dataset file, as an inspection station would,
 * through the inspection API (include/sernet/inspect.h; docs/inference.md "sernet score"). */
#include "cli/cli.h"
#include "sernet/fsutil.h"
#include "sernet/dist.h"
#include "sernet/image.h"
#include "sernet/inspect.h"
#include "sernet/inspect_tile.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

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

/* Map value -> 8-bit grey or a black-red-yellow-white ramp (r = 3t, g = 3t - 1, b = 3t - 2,
 * clamped, t = min(max(v / vmax, 0), 1)). */
static void to_pixels(const float *map, size_t n, double vmax, int heat, uint8_t *px)
{
    for (size_t i = 0; i < n; i++) {
        double t = map[i] / vmax;
        t = isfinite(t) ? (t < 0 ? 0 : (t > 1 ? 1 : t)) : 1;
        if (!heat) {
            px[i] = (uint8_t)lrint(255.0 * t);
            continue;
        }
        for (int c = 0; c < 3; c++) {
            double v = 3.0 * t - c;
            px[3 * i + c] = (uint8_t)lrint(255.0 * (v < 0 ? 0 : (v > 1 ? 1 : v)));
        }
    }
}

/* DIR/<stem>.png, with -2, -3, ... appended when an earlier image of this run had that name. */
static void map_name(const char *dir, const char *path, sn_cli_strlist *used, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char stem[1024];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem)
        *dot = '\0';
    for (int k = 1;; k++) {
        char cand[1100];
        if (k == 1)
            snprintf(cand, sizeof cand, "%s", stem);
        else
            snprintf(cand, sizeof cand, "%s-%d", stem, k);
        int taken = 0;
        for (int i = 0; i < used->n && !taken; i++)
            taken = strcmp(used->v[i], cand) == 0;
        if (!taken) {
            sn_cli_strlist_push(used, cand);
            snprintf(out, cap, "%s/%s.png", dir, cand);
            return;
        }
    }
}

/* The calling thread's recorded error as one line naming `path`, then cleared. */
static void error_line(const char *path, char *out, size_t cap)
{
    const char *m = sn_err_msg();
    if (strstr(m, path))
        snprintf(out, cap, "sernet score: error: %s\n", m);
    else
        snprintf(out, cap, "sernet score: error: %s: %s\n", path, m[0] ? m : "failed");
    sn_err_clear();
}

/* ---- the images, scored by --jobs threads, printed in the order given ------------------------ */

typedef struct {
    char line[5200]; /* the stdout line, or the stderr error line */
    int state;       /* 0 to do, 1 scored, 2 failed */
    int defect;      /* verdict defect */
    double wall;
} item;

typedef struct {
    sn_inspector *in;
    const sn_cli_strlist *files, *mapfiles;
    item *items;
    int S, heat, full_size, maps;
    double map_max;
    pthread_mutex_t lock;
    int next, printed;
    const sn_thresholds *thr; /* NULL: no thresholds */
    int json, defects;        /* defects: images judged defect (under lock) */
    int tile, overlap;        /* --tile, --overlap (SN_TILE_OVERLAP_DEFAULT) */
    int tile_jobs;            /* --tile: tiles of one image scored at once (--jobs) */
} run_ctx;

typedef struct {
    float *map, *full;
    uint8_t *px;
    size_t full_cap, px_cap;
} buffers;

/* --tile: score file i by tiling into r (scalars) and b->full (the stitched map, grown to the
 * image's size when needed). Returns SN_OK or the error (recorded). */
static sn_status score_tiled(run_ctx *c, buffers *b, const char *path, sn_inspect_result *r,
                             int *tiles)
{
    sn_tile_result t = {0};
    t.map = b->full;
    t.map_cap = b->full_cap;
    t.jobs = c->tile_jobs;
    sn_status st = sn_inspect_tiled_file(c->in, path, c->overlap, &t);
    if (st == SN_EINVAL && t.tiles > 0 && (size_t)t.width * t.height > b->full_cap) {
        /* the map buffer was too small for this image: grow it and score again */
        sn_err_clear();
        free(b->full);
        b->full_cap = 0;
        if (!(b->full = malloc((size_t)t.width * t.height * sizeof(float))))
            return SN_ERR(SN_ENOMEM, "%s: out of memory for a %d x %d map", path, t.width, t.height);
        b->full_cap = (size_t)t.width * t.height;
        t.map = b->full;
        t.map_cap = b->full_cap;
        st = sn_inspect_tiled_file(c->in, path, c->overlap, &t);
    }
    if (st != SN_OK)
        return st;
    r->score = t.score;
    r->neighbor = t.neighbor;
    r->neighbor_distance = t.neighbor_distance;
    r->repaired_pixels = t.repaired_pixels;
    r->width = t.width;
    r->height = t.height;
    *tiles = t.tiles;
    return SN_OK;
}

/* Score file i into its item's line (or error line), with this thread's buffers. Returns the
 * item's final state (1 scored, 2 failed), which the caller publishes under the lock. */
static int score_item(run_ctx *c, buffers *b, int i)
{
    item *it = &c->items[i];
    const char *path = c->files->v[i];
    const int S = c->S;
    sn_inspect_result r = {0};
    double t0 = sn_clock_wall();
    sn_status st;
    int tiles = 0;
    /* the map written and thresholded: S x S, or the image's size (--full-size, --tile) */
    const int big = c->full_size || c->tile;
    if (c->tile) {
        if (score_tiled(c, b, path, &r, &tiles) != SN_OK) {
            error_line(path, it->line, sizeof it->line);
            return 2;
        }
        goto scored;
    }
    r.map = b->map;
    if (c->full_size) {
        r.map_full = b->full;
        r.map_full_cap = b->full_cap;
    }
    st = sn_inspect_file(c->in, path, &r);
    if (st == SN_EINVAL && c->full_size && r.width > 0 && (size_t)r.width * r.height > b->full_cap) {
        /* the map buffer was too small for this image: grow it and score again */
        sn_err_clear();
        free(b->full);
        b->full_cap = (size_t)r.width * r.height;
        if (!(b->full = malloc(b->full_cap * sizeof(float)))) {
            b->full_cap = 0;
            snprintf(it->line, sizeof it->line, "sernet score: error: %s: out of memory for a %d x %d "
                     "map\n", path, r.width, r.height);
            return 2;
        }
        r.map_full = b->full;
        r.map_full_cap = b->full_cap;
        st = sn_inspect_file(c->in, path, &r);
    }
    if (st != SN_OK) {
        error_line(path, it->line, sizeof it->line);
        return 2;
    }
scored:
    it->wall = sn_clock_wall() - t0;
    const char *mapfile = c->maps ? c->mapfiles->v[i] : "";
    if (c->maps) {
        int w = big ? r.width : S, h = big ? r.height : S, ch = c->heat ? 3 : 1;
        size_t need = (size_t)w * h * ch;
        if (need > b->px_cap) {
            free(b->px);
            b->px_cap = 0;
            if (!(b->px = malloc(need))) {
                snprintf(it->line, sizeof it->line, "sernet score: error: %s: out of memory for its "
                         "map\n", path);
                return 2;
            }
            b->px_cap = need;
        }
        to_pixels(big ? b->full : b->map, (size_t)w * h, c->map_max, c->heat, b->px);
        sn_image img = {w, h, ch, b->px};
        if (sn_image_write_png(mapfile, &img) != SN_OK) {
            error_line(path, it->line, sizeof it->line);
            return 2;
        }
    }
    char defname[4400] = "";
    int64_t defect_px = 0;
    if (c->thr) {
        it->defect = r.score > c->thr->image; /* NaN: not above */
        const float *m = big ? b->full : b->map;
        int w = big ? r.width : S, h = big ? r.height : S;
        for (size_t k = 0; k < (size_t)w * h; k++)
            defect_px += m[k] > c->thr->pixel;
        if (c->maps && c->thr->pixel > 0) {
            /* the defect mask beside the map: <stem>_defect.png */
            snprintf(defname, sizeof defname, "%.*s_defect.png", (int)(strlen(mapfile) - 4), mapfile);
            for (size_t k = 0; k < (size_t)w * h; k++)
                b->px[k] = m[k] > c->thr->pixel ? 255 : 0;
            sn_image img = {w, h, 1, b->px};
            if (sn_image_write_png(defname, &img) != SN_OK) {
                error_line(path, it->line, sizeof it->line);
                return 2;
            }
        }
    }
    const double norm = c->thr ? sn_thresholds_normalise(c->thr, r.score) : NAN;
    const char *nb = sn_inspector_train_name(c->in, r.neighbor);
    if (c->json) {
        char jp[8400], jn[2100], jm[8400];
        sn_cli_json_string(path, jp, sizeof jp);
        sn_cli_json_string(nb, jn, sizeof jn);
        sn_cli_json_string(mapfile, jm, sizeof jm);
        int n = snprintf(it->line, sizeof it->line, "{\"path\": %s, \"score\": %.9g, \"neighbour\": %s, "
                         "\"hamming\": %d, \"repaired_pixels\": %lld", jp, (double)r.score, jn,
                         r.neighbor_distance, (long long)r.repaired_pixels);
        if (c->thr && n > 0 && (size_t)n < sizeof it->line)
            n += snprintf(it->line + n, sizeof it->line - (size_t)n, ", \"normalized_score\": %.9g, "
                          "\"verdict\": \"%s\", \"defect_pixels\": %lld", norm,
                          it->defect ? "defect" : "good", (long long)defect_px);
        if (c->maps && n > 0 && (size_t)n < sizeof it->line)
            n += snprintf(it->line + n, sizeof it->line - (size_t)n, ", \"map\": %s", jm);
        if (c->tile && n > 0 && (size_t)n < sizeof it->line)
            n += snprintf(it->line + n, sizeof it->line - (size_t)n, ", \"width\": %d, \"height\": %d, "
                          "\"tiles\": %d", r.width, r.height, tiles);
        if (n > 0 && (size_t)n < sizeof it->line)
            snprintf(it->line + n, sizeof it->line - (size_t)n, "}\n");
        return 1;
    }
    char verdict[64] = "";
    if (c->thr)
        snprintf(verdict, sizeof verdict, "\t%.6g\t%s", norm, it->defect ? "defect" : "good");
    snprintf(it->line, sizeof it->line, "%s\t%.9g\t%s\t%d\t%lld%s%s%s\n", path, (double)r.score, nb,
             r.neighbor_distance, (long long)r.repaired_pixels, verdict, c->maps ? "\t" : "", mapfile);
    return 1;
}

static void *worker_main(void *p)
{
    run_ctx *c = p;
    buffers b = {0};
    const int big = c->full_size || c->tile;
    b.full_cap = big ? (size_t)c->S * c->S : 0; /* grown when an image is larger */
    b.map = malloc((size_t)c->S * c->S * sizeof(float));
    b.full = big ? malloc(b.full_cap * sizeof(float)) : NULL;
    int ok = b.map && (!big || b.full);
    for (;;) {
        pthread_mutex_lock(&c->lock);
        int i = c->next < c->files->n ? c->next++ : -1;
        pthread_mutex_unlock(&c->lock);
        if (i < 0)
            break;
        int state = 2;
        if (ok)
            state = score_item(c, &b, i);
        else
            snprintf(c->items[i].line, sizeof c->items[i].line, "sernet score: error: %s: out of "
                     "memory\n", c->files->v[i]);
        /* publish, then print every finished item whose predecessors are printed (input order) */
        pthread_mutex_lock(&c->lock);
        c->items[i].state = state;
        while (c->printed < c->files->n && c->items[c->printed].state != 0) {
            item *it = &c->items[c->printed++];
            fputs(it->line, it->state == 1 ? stdout : stderr);
            fflush(it->state == 1 ? stdout : stderr);
        }
        pthread_mutex_unlock(&c->lock);
    }
    free(b.map);
    free(b.full);
    free(b.px);
    return NULL;
}

int sn_cmd_score(int argc, char **argv)
{
    sn_cli_config_args ca = {0};
    const char *model = NULL, *data = NULL, *category = NULL, *maps = NULL;
    int threads = SN_INSPECT_THREADS_CONFIG, jobs = 1, heat = 0, full_size = 0, pos = 0;
    double map_max = 1.0;
    int json = 0, fail_on_defect = 0, tile = 0, overlap = SN_TILE_OVERLAP_DEFAULT;
    const sn_cli_opt opts[] = {{"model", SN_OPT_STR, &model, 0, 0},
                               {"data", SN_OPT_STR, &data, 0, 0},
                               {"category", SN_OPT_STR, &category, 0, 0},
                               {"threads", SN_OPT_INT, &threads, 1, 1024},
                               {"jobs", SN_OPT_INT, &jobs, 1, 256},
                               {"maps", SN_OPT_STR, &maps, 0, 0},
                               {"map-max", SN_OPT_DOUBLE, &map_max, 1e-30, 1e30},
                               {"heat", SN_OPT_FLAG, &heat, 0, 0},
                               {"full-size", SN_OPT_FLAG, &full_size, 0, 0},
                               {"json", SN_OPT_FLAG, &json, 0, 0},
                               {"fail-on-defect", SN_OPT_FLAG, &fail_on_defect, 0, 0},
                               {"tile", SN_OPT_FLAG, &tile, 0, 0},
                               {"overlap", SN_OPT_INT, &overlap, 0, SN_IMAGE_MAX_DIM},
                               SN_OPT_END};
    int prc = sn_cli_parse("score", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (!model)
        return sn_cli_usage_error("score", usage, "--model is required (and --data, unless the model "
                                  "is a bundle)");
    if (pos >= argc)
        return sn_cli_usage_error("score", usage, "no image or folder given");
    if ((heat || full_size) && !maps)
        return sn_cli_usage_error("score", usage, "--heat and --full-size need --maps DIR");
    if (overlap != SN_TILE_OVERLAP_DEFAULT && !tile)
        return sn_cli_usage_error("score", usage, "--overlap needs --tile");
    if (tile && full_size)
        return sn_cli_usage_error("score", usage, "--full-size and --tile: a tiled map is always at the "
                                  "image's size; drop --full-size");
    if (sn_dist_size(MPI_COMM_WORLD) > 1)
        return sn_cli_usage_error("score", usage, "runs on one process (%d MPI ranks given): use "
                                  "--threads or --jobs, or `sernet infer` for a dataset on many ranks",
                                  sn_dist_size(MPI_COMM_WORLD));

    int failed = 0;
    sn_cli_strlist files = {0}, used = {0}, mapfiles = {0};
    sn_inspector *in = NULL;
    item *items = NULL;
    pthread_t *th = NULL;
    char msg[5200];

    sn_inspect_options o;
    sn_inspect_options_init(&o);
    o.category = category;
    o.threads = threads;
    o.max_workers = jobs;
    o.config_path = ca.config_path;
    o.sets = ca.sets;
    o.n_sets = ca.n_sets;
    if (sn_inspector_open(model, data, &o, &in) != SN_OK)
        return sn_cli_fail("score");
    const int S = sn_inspector_image_size(in);
    if (tile) {
        /* a bad --overlap is refused before any image is read */
        const int ov = overlap == SN_TILE_OVERLAP_DEFAULT ? sn_tile_default_overlap(S) : overlap;
        sn_tile_grid g;
        if (sn_tile_grid_make(S, S, S, ov, "--overlap", &g) != SN_OK) {
            fprintf(stderr, "sernet score: error: %s (the tiles are the model's %d x %d)\n", sn_err_msg(),
                    S, S);
            sn_err_clear();
            failed = 1;
            goto done;
        }
        overlap = ov;
    }
    if (sn_inspector_calib_warning(in)[0])
        fprintf(stderr, "sernet score: warning: %s: %s\n", model, sn_inspector_calib_warning(in));
    const sn_thresholds *thr = sn_inspector_thresholds(in);
    if (!thr->set) {
        fprintf(stderr, "sernet score: warning: %s has no decision thresholds: raw scores only; set "
                "them with `sernet calibrate --model %s%s%s GOOD_IMAGES...` (held-out good "
                "images), `sernet eval --store-thresholds` or `sernet calibrate --threshold T`\n",
                model, model, data ? " --data " : "", data ? data : "");
        if (fail_on_defect) {
            fprintf(stderr, "sernet score: error: --fail-on-defect needs thresholds\n");
            failed = 1;
            goto done;
        }
        thr = NULL;
    } else if (strcmp(thr->fingerprint, sn_inspector_fingerprint(in)) != 0) {
        fprintf(stderr, "sernet score: warning: %s: the thresholds were set with model fingerprint %s, "
                "this run has %s (another repair_threshold or map setting?): verdicts may not hold\n",
                model, thr->fingerprint, sn_inspector_fingerprint(in));
    }
    if (thr && strncmp(thr->source, "fpr ", 4) == 0 && (strstr(thr->source, ", tiled") != NULL) != tile)
        fprintf(stderr, "sernet score: warning: %s: the thresholds were calibrated on %s images (%s), "
                "this run scores %s: calibrate again %s --tile\n", model,
                tile ? "whole (resized)" : "tiled", thr->source, tile ? "tiles" : "whole resized images",
                tile ? "with" : "without");
    if (maps && sn_mkdirs(maps) != SN_OK) {
        fprintf(stderr, "sernet score: error: %s: cannot create the maps folder: %s\n", maps,
                sn_err_msg());
        sn_err_clear();
        failed = 1;
        goto done;
    }
    for (int a = pos; a < argc; a++) {
        struct stat sb;
        if (stat(argv[a], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (sn_cli_scan_images(argv[a], &files) != SN_OK) {
                error_line(argv[a], msg, sizeof msg);
                fputs(msg, stderr);
                failed = 1;
            }
        } else if (sn_cli_strlist_push(&files, argv[a])) {
            fprintf(stderr, "sernet score: error: out of memory\n");
            failed = 1;
            goto done;
        }
    }
    /* map file names fixed in input order, so they do not depend on which job finishes first */
    for (int i = 0; maps && i < files.n; i++) {
        char name[4400];
        map_name(maps, files.v[i], &used, name, sizeof name);
        if (sn_cli_strlist_push(&mapfiles, name)) {
            fprintf(stderr, "sernet score: error: out of memory\n");
            failed = 1;
            goto done;
        }
    }
    items = calloc((size_t)(files.n ? files.n : 1), sizeof *items);
    th = calloc((size_t)jobs, sizeof *th);
    if (!items || !th) {
        fprintf(stderr, "sernet score: error: out of memory\n");
        failed = 1;
        goto done;
    }
    run_ctx c = {in, &files, &mapfiles, items, S, heat, full_size, maps != NULL, map_max,
                 PTHREAD_MUTEX_INITIALIZER, 0, 0, thr, json, 0, tile, overlap, jobs};
    double t0 = sn_clock_wall(), c0 = sn_clock_cpu();
    int started = 0;
    /* --tile: the images one after the other, each with --jobs tiles at once */
    for (int j = 1; j < SN_MIN(tile ? 1 : jobs, files.n); j++) {
        if (pthread_create(&th[j], NULL, worker_main, &c) != 0) {
            fprintf(stderr, "sernet score: warning: could only start %d of %d jobs\n", j, jobs);
            break;
        }
        started = j;
    }
    worker_main(&c); /* this thread is job 0 */
    for (int j = 1; j <= started; j++)
        pthread_join(th[j], NULL);
    double secs = sn_clock_wall() - t0, cpu = sn_clock_cpu() - c0, wall = 0;
    int scored = 0, bad = 0, defects = 0;
    for (int i = 0; i < files.n; i++) {
        defects += items[i].state == 1 && items[i].defect;
        scored += items[i].state == 1;
        bad += items[i].state != 1;
        wall += items[i].state == 1 ? items[i].wall : 0;
    }
    failed |= bad > 0;
    fprintf(stderr, "score: %d image(s) scored, %d failed, in %.2f s (%.2f images/s, %d job(s) x %d "
            "OpenMP thread(s), S = %d); per image %.2f ms wall (mean call), %.2f ms CPU (process CPU "
            "time / images)\n",
            scored, bad, secs, secs > 0 ? scored / secs : 0.0, jobs, sn_inspector_threads(in), S,
            scored ? 1e3 * wall / scored : 0.0, scored ? 1e3 * cpu / scored : 0.0);
    if (thr)
        fprintf(stderr, "score: %d defect(s), %d good, at image threshold %.6g (%s)\n", defects,
                scored - defects, thr->image, thr->source);
done:
    free(items);
    free(th);
    sn_cli_strlist_free(&files);
    sn_cli_strlist_free(&used);
    sn_cli_strlist_free(&mapfiles);
    sn_inspector_close(in);
    if (failed)
        return SN_EXIT_FAIL;
    return fail_on_defect && defects > 0 ? SN_EXIT_DEFECT : SN_EXIT_OK;
}
