/* Hamming search: every available kernel and the blocked scans against the brute-force
 * reference, on random hashes with many ties (hashes drawn from small pools, near-duplicates). */
#include "sn_test.h"
#include "sernet/hashindex.h"

#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd64(void)
{
    /* splitmix64 */
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* pattern 0: uniform; 1: 5 distinct values (ties everywhere); 2: few bits flipped from one base
 * (small distances, many ties); 3: all identical */
static void fill(uint64_t *h, int64_t n, int pattern, uint64_t base)
{
    uint64_t pool[5];
    for (int i = 0; i < 5; i++)
        pool[i] = rnd64();
    for (int64_t i = 0; i < n; i++) {
        switch (pattern) {
        case 0: h[i] = rnd64(); break;
        case 1: h[i] = pool[rnd64() % 5]; break;
        case 2: h[i] = base ^ (1ULL << (rnd64() % 64)) ^ (1ULL << (rnd64() % 64)); break;
        default: h[i] = base; break;
        }
    }
}

int main(void)
{
    const int64_t sizes[] = {1, 2, 3, 7, 8, 9, 63, 1023, 1024, 1025, 3001, 20000};
    int mismatches = 0, checks = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t n = sizes[si];
        uint64_t *h = malloc(sizeof *h * (size_t)n);
        int64_t *ia = malloc(sizeof(int64_t) * (size_t)(n + 5)), *ib = malloc(sizeof(int64_t) * (size_t)(n + 5));
        int *da = malloc(sizeof(int) * (size_t)(n + 5)), *db = malloc(sizeof(int) * (size_t)(n + 5));
        for (int pattern = 0; pattern < 4; pattern++) {
            uint64_t base = rnd64();
            fill(h, n, pattern, base);
            for (int qi = 0; qi < 6; qi++) {
                /* queries: random, equal to an element, near the base */
                uint64_t q = qi == 0 ? rnd64() : qi == 1 ? h[rnd64() % (uint64_t)n]
                             : qi == 2 ? base : qi == 3 ? ~base : base ^ (rnd64() & rnd64() & rnd64());
                int64_t ri;
                int rd;
                EXPECT(sn_hashindex_nearest_ref(h, n, q, &ri, &rd) == SN_OK);
                int64_t gi = -1;
                int gd = -1;
                EXPECT(sn_hashindex_nearest(h, n, q, &gi, &gd) == SN_OK);
                checks++;
                if (gi != ri || gd != rd) {
                    mismatches++;
                    EXPECT_MSG(0, "nearest n=%lld pattern %d: got %lld/%d, want %lld/%d", (long long)n,
                               pattern, (long long)gi, gd, (long long)ri, rd);
                }
                int ks[] = {1, 2, 5, 17, (int)n, (int)n + 3};
                for (int kk = 0; kk < 6; kk++) {
                    int k = ks[kk], fa = -1, fb = -1;
                    if (k > 3000)
                        continue; /* keep the insertion-based top-k within a unit-test budget */
                    EXPECT(sn_hashindex_topk_ref(h, n, q, k, ib, db, &fb) == SN_OK);
                    for (int kern = 0; kern < SN_HASHINDEX_N_KERNELS; kern++) {
                        if (!sn_hashindex_kernel_available((sn_hashindex_kernel)kern))
                            continue;
                        memset(ia, 0xff, sizeof(int64_t) * (size_t)(n + 5));
                        EXPECT(sn_hashindex_topk_with((sn_hashindex_kernel)kern, h, n, q, k, ia, da, &fa) == SN_OK);
                        checks++;
                        int same = fa == fb && memcmp(ia, ib, sizeof(int64_t) * (size_t)fb) == 0 &&
                                   memcmp(da, db, sizeof(int) * (size_t)fb) == 0;
                        if (!same) {
                            mismatches++;
                            EXPECT_MSG(0, "top-%d kernel %s n=%lld pattern %d: found %d (want %d), first %lld/%d want %lld/%d",
                                       k, sn_hashindex_kernel_name((sn_hashindex_kernel)kern), (long long)n,
                                       pattern, fa, fb, (long long)ia[0], da[0], (long long)ib[0], db[0]);
                        }
                    }
                }
            }
            /* batched queries */
            int64_t m = 130;
            uint64_t *qs = malloc(sizeof *qs * (size_t)m);
            int64_t *mi = malloc(sizeof(int64_t) * (size_t)m);
            int *md = malloc(sizeof(int) * (size_t)m);
            for (int64_t j = 0; j < m; j++)
                qs[j] = j % 3 == 0 ? rnd64() : j % 3 == 1 ? h[rnd64() % (uint64_t)n] : base ^ (rnd64() & rnd64());
            EXPECT(sn_hashindex_nearest_many(h, n, qs, m, mi, md) == SN_OK);
            for (int64_t j = 0; j < m; j++) {
                int64_t ri;
                int rd;
                sn_hashindex_nearest_ref(h, n, qs[j], &ri, &rd);
                checks++;
                if (ri != mi[j] || rd != md[j]) {
                    mismatches++;
                    EXPECT_MSG(0, "nearest_many n=%lld query %lld: got %lld/%d want %lld/%d", (long long)n,
                               (long long)j, (long long)mi[j], md[j], (long long)ri, rd);
                }
            }
            free(qs);
            free(mi);
            free(md);
        }
        free(h);
        free(ia);
        free(ib);
        free(da);
        free(db);
    }
    EXPECT_MSG(mismatches == 0, "%d of %d searches differ from the reference", mismatches, checks);
    printf("%d searches compared; kernels available:", checks);
    for (int kern = 1; kern < SN_HASHINDEX_N_KERNELS; kern++)
        if (sn_hashindex_kernel_available((sn_hashindex_kernel)kern))
            printf(" %s", sn_hashindex_kernel_name((sn_hashindex_kernel)kern));
    printf(" (auto: %s)\n", sn_hashindex_kernel_name(sn_hashindex_kernel_auto()));

    /* hand-checked ties: lowest index wins */
    {
        uint64_t h[] = {0xF0, 0x0F, 0xF0, 0x00, 0x00, 0xFF};
        int64_t i;
        int d;
        EXPECT(sn_hashindex_nearest(h, 6, 0x00, &i, &d) == SN_OK && i == 3 && d == 0);
        EXPECT(sn_hashindex_nearest(h, 6, 0x01, &i, &d) == SN_OK && i == 3 && d == 1);
        EXPECT(sn_hashindex_nearest(h, 3, 0x00, &i, &d) == SN_OK && i == 0 && d == 4);
        int64_t idx[4];
        int dd[4], f;
        EXPECT(sn_hashindex_topk(h, 6, 0xF0, 4, idx, dd, &f) == SN_OK && f == 4);
        EXPECT(idx[0] == 0 && idx[1] == 2 && idx[2] == 3 && idx[3] == 4);
        EXPECT(dd[0] == 0 && dd[1] == 0 && dd[2] == 4 && dd[3] == 4);
    }
    /* bad input */
    {
        uint64_t h[1] = {0};
        int64_t i;
        int d, f;
        sn_err_clear();
        EXPECT(sn_hashindex_nearest(h, 0, 0, &i, &d) == SN_EINVAL);
        EXPECT(strstr(sn_err_msg(), "empty hash index") != NULL);
        sn_err_clear();
        EXPECT(sn_hashindex_topk(h, 0, 0, 1, &i, &d, &f) == SN_EINVAL && f == 0);
        sn_err_clear();
        EXPECT(sn_hashindex_topk(h, 1, 0, 0, &i, &d, &f) == SN_EINVAL);
        sn_err_clear();
        EXPECT(sn_hashindex_nearest_many(h, 0, h, 1, &i, &d) == SN_EINVAL);
        sn_err_clear();
    }
    return sn_test_finish();
}
