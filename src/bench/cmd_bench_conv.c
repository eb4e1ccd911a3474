/* sernet-bench bench-conv: the 3x3 convolution algorithms side by side on the layer shapes
 * of one net (issue 15): forward by im2col + GEMM, the direct AVX-512 kernel and the Winograd
 * kernel, or (--pass wgrad) the weight gradient by the GEMM path and the direct kernel, each
 * timed on the same input, best of several repetitions. */
#include "bench/bench.h"
#include "sernet/fsutil.h"
#include "sernet/nn.h"
#include "sernet/threads.h"

#include <stdio.h>
#include <string.h>

typedef sn_status (*conv_fn)(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const float *w,
                             const float *b, sn_tensor *y);

/* Best time of `reps` calls: thread CPU time on one thread (robust on a shared machine), wall
 * time otherwise. */
static sn_status time_conv(conv_fn f, const sn_conv_shape *s, const sn_tensor *x, const float *w, const float *b,
                           sn_tensor *y, int reps, int threads, double *best)
{
    sn_status status = SN_OK;
    const sn_tensor *src[1] = {x};
    *best = 1e300;
    for (int r = 0; r < reps; r++) {
        const double t0 = threads == 1 ? sn_clock_thread_cpu() : sn_clock_wall();
        SN_TRY(f(s, src, 1, w, b, y));
        const double t = (threads == 1 ? sn_clock_thread_cpu() : sn_clock_wall()) - t0;
        if (t < *best)
            *best = t;
    }
done:
    return status;
}

typedef sn_status (*wgrad_fn)(const sn_conv_shape *s, const sn_tensor *const *x, int nx, const sn_tensor *dy,
                              float *dw, float *db);

/* Best time of `reps` weight-and-bias gradients, timed as time_conv does. */
static sn_status time_wgrad(wgrad_fn f, const sn_conv_shape *s, const sn_tensor *x, const sn_tensor *dy, float *dw,
                            float *db, int reps, int threads, double *best)
{
    sn_status status = SN_OK;
    const sn_tensor *src[1] = {x};
    *best = 1e300;
    for (int r = 0; r < reps; r++) {
        const double t0 = threads == 1 ? sn_clock_thread_cpu() : sn_clock_wall();
        SN_TRY(f(s, src, 1, dy, dw, db));
        const double t = (threads == 1 ? sn_clock_thread_cpu() : sn_clock_wall()) - t0;
        if (t < *best)
            *best = t;
    }
done:
    return status;
}

/* The weight gradient of one layer shape: GEMM path against the direct kernel. */
static sn_status bench_layer_wgrad(int cin, int cout, int s, int n, int reps, int threads)
{
    sn_status status = SN_OK;
    sn_tensor x = {0}, dy = {0};
    float *dw = NULL, *db = NULL;
    SN_TRY(sn_tensor_alloc(&x, n, cin, s, s, "benchmark input"));
    SN_TRY(sn_tensor_alloc(&dy, n, cout, s, s, "benchmark output gradient"));
    SN_ALLOC(dw, (size_t)cout * cin * 9, "benchmark weight gradient");
    SN_ALLOC(db, (size_t)cout, "benchmark bias gradient");
    for (size_t i = 0; i < sn_tensor_numel(&x); i++)
        x.data[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < sn_tensor_numel(&dy); i++)
        dy.data[i] = (float)((i * 104729) % 997) / 997.0f - 0.5f;
    memset(dw, 0, sizeof(float) * (size_t)cout * cin * 9);
    memset(db, 0, sizeof(float) * (size_t)cout);
    const sn_conv_shape sh = {cin, cout, 3, 0, 0};
    const double flop = 2.0 * n * cout * cin * 9.0 * s * s;
    double tg = 0, td = 0, tw = 0;
    SN_TRY(time_wgrad(conv_wgrad_gemm, &sh, &x, &dy, dw, db, reps, threads, &tg));
    if (conv_wgrad_direct_supported(&sh, s, s))
        SN_TRY(time_wgrad(conv_wgrad_direct, &sh, &x, &dy, dw, db, reps, threads, &td));
    if (conv_wgrad_winograd_supported(&sh, s, s))
        SN_TRY(time_wgrad(conv_wgrad_winograd, &sh, &x, &dy, dw, db, reps, threads, &tw));
    if (sn_cli_rank() == 0) {
        printf("%5d %5d %5d | %9.2f %7.1f |", cin, cout, s, tg * 1e3, flop / tg / 1e9);
        if (td > 0)
            printf(" %9.2f %7.1f | %5.2fx |", td * 1e3, flop / td / 1e9, tg / td);
        else
            printf(" %9s %7s | %6s |", "-", "-", "-");
        if (tw > 0 && td > 0)
            printf(" %9.2f %7.1f | %5.2fx\n", tw * 1e3, flop / tw / 1e9, td / tw);
        else
            printf(" %9s %7s | %6s\n", "-", "-", "-");
    }
done:
    sn_tensor_free(&x);
    sn_tensor_free(&dy);
    sn_free(dw);
    sn_free(db);
    return status;
}

static sn_status bench_layer(int cin, int cout, int s, int n, int reps, int threads, int wgrad)
{
    if (wgrad)
        return bench_layer_wgrad(cin, cout, s, n, reps, threads);

    sn_status status = SN_OK;
    sn_tensor x = {0}, y = {0};
    float *w = NULL, *b = NULL;
    SN_TRY(sn_tensor_alloc(&x, n, cin, s, s, "benchmark input"));
    SN_TRY(sn_tensor_alloc(&y, n, cout, s, s, "benchmark output"));
    SN_ALLOC(w, (size_t)cout * cin * 9, "benchmark weights");
    SN_ALLOC(b, (size_t)cout, "benchmark bias");
    for (size_t i = 0; i < sn_tensor_numel(&x); i++)
        x.data[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < (size_t)cout * cin * 9; i++)
        w[i] = (float)((i * 31) % 97) / 97.0f - 0.5f;
    for (int i = 0; i < cout; i++)
        b[i] = 0.1f;
    const sn_conv_shape sh = {cin, cout, 3, 1, 0};
    const double flop = 2.0 * n * cout * cin * 9.0 * s * s;
    double tg = 0, td = 0, tw = 0;
    SN_TRY(time_conv(conv_forward_gemm, &sh, &x, w, b, &y, reps, threads, &tg));
    if (conv_direct_supported(&sh, s, s))
        SN_TRY(time_conv(conv_forward_direct, &sh, &x, w, b, &y, reps, threads, &td));
    if (conv_winograd_supported(&sh, s, s))
        SN_TRY(time_conv(conv_forward_winograd, &sh, &x, w, b, &y, reps, threads, &tw));
    if (sn_cli_rank() == 0) {
        printf("%5d %5d %5d | %9.2f %7.1f |", cin, cout, s, tg * 1e3, flop / tg / 1e9);
        if (td > 0)
            printf(" %9.2f %7.1f |", td * 1e3, flop / td / 1e9);
        else
            printf(" %9s %7s |", "-", "-");
        if (tw > 0)
            printf(" %9.2f %7.1f | %5.2fx\n", tw * 1e3, flop / tw / 1e9, (td > 0 ? td : tg) / tw);
        else
            printf(" %9s %7s | %6s\n", "-", "-", "-");
    }
done:
    sn_tensor_free(&x);
    sn_tensor_free(&y);
    sn_free(w);
    sn_free(b);
    return status;
}

int sn_cmd_bench_conv(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet-bench bench-conv [--net seg|rec] [--width W] [--size S] [--batch B] [--threads T]\n"
        "                               [--reps R] [--pass forward|wgrad]\n"
        "Time the forward 3x3 convolution algorithms (im2col + GEMM, the direct AVX-512 kernel, the\n"
        "Winograd F(2x2,3x3) kernel; '-' where one does not apply) on every distinct layer shape of\n"
        "the net's first units (encoder, decoder with its skip channels, output), with the fused\n"
        "ReLU; best of R calls: thread CPU time at 1 thread, wall time otherwise. Defaults: rec,\n"
        "width 32, S 256, batch 2, 1 thread, R 5. The last column is the direct (or GEMM) time over\n"
        "the Winograd time. --pass wgrad (default forward) times the weight and bias gradient\n"
        "instead: the GEMM path (im2col of x or dy, whichever is smaller) against the direct\n"
        "AVX-512 kernel (gain: GEMM time over direct time) and the Winograd F(3x3,2x2) weight\n"
        "gradient (gain: direct time over Winograd time; '-' where it does not apply).\n";
    const char *net = "rec", *pass = "forward";
    int width = 32, size = 256, batch = 2, threads = 1, reps = 5, pos = 0;
    const sn_cli_opt opts[] = {{"net", SN_OPT_STR, &net, 0, 0},
                               {"width", SN_OPT_INT, &width, 1, 4096},
                               {"size", SN_OPT_INT, &size, 16, 8192},
                               {"batch", SN_OPT_INT, &batch, 1, 1 << 16},
                               {"threads", SN_OPT_INT, &threads, 1, 1024},
                               {"reps", SN_OPT_INT, &reps, 1, 1 << 20},
                               {"pass", SN_OPT_STR, &pass, 0, 0},
                               SN_OPT_END};
    int rc = sn_cli_parse("bench-conv", usage, argc, argv, opts, NULL, &pos);
    if (rc)
        return sn_cli_parse_exit(rc);
    if (pos < argc)
        return sn_cli_usage_error("bench-conv", usage, "unexpected argument '%s'", argv[pos]);
    const int seg = strcmp(net, "seg") == 0;
    if (!seg && strcmp(net, "rec") != 0)
        return sn_cli_usage_error("bench-conv", usage, "--net must be seg or rec, not '%s'", net);
    const int wgrad = strcmp(pass, "wgrad") == 0;
    if (!wgrad && strcmp(pass, "forward") != 0)
        return sn_cli_usage_error("bench-conv", usage, "--pass must be forward or wgrad, not '%s'", pass);
    static const int mult_seg[] = {1, 2, 4}, mult_rec[] = {1, 2, 4, 8, 8};
    const int levels = seg ? 3 : 5;
    const int *mult = seg ? mult_seg : mult_rec;
    sn_threads_set(threads);
    if (sn_cli_rank() == 0)
        printf("bench-conv: %s net, %s, width %d, S %d, batch %d, %d thread(s), best of %d\n%s", net,
               wgrad ? "weight gradient" : "forward", width, size, batch, threads, reps,
               wgrad ? "  cin  cout  side |   gemm ms  GF/s   | direct ms  GF/s   | gain   | winogr ms  GF/s   | gain\n"
                     : "  cin  cout  side |   gemm ms  GF/s   | direct ms  GF/s   | winogr ms  GF/s   | gain\n");
    sn_status status = SN_OK;
    for (int l = 0; l < levels && status == SN_OK; l++) {
        const int s = size >> l, wl = width * mult[l];
        status = bench_layer(l == 0 ? 3 : width * mult[l - 1], wl, s, batch, reps, threads, wgrad);
        if (status == SN_OK && wl != (l == 0 ? 3 : width * mult[l - 1]))
            status = bench_layer(wl, wl, s, batch, reps, threads, wgrad); /* units after the first */
        if (status == SN_OK && l < levels - 1)
            status = bench_layer(width * mult[l + 1] + wl, wl, s, batch, reps, threads, wgrad);
    }
    if (status == SN_OK)
        status = bench_layer(width, seg ? 1 : 3, size, batch, reps, threads, wgrad);
    return status == SN_OK ? SN_EXIT_OK : sn_cli_fail("bench-conv");
}
