/* Image preprocessing shared by `sernet ingest` and the inspection API (sernet/preprocess.h). */
#include "sernet/preprocess.h"
#include "sernet/image.h"
#include "sernet/resize.h"

#include <string.h>

int sn_pixel_format_bytes(sn_pixel_format fmt)
{
    switch (fmt) {
    case SN_PIX_GREY: return 1;
    case SN_PIX_RGB: case SN_PIX_BGR: return 3;
    case SN_PIX_RGBA: case SN_PIX_BGRA: return 4;
    default: return 0;
    }
}

const char *sn_pixel_format_name(sn_pixel_format fmt)
{
    switch (fmt) {
    case SN_PIX_GREY: return "grey";
    case SN_PIX_RGB: return "RGB";
    case SN_PIX_RGBA: return "RGBA";
    case SN_PIX_BGR: return "BGR";
    case SN_PIX_BGRA: return "BGRA";
    default: return "unknown";
    }
}

sn_status sn_preprocess_rgb8(const uint8_t *pixels, int w, int h, sn_pixel_format fmt, size_t stride,
                             int S, uint8_t *out)
{
    sn_status status = SN_OK;
    uint8_t *rgb = NULL;
    const int bpp = sn_pixel_format_bytes(fmt);
    if (!pixels || !out)
        SN_FAIL(SN_EINVAL, "image preprocessing: no pixel buffer (NULL)");
    if (bpp == 0)
        SN_FAIL(SN_EINVAL, "image preprocessing: unknown pixel format %d (expected grey = 1 channel, "
                "RGB = 3, RGBA = 4, BGR or BGRA)", (int)fmt);
    if (w < 1 || h < 1 || w > SN_IMAGE_MAX_DIM || h > SN_IMAGE_MAX_DIM)
        SN_FAIL(SN_EINVAL, "image preprocessing: image of %d x %d pixels (width and height must be "
                "1..%d)", w, h, SN_IMAGE_MAX_DIM);
    if (S < 1)
        SN_FAIL(SN_EINVAL, "image preprocessing: output size %d", S);
    const size_t row = (size_t)w * (size_t)bpp;
    if (stride == 0)
        stride = row;
    if (stride < row)
        SN_FAIL(SN_EINVAL, "image preprocessing: row stride %zu bytes is shorter than a row of %d %s "
                "pixels (%zu bytes)", stride, w, sn_pixel_format_name(fmt), row);
    const uint8_t *src = pixels;
    if (fmt != SN_PIX_RGB || stride != row) {
        SN_ALLOC(rgb, (size_t)w * h * 3, "RGB copy of the input image");
        const int swap = fmt == SN_PIX_BGR || fmt == SN_PIX_BGRA;
        for (int y = 0; y < h; y++) {
            const uint8_t *in = pixels + (size_t)y * stride;
            uint8_t *o = rgb + (size_t)y * w * 3;
            if (fmt == SN_PIX_RGB) {
                memcpy(o, in, row);
            } else if (bpp == 1) {
                for (int x = 0; x < w; x++)
                    o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = in[x];
            } else {
                for (int x = 0; x < w; x++) {
                    const uint8_t *p = in + (size_t)x * bpp;
                    o[3 * x + 0] = p[swap ? 2 : 0];
                    o[3 * x + 1] = p[1];
                    o[3 * x + 2] = p[swap ? 0 : 2];
                }
            }
        }
        src = rgb;
    }
    SN_TRY(sn_resize_u8(src, w, h, 3, out, S, S));
done:
    sn_free(rgb);
    return status;
}
