/* The bfloat16 inference convolution (src/nn/conv_bf16.c): the scalar conversion on the values
 * where rounding is decided, the plain reference against the float32 convolution, the AVX512_BF16
 * kernel against the reference (conversion bit for bit, sums to float32 rounding) over one and two
 * sources, odd channel counts, bands and output-channel chunks, and whole U-Nets in bf16 within a
 * stated tolerance of float32. The kernel checks are skipped, with a message, on a CPU without
 * AVX512_BF16 (the others run everywhere). */
#include "sn_test.h"
#include "sernet/conv_bf16.h"
#include "sernet/unet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static float frand(void) { return sn_test_frand(&rs); }
static void fill(float *p, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = scale * frand();
}
static float bits_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest even, ties, carries into the exponent, overflow, denormals, NaN. */
static void test_conversion(void)
{
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3F800000u, 0x3F80}, /* 1 */
        {0x3F808000u, 0x3F80}, /* tie, even below */
        {0x3F818000u, 0x3F82}, /* tie, even above */
        {0x3F808001u, 0x3F81}, /* just above the tie */
        {0x3F80FFFFu, 0x3F81},
        {0x3F7FFFFFu, 0x3F80}, /* carry into the exponent */
        {0x7F7FFFFFu, 0x7F80}, /* largest float rounds to infinity */
        {0xFF7FFFFFu, 0xFF80},
        {0x7F800000u, 0x7F80}, /* infinity */
        {0x7F800001u, 0x7FC0}, /* signalling NaN: quiet NaN */
        {0x7FC00001u, 0x7FC0},
        {0x00800000u, 0x0080}, /* smallest normal */
        {0x007FFFFFu, 0x0000}, /* denormals flush to zero */
        {0x80400000u, 0x8000}, /* ... keeping the sign */
        {0x80000000u, 0x8000},
        {0x33800000u, 0x3380},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t got = sn_bf16_from_float(bits_f(cases[i].in));
        EXPECT_MSG(got == cases[i].out, "bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].in, got, cases[i].out);
    }
    EXPECT(sn_bf16_to_float(0x3F80) == 1.0f && sn_bf16_to_float(0xC040) == -3.0f);
    /* a relative error of at most 2^-9 on normal values */
    double worst = 0;
    for (int i = 0; i < 100000; i++) {
        const float f = frand() * 1000.0f;
        if (f == 0.0f)
            continue;
        const double e = fabs((double)sn_bf16_to_float(sn_bf16_from_float(f)) - f) / fabs(f);
        worst = e > worst ? e : worst;
    }
    EXPECT_MSG(worst <= 0x1p-8 && worst > 0x1p-9, "worst relative rounding error %g, expected in (2^-9, 2^-8]", worst);
}

typedef struct {
    sn_tensor xa, xb, x, yr, yk, yf;
    float *w, *b;
    uint32_t *wp;
} conv_case;

static void case_open(conv_case *c, int cin_a, int cin_b, int cout, int n, int h, int w)
{
    memset(c, 0, sizeof *c);
    const int cin = cin_a + cin_b;
    sn_tensor_alloc(&c->xa, n, cin_a, h, w, "xa");
    fill(c->xa.data, sn_tensor_numel(&c->xa), 1.0f);
    if (cin_b) {
        sn_tensor_alloc(&c->xb, n, cin_b, h, w, "xb");
        fill(c->xb.data, sn_tensor_numel(&c->xb), 1.0f);
    }
    sn_tensor_alloc(&c->x, n, cin, h, w, "x");
    if (cin_b)
        concat_forward(&c->xa, &c->xb, &c->x);
    else
        memcpy(c->x.data, c->xa.data, sn_tensor_numel(&c->xa) * sizeof(float));
    sn_tensor_alloc(&c->yr, n, cout, h, w, "yr");
    sn_tensor_alloc(&c->yk, n, cout, h, w, "yk");
    sn_tensor_alloc(&c->yf, n, cout, h, w, "yf");
    c->w = malloc(sizeof(float) * cout * cin * 9);
    c->b = malloc(sizeof(float) * cout);
    fill(c->w, (size_t)cout * cin * 9, 0.5f);
    fill(c->b, (size_t)cout, 0.5f);
    const sn_conv_shape s = {cin, cout, 3, 0, 0};
    c->wp = malloc(sizeof(uint32_t) * conv_bf16_packed_words(&s));
    conv_bf16_pack(&s, c->w, c->wp);
}

static void case_close(conv_case *c)
{
    sn_tensor *all[] = {&c->xa, &c->xb, &c->x, &c->yr, &c->yk, &c->yf};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sn_tensor_free(all[i]);
    free(c->w);
    free(c->b);
    free(c->wp);
}

/* The reference is a convolution: within bf16 rounding (2^-7 of the sum of |terms|: 2^-8 for
 * each operand; the sum is bounded here by cin * 9 * 0.5) of the float32 reference, and not
 * equal to it. */
static void test_ref_vs_fp32(int cin, int cout, int h, int w)
{
    conv_case c;
    case_open(&c, cin, 0, cout, 2, h, w);
    const sn_conv_shape s = {cin, cout, 3, 0, 0};
    const sn_tensor *src[1] = {&c.xa};
    conv_forward_bf16_ref(&s, src, 1, c.w, c.b, &c.yr);
    conv_forward_ref(&s, &c.x, c.w, c.b, &c.yf);
    const double tol = 0x1p-7 * cin * 9 * 0.5;
    double worst = 0;
    for (size_t i = 0; i < sn_tensor_numel(&c.yr); i++) {
        const double d = fabs((double)c.yr.data[i] - c.yf.data[i]);
        worst = d > worst ? d : worst;
    }
    EXPECT_MSG(worst <= tol && worst > 0, "bf16 reference vs float32 (cin %d): max |diff| %g, bound %g", cin, worst,
               tol);
    case_close(&c);
}

/* Kernel against the reference, with and without the fused ReLU. */
static void test_kernel(int cin_a, int cin_b, int cout, int n, int h, int w)
{
    conv_case c;
    case_open(&c, cin_a, cin_b, cout, n, h, w);
    const int cin = cin_a + cin_b;
    const sn_tensor *src[2] = {&c.xa, &c.xb};
    for (int relu = 0; relu < 2; relu++) {
        const sn_conv_shape s = {cin, cout, 3, relu, 0};
        EXPECT(conv_bf16_supported(&s, h, w));
        conv_forward_bf16_ref(&s, src, cin_b ? 2 : 1, c.w, c.b, &c.yr);
        memset(c.yk.data, 0xff, sn_tensor_numel(&c.yk) * sizeof(float)); /* NaN: every output written */
        EXPECT(conv_forward_bf16(&s, src, cin_b ? 2 : 1, c.wp, c.b, &c.yk) == SN_OK);
        /* the same products summed in the same order: equal but for how the instruction rounds
         * its two additions, far below 1e-5 of outputs of order 1 */
        char what[96];
        snprintf(what, sizeof what, "bf16 kernel vs reference (cin %d+%d, cout %d, %dx%d, relu %d)", cin_a, cin_b,
                 cout, h, w, relu);
        EXPECT_ALLCLOSE(c.yk.data, c.yr.data, sn_tensor_numel(&c.yr), 1e-5, 1e-5, what);
    }
    case_close(&c);
}

/* The kernel converts activations as sn_bf16_from_float does, bit for bit: a 1-channel
 * identity convolution (centre tap 1) over the conversion's hard values. */
static void test_kernel_conversion(void)
{
    const int h = 2, w = 16;
    sn_tensor x, y;
    sn_tensor_alloc(&x, 1, 1, h, w, "x");
    sn_tensor_alloc(&y, 1, 1, h, w, "y");
    static const uint32_t vals[] = {0x3F808000u, 0x3F818000u, 0x3F808001u, 0x3F7FFFFFu, 0x00800000u, 0x3F80FFFFu,
                                    0xBF808000u, 0x40490FDBu, 0x3EAAAAABu, 0xC2F6E979u, 0x3DCCCCCDu, 0x00000000u};
    for (int i = 0; i < h * w; i++)
        x.data[i] = i < (int)(sizeof vals / sizeof vals[0]) ? bits_f(vals[i]) : frand() * 100.0f;
    float wt[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0};
    const sn_conv_shape s = {1, 1, 3, 0, 0};
    uint32_t wp[conv_bf16_packed_words(&s)];
    conv_bf16_pack(&s, wt, wp);
    const sn_tensor *src[1] = {&x};
    EXPECT(conv_forward_bf16(&s, src, 1, wp, NULL, &y) == SN_OK);
    int bad = 0;
    for (int i = 0; i < h * w; i++)
        bad += y.data[i] != sn_bf16_to_float(sn_bf16_from_float(x.data[i]));
    EXPECT_MSG(bad == 0, "%d of %d activations converted differently by the kernel", bad, h * w);
    sn_tensor_free(&x);
    sn_tensor_free(&y);
}

/* Whole nets: inference in bf16 against float32, same weights and BatchNorm statistics.
 * Weights 3x the DRAEM init (outputs spread over the sigmoid's range without saturating it) and
 * running statistics from one training forward (momentum 1), so every layer carries signal.
 * Tolerance on the sigmoid outputs: max |diff| <= 0.05 and mean |diff| <= 0.005, and the mean
 * difference under 1/20 of the outputs' own spread. Measured when written (width 8, S 64, two
 * threads): seg max 0.019, mean 0.0018 (spread 0.15); rec max 0.029, mean 0.0033 (spread 0.47).
 * The difference grows with the output convolution's gain (no BatchNorm after it): with 10x
 * weights rec's max reaches 0.3 at a mean of 0.005. */
static void test_unet(sn_net_kind kind, int width, int size)
{
    sn_unet *net = NULL;
    EXPECT(sn_unet_create(&net, kind, width, 1, 1e-5, 1.0) == SN_OK);
    if (!net)
        return;
    sn_unet_init(net, 5);
    float *p = sn_unet_params(net);
    for (size_t i = 0; i < sn_unet_param_count(net); i++)
        p[i] *= 3.0f;
    sn_tensor x;
    sn_tensor_alloc(&x, 2, 3, size, size, "x");
    for (size_t i = 0; i < sn_tensor_numel(&x); i++)
        x.data[i] = 0.5f + 0.5f * frand();
    const sn_tensor *out;
    EXPECT(sn_unet_forward(net, &x, 1, NULL, &out) == SN_OK); /* running statistics */
    EXPECT(sn_unet_forward(net, &x, 0, NULL, &out) == SN_OK);
    const size_t n = sn_tensor_numel(out);
    float *ref = malloc(n * sizeof(float));
    memcpy(ref, out->data, n * sizeof(float));
    EXPECT(sn_unet_set_precision(net, SN_PREC_BF16) == SN_OK);
    EXPECT(sn_unet_forward(net, &x, 0, NULL, &out) == SN_OK);
    double mx = 0, sum = 0, spread = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)out->data[i] - ref[i]);
        mx = d > mx ? d : mx;
        sum += d;
        spread += fabs((double)ref[i] - ref[0]);
    }
    printf("%s net, width %d, S %d: bf16 vs float32 output: max |diff| %.3g, mean %.3g (mean |out - out[0]| "
           "%.3g)\n", sn_unet_kind_name(kind), width, size, mx, sum / n, spread / n);
    EXPECT_MSG(mx <= 0.05 && sum / n <= 0.005, "%s: bf16 output too far from float32 (max %g, mean %g)",
               sn_unet_kind_name(kind), mx, sum / n);
    EXPECT_MSG(mx > 0, "%s: bf16 output equals float32 exactly: the bf16 path did not run", sn_unet_kind_name(kind));
    EXPECT_MSG(spread / n > 20 * (sum / n), "%s: the outputs vary too little for the comparison to mean anything",
               sn_unet_kind_name(kind));
    /* and back: float32 again reproduces the first result exactly */
    EXPECT(sn_unet_set_precision(net, SN_PREC_FP32) == SN_OK);
    EXPECT(sn_unet_forward(net, &x, 0, NULL, &out) == SN_OK);
    EXPECT(memcmp(out->data, ref, n * sizeof(float)) == 0);
    free(ref);
    sn_tensor_free(&x);
    sn_unet_free(net);
}

int main(void)
{
    test_conversion();
    test_ref_vs_fp32(3, 4, 8, 16);
    test_ref_vs_fp32(24, 5, 6, 32);
    if (!conv_bf16_available()) {
        sn_unet *net = NULL;
        EXPECT(sn_unet_create(&net, SN_NET_SEG, 4, 1, 1e-5, 0.1) == SN_OK);
        EXPECT(net && sn_unet_set_precision(net, SN_PREC_BF16) == SN_EINVAL &&
               strstr(sn_err_msg(), "precision = bf16") != NULL);
        sn_unet_free(net);
        printf("skipped: the bf16 kernel checks (this CPU does not report AVX512_BF16, or "
               "SERNET_NO_BF16 is set)\n");
        return sn_test_finish();
    }
    test_kernel_conversion();
    test_kernel(3, 0, 4, 1, 4, 16);     /* the first layer: 3 channels, one pair half empty */
    test_kernel(1, 0, 1, 1, 3, 16);     /* one channel, one output channel (3 padded) */
    test_kernel(5, 0, 6, 2, 5, 48);     /* odd channels, cout not a multiple of 4, 3 vectors a row */
    test_kernel(3, 5, 8, 2, 7, 32);     /* two sources, a pair straddling them */
    test_kernel(8, 8, 16, 1, 9, 112);   /* 7 vectors a row: blocks cross rows */
    test_kernel(120, 81, 220, 1, 20, 64); /* bands of rows and output-channel chunks */
    test_unet(SN_NET_SEG, 8, 64);
    test_unet(SN_NET_REC, 8, 64);
    return sn_test_finish();
}
