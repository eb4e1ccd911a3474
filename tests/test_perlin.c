/* Perlin noise (METHOD.md §3.1): optimised vs reference, the formula at cell centres, range,
 * lattice resolution, rotation, and the mask threshold. */
#include "sernet/pseudo.h"
#include "sn_test.h"

#include <stdlib.h>
#include <string.h>

static double fade(double t)
{
    return 6 * pow(t, 5) - 15 * pow(t, 4) + 10 * pow(t, 3);
}

static void ref_vs_fast(void)
{
    const int shapes[][4] = {{64, 64, 1, 1}, {64, 64, 4, 8}, {64, 64, 32, 32}, {37, 50, 3, 5},
                             {20, 30, 64, 16}, {128, 96, 2, 16}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int h = shapes[k][0], w = shapes[k][1], ry = shapes[k][2], rx = shapes[k][3];
        float *a = malloc(sizeof(float) * h * w), *b = malloc(sizeof(float) * h * w);
        sn_rng r1, r2;
        sn_rng_init(&r1, 42, 0, 0, k);
        sn_rng_init(&r2, 42, 0, 0, k);
        EXPECT(sn_perlin_noise(&r1, h, w, ry, rx, a) == SN_OK);
        EXPECT(sn_perlin_noise_ref(&r2, h, w, ry, rx, b) == SN_OK);
        char what[64];
        snprintf(what, sizeof what, "fast vs reference %dx%d lattice %dx%d", h, w, ry, rx);
        EXPECT_ALLCLOSE(a, b, (size_t)h * w, 0, 2e-6, what);
        EXPECT(sn_rng_position(&r1) == sn_rng_position(&r2));
        free(a);
        free(b);
    }
    sn_rng r;
    sn_rng_init(&r, 0, 0, 0, 0);
    float x;
    EXPECT(sn_perlin_noise(&r, 1, 1, 0, 1, &x) == SN_EINVAL);
    sn_err_clear();
}

/* At a cell centre the fade is 1/2 in both directions, so noise = sqrt(2)/4 * (sum of the four
 * corner dot products); recompute it from the gradients drawn by a replayed stream. At lattice
 * points the noise is exactly 0: this pins the lattice resolution. */
static void formula_and_lattice(void)
{
    const int s = 64;
    const int res[][2] = {{1, 1}, {2, 8}, {4, 4}, {16, 2}, {32, 32}};
    float *n = malloc(sizeof(float) * s * s);
    for (size_t k = 0; k < sizeof res / sizeof res[0]; k++) {
        int ry = res[k][0], rx = res[k][1];
        sn_rng r;
        sn_rng_init(&r, 9, 3, 1, k);
        EXPECT(sn_perlin_noise(&r, s, s, ry, rx, n) == SN_OK);
        sn_rng_init(&r, 9, 3, 1, k);
        double *gy = malloc(sizeof(double) * (ry + 1) * (rx + 1)), *gx = malloc(sizeof(double) * (ry + 1) * (rx + 1));
        for (int i = 0; i < (ry + 1) * (rx + 1); i++) {
            double a = 2 * 3.14159265358979323846 * sn_rng_uniform(&r);
            gy[i] = cos(a);
            gx[i] = sin(a);
        }
        int cy = s / ry, cx = s / rx;
        double worst_node = 0, worst_centre = 0, biggest_centre = 0;
        for (int i = 0; i < ry; i++) {
            for (int j = 0; j < rx; j++) {
                worst_node = fmax(worst_node, fabs(n[(i * cy) * s + j * cx]));
                if (cy % 2 || cx % 2)
                    continue;
                int g00 = i * (rx + 1) + j, g01 = g00 + 1, g10 = g00 + rx + 1, g11 = g10 + 1;
                double d = gy[g00] * 0.5 + gx[g00] * 0.5 + gy[g01] * 0.5 + gx[g01] * -0.5 +
                           gy[g10] * -0.5 + gx[g10] * 0.5 + gy[g11] * -0.5 + gx[g11] * -0.5;
                double want = sqrt(2.0) * d / 4; /* lerp with t = fade(1/2) = 1/2 is the mean */
                double got = n[(i * cy + cy / 2) * s + j * cx + cx / 2];
                worst_centre = fmax(worst_centre, fabs(got - want));
                biggest_centre = fmax(biggest_centre, fabs(got));
            }
        }
        EXPECT_NEAR(fade(0.5), 0.5, 1e-15);
        EXPECT_MSG(worst_node == 0.0, "lattice %dx%d: |noise| at lattice points %.3g, want 0", ry, rx, worst_node);
        EXPECT_MSG(worst_centre < 1e-5, "lattice %dx%d: cell-centre error %.3g", ry, rx, worst_centre);
        if (cy % 2 == 0 && cx % 2 == 0)
            EXPECT_MSG(biggest_centre > 1e-3, "lattice %dx%d: noise not identically 0", ry, rx);
        free(gy);
        free(gx);
    }
    free(n);
}

static void range(void)
{
    const int s = 64;
    float *n = malloc(sizeof(float) * s * s);
    double lo = 0, hi = 0;
    for (int k = 0; k < 300; k++) {
        sn_rng r;
        sn_rng_init(&r, 77, 0, 0, (uint64_t)k);
        int ry = 1 << (k % 6), rx = 1 << ((k / 6) % 6);
        EXPECT(sn_perlin_noise(&r, s, s, ry, rx, n) == SN_OK);
        for (int i = 0; i < s * s; i++) {
            lo = fmin(lo, n[i]);
            hi = fmax(hi, n[i]);
        }
    }
    EXPECT_MSG(lo >= -1.0 - 1e-6 && hi <= 1.0 + 1e-6, "Perlin range [%.4f, %.4f] within [-1, 1]", lo, hi);
    EXPECT_MSG(lo < -0.6 && hi > 0.6, "Perlin range [%.4f, %.4f] reaches beyond +-0.6", lo, hi);
    free(n);
}

static void rotation(void)
{
    const int s = 16;
    float in[16 * 16], out[16 * 16], want[16 * 16];
    for (int i = 0; i < s * s; i++)
        in[i] = (float)((i * 37) % 101) / 100.0f;
    sn_pseudo_rotate(in, s, s, 0.0, out);
    EXPECT_ALLCLOSE(out, in, (size_t)(s * s), 0, 1e-6, "rotation by 0 is the identity");
    /* +90 degrees, counter-clockwise as displayed: out(y, x) = in(x, S-1-y). */
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++)
            want[y * s + x] = in[x * s + (s - 1 - y)];
    sn_pseudo_rotate(in, s, s, 90.0, out);
    EXPECT_ALLCLOSE(out, want, (size_t)(s * s), 0, 1e-5, "rotation by 90 degrees");
    /* 45 degrees of a constant image: the corners fall outside and are filled with 0, the
     * centre keeps the constant. */
    for (int i = 0; i < s * s; i++)
        in[i] = 1.0f;
    sn_pseudo_rotate(in, s, s, 45.0, out);
    EXPECT(out[0] == 0.0f && out[s - 1] == 0.0f && out[(s - 1) * s] == 0.0f);
    EXPECT_NEAR(out[(s / 2) * s + s / 2], 1.0, 1e-6);
    /* Bilinear: rotating a linear ramp by 180 degrees about the centre mirrors it exactly. */
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++)
            in[y * s + x] = (float)(0.03 * x + 0.01 * y);
    sn_pseudo_rotate(in, s, s, 180.0, out);
    for (int i = 0; i < s * s; i++)
        want[i] = in[s * s - 1 - i];
    EXPECT_ALLCLOSE(out, want, (size_t)(s * s), 0, 1e-5, "rotation by 180 degrees");
}

static void rotation_fast_vs_ref(void)
{
    const int dims[][2] = {{64, 64}, {37, 50}, {5, 9}};
    const double angles[] = {-90, -63.3, -1e-9, 0, 12.5, 45, 89.99};
    for (size_t d = 0; d < 3; d++) {
        int h = dims[d][0], w = dims[d][1];
        float *in = malloc(sizeof(float) * h * w), *a = malloc(sizeof(float) * h * w);
        float *b = malloc(sizeof(float) * h * w);
        sn_rng r;
        sn_rng_init(&r, 3, 0, 0, d);
        for (int i = 0; i < h * w; i++)
            in[i] = (float)sn_rng_range(&r, -1, 1);
        for (size_t k = 0; k < sizeof angles / sizeof angles[0]; k++) {
            sn_pseudo_rotate(in, h, w, angles[k], a);
            sn_pseudo_rotate_ref(in, h, w, angles[k], b);
            char what[64];
            snprintf(what, sizeof what, "rotate fast vs ref %dx%d by %g", h, w, angles[k]);
            EXPECT_ALLCLOSE(a, b, (size_t)h * w, 0, 1e-5, what);
        }
        free(in);
        free(a);
        free(b);
    }
}

/* The mask is the rotated noise above the threshold: replay the draws. */
static void mask(void)
{
    sn_pseudo_params p = {64, 0.5, 0.02, 0.025, 0.8, 5, 0.5, 16, 1.0};
    const int s = p.size;
    float *noise = malloc(sizeof(float) * s * s), *tmp = malloc(sizeof(float) * s * s);
    float *n2 = malloc(sizeof(float) * s * s), *rot = malloc(sizeof(float) * s * s);
    uint8_t *m = malloc((size_t)s * s);
    int kseen[6] = {0};
    int ok = 1;
    for (int k = 0; k < 200; k++) {
        sn_rng r, q;
        sn_rng_init(&r, 5, 1, 0, (uint64_t)k);
        int ry, rx;
        double deg;
        EXPECT(sn_perlin_mask(&r, &p, noise, tmp, m, &ry, &rx, &deg) == SN_OK);
        ok &= deg >= -90 && deg < 90;
        for (int e = 0; e < 6; e++)
            kseen[e] += (ry == (1 << e)) + (rx == (1 << e));
        sn_rng_init(&q, 5, 1, 0, (uint64_t)k);
        int ky = (int)sn_rng_int(&q, 0, 5), kx = (int)sn_rng_int(&q, 0, 5);
        ok &= ry == 1 << ky && rx == 1 << kx;
        EXPECT(sn_perlin_noise_ref(&q, s, s, ry, rx, n2) == SN_OK);
        double d = sn_rng_range(&q, -90, 90);
        ok &= d == deg;
        sn_pseudo_rotate(n2, s, s, d, rot);
        int bad = 0;
        for (int i = 0; i < s * s; i++)
            if (fabs(rot[i] - 0.5) > 1e-5)
                bad += m[i] != (rot[i] > 0.5f);
        ok &= bad == 0;
    }
    EXPECT_MSG(ok, "mask = rotate(noise) > 0.5 with replayed draws; angle in [-90, 90)");
    for (int e = 0; e < 6; e++)
        EXPECT_MSG(kseen[e] > 30, "lattice 2^%d drawn %d times in 400", e, kseen[e]);
    free(noise);
    free(tmp);
    free(n2);
    free(rot);
    free(m);
}

int main(void)
{
    ref_vs_fast();
    formula_and_lattice();
    range();
    rotation();
    rotation_fast_vs_ref();
    mask();
    return sn_test_finish();
}
