/* Repair module on hand-built masks: regions just under / at / over the area threshold, regions
 * touching the border, diagonal-only connections, threshold equality, the masked replacement on
 * C x H x W planes and the batch form. */
#include "sn_test.h"
#include "sernet/repair.h"

#include <stdlib.h>
#include <string.h>

/* Build Mp from a picture: '#' = 0.9, '=' = exactly tau (0.5), '+' = just above tau, '.' = 0.1 */
static void picture(const char *const *rows, int h, int w, float *mp)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            char ch = rows[y][x];
            mp[y * w + x] = ch == '#' ? 0.9f : ch == '=' ? 0.5f : ch == '+' ? nextafterf(0.5f, 1.0f) : 0.1f;
        }
}

static int mask_equals(const uint8_t *m, const char *const *want, int h, int w)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (m[y * w + x] != (want[y][x] == '1'))
                return 0;
    return 1;
}

/* Independent reference for random cases: threshold, 8-connected flood fill, area test, select. */
static int64_t ref_repair(const float *mp, const float *ia, const float *is, int c, int h, int w,
                          double tau, int64_t min_area, float *ir, uint8_t *mask)
{
    int n = h * w;
    int *seen = calloc((size_t)n, sizeof(int)), *stack = malloc(sizeof(int) * (size_t)n);
    int *members = malloc(sizeof(int) * (size_t)n);
    memset(mask, 0, (size_t)n);
    int64_t total = 0;
    for (int s0 = 0; s0 < n; s0++) {
        if (!((double)mp[s0] > tau) || seen[s0])
            continue;
        int sp = 0, nm = 0;
        stack[sp++] = s0;
        seen[s0] = 1;
        while (sp) {
            int p = stack[--sp];
            members[nm++] = p;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int y = p / w + dy, x = p % w + dx;
                    if (y < 0 || y >= h || x < 0 || x >= w)
                        continue;
                    int q = y * w + x;
                    if (!seen[q] && (double)mp[q] > tau) {
                        seen[q] = 1;
                        stack[sp++] = q;
                    }
                }
        }
        if (nm >= min_area) {
            for (int i = 0; i < nm; i++)
                mask[members[i]] = 1;
            total += nm;
        }
    }
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < n; i++)
            ir[ch * n + i] = mask[i] ? is[ch * n + i] : ia[ch * n + i];
    free(seen);
    free(stack);
    free(members);
    return total;
}

static uint64_t lcg = 99;
static double urand(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

int main(void)
{
    enum { H = 9, W = 12 };
    float mp[H * W];
    uint8_t m[H * W];
    int64_t px = -1;

    /* Regions (8-connected): A = 2x2 block in the top-left corner (4 px, touches two borders);
     * B = 5 px along the top and right borders; D = an X of 5 px whose arms touch the centre only
     * diagonally (one region under 8-connectivity, five singletons under 4-connectivity);
     * C = 7 px block with a tail; a 3 px bar; 3 px with one diagonal link; 2 diagonal px. */
    static const char *const pic[H] = {
        "##.......###",
        "##.........#",
        "...........#",
        "#.#.........",
        ".#..###.###.",
        "#.#.###.....",
        "......#..#..",
        "..#......#..",
        "...#....#...",
    };
    static const char *const want5[H] = {
        "000000000111",
        "000000000001",
        "000000000001",
        "101000000000",
        "010011100000",
        "101011100000",
        "000000100000",
        "000000000000",
        "000000000000",
    };
    picture(pic, H, W, mp);
    EXPECT(sn_repair_mask(mp, H, W, 0.5, 5, m, &px) == SN_OK);
    EXPECT(mask_equals(m, want5, H, W));
    EXPECT(px == 5 + 5 + 7);
    /* min_area 4: the 2x2 corner block now stays, the 3-pixel pieces still go */
    static const char *const want4[H] = {
        "110000000111",
        "110000000001",
        "000000000001",
        "101000000000",
        "010011100000",
        "101011100000",
        "000000100000",
        "000000000000",
        "000000000000",
    };
    EXPECT(sn_repair_mask(mp, H, W, 0.5, 4, m, &px) == SN_OK);
    EXPECT(mask_equals(m, want4, H, W) && px == 4 + 5 + 5 + 7);
    /* min_area 6: B (5) and D (5) go, C (7) stays */
    EXPECT(sn_repair_mask(mp, H, W, 0.5, 6, m, &px) == SN_OK && px == 7);
    EXPECT(m[4 * W + 4] && !m[0] && !m[11] && !m[3 * W]);
    /* min_area 8: nothing left; 0 or 1: no filtering at all */
    EXPECT(sn_repair_mask(mp, H, W, 0.5, 8, m, &px) == SN_OK && px == 0);
    EXPECT(sn_repair_mask(mp, H, W, 0.5, 0, m, &px) == SN_OK && px == 4 + 5 + 5 + 7 + 3 + 2 + 3);
    EXPECT(sn_repair_mask(mp, H, W, 0.5, 1, m, &px) == SN_OK && px == 29);

    /* threshold equality: B = Mp > tau strictly */
    static const char *const eq[3] = {"===+", "====", "+==="};
    picture(eq, 3, 4, mp);
    EXPECT(sn_repair_mask(mp, 3, 4, 0.5, 0, m, &px) == SN_OK && px == 2);
    EXPECT(m[3] == 1 && m[8] == 1 && m[0] == 0 && m[5] == 0);
    /* a region whose pixels sit exactly at tau is not a region */
    static const char *const eqblock[3] = {"====", "====", "===="};
    picture(eqblock, 3, 4, mp);
    EXPECT(sn_repair_mask(mp, 3, 4, 0.5, 1, m, &px) == SN_OK && px == 0);
    /* lowering tau below the value turns it on */
    EXPECT(sn_repair_mask(mp, 3, 4, 0.4999, 12, m, &px) == SN_OK && px == 12);
    /* NaN is not anomalous; a NaN tau is an error */
    mp[0] = NAN;
    EXPECT(sn_repair_mask(mp, 3, 4, 0.4, 0, m, &px) == SN_OK && px == 11 && m[0] == 0);
    sn_err_clear();
    EXPECT(sn_repair_mask(mp, 3, 4, NAN, 0, m, &px) == SN_EINVAL);
    sn_err_clear();
    EXPECT(sn_repair_mask(mp, 3, 4, -1.0, 0, m, &px) == SN_EINVAL); /* repair_threshold = auto, uncalibrated */
    EXPECT(strstr(sn_err_msg(), "calibrated") != NULL);
    sn_err_clear();
    EXPECT(sn_repair_mask(mp, 0, 4, 0.5, 0, m, &px) == SN_EINVAL);
    sn_err_clear();

    /* area threshold in pixels from the large_area fraction */
    EXPECT(sn_repair_min_area(0.02, 256, 256) == 1311); /* 1310.72: 1310 is under, 1311 over */
    EXPECT(sn_repair_min_area(0.07, 100, 100) == 700);  /* the product is 700.0000000000001 */
    EXPECT(sn_repair_min_area(0.25, 4, 4) == 4);
    EXPECT(sn_repair_min_area(0.0, 256, 256) == 0);
    EXPECT(sn_repair_min_area(1.0, 3, 5) == 15);

    /* the replacement on 3 x H x W planes, batch of 2, mask written out, aliasing ir == ia */
    {
        enum { C = 3, N = 2 };
        float *bmp = malloc(sizeof(float) * N * H * W);
        float *ia = malloc(sizeof(float) * N * C * H * W), *is = malloc(sizeof(float) * N * C * H * W);
        float *ir = malloc(sizeof(float) * N * C * H * W), *ia2 = malloc(sizeof(float) * N * C * H * W);
        uint8_t *bm = malloc(N * H * W);
        picture(pic, H, W, bmp);
        for (int i = 0; i < H * W; i++)
            bmp[H * W + i] = 0.2f; /* image 1: nothing anomalous */
        for (int i = 0; i < N * C * H * W; i++) {
            ia[i] = (float)i * 0.001f;
            is[i] = 1.0f - (float)i * 0.0005f;
        }
        int64_t rep[N], total = -1;
        EXPECT(sn_repair_batch(N, bmp, ia, is, C, H, W, 0.5, 5, ir, bm, rep, &total) == SN_OK);
        EXPECT(rep[0] == 17 && rep[1] == 0 && total == 17);
        EXPECT(mask_equals(bm, want5, H, W));
        int bad = 0;
        for (int b = 0; b < N; b++)
            for (int ch = 0; ch < C; ch++)
                for (int i = 0; i < H * W; i++) {
                    size_t o = ((size_t)b * C + ch) * H * W + i;
                    int on = b == 0 && want5[i / W][i % W] == '1';
                    bad += ir[o] != (on ? is[o] : ia[o]);
                }
        EXPECT_MSG(bad == 0, "%d repaired values differ from B*Is + (1-B)*Ia", bad);
        memcpy(ia2, ia, sizeof(float) * N * C * H * W);
        EXPECT(sn_repair_batch(N, bmp, ia2, is, C, H, W, 0.5, 5, ia2, NULL, NULL, &total) == SN_OK);
        EXPECT(total == 17 && memcmp(ia2, ir, sizeof(float) * N * C * H * W) == 0);
        sn_err_clear();
        EXPECT(sn_repair_batch(N, bmp, ia, is, 0, H, W, 0.5, 5, ir, NULL, NULL, NULL) == SN_EINVAL);
        sn_err_clear();
        free(bmp);
        free(ia);
        free(is);
        free(ir);
        free(ia2);
        free(bm);
    }
    /* random masks (blobs of several densities, values quantised so that some equal tau) against
     * the independent reference */
    {
        int bad = 0, cases = 0;
        for (int rep = 0; rep < 60; rep++) {
            int h = 1 + (int)(urand() * 40), w = 1 + (int)(urand() * 40), c = 1 + rep % 3;
            double density = 0.2 + 0.6 * urand(), tau = (double)(float)(0.25 * (1 + rep % 3));
            int64_t min_area = (int64_t)(urand() * 30);
            int n = h * w;
            float *p = malloc(sizeof(float) * (size_t)n), *a = malloc(sizeof(float) * (size_t)n * c);
            float *s = malloc(sizeof(float) * (size_t)n * c), *r1 = malloc(sizeof(float) * (size_t)n * c);
            float *r2 = malloc(sizeof(float) * (size_t)n * c);
            uint8_t *m1 = malloc((size_t)n), *m2 = malloc((size_t)n);
            for (int i = 0; i < n; i++)
                p[i] = urand() < density ? (float)((int)(urand() * 5) * 0.25) : 0.0f; /* 0, .25, .5, .75, 1 */
            for (int i = 0; i < n * c; i++) {
                a[i] = (float)urand();
                s[i] = (float)urand();
            }
            int64_t got = -1, want = ref_repair(p, a, s, c, h, w, tau, min_area, r2, m2);
            EXPECT(sn_repair_batch(1, p, a, s, c, h, w, tau, min_area, r1, m1, NULL, &got) == SN_OK);
            cases++;
            if (got != want || memcmp(m1, m2, (size_t)n) || memcmp(r1, r2, sizeof(float) * (size_t)n * c))
                bad++;
            free(p);
            free(a);
            free(s);
            free(r1);
            free(r2);
            free(m1);
            free(m2);
        }
        EXPECT_MSG(bad == 0, "%d of %d random cases differ from the reference", bad, cases);
    }
    return sn_test_finish();
}
