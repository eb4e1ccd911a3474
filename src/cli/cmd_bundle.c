/* sernet bundle: one self-contained file to deploy (include/sernet/bundle.h, docs/inspection.md). */
#include "cli/cli.h"
#include "sernet/bundle.h"
#include "sernet/dist.h"
#include "sernet/model.h"

#include <mpi.h>
#include <stdio.h>

static const char usage[] =
    "usage: sernet bundle --model MODEL.h5 --data DATA.h5 --out BUNDLE.h5 [--force]\n"
    "Write one self-contained file for deployment: both trained nets (no optimiser state), the\n"
    "model's configuration, repair calibration and decision thresholds, and the training images,\n"
    "their names and perceptual-hash index of the model's category from DATA.h5 (the dataset it\n"
    "was trained on), which the repair module needs at inference. `sernet score --model\n"
    "BUNDLE.h5` (no --data), `sernet infer --model BUNDLE.h5 --data TEST.h5` (TEST.h5 then only\n"
    "supplies the test split), `sernet calibrate --model BUNDLE.h5` and sn_inspector_open accept\n"
    "it in place of the model + dataset pair, with bit-identical results. Every data block\n"
    "carries a Fletcher32 checksum and the HDF5 metadata its own checksums: a damaged bundle is\n"
    "refused, naming the part. The file is written as BUNDLE.h5.tmp and renamed when complete;\n"
    "after an error no file is left. Thresholds set on MODEL.h5 later are not in the bundle:\n"
    "bundle again (--force), or run `sernet calibrate` on the bundle itself.\n"
    "  --force   replace an existing BUNDLE.h5 (default: refuse)\n";

int sn_cmd_bundle(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *out = NULL;
    int force = 0, pos = 0;
    const sn_cli_opt opts[] = {{"model", SN_OPT_STR, &model, 0, 0},
                               {"data", SN_OPT_STR, &data, 0, 0},
                               {"out", SN_OPT_STR, &out, 0, 0},
                               {"force", SN_OPT_FLAG, &force, 0, 0},
                               SN_OPT_END};
    int prc = sn_cli_parse("bundle", usage, argc, argv, opts, NULL, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos < argc)
        return sn_cli_usage_error("bundle", usage, "unexpected argument '%s'", argv[pos]);
    if (!model || !data || !out)
        return sn_cli_usage_error("bundle", usage, "--model, --data and --out are required");
    if (sn_dist_size(MPI_COMM_WORLD) > 1)
        return sn_cli_usage_error("bundle", usage, "runs on one process (%d MPI ranks given)",
                                  sn_dist_size(MPI_COMM_WORLD));
    int64_t n = 0;
    if (sn_bundle_write(model, data, out, force, &n) != SN_OK)
        return sn_cli_fail("bundle");
    /* read it back as every consumer will: all checksums verified */
    sn_model *m = NULL;
    sn_trainset t = {0};
    if (sn_model_load(out, &m) != SN_OK || sn_trainset_load_bundle(out, &t) != SN_OK) {
        sn_model_free(m);
        remove(out);
        return sn_cli_fail("bundle");
    }
    printf("bundle: %s: category %s, %d x %d, %lld training images with hash index, model "
           "fingerprint %s, %s\n", out, sn_model_category(m), sn_model_image_size(m),
           sn_model_image_size(m), (long long)n, sn_model_fingerprint(m),
           sn_model_thresholds(m)->set ? "with decision thresholds" : "no decision thresholds (set "
           "them with `sernet calibrate --model BUNDLE.h5 ...`)");
    sn_trainset_free(&t);
    sn_model_free(m);
    return SN_EXIT_OK;
}
