/* sernet similar: the similar-image search of METHOD.md §5 from the command line. */
#define _GNU_SOURCE
#include "cli/cli.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/hashindex.h"
#include "sernet/image.h"
#include "sernet/phash.h"
#include "sernet/resize.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hash of an image file prepared as `sernet ingest` stores it: grey made RGB, resized to S x S. */
static sn_status hash_file(const char *path, int S, uint64_t *hash)
{
    sn_status status = SN_OK;
    sn_image img = {0};
    uint8_t *rgb = NULL, *small = NULL;
    SN_TRY(sn_image_read(path, &img));
    const uint8_t *src = img.data;
    if (img.c == 1) {
        SN_ALLOC(rgb, (size_t)img.w * img.h * 3, "grey to RGB");
        for (size_t i = 0; i < (size_t)img.w * img.h; i++)
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = img.data[i];
        src = rgb;
    }
    SN_ALLOC(small, (size_t)S * S * 3, "resized image");
    SN_TRY(sn_resize_u8(src, img.w, img.h, 3, small, S, S));
    SN_TRY(sn_phash_rgb8(small, S, S, 3, hash));
done:
    sn_image_free(&img);
    sn_free(rgb);
    sn_free(small);
    return status;
}

static void print_matches(sn_dataset *ds, const char *query, const int64_t *idx, const int *dist,
                          int found)
{
    for (int r = 0; r < found; r++)
        printf("%s\t%d\t%lld\t%s\t%d\n", query, r + 1, (long long)idx[r],
               sn_dataset_name(ds, SN_SPLIT_TRAIN, idx[r]), dist[r]);
}

int sn_cmd_similar(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet similar --data FILE.h5 [--category NAME] [--k K] (--test | IMAGE...)\n"
        "Find the most similar training images by perceptual-hash Hamming distance (ties to the\n"
        "lowest index), using the index stored by `sernet index`. Queries are image files\n"
        "(prepared as `sernet ingest` stores images: grey made RGB, resized to SxS) or, with\n"
        "--test, every stored test image of the category. One line per query and match:\n"
        "query<TAB>rank<TAB>train index<TAB>train name<TAB>distance.\n"
        "  --k K   matches per query (default 1)\n"
        "Undecodable files: an error line each, the others are still searched, exit status 1.\n";
    const char *data = NULL, *category = NULL;
    int k = 1, test = 0, pos = 0;
    const sn_cli_opt opts[] = {{"data", SN_OPT_STR, &data, 0, 0}, {"category", SN_OPT_STR, &category, 0, 0},
                               {"k", SN_OPT_INT, &k, 1, 1000000}, {"test", SN_OPT_FLAG, &test, 0, 0},
                               SN_OPT_END};
    int prc = sn_cli_parse("similar", usage, argc, argv, opts, NULL, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (!data)
        return sn_cli_usage_error("similar", usage, "--data FILE.h5 is required");
    if (test == (pos < argc))
        return sn_cli_usage_error("similar", usage, test ? "--test takes no image files"
                                                         : "give image files or --test");
    uint64_t *hashes = NULL;
    int64_t n = 0, *idx = NULL;
    int *dist = NULL, rc = SN_EXIT_OK;
    sn_dataset *ds = NULL;
    uint8_t *raw = NULL;
    if (sn_dataset_open(data, category, MPI_COMM_WORLD, &ds) != SN_OK ||
        sn_hashindex_load(data, sn_dataset_category(ds), MPI_COMM_WORLD, &hashes, &n) != SN_OK) {
        rc = sn_cli_fail("similar");
        goto done;
    }
    if (sn_cli_rank() == 0) { /* the search is cheap: rank 0 answers, the others wait */
        int S = sn_dataset_image_size(ds);
        idx = malloc(sizeof(int64_t) * (size_t)k);
        dist = malloc(sizeof(int) * (size_t)k);
        raw = malloc((size_t)S * S * 3);
        if (!idx || !dist || !raw) {
            SN_ERR(SN_ENOMEM, "no memory for %d matches", k);
            rc = sn_cli_fail("similar");
            goto bcast;
        }
        int64_t nq = test ? sn_dataset_count(ds, SN_SPLIT_TEST) : argc - pos;
        for (int64_t q = 0; q < nq; q++) {
            uint64_t h = 0;
            int found = 0;
            const char *qname = test ? sn_dataset_name(ds, SN_SPLIT_TEST, q) : argv[pos + q];
            sn_err_clear();
            sn_status st = test ? sn_dataset_read(ds, SN_SPLIT_TEST, &q, 1, NULL, NULL, raw) : SN_OK;
            if (st == SN_OK)
                st = test ? sn_phash_rgb8(raw, S, S, 3, &h) : hash_file(qname, S, &h);
            if (st == SN_OK)
                st = sn_hashindex_topk(hashes, n, h, k, idx, dist, &found);
            if (st != SN_OK) {
                if (strstr(sn_err_msg(), qname))
                    fprintf(stderr, "sernet similar: error: %s\n", sn_err_msg());
                else
                    fprintf(stderr, "sernet similar: error: %s: %s\n", qname, sn_err_msg());
                rc = SN_EXIT_FAIL;
                continue;
            }
            print_matches(ds, qname, idx, dist, found);
        }
        fflush(stdout);
    }
bcast:
    if (MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        SN_ERR(SN_EMPI, "MPI_Bcast of the exit status failed");
        rc = sn_cli_fail("similar");
    }
done:
    sn_dataset_close(ds);
    sn_free(hashes);
    free(idx);
    free(dist);
    free(raw);
    return rc;
}
