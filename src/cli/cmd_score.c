/* sernet score: score image files that are in no dataset file, as an inspection station would,
 * through the inspection API (include/sernet/inspect.h; docs/inference.md "sernet score"). */
#include "cli/cli.h"
#include "sernet/dist.h"
#include "sernet/image.h"
#include "sernet/inspect.h"

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
    "                    [--maps DIR] [--heat] [--map-max V] [--full-size] [--config FILE]\n"
    "                    [--set key=value]... IMAGE_OR_FOLDER...\n"
    "Score image files (PNG, JPEG or BMP, any size, grey or colour) with a trained model, as an\n"
    "inspection station would: each image is converted to RGB and resized to the model's size\n"
    "exactly as `sernet ingest` does, repaired with its most similar training image of DATA.h5\n"
    "(the dataset the model was trained on; its hash index is needed) and scored. A folder\n"
    "stands for its .png .jpg .jpeg .bmp files (not recursive), in byte order of their names.\n"
    "Prints one line per scored image, tab-separated:\n"
    "  path  score  neighbour (training image name)  hamming distance  repaired pixels  [map]\n"
    "An image that cannot be read or decoded gets an error line on stderr naming it; the others\n"
    "are still scored and the exit status is 1. A last line on stderr gives the count and the\n"
    "throughput, the mean wall time of one image (decoding to score) and the process CPU time\n"
    "per image.\n"
    "  --category NAME  dataset category of the training images (default: the model's)\n"
    "  --threads N      OpenMP threads per image (default: the threads key, as sernet infer)\n"
    "  --jobs J         score J images at once, in J threads sharing one model (default 1);\n"
    "                   lines still come in the order of the arguments\n"
    "  --maps DIR       write each anomaly map as DIR/<file name stem>.png (created if needed),\n"
    "                   grey level = round(255 * min(map / V, 1)); the map file is the 6th column\n"
    "  --map-max V      the map value drawn white (default 1)\n"
    "  --heat           colour the maps black-red-yellow-white instead of grey\n"
    "  --full-size      write maps resized to each image's own size (default: S x S)\n"
    "--config/--set change what may change after training (repair_threshold, map keys, threads).\n";

typedef struct {
    char **v;
    int n, cap;
} strlist;

static int push(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, sizeof(char *) * (size_t)cap);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    return (l->v[l->n] = strdup(s)) ? (l->n++, 0) : -1;
}

static void strlist_free(strlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
                   !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".bmp"));
}

/* Append the image files of folder `dir` (sorted) to out. */
static sn_status scan_folder(const char *dir, strlist *out)
{
    sn_status status = SN_OK;
    strlist names = {0};
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        SN_FAIL(SN_EIO, "%s: cannot open folder: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        char p[4200];
        struct stat st;
        if (e->d_name[0] == '.' || !image_ext(e->d_name))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && push(&names, e->d_name))
            SN_FAIL(SN_ENOMEM, "%s: listing", dir);
    }
    if (names.n == 0)
        SN_FAIL(SN_EINVAL, "%s: no image files (.png, .jpg, .jpeg, .bmp) in this folder", dir);
    qsort(names.v, (size_t)names.n, sizeof(char *), cmp_str);
    size_t l = strlen(dir);
    for (int i = 0; i < names.n; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s%s", dir, l && dir[l - 1] == '/' ? "" : "/", names.v[i]);
        if (push(out, p))
            SN_FAIL(SN_ENOMEM, "%s: listing", dir);
    }
done:
    if (d)
        closedir(d);
    strlist_free(&names);
    return status;
}

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
static void map_name(const char *dir, const char *path, strlist *used, char *out, size_t cap)
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
            push(used, cand);
            snprintf(out, cap, "%s/%s.png", dir, cand);
            return;
        }
    }
}

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
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
    double wall;
} item;

typedef struct {
    sn_inspector *in;
    const strlist *files, *mapfiles;
    item *items;
    int S, heat, full_size, maps;
    double map_max;
    pthread_mutex_t lock;
    int next, printed;
} run_ctx;

typedef struct {
    float *map, *full;
    uint8_t *px;
    size_t full_cap, px_cap;
} buffers;

/* Score file i into its item's line (or error line), with this thread's buffers. Returns the
 * item's final state (1 scored, 2 failed), which the caller publishes under the lock. */
static int score_item(run_ctx *c, buffers *b, int i)
{
    item *it = &c->items[i];
    const char *path = c->files->v[i];
    const int S = c->S;
    sn_inspect_result r = {0};
    double t0 = clock_s(CLOCK_MONOTONIC);
    sn_status st;
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
    it->wall = clock_s(CLOCK_MONOTONIC) - t0;
    const char *mapfile = c->maps ? c->mapfiles->v[i] : "";
    if (c->maps) {
        int w = c->full_size ? r.width : S, h = c->full_size ? r.height : S, ch = c->heat ? 3 : 1;
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
        to_pixels(c->full_size ? b->full : b->map, (size_t)w * h, c->map_max, c->heat, b->px);
        sn_image img = {w, h, ch, b->px};
        if (sn_image_write_png(mapfile, &img) != SN_OK) {
            error_line(path, it->line, sizeof it->line);
            return 2;
        }
    }
    snprintf(it->line, sizeof it->line, "%s\t%.9g\t%s\t%d\t%lld%s%s\n", path, (double)r.score,
             sn_inspector_train_name(c->in, r.neighbor), r.neighbor_distance,
             (long long)r.repaired_pixels, c->maps ? "\t" : "", mapfile);
    return 1;
}

static void *worker_main(void *p)
{
    run_ctx *c = p;
    buffers b = {0};
    b.full_cap = c->full_size ? (size_t)c->S * c->S : 0; /* grown when an image is larger */
    b.map = malloc((size_t)c->S * c->S * sizeof(float));
    b.full = c->full_size ? malloc(b.full_cap * sizeof(float)) : NULL;
    int ok = b.map && (!c->full_size || b.full);
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
    const sn_cli_opt opts[] = {{"model", SN_OPT_STR, &model, 0, 0},
                               {"data", SN_OPT_STR, &data, 0, 0},
                               {"category", SN_OPT_STR, &category, 0, 0},
                               {"threads", SN_OPT_INT, &threads, 1, 1024},
                               {"jobs", SN_OPT_INT, &jobs, 1, 256},
                               {"maps", SN_OPT_STR, &maps, 0, 0},
                               {"map-max", SN_OPT_DOUBLE, &map_max, 1e-30, 1e30},
                               {"heat", SN_OPT_FLAG, &heat, 0, 0},
                               {"full-size", SN_OPT_FLAG, &full_size, 0, 0},
                               SN_OPT_END};
    int prc = sn_cli_parse("score", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (!model || !data)
        return sn_cli_usage_error("score", usage, "--model and --data are required");
    if (pos >= argc)
        return sn_cli_usage_error("score", usage, "no image or folder given");
    if ((heat || full_size) && !maps)
        return sn_cli_usage_error("score", usage, "--heat and --full-size need --maps DIR");
    if (sn_dist_size(MPI_COMM_WORLD) > 1)
        return sn_cli_usage_error("score", usage, "runs on one process (%d MPI ranks given): use "
                                  "--threads or --jobs, or `sernet infer` for a dataset on many ranks",
                                  sn_dist_size(MPI_COMM_WORLD));

    int failed = 0;
    strlist files = {0}, used = {0}, mapfiles = {0};
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
    if (sn_inspector_calib_warning(in)[0])
        fprintf(stderr, "sernet score: warning: %s: %s\n", model, sn_inspector_calib_warning(in));
    if (maps && mkdir(maps, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "sernet score: error: %s: cannot create the maps folder: %s\n", maps,
                strerror(errno));
        failed = 1;
        goto done;
    }
    for (int a = pos; a < argc; a++) {
        struct stat sb;
        if (stat(argv[a], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (scan_folder(argv[a], &files) != SN_OK) {
                error_line(argv[a], msg, sizeof msg);
                fputs(msg, stderr);
                failed = 1;
            }
        } else if (push(&files, argv[a])) {
            fprintf(stderr, "sernet score: error: out of memory\n");
            failed = 1;
            goto done;
        }
    }
    /* map file names fixed in input order, so they do not depend on which job finishes first */
    for (int i = 0; maps && i < files.n; i++) {
        char name[4400];
        map_name(maps, files.v[i], &used, name, sizeof name);
        if (push(&mapfiles, name)) {
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
                 PTHREAD_MUTEX_INITIALIZER, 0, 0};
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    int started = 0;
    for (int j = 1; j < SN_MIN(jobs, files.n); j++) {
        if (pthread_create(&th[j], NULL, worker_main, &c) != 0) {
            fprintf(stderr, "sernet score: warning: could only start %d of %d jobs\n", j, jobs);
            break;
        }
        started = j;
    }
    worker_main(&c); /* this thread is job 0 */
    for (int j = 1; j <= started; j++)
        pthread_join(th[j], NULL);
    double secs = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = 0;
    int scored = 0, bad = 0;
    for (int i = 0; i < files.n; i++) {
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
done:
    free(items);
    free(th);
    strlist_free(&files);
    strlist_free(&used);
    strlist_free(&mapfiles);
    sn_inspector_close(in);
    return failed ? SN_EXIT_FAIL : SN_EXIT_OK;
}
