/* Optimised layer kernels against the plain references, and finite-difference gradient checks
 * for every layer and both losses. */
#include "sn_test.h"
#include "sernet/gemm.h"
#include "sernet/loss.h"
#include "sernet/nn.h"
#include "sernet/threads.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rs = 88172645463325252ull;
static float frand(void) { return sn_test_frand(&rs); }
static void fill(float *p, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * 0.5f * (frand() + 1.0f);
}
static sn_tensor rt(int n, int c, int h, int w)
{
    sn_tensor t;
    sn_tensor_alloc(&t, n, c, h, w, "test");
    fill(t.data, sn_tensor_numel(&t), -1.0f, 1.0f);
    return t;
}

static void test_gemm(void)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const int m = 37, n = 53, k = 29, lda = 61, ldb = 67, ldc = 71;
            float *a = malloc(sizeof(float) * 80 * 80), *b = malloc(sizeof(float) * 80 * 80);
            float *c1 = malloc(sizeof(float) * 80 * 80), *c2 = malloc(sizeof(float) * 80 * 80);
            fill(a, 6400, -1, 1);
            fill(b, 6400, -1, 1);
            fill(c1, 6400, -1, 1);
            memcpy(c2, c1, sizeof(float) * 6400);
            sn_gemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, c1, ldc);
            sn_gemm_ref(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, c2, ldc);
            EXPECT_ALLCLOSE(c1, c2, 6400, 1e-5, 1e-5, "gemm vs reference");
            free(a); free(b); free(c1); free(c2);
        }
}

static void test_conv(int cin_a, int cin_b, int cout, int h, int w)
{
    const int cin = cin_a + cin_b, n = 3; /* 3 images: uneven groups of whole images at 2 threads */
    sn_conv_shape s = {cin, cout, 3, 0, 1}; /* as the U-Nets' units: Winograd where it applies */
    sn_tensor xa = rt(n, cin_a, h, w), xb = {0}, x, y1, y2, dy = rt(n, cout, h, w);
    if (cin_b)
        xb = rt(n, cin_b, h, w);
    sn_tensor_alloc(&x, n, cin, h, w, "x");
    if (cin_b)
        concat_forward(&xa, &xb, &x);
    else
        memcpy(x.data, xa.data, sn_tensor_numel(&xa) * 4);
    float *wt = malloc(sizeof(float) * cout * cin * 9), *b = malloc(sizeof(float) * cout);
    fill(wt, (size_t)cout * cin * 9, -0.5f, 0.5f);
    fill(b, cout, -0.5f, 0.5f);
    sn_tensor_alloc(&y1, n, cout, h, w, "y");
    sn_tensor_alloc(&y2, n, cout, h, w, "y");
    const sn_tensor *src[2] = {&xa, &xb};
    EXPECT(conv_forward(&s, src, cin_b ? 2 : 1, wt, b, &y1) == SN_OK);
    conv_forward_ref(&s, &x, wt, b, &y2);
    EXPECT_ALLCLOSE(y1.data, y2.data, sn_tensor_numel(&y1), 1e-4, 1e-4, "conv forward");

    sn_tensor dxa, dxb, dx, dxr;
    sn_tensor_alloc(&dxa, n, cin_a, h, w, "dx");
    sn_tensor_zeros(&dxb, n, cin_b ? cin_b : 1, h, w, "dx");
    sn_tensor_alloc(&dx, n, cin, h, w, "dx");
    sn_tensor_alloc(&dxr, n, cin, h, w, "dx");
    float *dw1 = calloc((size_t)cout * cin * 9, 4), *dw2 = calloc((size_t)cout * cin * 9, 4);
    float *db1 = calloc(cout, 4), *db2 = calloc(cout, 4);
    sn_tensor *dsrc[2] = {&dxa, &dxb};
    EXPECT(conv_backward(&s, src, cin_b ? 2 : 1, wt, &dy, dsrc, dw1, db1) == SN_OK);
    conv_backward_ref(&s, &x, wt, &dy, &dxr, dw2, db2);
    if (cin_b)
        concat_forward(&dxa, &dxb, &dx);
    else
        memcpy(dx.data, dxa.data, sn_tensor_numel(&dxa) * 4);
    EXPECT_ALLCLOSE(dx.data, dxr.data, sn_tensor_numel(&dx), 1e-4, 1e-4, "conv input gradient");
    EXPECT_ALLCLOSE(dw1, dw2, (size_t)cout * cin * 9, 1e-4, 1e-3, "conv weight gradient");
    EXPECT_ALLCLOSE(db1, db2, cout, 1e-4, 1e-3, "conv bias gradient");
    /* each source's gradient written over the source itself (the U-Nets' memory layout): the
     * same bits as into separate tensors, weight gradient included */
    {
        sn_tensor ya, yb = {0};
        sn_tensor_alloc(&ya, n, cin_a, h, w, "alias");
        memcpy(ya.data, xa.data, sn_tensor_numel(&xa) * 4);
        if (cin_b) {
            sn_tensor_alloc(&yb, n, cin_b, h, w, "alias");
            memcpy(yb.data, xb.data, sn_tensor_numel(&xb) * 4);
        }
        float *dw3 = calloc((size_t)cout * cin * 9, 4), *db3 = calloc(cout, 4);
        const sn_tensor *asrc[2] = {&ya, &yb};
        sn_tensor *adst[2] = {&ya, &yb};
        EXPECT(conv_backward(&s, asrc, cin_b ? 2 : 1, wt, &dy, adst, dw3, db3) == SN_OK);
        EXPECT_MSG(memcmp(ya.data, dxa.data, sn_tensor_numel(&dxa) * 4) == 0, "aliased dx (first source) differs");
        if (cin_b)
            EXPECT_MSG(memcmp(yb.data, dxb.data, sn_tensor_numel(&dxb) * 4) == 0, "aliased dx (second source) differs");
        EXPECT_MSG(memcmp(dw3, dw1, sizeof(float) * cout * cin * 9) == 0, "weight gradient with aliased dx differs");
        EXPECT_MSG(memcmp(db3, db1, sizeof(float) * cout) == 0, "bias gradient with aliased dx differs");
        free(dw3);
        free(db3);
        sn_tensor_free(&ya);
        sn_tensor_free(&yb);
    }
    /* without input gradients the weight gradient takes the im2col path of the smaller side */
    memset(dw1, 0, sizeof(float) * cout * cin * 9);
    memset(db1, 0, sizeof(float) * cout);
    EXPECT(conv_backward(&s, src, cin_b ? 2 : 1, wt, &dy, NULL, dw1, db1) == SN_OK);
    EXPECT_ALLCLOSE(dw1, dw2, (size_t)cout * cin * 9, 1e-4, 1e-3, "conv weight gradient (no dx)");
    /* only the second source's gradient: no split */
    if (cin_b) {
        sn_tensor *only_b[2] = {NULL, &dxb};
        memset(dxb.data, 0, sizeof(float) * sn_tensor_numel(&dxb));
        EXPECT(conv_backward(&s, src, 2, wt, &dy, only_b, NULL, NULL) == SN_OK);
        concat_forward(&dxa, &dxb, &dx);
        EXPECT_ALLCLOSE(dx.data, dxr.data, sn_tensor_numel(&dx), 1e-4, 1e-4, "conv input gradient (one source)");
    }

    /* finite differences on a few weights and inputs of L = <dy, conv(x)> */
    for (int t = 0; t < 6; t++) {
        size_t wi = (size_t)((frand() + 1) * 0.5 * cout * cin * 9) % ((size_t)cout * cin * 9);
        float keep = wt[wi], e = 1e-2f;
        wt[wi] = keep + e;
        conv_forward_ref(&s, &x, wt, b, &y2);
        double lp = sn_test_dot(y2.data, dy.data, sn_tensor_numel(&y2));
        wt[wi] = keep - e;
        conv_forward_ref(&s, &x, wt, b, &y2);
        double lm = sn_test_dot(y2.data, dy.data, sn_tensor_numel(&y2));
        wt[wi] = keep;
        EXPECT_MSG(sn_test_close(dw1[wi], (lp - lm) / (2 * e), 2e-3, 2e-3), "conv dW fd: %g vs %g", dw1[wi],
                   (lp - lm) / (2 * e));
    }
    free(wt); free(b); free(dw1); free(dw2); free(db1); free(db2);
    sn_tensor *all[] = {&xa, &xb, &x, &y1, &y2, &dy, &dxa, &dxb, &dx, &dxr};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_free(all[i]);
}

/* The direct forward kernel and the GEMM path's fused ReLU against the reference: one or two
 * sources, image widths of one and several vectors, bands of rows, output-channel chunks. */
static void test_conv_forward_algos(int cin_a, int cin_b, int cout, int n, int h, int w)
{
    const int cin = cin_a + cin_b;
    sn_tensor xa = rt(n, cin_a, h, w), xb = {0}, x, yd, yg, yr;
    if (cin_b)
        xb = rt(n, cin_b, h, w);
    sn_tensor_alloc(&x, n, cin, h, w, "x");
    if (cin_b)
        concat_forward(&xa, &xb, &x);
    else
        memcpy(x.data, xa.data, sn_tensor_numel(&xa) * 4);
    float *wt = malloc(sizeof(float) * cout * cin * 9), *b = malloc(sizeof(float) * cout);
    fill(wt, (size_t)cout * cin * 9, -0.5f, 0.5f);
    fill(b, cout, -0.5f, 0.5f);
    sn_tensor_alloc(&yd, n, cout, h, w, "y");
    sn_tensor_alloc(&yg, n, cout, h, w, "y");
    sn_tensor_alloc(&yr, n, cout, h, w, "y");
    const sn_tensor *src[2] = {&xa, &xb};
    for (int relu = 0; relu < 2; relu++) {
        sn_conv_shape s = {cin, cout, 3, relu, 0};
        conv_forward_ref(&s, &x, wt, b, &yr);
        if (relu)
            for (size_t i = 0; i < sn_tensor_numel(&yr); i++)
                yr.data[i] = yr.data[i] < 0.0f ? 0.0f : yr.data[i];
        EXPECT(conv_forward_gemm(&s, src, cin_b ? 2 : 1, wt, b, &yg) == SN_OK);
        EXPECT_ALLCLOSE(yg.data, yr.data, sn_tensor_numel(&yr), 1e-4, 1e-4, "conv forward (gemm, relu)");
        if (conv_direct_supported(&s, h, w)) {
            memset(yd.data, 0xff, sn_tensor_numel(&yd) * 4); /* NaN: every output must be written */
            EXPECT(conv_forward_direct(&s, src, cin_b ? 2 : 1, wt, b, &yd) == SN_OK);
            EXPECT_ALLCLOSE(yd.data, yr.data, sn_tensor_numel(&yr), 1e-4, 1e-4, "conv forward (direct)");
            EXPECT(conv_forward(&s, src, cin_b ? 2 : 1, wt, b, &yg) == SN_OK);
            EXPECT_ALLCLOSE(yg.data, yr.data, sn_tensor_numel(&yr), 1e-4, 1e-4, "conv forward (chosen)");
        }
        if (conv_winograd_supported(&s, h, w)) {
            memset(yd.data, 0xff, sn_tensor_numel(&yd) * 4); /* NaN: every output must be written */
            EXPECT(conv_forward_winograd(&s, src, cin_b ? 2 : 1, wt, b, &yd) == SN_OK);
            EXPECT_ALLCLOSE(yd.data, yr.data, sn_tensor_numel(&yr), 1e-4, 1e-4, "conv forward (winograd)");
            s.winograd = 1; /* conv_forward takes it from 16 input and 8 output channels on */
            memset(yg.data, 0xff, sn_tensor_numel(&yg) * 4);
            EXPECT(conv_forward(&s, src, cin_b ? 2 : 1, wt, b, &yg) == SN_OK);
            EXPECT_MSG((memcmp(yg.data, yd.data, sn_tensor_numel(&yd) * 4) == 0) == (cin >= 16 && cout >= 8),
                       "conv_forward's choice of winograd (cin %d, cout %d)", cin, cout);
        }
    }
#if defined(__AVX512F__)
    {
        sn_conv_shape s = {cin, cout, 3, 0, 0};
        EXPECT_MSG(conv_direct_supported(&s, h, w) == (w % 16 == 0),
                   "direct kernel support for cout %d, w %d", cout, w);
        EXPECT_MSG(conv_winograd_supported(&s, h, w) == (w % 32 == 0 && h % 2 == 0),
                   "winograd kernel support for h %d, w %d", h, w);
    }
#endif
    free(wt);
    free(b);
    sn_tensor *all[] = {&xa, &xb, &x, &yd, &yg, &yr};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_free(all[i]);
}

/* The scalar Winograd transforms against their definition: for a 4x4 patch d and 3x3 weights g,
 * y = A^T ((G g G^T) . (B^T d B)) A is the 2x2 valid correlation of d with g. */
static void test_winograd_transforms(void)
{
    for (int rep = 0; rep < 20; rep++) {
        float d[16], g[9], v[16], u[16], y[4], m[16], zero[16] = {0}, dummy[16], dy[4];
        fill(d, 16, -1.0f, 1.0f);
        fill(g, 9, -1.0f, 1.0f);
        conv_winograd_transform_ref(d, g, zero, v, u, dy);
        for (int i = 0; i < 16; i++)
            m[i] = u[i] * v[i];
        conv_winograd_transform_ref(zero, g, m, dummy, dummy, y);
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 2; c++) {
                double ref = 0;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        ref += (double)d[(r + ky) * 4 + c + kx] * g[ky * 3 + kx];
                EXPECT_MSG(sn_test_close(y[r * 2 + c], ref, 1e-5, 1e-5), "winograd tile (%d, %d): %g vs %g", r, c,
                           y[r * 2 + c], ref);
            }
    }
}

/* A NaN input stays NaN through the fused ReLU (as through the ReLU layer), in both paths. */
static void test_conv_relu_nan(void)
{
    sn_conv_shape s = {2, 4, 3, 1, 0};
    sn_tensor x = rt(1, 2, 4, 16), y;
    sn_tensor_alloc(&y, 1, 4, 4, 16, "y");
    float *wt = malloc(sizeof(float) * 4 * 2 * 9);
    fill(wt, 72, -0.5f, 0.5f);
    x.data[1 * 16 + 4] = __builtin_nanf("");
    const sn_tensor *src[1] = {&x};
    for (int algo = 0; algo < 2; algo++) {
        if (algo == 1 && !conv_direct_supported(&s, 4, 16))
            continue;
        EXPECT((algo ? conv_forward_direct : conv_forward_gemm)(&s, src, 1, wt, NULL, &y) == SN_OK);
        int nans = 0;
        for (size_t i = 0; i < sn_tensor_numel(&y); i++)
            nans += y.data[i] != y.data[i];
        /* the NaN at row 1, column 4 reaches the 3x3 outputs around it in all 4 channels */
        EXPECT_MSG(nans == 4 * 9, "algo %d: %d NaN outputs, expected 36", algo, nans);
    }
    free(wt);
    sn_tensor_free(&x);
    sn_tensor_free(&y);
}

static void test_bn(int relu)
{
    const int n = 3, c = 4, h = 5, w = 6;
    sn_bn_shape s = {c, 1e-5, 0.1, relu};
    sn_tensor x = rt(n, c, h, w), y1, y2, dy = rt(n, c, h, w), dx1, dx2, dpre;
    for (size_t i = 0; i < sn_tensor_numel(&x); i++)
        x.data[i] = x.data[i] * 2.0f + 0.3f * (float)((i / (h * w)) % c);
    float gamma[4], beta[4], rm1[4] = {0}, rv1[4] = {1, 1, 1, 1}, rm2[4] = {0}, rv2[4] = {1, 1, 1, 1};
    float mean[4], invstd[4], dg1[4] = {0}, db1[4] = {0}, dg2[4] = {0}, db2[4] = {0};
    fill(gamma, 4, 0.5f, 1.5f);
    fill(beta, 4, -0.5f, 0.5f);
    sn_tensor_alloc(&y1, n, c, h, w, "y");
    sn_tensor_alloc(&y2, n, c, h, w, "y");
    EXPECT(bn_forward(&s, 1, &x, gamma, beta, rm1, rv1, NULL, mean, invstd, &y1) == SN_OK);
    bn_forward_ref(&s, 1, &x, gamma, beta, rm2, rv2, &y2);
    EXPECT_ALLCLOSE(y1.data, y2.data, sn_tensor_numel(&y1), 1e-5, 1e-5, "bn forward (training)");
    EXPECT_ALLCLOSE(rm1, rm2, 4, 1e-5, 1e-6, "bn running mean");
    EXPECT_ALLCLOSE(rv1, rv2, 4, 1e-5, 1e-6, "bn running var");
    /* backward: reference gets the pre-ReLU gradient */
    sn_tensor_alloc(&dx1, n, c, h, w, "dx");
    sn_tensor_alloc(&dx2, n, c, h, w, "dx");
    sn_tensor_alloc(&dpre, n, c, h, w, "dpre");
    for (size_t i = 0; i < sn_tensor_numel(&dy); i++)
        dpre.data[i] = relu && y1.data[i] <= 0 ? 0.0f : dy.data[i];
    EXPECT(bn_backward(&s, &x, gamma, beta, mean, invstd, NULL, &dy, &dx1, dg1, db1) == SN_OK);
    bn_backward_ref(&s, &x, gamma, &dpre, &dx2, dg2, db2);
    EXPECT_ALLCLOSE(dx1.data, dx2.data, sn_tensor_numel(&dx1), 1e-4, 1e-5, "bn input gradient");
    EXPECT_ALLCLOSE(dg1, dg2, 4, 1e-4, 1e-5, "bn gamma gradient");
    EXPECT_ALLCLOSE(db1, db2, 4, 1e-4, 1e-5, "bn beta gradient");
    /* finite differences through the optimised forward: L = <dy, bn(x)> */
    for (int t = 0; t < 8; t++) {
        size_t i = (size_t)(t * 37) % sn_tensor_numel(&x);
        float keep = x.data[i], e = 1e-3f, rmt[4], rvt[4], mt[4], it[4];
        x.data[i] = keep + e;
        memcpy(rmt, rm1, 16); memcpy(rvt, rv1, 16);
        bn_forward(&s, 1, &x, gamma, beta, rmt, rvt, NULL, mt, it, &y2);
        double lp = sn_test_dot(y2.data, dy.data, sn_tensor_numel(&y2));
        x.data[i] = keep - e;
        bn_forward(&s, 1, &x, gamma, beta, rmt, rvt, NULL, mt, it, &y2);
        double lm = sn_test_dot(y2.data, dy.data, sn_tensor_numel(&y2));
        x.data[i] = keep;
        EXPECT_MSG(sn_test_close(dx1.data[i], (lp - lm) / (2 * e), 2e-2, 2e-3), "bn dx fd at %zu: %g vs %g", i,
                   dx1.data[i], (lp - lm) / (2 * e));
    }
    /* inference mode uses the running statistics */
    EXPECT(bn_forward(&s, 0, &x, gamma, beta, rm1, rv1, NULL, mean, invstd, &y1) == SN_OK);
    bn_forward_ref(&s, 0, &x, gamma, beta, rm1, rv1, &y2);
    EXPECT_ALLCLOSE(y1.data, y2.data, sn_tensor_numel(&y1), 1e-5, 1e-5, "bn forward (inference)");
    sn_tensor *all[] = {&x, &y1, &y2, &dy, &dx1, &dx2, &dpre};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        sn_tensor_free(all[k]);
}

/* generic finite-difference check of an element-wise/resampling layer: L = <r, f(x)> */
typedef void (*fwd_fn)(const sn_tensor *x, sn_tensor *y);
static void fd_layer(const char *what, fwd_fn f, sn_tensor *x, sn_tensor *y, const sn_tensor *dx_analytic,
                     const sn_tensor *r)
{
    double worst = 0;
    for (size_t i = 0; i < sn_tensor_numel(x); i += 3) {
        float keep = x->data[i], e = 1e-3f;
        x->data[i] = keep + e;
        f(x, y);
        double lp = sn_test_dot(y->data, r->data, sn_tensor_numel(y));
        x->data[i] = keep - e;
        f(x, y);
        double lm = sn_test_dot(y->data, r->data, sn_tensor_numel(y));
        x->data[i] = keep;
        double fd = (lp - lm) / (2 * e), err = fabs(fd - dx_analytic->data[i]) / (1e-2 + fabs(fd));
        if (err > worst)
            worst = err;
    }
    EXPECT_MSG(worst < 1e-2, "%s: finite-difference mismatch %g", what, worst);
}

static void up_fwd(const sn_tensor *x, sn_tensor *y) { SN_ASSERT(upsample2_forward(x, y) == SN_OK); }

static void test_elementwise(void)
{
    const int n = 2, c = 3, h = 6, w = 8;
    sn_tensor x = rt(n, c, h, w), y, r = rt(n, c, h, w), dx;
    for (size_t i = 0; i < sn_tensor_numel(&x); i++) /* keep away from the ReLU kink */
        if (fabsf(x.data[i]) < 0.05f)
            x.data[i] = 0.3f;
    sn_tensor_alloc(&y, n, c, h, w, "y");
    sn_tensor_alloc(&dx, n, c, h, w, "dx");
    relu_forward(&x, &y);
    relu_backward(&y, &r, &dx);
    fd_layer("relu", relu_forward, &x, &y, &dx, &r);
    /* NaN is not hidden by ReLU (as in PyTorch): it must reach the loss check */
    {
        float nv[2] = {NAN, -1.0f}, no[2];
        sn_tensor tn = sn_tensor_view(nv, 1, 1, 1, 2), to = sn_tensor_view(no, 1, 1, 1, 2);
        relu_forward(&tn, &to);
        EXPECT(isnan(no[0]) && no[1] == 0.0f);
    }
    sigmoid_forward(&x, &y);
    sigmoid_backward(&y, &r, &dx);
    fd_layer("sigmoid", sigmoid_forward, &x, &y, &dx, &r);

    sn_tensor yp, rp = rt(n, c, h / 2, w / 2);
    sn_tensor_alloc(&yp, n, c, h / 2, w / 2, "pool");
    maxpool2_forward(&x, &yp);
    memset(dx.data, 0, sn_tensor_numel(&dx) * 4);
    maxpool2_backward(&x, &rp, &dx);
    fd_layer("maxpool2", maxpool2_forward, &x, &yp, &dx, &rp);
    /* the recorded winners route the gradient exactly as the input does */
    {
        sn_tensor ya, dxa;
        uint8_t arg[2 * 3 * 3 * 4];
        sn_tensor_alloc(&ya, n, c, h / 2, w / 2, "pool");
        sn_tensor_alloc(&dxa, n, c, h, w, "pool");
        memset(dxa.data, 0, sn_tensor_numel(&dxa) * 4);
        memset(dx.data, 0, sn_tensor_numel(&dx) * 4);
        x.data[1] = x.data[0]; /* a tie in the first window */
        maxpool2_forward(&x, &yp);
        maxpool2_backward(&x, &rp, &dx);
        maxpool2_forward_arg(&x, &ya, arg);
        maxpool2_backward_arg(arg, &rp, &dxa);
        EXPECT_MSG(memcmp(ya.data, yp.data, sn_tensor_numel(&yp) * 4) == 0, "max-pool with winners: output differs");
        EXPECT_MSG(memcmp(dxa.data, dx.data, sn_tensor_numel(&dx) * 4) == 0, "max-pool by winners: gradient differs");
        sn_tensor_free(&ya);
        sn_tensor_free(&dxa);
    }
    /* ties go to the first maximum */
    sn_tensor tie = sn_tensor_view((float[]){1, 1, 1, 1}, 1, 1, 2, 2), tp, tg, td;
    sn_tensor_alloc(&tp, 1, 1, 1, 1, "t");
    tg = sn_tensor_view((float[]){5}, 1, 1, 1, 1);
    float tdd[4] = {0};
    td = sn_tensor_view(tdd, 1, 1, 2, 2);
    maxpool2_forward(&tie, &tp);
    maxpool2_backward(&tie, &tg, &td);
    EXPECT(tdd[0] == 5 && tdd[1] == 0 && tdd[2] == 0 && tdd[3] == 0);
    {
        uint8_t ta;
        memset(tdd, 0, sizeof tdd);
        maxpool2_forward_arg(&tie, &tp, &ta);
        maxpool2_backward_arg(&ta, &tg, &td);
        EXPECT(ta == 0 && tdd[0] == 5 && tdd[1] == 0 && tdd[2] == 0 && tdd[3] == 0);
    }
    sn_tensor_free(&tp);

    sn_tensor yu, yu2, ru = rt(n, c, 2 * h, 2 * w);
    sn_tensor_alloc(&yu, n, c, 2 * h, 2 * w, "up");
    sn_tensor_alloc(&yu2, n, c, 2 * h, 2 * w, "up");
    EXPECT(upsample2_forward(&x, &yu) == SN_OK);
    upsample2_forward_ref(&x, &yu2);
    EXPECT_ALLCLOSE(yu.data, yu2.data, sn_tensor_numel(&yu), 1e-6, 1e-6, "upsample vs reference");
    EXPECT(upsample2_backward(&ru, &dx) == SN_OK);
    fd_layer("upsample2", up_fwd, &x, &yu, &dx, &ru);
    /* known values: a 2x2 plane [[0,1],[2,3]] -> first output row 0, .25, .75, 1 */
    float q[4] = {0, 1, 2, 3}, o[16];
    sn_tensor qi = sn_tensor_view(q, 1, 1, 2, 2), qo = sn_tensor_view(o, 1, 1, 4, 4);
    EXPECT(upsample2_forward(&qi, &qo) == SN_OK);
    EXPECT_NEAR(o[0], 0.0, 1e-7);
    EXPECT_NEAR(o[1], 0.25, 1e-7);
    EXPECT_NEAR(o[2], 0.75, 1e-7);
    EXPECT_NEAR(o[3], 1.0, 1e-7);
    EXPECT_NEAR(o[4], 0.5, 1e-7);

    /* concat round trip */
    sn_tensor a = rt(2, 2, 3, 3), b = rt(2, 3, 3, 3), cat, da, db;
    sn_tensor_alloc(&cat, 2, 5, 3, 3, "cat");
    sn_tensor_alloc(&da, 2, 2, 3, 3, "da");
    sn_tensor_alloc(&db, 2, 3, 3, 3, "db");
    concat_forward(&a, &b, &cat);
    EXPECT(cat.data[9 * 2] == b.data[0] && cat.data[45 + 9 * 2] == b.data[27] && cat.data[45] == a.data[18]);
    concat_backward(&cat, &da, &db);
    EXPECT(memcmp(da.data, a.data, 4 * sn_tensor_numel(&a)) == 0 && memcmp(db.data, b.data, 4 * sn_tensor_numel(&b)) == 0);
    sn_tensor *all[] = {&x, &y, &r, &dx, &yp, &rp, &yu, &yu2, &ru, &a, &b, &cat, &da, &db};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        sn_tensor_free(all[k]);
}

static double loss_of(const sn_ssim_params *sp, const sn_tensor *p, const sn_tensor *g, int which)
{
    if (which == 0)
        return mse_forward(p, g);
    /* the double-precision reference, so the differences are free of float rounding */
    return ssim_sum_ref(sp->window, sp->sigma, sp->c1, sp->c2, p, g);
}

static void test_losses(void)
{
    const int n = 2, c = 3, h = 13, w = 15;
    sn_ssim_params sp;
    sn_ssim_defaults(&sp, 11, 1.5);
    sn_tensor p = rt(n, c, h, w), g = rt(n, c, h, w), dp;
    for (size_t i = 0; i < sn_tensor_numel(&p); i++) {
        p.data[i] = 0.5f + 0.4f * p.data[i];
        g.data[i] = 0.5f + 0.4f * g.data[i];
    }
    sn_tensor_alloc(&dp, n, c, h, w, "dp");
    for (int which = 0; which < 2; which++) {
        memset(dp.data, 0, sn_tensor_numel(&dp) * 4);
        if (which == 0)
            mse_backward(&p, &g, 1.0f, &dp);
        else
            ssim_backward(&sp, &p, &g, 1.0f, &dp);
        double worst = 0;
        for (size_t i = 0; i < sn_tensor_numel(&p); i += 7) {
            float keep = p.data[i], e = 2e-3f;
            p.data[i] = keep + e;
            double lp = loss_of(&sp, &p, &g, which);
            p.data[i] = keep - e;
            double lm = loss_of(&sp, &p, &g, which);
            p.data[i] = keep;
            double fd = (lp - lm) / (2 * e), err = fabs(fd - dp.data[i]) / (1e-3 + fabs(fd));
            if (err > worst)
                worst = err;
        }
        EXPECT_MSG(worst < 2e-2, "%s gradient: finite-difference mismatch %g", which ? "ssim" : "mse", worst);
    }
    /* the optimised SSIM sum against the reference */
    double fast = 0;
    EXPECT(ssim_forward(&sp, &p, &g, &fast) == SN_OK);
    EXPECT_NEAR(fast, ssim_sum_ref(11, 1.5, sp.c1, sp.c2, &p, &g), 1e-6 * sn_tensor_numel(&p));
    /* identical images: SSIM 1 everywhere, loss 0 */
    sn_loss_sums sums;
    double loss, mse, ssim;
    EXPECT(sn_loss_compute(&sp, &p, &p, (double)sn_tensor_numel(&p), &sums, NULL) == SN_OK);
    sn_loss_values(&sums, &loss, &mse, &ssim);
    EXPECT_NEAR(ssim, 1.0, 1e-5);
    EXPECT_NEAR(loss, 0.0, 1e-5);
    /* the combined gradient equals the sum of the parts scaled by 1/count */
    sn_tensor d2;
    sn_tensor_alloc(&d2, n, c, h, w, "d2");
    const double cnt = (double)sn_tensor_numel(&p);
    EXPECT(sn_loss_compute(&sp, &p, &g, cnt, &sums, &dp) == SN_OK);
    memset(d2.data, 0, 4 * sn_tensor_numel(&d2));
    mse_backward(&p, &g, (float)(1 / cnt), &d2);
    ssim_backward(&sp, &p, &g, (float)(-1 / cnt), &d2);
    EXPECT_ALLCLOSE(dp.data, d2.data, sn_tensor_numel(&dp), 1e-5, 1e-9, "combined loss gradient");
    /* SSIM's numerator factors at exactly zero (a rec net's output starts out negative in places):
     * p = 0 with c1 = 0 gives a1 = 2 mu_p mu_g + c1 = 0, and with c2 = 0 gives a2 = 0. The gradient
     * stays finite and equals the finite difference. */
    for (int zero = 0; zero < 2; zero++) {
        sn_ssim_params z = sp;
        if (zero == 0)
            z.c1 = 0;
        else
            z.c2 = 0;
        memset(p.data, 0, 4 * sn_tensor_numel(&p));
        memset(dp.data, 0, 4 * sn_tensor_numel(&dp));
        ssim_backward(&z, &p, &g, 1.0f, &dp);
        size_t bad = 0;
        double worst = 0, largest = 0;
        for (size_t i = 0; i < sn_tensor_numel(&p); i++) {
            if (!isfinite(dp.data[i]))
                bad++;
            if (i % 7)
                continue;
            float e = 2e-3f;
            p.data[i] = e;
            double lp = loss_of(&z, &p, &g, 1);
            p.data[i] = -e;
            double lm = loss_of(&z, &p, &g, 1);
            p.data[i] = 0;
            double fd = (lp - lm) / (2 * e), err = fabs(fd - dp.data[i]) / (1e-3 + fabs(fd));
            worst = err > worst ? err : worst;
            largest = fabs(fd) > largest ? fabs(fd) : largest;
        }
        EXPECT_MSG(bad == 0, "ssim gradient with a%d = 0: %zu non-finite values", zero + 1, bad);
        EXPECT_MSG(worst < 2e-2, "ssim gradient with a%d = 0: finite-difference mismatch %g", zero + 1, worst);
        EXPECT_MSG(largest > 1e-2, "ssim gradient with a%d = 0 is not trivially zero (largest %g)", zero + 1, largest);
    }
    sn_tensor_free(&p); sn_tensor_free(&g); sn_tensor_free(&dp); sn_tensor_free(&d2);
}

int main(void)
{
    sn_threads_set(2);
    test_gemm();
    test_conv(3, 0, 5, 7, 9);
    test_conv(4, 3, 6, 8, 8);   /* two sources: the fused concat */
    test_conv(2, 0, 3, 40, 70); /* several row tiles */
    test_conv(9, 0, 2, 12, 10); /* kout < kin without dx: dW from the im2col of dy */
    test_bn(0);
    test_bn(1);
    test_elementwise();
    test_losses();
    test_conv_forward_algos(3, 0, 32, 3, 9, 16);   /* first layer: 3 channels */
    test_conv_forward_algos(5, 3, 8, 3, 16, 16);   /* two sources, one vector per row */
    test_conv_forward_algos(4, 0, 12, 2, 37, 48);  /* three vectors per row, odd height */
    test_conv_forward_algos(6, 2, 4, 1, 5, 32);    /* one image, few rows */
    test_conv_forward_algos(300, 0, 300, 1, 3, 16); /* output-channel chunks, bands of one row */
    test_conv_forward_algos(4, 0, 3, 2, 8, 16);    /* Cout not a multiple of 4: zero-padded group */
    test_conv_forward_algos(5, 0, 1, 2, 8, 32);    /* Cout 1 (the segmentation net's output) */
    test_conv_forward_algos(3, 4, 6, 3, 17, 16);   /* a full group and a padded one */
    test_conv_forward_algos(4, 0, 8, 2, 8, 12);    /* W not a multiple of 16: GEMM only */
    test_conv_relu_nan();
    test_winograd_transforms();
    test_conv_forward_algos(3, 0, 32, 2, 16, 32);   /* winograd: first layer, one vector per tile row */
    test_conv_forward_algos(5, 3, 8, 3, 10, 64);    /* winograd: two sources, two vectors per tile row */
    test_conv_forward_algos(40, 0, 6, 2, 6, 96);    /* winograd: padded group, partial register blocks */
    test_conv_forward_algos(300, 0, 13, 1, 34, 32); /* winograd: bands of tile rows, long channel sums */
    test_conv_forward_algos(16, 8, 8, 2, 12, 32);   /* winograd chosen by conv_forward */
    test_conv(4, 8, 8, 16, 32); /* input gradients of both sources by the direct kernel */
    test_conv(8, 0, 12, 9, 16); /* ... of one source; dW from col(x) (kin < kout) */
    test_conv(4, 6, 8, 8, 16);  /* a source of 6 channels (a padded group) */
    test_conv(4, 0, 8, 8, 12);  /* W not a multiple of 16: GEMM input gradients */
    test_conv(8, 8, 16, 6, 32); /* Winograd forward and input gradients of both sources */
    test_conv(16, 0, 24, 4, 64); /* ... of one source, two vectors per tile row */
    sn_threads_set(1);
    test_conv(4, 3, 6, 8, 8); /* one thread gives the same as the reference too */
    test_conv(9, 0, 2, 12, 10);
    test_conv(2, 0, 3, 40, 70);
    test_conv_forward_algos(5, 3, 8, 3, 16, 16);
    test_conv_forward_algos(4, 0, 12, 2, 37, 48);
    test_conv(4, 8, 8, 16, 32);
    return sn_test_finish();
}
