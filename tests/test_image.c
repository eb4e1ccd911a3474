/* Image decoding: PNG of every colour type, bit depth and interlace written here with libpng,
 * JPEG written with libjpeg, BMP written by hand, PNG write round trip, and damaged files. */
#include "sernet/image.h"
#include "sn_test.h"

#include <dirent.h>
#include <png.h>
#include <stdio.h>
#include <jpeglib.h> /* after stdio.h: it needs FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void tpath(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* Deterministic raw sample in [0, maxv] for pixel (x, y), channel k. */
static unsigned sample(int x, int y, int k, unsigned maxv)
{
    unsigned v = (unsigned)(x * 7919 + y * 104729 + k * 31337 + x * y * 13);
    return v % (maxv + 1);
}

/* Write a PNG with libpng: one byte per sample for depth <= 8 (png_set_packing packs),
 * two big-endian bytes for 16. Returns 0 on success. */
static int write_test_png(const char *path, int w, int h, int color, int depth, int interlace,
                          const png_color *palette, int npal, const png_byte *trns, int ntrns)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, color, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette)
        png_set_PLTE(png, info, palette, npal);
    if (trns)
        png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    if (depth < 8)
        png_set_packing(png);
    int ch = png_get_channels(png, info);
    int bps = depth == 16 ? 2 : 1;
    unsigned maxv = color == PNG_COLOR_TYPE_PALETTE ? (unsigned)npal - 1 : (1u << depth) - 1;
    png_bytep row = malloc((size_t)w * ch * bps);
    png_bytep *rows = malloc(sizeof(png_bytep) * h);
    for (int y = 0; y < h; y++) {
        rows[y] = malloc((size_t)w * ch * bps);
        for (int x = 0; x < w; x++)
            for (int k = 0; k < ch; k++) {
                unsigned v = sample(x, y, k, maxv);
                if (bps == 2) {
                    rows[y][2 * (x * ch + k)] = (png_byte)(v >> 8);
                    rows[y][2 * (x * ch + k) + 1] = (png_byte)(v & 255);
                } else {
                    rows[y][x * ch + k] = (png_byte)v;
                }
            }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    for (int y = 0; y < h; y++)
        free(rows[y]);
    free(rows);
    free(row);
    return fclose(f) == 0 ? 0 : -1;
}

static unsigned expect8(unsigned v, int depth)
{
    if (depth == 16)
        return (v * 255u + 32767u) / 65535u; /* round to nearest, written independently */
    return v * 255u / ((1u << depth) - 1u);
}

static void check_png(int color, int depth, int interlace)
{
    const int w = 13, h = 9;
    char path[512], name[64];
    snprintf(name, sizeof name, "t_c%d_d%d_i%d.png", color, depth, interlace);
    tpath(path, sizeof path, name);
    png_color pal[256];
    int npal = 0;
    if (color == PNG_COLOR_TYPE_PALETTE) {
        npal = 1 << depth;
        if (npal > 200)
            npal = 200;
        for (int i = 0; i < npal; i++) {
            pal[i].red = (png_byte)(i * 37 + 5);
            pal[i].green = (png_byte)(255 - i);
            pal[i].blue = (png_byte)(i * 11);
        }
    }
    png_byte trns[2] = {0, 128};
    int with_trns = color == PNG_COLOR_TYPE_PALETTE && depth >= 2;
    EXPECT_MSG(write_test_png(path, w, h, color, depth, interlace, npal ? pal : NULL, npal,
                              with_trns ? trns : NULL, with_trns ? 2 : 0) == 0,
               "writing %s", path);
    sn_image img;
    sn_status st = sn_image_read(path, &img);
    EXPECT_MSG(st == SN_OK, "reading %s: %s", path, sn_err_msg());
    if (st != SN_OK) {
        sn_err_clear();
        return;
    }
    int want_c = (color & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    EXPECT_MSG(img.w == w && img.h == h && img.c == want_c, "%s: %dx%dx%d", name, img.w, img.h, img.c);
    int bad = 0;
    for (int y = 0; y < h && img.c == want_c; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < want_c; k++) {
                unsigned want;
                if (color == PNG_COLOR_TYPE_PALETTE) {
                    unsigned idx = sample(x, y, 0, (unsigned)npal - 1);
                    want = k == 0 ? pal[idx].red : k == 1 ? pal[idx].green : pal[idx].blue;
                } else {
                    want = expect8(sample(x, y, k, (1u << depth) - 1), depth);
                }
                if (img.data[((size_t)y * w + x) * want_c + k] != want)
                    bad++;
            }
    EXPECT_MSG(bad == 0, "%s: %d samples differ", name, bad);
    sn_image_free(&img);
    EXPECT(img.data == NULL);
}

static int write_test_jpeg(const char *path, int w, int h, int comps, J_COLOR_SPACE cs,
                           const uint8_t *px)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w;
    c.image_height = h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 98, TRUE);
    for (int i = 0; i < c.num_components; i++) /* no chroma subsampling: near-lossless */
        c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(px + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f) == 0 ? 0 : -1;
}

static void check_jpeg(int comps)
{
    const int w = 48, h = 40;
    char path[512];
    tpath(path, sizeof path, comps == 1 ? "g.jpg" : "c.jpg");
    uint8_t *px = malloc((size_t)w * h * comps);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < comps; k++)
                px[(y * w + x) * comps + k] = (uint8_t)(40 + 3 * x + 2 * y + 30 * k);
    EXPECT(write_test_jpeg(path, w, h, comps, comps == 1 ? JCS_GRAYSCALE : JCS_RGB, px) == 0);
    sn_image img;
    sn_status st = sn_image_read(path, &img);
    EXPECT_MSG(st == SN_OK, "%s: %s", path, sn_err_msg());
    if (st == SN_OK) {
        EXPECT(img.w == w && img.h == h && img.c == comps);
        double err = 0;
        for (size_t i = 0; i < (size_t)w * h * comps; i++)
            err += fabs((double)img.data[i] - px[i]);
        err /= (double)w * h * comps;
        EXPECT_MSG(err < 2.0, "JPEG %d-channel mean abs error %.3f", comps, err);
    }
    sn_err_clear();
    sn_image_free(&img);
    free(px);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n)
            fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc((size_t)sz);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static void expect_fail(const char *path, sn_status want, const char *what)
{
    sn_image img;
    sn_err_clear();
    sn_status st = sn_image_read(path, &img);
    EXPECT_MSG(st == want, "%s: status %s, want %s (%s)", what, sn_status_name(st),
               sn_status_name(want), sn_err_msg());
    EXPECT_MSG(strstr(sn_err_msg(), path) != NULL, "%s: message names the file: %s", what, sn_err_msg());
    EXPECT(img.data == NULL && img.w == 0);
    sn_err_clear();
}

static void check_bad(void)
{
    char src[512], path[512];
    size_t n = 0;
    tpath(src, sizeof src, "t_c2_d8_i0.png");
    uint8_t *b = slurp(src, &n);
    EXPECT(b != NULL && n > 100);
    if (!b)
        return;
    tpath(path, sizeof path, "trunc.png");
    write_bytes(path, b, n / 2);
    expect_fail(path, SN_EFORMAT, "truncated PNG");
    tpath(path, sizeof path, "sigonly.png");
    write_bytes(path, b, 8);
    expect_fail(path, SN_EFORMAT, "PNG signature only");
    b[40] ^= 0x5A; /* inside IHDR/IDAT: CRC mismatch in a critical chunk */
    b[n / 2] ^= 0xFF;
    tpath(path, sizeof path, "corrupt.png");
    write_bytes(path, b, n);
    expect_fail(path, SN_EFORMAT, "corrupt PNG");
    free(b);

    tpath(src, sizeof src, "c.jpg");
    b = slurp(src, &n);
    EXPECT(b != NULL && n > 100);
    if (b) {
        tpath(path, sizeof path, "trunc.jpg");
        write_bytes(path, b, n / 2);
        expect_fail(path, SN_EFORMAT, "truncated JPEG");
        tpath(path, sizeof path, "hdr.jpg");
        write_bytes(path, b, 20);
        expect_fail(path, SN_EFORMAT, "JPEG header only");
        free(b);
    }
    tpath(path, sizeof path, "empty.png");
    write_bytes(path, "", 0);
    expect_fail(path, SN_EFORMAT, "empty file");
    tpath(path, sizeof path, "text.png");
    write_bytes(path, "hello, this is not an image\n", 28);
    expect_fail(path, SN_EFORMAT, "text file");
    tpath(path, sizeof path, "does_not_exist.png");
    expect_fail(path, SN_EIO, "missing file");

    /* CMYK JPEG: a clear error */
    uint8_t cmyk[16 * 16 * 4];
    memset(cmyk, 100, sizeof cmyk);
    tpath(path, sizeof path, "cmyk.jpg");
    EXPECT(write_test_jpeg(path, 16, 16, 4, JCS_CMYK, cmyk) == 0);
    expect_fail(path, SN_EFORMAT, "CMYK JPEG");
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v & 255; p[1] = (v >> 8) & 255; p[2] = (v >> 16) & 255; p[3] = v >> 24;
}

/* An 8-bit grey-palette BMP (bottom-up, padded rows) and a 24-bit one. */
static void check_bmp(void)
{
    const int w = 5, h = 3;
    for (int bpp = 8; bpp <= 24; bpp += 16) {
        int stride = ((w * bpp + 31) / 32) * 4;
        int pal = bpp == 8 ? 256 * 4 : 0;
        size_t off = 54 + pal, size = off + (size_t)stride * h;
        uint8_t *b = calloc(1, size);
        b[0] = 'B'; b[1] = 'M';
        put32(b + 2, (uint32_t)size); put32(b + 10, (uint32_t)off); put32(b + 14, 40);
        put32(b + 18, w); put32(b + 22, h);
        b[26] = 1; b[28] = (uint8_t)bpp;
        for (int i = 0; i < (bpp == 8 ? 256 : 0); i++)
            b[54 + 4 * i] = b[54 + 4 * i + 1] = b[54 + 4 * i + 2] = (uint8_t)(255 - i);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *p = b + off + (size_t)(h - 1 - y) * stride; /* bottom-up */
                if (bpp == 8)
                    p[x] = (uint8_t)(10 * y + x);
                else {
                    p[3 * x] = (uint8_t)x;             /* B */
                    p[3 * x + 1] = (uint8_t)(y + 50);  /* G */
                    p[3 * x + 2] = (uint8_t)(200 + x); /* R */
                }
            }
        char path[512];
        tpath(path, sizeof path, bpp == 8 ? "g8.bmp.png" : "c24.bmp");
        write_bytes(path, b, size);
        sn_image img;
        sn_status st = sn_image_read(path, &img);
        EXPECT_MSG(st == SN_OK, "%s: %s", path, sn_err_msg());
        if (st == SN_OK) {
            EXPECT(img.w == w && img.h == h && img.c == (bpp == 8 ? 1 : 3));
            int bad = 0;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    const uint8_t *q = img.data + (size_t)(y * w + x) * img.c;
                    if (bpp == 8)
                        bad += q[0] != 255 - (10 * y + x);
                    else
                        bad += q[0] != 200 + x || q[1] != y + 50 || q[2] != x;
                }
            EXPECT_MSG(bad == 0, "BMP %d bit: %d pixels differ", bpp, bad);
        }
        sn_image_free(&img);
        sn_err_clear();
        tpath(path, sizeof path, "trunc.bmp");
        write_bytes(path, b, size - 4);
        expect_fail(path, SN_EFORMAT, "truncated BMP");
        free(b);
    }
}

static void check_write_roundtrip(void)
{
    for (int c = 1; c <= 3; c += 2) {
        sn_image img = {17, 11, c, NULL};
        img.data = sn_alloc((size_t)17 * 11 * c, "test");
        for (int i = 0; i < 17 * 11 * c; i++)
            img.data[i] = (uint8_t)(i * 29 + 3);
        char path[512];
        tpath(path, sizeof path, c == 1 ? "w1.png" : "w3.png");
        EXPECT(sn_image_write_png(path, &img) == SN_OK);
        sn_image back;
        EXPECT(sn_image_read(path, &back) == SN_OK);
        EXPECT(back.w == 17 && back.h == 11 && back.c == c);
        EXPECT(back.data && memcmp(back.data, img.data, (size_t)17 * 11 * c) == 0);
        sn_image_free(&back);
        sn_image_free(&img);
    }
    /* bad arguments and an unwritable place: error, and no temporary file left behind */
    sn_image bad = {4, 4, 2, NULL};
    uint8_t px[32] = {0};
    bad.data = px;
    char path[512];
    tpath(path, sizeof path, "bad.png");
    EXPECT(sn_image_write_png(path, &bad) == SN_EINVAL);
    sn_err_clear();
    bad.c = 1;
    EXPECT(sn_image_write_png("/nonexistent_dir_sernet/x.png", &bad) == SN_EIO);
    EXPECT(strstr(sn_err_msg(), "/nonexistent_dir_sernet/x.png") != NULL);
    sn_err_clear();
}

/* Real images under ../shared/data: every file decodes to a sane size. */
static int read_tree(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int bad = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            bad += read_tree(p, count);
        } else if (strstr(e->d_name, ".png") && (*count)++ % 7 == 0) { /* a sample, keeps it fast */
            sn_image img;
            if (sn_image_read(p, &img) != SN_OK || img.w < 16 || img.h < 16 ||
                (img.c != 1 && img.c != 3)) {
                fprintf(stderr, "real image %s: %s\n", p, sn_err_msg());
                bad++;
            }
            sn_err_clear();
            sn_image_free(&img);
        }
    }
    closedir(d);
    return bad;
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sn_test_image_%ld", (long)getpid());
    mkdir(tmpdir, 0700);
    static const struct { int color, depth; } kinds[] = {
        {PNG_COLOR_TYPE_GRAY, 1},  {PNG_COLOR_TYPE_GRAY, 2},    {PNG_COLOR_TYPE_GRAY, 4},
        {PNG_COLOR_TYPE_GRAY, 8},  {PNG_COLOR_TYPE_GRAY, 16},   {PNG_COLOR_TYPE_GRAY_ALPHA, 8},
        {PNG_COLOR_TYPE_GRAY_ALPHA, 16}, {PNG_COLOR_TYPE_RGB, 8}, {PNG_COLOR_TYPE_RGB, 16},
        {PNG_COLOR_TYPE_RGBA, 8},  {PNG_COLOR_TYPE_RGBA, 16},   {PNG_COLOR_TYPE_PALETTE, 1},
        {PNG_COLOR_TYPE_PALETTE, 2}, {PNG_COLOR_TYPE_PALETTE, 4}, {PNG_COLOR_TYPE_PALETTE, 8}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        for (int il = 0; il < 2; il++)
            check_png(kinds[i].color, kinds[i].depth, il);
    check_jpeg(1);
    check_jpeg(3);
    check_bmp();
    check_bad();
    check_write_roundtrip();

    const char *shared = getenv("SERNET_SHARED_DIR");
    char data[1024];
    snprintf(data, sizeof data, "%s/data", shared ? shared : "../shared");
    struct stat st;
    if (stat(data, &st) == 0) {
        int count = 0;
        int bad = read_tree(data, &count);
        EXPECT_MSG(bad == 0 && count > 100, "real images: %d files seen, %d failed", count, bad);
    } else {
        printf("real images: skipped: no ../shared\n");
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return sn_test_finish();
}
