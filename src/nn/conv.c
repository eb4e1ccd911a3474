/* Convolution as im2col + GEMM, tiled over rows so the column buffer stays small.
 * Shapes: x [N, Cin, H, W] (as channel-concatenated sources), w [Cout, Cin, K, K], b [Cout],
 * y [N, Cout, H, W].
 * Work items are (image, row tile) pairs split statically over the threads; each thread calls
 * a single-threaded GEMM, so there is one level of parallelism and results are reproducible.
 * The input gradient is itself a convolution of dy with the flipped, transposed kernel, which
 * keeps the GEMM's inner dimension at Cout*K*K and avoids a col2im scatter. */
#include "sernet/gemm.h"
#include "sernet/nn.h"
#include "nn/workspace.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of one column tile: it must stay in the per-core L2 cache, because im2col writes it
 * and the GEMM's packing reads it straight back; from main memory the layers with few output
 * channels would be bandwidth-bound. Overridable for experiments (SERNET_CONV_TILE_KB). */
static size_t tile_bytes(void)
{
    static size_t cached;
    if (!cached) {
        const char *e = getenv("SERNET_CONV_TILE_KB");
        long kb = e ? atol(e) : 0;
        cached = (size_t)(kb > 0 ? kb : 256) * 1024;
    }
    return cached;
}

static int tile_min_cols(void)
{
    static int cached;
    if (!cached) {
        const char *e = getenv("SERNET_CONV_TILE_MIN");
        int v = e ? atoi(e) : 0;
        cached = v > 0 ? v : 256;
    }
    return cached;
}

static int tile_rows(int h, int w, int n, int threads, int kmax)
{
    int rows = (int)SN_MAX(1, tile_bytes() / ((size_t)kmax * w * sizeof(float)));
    /* ...but wide enough that repacking the weights for every tile stays cheap */
    rows = SN_MAX(rows, (tile_min_cols() + w - 1) / w);
    rows = SN_MIN(rows, h);
    /* keep at least two items per thread so the static split balances */
    while (rows > 1 && (size_t)n * ((h + rows - 1) / rows) < (size_t)2 * threads)
        rows = (rows + 1) / 2;
    return rows;
}

/* col[(c*K + ky)*K + kx][ (r - r0)*W + x ] = src_c[r + ky - p][x + kx - p] (0 outside). */
static void im2col_rows(const sn_tensor *const *x, int nx, int n, int k, int r0, int r1, float *col)
{
    const int h = x[0]->h, w = x[0]->w, p = k / 2;
    const size_t t = (size_t)(r1 - r0) * w;
    size_t crow = 0;
    for (int i = 0; i < nx; i++) {
        const int ci = x[i]->c;
        for (int c = 0; c < ci; c++) {
            const float *plane = x[i]->data + ((size_t)n * ci + c) * (size_t)h * w;
            for (int ky = 0; ky < k; ky++) {
                for (int kx = 0; kx < k; kx++, crow++) {
                    float *dst = col + crow * t;
                    const int shift = kx - p;
                    for (int r = r0; r < r1; r++) {
                        float *d = dst + (size_t)(r - r0) * w;
                        const int sr = r + ky - p;
                        if (sr < 0 || sr >= h) {
                            memset(d, 0, sizeof(float) * (size_t)w);
                            continue;
                        }
                        const float *s = plane + (size_t)sr * w;
                        if (shift >= 0) {
                            memcpy(d, s + shift, sizeof(float) * (size_t)(w - shift));
                            memset(d + (w - shift), 0, sizeof(float) * (size_t)shift);
                        } else {
                            memset(d, 0, sizeof(float) * (size_t)(-shift));
                            memcpy(d - shift, s, sizeof(float) * (size_t)(w + shift));
                        }
                    }
                }
            }
        }
    }
}

static int check_sources(const sn_conv_shape *s, const sn_tensor *const *x, int nx)
{
    int c = 0;
    if (nx < 1 || nx > SN_CONV_MAX_SRC)
        return 0;
    for (int i = 0; i < nx; i++) {
        if (x[i]->n != x[0]->n || x[i]->h != x[0]->h || x[i]->w != x[0]->w)
            return 0;
        c += x[i]->c;
    }
    return c == s->cin && (s->k % 2) == 1;
}

sn_status conv_forward(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                       const float *b, sn_tensor *y)
{
    SN_ASSERT(check_sources(s, x, nx));
    const int n = x[0]->n, h = x[0]->h, wd = x[0]->w;
    SN_ASSERT(y->n == n && y->c == s->cout && y->h == h && y->w == wd);
    const int kk = s->cin * s->k * s->k;
    const int threads = omp_get_max_threads();
    const int rows = tile_rows(h, wd, n, threads, kk);
    const int tiles = (h + rows - 1) / rows;
    const int items = n * tiles;
    const size_t hw = (size_t)h * wd;
    int failed = 0;

#pragma omp parallel reduction(| : failed)
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const int i0 = (int)((long)items * id / nt), i1 = (int)((long)items * (id + 1) / nt);
        float *col = i1 > i0 ? sn_ws_get(SN_WS_COL, (size_t)kk * rows * wd) : NULL;
        if (i1 > i0 && !col)
            failed = 1;
        for (int it = i0; it < i1 && col; it++) {
            const int img = it / tiles, r0 = (it % tiles) * rows, r1 = SN_MIN(h, r0 + rows);
            const int t = (r1 - r0) * wd;
            im2col_rows(x, nx, img, s->k, r0, r1, col);
            float *yt = y->data + (size_t)img * s->cout * hw + (size_t)r0 * wd;
            sn_gemm(0, 0, s->cout, t, kk, 1.0f, w, kk, col, t, 0.0f, yt, (int)hw);
            if (b)
                for (int co = 0; co < s->cout; co++) {
                    float *row = yt + (size_t)co * hw;
                    const float bv = b[co];
                    for (int j = 0; j < t; j++)
                        row[j] += bv;
                }
        }
    }
    return failed ? SN_ENOMEM : SN_OK;
}

sn_status conv_backward(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                        const sn_tensor *dy, sn_tensor *const *dx, float *dw, float *db)
{
    SN_ASSERT(check_sources(s, x, nx));
    const int n = x[0]->n, h = x[0]->h, wd = x[0]->w, k = s->k, kk = k * k;
    SN_ASSERT(dy->n == n && dy->c == s->cout && dy->h == h && dy->w == wd);
    const int kin = s->cin * kk, kout = s->cout * kk;
    const size_t hw = (size_t)h * wd, nw = (size_t)s->cout * kin;
    int want_dx = 0, all_dx = 1;
    for (int i = 0; i < nx; i++) {
        want_dx |= dx && dx[i] != NULL;
        all_dx &= dx && dx[i] != NULL;
    }
    /* The weight gradient can come from the im2col of dy (needed for dx anyway):
     * dW[co][ci][K-1-q] = sum_p x[ci][p] * col_dy[(co, q)][p]; otherwise from the im2col of x,
     * whichever is smaller. */
    const int dw_from_dy = dw && (want_dx || kout <= kin);
    const int threads = omp_get_max_threads();
    const int rows = tile_rows(h, wd, n, threads, dw_from_dy || want_dx ? SN_MAX(kout, s->cin) : kin);
    const int tiles = (h + rows - 1) / rows;
    const int items = n * tiles;
    /* two sources with both gradients wanted: one GEMM into a scratch tile, then split */
    const int split = nx > 1 && all_dx;

    /* flipped, transposed kernel: wt[ci][co][ky][kx] = w[co][ci][k-1-ky][k-1-kx] */
    float *wt = NULL;
    if (want_dx) {
        wt = sn_ws_get(SN_WS_SHARED, (size_t)s->cin * kout);
        if (!wt)
            return SN_ENOMEM;
        for (int co = 0; co < s->cout; co++)
            for (int ci = 0; ci < s->cin; ci++)
                for (int q = 0; q < kk; q++)
                    wt[((size_t)ci * s->cout + co) * kk + q] = w[((size_t)co * s->cin + ci) * kk + (kk - 1 - q)];
    }

    float *partials[256] = {0};
    int failed = 0; /* shared: every thread must see another's failure after the barrier */
#pragma omp parallel
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const int i0 = (int)((long)items * id / nt), i1 = (int)((long)items * (id + 1) / nt);
        const size_t tcols = (size_t)rows * wd;
        const size_t colsz = (size_t)(dw_from_dy || want_dx ? kout : kin) * tcols;
        float *col = sn_ws_get(SN_WS_COL, colsz + (split ? (size_t)s->cin * tcols : 0));
        float *part = sn_ws_get(SN_WS_PARTIAL, nw + (size_t)s->cout);
        if (!col || !part || id >= 256) {
#pragma omp atomic write
            failed = 1;
        } else {
            partials[id] = part;
            memset(part, 0, sizeof(float) * (nw + (size_t)s->cout));
            float *pdb = part + nw;
            float *scratch = col + colsz;
            const sn_tensor *dys[1] = {dy};
            for (int it = i0; it < i1; it++) {
                const int img = it / tiles, r0 = (it % tiles) * rows, r1 = SN_MIN(h, r0 + rows);
                const int t = (r1 - r0) * wd;
                const float *dyt = dy->data + (size_t)img * s->cout * hw + (size_t)r0 * wd;
                if (want_dx || dw_from_dy)
                    im2col_rows(dys, 1, img, k, r0, r1, col);
                if (split) {
                    sn_gemm(0, 0, s->cin, t, kout, 1.0f, wt, kout, col, t, 0.0f, scratch, t);
                    int c0 = 0;
                    for (int i = 0; i < nx; i++) {
                        float *dxt = dx[i]->data + (size_t)img * x[i]->c * hw + (size_t)r0 * wd;
                        for (int c = 0; c < x[i]->c; c++)
                            memcpy(dxt + (size_t)c * hw, scratch + (size_t)(c0 + c) * t, sizeof(float) * (size_t)t);
                        c0 += x[i]->c;
                    }
                } else if (want_dx) {
                    int c0 = 0;
                    for (int i = 0; i < nx; i++) {
                        if (dx[i]) {
                            float *dxt = dx[i]->data + (size_t)img * x[i]->c * hw + (size_t)r0 * wd;
                            sn_gemm(0, 0, x[i]->c, t, kout, 1.0f, wt + (size_t)c0 * kout, kout, col, t, 0.0f,
                                    dxt, (int)hw);
                        }
                        c0 += x[i]->c;
                    }
                }
                if (dw_from_dy) {
                    /* part holds dW in the flipped, transposed layout [ci][co][q] */
                    int c0 = 0;
                    for (int i = 0; i < nx; i++) {
                        const float *xt = x[i]->data + (size_t)img * x[i]->c * hw + (size_t)r0 * wd;
                        sn_gemm(0, 1, x[i]->c, kout, t, 1.0f, xt, (int)hw, col, t, 1.0f,
                                part + (size_t)c0 * kout, kout);
                        c0 += x[i]->c;
                    }
                } else if (dw) {
                    im2col_rows(x, nx, img, k, r0, r1, col);
                    sn_gemm(0, 1, s->cout, kin, t, 1.0f, dyt, (int)hw, col, t, 1.0f, part, kin);
                }
                if (db)
                    for (int co = 0; co < s->cout; co++) {
                        const float *row = dyt + (size_t)co * hw;
                        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
                        for (int j = 0; j < t; j++)
                            acc += row[j];
                        pdb[co] += acc;
                    }
            }
        }
#pragma omp barrier
        int any_failed;
#pragma omp atomic read
        any_failed = failed;
        if (!any_failed) {
            /* sum the partials in thread order: reproducible for a fixed thread count */
            const size_t total = nw + (size_t)s->cout;
            const size_t e0 = total * id / nt, e1 = total * (id + 1) / nt;
            for (size_t e = e0; e < e1; e++) {
                float acc = 0.0f;
                for (int q = 0; q < nt; q++)
                    acc += partials[q][e];
                if (e >= nw) {
                    if (db)
                        db[e - nw] += acc;
                } else if (dw_from_dy) {
                    const size_t ci = e / (size_t)kout, rem = e % (size_t)kout;
                    const size_t co = rem / (size_t)kk, q = rem % (size_t)kk;
                    dw[(co * s->cin + ci) * kk + (kk - 1 - q)] += acc;
                } else if (dw) {
                    dw[e] += acc;
                }
            }
        }
    }
    return failed ? SN_ENOMEM : SN_OK;
}
