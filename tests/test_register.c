/* Registration of the similar image for the repair (repair_register = rigid): a moved copy of an
 * image is moved back (angle, scale and pixels within the search's resolution); an image
 * registered to itself is left where it is; the local paste undoes an integer shift exactly inside
 * the region and leaves everything outside it untouched. */
#include "sn_test.h"
#include "sernet/pseudo.h"
#include "sernet/register.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A lopsided part on a plain background: a dark rectangle with a hole, a notch and a stripe, so
 * that no rotation maps it onto itself. */
static void part(float *img, int s)
{
    size_t plane = (size_t)s * s;
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++) {
            float u = (float)x / s, v = (float)y / s, g = 0.8f, b = 0.8f, r = 0.8f;
            int inside = u > 0.25f && u < 0.8f && v > 0.3f && v < 0.7f;
            int hole = (u - 0.4f) * (u - 0.4f) + (v - 0.45f) * (v - 0.45f) < 0.004f;
            int notch = u > 0.7f && v > 0.6f;
            if (inside && !hole && !notch) {
                r = 0.1f;
                g = 0.2f + 0.1f * (float)((x / 3 + y / 5) % 2);
                b = 0.7f;
            }
            if (v > 0.1f && v < 0.3f && u > 0.48f && u < 0.52f)
                r = g = b = 0.5f; /* a hanger above the part */
            img[(size_t)y * s + x] = r;
            img[plane + (size_t)y * s + x] = g;
            img[2 * plane + (size_t)y * s + x] = b;
        }
}

static double mean_abs(const float *a, const float *b, int s, int margin)
{
    double sum = 0;
    long n = 0;
    size_t plane = (size_t)s * s;
    for (int c = 0; c < 3; c++)
        for (int y = margin; y < s - margin; y++)
            for (int x = margin; x < s - margin; x++, n++)
                sum += fabs(a[c * plane + (size_t)y * s + x] - b[c * plane + (size_t)y * s + x]);
    return sum / (double)n;
}

static void test_moved_back(void)
{
    const int s = 128;
    size_t n = 3 * (size_t)s * s;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)),
          *back = malloc(n * sizeof(float));
    part(a, s);
    /* b = a rotated by 37 degrees, magnified 1.1x and shifted: a part hung at another angle */
    sn_pseudo_affine(a, s, 37.0, 1.1, 6.0, -9.0, b);
    sn_rigid t;
    EXPECT(sn_register_rigid(a, b, s, &t) == SN_OK);
    sn_register_warp(b, s, &t, back);
    EXPECT_MSG(fabs(t.degrees + 37.0) < 1.5, "angle %.2f, expected about -37", t.degrees);
    EXPECT_MSG(fabs(t.scale * 1.1 - 1.0) < 0.03, "scale %.3f, expected about 1/1.1", t.scale);
    EXPECT_MSG(t.cost < 0.4 * t.identity_cost, "cost %.4f vs identity %.4f", t.cost, t.identity_cost);
    double before = mean_abs(a, b, s, 8), after = mean_abs(a, back, s, 8);
    EXPECT_MSG(after < 0.3 * before, "moved back: mean |diff| %.4f, before %.4f", after, before);
    /* deterministic */
    sn_rigid t2;
    EXPECT(sn_register_rigid(a, b, s, &t2) == SN_OK);
    EXPECT(memcmp(&t, &t2, sizeof t) == 0);
    /* an image registered to itself stays where it is, and the warp is then the identity */
    EXPECT(sn_register_rigid(a, a, s, &t) == SN_OK);
    EXPECT(t.degrees == 0 && t.scale == 1 && t.ty == 0 && t.tx == 0 && t.cost == 0);
    sn_register_warp(a, s, &t, back);
    EXPECT(mean_abs(a, back, s, 0) < 1e-6);
    free(a);
    free(b);
    free(back);
}

static void test_local_paste(void)
{
    const int s = 64;
    size_t plane = (size_t)s * s, n = 3 * plane;
    float *x = malloc(n * sizeof(float)), *moved = malloc(n * sizeof(float)),
          *ir = malloc(n * sizeof(float));
    uint8_t *mask = calloc(plane, 1);
    part(x, s);
    /* moved = x shifted by (3, -5): moved(p) = x(p - t) with t = (3, -5), edge pixels repeated */
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < s; y++)
            for (int xx = 0; xx < s; xx++) {
                int sy = y - 3, sx = xx + 5;
                sy = sy < 0 ? 0 : sy;
                sx = sx >= s ? s - 1 : sx;
                moved[c * plane + (size_t)y * s + xx] = x[c * plane + (size_t)sy * s + sx];
            }
    for (int y = 24; y < 36; y++)
        for (int xx = 20; xx < 34; xx++)
            mask[(size_t)y * s + xx] = 1;
    EXPECT(sn_register_paste(x, moved, mask, s, ir) == SN_OK);
    /* the region gets moved shifted back, which is x itself; outside it, x */
    EXPECT(memcmp(ir, x, n * sizeof(float)) == 0);
    /* without a local correction the paste would differ: the test is not vacuous */
    EXPECT(mean_abs(x, moved, s, 8) > 0.01);
    /* no region: a copy of x */
    memset(mask, 0, plane);
    EXPECT(sn_register_paste(x, moved, mask, s, ir) == SN_OK);
    EXPECT(memcmp(ir, x, n * sizeof(float)) == 0);
    free(x);
    free(moved);
    free(ir);
    free(mask);
}

int main(void)
{
    test_moved_back();
    test_local_paste();
    return sn_test_finish();
}
