/* The counter-based generator: Philox4x32-10 known answers, stream keying, positions, and the
 * distributions (uniform, integers, normal, permutations). */
#include "sernet/rng.h"
#include "sn_test.h"

#include <string.h>

static void kat(void)
{
    /* Random123 tests/kat_vectors, the three "philox4x32 10" lines: ctr[4] key[2] -> out[4]. */
    static const uint32_t v[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        sn_rng_philox4x32_10(v[i], v[i] + 4, out);
        for (int j = 0; j < 4; j++)
            EXPECT_MSG(out[j] == v[i][6 + j], "KAT %d word %d: %08x, want %08x", i, j, out[j], v[i][6 + j]);
    }
}

/* The stream is Philox applied to the documented counter layout. */
static void layout(void)
{
    sn_rng r;
    uint64_t seed = UINT64_C(0x0123456789abcdef), sample = UINT64_C(0x00ab12345678);
    sn_rng_init(&r, seed, 7, 99, sample);
    for (uint32_t block = 0; block < 3; block++) {
        uint32_t ctr[4] = {block, (uint32_t)sample, (uint32_t)(sample >> 32) | (7u << 24), 99};
        uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
        uint32_t want[4];
        sn_rng_philox4x32_10(ctr, key, want);
        for (int j = 0; j < 4; j++)
            EXPECT(sn_rng_u32(&r) == want[j]);
    }
}

static void positions(void)
{
    sn_rng a, b;
    uint32_t seq[40];
    sn_rng_init(&a, 5, 1, 2, 3);
    for (int i = 0; i < 40; i++) {
        EXPECT(sn_rng_position(&a) == (uint64_t)i);
        seq[i] = sn_rng_u32(&a);
    }
    int ok = 1;
    for (int start = 0; start < 40; start++) {
        sn_rng_init(&b, 5, 1, 2, 3);
        sn_rng_seek(&b, (uint64_t)start);
        ok &= sn_rng_position(&b) == (uint64_t)start;
        for (int i = start; i < 40; i++)
            ok &= sn_rng_u32(&b) == seq[i];
    }
    EXPECT_MSG(ok, "seek(k) continues the stream at draw k");
    /* Rerun: same key, same stream. */
    sn_rng_init(&b, 5, 1, 2, 3);
    ok = 1;
    for (int i = 0; i < 40; i++)
        ok &= sn_rng_u32(&b) == seq[i];
    EXPECT_MSG(ok, "same key, same stream");
}

/* Streams that differ in any one key component share no draws in their first 4096 words and
 * are uncorrelated. */
static void independence(void)
{
    enum { N = 4096 };
    static uint32_t base[N], other[N];
    sn_rng r;
    sn_rng_init(&r, 11, 1, 4, 1000);
    for (int i = 0; i < N; i++)
        base[i] = sn_rng_u32(&r);
    struct { uint64_t seed; uint32_t stage, epoch; uint64_t sample; const char *what; } v[] = {
        {12, 1, 4, 1000, "seed"}, {11, 2, 4, 1000, "stage"}, {11, 1, 5, 1000, "epoch"},
        {11, 1, 4, 1001, "sample"}, {11, 1, 4, 1000 + (UINT64_C(1) << 32), "sample bit 32"},
        {11 + (UINT64_C(1) << 32), 1, 4, 1000, "seed bit 32"},
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        sn_rng_init(&r, v[k].seed, v[k].stage, v[k].epoch, v[k].sample);
        int same = 0;
        double sx = 0, sy = 0, sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < N; i++) {
            other[i] = sn_rng_u32(&r);
            same += other[i] == base[i];
            double x = base[i] * 0x1p-32, y = other[i] * 0x1p-32;
            sx += x; sy += y; sxy += x * y; sxx += x * x; syy += y * y;
        }
        double cov = sxy / N - sx / N * sy / N;
        double corr = cov / sqrt((sxx / N - sx / N * sx / N) * (syy / N - sy / N * sy / N));
        EXPECT_MSG(same == 0, "stream differing in %s: %d equal draws", v[k].what, same);
        /* |corr| of independent uniforms has sd 1/sqrt(N) = 0.016. */
        EXPECT_MSG(fabs(corr) < 0.08, "stream differing in %s: correlation %.4f", v[k].what, corr);
    }
}

static void uniform_dist(void)
{
    enum { N = 200000, BINS = 50 };
    int hist[BINS] = {0}, histf[BINS] = {0};
    sn_rng r;
    sn_rng_init(&r, 3, 0, 0, 0);
    double mn = 1, mx = 0, sum = 0;
    int fok = 1;
    for (int i = 0; i < N; i++) {
        double u = sn_rng_uniform(&r);
        float f = sn_rng_uniformf(&r);
        mn = fmin(mn, u);
        mx = fmax(mx, u);
        sum += u;
        hist[(int)(u * BINS)]++;
        fok &= f >= 0.0f && f < 1.0f;
        histf[(int)(f * BINS)]++;
    }
    EXPECT(mn >= 0.0 && mx < 1.0);
    EXPECT_MSG(fok, "uniform floats in [0, 1)");
    EXPECT_NEAR(sum / N, 0.5, 4 * sqrt(1.0 / 12 / N));
    double chi = 0, chif = 0, e = (double)N / BINS;
    for (int b = 0; b < BINS; b++) {
        chi += (hist[b] - e) * (hist[b] - e) / e;
        chif += (histf[b] - e) * (histf[b] - e) / e;
    }
    /* 49 degrees of freedom: the 0.999 quantile is 85.4. */
    EXPECT_MSG(chi < 85.4, "uniform double chi2 = %.1f", chi);
    EXPECT_MSG(chif < 85.4, "uniform float chi2 = %.1f", chif);
    double lo = 1e9, hi = -1e9;
    for (int i = 0; i < 10000; i++) {
        double v = sn_rng_range(&r, -0.3, 0.3);
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    EXPECT(lo >= -0.3 && hi < 0.3 && lo < -0.29 && hi > 0.29);
}

static void integers(void)
{
    sn_rng r;
    sn_rng_init(&r, 8, 0, 0, 0);
    /* A range that is not a power of two, every value hit about equally often. */
    enum { N = 70000, K = 7 };
    int hist[K] = {0};
    int ok = 1;
    for (int i = 0; i < N; i++) {
        int64_t v = sn_rng_int(&r, -3, 3);
        ok &= v >= -3 && v <= 3;
        if (v >= -3 && v <= 3)
            hist[v + 3]++;
    }
    EXPECT_MSG(ok, "sn_rng_int(-3, 3) stays in range");
    double chi = 0, e = (double)N / K;
    for (int k = 0; k < K; k++)
        chi += (hist[k] - e) * (hist[k] - e) / e;
    EXPECT_MSG(chi < 22.5, "int chi2 = %.1f (6 dof, 0.999 quantile 22.5)", chi);
    EXPECT(sn_rng_int(&r, 5, 5) == 5);
    /* Wide ranges: 64-bit path, bounds respected. */
    int64_t big = INT64_C(1) << 40;
    int okb = 1, hi_half = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t v = sn_rng_int(&r, -big, big);
        okb &= v >= -big && v <= big;
        hi_half += v > 0;
    }
    EXPECT(okb);
    EXPECT(hi_half > 400 && hi_half < 600);
    int64_t full = sn_rng_int(&r, INT64_MIN, INT64_MAX);
    (void)full;
}

static void normal(void)
{
    enum { N = 100000 };
    sn_rng r;
    sn_rng_init(&r, 21, 0, 0, 0);
    double s1 = 0, s2 = 0, s4 = 0;
    int within1 = 0;
    for (int i = 0; i < N; i++) {
        double z = sn_rng_normal(&r);
        s1 += z;
        s2 += z * z;
        s4 += z * z * z * z;
        within1 += fabs(z) < 1.0;
    }
    EXPECT_NEAR(s1 / N, 0.0, 4 / sqrt(N));
    EXPECT_NEAR(s2 / N, 1.0, 4 * sqrt(2.0 / N));
    EXPECT_NEAR(s4 / N, 3.0, 4 * sqrt(96.0 / N));
    EXPECT_NEAR((double)within1 / N, 0.682689, 4 * sqrt(0.2166 / N));
}

static void permutations(void)
{
    sn_rng r;
    sn_rng_init(&r, 1, 0, 0, 0);
    int a[100];
    sn_rng_permutation(&r, a, 100);
    int seen[100] = {0}, ok = 1;
    for (int i = 0; i < 100; i++) {
        ok &= a[i] >= 0 && a[i] < 100;
        if (a[i] >= 0 && a[i] < 100)
            seen[a[i]]++;
    }
    for (int i = 0; i < 100; i++)
        ok &= seen[i] == 1;
    EXPECT_MSG(ok, "permutation of 0..99 holds each value once");
    /* All 24 orders of 4 elements about equally likely. */
    enum { N = 48000 };
    int count[256] = {0};
    for (int i = 0; i < N; i++) {
        int p[4];
        sn_rng_permutation(&r, p, 4);
        count[p[0] * 64 + p[1] * 16 + p[2] * 4 + p[3]]++;
    }
    int distinct = 0;
    double chi = 0, e = N / 24.0;
    for (int i = 0; i < 256; i++) {
        if (count[i]) {
            distinct++;
            chi += (count[i] - e) * (count[i] - e) / e;
        }
    }
    EXPECT(distinct == 24);
    EXPECT_MSG(chi < 49.7, "permutation chi2 = %.1f (23 dof, 0.999 quantile 49.7)", chi);
    int b[5] = {10, 20, 30, 40, 50}, sum = 0;
    sn_rng_shuffle(&r, b, 5);
    for (int i = 0; i < 5; i++)
        sum += b[i];
    EXPECT(sum == 150);
}

int main(void)
{
    kat();
    layout();
    positions();
    independence();
    uniform_dist();
    integers();
    normal();
    permutations();
    return sn_test_finish();
}
