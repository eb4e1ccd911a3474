/* Convolution as im2col + GEMM, tiled so the column buffer stays small.
 * Shapes: x [N, Cin, H, W] (as channel-concatenated sources), w [Cout, Cin, K, K], b [Cout],
 * y [N, Cout, H, W].
 * Work items are tiles: a band of rows of one image, or, for small images (the deep levels),
 * a group of whole images side by side so the GEMM is wide enough to amortise packing the
 * weights. Items are split statically over the threads; each thread calls a single-threaded
 * GEMM, so there is one level of parallelism and results are reproducible.
 * The input gradient is itself a convolution of dy with the flipped, transposed kernel, which
 * keeps the GEMM's inner dimension at Cout*K*K and avoids a col2im scatter. */
#include "sernet/gemm.h"
#include "sernet/nn.h"
#include "nn/workspace.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of one column tile: it must stay in the per-core L2 cache, because im2col writes it
 * and the GEMM's packing reads it straight back; from main memory the layers with few output
 * channels would be bandwidth-bound. Overridable for experiments (SERNET_CONV_TILE_KB). */
static size_t tile_kb = 256;
static int tile_min = 256;
static pthread_once_t tile_once = PTHREAD_ONCE_INIT;

/* Read once, so concurrent first calls from several threads (the inspection API) agree. */
static void tile_init(void)
{
    const char *e = getenv("SERNET_CONV_TILE_KB");
    long kb = e ? atol(e) : 0;
    if (kb > 0)
        tile_kb = (size_t)kb;
    e = getenv("SERNET_CONV_TILE_MIN");
    int v = e ? atoi(e) : 0;
    if (v > 0)
        tile_min = v;
}

static size_t tile_bytes(void)
{
    pthread_once(&tile_once, tile_init);
    return tile_kb * 1024;
}

static int tile_min_cols(void)
{
    pthread_once(&tile_once, tile_init);
    return tile_min;
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

/* How a layer's work is cut into items. */
typedef struct {
    int n, h, w;
    int rows;  /* rows per tile */
    int group; /* images per tile; > 1 only when a tile holds whole images */
    int tiles; /* row tiles per image (1 when grouping) */
    int items;
    size_t max_cols; /* columns of the widest tile */
} plan_t;

static void make_plan(plan_t *p, int n, int h, int w, int kmax)
{
    const int threads = omp_get_max_threads();
    p->n = n;
    p->h = h;
    p->w = w;
    p->rows = tile_rows(h, w, n, threads, kmax);
    p->group = 1;
    if (p->rows >= h) {
        /* whole images: group small ones up to 4x the minimum width, keeping an item per thread */
        const int hw = h * w;
        int g = (4 * tile_min_cols() + hw - 1) / hw;
        g = SN_MIN(g, (n + threads - 1) / threads);
        p->group = SN_MAX(1, g);
        p->rows = h;
    }
    p->tiles = (h + p->rows - 1) / p->rows;
    p->items = p->group > 1 ? (n + p->group - 1) / p->group : n * p->tiles;
    p->max_cols = (size_t)p->group * p->rows * w;
}

typedef struct {
    int img0, g, r0, r1;
    int tpi; /* columns per image */
    int t;   /* columns in all */
} tile_t;

static tile_t tile_of(const plan_t *p, int it)
{
    tile_t t;
    if (p->group > 1) {
        t.img0 = it * p->group;
        t.g = SN_MIN(p->group, p->n - t.img0);
        t.r0 = 0;
        t.r1 = p->h;
    } else {
        t.img0 = it / p->tiles;
        t.g = 1;
        t.r0 = (it % p->tiles) * p->rows;
        t.r1 = SN_MIN(p->h, t.r0 + p->rows);
    }
    t.tpi = (t.r1 - t.r0) * p->w;
    t.t = t.g * t.tpi;
    return t;
}

/* col[(c*K + ky)*K + kx][(r - r0)*W + x] = src_c[r + ky - p][x + kx - p] (0 outside); rows of
 * col are ldcol apart. */
static void im2col_rows(const sn_tensor *const *x, int nx, int n, int k, int r0, int r1, float *col,
                        size_t ldcol)
{
    const int h = x[0]->h, w = x[0]->w, p = k / 2;
    size_t crow = 0;
    for (int i = 0; i < nx; i++) {
        const int ci = x[i]->c;
        for (int c = 0; c < ci; c++) {
            const float *plane = x[i]->data + ((size_t)n * ci + c) * (size_t)h * w;
            for (int ky = 0; ky < k; ky++) {
                for (int kx = 0; kx < k; kx++, crow++) {
                    float *dst = col + crow * ldcol;
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

/* The column matrix of a tile: the images of a group side by side. */
static void im2col_tile(const sn_tensor *const *x, int nx, int k, const tile_t *t, float *col)
{
    for (int j = 0; j < t->g; j++)
        im2col_rows(x, nx, t->img0 + j, k, t->r0, t->r1, col + (size_t)j * t->tpi, (size_t)t->t);
}

/* Copy the tile's rows of all channels of the sources into a (sum C) x t matrix. */
static void gather_tile(const sn_tensor *const *x, int nx, const tile_t *t, int w, float *out)
{
    const size_t hw = (size_t)x[0]->h * w;
    size_t row = 0;
    for (int i = 0; i < nx; i++)
        for (int c = 0; c < x[i]->c; c++, row++)
            for (int j = 0; j < t->g; j++)
                memcpy(out + row * t->t + (size_t)j * t->tpi,
                       x[i]->data + ((size_t)(t->img0 + j) * x[i]->c + c) * hw + (size_t)t->r0 * w,
                       sizeof(float) * (size_t)t->tpi);
}

/* The inverse: rows c0.. of a (C x t) matrix into the channels of tensor y. */
static void scatter_tile(const float *m, size_t c0, const tile_t *t, int w, sn_tensor *y)
{
    const size_t hw = (size_t)y->h * w;
    for (int c = 0; c < y->c; c++)
        for (int j = 0; j < t->g; j++)
            memcpy(y->data + ((size_t)(t->img0 + j) * y->c + c) * hw + (size_t)t->r0 * w,
                   m + (c0 + c) * t->t + (size_t)j * t->tpi, sizeof(float) * (size_t)t->tpi);
}

int conv_sources_ok(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *y)
{
    int c = 0;
    if (nx < 1 || nx > SN_CONV_MAX_SRC)
        return 0;
    if (y && (y->n != x[0]->n || y->c != s->cout || y->h != x[0]->h || y->w != x[0]->w))
        return 0;
    for (int i = 0; i < nx; i++) {
        if (x[i]->n != x[0]->n || x[i]->h != x[0]->h || x[i]->w != x[0]->w)
            return 0;
        c += x[i]->c;
    }
    return c == s->cin && (s->k % 2) == 1;
}

sn_status conv_forward_gemm(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                            const float *b, sn_tensor *y)
{
    SN_ASSERT(conv_sources_ok(s, x, nx, NULL));
    const int n = x[0]->n, h = x[0]->h, wd = x[0]->w;
    SN_ASSERT(y->n == n && y->c == s->cout && y->h == h && y->w == wd);
    const int kk = s->cin * s->k * s->k;
    const size_t hw = (size_t)h * wd;
    plan_t pl;
    make_plan(&pl, n, h, wd, kk);
    int failed = 0;

#pragma omp parallel reduction(| : failed)
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const int i0 = (int)((long)pl.items * id / nt), i1 = (int)((long)pl.items * (id + 1) / nt);
        const size_t colsz = (size_t)kk * pl.max_cols;
        float *col = i1 > i0 ? sn_ws_get(SN_WS_COL, colsz + (pl.group > 1 ? (size_t)s->cout * pl.max_cols : 0))
                             : NULL;
        if (i1 > i0 && !col)
            failed = 1;
        for (int it = i0; it < i1 && col; it++) {
            const tile_t t = tile_of(&pl, it);
            im2col_tile(x, nx, s->k, &t, col);
            if (t.g == 1) {
                float *yt = y->data + (size_t)t.img0 * s->cout * hw + (size_t)t.r0 * wd;
                sn_gemm(0, 0, s->cout, t.t, kk, 1.0f, w, kk, col, t.t, 0.0f, yt, (int)hw);
            } else {
                float *out = col + colsz;
                sn_gemm(0, 0, s->cout, t.t, kk, 1.0f, w, kk, col, t.t, 0.0f, out, t.t);
                scatter_tile(out, 0, &t, wd, y);
            }
            /* bias and ReLU on the tile while it is in cache */
            if (b || s->relu)
                for (int j = 0; j < t.g; j++)
                    for (int co = 0; co < s->cout; co++) {
                        float *row = y->data + ((size_t)(t.img0 + j) * s->cout + co) * hw + (size_t)t.r0 * wd;
                        const float bv = b ? b[co] : 0.0f;
                        if (s->relu)
#pragma omp simd
                            for (int q = 0; q < t.tpi; q++) {
                                const float v = row[q] + bv;
                                row[q] = v < 0.0f ? 0.0f : v; /* NaN passes, as in the ReLU layer */
                            }
                        else
#pragma omp simd
                            for (int q = 0; q < t.tpi; q++)
                                row[q] += bv;
                    }
        }
    }
    return failed ? SN_ENOMEM : SN_OK;
}

/* The direct kernel serves every layer it supports (forward, and the input gradient, which is
 * a forward convolution of dy), and the Winograd kernel the forward convolutions that allow it
 * (inference), unless SERNET_CONV_ALGO (read once) asks for "gemm" everywhere or "direct" (no
 * Winograd), for measurements. */
static int algo_gemm_only, algo_no_winograd, algo_gemm_wgrad, algo_direct_wgrad;
static pthread_once_t algo_once = PTHREAD_ONCE_INIT;

static void algo_init(void)
{
    const char *e = getenv("SERNET_CONV_ALGO");
    algo_gemm_only = e && strcmp(e, "gemm") == 0;
    algo_no_winograd = algo_gemm_only || (e && strcmp(e, "direct") == 0);
    /* SERNET_CONV_WGRAD=gemm: weight gradients from the column matrix only (the direct and
     * Winograd kernels stay on), to measure the direct weight gradient against it */
    e = getenv("SERNET_CONV_WGRAD");
    algo_gemm_wgrad = algo_gemm_only || (e && strcmp(e, "gemm") == 0);
    /* SERNET_CONV_WGRAD=direct: the direct weight gradient also where the Winograd one applies */
    algo_direct_wgrad = algo_gemm_wgrad || algo_no_winograd || (e && strcmp(e, "direct") == 0);
}

static int algo_direct_allowed(void)
{
    pthread_once(&algo_once, algo_init);
    return !algo_gemm_only;
}

static int use_direct_wgrad(const sn_conv_shape *s, int h, int w)
{
    pthread_once(&algo_once, algo_init);
    return !algo_gemm_wgrad && conv_wgrad_direct_supported(s, h, w);
}

/* The Winograd weight gradient where the shape asks for Winograd and the kernel applies (measured
 * 1.3-2.3x the direct kernel on every such layer of the nets, docs/performance.md). */
static int use_winograd_wgrad(const sn_conv_shape *s, int h, int w)
{
    pthread_once(&algo_once, algo_init);
    return s->winograd && !algo_direct_wgrad && conv_wgrad_winograd_supported(s, h, w);
}

/* Winograd where the shape asks for it, the kernel applies, and it pays: both transforms must be
 * shared by enough channels (measured: the first layer, 3 input channels, is slower than the
 * direct kernel). */
static int use_winograd(const sn_conv_shape *s, int h, int w)
{
    pthread_once(&algo_once, algo_init);
    return s->winograd && !algo_no_winograd && s->cin >= 16 && s->cout >= 8 && conv_winograd_supported(s, h, w);
}

sn_status conv_forward(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                       const float *b, sn_tensor *y)
{
    SN_ASSERT(conv_sources_ok(s, x, nx, NULL));
    if (use_winograd(s, x[0]->h, x[0]->w))
        return conv_forward_winograd(s, x, nx, w, b, y);
    if (algo_direct_allowed() && conv_direct_supported(s, x[0]->h, x[0]->w))
        return conv_forward_direct(s, x, nx, w, b, y);
    return conv_forward_gemm(s, x, nx, w, b, y);
}

/* flipped, transposed kernel: wt[ci][co][ky][kx] = w[co][ci][k-1-ky][k-1-kx] */
static void flip_weights(const sn_conv_shape *s, const float *w, float *wt)
{
    const int kk = s->k * s->k, kout = s->cout * kk;
    for (int co = 0; co < s->cout; co++)
        for (int ci = 0; ci < s->cin; ci++)
            for (int q = 0; q < kk; q++)
                wt[(size_t)ci * kout + (size_t)co * kk + q] = w[((size_t)co * s->cin + ci) * kk + (kk - 1 - q)];
}

/* The whole backward pass by im2col + GEMM (weight gradient first, so dx[i] may share x[i]'s
 * storage), unchanged from before the direct kernels. */
static sn_status backward_gemm(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                               const sn_tensor *dy, sn_tensor *const *dx, float *dw, float *db)
{
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
    const int use_dy_col = want_dx || dw_from_dy;
    plan_t pl;
    make_plan(&pl, n, h, wd, use_dy_col ? SN_MAX(kout, s->cin) : kin);
    /* two sources with both gradients wanted: one GEMM into a scratch tile, then split */
    const int split = nx > 1 && all_dx;

    float *wt = NULL;
    if (want_dx) {
        wt = sn_ws_get(SN_WS_SHARED, (size_t)s->cin * kout);
        if (!wt)
            return SN_ENOMEM;
        flip_weights(s, w, wt);
    }

    float *partials[256] = {0};
    int failed = 0; /* shared: every thread must see another's failure after the barrier */
#pragma omp parallel
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const int i0 = (int)((long)pl.items * id / nt), i1 = (int)((long)pl.items * (id + 1) / nt);
        const size_t colsz = (size_t)(use_dy_col ? kout : kin) * pl.max_cols;
        const size_t scrsz = (size_t)SN_MAX(s->cin, s->cout) * pl.max_cols;
        float *col = sn_ws_get(SN_WS_COL, colsz + scrsz);
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
                const tile_t t = tile_of(&pl, it);
                if (use_dy_col)
                    im2col_tile(dys, 1, k, &t, col);
                /* weight gradient first (x at the tile's pixels only, when dx is wanted): dx[i] may share
                 * x[i]'s storage; part holds it as [ci][co][q] (flipped) when from dy */
                if (dw_from_dy) {
                    if (t.g > 1) {
                        gather_tile(x, nx, &t, wd, scratch);
                        sn_gemm(0, 1, s->cin, kout, t.t, 1.0f, scratch, t.t, col, t.t, 1.0f, part, kout);
                    } else {
                        int c0 = 0;
                        for (int i = 0; i < nx; i++) {
                            const float *xt = x[i]->data + (size_t)t.img0 * x[i]->c * hw + (size_t)t.r0 * wd;
                            sn_gemm(0, 1, x[i]->c, kout, t.t, 1.0f, xt, (int)hw, col, t.t, 1.0f,
                                    part + (size_t)c0 * kout, kout);
                            c0 += x[i]->c;
                        }
                    }
                } else if (dw) {
                    im2col_tile(x, nx, k, &t, col);
                    if (t.g > 1) {
                        gather_tile(dys, 1, &t, wd, scratch);
                        sn_gemm(0, 1, s->cout, kin, t.t, 1.0f, scratch, t.t, col, t.t, 1.0f, part, kin);
                    } else {
                        const float *dyt = dy->data + (size_t)t.img0 * s->cout * hw + (size_t)t.r0 * wd;
                        sn_gemm(0, 1, s->cout, kin, t.t, 1.0f, dyt, (int)hw, col, t.t, 1.0f, part, kin);
                    }
                }
                /* input gradients */
                if (want_dx && (split || t.g > 1)) {
                    sn_gemm(0, 0, s->cin, t.t, kout, 1.0f, wt, kout, col, t.t, 0.0f, scratch, t.t);
                    size_t c0 = 0;
                    for (int i = 0; i < nx; i++) {
                        if (dx[i])
                            scatter_tile(scratch, c0, &t, wd, dx[i]);
                        c0 += (size_t)x[i]->c;
                    }
                } else if (want_dx) {
                    int c0 = 0;
                    for (int i = 0; i < nx; i++) {
                        if (dx[i]) {
                            float *dxt = dx[i]->data + (size_t)t.img0 * x[i]->c * hw + (size_t)t.r0 * wd;
                            sn_gemm(0, 0, x[i]->c, t.t, kout, 1.0f, wt + (size_t)c0 * kout, kout, col, t.t,
                                    0.0f, dxt, (int)hw);
                        }
                        c0 += x[i]->c;
                    }
                }
                if (db)
                    for (int j = 0; j < t.g; j++)
                        for (int co = 0; co < s->cout; co++) {
                            const float *row = dy->data + ((size_t)(t.img0 + j) * s->cout + co) * hw +
                                               (size_t)t.r0 * wd;
                            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
                            for (int q = 0; q < t.tpi; q++)
                                acc += row[q];
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

sn_status conv_wgrad_gemm(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *dy,
                          float *dw, float *db)
{
    SN_ASSERT(conv_sources_ok(s, x, nx, dy));
    return backward_gemm(s, x, nx, NULL, dy, NULL, dw, db);
}

sn_status conv_backward(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                        const sn_tensor *dy, sn_tensor *const *dx, float *dw, float *db)
{
    SN_ASSERT(conv_sources_ok(s, x, nx, NULL));
    const int h = x[0]->h, wd = x[0]->w, k = s->k, kout = s->cout * k * k;
    SN_ASSERT(dy->n == x[0]->n && dy->c == s->cout && dy->h == h && dy->w == wd);
    int want_dx = 0;
    for (int i = 0; i < nx; i++)
        want_dx |= dx && dx[i] != NULL;
    /* The input gradients by the direct kernel (a forward convolution of dy with the flipped
     * weights, one per source), where it applies. */
    int direct_dx = want_dx && algo_direct_allowed();
    for (int i = 0; i < nx && direct_dx; i++) {
        const sn_conv_shape ts = {s->cout, x[i]->c, k, 0, 0};
        direct_dx = conv_direct_supported(&ts, h, wd);
    }
    if (want_dx && !direct_dx) /* the column matrix of dy is built anyway: it gives dw too */
        return backward_gemm(s, x, nx, w, dy, dx, dw, db);

    /* The weight gradient first, so that dx[i] may share x[i]'s storage: by the direct kernel,
     * or by the GEMM path from the column matrix of dy or x, whichever is smaller. */
    if (dw && use_winograd_wgrad(s, h, wd)) {
        sn_status st = conv_wgrad_winograd(s, x, nx, dy, dw, db);
        if (st != SN_OK)
            return st;
    } else if (dw && use_direct_wgrad(s, h, wd)) {
        sn_status st = conv_wgrad_direct(s, x, nx, dy, dw, db);
        if (st != SN_OK)
            return st;
    } else if (dw || db) {
        sn_status st = backward_gemm(s, x, nx, w, dy, NULL, dw, db);
        if (st != SN_OK)
            return st;
    }
    if (!want_dx)
        return SN_OK;

    float *wt = sn_ws_get(SN_WS_SHARED, (size_t)s->cin * kout);
    if (!wt)
        return SN_ENOMEM;
    flip_weights(s, w, wt);
    const sn_tensor *dys[1] = {dy};
    int c0 = 0;
    for (int i = 0; i < nx; i++) {
        const sn_conv_shape ts = {s->cout, x[i]->c, k, 0, s->winograd};
        if (dx[i]) {
            sn_status st = (use_winograd(&ts, h, wd) ? conv_forward_winograd : conv_forward_direct)(
                &ts, dys, 1, wt + (size_t)c0 * kout, NULL, dx[i]);
            if (st != SN_OK)
                return st;
        }
        c0 += x[i]->c;
    }
    return SN_OK;
}
