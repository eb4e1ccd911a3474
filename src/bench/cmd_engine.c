/* sernet-bench dump-engine, toytrain and bench: the engine on its own. */
#define _GNU_SOURCE
#include "bench/bench.h"
#include "sernet/fsutil.h"
#include "sernet/gemm.h"
#include "sernet/loss.h"
#include "sernet/optim.h"
#include "sernet/threads.h"
#include "sernet/unet.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

typedef struct {
    sn_net_kind kind;
    int width, units, size, batch, steps, iters, warmup, threads;
    long seed;
    double lr;
    const char *out, *mode;
    const char *precision; /* bench, inference: fp32, bf16 or both (interleaved) */
} engine_opts;


static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Random input in [0,1] and a target: a blocky binary mask (seg) or a smooth image (rec). */
static void make_batch(sn_net_kind kind, uint64_t seed, sn_tensor *x, sn_tensor *t)
{
    uint64_t s = seed;
    for (size_t i = 0; i < sn_tensor_numel(x); i++)
        x->data[i] = (float)((mix(&s) >> 40) * 0x1.0p-24);
    const int h = t->h, w = t->w;
    for (int n = 0; n < t->n; n++)
        for (int c = 0; c < t->c; c++) {
            const int cx = (int)(mix(&s) % (uint64_t)w), cy = (int)(mix(&s) % (uint64_t)h);
            const int r = 1 + (int)(mix(&s) % (uint64_t)(w / 3 + 1));
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++) {
                    float *v = t->data + (((size_t)n * t->c + c) * h + y) * w + xx;
                    const int in = (xx - cx) * (xx - cx) + (y - cy) * (y - cy) < r * r;
                    if (kind == SN_NET_SEG)
                        *v = (float)in;
                    else
                        *v = 0.25f + 0.5f * (float)in * (float)(c + 1) / 3.0f + 0.2f * (float)y / h;
                }
        }
}

/* A net with a fixed random batch, its Adam state and the loss settings: what the engine
 * commands share. */
typedef struct {
    sn_unet *net;
    sn_adam adam;
    sn_tensor x, t, dout;
    sn_ssim_params sp;
} engine_fixture;

static sn_status fixture_open(engine_fixture *f, const engine_opts *o, sn_net_kind kind, uint64_t data_seed)
{
    sn_status status = SN_OK;
    memset(f, 0, sizeof *f);
    SN_TRY(sn_unet_create(&f->net, kind, o->width, o->units, 1e-5, 0.1));
    sn_unet_init(f->net, (uint64_t)o->seed);
    const int oc = sn_unet_out_channels(f->net);
    SN_TRY(sn_tensor_alloc(&f->x, o->batch, 3, o->size, o->size, "input"));
    SN_TRY(sn_tensor_alloc(&f->t, o->batch, oc, o->size, o->size, "target"));
    SN_TRY(sn_tensor_alloc(&f->dout, o->batch, oc, o->size, o->size, "output gradient"));
    make_batch(kind, data_seed, &f->x, &f->t);
    SN_TRY(sn_adam_init(&f->adam, sn_unet_param_count(f->net), 0.9, 0.999, 1e-8));
    sn_ssim_defaults(&f->sp, 11, 1.5);
done:
    return status;
}

static void fixture_close(engine_fixture *f)
{
    sn_adam_free(&f->adam);
    sn_tensor_free(&f->x);
    sn_tensor_free(&f->t);
    sn_tensor_free(&f->dout);
    sn_unet_free(f->net);
    f->net = NULL;
}

/* Forward (training or inference mode) and loss; with `step`, also backward and an Adam step.
 * *out is the net's output of this forward. */
static sn_status fixture_run(engine_fixture *f, int training, int step, double lr, const sn_tensor **out,
                             double *loss, double *mse, double *ssim)
{
    sn_status status = SN_OK;
    sn_loss_sums sums;
    SN_TRY(sn_unet_forward(f->net, &f->x, training, NULL, out));
    SN_TRY(sn_loss_compute(&f->sp, *out, &f->t, (double)sn_tensor_numel(*out), &sums, step ? &f->dout : NULL));
    sn_loss_values(&sums, loss, mse, ssim);
    if (!isfinite(*loss))
        SN_FAIL(SN_ENONFINITE, "%s net: the loss is %g (learning rate %g too high?)",
                sn_unet_kind_name(sn_unet_kind(f->net)), *loss, lr);
    if (step) {
        sn_unet_zero_grad(f->net);
        SN_TRY(sn_unet_backward(f->net, &f->dout, NULL));
    }
done:
    return status;
}

static int parse_opts(int argc, char **argv, const char *cmd, const char *usage, engine_opts *o)
{
    const char *net = NULL;
    long long seed = o->seed;
    int pos = 0;
    const sn_cli_opt opts[] = {{"net", SN_OPT_STR, &net, 0, 0},
                               {"width", SN_OPT_INT, &o->width, 1, 4096},
                               {"units", SN_OPT_INT, &o->units, 1, 16},
                               {"size", SN_OPT_INT, &o->size, 1, 8192},
                               {"batch", SN_OPT_INT, &o->batch, 1, 1 << 16},
                               {"steps", SN_OPT_INT, &o->steps, 0, 1 << 30},
                               {"seed", SN_OPT_LONG, &seed, 0, 9e18},
                               {"out", SN_OPT_STR, &o->out, 0, 0},
                               {"lr", SN_OPT_DOUBLE, &o->lr, 1e-12, 10},
                               {"iters", SN_OPT_INT, &o->iters, 1, 1 << 30},
                               {"warmup", SN_OPT_INT, &o->warmup, 0, 1 << 30},
                               {"threads", SN_OPT_INT, &o->threads, 0, 1024},
                               {"mode", SN_OPT_STR, &o->mode, 0, 0},
                               {"precision", SN_OPT_STR, &o->precision, 0, 0},
                               SN_OPT_END};
    int rc = sn_cli_parse(cmd, usage, argc, argv, opts, NULL, &pos);
    if (rc)
        return rc;
    o->seed = (long)seed;
    if (pos < argc)
        return sn_cli_usage_error(cmd, usage, "unexpected argument '%s'", argv[pos]);
    if (net && strcmp(net, "seg") == 0)
        o->kind = SN_NET_SEG;
    else if (net && strcmp(net, "rec") == 0)
        o->kind = SN_NET_REC;
    else if (net)
        return sn_cli_usage_error(cmd, usage, "--net '%s': expected seg or rec", net);
    if (o->mode && strcmp(o->mode, "train") != 0 && strcmp(o->mode, "infer") != 0)
        return sn_cli_usage_error(cmd, usage, "--mode '%s': expected train or infer", o->mode);
    if (o->precision && strcmp(o->precision, "fp32") != 0 && strcmp(o->precision, "bf16") != 0 &&
        strcmp(o->precision, "both") != 0)
        return sn_cli_usage_error(cmd, usage, "--precision '%s': expected fp32, bf16 or both", o->precision);
    if (o->precision && strcmp(o->precision, "fp32") != 0 && (!o->mode || strcmp(o->mode, "infer") != 0))
        return sn_cli_usage_error(cmd, usage, "--precision %s: bf16 is an inference path, use it with --mode infer",
                                  o->precision);
    const int mult = sn_unet_size_multiple(o->kind);
    if (o->size < mult || o->size % mult)
        return sn_cli_usage_error(cmd, usage, "--size %d: the %s net needs a multiple of %d", o->size,
                                  sn_unet_kind_name(o->kind), mult);
    return 0;
}

/* ---- dump-engine: the C side of the PyTorch parity test ---------------------------------- */

static sn_status write_floats(const char *dir, const char *name, const float *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return SN_ERR(SN_EIO, "cannot write '%s': %s", path, strerror(errno));
    size_t w = fwrite(p, sizeof(float), n, f);
    if (fclose(f) != 0 || w != n)
        return SN_ERR(SN_EIO, "short write to '%s'", path);
    return SN_OK;
}

static sn_status write_text(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return SN_ERR(SN_EIO, "cannot write '%s': %s", path, strerror(errno));
    fputs(text, f);
    if (fclose(f) != 0)
        return SN_ERR(SN_EIO, "cannot write '%s'", path);
    return SN_OK;
}

static sn_status dump_engine(const engine_opts *o)
{
    sn_status status = SN_OK;
    engine_fixture f;
    char *text = NULL;
    const size_t text_cap = 1 << 20;
    memset(&f, 0, sizeof f);
    SN_TRY(sn_mkdirs(o->out));
    SN_TRY(fixture_open(&f, o, o->kind, (uint64_t)o->seed + 1));
    SN_ALLOC(text, text_cap, "manifest");
    size_t used = 0;
    for (int i = 0; i < sn_unet_tensor_count(f.net); i++) {
        const sn_tensor_info *ti = sn_unet_tensor(f.net, i);
        used += (size_t)snprintf(text + used, text_cap - used, "%s %s %zu", ti->is_buffer ? "buffer" : "param",
                                 ti->name, ti->offset);
        for (int d = 0; d < ti->ndim; d++)
            used += (size_t)snprintf(text + used, text_cap - used, " %d", ti->dims[d]);
        used += (size_t)snprintf(text + used, text_cap - used, "\n");
    }
    SN_TRY(write_text(o->out, "manifest.txt", text));
    snprintf(text, text_cap,
             "net %s\nwidth %d\nunits %d\nsize %d\nbatch %d\nsteps %d\nlr %.17g\nbeta1 0.9\nbeta2 0.999\n"
             "eps 1e-08\nbn_eps 1e-05\nbn_momentum 0.1\n",
             sn_unet_kind_name(o->kind), o->width, o->units, o->size, o->batch, o->steps, o->lr);
    SN_TRY(write_text(o->out, "meta.txt", text));
    SN_TRY(write_floats(o->out, "x.bin", f.x.data, sn_tensor_numel(&f.x)));
    SN_TRY(write_floats(o->out, "target.bin", f.t.data, sn_tensor_numel(&f.t)));
    SN_TRY(write_floats(o->out, "params0.bin", sn_unet_params(f.net), sn_unet_param_count(f.net)));
    SN_TRY(write_floats(o->out, "buffers0.bin", sn_unet_buffers(f.net), sn_unet_buffer_count(f.net)));
    for (int k = 1; k <= o->steps; k++) {
        const sn_tensor *out;
        double loss, mse, ssim;
        char name[64];
        SN_TRY(fixture_run(&f, 1, 1, o->lr, &out, &loss, &mse, &ssim));
        snprintf(name, sizeof name, "out_%d.bin", k);
        SN_TRY(write_floats(o->out, name, out->data, sn_tensor_numel(out)));
        snprintf(name, sizeof name, "grads_%d.bin", k);
        SN_TRY(write_floats(o->out, name, sn_unet_grads(f.net), sn_unet_param_count(f.net)));
        snprintf(name, sizeof name, "loss_%d.txt", k);
        snprintf(text, text_cap, "%.9g %.9g %.9g\n", loss, mse, ssim);
        SN_TRY(write_text(o->out, name, text));
        sn_adam_step(&f.adam, sn_unet_params(f.net), sn_unet_grads(f.net), o->lr);
    }
    SN_TRY(write_floats(o->out, "params_final.bin", sn_unet_params(f.net), sn_unet_param_count(f.net)));
    SN_TRY(write_floats(o->out, "buffers_final.bin", sn_unet_buffers(f.net), sn_unet_buffer_count(f.net)));
    {
        const sn_tensor *out;
        double loss, mse, ssim;
        SN_TRY(fixture_run(&f, 0, 0, o->lr, &out, &loss, &mse, &ssim));
        SN_TRY(write_floats(o->out, "eval_out.bin", out->data, sn_tensor_numel(out)));
        snprintf(text, text_cap, "%.9g %.9g %.9g\n", loss, mse, ssim);
        SN_TRY(write_text(o->out, "eval_loss.txt", text));
    }
done:
    sn_free(text);
    fixture_close(&f);
    return status;
}

int sn_cmd_dump_engine(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet-bench dump-engine --out DIR [--net seg|rec] [--width W] [--units U] [--size S]\n"
        "                                [--batch B] [--steps K] [--seed N] [--lr LR]\n"
        "Initialise a net, run K training steps (forward, MSE+SSIM loss, backward, Adam) on a fixed\n"
        "random batch and write every input, output, gradient and parameter state as raw float32\n"
        "files to DIR, for the PyTorch parity check (tests/torch_parity.py).\n";
    engine_opts o = {SN_NET_SEG, 8, 1, 64, 2, 3, 0, 0, 0, 1, 1e-3, NULL, NULL, NULL};
    int rc = parse_opts(argc, argv, "dump-engine", usage, &o);
    if (rc)
        return sn_cli_parse_exit(rc);
    if (!o.out)
        return sn_cli_usage_error("dump-engine", usage, "missing --out DIR");
    sn_threads_set(o.threads);
    if (dump_engine(&o) != SN_OK)
        return sn_cli_fail("dump-engine");
    return SN_EXIT_OK;
}

/* ---- toytrain: both nets learn a fixed random batch; the loss must go down ---------------- */

static sn_status toy_one(const engine_opts *o, sn_net_kind kind, double *first, double *last)
{
    sn_status status = SN_OK;
    engine_fixture f;
    SN_TRY(fixture_open(&f, o, kind, (uint64_t)o->seed + 11));
    for (int k = 0; k < o->steps; k++) {
        const sn_tensor *out;
        double loss, mse, ssim;
        SN_TRY(fixture_run(&f, 1, 1, o->lr, &out, &loss, &mse, &ssim));
        if (k == 0)
            *first = loss;
        *last = loss;
        if (k == 0 || (k + 1) % 5 == 0 || k + 1 == o->steps)
            printf("%s step %3d  loss %.5f  (mse %.5f, ssim %.5f)\n", sn_unet_kind_name(kind), k + 1, loss, mse, ssim);
        sn_adam_step(&f.adam, sn_unet_params(f.net), sn_unet_grads(f.net), o->lr);
    }
done:
    fixture_close(&f);
    return status;
}

int sn_cmd_toytrain(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet-bench toytrain [--steps K] [--size S] [--width W] [--units U] [--batch B] [--lr LR]\n"
        "Train the segmentation and the reconstruction net on a fixed random batch and print the\n"
        "loss as it goes down (a quick end-to-end check of the engine).\n";
    engine_opts o = {SN_NET_REC, 8, 1, 64, 4, 30, 0, 0, 0, 1, 2e-3, NULL, NULL, NULL};
    int rc = parse_opts(argc, argv, "toytrain", usage, &o);
    if (rc)
        return sn_cli_parse_exit(rc);
    sn_threads_set(o.threads);
    if (sn_cli_rank() != 0)
        return SN_EXIT_OK; /* one process is enough for a toy */
    for (int k = 0; k < 2; k++) {
        double first = 0, last = 0;
        if (toy_one(&o, k == 0 ? SN_NET_SEG : SN_NET_REC, &first, &last) != SN_OK)
            return sn_cli_fail("toytrain");
        printf("%s: loss %.5f -> %.5f (%s)\n", k == 0 ? "segmentation" : "reconstruction", first, last,
               last < first ? "went down" : "DID NOT go down");
        if (!(last < first))
            return SN_EXIT_FAIL;
    }
    return SN_EXIT_OK;
}

/* ---- bench: throughput, FLOP rate and peak memory of one net in one mode ------------------ */

/* Timing of one precision in bench_one. */
typedef struct {
    sn_precision prec;
    double wall, cpu; /* summed over the timed iterations */
} bench_arm;

/* The timed loop. With two arms (fp32 and bf16 inference) the iterations alternate between
 * them on the same net and batch, so a change of machine load hits both alike; the outputs of
 * the last iteration of each are compared (*maxdiff, *meandiff). */
static sn_status bench_one(const engine_opts *o, bench_arm *arms, int narms, double *maxdiff, double *meandiff)
{
    sn_status status = SN_OK;
    engine_fixture f;
    float *first = NULL;
    const int train = strcmp(o->mode, "train") == 0;
    SN_TRY(fixture_open(&f, o, o->kind, 5));
    for (int k = 0; k < o->warmup + o->iters; k++) {
        for (int a = 0; a < narms; a++) {
            if (narms > 1 || k == 0)
                SN_TRY(sn_unet_set_precision(f.net, arms[a].prec));
            const double t0 = sn_clock_wall(), c0 = sn_clock_cpu();
            const sn_tensor *out;
            double loss, mse, ssim;
            if (train) {
                SN_TRY(fixture_run(&f, 1, 1, 1e-4, &out, &loss, &mse, &ssim));
                sn_adam_step(&f.adam, sn_unet_params(f.net), sn_unet_grads(f.net), 1e-4);
            } else {
                SN_TRY(sn_unet_forward(f.net, &f.x, 0, NULL, &out)); /* inference: no loss */
            }
            if (k >= o->warmup) {
                arms[a].wall += sn_clock_wall() - t0;
                arms[a].cpu += sn_clock_cpu() - c0;
            }
            if (narms > 1 && k == o->warmup + o->iters - 1) {
                const size_t n = sn_tensor_numel(out);
                if (a == 0) {
                    SN_ALLOC(first, n * sizeof(float), "output copy");
                    memcpy(first, out->data, n * sizeof(float));
                } else {
                    double mx = 0, sum = 0;
                    for (size_t i = 0; i < n; i++) {
                        const double d = fabs((double)out->data[i] - first[i]);
                        mx = d > mx ? d : mx;
                        sum += d;
                    }
                    *maxdiff = mx;
                    *meandiff = sum / (double)n;
                }
            }
        }
    }
done:
    sn_free(first);
    fixture_close(&f);
    return status;
}

/* Single-threaded SGEMM rate per thread, all threads at once: the machine's practical peak. */
static double gemm_peak(int threads)
{
    const int m = 256, n = 2048, k = 1152, reps = 6;
    double best = 0;
#pragma omp parallel num_threads(threads) reduction(+ : best)
    {
        float *a = sn_alloc(sizeof(float) * m * k, "gemm"), *b = sn_alloc(sizeof(float) * k * n, "gemm");
        float *c = sn_alloc(sizeof(float) * m * n, "gemm");
        double rate = 0;
        if (a && b && c) {
            for (size_t i = 0; i < (size_t)m * k; i++)
                a[i] = 0.001f * (float)(i % 97);
            for (size_t i = 0; i < (size_t)k * n; i++)
                b[i] = 0.001f * (float)(i % 89);
            sn_gemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
#pragma omp barrier
            double t0 = sn_clock_wall();
            for (int r = 0; r < reps; r++)
                sn_gemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
            rate = 2.0 * m * n * k * reps / (sn_clock_wall() - t0) / 1e9;
        }
        sn_free(a);
        sn_free(b);
        sn_free(c);
        best = rate;
    }
    return best;
}

int sn_cmd_bench(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet-bench bench [--net seg|rec] [--mode train|infer] [--width W] [--units U] [--size S]\n"
        "                          [--batch B] [--threads T] [--warmup N] [--iters N] [--precision P]\n"
        "Measure one net in one mode: images/s, achieved GFLOP/s of the convolutions, peak resident\n"
        "memory of this process, and the machine's SGEMM rate for reference. Prints one JSON line.\n"
        "--precision (inference only; default fp32): fp32, bf16 (bfloat16 convolutions with float32\n"
        "sums, needs AVX512_BF16), or both: fp32 and bf16 iterations alternate on the same net and\n"
        "batch, one JSON line each, then one with the speed-up and the output difference.\n"
        "tools/bench/bench_engine.sh runs every net and mode next to PyTorch and prints the ratios.\n";
    engine_opts o = {SN_NET_SEG, 32, 1, 256, 8, 0, 3, 1, 0, 1, 1e-4, NULL, "train", "fp32"};
    int rc = parse_opts(argc, argv, "bench", usage, &o);
    if (rc)
        return sn_cli_parse_exit(rc);
    sn_threads_set(o.threads);
    bench_arm arms[2] = {{SN_PREC_FP32, 0, 0}, {SN_PREC_BF16, 0, 0}};
    int narms = 1;
    if (strcmp(o.precision, "bf16") == 0)
        arms[0].prec = SN_PREC_BF16;
    else if (strcmp(o.precision, "both") == 0)
        narms = 2;
    double maxdiff = 0, meandiff = 0;
    if (bench_one(&o, arms, narms, &maxdiff, &meandiff) != SN_OK)
        return sn_cli_fail("bench");
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const int train = strcmp(o.mode, "train") == 0;
    const double peak = gemm_peak(sn_threads_get());
    double img_s[2] = {0, 0};
    for (int a = 0; a < narms && sn_cli_rank() == 0; a++) {
        const double sec = arms[a].wall / o.iters, cpu = arms[a].cpu / o.iters;
        img_s[a] = o.batch / sec;
        const double gflop = sn_unet_flops(o.kind, o.width, o.units, o.size, train) * img_s[a] / 1e9;
        printf("{\"impl\": \"sernet\", \"net\": \"%s\", \"mode\": \"%s\", \"precision\": \"%s\", \"width\": %d, "
               "\"size\": %d, \"batch\": %d, \"threads\": %d, \"images_per_s\": %.4f, \"seconds_per_iter\": %.4f, "
               "\"cpu_seconds_per_iter\": %.4f, \"gflops\": %.2f, \"peak_rss_mb\": %.1f, \"sgemm_peak_gflops\": %.2f, "
               "\"gemm\": \"%s\"}\n",
               sn_unet_kind_name(o.kind), o.mode, arms[a].prec == SN_PREC_BF16 ? "bf16" : "fp32", o.width, o.size,
               o.batch, sn_threads_get(), img_s[a], sec, cpu, gflop, ru.ru_maxrss / 1024.0, peak, sn_gemm_describe());
    }
    if (narms == 2 && sn_cli_rank() == 0)
        printf("{\"compare\": \"bf16 vs fp32\", \"net\": \"%s\", \"speedup\": %.3f, \"output_max_abs_diff\": %.3g, "
               "\"output_mean_abs_diff\": %.3g}\n",
               sn_unet_kind_name(o.kind), img_s[1] / img_s[0], maxdiff, meandiff);
    return SN_EXIT_OK;
}
