/* sernet-bench bench-pseudo: pseudo-anomalies generated per second, per kind, on one thread. */
#define _GNU_SOURCE
#include "bench/bench.h"
#include "sernet/fsutil.h"
#include "sernet/pseudo.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int s, n;
    float *images; /* n x [3, S, S] */
} bench_source;


static sn_status bench_get(void *ctx, int64_t index, float *chw)
{
    bench_source *b = ctx;
    size_t len = (size_t)3 * b->s * b->s;
    memcpy(chw, b->images + (size_t)index * len, len * sizeof(float));
    return SN_OK;
}

int sn_cmd_bench_pseudo(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet-bench bench-pseudo [--size S] [--count N] [--config FILE] [--set key=value]...\n"
        "Generate N PPA and N DPA samples of size S x S (default: image_size, N = 200) from\n"
        "synthetic in-memory images on one thread and print samples per second for each kind\n"
        "(all samples, clean ones included, and the anomalous ones alone).\n";
    sn_cli_config_args ca = {0};
    int size = 0, count = 200, pos = 0;
    const sn_cli_opt opts[] = {{"size", SN_OPT_INT, &size, 8, 1 << 16}, {"count", SN_OPT_INT, &count, 1, 1 << 30},
                               SN_OPT_END};
    int prc = sn_cli_parse("bench-pseudo", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos < argc)
        return sn_cli_usage_error("bench-pseudo", usage, "unexpected argument '%s'", argv[pos]);

    sn_status status = SN_OK;
    sn_config cfg;
    sn_pseudo_params p;
    sn_pseudo_work *w = NULL;
    bench_source bs = {0, 8, NULL};
    float *out = NULL, *mask = NULL;
    SN_TRY(sn_cli_config_resolve(&ca, &cfg));
    sn_pseudo_params_from_config(&p, &cfg);
    if (size)
        p.size = size;
    SN_TRY(sn_pseudo_params_check(&p));
    bs.s = p.size;
    size_t plane = (size_t)p.size * p.size;
    SN_ALLOC(bs.images, (size_t)bs.n * 3 * plane, "benchmark images");
    SN_ALLOC(out, 3 * plane, "benchmark output image");
    SN_ALLOC(mask, plane, "benchmark output mask");
    for (int i = 0; i < bs.n; i++) {
        sn_rng r;
        sn_rng_init(&r, 1, SN_RNG_STAGE_TOOL, 0, (uint64_t)i);
        for (size_t k = 0; k < 3 * plane; k++)
            bs.images[(size_t)i * 3 * plane + k] = sn_rng_uniformf(&r);
    }
    SN_TRY(sn_pseudo_work_create(p.size, &w));
    sn_image_source src = {bs.n, &bs, bench_get};
    if (sn_cli_rank() == 0)
        printf("bench-pseudo: S = %d, %d samples per kind, p_anomaly = %g, 1 thread\n", p.size,
               count, p.p_anomaly);
    for (int kind = 0; kind < 2; kind++) {
        int anomalous = 0, tries = 0, fallbacks = 0;
        double anomalous_time = 0, area = 0;
        double t0 = MPI_Wtime(), c0 = sn_clock_thread_cpu();
        for (int k = 0; k < count; k++) {
            sn_pseudo_key key = {cfg.seed, kind ? SN_RNG_STAGE_REC : SN_RNG_STAGE_SEG, 0, (uint64_t)k};
            sn_pseudo_info info;
            const float *img = bs.images + (size_t)(k % bs.n) * 3 * plane;
            double ts = MPI_Wtime();
            if (kind)
                SN_TRY(sn_pseudo_dpa(&p, &key, img, w, out, mask, &info));
            else
                SN_TRY(sn_pseudo_ppa(&p, &key, img, &src, w, out, mask, &info));
            if (info.anomalous) {
                anomalous++;
                anomalous_time += MPI_Wtime() - ts;
                area += (double)info.area / (double)plane;
                tries += info.tries;
                fallbacks += info.fallback;
            }
        }
        double t = MPI_Wtime() - t0, ct = sn_clock_thread_cpu() - c0;
        if (sn_cli_rank() == 0)
            printf("%s: %.1f samples/s (%.3f ms each); anomalous only: %d samples, %.1f /s (%.3f ms each)\n",
                   kind ? "DPA" : "PPA", count / t, 1e3 * t / count, anomalous,
                   anomalous ? anomalous / anomalous_time : 0.0,
                   anomalous ? 1e3 * anomalous_time / anomalous : 0.0);
        if (sn_cli_rank() == 0 && ct > 0)
            printf("%s: %.1f samples/s by thread CPU time (%.3f ms each)\n", kind ? "DPA" : "PPA",
                   count / ct, 1e3 * ct / count);
        if (sn_cli_rank() == 0 && anomalous) {
            printf("%s: mean anomaly area %.4f S^2", kind ? "DPA" : "PPA", area / anomalous);
            if (!kind)
                printf(", mean Perlin draws %.2f, fallbacks %d", (double)tries / anomalous, fallbacks);
            printf("\n");
        }
    }
done:
    sn_pseudo_work_free(w);
    sn_free(bs.images);
    sn_free(out);
    sn_free(mask);
    return status == SN_OK ? SN_EXIT_OK : sn_cli_fail("bench-pseudo");
}
