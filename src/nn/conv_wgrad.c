/* Direct 3x3 weight gradient, AVX-512: dW[co][ci][ky][kx] += sum over n, p of
 * dy[n][co][p] * x[n][ci][p shifted by (ky-1, kx-1)], read straight from NCHW, with no column
 * matrix and no GEMM packing. The bias gradient db[co] += sum over n, p of dy[n][co][p] comes in
 * the same pass.
 * Shapes: x [N, Cin, H, W] (as channel-concatenated sources), dy [N, Cout, H, W],
 * dw [Cout, Cin, 3, 3] (+=), db [Cout] (+=). Any W: a row is cut into 16-pixel vectors, the last
 * one masked; rows above and below the image read a row of zeros.
 * Register block: 3 output channels x 9 taps = 27 accumulators of 16 pixels for one input
 * channel. For each vector of pixels the block loads 3 dy vectors and the 9 shifted x vectors
 * (masked at the image border) and does 27 fused multiply-adds; the accumulators are summed
 * across their 16 lanes once per work item.
 * Work items are bands of rows of one image, or groups of whole small images (so the lane sums
 * stay rare at the deep levels), split statically over the threads. Each thread sums into its
 * own partial dW, and the partials are added in thread order, as the GEMM path does: results are
 * reproducible for a fixed thread count. Plain reference: conv_backward_ref (src/nn/ref.c). */
#include "sernet/nn.h"
#include "nn/workspace.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>

#define COB 3 /* output channels per register block */

/* Bytes of x and dy an item may span: the band is read once per block of output channels, so it
 * should stay in the per-core L2 cache (2 MiB on the machine measured). */
#define ITEM_BYTES (1024 * 1024)
/* Pixels an item should at least have, so that summing the 27 accumulators' lanes (once per
 * item, block and input channel) stays small next to the multiply-adds. */
#define ITEM_MIN_PIXELS 1024

/* The source planes of input channel ci of image 0 and the distance to the next image. */
typedef struct {
    const float *base;
    size_t stride;
} plane_t;

/* One item's pixels: images img0..img0+g-1, rows r0..r1-1 of each. */
typedef struct {
    int img0, g, r0, r1;
} item_t;

static inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

/* 27 accumulators for output channels d[0..2] against input channel plane x over the item's
 * pixels; the lane sums are added to out[j * ostride + tap]. */
static void block(const item_t *it, int h, int w, const float *const d[COB], size_t dstride, plane_t x,
                  const float *zero, float *out, size_t ostride, int nco)
{
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a04 = a00, a05 = a00, a06 = a00,
           a07 = a00, a08 = a00;
    __m512 a10 = a00, a11 = a00, a12 = a00, a13 = a00, a14 = a00, a15 = a00, a16 = a00, a17 = a00, a18 = a00;
    __m512 a20 = a00, a21 = a00, a22 = a00, a23 = a00, a24 = a00, a25 = a00, a26 = a00, a27 = a00, a28 = a00;
    /* masks of the first vector of a row (column 0) and of the last one (column cl), when
     * there are two or more: lanes inside the row (m1), and of the taps one column left (m0) and
     * right (m2) */
    const int cl = (w - 1) / 16 * 16, rem = w - cl;
    const __mmask16 l1 = rem >= 16 ? 0xFFFF : (__mmask16)((1u << rem) - 1);
    const __mmask16 l2 = rem >= 17 ? 0xFFFF : (__mmask16)((1u << (rem - 1)) - 1);
    const __mmask16 l0 = cl == 0 ? (__mmask16)(l1 & 0xFFFE) : l1;
    const __mmask16 f1 = cl == 0 ? l1 : 0xFFFF, f2 = cl == 0 ? l2 : 0xFFFF;
    const __mmask16 f0 = (__mmask16)(f1 & 0xFFFE);
    for (int im = it->img0; im < it->img0 + it->g; im++) {
        const float *xp = x.base + (size_t)im * x.stride;
        const size_t doff = (size_t)im * dstride;
        for (int r = it->r0; r < it->r1; r++) {
            const float *x0 = r > 0 ? xp + (size_t)(r - 1) * w : zero;
            const float *x1 = xp + (size_t)r * w;
            const float *x2 = r + 1 < h ? xp + (size_t)(r + 1) * w : zero;
            const float *d0 = d[0] + doff + (size_t)r * w, *d1 = d[1] + doff + (size_t)r * w;
            const float *d2 = d[2] + doff + (size_t)r * w;
            /* one vector of 16 pixels from column c */
#define TAP(row, mask, off, t)                                                                                   \
    v = _mm512_maskz_loadu_ps(mask, row + c + (off));                                                            \
    __asm__("" : "+v"(v)); /* one load for the three FMAs: GCC would fold it into each of them */               \
    a0##t = _mm512_fmadd_ps(g0, v, a0##t);                                                                       \
    a1##t = _mm512_fmadd_ps(g1, v, a1##t);                                                                       \
    a2##t = _mm512_fmadd_ps(g2, v, a2##t);
#define VEC(m0, m1, m2)                                                                                          \
    do {                                                                                                         \
        const __m512 g0 = _mm512_maskz_loadu_ps(m1, d0 + c);                                                     \
        const __m512 g1 = _mm512_maskz_loadu_ps(m1, d1 + c);                                                     \
        const __m512 g2 = _mm512_maskz_loadu_ps(m1, d2 + c);                                                     \
        __m512 v;                                                                                                \
        TAP(x0, m0, -1, 0) TAP(x0, m1, 0, 1) TAP(x0, m2, 1, 2)                                                   \
        TAP(x1, m0, -1, 3) TAP(x1, m1, 0, 4) TAP(x1, m2, 1, 5)                                                   \
        TAP(x2, m0, -1, 6) TAP(x2, m1, 0, 7) TAP(x2, m2, 1, 8)                                                   \
    } while (0)
            /* the vectors at the ends of the row need masks (computed once, above); those in
             * between (every tap inside the row) take plain loads */
            int c = 0;
            VEC(f0, f1, f2);
            for (c = 16; c + 16 < w; c += 16)
                VEC(0xFFFF, 0xFFFF, 0xFFFF);
            if (c < w)
                VEC(l0, l1, l2);
#undef VEC
#undef TAP
        }
    }
#define PUT(j, t) out[(size_t)(j) * ostride + (t)] += hsum(a##j##t);
#define PUT9(j) PUT(j, 0) PUT(j, 1) PUT(j, 2) PUT(j, 3) PUT(j, 4) PUT(j, 5) PUT(j, 6) PUT(j, 7) PUT(j, 8)
    PUT9(0)
    if (nco > 1) {
        PUT9(1)
    }
    if (nco > 2) {
        PUT9(2)
    }
#undef PUT9
#undef PUT
}

int conv_wgrad_direct_supported(const sn_conv_shape *s, int h, int w)
{
    return s->k == 3 && s->cin > 0 && s->cout > 0 && h > 0 && w > 0;
}

sn_status conv_wgrad_direct(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *dy,
                            float *dw, float *db)
{
    SN_ASSERT(conv_sources_ok(s, x, nx, dy));
    const int n = x[0]->n, h = x[0]->h, wd = x[0]->w, cin = s->cin, cout = s->cout;
    SN_ASSERT(conv_wgrad_direct_supported(s, h, wd));
    const size_t hw = (size_t)h * wd, nw = (size_t)cout * cin * 9;
    const int threads = omp_get_max_threads();

    /* bands of rows within the cache budget, or groups of whole images */
    const size_t row_bytes = (size_t)(cin + cout) * wd * sizeof(float);
    int rows = (int)SN_MAX(1, ITEM_BYTES / row_bytes);
    rows = SN_MAX(rows, (ITEM_MIN_PIXELS + wd - 1) / wd);
    int group = 1;
    if (rows >= h) {
        rows = h;
        group = (int)SN_MAX(1, ITEM_BYTES / (row_bytes * h));
        group = SN_MAX(group, (int)((ITEM_MIN_PIXELS + hw - 1) / hw));
        group = SN_MIN(group, (n + threads - 1) / threads);
        group = SN_MAX(group, 1);
    } else {
        /* at least two items per thread, so the static split balances */
        while (rows > 1 && (size_t)n * ((h + rows - 1) / rows) < (size_t)2 * threads)
            rows = (rows + 1) / 2;
    }
    const int bands = (h + rows - 1) / rows;
    const int items = group > 1 ? (n + group - 1) / group : n * bands;

    float *partials[256] = {0};
    int failed = 0; /* shared: every thread must see another's failure after the barrier */
#pragma omp parallel
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const int i0 = (int)((long)items * id / nt), i1 = (int)((long)items * (id + 1) / nt);
        /* per thread: the plane table, then a row of zeros (with room for the masked reads) */
        const size_t tab = ((size_t)cin * sizeof(plane_t) + sizeof(float) - 1) / sizeof(float);
        float *col = sn_ws_get(SN_WS_COL, tab + 16 + (size_t)wd + 32);
        float *part = sn_ws_get(SN_WS_PARTIAL, nw + (size_t)cout);
        if (!col || !part || id >= 256) {
#pragma omp atomic write
            failed = 1;
        } else {
            partials[id] = part;
            memset(part, 0, sizeof(float) * (nw + (size_t)cout));
            plane_t *planes = (plane_t *)(void *)col;
            float *zero = col + tab + 16;
            memset(zero - 16, 0, sizeof(float) * ((size_t)wd + 48));
            int ci = 0;
            for (int i = 0; i < nx; i++)
                for (int c = 0; c < x[i]->c; c++, ci++) {
                    planes[ci].base = x[i]->data + (size_t)c * hw;
                    planes[ci].stride = (size_t)x[i]->c * hw;
                }
            const size_t dstride = (size_t)cout * hw;
            for (int k = i0; k < i1; k++) {
                item_t it;
                if (group > 1) {
                    it.img0 = k * group;
                    it.g = SN_MIN(group, n - it.img0);
                    it.r0 = 0;
                    it.r1 = h;
                } else {
                    it.img0 = k / bands;
                    it.g = 1;
                    it.r0 = (k % bands) * rows;
                    it.r1 = SN_MIN(h, it.r0 + rows);
                }
                for (int co = 0; dw && co < cout; co += COB) {
                    const int nco = SN_MIN(COB, cout - co);
                    /* a last block short of channels repeats its first one; those sums are dropped */
                    const float *d[COB];
                    for (int j = 0; j < COB; j++)
                        d[j] = dy->data + (size_t)(co + (j < nco ? j : 0)) * hw;
                    for (int c = 0; c < cin; c++)
                        block(&it, h, wd, d, dstride, planes[c], zero, part + ((size_t)co * cin + c) * 9,
                              (size_t)cin * 9, nco);
                }
                if (db)
                    for (int im = it.img0; im < it.img0 + it.g; im++)
                        for (int co = 0; co < cout; co++) {
                            const float *row = dy->data + ((size_t)im * cout + co) * hw + (size_t)it.r0 * wd;
                            const size_t np = (size_t)(it.r1 - it.r0) * wd;
                            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
                            for (size_t q = 0; q < np; q++)
                                acc += row[q];
                            part[nw + co] += acc;
                        }
            }
        }
#pragma omp barrier
        int any_failed;
#pragma omp atomic read
        any_failed = failed;
        if (!any_failed) {
            /* sum the partials in thread order */
            const size_t total = nw + (size_t)cout;
            const size_t e0 = total * id / nt, e1 = total * (id + 1) / nt;
            for (size_t e = e0; e < e1; e++) {
                float acc = 0.0f;
                for (int q = 0; q < nt; q++)
                    acc += partials[q][e];
                if (e < nw) {
                    if (dw)
                        dw[e] += acc;
                } else if (db) {
                    db[e - nw] += acc;
                }
            }
        }
    }
    return failed ? SN_ENOMEM : SN_OK;
}

#else /* no AVX-512: the GEMM path computes every weight gradient */

int conv_wgrad_direct_supported(const sn_conv_shape *s, int h, int w)
{
    (void)s;
    (void)h;
    (void)w;
    return 0;
}

sn_status conv_wgrad_direct(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *dy,
                            float *dw, float *db)
{
    (void)x;
    (void)nx;
    (void)dy;
    (void)dw;
    (void)db;
    SN_ASSERT(conv_wgrad_direct_supported(s, 0, 0));
    return SN_EINVAL;
}

#endif
