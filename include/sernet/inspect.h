/* sernet inspection API: SeRNet inference embedded in a C or C++ program (an inspection
 * station, a camera service, a test rig). No MPI is needed: the program neither starts MPI nor
 * runs under mpiexec. Full guide with a worked example: docs/api.md,
 * docs/examples/inspect_example.c.
 *
 * Lifecycle
 *   sn_inspect_options o;  sn_inspect_options_init(&o);      defaults, then change fields
 *   sn_inspector *in;  sn_inspector_open(MODEL.h5, DATA.h5, &o, &in);   once, a few 100 ms
 *   sn_inspect_pixels(in, &px, &res)  or  sn_inspect_file(in, path, &res)   per image, any thread
 *   sn_inspector_close(in);                                  once, when no call is running
 *
 * sn_inspector_open loads the trained model (MODEL.h5, from `sernet train`) and, from the
 * dataset file it was trained on (DATA.h5, from `sernet ingest` or `sernet synth`), the training
 * images of its category and their perceptual-hash index (`sernet index`): every scored image is
 * repaired with its most similar training image, as in `sernet infer`. Both files are read once
 * and closed; the inspector keeps the training images in memory (N x S x S x 3 bytes).
 * A bundle (`sernet bundle`, sernet/bundle.h) holds both in one checksummed file: open it with
 * sn_inspector_open(BUNDLE.h5, NULL, ...); the results are bit for bit the pair's.
 *
 * Scoring: an 8-bit image of any size (grey, RGB, BGR, RGBA or BGRA, any row stride) is
 * converted to RGB and resized to S x S exactly as `sernet ingest` stores images
 * (sn_preprocess_rgb8), then: perceptual hash and nearest training image -> segmentation net ->
 * repair -> reconstruction net -> anomaly map; the score is the map's maximum. The numbers are
 * those `sernet infer --batch 1` computes for the same image inside a dataset file with the same
 * thread count (the engine's float sums depend on the batch size and the thread count).
 *
 * Threads: one inspector may be shared by any number of threads. Each call needs a worker (its
 * own copy of both nets and buffers, about the nets' size plus the activations of one image);
 * workers are created on first need, up to max_workers, and reused. A call that finds all
 * max_workers workers busy waits (blocks) until one is free; nothing is ever refused for being
 * busy. The hashing and preprocessing run outside the worker, in the calling thread. Results do
 * not depend on which worker or thread served a call.
 *
 * Errors: every function returning sn_status records a message naming what was wrong (file,
 * category, sizes, channels) in the calling thread; read it with sn_err_msg() (sernet/common.h)
 * and reset it with sn_err_clear(). Each function below clears the calling thread's previous
 * message on entry, so after a failure sn_err_msg() is that call's message. Messages are per
 * thread: concurrent calls never see each other's. A failed call leaves the inspector usable.
 * sn_inspector_open reads files with HDF5, which is not built thread-safe: do not run it while
 * another thread uses HDF5 (scoring calls never use HDF5).
 *
 * Memory: the caller owns every buffer passed in (pixels, output arrays); the library never
 * keeps a pointer to them after a call returns and never allocates memory the caller must free,
 * except the inspector itself (sn_inspector_close). */
#ifndef SERNET_INSPECT_H
#define SERNET_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "sernet/common.h"
#include "sernet/preprocess.h"
#include "sernet/thresholds.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sn_inspector sn_inspector;

/* threads = SN_INSPECT_THREADS_CONFIG: use the `threads` key of the model's configuration with
 * the overrides applied, 0 there meaning OMP_NUM_THREADS or else every CPU (what `sernet infer`
 * uses). */
#define SN_INSPECT_THREADS_CONFIG (-1)

typedef struct {
    /* Category group of DATA.h5 to take the training images from. NULL: the category the model
     * was trained on. With a bundle: NULL or the bundle's own category. */
    const char *category;
    /* OpenMP threads each scoring call uses (default 1; see SN_INSPECT_THREADS_CONFIG). With
     * several calling threads, threads x max_workers should not exceed the CPUs. */
    int threads;
    /* Most calls that can run at once; more callers wait. Default 0 = the number of CPUs this
     * process may run on divided by threads (at least 1). */
    int max_workers;
    /* Configuration overrides on top of the model's own configuration, as `sernet infer
     * --config FILE --set key=value`: only keys that may change after training (repair_threshold,
     * the anomaly-map keys, threads) are accepted. config_path may be NULL; sets[0..n_sets). */
    const char *config_path;
    const char *const *sets;
    int n_sets;
} sn_inspect_options;

/* Defaults: category NULL, threads 1, max_workers 0 (automatic), no overrides. */
void sn_inspect_options_init(sn_inspect_options *o);

/* Load model_path and the training images + hash index of data_path (opts may be NULL for the
 * defaults). model_path may be a bundle: data_path must then be NULL, and opts->category NULL
 * or the bundle's category. Errors: unreadable, damaged (a bundle names the part) or foreign
 * files; a model file without data_path, a bundle with one; an unfinished model; the category
 * not in the dataset (the message lists the categories); the model's image size differs from
 * the dataset's; no hash index (run `sernet index DATA.h5`) or a stale one; bad overrides. */
sn_status sn_inspector_open(const char *model_path, const char *data_path,
                            const sn_inspect_options *opts, sn_inspector **inspector);
/* Free everything. Safe on NULL. No call may be running on the inspector. */
void sn_inspector_close(sn_inspector *inspector);

/* Read-only facts (valid until close; safe from any thread). */
int sn_inspector_image_size(const sn_inspector *in);      /* S: maps are S x S */
const char *sn_inspector_category(const sn_inspector *in); /* the dataset category in use */
int64_t sn_inspector_train_count(const sn_inspector *in); /* training images (neighbours) */
/* Source name of training image i (e.g. "train/good/012.png"); "" when out of range. */
const char *sn_inspector_train_name(const sn_inspector *in, int64_t i);
double sn_inspector_tau(const sn_inspector *in);          /* repair threshold in use */
/* The training run's calibration warning for the tau in use ("" if none): the repair rarely
 * fires, or would fire on most pixels. */
const char *sn_inspector_calib_warning(const sn_inspector *in);
/* The model's decision thresholds (sernet/thresholds.h; set == 0 when it has none). */
const sn_thresholds *sn_inspector_thresholds(const sn_inspector *in);
const char *sn_inspector_fingerprint(const sn_inspector *in); /* model fingerprint, 16 hex */
int sn_inspector_threads(const sn_inspector *in);         /* OpenMP threads per call */
int sn_inspector_max_workers(const sn_inspector *in);
int sn_inspector_workers(const sn_inspector *in);         /* workers created so far */

/* An 8-bit image in memory: height rows of width pixels, row r at data + r * stride bytes
 * (stride 0 = width x bytes per pixel). */
typedef struct {
    const uint8_t *data;
    int width, height;
    size_t stride;
    sn_pixel_format format; /* SN_PIX_GREY, SN_PIX_RGB, SN_PIX_BGR, SN_PIX_RGBA, SN_PIX_BGRA */
} sn_inspect_image;

/* What a call returns. Zero it (= {0}), set the optional output pointers to caller-owned buffers
 * (left NULL when not wanted), call; the scalar fields are always set on success. */
typedef struct {
    /* always set */
    float score;              /* image anomaly score: the maximum of the anomaly map */
    int64_t neighbor;         /* index of the most similar training image (train_name gives it) */
    int neighbor_distance;    /* Hamming distance of the two perceptual hashes, 0..64 */
    int64_t repaired_pixels;  /* pixels the repair module replaced (0: image left as is) */
    int width, height;        /* the input's size (set even when map_full_cap is too small) */
    /* optional outputs, S x S row-major unless noted */
    float *map;               /* anomaly map */
    float *seg;               /* segmentation net output (defect probability per pixel) */
    uint8_t *repair_mask;     /* 0/1 mask of the pixels the repair module replaced */
    uint8_t *recon;           /* reconstruction, RGB, S x S x 3 bytes */
    uint8_t *input;           /* the preprocessed input the nets saw, RGB, S x S x 3 bytes */
    float *map_full;          /* the anomaly map resized to the input's width x height (same
                                 triangle filter as the preprocessing), width x height floats */
    size_t map_full_cap;      /* floats map_full can hold: must be >= width x height, else the
                                 call fails (SN_EINVAL) before any inference, with width and
                                 height set: grow the buffer and call again */
} sn_inspect_result;

/* Score one image. res: scalar fields are written, optional buffers filled when not NULL.
 * Thread-safe (see the top of this file); blocks while max_workers calls are running. */
sn_status sn_inspect_pixels(sn_inspector *in, const sn_inspect_image *image, sn_inspect_result *res);

/* Decode a PNG, JPEG or BMP file (sernet/image.h: the format is found from the content, not the
 * name; grey files are scored as grey, RGB as RGB) and score it as sn_inspect_pixels. An
 * unreadable or undecodable file is SN_EIO / SN_EFORMAT with the file named; res->width and
 * res->height receive the decoded size. To get map_full without knowing the size beforehand,
 * give a buffer and its capacity (map_full_cap); or decode with sn_image_read yourself and call
 * sn_inspect_pixels. */
sn_status sn_inspect_file(sn_inspector *in, const char *path, sn_inspect_result *res);

#ifdef __cplusplus
}
#endif

#endif
