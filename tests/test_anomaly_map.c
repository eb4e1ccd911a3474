/* Anomaly map: hand-computed pieces, and the fast kernel against the direct reference. */
#include "sn_test.h"
#include "sernet/anomaly_map.h"
#include "sernet/baseline.h"
#include "anomaly/map_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0));
}

static void test_box(void)
{
    /* constant 1: a corner sees 11x11 of the 21x21 window, the centre of a 41x41 image all */
    int h = 41, w = 41;
    float *x = malloc(sizeof(float) * h * w), *a = malloc(sizeof(float) * h * w),
          *b = malloc(sizeof(float) * h * w);
    for (int i = 0; i < h * w; i++)
        x[i] = 1.0f;
    EXPECT(sn_map_box_mean(x, h, w, 21, a) == SN_OK);
    EXPECT_NEAR(a[0], 121.0 / 441.0, 1e-7);
    EXPECT_NEAR(a[20 * w + 20], 1.0, 1e-7);
    EXPECT_NEAR(a[20 * w], 231.0 / 441.0, 1e-7);
    free(x);
    free(a);
    free(b);
    /* random data, several sizes and boxes (including boxes larger than the image) */
    const int sizes[][2] = {{1, 1}, {5, 3}, {17, 40}, {64, 64}, {33, 7}};
    const int boxes[] = {1, 3, 7, 21, 41, 101};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t bi = 0; bi < sizeof boxes / sizeof boxes[0]; bi++) {
            int hh = sizes[si][0], ww = sizes[si][1];
            float *in = malloc(sizeof(float) * hh * ww), *f = malloc(sizeof(float) * hh * ww),
                  *r = malloc(sizeof(float) * hh * ww);
            for (int i = 0; i < hh * ww; i++)
                in[i] = urand() * 1000.0f * (i % 3 == 0 ? 0.001f : 1.0f);
            EXPECT(sn_map_box_mean(in, hh, ww, boxes[bi], f) == SN_OK);
            sn_map_box_mean_ref(in, hh, ww, boxes[bi], r);
            EXPECT_ALLCLOSE(f, r, (size_t)hh * ww, 1e-6, 1e-9, "box mean fast vs direct");
            free(in);
            free(f);
            free(r);
        }
    float dummy = 0;
    EXPECT(sn_map_box_mean(&dummy, 1, 1, 4, &dummy) == SN_EINVAL);
    sn_err_clear();
}

static void test_resize(void)
{
    /* 2x2 -> 4x4 with half-pixel centres: source rows/cols 0, 0.25, 0.75, 1 (clamped) */
    const float in[4] = {0, 1, 2, 3};
    const float want[16] = {0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f,
                            1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3};
    float out[16];
    sn_map_resize_ref(in, 2, 2, out, 4, 4);
    EXPECT_ALLCLOSE(out, want, 16, 0, 1e-6, "bilinear 2x2 -> 4x4");
    /* identity when the sizes agree */
    float x[12], y[12];
    for (int i = 0; i < 12; i++)
        x[i] = urand();
    sn_map_resize_ref(x, 3, 4, y, 3, 4);
    EXPECT_ALLCLOSE(y, x, 12, 0, 1e-30, "bilinear identity");
}

/* The fast kernel's libm-free conversion against powf/cbrtf on a dense sweep (both branch
 * boundaries included) and random colours. */
static void test_lab_fast(void)
{
    enum { N = 3 * 4099 };
    static float rgb[3 * N], a1[N], b1[N], a2[N], b2[N];
    for (int i = 0; i < N; i++) {
        float t = (float)(i % 4099) / 4096.0f; /* 0 .. slightly above 1 */
        rgb[i] = i < 4099 ? t : urand();
        rgb[N + i] = i < 4099 ? 1.0f - t : urand();
        rgb[2 * N + i] = i < 4099 ? 0.5f * t : urand();
    }
    rgb[0] = 0.04045f;
    rgb[1] = nextafterf(0.04045f, 1.0f);
    rgb[N + 2] = 0.0f;
    sn_map_lab_ab(rgb, N, a1, b1);
    sn_map_lab_ab_fast(rgb, N, a2, b2);
    EXPECT_ALLCLOSE(a2, a1, N, 1e-5, 2e-4, "fast CIELAB a vs powf/cbrtf");
    EXPECT_ALLCLOSE(b2, b1, N, 1e-5, 2e-4, "fast CIELAB b vs powf/cbrtf");
}

static void test_lab(void)
{
    /* sRGB primaries in CIELAB (D65): red a=80.09 b=67.20, green a=-86.18 b=83.18,
     * blue a=79.19 b=-107.86; white and grey are neutral. */
    const float rgb[3][6] = {{1, 0, 0, 1, 0.5f, 0}, {0, 1, 0, 1, 0.5f, 0}, {0, 0, 1, 1, 0.5f, 0}};
    float chw[18], a[6], b[6];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 6; i++)
            chw[c * 6 + i] = rgb[c][i];
    sn_map_lab_ab(chw, 6, a, b);
    EXPECT_NEAR(a[0], 80.09, 0.05);
    EXPECT_NEAR(b[0], 67.20, 0.05);
    EXPECT_NEAR(a[1], -86.18, 0.05);
    EXPECT_NEAR(b[1], 83.18, 0.05);
    EXPECT_NEAR(a[2], 79.19, 0.05);
    EXPECT_NEAR(b[2], -107.86, 0.05);
    for (int i = 3; i < 6; i++) {
        EXPECT_NEAR(a[i], 0, 0.01);
        EXPECT_NEAR(b[i], 0, 0.01);
    }
}

/* One scale, box 1, no colour: a single bright pixel v in the centre of a 3x3 image I, R = 0.
 * Pixel (0,1) sees the centre in its lower row: gy = -v/3, gx = 0. Pixel (1,1) sees nothing. */
static void test_hand_gms(void)
{
    sn_map_params p = {1, 1, 0.0, 0, 0, 1};
    float I[27] = {0}, R[27] = {0}, A[9], Aref[9], score = 0;
    const float v = 0.6f;
    for (int c = 0; c < 3; c++)
        I[c * 9 + 4] = v;
    sn_map_ws *ws = NULL;
    EXPECT(sn_map_ws_create(&p, 3, 3, &ws) == SN_OK);
    EXPECT(sn_map_compute(ws, I, R, A, &score) == SN_OK);
    double m1 = sqrt((v / 3.0) * (v / 3.0) + 1e-12), m2 = 1e-6;
    double gms = (2 * m1 * m2 + 0.0026) / (m1 * m1 + m2 * m2 + 0.0026);
    EXPECT_NEAR(A[1], 1 - gms, 1e-6);
    EXPECT_NEAR(A[4], 0, 1e-6);
    /* corner (0,0): centre is down-right: gx = -v/3, gy = -v/3 */
    double mc = sqrt(2 * (v / 3.0) * (v / 3.0) + 1e-12);
    double gc = (2 * mc * m2 + 0.0026) / (mc * mc + m2 * m2 + 0.0026);
    EXPECT_NEAR(A[0], 1 - gc, 1e-6);
    EXPECT_NEAR(score, 1 - gc, 1e-6);
    EXPECT(sn_map_compute_ref(&p, 3, 3, I, R, Aref, NULL, NULL, NULL) == SN_OK);
    EXPECT_ALLCLOSE(A, Aref, 9, 1e-5, 1e-7, "hand case fast vs reference");
    sn_map_ws_free(ws);

    /* colour only: box 1, weight 1, I = red, R = black -> A = 1 - GMS terms + (80.09² + 67.20²) */
    sn_map_params q = {1, 1, 1.0, 0, 0, 1};
    float red[3] = {1, 0, 0}, black[3] = {0, 0, 0}, a1 = 0;
    EXPECT(sn_map_compute_ref(&q, 1, 1, red, black, &a1, NULL, NULL, NULL) == SN_OK);
    EXPECT_NEAR(a1, 80.09 * 80.09 + 67.20 * 67.20, 15.0);
}

static void fill_pair(float *I, float *R, int h, int w, int kind)
{
    size_t n = (size_t)3 * h * w;
    for (size_t i = 0; i < n; i++) {
        int y = (int)((i / (size_t)w) % (size_t)h), x = (int)(i % (size_t)w);
        float base = kind == 0 ? urand() : 0.5f + 0.3f * sinf(0.2f * x + 0.13f * y + (float)(i / ((size_t)h * w)));
        I[i] = base;
        float d = (x > w / 3 && x < w / 2 && y > h / 4 && y < h / 2) ? 0.3f : 0.0f;
        R[i] = fminf(1.0f, fmaxf(0.0f, base + d + 0.02f * (urand() - 0.5f)));
    }
}

static void test_fast_vs_ref(void)
{
    /* erode: msgms_erode (1 off; 0 also off in the struct), including windows wider than a
     * coarse scale (8x8 at scale 3 of 64 with k = 9; 1x1 scales) */
    struct { int h, w, scales, box; double c; int erode; } cases[] = {
        {32, 32, 4, 21, 0.001, 1}, {64, 64, 4, 21, 0.001, 1}, {40, 24, 3, 7, 0.01, 1},
        {17, 23, 2, 5, 1.0, 1},    {16, 16, 1, 1, 0.0, 1},    {48, 48, 4, 61, 0.001, 1},
        {1, 1, 1, 3, 0.5, 1},      {3, 2, 2, 5, 0.01, 1},     {9, 31, 3, 21, 0.001, 1},
        {64, 64, 4, 21, 0.001, 3}, {40, 24, 3, 7, 0.01, 5},   {17, 23, 2, 5, 1.0, 3},
        {64, 64, 4, 21, 0.001, 9}, {4, 6, 3, 3, 0.01, 3},     {16, 16, 1, 1, 0.0, 3},
        {32, 32, 4, 21, 0.001, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int kind = 0; kind < 2; kind++) {
            int h = cases[k].h, w = cases[k].w;
            sn_map_params p = {cases[k].scales, cases[k].box, cases[k].c, 0, 0, cases[k].erode};
            size_t n = (size_t)h * w;
            float *I = malloc(sizeof(float) * 3 * n), *R = malloc(sizeof(float) * 3 * n);
            float *A = malloc(sizeof(float) * n), *B = malloc(sizeof(float) * n);
            float *dg = malloc(sizeof(float) * n), *dc = malloc(sizeof(float) * n);
            fill_pair(I, R, h, w, kind);
            sn_map_ws *ws = NULL;
            float s1 = 0, s2 = 0;
            EXPECT(sn_map_ws_create(&p, h, w, &ws) == SN_OK);
            EXPECT(sn_map_compute(ws, I, R, A, &s1) == SN_OK);
            EXPECT(sn_map_compute_ref(&p, h, w, I, R, B, dg, dc, &s2) == SN_OK);
            EXPECT_ALLCLOSE(A, B, n, 2e-4, 2e-6, "anomaly map fast vs reference");
            EXPECT_NEAR(s1, s2, 2e-4 * fabs(s2) + 2e-6);
            /* the combination A = Dg + c*Dc of the reference's parts */
            double worst = 0;
            float mx = -INFINITY;
            for (size_t i = 0; i < n; i++) {
                worst = fmax(worst, fabs(B[i] - (dg[i] + (float)p.color_weight * dc[i])));
                mx = fmaxf(mx, B[i]);
            }
            EXPECT(worst < 1e-6);
            EXPECT(s2 == mx);
            /* identical images: A = 0 */
            EXPECT(sn_map_compute(ws, I, I, A, &s1) == SN_OK);
            EXPECT_NEAR(s1, 0, 1e-5);
            sn_map_ws_free(ws);
            free(I); free(R); free(A); free(B); free(dg); free(dc);
        }
    }
}

/* score_msgms_scales / score_box_size: A unchanged, the score the maximum of the second map, fast
 * and reference, one image and a batch; equal to A's parameters means no second map; errors. */
static void test_score_map(void)
{
    const int h = 48, w = 40;
    const size_t n = (size_t)h * w;
    float *I = malloc(sizeof(float) * 3 * n * 2), *R = malloc(sizeof(float) * 3 * n * 2);
    float *A0 = malloc(sizeof(float) * n), *A = malloc(sizeof(float) * n), *S = malloc(sizeof(float) * n);
    fill_pair(I, R, h, w, 0);
    fill_pair(I + 3 * n, R + 3 * n, h, w, 1);
    struct { int ss, sb, scales, box; } cases[] = {{1, 11, 1, 11}, {2, 0, 2, 21}, {0, 5, 4, 5}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sn_map_params p = {4, 21, 0.001, cases[k].ss, cases[k].sb, 1}, plain = {4, 21, 0.001, 0, 0, 1};
        sn_map_params sp = {cases[k].scales, cases[k].box, 0.001, 0, 0, 1}, got;
        sn_map_params_score(&p, &got);
        EXPECT(got.scales == sp.scales && got.box == sp.box && got.score_scales == 0 && got.score_box == 0);
        EXPECT(sn_map_params_separate_score(&p) && !sn_map_params_separate_score(&plain));
        sn_map_ws *ws = NULL, *w0 = NULL, *ws2 = NULL;
        float s = 0, s0 = 0, s2 = 0, sr = 0, sr2 = 0, sb[2];
        EXPECT(sn_map_ws_create(&p, h, w, &ws) == SN_OK && sn_map_ws_create(&plain, h, w, &w0) == SN_OK &&
               sn_map_ws_create(&sp, h, w, &ws2) == SN_OK);
        EXPECT(sn_map_compute(ws, I, R, A, &s) == SN_OK && sn_map_compute(w0, I, R, A0, &s0) == SN_OK &&
               sn_map_compute(ws2, I, R, S, &s2) == SN_OK);
        EXPECT_MSG(memcmp(A, A0, n * sizeof *A) == 0, "score keys changed the anomaly map (case %zu)", k);
        float mx = -INFINITY, mx0 = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            mx = fmaxf(mx, S[i]);
            mx0 = fmaxf(mx0, A0[i]);
        }
        EXPECT_MSG(s == mx && s2 == mx && s0 == mx0 && s != s0, "case %zu: score %g, second map's max %g, A's %g", k,
                   s, mx, mx0);
        EXPECT(sn_map_compute_ref(&p, h, w, I, R, NULL, NULL, NULL, &sr) == SN_OK &&
               sn_map_compute_ref(&sp, h, w, I, R, NULL, NULL, NULL, &sr2) == SN_OK);
        EXPECT(sr == sr2);
        EXPECT_NEAR(sr, s, 2e-4 * fabs(sr) + 2e-6);
        EXPECT(sn_map_compute_batch(&p, 2, h, w, I, R, NULL, sb) == SN_OK);
        EXPECT(sb[0] == s);
        sn_map_ws_free(ws);
        sn_map_ws_free(w0);
        sn_map_ws_free(ws2);
    }
    /* the map's own parameters given as the score's: one map */
    sn_map_params same = {4, 21, 0.001, 4, 21, 1};
    EXPECT(!sn_map_params_separate_score(&same));
    /* errors */
    sn_map_params even = {4, 21, 0.001, 0, 10, 1}, many = {4, 21, 0.001, 9, 0, 1}, deep = {1, 21, 0.001, 7, 0, 1};
    sn_map_ws *ws = NULL;
    EXPECT(sn_map_ws_create(&even, h, w, &ws) == SN_EINVAL && ws == NULL);
    EXPECT(sn_map_ws_create(&many, h, w, &ws) == SN_EINVAL && ws == NULL);
    sn_err_clear();
    EXPECT(sn_map_ws_create(&deep, h, w, &ws) == SN_EINVAL && ws == NULL);
    EXPECT_MSG(strstr(sn_err_msg(), "score_msgms_scales") != NULL, "message: %s", sn_err_msg());
    sn_err_clear();
    free(I); free(R); free(A0); free(A); free(S);
}

/* msgms_erode: eroding 1 − GMS can only lower each scale's term, and the resize and the box
 * have non-negative weights, so the eroded map is nowhere above METHOD.md's; it is lower around
 * the changed square, and scale 0 is left alone (one scale: the same map bit for bit). Errors. */
static void test_erode(void)
{
    const int h = 64, w = 64;
    const size_t n = (size_t)h * w;
    float *I = malloc(sizeof(float) * 3 * n), *R = malloc(sizeof(float) * 3 * n);
    float *A = malloc(sizeof(float) * n), *E = malloc(sizeof(float) * n);
    fill_pair(I, R, h, w, 1);
    sn_map_params plain = {4, 21, 0.001, 0, 0, 1}, er = {4, 21, 0.001, 0, 0, 3};
    float s = 0, se = 0;
    EXPECT(sn_map_compute_ref(&plain, h, w, I, R, A, NULL, NULL, &s) == SN_OK &&
           sn_map_compute_ref(&er, h, w, I, R, E, NULL, NULL, &se) == SN_OK);
    double above = 0, below = 0;
    for (size_t i = 0; i < n; i++) {
        above = fmax(above, E[i] - A[i]);
        below = fmax(below, A[i] - E[i]);
    }
    EXPECT_MSG(above <= 1e-6 && below > 1e-3 && se <= s, "eroded map above by %g, below by %g", above, below);
    sn_map_params one = {1, 21, 0.001, 0, 0, 1}, one_er = {1, 21, 0.001, 0, 0, 5};
    EXPECT(sn_map_compute_ref(&one, h, w, I, R, A, NULL, NULL, NULL) == SN_OK &&
           sn_map_compute_ref(&one_er, h, w, I, R, E, NULL, NULL, NULL) == SN_OK);
    EXPECT(memcmp(A, E, n * sizeof *A) == 0);
    sn_map_params even = {4, 21, 0.001, 0, 0, 4}, neg = {4, 21, 0.001, 0, 0, -1};
    sn_map_ws *ws = NULL;
    sn_err_clear();
    EXPECT(sn_map_ws_create(&even, h, w, &ws) == SN_EINVAL && ws == NULL);
    EXPECT_MSG(strstr(sn_err_msg(), "msgms_erode = 4") != NULL, "message: %s", sn_err_msg());
    sn_err_clear();
    EXPECT(sn_map_ws_create(&neg, h, w, &ws) == SN_EINVAL && ws == NULL);
    sn_err_clear();
    free(I); free(R); free(A); free(E);
}

static void test_batch_and_errors(void)
{
    int h = 32, w = 32, n = 5;
    size_t px = (size_t)h * w;
    sn_map_params p;
    sn_map_params_default(&p);
    EXPECT(p.scales == 4 && p.box == 21 && p.color_weight == 0.001);
    float *I = malloc(sizeof(float) * 3 * px * n), *R = malloc(sizeof(float) * 3 * px * n);
    float *A = malloc(sizeof(float) * px * n), *one = malloc(sizeof(float) * px);
    float sc[5], s1;
    for (int k = 0; k < n; k++)
        fill_pair(I + 3 * px * k, R + 3 * px * k, h, w, k % 2);
    EXPECT(sn_map_compute_batch(&p, n, h, w, I, R, A, sc) == SN_OK);
    for (int k = 0; k < n; k++) {
        EXPECT(sn_map_compute_ref(&p, h, w, I + 3 * px * k, R + 3 * px * k, one, NULL, NULL, &s1) == SN_OK);
        EXPECT_ALLCLOSE(A + px * k, one, px, 2e-4, 2e-6, "batch vs reference");
        EXPECT_NEAR(sc[k], s1, 2e-4 * fabs(s1) + 2e-6);
    }
    /* NaN in image 3 -> error naming image 3 */
    R[3 * px * 3 + 100] = NAN;
    sn_err_clear();
    EXPECT(sn_map_compute_batch(&p, n, h, w, I, R, A, sc) == SN_ENONFINITE);
    EXPECT_MSG(strstr(sn_err_msg(), "image 3") != NULL, "message names the image: %s", sn_err_msg());
    sn_err_clear();
    /* bad parameters */
    sn_map_params bad = {4, 20, 0.001, 0, 0, 1};
    sn_map_ws *ws = NULL;
    EXPECT(sn_map_ws_create(&bad, h, w, &ws) == SN_EINVAL && ws == NULL);
    sn_err_clear();
    sn_map_params many = {7, 21, 0.001, 0, 0, 1};
    EXPECT(sn_map_ws_create(&many, h, w, &ws) == SN_EINVAL);
    sn_err_clear();
    free(I); free(R); free(A); free(one);
}

/* Driver for tests/torch_anomaly_map.sh: reads I and R (raw float32 [3,S,S] each) from IN,
 * writes the fast map (raw float32 [S,S]) and then the reference map to OUT. */
static int driver(const char *in, const char *out, int S, int scales, int box, double c, int erode)
{
    size_t n = (size_t)S * S;
    float *I = malloc(sizeof(float) * 6 * n), *A = malloc(sizeof(float) * 2 * n);
    FILE *f = fopen(in, "rb");
    if (!I || !A || !f || fread(I, sizeof(float), 6 * n, f) != 6 * n)
        return 1;
    fclose(f);
    sn_map_params p = {scales, box, c, 0, 0, erode};
    sn_map_ws *ws = NULL;
    if (sn_map_ws_create(&p, S, S, &ws) || sn_map_compute(ws, I, I + 3 * n, A, NULL) ||
        sn_map_compute_ref(&p, S, S, I, I + 3 * n, A + n, NULL, NULL, NULL)) {
        fprintf(stderr, "error: %s\n", sn_err_msg());
        return 1;
    }
    f = fopen(out, "wb");
    if (!f || fwrite(A, sizeof(float), 2 * n, f) != 2 * n || fclose(f))
        return 1;
    sn_map_ws_free(ws);
    free(I);
    free(A);
    return 0;
}

/* The Sobel baseline by hand: a vertical step of height 1 gives |g| = 4 on the two columns
 * beside it, so the 21x21 box mean there is 21 * 2 * 4 / 441; a constant image gives 0. */
static void test_baseline_sobel(void)
{
    enum { S = 64 };
    static float img[3 * S * S], map[S * S];
    float score = -1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                img[(c * S + y) * S + x] = x >= S / 2 ? 1.0f : 0.0f;
    EXPECT(sn_baseline_sobel(img, S, 21, map, &score) == SN_OK);
    EXPECT_NEAR(score, 168.0 / 441.0, 1e-5);
    EXPECT_NEAR(map[(S / 2) * S + S / 2], 168.0 / 441.0, 1e-5);
    EXPECT_NEAR(map[(S / 2) * S + 5], 0.0, 1e-6); /* 11 columns or more from the edge */
    for (int i = 0; i < 3 * S * S; i++)
        img[i] = i < S * S ? 0.7f : 0.2f;
    EXPECT(sn_baseline_sobel(img, S, 21, map, &score) == SN_OK);
    EXPECT_NEAR(score, 0.0, 1e-6);
    EXPECT(sn_baseline_parse("sobel") == SN_BASELINE_SOBEL && sn_baseline_parse("fixed") == SN_BASELINE_FIXED);
    EXPECT(sn_baseline_parse("mean") == -1);
}

int main(int argc, char **argv)
{
    if ((argc == 8 || argc == 9) && strcmp(argv[1], "--driver") == 0)
        return driver(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atof(argv[7]),
                      argc == 9 ? atoi(argv[8]) : 1);
    test_box();
    test_resize();
    test_lab();
    test_lab_fast();
    test_hand_gms();
    test_fast_vs_ref();
    test_score_map();
    test_erode();
    test_batch_and_errors();
    test_baseline_sobel();
    return sn_test_finish();
}
