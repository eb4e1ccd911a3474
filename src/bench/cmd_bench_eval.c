/* sernet-bench bench-eval: anomaly maps per second and metric time over synthetic test sets. */
#define _GNU_SOURCE
#include "bench/bench.h"
#include "sernet/fsutil.h"
#include "sernet/anomaly_map.h"
#include "sernet/dist.h"
#include "sernet/metrics.h"
#include "sernet/threads.h"

#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: sernet-bench bench-eval [--size S] [--maps N] [--pixels LIST] [--mode both|exact|binned]\n"
    "                               [--threads T] [--config FILE] [--set key=value]...\n"
    "Benchmark the anomaly map (maps per second at S x S, 1 thread and T threads per rank) and the\n"
    "evaluation metrics over synthetic test sets of LIST pixels (default 1e6,1e7,1e8; images of\n"
    "S x S split round-robin over the ranks). Map keys: msgms_scales, box_size, color_weight;\n"
    "metric keys: aupro_max_fpr, eval_bins, eval_exact_max_pixels (ignored: --mode chooses).\n"
    "  --size S        image side (default: image_size)\n"
    "  --maps N        maps per timing run (default 32)\n"
    "  --pixels LIST   comma-separated pixel counts (0 skips the metric benchmark)\n"
    "  --mode M        both (default), exact or binned\n"
    "  --threads T     threads per rank for the batched maps (default: the threads key)\n";

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
static float u01(uint64_t *s)
{
    *s = mix(*s);
    return (float)((*s >> 40) * (1.0 / 16777216.0));
}


static int parse_list(const char *s, double *out, int max)
{
    int n = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save)) {
        char *end;
        double v = strtod(t, &end);
        if (*end || !(v >= 0)) {
            free(copy);
            return -1;
        }
        out[n++] = v;
    }
    free(copy);
    return n;
}

/* One synthetic image pair: a smooth textured image and a reconstruction differing in a patch. */
static void make_pair(float *I, float *R, int S, uint64_t seed)
{
    size_t n = (size_t)S * S;
    float ph = u01(&seed) * 6.28f;
    int py = (int)(u01(&seed) * S * 0.7f), px = (int)(u01(&seed) * S * 0.7f), ps = S / 8 + 1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                size_t i = (size_t)c * n + (size_t)y * S + x;
                float v = 0.5f + 0.25f * sinf(0.11f * x + 0.07f * y + ph + c) + 0.05f * (u01(&seed) - 0.5f);
                I[i] = v;
                float d = (y >= py && y < py + ps && x >= px && x < px + ps) ? 0.25f : 0.0f;
                R[i] = fminf(1.0f, fmaxf(0.0f, v + d + 0.02f * (u01(&seed) - 0.5f)));
            }
}

static int bench_maps(const sn_map_params *p, int S, int nmaps, int threads, int rank, int nranks)
{
    sn_status status = SN_OK;
    size_t n = (size_t)S * S;
    float *I = NULL, *R = NULL, *A = NULL, *sc = NULL;
    sn_map_ws *ws = NULL;
    SN_ALLOC(I, 3 * n * nmaps, "benchmark images");
    SN_ALLOC(R, 3 * n * nmaps, "benchmark images");
    SN_ALLOC(A, n * nmaps, "benchmark maps");
    SN_ALLOC(sc, nmaps, "benchmark scores");
    for (int k = 0; k < nmaps; k++)
        make_pair(I + 3 * n * k, R + 3 * n * k, S, (uint64_t)(rank * 1000003 + k));
    SN_TRY(sn_map_ws_create(p, S, S, &ws));
    /* warm-up, then 1 thread */
    SN_TRY(sn_map_compute(ws, I, R, A, sc));
    SN_MPI_TRY(MPI_Barrier(MPI_COMM_WORLD));
    double t0 = MPI_Wtime(), c0 = sn_clock_cpu();
    for (int k = 0; k < nmaps; k++)
        SN_TRY(sn_map_compute(ws, I + 3 * n * k, R + 3 * n * k, A + n * k, sc + k));
    double t1 = MPI_Wtime() - t0, t1max = 0, c1 = sn_clock_cpu() - c0, c1max = 0;
    SN_MPI_TRY(MPI_Allreduce(&t1, &t1max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    SN_MPI_TRY(MPI_Allreduce(&c1, &c1max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    /* the reference, once, for scale */
    double c2 = sn_clock_cpu();
    SN_TRY(sn_map_compute_ref(p, S, S, I, R, A, NULL, NULL, sc));
    double cref = sn_clock_cpu() - c2;
    sn_threads_set(threads);
    SN_MPI_TRY(MPI_Barrier(MPI_COMM_WORLD));
    t0 = MPI_Wtime();
    SN_TRY(sn_map_compute_batch(p, nmaps, S, S, I, R, A, sc));
    double tb = MPI_Wtime() - t0, tbmax = 0;
    SN_MPI_TRY(MPI_Allreduce(&tb, &tbmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    if (rank == 0) {
        printf("anomaly map S=%d scales=%d box=%d: 1 thread/rank: %.1f maps/s per rank (%.2f ms/map wall, "
               "%.2f ms/map CPU); %d thread(s)/rank x %d rank(s): %.1f maps/s total (wall)\n",
               S, p->scales, p->box, nmaps / t1max, 1e3 * t1max / nmaps, 1e3 * c1max / nmaps,
               sn_threads_get(), nranks, (double)nmaps * nranks / tbmax);
        printf("  reference implementation (direct box sums, libm CIELAB): %.1f ms/map CPU\n", 1e3 * cref);
        fflush(stdout);
    }
done:
    sn_map_ws_free(ws);
    sn_free(I);
    sn_free(R);
    sn_free(A);
    sn_free(sc);
    return status;
}

static sn_status bench_metrics(const sn_eval_opts *base, int S, double pixels, int modes, int rank,
                               int nranks)
{
    sn_status status = SN_OK;
    size_t n = (size_t)S * S;
    int64_t nimg = (int64_t)ceil(pixels / (double)n);
    float *map = NULL;
    uint8_t *mask = NULL;
    sn_eval_set *set = NULL;
    SN_ALLOC(map, n, "benchmark map");
    SN_ALLOC(mask, n, "benchmark mask");
    SN_TRY(sn_eval_set_create(&set));
    SN_TRY(sn_eval_set_reserve(set, (nimg + nranks - 1) / nranks, (nimg + nranks - 1) / nranks * (int64_t)n));
    SN_MPI_TRY(MPI_Barrier(MPI_COMM_WORLD));
    double t0 = MPI_Wtime(), gen = 0;
    for (int64_t k = rank; k < nimg; k += nranks) {
        double g0 = MPI_Wtime();
        uint64_t seed = (uint64_t)k * 7919u + 17u;
        int type = (int)(k % 4);
        memset(mask, 0, n);
        if (type) {
            int cy = (int)(u01(&seed) * S), cx = (int)(u01(&seed) * S), r = 2 + (int)(u01(&seed) * S / 10);
            for (int y = cy - r < 0 ? 0 : cy - r; y < S && y <= cy + r; y++)
                for (int x = cx - r < 0 ? 0 : cx - r; x < S && x <= cx + r; x++)
                    if ((y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r)
                        mask[(size_t)y * S + x] = 1;
        }
        float best = 0;
        for (size_t i = 0; i < n; i++) {
            float v = u01(&seed) * 0.7f + 0.35f * mask[i]; /* 2^24 levels: few ties */
            map[i] = v;
            best = v > best ? v : best;
        }
        gen += MPI_Wtime() - g0;
        SN_TRY(sn_eval_set_add(set, k, NULL, type, best, map, S, S, mask, S, S));
    }
    double tadd = MPI_Wtime() - t0 - gen, taddmax = 0;
    SN_MPI_TRY(MPI_Allreduce(&tadd, &taddmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    if (rank == 0)
        printf("metrics over %lld pixels (%lld images of %dx%d, %d rank(s)): add (labelling, checks) %.3f s\n",
               (long long)(nimg * (int64_t)n), (long long)nimg, S, S, nranks, taddmax);
    for (int m = SN_EVAL_EXACT; m <= SN_EVAL_BINNED; m++) {
        if (!(modes & (1 << m)))
            continue;
        sn_eval_opts o = *base;
        o.mode = m;
        sn_eval_result r;
        SN_MPI_TRY(MPI_Barrier(MPI_COMM_WORLD));
        t0 = MPI_Wtime();
        double c0 = sn_clock_cpu();
        SN_TRY(sn_eval_compute(set, MPI_COMM_WORLD, &o, &r));
        double t = MPI_Wtime() - t0, c = sn_clock_cpu() - c0, csum = 0;
        SN_MPI_TRY(MPI_Allreduce(&c, &csum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
        if (rank == 0) {
            printf("  %s: %.3f s wall, %.3f s CPU (all ranks)  pixel AUROC %.6f  AUPRO %.6f  pixel AP %.6f  image AUROC %.6f",
                   m == SN_EVAL_EXACT ? "exact " : "binned", t, csum, r.pixel_auroc.value, r.aupro.value,
                   r.pixel_ap.value, r.image_auroc.value);
            if (r.binned)
                printf("  (%d bins; bounds %.2g %.2g %.2g)", r.bins, r.pixel_auroc_bound, r.aupro_bound,
                       r.pixel_ap_bound);
            printf("\n");
            fflush(stdout);
        }
    }
done:
    sn_eval_set_free(set);
    sn_free(map);
    sn_free(mask);
    return status;
}

int sn_cmd_bench_eval(int argc, char **argv)
{
    sn_cli_config_args ca = {0};
    int S = 0, nmaps = 32, threads = -1, modes = (1 << SN_EVAL_EXACT) | (1 << SN_EVAL_BINNED), pos = 0;
    double pixels[16] = {1e6, 1e7, 1e8};
    int npix = 3;
    const char *pixels_arg = NULL, *mode_arg = NULL;
    const sn_cli_opt opts[] = {{"size", SN_OPT_INT, &S, 8, 8192},
                               {"maps", SN_OPT_INT, &nmaps, 0, 100000},
                               {"pixels", SN_OPT_STR, &pixels_arg, 0, 0},
                               {"mode", SN_OPT_STR, &mode_arg, 0, 0},
                               {"threads", SN_OPT_INT, &threads, 0, 1024},
                               SN_OPT_END};
    int prc = sn_cli_parse("bench-eval", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos < argc)
        return sn_cli_usage_error("bench-eval", usage, "unexpected argument '%s'", argv[pos]);
    if (pixels_arg && (npix = parse_list(pixels_arg, pixels, 16)) < 0)
        return sn_cli_usage_error("bench-eval", usage, "--pixels needs comma-separated counts");
    if (mode_arg) {
        if (strcmp(mode_arg, "both") == 0)
            modes = (1 << SN_EVAL_EXACT) | (1 << SN_EVAL_BINNED);
        else if (strcmp(mode_arg, "exact") == 0)
            modes = 1 << SN_EVAL_EXACT;
        else if (strcmp(mode_arg, "binned") == 0)
            modes = 1 << SN_EVAL_BINNED;
        else
            return sn_cli_usage_error("bench-eval", usage, "--mode must be both, exact or binned");
    }
    sn_config cfg;
    if (sn_cli_config_resolve(&ca, &cfg) != SN_OK)
        return sn_cli_fail("bench-eval");
    if (S == 0)
        S = cfg.image_size;
    if (threads < 0)
        threads = cfg.threads;
    int rank = sn_dist_rank(MPI_COMM_WORLD), nranks = sn_dist_size(MPI_COMM_WORLD);
    sn_map_params mp;
    sn_map_params_from_config(&cfg, &mp);
    sn_eval_opts eo;
    sn_eval_opts_from_config(&cfg, &eo);
    sn_threads_set(1);
    sn_status st = SN_OK;
    if (nmaps > 0)
        st = bench_maps(&mp, S, nmaps, threads, rank, nranks);
    /* every rank learns of a failure (and its message) before the next collective step */
    st = sn_dist_agree(st, MPI_COMM_WORLD);
    for (int i = 0; i < npix && st == SN_OK; i++) {
        if (pixels[i] < 1)
            continue;
        st = sn_dist_agree(bench_metrics(&eo, S, pixels[i], modes, rank, nranks), MPI_COMM_WORLD);
    }
    return st == SN_OK ? SN_EXIT_OK : sn_cli_fail("bench-eval");
}
