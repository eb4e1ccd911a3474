/* sernet infer: distributed inference of a test split into a results file (docs/inference.md). */
#include "cli/cli.h"
#include "sernet/dist.h"
#include "sernet/image.h"
#include "sernet/tile.h"
#include "sernet/results.h"
#include "sernet/train.h"

#include <mpi.h>
#include <stdio.h>

int sn_cmd_infer(int argc, char **argv)
{
    static const char usage[] =
        "usage: sernet infer --model MODEL.h5 --data DATA.h5 --out RESULTS.h5 [--category NAME]\n"
        "                    [--resume] [--force] [--batch N] [--quiet] [--config FILE]\n"
        "                    [--tile [--overlap PX] [--train-data TRAIN.h5]] [--set key=value]...\n"
        "Score the test split of one category on any number of MPI ranks: segmentation, search of\n"
        "the most similar training image, repair, reconstruction, anomaly map and image score per\n"
        "image. Ranks write their rows collectively into RESULTS.h5 (scores, maps, masks,\n"
        "reconstructions, neighbours, done flags, provenance); its data do not depend on the number\n"
        "of ranks. The file is written as RESULTS.h5.tmp and renamed when every row is done; an\n"
        "interrupted run (killed, SIGTERM/SIGUSR1, error) keeps its finished rows there and\n"
        "--resume computes only the missing ones. Without --config/--set the model's own\n"
        "configuration is used, with --config/--set applied on top (the keys that shaped the nets\n"
        "cannot change: image_size, widths, units_per_block, bn_eps, large_area).\n"
        "MODEL.h5 may be a bundle (`sernet bundle`): the repair then takes its training images and\n"
        "hash index from the bundle and DATA.h5 only supplies the test split of the bundle's\n"
        "category (another --category is refused); the results equal the model + dataset pair's.\n"
        "--batch: images per rank per round (default 8, 1..64); with --tile also the tiles per\n"
        "engine call.\n"
        "--tile: the test images are larger than the model's S (e.g. ingested with --size 1024 for\n"
        "a model trained at 256): each is cut into S x S tiles overlapping by at least --overlap\n"
        "pixels (default S/4 rounded down to a multiple of 16), the last row and column of tiles\n"
        "aligned to the edges; each tile is repaired with its most similar training image of\n"
        "--train-data (a dataset file at S with its hash index, normally the one the model was\n"
        "trained on; default DATA.h5 itself), and the tiles' maps and masks are stitched back at\n"
        "the dataset's size (overlaps averaged; score = maximum of the stitched map), so RESULTS.h5\n"
        "and `sernet eval` work at the dataset's size (docs/inference.md).\n";
    sn_cli_config_args ca = {0};
    sn_infer_options o = {0};
    o.batch = 8;
    o.overlap = SN_TILE_OVERLAP_DEFAULT;
    int pos = 0;
    const sn_cli_opt opts[] = {{"model", SN_OPT_STR, &o.model, 0, 0},
                               {"data", SN_OPT_STR, &o.data, 0, 0},
                               {"out", SN_OPT_STR, &o.out, 0, 0},
                               {"category", SN_OPT_STR, &o.category, 0, 0},
                               {"resume", SN_OPT_FLAG, &o.resume, 0, 0},
                               {"force", SN_OPT_FLAG, &o.force, 0, 0},
                               {"batch", SN_OPT_INT, &o.batch, 1, 64},
                               {"quiet", SN_OPT_FLAG, &o.quiet, 0, 0},
                               {"tile", SN_OPT_FLAG, &o.tile, 0, 0},
                               {"overlap", SN_OPT_INT, &o.overlap, 0, SN_IMAGE_MAX_DIM},
                               {"train-data", SN_OPT_STR, &o.train_data, 0, 0},
                               SN_OPT_END};
    int prc = sn_cli_parse("infer", usage, argc, argv, opts, &ca, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos < argc)
        return sn_cli_usage_error("infer", usage, "unexpected argument '%s'", argv[pos]);
    if (!o.model || !o.data || !o.out)
        return sn_cli_usage_error("infer", usage, "--model, --data and --out are required");
    if (o.resume && o.force)
        return sn_cli_usage_error("infer", usage, "--resume and --force exclude each other");
    if (!o.tile && (o.overlap != SN_TILE_OVERLAP_DEFAULT || o.train_data))
        return sn_cli_usage_error("infer", usage, "--overlap and --train-data need --tile");

    o.config_path = ca.config_path;
    o.sets = ca.sets;
    o.n_sets = ca.n_sets;
    o.announce = !o.quiet;
    sn_stop_install_signals(); /* sernet/stop.h */
    sn_infer_summary s;
    sn_status status = sn_infer_run(&o, MPI_COMM_WORLD, &s);
    if (status != SN_OK)
        return sn_cli_fail("infer");
    if (sn_cli_rank() == 0) {
        if (s.interrupted) {
            printf("infer: stopped on request after %lld new rows (%lld of %lld done); continue with "
                   "--resume\n", (long long)s.done_now, (long long)(s.done_before + s.done_now),
                   (long long)s.rows);
        } else if (s.done_now > 0 || s.done_before < s.rows) {
            double busy = s.t_read + s.t_search + s.t_seg + s.t_repair + s.t_rec + s.t_map + s.t_write;
            printf("infer: %lld images in %.2f s (%.2f images/s, %d ranks); slowest rank's seconds: "
                   "read %.2f, search %.2f, seg %.2f, repair %.2f, rec %.2f, map %.2f, write %.2f "
                   "(sum %.2f)\n", (long long)s.done_now, s.seconds,
                   s.seconds > 0 ? (double)s.done_now / s.seconds : 0.0, sn_dist_size(MPI_COMM_WORLD),
                   s.t_read, s.t_search, s.t_seg, s.t_repair, s.t_rec, s.t_map, s.t_write, busy);
        }
        if (s.complete && s.rows > 0 && (s.done_now > 0))
            printf("infer: repair module changed %lld of %lld test images, %lld pixels in all (%.1f "
                   "per repaired image); results in %s\n", (long long)s.repaired_images,
                   (long long)s.rows, (long long)s.repaired_pixels,
                   s.repaired_images ? (double)s.repaired_pixels / (double)s.repaired_images : 0.0,
                   o.out);
        if (s.complete && s.thresholds && s.done_now > 0)
            printf("infer: %lld of %lld test images judged defect at image threshold %.6g "
                   "(/verdicts, /normalized_scores)\n", (long long)s.defects, (long long)s.rows,
                   s.image_threshold);
        fflush(stdout);
    }
    return SN_EXIT_OK;
}
