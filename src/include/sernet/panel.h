/* Panels: one RGB PNG per test image for people to look at (written by `sernet export`, see
 * docs/outputs.md "What the outputs look like").
 *
 * Layout (all sizes in pixels, s = sn_panel_scale(S) = max(1, S / 128)):
 *   background SN_PANEL_BG (white); gap g = 4 * s around and between the tiles;
 *   a title band of height t = 7 * s + 4 above the tiles (5x7 glyphs drawn s times larger,
 *   dark grey, centred over each tile, clipped to the tile's width);
 *   five S x S tiles side by side: width = 5 * S + 6 * g, height = g + t + S + g,
 *   tile k at x = g + k * (S + g), y = g + t.
 *   0 IMAGE  the test image as stored;
 *   1 TRUTH  the ground-truth mask over the image (mask style below), or a "NONE" tile for NULL;
 *   2 MAP    the anomaly map as a heat overlay on the image (title "MAP <map_max>");
 *   3 PRED   the predicted mask over the image (mask style below), or "NONE" for NULL;
 *   4 RECON  the reconstruction, or "NONE" for NULL.
 * A "NONE" tile is filled with SN_PANEL_NONE_RGB (mid grey) with the word NONE in its centre.
 *
 * Heat overlay: t = clamp(map / map_max, 0, 1) (t = 0 everywhere when map_max == 0);
 * heat colour = sn_panel_heat_rgb(t) (the "jet" ramp: dark blue, blue, cyan, yellow, red, dark red);
 * alpha = SN_PANEL_HEAT_ALPHA * t, so a zero map leaves the image unchanged and a pixel at
 * map_max is 0.75 * hot + 0.25 * image. out = round((1 - alpha) * image + alpha * heat).
 *
 * Mask style (truth and prediction alike): pixels inside the mask (value != 0) are blended with
 * red SN_PANEL_MASK_RGB at SN_PANEL_MASK_ALPHA; mask pixels with a 4-neighbour outside the mask
 * (inside the image) form the outline and are solid red. */
#ifndef SERNET_PANEL_H
#define SERNET_PANEL_H

#include <stdint.h>

#include "sernet/common.h"
#include "sernet/image.h"

#define SN_PANEL_TILES 5
#define SN_PANEL_HEAT_ALPHA 0.75f
#define SN_PANEL_MASK_ALPHA 0.4f
#define SN_PANEL_BG 255        /* background grey level */
#define SN_PANEL_TEXT 32       /* title text grey level */
#define SN_PANEL_NONE_RGB 128  /* grey level of a "NONE" tile */
#define SN_PANEL_NONE_TEXT 255 /* its text */
/* Largest accepted tile size (keeps the panel within SN_IMAGE_MAX_DIM). */
#define SN_PANEL_MAX_S 4096

typedef struct {
    int S;       /* tile size */
    int scale;   /* glyph scale */
    int gap;     /* gap between and around tiles */
    int title_h; /* height of the title band */
    int width, height;
    int tile_x[SN_PANEL_TILES];
    int tile_y;
} sn_panel_layout;

/* Glyph scale for tile size S: max(1, S / 128). */
int sn_panel_scale(int S);
/* The layout of a panel of S x S tiles (S in 1..SN_PANEL_MAX_S; programmer error otherwise). */
void sn_panel_layout_get(int S, sn_panel_layout *lay);

/* Jet colour map: t clamped to [0, 1] (NaN -> 0); channel c = clamp(1.5 - |4t - k_c|, 0, 1)
 * with k = 3 (red), 2 (green), 1 (blue), scaled to 0..255 by round(255 * c).
 * t = 0 -> (0, 0, 128); 0.5 -> (128, 255, 128); 1 -> (128, 0, 0). */
void sn_panel_heat_rgb(float t, uint8_t rgb[3]);

/* Draw text with the built-in 5x7 font (glyphs for A-Z, 0-9, '.', '-', ':', '=' and space;
 * lower case drawn as upper case, other characters as blanks), each glyph cell 6 * scale wide,
 * top-left corner at (x, y), clipped to the rectangle [x, clip_x1) x [0, img->h). Grey level v.
 * Returns the text width in pixels. */
int sn_panel_text(sn_image *img, int x, int y, int clip_x1, int scale, const char *text, uint8_t v);

/* Render the panel into img (allocated here, c = 3; free with sn_image_free).
 * image_rgb, map: S*S*3 (HWC) and S*S; gt_mask, pred_mask: S*S 0/1 or NULL; recon_rgb S*S*3
 * or NULL. map_max must be finite and >= 0; a non-finite map value is an error (SN_EINVAL). */
sn_status sn_panel_render(sn_image *img, int S, const uint8_t *image_rgb, const uint8_t *gt_mask,
                          const float *map, float map_max, const uint8_t *pred_mask,
                          const uint8_t *recon_rgb);

/* Render and write the panel as an RGB PNG (temporary name, then rename). */
sn_status sn_panel_write(const char *png_path, int S, const uint8_t *image_rgb /*S*S*3 HWC*/,
                         const uint8_t *gt_mask /*S*S 0/1 or NULL*/, const float *map /*S*S*/,
                         float map_max /*value shown as full heat*/,
                         const uint8_t *pred_mask /*S*S 0/1 or NULL*/,
                         const uint8_t *recon_rgb /*S*S*3 or NULL*/);

#endif
