/* Panel renderer: layout, jet colour map against its defining stops, heat overlay blending,
 * mask tint and outline, NONE tiles, the font, and the PNG written and read back. */
#include "sernet/image.h"
#include "sernet/panel.h"
#include "sn_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t *px(const sn_image *img, int x, int y)
{
    return img->data + ((size_t)y * (size_t)img->w + (size_t)x) * 3;
}

static const uint8_t *tpx(const sn_image *img, const sn_panel_layout *lay, int k, int x, int y)
{
    return px(img, lay->tile_x[k] + x, lay->tile_y + y);
}

static int rgb_eq(const uint8_t *p, int r, int g, int b)
{
    return p[0] == r && p[1] == g && p[2] == b;
}

/* Jet from its defining stops, linear in between (independent of the |4t - k| formula). */
static void jet_stops(double t, double out[3])
{
    static const double pos[6] = {0.0, 0.125, 0.375, 0.625, 0.875, 1.0};
    static const double col[6][3] = {{0, 0, 0.5}, {0, 0, 1}, {0, 1, 1}, {1, 1, 0}, {1, 0, 0}, {0.5, 0, 0}};
    int i = 0;
    while (i < 4 && t > pos[i + 1])
        i++;
    double u = (t - pos[i]) / (pos[i + 1] - pos[i]);
    for (int c = 0; c < 3; c++)
        out[c] = col[i][c] + u * (col[i + 1][c] - col[i][c]);
}

static void test_layout(void)
{
    sn_panel_layout lay;
    sn_panel_layout_get(64, &lay);
    EXPECT(lay.scale == 1 && lay.gap == 4 && lay.title_h == 11);
    EXPECT(lay.width == 5 * 64 + 6 * 4 && lay.height == 4 + 11 + 64 + 4);
    EXPECT(lay.tile_y == 15);
    for (int k = 0; k < SN_PANEL_TILES; k++)
        EXPECT_MSG(lay.tile_x[k] == 4 + k * 68, "tile %d at x %d", k, lay.tile_x[k]);
    sn_panel_layout_get(256, &lay);
    EXPECT(lay.scale == 2 && lay.gap == 8 && lay.title_h == 18);
    EXPECT(lay.width == 5 * 256 + 6 * 8 && lay.height == 8 + 18 + 256 + 8);
    EXPECT(lay.tile_x[4] + 256 + lay.gap == lay.width);
    EXPECT(sn_panel_scale(1) == 1 && sn_panel_scale(255) == 1 && sn_panel_scale(512) == 4);
    sn_panel_layout_get(SN_PANEL_MAX_S, &lay);
    EXPECT(lay.width <= SN_IMAGE_MAX_DIM && lay.height <= SN_IMAGE_MAX_DIM);
}

static void test_heat(void)
{
    uint8_t c[3];
    sn_panel_heat_rgb(0.0f, c);
    EXPECT(rgb_eq(c, 0, 0, 128));
    sn_panel_heat_rgb(1.0f, c);
    EXPECT(rgb_eq(c, 128, 0, 0));
    sn_panel_heat_rgb(0.5f, c);
    EXPECT(rgb_eq(c, 128, 255, 128));
    sn_panel_heat_rgb(0.25f, c);
    EXPECT(rgb_eq(c, 0, 128, 255));
    sn_panel_heat_rgb(0.75f, c);
    EXPECT(rgb_eq(c, 255, 128, 0));
    sn_panel_heat_rgb(-3.0f, c);
    EXPECT(rgb_eq(c, 0, 0, 128));
    sn_panel_heat_rgb(7.0f, c);
    EXPECT(rgb_eq(c, 128, 0, 0));
    sn_panel_heat_rgb(NAN, c);
    EXPECT(rgb_eq(c, 0, 0, 128));
    int worst = 0;
    for (int i = 0; i <= 1000; i++) {
        double t = i / 1000.0, want[3];
        jet_stops(t, want);
        sn_panel_heat_rgb((float)t, c);
        for (int k = 0; k < 3; k++) {
            int d = abs((int)c[k] - (int)lround(want[k] * 255.0));
            if (d > worst)
                worst = d;
        }
    }
    EXPECT_MSG(worst <= 1, "jet vs stops: worst channel difference %d", worst);
}

static void test_font(void)
{
    sn_image img = {.w = 20, .h = 9, .c = 3};
    img.data = malloc(20 * 9 * 3);
    memset(img.data, 255, 20 * 9 * 3);
    int w = sn_panel_text(&img, 1, 1, 20, 1, "Ib", 0);
    EXPECT(w == 11);
    /* 'I' row 0 is ".###.", row 1 "..#.." */
    EXPECT(px(&img, 1, 1)[0] == 255 && px(&img, 2, 1)[0] == 0 && px(&img, 4, 1)[0] == 0 &&
           px(&img, 5, 1)[0] == 255);
    EXPECT(px(&img, 2, 2)[0] == 255 && px(&img, 3, 2)[0] == 0);
    /* lower-case b is drawn as 'B' (row 0 "####.") starting at x = 1 + 6 */
    EXPECT(px(&img, 7, 1)[0] == 0 && px(&img, 11, 1)[0] == 255);
    /* clipping: nothing at or right of clip_x1 */
    memset(img.data, 255, 20 * 9 * 3);
    sn_panel_text(&img, 0, 0, 3, 1, "MMM", 0);
    int beyond = 0, inside = 0;
    for (int y = 0; y < 9; y++)
        for (int x = 0; x < 20; x++) {
            if (px(&img, x, y)[0] != 0)
                continue;
            if (x >= 3)
                beyond++;
            else
                inside++;
        }
    EXPECT(beyond == 0 && inside > 0);
    free(img.data);
}

enum { S = 32 };

static void make_inputs(uint8_t *image, uint8_t *recon)
{
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            for (int c = 0; c < 3; c++) {
                image[(y * S + x) * 3 + c] = (uint8_t)(x * 7 + y * 3 + c * 50);
                recon[(y * S + x) * 3 + c] = (uint8_t)(200 - x * 2 - c * 10);
            }
}

static int tile_equals(const sn_image *img, const sn_panel_layout *lay, int k, const uint8_t *rgb)
{
    for (int y = 0; y < S; y++)
        if (memcmp(tpx(img, lay, k, 0, y), rgb + (size_t)y * S * 3, S * 3) != 0)
            return 0;
    return 1;
}

static void test_render(void)
{
    static uint8_t image[S * S * 3], recon[S * S * 3], gt[S * S], pred[S * S];
    static float map[S * S];
    make_inputs(image, recon);
    memset(gt, 0, sizeof gt);
    memset(pred, 0, sizeof pred);
    for (int i = 0; i < S * S; i++)
        map[i] = 0.0f;
    sn_panel_layout lay;
    sn_panel_layout_get(S, &lay);
    sn_image img = {0};

    /* zero map: the heat tile is the image unchanged; empty masks show the image */
    EXPECT(sn_panel_render(&img, S, image, gt, map, 0.5f, pred, recon) == SN_OK);
    EXPECT(img.w == lay.width && img.h == lay.height && img.c == 3);
    EXPECT(tile_equals(&img, &lay, 0, image));
    EXPECT(tile_equals(&img, &lay, 1, image));
    EXPECT(tile_equals(&img, &lay, 2, image));
    EXPECT(tile_equals(&img, &lay, 3, image));
    EXPECT(tile_equals(&img, &lay, 4, recon));
    /* gaps and margins are background; titles have ink above each tile, none over the gaps */
    int gap_ok = 1;
    for (int y = 0; y < img.h; y++) {
        for (int k = 0; k <= SN_PANEL_TILES; k++)
            for (int x = (k == 0 ? 0 : lay.tile_x[k - 1] + S); x < (k < SN_PANEL_TILES ? lay.tile_x[k] : img.w); x++)
                if (!rgb_eq(px(&img, x, y), SN_PANEL_BG, SN_PANEL_BG, SN_PANEL_BG))
                    gap_ok = 0;
    }
    for (int x = 0; x < img.w; x++)
        for (int y = 0; y < lay.gap; y++)
            if (!rgb_eq(px(&img, x, y), SN_PANEL_BG, SN_PANEL_BG, SN_PANEL_BG) ||
                !rgb_eq(px(&img, x, img.h - 1 - y), SN_PANEL_BG, SN_PANEL_BG, SN_PANEL_BG))
                gap_ok = 0;
    EXPECT(gap_ok);
    for (int k = 0; k < SN_PANEL_TILES; k++) {
        int ink = 0;
        for (int y = lay.gap; y < lay.tile_y; y++)
            for (int x = lay.tile_x[k]; x < lay.tile_x[k] + S; x++)
                ink += px(&img, x, y)[0] == SN_PANEL_TEXT;
        EXPECT_MSG(ink > 5, "title of tile %d has %d ink pixels", k, ink);
    }
    sn_image_free(&img);

    /* map_max == 0: everything cold and transparent, whatever the map */
    for (int i = 0; i < S * S; i++)
        map[i] = 0.3f;
    EXPECT(sn_panel_render(&img, S, image, gt, map, 0.0f, pred, recon) == SN_OK);
    EXPECT(tile_equals(&img, &lay, 2, image));
    sn_image_free(&img);

    /* known pixels: black image, map_max at (5, 6), 2 * map_max at (7, 6) (clamped), half at (9, 6) */
    static uint8_t black[S * S * 3], grey[S * S * 3];
    memset(black, 0, sizeof black);
    memset(grey, 100, sizeof grey);
    for (int i = 0; i < S * S; i++)
        map[i] = 0.0f;
    map[6 * S + 5] = 0.4f;
    map[6 * S + 7] = 0.8f;
    map[6 * S + 9] = 0.2f;
    EXPECT(sn_panel_render(&img, S, black, NULL, map, 0.4f, NULL, NULL) == SN_OK);
    /* hot = (128, 0, 0), alpha 0.75: round(96) */
    EXPECT(rgb_eq(tpx(&img, &lay, 2, 5, 6), 96, 0, 0));
    EXPECT(rgb_eq(tpx(&img, &lay, 2, 7, 6), 96, 0, 0));
    EXPECT(rgb_eq(tpx(&img, &lay, 2, 6, 6), 0, 0, 0));
    /* t = 0.5 -> (128, 255, 128) at alpha 0.375 */
    EXPECT(rgb_eq(tpx(&img, &lay, 2, 9, 6), 48, 96, 48));
    sn_image_free(&img);
    EXPECT(sn_panel_render(&img, S, grey, NULL, map, 0.4f, NULL, NULL) == SN_OK);
    {
        const uint8_t *p = tpx(&img, &lay, 2, 9, 6);
        double want[3] = {0.625 * 100 + 0.375 * 128, 0.625 * 100 + 0.375 * 255, 0.625 * 100 + 0.375 * 128};
        for (int c = 0; c < 3; c++)
            EXPECT_NEAR(p[c], want[c], 0.5 + 1e-9);
        EXPECT(rgb_eq(tpx(&img, &lay, 2, 5, 6), 121, 25, 25)); /* 0.25 * 100 + 0.75 * (128, 0, 0) */
    }
    /* NULL masks and reconstruction: NONE tiles, grey with white text in the middle */
    for (int k = 1; k < SN_PANEL_TILES; k += (k == 1 ? 2 : 1)) {
        int grey_px = 0, text_px = 0, other = 0;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                const uint8_t *p = tpx(&img, &lay, k, x, y);
                if (rgb_eq(p, SN_PANEL_NONE_RGB, SN_PANEL_NONE_RGB, SN_PANEL_NONE_RGB))
                    grey_px++;
                else if (rgb_eq(p, SN_PANEL_NONE_TEXT, SN_PANEL_NONE_TEXT, SN_PANEL_NONE_TEXT))
                    text_px++;
                else
                    other++;
            }
        EXPECT_MSG(other == 0 && text_px > 10 && grey_px > S * S / 2, "NONE tile %d: %d grey, %d text, %d other",
                   k, grey_px, text_px, other);
    }
    sn_image_free(&img);

    /* masks: a 3x3 truth block -> centre tinted, ring solid red; a full prediction -> all tinted */
    for (int i = 0; i < S * S; i++)
        map[i] = 0.0f;
    for (int y = 10; y <= 12; y++)
        for (int x = 10; x <= 12; x++)
            gt[y * S + x] = 1;
    memset(pred, 1, sizeof pred);
    EXPECT(sn_panel_render(&img, S, grey, gt, map, 1.0f, pred, recon) == SN_OK);
    EXPECT(rgb_eq(tpx(&img, &lay, 1, 11, 11), 162, 60, 60)); /* 0.6 * 100 + 0.4 * (255, 0, 0) */
    EXPECT(rgb_eq(tpx(&img, &lay, 1, 10, 10), 255, 0, 0));
    EXPECT(rgb_eq(tpx(&img, &lay, 1, 12, 11), 255, 0, 0));
    EXPECT(rgb_eq(tpx(&img, &lay, 1, 9, 11), 100, 100, 100));
    EXPECT(rgb_eq(tpx(&img, &lay, 1, 13, 13), 100, 100, 100));
    int all_tint = 1;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            if (!rgb_eq(tpx(&img, &lay, 3, x, y), 162, 60, 60))
                all_tint = 0;
    EXPECT_MSG(all_tint, "a full mask is tinted everywhere and has no outline inside the image");
    sn_image_free(&img);

    /* bad arguments */
    EXPECT(sn_panel_render(&img, S, grey, gt, map, -1.0f, pred, recon) == SN_EINVAL);
    EXPECT(img.data == NULL);
    sn_err_clear();
    EXPECT(sn_panel_render(&img, S, grey, gt, map, NAN, pred, recon) == SN_EINVAL);
    sn_err_clear();
    map[3] = NAN;
    EXPECT(sn_panel_render(&img, S, grey, gt, map, 1.0f, pred, recon) == SN_EINVAL);
    EXPECT(strstr(sn_err_msg(), "not finite") != NULL);
    sn_err_clear();
    map[3] = 0.0f;
    EXPECT(sn_panel_render(&img, 0, grey, gt, map, 1.0f, pred, recon) == SN_EINVAL);
    sn_err_clear();

    /* S = 1 still renders (titles clipped) */
    EXPECT(sn_panel_render(&img, 1, grey, gt, map, 1.0f, pred, recon) == SN_OK);
    EXPECT(img.w == 5 + 24 && img.h == 4 + 11 + 1 + 4);
    sn_image_free(&img);
}

static void test_write(void)
{
    char dir[] = "/tmp/sn_test_panel_XXXXXX";
    if (!mkdtemp(dir)) {
        EXPECT_MSG(0, "mkdtemp failed");
        return;
    }
    static uint8_t image[S * S * 3], recon[S * S * 3], gt[S * S];
    static float map[S * S];
    make_inputs(image, recon);
    memset(gt, 0, sizeof gt);
    gt[40] = 1;
    for (int i = 0; i < S * S; i++)
        map[i] = (float)(i % S) / S;
    char path[512];
    snprintf(path, sizeof path, "%s/p.png", dir);
    EXPECT(sn_panel_write(path, S, image, gt, map, 0.5f, NULL, recon) == SN_OK);
    sn_image back = {0}, want = {0};
    EXPECT(sn_image_read(path, &back) == SN_OK);
    EXPECT(sn_panel_render(&want, S, image, gt, map, 0.5f, NULL, recon) == SN_OK);
    sn_panel_layout lay;
    sn_panel_layout_get(S, &lay);
    EXPECT(back.w == lay.width && back.h == lay.height && back.c == 3);
    EXPECT(back.data && want.data && back.w == want.w && back.h == want.h &&
           memcmp(back.data, want.data, (size_t)want.w * want.h * 3) == 0);
    sn_image_free(&back);
    sn_image_free(&want);

    /* an unwritable place: error naming the file, nothing left behind */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/missing_dir/p.png", dir);
    EXPECT(sn_panel_write(bad, S, image, gt, map, 0.5f, NULL, recon) == SN_EIO);
    EXPECT(strstr(sn_err_msg(), "missing_dir") != NULL);
    sn_err_clear();
    /* a bad map names the file too */
    map[0] = INFINITY;
    char p2[600];
    snprintf(p2, sizeof p2, "%s/q.png", dir);
    EXPECT(sn_panel_write(p2, S, image, gt, map, 0.5f, NULL, recon) == SN_EINVAL);
    EXPECT(strstr(sn_err_msg(), "q.png") != NULL);
    sn_err_clear();
    struct stat st;
    EXPECT(stat(p2, &st) != 0);

    remove(path);
    EXPECT(rmdir(dir) == 0);
}

int main(void)
{
    test_layout();
    test_heat();
    test_font();
    test_render();
    test_write();
    return sn_test_finish();
}
