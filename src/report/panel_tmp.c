/* TODO(merge): THROWAWAY stand-in for sn_panel_write (the export helper's include/sernet/panel.h
 * and its implementation replace it; the lead deletes this file at merge). When the real header
 * exists this file compiles to nothing. Layout: tiles of S x S side by side with a 4-pixel grey
 * gap: image | image with the ground truth outlined in green | heat map (black -> red -> yellow,
 * 0..map_max) | predicted mask (white) | reconstruction; NULL tiles are left out. */
#include "report/panel_shim.h"

#ifndef SN_HAVE_PANEL_H
#include "sernet/image.h"

#include <string.h>

static void heat(float v, float vmax, uint8_t *rgb)
{
    float t = vmax > 0 ? v / vmax : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    rgb[0] = (uint8_t)(255.0f * (t < 0.5f ? 2 * t : 1) + 0.5f);
    rgb[1] = (uint8_t)(255.0f * (t < 0.5f ? 0 : 2 * t - 1) + 0.5f);
    rgb[2] = 0;
}

sn_status sn_panel_write(const char *png_path, int S, const uint8_t *image_rgb,
                         const uint8_t *gt_mask, const float *map, float map_max,
                         const uint8_t *pred_mask, const uint8_t *recon_rgb)
{
    sn_status status = SN_OK;
    enum { GAP = 4 };
    if (S < 1 || !image_rgb || !map)
        return SN_ERR(SN_EINVAL, "%s: panel needs an image and a map of S >= 1 (S = %d)", png_path, S);
    int tiles = 3 + (pred_mask != NULL) + (recon_rgb != NULL);
    sn_image img = {tiles * S + (tiles - 1) * GAP, S, 3, NULL};
    SN_ALLOC(img.data, (size_t)img.w * img.h * 3, "panel pixels");
    memset(img.data, 128, (size_t)img.w * img.h * 3);
    int tile = 0;
    for (int part = 0; part < 5; part++) {
        if ((part == 3 && !pred_mask) || (part == 4 && !recon_rgb))
            continue;
        int x0 = tile * (S + GAP);
        tile++;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                size_t i = (size_t)y * S + x;
                uint8_t *o = img.data + ((size_t)y * img.w + x0 + x) * 3;
                switch (part) {
                case 0:
                    memcpy(o, image_rgb + 3 * i, 3);
                    break;
                case 1: {
                    memcpy(o, image_rgb + 3 * i, 3);
                    int edge = 0;
                    if (gt_mask && gt_mask[i])
                        for (int dy = -1; dy <= 1; dy++)
                            for (int dx = -1; dx <= 1; dx++) {
                                int yy = y + dy, xx = x + dx;
                                if (yy < 0 || xx < 0 || yy >= S || xx >= S || !gt_mask[(size_t)yy * S + xx])
                                    edge = 1;
                            }
                    if (edge) {
                        o[0] = 0;
                        o[1] = 255;
                        o[2] = 0;
                    }
                    break;
                }
                case 2:
                    heat(map[i], map_max, o);
                    break;
                case 3:
                    o[0] = o[1] = o[2] = pred_mask[i] ? 255 : 0;
                    break;
                default:
                    memcpy(o, recon_rgb + 3 * i, 3);
                }
            }
    }
    SN_TRY(sn_image_write_png(png_path, &img));
done:
    sn_free(img.data);
    return status;
}
#else
typedef int sn_panel_tmp_unused; /* keeps the translation unit non-empty */
#endif
