/* Perceptual hash: the procedural vectors of METHOD.md §5 (computed by ImageHash 4.3.1 with
 * Pillow 9.4), the resize against a plain double-precision reading of the same fixed-point rule,
 * format/parse round trips. The reference-file rows are checked in test_phash_reference.c. */
#include "sn_test.h"
#include "sernet/phash.h"

#include <stdlib.h>
#include <string.h>

typedef uint8_t (*pixfn)(int x, int y, int ch);

static uint8_t v_ramp(int x, int y, int ch) { return (uint8_t)(ch == 0 ? x : ch == 1 ? y : (x + y) / 2); }
static uint8_t v_mix(int x, int y, int ch)
{
    return (uint8_t)(ch == 0 ? (3 * x + 5 * y) % 256 : ch == 1 ? (7 * x * y) % 256 : (x ^ y) % 256);
}
static uint8_t v_checker(int x, int y, int ch) { (void)ch; return ((x / 8 + y / 8) & 1) ? 255 : 0; }
static uint8_t v_big(int x, int y, int ch)
{
    return (uint8_t)(ch == 0 ? (x * y) % 251 : ch == 1 ? (x + 2 * y) % 256 : 255 - (x % 256));
}
static uint8_t v_tiny(int x, int y, int ch) { (void)ch; return (uint8_t)((13 * x + 29 * y) % 256); }

static int const_value;
static uint8_t v_const(int x, int y, int ch) { (void)x; (void)y; (void)ch; return (uint8_t)const_value; }

static uint8_t *make(pixfn f, int w, int h, int c)
{
    uint8_t *p = malloc((size_t)w * h * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                p[((size_t)y * w + x) * c + ch] = f(x, y, ch);
    return p;
}

static void check_vector(const char *name, pixfn f, int w, int h, int c, const char *want)
{
    uint8_t *p = make(f, w, h, c);
    uint64_t hash = 0;
    char got[17] = "";
    sn_status st = sn_phash_rgb8(p, w, h, c, &hash);
    sn_phash_format(hash, got);
    EXPECT_MSG(st == SN_OK && strcmp(got, want) == 0, "%s: phash %s, want %s", name, got, want);
    free(p);
}

/* The rule of METHOD.md §5 step 2 evaluated in long double with a direct per-pixel formula,
 * one output pixel at a time (no shared weight tables): an independent reading of the spec. */
static long double ref_sinc(long double x)
{
    if (x == 0)
        return 1;
    x *= 3.14159265358979323846264338327950288L;
    return sinl(x) / x;
}

static void ref_weights(int in, int out, int j, int *lo_out, int *n_out, int32_t *wt)
{
    double scale = (double)in / out, fs = scale > 1 ? scale : 1, sup = 3 * fs;
    double c = (j + 0.5) * scale;
    int lo = (int)(c - sup + 0.5), hi = (int)(c + sup + 0.5);
    lo = lo < 0 ? 0 : lo;
    hi = hi > in ? in : hi;
    double raw[4096], sum = 0;
    for (int t = lo; t < hi; t++) {
        double x = (t - c + 0.5) / fs;
        raw[t - lo] = (x >= -3 && x < 3) ? (double)(ref_sinc(x) * ref_sinc(x / 3)) : 0;
        sum += raw[t - lo];
    }
    for (int t = 0; t < hi - lo; t++) {
        double k = raw[t] / sum * 4194304.0;
        wt[t] = (int32_t)(k < 0 ? k - 0.5 : k + 0.5);
    }
    *lo_out = lo;
    *n_out = hi - lo;
}

static uint8_t clamp_shift(int64_t acc)
{
    acc = acc >= 0 ? acc >> 22 : -((-acc + (1 << 22) - 1) >> 22); /* floor division */
    return (uint8_t)(acc < 0 ? 0 : acc > 255 ? 255 : acc);
}

static void ref_resize(const uint8_t *src, int w, int h, uint8_t *dst, int ow, int oh)
{
    uint8_t *mid = malloc((size_t)ow * h);
    int32_t wt[4096];
    int lo, n;
    for (int j = 0; j < ow; j++) {
        if (ow == w) {
            for (int y = 0; y < h; y++)
                mid[(size_t)y * ow + j] = src[(size_t)y * w + j];
            continue;
        }
        ref_weights(w, ow, j, &lo, &n, wt);
        for (int y = 0; y < h; y++) {
            int64_t acc = 1 << 21;
            for (int t = 0; t < n; t++)
                acc += (int64_t)src[(size_t)y * w + lo + t] * wt[t];
            mid[(size_t)y * ow + j] = clamp_shift(acc);
        }
    }
    for (int i = 0; i < oh; i++) {
        if (oh == h) {
            memcpy(dst + (size_t)i * ow, mid + (size_t)i * ow, (size_t)ow);
            continue;
        }
        ref_weights(h, oh, i, &lo, &n, wt);
        for (int x = 0; x < ow; x++) {
            int64_t acc = 1 << 21;
            for (int t = 0; t < n; t++)
                acc += (int64_t)mid[(size_t)(lo + t) * ow + x] * wt[t];
            dst[(size_t)i * ow + x] = clamp_shift(acc);
        }
    }
    free(mid);
}

static uint64_t lcg = 12345;
static uint32_t rnd(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(lcg >> 33);
}

int main(void)
{
    /* METHOD.md §5 table */
    check_vector("256x256 ramp RGB", v_ramp, 256, 256, 3, "a257e770db63a940");
    check_vector("100x80 mix RGB", v_mix, 100, 80, 3, "86324a1bb673374d");
    check_vector("256x256 8-px checkerboard grey", v_checker, 256, 256, 1, "8000000000000000");
    check_vector("900x900 RGB", v_big, 900, 900, 3, "fffa14fa04ea102a");
    check_vector("20x12 grey", v_tiny, 20, 12, 1, "954d17b5e22d6aa1");
    int consts[] = {1, 17, 128, 255};
    for (int i = 0; i < 4; i++) {
        const_value = consts[i];
        check_vector("constant grey", v_const, 37, 53, 1, "8000000000000000");
        check_vector("constant RGB", v_const, 300, 20, 3, "8000000000000000");
    }
    const_value = 0;
    check_vector("black grey", v_const, 64, 64, 1, "0000000000000000");
    check_vector("black RGB", v_const, 31, 33, 3, "0000000000000000");

    /* grey input is used as is; RGB with R = G = B = v converts to v */
    {
        uint8_t *g = make(v_tiny, 20, 12, 1), *rgb = malloc(20 * 12 * 3);
        for (int i = 0; i < 240; i++)
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g[i];
        uint64_t a = 0, b = 1;
        EXPECT(sn_phash_rgb8(g, 20, 12, 1, &a) == SN_OK);
        EXPECT(sn_phash_rgb8(rgb, 20, 12, 3, &b) == SN_OK);
        EXPECT(a == b);
        free(g);
        free(rgb);
    }
    /* Pillow L conversion on a few exact values */
    {
        uint8_t rgb[] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30, 0, 0, 0};
        uint8_t g[6];
        sn_phash_grey(rgb, 6, g);
        /* (19595*255+32768)>>16 = 76, (38470*255+32768)>>16 = 150, (7471*255+32768)>>16 = 29 */
        EXPECT(g[0] == 76 && g[1] == 150 && g[2] == 29 && g[3] == 255 && g[5] == 0);
        EXPECT(g[4] == (uint8_t)((19595 * 10 + 38470 * 20 + 7471 * 30 + 32768) >> 16));
    }

    /* Resize against the independent per-pixel reading, random images and sizes (shrink,
     * enlarge, one axis unchanged). */
    int sizes[][4] = {{256, 256, 32, 32}, {100, 80, 32, 32}, {20, 12, 32, 32}, {32, 100, 32, 32},
                      {100, 32, 32, 32}, {33, 31, 32, 32},  {1, 1, 32, 32},   {7, 300, 32, 32},
                      {513, 2, 32, 32},  {64, 64, 17, 5}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int w = sizes[s][0], h = sizes[s][1], ow = sizes[s][2], oh = sizes[s][3];
        uint8_t *src = malloc((size_t)w * h), *a = malloc((size_t)ow * oh), *b = malloc((size_t)ow * oh);
        for (int rep = 0; rep < 3; rep++) {
            for (int i = 0; i < w * h; i++)
                src[i] = rep == 0 ? (uint8_t)rnd() : rep == 1 ? ((rnd() & 1) ? 255 : 0) : (uint8_t)(i * 7);
            EXPECT(sn_phash_resize_lanczos(src, w, h, a, ow, oh) == SN_OK);
            ref_resize(src, w, h, b, ow, oh);
            int diff = 0;
            for (int i = 0; i < ow * oh; i++)
                diff += a[i] != b[i];
            EXPECT_MSG(diff == 0, "resize %dx%d -> %dx%d pattern %d: %d pixels differ", w, h, ow, oh, rep, diff);
        }
        free(src);
        free(a);
        free(b);
    }
    /* the identity size is a copy */
    {
        uint8_t src[32 * 32], dst[32 * 32];
        for (int i = 0; i < 1024; i++)
            src[i] = (uint8_t)rnd();
        EXPECT(sn_phash_resize_lanczos(src, 32, 32, dst, 32, 32) == SN_OK);
        EXPECT(memcmp(src, dst, sizeof src) == 0);
    }

    /* format / parse */
    {
        char s[17];
        uint64_t v = 0;
        sn_phash_format(0x0123456789abcdefULL, s);
        EXPECT(strcmp(s, "0123456789abcdef") == 0);
        EXPECT(sn_phash_parse("0123456789ABCDEF", &v) == SN_OK && v == 0x0123456789abcdefULL);
        for (int i = 0; i < 100; i++) {
            uint64_t x = ((uint64_t)rnd() << 32) ^ rnd() ^ ((uint64_t)rnd() << 17);
            sn_phash_format(x, s);
            EXPECT(strlen(s) == 16 && sn_phash_parse(s, &v) == SN_OK && v == x);
        }
        sn_err_clear();
        EXPECT(sn_phash_parse("0123456789abcde", &v) == SN_EINVAL);
        EXPECT(strstr(sn_err_msg(), "0123456789abcde") != NULL);
        sn_err_clear();
        EXPECT(sn_phash_parse("0123456789abcdef0", &v) == SN_EINVAL);
        sn_err_clear();
        EXPECT(sn_phash_parse("0123456789abcdeg", &v) == SN_EINVAL);
        sn_err_clear();
        EXPECT(sn_phash_parse("", &v) == SN_EINVAL);
        sn_err_clear();
        EXPECT(sn_phash_distance(0, ~0ULL) == 64 && sn_phash_distance(5, 6) == 2);
    }
    /* bad arguments are errors, not crashes */
    {
        uint8_t px[12] = {0};
        uint64_t hv;
        sn_err_clear();
        EXPECT(sn_phash_rgb8(px, 2, 2, 4, &hv) == SN_EINVAL);
        sn_err_clear();
        EXPECT(sn_phash_rgb8(px, 0, 2, 1, &hv) == SN_EINVAL);
        sn_err_clear();
    }
    return sn_test_finish();
}
