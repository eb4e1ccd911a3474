/* The score stage (sernet/score.h): score image files that are in no dataset file, as an
 * inspection station would, through the inspection API (include/sernet/inspect.h;
 * docs/inference.md "sernet score"). --jobs threads share one inspector; results are handed to
 * the caller in the order of the inputs. */
#include "sernet/score.h"
#include "sernet/fsutil.h"
#include "sernet/image.h"
#include "sernet/inspect.h"
#include "sernet/inspect_tile.h"
#include "sernet/repair.h"
#include "sernet/strlist.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
static void map_name(const char *dir, const char *path, sn_strlist *used, char *out, size_t cap)
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
            if (sn_strlist_push(used, cand)) { /* out of memory: the name may repeat later */ }
            snprintf(out, cap, "%s/%s.png", dir, cand);
            return;
        }
    }
}

/* The calling thread's recorded error as a message naming `path`, then cleared. */
static void error_line(const char *path, char *out, size_t cap)
{
    const char *m = sn_err_msg();
    if (strstr(m, path))
        snprintf(out, cap, "%s", m);
    else
        snprintf(out, cap, "%s: %s", path, m[0] ? m : "failed");
    sn_err_clear();
}

/* ---- the images, scored by --jobs threads, printed in the order given ------------------------ */

typedef struct {
    sn_score_item r; /* what on_item gets */
    char line[5200]; /* the error message when failed */
    int state;       /* 0 to do, 1 scored, 2 failed */
    int defect;      /* verdict defect */
    double wall;
} item;

typedef struct {
    sn_inspector *in;
    const sn_score_options *o;
    const sn_strlist *files, *mapfiles;
    item *items;
    int S, heat, full_size, maps;
    double map_max;
    pthread_mutex_t lock;
    int next, printed;
    const sn_thresholds *thr; /* NULL: no thresholds */
    int defects;              /* images judged defect (under lock) */
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

/* Score file i into its item's result (or error message), with this thread's buffers. Returns the
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
            snprintf(it->line, sizeof it->line, "%s: out of memory for a %d x %d map", path, r.width,
                     r.height);
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
                snprintf(it->line, sizeof it->line, "%s: out of memory for its map", path);
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
    sn_score_item *res = &it->r;
    res->score = r.score;
    res->neighbour = sn_inspector_train_name(c->in, r.neighbor);
    res->hamming = r.neighbor_distance;
    res->repaired_pixels = r.repaired_pixels;
    res->has_verdict = c->thr != NULL;
    res->normalized_score = c->thr ? sn_thresholds_normalise(c->thr, r.score) : NAN;
    res->defect = it->defect;
    res->defect_pixels = defect_px;
    res->map = mapfile;
    res->width = r.width;
    res->height = r.height;
    res->tiles = tiles;
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
            snprintf(c->items[i].line, sizeof c->items[i].line, "%s: out of memory", c->files->v[i]);
        /* publish, then print every finished item whose predecessors are printed (input order) */
        pthread_mutex_lock(&c->lock);
        c->items[i].state = state;
        while (c->printed < c->files->n && c->items[c->printed].state != 0) {
            const int k = c->printed++;
            item *it = &c->items[k];
            it->r.index = k;
            it->r.path = c->files->v[k];
            it->r.ok = it->state == 1;
            it->r.error = it->state == 1 ? "" : it->line;
            it->r.wall = it->wall;
            if (c->o->on_item)
                c->o->on_item(c->o->ctx, &it->r);
        }
        pthread_mutex_unlock(&c->lock);
    }
    free(b.map);
    free(b.full);
    free(b.px);
    return NULL;
}

void sn_score_options_init(sn_score_options *o)
{
    memset(o, 0, sizeof *o);
    o->threads = SN_INSPECT_THREADS_CONFIG;
    o->jobs = 1;
    o->map_max = 1.0;
    o->overlap = SN_TILE_OVERLAP_DEFAULT;
}

/* The recorded error replaced by before + its message + after (a recorded message is kept until
 * cleared, so it is cleared first). */
static sn_status wrap_error(sn_status st, const char *before, const char *after)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", sn_err_msg());
    sn_err_clear();
    return SN_ERR(st, "%s%s%s", before, msg, after);
}

sn_status sn_score_run(const sn_score_options *o, sn_score_summary *summary)
{
    sn_status status = SN_OK;
    sn_strlist files = {0}, used = {0}, mapfiles = {0};
    sn_inspector *in = NULL;
    item *items = NULL;
    pthread_t *th = NULL;
    char msg[5200];
    int overlap = o->overlap;
    const int jobs = o->jobs;
    memset(summary, 0, sizeof *summary);
    if (!o->model || jobs < 1 || !(o->map_max > 0) || (o->tile && o->full_size) ||
        (!o->tile && overlap != SN_TILE_OVERLAP_DEFAULT) || o->n_inputs < 0 || (o->n_inputs && !o->inputs))
        SN_FAIL(SN_EINVAL, "score: needs a model, jobs >= 1, map_max > 0, overlap only with tile and "
                "full_size not with tile");

    sn_inspect_options io;
    sn_inspect_options_init(&io);
    io.category = o->category;
    io.threads = o->threads;
    io.max_workers = jobs;
    io.config_path = o->config_path;
    io.sets = o->sets;
    io.n_sets = o->n_sets;
    SN_TRY(sn_inspector_open(o->model, o->data, &io, &in));
    const int S = sn_inspector_image_size(in);
    if (o->tile) {
        /* a bad --overlap is refused before any image is read */
        const int ov = overlap == SN_TILE_OVERLAP_DEFAULT ? sn_tile_default_overlap(S) : overlap;
        sn_tile_grid g;
        if (sn_tile_grid_make(S, S, S, ov, "--overlap", &g) != SN_OK) {
            char after[64];
            snprintf(after, sizeof after, " (the tiles are the model's %d x %d)", S, S);
            status = wrap_error(SN_EINVAL, "", after);
            goto done;
        }
        overlap = ov;
    }
    const char *model = o->model, *data = o->data;
    if (sn_inspector_calib_warning(in)[0])
        fprintf(stderr, "sernet score: warning: %s: %s\n", model, sn_inspector_calib_warning(in));
    const sn_thresholds *thr = sn_inspector_thresholds(in);
    if (!thr->set) {
        fprintf(stderr, "sernet score: warning: %s has no decision thresholds: raw scores only; set "
                "them with `sernet calibrate --model %s%s%s GOOD_IMAGES...` (held-out good "
                "images), `sernet eval --store-thresholds` or `sernet calibrate --threshold T`\n",
                model, model, data ? " --data " : "", data ? data : "");
        if (o->require_thresholds)
            SN_FAIL(SN_EINVAL, "--fail-on-defect needs thresholds");
        thr = NULL;
    } else if (strcmp(thr->fingerprint, sn_inspector_fingerprint(in)) != 0) {
        fprintf(stderr, "sernet score: warning: %s: the thresholds were set with model fingerprint %s, "
                "this run has %s (another repair_threshold or map setting?): verdicts may not hold\n",
                model, thr->fingerprint, sn_inspector_fingerprint(in));
    }
    if (thr && strncmp(thr->source, "fpr ", 4) == 0 && (strstr(thr->source, ", tiled") != NULL) != o->tile)
        fprintf(stderr, "sernet score: warning: %s: the thresholds were calibrated on %s images (%s), "
                "this run scores %s: calibrate again %s --tile\n", model,
                o->tile ? "whole (resized)" : "tiled", thr->source, o->tile ? "tiles" : "whole resized images",
                o->tile ? "with" : "without");
    if (o->maps_dir && sn_mkdirs(o->maps_dir) != SN_OK) {
        char before[4200];
        snprintf(before, sizeof before, "%s: cannot create the maps folder: ", o->maps_dir);
        status = wrap_error(SN_EIO, before, "");
        goto done;
    }
    for (int a = 0; a < o->n_inputs; a++) {
        struct stat sb;
        const char *arg = o->inputs[a];
        if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (sn_strlist_scan_images(arg, &files) != SN_OK) {
                error_line(arg, msg, sizeof msg);
                sn_score_item bad = {.index = -1, .path = arg, .ok = 0, .error = msg, .map = ""};
                if (o->on_item)
                    o->on_item(o->ctx, &bad);
                summary->failed_folders++;
            }
        } else if (sn_strlist_push(&files, arg)) {
            SN_FAIL(SN_ENOMEM, "out of memory");
        }
    }
    /* map file names fixed in input order, so they do not depend on which job finishes first */
    for (int i = 0; o->maps_dir && i < files.n; i++) {
        char name[4400];
        map_name(o->maps_dir, files.v[i], &used, name, sizeof name);
        if (sn_strlist_push(&mapfiles, name))
            SN_FAIL(SN_ENOMEM, "out of memory");
    }
    items = calloc((size_t)(files.n ? files.n : 1), sizeof *items);
    th = calloc((size_t)jobs, sizeof *th);
    if (!items || !th)
        SN_FAIL(SN_ENOMEM, "out of memory");
    run_ctx c = {in, o, &files, &mapfiles, items, S, o->heat, o->full_size, o->maps_dir != NULL, o->map_max,
                 PTHREAD_MUTEX_INITIALIZER, 0, 0, thr, 0, o->tile, overlap, jobs};
    double t0 = sn_clock_wall(), c0 = sn_clock_cpu();
    int started = 0;
    /* --tile: the images one after the other, each with --jobs tiles at once */
    for (int j = 1; j < SN_MIN(o->tile ? 1 : jobs, files.n); j++) {
        if (pthread_create(&th[j], NULL, worker_main, &c) != 0) {
            fprintf(stderr, "sernet score: warning: could only start %d of %d jobs\n", j, jobs);
            break;
        }
        started = j;
    }
    worker_main(&c); /* this thread is job 0 */
    for (int j = 1; j <= started; j++)
        pthread_join(th[j], NULL);
    summary->seconds = sn_clock_wall() - t0;
    summary->cpu = sn_clock_cpu() - c0;
    for (int i = 0; i < files.n; i++) {
        summary->defects += items[i].state == 1 && items[i].defect;
        summary->scored += items[i].state == 1;
        summary->failed += items[i].state != 1;
        summary->wall_sum += items[i].state == 1 ? items[i].wall : 0;
        /* the repair works on S x S, or on the whole image with --tile */
        const int64_t area = o->tile ? (int64_t)items[i].r.width * items[i].r.height : (int64_t)S * S;
        summary->repaired_most += items[i].state == 1 && sn_repair_is_most(items[i].r.repaired_pixels, area);
    }
    if (summary->repaired_most > 0)
        fprintf(stderr, "sernet score: warning: the repair replaced more than half of %d of %d scored "
                "images: %s\n", summary->repaired_most, summary->scored, sn_repair_most_advice());
    summary->jobs = jobs;
    summary->threads = sn_inspector_threads(in);
    summary->size = S;
    summary->has_thresholds = thr != NULL;
    if (thr)
        summary->thresholds = *thr;
done:
    free(items);
    free(th);
    sn_strlist_free(&files);
    sn_strlist_free(&used);
    sn_strlist_free(&mapfiles);
    sn_inspector_close(in);
    return status;
}
