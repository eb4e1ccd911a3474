/* Rigid registration of the similar training image (see sernet/register.h for why). */
#include "sernet/register.h"

#include "sernet/components.h"
#include "sernet/pseudo.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COARSE_MAX 32       /* the coarsest level is at most this wide */
#define COARSE_STEP 6.0     /* degrees between coarse angles (60 of them) */
#define CANDIDATES 3        /* coarse angles refined at the finer levels */
#define MIN_OVERLAP 0.5     /* a candidate must overlap this fraction of the image */
#define MAX_LEVELS 16
#define FINE_MAX 128        /* above this side only the shift is refined */
/* coarse scales: parts photographed from another distance (MPDD plates differ by about 20 %) */
static const double SCALES[] = {0.8, 0.9, 1.0, 1.1, 1.25};
#define N_SCALES ((int)(sizeof SCALES / sizeof SCALES[0]))

typedef struct {
    int g;          /* side */
    float *ref;     /* grey, mean removed */
    float *mov;
} level;

typedef struct {
    double deg, scale;
    int ty, tx;     /* in pixels of the level being searched */
    double cost;
} cand;

/* Grey = mean of the three planes, minus its mean (a global brightness change costs nothing). */
static void grey(const float *img, int s, float *out)
{
    size_t plane = (size_t)s * s;
    double sum = 0;
    for (size_t i = 0; i < plane; i++) {
        out[i] = (img[i] + img[plane + i] + img[2 * plane + i]) * (1.0f / 3.0f);
        sum += out[i];
    }
    float mean = (float)(sum / (double)plane);
    for (size_t i = 0; i < plane; i++)
        out[i] -= mean;
}

static void halve(const float *in, int g, float *out)
{
    int h = g / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < h; x++) {
            const float *p = in + (size_t)(2 * y) * g + 2 * x;
            out[(size_t)y * h + x] = 0.25f * (p[0] + p[1] + p[g] + p[g + 1]);
        }
}

/* rot[q] = mov at c + R(deg)(q - c) / scale, bilinear; NAN where the source leaves the image. */
static void rotate(const float *mov, int g, double deg, double scale, float *rot)
{
    double th = deg * SN_PI / 180.0, co = cos(th) / scale, si = sin(th) / scale, c = 0.5 * (g - 1);
    for (int y = 0; y < g; y++)
        for (int x = 0; x < g; x++) {
            double sx = c + co * (x - c) - si * (y - c), sy = c + si * (x - c) + co * (y - c);
            float v = NAN;
            if (sx >= 0 && sy >= 0 && sx <= g - 1 && sy <= g - 1) {
                int x0 = (int)sx, y0 = (int)sy;
                int x1 = x0 + 1 < g ? x0 + 1 : g - 1, y1 = y0 + 1 < g ? y0 + 1 : g - 1;
                float wx = (float)(sx - x0), wy = (float)(sy - y0);
                const float *r0 = mov + (size_t)y0 * g, *r1 = mov + (size_t)y1 * g;
                float t = r0[x0] + wx * (r0[x1] - r0[x0]), b = r1[x0] + wx * (r1[x1] - r1[x0]);
                v = t + wy * (b - t);
            }
            rot[(size_t)y * g + x] = v;
        }
}

/* Mean |ref(p) - rot(p - t)| over the pixels where both exist; DBL_MAX under MIN_OVERLAP. */
static double shifted_cost(const float *ref, const float *rot, int g, int ty, int tx)
{
    double sum = 0;
    long count = 0;
    int y0 = ty > 0 ? ty : 0, y1 = ty < 0 ? g + ty : g;
    int x0 = tx > 0 ? tx : 0, x1 = tx < 0 ? g + tx : g;
    for (int y = y0; y < y1; y++) {
        const float *r = ref + (size_t)y * g, *m = rot + (size_t)(y - ty) * g - tx;
        for (int x = x0; x < x1; x++) {
            float v = m[x];
            if (v == v) { /* not NAN: inside the moved image */
                sum += fabsf(r[x] - v);
                count++;
            }
        }
    }
    if ((double)count < MIN_OVERLAP * (double)g * (double)g)
        return DBL_MAX;
    return sum / (double)count;
}

/* The best shift within +-radius of (cy, cx) at angle deg and scale; *best keeps the lower
 * cost. */
static void search_shifts(const level *l, float *rot, double deg, double scale, int cy, int cx,
                          int radius, cand *best)
{
    rotate(l->mov, l->g, deg, scale, rot);
    for (int dy = -radius; dy <= radius; dy++)
        for (int dx = -radius; dx <= radius; dx++) {
            double c = shifted_cost(l->ref, rot, l->g, cy + dy, cx + dx);
            if (c < best->cost)
                *best = (cand){deg, scale, cy + dy, cx + dx, c};
        }
}

sn_status sn_register_rigid(const float *ref, const float *mov, int s, sn_rigid *t)
{
    sn_status status = SN_OK;
    level lv[MAX_LEVELS] = {{0}};
    int nl = 0;
    float *rot = NULL;
    SN_ASSERT(ref && mov && t && s >= 8);
    *t = (sn_rigid){0, 1, 0, 0, 0, 0};
    /* level 0 is full size; each next one is a 2x2 mean, down to COARSE_MAX wide */
    for (int g = s;; g /= 2) {
        size_t plane = (size_t)g * g;
        SN_ALLOC(lv[nl].ref, plane, "registration pyramid");
        SN_ALLOC(lv[nl].mov, plane, "registration pyramid");
        lv[nl].g = g;
        if (nl == 0) {
            grey(ref, s, lv[0].ref);
            grey(mov, s, lv[0].mov);
        } else {
            halve(lv[nl - 1].ref, lv[nl - 1].g, lv[nl].ref);
            halve(lv[nl - 1].mov, lv[nl - 1].g, lv[nl].mov);
        }
        nl++;
        if (g <= COARSE_MAX || g % 2 != 0 || g / 2 < 8 || nl == MAX_LEVELS)
            break;
    }
    SN_ALLOC(rot, (size_t)s * s, "registration scratch");

    /* coarsest level: every angle, translations up to a quarter of the image; keep the best
     * shift per angle, then the CANDIDATES best angles */
    const level *top = &lv[nl - 1];
    int n_angles = (int)lround(360.0 / COARSE_STEP), radius = top->g / 4;
    cand best[CANDIDATES];
    for (int k = 0; k < CANDIDATES; k++)
        best[k] = (cand){0, 1, 0, 0, DBL_MAX};
    for (int a = 0; a < n_angles * N_SCALES; a++) {
        cand c = {0, 1, 0, 0, DBL_MAX};
        search_shifts(top, rot, -180.0 + (a / N_SCALES) * COARSE_STEP, SCALES[a % N_SCALES], 0, 0,
                      radius, &c);
        for (int k = 0; k < CANDIDATES; k++)
            if (c.cost < best[k].cost) {
                memmove(best + k + 1, best + k, sizeof(cand) * (size_t)(CANDIDATES - 1 - k));
                best[k] = c;
                break;
            }
    }

    /* finer levels: angles within +-2 steps and scales within +-1 step (both steps halve per
     * level), shifts within +-2 pixels of the doubled coarser shift; above FINE_MAX, the shift
     * alone */
    cand win = {0, 1, 0, 0, DBL_MAX};
    for (int k = 0; k < CANDIDATES; k++) {
        cand c = best[k];
        if (c.cost == DBL_MAX)
            continue;
        double step = COARSE_STEP, sstep = 0.1;
        for (int li = nl - 2; li >= 0; li--) {
            step *= 0.5;
            sstep *= 0.5;
            cand r = {0, 1, 0, 0, DBL_MAX};
            int na = lv[li].g <= FINE_MAX ? 2 : 0, ns = lv[li].g <= FINE_MAX ? 1 : 0;
            for (int j = -na; j <= na; j++)
                for (int q = -ns; q <= ns; q++)
                    search_shifts(&lv[li], rot, c.deg + j * step, c.scale * (1.0 + q * sstep),
                                  2 * c.ty, 2 * c.tx, 2, &r);
            c = r;
            if (c.cost == DBL_MAX)
                break;
        }
        if (c.cost < win.cost)
            win = c;
    }
    rotate(lv[0].mov, s, 0.0, 1.0, rot);
    t->identity_cost = shifted_cost(lv[0].ref, rot, s, 0, 0);
    if (win.cost < t->identity_cost)
        *t = (sn_rigid){win.deg, win.scale, win.ty, win.tx, win.cost, t->identity_cost};
    else
        t->cost = t->identity_cost;
done:
    for (int i = 0; i < MAX_LEVELS; i++) { /* a level may be half-allocated */
        sn_free(lv[i].ref);
        sn_free(lv[i].mov);
    }
    sn_free(rot);
    return status;
}

void sn_register_warp(const float *mov, int s, const sn_rigid *t, float *out)
{
    sn_pseudo_affine(mov, s, t->degrees, t->scale, t->ty, t->tx, out);
}

#define LOCAL_MARGIN 24 /* context around a repaired region that aligns it */
#define LOCAL_SHIFT 12  /* largest local correction, pixels */

/* The shift t (|t| <= LOCAL_SHIFT) minimising the mean grey |x(p) - moved(p - t)| over the window
 * [y0,y1) x [x0,x1) outside the region (label lab): the region itself is what the repair
 * replaces, so only its surroundings say where it belongs. */
static void local_shift(const float *gx, const float *gm, const int32_t *labels, int32_t lab, int s,
                        int y0, int y1, int x0, int x1, int *bty, int *btx)
{
    double best = DBL_MAX;
    *bty = *btx = 0;
    for (int ty = -LOCAL_SHIFT; ty <= LOCAL_SHIFT; ty++)
        for (int tx = -LOCAL_SHIFT; tx <= LOCAL_SHIFT; tx++) {
            double sum = 0;
            long count = 0;
            for (int y = y0; y < y1; y++) {
                int sy = y - ty;
                if (sy < 0 || sy >= s)
                    continue;
                for (int x = x0; x < x1; x++) {
                    int sx = x - tx;
                    size_t i = (size_t)y * s + x;
                    if (sx < 0 || sx >= s || labels[i] == lab)
                        continue;
                    sum += fabsf(gx[i] - gm[(size_t)sy * s + sx]);
                    count++;
                }
            }
            /* ties keep the smaller shift: the loop order visits it first only for ty, so
             * compare the norm explicitly */
            double c = count ? sum / (double)count : DBL_MAX;
            if (c < best || (c == best && ty * ty + tx * tx < *bty * *bty + *btx * *btx)) {
                best = c;
                *bty = ty;
                *btx = tx;
            }
        }
}

sn_status sn_register_paste(const float *x, const float *moved, const uint8_t *mask, int s, float *ir)
{
    sn_status status = SN_OK;
    const size_t plane = (size_t)s * s;
    int32_t *labels = NULL;
    int *box = NULL;
    float *gx = NULL, *gm = NULL;
    int n = 0;
    SN_ALLOC(labels, plane, "registration labels");
    SN_ALLOC(gx, plane, "registration grey");
    SN_ALLOC(gm, plane, "registration grey");
    SN_TRY(sn_components_label(mask, s, s, labels, &n, NULL));
    for (size_t i = 0; i < plane; i++) {
        gx[i] = (x[i] + x[plane + i] + x[2 * plane + i]) * (1.0f / 3.0f);
        gm[i] = (moved[i] + moved[plane + i] + moved[2 * plane + i]) * (1.0f / 3.0f);
    }
    memcpy(ir, x, 3 * plane * sizeof(float));
    /* bounding boxes of all regions in one pass: box[4 * lab ..] = y0, y1, x0, x1 */
    SN_CALLOC(box, 4 * ((size_t)n + 1), "registration boxes"); /* entry 0: background, unused */
    for (int32_t lab = 1; lab <= n; lab++) {
        box[4 * lab] = box[4 * lab + 2] = s;
        box[4 * lab + 1] = box[4 * lab + 3] = -1;
    }
    for (int y = 0; y < s; y++)
        for (int xx = 0; xx < s; xx++) {
            int *b = box + 4 * labels[(size_t)y * s + xx];
            b[0] = y < b[0] ? y : b[0];
            b[1] = y > b[1] ? y : b[1];
            b[2] = xx < b[2] ? xx : b[2];
            b[3] = xx > b[3] ? xx : b[3];
        }
    for (int32_t lab = 1; lab <= n; lab++) {
        int y0 = box[4 * lab], y1 = box[4 * lab + 1], x0 = box[4 * lab + 2], x1 = box[4 * lab + 3];
        y0 = y0 - LOCAL_MARGIN < 0 ? 0 : y0 - LOCAL_MARGIN;
        x0 = x0 - LOCAL_MARGIN < 0 ? 0 : x0 - LOCAL_MARGIN;
        y1 = y1 + 1 + LOCAL_MARGIN > s ? s : y1 + 1 + LOCAL_MARGIN;
        x1 = x1 + 1 + LOCAL_MARGIN > s ? s : x1 + 1 + LOCAL_MARGIN;
        int ty, tx;
        local_shift(gx, gm, labels, lab, s, y0, y1, x0, x1, &ty, &tx);
        for (int y = y0; y < y1; y++)
            for (int xx = x0; xx < x1; xx++) {
                size_t i = (size_t)y * s + xx;
                if (labels[i] != lab)
                    continue;
                int sy = y - ty, sx = xx - tx;
                sy = sy < 0 ? 0 : (sy >= s ? s - 1 : sy);
                sx = sx < 0 ? 0 : (sx >= s ? s - 1 : sx);
                for (int c = 0; c < 3; c++)
                    ir[c * plane + i] = moved[c * plane + (size_t)sy * s + sx];
            }
    }
done:
    sn_free(labels);
    sn_free(box);
    sn_free(gx);
    sn_free(gm);
    return status;
}
