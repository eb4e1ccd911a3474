/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) and
 * the distributions built on it. See src/include/sernet/rng.h for the counter layout. */
#include "sernet/rng.h"

#include <math.h>

#define SN_RNG_TWO_PI 6.283185307179586476925286766559

#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)

void sn_rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void sn_rng_init(sn_rng *r, uint64_t seed, uint32_t stage, uint32_t epoch, uint64_t sample)
{
    SN_ASSERT(stage < 256);
    SN_ASSERT(sample <= SN_RNG_MAX_SAMPLE);
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = (uint32_t)sample;
    r->ctr[2] = (uint32_t)(sample >> 32) | (stage << 24);
    r->ctr[3] = epoch;
    r->pos = 4;
    r->has_normal = 0;
    r->normal = 0.0;
}

uint64_t sn_rng_position(const sn_rng *r)
{
    /* ctr[0] counts the blocks already generated. */
    if (r->pos == 4)
        return (uint64_t)r->ctr[0] * 4;
    return ((uint64_t)r->ctr[0] - 1) * 4 + (uint64_t)r->pos;
}

void sn_rng_seek(sn_rng *r, uint64_t position)
{
    SN_ASSERT(position / 4 < UINT32_MAX);
    r->ctr[0] = (uint32_t)(position / 4);
    r->pos = 4;
    r->has_normal = 0;
    if (position % 4) {
        sn_rng_philox4x32_10(r->ctr, r->key, r->buf);
        r->ctr[0]++;
        r->pos = (int)(position % 4);
    }
}

uint32_t sn_rng_u32(sn_rng *r)
{
    if (r->pos == 4) {
        /* 2^32 blocks = 2^34 draws per sample stream; running out is a programming error. */
        SN_ASSERT(r->ctr[0] != UINT32_MAX);
        sn_rng_philox4x32_10(r->ctr, r->key, r->buf);
        r->ctr[0]++;
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

uint64_t sn_rng_u64(sn_rng *r)
{
    uint64_t hi = sn_rng_u32(r);
    return (hi << 32) | sn_rng_u32(r);
}

double sn_rng_uniform(sn_rng *r)
{
    return (double)(sn_rng_u64(r) >> 11) * 0x1.0p-53;
}

float sn_rng_uniformf(sn_rng *r)
{
    return (float)(sn_rng_u32(r) >> 8) * 0x1.0p-24f;
}

double sn_rng_range(sn_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * sn_rng_uniform(r);
}

int64_t sn_rng_int(sn_rng *r, int64_t lo, int64_t hi)
{
    SN_ASSERT(lo <= hi);
    uint64_t span = (uint64_t)hi - (uint64_t)lo; /* number of values - 1 */
    if (span == UINT64_MAX)
        return (int64_t)((uint64_t)lo + sn_rng_u64(r));
    uint64_t n = span + 1;
    if (n <= UINT32_MAX) {
        /* Reject the top partial copy of [0, n) in 32-bit draws. */
        uint32_t n32 = (uint32_t)n;
        uint32_t limit = UINT32_MAX - (uint32_t)(((uint64_t)UINT32_MAX + 1) % n32);
        uint32_t x;
        do
            x = sn_rng_u32(r);
        while (x > limit);
        return (int64_t)((uint64_t)lo + x % n32);
    }
    uint64_t limit = UINT64_MAX - ((UINT64_MAX % n) + 1) % n;
    uint64_t x;
    do
        x = sn_rng_u64(r);
    while (x > limit);
    return (int64_t)((uint64_t)lo + x % n);
}

double sn_rng_normal(sn_rng *r)
{
    if (r->has_normal) {
        r->has_normal = 0;
        return r->normal;
    }
    double u1 = 1.0 - sn_rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = sn_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double th = SN_RNG_TWO_PI * u2;
    r->normal = rad * sin(th);
    r->has_normal = 1;
    return rad * cos(th);
}

void sn_rng_shuffle(sn_rng *r, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)sn_rng_int(r, 0, i);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

void sn_rng_permutation(sn_rng *r, int *a, int n)
{
    for (int i = 0; i < n; i++)
        a[i] = i;
    sn_rng_shuffle(r, a, n);
}
