/* Counter-based random numbers (METHOD.md §3.4): Philox4x32-10 keyed by the run seed, with the
 * counter holding (stage, epoch, global sample index, draw counter). Every draw is therefore a
 * pure function of (seed, stage, epoch, sample, position in the sample's stream): the same
 * configuration gives the same samples on any number of ranks and on a resumed run, and nothing
 * depends on the rank, the thread or the order in which samples are processed.
 *
 * Counter layout (128 bits): word0 = block counter (4 x 32-bit draws per block),
 * word1 = sample index bits 0..31, word2 = sample index bits 32..55 | stage << 24,
 * word3 = epoch. Key = the 64-bit seed. */
#ifndef SERNET_RNG_H
#define SERNET_RNG_H

#include "sernet/common.h"

#include <stdint.h>

/* Suggested stage numbers (any value < 256 is allowed; distinct values give independent
 * streams). */
enum {
    SN_RNG_STAGE_SEG = 1,     /* segmentation stage: PPA samples */
    SN_RNG_STAGE_REC = 2,     /* reconstruction stage: DPA samples */
    SN_RNG_STAGE_CALIB = 3,   /* fresh samples for the repair threshold calibration */
    SN_RNG_STAGE_SHUFFLE = 4, /* per-epoch order of the training images */
    SN_RNG_STAGE_INIT = 5,    /* weight initialisation */
    SN_RNG_STAGE_TOOL = 6,    /* command-line tools (sernet pseudo, benchmarks) */
    SN_RNG_STAGE_EVAL = 7     /* evaluation: bootstrap resamples of the image AUROC */
};

#define SN_RNG_MAX_SAMPLE ((UINT64_C(1) << 56) - 1)

typedef struct {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    int pos;            /* next unused word of buf; 4 = buffer empty */
    int has_normal;     /* Box-Muller second value cached */
    double normal;
} sn_rng;

/* One Philox4x32-10 block: out = philox(ctr, key). */
void sn_rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Start the stream of (seed, stage, epoch, sample) at draw 0. stage < 256,
 * sample <= SN_RNG_MAX_SAMPLE (programmer errors otherwise). */
void sn_rng_init(sn_rng *r, uint64_t seed, uint32_t stage, uint32_t epoch, uint64_t sample);

/* Number of 32-bit words drawn so far (the "draw counter"); sn_rng_seek jumps to a position. */
uint64_t sn_rng_position(const sn_rng *r);
void sn_rng_seek(sn_rng *r, uint64_t position);

uint32_t sn_rng_u32(sn_rng *r);
uint64_t sn_rng_u64(sn_rng *r);
/* Uniform in [0, 1): 53 random bits (double) or 24 random bits (float). */
double sn_rng_uniform(sn_rng *r);
float sn_rng_uniformf(sn_rng *r);
/* Uniform in [lo, hi). */
double sn_rng_range(sn_rng *r, double lo, double hi);
/* Uniform integer in [lo, hi] inclusive, exactly unbiased (rejection). Requires lo <= hi. */
int64_t sn_rng_int(sn_rng *r, int64_t lo, int64_t hi);
/* Standard normal (Box-Muller; the second value of each pair is cached in r). */
double sn_rng_normal(sn_rng *r);
/* Fisher-Yates shuffle of n ints in place; sn_rng_permutation fills a with a random
 * permutation of 0..n-1. */
void sn_rng_shuffle(sn_rng *r, int *a, int n);
void sn_rng_permutation(sn_rng *r, int *a, int n);

#endif
