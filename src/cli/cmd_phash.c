/* sernet phash FILE... (the benchmark bench-phash is in src/bench/cmd_bench_phash.c) */
#define _GNU_SOURCE
#include "cli/cli.h"
#include "sernet/dist.h"
#include "sernet/hashindex.h"
#include "sernet/image.h"
#include "sernet/phash.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sn_cmd_phash(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet phash FILE...\n"
        "Print the perceptual hash of each image file (PNG, JPEG, BMP) at its original size,\n"
        "one line per file: 16 hex digits, a tab, the file name (ImageHash 4.3.1 phash).\n"
        "Files that cannot be decoded are reported on stderr; the others are still hashed and the\n"
        "exit status is then 1. Under MPI the files are shared out across ranks; rank 0 prints\n"
        "in the order given.\n";
    int fpos = 0;
    const sn_cli_opt none[] = {SN_OPT_END};
    int prc = sn_cli_parse("phash", usage, argc, argv, none, NULL, &fpos);
    if (prc)
        return sn_cli_parse_exit(prc);
    int nfiles = argc - fpos;
    if (nfiles < 1)
        return sn_cli_usage_error("phash", usage, "no image files given");
    int rank = sn_dist_rank(MPI_COMM_WORLD), size = sn_dist_size(MPI_COMM_WORLD);
    uint64_t *mine = calloc((size_t)nfiles, sizeof(uint64_t));
    uint64_t *all = calloc((size_t)nfiles, sizeof(uint64_t));
    int *ok_mine = calloc((size_t)nfiles, sizeof(int)), *ok_all = calloc((size_t)nfiles, sizeof(int));
    int alloc_ok = mine && all && ok_mine && ok_all, alloc_all = 0;
    int rc = SN_EXIT_OK;
    if (MPI_Allreduce(&alloc_ok, &alloc_all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) {
        if (rank == 0)
            fprintf(stderr, "sernet phash: error: MPI_Allreduce failed\n");
        rc = SN_EXIT_FAIL;
        goto done;
    }
    if (!alloc_all) {
        if (rank == 0)
            fprintf(stderr, "sernet phash: error: no memory for %d hashes\n", nfiles);
        rc = SN_EXIT_FAIL;
        goto done;
    }
    for (int i = rank; i < nfiles; i += size) {
        const char *path = argv[fpos + i];
        sn_image img = {0};
        uint64_t h = 0;
        sn_err_clear();
        sn_status st = sn_image_read(path, &img);
        if (st == SN_OK)
            st = sn_phash_rgb8(img.data, img.w, img.h, img.c, &h);
        sn_image_free(&img);
        if (st != SN_OK) {
            const char *msg = sn_err_msg();
            /* the decoder's message names the file; add it when it does not */
            if (strstr(msg, path))
                fprintf(stderr, "sernet phash: error: %s\n", msg);
            else
                fprintf(stderr, "sernet phash: error: %s: %s\n", path, msg[0] ? msg : "cannot hash");
            sn_err_clear();
            continue;
        }
        mine[i] = h;
        ok_mine[i] = 1;
    }
    /* every file belongs to exactly one rank: a sum gathers them */
    if (MPI_Reduce(mine, all, nfiles, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Allreduce(ok_mine, ok_all, nfiles, MPI_INT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
        if (rank == 0)
            fprintf(stderr, "sernet phash: error: MPI reduction failed\n");
        rc = SN_EXIT_FAIL;
        goto done;
    }
    int failed = 0;
    for (int i = 0; i < nfiles; i++) {
        if (!ok_all[i]) {
            failed++;
            continue;
        }
        if (rank == 0) {
            char hex[17];
            sn_phash_format(all[i], hex);
            printf("%s\t%s\n", hex, argv[fpos + i]);
        }
    }
    if (failed) {
        if (rank == 0)
            fprintf(stderr, "sernet phash: %d of %d files could not be hashed\n", failed, nfiles);
        rc = SN_EXIT_FAIL;
    }
done:
    fflush(stdout);
    free(mine);
    free(all);
    free(ok_mine);
    free(ok_all);
    return rc;
}
