/* The inspection API (include/sernet/inspect.h): a model and its training images loaded once,
 * single images scored from any thread through a pool of inference workers. Files are read
 * without MPI through the formats' local readers (sn_model_load, sn_trainset_load and
 * sn_trainset_load_bundle: src/format/), never directly. */
#define _GNU_SOURCE
#include "sernet/inspect.h"
#include "api/inspect_internal.h"
#include "sernet/bundle.h"
#include "sernet/gemm.h"
#include "sernet/hashindex.h"
#include "sernet/image.h"
#include "sernet/infer.h"
#include "sernet/model.h"
#include "sernet/resize.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { W_NONE = 0, W_IDLE, W_BUSY, W_CREATING };

struct sn_inspector {
    sn_model *model;
    int s;
    char category[256];
    sn_trainset ts;    /* training images, hashes and names of the category */
    int threads, max_workers;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int sync_ok;       /* lock and freed initialised */
    sn_infer_worker **workers; /* [max_workers] */
    int *state;                /* [max_workers] W_* */
    int n_created;
};

void sn_inspect_options_init(sn_inspect_options *o)
{
    memset(o, 0, sizeof *o);
    o->threads = 1;
}

static int cpus_allowed(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return 1;
}

/* ---- loading --------------------------------------------------------------------------------- */

sn_status sn_inspector_open(const char *model_path, const char *data_path,
                            const sn_inspect_options *opts, sn_inspector **out)
{
    sn_status status = SN_OK;
    sn_inspect_options defaults;
    sn_inspector *in = NULL;
    sn_err_clear();
    if (!out)
        return SN_ERR(SN_EINVAL, "sn_inspector_open: no place for the inspector (NULL)");
    *out = NULL;
    if (!model_path)
        SN_FAIL(SN_EINVAL, "sn_inspector_open: the model file or bundle is required (got NULL)");
    if (!opts) {
        sn_inspect_options_init(&defaults);
        opts = &defaults;
    }
    if (opts->threads < SN_INSPECT_THREADS_CONFIG)
        SN_FAIL(SN_EINVAL, "inspection options: threads = %d (expected >= 1, 0 for the default 1, "
                "or SN_INSPECT_THREADS_CONFIG)", opts->threads);
    if (opts->max_workers < 0)
        SN_FAIL(SN_EINVAL, "inspection options: max_workers = %d (expected >= 1, or 0 for automatic)",
                opts->max_workers);
    if (opts->n_sets < 0 || (opts->n_sets > 0 && !opts->sets))
        SN_FAIL(SN_EINVAL, "inspection options: %d overrides but no list", opts->n_sets);
    if (opts->category && (!opts->category[0] || strchr(opts->category, '/') ||
                           strlen(opts->category) >= sizeof in->category))
        SN_FAIL(SN_EINVAL, "inspection options: category '%s' is not a category name", opts->category);
    if (!(in = calloc(1, sizeof *in)))
        SN_FAIL(SN_ENOMEM, "inspector");
    SN_TRY(sn_model_load(model_path, &in->model));
    if (opts->config_path || opts->n_sets > 0)
        SN_TRY(sn_model_override(in->model, opts->config_path, opts->sets, opts->n_sets));
    in->s = sn_model_image_size(in->model);
    snprintf(in->category, sizeof in->category, "%s",
             opts->category ? opts->category : sn_model_category(in->model));
    if (sn_model_is_bundle(in->model)) {
        /* the bundle carries the training images of its own category */
        if (data_path)
            SN_FAIL(SN_EINVAL, "%s is a bundle: it carries its training images and hash index; give "
                    "no dataset file (got %s)", model_path, data_path);
        if (strcmp(in->category, sn_model_category(in->model)) != 0)
            SN_FAIL(SN_EINVAL, "%s is a bundle of category '%s': it holds no training images of "
                    "category '%s'", model_path, sn_model_category(in->model), in->category);
        SN_TRY(sn_trainset_load_bundle(model_path, &in->ts));
    } else {
        if (!data_path)
            SN_FAIL(SN_EINVAL, "%s is a model file: give the dataset file it was trained on as well "
                    "(its training images and hash index repair the scored images), or make one "
                    "file of both with `sernet bundle --model %s --data DATA.h5 --out BUNDLE.h5`",
                    model_path, model_path);
        SN_TRY(sn_trainset_load(data_path, in->category, opts->category != NULL, model_path, in->s,
                                &in->ts));
    }

    in->threads = opts->threads;
    if (in->threads == 0)
        in->threads = 1;
    if (in->threads == SN_INSPECT_THREADS_CONFIG) {
        in->threads = sn_model_config(in->model)->threads;
        if (in->threads <= 0) {
            const char *env = getenv("OMP_NUM_THREADS");
            in->threads = env ? atoi(env) : 0;
            if (in->threads <= 0)
                in->threads = cpus_allowed();
        }
    }
    in->max_workers = opts->max_workers > 0 ? opts->max_workers : SN_MAX(1, cpus_allowed() / in->threads);
    in->workers = calloc((size_t)in->max_workers, sizeof *in->workers);
    in->state = calloc((size_t)in->max_workers, sizeof *in->state);
    if (!in->workers || !in->state)
        SN_FAIL(SN_ENOMEM, "inspector: %d worker slots", in->max_workers);
    if (pthread_mutex_init(&in->lock, NULL) != 0)
        SN_FAIL(SN_ENOMEM, "inspector: cannot create a mutex");
    if (pthread_cond_init(&in->freed, NULL) != 0) {
        pthread_mutex_destroy(&in->lock);
        SN_FAIL(SN_ENOMEM, "inspector: cannot create a condition variable");
    }
    in->sync_ok = 1;
    /* the engine runs its own OpenMP threads; the GEMM library must stay single-threaded */
    sn_gemm_init();
    *out = in;
    in = NULL;
done:
    sn_inspector_close(in);
    return status;
}

void sn_inspector_close(sn_inspector *in)
{
    if (!in)
        return;
    for (int i = 0; i < in->max_workers && in->workers; i++)
        sn_infer_worker_free(in->workers[i]);
    free(in->workers);
    free(in->state);
    if (in->sync_ok) {
        pthread_cond_destroy(&in->freed);
        pthread_mutex_destroy(&in->lock);
    }
    sn_trainset_free(&in->ts);
    sn_model_free(in->model);
    free(in);
}

int sn_inspector_image_size(const sn_inspector *in) { return in->s; }

int sn_inspector_separate_score(const sn_inspector *in)
{
    return sn_model_separate_score(in->model);
}
const char *sn_inspector_category(const sn_inspector *in) { return in->category; }
int64_t sn_inspector_train_count(const sn_inspector *in) { return in->ts.n; }
const char *sn_inspector_train_name(const sn_inspector *in, int64_t i)
{
    return i >= 0 && i < in->ts.n ? in->ts.names[i] : "";
}
double sn_inspector_tau(const sn_inspector *in) { return sn_model_tau(in->model); }
const sn_thresholds *sn_inspector_thresholds(const sn_inspector *in)
{
    return sn_model_thresholds(in->model);
}
const char *sn_inspector_calib_warning(const sn_inspector *in)
{
    return sn_model_calib_warning(in->model);
}
const char *sn_inspector_fingerprint(const sn_inspector *in) { return sn_model_fingerprint(in->model); }
int sn_inspector_threads(const sn_inspector *in) { return in->threads; }
int sn_inspector_max_workers(const sn_inspector *in) { return in->max_workers; }
int sn_inspector_workers(const sn_inspector *in)
{
    sn_inspector *m = (sn_inspector *)in; /* the lock is not part of the observable state */
    pthread_mutex_lock(&m->lock);
    int n = m->n_created;
    pthread_mutex_unlock(&m->lock);
    return n;
}

/* ---- the worker pool ------------------------------------------------------------------------- */

/* An idle worker, or a new one while fewer than max_workers exist, or wait for one to be freed. */
static sn_status acquire(sn_inspector *in, int *slot)
{
    sn_status status = SN_OK;
    pthread_mutex_lock(&in->lock);
    for (;;) {
        int none = -1;
        for (int i = 0; i < in->max_workers; i++) {
            if (in->state[i] == W_IDLE) {
                in->state[i] = W_BUSY;
                *slot = i;
                pthread_mutex_unlock(&in->lock);
                return SN_OK;
            }
            if (in->state[i] == W_NONE && none < 0)
                none = i;
        }
        if (none >= 0) {
            /* create outside the lock (it copies both nets); the slot is reserved meanwhile */
            in->state[none] = W_CREATING;
            pthread_mutex_unlock(&in->lock);
            sn_infer_worker *w = NULL;
            status = sn_infer_worker_create(in->model, in->threads, &w);
            pthread_mutex_lock(&in->lock);
            if (status == SN_OK) {
                in->workers[none] = w;
                in->state[none] = W_BUSY;
                in->n_created++;
                *slot = none;
            } else {
                in->state[none] = W_NONE;
                pthread_cond_broadcast(&in->freed); /* a waiter may try to create it */
            }
            pthread_mutex_unlock(&in->lock);
            return status;
        }
        pthread_cond_wait(&in->freed, &in->lock);
    }
}

static void release(sn_inspector *in, int slot)
{
    pthread_mutex_lock(&in->lock);
    in->state[slot] = W_IDLE;
    pthread_cond_signal(&in->freed);
    pthread_mutex_unlock(&in->lock);
}

/* ---- scoring --------------------------------------------------------------------------------- */

static sn_status score(sn_inspector *in, const sn_inspect_image *im, sn_inspect_result *res)
{
    sn_status status = SN_OK;
    const int S = in->s;
    const size_t plane = (size_t)S * S;
    uint8_t *x = NULL;
    float *map = NULL;
    int slot = -1;
    int64_t nbr = 0;
    int dist = 0;
    if (!im)
        SN_FAIL(SN_EINVAL, "sn_inspect_pixels: no image (NULL)");
    if (im->width < 1 || im->height < 1 || im->width > SN_IMAGE_MAX_DIM || im->height > SN_IMAGE_MAX_DIM)
        SN_FAIL(SN_EINVAL, "image of %d x %d pixels: width and height must be 1..%d", im->width,
                im->height, SN_IMAGE_MAX_DIM);
    if (sn_pixel_format_bytes(im->format) == 0)
        SN_FAIL(SN_EINVAL, "image pixel format %d is not supported (expected SN_PIX_GREY = 1 channel, "
                "SN_PIX_RGB = 3, SN_PIX_RGBA = 4, SN_PIX_BGR or SN_PIX_BGRA)", (int)im->format);
    const size_t full = (size_t)im->width * im->height;
    res->width = im->width;
    res->height = im->height;
    if (res->map_full && res->map_full_cap < full)
        SN_FAIL(SN_EINVAL, "map_full holds %zu floats but the image is %d x %d (%zu floats)",
                res->map_full_cap, im->width, im->height, full);
    SN_ALLOC(x, plane * 3, "preprocessed image");
    SN_TRY(sn_preprocess_rgb8(im->data, im->width, im->height, im->format, im->stride, S, x));
    SN_TRY(sn_hashindex_nearest_images(in->ts.hashes, in->ts.n, x, 1, S, &nbr, &dist));
    map = res->map;
    if (!map && res->map_full)
        SN_ALLOC(map, plane, "anomaly map");
    float sc = 0.0f;
    int64_t repaired = 0;
    sn_infer_out o = {&sc, map, res->seg, res->repair_mask, res->recon, &repaired};
    SN_TRY(acquire(in, &slot));
    status = sn_infer_batch(in->workers[slot], 1, x, in->ts.images + (size_t)nbr * plane * 3, &o, NULL);
    release(in, slot);
    SN_TRY(status);
    if (res->map_full)
        SN_TRY(sn_resize_f32(map, S, S, 1, res->map_full, im->width, im->height));
    if (res->input)
        memcpy(res->input, x, plane * 3);
    res->score = sc;
    res->neighbor = nbr;
    res->neighbor_distance = dist;
    res->repaired_pixels = repaired;
done:
    if (map != res->map)
        sn_free(map);
    sn_free(x);
    return status;
}

/* The whole call with this inspector's OpenMP thread count (a per-thread setting), restored. */
static sn_status score_threads(sn_inspector *in, const sn_inspect_image *im, sn_inspect_result *res)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(in->threads);
    sn_status status = score(in, im, res);
    omp_set_num_threads(saved);
    return status;
}

sn_status sn_inspect_pixels(sn_inspector *in, const sn_inspect_image *image, sn_inspect_result *res)
{
    sn_err_clear();
    if (!in || !res)
        return SN_ERR(SN_EINVAL, "sn_inspect_pixels: %s is NULL", !in ? "the inspector" : "the result");
    return score_threads(in, image, res);
}

sn_status sn_inspect_file(sn_inspector *in, const char *path, sn_inspect_result *res)
{
    sn_status status = SN_OK;
    sn_image img = {0};
    sn_err_clear();
    if (!in || !res || !path)
        return SN_ERR(SN_EINVAL, "sn_inspect_file: %s is NULL",
                      !in ? "the inspector" : (!res ? "the result" : "the path"));
    SN_TRY(sn_image_read(path, &img)); /* the message names the file */
    sn_inspect_image im = {img.data, img.w, img.h, 0, (sn_pixel_format)img.c};
    status = score_threads(in, &im, res);
    if (status != SN_OK && !strstr(sn_err_msg(), path)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", sn_err_msg());
        sn_err_clear();
        SN_ERR(status, "%s: %s", path, msg);
    }
done:
    sn_image_free(&img);
    return status;
}
