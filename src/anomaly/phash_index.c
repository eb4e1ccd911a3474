/* Hamming-distance search over 64-bit hashes: blocked linear scan with runtime-dispatched
 * popcount kernels, plus plain reference implementations. */
#include "sernet/hashindex.h"
#include "sernet/phash.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define SN_X86 1
#include <immintrin.h>
#else
#define SN_X86 0
#endif

#define BLOCK 1024 /* hashes per distance block (8 KiB of hashes, 1 KiB of distances) */

typedef void (*dist_fn)(const uint64_t *h, int n, uint64_t q, uint8_t *d);
typedef int (*min_fn)(const uint64_t *h, int n, uint64_t q);

static void dist_scalar(const uint64_t *h, int n, uint64_t q, uint8_t *d)
{
    for (int i = 0; i < n; i++)
        d[i] = (uint8_t)__builtin_popcountll(h[i] ^ q);
}

static int min_scalar(const uint64_t *h, int n, uint64_t q)
{
    int m = 64;
    for (int i = 0; i < n; i++) {
        int a = __builtin_popcountll(h[i] ^ q);
        m = a < m ? a : m;
    }
    return m;
}

#if SN_X86
__attribute__((target("popcnt"))) static void dist_popcnt(const uint64_t *h, int n, uint64_t q,
                                                         uint8_t *d)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        d[i] = (uint8_t)__builtin_popcountll(h[i] ^ q);
        d[i + 1] = (uint8_t)__builtin_popcountll(h[i + 1] ^ q);
        d[i + 2] = (uint8_t)__builtin_popcountll(h[i + 2] ^ q);
        d[i + 3] = (uint8_t)__builtin_popcountll(h[i + 3] ^ q);
    }
    for (; i < n; i++)
        d[i] = (uint8_t)__builtin_popcountll(h[i] ^ q);
}

/* Popcount of each byte by two 16-entry table look-ups (low and high nibble), then the sum of
 * the 8 bytes of each 64-bit lane with VPSADBW against zero. */
__attribute__((target("avx2"))) static void dist_avx2(const uint64_t *h, int n, uint64_t q,
                                                     uint8_t *d)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                         1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nib = _mm256_set1_epi8(0x0f);
    const __m256i qv = _mm256_set1_epi64x((long long)q);
    /* byte 0 of each 64-bit lane to bytes 0, 1 of each 128-bit half */
    const __m256i pick = _mm256_setr_epi8(0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, 0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1);
    const __m256i zero = _mm256_setzero_si256();
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(h + i)), qv);
        __m256i lo = _mm256_and_si256(x, nib);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), nib);
        __m256i c = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
        __m256i s = _mm256_shuffle_epi8(_mm256_sad_epu8(c, zero), pick);
        uint16_t a = (uint16_t)_mm256_extract_epi16(s, 0), b = (uint16_t)_mm256_extract_epi16(s, 8);
        memcpy(d + i, &a, 2);
        memcpy(d + i + 2, &b, 2);
    }
    for (; i < n; i++)
        d[i] = (uint8_t)__builtin_popcountll(h[i] ^ q);
}

__attribute__((target("avx512f,avx512bw"))) static void dist_avx512bw(const uint64_t *h, int n,
                                                                     uint64_t q, uint8_t *d)
{
    const __m512i lut = _mm512_broadcast_i32x4(
        _mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
    const __m512i nib = _mm512_set1_epi8(0x0f);
    const __m512i qv = _mm512_set1_epi64((long long)q);
    const __m512i zero = _mm512_setzero_si512();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512i x = _mm512_xor_si512(_mm512_loadu_si512((const void *)(h + i)), qv);
        __m512i lo = _mm512_and_si512(x, nib);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), nib);
        __m512i c = _mm512_add_epi8(_mm512_shuffle_epi8(lut, lo), _mm512_shuffle_epi8(lut, hi));
        __m128i s = _mm512_cvtepi64_epi8(_mm512_sad_epu8(c, zero));
        _mm_storel_epi64((__m128i *)(d + i), s);
    }
    for (; i < n; i++)
        d[i] = (uint8_t)__builtin_popcountll(h[i] ^ q);
}

__attribute__((target("avx512f,avx512vpopcntdq"))) static void dist_avx512vpopcnt(const uint64_t *h,
                                                                                 int n, uint64_t q,
                                                                                 uint8_t *d)
{
    const __m512i qv = _mm512_set1_epi64((long long)q);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512i x = _mm512_xor_si512(_mm512_loadu_si512((const void *)(h + i)), qv);
        _mm_storel_epi64((__m128i *)(d + i), _mm512_cvtepi64_epi8(_mm512_popcnt_epi64(x)));
    }
    for (; i < n; i++)
        d[i] = (uint8_t)__builtin_popcountll(h[i] ^ q);
}

/* Block minimum kernels: the smallest distance in h[0..n-1], without storing the distances. */
__attribute__((target("popcnt"))) static int min_popcnt(const uint64_t *h, int n, uint64_t q)
{
    int m0 = 64, m1 = 64, m2 = 64, m3 = 64, i = 0;
    for (; i + 4 <= n; i += 4) {
        int a = __builtin_popcountll(h[i] ^ q), b = __builtin_popcountll(h[i + 1] ^ q);
        int c = __builtin_popcountll(h[i + 2] ^ q), d = __builtin_popcountll(h[i + 3] ^ q);
        m0 = a < m0 ? a : m0;
        m1 = b < m1 ? b : m1;
        m2 = c < m2 ? c : m2;
        m3 = d < m3 ? d : m3;
    }
    for (; i < n; i++) {
        int a = __builtin_popcountll(h[i] ^ q);
        m0 = a < m0 ? a : m0;
    }
    m0 = m1 < m0 ? m1 : m0;
    m2 = m3 < m2 ? m3 : m2;
    return m2 < m0 ? m2 : m0;
}

__attribute__((target("avx2"))) static inline __m256i popcnt_avx2(__m256i x)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                         1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nib = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(x, nib);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), nib);
    __m256i c = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
    return _mm256_sad_epu8(c, _mm256_setzero_si256()); /* 64-bit lanes, values 0..64 */
}

__attribute__((target("avx2"))) static int min_avx2(const uint64_t *h, int n, uint64_t q)
{
    const __m256i qv = _mm256_set1_epi64x((long long)q);
    __m256i m0 = _mm256_set1_epi64x(64), m1 = m0;
    int i = 0;
    /* lanes hold values <= 64 with zero upper halves: a 32-bit unsigned minimum is exact */
    for (; i + 8 <= n; i += 8) {
        __m256i a = popcnt_avx2(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(h + i)), qv));
        __m256i b = popcnt_avx2(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(h + i + 4)), qv));
        m0 = _mm256_min_epu32(m0, a);
        m1 = _mm256_min_epu32(m1, b);
    }
    m0 = _mm256_min_epu32(m0, m1);
    uint32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, m0);
    int m = 64;
    for (int j = 0; j < 8; j += 2)
        m = (int)lanes[j] < m ? (int)lanes[j] : m;
    for (; i < n; i++) {
        int a = __builtin_popcountll(h[i] ^ q);
        m = a < m ? a : m;
    }
    return m;
}

__attribute__((target("avx512f,avx512bw"))) static inline __m512i popcnt_avx512bw(__m512i x)
{
    const __m512i lut = _mm512_broadcast_i32x4(
        _mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
    const __m512i nib = _mm512_set1_epi8(0x0f);
    __m512i lo = _mm512_and_si512(x, nib);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), nib);
    __m512i c = _mm512_add_epi8(_mm512_shuffle_epi8(lut, lo), _mm512_shuffle_epi8(lut, hi));
    return _mm512_sad_epu8(c, _mm512_setzero_si512());
}

__attribute__((target("avx512f,avx512bw"))) static int min_avx512bw(const uint64_t *h, int n, uint64_t q)
{
    const __m512i qv = _mm512_set1_epi64((long long)q);
    __m512i m0 = _mm512_set1_epi64(64), m1 = m0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i a = popcnt_avx512bw(_mm512_xor_si512(_mm512_loadu_si512((const void *)(h + i)), qv));
        __m512i b = popcnt_avx512bw(_mm512_xor_si512(_mm512_loadu_si512((const void *)(h + i + 8)), qv));
        m0 = _mm512_min_epu64(m0, a);
        m1 = _mm512_min_epu64(m1, b);
    }
    int m = (int)_mm512_reduce_min_epu64(_mm512_min_epu64(m0, m1));
    for (; i < n; i++) {
        int a = __builtin_popcountll(h[i] ^ q);
        m = a < m ? a : m;
    }
    return m;
}

__attribute__((target("avx512f,avx512vpopcntdq"))) static int min_avx512vpopcnt(const uint64_t *h, int n,
                                                                               uint64_t q)
{
    const __m512i qv = _mm512_set1_epi64((long long)q);
    __m512i m0 = _mm512_set1_epi64(64), m1 = m0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i a = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512((const void *)(h + i)), qv));
        __m512i b = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512((const void *)(h + i + 8)), qv));
        m0 = _mm512_min_epu64(m0, a);
        m1 = _mm512_min_epu64(m1, b);
    }
    int m = (int)_mm512_reduce_min_epu64(_mm512_min_epu64(m0, m1));
    for (; i < n; i++) {
        int a = __builtin_popcountll(h[i] ^ q);
        m = a < m ? a : m;
    }
    return m;
}
#endif

int sn_hashindex_kernel_available(sn_hashindex_kernel k)
{
    switch (k) {
    case SN_HASHINDEX_AUTO:
    case SN_HASHINDEX_SCALAR: return 1;
#if SN_X86
    case SN_HASHINDEX_POPCNT: return __builtin_cpu_supports("popcnt");
    case SN_HASHINDEX_AVX2: return __builtin_cpu_supports("avx2");
    case SN_HASHINDEX_AVX512BW:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    case SN_HASHINDEX_AVX512VPOPCNT:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
#endif
    default: return 0;
    }
}

const char *sn_hashindex_kernel_name(sn_hashindex_kernel k)
{
    static const char *names[] = {"auto", "scalar", "popcnt", "avx2", "avx512bw", "avx512vpopcntdq"};
    return (int)k >= 0 && k < SN_HASHINDEX_N_KERNELS ? names[k] : "unknown";
}

sn_hashindex_kernel sn_hashindex_kernel_auto(void)
{
    static const sn_hashindex_kernel order[] = {SN_HASHINDEX_AVX512VPOPCNT, SN_HASHINDEX_AVX512BW,
                                                SN_HASHINDEX_AVX2, SN_HASHINDEX_POPCNT};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (sn_hashindex_kernel_available(order[i]))
            return order[i];
    return SN_HASHINDEX_SCALAR;
}

typedef struct {
    dist_fn dist; /* distances of a block into bytes */
    min_fn min;   /* smallest distance of a block */
} kernel_pair;

static kernel_pair kernel_fns(sn_hashindex_kernel k)
{
    if (k == SN_HASHINDEX_AUTO)
        k = sn_hashindex_kernel_auto();
    switch (k) {
#if SN_X86
    case SN_HASHINDEX_POPCNT: return (kernel_pair){dist_popcnt, min_popcnt};
    case SN_HASHINDEX_AVX2: return (kernel_pair){dist_avx2, min_avx2};
    case SN_HASHINDEX_AVX512BW: return (kernel_pair){dist_avx512bw, min_avx512bw};
    case SN_HASHINDEX_AVX512VPOPCNT: return (kernel_pair){dist_avx512vpopcnt, min_avx512vpopcnt};
#endif
    default: return (kernel_pair){dist_scalar, min_scalar};
    }
}

/* First position in h[0..n-1] at distance m (known to exist). */
static int first_at(const uint64_t *h, int n, uint64_t q, int m)
{
    int i = 0;
    while (i < n - 1 && __builtin_popcountll(h[i] ^ q) != m)
        i++;
    return i;
}

static sn_status check_args(const uint64_t *hashes, int64_t n, int k)
{
    if (n < 1)
        return SN_ERR(SN_EINVAL, "empty hash index: nothing to search (%lld hashes)", (long long)n);
    if (!hashes)
        return SN_ERR(SN_EINVAL, "hash index: no hash array");
    if (k < 1)
        return SN_ERR(SN_EINVAL, "hash index: k = %d, expected k >= 1", k);
    return SN_OK;
}

sn_status sn_hashindex_topk_with(sn_hashindex_kernel kernel, const uint64_t *hashes, int64_t n,
                                 uint64_t query, int k, int64_t *index, int *distance, int *found)
{
    sn_status status = SN_OK;
    int *dist = NULL;
    uint8_t d[BLOCK];
    int count = 0;
    if (found)
        *found = 0;
    SN_TRY(check_args(hashes, n, k));
    if (!index)
        SN_FAIL(SN_EINVAL, "hash index: no output array");
    if (!sn_hashindex_kernel_available(kernel))
        SN_FAIL(SN_EINVAL, "hash index: kernel %s not supported by this CPU",
                sn_hashindex_kernel_name(kernel));
    kernel_pair kf = kernel_fns(kernel);
    if ((int64_t)k > n)
        k = (int)n;
    dist = distance ? distance : malloc(sizeof(int) * (size_t)k);
    if (!dist)
        SN_FAIL(SN_ENOMEM, "hash index: no memory for %d results", k);
    int worst = 65; /* distance an entry must beat once the list is full */
    for (int64_t b = 0; b < n; b += BLOCK) {
        int nb = (int)SN_MIN((int64_t)BLOCK, n - b);
        if (kf.min(hashes + b, nb, query) >= worst)
            continue;
        kf.dist(hashes + b, nb, query, d);
        for (int i = 0; i < nb; i++) {
            int di = d[i];
            if (di >= worst)
                continue;
            /* insert after every entry with distance <= di: equal distances stay in index order */
            int pos = count < k ? count : k - 1;
            while (pos > 0 && dist[pos - 1] > di) {
                dist[pos] = dist[pos - 1];
                index[pos] = index[pos - 1];
                pos--;
            }
            dist[pos] = di;
            index[pos] = b + i;
            if (count < k)
                count++;
            if (count == k)
                worst = dist[k - 1];
        }
        if (count == k && worst == 0)
            break; /* k exact matches found, in index order: nothing can beat them */
    }
    if (found)
        *found = count;
done:
    if (dist != distance)
        free(dist);
    return status;
}

sn_status sn_hashindex_topk(const uint64_t *hashes, int64_t n, uint64_t query, int k, int64_t *index,
                            int *distance, int *found)
{
    return sn_hashindex_topk_with(SN_HASHINDEX_AUTO, hashes, n, query, k, index, distance, found);
}

sn_status sn_hashindex_nearest(const uint64_t *hashes, int64_t n, uint64_t query, int64_t *index,
                               int *distance)
{
    sn_status status = SN_OK;
    SN_TRY(check_args(hashes, n, 1));
    min_fn fn = kernel_fns(SN_HASHINDEX_AUTO).min;
    int best = 65;
    int64_t at = 0;
    for (int64_t b = 0; b < n && best > 0; b += BLOCK) {
        int nb = (int)SN_MIN((int64_t)BLOCK, n - b);
        int m = fn(hashes + b, nb, query);
        if (m < best) {
            best = m;
            at = b + first_at(hashes + b, nb, query, m);
        }
    }
    *index = at;
    if (distance)
        *distance = best;
done:
    return status;
}

sn_status sn_hashindex_nearest_many(const uint64_t *hashes, int64_t n, const uint64_t *queries,
                                    int64_t m, int64_t *index, int *distance)
{
    sn_status status = SN_OK;
    enum { QCHUNK = 64, IBLOCK = 2048 }; /* 16 KiB of index hashes per pass, reused by 64 queries */
    SN_TRY(check_args(hashes, n, 1));
    if (m < 0 || (m > 0 && (!queries || !index)))
        SN_FAIL(SN_EINVAL, "hash index: bad query arrays (%lld queries)", (long long)m);
    min_fn fn = kernel_fns(SN_HASHINDEX_AUTO).min;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t q0 = 0; q0 < m; q0 += QCHUNK) {
        int best[QCHUNK];
        int64_t at[QCHUNK];
        int nq = (int)SN_MIN((int64_t)QCHUNK, m - q0);
        for (int j = 0; j < nq; j++) {
            best[j] = 65;
            at[j] = 0;
        }
        for (int64_t b = 0; b < n; b += IBLOCK) {
            int nb = (int)SN_MIN((int64_t)IBLOCK, n - b);
            for (int j = 0; j < nq; j++) {
                if (best[j] == 0)
                    continue;
                int mn = fn(hashes + b, nb, queries[q0 + j]);
                if (mn < best[j]) {
                    best[j] = mn;
                    at[j] = b + first_at(hashes + b, nb, queries[q0 + j], mn);
                }
            }
        }
        for (int j = 0; j < nq; j++) {
            index[q0 + j] = at[j];
            if (distance)
                distance[q0 + j] = best[j];
        }
    }
done:
    return status;
}

/* ---- reference ---------------------------------------------------------------------------- */

static int ref_popcount(uint64_t x)
{
    int c = 0;
    for (int i = 0; i < 64; i++)
        c += (int)((x >> i) & 1u);
    return c;
}

sn_status sn_hashindex_nearest_ref(const uint64_t *hashes, int64_t n, uint64_t query, int64_t *index,
                                   int *distance)
{
    sn_status status = SN_OK;
    SN_TRY(check_args(hashes, n, 1));
    int best = ref_popcount(hashes[0] ^ query);
    int64_t at = 0;
    for (int64_t i = 1; i < n; i++) {
        int di = ref_popcount(hashes[i] ^ query);
        if (di < best) {
            best = di;
            at = i;
        }
    }
    *index = at;
    if (distance)
        *distance = best;
done:
    return status;
}

typedef struct {
    int d;
    int64_t i;
} ref_pair;

static int ref_cmp(const void *a, const void *b)
{
    const ref_pair *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

sn_status sn_hashindex_topk_ref(const uint64_t *hashes, int64_t n, uint64_t query, int k,
                                int64_t *index, int *distance, int *found)
{
    sn_status status = SN_OK;
    ref_pair *all = NULL;
    SN_TRY(check_args(hashes, n, k));
    all = malloc(sizeof *all * (size_t)n);
    if (!all)
        SN_FAIL(SN_ENOMEM, "hash index reference: no memory for %lld pairs", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        all[i].d = ref_popcount(hashes[i] ^ query);
        all[i].i = i;
    }
    qsort(all, (size_t)n, sizeof *all, ref_cmp);
    int f = (int64_t)k < n ? k : (int)n;
    for (int j = 0; j < f; j++) {
        index[j] = all[j].i;
        if (distance)
            distance[j] = all[j].d;
    }
    if (found)
        *found = f;
done:
    free(all);
    return status;
}

/* Hash n stored S x S RGB images and search each one's nearest index entry. */
sn_status sn_hashindex_nearest_images(const uint64_t *hashes, int64_t nh, const uint8_t *images, int n,
                                      int S, int64_t *index, int *distance)
{
    sn_status status = SN_OK;
    uint64_t *q = NULL;
    if (n < 0 || S < 1 || (n > 0 && (!images || !index)))
        SN_FAIL(SN_EINVAL, "hash index: bad query images (%d of %d x %d)", n, S, S);
    if (nh < 1)
        SN_FAIL(SN_EINVAL, "empty hash index: nothing to search (%lld hashes)", (long long)nh);
    if (n == 0)
        goto done;
    SN_ALLOC(q, n, "query hashes");
    for (int i = 0; i < n; i++)
        SN_TRY(sn_phash_rgb8(images + (size_t)i * S * S * 3, S, S, 3, &q[i]));
    SN_TRY(sn_hashindex_nearest_many(hashes, nh, q, n, index, distance));
done:
    sn_free(q);
    return status;
}
