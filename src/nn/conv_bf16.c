/* bfloat16 direct 3x3 convolution with float32 accumulation (AVX512_BF16), inference only.
 * Shapes: x [N, Cin, H, W] (as channel-concatenated sources), packed weights wp
 * [ceil(Cout/4)][ceil(Cin/2)][9][4] bf16 pairs (conv_bf16_pack), b [Cout], y [N, Cout, H, W];
 * supported when W is a multiple of 16.
 * The layout follows the float32 direct kernel (src/nn/conv_direct.c): a register block of 4
 * output channels x NV vectors of 16 pixels in raster order over a band of rows. What differs:
 * VDPBF16PS multiplies pairs of bf16 and adds both products to a float32 lane, so the pair runs
 * over two input channels: per work item, the band's input rows (with the halo rows above and
 * below, zero outside the image) are converted once into "pair planes", one 32-bit word per
 * pixel holding channels 2c (low half) and 2c+1 (high half) rounded to nearest even; a block
 * then does 4*NV dot products per channel pair and tap where the float kernel did 4*NV FMAs per
 * channel and tap: half the instructions, and half the bytes of input read.
 * The kernel is compiled for AVX512_BF16 with a target attribute whatever the build flags, and
 * called only when the CPU reports it (conv_bf16_available); the scalar reference at the end
 * of the file builds everywhere. */
#include "sernet/conv_bf16.h"
#include "nn/workspace.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- scalar conversion and the plain reference (any CPU) --------------------------------- */

uint16_t sn_bf16_from_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu)) /* NaN: keep it a quiet NaN */
        return (uint16_t)((u >> 16) | 0x0040u);
    if ((u & 0x7F800000u) == 0) /* zero or denormal: a zero of the same sign */
        return (uint16_t)((u >> 16) & 0x8000u);
    u += 0x7FFFu + ((u >> 16) & 1u); /* round to nearest, ties to even (overflow gives inf) */
    return (uint16_t)(u >> 16);
}

float sn_bf16_to_float(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float bf16_round(float f) { return sn_bf16_to_float(sn_bf16_from_float(f)); }

int conv_bf16_supported(const sn_conv_shape *s, int h, int w)
{
    (void)h;
    return s->k == 3 && s->cin > 0 && s->cout > 0 && w > 0 && w % 16 == 0;
}

#define COB 4 /* output channels per register block */

size_t conv_bf16_packed_words(const sn_conv_shape *s)
{
    return (size_t)((s->cout + COB - 1) / COB) * ((s->cin + 1) / 2) * 9 * COB;
}

void conv_bf16_pack(const sn_conv_shape *s, const float *w, uint32_t *wp)
{
    SN_ASSERT(s->k == 3);
    const int groups = (s->cout + COB - 1) / COB, cp = (s->cin + 1) / 2;
    for (int g = 0; g < groups; g++)
        for (int c = 0; c < cp; c++)
            for (int t = 0; t < 9; t++)
                for (int j = 0; j < COB; j++) {
                    const int co = g * COB + j;
                    uint32_t word = 0;
                    for (int half = 0; half < 2; half++) {
                        const int ci = 2 * c + half;
                        if (co < s->cout && ci < s->cin)
                            word |= (uint32_t)sn_bf16_from_float(w[((size_t)co * s->cin + ci) * 9 + t]) << (16 * half);
                    }
                    wp[(((size_t)g * cp + c) * 9 + t) * COB + j] = word;
                }
}

/* What the instruction does with a product below the normal range: flush it to zero. */
static float flush(float p) { return fabsf(p) < 0x1p-126f ? 0.0f * p : p; }

void conv_forward_bf16_ref(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                           const float *b, sn_tensor *y)
{
    const int n = x[0]->n, h = x[0]->h, wd = x[0]->w, cin = s->cin, cout = s->cout;
    SN_ASSERT(s->k == 3 && nx >= 1 && nx <= SN_CONV_MAX_SRC);
    SN_ASSERT(y->n == n && y->c == cout && y->h == h && y->w == wd);
    const float **planes = malloc(sizeof(*planes) * (size_t)cin);
    SN_ASSERT(planes); /* a test reference: no recovery from a failed allocation */
    const size_t hw = (size_t)h * wd;
    for (int img = 0; img < n; img++) {
        int c = 0;
        for (int i = 0; i < nx; i++)
            for (int cc = 0; cc < x[i]->c; cc++)
                planes[c++] = x[i]->data + ((size_t)img * x[i]->c + cc) * hw;
        SN_ASSERT(c == cin);
        for (int co = 0; co < cout; co++)
            for (int r = 0; r < h; r++)
                for (int q = 0; q < wd; q++) {
                    float acc = 0.0f;
                    for (int cp = 0; cp < (cin + 1) / 2; cp++)
                        for (int t = 0; t < 9; t++) {
                            const int sr = r + t / 3 - 1, sq = q + t % 3 - 1;
                            for (int half = 0; half < 2; half++) {
                                const int ci = 2 * cp + half;
                                if (ci >= cin || sr < 0 || sr >= h || sq < 0 || sq >= wd)
                                    continue;
                                const float xv = bf16_round(planes[ci][(size_t)sr * wd + sq]);
                                const float wv = bf16_round(w[((size_t)co * cin + ci) * 9 + t]);
                                acc += flush(xv * wv); /* exact in float32: 8-bit significands */
                            }
                        }
                    float o = acc + (b ? b[co] : 0.0f);
                    if (s->relu && o < 0.0f)
                        o = 0.0f;
                    y->data[((size_t)img * cout + co) * hw + (size_t)r * wd + q] = o;
                }
    }
    free(planes);
}

/* ---- the AVX512_BF16 kernel ---------------------------------------------------------------- */

/* x86 with a compiler that knows AVX512_BF16 (GCC 10, Clang 9); -DSN_NO_BF16_KERNEL builds the
 * fallback (what other architectures get) for testing that it compiles. */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(SN_NO_BF16_KERNEL) &&                          \
    ((defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 10) || (defined(__clang__) && __clang_major__ >= 9))
#define SN_BF16_KERNEL 1
#endif

#ifdef SN_BF16_KERNEL
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))
#define NVMAX 6 /* 16-pixel vectors per register block */

static int bf16_cpu;
static pthread_once_t bf16_once = PTHREAD_ONCE_INIT;

static void bf16_detect(void)
{
    const char *off = getenv("SERNET_NO_BF16"); /* tests: act as a CPU without it */
    __builtin_cpu_init();
    bf16_cpu = !(off && off[0] && strcmp(off, "0") != 0) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16");
}

/* Read once, so concurrent first calls (the inspection API's workers) agree. */
int conv_bf16_available(void)
{
    pthread_once(&bf16_once, bf16_detect);
    return bf16_cpu;
}

/* Per register block, for each tap and vector: the word offset of its 16 input pixels in a
 * pair plane of the band buffer, and the load mask (the left and right image border). */
typedef struct {
    int nv;
    long off[9][NVMAX];
    __mmask16 m[9][NVMAX];
    long out[NVMAX]; /* pixel index of the vector in the output plane */
} pix_block;

/* Band buffer row j holds image row r0 - 1 + j. */
static void make_block(pix_block *pb, int p0, int nv, int r0, int w)
{
    pb->nv = nv;
    for (int v = 0; v < nv; v++) {
        const int p = p0 + 16 * v, r = p / w, q = p % w;
        pb->out[v] = p;
        for (int t = 0; t < 9; t++) {
            const int ky = t / 3, kx = t % 3;
            __mmask16 m = 0xFFFF;
            if (kx == 0 && q == 0)
                m &= 0xFFFE; /* column -1 */
            if (kx == 2 && q + 16 == w)
                m &= 0x7FFF; /* column w */
            pb->m[t][v] = m;
            pb->off[t][v] = (long)(r - r0 + ky) * w + q + kx - 1;
        }
    }
}

/* One register block: 4 output channels (packed weights wp, [cp][9][4]) x nv vectors. */
static inline __attribute__((always_inline)) BF16_TARGET void kernel(const int nv, const pix_block *pb,
                                                                     const uint32_t *xb, size_t pstride, int cp,
                                                                     int nco, const uint32_t *wp, const float *bias,
                                                                     int relu, float *y0, size_t ystride)
{
    __m512 acc[COB][NVMAX];
#pragma GCC unroll 4
    for (int j = 0; j < COB; j++)
#pragma GCC unroll 6
        for (int v = 0; v < nv; v++)
            acc[j][v] = _mm512_setzero_ps();
    for (int c = 0; c < cp; c++) {
        const uint32_t *pl = xb + (size_t)c * pstride;
        const uint32_t *wc = wp + (size_t)c * 36;
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++) {
            const __m512bh w0 = (__m512bh)_mm512_set1_epi32((int)wc[t * 4 + 0]);
            const __m512bh w1 = (__m512bh)_mm512_set1_epi32((int)wc[t * 4 + 1]);
            const __m512bh w2 = (__m512bh)_mm512_set1_epi32((int)wc[t * 4 + 2]);
            const __m512bh w3 = (__m512bh)_mm512_set1_epi32((int)wc[t * 4 + 3]);
#pragma GCC unroll 6
            for (int v = 0; v < nv; v++) {
                const __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi32(pb->m[t][v], pl + pb->off[t][v]);
                acc[0][v] = _mm512_dpbf16_ps(acc[0][v], xv, w0);
                acc[1][v] = _mm512_dpbf16_ps(acc[1][v], xv, w1);
                acc[2][v] = _mm512_dpbf16_ps(acc[2][v], xv, w2);
                acc[3][v] = _mm512_dpbf16_ps(acc[3][v], xv, w3);
            }
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < COB; j++) {
        if (j >= nco) /* the zero-padded channels of a last group */
            break;
        const __m512 bv = _mm512_set1_ps(bias ? bias[j] : 0.0f);
#pragma GCC unroll 6
        for (int v = 0; v < nv; v++) {
            __m512 o = _mm512_add_ps(acc[j][v], bv);
            if (relu) /* max(o, 0) with a NaN passing through, as the ReLU layer does */
                o = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(o, _mm512_setzero_ps(), _CMP_LT_OQ), o,
                                         _mm512_setzero_ps());
            _mm512_storeu_ps(y0 + (size_t)j * ystride + pb->out[v], o);
        }
    }
}

static BF16_TARGET void run_block(const pix_block *pb, const uint32_t *xb, size_t pstride, int cp, int nco,
                                  const uint32_t *wp, const float *bias, int relu, float *y0, size_t ystride)
{
    switch (pb->nv) {
    case 6: kernel(6, pb, xb, pstride, cp, nco, wp, bias, relu, y0, ystride); break;
    case 5: kernel(5, pb, xb, pstride, cp, nco, wp, bias, relu, y0, ystride); break;
    case 4: kernel(4, pb, xb, pstride, cp, nco, wp, bias, relu, y0, ystride); break;
    case 3: kernel(3, pb, xb, pstride, cp, nco, wp, bias, relu, y0, ystride); break;
    case 2: kernel(2, pb, xb, pstride, cp, nco, wp, bias, relu, y0, ystride); break;
    default: kernel(1, pb, xb, pstride, cp, nco, wp, bias, relu, y0, ystride); break;
    }
}

/* Image rows r0-1 .. r1 of every channel pair into the band buffer xb (pair planes pstride
 * words apart, rows w words apart); rows outside the image and a missing last channel are 0. */
static BF16_TARGET void convert_band(const float *const *planes, int cin, int h, int w, int r0, int r1,
                                     uint32_t *xb, size_t pstride)
{
    const int cp = (cin + 1) / 2;
    for (int c = 0; c < cp; c++) {
        const float *lo = planes[2 * c], *hi = 2 * c + 1 < cin ? planes[2 * c + 1] : NULL;
        for (int sr = r0 - 1; sr <= r1; sr++) {
            uint32_t *d = xb + (size_t)c * pstride + (size_t)(sr - r0 + 1) * w;
            if (sr < 0 || sr >= h) {
                memset(d, 0, sizeof(uint32_t) * (size_t)w);
                continue;
            }
            const float *a = lo + (size_t)sr * w, *bb = hi ? hi + (size_t)sr * w : NULL;
            for (int q = 0; q < w; q += 16) {
                __m512i pair = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(a + q)));
                if (bb) {
                    const __m512i up = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(bb + q)));
                    pair = _mm512_or_si512(pair, _mm512_slli_epi32(up, 16));
                }
                _mm512_storeu_si512((void *)(d + q), pair);
            }
        }
    }
}

sn_status conv_forward_bf16(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const uint32_t *wp,
                            const float *b, sn_tensor *y)
{
    const int n = x[0]->n, h = x[0]->h, wd = x[0]->w, cin = s->cin, cout = s->cout;
    SN_ASSERT(conv_bf16_available() && conv_bf16_supported(s, h, wd));
    SN_ASSERT(conv_sources_ok(s, x, nx, y));
    const size_t hw = (size_t)h * wd;
    const int cp = (cin + 1) / 2;
    const int threads = omp_get_max_threads();
    /* bands of rows whose converted input (all channel pairs, with the halo) stays in the L2
     * cache: 2 bytes per channel and pixel */
    int rows = (int)SN_MAX(1L, (long)((256 * 1024) / ((size_t)cp * wd * 4)) - 2);
    rows = SN_MIN(rows, h);
    /* output-channel chunks whose packed weights stay in the L2 cache too */
    int chunk = (int)SN_MAX(COB, (384 * 1024) / ((size_t)cp * 9 * 4) / COB * COB);
    chunk = SN_MIN(chunk, cout);
    while (rows > 1 && (size_t)n * ((h + rows - 1) / rows) * ((cout + chunk - 1) / chunk) < (size_t)2 * threads)
        rows = (rows + 1) / 2;
    const int bands = (h + rows - 1) / rows, chunks = (cout + chunk - 1) / chunk;
    const long items = (long)n * bands * chunks;
    /* per thread: the channels' plane pointers, then the band buffer with 16 spare words
     * before and after (the masked-off border lanes of the first and last rows point there) */
    const size_t pstride = (size_t)(rows + 2) * wd;
    const size_t ptr_words = ((size_t)cin * sizeof(float *) / sizeof(float) + 15) / 16 * 16;
    const size_t ws_words = ptr_words + 16 + (size_t)cp * pstride + 16;
    int failed = 0;

#pragma omp parallel reduction(| : failed)
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const long i0 = items * id / nt, i1 = items * (id + 1) / nt;
        float *ws = i1 > i0 ? sn_ws_get(SN_WS_COL, ws_words) : NULL;
        if (i1 > i0 && !ws)
            failed = 1;
        const float **planes = (const float **)(void *)ws;
        uint32_t *xb = ws ? (uint32_t *)(void *)(ws + ptr_words + 16) : NULL;
        int last_img = -1, last_band = -1;
        for (long it = i0; it < i1 && ws; it++) {
            const int img = (int)(it / ((long)bands * chunks));
            const int band = (int)(it / chunks % bands), ch = (int)(it % chunks);
            const int r0 = band * rows, r1 = SN_MIN(h, r0 + rows);
            if (img != last_img || band != last_band) { /* consecutive chunks share the band */
                int c = 0;
                for (int i = 0; i < nx; i++)
                    for (int cc = 0; cc < x[i]->c; cc++)
                        planes[c++] = x[i]->data + ((size_t)img * x[i]->c + cc) * hw;
                convert_band(planes, cin, h, wd, r0, r1, xb, pstride);
                last_img = img;
                last_band = band;
            }
            const int p_begin = r0 * wd, p_end = r1 * wd;
            const int co0 = ch * chunk, co1 = SN_MIN(cout, co0 + chunk);
            for (int p = p_begin; p < p_end; p += 16 * NVMAX) {
                pix_block pb;
                make_block(&pb, p, SN_MIN(NVMAX, (p_end - p) / 16), r0, wd);
                for (int co = co0; co < co1; co += COB)
                    run_block(&pb, xb, pstride, cp, SN_MIN(COB, cout - co), wp + (size_t)co * cp * 9,
                              b ? b + co : NULL, s->relu, y->data + ((size_t)img * cout + co) * hw, hw);
            }
        }
    }
    return failed ? SN_ENOMEM : SN_OK;
}

#else /* not x86, or a compiler without AVX512_BF16: float32 inference only */

int conv_bf16_available(void) { return 0; }

sn_status conv_forward_bf16(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const uint32_t *wp,
                            const float *b, sn_tensor *y)
{
    (void)s;
    (void)x;
    (void)nx;
    (void)wp;
    (void)b;
    (void)y;
    SN_ASSERT(conv_bf16_available());
    return SN_EINVAL;
}

#endif
