/* sernet-bench bench-phash: the perceptual hash and the Hamming search, timed (moved from
 * src/cli/cmd_phash.c with the other developer tools). */
#define _GNU_SOURCE
#include "bench/bench.h"
#include "sernet/fsutil.h"
#include "sernet/hashindex.h"
#include "sernet/image.h"
#include "sernet/phash.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static uint64_t bench_rng = 0x243f6a8885a308d3ULL;
static uint64_t bench_next(void)
{
    uint64_t z = (bench_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void report(const char *what, int64_t n, int nq, double wall, double cpu)
{
    printf("    %-32s %9.3f ms/query wall  %9.3f ms/query cpu  %6.2f Ghash/s cpu\n", what,
           1e3 * wall / nq, 1e3 * cpu / nq, (double)n * nq / cpu / 1e9);
}

static int parse_list(const char *s, long long *out, int max)
{
    int n = 0;
    const char *p = s;
    while (*p && n < max) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || v < 1)
            return -1;
        out[n++] = (long long)v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}

int sn_cmd_bench_phash(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet-bench bench-phash [--images N] [--index-sizes N,N,...] [--queries Q] [--k K]\n"
        "Benchmark the perceptual hash and the Hamming search on one rank:\n"
        "  hashes per second of random RGB images of 256x256 and 1024x1024 (N images each,\n"
        "  default 200 and 20), including the grey conversion, resize, DCT and median;\n"
        "  query time over random indexes (default sizes 1e6,1e7): nearest neighbour per kernel,\n"
        "  top-K (default 10), and the batched nearest of Q queries (default 64).\n";
    long long sizes[8] = {1000000, 10000000};
    int nsizes = 2, nq = 64, k = 10, nimg = 200, pos = 0;
    const char *sizes_arg = NULL;
    const sn_cli_opt opts[] = {{"images", SN_OPT_INT, &nimg, 1, 1 << 30},
                               {"index-sizes", SN_OPT_STR, &sizes_arg, 0, 0},
                               {"queries", SN_OPT_INT, &nq, 1, 1 << 30},
                               {"k", SN_OPT_INT, &k, 1, 100000},
                               SN_OPT_END};
    int prc = sn_cli_parse("bench-phash", usage, argc, argv, opts, NULL, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos < argc)
        return sn_cli_usage_error("bench-phash", usage, "unexpected argument '%s'", argv[pos]);
    if (sizes_arg) {
        nsizes = parse_list(sizes_arg, sizes, 8);
        if (nsizes < 1)
            return sn_cli_usage_error("bench-phash", usage,
                                      "--index-sizes wants positive numbers separated by commas, not '%s'", sizes_arg);
    }
    if (sn_cli_rank() != 0)
        return SN_EXIT_OK; /* a one-rank benchmark */

    int rc = SN_EXIT_OK;
    uint64_t *hashes = NULL, *queries = NULL;
    int64_t *idx = NULL;
    int *dist = NULL;
    uint8_t *img = NULL;
    uint64_t sink = 0;
    printf("phash: random RGB images, one thread\n");
    const int sides[2] = {256, 1024};
    for (int s = 0; s < 2; s++) {
        int side = sides[s], n = s == 0 ? nimg : SN_MAX(1, nimg / 10);
        size_t bytes = (size_t)side * side * 3;
        img = malloc(bytes);
        if (!img) {
            fprintf(stderr, "sernet-bench bench-phash: error: no memory for a %dx%d image\n", side, side);
            rc = SN_EXIT_FAIL;
            goto done;
        }
        for (size_t i = 0; i < bytes; i += 8) {
            uint64_t r = bench_next();
            memcpy(img + i, &r, SN_MIN((size_t)8, bytes - i));
        }
        double t0 = sn_clock_wall(), c0 = sn_clock_cpu();
        for (int i = 0; i < n; i++) {
            uint64_t h;
            img[(size_t)i % bytes] ^= 1; /* a different image each time */
            if (sn_phash_rgb8(img, side, side, 3, &h) != SN_OK) {
                rc = sn_cli_fail("bench-phash");
                goto done;
            }
            sink ^= h;
        }
        double dt = sn_clock_wall() - t0, ct = sn_clock_cpu() - c0;
        printf("  %4dx%-4d  %6d images  %9.1f hashes/s wall  %9.1f hashes/s cpu  (%.3f ms cpu per hash)\n",
               side, side, n, n / dt, n / ct, 1e3 * ct / n);
        free(img);
        img = NULL;
    }
    printf("search: random 64-bit hashes, %d queries per figure, one thread (batched: OpenMP threads,\n"
           "        cpu time summed over threads)\n", nq);
    queries = malloc(sizeof(uint64_t) * (size_t)nq);
    idx = malloc(sizeof(int64_t) * (size_t)SN_MAX(nq, k));
    dist = malloc(sizeof(int) * (size_t)SN_MAX(nq, k));
    if (!queries || !idx || !dist) {
        fprintf(stderr, "sernet-bench bench-phash: error: no memory for queries\n");
        rc = SN_EXIT_FAIL;
        goto done;
    }
    for (int j = 0; j < nq; j++)
        queries[j] = bench_next();
    for (int si = 0; si < nsizes; si++) {
        int64_t n = sizes[si];
        hashes = malloc(sizeof(uint64_t) * (size_t)n);
        if (!hashes) {
            fprintf(stderr, "sernet-bench bench-phash: error: no memory for %lld hashes\n", (long long)n);
            rc = SN_EXIT_FAIL;
            goto done;
        }
        for (int64_t i = 0; i < n; i++)
            hashes[i] = bench_next();
        printf("  index of %lld hashes (%.0f MB)\n", (long long)n, n * 8.0 / 1e6);
        for (int kern = 1; kern < SN_HASHINDEX_N_KERNELS; kern++) {
            if (!sn_hashindex_kernel_available((sn_hashindex_kernel)kern))
                continue;
            int found;
            double t0 = sn_clock_wall(), c0 = sn_clock_cpu();
            for (int j = 0; j < nq; j++) {
                if (sn_hashindex_topk_with((sn_hashindex_kernel)kern, hashes, n, queries[j], 1, idx, dist,
                                           &found) != SN_OK) {
                    rc = sn_cli_fail("bench-phash");
                    goto done;
                }
                sink ^= (uint64_t)idx[0];
            }
            char what[64];
            snprintf(what, sizeof what, "nearest, kernel %s", sn_hashindex_kernel_name((sn_hashindex_kernel)kern));
            report(what, n, nq, sn_clock_wall() - t0, sn_clock_cpu() - c0);
        }
        double t0 = sn_clock_wall(), c0 = sn_clock_cpu();
        for (int j = 0; j < nq; j++) {
            int64_t at;
            if (sn_hashindex_nearest(hashes, n, queries[j], &at, NULL) != SN_OK) {
                rc = sn_cli_fail("bench-phash");
                goto done;
            }
            sink ^= (uint64_t)at;
        }
        char what[64];
        snprintf(what, sizeof what, "nearest (auto = %s)", sn_hashindex_kernel_name(sn_hashindex_kernel_auto()));
        report(what, n, nq, sn_clock_wall() - t0, sn_clock_cpu() - c0);
        t0 = sn_clock_wall();
        c0 = sn_clock_cpu();
        for (int j = 0; j < nq; j++) {
            int found;
            if (sn_hashindex_topk(hashes, n, queries[j], k, idx, dist, &found) != SN_OK) {
                rc = sn_cli_fail("bench-phash");
                goto done;
            }
            sink ^= (uint64_t)idx[0];
        }
        snprintf(what, sizeof what, "top-%d (auto)", k);
        report(what, n, nq, sn_clock_wall() - t0, sn_clock_cpu() - c0);
        t0 = sn_clock_wall();
        c0 = sn_clock_cpu();
        if (sn_hashindex_nearest_many(hashes, n, queries, nq, idx, dist) != SN_OK) {
            rc = sn_cli_fail("bench-phash");
            goto done;
        }
        sink ^= (uint64_t)idx[0];
        snprintf(what, sizeof what, "nearest, %d queries batched", nq);
        report(what, n, nq, sn_clock_wall() - t0, sn_clock_cpu() - c0);
        free(hashes);
        hashes = NULL;
    }
    printf("(checksum %016llx)\n", (unsigned long long)sink);
done:
    free(img);
    free(hashes);
    free(queries);
    free(idx);
    free(dist);
    return rc;
}
