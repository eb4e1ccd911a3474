/* Direct 3x3 convolution, forward only, AVX-512: no column matrix and no packing of the image,
 * with the bias and an optional ReLU applied while the outputs are still in registers.
 * Shapes: x [N, Cin, H, W] (as channel-concatenated sources), w [Cout, Cin, 3, 3], b [Cout],
 * y [N, Cout, H, W]; supported when W is a multiple of 16 (Cout not a multiple of 4 is padded
 * with zero weights, and the padded channels are not stored).
 * Register block: 4 output channels x NV vectors of 16 pixels (NV <= 6), the vectors taken in
 * raster order over a band of rows, so small images (one vector per row) still fill the block.
 * For each input channel and tap the block loads NV input vectors (masked at the image border)
 * and broadcasts 4 weights: 4*NV fused multiply-adds for NV + 4 loads. Every output sums its
 * input channels and taps in a fixed order, so results do not depend on the thread count.
 * Work items are (image, band of rows, chunk of output channels), split statically. */
#include "sernet/nn.h"
#include "nn/workspace.h"

#include <omp.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>

#define COB 4   /* output channels per register block */
#define NVMAX 6 /* 16-pixel vectors per register block */

/* Per register block, for each of the 9 taps and each vector: where the tap's 16 input pixels
 * start (relative to the channel plane) and the load mask (0 outside the image). */
typedef struct {
    int nv;
    long off[9][NVMAX];
    __mmask16 m[9][NVMAX];
    long out[NVMAX]; /* pixel index of the vector in the output plane */
} pix_block;

static void make_block(pix_block *pb, int p0, int nv, int h, int w)
{
    pb->nv = nv;
    for (int v = 0; v < nv; v++) {
        const int p = p0 + 16 * v, r = p / w, x = p % w;
        pb->out[v] = p;
        for (int ky = 0; ky < 3; ky++) {
            const int sr = r + ky - 1;
            const int inside = sr >= 0 && sr < h;
            for (int kx = 0; kx < 3; kx++) {
                __mmask16 m = inside ? 0xFFFF : 0;
                if (kx == 0 && x == 0)
                    m &= 0xFFFE; /* column -1 */
                if (kx == 2 && x + 16 == w)
                    m &= 0x7FFF; /* column w */
                pb->m[ky * 3 + kx][v] = m;
                /* a masked-out load touches no memory; keep the address inside the plane anyway */
                pb->off[ky * 3 + kx][v] = (inside ? (long)sr * w : (long)r * w) + x + kx - 1;
            }
        }
    }
}

/* One register block: 4 output channels (weights wp, packed [cin][9][4]) x nv vectors. */
static inline __attribute__((always_inline)) void kernel(const int nv, const pix_block *pb,
                                                         const float *const *planes, int cin, int nco,
                                                         const float *wp, const float *bias, int relu,
                                                         float *y0, size_t ystride)
{
    __m512 acc[COB][NVMAX];
#pragma GCC unroll 4
    for (int j = 0; j < COB; j++)
#pragma GCC unroll 6
        for (int v = 0; v < nv; v++)
            acc[j][v] = _mm512_setzero_ps();
    for (int c = 0; c < cin; c++) {
        const float *pl = planes[c];
        const float *wc = wp + (size_t)c * 36;
        /* The loops over taps, vectors and channels of the block are unrolled, so the 24
         * accumulators live in registers (without full unrolling GCC kept the array on the stack
         * and stored it after every FMA: a third slower). */
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++) {
            const __m512 w0 = _mm512_set1_ps(wc[t * 4 + 0]), w1 = _mm512_set1_ps(wc[t * 4 + 1]);
            const __m512 w2 = _mm512_set1_ps(wc[t * 4 + 2]), w3 = _mm512_set1_ps(wc[t * 4 + 3]);
#pragma GCC unroll 6
            for (int v = 0; v < nv; v++) {
                const __m512 xv = _mm512_maskz_loadu_ps(pb->m[t][v], pl + pb->off[t][v]);
                acc[0][v] = _mm512_fmadd_ps(w0, xv, acc[0][v]);
                acc[1][v] = _mm512_fmadd_ps(w1, xv, acc[1][v]);
                acc[2][v] = _mm512_fmadd_ps(w2, xv, acc[2][v]);
                acc[3][v] = _mm512_fmadd_ps(w3, xv, acc[3][v]);
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

static void run_block(const pix_block *pb, const float *const *planes, int cin, int nco, const float *wp,
                      const float *bias, int relu, float *y0, size_t ystride)
{
    switch (pb->nv) {
    case 6: kernel(6, pb, planes, cin, nco, wp, bias, relu, y0, ystride); break;
    case 5: kernel(5, pb, planes, cin, nco, wp, bias, relu, y0, ystride); break;
    case 4: kernel(4, pb, planes, cin, nco, wp, bias, relu, y0, ystride); break;
    case 3: kernel(3, pb, planes, cin, nco, wp, bias, relu, y0, ystride); break;
    case 2: kernel(2, pb, planes, cin, nco, wp, bias, relu, y0, ystride); break;
    default: kernel(1, pb, planes, cin, nco, wp, bias, relu, y0, ystride); break;
    }
}

int conv_direct_supported(const sn_conv_shape *s, int h, int w)
{
    (void)h;
    return s->k == 3 && s->cout > 0 && s->cin > 0 && w % 16 == 0 && w > 0;
}

sn_status conv_forward_direct(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                              const float *b, sn_tensor *y)
{
    const int n = x[0]->n, h = x[0]->h, wd = x[0]->w, cin = s->cin, cout = s->cout;
    SN_ASSERT(conv_direct_supported(s, h, wd));
    SN_ASSERT(conv_sources_ok(s, x, nx, y));
    const size_t hw = (size_t)h * wd;
    /* weights repacked [ceil(cout/4)][cin][9][4], zero-padded: the 4 broadcasts of a tap are
     * adjacent */
    const int groups = (cout + COB - 1) / COB;
    float *wp = sn_ws_get(SN_WS_PACK, (size_t)groups * COB * cin * 9);
    if (!wp)
        return SN_ENOMEM;
    for (int g = 0; g < groups; g++)
        for (int c = 0; c < cin; c++)
            for (int t = 0; t < 9; t++)
                for (int j = 0; j < COB; j++)
                    wp[(((size_t)g * cin + c) * 9 + t) * COB + j] =
                        g * COB + j < cout ? w[(((size_t)g * COB + j) * cin + c) * 9 + t] : 0.0f;

    const int threads = omp_get_max_threads();
    /* bands of rows whose input (all channels, with the halo) stays in the L2 cache */
    int rows = (int)SN_MAX(1L, (long)((256 * 1024) / ((size_t)cin * wd * sizeof(float))) - 2);
    rows = SN_MIN(rows, h);
    /* output-channel chunks whose packed weights stay in the L2 cache too */
    int chunk = (int)SN_MAX(COB, (384 * 1024) / ((size_t)cin * 9 * sizeof(float)) / COB * COB);
    chunk = SN_MIN(chunk, cout);
    while (rows > 1 && (size_t)n * ((h + rows - 1) / rows) * ((cout + chunk - 1) / chunk) < (size_t)2 * threads)
        rows = (rows + 1) / 2;
    const int bands = (h + rows - 1) / rows, chunks = (cout + chunk - 1) / chunk;
    const long items = (long)n * bands * chunks;
    int failed = 0;

#pragma omp parallel reduction(| : failed)
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const long i0 = items * id / nt, i1 = items * (id + 1) / nt;
        const float **planes = i1 > i0 ? (const float **)(void *)sn_ws_get(SN_WS_COL, (size_t)cin * 2) : NULL;
        if (i1 > i0 && !planes)
            failed = 1;
        int last_img = -1;
        for (long it = i0; it < i1 && planes; it++) {
            const int img = (int)(it / ((long)bands * chunks));
            const int band = (int)(it / chunks % bands), ch = (int)(it % chunks);
            if (img != last_img) {
                int c = 0;
                for (int i = 0; i < nx; i++)
                    for (int cc = 0; cc < x[i]->c; cc++)
                        planes[c++] = x[i]->data + ((size_t)img * x[i]->c + cc) * hw;
                last_img = img;
            }
            const int p_begin = band * rows * wd, p_end = SN_MIN(h, (band + 1) * rows) * wd;
            const int co0 = ch * chunk, co1 = SN_MIN(cout, co0 + chunk);
            for (int p = p_begin; p < p_end; p += 16 * NVMAX) {
                pix_block pb;
                make_block(&pb, p, SN_MIN(NVMAX, (p_end - p) / 16), h, wd);
                for (int co = co0; co < co1; co += COB)
                    run_block(&pb, planes, cin, SN_MIN(COB, cout - co), wp + (size_t)co * cin * 9, b ? b + co : NULL, s->relu,
                              y->data + ((size_t)img * cout + co) * hw, hw);
            }
        }
    }
    return failed ? SN_ENOMEM : SN_OK;
}

#else /* no AVX-512: the GEMM path serves every layer */

int conv_direct_supported(const sn_conv_shape *s, int h, int w)
{
    (void)s;
    (void)h;
    (void)w;
    return 0;
}

sn_status conv_forward_direct(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                              const float *b, sn_tensor *y)
{
    (void)x;
    (void)nx;
    (void)w;
    (void)b;
    (void)y;
    SN_ASSERT(conv_direct_supported(s, 0, 0));
    return SN_EINVAL;
}

#endif
