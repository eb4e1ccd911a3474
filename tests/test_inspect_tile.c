/* Tiling of large images (sernet/tile.h, sernet/inspect_tile.h).
 * (1) The grid: tile origins for known sizes, and for a sweep of sizes the rules (first tile at 0,
 *     last at the edge, overlaps never below the requested one, the fewest tiles that do that),
 *     tile counts of the stitching against brute force, and the errors of bad tile sizes,
 *     overlaps and images smaller than a tile.
 * (2) Against the model: a tiny model (S = 32) is trained with the sernet program; a synthetic
 *     60 x 44 image (3 x 2 tiles at overlap 16, the last column and row aligned to the edges) is
 *     scored tiled and compared bit for bit with its tiles cut out here and scored one by one
 *     (sn_inspect_pixels), stitched here by a plain loop: map, score, repair mask, repaired
 *     pixels, neighbours; the same with 3 tiles scored at once. Other layouts (BGRA with a padded
 *     stride), a file, the default overlap and the errors of bad input. */
#include "sernet/image.h"
#include "sernet/inspect_tile.h"
#include "sn_test.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S 32

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                     "ASAN_OPTIONS=detect_leaks=0 OMP_NUM_THREADS=1 ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

static void expect_grid_error(int w, int h, int t, int o, const char *must1, const char *must2)
{
    sn_tile_grid g;
    sn_status st = sn_tile_grid_make(w, h, t, o, "img.png", &g);
    const char *m = sn_err_msg();
    EXPECT_MSG(st == SN_EINVAL && strstr(m, "img.png") && strstr(m, must1) && (!must2 || strstr(m, must2)),
               "grid %d x %d, tile %d, overlap %d: status %s, message '%s' (must contain '%s' %s)", w, h,
               t, o, sn_status_name(st), m, must1, must2 ? must2 : "");
    sn_err_clear();
}

static void check_grid(void)
{
    sn_tile_grid g;
    int x, y;
    /* known origins */
    EXPECT(sn_tile_grid_make(60, 44, 32, 16, NULL, &g) == SN_OK && g.nx == 3 && g.ny == 2);
    const int ox[3] = {0, 16, 28}, oy[2] = {0, 12};
    for (int k = 0; k < 6; k++) {
        sn_tile_origin(&g, k, &x, &y);
        EXPECT_MSG(x == ox[k % 3] && y == oy[k / 3], "tile %d at (%d, %d), expected (%d, %d)", k, x,
                   y, ox[k % 3], oy[k / 3]);
    }
    EXPECT(sn_tile_grid_make(96, 64, 32, 0, NULL, &g) == SN_OK && g.nx == 3 && g.ny == 2);
    sn_tile_origin(&g, 5, &x, &y);
    EXPECT(x == 64 && y == 32);
    EXPECT(sn_tile_grid_make(256, 256, 256, 64, NULL, &g) == SN_OK && g.nx == 1 && g.ny == 1);
    EXPECT(sn_tile_grid_make(8000, 2000, 256, 64, NULL, &g) == SN_OK && g.nx == 42 && g.ny == 11);
    sn_tile_origin(&g, 41, &x, &y);
    EXPECT(x == 8000 - 256 && y == 0);
    EXPECT(sn_tile_default_overlap(256) == 64 && sn_tile_default_overlap(32) == 0 &&
           sn_tile_default_overlap(64) == 16 && sn_tile_default_overlap(112) == 16);

    /* the rules, for a sweep of lengths, tiles and overlaps */
    int bad = 0, cases = 0;
    for (int t = 16; t <= 64; t += 16)
        for (int o = 0; o < t; o += 16)
            for (int len = t; len <= 4 * t + 7; len += 3) {
                if (sn_tile_grid_make(len, t, t, o, NULL, &g) != SN_OK) {
                    bad++;
                    continue;
                }
                cases++;
                int prev = -1, ok = 1;
                for (int i = 0; i < g.nx; i++) {
                    sn_tile_origin(&g, i, &x, &y);
                    ok &= i > 0 || x == 0;
                    ok &= i < g.nx - 1 || x == len - t;
                    ok &= i == 0 || (x > prev && prev + t - x >= o); /* overlap >= o */
                    ok &= y == 0;
                    prev = x;
                }
                /* the fewest tiles: one tile less could not reach the edge */
                ok &= g.nx == 1 || (g.nx - 2) * (t - o) + t < len;
                bad += !ok;
            }
    EXPECT_MSG(bad == 0 && cases > 100, "grid rules broken in %d of %d cases", bad, cases);

    /* stitching: the mean of constant tiles is the constant; counts against brute force */
    EXPECT(sn_tile_grid_make(75, 53, 32, 16, NULL, &g) == SN_OK);
    float *sum = calloc(75 * 53 * 2, sizeof *sum), tile[32 * 32 * 2];
    int *cnt = calloc(75 * 53, sizeof *cnt);
    uint8_t *mask = calloc(75 * 53, 1), tm[32 * 32];
    for (int i = 0; i < 32 * 32 * 2; i++)
        tile[i] = i % 2 ? 2.5f : 1.0f;
    memset(tm, 0, sizeof tm);
    tm[0] = 1;
    for (int k = 0; sum && cnt && mask && k < sn_tile_count(&g); k++) {
        sn_tile_add_f32(&g, k, tile, 2, sum);
        sn_tile_or_u8(&g, k, tm, mask);
        sn_tile_origin(&g, k, &x, &y);
        for (int yy = y; yy < y + 32; yy++)
            for (int xx = x; xx < x + 32; xx++)
                cnt[yy * 75 + xx]++;
    }
    int wrong = 0, marked = 0;
    for (int p = 0; sum && cnt && mask && p < 75 * 53; p++) {
        wrong += cnt[p] < 1 || sum[2 * p] != (float)cnt[p] || sum[2 * p + 1] != 2.5f * (float)cnt[p];
        marked += mask[p];
    }
    EXPECT_MSG(wrong == 0, "tile sums: %d pixels differ from the brute-force counts", wrong);
    EXPECT_MSG(marked == sn_tile_count(&g), "OR of masks: %d pixels set for %d tiles", marked,
               sn_tile_count(&g));
    sn_tile_mean_f32(&g, 2, sum);
    for (int p = 0; sum && p < 75 * 53; p++)
        wrong += sum[2 * p] != 1.0f || sum[2 * p + 1] != 2.5f;
    EXPECT_MSG(wrong == 0, "mean of constant tiles: %d pixels are not the constant", wrong);
    free(sum);
    free(cnt);
    free(mask);

    /* errors */
    expect_grid_error(100, 100, 24, 0, "tile size 24", "multiple of 16");
    expect_grid_error(100, 100, 0, 0, "tile size 0", "multiple of 16");
    expect_grid_error(100, 100, 32, 8, "overlap 8", "multiple of 16");
    expect_grid_error(100, 100, 32, -16, "overlap -16", "multiple of 16");
    expect_grid_error(100, 100, 32, 32, "overlap 32", "smaller than the tile size 32");
    expect_grid_error(20, 100, 32, 16, "20 x 100", "without tiling");
    expect_grid_error(100, 31, 32, 16, "smaller than a tile of 32 x 32", NULL);
}

/* ---- against the model ----------------------------------------------------------------------- */

#define W 60
#define H 44
#define NT 6

static const int OX[3] = {0, 16, 28}, OY[2] = {0, 12};

/* Tiles cut out here and scored one by one, stitched by a plain loop. */
typedef struct {
    float map[W * H];
    uint8_t mask[W * H];
    float score;
    sn_tile_score t[NT];
} reference;

static void make_reference(sn_inspector *in, const uint8_t *rgb, reference *ref)
{
    static float sum[W * H], tmap[NT][S * S];
    static int cnt[W * H];
    uint8_t crop[S * S * 3], tmask[S * S];
    memset(sum, 0, sizeof sum);
    memset(cnt, 0, sizeof cnt);
    memset(ref->mask, 0, sizeof ref->mask);
    for (int k = 0; k < NT; k++) {
        const int x0 = OX[k % 3], y0 = OY[k / 3];
        for (int y = 0; y < S; y++)
            memcpy(crop + y * S * 3, rgb + ((y0 + y) * W + x0) * 3, S * 3);
        sn_inspect_image im = {crop, S, S, 0, SN_PIX_RGB};
        sn_inspect_result r = {0};
        r.map = tmap[k];
        r.repair_mask = tmask;
        EXPECT_MSG(sn_inspect_pixels(in, &im, &r) == SN_OK, "tile %d alone: %s", k, sn_err_msg());
        ref->t[k] = (sn_tile_score){x0, y0, r.score, r.neighbor, r.neighbor_distance, r.repaired_pixels};
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                sum[(y0 + y) * W + x0 + x] += tmap[k][y * S + x];
                cnt[(y0 + y) * W + x0 + x]++;
                ref->mask[(y0 + y) * W + x0 + x] |= tmask[y * S + x];
            }
    }
    ref->score = -INFINITY;
    for (int p = 0; p < W * H; p++) {
        ref->map[p] = sum[p] / (float)cnt[p];
        ref->score = fmaxf(ref->score, ref->map[p]);
    }
}

static void compare(const char *what, const sn_tile_result *r, const reference *ref)
{
    int64_t rep = 0;
    for (int p = 0; p < W * H; p++)
        rep += ref->mask[p];
    int top = 0;
    for (int k = 1; k < NT; k++)
        if (ref->t[k].score > ref->t[top].score)
            top = k;
    EXPECT_MSG(r->tiles == NT && r->nx == 3 && r->ny == 2 && r->tile == S && r->overlap == 16 &&
               r->width == W && r->height == H, "%s: %d tiles (%d x %d) of %d overlap %d, image %d x %d",
               what, r->tiles, r->nx, r->ny, r->tile, r->overlap, r->width, r->height);
    EXPECT_MSG(memcmp(r->map, ref->map, sizeof ref->map) == 0, "%s: stitched map differs from the "
               "tiles scored one by one and averaged", what);
    EXPECT_MSG(memcmp(&r->score, &ref->score, sizeof r->score) == 0, "%s: score %.9g, the tiles "
               "stitched give %.9g", what, (double)r->score, (double)ref->score);
    EXPECT_MSG(r->map[r->max_y * W + r->max_x] == r->score, "%s: the maximum is not at (%d, %d)",
               what, r->max_x, r->max_y);
    EXPECT_MSG(memcmp(r->repair_mask, ref->mask, sizeof ref->mask) == 0 && r->repaired_pixels == rep,
               "%s: repair mask / repaired pixels %lld differ from the union of the tiles' (%lld)",
               what, (long long)r->repaired_pixels, (long long)rep);
    EXPECT_MSG(r->neighbor == ref->t[top].neighbor && r->neighbor_distance == ref->t[top].neighbor_distance,
               "%s: neighbour %lld (distance %d), the top tile %d has %lld (%d)", what,
               (long long)r->neighbor, r->neighbor_distance, top, (long long)ref->t[top].neighbor,
               ref->t[top].neighbor_distance);
    int diff = 0;
    for (int k = 0; k < NT; k++)
        diff += (r->per_tile[k].x != ref->t[k].x || r->per_tile[k].y != ref->t[k].y ||
                 memcmp(&r->per_tile[k].score, &ref->t[k].score, sizeof(float)) != 0 ||
                 r->per_tile[k].neighbor != ref->t[k].neighbor ||
                 r->per_tile[k].neighbor_distance != ref->t[k].neighbor_distance ||
                 r->per_tile[k].repaired_pixels != ref->t[k].repaired_pixels);
    EXPECT_MSG(diff == 0, "%s: %d per-tile results differ from the tiles scored alone", what, diff);
}

static void check_model(void)
{
    const char *bin = getenv("SERNET_BIN");
    if (!bin) {
        printf("skipped the model part: SERNET_BIN not set (run through ctest)\n");
        return;
    }
    char dir[64] = "/tmp/sn_tile_XXXXXX", data[128], model[128], png[128], rgbpath[128];
    if (!mkdtemp(dir)) {
        EXPECT_MSG(0, "cannot create a temporary folder");
        return;
    }
    snprintf(data, sizeof data, "%s/syn.h5", dir);
    snprintf(model, sizeof model, "%s/m.h5", dir);
    snprintf(rgbpath, sizeof rgbpath, "%s/test.bin", dir);
    snprintf(png, sizeof png, "%s/big.png", dir);
    if (run("\"%s\" synth --out %s --size 32 --set seed=3 >/dev/null", bin, data) ||
        run("\"%s\" train --data %s --category weave --quiet --set image_size=32 --set seg_width=4 "
            "--set rec_width=4 --set large_area=0.08 --set small_area=0.04 --set epochs_seg=1 "
            "--set epochs_rec=1 --set calib_samples=16 --set seed=3 --set threads=1 --stage all "
            "--out %s >/dev/null 2>&1", bin, data, model) ||
        run("h5dump -d /weave/test/images -b LE -o %s %s >/dev/null", rgbpath, data)) {
        EXPECT_MSG(0, "could not make the model in %s", dir);
        return;
    }
    /* the large image: a mosaic of 16 x 16 pieces of test images (defects among them) */
    static uint8_t rgb[W * H * 3], bgra[H][W * 4 + 12];
    FILE *f = fopen(rgbpath, "rb");
    static uint8_t test[60][S * S * 3];
    size_t got = f ? fread(test, S * S * 3, 60, f) : 0;
    if (f)
        fclose(f);
    EXPECT_MSG(got == 60, "read %zu test images from %s", got, rgbpath);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const int piece = (y / 16) * 4 + x / 16, img = (piece * 7 + 3) % 60;
            for (int c = 0; c < 3; c++)
                rgb[(y * W + x) * 3 + c] = test[img][((y % 16 + 8) * S + x % 16 + 8) * 3 + c];
            bgra[y][x * 4 + 0] = rgb[(y * W + x) * 3 + 2];
            bgra[y][x * 4 + 1] = rgb[(y * W + x) * 3 + 1];
            bgra[y][x * 4 + 2] = rgb[(y * W + x) * 3 + 0];
            bgra[y][x * 4 + 3] = (uint8_t)(x * 4 + y);
        }

    sn_inspect_options o;
    sn_inspect_options_init(&o);
    o.max_workers = 4;
    sn_inspector *in = NULL;
    EXPECT(sn_inspector_open(model, data, &o, &in) == SN_OK);
    if (!in) {
        fprintf(stderr, "%s\n", sn_err_msg());
        return;
    }
    static reference ref;
    make_reference(in, rgb, &ref);
    int64_t nbrs = 0;
    for (int k = 1; k < NT; k++)
        nbrs += ref.t[k].neighbor != ref.t[0].neighbor;
    EXPECT_MSG(nbrs > 0, "the tiles found different training images (%lld differ from tile 0's)",
               (long long)nbrs);

    static float map[W * H];
    static uint8_t mask[W * H];
    sn_tile_score per[NT];
    sn_tile_result r = {0};
    r.map = map;
    r.repair_mask = mask;
    r.map_cap = W * H;
    r.per_tile = per;
    r.per_tile_cap = NT;
    sn_inspect_image im = {rgb, W, H, 0, SN_PIX_RGB};
    EXPECT_MSG(sn_inspect_tiled(in, &im, 16, &r) == SN_OK, "tiled: %s", sn_err_msg());
    compare("RGB image", &r, &ref);

    /* 3 tiles at once (threads, inspector workers): the same results */
    memset(map, 0, sizeof map);
    r.jobs = 3;
    EXPECT_MSG(sn_inspect_tiled(in, &im, 16, &r) == SN_OK, "tiled, 3 jobs: %s", sn_err_msg());
    compare("RGB image, 3 tiles at once", &r, &ref);
    /* (how many workers served them depends on timing: a fast tile frees its worker for the next) */
    r.jobs = 0;

    /* the same pixels as BGRA with a padded stride */
    memset(map, 0, sizeof map);
    sn_inspect_image ib = {&bgra[0][0], W, H, sizeof bgra[0], SN_PIX_BGRA};
    EXPECT_MSG(sn_inspect_tiled(in, &ib, 16, &r) == SN_OK, "tiled BGRA: %s", sn_err_msg());
    compare("BGRA image, padded rows", &r, &ref);

    /* from a PNG file */
    sn_image pi = {W, H, 3, rgb};
    EXPECT(sn_image_write_png(png, &pi) == SN_OK);
    memset(map, 0, sizeof map);
    EXPECT_MSG(sn_inspect_tiled_file(in, png, 16, &r) == SN_OK, "tiled file: %s", sn_err_msg());
    compare("PNG file", &r, &ref);

    /* the default overlap for S = 32 is 0: origins 0, 28 and 0, 12 */
    sn_tile_result d = {0};
    EXPECT(sn_inspect_tiled(in, &im, SN_TILE_OVERLAP_DEFAULT, &d) == SN_OK);
    EXPECT_MSG(d.tiles == 4 && d.overlap == 0 && isfinite(d.score), "default overlap: %d tiles, "
               "overlap %d", d.tiles, d.overlap);

    /* errors: nothing scored, the message says what was wrong */
    sn_tile_result e = {0};
    EXPECT(sn_inspect_tiled(in, &im, 8, &e) == SN_EINVAL && strstr(sn_err_msg(), "multiple of 16"));
    EXPECT(sn_inspect_tiled(in, &im, 32, &e) == SN_EINVAL && strstr(sn_err_msg(), "smaller than the tile"));
    sn_inspect_image small = {rgb, 31, H, W * 3, SN_PIX_RGB};
    EXPECT(sn_inspect_tiled(in, &small, 16, &e) == SN_EINVAL && strstr(sn_err_msg(), "without tiling"));
    e.map = map;
    e.map_cap = W * H - 1;
    EXPECT(sn_inspect_tiled(in, &im, 16, &e) == SN_EINVAL && e.width == W && e.height == H &&
           e.tiles == NT && strstr(sn_err_msg(), "60 x 44"));
    e = (sn_tile_result){0};
    e.per_tile = per;
    e.per_tile_cap = NT - 1;
    EXPECT(sn_inspect_tiled(in, &im, 16, &e) == SN_EINVAL && strstr(sn_err_msg(), "6 tiles"));
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.png", dir);
    EXPECT(sn_inspect_tiled_file(in, missing, 16, &e) != SN_OK && strstr(sn_err_msg(), missing));
    sn_err_clear();
    sn_inspector_close(in);
    run("rm -rf %s", dir);
}

int main(void)
{
    check_grid();
    check_model();
    return sn_test_finish();
}
