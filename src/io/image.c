/* PNG and JPEG decoding, PNG writing. Both libraries report fatal errors by longjmp from an
 * error callback; every setjmp below catches them and turns them into an sn_status whose
 * message names the file. Anything touched after setjmp and used after a longjmp is volatile. */
#include "sernet/image.h"
#include "sernet/fsutil.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <jpeglib.h> /* after stdio.h: it needs FILE */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sn_image_free(sn_image *img)
{
    if (!img)
        return;
    sn_free(img->data);
    memset(img, 0, sizeof *img);
}

/* ---------------------------------------------------------------- PNG reading ---------- */

typedef struct {
    jmp_buf jmp;
    char msg[256];
} png_err_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_err_ctx *ctx = (png_err_ctx *)png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg ? msg : "libpng error");
    longjmp(ctx->jmp, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings (e.g. bad CRC in an ancillary chunk) do not stop decoding */
}

/* Convert one decoded row (ch channels of bit depth 8 or 16, big-endian) to out_c channels. */
static void png_convert_row(const uint8_t *in, int w, int ch, int depth, uint8_t *out, int out_c)
{
    for (int x = 0; x < w; x++) {
        int s[4];
        for (int k = 0; k < ch; k++) {
            if (depth == 16) {
                unsigned v = ((unsigned)in[2 * (x * ch + k)] << 8) | in[2 * (x * ch + k) + 1];
                s[k] = (int)((v + 128u) / 257u); /* round(v * 255 / 65535) */
            } else {
                s[k] = in[x * ch + k];
            }
        }
        if (out_c == 1) {
            out[x] = (uint8_t)s[0]; /* grey or grey+alpha: the grey sample */
        } else {
            out[3 * x + 0] = (uint8_t)s[0];
            out[3 * x + 1] = (uint8_t)s[1];
            out[3 * x + 2] = (uint8_t)s[2];
        }
    }
}

static sn_status read_png(const char *path, FILE *f, sn_image *img)
{
    volatile sn_status status = SN_OK; /* set after setjmp */
    png_err_ctx ctx;
    png_structp png = NULL;
    png_infop info = NULL;
    uint8_t *volatile rows_mem = NULL;
    png_bytep *volatile rows = NULL;
    uint8_t *volatile out = NULL;
    memset(&ctx, 0, sizeof ctx);

    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
    if (!png)
        SN_FAIL(SN_ENOMEM, "%s: cannot create a libpng reader", path);
    info = png_create_info_struct(png);
    if (!info)
        SN_FAIL(SN_ENOMEM, "%s: cannot create a libpng info structure", path);
    if (setjmp(ctx.jmp)) {
        status = SN_ERR(SN_EFORMAT, "%s: corrupt or truncated PNG: %s", path, ctx.msg);
        goto done;
    }
    png_set_user_limits(png, SN_IMAGE_MAX_DIM, SN_IMAGE_MAX_DIM);
    png_init_io(png, f);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    int out_c = (color & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int ch = png_get_channels(png, info);
    int odepth = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((odepth != 8 && odepth != 16) || ch < 1 || ch > 4 || (out_c == 3 && ch < 3) ||
        rowbytes < (size_t)w * (size_t)ch * (size_t)(odepth / 8))
        SN_FAIL(SN_EFORMAT, "%s: unexpected PNG layout after expansion (%d channels, %d bit)", path,
                ch, odepth);
    rows_mem = sn_alloc(rowbytes * h, "PNG rows");
    rows = malloc(sizeof(png_bytep) * h);
    out = sn_alloc((size_t)w * h * out_c, "image pixels");
    if (!rows_mem || !rows || !out)
        SN_FAIL(SN_ENOMEM, "%s: cannot allocate %ux%u image", path, (unsigned)w, (unsigned)h);
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = rows_mem + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    for (png_uint_32 y = 0; y < h; y++)
        png_convert_row(rows[y], (int)w, ch, odepth, out + (size_t)y * w * out_c, out_c);
    img->w = (int)w;
    img->h = (int)h;
    img->c = out_c;
    img->data = out;
    out = NULL;
done:
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    sn_free(rows_mem);
    free(rows);
    sn_free(out);
    return status;
}

/* ---------------------------------------------------------------- JPEG reading --------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err_ctx;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_err_ctx *ctx = (jpeg_err_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, ctx->msg);
    longjmp(ctx->jmp, 1);
}

/* Warnings (level < 0) mean damaged data, e.g. a truncated file decoded as grey: fail. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0)
        jpeg_on_error(cinfo);
}

static sn_status read_jpeg(const char *path, FILE *f, sn_image *img)
{
    volatile sn_status status = SN_OK; /* set after setjmp */
    struct jpeg_decompress_struct cinfo;
    jpeg_err_ctx err;
    volatile int created = 0;
    uint8_t *volatile out = NULL;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&err, 0, sizeof err);

    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_on_error;
    err.pub.emit_message = jpeg_on_message;
    if (setjmp(err.jmp)) {
        status = SN_ERR(SN_EFORMAT, "%s: corrupt or truncated JPEG: %s", path, err.msg);
        goto done;
    }
    jpeg_create_decompress(&cinfo);
    created = 1;
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK)
        SN_FAIL(SN_EFORMAT, "%s: CMYK JPEG images are not supported (convert to RGB first)", path);
    int out_c = cinfo.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
    cinfo.out_color_space = out_c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    if (cinfo.image_width > SN_IMAGE_MAX_DIM || cinfo.image_height > SN_IMAGE_MAX_DIM)
        SN_FAIL(SN_EFORMAT, "%s: JPEG of %ux%u exceeds the limit of %d pixels per side", path,
                (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, SN_IMAGE_MAX_DIM);
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != out_c)
        SN_FAIL(SN_EFORMAT, "%s: JPEG decoder gave %d components, expected %d", path,
                cinfo.output_components, out_c);
    size_t w = cinfo.output_width, h = cinfo.output_height;
    out = sn_alloc(w * h * out_c, "image pixels");
    if (!out)
        SN_FAIL(SN_ENOMEM, "%s: cannot allocate %zux%zu image", path, w, h);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + (size_t)cinfo.output_scanline * w * out_c;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1)
            SN_FAIL(SN_EFORMAT, "%s: JPEG data ended early", path);
    }
    jpeg_finish_decompress(&cinfo);
    img->w = (int)w;
    img->h = (int)h;
    img->c = out_c;
    img->data = out;
    out = NULL;
done:
    if (created)
        jpeg_destroy_decompress(&cinfo);
    sn_free(out);
    return status;
}

/* ---------------------------------------------------------------- BMP reading ---------- */
/* Uncompressed Windows bitmaps (BI_RGB; 8-bit palette, 24-bit, 32-bit), because real data sets
 * contain them under .png names. An 8-bit bitmap whose palette entries are all grey gives c = 1
 * (like PNG grey), any other gives c = 3. */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static unsigned le16(const uint8_t *p) { return (unsigned)p[0] | ((unsigned)p[1] << 8); }

static sn_status read_bmp(const char *path, FILE *f, sn_image *img)
{
    sn_status status = SN_OK;
    uint8_t *buf = NULL, *out = NULL;
    if (fseek(f, 0, SEEK_END) != 0)
        SN_FAIL(SN_EIO, "%s: cannot seek: %s", path, strerror(errno));
    long size = ftell(f);
    if (size < 54 || fseek(f, 0, SEEK_SET) != 0)
        SN_FAIL(SN_EFORMAT, "%s: truncated BMP (%ld bytes)", path, size);
    buf = malloc((size_t)size);
    if (!buf)
        SN_FAIL(SN_ENOMEM, "%s: cannot read %ld bytes", path, size);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        SN_FAIL(SN_EIO, "%s: read failed", path);
    uint32_t offset = le32(buf + 10), dib = le32(buf + 14);
    int32_t w = (int32_t)le32(buf + 18), hs = (int32_t)le32(buf + 22);
    unsigned planes = le16(buf + 26), bpp = le16(buf + 28);
    uint32_t compression = le32(buf + 30), ncolors = le32(buf + 46);
    if (dib < 40 || planes != 1)
        SN_FAIL(SN_EFORMAT, "%s: unsupported or corrupt BMP header (header size %u, planes %u)",
                path, (unsigned)dib, planes);
    if (compression != 0 || (bpp != 8 && bpp != 24 && bpp != 32))
        SN_FAIL(SN_EFORMAT, "%s: unsupported BMP (%u bit, compression %u); only uncompressed "
                "8, 24 and 32 bit", path, bpp, (unsigned)compression);
    int top_down = hs < 0;
    int64_t h = hs < 0 ? -(int64_t)hs : hs;
    if (w <= 0 || h <= 0 || w > SN_IMAGE_MAX_DIM || h > SN_IMAGE_MAX_DIM)
        SN_FAIL(SN_EFORMAT, "%s: BMP size %dx%lld out of range", path, (int)w, (long long)h);
    size_t stride = (((size_t)w * bpp + 31) / 32) * 4;
    if ((uint64_t)offset + stride * (uint64_t)h > (uint64_t)size)
        SN_FAIL(SN_EFORMAT, "%s: truncated BMP: pixel data needs %llu bytes, file has %ld", path,
                (unsigned long long)((uint64_t)offset + stride * (uint64_t)h), size);
    const uint8_t *pal = NULL;
    int out_c = 3;
    if (bpp == 8) {
        if (ncolors == 0 || ncolors > 256)
            ncolors = 256;
        if ((uint64_t)14 + dib + 4ull * ncolors > offset)
            SN_FAIL(SN_EFORMAT, "%s: corrupt BMP palette", path);
        pal = buf + 14 + dib;
        out_c = 1;
        for (uint32_t i = 0; i < ncolors; i++)
            if (pal[4 * i] != pal[4 * i + 1] || pal[4 * i] != pal[4 * i + 2])
                out_c = 3;
    }
    out = sn_alloc((size_t)w * (size_t)h * out_c, "image pixels");
    if (!out)
        SN_FAIL(SN_ENOMEM, "%s: cannot allocate image", path);
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *row = buf + offset + stride * (size_t)(top_down ? y : h - 1 - y);
        uint8_t *o = out + (size_t)y * w * out_c;
        for (int32_t x = 0; x < w; x++) {
            const uint8_t *px;
            if (bpp == 8) {
                if (row[x] >= ncolors)
                    SN_FAIL(SN_EFORMAT, "%s: BMP pixel index %u beyond palette of %u", path,
                            row[x], (unsigned)ncolors);
                px = pal + 4 * row[x];
            } else {
                px = row + (size_t)x * (bpp / 8);
            }
            if (out_c == 1) {
                o[x] = px[0];
            } else {
                o[3 * x + 0] = px[2];
                o[3 * x + 1] = px[1];
                o[3 * x + 2] = px[0];
            }
        }
    }
    img->w = (int)w;
    img->h = (int)h;
    img->c = out_c;
    img->data = out;
    out = NULL;
done:
    free(buf);
    sn_free(out);
    return status;
}

/* ---------------------------------------------------------------- dispatch -------------- */

sn_status sn_image_read(const char *path, sn_image *img)
{
    sn_status status = SN_OK;
    FILE *f = NULL;
    unsigned char sig[8];
    SN_ASSERT(path && img);
    memset(img, 0, sizeof *img);
    f = fopen(path, "rb");
    if (!f)
        SN_FAIL(SN_EIO, "%s: cannot open image: %s", path, strerror(errno));
    size_t n = fread(sig, 1, sizeof sig, f);
    if (n < 3)
        SN_FAIL(SN_EFORMAT, "%s: not an image (file of %zu bytes)", path, n);
    if (fseek(f, 0, SEEK_SET) != 0)
        SN_FAIL(SN_EIO, "%s: cannot seek: %s", path, strerror(errno));
    if (n == 8 && png_sig_cmp(sig, 0, 8) == 0)
        status = read_png(path, f, img);
    else if (sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF)
        status = read_jpeg(path, f, img);
    else if (sig[0] == 'B' && sig[1] == 'M')
        status = read_bmp(path, f, img);
    else
        SN_FAIL(SN_EFORMAT, "%s: not a PNG, JPEG or BMP file (unknown signature)", path);
done:
    if (f)
        fclose(f);
    if (status != SN_OK)
        sn_image_free(img);
    return status;
}

/* ---------------------------------------------------------------- PNG writing ----------- */

static sn_status write_png_stream(const char *path, FILE *f, const sn_image *img)
{
    volatile sn_status status = SN_OK; /* set after setjmp */
    png_err_ctx ctx;
    png_structp png = NULL;
    png_infop info = NULL;
    memset(&ctx, 0, sizeof ctx);
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
    if (!png)
        SN_FAIL(SN_ENOMEM, "%s: cannot create a libpng writer", path);
    info = png_create_info_struct(png);
    if (!info)
        SN_FAIL(SN_ENOMEM, "%s: cannot create a libpng info structure", path);
    if (setjmp(ctx.jmp)) {
        status = SN_ERR(SN_EIO, "%s: writing PNG failed: %s", path, ctx.msg);
        goto done;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8,
                 img->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->h; y++)
        png_write_row(png, img->data + (size_t)y * img->w * img->c);
    png_write_end(png, NULL);
done:
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    return status;
}

sn_status sn_image_write_png(const char *path, const sn_image *img)
{
    sn_status status = SN_OK;
    sn_afile af = {0};
    SN_ASSERT(path && img);
    if (!img->data || img->w <= 0 || img->h <= 0 || (img->c != 1 && img->c != 3))
        SN_FAIL(SN_EINVAL, "%s: cannot write PNG of %dx%d with %d channels (need 1 or 3)", path,
                img->w, img->h, img->c);
    SN_TRY(sn_afile_open(&af, path));
    SN_TRY(write_png_stream(path, af.fp, img));
    SN_TRY(sn_afile_commit(&af));
done:
    sn_afile_discard(&af);
    return status;
}
