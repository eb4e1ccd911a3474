/* Pseudo-anomalies (METHOD.md §3): Perlin noise and masks, PPA (Perlin pseudo-anomaly, large
 * scale, trains the segmentation net) and DPA (diffusion pseudo-anomaly, small scale, trains the
 * reconstruction net).
 *
 * Images are float CHW planes [3, S, S] with values in [0, 1] (the network's layout); masks are
 * float [S, S] planes of 0/1. Every random draw of one sample comes from the counter-based stream
 * (seed, stage, epoch, sample) of sernet/rng.h, so a sample is a pure function of its key, the
 * parameters and the images: any rank, thread or rerun produces it bit for bit.
 *
 * Thread safety: the generators are re-entrant; give each thread its own sn_pseudo_work. The
 * image source's get() is called from the calling thread and must be safe to call concurrently
 * if the caller generates samples on several threads. */
#ifndef SERNET_PSEUDO_H
#define SERNET_PSEUDO_H

#include "sernet/common.h"
#include "sernet/config.h"
#include "sernet/rng.h"

#include <stdint.h>

#define SN_PSEUDO_CHANNELS 3

typedef struct {
    int size;               /* S */
    double p_anomaly;       /* probability that a sample receives an anomaly */
    double large_area;      /* PPA minimum region area / DPA maximum total area, fraction of S^2 */
    double small_area;      /* DPA seed rectangles' total area bound, fraction of S^2 */
    double beta_max;        /* PPA blend beta ~ U[0, beta_max] */
    int perlin_scale_max;   /* Perlin lattice 2^k, k uniform in {0..perlin_scale_max} per axis */
    double perlin_threshold;/* Perlin mask = noise > threshold */
    int ppa_max_tries;      /* Perlin redraws before falling back to the largest region */
    double dpa_strength_min;/* DPA strength s ~ U[min, 1] scales alpha and gamma - 1; 1 = METHOD.md */
} sn_pseudo_params;

/* Parameters from the configuration (pseudo.* keys and model.image_size). */
void sn_pseudo_params_from_config(sn_pseudo_params *p, const sn_config *cfg);
/* Check ranges (size even and >= 8, probabilities in [0,1], ...). */
sn_status sn_pseudo_params_check(const sn_pseudo_params *p);

/* The key of one training sample: stage is one of SN_RNG_STAGE_*, sample the global index of the
 * sample in its epoch (never a rank-local index). */
typedef struct {
    uint64_t seed;
    uint32_t stage;
    uint32_t epoch;
    uint64_t sample;
} sn_pseudo_key;

/* Training images of the class, fetched by index in [0, count): get() writes [3, S, S] floats in
 * [0, 1] (S = params.size) to chw_out and returns SN_OK or an error it has recorded. */
typedef struct {
    int64_t count;
    void *ctx;
    sn_status (*get)(void *ctx, int64_t index, float *chw_out);
} sn_image_source;

/* The training split of an open dataset file (sernet/dataset.h) as a source. Its get() reads
 * one image with sn_dataset_read, which is not thread-safe: call the generators from one thread
 * per dataset handle, or give each thread an in-memory source. */
struct sn_dataset;
void sn_pseudo_dataset_source(struct sn_dataset *ds, sn_image_source *src);

/* What a generator did, for logs, tests and the sheets. */
typedef struct {
    int anomalous;          /* 0: clean sample, all-zero mask, image unchanged */
    int64_t area;           /* mask pixels */
    /* PPA */
    int tries;              /* Perlin draws used (1..ppa_max_tries) */
    int fallback;           /* 1: no draw kept a large region; the largest region of the last
                             * non-empty draw was used (it may be smaller than large_area) */
    int res_y, res_x;       /* lattice resolution of the kept draw */
    double angle;           /* rotation of the kept draw, degrees */
    double beta;
    int64_t src_index[4];   /* source image of each quadrant position (TL, TR, BL, BR) */
    int src_quadrant[4];    /* quadrant of that image placed there */
    double brightness, contrast, saturation;
    double rot, scale, tx, ty; /* source affine: degrees, factor, pixels */
    /* DPA */
    int n_seeds;
    int n_rects;            /* seeds + diffusion rectangles */
    int rects[10][4];       /* y0, x0, h, w of each rectangle (seeds first for each seed) */
    int64_t seed_area;      /* union of the seed rectangles, pixels */
    double alpha;           /* as applied (after the strength) */
    double gamma[3];        /* as applied (after the strength) */
    double strength;        /* s of pseudo.dpa_strength_min; 1 when that key is 1 */
} sn_pseudo_info;

/* Scratch buffers for one S; one per thread. */
typedef struct sn_pseudo_work sn_pseudo_work;
sn_status sn_pseudo_work_create(int size, sn_pseudo_work **out);
void sn_pseudo_work_free(sn_pseudo_work *w);

/* PPA (METHOD.md §3.2). img: clean [3,S,S]; src: training images of the same class (count >= 1;
 * may include img's own index). Writes the (possibly) anomalous image and its mask. out_img may
 * equal img. info may be NULL. */
sn_status sn_pseudo_ppa(const sn_pseudo_params *p, const sn_pseudo_key *key, const float *img,
                        const sn_image_source *src, sn_pseudo_work *w, float *out_img,
                        float *out_mask, sn_pseudo_info *info);

/* DPA (METHOD.md §3.3). Same conventions; needs no other image. */
sn_status sn_pseudo_dpa(const sn_pseudo_params *p, const sn_pseudo_key *key, const float *img,
                        sn_pseudo_work *w, float *out_img, float *out_mask, sn_pseudo_info *info);

/* ---- building blocks, exposed for tests and tools ------------------------------------------ */

/* Perlin noise on an h x w grid with lattice resolution res_y x res_x cells (res >= 1, h, w need
 * not be multiples of res): unit gradients at uniform angles at the (res_y+1) x (res_x+1)
 * lattice points, drawn from r row by row; fade 6t^5-15t^4+10t^3; sqrt(2) scaling. Values lie in
 * [-1, 1]. sn_perlin_noise_ref is the plain reference of the same function (same draws). */
sn_status sn_perlin_noise(sn_rng *r, int h, int w, int res_y, int res_x, float *out);
sn_status sn_perlin_noise_ref(sn_rng *r, int h, int w, int res_y, int res_x, float *out);

/* Rotate an h x w plane by `degrees` (counter-clockwise as displayed, rows pointing down) about
 * its centre, bilinear sampling, 0 outside. out must not alias in. */
void sn_pseudo_rotate(const float *in, int h, int w, double degrees, float *out);
void sn_pseudo_rotate_ref(const float *in, int h, int w, double degrees, float *out);

/* One Perlin mask of §3.1 on S x S: draws k_y, k_x, the gradients and the angle from r.
 * noise (S*S floats) and tmp (S*S floats) are scratch; mask receives 0/1. */
sn_status sn_perlin_mask(sn_rng *r, const sn_pseudo_params *p, float *noise, float *tmp,
                         uint8_t *mask, int *res_y, int *res_x, double *angle);

/* The PPA mask of §3.2 step 1 (filtering, redraws, fallback). Uses w's scratch. */
sn_status sn_pseudo_ppa_mask(sn_rng *r, const sn_pseudo_params *p, sn_pseudo_work *w,
                             uint8_t *mask, sn_pseudo_info *info);

/* The DPA mask of §3.3 steps 1-2; fills the rectangle fields of info. */
sn_status sn_pseudo_dpa_mask(sn_rng *r, const sn_pseudo_params *p, uint8_t *mask,
                             sn_pseudo_info *info);

/* Colour jitter of a [3,S,S] image in place, in this order, each followed by clipping to [0,1]:
 * brightness (x b), contrast (x c about the mean of the Rec.601 grey image), saturation (blend
 * with the grey image by factor s). */
void sn_pseudo_color_jitter(float *chw, int s, double b, double c, double sat);

/* Affine warp of a [3,S,S] image about its centre: out(p) = in(c + R(-deg) (p - c - t) / scale)
 * with t = (ty, tx) in pixels, bilinear, reflected border (mirror without repeating the edge).
 * sn_pseudo_affine_ref is the plain reference. */
void sn_pseudo_affine(const float *in, int s, double degrees, double scale, double ty, double tx,
                      float *out);
void sn_pseudo_affine_ref(const float *in, int s, double degrees, double scale, double ty,
                          double tx, float *out);

#endif
