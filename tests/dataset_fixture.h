/* Test fixture shared by the dataset tests: a small MVTec-layout tree written with the image
 * writer, and the reference pixels ingest must produce for it (decoded and resized directly). */
#ifndef SN_DATASET_FIXTURE_H
#define SN_DATASET_FIXTURE_H

#include "sernet/image.h"
#include "sernet/resize.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h> /* after stdio.h */

/* Run a subcommand in-process: fx_run(sn_cmd_ingest, "ingest", "--root", dir, ..., NULL). */
static int fx_run(int (*cmd)(int, char **), const char *a0, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    sn_err_clear();
    return cmd(argc, argv);
}

static void fx_mkdirs(const char *root, const char *rel)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    for (char *q = p + 1; *q; q++)
        if (*q == '/') {
            *q = '\0';
            mkdir(p, 0700);
            *q = '/';
        }
    mkdir(p, 0700);
}

/* A w x h picture with c channels, content depending on `k`. */
static int fx_write_image(const char *root, const char *rel, int w, int h, int c, int k)
{
    sn_image img = {w, h, c, malloc((size_t)w * h * c)};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                img.data[((size_t)y * w + x) * c + ch] =
                    (uint8_t)((x * (3 + k) + y * (5 + 2 * k) + ch * 70 + k * 31) & 255);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    int rc = sn_image_write_png(p, &img) == SN_OK ? 0 : -1;
    free(img.data);
    return rc;
}

/* A colour JPEG of w x h (quality 90). */
static int fx_write_jpeg(const char *root, const char *rel, int w, int h)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    if (!f)
        return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 3);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                row[3 * x + k] = (uint8_t)(60 + 2 * x + 3 * (int)c.next_scanline + 40 * k);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return fclose(f) == 0 ? 0 : -1;
}

/* A mask: a filled rectangle (value v, 255 or 1 or an RGB 0/255 mask when c = 3). */
static int fx_write_mask(const char *root, const char *rel, int w, int h, int c, int x0, int y0,
                         int x1, int y1)
{
    sn_image img = {w, h, c, calloc((size_t)w * h * c, 1)};
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            for (int ch = 0; ch < c; ch++)
                img.data[((size_t)y * w + x) * c + ch] = ch == 0 ? 255 : 0;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    int rc = sn_image_write_png(p, &img) == SN_OK ? 0 : -1;
    free(img.data);
    return rc;
}

/* root/cat: train/good 6 images (5 PNG of which one grey, 1 JPEG) and a README.txt that ingest
 * must ignore, test/good 2, test/crack 2 (grey masks), test/hole 1 (RGB mask).
 * Images are 40x36; ingest at S = 32. */
static int fx_make_tree(const char *root, const char *cat)
{
    char d[512];
    int rc = 0;
    snprintf(d, sizeof d, "%s/train/good", cat);
    fx_mkdirs(root, d);
    for (int i = 0; i < 5; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "%s/train/good/%03d.png", cat, i);
        rc |= fx_write_image(root, rel, 40, 36, i == 2 ? 1 : 3, i);
    }
    snprintf(d, sizeof d, "%s/train/good/005.jpg", cat);
    rc |= fx_write_jpeg(root, d, 40, 36);
    char readme[1024];
    snprintf(readme, sizeof readme, "%s/%s/train/good/README.txt", root, cat);
    FILE *f = fopen(readme, "w");
    if (f) {
        fputs("not an image\n", f);
        fclose(f);
    }
    const char *types[3] = {"good", "crack", "hole"};
    const int counts[3] = {2, 2, 1};
    for (int t = 0; t < 3; t++) {
        snprintf(d, sizeof d, "%s/test/%s", cat, types[t]);
        fx_mkdirs(root, d);
        if (t > 0) {
            snprintf(d, sizeof d, "%s/ground_truth/%s", cat, types[t]);
            fx_mkdirs(root, d);
        }
        for (int i = 0; i < counts[t]; i++) {
            char rel[512];
            snprintf(rel, sizeof rel, "%s/test/%s/%03d.png", cat, types[t], i);
            rc |= fx_write_image(root, rel, 40, 36, 3, 10 + 3 * t + i);
            if (t > 0) {
                snprintf(rel, sizeof rel, "%s/ground_truth/%s/%03d_mask.png", cat, types[t], i);
                rc |= fx_write_mask(root, rel, 40, 36, t == 1 ? 1 : 3, 5 + i, 4, 22 + 3 * i, 20);
            }
        }
    }
    return rc;
}

/* What ingest must store for an image file: 3 channels, resized to S. */
static int fx_reference(const char *path, int S, uint8_t *out, int32_t *orig)
{
    sn_image img;
    if (sn_image_read(path, &img) != SN_OK)
        return -1;
    uint8_t *rgb = malloc((size_t)img.w * img.h * 3);
    for (size_t i = 0; i < (size_t)img.w * img.h; i++)
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = img.data[i * img.c + (img.c == 3 ? c : 0)];
    int rc = sn_resize_u8(rgb, img.w, img.h, 3, out, S, S) == SN_OK ? 0 : -1;
    if (orig) {
        orig[0] = img.h;
        orig[1] = img.w;
    }
    free(rgb);
    sn_image_free(&img);
    return rc;
}

static int fx_reference_mask(const char *path, int S, uint8_t *out)
{
    sn_image img;
    if (sn_image_read(path, &img) != SN_OK)
        return -1;
    size_t n = (size_t)img.w * img.h;
    float *f = malloc(n * sizeof(float)), *o = malloc((size_t)S * S * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        int any = 0;
        for (int c = 0; c < img.c; c++)
            any |= img.data[i * img.c + c] != 0;
        f[i] = (float)any;
    }
    int rc = sn_resize_f32(f, img.w, img.h, 1, o, S, S) == SN_OK ? 0 : -1;
    for (size_t i = 0; i < (size_t)S * S; i++)
        out[i] = o[i] >= 0.5f;
    free(f);
    free(o);
    sn_image_free(&img);
    return rc;
}

#endif
