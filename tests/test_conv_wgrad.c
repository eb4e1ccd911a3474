/* The direct weight-gradient kernel (src/nn/conv_wgrad.c) and the GEMM path's (conv_wgrad_gemm)
 * against the plain reference conv_backward_ref, and finite differences: odd widths (not a multiple of 16, one pixel, one
 * lane past a vector), channel counts that fill no register block, one and two sources, batch 1
 * and more, bands of rows and groups of whole images, 1 and 2 threads; and conv_backward taking
 * it (same bits) unless SERNET_CONV_ALGO / SERNET_CONV_WGRAD ask for the GEMM path; the
 * Winograd weight gradient (conv_wgrad_winograd, where H is even, W % 32 == 0, Cin % 8 == 0,
 * Cout % 16 == 0) against the same reference, and conv_backward taking it there. */
#include "sn_test.h"
#include "sernet/nn.h"
#include "sernet/threads.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* test set-up that must not fail (allocations) */
#define NEED(cond)                                                                                   \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            fprintf(stderr, "%s:%d: set-up failed: %s\n", __FILE__, __LINE__, #cond);                \
            exit(1);                                                                                 \
        }                                                                                            \
    } while (0)

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static float frand(void) { return sn_test_frand(&rs); }
static void fill(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
}
static sn_tensor rt(int n, int c, int h, int w)
{
    sn_tensor t;
    NEED(sn_tensor_alloc(&t, n, c, h, w, "test") == SN_OK);
    fill(t.data, sn_tensor_numel(&t));
    return t;
}

typedef sn_status (*wgrad_fn)(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *dy,
                              float *dw, float *db);

static int gemm_forced(void)
{
    const char *a = getenv("SERNET_CONV_ALGO"), *g = getenv("SERNET_CONV_WGRAD");
    return (a && strcmp(a, "gemm") == 0) || (g && strcmp(g, "gemm") == 0);
}

/* conv_backward keeps to the direct kernel where the Winograd one would apply */
static int winograd_off(void)
{
    const char *a = getenv("SERNET_CONV_ALGO"), *g = getenv("SERNET_CONV_WGRAD");
    return gemm_forced() || (a && strcmp(a, "direct") == 0) || (g && strcmp(g, "direct") == 0);
}

static void check(int cin_a, int cin_b, int cout, int n, int h, int w)
{
    const int cin = cin_a + cin_b, nx = cin_b ? 2 : 1;
    const size_t nw = (size_t)cout * cin * 9;
    const sn_conv_shape s = {cin, cout, 3, 0, 1};
    sn_tensor xa = rt(n, cin_a, h, w), xb = {0}, x, dy = rt(n, cout, h, w);
    if (cin_b)
        xb = rt(n, cin_b, h, w);
    NEED(sn_tensor_alloc(&x, n, cin, h, w, "x") == SN_OK);
    if (cin_b)
        concat_forward(&xa, &xb, &x);
    else
        memcpy(x.data, xa.data, sn_tensor_numel(&xa) * 4);
    const sn_tensor *src[2] = {&xa, &xb};
    float *w0 = malloc(nw * 4), *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4), *dw3 = malloc(nw * 4);
    float *db1 = malloc((size_t)cout * 4), *db2 = malloc((size_t)cout * 4), *db3 = malloc((size_t)cout * 4);
    float *wt = malloc(nw * 4), *dwwino = malloc(nw * 4);
    NEED(w0 && dw1 && dw2 && dw3 && db1 && db2 && db3 && wt && dwwino);
    fill(w0, nw); /* accumulated into, not overwritten */
    fill(wt, nw);
    fill(db3, (size_t)cout); /* the initial bias gradient */
    memcpy(dw2, w0, nw * 4);
    memcpy(db2, db3, (size_t)cout * 4);

    /* the direct kernel where the build has it, and the GEMM path (also what conv_backward takes
     * without AVX-512 or under SERNET_CONV_WGRAD=gemm) */
    const int direct = conv_wgrad_direct_supported(&s, h, w);
    const int wino = conv_wgrad_winograd_supported(&s, h, w);
    const wgrad_fn fns[3] = {conv_wgrad_direct, conv_wgrad_gemm, conv_wgrad_winograd};
    const char *names[3] = {"direct", "gemm", "winograd"};
    conv_backward_ref(&s, &x, wt, &dy, NULL, dw2, db2);
    /* float sums over n*h*w terms of size ~1: their rounding grows like the square root */
    const double atol = 2e-5 * sqrt((double)n * h * w);
    /* the Winograd kernel where the shape allows it, the GEMM path, then the direct kernel */
    for (int f = wino ? 2 : 1; f >= (direct ? 0 : 1); f--) {
        memcpy(dw1, w0, nw * 4);
        memcpy(db1, db3, (size_t)cout * 4);
        EXPECT(fns[f](&s, src, nx, &dy, dw1, db1) == SN_OK);
        EXPECT_ALLCLOSE(dw1, dw2, nw, 1e-4, atol, names[f]);
        EXPECT_ALLCLOSE(db1, db2, (size_t)cout, 1e-4, atol, names[f]);
        /* without db, and db alone: the same bits */
        memcpy(dw3, w0, nw * 4);
        EXPECT(fns[f](&s, src, nx, &dy, dw3, NULL) == SN_OK);
        EXPECT_MSG(memcmp(dw3, dw1, nw * 4) == 0, "%s weight gradient without db differs (%d,%d->%d %dx%dx%d)",
                   names[f], cin_a, cin_b, cout, n, h, w);
        float *db4 = malloc((size_t)cout * 4);
        NEED(db4);
        memcpy(db4, db3, (size_t)cout * 4);
        EXPECT(fns[f](&s, src, nx, &dy, NULL, db4) == SN_OK);
        EXPECT_MSG(memcmp(db4, db1, (size_t)cout * 4) == 0, "%s bias gradient alone differs", names[f]);
        free(db4);
        if (f == 2)
            memcpy(dwwino, dw1, nw * 4);
    } /* dw1, db1: the direct kernel's where the build has it; dwwino: the Winograd kernel's */
    /* what conv_backward should give: the Winograd kernel's where it applies */
    const float *dwbw = wino && !winograd_off() ? dwwino : dw1;

    /* conv_backward takes the kernel for its weight gradient, with and without input gradients
     * (the GEMM path when the build has no direct kernel) */
    if (!gemm_forced() || !direct) {
        sn_tensor dxa, dxb = {0};
        NEED(sn_tensor_alloc(&dxa, n, cin_a, h, w, "dx") == SN_OK);
        if (cin_b)
            NEED(sn_tensor_alloc(&dxb, n, cin_b, h, w, "dx") == SN_OK);
        sn_tensor *dst[2] = {&dxa, cin_b ? &dxb : NULL};
        memcpy(dw3, w0, nw * 4);
        EXPECT(conv_backward(&s, src, nx, wt, &dy, NULL, dw3, NULL) == SN_OK);
        EXPECT_MSG(memcmp(dw3, dwbw, nw * 4) == 0, "conv_backward without dx: not the expected kernel's weight gradient");
        if (direct && conv_direct_supported(&s, h, w)) { /* input gradients by the direct kernels too */
            memcpy(dw3, w0, nw * 4);
            EXPECT(conv_backward(&s, src, nx, wt, &dy, dst, dw3, NULL) == SN_OK);
            EXPECT_MSG(memcmp(dw3, dwbw, nw * 4) == 0, "conv_backward with dx: not the expected kernel's weight gradient");
        }
        sn_tensor_free(&dxa);
        sn_tensor_free(&dxb);
    }

    /* finite differences of L = <dy, conv(x, w)> on a few weights (small problems only) */
    if ((double)nw * n * h * w < 4e6) {
        sn_tensor y;
        NEED(sn_tensor_alloc(&y, n, cout, h, w, "y") == SN_OK);
        memset(dw3, 0, nw * 4);
        EXPECT(fns[wino ? 2 : direct ? 0 : 1](&s, src, nx, &dy, dw3, NULL) == SN_OK); /* the fastest kernel that applies */
        for (int t = 0; t < 4; t++) {
            const size_t wi = (size_t)((frand() + 1.0f) * 0.5f * (float)nw) % nw;
            const float keep = wt[wi], e = 1e-2f;
            wt[wi] = keep + e;
            conv_forward_ref(&s, &x, wt, NULL, &y);
            const double lp = sn_test_dot(y.data, dy.data, sn_tensor_numel(&y));
            wt[wi] = keep - e;
            conv_forward_ref(&s, &x, wt, NULL, &y);
            const double lm = sn_test_dot(y.data, dy.data, sn_tensor_numel(&y));
            wt[wi] = keep;
            EXPECT_MSG(sn_test_close(dw3[wi], (lp - lm) / (2 * e), 2e-3, 2e-3), "dW fd at %zu: %g vs %g", wi,
                       dw3[wi], (lp - lm) / (2 * e));
        }
        sn_tensor_free(&y);
    }
    free(w0); free(dw1); free(dw2); free(dw3); free(db1); free(db2); free(db3); free(wt);
    free(dwwino);
    sn_tensor *all[] = {&xa, &xb, &x, &dy};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_free(all[i]);
}

int main(void)
{
    const sn_conv_shape probe = {1, 1, 3, 0, 0};
    const int direct = conv_wgrad_direct_supported(&probe, 1, 1);
    if (!direct)
        printf("note: no direct weight-gradient kernel in this build (no AVX-512): the GEMM path is checked alone\n");
    for (int threads = 2; threads >= 1; threads--) {
        sn_threads_set(threads);
        check(3, 0, 32, 2, 9, 16);    /* first layer: 3 input channels, batch 2 */
        check(5, 3, 7, 1, 8, 20);     /* two sources, W not a multiple of 16, batch 1 */
        check(17, 0, 13, 3, 5, 33);   /* a last vector of one pixel, Cout not a multiple of 3 */
        check(4, 0, 2, 2, 6, 1);      /* one-pixel rows: the left and right taps all masked */
        check(2, 0, 1, 1, 3, 17);     /* Cout 1: one channel of a block */
        check(8, 0, 6, 5, 16, 16);    /* groups of whole small images (3 + 2 at 2 threads) */
        check(6, 2, 3, 3, 4, 48);     /* Cout 3 (the reconstruction net's output), short images */
        /* shapes for the Winograd weight gradient (H even, W % 32, Cin % 8, Cout % 16) */
        check(8, 8, 16, 2, 6, 32);    /* two sources, one vector of output channels */
        check(16, 0, 48, 1, 10, 64);  /* three vectors of output channels, one image */
        check(24, 8, 80, 3, 2, 32);   /* 5 vectors (a full block and a 2-vector one), 3 images */
    }
    sn_threads_set(2);
    check(40, 24, 40, 2, 70, 50); /* bands of rows (each under the cache budget), odd height */
    check(40, 24, 32, 2, 70, 64); /* Winograd: bands of tile rows, the last one short */
    /* the same thread count twice: the same bits */
    {
        const sn_conv_shape s = {19, 11, 3, 0, 0};
        sn_tensor x = rt(3, 19, 21, 40), dy = rt(3, 11, 21, 40);
        const sn_tensor *src[1] = {&x};
        float *a = calloc(11 * 19 * 9, 4), *b = calloc(11 * 19 * 9, 4);
        NEED(a && b);
        const wgrad_fn f = direct ? conv_wgrad_direct : conv_wgrad_gemm;
        EXPECT(f(&s, src, 1, &dy, a, NULL) == SN_OK);
        EXPECT(f(&s, src, 1, &dy, b, NULL) == SN_OK);
        EXPECT_MSG(memcmp(a, b, 11 * 19 * 9 * 4) == 0, "two runs at 2 threads differ");
        free(a);
        free(b);
        sn_tensor_free(&x);
        sn_tensor_free(&dy);
    }
    return sn_test_finish();
}
