/* Writes the seed corpora of the fuzz targets (small valid inputs) into <dir>/<target>/:
 *   image:     PNG (grey 1/8 bit, RGB, palette 4 bit, RGBA 16 bit interlaced, grey+alpha), JPEG
 *              (RGB baseline, grey, progressive), BMP (8 bit grey palette, 24 bit, 32 bit top-down)
 *   config:    a few --set lines and INI fragments (configs/*.ini are copied by the script)
 *   dataset, hashindex: generator byte strings (the empty input is the valid file; these pick
 *              the larger sizes and the test split)
 * Usage: fuzz_seeds DIR */
#include "sernet/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h> /* after stdio.h */

static char root[1024];

static FILE *open_out(const char *target, const char *name)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", root, target);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", root, target, name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(1);
    }
    return f;
}

static void put_bytes(const char *target, const char *name, const void *d, size_t n)
{
    FILE *f = open_out(target, name);
    if (n && fwrite(d, 1, n, f) != n) {
        perror(name);
        exit(1);
    }
    fclose(f);
}

static uint8_t sample(int x, int y, int c) { return (uint8_t)(x * 19 + y * 7 + c * 80); }

/* PNG of w x h, colour type ct, bit depth bd, optionally interlaced. */
static void png_seed(const char *name, int w, int h, int ct, int bd, int interlace)
{
    FILE *f = open_out("image", name);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "%s: libpng error\n", name);
        exit(1);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bd, ct,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        for (int i = 0; i < 16; i++) {
            pal[i].red = (png_byte)(i * 16);
            pal[i].green = (png_byte)(255 - i * 16);
            pal[i].blue = (png_byte)(i * 5);
        }
        png_set_PLTE(png, info, pal, 16);
    }
    png_write_info(png, info);
    if (bd < 8)
        png_set_packing(png);
    if (bd == 16)
        png_set_swap(png); /* rows below are little-endian 16-bit samples */
    int ch = png_get_channels(png, info);
    size_t bps = bd == 16 ? 2 : 1;
    png_bytep row = malloc((size_t)w * ch * bps);
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++)
                for (int c = 0; c < ch; c++) {
                    unsigned v = sample(x, y, c);
                    if (bd < 8)
                        v = v % (1u << bd);
                    if (bps == 2) {
                        row[2 * (x * ch + c)] = (png_byte)(v * 3);
                        row[2 * (x * ch + c) + 1] = (png_byte)v;
                    } else {
                        row[x * ch + c] = (png_byte)v;
                    }
                }
            png_write_row(png, row);
        }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    fclose(f);
}

static void jpeg_seed(const char *name, int w, int h, int comps, int progressive)
{
    FILE *f = open_out("image", name);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 75, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * comps);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < w; x++)
            for (int k = 0; k < comps; k++)
                row[comps * x + k] = sample(x, (int)c.next_scanline, k);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    fclose(f);
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Uncompressed BMP, bpp 8 (grey palette), 24 or 32; negative height = top-down rows. */
static void bmp_seed(const char *name, int w, int h, int bpp, int top_down)
{
    size_t stride = (((size_t)w * bpp + 31) / 32) * 4;
    size_t pal = bpp == 8 ? 256 * 4 : 0, off = 54 + pal, size = off + stride * h;
    uint8_t *b = calloc(size, 1);
    b[0] = 'B';
    b[1] = 'M';
    le32(b + 2, (uint32_t)size);
    le32(b + 10, (uint32_t)off);
    le32(b + 14, 40);
    le32(b + 18, (uint32_t)w);
    le32(b + 22, (uint32_t)(top_down ? -h : h));
    b[26] = 1;
    b[28] = (uint8_t)bpp;
    le32(b + 34, (uint32_t)(stride * h));
    for (size_t i = 0; i < pal / 4; i++)
        b[54 + 4 * i] = b[54 + 4 * i + 1] = b[54 + 4 * i + 2] = (uint8_t)i;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < bpp / 8; c++)
                b[off + stride * y + (size_t)x * (bpp / 8) + c] = sample(x, y, c);
    put_bytes("image", name, b, size);
    free(b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds DIR\n");
        return 2;
    }
    snprintf(root, sizeof root, "%s", argv[1]);
    mkdir(root, 0755);
    png_seed("grey8.png", 13, 9, PNG_COLOR_TYPE_GRAY, 8, 0);
    png_seed("grey1.png", 17, 5, PNG_COLOR_TYPE_GRAY, 1, 0);
    png_seed("rgb8.png", 12, 10, PNG_COLOR_TYPE_RGB, 8, 0);
    png_seed("pal4.png", 9, 7, PNG_COLOR_TYPE_PALETTE, 4, 0);
    png_seed("rgba16_adam7.png", 11, 8, PNG_COLOR_TYPE_RGB_ALPHA, 16, 1);
    png_seed("greyalpha8.png", 6, 6, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0);
    jpeg_seed("rgb.jpg", 16, 12, 3, 0);
    jpeg_seed("grey.jpg", 9, 9, 1, 0);
    jpeg_seed("progressive.jpg", 20, 8, 3, 1);
    bmp_seed("grey8.bmp", 7, 5, 8, 0);
    bmp_seed("rgb24.bmp", 6, 4, 24, 0);
    bmp_seed("rgb32_topdown.bmp", 5, 3, 32, 1);

    static const char sets[] = "image_size=256\nbatch_size=8\nlr=1e-4\nrepair_threshold=auto\n"
                               "batch_mode=per_rank\nmodel.seg_width=32\nseed=-1\n";
    put_bytes("config", "set_lines.txt", sets, sizeof sets - 1);
    static const char ini[] = "; comment\n[train]\nlr = 0.0002\nbatch_mode = global\n\n[map]\n"
                              "msgms_scales = 4\nbox_size = 33\n[runtime]\nthreads=0\n";
    put_bytes("config", "fragment.ini", ini, sizeof ini - 1);

    /* generator seeds: S 32, 4 train, 4 test, 4 defect types; then S 16, 1 train, 0 test */
    static const uint8_t big[] = {1, 3, 4, 3}, small[] = {0, 0, 0, 0};
    put_bytes("dataset", "s32_n4_t4.bin", big, sizeof big);
    put_bytes("dataset", "s16_n1_t0.bin", small, sizeof small);
    put_bytes("hashindex", "s32_n4_t4.bin", big, sizeof big);
    put_bytes("hashindex", "s16_n1_t0.bin", small, sizeof small);
    return 0;
}
