/* Similar-image search over 64-bit perceptual hashes (METHOD.md §5): nearest neighbour and
 * top-k by Hamming distance (popcount of XOR), ties to the lowest index. A linear scan in blocks:
 * a vectorised kernel writes the distances of a block of hashes into a small byte buffer, a
 * vector minimum decides whether the block can contain a better candidate. See docs/phash.md. */
#ifndef SERNET_HASHINDEX_H
#define SERNET_HASHINDEX_H

#include <mpi.h>

#include "sernet/common.h"

/* Distance kernels. AUTO picks the fastest one the CPU supports (checked at run time). */
typedef enum {
    SN_HASHINDEX_AUTO = 0,
    SN_HASHINDEX_SCALAR,       /* __builtin_popcountll, as compiled */
    SN_HASHINDEX_POPCNT,       /* x86 POPCNT instruction, unrolled by 4 */
    SN_HASHINDEX_AVX2,         /* nibble lookup with VPSHUFB + VPSADBW, 4 hashes per vector */
    SN_HASHINDEX_AVX512BW,     /* same with 512-bit vectors, 8 hashes per vector */
    SN_HASHINDEX_AVX512VPOPCNT,/* VPOPCNTQ (AVX512_VPOPCNTDQ), 8 hashes per vector */
    SN_HASHINDEX_N_KERNELS
} sn_hashindex_kernel;

/* 1 if the kernel can run on this CPU (AUTO and SCALAR always can). */
int sn_hashindex_kernel_available(sn_hashindex_kernel k);
const char *sn_hashindex_kernel_name(sn_hashindex_kernel k);
/* The kernel AUTO resolves to. */
sn_hashindex_kernel sn_hashindex_kernel_auto(void);

/* Nearest hash to `query` among hashes[0..n-1]: *index (lowest on ties) and *distance.
 * n < 1 is SN_EINVAL ("empty hash index"). */
sn_status sn_hashindex_nearest(const uint64_t *hashes, int64_t n, uint64_t query, int64_t *index,
                               int *distance);

/* The k nearest, ordered by (distance, index): index[0..found-1], distance[0..found-1] (may be
 * NULL); found = min(k, n). k < 1 or n < 1 is SN_EINVAL. */
sn_status sn_hashindex_topk(const uint64_t *hashes, int64_t n, uint64_t query, int k, int64_t *index,
                            int *distance, int *found);

/* Nearest for m queries at once (index blocks stay in cache across queries; OpenMP over
 * queries). index/distance have m entries (distance may be NULL). */
sn_status sn_hashindex_nearest_many(const uint64_t *hashes, int64_t n, const uint64_t *queries,
                                    int64_t m, int64_t *index, int *distance);

/* For inference: the nearest index entry of each of n stored S x S RGB images (uint8 [n, S, S, 3],
 * as sn_dataset_read returns them raw): hashes them (sn_phash_rgb8) and searches. index/distance
 * have n entries (distance may be NULL). n = 0 does nothing. */
sn_status sn_hashindex_nearest_images(const uint64_t *hashes, int64_t nh, const uint8_t *images, int n,
                                      int S, int64_t *index, int *distance);

/* The same with an explicit kernel (tests, benchmarks); an unavailable kernel is SN_EINVAL. */
sn_status sn_hashindex_topk_with(sn_hashindex_kernel kernel, const uint64_t *hashes, int64_t n,
                                 uint64_t query, int k, int64_t *index, int *distance, int *found);

/* Plain reference implementations (bit-loop popcount, full sort semantics), for tests. */
sn_status sn_hashindex_nearest_ref(const uint64_t *hashes, int64_t n, uint64_t query, int64_t *index,
                                   int *distance);
sn_status sn_hashindex_topk_ref(const uint64_t *hashes, int64_t n, uint64_t query, int k,
                                int64_t *index, int *distance, int *found);

/* The index stored in dataset files and bundles (build, load, layout): sernet/hashindex_format.h. */
#include "sernet/hashindex_format.h"

#endif
