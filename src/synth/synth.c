/* The embedded synthetic inspection set (see src/include/sernet/synth.h and docs/data.md).
 *
 * Two categories:
 *   weave  - a woven fabric texture (two thread systems, over/under), random rotation, phase,
 *            thread colours and lighting gradient.
 *   flange - a round metal flange with four bolt holes and a brass hub on a dark background,
 *            random rotation, position, light direction and brightness.
 * Defects are geometric regions (curves, disks, ellipses, star-shaped blobs, annulus sectors, a
 * displaced part) with their own appearance models; every pixel a defect changes lies inside its
 * mask and every mask pixel is changed, so masks are exact. They are deliberately unlike the
 * training pseudo-anomalies (PPA: Perlin-noise regions filled with reshuffled training content;
 * DPA: unions of axis-aligned rectangles with colour gains): no Perlin noise, no rectangles, no
 * pasted image content. Small types cover under 1 % of the image, large types over 5 %; each draw
 * is repeated with the next sub-stream until its area falls in its class. */
#include "sernet/synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI_F 3.14159265358979f

enum { CAT_WEAVE = 0, CAT_FLANGE = 1, N_CATS = 2 };
enum { D_GOOD = 0, D_SCRATCH, D_PIT, D_SPOT, D_STAIN, D_MISSING, D_FOREIGN, D_MISPLACED };

static const char *const CAT_NAMES[N_CATS] = {"weave", "flange"};
static const int CAT_TYPES[N_CATS][8] = {
    {D_GOOD, D_SCRATCH, D_PIT, D_SPOT, D_STAIN, D_MISSING, D_FOREIGN, -1},
    {D_GOOD, D_SCRATCH, D_PIT, D_SPOT, D_STAIN, D_MISSING, D_FOREIGN, D_MISPLACED}};
static const int CAT_NTYPES[N_CATS] = {7, 8};
static const char *const TYPE_NAMES[] = {"good",  "scratch", "pit",     "spot",
                                         "stain", "missing", "foreign", "misplaced"};
#define N_TRAIN 120
#define N_TEST_GOOD 24
#define N_PER_DEFECT 6

int sn_synth_n_categories(void) { return N_CATS; }

const char *sn_synth_category_name(int cat)
{
    SN_ASSERT(cat >= 0 && cat < N_CATS);
    return CAT_NAMES[cat];
}

int64_t sn_synth_count(int cat, int split)
{
    SN_ASSERT(cat >= 0 && cat < N_CATS);
    return split == 0 ? N_TRAIN : N_TEST_GOOD + (int64_t)(CAT_NTYPES[cat] - 1) * N_PER_DEFECT;
}

int sn_synth_n_defect_types(int cat)
{
    SN_ASSERT(cat >= 0 && cat < N_CATS);
    return CAT_NTYPES[cat];
}

const char *sn_synth_defect_type(int cat, int t)
{
    SN_ASSERT(cat >= 0 && cat < N_CATS && t >= 0 && t < CAT_NTYPES[cat]);
    return TYPE_NAMES[CAT_TYPES[cat][t]];
}

int sn_synth_defect_scale(int cat, int t)
{
    int k = CAT_TYPES[cat][t];
    return k == D_GOOD ? 0 : (k == D_SCRATCH || k == D_PIT || k == D_SPOT) ? 1 : 2;
}

int sn_synth_test_defect(int cat, int64_t i)
{
    SN_ASSERT(i >= 0);
    i %= sn_synth_count(cat, 1);
    return i < N_TEST_GOOD ? 0 : 1 + (int)((i - N_TEST_GOOD) / N_PER_DEFECT);
}

/* ---------------------------------------------------------------- randomness ----------- */

typedef struct {
    uint64_t s;
} rng;

static uint64_t next64(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float unif(rng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)((next64(r) >> 40) * (1.0 / 16777216.0));
}

static rng keyed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    rng r = {seed};
    uint64_t k[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++) {
        r.s ^= k[i] * 0xD6E8FEB86659FD93ull;
        next64(&r);
    }
    return r;
}

/* Value noise on a lattice of `cell` pixels, smooth (cubic fade) interpolation, in [0, 1). */
static float lattice(uint32_t ix, uint32_t iy, uint32_t key)
{
    uint32_t h = ix * 0x8DA6B343u ^ iy * 0xD8163841u ^ key * 0xCB1AB31Fu;
    h ^= h >> 13;
    h *= 0x5BD1E995u;
    h ^= h >> 15;
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

static float vnoise(float x, float y, uint32_t key)
{
    float fx = floorf(x), fy = floorf(y);
    float tx = x - fx, ty = y - fy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    uint32_t ix = (uint32_t)(int32_t)fx, iy = (uint32_t)(int32_t)fy;
    float a = lattice(ix, iy, key), b = lattice(ix + 1, iy, key);
    float c = lattice(ix, iy + 1, key), d = lattice(ix + 1, iy + 1, key);
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty;
}

/* ---------------------------------------------------------------- normal images --------- */

typedef struct {
    int S;
    float *img;     /* [S*S*3] linear RGB in [0, 1] */
    uint8_t *label; /* 0 background/hole, 1 surface, 2 hub */
} canvas;

typedef struct {
    float cx, cy, rot, light, gain, grad;
    float hx, hy; /* hub centre (moved by a misplaced defect) */
    float cut_a0, cut_a1; /* removed sector (missing piece), empty when a0 == a1 */
    uint32_t key;
} flange_pose;

static void render_weave(canvas *cv, rng *r)
{
    const int S = cv->S;
    float rot = unif(r, -0.14f, 0.14f), ca = cosf(rot), sa = sinf(rot);
    float period = (float)S / unif(r, 13.0f, 17.0f);
    float ox = unif(r, 0, period), oy = unif(r, 0, period);
    float warp[3] = {unif(r, 0.70f, 0.80f), unif(r, 0.62f, 0.70f), unif(r, 0.48f, 0.56f)};
    float weft[3] = {unif(r, 0.55f, 0.63f), unif(r, 0.50f, 0.58f), unif(r, 0.42f, 0.50f)};
    float gx = unif(r, -0.12f, 0.12f), gy = unif(r, -0.12f, 0.12f), gain = unif(r, 0.9f, 1.08f);
    uint32_t key = (uint32_t)next64(r);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float u = (x * ca + y * sa + ox) / period, v = (-x * sa + y * ca + oy) / period;
            float fu = u - floorf(u), fv = v - floorf(v);
            int on_top = (((int)floorf(u) + (int)floorf(v)) & 1) == 0;
            float h = on_top ? sinf(PI_F * fu) * (0.85f + 0.15f * sinf(PI_F * fv))
                             : sinf(PI_F * fv) * (0.85f + 0.15f * sinf(PI_F * fu));
            float fibre = 0.92f + 0.08f * vnoise(x * 0.5f, y * 0.5f, key);
            float light = gain * (1 + gx * ((float)x / S - 0.5f) + gy * ((float)y / S - 0.5f));
            const float *col = on_top ? warp : weft;
            float *p = cv->img + 3 * ((size_t)y * S + x);
            for (int k = 0; k < 3; k++)
                p[k] = col[k] * (0.5f + 0.5f * h) * fibre * light;
            cv->label[(size_t)y * S + x] = 1;
        }
}

static void flange_draw(canvas *cv, const flange_pose *fp)
{
    const int S = cv->S;
    const float R = 0.36f * S, rh = 0.11f * S, rbolt = 0.035f * S, rhole = 0.045f * S,
                dhole = 0.24f * S;
    float lx = cosf(fp->light), ly = sinf(fp->light);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float px = x + 0.5f, py = y + 0.5f;
            float dx = px - fp->cx, dy = py - fp->cy, r = sqrtf(dx * dx + dy * dy);
            float *p = cv->img + 3 * ((size_t)y * S + x);
            uint8_t lab = r < R ? 1 : 0;
            for (int k = 0; k < 4 && lab; k++) {
                float a = fp->rot + k * (PI_F / 2);
                float hx = fp->cx + dhole * cosf(a) - px, hy = fp->cy + dhole * sinf(a) - py;
                if (hx * hx + hy * hy < rhole * rhole)
                    lab = 0;
            }
            if (lab && fp->cut_a1 > fp->cut_a0 && r > 0.19f * S) {
                float a = atan2f(dy, dx);
                if (a < fp->cut_a0)
                    a += 2 * PI_F;
                if (a >= fp->cut_a0 && a < fp->cut_a1)
                    lab = 0;
            }
            float hxd = px - fp->hx, hyd = py - fp->hy, rr = sqrtf(hxd * hxd + hyd * hyd);
            if (rr < rh)
                lab = rr < rbolt ? 0 : 2;
            float n = vnoise(x * 0.25f, y * 0.25f, fp->key);
            if (lab == 0) {
                float g = fp->gain * (0.85f + 0.15f * ((float)y / S)) * (0.92f + 0.08f * n);
                p[0] = 0.16f * g;
                p[1] = 0.18f * g;
                p[2] = 0.21f * g;
            } else if (lab == 1) {
                float dir = (dx * lx + dy * ly) / R;
                float brushed = 1 + 0.05f * sinf(r * 0.9f * 256.0f / S * 2.0f);
                float bevel = r > R - 0.025f * S ? 0.75f : 1.0f;
                float g = fp->gain * (0.78f + 0.22f * dir) * brushed * bevel * (0.96f + 0.04f * n);
                p[0] = 0.60f * g;
                p[1] = 0.62f * g;
                p[2] = 0.66f * g;
            } else {
                float dir = (hxd * lx + hyd * ly) / rh;
                float g = fp->gain * (0.72f + 0.38f * dir) * (0.97f + 0.03f * n);
                p[0] = 0.74f * g;
                p[1] = 0.62f * g;
                p[2] = 0.38f * g;
            }
            cv->label[(size_t)y * S + x] = lab;
        }
}

static flange_pose flange_pose_draw(int S, rng *r)
{
    flange_pose fp;
    fp.cx = 0.5f * S + unif(r, -0.04f, 0.04f) * S;
    fp.cy = 0.5f * S + unif(r, -0.04f, 0.04f) * S;
    fp.rot = unif(r, 0, 2 * PI_F);
    fp.light = unif(r, 0, 2 * PI_F);
    fp.gain = unif(r, 0.82f, 1.15f);
    fp.grad = 0;
    fp.hx = fp.cx;
    fp.hy = fp.cy;
    fp.cut_a0 = fp.cut_a1 = 0;
    fp.key = (uint32_t)next64(r);
    return fp;
}

/* ---------------------------------------------------------------- defect regions -------- */

static void stamp_disk(uint8_t *m, int S, float cx, float cy, float rad)
{
    int x0 = (int)floorf(cx - rad), x1 = (int)ceilf(cx + rad);
    int y0 = (int)floorf(cy - rad), y1 = (int)ceilf(cy + rad);
    for (int y = y0 < 0 ? 0 : y0; y <= y1 && y < S; y++)
        for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < S; x++) {
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
            if (dx * dx + dy * dy <= rad * rad)
                m[(size_t)y * S + x] = 1;
        }
}

static void region_scratch(uint8_t *m, int S, rng *r, float cx, float cy)
{
    float len = unif(r, 0.18f, 0.32f) * S, a = unif(r, 0, PI_F), bend = unif(r, -0.25f, 0.25f) * len;
    float w = fmaxf(0.7f, 0.006f * S);
    float x0 = cx - 0.5f * len * cosf(a), y0 = cy - 0.5f * len * sinf(a);
    float x2 = cx + 0.5f * len * cosf(a), y2 = cy + 0.5f * len * sinf(a);
    float x1 = cx - bend * sinf(a), y1 = cy + bend * cosf(a);
    int steps = (int)(len * 3) + 2;
    for (int i = 0; i <= steps; i++) {
        float t = (float)i / steps, u = 1 - t;
        stamp_disk(m, S, u * u * x0 + 2 * u * t * x1 + t * t * x2, u * u * y0 + 2 * u * t * y1 + t * t * y2, w);
    }
}

static void region_ellipse(uint8_t *m, int S, float cx, float cy, float a, float b, float ang)
{
    float c = cosf(ang), s = sinf(ang), big = fmaxf(a, b);
    for (int y = (int)fmaxf(0, cy - big - 1); y < S && y <= cy + big + 1; y++)
        for (int x = (int)fmaxf(0, cx - big - 1); x < S && x <= cx + big + 1; x++) {
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
            float u = (dx * c + dy * s) / a, v = (-dx * s + dy * c) / b;
            if (u * u + v * v <= 1)
                m[(size_t)y * S + x] = 1;
        }
}

/* Star-shaped blob: radius r0 * (1 + a1 sin(k1 t + p1) + a2 sin(k2 t + p2)). */
static void region_blob(uint8_t *m, int S, rng *r, float cx, float cy, float r0)
{
    int k1 = 2 + (int)unif(r, 0, 3), k2 = 5 + (int)unif(r, 0, 3);
    float a1 = unif(r, 0.1f, 0.25f), a2 = unif(r, 0.04f, 0.12f);
    float p1 = unif(r, 0, 2 * PI_F), p2 = unif(r, 0, 2 * PI_F);
    float big = r0 * (1 + a1 + a2);
    for (int y = (int)fmaxf(0, cy - big - 1); y < S && y <= cy + big + 1; y++)
        for (int x = (int)fmaxf(0, cx - big - 1); x < S && x <= cx + big + 1; x++) {
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy, t = atan2f(dy, dx);
            float rad = r0 * (1 + a1 * sinf(k1 * t + p1) + a2 * sinf(k2 * t + p2));
            if (dx * dx + dy * dy <= rad * rad)
                m[(size_t)y * S + x] = 1;
        }
}

/* ---------------------------------------------------------------- one item -------------- */

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

static void quantize(const float *img, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(clamp01(img[i]) * 255.0f + 0.5f);
}

/* Apply defect `kind` on cv (normal image already drawn); writes the exact mask.
 * For the flange, fp is its pose (missing/misplaced redraw the scene). */
static void apply_defect(canvas *cv, int kind, int cat, flange_pose *fp, rng *r, uint8_t *mask,
                         uint8_t *tmp)
{
    const int S = cv->S;
    const size_t n = (size_t)S * S;
    memset(mask, 0, n);
    /* a place on the surface: anywhere for the texture, on the plate for the flange */
    float cx, cy;
    if (cat == CAT_WEAVE) {
        cx = unif(r, 0.25f, 0.75f) * S;
        cy = unif(r, 0.25f, 0.75f) * S;
    } else {
        float a = unif(r, 0, 2 * PI_F), d = unif(r, 0.0f, 0.16f) * S;
        cx = fp->cx + d * cosf(a);
        cy = fp->cy + d * sinf(a);
    }
    switch (kind) {
    case D_SCRATCH:
    case D_PIT:
    case D_SPOT:
    case D_STAIN:
    case D_FOREIGN: {
        memset(tmp, 0, n);
        if (kind == D_SCRATCH)
            region_scratch(tmp, S, r, cx, cy);
        else if (kind == D_PIT)
            stamp_disk(tmp, S, cx, cy, fmaxf(1.2f, unif(r, 0.01f, 0.018f) * S));
        else if (kind == D_SPOT)
            region_ellipse(tmp, S, cx, cy, fmaxf(1.5f, unif(r, 0.02f, 0.04f) * S),
                           fmaxf(1.2f, unif(r, 0.015f, 0.03f) * S), unif(r, 0, PI_F));
        else
            region_blob(tmp, S, r, cx, cy, sqrtf(unif(r, 0.075f, 0.12f) / PI_F) * S);
        /* appearance; stains and dirt lie on the object's surface only, foreign matter anywhere */
        float dark = unif(r, 0.35f, 0.55f), bright = unif(r, 1.35f, 1.6f);
        int light_scratch = unif(r, 0, 1) < 0.5f;
        float tint[3], alpha = unif(r, 0.45f, 0.65f);
        if (kind == D_SPOT) {
            tint[0] = unif(r, 0.45f, 0.6f), tint[1] = unif(r, 0.22f, 0.3f), tint[2] = unif(r, 0.05f, 0.12f);
        } else {
            tint[0] = unif(r, 0.2f, 0.35f), tint[1] = unif(r, 0.15f, 0.25f), tint[2] = unif(r, 0.02f, 0.08f);
        }
        float fcol[3] = {unif(r, 0.1f, 0.3f), unif(r, 0.55f, 0.8f), unif(r, 0.2f, 0.45f)};
        float fang = unif(r, 0, PI_F), ffreq = unif(r, 0.5f, 0.9f) * 64.0f / S * 4.0f;
        uint32_t key = (uint32_t)next64(r);
        for (size_t i = 0; i < n; i++) {
            if (!tmp[i] || (kind != D_FOREIGN && cv->label[i] == 0))
                continue;
            float *p = cv->img + 3 * i;
            int x = (int)(i % S), y = (int)(i / S);
            for (int k = 0; k < 3; k++) {
                if (kind == D_SCRATCH)
                    p[k] = light_scratch ? fminf(1.0f, p[k] * bright + 0.08f) : p[k] * dark;
                else if (kind == D_PIT)
                    p[k] = p[k] * 0.22f + 0.02f;
                else if (kind == D_SPOT || kind == D_STAIN)
                    p[k] = (1 - alpha) * p[k] + alpha * tint[k];
                else {
                    float s = 0.6f + 0.4f * sinf(ffreq * (x * cosf(fang) + y * sinf(fang)) +
                                                 3.0f * vnoise(x * 0.15f, y * 0.15f, key));
                    p[k] = fcol[k] * s;
                }
            }
            mask[i] = 1;
        }
        break;
    }
    case D_MISSING:
        if (cat == CAT_WEAVE) {
            memset(tmp, 0, n);
            region_blob(tmp, S, r, cx, cy, sqrtf(unif(r, 0.07f, 0.11f) / PI_F) * S);
            uint32_t key = (uint32_t)next64(r);
            for (size_t i = 0; i < n; i++)
                if (tmp[i]) {
                    float g = 0.06f + 0.05f * vnoise((float)(i % S) * 0.3f, (float)(i / S) * 0.3f, key);
                    cv->img[3 * i] = g;
                    cv->img[3 * i + 1] = g * 0.95f;
                    cv->img[3 * i + 2] = g * 0.9f;
                    mask[i] = 1;
                }
        } else {
            memcpy(tmp, cv->label, n); /* the intact scene's labels */
            float a0 = unif(r, -PI_F, PI_F);
            fp->cut_a0 = a0;
            fp->cut_a1 = a0 + unif(r, 1.6f, 2.1f);
            flange_draw(cv, fp);
            for (size_t i = 0; i < n; i++)
                mask[i] = tmp[i] != cv->label[i];
        }
        break;
    case D_MISPLACED: {
        memcpy(tmp, cv->label, n);
        float a = unif(r, 0, 2 * PI_F), d = unif(r, 0.12f, 0.16f) * S;
        float ox = fp->hx, oy = fp->hy;
        fp->hx += d * cosf(a);
        fp->hy += d * sinf(a);
        flange_draw(cv, fp);
        /* the hub's old and new footprints */
        stamp_disk(mask, S, ox, oy, 0.11f * S);
        stamp_disk(mask, S, fp->hx, fp->hy, 0.11f * S);
        for (size_t i = 0; i < n; i++)
            mask[i] = mask[i] && (tmp[i] != 0 || cv->label[i] != 0);
        break;
    }
    default:
        break;
    }
}

sn_status sn_synth_render(int cat, int split, int64_t i, int S, uint64_t seed, uint8_t *rgb,
                          uint8_t *mask)
{
    return sn_synth_render_pair(cat, split, i, S, seed, rgb, mask, NULL);
}

sn_status sn_synth_render_pair(int cat, int split, int64_t i, int S, uint64_t seed, uint8_t *rgb,
                               uint8_t *mask, uint8_t *clean)
{
    sn_status status = SN_OK;
    canvas cv = {S, NULL, NULL};
    uint8_t *tmp = NULL, *m = NULL;
    /* test items past one copy of the layout are further copies (sn_synth_test_defect) */
    if (cat < 0 || cat >= N_CATS || split < 0 || split > 1 || i < 0 ||
        i >= sn_synth_count(cat, split) * (split ? SN_SYNTH_MAX_TEST_COPIES : 1))
        SN_FAIL(SN_EINVAL, "synth: no item %lld of split %d of category %d", (long long)i, split, cat);
    if (S < 32 || S > 4096)
        SN_FAIL(SN_EINVAL, "synth: image size %d outside [32, 4096]", S);
    const size_t n = (size_t)S * S;
    SN_ALLOC(cv.img, 3 * n, "synth canvas");
    SN_ALLOC(cv.label, n, "synth labels");
    SN_ALLOC(tmp, n, "synth region");
    SN_ALLOC(m, n, "synth mask");
    int t = split == 1 ? sn_synth_test_defect(cat, i) : 0;
    int kind = CAT_TYPES[cat][t], scale = sn_synth_defect_scale(cat, t);
    for (uint64_t attempt = 0;; attempt++) {
        rng r = keyed(seed, (uint64_t)cat + 1, (uint64_t)split + 1, (uint64_t)i + 1, attempt);
        flange_pose fp;
        if (cat == CAT_WEAVE) {
            render_weave(&cv, &r);
        } else {
            fp = flange_pose_draw(S, &r);
            flange_draw(&cv, &fp);
        }
        memset(m, 0, n);
        if (clean)
            quantize(cv.img, 3 * n, clean);
        if (kind == D_GOOD)
            break;
        apply_defect(&cv, kind, cat, &fp, &r, m, tmp);
        size_t area = 0;
        for (size_t k = 0; k < n; k++)
            area += m[k];
        double frac = (double)area / (double)n;
        int ok = scale == 1 ? (frac < 0.01 && area >= 4) : frac > 0.05;
        if (ok)
            break;
        if (attempt > 200)
            SN_FAIL(SN_EINVAL, "synth: cannot place a %s defect of the right size at %dx%d",
                    TYPE_NAMES[kind], S, S);
    }
    quantize(cv.img, 3 * n, rgb);
    if (mask)
        memcpy(mask, m, n);
done:
    sn_free(cv.img);
    sn_free(cv.label);
    sn_free(tmp);
    sn_free(m);
    return status;
}
