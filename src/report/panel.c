/* Panel renderer: image | truth | heat map | prediction | reconstruction (layout and colours
 * documented in src/include/sernet/panel.h and docs/outputs.md). */
#include "sernet/panel.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int sn_panel_scale(int S)
{
    return S / 128 > 1 ? S / 128 : 1;
}

void sn_panel_layout_get(int S, sn_panel_layout *lay)
{
    SN_ASSERT(lay && S >= 1 && S <= SN_PANEL_MAX_S);
    memset(lay, 0, sizeof *lay);
    lay->S = S;
    lay->scale = sn_panel_scale(S);
    lay->gap = 4 * lay->scale;
    lay->title_h = 7 * lay->scale + 4;
    lay->width = SN_PANEL_TILES * S + (SN_PANEL_TILES + 1) * lay->gap;
    lay->height = lay->gap + lay->title_h + S + lay->gap;
    for (int k = 0; k < SN_PANEL_TILES; k++)
        lay->tile_x[k] = lay->gap + k * (S + lay->gap);
    lay->tile_y = lay->gap + lay->title_h;
}

static float clamp01(float v)
{
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

static uint8_t to_byte(float v01)
{
    return (uint8_t)(int)(clamp01(v01) * 255.0f + 0.5f);
}

void sn_panel_heat_rgb(float t, uint8_t rgb[3])
{
    if (!(t == t))
        t = 0.0f;
    t = clamp01(t);
    rgb[0] = to_byte(1.5f - fabsf(4.0f * t - 3.0f));
    rgb[1] = to_byte(1.5f - fabsf(4.0f * t - 2.0f));
    rgb[2] = to_byte(1.5f - fabsf(4.0f * t - 1.0f));
}

/* ---- 5x7 font: our own glyphs, one string per row, '#' = ink ---- */
typedef struct {
    char ch;
    const char *rows[7];
} glyph;

static const glyph FONT[] = {
    {'A', {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'B', {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."}},
    {'C', {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."}},
    {'D', {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."}},
    {'E', {"#####", "#....", "#....", "####.", "#....", "#....", "#####"}},
    {'F', {"#####", "#....", "#....", "####.", "#....", "#....", "#...."}},
    {'G', {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".###."}},
    {'H', {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'I', {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'J', {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
    {'K', {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"}},
    {'L', {"#....", "#....", "#....", "#....", "#....", "#....", "#####"}},
    {'M', {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"}},
    {'N', {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"}},
    {'O', {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'P', {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."}},
    {'Q', {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"}},
    {'R', {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"}},
    {'S', {".####", "#....", "#....", ".###.", "....#", "....#", "####."}},
    {'T', {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
    {'U', {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'V', {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'W', {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."}},
    {'X', {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"}},
    {'Y', {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."}},
    {'Z', {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"}},
    {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
    {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
    {'-', {".....", ".....", ".....", "#####", ".....", ".....", "....."}},
    {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
    {'=', {".....", ".....", "#####", ".....", "#####", ".....", "....."}},
};

static const glyph *find_glyph(char c)
{
    c = (char)toupper((unsigned char)c);
    for (size_t i = 0; i < sizeof FONT / sizeof FONT[0]; i++)
        if (FONT[i].ch == c)
            return &FONT[i];
    return NULL; /* space and unknown characters: blank cell */
}

int sn_panel_text(sn_image *img, int x, int y, int clip_x1, int scale, const char *text, uint8_t v)
{
    SN_ASSERT(img && img->data && text && scale >= 1);
    int cell = 6 * scale;
    int n = (int)strlen(text);
    if (clip_x1 > img->w)
        clip_x1 = img->w;
    for (int i = 0; i < n; i++) {
        const glyph *g = find_glyph(text[i]);
        if (!g)
            continue;
        int gx = x + i * cell;
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 5; c++) {
                if (g->rows[r][c] != '#')
                    continue;
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++) {
                        int px = gx + c * scale + dx, py = y + r * scale + dy;
                        if (px < x || px < 0 || px >= clip_x1 || py < 0 || py >= img->h)
                            continue;
                        uint8_t *p = img->data + ((size_t)py * (size_t)img->w + (size_t)px) * 3;
                        p[0] = p[1] = p[2] = v;
                    }
            }
    }
    /* the trailing one-column spacing of the last cell is not part of the width */
    return n > 0 ? n * cell - scale : 0;
}

/* Text centred horizontally in [x0, x0 + w) (left-aligned and clipped when wider). */
static void text_centred(sn_image *img, int x0, int w, int y, int scale, const char *text, uint8_t v)
{
    int n = (int)strlen(text);
    int tw = n > 0 ? n * 6 * scale - scale : 0;
    int x = tw < w ? x0 + (w - tw) / 2 : x0;
    sn_panel_text(img, x, y, x0 + w, scale, text, v);
}

static uint8_t blend(uint8_t a, uint8_t b, float alpha)
{
    float v = (1.0f - alpha) * (float)a + alpha * (float)b;
    return (uint8_t)(int)(v + 0.5f);
}

static uint8_t *tile_px(sn_image *img, const sn_panel_layout *lay, int k, int x, int y)
{
    return img->data + ((size_t)(lay->tile_y + y) * (size_t)img->w + (size_t)(lay->tile_x[k] + x)) * 3;
}

static void draw_copy(sn_image *img, const sn_panel_layout *lay, int k, const uint8_t *rgb)
{
    int S = lay->S;
    for (int y = 0; y < S; y++)
        memcpy(tile_px(img, lay, k, 0, y), rgb + (size_t)y * (size_t)S * 3, (size_t)S * 3);
}

static void draw_none(sn_image *img, const sn_panel_layout *lay, int k)
{
    int S = lay->S;
    for (int y = 0; y < S; y++)
        memset(tile_px(img, lay, k, 0, y), SN_PANEL_NONE_RGB, (size_t)S * 3);
    text_centred(img, lay->tile_x[k], S, lay->tile_y + (S - 7 * lay->scale) / 2, lay->scale, "NONE",
                 SN_PANEL_NONE_TEXT);
}

static void draw_mask(sn_image *img, const sn_panel_layout *lay, int k, const uint8_t *rgb,
                      const uint8_t *mask)
{
    static const uint8_t red[3] = {255, 0, 0};
    int S = lay->S;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            size_t i = (size_t)y * (size_t)S + (size_t)x;
            uint8_t *p = tile_px(img, lay, k, x, y);
            const uint8_t *s = rgb + i * 3;
            if (!mask[i]) {
                memcpy(p, s, 3);
                continue;
            }
            int edge = (x > 0 && !mask[i - 1]) || (x + 1 < S && !mask[i + 1]) ||
                       (y > 0 && !mask[i - (size_t)S]) || (y + 1 < S && !mask[i + (size_t)S]);
            for (int c = 0; c < 3; c++)
                p[c] = edge ? red[c] : blend(s[c], red[c], SN_PANEL_MASK_ALPHA);
        }
}

sn_status sn_panel_render(sn_image *img, int S, const uint8_t *image_rgb, const uint8_t *gt_mask,
                          const float *map, float map_max, const uint8_t *pred_mask,
                          const uint8_t *recon_rgb)
{
    sn_status status = SN_OK;
    SN_ASSERT(img && image_rgb && map);
    *img = (sn_image){0};
    if (S < 1 || S > SN_PANEL_MAX_S)
        SN_FAIL(SN_EINVAL, "panel: tile size %d out of range 1..%d", S, SN_PANEL_MAX_S);
    if (!isfinite(map_max) || map_max < 0.0f)
        SN_FAIL(SN_EINVAL, "panel: map_max %g must be finite and >= 0", (double)map_max);
    size_t n = (size_t)S * (size_t)S;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(map[i]))
            SN_FAIL(SN_EINVAL, "panel: anomaly map value at (x %zu, y %zu) is not finite", i % (size_t)S,
                    i / (size_t)S);

    sn_panel_layout lay;
    sn_panel_layout_get(S, &lay);
    img->w = lay.width;
    img->h = lay.height;
    img->c = 3;
    SN_ALLOC(img->data, (size_t)lay.width * (size_t)lay.height * 3, "panel pixels");
    memset(img->data, SN_PANEL_BG, (size_t)lay.width * (size_t)lay.height * 3);

    char map_title[32];
    snprintf(map_title, sizeof map_title, "MAP %.2g", (double)map_max);
    const char *titles[SN_PANEL_TILES] = {"IMAGE", "TRUTH", map_title, "PRED", "RECON"};
    for (int k = 0; k < SN_PANEL_TILES; k++)
        text_centred(img, lay.tile_x[k], S, lay.gap + 2, lay.scale, titles[k], SN_PANEL_TEXT);

    draw_copy(img, &lay, 0, image_rgb);
    if (gt_mask)
        draw_mask(img, &lay, 1, image_rgb, gt_mask);
    else
        draw_none(img, &lay, 1);

    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            size_t i = (size_t)y * (size_t)S + (size_t)x;
            float t = map_max > 0.0f ? clamp01(map[i] / map_max) : 0.0f;
            uint8_t heat[3];
            sn_panel_heat_rgb(t, heat);
            float a = SN_PANEL_HEAT_ALPHA * t;
            uint8_t *p = tile_px(img, &lay, 2, x, y);
            for (int c = 0; c < 3; c++)
                p[c] = blend(image_rgb[i * 3 + (size_t)c], heat[c], a);
        }

    if (pred_mask)
        draw_mask(img, &lay, 3, image_rgb, pred_mask);
    else
        draw_none(img, &lay, 3);
    if (recon_rgb)
        draw_copy(img, &lay, 4, recon_rgb);
    else
        draw_none(img, &lay, 4);
done:
    if (status != SN_OK)
        sn_image_free(img);
    return status;
}

sn_status sn_panel_write(const char *png_path, int S, const uint8_t *image_rgb, const uint8_t *gt_mask,
                         const float *map, float map_max, const uint8_t *pred_mask,
                         const uint8_t *recon_rgb)
{
    sn_status status = SN_OK;
    sn_image img = {0};
    SN_ASSERT(png_path);
    status = sn_panel_render(&img, S, image_rgb, gt_mask, map, map_max, pred_mask, recon_rgb);
    if (status != SN_OK) {
        /* name the file the panel was meant for */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sn_err_msg());
        sn_err_clear();
        SN_FAIL(status, "%s: %s", png_path, msg);
    }
    SN_TRY(sn_image_write_png(png_path, &img));
done:
    sn_image_free(&img);
    return status;
}
