/* Winograd F(2x2, 3x3) convolution, AVX-512 (forward and input gradient; the weight gradient's
 * F(3x3, 2x2) is at the end of the file): 16 multiplications per
 * 2x2 output tile and input channel instead of 36, so 2.25x fewer FMAs than the direct kernel,
 * bought with an input transform (per input channel and tile, shared by all output channels) and
 * an output transform (per output channel and tile, shared by all input channels).
 * Shapes: x [N, Cin, H, W] (as channel-concatenated sources), w [Cout, Cin, 3, 3], b [Cout],
 * y [N, Cout, H, W]; zero padding 1, stride 1; supported when H is even and W a multiple of 32
 * (16 tiles of a tile row fill a vector), with the bias and an optional ReLU applied in the output
 * transform.
 *   U = G g G^T (weights, once per call), V = B^T d B (4x4 input patches), M[xi] = U[xi] . V[xi]
 *   for each of the 16 positions xi of the 4x4 transformed tile (a GEMM over input channels),
 *   Y = A^T M A. With B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 *   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1].
 * Work items are (image, band of tile rows), split statically over the threads; each output
 * sums its input channels in a fixed order, so results do not depend on the thread count. The
 * summation differs from the direct kernel's (the transforms reassociate), so outputs differ from
 * it in the last bits; the plain reference is conv_forward_ref, and
 * conv_winograd_transform_ref below is the scalar form of the three transforms. */
#include "sernet/nn.h"
#include "nn/workspace.h"

#include <omp.h>
#include <string.h>

/* The transforms of one tile, scalar (tests and the reference for the vector code below).
 * d: 4x4 input patch -> v = B^T d B; g: 3x3 weights -> u = G g G^T; m: 4x4 -> y = A^T m A (2x2). */
void conv_winograd_transform_ref(const float d[16], const float g[9], const float m[16], float v[16],
                                 float u[16], float y[4])
{
    float t[16];
    for (int c = 0; c < 4; c++) {
        t[0 * 4 + c] = d[0 * 4 + c] - d[2 * 4 + c];
        t[1 * 4 + c] = d[1 * 4 + c] + d[2 * 4 + c];
        t[2 * 4 + c] = d[2 * 4 + c] - d[1 * 4 + c];
        t[3 * 4 + c] = d[1 * 4 + c] - d[3 * 4 + c];
    }
    for (int r = 0; r < 4; r++) {
        v[r * 4 + 0] = t[r * 4 + 0] - t[r * 4 + 2];
        v[r * 4 + 1] = t[r * 4 + 1] + t[r * 4 + 2];
        v[r * 4 + 2] = t[r * 4 + 2] - t[r * 4 + 1];
        v[r * 4 + 3] = t[r * 4 + 1] - t[r * 4 + 3];
    }
    float gg[12]; /* G g: 4x3 */
    for (int c = 0; c < 3; c++) {
        gg[0 * 3 + c] = g[0 * 3 + c];
        gg[1 * 3 + c] = 0.5f * (g[0 * 3 + c] + g[1 * 3 + c] + g[2 * 3 + c]);
        gg[2 * 3 + c] = 0.5f * (g[0 * 3 + c] - g[1 * 3 + c] + g[2 * 3 + c]);
        gg[3 * 3 + c] = g[2 * 3 + c];
    }
    for (int r = 0; r < 4; r++) {
        u[r * 4 + 0] = gg[r * 3 + 0];
        u[r * 4 + 1] = 0.5f * (gg[r * 3 + 0] + gg[r * 3 + 1] + gg[r * 3 + 2]);
        u[r * 4 + 2] = 0.5f * (gg[r * 3 + 0] - gg[r * 3 + 1] + gg[r * 3 + 2]);
        u[r * 4 + 3] = gg[r * 3 + 2];
    }
    float a[8]; /* A^T m: 2x4 */
    for (int c = 0; c < 4; c++) {
        a[0 * 4 + c] = m[0 * 4 + c] + m[1 * 4 + c] + m[2 * 4 + c];
        a[1 * 4 + c] = m[1 * 4 + c] - m[2 * 4 + c] - m[3 * 4 + c];
    }
    for (int r = 0; r < 2; r++) {
        y[r * 2 + 0] = a[r * 4 + 0] + a[r * 4 + 1] + a[r * 4 + 2];
        y[r * 2 + 1] = a[r * 4 + 1] - a[r * 4 + 2] - a[r * 4 + 3];
    }
}

#if defined(__AVX512F__)
#include <immintrin.h>

#define WCOB 4   /* output channels per register block */
#define WNVMAX 6 /* 16-tile vectors per register block */

/* Input transform of 16 tiles (tile row ti, tile columns tj0..tj0+15) of one channel plane p
 * [h][w]: v[xi * vstride] receives the 16 tiles' value at position xi. */
static inline void in_transform16(const float *p, int h, int w, int ti, int tj0, float *v, size_t vstride)
{
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const int base = 2 * tj0 - 1;
    const __mmask16 m0 = base < 0 ? 0xFFFE : 0xFFFF;
    const __mmask16 m3 = base + 33 < w ? 0xFFFF : 0x7FFF;
    __m512 d[4][4];
    for (int k = 0; k < 4; k++) {
        const int r = 2 * ti - 1 + k;
        if (r < 0 || r >= h) {
            d[k][0] = d[k][1] = d[k][2] = d[k][3] = _mm512_setzero_ps();
            continue;
        }
        const float *row = p + (size_t)r * w + base;
        /* a masked-out lane touches no memory (column -1 of the first tile, column w of the last) */
        const __m512 l0 = _mm512_maskz_loadu_ps(m0, row), l1 = _mm512_loadu_ps(row + 16);
        const __m512 l2 = _mm512_loadu_ps(row + 2), l3 = _mm512_maskz_loadu_ps(m3, row + 18);
        d[k][0] = _mm512_permutex2var_ps(l0, ev, l1);
        d[k][1] = _mm512_permutex2var_ps(l0, od, l1);
        d[k][2] = _mm512_permutex2var_ps(l2, ev, l3);
        d[k][3] = _mm512_permutex2var_ps(l2, od, l3);
    }
    __m512 t[4][4];
    for (int c = 0; c < 4; c++) {
        t[0][c] = _mm512_sub_ps(d[0][c], d[2][c]);
        t[1][c] = _mm512_add_ps(d[1][c], d[2][c]);
        t[2][c] = _mm512_sub_ps(d[2][c], d[1][c]);
        t[3][c] = _mm512_sub_ps(d[1][c], d[3][c]);
    }
    for (int r = 0; r < 4; r++) {
        _mm512_storeu_ps(v + (size_t)(r * 4 + 0) * vstride, _mm512_sub_ps(t[r][0], t[r][2]));
        _mm512_storeu_ps(v + (size_t)(r * 4 + 1) * vstride, _mm512_add_ps(t[r][1], t[r][2]));
        _mm512_storeu_ps(v + (size_t)(r * 4 + 2) * vstride, _mm512_sub_ps(t[r][2], t[r][1]));
        _mm512_storeu_ps(v + (size_t)(r * 4 + 3) * vstride, _mm512_sub_ps(t[r][1], t[r][3]));
    }
}

/* Output transform of 16 tiles of one output channel: m[xi * mstride] -> the 2x32 outputs at
 * rows 2ti, 2ti+1, columns 2tj0.. of the plane y [h][w], plus bias, optional ReLU. */
static inline void out_transform16(const float *m, size_t mstride, float bias, int relu, float *y, int w, int ti,
                                   int tj0)
{
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    __m512 a[2][4];
    for (int c = 0; c < 4; c++) {
        const __m512 m0 = _mm512_loadu_ps(m + (size_t)(0 * 4 + c) * mstride);
        const __m512 m1 = _mm512_loadu_ps(m + (size_t)(1 * 4 + c) * mstride);
        const __m512 m2 = _mm512_loadu_ps(m + (size_t)(2 * 4 + c) * mstride);
        const __m512 m3 = _mm512_loadu_ps(m + (size_t)(3 * 4 + c) * mstride);
        a[0][c] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        a[1][c] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
    }
    const __m512 bv = _mm512_set1_ps(bias), zero = _mm512_setzero_ps();
    for (int r = 0; r < 2; r++) {
        __m512 y0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[r][0], a[r][1]), a[r][2]), bv);
        __m512 y1 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(a[r][1], a[r][2]), a[r][3]), bv);
        if (relu) { /* max(o, 0) with a NaN passing through, as the ReLU layer does */
            y0 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y0, zero, _CMP_LT_OQ), y0, zero);
            y1 = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y1, zero, _CMP_LT_OQ), y1, zero);
        }
        float *q = y + (size_t)(2 * ti + r) * w + 2 * tj0;
        _mm512_storeu_ps(q, _mm512_permutex2var_ps(y0, lo, y1));
        _mm512_storeu_ps(q + 16, _mm512_permutex2var_ps(y0, hi, y1));
    }
}

/* M[co][t] = sum_ci U[co][ci] V[ci][t] for WCOB output channels x nv vectors of 16 tiles;
 * up: packed [cin][WCOB], v: [cin][vstride], m: [WCOB][mstride]. */
static inline __attribute__((always_inline)) void gemm_block(const int nv, const float *up, const float *v,
                                                             size_t vstride, int cin, float *m, size_t mstride)
{
    __m512 acc[WCOB][WNVMAX];
#pragma GCC unroll 4
    for (int j = 0; j < WCOB; j++)
#pragma GCC unroll 6
        for (int k = 0; k < nv; k++)
            acc[j][k] = _mm512_setzero_ps();
    for (int c = 0; c < cin; c++) {
        const float *vc = v + (size_t)c * vstride;
        const __m512 w0 = _mm512_set1_ps(up[c * WCOB + 0]), w1 = _mm512_set1_ps(up[c * WCOB + 1]);
        const __m512 w2 = _mm512_set1_ps(up[c * WCOB + 2]), w3 = _mm512_set1_ps(up[c * WCOB + 3]);
#pragma GCC unroll 6
        for (int k = 0; k < nv; k++) {
            const __m512 xv = _mm512_loadu_ps(vc + 16 * k);
            acc[0][k] = _mm512_fmadd_ps(w0, xv, acc[0][k]);
            acc[1][k] = _mm512_fmadd_ps(w1, xv, acc[1][k]);
            acc[2][k] = _mm512_fmadd_ps(w2, xv, acc[2][k]);
            acc[3][k] = _mm512_fmadd_ps(w3, xv, acc[3][k]);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < WCOB; j++)
#pragma GCC unroll 6
        for (int k = 0; k < nv; k++)
            _mm512_storeu_ps(m + (size_t)j * mstride + 16 * k, acc[j][k]);
}

static void run_gemm(int nv, const float *up, const float *v, size_t vstride, int cin, float *m, size_t mstride)
{
    switch (nv) {
    case 6: gemm_block(6, up, v, vstride, cin, m, mstride); break;
    case 5: gemm_block(5, up, v, vstride, cin, m, mstride); break;
    case 4: gemm_block(4, up, v, vstride, cin, m, mstride); break;
    case 3: gemm_block(3, up, v, vstride, cin, m, mstride); break;
    case 2: gemm_block(2, up, v, vstride, cin, m, mstride); break;
    default: gemm_block(1, up, v, vstride, cin, m, mstride); break;
    }
}

int conv_winograd_supported(const sn_conv_shape *s, int h, int w)
{
    return s->k == 3 && s->cin > 0 && s->cout > 0 && h > 0 && h % 2 == 0 && w > 0 && w % 32 == 0;
}

sn_status conv_forward_winograd(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                                const float *b, sn_tensor *y)
{
    const int n = x[0]->n, h = x[0]->h, wd = x[0]->w, cin = s->cin, cout = s->cout;
    SN_ASSERT(conv_winograd_supported(s, h, wd));
    SN_ASSERT(conv_sources_ok(s, x, nx, y));
    const size_t hw = (size_t)h * wd;
    const int groups = (cout + WCOB - 1) / WCOB;
    /* transformed weights, packed [16][groups][cin][WCOB] (zero-padded channels of a last group) */
    const size_t usz = (size_t)16 * groups * cin * WCOB;
    float *up = sn_ws_get(SN_WS_PACK, usz);
    if (!up)
        return SN_ENOMEM;
    for (int co = 0; co < groups * WCOB; co++)
        for (int c = 0; c < cin; c++) {
            float u[16], dd[16] = {0}, mm[16] = {0}, vv[16], yy[4];
            float g[9] = {0};
            if (co < cout)
                memcpy(g, w + ((size_t)co * cin + c) * 9, sizeof g);
            conv_winograd_transform_ref(dd, g, mm, vv, u, yy);
            for (int xi = 0; xi < 16; xi++)
                up[(((size_t)xi * groups + co / WCOB) * cin + c) * WCOB + co % WCOB] = u[xi];
        }

    const int tw = wd / 2, th = h / 2, tvec = tw / 16; /* tiles per tile row, vectors per tile row */
    const int threads = omp_get_max_threads();
    /* bands of tile rows whose transformed input and output (16 x (cin + cout) x tiles) take
     * about 1 MiB, so they stay in L2 between the transforms and the GEMMs, but at least 96 tiles
     * (full register blocks) */
    int trows = (int)SN_MAX(1L, (long)((1 << 18) / ((size_t)16 * (cin + (size_t)groups * WCOB) * tw)));
    trows = SN_MAX(trows, (16 * WNVMAX + tw - 1) / tw);
    trows = SN_MIN(trows, th);
    while (trows > 1 && (size_t)n * ((th + trows - 1) / trows) < (size_t)2 * threads)
        trows = (trows + 1) / 2;
    const int bands = (th + trows - 1) / trows;
    const long items = (long)n * bands;
    const size_t vstride_max = (size_t)trows * tw;
    int failed = 0;

#pragma omp parallel reduction(| : failed)
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const long i0 = items * id / nt, i1 = items * (id + 1) / nt;
        /* V [16][cin][tiles], then M [16][groups * WCOB][tiles] */
        float *buf = i1 > i0 ? sn_ws_get(SN_WS_COL, (size_t)16 * (cin + (size_t)groups * WCOB) * vstride_max) : NULL;
        if (i1 > i0 && !buf)
            failed = 1;
        for (long it = i0; it < i1 && buf; it++) {
            const int img = (int)(it / bands), band = (int)(it % bands);
            const int tr0 = band * trows, tr1 = SN_MIN(th, tr0 + trows);
            const size_t vs = (size_t)(tr1 - tr0) * tw; /* tiles in this band */
            float *v = buf, *m = buf + (size_t)16 * cin * vs;
            int c = 0;
            for (int i = 0; i < nx; i++)
                for (int cc = 0; cc < x[i]->c; cc++, c++) {
                    const float *pl = x[i]->data + ((size_t)img * x[i]->c + cc) * hw;
                    for (int ti = tr0; ti < tr1; ti++)
                        for (int q = 0; q < tvec; q++)
                            in_transform16(pl, h, wd, ti, 16 * q, v + (size_t)c * vs + (size_t)(ti - tr0) * tw + 16 * q,
                                           (size_t)cin * vs);
                }
            /* position by position, so V[xi] stays in cache for all output channels */
            const size_t coutp = (size_t)groups * WCOB;
            for (int xi = 0; xi < 16; xi++) {
                const float *vx = v + (size_t)xi * cin * vs;
                for (int g = 0; g < groups; g++) {
                    const float *ug = up + ((size_t)xi * groups + g) * cin * WCOB;
                    float *mx = m + ((size_t)xi * coutp + (size_t)g * WCOB) * vs;
                    for (size_t t = 0; t < vs; t += 16 * WNVMAX) {
                        const int nv = (int)SN_MIN((size_t)WNVMAX, (vs - t) / 16);
                        run_gemm(nv, ug, vx + t, vs, cin, mx + t, vs);
                    }
                }
            }
            for (int co = 0; co < cout; co++) {
                float *yp = y->data + ((size_t)img * cout + co) * hw;
                for (int ti = tr0; ti < tr1; ti++)
                    for (int q = 0; q < tvec; q++)
                        out_transform16(m + (size_t)co * vs + (size_t)(ti - tr0) * tw + 16 * q, coutp * vs,
                                        b ? b[co] : 0.0f, s->relu, yp, wd, ti, 16 * q);
            }
        }
    }
    return failed ? SN_ENOMEM : SN_OK;
}

/* ---- Weight gradient, Winograd F(3x3, 2x2) --------------------------------------------------
 * By the transposition of the forward's algorithm: with V = B^T d B (the forward's input
 * transform of each 4x4 patch of x) and D = A dY A^T (4x4, from each 2x2 tile of dy),
 *   M[xi][ci][co] = sum over images and tiles of V[xi][ci][tile] D[xi][tile][co],
 *   dW[co][ci] += G^T M[.][ci][co] G (3x3 from 4x4),
 * 16 multiplications per tile and channel pair instead of 36. Shapes: x [N, Cin, H, W] (as
 * channel-concatenated sources), dy [N, Cout, H, W], dw [Cout, Cin, 3, 3] and db [Cout] (+=);
 * H even, W a multiple of 32, Cin a multiple of WGCIB, Cout a multiple of 16.
 * V keeps the forward's layout (16 tiles in a vector); D is stored with the output channels in
 * the vector lanes ([xi][tile][co]), so the GEMM broadcasts V and needs no lane sums: a register
 * block is WGCIB input channels x up to WGNV vectors of 16 output channels, summed over a band's
 * tiles, then added to the thread's partial M ([16][cin][cout], 16/9 of the direct kernel's
 * partial dW). Work items are (image, band of tile rows), split statically over the threads; the
 * partials are added in thread order, so results are reproducible for a fixed thread count. */
#define WGCIB 8 /* input channels per register block */
#define WGNV 3  /* vectors of 16 output channels per register block */

/* In place: r[i][j] <-> r[j][i] for 16 vectors of 16 floats. */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16], e[4][4];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* e[b][j]: rows 4b..4b+3 of columns 4k + j (k: the 128-bit lane) */
    for (int b = 0; b < 4; b++) {
        const __m512d t0 = _mm512_castps_pd(t[4 * b]), t1 = _mm512_castps_pd(t[4 * b + 1]);
        const __m512d t2 = _mm512_castps_pd(t[4 * b + 2]), t3 = _mm512_castps_pd(t[4 * b + 3]);
        e[b][0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        e[b][1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        e[b][2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        e[b][3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int j = 0; j < 4; j++) {
        const __m512 f0 = _mm512_shuffle_f32x4(e[0][j], e[1][j], 0x88), f1 = _mm512_shuffle_f32x4(e[0][j], e[1][j], 0xdd);
        const __m512 g0 = _mm512_shuffle_f32x4(e[2][j], e[3][j], 0x88), g1 = _mm512_shuffle_f32x4(e[2][j], e[3][j], 0xdd);
        r[j] = _mm512_shuffle_f32x4(f0, g0, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(f0, g0, 0xdd);
        r[4 + j] = _mm512_shuffle_f32x4(f1, g1, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(f1, g1, 0xdd);
    }
}

/* D = A dY A^T of the band's tiles of dy (one image), written as d[(xi * vs + t) * cout + co]:
 * 16 tiles of one channel at a time (a vector), then 16 channels turned into the lanes. */
static void dy_transform_band(const float *dyi, int cout, size_t hw, int w, int tr0, int tr1, float *d, size_t vs)
{
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const int tw = w / 2, tvec = tw / 16;
    __m512 sc[16][16]; /* [xi][channel of the block]: 16 tiles */
    for (int co0 = 0; co0 < cout; co0 += 16)
        for (int ti = tr0; ti < tr1; ti++)
            for (int q = 0; q < tvec; q++) {
                for (int j = 0; j < 16; j++) {
                    const float *r0 = dyi + (size_t)(co0 + j) * hw + (size_t)(2 * ti) * w + 32 * q, *r1 = r0 + w;
                    const __m512 a0 = _mm512_loadu_ps(r0), a1 = _mm512_loadu_ps(r0 + 16);
                    const __m512 b0 = _mm512_loadu_ps(r1), b1 = _mm512_loadu_ps(r1 + 16);
                    const __m512 y00 = _mm512_permutex2var_ps(a0, ev, a1), y01 = _mm512_permutex2var_ps(a0, od, a1);
                    const __m512 y10 = _mm512_permutex2var_ps(b0, ev, b1), y11 = _mm512_permutex2var_ps(b0, od, b1);
                    /* rows of A dY: y0, y0 + y1, y0 - y1, -y1; then the same on the columns */
                    const __m512 zero = _mm512_setzero_ps();
                    const __m512 ar[4][2] = {{y00, y01},
                                             {_mm512_add_ps(y00, y10), _mm512_add_ps(y01, y11)},
                                             {_mm512_sub_ps(y00, y10), _mm512_sub_ps(y01, y11)},
                                             {_mm512_sub_ps(zero, y10), _mm512_sub_ps(zero, y11)}};
                    for (int r = 0; r < 4; r++) {
                        sc[r * 4 + 0][j] = ar[r][0];
                        sc[r * 4 + 1][j] = _mm512_add_ps(ar[r][0], ar[r][1]);
                        sc[r * 4 + 2][j] = _mm512_sub_ps(ar[r][0], ar[r][1]);
                        sc[r * 4 + 3][j] = _mm512_sub_ps(zero, ar[r][1]);
                    }
                }
                const size_t t0 = (size_t)(ti - tr0) * tw + 16 * q;
                for (int xi = 0; xi < 16; xi++) {
                    transpose16(sc[xi]);
                    float *o = d + ((size_t)xi * vs + t0) * cout + co0;
                    for (int c = 0; c < 16; c++)
                        _mm512_storeu_ps(o + (size_t)c * cout, sc[xi][c]);
                }
            }
}

/* m[j][co0 + 16k] += sum_t v[j][t] d[t][co0 + 16k] for WGCIB channels j, nv vectors k;
 * v: [WGCIB][vs] (rows vs apart), d: [vs][cout], m: rows cout apart */
static inline __attribute__((always_inline)) void wg_block(const int nv, const float *v, const float *d, size_t vs,
                                                           int cout, float *m)
{
    __m512 acc[WGCIB][WGNV];
#pragma GCC unroll 8
    for (int j = 0; j < WGCIB; j++)
#pragma GCC unroll 3
        for (int k = 0; k < nv; k++)
            acc[j][k] = _mm512_setzero_ps();
    for (size_t t = 0; t < vs; t++) {
        const float *dt = d + t * (size_t)cout;
        __m512 dv[WGNV];
#pragma GCC unroll 3
        for (int k = 0; k < nv; k++)
            dv[k] = _mm512_loadu_ps(dt + 16 * k);
#pragma GCC unroll 8
        for (int j = 0; j < WGCIB; j++) {
            const __m512 b = _mm512_set1_ps(v[(size_t)j * vs + t]);
#pragma GCC unroll 3
            for (int k = 0; k < nv; k++)
                acc[j][k] = _mm512_fmadd_ps(b, dv[k], acc[j][k]);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < WGCIB; j++)
#pragma GCC unroll 3
        for (int k = 0; k < nv; k++) {
            float *q = m + (size_t)j * cout + 16 * k;
            _mm512_storeu_ps(q, _mm512_add_ps(_mm512_loadu_ps(q), acc[j][k]));
        }
}

static void run_wg(int nv, const float *v, const float *d, size_t vs, int cout, float *m)
{
    switch (nv) {
    case 3: wg_block(3, v, d, vs, cout, m); break;
    case 2: wg_block(2, v, d, vs, cout, m); break;
    default: wg_block(1, v, d, vs, cout, m); break;
    }
}

int conv_wgrad_winograd_supported(const sn_conv_shape *s, int h, int w)
{
    return conv_winograd_supported(s, h, w) && s->cin % WGCIB == 0 && s->cout % 16 == 0;
}

sn_status conv_wgrad_winograd(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *dy,
                              float *dw, float *db)
{
    SN_ASSERT(conv_sources_ok(s, x, nx, dy));
    const int n = x[0]->n, h = x[0]->h, wd = x[0]->w, cin = s->cin, cout = s->cout;
    SN_ASSERT(conv_wgrad_winograd_supported(s, h, wd));
    const size_t hw = (size_t)h * wd, nm = (size_t)16 * cin * cout;
    const int tw = wd / 2, th = h / 2, tvec = tw / 16;
    const int threads = omp_get_max_threads();
    /* bands whose V and D (16 x (cin + cout) x tiles) take about 1 MiB, as in the forward, but at
     * least 64 tiles so the partial M is read and written rarely next to the multiply-adds */
    int trows = (int)SN_MAX(1L, (long)((1 << 18) / ((size_t)16 * (cin + cout) * tw)));
    trows = SN_MAX(trows, (64 + tw - 1) / tw);
    trows = SN_MIN(trows, th);
    while (trows > 1 && (size_t)n * ((th + trows - 1) / trows) < (size_t)2 * threads)
        trows = (trows + 1) / 2;
    const int bands = (th + trows - 1) / trows;
    const long items = (long)n * bands;
    const size_t vs_max = (size_t)trows * tw;

    float *partials[256] = {0};
    int failed = 0; /* shared: every thread must see another's failure after the barrier */
#pragma omp parallel
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const long i0 = items * id / nt, i1 = items * (id + 1) / nt;
        float *buf = sn_ws_get(SN_WS_COL, (size_t)16 * (cin + cout) * vs_max);
        float *part = sn_ws_get(SN_WS_PARTIAL, nm + (size_t)cout);
        if (!buf || !part || id >= 256) {
#pragma omp atomic write
            failed = 1;
        } else {
            partials[id] = part;
            memset(part, 0, sizeof(float) * (nm + (size_t)cout));
            for (long it = i0; it < i1; it++) {
                const int img = (int)(it / bands), band = (int)(it % bands);
                const int tr0 = band * trows, tr1 = SN_MIN(th, tr0 + trows);
                const size_t vs = (size_t)(tr1 - tr0) * tw;
                float *v = buf, *d = buf + (size_t)16 * cin * vs;
                const float *dyi = dy->data + (size_t)img * cout * hw;
                if (db)
                    for (int co = 0; co < cout; co++) {
                        const float *row = dyi + (size_t)co * hw + (size_t)(2 * tr0) * wd;
                        const size_t np = (size_t)(tr1 - tr0) * 2 * wd;
                        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
                        for (size_t q = 0; q < np; q++)
                            acc += row[q];
                        part[nm + co] += acc;
                    }
                if (!dw)
                    continue;
                int c = 0;
                for (int i = 0; i < nx; i++)
                    for (int cc = 0; cc < x[i]->c; cc++, c++) {
                        const float *pl = x[i]->data + ((size_t)img * x[i]->c + cc) * hw;
                        for (int ti = tr0; ti < tr1; ti++)
                            for (int q = 0; q < tvec; q++)
                                in_transform16(pl, h, wd, ti, 16 * q, v + (size_t)c * vs + (size_t)(ti - tr0) * tw + 16 * q,
                                               (size_t)cin * vs);
                    }
                dy_transform_band(dyi, cout, hw, wd, tr0, tr1, d, vs);
                for (int xi = 0; xi < 16; xi++) {
                    const float *vx = v + (size_t)xi * cin * vs, *dx = d + (size_t)xi * vs * cout;
                    float *mx = part + (size_t)xi * cin * cout;
                    for (int c0 = 0; c0 < cin; c0 += WGCIB)
                        for (int co = 0; co < cout; co += 16 * WGNV)
                            run_wg(SN_MIN(WGNV, (cout - co) / 16), vx + (size_t)c0 * vs, dx + co, vs, cout,
                                   mx + (size_t)c0 * cout + co);
                }
            }
        }
#pragma omp barrier
        int any_failed;
#pragma omp atomic read
        any_failed = failed;
        if (!any_failed) {
            /* sum the partials in thread order and transform: each thread a range of (ci, co) */
            const size_t pairs = (size_t)cin * cout;
            const size_t e0 = pairs * id / nt, e1 = pairs * (id + 1) / nt;
            for (size_t e = e0; dw && e < e1; e++) {
                float mm[16];
                for (int xi = 0; xi < 16; xi++) {
                    float acc = 0.0f;
                    for (int q = 0; q < nt; q++)
                        acc += partials[q][(size_t)xi * pairs + e];
                    mm[xi] = acc;
                }
                /* dW = G^T M G, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] */
                float pp[12]; /* G^T M: 3x4 */
                for (int cc = 0; cc < 4; cc++) {
                    const float s12 = 0.5f * (mm[4 + cc] + mm[8 + cc]);
                    pp[0 + cc] = mm[cc] + s12;
                    pp[4 + cc] = 0.5f * (mm[4 + cc] - mm[8 + cc]);
                    pp[8 + cc] = s12 + mm[12 + cc];
                }
                const size_t ci = e / (size_t)cout, co = e % (size_t)cout;
                float *o = dw + (co * (size_t)cin + ci) * 9;
                for (int r = 0; r < 3; r++) {
                    const float s12 = 0.5f * (pp[r * 4 + 1] + pp[r * 4 + 2]);
                    o[r * 3 + 0] += pp[r * 4 + 0] + s12;
                    o[r * 3 + 1] += 0.5f * (pp[r * 4 + 1] - pp[r * 4 + 2]);
                    o[r * 3 + 2] += s12 + pp[r * 4 + 3];
                }
            }
            const size_t c0 = (size_t)cout * id / nt, c1 = (size_t)cout * (id + 1) / nt;
            for (size_t co = c0; db && co < c1; co++) {
                float acc = 0.0f;
                for (int q = 0; q < nt; q++)
                    acc += partials[q][nm + co];
                db[co] += acc;
            }
        }
    }
    return failed ? SN_ENOMEM : SN_OK;
}

#else /* no AVX-512: the direct or GEMM path serves every layer */

int conv_winograd_supported(const sn_conv_shape *s, int h, int w)
{
    (void)s;
    (void)h;
    (void)w;
    return 0;
}

sn_status conv_forward_winograd(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                                const float *b, sn_tensor *y)
{
    (void)x;
    (void)nx;
    (void)w;
    (void)b;
    (void)y;
    SN_ASSERT(conv_winograd_supported(s, 0, 0));
    return SN_EINVAL;
}

int conv_wgrad_winograd_supported(const sn_conv_shape *s, int h, int w)
{
    (void)s;
    (void)h;
    (void)w;
    return 0;
}

sn_status conv_wgrad_winograd(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *dy,
                              float *dw, float *db)
{
    (void)x;
    (void)nx;
    (void)dy;
    (void)dw;
    (void)db;
    SN_ASSERT(conv_wgrad_winograd_supported(s, 0, 0));
    return SN_EINVAL;
}

#endif
