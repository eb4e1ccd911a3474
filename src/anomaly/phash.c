/* Perceptual hash compatible with ImageHash 4.3.1 phash on Pillow 9.4 (METHOD.md §5).
 * Written from the specification: every rounding step below is part of the contract, since a
 * single differing grey level of the 32x32 image can flip a bit of the hash. */
#include "sernet/phash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bit-exactness: no fused multiply-add in this file, whatever the build flags (-ffp-contract). */
#pragma GCC optimize("fp-contract=off")

#define FIX_BITS 22 /* fixed-point fraction bits of the resampling weights */
#define SN_PI 3.14159265358979323846

void sn_phash_grey(const uint8_t *rgb, size_t n, uint8_t *grey)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t v = 19595u * rgb[3 * i] + 38470u * rgb[3 * i + 1] + 7471u * rgb[3 * i + 2] + 0x8000u;
        grey[i] = (uint8_t)(v >> 16);
    }
}

/* Lanczos-3 kernel, zero outside [-3, 3). */
static double sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x *= SN_PI;
    return sin(x) / x;
}

static double lanczos3(double x)
{
    if (x >= -3.0 && x < 3.0)
        return sinc(x) * sinc(x / 3.0);
    return 0.0;
}

/* Weights of one resampling axis: output j reads inputs first[j] .. first[j]+count[j]-1 with
 * the integer weights w[j*ksize + t]. */
typedef struct {
    int *first, *count;
    int32_t *w;
    int ksize;
} axis_weights;

static void axis_free(axis_weights *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
    memset(a, 0, sizeof *a);
}

static sn_status axis_build(int in, int out, axis_weights *a)
{
    sn_status status = SN_OK;
    double *tmp = NULL;
    double scale = (double)in / out;
    double filterscale = scale < 1.0 ? 1.0 : scale; /* antialias: stretch the kernel when shrinking */
    double support = 3.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    memset(a, 0, sizeof *a);
    a->ksize = ksize;
    a->first = malloc(sizeof(int) * (size_t)out);
    a->count = malloc(sizeof(int) * (size_t)out);
    a->w = calloc((size_t)out * (size_t)ksize, sizeof(int32_t));
    tmp = malloc(sizeof(double) * (size_t)ksize);
    if (!a->first || !a->count || !a->w || !tmp)
        SN_FAIL(SN_ENOMEM, "phash: no memory for %d x %d resampling weights", out, ksize);
    for (int j = 0; j < out; j++) {
        double centre = (j + 0.5) * scale;
        double inv = 1.0 / filterscale;
        int lo = (int)(centre - support + 0.5); /* truncation, as the reference */
        int hi = (int)(centre + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in)
            hi = in;
        int n = hi - lo;
        SN_ASSERT(n <= ksize);
        double sum = 0.0;
        for (int t = 0; t < n; t++) {
            tmp[t] = lanczos3((t + lo - centre + 0.5) * inv);
            sum += tmp[t];
        }
        for (int t = 0; t < n; t++) {
            double k = sum != 0.0 ? tmp[t] / sum : tmp[t];
            double s = k * (double)(1 << FIX_BITS);
            /* round half away from zero */
            a->w[(size_t)j * ksize + t] = (int32_t)(k < 0 ? s - 0.5 : s + 0.5);
        }
        a->first[j] = lo;
        a->count[j] = n;
    }
done:
    free(tmp);
    if (status != SN_OK)
        axis_free(a);
    return status;
}

static inline uint8_t fix_to_u8(int32_t acc)
{
    int32_t v = acc >> FIX_BITS; /* arithmetic shift (gcc/clang on two's complement) */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass over rows [y0, y1) of a grey (c == 1) or RGB (c == 3) image; RGB rows are
 * converted to grey on the fly (row buffer). Output rows are ow wide. */
static void pass_horizontal(const uint8_t *src, int w, int c, int y0, int y1, const axis_weights *a,
                            int ow, uint8_t *rowbuf, uint8_t *dst)
{
    for (int y = y0; y < y1; y++) {
        const uint8_t *row = src + (size_t)y * w * c;
        if (c == 3) {
            sn_phash_grey(row, (size_t)w, rowbuf);
            row = rowbuf;
        }
        uint8_t *o = dst + (size_t)(y - y0) * ow;
        for (int j = 0; j < ow; j++) {
            const int32_t *k = a->w + (size_t)j * a->ksize;
            const uint8_t *p = row + a->first[j];
            int32_t acc = 1 << (FIX_BITS - 1);
            for (int t = 0; t < a->count[j]; t++)
                acc += (int32_t)p[t] * k[t];
            o[j] = fix_to_u8(acc);
        }
    }
}

/* Vertical pass: src has rows starting at source row y0, width ow. */
static void pass_vertical(const uint8_t *src, int ow, int y0, const axis_weights *a, int oh,
                          uint8_t *dst)
{
    for (int i = 0; i < oh; i++) {
        const int32_t *k = a->w + (size_t)i * a->ksize;
        const uint8_t *base = src + (size_t)(a->first[i] - y0) * ow;
        for (int x = 0; x < ow; x++) {
            int32_t acc = 1 << (FIX_BITS - 1);
            for (int t = 0; t < a->count[i]; t++)
                acc += (int32_t)base[(size_t)t * ow + x] * k[t];
            dst[(size_t)i * ow + x] = fix_to_u8(acc);
        }
    }
}

/* Resize of grey (c == 1) or RGB-read-as-grey (c == 3) input. */
static sn_status resize_any(const uint8_t *src, int w, int h, int c, uint8_t *dst, int ow, int oh)
{
    sn_status status = SN_OK;
    axis_weights ax = {0}, ay = {0};
    uint8_t *tmp = NULL, *rowbuf = NULL;
    if (!src || !dst || w < 1 || h < 1 || ow < 1 || oh < 1 || (c != 1 && c != 3))
        SN_FAIL(SN_EINVAL, "phash: bad image %d x %d x %d -> %d x %d", w, h, c, ow, oh);
    int need_h = ow != w, need_v = oh != h;
    if (need_v)
        SN_TRY(axis_build(h, oh, &ay));
    /* Source rows the vertical pass reads (all rows when there is no vertical pass). */
    int y0 = need_v ? ay.first[0] : 0;
    int y1 = need_v ? ay.first[oh - 1] + ay.count[oh - 1] : h;
    if (c == 3) {
        rowbuf = malloc((size_t)w);
        if (!rowbuf)
            SN_FAIL(SN_ENOMEM, "phash: no memory for a %d-pixel row", w);
    }
    const uint8_t *mid = src; /* grey, ow wide, rows from y0 */
    if (need_h) {
        SN_TRY(axis_build(w, ow, &ax));
        tmp = malloc((size_t)(y1 - y0) * ow);
        if (!tmp)
            SN_FAIL(SN_ENOMEM, "phash: no memory for %d x %d intermediate", ow, y1 - y0);
        pass_horizontal(src, w, c, y0, y1, &ax, ow, rowbuf, tmp);
        mid = tmp;
    } else if (c == 3) {
        /* same width: only convert the rows the vertical pass reads */
        tmp = malloc((size_t)(y1 - y0) * w);
        if (!tmp)
            SN_FAIL(SN_ENOMEM, "phash: no memory for %d x %d grey image", w, y1 - y0);
        sn_phash_grey(src + (size_t)y0 * w * 3, (size_t)(y1 - y0) * w, tmp);
        mid = tmp;
    } else {
        mid = src + (size_t)y0 * w;
    }
    if (need_v)
        pass_vertical(mid, ow, y0, &ay, oh, dst);
    else
        memcpy(dst, mid, (size_t)ow * oh);
done:
    axis_free(&ax);
    axis_free(&ay);
    free(tmp);
    free(rowbuf);
    return status;
}

sn_status sn_phash_resize_lanczos(const uint8_t *src, int w, int h, uint8_t *dst, int ow, int oh)
{
    return resize_any(src, w, h, 1, dst, ow, oh);
}

uint64_t sn_phash_from_32x32(const uint8_t grey[SN_PHASH_SIZE * SN_PHASH_SIZE])
{
    enum { N = SN_PHASH_SIZE, B = SN_PHASH_BLOCK };
    double cs[B][N]; /* 2 cos(pi k (2n+1) / 2N) */
    for (int k = 0; k < B; k++)
        for (int n = 0; n < N; n++)
            cs[k][n] = 2.0 * cos(SN_PI * k * (2 * n + 1) / (2.0 * N));
    /* axis 0 (down the columns) first, then axis 1; only the low 8 x 8 block is needed */
    double t[B][N];
    for (int k = 0; k < B; k++)
        for (int n = 0; n < N; n++) {
            double s = 0.0;
            for (int m = 0; m < N; m++)
                s += cs[k][m] * grey[m * N + n];
            t[k][n] = s;
        }
    double d[B * B], sorted[B * B];
    for (int k = 0; k < B; k++)
        for (int l = 0; l < B; l++) {
            double s = 0.0;
            for (int n = 0; n < N; n++)
                s += cs[l][n] * t[k][n];
            d[k * B + l] = s;
        }
    /* The reference DCT returns exact zeros where the plain sum leaves rounding noise. */
    double eps = 1e-9 * fmax(1.0, fabs(d[0]));
    for (int i = 0; i < B * B; i++) {
        if (fabs(d[i]) < eps)
            d[i] = 0.0;
        sorted[i] = d[i];
    }
    /* insertion sort of 64 values for the median */
    for (int i = 1; i < B * B; i++) {
        double v = sorted[i];
        int j = i - 1;
        while (j >= 0 && sorted[j] > v) {
            sorted[j + 1] = sorted[j];
            j--;
        }
        sorted[j + 1] = v;
    }
    double med = (sorted[B * B / 2 - 1] + sorted[B * B / 2]) / 2.0;
    uint64_t h = 0;
    for (int i = 0; i < B * B; i++)
        h = (h << 1) | (uint64_t)(d[i] > med);
    return h;
}

sn_status sn_phash_rgb8(const uint8_t *pix, int w, int h, int c, uint64_t *hash)
{
    sn_status status = SN_OK;
    uint8_t small[SN_PHASH_SIZE * SN_PHASH_SIZE];
    SN_TRY(resize_any(pix, w, h, c, small, SN_PHASH_SIZE, SN_PHASH_SIZE));
    *hash = sn_phash_from_32x32(small);
done:
    return status;
}

void sn_phash_format(uint64_t hash, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        out[i] = hex[(hash >> (60 - 4 * i)) & 15];
    out[16] = '\0';
}

sn_status sn_phash_parse(const char *text, uint64_t *hash)
{
    sn_status status = SN_OK;
    uint64_t v = 0;
    int i = 0;
    for (; text && text[i] && i < 17; i++) {
        char ch = text[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0 || i == 16)
            break;
        v = (v << 4) | (uint64_t)d;
    }
    if (!text || i != 16 || text[16] != '\0')
        SN_FAIL(SN_EINVAL, "phash: '%.40s' is not 16 hexadecimal digits", text ? text : "(null)");
    *hash = v;
done:
    return status;
}
